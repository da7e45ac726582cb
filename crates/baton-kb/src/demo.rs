//! The demo article set bundled in the binary.
//!
//! Owns the explicit list of files under `demo/` that are compiled in with `include_str!`
//! (adding an article means adding a line here; there is no build script). It only lists them:
//! parsing and indexing happen in [`crate::KnowledgeBase::demo`].
//!
//! The articles are the help centre of "Demo Outfitters", a fictional online shop for outdoor
//! clothing and gear, each in English and Spanish with the same id.

macro_rules! demo_files {
    ($($name:literal),* $(,)?) => {
        /// `(file name, contents)` of every bundled demo article.
        pub const DEMO_FILES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../demo/", $name))),)*
        ];
    };
}

demo_files![
    "account-password-reset.en.md",
    "account-password-reset.es.md",
    "cancel-order.en.md",
    "cancel-order.es.md",
    "change-delivery-address.en.md",
    "change-delivery-address.es.md",
    "contact-support-hours.en.md",
    "contact-support-hours.es.md",
    "damaged-or-wrong-item.en.md",
    "damaged-or-wrong-item.es.md",
    "discount-codes.en.md",
    "discount-codes.es.md",
    "exchanges.en.md",
    "exchanges.es.md",
    "gift-cards.en.md",
    "gift-cards.es.md",
    "international-shipping.en.md",
    "international-shipping.es.md",
    "jacket-care.en.md",
    "jacket-care.es.md",
    "loyalty-programme.en.md",
    "loyalty-programme.es.md",
    "order-tracking.en.md",
    "order-tracking.es.md",
    "payment-methods.en.md",
    "payment-methods.es.md",
    "privacy-data-deletion.en.md",
    "privacy-data-deletion.es.md",
    "refund-timelines.en.md",
    "refund-timelines.es.md",
    "return-policy.en.md",
    "return-policy.es.md",
    "shipping-times-costs.en.md",
    "shipping-times-costs.es.md",
    "size-guide.en.md",
    "size-guide.es.md",
    "warranty.en.md",
    "warranty.es.md",
];

//! The bundled demo set: it parses, it covers every topic in English and Spanish, and many
//! phrasings of customer questions find the right article while off-topic chat does not.
//!
//! Only exercises the public API of `baton-kb`; touches no file outside the crate.

use std::collections::BTreeSet;

use baton_kb::{Article, Hit, KnowledgeBase, MatchPolicy, DEMO_FILES};

fn kb() -> KnowledgeBase {
    KnowledgeBase::demo().expect("the demo set builds")
}

const EN_QUERIES: &[(&str, &str)] = &[
    ("can I send back a jacket I bought two weeks ago", "return-policy"),
    ("what is your return policy?", "return-policy"),
    ("are returns free?", "return-policy"),
    ("how long until I get my money back?", "refund-timelines"),
    ("I was charged twice for one order", "refund-timelines"),
    ("when will my refund arrive", "refund-timelines"),
    ("do you take paypal", "payment-methods"),
    ("can I pay cash on delivery?", "payment-methods"),
    ("which credit cards do you accept", "payment-methods"),
    ("how much does shipping cost?", "shipping-times-costs"),
    ("when is delivery free", "shipping-times-costs"),
    ("do you ship to the United States?", "international-shipping"),
    ("will I have to pay customs duties", "international-shipping"),
    ("where is my parcel?", "order-tracking"),
    ("I need the tracking number of my order", "order-tracking"),
    (
        "I moved house, can I change the delivery address?",
        "change-delivery-address",
    ),
    ("how do I cancel my order", "cancel-order"),
    ("my parcel arrived damaged", "damaged-or-wrong-item"),
    ("you sent me the wrong item", "damaged-or-wrong-item"),
    (
        "these boots are too small, can I swap them for a bigger size",
        "exchanges",
    ),
    ("what size should I order?", "size-guide"),
    ("how long is the warranty", "warranty"),
    ("how do I check my gift card balance", "gift-cards"),
    ("my promo code doesn't work", "discount-codes"),
    ("I forgot my password", "account-password-reset"),
    ("please delete all my personal data", "privacy-data-deletion"),
    ("what are your opening hours?", "contact-support-hours"),
    ("can I talk to a human agent", "contact-support-hours"),
    ("how should I wash my rain jacket", "jacket-care"),
    ("how do loyalty points work", "loyalty-programme"),
];

const ES_QUERIES: &[(&str, &str)] = &[
    (
        "¿puedo devolver una chaqueta que compré hace dos semanas?",
        "return-policy",
    ),
    ("¿cuál es la política de devoluciones?", "return-policy"),
    ("¿las devoluciones son gratis?", "return-policy"),
    ("¿cuánto tarda en llegar mi dinero?", "refund-timelines"),
    ("me habéis cobrado dos veces el mismo pedido", "refund-timelines"),
    ("¿cuándo recibiré el reembolso?", "refund-timelines"),
    ("¿aceptáis PayPal?", "payment-methods"),
    ("¿se puede pagar contra reembolso?", "payment-methods"),
    ("¿qué formas de pago tenéis?", "payment-methods"),
    ("¿cuánto cuesta el envío?", "shipping-times-costs"),
    ("¿cuánto tarda en llegar un pedido?", "shipping-times-costs"),
    ("¿enviáis a Estados Unidos?", "international-shipping"),
    ("¿tengo que pagar aduanas?", "international-shipping"),
    ("¿dónde está mi paquete?", "order-tracking"),
    ("necesito el número de seguimiento", "order-tracking"),
    ("quiero cambiar la dirección de entrega", "change-delivery-address"),
    ("¿cómo cancelo mi pedido?", "cancel-order"),
    ("el paquete llegó dañado", "damaged-or-wrong-item"),
    ("me habéis enviado un artículo equivocado", "damaged-or-wrong-item"),
    ("la talla me queda pequeña, ¿puedo cambiarla por otra?", "exchanges"),
    ("no sé qué talla pedir", "size-guide"),
    ("¿cuánto dura la garantía?", "warranty"),
    ("¿cómo consulto el saldo de mi tarjeta regalo?", "gift-cards"),
    ("mi código de descuento no funciona", "discount-codes"),
    ("se me olvidó la contraseña", "account-password-reset"),
    ("quiero borrar mis datos personales", "privacy-data-deletion"),
    (
        "¿cuál es vuestro horario de atención al cliente?",
        "contact-support-hours",
    ),
    ("quiero hablar con una persona", "contact-support-hours"),
    ("¿cómo lavo mi chaqueta impermeable?", "jacket-care"),
    ("¿cómo funcionan los puntos del club?", "loyalty-programme"),
];

const OFF_TOPIC: &[(&str, &str)] = &[
    ("what's the weather in Paris", "en"),
    ("tell me a joke", "en"),
    ("who won the football match last night?", "en"),
    ("what is the capital of France", "en"),
    ("recommend a good pizza restaurant nearby", "en"),
    ("I love you", "en"),
    ("what is the meaning of life", "en"),
    ("can you book me a flight to London", "en"),
    ("¿quién ganó el partido?", "es"),
    ("cuéntame un chiste", "es"),
    ("¿qué tiempo hace en Madrid?", "es"),
    ("¿cuál es la capital de Francia?", "es"),
    ("recomiéndame una película de miedo", "es"),
    ("te quiero", "es"),
    ("¿qué hora es?", "es"),
    ("¿me ayudas con los deberes de matemáticas?", "es"),
];

fn describe(hits: &[Hit]) -> String {
    hits.iter()
        .map(|h| format!("{} (score {:.2}, coverage {:.2})", h.article_id, h.score, h.coverage))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn every_demo_article_parses_and_each_id_exists_in_english_and_spanish() {
    for (name, text) in DEMO_FILES {
        let article = Article::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
        let expected_language = name.rsplit('.').nth(1).expect("name.lang.md");
        assert_eq!(article.language, expected_language, "{name}");
        assert!(name.starts_with(&article.id), "{name} has id {}", article.id);
        let url = article.url.as_deref().expect("every demo article has a url");
        let prefix = match article.language.as_str() {
            "en" => "https://demo-outfitters.example/help/",
            _ => "https://demo-outfitters.example/es/ayuda/",
        };
        assert!(url.starts_with(prefix), "{name}: {url}");
        let paragraphs = article.body.split("\n\n").count();
        assert!((3..=6).contains(&paragraphs), "{name}: {paragraphs} paragraphs");
    }
    let kb = kb();
    let ids = |language: &str| -> BTreeSet<&str> {
        kb.articles()
            .iter()
            .filter(|a| a.language == language)
            .map(|a| a.id.as_str())
            .collect()
    };
    assert!(ids("en").len() >= 16, "{:?}", ids("en"));
    assert_eq!(ids("en"), ids("es"));
    assert_eq!(kb.articles().len(), DEMO_FILES.len());
    assert_eq!(kb.languages().collect::<Vec<_>>(), ["en", "es"]);
    let article = kb.article("return-policy", "es").expect("exists");
    assert_eq!(article.title, "Política de devoluciones");
}

fn assert_finds(kb: &KnowledgeBase, language: &str, queries: &[(&str, &str)]) {
    let policy = MatchPolicy::default();
    let mut failures = Vec::new();
    for (query, expected) in queries {
        let hits = kb.search(query, language, 3);
        let ok = hits
            .first()
            .is_some_and(|top| top.article_id == *expected && policy.is_good(top));
        if !ok {
            failures.push(format!("{query:?}: expected {expected}, got [{}]", describe(&hits)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn english_questions_find_the_right_article() {
    assert!(EN_QUERIES.len() >= 20);
    assert_finds(&kb(), "en", EN_QUERIES);
}

#[test]
fn spanish_questions_find_the_right_article() {
    assert!(ES_QUERIES.len() >= 20);
    assert_finds(&kb(), "es", ES_QUERIES);
}

#[test]
fn off_topic_questions_are_not_good_matches() {
    let kb = kb();
    let policy = MatchPolicy::default();
    let mut failures = Vec::new();
    for (query, language) in OFF_TOPIC {
        let hits = kb.search(query, language, 3);
        if hits.iter().any(|h| policy.is_good(h)) {
            failures.push(format!("{query:?}: [{}]", describe(&hits)));
        }
        assert_eq!(kb.best_match(query, language, &policy), None);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_question_only_reaches_articles_of_its_language() {
    let kb = kb();
    // Every question of both lists, asked in both languages.
    for language in ["en", "es"] {
        for (query, _) in EN_QUERIES.iter().chain(ES_QUERIES) {
            for hit in kb.search(query, language, 50) {
                assert_eq!(hit.language, language, "{query:?}");
                assert!(kb.article(&hit.article_id, language).is_some(), "{query:?}");
            }
        }
    }
    // An English word that is also in the Spanish articles does not leak either way.
    assert!(kb.search("PayPal", "es", 50).iter().all(|h| h.language == "es"));
    assert!(kb.search("PayPal", "en", 50).iter().all(|h| h.language == "en"));
    assert!(kb.search("PayPal", "fr", 50).is_empty());
}

#[test]
fn accents_are_optional() {
    let kb = kb();
    for query in [
        "política de devolución",
        "politica de devolucion",
        "POLITICA DEVOLUCION",
    ] {
        assert_eq!(kb.search(query, "es", 1)[0].article_id, "return-policy", "{query}");
    }
}

#[test]
fn passages_come_from_the_body_and_contain_a_query_word() {
    let kb = kb();
    let cases = [
        ("en", "how long do duplicate charges take to be reversed", "duplicate"),
        ("en", "do you take paypal", "PayPal"),
        ("en", "can I pay cash on delivery?", "cash on delivery"),
        ("en", "do you deliver to Canada", "Canada"),
        ("es", "¿cuánto dura la garantía?", "garantía"),
        ("es", "¿cuánto tarda un cobro duplicado en anularse?", "duplicado"),
        ("es", "cuánto cuesta el envío urgente", "urgente"),
    ];
    for (language, query, word) in cases {
        let hit = &kb.search(query, language, 1)[0];
        let article = kb.article(&hit.article_id, language).expect("hit article exists");
        let plain = article.body.replace(['*', '`'], "");
        let head = hit.passage.trim_end_matches('…');
        assert!(
            plain.split_whitespace().collect::<Vec<_>>().join(" ").contains(head),
            "{query}: passage {:?} is not in the body",
            hit.passage
        );
        assert!(
            hit.passage.to_lowercase().contains(&word.to_lowercase()),
            "{query}: passage {:?} lacks {word:?}",
            hit.passage
        );
        assert!(hit.passage.chars().count() <= baton_kb::MAX_PASSAGE_CHARS + 1);
        assert!(!hit.passage.contains("**"));
    }
    // Link syntax becomes its text, followed by the address.
    let hit = &kb.search("guest returns form", "en", 1)[0];
    assert_eq!(hit.article_id, "return-policy");
    assert!(
        hit.passage
            .contains("returns form (https://demo-outfitters.example/returns)"),
        "{}",
        hit.passage
    );
}

#[test]
fn hits_carry_the_article_fields_and_are_sorted() {
    let kb = kb();
    let hits = kb.search("refund after a return", "en", 5);
    assert!(hits.len() > 1);
    let rank = |h: &Hit| h.score * h.coverage;
    assert!(hits.windows(2).all(|w| rank(&w[0]) >= rank(&w[1])));
    let top = &hits[0];
    let article = kb.article(&top.article_id, "en").expect("exists");
    assert_eq!(top.title, article.title);
    assert_eq!(top.url, article.url);
    assert!((0.0..=1.0).contains(&top.coverage));
    assert!(kb.search("", "en", 5).is_empty());
    assert!(kb.search("?!", "es", 5).is_empty());
}

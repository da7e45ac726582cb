//! Each extractor, with the cases that trip naive ones.

use super::*;
use time::macros::date;

const TODAY: Date = date!(2026 - 03 - 10); // a Tuesday

fn extractor() -> EntityExtractor {
    let config = EntityConfig {
        lookups: vec![LookupList {
            name: "plan".into(),
            entries: vec![
                LookupEntry {
                    value: "Pro".into(),
                    synonyms: vec!["pro plan".into(), "plan pro".into()],
                },
                LookupEntry {
                    value: "Basic".into(),
                    synonyms: vec!["basic plan".into(), "plan básico".into()],
                },
            ],
        }],
        ..EntityConfig::default()
    };
    EntityExtractor::new(&config).expect("config")
}

fn found(text: &str) -> Vec<(String, String)> {
    extractor()
        .extract(text, TODAY)
        .into_iter()
        .map(|e| (e.kind.name().to_owned(), e.value))
        .collect()
}

fn one(kind: &str, value: &str) -> Vec<(String, String)> {
    vec![(kind.to_owned(), value.to_owned())]
}

#[test]
fn order_numbers_need_a_cue() {
    assert_eq!(found("where is order #54192?"), one("order_number", "54192"));
    assert_eq!(found("my order number is 54192"), one("order_number", "54192"));
    assert_eq!(found("Order: 5419201"), one("order_number", "5419201"));
    assert_eq!(found("mi pedido 54192 no llegó"), one("order_number", "54192"));
    assert_eq!(found("#54192"), one("order_number", "54192"));
    // Numbers that are not orders.
    assert_eq!(found("I have 54192 reasons to be angry"), vec![]);
    assert_eq!(found("order 123 is too short to be an order number"), vec![]);
    assert_eq!(found("it cost $54,192"), one("money", "54192.00 USD"));
}

#[test]
fn emails_inside_punctuation() {
    assert_eq!(
        found("email me (sarah.k+shop@Example.co.uk)."),
        one("email", "sarah.k+shop@example.co.uk")
    );
    assert_eq!(found("<bob@example.com>, thanks"), one("email", "bob@example.com"));
    assert_eq!(found("mi correo es ana@correo.es."), one("email", "ana@correo.es"));
    assert_eq!(found("not an email: bob@localhost"), vec![]);
}

#[test]
fn phones_are_normalized_to_e164() {
    assert_eq!(found("call me at (415) 555-2671"), one("phone", "+14155552671"));
    assert_eq!(found("mi móvil es +34 612 34 56 78"), one("phone", "+34612345678"));
    assert_eq!(found("call 555-0000-000000000000"), vec![]);
}

#[test]
fn money_with_currency() {
    assert_eq!(found("I was charged $12.50 twice"), one("money", "12.50 USD"));
    assert_eq!(found("me cobraron 12,50 € dos veces"), one("money", "12.50 EUR"));
    assert_eq!(found("me cobraron 12,50 euros"), one("money", "12.50 EUR"));
    assert_eq!(found("refund of €1.234,56"), one("money", "1234.56 EUR"));
    assert_eq!(found("it was 30 dollars"), one("money", "30.00 USD"));
    assert_eq!(found("£5"), one("money", "5.00 GBP"));
}

#[test]
fn dates_absolute_and_relative_in_english_and_spanish() {
    assert_eq!(found("I paid on March 3"), one("date", "2026-03-03"));
    assert_eq!(found("I paid on Mar 3rd, 2025"), one("date", "2025-03-03"));
    assert_eq!(found("paid 3 March"), one("date", "2026-03-03"));
    assert_eq!(found("pagué el 3 de marzo"), one("date", "2026-03-03"));
    assert_eq!(
        found("el 25 de diciembre"),
        one("date", "2025-12-25"),
        "the recent past, not nine months ahead"
    );
    assert_eq!(found("3 de marzo de 2024"), one("date", "2024-03-03"));
    assert_eq!(found("it arrived yesterday"), one("date", "2026-03-09"));
    assert_eq!(found("llegó ayer"), one("date", "2026-03-09"));
    assert_eq!(found("llega mañana"), one("date", "2026-03-11"));
    assert_eq!(found("esta mañana no llegó"), vec![], "esta mañana is this morning");
    assert_eq!(found("ordered last Friday"), one("date", "2026-03-06"));
    assert_eq!(found("lo pedí el lunes pasado"), one("date", "2026-03-09"));
    assert_eq!(found("on 3/4/2026"), one("date", "2026-03-04"));
    assert_eq!(found("on 13/4"), one("date", "2026-04-13"));
    assert_eq!(found("waited 1.5 hours"), vec![]);
}

#[test]
fn lookup_lists_give_the_canonical_value() {
    assert_eq!(found("I want to cancel my PRO plan"), one("plan", "Pro"));
    assert_eq!(found("quiero el plan básico"), one("plan", "Basic"));
    assert_eq!(found("the professional service"), vec![], "whole words only");
}

#[test]
fn spans_are_character_offsets() {
    let text = "¿dónde está mi pedido 54192?";
    let entities = extractor().extract(text, TODAY);
    assert_eq!(entities.len(), 1);
    let e = &entities[0];
    assert_eq!(e.text, "54192");
    assert_eq!(
        text.chars().skip(e.span.start).take(e.span.len()).collect::<String>(),
        "54192"
    );
    assert_eq!(e.extractor, "order_number");
}

#[test]
fn several_entities_in_order() {
    let text = "Order #54192, paid $20 on March 3, email sarah@example.com";
    let kinds: Vec<String> = extractor()
        .extract(text, TODAY)
        .into_iter()
        .map(|e| e.kind.name().to_owned())
        .collect();
    assert_eq!(kinds, vec!["order_number", "money", "date", "email"]);
}

#[test]
fn bad_configuration_names_the_entry() {
    let bad = EntityConfig {
        order_number_pattern: "(unclosed".into(),
        ..EntityConfig::default()
    };
    assert!(matches!(
        EntityExtractor::new(&bad),
        Err(EntityConfigError::OrderPattern(_))
    ));
    let no_group = EntityConfig {
        order_number_pattern: r"#\d+".into(),
        ..EntityConfig::default()
    };
    assert_eq!(
        EntityExtractor::new(&no_group).err(),
        Some(EntityConfigError::OrderPatternGroup)
    );
    let region = EntityConfig {
        phone_region: "Narnia".into(),
        ..EntityConfig::default()
    };
    assert_eq!(
        EntityExtractor::new(&region).err(),
        Some(EntityConfigError::PhoneRegion("Narnia".into()))
    );
    let empty = EntityConfig {
        lookups: vec![LookupList {
            name: "plan".into(),
            entries: vec![LookupEntry {
                value: " ".into(),
                synonyms: vec![],
            }],
        }],
        ..EntityConfig::default()
    };
    assert_eq!(
        EntityExtractor::new(&empty).err(),
        Some(EntityConfigError::EmptyLookup {
            list: "plan".into(),
            index: 0
        })
    );
}

#[test]
fn huge_and_empty_input() {
    assert!(extractor().extract("", TODAY).is_empty());
    let text = "order #54192 ".repeat(8_000);
    assert_eq!(extractor().extract(&text, TODAY).len(), 8_000);
}

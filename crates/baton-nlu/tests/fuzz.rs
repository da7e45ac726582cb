//! Property tests: no input text makes any part of the analysis panic, and what it reports
//! stays consistent with the input (spans inside the text, scores in range). The stable
//! toolchain has no libFuzzer; proptest explores arbitrary Unicode instead. Crashes found are
//! kept below as regression cases.

use baton_nlu::analyzer::DEMO_NLU_TOML;
use baton_nlu::entities::{EntityConfig, EntityExtractor};
use baton_nlu::{sentiment, Analyzer, NluConfig};
use proptest::prelude::*;
use std::sync::OnceLock;
use time::macros::date;

#[derive(serde::Deserialize)]
struct Wrapper {
    nlu: NluConfig,
}

fn analyzer() -> &'static Analyzer {
    static ANALYZER: OnceLock<Analyzer> = OnceLock::new();
    ANALYZER.get_or_init(|| {
        let config = toml::from_str::<Wrapper>(DEMO_NLU_TOML).expect("demo").nlu;
        Analyzer::new(&config).expect("demo analyzer")
    })
}

fn check(text: &str) {
    let today = date!(2026 - 03 - 10);
    let a = analyzer().analyze(text, Some("es"), today);
    let chars = text.chars().count();
    for e in &a.entities {
        assert!(
            e.span.start <= e.span.end && e.span.end <= chars,
            "span {:?} in {chars} chars",
            e.span
        );
        let slice: String = text.chars().skip(e.span.start).take(e.span.len()).collect();
        assert_eq!(slice, e.text);
    }
    assert!((-1.0..=1.0).contains(&a.sentiment.score));
    assert!(a.intent.top.iter().all(|t| (0.0..=1.0).contains(&t.confidence)));
    let _ = EntityExtractor::new(&EntityConfig::default())
        .expect("default")
        .extract(text, today);
    let _ = sentiment::analyze(text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_unicode_text(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn text_shaped_like_entities(text in "[#$€£ 0-9a-zA-Z@.,:/()+\\-ñáéíóú¿?¡!]{0,120}") {
        check(&text);
    }
}

#[test]
fn regression_cases() {
    for text in [
        "",
        " ",
        "#",
        "$",
        "€,",
        "1/1/1",
        "31/31",
        "0/0/0000",
        "29/2/2025",
        "+",
        "(((",
        "@.",
        "a@b.cc.",
        "ñ",
        "🙂🙂🙂",
        "mañana",
        "\u{0}",
        "order #00000",
        "$0.0",
        "1.234.567,89 €",
    ] {
        check(text);
    }
}

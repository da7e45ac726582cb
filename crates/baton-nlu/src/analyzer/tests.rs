//! The analyzer on the demo configuration: held-out accuracy per language, the whole
//! analysis of typical messages, and configuration errors that name the entry.

use super::*;
use crate::sentiment::FrustrationMarker;
use time::macros::date;

const TODAY: Date = date!(2026 - 03 - 10);

#[derive(Debug, Deserialize)]
struct Wrapper {
    nlu: NluConfig,
}

fn demo_config() -> NluConfig {
    toml::from_str::<Wrapper>(DEMO_NLU_TOML).expect("demo nlu config").nlu
}

fn demo() -> Analyzer {
    Analyzer::new(&demo_config()).expect("demo analyzer")
}

/// Held-out rows: (text, intent or None for out of scope, language).
fn heldout() -> Vec<(String, Option<String>, String)> {
    DEMO_HELDOUT_CSV
        .lines()
        .skip(1)
        .map(|line| {
            // The file is written without quotes inside fields except where a comma appears.
            let (text, rest) = if let Some(stripped) = line.strip_prefix('"') {
                let end = stripped.find("\",").expect("closing quote");
                (stripped[..end].to_owned(), &stripped[end + 2..])
            } else {
                let (t, r) = line.split_once(',').expect("text,category");
                (t.to_owned(), r)
            };
            let (category, language) = rest.split_once(',').expect("category,language");
            let intent = (category != "out_of_scope").then(|| category.to_owned());
            (text, intent, language.to_owned())
        })
        .collect()
}

#[test]
fn the_demo_has_enough_intents_and_examples() {
    let config = demo_config();
    assert!(config.intents.len() >= 15);
    for intent in &config.intents {
        for language in ["en", "es"] {
            assert!(intent.examples[language].len() >= 20, "{} in {language}", intent.name);
        }
    }
    let rows = heldout();
    assert!(rows.iter().filter(|r| r.2 == "en").count() >= 100);
    assert!(rows.iter().filter(|r| r.2 == "es").count() >= 100);
}

/// How a text compares with another, as the near-copy check sees it: lowercase, words only.
fn words_of(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A held-out row that is nearly a training example measures memory, not understanding:
/// no row may be 0.8 or more similar, character by character, to any training example, use
/// exactly the same words (as "hello hello" against "hello"), or hold a training example of
/// two words or more word for word ("good morning there" against "good morning").
#[test]
fn the_held_out_set_has_no_near_copies_of_training_examples() {
    let config = demo_config();
    let training: Vec<&str> = config
        .intents
        .iter()
        .flat_map(|i| i.examples.values().flatten())
        .chain(config.out_of_scope.values().flatten())
        .map(String::as_str)
        .collect();
    let prepared: Vec<(String, Vec<String>)> = training
        .iter()
        .map(|t| {
            let words = words_of(t);
            let mut set = words.clone();
            set.sort();
            set.dedup();
            (words.join(" "), set)
        })
        .collect();
    let mut copies = Vec::new();
    for (text, _, _) in heldout() {
        let words = words_of(&text);
        let joined = words.join(" ");
        let mut set = words;
        set.sort();
        set.dedup();
        for ((train_text, train_set), original) in prepared.iter().zip(&training) {
            let similarity = strsim::normalized_levenshtein(&joined, train_text);
            // A training example of two words or more, word for word inside the row, with a
            // filler around it ("good morning there" against "good morning").
            let contains = train_set.len() >= 2 && format!(" {joined} ").contains(&format!(" {train_text} "));
            if similarity >= 0.8 || set == *train_set || contains {
                copies.push(format!("{text:?} ~ {original:?} ({similarity:.2})"));
            }
        }
    }
    assert!(
        copies.is_empty(),
        "near-copies of training examples:\n{}",
        copies.join("\n")
    );
}

#[test]
fn held_out_accuracy_per_language() {
    let analyzer = demo();
    for language in ["en", "es"] {
        let rows: Vec<_> = heldout().into_iter().filter(|r| r.2 == language).collect();
        let in_scope: Vec<_> = rows.iter().filter(|r| r.1.is_some()).collect();
        // Each in-scope message once: right with rejection on, and (top confidence, top
        // intent right) for the calibration figure.
        let judged: Vec<(bool, (f32, bool))> = in_scope
            .iter()
            .map(|(text, intent, _)| {
                let a = analyzer.analyze(text, Some(language), TODAY);
                let top = a.intent.top.first();
                (
                    a.intent.intent().map(|i| i.intent.as_str()) == intent.as_deref(),
                    (
                        top.map_or(0.0, |t| t.confidence),
                        top.map(|t| t.intent.as_str()) == intent.as_deref(),
                    ),
                )
            })
            .collect();
        let correct = judged.iter().filter(|(right, _)| *right).count();
        let accuracy = correct as f64 / in_scope.len() as f64;
        let oos: Vec<_> = rows.iter().filter(|r| r.1.is_none()).collect();
        let rejected = oos
            .iter()
            .filter(|(text, _, _)| analyzer.analyze(text, Some(language), TODAY).intent.out_of_scope)
            .count();
        let top_right: Vec<(f32, bool)> = judged.iter().map(|(_, top)| *top).collect();
        let calibration = crate::metrics::calibration(&top_right, 10);
        eprintln!(
            "{language}: in-scope accuracy {:.1}% ({correct}/{}), out-of-scope recall {rejected}/{}, \
             expected calibration error of the top intent {:.1} points",
            accuracy * 100.0,
            in_scope.len(),
            oos.len(),
            calibration.expected_error * 100.0
        );
        assert!(accuracy >= 0.85, "{language} held-out accuracy {accuracy}");
        assert!(
            rejected * 2 >= oos.len(),
            "{language}: most out-of-scope messages are rejected"
        );
    }
}

#[test]
fn a_whole_analysis() {
    let a = demo().analyze(
        "I was charged TWICE for order #54192 on March 3!! This is ridiculous",
        Some("en"),
        TODAY,
    );
    assert_eq!(a.language.code, "en");
    assert_eq!(a.intent.intent().map(|i| i.intent.as_str()), Some("duplicate_charge"));
    let entities: Vec<(&str, &str)> = a.entities.iter().map(|e| (e.kind.name(), e.value.as_str())).collect();
    assert_eq!(entities, vec![("order_number", "54192"), ("date", "2026-03-03")]);
    assert!(a.sentiment.score < 0.0);
    assert!(a.sentiment.markers.contains(&FrustrationMarker::Exasperation));
    assert!(a.sentiment.markers.contains(&FrustrationMarker::RepeatedPunctuation));

    let a = demo().analyze("hola, ¿dónde está mi pedido 54192?", Some("en"), TODAY);
    assert_eq!(a.language.code, "es");
    assert_eq!(a.intent.intent().map(|i| i.intent.as_str()), Some("order_status"));
    assert_eq!(a.entities[0].value, "54192");
}

#[test]
fn asking_for_a_human_in_either_language() {
    let analyzer = demo();
    for (text, language) in [
        ("HUMAN", "en"),
        ("I want to speak to a person", "en"),
        ("quiero hablar con un agente", "es"),
    ] {
        let a = analyzer.analyze(text, Some(language), TODAY);
        assert_eq!(
            a.intent.intent().map(|i| i.intent.as_str()),
            Some("talk_to_human"),
            "{text}"
        );
    }
}

#[test]
fn bad_input_is_handled() {
    let analyzer = demo();
    for text in ["", "   \n\t", "?!"] {
        let a = analyzer.analyze(text, Some("es"), TODAY);
        assert!(a.intent.out_of_scope, "{text:?}");
        assert!(a.entities.is_empty());
        assert_eq!(a.language.code, "es", "the conversation's language stands");
    }
    let huge = "where is my order 54192 ".repeat(5_000); // 120 kB
    let a = analyzer.analyze(&huge, None, TODAY);
    assert_eq!(a.intent.intent().map(|i| i.intent.as_str()), Some("order_status"));
    assert!(a.entities.iter().all(|e| e.span.end <= MAX_ANALYZED_CHARS));
    // An unknown conversation language falls back to the default.
    assert_eq!(analyzer.analyze("ok", Some("fr"), TODAY).language.code, "en");
}

#[test]
fn invalid_configuration_names_the_bad_entry() {
    let mut config = demo_config();
    config.intents[2].examples.insert("fr".into(), vec!["bonjour".into()]);
    let err = Analyzer::new(&config).expect_err("fr examples").to_string();
    assert!(err.contains("nlu.intents[2]") && err.contains("`fr`"), "{err}");

    let mut config = demo_config();
    config.intents[1].examples.get_mut("es").expect("es").truncate(2);
    let err = Analyzer::new(&config).expect_err("too few").to_string();
    assert!(
        err.contains("nlu.intents[1]") && err.contains("2 examples in `es`"),
        "{err}"
    );

    let mut config = demo_config();
    config.intents[3].name = config.intents[0].name.clone();
    let err = Analyzer::new(&config).expect_err("duplicate").to_string();
    assert!(
        err.contains("nlu.intents[3]") && err.contains("nlu.intents[0]"),
        "{err}"
    );

    let mut config = demo_config();
    config.intents[4].examples.get_mut("en").expect("en")[7] = " ".into();
    let err = Analyzer::new(&config).expect_err("empty example").to_string();
    assert!(err.contains("example 7 in `en` is empty"), "{err}");

    let mut config = demo_config();
    config.default_language = "de".into();
    assert_eq!(
        Analyzer::new(&config).err(),
        Some(NluConfigError::DefaultLanguage("de".into()))
    );

    let mut config = demo_config();
    config.entities.order_number_pattern = "[".into();
    assert!(matches!(Analyzer::new(&config), Err(NluConfigError::Entities(_))));

    let err =
        toml::from_str::<Wrapper>("[nlu]\nlanguages = [\"en\"]\ndefault_language = \"en\"\nintents = []\nbogus = 1\n")
            .expect_err("unknown key")
            .to_string();
    assert!(err.contains("bogus"), "{err}");
}

/// A message that is nothing but an email, a phone number, an order number (an answer to the
/// bot's question) asks for nothing: whatever the classifier makes of "someone@example.com"
/// (it once read "asks for a person" in it, from "someone") is not an intent.
#[test]
fn a_message_of_entities_only_has_no_intent() {
    let analyzer = demo();
    for (text, language) in [
        ("someone@example.com", "en"),
        ("customer.service@shop.com", "en"),
        ("54192", "en"),
        ("#54192", "en"),
        ("+34 612 345 678", "es"),
        ("alguien@ejemplo.es", "es"),
        ("  sarah.chen@example.com, 54192 ", "en"),
    ] {
        let analysis = analyzer.analyze(text, Some(language), TODAY);
        assert!(
            text.chars().all(|c| c.is_ascii_digit()) || !analysis.entities.is_empty(),
            "{text}: the entity is found"
        );
        assert!(analysis.intent.out_of_scope, "{text}: {:?}", analysis.intent.top);
        assert!(analysis.intent.intent().is_none());
        assert_eq!(
            analysis.language.code, language,
            "{text}: the conversation keeps its language"
        );
        assert!(!analysis.language.detected, "{text}");
    }
    // An English conversation given a Spanish-looking address stays English.
    let kept = analyzer.analyze("sarah.chen@example.com", Some("en"), TODAY);
    assert_eq!((kept.language.code.as_str(), kept.language.detected), ("en", false));
    // Words around the entity are read as usual, and short answers keep their intent.
    let asked = analyzer.analyze("where is my order 54192", Some("en"), TODAY);
    assert_eq!(asked.intent.intent().map(|i| i.intent.as_str()), Some("order_status"));
    for (text, language) in [("thanks", "en"), ("gracias", "es"), ("hi", "en"), ("hola", "es")] {
        let analysis = analyzer.analyze(text, Some(language), TODAY);
        assert!(!analysis.intent.out_of_scope, "{text}: {:?}", analysis.intent.top);
    }
}

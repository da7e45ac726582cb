//! Tests of the intent model on small hand-made data.

use super::*;

fn examples() -> Vec<TrainingExample> {
    let data: &[(&str, &[&str])] = &[
        (
            "order_status",
            &[
                "where is my order",
                "track my package",
                "has my order shipped yet",
                "when will my order arrive",
                "order status please",
                "where's my parcel",
                "is my package on the way",
                "tracking number for my order",
                "my order hasn't arrived",
                "check the status of order 123",
                "what is happening with my delivery",
                "when does my package come",
            ],
        ),
        (
            "refund",
            &[
                "i want a refund",
                "give me my money back",
                "refund my purchase",
                "how do i get a refund",
                "can i get reimbursed",
                "return the money to my card",
                "i'd like my money returned",
                "please refund me",
                "request a refund for my order",
                "when will i get my refund",
                "refund status",
                "i was promised a refund",
            ],
        ),
        (
            "greeting",
            &[
                "hello",
                "hi there",
                "good morning",
                "hey",
                "hi",
                "good evening",
                "hello, anyone there?",
                "hey there",
                "greetings",
                "good afternoon",
                "hiya",
                "howdy",
            ],
        ),
    ];
    data.iter()
        .flat_map(|(intent, texts)| {
            texts.iter().map(|t| TrainingExample {
                text: (*t).to_owned(),
                intent: Some((*intent).to_owned()),
            })
        })
        .collect()
}

fn oos_examples() -> Vec<TrainingExample> {
    [
        "what is the weather tomorrow",
        "tell me a joke",
        "who won the football game",
        "what's the capital of france",
        "play some music",
        "how tall is mount everest",
        "recommend a movie",
        "what time is it in tokyo",
        "translate cat to german",
        "how do i bake bread",
        "what is love",
        "set an alarm for 7",
    ]
    .iter()
    .map(|t| TrainingExample {
        text: (*t).to_owned(),
        intent: None,
    })
    .collect()
}

#[test]
fn recognizes_unseen_phrasings() {
    let model = IntentModel::train(&examples(), &TrainingOptions::default()).expect("train");
    for (text, intent) in [
        ("where is my package", "order_status"),
        ("i need my money back", "refund"),
        ("hello!", "greeting"),
    ] {
        let p = model.predict(text);
        assert_eq!(p.top[0].intent, intent, "{text}: {p:?}");
        assert!(p.top[0].confidence > p.top[1].confidence);
    }
    assert_eq!(
        model.intents().collect::<Vec<_>>(),
        vec!["greeting", "order_status", "refund"]
    );
}

#[test]
fn confidences_are_probabilities_best_first() {
    let model = IntentModel::train(&examples(), &TrainingOptions::default()).expect("train");
    let p = model.predict("refund please");
    assert_eq!(p.top.len(), 3);
    let sum: f32 = p.top.iter().map(|t| t.confidence).sum();
    assert!((sum - 1.0).abs() < 1e-4, "{sum}");
    assert!(p.top.windows(2).all(|w| w[0].confidence >= w[1].confidence));
}

#[test]
fn out_of_scope_messages_are_rejected() {
    let mut data = examples();
    data.extend(oos_examples());
    let model = IntentModel::train(&data, &TrainingOptions::default()).expect("train");
    assert!(model.predict("what's the weather like in paris").out_of_scope);
    assert!(model.predict("tell me a funny joke").out_of_scope);
    let p = model.predict("where is my order");
    assert!(!p.out_of_scope, "{p:?}");
    assert_eq!(p.intent().map(|i| i.intent.as_str()), Some("order_status"));
    // The rejection class never shows up as an intent.
    assert!(model.intents().all(|i| i != "(out of scope)"));
}

#[test]
fn text_with_no_known_features_is_out_of_scope() {
    let model = IntentModel::train(&examples(), &TrainingOptions::default()).expect("train");
    assert!(model.predict("").out_of_scope);
    assert!(model.predict("   ").out_of_scope);
    assert!(model.predict("§§§ ¶¶¶").out_of_scope);
}

#[test]
fn huge_input_is_handled() {
    let model = IntentModel::train(&examples(), &TrainingOptions::default()).expect("train");
    let text = "where is my order ".repeat(6_000);
    assert_eq!(model.predict(&text).top[0].intent, "order_status");
}

#[test]
fn training_is_deterministic() {
    let a = IntentModel::train(&examples(), &TrainingOptions::default()).expect("train");
    let b = IntentModel::train(&examples(), &TrainingOptions::default()).expect("train");
    assert_eq!(a.predict("refund status"), b.predict("refund status"));
    assert_eq!(a.threshold(), b.threshold());
}

#[test]
fn bad_training_data_names_the_example() {
    assert_eq!(
        IntentModel::train(&[], &TrainingOptions::default()).err(),
        Some(TrainError::NoExamples)
    );
    let mut data = examples();
    data[4].text = "  ".into();
    assert_eq!(
        IntentModel::train(&data, &TrainingOptions::default()).err(),
        Some(TrainError::EmptyText { index: 4 })
    );
    let one: Vec<TrainingExample> = examples()
        .into_iter()
        .filter(|e| e.intent.as_deref() == Some("refund"))
        .collect();
    assert_eq!(
        IntentModel::train(&one, &TrainingOptions::default()).err(),
        Some(TrainError::TooFewIntents(1))
    );
    let mut data = examples();
    data[0].intent = Some(String::new());
    assert_eq!(
        IntentModel::train(&data, &TrainingOptions::default()).err(),
        Some(TrainError::EmptyIntent { index: 0 })
    );
}

//! The escalation policy, rule by rule, in English and Spanish, including the conversations
//! that must not escalate.

mod common;

use baton_domain::{ActionOutcome, EscalationKind, EscalationReason, Priority};
use common::*;

fn kinds(reasons: &[EscalationReason]) -> Vec<EscalationKind> {
    reasons.iter().map(|r| r.kind).collect()
}

fn fires(reasons: &[EscalationReason], kind: EscalationKind) -> &EscalationReason {
    reasons
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("expected {kind:?}, got {reasons:?}"))
}

const ASKS_FOR_A_PERSON_EN: &[&str] = &[
    "agent",
    "AGENT!!!",
    "human",
    "HUMAN PLEASE",
    "representative",
    "operator",
    "I want to talk to a real person",
    "can I speak to someone please",
    "you're useless, get me a human",
    "not a bot, a person",
    "Let me talk to customer service",
    "I need a live agent now",
    "put me through to a manager",
    "is there someone real I can talk to?",
    "I don't want a bot, I want a human",
    "no I want an agent",
    "this is not working i need a human",
    "you don't understand me I want a human",
    "nobody answers me i want a human",
    "are you a bot? get me a human",
    "I'd like to speak to a manager",
];

const ASKS_FOR_A_PERSON_ES: &[&str] = &[
    "agente",
    "¡¡AGENTE!!",
    "quiero hablar con una persona",
    "pásame con un agente por favor",
    "necesito un humano",
    "no eres un bot? quiero una persona real",
    "no quiero hablar con un bot",
    "quiero hablar con alguien",
    "con un operador, por favor",
    "me pasas con un asesor?",
    "atención al cliente por favor",
    "quiero hablar con el encargado",
    "no me funciona nada quiero un agente",
    "llevo una semana sin mi pedido quiero hablar con una persona",
];

#[test]
fn a_request_for_a_person_escalates_in_many_phrasings() {
    for (language, phrasings) in [("en", ASKS_FOR_A_PERSON_EN), ("es", ASKS_FOR_A_PERSON_ES)] {
        for text in phrasings {
            let mut script = Script::new(language);
            // The model need not know: the words say it.
            let reasons = script.say(text, unplaced(0.2));
            let reason = fires(&reasons, EscalationKind::Explicit);
            assert_eq!(reason.evidence, vec![2], "{text}: the message that asked");
        }
    }
}

#[test]
fn the_intent_model_alone_can_ask_for_a_person() {
    for (language, text) in [
        ("en", "could a colleague of yours take over"),
        ("es", "que me atienda un compañero tuyo"),
    ] {
        let mut script = Script::new(language);
        let reasons = script.say(text, intent("talk_to_human", 0.83));
        fires(&reasons, EscalationKind::Explicit);
    }
}

#[test]
fn a_negated_request_does_not_escalate() {
    for (language, text) in [
        ("en", "no need for a human, I just want the tracking number"),
        ("en", "I don't need an agent"),
        ("en", "I don't want to talk to a human, just tell me the status"),
        ("en", "you don't have to get a person, thanks"),
        ("en", "are you a human?"),
        ("es", "no necesito un agente"),
        ("es", "no quiero hablar con una persona, solo el estado del pedido"),
        ("es", "sin agente, gracias"),
        ("es", "¿eres humano?"),
    ] {
        let mut script = Script::new(language);
        // Even when the model hears "human" in it.
        let reasons = script.say(text, intent("talk_to_human", 0.9));
        assert!(
            !kinds(&reasons).contains(&EscalationKind::Explicit),
            "{text}: {reasons:?}"
        );
    }
}

#[test]
fn everyday_words_that_only_sound_like_a_request_stay_with_the_bot() {
    for (language, text) in [
        ("en", "Thanks for the great customer service!"),
        ("en", "the delivery agent left it at the wrong door"),
        ("en", "I use a password manager, is that ok?"),
        ("en", "is this size good for a person of 1.80?"),
        ("en", "please deliver to 12 Maple Court"),
        ("en", "I want to update my personal data"),
        ("es", "muchas gracias, muy buena atención al cliente"),
        ("es", "envíalo a la Calle del Juzgado 3"),
        ("es", "quiero cambiar mis datos personales"),
        ("es", "el agente de transporte dejó el paquete fuera"),
    ] {
        let mut script = Script::new(language);
        let reasons = script.say(text, intent("product_question", 0.7).mood(0.3));
        assert!(reasons.is_empty(), "{text}: {reasons:?}");
    }
}

#[test]
fn greetings_thanks_and_answered_questions_never_escalate() {
    for (language, text, name) in [
        ("en", "hi there", "greeting"),
        ("en", "thanks, that was great!", "thanks"),
        ("en", "where is my order?", "order_status"),
        ("en", "what is your return policy?", "return_item"),
        ("en", "bye", "goodbye"),
        ("es", "hola", "greeting"),
        ("es", "¡muchas gracias!", "thanks"),
        ("es", "¿dónde está mi pedido?", "order_status"),
        ("es", "¿cuál es la política de devoluciones?", "return_item"),
    ] {
        let mut script = Script::new(language);
        let score = if name == "thanks" { 0.7 } else { 0.0 };
        let before = script.say(text, intent(name, 0.92).mood(score));
        assert!(before.is_empty(), "{text}: {before:?}");
        let after = script.turn(vec![flow(name)]);
        assert!(after.is_empty(), "{text}: {after:?}");
    }
}

#[test]
fn two_dead_ends_escalate_before_a_third() {
    for language in ["en", "es"] {
        let mut script = Script::new(language);
        script.say("blorp the flux capacitor", unplaced(0.1));
        let first = script.fallback();
        assert!(script.turn(vec![first]).is_empty(), "one dead end is not yet a streak");
        let reasons = script.say("the thing with the stuff", unplaced(0.1));
        assert!(reasons.is_empty());
        let second = script.fallback();
        let reasons = script.turn(vec![second]);
        let reason = fires(&reasons, EscalationKind::RepeatedFallback);
        assert_eq!(reason.evidence, vec![2, 5], "both messages the bot could not place");
    }
}

#[test]
fn dead_ends_far_apart_are_not_a_streak() {
    let mut script = Script::new("en");
    script.say("blorp", unplaced(0.1));
    let first = script.fallback();
    script.turn(vec![first]);
    script.now += time::Duration::minutes(30);
    script.say("flux", unplaced(0.1));
    let second = script.fallback();
    assert!(script.turn(vec![second]).is_empty());
}

#[test]
fn a_low_confidence_streak_escalates_but_answers_to_questions_do_not_count() {
    for (language, answers, vague) in [
        (
            "en",
            ["sarah@example.com", "54192", "yes"],
            [
                "hmm what about the other one",
                "the blue thing from before",
                "and that one too",
            ],
        ),
        (
            "es",
            ["sarah@example.com", "54192", "sí"],
            ["y lo otro qué", "lo azul de antes", "y eso también"],
        ),
    ] {
        let mut script = Script::new(language);
        // Answers to the bot's questions are understood with low confidence all the time.
        script.push(baton_domain::EventKind::DialogueMoved {
            flow: Some("order_status".into()),
            awaiting: Some(baton_domain::Awaiting::Slot { slot: "email".into() }),
        });
        for text in answers {
            assert!(script.say(text, unplaced(0.2)).is_empty(), "{text}");
        }
        script.push(flow("order_status"));
        script.say(vague[0], unplaced(0.3));
        script.turn(vec![flow("product_question")]);
        // A low-confidence question the knowledge base answered well does not count.
        script.say("paypal?", unplaced(0.3));
        assert!(script.turn(vec![article("payment-methods")]).is_empty());
        script.say(vague[1], unplaced(0.3));
        script.turn(vec![flow("product_question")]);
        script.say(vague[2], unplaced(0.3));
        let reasons = script.turn(vec![flow("product_question")]);
        let reason = fires(&reasons, EscalationKind::LowConfidence);
        assert_eq!(reason.evidence.len(), 3);
    }
}

fn article(id: &str) -> baton_domain::EventKind {
    baton_domain::EventKind::ArticleShown {
        article_id: id.into(),
        title: id.into(),
        language: "en".into(),
        url: None,
    }
}

#[test]
fn a_drop_from_neutral_to_negative_escalates() {
    for (language, first, second) in [
        ("en", "where is my order", "this is unacceptable, I am really angry"),
        ("es", "dónde está mi pedido", "esto es inaceptable, estoy muy enfadado"),
    ] {
        let mut script = Script::new(language);
        assert!(script.say(first, intent("order_status", 0.9)).is_empty());
        script.turn(vec![flow("order_status")]);
        let reasons = script.say(second, intent("complaint", 0.7).mood(-0.7));
        let reason = fires(&reasons, EscalationKind::SentimentDrop);
        assert_eq!(reason.evidence, vec![2, 5]);
    }
}

#[test]
fn a_first_message_that_is_merely_unhappy_does_not_escalate() {
    let mut script = Script::new("en");
    let reasons = script.say(
        "my order is late and that's annoying",
        intent("late_delivery", 0.9).mood(-0.5),
    );
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[test]
fn shouting_and_repeated_punctuation_count_as_frustration() {
    let mut script = Script::new("en");
    let reasons = script.say(
        "WHY IS THIS STILL NOT FIXED??? RIDICULOUS",
        intent("complaint", 0.8)
            .mood(-0.3)
            .markers(&["all_caps", "repeated_punctuation", "exasperation"]),
    );
    fires(&reasons, EscalationKind::SentimentDrop);
    // Capitals alone in a neutral question are not frustration.
    let mut calm = Script::new("en");
    assert!(calm
        .say("WHERE IS MY ORDER", intent("order_status", 0.9).markers(&["all_caps"]))
        .is_empty());
}

#[test]
fn a_falling_trend_escalates() {
    let mut script = Script::new("es");
    for (text, name, score) in [
        ("hola", "greeting", 0.5),
        ("vale, una pregunta sobre tallas", "product_question", 0.3),
        ("y las devoluciones", "return_item", 0.2),
        ("no me sirve", "complaint", 0.0),
        ("qué mal lo del envío", "late_delivery", -0.2),
    ] {
        assert!(script.say(text, intent(name, 0.6).mood(score)).is_empty(), "{text}");
        script.push(flow(name));
    }
    let reasons = script.say("esto es un desastre", intent("complaint", 0.6).mood(-0.35));
    fires(&reasons, EscalationKind::SentimentDrop);
}

#[test]
fn a_failed_refund_escalates_with_the_action_as_evidence() {
    for (language, text) in [("en", "yes please refund it"), ("es", "sí, reembólsalo por favor")] {
        let mut script = Script::new(language);
        script.say(text, intent("duplicate_charge", 0.9));
        let reasons = script.turn(vec![action(
            "start_refund",
            ActionOutcome::Failed,
            "refund workflow failed",
            &[],
        )]);
        let reason = fires(&reasons, EscalationKind::FailedAction);
        assert_eq!(reason.evidence, vec![2], "the message that led to it");
        assert_eq!(script.policy.escalation(reasons).priority, Priority::High);
    }
}

#[test]
fn a_read_only_check_that_says_no_does_not_escalate() {
    let mut script = Script::new("en");
    script.say("I was charged twice for 54193", intent("duplicate_charge", 0.9));
    let reasons = script.turn(vec![action(
        "refund_eligibility",
        ActionOutcome::Failed,
        "no duplicate charge",
        &[],
    )]);
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[test]
fn failed_identity_checks_escalate_at_the_second() {
    for language in ["en", "es"] {
        let mut script = Script::new(language);
        script.say("sarah@example.com 11111", intent("order_status", 0.6));
        assert!(script.turn(vec![failed_check(1)]).is_empty());
        script.say("sarah@example.com 22222", intent("order_status", 0.6));
        let reasons = script.turn(vec![failed_check(2)]);
        let reason = fires(&reasons, EscalationKind::FailedVerification);
        assert_eq!(reason.evidence, vec![2, 5]);
    }
}

#[test]
fn a_high_value_account_goes_to_a_person_at_its_first_dead_end() {
    for (language, text) in [("en", "blorp flux"), ("es", "flux blorp por favor")] {
        let mut vip = Script::new(language);
        vip.say("54233", intent("order_status", 0.6));
        vip.turn(vec![verified("c-1003", "Marcus Chen", "vip", language, START)]);
        vip.say(text, unplaced(0.1));
        let fallback = vip.fallback();
        let reasons = vip.turn(vec![fallback]);
        fires(&reasons, EscalationKind::HighValueAccount);

        let mut standard = Script::new(language);
        standard.say("54192", intent("order_status", 0.6));
        standard.turn(vec![verified("c-1001", "Sarah Johnson", "standard", language, START)]);
        standard.say(text, unplaced(0.1));
        let fallback = standard.fallback();
        assert!(standard.turn(vec![fallback]).is_empty(), "{language}");
    }
}

#[test]
fn compliance_topics_escalate_urgently_in_both_languages() {
    for (language, text) in [
        ("en", "if this isn't fixed I will contact my lawyer"),
        ("en", "I'm going to sue you"),
        ("en", "there's a charge on my card I don't recognize"),
        ("en", "this purchase is fraudulent"),
        ("en", "I'll file a chargeback with my bank"),
        ("en", "under GDPR I want you to delete my data"),
        ("en", "I want to exercise my right to be forgotten"),
        ("es", "voy a hablar con mi abogado"),
        ("es", "os voy a demandar"),
        ("es", "no reconozco este cargo en mi tarjeta"),
        ("es", "esto es un fraude"),
        ("es", "voy a pedir un contracargo"),
        ("es", "quiero que borréis mis datos según el RGPD"),
        ("es", "ejerzo mi derecho al olvido"),
    ] {
        let mut script = Script::new(language);
        let reasons = script.say(text, unplaced(0.3));
        let reason = fires(&reasons, EscalationKind::Compliance);
        assert_eq!(reason.evidence, vec![2]);
        assert_eq!(script.policy.escalation(reasons).priority, Priority::Urgent, "{text}");
    }
}

#[test]
fn compliance_words_in_other_senses_stay_with_the_bot() {
    for (language, text) in [
        ("en", "my name is Sue and I want my order status"),
        ("es", "hay mucha demanda de este producto?"),
        ("es", "a mi juicio el envío es lento"),
    ] {
        let mut script = Script::new(language);
        let reasons = script.say(text, intent("order_status", 0.8));
        assert!(
            !kinds(&reasons).contains(&EscalationKind::Compliance),
            "{text}: {reasons:?}"
        );
    }
}

#[test]
fn human_only_intents_and_disputes_go_to_a_person() {
    let mut script = Script::new("en");
    let reasons = script.say("please close my account for good", intent("delete_account", 0.88));
    fires(&reasons, EscalationKind::HumanOnlyIntent);
    let mut es = Script::new("es");
    let reasons = es.say("me habéis cobrado de más en la tarjeta", intent("payment_failed", 0.6));
    fires(&reasons, EscalationKind::HumanOnlyIntent);
    let mut en = Script::new("en");
    let reasons = en.say("I want to dispute this card payment", intent("payment_failed", 0.6));
    fires(&reasons, EscalationKind::HumanOnlyIntent);
}

#[test]
fn the_same_request_three_times_without_success_is_a_loop() {
    for (language, texts) in [
        ("en", ["where is my order", "where is my order??", "WHERE IS MY ORDER"]),
        (
            "es",
            [
                "dónde está mi pedido",
                "¿¿dónde está mi pedido??",
                "DÓNDE ESTÁ MI PEDIDO",
            ],
        ),
    ] {
        let mut script = Script::new(language);
        for (n, text) in texts.iter().enumerate() {
            let reasons = script.say(text, intent("order_status", 0.9));
            script.push(flow("order_status"));
            if n == 2 {
                let reason = fires(&reasons, EscalationKind::Loop);
                assert_eq!(reason.evidence.len(), 3);
            } else {
                assert!(reasons.is_empty(), "{text}: {reasons:?}");
            }
        }
    }
    // Questions the knowledge base answered are served, not a loop.
    let mut answered = Script::new("en");
    for text in ["do you ship to Canada?", "and to Mexico?", "what about Chile?"] {
        let reasons = answered.say(text, intent("product_question", 0.9));
        assert!(reasons.is_empty(), "{text}: {reasons:?}");
        answered.turn(vec![article("shipping-countries")]);
    }
    // With an answer that worked in between, asking again is not a loop.
    let mut served = Script::new("en");
    served.say("where is my order", intent("order_status", 0.9));
    served.say("status of 54192", intent("order_status", 0.9));
    served.push(action("order_status", ActionOutcome::Ok, "shipped", &[]));
    let reasons = served.say("and order 54193?", intent("order_status", 0.9));
    assert!(reasons.is_empty(), "{reasons:?}");
}

#[test]
fn several_reasons_fire_together_and_the_highest_priority_wins() {
    let mut script = Script::new("en");
    script.say("where is my order", intent("order_status", 0.9));
    script.push(flow("order_status"));
    let reasons = script.say(
        "THIS IS A SCAM, GET ME A HUMAN!!!",
        unplaced(0.3).mood(-0.8).markers(&["all_caps", "repeated_punctuation"]),
    );
    let found = kinds(&reasons);
    for kind in [
        EscalationKind::Explicit,
        EscalationKind::Compliance,
        EscalationKind::SentimentDrop,
    ] {
        assert!(found.contains(&kind), "{kind:?} in {found:?}");
    }
    assert_eq!(script.policy.escalation(reasons).priority, Priority::Urgent);
}

#[test]
fn the_demo_configuration_checks_clean() {
    let intents = [
        "order_status",
        "refund",
        "duplicate_charge",
        "cancel_order",
        "change_address",
        "late_delivery",
        "return_item",
        "damaged_item",
        "login_problem",
        "talk_to_human",
        "complaint",
        "payment_failed",
        "product_question",
        "delete_account",
        "greeting",
        "thanks",
        "goodbye",
    ];
    let actions = [
        "verify_identity",
        "order_status",
        "refund_status",
        "refund_eligibility",
        "start_refund",
        "cancel_order",
        "change_address",
    ];
    config().validate(&intents, &actions).expect("valid");
    let mut broken = config();
    broken.escalation.human_only_intents.push("teleport".into());
    let error = broken.validate(&intents, &actions).expect_err("unknown intent");
    assert!(error.to_string().contains("teleport"), "{error}");
    let mut broken = config();
    broken.default_queue = "nowhere".into();
    assert!(broken.validate(&intents, &actions).is_err());
}

#[test]
fn after_a_hand_back_the_bot_starts_with_a_clean_slate() {
    let mut script = Script::new("en");
    script.say("blorp", unplaced(0.1));
    let first = script.fallback();
    script.turn(vec![first]);
    script.say("flux", unplaced(0.1));
    let second = script.fallback();
    let reasons = script.turn(vec![second]);
    let escalation = script.policy.escalation(reasons);
    script.hand_off(baton_domain::HandoffRequester::Bot, escalation);
    // A person served the customer and handed the conversation back.
    script.push(baton_domain::EventKind::PhaseChanged {
        from: baton_domain::PhaseName::WithAgent,
        to: baton_domain::PhaseName::HandedBack,
    });
    script.say("zorp", unplaced(0.1));
    let third = script.fallback();
    assert!(
        script.turn(vec![third]).is_empty(),
        "one dead end after the hand-back is not a streak"
    );
    script.say("glorp", unplaced(0.1));
    let fourth = script.fallback();
    let reasons = script.turn(vec![fourth]);
    let reason = fires(&reasons, EscalationKind::RepeatedFallback);
    assert!(reason.evidence.iter().all(|seq| *seq > 8), "{reason:?}");
}

#[test]
fn a_mistyped_order_number_is_not_a_failed_change_even_for_a_vip() {
    let mut vip = Script::new("en");
    vip.say("54233", intent("order_status", 0.6));
    vip.turn(vec![verified("c-1003", "Marcus Chen", "vip", "en", START)]);
    vip.say("cancel order 54250", intent("cancel_order", 0.9));
    let reasons = vip.turn(vec![action(
        "cancel_order",
        ActionOutcome::Failed,
        "order 54250 not found on this account",
        &[("found", "no")],
    )]);
    assert!(reasons.is_empty(), "{reasons:?}");
}

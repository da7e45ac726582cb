//! Turns of the demo dialogue driven with plain calls: no store, no connectors, no model. The
//! analysis of each message is written by hand, the actions answer from a closure.

use baton_dialogue::{ActionCall, ActionResult, DialogueConfig, Memory, Step, Trigger, Turn, TurnOutcome};
use baton_domain::{
    ActionOutcome, AuthState, Awaiting, ClientMessageId, ConversationId, Event, EventKind, FoundEntity, IntentGuess,
    MessageAnalysis, MessageText, SentimentReading, SlotSource, Values, VerificationMethod,
};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-03-05 10:00 UTC);

fn config() -> DialogueConfig {
    #[derive(serde::Deserialize)]
    struct File {
        dialogue: DialogueConfig,
    }
    let file: File = toml::from_str(baton_dialogue::DEMO_DIALOGUE_TOML).expect("the demo dialogue parses");
    file.dialogue
}

fn analysis(intent: Option<(&str, f32)>, entities: &[(&str, &str)]) -> MessageAnalysis {
    let guess = intent.map(|(intent, confidence)| IntentGuess {
        intent: intent.into(),
        confidence,
    });
    MessageAnalysis {
        language: "en".into(),
        language_detected: true,
        intent: guess.clone(),
        candidates: guess.into_iter().collect(),
        out_of_scope: intent.is_none(),
        entities: entities
            .iter()
            .map(|(kind, value)| FoundEntity {
                kind: (*kind).into(),
                value: (*value).into(),
                start: 0,
                end: value.len(),
            })
            .collect(),
        sentiment: SentimentReading {
            score: 0.0,
            markers: Vec::new(),
        },
        model_version: "test".into(),
    }
}

/// A conversation's log, and the memory folded from it turn by turn.
struct Log {
    events: Vec<Event>,
    memory: Memory,
}

impl Log {
    fn new() -> Self {
        Log {
            events: Vec::new(),
            memory: Memory::new(ConversationId(uuid::Uuid::from_u128(9))),
        }
    }

    fn push(&mut self, kind: EventKind) -> u64 {
        let event = Event {
            conversation_id: self.memory.conversation_id,
            seq: self.events.len() as u64 + 1,
            at: NOW,
            kind,
        };
        self.memory.apply(&event);
        self.events.push(event);
        self.events.len() as u64
    }

    /// A customer message, the bot's turn on it (actions answered by `act`), stored.
    fn turn(
        &mut self,
        config: &DialogueConfig,
        text: &str,
        analysis: MessageAnalysis,
        act: impl Fn(&ActionCall) -> ActionResult,
    ) -> TurnOutcome {
        let seq = self.push(EventKind::CustomerMessage {
            text: MessageText::parse(text).expect("text"),
            client_message_id: ClientMessageId::parse(format!("c{}", self.events.len())).expect("id"),
            hidden: Vec::new(),
        });
        let trigger = Trigger::Message {
            seq,
            text: text.into(),
            analysis,
        };
        let mut turn = Turn::begin(&self.memory, config, trigger, NOW);
        loop {
            match turn.step() {
                Step::Done => break,
                Step::Call(call) => {
                    let result = act(&call);
                    turn.action_done(call, result);
                }
                Step::Search { .. } => turn.knowledge_found(None),
            }
        }
        let outcome = turn.finish();
        for record in outcome.records.clone() {
            self.push(record);
        }
        if let Some(reply) = &outcome.reply {
            self.push(EventKind::BotMessage {
                text: MessageText::parse(reply.text.clone()).expect("reply text"),
                client_message_id: ClientMessageId::parse(format!("bot:{seq}")).expect("id"),
                suggestions: reply.suggestions.clone(),
            });
        }
        outcome
    }
}

/// `find_customer`'s answer for an address with no account.
fn no_account() -> ActionResult {
    ActionResult {
        outcome: ActionOutcome::Failed,
        summary: "no customer with that email".into(),
        values: Values::new(),
    }
}

fn ok(values: &[(&str, &str)]) -> ActionResult {
    ActionResult {
        outcome: ActionOutcome::Ok,
        summary: "ok".into(),
        values: values
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect::<Values>(),
    }
}

fn verified(log: &mut Log) {
    log.push(EventKind::SlotFilled {
        slot: "email".into(),
        value: "sarah.chen@example.com".into(),
        source: SlotSource::Profile,
        replaced: None,
    });
    log.push(EventKind::IdentityChanged {
        auth: AuthState::Verified {
            customer_id: "c-1001".into(),
            method: VerificationMethod::EmailAndOrder,
            at: NOW,
        },
        customer: None,
    });
}

fn reply(outcome: &TurnOutcome) -> &str {
    outcome.reply.as_ref().map_or("", |r| r.text.as_str())
}

#[test]
fn a_held_order_number_is_used_not_asked_for() {
    let config = config();
    let mut log = Log::new();
    verified(&mut log);
    log.push(EventKind::SlotFilled {
        slot: "order_number".into(),
        value: "54233".into(),
        source: SlotSource::Message { seq: 1 },
        replaced: None,
    });
    let outcome = log.turn(
        &config,
        "where is my order?",
        analysis(Some(("order_status", 0.9)), &[]),
        |call| {
            assert_eq!(call.action, "order_status");
            assert_eq!(call.arguments.get("order_number").map(String::as_str), Some("54233"));
            ok(&[
                ("status", "in_transit"),
                ("items", "1 × Jacket"),
                ("order_number", "54233"),
            ])
        },
    );
    assert_eq!(reply(&outcome), "Order #54233 (1 × Jacket) is on its way.");
    assert!(!outcome.records.iter().any(|r| matches!(
        r,
        EventKind::DialogueMoved {
            awaiting: Some(Awaiting::Slot { .. }),
            ..
        }
    )));
}

#[test]
fn a_correction_during_a_confirmation_replaces_the_slot_and_asks_again() {
    let config = config();
    let mut log = Log::new();
    verified(&mut log);
    let never = |call: &ActionCall| -> ActionResult {
        // Only the read-only check (is it this customer's order?) runs before the yes.
        assert_eq!(call.action, "order_status", "no change before the confirmation");
        ok(&[("items", "1 × Tent")])
    };
    let first = log.turn(
        &config,
        "cancel order 54120",
        analysis(Some(("cancel_order", 0.95)), &[("order_number", "54120")]),
        never,
    );
    assert!(reply(&first).contains("#54120"));
    let corrected = log.turn(
        &config,
        "no, it's 54261",
        analysis(Some(("order_status", 0.5)), &[("order_number", "54261")]),
        never,
    );
    assert!(reply(&corrected).contains("#54261"), "{}", reply(&corrected));
    assert!(corrected.records.iter().any(|r| matches!(
        r,
        EventKind::SlotFilled { value, replaced: Some(old), .. } if value == "54261" && old == "54120"
    )));
    let done = log.turn(&config, "yes", analysis(None, &[]), |call| {
        assert_eq!(call.action, "cancel_order");
        assert_eq!(call.arguments.get("order_number").map(String::as_str), Some("54261"));
        assert!(call.idempotency_key.is_some(), "a cancel carries an idempotency key");
        ok(&[("detail", "cancelled")])
    });
    assert!(reply(&done).contains("#54261 is cancelled"), "{}", reply(&done));
    assert_eq!(log.memory.slots["order_number"].replaced, ["54120"]);
    assert!(log.memory.slots["order_number"].confirmed);
    assert_eq!(
        log.memory.current_intent.as_ref().map(|i| i.intent.as_str()),
        Some("cancel_order"),
        "answers to a flow's questions do not change the intent served"
    );
}

#[test]
fn a_no_to_the_confirmation_does_nothing() {
    let config = config();
    let mut log = Log::new();
    verified(&mut log);
    let never = |call: &ActionCall| -> ActionResult {
        assert_eq!(call.action, "order_status", "only the read-only check runs");
        ok(&[("items", "1 × Tent")])
    };
    log.turn(
        &config,
        "cancel order 54261",
        analysis(Some(("cancel_order", 0.95)), &[("order_number", "54261")]),
        never,
    );
    let declined = log.turn(&config, "no thanks", analysis(None, &[]), never);
    assert!(reply(&declined).contains("stays as it is"), "{}", reply(&declined));
    assert_eq!(log.memory.position.flow, None);
}

#[test]
fn fallbacks_rotate_and_never_repeat_the_last_line() {
    let config = config();
    let mut log = Log::new();
    let mut last = String::new();
    for n in 0..5 {
        let outcome = log.turn(&config, "qwzx", analysis(None, &[]), |_| ok(&[]));
        let text = reply(&outcome).to_owned();
        assert_ne!(text, last, "fallback {n} repeated the previous line");
        last = text;
    }
    assert_eq!(log.memory.fallbacks.count, 5);
    assert_eq!(log.memory.fallbacks.streak, 5);
}

#[test]
fn memory_is_the_same_folded_at_once_or_event_by_event_and_twice() {
    let config = config();
    let mut log = Log::new();
    verified(&mut log);
    log.turn(
        &config,
        "I was charged twice on 54192",
        analysis(Some(("duplicate_charge", 0.99)), &[("order_number", "54192")]),
        |_| {
            ok(&[
                ("amount", "49.90 EUR"),
                ("charged_on", "2026-03-03"),
                ("charge_count", "2"),
            ])
        },
    );
    log.turn(&config, "yes", analysis(None, &[]), |_| {
        ok(&[("refund_id", "R-1"), ("amount", "49.90 EUR")])
    });
    let replayed = Memory::replay(log.memory.conversation_id, &log.events);
    assert_eq!(replayed, log.memory);
    let mut twice = replayed.clone();
    for event in &log.events {
        twice.apply(event);
    }
    assert_eq!(twice, replayed, "applying an event already folded changes nothing");
}

#[test]
fn verification_asks_for_the_email_then_the_proof_then_checks_it() {
    let config = config();
    let mut log = Log::new();
    let never = |call: &ActionCall| -> ActionResult { panic!("nothing to check yet: {call:?}") };
    let asked = log.turn(
        &config,
        "where is my order",
        analysis(Some(("order_status", 0.9)), &[]),
        never,
    );
    assert!(reply(&asked).contains("email"));
    // The address is looked up: a customer's makes the conversation claimed, nothing more.
    let asked = log.turn(
        &config,
        "sarah.chen@example.com",
        analysis(None, &[("email", "sarah.chen@example.com")]),
        |call| {
            assert_eq!(call.action, "find_customer");
            assert_eq!(call.idempotency_key, None, "a lookup changes nothing");
            ok(&[("customer_id", "c-1001")])
        },
    );
    assert!(reply(&asked).contains("last four digits"), "{}", reply(&asked));
    assert_eq!(
        log.memory.auth,
        AuthState::Claimed {
            customer_id: "c-1001".into()
        }
    );
    assert!(log.memory.customer.is_none(), "an unproven claim opens no account");
    assert!(!log.memory.is_verified());
    // Verified by the phone's digits, the customer has not said which order: the order system
    // says they have two, which the bot offers as buttons.
    let outcome = log.turn(&config, "0142", analysis(None, &[]), |call| {
        match call.action.as_str() {
            "verify_identity" => {
                assert_eq!(call.arguments.get("phone_last4").map(String::as_str), Some("0142"));
                ok(&[("customer_id", "c-1001"), ("name", "Sarah Chen"), ("tier", "standard")])
            }
            "recent_orders" => {
                assert_eq!(call.arguments.get("customer_id").map(String::as_str), Some("c-1001"));
                ok(&[("orders", "54192,53871"), ("count", "2")])
            }
            other => panic!("unexpected {other}"),
        }
    });
    assert!(reply(&outcome).contains("you're verified"));
    assert!(log.memory.is_verified());
    assert_eq!(log.memory.customer.as_ref().map(|c| c.tier.as_str()), Some("standard"));
    let offered: Vec<&str> = outcome
        .reply
        .as_ref()
        .map(|r| r.suggestions.iter().map(|s| s.text.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(offered, ["#54192", "#53871"]);
    assert_eq!(
        log.memory.position.awaiting,
        Some(Awaiting::Slot {
            slot: "order_number".into()
        })
    );
    let replayed = Memory::replay(log.memory.conversation_id, &log.events);
    assert_eq!(replayed, log.memory);
}

/// A verified customer with one order is not asked which: the order system's answer fills the
/// slot, recorded as coming from it.
#[test]
fn the_only_order_of_a_verified_customer_is_not_asked_for() {
    let config = config();
    let mut log = Log::new();
    verified(&mut log);
    let outcome = log.turn(
        &config,
        "where is my order",
        analysis(Some(("order_status", 0.95)), &[]),
        |call| match call.action.as_str() {
            "recent_orders" => ok(&[("orders", "54244"), ("count", "1")]),
            "order_status" => {
                assert_eq!(call.arguments.get("order_number").map(String::as_str), Some("54244"));
                ok(&[("order_number", "54244"), ("status", "shipped")])
            }
            other => panic!("unexpected {other}"),
        },
    );
    assert!(reply(&outcome).contains("54244"), "{}", reply(&outcome));
    let slot = log.memory.slots.get("order_number").expect("filled");
    assert_eq!(
        slot.source,
        SlotSource::Connector {
            action: "recent_orders".into()
        }
    );
    assert_eq!(Memory::replay(log.memory.conversation_id, &log.events), log.memory);
}

/// Asked which of their orders, a customer answers with a few words around the number
/// ("es el 54177"): the number is the answer, in either language.
#[test]
fn a_number_with_a_few_words_around_it_answers_the_question_asked() {
    let config = config();
    for (answer, number) in [("es el 54177", "54177"), ("it's #53871, thanks", "53871")] {
        let mut log = Log::new();
        verified(&mut log);
        let outcome = log.turn(
            &config,
            "where is my order",
            analysis(Some(("order_status", 0.95)), &[]),
            |call| match call.action.as_str() {
                "recent_orders" => ok(&[("orders", "54177,53871"), ("count", "2")]),
                other => panic!("unexpected {other}"),
            },
        );
        assert_eq!(
            log.memory.position.awaiting,
            Some(Awaiting::Slot {
                slot: "order_number".into()
            }),
            "{}",
            reply(&outcome)
        );
        let outcome = log.turn(&config, answer, analysis(None, &[]), |call| {
            match call.action.as_str() {
                "order_status" => {
                    assert_eq!(call.arguments.get("order_number").map(String::as_str), Some(number));
                    ok(&[("order_number", number), ("status", "shipped")])
                }
                other => panic!("unexpected {other}"),
            }
        });
        assert!(reply(&outcome).contains(number), "{answer}: {}", reply(&outcome));
        let slot = log.memory.slots.get("order_number").expect("filled");
        assert_eq!(slot.value, number);
        assert_eq!(Memory::replay(log.memory.conversation_id, &log.events), log.memory);
    }
}

/// An address with no account gets the same next question as one with an account (the reply
/// never tells which), stays anonymous, and is looked up once however often the bot asks.
#[test]
fn an_unknown_email_is_asked_for_proof_like_any_other_and_stays_anonymous() {
    let config = config();
    let mut log = Log::new();
    log.turn(
        &config,
        "where is my order",
        analysis(Some(("order_status", 0.9)), &[]),
        |call| panic!("nothing to check yet: {call:?}"),
    );
    let lookups = std::cell::Cell::new(0);
    let asked = log.turn(
        &config,
        "nobody@example.com",
        analysis(None, &[("email", "nobody@example.com")]),
        |call| {
            assert_eq!(call.action, "find_customer");
            lookups.set(lookups.get() + 1);
            no_account()
        },
    );
    assert!(reply(&asked).contains("last four digits"), "{}", reply(&asked));
    assert_eq!(log.memory.auth, AuthState::Anonymous);
    // Asked again, the bot asks for the proof again, without looking the address up again.
    let again = log.turn(
        &config,
        "where is my order",
        analysis(Some(("order_status", 0.9)), &[]),
        |call| panic!("looked up again: {call:?}"),
    );
    assert!(reply(&again).contains("last four digits"), "{}", reply(&again));
    assert_eq!(lookups.get(), 1);
    assert_eq!(Memory::replay(log.memory.conversation_id, &log.events), log.memory);
}

/// Whether an address has an account shows nowhere the customer can see: the same reply, and
/// the same number of events (every event the customer sees carries its sequence number).
/// A corrected address makes the claim follow the address now held.
#[test]
fn a_claim_follows_the_address_and_leaves_no_trace_the_customer_can_count() {
    let config = config();
    let lookup = |call: &ActionCall| -> ActionResult {
        assert_eq!(call.action, "find_customer");
        match call.arguments.get("email").map(String::as_str) {
            Some("sarah.chen@example.com") => ok(&[("customer_id", "c-1001")]),
            _ => no_account(),
        }
    };
    let mut seen = Vec::new();
    for email in ["sarah.chen@example.com", "nobody@example.com"] {
        let mut log = Log::new();
        log.turn(
            &config,
            "where is my order",
            analysis(Some(("order_status", 0.9)), &[]),
            lookup,
        );
        let asked = log.turn(&config, email, analysis(None, &[("email", email)]), lookup);
        seen.push((reply(&asked).to_owned(), log.events.len()));
    }
    assert_eq!(seen[0], seen[1], "an account's address and another look the same");

    // nobody (none) -> sarah (an account) -> nobody again: anonymous again, without a second lookup.
    let mut log = Log::new();
    log.turn(
        &config,
        "where is my order",
        analysis(Some(("order_status", 0.9)), &[]),
        lookup,
    );
    log.turn(
        &config,
        "nobody@example.com",
        analysis(None, &[("email", "nobody@example.com")]),
        lookup,
    );
    assert_eq!(log.memory.auth, AuthState::Anonymous);
    log.turn(
        &config,
        "sorry, it's sarah.chen@example.com",
        analysis(None, &[("email", "sarah.chen@example.com")]),
        lookup,
    );
    assert_eq!(
        log.memory.auth,
        AuthState::Claimed {
            customer_id: "c-1001".into()
        }
    );
    log.turn(
        &config,
        "no wait, nobody@example.com",
        analysis(None, &[("email", "nobody@example.com")]),
        |call| panic!("looked up again: {call:?}"),
    );
    assert_eq!(
        log.memory.auth,
        AuthState::Anonymous,
        "the claim follows the address held"
    );
    assert_eq!(Memory::replay(log.memory.conversation_id, &log.events), log.memory);
}

/// Flows that could act on an order the customer never named, act unverified, or call the
/// bot's own lookups are refused by name.
#[test]
fn the_configuration_refuses_unsafe_flows() {
    let languages = ["en", "es"];
    // The names the demo uses, read from it: the demo is valid as it is.
    let demo = config();
    let mut intents: Vec<&str> = demo.flows.iter().map(|f| f.intent.as_str()).collect();
    intents.extend(demo.replies.keys().map(String::as_str));
    let mut actions: Vec<&str> = demo
        .flows
        .iter()
        .flat_map(|f| std::iter::once(f.action.as_str()).chain(f.check.as_deref()))
        .collect();
    actions.extend(baton_dialogue::turn::INTERNAL_ACTIONS);
    config()
        .validate(&languages, &intents, &actions)
        .expect("the demo is valid");
    let cancel = |change: &dyn Fn(&mut baton_dialogue::config::FlowConfig)| {
        let mut config = config();
        let flow = config
            .flows
            .iter_mut()
            .find(|f| f.intent == "cancel_order")
            .expect("flow");
        change(flow);
        config.validate(&languages, &intents, &actions).expect_err("refused")
    };
    let unverified = cancel(&|f| f.verify = false);
    assert!(unverified.problem.contains("verify = true"), "{unverified:?}");
    let unnamed = cancel(&|f| {
        if let Some(confirm) = &mut f.confirm {
            confirm.0.insert("en".into(), "Cancel it?".into());
        }
    });
    assert!(
        unnamed.entry.ends_with(".confirm") && unnamed.problem.contains("{order_number}"),
        "{unnamed:?}"
    );
    let internal = cancel(&|f| f.check = Some("find_customer".into()));
    assert!(internal.problem.contains("find_customer"), "{internal:?}");
    // A per-account limit of 0 would refuse every proof; a window of 0 would count none.
    let mut no_guesses = config();
    no_guesses.verification.max_failures_per_account = 0;
    let refused = no_guesses
        .validate(&languages, &intents, &actions)
        .expect_err("refused");
    assert_eq!(refused.entry, "verification.max_failures_per_account");
    let mut no_window = config();
    no_window.verification.account_window_minutes = 0;
    let refused = no_window.validate(&languages, &intents, &actions).expect_err("refused");
    assert_eq!(refused.entry, "verification.account_window_minutes");
}

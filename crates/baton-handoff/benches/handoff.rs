//! The handoff's costs: the escalation check run after every customer message (target under
//! 20 µs) and building the package with its briefs for a 50-message conversation (target
//! under 1 ms). `cargo bench -p baton-handoff`.

use baton_dialogue::Memory;
use baton_domain::{
    ActionOutcome, Channel, ClientMessageId, ConversationId, Event, EventKind, HandoffId, HandoffRequester,
    IntentGuess, Language, MessageAnalysis, MessageText, Priority, SentimentReading, SlotSource,
};
use baton_handoff::{build_package, EscalationPolicy, HandoffConfig, Message, PackageInput, Snapshot, TurnStart};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use time::macros::datetime;
use time::Duration;

fn analysis(intent: &str, score: f32) -> MessageAnalysis {
    MessageAnalysis {
        language: "en".into(),
        language_detected: true,
        intent: Some(IntentGuess {
            intent: intent.into(),
            confidence: 0.8,
        }),
        candidates: Vec::new(),
        out_of_scope: false,
        entities: Vec::new(),
        sentiment: SentimentReading {
            score,
            markers: Vec::new(),
        },
        model_version: "bench".into(),
    }
}

/// A conversation of `messages` customer messages, each answered by the bot, with slots and
/// actions along the way, ending in a handoff.
fn conversation(messages: usize) -> (Vec<Event>, Memory) {
    let id = ConversationId(uuid::Uuid::from_u128(7));
    let mut at = datetime!(2026-03-05 09:00 UTC);
    let mut events: Vec<Event> = Vec::new();
    let mut push = |kind: EventKind, events: &mut Vec<Event>| {
        at += Duration::seconds(15);
        events.push(Event {
            conversation_id: id,
            seq: events.len() as u64 + 1,
            at,
            kind,
        });
    };
    push(
        EventKind::ConversationStarted {
            channel: Channel::Web,
            language: Language::parse("en").ok(),
            customer: Default::default(),
        },
        &mut events,
    );
    let intents = ["order_status", "duplicate_charge", "refund", "late_delivery"];
    for n in 0..messages {
        let text = format!("message {n} about my order 54192, which was charged twice on March 3rd");
        push(
            EventKind::CustomerMessage {
                text: MessageText::parse(text.as_str()).expect("text"),
                client_message_id: ClientMessageId::parse(format!("c{n}")).expect("id"),
                hidden: Vec::new(),
            },
            &mut events,
        );
        let seq = events.len() as u64;
        push(
            EventKind::MessageAnalyzed {
                message_seq: seq,
                analysis: analysis(intents[n % intents.len()], -0.1 * (n % 5) as f32),
            },
            &mut events,
        );
        if n % 10 == 0 {
            push(
                EventKind::SlotFilled {
                    slot: "order_number".into(),
                    value: "54192".into(),
                    source: SlotSource::Message { seq },
                    replaced: None,
                },
                &mut events,
            );
            push(
                EventKind::ActionRecorded {
                    action: "refund_eligibility".into(),
                    arguments: [("order_number".to_owned(), "54192".to_owned())].into(),
                    idempotency_key: None,
                    outcome: ActionOutcome::Ok,
                    summary: "2 charges".into(),
                    values: [("charged_on".to_owned(), "2026-03-03".to_owned())].into(),
                },
                &mut events,
            );
        }
        push(
            EventKind::BotMessage {
                text: MessageText::parse("Here is what I found about your order.").expect("text"),
                client_message_id: ClientMessageId::parse(format!("bot:{seq}")).expect("id"),
                suggestions: Vec::new(),
            },
            &mut events,
        );
    }
    let seq = events.len() as u64 + 1;
    push(
        EventKind::HandoffRequested {
            requested_by: HandoffRequester::Bot,
            handoff_id: Some(HandoffId {
                conversation_id: id,
                seq,
            }),
            reasons: Vec::new(),
            priority: Priority::High,
            reason: None,
        },
        &mut events,
    );
    let memory = Memory::replay(id, &events);
    (events, memory)
}

fn benches(c: &mut Criterion) {
    let config = HandoffConfig::demo().expect("demo config");
    let policy = EscalationPolicy::new(&config);
    let (events, memory) = conversation(50);
    let text = "I was charged twice for my order 54192 and I'd like the second charge back please";
    let message_analysis = analysis("duplicate_charge", -0.2);
    let last = memory.last_customer_seq;
    let message = Message {
        seq: last,
        text,
        analysis: &message_analysis,
        at: datetime!(2026-03-05 10:00 UTC),
    };
    c.bench_function("escalation check (before and after a turn, 50-message memory)", |b| {
        b.iter(|| {
            let early = policy.before_turn(black_box(&memory), black_box(&message));
            let late = policy.after_turn(
                black_box(&TurnStart::of(&memory)),
                black_box(&memory),
                black_box(&message),
            );
            black_box((early, late))
        })
    });
    let handoff = memory.current_handoff().expect("handoff").clone();
    let snapshot = Snapshot::default();
    c.bench_function("package with briefs (50 customer messages)", |b| {
        b.iter(|| {
            let package = build_package(
                PackageInput {
                    memory: black_box(&memory),
                    events: black_box(&events),
                    handoff: &handoff,
                    snapshot: &snapshot,
                    version: 1,
                    now: datetime!(2026-03-05 10:00 UTC),
                    wait_estimate_seconds: Some(240),
                },
                &config,
            );
            black_box(serde_json::to_vec(&package).expect("json"))
        })
    });
}

criterion_group!(handoff, benches);
criterion_main!(handoff);

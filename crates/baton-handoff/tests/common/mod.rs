//! A small harness for the handoff's pure functions: a conversation's log written event by
//! event, with memory folded as it grows, and analyses written by hand (intent, confidence,
//! sentiment), so each rule can be driven exactly.

#![allow(dead_code)]

use baton_dialogue::Memory;
use baton_domain::{
    ActionOutcome, AuthState, Channel, ClientMessageId, ConversationId, CustomerFacts, CustomerProfile, Escalation,
    Event, EventKind, FallbackKind, HandoffId, HandoffRequester, IntentGuess, Language, MessageAnalysis, MessageText,
    SentimentReading, SlotSource, Values, VerificationMethod,
};
use baton_handoff::{EscalationPolicy, HandoffConfig, Message, TurnStart};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const START: OffsetDateTime = datetime!(2026-03-05 09:30 UTC);

pub fn config() -> HandoffConfig {
    HandoffConfig::demo().expect("demo handoff configuration")
}

/// What the model made of a message.
#[derive(Debug, Clone)]
pub struct Reading {
    pub intent: Option<(&'static str, f32)>,
    pub score: f32,
    pub markers: Vec<&'static str>,
}

pub fn intent(name: &'static str, confidence: f32) -> Reading {
    Reading {
        intent: Some((name, confidence)),
        score: 0.0,
        markers: Vec::new(),
    }
}

pub fn unplaced(confidence: f32) -> Reading {
    Reading {
        intent: None,
        score: 0.0,
        markers: Vec::new(),
    }
    .confidence_hint(confidence)
}

impl Reading {
    pub fn mood(mut self, score: f32) -> Self {
        self.score = score;
        self
    }
    pub fn markers(mut self, markers: &[&'static str]) -> Self {
        self.markers = markers.to_vec();
        self
    }
    fn confidence_hint(mut self, confidence: f32) -> Self {
        self.intent = Some(("__unplaced__", confidence));
        self
    }
}

/// A conversation being written.
pub struct Script {
    pub id: ConversationId,
    pub events: Vec<Event>,
    pub memory: Memory,
    pub now: OffsetDateTime,
    pub language: &'static str,
    pub policy: EscalationPolicy,
}

impl Script {
    pub fn new(language: &'static str) -> Self {
        Self::with_profile(language, CustomerProfile::default())
    }

    pub fn with_profile(language: &'static str, customer: CustomerProfile) -> Self {
        let id = ConversationId(uuid::Uuid::from_u128(0x0193_0000_0000_7000_8000_0000_0000_0001));
        let mut script = Script {
            id,
            events: Vec::new(),
            memory: Memory::new(id),
            now: START,
            language,
            policy: EscalationPolicy::new(&config()),
        };
        script.push(EventKind::ConversationStarted {
            channel: Channel::Web,
            language: Some(Language::parse(language).expect("language")),
            customer,
        });
        script
    }

    pub fn push(&mut self, kind: EventKind) -> u64 {
        let event = Event {
            conversation_id: self.id,
            seq: self.events.len() as u64 + 1,
            at: self.now,
            kind,
        };
        self.memory.apply(&event);
        self.events.push(event);
        self.now += Duration::seconds(20);
        self.events.len() as u64
    }

    pub fn bot(&mut self, text: &str) -> u64 {
        let n = self.events.len();
        self.push(EventKind::BotMessage {
            text: MessageText::parse(text).expect("text"),
            client_message_id: ClientMessageId::parse(format!("bot:{n}")).expect("id"),
            suggestions: Vec::new(),
        })
    }

    fn analysis(&self, reading: &Reading) -> MessageAnalysis {
        let (intent, candidates) = match reading.intent {
            Some(("__unplaced__", confidence)) => (
                None,
                vec![IntentGuess {
                    intent: "product_question".into(),
                    confidence,
                }],
            ),
            Some((name, confidence)) => {
                let guess = IntentGuess {
                    intent: name.into(),
                    confidence,
                };
                (Some(guess.clone()), vec![guess])
            }
            None => (None, Vec::new()),
        };
        MessageAnalysis {
            language: self.language.into(),
            language_detected: true,
            out_of_scope: intent.is_none(),
            intent,
            candidates,
            entities: Vec::new(),
            sentiment: SentimentReading {
                score: reading.score,
                markers: reading.markers.iter().map(|m| (*m).to_owned()).collect(),
            },
            model_version: "test".into(),
        }
    }

    /// The customer says `text`; the message and its analysis are logged. Returns the
    /// reasons the policy gives before the bot acts.
    pub fn say(&mut self, text: &str, reading: Reading) -> Vec<baton_domain::EscalationReason> {
        let (seq, analysis) = self.say_quietly(text, reading);
        let message = Message {
            seq,
            text,
            analysis: &analysis,
            at: self.now,
        };
        self.policy.before_turn(&self.memory, &message)
    }

    /// Logs the message and its analysis without asking the policy.
    pub fn say_quietly(&mut self, text: &str, reading: Reading) -> (u64, MessageAnalysis) {
        let n = self.events.len();
        let seq = self.push(EventKind::CustomerMessage {
            text: MessageText::parse(text).expect("text"),
            client_message_id: ClientMessageId::parse(format!("c{n}")).expect("id"),
            hidden: MessageText::parse(text).expect("text").hidden(),
        });
        let analysis = self.analysis(&reading);
        self.push(EventKind::MessageAnalyzed {
            message_seq: seq,
            analysis: analysis.clone(),
        });
        (seq, analysis)
    }

    /// The bot's turn on the last customer message records `kinds`; returns the reasons the
    /// policy gives after it.
    pub fn turn(&mut self, kinds: Vec<EventKind>) -> Vec<baton_domain::EscalationReason> {
        let before = self.memory.clone();
        let (seq, analysis) = self.last_message();
        for kind in kinds {
            self.push(kind);
        }
        let text = self.text_of(seq);
        let message = Message {
            seq,
            text: &text,
            analysis: &analysis,
            at: self.now,
        };
        self.policy.after_turn(&TurnStart::of(&before), &self.memory, &message)
    }

    fn last_message(&self) -> (u64, MessageAnalysis) {
        self.events
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::MessageAnalyzed { message_seq, analysis } => Some((*message_seq, analysis.clone())),
                _ => None,
            })
            .expect("a customer message")
    }

    fn text_of(&self, seq: u64) -> String {
        match &self.events[seq as usize - 1].kind {
            EventKind::CustomerMessage { text, .. } => text.as_str().to_owned(),
            _ => String::new(),
        }
    }

    pub fn fallback(&self) -> EventKind {
        EventKind::Fallback {
            message_seq: self.last_message().0,
            kind: FallbackKind::OutOfScope,
        }
    }

    /// The handoff starts with `reasons` (as the runtime records it).
    pub fn hand_off(&mut self, requested_by: HandoffRequester, escalation: Escalation) -> HandoffId {
        let seq = self.events.len() as u64 + 1;
        let id = HandoffId {
            conversation_id: self.id,
            seq,
        };
        self.push(EventKind::HandoffRequested {
            requested_by,
            handoff_id: Some(id),
            reasons: escalation.reasons,
            priority: escalation.priority,
            reason: escalation.note,
        });
        id
    }
}

pub fn slot(name: &str, value: &str, seq: u64) -> EventKind {
    EventKind::SlotFilled {
        slot: name.into(),
        value: value.into(),
        source: SlotSource::Message { seq },
        replaced: None,
    }
}

pub fn action(name: &str, outcome: ActionOutcome, summary: &str, values: &[(&str, &str)]) -> EventKind {
    EventKind::ActionRecorded {
        action: name.into(),
        arguments: Values::new(),
        idempotency_key: None,
        outcome,
        summary: summary.into(),
        values: values.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

pub fn verified(customer_id: &str, name: &str, tier: &str, language: &str, at: OffsetDateTime) -> EventKind {
    EventKind::IdentityChanged {
        auth: AuthState::Verified {
            customer_id: customer_id.into(),
            method: VerificationMethod::EmailAndOrder,
            at,
        },
        customer: Some(CustomerFacts {
            customer_id: customer_id.into(),
            name: name.into(),
            tier: tier.into(),
            language: language.into(),
        }),
    }
}

pub fn failed_check(attempts: u32) -> EventKind {
    EventKind::IdentityChanged {
        auth: AuthState::Failed { attempts },
        customer: None,
    }
}

pub fn flow(name: &str) -> EventKind {
    EventKind::DialogueMoved {
        flow: Some(name.into()),
        awaiting: None,
    }
}

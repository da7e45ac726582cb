//! The handoff as the log records it: its id, why it happened (each reason with the messages
//! that show it) and how urgent it is. Deciding *whether* to escalate and building the context
//! package are `baton-handoff`'s pure functions; this module only holds the facts they record.

use crate::ids::ConversationId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One handoff: the conversation and the sequence number of its `handoff_requested` event.
/// Written `{conversation id}.{seq}`, so any event that names it can be found without an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandoffId {
    pub conversation_id: ConversationId,
    pub seq: u64,
}

impl fmt::Display for HandoffId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.conversation_id, self.seq)
    }
}

/// Why a string is not a handoff id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a handoff id (a conversation id, a dot and a sequence number)")]
pub struct BadHandoffId(pub String);

impl FromStr for HandoffId {
    type Err = BadHandoffId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadHandoffId(s.chars().take(80).collect());
        let (conversation, seq) = s.rsplit_once('.').ok_or_else(bad)?;
        let conversation_id = ConversationId(conversation.parse().map_err(|_| bad())?);
        let seq: u64 = seq.parse().map_err(|_| bad())?;
        if seq == 0 || seq.to_string() != seq_text(s) {
            return Err(bad());
        }
        Ok(HandoffId { conversation_id, seq })
    }
}

fn seq_text(s: &str) -> &str {
    s.rsplit_once('.').map_or("", |(_, seq)| seq)
}

impl Serialize for HandoffId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HandoffId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for HandoffId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A handoff: the conversation id and the sequence number of its handoff_requested event, joined by a dot.",
            ))
            .pattern(Some(r"^[0-9a-fA-F-]{36}\.[1-9][0-9]*$"))
            .into()
    }
}
impl utoipa::ToSchema for HandoffId {}

/// The rule that asked for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalationKind {
    /// The customer asked for a person (in words, or with the handoff button).
    Explicit,
    /// The bot could not place several messages in a short time.
    RepeatedFallback,
    /// Several messages in a row understood only with low confidence.
    LowConfidence,
    /// The customer is getting upset (a drop to negative, a falling trend, shouting).
    SentimentDrop,
    /// A high-value account had a problem the bot did not solve at once.
    HighValueAccount,
    /// An action on the shop's systems failed (a refund that did not go through).
    FailedAction,
    /// The customer could not prove who they are.
    FailedVerification,
    /// Legal threats, fraud, chargebacks, data-protection requests: a person must answer.
    Compliance,
    /// An intent the bot must never serve alone (account cancellation, a payment dispute).
    HumanOnlyIntent,
    /// The same request again and again: the bot is going round in circles.
    Loop,
}

impl EscalationKind {
    /// The snake-case name used in configuration and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationKind::Explicit => "explicit",
            EscalationKind::RepeatedFallback => "repeated_fallback",
            EscalationKind::LowConfidence => "low_confidence",
            EscalationKind::SentimentDrop => "sentiment_drop",
            EscalationKind::HighValueAccount => "high_value_account",
            EscalationKind::FailedAction => "failed_action",
            EscalationKind::FailedVerification => "failed_verification",
            EscalationKind::Compliance => "compliance",
            EscalationKind::HumanOnlyIntent => "human_only_intent",
            EscalationKind::Loop => "loop",
        }
    }
}

/// One reason a handoff happened, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EscalationReason {
    pub kind: EscalationKind,
    /// What exactly fired, in words ("2 messages the bot could not place in 10 minutes",
    /// "legal threat: \"lawyer\"").
    pub detail: String,
    /// Sequence numbers of the events that show it: the customer's messages, the failed action.
    pub evidence: Vec<u64>,
}

/// How soon a person should answer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

/// A request for a person: why, and how urgent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Escalation {
    pub reasons: Vec<EscalationReason>,
    pub priority: Priority,
    /// The customer's own words, when they gave a reason with the handoff button.
    pub note: Option<String>,
}

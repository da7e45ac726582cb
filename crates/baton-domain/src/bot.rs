//! What the bot records about its own work: the analysis of each customer message, each slot
//! it filled or corrected, each action it called on a connector and how that went, each
//! article it showed, where the dialogue stands, and who the customer turned out to be.
//!
//! These are payloads of [`crate::EventKind`] variants, so they are facts in the log like
//! every message. The dialogue's memory is a fold over them; nothing the bot relies on is
//! kept anywhere else. This module only defines their shapes: deciding what to record is the
//! dialogue's job, calling connectors the runtime's.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// An intent and how sure the model was of it (0 to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntentGuess {
    pub intent: String,
    pub confidence: f32,
}

/// A fact found in a customer message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FoundEntity {
    /// `order_number`, `email`, `phone`, `money`, `date`, or a lookup list's name.
    pub kind: String,
    /// Normalized value (lower-case email, E.164 phone, ISO date, ...).
    pub value: String,
    /// Character offsets into the message: `[start, end)`.
    pub start: usize,
    pub end: usize,
}

/// The sentiment of one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SentimentReading {
    /// From -1 (most negative) to 1 (most positive).
    pub score: f32,
    /// Frustration markers: `all_caps`, `repeated_punctuation`, `asks_for_human`,
    /// `exasperation`, `profanity`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markers: Vec<String>,
}

/// What Baton understood of one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageAnalysis {
    /// The language the message was read in (ISO 639-1).
    pub language: String,
    /// False when the conversation's language was kept for lack of evidence.
    pub language_detected: bool,
    /// The intent acted on; absent when the message is out of scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<IntentGuess>,
    /// The model's best guess, even when out of scope, and the runner-up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<IntentGuess>,
    pub out_of_scope: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<FoundEntity>,
    pub sentiment: SentimentReading,
    /// Which model produced this (a digest of the NLU configuration).
    pub model_version: String,
}

/// Where a slot's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum SlotSource {
    /// A customer message (its `seq`).
    Message { seq: u64 },
    /// The profile the customer gave when the conversation started.
    Profile,
    /// The answer of a connector action.
    Connector { action: String },
}

/// How an action on a connector ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionOutcome {
    /// It did what was asked.
    Ok,
    /// The shop's system answered and said no (not eligible, workflow failed, ...).
    Failed,
    /// The system could not be reached or answered nonsense (timeout, 5xx, circuit open).
    Error,
}

/// How the customer proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    EmailAndOrder,
    EmailAndPhone,
}

/// Who the customer is, as far as Baton knows. One enum: a customer cannot be both verified
/// and failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AuthState {
    /// Nothing said about who they are.
    Anonymous,
    /// They said who they are (an email matching a customer), not yet proven.
    Claimed { customer_id: String },
    Verified {
        customer_id: String,
        method: VerificationMethod,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Proof did not match, `attempts` times in a row.
    Failed { attempts: u32 },
}

/// What the customer directory says about the customer; only what the conversation needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerFacts {
    pub customer_id: String,
    pub name: String,
    /// `standard`, `plus`, `vip`.
    pub tier: String,
    pub language: String,
}

/// What the bot waits for from the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Awaiting {
    /// The value of a slot of the active flow.
    Slot { slot: String },
    /// A yes or no before the flow's action runs.
    Confirmation { action: String },
    /// Whether the article just shown helped.
    Feedback { article_id: String },
}

/// A quick reply a client may show as a button; `text` is what it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub label: String,
    pub text: String,
}

/// Why the bot could not act on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FallbackKind {
    /// The message matches nothing the shop handles.
    OutOfScope,
    /// The model was unsure between intents.
    LowConfidence,
}

/// The values an action was called with, or returned: small string maps, sorted by key.
pub type Values = BTreeMap<String, String>;

//! Events: the append-only record of everything that happened in a conversation. Each event
//! has a per-conversation sequence number that increases by exactly one, the server time at
//! which it was recorded, and a tagged JSON form (`"type": "customer_message"`, ...).
//!
//! Events are facts: once stored they are never updated or deleted, and replaying them in
//! order rebuilds the conversation's state ([`crate::ConversationState::replay`]).

use crate::conversation::PhaseName;
use crate::ids::{AgentId, ConversationId};
use crate::text::{Channel, ClientMessageId, CustomerProfile, Language, MessageText};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One stored event of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub conversation_id: ConversationId,
    /// 1 for the first event of a conversation, then +1 for each event after it.
    pub seq: u64,
    /// Server time at which the event was recorded (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The client message id this event answers for, if it is a message.
    pub fn client_message_id(&self) -> Option<&ClientMessageId> {
        self.kind.client_message_id()
    }
}

/// Who asked for a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffRequester {
    Customer,
    Bot,
}

/// What happened. Serialized with a `type` tag in snake case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Always the first event (seq 1): where and in which language the customer arrived.
    ConversationStarted {
        channel: Channel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<Language>,
        #[serde(default)]
        customer: CustomerProfile,
    },
    CustomerMessage {
        text: MessageText,
        client_message_id: ClientMessageId,
    },
    BotMessage {
        text: MessageText,
        client_message_id: ClientMessageId,
    },
    AgentMessage {
        agent_id: AgentId,
        text: MessageText,
        client_message_id: ClientMessageId,
    },
    /// A note from Baton itself (narration, markers); never typed by a person.
    SystemNote {
        text: MessageText,
    },
    /// Someone asked for a human; `reason` says why in words.
    HandoffRequested {
        requested_by: HandoffRequester,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An agent now owns the conversation.
    Assigned {
        agent_id: AgentId,
    },
    PhaseChanged {
        from: PhaseName,
        to: PhaseName,
    },
}

impl EventKind {
    pub fn client_message_id(&self) -> Option<&ClientMessageId> {
        match self {
            EventKind::CustomerMessage { client_message_id, .. }
            | EventKind::BotMessage { client_message_id, .. }
            | EventKind::AgentMessage { client_message_id, .. } => Some(client_message_id),
            _ => None,
        }
    }

    /// The snake-case name used as the JSON `type` tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ConversationStarted { .. } => "conversation_started",
            EventKind::CustomerMessage { .. } => "customer_message",
            EventKind::BotMessage { .. } => "bot_message",
            EventKind::AgentMessage { .. } => "agent_message",
            EventKind::SystemNote { .. } => "system_note",
            EventKind::HandoffRequested { .. } => "handoff_requested",
            EventKind::Assigned { .. } => "assigned",
            EventKind::PhaseChanged { .. } => "phase_changed",
        }
    }
}

//! Events: the append-only record of everything that happened in a conversation. Each event
//! has a per-conversation sequence number that increases by exactly one, the server time at
//! which it was recorded, and a tagged JSON form (`"type": "customer_message"`, ...).
//!
//! Events are facts: once stored they are never updated or deleted, and replaying them in
//! order rebuilds the conversation's state ([`crate::ConversationState::replay`]).

use crate::bot::{
    ActionOutcome, AuthState, Awaiting, CustomerFacts, FallbackKind, MessageAnalysis, SlotSource, Suggestion, Values,
};
use crate::conversation::PhaseName;
use crate::handoff::{EscalationReason, HandoffId, Priority};
use crate::ids::{AgentId, ConversationId};
use crate::masking::SecretKind;
use crate::routing::{FollowUp, OfferOutcome, TransferTarget};
use crate::text::{Channel, ClientMessageId, CustomerProfile, Language, MessageText};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One stored event of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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

    /// The event as the customer's own client is shown it: `None` for the bot's internal
    /// records and the context package; a handoff without its internal triage (the reasons,
    /// which name action outcomes, the account tier and mood scores, and the priority).
    pub fn customer_view(&self) -> Option<std::borrow::Cow<'_, Event>> {
        if !self.kind.is_customer_visible() {
            return None;
        }
        match &self.kind {
            EventKind::HandoffRequested {
                requested_by,
                handoff_id,
                reason,
                ..
            } => Some(std::borrow::Cow::Owned(Event {
                kind: EventKind::HandoffRequested {
                    requested_by: *requested_by,
                    handoff_id: *handoff_id,
                    reasons: Vec::new(),
                    priority: Priority::Normal,
                    reason: reason.clone(),
                },
                ..self.clone()
            })),
            _ => Some(std::borrow::Cow::Borrowed(self)),
        }
    }

    /// The handoff this event starts or belongs to.
    pub fn handoff_id(&self) -> Option<HandoffId> {
        match &self.kind {
            EventKind::HandoffRequested { handoff_id, .. } => Some(handoff_id.unwrap_or(HandoffId {
                conversation_id: self.conversation_id,
                seq: self.seq,
            })),
            EventKind::HandoffPackaged { handoff_id, .. } => Some(*handoff_id),
            _ => None,
        }
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
        /// The kinds of secret hidden in `text` (a card number, a code...): the customer gave
        /// one, and its value was never stored.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hidden: Vec<SecretKind>,
    },
    BotMessage {
        text: MessageText,
        client_message_id: ClientMessageId,
        /// Quick replies a client may show as buttons.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        suggestions: Vec<Suggestion>,
    },
    AgentMessage {
        agent_id: AgentId,
        text: MessageText,
        client_message_id: ClientMessageId,
    },
    /// A note from Baton itself (narration, markers); never typed by a person. It may carry
    /// quick replies (the callback offer's buttons).
    SystemNote {
        text: MessageText,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        suggestions: Vec<Suggestion>,
    },
    /// Someone asked for a human: the handoff starts. `reasons` say why, each with the
    /// messages that show it; `reason` is the customer's own words, when they gave some.
    HandoffRequested {
        requested_by: HandoffRequester,
        /// This handoff (`{conversation}.{seq of this event}`); absent only in logs written
        /// before handoffs had ids, where [`Event::handoff_id`] derives the same value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handoff_id: Option<HandoffId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reasons: Vec<EscalationReason>,
        #[serde(default)]
        priority: Priority,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A version of a handoff's context package: what the agent is given. Each later update
    /// is a new version; the package an agent saw can be shown again exactly. Agents only.
    HandoffPackaged {
        handoff_id: HandoffId,
        version: u32,
        /// The package as published (`GET /api/v1/schemas/context-package.json`).
        #[schema(value_type = Object)]
        package: serde_json::Value,
    },
    /// An agent now owns the conversation.
    Assigned {
        agent_id: AgentId,
        /// Milliseconds from the start of the wait (the handoff, or the transfer) to this
        /// accept; absent where the wait's start is unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waited_ms: Option<u64>,
    },
    PhaseChanged {
        from: PhaseName,
        to: PhaseName,
    },
    /// What Baton understood of the customer message `message_seq`.
    MessageAnalyzed {
        message_seq: u64,
        analysis: MessageAnalysis,
    },
    /// The bot could not act on the customer message `message_seq`.
    Fallback {
        message_seq: u64,
        kind: FallbackKind,
    },
    /// A slot of the dialogue got a value; `replaced` holds the value it corrected.
    SlotFilled {
        slot: String,
        value: String,
        source: SlotSource,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaced: Option<String>,
    },
    /// The customer confirmed these slots' values (answering the bot's confirmation).
    SlotsConfirmed {
        slots: Vec<String>,
    },
    /// The bot called an action on a connector.
    ActionRecorded {
        action: String,
        #[serde(default, skip_serializing_if = "Values::is_empty")]
        arguments: Values,
        /// Sent with actions that change something, so a retry never does it twice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
        outcome: ActionOutcome,
        /// One line saying what happened.
        summary: String,
        /// What the action answered, for the bot's replies and the agent.
        #[serde(default, skip_serializing_if = "Values::is_empty")]
        values: Values,
    },
    /// The bot answered with a knowledge-base article.
    ArticleShown {
        article_id: String,
        title: String,
        language: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// The customer said whether the article helped.
    ArticleFeedback {
        article_id: String,
        helped: bool,
    },
    /// Who the customer is, as far as Baton knows, changed.
    IdentityChanged {
        auth: AuthState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<CustomerFacts>,
    },
    /// Routing placed the waiting handoff in a queue (again, when the estimate changed).
    /// Agents only.
    HandoffQueued {
        handoff_id: HandoffId,
        queue: String,
        /// The priority it waits with: the escalation's, raised by tier and mood.
        priority: Priority,
        /// 1 for the next to be served among those the same agents serve.
        position: u32,
        /// Seconds until an agent takes it; absent when nobody on duty can serve it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_estimate_seconds: Option<u64>,
    },
    /// The handoff was offered to one agent, who may accept until `expires_at`. Agents only.
    OfferMade {
        handoff_id: HandoffId,
        agent_id: AgentId,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: OffsetDateTime,
        /// Milliseconds from the start of the wait to this offer.
        after_ms: u64,
    },
    /// An offer ended without an accept. Agents only.
    OfferEnded {
        handoff_id: HandoffId,
        agent_id: AgentId,
        outcome: OfferOutcome,
    },
    /// A ticket carries the case (with its context package) to the team. Agents only.
    TicketOpened {
        handoff_id: HandoffId,
        ticket_id: String,
        reason: FollowUp,
    },
    /// The owning agent passed the conversation to a queue or an agent; it waits again.
    /// Agents only.
    Transferred {
        handoff_id: HandoffId,
        from_agent: AgentId,
        /// Their name when they transferred, for the next agent's brief.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_name: Option<String>,
        target: TransferTarget,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The agent ended the human stretch and gave the conversation back to the bot, with a
    /// note for it and the next agent. Agents only.
    HandedBack {
        agent_id: AgentId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// The dialogue's position: the flow under way and what the bot waits for.
    DialogueMoved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        flow: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        awaiting: Option<Awaiting>,
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
            EventKind::HandoffPackaged { .. } => "handoff_packaged",
            EventKind::Assigned { .. } => "assigned",
            EventKind::PhaseChanged { .. } => "phase_changed",
            EventKind::MessageAnalyzed { .. } => "message_analyzed",
            EventKind::Fallback { .. } => "fallback",
            EventKind::SlotFilled { .. } => "slot_filled",
            EventKind::SlotsConfirmed { .. } => "slots_confirmed",
            EventKind::ActionRecorded { .. } => "action_recorded",
            EventKind::ArticleShown { .. } => "article_shown",
            EventKind::ArticleFeedback { .. } => "article_feedback",
            EventKind::IdentityChanged { .. } => "identity_changed",
            EventKind::DialogueMoved { .. } => "dialogue_moved",
            EventKind::HandoffQueued { .. } => "handoff_queued",
            EventKind::OfferMade { .. } => "offer_made",
            EventKind::OfferEnded { .. } => "offer_ended",
            EventKind::TicketOpened { .. } => "ticket_opened",
            EventKind::Transferred { .. } => "transferred",
            EventKind::HandedBack { .. } => "handed_back",
        }
    }

    /// What the customer's own client is shown: the conversation itself (messages, notes,
    /// handoff and phase), not the bot's internal records (analysis, identity, actions).
    pub fn is_customer_visible(&self) -> bool {
        !self.is_bot_record()
            && !self.is_routing_record()
            && !matches!(
                self,
                EventKind::HandoffPackaged { .. } | EventKind::Transferred { .. } | EventKind::HandedBack { .. }
            )
    }

    /// True for routing's own records (queue placement, offers, tickets): what
    /// [`crate::Command::RecordRouting`] may write.
    pub fn is_routing_record(&self) -> bool {
        matches!(
            self,
            EventKind::HandoffQueued { .. }
                | EventKind::OfferMade { .. }
                | EventKind::OfferEnded { .. }
                | EventKind::TicketOpened { .. }
        )
    }

    /// True for the records of the bot's own work (analysis, slots, actions, articles,
    /// identity, dialogue position): what [`crate::Command::RecordBotTurn`] may write.
    pub fn is_bot_record(&self) -> bool {
        matches!(
            self,
            EventKind::MessageAnalyzed { .. }
                | EventKind::Fallback { .. }
                | EventKind::SlotFilled { .. }
                | EventKind::SlotsConfirmed { .. }
                | EventKind::ActionRecorded { .. }
                | EventKind::ArticleShown { .. }
                | EventKind::ArticleFeedback { .. }
                | EventKind::IdentityChanged { .. }
                | EventKind::DialogueMoved { .. }
        )
    }
}

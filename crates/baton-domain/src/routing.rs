//! Routing as the log records it: where a waiting handoff was queued and with what estimate,
//! each offer to an agent and how it ended, tickets that carry a case nobody could take,
//! transfers between agents and queues. Deciding *who* is `baton-routing`'s pure work; this
//! module only holds the facts it records.

use crate::ids::AgentId;
use serde::{Deserialize, Serialize};

/// How an offer ended without being accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfferOutcome {
    /// The agent said no.
    Declined,
    /// The agent did not answer in time.
    Expired,
    /// Taken back: the agent went away, or someone else took the conversation.
    Withdrawn,
}

/// Why a ticket carries the case instead of a live agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUp {
    /// The queue is closed.
    AfterHours,
    /// Nobody on duty can serve it.
    NobodyAvailable,
    /// The customer asked to be called back instead of waiting.
    Callback,
    /// The customer asked for an email instead of waiting.
    Email,
}

/// Where an agent passed a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TransferTarget {
    /// Back into the queue of another team.
    Queue { queue: String },
    /// To one named agent.
    Agent { agent_id: AgentId },
}

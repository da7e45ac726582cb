//! Routing on the wire: an agent's presence, the team's availability, declining an offer,
//! and transferring a conversation to a queue or an agent. Offers themselves reach agents on
//! their stream (`offer` frames); accepting one is `POST .../accept`.

use super::conversations::load;
use super::CommandResult;
use crate::auth::AgentCaller;
use crate::extract::{ApiJson, ConversationPath};
use crate::problem::documented::{AgentCommandProblems, AgentProblems, BodyProblems};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use baton_domain::{AgentId, Command, ConversationId, EventKind, HandoffId, TransferTarget};
use baton_runtime::router::{AgentRef, AgentStatus, Router, SeatError};
use baton_store::Agent;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Takes offers.
    Online,
    /// Keeps their conversations, takes no offers.
    Away,
    Offline,
}

impl From<PresenceStatus> for baton_routing::Presence {
    fn from(p: PresenceStatus) -> Self {
        match p {
            PresenceStatus::Online => baton_routing::Presence::Online,
            PresenceStatus::Away => baton_routing::Presence::Away,
            PresenceStatus::Offline => baton_routing::Presence::Offline,
        }
    }
}

impl From<baton_routing::Presence> for PresenceStatus {
    fn from(p: baton_routing::Presence) -> Self {
        match p {
            baton_routing::Presence::Online => PresenceStatus::Online,
            baton_routing::Presence::Away => PresenceStatus::Away,
            baton_routing::Presence::Offline => PresenceStatus::Offline,
        }
    }
}

/// Set your presence.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    pub status: PresenceStatus,
}

/// An agent's availability and load, as routing sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentAvailability {
    pub agent_id: AgentId,
    pub display_name: String,
    pub presence: PresenceStatus,
    /// Conversations they serve now, and at most.
    pub serving: u32,
    pub capacity: u32,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Conversations offered to them and not yet answered.
    pub offers: Vec<ConversationId>,
}

impl From<AgentStatus> for AgentAvailability {
    fn from(s: AgentStatus) -> Self {
        AgentAvailability {
            agent_id: s.agent_id,
            display_name: s.display_name,
            presence: s.presence.into(),
            serving: s.serving,
            capacity: s.capacity,
            skills: s.skills,
            languages: s.languages,
            team: s.team,
            offers: s.offers,
        }
    }
}

/// The agents this server knows, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamAvailability {
    pub agents: Vec<AgentAvailability>,
}

/// Where to pass a conversation: a queue or an agent (exactly one), with a note for them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// A queue's name (`billing`, `orders`...).
    #[schema(max_length = 100)]
    pub queue: Option<String>,
    pub agent_id: Option<AgentId>,
    /// For the next agent: why, and what is left to do.
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

/// A note for the bot (and the next agent) when handing back.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandBackRequest {
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

pub(crate) fn agent_ref(agent: &Agent) -> AgentRef {
    AgentRef {
        id: agent.id,
        email: agent.email.clone(),
        display_name: agent.display_name.clone(),
    }
}

pub(crate) fn router(state: &AppState) -> Result<&Arc<Router>, ApiError> {
    state.router.as_ref().ok_or_else(|| {
        ApiError::conflict(
            "routing-off",
            "routing is not configured on this server (no [routing] section)",
        )
    })
}

impl From<SeatError> for ApiError {
    fn from(e: SeatError) -> Self {
        match e {
            SeatError::NoOffer => ApiError::conflict("no-offer", e.to_string()),
            SeatError::Store(e) => e.into(),
        }
    }
}

/// A note from an agent: trimmed, bounded, secrets hidden; `None` when blank.
pub(crate) fn agent_note(note: Option<String>) -> Result<Option<String>, ApiError> {
    match note.map(|n| n.trim().to_owned()) {
        Some(n) if n.chars().count() > 1000 => {
            Err(ApiError::invalid_field("note", "`note` is longer than 1000 characters"))
        }
        Some(n) if n.is_empty() => Ok(None),
        Some(n) => Ok(Some(baton_domain::masking::mask_secrets(&n).text)),
        None => Ok(None),
    }
}

/// Set your presence: online (you get offers), away (you keep your conversations, no new
/// offers) or offline. Going away or offline withdraws the offers you hold.
#[utoipa::path(post, path = "/api/v1/agents/me/presence", tag = "agents",
    request_body = SetPresence,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your availability now", body = AgentAvailability),
        BodyProblems,
        AgentProblems,
        (status = 409, description = "Routing is not configured", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_presence(
    State(state): State<AppState>,
    AgentCaller(agent): AgentCaller,
    ApiJson(body): ApiJson<SetPresence>,
) -> Result<Json<AgentAvailability>, ApiError> {
    let status = router(&state)?
        .set_presence(&agent_ref(&agent), body.status.into())
        .await?;
    Ok(Json(status.into()))
}

/// The team's availability: presence, load and capacity of every agent this server has seen,
/// and of everyone on duty on the instances sharing its database.
#[utoipa::path(get, path = "/api/v1/agents/presence", tag = "agents",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every agent's availability", body = TeamAvailability),
        AgentProblems,
        (status = 409, description = "Routing is not configured", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn team(
    State(state): State<AppState>,
    AgentCaller(agent): AgentCaller,
) -> Result<Json<TeamAvailability>, ApiError> {
    let router = router(&state)?;
    // The caller is known to routing from now on, even before they go online.
    router.status(&agent_ref(&agent)).await?;
    Ok(Json(TeamAvailability {
        agents: router.team_status().into_iter().map(Into::into).collect(),
    }))
}

/// Decline the offer of this conversation: it moves on to the next eligible agent.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/decline", tag = "agents",
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Declined"),
        AgentCommandProblems,
        (status = 409, description = "No offer of it to you, or routing is not configured", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn decline(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    AgentCaller(agent): AgentCaller,
) -> Result<StatusCode, ApiError> {
    load(&state, id).await?;
    router(&state)?.decline(agent.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The conversation's newest handoff.
async fn current_handoff(state: &AppState, id: ConversationId) -> Result<HandoffId, ApiError> {
    let events = baton_runtime::events_of(&*state.store, id).await?;
    events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::HandoffRequested { .. }))
        .and_then(|e| e.handoff_id())
        .ok_or_else(|| ApiError::conflict("no-handoff", "this conversation was never handed to a person"))
}

/// Pass a conversation you own to a queue or to an agent, with a note: it waits again, its
/// context package gets a new version with the transfer and the note, and the customer is
/// told where they are going.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfer", tag = "agents",
    params(("id" = String, Path, description = "Conversation id")),
    request_body = TransferRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Transferred: the conversation waits for its next agent", body = CommandResult),
        BodyProblems,
        AgentCommandProblems,
        (status = 409, description = "You do not own this conversation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn transfer(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    AgentCaller(agent): AgentCaller,
    ApiJson(body): ApiJson<TransferRequest>,
) -> Result<Json<CommandResult>, ApiError> {
    load(&state, id).await?;
    let note = agent_note(body.note)?;
    let (target, target_name) = match (body.queue, body.agent_id) {
        (Some(queue), None) => {
            let queue = queue.trim().to_owned();
            let known = match (&state.router, &state.bot) {
                (Some(router), _) => router.routing().queue(&queue).is_some(),
                (None, Some(bot)) => bot.handoff_config().queue(&queue).is_some(),
                (None, None) => false,
            };
            if !known {
                return Err(ApiError::invalid_field(
                    "queue",
                    "`queue` is not one of the configured queues",
                ));
            }
            (TransferTarget::Queue { queue }, None)
        }
        (None, Some(agent_id)) => {
            if agent_id == agent.id {
                return Err(ApiError::invalid_field(
                    "agent_id",
                    "you cannot transfer a conversation to yourself",
                ));
            }
            let target = state
                .store
                .agent(agent_id)
                .await?
                .ok_or_else(|| ApiError::invalid_field("agent_id", "no agent has this id"))?;
            (TransferTarget::Agent { agent_id }, Some(target.display_name))
        }
        _ => return Err(ApiError::invalid_body("give exactly one of `queue` and `agent_id`")),
    };
    let handoff_id = current_handoff(&state, id).await?;
    let executed = state
        .execute(
            id,
            Command::Transfer {
                agent_id: agent.id,
                agent_name: Some(agent.display_name.clone()),
                handoff_id,
                target: target.clone(),
                note,
            },
        )
        .await?;
    if let Some(router) = &state.router {
        router.transferred(id, &target, target_name).await;
    }
    Ok(Json(CommandResult {
        conversation: executed.conversation.into(),
        events: executed.events,
    }))
}

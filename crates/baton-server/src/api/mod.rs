//! Routes under `/api/v1` and the JSON shapes they exchange. Handlers translate between the
//! wire and domain commands; they hold no rules of their own.

pub mod agents;
pub mod conversations;
pub mod health;

use crate::AppState;
use axum::routing::{get, post};
use axum::Router;
use baton_domain::{AgentId, Channel, ConversationId, CustomerProfile, Event, Language, PhaseName};
use baton_store::{Agent, ConversationRecord};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Every route of the server.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/v1/openapi.json", get(health::openapi_json))
        .route("/api/v1/conversations", post(conversations::create))
        .route("/api/v1/conversations/{id}", get(conversations::get_one))
        .route("/api/v1/conversations/{id}/messages", post(conversations::post_message))
        .route("/api/v1/conversations/{id}/events", get(conversations::list_events))
        .route("/api/v1/conversations/{id}/memory", get(conversations::memory))
        .route("/api/v1/conversations/{id}/ws", get(crate::ws::conversation_stream))
        .route(
            "/api/v1/conversations/{id}/handoff-request",
            post(conversations::request_handoff),
        )
        .route("/api/v1/conversations/{id}/accept", post(conversations::accept))
        .route("/api/v1/conversations/{id}/hand-back", post(conversations::hand_back))
        .route("/api/v1/conversations/{id}/resolve", post(conversations::resolve))
        .route("/api/v1/agents/login", post(agents::login))
        .route("/api/v1/agents/logout", post(agents::logout))
        .route("/api/v1/agents/me", get(agents::me))
        .route("/api/v1/agents/me/conversations", get(agents::my_conversations))
        .route("/api/v1/queue", get(agents::queue))
        .route("/api/v1/agents/ws", get(crate::ws::agent_stream))
        .fallback(|| async { crate::problem::ApiError::not_found("no such endpoint") })
}

/// A conversation as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationView {
    pub conversation_id: ConversationId,
    pub phase: PhaseName,
    /// The agent who owns the conversation while `phase` is `with_agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Sequence number of the newest event.
    pub last_seq: u64,
    pub channel: Channel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    pub customer: CustomerProfile,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the current wait for an agent began.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub waiting_since: Option<OffsetDateTime>,
}

impl From<ConversationRecord> for ConversationView {
    fn from(r: ConversationRecord) -> Self {
        Self {
            conversation_id: r.id,
            phase: r.phase.name(),
            agent_id: r.phase.agent_id(),
            last_seq: r.last_seq,
            channel: r.channel,
            language: r.language,
            customer: r.customer,
            created_at: r.created_at,
            updated_at: r.updated_at,
            waiting_since: r.waiting_since,
        }
    }
}

/// The result of a command: the conversation after it and the events it recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommandResult {
    pub conversation: ConversationView,
    /// Events recorded by this command, oldest first; empty when nothing changed.
    pub events: Vec<Event>,
}

/// A support-side person as clients see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentView {
    pub agent_id: AgentId,
    pub email: String,
    pub display_name: String,
    /// `agent`, `supervisor` or `admin`.
    pub role: String,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        Self {
            agent_id: a.id,
            email: a.email,
            display_name: a.display_name,
            role: a.role.as_str().to_owned(),
        }
    }
}

//! Routes under `/api/v1` and the JSON shapes they exchange. Handlers translate between the
//! wire and domain commands; they hold no rules of their own.

pub mod agents;
pub mod conversations;
pub mod handoffs;
pub mod health;
pub mod routing;

use crate::AppState;
use axum::handler::Handler;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use baton_domain::{AgentId, Channel, ConversationId, CustomerProfile, Event, Language, PhaseName};
use baton_store::{Agent, ConversationRecord};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Every route of the server.
pub fn routes() -> Router<AppState> {
    table()
        .router
        .fallback(|| async { crate::problem::ApiError::not_found("no such endpoint") })
}

/// Every route the router answers, as `(method, path, kind)`, read off the same table that
/// builds the router: the access matrix and the OpenAPI test check against this, so a route
/// cannot be added without being documented and given a row.
pub fn route_list() -> Vec<(&'static str, &'static str, RouteKind)> {
    table().routes
}

/// Whether a route is plain HTTP (in the OpenAPI document) or a WebSocket stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Http,
    Stream,
}

/// The router and the list of its routes, built by the same calls.
struct Table {
    router: Router<AppState>,
    routes: Vec<(&'static str, &'static str, RouteKind)>,
}

impl Table {
    fn add(mut self, method: &'static str, path: &'static str, kind: RouteKind, route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.routes.push((method, path, kind));
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, RouteKind::Http, get(handler))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("POST", path, RouteKind::Http, post(handler))
    }

    fn stream<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, RouteKind::Stream, get(handler))
    }
}

fn table() -> Table {
    Table {
        router: Router::new(),
        routes: Vec::new(),
    }
    .get("/healthz", health::healthz)
    .get("/api/v1/openapi.json", health::openapi_json)
    .post("/api/v1/conversations", conversations::create)
    .get("/api/v1/conversations/{id}", conversations::get_one)
    .post("/api/v1/conversations/{id}/messages", conversations::post_message)
    .get("/api/v1/conversations/{id}/events", conversations::list_events)
    .get("/api/v1/conversations/{id}/memory", conversations::memory)
    .get("/api/v1/conversations/{id}/handoffs", handoffs::list)
    .get("/api/v1/handoffs/{handoff_id}", handoffs::get_one)
    .get("/api/v1/schemas/context-package.json", handoffs::package_schema)
    .stream("/api/v1/conversations/{id}/ws", crate::ws::conversation_stream)
    .post(
        "/api/v1/conversations/{id}/handoff-request",
        conversations::request_handoff,
    )
    .post("/api/v1/conversations/{id}/accept", conversations::accept)
    .post("/api/v1/conversations/{id}/decline", routing::decline)
    .post("/api/v1/conversations/{id}/transfer", routing::transfer)
    .post("/api/v1/conversations/{id}/hand-back", conversations::hand_back)
    .post("/api/v1/conversations/{id}/resolve", conversations::resolve)
    .post("/api/v1/agents/login", agents::login)
    .post("/api/v1/agents/logout", agents::logout)
    .get("/api/v1/agents/me", agents::me)
    .get("/api/v1/agents/me/conversations", agents::my_conversations)
    .post("/api/v1/agents/me/presence", routing::set_presence)
    .get("/api/v1/agents/presence", routing::team)
    .get("/api/v1/queue", agents::queue)
    .stream("/api/v1/agents/ws", crate::ws::agent_stream)
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

//! Agent endpoints: log in, who am I, my conversations, the queue of waiting conversations.

use super::{AgentView, ConversationView};
use crate::auth::{dummy_password_hash, verify_password, AgentCaller, SessionHash, Token, AGENT_TOKEN_PREFIX};
use crate::extract::ApiJson;
use crate::limits::ClientIp;
use crate::problem::documented::{AgentProblems, BodyProblems};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use baton_store::NewSession;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Credentials. The password is never logged.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[schema(max_length = 320)]
    pub email: String,
    #[schema(max_length = 1024)]
    pub password: String,
}

/// A session token for the agent API and streams.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token; shown only here.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub agent: AgentView,
}

/// The conversations waiting for an agent, longest wait first.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    pub waiting: Vec<ConversationView>,
}

/// The conversations an agent owns.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentConversations {
    pub conversations: Vec<ConversationView>,
}

const QUEUE_PAGE: u32 = 200;

/// Log in as an agent.
#[utoipa::path(post, path = "/api/v1/agents/login", tag = "agents",
    request_body = Login,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        BodyProblems,
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many login attempts", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<LoginResponse>, ApiError> {
    if body.email.len() > 320 {
        return Err(ApiError::invalid_field("email", "`email` is longer than 320 bytes"));
    }
    if body.password.len() > 1024 {
        return Err(ApiError::invalid_field(
            "password",
            "`password` is longer than 1024 bytes",
        ));
    }
    // Throttled per address and per account, before any password is checked.
    state.limits.login(ip, &body.email)?;
    let found = state.store.agent_credentials(body.email.trim()).await?;
    let (phc, agent) = match &found {
        Some((agent, phc)) => (phc.as_str(), Some(agent)),
        None => (dummy_password_hash(), None),
    };
    let password = body.password;
    let phc_owned = phc.to_owned();
    // argon2 is deliberately slow; keep it off the async workers.
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &phc_owned))
        .await
        .map_err(|_| ApiError::internal())?;
    let agent = match (verified, agent) {
        (true, Some(agent)) => agent.clone(),
        _ => return Err(ApiError::unauthorized("wrong email or password")),
    };
    let token = Token::generate(AGENT_TOKEN_PREFIX);
    let now = crate::now();
    let expires_at = now + time::Duration::hours(i64::from(state.config.limits.agent_session_hours));
    // The store records the session only if the password was not reset while it was checked.
    let created = state
        .store
        .create_session(NewSession {
            token_hash: token.hash(),
            agent_id: agent.id,
            verified_password_hash: phc.to_owned(),
            now,
            expires_at,
        })
        .await?;
    if !created {
        return Err(ApiError::unauthorized("wrong email or password"));
    }
    tracing::info!(agent_id = %agent.id, "agent logged in");
    Ok(Json(LoginResponse {
        token: token.expose().to_owned(),
        expires_at,
        agent: agent.into(),
    }))
}

/// Log out: the session token stops working at once and every stream opened with it closes
/// (close code 4401).
#[utoipa::path(post, path = "/api/v1/agents/logout", tag = "agents", security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        AgentProblems,
    ))]
pub async fn logout(
    State(state): State<AppState>,
    AgentCaller(_agent): AgentCaller,
    SessionHash(session): SessionHash,
) -> Result<axum::http::StatusCode, ApiError> {
    // An agent caller always came with an agent token.
    let session = session.ok_or_else(ApiError::internal)?;
    state.store.revoke_session(session).await?;
    state.end_session(session);
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The logged-in agent.
#[utoipa::path(get, path = "/api/v1/agents/me", tag = "agents", security(("bearer" = [])),
    responses(
        (status = 200, description = "You", body = AgentView),
        AgentProblems,
    ))]
pub async fn me(AgentCaller(agent): AgentCaller) -> Json<AgentView> {
    Json(agent.into())
}

/// Conversations you own.
#[utoipa::path(get, path = "/api/v1/agents/me/conversations", tag = "agents", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your open conversations", body = AgentConversations),
        AgentProblems,
    ))]
pub async fn my_conversations(
    State(state): State<AppState>,
    AgentCaller(agent): AgentCaller,
) -> Result<Json<AgentConversations>, ApiError> {
    let conversations = state
        .store
        .agent_conversations(agent.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(AgentConversations { conversations }))
}

/// Conversations waiting for an agent, longest wait first.
#[utoipa::path(get, path = "/api/v1/queue", tag = "agents", security(("bearer" = [])),
    responses(
        (status = 200, description = "The queue", body = QueueView),
        AgentProblems,
    ))]
pub async fn queue(
    State(state): State<AppState>,
    AgentCaller(_agent): AgentCaller,
) -> Result<Json<QueueView>, ApiError> {
    Ok(Json(queue_view(&state).await?))
}

pub async fn queue_view(state: &AppState) -> Result<QueueView, ApiError> {
    let waiting = state
        .store
        .waiting_conversations(QUEUE_PAGE)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(QueueView { waiting })
}

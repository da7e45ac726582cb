//! Handoffs on the wire: one handoff with its context package (any version, exactly as it
//! was recorded), a conversation's handoffs, and the package's JSON Schema. Agents only, but
//! the schema, which is documentation.

use super::conversations::load;
use crate::auth::AgentCaller;
use crate::extract::{ApiQuery, ConversationPath};
use crate::problem::documented::{AgentCommandProblems, AgentProblems};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::{Path, State};
use axum::Json;
use baton_domain::{ConversationId, EscalationReason, Event, EventKind, HandoffId, HandoffRequester, Priority};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// A handoff to a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffSummary {
    pub handoff_id: HandoffId,
    pub conversation_id: ConversationId,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    pub requested_by: HandoffRequester,
    /// Why, each reason with the sequence numbers of the messages that show it.
    pub reasons: Vec<EscalationReason>,
    pub priority: Priority,
    /// The customer's own words, when they gave a reason with the handoff button.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Versions of the context package recorded so far (0 while the first is being built).
    pub package_versions: u32,
}

/// A handoff with one version of its context package.
#[derive(Debug, Serialize, ToSchema)]
pub struct HandoffView {
    #[serde(flatten)]
    pub handoff: HandoffSummary,
    /// The version shown: the newest unless `version` asked for another; absent while the
    /// first is being built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_version: Option<u32>,
    /// The context package as it was recorded (`GET /api/v1/schemas/context-package.json`).
    #[schema(value_type = Option<Object>)]
    pub package: Option<serde_json::Value>,
    /// A first message for you to send, in the customer's language, with your name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_opener: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PackageQuery {
    /// A package version (1 is the one built at handoff); the newest when absent.
    #[param(minimum = 1)]
    pub version: Option<u32>,
}

fn summaries(events: &[Event]) -> Vec<HandoffSummary> {
    let mut handoffs: Vec<HandoffSummary> = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::HandoffRequested {
                requested_by,
                reasons,
                priority,
                reason,
                ..
            } => {
                let Some(handoff_id) = event.handoff_id() else { continue };
                handoffs.push(HandoffSummary {
                    handoff_id,
                    conversation_id: event.conversation_id,
                    requested_at: event.at,
                    requested_by: *requested_by,
                    reasons: reasons.clone(),
                    priority: *priority,
                    note: reason.clone(),
                    package_versions: 0,
                });
            }
            EventKind::HandoffPackaged {
                handoff_id, version, ..
            } => {
                if let Some(handoff) = handoffs.iter_mut().find(|h| h.handoff_id == *handoff_id) {
                    handoff.package_versions = handoff.package_versions.max(*version);
                }
            }
            _ => {}
        }
    }
    handoffs
}

/// The conversation's handoffs, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/handoffs", tag = "agents",
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The handoffs, oldest first", body = [HandoffSummary]),
        AgentCommandProblems,
    ))]
pub async fn list(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    AgentCaller(_agent): AgentCaller,
) -> Result<Json<Vec<HandoffSummary>>, ApiError> {
    load(&state, id).await?;
    Ok(Json(summaries(&baton_runtime::events_of(&*state.store, id).await?)))
}

/// One handoff with its context package: the newest version, or the one asked for, exactly
/// as recorded. The suggested opener names you.
#[utoipa::path(get, path = "/api/v1/handoffs/{handoff_id}", tag = "agents",
    params(("handoff_id" = String, Path, description = "Handoff id: `{conversation id}.{seq}`"), PackageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The handoff and its package", body = HandoffView),
        AgentProblems,
        (status = 404, description = "No such handoff, or no such package version", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    AgentCaller(agent): AgentCaller,
    ApiQuery(query): ApiQuery<PackageQuery>,
) -> Result<Json<HandoffView>, ApiError> {
    let not_found = || ApiError::not_found("no such handoff");
    let id: HandoffId = raw.parse().map_err(|_| not_found())?;
    state
        .store
        .conversation(id.conversation_id)
        .await?
        .ok_or_else(not_found)?;
    let events = baton_runtime::events_of(&*state.store, id.conversation_id).await?;
    let handoff = summaries(&events)
        .into_iter()
        .find(|h| h.handoff_id == id)
        .ok_or_else(not_found)?;
    let packages: Vec<(u32, &serde_json::Value)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::HandoffPackaged {
                handoff_id,
                version,
                package,
            } if *handoff_id == id => Some((*version, package)),
            _ => None,
        })
        .collect();
    let chosen = match query.version {
        Some(version) => Some(
            packages
                .iter()
                .find(|(v, _)| *v == version)
                .ok_or_else(|| ApiError::not_found(format!("handoff {id} has no package version {version}")))?,
        ),
        None => packages.iter().max_by_key(|(v, _)| *v),
    };
    let opener = chosen.and_then(|(_, package)| {
        let bot = state.bot.as_ref()?;
        let package: baton_handoff::ContextPackage = serde_json::from_value((*package).clone()).ok()?;
        Some(baton_handoff::opener(
            &package,
            &agent.display_name,
            bot.handoff_config(),
        ))
    });
    Ok(Json(HandoffView {
        handoff,
        package_version: chosen.map(|(v, _)| *v),
        package: chosen.map(|(_, p)| (*p).clone()),
        suggested_opener: opener,
    }))
}

/// The JSON Schema (draft 2020-12) of the context package; docs/context-package.md explains
/// each field.
#[utoipa::path(get, path = "/api/v1/schemas/context-package.json", tag = "operations",
    responses((status = 200, description = "The context package's JSON Schema", content_type = "application/schema+json")))]
pub async fn package_schema() -> impl axum::response::IntoResponse {
    let body = serde_json::to_vec(&baton_handoff::package_schema()).unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/schema+json"),
        )],
        body,
    )
}

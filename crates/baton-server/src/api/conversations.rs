//! Conversation endpoints: start one, post messages, read events, ask for a human, and the
//! agent's accept / hand back / resolve.

use super::{CommandResult, ConversationView};
use crate::auth::{authorize_conversation, AgentCaller, Caller, Token, CUSTOMER_TOKEN_PREFIX};
use crate::extract::{ApiJson, ApiQuery, ConversationPath, OptionalJson};
use crate::limits::ClientIp;
use crate::problem::documented::{AgentCommandProblems, BodyProblems, ConversationAccessProblems};
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use baton_domain::{
    Channel, ClientMessageId, Command, ConversationId, CustomerProfile, Escalation, EscalationKind, EscalationReason,
    Event, HandoffRequester, Language, MessageText, Priority, Resolver,
};
use baton_store::NewConversation;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Optional details of a new conversation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    /// The customer's language, e.g. `en` or `es`.
    #[serde(default)]
    pub language: Option<Language>,
    /// Where the customer writes from; `web` when absent.
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub customer: Option<CustomerInput>,
}

/// What the customer says about themselves; every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(max_length = 200)]
    pub email: Option<String>,
    /// The customer's id in the shop's own systems.
    #[schema(max_length = 200)]
    pub external_id: Option<String>,
}

/// A new conversation and the token that opens it. The token is shown only here.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedConversation {
    pub conversation_id: ConversationId,
    /// Bearer token for this conversation only. Keep it; it is not shown again.
    pub customer_token: String,
    pub conversation: ConversationView,
    /// The conversation's first event (`conversation_started`).
    pub event: Event,
}

/// A message to post.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    pub text: MessageText,
    /// Your id for this message. Sending the same id again returns the stored event instead
    /// of creating a second one.
    pub client_message_id: ClientMessageId,
}

/// An optional reason for asking for a human.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// Why, in the customer's words.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Return events with a sequence number greater than this; 0 (the default) for all.
    #[serde(default)]
    pub after: u64,
    /// At most this many events (1 to 1000, default 500).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// For WebSocket clients that cannot send headers.
    #[serde(default)]
    #[param(ignore)]
    #[allow(dead_code)]
    pub access_token: Option<String>,
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// Sequence number of the conversation's newest event.
    pub last_seq: u64,
    /// True when more events follow the last one in this page.
    pub has_more: bool,
}

pub const DEFAULT_EVENTS_LIMIT: u32 = 500;
pub const MAX_EVENTS_LIMIT: u32 = 1_000;

pub(crate) async fn load(state: &AppState, id: ConversationId) -> Result<ConversationView, ApiError> {
    state
        .store
        .conversation(id)
        .await?
        .map(ConversationView::from)
        .ok_or_else(|| ApiError::not_found("no such conversation"))
}

/// Start a conversation.
#[utoipa::path(post, path = "/api/v1/conversations", tag = "conversations",
    request_body(content = Option<CreateConversation>, description = "Optional; an empty body starts an anonymous web conversation"),
    responses(
        (status = 201, description = "Created", body = CreatedConversation),
        BodyProblems,
        (status = 429, description = "Too many new conversations from this address", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    OptionalJson(body): OptionalJson<CreateConversation>,
) -> Result<impl IntoResponse, ApiError> {
    state.limits.new_conversation(ip)?;
    let customer = body.customer.unwrap_or_default();
    let customer =
        CustomerProfile::parse(customer.name, customer.email, customer.external_id).map_err(|(field, e)| {
            ApiError::invalid_field(format!("customer.{field}"), format!("`customer.{field}` {e}"))
        })?;
    let token = Token::generate(CUSTOMER_TOKEN_PREFIX);
    let new = NewConversation {
        id: ConversationId(uuid::Uuid::now_v7()),
        channel: body.channel.unwrap_or_default(),
        language: body.language,
        customer,
        customer_token_hash: token.hash(),
    };
    let (record, event) = state.store.create_conversation(new, crate::now()).await?;
    state.customer_tokens.remember(record.id, token.hash());
    state.hub.publish(std::slice::from_ref(&event));
    if let Some(bot) = &state.bot {
        bot.deliver(record.id, std::slice::from_ref(&event), true);
    }
    let created = CreatedConversation {
        conversation_id: record.id,
        customer_token: token.expose().to_owned(),
        conversation: record.into(),
        event,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Read a conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The conversation", body = ConversationView),
        ConversationAccessProblems,
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    caller: Caller,
) -> Result<Json<ConversationView>, ApiError> {
    authorize_conversation(&state, &caller, id).await?;
    Ok(Json(load(&state, id).await?))
}

/// Post a message: as the customer with a customer token, as the owning agent with an agent token.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body = PostMessage,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored (or, for a retried client_message_id, the original event; header `Idempotent-Replayed: true`)", body = Event),
        BodyProblems,
        ConversationAccessProblems,
        (status = 409, description = "Not allowed in the conversation's phase, or client_message_id reused for another message", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Sending too fast", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn post_message(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    caller: Caller,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<impl IntoResponse, ApiError> {
    authorize_conversation(&state, &caller, id).await?;
    check_client_message_id(&body.client_message_id)?;
    state.check_rate(caller.rate_key())?;
    let command = message_command(&caller, body.text, body.client_message_id);
    let executed = state.execute(id, command).await?;
    let event = executed.events.into_iter().next().ok_or_else(ApiError::internal)?;
    let mut headers = HeaderMap::new();
    if executed.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok((StatusCode::CREATED, headers, Json(event)))
}

/// Client message ids starting with this are the bot's (`bot:{seq}`); people may not use them.
pub const BOT_MESSAGE_ID_PREFIX: &str = "bot:";

/// Refuses a client message id in the bot's namespace.
pub fn check_client_message_id(client_message_id: &ClientMessageId) -> Result<(), ApiError> {
    if client_message_id.as_str().starts_with(BOT_MESSAGE_ID_PREFIX) {
        return Err(ApiError::invalid_field(
            "client_message_id",
            format!("`client_message_id` must not start with `{BOT_MESSAGE_ID_PREFIX}` (reserved for the bot)"),
        ));
    }
    Ok(())
}

/// The command a caller's message stands for.
pub fn message_command(caller: &Caller, text: MessageText, client_message_id: ClientMessageId) -> Command {
    match caller {
        Caller::Customer(_) => Command::PostCustomerMessage {
            text,
            client_message_id,
        },
        Caller::Agent(agent) => Command::PostAgentMessage {
            agent_id: agent.id,
            text,
            client_message_id,
        },
    }
}

/// Read events after a sequence number, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/events", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), EventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Events after `after`", body = EventsPage),
        (status = 400, description = "A query parameter is invalid", body = Problem, content_type = "application/problem+json"),
        ConversationAccessProblems,
    ))]
pub async fn list_events(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    caller: Caller,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    authorize_conversation(&state, &caller, id).await?;
    let limit = match query.limit {
        None => DEFAULT_EVENTS_LIMIT,
        Some(n @ 1..=MAX_EVENTS_LIMIT) => n,
        Some(n) => {
            return Err(ApiError::invalid_query(
                "limit",
                format!("`limit` must be 1 to {MAX_EVENTS_LIMIT}, not {n}"),
            ))
        }
    };
    let conversation = load(&state, id).await?;
    check_resume_point(query.after, conversation.last_seq)?;
    let events = state.store.events_after(id, query.after, limit).await?;
    let has_more = events.last().is_some_and(|e| e.seq < conversation.last_seq);
    let events: Vec<Event> = events
        .iter()
        .filter_map(|e| caller.view(e).map(std::borrow::Cow::into_owned))
        .collect();
    Ok(Json(EventsPage {
        events,
        last_seq: conversation.last_seq,
        has_more,
    }))
}

/// Refuses a resume point past the conversation's newest event: a client cannot have seen it.
pub fn check_resume_point(after: u64, last_seq: u64) -> Result<(), ApiError> {
    if after > last_seq {
        return Err(ApiError::invalid_query(
            "after",
            format!("`after` is {after} but the newest event is {last_seq}"),
        ));
    }
    Ok(())
}

async fn run_command(state: &AppState, id: ConversationId, command: Command) -> Result<Json<CommandResult>, ApiError> {
    let executed = state.execute(id, command).await?;
    Ok(Json(CommandResult {
        conversation: executed.conversation.into(),
        events: executed.events,
    }))
}

/// Read what Baton knows about the conversation: identity and verification, intents,
/// slots with their sources, sentiment, actions and their outcomes, articles shown,
/// fallbacks. Rebuilt from the event log on every call (agents only).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/memory", tag = "agents",
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The conversation's structured memory", body = baton_dialogue::Memory),
        AgentCommandProblems,
    ))]
pub async fn memory(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    AgentCaller(_agent): AgentCaller,
) -> Result<Json<baton_dialogue::Memory>, ApiError> {
    load(&state, id).await?;
    let memory = baton_runtime::memory_of(&*state.store, id).await?;
    Ok(Json(memory))
}

/// Ask for a human. The conversation moves to `waiting_for_agent`; asking again while
/// waiting or with an agent changes nothing.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/handoff-request", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id")),
    request_body(content = Option<HandoffRequest>, description = "Optional reason"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Waiting for an agent", body = CommandResult),
        BodyProblems,
        ConversationAccessProblems,
        (status = 403, description = "Agents cannot ask for a human", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The conversation is closed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Sending too fast", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_handoff(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    caller: Caller,
    OptionalJson(body): OptionalJson<HandoffRequest>,
) -> Result<Json<CommandResult>, ApiError> {
    authorize_conversation(&state, &caller, id).await?;
    if matches!(caller, Caller::Agent(_)) {
        return Err(ApiError::forbidden("only the customer (or the bot) asks for a human"));
    }
    state.check_rate(caller.rate_key())?;
    let reason = match body.reason.map(|r| r.trim().to_owned()) {
        Some(r) if r.chars().count() > 500 => {
            return Err(ApiError::invalid_field(
                "reason",
                "`reason` is longer than 500 characters",
            ))
        }
        Some(r) if r.is_empty() => None,
        other => other,
    };
    let Json(mut result) = run_command(
        &state,
        id,
        Command::RequestHandoff {
            requested_by: HandoffRequester::Customer,
            escalation: Escalation {
                reasons: vec![EscalationReason {
                    kind: EscalationKind::Explicit,
                    detail: "the customer asked for a person with the handoff button".into(),
                    evidence: Vec::new(),
                }],
                priority: Priority::Normal,
                // The customer's words are untrusted: secrets in them are hidden like a message's.
                note: reason.map(|r| baton_domain::masking::mask_secrets(&r).text),
            },
        },
    )
    .await?;
    // The customer sees that a person was asked for, not the internal triage.
    result.events = result
        .events
        .iter()
        .filter_map(|e| e.customer_view().map(std::borrow::Cow::into_owned))
        .collect();
    Ok(Json(result))
}

/// Accept a waiting conversation. When several agents accept at once, exactly one wins;
/// the others get 409.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/accept", tag = "agents",
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "You own the conversation", body = CommandResult),
        AgentCommandProblems,
        (status = 409, description = "Not waiting (someone else accepted it, or it is closed)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    AgentCaller(agent): AgentCaller,
) -> Result<Json<CommandResult>, ApiError> {
    let conversation = load(&state, id).await?;
    let waited_ms = conversation
        .waiting_since
        .map(|since| (crate::now() - since).whole_milliseconds().max(0) as u64);
    let who = super::routing::agent_ref(&agent);
    // One accept per agent at a time on this instance, so the board learns each in turn; the
    // store counts capacity in the accept's own transaction.
    let _admission = match &state.router {
        Some(router) => Some(router.admit(&who).await?),
        None => None,
    };
    let offer_before = state.router.as_ref().and_then(|r| r.offer_out(id));
    let executed = state
        .execute(
            id,
            Command::Accept {
                agent_id: agent.id,
                waited_ms,
                capacity: state.router.as_ref().map(|r| r.capacity_of(&who)),
            },
        )
        .await?;
    if let Some(router) = &state.router {
        router.accepted(&who, id, offer_before, &executed.events).await;
    }
    Ok(Json(CommandResult {
        conversation: executed.conversation.into(),
        events: executed.events,
    }))
}

/// Hand the conversation back to the bot, which resumes with its memory.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/hand-back", tag = "agents",
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bot owns the conversation again", body = CommandResult),
        AgentCommandProblems,
        (status = 409, description = "You do not own this conversation", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn hand_back(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    AgentCaller(agent): AgentCaller,
    OptionalJson(body): OptionalJson<super::routing::HandBackRequest>,
) -> Result<Json<CommandResult>, ApiError> {
    let note = super::routing::agent_note(body.note)?;
    let executed = state
        .execute(
            id,
            Command::HandBack {
                agent_id: agent.id,
                agent_name: Some(agent.display_name.clone()),
                note,
            },
        )
        .await?;
    if let Some(router) = &state.router {
        router.handed_back(id).await;
    }
    Ok(Json(CommandResult {
        conversation: executed.conversation.into(),
        events: executed.events,
    }))
}

/// Resolve a conversation you own.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/resolve", tag = "agents",
    params(("id" = String, Path, description = "Conversation id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resolved", body = CommandResult),
        AgentCommandProblems,
        (status = 409, description = "You do not own this conversation, or it is closed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resolve(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    AgentCaller(agent): AgentCaller,
) -> Result<Json<CommandResult>, ApiError> {
    run_command(
        &state,
        id,
        Command::Resolve {
            by: Resolver::Agent(agent.id),
        },
    )
    .await
}

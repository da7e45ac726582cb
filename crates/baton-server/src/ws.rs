//! WebSocket streams.
//!
//! `GET /api/v1/conversations/{id}/ws?after=SEQ` first replays every event after `SEQ`, then
//! pushes new ones live; clients may send messages on it (`{"type":"send", ...}`, idempotent
//! by `client_message_id` like the REST endpoint, answered with `{"type":"ack", ...}`).
//! The stream tracks the last sequence number it sent and fills any gap from the store, so a
//! client that reconnects with the last `seq` it saw loses nothing and sees nothing twice.
//!
//! `GET /api/v1/agents/ws` streams queue changes, the events of the agent's conversations, and
//! with routing on, the offers made to the agent (`offer`, `offer_ended`). While it is open
//! the agent is online; the agent may send `{"type":"presence","status":"away"}` (or
//! `online`, `offline`) and is answered with a `presence` frame.

use crate::api::agents::{queue_view, QueueView};
use crate::api::conversations::{check_client_message_id, check_resume_point, message_command};
use crate::api::routing::{agent_ref, AgentAvailability, PresenceStatus};
use crate::api::ConversationView;
use crate::auth::{authorize_conversation, AgentCaller, Caller, SessionHash};
use crate::extract::{parse_json_text, ApiQuery, ConversationPath};
use crate::limits::ClientIp;
use crate::problem::{ApiError, Problem};
use crate::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use baton_domain::{
    AgentId, ClientMessageId, ConversationId, Event, EventKind, HandoffId, MessageText, OfferOutcome, PhaseName,
};
use baton_store::TokenHash;
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

/// Events a conversation stream sends in one write when they arrive together.
const MAX_EVENTS_PER_WRITE: usize = 64;

const CATCH_UP_PAGE: u32 = 500;
const WS_BUFFER_BYTES: usize = 4 * 1024;

/// Close codes (RFC 6455; 4401 is Baton's own: the agent session ended, log in again).
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const SESSION_ENDED: u16 = 4401;
const SESSION_ENDED_REASON: &str = "session ended; log in again";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    #[serde(default)]
    pub after: u64,
    #[serde(default)]
    #[allow(dead_code)]
    pub access_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStreamQuery {
    #[serde(default)]
    #[allow(dead_code)]
    pub access_token: Option<String>,
}

/// What a client sends on a conversation stream: `{"type": "send", "text": ..., "client_message_id": ...}`.
/// Read in one pass; the `type` is a plain field so that errors keep the field's path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendFrame {
    #[serde(rename = "type")]
    _kind: ClientFrameType,
    text: MessageText,
    client_message_id: ClientMessageId,
}

/// The frame types a client may send.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ClientFrameType {
    Send,
}

/// What the server sends on a stream.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerFrame<'a> {
    Event {
        event: &'a Event,
    },
    Ack {
        client_message_id: &'a str,
        seq: u64,
        replayed: bool,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        client_message_id: Option<&'a str>,
        problem: Problem,
    },
    Queue {
        waiting: &'a [ConversationView],
    },
    Conversations {
        conversations: &'a [ConversationView],
    },
    QueueEntered {
        conversation: &'a ConversationView,
    },
    QueueLeft {
        conversation_id: ConversationId,
        phase: PhaseName,
    },
    /// A conversation is offered to this agent until `expires_at`: accept it with
    /// `POST /api/v1/conversations/{id}/accept`, or decline it.
    Offer {
        conversation: &'a ConversationView,
        handoff_id: HandoffId,
        #[serde(with = "time::serde::rfc3339")]
        expires_at: time::OffsetDateTime,
    },
    /// The offer ended without an accept (declined, expired, withdrawn).
    OfferEnded {
        conversation_id: ConversationId,
        handoff_id: HandoffId,
        outcome: OfferOutcome,
    },
    /// The agent's availability, after they changed it.
    Presence {
        availability: &'a AgentAvailability,
    },
}

/// What an agent may send on their stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
enum AgentFrame {
    Presence { status: PresenceStatus },
}

/// The conversation as an agent's frames show it (read when a frame needs it whole).
async fn conversation_view(state: &AppState, id: ConversationId) -> Result<Option<ConversationView>, StreamError> {
    let record = state
        .store
        .conversation(id)
        .await
        .map_err(|e| StreamError::Store(e.into()))?;
    Ok(record.map(ConversationView::from))
}

/// Answers a frame the server could not take with an `error` frame saying why; the stream
/// stays open.
async fn send_problem(socket: &mut WebSocket, problem: Problem) -> Result<(), StreamError> {
    socket
        .send(frame(&ServerFrame::Error {
            client_message_id: None,
            problem,
        }))
        .await?;
    Ok(())
}

fn frame(f: &ServerFrame<'_>) -> Message {
    Message::Text(Utf8Bytes::from(serde_json::to_string(f).unwrap_or_default()))
}

fn upgrade_rejection(_: axum::extract::ws::rejection::WebSocketUpgradeRejection) -> ApiError {
    ApiError::invalid_query(
        "upgrade",
        "this endpoint speaks WebSocket only; send an HTTP/1.1 upgrade request",
    )
}

fn configure(ws: WebSocketUpgrade, state: &AppState) -> WebSocketUpgrade {
    let max = state.config.limits.max_ws_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
}

/// Stream of one conversation.
pub async fn conversation_stream(
    State(state): State<AppState>,
    ConversationPath(id): ConversationPath,
    caller: Caller,
    SessionHash(session): SessionHash,
    ClientIp(ip): ClientIp,
    ApiQuery(query): ApiQuery<StreamQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    authorize_conversation(&state, &caller, id).await?;
    let conversation = state
        .store
        .conversation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such conversation"))?;
    check_resume_point(query.after, conversation.last_seq)?;
    let ws = configure(ws.map_err(upgrade_rejection)?, &state);
    let slot = state.limits.open_stream(caller.rate_key(), ip)?;
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        let mut stream = ConversationStream {
            state,
            id,
            caller,
            session,
            socket,
            last_sent: query.after,
        };
        if let Err(e) = stream.run().await {
            tracing::debug!(conversation_id = %id, error = %e, "conversation stream ended with an error");
        }
    }))
}

/// Why a stream stopped early.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("the client went away: {0}")]
    Socket(#[from] axum::Error),
    #[error("reading events failed: {0:?}")]
    Store(ApiError),
}

struct ConversationStream {
    state: AppState,
    id: ConversationId,
    caller: Caller,
    /// The agent session the stream was opened with (none for a customer).
    session: Option<TokenHash>,
    socket: WebSocket,
    last_sent: u64,
}

/// What a stream does with an event that reaches it (live from the hub, or read back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Sent before (a catch-up read and the hub both carried it): skip.
    AlreadySent,
    /// The one after the last sent: send it.
    Next,
    /// Something is missing before it (a lag, or commits published out of order): read every
    /// event after the last sent back from the store.
    Gap,
}

fn delivery(last_sent: u64, seq: u64) -> Delivery {
    if seq <= last_sent {
        Delivery::AlreadySent
    } else if seq == last_sent + 1 {
        Delivery::Next
    } else {
        Delivery::Gap
    }
}

/// Keeps an agent's stream honest about its session: it ends at logout (announced at once) and
/// at expiry (checked at each send and on every ping tick).
struct SessionWatch {
    session: Option<TokenHash>,
    ended: tokio::sync::broadcast::Receiver<TokenHash>,
}

impl SessionWatch {
    fn new(state: &AppState, session: Option<TokenHash>) -> Self {
        Self {
            session,
            ended: state.ended_sessions(),
        }
    }

    /// Resolves when this stream's session was announced ended, or when announcements were
    /// missed (the caller then asks the store); never for a customer's stream.
    async fn announced(&mut self) {
        let Some(mine) = self.session else {
            return std::future::pending().await;
        };
        loop {
            match self.ended.recv().await {
                Ok(ended) if ended == mine => return,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => return std::future::pending().await,
            }
        }
    }

    /// Whether the session still holds (always, for a customer).
    async fn valid(&self, state: &AppState) -> Result<bool, StreamError> {
        match self.session {
            None => Ok(true),
            Some(session) => state
                .store
                .session_agent(session, crate::now())
                .await
                .map(|agent| agent.is_some())
                .map_err(|e| StreamError::Store(e.into())),
        }
    }
}

impl ConversationStream {
    async fn run(&mut self) -> Result<(), StreamError> {
        let state = self.state.clone();
        let _guard = state.stream_guard();
        // Subscribe before replaying so nothing committed in between is missed.
        let mut subscription = state.hub.subscribe(self.id);
        let mut resyncs = state.hub.resyncs();
        // Listen for the session's end before the catch-up, and check it once after: a logout
        // during the catch-up is not missed.
        let mut watch = SessionWatch::new(&state, self.session);
        self.catch_up().await?;
        if !watch.valid(&state).await? {
            return close(&mut self.socket, SESSION_ENDED, SESSION_ENDED_REASON).await;
        }
        self.socket.flush().await?;
        let stop = stopped(state.shutdown_signal());
        tokio::pin!(stop);
        let mut liveness = Liveness::new(&state);
        loop {
            tokio::select! {
                () = &mut stop => {
                    return close(&mut self.socket, GOING_AWAY, "server shutting down").await;
                }
                () = watch.announced() => {
                    if !watch.valid(&state).await? {
                        return close(&mut self.socket, SESSION_ENDED, SESSION_ENDED_REASON).await;
                    }
                }
                received = subscription.receiver.recv() => match received {
                    Ok(event) => {
                        self.deliver(std::slice::from_ref(&*event)).await?;
                        // What was published with it (a bot turn's records and reply) leaves
                        // in the same write; a bounded number, so a flood of events still
                        // lets the stream hear a ping, a logout or the shutdown.
                        for _ in 0..MAX_EVENTS_PER_WRITE {
                            match subscription.receiver.try_recv() {
                                Ok(event) => self.deliver(std::slice::from_ref(&*event)).await?,
                                Err(TryRecvError::Lagged(_)) => self.catch_up().await?,
                                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                            }
                        }
                        self.socket.flush().await?;
                    }
                    Err(RecvError::Lagged(_)) => {
                        self.catch_up().await?;
                        self.socket.flush().await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                () = resyncs.requested() => {
                    self.catch_up().await?;
                    self.socket.flush().await?;
                }
                incoming = self.socket.recv() => {
                    liveness.heard();
                    match incoming {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                        Some(Ok(Message::Text(text))) => {
                            if !watch.valid(&state).await? {
                                return close(&mut self.socket, SESSION_ENDED, SESSION_ENDED_REASON).await;
                            }
                            self.handle_client_frame(text.as_str()).await?
                        }
                        Some(Ok(Message::Binary(_))) => {
                            let problem = ApiError::malformed_json("binary frames are not supported; send JSON text").to_problem();
                            self.socket.send(frame(&ServerFrame::Error { client_message_id: None, problem })).await?;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                }
                _ = liveness.ping.tick() => {
                    if !watch.valid(&state).await? {
                        return close(&mut self.socket, SESSION_ENDED, SESSION_ENDED_REASON).await;
                    }
                    if !liveness.check(&mut self.socket).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Queues events that follow `last_sent`; skips ones already sent; fills gaps from the
    /// store. The caller flushes, so an event and its ack leave in one write.
    async fn deliver(&mut self, events: &[Event]) -> Result<(), StreamError> {
        for event in events {
            match delivery(self.last_sent, event.seq) {
                Delivery::AlreadySent => {}
                Delivery::Next => self.feed_event(event).await?,
                Delivery::Gap => self.catch_up().await?,
            }
        }
        Ok(())
    }

    /// Queues one event if this caller may see it (customers do not see the bot's internal
    /// records); either way the stream has passed it.
    async fn feed_event(&mut self, event: &Event) -> Result<(), StreamError> {
        if let Some(shown) = self.caller.view(event) {
            self.socket.feed(frame(&ServerFrame::Event { event: &shown })).await?;
        }
        self.last_sent = event.seq;
        Ok(())
    }

    /// Queues every stored event after `last_sent`; the caller flushes.
    async fn catch_up(&mut self) -> Result<(), StreamError> {
        loop {
            let page = self
                .state
                .store
                .events_after(self.id, self.last_sent, CATCH_UP_PAGE)
                .await
                .map_err(|e| StreamError::Store(e.into()))?;
            let full = page.len() == CATCH_UP_PAGE as usize;
            for event in &page {
                self.feed_event(event).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn handle_client_frame(&mut self, text: &str) -> Result<(), StreamError> {
        let SendFrame {
            text,
            client_message_id,
            ..
        } = match parse_json_text::<SendFrame>(text) {
            Ok(frame) => frame,
            Err(error) => return send_problem(&mut self.socket, error.to_problem()).await,
        };
        let id_text = client_message_id.as_str().to_owned();
        let allowed =
            check_client_message_id(&client_message_id).and_then(|()| self.state.check_rate(self.caller.rate_key()));
        let result = match allowed {
            Ok(()) => {
                self.state
                    .execute(self.id, message_command(&self.caller, text, client_message_id))
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(executed) => {
                self.deliver(&executed.events).await?;
                let seq = executed.events.first().map(|e| e.seq).unwrap_or(self.last_sent);
                let ack = ServerFrame::Ack {
                    client_message_id: &id_text,
                    seq,
                    replayed: executed.replayed,
                };
                self.socket.send(frame(&ack)).await?;
            }
            Err(error) => {
                let problem = error.to_problem();
                let error = ServerFrame::Error {
                    client_message_id: Some(&id_text),
                    problem,
                };
                self.socket.send(frame(&error)).await?;
            }
        }
        Ok(())
    }
}

/// Keeps a stream alive: pings every `limits.ws_ping_seconds` and closes it when the client
/// has been silent for `limits.ws_idle_seconds`.
struct Liveness {
    ping: tokio::time::Interval,
    last_heard: Instant,
    idle_limit: Duration,
}

impl Liveness {
    fn new(state: &AppState) -> Self {
        let every = Duration::from_secs(u64::from(state.config.limits.ws_ping_seconds));
        Self {
            ping: tokio::time::interval_at(Instant::now() + every, every),
            last_heard: Instant::now(),
            idle_limit: Duration::from_secs(u64::from(state.config.limits.ws_idle_seconds)),
        }
    }

    fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// On each ping tick: false (after closing the stream) when the client went quiet.
    async fn check(&self, socket: &mut WebSocket) -> Result<bool, StreamError> {
        if self.last_heard.elapsed() > self.idle_limit {
            close(socket, POLICY, "idle timeout").await?;
            return Ok(false);
        }
        socket.send(Message::Ping(Default::default())).await?;
        Ok(true)
    }
}

/// Resolves once the server starts shutting down.
async fn stopped(mut signal: tokio::sync::watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), StreamError> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await?;
    Ok(())
}

/// Stream of the queue and of the agent's own conversations.
pub async fn agent_stream(
    State(state): State<AppState>,
    AgentCaller(agent): AgentCaller,
    SessionHash(session): SessionHash,
    ClientIp(ip): ClientIp,
    ApiQuery(_query): ApiQuery<AgentStreamQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = configure(ws.map_err(upgrade_rejection)?, &state);
    let slot = state
        .limits
        .open_stream(crate::auth::Caller::Agent(agent.clone()).rate_key(), ip)?;
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        let who = agent_ref(&agent);
        let router = state.router.clone();
        if let Some(router) = &router {
            if let Err(e) = router.stream_opened(&who).await {
                tracing::warn!(agent_id = %agent.id, error = %e, "routing could not bring the agent online");
            }
        }
        let mut stream = AgentStream {
            state,
            agent: who,
            agent_id: agent.id,
            session,
            socket,
            owned: HashSet::new(),
        };
        if let Err(e) = stream.run().await {
            tracing::debug!(agent_id = %agent.id, error = %e, "agent stream ended with an error");
        }
        if let Some(router) = &router {
            router.stream_closed(agent.id);
        }
    }))
}

struct AgentStream {
    state: AppState,
    agent: baton_runtime::router::AgentRef,
    agent_id: AgentId,
    session: Option<TokenHash>,
    socket: WebSocket,
    owned: HashSet<ConversationId>,
}

impl AgentStream {
    async fn run(&mut self) -> Result<(), StreamError> {
        let state = self.state.clone();
        let _guard = state.stream_guard();
        let mut all = state.hub.subscribe_all();
        let mut resyncs = state.hub.resyncs();
        let mut watch = SessionWatch::new(&state, self.session);
        self.snapshot().await?;
        if !watch.valid(&state).await? {
            return close(&mut self.socket, SESSION_ENDED, SESSION_ENDED_REASON).await;
        }
        let stop = stopped(state.shutdown_signal());
        tokio::pin!(stop);
        let mut liveness = Liveness::new(&state);
        loop {
            tokio::select! {
                () = &mut stop => {
                    return close(&mut self.socket, GOING_AWAY, "server shutting down").await;
                }
                () = watch.announced() => {
                    if !watch.valid(&state).await? {
                        return close(&mut self.socket, SESSION_ENDED, SESSION_ENDED_REASON).await;
                    }
                }
                received = all.recv() => match received {
                    Ok(event) => self.on_event(event).await?,
                    Err(RecvError::Lagged(_)) => self.snapshot().await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
                () = resyncs.requested() => self.snapshot().await?,
                incoming = self.socket.recv() => {
                    liveness.heard();
                    match incoming {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                        Some(Ok(Message::Text(text))) => self.handle_frame(&text).await?,
                        Some(Ok(_)) => {}
                    }
                }
                _ = liveness.ping.tick() => {
                    if !watch.valid(&state).await? {
                        return close(&mut self.socket, SESSION_ENDED, SESSION_ENDED_REASON).await;
                    }
                    if !liveness.check(&mut self.socket).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Sends the whole queue and the agent's conversations (on connect, and after lagging).
    async fn snapshot(&mut self) -> Result<(), StreamError> {
        let QueueView { waiting } = queue_view(&self.state).await.map_err(StreamError::Store)?;
        let mine: Vec<ConversationView> = self
            .state
            .store
            .agent_conversations(self.agent_id)
            .await
            .map_err(|e| StreamError::Store(e.into()))?
            .into_iter()
            .map(Into::into)
            .collect();
        self.owned = mine.iter().map(|c| c.conversation_id).collect();
        self.socket
            .send(frame(&ServerFrame::Queue { waiting: &waiting }))
            .await?;
        self.socket
            .send(frame(&ServerFrame::Conversations { conversations: &mine }))
            .await?;
        Ok(())
    }

    /// A frame from the agent: a presence change (routing on), answered with their
    /// availability, or an error frame saying what is wrong.
    async fn handle_frame(&mut self, text: &str) -> Result<(), StreamError> {
        let frame_in = match parse_json_text::<AgentFrame>(text) {
            Ok(frame_in) => frame_in,
            Err(e) => return send_problem(&mut self.socket, e.to_problem()).await,
        };
        let AgentFrame::Presence { status } = frame_in;
        let answer = match crate::api::routing::router(&self.state) {
            Ok(router) => router
                .set_presence(&self.agent, status.into())
                .await
                .map_err(ApiError::from),
            Err(e) => Err(e),
        };
        match answer {
            Ok(status) => {
                let availability = AgentAvailability::from(status);
                self.socket
                    .send(frame(&ServerFrame::Presence {
                        availability: &availability,
                    }))
                    .await?;
            }
            Err(e) => send_problem(&mut self.socket, e.to_problem()).await?,
        }
        Ok(())
    }

    async fn on_event(&mut self, event: Arc<Event>) -> Result<(), StreamError> {
        let id = event.conversation_id;
        match &event.kind {
            EventKind::OfferMade {
                handoff_id,
                agent_id,
                expires_at,
                ..
            } if *agent_id == self.agent_id => {
                if let Some(view) = conversation_view(&self.state, id).await? {
                    self.socket
                        .send(frame(&ServerFrame::Offer {
                            conversation: &view,
                            handoff_id: *handoff_id,
                            expires_at: *expires_at,
                        }))
                        .await?;
                }
            }
            EventKind::OfferEnded {
                handoff_id,
                agent_id,
                outcome,
            } if *agent_id == self.agent_id => {
                self.socket
                    .send(frame(&ServerFrame::OfferEnded {
                        conversation_id: id,
                        handoff_id: *handoff_id,
                        outcome: *outcome,
                    }))
                    .await?;
            }
            EventKind::Assigned { agent_id, .. } if *agent_id == self.agent_id => {
                self.owned.insert(id);
            }
            EventKind::PhaseChanged {
                to: PhaseName::WaitingForAgent,
                ..
            } => {
                if let Some(view) = conversation_view(&self.state, id).await? {
                    self.socket
                        .send(frame(&ServerFrame::QueueEntered { conversation: &view }))
                        .await?;
                }
            }
            EventKind::PhaseChanged {
                from: PhaseName::WaitingForAgent,
                to,
            } => {
                self.socket
                    .send(frame(&ServerFrame::QueueLeft {
                        conversation_id: id,
                        phase: *to,
                    }))
                    .await?;
            }
            _ => {}
        }
        if self.owned.contains(&id) {
            self.socket.send(frame(&ServerFrame::Event { event: &event })).await?;
            if let EventKind::PhaseChanged {
                from: PhaseName::WithAgent,
                ..
            } = event.kind
            {
                self.owned.remove(&id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{delivery, Delivery};

    /// Plays arrivals through the delivery rule against a log of `stored` events; a gap reads
    /// every stored event after the last sent. Returns what the client received.
    fn play(stored: u64, arrivals: &[u64]) -> Vec<u64> {
        let mut sent = Vec::new();
        let mut last = 0;
        for &seq in arrivals {
            match delivery(last, seq) {
                Delivery::AlreadySent => {}
                Delivery::Next => {
                    sent.push(seq);
                    last = seq;
                }
                Delivery::Gap => {
                    sent.extend(last + 1..=stored.min(seq.max(last)));
                    last = *sent.last().unwrap_or(&last);
                }
            }
        }
        sent
    }

    #[test]
    fn every_event_once_in_order_whatever_the_arrivals() {
        // Subscribe, then catch up: 1 to 3 read back, 3 also arriving live, then 4 live.
        assert_eq!(play(4, &[1, 2, 3, 3, 4]), [1, 2, 3, 4]);
        // A lagging receiver misses 5 and 6 and sees 7: the gap is read back.
        assert_eq!(play(7, &[1, 2, 3, 4, 7]), [1, 2, 3, 4, 5, 6, 7]);
        // Two commits published out of order: 6 before 5; 5 arrives late and is skipped.
        assert_eq!(play(6, &[1, 2, 3, 4, 6, 5]), [1, 2, 3, 4, 5, 6]);
        // Duplicates and stale arrivals anywhere change nothing.
        assert_eq!(play(3, &[1, 1, 2, 1, 3, 2, 3]), [1, 2, 3]);
    }
}

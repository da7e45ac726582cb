//! Baton's HTTP and WebSocket API.
//!
//! This crate owns the wire: routes under `/api/v1`, authentication, validation of client
//! input into domain values, problem+json errors, the live event hub, rate limits and the
//! OpenAPI document. It holds no business rules (those are in `baton-domain`) and no SQL
//! (that is behind the `baton_store::Store` trait); it is handed a store and a configuration.

pub mod api;
pub mod auth;
pub mod bot;
pub mod config;
pub mod extract;
pub mod hub;
pub mod limits;
pub mod openapi;
pub mod problem;
pub mod relay;
pub mod ws;

use crate::config::Config;
use crate::problem::ApiError;
use axum::http::{header, HeaderValue, Request};
use axum::Router;
use baton_domain::{AgentId, Command, ConversationId, EventKind, PhaseName};
use baton_store::{Agent, NewAgent, Role, Store, StoreError, TokenHash};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use baton_store;
pub use hub::Hub;

/// The server clock. Everything below the HTTP layer receives time as an argument.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// How many conversations' customer token hashes are kept in memory (about 100 bytes each).
pub const CUSTOMER_TOKENS_KEPT: usize = 100_000;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    pub limits: Arc<limits::Limiters>,
    /// The bot worker; `None` when the configuration has no dialogue.
    pub bot: Option<Arc<baton_runtime::Bot>>,
    /// Routing (queues, presence, offers, narration); `None` without a `[routing]` section.
    pub router: Option<Arc<baton_runtime::router::Router>>,
    /// Customer token hashes of recently used conversations (see [`auth::CustomerTokens`]).
    pub customer_tokens: Arc<auth::CustomerTokens>,
    shutdown: watch::Receiver<bool>,
    open_streams: Arc<AtomicUsize>,
    /// Agent sessions ended (logout): streams opened with them close.
    ended_sessions: broadcast::Sender<TokenHash>,
}

impl AppState {
    /// Runs a command on a conversation and announces what it recorded.
    pub async fn execute(&self, id: ConversationId, command: Command) -> Result<baton_store::Executed, ApiError> {
        let executed = self.store.execute(id, command, now()).await?;
        if !executed.replayed {
            self.hub.publish(&executed.events);
            let for_the_bot = executed.events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::CustomerMessage { .. }
                        | EventKind::HandoffRequested { .. }
                        | EventKind::Transferred { .. }
                        | EventKind::PhaseChanged {
                            to: PhaseName::HandedBack,
                            ..
                        }
                )
            });
            if let Some(bot) = &self.bot {
                bot.deliver(id, &executed.events, for_the_bot);
            }
        }
        Ok(executed)
    }

    /// Counts one message against the sender's rate limit.
    pub fn check_rate(&self, key: TokenHash) -> Result<(), ApiError> {
        self.limits.message(key)
    }

    /// Announces that an agent session ended, so the streams opened with it close.
    pub fn end_session(&self, session: TokenHash) {
        let _ = self.ended_sessions.send(session);
    }

    /// Sessions ended from now on.
    pub fn ended_sessions(&self) -> broadcast::Receiver<TokenHash> {
        self.ended_sessions.subscribe()
    }

    /// Resolves when the server starts shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Keeps count of an open WebSocket stream until the guard drops.
    pub fn stream_guard(&self) -> StreamGuard {
        self.open_streams.fetch_add(1, Ordering::SeqCst);
        StreamGuard(self.open_streams.clone())
    }

    pub fn open_streams(&self) -> usize {
        self.open_streams.load(Ordering::SeqCst)
    }
}

/// Counts one open WebSocket stream.
pub struct StreamGuard(Arc<AtomicUsize>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A Baton server ready to serve: state plus the switch that starts its shutdown.
pub struct Baton {
    state: AppState,
    shutdown: watch::Sender<bool>,
}

impl Baton {
    /// A server without a bot: customer messages wait for a person.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self::with_bot(store, config, Arc::new(Hub::default()), None)
    }

    /// A server whose bot (started on the same `hub`) answers customers first.
    pub fn with_bot(
        store: Arc<dyn Store>,
        config: Config,
        hub: Arc<Hub>,
        bot: Option<Arc<baton_runtime::Bot>>,
    ) -> Self {
        let limits = Arc::new(limits::Limiters::new(&config.limits));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = AppState {
            store,
            hub,
            config: Arc::new(config),
            limits,
            bot,
            router: None,
            customer_tokens: Arc::new(auth::CustomerTokens::new(CUSTOMER_TOKENS_KEPT)),
            shutdown: shutdown_rx,
            open_streams: Arc::new(AtomicUsize::new(0)),
            ended_sessions: broadcast::channel(64).0,
        };
        Self { state, shutdown }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Routes handoffs with `router` (started with the server, fed by its hub); the bot's
    /// packages carry its wait estimate.
    pub fn with_router(mut self, router: Option<Arc<baton_runtime::router::Router>>) -> Self {
        if let (Some(bot), Some(router)) = (&self.state.bot, &router) {
            bot.attach_router(router.clone());
        }
        self.state.router = router;
        self
    }

    /// The whole HTTP application.
    pub fn router(&self) -> Router {
        let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            // The path only: query strings may carry an access token.
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
        });
        api::routes()
            .with_state(self.state.clone())
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
            ))
            .layer(trace)
    }

    /// Serves on `listener` until `signal` resolves, then stops accepting, lets open
    /// requests finish, closes WebSockets with "going away" and waits (up to the configured
    /// grace) for them to end.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        let state = self.state.clone();
        let sender = self.shutdown;
        let limits = state.limits.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.retain_recent();
            }
        });
        // Events other instances commit (PostgreSQL) reach this instance's streams.
        let relay = match state.store.notices().await {
            Ok(Some(notices)) => Some(tokio::spawn(relay::run(
                state.store.clone(),
                state.hub.clone(),
                notices,
            ))),
            Ok(None) => None,
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "listening for other instances' commits: {e}"
                )))
            }
        };
        // Routing learns every event the hub carries (this instance's and, through the relay,
        // the others'), and runs its timers.
        let routing = state.router.clone().map(|router| {
            if relay.is_some() {
                router.set_shared();
            }
            let mut events = state.hub.subscribe_all();
            let board = router.start();
            let feed = tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => router.observe(std::slice::from_ref(&*event)),
                        Err(broadcast::error::RecvError::Lagged(_)) => router.reload().await,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
            (board, feed)
        });
        // hyper's own connection loop rather than `axum::serve`, for the header-read timeout:
        // a client that trickles its headers (slowloris) is disconnected.
        let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(u64::from(
                state.config.limits.header_read_timeout_seconds,
            )));
        let builder = builder.http1_only();
        let connections = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(signal);
        loop {
            let (tcp, address) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            // Chat frames are small and latency-bound: send them without Nagle's delay.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
            let app = app.clone().layer(axum::Extension(axum::extract::ConnectInfo(address)));
            let service = hyper_util::service::TowerToHyperService::new(app);
            let connection = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tcp), service);
            let connection = connections.watch(connection.into_owned());
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        tracing::info!("no longer accepting connections");
        // Streams close with "going away"; open requests get the grace period to finish.
        let _ = sender.send(true);
        let grace = Duration::from_secs(state.config.server.shutdown_grace_seconds);
        let _ = tokio::time::timeout(grace, connections.shutdown()).await;
        sweeper.abort();
        if let Some(relay) = relay {
            relay.abort();
        }
        if let Some((board, feed)) = routing {
            board.abort();
            feed.abort();
        }
        let deadline = tokio::time::Instant::now() + grace;
        while state.open_streams() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// Creates the configured agents that do not exist yet, each with a fresh random password.
/// Returns `(email, password)` for each one created, for the caller to show once.
pub async fn seed_agents(store: &dyn Store, config: &Config) -> Result<Vec<(String, String)>, SeedError> {
    let mut created = Vec::new();
    for seed in &config.agents {
        if store.agent_credentials(&seed.email).await?.is_some() {
            continue;
        }
        let password = auth::generate_password();
        let agent = Agent {
            id: AgentId(uuid::Uuid::now_v7()),
            email: seed.email.clone(),
            display_name: seed.display_name.clone(),
            role: Role::parse(&seed.role).unwrap_or(Role::Agent),
        };
        let password_hash = auth::hash_password(&password)?;
        if store
            .insert_agent_if_absent(NewAgent { agent, password_hash }, now())
            .await?
        {
            created.push((seed.email.clone(), password));
        }
    }
    Ok(created)
}

/// Why seeding agents failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] auth::PasswordHashError),
}

//! The test harness: a real Baton server on a random loopback port with its own temporary
//! database, and small clients for customers and agents.
//!
//! The database is a fresh SQLite file, or with `BATON_TEST_STORE=postgres` a fresh schema of
//! the PostgreSQL database `BATON_TEST_DATABASE_URL` names: `scripts/test` runs this whole
//! suite once on each, so both backends meet the same API tests.

use baton_server::auth::hash_password;
use baton_server::config::Config;
use baton_server::Baton;
use baton_store::{Agent, NewAgent, Role, Store};
use baton_store_sqlite::{Durability, SqliteStore};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const AGENT_PASSWORD: &str = "correct horse battery staple";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    #[allow(dead_code)]
    pub store: Arc<dyn Store>,
    /// The bot worker, when the app was built `with_bot`.
    #[allow(dead_code)]
    pub bot: Option<Arc<baton_runtime::Bot>>,
    /// The server's live fan-out.
    #[allow(dead_code)]
    pub hub: Arc<baton_server::Hub>,
    /// Routing, when the app was built `with_routing`.
    #[allow(dead_code)]
    pub router: Option<Arc<baton_runtime::router::Router>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    dir: PathBuf,
    database: TestDatabase,
}

/// Where a test server keeps its data.
#[derive(Clone)]
enum TestDatabase {
    /// `baton.db` in the test's folder.
    Sqlite,
    /// A schema of its own in the test database.
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
}

impl TestDatabase {
    /// The backend `BATON_TEST_STORE` asks for (SQLite when unset); a fresh schema on
    /// PostgreSQL.
    async fn chosen() -> Self {
        match std::env::var("BATON_TEST_STORE").as_deref() {
            Ok("postgres") => {
                let url = baton_store_postgres::testing::database_url()
                    .expect("BATON_TEST_STORE=postgres needs BATON_TEST_DATABASE_URL (scripts/test sets both)");
                let options = baton_store_postgres::testing::fresh_schema(&url)
                    .await
                    .expect("a test schema");
                TestDatabase::Postgres(Box::new(options))
            }
            Ok("sqlite") | Err(_) => TestDatabase::Sqlite,
            Ok(other) => panic!("BATON_TEST_STORE must be sqlite or postgres, not `{other}`"),
        }
    }
}

pub struct TestAppBuilder {
    config: Config,
    agents: Vec<(&'static str, &'static str, Role)>,
    bot: Option<baton_connectors::Connectors>,
    hub_capacity: Option<usize>,
    wrap_store: Option<StoreWrapper>,
    /// A database chosen for this app rather than by `BATON_TEST_STORE`.
    database: Option<TestDatabase>,
    /// Routing on, with tickets opened here.
    routing: Option<Arc<dyn baton_connectors::Ticketing>>,
}

type StoreWrapper = Box<dyn FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send>;

/// The demo's trained analyzer and indexed knowledge base, built once for all tests.
fn demo_bot_parts(config: &Config, connectors: baton_connectors::Connectors) -> baton_runtime::BotParts {
    static SHARED: std::sync::OnceLock<baton_runtime::BotParts> = std::sync::OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        baton_server::bot::bot_parts(config, None)
            .expect("the demo bot builds")
            .expect("the demo has a dialogue")
    });
    baton_runtime::BotParts {
        analyzer: shared.analyzer.clone(),
        model_version: shared.model_version.clone(),
        dialogue: shared.dialogue.clone(),
        connectors,
        knowledge: shared.knowledge.clone(),
        match_policy: shared.match_policy,
        handoff: shared.handoff.clone(),
        policy: shared.policy.clone(),
        collect_while_waiting: shared.collect_while_waiting,
    }
}

impl TestAppBuilder {
    pub fn with_agent(mut self, email: &'static str, name: &'static str) -> Self {
        self.agents.push((email, name, Role::Agent));
        self
    }

    pub fn with_supervisor(mut self, email: &'static str, name: &'static str) -> Self {
        self.agents.push((email, name, Role::Supervisor));
        self
    }

    pub fn with_admin(mut self, email: &'static str, name: &'static str) -> Self {
        self.agents.push((email, name, Role::Admin));
        self
    }

    pub fn with_rate(mut self, per_second: u32, burst: u32) -> Self {
        self.config.limits.messages_per_second = per_second;
        self.config.limits.message_burst = burst;
        self
    }

    pub fn with_limits(mut self, change: impl FnOnce(&mut baton_server::config::Limits)) -> Self {
        change(&mut self.config.limits);
        self
    }

    /// Live channels that hold only `events` undelivered events, so streams lag at once.
    #[allow(dead_code)]
    pub fn with_hub_capacity(mut self, events: usize) -> Self {
        self.hub_capacity = Some(events);
        self
    }

    /// The demo bot answers customers, with these connectors.
    #[allow(dead_code)]
    pub fn with_bot(mut self, connectors: baton_connectors::Connectors) -> Self {
        self.bot = Some(connectors);
        self
    }

    /// Puts `wrap` between the server and its SQLite store (fault injection).
    #[allow(dead_code)]
    pub fn with_store_wrapper(mut self, wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send + 'static) -> Self {
        self.wrap_store = Some(Box::new(wrap));
        self
    }

    /// Runs on a fresh PostgreSQL schema whatever `BATON_TEST_STORE` says; `None` (and the
    /// caller skips) when no test database is given.
    #[allow(dead_code)]
    pub async fn on_postgres(mut self) -> Option<Self> {
        let url = baton_store_postgres::testing::database_url()?;
        let options = baton_store_postgres::testing::fresh_schema(&url)
            .await
            .expect("a test schema");
        self.database = Some(TestDatabase::Postgres(Box::new(options)));
        Some(self)
    }

    /// Runs on the same database as `other`, as a second instance does (PostgreSQL only).
    #[allow(dead_code)]
    pub fn sharing_database_with(mut self, other: &TestApp) -> Self {
        assert!(
            matches!(other.database, TestDatabase::Postgres(_)),
            "only instances on PostgreSQL share a database"
        );
        self.database = Some(other.database.clone());
        self
    }

    /// Routing on: the demo's `[routing]` changed by `change`, tickets opened on `tickets`.
    #[allow(dead_code)]
    pub fn with_routing(
        mut self,
        tickets: Arc<dyn baton_connectors::Ticketing>,
        change: impl FnOnce(&mut baton_routing::RoutingConfig),
    ) -> Self {
        let mut routing = self.config.routing.take().unwrap_or_default();
        change(&mut routing);
        self.config.routing = Some(routing);
        self.routing = Some(tickets);
        self
    }

    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.config.limits.max_body_bytes = bytes;
        self
    }

    pub async fn start(self) -> TestApp {
        let dir = std::env::temp_dir().join(format!(
            "baton-api-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (store, database): (Arc<dyn Store>, _) = match match self.database {
            Some(database) => database,
            None => TestDatabase::chosen().await,
        } {
            TestDatabase::Sqlite => {
                let store = SqliteStore::open(&dir.join("baton.db"), Durability::default())
                    .await
                    .expect("open store");
                (Arc::new(store), TestDatabase::Sqlite)
            }
            TestDatabase::Postgres(options) => {
                let store = baton_store_postgres::PgStore::connect_with((*options).clone(), 4)
                    .await
                    .expect("open store");
                (Arc::new(store), TestDatabase::Postgres(options))
            }
        };
        let password_hash = hash_password(AGENT_PASSWORD).expect("hash");
        for (email, name, role) in self.agents {
            let agent = Agent {
                id: baton_domain::AgentId(uuid::Uuid::now_v7()),
                email: email.into(),
                display_name: name.into(),
                role,
            };
            store
                .insert_agent_if_absent(
                    NewAgent {
                        agent,
                        password_hash: password_hash.clone(),
                    },
                    baton_server::now(),
                )
                .await
                .expect("seed agent");
        }
        let store = match self.wrap_store {
            Some(wrap) => wrap(store),
            None => store,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let hub = Arc::new(match self.hub_capacity {
            Some(events) => baton_server::Hub::with_capacity(events, events),
            None => baton_server::Hub::default(),
        });
        let bot = self.bot.map(|connectors| {
            let parts = demo_bot_parts(&self.config, connectors);
            baton_runtime::Bot::new(store.clone(), hub.clone(), parts)
        });
        let router = self.routing.map(|tickets| {
            let routing = baton_server::bot::routing(&self.config)
                .expect("the test's routing is valid")
                .expect("a [routing] section");
            let handoff = self
                .config
                .handoff
                .clone()
                .unwrap_or_else(|| baton_handoff::HandoffConfig::demo().expect("the demo handoff configuration"));
            baton_runtime::router::Router::new(
                store.clone(),
                hub.clone(),
                Arc::new(routing),
                Arc::new(handoff),
                tickets,
            )
        });
        let baton = Baton::with_bot(store.clone(), self.config, hub.clone(), bot.clone()).with_router(router.clone());
        let server = tokio::spawn(baton.serve(listener, async move {
            let _ = rx.await;
        }));
        TestApp {
            addr,
            http: reqwest::Client::new(),
            store,
            bot,
            hub,
            router,
            shutdown: Some(tx),
            server: Some(server),
            dir,
            database,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A conversation as its customer holds it.
#[derive(Clone, Debug)]
pub struct CustomerSession {
    pub id: String,
    pub token: String,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        let mut config = Config::demo();
        config.agents.clear();
        config.server.shutdown_grace_seconds = 5;
        // Generous by default so tests that are not about rate limits are not slowed by them.
        config.limits.messages_per_second = 10_000;
        config.limits.message_burst = 10_000;
        config.limits.conversations_per_minute_per_ip = 100_000;
        config.limits.logins_per_minute = 100_000;
        config.limits.max_streams_per_token = 1_000;
        config.limits.max_streams_per_ip = 10_000;
        TestAppBuilder {
            config,
            agents: Vec::new(),
            bot: None,
            hub_capacity: None,
            wrap_store: None,
            database: None,
            routing: None,
        }
    }

    pub async fn init() -> TestApp {
        Self::builder().start().await
    }

    /// Everything this server's database holds on disk, as (what, bytes): the SQLite files
    /// (database, write-ahead log) byte for byte, or every row of every table of its
    /// PostgreSQL schema as text.
    #[allow(dead_code)]
    pub async fn stored_data(&self) -> Vec<(String, Vec<u8>)> {
        match &self.database {
            TestDatabase::Sqlite => std::fs::read_dir(&self.dir)
                .expect("data dir")
                .map(|entry| {
                    let path = entry.expect("entry").path();
                    let bytes = std::fs::read(&path).expect("read");
                    (path.display().to_string(), bytes)
                })
                .collect(),
            TestDatabase::Postgres(options) => {
                use sqlx::{ConnectOptions, Connection};
                let mut connection = options.connect().await.expect("connect");
                let mut stored = Vec::new();
                for table in ["conversations", "events", "agents", "agent_sessions"] {
                    let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {table} t"))
                        .fetch_all(&mut connection)
                        .await
                        .expect("rows");
                    assert!(table != "events" || !rows.is_empty(), "the events table has rows");
                    stored.push((format!("table {table}"), rows.join("\n").into_bytes()));
                }
                connection.close().await.expect("close");
                stored
            }
        }
    }

    /// How to connect to this server's PostgreSQL schema; `None` on SQLite.
    #[allow(dead_code)]
    pub fn postgres_options(&self) -> Option<sqlx::postgres::PgConnectOptions> {
        match &self.database {
            TestDatabase::Postgres(options) => Some((**options).clone()),
            TestDatabase::Sqlite => None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Starts the server's shutdown and waits for it to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server stops within 10 s")
                .expect("server task")
                .expect("server result");
        }
    }

    pub async fn new_conversation(&self) -> CustomerSession {
        let response = self
            .http
            .post(self.url("/api/v1/conversations"))
            .json(&json!({"language": "en", "customer": {"name": "Sarah", "email": "sarah@example.com"}}))
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        CustomerSession {
            id: body["conversation_id"].as_str().expect("id").to_owned(),
            token: body["customer_token"].as_str().expect("token").to_owned(),
        }
    }

    pub async fn post_message(&self, id: &str, token: &str, text: &str, cmid: &str) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/api/v1/conversations/{id}/messages")))
            .bearer_auth(token)
            .json(&json!({"text": text, "client_message_id": cmid}))
            .send()
            .await
            .expect("post message")
    }

    pub async fn events(&self, id: &str, token: &str, after: u64) -> Vec<Value> {
        let response = self
            .http
            .get(self.url(&format!("/api/v1/conversations/{id}/events?after={after}&limit=1000")))
            .bearer_auth(token)
            .send()
            .await
            .expect("events");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["events"].as_array().expect("events array").clone()
    }

    pub async fn request_handoff(&self, id: &str, token: &str) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/api/v1/conversations/{id}/handoff-request")))
            .bearer_auth(token)
            .send()
            .await
            .expect("handoff")
    }

    pub async fn login(&self, email: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/v1/agents/login"))
            .json(&json!({"email": email, "password": AGENT_PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// GETs `path` (with a bearer token if given), expects 200 and returns the JSON body.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json body")
    }

    pub async fn agent_post(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("agent post")
    }

    pub async fn connect_ws(&self, path: &str, token: &str) -> Ws {
        let mut request = self.ws_url(path).into_client_request().expect("ws request");
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().expect("header"));
        let (ws, _) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        ws
    }
}

/// The next JSON text frame, failing the test after 5 s.
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("stream open")
            .expect("frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("json frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Reads frames until an event with `seq` arrives; returns every event seen.
pub async fn events_until(ws: &mut Ws, seq: u64) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let frame = next_json(ws).await;
        if frame["type"] == "event" {
            let event = frame["event"].clone();
            let this = event["seq"].as_u64().expect("seq");
            seen.push(event);
            if this >= seq {
                return seen;
            }
        }
    }
}

pub async fn ws_send(ws: &mut Ws, text: &str, cmid: &str) {
    let frame = json!({"type": "send", "text": text, "client_message_id": cmid}).to_string();
    ws.send(Message::text(frame)).await.expect("ws send");
}

pub fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().expect("seq")).collect()
}

//! SQLite implementation of [`baton_store::Store`]: the embedded default.
//!
//! The database runs in WAL mode. All writes go through one connection, so commands on a
//! conversation are serialized and sequence numbers can neither repeat nor skip; reads use a
//! separate pool and never wait for writers. Writes are group-committed by one writer task
//! (see `writer`), which answers each only after the commit. With `synchronous = NORMAL` (the
//! default) a committed transaction survives the process being killed; `synchronous = FULL`
//! ([`Durability::PowerLoss`]) also survives power loss at the cost of one fsync per commit.
//!
//! This crate owns the SQL and the migrations for SQLite and nothing else: no HTTP, no
//! domain rules (it asks `baton-domain` to decide and stores what it returns).

mod rows;
mod writer;

use async_trait::async_trait;
use baton_domain::{AgentId, Command, ConversationId, Event};
use baton_store::{Agent, ConversationRecord, Executed, NewAgent, NewConversation, Store, StoreError, TokenHash};
use rows::{
    agent_from_row, backend, conversation_from_row, corrupt, event_from_row, load_conversation, micros,
    CONVERSATION_COLUMNS,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use writer::{run_writer, writer_stopped, WriteRequest, MAX_BATCH};

/// How much a commit must survive before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives the server process dying (`kill -9`, panic, OOM). SQLite `synchronous=NORMAL`.
    #[default]
    ProcessCrash,
    /// Also survives the machine losing power. SQLite `synchronous=FULL`.
    PowerLoss,
}

/// The SQLite store: one writer connection, a pool of readers.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    requests: mpsc::Sender<WriteRequest>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies migrations.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::connect(options, durability).await
    }

    /// Opens a database from an `sqlite:` URL (`sqlite://baton.db`, `sqlite::memory:` is not
    /// supported because readers and the writer must share one database).
    pub async fn open_url(url: &str, durability: Durability) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(backend("parsing the database URL"))?;
        Self::connect(options, durability).await
    }

    async fn connect(options: SqliteConnectOptions, durability: Durability) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::ProcessCrash => SqliteSynchronous::Normal,
                Durability::PowerLoss => SqliteSynchronous::Full,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(backend("opening the database"))?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend {
                operation: "applying migrations",
                source: Box::new(e),
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(backend("opening read connections"))?;
        let (requests, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run_writer(writer.clone(), receiver));
        Ok(Self {
            writer,
            reader,
            requests,
        })
    }

    async fn submit(&self, request: WriteRequest) -> Result<(), StoreError> {
        self.requests
            .send(request)
            .await
            .map_err(|_| writer_stopped("queueing a write"))
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend("ping"))?;
        Ok(())
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
        now: OffsetDateTime,
    ) -> Result<(ConversationRecord, Event), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(WriteRequest::Create { new, now, reply }).await?;
        answer.await.map_err(|_| writer_stopped("waiting for a commit"))?
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationRecord>, StoreError> {
        let mut conn = self
            .reader
            .acquire()
            .await
            .map_err(backend("acquiring a read connection"))?;
        load_conversation(&mut conn, id).await
    }

    async fn customer_token_hash(&self, id: ConversationId) -> Result<Option<TokenHash>, StoreError> {
        let row: Option<Vec<u8>> = sqlx::query_scalar("SELECT customer_token_hash FROM conversations WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend("reading a customer token hash"))?;
        row.map(|bytes| {
            <[u8; 32]>::try_from(bytes.as_slice())
                .map(TokenHash)
                .map_err(|e| corrupt("token hash", e))
        })
        .transpose()
    }

    async fn execute(&self, id: ConversationId, command: Command, now: OffsetDateTime) -> Result<Executed, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(WriteRequest::Execute {
            id,
            command,
            now,
            reply,
        })
        .await?;
        answer.await.map_err(|_| writer_stopped("waiting for a commit"))?
    }

    async fn events_after(&self, id: ConversationId, after: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        sqlx::query(
            "SELECT conversation_id, seq, at, body FROM events WHERE conversation_id = ? AND seq > ? \
             ORDER BY seq LIMIT ?",
        )
        .bind(id.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend("reading events"))?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn waiting_conversations(&self, limit: u32) -> Result<Vec<ConversationRecord>, StoreError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE phase = 'waiting_for_agent' \
             ORDER BY waiting_since, id LIMIT ?"
        );
        sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend("listing waiting conversations"))?
            .iter()
            .map(conversation_from_row)
            .collect()
    }

    async fn agent_conversations(&self, agent_id: AgentId) -> Result<Vec<ConversationRecord>, StoreError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE agent_id = ? AND phase = 'with_agent' \
             ORDER BY updated_at"
        );
        sqlx::query(&sql)
            .bind(agent_id.0)
            .fetch_all(&self.reader)
            .await
            .map_err(backend("listing an agent's conversations"))?
            .iter()
            .map(conversation_from_row)
            .collect()
    }

    async fn insert_agent_if_absent(&self, new: NewAgent, now: OffsetDateTime) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO agents (id, email, display_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(new.agent.id.0)
        .bind(&new.agent.email)
        .bind(&new.agent.display_name)
        .bind(new.agent.role.as_str())
        .bind(&new.password_hash)
        .bind(micros(now))
        .execute(&self.writer)
        .await
        .map_err(backend("creating an agent"))?;
        Ok(result.rows_affected() == 1)
    }

    async fn agent_credentials(&self, email: &str) -> Result<Option<(Agent, String)>, StoreError> {
        let row = sqlx::query("SELECT id, email, display_name, role, password_hash FROM agents WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend("looking up an agent by email"))?;
        match row {
            None => Ok(None),
            Some(row) => {
                let hash: String = row.try_get("password_hash").map_err(|e| corrupt("agent row", e))?;
                Ok(Some((agent_from_row(&row)?, hash)))
            }
        }
    }

    async fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        sqlx::query("SELECT id, email, display_name, role FROM agents WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend("loading an agent"))?
            .as_ref()
            .map(agent_from_row)
            .transpose()
    }

    async fn create_session(
        &self,
        token_hash: TokenHash,
        agent_id: AgentId,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(&token_hash.0[..])
            .bind(agent_id.0)
            .bind(micros(now))
            .bind(micros(expires_at))
            .execute(&self.writer)
            .await
            .map_err(backend("creating a session"))?;
        Ok(())
    }

    async fn session_agent(&self, token_hash: TokenHash, now: OffsetDateTime) -> Result<Option<Agent>, StoreError> {
        sqlx::query(
            "SELECT a.id, a.email, a.display_name, a.role FROM agent_sessions s JOIN agents a ON a.id = s.agent_id \
             WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(&token_hash.0[..])
        .bind(micros(now))
        .fetch_optional(&self.reader)
        .await
        .map_err(backend("looking up a session"))?
        .as_ref()
        .map(agent_from_row)
        .transpose()
    }
}

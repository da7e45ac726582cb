//! SQLite implementation of [`baton_store::Store`]: the embedded default.
//!
//! The database runs in WAL mode. All writes go through one connection, owned by one writer
//! thread (see `writer`), so commands on a conversation are serialized and sequence numbers
//! can neither repeat nor skip; the writer group-commits and answers each write only after
//! the commit. A checkpointer thread copies the log back into the database file off the
//! writer's path (see `checkpoint`). Reads use a separate sqlx pool and never wait for
//! writers; sqlx also applies the migrations. With `synchronous = NORMAL` (the default) a
//! committed transaction survives the process being killed; `synchronous = FULL`
//! ([`Durability::PowerLoss`]) also survives power loss at the cost of one fsync per commit.
//!
//! This crate owns the SQL and the migrations for SQLite and nothing else: no HTTP, no
//! domain rules (it asks `baton-domain` to decide and stores what it returns).

mod checkpoint;
mod rows;
mod writer;

use async_trait::async_trait;
use baton_domain::{AgentId, Command, ConversationId, Event, PhaseName};
use baton_store::{
    Agent, ConversationRecord, Executed, NewAgent, NewConversation, NewSession, Store, StoreError, TokenHash,
    UNFINISHED,
};
use rows::{
    agent_from_row, backend, corrupt, micros, sql_seq, ConversationRow, EventRow, CONVERSATION_COLUMNS, EVENT_COLUMNS,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, Row};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use writer::{writer_stopped, WriteRequest, MAX_BATCH};

/// How much a commit must survive before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survives the server process dying (`kill -9`, panic, OOM). SQLite `synchronous=NORMAL`.
    #[default]
    ProcessCrash,
    /// Also survives the machine losing power. SQLite `synchronous=FULL`.
    PowerLoss,
}

impl Durability {
    /// The `synchronous` setting of every connection that writes or checkpoints.
    fn synchronous(self) -> &'static str {
        match self {
            Durability::ProcessCrash => "NORMAL",
            Durability::PowerLoss => "FULL",
        }
    }
}

/// How long a connection waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Page cache of the writer connection (SQLite's default is 2 MiB).
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// The SQLite store: one writer thread, one checkpointer thread, a pool of readers.
#[derive(Clone)]
pub struct SqliteStore {
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
            .pragma("synchronous", durability.synchronous())
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let mut migrator = options.connect().await.map_err(backend("opening the database"))?;
        sqlx::migrate!("./migrations")
            .run(&mut migrator)
            .await
            .map_err(backend("applying migrations"))?;
        migrator
            .close()
            .await
            .map_err(backend("closing the migration connection"))?;

        let path = options.get_filename().to_owned();
        let (writer_connection, checkpoint_connection) = tokio::task::spawn_blocking(move || {
            let writer = open_writing_connection(&path, durability)?;
            writer
                .pragma_update(None, "wal_autocheckpoint", 0)
                .and_then(|()| writer.pragma_update(None, "cache_size", -WRITER_CACHE_KIB))
                .map_err(backend("configuring the writer connection"))?;
            let checkpoint = open_writing_connection(&path, durability)?;
            Ok::<_, StoreError>((writer, checkpoint))
        })
        .await
        .map_err(backend("opening the writer connection"))??;
        let checkpointer =
            checkpoint::Checkpointer::start(checkpoint_connection).map_err(backend("starting the checkpointer"))?;
        let (requests, receiver) = mpsc::channel(4 * MAX_BATCH);
        writer::start(writer_connection, checkpointer, receiver).map_err(backend("starting the writer"))?;

        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(backend("opening read connections"))?;
        Ok(Self { reader, requests })
    }

    async fn submit<T>(
        &self,
        request: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> WriteRequest,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(request(reply))
            .await
            .map_err(|_| writer_stopped("queueing a write"))?;
        answer.await.map_err(|_| writer_stopped("waiting for a commit"))?
    }

    /// Finishes the writes already queued, stops the writer and closes every connection;
    /// the last one to close checkpoints the WAL into the database file.
    pub async fn close(&self) {
        self.reader.close().await;
        let (done, closed) = oneshot::channel();
        if self.requests.send(WriteRequest::Shutdown { done }).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// A rusqlite connection for the writer or the checkpointer, with the same settings as the
/// readers (the journal mode is already WAL: it is a property of the database file).
fn open_writing_connection(path: &Path, durability: Durability) -> Result<rusqlite::Connection, StoreError> {
    let connection = rusqlite::Connection::open(path).map_err(backend("opening the database for writing"))?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .and_then(|()| connection.pragma_update(None, "synchronous", durability.synchronous()))
        .and_then(|()| connection.pragma_update(None, "foreign_keys", true))
        .and_then(|()| connection.pragma_update(None, "temp_store", "memory"))
        .map_err(backend("configuring a writing connection"))?;
    Ok(connection)
}

#[async_trait]
impl Store for SqliteStore {
    /// Ready when the writer thread runs and a reader gets an answer.
    async fn ping(&self) -> Result<(), StoreError> {
        if self.requests.is_closed() {
            return Err(writer_stopped("ping"));
        }
        // Reads the database file (the schema page), not just the connection: a database that
        // is locked or gone fails here.
        sqlx::query("SELECT count(*) FROM sqlite_master")
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
        self.submit(|reply| WriteRequest::Create { new, now, reply }).await
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationRecord>, StoreError> {
        sqlx::query_as::<_, ConversationRow>(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend("loading a conversation"))?
        .map(ConversationRow::into_record)
        .transpose()
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
        self.submit(|reply| WriteRequest::Execute {
            id,
            command,
            now,
            reply,
        })
        .await
    }

    async fn events_after(&self, id: ConversationId, after: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let after = sql_seq(after);
        sqlx::query_as::<_, EventRow>(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(id.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend("reading events"))?
        .into_iter()
        .map(EventRow::into_event)
        .collect()
    }

    async fn waiting_conversations(&self, limit: u32) -> Result<Vec<ConversationRecord>, StoreError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE phase = 'waiting_for_agent' \
             ORDER BY waiting_since, id LIMIT ?"
        );
        sqlx::query_as::<_, ConversationRow>(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend("listing waiting conversations"))?
            .into_iter()
            .map(ConversationRow::into_record)
            .collect()
    }

    async fn conversations_in_phases(
        &self,
        phases: &[PhaseName],
        after: Option<ConversationId>,
        limit: u32,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        if phases.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; phases.len()].join(", ");
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE phase IN ({marks}) AND id > ? ORDER BY id LIMIT ?"
        );
        let mut query = sqlx::query_as::<_, ConversationRow>(&sql);
        for phase in phases {
            query = query.bind(phase.as_str());
        }
        query
            .bind(after.map_or_else(Vec::new, |id| id.0.as_bytes().to_vec()))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend("listing conversations by phase"))?
            .into_iter()
            .map(ConversationRow::into_record)
            .collect()
    }

    async fn agent_conversations(&self, agent_id: AgentId) -> Result<Vec<ConversationRecord>, StoreError> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE agent_id = ? AND phase = 'with_agent' \
             ORDER BY updated_at"
        );
        sqlx::query_as::<_, ConversationRow>(&sql)
            .bind(agent_id.0)
            .fetch_all(&self.reader)
            .await
            .map_err(backend("listing an agent's conversations"))?
            .into_iter()
            .map(ConversationRow::into_record)
            .collect()
    }

    async fn insert_agent_if_absent(&self, new: NewAgent, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.submit(|reply| WriteRequest::InsertAgent { new, now, reply }).await
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

    async fn create_session(&self, session: NewSession) -> Result<bool, StoreError> {
        self.submit(|reply| WriteRequest::CreateSession { session, reply })
            .await
    }

    async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        sqlx::query("SELECT id, email, display_name, role FROM agents ORDER BY email")
            .fetch_all(&self.reader)
            .await
            .map_err(backend("listing agents"))?
            .iter()
            .map(agent_from_row)
            .collect()
    }

    async fn reset_password(&self, email: &str, password_hash: String) -> Result<bool, StoreError> {
        let email = email.to_owned();
        self.submit(|reply| WriteRequest::ResetPassword {
            email,
            password_hash,
            reply,
        })
        .await
    }

    async fn revoke_session(&self, token_hash: TokenHash) -> Result<bool, StoreError> {
        self.submit(|reply| WriteRequest::RevokeSession { token_hash, reply })
            .await
    }

    async fn claim(
        &self,
        work: &str,
        holder: uuid::Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let work = work.to_owned();
        self.submit(|reply| WriteRequest::Claim {
            work,
            holder,
            now,
            until,
            reply,
        })
        .await
    }

    async fn unfinished_work(
        &self,
        since: OffsetDateTime,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let ids: Vec<Vec<u8>> = sqlx::query_scalar(&format!(
            "SELECT c.id FROM conversations c JOIN events e ON e.conversation_id = c.id AND e.seq = c.last_seq \
             WHERE {UNFINISHED} AND e.at >= ? AND e.at < ? ORDER BY e.at LIMIT ?"
        ))
        .bind(micros(since))
        .bind(micros(before))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend("finding unanswered conversations"))?;
        ids.iter()
            .map(|id| {
                uuid::Uuid::from_slice(id)
                    .map(ConversationId)
                    .map_err(|e| corrupt("conversation id", e))
            })
            .collect()
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

/// Reads the whole database out for `baton db copy` (through the readers; stop the server
/// first, so the copy is of one moment).
#[async_trait]
impl baton_store::copy::Dump for SqliteStore {
    async fn dump_agents(&self) -> Result<Vec<baton_store::copy::AgentRecord>, StoreError> {
        sqlx::query("SELECT id, email, display_name, role, password_hash, created_at FROM agents ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(backend("reading agents"))?
            .iter()
            .map(|row| {
                let get_err = |e: sqlx::Error| corrupt("agent row", e);
                Ok(baton_store::copy::AgentRecord {
                    agent: agent_from_row(row)?,
                    password_hash: row.try_get("password_hash").map_err(get_err)?,
                    created_at: rows::from_micros(row.try_get("created_at").map_err(get_err)?)?,
                })
            })
            .collect()
    }

    async fn dump_sessions(&self) -> Result<Vec<baton_store::copy::SessionRecord>, StoreError> {
        sqlx::query("SELECT token_hash, agent_id, created_at, expires_at FROM agent_sessions ORDER BY token_hash")
            .fetch_all(&self.reader)
            .await
            .map_err(backend("reading sessions"))?
            .iter()
            .map(|row| {
                let get_err = |e: sqlx::Error| corrupt("session row", e);
                let token_hash: Vec<u8> = row.try_get("token_hash").map_err(get_err)?;
                Ok(baton_store::copy::SessionRecord {
                    token_hash: TokenHash(
                        <[u8; 32]>::try_from(token_hash.as_slice()).map_err(|e| corrupt("session token hash", e))?,
                    ),
                    agent_id: AgentId(row.try_get("agent_id").map_err(get_err)?),
                    created_at: rows::from_micros(row.try_get("created_at").map_err(get_err)?)?,
                    expires_at: rows::from_micros(row.try_get("expires_at").map_err(get_err)?)?,
                })
            })
            .collect()
    }

    async fn dump_conversations(
        &self,
        after: Option<ConversationId>,
        limit: u32,
    ) -> Result<Vec<(ConversationRecord, TokenHash)>, StoreError> {
        use sqlx::FromRow;
        sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS}, customer_token_hash FROM conversations WHERE id > ? ORDER BY id LIMIT ?"
        ))
        .bind(after.map_or_else(Vec::new, |id| id.0.as_bytes().to_vec()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend("reading conversations"))?
        .iter()
        .map(|row| {
            let record = ConversationRow::from_row(row)
                .map_err(|e| corrupt("conversation row", e))?
                .into_record()?;
            let token_hash: Vec<u8> = row
                .try_get("customer_token_hash")
                .map_err(|e| corrupt("conversation row", e))?;
            let token_hash =
                <[u8; 32]>::try_from(token_hash.as_slice()).map_err(|e| corrupt("customer token hash", e))?;
            Ok((record, TokenHash(token_hash)))
        })
        .collect()
    }
}

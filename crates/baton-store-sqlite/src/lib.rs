//! SQLite implementation of [`baton_store::Store`]: the embedded default.
//!
//! The database runs in WAL mode. All writes go through one connection, so commands on a
//! conversation are serialized and sequence numbers can neither repeat nor skip; reads use a
//! separate pool and never wait for writers. With `synchronous = NORMAL` (the default) a
//! committed transaction survives the process being killed; `synchronous = FULL`
//! ([`Durability::PowerLoss`]) also survives power loss at the cost of one fsync per commit.
//!
//! This crate owns the SQL and the migrations for SQLite and nothing else: no HTTP, no
//! domain rules (it asks `baton-domain` to decide and stores what it returns).

use async_trait::async_trait;
use baton_domain::{
    AgentId, Channel, Command, ConversationId, ConversationState, CustomerProfile, Event, EventKind, Language, Phase,
    PhaseName,
};
use baton_store::{
    same_message, Agent, ConversationRecord, Executed, NewAgent, NewConversation, Role, Store, StoreError, TokenHash,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

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
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

fn backend(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        source: Box::new(e),
    }
}

fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

fn from_micros(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000).map_err(|e| corrupt("timestamp", e))
}

/// Times are stored in microseconds; events handed back must equal the stored ones.
fn stored_precision(at: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    from_micros(micros(at))
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
        Ok(Self { writer, reader })
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

const CONVERSATION_COLUMNS: &str = "id, phase, agent_id, last_seq, channel, language, customer_name, \
     customer_email, customer_external_id, created_at, updated_at, waiting_since";

fn conversation_from_row(row: &SqliteRow) -> Result<ConversationRecord, StoreError> {
    let get_err = |e: sqlx::Error| corrupt("conversation row", e);
    let id: Uuid = row.try_get("id").map_err(get_err)?;
    let phase_name: String = row.try_get("phase").map_err(get_err)?;
    let agent_id: Option<Uuid> = row.try_get("agent_id").map_err(get_err)?;
    let phase_name = PhaseName::parse(&phase_name).ok_or_else(|| corrupt("conversation phase", &phase_name))?;
    let phase = Phase::from_parts(phase_name, agent_id.map(AgentId))
        .ok_or_else(|| corrupt("conversation phase", format!("{phase_name} with agent {agent_id:?}")))?;
    let last_seq: i64 = row.try_get("last_seq").map_err(get_err)?;
    let channel: String = row.try_get("channel").map_err(get_err)?;
    let language: Option<String> = row.try_get("language").map_err(get_err)?;
    let waiting_since: Option<i64> = row.try_get("waiting_since").map_err(get_err)?;
    Ok(ConversationRecord {
        id: ConversationId(id),
        phase,
        last_seq: u64::try_from(last_seq).map_err(|e| corrupt("last_seq", e))?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        language: language
            .map(Language::parse)
            .transpose()
            .map_err(|e| corrupt("language", e))?,
        customer: CustomerProfile {
            name: row.try_get("customer_name").map_err(get_err)?,
            email: row.try_get("customer_email").map_err(get_err)?,
            external_id: row.try_get("customer_external_id").map_err(get_err)?,
        },
        created_at: from_micros(row.try_get("created_at").map_err(get_err)?)?,
        updated_at: from_micros(row.try_get("updated_at").map_err(get_err)?)?,
        waiting_since: waiting_since.map(from_micros).transpose()?,
    })
}

fn event_from_row(row: &SqliteRow) -> Result<Event, StoreError> {
    let get_err = |e: sqlx::Error| corrupt("event row", e);
    let conversation_id: Uuid = row.try_get("conversation_id").map_err(get_err)?;
    let seq: i64 = row.try_get("seq").map_err(get_err)?;
    let body: String = row.try_get("body").map_err(get_err)?;
    Ok(Event {
        conversation_id: ConversationId(conversation_id),
        seq: u64::try_from(seq).map_err(|e| corrupt("event seq", e))?,
        at: from_micros(row.try_get("at").map_err(get_err)?)?,
        kind: serde_json::from_str::<EventKind>(&body).map_err(|e| corrupt("event body", e))?,
    })
}

fn agent_from_row(row: &SqliteRow) -> Result<Agent, StoreError> {
    let get_err = |e: sqlx::Error| corrupt("agent row", e);
    let role: String = row.try_get("role").map_err(get_err)?;
    Ok(Agent {
        id: AgentId(row.try_get("id").map_err(get_err)?),
        email: row.try_get("email").map_err(get_err)?,
        display_name: row.try_get("display_name").map_err(get_err)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("agent role", &role))?,
    })
}

async fn insert_event(conn: &mut SqliteConnection, event: &Event) -> Result<(), StoreError> {
    let body = serde_json::to_string(&event.kind).map_err(|e| corrupt("event body", e))?;
    sqlx::query(
        "INSERT INTO events (conversation_id, seq, at, type, client_message_id, body) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(event.conversation_id.0)
    .bind(event.seq as i64)
    .bind(micros(event.at))
    .bind(event.kind.type_name())
    .bind(event.client_message_id().map(|c| c.as_str()))
    .bind(body)
    .execute(conn)
    .await
    .map_err(backend("appending an event"))?;
    Ok(())
}

async fn load_conversation(
    conn: &mut SqliteConnection,
    id: ConversationId,
) -> Result<Option<ConversationRecord>, StoreError> {
    let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?");
    sqlx::query(&sql)
        .bind(id.0)
        .fetch_optional(conn)
        .await
        .map_err(backend("loading a conversation"))?
        .as_ref()
        .map(conversation_from_row)
        .transpose()
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
        let now = stored_precision(now)?;
        let decision = ConversationState::start(new.id, new.channel, new.language.clone(), new.customer.clone(), now);
        let mut tx = self.writer.begin().await.map_err(backend("starting a transaction"))?;
        sqlx::query(
            "INSERT INTO conversations (id, customer_token_hash, phase, agent_id, last_seq, channel, language, \
             customer_name, customer_email, customer_external_id, created_at, updated_at, waiting_since) \
             VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        )
        .bind(new.id.0)
        .bind(&new.customer_token_hash.0[..])
        .bind(decision.state.phase.name().as_str())
        .bind(decision.state.last_seq as i64)
        .bind(new.channel.as_str())
        .bind(new.language.as_ref().map(Language::as_str))
        .bind(new.customer.name.as_deref())
        .bind(new.customer.email.as_deref())
        .bind(new.customer.external_id.as_deref())
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(backend("creating a conversation"))?;
        for event in &decision.events {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await.map_err(backend("committing a new conversation"))?;
        let record = ConversationRecord {
            id: new.id,
            phase: decision.state.phase,
            last_seq: decision.state.last_seq,
            channel: new.channel,
            language: new.language,
            customer: new.customer,
            created_at: now,
            updated_at: now,
            waiting_since: None,
        };
        let first = decision
            .events
            .into_iter()
            .next()
            .ok_or_else(|| corrupt("new conversation", "no first event"))?;
        Ok((record, first))
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
        let now = stored_precision(now)?;
        let mut tx = self.writer.begin().await.map_err(backend("starting a transaction"))?;
        let record = load_conversation(&mut tx, id)
            .await?
            .ok_or(StoreError::ConversationNotFound(id))?;
        if let Some(client_message_id) = command.client_message_id() {
            let existing = sqlx::query(
                "SELECT conversation_id, seq, at, body FROM events WHERE conversation_id = ? AND client_message_id = ?",
            )
            .bind(id.0)
            .bind(client_message_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend("looking up a client message id"))?;
            if let Some(row) = existing {
                let original = event_from_row(&row)?;
                return if same_message(&original, &command) {
                    Ok(Executed {
                        conversation: record,
                        events: vec![original],
                        replayed: true,
                    })
                } else {
                    Err(StoreError::IdempotencyConflict {
                        client_message_id: client_message_id.as_str().to_owned(),
                        seq: original.seq,
                    })
                };
            }
        }
        let decision = record.state().decide(command, now)?;
        if decision.events.is_empty() {
            return Ok(Executed {
                conversation: record,
                events: Vec::new(),
                replayed: false,
            });
        }
        for event in &decision.events {
            insert_event(&mut tx, event).await?;
        }
        let new_phase = decision.state.phase;
        let waiting_since = match (record.phase, new_phase) {
            (Phase::WaitingForAgent, Phase::WaitingForAgent) => record.waiting_since,
            (_, Phase::WaitingForAgent) => Some(now),
            _ => None,
        };
        sqlx::query(
            "UPDATE conversations SET phase = ?, agent_id = ?, last_seq = ?, updated_at = ?, waiting_since = ? \
             WHERE id = ?",
        )
        .bind(new_phase.name().as_str())
        .bind(new_phase.agent_id().map(|a| a.0))
        .bind(decision.state.last_seq as i64)
        .bind(micros(now))
        .bind(waiting_since.map(micros))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(backend("updating a conversation"))?;
        tx.commit().await.map_err(backend("committing events"))?;
        let conversation = ConversationRecord {
            phase: new_phase,
            last_seq: decision.state.last_seq,
            updated_at: now,
            waiting_since,
            ..record
        };
        Ok(Executed {
            conversation,
            events: decision.events,
            replayed: false,
        })
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

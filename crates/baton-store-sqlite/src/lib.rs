//! SQLite implementation of [`baton_store::Store`]: the embedded default.
//!
//! The database runs in WAL mode. All writes go through one connection, so commands on a
//! conversation are serialized and sequence numbers can neither repeat nor skip; reads use a
//! separate pool and never wait for writers. Commands are group-committed: the writer task
//! runs every command waiting in one transaction and answers each only after the commit.
//! With `synchronous = NORMAL` (the default) a
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
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
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
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    requests: mpsc::Sender<WriteRequest>,
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

/// Whether an event was appended.
#[derive(Debug, PartialEq, Eq)]
enum Inserted {
    Yes,
    /// Another event of this conversation already has this `client_message_id`.
    DuplicateClientMessageId,
}

async fn insert_event(conn: &mut SqliteConnection, event: &Event) -> Result<Inserted, StoreError> {
    let body = serde_json::to_string(&event.kind).map_err(|e| corrupt("event body", e))?;
    let result = sqlx::query(
        "INSERT INTO events (conversation_id, seq, at, type, client_message_id, body) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(event.conversation_id.0)
    .bind(event.seq as i64)
    .bind(micros(event.at))
    .bind(event.kind.type_name())
    .bind(event.client_message_id().map(|c| c.as_str()))
    .bind(body)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(Inserted::Yes),
        Err(sqlx::Error::Database(e))
            if e.is_unique_violation()
                && e.message().contains("client_message_id")
                && event.client_message_id().is_some() =>
        {
            Ok(Inserted::DuplicateClientMessageId)
        }
        Err(e) => Err(backend("appending an event")(e)),
    }
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

/// The writer's view of conversations it has written, so the common case (a message to an
/// active conversation) needs no read before its write. Only the writer changes existing
/// conversation rows, so the cache cannot go stale; it is cleared when a batch rolls back.
type WriterCache = HashMap<ConversationId, ConversationRecord>;

/// Entries above which the writer cache starts over.
const MAX_CACHED_CONVERSATIONS: usize = 50_000;

async fn find_by_client_message_id(
    tx: &mut SqliteConnection,
    id: ConversationId,
    client_message_id: &str,
) -> Result<Option<Event>, StoreError> {
    sqlx::query("SELECT conversation_id, seq, at, body FROM events WHERE conversation_id = ? AND client_message_id = ?")
        .bind(id.0)
        .bind(client_message_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend("looking up a client message id"))?
        .as_ref()
        .map(event_from_row)
        .transpose()
}

/// The answer to a command whose `client_message_id` is already stored as `original`.
fn replay_of(record: ConversationRecord, original: Event, command: &Command) -> Result<Executed, StoreError> {
    if same_message(&original, command) {
        Ok(Executed {
            conversation: record,
            events: vec![original],
            replayed: true,
        })
    } else {
        Err(StoreError::IdempotencyConflict {
            client_message_id: command
                .client_message_id()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            seq: original.seq,
        })
    }
}

/// Decides and records one command inside the caller's transaction. Nothing is written
/// unless the command is accepted, so a rejected command leaves the batch untouched.
///
/// Idempotency is checked by the unique index: the new event is inserted and, if its
/// `client_message_id` is already taken, the original is read back instead.
async fn execute_in(
    tx: &mut SqliteConnection,
    cache: &mut WriterCache,
    id: ConversationId,
    command: Command,
    now: OffsetDateTime,
) -> Result<Executed, StoreError> {
    let record = match cache.get(&id) {
        Some(record) => record.clone(),
        None => load_conversation(&mut *tx, id)
            .await?
            .ok_or(StoreError::ConversationNotFound(id))?,
    };
    let client_message_id = command.client_message_id().map(|c| c.as_str().to_owned());
    let decision = match record.state().decide(command.clone(), now) {
        Ok(decision) => decision,
        Err(rejection) => {
            // A retry of a message accepted earlier still gets its original answer.
            if let Some(cmid) = &client_message_id {
                if let Some(original) = find_by_client_message_id(tx, id, cmid).await? {
                    return replay_of(record, original, &command);
                }
            }
            return Err(rejection.into());
        }
    };
    if decision.events.is_empty() {
        return Ok(Executed {
            conversation: record,
            events: Vec::new(),
            replayed: false,
        });
    }
    for event in &decision.events {
        if insert_event(&mut *tx, event).await? == Inserted::DuplicateClientMessageId {
            let cmid = client_message_id.as_deref().unwrap_or_default();
            let original = find_by_client_message_id(tx, id, cmid)
                .await?
                .ok_or_else(|| corrupt("events", format!("client_message_id `{cmid}` is taken but not found")))?;
            return replay_of(record, original, &command);
        }
    }
    let new_phase = decision.state.phase;
    let waiting_since = match (record.phase, new_phase) {
        (Phase::WaitingForAgent, Phase::WaitingForAgent) => record.waiting_since,
        (_, Phase::WaitingForAgent) => Some(now),
        _ => None,
    };
    // The insert trigger advanced last_seq and updated_at; only a phase change writes more.
    if new_phase != record.phase || waiting_since != record.waiting_since {
        sqlx::query("UPDATE conversations SET phase = ?, agent_id = ?, waiting_since = ? WHERE id = ?")
            .bind(new_phase.name().as_str())
            .bind(new_phase.agent_id().map(|a| a.0))
            .bind(waiting_since.map(micros))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(backend("updating a conversation"))?;
    }
    let conversation = ConversationRecord {
        phase: new_phase,
        last_seq: decision.state.last_seq,
        updated_at: now,
        waiting_since,
        ..record
    };
    if cache.len() >= MAX_CACHED_CONVERSATIONS {
        cache.clear();
    }
    cache.insert(id, conversation.clone());
    Ok(Executed {
        conversation,
        events: decision.events,
        replayed: false,
    })
}

/// Inserts a conversation and its first event inside the caller's transaction.
async fn create_in(
    tx: &mut SqliteConnection,
    new: NewConversation,
    now: OffsetDateTime,
) -> Result<(ConversationRecord, Event), StoreError> {
    let decision = ConversationState::start(new.id, new.channel, new.language.clone(), new.customer.clone(), now);
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
        insert_event(&mut *tx, event).await?;
    }
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

/// One write waiting for the writer task.
enum WriteRequest {
    Execute {
        id: ConversationId,
        command: Command,
        now: OffsetDateTime,
        reply: oneshot::Sender<Result<Executed, StoreError>>,
    },
    Create {
        new: NewConversation,
        now: OffsetDateTime,
        reply: oneshot::Sender<Result<(ConversationRecord, Event), StoreError>>,
    },
}

/// A write done inside the open batch, to be answered after the commit.
enum Answer {
    Executed(
        oneshot::Sender<Result<Executed, StoreError>>,
        Result<Executed, StoreError>,
    ),
    Created(
        oneshot::Sender<Result<(ConversationRecord, Event), StoreError>>,
        Result<(ConversationRecord, Event), StoreError>,
    ),
}

impl Answer {
    fn backend_failure(&self) -> Option<String> {
        match self {
            Answer::Executed(_, Err(e @ StoreError::Backend { .. }))
            | Answer::Created(_, Err(e @ StoreError::Backend { .. })) => Some(e.to_string()),
            _ => None,
        }
    }

    fn send(self) {
        // A caller that gave up waiting is no reason to fail the others.
        match self {
            Answer::Executed(reply, outcome) => drop(reply.send(outcome)),
            Answer::Created(reply, outcome) => drop(reply.send(outcome)),
        }
    }

    fn fail(self, operation: &'static str, detail: &str) {
        let error = || StoreError::Backend {
            operation,
            source: detail.to_owned().into(),
        };
        match self {
            Answer::Executed(reply, _) => drop(reply.send(Err(error()))),
            Answer::Created(reply, _) => drop(reply.send(Err(error()))),
        }
    }
}

fn writer_stopped(operation: &'static str) -> StoreError {
    StoreError::Backend {
        operation,
        source: "the database writer has stopped".into(),
    }
}

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 256;

/// The single writer: takes every write waiting, runs them in order in one transaction and
/// answers each only after the commit (group commit). Under load this turns thousands of
/// commits a second into a few hundred, without acknowledging anything that is not durable.
async fn run_writer(pool: SqlitePool, mut requests: mpsc::Receiver<WriteRequest>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut cache = WriterCache::new();
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if !commit_batch(&pool, &mut cache, std::mem::take(&mut batch)).await {
            cache.clear();
        }
    }
}

/// Runs and commits one batch; false when it was rolled back.
async fn commit_batch(pool: &SqlitePool, cache: &mut WriterCache, batch: Vec<WriteRequest>) -> bool {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            let detail = e.to_string();
            for request in batch {
                match request {
                    WriteRequest::Execute { reply, .. } => Answer::Executed(reply, Err(writer_stopped("begin"))),
                    WriteRequest::Create { reply, .. } => Answer::Created(reply, Err(writer_stopped("begin"))),
                }
                .fail("starting a transaction", &detail);
            }
            return false;
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    for request in batch {
        let answer = match request {
            WriteRequest::Execute {
                id,
                command,
                now,
                reply,
            } => {
                let outcome = match stored_precision(now) {
                    Ok(now) => execute_in(&mut tx, cache, id, command, now).await,
                    Err(e) => Err(e),
                };
                Answer::Executed(reply, outcome)
            }
            WriteRequest::Create { new, now, reply } => {
                let outcome = match stored_precision(now) {
                    Ok(now) => create_in(&mut tx, new, now).await,
                    Err(e) => Err(e),
                };
                Answer::Created(reply, outcome)
            }
        };
        answers.push(answer);
    }
    let failure = answers.iter().find_map(Answer::backend_failure);
    if let Some(detail) = failure {
        // A database failure in the batch: write none of it, so nothing unacknowledged lands.
        drop(tx);
        answers
            .into_iter()
            .for_each(|a| a.fail("recording a batch of events", &detail));
        return false;
    }
    if let Err(e) = tx.commit().await {
        let detail = e.to_string();
        answers.into_iter().for_each(|a| a.fail("committing events", &detail));
        return false;
    }
    answers.into_iter().for_each(Answer::send);
    true
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

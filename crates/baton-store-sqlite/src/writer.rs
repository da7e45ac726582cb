//! The single writer of a SQLite database, with group commit.
//!
//! Every write (a command on a conversation, a new conversation, an agent, a session) is
//! queued to one thread that owns the only writing connection. It takes every write waiting,
//! up to [`MAX_BATCH`], and runs them in order in one transaction: it lets the domain decide
//! each command against the conversation's current state (kept in a cache, since only this
//! thread changes conversations), appends the new events (a retried `client_message_id` is
//! caught by the unique index, and the stored original is returned instead), updates each
//! conversation it touched once, commits, and only then answers each caller. Nothing is
//! acknowledged before it is committed; a database error anywhere in the batch rolls the whole
//! batch back and fails every write in it (none was acknowledged).
//!
//! The thread drives SQLite synchronously through rusqlite with cached prepared statements:
//! an async driver would hand every statement to a worker thread and back, and on a busy
//! machine each of those hand-offs costs more than the statement. Callers stay async; they
//! wait on a oneshot answer.

use crate::checkpoint::{passive_checkpoint, Checkpointer};
use crate::rows::{backend, corrupt, micros, sql_seq, ConversationRow, EventRow, CONVERSATION_COLUMNS, EVENT_COLUMNS};
use baton_domain::{AgentId, Command, ConversationId, ConversationState, Event, Language, Rejection};
use baton_store::{
    stored_precision, ConversationRecord, Executed, NewAgent, NewConversation, NewSession, StoreError, TokenHash,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::hash_map::{Entry, HashMap};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// Most writes committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// Entries above which the writer cache starts over.
const MAX_CACHED_CONVERSATIONS: usize = 50_000;

/// The writer's view of the conversations it has read or written, so a message to an active
/// conversation needs no read. Only the writer changes conversation rows, so the cache cannot
/// go stale; it is cleared whenever a batch rolls back.
type WriterCache = HashMap<ConversationId, ConversationRecord>;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// One write waiting for the writer thread.
pub(crate) enum WriteRequest {
    Execute {
        id: ConversationId,
        command: Command,
        now: OffsetDateTime,
        reply: Reply<Executed>,
    },
    Create {
        new: NewConversation,
        now: OffsetDateTime,
        reply: Reply<(ConversationRecord, Event)>,
    },
    InsertAgent {
        new: NewAgent,
        now: OffsetDateTime,
        reply: Reply<bool>,
    },
    CreateSession {
        session: NewSession,
        reply: Reply<bool>,
    },
    RevokeSession {
        token_hash: TokenHash,
        reply: Reply<bool>,
    },
    /// Sets an agent's password hash and ends all their sessions.
    ResetPassword {
        email: String,
        password_hash: String,
        reply: Reply<bool>,
    },
    /// Takes or extends a lease on a piece of work.
    Claim {
        work: String,
        holder: uuid::Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
        reply: Reply<bool>,
    },
    /// Commit what came before, close the connection, then answer.
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// A write done inside the open batch, to be answered after the commit.
enum Answer {
    Executed(Reply<Executed>, Result<Executed, StoreError>),
    Created(
        Reply<(ConversationRecord, Event)>,
        Result<(ConversationRecord, Event), StoreError>,
    ),
    AgentInserted(Reply<bool>, Result<bool, StoreError>),
    /// A write answered yes or no (a session revoked, a password reset).
    Flag(Reply<bool>, Result<bool, StoreError>),
}

impl Answer {
    fn send(self) {
        // A caller that gave up waiting is no reason to fail the others.
        match self {
            Answer::Executed(reply, outcome) => drop(reply.send(outcome)),
            Answer::Created(reply, outcome) => drop(reply.send(outcome)),
            Answer::AgentInserted(reply, outcome) => drop(reply.send(outcome)),
            Answer::Flag(reply, outcome) => drop(reply.send(outcome)),
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
            Answer::AgentInserted(reply, _) => drop(reply.send(Err(error()))),
            Answer::Flag(reply, _) => drop(reply.send(Err(error()))),
        }
    }

    /// The database error this write met, which fails the whole batch.
    fn backend_error(&self) -> Option<String> {
        let error = match self {
            Answer::Executed(_, Err(e)) | Answer::Created(_, Err(e)) => e,
            Answer::AgentInserted(_, Err(e)) => e,
            Answer::Flag(_, Err(e)) => e,
            _ => return None,
        };
        matches!(error, StoreError::Backend { .. } | StoreError::Corrupt { .. }).then(|| error.to_string())
    }
}

pub(crate) fn writer_stopped(operation: &'static str) -> StoreError {
    StoreError::Backend {
        operation,
        source: "the database writer has stopped".into(),
    }
}

/// Starts the writer thread. It runs until a [`WriteRequest::Shutdown`] or until every
/// sender is gone, then stops the checkpointer and closes its connection.
pub(crate) fn start(
    connection: Connection,
    checkpointer: Checkpointer,
    requests: mpsc::Receiver<WriteRequest>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("baton-db-writer".into())
        .spawn(move || run(connection, checkpointer, requests))
        .map(drop)
}

fn run(mut connection: Connection, checkpointer: Checkpointer, mut requests: mpsc::Receiver<WriteRequest>) {
    let mut cache = WriterCache::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut shutdown = None;
    while let Some(first) = requests.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        if let Some(at) = batch.iter().position(|r| matches!(r, WriteRequest::Shutdown { .. })) {
            batch.drain(at..).for_each(|request| match request {
                WriteRequest::Shutdown { done } if shutdown.is_none() => shutdown = Some(done),
                other => other.unanswered().into_iter().for_each(Answer::send),
            });
        }
        if cache.len() >= MAX_CACHED_CONVERSATIONS {
            cache.clear();
        }
        if !batch.is_empty() {
            match run_batch(&mut connection, &mut cache, std::mem::take(&mut batch)) {
                Ok(answers) => {
                    answers.into_iter().for_each(Answer::send);
                    checkpointer.committed();
                }
                Err((answers, operation, detail)) => {
                    tracing::error!(operation, error = %detail, "a write batch was rolled back");
                    cache.clear();
                    answers.into_iter().for_each(|a| a.fail(operation, &detail));
                }
            }
        }
        if shutdown.is_some() {
            break;
        }
        if checkpointer.take_catch_up() {
            // Between batches, once this batch is answered: copy back what the checkpointer
            // has not; the next write then rewinds the log.
            if let Err(e) = passive_checkpoint(&connection) {
                tracing::warn!(error = %e, "checkpoint before rewinding the log failed");
            }
        }
    }
    requests.close();
    while let Ok(request) = requests.try_recv() {
        request.unanswered().into_iter().for_each(Answer::send);
    }
    drop(checkpointer);
    if let Err((_, e)) = connection.close() {
        tracing::warn!(error = %e, "closing the database writer");
    }
    if let Some(done) = shutdown {
        let _ = done.send(());
    }
}

type BatchFailure = (Vec<Answer>, &'static str, String);

/// Runs and commits one batch. On a database error, returns every answer slot to be failed.
fn run_batch(
    connection: &mut Connection,
    cache: &mut WriterCache,
    batch: Vec<WriteRequest>,
) -> Result<Vec<Answer>, BatchFailure> {
    // IMMEDIATE takes the write lock up front; a deferred BEGIN could fail with SQLITE_BUSY
    // when upgrading to a write.
    let tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let answers = batch.into_iter().filter_map(WriteRequest::unanswered).collect();
            return Err((answers, "starting a transaction", e.to_string()));
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    let mut touched: Vec<ConversationId> = Vec::new();
    let mut failure: Option<String> = None;
    for request in batch {
        if failure.is_some() {
            answers.extend(request.unanswered());
            continue;
        }
        let answer = match request {
            WriteRequest::Create { new, now, reply } => {
                let outcome = create_in(&tx, new, stored_precision(now));
                if let Ok((record, _)) = &outcome {
                    cache.insert(record.id, record.clone());
                }
                Answer::Created(reply, outcome)
            }
            WriteRequest::Execute {
                id,
                command,
                now,
                reply,
            } => {
                let outcome = execute_in(&tx, cache, id, command, stored_precision(now));
                if outcome
                    .as_ref()
                    .is_ok_and(|executed| !executed.replayed && !executed.events.is_empty())
                {
                    touched.push(id);
                }
                Answer::Executed(reply, outcome)
            }
            WriteRequest::InsertAgent { new, now, reply } => Answer::AgentInserted(reply, insert_agent(&tx, &new, now)),
            WriteRequest::CreateSession { session, reply } => Answer::Flag(reply, create_session(&tx, &session)),
            WriteRequest::RevokeSession { token_hash, reply } => Answer::Flag(reply, revoke_session(&tx, token_hash)),
            WriteRequest::ResetPassword {
                email,
                password_hash,
                reply,
            } => Answer::Flag(reply, reset_password(&tx, &email, &password_hash)),
            WriteRequest::Claim {
                work,
                holder,
                now,
                until,
                reply,
            } => Answer::Flag(reply, claim(&tx, &work, holder, now, until)),
            WriteRequest::Shutdown { done } => {
                let _ = done.send(());
                continue;
            }
        };
        failure = answer.backend_error();
        answers.push(answer);
    }
    if let Some(detail) = failure {
        return Err((answers, "writing a batch", detail));
    }
    touched.sort_unstable();
    touched.dedup();
    for id in touched {
        let Some(record) = cache.get(&id) else { continue };
        if let Err(e) = update_conversation(&tx, record) {
            return Err((answers, "updating a conversation", e.to_string()));
        }
    }
    if let Err(e) = tx.commit() {
        return Err((answers, "committing a batch", e.to_string()));
    }
    Ok(answers)
}

impl WriteRequest {
    /// The answer slot of a request that will not run (its batch failed, or the writer is
    /// stopping); a shutdown request is answered at once.
    fn unanswered(self) -> Option<Answer> {
        Some(match self {
            WriteRequest::Execute { reply, .. } => Answer::Executed(reply, Err(writer_stopped("batch"))),
            WriteRequest::Create { reply, .. } => Answer::Created(reply, Err(writer_stopped("batch"))),
            WriteRequest::InsertAgent { reply, .. } => Answer::AgentInserted(reply, Err(writer_stopped("batch"))),
            WriteRequest::CreateSession { reply, .. }
            | WriteRequest::RevokeSession { reply, .. }
            | WriteRequest::ResetPassword { reply, .. }
            | WriteRequest::Claim { reply, .. } => Answer::Flag(reply, Err(writer_stopped("batch"))),
            WriteRequest::Shutdown { done } => {
                let _ = done.send(());
                return None;
            }
        })
    }
}

/// The stored event for `client_message_id` in this conversation, if any, found through the
/// unique index (checked by a test on the query plan). Only retries need it.
fn stored_message_sql() -> String {
    format!("SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id = ?1 AND client_message_id = ?2")
}

fn stored_message(tx: &Connection, id: ConversationId, client_message_id: &str) -> Result<Option<Event>, StoreError> {
    tx.prepare_cached(&stored_message_sql())
        .and_then(|mut lookup| {
            lookup
                .query_row(
                    params![&id.0.as_bytes()[..], client_message_id],
                    EventRow::from_rusqlite,
                )
                .optional()
        })
        .map_err(backend("reading a client message id"))?
        .map(EventRow::into_event)
        .transpose()
}

fn load_conversation(tx: &Connection, id: ConversationId) -> Result<Option<ConversationRecord>, StoreError> {
    tx.prepare_cached(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = ?1"
    ))
    .and_then(|mut select| {
        select
            .query_row(params![&id.0.as_bytes()[..]], ConversationRow::from_rusqlite)
            .optional()
    })
    .map_err(backend("loading a conversation"))?
    .map(ConversationRow::into_record)
    .transpose()
}

/// What appending an event did.
enum Appended {
    Stored,
    /// A unique index already holds the event's `client_message_id` or its `seq`.
    AlreadyStored,
}

fn insert_event(tx: &Connection, event: &Event) -> Result<Appended, StoreError> {
    let body = serde_json::to_string(&event.kind).map_err(|e| corrupt("event body", e))?;
    tx.prepare_cached(
        "INSERT INTO events (conversation_id, seq, at, type, client_message_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            &event.conversation_id.0.as_bytes()[..],
            sql_seq(event.seq),
            micros(event.at),
            event.kind.type_name(),
            event.client_message_id().map(|c| c.as_str()),
            body,
        ])
    })
    .map(|_| Appended::Stored)
    .or_else(|e| match e.sqlite_error_code() {
        // A unique index refused the row: its client message id is stored (a retry), or its
        // seq is (a fault; the caller tells them apart by looking the message up).
        Some(rusqlite::ErrorCode::ConstraintViolation)
            if e.sqlite_error().map(|f| f.extended_code) == Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE) =>
        {
            Ok(Appended::AlreadyStored)
        }
        _ => Err(backend("appending an event")(e)),
    })
}

/// Decides one command against the conversation's current state (as of earlier writes in
/// this batch), appends its events and records the outcome in the cache (the caller writes
/// the conversation row once per batch). A command whose `client_message_id` is already
/// stored answers with the stored event, whatever the conversation's state is now.
fn execute_in(
    tx: &Connection,
    cache: &mut WriterCache,
    id: ConversationId,
    command: Command,
    now: OffsetDateTime,
) -> Result<Executed, StoreError> {
    if let Entry::Vacant(slot) = cache.entry(id) {
        slot.insert(load_conversation(tx, id)?.ok_or(StoreError::ConversationNotFound(id))?);
    }
    if let Command::Accept {
        agent_id,
        capacity: Some(capacity),
        ..
    } = &command
    {
        // Rows are written once per batch: what this batch changed is in the cache.
        if serving(tx, cache, *agent_id)? >= *capacity as usize {
            return Err(StoreError::Rejected(Rejection::AtCapacity {
                agent_id: *agent_id,
                capacity: *capacity,
            }));
        }
    }
    let record = cache.get_mut(&id).ok_or(StoreError::ConversationNotFound(id))?;
    let replay = |record: ConversationRecord, command: &Command| -> Result<Option<Executed>, StoreError> {
        let Some(client_message_id) = command.client_message_id() else {
            return Ok(None);
        };
        stored_message(tx, id, client_message_id.as_str())?
            .map(|original| Executed::replay_of(record, original, command))
            .transpose()
    };
    let decision = match record.state().decide(command.clone(), now) {
        Ok(decision) => decision,
        // A retry of a message stored before the conversation moved on is still a retry.
        Err(rejection) => return replay(record.clone(), &command)?.ok_or(StoreError::Rejected(rejection)),
    };
    // Insert first, let the unique index catch a retry: that needs the client message id on
    // the first event, so nothing is written before the retry is recognised. A bot turn
    // carries it on its last event (the reply), so its retry is looked up before writing.
    let id_on_first = decision.events.first().and_then(Event::client_message_id).is_some();
    if !id_on_first {
        if let Some(original) = replay(record.clone(), &command)? {
            return Ok(original);
        }
    }
    if decision.events.is_empty() {
        let unchanged = Executed {
            conversation: record.clone(),
            events: Vec::new(),
            replayed: false,
        };
        return Ok(replay(record.clone(), &command)?.unwrap_or(unchanged));
    }
    for (n, event) in decision.events.iter().enumerate() {
        match insert_event(tx, event)? {
            Appended::Stored => {}
            // Only the first event carries the client message id, so nothing of this
            // command was written. Not found under its client message id, the event's
            // seq was taken: the writer's view of the conversation is wrong.
            Appended::AlreadyStored if n == 0 => {
                return replay(record.clone(), &command)?
                    .ok_or_else(|| corrupt("event", format!("seq {} is already stored", event.seq)));
            }
            Appended::AlreadyStored => {
                return Err(corrupt("event", format!("seq {} is already stored", event.seq)));
            }
        }
    }
    record.advance(decision.state.phase, decision.state.last_seq, now);
    Ok(Executed {
        conversation: record.clone(),
        events: decision.events,
        replayed: false,
    })
}

/// How many conversations `agent` owns now: the stored rows, as this batch changed them.
fn serving(tx: &Connection, cache: &WriterCache, agent: AgentId) -> Result<usize, StoreError> {
    let mut statement = tx
        .prepare_cached("SELECT id FROM conversations WHERE agent_id = ?1 AND phase = 'with_agent'")
        .map_err(backend("counting an agent's conversations"))?;
    let stored: Vec<Vec<u8>> = statement
        .query_map(params![&agent.0.as_bytes()[..]], |row| row.get(0))
        .and_then(Iterator::collect)
        .map_err(backend("counting an agent's conversations"))?;
    let stored_elsewhere = stored
        .iter()
        .filter(|id| {
            let cached = uuid::Uuid::from_slice(id).ok().map(ConversationId);
            !cached.is_some_and(|c| cache.contains_key(&c))
        })
        .count();
    let in_batch = cache.values().filter(|r| r.phase.agent_id() == Some(agent)).count();
    Ok(stored_elsewhere + in_batch)
}

/// Writes the writer's view of a conversation back to its row.
fn update_conversation(tx: &Connection, record: &ConversationRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE conversations SET phase = ?1, agent_id = ?2, waiting_since = ?3, last_seq = ?4, updated_at = ?5 \
         WHERE id = ?6",
    )?
    .execute(params![
        record.phase.name().as_str(),
        record.phase.agent_id().map(|a| a.0.as_bytes().to_vec()),
        record.waiting_since.map(micros),
        sql_seq(record.last_seq),
        micros(record.updated_at),
        &record.id.0.as_bytes()[..],
    ])
}

/// Inserts a conversation and its first event inside the batch's transaction.
fn create_in(
    tx: &Connection,
    new: NewConversation,
    now: OffsetDateTime,
) -> Result<(ConversationRecord, Event), StoreError> {
    let decision = ConversationState::start(new.id, new.channel, new.language.clone(), new.customer.clone(), now);
    tx.prepare_cached(
        "INSERT INTO conversations (id, customer_token_hash, phase, agent_id, last_seq, channel, language, \
         customer_name, customer_email, customer_external_id, created_at, updated_at, waiting_since) \
         VALUES (?1, ?2, ?3, NULL, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, NULL)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            &new.id.0.as_bytes()[..],
            &new.customer_token_hash.0[..],
            decision.state.phase.name().as_str(),
            sql_seq(decision.state.last_seq),
            new.channel.as_str(),
            new.language.as_ref().map(Language::as_str),
            new.customer.name.as_deref(),
            new.customer.email.as_deref(),
            new.customer.external_id.as_deref(),
            micros(now),
        ])
    })
    .map_err(backend("creating a conversation"))?;
    for event in &decision.events {
        if let Appended::AlreadyStored = insert_event(tx, event)? {
            return Err(corrupt("new conversation", "its first event is already stored"));
        }
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

fn insert_agent(tx: &Connection, new: &NewAgent, now: OffsetDateTime) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO agents (id, email, display_name, role, password_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (email) DO NOTHING",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                &new.agent.id.0.as_bytes()[..],
                new.agent.email,
                new.agent.display_name,
                new.agent.role.as_str(),
                new.password_hash,
                micros(now),
            ])
        })
        .map_err(backend("creating an agent"))?;
    Ok(inserted == 1)
}

/// Records a session only while the agent's password hash is still the verified one, so a
/// login checked against a password that was reset meanwhile gets nothing.
fn create_session(tx: &Connection, session: &NewSession) -> Result<bool, StoreError> {
    tx.prepare_cached(
        "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) \
         SELECT ?1, id, ?3, ?4 FROM agents WHERE id = ?2 AND password_hash = ?5",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            &session.token_hash.0[..],
            &session.agent_id.0.as_bytes()[..],
            micros(session.now),
            micros(session.expires_at),
            session.verified_password_hash,
        ])
    })
    .map(|inserted| inserted == 1)
    .map_err(backend("creating a session"))
}

/// Ends a session now; true when there was one.
fn revoke_session(tx: &Connection, token_hash: TokenHash) -> Result<bool, StoreError> {
    tx.prepare_cached("DELETE FROM agent_sessions WHERE token_hash = ?1")
        .and_then(|mut delete| delete.execute(params![&token_hash.0[..]]))
        .map(|removed| removed > 0)
        .map_err(backend("revoking a session"))
}

/// Sets the password hash of the agent with `email` (case-insensitive) and ends every session
/// of theirs; false when there is no such agent.
fn reset_password(tx: &Connection, email: &str, password_hash: &str) -> Result<bool, StoreError> {
    let id: Option<Vec<u8>> = tx
        .prepare_cached("UPDATE agents SET password_hash = ?2 WHERE email = ?1 RETURNING id")
        .and_then(|mut update| {
            update
                .query_row(params![email, password_hash], |row| row.get(0))
                .optional()
        })
        .map_err(backend("resetting a password"))?;
    let Some(id) = id else { return Ok(false) };
    tx.prepare_cached("DELETE FROM agent_sessions WHERE agent_id = ?1")
        .and_then(|mut delete| delete.execute(params![id]))
        .map_err(backend("ending an agent's sessions"))?;
    Ok(true)
}

/// Takes the lease on `work` for `holder` unless an unexpired one is held.
fn claim(
    tx: &Connection,
    work: &str,
    holder: uuid::Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    tx.prepare_cached(
        "INSERT INTO work_claims (work, holder, until) VALUES (?1, ?2, ?3) \
         ON CONFLICT (work) DO UPDATE SET holder = excluded.holder, until = excluded.until \
         WHERE work_claims.until <= ?4",
    )
    .and_then(|mut upsert| upsert.execute(params![work, &holder.as_bytes()[..], micros(until), micros(now)]))
    .map(|changed| changed == 1)
    .map_err(backend("claiming work"))
}

#[cfg(test)]
mod tests {
    use super::stored_message_sql;

    const MIGRATIONS: [&str; 4] = [
        include_str!("../migrations/0001_conversations.sql"),
        include_str!("../migrations/0002_event_advances_conversation.sql"),
        include_str!("../migrations/0003_writer_advances_conversation.sql"),
        include_str!("../migrations/0004_events_in_append_order.sql"),
    ];

    fn migrated(up_to: usize) -> rusqlite::Connection {
        let connection = rusqlite::Connection::open_in_memory().expect("open");
        for migration in &MIGRATIONS[..up_to] {
            connection.execute_batch(migration).expect("schema");
        }
        connection
    }

    #[test]
    fn the_client_message_id_lookup_searches_the_unique_index() {
        let connection = migrated(MIGRATIONS.len());
        let mut plan = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {}", stored_message_sql()))
            .expect("plan");
        let steps: Vec<String> = plan
            .query_map(rusqlite::params![&b"a"[..], "x"], |row| row.get::<_, String>(3))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("steps");
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with("SEARCH events USING INDEX events_client_message_id")),
            "{steps:?}"
        );
    }

    #[test]
    fn moving_events_to_append_order_keeps_every_event_and_the_rules() {
        let connection = migrated(3);
        connection
            .execute_batch(
                "INSERT INTO conversations (id, customer_token_hash, phase, last_seq, channel, created_at, updated_at) \
                 VALUES (x'01', x'02', 'bot', 3, 'web', 0, 0), (x'03', x'04', 'bot', 1, 'web', 0, 0); \
                 INSERT INTO events (conversation_id, seq, at, type, client_message_id, body) VALUES \
                 (x'01', 1, 10, 'conversation_started', NULL, '{}'), (x'03', 1, 11, 'conversation_started', NULL, '{}'), \
                 (x'01', 2, 12, 'customer_message', 'm-1', '{\"text\":\"hi\"}'), \
                 (x'01', 3, 13, 'customer_message', 'm-2', '{\"text\":\"again\"}');",
            )
            .expect("old rows");
        connection.execute_batch(MIGRATIONS[3]).expect("migration");
        let rows: Vec<(Vec<u8>, i64, Option<String>, String)> = connection
            .prepare("SELECT conversation_id, seq, client_message_id, body FROM events ORDER BY conversation_id, seq")
            .expect("select")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            vec![
                (vec![1], 1, None, "{}".to_owned()),
                (vec![1], 2, Some("m-1".to_owned()), r#"{"text":"hi"}"#.to_owned()),
                (vec![1], 3, Some("m-2".to_owned()), r#"{"text":"again"}"#.to_owned()),
                (vec![3], 1, None, "{}".to_owned()),
            ]
        );
        let refused = |sql: &str| connection.execute_batch(sql).expect_err(sql).to_string();
        assert!(refused("UPDATE events SET body = 'x'").contains("append-only"));
        assert!(refused("DELETE FROM events").contains("append-only"));
        assert!(refused(
            "INSERT INTO events (conversation_id, seq, at, type, body) VALUES (x'01', 3, 14, 'system_note', '{}')"
        )
        .contains("UNIQUE"));
        assert!(refused(
            "INSERT INTO events (conversation_id, seq, at, type, client_message_id, body) \
             VALUES (x'01', 4, 14, 'customer_message', 'm-1', '{}')"
        )
        .contains("UNIQUE"));
    }
}

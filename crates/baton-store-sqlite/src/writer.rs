//! The single writer of a SQLite database, with group commit.
//!
//! Every write (a command on a conversation, or a new conversation) is queued to one task.
//! It takes every write waiting, up to [`MAX_BATCH`], and runs them in order in one
//! transaction: it reads the stored `client_message_id`s the batch names in one query, lets
//! the domain decide each command against the conversation's current state (kept in a cache,
//! since only this task changes conversations), appends all new events with one multi-row
//! INSERT, updates the conversations whose phase changed, commits, and only then answers each
//! caller. Nothing is acknowledged before it is durable; a database error anywhere in the batch
//! rolls the whole batch back and fails every write in it (none was acknowledged).

use crate::rows::{backend, corrupt, event_from_row, insert_events, load_conversation, micros, stored_precision};
use baton_domain::{Command, ConversationId, ConversationState, Event, Language, Phase};
use baton_store::{same_message, ConversationRecord, Executed, NewConversation, StoreError};
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::HashMap;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// Most writes committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// Entries above which the writer cache starts over.
const MAX_CACHED_CONVERSATIONS: usize = 50_000;

/// Pairs per lookup of stored client message ids (2 parameters each).
const LOOKUP_CHUNK: usize = 400;

/// The writer's view of the conversations it has read or written, so a message to an active
/// conversation needs no read. Only the writer changes conversation rows, so the cache cannot
/// go stale; it is cleared whenever a batch rolls back.
type WriterCache = HashMap<ConversationId, ConversationRecord>;

/// Messages already stored (or stored earlier in this batch), by conversation and client id.
type KnownMessages = HashMap<(ConversationId, String), Event>;

/// One write waiting for the writer task.
pub(crate) enum WriteRequest {
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

impl WriteRequest {
    /// The answer slot of a request that will not run.
    fn unanswered(self) -> Answer {
        match self {
            WriteRequest::Execute { reply, .. } => Answer::Executed(reply, Err(writer_stopped("batch"))),
            WriteRequest::Create { reply, .. } => Answer::Created(reply, Err(writer_stopped("batch"))),
        }
    }
}

pub(crate) fn writer_stopped(operation: &'static str) -> StoreError {
    StoreError::Backend {
        operation,
        source: "the database writer has stopped".into(),
    }
}

/// Runs until every sender is gone.
pub(crate) async fn run_writer(pool: SqlitePool, mut requests: mpsc::Receiver<WriteRequest>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut cache = WriterCache::new();
    while requests.recv_many(&mut batch, MAX_BATCH).await > 0 {
        if cache.len() >= MAX_CACHED_CONVERSATIONS {
            cache.clear();
        }
        let answers = match run_batch(&pool, &mut cache, std::mem::take(&mut batch)).await {
            Ok(answers) => answers,
            Err((answers, operation, detail)) => {
                cache.clear();
                answers.into_iter().for_each(|a| a.fail(operation, &detail));
                continue;
            }
        };
        answers.into_iter().for_each(Answer::send);
    }
}

type BatchFailure = (Vec<Answer>, &'static str, String);

/// Runs and commits one batch. On a database error, returns every answer slot to be failed.
async fn run_batch(
    pool: &SqlitePool,
    cache: &mut WriterCache,
    batch: Vec<WriteRequest>,
) -> Result<Vec<Answer>, BatchFailure> {
    // IMMEDIATE takes the write lock up front, waiting (busy_timeout) for a checkpoint that
    // holds it; a deferred BEGIN would fail with SQLITE_BUSY when upgrading to a write.
    let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            return Err((
                batch.into_iter().map(WriteRequest::unanswered).collect(),
                "starting a transaction",
                e.to_string(),
            ))
        }
    };
    let mut known = match known_messages(&mut tx, &batch).await {
        Ok(known) => known,
        Err(e) => {
            return Err((
                batch.into_iter().map(WriteRequest::unanswered).collect(),
                "reading client message ids",
                e.to_string(),
            ))
        }
    };
    let mut answers = Vec::with_capacity(batch.len());
    let mut changed_phase: Vec<ConversationId> = Vec::new();
    let mut failure: Option<(&'static str, String)> = None;
    for request in batch {
        if failure.is_some() {
            answers.push(request.unanswered());
            continue;
        }
        match request {
            WriteRequest::Create { new, now, reply } => {
                let outcome = match stored_precision(now) {
                    Ok(now) => create_in(&mut tx, new, now).await,
                    Err(e) => Err(e),
                };
                match &outcome {
                    Ok((record, _)) => {
                        cache.insert(record.id, record.clone());
                    }
                    Err(e @ StoreError::Backend { .. }) => failure = Some(("creating a conversation", e.to_string())),
                    Err(_) => {}
                }
                answers.push(Answer::Created(reply, outcome));
            }
            WriteRequest::Execute {
                id,
                command,
                now,
                reply,
            } => {
                let outcome = match stored_precision(now) {
                    Ok(now) => plan(&mut tx, cache, &mut known, id, command, now).await,
                    Err(e) => Err(e),
                };
                match &outcome {
                    Ok((_, true)) => changed_phase.push(id),
                    Err(e @ StoreError::Backend { .. }) => failure = Some(("reading a conversation", e.to_string())),
                    _ => {}
                }
                answers.push(Answer::Executed(reply, outcome.map(|(executed, _)| executed)));
            }
        }
    }
    if let Some((operation, detail)) = failure {
        return Err((answers, operation, detail));
    }
    // Every new event of the batch, in order, in one statement.
    let inserted = {
        let new_events: Vec<&Event> = answers
            .iter()
            .filter_map(|a| match a {
                Answer::Executed(_, Ok(executed)) if !executed.replayed => Some(executed.events.iter()),
                _ => None,
            })
            .flatten()
            .collect();
        insert_events(&mut tx, &new_events).await
    };
    if let Err(e) = inserted {
        return Err((answers, "appending events", e.to_string()));
    }
    changed_phase.dedup();
    for id in changed_phase {
        let Some(record) = cache.get(&id) else { continue };
        let updated = sqlx::query("UPDATE conversations SET phase = ?, agent_id = ?, waiting_since = ? WHERE id = ?")
            .bind(record.phase.name().as_str())
            .bind(record.phase.agent_id().map(|a| a.0))
            .bind(record.waiting_since.map(micros))
            .bind(id.0)
            .execute(&mut *tx)
            .await;
        if let Err(e) = updated {
            return Err((answers, "updating a conversation", e.to_string()));
        }
    }
    if let Err(e) = tx.commit().await {
        return Err((answers, "committing events", e.to_string()));
    }
    Ok(answers)
}

/// Reads, in one query per chunk, the stored messages whose client ids this batch names.
async fn known_messages(tx: &mut SqliteConnection, batch: &[WriteRequest]) -> Result<KnownMessages, StoreError> {
    let pairs: Vec<(ConversationId, &str)> = batch
        .iter()
        .filter_map(|r| match r {
            WriteRequest::Execute { id, command, .. } => command.client_message_id().map(|c| (*id, c.as_str())),
            WriteRequest::Create { .. } => None,
        })
        .collect();
    let mut known = KnownMessages::new();
    for chunk in pairs.chunks(LOOKUP_CHUNK) {
        let sql = lookup_sql(chunk.len());
        let mut query = sqlx::query(&sql);
        for (id, cmid) in chunk {
            query = query.bind(id.0).bind(*cmid);
        }
        for row in query
            .fetch_all(&mut *tx)
            .await
            .map_err(backend("reading client message ids"))?
        {
            let event = event_from_row(&row)?;
            let cmid = event
                .client_message_id()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            known.insert((event.conversation_id, cmid), event);
        }
    }
    Ok(known)
}

/// The query for `pairs` (conversation id, client message id) pairs. A join on the VALUES list
/// (CROSS JOIN fixes the VALUES list as the outer loop) searches the unique index once per
/// pair whatever the table statistics say; a row-value `IN (VALUES ...)` would scan the
/// whole table (checked by a test on the query plan).
fn lookup_sql(pairs: usize) -> String {
    let mut sql = String::from("SELECT e.conversation_id, e.seq, e.at, e.body FROM (VALUES ");
    for i in 0..pairs {
        sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
    }
    sql.push_str(
        ") AS k CROSS JOIN events e ON e.conversation_id = k.column1 AND e.client_message_id = k.column2 \
         WHERE e.client_message_id IS NOT NULL",
    );
    sql
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

/// Decides one command against the conversation's current state (as of earlier writes in
/// this batch) and records the outcome in the cache; returns it and whether the phase
/// changed. Writes nothing: the batch appends the events afterwards.
async fn plan(
    tx: &mut SqliteConnection,
    cache: &mut WriterCache,
    known: &mut KnownMessages,
    id: ConversationId,
    command: Command,
    now: OffsetDateTime,
) -> Result<(Executed, bool), StoreError> {
    let record = match cache.get(&id) {
        Some(record) => record.clone(),
        None => {
            let record = load_conversation(tx, id)
                .await?
                .ok_or(StoreError::ConversationNotFound(id))?;
            cache.insert(id, record.clone());
            record
        }
    };
    let key = command.client_message_id().map(|c| (id, c.as_str().to_owned()));
    if let Some(original) = key.as_ref().and_then(|k| known.get(k)) {
        return replay_of(record, original.clone(), &command).map(|executed| (executed, false));
    }
    let decision = record.state().decide(command, now)?;
    if decision.events.is_empty() {
        return Ok((
            Executed {
                conversation: record,
                events: Vec::new(),
                replayed: false,
            },
            false,
        ));
    }
    let new_phase = decision.state.phase;
    let waiting_since = match (record.phase, new_phase) {
        (Phase::WaitingForAgent, Phase::WaitingForAgent) => record.waiting_since,
        (_, Phase::WaitingForAgent) => Some(now),
        _ => None,
    };
    let phase_changed = new_phase != record.phase || waiting_since != record.waiting_since;
    let conversation = ConversationRecord {
        phase: new_phase,
        last_seq: decision.state.last_seq,
        updated_at: now,
        waiting_since,
        ..record
    };
    cache.insert(id, conversation.clone());
    if let (Some(key), Some(first)) = (key, decision.events.first()) {
        known.insert(key, first.clone());
    }
    Ok((
        Executed {
            conversation,
            events: decision.events,
            replayed: false,
        },
        phase_changed,
    ))
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
    insert_events(&mut *tx, &decision.events.iter().collect::<Vec<_>>()).await?;
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

#[cfg(test)]
mod tests {
    use super::lookup_sql;
    use sqlx::Row;

    #[tokio::test]
    async fn the_client_message_id_lookup_searches_the_index() {
        let path = std::env::temp_dir().join(format!("baton-plan-{}.db", std::process::id()));
        let store = crate::SqliteStore::open(&path, crate::Durability::default())
            .await
            .expect("open");
        let plan = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", lookup_sql(3)))
            .bind(&b"a"[..])
            .bind("x")
            .bind(&b"b"[..])
            .bind("y")
            .bind(&b"c"[..])
            .bind("z")
            .fetch_all(&store.writer)
            .await
            .expect("plan");
        let steps: Vec<String> = plan.iter().map(|r| r.get::<String, _>("detail")).collect();
        assert!(steps.iter().any(|s| s.starts_with("SEARCH e USING")), "{steps:?}");
        assert!(
            !steps.iter().any(|s| s.starts_with("SCAN e") || s == "SCAN events"),
            "{steps:?}"
        );
        store.close().await;
        let _ = std::fs::remove_file(&path);
    }
}

//! PostgreSQL implementation of [`baton_store::Store`]: for several Baton instances sharing one
//! database.
//!
//! Each write is one transaction. A command on a conversation first locks the conversation's
//! row (`SELECT ... FOR UPDATE`), so commands on one conversation are serialized whichever
//! instance runs them, and sequence numbers neither repeat nor skip; commands on different
//! conversations never wait for each other. The unique indexes on `(conversation_id, seq)` and
//! `(conversation_id, client_message_id)` back this up, and a trigger refuses any change to a
//! stored event. Migrations run on connect, under sqlx's advisory lock, so instances starting
//! together apply them once.
//!
//! Each commit that appends events also sends a notification (`pg_notify`, delivered only if
//! the transaction commits) naming the conversation and the seqs appended; every instance
//! listens (see `notices`) and brings other instances' events to its own streams.
//!
//! This crate owns the SQL and the migrations for PostgreSQL and nothing else: no HTTP, no
//! domain rules (it asks `baton-domain` to decide and stores what it returns).

mod copy;
mod notices;
mod rows;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use baton_domain::{AgentId, Command, ConversationId, ConversationState, Event, Language, PhaseName};
use baton_store::{
    stored_precision, Agent, ConversationRecord, Executed, NewAgent, NewConversation, NewSession, Notices, SharedSeat,
    Store, StoreError, TokenHash, UNFINISHED,
};
use rows::{agent_from_row, sql_seq, ConversationRow, EventRow, CONVERSATION_COLUMNS, EVENT_COLUMNS};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a caller waits for a free connection before the store reports the database as
/// unavailable (health checks answer within this).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections one instance holds at most, unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

/// The PostgreSQL store: a pool of connections to one database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// This instance, so that it can tell its own notifications from other instances'.
    instance: uuid::Uuid,
    /// The notification channel: one per schema, so databases holding several Baton schemas
    /// (tests do) keep their instances apart.
    channel: String,
    /// How to connect, for the notice feed's own connection.
    options: std::sync::Arc<PgConnectOptions>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`, with
    /// `?sslmode=verify-full&sslrootcert=...` for a verified TLS link) and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::backend("parsing the database URL"))?;
        Self::connect_with(options, max_connections).await
    }

    /// Connects with prepared options (a schema on the search path, for example).
    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<Self, StoreError> {
        // A command that waits on a row lock, or an instance that stops in the middle of a
        // transaction, must not hold others up for long: they fail instead, and the client
        // gets a problem answer it may retry.
        let options = options.options([("lock_timeout", "10s"), ("idle_in_transaction_session_timeout", "30s")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::backend("connecting to PostgreSQL"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(StoreError::backend("applying migrations"))?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(StoreError::backend("reading the current schema"))?;
        Ok(Self {
            pool,
            instance: uuid::Uuid::new_v4(),
            channel: notices::channel(&schema),
            options: std::sync::Arc::new(options),
        })
    }

    /// Closes every connection once the queries under way have finished.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self, operation: &'static str) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(StoreError::backend(operation))
    }
}

/// One row of `agent_presence` (counts are written from `u32`s, so never negative).
fn shared_seat(row: &sqlx::postgres::PgRow) -> Result<SharedSeat, sqlx::Error> {
    let count = |column: &str| row.try_get::<i32, _>(column).map(|n| u32::try_from(n).unwrap_or(0));
    Ok(SharedSeat {
        agent_id: AgentId(row.try_get("agent_id")?),
        display_name: row.try_get("display_name")?,
        skills: row.try_get("skills")?,
        languages: row.try_get("languages")?,
        team: row.try_get("team")?,
        capacity: count("capacity")?,
        serving: count("serving")?,
        offered: count("offered")?,
    })
}

async fn commit(tx: Transaction<'static, Postgres>, operation: &'static str) -> Result<(), StoreError> {
    tx.commit().await.map_err(StoreError::backend(operation))
}

/// The conversation's row, locked until the transaction ends.
async fn lock_conversation(
    tx: &mut Transaction<'static, Postgres>,
    id: ConversationId,
) -> Result<ConversationRecord, StoreError> {
    sqlx::query_as::<_, ConversationRow>(&format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await
    .map_err(StoreError::backend("locking a conversation"))?
    .ok_or(StoreError::ConversationNotFound(id))?
    .into_record()
}

/// The event stored for `client_message_id` in this conversation, if any. Run after the lock,
/// as a statement of its own: its snapshot then includes whatever a twin of this message
/// committed while this transaction waited for the lock.
async fn stored_message(
    tx: &mut Transaction<'static, Postgres>,
    id: ConversationId,
    client_message_id: &str,
) -> Result<Option<Event>, StoreError> {
    sqlx::query_as::<_, EventRow>(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id = $1 AND client_message_id = $2"
    ))
    .bind(id.0)
    .bind(client_message_id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(StoreError::backend("reading a client message id"))?
    .map(EventRow::into_event)
    .transpose()
}

/// Events as the columns of one `UNNEST` insert.
struct EventColumns<'e> {
    seqs: Vec<i64>,
    ats: Vec<OffsetDateTime>,
    types: Vec<&'static str>,
    client_ids: Vec<Option<&'e str>>,
    bodies: Vec<String>,
}

impl<'e> EventColumns<'e> {
    fn of(events: &'e [Event]) -> Result<Self, StoreError> {
        let mut columns = EventColumns {
            seqs: Vec::with_capacity(events.len()),
            ats: Vec::with_capacity(events.len()),
            types: Vec::with_capacity(events.len()),
            client_ids: Vec::with_capacity(events.len()),
            bodies: Vec::with_capacity(events.len()),
        };
        for event in events {
            columns.seqs.push(sql_seq(event.seq));
            columns.ats.push(event.at);
            columns.types.push(event.kind.type_name());
            columns.client_ids.push(event.client_message_id().map(|c| c.as_str()));
            columns
                .bodies
                .push(serde_json::to_string(&event.kind).map_err(|e| StoreError::corrupt("event body", e))?);
        }
        Ok(columns)
    }
}

/// The statement that appends events given as columns (`$2` to `$6`, see [`EventColumns`])
/// to conversation `$1`: one statement however many there are. A macro so that `execute` can
/// make it part of its own statement with `concat!`.
macro_rules! insert_events_sql {
    () => {
        "INSERT INTO events (conversation_id, seq, at, type, client_message_id, body) \
         SELECT $1, e.seq, e.at, e.type, e.client_message_id, e.body::json \
         FROM UNNEST($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[]) \
         AS e (seq, at, type, client_message_id, body)"
    };
}

/// Appends `events` (one statement, however many there are).
async fn insert_events(tx: &mut Transaction<'static, Postgres>, events: &[Event]) -> Result<(), StoreError> {
    let Some(first) = events.first() else { return Ok(()) };
    let columns = EventColumns::of(events)?;
    sqlx::query(insert_events_sql!())
        .bind(first.conversation_id.0)
        .bind(columns.seqs)
        .bind(columns.ats)
        .bind(columns.types)
        .bind(columns.client_ids)
        .bind(columns.bodies)
        .execute(&mut **tx)
        .await
        .map_err(StoreError::backend("appending events"))?;
    Ok(())
}

impl PgStore {
    /// [`Store::execute`], in one transaction.
    async fn execute_in_transaction(
        &self,
        id: ConversationId,
        command: Command,
        now: OffsetDateTime,
    ) -> Result<Executed, StoreError> {
        let now = stored_precision(now);
        let mut tx = self.begin("executing a command").await?;
        let mut record = lock_conversation(&mut tx, id).await?;
        if let Some(client_message_id) = command.client_message_id() {
            if let Some(original) = stored_message(&mut tx, id, client_message_id.as_str()).await? {
                return Executed::replay_of(record, original, &command);
            }
        }
        if let Command::Accept {
            agent_id,
            capacity: Some(capacity),
            ..
        } = &command
        {
            // A lock per agent for the rest of the transaction, so accepts by one agent (on any
            // instance) are counted one after the other.
            let key = i64::from_be_bytes(agent_id.0.as_bytes()[..8].try_into().unwrap_or([0; 8]));
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend("locking an agent's seats"))?;
            let (serving,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM conversations WHERE agent_id = $1 AND phase = 'with_agent'")
                    .bind(agent_id.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::backend("counting an agent's conversations"))?;
            if serving >= i64::from(*capacity) {
                return Err(StoreError::Rejected(baton_domain::Rejection::AtCapacity {
                    agent_id: *agent_id,
                    capacity: *capacity,
                }));
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
        let appended = notices::payload(self.instance, id, record.last_seq + 1, decision.state.last_seq);
        record.advance(decision.state.phase, decision.state.last_seq, now);
        // The events, the conversation's row and the notification in one statement (one round
        // trip); PostgreSQL delivers the notification only when the transaction commits.
        let columns = EventColumns::of(&decision.events)?;
        let (inserted, updated): (i64, i64) = sqlx::query_as(concat!(
            "WITH appended AS (",
            insert_events_sql!(),
            " RETURNING 1), \
             moved AS ( \
                 UPDATE conversations SET phase = $7, agent_id = $8, waiting_since = $9, last_seq = $10, \
                 updated_at = $11 WHERE id = $1 RETURNING 1), \
             notified AS (SELECT pg_notify($12, $13)) \
             SELECT (SELECT count(*) FROM appended), (SELECT count(*) FROM moved) FROM notified"
        ))
        .bind(id.0)
        .bind(columns.seqs)
        .bind(columns.ats)
        .bind(columns.types)
        .bind(columns.client_ids)
        .bind(columns.bodies)
        .bind(record.phase.name().as_str())
        .bind(record.phase.agent_id().map(|a| a.0))
        .bind(record.waiting_since)
        .bind(sql_seq(record.last_seq))
        .bind(record.updated_at)
        .bind(&self.channel)
        .bind(appended)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::backend("appending events"))?;
        if inserted != decision.events.len() as i64 || updated != 1 {
            return Err(StoreError::corrupt(
                "appended events",
                format!(
                    "{inserted} of {} events stored, {updated} conversation rows moved",
                    decision.events.len()
                ),
            ));
        }
        commit(tx, "executing a command").await?;
        Ok(Executed {
            conversation: record,
            events: decision.events,
            replayed: false,
        })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend("ping"))?;
        Ok(())
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
        now: OffsetDateTime,
    ) -> Result<(ConversationRecord, Event), StoreError> {
        let now = stored_precision(now);
        let decision = ConversationState::start(new.id, new.channel, new.language.clone(), new.customer.clone(), now);
        let mut tx = self.begin("creating a conversation").await?;
        sqlx::query(
            "INSERT INTO conversations (id, customer_token_hash, phase, agent_id, last_seq, channel, language, \
             customer_name, customer_email, customer_external_id, created_at, updated_at, waiting_since) \
             VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, $10, NULL)",
        )
        .bind(new.id.0)
        .bind(&new.customer_token_hash.0[..])
        .bind(decision.state.phase.name().as_str())
        .bind(sql_seq(decision.state.last_seq))
        .bind(new.channel.as_str())
        .bind(new.language.as_ref().map(Language::as_str))
        .bind(new.customer.name.as_deref())
        .bind(new.customer.email.as_deref())
        .bind(new.customer.external_id.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend("creating a conversation"))?;
        insert_events(&mut tx, &decision.events).await?;
        commit(tx, "creating a conversation").await?;
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
            .ok_or_else(|| StoreError::corrupt("new conversation", "no first event"))?;
        Ok((record, first))
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationRecord>, StoreError> {
        sqlx::query_as::<_, ConversationRow>(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend("loading a conversation"))?
        .map(ConversationRow::into_record)
        .transpose()
    }

    async fn customer_token_hash(&self, id: ConversationId) -> Result<Option<TokenHash>, StoreError> {
        let row: Option<Vec<u8>> = sqlx::query_scalar("SELECT customer_token_hash FROM conversations WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend("reading a customer token hash"))?;
        row.map(|bytes| {
            <[u8; 32]>::try_from(bytes.as_slice())
                .map(TokenHash)
                .map_err(|e| StoreError::corrupt("token hash", e))
        })
        .transpose()
    }

    /// Locks the conversation, answers a retried `client_message_id` with the stored event
    /// (whatever the conversation's state is now), else decides and appends: the events, the
    /// conversation's row and the notification to other instances in one statement.
    async fn execute(&self, id: ConversationId, command: Command, now: OffsetDateTime) -> Result<Executed, StoreError> {
        self.execute_in_transaction(id, command, now).await
    }

    async fn events_after(&self, id: ConversationId, after: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        sqlx::query_as::<_, EventRow>(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(id.0)
        .bind(sql_seq(after))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend("reading events"))?
        .into_iter()
        .map(EventRow::into_event)
        .collect()
    }

    async fn waiting_conversations(&self, limit: u32) -> Result<Vec<ConversationRecord>, StoreError> {
        sqlx::query_as::<_, ConversationRow>(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE phase = 'waiting_for_agent' \
             ORDER BY waiting_since, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend("listing waiting conversations"))?
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
        let phases: Vec<&str> = phases.iter().map(PhaseName::as_str).collect();
        sqlx::query_as::<_, ConversationRow>(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations \
             WHERE phase = ANY($1) AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(phases)
        .bind(after.map(|id| id.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend("listing conversations by phase"))?
        .into_iter()
        .map(ConversationRow::into_record)
        .collect()
    }

    async fn agent_conversations(&self, agent_id: AgentId) -> Result<Vec<ConversationRecord>, StoreError> {
        sqlx::query_as::<_, ConversationRow>(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE agent_id = $1 AND phase = 'with_agent' \
             ORDER BY updated_at"
        ))
        .bind(agent_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend("listing an agent's conversations"))?
        .into_iter()
        .map(ConversationRow::into_record)
        .collect()
    }

    async fn insert_agent_if_absent(&self, new: NewAgent, now: OffsetDateTime) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO agents (id, email, display_name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT ((lower(email))) DO NOTHING",
        )
        .bind(new.agent.id.0)
        .bind(&new.agent.email)
        .bind(&new.agent.display_name)
        .bind(new.agent.role.as_str())
        .bind(&new.password_hash)
        .bind(stored_precision(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend("creating an agent"))?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn agent_credentials(&self, email: &str) -> Result<Option<(Agent, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, email, display_name, role, password_hash FROM agents WHERE lower(email) = lower($1)",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend("looking up an agent by email"))?;
        match row {
            None => Ok(None),
            Some(row) => {
                let hash: String = row
                    .try_get("password_hash")
                    .map_err(|e| StoreError::corrupt("agent row", e))?;
                Ok(Some((agent_from_row(&row)?, hash)))
            }
        }
    }

    async fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        sqlx::query("SELECT id, email, display_name, role FROM agents WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend("loading an agent"))?
            .as_ref()
            .map(agent_from_row)
            .transpose()
    }

    /// The agent's row is read `FOR SHARE`: a password reset under way (which updates that
    /// row and then ends the agent's sessions) either finishes first, and the hash no longer
    /// matches, or waits for this session to commit and then ends it.
    async fn create_session(&self, session: NewSession) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) \
             SELECT $1, id, $3, $4 FROM agents WHERE id = $2 AND password_hash = $5 FOR SHARE",
        )
        .bind(&session.token_hash.0[..])
        .bind(session.agent_id.0)
        .bind(stored_precision(session.now))
        .bind(stored_precision(session.expires_at))
        .bind(&session.verified_password_hash)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend("creating a session"))?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        sqlx::query("SELECT id, email, display_name, role FROM agents ORDER BY lower(email)")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend("listing agents"))?
            .iter()
            .map(agent_from_row)
            .collect()
    }

    async fn reset_password(&self, email: &str, password_hash: String) -> Result<bool, StoreError> {
        let mut tx = self.begin("resetting a password").await?;
        let id: Option<uuid::Uuid> =
            sqlx::query_scalar("UPDATE agents SET password_hash = $2 WHERE lower(email) = lower($1) RETURNING id")
                .bind(email)
                .bind(&password_hash)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::backend("resetting a password"))?;
        let Some(id) = id else { return Ok(false) };
        sqlx::query("DELETE FROM agent_sessions WHERE agent_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend("ending an agent's sessions"))?;
        commit(tx, "resetting a password").await?;
        Ok(true)
    }

    async fn revoke_session(&self, token_hash: TokenHash) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM agent_sessions WHERE token_hash = $1")
            .bind(&token_hash.0[..])
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend("revoking a session"))?;
        Ok(removed.rows_affected() > 0)
    }

    async fn claim(
        &self,
        work: &str,
        holder: uuid::Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        // Concurrent claims of one piece of work meet on its row: one inserts, the others see
        // the conflict and update only where the lease ran out.
        let claimed = sqlx::query(
            "INSERT INTO work_claims (work, holder, until) VALUES ($1, $2, $3) \
             ON CONFLICT (work) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
             WHERE work_claims.until <= $4",
        )
        .bind(work)
        .bind(holder)
        .bind(stored_precision(until))
        .bind(stored_precision(now))
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend("claiming work"))?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn share_presence(
        &self,
        instance: uuid::Uuid,
        on_duty: &[SharedSeat],
        holds: Duration,
    ) -> Result<(), StoreError> {
        const OPERATION: &str = "sharing presence";
        let mut tx = self.begin(OPERATION).await?;
        // This instance's old word goes, and any row whose word ran out a while ago (an
        // instance that died leaves its rows behind). Times are the database's own.
        sqlx::query("DELETE FROM agent_presence WHERE instance = $1 OR until < now() - interval '10 minutes'")
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend(OPERATION))?;
        for seat in on_duty {
            sqlx::query(
                "INSERT INTO agent_presence \
                 (instance, agent_id, display_name, skills, languages, team, capacity, serving, offered, until) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))",
            )
            .bind(instance)
            .bind(seat.agent_id.0)
            .bind(&seat.display_name)
            .bind(&seat.skills)
            .bind(&seat.languages)
            .bind(&seat.team)
            .bind(i32::try_from(seat.capacity).unwrap_or(i32::MAX))
            .bind(i32::try_from(seat.serving).unwrap_or(i32::MAX))
            .bind(i32::try_from(seat.offered).unwrap_or(i32::MAX))
            .bind(holds.as_secs_f64())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend(OPERATION))?;
        }
        commit(tx, OPERATION).await
    }

    async fn presence_elsewhere(&self, instance: uuid::Uuid) -> Result<Vec<SharedSeat>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (agent_id) agent_id, display_name, skills, languages, team, capacity, serving, offered \
             FROM agent_presence WHERE instance <> $1 AND until > now() \
             ORDER BY agent_id, serving + offered DESC, until DESC, instance",
        )
        .bind(instance)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend("reading shared presence"))?;
        rows.iter()
            .map(shared_seat)
            .collect::<Result<_, _>>()
            .map_err(StoreError::backend("reading shared presence"))
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn reserve_proof(&self, account: &str, limit: u32, window: Duration) -> Result<bool, StoreError> {
        const OPERATION: &str = "counting a proof attempt";
        let mut tx = self.begin(OPERATION).await?;
        // One attempt of an account at a time, across instances: the count and the new row
        // are one step.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('failed_proofs:' || $1, 0))")
            .bind(account)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend(OPERATION))?;
        // The account's failures past the window go; so do anyone's a day past it (accounts
        // that never try again).
        sqlx::query(
            "DELETE FROM failed_proofs WHERE (account = $1 AND at <= now() - make_interval(secs => $2)) \
             OR at < now() - make_interval(secs => $2) - interval '1 day'",
        )
        .bind(account)
        .bind(window.as_secs_f64())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend(OPERATION))?;
        let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM failed_proofs WHERE account = $1")
            .bind(account)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::backend(OPERATION))?;
        let taken = failed < i64::from(limit);
        if taken {
            sqlx::query("INSERT INTO failed_proofs (account, at) VALUES ($1, now())")
                .bind(account)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend(OPERATION))?;
        }
        commit(tx, OPERATION).await?;
        Ok(taken)
    }

    async fn clear_failed_proofs(&self, account: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM failed_proofs WHERE account = $1")
            .bind(account)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend("forgetting failed proofs"))?;
        Ok(())
    }

    async fn unfinished_work(
        &self,
        since: OffsetDateTime,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ConversationId>, StoreError> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(&format!(
            "SELECT c.id FROM conversations c JOIN events e ON e.conversation_id = c.id AND e.seq = c.last_seq \
             WHERE {UNFINISHED} AND e.at >= $1 AND e.at < $2 ORDER BY e.at LIMIT $3"
        ))
        .bind(since)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend("finding unanswered conversations"))?;
        Ok(ids.into_iter().map(ConversationId).collect())
    }

    async fn notices(&self) -> Result<Option<Box<dyn Notices>>, StoreError> {
        let feed = notices::PgNotices::listen((*self.options).clone(), self.channel.clone(), self.instance).await?;
        Ok(Some(Box::new(feed)))
    }

    async fn session_agent(&self, token_hash: TokenHash, now: OffsetDateTime) -> Result<Option<Agent>, StoreError> {
        sqlx::query(
            "SELECT a.id, a.email, a.display_name, a.role FROM agent_sessions s JOIN agents a ON a.id = s.agent_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(&token_hash.0[..])
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::backend("looking up a session"))?
        .as_ref()
        .map(agent_from_row)
        .transpose()
    }
}

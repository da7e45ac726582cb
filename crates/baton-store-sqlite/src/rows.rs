//! Row mapping and the small SQL helpers shared by the readers (sqlx) and the writer
//! (rusqlite): timestamps in microseconds, the raw column values of each table and their
//! conversion to records, and error wrapping.
//!
//! Both drivers fill the same row structs ([`ConversationRow`], [`EventRow`]), so the rules
//! for turning stored values into domain types are written once.

use baton_domain::{AgentId, Channel, ConversationId, CustomerProfile, Event, EventKind, Language, Phase, PhaseName};
use baton_store::{Agent, ConversationRecord, Role, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) fn backend<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    StoreError::backend(operation)
}

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::corrupt(what, detail)
}

/// A sequence number as SQLite stores it (an INTEGER is signed; no conversation gets near 2^63).
pub(crate) fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

pub(crate) fn from_micros(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000).map_err(|e| corrupt("timestamp", e))
}

fn uuid(what: &'static str, bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|e| corrupt(what, e))
}

/// The columns of `conversations` that make a [`ConversationRecord`], in this order.
pub(crate) const CONVERSATION_COLUMNS: &str = "id, phase, agent_id, last_seq, channel, language, customer_name, \
     customer_email, customer_external_id, created_at, updated_at, waiting_since";

/// One `conversations` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    id: Vec<u8>,
    phase: String,
    agent_id: Option<Vec<u8>>,
    last_seq: i64,
    channel: String,
    language: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_external_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    waiting_since: Option<i64>,
}

impl ConversationRow {
    /// Reads a row selected with [`CONVERSATION_COLUMNS`] through rusqlite.
    pub(crate) fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            phase: row.get(1)?,
            agent_id: row.get(2)?,
            last_seq: row.get(3)?,
            channel: row.get(4)?,
            language: row.get(5)?,
            customer_name: row.get(6)?,
            customer_email: row.get(7)?,
            customer_external_id: row.get(8)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
            waiting_since: row.get(11)?,
        })
    }

    pub(crate) fn into_record(self) -> Result<ConversationRecord, StoreError> {
        let agent_id = self.agent_id.map(|a| uuid("conversation agent id", &a)).transpose()?;
        let phase_name = PhaseName::parse(&self.phase).ok_or_else(|| corrupt("conversation phase", &self.phase))?;
        let phase = Phase::from_parts(phase_name, agent_id.map(AgentId))
            .ok_or_else(|| corrupt("conversation phase", format!("{phase_name} with agent {agent_id:?}")))?;
        Ok(ConversationRecord {
            id: ConversationId(uuid("conversation id", &self.id)?),
            phase,
            last_seq: u64::try_from(self.last_seq).map_err(|e| corrupt("last_seq", e))?,
            channel: Channel::parse(&self.channel).ok_or_else(|| corrupt("channel", &self.channel))?,
            language: self
                .language
                .map(Language::parse)
                .transpose()
                .map_err(|e| corrupt("language", e))?,
            customer: CustomerProfile {
                name: self.customer_name,
                email: self.customer_email,
                external_id: self.customer_external_id,
            },
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            waiting_since: self.waiting_since.map(from_micros).transpose()?,
        })
    }
}

/// The columns of `events` that make an [`Event`], in this order.
pub(crate) const EVENT_COLUMNS: &str = "conversation_id, seq, at, body";

/// One `events` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    conversation_id: Vec<u8>,
    seq: i64,
    at: i64,
    body: String,
}

impl EventRow {
    /// Reads a row selected with [`EVENT_COLUMNS`] through rusqlite.
    pub(crate) fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            conversation_id: row.get(0)?,
            seq: row.get(1)?,
            at: row.get(2)?,
            body: row.get(3)?,
        })
    }

    pub(crate) fn into_event(self) -> Result<Event, StoreError> {
        Ok(Event {
            conversation_id: ConversationId(uuid("event conversation id", &self.conversation_id)?),
            seq: u64::try_from(self.seq).map_err(|e| corrupt("event seq", e))?,
            at: from_micros(self.at)?,
            kind: serde_json::from_str::<EventKind>(&self.body).map_err(|e| corrupt("event body", e))?,
        })
    }
}

pub(crate) fn agent_from_row(row: &SqliteRow) -> Result<Agent, StoreError> {
    let get_err = |e: sqlx::Error| corrupt("agent row", e);
    let role: String = row.try_get("role").map_err(get_err)?;
    Ok(Agent {
        id: AgentId(row.try_get("id").map_err(get_err)?),
        email: row.try_get("email").map_err(get_err)?,
        display_name: row.try_get("display_name").map_err(get_err)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("agent role", &role))?,
    })
}

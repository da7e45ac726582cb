//! Row mapping: the columns of each table as PostgreSQL returns them, and their conversion to
//! the store's records.

use baton_domain::{AgentId, Channel, ConversationId, CustomerProfile, Event, EventKind, Language, Phase, PhaseName};
use baton_store::{Agent, ConversationRecord, Role, StoreError};
use sqlx::postgres::PgRow;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

/// A sequence number as PostgreSQL stores it (a bigint is signed; no conversation gets near 2^63).
pub(crate) fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The columns of `conversations` that make a [`ConversationRecord`], in this order.
pub(crate) const CONVERSATION_COLUMNS: &str = "id, phase, agent_id, last_seq, channel, language, customer_name, \
     customer_email, customer_external_id, created_at, updated_at, waiting_since";

/// One `conversations` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    id: Uuid,
    phase: String,
    agent_id: Option<Uuid>,
    last_seq: i64,
    channel: String,
    language: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_external_id: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    waiting_since: Option<OffsetDateTime>,
}

impl ConversationRow {
    pub(crate) fn into_record(self) -> Result<ConversationRecord, StoreError> {
        let phase_name =
            PhaseName::parse(&self.phase).ok_or_else(|| StoreError::corrupt("conversation phase", &self.phase))?;
        let phase = Phase::from_parts(phase_name, self.agent_id.map(AgentId)).ok_or_else(|| {
            StoreError::corrupt(
                "conversation phase",
                format!("{phase_name} with agent {:?}", self.agent_id),
            )
        })?;
        Ok(ConversationRecord {
            id: ConversationId(self.id),
            phase,
            last_seq: u64::try_from(self.last_seq).map_err(|e| StoreError::corrupt("last_seq", e))?,
            channel: Channel::parse(&self.channel).ok_or_else(|| StoreError::corrupt("channel", &self.channel))?,
            language: self
                .language
                .map(Language::parse)
                .transpose()
                .map_err(|e| StoreError::corrupt("language", e))?,
            customer: CustomerProfile {
                name: self.customer_name,
                email: self.customer_email,
                external_id: self.customer_external_id,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            waiting_since: self.waiting_since,
        })
    }
}

/// The columns of `events` that make an [`Event`], in this order (the body as the text stored).
pub(crate) const EVENT_COLUMNS: &str = "conversation_id, seq, at, body::text AS body";

/// One `events` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    conversation_id: Uuid,
    seq: i64,
    at: OffsetDateTime,
    body: String,
}

impl EventRow {
    pub(crate) fn into_event(self) -> Result<Event, StoreError> {
        Ok(Event {
            conversation_id: ConversationId(self.conversation_id),
            seq: u64::try_from(self.seq).map_err(|e| StoreError::corrupt("event seq", e))?,
            at: self.at,
            kind: serde_json::from_str::<EventKind>(&self.body).map_err(|e| StoreError::corrupt("event body", e))?,
        })
    }
}

pub(crate) fn agent_from_row(row: &PgRow) -> Result<Agent, StoreError> {
    let get_err = |e: sqlx::Error| StoreError::corrupt("agent row", e);
    let role: String = row.try_get("role").map_err(get_err)?;
    Ok(Agent {
        id: AgentId(row.try_get("id").map_err(get_err)?),
        email: row.try_get("email").map_err(get_err)?,
        display_name: row.try_get("display_name").map_err(get_err)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::corrupt("agent role", &role))?,
    })
}

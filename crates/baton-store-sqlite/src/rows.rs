//! Row mapping and the small SQL helpers shared by the reader and the writer: timestamps in
//! microseconds, conversions from rows to records, and error wrapping.

use baton_domain::{AgentId, Channel, ConversationId, CustomerProfile, Event, EventKind, Language, Phase, PhaseName};
use baton_store::{Agent, ConversationRecord, Role, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;
use uuid::Uuid;

pub(crate) fn backend(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::Backend {
        operation,
        source: Box::new(e),
    }
}

pub(crate) fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

pub(crate) fn from_micros(value: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(value) * 1_000).map_err(|e| corrupt("timestamp", e))
}

/// Times are stored in microseconds; events handed back must equal the stored ones.
pub(crate) fn stored_precision(at: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    from_micros(micros(at))
}

pub(crate) const CONVERSATION_COLUMNS: &str = "id, phase, agent_id, last_seq, channel, language, customer_name, \
     customer_email, customer_external_id, created_at, updated_at, waiting_since";

pub(crate) fn conversation_from_row(row: &SqliteRow) -> Result<ConversationRecord, StoreError> {
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

pub(crate) fn event_from_row(row: &SqliteRow) -> Result<Event, StoreError> {
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

/// Most events in one INSERT statement (6 parameters each, well under SQLite's limit).
const EVENTS_PER_INSERT: usize = 500;

/// Appends events with one multi-row INSERT per chunk.
pub(crate) async fn insert_events(conn: &mut SqliteConnection, events: &[&Event]) -> Result<(), StoreError> {
    for chunk in events.chunks(EVENTS_PER_INSERT) {
        let mut sql =
            String::from("INSERT INTO events (conversation_id, seq, at, type, client_message_id, body) VALUES ");
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?, ?)"
            });
        }
        let mut query = sqlx::query(&sql);
        for event in chunk {
            let body = serde_json::to_string(&event.kind).map_err(|e| corrupt("event body", e))?;
            query = query
                .bind(event.conversation_id.0)
                .bind(event.seq as i64)
                .bind(micros(event.at))
                .bind(event.kind.type_name())
                .bind(event.client_message_id().map(|c| c.as_str().to_owned()))
                .bind(body);
        }
        query.execute(&mut *conn).await.map_err(backend("appending events"))?;
    }
    Ok(())
}

pub(crate) async fn load_conversation(
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

//! Reading the whole database out and taking records in as they are, for `baton db copy`
//! (see `baton_store::copy`): PostgreSQL is usually the target, coming from SQLite.

use crate::rows::{agent_from_row, sql_seq, ConversationRow, CONVERSATION_COLUMNS};
use crate::{commit, insert_events, PgStore};
use async_trait::async_trait;
use baton_domain::{AgentId, ConversationId, Event, Language};
use baton_store::copy::{AgentRecord, Dump, Restore, SessionRecord};
use baton_store::{ConversationRecord, StoreError, TokenHash};
use sqlx::{FromRow, Row};

fn token_hash(bytes: &[u8], what: &'static str) -> Result<TokenHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenHash)
        .map_err(|e| StoreError::corrupt(what, e))
}

#[async_trait]
impl Dump for PgStore {
    async fn dump_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        sqlx::query("SELECT id, email, display_name, role, password_hash, created_at FROM agents ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend("reading agents"))?
            .iter()
            .map(|row| {
                let get_err = |e: sqlx::Error| StoreError::corrupt("agent row", e);
                Ok(AgentRecord {
                    agent: agent_from_row(row)?,
                    password_hash: row.try_get("password_hash").map_err(get_err)?,
                    created_at: row.try_get("created_at").map_err(get_err)?,
                })
            })
            .collect()
    }

    async fn dump_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        sqlx::query("SELECT token_hash, agent_id, created_at, expires_at FROM agent_sessions ORDER BY token_hash")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend("reading sessions"))?
            .iter()
            .map(|row| {
                let get_err = |e: sqlx::Error| StoreError::corrupt("session row", e);
                let hash: Vec<u8> = row.try_get("token_hash").map_err(get_err)?;
                Ok(SessionRecord {
                    token_hash: token_hash(&hash, "session token hash")?,
                    agent_id: AgentId(row.try_get("agent_id").map_err(get_err)?),
                    created_at: row.try_get("created_at").map_err(get_err)?,
                    expires_at: row.try_get("expires_at").map_err(get_err)?,
                })
            })
            .collect()
    }

    async fn dump_conversations(
        &self,
        after: Option<ConversationId>,
        limit: u32,
    ) -> Result<Vec<(ConversationRecord, TokenHash)>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS}, customer_token_hash FROM conversations \
             WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
        ))
        .bind(after.map(|id| id.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend("reading conversations"))?
        .iter()
        .map(|row| {
            let record = ConversationRow::from_row(row)
                .map_err(|e| StoreError::corrupt("conversation row", e))?
                .into_record()?;
            let hash: Vec<u8> = row
                .try_get("customer_token_hash")
                .map_err(|e| StoreError::corrupt("conversation row", e))?;
            Ok((record, token_hash(&hash, "customer token hash")?))
        })
        .collect()
    }
}

#[async_trait]
impl Restore for PgStore {
    async fn is_empty(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar(
            "SELECT NOT EXISTS (SELECT 1 FROM conversations) AND NOT EXISTS (SELECT 1 FROM agents) \
             AND NOT EXISTS (SELECT 1 FROM agent_sessions)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::backend("checking that the database is empty"))
    }

    async fn restore_agent(&self, record: &AgentRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agents (id, email, display_name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(record.agent.id.0)
        .bind(&record.agent.email)
        .bind(&record.agent.display_name)
        .bind(record.agent.role.as_str())
        .bind(&record.password_hash)
        .bind(record.created_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend("restoring an agent"))?;
        Ok(())
    }

    async fn restore_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.token_hash.0[..])
        .bind(session.agent_id.0)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend("restoring a session"))?;
        Ok(())
    }

    async fn restore_conversation(
        &self,
        record: &ConversationRecord,
        customer_token_hash: TokenHash,
        events: &[Event],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin("restoring a conversation").await?;
        sqlx::query(
            "INSERT INTO conversations (id, customer_token_hash, phase, agent_id, last_seq, channel, language, \
             customer_name, customer_email, customer_external_id, created_at, updated_at, waiting_since) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(record.id.0)
        .bind(&customer_token_hash.0[..])
        .bind(record.phase.name().as_str())
        .bind(record.phase.agent_id().map(|a| a.0))
        .bind(sql_seq(record.last_seq))
        .bind(record.channel.as_str())
        .bind(record.language.as_ref().map(Language::as_str))
        .bind(record.customer.name.as_deref())
        .bind(record.customer.email.as_deref())
        .bind(record.customer.external_id.as_deref())
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(record.waiting_since)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend("restoring a conversation"))?;
        for chunk in events.chunks(1_000) {
            insert_events(&mut tx, chunk).await?;
        }
        commit(tx, "restoring a conversation").await
    }
}

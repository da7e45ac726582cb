//! Moving a whole Baton database to another backend (`baton db copy`): every agent with their
//! password hash, every session, every conversation with its customer token hash and its whole
//! event log, kept as they are (ids, sequence numbers, times). The copy is checked afterwards by
//! reading the target back: the same counts, and each conversation's log gapless from 1 to its
//! last seq.
//!
//! Only trait calls: each backend says how to read all of itself ([`Dump`]) and how to take
//! records as they are ([`Restore`]).

use crate::{Agent, ConversationRecord, Store, StoreError, TokenHash};
use async_trait::async_trait;
use baton_domain::{AgentId, ConversationId, Event};
use time::OffsetDateTime;

/// Conversations read or written per page.
const PAGE: u32 = 500;

/// Events read per page of one conversation's log.
const EVENT_PAGE: u32 = 1_000;

/// An agent as stored, password hash included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub agent: Agent,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

/// A login session as stored (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: TokenHash,
    pub agent_id: AgentId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Reading a whole database out.
#[async_trait]
pub trait Dump: Store {
    /// Every agent, by id.
    async fn dump_agents(&self) -> Result<Vec<AgentRecord>, StoreError>;
    /// Every session, expired ones included.
    async fn dump_sessions(&self) -> Result<Vec<SessionRecord>, StoreError>;
    /// Up to `limit` conversations after `after`, in id order, with their customer token hash.
    async fn dump_conversations(
        &self,
        after: Option<ConversationId>,
        limit: u32,
    ) -> Result<Vec<(ConversationRecord, TokenHash)>, StoreError>;
}

/// Taking records in as they are, into an empty database.
#[async_trait]
pub trait Restore: Store {
    /// True when the database holds no conversation, agent or session.
    async fn is_empty(&self) -> Result<bool, StoreError>;
    async fn restore_agent(&self, agent: &AgentRecord) -> Result<(), StoreError>;
    async fn restore_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// One conversation and its whole log, in one transaction.
    async fn restore_conversation(
        &self,
        record: &ConversationRecord,
        customer_token_hash: TokenHash,
        events: &[Event],
    ) -> Result<(), StoreError>;
}

/// What a copy moved, counted on the source and checked on the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub agents: usize,
    pub sessions: usize,
    pub conversations: usize,
    pub events: u64,
}

/// Why a copy did not happen or did not check out.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target database is not empty; copy only into a new, empty database")]
    TargetNotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("conversation {conversation}: its log is not gapless (expected seq {expected}, found {found})")]
    Gap {
        conversation: ConversationId,
        expected: u64,
        found: u64,
    },
    #[error("the copy does not match its source: {what} (source {source_count}, target {target_count})")]
    Mismatch {
        what: &'static str,
        source_count: u64,
        target_count: u64,
    },
}

/// Copies everything in `from` into the empty `to`, then checks the target.
pub async fn copy(from: &dyn Dump, to: &dyn CopyTarget) -> Result<CopyReport, CopyError> {
    if !to.is_empty().await? {
        return Err(CopyError::TargetNotEmpty);
    }
    let mut copied = CopyReport::default();
    let agents = from.dump_agents().await?;
    for agent in &agents {
        to.restore_agent(agent).await?;
    }
    copied.agents = agents.len();
    let sessions = from.dump_sessions().await?;
    for session in &sessions {
        to.restore_session(session).await?;
    }
    copied.sessions = sessions.len();
    let mut after = None;
    loop {
        let page = from.dump_conversations(after, PAGE).await?;
        for (record, token_hash) in &page {
            let events = whole_log(from, record).await?;
            to.restore_conversation(record, *token_hash, &events).await?;
            copied.conversations += 1;
            copied.events += events.len() as u64;
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE as usize => after = Some(last.id),
            _ => break,
        }
    }
    let checked = census(to).await?;
    for (what, source_count, target_count) in [
        ("agents", copied.agents as u64, checked.agents as u64),
        ("sessions", copied.sessions as u64, checked.sessions as u64),
        (
            "conversations",
            copied.conversations as u64,
            checked.conversations as u64,
        ),
        ("events", copied.events, checked.events),
    ] {
        if source_count != target_count {
            return Err(CopyError::Mismatch {
                what,
                source_count,
                target_count,
            });
        }
    }
    Ok(copied)
}

/// A database a copy may go to: it takes records in and can be read back to check them.
pub trait CopyTarget: Restore + Dump {}

impl<T: Restore + Dump> CopyTarget for T {}

/// Counts everything in `store`, checking that each conversation's log runs from 1 to its
/// last seq without a gap.
pub async fn census(store: &dyn Dump) -> Result<CopyReport, CopyError> {
    let mut counted = CopyReport {
        agents: store.dump_agents().await?.len(),
        sessions: store.dump_sessions().await?.len(),
        ..CopyReport::default()
    };
    let mut after = None;
    loop {
        let page = store.dump_conversations(after, PAGE).await?;
        for (record, _) in &page {
            let events = whole_log(store, record).await?;
            counted.conversations += 1;
            counted.events += events.len() as u64;
        }
        match page.last() {
            Some((last, _)) if page.len() == PAGE as usize => after = Some(last.id),
            _ => break,
        }
    }
    Ok(counted)
}

/// A conversation's whole log, checked gapless from seq 1 to the record's last seq.
async fn whole_log(store: &dyn Dump, record: &ConversationRecord) -> Result<Vec<Event>, CopyError> {
    let mut events: Vec<Event> = Vec::new();
    loop {
        let after = events.last().map_or(0, |e| e.seq);
        let page = store.events_after(record.id, after, EVENT_PAGE).await?;
        let full = page.len() == EVENT_PAGE as usize;
        for event in page {
            let expected = events.len() as u64 + 1;
            if event.seq != expected {
                return Err(CopyError::Gap {
                    conversation: record.id,
                    expected,
                    found: event.seq,
                });
            }
            events.push(event);
        }
        if !full {
            break;
        }
    }
    if events.len() as u64 != record.last_seq {
        return Err(CopyError::Gap {
            conversation: record.id,
            expected: record.last_seq,
            found: events.len() as u64,
        });
    }
    Ok(events)
}

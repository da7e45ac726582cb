//! The storage contract of Baton: the [`Store`] trait that every database backend implements,
//! the records it returns, its error type, moving a whole database from one backend to another
//! (`copy`), and (feature `conformance`) the test suite each backend must pass so that SQLite
//! and PostgreSQL behave the same.
//!
//! This crate knows the domain types but no SQL and no HTTP. Rules about what may happen to a
//! conversation live in `baton-domain`; a backend loads the state, asks
//! [`ConversationState::decide`](baton_domain::ConversationState::decide), and stores the
//! events it returns in one transaction. Events are append-only: no backend updates or
//! deletes one.

use async_trait::async_trait;
use baton_domain::{
    AgentId, Channel, Command, ConversationId, ConversationState, CustomerProfile, Event, Language, Phase, PhaseName,
    Rejection,
};
use time::OffsetDateTime;

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod copy;

/// SHA-256 of a bearer token. Tokens themselves are never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

/// What the server knows about a conversation without reading its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub id: ConversationId,
    pub phase: Phase,
    pub last_seq: u64,
    pub channel: Channel,
    pub language: Option<Language>,
    pub customer: CustomerProfile,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// When the current wait for an agent began; `None` unless waiting.
    pub waiting_since: Option<OffsetDateTime>,
}

impl ConversationRecord {
    pub fn state(&self) -> ConversationState {
        ConversationState {
            id: self.id,
            phase: self.phase,
            last_seq: self.last_seq,
        }
    }

    /// Moves the record to where a decision taken at `now` left the conversation. A wait for
    /// an agent keeps the time it began; leaving the wait clears it.
    pub fn advance(&mut self, phase: Phase, last_seq: u64, now: OffsetDateTime) {
        self.waiting_since = match (self.phase, phase) {
            (Phase::WaitingForAgent, Phase::WaitingForAgent) => self.waiting_since,
            (_, Phase::WaitingForAgent) => Some(now),
            _ => None,
        };
        self.phase = phase;
        self.last_seq = last_seq;
        self.updated_at = now;
    }
}

/// A conversation to create.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: ConversationId,
    pub channel: Channel,
    pub language: Option<Language>,
    pub customer: CustomerProfile,
    pub customer_token_hash: TokenHash,
}

/// What [`Store::execute`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// The conversation after the command.
    pub conversation: ConversationRecord,
    /// The events recorded, in order; for a retried message, the event first recorded for it.
    pub events: Vec<Event>,
    /// True when the command repeated a `client_message_id` already stored: nothing new was
    /// written and `events` holds the original.
    pub replayed: bool,
}

/// What an agent may do beyond serving conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Agent,
    Supervisor,
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Role::Agent, Role::Supervisor, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// A person on the support side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub id: AgentId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
}

/// An agent to create, with an argon2id PHC string as the only form of their password.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub agent: Agent,
    pub password_hash: String,
}

/// A login session to record. It is recorded only while the agent's password hash is still
/// `verified_password_hash`, the one the password was checked against: a login that was being
/// checked while the password was reset gets no session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: TokenHash,
    pub agent_id: AgentId,
    pub verified_password_hash: String,
    pub now: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// An agent on duty on one instance, as that instance tells the others sharing the database
/// (shared presence): what routing needs to count their seats and show them to the team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSeat {
    pub agent_id: AgentId,
    pub display_name: String,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub team: Option<String>,
    pub capacity: u32,
    /// Conversations they own now.
    pub serving: u32,
    /// Offers out to them and not yet answered.
    pub offered: u32,
}

/// Why a store operation failed. Errors name the thing that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conversation {0} does not exist")]
    ConversationNotFound(ConversationId),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(
        "client_message_id `{client_message_id}` was already used in this conversation for a different message (seq {seq})"
    )]
    IdempotencyConflict { client_message_id: String, seq: u64 },
    #[error("an agent with email `{0}` already exists")]
    DuplicateAgent(String),
    #[error("stored data is not valid ({what}): {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("database error during {operation}: {source}")]
    Backend {
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// Wraps a driver error met during `operation` (for `map_err`).
    pub fn backend<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |e| StoreError::Backend {
            operation,
            source: Box::new(e),
        }
    }

    /// Stored data that does not make a valid `what`.
    pub fn corrupt(what: &'static str, detail: impl ToString) -> StoreError {
        StoreError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}

/// `at` as every backend stores it: to the microsecond. Events handed back must equal the
/// stored ones, so a backend stamps events with this.
pub fn stored_precision(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at.nanosecond();
    at.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(at)
}

impl Executed {
    /// The answer to `command` whose `client_message_id` is already stored as `original`:
    /// the original when it is the same message, [`StoreError::IdempotencyConflict`] when not.
    pub fn replay_of(conversation: ConversationRecord, original: Event, command: &Command) -> Result<Self, StoreError> {
        if same_message(&original, command) {
            Ok(Executed {
                conversation,
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
}

/// A commit, on this instance or another, appended seqs `from_seq..=to_seq` to a
/// conversation's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub conversation_id: ConversationId,
    pub from_seq: u64,
    pub to_seq: u64,
}

/// What a database shared by several instances tells each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Another instance committed these events (this instance's own are not announced).
    Appended(Appended),
    /// The feed was interrupted and notices may have been lost: whoever follows
    /// conversations should read what they hold back from the store.
    Missed,
}

/// Notices of other instances' commits, in commit order (see [`Store::notices`]).
#[async_trait]
pub trait Notices: Send {
    /// The next notice; an error when the database cannot be reached (the caller waits and
    /// asks again, and gets [`Notice::Missed`] once the feed is back).
    async fn next(&mut self) -> Result<Notice, StoreError>;
}

/// The durable home of conversations, events, agents and sessions.
///
/// Every method is one transaction. Implementations must serialize commands on the same
/// conversation so that sequence numbers never repeat or skip.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Answers when the database can serve a query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a conversation and records its `conversation_started` event (seq 1).
    async fn create_conversation(
        &self,
        new: NewConversation,
        now: OffsetDateTime,
    ) -> Result<(ConversationRecord, Event), StoreError>;

    async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationRecord>, StoreError>;

    /// The hash of the customer token that reads and writes this conversation.
    async fn customer_token_hash(&self, id: ConversationId) -> Result<Option<TokenHash>, StoreError>;

    /// Decides `command` against the stored state and records the resulting events. A
    /// message whose `client_message_id` is already stored for this conversation returns the
    /// original event (`replayed: true`) when it is the same message, and
    /// [`StoreError::IdempotencyConflict`] when it is not.
    async fn execute(&self, id: ConversationId, command: Command, now: OffsetDateTime) -> Result<Executed, StoreError>;

    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn events_after(&self, id: ConversationId, after: u64, limit: u32) -> Result<Vec<Event>, StoreError>;

    /// Conversations waiting for an agent, longest wait first.
    async fn waiting_conversations(&self, limit: u32) -> Result<Vec<ConversationRecord>, StoreError>;

    /// Conversations in any of `phases`, in id order (creation order), after `after`; for
    /// paging through them all (the bot's pick-up after a restart).
    async fn conversations_in_phases(
        &self,
        phases: &[PhaseName],
        after: Option<ConversationId>,
        limit: u32,
    ) -> Result<Vec<ConversationRecord>, StoreError>;

    /// Open conversations owned by `agent_id`.
    async fn agent_conversations(&self, agent_id: AgentId) -> Result<Vec<ConversationRecord>, StoreError>;

    /// Creates an agent unless one with the same email (case-insensitive) exists; returns
    /// whether it was created.
    async fn insert_agent_if_absent(&self, new: NewAgent, now: OffsetDateTime) -> Result<bool, StoreError>;

    /// The agent with this email and their password hash.
    async fn agent_credentials(&self, email: &str) -> Result<Option<(Agent, String)>, StoreError>;

    async fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError>;

    /// Records a login session (the token itself is never stored); false, and no session, when
    /// the agent's password changed since it was verified.
    async fn create_session(&self, session: NewSession) -> Result<bool, StoreError>;

    /// Every agent, by email.
    async fn agents(&self) -> Result<Vec<Agent>, StoreError>;

    /// Gives the agent with `email` (case-insensitive) a new password hash and ends all their
    /// sessions; false when there is no such agent.
    async fn reset_password(&self, email: &str, password_hash: String) -> Result<bool, StoreError>;

    /// Ends a session at once (logout); true when there was one to end.
    async fn revoke_session(&self, token_hash: TokenHash) -> Result<bool, StoreError>;

    /// The agent whose unexpired session has this token hash.
    async fn session_agent(&self, token_hash: TokenHash, now: OffsetDateTime) -> Result<Option<Agent>, StoreError>;

    /// Takes the lease on a piece of work that must be done once (`work` names it) for
    /// `holder` until `until`; true when nobody held it or the last lease ran out by `now`.
    /// Not even the holder takes it again before then, so work that keeps failing is tried
    /// once a lease, not in a loop. With several instances on one database, exactly one of
    /// those asking at once gets it.
    async fn claim(
        &self,
        work: &str,
        holder: uuid::Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` conversations where the bot may owe work, whose newest event was stored
    /// in `since..before`, oldest first: the bot owns them (`bot`, `handed_back`) and the
    /// newest event is a customer message (nobody answered it), or they wait for an agent and
    /// the newest event is the handoff request, its phase change or a customer message (the
    /// context package may be missing or out of date). The instance that owed it died, or its
    /// turn failed; the caller checks each against the conversation's memory.
    async fn unfinished_work(
        &self,
        since: OffsetDateTime,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ConversationId>, StoreError>;

    /// Tells the instances sharing this database which agents are on duty on `instance`,
    /// replacing what it said before; its word holds for `holds` by the database's clock (so
    /// instances whose clocks differ agree on it). A store only this process writes keeps
    /// nothing (the default): there is nobody to tell.
    async fn share_presence(
        &self,
        _instance: uuid::Uuid,
        _on_duty: &[SharedSeat],
        _holds: std::time::Duration,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// The agents other instances than `instance` said are on duty, whose word still holds,
    /// by agent (an agent on duty on two instances once, with the larger load).
    async fn presence_elsewhere(&self, _instance: uuid::Uuid) -> Result<Vec<SharedSeat>, StoreError> {
        Ok(Vec::new())
    }

    /// Whether other instances may write to this database too (PostgreSQL): then what must
    /// hold across instances is counted here. False (the default) for a store only this
    /// process writes.
    fn is_shared(&self) -> bool {
        false
    }

    /// Takes one of `account`'s proof-of-identity attempts (the CRM's customer id), counted as
    /// failed until [`Store::clear_failed_proofs`]: under a lock per account, true and counted
    /// when fewer than `limit` failed within `window` (by the database's clock), false and
    /// nothing counted otherwise. Only asked of a shared store; the default takes every
    /// attempt (a process alone counts in its memory).
    async fn reserve_proof(
        &self,
        _account: &str,
        _limit: u32,
        _window: std::time::Duration,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// A proof for `account` succeeded: its failures are forgotten on every instance.
    async fn clear_failed_proofs(&self, _account: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// The events other instances commit to this database, for a store that several
    /// instances share; `None` (the default) for a store only this process writes.
    async fn notices(&self) -> Result<Option<Box<dyn Notices>>, StoreError> {
        Ok(None)
    }
}

/// The SQL condition (on a conversation `c` joined to its newest event `e`) of
/// [`Store::unfinished_work`], the same in every backend.
pub const UNFINISHED: &str = "((c.phase IN ('bot', 'handed_back') AND e.type = 'customer_message') \
     OR (c.phase = 'waiting_for_agent' AND e.type IN ('customer_message', 'handoff_requested', 'phase_changed')))";

/// Checks that a retried message is the same message as the stored one.
pub fn same_message(stored: &Event, command: &Command) -> bool {
    use baton_domain::EventKind as K;
    match (&stored.kind, command) {
        (K::CustomerMessage { text, .. }, Command::PostCustomerMessage { text: t, .. })
        | (K::BotMessage { text, .. }, Command::PostBotMessage { text: t, .. }) => text == t,
        (K::BotMessage { text, .. }, Command::RecordBotTurn { reply: Some(reply), .. }) => text == &reply.text,
        (
            K::AgentMessage { agent_id, text, .. },
            Command::PostAgentMessage {
                agent_id: a, text: t, ..
            },
        ) => agent_id == a && text == t,
        _ => false,
    }
}

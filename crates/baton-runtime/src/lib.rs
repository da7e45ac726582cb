//! Runs conversations: the bot worker.
//!
//! After a customer message (or a new conversation) is stored, the server calls
//! [`Bot::notify`]. Each conversation gets at most one worker task at a time, so its messages
//! are handled in order, and a slow connector in one conversation delays no other. A turn:
//! fold the log into memory, analyse the message ([`baton_nlu::Analyzer`]), let the dialogue
//! decide ([`baton_dialogue::Turn`]), carry out the actions it asks for on the connectors and
//! the knowledge base, and record everything in one command through the store, where the
//! domain refuses a reply once the bot no longer owns the conversation.
//!
//! This crate is async and does I/O through the `Store` trait, the connectors and the
//! knowledge base; it knows nothing of HTTP. New events are announced through [`Announce`].

pub mod actions;
mod analysis;
pub mod handoff;
pub mod proofs;
pub mod router;

use baton_connectors::Connectors;
use baton_dialogue::memory::HandoffRecord;
use baton_dialogue::{
    DialogueConfig, KnowledgeHit, Memory, Step, Trigger, Turn, TurnOutcome, CLAIM_ACTION, ORDERS_ACTION, VERIFY_ACTION,
};
use baton_domain::{
    ActionOutcome, BotReply, ClientMessageId, Command, ConversationId, EscalationKind, EscalationReason, Event,
    EventKind, MessageText, PhaseName, Rejection,
};
use baton_handoff::{
    acknowledgment, build_package, EscalationPolicy, HandoffConfig, Message as EscalationMessage, PackageInput,
    TurnStart,
};
use baton_kb::{KnowledgeBase, MatchPolicy};
use baton_nlu::Analyzer;
use baton_store::{Store, StoreError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use time::OffsetDateTime;

pub use analysis::{analysis_record, model_version};

/// Where new events go once stored (the server's live hub).
pub trait Announce: Send + Sync {
    fn publish(&self, events: &[Event]);
}

/// Why a bot turn could not be carried out. The customer's message stays stored; the
/// conversation is picked up again on the next notification or restart.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the bot's reply text is not valid ({0})")]
    Reply(String),
    #[error("the context package could not be written as JSON: {0}")]
    Package(#[from] serde_json::Error),
}

/// What the bot needs to serve.
pub struct BotParts {
    pub analyzer: Arc<Analyzer>,
    /// A digest of the NLU configuration, recorded with every analysis.
    pub model_version: String,
    pub dialogue: Arc<DialogueConfig>,
    pub connectors: Connectors,
    pub knowledge: Arc<KnowledgeBase>,
    pub match_policy: MatchPolicy,
    /// When to hand over, and what the agent is given.
    pub handoff: Arc<HandoffConfig>,
    pub policy: Arc<EscalationPolicy>,
    /// While the customer waits for a person, what they write is still understood and its
    /// details (an order number, an email) recorded for the agent's package; the bot says
    /// nothing.
    pub collect_while_waiting: bool,
}

/// Conversations whose memory is kept between turns; beyond this the oldest entries go.
const MEMORY_CACHE: usize = 10_000;
/// Events read from the store at a time.
const PAGE: u32 = 500;
/// Customer messages older than this when the bot gets to them are left to a person.
const RECOVERY_WINDOW: time::Duration = time::Duration::hours(1);
/// Tries of a conversation's work when the store fails, and the pause between them.
const TRIES: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Folds every event after `after` into `fold`, a page at a time.
async fn catch_up(
    store: &dyn Store,
    id: ConversationId,
    mut after: u64,
    mut fold: impl FnMut(&Event),
) -> Result<(), StoreError> {
    loop {
        let events = store.events_after(id, after, PAGE).await?;
        for event in &events {
            fold(event);
        }
        match events.last() {
            Some(last) if events.len() == PAGE as usize => after = last.seq,
            _ => return Ok(()),
        }
    }
}

/// A conversation's whole log, oldest first, read a page at a time.
pub async fn events_of(store: &dyn Store, id: ConversationId) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    catch_up(store, id, 0, |e| events.push(e.clone())).await?;
    Ok(events)
}

/// A conversation's memory, folded from its whole log.
pub async fn memory_of(store: &dyn Store, id: ConversationId) -> Result<Memory, StoreError> {
    let mut memory = Memory::new(id);
    catch_up(store, id, 0, |e| memory.apply(e)).await?;
    Ok(memory)
}

/// A reply cut to what a message may hold (a long address or an answer from a shop's system
/// could make it longer), at a character boundary.
fn bounded(text: String) -> String {
    match text.char_indices().nth(baton_domain::text::MAX_MESSAGE_CHARS - 1) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The bot worker.
pub struct Bot {
    store: Arc<dyn Store>,
    announce: Arc<dyn Announce>,
    parts: BotParts,
    /// Conversations with a worker running, and what arrived for it meanwhile.
    running: Mutex<HashMap<ConversationId, Inbox>>,
    memories: Mutex<HashMap<ConversationId, Folded>>,
    /// Conversations whose handoff is being packaged right now.
    packaging: Mutex<HashSet<ConversationId>>,
    /// Counts uses of the memory cache, to find the least recently used entries.
    clock: AtomicU64,
    /// This worker, as the holder of the work it claims in the store.
    instance: uuid::Uuid,
    /// Routing, for the wait estimate in the package (absent when routing is off).
    router: std::sync::OnceLock<Arc<router::Router>>,
    /// Failed proofs of identity per account, over its conversations.
    proofs: proofs::FailedProofs,
}

/// How long a claim on picked-up work lasts: a turn with slow connectors fits in it; after it,
/// another instance may take the work over.
const PICK_UP_LEASE: time::Duration = time::Duration::minutes(2);

/// A conversation's memory and the customer messages still to answer, oldest first.
struct Folded {
    memory: Memory,
    pending: VecDeque<Pending>,
    /// Customer messages written while they waited for a person.
    waiting: VecDeque<Pending>,
    /// When the worker last used this entry (for evicting the least recently used).
    used: u64,
}

/// What arrived for a running worker: whether to look again, and the events the server
/// stored meanwhile (folded without reading them back when they follow what the worker knows).
#[derive(Default)]
struct Inbox {
    more: bool,
    events: Vec<Event>,
}

/// Memory after a turn, with the turn's records folded in as the turn numbered them (from
/// the memory it began with), and how many records it made.
struct Turned {
    memory: Memory,
    records: usize,
}

/// A customer message waiting for the bot.
struct Pending {
    seq: u64,
    text: String,
    at: OffsetDateTime,
}

impl Folded {
    fn new(id: ConversationId) -> Self {
        Folded {
            memory: Memory::new(id),
            pending: VecDeque::new(),
            waiting: VecDeque::new(),
            used: 0,
        }
    }

    /// Folds `events` when they continue the log exactly where memory is; false when there is
    /// a gap (or nothing is known yet beyond them), and the store must be read instead.
    fn fold_following(&mut self, events: &[Event]) -> bool {
        let first = self.memory.last_seq + 1;
        let new: Vec<&Event> = events.iter().filter(|e| e.seq >= first).collect();
        if !(first..).zip(&new).all(|(expected, event)| event.seq == expected) {
            return false;
        }
        for event in new {
            self.fold(event);
        }
        true
    }

    fn fold(&mut self, event: &Event) {
        if event.seq <= self.memory.last_seq {
            return;
        }
        self.memory.apply(event);
        // What the customer wrote while waiting is collected during that wait only: once the
        // wait ends, a person (or the bot) reads it, and a later wait must not collect it.
        if self.memory.phase != PhaseName::WaitingForAgent {
            self.waiting.clear();
        }
        if let EventKind::CustomerMessage { text, .. } = &event.kind {
            if self.memory.phase == PhaseName::WaitingForAgent {
                self.waiting.push_back(Pending {
                    seq: event.seq,
                    text: text.as_str().to_owned(),
                    at: event.at,
                });
            }
            if event.seq > self.memory.last_handled_seq {
                self.pending.push_back(Pending {
                    seq: event.seq,
                    text: text.as_str().to_owned(),
                    at: event.at,
                });
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Bot {
    pub fn new(store: Arc<dyn Store>, announce: Arc<dyn Announce>, parts: BotParts) -> Arc<Self> {
        let verification = &parts.dialogue.verification;
        let proofs = proofs::FailedProofs::new(
            verification.max_failures_per_account,
            Duration::from_secs(u64::from(verification.account_window_minutes) * 60),
            store.is_shared().then(|| store.clone()),
        );
        Arc::new(Bot {
            store,
            announce,
            parts,
            running: Mutex::new(HashMap::new()),
            memories: Mutex::new(HashMap::new()),
            packaging: Mutex::new(HashSet::new()),
            clock: AtomicU64::new(0),
            instance: uuid::Uuid::new_v4(),
            router: std::sync::OnceLock::new(),
            proofs,
        })
    }

    /// Gives the bot the router whose wait estimate its packages carry.
    pub fn attach_router(&self, router: Arc<router::Router>) {
        let _ = self.router.set(router);
    }

    /// Claims the pick-up of `id` as its log stands at `last_seq`, so that of several
    /// instances (or a restart racing a sweep) one answers. A store error leaves it for the
    /// next sweep.
    async fn claim_pick_up(&self, id: ConversationId, last_seq: u64) -> bool {
        let now = OffsetDateTime::now_utc();
        let work = format!("bot:{}:{last_seq}", id.0);
        match self.store.claim(&work, self.instance, now, now + PICK_UP_LEASE).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(conversation = %id, error = %e, "could not claim an unanswered conversation");
                false
            }
        }
    }

    /// Does what nobody did: answers customer messages and packages handoffs left unfinished
    /// for longer than `older_than` (the instance owing them died, or its turn failed), within
    /// the last hour (older ones are left to a person, as at start). Each is claimed in the
    /// store first, so one instance does it. Returns how many were taken.
    pub async fn take_over_stale(self: &Arc<Self>, older_than: Duration) -> Result<usize, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut taken = 0;
        for id in self
            .store
            .unfinished_work(now - RECOVERY_WINDOW, now - older_than, PAGE)
            .await?
        {
            if lock(&self.running).contains_key(&id) {
                continue;
            }
            let memory = match memory_of(&*self.store, id).await {
                Ok(memory) => memory,
                Err(e) => {
                    tracing::error!(conversation = %id, error = %e, "cannot read an unfinished conversation");
                    continue;
                }
            };
            let unanswered = memory.bot_owns() && memory.has_unanswered_message();
            let due = handoff::due(&memory, self.parts.handoff.max_package_versions).is_some();
            if (unanswered || due) && self.claim_pick_up(id, memory.last_seq).await {
                taken += 1;
                self.notify(id);
            }
        }
        Ok(taken)
    }

    /// Runs [`Bot::take_over_stale`] every `older_than / 3` (at least every second), for the
    /// life of the process.
    pub fn sweep_stale(self: &Arc<Self>, older_than: Duration) -> tokio::task::JoinHandle<()> {
        let bot = self.clone();
        let period = (older_than / 3).max(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match bot.take_over_stale(older_than).await {
                    Ok(0) => {}
                    Ok(taken) => tracing::info!(conversations = taken, "took over unanswered conversations"),
                    Err(e) => tracing::warn!(error = %e, "looking for unanswered conversations failed"),
                }
            }
        })
    }

    /// Something happened in the conversation the bot may need to answer; the worker reads
    /// what is new from the store.
    pub fn notify(self: &Arc<Self>, id: ConversationId) {
        self.deliver(id, &[], true);
    }

    /// Events the server just stored for `id`. A running worker takes them into its inbox (so
    /// it need not read them back); with `wake`, a worker is started if none runs.
    pub fn deliver(self: &Arc<Self>, id: ConversationId, events: &[Event], wake: bool) {
        let mut running = lock(&self.running);
        if let Some(inbox) = running.get_mut(&id) {
            inbox.more |= wake;
            inbox.events.extend_from_slice(events);
            // A handoff never waits for the worker's turn (which may wait on a slow
            // connector): its package is built apart, at once.
            if events
                .iter()
                .any(|e| matches!(e.kind, EventKind::HandoffRequested { .. }))
            {
                drop(running);
                let bot = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = bot.package_if_due(id).await {
                        tracing::warn!(conversation = %id, error = %e, "packaging a handoff failed; the worker tries again");
                    }
                });
            }
            return;
        }
        if !wake {
            return;
        }
        running.insert(
            id,
            Inbox {
                more: false,
                events: events.to_vec(),
            },
        );
        drop(running);
        let bot = self.clone();
        tokio::spawn(async move { bot.work(id).await });
    }

    /// The memory the worker holds between turns (folded event by event as it served),
    /// if the conversation is cached: it must equal a fold of the whole log.
    pub fn cached_memory(&self, id: ConversationId) -> Option<Memory> {
        lock(&self.memories).get(&id).map(|state| state.memory.clone())
    }

    /// The handoff configuration the bot packages with (for openers rendered per agent).
    pub fn handoff_config(&self) -> &HandoffConfig {
        &self.parts.handoff
    }

    /// Whether no worker is running and no handoff is being packaged (for tests and
    /// shutdown).
    pub fn is_idle(&self) -> bool {
        lock(&self.running).is_empty() && lock(&self.packaging).is_empty()
    }

    async fn work(self: Arc<Self>, id: ConversationId) {
        loop {
            let inbox = lock(&self.running)
                .get_mut(&id)
                .map(|inbox| {
                    inbox.more = false;
                    std::mem::take(&mut inbox.events)
                })
                .unwrap_or_default();
            for attempt in 1..=TRIES {
                let arrived: &[Event] = if attempt == 1 { &inbox } else { &[] };
                match self.serve(id, arrived).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(conversation = %id, error = %e, attempt, "bot turn failed");
                        lock(&self.memories).remove(&id);
                        if attempt < TRIES {
                            tokio::time::sleep(RETRY_PAUSE).await;
                        }
                    }
                }
            }
            let mut running = lock(&self.running);
            if !running.get(&id).is_some_and(|inbox| inbox.more) {
                running.remove(&id);
                return;
            }
        }
    }

    /// Picks up every conversation the bot owns whose last customer message has no recorded
    /// analysis (or that was never greeted), and every handoff without its context package:
    /// what a crash left unanswered.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, StoreError> {
        let mut after = None;
        let mut count = 0;
        loop {
            let page = self
                .store
                .conversations_in_phases(
                    &[
                        PhaseName::Bot,
                        PhaseName::HandedBack,
                        PhaseName::WaitingForAgent,
                        PhaseName::WithAgent,
                    ],
                    after,
                    PAGE,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for conversation in &page {
                // One conversation that cannot be read must not keep the others (or the
                // server) from starting: it is logged and left for a person.
                let memory = match memory_of(&*self.store, conversation.id).await {
                    Ok(memory) => memory,
                    Err(e) => {
                        tracing::error!(conversation = %conversation.id, error = %e, "cannot read a conversation to pick it up");
                        continue;
                    }
                };
                let unanswered = memory.bot_owns()
                    && (memory.has_unanswered_message() || (!memory.greeted && memory.last_customer_seq == 0));
                let due = unanswered || handoff::due(&memory, self.parts.handoff.max_package_versions).is_some();
                if due && self.claim_pick_up(conversation.id, memory.last_seq).await {
                    count += 1;
                    self.notify(conversation.id);
                }
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        Ok(count)
    }

    /// The conversation's memory (cached, or folded from the start of the log) brought up to
    /// date: with the events that `arrived` when they follow it, else from the store.
    async fn read_memory(&self, id: ConversationId, arrived: &[Event]) -> Result<Folded, StoreError> {
        let cached = lock(&self.memories).remove(&id);
        let mut state = cached.unwrap_or_else(|| Folded::new(id));
        self.bring_up_to_date(&mut state, arrived).await?;
        Ok(state)
    }

    /// Folds `events` if they continue memory exactly; otherwise reads what is new.
    async fn bring_up_to_date(&self, state: &mut Folded, events: &[Event]) -> Result<(), StoreError> {
        if events.is_empty() || !state.fold_following(events) {
            self.catch_up(state).await?;
        }
        Ok(())
    }

    /// Puts back the memory a turn worked on: when the store numbered the turn's records as
    /// the turn did (nothing came between), it is the fold of the log, and what else was
    /// stored (the reply, a handoff) is folded on; otherwise the conversation is read again.
    async fn take_back(&self, state: &mut Folded, turned: Turned, recorded: &[Event]) -> Result<(), StoreError> {
        let Turned { memory, records } = turned;
        let first = (memory.last_seq + 1).saturating_sub(records as u64);
        let numbered_alike = recorded.len() >= records
            && recorded[..records]
                .iter()
                .zip(first..)
                .all(|(event, seq)| event.seq == seq);
        if numbered_alike {
            state.memory = memory;
            let rest = &recorded[records..];
            if rest.is_empty() && !recorded.is_empty() {
                return Ok(());
            }
            self.bring_up_to_date(state, rest).await
        } else {
            *state = Folded::new(memory.conversation_id);
            self.catch_up(state).await
        }
    }

    async fn catch_up(&self, state: &mut Folded) -> Result<(), StoreError> {
        catch_up(&*self.store, state.memory.conversation_id, state.memory.last_seq, |e| {
            state.fold(e)
        })
        .await
    }

    fn remember(&self, mut state: Folded) {
        let mut memories = lock(&self.memories);
        if memories.len() >= MEMORY_CACHE {
            // Drop the least recently used tenth at once, so a full cache is not scanned on
            // every turn.
            let mut uses: Vec<u64> = memories.values().map(|s| s.used).collect();
            let cut = uses.len() / 10;
            let (_, limit, _) = uses.select_nth_unstable(cut);
            let limit = *limit;
            memories.retain(|_, s| s.used > limit);
        }
        state.used = self.clock.fetch_add(1, Ordering::Relaxed);
        memories.insert(state.memory.conversation_id, state);
    }

    async fn serve(&self, id: ConversationId, arrived: &[Event]) -> Result<(), RuntimeError> {
        let mut state = self.read_memory(id, arrived).await?;
        if state.memory.bot_owns() && !state.memory.greeted && state.memory.last_customer_seq == 0 {
            let memory = std::mem::replace(&mut state.memory, Memory::new(id));
            let (recorded, turned) = self.turn(memory, Trigger::Started).await?;
            self.take_back(&mut state, turned, &recorded).await?;
        }
        while let Some(Pending { seq, text, at }) = state.pending.pop_front() {
            if !state.memory.bot_owns() || seq <= state.memory.last_handled_seq {
                continue;
            }
            // Picked up after a long outage (or the bot newly enabled on an old database): an
            // answer days late would confuse more than it helps; a person sees the message.
            if OffsetDateTime::now_utc() - at > RECOVERY_WINDOW {
                continue;
            }
            let today = OffsetDateTime::now_utc().date();
            let analysis = self
                .parts
                .analyzer
                .analyze(&text, state.memory.language.as_deref(), today);
            let analysis = analysis_record(&analysis, &self.parts.model_version);
            let memory = std::mem::replace(&mut state.memory, Memory::new(id));
            let (recorded, turned) = self.turn(memory, Trigger::Message { seq, text, analysis }).await?;
            self.take_back(&mut state, turned, &recorded).await?;
        }
        while let Some(Pending { seq, text, at }) = state.waiting.pop_front() {
            let analysed = state.memory.intents.iter().any(|t| t.message_seq == seq);
            let fresh = OffsetDateTime::now_utc() - at <= RECOVERY_WINDOW;
            if !self.parts.collect_while_waiting
                || state.memory.phase != PhaseName::WaitingForAgent
                || analysed
                || !fresh
            {
                continue;
            }
            let recorded = self.collect(&state.memory, seq, text).await?;
            self.bring_up_to_date(&mut state, &recorded).await?;
        }
        if handoff::due(&state.memory, self.parts.handoff.max_package_versions).is_some() {
            let recorded = self.package_if_due(id).await?;
            self.bring_up_to_date(&mut state, &recorded).await?;
        }
        self.remember(state);
        Ok(())
    }

    /// Packages the conversation's handoff if it is due, reading memory afresh from the store
    /// (the package may have been recorded meanwhile by a task started apart from a busy
    /// worker); one packaging per conversation at a time.
    async fn package_if_due(&self, id: ConversationId) -> Result<Vec<Event>, RuntimeError> {
        if !lock(&self.packaging).insert(id) {
            return Ok(Vec::new());
        }
        let result = async {
            let memory = memory_of(&*self.store, id).await?;
            match handoff::due(&memory, self.parts.handoff.max_package_versions).cloned() {
                Some(handoff) => self.package(&memory, &handoff).await,
                None => Ok(Vec::new()),
            }
        }
        .await;
        lock(&self.packaging).remove(&id);
        result
    }

    /// Builds and records the next version of `handoff`'s context package (with the
    /// customer's acknowledgment for the first), waiting on connectors at most the budget.
    async fn package(&self, memory: &Memory, handoff: &HandoffRecord) -> Result<Vec<Event>, RuntimeError> {
        let id = memory.conversation_id;
        let config = &self.parts.handoff;
        let budget = Duration::from_millis(config.refresh_budget_ms);
        let snapshot = handoff::refresh(&self.parts.connectors, memory, budget).await;
        let mut transcript = Vec::new();
        catch_up(&*self.store, id, 0, |e| {
            if e.seq == 1 || e.kind.client_message_id().is_some() || matches!(e.kind, EventKind::SystemNote { .. }) {
                transcript.push(e.clone());
            }
        })
        .await?;
        let version = handoff.package_version + 1;
        let now = OffsetDateTime::now_utc();
        let now = now.replace_microsecond(now.microsecond()).unwrap_or(now);
        let package = build_package(
            PackageInput {
                memory,
                events: &transcript,
                handoff,
                snapshot: &snapshot,
                version,
                now,
                wait_estimate_seconds: self.router.get().and_then(|r| r.estimate_for(memory)),
            },
            config,
        );
        // The customer is told once, and only while the news is fresh: a handoff picked up
        // long after (an old database, a long outage) gets its package without a late note.
        let fresh = now - handoff.at < RECOVERY_WINDOW;
        let acknowledgment = match version {
            1 if fresh => Some(
                MessageText::parse(bounded(acknowledgment(&package, config)))
                    .map_err(|e| RuntimeError::Reply(e.to_string()))?,
            ),
            _ => None,
        };
        if !package.degraded.is_empty() {
            let sources: Vec<&str> = package.degraded.iter().map(|d| d.source.as_str()).collect();
            tracing::warn!(conversation = %id, handoff = %handoff.id, ?sources, "handoff package built without some sources");
        }
        let command = Command::RecordHandoffPackage {
            handoff_id: handoff.id,
            version,
            package: serde_json::to_value(&package)?,
            acknowledgment,
        };
        let executed = self.store.execute(id, command, now).await?;
        self.announce.publish(&executed.events);
        Ok(executed.events)
    }

    /// Understands a message the customer wrote while waiting for a person and records what it
    /// holds (the analysis, details that fill slots) for the agent's package: no reply, no
    /// action, no flow moved; the agent answers.
    async fn collect(&self, memory: &Memory, seq: u64, text: String) -> Result<Vec<Event>, RuntimeError> {
        let today = OffsetDateTime::now_utc().date();
        let analysis = self.parts.analyzer.analyze(&text, memory.language.as_deref(), today);
        let analysis = analysis_record(&analysis, &self.parts.model_version);
        let now = OffsetDateTime::now_utc();
        let now = now.replace_microsecond(now.microsecond()).unwrap_or(now);
        let understood = Turn::begin(
            memory,
            &self.parts.dialogue,
            Trigger::Message { seq, text, analysis },
            now,
        )
        .finish();
        let records: Vec<EventKind> = understood
            .records
            .into_iter()
            .filter(|r| matches!(r, EventKind::MessageAnalyzed { .. } | EventKind::SlotFilled { .. }))
            .collect();
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let command = Command::RecordBotTurn {
            records,
            reply: None,
            handoff: None,
        };
        let executed = self.store.execute(memory.conversation_id, command, now).await?;
        self.announce.publish(&executed.events);
        Ok(executed.events)
    }

    /// Runs one turn on memory (handed over, not copied) to its end and records it; returns
    /// the events stored and memory with the turn's records folded in (see [`Turned`]).
    async fn turn(&self, memory: Memory, trigger: Trigger) -> Result<(Vec<Event>, Turned), RuntimeError> {
        let id = memory.conversation_id;
        let start = TurnStart::of(&memory);
        let reply_id = match &trigger {
            Trigger::Started => "bot:greeting".to_owned(),
            Trigger::Message { seq, .. } => format!("bot:{seq}"),
        };
        // One instant for the turn and its events, at the store's precision (microseconds),
        // so the turn's view of memory is the one the log will give.
        let now = OffsetDateTime::now_utc();
        let now = now.replace_microsecond(now.microsecond()).unwrap_or(now);
        let message = match &trigger {
            Trigger::Message { seq, text, analysis } => Some((*seq, text.clone(), analysis.clone())),
            Trigger::Started => None,
        };
        let policy = &self.parts.policy;
        let check = |memory_now: &Memory, after: Option<&TurnStart>| match &message {
            Some((seq, text, analysis)) => {
                let message = EscalationMessage {
                    seq: *seq,
                    text,
                    analysis,
                    at: now,
                };
                match after {
                    None => policy.before_turn(memory_now, &message),
                    Some(start) => policy.after_turn(start, memory_now, &message),
                }
            }
            None => Vec::new(),
        };
        let mut turn = Turn::begin_with(memory, &self.parts.dialogue, trigger, now);
        // What the message itself says may hand over at once: the bot then does nothing but
        // record what it understood.
        let early = check(turn.memory(), None);
        let (outcome, handoff, memory) = if !early.is_empty() {
            let (understood, memory) = turn.finish_with_memory();
            let outcome = TurnOutcome {
                records: understood.records,
                reply: None,
                handoff: None,
            };
            (outcome, Some(policy.escalation(early)), memory)
        } else {
            loop {
                match turn.step() {
                    Step::Done => break,
                    Step::Call(call) => {
                        let result = actions::run(&self.parts.connectors, &self.proofs, &call, &id.to_string()).await;
                        tracing::debug!(conversation = %id, action = %call.action, outcome = ?result.outcome, "action");
                        turn.action_done(call, result);
                    }
                    Step::Search { query, language } => {
                        let hit = self
                            .parts
                            .knowledge
                            .search(&query, &language, 1)
                            .into_iter()
                            .next()
                            .filter(|hit| self.parts.match_policy.is_good(hit))
                            .map(|hit| KnowledgeHit {
                                article_id: hit.article_id,
                                title: hit.title,
                                language: hit.language,
                                url: hit.url,
                                passage: hit.passage,
                            });
                        turn.knowledge_found(hit);
                    }
                }
            }
            // Judged on the turn's own memory (no copy: this runs on every message).
            let late = check(turn.memory(), Some(&start));
            // A failed action's own answer says what could not be done ("I can't find that
            // order on your account"); other replies (another rephrase prompt, "try the proof
            // again") give way to the acknowledgment.
            let failed_now = turn.memory().actions.iter().any(|a| {
                a.seq > start.last_seq
                    && a.outcome != ActionOutcome::Ok
                    && ![VERIFY_ACTION, CLAIM_ACTION, ORDERS_ACTION].contains(&a.action.as_str())
            });
            let (outcome, memory) = turn.finish_with_memory();
            if !late.is_empty() {
                let outcome = TurnOutcome {
                    reply: outcome.reply.filter(|_| failed_now),
                    handoff: None,
                    records: outcome.records,
                };
                (outcome, Some(policy.escalation(late)), memory)
            } else {
                let handoff = outcome.handoff.clone().map(|detail| {
                    policy.escalation(vec![EscalationReason {
                        kind: EscalationKind::Explicit,
                        detail,
                        evidence: message.iter().map(|(seq, _, _)| *seq).collect(),
                    }])
                });
                (outcome, handoff, memory)
            }
        };
        let turned = Turned {
            memory,
            records: outcome.records.len(),
        };
        if let Some(escalation) = &handoff {
            let kinds: Vec<&str> = escalation.reasons.iter().map(|r| r.kind.as_str()).collect();
            tracing::info!(conversation = %id, ?kinds, priority = ?escalation.priority, "handing over to a person");
        }
        let reply = match outcome.reply {
            Some(reply) => Some(BotReply {
                text: MessageText::parse(bounded(reply.text)).map_err(|e| RuntimeError::Reply(e.to_string()))?,
                client_message_id: ClientMessageId::parse(reply_id).map_err(|e| RuntimeError::Reply(e.to_string()))?,
                suggestions: reply.suggestions,
            }),
            None => None,
        };
        let command = Command::RecordBotTurn {
            records: outcome.records.clone(),
            reply,
            handoff,
        };
        let executed = match self.store.execute(id, command, now).await {
            // An agent took over, or the conversation closed, while the bot worked: keep the
            // facts (an action that ran is recorded), drop the reply.
            Err(StoreError::Rejected(Rejection::BotNotOwner { .. } | Rejection::Closed { .. })) => {
                let facts = Command::RecordBotTurn {
                    records: outcome.records,
                    reply: None,
                    handoff: None,
                };
                self.store.execute(id, facts, now).await?
            }
            other => other?,
        };
        if executed.replayed {
            // Stored before (a repeated turn): what is new comes from the store.
            return Ok((Vec::new(), turned));
        }
        self.announce.publish(&executed.events);
        Ok((executed.events, turned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            conversation_id: ConversationId(uuid::Uuid::from_u128(7)),
            seq,
            at: OffsetDateTime::UNIX_EPOCH,
            kind,
        }
    }

    fn message(text: &str, id: &str) -> EventKind {
        EventKind::CustomerMessage {
            text: MessageText::parse(text).expect("text"),
            client_message_id: ClientMessageId::parse(id).expect("id"),
            hidden: Vec::new(),
        }
    }

    fn phase(from: PhaseName, to: PhaseName) -> EventKind {
        EventKind::PhaseChanged { from, to }
    }

    /// A message from a wait that ended before the bot collected it is not collected in a
    /// later wait, whether the worker folded the log as it came or read it again at once.
    #[test]
    fn messages_written_while_waiting_are_collected_in_that_wait_only() {
        use PhaseName::{Bot, WaitingForAgent, WithAgent};
        let log = [
            event(1, phase(Bot, WaitingForAgent)),
            event(2, message("my order is 54192", "c2")),
            event(3, phase(WaitingForAgent, WithAgent)),
            event(4, phase(WithAgent, WaitingForAgent)),
            event(5, message("still there?", "c5")),
        ];
        let mut state = Folded::new(ConversationId(uuid::Uuid::from_u128(7)));
        for e in &log[..3] {
            state.fold(e);
        }
        assert!(state.waiting.is_empty(), "the wait ended: nothing left to collect");
        for e in &log[3..] {
            state.fold(e);
        }
        let waiting: Vec<u64> = state.waiting.iter().map(|p| p.seq).collect();
        assert_eq!(waiting, [5], "only the message of the wait under way");
        let mut again = Folded::new(ConversationId(uuid::Uuid::from_u128(7)));
        assert!(again.fold_following(&log));
        let waiting: Vec<u64> = again.waiting.iter().map(|p| p.seq).collect();
        assert_eq!(waiting, [5]);
    }
}

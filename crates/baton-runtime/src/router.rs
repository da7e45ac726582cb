//! Routing at run time: the board of waiting handoffs and agents on duty, offers with their
//! timeouts, presence with its grace period, the customer's narration, and tickets when nobody
//! can take the case. The decisions themselves are `baton-routing`'s pure functions; this module
//! gathers their snapshot, carries them out through the store and records each as an event.
//!
//! How it learns: the server hands it every event the hub publishes ([`Router::observe`]),
//! its own and (through the relay) other instances', so the board is a fold over the log. Work
//! that must be done once is claimed in the store: each offer (`offer:{handoff}:{n}`), and the
//! duties of a waiting handoff (narration, estimates, tickets, expiring offers) for one minute
//! at a time (`route:{handoff}:{wait start}:{minute}`), so several instances never say the
//! same thing twice and a dead instance's duties pass to another within a minute.
//!
//! What an agent's own command causes (the join line, a transfer's line, the hand-back's) is
//! told by the instance that ran the command ([`Router::accepted`], [`Router::transferred`],
//! [`Router::handed_back`]). An agent is online where their streams are, and offered work only
//! there; instances sharing a database tell each other every two seconds who is on duty, so
//! estimates, "nobody on duty" and the team view count the whole team (docs/routing.md).

use crate::{bounded, events_of, lock, Announce};
use baton_connectors::{NewTicket, TicketPriority, TicketUpdate, Ticketing};
use baton_dialogue::Memory;
use baton_domain::{
    AgentId, Command, ConversationId, Event, EventKind, FollowUp, HandoffId, MessageText, OfferOutcome, PhaseName,
    Priority, Suggestion, TransferTarget, Values,
};
use baton_handoff::HandoffConfig;
use baton_routing::config::AgentProfile;
use baton_routing::plan::raised;
use baton_routing::{
    estimate, meaningful_change, order, plan, Cue, OnDuty, Openness, Presence, Routing, Staffing, Waiting,
};
use baton_store::{SharedSeat, Store, StoreError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// How often the board looks at its timers (offers, presence, narration).
const TICK: Duration = Duration::from_millis(250);
/// How long one instance keeps the duties of a waiting handoff before they are claimed again.
const DUTY_LEASE_SECONDS: i64 = 60;
/// Handle times remembered for the estimate, and how many are needed before they replace the
/// configured one.
const HANDLE_TIMES: usize = 50;
const HANDLE_TIMES_NEEDED: usize = 5;
/// Waiting conversations read back at once after the board lost track.
const RELOAD_LIMIT: u32 = 10_000;

/// How often an instance that shares its database tells the others who is on duty here (and
/// reads who is there), and how long its word holds: a few rounds, so one slow round does not
/// make a team vanish, and an instance that died stops counting within seconds.
const PRESENCE_EVERY: Duration = Duration::from_secs(2);
const PRESENCE_HOLDS_SECONDS: i64 = 10;

/// Agents on duty on the other instances sharing the database, as last read.
#[derive(Default)]
struct Elsewhere {
    seats: Vec<SharedSeat>,
    read_at: Option<OffsetDateTime>,
}

/// Why an agent could not take a conversation.
#[derive(Debug, thiserror::Error)]
pub enum SeatError {
    #[error("there is no offer of this conversation to you")]
    NoOffer,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An agent as the API shows their availability.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentStatus {
    pub agent_id: AgentId,
    pub display_name: String,
    pub presence: Presence,
    /// Conversations they own now.
    pub serving: u32,
    pub capacity: u32,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub team: Option<String>,
    /// Conversations offered to them and not yet answered.
    pub offers: Vec<ConversationId>,
}

/// Who an agent is, as the server knows them.
#[derive(Debug, Clone)]
pub struct AgentRef {
    pub id: AgentId,
    pub email: String,
    pub display_name: String,
}

struct Seat {
    name: String,
    profile: AgentProfile,
    presence: Presence,
    /// Away by the agent's own choice: a reconnecting stream does not bring them online.
    chose_away: bool,
    /// Streams open on this instance, and when the last one closed.
    streams: u32,
    lost_at: Option<OffsetDateTime>,
    owned: HashMap<ConversationId, OffsetDateTime>,
    offers: HashSet<ConversationId>,
    free_since: OffsetDateTime,
}

#[derive(Debug, Clone, Copy)]
struct OutOffer {
    agent: AgentId,
    expires_at: OffsetDateTime,
    /// Recorded in the log (false while this instance is recording it).
    recorded: bool,
}

/// What the customer was told during this wait.
#[derive(Debug, Clone, Default)]
struct Told {
    queued: bool,
    estimate: Option<u64>,
    last_line: Option<String>,
    last_at: Option<OffsetDateTime>,
    callback: bool,
    closed: bool,
    reviewing: bool,
}

struct Entry {
    handoff: HandoffId,
    queue: String,
    language: String,
    priority: Priority,
    since: OffsetDateTime,
    offer: Option<OutOffer>,
    offers_made: u32,
    passed: Vec<AgentId>,
    target: Option<AgentId>,
    ticket: Option<String>,
    contact: Option<String>,
    awaiting_contact: bool,
    told: Told,
    unstaffed_since: Option<OffsetDateTime>,
    /// The duty lease held, by minute of the wait; and a minute already lost to another.
    lease: Option<i64>,
    lost_lease: Option<i64>,
    /// A duty or an offer is being carried out for it.
    busy: bool,
    /// The newest event folded in.
    seen_seq: u64,
    /// A ticket failed; tried again after a progress period.
    ticket_failed_at: Option<OffsetDateTime>,
    /// The customer chose a callback or an email over waiting.
    wants: Option<FollowUp>,
    /// The customer gave the contact a ticket's note asked for: it goes onto the ticket.
    contact_for_ticket: bool,
    /// Every eligible agent passed on it twice: no offers until then (no offer every timeout
    /// to the same idle agent, forever).
    resting_until: Option<OffsetDateTime>,
}

#[derive(Default)]
struct Board {
    seats: HashMap<AgentId, Seat>,
    waiting: HashMap<ConversationId, Entry>,
    handle_times: VecDeque<u64>,
}

/// Something the customer is told, with the records that go with it.
struct Telling {
    records: Vec<EventKind>,
    cue: Option<Cue>,
    values: Values,
    suggestions: Vec<Suggestion>,
    /// Only while the customer still waits (a duty that an accept overtook says nothing).
    while_waiting: bool,
}

/// A duty that came due on the board.
enum Duty {
    Tell(Telling, TellKind),
    Expire {
        agent: AgentId,
    },
    Ticket(FollowUp),
    /// Adds the contact the customer gave to their ticket.
    Contact {
        ticket: String,
        contact: String,
    },
}

#[derive(Clone, Copy)]
enum TellKind {
    Queued(Option<u64>),
    Estimate(Option<u64>),
    Progress,
    Callback,
    Closed,
}

/// Routing's runtime: one per server.
pub struct Router {
    store: Arc<dyn Store>,
    announce: Arc<dyn Announce>,
    routing: Arc<Routing>,
    handoff: Arc<HandoffConfig>,
    tickets: Arc<dyn Ticketing>,
    board: Mutex<Board>,
    wake: tokio::sync::Notify,
    /// One accept at a time per agent on this instance, so the board learns each in turn
    /// (capacity itself is the store's to count).
    admissions: Mutex<HashMap<AgentId, Arc<tokio::sync::Mutex<()>>>>,
    instance: uuid::Uuid,
    /// Other instances share the database (their agents are not on this board).
    shared: std::sync::atomic::AtomicBool,
    /// Who is on duty there (shared presence).
    elsewhere: Mutex<Elsewhere>,
    /// Conversations to (re)place on the board, in the order they started waiting: placed one
    /// after the other, so a handoff never loses its turn to a later one read back faster.
    arrivals: tokio::sync::mpsc::UnboundedSender<ConversationId>,
    arrivals_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<ConversationId>>>,
}

fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    baton_store::stored_precision(now)
}

fn millis(d: time::Duration) -> u64 {
    d.whole_milliseconds().max(0) as u64
}

impl Router {
    pub fn new(
        store: Arc<dyn Store>,
        announce: Arc<dyn Announce>,
        routing: Arc<Routing>,
        handoff: Arc<HandoffConfig>,
        tickets: Arc<dyn Ticketing>,
    ) -> Arc<Self> {
        let (arrivals, arrivals_rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(Router {
            store,
            announce,
            routing,
            handoff,
            tickets,
            board: Mutex::new(Board::default()),
            wake: tokio::sync::Notify::new(),
            admissions: Mutex::new(HashMap::new()),
            instance: uuid::Uuid::new_v4(),
            shared: std::sync::atomic::AtomicBool::new(false),
            elsewhere: Mutex::new(Elsewhere::default()),
            arrivals,
            arrivals_rx: Mutex::new(Some(arrivals_rx)),
        })
    }

    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// Other instances share this database: agents on duty there are not on this board. The
    /// instances tell each other who is on duty (shared presence); while this router has not
    /// heard from them lately, "nobody on duty" is not its to decide (no such tickets).
    pub fn set_shared(&self) {
        self.shared.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn is_shared(&self) -> bool {
        self.shared.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads the conversations already waiting and runs the board for the life of the process.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let router = self.clone();
        let arrivals = lock(&self.arrivals_rx).take();
        tokio::spawn(async move {
            let Some(mut arrivals) = arrivals else {
                tracing::error!("the router was started twice");
                return;
            };
            router.reload().await;
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            if router.is_shared() {
                // One round after the other (never two at once), for as long as the router
                // lives; a round the database holds up is given up, not stacked.
                let weak = Arc::downgrade(&router);
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(PRESENCE_EVERY);
                    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        every.tick().await;
                        let Some(router) = weak.upgrade() else { return };
                        if tokio::time::timeout(PRESENCE_EVERY * 2, router.share_presence())
                            .await
                            .is_err()
                        {
                            tracing::warn!("sharing presence took over four seconds; trying again");
                        }
                    }
                });
            }
            loop {
                tokio::select! {
                    _ = tick.tick() => router.housekeeping().await,
                    () = router.wake.notified() => {}
                    Some(id) = arrivals.recv() => {
                        if let Err(e) = router.enqueue(id).await {
                            tracing::warn!(conversation = %id, error = %e, "routing could not place a waiting conversation");
                        }
                    }
                }
                router.make_offers();
            }
        })
    }

    /// Reads every waiting conversation back from the store (at start, and when the board
    /// may have missed events).
    pub async fn reload(self: &Arc<Self>) {
        match self.store.waiting_conversations(RELOAD_LIMIT).await {
            Ok(waiting) => {
                let ids: Vec<ConversationId> = waiting.iter().map(|c| c.id).collect();
                let still: HashSet<ConversationId> = ids.iter().copied().collect();
                let agents: Vec<AgentId> = {
                    let mut board = lock(&self.board);
                    board.waiting.retain(|id, _| still.contains(id));
                    // Offers are folded back from the logs below; what agents own is read again.
                    for seat in board.seats.values_mut() {
                        seat.offers.clear();
                    }
                    board.waiting.values_mut().for_each(|e| e.seen_seq = 0);
                    board.seats.keys().copied().collect()
                };
                for agent in agents {
                    if let Ok(owned) = self.store.agent_conversations(agent).await {
                        if let Some(seat) = lock(&self.board).seats.get_mut(&agent) {
                            seat.owned = owned.into_iter().map(|c| (c.id, c.updated_at)).collect();
                        }
                    }
                }
                // Longest wait first, as the store gives them.
                for id in ids {
                    self.enqueue_later(id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "routing could not read the waiting conversations"),
        }
    }

    fn enqueue_later(&self, id: ConversationId) {
        // Sent only while the router runs; a stopped router places nothing.
        let _ = self.arrivals.send(id);
    }

    /// Events just stored (here or on another instance).
    pub fn observe(&self, events: &[Event]) {
        let mut board = lock(&self.board);
        for event in events {
            let id = event.conversation_id;
            match &event.kind {
                EventKind::PhaseChanged {
                    to: PhaseName::WaitingForAgent,
                    ..
                } => self.enqueue_later(id),
                EventKind::PhaseChanged {
                    from: PhaseName::WaitingForAgent,
                    ..
                } => {
                    if let Some(entry) = board.waiting.remove(&id) {
                        if let Some(offer) = entry.offer {
                            if let Some(seat) = board.seats.get_mut(&offer.agent) {
                                seat.offers.remove(&id);
                            }
                        }
                    }
                }
                EventKind::PhaseChanged {
                    from: PhaseName::WithAgent,
                    ..
                } => {
                    let mut handled = None;
                    for seat in board.seats.values_mut() {
                        if let Some(at) = seat.owned.remove(&id) {
                            handled = Some(millis(event.at - at) / 1000);
                            seat.free_since = event.at;
                        }
                    }
                    if let Some(seconds) = handled {
                        board.handle_times.push_back(seconds);
                        if board.handle_times.len() > HANDLE_TIMES {
                            board.handle_times.pop_front();
                        }
                    }
                }
                EventKind::Assigned { agent_id, .. } => {
                    if let Some(seat) = board.seats.get_mut(agent_id) {
                        seat.owned.insert(id, event.at);
                        seat.offers.remove(&id);
                    }
                }
                _ => {}
            }
            let Board { waiting, seats, .. } = &mut *board;
            if let Some(entry) = waiting.get_mut(&id) {
                if event.seq > entry.seen_seq {
                    entry.seen_seq = event.seq;
                    fold(entry, seats, event, &self.routing);
                }
            }
        }
        drop(board);
        self.wake.notify_one();
    }

    /// Places a waiting conversation on the board from its log.
    async fn enqueue(self: &Arc<Self>, id: ConversationId) -> Result<(), StoreError> {
        // The log alone says whether it waits and since when: the wait began with the latest
        // phase change into it (the same instant the store keeps as `waiting_since`).
        let events = events_of(&*self.store, id).await?;
        let wait_began = events.iter().rev().find_map(|e| match &e.kind {
            EventKind::PhaseChanged { to, .. } => Some((*to == PhaseName::WaitingForAgent).then_some(e.at)),
            _ => None,
        });
        let Some(Some(wait_began)) = wait_began else {
            lock(&self.board).waiting.remove(&id);
            return Ok(());
        };
        let mut memory = Memory::new(id);
        for event in &events {
            memory.apply(event);
        }
        let Some(handoff) = memory.current_handoff() else {
            return Ok(());
        };
        let since = wait_began;
        let queue = baton_handoff::package::route(&memory, handoff, &self.handoff)
            .name
            .clone();
        let language = memory
            .language
            .clone()
            .filter(|l| self.routing.languages.contains(l))
            .unwrap_or_else(|| self.routing.default_language.clone());
        let rules = &self.routing.config.priority;
        let tier_steps = memory
            .customer
            .as_ref()
            .and_then(|c| rules.tiers.get(&c.tier))
            .copied()
            .unwrap_or(0);
        let upset = memory.sentiment.last().is_some_and(|p| p.score <= rules.negative_mood);
        let priority = raised(handoff.priority, tier_steps + u64::from(upset));
        let target = handoff.transfers.last().and_then(|t| match t.target {
            // A transfer to a named agent that started this wait.
            TransferTarget::Agent { agent_id } if t.seq >= since_seq(&events, since) => Some(agent_id),
            _ => None,
        });
        let contact = contact_of(&memory);
        let mut entry = Entry {
            handoff: handoff.id,
            queue,
            language,
            priority,
            since,
            offer: None,
            offers_made: 0,
            passed: Vec::new(),
            target,
            ticket: None,
            contact,
            awaiting_contact: false,
            told: Told::default(),
            unstaffed_since: None,
            lease: None,
            lost_lease: None,
            busy: false,
            seen_seq: 0,
            ticket_failed_at: None,
            wants: None,
            contact_for_ticket: false,
            resting_until: None,
        };
        let start = since_seq(&events, since);
        let mut board = lock(&self.board);
        let Board { waiting, seats, .. } = &mut *board;
        for event in events.iter().filter(|e| e.seq >= start) {
            entry.seen_seq = event.seq;
            fold(&mut entry, seats, event, &self.routing);
        }
        entry.seen_seq = events.last().map_or(0, |e| e.seq);
        // Keep what this instance holds of an entry it already had.
        if let Some(old) = waiting.get(&id).filter(|old| old.since == entry.since) {
            if old.seen_seq > entry.seen_seq {
                return Ok(());
            }
            entry.lease = old.lease;
            entry.lost_lease = old.lost_lease;
            entry.busy = old.busy;
            // An offer being recorded right now is not in the log yet.
            if entry.offer.is_none() {
                entry.offer = old.offer.filter(|o| !o.recorded);
            }
            entry.told.closed |= old.told.closed;
            entry.awaiting_contact |= old.awaiting_contact;
            entry.contact_for_ticket |= old.contact_for_ticket;
            entry.unstaffed_since = old.unstaffed_since;
            entry.ticket_failed_at = old.ticket_failed_at;
            entry.wants = entry.wants.or(old.wants);
            entry.resting_until = old.resting_until;
        }
        waiting.insert(id, entry);
        drop(board);
        self.wake.notify_one();
        Ok(())
    }

    /// The agents on duty and the waiting handoffs as the pure plan sees them.
    fn snapshot(&self, board: &Board, now: OffsetDateTime) -> (Vec<Waiting>, Vec<OnDuty>, Vec<ConversationId>) {
        let agents = board
            .seats
            .iter()
            .map(|(id, seat)| OnDuty {
                id: *id,
                skills: seat.profile.skills.clone(),
                languages: seat.profile.languages.clone(),
                capacity: seat.profile.capacity,
                load: (seat.owned.len() + seat.offers.len()) as u32,
                presence: duty_presence(seat),
                free_since: seat.free_since,
            })
            .collect();
        let mut ids = Vec::with_capacity(board.waiting.len());
        let waiting = board
            .waiting
            .iter()
            .map(|(id, e)| {
                ids.push(*id);
                Waiting {
                    handoff: e.handoff,
                    queue: e.queue.clone(),
                    skills: self
                        .routing
                        .queue(&e.queue)
                        .map(|q| q.skills.clone())
                        .unwrap_or_default(),
                    language: e.language.clone(),
                    priority: e.priority,
                    since: e.since,
                    offered_to: e.offer.map(|o| o.agent),
                    passed: e.passed.clone(),
                    target: e.target,
                    held: e.ticket.is_some()
                        || e.busy
                        || e.resting_until.is_some_and(|until| until > now)
                        || !self.speaks(&e.queue, &e.language)
                        || !self.open(&e.queue, now),
                }
            })
            .collect();
        (waiting, agents, ids)
    }

    /// Whether the queue serves customers in `language` (its `languages`).
    fn speaks(&self, queue: &str, language: &str) -> bool {
        self.routing
            .queue(queue)
            .is_none_or(|q| q.languages.iter().any(|l| l == language))
    }

    fn open(&self, queue: &str, now: OffsetDateTime) -> bool {
        self.openness(queue, now) == Openness::Open
    }

    fn openness(&self, queue: &str, now: OffsetDateTime) -> Openness {
        match self.routing.queue(queue).and_then(|q| q.schedule.as_ref()) {
            Some(schedule) => schedule.openness(now),
            None => Openness::Open,
        }
    }

    /// Plans offers on the current board and makes them.
    fn make_offers(self: &Arc<Self>) {
        let now = now();
        let timeout = time::Duration::seconds(self.routing.config.offer_timeout_seconds as i64);
        let mut board = lock(&self.board);
        let (waiting, agents, ids) = self.snapshot(&board, now);
        let offers = plan(&waiting, &agents, &self.routing.config.priority, now);
        for offer in offers {
            let Some(index) = waiting.iter().position(|w| w.handoff == offer.handoff) else {
                continue;
            };
            let id = ids[index];
            let Board { waiting, seats, .. } = &mut *board;
            let (Some(entry), Some(seat)) = (waiting.get_mut(&id), seats.get_mut(&offer.agent)) else {
                continue;
            };
            let expires_at = now + timeout;
            entry.offer = Some(OutOffer {
                agent: offer.agent,
                expires_at,
                recorded: false,
            });
            entry.busy = true;
            seat.offers.insert(id);
            let attempt = (entry.since, entry.offers_made);
            let first = !entry.told.reviewing;
            let after_ms = millis(now - entry.since);
            let language = entry.language.clone();
            let last = entry.told.last_line.clone();
            let router = self.clone();
            tokio::spawn(async move {
                let outcome = router
                    .record_offer(
                        id,
                        offer.handoff,
                        offer.agent,
                        attempt,
                        expires_at,
                        after_ms,
                        first,
                        &language,
                        last,
                    )
                    .await;
                let mut board = lock(&router.board);
                let Board { waiting, seats, .. } = &mut *board;
                if let Some(entry) = waiting.get_mut(&id) {
                    entry.busy = false;
                    match outcome {
                        Ok(true) => {
                            if let Some(o) = entry.offer.as_mut().filter(|o| o.agent == offer.agent) {
                                o.recorded = true;
                            }
                        }
                        Ok(false) | Err(_) => {
                            if entry.offer.is_some_and(|o| o.agent == offer.agent && !o.recorded) {
                                entry.offer = None;
                            }
                            if let Some(seat) = seats.get_mut(&offer.agent) {
                                seat.offers.remove(&id);
                            }
                        }
                    }
                }
                if let Err(e) = outcome {
                    tracing::warn!(conversation = %id, error = %e, "recording an offer failed");
                }
                drop(board);
                router.wake.notify_one();
            });
        }
    }

    /// Claims the offer's attempt and records it; false when another instance made it, or
    /// the conversation no longer waits (then the board reads the conversation again).
    #[allow(clippy::too_many_arguments)]
    async fn record_offer(
        self: &Arc<Self>,
        id: ConversationId,
        handoff: HandoffId,
        agent: AgentId,
        attempt: (OffsetDateTime, u32),
        expires_at: OffsetDateTime,
        after_ms: u64,
        first: bool,
        language: &str,
        last: Option<String>,
    ) -> Result<bool, StoreError> {
        let now = now();
        // Each wait of a handoff (a transfer starts a new one) numbers its own offers.
        // The agent may have gone away (or the offer been taken back) since the plan. Checked
        // before the claim: a claim taken and not used would hold its number until it expires.
        let still = {
            let board = lock(&self.board);
            let online = board.seats.get(&agent).is_some_and(|s| s.presence == Presence::Online);
            let ours = board
                .waiting
                .get(&id)
                .is_some_and(|e| e.offer.is_some_and(|o| o.agent == agent));
            online && ours
        };
        if !still {
            return Ok(false);
        }
        // Alone on its database, this router is the only one offering: nothing to claim.
        let work = format!("offer:{handoff}:{}:{}", attempt.0.unix_timestamp_nanos(), attempt.1);
        if self.is_shared() && !self.store.claim(&work, self.instance, now, expires_at).await? {
            self.enqueue_later(id);
            return Ok(false);
        }
        let telling = Telling {
            records: vec![EventKind::OfferMade {
                handoff_id: handoff,
                agent_id: agent,
                expires_at,
                after_ms,
            }],
            cue: first.then_some(Cue::Reviewing),
            values: Values::new(),
            suggestions: Vec::new(),
            while_waiting: true,
        };
        match self.tell(id, telling, language, last.as_deref(), now).await {
            Ok(()) => {
                tracing::debug!(conversation = %id, agent = %agent, after_ms, "offered");
                Ok(true)
            }
            Err(StoreError::Rejected(_)) => {
                self.enqueue_later(id);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Records `telling` (its records and, with a cue, the customer's line) in one command.
    async fn tell(
        &self,
        id: ConversationId,
        telling: Telling,
        language: &str,
        last: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let note = telling.cue.map(|cue| {
            let narration = &self.routing.config.narration;
            narration.line(cue, language, &self.routing.default_language, &telling.values, last)
        });
        // Never the same line twice in a row, whatever the variants: an unchanged line is
        // not said again.
        let note = match note.filter(|text| Some(text.as_str()) != last) {
            Some(text) => Some(MessageText::parse(bounded(text)).map_err(|e| StoreError::corrupt("narration", e))?),
            None => None,
        };
        if telling.records.is_empty() && note.is_none() {
            return Ok(());
        }
        let command = Command::RecordRouting {
            records: telling.records,
            note,
            suggestions: telling.suggestions,
            while_waiting: telling.while_waiting,
        };
        let executed = self.store.execute(id, command, now).await?;
        // This instance's board learns from the events before anyone can act on them.
        self.observe(&executed.events);
        self.announce.publish(&executed.events);
        Ok(())
    }

    /// The timers: presence grace, offer expiry, narration, callbacks, tickets.
    async fn housekeeping(self: &Arc<Self>) {
        let now = now();
        let config = &self.routing.config;
        let grace = time::Duration::seconds(config.presence_grace_seconds as i64);
        let mut withdrawals = Vec::new();
        let mut leases = Vec::new();
        let mut duties: Vec<(ConversationId, Duty, String, Option<String>)> = Vec::new();
        {
            let mut board = lock(&self.board);
            for (agent, seat) in board.seats.iter_mut() {
                let lost = seat.lost_at.is_some_and(|at| at + grace <= now);
                if seat.streams == 0 && lost && seat.presence == Presence::Online {
                    seat.presence = Presence::Away;
                    tracing::info!(agent = %agent, "agent's streams are gone: away");
                    withdrawals.extend(seat.offers.iter().map(|id| (*id, *agent)));
                }
            }
            let handle = handle_seconds(&board.handle_times, config.handle_seconds);
            let knows_team = self.knows_team(now);
            let (waiting, mut agents, ids) = self.snapshot(&board, now);
            // The estimate counts the whole team, wherever their streams are.
            if knows_team {
                agents.extend(self.on_duty_elsewhere(&board, now));
            }
            let sequence = order(&waiting, &config.priority, now);
            let mut ahead: HashMap<(&str, &str), u32> = HashMap::new();
            let mut positions = HashMap::new();
            let seats = baton_routing::plan::staffing(&waiting, &agents);
            for &i in &sequence {
                let w = &waiting[i];
                // A ticket carries it: it is nobody's place in line.
                if board.waiting.get(&ids[i]).is_some_and(|e| e.ticket.is_some()) {
                    continue;
                }
                let count = ahead.entry((w.queue.as_str(), w.language.as_str())).or_default();
                let staffing = seats[i];
                positions.insert(ids[i], (*count + 1, staffing, estimate(*count, staffing, handle)));
                *count += 1;
            }
            for (id, entry) in board.waiting.iter_mut() {
                if entry.busy {
                    continue;
                }
                // A ticketed wait has nothing due but a contact for its ticket and an offer
                // someone pulled meanwhile: no lease to claim every minute for it.
                let idle = entry.ticket.is_some() && !entry.contact_for_ticket && entry.offer.is_none();
                if idle {
                    continue;
                }
                let epoch = (now - entry.since).whole_seconds().max(0) / DUTY_LEASE_SECONDS;
                if entry.lease != Some(epoch) {
                    if entry.lost_lease != Some(epoch) {
                        entry.busy = true;
                        leases.push((*id, entry.handoff, entry.since, epoch));
                    }
                    continue;
                }
                // A ticketed wait has no place in line; what it may still owe needs none.
                let (position, staffing, wait) = positions.get(id).copied().unwrap_or((0, Staffing::default(), None));
                if let Some(duty) = self.due(entry, now, (position, staffing, wait), knows_team) {
                    entry.busy = true;
                    duties.push((*id, duty, entry.language.clone(), entry.told.last_line.clone()));
                }
            }
        }
        for (id, agent) in withdrawals {
            self.end_offer(id, agent, OfferOutcome::Withdrawn).await;
        }
        for (id, handoff, since, epoch) in leases {
            let router = self.clone();
            tokio::spawn(async move {
                let work = format!("route:{handoff}:{}:{epoch}", since.unix_timestamp_nanos());
                let until = since + time::Duration::seconds((epoch + 1) * DUTY_LEASE_SECONDS);
                let won = if router.is_shared() {
                    router.store.claim(&work, router.instance, now, until).await
                } else {
                    Ok(true)
                };
                let mut board = lock(&router.board);
                if let Some(entry) = board.waiting.get_mut(&id) {
                    entry.busy = false;
                    match won {
                        Ok(true) => entry.lease = Some(epoch),
                        Ok(false) => entry.lost_lease = Some(epoch),
                        Err(e) => tracing::warn!(conversation = %id, error = %e, "claiming routing duties failed"),
                    }
                }
            });
        }
        for (id, duty, language, last) in duties {
            let router = self.clone();
            tokio::spawn(async move { router.carry_out(id, duty, &language, last).await });
        }
    }

    /// The duty of `entry` that is due now, if any, in order of importance.
    fn due(
        &self,
        entry: &mut Entry,
        now: OffsetDateTime,
        (position, staffing, wait): (u32, Staffing, Option<u64>),
        knows_team: bool,
    ) -> Option<Duty> {
        let config = &self.routing.config;
        if let Some(offer) = entry.offer.filter(|o| o.recorded && o.expires_at <= now) {
            return Some(Duty::Expire { agent: offer.agent });
        }
        if let (true, Some(ticket), Some(contact)) = (entry.contact_for_ticket, &entry.ticket, &entry.contact) {
            entry.contact_for_ticket = false;
            entry.awaiting_contact = false;
            return Some(Duty::Contact {
                ticket: ticket.clone(),
                contact: contact.clone(),
            });
        }
        if entry.ticket.is_some() {
            return None;
        }
        let retry_ticket = entry
            .ticket_failed_at
            .is_none_or(|at| now - at >= time::Duration::seconds(config.progress_every_seconds as i64));
        if retry_ticket {
            if let Some(wants) = entry.wants.take() {
                return Some(Duty::Ticket(wants));
            }
        }
        let openness = self.openness(&entry.queue, now);
        let after_hours = self
            .routing
            .queue(&entry.queue)
            .and_then(|q| q.schedule.as_ref())
            .map(|s| s.after_hours);
        if let Openness::Closed { opens_at } = openness {
            return match after_hours {
                Some(baton_routing::AfterHours::Wait) if !entry.told.closed => {
                    let mut values = self.queue_values(entry);
                    if let Some(opens) = opens_at.and_then(|at| self.local_time(&entry.queue, at)) {
                        values.insert("opens".into(), opens);
                    }
                    Some(Duty::Tell(
                        Telling {
                            records: Vec::new(),
                            cue: Some(Cue::ClosedWait),
                            values,
                            suggestions: Vec::new(),
                            while_waiting: true,
                        },
                        TellKind::Closed,
                    ))
                }
                Some(baton_routing::AfterHours::Wait) => None,
                _ if retry_ticket => Some(Duty::Ticket(FollowUp::AfterHours)),
                _ => None,
            };
        }
        // With several instances, the staffing counts the agents on duty on the others as they
        // last said; while they have not been heard from lately, "nobody" is not known.
        let unstaffed = staffing.seats == 0 || !self.speaks(&entry.queue, &entry.language);
        if unstaffed && knows_team {
            let since = *entry.unstaffed_since.get_or_insert(now);
            let patience = time::Duration::seconds(config.nobody_eligible_after_seconds as i64);
            if now - since >= patience && retry_ticket {
                return Some(Duty::Ticket(FollowUp::NobodyAvailable));
            }
        } else {
            entry.unstaffed_since = None;
        }
        let queued_record = |wait: Option<u64>| EventKind::HandoffQueued {
            handoff_id: entry.handoff,
            queue: entry.queue.clone(),
            priority: entry.priority,
            position,
            wait_estimate_seconds: wait,
        };
        if !entry.told.queued {
            // Nobody on duty yet: the acknowledgment already told the customer someone will
            // come; the queue line waits for an estimate (or the ticket). Someone already
            // reviewing the case says more than a place in line.
            let cue = wait
                .filter(|_| entry.offer.is_none() && !entry.told.reviewing)
                .map(|_| Cue::Queued);
            let mut values = self.queue_values(entry);
            values.insert("position".into(), position.to_string());
            if let Some(seconds) = wait {
                values.insert("wait".into(), self.wait_words(seconds, &entry.language));
            }
            return Some(Duty::Tell(
                Telling {
                    records: vec![queued_record(wait)],
                    cue,
                    values,
                    suggestions: Vec::new(),
                    while_waiting: true,
                },
                TellKind::Queued(wait),
            ));
        }
        let waited = now - entry.since;
        let patience = self
            .routing
            .queue(&entry.queue)
            .and_then(|q| q.max_wait_seconds)
            .unwrap_or(config.callback_after_seconds)
            .min(config.callback_after_seconds);
        if !entry.told.callback && waited >= time::Duration::seconds(patience as i64) {
            let narration = &config.narration;
            let fallback = &self.routing.default_language;
            let label = |lines| narration.first(lines, &entry.language, fallback, &Values::new());
            let mut values = Values::new();
            values.insert(
                "wait".into(),
                self.wait_words(wait.unwrap_or(config.handle_seconds), &entry.language),
            );
            let suggestions = vec![
                Suggestion {
                    label: label(&narration.callback_label),
                    text: label(&narration.callback_label),
                },
                Suggestion {
                    label: label(&narration.email_label),
                    text: label(&narration.email_label),
                },
            ];
            return Some(Duty::Tell(
                Telling {
                    records: Vec::new(),
                    cue: Some(Cue::CallbackOffer),
                    values,
                    suggestions,
                    while_waiting: true,
                },
                TellKind::Callback,
            ));
        }
        if wait.is_some() && entry.offer.is_none() && meaningful_change(entry.told.estimate, wait) {
            let mut values = Values::new();
            values.insert("wait".into(), self.wait_words(wait.unwrap_or(0), &entry.language));
            return Some(Duty::Tell(
                Telling {
                    records: vec![queued_record(wait)],
                    cue: Some(Cue::EstimateChanged),
                    values,
                    suggestions: Vec::new(),
                    while_waiting: true,
                },
                TellKind::Estimate(wait),
            ));
        }
        let quiet = entry
            .told
            .last_at
            .is_none_or(|at| now - at >= time::Duration::seconds(config.progress_every_seconds as i64));
        if quiet && entry.offer.is_none() {
            return Some(Duty::Tell(
                Telling {
                    records: Vec::new(),
                    cue: Some(Cue::StillLooking),
                    values: Values::new(),
                    suggestions: Vec::new(),
                    while_waiting: true,
                },
                TellKind::Progress,
            ));
        }
        None
    }

    async fn carry_out(self: Arc<Self>, id: ConversationId, duty: Duty, language: &str, last: Option<String>) {
        let now = now();
        let result = match duty {
            Duty::Expire { agent } => {
                self.end_offer(id, agent, OfferOutcome::Expired).await;
                Ok(())
            }
            Duty::Ticket(reason) => self.open_ticket(id, reason, language, last.as_deref(), now).await,
            Duty::Contact { ticket, contact } => {
                let update = TicketUpdate {
                    status: None,
                    note: Some(format!("The customer asks to be answered at {contact}.")),
                };
                if let Err(e) = self.tickets.update_ticket(&ticket, update).await {
                    tracing::warn!(conversation = %id, ticket = %ticket, error = %e, "adding the contact to a ticket failed");
                }
                Ok(())
            }
            Duty::Tell(telling, kind) => {
                let told = self.tell(id, telling, language, last.as_deref(), now).await;
                if told.is_ok() {
                    let mut board = lock(&self.board);
                    if let Some(entry) = board.waiting.get_mut(&id) {
                        match kind {
                            TellKind::Queued(wait) | TellKind::Estimate(wait) => {
                                entry.told.queued = true;
                                entry.told.estimate = wait;
                            }
                            TellKind::Callback => entry.told.callback = true,
                            TellKind::Closed => entry.told.closed = true,
                            TellKind::Progress => {}
                        }
                        entry.told.last_at = Some(now);
                    }
                }
                told
            }
        };
        if let Err(e) = result {
            tracing::warn!(conversation = %id, error = %e, "a routing duty failed; it is tried again");
        }
        if let Some(entry) = lock(&self.board).waiting.get_mut(&id) {
            entry.busy = false;
        }
        self.wake.notify_one();
    }

    /// Ends the offer of `id` to `agent` (declined, expired or withdrawn) and records it.
    async fn end_offer(self: &Arc<Self>, id: ConversationId, agent: AgentId, outcome: OfferOutcome) {
        let handoff = {
            let mut board = lock(&self.board);
            let Board { waiting, seats, .. } = &mut *board;
            if let Some(seat) = seats.get_mut(&agent) {
                seat.offers.remove(&id);
            }
            match waiting.get_mut(&id) {
                Some(entry) if entry.offer.is_some_and(|o| o.agent == agent) => {
                    entry.offer = None;
                    if entry.passed.contains(&agent) {
                        // A second round that ends the same way: pause the offers a while.
                        let pause = time::Duration::seconds(self.routing.config.progress_every_seconds as i64);
                        entry.resting_until = Some(now() + pause);
                        entry.passed.clear();
                    }
                    entry.passed.push(agent);
                    entry.handoff
                }
                _ => return,
            }
        };
        let telling = Telling {
            records: vec![EventKind::OfferEnded {
                handoff_id: handoff,
                agent_id: agent,
                outcome,
            }],
            cue: None,
            values: Values::new(),
            suggestions: Vec::new(),
            while_waiting: false,
        };
        if let Err(e) = self.tell(id, telling, "", None, now()).await {
            tracing::warn!(conversation = %id, error = %e, "recording the end of an offer failed");
        }
        self.wake.notify_one();
    }

    /// Opens a ticket carrying the package, and tells the customer when to expect an answer
    /// (asking for a contact only when none is known).
    async fn open_ticket(
        self: &Arc<Self>,
        id: ConversationId,
        reason: FollowUp,
        language: &str,
        last: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let events = events_of(&*self.store, id).await?;
        // Taken meanwhile: no ticket.
        let still_waiting = events.iter().rev().find_map(|e| match &e.kind {
            EventKind::PhaseChanged { to, .. } => Some(*to == PhaseName::WaitingForAgent),
            _ => None,
        });
        if still_waiting != Some(true) {
            return Ok(());
        }
        let (handoff, queue, priority, contact, reply_by) = {
            let board = lock(&self.board);
            let Some(entry) = board.waiting.get(&id) else {
                return Ok(());
            };
            // When to expect an answer: when a closed queue opens, else within the configured
            // hours (in the queue's zone when it has hours, else UTC).
            let reply_at = match self.openness(&entry.queue, now) {
                Openness::Closed { opens_at: Some(at) } => at,
                _ => now + time::Duration::hours(self.routing.config.ticket_reply_hours as i64),
            };
            let reply_by = self.local_time(&entry.queue, reply_at).or_else(|| {
                let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
                reply_at.format(&format).ok()
            });
            (
                entry.handoff,
                entry.queue.clone(),
                entry.priority,
                entry.contact.clone(),
                reply_by,
            )
        };
        let package = events.iter().rev().find_map(|e| match &e.kind {
            EventKind::HandoffPackaged {
                handoff_id, package, ..
            } if *handoff_id == handoff => Some(package.clone()),
            _ => None,
        });
        let brief: Vec<String> = package
            .as_ref()
            .and_then(|p| p.pointer("/conversation/brief/0/lines"))
            .and_then(|lines| lines.as_array())
            .map(|lines| lines.iter().filter_map(|l| l.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let team = self.team(&queue, &self.routing.default_language);
        let body = format!(
            "{}\n\nConversation {id}, handoff {handoff}, why a ticket: {}.\n\nContext package:\n{}",
            brief.join("\n"),
            follow_up_words(reason),
            package
                .as_ref()
                .map(|p| serde_json::to_string_pretty(p).unwrap_or_default())
                .unwrap_or_else(|| "(not built yet)".into()),
        );
        let ticket = NewTicket {
            subject: format!(
                "Customer waiting for {team}: {}",
                brief.first().map_or("handoff", String::as_str)
            ),
            body,
            customer_email: contact.clone().filter(|c| c.contains('@')),
            priority: match priority {
                Priority::Low => TicketPriority::Low,
                Priority::Normal => TicketPriority::Normal,
                Priority::High => TicketPriority::High,
                Priority::Urgent => TicketPriority::Urgent,
            },
            conversation_id: id.to_string(),
        };
        let key = format!("{handoff}:ticket:{}", follow_up_words(reason).replace(' ', "_"));
        let created = match self.tickets.create_ticket(ticket, &key).await {
            Ok(created) => created,
            Err(e) => {
                tracing::warn!(conversation = %id, error = %e, "opening a ticket for a waiting customer failed");
                if let Some(entry) = lock(&self.board).waiting.get_mut(&id) {
                    entry.ticket_failed_at = Some(now);
                    // The customer's choice stands: tried again after a while.
                    if matches!(reason, FollowUp::Callback | FollowUp::Email) {
                        entry.wants = Some(reason);
                    }
                }
                return Ok(());
            }
        };
        let mut values = self.queue_values_for(&queue, language);
        values.insert("ticket".into(), created.id.clone());
        if let Some(reply_by) = reply_by {
            values.insert("reply_by".into(), reply_by);
        }
        if let Some(contact) = &contact {
            values.insert("contact".into(), contact.clone());
        }
        let narration = &self.routing.config.narration;
        let fallback = &self.routing.default_language;
        let cue = match reason {
            FollowUp::AfterHours | FollowUp::NobodyAvailable => Cue::Ticket,
            FollowUp::Callback | FollowUp::Email => Cue::FollowUp,
        };
        let mut text = narration.line(cue, language, fallback, &values, last);
        if contact.is_none() {
            text.push(' ');
            text.push_str(&narration.line(Cue::AskContact, language, fallback, &values, None));
        }
        let note = MessageText::parse(bounded(text)).map_err(|e| StoreError::corrupt("narration", e))?;
        let command = Command::RecordRouting {
            records: vec![EventKind::TicketOpened {
                handoff_id: handoff,
                ticket_id: created.id.clone(),
                reason,
            }],
            note: Some(note),
            suggestions: Vec::new(),
            while_waiting: true,
        };
        let executed = self.store.execute(id, command, now).await?;
        self.observe(&executed.events);
        self.announce.publish(&executed.events);
        if let Some(entry) = lock(&self.board).waiting.get_mut(&id) {
            entry.awaiting_contact = contact.is_none();
        }
        tracing::info!(conversation = %id, ticket = %created.id, reason = follow_up_words(reason), "a ticket carries the waiting customer's case");
        Ok(())
    }

    fn team(&self, queue: &str, language: &str) -> String {
        self.handoff
            .queue(queue)
            .map(|q| q.team.get(language, &self.handoff.default_language).to_owned())
            .unwrap_or_else(|| queue.replace('_', " "))
    }

    fn queue_values(&self, entry: &Entry) -> Values {
        self.queue_values_for(&entry.queue, &entry.language)
    }

    fn queue_values_for(&self, queue: &str, language: &str) -> Values {
        let mut values = Values::new();
        values.insert("team".into(), self.team(queue, language));
        values
    }

    fn wait_words(&self, seconds: u64, language: &str) -> String {
        self.routing
            .config
            .narration
            .wait(seconds, language, &self.routing.default_language)
    }

    /// `at` in the queue's zone: "2026-12-01 09:00 (Europe/Madrid)".
    fn local_time(&self, queue: &str, at: OffsetDateTime) -> Option<String> {
        let schedule = self.routing.queue(queue)?.schedule.as_ref()?;
        let (date, time) = schedule.local_time(at);
        Some(format!("{date} {time} ({})", schedule.zone()))
    }

    // --- Agents: presence, capacity, answers to offers ---

    async fn seat_for(&self, agent: &AgentRef) -> Result<(), StoreError> {
        if lock(&self.board).seats.contains_key(&agent.id) {
            return Ok(());
        }
        let owned: HashMap<ConversationId, OffsetDateTime> = self
            .store
            .agent_conversations(agent.id)
            .await?
            .into_iter()
            .map(|c| (c.id, c.updated_at))
            .collect();
        let offers: HashSet<ConversationId> = lock(&self.board)
            .waiting
            .iter()
            .filter(|(_, e)| e.offer.is_some_and(|o| o.agent == agent.id))
            .map(|(id, _)| *id)
            .collect();
        let mut profile = self.routing.config.profile(&agent.email);
        if profile.languages.is_empty() {
            profile.languages = self.routing.languages.clone();
        }
        lock(&self.board).seats.entry(agent.id).or_insert(Seat {
            name: agent.display_name.clone(),
            profile,
            presence: Presence::Offline,
            chose_away: false,
            streams: 0,
            lost_at: None,
            owned,
            offers,
            free_since: now(),
        });
        Ok(())
    }

    /// An agent's stream opened on this instance: they are online (unless they chose away).
    pub async fn stream_opened(&self, agent: &AgentRef) -> Result<(), StoreError> {
        self.seat_for(agent).await?;
        if let Some(seat) = lock(&self.board).seats.get_mut(&agent.id) {
            seat.streams += 1;
            seat.lost_at = None;
            if !seat.chose_away {
                seat.presence = Presence::Online;
            }
        }
        self.wake.notify_one();
        Ok(())
    }

    /// An agent's stream closed; with none left, they go away after the grace period.
    pub fn stream_closed(&self, agent: AgentId) {
        if let Some(seat) = lock(&self.board).seats.get_mut(&agent) {
            seat.streams = seat.streams.saturating_sub(1);
            if seat.streams == 0 {
                seat.lost_at = Some(now());
            }
        }
    }

    /// The agent sets their own presence. Going away or offline withdraws their offers.
    pub async fn set_presence(
        self: &Arc<Self>,
        agent: &AgentRef,
        presence: Presence,
    ) -> Result<AgentStatus, StoreError> {
        self.seat_for(agent).await?;
        let withdrawn: Vec<ConversationId> = {
            let mut board = lock(&self.board);
            let Some(seat) = board.seats.get_mut(&agent.id) else {
                return Err(StoreError::corrupt("routing board", "a seat vanished"));
            };
            seat.presence = presence;
            seat.chose_away = presence != Presence::Online;
            if presence == Presence::Online {
                seat.lost_at = None;
            }
            if presence == Presence::Online {
                Vec::new()
            } else {
                seat.offers.iter().copied().collect()
            }
        };
        for id in withdrawn {
            self.end_offer(id, agent.id, OfferOutcome::Withdrawn).await;
        }
        self.wake.notify_one();
        self.status(agent).await
    }

    /// The agent's availability as this instance sees it.
    pub async fn status(&self, agent: &AgentRef) -> Result<AgentStatus, StoreError> {
        self.seat_for(agent).await?;
        let board = lock(&self.board);
        board
            .seats
            .get(&agent.id)
            .map(|seat| status_of(agent.id, seat))
            .ok_or_else(|| StoreError::corrupt("routing board", "a seat vanished"))
    }

    /// Every agent this instance has seen, and those on duty on the instances sharing its
    /// database, by name.
    pub fn team_status(&self) -> Vec<AgentStatus> {
        // Alone on its database, nobody is heard from: the list stays empty.
        let there: Vec<SharedSeat> = if self.knows_team(now()) {
            lock(&self.elsewhere).seats.clone()
        } else {
            Vec::new()
        };
        let board = lock(&self.board);
        let online_here = |id: &AgentId| {
            board
                .seats
                .get(id)
                .is_some_and(|seat| seat.presence == Presence::Online)
        };
        let mut all: Vec<AgentStatus> = board
            .seats
            .iter()
            .filter(|(id, _)| online_here(id) || !there.iter().any(|s| s.agent_id == **id))
            .map(|(id, seat)| status_of(*id, seat))
            .collect();
        all.extend(
            there
                .into_iter()
                .filter(|s| !online_here(&s.agent_id))
                .map(|s| AgentStatus {
                    agent_id: s.agent_id,
                    display_name: s.display_name,
                    presence: Presence::Online,
                    serving: s.serving,
                    capacity: s.capacity,
                    skills: s.skills,
                    languages: s.languages,
                    team: s.team,
                    offers: Vec::new(),
                }),
        );
        all.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.agent_id.cmp(&b.agent_id)));
        all
    }

    /// Holds the agent's admission while they accept, so their accepts on this instance are
    /// recorded one at a time. Capacity itself is the store's to check (it counts what the
    /// agent owns in the accept's own transaction): the board may not have seen a resolve
    /// that returned a moment ago, and must not refuse a seat that is free.
    pub async fn admit(&self, agent: &AgentRef) -> Result<tokio::sync::OwnedMutexGuard<()>, SeatError> {
        let gate = lock(&self.admissions).entry(agent.id).or_default().clone();
        let guard = gate.lock_owned().await;
        self.seat_for(agent).await?;
        Ok(guard)
    }

    /// The most conversations `agent` may own at once (their profile's capacity).
    pub fn capacity_of(&self, agent: &AgentRef) -> u32 {
        lock(&self.board).seats.get(&agent.id).map_or_else(
            || self.routing.config.profile(&agent.email).capacity,
            |s| s.profile.capacity,
        )
    }

    /// The recorded offer of a waiting conversation, if one is out: taken before an accept,
    /// so that an offer to someone else can be withdrawn once the accept is in.
    pub fn offer_out(&self, id: ConversationId) -> Option<(HandoffId, AgentId)> {
        let board = lock(&self.board);
        let entry = board.waiting.get(&id)?;
        entry.offer.filter(|o| o.recorded).map(|o| (entry.handoff, o.agent))
    }

    /// The agent took the conversation (this instance ran the accept): their seat fills, an
    /// offer that was out to someone else (`offer_before`, from [`Router::offer_out`]) is
    /// withdrawn, and the customer hears who joined. Nothing when the accept recorded nothing.
    pub async fn accepted(
        self: &Arc<Self>,
        agent: &AgentRef,
        id: ConversationId,
        offer_before: Option<(HandoffId, AgentId)>,
        events: &[Event],
    ) {
        if !events.iter().any(|e| matches!(e.kind, EventKind::Assigned { .. })) {
            return;
        }
        let at = events.first().map_or_else(now, |e| e.at);
        {
            let mut board = lock(&self.board);
            if let Some(seat) = board.seats.get_mut(&agent.id) {
                seat.owned.insert(id, at);
                seat.offers.remove(&id);
            }
        }
        let mut records = Vec::new();
        if let Some((handoff, other)) = offer_before.filter(|(_, other)| *other != agent.id) {
            if let Some(seat) = lock(&self.board).seats.get_mut(&other) {
                seat.offers.remove(&id);
            }
            records.push(EventKind::OfferEnded {
                handoff_id: handoff,
                agent_id: other,
                outcome: OfferOutcome::Withdrawn,
            });
        }
        self.observe(events);
        let mut values = Values::new();
        values.insert("agent".into(), agent.display_name.clone());
        self.narrate(id, Cue::Joined, values, records).await;
    }

    /// The agent declines the offer they hold.
    pub async fn decline(self: &Arc<Self>, agent: AgentId, id: ConversationId) -> Result<(), SeatError> {
        let offered = lock(&self.board)
            .waiting
            .get(&id)
            .is_some_and(|e| e.offer.is_some_and(|o| o.agent == agent));
        if !offered {
            return Err(SeatError::NoOffer);
        }
        self.end_offer(id, agent, OfferOutcome::Declined).await;
        Ok(())
    }

    /// The agent passed the conversation on (this instance ran the transfer): the customer
    /// hears where to, the agent's name or the team's in their language. (The board learns of
    /// the transfer itself from the hub, like every event.)
    pub async fn transferred(
        self: &Arc<Self>,
        id: ConversationId,
        target: &TransferTarget,
        agent_name: Option<String>,
    ) {
        let mut values = Values::new();
        match target {
            TransferTarget::Queue { queue } => {
                let language = self.language_of(id).await;
                values.insert("team".into(), self.team(queue, &language));
            }
            TransferTarget::Agent { .. } => {
                values.insert("agent".into(), agent_name.unwrap_or_default());
            }
        }
        self.narrate(id, Cue::Transferred, values, Vec::new()).await;
    }

    /// The agent handed the conversation back to the bot (this instance ran it).
    pub async fn handed_back(self: &Arc<Self>, id: ConversationId) {
        self.narrate(id, Cue::HandedBack, Values::new(), Vec::new()).await;
    }

    async fn language_of(&self, id: ConversationId) -> String {
        let memory = crate::memory_of(&*self.store, id).await.ok();
        memory
            .and_then(|m| m.language)
            .filter(|l| self.routing.languages.contains(l))
            .unwrap_or_else(|| self.routing.default_language.clone())
    }

    /// Tells the customer `cue` in their language, never repeating the last line.
    async fn narrate(self: &Arc<Self>, id: ConversationId, cue: Cue, values: Values, records: Vec<EventKind>) {
        let events = match events_of(&*self.store, id).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(conversation = %id, error = %e, "cannot read a conversation to narrate");
                return;
            }
        };
        let mut memory = Memory::new(id);
        for event in &events {
            memory.apply(event);
        }
        let language = memory
            .language
            .clone()
            .filter(|l| self.routing.languages.contains(l))
            .unwrap_or_else(|| self.routing.default_language.clone());
        let last = events.iter().rev().find_map(|e| match &e.kind {
            EventKind::SystemNote { text, .. } => Some(text.as_str().to_owned()),
            _ => None,
        });
        let telling = Telling {
            records,
            cue: Some(cue),
            values,
            suggestions: Vec::new(),
            while_waiting: false,
        };
        if let Err(e) = self.tell(id, telling, &language, last.as_deref(), now()).await {
            tracing::warn!(conversation = %id, error = %e, "telling the customer failed");
        }
    }

    /// Tells the other instances who is on duty here, and reads who is on duty there.
    async fn share_presence(&self) {
        let here: Vec<SharedSeat> = lock(&self.board)
            .seats
            .iter()
            .filter(|(_, seat)| duty_presence(seat) == Presence::Online)
            .map(|(id, seat)| SharedSeat {
                agent_id: *id,
                display_name: seat.name.clone(),
                skills: seat.profile.skills.clone(),
                languages: seat.profile.languages.clone(),
                team: seat.profile.team.clone(),
                capacity: seat.profile.capacity,
                serving: seat.owned.len() as u32,
                offered: seat.offers.len() as u32,
            })
            .collect();
        let holds = Duration::from_secs(PRESENCE_HOLDS_SECONDS as u64);
        if let Err(e) = self.store.share_presence(self.instance, &here, holds).await {
            tracing::warn!(error = %e, "telling the other instances who is on duty here failed");
        }
        match self.store.presence_elsewhere(self.instance).await {
            Ok(seats) => {
                *lock(&self.elsewhere) = Elsewhere {
                    seats,
                    read_at: Some(now()),
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading who is on duty on the other instances failed"),
        }
    }

    /// Whether this router knows the whole team: it is alone on its database, or it heard
    /// from the other instances lately.
    fn knows_team(&self, now: OffsetDateTime) -> bool {
        !self.is_shared()
            || lock(&self.elsewhere)
                .read_at
                .is_some_and(|at| now - at <= time::Duration::seconds(PRESENCE_HOLDS_SECONDS))
    }

    /// Agents on duty on the other instances only (as last heard: the caller checks
    /// [`Router::knows_team`]), as seats the estimate and "nobody on duty" count, never offered
    /// from here (their offers come from the instance their stream is on).
    fn on_duty_elsewhere(&self, board: &Board, now: OffsetDateTime) -> Vec<OnDuty> {
        lock(&self.elsewhere)
            .seats
            .iter()
            .filter(|s| {
                board
                    .seats
                    .get(&s.agent_id)
                    .is_none_or(|seat| duty_presence(seat) != Presence::Online)
            })
            .map(|s| OnDuty {
                id: s.agent_id,
                skills: s.skills.clone(),
                languages: s.languages.clone(),
                capacity: s.capacity,
                load: s.serving + s.offered,
                presence: Presence::Online,
                free_since: now,
            })
            .collect()
    }

    /// The estimated wait for a handoff of `memory` if it joined its queue now (for the
    /// package built before routing placed it).
    pub fn estimate_for(&self, memory: &Memory) -> Option<u64> {
        let handoff = memory.current_handoff()?;
        let queue = baton_handoff::package::route(memory, handoff, &self.handoff)
            .name
            .clone();
        let language = memory
            .language
            .clone()
            .unwrap_or_else(|| self.routing.default_language.clone());
        let now = now();
        let board = lock(&self.board);
        let handle = handle_seconds(&board.handle_times, self.routing.config.handle_seconds);
        let (waiting, mut agents, ids) = self.snapshot(&board, now);
        if self.knows_team(now) {
            agents.extend(self.on_duty_elsewhere(&board, now));
        }
        let probe = Waiting {
            handoff: handoff.id,
            queue: queue.clone(),
            skills: self.routing.queue(&queue).map(|q| q.skills.clone()).unwrap_or_default(),
            language: language.clone(),
            priority: handoff.priority,
            since: handoff.at,
            offered_to: None,
            passed: Vec::new(),
            target: None,
            held: false,
        };
        let staffing = Staffing::for_waiting(&probe, &agents);
        let ahead = waiting
            .iter()
            .zip(&ids)
            .filter(|(w, id)| {
                **id != memory.conversation_id && w.queue == queue && w.language == language && w.since <= handoff.at
            })
            .count() as u32;
        estimate(ahead, staffing, handle)
    }

    /// Conversations on the board and agents on duty here (for tests and the benchmark).
    pub fn counts(&self) -> (usize, usize) {
        let board = lock(&self.board);
        let online = board.seats.values().filter(|s| s.presence == Presence::Online).count();
        (board.waiting.len(), online)
    }
}

/// Folds one event of a waiting conversation into its entry.
fn fold(entry: &mut Entry, seats: &mut HashMap<AgentId, Seat>, event: &Event, routing: &Routing) {
    let id = event.conversation_id;
    match &event.kind {
        EventKind::OfferMade {
            agent_id, expires_at, ..
        } => {
            entry.offers_made += 1;
            entry.told.reviewing = true;
            entry.offer = Some(OutOffer {
                agent: *agent_id,
                expires_at: *expires_at,
                recorded: true,
            });
            if let Some(seat) = seats.get_mut(agent_id) {
                seat.offers.insert(id);
            }
        }
        EventKind::OfferEnded { agent_id, .. } => {
            if entry.offer.is_some_and(|o| o.agent == *agent_id) {
                entry.offer = None;
            }
            if !entry.passed.contains(agent_id) {
                entry.passed.push(*agent_id);
            }
            if let Some(seat) = seats.get_mut(agent_id) {
                seat.offers.remove(&id);
            }
        }
        EventKind::TicketOpened { ticket_id, .. } => entry.ticket = Some(ticket_id.clone()),
        EventKind::HandoffQueued {
            wait_estimate_seconds, ..
        } => {
            entry.told.queued = true;
            entry.told.estimate = *wait_estimate_seconds;
        }
        EventKind::SystemNote { text, suggestions } => {
            entry.told.last_line = Some(text.as_str().to_owned());
            entry.told.last_at = Some(event.at);
            if !suggestions.is_empty() {
                entry.told.callback = true;
            }
        }
        EventKind::CustomerMessage { text, .. } => {
            let text = text.as_str().trim();
            if entry.awaiting_contact || entry.contact.is_none() {
                if let Some(found) = text.split_whitespace().find_map(email_in) {
                    entry.contact = Some(found);
                    if entry.awaiting_contact && entry.ticket.is_some() {
                        entry.contact_for_ticket = true;
                    }
                }
            }
            if entry.told.callback && entry.ticket.is_none() {
                let narration = &routing.config.narration;
                let says = |lines: &baton_routing::narration::Lines| {
                    lines.values().flatten().any(|l| l.trim().eq_ignore_ascii_case(text))
                };
                if says(&narration.callback_label) {
                    entry.wants = Some(FollowUp::Callback);
                } else if says(&narration.email_label) {
                    entry.wants = Some(FollowUp::Email);
                }
            }
        }
        _ => {}
    }
}

/// The sequence number of the first event at or after `since` (the wait's start).
fn since_seq(events: &[Event], since: OffsetDateTime) -> u64 {
    events.iter().find(|e| e.at >= since).map_or(u64::MAX, |e| e.seq)
}

/// How to reach the customer, when they said: an email they gave or started with.
fn contact_of(memory: &Memory) -> Option<String> {
    memory
        .slots
        .get("email")
        .map(|s| s.value.clone())
        .or_else(|| memory.profile.email.clone())
        .or_else(|| memory.slots.get("phone").map(|s| s.value.clone()))
}

/// An email address in one word of a message, without the punctuation around it.
fn email_in(word: &str) -> Option<String> {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    let (user, domain) = word.split_once('@')?;
    let plausible = !user.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && word.len() <= 254
        && !word.chars().any(char::is_whitespace);
    plausible.then(|| word.to_owned())
}

/// The handle time the estimate uses: the mean of recent ones, once there are enough.
fn handle_seconds(recent: &VecDeque<u64>, configured: u64) -> u64 {
    if recent.len() < HANDLE_TIMES_NEEDED {
        return configured;
    }
    (recent.iter().sum::<u64>() / recent.len() as u64).max(1)
}

/// A seat's presence as the plan sees it: in the grace after their last stream dropped, an
/// agent keeps their presence but is offered nothing (nobody would see the offer).
fn duty_presence(seat: &Seat) -> Presence {
    match seat.presence {
        Presence::Online if seat.streams == 0 && seat.lost_at.is_some() => Presence::Away,
        presence => presence,
    }
}

fn status_of(id: AgentId, seat: &Seat) -> AgentStatus {
    let mut offers: Vec<ConversationId> = seat.offers.iter().copied().collect();
    offers.sort();
    AgentStatus {
        agent_id: id,
        display_name: seat.name.clone(),
        presence: seat.presence,
        serving: seat.owned.len() as u32,
        capacity: seat.profile.capacity,
        skills: seat.profile.skills.clone(),
        languages: seat.profile.languages.clone(),
        team: seat.profile.team.clone(),
        offers,
    }
}

fn follow_up_words(reason: FollowUp) -> &'static str {
    match reason {
        FollowUp::AfterHours => "after hours",
        FollowUp::NobodyAvailable => "nobody available",
        FollowUp::Callback => "callback",
        FollowUp::Email => "email",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_found_in_words() {
        assert_eq!(email_in("sarah@example.com."), Some("sarah@example.com".into()));
        assert_eq!(email_in("(ana.garcia@correo.es)"), Some("ana.garcia@correo.es".into()));
        assert_eq!(email_in("@home"), None);
        assert_eq!(email_in("me@localhost"), None);
    }

    #[test]
    fn measured_handle_times_replace_the_configured_one() {
        let mut recent = VecDeque::new();
        assert_eq!(handle_seconds(&recent, 300), 300);
        recent.extend([100, 200, 300, 400, 500]);
        assert_eq!(handle_seconds(&recent, 300), 300);
        recent.push_back(1300);
        assert_eq!(handle_seconds(&recent, 300), 466);
    }
}

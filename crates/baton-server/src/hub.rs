//! Live fan-out of newly stored events to open WebSocket streams, inside one server process.
//!
//! The hub is a hint, not the record: subscribers remember the last sequence number they
//! sent and read any gap (a missed, late or lagging delivery) back from the store, so a
//! stream never skips or repeats an event even when two commits are published out of order.
//! Events other instances commit arrive through the relay (see `relay`); when notices may have
//! been lost, [`Hub::resync`] tells every stream to read back what it follows.

use baton_domain::{ConversationId, Event};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{broadcast, watch};

const PER_CONVERSATION_CAPACITY: usize = 64;
const ALL_EVENTS_CAPACITY: usize = 4_096;

/// Publishes stored events to the streams that follow them.
pub struct Hub {
    conversations: Mutex<HashMap<ConversationId, broadcast::Sender<Arc<Event>>>>,
    all: broadcast::Sender<Arc<Event>>,
    per_conversation: usize,
    /// Bumped when deliveries may have been lost.
    resync: watch::Sender<u64>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::with_capacity(PER_CONVERSATION_CAPACITY, ALL_EVENTS_CAPACITY)
    }
}

/// A stream of one conversation's new events; leaving it unsubscribes.
pub struct Subscription<'a> {
    hub: &'a Hub,
    id: ConversationId,
    pub receiver: broadcast::Receiver<Arc<Event>>,
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut map = self.hub.conversations.lock().unwrap_or_else(PoisonError::into_inner);
        // Our own receiver still counts here; remove the channel when it is the last one.
        if map.get(&self.id).is_some_and(|sender| sender.receiver_count() <= 1) {
            map.remove(&self.id);
        }
    }
}

impl Hub {
    /// A hub whose channels hold this many undelivered events before a subscriber lags (and
    /// reads the rest back from the store). Tests use tiny ones to force lagging.
    pub fn with_capacity(per_conversation: usize, all: usize) -> Self {
        Self {
            conversations: Mutex::new(HashMap::new()),
            all: broadcast::channel(all.max(1)).0,
            per_conversation: per_conversation.max(1),
            resync: watch::channel(0).0,
        }
    }

    /// Follows one conversation's new events.
    pub fn subscribe(&self, id: ConversationId) -> Subscription<'_> {
        let mut map = self.conversations.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = map
            .entry(id)
            .or_insert_with(|| broadcast::channel(self.per_conversation).0)
            .subscribe();
        Subscription {
            hub: self,
            id,
            receiver,
        }
    }

    /// Follows every conversation's new events (agent streams filter what concerns them).
    pub fn subscribe_all(&self) -> broadcast::Receiver<Arc<Event>> {
        self.all.subscribe()
    }

    /// Announces events that were just committed.
    pub fn publish(&self, events: &[Event]) {
        let Some(first) = events.first() else { return };
        let sender = {
            let map = self.conversations.lock().unwrap_or_else(PoisonError::into_inner);
            map.get(&first.conversation_id).cloned()
        };
        for event in events {
            let event = Arc::new(event.clone());
            if let Some(sender) = &sender {
                // No receiver left means every stream closed; their Drop cleans the map.
                let _ = sender.send(event.clone());
            }
            let _ = self.all.send(event);
        }
    }

    /// Whether any stream here would receive `id`'s events (a stream of that conversation,
    /// or an agent stream, which sees every conversation).
    pub fn wants(&self, id: ConversationId) -> bool {
        self.all.receiver_count() > 0
            || self
                .conversations
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains_key(&id)
    }

    /// Tells every stream that deliveries may have been lost, so each reads back from the
    /// store what it follows.
    pub fn resync(&self) {
        self.resync.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Resync requests from now on (see [`Hub::resync`]).
    pub fn resyncs(&self) -> Resyncs {
        let mut receiver = self.resync.subscribe();
        receiver.mark_unchanged();
        Resyncs(receiver)
    }

    /// How many conversations have at least one open stream.
    pub fn followed_conversations(&self) -> usize {
        self.conversations.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A stream's view of resync requests.
pub struct Resyncs(watch::Receiver<u64>);

impl Resyncs {
    /// Resolves at the next resync request.
    pub async fn requested(&mut self) {
        if self.0.changed().await.is_err() {
            // The hub is gone; so is everything that could ask.
            std::future::pending::<()>().await;
        }
    }
}

//! Live fan-out of newly stored events to open WebSocket streams, inside one server process.
//!
//! The hub is a hint, not the record: subscribers remember the last sequence number they
//! sent and read any gap (a missed, late or lagging delivery) back from the store, so a
//! stream never skips or repeats an event even when two commits are published out of order.

use baton_domain::{ConversationId, Event};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

const PER_CONVERSATION_CAPACITY: usize = 64;
const ALL_EVENTS_CAPACITY: usize = 4_096;

/// Publishes stored events to the streams that follow them.
pub struct Hub {
    conversations: Mutex<HashMap<ConversationId, broadcast::Sender<Arc<Event>>>>,
    all: broadcast::Sender<Arc<Event>>,
    per_conversation: usize,
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

    /// How many conversations have at least one open stream.
    pub fn followed_conversations(&self) -> usize {
        self.conversations.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

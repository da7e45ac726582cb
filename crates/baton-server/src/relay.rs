//! Brings events that other Baton instances commit to this instance's streams, for a store
//! that several instances share (PostgreSQL). The store announces each commit; the relay reads
//! the events from the store (the only record) and publishes them on this instance's hub,
//! where they go out exactly as local ones do. When announcements may have been lost, every
//! stream reads back what it follows. A store only this process writes announces nothing, and
//! no relay runs.

use crate::Hub;
use baton_store::{Notice, Notices, Store};
use std::sync::Arc;
use std::time::Duration;

/// How long the relay waits before asking again when the database is unreachable.
const RETRY: Duration = Duration::from_secs(1);

/// Most events read back for one announcement (a commit appends a handful).
const MOST_EVENTS: u64 = 1_000;

/// Relays until the task is stopped.
pub async fn run(store: Arc<dyn Store>, hub: Arc<Hub>, mut notices: Box<dyn Notices>) {
    loop {
        match notices.next().await {
            Ok(Notice::Appended(appended)) => {
                if !hub.wants(appended.conversation_id) {
                    continue;
                }
                let count = (appended.to_seq - appended.from_seq + 1).min(MOST_EVENTS);
                let after = appended.from_seq.saturating_sub(1);
                match store.events_after(appended.conversation_id, after, count as u32).await {
                    Ok(events) => hub.publish(&events),
                    Err(e) => {
                        tracing::warn!(error = %e, conversation = %appended.conversation_id.0, "reading another instance's events");
                        hub.resync();
                    }
                }
            }
            Ok(Notice::Missed) => {
                tracing::info!("the feed of other instances' commits was interrupted; streams read back");
                hub.resync();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the feed of other instances' commits failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

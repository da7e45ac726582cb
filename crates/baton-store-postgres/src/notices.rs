//! Notifications between instances: what a commit appended, sent with `pg_notify` inside the
//! transaction, and the listener that turns them into [`Notice`]s for everyone else.
//!
//! A payload is `INSTANCE CONVERSATION FROM TO` (the writing instance's id, the conversation,
//! the first and last seq appended): a few dozen bytes, far below PostgreSQL's 8,000-byte
//! limit. The events themselves are read from the table, which stays the only record; a lost
//! notification is made good by reading the log back (streams fill gaps by seq).

use baton_domain::ConversationId;
use baton_store::{Appended, Notice, Notices, StoreError};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use std::time::Duration;
use uuid::Uuid;

/// The channel of the Baton schema `schema` (an identifier; at most 63 bytes).
pub(crate) fn channel(schema: &str) -> String {
    let mut channel = format!("baton_events:{schema}");
    while channel.len() > 63 {
        channel.pop();
    }
    channel
}

pub(crate) fn payload(instance: Uuid, conversation: ConversationId, from_seq: u64, to_seq: u64) -> String {
    format!("{} {} {from_seq} {to_seq}", instance.simple(), conversation.0.simple())
}

/// The writing instance and what it appended, or `None` for a payload that is not Baton's.
fn parse(payload: &str) -> Option<(Uuid, Appended)> {
    let mut parts = payload.split(' ');
    let instance = Uuid::parse_str(parts.next()?).ok()?;
    let conversation_id = ConversationId(Uuid::parse_str(parts.next()?).ok()?);
    let from_seq = parts.next()?.parse().ok()?;
    let to_seq = parts.next()?.parse().ok()?;
    (parts.next().is_none() && from_seq <= to_seq).then_some((
        instance,
        Appended {
            conversation_id,
            from_seq,
            to_seq,
        },
    ))
}

/// How long the feed waits for a notification before it checks that its connection is alive
/// (a connection dropped without a word would otherwise wait forever).
const QUIET_CHECK: Duration = Duration::from_secs(30);

/// One instance's feed of the other instances' commits, on a connection of its own (not one
/// of the pool's, which serve requests).
pub(crate) struct PgNotices {
    options: PgConnectOptions,
    channel: String,
    instance: Uuid,
    /// `None` after a failure: the next call connects afresh and reports [`Notice::Missed`].
    listener: Option<PgListener>,
}

impl PgNotices {
    pub(crate) async fn listen(options: PgConnectOptions, channel: String, instance: Uuid) -> Result<Self, StoreError> {
        let listener = connect(&options, &channel).await?;
        Ok(Self {
            options,
            channel,
            instance,
            listener: Some(listener),
        })
    }
}

/// A listener on its own one-connection pool, listening on `channel`.
async fn connect(options: &PgConnectOptions, channel: &str) -> Result<PgListener, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool)
        .await
        .map_err(StoreError::backend("opening the notice feed"))?;
    listener
        .listen(channel)
        .await
        .map_err(StoreError::backend("listening for other instances' commits"))?;
    Ok(listener)
}

#[async_trait::async_trait]
impl Notices for PgNotices {
    async fn next(&mut self) -> Result<Notice, StoreError> {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                // Listening again from scratch; only then is it safe to say "read back what
                // you hold": nothing committed after this point is missed.
                self.listener = Some(connect(&self.options, &self.channel).await?);
                return Ok(Notice::Missed);
            };
            let received = match tokio::time::timeout(QUIET_CHECK, listener.try_recv()).await {
                Ok(received) => received,
                Err(_quiet) => {
                    // Nothing for a while: make sure the connection still answers.
                    if let Err(e) = sqlx::query("SELECT 1").execute(&mut *listener).await {
                        self.listener = None;
                        return Err(StoreError::backend("checking the notice feed")(e));
                    }
                    continue;
                }
            };
            match received {
                Ok(Some(notification)) => match parse(notification.payload()) {
                    Some((instance, appended)) if instance != self.instance => return Ok(Notice::Appended(appended)),
                    Some(_) => continue,
                    None => {
                        tracing::warn!(
                            payload = notification.payload(),
                            "ignoring a notification Baton did not send"
                        );
                        continue;
                    }
                },
                // The connection dropped and the listener has already reconnected.
                Ok(None) => return Ok(Notice::Missed),
                Err(e) => {
                    // Whatever the failure, start over on a new connection.
                    self.listener = None;
                    return Err(StoreError::backend("waiting for other instances' commits")(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back_and_anything_else_is_refused() {
        let instance = Uuid::new_v4();
        let conversation = ConversationId(Uuid::now_v7());
        let (from, appended) = parse(&payload(instance, conversation, 4, 9)).expect("parses");
        assert_eq!(from, instance);
        assert_eq!(
            appended,
            Appended {
                conversation_id: conversation,
                from_seq: 4,
                to_seq: 9
            }
        );
        for bad in [
            "",
            "x y 1 2",
            &format!("{} {} 9 4", instance.simple(), conversation.0.simple()),
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
        assert!(parse(&format!("{} {} 1 2 3", instance.simple(), conversation.0.simple())).is_none());
    }

    #[test]
    fn channels_fit_an_identifier() {
        assert_eq!(channel("public"), "baton_events:public");
        assert!(channel(&"s".repeat(100)).len() <= 63);
    }
}

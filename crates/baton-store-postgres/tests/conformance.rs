//! Runs the shared store conformance suite, plus PostgreSQL-only checks, each on a fresh
//! schema of the database `BATON_TEST_DATABASE_URL` names.

use baton_store::Store;
use baton_store_postgres::testing::{database_url, fresh_schema, fresh_store, skipped};
use baton_store_postgres::PgStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_conformance_suite() {
    let Some(url) = database_url() else {
        return skipped("postgres_store_passes_the_conformance_suite");
    };
    baton_store::conformance::run_all(|| {
        let url = url.clone();
        async move {
            let store = fresh_store(&url)
                .await
                .unwrap_or_else(|e| panic!("opening postgres: {e}"));
            Arc::new(store) as Arc<dyn Store>
        }
    })
    .await;
}

/// The database itself refuses to change, delete or truncate stored events.
#[tokio::test]
async fn the_database_refuses_to_change_or_delete_events() {
    use sqlx::{ConnectOptions, Connection};
    let Some(url) = database_url() else {
        return skipped("the_database_refuses_to_change_or_delete_events");
    };
    let options = fresh_schema(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let store = PgStore::connect_with(options.clone(), 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    new_conversation(&store).await;
    store.close().await;
    let mut connection = options.connect().await.unwrap_or_else(|e| panic!("{e}"));
    for statement in [
        "UPDATE events SET type = 'x'",
        "DELETE FROM events",
        "TRUNCATE events CASCADE",
    ] {
        let refused = sqlx::query(statement).execute(&mut connection).await;
        assert!(
            refused.as_ref().is_err_and(|e| e.to_string().contains("append-only")),
            "{statement}: {refused:?}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count, 1);
    connection.close().await.unwrap_or_else(|e| panic!("{e}"));
}

/// Two stores on one database (two Baton instances) writing to the same conversations at once:
/// every message stored once, sequence numbers gapless, and a retry sent to the other instance
/// answered with the original.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_gapless_log() {
    let Some(url) = database_url() else {
        return skipped("two_instances_share_one_gapless_log");
    };
    let options = fresh_schema(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = PgStore::connect_with(options.clone(), 4)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        instances.push(Arc::new(store) as Arc<dyn Store>);
    }
    let mut conversations = Vec::new();
    for _ in 0..3 {
        conversations.push(new_conversation(&*instances[0]).await);
    }
    let mut tasks = Vec::new();
    for (n, store) in instances.iter().enumerate() {
        for &id in &conversations {
            for writer in 0..2 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..20 {
                        let command = customer_says(&format!("instance {n} writer {writer} message {i}"));
                        store
                            .execute(id, command, now())
                            .await
                            .unwrap_or_else(|e| panic!("append: {e}"));
                    }
                }));
            }
        }
    }
    for task in tasks {
        task.await.unwrap_or_else(|e| panic!("writer task: {e}"));
    }
    for &id in &conversations {
        let events = instances[1]
            .events_after(id, 0, 1000)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=81).collect::<Vec<u64>>(), "gapless, each message once");
        let record = instances[0]
            .conversation(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("conversation {id} is stored"));
        assert_eq!(record.last_seq, 81);
    }

    let id = conversations[0];
    let retried = customer_says("sent once, retried on the other instance");
    let first = instances[0]
        .execute(id, retried.clone(), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = instances[1]
        .execute(id, retried, now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.replayed);
    assert_eq!(again.events, first.events);
    assert_eq!(
        instances[1]
            .events_after(id, 81, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .len(),
        1
    );
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn customer_says(text: &str) -> baton_domain::Command {
    baton_domain::Command::PostCustomerMessage {
        text: baton_domain::MessageText::parse(text).unwrap_or_else(|e| panic!("{e}")),
        client_message_id: baton_domain::ClientMessageId::parse(uuid::Uuid::now_v7().to_string())
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

async fn new_conversation(store: &dyn Store) -> baton_domain::ConversationId {
    let id = baton_domain::ConversationId(uuid::Uuid::now_v7());
    let new = baton_store::NewConversation {
        id,
        channel: baton_domain::Channel::Web,
        language: None,
        customer: baton_domain::CustomerProfile::default(),
        customer_token_hash: baton_store::TokenHash([9; 32]),
    };
    store
        .create_conversation(new, now())
        .await
        .unwrap_or_else(|e| panic!("creating a conversation: {e}"));
    id
}

/// The database drops the notice feed's connection: the feed says notices may have been missed
/// (so streams read back), and then hears other instances' commits again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_notice_feed_says_so_and_listens_again() {
    use baton_store::Notice;
    use sqlx::{ConnectOptions, Connection};
    let Some(url) = database_url() else {
        return skipped("a_dropped_notice_feed_says_so_and_listens_again");
    };
    let options = fresh_schema(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let this = PgStore::connect_with(options.clone(), 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let other = PgStore::connect_with(options.clone(), 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut notices = this
        .notices()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("PostgreSQL announces commits"));
    let id = new_conversation(&other).await;
    other
        .execute(id, customer_says("before the drop"), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), notices.next()).await;
    assert!(
        matches!(heard, Ok(Ok(Notice::Appended(a))) if a.conversation_id == id && a.from_seq == 2 && a.to_seq == 2),
        "{heard:?}"
    );

    let mut admin = options.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND query LIKE $1",
    )
    .bind(format!("%{schema}%"))
    .fetch_all(&mut admin)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    admin.close().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dropped, vec![true], "the feed's connection was dropped");

    // The next answers: perhaps an error (the caller asks again), then `Missed`.
    let mut missed = false;
    for _ in 0..5 {
        match tokio::time::timeout(std::time::Duration::from_secs(10), notices.next()).await {
            Ok(Ok(Notice::Missed)) => {
                missed = true;
                break;
            }
            Ok(Err(_)) => continue,
            other => panic!("expected the feed to say it missed notices, got {other:?}"),
        }
    }
    assert!(missed, "the feed said notices may have been missed");
    other
        .execute(id, customer_says("after the drop"), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), notices.next()).await;
    assert!(
        matches!(heard, Ok(Ok(Notice::Appended(a))) if a.from_seq == 3),
        "listening again: {heard:?}"
    );
}

/// The store works over TLS with the server's certificate verified (`sslmode=verify-full`),
/// and refuses a server whose certificate does not name the host it dialled.
#[tokio::test]
async fn the_store_runs_over_a_verified_tls_link() {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let Some(url) = database_url() else {
        return skipped("the_store_runs_over_a_verified_tls_link");
    };
    let mut plain = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("{e}"))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut plain)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The cluster's certificate authority (scripts/pg-test-cluster shows it as ssl_ca_file).
    let certificate: String = sqlx::query_scalar("SHOW ssl_ca_file")
        .fetch_one(&mut plain)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    plain.close().await.unwrap_or_else(|e| panic!("{e}"));
    if ssl != "on" || certificate.is_empty() {
        return baton_store_postgres::testing::skipped_because(
            "the_store_runs_over_a_verified_tls_link",
            "the test cluster has no TLS (scripts/pg-test-cluster enables it when openssl is installed)",
        );
    }
    let verified = |options: PgConnectOptions| {
        options
            .ssl_mode(PgSslMode::VerifyFull)
            .ssl_root_cert(certificate.as_str())
    };
    let options = verified(fresh_schema(&url).await.unwrap_or_else(|e| panic!("{e}")));
    let store = PgStore::connect_with(options.clone(), 2)
        .await
        .unwrap_or_else(|e| panic!("connecting over TLS: {e}"));
    let id = new_conversation(&store).await;
    store
        .execute(id, customer_says("sent over TLS"), now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut connection = options.connect().await.unwrap_or_else(|e| panic!("{e}"));
    let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(encrypted, "the connection is encrypted");
    connection.close().await.unwrap_or_else(|e| panic!("{e}"));
    // The certificate names 127.0.0.1, not `localhost`: verification refuses it.
    let wrong_name = verified(
        PgConnectOptions::from_str(&url.replacen("127.0.0.1", "localhost", 1)).unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(
        wrong_name.connect().await.is_err(),
        "a certificate for another host is refused"
    );
}

/// Shared presence: an instance's word replaces its last, the others hear it until it runs
/// out, an instance never hears itself, and an agent on duty on two instances counts once.
#[tokio::test]
async fn instances_share_who_is_on_duty_until_their_word_runs_out() {
    use baton_store::SharedSeat;
    let Some(url) = database_url() else {
        return skipped("instances_share_who_is_on_duty_until_their_word_runs_out");
    };
    let store = fresh_store(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let (a, b, c) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let omar = baton_domain::AgentId(uuid::Uuid::new_v4());
    let lucia = baton_domain::AgentId(uuid::Uuid::new_v4());
    let seat = |agent_id, name: &str, serving| SharedSeat {
        agent_id,
        display_name: name.into(),
        skills: vec!["orders".into(), "general".into()],
        languages: vec!["en".into(), "es".into()],
        team: (name == "Lucía").then(|| "madrid".into()),
        capacity: 3,
        serving,
        offered: 1,
    };
    let by_id = |mut seats: Vec<SharedSeat>| {
        seats.sort_by_key(|s| s.agent_id.0);
        seats
    };
    let holds = std::time::Duration::from_secs(10);
    let heard = |instance| {
        let store = &store;
        async move {
            by_id(
                store
                    .presence_elsewhere(instance)
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        }
    };
    let share_for = |instance, seats: Vec<SharedSeat>, holds| {
        let store = &store;
        async move {
            store
                .share_presence(instance, &seats, holds)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let share = |instance, seats| share_for(instance, seats, holds);

    share(a, vec![seat(omar, "Omar", 1), seat(lucia, "Lucía", 0)]).await;
    assert_eq!(
        heard(b).await,
        by_id(vec![seat(omar, "Omar", 1), seat(lucia, "Lucía", 0)])
    );
    assert_eq!(heard(a).await, vec![], "an instance does not hear itself");
    // A's next word replaces its last: Lucía went off duty.
    share(a, vec![seat(omar, "Omar", 2)]).await;
    assert_eq!(heard(b).await, vec![seat(omar, "Omar", 2)]);
    // Omar also has a stream on C: once, with the larger load.
    share(c, vec![seat(omar, "Omar", 0)]).await;
    assert_eq!(heard(b).await, vec![seat(omar, "Omar", 2)]);
    assert_eq!(heard(a).await, vec![seat(omar, "Omar", 0)]);
    // Both say nobody is on duty.
    share(a, Vec::new()).await;
    share(c, Vec::new()).await;
    assert_eq!(heard(b).await, vec![]);
    // A word that ran out (by the database's clock) counts for nobody.
    share_for(a, vec![seat(lucia, "Lucía", 0)], std::time::Duration::from_secs(2)).await;
    assert_eq!(heard(b).await, vec![seat(lucia, "Lucía", 0)]);
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(heard(b).await, vec![]);
}

/// Proof attempts are taken per account under a lock, up to the limit, whatever the number
/// sent at once; the window is the database's clock; a success clears the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_attempts_are_taken_per_account_up_to_the_limit() {
    let Some(url) = database_url() else {
        return skipped("proof_attempts_are_taken_per_account_up_to_the_limit");
    };
    let store = fresh_store(&url).await.unwrap_or_else(|e| panic!("{e}"));
    let hour = std::time::Duration::from_secs(3600);
    let mut at_once = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let store = store.clone();
        at_once.spawn(async move { store.reserve_proof("c-1", 3, hour).await });
    }
    let mut taken = 0;
    while let Some(result) = at_once.join_next().await {
        if result
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"))
        {
            taken += 1;
        }
    }
    assert_eq!(taken, 3, "ten at once, three taken");
    let take = |account: &'static str, window| {
        let store = &store;
        async move {
            store
                .reserve_proof(account, 3, window)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    assert!(take("c-2", hour).await, "another account is not touched");
    assert!(!take("c-1", hour).await);
    // Past a 200 ms window the three no longer count.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(take("c-1", std::time::Duration::from_millis(200)).await);
    assert!(take("c-1", hour).await);
    assert!(take("c-1", hour).await);
    assert!(!take("c-1", hour).await, "three within the hour again");
    store.clear_failed_proofs("c-1").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(take("c-1", hour).await, "a success clears the account");
}

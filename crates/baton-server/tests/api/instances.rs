//! Several Baton instances on one PostgreSQL database: an event committed through one instance
//! reaches the streams open on another. And on any store: when deliveries may have been lost,
//! a resync makes every stream read back what it missed.

use crate::common::{events_until, next_json, seqs, TestApp};
use serde_json::Value;
use std::time::Duration;

/// Two servers on one fresh PostgreSQL schema; `None` (skipped, and said) without a database.
async fn two_instances(test: &str) -> Option<(TestApp, TestApp)> {
    two_servers(test, false).await
}

/// The same, each server with a bot on its own demo connectors.
async fn two_bot_instances(test: &str) -> Option<(TestApp, TestApp)> {
    two_servers(test, true).await
}

async fn two_servers(test: &str, bots: bool) -> Option<(TestApp, TestApp)> {
    let with_bot = |builder: crate::common::TestAppBuilder| {
        if bots {
            builder.with_bot(crate::bot::demo_connectors().0)
        } else {
            builder
        }
    };
    let Some(builder) = with_bot(TestApp::builder().with_agent("nina@example.com", "Nina"))
        .on_postgres()
        .await
    else {
        baton_store_postgres::testing::skipped(test);
        return None;
    };
    let a = builder.start().await;
    let b = with_bot(TestApp::builder()).sharing_database_with(&a).start().await;
    Some((a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_through_one_instance_reaches_streams_on_another() {
    let Some((a, b)) = two_instances("a_message_sent_through_one_instance_reaches_streams_on_another").await else {
        return;
    };
    let conv = a.new_conversation().await;
    // The customer's stream is open on B; the messages go through A.
    let mut on_b = b
        .connect_ws(&format!("/api/v1/conversations/{}/ws?after=0", conv.id), &conv.token)
        .await;
    assert_eq!(seqs(&events_until(&mut on_b, 1).await), vec![1]);
    for n in 1..=5 {
        let sent = a
            .post_message(&conv.id, &conv.token, &format!("message {n}"), &format!("m{n}"))
            .await;
        assert_eq!(sent.status(), 201);
    }
    let seen = events_until(&mut on_b, 6).await;
    assert_eq!(seqs(&seen), vec![2, 3, 4, 5, 6], "each once, in order");
    let texts: Vec<&str> = seen.iter().filter_map(|e| e["text"].as_str()).collect();
    assert_eq!(texts, ["message 1", "message 2", "message 3", "message 4", "message 5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_one_instance_serves_a_customer_on_another() {
    let Some((a, b)) = two_instances("an_agent_on_one_instance_serves_a_customer_on_another").await else {
        return;
    };
    // Nina signs in on B and watches the queue there.
    let nina = b.login("nina@example.com").await;
    let mut agent = b.connect_ws("/api/v1/agents/ws", &nina).await;
    assert_eq!(next_json(&mut agent).await["type"], "queue");
    assert_eq!(next_json(&mut agent).await["type"], "conversations");
    // The customer is on A throughout.
    let conv = a.new_conversation().await;
    let mut customer = a
        .connect_ws(&format!("/api/v1/conversations/{}/ws?after=0", conv.id), &conv.token)
        .await;
    a.post_message(&conv.id, &conv.token, "my parcel never came", "c1")
        .await;
    assert_eq!(a.request_handoff(&conv.id, &conv.token).await.status(), 200);
    let entered = next_frame_of_type(&mut agent, "queue_entered").await;
    assert_eq!(entered["conversation"]["conversation_id"], conv.id.as_str());

    let accepted = b
        .agent_post(&format!("/api/v1/conversations/{}/accept", conv.id), &nina)
        .await;
    assert_eq!(accepted.status(), 200);
    let reply = b
        .http
        .post(b.url(&format!("/api/v1/conversations/{}/messages", conv.id)))
        .bearer_auth(&nina)
        .json(&serde_json::json!({"text": "Hi, I'm Nina. Let me look at your parcel.", "client_message_id": "n1"}))
        .send()
        .await
        .expect("agent reply");
    assert_eq!(reply.status(), 201);
    // The customer on A sees Nina join and answer.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.iter().any(|e: &Value| e["type"] == "agent_message") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent's reply reached A: {seen:?}"
        );
        let frame = next_json(&mut customer).await;
        if frame["type"] == "event" {
            seen.push(frame["event"].clone());
        }
    }
    assert!(seen.iter().any(|e| e["type"] == "assigned"), "{seen:?}");
    let answer = seen.iter().find(|e| e["type"] == "agent_message").expect("reply");
    assert_eq!(answer["text"], "Hi, I'm Nina. Let me look at your parcel.");
    // And the customer's next message, through A, reaches Nina's stream on B.
    a.post_message(&conv.id, &conv.token, "thank you!", "c2").await;
    let frame = next_frame_of_type(&mut agent, "event").await;
    let frame = if frame["event"]["text"] == "thank you!" {
        frame
    } else {
        loop {
            let next = next_frame_of_type(&mut agent, "event").await;
            if next["event"]["text"] == "thank you!" {
                break next;
            }
        }
    };
    assert_eq!(frame["event"]["type"], "customer_message");
}

/// The database drops every instance's notice connection; they reconnect by themselves and
/// what is committed afterwards still reaches the other instance's streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_feed_survives_a_dropped_connection() {
    use sqlx::{ConnectOptions, Connection};
    let Some((a, b)) = two_instances("the_notice_feed_survives_a_dropped_connection").await else {
        return;
    };
    let conv = a.new_conversation().await;
    let mut on_b = b
        .connect_ws(&format!("/api/v1/conversations/{}/ws?after=0", conv.id), &conv.token)
        .await;
    assert_eq!(seqs(&events_until(&mut on_b, 1).await), vec![1]);
    let mut admin = a
        .postgres_options()
        .expect("on postgres")
        .connect()
        .await
        .expect("connect");
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut admin)
        .await
        .expect("schema");
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND query LIKE $1",
    )
    .bind(format!("%{schema}%"))
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    admin.close().await.expect("close");
    assert_eq!(dropped, vec![true, true], "both instances' feeds were dropped");
    // Whatever is sent from now on gets through, once the feeds are back.
    let mut n = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let first = loop {
        n += 1;
        a.post_message(&conv.id, &conv.token, &format!("after the drop {n}"), &format!("d{n}"))
            .await;
        if let Ok(frame) = tokio::time::timeout(Duration::from_millis(500), next_json(&mut on_b)).await {
            break frame;
        }
        assert!(tokio::time::Instant::now() < deadline, "B never heard from A again");
    };
    assert_eq!(first["type"], "event");
    // Every message, once each and in order, including any whose notice was lost.
    let last = 1 + n;
    let mut seen = vec![first["event"]["seq"].as_u64().expect("seq")];
    if seen[0] < last {
        seen.extend(seqs(&events_until(&mut on_b, last).await));
    }
    assert_eq!(seen, (2..=last).collect::<Vec<u64>>());
}

/// Events stored without being announced (as when notices from other instances were lost)
/// reach an open stream once the hub asks for a resync, and not before.
#[tokio::test]
async fn a_resync_delivers_what_was_never_announced() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws?after=0", conv.id), &conv.token)
        .await;
    assert_eq!(seqs(&events_until(&mut ws, 1).await), vec![1]);
    let id = baton_domain::ConversationId(conv.id.parse().expect("uuid"));
    for n in 0..3 {
        let command = baton_domain::Command::PostCustomerMessage {
            text: baton_domain::MessageText::parse(format!("unannounced {n}")).expect("text"),
            client_message_id: baton_domain::ClientMessageId::parse(format!("u{n}")).expect("id"),
        };
        app.store
            .execute(id, command, baton_server::now())
            .await
            .expect("stored behind the hub's back");
    }
    let silent = tokio::time::timeout(Duration::from_millis(300), next_json(&mut ws)).await;
    assert!(silent.is_err(), "nothing was announced yet: {silent:?}");
    app.hub.resync();
    assert_eq!(seqs(&events_until(&mut ws, 4).await), vec![2, 3, 4]);
}

/// The next frame of `kind`, skipping others.
async fn next_frame_of_type(ws: &mut crate::common::Ws, kind: &str) -> Value {
    loop {
        let frame = next_json(ws).await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// A customer message the bot never heard of (its instance died before answering) is answered
/// by the sweep that takes over stale work, once, however often the sweep runs.
#[tokio::test]
async fn a_message_nobody_answered_is_taken_over_once() {
    use crate::bot::{bot_app, demo_connectors, of_type, Chat};
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, serde_json::json!({"language": "en"})).await;
    let greeting = chat.bot_reply_after(0).await;
    // The greeting's worker is done (the sweep leaves conversations a worker holds alone).
    chat.settle().await;
    let id = baton_domain::ConversationId(chat.id.parse().expect("uuid"));
    let seq = store_behind_the_bots_back(&app, id, "what is your return policy?").await;
    let bot = app.bot.as_ref().expect("bot");
    assert_eq!(
        bot.take_over_stale(Duration::from_secs(3600)).await.expect("sweep"),
        0,
        "not stale yet"
    );
    assert_eq!(bot.take_over_stale(Duration::ZERO).await.expect("sweep"), 1);
    let reply = chat.bot_reply_after(seq).await;
    assert_eq!(reply["type"], "bot_message", "{reply}");
    assert_ne!(reply["seq"], greeting["seq"]);
    assert_eq!(
        bot.take_over_stale(Duration::ZERO).await.expect("sweep"),
        0,
        "answered: nothing to take"
    );
    let events = app.events(&chat.id, &chat.token, seq).await;
    assert_eq!(of_type(&events, "bot_message").len(), 1, "{events:?}");
}

/// Two instances with bots sweep at the same moment: the unanswered message is claimed by one
/// of them and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sweeping_at_once_answer_once() {
    use crate::bot::{of_type, Chat};
    let Some((a, b)) = two_bot_instances("two_instances_sweeping_at_once_answer_once").await else {
        return;
    };
    let (mut chat, _) = Chat::start(&a, serde_json::json!({"language": "en"})).await;
    chat.bot_reply_after(0).await;
    let id = baton_domain::ConversationId(chat.id.parse().expect("uuid"));
    let seq = store_behind_the_bots_back(&a, id, "do you ship to Canada?").await;
    let (bot_a, bot_b) = (a.bot.clone().expect("bot"), b.bot.clone().expect("bot"));
    let (taken_a, taken_b) = tokio::join!(
        bot_a.take_over_stale(Duration::ZERO),
        bot_b.take_over_stale(Duration::ZERO)
    );
    assert_eq!(
        taken_a.expect("sweep a") + taken_b.expect("sweep b"),
        1,
        "one instance took it"
    );
    chat.bot_reply_after(seq).await;
    // Give a second answer the time it would need to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = a.events(&chat.id, &chat.token, seq).await;
    assert_eq!(of_type(&events, "bot_message").len(), 1, "{events:?}");
}

/// Failed proofs of identity count per account over every instance: four wrong guesses through
/// A and one through B use up Sarah's five, so B does not check the right digits that follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_proofs_add_up_over_instances() {
    use crate::bot::{of_type, signed_in, Chat};
    let Some((a, b)) = two_bot_instances("failed_proofs_add_up_over_instances").await else {
        return;
    };
    for (app, guesses) in [(&a, ["1111", "2222"]), (&a, ["3333", "4444"]), (&b, ["5555", "0142"])] {
        let (mut chat, _) = Chat::start(app, signed_in("en", "sarah.chen@example.com")).await;
        chat.ask("where is my order").await;
        let refused = chat.ask(guesses[0]).await;
        assert!(refused.contains("doesn't match"), "{refused}");
        let handed = chat.say(guesses[1]).await;
        assert_eq!(handed["type"], "system_note", "the second failure hands over: {handed}");
        let events = chat.events().await;
        let last = of_type(&events, "action_recorded")
            .into_iter()
            .rfind(|a| a["action"] == "verify_identity")
            .expect("a proof");
        assert_eq!(last["outcome"], "failed");
        let summary = last["summary"].as_str().unwrap_or_default();
        assert_eq!(summary.contains("not checked"), guesses[1] == "0142", "{last}");
    }
}

/// Proofs sent at once from ten conversations over two instances: no more are checked than
/// the account's limit (five in the demo); the others are "not checked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_sent_at_once_over_two_instances_meet_the_limit() {
    use crate::bot::{of_type, signed_in, Chat};
    let Some((a, b)) = two_bot_instances("proofs_sent_at_once_over_two_instances_meet_the_limit").await else {
        return;
    };
    let mut chats = Vec::new();
    for app in [&a, &b, &a, &b, &a, &b, &a, &b, &a, &b] {
        let (mut chat, _) = Chat::start(app, signed_in("en", "sarah.chen@example.com")).await;
        chat.ask("where is my order").await;
        chats.push(chat);
    }
    futures_util::future::join_all(chats.iter_mut().map(|chat| chat.say("1111"))).await;
    let mut checked = 0;
    let mut not_checked = 0;
    for chat in &chats {
        let events = chat.events().await;
        for proof in of_type(&events, "action_recorded")
            .into_iter()
            .filter(|a| a["action"] == "verify_identity")
        {
            assert_eq!(proof["outcome"], "failed", "{proof}");
            if proof["summary"].as_str().unwrap_or_default().contains("not checked") {
                not_checked += 1;
            } else {
                checked += 1;
            }
        }
    }
    assert_eq!((checked, not_checked), (5, 5));
}

/// Stores a customer message without telling any bot, as if its instance died at once.
async fn store_behind_the_bots_back(app: &TestApp, id: baton_domain::ConversationId, text: &str) -> u64 {
    let command = baton_domain::Command::PostCustomerMessage {
        text: baton_domain::MessageText::parse(text).expect("text"),
        client_message_id: baton_domain::ClientMessageId::parse("behind-the-back").expect("id"),
    };
    let executed = app
        .store
        .execute(id, command, baton_server::now())
        .await
        .expect("stored");
    executed.events[0].seq
}

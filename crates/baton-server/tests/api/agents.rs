//! The support side: login, queue, accept races, ownership, hand back, resolve, agent stream.

use crate::common::{events_until, next_json, TestApp, AGENT_PASSWORD};
use serde_json::{json, Value};

#[tokio::test]
async fn login_checks_the_password_and_tokens_are_required() {
    let app = TestApp::builder().with_agent("nina@example.com", "Nina").start().await;
    let wrong = app
        .http
        .post(app.url("/api/v1/agents/login"))
        .json(&json!({"email": "nina@example.com", "password": "guess"}))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), 401);
    let unknown = app
        .http
        .post(app.url("/api/v1/agents/login"))
        .json(&json!({"email": "nobody@example.com", "password": AGENT_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(unknown.status(), 401);
    let token = app.login("NINA@example.com").await;
    let me = app.get_json("/api/v1/agents/me", Some(&token)).await;
    assert_eq!(me["display_name"], "Nina");
    assert_eq!(
        app.http
            .get(app.url("/api/v1/queue"))
            .send()
            .await
            .expect("queue")
            .status(),
        401
    );
    let bogus = app
        .http
        .get(app.url("/api/v1/queue"))
        .bearer_auth("bat_0000")
        .send()
        .await
        .expect("queue");
    assert_eq!(bogus.status(), 401);
    // A customer token is not an agent token.
    let conv = app.new_conversation().await;
    let as_customer = app
        .http
        .get(app.url("/api/v1/queue"))
        .bearer_auth(&conv.token)
        .send()
        .await
        .expect("queue");
    assert_eq!(as_customer.status(), 403);
}

/// An unknown email costs a password hash too (a dummy one), so its answer takes the same
/// order of time as a wrong password: timing tells no one which emails are agents. Loose on
/// purpose: medians of several tries, within a factor of three.
#[tokio::test]
async fn an_unknown_email_takes_as_long_as_a_wrong_password() {
    let app = TestApp::builder().with_agent("nina@example.com", "Nina").start().await;
    let app = &app;
    let attempt = |email: &'static str| async move {
        let started = std::time::Instant::now();
        let response = app
            .http
            .post(app.url("/api/v1/agents/login"))
            .json(&json!({"email": email, "password": "guess"}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 401);
        started.elapsed()
    };
    // Alternating, so a change in the machine's load falls on both alike.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        known.push(attempt("nina@example.com").await);
        unknown.push(attempt("nobody@example.com").await);
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[4], unknown[4]);
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (1.0 / 3.0..=3.0).contains(&ratio),
        "unknown email {unknown:?} against wrong password {known:?}"
    );
}

#[tokio::test]
async fn the_queue_is_oldest_first_and_exactly_one_concurrent_accept_wins() {
    let app = TestApp::builder()
        .with_agent("a@example.com", "A")
        .with_agent("b@example.com", "B")
        .with_agent("c@example.com", "C")
        .start()
        .await;
    let first = app.new_conversation().await;
    let second = app.new_conversation().await;
    assert_eq!(app.request_handoff(&second.id, &second.token).await.status(), 200);
    assert_eq!(app.request_handoff(&first.id, &first.token).await.status(), 200);
    let tokens = [
        app.login("a@example.com").await,
        app.login("b@example.com").await,
        app.login("c@example.com").await,
    ];
    let queue = app.get_json("/api/v1/queue", Some(&tokens[0])).await;
    let waiting: Vec<&str> = queue["waiting"]
        .as_array()
        .expect("waiting")
        .iter()
        .map(|c| c["conversation_id"].as_str().expect("id"))
        .collect();
    assert_eq!(waiting, vec![second.id.as_str(), first.id.as_str()]);

    let path = format!("/api/v1/conversations/{}/accept", second.id);
    let attempts = futures_util::future::join_all(tokens.iter().map(|t| app.agent_post(&path, t))).await;
    let statuses: Vec<u16> = attempts.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "one winner: {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        2,
        "the others get 409: {statuses:?}"
    );
    let events = app.events(&second.id, &second.token, 0).await;
    assert_eq!(events.iter().filter(|e| e["type"] == "assigned").count(), 1);
    let queue = app.get_json("/api/v1/queue", Some(&tokens[0])).await;
    assert_eq!(queue["waiting"].as_array().expect("waiting").len(), 1);
}

#[tokio::test]
async fn only_the_owner_speaks_and_the_conversation_runs_to_resolution() {
    let app = TestApp::builder()
        .with_agent("nina@example.com", "Nina")
        .with_agent("omar@example.com", "Omar")
        .start()
        .await;
    let conv = app.new_conversation().await;
    let mut customer_ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
        .await;
    app.post_message(&conv.id, &conv.token, "I was charged twice for order 54192", "c1")
        .await;
    app.request_handoff(&conv.id, &conv.token).await;
    let nina = app.login("nina@example.com").await;
    let omar = app.login("omar@example.com").await;

    // An agent cannot write before accepting.
    let early = app.post_message(&conv.id, &nina, "hello", "n0").await;
    assert_eq!(early.status(), 409);
    assert_eq!(
        app.agent_post(&format!("/api/v1/conversations/{}/accept", conv.id), &nina)
            .await
            .status(),
        200
    );
    let reply = app
        .post_message(
            &conv.id,
            &nina,
            "Hi Sarah, I can see the duplicate charge on order 54192.",
            "n1",
        )
        .await;
    assert_eq!(reply.status(), 201);
    let reply: Value = reply.json().await.expect("json");
    assert_eq!(reply["type"], "agent_message");
    // The customer sees the agent's message live.
    let seen = events_until(&mut customer_ws, reply["seq"].as_u64().expect("seq")).await;
    assert!(seen.iter().any(|e| e["type"] == "assigned"));
    assert_eq!(
        seen.last().expect("last")["text"],
        "Hi Sarah, I can see the duplicate charge on order 54192."
    );

    // Another agent can neither write, hand back nor resolve.
    assert_eq!(app.post_message(&conv.id, &omar, "me too", "o1").await.status(), 409);
    assert_eq!(
        app.agent_post(&format!("/api/v1/conversations/{}/resolve", conv.id), &omar)
            .await
            .status(),
        409
    );
    assert_eq!(
        app.agent_post(&format!("/api/v1/conversations/{}/hand-back", conv.id), &omar)
            .await
            .status(),
        409
    );
    // The customer cannot act as an agent.
    assert_eq!(
        app.agent_post(&format!("/api/v1/conversations/{}/accept", conv.id), &conv.token)
            .await
            .status(),
        403
    );

    let mine = app.get_json("/api/v1/agents/me/conversations", Some(&nina)).await;
    assert_eq!(mine["conversations"][0]["conversation_id"], conv.id.as_str());

    let resolved = app
        .agent_post(&format!("/api/v1/conversations/{}/resolve", conv.id), &nina)
        .await;
    assert_eq!(resolved.status(), 200);
    let resolved: Value = resolved.json().await.expect("json");
    assert_eq!(resolved["conversation"]["phase"], "resolved");
    let late = app.post_message(&conv.id, &conv.token, "one more thing", "c2").await;
    assert_eq!(late.status(), 409);
    let problem: Value = late.json().await.expect("json");
    assert!(problem["detail"].as_str().expect("detail").contains("resolved"));
}

#[tokio::test]
async fn hand_back_returns_the_conversation_to_the_bot() {
    let app = TestApp::builder().with_agent("nina@example.com", "Nina").start().await;
    let conv = app.new_conversation().await;
    app.request_handoff(&conv.id, &conv.token).await;
    let nina = app.login("nina@example.com").await;
    app.agent_post(&format!("/api/v1/conversations/{}/accept", conv.id), &nina)
        .await;
    let back = app
        .agent_post(&format!("/api/v1/conversations/{}/hand-back", conv.id), &nina)
        .await;
    assert_eq!(back.status(), 200);
    let back: Value = back.json().await.expect("json");
    assert_eq!(back["conversation"]["phase"], "handed_back");
    assert_eq!(
        app.post_message(&conv.id, &nina, "bye", "n9").await.status(),
        409,
        "no longer the owner"
    );
    // The customer can ask for a human again.
    let again: Value = app
        .request_handoff(&conv.id, &conv.token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["conversation"]["phase"], "waiting_for_agent");
}

#[tokio::test]
async fn the_agent_stream_shows_queue_changes_and_owned_conversations() {
    let app = TestApp::builder().with_agent("nina@example.com", "Nina").start().await;
    let nina = app.login("nina@example.com").await;
    let mut ws = app.connect_ws("/api/v1/agents/ws", &nina).await;
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["type"], "queue");
    assert_eq!(snapshot["waiting"].as_array().expect("waiting").len(), 0);
    assert_eq!(next_json(&mut ws).await["type"], "conversations");

    let conv = app.new_conversation().await;
    app.post_message(&conv.id, &conv.token, "HUMAN please", "c1").await;
    app.request_handoff(&conv.id, &conv.token).await;
    let entered = next_json(&mut ws).await;
    assert_eq!(entered["type"], "queue_entered");
    assert_eq!(entered["conversation"]["conversation_id"], conv.id.as_str());
    assert_eq!(entered["conversation"]["phase"], "waiting_for_agent");

    app.agent_post(&format!("/api/v1/conversations/{}/accept", conv.id), &nina)
        .await;
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let frame = next_json(&mut ws).await;
        kinds.push(match frame["type"].as_str() {
            Some("event") => format!("event:{}", frame["event"]["type"].as_str().unwrap_or_default()),
            other => other.unwrap_or_default().to_owned(),
        });
    }
    assert_eq!(kinds, vec!["event:assigned", "queue_left", "event:phase_changed"]);
    // The customer's next message reaches the owning agent.
    app.post_message(&conv.id, &conv.token, "thanks for joining", "c2")
        .await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["event"]["text"], "thanks for joining");
}

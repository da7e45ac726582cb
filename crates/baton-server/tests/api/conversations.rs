//! Ordering, exactly-once append, idempotent retries and token isolation.

use crate::common::{seqs, TestApp};
use serde_json::Value;
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_get_ordered_gapless_exactly_once_events() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let mut tasks = Vec::new();
    for sender in 0..10 {
        let (http, url, token) = (
            app.http.clone(),
            app.url(&format!("/api/v1/conversations/{}/messages", conv.id)),
            conv.token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let cmid = format!("s{sender}-{i}");
                // Every message is sent twice at once, as a client retrying on a timeout would.
                let body = serde_json::json!({"text": format!("message {cmid}"), "client_message_id": cmid});
                let (a, b) = tokio::join!(
                    http.post(&url).bearer_auth(&token).json(&body).send(),
                    http.post(&url).bearer_auth(&token).json(&body).send()
                );
                let (a, b) = (a.expect("send"), b.expect("retry"));
                assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201));
                let (a, b): (Value, Value) = (a.json().await.expect("json"), b.json().await.expect("json"));
                assert_eq!(a, b, "a retry returns the very same event");
            }
        }));
    }
    for task in tasks {
        task.await.expect("sender");
    }
    let events = app.events(&conv.id, &conv.token, 0).await;
    assert_eq!(events.len(), 1 + 10 * 20);
    assert_eq!(seqs(&events), (1..=201).collect::<Vec<u64>>());
    let ids: Vec<&str> = events.iter().filter_map(|e| e["client_message_id"].as_str()).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        200,
        "each message stored exactly once"
    );
    for sender in 0..10 {
        let mine: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|c| c.starts_with(&format!("s{sender}-")))
            .collect();
        let expected: Vec<String> = (0..20).map(|i| format!("s{sender}-{i}")).collect();
        assert_eq!(mine, expected, "one sender's messages keep their order");
    }
}

#[tokio::test]
async fn a_retried_send_returns_the_original_event_and_a_changed_one_conflicts() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let first = app.post_message(&conv.id, &conv.token, "my order is late", "m-1").await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.expect("json");
    let retry = app.post_message(&conv.id, &conv.token, "my order is late", "m-1").await;
    assert_eq!(retry.status(), 201);
    assert_eq!(
        retry.headers().get("idempotent-replayed").map(|v| v.to_str().ok()),
        Some(Some("true"))
    );
    assert_eq!(retry.json::<Value>().await.expect("json"), first);
    let changed = app.post_message(&conv.id, &conv.token, "something else", "m-1").await;
    assert_eq!(changed.status(), 409);
    let problem: Value = changed.json().await.expect("json");
    assert_eq!(problem["field"], "client_message_id");
    assert_eq!(app.events(&conv.id, &conv.token, 0).await.len(), 2);
}

#[tokio::test]
async fn a_customer_token_opens_only_its_own_conversation() {
    let app = TestApp::init().await;
    let mine = app.new_conversation().await;
    let theirs = app.new_conversation().await;
    app.post_message(&theirs.id, &theirs.token, "private: my address is 1 Main St", "t-1")
        .await;
    for (method, path) in [
        ("GET", format!("/api/v1/conversations/{}", theirs.id)),
        ("GET", format!("/api/v1/conversations/{}/events", theirs.id)),
        ("POST", format!("/api/v1/conversations/{}/handoff-request", theirs.id)),
    ] {
        let request = if method == "GET" {
            app.http.get(app.url(&path))
        } else {
            app.http.post(app.url(&path))
        };
        let response = request.bearer_auth(&mine.token).send().await.expect("request");
        assert_eq!(
            response.status(),
            404,
            "{method} {path} with another conversation's token"
        );
        let body = response.text().await.expect("body");
        assert!(!body.contains("Main St"));
    }
    let post = app.post_message(&theirs.id, &mine.token, "intrusion", "x-1").await;
    assert_eq!(post.status(), 404);
    let ws = tokio_tungstenite::connect_async(app.ws_url(&format!(
        "/api/v1/conversations/{}/ws?access_token={}",
        theirs.id, mine.token
    )))
    .await;
    assert!(ws.is_err(), "the stream of another conversation does not open");
    // Nothing was written to the other conversation.
    assert_eq!(app.events(&theirs.id, &theirs.token, 0).await.len(), 2);
    // And the owner still reads their own.
    let own = app
        .http
        .get(app.url(&format!("/api/v1/conversations/{}", mine.id)))
        .bearer_auth(&mine.token)
        .send()
        .await
        .expect("get");
    assert_eq!(own.status(), 200);
}

#[tokio::test]
async fn events_page_after_a_sequence_number() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    for i in 0..5 {
        app.post_message(&conv.id, &conv.token, &format!("m{i}"), &format!("c{i}"))
            .await;
    }
    assert_eq!(seqs(&app.events(&conv.id, &conv.token, 3).await), vec![4, 5, 6]);
    let page: Value = app
        .http
        .get(app.url(&format!("/api/v1/conversations/{}/events?after=0&limit=2", conv.id)))
        .bearer_auth(&conv.token)
        .send()
        .await
        .expect("page")
        .json()
        .await
        .expect("json");
    assert_eq!(page["has_more"], true);
    assert_eq!(page["last_seq"], 6);
    assert_eq!(seqs(page["events"].as_array().expect("events")), vec![1, 2]);
    assert!(app.events(&conv.id, &conv.token, 6).await.is_empty());
}

#[tokio::test]
async fn sending_too_fast_is_answered_429_with_retry_after() {
    let app = TestApp::builder().with_rate(1, 3).start().await;
    let conv = app.new_conversation().await;
    for i in 0..3 {
        assert_eq!(
            app.post_message(&conv.id, &conv.token, "hi", &format!("r{i}"))
                .await
                .status(),
            201
        );
    }
    let limited = app.post_message(&conv.id, &conv.token, "hi", "r3").await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    assert_eq!(limited.headers()["content-type"], "application/problem+json");
    // Another customer is not affected.
    let other = app.new_conversation().await;
    assert_eq!(
        app.post_message(&other.id, &other.token, "hi", "o1").await.status(),
        201
    );
    // Nothing past the limit was stored.
    assert_eq!(app.events(&conv.id, &conv.token, 0).await.len(), 4);
}

#[tokio::test]
async fn health_answers_when_the_database_does() {
    let app = TestApp::init().await;
    let response = app.http.get(app.url("/healthz")).send().await.expect("healthz");
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.expect("json")["status"], "ok");
}

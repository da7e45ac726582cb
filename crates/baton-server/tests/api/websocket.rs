//! The conversation stream: replay, live push, sends with acks, resume after a dropped
//! connection, and a clean close on shutdown.

use crate::common::{events_until, next_json, seqs, ws_send, TestApp};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn the_stream_replays_then_pushes_and_acknowledges_sends() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    app.post_message(&conv.id, &conv.token, "before the stream", "a").await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws?after=0", conv.id), &conv.token)
        .await;
    assert_eq!(seqs(&events_until(&mut ws, 2).await), vec![1, 2]);

    // A message sent over REST arrives live.
    app.post_message(&conv.id, &conv.token, "over rest", "b").await;
    let live = events_until(&mut ws, 3).await;
    assert_eq!(live[0]["text"], "over rest");

    // A message sent on the stream comes back as an event, then an ack.
    ws_send(&mut ws, "over the socket", "c").await;
    let event = next_json(&mut ws).await;
    assert_eq!(event["type"], "event");
    assert_eq!(event["event"]["seq"], 4);
    assert_eq!(event["event"]["text"], "over the socket");
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["client_message_id"], "c");
    assert_eq!(ack["seq"], 4);
    assert_eq!(ack["replayed"], false);

    // A retry on the stream is acknowledged with the original seq and stores nothing new.
    ws_send(&mut ws, "over the socket", "c").await;
    let ack = next_json(&mut ws).await;
    assert_eq!(
        (ack["type"].as_str(), ack["seq"].as_u64(), ack["replayed"].as_bool()),
        (Some("ack"), Some(4), Some(true))
    );

    // Bad frames get an error frame naming the problem; the stream stays open.
    ws.send_text("{\"type\":\"send\",\"text\":\"\",\"client_message_id\":\"d\"}")
        .await;
    let error = next_json(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["problem"]["status"], 422);
    assert_eq!(error["problem"]["field"], "text");
    ws.send_text("not json").await;
    assert_eq!(next_json(&mut ws).await["type"], "error");
    ws_send(&mut ws, "still works", "e").await;
    assert_eq!(next_json(&mut ws).await["event"]["seq"], 5);
    assert_eq!(app.events(&conv.id, &conv.token, 0).await.len(), 5);
}

trait SendText {
    async fn send_text(&mut self, text: &str);
}

impl SendText for crate::common::Ws {
    async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.send(Message::text(text.to_owned())).await.expect("send");
    }
}

#[tokio::test]
async fn reconnecting_with_the_last_seen_seq_loses_and_duplicates_nothing() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
        .await;
    for i in 0..5 {
        ws_send(&mut ws, &format!("first {i}"), &format!("f{i}")).await;
    }
    let seen = events_until(&mut ws, 6).await;
    let last_seen = seen.last().and_then(|e| e["seq"].as_u64()).expect("last seq");
    assert_eq!(last_seen, 6);
    // The connection drops without a close handshake.
    drop(ws);
    // Meanwhile the conversation goes on.
    for i in 0..7 {
        app.post_message(&conv.id, &conv.token, &format!("while away {i}"), &format!("w{i}"))
            .await;
    }
    let mut ws = app
        .connect_ws(
            &format!("/api/v1/conversations/{}/ws?after={last_seen}", conv.id),
            &conv.token,
        )
        .await;
    let resumed = events_until(&mut ws, 13).await;
    assert_eq!(seqs(&resumed), (7..=13).collect::<Vec<u64>>());
    assert_eq!(resumed[0]["text"], "while away 0");
    // Nothing more is pending: the next frame is the next new event.
    app.post_message(&conv.id, &conv.token, "after resume", "z").await;
    assert_eq!(next_json(&mut ws).await["event"]["seq"], 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_see_every_event_exactly_once_in_order() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let mut watchers = Vec::new();
    for _ in 0..4 {
        watchers.push(
            app.connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
                .await,
        );
    }
    let mut senders = Vec::new();
    for s in 0..4 {
        let (http, url, token) = (
            app.http.clone(),
            app.url(&format!("/api/v1/conversations/{}/messages", conv.id)),
            conv.token.clone(),
        );
        senders.push(tokio::spawn(async move {
            for i in 0..25 {
                let body = serde_json::json!({"text": "x", "client_message_id": format!("{s}-{i}")});
                http.post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
            }
        }));
    }
    for sender in senders {
        sender.await.expect("sender");
    }
    for ws in &mut watchers {
        let events = events_until(ws, 101).await;
        assert_eq!(seqs(&events), (1..=101).collect::<Vec<u64>>());
    }
}

#[tokio::test]
async fn a_resume_point_past_the_end_is_refused() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let response = app
        .http
        .get(app.url(&format!("/api/v1/conversations/{}/ws?after=99", conv.id)))
        .bearer_auth(&conv.token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["field"], "after");
}

#[tokio::test]
async fn shutdown_closes_streams_with_going_away() {
    let mut app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
        .await;
    events_until(&mut ws, 1).await;
    let stopping = tokio::spawn(async move {
        app.stop().await;
        app
    });
    let close = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("close within 5 s")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.expect("close frame with a code");
    assert_eq!(u16::from(frame.code), 1001);
    drop(ws);
    stopping.await.expect("server stopped");
}

/// A stream whose live channel overflows still gets every event once, in order. Forced: the
/// hub holds one undelivered event, and each bot turn publishes several events in one call
/// on this single-threaded runtime, so the stream's receiver lags on every turn and reads the
/// rest back from the store.
#[tokio::test]
async fn a_lagging_stream_gets_every_event_once_in_order() {
    let app = TestApp::builder()
        .with_agent("nina@example.com", "Nina")
        .with_hub_capacity(1)
        .with_bot(baton_connectors::Connectors::demo())
        .start()
        .await;
    let agent = app.login("nina@example.com").await;
    let conv = app.new_conversation().await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &agent)
        .await;
    for (n, text) in ["do you accept paypal?", "thanks", "what is your return policy", "qwzx"]
        .into_iter()
        .enumerate()
    {
        let sent = app.post_message(&conv.id, &conv.token, text, &format!("lag-{n}")).await;
        assert_eq!(sent.status(), 201);
    }
    let bot = app.bot.as_ref().expect("bot");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !bot.is_idle() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot did not settle within 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let last = app
        .get_json(&format!("/api/v1/conversations/{}", conv.id), Some(&agent))
        .await["last_seq"]
        .as_u64()
        .expect("last_seq");
    assert!(last > 12, "the bot answered every message ({last} events)");
    let seen = events_until(&mut ws, last).await;
    assert_eq!(
        seqs(&seen),
        (1..=last).collect::<Vec<_>>(),
        "every event once, in order"
    );
}

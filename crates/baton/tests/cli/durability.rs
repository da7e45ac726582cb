//! Acknowledged messages survive `kill -9`, once or twenty times in a row; SIGTERM drains and
//! closes streams cleanly.

use crate::common::{Server, TempDir};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// (conversation id, customer token).
pub(crate) type Conversation = (String, String);

/// Acknowledged messages: client message id → (conversation id, acknowledged seq).
pub(crate) type Acked = Arc<Mutex<HashMap<String, (String, u64)>>>;

pub(crate) async fn start_conversations(http: &reqwest::Client, server: &Server, n: usize) -> Vec<Conversation> {
    let mut conversations = Vec::with_capacity(n);
    for _ in 0..n {
        conversations.push(server.new_conversation(http, None).await);
    }
    conversations
}

/// Waits until at least `n` messages whose client id starts with `label` are acknowledged
/// (a loaded machine may take a while to get the load going).
pub(crate) async fn acks_reach(acked: &Acked, label: &str, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let count = acked
            .lock()
            .expect("lock")
            .keys()
            .filter(|k| k.starts_with(label))
            .count();
        if count >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {count} of {n} `{label}` messages acknowledged within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One sender per conversation, sending until the server stops answering; every 201 is
/// recorded in `acked`. Each task returns how many sends it attempted.
pub(crate) fn spawn_senders(
    http: &reqwest::Client,
    server: &Server,
    conversations: &[Conversation],
    label: &str,
    acked: &Acked,
) -> Vec<JoinHandle<usize>> {
    conversations
        .iter()
        .cloned()
        .map(|(id, token)| {
            let (http, acked, url) = (
                http.clone(),
                acked.clone(),
                server.url(&format!("/api/v1/conversations/{id}/messages")),
            );
            let label = label.to_owned();
            tokio::spawn(async move {
                let mut attempted = 0;
                for i in 0.. {
                    let cmid = format!("{label}-{id}-{i}");
                    attempted += 1;
                    let body = json!({"text": format!("{label} message {i}"), "client_message_id": cmid});
                    match http.post(&url).bearer_auth(&token).json(&body).send().await {
                        Ok(response) if response.status() == 201 => {
                            let Ok(event) = response.json::<Value>().await else {
                                break;
                            };
                            let seq = event["seq"].as_u64().expect("seq");
                            acked.lock().expect("lock").insert(cmid, (id.clone(), seq));
                        }
                        _ => break,
                    }
                }
                attempted
            })
        })
        .collect()
}

/// Reads every conversation back and checks: gapless sequence numbers, no message stored
/// twice, every acknowledged message at its acknowledged seq. Returns the messages stored.
pub(crate) async fn verify(
    http: &reqwest::Client,
    server: &Server,
    conversations: &[Conversation],
    acked: &Acked,
) -> usize {
    let acked = acked.lock().expect("lock").clone();
    let mut stored_messages = 0;
    for (id, token) in conversations {
        let events = server.events(http, id, token).await;
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event["seq"].as_u64(), Some(i as u64 + 1), "gapless after restart");
        }
        let stored: HashMap<&str, u64> = events
            .iter()
            .filter_map(|e| Some((e["client_message_id"].as_str()?, e["seq"].as_u64()?)))
            .collect();
        assert_eq!(stored.len(), events.len() - 1, "no message stored twice");
        stored_messages += stored.len();
        for (cmid, (_, seq)) in acked.iter().filter(|(_, (c, _))| c == id) {
            assert_eq!(stored.get(cmid.as_str()), Some(seq), "acknowledged {cmid} survives");
        }
    }
    stored_messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let dir = TempDir::new("kill9");
    let server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let conversations = start_conversations(&http, &server, 4).await;
    let acked = Acked::default();
    let senders = spawn_senders(&http, &server, &conversations, "once", &acked);
    acks_reach(&acked, "once", 21).await;
    server.kill_hard();
    for sender in senders {
        sender.await.expect("sender");
    }
    let acknowledged = acked.lock().expect("lock").len();
    assert!(acknowledged > 20, "the load ran before the kill ({acknowledged} acks)");
    let restarted = Server::start(dir.path());
    verify(&http, &restarted, &conversations, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_streams_and_exits_cleanly() {
    let dir = TempDir::new("sigterm");
    let mut server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let (id, token) = server.new_conversation(&http, None).await;
    let ws_url = format!(
        "{}/api/v1/conversations/{id}/ws?access_token={token}",
        server.base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.expect("ws");
    server.signal("TERM");
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("close within 10 s")
        {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1001));
    drop(ws);
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = server.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "baton exits within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("wait task");
    assert!(status.success(), "exit status {status:?}");
}

/// SIGTERM under load: the server stops taking connections, lets the requests in flight
/// finish, exits cleanly, and every message it acknowledged is there after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_what_it_accepted_and_refuses_new_connections() {
    let dir = TempDir::new("sigterm-load");
    let mut server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let conversations = start_conversations(&http, &server, 6).await;
    let acked = Acked::default();
    let senders = spawn_senders(&http, &server, &conversations, "t", &acked);
    let flowing = tokio::time::Instant::now() + Duration::from_secs(10);
    while acked.lock().expect("lock").len() < 30 {
        assert!(tokio::time::Instant::now() < flowing, "the load did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("TERM");
    // The server says when its listener is closed.
    let closed = tokio::time::Instant::now() + Duration::from_secs(10);
    while !server.stderr().contains("no longer accepting connections") {
        assert!(
            tokio::time::Instant::now() < closed,
            "the listener still open 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A new connection (a fresh client: no pooled connection) is refused while it drains.
    let fresh = reqwest::Client::new().get(server.url("/healthz")).send().await;
    assert!(fresh.is_err(), "a new connection was accepted after SIGTERM: {fresh:?}");
    for sender in senders {
        sender.await.expect("sender");
    }
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = server.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "baton exits within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("wait task");
    assert!(status.success(), "exit status {status:?}");
    let restarted = Server::start(dir.path());
    let stored = verify(&http, &restarted, &conversations, &acked).await;
    assert!(stored >= acked.lock().expect("lock").len());
}

/// A small xorshift generator for kill timing; the seed is printed so a failure can be replayed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_a_crash_loop() {
    let cycles: usize = std::env::var("BATON_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut seed: u64 = std::env::var("BATON_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    eprintln!("crash loop: {cycles} cycles, BATON_CRASH_SEED={seed}");
    let dir = TempDir::new("crashloop");
    let http = reqwest::Client::new();
    let mut server = Server::start(dir.path());
    let conversations = start_conversations(&http, &server, 6).await;
    let acked = Acked::default();
    let mut attempted = 0usize;
    for cycle in 0..cycles {
        let senders = spawn_senders(&http, &server, &conversations, &format!("c{cycle}"), &acked);
        // Once the load is flowing (the first answer of this cycle came), kill at a random
        // moment up to 350 ms later.
        let label = format!("c{cycle}-");
        let acked_now = || {
            acked
                .lock()
                .expect("lock")
                .keys()
                .filter(|k| k.starts_with(&label))
                .count()
        };
        let flowing = tokio::time::Instant::now() + Duration::from_secs(10);
        while acked_now() == 0 {
            assert!(
                tokio::time::Instant::now() < flowing,
                "cycle {cycle}: no answer within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(next(&mut seed) % 350)).await;
        server.kill_hard();
        for sender in senders {
            attempted += sender.await.expect("sender");
        }
        server = Server::start(dir.path());
    }
    let stored = verify(&http, &server, &conversations, &acked).await;
    let acknowledged = acked.lock().expect("lock").len();
    eprintln!(
        "crash loop: {cycles} kill -9 cycles survived, {attempted} sends attempted, {acknowledged} acknowledged, {stored} stored, 0 lost, 0 duplicated"
    );
    assert!(
        acknowledged >= cycles * 6,
        "load ran in every cycle ({acknowledged} acks)"
    );
}

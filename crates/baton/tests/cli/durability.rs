//! Acknowledged messages survive `kill -9`; SIGTERM drains and closes streams cleanly.

use crate::common::{Server, TempDir};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let dir = TempDir::new("kill9");
    let server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let mut conversations = Vec::new();
    for _ in 0..4 {
        let created: Value = http
            .post(server.url("/api/v1/conversations"))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        conversations.push((
            created["conversation_id"].as_str().expect("id").to_owned(),
            created["customer_token"].as_str().expect("token").to_owned(),
        ));
    }
    // Senders keep going while the server is killed; every 201 is recorded as acknowledged.
    let acked: Arc<Mutex<HashMap<String, (String, u64)>>> = Arc::default();
    let mut senders = Vec::new();
    for (id, token) in conversations.clone() {
        let (http, acked, url) = (
            http.clone(),
            acked.clone(),
            server.url(&format!("/api/v1/conversations/{id}/messages")),
        );
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let cmid = format!("{id}-{i}");
                let sent = http
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("m{i}"), "client_message_id": cmid}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 201 => {
                        let event: Value = response.json().await.expect("event");
                        acked
                            .lock()
                            .expect("lock")
                            .insert(cmid, (id.clone(), event["seq"].as_u64().expect("seq")));
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill_hard();
    for sender in senders {
        sender.await.expect("sender");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 20, "the load ran before the kill ({} acks)", acked.len());

    let restarted = Server::start(dir.path());
    for (id, token) in &conversations {
        let page: Value = http
            .get(restarted.url(&format!("/api/v1/conversations/{id}/events?after=0&limit=1000")))
            .bearer_auth(token)
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let events = page["events"].as_array().expect("events");
        for (i, event) in events.iter().enumerate() {
            assert_eq!(event["seq"].as_u64(), Some(i as u64 + 1), "gapless after restart");
        }
        let stored: HashMap<&str, u64> = events
            .iter()
            .filter_map(|e| Some((e["client_message_id"].as_str()?, e["seq"].as_u64()?)))
            .collect();
        assert_eq!(stored.len(), events.len() - 1, "no message stored twice");
        for (cmid, (conversation, seq)) in acked.iter().filter(|(_, (c, _))| c == id) {
            assert_eq!(
                stored.get(cmid.as_str()),
                Some(seq),
                "acknowledged {cmid} in {conversation} survives"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_streams_and_exits_cleanly() {
    let dir = TempDir::new("sigterm");
    let mut server = Server::start(dir.path());
    let http = reqwest::Client::new();
    let created: Value = http
        .post(server.url("/api/v1/conversations"))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let (id, token) = (
        created["conversation_id"].as_str().expect("id"),
        created["customer_token"].as_str().expect("token"),
    );
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
    let mut conversations = Vec::new();
    for _ in 0..6 {
        let created: Value = http
            .post(server.url("/api/v1/conversations"))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        conversations.push((
            created["conversation_id"].as_str().expect("id").to_owned(),
            created["customer_token"].as_str().expect("token").to_owned(),
        ));
    }
    let acked: Arc<Mutex<HashMap<String, (String, u64)>>> = Arc::default();
    let mut attempted = 0usize;
    for cycle in 0..cycles {
        let mut senders = Vec::new();
        for (n, (id, token)) in conversations.iter().cloned().enumerate() {
            let (http, acked, url) = (
                http.clone(),
                acked.clone(),
                server.url(&format!("/api/v1/conversations/{id}/messages")),
            );
            senders.push(tokio::spawn(async move {
                let mut sent = 0usize;
                for i in 0.. {
                    let cmid = format!("c{cycle}-s{n}-{i}");
                    sent += 1;
                    let body = json!({"text": format!("cycle {cycle} message {i}"), "client_message_id": cmid});
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
                sent
            }));
        }
        // Kill at a random moment between 50 and 400 ms into the load.
        let wait = 50 + next(&mut seed) % 350;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill_hard();
        for sender in senders {
            attempted += sender.await.expect("sender");
        }
        server = Server::start(dir.path());
    }

    let acked = acked.lock().expect("lock").clone();
    let mut stored_messages = 0usize;
    for (id, token) in &conversations {
        let mut events: Vec<Value> = Vec::new();
        loop {
            let after = events.len();
            let page: Value = http
                .get(server.url(&format!("/api/v1/conversations/{id}/events?after={after}&limit=1000")))
                .bearer_auth(token)
                .send()
                .await
                .expect("events")
                .json()
                .await
                .expect("json");
            events.extend(page["events"].as_array().expect("events").iter().cloned());
            if page["has_more"] != true {
                break;
            }
        }
        for (i, event) in events.iter().enumerate() {
            assert_eq!(
                event["seq"].as_u64(),
                Some(i as u64 + 1),
                "gapless after {cycles} crashes"
            );
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
    eprintln!(
        "crash loop: {cycles} kill -9 cycles survived, {attempted} sends attempted, {} acknowledged, {stored_messages} stored, 0 lost, 0 duplicated",
        acked.len()
    );
    assert!(
        acked.len() >= cycles * 6,
        "load ran in every cycle ({} acks)",
        acked.len()
    );
}

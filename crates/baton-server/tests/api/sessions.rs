//! An agent's session on streams that stay open: logout ends it at once, and a session that
//! expires or was revoked closes the agent's streams (close code 4401) and lets nothing more be
//! sent on them.

use crate::common::{ws_send, TestApp, Ws};
use baton_server::auth::{Token, AGENT_TOKEN_PREFIX};
use baton_store::NewSession;
use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const AGENT: &str = "nina@example.com";

/// Reads frames until the server closes the stream; its close code.
async fn close_code(ws: &mut Ws) -> u16 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the stream closes within 8 s");
        match frame {
            Some(Ok(Message::Close(Some(close)))) => return close.code.into(),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => panic!("closed without a code"),
            Some(Ok(_)) => continue,
        }
    }
}

/// A session for `AGENT` that expires after `lifetime`, made directly in the store.
async fn short_session(app: &TestApp, lifetime: Duration) -> String {
    let login = app.login(AGENT).await;
    let me = app.get_json("/api/v1/agents/me", Some(&login)).await;
    let agent_id = baton_domain::AgentId(me["agent_id"].as_str().expect("id").parse().expect("uuid"));
    let (_, password_hash) = app.store.agent_credentials(AGENT).await.expect("store").expect("agent");
    let token = Token::generate(AGENT_TOKEN_PREFIX);
    let now = baton_server::now();
    let created = app
        .store
        .create_session(NewSession {
            token_hash: token.hash(),
            agent_id,
            verified_password_hash: password_hash,
            now,
            expires_at: now + lifetime,
        })
        .await
        .expect("session");
    assert!(created, "the password did not change");
    token.expose().to_owned()
}

#[tokio::test]
async fn logout_ends_the_token_and_closes_its_streams() {
    let app = TestApp::builder().with_agent(AGENT, "Nina").start().await;
    let token = app.login(AGENT).await;
    let other = app.login(AGENT).await;
    let conversation = app.new_conversation().await;
    let mut queue = app.connect_ws("/api/v1/agents/ws", &token).await;
    let mut watching = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conversation.id), &token)
        .await;
    let mut still_on = app.connect_ws("/api/v1/agents/ws", &other).await;

    let out = app.agent_post("/api/v1/agents/logout", &token).await;
    assert_eq!(out.status(), 204);
    assert_eq!(close_code(&mut queue).await, 4401);
    assert_eq!(close_code(&mut watching).await, 4401);
    let me = app
        .http
        .get(app.url("/api/v1/agents/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401, "the token no longer works");
    assert_eq!(app.agent_post("/api/v1/agents/logout", &token).await.status(), 401);

    // The same agent's other session is untouched: its stream still carries what happens.
    app.get_json("/api/v1/agents/me", Some(&other)).await;
    let later = app.new_conversation().await;
    assert_eq!(app.request_handoff(&later.id, &later.token).await.status(), 200);
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), still_on.next())
            .await
            .expect("a frame within 5 s")
            .expect("the stream is open")
            .expect("frame");
        match frame {
            Message::Text(text) if text.as_str().contains(&later.id) => break,
            Message::Close(close) => panic!("another session's stream was closed: {close:?}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn an_expired_session_closes_the_stream_on_the_next_check() {
    let app = TestApp::builder()
        .with_agent(AGENT, "Nina")
        .with_limits(|l| {
            l.ws_ping_seconds = 1;
            l.ws_idle_seconds = 10;
        })
        .start()
        .await;
    let token = short_session(&app, Duration::from_millis(3_000)).await;
    let mut queue = app.connect_ws("/api/v1/agents/ws", &token).await;
    assert_eq!(close_code(&mut queue).await, 4401);
    let me = app
        .http
        .get(app.url("/api/v1/agents/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401, "expired over HTTP too");
}

#[tokio::test]
async fn nothing_is_sent_on_a_stream_whose_session_expired() {
    // Pings far apart: only the check at the send can catch the expiry.
    let app = TestApp::builder()
        .with_agent(AGENT, "Nina")
        .with_limits(|l| {
            l.ws_ping_seconds = 60;
            l.ws_idle_seconds = 120;
        })
        .start()
        .await;
    // Long enough for the setup below on a loaded machine; the send waits for the expiry.
    let lifetime = Duration::from_millis(4_000);
    let token = short_session(&app, lifetime).await;
    // The session's clock started inside `short_session`: this is surely after it ran out.
    let expired = tokio::time::Instant::now() + lifetime + Duration::from_millis(500);
    let conversation = app.new_conversation().await;
    assert_eq!(
        app.request_handoff(&conversation.id, &conversation.token)
            .await
            .status(),
        200
    );
    let accepted = app
        .agent_post(&format!("/api/v1/conversations/{}/accept", conversation.id), &token)
        .await;
    assert_eq!(accepted.status(), 200);
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conversation.id), &token)
        .await;
    tokio::time::sleep_until(expired).await;
    ws_send(&mut ws, "still here?", "late-1").await;
    assert_eq!(close_code(&mut ws).await, 4401);
    let events = app.events(&conversation.id, &conversation.token, 0).await;
    assert!(
        events.iter().all(|e| e["type"] != "agent_message"),
        "the message was not stored"
    );
}

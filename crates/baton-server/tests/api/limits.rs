//! Abuse limits: one client over its limit gets 429 and everyone else is served as usual.

use crate::common::{next_json, TestApp, AGENT_PASSWORD};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn one_address_cannot_start_unlimited_conversations() {
    let app = TestApp::builder()
        .with_limits(|l| l.conversations_per_minute_per_ip = 3)
        .start()
        .await;
    for _ in 0..3 {
        app.new_conversation().await;
    }
    let refused = app
        .http
        .post(app.url("/api/v1/conversations"))
        .send()
        .await
        .expect("create");
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn login_guessing_is_throttled_per_account() {
    let app = TestApp::builder()
        .with_agent("nina@example.com", "Nina")
        .with_agent("omar@example.com", "Omar")
        .with_limits(|l| l.logins_per_minute = 3)
        .start()
        .await;
    // Each attempt from its own loopback address, so the per-address limit never fires: only
    // the per-account one can stop the guesser.
    let from = |n: u8| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, n]))
            .build()
            .expect("client")
    };
    let attempt = |n: u8, email: &'static str, password: &'static str| {
        from(n)
            .post(app.url("/api/v1/agents/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for n in 2..5 {
        assert_eq!(
            attempt(n, "nina@example.com", "guess").await.expect("login").status(),
            401
        );
    }
    // Even the right password, from a fresh address, waits now: the guesser cannot tell
    // when they hit it.
    assert_eq!(
        attempt(5, "NINA@example.com", AGENT_PASSWORD)
            .await
            .expect("login")
            .status(),
        429
    );
    // Another account is not held back by Nina's.
    assert_eq!(
        attempt(6, "omar@example.com", AGENT_PASSWORD)
            .await
            .expect("login")
            .status(),
        200
    );
}

#[tokio::test]
async fn a_token_holds_a_bounded_number_of_streams() {
    let app = TestApp::builder()
        .with_limits(|l| l.max_streams_per_token = 2)
        .start()
        .await;
    let conv = app.new_conversation().await;
    let path = format!("/api/v1/conversations/{}/ws", conv.id);
    let first = app.connect_ws(&path, &conv.token).await;
    let _second = app.connect_ws(&path, &conv.token).await;
    let third = tokio_tungstenite::connect_async(app.ws_url(&format!("{path}?access_token={}", conv.token))).await;
    match third {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("a third stream must be refused, got {other:?}"),
    }
    // Another customer is not affected.
    let other = app.new_conversation().await;
    app.connect_ws(&format!("/api/v1/conversations/{}/ws", other.id), &other.token)
        .await;
    // Closing a stream frees its slot.
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok((ws, _)) =
            tokio_tungstenite::connect_async(app.ws_url(&format!("{path}?access_token={}", conv.token))).await
        {
            reopened = Some(ws);
            break;
        }
    }
    assert!(reopened.is_some(), "the slot of a closed stream is given back");
}

#[tokio::test]
async fn an_address_holds_a_bounded_number_of_streams() {
    let app = TestApp::builder()
        .with_limits(|l| l.max_streams_per_ip = 2)
        .start()
        .await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let conv = app.new_conversation().await;
        open.push(
            app.connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
                .await,
        );
    }
    let conv = app.new_conversation().await;
    let url = app.ws_url(&format!(
        "/api/v1/conversations/{}/ws?access_token={}",
        conv.id, conv.token
    ));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("a third stream from one address must be refused, got {other:?}"),
    }
    // Plain requests from the same address are still served.
    assert_eq!(
        app.post_message(&conv.id, &conv.token, "still here", "p1")
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_silent_stream_is_closed_after_the_idle_limit() {
    let app = TestApp::builder()
        .with_limits(|l| {
            l.ws_ping_seconds = 1;
            l.ws_idle_seconds = 2;
        })
        .start()
        .await;
    let conv = app.new_conversation().await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
        .await;
    assert_eq!(next_json(&mut ws).await["type"], "event");
    // Stay silent: do not even read, so the client library cannot answer the server's pings.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut pings = 0;
    let code = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, ws.next())
            .await
            .expect("the server closes the stream")
        {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(e)) => panic!("stream error {e}"),
            None => break None,
        }
    };
    assert!(pings >= 1, "the server pinged first");
    assert_eq!(code, Some(1008), "closed for policy (idle)");
}

#[tokio::test]
async fn messages_on_a_stream_count_against_the_token_rate() {
    let app = TestApp::builder().with_rate(1, 2).start().await;
    let conv = app.new_conversation().await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
        .await;
    assert_eq!(next_json(&mut ws).await["type"], "event");
    for i in 0..3 {
        crate::common::ws_send(&mut ws, "hi", &format!("m{i}")).await;
    }
    let mut errors = Vec::new();
    let mut acks = 0;
    while acks + errors.len() < 3 {
        let frame = next_json(&mut ws).await;
        match frame["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => errors.push(frame["problem"]["status"].clone()),
            _ => {}
        }
    }
    assert_eq!(acks, 2);
    assert_eq!(errors, vec![json!(429)]);
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::builder()
        .with_limits(|l| l.header_read_timeout_seconds = 1)
        .start()
        .await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\n")
        .await
        .expect("partial headers");
    // Others are served while the slow client holds its connection.
    let healthy = app.http.get(app.url("/healthz")).send().await.expect("healthz");
    assert_eq!(healthy.status(), 200);
    // The slow client never finishes its headers: the server hangs up (possibly after a 408).
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection within the header timeout"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test]
async fn an_oversized_websocket_message_closes_only_that_stream() {
    use futures_util::SinkExt;
    let app = TestApp::builder()
        .with_limits(|l| l.max_ws_message_bytes = 1024)
        .start()
        .await;
    let conv = app.new_conversation().await;
    let path = format!("/api/v1/conversations/{}/ws", conv.id);
    let mut abuser = app.connect_ws(&path, &conv.token).await;
    let mut bystander = app.connect_ws(&path, &conv.token).await;
    assert_eq!(next_json(&mut abuser).await["type"], "event");
    assert_eq!(next_json(&mut bystander).await["type"], "event");
    let huge = json!({"type": "send", "text": "x".repeat(4_000), "client_message_id": "big"}).to_string();
    let _ = abuser.send(Message::text(huge)).await;
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(5), abuser.next())
            .await
            .expect("the stream ends")
        {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    assert!(
        matches!(ended, None | Some(1009)),
        "closed, as too big if with a code: {ended:?}"
    );
    // Nothing was stored, and the other stream still works.
    crate::common::ws_send(&mut bystander, "still fine", "ok-1").await;
    assert_eq!(next_json(&mut bystander).await["event"]["text"], "still fine");
    assert_eq!(app.events(&conv.id, &conv.token, 0).await.len(), 2);
}

#[tokio::test]
async fn rest_and_websocket_sends_share_one_budget_per_token() {
    let app = TestApp::builder().with_rate(1, 2).start().await;
    let conv = app.new_conversation().await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", conv.id), &conv.token)
        .await;
    assert_eq!(next_json(&mut ws).await["type"], "event");
    // One over REST, one over the stream: the burst of two is spent.
    assert_eq!(app.post_message(&conv.id, &conv.token, "one", "r1").await.status(), 201);
    crate::common::ws_send(&mut ws, "two", "w1").await;
    loop {
        let frame = next_json(&mut ws).await;
        if frame["type"] == "ack" {
            break;
        }
        assert_ne!(frame["type"], "error", "{frame}");
    }
    // A third send is refused whichever way it comes.
    assert_eq!(
        app.post_message(&conv.id, &conv.token, "three", "r2").await.status(),
        429
    );
    crate::common::ws_send(&mut ws, "three", "w2").await;
    loop {
        let frame = next_json(&mut ws).await;
        if frame["type"] == "error" {
            assert_eq!(frame["problem"]["status"], 429);
            break;
        }
        assert_ne!(frame["type"], "ack", "a third send was accepted: {frame}");
    }
}

/// The headers every answer carries.
fn assert_security_headers(headers: &reqwest::header::HeaderMap, what: &str) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ] {
        assert_eq!(
            headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: header {name}"
        );
    }
}

#[tokio::test]
async fn security_headers_are_on_every_answer_errors_and_upgrades_included() {
    let app = TestApp::builder().with_rate(1, 1).start().await;
    let conv = app.new_conversation().await;
    let get = |path: String, token: Option<String>| {
        let mut request = app.http.get(app.url(&path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let ok = get(format!("/api/v1/conversations/{}", conv.id), Some(conv.token.clone()))
        .await
        .expect("get");
    assert_eq!(ok.status(), 200);
    assert_security_headers(ok.headers(), "200");
    let unauthorized = get(format!("/api/v1/conversations/{}", conv.id), None)
        .await
        .expect("get");
    assert_eq!(unauthorized.status(), 401);
    assert_security_headers(unauthorized.headers(), "401");
    let missing = get("/api/v1/nowhere".into(), None).await.expect("get");
    assert_eq!(missing.status(), 404);
    assert_security_headers(missing.headers(), "404");
    let invalid = app.post_message(&conv.id, &conv.token, " ", "x1").await;
    assert_eq!(invalid.status(), 422);
    assert_security_headers(invalid.headers(), "422");
    assert_eq!(app.post_message(&conv.id, &conv.token, "one", "x2").await.status(), 201);
    let limited = app.post_message(&conv.id, &conv.token, "two", "x3").await;
    assert_eq!(limited.status(), 429);
    assert_security_headers(limited.headers(), "429");
    let request = app
        .ws_url(&format!(
            "/api/v1/conversations/{}/ws?access_token={}",
            conv.id, conv.token
        ))
        .into_client_request()
        .expect("ws request");
    let (_ws, upgrade) = tokio_tungstenite::connect_async(request).await.expect("upgrade");
    assert_eq!(upgrade.status(), 101);
    let headers: reqwest::header::HeaderMap = upgrade
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            Some((
                reqwest::header::HeaderName::from_bytes(k.as_str().as_bytes()).ok()?,
                reqwest::header::HeaderValue::from_bytes(v.as_bytes()).ok()?,
            ))
        })
        .collect();
    assert_security_headers(&headers, "101 upgrade");
}

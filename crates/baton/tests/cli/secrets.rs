//! Logs carry no secrets: after a whole scripted conversation with a card number, an email,
//! tokens and a password in it, answered by the bot, the server's log contains none of them,
//! at debug level too (agent tokens in WebSocket query strings included).

use crate::common::{baton, Server, TempDir, TEST_CONFIG};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_holds_no_token_password_or_message_text() {
    let dir = TempDir::new("secrets");
    // The test configuration with the demo bot (its NLU and dialogue sections), logging at debug.
    let demo = baton().args(["config", "default"]).output().expect("config default");
    let demo = String::from_utf8(demo.stdout).expect("utf-8");
    let bot = &demo[demo.find("[nlu]").expect("the demo has an [nlu] section")..];
    let server = Server::start_logging(dir.path(), &format!("{TEST_CONFIG}\n{bot}"), "debug");
    let password = server
        .console
        .iter()
        .find(|l| l.contains("nina@example.com"))
        .and_then(|l| l.split_whitespace().last())
        .expect("password")
        .to_owned();
    let http = reqwest::Client::new();
    let (id, token) = server
        .new_conversation(
            &http,
            Some(json!({"customer": {"name": "Sarah Secret", "email": "sarah.secret@example.com"}})),
        )
        .await;
    let (id, token) = (id.as_str(), token.as_str());
    let secret_text = "my card is 4111 1111 1111 1111 and my passphrase is zebra-quartz";
    let send = |text: &'static str, token: String, cmid: &'static str| {
        let http = http.clone();
        let url = server.url(&format!("/api/v1/conversations/{id}/messages"));
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"text": text, "client_message_id": cmid}))
                .send()
                .await
                .expect("send")
                .status()
        }
    };
    assert_eq!(send(secret_text, token.to_owned(), "c1").await, 201);
    // The bot read it and answered (greeting, then the answer), so its work is in the log too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events = server.events(&http, id, token).await;
        if events.iter().filter(|e| e["type"] == "bot_message").count() >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the bot answered within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A rejected message and a bad token too: errors must not echo secrets into the log either.
    assert_eq!(send("", token.to_owned(), "c2").await, 422);
    assert_eq!(send(secret_text, format!("{token}x"), "c3").await, 404);
    http.post(server.url(&format!("/api/v1/conversations/{id}/handoff-request")))
        .bearer_auth(token)
        .send()
        .await
        .expect("handoff");
    let wrong = http
        .post(server.url("/api/v1/agents/login"))
        .json(&json!({"email": "nina@example.com", "password": "hunter2-wrong"}))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), 401);
    let agent = server.login(&http, "nina@example.com", &password).await;
    http.post(server.url(&format!("/api/v1/conversations/{id}/accept")))
        .bearer_auth(&agent)
        .send()
        .await
        .expect("accept");
    let reply = http
        .post(server.url(&format!("/api/v1/conversations/{id}/messages")))
        .bearer_auth(&agent)
        .json(&json!({"text": "thanks Sarah, please never share card numbers here", "client_message_id": "a1"}))
        .send()
        .await
        .expect("reply");
    assert_eq!(reply.status(), 201);
    // The stream with the token in the query string.
    let ws = format!(
        "{}/api/v1/conversations/{id}/ws?access_token={token}",
        server.base.replacen("http", "ws", 1)
    );
    drop(tokio_tungstenite::connect_async(ws).await.expect("ws"));
    // And the agent's streams with the agent token in the query string.
    let base = server.base.replacen("http", "ws", 1);
    for path in [
        format!("/api/v1/agents/ws?access_token={agent}"),
        format!("/api/v1/conversations/{id}/ws?access_token={agent}"),
    ] {
        drop(
            tokio_tungstenite::connect_async(format!("{base}{path}"))
                .await
                .expect("agent ws"),
        );
    }
    http.post(server.url(&format!("/api/v1/conversations/{id}/resolve")))
        .bearer_auth(&agent)
        .send()
        .await
        .expect("resolve");

    server.signal("TERM");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let log = server.stderr();
    assert!(log.contains("listening"), "the log was captured: {log}");
    assert!(log.contains("DEBUG"), "debug lines were written: {log}");
    assert!(log.contains("the bot is ready"), "the bot ran");
    for secret in [
        token,
        &agent,
        &password,
        "hunter2-wrong",
        // Distinctive fragments only: short digit runs also occur in timestamps and ids.
        "4111 1111",
        "4111111111111111",
        "zebra-quartz",
        "Sarah Secret",
        "sarah.secret@example.com",
        "never share card",
    ] {
        assert!(!log.contains(secret), "the log contains `{secret}`:\n{log}");
    }
}

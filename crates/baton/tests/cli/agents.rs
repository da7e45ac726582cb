//! `baton agents list | add | reset-password` through the real binary, on the configured
//! database, with the server stopped and while it runs.

use crate::common::{baton, Server, TempDir, TEST_CONFIG};
use futures_util::StreamExt;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Runs `baton agents ARGS --config ... --data-dir ...`; its stdout, failing on a non-zero exit.
fn agents(dir: &Path, args: &[&str]) -> std::process::Output {
    baton()
        .arg("agents")
        .args(args)
        .arg("--config")
        .arg(dir.join("baton.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .expect("run baton agents")
}

/// The password on the line that names `email` (`  EMAIL  PASSWORD`).
fn password_for(stdout: &[u8], email: &str) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix(email).map(|p| p.trim().to_owned()))
        .filter(|p| p.len() >= 20)
        .unwrap_or_else(|| panic!("a password line for {email}"))
}

async fn login_status(server: &Server, email: &str, password: &str) -> u16 {
    reqwest::Client::new()
        .post(server.url("/api/v1/agents/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_added_listed_and_reset_with_the_server_stopped_or_running() {
    let dir = TempDir::new("agents-cli");
    // Pings every second, so a stream notices a reset session quickly.
    let config = TEST_CONFIG.replace("[limits]\n", "[limits]\nws_ping_seconds = 1\nws_idle_seconds = 10\n");
    std::fs::write(dir.path().join("baton.toml"), &config).expect("config");

    // The server has never run: the database is created.
    let added = agents(dir.path(), &["add", "omar@example.com", "--name", "Omar"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let omar = password_for(&added.stdout, "omar@example.com");
    let again = agents(dir.path(), &["add", "omar@example.com", "--name", "Omar"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = agents(dir.path(), &["add", "not-an-email", "--name", "X"]);
    assert!(!bad.status.success());

    let server = Server::start_with(dir.path(), &config);
    let nina = server
        .console
        .iter()
        .find_map(|l| l.trim().strip_prefix("nina@example.com").map(|p| p.trim().to_owned()))
        .expect("Nina's one-time password");
    assert_eq!(login_status(&server, "omar@example.com", &omar).await, 200);

    // While the server runs: list, then reset Nina, who is logged in with a stream open.
    let listed = agents(dir.path(), &["list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.contains("nina@example.com\tNina\tagent"), "{listed}");
    assert!(listed.contains("omar@example.com\tOmar\tagent"), "{listed}");
    let http = reqwest::Client::new();
    let token = server.login(&http, "nina@example.com", &nina).await;
    let mut request = server
        .url("/api/v1/agents/ws")
        .replacen("http", "ws", 1)
        .into_client_request()
        .expect("ws request");
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().expect("header"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("agent stream");

    let reset = agents(dir.path(), &["reset-password", "NINA@example.com"]);
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    let fresh = password_for(&reset.stdout, "NINA@example.com");
    let me = http
        .get(server.url("/api/v1/agents/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401, "the old session ended");
    let closed = tokio::time::timeout(Duration::from_secs(6), async {
        while let Some(frame) = ws.next().await {
            if let Ok(Message::Close(Some(close))) = frame {
                return u16::from(close.code);
            }
        }
        0
    })
    .await
    .expect("the open stream closes");
    assert_eq!(closed, 4401);
    assert_eq!(login_status(&server, "nina@example.com", &nina).await, 401);
    assert_eq!(login_status(&server, "nina@example.com", &fresh).await, 200);
    assert!(!server.stderr().contains(&fresh), "the new password is not in the log");

    let unknown = agents(dir.path(), &["reset-password", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no agent has the email"));
}

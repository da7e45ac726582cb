//! The binary on PostgreSQL (`--database-url postgres://...`): agents managed from the command
//! line, and two instances on one database losing nothing when one is killed. Each test gets a
//! database of its own in the cluster `BATON_TEST_DATABASE_URL` names, and skips itself
//! (saying so) without one.

use crate::common::{baton, Server, TempDir, TEST_CONFIG};
use crate::durability::{spawn_senders, start_conversations, verify, Acked};
use baton_store_postgres::testing::{database_url, fresh_database, skipped};
use serde_json::json;
use std::time::Duration;

/// The server's configuration without seeded agents: agents come from the command line.
const NO_AGENTS: &str = r#"
[server]
shutdown_grace_seconds = 5

[limits]
messages_per_second = 100000
message_burst = 100000
conversations_per_minute_per_ip = 100000
"#;

async fn test_database(test: &str) -> Option<String> {
    let Some(url) = database_url() else {
        skipped(test);
        return None;
    };
    Some(
        fresh_database(&url)
            .await
            .unwrap_or_else(|e| panic!("a test database: {e}")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_added_on_the_command_line_sign_in_on_every_instance() {
    let Some(url) = test_database("agents_added_on_the_command_line_sign_in_on_every_instance").await else {
        return;
    };
    let dir = TempDir::new("pg-agents");
    let added = baton()
        .args([
            "agents",
            "add",
            "lena@example.com",
            "--name",
            "Lena",
            "--database-url",
            &url,
        ])
        .output()
        .expect("run baton agents add");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let password = String::from_utf8_lossy(&added.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("lena@example.com").map(|p| p.trim().to_owned()))
        .filter(|p| p.len() >= 20)
        .expect("the new password is printed");
    let listed = baton()
        .args(["agents", "list", "--database-url", &url])
        .output()
        .expect("run baton agents list");
    assert!(String::from_utf8_lossy(&listed.stdout).contains("lena@example.com\tLena\tagent"));

    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).expect("dir");
    std::fs::create_dir_all(&dir_b).expect("dir");
    let a = Server::start_on_database(&dir_a, NO_AGENTS, &url);
    let b = Server::start_on_database(&dir_b, NO_AGENTS, &url);
    let http = reqwest::Client::new();
    for server in [&a, &b] {
        let status = http
            .post(server.url("/api/v1/agents/login"))
            .json(&json!({"email": "LENA@example.com", "password": password}))
            .send()
            .await
            .expect("login")
            .status();
        assert_eq!(status, 200, "signs in on {}", server.base);
    }
    // A session made on one instance is honoured by the other.
    let token = a.login(&http, "lena@example.com", &password).await;
    let me = http
        .get(b.url("/api/v1/agents/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    // A wrong scheme is refused with a message naming what is accepted.
    let wrong = baton()
        .args(["agents", "list", "--database-url", "mysql://x@y/z"])
        .output()
        .expect("run baton agents list");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("sqlite:// or postgres://"));
}

/// Customers write to the same conversations through two instances at once; one instance is
/// killed with `kill -9`. The other keeps answering, and afterwards every acknowledged message
/// is stored exactly once at its acknowledged seq, with no gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_lose_nothing_when_one_is_killed() {
    let Some(url) = test_database("two_instances_lose_nothing_when_one_is_killed").await else {
        return;
    };
    let dir = TempDir::new("pg-kill");
    let dirs: Vec<_> = ["a", "b", "c"].iter().map(|n| dir.path().join(n)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).expect("dir");
    }
    let a = Server::start_on_database(&dirs[0], TEST_CONFIG, &url);
    let b = Server::start_on_database(&dirs[1], TEST_CONFIG, &url);
    let http = reqwest::Client::new();
    let mut conversations = start_conversations(&http, &a, 2).await;
    conversations.extend(start_conversations(&http, &b, 2).await);
    let acked = Acked::default();
    let through_a = spawn_senders(&http, &a, &conversations, "a", &acked);
    let through_b = spawn_senders(&http, &b, &conversations, "b", &acked);
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.kill_hard();
    for sender in through_a {
        sender.await.expect("sender");
    }
    let acked_by_b = || {
        acked
            .lock()
            .expect("lock")
            .keys()
            .filter(|k| k.starts_with("b-"))
            .count()
    };
    let at_kill = acked_by_b();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(acked_by_b() > at_kill + 20, "the surviving instance kept answering");
    b.kill_hard();
    for sender in through_b {
        sender.await.expect("sender");
    }
    let acknowledged = acked.lock().expect("lock").len();
    assert!(acknowledged > 100, "the load ran ({acknowledged} acks)");
    // A third instance reads it all back.
    let c = Server::start_on_database(&dirs[2], TEST_CONFIG, &url);
    let stored = verify(&http, &c, &conversations, &acked).await;
    assert!(stored >= acknowledged);
}

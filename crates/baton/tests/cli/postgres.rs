//! The binary on PostgreSQL (`--database-url postgres://...`): agents managed from the command
//! line, and two instances on one database losing nothing when one is killed. Each test gets a
//! database of its own in the cluster `BATON_TEST_DATABASE_URL` names, and skips itself
//! (saying so) without one.

use crate::common::{baton, Server, TempDir, TEST_CONFIG};
use crate::durability::{acks_reach, spawn_senders, start_conversations, verify, Acked};
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
    acks_reach(&acked, "a", 40).await;
    acks_reach(&acked, "b", 40).await;
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
    // The surviving instance keeps answering.
    acks_reach(&acked, "b-", acked_by_b() + 61).await;
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

/// `baton db copy` moves a SQLite database to PostgreSQL: a server started on the copy shows
/// every conversation exactly as before, honours the same customer tokens and agent sessions,
/// and keeps the queue; a second copy into the now non-empty database is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_moves_to_postgres_whole() {
    let Some(url) = test_database("a_sqlite_database_moves_to_postgres_whole").await else {
        return;
    };
    let dir = TempDir::new("pg-copy");
    let http = reqwest::Client::new();
    let server = Server::start(dir.path());
    let password = server
        .console
        .iter()
        .find_map(|l| l.trim().strip_prefix("nina@example.com").map(|p| p.trim().to_owned()))
        .expect("nina's password on the console");
    let nina = server.login(&http, "nina@example.com", &password).await;
    let mut conversations = Vec::new();
    for n in 0..3 {
        let (id, token) = server
            .new_conversation(
                &http,
                Some(json!({"language": "en", "customer": {"name": format!("Customer {n}")}})),
            )
            .await;
        for m in 0..4 {
            let sent = http
                .post(server.url(&format!("/api/v1/conversations/{id}/messages")))
                .bearer_auth(&token)
                .json(&json!({"text": format!("message {m} of {n}"), "client_message_id": format!("c{n}-{m}")}))
                .send()
                .await
                .expect("send");
            assert_eq!(sent.status(), 201);
        }
        conversations.push((id, token));
    }
    // One conversation waits for an agent, one is with Nina.
    for (id, token) in &conversations[..2] {
        let asked = http
            .post(server.url(&format!("/api/v1/conversations/{id}/handoff-request")))
            .bearer_auth(token)
            .send()
            .await
            .expect("handoff");
        assert_eq!(asked.status(), 200);
    }
    let accepted = http
        .post(server.url(&format!("/api/v1/conversations/{}/accept", conversations[1].0)))
        .bearer_auth(&nina)
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), 200);
    let mut before = Vec::new();
    for (id, token) in &conversations {
        before.push(server.events(&http, id, token).await);
    }
    server.kill_hard();

    let source = format!("sqlite://{}", dir.path().join("data").join("baton.db").display());
    let copy = |to: &str| {
        baton()
            .args(["db", "copy", "--from", &source, "--to", to])
            .output()
            .expect("run baton db copy")
    };
    let copied = copy(&url);
    assert!(copied.status.success(), "{}", String::from_utf8_lossy(&copied.stderr));
    let events: usize = before.iter().map(Vec::len).sum();
    let said = String::from_utf8_lossy(&copied.stdout).to_string();
    assert!(
        said.contains(&format!(
            "Copied 1 agents, 1 sessions, 3 conversations and {events} events"
        )),
        "{said}"
    );

    let moved_dir = dir.path().join("on-postgres");
    std::fs::create_dir_all(&moved_dir).expect("dir");
    let moved = Server::start_on_database(&moved_dir, NO_AGENTS, &url);
    for ((id, token), expected) in conversations.iter().zip(&before) {
        assert_eq!(&moved.events(&http, id, token).await, expected, "conversation {id}");
    }
    // Nina's session from before the move still holds, and her conversation is hers.
    let mine: serde_json::Value = http
        .get(moved.url("/api/v1/agents/me/conversations"))
        .bearer_auth(&nina)
        .send()
        .await
        .expect("mine")
        .json()
        .await
        .expect("json");
    assert_eq!(
        mine["conversations"][0]["conversation_id"],
        conversations[1].0.as_str(),
        "{mine}"
    );
    let queue: serde_json::Value = http
        .get(moved.url("/api/v1/queue"))
        .bearer_auth(&nina)
        .send()
        .await
        .expect("queue")
        .json()
        .await
        .expect("json");
    assert_eq!(
        queue["waiting"][0]["conversation_id"],
        conversations[0].0.as_str(),
        "{queue}"
    );
    // New messages continue each log where it stopped.
    let (id, token) = &conversations[2];
    let next: serde_json::Value = http
        .post(moved.url(&format!("/api/v1/conversations/{id}/messages")))
        .bearer_auth(token)
        .json(&json!({"text": "hello from the new database", "client_message_id": "after-move"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(next["seq"].as_u64(), Some(before[2].len() as u64 + 1));

    // The target now holds data: a second copy is refused and changes nothing.
    let again = copy(&url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    // A source that does not exist is named, not created.
    let missing = baton()
        .args(["db", "copy", "--from", "sqlite:///nonexistent/baton.db", "--to", &url])
        .output()
        .expect("run baton db copy");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

/// Two instances with the bot on one database; the one serving a customer is killed with
/// `kill -9` while a refund is on its way to the shop. The other takes the unanswered message
/// over (claimed in the database) and the customer gets exactly one answer, with the refund
/// done once (the retry carries the same idempotency key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_refund_on_one_instance_is_taken_over_by_another() {
    use crate::bot::{bot_replies_after, config_text, refund_held_by_the_shop, start_shop};
    let Some(url) = test_database("a_crash_mid_refund_on_one_instance_is_taken_over_by_another").await else {
        return;
    };
    let (shop_url, shop) = start_shop().await;
    let config = config_text(&shop_url).replace("bot_takeover_after_seconds = 30", "bot_takeover_after_seconds = 3");
    assert!(config.contains("bot_takeover_after_seconds = 3\n"));
    let dir = TempDir::new("pg-takeover");
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).expect("dir");
    std::fs::create_dir_all(&dir_b).expect("dir");
    let http = reqwest::Client::new();
    let a = Server::start_on_database(&dir_a, &config, &url);
    let b = Server::start_on_database(&dir_b, &config, &url);

    let (id, token, yes) = refund_held_by_the_shop(&a, &http, &shop).await;
    a.kill_hard();

    // B never heard the "yes"; its sweep finds it unanswered and takes it over.
    let replies = bot_replies_after(&b, &http, &id, &token, yes).await;
    let done = replies[0]["text"].as_str().expect("text");
    assert!(done.starts_with("Done: I've started a refund of 49.90 EUR"), "{done}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = b
        .events(&http, &id, &token)
        .await
        .into_iter()
        .filter(|e| e["type"] == "bot_message" && e["seq"].as_u64().unwrap_or(0) > yes)
        .count();
    assert_eq!(answers, 1, "exactly one answer to the customer's yes");
    let requests = shop.refund_requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "asked again by the instance that took over");
    assert_eq!(requests[0], requests[1], "with the same idempotency key");
    assert_eq!(
        shop.refunds.lock().expect("lock").len(),
        1,
        "and the shop refunded once"
    );
}

/// Runs `scripts/pg-test-cluster COMMAND DIR`; its stdout.
fn cluster(command: &str, dir: &std::path::Path) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-test-cluster");
    let output = std::process::Command::new(script)
        .arg(command)
        .arg(dir)
        .output()
        .expect("run scripts/pg-test-cluster");
    assert!(
        output.status.success(),
        "pg-test-cluster {command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// PostgreSQL goes away under load and comes back. While it is gone, health says 503 and sends
/// get problem answers; once it is back, service resumes by itself (no restart of Baton); every
/// message acknowledged before, during or after is stored once, gapless. Runs on a cluster of
/// its own (stopping the shared one would break the other tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_under_load_loses_nothing_and_service_resumes() {
    use crate::durability::{verify, Conversation};
    if database_url().is_none() {
        return skipped("the_database_going_away_under_load_loses_nothing_and_service_resumes");
    }
    let dir = TempDir::new("pg-outage");
    let pg_dir = dir.path().join("pg");
    let url = cluster("start", &pg_dir);
    struct Cluster(std::path::PathBuf);
    impl Drop for Cluster {
        fn drop(&mut self) {
            cluster("stop", &self.0);
        }
    }
    let _running = Cluster(pg_dir.clone());
    let server_dir = dir.path().join("baton");
    std::fs::create_dir_all(&server_dir).expect("dir");
    let server = Server::start_on_database(&server_dir, TEST_CONFIG, &url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let conversations: Vec<Conversation> = start_conversations(&http, &server, 3).await;

    // Each sender retries a message until it is acknowledged, as a client does, and keeps the
    // problem answers it got meanwhile.
    let acked = Acked::default();
    let problems = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u16, String)>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for (id, token) in conversations.clone() {
        let (http, acked, problems, stop) = (http.clone(), acked.clone(), problems.clone(), stop.clone());
        let url = server.url(&format!("/api/v1/conversations/{id}/messages"));
        senders.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let cmid = format!("outage-{id}-{i}");
                let body = json!({"text": format!("message {i}"), "client_message_id": cmid});
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(response) if response.status() == 201 => {
                        let event: serde_json::Value = response.json().await.expect("json");
                        let seq = event["seq"].as_u64().expect("seq");
                        acked.lock().expect("lock").insert(cmid, (id.clone(), seq));
                        i += 1;
                    }
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let kind = response
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        problems.lock().expect("lock").push((status, kind));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("Baton itself must keep answering: {e}"),
                }
            }
        }));
    }
    let acked_count = || acked.lock().expect("lock").len();
    acks_reach(&acked, "", 11).await;

    cluster("down", &pg_dir);
    let health = |http: reqwest::Client, url: String| async move {
        http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while health(http.clone(), server.url("/healthz")).await != 503 {
        assert!(
            std::time::Instant::now() < deadline,
            "health never said 503 while the database was down"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = acked_count();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        acked_count(),
        during,
        "nothing is acknowledged while the database is down"
    );

    cluster("up", &pg_dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while health(http.clone(), server.url("/healthz")).await != 200 {
        assert!(std::time::Instant::now() < deadline, "service did not resume by itself");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed = acked_count();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked_count() < resumed + 30 {
        assert!(std::time::Instant::now() < deadline, "sends did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for sender in senders {
        sender.await.expect("sender");
    }

    let problems = problems.lock().expect("lock").clone();
    assert!(!problems.is_empty(), "sends during the outage got errors");
    for (status, kind) in &problems {
        assert!(
            *status >= 500,
            "an outage is the server's trouble, not the client's: {status}"
        );
        assert_eq!(kind, "application/problem+json", "status {status}");
    }
    let stored = verify(&http, &server, &conversations, &acked).await;
    assert_eq!(
        stored,
        acked_count(),
        "every acknowledged message stored once, nothing else"
    );
}

type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket on `server` at `path` with a bearer token.
async fn open_stream(server: &Server, path: &str, token: &str) -> Stream {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server
        .url(path)
        .replacen("http", "ws", 1)
        .into_client_request()
        .expect("ws request");
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().expect("header"));
    tokio_tungstenite::connect_async(request).await.expect("stream").0
}

/// The next JSON frame, or `None` when the stream ended (its server died) or stayed quiet
/// for `wait`.
async fn next_frame(stream: &mut Stream, wait: Duration) -> Option<serde_json::Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Reads a customer's stream until the event with `seq` (or until it ends); appends the
/// events' seqs to `seen`.
async fn read_until(stream: &mut Stream, seq: u64, seen: &mut Vec<u64>) {
    while seen.last().copied().unwrap_or(0) < seq {
        match next_frame(stream, Duration::from_secs(10)).await {
            Some(frame) if frame["type"] == "event" => seen.push(frame["event"]["seq"].as_u64().expect("seq")),
            Some(_) => continue,
            None => return,
        }
    }
}

/// Three instances on one database. Customers hold their streams on A and write through A;
/// Nina works on C. One customer asks for a person, and A is killed with `kill -9` at once,
/// mid-conversation and mid-handoff. The customers reconnect to B from where they were and
/// go on; the handoff reaches Nina on C, she takes it and answers, and the customer sees her
/// answer on B. Every stream saw each event once, in order, and every acknowledged message is
/// stored once, gapless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_lose_nothing_when_one_dies_mid_conversation_and_mid_handoff() {
    use futures_util::SinkExt;
    let Some(url) = test_database("three_instances_lose_nothing_when_one_dies_mid_conversation_and_mid_handoff").await
    else {
        return;
    };
    let dir = TempDir::new("pg-three");
    let dirs: Vec<_> = ["a", "b", "c"].iter().map(|n| dir.path().join(n)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).expect("dir");
    }
    let a = Server::start_on_database(&dirs[0], TEST_CONFIG, &url);
    let password = a
        .console
        .iter()
        .find_map(|l| l.trim().strip_prefix("nina@example.com").map(|p| p.trim().to_owned()))
        .expect("nina's password on the first instance's console");
    let b = Server::start_on_database(&dirs[1], TEST_CONFIG, &url);
    let c = Server::start_on_database(&dirs[2], TEST_CONFIG, &url);
    let http = reqwest::Client::new();

    // Nina on C watches the queue.
    let nina = c.login(&http, "nina@example.com", &password).await;
    let mut agent = open_stream(&c, "/api/v1/agents/ws", &nina).await;
    assert_eq!(
        next_frame(&mut agent, Duration::from_secs(5)).await.expect("queue")["type"],
        "queue"
    );

    // Three customers on A, each with a stream and a sender.
    let conversations = start_conversations(&http, &a, 3).await;
    let mut streams = Vec::new();
    for (id, token) in &conversations {
        streams.push(open_stream(&a, &format!("/api/v1/conversations/{id}/ws?after=0"), token).await);
    }
    let acked = Acked::default();
    let senders = spawn_senders(&http, &a, &conversations, "a", &acked);
    acks_reach(&acked, "a", 21).await;
    // The first customer asks for a person, and A dies.
    let (first_id, first_token) = &conversations[0];
    let asked = http
        .post(a.url(&format!("/api/v1/conversations/{first_id}/handoff-request")))
        .bearer_auth(first_token)
        .send()
        .await
        .expect("handoff request");
    assert_eq!(asked.status(), 200);
    a.kill_hard();
    for sender in senders {
        sender.await.expect("sender");
    }
    assert!(acked.lock().expect("lock").len() > 20, "the load ran before the kill");

    // What each stream saw on A, read to its end.
    let mut seen: Vec<Vec<u64>> = Vec::new();
    for stream in &mut streams {
        let mut got = Vec::new();
        read_until(stream, u64::MAX, &mut got).await;
        seen.push(got);
    }
    assert!(
        seen.iter().all(|got| got.len() > 1),
        "every stream on A carried messages before it died: {seen:?}"
    );
    // Reconnect to B from the last event seen, and go on writing through B.
    let mut streams_on_b = Vec::new();
    for ((id, token), got) in conversations.iter().zip(&seen) {
        let after = got.last().copied().unwrap_or(0);
        streams_on_b.push(open_stream(&b, &format!("/api/v1/conversations/{id}/ws?after={after}"), token).await);
    }
    // Each customer writes once on B's stream and waits for the ack; the events the stream
    // brings meanwhile count.
    let mut got_on_b = seen.clone();
    for (n, stream) in streams_on_b.iter_mut().enumerate() {
        let cmid = format!("b-{n}");
        let frame = serde_json::json!({"type": "send", "text": format!("still there? {n}"), "client_message_id": cmid});
        stream
            .send(tokio_tungstenite::tungstenite::Message::text(frame.to_string()))
            .await
            .expect("send on B");
        loop {
            let frame = next_frame(stream, Duration::from_secs(10))
                .await
                .expect("B answers on the stream");
            match frame["type"].as_str() {
                Some("event") => got_on_b[n].push(frame["event"]["seq"].as_u64().expect("seq")),
                Some("ack") if frame["client_message_id"] == cmid.as_str() => break,
                _ => continue,
            }
        }
    }

    // The handoff reached Nina on C; she takes it and answers there.
    let entered = loop {
        let frame = next_frame(&mut agent, Duration::from_secs(10))
            .await
            .expect("the queue entry reaches C");
        if frame["type"] == "queue_entered" {
            break frame;
        }
    };
    assert_eq!(entered["conversation"]["conversation_id"], first_id.as_str());
    let accepted = http
        .post(c.url(&format!("/api/v1/conversations/{first_id}/accept")))
        .bearer_auth(&nina)
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), 200);
    let answered = http
        .post(c.url(&format!("/api/v1/conversations/{first_id}/messages")))
        .bearer_auth(&nina)
        .json(&serde_json::json!({"text": "Nina here, I have your conversation.", "client_message_id": "nina-1"}))
        .send()
        .await
        .expect("agent message");
    assert_eq!(answered.status(), 201);
    let nina_seq = answered.json::<serde_json::Value>().await.expect("json")["seq"]
        .as_u64()
        .expect("seq");

    // Each customer's stream on B carries on exactly where A's stopped, to the end of its log.
    for (n, ((id, token), stream)) in conversations.iter().zip(&mut streams_on_b).enumerate() {
        let log = b.events(&http, id, token).await;
        let last = if n == 0 {
            nina_seq.max(log.len() as u64)
        } else {
            log.len() as u64
        };
        let mut got = got_on_b[n].clone();
        read_until(stream, last, &mut got).await;
        let expected: Vec<u64> = (1..=last).collect();
        assert_eq!(
            got, expected,
            "conversation {n}: every event once, in order, across the reconnect"
        );
    }
    // The logs: every acknowledged message once, at its acknowledged seq, and the messages
    // sent on B too.
    let acked = acked.lock().expect("lock").clone();
    for (n, (id, token)) in conversations.iter().enumerate() {
        let log = b.events(&http, id, token).await;
        let ids: Vec<&str> = log.iter().filter_map(|e| e["client_message_id"].as_str()).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "conversation {n}: no message stored twice");
        for (cmid, (_, seq)) in acked.iter().filter(|(_, (c, _))| c == id) {
            let at = log.iter().find(|e| e["client_message_id"] == cmid.as_str());
            assert_eq!(
                at.and_then(|e| e["seq"].as_u64()),
                Some(*seq),
                "acknowledged {cmid} survives"
            );
        }
        assert!(
            ids.contains(&format!("b-{n}").as_str()),
            "conversation {n}: the message sent on B"
        );
    }
}

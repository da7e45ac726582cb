//! Trigger to offer, end to end, at the routing issue's scale: a real server (SQLite, routing
//! on, no bot) with 200 agents online on their WebSocket streams and 1,000 customers already
//! waiting (in Spanish, which no agent on duty speaks, so they stay on the board and every plan
//! weighs them). Then English customers press the handoff button one after another; each is
//! offered at once. Measured per handoff: from sending the handoff request to the `offer` frame
//! arriving on the agent's stream (client side, over loopback HTTP and WebSocket), and the
//! `after_ms` routing recorded in the log (handoff committed to offer committed).
//!
//! `cargo bench -p baton-server --bench routing_offers` (release build). Prints the figures.

use baton_runtime::router::Router;
use baton_server::config::Config;
use baton_server::Baton;
use baton_store::{Agent, NewAgent, Role, Store};
use baton_store_sqlite::{Durability, SqliteStore};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const AGENTS: usize = 200;
const WAITING: usize = 1_000;
const MEASURED: usize = 400;
const PASSWORD: &str = "bench password, never used elsewhere";

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(name: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    println!(
        "{name}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        values.len(),
        percentile(&values, 50.0),
        percentile(&values, 90.0),
        percentile(&values, 99.0),
        values.last().copied().unwrap_or(f64::NAN)
    );
}

async fn create(http: &reqwest::Client, base: &str, language: &str) -> (String, String) {
    let created: Value = http
        .post(format!("{base}/api/v1/conversations"))
        .json(&json!({"language": language}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    (
        created["conversation_id"].as_str().expect("id").to_owned(),
        created["customer_token"].as_str().expect("token").to_owned(),
    )
}

async fn hand_off(http: &reqwest::Client, base: &str, id: &str, token: &str) {
    let response = http
        .post(format!("{base}/api/v1/conversations/{id}/handoff-request"))
        .bearer_auth(token)
        .send()
        .await
        .expect("handoff");
    assert_eq!(response.status(), 200);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = std::env::temp_dir().join(format!("baton-routing-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("baton.db"), Durability::default())
            .await
            .expect("store"),
    );
    let mut config = Config::demo();
    config.agents.clear();
    config.dialogue = None;
    config.limits.messages_per_second = 1_000_000;
    config.limits.message_burst = 1_000_000;
    config.limits.conversations_per_minute_per_ip = 1_000_000;
    config.limits.logins_per_minute = 1_000_000;
    config.limits.max_streams_per_ip = 100_000;
    let routing = config.routing.as_mut().expect("the demo routes");
    routing.offer_timeout_seconds = 3600;
    routing.progress_every_seconds = 3600;
    routing.callback_after_seconds = 3600;
    routing.nobody_eligible_after_seconds = 1_000_000;
    routing.queues.clear();
    routing.hours.clear();
    let backup = routing.agents[0].clone();
    routing.agents = (0..AGENTS)
        .map(|i| baton_routing::config::AgentEntry {
            email: format!("agent{i}@bench.example"),
            skills: vec!["general".into()],
            languages: vec!["en".into()],
            capacity: 10,
            team: None,
        })
        .collect();
    // Serves every queue in both languages (the configuration checks that); never online.
    routing.agents.push(baton_routing::config::AgentEntry {
        email: "backup@bench.example".into(),
        skills: [
            "compliance",
            "fraud",
            "vip",
            "billing",
            "refunds",
            "orders",
            "shipping",
            "general",
        ]
        .map(String::from)
        .to_vec(),
        languages: vec!["en".into(), "es".into()],
        ..backup
    });
    let hash = baton_server::auth::hash_password(PASSWORD).expect("hash");
    for i in 0..AGENTS {
        let agent = Agent {
            id: baton_domain::AgentId(uuid::Uuid::now_v7()),
            email: format!("agent{i}@bench.example"),
            display_name: format!("Agent {i}"),
            role: Role::Agent,
        };
        store
            .insert_agent_if_absent(
                NewAgent {
                    agent,
                    password_hash: hash.clone(),
                },
                baton_server::now(),
            )
            .await
            .expect("agent");
    }
    let hub = Arc::new(baton_server::Hub::default());
    let checked = baton_server::bot::routing(&config)
        .expect("routing checks")
        .expect("routing");
    let router = Router::new(
        store.clone(),
        hub.clone(),
        Arc::new(checked),
        Arc::new(baton_handoff::HandoffConfig::demo().expect("handoff")),
        Arc::new(baton_connectors::DemoTicketing::new()),
    );
    let baton = Baton::with_bot(store.clone(), config, hub, None).with_router(Some(router.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(baton.serve(listener, std::future::pending()));
    let base = format!("http://{address}");
    let http = reqwest::Client::new();

    // 200 agents log in and open their streams; each stream notes when an offer arrives.
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let started = Instant::now();
    let mut tokens = Vec::new();
    for i in 0..AGENTS {
        let body: Value = http
            .post(format!("{base}/api/v1/agents/login"))
            .json(&json!({"email": format!("agent{i}@bench.example"), "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = body["token"].as_str().expect("token").to_owned();
        let mut request = format!("ws://{address}/api/v1/agents/ws")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().expect("header"));
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("ws");
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    if text.as_str().starts_with("{\"type\":\"offer\"") {
                        let now = Instant::now();
                        let frame: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                        if let Some(id) = frame["conversation"]["conversation_id"].as_str() {
                            arrivals
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(id.to_owned(), now);
                        }
                    }
                }
            }
        });
        tokens.push(token);
    }
    println!("{AGENTS} agents online in {:.1} s", started.elapsed().as_secs_f64());

    // 1,000 Spanish customers wait: nobody on duty speaks Spanish.
    let started = Instant::now();
    let mut handles = Vec::new();
    for chunk in 0..8 {
        let http = http.clone();
        let base = base.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..WAITING / 8 {
                let (id, token) = create(&http, &base, "es").await;
                hand_off(&http, &base, &id, &token).await;
            }
            chunk
        }));
    }
    for handle in handles {
        handle.await.expect("waiting customers");
    }
    while router.counts().0 < WAITING {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{WAITING} customers waiting on the board in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // English customers hand off one after another, 20 a second.
    let mut client_side = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..MEASURED {
        let (id, token) = create(&http, &base, "en").await;
        let sent = Instant::now();
        hand_off(&http, &base, &id, &token).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let arrived = loop {
            if let Some(at) = arrivals.lock().unwrap_or_else(|e| e.into_inner()).get(&id).copied() {
                break at;
            }
            assert!(Instant::now() < deadline, "no offer for {id} within 10 s");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        client_side.push((arrived - sent).as_secs_f64() * 1000.0);
        ids.push(id);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut recorded = Vec::new();
    for id in &ids {
        let body: Value = http
            .get(format!("{base}/api/v1/conversations/{id}/events?after=0"))
            .bearer_auth(&tokens[0])
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        if let Some(after) = body["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["type"] == "offer_made"))
            .and_then(|e| e["after_ms"].as_u64())
        {
            recorded.push(after as f64);
        }
    }
    println!("with {WAITING} waiting and {AGENTS} agents online:");
    report("request sent -> offer frame on the agent's stream", client_side);
    report("handoff recorded -> offer recorded (after_ms in the log)", recorded);
    let _ = std::fs::remove_dir_all(&dir);
}

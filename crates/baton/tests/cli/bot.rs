//! The bot across a crash: `kill -9` while a refund is on its way to the shop's order system,
//! restart, and the customer gets exactly one answer, with the refund done once (the retry
//! carries the same idempotency key). The shop's CRM and order system are a real HTTP server
//! on loopback, spoken to through the HTTP connectors.

use crate::common::{baton, Server, TempDir};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shop's systems: Sarah, her order, and a refund endpoint that holds the first request.
#[derive(Default)]
pub(crate) struct Shop {
    /// Idempotency keys of refund requests, in arrival order.
    pub(crate) refund_requests: Mutex<Vec<String>>,
    /// Refunds done, by idempotency key.
    pub(crate) refunds: Mutex<HashMap<String, String>>,
    pub(crate) arrived: tokio::sync::Notify,
}

fn sarah() -> baton_connectors::Customer {
    baton_connectors::demo_customers()
        .into_iter()
        .find(|c| c.email == "sarah.chen@example.com")
        .expect("Sarah is in the demo data")
}

fn order_54192() -> baton_connectors::Order {
    baton_connectors::demo_orders()
        .into_iter()
        .find(|o| o.number == "54192")
        .expect("order 54192 is in the demo data")
}

async fn refund(State(shop): State<Arc<Shop>>, Path(number): Path<String>, headers: HeaderMap) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let first = {
        let mut requests = shop.refund_requests.lock().expect("lock");
        requests.push(key.clone());
        requests.len() == 1
    };
    // The shop refunds once per idempotency key.
    let refund_id = {
        let mut refunds = shop.refunds.lock().expect("lock");
        let count = refunds.len();
        refunds
            .entry(key)
            .or_insert_with(|| format!("R-{number}-{}", count + 1))
            .clone()
    };
    if first {
        // The shop did the refund; Baton is killed before it hears back.
        shop.arrived.notify_one();
        std::future::pending::<()>().await;
    }
    Json(json!({"result": "started", "refund_id": refund_id, "amount": {"amount_cents": 4990, "currency": "EUR"}}))
        .into_response()
}

pub(crate) async fn start_shop() -> (String, Arc<Shop>) {
    let shop = Arc::new(Shop::default());
    let app = Router::new()
        .route(
            "/customers",
            get(|| async { Json(serde_json::to_value(sarah()).expect("json")) }),
        )
        .route(
            "/orders/{number}",
            get(|Path(number): Path<String>| async move {
                if number == "54192" {
                    Json(serde_json::to_value(order_54192()).expect("json")).into_response()
                } else {
                    StatusCode::NOT_FOUND.into_response()
                }
            }),
        )
        .route(
            "/orders/{number}/refund-eligibility",
            get(|| async {
                Json(json!({"eligible": true, "amount": {"amount_cents": 4990, "currency": "EUR"}, "explanation": "charged twice on 2026-03-03"}))
            }),
        )
        .route("/orders/{number}/refunds", post(refund))
        .with_state(shop.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), shop)
}

/// The bundled demo configuration with the CRM and the order system over HTTP.
pub(crate) fn config_text(shop_url: &str) -> String {
    let demo = baton().args(["config", "default"]).output().expect("config default");
    let demo = String::from_utf8(demo.stdout).expect("utf-8");
    format!(
        "{demo}\n[connectors.crm]\nkind = \"http\"\nbase_url = \"{shop_url}\"\ntimeout_ms = 20000\nretries = 0\n\n\
         [connectors.orders]\nkind = \"http\"\nbase_url = \"{shop_url}\"\ntimeout_ms = 20000\nretries = 0\n"
    )
}

/// Bot messages after `seq`, waiting up to 30 s for at least one.
pub(crate) async fn bot_replies_after(
    server: &Server,
    http: &reqwest::Client,
    id: &str,
    token: &str,
    seq: u64,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let replies: Vec<Value> = server
            .events(http, id, token)
            .await
            .into_iter()
            .filter(|e| e["type"] == "bot_message" && e["seq"].as_u64().unwrap_or(0) > seq)
            .collect();
        if !replies.is_empty() {
            return replies;
        }
        assert!(Instant::now() < deadline, "no bot reply after seq {seq}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn say(server: &Server, http: &reqwest::Client, id: &str, token: &str, text: &str, cmid: &str) -> u64 {
    let stored: Value = http
        .post(server.url(&format!("/api/v1/conversations/{id}/messages")))
        .bearer_auth(token)
        .json(&json!({"text": text, "client_message_id": cmid}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    stored["seq"].as_u64().expect("seq")
}

/// Sarah asks `server` for a refund of her duplicate charge and says yes; returns once the
/// shop holds the refund request (unanswered): the conversation, her token and the seq of her
/// "yes".
pub(crate) async fn refund_held_by_the_shop(
    server: &Server,
    http: &reqwest::Client,
    shop: &Shop,
) -> (String, String, u64) {
    let (id, token) = server
        .new_conversation(
            http,
            Some(json!({"language": "en", "customer": {"email": "sarah.chen@example.com"}})),
        )
        .await;
    // She reads the greeting first, so the answer to her question is the next bot message.
    bot_replies_after(server, http, &id, &token, 0).await;
    let asked = say(server, http, &id, &token, "I was charged twice for order 54192", "c1").await;
    let confirm = bot_replies_after(server, http, &id, &token, asked).await;
    let confirm = confirm[0]["text"].as_str().expect("text");
    assert!(confirm.contains("Shall I refund"), "{confirm}");
    let yes = say(server, http, &id, &token, "yes please", "c2").await;
    tokio::time::timeout(Duration::from_secs(30), shop.arrived.notified())
        .await
        .expect("the refund request reaches the shop");
    (id, token, yes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_refund_is_answered_once_after_restart_and_refunds_once() {
    let (shop_url, shop) = start_shop().await;
    let config = config_text(&shop_url);
    let dir = TempDir::new("bot-crash");
    let http = reqwest::Client::new();

    let server = Server::start_with(dir.path(), &config);
    // The demo agents' one-time passwords are printed at the first start.
    let password = server
        .console
        .iter()
        .find_map(|l| l.trim().strip_prefix("nina@demo.baton.chat"))
        .map(|p| p.trim().to_owned())
        .expect("Nina's one-time password");
    let (id, token, yes) = refund_held_by_the_shop(&server, &http, &shop).await;
    server.kill_hard();

    // The customer's "yes" is stored, its answer is not: the restarted bot picks it up.
    let server = Server::start_with(dir.path(), &config);
    let replies = bot_replies_after(&server, &http, &id, &token, yes).await;
    let done = replies[0]["text"].as_str().expect("text");
    assert!(done.starts_with("Done: I've started a refund of 49.90 EUR"), "{done}");
    // Give a second, wrong answer time to appear (it would come within milliseconds).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let agent = server.login(&http, "nina@demo.baton.chat", &password).await;
    let all = server.events(&http, &id, &agent).await;
    let after_yes = all
        .iter()
        .filter(|e| e["type"] == "bot_message" && e["seq"].as_u64().unwrap_or(0) > yes)
        .count();
    assert_eq!(after_yes, 1, "exactly one answer to the customer's yes");
    let requests = shop.refund_requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2, "the refund was asked for again after the restart");
    assert_eq!(requests[0], requests[1], "with the same idempotency key");
    assert!(requests[0].starts_with(&id));
    assert_eq!(
        shop.refunds.lock().expect("lock").len(),
        1,
        "and the shop refunded once"
    );
    let recorded: Vec<&Value> = all
        .iter()
        .filter(|e| e["type"] == "action_recorded" && e["action"] == "start_refund")
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["outcome"], "ok");
}

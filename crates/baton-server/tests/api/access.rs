//! The access matrix: every endpoint against every kind of caller, with the status each must
//! get. An endpoint the server documents but this table lacks fails the test, so a new route
//! cannot ship without deciding who may call it.

use crate::common::{CustomerSession, TestApp, AGENT_PASSWORD};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    /// The customer whose conversation it is.
    Customer,
    /// A customer of another conversation.
    OtherCustomer,
    /// An agent who does not own the conversation.
    Agent,
    /// The agent who owns it (for conversations with an agent).
    OwningAgent,
    // Supervisors and admins have no extra powers yet (no teams, no admin endpoints); their
    // columns pin that down, so granting one must change this table.
    Supervisor,
    Admin,
}

const EVERYONE: [Who; 7] = [
    Who::Anonymous,
    Who::Customer,
    Who::OtherCustomer,
    Who::Agent,
    Who::OwningAgent,
    Who::Supervisor,
    Who::Admin,
];

/// The state the conversation is put in before the call.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Bot,
    Waiting,
    WithOwner,
}

struct Row {
    method: &'static str,
    path: &'static str,
    setup: Setup,
    body: Option<fn() -> Value>,
    /// Expected status per caller, in the order of `EVERYONE`.
    expect: [u16; 7],
}

fn message() -> Value {
    json!({"text": "hello", "client_message_id": uuid::Uuid::now_v7().to_string()})
}

fn transfer() -> Value {
    json!({"queue": "billing", "note": "billing question"})
}

fn away() -> Value {
    json!({"status": "away"})
}

fn login() -> Value {
    json!({"email": "agent@example.com", "password": AGENT_PASSWORD})
}

//                          anon cust other agent owner super admin
#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { method: "GET", path: "/healthz", setup: Setup::Bot, body: None, expect: [200, 200, 200, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/openapi.json", setup: Setup::Bot, body: None, expect: [200, 200, 200, 200, 200, 200, 200] },
    Row { method: "POST", path: "/api/v1/conversations", setup: Setup::Bot, body: None, expect: [201, 201, 201, 201, 201, 201, 201] },
    Row { method: "GET", path: "/api/v1/conversations/{id}", setup: Setup::Bot, body: None, expect: [401, 200, 404, 200, 200, 200, 200] },
    Row { method: "POST", path: "/api/v1/conversations/{id}/messages", setup: Setup::WithOwner, body: Some(message), expect: [401, 201, 404, 409, 201, 409, 409] },
    Row { method: "GET", path: "/api/v1/conversations/{id}/events", setup: Setup::Bot, body: None, expect: [401, 200, 404, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/conversations/{id}/memory", setup: Setup::Bot, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/conversations/{id}/handoffs", setup: Setup::Waiting, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/handoffs/{handoff_id}", setup: Setup::Waiting, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/schemas/context-package.json", setup: Setup::Bot, body: None, expect: [200, 200, 200, 200, 200, 200, 200] },
    Row { method: "POST", path: "/api/v1/conversations/{id}/handoff-request", setup: Setup::Bot, body: None, expect: [401, 200, 404, 403, 403, 403, 403] },
    Row { method: "POST", path: "/api/v1/conversations/{id}/accept", setup: Setup::Waiting, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "POST", path: "/api/v1/conversations/{id}/decline", setup: Setup::Waiting, body: None, expect: [401, 403, 403, 409, 409, 409, 409] },
    Row { method: "POST", path: "/api/v1/conversations/{id}/transfer", setup: Setup::WithOwner, body: Some(transfer), expect: [401, 403, 403, 409, 200, 409, 409] },
    Row { method: "POST", path: "/api/v1/conversations/{id}/hand-back", setup: Setup::WithOwner, body: None, expect: [401, 403, 403, 409, 200, 409, 409] },
    Row { method: "POST", path: "/api/v1/conversations/{id}/resolve", setup: Setup::WithOwner, body: None, expect: [401, 403, 403, 409, 200, 409, 409] },
    Row { method: "POST", path: "/api/v1/agents/login", setup: Setup::Bot, body: Some(login), expect: [200, 200, 200, 200, 200, 200, 200] },
    Row { method: "POST", path: "/api/v1/agents/logout", setup: Setup::Bot, body: None, expect: [401, 403, 403, 204, 204, 204, 204] },
    Row { method: "GET", path: "/api/v1/agents/me", setup: Setup::Bot, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/agents/me/conversations", setup: Setup::Bot, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/queue", setup: Setup::Bot, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "POST", path: "/api/v1/agents/me/presence", setup: Setup::Bot, body: Some(away), expect: [401, 403, 403, 200, 200, 200, 200] },
    Row { method: "GET", path: "/api/v1/agents/presence", setup: Setup::Bot, body: None, expect: [401, 403, 403, 200, 200, 200, 200] },
];

/// WebSocket routes (not in the OpenAPI document): 101 is a successful upgrade.
#[rustfmt::skip]
const STREAMS: &[Row] = &[
    Row { method: "GET", path: "/api/v1/conversations/{id}/ws", setup: Setup::Bot, body: None, expect: [401, 101, 404, 101, 101, 101, 101] },
    Row { method: "GET", path: "/api/v1/agents/ws", setup: Setup::Bot, body: None, expect: [401, 403, 403, 101, 101, 101, 101] },
];

struct Principals {
    agent: String,
    owner: String,
    supervisor: String,
    admin: String,
    other: CustomerSession,
}

async fn prepare(app: &TestApp, principals: &Principals, setup: Setup) -> CustomerSession {
    let conv = app.new_conversation().await;
    if matches!(setup, Setup::Waiting | Setup::WithOwner) {
        assert_eq!(app.request_handoff(&conv.id, &conv.token).await.status(), 200);
    }
    if matches!(setup, Setup::WithOwner) {
        let accepted = app
            .agent_post(&format!("/api/v1/conversations/{}/accept", conv.id), &principals.owner)
            .await;
        assert_eq!(accepted.status(), 200);
    }
    conv
}

fn token_for<'a>(who: Who, conv: &'a CustomerSession, p: &'a Principals) -> Option<&'a str> {
    match who {
        Who::Anonymous => None,
        Who::Customer => Some(&conv.token),
        Who::OtherCustomer => Some(&p.other.token),
        Who::Agent => Some(&p.agent),
        Who::OwningAgent => Some(&p.owner),
        Who::Supervisor => Some(&p.supervisor),
        Who::Admin => Some(&p.admin),
    }
}

async fn call(app: &TestApp, row: &Row, path: &str, token: Option<&str>) -> u16 {
    let mut request = match row.method {
        "GET" => app.http.get(app.url(path)),
        _ => app.http.post(app.url(path)),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = row.body {
        request = request.json(&body());
    }
    request.send().await.expect("request").status().as_u16()
}

async fn upgrade(app: &TestApp, path: &str, token: Option<&str>) -> u16 {
    let mut request = app.ws_url(path).into_client_request().expect("ws request");
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_against_every_caller() {
    let app = TestApp::builder()
        .with_agent("agent@example.com", "Agent")
        .with_agent("owner@example.com", "Owner")
        .with_supervisor("super@example.com", "Supervisor")
        .with_admin("admin@example.com", "Admin")
        // Routing on, with seats enough for every conversation the owner takes here.
        .with_routing(std::sync::Arc::new(baton_connectors::DemoTicketing::new()), |r| {
            r.default_agent.capacity = 50;
            r.default_agent.skills = vec!["general".into(), "billing".into(), "refunds".into()];
        })
        .start()
        .await;
    let mut principals = Principals {
        agent: app.login("agent@example.com").await,
        owner: app.login("owner@example.com").await,
        supervisor: app.login("super@example.com").await,
        admin: app.login("admin@example.com").await,
        other: app.new_conversation().await,
    };
    let mut failures = Vec::new();
    for (rows, is_stream) in [(ROWS, false), (STREAMS, true)] {
        for row in rows {
            for (who, expected) in EVERYONE.iter().zip(row.expect) {
                let conv = prepare(&app, &principals, row.setup).await;
                // A waiting conversation's handoff is its second event.
                let path = row
                    .path
                    .replace("{id}", &conv.id)
                    .replace("{handoff_id}", &format!("{}.2", conv.id));
                let token = token_for(*who, &conv, &principals);
                let got = if is_stream {
                    upgrade(&app, &path, token).await
                } else {
                    call(&app, row, &path, token).await
                };
                if row.path == "/api/v1/agents/logout" {
                    // That session is over: the next callers log in afresh.
                    principals.agent = app.login("agent@example.com").await;
                    principals.owner = app.login("owner@example.com").await;
                    principals.supervisor = app.login("super@example.com").await;
                    principals.admin = app.login("admin@example.com").await;
                }
                if got != expected {
                    failures.push(format!(
                        "{} {} as {who:?}: expected {expected}, got {got}",
                        row.method, row.path
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "access matrix violations:\n{}",
        failures.join("\n")
    );

    // Completeness: every route the router answers (read off its own table, streams
    // included) has a row, and every row is a route.
    let routes: BTreeSet<(String, String)> = baton_server::api::route_list()
        .into_iter()
        .map(|(method, path, _)| (method.to_owned(), path.to_owned()))
        .collect();
    let covered: BTreeSet<(String, String)> = ROWS
        .iter()
        .chain(STREAMS)
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(routes, covered, "the router's routes and the access-matrix rows differ");
}

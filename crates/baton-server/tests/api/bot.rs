//! The bot serving customers, scripted through the public API in English and Spanish, on the
//! demo configuration and demo connectors. Every conversation also checks the two promises
//! the handoff depends on: the bot never asks for a slot it already holds, and the memory the
//! worker kept turn by turn equals a fold of the whole log.

use crate::common::{next_json, ws_send, TestApp};
use baton_connectors::{Connectors, DemoCustomers, DemoOrders, DemoTicketing};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub const AGENT: &str = "nina@example.com";

/// Demo connectors whose order system the test can inspect.
pub fn demo_connectors() -> (Connectors, Arc<DemoOrders>) {
    let orders = Arc::new(DemoOrders::new());
    let connectors = Connectors {
        customers: Arc::new(DemoCustomers::new()),
        orders: orders.clone(),
        tickets: Arc::new(DemoTicketing::new()),
    };
    (connectors, orders)
}

pub async fn bot_app(connectors: Connectors) -> TestApp {
    TestApp::builder()
        .with_agent(AGENT, "Nina")
        .with_bot(connectors)
        .start()
        .await
}

/// One customer in one conversation.
pub struct Chat<'a> {
    app: &'a TestApp,
    pub id: String,
    pub token: String,
    /// An agent's token: agents see the bot's records, customers only the conversation.
    pub agent: String,
    counter: u32,
}

impl<'a> Chat<'a> {
    /// Starts a conversation and returns it with the bot's greeting.
    pub async fn start(app: &'a TestApp, body: Value) -> (Chat<'a>, Value) {
        let response = app
            .http
            .post(app.url("/api/v1/conversations"))
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.expect("json");
        let mut chat = Chat {
            app,
            id: created["conversation_id"].as_str().expect("id").to_owned(),
            token: created["customer_token"].as_str().expect("token").to_owned(),
            agent: app.login(AGENT).await,
            counter: 0,
        };
        let greeting = chat.bot_reply_after(1).await;
        (chat, greeting)
    }

    /// The whole log, as an agent reads it.
    pub async fn events(&self) -> Vec<Value> {
        self.app.events(&self.id, &self.agent, 0).await
    }

    /// What the customer's own client is shown.
    pub async fn customer_events(&self) -> Vec<Value> {
        self.app.events(&self.id, &self.token, 0).await
    }

    /// Waits until the bot has nothing left to do.
    pub async fn settle(&self) {
        let bot = self.app.bot.as_ref().expect("a bot");
        for _ in 0..1500 {
            if bot.is_idle() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the bot did not settle within 15 s");
    }

    /// Waits for what the customer is told next after `seq`: the bot's message, or the
    /// acknowledgment (a system note) when the conversation was handed to a person.
    pub async fn bot_reply_after(&mut self, seq: u64) -> Value {
        for _ in 0..200 {
            let events = self.app.events(&self.id, &self.token, seq).await;
            if let Some(reply) = events
                .iter()
                .find(|e| e["type"] == "bot_message" || e["type"] == "system_note")
            {
                return reply.clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no bot reply after seq {seq} within 5 s");
    }

    /// Sends a customer message and returns the bot's reply event.
    pub async fn say(&mut self, text: &str) -> Value {
        self.counter += 1;
        let response = self
            .app
            .post_message(&self.id, &self.token, text, &format!("m{}", self.counter))
            .await;
        assert_eq!(response.status(), 201, "posting {text:?}");
        let stored: Value = response.json().await.expect("json");
        let seq = stored["seq"].as_u64().expect("seq");
        self.bot_reply_after(seq).await
    }

    /// The bot's reply text.
    pub async fn ask(&mut self, text: &str) -> String {
        self.say(text).await["text"].as_str().expect("text").to_owned()
    }

    /// The memory an agent reads (a fold of the whole log).
    pub async fn memory(&self) -> Value {
        self.app
            .get_json(&format!("/api/v1/conversations/{}/memory", self.id), Some(&self.agent))
            .await
    }

    /// Checks the promises every conversation keeps, and returns its events.
    pub async fn check(&self) -> Vec<Value> {
        self.settle().await;
        let events = self.events().await;
        never_asked_for_a_held_slot(&events);
        // The customer's client sees the conversation, never the bot's internal records.
        let shown = self.customer_events().await;
        assert!(shown.iter().all(|e| [
            "conversation_started",
            "customer_message",
            "bot_message",
            "agent_message",
            "system_note",
            "handoff_requested",
            "assigned",
            "phase_changed"
        ]
        .contains(&e["type"].as_str().unwrap_or_default())));
        // The worker's memory, folded turn by turn, equals a replay of the whole log.
        let bot = self.app.bot.as_ref().expect("a bot");
        let mut cached = None;
        for _ in 0..750 {
            if bot.is_idle() {
                cached = bot.cached_memory(baton_domain::ConversationId(self.id.parse().expect("uuid")));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Through JSON text, as the endpoint sends it (an f32 read back as f64 otherwise differs).
        let cached = serde_json::to_string(&cached.expect("the worker kept this conversation's memory")).expect("json");
        let cached: Value = serde_json::from_str(&cached).expect("json");
        assert_eq!(
            cached,
            self.memory().await,
            "memory from replay differs from the live memory"
        );
        events
    }
}

/// Fails when the bot asked for a slot whose value it already held.
fn never_asked_for_a_held_slot(events: &[Value]) {
    let mut held = BTreeSet::new();
    for event in events {
        match event["type"].as_str() {
            Some("slot_filled") => {
                held.insert(event["slot"].as_str().expect("slot").to_owned());
            }
            Some("dialogue_moved") if event["awaiting"]["for"] == "slot" => {
                let slot = event["awaiting"]["slot"].as_str().expect("slot");
                assert!(
                    !held.contains(slot),
                    "the bot asked for `{slot}`, which it already held"
                );
            }
            _ => {}
        }
    }
}

/// A new conversation's body: its language and the email the customer gave.
pub fn signed_in(language: &str, email: &str) -> Value {
    json!({"language": language, "customer": {"email": email}})
}

pub fn of_type<'e>(events: &'e [Value], kind: &str) -> Vec<&'e Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn greets_in_the_conversation_language_with_suggestions() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (chat, greeting) = Chat::start(&app, json!({"language": "es", "customer": {"name": "Lucía"}})).await;
    let text = greeting["text"].as_str().expect("text");
    assert!(text.starts_with("¡Hola Lucía!"), "{text}");
    assert!(!greeting["suggestions"].as_array().expect("suggestions").is_empty());
    chat.check().await;
}

#[tokio::test]
async fn order_status_for_a_customer_who_verifies_in_the_chat() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    let asked = chat.ask("Where is my order?").await;
    assert!(asked.contains("email"), "asks for the email first: {asked}");
    let asked = chat.ask("it's marcus.webb@example.com").await;
    assert!(asked.contains("order number") && asked.contains("four"), "{asked}");
    let answer = chat.ask("54233").await;
    assert!(answer.contains("you're verified"), "{answer}");
    assert!(
        answer.contains("#54233") && answer.contains("on its way") && answer.contains("DHL"),
        "{answer}"
    );
    let memory = chat.memory().await;
    assert_eq!(memory["auth"]["state"], "verified");
    assert_eq!(memory["auth"]["method"], "email_and_order");
    assert_eq!(memory["customer"]["tier"], "vip");
    assert_eq!(memory["slots"]["order_number"]["value"], "54233");
    let intent = memory["current_intent"]["intent"].as_str().expect("an intent");
    assert!(["order_status", "late_delivery"].contains(&intent), "{intent}");
    chat.check().await;
}

#[tokio::test]
async fn order_details_are_never_shown_before_verification() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    // Someone who knows Sarah's order number but not her email.
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    let asked = chat.ask("what is the status of order 54192").await;
    assert!(asked.contains("email"), "{asked}");
    let refused = chat.ask("someone@example.com").await;
    assert!(refused.contains("doesn't match"), "{refused}");
    let events = chat.check().await;
    let actions = of_type(&events, "action_recorded");
    assert!(
        actions.iter().all(|a| a["action"] == "verify_identity"),
        "no order lookup ran"
    );
    let memory = chat.memory().await;
    assert_eq!(memory["auth"], json!({"state": "failed", "attempts": 1}));
}

#[tokio::test]
async fn verification_by_phone_digits_and_a_person_after_two_failures() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    let asked = chat.ask("where's my package").await;
    assert!(
        asked.contains("last four digits"),
        "email known from the profile: {asked}"
    );
    let verified = chat.ask("it ends in 0142").await;
    assert!(verified.contains("you're verified"), "{verified}");
    let memory = chat.memory().await;
    assert_eq!(memory["auth"]["method"], "email_and_phone");
    chat.check().await;

    let (mut chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    chat.ask("where is my order").await;
    let again = chat.ask("1111").await;
    assert!(again.contains("doesn't match"), "{again}");
    // The second failure hands over before a third attempt: the customer is told so.
    let handed = chat.say("2222").await;
    assert_eq!(handed["type"], "system_note", "{handed}");
    assert!(
        handed["text"].as_str().expect("text").contains("won't need to repeat"),
        "{handed}"
    );
    let memory = chat.memory().await;
    assert_eq!(memory["auth"], json!({"state": "failed", "attempts": 2}));
    let reasons = &memory["handoffs"][0]["reasons"];
    assert_eq!(reasons[0]["kind"], "failed_verification", "{reasons}");
    chat.check().await;
}

/// Guessing the phone's four digits one conversation after another: each conversation hands
/// over after two failures, but the account's count goes on, and after five (the demo's
/// `max_failures_per_account`) not even the right digits are checked. The customer is told
/// what any failure tells them; the agent's log says why. Another account is not touched.
#[tokio::test]
async fn failed_proofs_are_counted_per_account_across_conversations() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    for guesses in [["1111", "2222"], ["3333", "4444"], ["5555", "0142"]] {
        let (mut chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
        chat.ask("where is my order").await;
        let refused = chat.ask(guesses[0]).await;
        assert!(refused.contains("doesn't match"), "{refused}");
        // The second failure (the right digits, in the last conversation) hands over.
        let handed = chat.say(guesses[1]).await;
        assert_eq!(handed["type"], "system_note", "{handed}");
        let events = chat.check().await;
        let memory = chat.memory().await;
        assert_eq!(memory["auth"], json!({"state": "failed", "attempts": 2}));
        if guesses[1] == "0142" {
            let last = of_type(&events, "action_recorded")
                .into_iter()
                .rfind(|a| a["action"] == "verify_identity")
                .expect("a proof");
            assert_eq!(last["outcome"], "failed");
            assert!(
                last["summary"].as_str().unwrap_or_default().contains("not checked"),
                "{last}"
            );
        }
    }
    let (mut other, _) = Chat::start(&app, signed_in("en", "marcus.webb@example.com")).await;
    other.ask("where is my order").await;
    let verified = other.ask("54233").await;
    assert!(verified.contains("you're verified"), "{verified}");
    other.check().await;
}

#[tokio::test]
async fn duplicate_charge_refund_is_done_once_in_spanish() {
    let (connectors, orders) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, signed_in("es", "lucia.fernandez@example.es")).await;
    let confirm = chat.ask("Me habéis cobrado dos veces el pedido 54210").await;
    assert!(
        confirm.contains("89.00 EUR") && confirm.contains("¿Quieres que reembolse"),
        "{confirm}"
    );
    let done = chat.ask("sí, por favor").await;
    assert!(done.starts_with("Hecho"), "{done}");
    assert_eq!(orders.refunds_started(), 1);
    let events = chat.check().await;
    let refund = of_type(&events, "action_recorded")
        .into_iter()
        .find(|a| a["action"] == "start_refund")
        .expect("the refund is recorded");
    assert_eq!(refund["outcome"], "ok");
    assert!(refund["idempotency_key"].as_str().expect("key").contains(&chat.id));
    let memory = chat.memory().await;
    assert_eq!(memory["language"], "es");
    assert_eq!(memory["slots"]["order_number"]["confirmed"], true);
}

#[tokio::test]
async fn a_failing_refund_workflow_is_recorded_as_failed_and_said_plainly() {
    let (connectors, orders) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(
        &app,
        json!({"language": "en", "customer": {"name": "Sarah", "email": "sarah.chen@example.com"}}),
    )
    .await;
    let confirm = chat.ask("I was charged twice for order 54192").await;
    assert!(confirm.contains("2 charges of 49.90 EUR on 2026-03-03"), "{confirm}");
    let failed = chat.ask("yes").await;
    assert!(failed.contains("could not complete it"), "{failed}");
    assert_eq!(orders.refunds_started(), 0);
    let events = chat.check().await;
    let refund = of_type(&events, "action_recorded")
        .into_iter()
        .find(|a| a["action"] == "start_refund")
        .expect("the refund attempt is recorded");
    assert_eq!(refund["outcome"], "failed");
    let memory = chat.memory().await;
    let outcomes: Vec<&Value> = memory["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| &a["outcome"])
        .collect();
    assert_eq!(outcomes, [&json!("ok"), &json!("ok"), &json!("failed")]);
}

#[tokio::test]
async fn a_corrected_order_number_replaces_the_old_one_and_is_recorded() {
    let (connectors, orders) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, signed_in("en", "david.okafor@example.com")).await;
    let confirm = chat.ask("I want to cancel order 54120").await;
    assert!(confirm.contains("#54120"), "{confirm}");
    let confirm = chat.ask("no, it's order 54261").await;
    assert!(confirm.contains("#54261") && !confirm.contains("54120"), "{confirm}");
    let done = chat.ask("yes").await;
    assert!(done.contains("#54261 is cancelled"), "{done}");
    assert_eq!(orders.cancellations(), 1);
    let events = chat.check().await;
    let correction = of_type(&events, "slot_filled")
        .into_iter()
        .find(|s| s["replaced"] == "54120")
        .expect("the correction is recorded");
    assert_eq!(correction["value"], "54261");
    let memory = chat.memory().await;
    assert_eq!(memory["slots"]["order_number"]["replaced"], json!(["54120"]));
}

#[tokio::test]
async fn knowledge_base_answers_in_both_languages_and_records_feedback() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    let answer = chat.say("do you accept paypal?").await;
    let text = answer["text"].as_str().expect("text");
    assert!(text.contains("PayPal") && text.contains("https://"), "{text}");
    let thanks = chat.ask("yes, thanks").await;
    assert!(thanks.contains("Great"), "{thanks}");
    let events = chat.check().await;
    let shown = of_type(&events, "article_shown");
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["language"], "en");
    let feedback = of_type(&events, "article_feedback");
    assert_eq!(feedback[0]["helped"], true);

    let (mut chat, _) = Chat::start(&app, json!({"language": "es"})).await;
    let text = chat.ask("¿cuánto cuesta el envío a casa?").await;
    assert!(text.contains("Más información"), "{text}");
    let events = chat.check().await;
    assert_eq!(of_type(&events, "article_shown")[0]["language"], "es");
}

#[tokio::test]
async fn a_fallback_streak_hands_over_before_a_third_dead_end() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    for (language, texts) in [
        ("en", ["qwzx vbnm", "purple monkey dishwasher", "zzzz"]),
        ("es", ["qwzx vbnm", "mono morado lavaplatos", "zzzz"]),
    ] {
        let (mut chat, _) = Chat::start(&app, json!({"language": language})).await;
        let first = chat.say(texts[0]).await;
        assert_eq!(first["type"], "bot_message");
        assert!(!first["suggestions"].as_array().expect("suggestions").is_empty());
        // The second dead end goes to a person instead of a second rephrase prompt.
        let second = chat.say(texts[1]).await;
        assert_eq!(second["type"], "system_note", "{second}");
        let memory = chat.memory().await;
        assert_eq!(memory["fallbacks"]["count"], 2);
        assert_eq!(memory["phase"], "waiting_for_agent");
        let reason = &memory["handoffs"][0]["reasons"][0];
        assert_eq!(reason["kind"], "repeated_fallback");
        assert_eq!(reason["evidence"].as_array().map(Vec::len), Some(2), "{reason}");
        // A third message meets no third dead end: the bot is silent while a person is awaited.
        app.post_message(&chat.id, &chat.token, texts[2], "third").await;
        chat.settle().await;
        let events = chat.check().await;
        assert_eq!(of_type(&events, "fallback").len(), 2, "never a third dead end");
        assert_eq!(
            of_type(&events, "bot_message").len(),
            2,
            "the greeting and one rephrase prompt"
        );
    }
}

#[tokio::test]
async fn the_bot_follows_a_customer_who_switches_language() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    let reply = chat.ask("Hola, quiero saber dónde está mi pedido por favor").await;
    assert!(reply.contains("correo"), "answers in Spanish: {reply}");
    chat.check().await;
}

#[tokio::test]
async fn a_reply_over_the_websocket_arrives_on_the_same_stream() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    let mut ws = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", chat.id), &chat.token)
        .await;
    ws_send(&mut ws, "what payment methods do you accept?", "ws-1").await;
    // The stream replays the greeting first; the answer is a bot message after the question.
    let mut types = Vec::new();
    let mut asked_at = None;
    loop {
        let frame = next_json(&mut ws).await;
        if frame["type"] != "event" {
            continue;
        }
        let (kind, seq) = (frame["event"]["type"].clone(), frame["event"]["seq"].as_u64());
        types.push(kind.as_str().expect("type").to_owned());
        if kind == "customer_message" {
            asked_at = seq;
        }
        if kind == "bot_message" && asked_at.is_some_and(|asked| seq > Some(asked)) {
            break;
        }
    }
    assert!(types.contains(&"customer_message".to_owned()));
    assert!(
        !types.contains(&"article_shown".to_owned()) && !types.contains(&"message_analyzed".to_owned()),
        "the customer's stream carries no internal records: {types:?}"
    );
    let events = chat.check().await;
    assert_eq!(
        of_type(&events, "article_shown").len(),
        1,
        "the agent's view has the record"
    );
}

#[tokio::test]
async fn asking_for_a_person_hands_the_conversation_over() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    let reply = chat.say("I want to talk to a human").await;
    assert_eq!(reply["type"], "system_note", "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .expect("text")
            .starts_with("I've passed your conversation to our"),
        "{reply}"
    );
    let mut phase = Value::Null;
    for _ in 0..100 {
        let conversation = app
            .get_json(&format!("/api/v1/conversations/{}", chat.id), Some(&chat.token))
            .await;
        phase = conversation["phase"].clone();
        if phase == "waiting_for_agent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(phase, "waiting_for_agent");
    // While a person is awaited, the bot stays silent; the package is brought up to date.
    let before = chat.events().await.len();
    app.post_message(&chat.id, &chat.token, "hello?", "after-handoff").await;
    chat.settle().await;
    let after = chat.events().await;
    let added: Vec<&str> = after[before..]
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect();
    // What the waiting customer wrote is understood (for the agent), never answered.
    assert_eq!(added, ["customer_message", "message_analyzed", "handoff_packaged"]);
    assert_eq!(after.last().map(|e| &e["version"]), Some(&json!(2)));
    chat.check().await;
}

#[tokio::test]
async fn the_bot_stays_silent_while_an_agent_owns_the_conversation() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    // The customer asks for a person and an agent accepts; what the customer writes next is
    // the agent's to answer.
    assert_eq!(app.request_handoff(&chat.id, &chat.token).await.status(), 200);
    let token = app.login(AGENT).await;
    let accepted = app
        .agent_post(&format!("/api/v1/conversations/{}/accept", chat.id), &token)
        .await;
    assert_eq!(accepted.status(), 200);
    app.post_message(&chat.id, &chat.token, "where is my order 54192", "to-the-agent")
        .await;
    chat.settle().await;
    let events = chat.events().await;
    assert_eq!(of_type(&events, "bot_message").len(), 1, "only the greeting");
    assert!(
        of_type(&events, "message_analyzed").is_empty(),
        "the agent's message is not the bot's"
    );
}

/// How the fake CRM on loopback misbehaves.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Answers after longer than the connector's timeout.
    Slow,
    ServerError,
    MalformedJson,
}

/// A CRM that misbehaves on every request, on a loopback port.
async fn faulty_crm(fault: Fault) -> String {
    let app = axum::Router::new().fallback(move || async move {
        use axum::response::IntoResponse;
        match fault {
            Fault::Slow => {
                tokio::time::sleep(Duration::from_millis(1_500)).await;
                (axum::http::StatusCode::NOT_FOUND, "").into_response()
            }
            Fault::ServerError => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
            Fault::MalformedJson => (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "{\"id\": \"c-1001\", \"name\": ",
            )
                .into_response(),
        }
    });
    serve_on_loopback(app).await
}

/// A loopback address where nothing listens.
async fn refused_address() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Demo orders and tickets; the CRM over HTTP at `base_url`, with these connector settings
/// (`timeout_ms = ...` lines).
fn crm_over_http(base_url: &str, settings: &str) -> Connectors {
    let config: baton_connectors::ConnectorsConfig = toml::from_str(&format!(
        "[crm]\nkind = \"http\"\nbase_url = \"{base_url}\"\n{settings}"
    ))
    .expect("connector config");
    let crm = Connectors::from_config_with_env(&config, &|_| None).expect("connectors");
    let (demo, _) = demo_connectors();
    Connectors {
        customers: crm.customers,
        ..demo
    }
}

/// Fails fast: a short timeout and one retry.
fn http_crm(base_url: &str) -> Connectors {
    crm_over_http(base_url, "timeout_ms = 300\nretries = 1\nbackoff_ms = 10\n")
}

/// Waits as long as the shop takes (up to 10 s), no retry.
pub fn patient_crm(base_url: &str) -> Connectors {
    crm_over_http(base_url, "timeout_ms = 10000\nretries = 0\n")
}

/// Serves `app` on a loopback port; its base URL.
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn each_connector_fault_is_said_to_the_customer_and_recorded() {
    let cases = [
        ("slow", faulty_crm(Fault::Slow).await, "en"),
        ("500", faulty_crm(Fault::ServerError).await, "es"),
        ("malformed", faulty_crm(Fault::MalformedJson).await, "en"),
        ("refused", refused_address().await, "es"),
    ];
    for (name, url, language) in cases {
        let app = bot_app(http_crm(&url)).await;
        let (mut chat, _) = Chat::start(
            &app,
            json!({"language": language, "customer": {"email": "sarah.chen@example.com"}}),
        )
        .await;
        let question = if language == "en" {
            "where is my order 54192"
        } else {
            "¿dónde está mi pedido 54192?"
        };
        let reply = chat.ask(question).await;
        let expected = if language == "en" {
            "couldn't check your identity"
        } else {
            "No he podido comprobar tu identidad"
        };
        assert!(reply.contains(expected), "{name}: {reply}");
        let events = chat.check().await;
        let action = of_type(&events, "action_recorded")[0].clone();
        assert_eq!(action["action"], "verify_identity", "{name}");
        assert_eq!(action["outcome"], "error", "{name}");
        assert!(
            action["summary"].as_str().expect("summary").contains("crm"),
            "{name}: {action}"
        );
        // The conversation goes on: the next message is answered.
        let next = chat.ask(if language == "en" { "thanks" } else { "gracias" }).await;
        let welcome = if language == "en" {
            "You're welcome"
        } else {
            "¡De nada"
        };
        assert!(next.starts_with(welcome), "{name}: {next}");
    }
}

/// A CRM that holds every request until the test releases it; `arrived` fires when one
/// comes in. Released requests answer 404 (no such customer).
pub async fn gated_crm() -> (String, Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
    let arrived = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (a, r) = (arrived.clone(), release.clone());
    let app = axum::Router::new().fallback(move || {
        let (a, r) = (a.clone(), r.clone());
        async move {
            a.notify_one();
            r.notified().await;
            axum::http::StatusCode::NOT_FOUND
        }
    });
    (serve_on_loopback(app).await, arrived, release)
}

#[tokio::test]
async fn a_connector_stuck_in_one_conversation_delays_no_other() {
    let (url, arrived, release) = gated_crm().await;
    let app = bot_app(patient_crm(&url)).await;
    let (stuck, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    app.post_message(&stuck.id, &stuck.token, "where is my order 54192", "stuck-1")
        .await;
    arrived.notified().await;
    // That conversation's turn now waits on the CRM; another one is served meanwhile.
    let (mut other, _) = Chat::start(&app, json!({"language": "en"})).await;
    other.ask("do you take paypal").await;
    let stuck_events = stuck.events().await;
    assert_eq!(
        of_type(&stuck_events, "bot_message").len(),
        1,
        "still waiting: only the greeting"
    );
    release.notify_one();
    let mut stuck = stuck;
    stuck.bot_reply_after(4).await;
    stuck.check().await;
}

/// A message stored while the bot's turn waits on a connector puts the turn's records after it
/// in the log: both messages are answered, in order, and the worker's memory is still the
/// log's (it reads the conversation again rather than keep what the turn numbered).
#[tokio::test]
async fn a_message_sent_while_the_bot_waits_is_answered_next_and_memory_stays_the_logs() {
    let (url, arrived, release) = gated_crm().await;
    let app = bot_app(patient_crm(&url)).await;
    let (chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    app.post_message(&chat.id, &chat.token, "where is my order 54192", "wait-1")
        .await;
    arrived.notified().await;
    app.post_message(&chat.id, &chat.token, "thanks!", "wait-2").await;
    release.notify_one();
    let mut replies = 0;
    for _ in 0..200 {
        replies = of_type(&chat.events().await, "bot_message").len();
        if replies >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(replies, 3, "the greeting and one reply to each message");
    let events = chat.check().await;
    let seq_of = |id: &str| {
        events
            .iter()
            .find(|e| e["client_message_id"] == id)
            .and_then(|e| e["seq"].as_u64())
            .unwrap_or_else(|| panic!("no event {id}"))
    };
    assert!(
        seq_of("wait-2") < seq_of(&format!("bot:{}", seq_of("wait-1"))),
        "the second message was stored inside the first turn"
    );
    assert!(seq_of(&format!("bot:{}", seq_of("wait-1"))) < seq_of(&format!("bot:{}", seq_of("wait-2"))));
}

#[tokio::test]
async fn a_reply_computed_while_an_agent_took_over_is_refused_and_the_facts_kept() {
    let (url, arrived, release) = gated_crm().await;
    let app = bot_app(patient_crm(&url)).await;
    let (chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    app.post_message(&chat.id, &chat.token, "where is my order 54192", "race-1")
        .await;
    arrived.notified().await;
    // The bot is inside its turn, waiting on the CRM. A person takes over.
    assert_eq!(app.request_handoff(&chat.id, &chat.token).await.status(), 200);
    let token = app.login(AGENT).await;
    let accepted = app
        .agent_post(&format!("/api/v1/conversations/{}/accept", chat.id), &token)
        .await;
    assert_eq!(accepted.status(), 200);
    release.notify_one();
    let mut recorded = false;
    for _ in 0..200 {
        let events = chat.events().await;
        if !of_type(&events, "action_recorded").is_empty() {
            recorded = true;
            assert_eq!(of_type(&events, "bot_message").len(), 1, "only the greeting was posted");
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        recorded,
        "the action the bot ran is recorded even though its reply was refused"
    );
}

#[tokio::test]
async fn a_verified_customer_cannot_change_another_customers_order() {
    let (connectors, orders) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, signed_in("en", "marcus.webb@example.com")).await;
    chat.ask("where is my order 54233").await;
    // Order 54250 is Javier's. A mistyped (or someone else's) number is not a dead end that
    // calls a person, even for a VIP: the bot asks to check it, and a "yes" changes nothing.
    let refused = chat.ask("I want to cancel order 54250").await;
    assert!(refused.contains("can't find order #54250 on your account"), "{refused}");
    chat.settle().await;
    assert_eq!(
        chat.memory().await["handoffs"],
        json!([]),
        "the refusal stays with the bot"
    );
    let again = chat.say("yes").await;
    assert!(!again["text"].as_str().expect("text").contains("cancelled"), "{again}");
    assert_eq!(orders.cancellations(), 0);
    assert_eq!(orders.snapshot("54250").map(|o| o.status), demo_status("54250"));
    chat.check().await;
}

fn demo_status(number: &str) -> Option<baton_connectors::OrderStatus> {
    baton_connectors::demo_orders()
        .into_iter()
        .find(|o| o.number == number)
        .map(|o| o.status)
}

#[tokio::test]
async fn a_question_at_a_confirmation_is_not_consent() {
    let (connectors, orders) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, signed_in("es", "javier.morales@example.es")).await;
    let confirm = chat.ask("quiero cancelar el pedido 54250").await;
    assert!(confirm.contains("¿cancelo el pedido #54250"), "{confirm}");
    chat.ask("¿si lo cancelo me devolvéis el dinero?").await;
    assert_eq!(orders.cancellations(), 0, "a question is not a yes");
    chat.check().await;
}

#[tokio::test]
async fn client_message_ids_in_the_bots_namespace_are_refused() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    let response = app.post_message(&chat.id, &chat.token, "hello", "bot:3").await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["field"], "client_message_id");
}

#[tokio::test]
async fn spanish_order_status_after_a_failed_then_successful_verification() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, signed_in("es", "carmen.ruiz@example.es")).await;
    let refused = chat.ask("¿dónde está mi pedido 54192?").await;
    assert!(
        refused.contains("no coincide"),
        "Sarah's order is not Carmen's: {refused}"
    );
    // The phone's digits after a wrong order number: the latest proof is the one checked.
    let answer = chat.ask("termina en 3987").await;
    assert!(answer.contains("ya te he verificado"), "{answer}");
    let status = chat.ask("¿y dónde está mi pedido 54177?").await;
    assert!(status.contains("#54177") && status.contains("retrasado"), "{status}");
    chat.check().await;
}

/// The demo's connectors with the help desk at hand, to see the tickets opened.
fn connectors_with_desk() -> (Connectors, Arc<baton_connectors::DemoTicketing>) {
    let desk = Arc::new(baton_connectors::DemoTicketing::new());
    let (demo, _) = demo_connectors();
    (
        Connectors {
            tickets: desk.clone(),
            ..demo
        },
        desk,
    )
}

/// A damaged item becomes a claim in the help desk, in English and in Spanish: the proof given
/// (an order number, or the phone's digits) is never asked again, the claim carries the
/// customer's own words, the account's address and the conversation, and the ticket is in
/// memory for the agent.
#[tokio::test]
async fn a_damaged_item_opens_a_claim_in_the_help_desk() {
    for (language, email, turns, expected) in [
        (
            "en",
            "sarah.chen@example.com",
            vec![
                ("my parcel arrived damaged", "order number"),
                ("54192", "what's wrong"),
                ("the left sleeve of the blue jacket is torn", "open a claim for order #54192"),
                ("yes", "claim T-1001"),
            ],
            "Done: claim T-1001 is open for order #54192. Our team will reply by email to sarah.chen@example.com within one working day.",
        ),
        (
            "es",
            "carmen.ruiz@example.es",
            vec![
                ("el paquete me llegó roto", "teléfono"),
                // Carmen has one order: the order system names it, nobody asks.
                ("3987", "qué le pasa"),
                ("la caja venía aplastada y el jarrón está partido", "reclamación del pedido #54177"),
                ("sí", "T-1001"),
            ],
            "Hecho: la reclamación T-1001 está abierta para el pedido #54177. Nuestro equipo te responderá por correo a carmen.ruiz@example.es en un día laborable.",
        ),
    ] {
        let (connectors, desk) = connectors_with_desk();
        let app = bot_app(connectors).await;
        let (mut chat, _) = Chat::start(&app, signed_in(language, email)).await;
        let mut last = String::new();
        for (said, answer_has) in turns {
            last = chat.ask(said).await;
            assert!(
                last.to_lowercase().contains(&answer_has.to_lowercase()),
                "{language}: after {said:?}: {last}"
            );
        }
        assert_eq!(last, expected);
        assert_eq!(desk.tickets_created(), 1);
        let ticket = desk.stored("T-1001").expect("the claim");
        assert_eq!(ticket.request.customer_email.as_deref(), Some(email));
        assert_eq!(ticket.request.conversation_id, chat.id);
        let described = if language == "en" { "sleeve" } else { "jarrón" };
        assert!(ticket.request.body.contains(described), "{}", ticket.request.body);
        assert!(ticket.request.subject.starts_with("Order "), "{}", ticket.request.subject);
        let memory = chat.memory().await;
        assert_eq!(memory["ticket"]["id"], "T-1001", "{}", memory["ticket"]);
        let order_from = &memory["slots"]["order_number"]["source"];
        if language == "es" {
            assert_eq!(order_from["from"], "connector", "{order_from}");
            assert_eq!(order_from["action"], "recent_orders", "{order_from}");
        } else {
            assert_eq!(order_from["from"], "message", "Sarah named it: {order_from}");
        }
        assert_eq!(memory["ticket"]["status"], "open");
        let events = chat.check().await;
        let created: Vec<_> = of_type(&events, "action_recorded")
            .into_iter()
            .filter(|a| a["action"] == "create_ticket")
            .collect();
        assert_eq!(created.len(), 1);
        assert!(created[0]["idempotency_key"].as_str().is_some_and(|k| k.contains("create_ticket")));
    }
}

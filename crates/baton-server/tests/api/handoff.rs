//! The context-first handoff through the public API: the seed case end to end, the handoff
//! going through while the CRM hangs, requests for a person in words and with the button,
//! package versions, and secrets hidden from every place they could travel or be stored.

use crate::bot::{bot_app, demo_connectors, gated_crm, of_type, patient_crm, signed_in, Chat};
use crate::common::{next_json, ws_send, TestApp};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The conversation's handoffs, as an agent lists them.
async fn handoffs(chat: &Chat<'_>, app: &crate::common::TestApp) -> Vec<Value> {
    app.get_json(
        &format!("/api/v1/conversations/{}/handoffs", chat.id),
        Some(&chat.agent),
    )
    .await
    .as_array()
    .expect("a list")
    .clone()
}

/// Waits until the handoff's package version `version` is recorded; the handoff view.
async fn package(app: &crate::common::TestApp, chat: &Chat<'_>, version: u32) -> Value {
    for _ in 0..200 {
        if let Some(handoff) = handoffs(chat, app).await.last() {
            if handoff["package_versions"].as_u64() >= Some(u64::from(version)) {
                let id = handoff["handoff_id"].as_str().expect("id");
                return app
                    .get_json(&format!("/api/v1/handoffs/{id}?version={version}"), Some(&chat.agent))
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no package version {version} within 4 s");
}

async fn validate(app: &crate::common::TestApp, package: &Value) {
    let response = app
        .http
        .get(app.url("/api/v1/schemas/context-package.json"))
        .send()
        .await
        .expect("schema");
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/schema+json")
    );
    let schema: Value = response.json().await.expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the served schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(package)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        problems.is_empty(),
        "the package does not match the published schema: {problems:?}"
    );
}

fn lines(view: &Value, language: &str) -> Vec<String> {
    view["package"]["conversation"]["brief"]
        .as_array()
        .expect("briefs")
        .iter()
        .find(|b| b["language"] == language)
        .and_then(|b| b["lines"].as_array())
        .expect("a brief in that language")
        .iter()
        .map(|l| l.as_str().expect("line").to_owned())
        .collect()
}

#[tokio::test]
async fn the_seed_case_reaches_the_agent_as_one_package() {
    let (mut connectors, _) = demo_connectors();
    // Sarah wrote to the help desk about it last week.
    let desk = std::sync::Arc::new(baton_connectors::DemoTicketing::new());
    let earlier = baton_connectors::NewTicket {
        subject: "Charged twice?".into(),
        body: "I think I was charged twice.".into(),
        customer_email: Some("sarah.chen@example.com".into()),
        priority: baton_connectors::TicketPriority::Normal,
        conversation_id: "earlier".into(),
    };
    baton_connectors::Ticketing::create_ticket(&*desk, earlier, "earlier-1")
        .await
        .expect("ticket");
    connectors.tickets = desk;
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(
        &app,
        json!({"language": "en", "customer": {"name": "Sarah", "email": "sarah.chen@example.com"}}),
    )
    .await;
    chat.ask("I was charged twice for order 54192, this is ridiculous")
        .await;
    let failed = chat.say("yes").await;
    assert_eq!(failed["type"], "bot_message");
    assert!(
        failed["text"].as_str().expect("text").contains("could not complete it"),
        "{failed}"
    );
    let view = package(&app, &chat, 1).await;
    validate(&app, &view["package"]).await;

    // The customer is told what was passed on, and sees nothing internal.
    let shown = chat.customer_events().await;
    let note = of_type(&shown, "system_note").pop().expect("the acknowledgment");
    assert_eq!(
        note["text"],
        "I've passed your conversation, order #54192 and your account details to our billing team, so you won't need to repeat anything. Someone will be with you shortly."
    );
    assert!(of_type(&shown, "handoff_packaged").is_empty());
    // The handoff itself without its internal triage (reasons name action outcomes, tiers).
    let requested = of_type(&shown, "handoff_requested").pop().expect("handoff_requested");
    assert!(requested.get("reasons").is_none(), "{requested}");
    assert_eq!(requested["priority"], "normal");

    // The agent gets one object: who, what, what was tried, why, where.
    assert_eq!(view["priority"], "high");
    assert_eq!(view["reasons"][0]["kind"], "failed_action");
    let evidence = view["reasons"][0]["evidence"].as_array().expect("evidence");
    let yes_seq = of_type(&chat.events().await, "customer_message")
        .last()
        .and_then(|m| m["seq"].as_u64())
        .expect("seq");
    assert_eq!(evidence[0].as_u64(), Some(yes_seq), "the message that led to it");
    let package = &view["package"];
    assert_eq!(package["identity"]["name"], "Sarah Chen");
    assert_eq!(package["identity"]["auth"]["state"], "verified");
    assert_eq!(package["identity"]["orders"][0]["number"], "54192");
    assert_eq!(package["identity"]["orders"][0]["relevance"], "named");
    assert_eq!(package["identity"]["open_tickets"][0]["subject"], "Charged twice?");
    assert_eq!(package["identity"]["open_tickets"][0]["status"], "open");
    assert_eq!(package["routing"]["queue"], "billing");
    assert_eq!(package["action"]["next_best_action"]["code"], "refund_manually");
    assert_eq!(package["degraded"], json!([]));
    let english = lines(&view, "en");
    assert_eq!(english[0], "Intent: refund for duplicate charge");
    assert!(
        english[1].starts_with("Captured: order #54192, email verified, paid Mar 3"),
        "{english:?}"
    );
    assert!(english[2].starts_with("Sentiment: frustrated"), "{english:?}");
    assert!(english[3].ends_with("refund workflow (failed)"), "{english:?}");
    assert_eq!(english[4], "Next: confirm eligibility and refund manually");
    assert_eq!(lines(&view, "es")[0], "Intención: reembolso por cobro duplicado");
    assert_eq!(
        view["suggested_opener"],
        "Hi Sarah, I'm Nina from billing. I can see the duplicate charge on order #54192 and that the automatic refund did not go through. Shall I refund the second charge to your original card?"
    );
    chat.check().await;
}

/// The demo customer directory until `hang` is set; then no call ever answers.
struct HangingCrm {
    inner: baton_connectors::DemoCustomers,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HangingCrm {
    async fn maybe_hang(&self) {
        if self.hang.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait::async_trait]
impl baton_connectors::CustomerDirectory for HangingCrm {
    async fn find_by_email(
        &self,
        email: &str,
    ) -> Result<Option<baton_connectors::Customer>, baton_connectors::ConnectorError> {
        self.maybe_hang().await;
        self.inner.find_by_email(email).await
    }
    async fn customer(&self, id: &str) -> Result<Option<baton_connectors::Customer>, baton_connectors::ConnectorError> {
        self.maybe_hang().await;
        self.inner.customer(id).await
    }
}

#[tokio::test]
async fn the_handoff_goes_through_within_its_budget_while_the_crm_hangs() {
    let (mut connectors, _) = demo_connectors();
    let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    connectors.customers = std::sync::Arc::new(HangingCrm {
        inner: baton_connectors::DemoCustomers::new(),
        hang: hang.clone(),
    });
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    // Sarah proves who she is while the CRM answers...
    chat.ask("where is my order 54192").await;
    assert_eq!(chat.memory().await["auth"]["state"], "verified");
    // ... then it hangs, and she asks for a person.
    hang.store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    assert_eq!(app.request_handoff(&chat.id, &chat.token).await.status(), 200);
    let view = package(&app, &chat, 1).await;
    let took = started.elapsed();
    // The budget is 300 ms; the CRM would never have answered.
    assert!(took < Duration::from_secs(3), "the handoff waited {took:?}");
    validate(&app, &view["package"]).await;
    let degraded = &view["package"]["degraded"];
    assert_eq!(degraded[0]["source"], "crm", "{degraded}");
    assert!(
        degraded[0]["problem"].as_str().expect("problem").contains("300 ms"),
        "{degraded}"
    );
    assert!(degraded[0]["missing"]
        .as_array()
        .expect("missing")
        .contains(&json!("tier")));
    // What memory holds still travels: who she is (from her verification) and her order.
    let identity = &view["package"]["identity"];
    assert_eq!(identity["name"], "Sarah Chen", "{identity}");
    assert_eq!(identity["auth"]["state"], "verified");
    assert_eq!(identity["orders"][0]["number"], "54192", "the order system answered");
    assert_eq!(view["reasons"][0]["kind"], "explicit");
    let shown = chat.customer_events().await;
    assert_eq!(of_type(&shown, "system_note").len(), 1, "the customer was told");
}

#[tokio::test]
async fn asking_for_a_person_in_spanish_is_acknowledged_in_spanish() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "es"})).await;
    let note = chat.say("¡quiero hablar con una persona YA!").await;
    assert_eq!(note["type"], "system_note");
    assert!(
        note["text"]
            .as_str()
            .expect("text")
            .starts_with("He pasado tu conversación a nuestro equipo de"),
        "{note}"
    );
    let view = package(&app, &chat, 1).await;
    assert_eq!(view["reasons"][0]["kind"], "explicit");
    let asked = of_type(&chat.events().await, "customer_message")[0]["seq"].clone();
    assert_eq!(view["reasons"][0]["evidence"], json!([asked]), "the message that asked");
    assert!(view["suggested_opener"]
        .as_str()
        .expect("opener")
        .starts_with("Hola, soy Nina"));
    chat.check().await;
}

#[tokio::test]
async fn a_negated_request_stays_with_the_bot() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    for (language, text) in [
        ("en", "no need for a human, just tell me where my order is"),
        ("es", "no necesito un agente, solo dime dónde está mi pedido"),
    ] {
        let (mut chat, _) = Chat::start(&app, json!({"language": language})).await;
        let reply = chat.say(text).await;
        assert_eq!(reply["type"], "bot_message", "{text}: {reply}");
        chat.settle().await;
        assert!(handoffs(&chat, &app).await.is_empty(), "{text}");
        chat.check().await;
    }
}

#[tokio::test]
async fn each_package_version_can_be_shown_again_exactly() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    app.request_handoff(&chat.id, &chat.token).await;
    let first = package(&app, &chat, 1).await;
    app.post_message(&chat.id, &chat.token, "it's about order 54192", "later")
        .await;
    let second = package(&app, &chat, 2).await;
    assert_eq!(second["package"]["package_version"], 2);
    let transcript = second["package"]["conversation"]["transcript"]
        .as_array()
        .expect("transcript");
    assert_eq!(
        transcript.last().map(|l| &l["text"]),
        Some(&json!("it's about order 54192"))
    );
    // Version 1 is what an agent saw then, byte for byte.
    let id = first["handoff_id"].as_str().expect("id");
    let again = app
        .get_json(&format!("/api/v1/handoffs/{id}?version=1"), Some(&chat.agent))
        .await;
    assert_eq!(again["package"], first["package"]);
    let newest = app.get_json(&format!("/api/v1/handoffs/{id}"), Some(&chat.agent)).await;
    assert_eq!(newest["package_version"], 2);
    let missing = app
        .http
        .get(app.url(&format!("/api/v1/handoffs/{id}?version=9")))
        .bearer_auth(&chat.agent)
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    for bad in ["nope", "123", &format!("{}.0", chat.id), &format!("{}.1", chat.id)] {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/handoffs/{bad}")))
            .bearer_auth(&chat.agent)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 404, "{bad}");
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["status"], 404);
    }
    // Only one acknowledgment, for the first version.
    assert_eq!(of_type(&chat.customer_events().await, "system_note").len(), 1);
}

#[tokio::test]
async fn secrets_are_hidden_from_the_log_the_package_memory_responses_and_streams() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let (chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    let mut agent_stream = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", chat.id), &chat.agent)
        .await;
    let mut customer_stream = app
        .connect_ws(&format!("/api/v1/conversations/{}/ws", chat.id), &chat.token)
        .await;
    let stored = app
        .post_message(
            &chat.id,
            &chat.token,
            "my card 4111 1111 1111 1111 cvv 123 keeps failing",
            "s1",
        )
        .await;
    assert_eq!(stored.status(), 201);
    let stored: Value = stored.json().await.expect("json");
    assert_eq!(
        stored["text"],
        "my card [hidden card number] cvv [hidden security code] keeps failing"
    );
    assert_eq!(stored["hidden"], json!(["card_number", "security_code"]));
    ws_send(
        &mut customer_stream,
        "my IBAN is ES91 2100 0418 4502 0005 1332 and password: Zebra-Quartz9",
        "s2",
    )
    .await;
    // The bot may be idle before the server has read the frame: wait for the stream's
    // acknowledgment first, keeping what it carried for the stream check below.
    let mut customer_seen = String::new();
    loop {
        let frame = next_json(&mut customer_stream).await;
        customer_seen.push_str(&frame.to_string());
        if frame["type"] == "ack" && frame["client_message_id"] == "s2" {
            break;
        }
    }
    chat.settle().await;
    app.request_handoff(&chat.id, &chat.token).await;
    let view = package(&app, &chat, 1).await;

    let secrets = [
        "4111 1111 1111 1111",
        "4111111111111111",
        "cvv 123",
        "ES91 2100",
        "ES9121000418450200051332",
        "Zebra-Quartz9",
    ];
    let check = |place: &str, text: &str| {
        for secret in secrets {
            assert!(!text.contains(secret), "{place} holds `{secret}`: {text}");
        }
    };
    check(
        "the agent's events",
        &serde_json::to_string(&chat.events().await).expect("json"),
    );
    check(
        "the customer's events",
        &serde_json::to_string(&chat.customer_events().await).expect("json"),
    );
    check("memory", &chat.memory().await.to_string());
    check("the package", &view.to_string());
    let given = view["package"]["conversation"]["secrets_given"]
        .as_array()
        .expect("secrets_given");
    let kinds: Vec<&str> = given.iter().map(|g| g["kind"].as_str().expect("kind")).collect();
    assert_eq!(kinds, ["card_number", "security_code", "iban", "password"]);
    assert!(
        lines(&view, "en")[1].contains("card number given (hidden)"),
        "{:?}",
        lines(&view, "en")
    );
    // Both streams carried the messages, masked.
    for (name, stream) in [
        ("agent stream", &mut agent_stream),
        ("customer stream", &mut customer_stream),
    ] {
        let mut seen = if name == "customer stream" {
            std::mem::take(&mut customer_seen)
        } else {
            String::new()
        };
        while let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), next_json(stream)).await {
            seen.push_str(&frame.to_string());
        }
        assert!(
            seen.contains("[hidden card number]") && seen.contains("[hidden IBAN]"),
            "{name}: {seen}"
        );
        check(name, &seen);
    }
    // And the database never held them.
    let stored = app.stored_data().await;
    assert!(!stored.is_empty());
    for (what, bytes) in stored {
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{what} holds `{secret}`"
            );
        }
    }
}

#[tokio::test]
async fn a_handoff_left_without_its_package_is_packaged_at_the_next_start() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let chat = unpackaged_handoff(&app).await;
    // What `baton serve` does at start.
    let bot = app.bot.as_ref().expect("bot");
    assert_eq!(bot.recover().await.expect("recover"), 1);
    let view = package(&app, &chat, 1).await;
    assert_eq!(view["package_version"], 1);
    assert_eq!(
        of_type(&chat.customer_events().await, "system_note").len(),
        1,
        "acknowledged once"
    );
    // Nothing is left to pick up.
    chat.settle().await;
    assert_eq!(bot.recover().await.expect("recover"), 0);
}

/// A handoff stored while nobody told the bot (its instance died at once): no package yet.
async fn unpackaged_handoff(app: &TestApp) -> Chat<'_> {
    let (chat, _) = Chat::start(app, signed_in("en", "sarah.chen@example.com")).await;
    let id = baton_domain::ConversationId(chat.id.parse().expect("uuid"));
    app.store
        .execute(
            id,
            baton_domain::Command::RequestHandoff {
                requested_by: baton_domain::HandoffRequester::Customer,
                escalation: baton_domain::Escalation::default(),
            },
            baton_server::now(),
        )
        .await
        .expect("handoff stored");
    chat.settle().await;
    assert_eq!(handoffs(&chat, app).await[0]["package_versions"], 0);
    chat
}

/// While the server runs, the sweep that takes over unfinished work packages a handoff whose
/// instance died before packaging it, once.
#[tokio::test]
async fn a_handoff_left_without_its_package_is_packaged_by_the_sweep() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    let chat = unpackaged_handoff(&app).await;
    let bot = app.bot.as_ref().expect("bot");
    assert_eq!(
        bot.take_over_stale(Duration::from_secs(3600)).await.expect("sweep"),
        0,
        "not stale yet"
    );
    assert_eq!(bot.take_over_stale(Duration::ZERO).await.expect("sweep"), 1);
    let view = package(&app, &chat, 1).await;
    assert_eq!(view["package_version"], 1);
    chat.settle().await;
    assert_eq!(
        bot.take_over_stale(Duration::ZERO).await.expect("sweep"),
        0,
        "packaged: nothing left"
    );
    assert_eq!(
        of_type(&chat.customer_events().await, "system_note").len(),
        1,
        "acknowledged once"
    );
}

#[tokio::test]
async fn the_handoff_button_does_not_wait_for_a_turn_stuck_on_a_connector() {
    let (url, arrived, release) = gated_crm().await;
    let app = bot_app(patient_crm(&url)).await;
    let (chat, _) = Chat::start(&app, signed_in("en", "sarah.chen@example.com")).await;
    // The bot's turn waits on the CRM (it holds every request)...
    app.post_message(&chat.id, &chat.token, "where is my order 54192", "stuck")
        .await;
    arrived.notified().await;
    // ... when the customer asks for a person: the package and the acknowledgment come anyway.
    let started = Instant::now();
    assert_eq!(app.request_handoff(&chat.id, &chat.token).await.status(), 200);
    let view = package(&app, &chat, 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    assert!(!app.bot.as_ref().expect("bot").is_idle(), "the turn is still stuck");
    assert_eq!(view["reasons"][0]["kind"], "explicit");
    assert_eq!(of_type(&chat.customer_events().await, "system_note").len(), 1);
    release.notify_waiters();
    chat.settle().await;
    // Packaged once, whoever got there first.
    let packaged = of_type(&chat.events().await, "handoff_packaged").len();
    assert_eq!(packaged, 1);
}

/// A customer who gave their email but not yet the proof is `claimed`: the package says the
/// address they gave belongs to an account, and opens nothing of it (no id, name, tier or
/// orders: an unproven claim is described by what the customer said, not by the CRM).
#[tokio::test]
async fn a_handoff_during_verification_names_the_claimed_account_and_opens_nothing() {
    let (connectors, _) = demo_connectors();
    let app = bot_app(connectors).await;
    // The site passes an id of its own; the package keeps it, as what the customer's side said.
    let (mut chat, _) = Chat::start(&app, json!({"language": "en", "customer": {"external_id": "web-7"}})).await;
    let asked = chat.ask("where is my order?").await;
    assert!(asked.contains("email"), "{asked}");
    let asked = chat.ask("sarah.chen@example.com").await;
    assert!(asked.contains("order number") || asked.contains("four"), "{asked}");
    let memory = chat.memory().await;
    assert_eq!(memory["auth"], json!({"state": "claimed", "customer_id": "c-1001"}));
    assert!(memory["customer"].is_null(), "{}", memory["customer"]);
    chat.ask("I want to talk to a human").await;
    let view = package(&app, &chat, 1).await;
    validate(&app, &view["package"]).await;
    let identity = &view["package"]["identity"];
    assert_eq!(identity["auth"]["state"], "claimed", "{identity}");
    assert_eq!(identity["email"], "sarah.chen@example.com", "{identity}");
    assert_eq!(identity["customer_id"], "web-7", "not the CRM's c-1001: {identity}");
    assert!(identity["name"].is_null() && identity["tier"].is_null(), "{identity}");
    assert!(identity["orders"].as_array().is_none_or(Vec::is_empty), "{identity}");
    // The acknowledgment claims no account details were passed on: none were, and saying so
    // would tell whoever typed the address that it has an account.
    let shown = chat.customer_events().await;
    let note = of_type(&shown, "system_note").pop().expect("the acknowledgment");
    assert!(!note["text"].as_str().unwrap_or_default().contains("account"), "{note}");
    chat.check().await;
}

//! Routing through the public API: who is offered a waiting customer (language, skills,
//! priority, capacity, presence), offers that time out, are declined or withdrawn, accepts that
//! race, tickets when nobody can come, transfers, hand-backs, and what the customer is told
//! while waiting, in English and Spanish.

use crate::bot::{demo_connectors, of_type, Chat, AGENT};
use crate::common::{next_json, TestApp, Ws};
use baton_connectors::demo::DemoTicketing;
use baton_routing::config::{AgentEntry, HoursEntry};
use baton_routing::{AfterHours, RoutingConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// An agent's routing profile: email, skills, languages, capacity.
type Profile = (&'static str, &'static [&'static str], &'static [&'static str], u32);

/// Serves every queue in both languages, so the configuration checks; never logs in.
const BACKUP: Profile = (
    "backup@example.com",
    &[
        "compliance",
        "fraud",
        "vip",
        "billing",
        "refunds",
        "orders",
        "shipping",
        "general",
    ],
    &["en", "es"],
    1,
);

fn entry((email, skills, languages, capacity): Profile) -> AgentEntry {
    AgentEntry {
        email: email.into(),
        skills: skills.iter().map(|s| s.to_string()).collect(),
        languages: languages.iter().map(|s| s.to_string()).collect(),
        capacity,
        team: None,
    }
}

/// Quick timers, quiet narration unless a test asks, `agents` as profiled.
fn quick(routing: &mut RoutingConfig, agents: &[Profile]) {
    routing.offer_timeout_seconds = 30;
    routing.presence_grace_seconds = 1;
    routing.progress_every_seconds = 3600;
    routing.callback_after_seconds = 3600;
    routing.nobody_eligible_after_seconds = 3600;
    routing.queues.clear();
    routing.hours.clear();
    routing.agents = agents.iter().copied().chain([BACKUP]).map(entry).collect();
}

/// An app with routing and agents named after their profile's email.
async fn routing_app(agents: &[Profile], change: impl FnOnce(&mut RoutingConfig)) -> (TestApp, Arc<DemoTicketing>) {
    let tickets = Arc::new(DemoTicketing::new());
    let mut builder = TestApp::builder();
    for (email, ..) in agents {
        builder = builder.with_agent(email, display_name(email));
    }
    let owned: Vec<Profile> = agents.to_vec();
    let app = builder
        .with_routing(tickets.clone(), move |r| {
            quick(r, &owned);
            change(r);
        })
        .start()
        .await;
    (app, tickets)
}

fn display_name(email: &str) -> &'static str {
    match email.split('@').next() {
        Some("nina") => "Nina",
        Some("omar") => "Omar",
        Some("lucia") => "Lucía",
        Some("pablo") => "Pablo",
        Some("sam") => "Sam",
        _ => "Agent",
    }
}

/// Logs in and opens the agent's stream (which brings them online); the snapshot frames are
/// read.
async fn online(app: &TestApp, email: &str) -> (String, Ws) {
    let token = app.login(email).await;
    let mut ws = app.connect_ws("/api/v1/agents/ws", &token).await;
    assert_eq!(next_json(&mut ws).await["type"], "queue");
    assert_eq!(next_json(&mut ws).await["type"], "conversations");
    // The stream registers the agent before its first frame; presence is online now.
    (token, ws)
}

/// The next frame of `kind`, skipping others; `None` after `wait`.
async fn frame_of(ws: &mut Ws, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, next_json(ws)).await {
            Ok(frame) if frame["type"] == kind => return Some(frame),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

async fn offer(ws: &mut Ws) -> Value {
    frame_of(ws, "offer", Duration::from_secs(5))
        .await
        .expect("an offer within 5 s")
}

async fn no_offer(ws: &mut Ws, wait_ms: u64) {
    if let Some(frame) = frame_of(ws, "offer", Duration::from_millis(wait_ms)).await {
        panic!("unexpected offer: {frame}");
    }
}

/// A customer in `language` (with or without an email) who pressed the handoff button.
async fn waiting(app: &TestApp, language: &str, email: Option<&str>) -> (String, String) {
    let mut body = json!({"language": language});
    if let Some(email) = email {
        body["customer"] = json!({"email": email});
    }
    let created: Value = app
        .http
        .post(app.url("/api/v1/conversations"))
        .json(&body)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["conversation_id"].as_str().expect("id").to_owned();
    let token = created["customer_token"].as_str().expect("token").to_owned();
    assert_eq!(app.request_handoff(&id, &token).await.status(), 200);
    (id, token)
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post")
}

async fn accept(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    app.agent_post(&format!("/api/v1/conversations/{id}/accept"), token)
        .await
}

/// Polls the log (as `token` sees it) until `found` holds, for up to 5 s.
async fn until(app: &TestApp, id: &str, token: &str, found: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..250 {
        let events = app.events(id, token, 0).await;
        if found(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the log of {id} never showed what the test waits for: {:#}",
        json!(app.events(id, token, 0).await)
    );
}

fn notes(events: &[Value]) -> Vec<String> {
    of_type(events, "system_note")
        .iter()
        .map(|e| e["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn never_twice_in_a_row(lines: &[String]) {
    for pair in lines.windows(2) {
        assert_ne!(pair[0], pair[1], "the same line twice in a row: {lines:?}");
    }
}

const LUCIA: Profile = ("lucia@example.com", &["general", "billing", "refunds"], &["es"], 2);
const OMAR: Profile = ("omar@example.com", &["general", "orders"], &["en"], 2);
const PABLO: Profile = ("pablo@example.com", &["orders"], &["es"], 2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_and_the_skills_decide_who_is_offered() {
    let (app, _) = routing_app(&[LUCIA, OMAR, PABLO], |_| {}).await;
    let (_, mut lucia) = online(&app, LUCIA.0).await;
    let (_, mut omar) = online(&app, OMAR.0).await;
    let (_, mut pablo) = online(&app, PABLO.0).await;
    // A Spanish customer in the general queue: Lucía speaks Spanish and serves it; Pablo
    // speaks Spanish but lacks the skill; Omar has it but speaks English only.
    let (spanish, _) = waiting(&app, "es", None).await;
    let frame = offer(&mut lucia).await;
    assert_eq!(frame["conversation"]["conversation_id"], spanish.as_str());
    assert!(
        frame["expires_at"].is_string() && frame["handoff_id"].is_string(),
        "{frame}"
    );
    no_offer(&mut pablo, 300).await;
    no_offer(&mut omar, 150).await;
    let (english, _) = waiting(&app, "en", None).await;
    let frame = offer(&mut omar).await;
    assert_eq!(frame["conversation"]["conversation_id"], english.as_str());
    no_offer(&mut pablo, 300).await;
    no_offer(&mut lucia, 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_nobody_answers_moves_on_and_the_timing_is_in_the_log() {
    // Two seconds: Omar's offer runs out, and Nina's must not before she accepts it, even on
    // a loaded machine.
    let (app, _) = routing_app(&[OMAR, ("nina@example.com", &["general"], &["en"], 2)], |r| {
        r.offer_timeout_seconds = 2;
    })
    .await;
    let (_, mut omar) = online(&app, OMAR.0).await;
    let (nina_token, mut nina) = online(&app, "nina@example.com").await;
    let (id, _) = waiting(&app, "en", None).await;
    // Omar has been free the longest: the first offer is his; he lets it run out.
    offer(&mut omar).await;
    let ended = frame_of(&mut omar, "offer_ended", Duration::from_secs(5))
        .await
        .expect("the offer ends");
    assert_eq!(ended["outcome"], "expired");
    let frame = offer(&mut nina).await;
    assert_eq!(frame["conversation"]["conversation_id"], id.as_str());
    assert_eq!(accept(&app, &id, &nina_token).await.status(), 200);
    let events = app.events(&id, &nina_token, 0).await;
    let made = of_type(&events, "offer_made");
    assert_eq!(made.len(), 2, "{events:#?}");
    assert!(made.iter().all(|e| e["after_ms"].is_u64()));
    assert_eq!(of_type(&events, "offer_ended")[0]["outcome"], "expired");
    let assigned = of_type(&events, "assigned");
    assert!(assigned[0]["waited_ms"].as_u64().expect("trigger-to-accept") >= 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_offer_goes_to_the_next_agent_at_once() {
    let (app, _) = routing_app(&[OMAR, ("nina@example.com", &["general"], &["en"], 2)], |_| {}).await;
    let (omar_token, mut omar) = online(&app, OMAR.0).await;
    let (_, mut nina) = online(&app, "nina@example.com").await;
    let (id, _) = waiting(&app, "en", None).await;
    offer(&mut omar).await;
    let declined = app
        .agent_post(&format!("/api/v1/conversations/{id}/decline"), &omar_token)
        .await;
    assert_eq!(declined.status(), 204);
    let ended = frame_of(&mut omar, "offer_ended", Duration::from_secs(5))
        .await
        .expect("the offer ends");
    assert_eq!(ended["outcome"], "declined");
    let frame = offer(&mut nina).await;
    assert_eq!(frame["conversation"]["conversation_id"], id.as_str());
    // Declining what you do not hold says so.
    let again = app
        .agent_post(&format!("/api/v1/conversations/{id}/decline"), &omar_token)
        .await;
    assert_eq!(again.status(), 409);
    let problem: Value = again.json().await.expect("problem");
    assert!(
        problem["detail"].as_str().unwrap_or_default().contains("no offer"),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_is_never_exceeded_by_offers_or_accepts() {
    let (app, _) = routing_app(&[("omar@example.com", &["general"], &["en"], 1)], |_| {}).await;
    let (token, mut omar) = online(&app, OMAR.0).await;
    let (first, _) = waiting(&app, "en", None).await;
    let (second, _) = waiting(&app, "en", None).await;
    let frame = offer(&mut omar).await;
    assert_eq!(
        frame["conversation"]["conversation_id"],
        first.as_str(),
        "the longer wait first"
    );
    no_offer(&mut omar, 500).await;
    assert_eq!(accept(&app, &first, &token).await.status(), 200);
    // Full: no offer, and pulling another from the queue is refused.
    no_offer(&mut omar, 500).await;
    let refused = accept(&app, &second, &token).await;
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["type"], "urn:baton:problem:at-capacity", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("you already serve as many conversations as your capacity (1)"),
        "{problem}"
    );
    // A seat frees: the second is offered.
    assert_eq!(
        app.agent_post(&format!("/api/v1/conversations/{first}/resolve"), &token)
            .await
            .status(),
        200
    );
    let frame = offer(&mut omar).await;
    assert_eq!(frame["conversation"]["conversation_id"], second.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_assign_once_and_respect_capacity() {
    let (app, _) = routing_app(
        &[
            ("omar@example.com", &["orders"], &["en"], 1),
            ("nina@example.com", &["orders"], &["en"], 3),
        ],
        |_| {},
    )
    .await;
    let omar = app.login(OMAR.0).await;
    let nina = app.login("nina@example.com").await;
    for _ in 0..5 {
        let (id, _) = waiting(&app, "en", None).await;
        let (a, b) = tokio::join!(accept(&app, &id, &omar), accept(&app, &id, &nina));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "exactly one accept wins");
        let conversation = app.get_json(&format!("/api/v1/conversations/{id}"), Some(&nina)).await;
        assert_eq!(conversation["phase"], "with_agent");
        let events = app.events(&id, &nina, 0).await;
        assert_eq!(of_type(&events, "assigned").len(), 1);
        let token = if a.status() == 200 { &omar } else { &nina };
        assert_eq!(
            app.agent_post(&format!("/api/v1/conversations/{id}/resolve"), token)
                .await
                .status(),
            200
        );
    }
    // One agent with one seat accepting two conversations at once: one is refused.
    let (x, _) = waiting(&app, "en", None).await;
    let (y, _) = waiting(&app, "en", None).await;
    let (a, b) = tokio::join!(accept(&app, &x, &omar), accept(&app, &y, &omar));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let mine = app.get_json("/api/v1/agents/me/conversations", Some(&omar)).await;
    assert_eq!(mine["conversations"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_stream_drops_goes_away_and_their_offer_moves_on() {
    let (app, _) = routing_app(&[OMAR, ("nina@example.com", &["general"], &["en"], 2)], |_| {}).await;
    let (omar_token, mut omar) = online(&app, OMAR.0).await;
    let (_, mut nina) = online(&app, "nina@example.com").await;
    let (id, _) = waiting(&app, "en", None).await;
    offer(&mut omar).await;
    omar.send(Message::Close(None)).await.expect("close");
    drop(omar);
    // After the grace period (1 s), the offer is withdrawn and goes to Nina.
    let frame = offer(&mut nina).await;
    assert_eq!(frame["conversation"]["conversation_id"], id.as_str());
    let team = app.get_json("/api/v1/agents/presence", Some(&omar_token)).await;
    let omar_now = team["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["display_name"] == "Omar")
        .expect("Omar")
        .clone();
    assert_eq!(omar_now["presence"], "away", "{team}");
    let events = app.events(&id, &omar_token, 0).await;
    assert_eq!(of_type(&events, "offer_ended")[0]["outcome"], "withdrawn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_set_through_the_api_and_the_stream() {
    let (app, _) = routing_app(&[OMAR], |_| {}).await;
    let (token, mut ws) = online(&app, OMAR.0).await;
    ws.send(Message::text(json!({"type": "presence", "status": "away"}).to_string()))
        .await
        .expect("send");
    let frame = frame_of(&mut ws, "presence", Duration::from_secs(5))
        .await
        .expect("a presence frame");
    assert_eq!(frame["availability"]["presence"], "away");
    // Away: no offers.
    let (id, _) = waiting(&app, "en", None).await;
    no_offer(&mut ws, 500).await;
    let set = post(&app, "/api/v1/agents/me/presence", &token, json!({"status": "online"})).await;
    assert_eq!(set.status(), 200);
    let body: Value = set.json().await.expect("json");
    assert_eq!(body["presence"], "online");
    assert_eq!(body["capacity"], 2);
    let frame = offer(&mut ws).await;
    assert_eq!(frame["conversation"]["conversation_id"], id.as_str());
    // Bad input is named.
    let bad = post(&app, "/api/v1/agents/me/presence", &token, json!({"status": "asleep"})).await;
    assert_eq!(bad.status(), 422);
    ws.send(Message::text(
        json!({"type": "presence", "status": "asleep"}).to_string(),
    ))
    .await
    .expect("send");
    let error = frame_of(&mut ws, "error", Duration::from_secs(5))
        .await
        .expect("an error frame");
    assert!(error["problem"]["detail"].is_string(), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_hours_a_ticket_carries_the_case_and_asks_for_a_contact_only_when_none_is_known() {
    let closed = HoursEntry {
        zone: "Europe/Madrid".into(),
        mon: None,
        tue: None,
        wed: None,
        thu: None,
        fri: None,
        sat: None,
        sun: None,
        holidays: Vec::new(),
        after_hours: AfterHours::Ticket,
    };
    let (app, tickets) = routing_app(&[OMAR], move |r| {
        r.hours.insert("never".into(), closed);
        r.queues.entry("general".into()).or_default().hours = Some("never".into());
    })
    .await;
    let (agent, mut ws) = online(&app, OMAR.0).await;
    // No email known: the customer is asked for one, and their answer reaches the ticket.
    let (id, token) = waiting(&app, "en", None).await;
    let events = until(&app, &id, &token, |e| !notes(e).is_empty()).await;
    let note = notes(&events).pop().expect("a note");
    assert!(note.contains("opened ticket T-"), "{note}");
    assert!(note.contains("What email address"), "{note}");
    no_offer(&mut ws, 300).await;
    let agent_view = app.events(&id, &agent, 0).await;
    let opened = of_type(&agent_view, "ticket_opened");
    assert_eq!(opened[0]["reason"], "after_hours");
    let ticket_id = opened[0]["ticket_id"].as_str().expect("ticket id").to_owned();
    let stored = tickets.stored(&ticket_id).expect("the ticket exists");
    assert!(stored.request.body.contains("\"handoff_id\"") || stored.request.body.contains("not built yet"));
    assert_eq!(
        app.post_message(&id, &token, "it's ana@example.com", "c1")
            .await
            .status(),
        201
    );
    for _ in 0..100 {
        if tickets
            .stored(&ticket_id)
            .is_some_and(|t| t.notes.iter().any(|n| n.contains("ana@example.com")))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = tickets.stored(&ticket_id).expect("the ticket");
    assert!(
        stored.notes.iter().any(|n| n.contains("ana@example.com")),
        "{:?}",
        stored.notes
    );
    // An email known from the start: no question, the reply address is named (in Spanish).
    let (id, token) = waiting(&app, "es", Some("sarah@example.com")).await;
    let events = until(&app, &id, &token, |e| !notes(e).is_empty()).await;
    let note = notes(&events).pop().expect("a note");
    assert!(note.contains("he abierto el ticket T-"), "{note}");
    assert!(note.contains("sarah@example.com"), "{note}");
    assert!(!note.contains('¿'), "no question when the address is known: {note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_who_can_serve_on_duty_opens_a_ticket() {
    let (app, tickets) = routing_app(&[OMAR], |r| r.nobody_eligible_after_seconds = 1).await;
    // Omar speaks English only: a Spanish customer has nobody.
    let (_, _omar) = online(&app, OMAR.0).await;
    let (id, token) = waiting(&app, "es", Some("sarah@example.com")).await;
    let events = until(&app, &id, &token, |e| !notes(e).is_empty()).await;
    assert!(notes(&events)[0].contains("ticket"), "{events:#?}");
    assert_eq!(tickets.tickets_created(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_is_narrated_in_the_customers_language() {
    for (language, queued, joined) in [
        ("en", "You're number 1 in line", "Omar has joined the conversation."),
        (
            "es",
            "Eres el número 1 en la cola",
            "Omar se ha unido a la conversación.",
        ),
    ] {
        let (app, _) = routing_app(&[("omar@example.com", &["general"], &["en", "es"], 1)], |_| {}).await;
        let (token, mut ws) = online(&app, OMAR.0).await;
        // Omar is busy with another customer, so this one waits in line.
        let (busy, _) = waiting(&app, language, None).await;
        offer(&mut ws).await;
        assert_eq!(accept(&app, &busy, &token).await.status(), 200);
        let (id, customer) = waiting(&app, language, None).await;
        let events = until(&app, &id, &customer, |e| notes(e).iter().any(|n| n.contains(queued))).await;
        let line = notes(&events)
            .into_iter()
            .find(|n| n.contains(queued))
            .expect("queued line");
        assert!(line.contains("minut"), "the estimate is said: {line}");
        let agent_view = app.events(&id, &token, 0).await;
        let queued_event = of_type(&agent_view, "handoff_queued")[0].clone();
        assert!(
            queued_event["wait_estimate_seconds"].as_u64().is_some(),
            "{queued_event}"
        );
        assert_eq!(queued_event["queue"], "general");
        // Omar frees his seat and takes this one: the customer hears his name.
        app.agent_post(&format!("/api/v1/conversations/{busy}/resolve"), &token)
            .await;
        offer(&mut ws).await;
        assert_eq!(accept(&app, &id, &token).await.status(), 200);
        let events = until(&app, &id, &customer, |e| notes(e).iter().any(|n| n == joined)).await;
        never_twice_in_a_row(&notes(&events));
        // Customers never see routing's internal records.
        assert!(of_type(&events, "offer_made").is_empty() && of_type(&events, "handoff_queued").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_offers_a_callback_or_an_email_instead() {
    let (app, tickets) = routing_app(&[OMAR], |r| r.callback_after_seconds = 1).await;
    // Omar is online but has no seat left: the customer waits.
    let (token, mut ws) = online(&app, OMAR.0).await;
    let (busy1, _) = waiting(&app, "en", None).await;
    offer(&mut ws).await;
    assert_eq!(accept(&app, &busy1, &token).await.status(), 200);
    let (busy2, _) = waiting(&app, "en", None).await;
    offer(&mut ws).await;
    assert_eq!(accept(&app, &busy2, &token).await.status(), 200);
    let (id, customer) = waiting(&app, "en", Some("sarah@example.com")).await;
    let events = until(&app, &id, &customer, |e| {
        of_type(e, "system_note").iter().any(|n| n["suggestions"].is_array())
    })
    .await;
    let offer_note = of_type(&events, "system_note")
        .into_iter()
        .find(|n| n["suggestions"].is_array())
        .expect("the callback offer")
        .clone();
    let labels: Vec<&str> = offer_note["suggestions"]
        .as_array()
        .expect("buttons")
        .iter()
        .map(|s| s["label"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(labels, ["Call me back", "Email me"]);
    // The customer presses "Email me": a ticket carries the case.
    assert_eq!(app.post_message(&id, &customer, "Email me", "b1").await.status(), 201);
    let events = until(&app, &id, &token, |e| !of_type(e, "ticket_opened").is_empty()).await;
    assert_eq!(of_type(&events, "ticket_opened")[0]["reason"], "email");
    assert!(notes(&events).last().is_some_and(|n| n.contains("sarah@example.com")));
    assert_eq!(tickets.tickets_created(), 1);
}

/// A bot app with routing: Nina (everything, both languages) and Lucía (billing, Spanish).
async fn bot_routing_app() -> TestApp {
    let (connectors, _) = demo_connectors();
    let tickets = connectors.tickets.clone();
    let nina: Profile = (
        AGENT,
        &[
            "compliance",
            "fraud",
            "vip",
            "billing",
            "refunds",
            "orders",
            "shipping",
            "general",
        ],
        &["en", "es"],
        3,
    );
    let lucia: Profile = (
        "lucia@example.com",
        &["billing", "refunds", "general"],
        &["en", "es"],
        2,
    );
    TestApp::builder()
        .with_agent(AGENT, "Nina")
        .with_agent("lucia@example.com", "Lucía")
        .with_bot(connectors)
        .with_routing(tickets, move |r| quick(r, &[nina, lucia]))
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_makes_a_new_package_version_with_the_note_and_tells_the_customer() {
    let app = bot_routing_app().await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    chat.say("I want to talk to a human").await;
    let nina = chat.agent.clone();
    assert_eq!(accept(&app, &chat.id, &nina).await.status(), 200);
    let (_, mut lucia) = online(&app, "lucia@example.com").await;
    let transferred = post(
        &app,
        &format!("/api/v1/conversations/{}/transfer", chat.id),
        &nina,
        json!({"queue": "billing", "note": "Charged twice on order 54192; refund by hand"}),
    )
    .await;
    assert_eq!(transferred.status(), 200);
    // The customer is told, in words, where they are going.
    let events = until(&app, &chat.id, &chat.token, |e| {
        notes(e).iter().any(|n| n.contains("our billing team"))
    })
    .await;
    assert!(of_type(&events, "transferred").is_empty(), "the note is for agents");
    // Lucía serves billing: she is offered it, with a package that carries the note.
    let frame = offer(&mut lucia).await;
    let handoff_id = frame["handoff_id"].as_str().expect("handoff").to_owned();
    chat.settle().await;
    let view = app
        .get_json(&format!("/api/v1/handoffs/{handoff_id}"), Some(&nina))
        .await;
    assert_eq!(view["package_version"], 2, "{view}");
    let routing = &view["package"]["routing"];
    assert_eq!(routing["queue"], "billing");
    // Lucía is online with free seats: the package says the wait is short.
    assert_eq!(routing["wait_estimate_seconds"], 0, "{routing}");
    assert_eq!(
        routing["transfers"][0]["note"],
        "Charged twice on order 54192; refund by hand"
    );
    assert_eq!(routing["transfers"][0]["from_agent_name"], "Nina");
    let brief = view["package"]["conversation"]["brief"][0]["lines"].to_string();
    assert!(brief.contains("Note from Nina: Charged twice"), "{brief}");
    // Version 1 is still there, exactly as Nina saw it.
    let first = app
        .get_json(&format!("/api/v1/handoffs/{handoff_id}?version=1"), Some(&nina))
        .await;
    assert_eq!(first["package"]["routing"]["transfers"], json!([]));
    // Bad transfers are named.
    let lucia_token = app.login("lucia@example.com").await;
    assert_eq!(accept(&app, &chat.id, &lucia_token).await.status(), 200);
    for (body, field) in [
        (json!({"queue": "nowhere"}), "queue"),
        (json!({"queue": "billing", "agent_id": uuid::Uuid::nil()}), ""),
        (json!({"agent_id": uuid::Uuid::nil()}), "agent_id"),
    ] {
        let bad = post(
            &app,
            &format!("/api/v1/conversations/{}/transfer", chat.id),
            &lucia_token,
            body,
        )
        .await;
        assert_eq!(bad.status(), 422, "{field}");
        let problem: Value = bad.json().await.expect("problem");
        assert!(problem.to_string().contains(field), "{problem}");
    }
    // Not the owner: refused.
    let not_mine = post(
        &app,
        &format!("/api/v1/conversations/{}/transfer", chat.id),
        &nina,
        json!({"queue": "orders"}),
    )
    .await;
    assert_eq!(not_mine.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_back_ends_the_human_stretch_without_looping_back_and_bounces_are_counted() {
    let app = bot_routing_app().await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    chat.say("I want to dispute a charge on my card").await;
    let events = until(&app, &chat.id, &chat.agent, |e| {
        !of_type(e, "handoff_requested").is_empty()
    })
    .await;
    let first_reason = of_type(&events, "handoff_requested")[0]["reasons"][0]["kind"].clone();
    assert_eq!(first_reason, "human_only_intent", "{events:#?}");
    let nina = chat.agent.clone();
    assert_eq!(accept(&app, &chat.id, &nina).await.status(), 200);
    // While Nina owns it, the bot says nothing.
    app.post_message(&chat.id, &chat.token, "are you there?", "w1").await;
    chat.settle().await;
    let bot_messages_before = of_type(&chat.events().await, "bot_message").len();
    let back = post(
        &app,
        &format!("/api/v1/conversations/{}/hand-back", chat.id),
        &nina,
        json!({"note": "Dispute opened with the bank by hand"}),
    )
    .await;
    assert_eq!(back.status(), 200);
    let events = chat.events().await;
    assert_eq!(of_type(&events, "bot_message").len(), bot_messages_before);
    let marker = of_type(&events, "handed_back")[0].clone();
    assert_eq!(marker["note"], "Dispute opened with the bank by hand");
    assert!(notes(&chat.customer_events().await)
        .iter()
        .any(|n| n.contains("back with the assistant")));
    // The same request again: the bot answers, it does not hand straight back over.
    let reply = chat.say("I want to dispute a charge on my card").await;
    assert_eq!(reply["type"], "bot_message", "{reply}");
    chat.settle().await;
    assert_eq!(of_type(&chat.events().await, "handoff_requested").len(), 1);
    // Asking for a person is always heard, and counted as a bounce-back.
    chat.say("I want to talk to a human").await;
    let events = until(&app, &chat.id, &nina, |e| of_type(e, "handoff_requested").len() == 2).await;
    assert_eq!(of_type(&events, "handoff_requested").len(), 2);
    chat.settle().await;
    let memory = chat.memory().await;
    assert_eq!(memory["bounce_backs"], json!({"explicit": 1}), "{memory}");
    assert_eq!(memory["handed_back"]["note"], "Dispute opened with the bank by hand");
    let handoffs = app
        .get_json(&format!("/api/v1/conversations/{}/handoffs", chat.id), Some(&nina))
        .await;
    let newest = handoffs.as_array().and_then(|h| h.last()).expect("handoffs")["handoff_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let view = app.get_json(&format!("/api/v1/handoffs/{newest}"), Some(&nina)).await;
    assert_eq!(view["package"]["routing"]["bounce_backs"], json!({"explicit": 1}));
    assert_eq!(
        view["package"]["routing"]["hand_back_note"],
        "Nina: Dispute opened with the bank by hand"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_handoffs_are_offered_before_older_normal_ones() {
    let app = bot_routing_app().await;
    let (nina_token, mut nina) = online(&app, AGENT).await;
    // Nina fills her three seats.
    for _ in 0..3 {
        let (id, _) = waiting(&app, "en", None).await;
        offer(&mut nina).await;
        assert_eq!(accept(&app, &id, &nina_token).await.status(), 200);
    }
    let (normal, _) = waiting(&app, "en", None).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    chat.say("This is fraud, someone used my card without permission").await;
    // The router has placed it once its queue placement is in the log.
    let events = until(&app, &chat.id, &nina_token, |e| {
        !of_type(e, "handoff_queued").is_empty()
    })
    .await;
    assert_eq!(
        of_type(&events, "handoff_requested")[0]["priority"],
        "urgent",
        "{events:#?}"
    );
    no_offer(&mut nina, 300).await;
    let mine = app.get_json("/api/v1/agents/me/conversations", Some(&nina_token)).await;
    let one = mine["conversations"][0]["conversation_id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.agent_post(&format!("/api/v1/conversations/{one}/resolve"), &nina_token)
        .await;
    let frame = offer(&mut nina).await;
    assert_eq!(
        frame["conversation"]["conversation_id"],
        chat.id.as_str(),
        "urgent first"
    );
    assert_ne!(frame["conversation"]["conversation_id"], normal.as_str());
}

/// Two servers with routing (`setup`) on one fresh PostgreSQL schema, Omar an agent of both,
/// each opening tickets in its own demo ticketing; `None` (skipped, and said) without one.
async fn two_routing_instances(
    test: &str,
    setup: impl Fn(&mut RoutingConfig) + Copy,
) -> Option<(TestApp, TestApp, Arc<DemoTicketing>, Arc<DemoTicketing>)> {
    let (tickets_a, tickets_b) = (Arc::new(DemoTicketing::new()), Arc::new(DemoTicketing::new()));
    let Some(builder) = TestApp::builder()
        .with_agent(OMAR.0, "Omar")
        .with_routing(tickets_a.clone(), setup)
        .on_postgres()
        .await
    else {
        baton_store_postgres::testing::skipped(test);
        return None;
    };
    let a = builder.start().await;
    let b = TestApp::builder()
        .with_routing(tickets_b.clone(), setup)
        .sharing_database_with(&a)
        .start()
        .await;
    Some((a, b, tickets_a, tickets_b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_offer_and_narrate_once() {
    let test = "two_instances_offer_and_narrate_once";
    let agents = [OMAR];
    let setup = |r: &mut RoutingConfig| {
        quick(r, &agents);
        r.offer_timeout_seconds = 2;
    };
    let Some((a, b, _, _)) = two_routing_instances(test, setup).await else {
        return;
    };
    // Omar is on B; the customer hands off through A.
    let (omar, mut ws) = online(&b, OMAR.0).await;
    let (id, _) = waiting(&a, "en", None).await;
    offer(&mut ws).await;
    // He lets it run out: it ends once, and comes back to him (nobody else can serve it).
    offer(&mut ws).await;
    assert_eq!(accept(&b, &id, &omar).await.status(), 200);
    let events = until(&b, &id, &omar, |e| of_type(e, "assigned").len() == 1).await;
    assert_eq!(of_type(&events, "handoff_queued").len(), 1, "{events:#?}");
    assert_eq!(of_type(&events, "offer_made").len(), 2, "{events:#?}");
    // The first ran out; he took the second.
    let ended = of_type(&events, "offer_ended");
    assert_eq!(ended.len(), 1, "{events:#?}");
    assert_eq!(ended[0]["outcome"], "expired", "{events:#?}");
    let events = until(&a, &id, &omar, |e| notes(e).iter().any(|n| n.contains("Omar"))).await;
    assert_eq!(of_type(&events, "handoff_queued").len(), 1, "queued once: {events:#?}");
    let lines = notes(&events);
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "no line said twice: {lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_withdraws_the_offer_and_a_transfer_to_a_named_agent_goes_to_them() {
    let nina: Profile = ("nina@example.com", &["general"], &["en"], 2);
    let sam: Profile = ("sam@example.com", &["general"], &["en"], 2);
    let (app, _) = routing_app(&[OMAR, nina, sam], |_| {}).await;
    let (omar_token, mut omar) = online(&app, OMAR.0).await;
    let (nina_token, mut nina_ws) = online(&app, nina.0).await;
    let (_, mut sam_ws) = online(&app, sam.0).await;
    let (id, customer) = waiting(&app, "en", None).await;
    offer(&mut omar).await;
    // Nina pulls it from the queue: Omar's offer is withdrawn.
    assert_eq!(accept(&app, &id, &nina_token).await.status(), 200);
    let ended = frame_of(&mut omar, "offer_ended", Duration::from_secs(5))
        .await
        .expect("Omar's offer ends");
    assert_eq!(ended["outcome"], "withdrawn");
    // She passes it to Omar by name: he alone is offered it, though Sam is free too.
    let omar_id = app.get_json("/api/v1/agents/me", Some(&omar_token)).await["agent_id"].clone();
    let moved = post(
        &app,
        &format!("/api/v1/conversations/{id}/transfer"),
        &nina_token,
        json!({"agent_id": omar_id, "note": "He knows this order"}),
    )
    .await;
    assert_eq!(moved.status(), 200);
    let frame = offer(&mut omar).await;
    assert_eq!(frame["conversation"]["conversation_id"], id.as_str());
    no_offer(&mut sam_ws, 300).await;
    no_offer(&mut nina_ws, 150).await;
    let events = until(&app, &id, &customer, |e| notes(e).iter().any(|n| n.contains("Omar"))).await;
    assert!(
        notes(&events).iter().any(|n| n.starts_with("I'm passing you to Omar")),
        "{:?}",
        notes(&events)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_in_their_grace_period_keeps_nobody_else_from_offers() {
    let nina: Profile = ("nina@example.com", &["general"], &["en"], 2);
    let (app, _) = routing_app(&[OMAR, nina], |r| r.presence_grace_seconds = 60).await;
    // Omar came first (free the longest), then his stream dropped: a page reload, maybe.
    let (_, mut omar) = online(&app, OMAR.0).await;
    let (_, mut nina_ws) = online(&app, nina.0).await;
    omar.send(Message::Close(None)).await.expect("close");
    // The server closes its side only after it marked the stream gone.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(frame)) = omar.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server did not close Omar's stream");
    drop(omar);
    let (id, _) = waiting(&app, "en", None).await;
    let frame = offer(&mut nina_ws).await;
    assert_eq!(frame["conversation"]["conversation_id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_an_agent_who_is_away_goes_to_the_queue() {
    let nina: Profile = ("nina@example.com", &["general"], &["en"], 2);
    let sam: Profile = ("sam@example.com", &["general"], &["en"], 2);
    let (app, _) = routing_app(&[OMAR, nina, sam], |_| {}).await;
    let (_, mut omar) = online(&app, OMAR.0).await;
    let nina_token = app.login(nina.0).await;
    let sam_token = app.login(sam.0).await;
    let set = post(
        &app,
        "/api/v1/agents/me/presence",
        &sam_token,
        json!({"status": "away"}),
    )
    .await;
    assert_eq!(set.status(), 200);
    let (id, _) = waiting(&app, "en", None).await;
    offer(&mut omar).await;
    let omar_token = app.login(OMAR.0).await;
    app.agent_post(&format!("/api/v1/conversations/{id}/decline"), &omar_token)
        .await;
    assert_eq!(accept(&app, &id, &nina_token).await.status(), 200);
    let sam_id = app.get_json("/api/v1/agents/me", Some(&sam_token)).await["agent_id"].clone();
    let moved = post(
        &app,
        &format!("/api/v1/conversations/{id}/transfer"),
        &nina_token,
        json!({"agent_id": sam_id}),
    )
    .await;
    assert_eq!(moved.status(), 200);
    // Sam is away: the queue's next eligible agent is offered it instead.
    let frame = offer(&mut omar).await;
    assert_eq!(frame["conversation"]["conversation_id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_holds_across_instances() {
    let test = "capacity_holds_across_instances";
    let one_seat: Profile = ("omar@example.com", &["general"], &["en"], 1);
    let setup = move |r: &mut RoutingConfig| quick(r, &[one_seat]);
    let Some((a, b, _, _)) = two_routing_instances(test, setup).await else {
        return;
    };
    let on_a = a.login(OMAR.0).await;
    let on_b = b.login(OMAR.0).await;
    for _ in 0..3 {
        let (x, _) = waiting(&a, "en", None).await;
        let (y, _) = waiting(&a, "en", None).await;
        let (first, second) = tokio::join!(accept(&a, &x, &on_a), accept(&b, &y, &on_b));
        let mut statuses = [first.status().as_u16(), second.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "one seat, one accept, whichever instance");
        let mine = a.get_json("/api/v1/agents/me/conversations", Some(&on_a)).await;
        let owned = mine["conversations"].as_array().expect("conversations").clone();
        assert_eq!(owned.len(), 1);
        let id = owned[0]["conversation_id"].as_str().expect("id");
        assert_eq!(
            a.agent_post(&format!("/api/v1/conversations/{id}/resolve"), &on_a)
                .await
                .status(),
            200
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_waiting_customer_writes_reaches_the_package_unanswered() {
    let app = bot_routing_app().await;
    let (mut chat, _) = Chat::start(&app, json!({"language": "en"})).await;
    chat.say("I want to talk to a human").await;
    chat.settle().await;
    let before = of_type(&chat.events().await, "bot_message").len();
    assert_eq!(
        app.post_message(&chat.id, &chat.token, "while I wait: it's about order 54192", "w1")
            .await
            .status(),
        201
    );
    let events = until(&app, &chat.id, &chat.agent, |e| {
        of_type(e, "handoff_packaged").iter().any(|p| p["version"] == 2)
    })
    .await;
    chat.settle().await;
    assert_eq!(of_type(&events, "bot_message").len(), before, "the bot says nothing");
    let memory = chat.memory().await;
    assert_eq!(memory["slots"]["order_number"]["value"], "54192", "{memory}");
    let handoffs = app
        .get_json(
            &format!("/api/v1/conversations/{}/handoffs", chat.id),
            Some(&chat.agent),
        )
        .await;
    let id = handoffs[0]["handoff_id"].as_str().expect("id").to_owned();
    let view = app.get_json(&format!("/api/v1/handoffs/{id}"), Some(&chat.agent)).await;
    assert!(view["package"].to_string().contains("54192"), "{view}");
}

/// Shared presence: each instance knows who is on duty on the others. The team view shows an
/// agent whose stream is on another instance; a customer nobody on duty can serve gets a
/// ticket, once; and when nobody is on duty anywhere, a customer waiting through an instance
/// no agent ever connected to still gets one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_know_who_is_on_duty_on_the_others() {
    let test = "instances_know_who_is_on_duty_on_the_others";
    let agents = [OMAR];
    let setup = |r: &mut RoutingConfig| {
        quick(r, &agents);
        r.nobody_eligible_after_seconds = 1;
    };
    let Some((a, b, tickets_a, tickets_b)) = two_routing_instances(test, setup).await else {
        return;
    };
    let tickets = || tickets_a.tickets_created() + tickets_b.tickets_created();
    let eventually = |what: &'static str| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        move || assert!(tokio::time::Instant::now() < deadline, "{what} within 20 s")
    };

    // Omar's stream is on B; A's team view shows him on duty.
    let (on_b, mut omar_ws) = online(&b, OMAR.0).await;
    let on_a = a.login(OMAR.0).await;
    let omar_on_a = || async {
        let team = a.get_json("/api/v1/agents/presence", Some(&on_a)).await;
        team["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .find(|agent| agent["display_name"] == "Omar" && agent["presence"] == "online")
            .cloned()
    };
    let check = eventually("A sees Omar on duty");
    let omar = loop {
        if let Some(omar) = omar_on_a().await {
            break omar;
        }
        check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(omar["languages"], json!(["en"]), "{omar}");

    // An English customer waiting through A: B offers it to Omar, and no ticket comes, though
    // nobody on A could serve it (the instance holding the wait's duties counts Omar wherever
    // he is). Longer than the patience and two rounds of presence.
    let (english, _) = waiting(&a, "en", None).await;
    let frame = offer(&mut omar_ws).await;
    assert_eq!(frame["conversation"]["conversation_id"], english.as_str());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tickets(), 0, "Omar is on duty: no nobody-available ticket");
    assert_eq!(accept(&b, &english, &on_b).await.status(), 200);

    // Omar speaks English only: a Spanish customer waiting through A has nobody, and gets
    // one ticket (not one from each instance).
    let (spanish, token) = waiting(&a, "es", Some("sarah@example.com")).await;
    let check = eventually("a ticket for the Spanish customer");
    while tickets() == 0 {
        check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = until(&a, &spanish, &token, |e| !notes(e).is_empty()).await;
    assert!(notes(&events).iter().any(|n| n.contains("ticket")), "{events:#?}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(tickets(), 1, "one ticket, whichever instance opened it");

    // Omar leaves (his grace is one second): once A no longer counts him, nobody is on duty
    // anywhere, and a customer waiting through A, where no agent ever connected, gets a
    // ticket too.
    drop(omar_ws);
    let check = eventually("A sees Omar gone");
    while omar_on_a().await.is_some() {
        check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (later, token) = waiting(&a, "en", Some("marcus@example.com")).await;
    let check = eventually("a ticket once nobody is on duty anywhere");
    while tickets() < 2 {
        check();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = until(&a, &later, &token, |e| notes(e).iter().any(|n| n.contains("ticket"))).await;
    assert!(of_type(&events, "offer_made").is_empty(), "{events:#?}");
    assert_eq!(tickets(), 2);
}

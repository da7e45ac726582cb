//! Bad input gets a 4xx problem+json that names what is wrong, and changes nothing.

use crate::common::TestApp;
use serde_json::Value;

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "status {status}"
    );
    (status, response.json().await.expect("problem json"))
}

#[tokio::test]
async fn malformed_and_invalid_messages_are_refused_with_the_field_named() {
    let app = TestApp::builder().with_max_body(8 * 1024).start().await;
    let conv = app.new_conversation().await;
    let url = app.url(&format!("/api/v1/conversations/{}/messages", conv.id));
    let send = |body: String| {
        app.http
            .post(&url)
            .bearer_auth(&conv.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(String, u16, Option<&str>)> = vec![
        ("{\"text\": \"hi\"".into(), 400, None),
        ("".into(), 400, None),
        ("[]".into(), 422, None),
        ("{\"client_message_id\": \"a\"}".into(), 422, Some("text")),
        ("{\"text\": \"hi\"}".into(), 422, Some("client_message_id")),
        ("{\"text\": 42, \"client_message_id\": \"a\"}".into(), 422, Some("text")),
        (
            "{\"text\": \"hi\", \"client_message_id\": 7}".into(),
            422,
            Some("client_message_id"),
        ),
        (
            "{\"text\": \"   \", \"client_message_id\": \"a\"}".into(),
            422,
            Some("text"),
        ),
        (
            "{\"text\": \"\", \"client_message_id\": \"a\"}".into(),
            422,
            Some("text"),
        ),
        (
            "{\"text\": \"hi\", \"client_message_id\": \"\"}".into(),
            422,
            Some("client_message_id"),
        ),
        (
            "{\"text\": \"hi\", \"client_message_id\": \"a\", \"admin\": true}".into(),
            422,
            None,
        ),
        (
            format!("{{\"text\": \"{}\", \"client_message_id\": \"a\"}}", "x".repeat(4_001)),
            422,
            Some("text"),
        ),
        (
            format!("{{\"text\": \"{}\", \"client_message_id\": \"a\"}}", "x".repeat(20_000)),
            413,
            None,
        ),
    ];
    for (body, status, field) in cases {
        let shown = body.chars().take(60).collect::<String>();
        let (got, problem) = problem(send(body).await.expect("send")).await;
        assert_eq!(got, status, "body {shown}: {problem}");
        assert_eq!(problem["status"], status);
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "body {shown}");
        }
    }
    // Exactly 4,000 characters is fine.
    let max = app.post_message(&conv.id, &conv.token, &"é".repeat(4_000), "max").await;
    assert_eq!(max.status(), 201);
    // Not JSON at all.
    let form = app
        .http
        .post(&url)
        .bearer_auth(&conv.token)
        .header("content-type", "text/plain")
        .body("text=hi")
        .send()
        .await
        .expect("send");
    assert_eq!(problem(form).await.0, 415);
    // Nothing but the one valid message was stored.
    assert_eq!(app.events(&conv.id, &conv.token, 0).await.len(), 2);
}

#[tokio::test]
async fn bad_tokens_ids_and_sequence_numbers() {
    let app = TestApp::init().await;
    let conv = app.new_conversation().await;
    let events = |query: &str, token: Option<&str>| {
        let request = app
            .http
            .get(app.url(&format!("/api/v1/conversations/{}/events{query}", conv.id)));
        match token {
            Some(t) => request.bearer_auth(t).send(),
            None => request.send(),
        }
    };
    assert_eq!(problem(events("", None).await.expect("req")).await.0, 401);
    assert_eq!(problem(events("", Some("bct_nope")).await.expect("req")).await.0, 404);
    assert_eq!(problem(events("", Some("garbage")).await.expect("req")).await.0, 401);
    for query in [
        "?after=-1",
        "?after=abc",
        "?after=99",
        "?limit=0",
        "?limit=5000",
        "?after=18446744073709551616",
    ] {
        let (status, body) = problem(events(query, Some(&conv.token)).await.expect("req")).await;
        assert_eq!(status, 400, "{query}");
        assert!(body["field"].is_string(), "{query}: {body}");
    }
    let bad_id = app
        .http
        .get(app.url("/api/v1/conversations/not-a-uuid/events"))
        .bearer_auth(&conv.token)
        .send()
        .await
        .expect("req");
    assert_eq!(problem(bad_id).await.0, 404);
    let unknown = app
        .http
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await
        .expect("req");
    assert_eq!(problem(unknown).await.0, 404);
}

#[tokio::test]
async fn a_new_conversation_validates_its_optional_fields() {
    let app = TestApp::init().await;
    let create = |body: &'static str| {
        app.http
            .post(app.url("/api/v1/conversations"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let empty = app
        .http
        .post(app.url("/api/v1/conversations"))
        .send()
        .await
        .expect("create");
    assert_eq!(empty.status(), 201, "no body starts an anonymous conversation");
    for (body, field) in [
        (r#"{"language": "klingon"}"#, "language"),
        (r#"{"channel": "pigeon"}"#, "channel"),
        (r#"{"customer": {"email": "not an email"}}"#, "customer.email"),
        (r#"{"customer": {"name": ""}}"#, "customer.name"),
        (r#"{"customer": {"name": 5}}"#, "customer.name"),
    ] {
        let (status, problem) = problem(create(body).await.expect("create")).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(problem["field"], field, "{body}");
    }
}

//! The published OpenAPI document describes every route the server answers.

use crate::common::TestApp;

#[tokio::test]
async fn the_openapi_document_lists_every_rest_route() {
    let app = TestApp::init().await;
    let doc = app.get_json("/api/v1/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in [
        ("get", "/healthz"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/conversations"),
        ("get", "/api/v1/conversations/{id}"),
        ("post", "/api/v1/conversations/{id}/messages"),
        ("get", "/api/v1/conversations/{id}/events"),
        ("get", "/api/v1/conversations/{id}/memory"),
        ("post", "/api/v1/conversations/{id}/handoff-request"),
        ("post", "/api/v1/conversations/{id}/accept"),
        ("post", "/api/v1/conversations/{id}/hand-back"),
        ("post", "/api/v1/conversations/{id}/resolve"),
        ("post", "/api/v1/agents/login"),
        ("post", "/api/v1/agents/logout"),
        ("get", "/api/v1/agents/me"),
        ("get", "/api/v1/agents/me/conversations"),
        ("get", "/api/v1/queue"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in ["Event", "EventKind", "Problem", "PostMessage", "ConversationView"] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert_eq!(doc["components"]["schemas"]["MessageText"]["maxLength"], 4000);
}

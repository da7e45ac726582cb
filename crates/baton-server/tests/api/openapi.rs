//! The published OpenAPI document describes every route the server answers.

use crate::common::TestApp;

#[tokio::test]
async fn the_openapi_document_lists_every_rest_route() {
    let app = TestApp::init().await;
    let doc = app.get_json("/api/v1/openapi.json", None).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    // Every HTTP route the router answers (read off the router's own table) is documented,
    // and nothing else is.
    let routes: Vec<(String, &str)> = baton_server::api::route_list()
        .into_iter()
        .filter(|(_, _, kind)| *kind == baton_server::api::RouteKind::Http)
        .map(|(method, path, _)| (method.to_lowercase(), path))
        .collect();
    assert!(!routes.is_empty(), "the table lists the routes");
    for (method, path) in &routes {
        assert!(
            paths.get(*path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    let documented = paths
        .values()
        .map(|ops| ops.as_object().map_or(0, |o| o.len()))
        .sum::<usize>();
    assert_eq!(documented, routes.len(), "the document lists no route the router lacks");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in ["Event", "EventKind", "Problem", "PostMessage", "ConversationView"] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert_eq!(doc["components"]["schemas"]["MessageText"]["maxLength"], 4000);
}

//! The OpenAPI 3.1 document, generated from the handlers' annotations so that it describes
//! what the server really accepts.

use crate::api::{agents, conversations, handoffs, health, routing};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Baton API", description = "Customer-support chat with context-first handoff."),
    paths(
        health::healthz,
        health::openapi_json,
        conversations::create,
        conversations::get_one,
        conversations::post_message,
        conversations::list_events,
        conversations::memory,
        handoffs::list,
        handoffs::get_one,
        handoffs::package_schema,
        conversations::request_handoff,
        conversations::accept,
        routing::decline,
        routing::transfer,
        conversations::hand_back,
        conversations::resolve,
        agents::login,
        agents::logout,
        agents::me,
        agents::my_conversations,
        agents::queue,
        routing::set_presence,
        routing::team,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "conversations", description = "Customers (and agents) in one conversation"),
        (name = "agents", description = "The support side"),
        (name = "operations", description = "Health and documentation"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A customer token (`bct_...`) or an agent session token (`bat_...`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document served at `/api/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

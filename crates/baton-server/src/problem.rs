//! The one error type of the HTTP layer, written on the wire as RFC 9457 problem details
//! (`application/problem+json`). Client mistakes name the field at fault; server faults are
//! logged with their cause and answered with a generic 500 that leaks nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_store::StoreError;
use serde::Serialize;

/// A problem details body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:baton:problem:invalid-field`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault (a JSON path such as `text` or `customer.email`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Seconds to wait, for 429 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Request body is not valid JSON",
            detail,
        )
    }

    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "A field is missing or invalid",
            detail,
        )
        .with_field(field)
    }

    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "The body has the wrong shape",
            detail,
        )
    }

    pub fn invalid_query(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "A query parameter is invalid",
            detail,
        )
        .with_field(field)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with `Content-Type: application/json`",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body is too large",
            format!("the body exceeds the limit of {limit} bytes"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            kind,
            "Conflicts with the conversation's state",
            detail,
        )
    }

    pub fn rate_limited(retry_after: u64, what: &str) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("{what}; retry in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn too_many_streams(detail: String) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-streams",
            "Too many open streams",
            detail,
        );
        e.retry_after = Some(5);
        e
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the server failed to handle this request; it has been logged",
        )
    }

    pub fn to_problem(&self) -> Problem {
        Problem {
            kind: format!("urn:baton:problem:{}", self.kind),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConversationNotFound(_) => ApiError::not_found("no such conversation"),
            StoreError::Rejected(baton_domain::Rejection::AtCapacity { capacity, .. }) => ApiError::conflict(
                "at-capacity",
                format!("you already serve as many conversations as your capacity ({capacity}): resolve or transfer one first"),
            ),
            StoreError::Rejected(rejection) => ApiError::conflict("phase-conflict", rejection.to_string()),
            e @ StoreError::IdempotencyConflict { .. } => {
                ApiError::conflict("idempotency-conflict", e.to_string()).with_field("client_message_id")
            }
            e @ StoreError::DuplicateAgent(_) => ApiError::conflict("duplicate", e.to_string()),
            e @ (StoreError::Corrupt { .. } | StoreError::Backend { .. }) => {
                tracing::error!(error = %e, "store failure");
                ApiError::internal()
            }
        }
    }
}

/// The problem answers that several operations share, for their OpenAPI `responses`. Each
/// type documents a group of statuses once; an operation lists its own statuses (its 409s,
/// its 429s) beside the groups it uses.
pub mod documented {
    use std::collections::BTreeMap;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
    use utoipa::IntoResponses;

    fn problems(answers: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
        answers
            .iter()
            .map(|(status, description)| {
                let body = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build();
                let response = ResponseBuilder::new()
                    .description(*description)
                    .content("application/problem+json", body)
                    .build();
                (status.to_string(), RefOr::T(response))
            })
            .collect()
    }

    /// A JSON body that cannot be read or is not valid: 400, 413, 415, 422.
    pub struct BodyProblems;

    impl IntoResponses for BodyProblems {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[
                (400, "Malformed JSON"),
                (413, "Body too large"),
                (415, "Not JSON"),
                (422, "A field is invalid"),
            ])
        }
    }

    /// A conversation the caller's token does not open: 401, 404.
    pub struct ConversationAccessProblems;

    impl IntoResponses for ConversationAccessProblems {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[(401, "No or bad token"), (404, "No such conversation (or not yours)")])
        }
    }

    /// An operation for agents only: 401, 403.
    pub struct AgentProblems;

    impl IntoResponses for AgentProblems {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[(401, "No or bad token"), (403, "Not an agent")])
        }
    }

    /// An agent's command on a conversation: 401, 403, 404.
    pub struct AgentCommandProblems;

    impl IntoResponses for AgentCommandProblems {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            let mut answers = AgentProblems::responses();
            answers.extend(problems(&[(404, "No such conversation")]));
            answers
        }
    }
}

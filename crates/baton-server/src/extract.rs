//! Request extractors that turn every client mistake into a problem+json answer naming the
//! field at fault: JSON bodies (required or optional), query strings and path ids.

use crate::problem::ApiError;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;

/// A JSON body; malformed JSON is a 400, a missing or wrong field a 422 naming it.
pub struct ApiJson<T>(pub T);

/// A JSON body that may be absent: an empty body means `T::default()`.
pub struct OptionalJson<T>(pub T);

/// A query string; a bad parameter is a 400 naming it.
pub struct ApiQuery<T>(pub T);

/// Where in the input a serde error happened, as `a.b[2].c`, adding the name of a missing
/// field (serde reports those at the parent).
fn field_path(path: &serde_path_to_error::Path, message: &str) -> String {
    let mut field = path.to_string();
    if field == "." {
        field.clear();
    }
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(missing);
    }
    field
}

/// A 422 naming the field a serde data error points at.
fn data_error(path: &serde_path_to_error::Path, message: &str) -> ApiError {
    let field = field_path(path, message);
    // serde_json appends " at line L column C"; the field name says more.
    let detail = message.split(" at line ").next().unwrap_or(message).to_owned();
    let detail = if field.is_empty() {
        detail
    } else {
        format!("`{field}`: {detail}")
    };
    ApiError::invalid_field(field, detail)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body and frame is a JSON object; serde would also fill a struct from an array.
    if bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b != b'{')
    {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => ApiError::invalid_body("the body must be a JSON object"),
            Err(e) => ApiError::malformed_json(e.to_string()),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let message = error.inner().to_string();
        match error.inner().classify() {
            serde_json::error::Category::Data => data_error(error.path(), &message),
            _ => ApiError::malformed_json(message),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::malformed_json(e.to_string()))?;
    Ok(value)
}

/// Parses JSON text (a WebSocket frame) the way request bodies are parsed.
pub fn parse_json_text<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    parse_json(text.as_bytes())
}

async fn read_json_body(req: Request, state: &AppState) -> Result<Option<axum::body::Bytes>, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = state.config.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ApiError::payload_too_large(limit))?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let is_json = content_type.as_deref().is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if !is_json {
        return Err(ApiError::unsupported_media_type());
    }
    Ok(Some(bytes))
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match read_json_body(req, state).await? {
            Some(bytes) => parse_json(&bytes).map(ApiJson),
            None => Err(ApiError::malformed_json(
                "the request body is empty; a JSON object is required",
            )),
        }
    }
}

impl<T: DeserializeOwned + Default> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match read_json_body(req, state).await? {
            Some(bytes) => parse_json(&bytes).map(OptionalJson),
            None => Ok(OptionalJson(T::default())),
        }
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let message = error.inner().to_string();
                let field = field_path(error.path(), &message);
                ApiError::invalid_query(field.clone(), format!("`{field}`: {message}"))
            })
    }
}

/// The `{id}` of a conversation route. An id that is not a UUID names no conversation: 404.
pub struct ConversationPath(pub baton_domain::ConversationId);

impl<S: Send + Sync> FromRequestParts<S> for ConversationPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("no such conversation"))?;
        uuid::Uuid::parse_str(&raw)
            .map(|id| ConversationPath(baton_domain::ConversationId(id)))
            .map_err(|_| ApiError::not_found("no such conversation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        text: String,
        nested: Option<Nested>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        count: u32,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"nested": null}"#).expect_err("missing");
        assert_eq!(e.field.as_deref(), Some("text"));
        assert_eq!(e.status.as_u16(), 422);
        let e = parse_json::<Body>(br#"{"text": 5}"#).expect_err("type");
        assert_eq!(e.field.as_deref(), Some("text"));
        let e = parse_json::<Body>(br#"{"text": "a", "nested": {"count": "x"}}"#).expect_err("nested");
        assert_eq!(e.field.as_deref(), Some("nested.count"));
        let e = parse_json::<Body>(br#"{"text": "a""#).expect_err("syntax");
        assert_eq!(e.status.as_u16(), 400);
        let e = parse_json::<Body>(br#"{"text": "a"} trailing"#).expect_err("trailing");
        assert_eq!(e.status.as_u16(), 400);
        // Found by schemathesis: serde fills a struct from an array.
        let e = parse_json::<Body>(br#"["a", null]"#).expect_err("array");
        assert_eq!(e.status.as_u16(), 422);
        let e = parse_json::<Body>(b"  [1, ").expect_err("broken array");
        assert_eq!(e.status.as_u16(), 400);
    }
}

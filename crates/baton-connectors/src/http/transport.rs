//! One HTTP/JSON call to a shop system, made safely: URL built from percent-encoded segments,
//! auth header, per-attempt timeout, retries with exponential backoff for idempotent calls
//! only, the circuit breaker, bounded response bodies, and status classification into
//! answers and [`ConnectorError`]s.
//!
//! Owns: [`Transport`] and the meaning of statuses (2xx answer, 404 "none", other 4xx
//! `Refused`, 5xx/timeout/connection failure `Unavailable`/`Timeout` and a breaker failure).
//! Must not touch: which endpoint an operation uses or what its JSON means (that is
//! [`super`]), and never logs the auth value, request bodies or URLs (they carry e-mail
//! addresses).

use super::breaker::Breaker;
use super::HttpSettings;
use crate::error::ConnectorError;
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::error::Error as _;
use std::time::Duration;
use tokio::time::Instant;

/// Answers larger than this are refused as bad responses.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The longest pause between two attempts, however the backoff doubles.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How much of an error answer's body goes into an error's detail.
const DETAIL_CHARS: usize = 200;

/// One operation's request.
pub(crate) struct Call<'a> {
    pub operation: &'static str,
    /// What the call is about, for errors: an order number, an e-mail address, an id.
    pub input: &'a str,
    pub method: Method,
    /// Path segments below the base URL; each is percent-encoded.
    pub path: &'a [&'a str],
    /// Query pairs; names and values are form-encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// A JSON body.
    pub body: Option<serde_json::Value>,
    /// Sent as `Idempotency-Key` when non-empty; makes a POST retryable.
    pub idempotency_key: &'a str,
}

impl Call<'_> {
    fn retryable(&self) -> bool {
        self.method == Method::GET || (self.method == Method::POST && !self.idempotency_key.is_empty())
    }
}

/// What a call answered.
pub(crate) enum Answer<T> {
    Found(T),
    NotFound,
}

enum Attempt {
    Status(StatusCode, Vec<u8>),
    Timeout,
    Failed(String),
}

pub(crate) struct Transport {
    connector: &'static str,
    client: reqwest::Client,
    settings: HttpSettings,
    breaker: Breaker,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("connector", &self.connector)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A path segment that cannot be sent as itself: the URL library drops `.` and `..`, and an
/// empty segment would name the collection. No record has such a key.
pub(crate) fn unsendable_segment(segment: &str) -> bool {
    matches!(segment, "" | "." | "..")
}

impl Transport {
    pub(crate) fn new(connector: &'static str, settings: HttpSettings) -> Result<Self, reqwest::Error> {
        let mut client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &settings.extra_roots_pem {
            for root in reqwest::Certificate::from_pem_bundle(pem)? {
                client = client.add_root_certificate(root);
            }
        }
        let client = client.build()?;
        let breaker = Breaker::new(connector, settings.breaker_failures, settings.breaker_cooldown);
        Ok(Self {
            connector,
            client,
            settings,
            breaker,
        })
    }

    pub(crate) fn connector(&self) -> &'static str {
        self.connector
    }

    fn url(&self, call: &Call<'_>) -> Result<Url, ConnectorError> {
        let mut url = self.settings.base_url.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| ConnectorError::InvalidInput {
                connector: self.connector,
                operation: call.operation,
                input: call.input.to_owned(),
                detail: "the base URL cannot take a path".to_owned(),
            })?;
            segments.pop_if_empty().extend(call.path);
        }
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(call.query);
        }
        Ok(url)
    }

    /// Makes the call and decodes a 2xx answer's JSON as `T`.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<Answer<T>, ConnectorError> {
        let operation = call.operation;
        let input = call.input.to_owned();
        match self.call(call).await? {
            Answer::NotFound => Ok(Answer::NotFound),
            Answer::Found(body) => {
                serde_json::from_slice(&body)
                    .map(Answer::Found)
                    .map_err(|e| ConnectorError::BadResponse {
                        connector: self.connector,
                        operation,
                        input,
                        detail: format!("the JSON does not match the contract: {e}"),
                    })
            }
        }
    }

    /// Makes the call: the body of a 2xx answer, `NotFound` for 404, or an error.
    pub(crate) async fn call(&self, call: Call<'_>) -> Result<Answer<Vec<u8>>, ConnectorError> {
        let url = self.url(&call)?;
        let key = if call.idempotency_key.is_empty() {
            None
        } else {
            Some(
                HeaderValue::from_str(call.idempotency_key).map_err(|_| ConnectorError::InvalidInput {
                    connector: self.connector,
                    operation: call.operation,
                    input: call.input.to_owned(),
                    detail: "the idempotency key is not a valid header value".to_owned(),
                })?,
            )
        };
        let body = match &call.body {
            Some(value) => Some(serde_json::to_vec(value).map_err(|e| ConnectorError::InvalidInput {
                connector: self.connector,
                operation: call.operation,
                input: call.input.to_owned(),
                detail: format!("the body cannot be written as JSON: {e}"),
            })?),
            None => None,
        };
        let attempts = if call.retryable() {
            self.settings.retries.saturating_add(1)
        } else {
            1
        };
        let mut last_error = None;
        for attempt in 1..=attempts {
            let Some(permit) = self.breaker.admit() else {
                // Stopped by the breaker during retries: the real failure says more.
                return Err(last_error.unwrap_or_else(|| ConnectorError::CircuitOpen {
                    connector: self.connector,
                    operation: call.operation,
                    input: call.input.to_owned(),
                }));
            };
            let started = Instant::now();
            let outcome = self.attempt(&call, &url, key.as_ref(), body.as_deref()).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let error = match outcome {
                Attempt::Status(status, body) => {
                    tracing::debug!(
                        connector = self.connector,
                        operation = call.operation,
                        method = %call.method,
                        status = status.as_u16(),
                        elapsed_ms,
                        attempt,
                        "connector call"
                    );
                    if status.is_server_error() {
                        self.breaker.failure(permit);
                        ConnectorError::Unavailable {
                            connector: self.connector,
                            operation: call.operation,
                            input: call.input.to_owned(),
                            detail: format!("status {}{}", status.as_u16(), snippet(&body)),
                        }
                    } else {
                        self.breaker.success(permit);
                        return self.classify(&call, status, body);
                    }
                }
                Attempt::Timeout => {
                    tracing::debug!(
                        connector = self.connector,
                        operation = call.operation,
                        method = %call.method,
                        status = "timeout",
                        elapsed_ms,
                        attempt,
                        "connector call"
                    );
                    self.breaker.failure(permit);
                    ConnectorError::Timeout {
                        connector: self.connector,
                        operation: call.operation,
                        input: call.input.to_owned(),
                        after_ms: self.settings.timeout.as_millis() as u64,
                    }
                }
                Attempt::Failed(detail) => {
                    tracing::debug!(
                        connector = self.connector,
                        operation = call.operation,
                        method = %call.method,
                        status = "failed",
                        elapsed_ms,
                        attempt,
                        "connector call"
                    );
                    self.breaker.failure(permit);
                    ConnectorError::Unavailable {
                        connector: self.connector,
                        operation: call.operation,
                        input: call.input.to_owned(),
                        detail,
                    }
                }
            };
            if attempt < attempts {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
            last_error = Some(error);
        }
        Err(last_error.unwrap_or_else(|| ConnectorError::CircuitOpen {
            connector: self.connector,
            operation: call.operation,
            input: call.input.to_owned(),
        }))
    }

    /// The pause after failed attempt `attempt` (1-based): backoff, 2×backoff, 4×backoff, …
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.settings
            .backoff
            .checked_mul(factor)
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF)
    }

    fn classify(&self, call: &Call<'_>, status: StatusCode, body: Vec<u8>) -> Result<Answer<Vec<u8>>, ConnectorError> {
        if status.is_success() {
            Ok(Answer::Found(body))
        } else if status == StatusCode::NOT_FOUND {
            Ok(Answer::NotFound)
        } else if status.is_client_error() {
            Err(ConnectorError::Refused {
                connector: self.connector,
                operation: call.operation,
                input: call.input.to_owned(),
                status: status.as_u16(),
                detail: snippet(&body).trim_start_matches(": ").to_owned(),
            })
        } else {
            Err(ConnectorError::BadResponse {
                connector: self.connector,
                operation: call.operation,
                input: call.input.to_owned(),
                detail: format!("unexpected status {}", status.as_u16()),
            })
        }
    }

    async fn attempt(&self, call: &Call<'_>, url: &Url, key: Option<&HeaderValue>, body: Option<&[u8]>) -> Attempt {
        let mut request = self
            .client
            .request(call.method.clone(), url.clone())
            .header(ACCEPT, "application/json");
        if let Some(auth) = &self.settings.auth {
            request = request.header(auth.name().clone(), auth.value().clone());
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key.clone());
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status();
            let mut buffer = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if buffer.len() + chunk.len() > MAX_BODY_BYTES {
                    return Ok(Err(status));
                }
                buffer.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Ok((status, buffer)))
        };
        match tokio::time::timeout(self.settings.timeout, exchange).await {
            Err(_) => Attempt::Timeout,
            Ok(Ok(Ok((status, body)))) => Attempt::Status(status, body),
            Ok(Ok(Err(status))) => Attempt::Failed(format!(
                "status {} with a body over {MAX_BODY_BYTES} bytes",
                status.as_u16()
            )),
            Ok(Err(error)) => Attempt::Failed(describe(error)),
        }
    }
}

/// A transport error's chain of causes, without the URL (it may carry an e-mail address).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        error.to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The start of an answer's body for an error's detail (`": …"`), or nothing when empty.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text
        .trim()
        .chars()
        .take(DETAIL_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(base: &str) -> Transport {
        let url = Url::parse(base).expect("url");
        let mut settings = HttpSettings::new(url);
        settings.backoff = Duration::from_millis(100);
        Transport::new("orders", settings).expect("client")
    }

    fn call<'a>(path: &'a [&'a str], query: &'a [(&'a str, &'a str)]) -> Call<'a> {
        Call {
            operation: "order",
            input: "x",
            method: Method::GET,
            path,
            query,
            body: None,
            idempotency_key: "",
        }
    }

    #[test]
    fn urls_percent_encode_segments_and_query_values() {
        let t = transport("http://127.0.0.1:9/api/");
        let url = t.url(&call(&["orders", "54/192 ?#%"], &[])).expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/api/orders/54%2F192%20%3F%23%25");
        let url = t
            .url(&call(&["customers"], &[("email", "a+b&c=d@example.com")]))
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/api/customers?email=a%2Bb%26c%3Dd%40example.com"
        );
        let t = transport("http://127.0.0.1:9");
        let url = t.url(&call(&["tickets"], &[])).expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/tickets");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let t = transport("http://127.0.0.1:9/");
        assert_eq!(t.backoff(1), Duration::from_millis(100));
        assert_eq!(t.backoff(2), Duration::from_millis(200));
        assert_eq!(t.backoff(3), Duration::from_millis(400));
        assert_eq!(t.backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn only_gets_and_keyed_posts_are_retryable() {
        let mut c = call(&[], &[]);
        assert!(c.retryable());
        c.method = Method::POST;
        assert!(!c.retryable());
        c.idempotency_key = "k";
        assert!(c.retryable());
        c.method = Method::PATCH;
        assert!(!c.retryable());
    }
}

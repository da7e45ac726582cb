//! A test shop: a real axum server on a loopback port implementing the HTTP/JSON contract from
//! the crate's demo data, recording every request it sees and misbehaving on demand.
//!
//! Owns: the test server, its faults and its request log. Must not touch: the connectors under
//! test (tests build them against [`TestShop::base_url`]).

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use baton_connectors::http::HttpSettings;
use baton_connectors::{
    CustomerDirectory, DemoCustomers, DemoOrders, DemoTicketing, NewTicket, Orders, RefundReason, TicketUpdate,
    Ticketing,
};
use reqwest::Url;
use serde::Deserialize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How the server misbehaves before (or instead of) answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// Answers this status with a plain-text body.
    Status(u16),
    /// Answers 200 with a truncated JSON body.
    Malformed,
    /// Answers `status` to the next `remaining` requests, then normally.
    FailFirst {
        status: u16,
        remaining: u32,
    },
}

/// One request the server saw (before any fault).
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Inner {
    pub customers: DemoCustomers,
    pub orders: DemoOrders,
    pub tickets: DemoTicketing,
    fault: Mutex<Fault>,
    hits: Mutex<Vec<Hit>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct TestShop {
    pub addr: std::net::SocketAddr,
    pub inner: Arc<Inner>,
    /// `http`, or `https` for [`TestShop::start_tls`].
    scheme: &'static str,
}

impl TestShop {
    /// Starts the server on 127.0.0.1:0 with a fresh demo shop; it serves until the test's
    /// runtime ends.
    pub async fn start() -> Self {
        let (inner, app) = Self::app();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            inner,
            scheme: "http",
        }
    }

    /// The same shop over TLS, with the certificate `tests/tls/server.pem` (for 127.0.0.1 and
    /// localhost, issued by the test CA `tests/tls/ca.pem`; made for these tests only).
    #[allow(dead_code)] // used by tests/https.rs only
    pub async fn start_tls() -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let (inner, app) = Self::app();
        let certificates: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(include_bytes!("../tls/server.pem"))
                .collect::<Result<_, _>>()
                .expect("the test certificate");
        let key = PrivateKeyDer::from_pem_slice(include_bytes!("../tls/server.key")).expect("the test key");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certificates, key)
            .expect("a server configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to serve.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            inner,
            scheme: "https",
        }
    }

    fn app() -> (Arc<Inner>, Router) {
        let inner = Arc::new(Inner {
            customers: DemoCustomers::new(),
            orders: DemoOrders::new(),
            tickets: DemoTicketing::new(),
            fault: Mutex::new(Fault::None),
            hits: Mutex::new(Vec::new()),
        });
        let api = Router::new()
            .route("/customers", get(find_by_email))
            .route("/customers/{id}", get(customer))
            .route("/customers/{id}/orders", get(orders_of))
            .route("/orders/{number}", get(order))
            .route("/orders/{number}/refund-eligibility", get(refund_eligibility))
            .route("/orders/{number}/refunds", post(start_refund))
            .route("/orders/{number}/cancel", post(cancel_order))
            .route("/orders/{number}/address", post(change_address))
            .route("/tickets", post(create_ticket).get(open_tickets))
            .route("/tickets/{id}", patch(update_ticket));
        let app = Router::new()
            .nest("/api", api)
            .layer(middleware::from_fn_with_state(inner.clone(), record_and_misbehave))
            .with_state(inner.clone());
        (inner, app)
    }

    /// The contract's base URL, below a path so the connectors must keep it.
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("{}://{}/api", self.scheme, self.addr)).expect("base URL")
    }

    /// Settings for tests: 5 s timeout (tests of timeouts set their own: a loaded machine
    /// must not turn an answer into a timeout), 2 retries from 10 ms, breaker after 100.
    pub fn settings(&self) -> HttpSettings {
        let mut settings = HttpSettings::new(self.base_url());
        settings.timeout = Duration::from_secs(5);
        settings.retries = 2;
        settings.backoff = Duration::from_millis(10);
        settings.breaker_failures = 100;
        settings.breaker_cooldown = Duration::from_millis(200);
        settings
    }

    pub fn set_fault(&self, fault: Fault) {
        *lock(&self.inner.fault) = fault;
    }

    pub fn hits(&self) -> Vec<Hit> {
        lock(&self.inner.hits).clone()
    }

    /// Requests seen whose path is `path` (below the base, e.g. `/orders/54210/refunds`).
    pub fn hits_on(&self, path: &str) -> Vec<Hit> {
        let full = format!("/api{path}");
        self.hits().into_iter().filter(|h| h.path == full).collect()
    }
}

/// A loopback URL where nothing listens: a port bound, then released.
pub async fn refused_url() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    Url::parse(&format!("http://{addr}/api")).expect("URL")
}

async fn record_and_misbehave(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    lock(&inner.hits).push(Hit {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        headers: request.headers().clone(),
    });
    let fault = {
        let mut fault = lock(&inner.fault);
        match *fault {
            Fault::FailFirst { status, remaining } if remaining > 0 => {
                *fault = Fault::FailFirst {
                    status,
                    remaining: remaining - 1,
                };
                Fault::Status(status)
            }
            Fault::FailFirst { .. } => Fault::None,
            other => other,
        }
    };
    match fault {
        Fault::None | Fault::FailFirst { .. } => next.run(request).await,
        Fault::Slow(pause) => {
            tokio::time::sleep(pause).await;
            next.run(request).await
        }
        Fault::Status(status) => (
            StatusCode::from_u16(status).expect("a valid status"),
            "injected failure",
        )
            .into_response(),
        Fault::Malformed => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            "{\"number\": \"54192\", \"status\": ",
        )
            .into_response(),
    }
}

type Shared = State<Arc<Inner>>;

fn key(headers: &HeaderMap) -> &str {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn json_or_404<T: serde::Serialize>(value: Option<T>) -> Response {
    match value {
        Some(value) => Json(value).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct EmailQuery {
    email: String,
}

async fn find_by_email(State(inner): Shared, Query(q): Query<EmailQuery>) -> Response {
    json_or_404(inner.customers.find_by_email(&q.email).await.expect("demo"))
}

async fn customer(State(inner): Shared, Path(id): Path<String>) -> Response {
    json_or_404(inner.customers.customer(&id).await.expect("demo"))
}

async fn orders_of(State(inner): Shared, Path(id): Path<String>) -> Response {
    if inner.customers.customer(&id).await.expect("demo").is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(inner.orders.orders_of(&id).await.expect("demo")).into_response()
}

async fn order(State(inner): Shared, Path(number): Path<String>) -> Response {
    json_or_404(inner.orders.snapshot(&number))
}

#[derive(Deserialize)]
struct ReasonQuery {
    reason: RefundReason,
}

async fn refund_eligibility(
    State(inner): Shared,
    Path(number): Path<String>,
    Query(q): Query<ReasonQuery>,
) -> Response {
    if inner.orders.snapshot(&number).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let answer = inner.orders.refund_eligibility(&number, q.reason).await;
    Json(answer.expect("demo")).into_response()
}

#[derive(Deserialize)]
struct RefundBody {
    reason: RefundReason,
}

async fn start_refund(
    State(inner): Shared,
    Path(number): Path<String>,
    headers: HeaderMap,
    Json(body): Json<RefundBody>,
) -> Response {
    if inner.orders.snapshot(&number).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let result = inner.orders.start_refund(&number, body.reason, key(&headers)).await;
    (StatusCode::CREATED, Json(result.expect("demo"))).into_response()
}

async fn cancel_order(State(inner): Shared, Path(number): Path<String>, headers: HeaderMap) -> Response {
    if inner.orders.snapshot(&number).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let result = inner.orders.cancel_order(&number, key(&headers)).await;
    Json(result.expect("demo")).into_response()
}

#[derive(Deserialize)]
struct AddressBody {
    address: String,
}

async fn change_address(
    State(inner): Shared,
    Path(number): Path<String>,
    headers: HeaderMap,
    Json(body): Json<AddressBody>,
) -> Response {
    if inner.orders.snapshot(&number).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let result = inner.orders.change_address(&number, &body.address, key(&headers)).await;
    Json(result.expect("demo")).into_response()
}

async fn create_ticket(State(inner): Shared, headers: HeaderMap, Json(ticket): Json<NewTicket>) -> Response {
    let ticket = inner.tickets.create_ticket(ticket, key(&headers)).await;
    (StatusCode::CREATED, Json(ticket.expect("demo"))).into_response()
}

#[derive(Deserialize)]
struct TicketsQuery {
    customer_email: String,
    status: String,
}

async fn open_tickets(State(inner): Shared, Query(query): Query<TicketsQuery>) -> Response {
    assert_eq!(query.status, "open", "Baton asks for open tickets only");
    Json(inner.tickets.open_tickets(&query.customer_email).await.expect("demo")).into_response()
}

async fn update_ticket(State(inner): Shared, Path(id): Path<String>, Json(update): Json<TicketUpdate>) -> Response {
    json_or_404(inner.tickets.update_ticket(&id, update).await.ok())
}

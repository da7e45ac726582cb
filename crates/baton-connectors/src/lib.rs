//! Baton's connections to the shop's systems: the customer directory (`crm`), the order system
//! (`orders`) and the help desk (`ticketing`), behind the async traits [`CustomerDirectory`],
//! [`Orders`] and [`Ticketing`]. Each has two implementations: the built-in demo shop
//! ([`demo`]) and HTTP/JSON ([`http`]); [`Connectors::from_config`] picks one per connector
//! from the `[connectors]` configuration section ([`ConnectorsConfig`]).
//!
//! Owns: the connector traits, their data types, [`ConnectorError`], the configuration section
//! and [`Connectors`]. Must not touch: conversations, dialogue, message understanding, the
//! store or Baton's own HTTP API; this crate does the I/O to the shop and nothing else.
//!
//! # The HTTP/JSON contract
//!
//! An integrator implements these endpoints below the connector's `base_url` (each connector
//! may have its own). Bodies are JSON, the serde forms of this crate's types: snake_case enum
//! values, dates as `YYYY-MM-DD`, money as `{"amount_cents": 4990, "currency": "EUR"}`.
//! Unknown fields in answers are ignored; `Option` fields may be absent or `null`. Path
//! segments and query values are percent-encoded.
//!
//! | connector | operation            | request                                                            | answer |
//! |-----------|----------------------|--------------------------------------------------------------------|--------|
//! | crm       | `find_by_email`      | `GET {base}/customers?email={email}`                               | 200 [`Customer`] · 404 → `None` |
//! | crm       | `customer`           | `GET {base}/customers/{id}`                                        | 200 [`Customer`] · 404 → `None` |
//! | orders    | `order`              | `GET {base}/orders/{number}`                                       | 200 [`Order`] · 404 → `None` |
//! | orders    | `orders_of`          | `GET {base}/customers/{id}/orders`                                 | 200 `[Order]` · 404 → empty |
//! | orders    | `refund_eligibility` | `GET {base}/orders/{number}/refund-eligibility?reason={reason}`    | 200 [`RefundEligibility`] · 404 → not eligible |
//! | orders    | `start_refund`       | `POST {base}/orders/{number}/refunds` `{"reason": "duplicate_charge"}` + `Idempotency-Key` | 200/201 [`RefundResult`] · 404 → `Failed` |
//! | orders    | `cancel_order`       | `POST {base}/orders/{number}/cancel` `{}` + `Idempotency-Key`      | 200/201 [`ChangeResult`] · 404 → `Refused` |
//! | orders    | `change_address`     | `POST {base}/orders/{number}/address` `{"address": "…"}` + `Idempotency-Key` | 200/201 [`ChangeResult`] · 404 → `Refused` |
//! | ticketing | `create_ticket`      | `POST {base}/tickets` [`NewTicket`] + `Idempotency-Key`            | 200/201 [`Ticket`] |
//! | ticketing | `update_ticket`      | `PATCH {base}/tickets/{id}` [`TicketUpdate`] (absent fields unchanged) | 200 [`Ticket`] · 404 → [`ConnectorError::NotFound`] |
//!
//! Results are tagged by `result`:
//! `{"result": "started", "refund_id": "RF-1", "amount": {"amount_cents": 4990, "currency": "EUR"}}`,
//! `{"result": "failed", "reason": "…"}`, `{"result": "done", "detail": "…"}`,
//! `{"result": "refused", "reason": "…"}`. A `failed` refund or a `refused` change is the
//! shop's answer (e.g. the order has shipped), not an error. A repeated `Idempotency-Key` must
//! answer the first result without acting again. The configured auth header (e.g.
//! `Authorization: Bearer …`) goes with every request.
//!
//! # Behaviour of the HTTP connectors
//!
//! | answer                                    | result                                   | retried¹ | breaker |
//! |-------------------------------------------|------------------------------------------|----------|---------|
//! | 2xx with the expected JSON                | the value                                | –        | success |
//! | 2xx with malformed or unexpected JSON     | [`ConnectorError::BadResponse`]          | no       | success |
//! | 404                                       | "none" as in the table above             | –        | success |
//! | other 4xx                                 | [`ConnectorError::Refused`] (status, start of the body) | no | success |
//! | 1xx/3xx (redirects are not followed)      | [`ConnectorError::BadResponse`]          | no       | success |
//! | 5xx                                       | [`ConnectorError::Unavailable`]          | yes      | failure |
//! | no complete answer within `timeout_ms`    | [`ConnectorError::Timeout`]              | yes      | failure |
//! | connection refused/reset, body over 4 MiB | [`ConnectorError::Unavailable`]          | yes      | failure |
//! | circuit open                              | [`ConnectorError::CircuitOpen`], nothing sent | –   | –       |
//!
//! ¹ Only idempotent calls are retried: GETs, and POSTs carrying an `Idempotency-Key` (every
//! attempt sends the same key). A POST with an empty key (sent without the header) and the
//! PATCH are made once. `timeout_ms` limits each attempt; retries wait `backoff_ms`, then
//! twice that, and so on. Each connector instance has its own circuit breaker: after
//! `breaker_failures` consecutive failures calls fail fast until `breaker_cooldown_ms` has
//! passed; then one trial call goes through, and its success closes the circuit while its
//! failure opens it again. Each attempt is logged with `tracing` at debug level (connector,
//! operation, method, status, elapsed milliseconds, attempt), never with the URL (it may carry
//! an e-mail address), a body or the auth value. Base URLs are `http://` or `https://`;
//! TLS is rustls with the platform's root certificates plus those of an optional `ca_file`.
//!
//! # The demo shop
//!
//! See [`demo`] for the customers, orders and rules; Sarah Chen's duplicate charge on order
//! 54192 is eligible for a refund that the automatic workflow then fails to make.

pub mod config;
pub mod demo;
mod error;
pub mod http;
mod model;
mod traits;

pub use config::{ConnectorConfig, ConnectorConfigError, ConnectorKind, ConnectorsConfig};
pub use demo::{demo_customers, demo_orders, DemoCustomers, DemoOrders, DemoTicketing, DEMO_REFUND_FAILURE};
pub use error::ConnectorError;
pub use http::{AuthHeader, HttpCustomers, HttpOrders, HttpSettings, HttpTicketing};
pub use model::{
    ChangeResult, Customer, Money, NewTicket, Order, OrderItem, OrderStatus, Payment, PaymentStatus, RefundEligibility,
    RefundReason, RefundResult, Ticket, TicketPriority, TicketStatus, TicketSummary, TicketUpdate, Tier,
};
pub use traits::{CustomerDirectory, Orders, Ticketing};

use std::fmt;
use std::sync::Arc;

/// The three connectors the bot uses, each demo or HTTP.
#[derive(Clone)]
pub struct Connectors {
    pub customers: Arc<dyn CustomerDirectory>,
    pub orders: Arc<dyn Orders>,
    pub tickets: Arc<dyn Ticketing>,
}

impl fmt::Debug for Connectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connectors").finish_non_exhaustive()
    }
}

impl Connectors {
    /// All three connectors on a fresh demo shop.
    pub fn demo() -> Self {
        Self {
            customers: Arc::new(DemoCustomers::new()),
            orders: Arc::new(DemoOrders::new()),
            tickets: Arc::new(DemoTicketing::new()),
        }
    }

    /// The connectors the configuration asks for (an absent section is the demo), reading the
    /// auth headers' values from the process environment.
    pub fn from_config(config: &ConnectorsConfig) -> Result<Self, ConnectorConfigError> {
        Self::from_config_with_env(config, &|name| std::env::var(name).ok())
    }

    /// As [`Connectors::from_config`], reading environment variables through `env`.
    pub fn from_config_with_env(
        config: &ConnectorsConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConnectorConfigError> {
        let demo = ConnectorConfig::default();
        let section = |name: &'static str, config: &Option<ConnectorConfig>| {
            let config = config.as_ref().unwrap_or(&demo);
            match config.kind {
                ConnectorKind::Demo => config.check_demo(name).map(|()| None),
                ConnectorKind::Http => {
                    let mut settings = config.http_settings(name, env)?;
                    if let Some(path) = &config.ca_file {
                        let invalid = |message: String| ConnectorConfigError::Invalid {
                            section: name,
                            field: "ca_file",
                            message,
                        };
                        let pem = std::fs::read(path).map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
                        match reqwest::Certificate::from_pem_bundle(&pem) {
                            Ok(roots) if !roots.is_empty() => {}
                            Ok(_) => return Err(invalid(format!("{path} holds no PEM certificate"))),
                            Err(e) => return Err(invalid(format!("{path} is not a PEM certificate bundle: {e}"))),
                        }
                        settings.extra_roots_pem = Some(pem);
                    }
                    Ok(Some(settings))
                }
            }
        };
        let client_error = |section: &'static str| {
            move |e: reqwest::Error| ConnectorConfigError::Client {
                section,
                detail: e.to_string(),
            }
        };
        let customers: Arc<dyn CustomerDirectory> = match section("crm", &config.crm)? {
            None => Arc::new(DemoCustomers::new()),
            Some(settings) => Arc::new(HttpCustomers::new(settings).map_err(client_error("crm"))?),
        };
        let orders: Arc<dyn Orders> = match section("orders", &config.orders)? {
            None => Arc::new(DemoOrders::new()),
            Some(settings) => Arc::new(HttpOrders::new(settings).map_err(client_error("orders"))?),
        };
        let tickets: Arc<dyn Ticketing> = match section("ticketing", &config.ticketing)? {
            None => Arc::new(DemoTicketing::new()),
            Some(settings) => Arc::new(HttpTicketing::new(settings).map_err(client_error("ticketing"))?),
        };
        Ok(Self {
            customers,
            orders,
            tickets,
        })
    }
}

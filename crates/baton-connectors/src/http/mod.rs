//! The HTTP/JSON implementations of the connector traits: [`HttpCustomers`], [`HttpOrders`],
//! [`HttpTicketing`], each with its own client, timeout, retries and circuit breaker
//! ([`HttpSettings`]). The endpoints are the contract in the [crate docs](crate).
//!
//! Owns: which method and path each operation uses, what it sends, and how a 404 reads for
//! that operation. Must not touch: retries, timeouts, the breaker or status classification
//! (that is `transport`), configuration files or environment variables (that is
//! [`crate::config`]).

mod breaker;
mod transport;

use crate::error::ConnectorError;
use crate::model::{
    ChangeResult, Customer, NewTicket, Order, RefundEligibility, RefundReason, RefundResult, Ticket, TicketSummary,
    TicketUpdate,
};
use crate::traits::{CustomerDirectory, Orders, Ticketing};
use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde_json::json;
use std::fmt;
use std::time::Duration;
use transport::{unsendable_segment, Answer, Call, Transport};

/// A header sent with every call, such as `Authorization: Bearer …`. Its value never prints.
#[derive(Clone)]
pub struct AuthHeader {
    name: HeaderName,
    value: HeaderValue,
}

/// Which part of an [`AuthHeader`] is not valid in HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAuthHeader {
    #[error("not a valid header name")]
    Name,
    #[error("not a valid header value")]
    Value,
}

impl AuthHeader {
    pub fn new(name: &str, value: &str) -> Result<Self, InvalidAuthHeader> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidAuthHeader::Name)?;
        let mut value = HeaderValue::from_str(value).map_err(|_| InvalidAuthHeader::Value)?;
        value.set_sensitive(true);
        Ok(Self { name, value })
    }

    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    pub(crate) fn value(&self) -> &HeaderValue {
        &self.value
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthHeader")
            .field("name", &self.name)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// How an HTTP connector reaches its system and how patient it is.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The base the contract's paths go below, e.g. `https://crm.example/api`.
    pub base_url: Url,
    pub auth: Option<AuthHeader>,
    /// Limit of one attempt, from sending the request to the end of the answer's body.
    pub timeout: Duration,
    /// Extra attempts for idempotent calls (GETs, POSTs with an idempotency key).
    pub retries: u32,
    /// Pause after the first failed attempt; doubles after each (at most 30 s).
    pub backoff: Duration,
    /// Consecutive failures that open the circuit (at least 1).
    pub breaker_failures: u32,
    /// How long the circuit stays open before one trial call.
    pub breaker_cooldown: Duration,
    /// Certificate authorities (PEM) trusted for `https://` besides the system's, e.g. an
    /// internal CA.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl HttpSettings {
    /// The configuration defaults: 2 s timeout, 2 retries from 100 ms, breaker after 5
    /// failures for 30 s, no auth header.
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            auth: None,
            timeout: Duration::from_millis(crate::config::DEFAULT_TIMEOUT_MS),
            retries: crate::config::DEFAULT_RETRIES,
            backoff: Duration::from_millis(crate::config::DEFAULT_BACKOFF_MS),
            breaker_failures: crate::config::DEFAULT_BREAKER_FAILURES,
            breaker_cooldown: Duration::from_millis(crate::config::DEFAULT_BREAKER_COOLDOWN_MS),
            extra_roots_pem: None,
        }
    }
}

fn get<'a>(operation: &'static str, input: &'a str, path: &'a [&'a str], query: &'a [(&'a str, &'a str)]) -> Call<'a> {
    Call {
        operation,
        input,
        method: Method::GET,
        path,
        query,
        body: None,
        idempotency_key: "",
    }
}

fn post<'a>(
    operation: &'static str,
    input: &'a str,
    path: &'a [&'a str],
    body: serde_json::Value,
    idempotency_key: &'a str,
) -> Call<'a> {
    Call {
        operation,
        input,
        method: Method::POST,
        path,
        query: &[],
        body: Some(body),
        idempotency_key,
    }
}

/// The customer directory over HTTP (connector `crm`).
#[derive(Debug)]
pub struct HttpCustomers {
    transport: Transport,
}

impl HttpCustomers {
    pub fn new(settings: HttpSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            transport: Transport::new("crm", settings)?,
        })
    }
}

#[async_trait]
impl CustomerDirectory for HttpCustomers {
    async fn find_by_email(&self, email: &str) -> Result<Option<Customer>, ConnectorError> {
        Ok(found(
            self.transport
                .json(get("find_by_email", email, &["customers"], &[("email", email)]))
                .await?,
        ))
    }

    async fn customer(&self, id: &str) -> Result<Option<Customer>, ConnectorError> {
        if unsendable_segment(id) {
            return Ok(None);
        }
        Ok(found(
            self.transport
                .json(get("customer", id, &["customers", id], &[]))
                .await?,
        ))
    }
}

fn found<T>(answer: Answer<T>) -> Option<T> {
    match answer {
        Answer::Found(value) => Some(value),
        Answer::NotFound => None,
    }
}

fn no_order(number: &str) -> String {
    format!("there is no order {number}")
}

/// The order system over HTTP (connector `orders`).
#[derive(Debug)]
pub struct HttpOrders {
    transport: Transport,
}

impl HttpOrders {
    pub fn new(settings: HttpSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            transport: Transport::new("orders", settings)?,
        })
    }

    async fn change(
        &self,
        operation: &'static str,
        number: &str,
        action: &str,
        body: serde_json::Value,
        idempotency_key: &str,
    ) -> Result<ChangeResult, ConnectorError> {
        if unsendable_segment(number) {
            return Ok(ChangeResult::Refused {
                reason: no_order(number),
            });
        }
        Ok(
            match self
                .transport
                .json(post(
                    operation,
                    number,
                    &["orders", number, action],
                    body,
                    idempotency_key,
                ))
                .await?
            {
                Answer::Found(result) => result,
                Answer::NotFound => ChangeResult::Refused {
                    reason: no_order(number),
                },
            },
        )
    }
}

#[async_trait]
impl Orders for HttpOrders {
    async fn order(&self, number: &str) -> Result<Option<Order>, ConnectorError> {
        if unsendable_segment(number) {
            return Ok(None);
        }
        Ok(found(
            self.transport
                .json(get("order", number, &["orders", number], &[]))
                .await?,
        ))
    }

    async fn orders_of(&self, customer_id: &str) -> Result<Vec<Order>, ConnectorError> {
        if unsendable_segment(customer_id) {
            return Ok(Vec::new());
        }
        Ok(found(
            self.transport
                .json(get(
                    "orders_of",
                    customer_id,
                    &["customers", customer_id, "orders"],
                    &[],
                ))
                .await?,
        )
        .unwrap_or_default())
    }

    async fn refund_eligibility(
        &self,
        number: &str,
        reason: RefundReason,
    ) -> Result<RefundEligibility, ConnectorError> {
        let not_found = || RefundEligibility {
            eligible: false,
            amount: None,
            explanation: no_order(number),
        };
        if unsendable_segment(number) {
            return Ok(not_found());
        }
        Ok(found(
            self.transport
                .json(get(
                    "refund_eligibility",
                    number,
                    &["orders", number, "refund-eligibility"],
                    &[("reason", reason.as_str())],
                ))
                .await?,
        )
        .unwrap_or_else(not_found))
    }

    async fn start_refund(
        &self,
        number: &str,
        reason: RefundReason,
        idempotency_key: &str,
    ) -> Result<RefundResult, ConnectorError> {
        let not_found = || RefundResult::Failed {
            reason: no_order(number),
        };
        if unsendable_segment(number) {
            return Ok(not_found());
        }
        Ok(found(
            self.transport
                .json(post(
                    "start_refund",
                    number,
                    &["orders", number, "refunds"],
                    json!({ "reason": reason }),
                    idempotency_key,
                ))
                .await?,
        )
        .unwrap_or_else(not_found))
    }

    async fn cancel_order(&self, number: &str, idempotency_key: &str) -> Result<ChangeResult, ConnectorError> {
        self.change("cancel_order", number, "cancel", json!({}), idempotency_key)
            .await
    }

    async fn change_address(
        &self,
        number: &str,
        address: &str,
        idempotency_key: &str,
    ) -> Result<ChangeResult, ConnectorError> {
        self.change(
            "change_address",
            number,
            "address",
            json!({ "address": address }),
            idempotency_key,
        )
        .await
    }
}

/// The help desk over HTTP (connector `ticketing`).
#[derive(Debug)]
pub struct HttpTicketing {
    transport: Transport,
}

impl HttpTicketing {
    pub fn new(settings: HttpSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            transport: Transport::new("ticketing", settings)?,
        })
    }
}

#[async_trait]
impl Ticketing for HttpTicketing {
    async fn create_ticket(&self, ticket: NewTicket, idempotency_key: &str) -> Result<Ticket, ConnectorError> {
        let input = format!("conversation {}", ticket.conversation_id);
        let body = serde_json::to_value(&ticket).map_err(|e| ConnectorError::InvalidInput {
            connector: self.transport.connector(),
            operation: "create_ticket",
            input: input.clone(),
            detail: format!("the ticket cannot be written as JSON: {e}"),
        })?;
        match self
            .transport
            .json(post("create_ticket", &input, &["tickets"], body, idempotency_key))
            .await?
        {
            Answer::Found(ticket) => Ok(ticket),
            Answer::NotFound => Err(ConnectorError::Refused {
                connector: self.transport.connector(),
                operation: "create_ticket",
                input,
                status: 404,
                detail: "the tickets endpoint was not found".to_owned(),
            }),
        }
    }

    async fn open_tickets(&self, customer_email: &str) -> Result<Vec<TicketSummary>, ConnectorError> {
        Ok(found(
            self.transport
                .json(get(
                    "open_tickets",
                    customer_email,
                    &["tickets"],
                    &[("customer_email", customer_email), ("status", "open")],
                ))
                .await?,
        )
        .unwrap_or_default())
    }

    async fn update_ticket(&self, id: &str, update: TicketUpdate) -> Result<Ticket, ConnectorError> {
        let not_found = || ConnectorError::NotFound {
            connector: self.transport.connector(),
            operation: "update_ticket",
            input: id.to_owned(),
        };
        if unsendable_segment(id) {
            return Err(not_found());
        }
        let body = serde_json::to_value(&update).map_err(|e| ConnectorError::InvalidInput {
            connector: self.transport.connector(),
            operation: "update_ticket",
            input: id.to_owned(),
            detail: format!("the update cannot be written as JSON: {e}"),
        })?;
        match self
            .transport
            .json(Call {
                operation: "update_ticket",
                input: id,
                method: Method::PATCH,
                path: &["tickets", id],
                query: &[],
                body: Some(body),
                idempotency_key: "",
            })
            .await?
        {
            Answer::Found(ticket) => Ok(ticket),
            Answer::NotFound => Err(not_found()),
        }
    }
}

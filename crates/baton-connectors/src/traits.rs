//! The three doors to the shop's systems, as async traits: the customer directory (CRM), the
//! order system and the help desk. Each has a demo implementation ([`crate::demo`]) and an
//! HTTP/JSON one ([`crate::http`]).
//!
//! Owns: the trait signatures and their documented meaning (what "none" and each outcome
//! mean). Must not touch: any implementation detail, configuration or conversation logic.

use crate::error::ConnectorError;
use crate::model::{
    ChangeResult, Customer, NewTicket, Order, RefundEligibility, RefundReason, RefundResult, Ticket, TicketSummary,
    TicketUpdate,
};
use async_trait::async_trait;

/// The shop's customer directory (connector name `crm`).
#[async_trait]
pub trait CustomerDirectory: Send + Sync {
    /// The customer with this e-mail address, or `None` when there is none.
    async fn find_by_email(&self, email: &str) -> Result<Option<Customer>, ConnectorError>;

    /// The customer with this id, or `None` when there is none.
    async fn customer(&self, id: &str) -> Result<Option<Customer>, ConnectorError>;
}

/// The shop's order system (connector name `orders`).
///
/// The changing calls take an idempotency key: a call repeated with a key already used
/// answers the first result and changes nothing. An empty key means "no key": the call is
/// made once, without deduplication and without retries.
#[async_trait]
pub trait Orders: Send + Sync {
    /// The order with this number, or `None` when there is none.
    async fn order(&self, number: &str) -> Result<Option<Order>, ConnectorError>;

    /// The customer's orders, newest first; empty for an unknown customer.
    async fn orders_of(&self, customer_id: &str) -> Result<Vec<Order>, ConnectorError>;

    /// Whether the order would be refunded for this reason. An unknown order is not eligible.
    async fn refund_eligibility(&self, number: &str, reason: RefundReason)
        -> Result<RefundEligibility, ConnectorError>;

    /// Asks the shop's refund workflow to refund the order. `Failed` when the workflow refused
    /// or failed (including an unknown order or nothing left to refund).
    async fn start_refund(
        &self,
        number: &str,
        reason: RefundReason,
        idempotency_key: &str,
    ) -> Result<RefundResult, ConnectorError>;

    /// Cancels the order: `Refused` once it has shipped, or for an unknown order.
    async fn cancel_order(&self, number: &str, idempotency_key: &str) -> Result<ChangeResult, ConnectorError>;

    /// Changes the shipping address: `Refused` once it has shipped, or for an unknown order.
    async fn change_address(
        &self,
        number: &str,
        address: &str,
        idempotency_key: &str,
    ) -> Result<ChangeResult, ConnectorError>;
}

/// The shop's help desk (connector name `ticketing`).
#[async_trait]
pub trait Ticketing: Send + Sync {
    /// Opens a ticket; a key already used answers the ticket it opened.
    async fn create_ticket(&self, ticket: NewTicket, idempotency_key: &str) -> Result<Ticket, ConnectorError>;

    /// Changes a ticket's status and/or adds a note; an unknown id is
    /// [`ConnectorError::NotFound`]. Not idempotent (a note is appended), so never retried.
    async fn update_ticket(&self, id: &str, update: TicketUpdate) -> Result<Ticket, ConnectorError>;

    /// The customer's tickets that are not solved (open or pending), for the handoff's package.
    async fn open_tickets(&self, customer_email: &str) -> Result<Vec<TicketSummary>, ConnectorError>;
}

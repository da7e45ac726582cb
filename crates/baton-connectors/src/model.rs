//! The shop's records as the connectors exchange them: customers, orders, payments, refunds,
//! order changes and tickets, with their JSON forms (the HTTP contract's bodies are the serde
//! forms of these types: snake_case enums, ISO `YYYY-MM-DD` dates, money in minor units).
//!
//! Owns: the data types and the few pure rules on them (money display, duplicate payments).
//! Must not touch: I/O, configuration, conversations or Baton's own HTTP API.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::Date;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// A customer's standing with the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Standard,
    Plus,
    Vip,
}

/// An amount of money in minor units (cents), shown with two decimals: `49.90 EUR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount_cents: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
}

impl Money {
    pub fn new(amount_cents: i64, currency: impl Into<String>) -> Self {
        Self {
            amount_cents,
            currency: currency.into(),
        }
    }

    /// An amount in euros, given in cents.
    pub fn eur(amount_cents: i64) -> Self {
        Self::new(amount_cents, "EUR")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount_cents < 0 { "-" } else { "" };
        let abs = self.amount_cents.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

/// Someone who buys from the shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    /// E.164, e.g. `+14155550142`.
    #[serde(default)]
    pub phone: Option<String>,
    /// The language the customer writes in: `en` or `es`.
    pub language: String,
    pub tier: Tier,
    pub lifetime_value: Money,
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Processing,
    Shipped,
    InTransit,
    Delivered,
    Cancelled,
    Returned,
    Refunded,
    Delayed,
}

impl OrderStatus {
    /// The snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::InTransit => "in_transit",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Returned => "returned",
            Self::Refunded => "refunded",
            Self::Delayed => "delayed",
        }
    }

    /// Every status, in declaration order.
    pub const ALL: [OrderStatus; 8] = [
        Self::Processing,
        Self::Shipped,
        Self::InTransit,
        Self::Delivered,
        Self::Cancelled,
        Self::Returned,
        Self::Refunded,
        Self::Delayed,
    ];
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub name: String,
    pub quantity: u32,
}

/// What happened to a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Captured,
    Refunded,
    Failed,
}

/// One charge against an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub amount: Money,
    #[serde(with = "iso_date")]
    pub on: Date,
    pub status: PaymentStatus,
}

/// An order as the shop's order system knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Five digits in the demo data, e.g. `54192`.
    pub number: String,
    pub customer_id: String,
    pub status: OrderStatus,
    #[serde(with = "iso_date")]
    pub placed_on: Date,
    pub total: Money,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    #[serde(default)]
    pub carrier: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default, with = "iso_date::option")]
    pub estimated_delivery: Option<Date>,
    pub shipping_address: String,
    #[serde(default)]
    pub payments: Vec<Payment>,
}

impl Order {
    /// Captured payments beyond the first with the same amount (and currency) on the same day,
    /// in the order they appear. Failed and refunded payments never count.
    pub fn duplicate_payments(&self) -> Vec<&Payment> {
        let mut first: Vec<(&Money, Date)> = Vec::new();
        let mut duplicates = Vec::new();
        for payment in self.payments.iter().filter(|p| p.status == PaymentStatus::Captured) {
            if first
                .iter()
                .any(|(amount, on)| **amount == payment.amount && *on == payment.on)
            {
                duplicates.push(payment);
            } else {
                first.push((&payment.amount, payment.on));
            }
        }
        duplicates
    }
}

/// Why a customer wants money back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    DuplicateCharge,
    Return,
    Cancelled,
    Other,
}

impl RefundReason {
    /// The snake_case name, as in JSON and in the `reason` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DuplicateCharge => "duplicate_charge",
            Self::Return => "return",
            Self::Cancelled => "cancelled",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for RefundReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the shop would refund an order for a reason, and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundEligibility {
    pub eligible: bool,
    #[serde(default)]
    pub amount: Option<Money>,
    /// One sentence for a person: why (not).
    pub explanation: String,
}

/// What the shop's refund workflow did. `Failed` is a business outcome (the workflow refused
/// or failed), not a transport error; those are [`crate::ConnectorError`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RefundResult {
    Started { refund_id: String, amount: Money },
    Failed { reason: String },
}

/// What the shop did with a cancellation or an address change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChangeResult {
    Done {
        detail: String,
    },
    /// Not allowed, e.g. the order has already shipped.
    Refused {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketPriority {
    Low,
    Normal,
    High,
    Urgent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Pending,
    Solved,
}

/// A ticket to open in the help desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    pub subject: String,
    pub body: String,
    #[serde(default)]
    pub customer_email: Option<String>,
    pub priority: TicketPriority,
    /// Baton's conversation, so an agent can find it.
    pub conversation_id: String,
}

/// A help-desk ticket as the help desk answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub status: TicketStatus,
}

/// A ticket as listed for a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketSummary {
    pub id: String,
    pub status: TicketStatus,
    pub subject: String,
}

/// A change to a ticket: a new status, a note, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::date;

    fn payment(id: &str, cents: i64, on: Date, status: PaymentStatus) -> Payment {
        Payment {
            id: id.into(),
            amount: Money::eur(cents),
            on,
            status,
        }
    }

    fn order(payments: Vec<Payment>) -> Order {
        Order {
            number: "10000".into(),
            customer_id: "c".into(),
            status: OrderStatus::Delivered,
            placed_on: date!(2026 - 03 - 03),
            total: Money::eur(4990),
            items: vec![],
            carrier: None,
            tracking_number: None,
            estimated_delivery: None,
            shipping_address: "x".into(),
            payments,
        }
    }

    #[test]
    fn money_displays_with_two_decimals() {
        assert_eq!(Money::eur(4990).to_string(), "49.90 EUR");
        assert_eq!(Money::eur(5).to_string(), "0.05 EUR");
        assert_eq!(Money::eur(-150).to_string(), "-1.50 EUR");
        assert_eq!(Money::new(1_845_000, "USD").to_string(), "18450.00 USD");
        assert_eq!(Money::eur(i64::MIN).to_string(), "-92233720368547758.08 EUR");
    }

    #[test]
    fn duplicates_are_same_amount_same_day_captured_beyond_the_first() {
        let d = date!(2026 - 03 - 03);
        let o = order(vec![
            payment("p1", 4990, d, PaymentStatus::Captured),
            payment("p2", 4990, d, PaymentStatus::Captured),
            payment("p3", 4990, d, PaymentStatus::Captured),
            payment("p4", 4990, date!(2026 - 03 - 04), PaymentStatus::Captured),
            payment("p5", 1000, d, PaymentStatus::Captured),
        ]);
        let ids: Vec<&str> = o.duplicate_payments().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["p2", "p3"]);

        let failed_then_captured = order(vec![
            payment("p1", 4990, d, PaymentStatus::Failed),
            payment("p2", 4990, d, PaymentStatus::Captured),
        ]);
        assert!(failed_then_captured.duplicate_payments().is_empty());

        let refunded = order(vec![
            payment("p1", 4990, d, PaymentStatus::Captured),
            payment("p2", 4990, d, PaymentStatus::Refunded),
        ]);
        assert!(refunded.duplicate_payments().is_empty());

        let other_currency = order(vec![
            payment("p1", 4990, d, PaymentStatus::Captured),
            Payment {
                amount: Money::new(4990, "USD"),
                ..payment("p2", 4990, d, PaymentStatus::Captured)
            },
        ]);
        assert!(other_currency.duplicate_payments().is_empty());
    }

    #[test]
    fn json_forms_are_the_contract() {
        let d = date!(2026 - 03 - 03);
        let mut o = order(vec![payment("p1", 4990, d, PaymentStatus::Captured)]);
        o.status = OrderStatus::InTransit;
        o.estimated_delivery = Some(date!(2026 - 03 - 12));
        let value = serde_json::to_value(&o).expect("serializes");
        assert_eq!(value["status"], "in_transit");
        assert_eq!(value["placed_on"], "2026-03-03");
        assert_eq!(value["estimated_delivery"], "2026-03-12");
        assert_eq!(value["payments"][0]["on"], "2026-03-03");
        assert_eq!(value["payments"][0]["status"], "captured");
        assert_eq!(value["total"], json!({"amount_cents": 4990, "currency": "EUR"}));
        let back: Order = serde_json::from_value(value).expect("deserializes");
        assert_eq!(back, o);

        // Optional fields may be left out by an integrator.
        let minimal: Order = serde_json::from_value(json!({
            "number": "54192", "customer_id": "c-1", "status": "delayed",
            "placed_on": "2026-03-01", "total": {"amount_cents": 100, "currency": "EUR"},
            "shipping_address": "somewhere"
        }))
        .expect("minimal order");
        assert_eq!(minimal.estimated_delivery, None);
        assert!(minimal.payments.is_empty());

        let bad_date = serde_json::from_value::<Payment>(json!({
            "id": "p", "amount": {"amount_cents": 1, "currency": "EUR"},
            "on": "03/03/2026", "status": "captured"
        }));
        assert!(bad_date.is_err());

        assert_eq!(
            serde_json::to_value(RefundResult::Started {
                refund_id: "RF-1".into(),
                amount: Money::eur(4990)
            })
            .expect("serializes"),
            json!({"result": "started", "refund_id": "RF-1",
                   "amount": {"amount_cents": 4990, "currency": "EUR"}})
        );
        assert_eq!(
            serde_json::to_value(RefundResult::Failed { reason: "no".into() }).expect("serializes"),
            json!({"result": "failed", "reason": "no"})
        );
        assert_eq!(
            serde_json::to_value(ChangeResult::Refused {
                reason: "shipped".into()
            })
            .expect("serializes"),
            json!({"result": "refused", "reason": "shipped"})
        );
        assert_eq!(serde_json::to_value(Tier::Vip).expect("serializes"), "vip");
        assert_eq!(
            serde_json::to_value(RefundReason::DuplicateCharge).expect("serializes"),
            RefundReason::DuplicateCharge.as_str()
        );
        for status in OrderStatus::ALL {
            assert_eq!(serde_json::to_value(status).expect("serializes"), status.as_str());
        }
        assert_eq!(
            serde_json::to_value(TicketUpdate {
                status: None,
                note: Some("n".into())
            })
            .expect("serializes"),
            json!({"note": "n"})
        );
    }
}

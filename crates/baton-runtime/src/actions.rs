//! The actions a flow may call, carried out on the connectors: each turns a connector's
//! answer into an [`ActionResult`] (outcome, one-line summary, values for the bot's replies).
//! A connector that fails or is too slow gives an `error` outcome, never a crash or a stall.

use baton_connectors::{
    ChangeResult, ConnectorError, Connectors, Customer, NewTicket, Order, PaymentStatus, RefundReason, RefundResult,
    TicketPriority, TicketStatus,
};
use baton_dialogue::{ActionCall, ActionResult};
use baton_domain::{ActionOutcome, Values};
use std::time::{Duration, Instant};

use crate::proofs::FailedProofs;

/// Every action the runtime can carry out; the dialogue configuration is checked against it.
pub const ACTIONS: &[&str] = &[
    "find_customer",
    "verify_identity",
    "recent_orders",
    "order_status",
    "refund_status",
    "refund_eligibility",
    "start_refund",
    "cancel_order",
    "change_address",
    "create_ticket",
];

/// The longest an action may take, whatever the connector's own settings say.
pub const ACTION_DEADLINE: Duration = Duration::from_secs(15);

fn result(outcome: ActionOutcome, summary: impl Into<String>, values: Values) -> ActionResult {
    ActionResult {
        outcome,
        summary: summary.into(),
        values,
    }
}

/// Values from `(name, value)` pairs.
fn values<const N: usize>(pairs: [(&str, String); N]) -> Values {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

fn failed(summary: impl Into<String>) -> ActionResult {
    result(ActionOutcome::Failed, summary, Values::new())
}

/// The order is not the verified customer's (or does not exist): most often a mistyped
/// number. Recorded as failed with `found = no`, which the escalation policy does not count as
/// a failed change.
fn not_found(order_number: &str) -> ActionResult {
    result(
        ActionOutcome::Failed,
        format!("order {order_number} not found on this account"),
        values([("found", "no".to_owned())]),
    )
}

fn error(e: &ConnectorError) -> ActionResult {
    result(ActionOutcome::Error, e.to_string(), Values::new())
}

fn arg<'a>(call: &'a ActionCall, name: &str) -> &'a str {
    call.arguments.get(name).map_or("", String::as_str)
}

/// Carries out one action for the conversation `conversation`.
pub async fn run(
    connectors: &Connectors,
    proofs: &FailedProofs,
    call: &ActionCall,
    conversation: &str,
) -> ActionResult {
    match tokio::time::timeout(ACTION_DEADLINE, run_inner(connectors, proofs, call, conversation)).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => error(&e),
        Err(_) => result(
            ActionOutcome::Error,
            format!("{} took longer than {} s", call.action, ACTION_DEADLINE.as_secs()),
            Values::new(),
        ),
    }
}

async fn run_inner(
    connectors: &Connectors,
    proofs: &FailedProofs,
    call: &ActionCall,
    conversation: &str,
) -> Result<ActionResult, ConnectorError> {
    let key = call.idempotency_key.as_deref().unwrap_or_default();
    let order_number = arg(call, "order_number");
    Ok(match call.action.as_str() {
        "find_customer" => match connectors.customers.find_by_email(arg(call, "email")).await? {
            // Only the id: the claim is unproven, so no name or tier goes into the log.
            Some(customer) => result(
                ActionOutcome::Ok,
                format!("the email is customer {}'s", customer.id),
                values([("customer_id", customer.id)]),
            ),
            None => failed("no customer with that email"),
        },
        "verify_identity" => verify(connectors, proofs, call).await?,
        "create_ticket" => create_ticket(connectors, call, conversation).await?,
        "recent_orders" => {
            // Newest first; three are enough to choose from.
            let orders = connectors.orders.orders_of(arg(call, "customer_id")).await?;
            let numbers: Vec<&str> = orders.iter().take(3).map(|o| o.number.as_str()).collect();
            result(
                ActionOutcome::Ok,
                format!("{} orders on the account", orders.len()),
                values([("orders", numbers.join(",")), ("count", orders.len().to_string())]),
            )
        }
        "order_status" => match owned_order(connectors, call).await? {
            None => not_found(order_number),
            Some(order) => result(
                ActionOutcome::Ok,
                format!("order {} is {}", order.number, order.status.as_str()),
                order_values(&order),
            ),
        },
        "refund_status" => match owned_order(connectors, call).await? {
            None => not_found(order_number),
            Some(order) => {
                let mut values = order_values(&order);
                let refunded: Vec<_> = order
                    .payments
                    .iter()
                    .filter(|p| p.status == PaymentStatus::Refunded)
                    .collect();
                match refunded.last() {
                    Some(payment) => {
                        values.insert("refund_state".into(), "refunded".into());
                        values.insert("refund_amount".into(), payment.amount.to_string());
                        values.insert("refunded_on".into(), payment.on.to_string());
                    }
                    None => {
                        values.insert("refund_state".into(), "none".into());
                    }
                }
                let state = values.get("refund_state").cloned().unwrap_or_default();
                result(
                    ActionOutcome::Ok,
                    format!("order {}: refund {state}", order.number),
                    values,
                )
            }
        },
        "refund_eligibility" => match owned_order(connectors, call).await? {
            None => not_found(order_number),
            Some(order) => {
                let eligibility = connectors
                    .orders
                    .refund_eligibility(&order.number, RefundReason::DuplicateCharge)
                    .await?;
                let mut values = order_values(&order);
                values.insert("explanation".into(), eligibility.explanation.clone());
                let duplicates = order.duplicate_payments();
                if let Some(first) = duplicates.first() {
                    values.insert("charged_on".into(), first.on.to_string());
                    values.insert("charge_count".into(), (duplicates.len() + 1).to_string());
                }
                if let Some(amount) = &eligibility.amount {
                    values.insert("amount".into(), amount.to_string());
                }
                let outcome = if eligibility.eligible {
                    ActionOutcome::Ok
                } else {
                    ActionOutcome::Failed
                };
                let summary = format!(
                    "duplicate charge on order {}: {}eligible ({})",
                    order.number,
                    if eligibility.eligible { "" } else { "not " },
                    eligibility.explanation
                );
                result(outcome, summary, values)
            }
        },
        // Changes are made only to an order of the verified customer.
        "start_refund" | "cancel_order" | "change_address" if owned_order(connectors, call).await?.is_none() => {
            not_found(order_number)
        }
        "start_refund" => {
            match connectors
                .orders
                .start_refund(order_number, RefundReason::DuplicateCharge, key)
                .await?
            {
                RefundResult::Started { refund_id, amount } => result(
                    ActionOutcome::Ok,
                    format!("refund {refund_id} of {amount} started for order {order_number}"),
                    values([("refund_id", refund_id), ("amount", amount.to_string())]),
                ),
                RefundResult::Failed { reason } => result(
                    ActionOutcome::Failed,
                    format!("refund for order {order_number} failed: {reason}"),
                    values([("reason", reason)]),
                ),
            }
        }
        "cancel_order" => change(
            connectors.orders.cancel_order(order_number, key).await?,
            "cancel",
            order_number,
        ),
        "change_address" => change(
            connectors
                .orders
                .change_address(order_number, arg(call, "address"), key)
                .await?,
            "address change",
            order_number,
        ),
        other => failed(format!("unknown action `{other}`")),
    })
}

fn change(answer: ChangeResult, what: &str, order_number: &str) -> ActionResult {
    match answer {
        ChangeResult::Done { detail } => result(
            ActionOutcome::Ok,
            format!("{what} of order {order_number} done: {detail}"),
            values([("detail", detail)]),
        ),
        ChangeResult::Refused { reason } => result(
            ActionOutcome::Failed,
            format!("{what} of order {order_number} refused: {reason}"),
            values([("reason", reason)]),
        ),
    }
}

/// The order, if it exists and belongs to the verified customer (`customer_id`); without a
/// customer id nothing is shown.
async fn owned_order(connectors: &Connectors, call: &ActionCall) -> Result<Option<Order>, ConnectorError> {
    let customer_id = arg(call, "customer_id");
    if customer_id.is_empty() {
        return Ok(None);
    }
    Ok(connectors
        .orders
        .order(arg(call, "order_number"))
        .await?
        .filter(|o| o.customer_id == customer_id))
}

fn order_values(order: &Order) -> Values {
    let mut values = Values::new();
    values.insert("order_number".into(), order.number.clone());
    values.insert("status".into(), order.status.as_str().to_owned());
    values.insert("total".into(), order.total.to_string());
    let items: Vec<String> = order
        .items
        .iter()
        .map(|i| format!("{} × {}", i.quantity, i.name))
        .collect();
    values.insert("items".into(), items.join(", "));
    if let Some(carrier) = &order.carrier {
        values.insert("carrier".into(), carrier.clone());
    }
    if let Some(tracking) = &order.tracking_number {
        values.insert("tracking_number".into(), tracking.clone());
    }
    if let Some(date) = order.estimated_delivery {
        values.insert("estimated_delivery".into(), date.to_string());
    }
    values
}

/// The customer's tier as in JSON: `Vip` -> `vip`.
pub(crate) fn tier_name(customer: &Customer) -> String {
    format!("{:?}", customer.tier).to_lowercase()
}

fn customer_values(customer: &Customer) -> Values {
    values([
        ("customer_id", customer.id.clone()),
        ("name", customer.name.clone()),
        ("tier", tier_name(customer)),
        ("language", customer.language.clone()),
    ])
}

/// Opens a help-desk ticket with what the customer described (`description`), about
/// `order_number` when one is given: the verified customer's own order only. The help desk
/// answers by email, so the ticket carries the account's address. Idempotent by the call's key.
async fn create_ticket(
    connectors: &Connectors,
    call: &ActionCall,
    conversation: &str,
) -> Result<ActionResult, ConnectorError> {
    let order_number = arg(call, "order_number");
    if !order_number.is_empty() && owned_order(connectors, call).await?.is_none() {
        return Ok(not_found(order_number));
    }
    let customer_id = arg(call, "customer_id");
    let email = if customer_id.is_empty() {
        None
    } else {
        connectors.customers.customer(customer_id).await?.map(|c| c.email)
    };
    let description = arg(call, "description");
    // The first line of what the customer wrote, shortened, names the ticket.
    let gist: String = description
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(80)
        .collect();
    let subject = match order_number {
        "" => format!("Customer report: {gist}"),
        order => format!("Order {order}: {gist}"),
    };
    let ticket = NewTicket {
        subject,
        body: format!("{description}\n\nReported in conversation {conversation}."),
        customer_email: email.clone(),
        priority: TicketPriority::Normal,
        conversation_id: conversation.to_owned(),
    };
    let key = call.idempotency_key.as_deref().unwrap_or_default();
    let created = connectors.tickets.create_ticket(ticket, key).await?;
    let status = match created.status {
        TicketStatus::Open => "open",
        TicketStatus::Pending => "pending",
        TicketStatus::Solved => "solved",
    };
    let mut values = values([("ticket_id", created.id.clone()), ("ticket_status", status.to_owned())]);
    if let Some(email) = email {
        values.insert("email".into(), email);
    }
    Ok(result(
        ActionOutcome::Ok,
        format!("ticket {} opened", created.id),
        values,
    ))
}

/// Email plus the order number or the phone's last four digits must match one customer.
async fn verify(
    connectors: &Connectors,
    proofs: &FailedProofs,
    call: &ActionCall,
) -> Result<ActionResult, ConnectorError> {
    let email = arg(call, "email");
    let Some(customer) = connectors.customers.find_by_email(email).await? else {
        return Ok(failed("no customer with that email"));
    };
    let order_number = arg(call, "order_number");
    let last4 = arg(call, "phone_last4");
    // What the proof is compared with is read first: a connector that fails uses up no attempt.
    let order_owner = if order_number.is_empty() {
        None
    } else {
        Some(connectors.orders.order(order_number).await?.map(|o| o.customer_id))
    };
    // The attempt is counted as failed before the comparison (a success clears it), so proofs
    // sent at once cannot all pass the limit. The customer is told what any failed proof tells
    // them; the log says why.
    if !proofs.attempt(&customer.id, Instant::now()).await {
        return Ok(failed(
            "too many failed proofs for this account recently: this one was not checked",
        ));
    }
    let matches = match order_owner {
        Some(owner) => owner.is_some_and(|owner| owner == customer.id),
        None => {
            !last4.is_empty()
                && customer
                    .phone
                    .as_deref()
                    .is_some_and(|p| p.ends_with(last4) && last4.len() == 4)
        }
    };
    Ok(if matches {
        proofs.succeeded(&customer.id).await;
        result(
            ActionOutcome::Ok,
            format!("customer {} verified", customer.id),
            customer_values(&customer),
        )
    } else {
        failed("the email and the proof given do not match one customer")
    })
}

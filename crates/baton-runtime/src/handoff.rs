//! The handoff's I/O: refreshing what the CRM, the order system and the ticketing system say
//! about the customer, within a budget, and recording each version of the context package
//! (with the customer's acknowledgment for the first). Deciding and building are
//! `baton-handoff`'s pure functions; this module only gathers their inputs and stores their
//! outputs.

use baton_connectors::{ConnectorError, Connectors, Customer, Order};
use baton_dialogue::memory::HandoffRecord;
use baton_dialogue::Memory;
use baton_domain::AuthState;
use baton_handoff::package::{CustomerFacts, Degraded, OrderFacts, OrderRelevance, PaymentFacts, TicketFacts};
use baton_handoff::Snapshot;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// What one source answered by the deadline.
enum Answer<T> {
    Got(T),
    Failed(String),
    Late,
    /// Not asked, and why.
    Skipped(&'static str),
}

async fn by<T>(deadline: Instant, call: impl Future<Output = Result<T, ConnectorError>>) -> Answer<T> {
    match tokio::time::timeout_at(deadline, call).await {
        Ok(Ok(value)) => Answer::Got(value),
        Ok(Err(e)) => Answer::Failed(e.to_string()),
        Err(_) => Answer::Late,
    }
}

fn degraded(source: &str, problem: String, missing: &[&str]) -> Degraded {
    Degraded {
        source: source.into(),
        problem,
        missing: missing.iter().map(|m| (*m).to_owned()).collect(),
    }
}

const CRM_MISSING: &[&str] = &["name", "contact details", "tier", "preferred language"];
const ORDERS_MISSING: &[&str] = &["order status", "payments"];

fn problem<T>(answer: &Answer<T>, budget: Duration) -> String {
    match answer {
        Answer::Failed(e) => format!("unavailable: {e}"),
        Answer::Skipped(why) => (*why).to_owned(),
        _ => format!("no answer within {} ms", budget.as_millis()),
    }
}

/// What the connectors say about the conversation's customer, waiting at most `budget` in all
/// (the CRM, the order system and the help desk are asked at once). Only a verified customer
/// is looked up: an unproven claim does not open an account to the package. Whatever does not arrive in time is listed as degraded.
pub async fn refresh(connectors: &Connectors, memory: &Memory, budget: Duration) -> Snapshot {
    let deadline = Instant::now() + budget;
    let mut snapshot = Snapshot::default();
    // Only a verified customer's account is looked up: an email someone typed (or a claim
    // they could not prove) does not open another person's record to the package.
    let verified_id = match &memory.auth {
        AuthState::Verified { customer_id, .. } => Some(customer_id.clone()),
        _ => None,
    };
    let crm = async {
        match &verified_id {
            Some(id) => by(deadline, connectors.customers.customer(id)).await,
            None => Answer::Got(None),
        }
    };
    let orders = async {
        match &verified_id {
            Some(id) => Some(by(deadline, connectors.orders.orders_of(id)).await),
            None => None,
        }
    };
    let (crm, orders) = tokio::join!(crm, orders);
    match crm {
        Answer::Got(customer) => snapshot.customer = customer.map(customer_facts),
        other => snapshot
            .degraded
            .push(degraded("crm", problem(&other, budget), CRM_MISSING)),
    }
    // The help desk is asked with the account's own email, once the CRM gave it.
    let tickets = match snapshot.customer.as_ref().map(|c| c.email.clone()) {
        Some(email) => Some(by(deadline, connectors.tickets.open_tickets(&email)).await),
        None if verified_id.is_some() => Some(Answer::Skipped("not asked: the CRM gave no email")),
        None => None,
    };
    match orders {
        Some(Answer::Got(mut orders)) => {
            // Newest first; the package keeps the named ones and the most recent.
            orders.sort_by_key(|o| std::cmp::Reverse(o.placed_on));
            snapshot.orders = orders.iter().map(order_facts).collect();
        }
        Some(other) => snapshot
            .degraded
            .push(degraded("orders", problem(&other, budget), ORDERS_MISSING)),
        None => {}
    }
    match tickets {
        Some(Answer::Got(tickets)) => {
            snapshot.tickets = tickets
                .into_iter()
                .map(|t| TicketFacts {
                    id: t.id,
                    status: format!("{:?}", t.status).to_lowercase(),
                    subject: Some(t.subject),
                })
                .collect();
        }
        Some(other) => snapshot
            .degraded
            .push(degraded("ticketing", problem(&other, budget), &["open tickets"])),
        None => {}
    }
    snapshot
}

fn customer_facts(customer: Customer) -> CustomerFacts {
    let tier = crate::actions::tier_name(&customer);
    CustomerFacts {
        customer_id: customer.id,
        name: customer.name,
        email: customer.email,
        phone: customer.phone,
        language: customer.language,
        tier,
    }
}

fn order_facts(order: &Order) -> OrderFacts {
    OrderFacts {
        number: order.number.clone(),
        status: order.status.as_str().to_owned(),
        placed_on: order.placed_on.to_string(),
        total: order.total.to_string(),
        payments: order
            .payments
            .iter()
            .map(|p| PaymentFacts {
                amount: p.amount.to_string(),
                on: p.on.to_string(),
                status: format!("{:?}", p.status).to_lowercase(),
            })
            .collect(),
        relevance: OrderRelevance::Recent,
    }
}

/// The handoff that needs a package now: the newest one, when it has none yet (and the
/// conversation is still open), or when the customer wrote since its last version while still
/// waiting for a person (up to `max_versions`).
pub fn due(memory: &Memory, max_versions: u32) -> Option<&HandoffRecord> {
    use baton_domain::PhaseName;
    let handoff = memory.current_handoff()?;
    let open = !matches!(memory.phase, PhaseName::Resolved | PhaseName::Abandoned);
    let first = handoff.package_version == 0 && open;
    let transferred_since = handoff.transfers.last().is_some_and(|t| t.seq > handoff.package_seq);
    let update = memory.phase == PhaseName::WaitingForAgent
        && handoff.package_version > 0
        && handoff.package_version < max_versions
        && (memory.last_customer_seq > handoff.package_seq || transferred_since);
    (first || update).then_some(handoff)
}

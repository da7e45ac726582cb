//! The built-in demo shop: fixed customers, orders and a help desk held in memory, so Baton
//! runs and is tested without any shop system.
//!
//! Owns: the demo data ([`demo_customers`], [`demo_orders`]) and the in-process
//! implementations [`DemoCustomers`], [`DemoOrders`], [`DemoTicketing`], with their rules
//! (refund eligibility, cancellation and address change before shipping) and counters for
//! tests. Must not touch: the network, the clock, randomness or configuration: everything is
//! deterministic.
//!
//! # The data
//!
//! All money is in EUR; all dates are in 2026.
//!
//! | id     | customer         | e-mail                       | phone          | lang | tier     | lifetime value |
//! |--------|------------------|------------------------------|----------------|------|----------|----------------|
//! | c-1001 | Sarah Chen       | sarah.chen@example.com       | +14155550142   | en   | standard | 249.40         |
//! | c-1002 | Lucía Fernández  | lucia.fernandez@example.es   | +34612345678   | es   | plus     | 1180.00        |
//! | c-1003 | Marcus Webb      | marcus.webb@example.com      | +447700900123  | en   | vip      | 18450.00       |
//! | c-1004 | Javier Morales   | javier.morales@example.es    | +34698765432   | es   | standard | 129.90         |
//! | c-1005 | Emily Novak      | emily.novak@example.com      | —              | en   | plus     | 860.50         |
//! | c-1006 | Carmen Ruiz      | carmen.ruiz@example.es       | +34655123987   | es   | plus     | 540.00         |
//! | c-1007 | David Okafor     | david.okafor@example.com     | +12125550187   | en   | standard | 369.75         |
//! | c-1008 | Sofía Navarro    | sofia.navarro@example.es     | —              | es   | standard | 107.00         |
//! | c-1009 | Tom Becker       | tom.becker@example.com       | +13125550199   | en   | standard | 0.00           |
//! | c-1010 | Ana Gómez        | ana.gomez@example.es         | +34611222333   | es   | standard | 64.50          |
//!
//! | order | customer | status     | placed     | total   | what to try                                                                 |
//! |-------|----------|------------|------------|---------|-----------------------------------------------------------------------------|
//! | 54192 | Sarah    | delivered  | 2026-03-03 | 49.90   | charged 49.90 twice on 2026-03-03: eligible (duplicate_charge, 49.90), but `start_refund` fails: [`DEMO_REFUND_FAILURE`] |
//! | 53871 | Sarah    | delivered  | 2026-02-10 | 199.50  | an older order, one payment                                                 |
//! | 54210 | Lucía    | delivered  | 2026-03-05 | 89.00   | charged 89.00 twice on 2026-03-05: the duplicate refund starts              |
//! | 54233 | Marcus   | in_transit | 2026-03-07 | 1299.00 | DHL JD014600006281234567, estimated 2026-03-12; cancel/address refused       |
//! | 54105 | Marcus   | delivered  | 2026-02-18 | 2450.00 | return: eligible                                                            |
//! | 54250 | Javier   | processing | 2026-03-09 | 129.90  | cancel and address change allowed                                           |
//! | 54244 | Emily    | shipped    | 2026-03-08 | 74.50   | UPS 1Z999AA10123456784, estimated 2026-03-13; cancel/address refused         |
//! | 54177 | Carmen   | delayed    | 2026-03-01 | 215.00  | Correos PQ4F6P0712345670128001X, estimated 2026-03-16 (was 2026-03-06)      |
//! | 54120 | David    | cancelled  | 2026-02-25 | 59.00   | payment already refunded                                                    |
//! | 54261 | David    | processing | 2026-03-10 | 310.75  | cancel and address change allowed                                           |
//! | 54088 | Sofía    | returned   | 2026-02-14 | 75.00   | return received, payment still captured: return refund eligible             |
//! | 54095 | Sofía    | refunded   | 2026-02-16 | 32.00   | already refunded                                                            |
//! | 54268 | Ana      | delivered  | 2026-03-09 | 64.50   | a failed card payment then a captured one: not a duplicate                  |
//!
//! Tom Becker has no orders.
//!
//! # The rules
//!
//! - `duplicate_charge`: eligible for the sum of [`Order::duplicate_payments`]; the refund marks
//!   those payments `refunded`. Afterwards the order has no duplicate left, so a second
//!   refund with a *different* key answers `Failed` ("already refunded"); with the *same* key
//!   it answers the first result again. Order 54192 always fails with [`DEMO_REFUND_FAILURE`].
//! - `return`: eligible for the total when delivered or returned; `cancelled`: eligible for the
//!   total when cancelled; both refunds mark the captured payments refunded and the order
//!   `refunded`. `other`: never eligible (a person decides).
//! - Cancellation and address change only while `processing`; otherwise `Refused` with the
//!   reason. A cancel sets `cancelled` (the payment stays captured until a `cancelled` refund).
//! - Keys: a changing call with a key already used for the same kind of call answers the first
//!   result, whatever its arguments, and changes nothing. An empty key is no key.

use crate::error::ConnectorError;
use crate::model::{
    ChangeResult, Customer, Money, NewTicket, Order, OrderItem, OrderStatus, Payment, PaymentStatus, RefundEligibility,
    RefundReason, RefundResult, Ticket, TicketStatus, TicketSummary, TicketUpdate, Tier,
};
use crate::traits::{CustomerDirectory, Orders, Ticketing};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use time::macros::date;
use time::Date;

/// Why the demo's automatic refund of order 54192 (Sarah Chen's duplicate charge) fails.
pub const DEMO_REFUND_FAILURE: &str = "automatic refund workflow failed: payment processor declined the reversal";

/// Orders whose automatic refund always fails in the demo.
const FAILING_REFUNDS: &[&str] = &["54192"];

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn customer(
    id: &str,
    name: &str,
    email: &str,
    phone: Option<&str>,
    language: &str,
    tier: Tier,
    lifetime_cents: i64,
) -> Customer {
    Customer {
        id: id.into(),
        name: name.into(),
        email: email.into(),
        phone: phone.map(Into::into),
        language: language.into(),
        tier,
        lifetime_value: Money::eur(lifetime_cents),
    }
}

/// The demo shop's ten customers (see the [module docs](self) for the table).
#[rustfmt::skip]
pub fn demo_customers() -> Vec<Customer> {
    use Tier::{Plus, Standard, Vip};
    vec![
        customer("c-1001", "Sarah Chen", "sarah.chen@example.com", Some("+14155550142"), "en", Standard, 24_940),
        customer("c-1002", "Lucía Fernández", "lucia.fernandez@example.es", Some("+34612345678"), "es", Plus, 118_000),
        customer("c-1003", "Marcus Webb", "marcus.webb@example.com", Some("+447700900123"), "en", Vip, 1_845_000),
        customer("c-1004", "Javier Morales", "javier.morales@example.es", Some("+34698765432"), "es", Standard, 12_990),
        customer("c-1005", "Emily Novak", "emily.novak@example.com", None, "en", Plus, 86_050),
        customer("c-1006", "Carmen Ruiz", "carmen.ruiz@example.es", Some("+34655123987"), "es", Plus, 54_000),
        customer("c-1007", "David Okafor", "david.okafor@example.com", Some("+12125550187"), "en", Standard, 36_975),
        customer("c-1008", "Sofía Navarro", "sofia.navarro@example.es", None, "es", Standard, 10_700),
        customer("c-1009", "Tom Becker", "tom.becker@example.com", Some("+13125550199"), "en", Standard, 0),
        customer("c-1010", "Ana Gómez", "ana.gomez@example.es", Some("+34611222333"), "es", Standard, 6_450),
    ]
}

struct Shipping<'a> {
    carrier: &'a str,
    tracking: &'a str,
    estimated: Date,
}

#[allow(clippy::too_many_arguments)]
fn order(
    number: &str,
    customer_id: &str,
    status: OrderStatus,
    placed_on: Date,
    total_cents: i64,
    items: &[(&str, u32)],
    shipping: Option<Shipping<'_>>,
    address: &str,
    payments: &[(i64, Date, PaymentStatus)],
) -> Order {
    Order {
        number: number.into(),
        customer_id: customer_id.into(),
        status,
        placed_on,
        total: Money::eur(total_cents),
        items: items
            .iter()
            .map(|(name, quantity)| OrderItem {
                name: (*name).into(),
                quantity: *quantity,
            })
            .collect(),
        carrier: shipping.as_ref().map(|s| s.carrier.into()),
        tracking_number: shipping.as_ref().map(|s| s.tracking.into()),
        estimated_delivery: shipping.as_ref().map(|s| s.estimated),
        shipping_address: address.into(),
        payments: payments
            .iter()
            .enumerate()
            .map(|(i, (cents, on, status))| Payment {
                id: format!("pay-{number}-{}", i + 1),
                amount: Money::eur(*cents),
                on: *on,
                status: *status,
            })
            .collect(),
    }
}

/// The demo shop's thirteen orders, one or more in every [`OrderStatus`] (see the
/// [module docs](self) for the table).
#[rustfmt::skip]
pub fn demo_orders() -> Vec<Order> {
    use OrderStatus::*;
    use PaymentStatus::{Captured, Failed, Refunded as PaymentRefunded};
    const SARAH: &str = "742 Market St, San Francisco, CA 94103, US";
    const LUCIA: &str = "Calle de Alcalá 120, 3ºB, 28009 Madrid, ES";
    const MARCUS: &str = "14 Kensington Park Rd, London W11 3BU, GB";
    const JAVIER: &str = "Avenida de la Constitución 8, 41004 Sevilla, ES";
    const EMILY: &str = "55 Water St, Brooklyn, NY 11201, US";
    const CARMEN: &str = "Carrer de Mallorca 401, 08013 Barcelona, ES";
    const DAVID: &str = "300 W 57th St, Apt 12C, New York, NY 10019, US";
    const SOFIA: &str = "Calle Mayor 3, 50001 Zaragoza, ES";
    const ANA: &str = "Calle de Colón 22, 46004 Valencia, ES";
    vec![
        order("54192", "c-1001", Delivered, date!(2026 - 03 - 03), 4_990,
            &[("Wireless earbuds", 1)], None, SARAH,
            &[(4_990, date!(2026 - 03 - 03), Captured), (4_990, date!(2026 - 03 - 03), Captured)]),
        order("53871", "c-1001", Delivered, date!(2026 - 02 - 10), 19_950,
            &[("Running shoes", 1), ("Sports socks (3 pairs)", 1)], None, SARAH,
            &[(19_950, date!(2026 - 02 - 10), Captured)]),
        order("54210", "c-1002", Delivered, date!(2026 - 03 - 05), 8_900,
            &[("Cafetera de goteo", 1)], None, LUCIA,
            &[(8_900, date!(2026 - 03 - 05), Captured), (8_900, date!(2026 - 03 - 05), Captured)]),
        order("54233", "c-1003", InTransit, date!(2026 - 03 - 07), 129_900,
            &[("Espresso machine Pro", 1)],
            Some(Shipping { carrier: "DHL", tracking: "JD014600006281234567", estimated: date!(2026 - 03 - 12) }),
            MARCUS, &[(129_900, date!(2026 - 03 - 07), Captured)]),
        order("54105", "c-1003", Delivered, date!(2026 - 02 - 18), 245_000,
            &[("Smart TV 65\"", 1)], None, MARCUS,
            &[(245_000, date!(2026 - 02 - 18), Captured)]),
        order("54250", "c-1004", Processing, date!(2026 - 03 - 09), 12_990,
            &[("Zapatillas de trail", 1)], None, JAVIER,
            &[(12_990, date!(2026 - 03 - 09), Captured)]),
        order("54244", "c-1005", Shipped, date!(2026 - 03 - 08), 7_450,
            &[("Yoga mat", 1), ("Water bottle", 2)],
            Some(Shipping { carrier: "UPS", tracking: "1Z999AA10123456784", estimated: date!(2026 - 03 - 13) }),
            EMILY, &[(7_450, date!(2026 - 03 - 08), Captured)]),
        order("54177", "c-1006", Delayed, date!(2026 - 03 - 01), 21_500,
            &[("Lámpara de pie", 1)],
            Some(Shipping { carrier: "Correos", tracking: "PQ4F6P0712345670128001X", estimated: date!(2026 - 03 - 16) }),
            CARMEN, &[(21_500, date!(2026 - 03 - 01), Captured)]),
        order("54120", "c-1007", Cancelled, date!(2026 - 02 - 25), 5_900,
            &[("Phone case", 1)], None, DAVID,
            &[(5_900, date!(2026 - 02 - 25), PaymentRefunded)]),
        order("54261", "c-1007", Processing, date!(2026 - 03 - 10), 31_075,
            &[("Office chair", 1), ("Desk lamp", 1)], None, DAVID,
            &[(31_075, date!(2026 - 03 - 10), Captured)]),
        order("54088", "c-1008", Returned, date!(2026 - 02 - 14), 7_500,
            &[("Chaqueta impermeable", 1)], None, SOFIA,
            &[(7_500, date!(2026 - 02 - 14), Captured)]),
        order("54095", "c-1008", Refunded, date!(2026 - 02 - 16), 3_200,
            &[("Funda de cojín", 2)], None, SOFIA,
            &[(3_200, date!(2026 - 02 - 16), PaymentRefunded)]),
        order("54268", "c-1010", Delivered, date!(2026 - 03 - 09), 6_450,
            &[("Auriculares con cable", 1)], None, ANA,
            &[(6_450, date!(2026 - 03 - 09), Failed), (6_450, date!(2026 - 03 - 09), Captured)]),
    ]
}

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The demo customer directory.
#[derive(Debug)]
pub struct DemoCustomers {
    customers: Vec<Customer>,
}

impl DemoCustomers {
    pub fn new() -> Self {
        Self::with(demo_customers())
    }

    /// A directory of other customers (for tests).
    pub fn with(customers: Vec<Customer>) -> Self {
        Self { customers }
    }
}

impl Default for DemoCustomers {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl CustomerDirectory for DemoCustomers {
    /// Matches the address case-insensitively, ignoring surrounding spaces.
    async fn find_by_email(&self, email: &str) -> Result<Option<Customer>, ConnectorError> {
        let wanted = normalize_email(email);
        Ok(self
            .customers
            .iter()
            .find(|c| normalize_email(&c.email) == wanted)
            .cloned())
    }

    async fn customer(&self, id: &str) -> Result<Option<Customer>, ConnectorError> {
        Ok(self.customers.iter().find(|c| c.id == id).cloned())
    }
}

#[derive(Debug, Default)]
struct OrdersState {
    orders: BTreeMap<String, Order>,
    refunds_by_key: HashMap<String, RefundResult>,
    cancels_by_key: HashMap<String, ChangeResult>,
    address_changes_by_key: HashMap<String, ChangeResult>,
    refunds_started: usize,
    refund_attempts: usize,
    cancellations: usize,
    address_changes: usize,
}

/// The demo order system: [`demo_orders`] behind a mutex, changed by refunds, cancellations and
/// address changes, with counters for tests.
#[derive(Debug)]
pub struct DemoOrders {
    state: Mutex<OrdersState>,
}

impl Default for DemoOrders {
    fn default() -> Self {
        Self::new()
    }
}

impl DemoOrders {
    pub fn new() -> Self {
        Self::with(demo_orders())
    }

    /// An order system holding other orders (for tests). Order 54192's refund still fails.
    pub fn with(orders: Vec<Order>) -> Self {
        Self {
            state: Mutex::new(OrdersState {
                orders: orders.into_iter().map(|o| (o.number.clone(), o)).collect(),
                ..OrdersState::default()
            }),
        }
    }

    /// Refunds that answered `Started` (a repeated key does not count again).
    pub fn refunds_started(&self) -> usize {
        lock(&self.state).refunds_started
    }

    /// Refunds the workflow worked on, whatever the outcome (a repeated key does not count).
    pub fn refund_attempts(&self) -> usize {
        lock(&self.state).refund_attempts
    }

    /// Cancellations that answered `Done`.
    pub fn cancellations(&self) -> usize {
        lock(&self.state).cancellations
    }

    /// Address changes that answered `Done`.
    pub fn address_changes(&self) -> usize {
        lock(&self.state).address_changes
    }

    /// The order as it stands now (synchronous, for tests and the test server).
    pub fn snapshot(&self, number: &str) -> Option<Order> {
        lock(&self.state).orders.get(number).cloned()
    }
}

fn not_found(number: &str) -> String {
    format!("there is no order {number}")
}

fn sum(payments: &[&Payment]) -> Option<Money> {
    let first = payments.first()?;
    Some(Money::new(
        payments.iter().map(|p| p.amount.amount_cents).sum(),
        first.amount.currency.clone(),
    ))
}

fn eligibility(order: Option<&Order>, number: &str, reason: RefundReason) -> RefundEligibility {
    let no = |explanation: String| RefundEligibility {
        eligible: false,
        amount: None,
        explanation,
    };
    let Some(order) = order else {
        return no(not_found(number));
    };
    let captured = || {
        order
            .payments
            .iter()
            .filter(|p| p.status == PaymentStatus::Captured)
            .collect::<Vec<_>>()
    };
    let refunded_any = order.payments.iter().any(|p| p.status == PaymentStatus::Refunded);
    match reason {
        RefundReason::DuplicateCharge => {
            let duplicates = order.duplicate_payments();
            match sum(&duplicates) {
                Some(amount) => RefundEligibility {
                    eligible: true,
                    explanation: format!(
                        "order {number} was charged {} {} on {}; the extra {amount} can be refunded",
                        duplicates[0].amount,
                        match duplicates.len() {
                            1 => "twice".to_owned(),
                            n => format!("{} times", n + 1),
                        },
                        duplicates[0].on,
                    ),
                    amount: Some(amount),
                },
                None if refunded_any => no(format!("the duplicate charge on order {number} was already refunded")),
                None => no(format!("there is no duplicate charge on order {number}")),
            }
        }
        RefundReason::Return | RefundReason::Cancelled => {
            let allowed = match reason {
                RefundReason::Return => {
                    matches!(order.status, OrderStatus::Delivered | OrderStatus::Returned)
                }
                _ => order.status == OrderStatus::Cancelled,
            };
            let captured = captured();
            if order.status == OrderStatus::Refunded || (captured.is_empty() && refunded_any) {
                no(format!("order {number} was already refunded"))
            } else if !allowed {
                no(format!(
                    "order {number} is {}, so it cannot be refunded as {}",
                    order.status.as_str().replace('_', " "),
                    if reason == RefundReason::Return {
                        "a return"
                    } else {
                        "a cancellation"
                    },
                ))
            } else {
                match sum(&captured) {
                    Some(amount) => RefundEligibility {
                        eligible: true,
                        explanation: format!("order {number} can be refunded in full ({amount})"),
                        amount: Some(amount),
                    },
                    None => no(format!("nothing was paid for order {number}")),
                }
            }
        }
        RefundReason::Other => no(format!(
            "a refund of order {number} for another reason needs a person to review it"
        )),
    }
}

/// Runs `work` once per non-empty key: a key already seen answers its first result.
fn once<R: Clone>(memo: &mut HashMap<String, R>, key: &str, work: impl FnOnce() -> R) -> R {
    if key.is_empty() {
        return work();
    }
    if let Some(first) = memo.get(key) {
        return first.clone();
    }
    let result = work();
    memo.insert(key.to_owned(), result.clone());
    result
}

fn refuse_change(order: &Order, what: &str) -> Option<String> {
    let number = &order.number;
    match order.status {
        OrderStatus::Processing => None,
        OrderStatus::Shipped | OrderStatus::InTransit | OrderStatus::Delayed => Some(format!(
            "order {number} has already shipped ({}), so {what} is no longer possible",
            order.status.as_str().replace('_', " ")
        )),
        OrderStatus::Delivered => Some(format!(
            "order {number} was already delivered, so {what} is no longer possible; it can be returned"
        )),
        OrderStatus::Cancelled => Some(format!("order {number} is already cancelled")),
        OrderStatus::Returned | OrderStatus::Refunded => Some(format!(
            "order {number} was {}, so {what} is no longer possible",
            order.status.as_str()
        )),
    }
}

#[async_trait]
impl Orders for DemoOrders {
    async fn order(&self, number: &str) -> Result<Option<Order>, ConnectorError> {
        Ok(self.snapshot(number))
    }

    async fn orders_of(&self, customer_id: &str) -> Result<Vec<Order>, ConnectorError> {
        let state = lock(&self.state);
        let mut orders: Vec<Order> = state
            .orders
            .values()
            .filter(|o| o.customer_id == customer_id)
            .cloned()
            .collect();
        orders.sort_by(|a, b| b.placed_on.cmp(&a.placed_on).then_with(|| b.number.cmp(&a.number)));
        Ok(orders)
    }

    async fn refund_eligibility(
        &self,
        number: &str,
        reason: RefundReason,
    ) -> Result<RefundEligibility, ConnectorError> {
        let state = lock(&self.state);
        Ok(eligibility(state.orders.get(number), number, reason))
    }

    async fn start_refund(
        &self,
        number: &str,
        reason: RefundReason,
        idempotency_key: &str,
    ) -> Result<RefundResult, ConnectorError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let mut memo = std::mem::take(&mut state.refunds_by_key);
        let result = once(&mut memo, idempotency_key, || {
            let verdict = eligibility(state.orders.get(number), number, reason);
            let (Some(amount), true, Some(order)) = (verdict.amount, verdict.eligible, state.orders.get_mut(number))
            else {
                return RefundResult::Failed {
                    reason: verdict.explanation,
                };
            };
            state.refund_attempts += 1;
            if FAILING_REFUNDS.contains(&number) {
                return RefundResult::Failed {
                    reason: DEMO_REFUND_FAILURE.to_owned(),
                };
            }
            let to_refund: Vec<String> = match reason {
                RefundReason::DuplicateCharge => order.duplicate_payments().iter().map(|p| p.id.clone()).collect(),
                _ => order
                    .payments
                    .iter()
                    .filter(|p| p.status == PaymentStatus::Captured)
                    .map(|p| p.id.clone())
                    .collect(),
            };
            for payment in &mut order.payments {
                if to_refund.contains(&payment.id) {
                    payment.status = PaymentStatus::Refunded;
                }
            }
            if reason != RefundReason::DuplicateCharge {
                order.status = OrderStatus::Refunded;
            }
            state.refunds_started += 1;
            RefundResult::Started {
                refund_id: format!("RF-{number}-{}", state.refunds_started),
                amount,
            }
        });
        state.refunds_by_key = memo;
        Ok(result)
    }

    async fn cancel_order(&self, number: &str, idempotency_key: &str) -> Result<ChangeResult, ConnectorError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let mut memo = std::mem::take(&mut state.cancels_by_key);
        let result = once(&mut memo, idempotency_key, || {
            let Some(order) = state.orders.get_mut(number) else {
                return ChangeResult::Refused {
                    reason: not_found(number),
                };
            };
            if let Some(reason) = refuse_change(order, "cancelling it") {
                return ChangeResult::Refused { reason };
            }
            order.status = OrderStatus::Cancelled;
            state.cancellations += 1;
            ChangeResult::Done {
                detail: format!(
                    "order {number} is cancelled; the payment of {} will be refunded",
                    order.total
                ),
            }
        });
        state.cancels_by_key = memo;
        Ok(result)
    }

    async fn change_address(
        &self,
        number: &str,
        address: &str,
        idempotency_key: &str,
    ) -> Result<ChangeResult, ConnectorError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let mut memo = std::mem::take(&mut state.address_changes_by_key);
        let result = once(&mut memo, idempotency_key, || {
            let Some(order) = state.orders.get_mut(number) else {
                return ChangeResult::Refused {
                    reason: not_found(number),
                };
            };
            if let Some(reason) = refuse_change(order, "changing the address") {
                return ChangeResult::Refused { reason };
            }
            let address = address.trim();
            if address.is_empty() {
                return ChangeResult::Refused {
                    reason: "the new address is empty".to_owned(),
                };
            }
            order.shipping_address = address.to_owned();
            state.address_changes += 1;
            ChangeResult::Done {
                detail: format!("order {number} will be shipped to {address}"),
            }
        });
        state.address_changes_by_key = memo;
        Ok(result)
    }
}

/// A ticket as the demo help desk keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTicket {
    pub ticket: Ticket,
    pub request: NewTicket,
    pub notes: Vec<String>,
}

#[derive(Debug, Default)]
struct TicketsState {
    tickets: BTreeMap<String, StoredTicket>,
    by_key: HashMap<String, Ticket>,
}

/// The demo help desk: tickets `T-1001`, `T-1002`, … in memory.
#[derive(Debug, Default)]
pub struct DemoTicketing {
    state: Mutex<TicketsState>,
}

impl DemoTicketing {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tickets opened (a repeated key does not count again).
    pub fn tickets_created(&self) -> usize {
        lock(&self.state).tickets.len()
    }

    /// A ticket with its request and notes.
    pub fn stored(&self, id: &str) -> Option<StoredTicket> {
        lock(&self.state).tickets.get(id).cloned()
    }
}

#[async_trait]
impl Ticketing for DemoTicketing {
    async fn create_ticket(&self, ticket: NewTicket, idempotency_key: &str) -> Result<Ticket, ConnectorError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let mut memo = std::mem::take(&mut state.by_key);
        let created = once(&mut memo, idempotency_key, || {
            let created = Ticket {
                id: format!("T-{}", 1001 + state.tickets.len()),
                status: TicketStatus::Open,
            };
            state.tickets.insert(
                created.id.clone(),
                StoredTicket {
                    ticket: created.clone(),
                    request: ticket,
                    notes: Vec::new(),
                },
            );
            created
        });
        state.by_key = memo;
        Ok(created)
    }

    async fn update_ticket(&self, id: &str, update: TicketUpdate) -> Result<Ticket, ConnectorError> {
        let mut state = lock(&self.state);
        let Some(stored) = state.tickets.get_mut(id) else {
            return Err(ConnectorError::NotFound {
                connector: "ticketing",
                operation: "update_ticket",
                input: id.to_owned(),
            });
        };
        if let Some(status) = update.status {
            stored.ticket.status = status;
        }
        if let Some(note) = update.note {
            stored.notes.push(note);
        }
        Ok(stored.ticket.clone())
    }

    async fn open_tickets(&self, customer_email: &str) -> Result<Vec<TicketSummary>, ConnectorError> {
        let wanted = normalize_email(customer_email);
        Ok(lock(&self.state)
            .tickets
            .values()
            .filter(|t| t.ticket.status != TicketStatus::Solved)
            .filter(|t| t.request.customer_email.as_deref().map(normalize_email) == Some(wanted.clone()))
            .map(|t| TicketSummary {
                id: t.ticket.id.clone(),
                status: t.ticket.status,
                subject: t.request.subject.clone(),
            })
            .collect())
    }
}

//! The demo shop: its data is complete and consistent, and its rules and idempotency keys
//! behave as documented in `baton_connectors::demo`.

use baton_connectors::{
    demo_customers, demo_orders, ChangeResult, Connectors, CustomerDirectory, DemoCustomers, DemoOrders, DemoTicketing,
    Money, NewTicket, OrderStatus, Orders, PaymentStatus, RefundReason, RefundResult, TicketPriority, TicketStatus,
    TicketUpdate, Ticketing, Tier, DEMO_REFUND_FAILURE,
};
use std::collections::HashSet;

#[tokio::test]
async fn sarahs_duplicate_charge_is_eligible_but_the_refund_fails() {
    let crm = DemoCustomers::new();
    let sarah = crm
        .find_by_email("  Sarah.Chen@example.com ")
        .await
        .expect("demo")
        .expect("Sarah");
    assert_eq!(sarah.name, "Sarah Chen");
    assert_eq!(sarah.phone.as_deref(), Some("+14155550142"));
    assert_eq!((sarah.language.as_str(), sarah.tier), ("en", Tier::Standard));

    let orders = DemoOrders::new();
    let order = orders.order("54192").await.expect("demo").expect("54192");
    assert_eq!(order.customer_id, sarah.id);
    assert_eq!(order.total.to_string(), "49.90 EUR");
    assert_eq!(order.payments.len(), 2);
    assert_eq!(order.duplicate_payments().len(), 1);
    assert_eq!(order.duplicate_payments()[0].on.to_string(), "2026-03-03");

    let eligibility = orders
        .refund_eligibility("54192", RefundReason::DuplicateCharge)
        .await
        .expect("demo");
    assert!(eligibility.eligible, "{eligibility:?}");
    assert_eq!(eligibility.amount, Some(Money::eur(4990)));

    for key in ["k1", "k1", "k2"] {
        let result = orders
            .start_refund("54192", RefundReason::DuplicateCharge, key)
            .await
            .expect("demo");
        assert_eq!(
            result,
            RefundResult::Failed {
                reason: DEMO_REFUND_FAILURE.into()
            }
        );
    }
    assert_eq!(orders.refunds_started(), 0);
    assert_eq!(orders.refund_attempts(), 2, "the repeated key did not try again");
    // Nothing changed: still eligible.
    let order = orders.order("54192").await.expect("demo").expect("54192");
    assert_eq!(order.duplicate_payments().len(), 1);
}

#[tokio::test]
async fn lucias_refund_starts_once_per_key_and_then_is_already_refunded() {
    let lucia = DemoCustomers::new()
        .find_by_email("lucia.fernandez@example.es")
        .await
        .expect("demo")
        .expect("Lucía");
    assert_eq!(lucia.language, "es");
    let orders = DemoOrders::new();
    let numbers: Vec<String> = orders
        .orders_of(&lucia.id)
        .await
        .expect("demo")
        .into_iter()
        .map(|o| o.number)
        .collect();
    assert_eq!(numbers, ["54210"]);

    let first = orders
        .start_refund("54210", RefundReason::DuplicateCharge, "same-key")
        .await
        .expect("demo");
    let RefundResult::Started { refund_id, amount } = &first else {
        panic!("expected Started, got {first:?}");
    };
    assert_eq!(*amount, Money::eur(8900));
    assert!(refund_id.starts_with("RF-54210-"), "{refund_id}");
    let again = orders
        .start_refund("54210", RefundReason::DuplicateCharge, "same-key")
        .await
        .expect("demo");
    assert_eq!(again, first);
    assert_eq!(orders.refunds_started(), 1);

    let order = orders.snapshot("54210").expect("54210");
    assert_eq!(order.payments[1].status, PaymentStatus::Refunded);
    assert!(order.duplicate_payments().is_empty());

    // A different key: the duplicate is already refunded, nothing is refunded twice.
    let other = orders
        .start_refund("54210", RefundReason::DuplicateCharge, "other-key")
        .await
        .expect("demo");
    match other {
        RefundResult::Failed { reason } => assert!(reason.contains("already refunded"), "{reason}"),
        started => panic!("refunded twice: {started:?}"),
    }
    assert_eq!(orders.refunds_started(), 1);
    let eligibility = orders
        .refund_eligibility("54210", RefundReason::DuplicateCharge)
        .await
        .expect("demo");
    assert!(!eligibility.eligible);
}

#[tokio::test]
async fn cancel_and_address_change_only_before_shipping() {
    let orders = DemoOrders::new();
    let done = orders.cancel_order("54250", "cancel-54250").await.expect("demo");
    assert!(matches!(done, ChangeResult::Done { .. }), "{done:?}");
    assert_eq!(orders.snapshot("54250").map(|o| o.status), Some(OrderStatus::Cancelled));
    assert_eq!(
        orders.cancel_order("54250", "cancel-54250").await.expect("demo"),
        done,
        "same key, same answer"
    );
    assert_eq!(orders.cancellations(), 1);
    assert!(matches!(
        orders.cancel_order("54250", "another").await.expect("demo"),
        ChangeResult::Refused { .. }
    ));
    // A cancelled order's payment can then be refunded.
    let refund = orders
        .start_refund("54250", RefundReason::Cancelled, "refund-54250")
        .await
        .expect("demo");
    assert!(matches!(refund, RefundResult::Started { .. }), "{refund:?}");
    assert_eq!(orders.snapshot("54250").map(|o| o.status), Some(OrderStatus::Refunded));

    for shipped in ["54244", "54233", "54177"] {
        match orders
            .cancel_order(shipped, &format!("c-{shipped}"))
            .await
            .expect("demo")
        {
            ChangeResult::Refused { reason } => assert!(reason.contains("shipped"), "{reason}"),
            done => panic!("{shipped} cancelled after shipping: {done:?}"),
        }
        assert!(matches!(
            orders
                .change_address(shipped, "Somewhere else 1", &format!("a-{shipped}"))
                .await
                .expect("demo"),
            ChangeResult::Refused { .. }
        ));
    }
    assert!(matches!(
        orders.cancel_order("54192", "c-54192").await.expect("demo"),
        ChangeResult::Refused { .. }
    ));
    assert!(matches!(
        orders.cancel_order("00000", "c-0").await.expect("demo"),
        ChangeResult::Refused { .. }
    ));

    let moved = orders
        .change_address("54261", "  350 5th Ave, New York, NY 10118, US ", "a-54261")
        .await
        .expect("demo");
    assert!(matches!(moved, ChangeResult::Done { .. }), "{moved:?}");
    assert_eq!(
        orders.snapshot("54261").map(|o| o.shipping_address),
        Some("350 5th Ave, New York, NY 10118, US".to_owned())
    );
    assert!(matches!(
        orders.change_address("54261", "  ", "a-empty").await.expect("demo"),
        ChangeResult::Refused { .. }
    ));
    assert_eq!(orders.address_changes(), 1);
}

#[tokio::test]
async fn other_refund_rules() {
    let orders = DemoOrders::new();
    let check = |number: &'static str, reason| {
        let orders = &orders;
        async move { orders.refund_eligibility(number, reason).await.expect("demo") }
    };
    assert!(check("54105", RefundReason::Return).await.eligible);
    assert!(check("54088", RefundReason::Return).await.eligible);
    assert!(!check("54233", RefundReason::Return).await.eligible, "not delivered");
    assert!(!check("54095", RefundReason::Return).await.eligible, "already refunded");
    assert!(
        !check("54120", RefundReason::Cancelled).await.eligible,
        "already refunded"
    );
    assert!(!check("54192", RefundReason::Other).await.eligible, "a person decides");
    assert!(
        !check("54268", RefundReason::DuplicateCharge).await.eligible,
        "failed + captured"
    );
    assert!(!check("99999", RefundReason::DuplicateCharge).await.eligible);
    // Without a key nothing is deduplicated: the second call sees the first's effect.
    let first = orders
        .start_refund("54105", RefundReason::Return, "")
        .await
        .expect("demo");
    assert!(matches!(first, RefundResult::Started { .. }));
    let second = orders
        .start_refund("54105", RefundReason::Return, "")
        .await
        .expect("demo");
    assert!(matches!(second, RefundResult::Failed { .. }));
    assert_eq!(orders.snapshot("54105").map(|o| o.status), Some(OrderStatus::Refunded));
}

#[tokio::test]
async fn tickets_are_created_once_per_key() {
    let desk = DemoTicketing::new();
    let ticket = |subject: &str| NewTicket {
        subject: subject.into(),
        body: "body".into(),
        customer_email: None,
        priority: TicketPriority::Normal,
        conversation_id: "conv-9".into(),
    };
    let first = desk.create_ticket(ticket("a"), "key-a").await.expect("demo");
    let again = desk.create_ticket(ticket("a"), "key-a").await.expect("demo");
    let other = desk.create_ticket(ticket("b"), "key-b").await.expect("demo");
    assert_eq!(first, again);
    assert_ne!(first.id, other.id);
    assert_eq!(desk.tickets_created(), 2);
    let solved = desk
        .update_ticket(
            &first.id,
            TicketUpdate {
                status: Some(TicketStatus::Solved),
                note: Some("refunded by hand".into()),
            },
        )
        .await
        .expect("demo");
    assert_eq!(solved.status, TicketStatus::Solved);
    let stored = desk.stored(&first.id).expect("stored");
    assert_eq!(stored.notes, ["refunded by hand"]);
    assert_eq!(stored.request.subject, "a");
    let error = desk
        .update_ticket("T-0", TicketUpdate::default())
        .await
        .expect_err("unknown");
    assert_eq!(
        (error.connector(), error.operation(), error.input()),
        ("ticketing", "update_ticket", "T-0")
    );
}

#[tokio::test]
async fn the_data_is_complete_and_consistent() {
    let customers = demo_customers();
    let orders = demo_orders();
    assert_eq!(customers.len(), 10);
    let ids: HashSet<&str> = customers.iter().map(|c| c.id.as_str()).collect();
    let emails: HashSet<String> = customers.iter().map(|c| c.email.to_lowercase()).collect();
    assert_eq!(ids.len(), customers.len());
    assert_eq!(emails.len(), customers.len());
    for c in &customers {
        assert!(["en", "es"].contains(&c.language.as_str()), "{c:?}");
        if let Some(phone) = &c.phone {
            let digits = phone.strip_prefix('+').expect("E.164 starts with +");
            assert!((8..=15).contains(&digits.len()), "{phone}");
            assert!(
                digits.chars().all(|d| d.is_ascii_digit()) && !digits.starts_with('0'),
                "{phone}"
            );
        }
    }
    let vips: Vec<_> = customers.iter().filter(|c| c.tier == Tier::Vip).collect();
    assert_eq!(vips.len(), 1);
    assert_eq!(vips[0].name, "Marcus Webb");
    assert!(customers
        .iter()
        .all(|c| c.lifetime_value.amount_cents <= vips[0].lifetime_value.amount_cents));
    assert!(customers.iter().any(|c| c.tier == Tier::Plus));
    assert!(customers.iter().filter(|c| c.language == "es").count() >= 4);

    let numbers: HashSet<&str> = orders.iter().map(|o| o.number.as_str()).collect();
    assert_eq!(numbers.len(), orders.len());
    for o in &orders {
        assert!(
            o.number.len() == 5 && o.number.chars().all(|d| d.is_ascii_digit()),
            "{}",
            o.number
        );
        assert!(ids.contains(o.customer_id.as_str()), "{}", o.number);
        assert_eq!(o.placed_on.year(), 2026);
        assert!(!o.items.is_empty());
        assert!(o.payments.iter().all(|p| p.amount.currency == o.total.currency));
        if matches!(
            o.status,
            OrderStatus::Shipped | OrderStatus::InTransit | OrderStatus::Delayed
        ) {
            assert!(o.carrier.is_some() && o.tracking_number.is_some(), "{}", o.number);
            assert!(o.estimated_delivery.is_some_and(|d| d > o.placed_on), "{}", o.number);
        }
    }
    for status in OrderStatus::ALL {
        assert!(orders.iter().any(|o| o.status == status), "no {status} order");
    }
    let with_duplicates: Vec<&str> = orders
        .iter()
        .filter(|o| !o.duplicate_payments().is_empty())
        .map(|o| o.number.as_str())
        .collect();
    assert_eq!(with_duplicates, ["54192", "54210"]);

    // The connectors' demo is this data.
    let connectors = Connectors::demo();
    let marcus = connectors
        .customers
        .customer("c-1003")
        .await
        .expect("demo")
        .expect("Marcus");
    assert_eq!(marcus.tier, Tier::Vip);
    assert_eq!(marcus.lifetime_value.to_string(), "18450.00 EUR");
    let delayed = connectors.orders.order("54177").await.expect("demo").expect("54177");
    assert_eq!(delayed.status, OrderStatus::Delayed);
    assert_eq!(
        delayed.estimated_delivery.map(|d| d.to_string()),
        Some("2026-03-16".to_owned())
    );
}

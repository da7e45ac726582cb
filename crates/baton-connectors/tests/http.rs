//! The HTTP/JSON connectors against a real loopback server: the contract, encoding, auth,
//! timeouts, retries with idempotency keys, status classification and the circuit breaker.

mod common;

use baton_connectors::http::HttpSettings;
use baton_connectors::{
    ChangeResult, ConnectorError, ConnectorKind, Connectors, ConnectorsConfig, CustomerDirectory, DemoOrders,
    HttpCustomers, HttpOrders, HttpTicketing, Money, NewTicket, Orders, RefundReason, RefundResult, TicketPriority,
    TicketStatus, TicketUpdate, Ticketing, DEMO_REFUND_FAILURE,
};
use common::{refused_url, Fault, TestShop};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn customers(settings: HttpSettings) -> HttpCustomers {
    HttpCustomers::new(settings).expect("client")
}

fn orders(settings: HttpSettings) -> HttpOrders {
    HttpOrders::new(settings).expect("client")
}

fn tickets(settings: HttpSettings) -> HttpTicketing {
    HttpTicketing::new(settings).expect("client")
}

fn new_ticket() -> NewTicket {
    NewTicket {
        subject: "Refund failed for order 54192".into(),
        body: "Duplicate charge of 49.90 EUR; the automatic refund failed.".into(),
        customer_email: Some("sarah.chen@example.com".into()),
        priority: TicketPriority::High,
        conversation_id: "conv-1".into(),
    }
}

#[tokio::test]
async fn lookups_follow_the_contract_and_404_is_none() {
    let shop = TestShop::start().await;
    let crm = customers(shop.settings());
    let orders = orders(shop.settings());

    let sarah = crm
        .find_by_email("sarah.chen@example.com")
        .await
        .expect("answer")
        .expect("found");
    assert_eq!(sarah.id, "c-1001");
    assert_eq!(sarah.phone.as_deref(), Some("+14155550142"));
    assert_eq!(crm.customer("c-1001").await.expect("answer"), Some(sarah));
    assert_eq!(crm.customer("c-9999").await.expect("answer"), None);
    assert_eq!(crm.find_by_email("nobody@example.com").await.expect("answer"), None);

    let order = orders.order("54192").await.expect("answer").expect("found");
    assert_eq!(Some(&order), DemoOrders::new().snapshot("54192").as_ref());
    assert_eq!(order.duplicate_payments().len(), 1);
    assert_eq!(orders.order("99999").await.expect("answer"), None);
    let of_sarah = orders.orders_of("c-1001").await.expect("answer");
    let numbers: Vec<&str> = of_sarah.iter().map(|o| o.number.as_str()).collect();
    assert_eq!(numbers, ["54192", "53871"]);
    assert!(orders.orders_of("c-9999").await.expect("answer").is_empty());

    let hit = &shop.hits_on("/orders/54192")[0];
    assert_eq!(hit.method, "GET");
    assert_eq!(hit.header("accept"), Some("application/json"));
    assert_eq!(hit.header("authorization"), None);
}

#[tokio::test]
async fn inputs_are_percent_encoded_never_spliced() {
    let shop = TestShop::start().await;
    let crm = customers(shop.settings());
    let orders = orders(shop.settings());

    let found = crm.find_by_email("no+such&user=x@example.com").await.expect("answer");
    assert_eq!(found, None);
    let hits = shop.hits_on("/customers");
    assert_eq!(
        hits[0].query.as_deref(),
        Some("email=no%2Bsuch%26user%3Dx%40example.com")
    );

    assert_eq!(orders.order("../customers/c-1001").await.expect("answer"), None);
    assert_eq!(
        shop.hits().last().map(|h| h.path.clone()),
        Some("/api/orders/..%2Fcustomers%2Fc-1001".to_owned())
    );

    // `.`, `..` and empty segments cannot name a record: answered without a request.
    let before = shop.hits().len();
    assert_eq!(orders.order("..").await.expect("answer"), None);
    assert_eq!(crm.customer("").await.expect("answer"), None);
    assert!(matches!(
        orders.cancel_order(".", "k").await.expect("answer"),
        ChangeResult::Refused { .. }
    ));
    assert_eq!(shop.hits().len(), before);
}

#[tokio::test]
async fn actions_follow_the_contract() {
    let shop = TestShop::start().await;
    let orders = orders(shop.settings());

    let eligibility = orders
        .refund_eligibility("54192", RefundReason::DuplicateCharge)
        .await
        .expect("answer");
    assert!(eligibility.eligible);
    assert_eq!(eligibility.amount, Some(Money::eur(4990)));
    assert_eq!(
        shop.hits_on("/orders/54192/refund-eligibility")[0].query.as_deref(),
        Some("reason=duplicate_charge")
    );
    assert_eq!(
        orders
            .start_refund("54192", RefundReason::DuplicateCharge, "key-sarah")
            .await
            .expect("answer"),
        RefundResult::Failed {
            reason: DEMO_REFUND_FAILURE.into()
        }
    );
    let refund_hit = &shop.hits_on("/orders/54192/refunds")[0];
    assert_eq!(refund_hit.method, "POST");
    assert_eq!(refund_hit.header("idempotency-key"), Some("key-sarah"));
    assert_eq!(refund_hit.header("content-type"), Some("application/json"));

    let started = orders
        .start_refund("54210", RefundReason::DuplicateCharge, "key-lucia")
        .await
        .expect("answer");
    assert!(matches!(started, RefundResult::Started { ref amount, .. } if *amount == Money::eur(8900)));
    assert_eq!(shop.inner.orders.refunds_started(), 1);

    assert!(matches!(
        orders.cancel_order("54250", "cancel-1").await.expect("answer"),
        ChangeResult::Done { .. }
    ));
    assert!(matches!(
        orders.cancel_order("54244", "cancel-2").await.expect("answer"),
        ChangeResult::Refused { .. }
    ));
    assert!(matches!(
        orders
            .change_address("54261", "1 Infinite Loop, Cupertino, CA 95014, US", "addr-1")
            .await
            .expect("answer"),
        ChangeResult::Done { .. }
    ));
    assert_eq!(
        shop.inner.orders.snapshot("54261").map(|o| o.shipping_address),
        Some("1 Infinite Loop, Cupertino, CA 95014, US".to_owned())
    );
    // An unknown order reads as the shop's refusal, not an error.
    assert!(matches!(
        orders.cancel_order("99999", "cancel-3").await.expect("answer"),
        ChangeResult::Refused { .. }
    ));
    assert!(matches!(
        orders
            .start_refund("99999", RefundReason::Return, "refund-x")
            .await
            .expect("answer"),
        RefundResult::Failed { .. }
    ));
    assert!(
        !orders
            .refund_eligibility("99999", RefundReason::Return)
            .await
            .expect("answer")
            .eligible
    );

    let desk = tickets(shop.settings());
    let ticket = desk.create_ticket(new_ticket(), "ticket-1").await.expect("ticket");
    assert_eq!(ticket.status, TicketStatus::Open);
    let again = desk.create_ticket(new_ticket(), "ticket-1").await.expect("ticket");
    assert_eq!(again, ticket);
    assert_eq!(shop.inner.tickets.tickets_created(), 1);
    let updated = desk
        .update_ticket(
            &ticket.id,
            TicketUpdate {
                status: Some(TicketStatus::Pending),
                note: Some("waiting for the processor".into()),
            },
        )
        .await
        .expect("updated");
    assert_eq!(updated.status, TicketStatus::Pending);
    assert_eq!(shop.hits_on(&format!("/tickets/{}", ticket.id))[0].method, "PATCH");
    // Open tickets by the customer's email (any case): the pending one is listed, a solved one not.
    let listed = desk.open_tickets("Sarah.Chen@example.com").await.expect("listed");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, ticket.id);
    assert_eq!(listed[0].status, TicketStatus::Pending);
    assert_eq!(listed[0].subject, "Refund failed for order 54192");
    let hit = &shop.hits_on("/tickets")[2];
    assert_eq!(hit.method, "GET");
    assert_eq!(
        hit.query.as_deref(),
        Some("customer_email=Sarah.Chen%40example.com&status=open")
    );
    desk.update_ticket(
        &ticket.id,
        TicketUpdate {
            status: Some(TicketStatus::Solved),
            note: None,
        },
    )
    .await
    .expect("solved");
    assert!(desk
        .open_tickets("sarah.chen@example.com")
        .await
        .expect("listed")
        .is_empty());
    assert!(desk
        .open_tickets("nobody@example.com")
        .await
        .expect("listed")
        .is_empty());
    let missing = desk
        .update_ticket("T-9999", TicketUpdate::default())
        .await
        .expect_err("unknown ticket");
    assert!(matches!(missing, ConnectorError::NotFound { .. }), "{missing:?}");
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried_for_gets() {
    let shop = TestShop::start().await;
    shop.set_fault(Fault::Slow(Duration::from_secs(2)));
    let mut settings = shop.settings();
    settings.timeout = Duration::from_millis(100);
    settings.retries = 1;
    let orders = orders(settings);

    let started = Instant::now();
    let error = orders.order("54192").await.expect_err("times out");
    // Well before the server's two seconds.
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        error,
        ConnectorError::Timeout {
            connector: "orders",
            operation: "order",
            input: "54192".into(),
            after_ms: 100
        }
    );
    assert_eq!(shop.hits_on("/orders/54192").len(), 2, "one retry");
}

#[tokio::test]
async fn server_errors_are_retried_then_unavailable() {
    let shop = TestShop::start().await;
    shop.set_fault(Fault::Status(500));
    let crm = customers(shop.settings());
    let error = crm.customer("c-1001").await.expect_err("unavailable");
    match &error {
        ConnectorError::Unavailable {
            connector,
            operation,
            input,
            detail,
        } => {
            assert_eq!((*connector, *operation, input.as_str()), ("crm", "customer", "c-1001"));
            assert!(detail.contains("500"), "{detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(shop.hits_on("/customers/c-1001").len(), 3, "1 + 2 retries");
}

#[tokio::test]
async fn malformed_json_is_a_bad_response_and_not_retried() {
    let shop = TestShop::start().await;
    shop.set_fault(Fault::Malformed);
    let orders = orders(shop.settings());
    let error = orders.order("54192").await.expect_err("malformed");
    assert!(
        matches!(
            error,
            ConnectorError::BadResponse {
                connector: "orders",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(shop.hits().len(), 1);
}

#[tokio::test]
async fn client_errors_are_refused_and_not_retried() {
    let shop = TestShop::start().await;
    shop.set_fault(Fault::Status(422));
    let orders = orders(shop.settings());
    let error = orders
        .start_refund("54210", RefundReason::DuplicateCharge, "k-422")
        .await
        .expect_err("refused");
    assert_eq!(
        error,
        ConnectorError::Refused {
            connector: "orders",
            operation: "start_refund",
            input: "54210".into(),
            status: 422,
            detail: "injected failure".into()
        }
    );
    assert_eq!(shop.hits().len(), 1);
}

#[tokio::test]
async fn keyed_posts_are_retried_with_the_same_key() {
    let shop = TestShop::start().await;
    shop.set_fault(Fault::FailFirst {
        status: 503,
        remaining: 2,
    });
    let orders = orders(shop.settings());
    let result = orders
        .start_refund("54210", RefundReason::DuplicateCharge, "refund-54210-a")
        .await
        .expect("third attempt succeeds");
    assert!(matches!(result, RefundResult::Started { .. }), "{result:?}");
    let hits = shop.hits_on("/orders/54210/refunds");
    assert_eq!(hits.len(), 3);
    assert!(hits
        .iter()
        .all(|h| h.header("idempotency-key") == Some("refund-54210-a")));
    assert_eq!(shop.inner.orders.refunds_started(), 1);
}

#[tokio::test]
async fn unkeyed_posts_and_patches_are_never_retried() {
    let shop = TestShop::start().await;
    shop.set_fault(Fault::FailFirst {
        status: 503,
        remaining: 1,
    });
    let orders = orders(shop.settings());
    let error = orders
        .start_refund("54210", RefundReason::DuplicateCharge, "")
        .await
        .expect_err("one attempt only");
    assert!(matches!(error, ConnectorError::Unavailable { .. }), "{error:?}");
    let hits = shop.hits_on("/orders/54210/refunds");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].header("idempotency-key"), None);

    let desk = tickets(shop.settings());
    let ticket = desk.create_ticket(new_ticket(), "t-1").await.expect("ticket");
    shop.set_fault(Fault::FailFirst {
        status: 503,
        remaining: 1,
    });
    let error = desk
        .update_ticket(
            &ticket.id,
            TicketUpdate {
                status: None,
                note: Some("note".into()),
            },
        )
        .await
        .expect_err("one attempt only");
    assert!(matches!(error, ConnectorError::Unavailable { .. }), "{error:?}");
    assert_eq!(shop.hits_on(&format!("/tickets/{}", ticket.id)).len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let mut settings = HttpSettings::new(refused_url().await);
    settings.retries = 1;
    settings.backoff = Duration::from_millis(5);
    let crm = customers(settings);
    let error = crm
        .find_by_email("sarah.chen@example.com")
        .await
        .expect_err("nothing listens");
    match &error {
        ConnectorError::Unavailable { detail, .. } => {
            assert!(detail.contains("connect"), "{detail}");
            assert!(!detail.contains("sarah"), "the URL stays out: {detail}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_closes_after_the_cooldown() {
    let shop = TestShop::start().await;
    shop.set_fault(Fault::Status(500));
    let mut settings = shop.settings();
    settings.retries = 0;
    settings.breaker_failures = 3;
    // A cooldown long enough that no pause of a loaded machine ends it early.
    settings.breaker_cooldown = Duration::from_secs(1);
    let orders = orders(settings);
    let hits = || shop.hits_on("/orders/54192").len();

    for _ in 0..3 {
        let error = orders.order("54192").await.expect_err("500");
        assert!(matches!(error, ConnectorError::Unavailable { .. }), "{error:?}");
    }
    assert_eq!(hits(), 3);
    let error = orders.order("54192").await.expect_err("open");
    assert_eq!(
        error,
        ConnectorError::CircuitOpen {
            connector: "orders",
            operation: "order",
            input: "54192".into()
        }
    );
    assert_eq!(hits(), 3, "fails fast without reaching the server");

    // After the cooldown one trial goes through; it fails, so the circuit opens again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let error = orders.order("54192").await.expect_err("trial fails");
    assert!(matches!(error, ConnectorError::Unavailable { .. }), "{error:?}");
    assert_eq!(hits(), 4);
    let error = orders.order("54192").await.expect_err("open again");
    assert!(matches!(error, ConnectorError::CircuitOpen { .. }), "{error:?}");
    assert_eq!(hits(), 4);

    // Healthy again: the next trial closes the circuit.
    shop.set_fault(Fault::None);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(orders.order("54192").await.expect("trial succeeds").is_some());
    assert!(orders.order("54192").await.expect("closed").is_some());
    assert_eq!(hits(), 6);
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_auth_header_arrives_and_is_never_printed_or_logged() {
    let shop = TestShop::start().await;
    let config: ConnectorsConfig = toml::from_str(&format!(
        r#"
        [crm]
        kind = "http"
        base_url = "{}"
        auth_header = "X-Api-Key"
        auth_env = "BATON_TEST_CRM_KEY"
        timeout_ms = 500

        [orders]
        kind = "http"
        base_url = "{}"
        auth_env = "BATON_TEST_ORDERS_TOKEN"
        "#,
        shop.base_url(),
        shop.base_url()
    ))
    .expect("configuration");
    assert_eq!(config.ticketing, None, "absent: demo");
    assert_eq!(config.crm.as_ref().map(|c| c.kind), Some(ConnectorKind::Http));
    let env = |name: &str| match name {
        "BATON_TEST_CRM_KEY" => Some("crm-s3cret".to_owned()),
        "BATON_TEST_ORDERS_TOKEN" => Some("Bearer orders-s3cret".to_owned()),
        _ => None,
    };
    let connectors = Connectors::from_config_with_env(&config, &env).expect("valid");

    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let sarah = connectors
        .customers
        .find_by_email("sarah.chen@example.com")
        .await
        .expect("answer");
    assert!(sarah.is_some());
    connectors
        .orders
        .change_address("54250", "Calle Falsa 123, 28001 Madrid, ES", "addr-key")
        .await
        .expect("answer");
    drop(guard);

    let hits = shop.hits();
    assert_eq!(hits[0].header("x-api-key"), Some("crm-s3cret"));
    assert_eq!(hits[0].header("authorization"), None);
    assert_eq!(hits[1].header("authorization"), Some("Bearer orders-s3cret"));

    let logs = String::from_utf8(logs.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
        .expect("UTF-8 logs");
    assert!(logs.contains("find_by_email") && logs.contains("crm"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    for secret_or_body in ["s3cret", "sarah.chen", "Calle Falsa", "addr-key"] {
        assert!(!logs.contains(secret_or_body), "{secret_or_body} in {logs}");
    }
    let printed = format!("{connectors:?}");
    assert!(!printed.contains("s3cret"));
    let settings = config
        .crm
        .as_ref()
        .expect("crm")
        .http_settings("crm", &env)
        .expect("valid");
    let printed = format!("{:?}", customers(settings));
    assert!(
        printed.contains("x-api-key") && printed.contains("redacted"),
        "{printed}"
    );
    assert!(!printed.contains("s3cret"), "{printed}");

    // The ticketing section was absent: the demo help desk answers without the server.
    let before = shop.hits().len();
    connectors
        .tickets
        .create_ticket(new_ticket(), "demo-ticket")
        .await
        .expect("demo ticket");
    assert_eq!(shop.hits().len(), before);
}

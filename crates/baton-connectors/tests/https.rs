//! The HTTP connectors over TLS, against a loopback server whose certificate comes from a CA
//! made for these tests (`tests/tls`): trusted through `ca_file`, the contract works as over
//! plain HTTP; without it the certificate is refused and the call is a connector error.

// Shared with the plain-HTTP tests, which use more of it.
#[allow(dead_code)]
mod common;

use baton_connectors::{ConnectorConfigError, ConnectorError, ConnectorKind, Connectors, ConnectorsConfig};
use common::TestShop;

/// A configuration whose CRM and order system are `shop`, trusting `ca_file` when given.
fn config(shop: &TestShop, ca_file: Option<&str>) -> ConnectorsConfig {
    let mut toml = String::new();
    for section in ["crm", "orders"] {
        toml.push_str(&format!(
            "[{section}]\nkind = \"http\"\nbase_url = \"{}\"\ntimeout_ms = 2000\nretries = 0\n",
            shop.base_url()
        ));
        if let Some(path) = ca_file {
            toml.push_str(&format!("ca_file = \"{path}\"\n"));
        }
    }
    let config: ConnectorsConfig = toml::from_str(&toml).expect("a connectors section");
    assert_eq!(config.crm.as_ref().map(|c| c.kind), Some(ConnectorKind::Http));
    config
}

fn test_ca() -> String {
    format!("{}/tests/tls/ca.pem", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn an_https_system_with_a_trusted_ca_answers_as_over_http() {
    let shop = TestShop::start_tls().await;
    assert!(shop.base_url().as_str().starts_with("https://127.0.0.1:"));
    let connectors = Connectors::from_config(&config(&shop, Some(&test_ca()))).expect("connectors");
    let sarah = connectors
        .customers
        .find_by_email("sarah.chen@example.com")
        .await
        .expect("an answer over TLS")
        .expect("found");
    assert_eq!(sarah.id, "c-1001");
    let order = connectors
        .orders
        .order("54192")
        .await
        .expect("an answer")
        .expect("found");
    assert_eq!(order.customer_id, "c-1001");
    assert_eq!(shop.hits_on("/orders/54192").len(), 1);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused_as_a_connector_error() {
    let shop = TestShop::start_tls().await;
    let connectors = Connectors::from_config(&config(&shop, None)).expect("connectors");
    let refused = connectors
        .customers
        .find_by_email("sarah.chen@example.com")
        .await
        .expect_err("the server's certificate is not trusted");
    assert!(matches!(refused, ConnectorError::Unavailable { .. }), "{refused:?}");
    assert!(shop.hits_on("/customers").is_empty(), "no request got through");
}

#[tokio::test]
async fn an_unreadable_or_bad_ca_file_is_named_at_start() {
    let shop = TestShop::start_tls().await;
    let missing = Connectors::from_config(&config(&shop, Some("/nonexistent/ca.pem"))).expect_err("no such file");
    assert!(
        matches!(
            &missing,
            ConnectorConfigError::Invalid {
                section: "crm",
                field: "ca_file",
                ..
            }
        ),
        "{missing:?}"
    );
    assert!(missing.to_string().contains("/nonexistent/ca.pem"), "{missing}");
    let not_pem = format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let bad = Connectors::from_config(&config(&shop, Some(&not_pem))).expect_err("not certificates");
    assert!(
        matches!(
            &bad,
            ConnectorConfigError::Invalid {
                section: "crm",
                field: "ca_file",
                ..
            }
        ),
        "{bad:?}"
    );
    assert!(bad.to_string().contains("no PEM certificate"), "{bad}");
}

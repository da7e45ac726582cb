//! Why a call to a shop system gave no answer: the one error enum of the connectors.
//!
//! Owns: [`ConnectorError`], its messages and accessors. Every variant names the connector
//! (`crm`, `orders`, `ticketing`), the operation and the input of the call (an e-mail address,
//! an order number, a customer or ticket id), never a secret and never a request body.
//! Must not touch: configuration errors (those are [`crate::ConnectorConfigError`]) and
//! business outcomes such as a failed refund or a refused cancellation, which are answers
//! ([`crate::RefundResult`], [`crate::ChangeResult`]), not errors.

/// A call to a shop system that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// No complete answer within the configured timeout (after any retries).
    #[error("{connector} {operation} ({input}): no answer within {after_ms} ms")]
    Timeout {
        connector: &'static str,
        operation: &'static str,
        input: String,
        after_ms: u64,
    },
    /// Connection refused or reset, or a 5xx status after the retries.
    #[error("{connector} {operation} ({input}): unavailable: {detail}")]
    Unavailable {
        connector: &'static str,
        operation: &'static str,
        input: String,
        detail: String,
    },
    /// Too many consecutive failures: the call was not made.
    #[error("{connector} {operation} ({input}): not called, the circuit is open after repeated failures")]
    CircuitOpen {
        connector: &'static str,
        operation: &'static str,
        input: String,
    },
    /// An answer that is not what the contract says: malformed JSON, unexpected shape or status.
    #[error("{connector} {operation} ({input}): bad response: {detail}")]
    BadResponse {
        connector: &'static str,
        operation: &'static str,
        input: String,
        detail: String,
    },
    /// A 4xx status other than 404 (not retried).
    #[error("{connector} {operation} ({input}): refused with status {status}: {detail}")]
    Refused {
        connector: &'static str,
        operation: &'static str,
        input: String,
        status: u16,
        detail: String,
    },
    /// The thing to change does not exist (only for calls that cannot answer "none",
    /// such as updating a ticket).
    #[error("{connector} {operation} ({input}): not found")]
    NotFound {
        connector: &'static str,
        operation: &'static str,
        input: String,
    },
    /// The call was not made because its input cannot be sent (e.g. an idempotency key that is
    /// not a valid header value).
    #[error("{connector} {operation} ({input}): cannot be sent: {detail}")]
    InvalidInput {
        connector: &'static str,
        operation: &'static str,
        input: String,
        detail: String,
    },
}

impl ConnectorError {
    /// `crm`, `orders` or `ticketing`.
    pub fn connector(&self) -> &'static str {
        match self {
            Self::Timeout { connector, .. }
            | Self::Unavailable { connector, .. }
            | Self::CircuitOpen { connector, .. }
            | Self::BadResponse { connector, .. }
            | Self::Refused { connector, .. }
            | Self::NotFound { connector, .. }
            | Self::InvalidInput { connector, .. } => connector,
        }
    }

    /// The trait method that failed, e.g. `find_by_email`.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Timeout { operation, .. }
            | Self::Unavailable { operation, .. }
            | Self::CircuitOpen { operation, .. }
            | Self::BadResponse { operation, .. }
            | Self::Refused { operation, .. }
            | Self::NotFound { operation, .. }
            | Self::InvalidInput { operation, .. } => operation,
        }
    }

    /// What the call was about: an e-mail address, order number, customer or ticket id.
    pub fn input(&self) -> &str {
        match self {
            Self::Timeout { input, .. }
            | Self::Unavailable { input, .. }
            | Self::CircuitOpen { input, .. }
            | Self::BadResponse { input, .. }
            | Self::Refused { input, .. }
            | Self::NotFound { input, .. }
            | Self::InvalidInput { input, .. } => input,
        }
    }

    /// Whether trying again later may help: the system was slow, down or fenced off.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Unavailable { .. } | Self::CircuitOpen { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_connector_operation_and_input() {
        let e = ConnectorError::Timeout {
            connector: "orders",
            operation: "order",
            input: "54192".into(),
            after_ms: 2000,
        };
        assert_eq!(e.to_string(), "orders order (54192): no answer within 2000 ms");
        assert_eq!(e.connector(), "orders");
        assert_eq!(e.operation(), "order");
        assert_eq!(e.input(), "54192");
        assert!(e.is_transient());
        let refused = ConnectorError::Refused {
            connector: "ticketing",
            operation: "create_ticket",
            input: "conversation c1".into(),
            status: 422,
            detail: "subject missing".into(),
        };
        assert!(!refused.is_transient());
        assert_eq!(
            refused.to_string(),
            "ticketing create_ticket (conversation c1): refused with status 422: subject missing"
        );
    }
}

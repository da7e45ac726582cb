//! The `[connectors]` configuration section and its checks: which implementation each
//! connector uses and, for HTTP, where and how patiently it calls.
//!
//! Owns: [`ConnectorsConfig`], [`ConnectorConfig`], [`ConnectorConfigError`] and turning a
//! section into [`HttpSettings`], which is where the auth header's value is read from the
//! environment (it is never in the file, never logged, and redacted in `Debug`).
//! Must not touch: reading files (the binary does), making calls, or demo data.

use crate::http::{AuthHeader, HttpSettings, InvalidAuthHeader};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 2_000;
pub(crate) const DEFAULT_RETRIES: u32 = 2;
pub(crate) const DEFAULT_BACKOFF_MS: u64 = 100;
pub(crate) const DEFAULT_BREAKER_FAILURES: u32 = 5;
pub(crate) const DEFAULT_BREAKER_COOLDOWN_MS: u64 = 30_000;
const DEFAULT_AUTH_HEADER: &str = "Authorization";
/// Limits that catch a misplaced digit rather than restrict anyone.
const MAX_TIMEOUT_MS: u64 = 10 * 60 * 1_000;
const MAX_RETRIES: u32 = 10;

/// The `[connectors]` section: one optional sub-section per connector; an absent one means
/// the built-in demo.
///
/// ```toml
/// [connectors.crm]
/// kind = "http"
/// base_url = "https://crm.example/api"
/// auth_header = "Authorization"     # optional, this is the default
/// auth_env = "BATON_CRM_AUTH"       # the variable holding the header's value
/// timeout_ms = 2000                 # per attempt
/// retries = 2                       # extra attempts, idempotent calls only
/// backoff_ms = 100                  # doubles each retry
/// breaker_failures = 5              # consecutive failures that open the circuit
/// breaker_cooldown_ms = 30000       # then one trial call
/// ca_file = "/etc/baton/crm-ca.pem"  # optional: CAs to trust besides the system's
///
/// [connectors.orders]
/// kind = "demo"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm: Option<ConnectorConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<ConnectorConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticketing: Option<ConnectorConfig>,
}

/// Which implementation a connector uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    /// The built-in demo shop.
    #[default]
    Demo,
    /// The HTTP/JSON contract.
    Http,
}

/// One connector's sub-section, e.g. `[connectors.crm]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub kind: ConnectorKind,
    /// `http` only: the base URL the contract's paths go below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `http` only: the header carrying the credential; `Authorization` when `auth_env` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_header: Option<String>,
    /// `http` only: the name of the environment variable holding the header's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_env: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_retries")]
    pub retries: u32,
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    #[serde(default = "default_breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
    /// `http` only: a PEM file of certificate authorities to trust for `https://` besides
    /// the system's (an internal CA). Read when the connectors are built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}
fn default_retries() -> u32 {
    DEFAULT_RETRIES
}
fn default_backoff_ms() -> u64 {
    DEFAULT_BACKOFF_MS
}
fn default_breaker_failures() -> u32 {
    DEFAULT_BREAKER_FAILURES
}
fn default_breaker_cooldown_ms() -> u64 {
    DEFAULT_BREAKER_COOLDOWN_MS
}

impl Default for ConnectorConfig {
    fn default() -> Self {
        Self {
            kind: ConnectorKind::Demo,
            base_url: None,
            auth_header: None,
            auth_env: None,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            retries: DEFAULT_RETRIES,
            backoff_ms: DEFAULT_BACKOFF_MS,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_cooldown_ms: DEFAULT_BREAKER_COOLDOWN_MS,
            ca_file: None,
        }
    }
}

/// A `[connectors]` section that cannot be used. Names the section and field, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorConfigError {
    #[error("connectors.{section}.{field}: {message}")]
    Invalid {
        /// `crm`, `orders` or `ticketing`.
        section: &'static str,
        field: &'static str,
        message: String,
    },
    #[error("connectors.{section}: cannot build the HTTP client: {detail}")]
    Client { section: &'static str, detail: String },
}

impl ConnectorConfigError {
    pub fn section(&self) -> &'static str {
        match self {
            Self::Invalid { section, .. } | Self::Client { section, .. } => section,
        }
    }
}

impl ConnectorConfig {
    /// The HTTP settings of an `http` section, reading the auth header's value through `env`
    /// (`std::env::var` in [`crate::Connectors::from_config`]). `section` names the section
    /// in errors: `crm`, `orders` or `ticketing`.
    pub fn http_settings(
        &self,
        section: &'static str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HttpSettings, ConnectorConfigError> {
        let invalid = |field: &'static str, message: String| ConnectorConfigError::Invalid {
            section,
            field,
            message,
        };
        let Some(base_url) = &self.base_url else {
            return Err(invalid("base_url", "required when kind = \"http\"".to_owned()));
        };
        let base_url =
            Url::parse(base_url).map_err(|e| invalid("base_url", format!("not a URL ({e}): {base_url:?}")))?;
        match base_url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(invalid(
                    "base_url",
                    format!("must be an http:// or https:// URL, not {other}:"),
                ))
            }
        }
        if base_url.cannot_be_a_base() || base_url.host().is_none() {
            return Err(invalid("base_url", "must have a host".to_owned()));
        }
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(invalid("base_url", "must not have a query or fragment".to_owned()));
        }
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(invalid(
                "base_url",
                "must not carry credentials; use auth_header and auth_env".to_owned(),
            ));
        }
        let auth = match (&self.auth_header, &self.auth_env) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "auth_header",
                    "needs auth_env, the environment variable holding its value".to_owned(),
                ))
            }
            (header, Some(variable)) => {
                let header = header.as_deref().unwrap_or(DEFAULT_AUTH_HEADER);
                if variable.is_empty() {
                    return Err(invalid("auth_env", "is empty".to_owned()));
                }
                let value = env(variable).filter(|v| !v.is_empty()).ok_or_else(|| {
                    invalid(
                        "auth_env",
                        format!("the environment variable {variable} is not set (or empty, or not UTF-8)"),
                    )
                })?;
                Some(AuthHeader::new(header, &value).map_err(|e| match e {
                    InvalidAuthHeader::Name => invalid("auth_header", format!("{header:?} is not a valid header name")),
                    InvalidAuthHeader::Value => invalid(
                        "auth_env",
                        format!("the value of {variable} is not a valid header value"),
                    ),
                })?)
            }
        };
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(invalid(
                "timeout_ms",
                format!("must be between 1 and {MAX_TIMEOUT_MS}, not {}", self.timeout_ms),
            ));
        }
        if self.retries > MAX_RETRIES {
            return Err(invalid(
                "retries",
                format!("must be at most {MAX_RETRIES}, not {}", self.retries),
            ));
        }
        if self.breaker_failures == 0 {
            return Err(invalid("breaker_failures", "must be at least 1".to_owned()));
        }
        Ok(HttpSettings {
            base_url,
            auth,
            timeout: Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            backoff: Duration::from_millis(self.backoff_ms),
            breaker_failures: self.breaker_failures,
            breaker_cooldown: Duration::from_millis(self.breaker_cooldown_ms),
            extra_roots_pem: None,
        })
    }

    /// Checks a `demo` section: the HTTP-only fields must be absent.
    pub(crate) fn check_demo(&self, section: &'static str) -> Result<(), ConnectorConfigError> {
        let set = [
            ("base_url", self.base_url.is_some()),
            ("auth_header", self.auth_header.is_some()),
            ("auth_env", self.auth_env.is_some()),
            ("ca_file", self.ca_file.is_some()),
        ];
        match set.iter().find(|(_, present)| *present) {
            Some((field, _)) => Err(ConnectorConfigError::Invalid {
                section,
                field,
                message: "only used when kind = \"http\"".to_owned(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConnectorsConfig, toml::de::Error> {
        toml::from_str(text)
    }

    fn http(extra: &str) -> ConnectorConfig {
        let text = format!("[crm]\nkind = \"http\"\n{extra}");
        parse(&text).expect("parses").crm.expect("crm section")
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn resolve(
        config: &ConnectorConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HttpSettings, ConnectorConfigError> {
        config.http_settings("crm", env)
    }

    #[test]
    fn parses_the_documented_section_with_defaults() {
        let config = parse(
            r#"
            [crm]
            kind = "http"
            base_url = "http://crm.internal:8080/api"
            auth_env = "BATON_CRM_AUTH"
            [orders]
            kind = "demo"
            "#,
        )
        .expect("parses");
        let crm = config.crm.as_ref().expect("crm");
        assert_eq!(crm.kind, ConnectorKind::Http);
        assert_eq!(crm.timeout_ms, 2000);
        assert_eq!(crm.retries, 2);
        assert_eq!(crm.backoff_ms, 100);
        assert_eq!(crm.breaker_failures, 5);
        assert_eq!(crm.breaker_cooldown_ms, 30_000);
        assert_eq!(config.orders.as_ref().map(|o| o.kind), Some(ConnectorKind::Demo));
        assert!(config.ticketing.is_none());
        assert_eq!(parse("").expect("empty"), ConnectorsConfig::default());
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let e = parse("[crm]\nkind = \"http\"\ntimeout = 5\n").expect_err("unknown field");
        assert!(e.to_string().contains("timeout"), "{e}");
        assert!(parse("[billing]\nkind = \"demo\"\n").is_err());
        assert!(parse("[crm]\nkind = \"soap\"\n").is_err());
        assert!(parse("[crm]\nbase_url = \"http://x\"\n").is_err(), "kind is required");
    }

    #[test]
    fn http_settings_read_the_secret_from_the_environment_and_never_print_it() {
        let config = http("base_url = \"http://127.0.0.1:9/api\"\nauth_header = \"X-Api-Key\"\nauth_env = \"BATON_TEST_KEY\"\ntimeout_ms = 150\n");
        let env = |name: &str| (name == "BATON_TEST_KEY").then(|| "s3cret-value".to_owned());
        let settings = resolve(&config, &env).expect("valid");
        let auth = settings.auth.as_ref().expect("auth header");
        assert_eq!(auth.name().as_str(), "x-api-key");
        assert_eq!(auth.value().to_str().expect("ascii"), "s3cret-value");
        assert_eq!(settings.timeout, Duration::from_millis(150));
        let printed = format!("{settings:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("redacted"), "{printed}");

        let default_header = http("base_url = \"http://127.0.0.1:9\"\nauth_env = \"BATON_TEST_KEY\"\n");
        let settings = resolve(&default_header, &env).expect("valid");
        assert_eq!(settings.auth.expect("auth").name().as_str(), "authorization");
    }

    #[test]
    fn bad_sections_name_their_field() {
        let field = |config: &ConnectorConfig| match resolve(config, &no_env) {
            Err(ConnectorConfigError::Invalid { section, field, .. }) => {
                assert_eq!(section, "crm");
                field
            }
            other => panic!("expected an invalid field, got {other:?}"),
        };
        assert_eq!(field(&http("")), "base_url");
        assert_eq!(field(&http("base_url = \"not a url\"\n")), "base_url");
        assert_eq!(field(&http("base_url = \"ftp://x/\"\n")), "base_url");
        assert_eq!(field(&http("base_url = \"http://u:p@x/\"\n")), "base_url");
        assert_eq!(field(&http("base_url = \"http://x/?a=1\"\n")), "base_url");
        let https = resolve(&http("base_url = \"https://crm.example/api\"\n"), &no_env).expect("https is accepted");
        assert_eq!(https.base_url.scheme(), "https");
        let ok = "base_url = \"http://127.0.0.1:9\"\n";
        assert_eq!(field(&http(&format!("{ok}timeout_ms = 0\n"))), "timeout_ms");
        assert_eq!(field(&http(&format!("{ok}retries = 100\n"))), "retries");
        assert_eq!(field(&http(&format!("{ok}breaker_failures = 0\n"))), "breaker_failures");
        assert_eq!(field(&http(&format!("{ok}auth_header = \"X\"\n"))), "auth_header");
        assert_eq!(field(&http(&format!("{ok}auth_env = \"BATON_MISSING\"\n"))), "auth_env");
        let bad_name = http(&format!("{ok}auth_header = \"bad header\"\nauth_env = \"K\"\n"));
        let env = |_: &str| Some("v".to_owned());
        assert!(matches!(
            resolve(&bad_name, &env),
            Err(ConnectorConfigError::Invalid {
                field: "auth_header",
                ..
            })
        ));
        let bad_value = http(&format!("{ok}auth_env = \"K\"\n"));
        let env = |_: &str| Some("line\nbreak-s3cret".to_owned());
        let e = resolve(&bad_value, &env).expect_err("bad value");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(
            e.to_string(),
            "connectors.crm.auth_env: the value of K is not a valid header value"
        );
        assert!(resolve(&http(ok), &no_env).is_ok());
    }

    #[test]
    fn demo_sections_refuse_http_fields() {
        let config = parse("[orders]\nkind = \"demo\"\nbase_url = \"http://x\"\n")
            .expect("parses")
            .orders
            .expect("orders");
        assert_eq!(
            config.check_demo("orders").expect_err("refused").to_string(),
            "connectors.orders.base_url: only used when kind = \"http\""
        );
        assert!(ConnectorConfig::default().check_demo("orders").is_ok());
    }
}

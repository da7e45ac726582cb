//! The context-first handoff, pure: when a person must take over and why
//! ([`EscalationPolicy`]), the one object the agent gets ([`ContextPackage`], built by
//! [`build_package`], with its JSON Schema), the brief in the agent's language, the opener in
//! the customer's, and the acknowledgment the customer reads when the handoff starts.
//!
//! This crate does no I/O, runs no async code and never reads the clock: memory (the fold
//! over the log), the log's messages, the connectors' snapshot and the time are handed in.
//! The runtime gathers them (waiting on connectors at most the configured budget) and records
//! what comes out as events. Masking of secrets happens earlier, in the domain's
//! `MessageText`, so nothing here ever sees one.

pub mod brief;
pub mod config;
pub mod package;
pub mod phrases;
pub mod policy;
pub mod words;

pub use config::{HandoffConfig, HandoffConfigError, DEMO_HANDOFF_TOML};
pub use package::{build as build_package, schema as package_schema, ContextPackage, PackageInput, Snapshot};
pub use policy::{EscalationPolicy, Message, TurnStart};
pub use words::{acknowledgment, opener};

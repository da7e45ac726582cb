//! Routing, pure: who should serve a waiting customer, and what the customer is told while
//! they wait.
//!
//! - [`config`]: the `[routing]` section (agents' skills, languages, capacity and team; the
//!   queues' languages, hours and maximum wait; priority rules; offers, presence and the
//!   narration's words) and its checks against the handoff's queues.
//! - [`hours`]: whether a queue is open at an instant, and when it opens next (time zones and
//!   holidays).
//! - [`plan`]: the decisions, functions of a snapshot (waiting handoffs, agents on duty, the
//!   clock): which handoff is offered to which agent, the queue's order, the wait estimate.
//! - [`narration`]: the line the customer reads for each moment of the wait, in their language,
//!   never the same line twice in a row.
//!
//! This crate does no I/O, runs no async code and never reads the clock. Presence, offers and
//! their timers live in `baton-runtime`, which records every decision taken here as an event.

pub mod config;
pub mod hours;
pub mod narration;
pub mod plan;

pub use config::{AgentProfile, Routing, RoutingConfig, RoutingConfigError, DEMO_ROUTING_TOML};
pub use hours::{AfterHours, Openness, Schedule};
pub use narration::{Cue, Narration};
pub use plan::{estimate, meaningful_change, order, plan, Offer, OnDuty, Presence, Staffing, Waiting};

//! The bot's dialogue, pure: structured memory as a fold over a conversation's events
//! ([`Memory`]), declarative flows from configuration ([`DialogueConfig`]), and the decision
//! of each turn ([`Turn`]): which flow serves the customer, which slot to ask for, which
//! action to call, what to say.
//!
//! This crate does no I/O, runs no async code and never reads the clock: connectors and the
//! knowledge base are called by the runtime, which hands their answers back to the turn.

pub mod config;
pub mod memory;
pub mod text;
pub mod turn;

pub use config::{DialogueConfig, DialogueConfigError, Localized, DEMO_DIALOGUE_TOML};
pub use memory::Memory;
pub use turn::{
    ActionCall, ActionResult, KnowledgeHit, Reply, Step, Trigger, Turn, TurnOutcome, CLAIM_ACTION, ORDERS_ACTION,
    SIDE_EFFECT_ACTIONS, VERIFY_ACTION,
};

//! Baton's conversation model: who owns a conversation, which phase it is in, which
//! commands are allowed in that phase, and the events each command produces.
//!
//! This crate is pure. It does no I/O, runs no async code, never reads the clock (the
//! caller passes `now`) and never draws random numbers (the caller passes ids). Every rule
//! here can therefore be tested with plain function calls. The store persists what
//! [`ConversationState::decide`] returns; the server carries it to clients.

pub mod bot;
pub mod conversation;
pub mod event;
pub mod handoff;
pub mod ids;
pub mod masking;
pub mod routing;
pub mod text;

pub use bot::{
    ActionOutcome, AuthState, Awaiting, CustomerFacts, FallbackKind, FoundEntity, IntentGuess, MessageAnalysis,
    SentimentReading, SlotSource, Suggestion, Values, VerificationMethod,
};
pub use conversation::{BotReply, Command, ConversationState, Decision, Owner, Phase, PhaseName, Rejection, Resolver};
pub use event::{Event, EventKind, HandoffRequester};
pub use handoff::{BadHandoffId, Escalation, EscalationKind, EscalationReason, HandoffId, Priority};
pub use ids::{AgentId, ConversationId};
pub use masking::SecretKind;
pub use routing::{FollowUp, OfferOutcome, TransferTarget};
pub use text::{Channel, ClientMessageId, CustomerProfile, InputError, Language, MessageText};

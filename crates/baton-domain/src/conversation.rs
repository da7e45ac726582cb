//! The conversation state machine.
//!
//! A conversation is in exactly one [`Phase`]. The phase decides who owns it ([`Owner`]):
//! the bot while it serves the customer, the queue while the customer waits for a human, one
//! agent while a human serves, nobody once it is closed. Commands are checked against the
//! phase in [`ConversationState::decide`], which returns the events to record, or a
//! [`Rejection`] that says why the command is not allowed now.
//!
//! The rule other support systems most often break is kept here, in one place: while an
//! agent owns a conversation, nothing can post as the bot.

use crate::bot::Suggestion;
use crate::event::{Event, EventKind, HandoffRequester};
use crate::handoff::{Escalation, HandoffId};
use crate::ids::{AgentId, ConversationId};
use crate::routing::TransferTarget;
use crate::text::{Channel, ClientMessageId, CustomerProfile, Language, MessageText};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// Where a conversation is in its life, with the owning agent where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The bot serves the customer.
    Bot,
    /// A handoff was requested; the conversation sits in the queue until an agent accepts.
    WaitingForAgent,
    /// One agent owns the conversation; the bot is silent.
    WithAgent { agent_id: AgentId },
    /// The agent handed the conversation back; the bot resumes with its memory.
    HandedBack,
    /// Closed with the customer's issue dealt with.
    Resolved,
    /// Closed because the customer left.
    Abandoned,
}

/// The phase without its data: what the API and the store write down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseName {
    Bot,
    WaitingForAgent,
    WithAgent,
    HandedBack,
    Resolved,
    Abandoned,
}

impl PhaseName {
    pub const ALL: [PhaseName; 6] = [
        PhaseName::Bot,
        PhaseName::WaitingForAgent,
        PhaseName::WithAgent,
        PhaseName::HandedBack,
        PhaseName::Resolved,
        PhaseName::Abandoned,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            PhaseName::Bot => "bot",
            PhaseName::WaitingForAgent => "waiting_for_agent",
            PhaseName::WithAgent => "with_agent",
            PhaseName::HandedBack => "handed_back",
            PhaseName::Resolved => "resolved",
            PhaseName::Abandoned => "abandoned",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for PhaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Phase {
    pub fn name(&self) -> PhaseName {
        match self {
            Phase::Bot => PhaseName::Bot,
            Phase::WaitingForAgent => PhaseName::WaitingForAgent,
            Phase::WithAgent { .. } => PhaseName::WithAgent,
            Phase::HandedBack => PhaseName::HandedBack,
            Phase::Resolved => PhaseName::Resolved,
            Phase::Abandoned => PhaseName::Abandoned,
        }
    }

    /// Rebuilds a phase from its stored name and owning agent. `None` when the two disagree
    /// (an agent without `with_agent`, or `with_agent` without an agent).
    pub fn from_parts(name: PhaseName, agent_id: Option<AgentId>) -> Option<Self> {
        Some(match (name, agent_id) {
            (PhaseName::WithAgent, Some(agent_id)) => Phase::WithAgent { agent_id },
            (PhaseName::WithAgent, None) | (_, Some(_)) => return None,
            (PhaseName::Bot, None) => Phase::Bot,
            (PhaseName::WaitingForAgent, None) => Phase::WaitingForAgent,
            (PhaseName::HandedBack, None) => Phase::HandedBack,
            (PhaseName::Resolved, None) => Phase::Resolved,
            (PhaseName::Abandoned, None) => Phase::Abandoned,
        })
    }

    pub fn agent_id(&self) -> Option<AgentId> {
        match self {
            Phase::WithAgent { agent_id } => Some(*agent_id),
            _ => None,
        }
    }

    pub fn owner(&self) -> Owner {
        match self {
            Phase::Bot | Phase::HandedBack => Owner::Bot,
            Phase::WaitingForAgent => Owner::Queue,
            Phase::WithAgent { agent_id } => Owner::Agent(*agent_id),
            Phase::Resolved | Phase::Abandoned => Owner::Nobody,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self, Phase::Resolved | Phase::Abandoned)
    }
}

/// Who may speak for the support side right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Bot,
    /// Waiting for an agent: Baton may narrate (system notes), the bot may not answer.
    Queue,
    Agent(AgentId),
    /// Closed.
    Nobody,
}

/// Who closes a conversation as resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    Bot,
    Agent(AgentId),
}

/// Something a participant asks to do to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    PostCustomerMessage {
        text: MessageText,
        client_message_id: ClientMessageId,
    },
    PostBotMessage {
        text: MessageText,
        client_message_id: ClientMessageId,
    },
    /// The bot's work on one customer message (or on the conversation's start): what it
    /// understood and did (`records`, each an [`EventKind::is_bot_record`] kind) and, when it
    /// has something to say, its reply. The records are accepted in any open phase (they are
    /// facts: an action that ran must be recorded); the reply only while the bot owns the
    /// conversation, so a reply computed while an agent took over is refused, never posted.
    ///
    /// With `handoff`, the bot hands the conversation to a person in the same command (after
    /// its reply), so the promise "a person will join" and the request cannot come apart.
    /// Facts alone (no reply, no handoff) are accepted even once the conversation closed: an
    /// action that ran while it was being resolved still happened.
    RecordBotTurn {
        records: Vec<EventKind>,
        reply: Option<BotReply>,
        handoff: Option<Escalation>,
    },
    PostAgentMessage {
        agent_id: AgentId,
        text: MessageText,
        client_message_id: ClientMessageId,
    },
    PostSystemNote {
        text: MessageText,
    },
    RequestHandoff {
        requested_by: HandoffRequester,
        escalation: Escalation,
    },
    /// A version of a handoff's context package, built by the runtime after the handoff
    /// started (and again when it learns more). Accepted in any open phase, even once an agent
    /// took the conversation: it is a fact about the handoff. The `acknowledgment` tells the customer what was passed on; it is posted (as a
    /// system note) only while they still wait for a person.
    RecordHandoffPackage {
        handoff_id: HandoffId,
        version: u32,
        package: serde_json::Value,
        acknowledgment: Option<MessageText>,
    },
    /// Routing's records (queue placement, offers, tickets), with a line for the customer.
    /// An offer is accepted only while the customer waits (a race with an accept loses); the
    /// records and the line in any open phase.
    RecordRouting {
        records: Vec<EventKind>,
        note: Option<MessageText>,
        suggestions: Vec<Suggestion>,
        /// Refused unless the customer still waits (a timed line or a ticket that an accept
        /// overtook is not said after the agent joined).
        while_waiting: bool,
    },
    Accept {
        agent_id: AgentId,
        /// Milliseconds since the wait began, when known (recorded with the assignment).
        waited_ms: Option<u64>,
        /// The most conversations the agent may own at once: the store refuses the accept
        /// when they already own this many ([`Rejection::AtCapacity`]), counting in the same
        /// transaction, so simultaneous accepts (on any instance) cannot pass it together.
        capacity: Option<u32>,
    },
    /// The owning agent passes the conversation to a queue or an agent: it waits again.
    Transfer {
        agent_id: AgentId,
        agent_name: Option<String>,
        handoff_id: HandoffId,
        target: TransferTarget,
        note: Option<String>,
    },
    HandBack {
        agent_id: AgentId,
        agent_name: Option<String>,
        note: Option<String>,
    },
    Resolve {
        by: Resolver,
    },
    Abandon,
}

impl Command {
    /// The client message id that makes this command idempotent, if it has one.
    pub fn client_message_id(&self) -> Option<&ClientMessageId> {
        match self {
            Command::PostCustomerMessage { client_message_id, .. }
            | Command::PostBotMessage { client_message_id, .. }
            | Command::PostAgentMessage { client_message_id, .. } => Some(client_message_id),
            Command::RecordBotTurn { reply: Some(reply), .. } => Some(&reply.client_message_id),
            _ => None,
        }
    }

    /// A short name for messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::PostCustomerMessage { .. } => "post a customer message",
            Command::PostBotMessage { .. } => "post a bot message",
            Command::RecordBotTurn { .. } => "record the bot's turn",
            Command::PostAgentMessage { .. } => "post an agent message",
            Command::PostSystemNote { .. } => "post a system note",
            Command::RequestHandoff { .. } => "request a human",
            Command::RecordHandoffPackage { .. } => "record a context package",
            Command::RecordRouting { .. } => "record routing",
            Command::Accept { .. } => "accept",
            Command::Transfer { .. } => "transfer",
            Command::HandBack { .. } => "hand back to the bot",
            Command::Resolve { .. } => "resolve",
            Command::Abandon => "abandon",
        }
    }
}

/// What the bot says at the end of a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotReply {
    pub text: MessageText,
    pub client_message_id: ClientMessageId,
    pub suggestions: Vec<Suggestion>,
}

/// The `handoff_requested` event recorded as `seq` of conversation `id`.
fn handoff_requested(
    id: ConversationId,
    seq: u64,
    requested_by: HandoffRequester,
    escalation: Escalation,
) -> EventKind {
    EventKind::HandoffRequested {
        requested_by,
        handoff_id: Some(HandoffId {
            conversation_id: id,
            seq,
        }),
        reasons: escalation.reasons,
        priority: escalation.priority,
        reason: escalation.note,
    }
}

/// Why a command is not allowed in the conversation's current phase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the conversation is {phase}; it no longer takes `{command}`")]
    Closed { phase: PhaseName, command: &'static str },
    #[error("the bot may not speak while the conversation is {phase}: it does not own it")]
    BotNotOwner { phase: PhaseName },
    #[error("agent {agent_id} does not own this conversation (it is {phase})")]
    NotOwningAgent { agent_id: AgentId, phase: PhaseName },
    #[error("cannot {command} while the conversation is {phase}")]
    NotAllowed { phase: PhaseName, command: &'static str },
    #[error("a bot turn may record only the bot's own work, not `{0}`")]
    NotABotRecord(&'static str),
    #[error("routing may record only queue placements, offers and tickets, not `{0}`")]
    NotARoutingRecord(&'static str),
    #[error("handoff {0} is not one of this conversation's")]
    UnknownHandoff(HandoffId),
    #[error("agent {agent_id} already serves {capacity} conversations, their capacity")]
    AtCapacity { agent_id: AgentId, capacity: u32 },
}

/// The part of a conversation the rules need: its id, phase and last sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    pub id: ConversationId,
    pub phase: Phase,
    /// Sequence number of the newest event; 0 before the first.
    pub last_seq: u64,
}

/// What a command decided: the state after it and the events that record the change, in
/// order, already numbered. An empty `events` means nothing changed (an idempotent no-op).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: ConversationState,
    pub events: Vec<Event>,
}

impl ConversationState {
    /// Starts a conversation: the bot owns it and its first event is `conversation_started`.
    pub fn start(
        id: ConversationId,
        channel: Channel,
        language: Option<Language>,
        customer: CustomerProfile,
        now: OffsetDateTime,
    ) -> Decision {
        let empty = ConversationState {
            id,
            phase: Phase::Bot,
            last_seq: 0,
        };
        empty.record(
            now,
            vec![EventKind::ConversationStarted {
                channel,
                language,
                customer,
            }],
        )
    }

    /// Checks `command` against the current phase and returns the events it produces.
    pub fn decide(&self, command: Command, now: OffsetDateTime) -> Result<Decision, Rejection> {
        let phase = self.phase;
        let name = phase.name();
        let not_allowed = Rejection::NotAllowed {
            phase: name,
            command: command.name(),
        };
        let facts_only = matches!(
            &command,
            Command::RecordBotTurn {
                reply: None,
                handoff: None,
                ..
            }
        );
        if phase.is_closed() && !facts_only {
            return Err(Rejection::Closed {
                phase: name,
                command: command.name(),
            });
        }
        let phase_change = |to: Phase| EventKind::PhaseChanged {
            from: name,
            to: to.name(),
        };

        let kinds = match command {
            Command::PostCustomerMessage {
                text,
                client_message_id,
            } => {
                vec![EventKind::CustomerMessage {
                    hidden: text.hidden(),
                    text,
                    client_message_id,
                }]
            }
            Command::PostBotMessage {
                text,
                client_message_id,
            } => {
                if phase.owner() != Owner::Bot {
                    return Err(Rejection::BotNotOwner { phase: name });
                }
                vec![EventKind::BotMessage {
                    text,
                    client_message_id,
                    suggestions: Vec::new(),
                }]
            }
            Command::RecordBotTurn {
                records,
                reply,
                handoff,
            } => {
                if let Some(bad) = records.iter().find(|r| !r.is_bot_record()) {
                    return Err(Rejection::NotABotRecord(bad.type_name()));
                }
                if (reply.is_some() || handoff.is_some()) && phase.owner() != Owner::Bot {
                    return Err(Rejection::BotNotOwner { phase: name });
                }
                let mut kinds = records;
                if let Some(reply) = reply {
                    kinds.push(EventKind::BotMessage {
                        text: reply.text,
                        client_message_id: reply.client_message_id,
                        suggestions: reply.suggestions,
                    });
                }
                if let Some(escalation) = handoff {
                    let seq = self.last_seq + kinds.len() as u64 + 1;
                    kinds.push(handoff_requested(self.id, seq, HandoffRequester::Bot, escalation));
                    kinds.push(phase_change(Phase::WaitingForAgent));
                }
                kinds
            }
            Command::PostAgentMessage {
                agent_id,
                text,
                client_message_id,
            } => {
                if phase.owner() != Owner::Agent(agent_id) {
                    return Err(Rejection::NotOwningAgent { agent_id, phase: name });
                }
                vec![EventKind::AgentMessage {
                    agent_id,
                    text,
                    client_message_id,
                }]
            }
            Command::PostSystemNote { text } => vec![EventKind::SystemNote {
                text,
                suggestions: Vec::new(),
            }],
            Command::RecordRouting {
                records,
                note,
                suggestions,
                while_waiting,
            } => {
                if let Some(bad) = records.iter().find(|r| !r.is_routing_record()) {
                    return Err(Rejection::NotARoutingRecord(bad.type_name()));
                }
                let offers = records.iter().any(|r| matches!(r, EventKind::OfferMade { .. }));
                if (offers || while_waiting) && phase != Phase::WaitingForAgent {
                    return Err(not_allowed);
                }
                let mut kinds = records;
                if let Some(text) = note {
                    kinds.push(EventKind::SystemNote { text, suggestions });
                }
                kinds
            }
            Command::RequestHandoff {
                requested_by,
                escalation,
            } => match phase {
                Phase::Bot | Phase::HandedBack => vec![
                    handoff_requested(self.id, self.last_seq + 1, requested_by, escalation),
                    phase_change(Phase::WaitingForAgent),
                ],
                // Already waiting for, or talking to, a human: asking again changes nothing.
                Phase::WaitingForAgent | Phase::WithAgent { .. } => Vec::new(),
                Phase::Resolved | Phase::Abandoned => return Err(not_allowed),
            },
            Command::RecordHandoffPackage {
                handoff_id,
                version,
                package,
                acknowledgment,
            } => {
                if handoff_id.conversation_id != self.id || handoff_id.seq > self.last_seq {
                    return Err(Rejection::UnknownHandoff(handoff_id));
                }
                let mut kinds = vec![EventKind::HandoffPackaged {
                    handoff_id,
                    version,
                    package,
                }];
                if let (Some(text), Phase::WaitingForAgent) = (acknowledgment, &phase) {
                    kinds.push(EventKind::SystemNote {
                        text,
                        suggestions: Vec::new(),
                    });
                }
                kinds
            }
            Command::Accept {
                agent_id, waited_ms, ..
            } => match phase {
                Phase::WaitingForAgent => vec![
                    EventKind::Assigned { agent_id, waited_ms },
                    phase_change(Phase::WithAgent { agent_id }),
                ],
                _ => return Err(not_allowed),
            },
            Command::Transfer {
                agent_id,
                agent_name,
                handoff_id,
                target,
                note,
            } => match phase {
                Phase::WithAgent { agent_id: owner } if owner == agent_id => {
                    if handoff_id.conversation_id != self.id || handoff_id.seq > self.last_seq {
                        return Err(Rejection::UnknownHandoff(handoff_id));
                    }
                    vec![
                        EventKind::Transferred {
                            handoff_id,
                            from_agent: agent_id,
                            from_name: agent_name,
                            target,
                            note,
                        },
                        phase_change(Phase::WaitingForAgent),
                    ]
                }
                Phase::WithAgent { .. } => return Err(Rejection::NotOwningAgent { agent_id, phase: name }),
                _ => return Err(not_allowed),
            },
            Command::HandBack {
                agent_id,
                agent_name,
                note,
            } => match phase {
                Phase::WithAgent { agent_id: owner } if owner == agent_id => {
                    vec![
                        EventKind::HandedBack {
                            agent_id,
                            agent_name,
                            note,
                        },
                        phase_change(Phase::HandedBack),
                    ]
                }
                Phase::WithAgent { .. } => return Err(Rejection::NotOwningAgent { agent_id, phase: name }),
                _ => return Err(not_allowed),
            },
            Command::Resolve { by } => match (phase.owner(), by) {
                (Owner::Bot, Resolver::Bot) => vec![phase_change(Phase::Resolved)],
                (Owner::Agent(owner), Resolver::Agent(agent_id)) if owner == agent_id => {
                    vec![phase_change(Phase::Resolved)]
                }
                (_, Resolver::Agent(agent_id)) if phase.agent_id().is_some() => {
                    return Err(Rejection::NotOwningAgent { agent_id, phase: name })
                }
                (_, Resolver::Bot) => return Err(Rejection::BotNotOwner { phase: name }),
                _ => return Err(not_allowed),
            },
            Command::Abandon => match phase {
                Phase::Bot | Phase::WaitingForAgent | Phase::HandedBack => vec![phase_change(Phase::Abandoned)],
                _ => return Err(not_allowed),
            },
        };
        Ok(self.record(now, kinds))
    }

    /// Numbers `kinds` after `last_seq` and applies each to the state.
    fn record(&self, now: OffsetDateTime, kinds: Vec<EventKind>) -> Decision {
        let mut state = self.clone();
        let events = kinds
            .into_iter()
            .map(|kind| {
                let event = Event {
                    conversation_id: self.id,
                    seq: state.last_seq + 1,
                    at: now,
                    kind,
                };
                state.apply(&event);
                event
            })
            .collect();
        Decision { state, events }
    }

    /// Applies one recorded event. Events carry the whole change, so replaying a
    /// conversation's events in order from [`ConversationState::empty`] rebuilds its state.
    pub fn apply(&mut self, event: &Event) {
        self.last_seq = event.seq;
        match &event.kind {
            EventKind::Assigned { agent_id, .. } => self.phase = Phase::WithAgent { agent_id: *agent_id },
            EventKind::PhaseChanged { to, .. } => {
                let agent_id = if *to == PhaseName::WithAgent {
                    self.phase.agent_id()
                } else {
                    None
                };
                if let Some(phase) = Phase::from_parts(*to, agent_id) {
                    self.phase = phase;
                }
            }
            _ => {}
        }
    }

    /// The state before any event.
    pub fn empty(id: ConversationId) -> Self {
        ConversationState {
            id,
            phase: Phase::Bot,
            last_seq: 0,
        }
    }

    /// Rebuilds a conversation's state from its events, oldest first.
    pub fn replay<'a>(id: ConversationId, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut state = Self::empty(id);
        for event in events {
            state.apply(event);
        }
        state
    }
}

#[cfg(test)]
mod tests;

//! Structured memory: what Baton knows about one conversation, rebuilt by folding its events
//! in order ([`Memory::apply`]). Nothing here reads a clock, a model or a configuration, so the
//! same log always gives the same memory, even after the model or the flows changed.
//!
//! It owns the shape of memory and the fold; deciding what to do with it is `turn`'s job.

use baton_domain::{
    ActionOutcome, AgentId, AuthState, Awaiting, Channel, ConversationId, CustomerFacts, CustomerProfile,
    EscalationKind, EscalationReason, Event, EventKind, FallbackKind, HandoffId, HandoffRequester, IntentGuess,
    PhaseName, Priority, SecretKind, SlotSource, TransferTarget, Values,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// One value the conversation holds, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Slot {
    pub value: String,
    pub source: SlotSource,
    /// The customer confirmed it (answering the bot's confirmation).
    pub confirmed: bool,
    /// Values it held before, oldest first (corrections).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<String>,
}

/// The intent of one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IntentTurn {
    pub message_seq: u64,
    /// Absent when the message was out of scope.
    pub intent: Option<String>,
    pub confidence: f32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The message answered a question of the bot (a slot, a confirmation): its intent says
    /// little about what the customer wants.
    pub answering: bool,
}

/// The sentiment of one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SentimentPoint {
    pub message_seq: u64,
    pub score: f32,
}

/// One action the bot attempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ActionAttempt {
    pub action: String,
    pub arguments: Values,
    pub outcome: ActionOutcome,
    pub summary: String,
    pub values: Values,
    pub seq: u64,
}

/// An article the bot showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ArticleShown {
    pub article_id: String,
    pub title: String,
    /// The customer message it answered.
    pub message_seq: u64,
    /// Whether the customer said it helped; absent until they say.
    pub helped: Option<bool>,
}

/// A ticket opened for this conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TicketRef {
    pub id: String,
    pub status: String,
}

/// Times the bot could not act on a message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Fallbacks {
    pub count: u32,
    /// Fallbacks since the last message the bot could act on.
    pub streak: u32,
    #[schema(value_type = Vec<String>)]
    #[serde(serialize_with = "rfc3339_list")]
    pub times: Vec<OffsetDateTime>,
    /// The customer messages the bot could not act on, in order (beside `times`).
    pub message_seqs: Vec<u64>,
    pub last_kind: Option<FallbackKind>,
}

fn rfc3339_list<S: serde::Serializer>(times: &[OffsetDateTime], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(times.len()))?;
    for t in times {
        let text = t
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(serde::ser::Error::custom)?;
        seq.serialize_element(&text)?;
    }
    seq.end()
}

/// A handoff to a person, as far as the log tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HandoffRecord {
    pub id: HandoffId,
    /// Sequence number of its `handoff_requested` event.
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub requested_by: HandoffRequester,
    pub reasons: Vec<EscalationReason>,
    pub priority: Priority,
    /// The customer's own words, when they gave a reason with the handoff button.
    pub note: Option<String>,
    /// The newest version of its context package; 0 before the first.
    pub package_version: u32,
    /// Sequence number of that version's `handoff_packaged` event; 0 before the first.
    pub package_seq: u64,
    /// The queue routing placed it in, and its latest wait estimate.
    pub queue: Option<String>,
    pub wait_estimate_seconds: Option<u64>,
    /// Agents who passed it on, oldest first.
    pub transfers: Vec<TransferRecord>,
    /// Tickets that carry it (after hours, nobody available, a callback).
    pub tickets: Vec<String>,
}

/// One transfer of a handoff by an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransferRecord {
    pub seq: u64,
    pub from_agent: AgentId,
    pub from_name: Option<String>,
    pub target: TransferTarget,
    pub note: Option<String>,
}

/// The end of a human stretch: who handed the conversation back, when, and their note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HandBackRecord {
    pub seq: u64,
    pub agent_id: AgentId,
    pub agent_name: Option<String>,
    pub note: Option<String>,
}

/// A secret the customer typed, hidden before it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HiddenSecret {
    pub message_seq: u64,
    pub kind: SecretKind,
}

/// Where the dialogue stands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Position {
    pub flow: Option<String>,
    pub awaiting: Option<Awaiting>,
}

/// Everything Baton knows about one conversation, as a fold over its events.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Memory {
    pub conversation_id: ConversationId,
    pub channel: Channel,
    /// The conversation's language: as started, then the language of the latest message
    /// whose language was detected.
    pub language: Option<String>,
    /// What the customer said about themselves at the start.
    pub profile: CustomerProfile,
    #[schema(value_type = Object)]
    pub auth: AuthState,
    pub customer: Option<CustomerFacts>,
    /// The intent being served: the flow under way, else the latest message's intent.
    pub current_intent: Option<IntentGuess>,
    pub intents: Vec<IntentTurn>,
    /// Slot name to value: order number, email, address, ...
    pub slots: BTreeMap<String, Slot>,
    pub sentiment: Vec<SentimentPoint>,
    /// How often each frustration marker was seen.
    pub frustration: BTreeMap<String, u32>,
    pub actions: Vec<ActionAttempt>,
    pub articles: Vec<ArticleShown>,
    pub fallbacks: Fallbacks,
    /// The last action or answer that worked.
    pub last_successful_step: Option<String>,
    pub ticket: Option<TicketRef>,
    /// The customer messages whose proof of identity did not match.
    pub verification_failures: Vec<u64>,
    /// Secrets the customer typed (hidden before storage): the agent knows one was given.
    pub hidden: Vec<HiddenSecret>,
    /// Handoffs to a person, oldest first.
    pub handoffs: Vec<HandoffRecord>,
    /// The latest hand-back to the bot, with the agent's note.
    pub handed_back: Option<HandBackRecord>,
    /// Reasons a person already dealt with in this bot stretch (the hand-back's handoff): the
    /// bot does not escalate again for them until the next handoff.
    pub handled_reasons: Vec<EscalationKind>,
    /// Handoffs that came after a hand-back, per reason: the bot bounced the customer back.
    pub bounce_backs: BTreeMap<EscalationKind, u32>,
    pub position: Position,
    pub phase: PhaseName,
    /// The bot said hello.
    pub greeted: bool,
    /// The bot's latest message, so it never says the same line twice in a row.
    pub last_bot_text: Option<String>,
    /// Sequence number of the newest customer message, and of the newest one handled: analysed
    /// by the bot, or sent while a person served the conversation (it was theirs to answer).
    pub last_customer_seq: u64,
    pub last_handled_seq: u64,
    /// Sequence number of the newest event folded in.
    pub last_seq: u64,
}

impl Memory {
    /// Memory before any event.
    pub fn new(conversation_id: ConversationId) -> Self {
        Memory {
            conversation_id,
            channel: Channel::default(),
            language: None,
            profile: CustomerProfile::default(),
            auth: AuthState::Anonymous,
            customer: None,
            current_intent: None,
            intents: Vec::new(),
            slots: BTreeMap::new(),
            sentiment: Vec::new(),
            frustration: BTreeMap::new(),
            actions: Vec::new(),
            articles: Vec::new(),
            fallbacks: Fallbacks::default(),
            last_successful_step: None,
            ticket: None,
            verification_failures: Vec::new(),
            hidden: Vec::new(),
            handoffs: Vec::new(),
            handed_back: None,
            handled_reasons: Vec::new(),
            bounce_backs: BTreeMap::new(),
            position: Position::default(),
            phase: PhaseName::Bot,
            greeted: false,
            last_bot_text: None,
            last_customer_seq: 0,
            last_handled_seq: 0,
            last_seq: 0,
        }
    }

    /// Rebuilds memory from a conversation's events, oldest first.
    pub fn replay<'a>(conversation_id: ConversationId, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut memory = Memory::new(conversation_id);
        for event in events {
            memory.apply(event);
        }
        memory
    }

    /// Folds one event in. Events at or before `last_seq` were already folded and are skipped,
    /// so applying an overlapping page twice changes nothing.
    pub fn apply(&mut self, event: &Event) {
        if event.seq <= self.last_seq {
            return;
        }
        self.last_seq = event.seq;
        self.apply_kind(&event.kind, event.seq, event.at);
    }

    /// Folds in the payload of an event recorded as `seq` at `at` (also used for records of
    /// a turn not yet stored).
    pub fn apply_kind(&mut self, kind: &EventKind, seq: u64, at: OffsetDateTime) {
        match kind {
            EventKind::ConversationStarted {
                channel,
                language,
                customer,
            } => {
                self.channel = *channel;
                self.language = language.as_ref().map(|l| primary_subtag(l.as_str()));
                self.profile = customer.clone();
            }
            EventKind::CustomerMessage { hidden, .. } => {
                self.hidden.extend(hidden.iter().map(|kind| HiddenSecret {
                    message_seq: seq,
                    kind: *kind,
                }));
                self.last_customer_seq = seq;
                if !matches!(self.phase, PhaseName::Bot | PhaseName::HandedBack) {
                    self.last_handled_seq = seq;
                }
            }
            EventKind::BotMessage { text, .. } => {
                self.greeted = true;
                self.last_bot_text = Some(text.as_str().to_owned());
            }
            EventKind::AgentMessage { .. } | EventKind::SystemNote { .. } => {}
            EventKind::HandoffRequested {
                requested_by,
                handoff_id,
                reasons,
                priority,
                reason,
            } => {
                if self.handed_back.is_some() {
                    for reason in reasons {
                        *self.bounce_backs.entry(reason.kind).or_default() += 1;
                    }
                }
                self.handled_reasons.clear();
                self.handoffs.push(HandoffRecord {
                    id: handoff_id.unwrap_or(HandoffId {
                        conversation_id: self.conversation_id,
                        seq,
                    }),
                    seq,
                    at,
                    requested_by: *requested_by,
                    reasons: reasons.clone(),
                    priority: *priority,
                    note: reason.clone(),
                    package_version: 0,
                    package_seq: 0,
                    queue: None,
                    wait_estimate_seconds: None,
                    transfers: Vec::new(),
                    tickets: Vec::new(),
                })
            }
            EventKind::HandoffQueued {
                handoff_id,
                queue,
                wait_estimate_seconds,
                ..
            } => {
                if let Some(handoff) = self.handoffs.iter_mut().find(|h| &h.id == handoff_id) {
                    handoff.queue = Some(queue.clone());
                    handoff.wait_estimate_seconds = *wait_estimate_seconds;
                }
            }
            EventKind::OfferMade { .. } | EventKind::OfferEnded { .. } => {}
            EventKind::TicketOpened {
                handoff_id, ticket_id, ..
            } => {
                if let Some(handoff) = self.handoffs.iter_mut().find(|h| &h.id == handoff_id) {
                    handoff.tickets.push(ticket_id.clone());
                }
                self.ticket = Some(TicketRef {
                    id: ticket_id.clone(),
                    status: "open".into(),
                });
            }
            EventKind::Transferred {
                handoff_id,
                from_agent,
                from_name,
                target,
                note,
            } => {
                if let Some(handoff) = self.handoffs.iter_mut().find(|h| &h.id == handoff_id) {
                    handoff.transfers.push(TransferRecord {
                        seq,
                        from_agent: *from_agent,
                        from_name: from_name.clone(),
                        target: target.clone(),
                        note: note.clone(),
                    });
                }
            }
            EventKind::HandedBack {
                agent_id,
                agent_name,
                note,
            } => {
                self.handled_reasons = self
                    .current_handoff()
                    .map(|h| h.reasons.iter().map(|r| r.kind).collect())
                    .unwrap_or_default();
                self.handed_back = Some(HandBackRecord {
                    seq,
                    agent_id: *agent_id,
                    agent_name: agent_name.clone(),
                    note: note.clone(),
                });
            }
            EventKind::HandoffPackaged {
                handoff_id, version, ..
            } => {
                if let Some(handoff) = self.handoffs.iter_mut().find(|h| &h.id == handoff_id) {
                    handoff.package_version = handoff.package_version.max(*version);
                    handoff.package_seq = seq;
                }
            }
            EventKind::Assigned { .. } => self.phase = PhaseName::WithAgent,
            EventKind::PhaseChanged { to, .. } => {
                self.phase = *to;
                if !self.bot_owns() {
                    // A person takes over: what the customer said so far is theirs to answer,
                    // and the bot's flow ends. After a hand-back the bot starts afresh.
                    self.last_handled_seq = self.last_customer_seq;
                    self.position = Position::default();
                }
            }
            EventKind::MessageAnalyzed { message_seq, analysis } => {
                self.last_handled_seq = self.last_handled_seq.max(*message_seq);
                if analysis.language_detected || self.language.is_none() {
                    self.language = Some(analysis.language.clone());
                }
                let best = analysis.candidates.first();
                self.intents.push(IntentTurn {
                    message_seq: *message_seq,
                    intent: analysis.intent.as_ref().map(|i| i.intent.clone()),
                    confidence: analysis.intent.as_ref().or(best).map_or(0.0, |i| i.confidence),
                    at,
                    answering: self.position.awaiting.is_some(),
                });
                // While a flow is under way, a message answers it ("yes", "54192"): the
                // intent served stays the flow's, whatever the model makes of the answer.
                if let (Some(intent), None) = (&analysis.intent, &self.position.flow) {
                    self.current_intent = Some(intent.clone());
                }
                self.sentiment.push(SentimentPoint {
                    message_seq: *message_seq,
                    score: analysis.sentiment.score,
                });
                for marker in &analysis.sentiment.markers {
                    *self.frustration.entry(marker.clone()).or_default() += 1;
                }
            }
            EventKind::Fallback { kind, message_seq } => {
                self.fallbacks.count += 1;
                self.fallbacks.streak += 1;
                self.fallbacks.times.push(at);
                self.fallbacks.message_seqs.push(*message_seq);
                self.fallbacks.last_kind = Some(*kind);
            }
            EventKind::SlotFilled {
                slot,
                value,
                source,
                replaced,
            } => {
                let mut history = self.slots.get(slot).map(|s| s.replaced.clone()).unwrap_or_default();
                if let Some(old) = replaced {
                    history.push(old.clone());
                }
                self.slots.insert(
                    slot.clone(),
                    Slot {
                        value: value.clone(),
                        source: source.clone(),
                        confirmed: false,
                        replaced: history,
                    },
                );
                if slot == "email" {
                    self.derive_claim();
                }
            }
            EventKind::SlotsConfirmed { slots } => {
                for name in slots {
                    if let Some(slot) = self.slots.get_mut(name) {
                        slot.confirmed = true;
                    }
                }
            }
            EventKind::ActionRecorded {
                action,
                arguments,
                outcome,
                summary,
                values,
                ..
            } => {
                if *outcome == ActionOutcome::Ok {
                    self.last_successful_step = Some(action.clone());
                }
                if let (Some(id), Some(status)) = (values.get("ticket_id"), values.get("ticket_status")) {
                    self.ticket = Some(TicketRef {
                        id: id.clone(),
                        status: status.clone(),
                    });
                }
                self.actions.push(ActionAttempt {
                    action: action.clone(),
                    arguments: arguments.clone(),
                    outcome: *outcome,
                    summary: summary.clone(),
                    values: values.clone(),
                    seq,
                });
                if action == crate::turn::CLAIM_ACTION {
                    self.derive_claim();
                }
            }
            EventKind::ArticleShown { article_id, title, .. } => {
                self.last_successful_step = Some(format!("article {article_id}"));
                self.articles.push(ArticleShown {
                    article_id: article_id.clone(),
                    title: title.clone(),
                    message_seq: self.last_customer_seq,
                    helped: None,
                });
            }
            EventKind::ArticleFeedback { article_id, helped } => {
                if let Some(article) = self.articles.iter_mut().rev().find(|a| &a.article_id == article_id) {
                    article.helped = Some(*helped);
                }
            }
            EventKind::IdentityChanged { auth, customer } => {
                if matches!(auth, AuthState::Failed { .. }) {
                    self.verification_failures.push(self.last_customer_seq);
                }
                self.auth = auth.clone();
                if customer.is_some() {
                    self.customer = customer.clone();
                }
            }
            EventKind::DialogueMoved { flow, awaiting } => {
                // A message the bot could act on ends a fallback streak.
                self.fallbacks.streak = 0;
                if let Some(flow) = flow {
                    if self.current_intent.as_ref().map(|i| &i.intent) != Some(flow) {
                        let confidence = self
                            .intents
                            .iter()
                            .rev()
                            .find(|t| t.intent.as_ref() == Some(flow))
                            .map_or(0.0, |t| t.confidence);
                        self.current_intent = Some(IntentGuess {
                            intent: flow.clone(),
                            confidence,
                        });
                    }
                }
                self.position = Position {
                    flow: flow.clone(),
                    awaiting: awaiting.clone(),
                };
            }
        }
    }

    /// Claimed or anonymous, from the email held and what `find_customer` answered for it:
    /// an account's address is a claim; another address, or one not looked up yet, is none.
    /// Proof (verified) and failed proof come from `identity_changed` and are left alone.
    fn derive_claim(&mut self) {
        if !matches!(self.auth, AuthState::Anonymous | AuthState::Claimed { .. }) {
            return;
        }
        let email = self.slot("email");
        let found = self
            .actions
            .iter()
            .rev()
            .find(|a| a.action == crate::turn::CLAIM_ACTION && a.arguments.get("email").map(String::as_str) == email)
            .filter(|a| a.outcome == ActionOutcome::Ok)
            .and_then(|a| a.values.get("customer_id"));
        self.auth = match found {
            Some(customer_id) if email.is_some() => AuthState::Claimed {
                customer_id: customer_id.clone(),
            },
            _ => AuthState::Anonymous,
        };
    }

    /// The newest handoff, if any.
    pub fn current_handoff(&self) -> Option<&HandoffRecord> {
        self.handoffs.last()
    }

    /// Whether a customer message waits for the bot.
    pub fn has_unanswered_message(&self) -> bool {
        self.last_customer_seq > self.last_handled_seq
    }

    /// Whether the bot may speak.
    pub fn bot_owns(&self) -> bool {
        matches!(self.phase, PhaseName::Bot | PhaseName::HandedBack)
    }

    /// The value of a slot, if held.
    pub fn slot(&self, name: &str) -> Option<&str> {
        self.slots.get(name).map(|s| s.value.as_str())
    }

    /// True when the customer proved who they are.
    pub fn is_verified(&self) -> bool {
        matches!(self.auth, AuthState::Verified { .. })
    }

    /// Failed verification attempts in a row.
    pub fn failed_verifications(&self) -> u32 {
        match self.auth {
            AuthState::Failed { attempts } => attempts,
            _ => 0,
        }
    }

    /// The mean of the last three sentiment scores minus the mean of the three before them:
    /// negative when the customer is getting unhappier.
    pub fn sentiment_trend(&self) -> f32 {
        let scores: Vec<f32> = self.sentiment.iter().map(|p| p.score).collect();
        let mean = |s: &[f32]| {
            if s.is_empty() {
                0.0
            } else {
                s.iter().sum::<f32>() / s.len() as f32
            }
        };
        match scores.len() {
            0 | 1 => 0.0,
            n if n < 4 => scores[n - 1] - scores[0],
            n => {
                let split = n - 3;
                mean(&scores[split..]) - mean(&scores[split.saturating_sub(3)..split])
            }
        }
    }
}

/// `es-MX` → `es`.
fn primary_subtag(tag: &str) -> String {
    tag.split('-').next().unwrap_or(tag).to_owned()
}

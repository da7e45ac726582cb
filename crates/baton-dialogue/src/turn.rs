//! One turn of the bot: from a trigger (the conversation started, or a customer message with
//! its analysis) to the records to store and the reply to send.
//!
//! A turn is pure. It never calls a connector or the knowledge base itself: [`Turn::step`]
//! says what it needs ([`Step::Call`], [`Step::Search`]); the runtime does it and hands the
//! result back ([`Turn::action_done`], [`Turn::knowledge_found`]); `step` is asked again,
//! deciding afresh from memory with this turn's records folded in, until it says
//! [`Step::Done`]. The same memory, trigger, configuration and results always give the same
//! records and reply.

use crate::config::{DialogueConfig, FlowConfig, Localized, SlotKind, SuggestionConfig};
use crate::memory::Memory;
use crate::text::{bare_value, last_four_digits, render, yes_or_no, Answer};
use baton_domain::{
    ActionOutcome, AuthState, Awaiting, CustomerFacts, EventKind, FallbackKind, MessageAnalysis, SlotSource,
    Suggestion, Values, VerificationMethod,
};
use time::OffsetDateTime;

/// What starts a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// The conversation started: say hello.
    Started,
    /// A customer message (`seq`, its text) and what Baton understood of it.
    Message {
        seq: u64,
        text: String,
        analysis: MessageAnalysis,
    },
}

/// An action to call on a connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCall {
    pub action: String,
    pub arguments: Values,
    /// Present for actions that change something: derived from the conversation, the
    /// action and the message that asked for it, so a retry never does it twice.
    pub idempotency_key: Option<String>,
}

/// What an action answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub outcome: ActionOutcome,
    pub summary: String,
    pub values: Values,
}

/// The best knowledge-base article for a question, when it is a good match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeHit {
    pub article_id: String,
    pub title: String,
    pub language: String,
    pub url: Option<String>,
    pub passage: String,
}

/// What the turn needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Call(ActionCall),
    Search { query: String, language: String },
    Done,
}

/// The reply of a turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    pub suggestions: Vec<Suggestion>,
}

/// What a finished turn produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    pub records: Vec<EventKind>,
    pub reply: Option<Reply>,
    /// Set when the bot hands the conversation to a person; the reason in words.
    pub handoff: Option<String>,
}

/// Actions that change something in the shop's systems: they carry an idempotency key.
pub const SIDE_EFFECT_ACTIONS: &[&str] = &["start_refund", "cancel_order", "change_address", "create_ticket"];

/// Confidence above which a message that also answers the active flow's question starts the
/// flow of its own intent instead ("actually, cancel order 54192" while a status was asked).
const SWITCH_CONFIDENCE: f32 = 0.8;

/// The action that checks who the customer is.
pub const VERIFY_ACTION: &str = "verify_identity";

/// The action that lists a verified customer's newest orders, so that the bot need not ask
/// which order when there is only one, and can offer them as buttons when there are several.
pub const ORDERS_ACTION: &str = "recent_orders";

/// What the order system says of the verified customer's orders, for a missing order number.
enum KnownOrders {
    /// Ask the order system first.
    Call(Step),
    /// Exactly one order: it is the one.
    One(String),
    /// Several, newest first: offer them.
    Several(Vec<String>),
    /// None, no verified customer, or the system could not answer: ask in words.
    Unknown,
}

/// The action that looks up whose email the customer gave, before they prove it: a match makes
/// the customer `claimed` (who they say they are, unproven).
pub const CLAIM_ACTION: &str = "find_customer";

/// Actions the bot runs itself around flows; a flow may not call them (`find_customer` would
/// tell anyone whose an address is).
pub const INTERNAL_ACTIONS: &[&str] = &[VERIFY_ACTION, CLAIM_ACTION, ORDERS_ACTION];

/// `{conversation}:{action}:{digest of the arguments}`.
pub fn idempotency_key(conversation: &str, action: &str, arguments: &Values) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for (name, value) in arguments {
        digest.update(name.as_bytes());
        digest.update([0]);
        digest.update(value.as_bytes());
        digest.update([0]);
    }
    format!("{conversation}:{action}:{}", &hex::encode(digest.finalize())[..16])
}

/// One turn in progress.
#[derive(Debug, Clone)]
pub struct Turn<'c> {
    config: &'c DialogueConfig,
    /// Memory with this turn's records folded in.
    memory: Memory,
    trigger: Trigger,
    at: OffsetDateTime,
    records: Vec<EventKind>,
    /// Calls made in this turn, with their results.
    calls: Vec<(ActionCall, ActionResult)>,
    /// `Some` once the knowledge base was asked.
    knowledge: Option<Option<KnowledgeHit>>,
    /// The flow to serve, when the message asked for one or continues one.
    flow: Option<String>,
    /// The customer answered a confirmation with yes.
    confirmed: bool,
    /// Fixed text when the turn was settled before any flow (feedback, declined, ...).
    settled: Option<Reply>,
    reply: Option<Reply>,
    handoff: Option<String>,
    /// Says `verification.verified` before the flow's answer.
    preface: Option<String>,
    /// Why the message could not be placed on an intent, if it could not.
    unplaced: Option<FallbackKind>,
}

impl<'c> Turn<'c> {
    /// Begins a turn: folds in what the message itself tells (its analysis, the slots its
    /// entities fill or correct, a yes or no to what the bot asked).
    pub fn begin(memory: &Memory, config: &'c DialogueConfig, trigger: Trigger, at: OffsetDateTime) -> Self {
        Self::begin_with(memory.clone(), config, trigger, at)
    }

    /// [`Turn::begin`] on memory handed over rather than copied (the bot's worker, on every
    /// message); [`Turn::finish_with_memory`] gives it back with the turn's records folded in.
    pub fn begin_with(memory: Memory, config: &'c DialogueConfig, trigger: Trigger, at: OffsetDateTime) -> Self {
        let flow = memory.position.flow.clone();
        let mut turn = Turn {
            config,
            memory,
            trigger: trigger.clone(),
            at,
            records: Vec::new(),
            calls: Vec::new(),
            knowledge: None,
            flow,
            confirmed: false,
            settled: None,
            reply: None,
            handoff: None,
            preface: None,
            unplaced: None,
        };
        match trigger {
            Trigger::Started => turn.begin_conversation(),
            Trigger::Message { seq, text, analysis } => turn.begin_message(seq, &text, analysis),
        }
        turn
    }

    fn record(&mut self, kind: EventKind) {
        let seq = self.memory.last_seq + 1;
        self.memory.apply_kind(&kind, seq, self.at);
        self.memory.last_seq = seq;
        self.records.push(kind);
    }

    fn language(&self) -> String {
        self.memory
            .language
            .clone()
            .unwrap_or_else(|| self.config.default_language.clone())
    }

    fn say(&self, text: &Localized) -> String {
        text.get(&self.language(), &self.config.default_language).to_owned()
    }

    fn suggestions(&self, list: &[SuggestionConfig]) -> Vec<Suggestion> {
        let language = self.language();
        list.iter()
            .map(|s| Suggestion {
                label: s.label.get(&language, &self.config.default_language).to_owned(),
                text: s.text.get(&language, &self.config.default_language).to_owned(),
            })
            .collect()
    }

    fn begin_conversation(&mut self) {
        if let Some(email) = self.memory.profile.email.clone() {
            if self.memory.slot("email").is_none() {
                self.record(EventKind::SlotFilled {
                    slot: "email".into(),
                    value: email.to_lowercase(),
                    source: SlotSource::Profile,
                    replaced: None,
                });
            }
        }
        let text = self.say(&self.config.greeting);
        let name = self.memory.profile.name.clone();
        let mut values = Values::new();
        if let Some(name) = name {
            values.insert("name".into(), name);
        }
        self.settled = Some(Reply {
            text: render(&text, &values, |_, v| v.to_owned()),
            suggestions: self.suggestions(&self.config.greeting_suggestions),
        });
    }

    fn begin_message(&mut self, seq: u64, text: &str, analysis: MessageAnalysis) {
        let entities = analysis.entities.clone();
        let intent = analysis
            .intent
            .clone()
            .filter(|i| !analysis.out_of_scope && i.confidence >= self.config.min_confidence);
        let low_confidence = !analysis.out_of_scope && intent.is_none();
        self.record(EventKind::MessageAnalyzed {
            message_seq: seq,
            analysis,
        });

        // What the bot asked for, answered in a form no entity extractor knows.
        let awaiting = self.memory.position.awaiting.clone();
        let active = self.flow.clone().and_then(|f| self.config.flow(&f).cloned());
        let mut filled = Vec::new();
        if let (Some(Awaiting::Slot { slot }), Some(flow)) = (&awaiting, &active) {
            if let Some(config) = flow.slots.iter().find(|s| &s.name == slot) {
                let asks_for_person = intent
                    .as_ref()
                    .is_some_and(|i| self.config.handoff_intents.contains(&i.intent));
                let value = match &config.kind {
                    // Free text is the answer, unless the customer asks for a person instead.
                    SlotKind::Text if asks_for_person => None,
                    SlotKind::Text => Some(text.trim().to_owned()),
                    SlotKind::LastFour => last_four_digits(text),
                    // A bare answer ("54192", "#54192") to the question asked is the value,
                    // even without the cue words an extractor needs.
                    SlotKind::Entity(kind) if !entities.iter().any(|e| &e.kind == kind) => bare_value(text),
                    SlotKind::Entity(_) => None,
                };
                if let Some(value) = value {
                    self.fill(slot, value, seq);
                    filled.push(slot.clone());
                }
            }
        }
        // Proof of identity: the phone's last four digits, or a bare order number.
        if matches!(&awaiting, Some(Awaiting::Slot { slot }) if slot == "identity_proof") {
            let has_order = entities.iter().any(|e| e.kind == "order_number" || e.kind == "phone");
            let order = bare_value(text).filter(|b| b.len() > 4);
            match (has_order, order, last_four_digits(text)) {
                (true, _, _) => {}
                (false, Some(order), _) => {
                    self.fill("order_number", order, seq);
                    filled.push("order_number".into());
                }
                (false, None, Some(last4)) => {
                    self.fill("phone_last4", last4, seq);
                    filled.push("phone_last4".into());
                }
                (false, None, None) => {}
            }
        }
        for entity in &entities {
            if self.fill(&entity.kind, entity.value.clone(), seq) {
                filled.push(entity.kind.clone());
            }
            // A whole phone number carries the last four digits verification asks for.
            if entity.kind == "phone" {
                if let Some(last4) = last_four_digits(&entity.value) {
                    if self.fill("phone_last4", last4, seq) {
                        filled.push("phone_last4".into());
                    }
                }
            }
        }

        match awaiting {
            Some(Awaiting::Feedback { article_id }) => match yes_or_no(text) {
                Some(answer) if filled.is_empty() => {
                    let helped = answer == Answer::Yes;
                    self.record(EventKind::ArticleFeedback { article_id, helped });
                    self.record(EventKind::DialogueMoved {
                        flow: None,
                        awaiting: None,
                    });
                    self.flow = None;
                    let (text, suggestions) = if helped {
                        (self.say(&self.config.knowledge.helped), Vec::new())
                    } else {
                        (
                            self.say(&self.config.knowledge.not_helped),
                            self.suggestions(&self.config.fallback_suggestions),
                        )
                    };
                    self.settled = Some(Reply { text, suggestions });
                    return;
                }
                _ => {}
            },
            Some(Awaiting::Confirmation { .. }) => {
                let corrected = active
                    .as_ref()
                    .is_some_and(|f| f.slots.iter().any(|s| filled.contains(&s.name)));
                match yes_or_no(text) {
                    _ if corrected => {}
                    Some(Answer::Yes) => {
                        self.confirmed = true;
                        if let Some(flow) = &active {
                            let slots = flow.slots.iter().map(|s| s.name.clone()).collect();
                            self.record(EventKind::SlotsConfirmed { slots });
                        }
                    }
                    Some(Answer::No) => {
                        self.record(EventKind::DialogueMoved {
                            flow: None,
                            awaiting: None,
                        });
                        self.flow = None;
                        let declined = active.and_then(|f| f.responses.declined);
                        let text = declined.map_or_else(|| self.say(&self.config.knowledge.helped), |d| self.say(&d));
                        self.settled = Some(Reply {
                            text,
                            suggestions: self.suggestions(&self.config.greeting_suggestions),
                        });
                        return;
                    }
                    None => {}
                }
            }
            _ => {}
        }

        // Which flow to serve. An answer to the active flow's question (a slot it needs, a
        // correction, a yes) keeps it, unless the message clearly asks for another flow; a new
        // intent with a flow takes over; anything else goes on below.
        let answers = self.flow.is_some() && (!filled.is_empty() || self.confirmed);
        let clearly_other_flow = intent.as_ref().is_some_and(|i| {
            i.confidence >= SWITCH_CONFIDENCE
                && self.config.flow(&i.intent).is_some()
                && self.flow.as_deref() != Some(i.intent.as_str())
        });
        let keep = self.confirmed || (answers && !clearly_other_flow);
        match intent.as_ref().map(|i| i.intent.as_str()) {
            _ if keep => {}
            Some(name) if self.config.flow(name).is_some() => self.flow = Some(name.to_owned()),
            _ if answers => {}
            Some(name) if self.config.handoff_intents.iter().any(|h| h == name) => {
                self.flow = None;
                self.handoff = Some(format!("the customer asked for a person (intent `{name}`)"));
                self.record(EventKind::DialogueMoved {
                    flow: None,
                    awaiting: None,
                });
                self.settled = Some(Reply {
                    text: self.say(&self.config.handoff),
                    suggestions: Vec::new(),
                });
            }
            Some(name) if self.config.replies.contains_key(name) => {
                self.flow = None;
                let text = self.config.replies.get(name).map(|t| self.say(t)).unwrap_or_default();
                self.record(EventKind::DialogueMoved {
                    flow: None,
                    awaiting: None,
                });
                self.settled = Some(Reply {
                    text,
                    suggestions: Vec::new(),
                });
            }
            // Any other intent, and a message the model could not place, is looked up in the
            // knowledge base; without a good article it is a fallback.
            Some(_) => self.flow = None,
            None => {
                self.flow = None;
                self.unplaced = Some(if low_confidence {
                    FallbackKind::LowConfidence
                } else {
                    FallbackKind::OutOfScope
                });
            }
        }
    }

    /// Records a slot from a customer message; true when it is new or a correction.
    fn fill(&mut self, slot: &str, value: String, seq: u64) -> bool {
        let previous = self.memory.slot(slot).map(str::to_owned);
        if previous.as_deref() == Some(value.as_str()) {
            return false;
        }
        self.record(EventKind::SlotFilled {
            slot: slot.to_owned(),
            value,
            source: SlotSource::Message { seq },
            replaced: previous,
        });
        true
    }

    fn fallback_reply(&self) -> Reply {
        let texts: Vec<String> = self.config.fallback.iter().map(|t| self.say(t)).collect();
        let start = self.memory.fallbacks.count as usize % texts.len().max(1);
        let text = (0..texts.len())
            .map(|i| &texts[(start + i) % texts.len()])
            .find(|t| self.memory.last_bot_text.as_deref() != Some(t.as_str()))
            .cloned()
            .unwrap_or_default();
        Reply {
            text,
            suggestions: self.suggestions(&self.config.fallback_suggestions),
        }
    }

    /// Decides what the turn needs next.
    pub fn step(&mut self) -> Step {
        if self.reply.is_some() {
            return Step::Done;
        }
        if let Some(reply) = self.settled.take() {
            self.reply = Some(reply);
            return Step::Done;
        }
        let Some(flow) = self.flow.clone().and_then(|f| self.config.flow(&f).cloned()) else {
            return self.answer_from_knowledge();
        };
        self.advance(&flow)
    }

    fn answer_from_knowledge(&mut self) -> Step {
        let Trigger::Message { text, .. } = &self.trigger else {
            return Step::Done;
        };
        match self.knowledge.clone() {
            None => Step::Search {
                query: text.clone(),
                language: self.language(),
            },
            Some(Some(hit)) => {
                self.record(EventKind::ArticleShown {
                    article_id: hit.article_id.clone(),
                    title: hit.title.clone(),
                    language: hit.language.clone(),
                    url: hit.url.clone(),
                });
                self.record(EventKind::DialogueMoved {
                    flow: None,
                    awaiting: Some(Awaiting::Feedback {
                        article_id: hit.article_id.clone(),
                    }),
                });
                let mut values = Values::new();
                values.insert("title".into(), hit.title);
                values.insert("passage".into(), hit.passage);
                if let Some(url) = hit.url {
                    values.insert("url".into(), url);
                }
                let template = self.say(&self.config.knowledge.answer);
                self.reply = Some(Reply {
                    text: render(&template, &values, |_, v| v.to_owned()),
                    suggestions: self.suggestions(&self.config.knowledge.feedback_suggestions),
                });
                Step::Done
            }
            Some(None) => {
                let seq = match &self.trigger {
                    Trigger::Message { seq, .. } => *seq,
                    Trigger::Started => 0,
                };
                // An intent the shop handles but no article answers is still a dead end.
                let kind = self.unplaced.unwrap_or(FallbackKind::OutOfScope);
                let reply = self.fallback_reply();
                self.record(EventKind::Fallback { message_seq: seq, kind });
                self.reply = Some(reply);
                Step::Done
            }
        }
    }

    fn ask(&mut self, flow: &FlowConfig, slot: &str, text: String) -> Step {
        self.record(EventKind::DialogueMoved {
            flow: Some(flow.intent.clone()),
            awaiting: Some(Awaiting::Slot { slot: slot.to_owned() }),
        });
        let text = match self.preface.take() {
            Some(preface) => format!("{preface} {text}"),
            None => text,
        };
        self.reply = Some(Reply {
            text,
            suggestions: Vec::new(),
        });
        Step::Done
    }

    fn call(&mut self, action: &str, arguments: Values) -> Step {
        // The same action with the same arguments in the same conversation is the same request,
        // whichever message asked for it: a retry after a timeout, a crash, or the customer
        // asking again never acts twice.
        let idempotency_key = SIDE_EFFECT_ACTIONS
            .contains(&action)
            .then(|| idempotency_key(&self.memory.conversation_id.to_string(), action, &arguments));
        Step::Call(ActionCall {
            action: action.to_owned(),
            arguments,
            idempotency_key,
        })
    }

    /// The result of `action` in this turn, if it was called with these arguments.
    fn called(&self, action: &str, arguments: &Values) -> Option<&ActionResult> {
        self.calls
            .iter()
            .find(|(c, _)| c.action == action && &c.arguments == arguments)
            .map(|(_, r)| r)
    }

    /// The verified customer's orders, from this turn's call or an earlier one's record.
    fn known_orders(&mut self) -> KnownOrders {
        let AuthState::Verified { customer_id, .. } = &self.memory.auth else {
            return KnownOrders::Unknown;
        };
        let mut arguments = Values::new();
        arguments.insert("customer_id".into(), customer_id.clone());
        let answered = self
            .called(ORDERS_ACTION, &arguments)
            .map(|r| (r.outcome, r.values.clone()))
            .or_else(|| {
                self.memory
                    .actions
                    .iter()
                    .rev()
                    .find(|a| a.action == ORDERS_ACTION && a.arguments == arguments)
                    .map(|a| (a.outcome, a.values.clone()))
            });
        let Some((outcome, values)) = answered else {
            return KnownOrders::Call(self.call(ORDERS_ACTION, arguments));
        };
        let numbers: Vec<String> = values
            .get("orders")
            .map(|list| list.split(',').filter(|n| !n.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        match (outcome, numbers.len()) {
            (ActionOutcome::Ok, 1) => KnownOrders::One(numbers.into_iter().next().unwrap_or_default()),
            (ActionOutcome::Ok, n) if n > 1 => KnownOrders::Several(numbers),
            _ => KnownOrders::Unknown,
        }
    }

    /// Looks up whose `email` it is, once per address. Memory makes the conversation
    /// `claimed` from the lookup's record (see `Memory::derive_claim`): no other event is
    /// written, so the log grows the same whether or not the address has an account, and the
    /// customer is asked for the same proof next either way: nothing they can see tells which.
    fn claim(&mut self, email: &str) -> Option<Step> {
        if !matches!(self.memory.auth, AuthState::Anonymous | AuthState::Claimed { .. }) {
            return None;
        }
        let mut arguments = Values::new();
        arguments.insert("email".into(), email.to_owned());
        // This turn's answer is in memory too: `action_done` folds it in.
        let looked_up = self
            .memory
            .actions
            .iter()
            .any(|a| a.action == CLAIM_ACTION && a.arguments == arguments);
        (!looked_up).then(|| self.call(CLAIM_ACTION, arguments))
    }

    fn verify(&mut self, flow: &FlowConfig) -> Option<Step> {
        if self.memory.is_verified() {
            return None;
        }
        let attempts = self.memory.failed_verifications();
        let language = self.language();
        let settings = &self.config.verification;
        if attempts >= settings.max_attempts {
            self.record(EventKind::DialogueMoved {
                flow: None,
                awaiting: None,
            });
            self.reply = Some(Reply {
                text: settings.locked.get(&language, &self.config.default_language).to_owned(),
                suggestions: Vec::new(),
            });
            return Some(Step::Done);
        }
        let Some(email) = self.memory.slot("email").map(str::to_owned) else {
            let text = self.say(&settings.ask_email);
            return Some(self.ask(flow, "email", text));
        };
        let mut arguments = Values::new();
        arguments.insert("email".into(), email.clone());
        // The proof the customer gave last: after a failed order number, the phone's digits.
        let given = |slot: &str| {
            self.memory.slots.get(slot).map(|s| match s.source {
                SlotSource::Message { seq } => (seq, s.value.clone()),
                _ => (0, s.value.clone()),
            })
        };
        match (given("order_number"), given("phone_last4")) {
            (Some((order_seq, order)), Some((phone_seq, _))) if order_seq >= phone_seq => {
                arguments.insert("order_number".into(), order);
            }
            (_, Some((_, last4))) => {
                arguments.insert("phone_last4".into(), last4);
            }
            (Some((_, order)), None) => {
                arguments.insert("order_number".into(), order);
            }
            (None, None) => {
                if let Some(step) = self.claim(&email) {
                    return Some(step);
                }
                let text = self.say(&settings.ask_proof);
                return Some(self.ask(flow, "identity_proof", text));
            }
        }
        // Tried with these values already (in an earlier turn, and it failed): ask again.
        let tried_before = self
            .memory
            .actions
            .iter()
            .rev()
            .find(|a| a.action == VERIFY_ACTION)
            .is_some_and(|a| a.arguments == arguments && a.outcome == ActionOutcome::Failed);
        let result = match self.called(VERIFY_ACTION, &arguments) {
            Some(result) => result.clone(),
            None if tried_before => {
                let text = self.say(&settings.failed);
                return Some(self.ask(flow, "identity_proof", text));
            }
            None => return Some(self.call(VERIFY_ACTION, arguments)),
        };
        match result.outcome {
            ActionOutcome::Ok => {
                let customer_id = result.values.get("customer_id").cloned().unwrap_or_default();
                let method = if arguments.contains_key("order_number") {
                    VerificationMethod::EmailAndOrder
                } else {
                    VerificationMethod::EmailAndPhone
                };
                let facts = CustomerFacts {
                    customer_id: customer_id.clone(),
                    name: result.values.get("name").cloned().unwrap_or_default(),
                    tier: result.values.get("tier").cloned().unwrap_or_default(),
                    language: result.values.get("language").cloned().unwrap_or_default(),
                };
                self.record(EventKind::IdentityChanged {
                    auth: AuthState::Verified {
                        customer_id,
                        method,
                        at: self.at,
                    },
                    customer: Some(facts),
                });
                let mut values = Values::new();
                values.insert("name".into(), result.values.get("name").cloned().unwrap_or_default());
                self.preface = Some(render(&self.say(&settings.verified), &values, |_, v| v.to_owned()));
                None
            }
            ActionOutcome::Failed => {
                self.record(EventKind::IdentityChanged {
                    auth: AuthState::Failed { attempts: attempts + 1 },
                    customer: None,
                });
                if attempts + 1 >= settings.max_attempts {
                    return self.verify(flow);
                }
                let text = self.say(&settings.failed);
                Some(self.ask(flow, "identity_proof", text))
            }
            ActionOutcome::Error => Some(self.action_error(VERIFY_ACTION)),
        }
    }

    fn action_error(&mut self, action: &str) -> Step {
        let what = self
            .config
            .action_names
            .get(action)
            .map_or_else(|| action.replace('_', " "), |t| self.say(t));
        let mut values = Values::new();
        values.insert("what".into(), what);
        self.record(EventKind::DialogueMoved {
            flow: None,
            awaiting: None,
        });
        self.reply = Some(Reply {
            text: render(&self.say(&self.config.action_error), &values, |_, v| v.to_owned()),
            suggestions: self.suggestions(&self.config.greeting_suggestions),
        });
        Step::Done
    }

    fn advance(&mut self, flow: &FlowConfig) -> Step {
        if flow.verify {
            if let Some(step) = self.verify(flow) {
                return step;
            }
        }
        for slot in &flow.slots {
            if self.memory.slot(&slot.name).is_some() {
                continue;
            }
            let offers = if slot.kind == SlotKind::Entity("order_number".into()) {
                match self.known_orders() {
                    KnownOrders::Call(step) => return step,
                    KnownOrders::One(number) => {
                        // The order system answered it: recorded with its source, never asked.
                        self.record(EventKind::SlotFilled {
                            slot: slot.name.clone(),
                            value: number,
                            source: SlotSource::Connector {
                                action: ORDERS_ACTION.into(),
                            },
                            replaced: None,
                        });
                        continue;
                    }
                    KnownOrders::Several(numbers) => numbers,
                    KnownOrders::Unknown => Vec::new(),
                }
            } else {
                Vec::new()
            };
            let text = self.say(&slot.prompt);
            let step = self.ask(flow, &slot.name, text);
            if let Some(reply) = &mut self.reply {
                reply.suggestions = offers
                    .into_iter()
                    .map(|number| Suggestion {
                        label: format!("#{number}"),
                        text: format!("#{number}"),
                    })
                    .collect();
            }
            return step;
        }
        let mut arguments = Values::new();
        for slot in &flow.slots {
            if let Some(value) = self.memory.slot(&slot.name) {
                arguments.insert(slot.name.clone(), value.to_owned());
            }
        }
        if let Some(customer) = &self.memory.customer {
            arguments.insert("customer_id".into(), customer.customer_id.clone());
        }
        let mut values = arguments.clone();
        if let Some(check) = flow.check.as_deref().filter(|_| !self.confirmed) {
            let Some(result) = self.called(check, &arguments).cloned() else {
                return self.call(check, arguments);
            };
            values.extend(result.values.clone());
            match result.outcome {
                ActionOutcome::Ok => {}
                ActionOutcome::Failed => {
                    let text = flow.responses.check_failed.as_ref().unwrap_or(&flow.responses.failed);
                    return self.conclude(flow, text.clone(), &values);
                }
                ActionOutcome::Error => return self.action_error(check),
            }
        } else if let Some(check) = &flow.check {
            // Confirmed in this message: the values shown come from the check made before.
            if let Some(previous) = self.memory.actions.iter().rev().find(|a| &a.action == check) {
                values.extend(previous.values.clone());
            }
        }
        if let (Some(confirm), false) = (&flow.confirm, self.confirmed) {
            self.record(EventKind::DialogueMoved {
                flow: Some(flow.intent.clone()),
                awaiting: Some(Awaiting::Confirmation {
                    action: flow.action.clone(),
                }),
            });
            let text = self.label_render(&self.say(confirm), &values);
            let text = match self.preface.take() {
                Some(preface) => format!("{preface} {text}"),
                None => text,
            };
            let yes_no = self.suggestions(&self.config.knowledge.feedback_suggestions);
            self.reply = Some(Reply {
                text,
                suggestions: yes_no,
            });
            return Step::Done;
        }
        let Some(result) = self.called(&flow.action, &arguments).cloned() else {
            return self.call(&flow.action, arguments);
        };
        values.extend(result.values.clone());
        match result.outcome {
            ActionOutcome::Ok => self.conclude(flow, flow.responses.ok.clone(), &values),
            ActionOutcome::Failed => self.conclude(flow, flow.responses.failed.clone(), &values),
            ActionOutcome::Error => self.action_error(&flow.action),
        }
    }

    fn conclude(&mut self, flow: &FlowConfig, text: Localized, values: &Values) -> Step {
        self.record(EventKind::DialogueMoved {
            flow: None,
            awaiting: None,
        });
        let text = self.label_render(&self.say(&text), values);
        let text = match self.preface.take() {
            Some(preface) => format!("{preface} {text}"),
            None => text,
        };
        self.reply = Some(Reply {
            text,
            suggestions: self.suggestions(&flow.suggestions),
        });
        Step::Done
    }

    /// Renders a template, putting words on values that have labels.
    fn label_render(&self, template: &str, values: &Values) -> String {
        let language = self.language();
        render(template, values, |name, value| {
            self.config
                .labels
                .get(name)
                .and_then(|labels| labels.get(value))
                .map_or_else(
                    || value.to_owned(),
                    |l| l.get(&language, &self.config.default_language).to_owned(),
                )
        })
    }

    /// Hands back what the action answered; records it.
    pub fn action_done(&mut self, call: ActionCall, result: ActionResult) {
        self.record(EventKind::ActionRecorded {
            action: call.action.clone(),
            arguments: call.arguments.clone(),
            idempotency_key: call.idempotency_key.clone(),
            outcome: result.outcome,
            summary: result.summary.clone(),
            values: result.values.clone(),
        });
        self.calls.push((call, result));
    }

    /// Hands back the knowledge base's best good match, or `None`.
    pub fn knowledge_found(&mut self, hit: Option<KnowledgeHit>) {
        self.knowledge = Some(hit);
    }

    /// The records and reply of the finished turn.
    pub fn finish(self) -> TurnOutcome {
        self.finish_with_memory().0
    }

    /// The outcome, and memory with the records folded in as the turn numbered them (from
    /// memory's last event on): what a fold of the log gives once the store keeps them so.
    pub fn finish_with_memory(self) -> (TurnOutcome, Memory) {
        let outcome = TurnOutcome {
            records: self.records,
            reply: self.reply,
            handoff: self.handoff,
        };
        (outcome, self.memory)
    }

    /// Memory with this turn's records folded in.
    pub fn memory(&self) -> &Memory {
        &self.memory
    }
}

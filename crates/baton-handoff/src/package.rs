//! The context package v1: the one object an agent gets at handoff, and its builder.
//!
//! The types here are the published wire format (their JSON Schema is generated from them,
//! [`schema`]); they are Baton's own, not the domain's or a connector's, so the format changes
//! only on purpose. [`build`] is a pure function of memory (the fold over the log), the log's
//! messages (the transcript), the handoff, the connectors' snapshot and the configuration.
//!
//! Layers: `identity` (who: customer, proof, tier, the orders that matter now, open tickets),
//! `conversation` (the brief in each agent language, mood, what the customer said, hidden
//! secrets), `action` (intent, entities with their source, what was tried and how it ended,
//! articles, ticket, next best action), `routing` (why, how urgent, which queue and skills),
//! `degraded` (each source that did not answer in time, and what is missing because of it).

use crate::brief;
use crate::config::HandoffConfig;
use baton_dialogue::memory::HandoffRecord;
use baton_dialogue::Memory;
use baton_domain::{
    ActionOutcome, AuthState, EscalationKind, Event, EventKind, HandoffRequester, Priority, SlotSource, TransferTarget,
    VerificationMethod,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The format's version; a change that breaks readers raises it.
pub const PACKAGE_FORMAT: u32 = 1;

/// One handoff's context: everything the agent needs to continue without asking again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextPackage {
    /// The format's version: 1.
    pub version: u32,
    /// The handoff: `{conversation id}.{seq of its handoff_requested event}`.
    pub handoff_id: String,
    pub conversation_id: String,
    /// 1 for the package built at handoff, then +1 for each update.
    pub package_version: u32,
    /// When this version was built (RFC 3339).
    pub created_at: String,
    pub identity: Identity,
    pub conversation: ConversationLayer,
    pub action: ActionLayer,
    pub routing: Routing,
    /// Each source that was unavailable or too slow while this version was built. Empty when
    /// every source answered.
    pub degraded: Vec<Degraded>,
}

/// Who the customer is: only what matters now, not the whole CRM record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub customer_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The customer's preferred language (ISO 639-1).
    pub language: Option<String>,
    /// Account tier (`standard`, `plus`, `vip`).
    pub tier: Option<String>,
    pub auth: Auth,
    /// The orders named in the conversation, then the most recent ones (at most 3 in all).
    pub orders: Vec<OrderFacts>,
    pub open_tickets: Vec<TicketFacts>,
}

/// How far the customer proved who they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub state: AuthLevel,
    /// `email_and_order` or `email_and_phone`, when verified.
    pub method: Option<String>,
    /// When verified (RFC 3339).
    pub verified_at: Option<String>,
    /// Failed checks in a row.
    pub failed_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthLevel {
    /// Nothing known.
    Anonymous,
    /// Said who they are, not proven.
    Claimed,
    /// Proved it.
    Verified,
    /// Proof did not match.
    Failed,
}

/// An order, as the order system told it while the package was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderFacts {
    pub number: String,
    pub status: String,
    /// ISO date.
    pub placed_on: String,
    /// Amount and currency, as written (`€49.90`).
    pub total: String,
    pub payments: Vec<PaymentFacts>,
    /// Why it is here.
    pub relevance: OrderRelevance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderRelevance {
    /// The customer or the bot named it in the conversation.
    Named,
    /// One of the customer's most recent orders.
    Recent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentFacts {
    pub amount: String,
    /// ISO date.
    pub on: String,
    /// `captured`, `refunded`, `failed`...
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketFacts {
    pub id: String,
    pub status: String,
    pub subject: Option<String>,
}

/// What was said, and the brief.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationLayer {
    /// `web`, `api`, `email`, `sms`, `whatsapp`.
    pub channel: String,
    /// The conversation's language (ISO 639-1).
    pub language: String,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// Messages from the customer so far.
    pub customer_messages: u32,
    /// The brief: 3 to 5 lines (Intent / Captured / Sentiment / Tried / Next), in each agent
    /// language. A line with nothing to say is left out.
    pub brief: Vec<Brief>,
    pub sentiment: SentimentFacts,
    /// Secrets the customer typed, hidden before storage: they gave one, and where.
    pub secrets_given: Vec<SecretGiven>,
    /// The messages, oldest first: the evidence behind the brief. Secrets appear as
    /// placeholders (`[hidden card number]`).
    pub transcript: Vec<TranscriptLine>,
    /// Older messages left out of `transcript` (it carries the newest).
    pub transcript_omitted: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    pub language: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SentimentFacts {
    pub mood: Mood,
    /// The latest message's score, -1 to 1.
    pub latest: Option<f32>,
    /// Mean of the last three scores minus the three before: negative when getting worse.
    pub trend: f32,
    /// Frustration markers seen, with how often.
    pub markers: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mood {
    Positive,
    Neutral,
    Negative,
    Frustrated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretGiven {
    /// The customer message that carried it.
    pub message_seq: u64,
    /// `card_number`, `security_code`, `one_time_code`, `password`, `iban`, `national_id`.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptLine {
    pub seq: u64,
    /// RFC 3339.
    pub at: String,
    pub from: Speaker,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Customer,
    Bot,
    Agent,
    System,
}

/// What the customer wants and what was tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionLayer {
    pub intent: Option<IntentFacts>,
    /// Everything the conversation holds, each with where it came from.
    pub entities: Vec<EntityFacts>,
    /// Actions on the shop's systems, in order, with how each ended.
    pub actions_tried: Vec<AttemptFacts>,
    pub articles_shown: Vec<ArticleFacts>,
    pub ticket: Option<TicketFacts>,
    pub next_best_action: NextAction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentFacts {
    /// The intent's name (`duplicate_charge`).
    pub name: String,
    /// In words, per agent language.
    pub label: Vec<LocalizedText>,
    pub confidence: f32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalizedText {
    pub language: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityFacts {
    /// The slot's name (`order_number`, `email`).
    pub name: String,
    pub value: String,
    pub source: EntitySource,
    /// The customer confirmed it.
    pub confirmed: bool,
    /// Values it replaced, oldest first (the customer corrected them).
    pub corrected_from: Vec<String>,
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EntitySource {
    /// A customer message.
    Message { seq: u64 },
    /// The profile the customer gave at the start.
    Profile,
    /// A connector action's answer.
    Connector { action: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptFacts {
    pub action: String,
    pub arguments: BTreeMap<String, String>,
    pub outcome: AttemptOutcome,
    /// One line saying what happened.
    pub summary: String,
    /// The `action_recorded` event.
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Done.
    Ok,
    /// The system answered no (not eligible, the workflow failed).
    Failed,
    /// The system did not answer (timeout, error, circuit open).
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleFacts {
    pub id: String,
    pub title: String,
    /// Whether the customer said it helped; absent when they did not say.
    pub helped: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NextAction {
    /// A stable code (`refund_manually`, `verify_identity`, `read_and_confirm`).
    pub code: String,
    pub text: Vec<LocalizedText>,
}

/// Why it escalated and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    pub requested_by: Requester,
    /// The customer's own words, when they gave a reason with the handoff button.
    pub customer_note: Option<String>,
    pub reasons: Vec<ReasonFacts>,
    pub priority: PriorityLevel,
    pub queue: String,
    /// The team, in words, per language.
    pub team: Vec<LocalizedText>,
    pub skills: Vec<String>,
    /// The language the agent must speak with the customer.
    pub language: String,
    pub channel: String,
    /// Estimated wait in seconds, from the queue position, the agents on duty and recent
    /// handle times; absent when nobody on duty can serve it (or routing is off).
    pub wait_estimate_seconds: Option<u64>,
    /// Agents who passed the conversation on, oldest first, each with their note.
    #[serde(default)]
    pub transfers: Vec<TransferFacts>,
    /// Earlier handoffs of this conversation that came back to the bot, per reason: how often
    /// the customer bounced back.
    #[serde(default)]
    pub bounce_backs: BTreeMap<String, u32>,
    /// The note of the agent who last handed the conversation back to the bot, after their
    /// name ("Nina: refund done by hand").
    #[serde(default)]
    pub hand_back_note: Option<String>,
}

/// One transfer: from whom, to where, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferFacts {
    /// The agent who transferred: their id and name.
    pub from_agent: String,
    #[serde(default)]
    pub from_agent_name: Option<String>,
    /// `queue` or `agent`.
    pub to_kind: String,
    /// The queue's name or the agent's id.
    pub to: String,
    pub note: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Requester {
    Customer,
    Bot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriorityLevel {
    Low,
    Normal,
    High,
    Urgent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonFacts {
    /// `explicit`, `repeated_fallback`, `low_confidence`, `sentiment_drop`, `high_value_account`,
    /// `failed_action`, `failed_verification`, `compliance`, `human_only_intent`, `loop`.
    pub kind: String,
    pub detail: String,
    /// Sequence numbers of the messages (and events) that show it.
    pub evidence: Vec<u64>,
}

/// A source that did not answer in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Degraded {
    /// `crm`, `orders` or `ticketing`.
    pub source: String,
    /// What went wrong (`no answer within 300 ms`).
    pub problem: String,
    /// What the package lacks because of it.
    pub missing: Vec<String>,
}

/// What the connectors said while the package was built. The runtime fills it; whatever did
/// not arrive in time is listed in `degraded`, and memory fills in what it can.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub customer: Option<CustomerFacts>,
    pub orders: Vec<OrderFacts>,
    pub tickets: Vec<TicketFacts>,
    pub degraded: Vec<Degraded>,
}

/// The CRM's answer about the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFacts {
    pub customer_id: String,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub language: String,
    pub tier: String,
}

/// Everything a package is built from.
#[derive(Debug, Clone, Copy)]
pub struct PackageInput<'a> {
    pub memory: &'a Memory,
    /// The conversation's events, oldest first (at least its messages).
    pub events: &'a [Event],
    pub handoff: &'a HandoffRecord,
    pub snapshot: &'a Snapshot,
    pub version: u32,
    pub now: OffsetDateTime,
    /// Routing's estimate of the wait, when it has one.
    pub wait_estimate_seconds: Option<u64>,
}

/// The JSON Schema of [`ContextPackage`] (draft 2020-12).
pub fn schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(ContextPackage)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".into(),
            serde_json::Value::String("/api/v1/schemas/context-package.json".into()),
        );
    }
    schema
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Builds one version of a handoff's package.
pub fn build(input: PackageInput<'_>, config: &HandoffConfig) -> ContextPackage {
    let memory = input.memory;
    let language = memory
        .language
        .clone()
        .unwrap_or_else(|| config.default_language.clone());
    let identity = identity(&input);
    let queue = route(memory, input.handoff, config);
    let intent = memory.current_intent.as_ref().map(|guess| IntentFacts {
        name: guess.intent.clone(),
        label: localized(config, |l| brief::intent_label(config, &guess.intent, l)),
        confidence: guess.confidence,
    });
    let next = brief::next_action(memory, input.handoff, config);
    let mut package = ContextPackage {
        version: PACKAGE_FORMAT,
        handoff_id: input.handoff.id.to_string(),
        conversation_id: memory.conversation_id.to_string(),
        package_version: input.version,
        created_at: rfc3339(input.now),
        identity,
        conversation: ConversationLayer {
            channel: memory.channel.as_str().to_owned(),
            language: language.clone(),
            started_at: input.events.first().filter(|e| e.seq == 1).map(|e| rfc3339(e.at)),
            customer_messages: input
                .events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::CustomerMessage { .. }))
                .count() as u32,
            brief: Vec::new(),
            sentiment: sentiment(memory, config),
            secrets_given: memory
                .hidden
                .iter()
                .map(|h| SecretGiven {
                    message_seq: h.message_seq,
                    kind: secret_name(h.kind),
                })
                .collect(),
            transcript: Vec::new(),
            transcript_omitted: 0,
        },
        action: ActionLayer {
            intent,
            entities: memory
                .slots
                .iter()
                .map(|(name, slot)| EntityFacts {
                    name: name.clone(),
                    value: slot.value.clone(),
                    source: match &slot.source {
                        SlotSource::Message { seq } => EntitySource::Message { seq: *seq },
                        SlotSource::Profile => EntitySource::Profile,
                        SlotSource::Connector { action } => EntitySource::Connector { action: action.clone() },
                    },
                    confirmed: slot.confirmed,
                    corrected_from: slot.replaced.clone(),
                })
                .collect(),
            actions_tried: memory
                .actions
                .iter()
                .map(|a| AttemptFacts {
                    action: a.action.clone(),
                    arguments: a.arguments.clone(),
                    outcome: match a.outcome {
                        ActionOutcome::Ok => AttemptOutcome::Ok,
                        ActionOutcome::Failed => AttemptOutcome::Failed,
                        ActionOutcome::Error => AttemptOutcome::Error,
                    },
                    summary: a.summary.clone(),
                    seq: a.seq,
                })
                .collect(),
            articles_shown: memory
                .articles
                .iter()
                .map(|a| ArticleFacts {
                    id: a.article_id.clone(),
                    title: a.title.clone(),
                    helped: a.helped,
                })
                .collect(),
            ticket: memory.ticket.as_ref().map(|t| TicketFacts {
                id: t.id.clone(),
                status: t.status.clone(),
                subject: None,
            }),
            next_best_action: NextAction {
                code: next.code.clone(),
                text: localized(config, |l| next.text.get(l, &config.default_language).to_owned()),
            },
        },
        routing: Routing {
            requested_by: match input.handoff.requested_by {
                HandoffRequester::Customer => Requester::Customer,
                HandoffRequester::Bot => Requester::Bot,
            },
            customer_note: input.handoff.note.clone(),
            reasons: input
                .handoff
                .reasons
                .iter()
                .map(|r| ReasonFacts {
                    kind: r.kind.as_str().to_owned(),
                    detail: r.detail.clone(),
                    evidence: r.evidence.clone(),
                })
                .collect(),
            priority: match input.handoff.priority {
                Priority::Low => PriorityLevel::Low,
                Priority::Normal => PriorityLevel::Normal,
                Priority::High => PriorityLevel::High,
                Priority::Urgent => PriorityLevel::Urgent,
            },
            queue: queue.name.clone(),
            team: localized(config, |l| queue.team.get(l, &config.default_language).to_owned()),
            skills: queue.skills.clone(),
            language,
            channel: memory.channel.as_str().to_owned(),
            wait_estimate_seconds: input.wait_estimate_seconds,
            transfers: input
                .handoff
                .transfers
                .iter()
                .map(|t| TransferFacts {
                    from_agent: t.from_agent.to_string(),
                    from_agent_name: t.from_name.clone(),
                    to_kind: match &t.target {
                        TransferTarget::Queue { .. } => "queue".into(),
                        TransferTarget::Agent { .. } => "agent".into(),
                    },
                    to: match &t.target {
                        TransferTarget::Queue { queue } => queue.clone(),
                        TransferTarget::Agent { agent_id } => agent_id.to_string(),
                    },
                    note: t.note.clone(),
                    at: input
                        .events
                        .iter()
                        .find(|e| e.seq == t.seq)
                        .map(|e| rfc3339(e.at))
                        .unwrap_or_default(),
                })
                .collect(),
            bounce_backs: memory
                .bounce_backs
                .iter()
                .map(|(kind, count)| (kind.as_str().to_owned(), *count))
                .collect(),
            hand_back_note: memory.handed_back.as_ref().and_then(|h| {
                let note = h.note.as_deref()?;
                Some(match &h.agent_name {
                    Some(name) => format!("{name}: {note}"),
                    None => note.to_owned(),
                })
            }),
        },
        degraded: input.snapshot.degraded.clone(),
    };
    let (transcript, omitted) = transcript(input.events, config.transcript_limit);
    package.conversation.transcript = transcript;
    package.conversation.transcript_omitted = omitted;
    package.conversation.brief = config
        .languages
        .iter()
        .map(|language| Brief {
            language: language.clone(),
            lines: brief::lines(&package, memory, language, config),
        })
        .collect();
    package
}

fn localized(config: &HandoffConfig, text: impl Fn(&str) -> String) -> Vec<LocalizedText> {
    config
        .languages
        .iter()
        .map(|language| LocalizedText {
            language: language.clone(),
            text: text(language),
        })
        .collect()
}

/// `card_number`, ...
fn secret_name(kind: baton_domain::SecretKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn identity(input: &PackageInput<'_>) -> Identity {
    let memory = input.memory;
    let crm = input.snapshot.customer.as_ref();
    let known = memory.customer.as_ref();
    let (state, method, verified_at, failed_attempts, claimed_id) = match &memory.auth {
        AuthState::Anonymous => (AuthLevel::Anonymous, None, None, 0, None),
        AuthState::Claimed { customer_id } => (AuthLevel::Claimed, None, None, 0, Some(customer_id.clone())),
        AuthState::Verified {
            customer_id,
            method,
            at,
        } => (
            AuthLevel::Verified,
            Some(
                match method {
                    VerificationMethod::EmailAndOrder => "email_and_order",
                    VerificationMethod::EmailAndPhone => "email_and_phone",
                }
                .to_owned(),
            ),
            Some(rfc3339(*at)),
            0,
            Some(customer_id.clone()),
        ),
        AuthState::Failed { attempts } => (AuthLevel::Failed, None, None, *attempts, None),
    };
    // Order details go to the package only for a verified customer, or for orders the
    // conversation itself named.
    let named: Vec<&str> = memory
        .slots
        .iter()
        .filter(|(name, _)| name.as_str() == "order_number")
        .map(|(_, slot)| slot.value.as_str())
        .collect();
    let verified = state == AuthLevel::Verified;
    let mut orders: Vec<OrderFacts> = input
        .snapshot
        .orders
        .iter()
        .filter(|o| named.contains(&o.number.as_str()))
        .map(|o| OrderFacts {
            relevance: OrderRelevance::Named,
            ..o.clone()
        })
        .collect();
    if verified {
        orders.extend(
            input
                .snapshot
                .orders
                .iter()
                .filter(|o| !named.contains(&o.number.as_str()))
                .map(|o| OrderFacts {
                    relevance: OrderRelevance::Recent,
                    ..o.clone()
                }),
        );
    }
    orders.truncate(3);
    // What the CRM and verification say belongs to the account; a customer who did not prove
    // who they are is described only by what they said themselves.
    let (crm, known) = if verified { (crm, known) } else { (None, None) };
    Identity {
        customer_id: crm
            .map(|c| c.customer_id.clone())
            .or_else(|| known.map(|k| k.customer_id.clone()))
            .or(claimed_id.filter(|_| verified))
            .or_else(|| memory.profile.external_id.clone()),
        name: crm
            .map(|c| c.name.clone())
            .or_else(|| known.map(|k| k.name.clone()))
            .or_else(|| memory.profile.name.clone()),
        email: crm
            .map(|c| c.email.clone())
            .or_else(|| memory.slot("email").map(str::to_owned))
            .or_else(|| memory.profile.email.clone()),
        phone: crm.and_then(|c| c.phone.clone()),
        language: crm
            .map(|c| c.language.clone())
            .or_else(|| known.map(|k| k.language.clone())),
        tier: crm.map(|c| c.tier.clone()).or_else(|| known.map(|k| k.tier.clone())),
        auth: Auth {
            state,
            method,
            verified_at,
            failed_attempts,
        },
        orders,
        open_tickets: input.snapshot.tickets.clone(),
    }
}

/// The queue: the one an agent transferred it to, else one that serves the reasons
/// (compliance to specialists), else the customer's tier, else the intent, else the default.
pub fn route<'c>(
    memory: &Memory,
    handoff: &HandoffRecord,
    config: &'c HandoffConfig,
) -> &'c crate::config::QueueConfig {
    let transferred = handoff.transfers.iter().rev().find_map(|t| match &t.target {
        TransferTarget::Queue { queue } => config.queue(queue),
        TransferTarget::Agent { .. } => None,
    });
    if let Some(queue) = transferred {
        return queue;
    }
    let kinds: Vec<EscalationKind> = handoff.reasons.iter().map(|r| r.kind).collect();
    let tier = memory.customer.as_ref().map(|c| c.tier.as_str());
    let intent = memory.current_intent.as_ref().map(|i| i.intent.as_str());
    config
        .queues
        .iter()
        .find(|q| q.reasons.iter().any(|k| kinds.contains(k)))
        .or_else(|| {
            config
                .queues
                .iter()
                .find(|q| tier.is_some_and(|t| q.tiers.iter().any(|x| x == t)))
        })
        .or_else(|| {
            config
                .queues
                .iter()
                .find(|q| intent.is_some_and(|i| q.intents.iter().any(|x| x == i)))
        })
        .or_else(|| config.queue(&config.default_queue))
        .unwrap_or(&config.queues[0])
}

fn sentiment(memory: &Memory, config: &HandoffConfig) -> SentimentFacts {
    SentimentFacts {
        mood: brief::mood(memory, config),
        latest: memory.sentiment.last().map(|p| p.score),
        trend: memory.sentiment_trend(),
        markers: memory.frustration.clone(),
    }
}

/// The newest `limit` messages, and how many older ones were left out.
fn transcript(events: &[Event], limit: usize) -> (Vec<TranscriptLine>, u32) {
    let lines: Vec<TranscriptLine> = events
        .iter()
        .filter_map(|e| {
            let (from, text) = match &e.kind {
                EventKind::CustomerMessage { text, .. } => (Speaker::Customer, text),
                EventKind::BotMessage { text, .. } => (Speaker::Bot, text),
                EventKind::AgentMessage { text, .. } => (Speaker::Agent, text),
                EventKind::SystemNote { text, .. } => (Speaker::System, text),
                _ => return None,
            };
            Some(TranscriptLine {
                seq: e.seq,
                at: rfc3339(e.at),
                from,
                text: text.as_str().to_owned(),
            })
        })
        .collect();
    let omitted = lines.len().saturating_sub(limit);
    (lines[omitted..].to_vec(), omitted as u32)
}

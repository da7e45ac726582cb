//! The `[handoff]` section of Baton's configuration: the escalation rules and their thresholds,
//! the phrase topics (asking for a person, legal threats, fraud...), the queues a handoff
//! routes to, and the words of the brief, the opener and the acknowledgment in each language.
//! Checking it names the entry at fault. Reading the file is the binary's job.

use baton_dialogue::Localized;
use baton_domain::{EscalationKind, Priority};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The demo shop's handoff section (TOML, starting at `[handoff]`).
pub const DEMO_HANDOFF_TOML: &str = include_str!("../demo/handoff.toml");

/// `count` times within `minutes`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub count: u32,
    pub minutes: u32,
}

/// Several messages in a row understood with low confidence.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LowConfidenceRule {
    /// A message whose best intent is below this confidence counts.
    pub below: f32,
    pub streak: u32,
}

/// When the customer's mood counts as a drop.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SentimentRule {
    /// A message at or below this score is negative.
    pub negative_at: f32,
    /// The message before it was at or above this (neutral or better): a drop.
    pub neutral_from: f32,
    /// Or the trend (mean of the last three minus the three before) fell this far.
    pub trend_at: f32,
    /// Or one message carries this many frustration markers (shouting, "!!!", "ridiculous").
    pub markers: u32,
}

/// The escalation rules. Each fires with a reason and the messages that show it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    /// Messages the bot could not place (fallbacks).
    pub fallbacks: Window,
    pub low_confidence: LowConfidenceRule,
    pub sentiment: SentimentRule,
    /// Account tiers whose first dead end goes to a person.
    #[serde(default)]
    pub high_value_tiers: Vec<String>,
    /// Actions whose failure goes to a person.
    #[serde(default)]
    pub failed_actions: Vec<String>,
    /// Failed identity checks in a row.
    pub failed_verifications: u32,
    /// Intents that are a request for a person, when the model is at least this sure.
    #[serde(default)]
    pub explicit_intents: Vec<String>,
    pub intent_confidence: f32,
    /// Intents the bot never serves alone.
    #[serde(default)]
    pub human_only_intents: Vec<String>,
    /// The same intent this often in this window.
    #[serde(rename = "loop")]
    pub repeats: Window,
    /// Intents that never count as a loop (greetings, thanks).
    #[serde(default)]
    pub loop_ignores: Vec<String>,
    /// Priority of each reason; a handoff takes the highest of its reasons.
    #[serde(default)]
    pub priority: BTreeMap<EscalationKind, Priority>,
}

/// Phrases that show a topic, per language: a request for a person, a legal threat...
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub name: String,
    /// The reason it gives.
    pub kind: EscalationKind,
    /// A negation just before the phrase ("no need for a human") cancels it.
    #[serde(default)]
    pub negatable: bool,
    pub phrases: BTreeMap<String, Vec<String>>,
    /// A clause holding one of these is not this topic ("are you a human?" asks about the bot).
    #[serde(default)]
    pub except: BTreeMap<String, Vec<String>>,
}

/// A queue a handoff may route to.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    /// The team, in words, per language ("billing", "facturación").
    pub team: Localized,
    #[serde(default)]
    pub skills: Vec<String>,
    /// Intents it serves.
    #[serde(default)]
    pub intents: Vec<String>,
    /// Account tiers it serves first, whatever the intent.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// Reasons it serves first (compliance topics to a specialist team).
    #[serde(default)]
    pub reasons: Vec<EscalationKind>,
}

/// What the agent should do next, for the first rule that matches.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NextActionRule {
    pub code: String,
    /// Matches when this action failed.
    #[serde(default)]
    pub failed_action: Option<String>,
    /// Matches when the handoff has this reason.
    #[serde(default)]
    pub reason: Option<EscalationKind>,
    /// Matches when this is the intent served.
    #[serde(default)]
    pub intent: Option<String>,
    pub text: Localized,
}

/// The opener's words for one intent.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpenerConfig {
    /// What the agent can see, with slot values (`the duplicate charge on order #{order_number}`).
    pub issue: Localized,
    /// The question that confirms the intent.
    pub question: Localized,
}

fn default_brief_note() -> Localized {
    Localized(
        [
            ("en".to_owned(), "Note from {value}".to_owned()),
            ("es".to_owned(), "Nota de {value}".to_owned()),
        ]
        .into(),
    )
}

/// Fixed words of the brief, the opener and the acknowledgment.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub brief_intent: Localized,
    /// The intent when the bot could not place the messages (`{count}` of them).
    pub intent_unclear: Localized,
    pub brief_captured: Localized,
    pub brief_sentiment: Localized,
    pub brief_tried: Localized,
    pub brief_next: Localized,
    /// The note of the agent who transferred the conversation, or handed it back before.
    #[serde(default = "default_brief_note")]
    pub brief_note: Localized,
    /// `{method}` verified.
    pub verified: Localized,
    pub not_verified: Localized,
    /// A value the customer gave but that was hidden (`card number given, hidden`).
    pub secret_given: Localized,
    pub outcome_failed: Localized,
    pub outcome_error: Localized,
    /// `article "{title}"`, then whether it helped.
    pub article: Localized,
    pub article_not_helped: Localized,
    pub sentiment_frustrated: Localized,
    pub sentiment_negative: Localized,
    pub sentiment_positive: Localized,
    pub after_failed_self_service: Localized,
    pub after_dead_ends: Localized,
    pub getting_worse: Localized,
    /// `Hi {name}, I'm {agent} from {team}.`
    pub opener_greeting: Localized,
    /// Without a name.
    pub opener_greeting_anonymous: Localized,
    /// Without a known issue: `I've read your conversation with our assistant.`
    pub opener_issue_unknown: Localized,
    pub opener_question_unknown: Localized,
    /// `I've passed {shared} to our {team} team, so you won't need to repeat anything.`
    pub acknowledgment: Localized,
    pub shared_conversation: Localized,
    /// `order #{value}`.
    pub shared_order: Localized,
    pub shared_account: Localized,
    /// The word joining the last two items of a list ("and", "y").
    pub and: Localized,
}

/// The `[handoff]` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HandoffConfig {
    pub default_language: String,
    /// Briefs are written in each of these (agents read them in theirs).
    pub languages: Vec<String>,
    /// How long the handoff waits for the CRM, orders and tickets, in total.
    #[serde(default = "default_budget")]
    pub refresh_budget_ms: u64,
    /// The most messages the package's transcript carries (the newest).
    #[serde(default = "default_transcript")]
    pub transcript_limit: usize,
    /// The most versions of one handoff's package (a new one each time the customer writes
    /// while waiting); later messages are in the conversation itself.
    #[serde(default = "default_versions")]
    pub max_package_versions: u32,
    pub escalation: EscalationConfig,
    #[serde(default)]
    pub topics: Vec<TopicConfig>,
    pub queues: Vec<QueueConfig>,
    pub default_queue: String,
    /// Intents in words: `refund for duplicate charge`.
    #[serde(default)]
    pub intent_labels: BTreeMap<String, Localized>,
    /// Actions in words: `refund workflow`.
    #[serde(default)]
    pub action_labels: BTreeMap<String, Localized>,
    /// Verification methods in words.
    #[serde(default)]
    pub method_labels: BTreeMap<String, Localized>,
    /// Captured facts: slot or action value name to a template with `{value}`, in brief order.
    #[serde(default)]
    pub captured: Vec<CapturedFact>,
    #[serde(default)]
    pub next_actions: Vec<NextActionRule>,
    #[serde(default)]
    pub openers: BTreeMap<String, OpenerConfig>,
    /// Per failed action, what the opener adds (`and that the automatic refund did not go through`).
    #[serde(default)]
    pub failure_clauses: BTreeMap<String, Localized>,
    /// Secret kinds in words (`card number`).
    #[serde(default)]
    pub secret_labels: BTreeMap<String, Localized>,
    pub texts: Texts,
}

/// One fact the brief's Captured line names when memory holds it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CapturedFact {
    /// A slot name, or a value an action answered.
    pub value: String,
    /// `order #{value}`; dates are written as in the agent's language.
    pub text: Localized,
    /// The value is a date (`2026-03-03` is written `Mar 3` or `3 mar`).
    #[serde(default)]
    pub date: bool,
}

fn default_budget() -> u64 {
    300
}

fn default_transcript() -> usize {
    100
}

fn default_versions() -> u32 {
    10
}

/// Why a handoff configuration was refused; names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("handoff.{entry}: {problem}")]
pub struct HandoffConfigError {
    pub entry: String,
    pub problem: String,
}

impl HandoffConfig {
    /// The demo shop's section.
    pub fn demo() -> Result<Self, HandoffConfigError> {
        #[derive(Deserialize)]
        struct File {
            handoff: HandoffConfig,
        }
        toml::from_str::<File>(DEMO_HANDOFF_TOML)
            .map(|f| f.handoff)
            .map_err(|e| HandoffConfigError {
                entry: "(demo)".into(),
                problem: e.to_string(),
            })
    }

    /// Checks intents and actions against what the model and the runtime know, queues and
    /// thresholds, and that every text exists in every language.
    pub fn validate(&self, intents: &[&str], actions: &[&str]) -> Result<(), HandoffConfigError> {
        let err = |entry: String, problem: String| Err(HandoffConfigError { entry, problem });
        if self.languages.is_empty() {
            return err("languages".into(), "needs at least one language".into());
        }
        if !self.languages.contains(&self.default_language) {
            return err(
                "default_language".into(),
                format!("`{}` is not one of `languages`", self.default_language),
            );
        }
        if self.max_package_versions == 0 || self.transcript_limit == 0 {
            return err(
                "max_package_versions".into(),
                "max_package_versions and transcript_limit must be at least 1".into(),
            );
        }
        if self.refresh_budget_ms == 0 || self.refresh_budget_ms > 10_000 {
            return err("refresh_budget_ms".into(), "must be between 1 and 10000".into());
        }
        let e = &self.escalation;
        for (entry, value) in [
            ("escalation.low_confidence.below", e.low_confidence.below),
            ("escalation.intent_confidence", e.intent_confidence),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return err(entry.into(), "must be between 0 and 1".into());
            }
        }
        for (entry, value) in [
            ("escalation.sentiment.negative_at", e.sentiment.negative_at),
            ("escalation.sentiment.neutral_from", e.sentiment.neutral_from),
            ("escalation.sentiment.trend_at", e.sentiment.trend_at),
        ] {
            if !(-2.0..=2.0).contains(&value) {
                return err(entry.into(), "must be between -2 and 2".into());
            }
        }
        for (entry, window) in [("escalation.fallbacks", e.fallbacks), ("escalation.loop", e.repeats)] {
            if window.count == 0 || window.minutes == 0 {
                return err(entry.into(), "count and minutes must be at least 1".into());
            }
        }
        if e.low_confidence.streak == 0 || e.failed_verifications == 0 {
            return err(
                "escalation".into(),
                "low_confidence.streak and failed_verifications must be at least 1".into(),
            );
        }
        let known_intent = |list: &[String], entry: &str| -> Result<(), HandoffConfigError> {
            match list.iter().find(|i| !intents.contains(&i.as_str())) {
                Some(bad) => err(entry.into(), format!("`{bad}` is not an intent of nlu.intents")),
                None => Ok(()),
            }
        };
        known_intent(&e.explicit_intents, "escalation.explicit_intents")?;
        known_intent(&e.human_only_intents, "escalation.human_only_intents")?;
        known_intent(&e.loop_ignores, "escalation.loop_ignores")?;
        let known_action = |list: Vec<&String>, entry: &str| -> Result<(), HandoffConfigError> {
            match list.into_iter().find(|a| !actions.contains(&a.as_str())) {
                Some(bad) => err(
                    entry.into(),
                    format!("unknown action `{bad}`; known: {}", actions.join(", ")),
                ),
                None => Ok(()),
            }
        };
        known_action(e.failed_actions.iter().collect(), "escalation.failed_actions")?;
        known_action(self.action_labels.keys().collect(), "action_labels")?;
        known_action(self.failure_clauses.keys().collect(), "failure_clauses")?;
        known_intent(&self.intent_labels.keys().cloned().collect::<Vec<_>>(), "intent_labels")?;
        known_intent(&self.openers.keys().cloned().collect::<Vec<_>>(), "openers")?;
        if self.queues.is_empty() {
            return err("queues".into(), "needs at least one queue".into());
        }
        let mut texts: Vec<(String, &Localized)> = Vec::new();
        for (i, queue) in self.queues.iter().enumerate() {
            let entry = format!("queues[{i}] ({})", queue.name);
            if self.queues[..i].iter().any(|q| q.name == queue.name) {
                return err(entry, "a second queue with the same name".into());
            }
            known_intent(&queue.intents, &entry)?;
            texts.push((format!("{entry}.team"), &queue.team));
        }
        if !self.queues.iter().any(|q| q.name == self.default_queue) {
            return err(
                "default_queue".into(),
                format!("`{}` is not one of `queues`", self.default_queue),
            );
        }
        for (i, topic) in self.topics.iter().enumerate() {
            let entry = format!("topics[{i}] ({})", topic.name);
            if topic.phrases.values().all(Vec::is_empty) {
                return err(entry, "has no phrases".into());
            }
            if let Some((language, _)) = topic
                .phrases
                .iter()
                .find(|(_, list)| list.iter().any(|p| crate::phrases::normalize(p).trim().is_empty()))
            {
                return err(entry, format!("a `{language}` phrase is blank"));
            }
        }
        for (i, rule) in self.next_actions.iter().enumerate() {
            if let Some(intent) = &rule.intent {
                known_intent(std::slice::from_ref(intent), &format!("next_actions[{i}]"))?;
            }
            if let Some(action) = &rule.failed_action {
                known_action(vec![action], &format!("next_actions[{i}]"))?;
            }
            texts.push((format!("next_actions[{i}] ({}).text", rule.code), &rule.text));
        }
        for (name, text) in &self.intent_labels {
            texts.push((format!("intent_labels.{name}"), text));
        }
        for (name, text) in &self.action_labels {
            texts.push((format!("action_labels.{name}"), text));
        }
        for (name, text) in &self.failure_clauses {
            texts.push((format!("failure_clauses.{name}"), text));
        }
        for (name, opener) in &self.openers {
            texts.push((format!("openers.{name}.issue"), &opener.issue));
            texts.push((format!("openers.{name}.question"), &opener.question));
        }
        for fact in &self.captured {
            texts.push((format!("captured.{}", fact.value), &fact.text));
        }
        let t = &self.texts;
        texts.extend([
            ("texts.brief_intent".to_owned(), &t.brief_intent),
            ("texts.intent_unclear".to_owned(), &t.intent_unclear),
            ("texts.brief_captured".to_owned(), &t.brief_captured),
            ("texts.brief_sentiment".to_owned(), &t.brief_sentiment),
            ("texts.brief_tried".to_owned(), &t.brief_tried),
            ("texts.brief_next".to_owned(), &t.brief_next),
            ("texts.verified".to_owned(), &t.verified),
            ("texts.not_verified".to_owned(), &t.not_verified),
            ("texts.secret_given".to_owned(), &t.secret_given),
            ("texts.outcome_failed".to_owned(), &t.outcome_failed),
            ("texts.outcome_error".to_owned(), &t.outcome_error),
            ("texts.article".to_owned(), &t.article),
            ("texts.article_not_helped".to_owned(), &t.article_not_helped),
            ("texts.sentiment_frustrated".to_owned(), &t.sentiment_frustrated),
            ("texts.sentiment_negative".to_owned(), &t.sentiment_negative),
            ("texts.sentiment_positive".to_owned(), &t.sentiment_positive),
            (
                "texts.after_failed_self_service".to_owned(),
                &t.after_failed_self_service,
            ),
            ("texts.after_dead_ends".to_owned(), &t.after_dead_ends),
            ("texts.getting_worse".to_owned(), &t.getting_worse),
            ("texts.opener_greeting".to_owned(), &t.opener_greeting),
            (
                "texts.opener_greeting_anonymous".to_owned(),
                &t.opener_greeting_anonymous,
            ),
            ("texts.opener_issue_unknown".to_owned(), &t.opener_issue_unknown),
            ("texts.opener_question_unknown".to_owned(), &t.opener_question_unknown),
            ("texts.acknowledgment".to_owned(), &t.acknowledgment),
            ("texts.shared_conversation".to_owned(), &t.shared_conversation),
            ("texts.shared_order".to_owned(), &t.shared_order),
            ("texts.shared_account".to_owned(), &t.shared_account),
            ("texts.and".to_owned(), &t.and),
        ]);
        for (name, text) in texts {
            if let Some(missing) = self.languages.iter().find(|l| !text.0.contains_key(l.as_str())) {
                return err(name, format!("has no text in `{missing}`"));
            }
            if let Some((language, _)) = text.0.iter().find(|(_, t)| t.trim().is_empty()) {
                return err(name, format!("the `{language}` text is blank"));
            }
        }
        Ok(())
    }

    /// The priority of a reason.
    pub fn priority_of(&self, kind: EscalationKind) -> Priority {
        self.escalation.priority.get(&kind).copied().unwrap_or_default()
    }

    pub fn queue(&self, name: &str) -> Option<&QueueConfig> {
        self.queues.iter().find(|q| q.name == name)
    }
}

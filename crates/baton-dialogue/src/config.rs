//! The `[dialogue]` section of Baton's configuration: what the bot says (per language), the
//! flows that serve intents (slots to fill, an optional check, a confirmation, the action to
//! call, the answers by outcome), and labels that turn values into words. Checking it names
//! the entry at fault. Reading the file is the binary's job.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The demo shop's dialogue section (TOML, starting at `[dialogue]`).
pub const DEMO_DIALOGUE_TOML: &str = include_str!("../demo/dialogue.toml");

/// A text in several languages: language code to text.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Localized(pub BTreeMap<String, String>);

impl Localized {
    /// The text in `language`, else in `fallback`, else any.
    pub fn get<'a>(&'a self, language: &str, fallback: &str) -> &'a str {
        self.0
            .get(language)
            .or_else(|| self.0.get(fallback))
            .or_else(|| self.0.values().next())
            .map_or("", String::as_str)
    }
}

/// A quick reply: its label and the text it sends, per language.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SuggestionConfig {
    pub label: Localized,
    pub text: Localized,
}

/// How a slot's value is read from a message.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SlotKind {
    /// An entity of this type (`order_number`, `email`, `phone`, `date`, `money`, a lookup list).
    Entity(String),
    /// The whole message (a delivery address).
    Text,
    /// The last four digits of a phone number.
    LastFour,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SlotConfig {
    /// The name in memory; slots with the same name are shared by every flow.
    pub name: String,
    pub kind: SlotKind,
    pub prompt: Localized,
}

/// What the bot says after the flow's action, by outcome.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Responses {
    pub ok: Localized,
    pub failed: Localized,
    /// When the check says no (not eligible); `failed` when absent.
    #[serde(default)]
    pub check_failed: Option<Localized>,
    /// When the customer answers no to the confirmation.
    #[serde(default)]
    pub declined: Option<Localized>,
}

/// One flow: how the bot serves one intent.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    pub intent: String,
    /// The customer must prove who they are first (order details are shown only then).
    #[serde(default)]
    pub verify: bool,
    #[serde(default)]
    pub slots: Vec<SlotConfig>,
    /// A read-only action run when the slots are filled, before the confirmation.
    #[serde(default)]
    pub check: Option<String>,
    /// Asked before the action runs; answered yes or no.
    #[serde(default)]
    pub confirm: Option<Localized>,
    pub action: String,
    pub responses: Responses,
    #[serde(default)]
    pub suggestions: Vec<SuggestionConfig>,
}

/// Identity verification: email plus an order number or the phone's last four digits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    pub ask_email: Localized,
    pub ask_proof: Localized,
    /// After a failed attempt: asks for the email and proof again.
    pub failed: Localized,
    /// Said before the flow goes on.
    pub verified: Localized,
    /// After this many failed attempts the bot stops asking.
    pub max_attempts: u32,
    pub locked: Localized,
    /// Failed proofs for one account, over all its conversations, after which no proof for
    /// it is checked (not even the right one) until the oldest of them is
    /// `account_window_minutes` old: someone guessing the phone's four digits one
    /// conversation after another gets this many guesses, not two per conversation. A proof
    /// that succeeds clears the account's count.
    #[serde(default = "default_failures_per_account")]
    pub max_failures_per_account: u32,
    #[serde(default = "default_account_window_minutes")]
    pub account_window_minutes: u32,
}

fn default_failures_per_account() -> u32 {
    5
}

fn default_account_window_minutes() -> u32 {
    60
}

/// The knowledge base's answers: to any intent without a flow, and to messages the model
/// could not place (a fallback only when no article matches well).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// `{title}`, `{passage}`, `[{url}]`.
    pub answer: Localized,
    pub helped: Localized,
    pub not_helped: Localized,
    pub feedback_suggestions: Vec<SuggestionConfig>,
}

/// The `[dialogue]` section.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DialogueConfig {
    /// Language of texts when the conversation's is unknown.
    pub default_language: String,
    /// Below this confidence the bot asks the customer to rephrase.
    pub min_confidence: f32,
    pub greeting: Localized,
    #[serde(default)]
    pub greeting_suggestions: Vec<SuggestionConfig>,
    /// Rephrase prompts, used in turn: never the same twice in a row.
    pub fallback: Vec<Localized>,
    #[serde(default)]
    pub fallback_suggestions: Vec<SuggestionConfig>,
    /// When a connector failed: `{what}` is the action's description.
    pub action_error: Localized,
    /// Canned replies by intent (greeting, thanks, goodbye).
    #[serde(default)]
    pub replies: BTreeMap<String, Localized>,
    /// Intents that hand the conversation to a person.
    #[serde(default)]
    pub handoff_intents: Vec<String>,
    pub handoff: Localized,
    pub verification: VerificationConfig,
    pub knowledge: KnowledgeConfig,
    #[serde(default)]
    pub flows: Vec<FlowConfig>,
    /// Words for values: `labels.status.shipped = { en = "on its way", es = "en camino" }`.
    #[serde(default)]
    pub labels: BTreeMap<String, BTreeMap<String, Localized>>,
    /// What each action does, in words, for error messages.
    #[serde(default)]
    pub action_names: BTreeMap<String, Localized>,
}

/// Why a dialogue configuration was refused; names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dialogue.{entry}: {problem}")]
pub struct DialogueConfigError {
    pub entry: String,
    pub problem: String,
}

impl DialogueConfig {
    /// The flow serving `intent`.
    pub fn flow(&self, intent: &str) -> Option<&FlowConfig> {
        self.flows.iter().find(|f| f.intent == intent)
    }

    /// Checks names against what the runtime can do and what the model knows, and that every
    /// text exists in every language.
    pub fn validate(&self, languages: &[&str], intents: &[&str], actions: &[&str]) -> Result<(), DialogueConfigError> {
        let err = |entry: String, problem: String| Err(DialogueConfigError { entry, problem });
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return err("min_confidence".into(), "must be between 0 and 1".into());
        }
        if self.fallback.is_empty() {
            return err("fallback".into(), "needs at least one text".into());
        }
        if self.verification.max_failures_per_account == 0 {
            return err(
                "verification.max_failures_per_account".into(),
                "must be at least 1 (0 would refuse every proof)".into(),
            );
        }
        if self.verification.account_window_minutes == 0 {
            return err(
                "verification.account_window_minutes".into(),
                "must be at least 1 (0 would count no failure)".into(),
            );
        }
        let mut texts: Vec<(String, &Localized)> = vec![
            ("greeting".into(), &self.greeting),
            ("action_error".into(), &self.action_error),
            ("handoff".into(), &self.handoff),
            ("verification.ask_email".into(), &self.verification.ask_email),
            ("verification.ask_proof".into(), &self.verification.ask_proof),
            ("verification.failed".into(), &self.verification.failed),
            ("verification.verified".into(), &self.verification.verified),
            ("verification.locked".into(), &self.verification.locked),
            ("knowledge.answer".into(), &self.knowledge.answer),
            ("knowledge.helped".into(), &self.knowledge.helped),
            ("knowledge.not_helped".into(), &self.knowledge.not_helped),
        ];
        texts.extend(
            self.fallback
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("fallback[{i}]"), t)),
        );
        for (name, text) in &self.replies {
            if !intents.contains(&name.as_str()) {
                return err(
                    format!("replies.{name}"),
                    format!("`{name}` is not an intent of nlu.intents"),
                );
            }
            texts.push((format!("replies.{name}"), text));
        }
        let named = |list: &[String], entry: &str| -> Result<(), DialogueConfigError> {
            match list.iter().find(|i| !intents.contains(&i.as_str())) {
                Some(bad) => err(entry.into(), format!("`{bad}` is not an intent of nlu.intents")),
                None => Ok(()),
            }
        };
        named(&self.handoff_intents, "handoff_intents")?;
        for (i, flow) in self.flows.iter().enumerate() {
            let entry = format!("flows[{i}] ({})", flow.intent);
            if !intents.contains(&flow.intent.as_str()) {
                return err(entry, format!("`{}` is not an intent of nlu.intents", flow.intent));
            }
            if self.flows[..i].iter().any(|f| f.intent == flow.intent) {
                return err(entry, "a second flow for the same intent".into());
            }
            if crate::turn::SIDE_EFFECT_ACTIONS.contains(&flow.action.as_str()) && flow.confirm.is_none() {
                return err(
                    entry,
                    format!(
                        "`{}` changes something in the shop: the flow needs a `confirm`",
                        flow.action
                    ),
                );
            }
            let side_effect = crate::turn::SIDE_EFFECT_ACTIONS.contains(&flow.action.as_str());
            if side_effect && !flow.verify {
                return err(
                    entry,
                    format!(
                        "`{}` changes something in the shop: the flow needs `verify = true`",
                        flow.action
                    ),
                );
            }
            // The order a change acts on may come from the order system, not the customer's
            // words: the question before it must name it.
            let has_order = flow.slots.iter().any(|s| s.name == "order_number");
            if let (true, true, Some(confirm)) = (side_effect, has_order, &flow.confirm) {
                if let Some((language, _)) = confirm.0.iter().find(|(_, t)| !t.contains("{order_number}")) {
                    return err(
                        format!("{entry}.confirm"),
                        format!("the `{language}` text must name the order: `{{order_number}}`"),
                    );
                }
            }
            for action in std::iter::once(&flow.action).chain(flow.check.iter()) {
                if crate::turn::INTERNAL_ACTIONS.contains(&action.as_str()) {
                    return err(
                        entry,
                        format!("`{action}` is the bot's own step around flows; a flow may not call it"),
                    );
                }
                if !actions.contains(&action.as_str()) {
                    return err(
                        entry,
                        format!("unknown action `{action}`; known: {}", actions.join(", ")),
                    );
                }
            }
            for slot in &flow.slots {
                texts.push((format!("{entry}.slots.{}.prompt", slot.name), &slot.prompt));
            }
            texts.push((format!("{entry}.responses.ok"), &flow.responses.ok));
            texts.push((format!("{entry}.responses.failed"), &flow.responses.failed));
            if let Some(confirm) = &flow.confirm {
                texts.push((format!("{entry}.confirm"), confirm));
            }
        }
        for (name, text) in texts {
            if let Some(missing) = languages.iter().find(|l| !text.0.contains_key(**l)) {
                return err(name, format!("has no text in `{missing}`"));
            }
            if let Some((language, _)) = text.0.iter().find(|(_, t)| t.trim().is_empty()) {
                return err(name, format!("the `{language}` text is blank"));
            }
        }
        Ok(())
    }
}

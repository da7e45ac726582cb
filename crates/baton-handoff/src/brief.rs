//! The brief: 3 to 5 deterministic lines an agent reads in seconds, in their language.
//!
//! ```text
//! Intent: refund for duplicate charge
//! Captured: order #54192, email verified, charged Mar 3
//! Sentiment: frustrated after failed self-service
//! Tried: eligibility check, refund workflow (failed)
//! Next: confirm eligibility and refund manually
//! ```
//!
//! Each line names concrete facts from memory and the package; a line with nothing to say is
//! left out rather than filled with a placeholder. Also here: the intent's words, the mood,
//! and the next best action, which the package carries too.

use crate::config::{HandoffConfig, NextActionRule};
use crate::package::{AuthLevel, ContextPackage, Mood};
use baton_dialogue::memory::HandoffRecord;
use baton_dialogue::text::render;
use baton_dialogue::{Localized, Memory};
use baton_domain::{ActionOutcome, Values};

/// The brief's lines in `language`.
pub fn lines(package: &ContextPackage, memory: &Memory, language: &str, config: &HandoffConfig) -> Vec<String> {
    let t = &config.texts;
    let say = |text: &Localized| text.get(language, &config.default_language).to_owned();
    let line = |template: &Localized, value: String| {
        let mut values = Values::new();
        values.insert("value".into(), value);
        render(&say(template), &values, |_, v| v.to_owned())
    };
    let mut out = Vec::new();
    if let Some(intent) = &package.action.intent {
        out.push(line(&t.brief_intent, intent_label(config, &intent.name, language)));
    } else if memory.fallbacks.count > 0 {
        let mut values = Values::new();
        values.insert("count".into(), memory.fallbacks.count.to_string());
        let unclear = render(&say(&t.intent_unclear), &values, |_, v| v.to_owned());
        out.push(line(&t.brief_intent, unclear));
    }
    let captured = captured(package, memory, language, config);
    if !captured.is_empty() {
        out.push(line(&t.brief_captured, captured.join(", ")));
    }
    if let Some(sentiment) = sentiment_words(package.conversation.sentiment.mood, memory, language, config) {
        out.push(line(&t.brief_sentiment, sentiment));
    }
    let tried = tried(memory, language, config);
    if !tried.is_empty() {
        out.push(line(&t.brief_tried, tried.join(", ")));
    }
    if let Some(next) = package
        .action
        .next_best_action
        .text
        .iter()
        .find(|n| n.language == language)
        .or_else(|| package.action.next_best_action.text.first())
    {
        out.push(line(&t.brief_next, next.text.clone()));
    }
    // What the last agent said when passing it on: the reason it is here now.
    let transfer_note = package.routing.transfers.iter().rev().find_map(|t| {
        let note = t.note.as_deref()?;
        Some(format!(
            "{}: {note}",
            t.from_agent_name.as_deref().unwrap_or(&t.from_agent)
        ))
    });
    if let Some(note) = transfer_note.or_else(|| package.routing.hand_back_note.clone()) {
        out.push(line(&t.brief_note, note));
    }
    out
}

/// The intent in words: its configured label, else its name without underscores.
pub fn intent_label(config: &HandoffConfig, intent: &str, language: &str) -> String {
    config
        .intent_labels
        .get(intent)
        .map(|l| l.get(language, &config.default_language).to_owned())
        .unwrap_or_else(|| intent.replace('_', " "))
}

/// "a, b and c".
pub fn join(items: &[String], and: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
    }
}

/// The facts worth naming, in the configured order: slot and action values, the proof of
/// identity (`auth`), secrets given (`secrets`).
fn captured(package: &ContextPackage, memory: &Memory, language: &str, config: &HandoffConfig) -> Vec<String> {
    let t = &config.texts;
    let say = |text: &Localized| text.get(language, &config.default_language).to_owned();
    let mut facts = Vec::new();
    for fact in &config.captured {
        let mut values = Values::new();
        match fact.value.as_str() {
            "auth" => {
                let auth = &package.identity.auth;
                match auth.state {
                    AuthLevel::Verified => {
                        let method = auth
                            .method
                            .as_deref()
                            .and_then(|m| config.method_labels.get(m))
                            .map(say)
                            .unwrap_or_default();
                        values.insert("method".into(), method);
                        facts.push(render(&say(&t.verified), &values, |_, v| v.to_owned()));
                    }
                    AuthLevel::Failed => {
                        values.insert("attempts".into(), auth.failed_attempts.to_string());
                        facts.push(render(&say(&t.not_verified), &values, |_, v| v.to_owned()));
                    }
                    AuthLevel::Anonymous | AuthLevel::Claimed => {}
                }
                continue;
            }
            "secrets" => {
                let mut kinds: Vec<String> = Vec::new();
                for secret in &package.conversation.secrets_given {
                    let label = config
                        .secret_labels
                        .get(&secret.kind)
                        .map(say)
                        .unwrap_or_else(|| secret.kind.replace('_', " "));
                    if !kinds.contains(&label) {
                        kinds.push(label);
                    }
                }
                for kind in kinds {
                    values.insert("value".into(), kind);
                    facts.push(render(&say(&t.secret_given), &values, |_, v| v.to_owned()));
                }
                continue;
            }
            name => {
                let value = memory
                    .slot(name)
                    .map(str::to_owned)
                    .or_else(|| memory.actions.iter().rev().find_map(|a| a.values.get(name).cloned()));
                let Some(value) = value else { continue };
                let value = if fact.date { date_words(&value, language) } else { value };
                values.insert("value".into(), value);
                facts.push(render(&say(&fact.text), &values, |_, v| v.to_owned()));
            }
        }
    }
    facts
}

/// `2026-03-03` as `Mar 3` (English) or `3 mar` (Spanish); anything else as it is.
pub fn date_words(value: &str, language: &str) -> String {
    let Some(date) = time::Date::parse(value, time::macros::format_description!("[year]-[month]-[day]")).ok() else {
        return value.to_owned();
    };
    let month = u8::from(date.month()) as usize - 1;
    const EN: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const ES: [&str; 12] = [
        "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
    ];
    match language {
        "es" => format!("{} {}", date.day(), ES[month]),
        _ => format!("{} {}", EN[month], date.day()),
    }
}

/// The mean score at or below which a customer's mood reads as negative in the brief (a
/// milder bar than the escalation rule's: the brief describes, it does not decide).
const NEGATIVE_MOOD: f32 = -0.2;

/// How the customer feels now: the mean of their last three messages' scores, and whether
/// the bot's failures or frustration markers are behind it.
pub fn mood(memory: &Memory, config: &HandoffConfig) -> Mood {
    let recent: Vec<f32> = memory.sentiment.iter().rev().take(3).map(|p| p.score).collect();
    if recent.is_empty() {
        return Mood::Neutral;
    }
    let mean = recent.iter().sum::<f32>() / recent.len() as f32;
    let markers: u32 = memory.frustration.values().sum();
    let negative = mean <= NEGATIVE_MOOD;
    let setbacks = memory.actions.iter().any(|a| a.outcome != ActionOutcome::Ok) || memory.fallbacks.count > 0;
    if (negative && (setbacks || markers > 0)) || markers >= 2 * config.escalation.sentiment.markers {
        Mood::Frustrated
    } else if negative {
        Mood::Negative
    } else if mean >= 0.35 {
        Mood::Positive
    } else {
        Mood::Neutral
    }
}

/// "frustrated after failed self-service"; nothing for a neutral customer.
fn sentiment_words(mood: Mood, memory: &Memory, language: &str, config: &HandoffConfig) -> Option<String> {
    let t = &config.texts;
    let say = |text: &Localized| text.get(language, &config.default_language).to_owned();
    let word = match mood {
        Mood::Neutral => return None,
        Mood::Positive => return Some(say(&t.sentiment_positive)),
        Mood::Negative => say(&t.sentiment_negative),
        Mood::Frustrated => say(&t.sentiment_frustrated),
    };
    let failed = memory.actions.iter().any(|a| a.outcome != ActionOutcome::Ok)
        || memory.articles.iter().any(|a| a.helped == Some(false));
    let cause = if failed {
        Some(say(&t.after_failed_self_service))
    } else if memory.fallbacks.count >= 2 {
        let mut values = Values::new();
        values.insert("count".into(), memory.fallbacks.count.to_string());
        Some(render(&say(&t.after_dead_ends), &values, |_, v| v.to_owned()))
    } else if memory.sentiment.len() >= 4 && memory.sentiment_trend() <= -0.3 {
        Some(say(&t.getting_worse))
    } else {
        None
    };
    Some(match cause {
        Some(cause) => format!("{word} {cause}"),
        None => word,
    })
}

/// What the bot tried, in order, each once: actions with how they ended, articles that did
/// not help.
fn tried(memory: &Memory, language: &str, config: &HandoffConfig) -> Vec<String> {
    let t = &config.texts;
    let say = |text: &Localized| text.get(language, &config.default_language).to_owned();
    // (what it is, in words): an action's name, or an article's id.
    let mut items: Vec<(String, String)> = Vec::new();
    for attempt in &memory.actions {
        let label = config
            .action_labels
            .get(&attempt.action)
            .map(say)
            .unwrap_or_else(|| attempt.action.replace('_', " "));
        let item = match attempt.outcome {
            ActionOutcome::Ok => label,
            ActionOutcome::Failed => format!("{label} {}", say(&t.outcome_failed)),
            ActionOutcome::Error => format!("{label} {}", say(&t.outcome_error)),
        };
        // The same action again: its last outcome tells.
        items.retain(|(action, _)| action != &attempt.action);
        items.push((attempt.action.clone(), item));
    }
    for article in &memory.articles {
        let mut values = Values::new();
        values.insert("title".into(), article.title.clone());
        let mut item = render(&say(&t.article), &values, |_, v| v.to_owned());
        if article.helped == Some(false) {
            item = format!("{item} {}", say(&t.article_not_helped));
        }
        items.retain(|(id, _)| id != &article.article_id);
        items.push((article.article_id.clone(), item));
    }
    items.into_iter().map(|(_, item)| item).collect()
}

/// The first configured rule that matches: a failed action, then a reason, then the intent;
/// the last rule without conditions is the default.
pub fn next_action<'c>(memory: &Memory, handoff: &HandoffRecord, config: &'c HandoffConfig) -> &'c NextActionRule {
    static FALLBACK: std::sync::OnceLock<NextActionRule> = std::sync::OnceLock::new();
    let failed: Vec<&str> = memory
        .actions
        .iter()
        .filter(|a| a.outcome != ActionOutcome::Ok)
        .map(|a| a.action.as_str())
        .collect();
    let intent = memory.current_intent.as_ref().map(|i| i.intent.as_str());
    let matches = |rule: &NextActionRule| {
        rule.failed_action.as_deref().is_some_and(|a| failed.contains(&a))
            || rule.reason.is_some_and(|k| handoff.reasons.iter().any(|r| r.kind == k))
            || rule.intent.as_deref().is_some_and(|i| Some(i) == intent)
    };
    let rules = &config.next_actions;
    rules
        .iter()
        .filter(|r| r.failed_action.is_some())
        .find(|r| matches(r))
        .or_else(|| rules.iter().filter(|r| r.reason.is_some()).find(|r| matches(r)))
        .or_else(|| rules.iter().filter(|r| r.intent.is_some()).find(|r| matches(r)))
        .or_else(|| {
            rules
                .iter()
                .find(|r| r.failed_action.is_none() && r.reason.is_none() && r.intent.is_none())
        })
        .unwrap_or_else(|| {
            FALLBACK.get_or_init(|| NextActionRule {
                code: "read_and_confirm".into(),
                failed_action: None,
                reason: None,
                intent: None,
                text: Localized(
                    [(
                        "en".to_owned(),
                        "read the conversation and confirm what the customer needs".to_owned(),
                    )]
                    .into(),
                ),
            })
        })
}

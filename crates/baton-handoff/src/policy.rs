//! The escalation policy: after each customer message, whether a person must take over, and
//! why. Pure: a function of memory (the fold over the log), the message, and the configuration.
//!
//! It is asked twice per message. [`EscalationPolicy::before_turn`] looks at the message itself
//! (memory already holds its analysis): an explicit request for a person, a compliance topic,
//! a human-only intent, a sentiment drop, a loop. When it fires, the bot does not act at all.
//! Otherwise the bot takes its turn and [`EscalationPolicy::after_turn`] looks at what the turn
//! did: a dead end (a fallback) that makes the streak, a failed action, failed identity checks,
//! a high-value account's dead end, a low-confidence streak no article answered.
//! Each reason carries the sequence numbers of the messages (and events) that show it.

use crate::config::HandoffConfig;
use crate::phrases::TopicMatcher;
use baton_dialogue::Memory;
use baton_domain::{ActionOutcome, Escalation, EscalationKind, EscalationReason, MessageAnalysis, Priority};
use time::{Duration, OffsetDateTime};

/// The customer message being handled.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub seq: u64,
    pub text: &'a str,
    pub analysis: &'a MessageAnalysis,
    pub at: OffsetDateTime,
}

/// What the after-turn rules compare memory with: its counts before the turn's records.
/// Taken before the turn starts, so the turn can work on memory itself instead of a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnStart {
    /// The last event memory had folded.
    pub last_seq: u64,
    /// Messages the bot could not place, so far.
    pub fallbacks: u32,
    /// Failed proofs of identity in a row, so far.
    pub failed_verifications: u32,
}

impl TurnStart {
    pub fn of(memory: &Memory) -> Self {
        TurnStart {
            last_seq: memory.last_seq,
            fallbacks: memory.fallbacks.count,
            failed_verifications: memory.failed_verifications(),
        }
    }
}

/// The rules, built once from configuration.
#[derive(Debug, Clone)]
pub struct EscalationPolicy {
    config: HandoffConfig,
    topics: TopicMatcher,
}

impl EscalationPolicy {
    pub fn new(config: &HandoffConfig) -> Self {
        EscalationPolicy {
            config: config.clone(),
            topics: TopicMatcher::new(&config.topics),
        }
    }

    pub fn config(&self) -> &HandoffConfig {
        &self.config
    }

    /// Reasons the message itself gives. `memory` already holds the message's analysis.
    pub fn before_turn(&self, memory: &Memory, message: &Message<'_>) -> Vec<EscalationReason> {
        let rules = &self.config.escalation;
        let mut reasons = Vec::new();
        let mut explicitly_declined = false;
        for hit in self.topics.find(message.text) {
            let topic = &self.config.topics[hit.topic];
            if hit.negated {
                explicitly_declined |= topic.kind == EscalationKind::Explicit;
                continue;
            }
            let detail = match topic.kind {
                EscalationKind::Explicit => format!("asked for a person: \"{}\"", hit.phrase),
                _ => format!("{}: \"{}\"", topic.name.replace('_', " "), hit.phrase),
            };
            push(&mut reasons, topic.kind, detail, vec![message.seq]);
        }
        let intent = message.analysis.intent.as_ref();
        if let Some(guess) = intent.filter(|g| g.confidence >= rules.intent_confidence) {
            if rules.explicit_intents.contains(&guess.intent) && !explicitly_declined {
                push(
                    &mut reasons,
                    EscalationKind::Explicit,
                    format!("asked for a person (intent `{}`)", guess.intent),
                    vec![message.seq],
                );
            }
            if rules.human_only_intents.contains(&guess.intent) {
                push(
                    &mut reasons,
                    EscalationKind::HumanOnlyIntent,
                    format!("`{}` is served by people only", guess.intent),
                    vec![message.seq],
                );
            }
        }
        if let Some(reason) = self.sentiment_drop(memory, message) {
            reasons.push(reason);
        }
        if let Some(reason) = self.repeated_intent(memory, message) {
            reasons.push(reason);
        }
        not_yet_handled(memory, reasons)
    }

    /// Reasons the bot's turn gives: `before` is what memory counted before the turn's records,
    /// `after` is memory with them.
    pub fn after_turn(&self, before: &TurnStart, after: &Memory, message: &Message<'_>) -> Vec<EscalationReason> {
        let rules = &self.config.escalation;
        let mut reasons = Vec::new();
        let fallback_now = after.fallbacks.count > before.fallbacks;
        if fallback_now {
            let since = message.at - minutes(rules.fallbacks.minutes);
            let fresh = since_handoff(after);
            let recent: Vec<u64> = after
                .fallbacks
                .times
                .iter()
                .zip(&after.fallbacks.message_seqs)
                .filter(|(at, seq)| **at >= since && **seq > fresh)
                .map(|(_, seq)| *seq)
                .collect();
            if recent.len() >= rules.fallbacks.count as usize {
                push(
                    &mut reasons,
                    EscalationKind::RepeatedFallback,
                    format!(
                        "{} messages the bot could not place within {} minutes",
                        recent.len(),
                        rules.fallbacks.minutes
                    ),
                    recent,
                );
            }
        }
        // An order that is not the customer's (a mistyped number, `found = no`) is no failed
        // change: the bot asks them to check the number.
        let failed_now: Vec<_> = after
            .actions
            .iter()
            .filter(|a| {
                a.seq > before.last_seq
                    && a.outcome != ActionOutcome::Ok
                    && a.values.get("found").map(String::as_str) != Some("no")
            })
            .collect();
        for attempt in failed_now.iter().filter(|a| rules.failed_actions.contains(&a.action)) {
            push(
                &mut reasons,
                EscalationKind::FailedAction,
                format!(
                    "`{}` {}: {}",
                    attempt.action,
                    outcome_word(attempt.outcome),
                    attempt.summary
                ),
                vec![message.seq],
            );
        }
        let failures = after.failed_verifications();
        let proof_failed_now = failures > before.failed_verifications;
        let fresh = since_handoff(after);
        let evidence: Vec<u64> = after
            .verification_failures
            .iter()
            .rev()
            .take(failures as usize)
            .rev()
            .copied()
            .filter(|seq| *seq > fresh)
            .collect();
        if proof_failed_now && evidence.len() >= rules.failed_verifications as usize {
            push(
                &mut reasons,
                EscalationKind::FailedVerification,
                format!("{} failed identity checks in a row", evidence.len()),
                evidence,
            );
        }
        if let Some(reason) = self.low_confidence_streak(after, message) {
            reasons.push(reason);
        }
        let tier = after.customer.as_ref().map(|c| c.tier.as_str());
        if let Some(tier) = tier.filter(|t| rules.high_value_tiers.iter().any(|h| h == t)) {
            let verification_failed_now = proof_failed_now;
            let unhappy = after
                .sentiment
                .last()
                .is_some_and(|p| p.message_seq == message.seq && p.score <= rules.sentiment.negative_at);
            if fallback_now || !failed_now.is_empty() || verification_failed_now || unhappy {
                push(
                    &mut reasons,
                    EscalationKind::HighValueAccount,
                    format!("`{tier}` account hit a dead end"),
                    vec![message.seq],
                );
            }
        }
        not_yet_handled(after, reasons)
    }

    /// The handoff's reasons and the priority they give (the highest of theirs).
    pub fn escalation(&self, reasons: Vec<EscalationReason>) -> Escalation {
        let priority = reasons
            .iter()
            .map(|r| self.config.priority_of(r.kind))
            .max()
            .unwrap_or(Priority::Normal);
        Escalation {
            reasons,
            priority,
            note: None,
        }
    }

    fn sentiment_drop(&self, memory: &Memory, message: &Message<'_>) -> Option<EscalationReason> {
        let rule = &self.config.escalation.sentiment;
        let fresh = since_handoff(memory);
        let start = memory.sentiment.partition_point(|p| p.message_seq <= fresh);
        let points = &memory.sentiment[start..];
        let latest = points.last().filter(|p| p.message_seq == message.seq)?;
        let markers = message
            .analysis
            .sentiment
            .markers
            .iter()
            .filter(|m| m.as_str() != "asks_for_human")
            .count() as u32;
        if latest.score <= rule.negative_at {
            if let Some(previous) = points.len().checked_sub(2).map(|i| &points[i]) {
                if previous.score >= rule.neutral_from {
                    return Some(EscalationReason {
                        kind: EscalationKind::SentimentDrop,
                        detail: format!("mood fell from {:.2} to {:.2}", previous.score, latest.score),
                        evidence: vec![previous.message_seq, latest.message_seq],
                    });
                }
            }
        }
        if points.len() >= 4 && latest.score < 0.0 && memory.sentiment_trend() <= rule.trend_at {
            return Some(EscalationReason {
                kind: EscalationKind::SentimentDrop,
                detail: format!("mood falling (trend {:.2})", memory.sentiment_trend()),
                evidence: points[points.len() - 3..].iter().map(|p| p.message_seq).collect(),
            });
        }
        if (markers >= rule.markers && latest.score < 0.0) || markers > rule.markers {
            return Some(EscalationReason {
                kind: EscalationKind::SentimentDrop,
                detail: format!(
                    "frustration: {}",
                    message.analysis.sentiment.markers.join(", ").replace('_', " ")
                ),
                evidence: vec![message.seq],
            });
        }
        None
    }

    /// The same intent asked again and again since the bot last got something done, not
    /// counting questions an article answered.
    fn repeated_intent(&self, memory: &Memory, message: &Message<'_>) -> Option<EscalationReason> {
        let rules = &self.config.escalation;
        let intent = message
            .analysis
            .intent
            .as_ref()
            .filter(|g| g.confidence >= rules.intent_confidence && !rules.loop_ignores.contains(&g.intent))?;
        let since_success = memory
            .actions
            .iter()
            .filter(|a| a.outcome == ActionOutcome::Ok)
            .map(|a| a.seq)
            .max()
            .unwrap_or(0);
        // A question an article answered (and the customer did not say it failed) was served.
        let answered = |seq: u64| {
            memory
                .articles
                .iter()
                .any(|a| a.message_seq == seq && a.helped != Some(false))
        };
        let since = message.at - minutes(rules.repeats.minutes);
        let asks: Vec<u64> = memory
            .intents
            .iter()
            .filter(|t| {
                !t.answering
                    && t.message_seq > since_handoff(memory)
                    && !answered(t.message_seq)
                    && t.at >= since
                    && t.message_seq > since_success
                    && t.confidence >= rules.intent_confidence
                    && t.intent.as_deref() == Some(intent.intent.as_str())
            })
            .map(|t| t.message_seq)
            .collect();
        (asks.len() >= rules.repeats.count as usize && asks.last() == Some(&message.seq)).then(|| EscalationReason {
            kind: EscalationKind::Loop,
            detail: format!(
                "asked for `{}` {} times within {} minutes",
                intent.intent,
                asks.len(),
                rules.repeats.minutes
            ),
            evidence: asks,
        })
    }

    /// The last few messages that were not answers to the bot's questions were all understood
    /// only with low confidence, and none was answered by a knowledge-base article.
    fn low_confidence_streak(&self, memory: &Memory, message: &Message<'_>) -> Option<EscalationReason> {
        let rule = &self.config.escalation.low_confidence;
        let answered = |seq: u64| memory.articles.iter().any(|a| a.message_seq == seq);
        let asked: Vec<_> = memory
            .intents
            .iter()
            .filter(|t| !t.answering && !answered(t.message_seq) && t.message_seq > since_handoff(memory))
            .collect();
        let tail = asked.get(asked.len().checked_sub(rule.streak as usize)?..)?;
        let all_low = tail.iter().all(|t| t.confidence < rule.below);
        (all_low && tail.last().is_some_and(|t| t.message_seq == message.seq)).then(|| EscalationReason {
            kind: EscalationKind::LowConfidence,
            detail: format!(
                "{} messages in a row understood with confidence below {:.2}",
                tail.len(),
                rule.below
            ),
            evidence: tail.iter().map(|t| t.message_seq).collect(),
        })
    }
}

/// Evidence counts only from after the latest handoff: after a person hands the conversation
/// back, the bot starts with a clean slate.
fn since_handoff(memory: &Memory) -> u64 {
    memory.handoffs.last().map_or(0, |h| h.seq)
}

fn push(reasons: &mut Vec<EscalationReason>, kind: EscalationKind, detail: String, evidence: Vec<u64>) {
    if !reasons.iter().any(|r| r.kind == kind) {
        reasons.push(EscalationReason { kind, detail, evidence });
    }
}

fn minutes(n: u32) -> Duration {
    Duration::minutes(i64::from(n))
}

fn outcome_word(outcome: ActionOutcome) -> &'static str {
    match outcome {
        ActionOutcome::Ok => "succeeded",
        ActionOutcome::Failed => "failed",
        _ => "could not run",
    }
}

/// Drops the reasons a person already dealt with in this bot stretch (the agent handed the
/// conversation back after handling them), so the bot does not loop straight back into the
/// same escalation; a customer who asks for a person again is always heard.
fn not_yet_handled(memory: &Memory, mut reasons: Vec<EscalationReason>) -> Vec<EscalationReason> {
    if memory.phase == baton_domain::PhaseName::HandedBack {
        reasons.retain(|r| r.kind == EscalationKind::Explicit || !memory.handled_reasons.contains(&r.kind));
    }
    reasons
}

//! Finding the configured topics' phrases in a customer message, in any of the configured
//! languages: "agent", "I want to talk to a real person", "quiero hablar con un agente",
//! "my lawyer", "no reconozco este cargo"... Matching is on whole words of a normalized text
//! (lower case, accents and punctuation removed), so shouting, accents and punctuation do not
//! matter. A negation shortly before a phrase of a negatable topic ("no need for a human",
//! "no quiero un agente") cancels it, within its clause (split at punctuation and "but").

use crate::config::TopicConfig;
use aho_corasick::{AhoCorasick, MatchKind};

/// Words that negate what follows them within a few words.
const NEGATIONS: &[&str] = &[
    "not", "don't", "dont", "never", "without", "nobody", "neither", "nor", "doesn't", "doesnt", "didn't", "didnt",
    "isn't", "won't", "no", "sin", "nunca", "tampoco", "ni",
];
/// How many words before a phrase a negation reaches.
const NEGATION_REACH: usize = 6;

/// Lower case, accents off, apostrophes unified, anything but letters, digits and apostrophes
/// turned into single spaces; padded with a space on each side.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ñ' => 'n',
            'ç' => 'c',
            '’' | '‘' | '`' => '\'',
            c => c,
        };
        if c.is_alphanumeric() || c == '\'' {
            out.push(c);
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if !space {
        out.push(' ');
    }
    out
}

/// Splits a message into clauses: at sentence punctuation, commas and "but" / "pero".
fn clauses(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(['.', ',', ';', '!', '?', '¡', '¿', '\n', ':'])
        .flat_map(|part| {
            let normalized = normalize(part);
            normalized
                .split(" but ")
                .flat_map(|p| p.split(" pero "))
                .map(|p| format!(" {} ", p.trim()))
                .collect::<Vec<_>>()
        })
        .filter(|c| !c.trim().is_empty())
}

/// One topic found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicHit {
    /// Index into the configured topics.
    pub topic: usize,
    /// The phrase as configured.
    pub phrase: String,
    /// A negation came just before it ("no need for a human"), or the clause is about
    /// something else ("are you a human?").
    pub negated: bool,
}

/// Every configured phrase of every topic, in one automaton.
#[derive(Debug, Clone)]
pub struct TopicMatcher {
    phrases: AhoCorasick,
    /// For each pattern: its topic and the phrase as configured.
    owners: Vec<(usize, String)>,
    negatable: Vec<bool>,
    /// Each topic's exceptions, normalized.
    except: Vec<Vec<String>>,
}

impl TopicMatcher {
    pub fn new(topics: &[TopicConfig]) -> Self {
        let mut patterns = Vec::new();
        let mut owners = Vec::new();
        for (index, topic) in topics.iter().enumerate() {
            for phrase in topic.phrases.values().flatten() {
                let normalized = normalize(phrase);
                if normalized.trim().is_empty() {
                    continue;
                }
                patterns.push(normalized);
                owners.push((index, phrase.clone()));
            }
        }
        let phrases = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .unwrap_or_else(|e| panic!("topic phrases: {e}"));
        TopicMatcher {
            phrases,
            owners,
            negatable: topics.iter().map(|t| t.negatable).collect(),
            except: topics
                .iter()
                .map(|t| {
                    t.except
                        .values()
                        .flatten()
                        .map(|p| normalize(p))
                        .filter(|p| !p.trim().is_empty())
                        .collect()
                })
                .collect(),
        }
    }

    /// The topics whose phrases appear in `text`, at most one hit per topic: a plain hit
    /// wins over a negated one.
    pub fn find(&self, text: &str) -> Vec<TopicHit> {
        let mut hits: Vec<TopicHit> = Vec::new();
        for clause in clauses(text) {
            for found in self.phrases.find_overlapping_iter(&clause) {
                let (topic, phrase) = &self.owners[found.pattern().as_usize()];
                // A phrase inside an exception ("are you a human?", "human resources") is declined.
                let excepted = self.except[*topic].iter().any(|e| {
                    clause
                        .match_indices(e.as_str())
                        .any(|(at, _)| at <= found.start() && at + e.len() >= found.end())
                });
                let negated = excepted || (self.negatable[*topic] && negated_before(&clause[..found.start()]));
                match hits.iter_mut().find(|h| h.topic == *topic) {
                    Some(hit) if hit.negated && !negated => {
                        hit.negated = false;
                        hit.phrase.clone_from(phrase);
                    }
                    Some(_) => {}
                    None => hits.push(TopicHit {
                        topic: *topic,
                        phrase: phrase.clone(),
                        negated,
                    }),
                }
            }
        }
        hits
    }
}

/// Words that start a new request after a negation ("this is not working, I need a human",
/// "no me funciona nada quiero un agente"): between a negation and the phrase they end its
/// reach, unless they follow the negation at once ("I don't want a human", "no quiero").
const REQUEST_STARTS: &[&str] = &[
    "i", "i'm", "im", "yo", "quiero", "necesito", "want", "need", "please", "pls", "give", "dame", "pasame", "ponme",
];

/// Whether the words just before a phrase negate it.
fn negated_before(before: &str) -> bool {
    let words: Vec<&str> = before.split_whitespace().collect();
    let reach = &words[words.len().saturating_sub(NEGATION_REACH)..];
    reach.iter().enumerate().any(|(i, word)| {
        if !NEGATIONS.contains(word) {
            return false;
        }
        // "no, I want a person" (an interjection, when the comma was left out): "no I ...".
        let next = reach.get(i + 1).copied();
        if *word == "no" && matches!(next, Some("i" | "i'm" | "im")) {
            return false;
        }
        // A new request between the negation and the phrase ends the negation's reach.
        !reach.iter().skip(i + 2).any(|w| REQUEST_STARTS.contains(w))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_domain::EscalationKind;
    use std::collections::BTreeMap;

    fn topic(phrases: &[&str], negatable: bool) -> TopicConfig {
        TopicConfig {
            name: "t".into(),
            kind: EscalationKind::Explicit,
            negatable,
            phrases: BTreeMap::from([("en".into(), phrases.iter().map(|p| (*p).to_owned()).collect())]),
            except: BTreeMap::from([("en".into(), vec!["are you a human".to_owned()])]),
        }
    }

    #[test]
    fn normalizing_drops_case_accents_and_punctuation() {
        assert_eq!(
            normalize("¡Quiero hablar con un AGENTE!!"),
            " quiero hablar con un agente "
        );
        assert_eq!(normalize("don’t"), " don't ");
        assert_eq!(normalize("  "), " ");
    }

    #[test]
    fn whole_words_only() {
        let matcher = TopicMatcher::new(&[topic(&["agent"], true)]);
        assert_eq!(matcher.find("AGENT!!!").len(), 1);
        assert!(matcher.find("my travel agency").is_empty());
        assert!(matcher.find("agents").is_empty());
        let matcher = TopicMatcher::new(&[topic(&["human"], true)]);
        assert!(
            matcher.find("wait, are you a human?")[0].negated,
            "a question about the bot"
        );
    }

    #[test]
    fn negation_within_the_clause_cancels() {
        let matcher = TopicMatcher::new(&[topic(&["human", "agent"], true)]);
        assert!(matcher.find("no need for a human")[0].negated);
        assert!(matcher.find("I don't want to talk to a human")[0].negated);
        assert!(!matcher.find("I don't want a bot, get me a human")[0].negated);
        assert!(!matcher.find("no I want an agent")[0].negated);
        assert!(!matcher.find("the bot doesn't help but an agent would")[0].negated);
        // Negated and plain in one message: the plain one counts.
        assert!(!matcher.find("not the agent from before. a human please")[0].negated);
        // A new request after a negation is not negated.
        for text in [
            "this is not working i need a human",
            "you don't understand me I want a human",
            "nobody answers me i want a human",
            "I don't know what to do I need an agent",
        ] {
            assert!(!matcher.find(text)[0].negated, "{text}");
        }
    }
}

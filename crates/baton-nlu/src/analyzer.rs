//! The one entry point: a message and the conversation's language in, an [`Analysis`] out
//! (language, intent, entities, sentiment). Built once from the NLU section of Baton's
//! configuration; every check of that configuration names the entry at fault.

use crate::entities::{Entity, EntityConfig, EntityConfigError, EntityExtractor, EntityKind, LookupEntry, LookupList};
use crate::intent::{IntentModel, Prediction, TrainError, TrainingExample, TrainingOptions};
use crate::language::{LanguageConfigError, LanguageDetector, LanguageGuess};
use crate::sentiment::{self, Sentiment};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use time::Date;

/// The demo shop's NLU section (TOML, starting at `[nlu]`), part of Baton's bundled demo
/// configuration.
pub const DEMO_NLU_TOML: &str = include_str!("../demo/nlu.toml");

/// The demo shop's held-out messages (`text,category,language`), never trained on.
pub const DEMO_HELDOUT_CSV: &str = include_str!("../demo/heldout.csv");

/// Characters of a message that are analysed; the rest is ignored, so a pasted novel costs
/// no more than a long message.
pub const MAX_ANALYZED_CHARS: usize = 4_000;

/// The `[nlu]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NluConfig {
    /// ISO 639-1 codes, e.g. `["en", "es"]`.
    pub languages: Vec<String>,
    /// The language of a conversation that has not said otherwise.
    pub default_language: String,
    #[serde(default)]
    pub entities: EntitiesConfig,
    #[serde(default)]
    pub lookups: Vec<LookupConfig>,
    pub intents: Vec<IntentConfig>,
    /// Examples of messages the shop does not handle, per language (the rejection class).
    #[serde(default)]
    pub out_of_scope: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntitiesConfig {
    pub order_number_pattern: String,
    pub phone_region: String,
    pub day_first: bool,
}

impl Default for EntitiesConfig {
    fn default() -> Self {
        let d = EntityConfig::default();
        Self {
            order_number_pattern: d.order_number_pattern,
            phone_region: d.phone_region,
            day_first: d.day_first,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// The entity type, e.g. `product` or `plan`.
    pub name: String,
    pub entries: Vec<LookupEntryConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupEntryConfig {
    pub value: String,
    #[serde(default)]
    pub synonyms: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntentConfig {
    pub name: String,
    /// Example messages per language code.
    pub examples: BTreeMap<String, Vec<String>>,
}

/// Why an NLU configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NluConfigError {
    #[error("nlu.languages: {0}")]
    Languages(#[from] LanguageConfigError),
    #[error("nlu.default_language `{0}` is not one of nlu.languages")]
    DefaultLanguage(String),
    #[error("nlu.entities: {0}")]
    Entities(#[from] EntityConfigError),
    #[error("nlu.intents[{index}] ({name}): {problem}")]
    Intent {
        index: usize,
        name: String,
        problem: String,
    },
    #[error("nlu.out_of_scope: language `{0}` is not one of nlu.languages")]
    OutOfScopeLanguage(String),
    #[error("nlu: training the {language} intent model failed: {source}")]
    Training {
        language: String,
        #[source]
        source: TrainError,
    },
}

/// What Baton understood of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub language: LanguageGuess,
    pub intent: Prediction,
    pub entities: Vec<Entity>,
    pub sentiment: Sentiment,
}

/// The trained analyzer.
#[derive(Debug, Clone)]
pub struct Analyzer {
    default_language: String,
    languages: LanguageDetector,
    intents: HashMap<String, IntentModel>,
    entities: EntityExtractor,
}

/// The least examples an intent needs in each language.
pub const MIN_EXAMPLES_PER_LANGUAGE: usize = 5;

impl Analyzer {
    /// Checks the configuration and trains one intent model per language.
    pub fn new(config: &NluConfig) -> Result<Self, NluConfigError> {
        let languages = LanguageDetector::new(&config.languages)?;
        if !config.languages.contains(&config.default_language) {
            return Err(NluConfigError::DefaultLanguage(config.default_language.clone()));
        }
        let entity_config = EntityConfig {
            order_number_pattern: config.entities.order_number_pattern.clone(),
            phone_region: config.entities.phone_region.clone(),
            day_first: config.entities.day_first,
            lookups: config
                .lookups
                .iter()
                .map(|l| LookupList {
                    name: l.name.clone(),
                    entries: l
                        .entries
                        .iter()
                        .map(|e| LookupEntry {
                            value: e.value.clone(),
                            synonyms: e.synonyms.clone(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let entities = EntityExtractor::new(&entity_config)?;
        let mut seen = HashMap::new();
        for (index, intent) in config.intents.iter().enumerate() {
            let problem = |problem: String| NluConfigError::Intent {
                index,
                name: intent.name.clone(),
                problem,
            };
            if intent.name.trim().is_empty() {
                return Err(problem("the name is empty".into()));
            }
            if let Some(first) = seen.insert(intent.name.as_str(), index) {
                return Err(problem(format!("the same name as nlu.intents[{first}]")));
            }
            for (language, examples) in &intent.examples {
                if !config.languages.contains(language) {
                    return Err(problem(format!(
                        "examples in `{language}`, which is not one of nlu.languages"
                    )));
                }
                if let Some(i) = examples.iter().position(|e| e.trim().is_empty()) {
                    return Err(problem(format!("example {i} in `{language}` is empty")));
                }
            }
            for language in &config.languages {
                let count = intent.examples.get(language).map_or(0, Vec::len);
                if count < MIN_EXAMPLES_PER_LANGUAGE {
                    return Err(problem(format!(
                        "{count} examples in `{language}`; at least {MIN_EXAMPLES_PER_LANGUAGE} are needed"
                    )));
                }
            }
        }
        if let Some(language) = config.out_of_scope.keys().find(|l| !config.languages.contains(l)) {
            return Err(NluConfigError::OutOfScopeLanguage(language.clone()));
        }
        let mut intents = HashMap::new();
        for language in &config.languages {
            let mut examples: Vec<TrainingExample> = config
                .intents
                .iter()
                .flat_map(|intent| {
                    intent
                        .examples
                        .get(language)
                        .into_iter()
                        .flatten()
                        .map(|text| TrainingExample {
                            text: text.clone(),
                            intent: Some(intent.name.clone()),
                        })
                })
                .collect();
            examples.extend(
                config
                    .out_of_scope
                    .get(language)
                    .into_iter()
                    .flatten()
                    .map(|text| TrainingExample {
                        text: text.clone(),
                        intent: None,
                    }),
            );
            let model = IntentModel::train(&examples, &TrainingOptions::default()).map_err(|source| {
                NluConfigError::Training {
                    language: language.clone(),
                    source,
                }
            })?;
            intents.insert(language.clone(), model);
        }
        Ok(Self {
            default_language: config.default_language.clone(),
            languages,
            intents,
            entities,
        })
    }

    /// An analyzer around an intent model trained elsewhere (for evaluations): one language,
    /// default entity extractors.
    pub fn with_intent_model(model: IntentModel, language: &str) -> Result<Self, NluConfigError> {
        let languages = LanguageDetector::new(&[language.to_owned()])?;
        let entities = EntityExtractor::new(&EntityConfig::default())?;
        let intents = HashMap::from([(language.to_owned(), model)]);
        Ok(Self {
            default_language: language.to_owned(),
            languages,
            intents,
            entities,
        })
    }

    /// Analyses one message. `conversation_language` is the language so far (used when the
    /// message itself does not tell); `today` resolves relative dates.
    pub fn analyze(&self, text: &str, conversation_language: Option<&str>, today: Date) -> Analysis {
        let text = match text.char_indices().nth(MAX_ANALYZED_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        let fallback = conversation_language
            .filter(|l| self.intents.contains_key(*l))
            .unwrap_or(&self.default_language);
        let entities = self.entities.extract(text, today);
        // An answer such as `sarah@example.com` or `54192` asks for nothing and is in no
        // language: what the classifier and the language detector make of an address's
        // letters is noise. The intent's guesses stay for the record; the conversation keeps
        // its language. (Words of one letter or none at all: nothing to read either.)
        let answer_only = only_entities(text, &entities);
        let language = if answer_only {
            LanguageGuess {
                code: fallback.to_owned(),
                detected: false,
            }
        } else {
            self.languages.detect(text, fallback)
        };
        let model = self
            .intents
            .get(&language.code)
            .or_else(|| self.intents.get(&self.default_language));
        let mut intent = match model {
            Some(model) => model.predict(text),
            None => Prediction {
                top: Vec::new(),
                out_of_scope: true,
            },
        };
        if answer_only {
            intent.out_of_scope = true;
        }
        Analysis {
            language,
            intent,
            entities,
            sentiment: sentiment::analyze(text),
        }
    }

    /// The languages it understands, sorted.
    pub fn languages(&self) -> Vec<&str> {
        let mut languages: Vec<&str> = self.intents.keys().map(String::as_str).collect();
        languages.sort_unstable();
        languages
    }

    /// The intent model of a language.
    pub fn intent_model(&self, language: &str) -> Option<&IntentModel> {
        self.intents.get(language)
    }
}

/// True when `text` has no word of two letters or more outside its entities (lookup values
/// are words and count): an address, a number, a phone, a date, punctuation.
fn only_entities(text: &str, entities: &[Entity]) -> bool {
    let spans: Vec<&std::ops::Range<usize>> = entities
        .iter()
        .filter(|e| !matches!(e.kind, EntityKind::Lookup(_)))
        .map(|e| &e.span)
        .collect();
    let mut letters = 0;
    for (i, c) in text.chars().enumerate() {
        if c.is_alphabetic() && !spans.iter().any(|s| s.contains(&i)) {
            letters += 1;
            if letters >= 2 {
                return false;
            }
        } else {
            letters = 0;
        }
    }
    true
}

#[cfg(test)]
mod tests;

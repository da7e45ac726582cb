//! Which of the configured languages a message is written in. whatlang does the detection,
//! restricted to the configured languages; on short or ambiguous text (where trigram
//! statistics say little: "hola", "ok", "refund pls") a few words typical of each language
//! break the tie, and when nothing is telling the conversation's language stands.

use whatlang::{Detector, Lang};

/// Languages Baton can be configured for, by ISO 639-1 code.
const SUPPORTED: &[(&str, Lang)] = &[
    ("en", Lang::Eng),
    ("es", Lang::Spa),
    ("pt", Lang::Por),
    ("fr", Lang::Fra),
    ("de", Lang::Deu),
    ("it", Lang::Ita),
    ("nl", Lang::Nld),
];

/// Short words that mark a language in support chats (only for languages listed here).
const CUES: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "hi", "hello", "hey", "thanks", "thank", "you", "please", "pls", "the", "my", "is", "where", "what",
            "order", "refund", "help", "want", "need", "yes", "yeah", "bye", "and", "it", "not", "human", "agent",
            "cancel",
        ],
    ),
    (
        "es",
        &[
            "hola",
            "gracias",
            "por",
            "favor",
            "el",
            "la",
            "los",
            "las",
            "mi",
            "es",
            "dónde",
            "donde",
            "qué",
            "que",
            "pedido",
            "reembolso",
            "ayuda",
            "quiero",
            "necesito",
            "sí",
            "adiós",
            "adios",
            "y",
            "no",
            "está",
            "esta",
            "humano",
            "agente",
            "cancelar",
            "buenos",
            "buenas",
            "días",
            "tardes",
            "de",
            "un",
            "una",
            "con",
        ],
    ),
];

/// Why a language list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LanguageConfigError {
    #[error("no languages configured")]
    Empty,
    #[error("language `{0}` is not supported (supported: en, es, pt, fr, de, it, nl)")]
    Unsupported(String),
}

/// The detected language and whether the detection had evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageGuess {
    /// An ISO 639-1 code from the configured list.
    pub code: String,
    /// False when the conversation's language was kept for lack of evidence.
    pub detected: bool,
}

/// Detects among a fixed set of languages.
#[derive(Debug, Clone)]
pub struct LanguageDetector {
    codes: Vec<String>,
    detector: Detector,
}

impl LanguageDetector {
    pub fn new(codes: &[String]) -> Result<Self, LanguageConfigError> {
        if codes.is_empty() {
            return Err(LanguageConfigError::Empty);
        }
        let mut langs = Vec::new();
        for code in codes {
            let lang = SUPPORTED
                .iter()
                .find(|(c, _)| c == code)
                .map(|(_, l)| *l)
                .ok_or_else(|| LanguageConfigError::Unsupported(code.clone()))?;
            langs.push(lang);
        }
        Ok(Self {
            codes: codes.to_vec(),
            detector: Detector::with_allowlist(langs),
        })
    }

    /// The language of `text`; `fallback` (the conversation's language) when unsure.
    pub fn detect(&self, text: &str, fallback: &str) -> LanguageGuess {
        let keep = || LanguageGuess {
            code: fallback.to_owned(),
            detected: false,
        };
        if self.codes.len() == 1 {
            return LanguageGuess {
                code: self.codes[0].clone(),
                detected: false,
            };
        }
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        if letters == 0 {
            return keep();
        }
        if letters >= 25 {
            if let Some(info) = self.detector.detect(text) {
                if info.is_reliable() || info.confidence() > 0.5 {
                    if let Some(code) = self.code_of(info.lang()) {
                        return LanguageGuess { code, detected: true };
                    }
                }
            }
        }
        // Short or unclear: count typical words.
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let mut best: Option<(&str, usize)> = None;
        let mut tie = false;
        for (code, cues) in CUES.iter().filter(|(c, _)| self.codes.iter().any(|k| k == c)) {
            let hits = words.iter().filter(|w| cues.contains(w)).count()
                + if lower.contains(['ñ', '¿', '¡', 'á', 'é', 'í', 'ó', 'ú']) && *code == "es" {
                    2
                } else {
                    0
                };
            match best {
                Some((_, h)) if hits == h => tie = true,
                Some((_, h)) if hits < h => {}
                _ => {
                    best = Some((code, hits));
                    tie = false;
                }
            }
        }
        match best {
            Some((code, hits)) if hits > 0 && !tie => LanguageGuess {
                code: code.to_owned(),
                detected: true,
            },
            _ => {
                // Fall back on whatlang's best guess for longer text, else the conversation's.
                if letters >= 12 {
                    if let Some(code) = self.detector.detect(text).and_then(|i| self.code_of(i.lang())) {
                        return LanguageGuess { code, detected: true };
                    }
                }
                keep()
            }
        }
    }

    fn code_of(&self, lang: Lang) -> Option<String> {
        SUPPORTED
            .iter()
            .find(|(_, l)| *l == lang)
            .map(|(c, _)| (*c).to_owned())
            .filter(|c| self.codes.contains(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> LanguageDetector {
        LanguageDetector::new(&["en".to_owned(), "es".to_owned()]).expect("en, es")
    }

    fn code(text: &str, fallback: &str) -> String {
        detector().detect(text, fallback).code
    }

    #[test]
    fn short_messages() {
        assert_eq!(code("hola", "en"), "es");
        assert_eq!(code("gracias!", "en"), "es");
        assert_eq!(code("refund pls", "es"), "en");
        assert_eq!(code("hi", "es"), "en");
        assert_eq!(code("¿y mi pedido?", "en"), "es");
    }

    #[test]
    fn unclear_text_keeps_the_conversation_language() {
        assert_eq!(
            detector().detect("ok", "es"),
            LanguageGuess {
                code: "es".into(),
                detected: false
            }
        );
        assert_eq!(code("54192", "en"), "en");
        assert_eq!(code("", "es"), "es");
        assert_eq!(code("👍", "es"), "es");
    }

    #[test]
    fn longer_messages() {
        assert_eq!(
            code(
                "I was charged twice for the same order and nobody answers my emails",
                "es"
            ),
            "en"
        );
        assert_eq!(
            code(
                "Me cobraron dos veces el mismo pedido y nadie contesta mis correos",
                "en"
            ),
            "es"
        );
    }

    #[test]
    fn only_configured_languages_are_answered() {
        let german = code("Ich möchte meine Bestellung stornieren, bitte", "en");
        assert!(german == "en" || german == "es", "{german}");
        assert_eq!(LanguageDetector::new(&[]).err(), Some(LanguageConfigError::Empty));
        assert_eq!(
            LanguageDetector::new(&["xx".to_owned()]).err(),
            Some(LanguageConfigError::Unsupported("xx".into()))
        );
    }
}

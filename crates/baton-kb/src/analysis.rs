//! Text analysis shared by indexing and querying, and passage extraction.
//!
//! Owns the per-language analyzer (tokenize, lower-case, fold accents, drop stop words, stem),
//! the stop-word lists, the markdown-to-plain-text stripping and the cutting of passages. It
//! must use the same analyzer for articles and questions, so that a question's stems can be
//! compared with an article's. It knows nothing of the index or of who asks.

use std::collections::HashSet;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, PreTokenizedString, RemoveLongFilter, SimpleTokenizer, Stemmer,
    TextAnalyzer, Token, TokenStream,
};

/// The longest passage returned, in characters (an ellipsis may follow).
pub const MAX_PASSAGE_CHARS: usize = 400;

/// One content word of a text: its stems, one or two (see [`Analyzer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// Byte range of the word in the text.
    pub offsets: (usize, usize),
    /// Position of the word among all words, stop words included.
    pub position: usize,
    /// The stem, then the other stem when the two ways of stemming disagree.
    pub variants: Vec<String>,
}

/// The analyzer of one language, the same for articles and questions.
///
/// Words are lower-cased and stop words dropped (compared without accents). Each word is then
/// stemmed twice: stemmed first and folded to ASCII after (right for correctly accented words:
/// the Spanish stemmer needs the accent of `aceptáis` to see the verb ending), and folded first
/// and stemmed after (so `devolucion` typed without its accent still meets `devolución`). Both
/// variants are indexed; a question word matches an article when any variant does.
#[derive(Clone)]
pub struct Analyzer {
    folded: TextAnalyzer,
    stem_then_fold: TextAnalyzer,
    fold_then_stem: TextAnalyzer,
    stop_words: &'static [&'static str],
}

impl Analyzer {
    /// Stemming for the languages tantivy has a stemmer for, stop words for English and
    /// Spanish; any other code gets lower-cased, accent-folded words.
    pub fn new(language: &str) -> Analyzer {
        let base = || {
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
        };
        let folded = base().filter(AsciiFoldingFilter).build();
        let (stem_then_fold, fold_then_stem) = match stemmer_language(language) {
            Some(stemmer) => (
                base().filter(Stemmer::new(stemmer)).filter(AsciiFoldingFilter).build(),
                base().filter(AsciiFoldingFilter).filter(Stemmer::new(stemmer)).build(),
            ),
            None => (folded.clone(), folded.clone()),
        };
        Analyzer {
            folded,
            stem_then_fold,
            fold_then_stem,
            stop_words: stop_words(language),
        }
    }

    /// Every content word of `text`, in order.
    pub fn words(&mut self, text: &str) -> Vec<Word> {
        let folded = run(&mut self.folded, text);
        let first = run(&mut self.stem_then_fold, text);
        let second = run(&mut self.fold_then_stem, text);
        // The three pipelines share their tokenizer and only rewrite tokens, one for one.
        folded
            .into_iter()
            .zip(first.into_iter().zip(second))
            .filter(|(word, _)| !self.stop_words.contains(&word.text.as_str()))
            .map(|(word, (a, b))| {
                let mut variants = vec![a.text];
                if b.text != variants[0] {
                    variants.push(b.text);
                }
                Word {
                    offsets: (word.offset_from, word.offset_to),
                    position: word.position,
                    variants,
                }
            })
            .collect()
    }

    /// The distinct content words of `text` (by their variants), in order of first appearance.
    pub fn distinct_words(&mut self, text: &str) -> Vec<Vec<String>> {
        let mut seen = HashSet::new();
        self.words(text)
            .into_iter()
            .map(|w| w.variants)
            .filter(|v| seen.insert(v.clone()))
            .collect()
    }

    /// Every stem variant of every content word of `text`.
    pub fn stem_set(&mut self, text: &str) -> HashSet<String> {
        self.words(text).into_iter().flat_map(|w| w.variants).collect()
    }

    /// `text` as tantivy tokens: one per stem variant, variants sharing their word's position.
    pub fn pre_tokenized(&mut self, text: &str) -> PreTokenizedString {
        let tokens = self
            .words(text)
            .into_iter()
            .flat_map(|word| {
                word.variants.into_iter().map(move |variant| Token {
                    offset_from: word.offsets.0,
                    offset_to: word.offsets.1,
                    position: word.position,
                    text: variant,
                    position_length: 1,
                })
            })
            .collect();
        PreTokenizedString {
            text: text.to_string(),
            tokens,
        }
    }
}

fn run(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Token> {
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while let Some(token) = stream.next() {
        tokens.push(token.clone());
    }
    tokens
}

fn stemmer_language(code: &str) -> Option<Language> {
    Some(match code {
        "ar" => Language::Arabic,
        "da" => Language::Danish,
        "nl" => Language::Dutch,
        "en" => Language::English,
        "fi" => Language::Finnish,
        "fr" => Language::French,
        "de" => Language::German,
        "el" => Language::Greek,
        "hu" => Language::Hungarian,
        "it" => Language::Italian,
        "no" | "nb" | "nn" => Language::Norwegian,
        "pt" => Language::Portuguese,
        "ro" => Language::Romanian,
        "ru" => Language::Russian,
        "es" => Language::Spanish,
        "sv" => Language::Swedish,
        "ta" => Language::Tamil,
        "tr" => Language::Turkish,
        _ => return None,
    })
}

/// Stop words, already lower-case and accent-free (they are removed after folding): function
/// words plus the fillers of chat questions ("hi", "please", "I want to know").
fn stop_words(language: &str) -> &'static [&'static str] {
    match language {
        "en" => EN_STOP_WORDS,
        "es" => ES_STOP_WORDS,
        _ => &[],
    }
}

#[rustfmt::skip]
const EN_STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "ago", "all", "also", "am", "an", "and",
    "any", "anyone", "anything", "are", "aren", "as", "at", "be", "because", "been", "before",
    "being", "below", "between", "both", "but", "by", "can", "cannot", "could", "couldn", "d",
    "did", "didn", "do", "does", "doesn", "doing", "don", "done", "during", "each", "either",
    "else", "ever", "few", "for", "from", "further", "get", "gets", "getting", "got", "had", "hadn",
    "has", "hasn", "have", "haven", "having", "he", "hello", "help", "her", "here", "hers",
    "herself", "hey", "hi", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "isn",
    "it", "its", "itself", "just", "know", "let", "like", "ll", "long", "m", "may", "me", "might",
    "more", "most", "much", "must", "my", "myself", "need", "no", "nor", "not", "now", "of", "off",
    "ok", "okay", "on", "once", "one", "only", "or", "other", "our", "ours", "ourselves", "out",
    "over", "own", "please", "re", "really", "s", "same", "shall", "she", "should", "shouldn", "so",
    "some", "someone", "something", "such", "t", "take", "takes", "taking", "tell", "than", "thank",
    "thanks", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these",
    "they", "this", "those", "through", "to", "too", "took", "under", "until", "up", "us", "ve",
    "very", "want", "wanted", "was", "wasn", "we", "were", "weren", "what", "when", "where",
    "which", "while", "who", "whom", "why", "will", "with", "won", "would", "wouldn", "yes", "you",
    "your", "yours", "yourself", "yourselves",
];

#[rustfmt::skip]
const ES_STOP_WORDS: &[&str] = &[
    "a", "al", "algo", "alguien", "alguna", "algunas", "alguno", "algunos", "ante", "antes", "aqui",
    "asi", "aun", "bien", "buenas", "bueno", "como", "con", "cual", "cuales", "cuando", "cuanta",
    "cuantas", "cuanto", "cuantos", "de", "debe", "deberia", "debo", "del", "desde", "dime",
    "donde", "durante", "e", "el", "ella", "ellas", "ellos", "en", "entonces", "entre", "era",
    "eramos", "eran", "eras", "es", "esa", "esas", "ese", "eso", "esos", "esta", "estaba", "estado",
    "estais", "estamos", "estan", "estar", "estas", "este", "esto", "estos", "estoy", "fue",
    "fueron", "fui", "gracias", "ha", "haber", "habia", "hace", "hacen", "hacer", "haces", "hago",
    "han", "has", "hay", "he", "hemos", "hola", "hoy", "la", "las", "le", "les", "lo", "los", "mas",
    "me", "mi", "mia", "mias", "mio", "mios", "mis", "mucho", "muchos", "muy", "nada", "necesita",
    "necesitas", "necesito", "ni", "no", "nos", "nosotras", "nosotros", "nuestra", "nuestras",
    "nuestro", "nuestros", "o", "os", "otra", "otras", "otro", "otros", "oye", "para", "pero",
    "poco", "podeis", "podemos", "poder", "podria", "podriais", "podrian", "podrias", "por",
    "porque", "pregunta", "puede", "pueden", "puedes", "puedo", "que", "querer", "queria", "quien",
    "quienes", "quiere", "quieres", "quiero", "quisiera", "sabe", "saben", "saber", "sabes", "se",
    "sea", "ser", "si", "sido", "sin", "sobre", "sois", "somos", "son", "soy", "su", "sus", "suya",
    "suyas", "suyo", "suyos", "tambien", "tanto", "te", "tendria", "tener", "tengo", "ti", "tiene",
    "tienen", "tienes", "todo", "todos", "tu", "tus", "tuya", "tuyas", "tuyo", "tuyos", "un", "una",
    "uno", "unos", "usted", "ustedes", "vale", "vosotras", "vosotros", "vuestra", "vuestras",
    "vuestro", "vuestros", "y", "ya", "yo",
];

/// A blank-line separated block of an article body, as plain text.
#[derive(Debug, Clone)]
pub struct Paragraph {
    pub text: String,
    /// A block made only of `#` headings: never returned as a passage on its own.
    pub heading: bool,
}

/// Splits a markdown body into plain-text paragraphs. Headings become their own paragraph;
/// lines of one block are joined with a space.
pub fn paragraphs(body: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let flush = |current: &mut Vec<String>, out: &mut Vec<Paragraph>| {
        if !current.is_empty() {
            out.push(Paragraph {
                text: current.join(" "),
                heading: false,
            });
            current.clear();
        }
    };
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut current, &mut out);
        } else if trimmed.starts_with('#') {
            flush(&mut current, &mut out);
            let text = strip_markdown(trimmed.trim_start_matches('#'));
            if !text.is_empty() {
                out.push(Paragraph { text, heading: true });
            }
        } else {
            let text = strip_markdown(trimmed);
            if !text.is_empty() {
                current.push(text);
            }
        }
    }
    flush(&mut current, &mut out);
    out
}

/// Plain text of one markdown line: drops emphasis (`*`, `_` pairs are left alone), inline
/// code backticks and list bullets; `[text](url)` becomes `text (url)` and `![alt](src)`
/// becomes `alt`.
pub fn strip_markdown(line: &str) -> String {
    let line = line.trim();
    let line = ["- ", "* ", "+ "]
        .iter()
        .find_map(|bullet| line.strip_prefix(bullet))
        .unwrap_or(line);
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let (before, after_open) = rest.split_at(open);
        let image = before.ends_with('!');
        out.push_str(if image { &before[..before.len() - 1] } else { before });
        let link = after_open[1..].split_once("](").and_then(|(text, tail)| {
            let (url, tail) = tail.split_once(')')?;
            (!text.contains('[')).then_some((text, url, tail))
        });
        match link {
            Some((text, url, tail)) => {
                out.push_str(text);
                if !image && !url.is_empty() && url != text {
                    out.push_str(" (");
                    out.push_str(url);
                    out.push(')');
                }
                rest = tail;
            }
            None => {
                if image {
                    out.push('!');
                }
                out.push('[');
                rest = &after_open[1..];
            }
        }
    }
    out.push_str(rest);
    out.retain(|c| c != '*' && c != '`');
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most [`MAX_PASSAGE_CHARS`] characters at a word boundary, with an
/// ellipsis when something was cut.
pub fn cut_passage(text: &str) -> String {
    if text.chars().count() <= MAX_PASSAGE_CHARS {
        return text.to_string();
    }
    let limit = text
        .char_indices()
        .nth(MAX_PASSAGE_CHARS)
        .map_or(text.len(), |(i, _)| i);
    let head = &text[..limit];
    let cut = head.rfind(char::is_whitespace).unwrap_or(limit);
    let head = head[..cut].trim_end_matches(|c: char| c.is_whitespace() || ",;:-(".contains(c));
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_stems_per_language() {
        let mut es = Analyzer::new("es");
        let shares = |a: &mut Analyzer, x: &str, y: &str| {
            let (x, y) = (a.stem_set(x), a.stem_set(y));
            !x.is_disjoint(&y)
        };
        assert!(shares(&mut es, "¿Cómo hago una devolución?", "devolucion"));
        assert!(shares(&mut es, "devoluciones", "devolución"));
        assert!(shares(&mut es, "¿aceptáis tarjetas?", "aceptamos"));
        assert_eq!(es.distinct_words("¿Qué es eso?"), Vec::<Vec<String>>::new());
        let mut en = Analyzer::new("en");
        assert_eq!(en.distinct_words("Refunds refund"), vec![vec!["refund"]]);
        assert_eq!(en.distinct_words("what's the weather?"), vec![vec!["weather"]]);
        assert!(en.words("hi, can you help me please?").is_empty());
        let mut other = Analyzer::new("xx");
        assert_eq!(other.distinct_words("Ça Va"), vec![vec!["ca"], vec!["va"]]);
        // "aceptáis" stems to "acept" with its accent, to "aceptais" without.
        let tokens = es.pre_tokenized("¿y aceptáis?").tokens;
        let texts: Vec<_> = tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["acept", "aceptais"]);
        assert!(tokens.iter().all(|t| t.position == 1 && t.offset_from == 4));
    }

    #[test]
    fn strips_markdown() {
        assert_eq!(
            strip_markdown("- Use the **[returns form](https://x.example/r)** `now`"),
            "Use the returns form (https://x.example/r) now"
        );
        assert_eq!(strip_markdown("![logo](a.png) [a] b [c](c)"), "logo [a] b c");
        let paras = paragraphs("# Title\nLine one\nline *two*\n\n\nSecond");
        let texts: Vec<_> = paras.iter().map(|p| (p.text.as_str(), p.heading)).collect();
        assert_eq!(
            texts,
            vec![("Title", true), ("Line one line two", false), ("Second", false)]
        );
    }

    #[test]
    fn cuts_long_passages_at_a_word_boundary() {
        let text = "word ".repeat(200);
        let cut = cut_passage(text.trim());
        assert!(cut.ends_with("word…"), "{cut}");
        assert!(cut.chars().count() <= MAX_PASSAGE_CHARS + 1);
        assert_eq!(cut_passage("short one"), "short one");
    }
}

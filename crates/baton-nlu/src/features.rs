//! Text features: TF-IDF over word unigrams and bigrams, and over character n-grams (2 to 5)
//! taken inside word boundaries, each block L2-normalized, as scikit-learn's
//! `TfidfVectorizer(analyzer="word", ngram_range=(1, 2))` and `(analyzer="char_wb",
//! ngram_range=(2, 5))` with `sublinear_tf=True` joined by a `FeatureUnion`.
//!
//! N-grams are identified by a 64-bit hash of their text (no string is allocated per n-gram);
//! the vocabulary maps hashes seen in training to dense feature indices, and n-grams never seen
//! in training are ignored.

use std::collections::HashMap;
use std::hash::Hasher;

/// A sparse feature vector: (feature index, value), sorted by index, no repeats.
pub type SparseVector = Vec<(u32, f32)>;

/// Which block an n-gram belongs to (word n-grams and char n-grams never share a feature).
const WORD: u8 = 1;
const CHAR: u8 = 2;
const CHAR_MIN: usize = 2;
const CHAR_MAX: usize = 5;

/// A deterministic 64-bit hash (FNV-1a); the same text gives the same feature everywhere.
struct Fnv(u64);

impl Fnv {
    fn new(kind: u8) -> Self {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(&[kind]);
        h
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The hashed n-grams of one text, each block separately, with repeats (term counts).
#[derive(Debug, Default)]
pub struct Grams {
    pub words: Vec<u64>,
    pub chars: Vec<u64>,
}

/// Word tokens as scikit-learn's default `token_pattern` `(?u)\b\w\w+\b` finds them, lowercased.
fn tokens(lower: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in lower.char_indices() {
        let word_char = c.is_alphanumeric() || c == '_';
        match (word_char, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                push_token(&mut out, &lower[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        push_token(&mut out, &lower[s..]);
    }
    out
}

fn push_token<'a>(out: &mut Vec<&'a str>, token: &'a str) {
    if token.chars().nth(1).is_some() {
        out.push(token);
    }
}

/// Extracts the hashed n-grams of `text`.
pub fn grams(text: &str) -> Grams {
    let lower = text.to_lowercase();
    let mut grams = Grams::default();
    let words = tokens(&lower);
    for (i, word) in words.iter().enumerate() {
        let mut h = Fnv::new(WORD);
        h.write(word.as_bytes());
        grams.words.push(h.finish());
        if let Some(next) = words.get(i + 1) {
            let mut h = Fnv::new(WORD);
            h.write(word.as_bytes());
            h.write(b" ");
            h.write(next.as_bytes());
            grams.words.push(h.finish());
        }
    }
    // char_wb: each whitespace-separated word padded with one space on each side.
    let mut padded = String::new();
    let mut bounds: Vec<usize> = Vec::new();
    for word in lower.split_whitespace() {
        padded.clear();
        padded.push(' ');
        padded.push_str(word);
        padded.push(' ');
        bounds.clear();
        bounds.extend(padded.char_indices().map(|(i, _)| i));
        bounds.push(padded.len());
        let len = bounds.len() - 1;
        for n in CHAR_MIN..=CHAR_MAX {
            // As scikit-learn does: a word shorter than n counts once, whole.
            let mut offset = 0;
            loop {
                let end = (offset + n).min(len);
                let mut h = Fnv::new(CHAR);
                h.write(&padded.as_bytes()[bounds[offset]..bounds[end]]);
                grams.chars.push(h.finish());
                if offset + n >= len {
                    break;
                }
                offset += 1;
            }
            if offset == 0 {
                break;
            }
        }
    }
    grams
}

/// A fitted TF-IDF vectorizer: vocabulary and inverse document frequencies.
#[derive(Debug, Clone)]
pub struct Vectorizer {
    index: HashMap<u64, u32>,
    idf: Vec<f32>,
    /// Where char features start: indices below are word features.
    char_offset: u32,
}

impl Vectorizer {
    /// Learns the vocabulary and idf weights from training texts (already turned into grams).
    pub fn fit(docs: &[Grams]) -> Self {
        let mut word_df: HashMap<u64, u32> = HashMap::new();
        let mut char_df: HashMap<u64, u32> = HashMap::new();
        for doc in docs {
            let mut seen: Vec<u64> = doc.words.clone();
            seen.sort_unstable();
            seen.dedup();
            for g in seen {
                *word_df.entry(g).or_default() += 1;
            }
            let mut seen: Vec<u64> = doc.chars.clone();
            seen.sort_unstable();
            seen.dedup();
            for g in seen {
                *char_df.entry(g).or_default() += 1;
            }
        }
        // Stable feature order: sort by hash, words first.
        let mut words: Vec<(u64, u32)> = word_df.into_iter().collect();
        words.sort_unstable();
        let mut chars: Vec<(u64, u32)> = char_df.into_iter().collect();
        chars.sort_unstable();
        let n = docs.len() as f32;
        let mut index = HashMap::with_capacity(words.len() + chars.len());
        let mut idf = Vec::with_capacity(words.len() + chars.len());
        // Hashes of the two blocks cannot collide in meaning: the block tag is hashed in.
        for (hash, df) in words.iter().chain(chars.iter()) {
            index.insert(*hash, idf.len() as u32);
            idf.push(((1.0 + n) / (1.0 + *df as f32)).ln() + 1.0);
        }
        Self {
            index,
            idf,
            char_offset: words.len() as u32,
        }
    }

    pub fn len(&self) -> usize {
        self.idf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// The TF-IDF vector of a text's grams: sublinear tf, each block L2-normalized.
    pub fn transform(&self, grams: &Grams) -> SparseVector {
        let mut out = self.block(&grams.words);
        out.extend(self.block(&grams.chars));
        out
    }

    fn block(&self, hashes: &[u64]) -> SparseVector {
        let mut ids: Vec<u32> = hashes.iter().filter_map(|h| self.index.get(h).copied()).collect();
        ids.sort_unstable();
        let mut out: SparseVector = Vec::with_capacity(ids.len());
        for id in ids {
            match out.last_mut() {
                Some((last, count)) if *last == id => *count += 1.0,
                _ => out.push((id, 1.0)),
            }
        }
        let mut norm = 0.0f32;
        for (id, value) in out.iter_mut() {
            *value = (1.0 + value.ln()) * self.idf[*id as usize];
            norm += *value * *value;
        }
        if norm > 0.0 {
            let inv = 1.0 / norm.sqrt();
            out.iter_mut().for_each(|(_, v)| *v *= inv);
        }
        out
    }

    /// Whether a feature index is a word (not a char) feature.
    pub fn is_word_feature(&self, id: u32) -> bool {
        id < self.char_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_default_token_pattern() {
        assert_eq!(
            tokens("i can't find my card!! 2 cards_x"),
            vec!["can", "find", "my", "card", "cards_x"]
        );
        assert_eq!(tokens("¿dónde está mi pedido?"), vec!["dónde", "está", "mi", "pedido"]);
    }

    #[test]
    fn char_grams_stay_inside_padded_words() {
        // " ab " gives 2-grams " a", "ab", "b ", 3-grams " ab", "ab " and the 4-gram " ab ";
        // the padded word is used up at n = 4, so longer n-grams add nothing.
        let g = grams("ab");
        assert_eq!(g.chars.len(), 3 + 2 + 1);
        // A word shorter than n counts once, whole: " a " has " a", "a " and then " a " once.
        assert_eq!(grams("a").chars.len(), 2 + 1);
        assert_eq!(g.words.len(), 1);
    }

    #[test]
    fn vectors_are_normalized_per_block_and_ignore_unknown_grams() {
        let docs: Vec<Grams> = ["where is my card", "card not arrived", "hello there"]
            .iter()
            .map(|t| grams(t))
            .collect();
        let v = Vectorizer::fit(&docs);
        let x = v.transform(&grams("where is my card"));
        let (words, chars): (Vec<_>, Vec<_>) = x.iter().partition(|(id, _)| v.is_word_feature(*id));
        let norm = |b: &[&(u32, f32)]| b.iter().map(|(_, x)| x * x).sum::<f32>();
        assert!((norm(&words) - 1.0).abs() < 1e-5);
        assert!((norm(&chars) - 1.0).abs() < 1e-5);
        assert!(v.transform(&grams("zzzz qqqq")).is_empty());
        assert!(x.windows(2).all(|w| w[0].0 < w[1].0), "sorted, no repeats");
    }
}

//! The knowledge base: articles indexed in RAM and searched per language.
//!
//! Owns [`KnowledgeBase`] (loading from the bundled demo set or a folder, indexing, search),
//! [`Hit`] and [`MatchPolicy`]. It reads article files and indexes them; it knows nothing of
//! HTTP, conversations or the bot, and never writes to disk.
//!
//! There is one tantivy index per language, each with its own analyzer, so a question can only
//! ever reach articles of its language. `score` is tantivy's BM25 over title (boosted), tags and
//! body; `coverage` is the share of the question's stems found in the article, which, unlike
//! BM25, is comparable between questions and so decides whether a hit is good enough.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, DisjunctionMaxQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED};
use tantivy::{DocAddress, Index, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::analysis::{self, Analyzer, Paragraph};
use crate::{Article, KbError};

/// How much a query word in the title counts, relative to the body.
const TITLE_BOOST: f32 = 2.5;
/// How much a query word in the tags counts, relative to the body.
const TAGS_BOOST: f32 = 1.5;
/// tantivy's minimum indexing memory per thread is 15 MB; the arena is freed after indexing.
const WRITER_MEMORY: usize = 16_000_000;
/// How many BM25 candidates, at least, are re-ranked with coverage.
const MIN_CANDIDATES: usize = 32;

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub article_id: String,
    pub title: String,
    pub language: String,
    pub url: Option<String>,
    /// BM25 relevance; only comparable between hits of the same query. Hits are ranked by
    /// `score * coverage`.
    pub score: f32,
    /// Share (0 to 1) of the question's content words (stems, without stop words) that occur in
    /// the article's title, tags or body.
    pub coverage: f32,
    /// The body paragraph that shares most words with the question, as plain text of at most
    /// about 400 characters.
    pub passage: String,
}

/// When a hit is good enough to be offered as the answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatchPolicy {
    /// The least BM25 score.
    pub min_score: f32,
    /// The least share of the question's content words found in the article.
    pub min_coverage: f32,
}

impl Default for MatchPolicy {
    /// Chosen on the demo set's tests (every on-topic question in English and Spanish passes, no
    /// off-topic one does), not per question:
    ///
    /// - `min_coverage` 0.55: more than half of the question's content words must occur in the
    ///   article (1 of 1, 2 of 2 or 3, 3 of 5...). Off-topic chat often shares one word of two.
    /// - `min_score` 3.5: a question that matches a single word must find it in the title or
    ///   tags, or several times in the body; one passing mention in a body scores about 2 to 3.
    ///
    /// BM25 grows slowly with the number of articles: a much larger set may want a higher
    /// `min_score`.
    fn default() -> Self {
        MatchPolicy {
            min_score: 3.5,
            min_coverage: 0.55,
        }
    }
}

impl MatchPolicy {
    pub fn is_good(&self, hit: &Hit) -> bool {
        hit.score >= self.min_score && hit.coverage >= self.min_coverage
    }
}

/// The articles, indexed in RAM. Immutable once built; share it behind an `Arc`.
pub struct KnowledgeBase {
    articles: Vec<Article>,
    by_key: HashMap<(String, String), usize>,
    /// Per article: every stem of its title, tags and body.
    stems: Vec<HashSet<String>>,
    /// Per article: its body's paragraphs, with their stems.
    paragraphs: Vec<Vec<(Paragraph, HashSet<String>)>>,
    indexes: BTreeMap<String, LanguageIndex>,
}

struct LanguageIndex {
    searcher: Searcher,
    analyzer: Analyzer,
    /// The articles of this language, as indexes into `KnowledgeBase::articles`.
    ordinals: Vec<usize>,
    title: Field,
    tags: Field,
    body: Field,
    /// Each document's article, by segment and document id: read once when the index is
    /// built, so a search never opens the document store.
    doc_ordinals: Vec<Vec<usize>>,
}

impl fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("articles", &self.articles.len())
            .field("languages", &self.indexes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KnowledgeBase {
    /// Indexes `articles`. Each (id, language) pair must be unique. Language codes are
    /// lower-cased.
    pub fn new(mut articles: Vec<Article>) -> Result<Self, KbError> {
        for article in &mut articles {
            article.language.make_ascii_lowercase();
        }
        let mut by_key = HashMap::new();
        for (ordinal, article) in articles.iter().enumerate() {
            let key = (article.id.clone(), article.language.clone());
            if by_key.insert(key, ordinal).is_some() {
                return Err(KbError::DuplicateArticle {
                    id: article.id.clone(),
                    language: article.language.clone(),
                });
            }
        }

        let mut by_language: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (ordinal, article) in articles.iter().enumerate() {
            by_language.entry(article.language.as_str()).or_default().push(ordinal);
        }

        let mut stems = vec![HashSet::new(); articles.len()];
        let mut paragraphs = vec![Vec::new(); articles.len()];
        let mut indexes = BTreeMap::new();
        for (language, ordinals) in by_language {
            let mut analyzer = Analyzer::new(language);
            for &ordinal in &ordinals {
                let article = &articles[ordinal];
                let all = format!("{}\n{}\n{}", article.title, article.tags.join("\n"), article.body);
                stems[ordinal] = analyzer.stem_set(&all);
                paragraphs[ordinal] = analysis::paragraphs(&article.body)
                    .into_iter()
                    .map(|p| {
                        let stems = analyzer.stem_set(&p.text);
                        (p, stems)
                    })
                    .collect();
            }
            let index = LanguageIndex::build(analyzer, &articles, &ordinals).map_err(|e| KbError::Index {
                language: language.to_string(),
                message: e.to_string(),
            })?;
            indexes.insert(language.to_string(), index);
        }

        Ok(KnowledgeBase {
            articles,
            by_key,
            stems,
            paragraphs,
            indexes,
        })
    }

    /// The demo articles bundled in the binary (Demo Outfitters, in English and Spanish).
    pub fn demo() -> Result<Self, KbError> {
        let articles = crate::demo::DEMO_FILES
            .iter()
            .map(|(name, text)| Article::parse(name, text))
            .collect::<Result<Vec<_>, _>>()?;
        KnowledgeBase::new(articles)
    }

    /// Every `*.md` file directly inside `dir` (sub-folders are not read), in file-name order.
    pub fn from_dir(dir: &Path) -> Result<Self, KbError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KbError::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("md")) && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(KbError::EmptyDir {
                path: dir.to_path_buf(),
            });
        }
        files.sort();

        let mut articles = Vec::with_capacity(files.len());
        let mut seen: HashMap<(String, String), String> = HashMap::new();
        for path in &files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(io(path))?;
            let article = Article::parse(&name, &text)?;
            let key = (article.id.clone(), article.language.clone());
            if let Some(first) = seen.insert(key, name.clone()) {
                return Err(KbError::DuplicateArticleFile {
                    id: article.id,
                    language: article.language,
                    first,
                    second: name,
                });
            }
            articles.push(article);
        }
        KnowledgeBase::new(articles)
    }

    /// All articles, in the order they were given (file-name order for [`Self::from_dir`]).
    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    pub fn article(&self, id: &str, language: &str) -> Option<&Article> {
        self.by_key
            .get(&(id.to_string(), language.to_ascii_lowercase()))
            .map(|&i| &self.articles[i])
    }

    /// The languages that have at least one article, sorted.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.indexes.keys().map(String::as_str)
    }

    /// The best `limit` articles in `language` for `query`, best first. Empty when the language
    /// has no article or the query has no content word (only stop words, punctuation...).
    ///
    /// Candidates come from BM25; they are ranked by BM25 times coverage (the "coordination
    /// factor" of classic Lucene), so an article that matches one rare word of a long question
    /// does not beat one that matches most of it.
    pub fn search(&self, query: &str, language: &str, limit: usize) -> Vec<Hit> {
        let Some(index) = self.indexes.get(&language.to_ascii_lowercase()) else {
            return Vec::new();
        };
        if limit == 0 {
            return Vec::new();
        }
        let words = index.analyzer.clone().distinct_words(query);
        if words.is_empty() {
            return Vec::new();
        }

        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for variants in &words {
            for (field, boost) in [(index.title, TITLE_BOOST), (index.tags, TAGS_BOOST), (index.body, 1.0)] {
                let mut terms: Vec<Box<dyn Query>> = variants
                    .iter()
                    .map(|variant| -> Box<dyn Query> {
                        Box::new(TermQuery::new(
                            Term::from_field_text(field, variant),
                            IndexRecordOption::WithFreqs,
                        ))
                    })
                    .collect();
                // A word counts once, whichever of its stems matched.
                let word: Box<dyn Query> = match terms.len() {
                    1 => terms.remove(0),
                    _ => Box::new(DisjunctionMaxQuery::new(terms)),
                };
                clauses.push((Occur::Should, Box::new(BoostQuery::new(word, boost))));
            }
        }
        let tantivy_query = BooleanQuery::new(clauses);
        // Never ask tantivy for more documents than exist: it sizes its buffer on the limit.
        let candidates = limit.max(MIN_CANDIDATES).min(index.ordinals.len());
        let candidates = TopDocs::with_limit(candidates).order_by_score();
        // The index lives in RAM and was fully built by `new`: a failure here would be a bug in
        // tantivy, and "no answer" is the safe reply to it.
        let Ok(top) = index.searcher.search(&tantivy_query, &candidates) else {
            return Vec::new();
        };

        // Rarer words weigh more when two paragraphs share as many words with the question.
        let articles = index.ordinals.len() as f32;
        let weights: Vec<f32> = words
            .iter()
            .map(|variants| {
                let containing = index
                    .ordinals
                    .iter()
                    .filter(|&&o| variants.iter().any(|v| self.stems[o].contains(v)))
                    .count() as f32;
                (1.0 + articles / (1.0 + containing)).ln()
            })
            .collect();

        // Ranked on what is cheap (score and coverage); the passage is chosen for the hits kept.
        let mut ranked: Vec<(usize, f32, f32)> = top
            .into_iter()
            .filter_map(|(score, address)| {
                let ordinal = *index
                    .doc_ordinals
                    .get(address.segment_ord as usize)?
                    .get(address.doc_id as usize)?;
                Some((ordinal, score, self.coverage(ordinal, &words, &weights)))
            })
            .collect();
        ranked.sort_by(|(_, a_score, a_coverage), (_, b_score, b_coverage)| {
            (b_score * b_coverage)
                .total_cmp(&(a_score * a_coverage))
                .then_with(|| b_score.total_cmp(a_score))
        });
        ranked.truncate(limit);
        ranked
            .into_iter()
            .map(|(ordinal, score, coverage)| self.hit(ordinal, score, coverage, &words, &weights))
            .collect()
    }

    /// The best article for `query` if `policy` calls it good.
    pub fn best_match(&self, query: &str, language: &str, policy: &MatchPolicy) -> Option<Hit> {
        self.search(query, language, 1)
            .into_iter()
            .next()
            .filter(|hit| policy.is_good(hit))
    }

    /// Share of the question's words (any of their variants) found in the article.
    fn coverage(&self, ordinal: usize, words: &[Vec<String>], weights: &[f32]) -> f32 {
        words_found(words, weights, &self.stems[ordinal]).0 as f32 / words.len() as f32
    }

    fn hit(&self, ordinal: usize, score: f32, coverage: f32, words: &[Vec<String>], weights: &[f32]) -> Hit {
        let article = &self.articles[ordinal];
        let found_in = |stems: &HashSet<String>| words_found(words, weights, stems);

        // Most distinct question words wins, then the rarer words; then the earlier paragraph.
        let mut best: Option<((usize, f32), &Paragraph)> = None;
        for (paragraph, stems) in &self.paragraphs[ordinal] {
            if paragraph.heading {
                continue;
            }
            let (shared, weight) = found_in(stems);
            let better =
                best.is_none_or(|((most, most_weight), _)| shared > most || (shared == most && weight > most_weight));
            if better {
                best = Some(((shared, weight), paragraph));
            }
        }
        let passage = best.map(|(_, p)| analysis::cut_passage(&p.text)).unwrap_or_default();

        Hit {
            article_id: article.id.clone(),
            title: article.title.clone(),
            language: article.language.clone(),
            url: article.url.clone(),
            score,
            coverage,
            passage,
        }
    }
}

/// How many of the question's words (by any of their variants) occur in `stems`, and their
/// summed weight.
fn words_found(words: &[Vec<String>], weights: &[f32], stems: &HashSet<String>) -> (usize, f32) {
    words
        .iter()
        .zip(weights)
        .filter(|(variants, _)| variants.iter().any(|v| stems.contains(v)))
        .fold((0, 0.0), |(n, w), (_, weight)| (n + 1, w + weight))
}

impl LanguageIndex {
    fn build(mut analyzer: Analyzer, articles: &[Article], ordinals: &[usize]) -> tantivy::Result<Self> {
        // Text arrives pre-tokenized by `analyzer`: the field's own tokenizer is never used.
        let text = TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_index_option(IndexRecordOption::WithFreqs));
        let mut schema = Schema::builder();
        let title = schema.add_text_field("title", text.clone());
        let tags = schema.add_text_field("tags", text.clone());
        let body = schema.add_text_field("body", text);
        let ordinal = schema.add_u64_field("ordinal", STORED);
        let index = Index::create_in_ram(schema.build());

        let mut writer: IndexWriter = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        for &i in ordinals {
            let article = &articles[i];
            let mut doc = TantivyDocument::new();
            doc.add_pre_tokenized_text(title, analyzer.pre_tokenized(&article.title));
            for tag in &article.tags {
                doc.add_pre_tokenized_text(tags, analyzer.pre_tokenized(tag));
            }
            doc.add_pre_tokenized_text(body, analyzer.pre_tokenized(&article.body));
            doc.add_u64(ordinal, i as u64);
            writer.add_document(doc)?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;

        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let searcher = reader.searcher();
        let mut doc_ordinals = Vec::with_capacity(searcher.segment_readers().len());
        for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
            let mut ordinals = Vec::with_capacity(segment.max_doc() as usize);
            for doc_id in 0..segment.max_doc() {
                let doc: TantivyDocument = searcher.doc(DocAddress::new(segment_ord as u32, doc_id))?;
                let stored = doc.get_first(ordinal).and_then(|v| v.as_u64());
                let stored = stored.and_then(|o| usize::try_from(o).ok()).ok_or_else(|| {
                    tantivy::TantivyError::InternalError(format!("document {doc_id} has no article ordinal"))
                })?;
                ordinals.push(stored);
            }
            doc_ordinals.push(ordinals);
        }
        Ok(LanguageIndex {
            searcher,
            analyzer,
            ordinals: ordinals.to_vec(),
            title,
            tags,
            body,
            doc_ordinals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, language: &str, title: &str, body: &str) -> Article {
        Article {
            id: id.into(),
            title: title.into(),
            language: language.into(),
            tags: vec![],
            url: None,
            body: body.into(),
        }
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<KnowledgeBase>();
    }

    #[test]
    fn duplicate_id_and_language_is_an_error_naming_it() {
        let err = KnowledgeBase::new(vec![
            article("a", "en", "A", "Alpha."),
            article("a", "es", "A", "Alfa."),
            article("a", "en", "A again", "Alpha again."),
        ])
        .expect_err("duplicate");
        let message = err.to_string();
        assert!(message.contains("`a`") && message.contains("`en`"), "{message}");
    }

    #[test]
    fn searches_only_the_given_language_and_other_codes_work() {
        let kb = KnowledgeBase::new(vec![
            article("a", "en", "Refunds", "Your refund arrives in 5 days."),
            article("a", "es", "Reembolsos", "Tu refund llega en 5 días."),
            article("b", "FR", "Remboursements", "Votre remboursement arrive."),
        ])
        .expect("builds");
        let en = kb.search("refund", "en", 5);
        assert_eq!(en.len(), 1);
        assert_eq!(en[0].language, "en");
        assert_eq!(kb.search("refund", "ES", 5)[0].language, "es");
        assert_eq!(kb.search("remboursement", "fr", 5)[0].article_id, "b");
        assert!(kb.search("refund", "de", 5).is_empty());
        assert!(kb.search("refund", "en", 0).is_empty());
        assert_eq!(kb.search("refund", "en", usize::MAX).len(), 1);
        assert!(kb.search("the and of?", "en", 5).is_empty());
        assert_eq!(kb.languages().collect::<Vec<_>>(), ["en", "es", "fr"]);
        assert!(kb.article("a", "es").is_some() && kb.article("b", "en").is_none());
    }

    #[test]
    fn coverage_is_the_share_of_query_stems_in_the_article() {
        let kb =
            KnowledgeBase::new(vec![article("a", "en", "Refunds", "Your refund arrives in 5 days.")]).expect("builds");
        let hits = kb.search("when does my refund arrive in Paris", "en", 1);
        // Content stems: refund, arriv, pari → 2 of 3.
        assert!((hits[0].coverage - 2.0 / 3.0).abs() < 1e-6, "{hits:?}");
    }
}

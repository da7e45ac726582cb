//! The knowledge base's error type.
//!
//! Owns [`KbError`]: every variant names the file (or the article id and language) and what is
//! wrong with it, so a support team can fix its articles from the message alone. It must not
//! expose tantivy's types, so the index engine can change without touching callers.

use std::path::PathBuf;

/// What went wrong while reading, parsing or indexing articles.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// A file or folder could not be read (or a file is not UTF-8).
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The folder given to [`crate::KnowledgeBase::from_dir`] holds no `*.md` file.
    #[error("{}: no *.md article in this folder", .path.display())]
    EmptyDir { path: PathBuf },

    /// The text does not open with a `---` line.
    #[error("{file}: missing front matter: the file must start with a `---` line")]
    NoFrontMatter { file: String },

    /// The front matter has no closing `---` line.
    #[error("{file}: front matter is not closed by a `---` line")]
    UnclosedFrontMatter { file: String },

    /// A front-matter line is not of the form `key: value`.
    #[error("{file}: line {line}: expected `key: value`, found `{text}`")]
    MalformedLine { file: String, line: usize, text: String },

    /// A front-matter key this crate does not know (often a typo).
    #[error("{file}: line {line}: unknown key `{key}` (expected id, title, language, tags, url)")]
    UnknownKey { file: String, line: usize, key: String },

    /// The same front-matter key appears twice.
    #[error("{file}: line {line}: key `{key}` is given twice")]
    DuplicateKey { file: String, line: usize, key: String },

    /// A required front-matter key is absent.
    #[error("{file}: missing required key `{key}`")]
    MissingKey { file: String, key: &'static str },

    /// A front-matter value is present but invalid.
    #[error("{file}: bad value `{value}` for key `{key}`: {reason}")]
    BadValue {
        file: String,
        key: &'static str,
        value: String,
        reason: &'static str,
    },

    /// Nothing follows the front matter.
    #[error("{file}: the article body is empty")]
    EmptyBody { file: String },

    /// Two articles share an id and a language.
    #[error("duplicate article: id `{id}` in language `{language}` is given twice")]
    DuplicateArticle { id: String, language: String },

    /// Two files of a folder define the same id and language.
    #[error("{second}: duplicate article: id `{id}` in language `{language}` is already defined by {first}")]
    DuplicateArticleFile {
        id: String,
        language: String,
        first: String,
        second: String,
    },

    /// The search engine failed while building the in-memory index.
    #[error("cannot index the articles in language `{language}`: {message}")]
    Index { language: String, message: String },
}

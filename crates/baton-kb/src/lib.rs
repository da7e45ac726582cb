//! The knowledge base: help articles that answer customer questions.
//!
//! Articles are markdown files with a small front matter (id, title, language, tags, url). This
//! crate reads them (from the bundled demo set or a folder), indexes them in RAM with tantivy,
//! one index and analyzer per language, and finds the best article and passage for a question
//! in a given language. It reads article files and indexes them; it knows nothing of HTTP,
//! conversations or the bot, and keeps no state beyond the index it builds at start.
//!
//! ```
//! use baton_kb::{KnowledgeBase, MatchPolicy};
//!
//! let kb = KnowledgeBase::demo()?;
//! let hits = kb.search("do you take paypal", "en", 3);
//! assert_eq!(hits[0].article_id, "payment-methods");
//! assert!(MatchPolicy::default().is_good(&hits[0]));
//! # Ok::<(), baton_kb::KbError>(())
//! ```

mod analysis;
mod article;
mod demo;
mod error;
mod kb;

pub use analysis::MAX_PASSAGE_CHARS;
pub use article::Article;
pub use demo::DEMO_FILES;
pub use error::KbError;
pub use kb::{Hit, KnowledgeBase, MatchPolicy};

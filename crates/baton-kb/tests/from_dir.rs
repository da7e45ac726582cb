//! Loading a user's own article folder, and the errors that name the offending file.
//!
//! Writes only to fresh folders under the system temp directory and removes them afterwards.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use baton_kb::{Article, KbError, KnowledgeBase};

/// A fresh folder under the temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "baton-kb-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.0.join(name), text).expect("write file");
        self
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const OPENING_HOURS: &str = "---\nid: opening-hours\ntitle: Opening hours\nlanguage: en\n\
tags: [hours, open]\nurl: https://shop.example/hours\n---\n\
# Opening hours\n\nWe are open from 9:00 to 17:00 on weekdays.\n\nThe shop is closed on Sundays.\n";

const HORARIO: &str = "---\nid: opening-hours\ntitle: Horario\nlanguage: es\n---\n\
Abrimos de 9:00 a 17:00 los días laborables.\n\nLos domingos la tienda está cerrada.\n";

#[test]
fn loads_every_markdown_file_of_a_folder() {
    let dir = TempDir::new();
    dir.write("hours.en.md", OPENING_HOURS)
        .write("hours.es.md", HORARIO)
        .write("notes.txt", "not an article");
    std::fs::create_dir(dir.path().join("drafts.md")).expect("sub-folder");

    let kb = KnowledgeBase::from_dir(dir.path()).expect("loads");
    assert_eq!(kb.articles().len(), 2);
    let hits = kb.search("is the shop closed on sunday?", "en", 5);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].article_id, "opening-hours");
    assert_eq!(hits[0].passage, "The shop is closed on Sundays.");
    assert_eq!(hits[0].url.as_deref(), Some("https://shop.example/hours"));
    let hits = kb.search("¿la tienda cierra los domingos?", "es", 5);
    assert_eq!(hits[0].passage, "Los domingos la tienda está cerrada.");
}

#[test]
fn a_malformed_file_is_named_in_the_error() {
    let dir = TempDir::new();
    dir.write("hours.en.md", OPENING_HOURS)
        .write("broken.es.md", "---\nid: broken\ntitle: Roto\n---\nSin idioma.\n");
    let err = KnowledgeBase::from_dir(dir.path()).expect_err("missing language");
    let message = err.to_string();
    assert!(matches!(err, KbError::MissingKey { key: "language", .. }), "{err:?}");
    assert!(message.contains("broken.es.md"), "{message}");
    assert!(message.contains("`language`"), "{message}");
}

#[test]
fn duplicate_articles_in_a_folder_name_both_files() {
    let dir = TempDir::new();
    dir.write("a.en.md", OPENING_HOURS).write("b.en.md", OPENING_HOURS);
    let message = KnowledgeBase::from_dir(dir.path()).expect_err("duplicate").to_string();
    assert!(message.contains("a.en.md") && message.contains("b.en.md"), "{message}");
    assert!(message.contains("opening-hours"), "{message}");
}

#[test]
fn empty_or_missing_folders_are_errors_naming_the_folder() {
    let dir = TempDir::new();
    dir.write("readme.txt", "no articles here");
    let message = KnowledgeBase::from_dir(dir.path()).expect_err("empty").to_string();
    assert!(message.contains(&dir.path().display().to_string()), "{message}");

    let missing = dir.path().join("nope");
    let message = KnowledgeBase::from_dir(&missing).expect_err("missing").to_string();
    assert!(message.contains("nope"), "{message}");
}

#[test]
fn a_non_utf8_file_is_named_in_the_error() {
    let dir = TempDir::new();
    std::fs::write(dir.path().join("latin1.es.md"), b"---\nid: x\n\xe9\n---\n").expect("write");
    let message = KnowledgeBase::from_dir(dir.path()).expect_err("not utf-8").to_string();
    assert!(message.contains("latin1.es.md"), "{message}");
}

#[test]
fn parse_errors_name_the_file_and_the_key() {
    let cases: &[(&str, &str)] = &[
        ("---\ntitle: T\nlanguage: en\n---\nBody.", "`id`"),
        ("---\nid: x\ntitle: T\n---\nBody.", "`language`"),
        ("---\nid: x\nlanguage: en\n---\nBody.", "`title`"),
        ("---\nid: x\ntitle: T\nlanguage: english\n---\nBody.", "`language`"),
        ("---\nid: x\ntitle: T\nlanguage: en\n---\n\n  \n", "body is empty"),
        ("---\nid: x\ntitle: T\nlanguage: en\n---\n", "body is empty"),
        ("---\nid: x\ntitle: T\nlanguage: en\ntags: [a\n---\nBody.", "`tags`"),
    ];
    for (text, expected) in cases {
        let message = Article::parse("faq/x.md", text).expect_err(text).to_string();
        assert!(message.starts_with("faq/x.md:"), "{message}");
        assert!(message.contains(expected), "{message:?} lacks {expected}");
    }
    // Any 2- or 3-letter language code is accepted.
    for code in ["fr", "DE", "ast"] {
        let text = format!("---\nid: x\ntitle: T\nlanguage: {code}\n---\nBody.");
        let article = Article::parse("x.md", &text).expect("accepted");
        assert_eq!(article.language, code.to_ascii_lowercase());
    }
}

#[test]
fn duplicate_id_and_language_in_new_is_named() {
    let a = Article::parse("a.md", OPENING_HOURS).expect("parses");
    let b = Article::parse("b.md", HORARIO).expect("parses");
    KnowledgeBase::new(vec![a.clone(), b]).expect("same id, other language is fine");
    let message = KnowledgeBase::new(vec![a.clone(), a])
        .expect_err("duplicate")
        .to_string();
    assert!(
        message.contains("opening-hours") && message.contains("`en`"),
        "{message}"
    );
}

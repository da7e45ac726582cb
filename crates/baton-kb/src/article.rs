//! One help article: its front matter and markdown body.
//!
//! Owns [`Article`] and its parser ([`Article::parse`]). It reads text it is given and nothing
//! else: no file system (see [`crate::KnowledgeBase::from_dir`]), no index, no HTTP.
//!
//! The format is a front matter between two `---` lines, one `key: value` per line, then the
//! markdown body:
//!
//! ```text
//! ---
//! id: return-policy
//! title: Return policy
//! language: en
//! tags: [returns, send back]
//! url: https://demo-outfitters.example/help/return-policy
//! ---
//! You can send back anything you bought within 30 days...
//! ```
//!
//! `id`, `title` and `language` are required; `tags` (a `[a, b]` list) and `url` are optional.
//! Values may be wrapped in single or double quotes; lines starting with `#` are comments.

use serde::{Deserialize, Serialize};

use crate::KbError;

/// A help article: front matter plus markdown body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Stable identifier, shared by the translations of one article (`return-policy`).
    pub id: String,
    pub title: String,
    /// Lower-case ISO 639 code of 2 or 3 letters (`en`, `es`).
    pub language: String,
    pub tags: Vec<String>,
    /// Where the customer can read the full article.
    pub url: Option<String>,
    /// Markdown, trimmed; never empty.
    pub body: String,
}

const KEYS: [&str; 5] = ["id", "title", "language", "tags", "url"];

impl Article {
    /// Parses an article. `source_name` (usually the file name) only serves the error messages.
    pub fn parse(source_name: &str, text: &str) -> Result<Article, KbError> {
        let file = || source_name.to_string();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.lines().enumerate().skip_while(|(_, l)| l.trim().is_empty());
        match lines.next() {
            Some((_, line)) if line.trim_end() == "---" => {}
            _ => return Err(KbError::NoFrontMatter { file: file() }),
        }

        let mut values: [Option<(usize, String)>; 5] = Default::default();
        let mut body_start = None;
        for (index, line) in lines.by_ref() {
            let number = index + 1;
            let trimmed = line.trim();
            if trimmed == "---" {
                body_start = Some(index + 1);
                break;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((key, value)) = trimmed.split_once(':') else {
                return Err(KbError::MalformedLine {
                    file: file(),
                    line: number,
                    text: trimmed.to_string(),
                });
            };
            let key = key.trim().to_ascii_lowercase();
            let Some(slot) = KEYS.iter().position(|k| *k == key) else {
                return Err(KbError::UnknownKey {
                    file: file(),
                    line: number,
                    key,
                });
            };
            if values[slot].is_some() {
                return Err(KbError::DuplicateKey {
                    file: file(),
                    line: number,
                    key,
                });
            }
            values[slot] = Some((number, value.trim().to_string()));
        }
        let Some(body_start) = body_start else {
            return Err(KbError::UnclosedFrontMatter { file: file() });
        };
        let [id, title, language, tags, url] = values.map(|v| v.map(|(_, value)| value));

        let required = |value: Option<String>, key: &'static str| match value {
            None => Err(KbError::MissingKey { file: file(), key }),
            Some(value) => {
                let value = unquote(&value).to_string();
                if value.is_empty() {
                    Err(KbError::BadValue {
                        file: file(),
                        key,
                        value,
                        reason: "must not be empty",
                    })
                } else {
                    Ok(value)
                }
            }
        };
        let id = required(id, "id")?;
        if !id.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(KbError::BadValue {
                file: file(),
                key: "id",
                value: id,
                reason: "use only letters, digits, `-`, `_` and `.`",
            });
        }
        let title = required(title, "title")?;
        let language = required(language, "language")?;
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(KbError::BadValue {
                file: file(),
                key: "language",
                value: language,
                reason: "expected a 2- or 3-letter language code such as `en` or `es`",
            });
        }
        let language = language.to_ascii_lowercase();
        let tags = match tags {
            None => Vec::new(),
            Some(raw) => parse_tags(&raw).ok_or_else(|| KbError::BadValue {
                file: file(),
                key: "tags",
                value: raw,
                reason: "expected a list such as `[returns, refund]`",
            })?,
        };
        let url = match url.map(|u| unquote(&u).to_string()) {
            None => None,
            Some(u) if u.is_empty() => None,
            Some(u) => {
                if !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/'))
                    || u.chars().any(char::is_whitespace)
                {
                    return Err(KbError::BadValue {
                        file: file(),
                        key: "url",
                        value: u,
                        reason: "expected an http(s) URL or a path starting with `/`",
                    });
                }
                Some(u)
            }
        };

        let body = text
            .lines()
            .skip(body_start)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string();
        if body.is_empty() {
            return Err(KbError::EmptyBody { file: file() });
        }
        Ok(Article {
            id,
            title,
            language,
            tags,
            url,
            body,
        })
    }
}

/// Removes one pair of matching surrounding quotes.
fn unquote(value: &str) -> &str {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner.trim();
        }
    }
    value
}

/// `[a, b c, "d"]` → `["a", "b c", "d"]`; `None` unless bracketed.
fn parse_tags(raw: &str) -> Option<Vec<String>> {
    let inner = raw.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .map(unquote)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_keys_quotes_comments_and_crlf() {
        let text = "\u{feff}---\r\n# a comment\r\nid: \"faq-1\"\r\ntitle: 'Hello: world'\r\n\
                    language: EN\r\ntags: [a, \"b c\", ]\r\nurl: /help/faq-1\r\n---\r\n\r\nBody text.\r\n";
        let article = Article::parse("faq.md", text).expect("parses");
        assert_eq!(article.id, "faq-1");
        assert_eq!(article.title, "Hello: world");
        assert_eq!(article.language, "en");
        assert_eq!(article.tags, vec!["a", "b c"]);
        assert_eq!(article.url.as_deref(), Some("/help/faq-1"));
        assert_eq!(article.body, "Body text.");
    }

    #[test]
    fn optional_keys_may_be_absent() {
        let article = Article::parse("x.md", "---\nid: x\ntitle: X\nlanguage: fr\n---\nCorps.").expect("ok");
        assert!(article.tags.is_empty());
        assert_eq!(article.url, None);
    }

    #[test]
    fn structural_errors_name_the_file() {
        let cases = [
            ("id: x\n", "missing front matter"),
            ("---\nid: x\ntitle: X\nlanguage: en\n", "not closed"),
            ("---\nid x\n---\nBody", "line 2: expected `key: value`"),
            ("---\nid: x\nlang: en\n---\nBody", "unknown key `lang`"),
            ("---\nid: x\nid: y\n---\nBody", "key `id` is given twice"),
            (
                "---\nid: x\ntitle: X\nlanguage: en\ntags: a, b\n---\nBody",
                "key `tags`",
            ),
            (
                "---\nid: x\ntitle: X\nlanguage: en\nurl: help page\n---\nBody",
                "key `url`",
            ),
            ("---\nid: a b\ntitle: X\nlanguage: en\n---\nBody", "key `id`"),
            ("---\nid: x\ntitle:\nlanguage: en\n---\nBody", "key `title`"),
        ];
        for (text, expected) in cases {
            let message = Article::parse("bad.md", text).expect_err(text).to_string();
            assert!(message.starts_with("bad.md"), "{message}");
            assert!(message.contains(expected), "{message} lacks {expected}");
        }
    }
}

//! Validated values that come from outside: message text, client message ids, languages,
//! channels and the customer's own profile fields. Each can only be built through `parse`,
//! so a value of these types is always within bounds.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The most characters (Unicode scalar values) one message may carry.
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// The most characters a client message id may carry.
pub const MAX_CLIENT_MESSAGE_ID_CHARS: usize = 128;
/// The most characters a customer's name or external id may carry.
pub const MAX_PROFILE_FIELD_CHARS: usize = 200;

/// Why a value from outside was refused. The message names the rule that was broken; the
/// caller adds which field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("must not be empty or only whitespace")]
    Empty,
    #[error("is {actual} characters long; the limit is {max}")]
    TooLong { actual: usize, max: usize },
    #[error("contains a control character (U+{0:04X}) that is not allowed")]
    ControlCharacter(u32),
    #[error("is not a language tag such as `en` or `es-MX`")]
    NotALanguageTag,
    #[error("is not an email address")]
    NotAnEmail,
}

fn check_len(s: &str, max: usize) -> Result<(), InputError> {
    if s.trim().is_empty() {
        return Err(InputError::Empty);
    }
    let actual = s.chars().count();
    if actual > max {
        return Err(InputError::TooLong { actual, max });
    }
    Ok(())
}

fn check_controls(s: &str, allow_newlines: bool) -> Result<(), InputError> {
    match s
        .chars()
        .find(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
    {
        Some(c) => Err(InputError::ControlCharacter(c as u32)),
        None => Ok(()),
    }
}

/// The text of one chat message: not blank, at most [`MAX_MESSAGE_CHARS`] characters, no
/// control characters other than line breaks and tabs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl MessageText {
    /// Checks the text and hides the secrets in it ([`crate::masking`]): a message text never
    /// holds a card number, code or password in clear.
    pub fn parse(text: impl Into<String>) -> Result<Self, InputError> {
        let text = text.into();
        check_len(&text, MAX_MESSAGE_CHARS)?;
        check_controls(&text, true)?;
        let masked = crate::masking::mask_secrets(&text).text;
        if masked.len() != text.len() {
            // Placeholders may be longer than what they hide; the stored text stays in bounds.
            check_len(&masked, MAX_MESSAGE_CHARS)?;
        }
        Ok(Self(masked))
    }

    /// The kinds of secret hidden in this text, in order.
    pub fn hidden(&self) -> Vec<crate::masking::SecretKind> {
        crate::masking::hidden_in(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageText {
    type Error = InputError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<MessageText> for String {
    fn from(value: MessageText) -> Self {
        value.0
    }
}

impl fmt::Display for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The sender's own id for one message, used to make retried sends idempotent: the same id
/// in the same conversation always names the same message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub fn parse(id: impl Into<String>) -> Result<Self, InputError> {
        let id = id.into();
        check_len(&id, MAX_CLIENT_MESSAGE_ID_CHARS)?;
        check_controls(&id, false)?;
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientMessageId {
    type Error = InputError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ClientMessageId> for String {
    fn from(value: ClientMessageId) -> Self {
        value.0
    }
}

/// A BCP 47 style language tag, lower-cased primary subtag (`en`, `es`, `es-MX`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", example = "en")]
pub struct Language(String);

impl Language {
    pub fn parse(tag: impl Into<String>) -> Result<Self, InputError> {
        let tag: String = tag.into();
        let mut parts = tag.split('-');
        let primary = parts.next().unwrap_or_default();
        if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(InputError::NotALanguageTag);
        }
        let mut normalized = primary.to_ascii_lowercase();
        for part in parts {
            if !(2..=8).contains(&part.len()) || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(InputError::NotALanguageTag);
            }
            normalized.push('-');
            normalized.push_str(part);
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Language {
    type Error = InputError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Language> for String {
    fn from(value: Language) -> Self {
        value.0
    }
}

/// A bounded string schema for the OpenAPI document. The pattern says what `parse` checks:
/// at least one character that is neither white space nor a control character, and no control
/// characters but those in `allowed_controls` (a regex class fragment such as `\t\n\r`).
fn bounded_string(
    max: usize,
    allowed_controls: &str,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    const CONTROLS: &str = r"\u0000-\u001F\u007F-\u009F";
    let other = if allowed_controls.is_empty() {
        format!("[^{CONTROLS}]")
    } else {
        format!("(?:[^{CONTROLS}]|[{allowed_controls}])")
    };
    let pattern = format!(r"^{other}*[^\s{CONTROLS}]{other}*$");
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for MessageText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        bounded_string(
            MAX_MESSAGE_CHARS,
            r"\t\n\r",
            "Message text: not blank; no control characters but line breaks and tabs.",
        )
    }
}
impl utoipa::ToSchema for MessageText {}

impl utoipa::PartialSchema for ClientMessageId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        bounded_string(
            MAX_CLIENT_MESSAGE_ID_CHARS,
            "",
            "The sender's id for this message; a retry with the same id is not stored twice.",
        )
    }
}
impl utoipa::ToSchema for ClientMessageId {}

/// Where the customer is writing from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The web chat widget on the shop's site.
    #[default]
    Web,
    /// Any other client through the REST/WebSocket API.
    Api,
    Email,
    Sms,
    Whatsapp,
    Social,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Api => "api",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Social => "social",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Web,
            Self::Api,
            Self::Email,
            Self::Sms,
            Self::Whatsapp,
            Self::Social,
        ]
        .into_iter()
        .find(|c| c.as_str() == name)
    }
}

/// What the customer told us about themselves when the conversation started. Every field is
/// optional: an anonymous customer is a normal customer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

impl CustomerProfile {
    /// Checks each field, naming the first that is wrong.
    pub fn parse(
        name: Option<String>,
        email: Option<String>,
        external_id: Option<String>,
    ) -> Result<Self, (&'static str, InputError)> {
        let field = |label: &'static str, v: Option<String>| -> Result<Option<String>, (&'static str, InputError)> {
            match v {
                None => Ok(None),
                Some(v) => {
                    check_len(&v, MAX_PROFILE_FIELD_CHARS)
                        .and_then(|()| check_controls(&v, false))
                        .map_err(|e| (label, e))?;
                    Ok(Some(v.trim().to_owned()))
                }
            }
        };
        let name = field("name", name)?;
        let email = field("email", email)?;
        if let Some(email) = &email {
            let valid = email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
                && !email.chars().any(char::is_whitespace);
            if !valid {
                return Err(("email", InputError::NotAnEmail));
            }
        }
        let external_id = field("external_id", external_id)?;
        Ok(Self {
            name,
            email,
            external_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_bounds() {
        assert_eq!(MessageText::parse(""), Err(InputError::Empty));
        assert_eq!(MessageText::parse(" \n\t "), Err(InputError::Empty));
        assert!(MessageText::parse("a".repeat(MAX_MESSAGE_CHARS)).is_ok());
        assert_eq!(
            MessageText::parse("é".repeat(MAX_MESSAGE_CHARS + 1)),
            Err(InputError::TooLong {
                actual: MAX_MESSAGE_CHARS + 1,
                max: MAX_MESSAGE_CHARS
            })
        );
        assert!(MessageText::parse("line one\nline two").is_ok());
        assert_eq!(MessageText::parse("nul\0byte"), Err(InputError::ControlCharacter(0)));
    }

    #[test]
    fn client_message_id_rejects_newlines() {
        assert!(ClientMessageId::parse("abc-123").is_ok());
        assert_eq!(ClientMessageId::parse("a\nb"), Err(InputError::ControlCharacter(10)));
    }

    #[test]
    fn language_tags_normalize() {
        assert_eq!(Language::parse("EN").map(|l| l.0), Ok("en".into()));
        assert_eq!(Language::parse("es-MX").map(|l| l.0), Ok("es-MX".into()));
        assert_eq!(Language::parse("english"), Err(InputError::NotALanguageTag));
        assert_eq!(Language::parse(""), Err(InputError::NotALanguageTag));
        assert_eq!(Language::parse("en-"), Err(InputError::NotALanguageTag));
    }

    proptest::proptest! {
        /// Whatever arrives, parsing answers Ok or a reason, and an accepted value is in bounds.
        #[test]
        fn parsing_any_input_never_panics(s in "\\PC{0,300}", t in "[a-zA-Z0-9-]{0,12}") {
            if let Ok(text) = MessageText::parse(s.clone()) {
                proptest::prop_assert!(!text.as_str().trim().is_empty());
                proptest::prop_assert!(text.as_str().chars().count() <= MAX_MESSAGE_CHARS);
            }
            let _ = ClientMessageId::parse(s.clone());
            let _ = Language::parse(s.clone());
            let _ = Language::parse(t);
            let _ = CustomerProfile::parse(Some(s.clone()), Some(s.clone()), Some(s));
        }
    }

    #[test]
    fn profile_names_the_bad_field() {
        assert!(CustomerProfile::parse(Some("Sarah".into()), Some("sarah@example.com".into()), None).is_ok());
        assert_eq!(
            CustomerProfile::parse(None, Some("sarah at example".into()), None),
            Err(("email", InputError::NotAnEmail))
        );
        assert_eq!(
            CustomerProfile::parse(Some("x".repeat(201)), None, None),
            Err(("name", InputError::TooLong { actual: 201, max: 200 }))
        );
    }
}

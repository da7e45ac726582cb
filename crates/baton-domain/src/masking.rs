//! Secrets a customer types into the chat, hidden before anything stores or sends them.
//!
//! [`mask_secrets`] replaces each secret with a placeholder naming its kind
//! (`[hidden card number]`), so the agent knows the customer gave one and the raw value never
//! reaches the event log, memory, the context package, logs or any response. It is applied by
//! [`crate::MessageText::parse`], the only way to build a message text, so no message can be
//! stored unmasked. Masking is idempotent: placeholders carry no digits and match no rule.
//!
//! What counts as a secret (English and Spanish):
//! - card numbers: 13 to 19 digits, whole or in groups split by single spaces or dashes, that
//!   pass the Luhn check and start like an issuer's number (2 to 6), not after a `+`;
//! - security codes (CVV, CVC, "código de seguridad") and one-time codes ("verification code",
//!   "código de verificación", PIN, OTP) typed after their keyword;
//! - passwords after "password is", "contraseña:", "mi clave es" and the like;
//! - IBANs (checked with their mod-97 checksum);
//! - national ids: US social security numbers, Spanish DNI and NIE (with their check letter),
//!   Mexican CURP.
//!
//! Order numbers, phone numbers, amounts, dates, postal codes and tracking numbers stay readable
//! (see the corpus in the tests). This module owns the rules only; it knows no storage.

use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The kind of a hidden value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    CardNumber,
    SecurityCode,
    OneTimeCode,
    Password,
    Iban,
    NationalId,
}

impl SecretKind {
    /// Every kind, in the order placeholders are looked for.
    pub const ALL: [SecretKind; 6] = [
        SecretKind::CardNumber,
        SecretKind::SecurityCode,
        SecretKind::OneTimeCode,
        SecretKind::Password,
        SecretKind::Iban,
        SecretKind::NationalId,
    ];

    /// What replaces a value of this kind in the text.
    pub fn placeholder(self) -> &'static str {
        match self {
            SecretKind::CardNumber => "[hidden card number]",
            SecretKind::SecurityCode => "[hidden security code]",
            SecretKind::OneTimeCode => "[hidden one-time code]",
            SecretKind::Password => "[hidden password]",
            SecretKind::Iban => "[hidden IBAN]",
            SecretKind::NationalId => "[hidden ID number]",
        }
    }
}

/// A text with its secrets hidden.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub text: String,
    /// The kind of each value hidden, in the order they appeared.
    pub hidden: Vec<SecretKind>,
}

/// Hides every secret in `text`.
pub fn mask_secrets(text: &str) -> Masked {
    let mut hidden = Vec::new();
    let mut out = text.to_owned();
    if out.bytes().any(|b| b.is_ascii_digit()) {
        out = mask_cards(&out, &mut hidden);
        out = mask_ibans(&out, &mut hidden);
        out = mask_after_keywords(&out, &SECURITY_CODE, SecretKind::SecurityCode, &mut hidden);
        out = mask_one_time_codes(&out, &mut hidden);
        out = mask_national_ids(&out, &mut hidden);
    }
    out = mask_passwords(&out, &mut hidden);
    // Report in text order, whatever rule found them.
    let mut found: Vec<(usize, SecretKind)> = SecretKind::ALL
        .iter()
        .flat_map(|kind| out.match_indices(kind.placeholder()).map(move |(at, _)| (at, *kind)))
        .collect();
    found.sort_unstable_by_key(|(at, _)| *at);
    if found.len() == hidden.len() {
        hidden = found.into_iter().map(|(_, kind)| kind).collect();
    }
    Masked { text: out, hidden }
}

/// The kinds whose placeholders appear in an already masked text, in text order.
pub fn hidden_in(text: &str) -> Vec<SecretKind> {
    if !text.contains("[hidden ") {
        return Vec::new();
    }
    let mut found: Vec<(usize, SecretKind)> = SecretKind::ALL
        .iter()
        .flat_map(|kind| text.match_indices(kind.placeholder()).map(move |(at, _)| (at, *kind)))
        .collect();
    found.sort_unstable_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, kind)| kind).collect()
}

fn regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).unwrap_or_else(|e| panic!("masking pattern {pattern}: {e}"))
}

/// Replaces capture group 1 of each match of `pattern` for which `keep` says yes.
fn replace_group(
    text: &str,
    pattern: &regex::Regex,
    kind: SecretKind,
    hidden: &mut Vec<SecretKind>,
    mut keep: impl FnMut(&regex::Captures<'_>) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in pattern.captures_iter(text) {
        let Some(value) = caps.get(1) else { continue };
        if !keep(&caps) {
            continue;
        }
        out.push_str(&text[last..value.start()]);
        out.push_str(kind.placeholder());
        hidden.push(kind);
        last = value.end();
    }
    out.push_str(&text[last..]);
    out
}

// ---- card numbers -------------------------------------------------------------------------

/// Runs of digit groups joined by single spaces or dashes.
static DIGIT_CHAIN: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"\d+(?:[ \-]\d+)*"));

fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn looks_like_card(digits: &[u8]) -> bool {
    (13..=19).contains(&digits.len()) && (2..=6).contains(&digits[0]) && luhn_valid(digits)
}

/// How people and card issuers write card numbers: whole, in fours (the last group shorter),
/// or 4-6-5 and 4-6-4 (American Express, Diners). Other groupings are phone numbers, order
/// numbers side by side, and the like.
fn card_grouping(lengths: &[usize]) -> bool {
    match lengths {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|l| *l == 4) && (1..=4).contains(last),
        [] => false,
    }
}

fn mask_cards(text: &str, hidden: &mut Vec<SecretKind>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for chain in DIGIT_CHAIN.find_iter(text) {
        let before = text[..chain.start()].chars().next_back();
        let after = text[chain.end()..].chars().next();
        // Glued to letters (a reference such as AB1234...) or a phone number's `+`: not a card.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '+') || after.is_some_and(char::is_alphanumeric) {
            continue;
        }
        // The groups of the chain with their byte ranges.
        let groups: Vec<(usize, usize)> = regex_digit_groups(chain.as_str())
            .map(|(s, e)| (chain.start() + s, chain.start() + e))
            .collect();
        let mut i = 0;
        while i < groups.len() {
            // The longest span of whole groups from `i` that is a card number.
            let mut best = None;
            let mut digits: Vec<u8> = Vec::new();
            let mut lengths: Vec<usize> = Vec::new();
            for (j, (s, e)) in groups.iter().enumerate().skip(i) {
                digits.extend(text[*s..*e].bytes().map(|b| b - b'0'));
                lengths.push(e - s);
                if digits.len() > 19 {
                    break;
                }
                if card_grouping(&lengths) && looks_like_card(&digits) {
                    best = Some(j);
                }
            }
            match best {
                Some(j) => {
                    out.push_str(&text[last..groups[i].0]);
                    out.push_str(SecretKind::CardNumber.placeholder());
                    hidden.push(SecretKind::CardNumber);
                    last = groups[j].1;
                    i = j + 1;
                }
                None => i += 1,
            }
        }
    }
    out.push_str(&text[last..]);
    out
}

fn regex_digit_groups(chain: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = chain.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() && !bytes[at].is_ascii_digit() {
            at += 1;
        }
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        Some((start, at))
    })
}

// ---- IBAN ---------------------------------------------------------------------------------

static IBAN: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{1,4}){3,8}\b"));

fn iban_valid(compact: &str) -> bool {
    if !(15..=34).contains(&compact.len()) || !compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

fn mask_ibans(text: &str, hidden: &mut Vec<SecretKind>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for found in IBAN.find_iter(text) {
        // The pattern may run into the next word ("... 1332 please"): drop trailing groups until
        // the checksum holds.
        let candidate = found.as_str();
        let mut end = candidate.len();
        let mut matched = None;
        loop {
            let compact: String = candidate[..end].chars().filter(|c| *c != ' ').collect();
            if compact.len() < 15 {
                break;
            }
            if iban_valid(&compact.to_ascii_uppercase()) {
                matched = Some(end);
                break;
            }
            match candidate[..end].rfind(' ') {
                Some(space) => end = space,
                None => break,
            }
        }
        if let Some(end) = matched {
            out.push_str(&text[last..found.start()]);
            out.push_str(SecretKind::Iban.placeholder());
            hidden.push(SecretKind::Iban);
            last = found.start() + end;
        }
    }
    out.push_str(&text[last..]);
    out
}

// ---- codes after a keyword ------------------------------------------------------------------

/// CVV and the like: the keyword, a few words that are not digits, then 3 or 4 digits.
static SECURITY_CODE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:cvv2?|cvc2?|cvn|csc|security\s+code|card\s+code|c[óo]digo\s+(?:de\s+)?(?:seguridad|cvv|cvc))\b[^\d\n]{0,24}?\b(\d{3,4})\b",
    )
});

/// One-time codes: the keyword (group `kw`), then 4 to 8 digits. `prev` is the word before,
/// to keep "zip code 94107" and "código postal" readable.
static ONE_TIME_CODE: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(?:\b(?P<prev>\p{L}+)\s+)?\b(?P<kw>one[\s\-]?time\s+(?:pass)?code|otp|verification\s+code|2fa\s+code|sms\s+code|auth(?:entication)?\s+code|login\s+code|passcode|pin(?:\s+code)?|code|c[óo]digo|clave\s+(?:temporal|din[áa]mica|de\s+acceso))\b(?P<gap>[^\d\n]{0,24}?)\b(\d{4,8})\b",
    )
});

/// Words before "code" or after "código" that make it something other than a secret.
const NOT_A_SECRET_CODE: &[&str] = &[
    "zip",
    "postal",
    "post",
    "area",
    "country",
    "promo",
    "promotion",
    "promotional",
    "discount",
    "coupon",
    "voucher",
    "gift",
    "tracking",
    "order",
    "product",
    "item",
    "error",
    "reference",
    "referral",
    "descuento",
    "promocional",
    "cupón",
    "cupon",
    "seguimiento",
    "pedido",
    "producto",
    "artículo",
    "articulo",
    "referencia",
    "error",
    "regalo",
];

fn mask_after_keywords(text: &str, pattern: &regex::Regex, kind: SecretKind, hidden: &mut Vec<SecretKind>) -> String {
    replace_group(text, pattern, kind, hidden, |_| true)
}

fn mask_one_time_codes(text: &str, hidden: &mut Vec<SecretKind>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in ONE_TIME_CODE.captures_iter(text) {
        let (Some(keyword), Some(value)) = (caps.name("kw"), caps.get(4)) else {
            continue;
        };
        let keyword_text = keyword.as_str().to_lowercase();
        let plain = keyword_text == "code" || keyword_text == "código" || keyword_text == "codigo";
        let prev = caps.name("prev").map(|m| m.as_str().to_lowercase());
        let gap = caps.name("gap").map(|m| m.as_str().to_lowercase()).unwrap_or_default();
        let gap_words: Vec<&str> = gap
            .split(|c: char| !c.is_alphanumeric() && c != 'ó' && c != 'í')
            .filter(|w| !w.is_empty())
            .collect();
        let explained_away = prev.as_deref().is_some_and(|p| NOT_A_SECRET_CODE.contains(&p))
            || gap_words.iter().any(|w| NOT_A_SECRET_CODE.contains(w));
        if plain && explained_away {
            continue;
        }
        // A bare "code 54192" right after "order" was handled above; a plain keyword also
        // needs a short gap ("code: 482913", "my code is 482913", "el código es 482913").
        if plain && gap_words.len() > 5 {
            continue;
        }
        out.push_str(&text[last..value.start()]);
        out.push_str(SecretKind::OneTimeCode.placeholder());
        hidden.push(SecretKind::OneTimeCode);
        last = value.end();
    }
    out.push_str(&text[last..]);
    out
}

// ---- passwords ------------------------------------------------------------------------------

/// "password is X", "password: X", "mi contraseña es X", "la clave: X".
static PASSWORD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:password|passwd|pwd|passphrase|pass\s+word|contrase[ñn]a|clave)\b(?:\s+(?:is|was|would\s+be|es|era|ser[íi]a)\b\s*:?|\s*[:=])\s*(\S+)",
    )
});

/// Words after "password is" that are talk about the password, not the password.
const NOT_A_PASSWORD: &[&str] = &[
    "not",
    "isn't",
    "wrong",
    "incorrect",
    "invalid",
    "expired",
    "correct",
    "right",
    "ok",
    "fine",
    "no",
    "the",
    "my",
    "a",
    "too",
    "still",
    "being",
    "now",
    "locked",
    "blocked",
    "reset",
    "changed",
    "working",
    "incorrecta",
    "incorrecto",
    "correcta",
    "correcto",
    "inválida",
    "invalida",
    "caducada",
    "mala",
    "mal",
    "la",
    "mi",
    "muy",
    "demasiado",
    "bloqueada",
    "nueva",
    "new",
    "old",
    "vieja",
    "forgotten",
    "olvidada",
    "same",
    "misma",
    "una",
    "un",
];

fn mask_passwords(text: &str, hidden: &mut Vec<SecretKind>) -> String {
    replace_group(text, &PASSWORD, SecretKind::Password, hidden, |caps| {
        let value = caps.get(1).map(|m| m.as_str()).unwrap_or_default();
        let word = value.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        !word.is_empty() && !NOT_A_PASSWORD.contains(&word.as_str()) && !value.starts_with("[hidden")
    })
}

// ---- national ids ---------------------------------------------------------------------------

static SSN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(r"(?i)(?:\b(?:ssn|social\s+security(?:\s+number)?)\b[^\d\n]{0,12}?\b(\d{9})\b)|\b(\d{3}-\d{2}-\d{4})\b")
});
static DNI: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"(?i)\b(\d{8})-?([a-z])\b"));
static NIE: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"(?i)\b([xyz])-?(\d{7})-?([a-z])\b"));
static CURP: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"\b[A-Z]{4}\d{6}[HM][A-Z]{5}[A-Z0-9]\d\b"));

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn dni_letter(number: u32) -> char {
    char::from(DNI_LETTERS[(number % 23) as usize])
}

fn ssn_plausible(digits: &str) -> bool {
    let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
    let (area, rest) = digits.split_at(3);
    let (group, serial) = rest.split_at(2);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

fn mask_national_ids(text: &str, hidden: &mut Vec<SecretKind>) -> String {
    let mut out = {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for caps in SSN.captures_iter(text) {
            let Some(value) = caps.get(1).or_else(|| caps.get(2)) else {
                continue;
            };
            if !ssn_plausible(value.as_str()) {
                continue;
            }
            out.push_str(&text[last..value.start()]);
            out.push_str(SecretKind::NationalId.placeholder());
            hidden.push(SecretKind::NationalId);
            last = value.end();
        }
        out.push_str(&text[last..]);
        out
    };
    out = replace_whole(&out, &DNI, hidden, |caps| {
        let number: Option<u32> = caps.get(1).and_then(|m| m.as_str().parse().ok());
        let letter = caps.get(2).and_then(|m| m.as_str().chars().next());
        matches!((number, letter), (Some(n), Some(l)) if dni_letter(n) == l.to_ascii_uppercase())
    });
    out = replace_whole(&out, &NIE, hidden, |caps| {
        let prefix = caps
            .get(1)
            .and_then(|m| m.as_str().chars().next())
            .map(|c| c.to_ascii_uppercase());
        let digits = caps.get(2).map(|m| m.as_str()).unwrap_or_default();
        let letter = caps.get(3).and_then(|m| m.as_str().chars().next());
        let lead = match prefix {
            Some('X') => "0",
            Some('Y') => "1",
            Some('Z') => "2",
            _ => return false,
        };
        let number: Option<u32> = format!("{lead}{digits}").parse().ok();
        matches!((number, letter), (Some(n), Some(l)) if dni_letter(n) == l.to_ascii_uppercase())
    });
    replace_whole(&out, &CURP, hidden, |_| true)
}

/// Replaces whole matches of `pattern` for which `keep` says yes with the national-id placeholder.
fn replace_whole(
    text: &str,
    pattern: &regex::Regex,
    hidden: &mut Vec<SecretKind>,
    mut keep: impl FnMut(&regex::Captures<'_>) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in pattern.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        if !keep(&caps) {
            continue;
        }
        out.push_str(&text[last..whole.start()]);
        out.push_str(SecretKind::NationalId.placeholder());
        hidden.push(SecretKind::NationalId);
        last = whole.end();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests;

//! Secrets a customer types into the chat, hidden before anything stores or sends them.
//!
//! [`mask_secrets`] replaces each secret with a placeholder naming its kind
//! (`[hidden card number]`), so the agent knows the customer gave one and the raw value never
//! reaches the event log, memory, the context package, logs or any response. It is applied by
//! [`crate::MessageText::parse`], the only way to build a message text, so no message can be
//! stored unmasked.
//!
//! Each rule runs only on the text between placeholders, never across or inside one, so
//! masking is idempotent: a stored text read back (and masked again on the way) is unchanged.
//!
//! What counts as a secret (English and Spanish):
//! - card numbers: 13 to 19 digits, whole or in groups (fours, 4-6-5, 4-6-4, 8-8) split by
//!   spaces, dashes or dots, that pass the Luhn check and start like an issuer's number (2 to
//!   6), not after a `+`;
//! - security codes (CVV, CVC, "código de seguridad") and one-time codes ("verification code",
//!   "código de verificación", PIN, OTP) typed after their keyword;
//! - passwords after "password is", "password:", "mi contraseña es", "la clave de acceso es"...;
//! - IBANs (checked with their mod-97 checksum), grouped by spaces or dashes;
//! - national ids: US social security numbers, Spanish DNI and NIE (with their check letter),
//!   Mexican CURP.
//!
//! Order numbers, phone numbers, amounts, dates, postal codes and tracking numbers stay readable
//! (see the corpus in the tests). This module owns the rules only; it knows no storage.

use serde::{Deserialize, Serialize};
use std::ops::Range;
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
    /// Every kind.
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
    /// The kind of each value hidden now, in the order they appeared (placeholders already in
    /// the text are not counted again).
    pub hidden: Vec<SecretKind>,
}

/// A text being masked: plain text, and placeholders (`new` when this call hid the value).
enum Piece {
    Text(String),
    Hidden { kind: SecretKind, new: bool },
}

/// The rules, in order. Each finds spans of one segment of plain text.
type Rule = fn(&str) -> Vec<(Range<usize>, SecretKind)>;
const RULES: &[(Rule, bool)] = &[
    // (rule, needs a digit in the segment)
    (find_cards, true),
    (find_ibans, true),
    (find_security_codes, true),
    (find_one_time_codes, true),
    (find_national_ids, true),
    (find_passwords, false),
];

/// Hides every secret in `text`.
pub fn mask_secrets(text: &str) -> Masked {
    // Most messages hold no digit and no password keyword: nothing to cut or copy.
    if !text.bytes().any(|b| b.is_ascii_digit()) && !PASSWORD.is_match(text) {
        return Masked {
            text: text.to_owned(),
            hidden: Vec::new(),
        };
    }
    let mut pieces = split_placeholders(text);
    for (rule, needs_digit) in RULES {
        let mut next = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match piece {
                Piece::Text(segment) if !*needs_digit || segment.bytes().any(|b| b.is_ascii_digit()) => {
                    let mut spans = rule(&segment);
                    spans.sort_by_key(|(range, _)| range.start);
                    let mut last = 0;
                    for (range, kind) in spans {
                        if range.start < last || range.end > segment.len() {
                            continue;
                        }
                        if range.start > last {
                            next.push(Piece::Text(segment[last..range.start].to_owned()));
                        }
                        next.push(Piece::Hidden { kind, new: true });
                        last = range.end;
                    }
                    if last < segment.len() {
                        next.push(Piece::Text(segment[last..].to_owned()));
                    }
                }
                other => next.push(other),
            }
        }
        pieces = next;
    }
    let mut out = String::with_capacity(text.len());
    let mut hidden = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(segment) => out.push_str(&segment),
            Piece::Hidden { kind, new } => {
                out.push_str(kind.placeholder());
                if new {
                    hidden.push(kind);
                }
            }
        }
    }
    Masked { text: out, hidden }
}

/// The text cut at the placeholders it already holds.
fn split_placeholders(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("[hidden ") {
        let found = SecretKind::ALL
            .iter()
            .find(|kind| rest[at..].starts_with(kind.placeholder()));
        match found {
            Some(kind) => {
                if at > 0 {
                    pieces.push(Piece::Text(rest[..at].to_owned()));
                }
                pieces.push(Piece::Hidden {
                    kind: *kind,
                    new: false,
                });
                rest = &rest[at + kind.placeholder().len()..];
            }
            None => {
                let end = at + "[hidden ".len();
                pieces.push(Piece::Text(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    // Merge neighbouring texts so rules see whole segments.
    let mut merged: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match (merged.last_mut(), piece) {
            (Some(Piece::Text(previous)), Piece::Text(text)) => previous.push_str(&text),
            (_, piece) => merged.push(piece),
        }
    }
    merged
}

/// The kinds whose placeholders appear in an already masked text, in text order.
pub fn hidden_in(text: &str) -> Vec<SecretKind> {
    if !text.contains("[hidden ") {
        return Vec::new();
    }
    split_placeholders(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Hidden { kind, .. } => Some(kind),
            Piece::Text(_) => None,
        })
        .collect()
}

fn regex(pattern: &str) -> regex::Regex {
    regex::Regex::new(pattern).unwrap_or_else(|e| panic!("masking pattern {pattern}: {e}"))
}

/// The lower-cased words of `text`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

// ---- card numbers -------------------------------------------------------------------------

/// Runs of digit groups joined by one or two spaces, dashes, dots or no-break spaces.
static DIGIT_CHAIN: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"[0-9]+(?:[ \-.\u{a0}\u{2013}]{1,2}[0-9]+)*"));

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
/// 4-6-5 and 4-6-4 (American Express, Diners) or 8-8. Other groupings are phone numbers, order
/// numbers side by side, and the like.
fn card_grouping(lengths: &[usize]) -> bool {
    match lengths {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] | [8, 8] => true,
        [init @ .., last] => init.iter().all(|l| *l == 4) && (1..=4).contains(last),
        [] => false,
    }
}

fn find_cards(text: &str) -> Vec<(Range<usize>, SecretKind)> {
    let mut found = Vec::new();
    for chain in DIGIT_CHAIN.find_iter(text) {
        // A phone number's `+`: not a card.
        if text[..chain.start()].ends_with('+') {
            continue;
        }
        let groups: Vec<Range<usize>> = digit_groups(chain.as_str())
            .map(|g| chain.start() + g.start..chain.start() + g.end)
            .collect();
        let mut i = 0;
        while i < groups.len() {
            // The longest span of whole groups from `i` that is a card number.
            let mut best = None;
            let mut digits: Vec<u8> = Vec::new();
            let mut lengths: Vec<usize> = Vec::new();
            for (j, group) in groups.iter().enumerate().skip(i) {
                digits.extend(text[group.clone()].bytes().map(|b| b - b'0'));
                lengths.push(group.len());
                if digits.len() > 19 {
                    break;
                }
                if card_grouping(&lengths) && looks_like_card(&digits) {
                    best = Some(j);
                }
            }
            match best {
                Some(j) => {
                    found.push((groups[i].start..groups[j].end, SecretKind::CardNumber));
                    i = j + 1;
                }
                None => i += 1,
            }
        }
    }
    found
}

/// The ASCII digit runs of a chain, as byte ranges.
fn digit_groups(chain: &str) -> impl Iterator<Item = Range<usize>> + '_ {
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
        Some(start..at)
    })
}

// ---- IBAN ---------------------------------------------------------------------------------

static IBAN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex(r"(?i)\b[a-z]{2} ?[0-9]{2}(?:[ \-]?[a-z0-9]{1,4}){3,8}\b"));

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

fn find_ibans(text: &str) -> Vec<(Range<usize>, SecretKind)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(candidate) = IBAN.find_at(text, from) {
        // The pattern may run into the next word ("... 1332 please"): drop trailing groups until
        // the checksum holds.
        let body = candidate.as_str();
        let mut end = body.len();
        let mut matched = None;
        loop {
            let compact: String = body[..end].chars().filter(|c| *c != ' ' && *c != '-').collect();
            if compact.len() < 15 {
                break;
            }
            if iban_valid(&compact.to_ascii_uppercase()) {
                matched = Some(candidate.start() + end);
                break;
            }
            match body[..end].rfind([' ', '-']) {
                Some(cut) => end = cut,
                None => break,
            }
        }
        match matched {
            Some(end) => {
                found.push((candidate.start()..end, SecretKind::Iban));
                from = end;
            }
            // Not an IBAN from here ("is 9876 IBAN ES91..."): look again from the next word.
            None => {
                from = text[candidate.start()..]
                    .find(|c: char| !c.is_alphanumeric())
                    .map_or(text.len(), |at| candidate.start() + at);
            }
        }
    }
    found
}

// ---- codes after a keyword ------------------------------------------------------------------

/// Keywords of a card's security code.
static SECURITY_KEYWORD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(r"(?i)\b(?:cvv2?|cvc2?|cvn|csc|security\s+code|card\s+code|c[óo]digo\s+(?:de\s+)?(?:seguridad|cvv|cvc))")
});

/// Keywords of a one-time code; `prev` is the word before, to keep "zip code 94107" readable.
static ONE_TIME_KEYWORD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(?:\b(?P<prev>\p{L}+)\s+)?\b(?P<kw>one[\s\-]?time\s+(?:pass)?code|otp|verification\s+code|2fa\s+code|sms\s+code|auth(?:entication)?\s+code|login\s+code|passcode|pin(?:\s+code)?|code|c[óo]digo|clave\s+(?:temporal|din[áa]mica))\b",
    )
});

/// Words that make a number near a code keyword something other than a secret.
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
    "orders",
    "product",
    "item",
    "error",
    "reference",
    "referral",
    "return",
    "box",
    "label",
    "package",
    "parcel",
    "descuento",
    "promocional",
    "cupón",
    "cupon",
    "seguimiento",
    "pedido",
    "pedidos",
    "producto",
    "artículo",
    "articulo",
    "referencia",
    "regalo",
    "devolución",
    "devolucion",
    "caja",
    "etiqueta",
    "paquete",
];

/// Words just before a number that say it is not the code itself ("card ending 4242").
const NOT_THE_CODE: &[&str] = &[
    "ending",
    "ends",
    "last",
    "terminada",
    "termina",
    "acaba",
    "últimos",
    "ultimos",
];

/// The first number of `lengths` digits within `reach` characters after `from`, skipping one
/// that follows "ending"-like words; None when a not-a-secret word comes first.
fn code_after(text: &str, from: usize, reach: usize, lengths: std::ops::RangeInclusive<usize>) -> Option<Range<usize>> {
    let mut end = (from + reach).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let window = &text[from..end];
    for group in digit_groups(window) {
        let before = words(&window[..group.start]);
        if before.iter().any(|w| NOT_A_SECRET_CODE.contains(&w.as_str())) {
            return None;
        }
        let glued_to_letters = window[group.end..].chars().next().is_some_and(char::is_alphabetic);
        let after_ending = before.last().is_some_and(|w| NOT_THE_CODE.contains(&w.as_str()))
            || before.len() >= 2 && NOT_THE_CODE.contains(&before[before.len() - 2].as_str());
        if lengths.contains(&group.len()) && !glued_to_letters && !after_ending {
            return Some(from + group.start..from + group.end);
        }
    }
    None
}

fn find_security_codes(text: &str) -> Vec<(Range<usize>, SecretKind)> {
    SECURITY_KEYWORD
        .find_iter(text)
        .filter_map(|keyword| code_after(text, keyword.end(), 48, 3..=4))
        .map(|range| (range, SecretKind::SecurityCode))
        .collect()
}

fn find_one_time_codes(text: &str) -> Vec<(Range<usize>, SecretKind)> {
    let mut found = Vec::new();
    for caps in ONE_TIME_KEYWORD.captures_iter(text) {
        let Some(keyword) = caps.name("kw") else { continue };
        let prev = caps.name("prev").map(|m| m.as_str().to_lowercase());
        if prev.as_deref().is_some_and(|p| NOT_A_SECRET_CODE.contains(&p)) {
            continue;
        }
        // "código postal 28013": the word after a bare keyword can explain it away too.
        if let Some(range) = code_after(text, keyword.end(), 56, 4..=8) {
            let between = words(&text[keyword.end()..range.start]);
            if between.len() <= 8 {
                found.push((range, SecretKind::OneTimeCode));
            }
        }
    }
    found
}

// ---- passwords ------------------------------------------------------------------------------

/// "password is X", "password: X", "password's X", "I set my password to X", "mi contraseña
/// (nueva) es X", "la clave de acceso: X", "pw: X".
static PASSWORD: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(
        r#"(?i)(?:\b(?:password|passwd|pwd|passphrase|pass\s+word|contrase[ñn]a|clave(?:\s+de\s+(?:acceso|mi\s+cuenta))?)(?:\s+(?:nueva|new|actual|current|temporal|temporary|de\s+mi\s+cuenta|que\s+(?:puse|tengo|uso)))?(?:'s\b|\s+(?:is|was|would\s+be|es|era|ser[íi]a|to)\b\s*:?|\s*[:=]|\s+-)|\b(?:pw|pass)\s*[:=])\s*(?:(?:now|still|actually|just|ahora|ya|todav[íi]a)\s+)?(?P<value>"[^"\n]{1,80}"|'[^'\n]{1,80}'|\S+)"#,
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
    "being",
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
    "forgotten",
    "olvidada",
    "same",
    "misma",
    "una",
    "un",
    "something",
    "algo",
    "what",
    "qué",
    "que",
    "be",
    "get",
    "access",
    "log",
    "login",
    "change",
    "recover",
    "cambiar",
    "entrar",
    "recuperar",
    "acceder",
    "new",
    "nueva",
    "now",
    "still",
    "actually",
    "just",
    "ahora",
    "ya",
    "todavía",
    "todavia",
];

fn find_passwords(text: &str) -> Vec<(Range<usize>, SecretKind)> {
    let mut found = Vec::new();
    for caps in PASSWORD.captures_iter(text) {
        let Some(value) = caps.name("value") else { continue };
        let token = value.as_str();
        if token.starts_with('"') || token.starts_with('\'') {
            found.push((value.range(), SecretKind::Password));
            continue;
        }
        let word = token.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        if word.is_empty() || NOT_A_PASSWORD.contains(&word.as_str()) || token.starts_with("[hidden") {
            continue;
        }
        // A sentence's full stop or comma after the password stays.
        let trimmed = token.trim_end_matches(['.', ',', ';', '!', '?']);
        let trimmed = if trimmed.is_empty() { token } else { trimmed };
        found.push((value.start()..value.start() + trimmed.len(), SecretKind::Password));
    }
    found
}

// ---- national ids ---------------------------------------------------------------------------

static SSN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex(
        r"(?i)(?:\b(?:ssn|social\s+security(?:\s+number)?)\b[^\d\n]{0,12}?\b(?P<keyed>\d{3}[ \-]?\d{2}[ \-]?\d{4})\b)|\b(?P<dashed>\d{3}-\d{2}-\d{4})\b",
    )
});
/// DNI: 8 digits (maybe `12.345.678`) and the check letter (after a space only when capital).
static DNI: LazyLock<regex::Regex> =
    LazyLock::new(|| regex(r"\b(?P<number>\d{8}|\d{2}\.\d{3}\.\d{3})(?:-?(?P<letter>[A-Za-z])| (?P<spaced>[A-Z]))\b"));
static NIE: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"(?i)\b([xyz])-?(\d{7})-?([a-z])\b"));
static CURP: LazyLock<regex::Regex> = LazyLock::new(|| regex(r"(?i)\b[a-z]{4}\d{6}[hm][a-z]{5}[a-z0-9]\d\b"));

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn dni_letter(number: u32) -> char {
    char::from(DNI_LETTERS[(number % 23) as usize])
}

fn ssn_plausible(digits: &str) -> bool {
    let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 9 {
        return false;
    }
    let (area, rest) = digits.split_at(3);
    let (group, serial) = rest.split_at(2);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

fn find_national_ids(text: &str) -> Vec<(Range<usize>, SecretKind)> {
    let mut found = Vec::new();
    for caps in SSN.captures_iter(text) {
        let Some(value) = caps.name("keyed").or_else(|| caps.name("dashed")) else {
            continue;
        };
        if ssn_plausible(value.as_str()) {
            found.push((value.range(), SecretKind::NationalId));
        }
    }
    for caps in DNI.captures_iter(text) {
        let number: Option<u32> = caps
            .name("number")
            .and_then(|m| m.as_str().replace('.', "").parse().ok());
        let letter = caps
            .name("letter")
            .or_else(|| caps.name("spaced"))
            .and_then(|m| m.as_str().chars().next());
        if let (Some(n), Some(l), Some(whole)) = (number, letter, caps.get(0)) {
            if dni_letter(n) == l.to_ascii_uppercase() {
                found.push((whole.range(), SecretKind::NationalId));
            }
        }
    }
    for caps in NIE.captures_iter(text) {
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
            _ => continue,
        };
        let number: Option<u32> = format!("{lead}{digits}").parse().ok();
        if let (Some(n), Some(l), Some(whole)) = (number, letter, caps.get(0)) {
            if dni_letter(n) == l.to_ascii_uppercase() {
                found.push((whole.range(), SecretKind::NationalId));
            }
        }
    }
    found.extend(CURP.find_iter(text).map(|m| (m.range(), SecretKind::NationalId)));
    // Overlapping finds (an SSN inside a longer id): keep the first.
    found.sort_by_key(|(range, _)| range.start);
    let mut kept: Vec<(Range<usize>, SecretKind)> = Vec::new();
    for item in found {
        if kept.last().is_none_or(|(last, _)| item.0.start >= last.end) {
            kept.push(item);
        }
    }
    kept
}

#[cfg(test)]
mod tests;

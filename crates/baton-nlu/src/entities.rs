//! Entities: the facts a customer gives in passing (order number, email, phone, amount,
//! date, product or plan names), each with its type, normalized value, character span and the
//! extractor that found it. Extractors run in a fixed order and a later one never claims text
//! an earlier one took, so a phone number is not also an order number and an amount.

use regex::Regex;
use std::ops::Range;
use time::{Date, Duration, Month, Weekday};

/// What kind of fact an entity is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Email,
    Phone,
    Money,
    Date,
    OrderNumber,
    /// A value from a configured lookup list (the list's name: `product`, `plan`, ...).
    Lookup(String),
}

impl EntityKind {
    pub fn name(&self) -> &str {
        match self {
            EntityKind::Email => "email",
            EntityKind::Phone => "phone",
            EntityKind::Money => "money",
            EntityKind::Date => "date",
            EntityKind::OrderNumber => "order_number",
            EntityKind::Lookup(list) => list,
        }
    }
}

/// One fact found in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub kind: EntityKind,
    /// Normalized: lower-case email, E.164 phone, `12.50 EUR`, ISO date, bare order number,
    /// canonical lookup value.
    pub value: String,
    /// The text as the customer wrote it.
    pub text: String,
    /// Character (not byte) offsets into the message.
    pub span: Range<usize>,
    /// Which extractor found it.
    pub extractor: &'static str,
}

/// A lookup list: canonical values, each with the other ways customers write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupList {
    pub name: String,
    pub entries: Vec<LookupEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupEntry {
    pub value: String,
    pub synonyms: Vec<String>,
}

/// How to find entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityConfig {
    /// A regular expression whose first capture group is the order number.
    pub order_number_pattern: String,
    /// The region for phone numbers written without a country code (`US`, `ES`, ...).
    pub phone_region: String,
    /// Whether `3/4` is 3 April (day first, as in Spanish) or March 4 (month first, US).
    pub day_first: bool,
    pub lookups: Vec<LookupList>,
}

impl Default for EntityConfig {
    fn default() -> Self {
        Self {
            order_number_pattern: r"(?i)(?:#\s?|\b(?:order|pedido|orden)\b(?:\s+(?:number|no\.?|n[ºo°]\.?|número|numero|num\.?|id))?\s*(?:is|es|:|#)?\s*#?\s?)(\d{5,8})\b".into(),
            phone_region: "US".into(),
            day_first: false,
            lookups: Vec::new(),
        }
    }
}

/// Why an entity configuration was refused; names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityConfigError {
    #[error("`order_number_pattern` is not a valid regular expression: {0}")]
    OrderPattern(String),
    #[error("`order_number_pattern` must have a capture group for the number")]
    OrderPatternGroup,
    #[error("`phone_region` `{0}` is not a two-letter region code such as US or ES")]
    PhoneRegion(String),
    #[error("lookup list `{list}`: entry {index} has an empty value or synonym")]
    EmptyLookup { list: String, index: usize },
}

/// Compiled extractors.
#[derive(Debug, Clone)]
pub struct EntityExtractor {
    order: Regex,
    email: Regex,
    phone: Regex,
    money_symbol: Regex,
    money_word: Regex,
    numeric_date: Regex,
    en_month_day: Regex,
    en_day_month: Regex,
    es_day_month: Regex,
    relative: Regex,
    weekday: Regex,
    region: phonenumber::country::Id,
    day_first: bool,
    lookups: Vec<(String, String, Regex)>,
}

fn re(pattern: &str) -> Regex {
    // Built-in patterns are constants checked by the unit tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in pattern {pattern}: {e}"))
}

const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec";
const MESES: &str =
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre";

fn month_number(name: &str) -> Option<Month> {
    let n = match name.to_lowercase().trim_end_matches('.') {
        "january" | "jan" | "enero" => 1,
        "february" | "feb" | "febrero" => 2,
        "march" | "mar" | "marzo" => 3,
        "april" | "apr" | "abril" => 4,
        "may" | "mayo" => 5,
        "june" | "jun" | "junio" => 6,
        "july" | "jul" | "julio" => 7,
        "august" | "aug" | "agosto" => 8,
        "september" | "sep" | "sept" | "septiembre" | "setiembre" => 9,
        "october" | "oct" | "octubre" => 10,
        "november" | "nov" | "noviembre" => 11,
        "december" | "dec" | "diciembre" => 12,
        _ => return None,
    };
    Month::try_from(n).ok()
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.to_lowercase().as_str() {
        "monday" | "lunes" => Weekday::Monday,
        "tuesday" | "martes" => Weekday::Tuesday,
        "wednesday" | "miércoles" | "miercoles" => Weekday::Wednesday,
        "thursday" | "jueves" => Weekday::Thursday,
        "friday" | "viernes" => Weekday::Friday,
        "saturday" | "sábado" | "sabado" => Weekday::Saturday,
        "sunday" | "domingo" => Weekday::Sunday,
        _ => return None,
    })
}

/// A date without a year: the occurrence within six months of `today` (past preferred).
fn nearest(today: Date, month: Month, day: u8, year: Option<i32>) -> Option<Date> {
    if let Some(year) = year {
        return Date::from_calendar_date(year, month, day).ok();
    }
    let this = Date::from_calendar_date(today.year(), month, day).ok();
    match this {
        Some(d) if d > today + Duration::days(183) => Date::from_calendar_date(today.year() - 1, month, day).ok(),
        Some(d) if d < today - Duration::days(183) => Date::from_calendar_date(today.year() + 1, month, day).ok(),
        other => other,
    }
}

fn full_year(y: &str) -> Option<i32> {
    let y: i32 = y.parse().ok()?;
    Some(if y < 100 { 2000 + y } else { y })
}

/// Normalizes an amount written with `.` or `,` as thousands or decimal separator.
fn normalize_amount(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let last_sep = digits.rfind(['.', ',']);
    let (int_part, frac) = match last_sep {
        Some(i) if digits.len() - i - 1 == 2 || digits.len() - i - 1 == 1 => (&digits[..i], Some(&digits[i + 1..])),
        _ => (digits.as_str(), None),
    };
    let int: String = int_part.chars().filter(|c| c.is_ascii_digit()).collect();
    if int.is_empty() && frac.is_none() {
        return None;
    }
    let int = if int.is_empty() {
        "0".to_owned()
    } else {
        int.trim_start_matches('0').to_owned()
    };
    let int = if int.is_empty() { "0".to_owned() } else { int };
    let frac = format!("{:0<2}", frac.unwrap_or("00"));
    Some(format!("{int}.{frac}"))
}

fn currency_code(token: &str) -> Option<&'static str> {
    Some(match token.to_lowercase().as_str() {
        "$" | "usd" | "dollar" | "dollars" | "dólar" | "dólares" | "dolar" | "dolares" | "bucks" => "USD",
        "€" | "eur" | "euro" | "euros" => "EUR",
        "£" | "gbp" | "pound" | "pounds" | "libras" | "libra" => "GBP",
        "mxn" | "pesos" | "peso" => "MXN",
        _ => return None,
    })
}

impl EntityExtractor {
    pub fn new(config: &EntityConfig) -> Result<Self, EntityConfigError> {
        let order =
            Regex::new(&config.order_number_pattern).map_err(|e| EntityConfigError::OrderPattern(e.to_string()))?;
        if order.captures_len() < 2 {
            return Err(EntityConfigError::OrderPatternGroup);
        }
        let region = config
            .phone_region
            .parse::<phonenumber::country::Id>()
            .map_err(|_| EntityConfigError::PhoneRegion(config.phone_region.clone()))?;
        let mut lookups = Vec::new();
        for list in &config.lookups {
            for (index, entry) in list.entries.iter().enumerate() {
                for form in std::iter::once(&entry.value).chain(&entry.synonyms) {
                    if form.trim().is_empty() {
                        return Err(EntityConfigError::EmptyLookup {
                            list: list.name.clone(),
                            index,
                        });
                    }
                    let pattern = format!(r"(?i)\b{}\b", regex::escape(form.trim()));
                    lookups.push((list.name.clone(), entry.value.clone(), re(&pattern)));
                }
            }
        }
        // Longer forms first, so "pro plan annual" wins over "pro plan".
        lookups.sort_by_key(|l| std::cmp::Reverse(l.2.as_str().len()));
        Ok(Self {
            order,
            email: re(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
            phone: re(r"\+?\(?\d[\d\s().\-]{6,}\d"),
            money_symbol: re(r"([$€£])\s?(\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"),
            money_word: re(
                r"(?i)\b(\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)\s?((?:usd|eur|gbp|mxn|dollars?|d[oó]lar(?:es)?|euros?|pounds?|libras?|pesos?|bucks)\b|[$€£])",
            ),
            numeric_date: re(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b"),
            en_month_day: re(&format!(
                r"(?i)\b({MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b"
            )),
            en_day_month: re(&format!(
                r"(?i)\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTHS})\b(?:,?\s+(\d{{4}}))?"
            )),
            es_day_month: re(&format!(
                r"(?i)\b(\d{{1,2}})\s+de\s+({MESES})(?:\s+(?:de|del)\s+(\d{{4}}))?\b"
            )),
            relative: re(
                r"(?i)\b(day before yesterday|anteayer|antier|pasado mañana|yesterday|today|tomorrow|ayer|hoy|mañana)\b",
            ),
            weekday: re(
                r"(?i)\b(?:(last|this|next|el|este)\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday|lunes|martes|miércoles|miercoles|jueves|viernes|sábado|sabado|domingo)(?:\s+(pasado|que viene|próximo|proximo))?\b",
            ),
            region,
            day_first: config.day_first,
            lookups,
        })
    }

    /// Every entity in `text`, in the order they appear. `today` resolves relative dates.
    pub fn extract(&self, text: &str, today: Date) -> Vec<Entity> {
        let mut found: Vec<(Range<usize>, EntityKind, String, &'static str)> = Vec::new();
        let free = |found: &[(Range<usize>, EntityKind, String, &'static str)], r: &Range<usize>| {
            found.iter().all(|(f, ..)| f.end <= r.start || r.end <= f.start)
        };

        for m in self.email.find_iter(text) {
            found.push((m.range(), EntityKind::Email, m.as_str().to_lowercase(), "email"));
        }
        for caps in self.order.captures_iter(text) {
            let Some(number) = caps.get(1) else { continue };
            if free(&found, &number.range()) {
                found.push((
                    number.range(),
                    EntityKind::OrderNumber,
                    number.as_str().to_owned(),
                    "order_number",
                ));
            }
        }
        for m in self.phone.find_iter(text) {
            let r = m.range();
            if !free(&found, &r) {
                continue;
            }
            let digits = m.as_str().chars().filter(char::is_ascii_digit).count();
            if !(7..=15).contains(&digits) {
                continue;
            }
            if let Ok(number) = phonenumber::parse(Some(self.region), m.as_str()) {
                if phonenumber::is_valid(&number) {
                    let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
                    found.push((r, EntityKind::Phone, e164, "phonenumber"));
                }
            }
        }
        for caps in self.money_symbol.captures_iter(text) {
            let (Some(all), Some(sym), Some(amount)) = (caps.get(0), caps.get(1), caps.get(2)) else {
                continue;
            };
            if let (true, Some(value), Some(code)) = (
                free(&found, &all.range()),
                normalize_amount(amount.as_str()),
                currency_code(sym.as_str()),
            ) {
                found.push((all.range(), EntityKind::Money, format!("{value} {code}"), "money"));
            }
        }
        for caps in self.money_word.captures_iter(text) {
            let (Some(all), Some(amount), Some(word)) = (caps.get(0), caps.get(1), caps.get(2)) else {
                continue;
            };
            if let (true, Some(value), Some(code)) = (
                free(&found, &all.range()),
                normalize_amount(amount.as_str()),
                currency_code(word.as_str()),
            ) {
                found.push((all.range(), EntityKind::Money, format!("{value} {code}"), "money"));
            }
        }
        self.dates(text, today, &mut found);
        for (list, value, pattern) in &self.lookups {
            for m in pattern.find_iter(text) {
                if free(&found, &m.range()) {
                    found.push((m.range(), EntityKind::Lookup(list.clone()), value.clone(), "lookup"));
                }
            }
        }
        found.sort_by_key(|(r, ..)| r.start);
        found
            .into_iter()
            .map(|(r, kind, value, extractor)| Entity {
                kind,
                value,
                text: text[r.clone()].to_owned(),
                span: char_span(text, &r),
                extractor,
            })
            .collect()
    }

    fn dates(&self, text: &str, today: Date, found: &mut Vec<(Range<usize>, EntityKind, String, &'static str)>) {
        let push =
            |r: Range<usize>, date: Option<Date>, found: &mut Vec<(Range<usize>, EntityKind, String, &'static str)>| {
                if let Some(date) = date {
                    if found.iter().all(|(f, ..)| f.end <= r.start || r.end <= f.start) {
                        found.push((r, EntityKind::Date, date.to_string(), "date"));
                    }
                }
            };
        for c in self.es_day_month.captures_iter(text) {
            let date = (|| {
                let day: u8 = c.get(1)?.as_str().parse().ok()?;
                let month = month_number(c.get(2)?.as_str())?;
                nearest(today, month, day, c.get(3).and_then(|y| full_year(y.as_str())))
            })();
            push(c.get(0).map(|m| m.range()).unwrap_or_default(), date, found);
        }
        for c in self.en_month_day.captures_iter(text) {
            let date = (|| {
                let month = month_number(c.get(1)?.as_str())?;
                let day: u8 = c.get(2)?.as_str().parse().ok()?;
                nearest(today, month, day, c.get(3).and_then(|y| full_year(y.as_str())))
            })();
            push(c.get(0).map(|m| m.range()).unwrap_or_default(), date, found);
        }
        for c in self.en_day_month.captures_iter(text) {
            let date = (|| {
                let day: u8 = c.get(1)?.as_str().parse().ok()?;
                let month = month_number(c.get(2)?.as_str())?;
                nearest(today, month, day, c.get(3).and_then(|y| full_year(y.as_str())))
            })();
            push(c.get(0).map(|m| m.range()).unwrap_or_default(), date, found);
        }
        for c in self.numeric_date.captures_iter(text) {
            // The configured order, unless that cannot be a date (13/03 and 03/13 are both 13 March).
            let date = (|| {
                let a: u8 = c.get(1)?.as_str().parse().ok()?;
                let b: u8 = c.get(2)?.as_str().parse().ok()?;
                let year = c.get(3).and_then(|y| full_year(y.as_str()));
                let (day, month) = match (self.day_first, a > 12, b > 12) {
                    (_, true, false) => (a, b),
                    (_, false, true) => (b, a),
                    (true, _, _) => (a, b),
                    (false, _, _) => (b, a),
                };
                nearest(today, Month::try_from(month).ok()?, day, year)
            })();
            push(c.get(0).map(|m| m.range()).unwrap_or_default(), date, found);
        }
        for c in self.relative.captures_iter(text) {
            let Some(m) = c.get(1) else { continue };
            let word = m.as_str().to_lowercase();
            let before = text[..m.start()].to_lowercase();
            if word == "mañana"
                && ["esta ", "la ", "de la ", "por la "]
                    .iter()
                    .any(|p| before.ends_with(p))
            {
                continue; // "esta mañana" is this morning, not tomorrow
            }
            let offset = match word.as_str() {
                "day before yesterday" | "anteayer" | "antier" => -2,
                "yesterday" | "ayer" => -1,
                "today" | "hoy" => 0,
                "tomorrow" | "mañana" => 1,
                "pasado mañana" => 2,
                _ => continue,
            };
            push(m.range(), Some(today + Duration::days(offset)), found);
        }
        for c in self.weekday.captures_iter(text) {
            let (Some(all), Some(day)) = (c.get(0), c.get(2)) else {
                continue;
            };
            let Some(target) = weekday(day.as_str()) else { continue };
            let before = c.get(1).map(|m| m.as_str().to_lowercase());
            let after = c.get(3).map(|m| m.as_str().to_lowercase());
            let forward = matches!(before.as_deref(), Some("next"))
                || matches!(after.as_deref(), Some("que viene" | "próximo" | "proximo"));
            let back = matches!(before.as_deref(), Some("last")) || matches!(after.as_deref(), Some("pasado"));
            let date = if forward {
                Some(today.next_occurrence(target))
            } else if back || before.is_some() {
                // "last monday", "el lunes" and "on monday" in support talk mean the past one.
                Some(today.prev_occurrence(target))
            } else {
                continue;
            };
            push(all.range(), date, found);
        }
    }
}

/// Converts a byte range to a character range.
fn char_span(text: &str, bytes: &Range<usize>) -> Range<usize> {
    let start = text[..bytes.start].chars().count();
    start..start + text[bytes.clone()].chars().count()
}

#[cfg(test)]
mod tests;

//! Small text rules of the dialogue: filling `{name}` templates (with optional `[...]`
//! segments), telling a yes from a no in English and Spanish, and reading the last four
//! digits of a phone number.

use baton_domain::Values;

/// Fills `{name}` placeholders with `label(name, value)`. A `[...]` segment is kept only when
/// every placeholder inside it has a value; a placeholder without a value outside any
/// segment becomes empty.
pub fn render(template: &str, values: &Values, label: impl Fn(&str, &str) -> String) -> String {
    let mut out = String::new();
    let mut segment: Option<(String, bool)> = None;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' if segment.is_none() => segment = Some((String::new(), true)),
            ']' if segment.is_some() => {
                if let Some((text, complete)) = segment.take() {
                    if complete {
                        out.push_str(&text);
                    }
                }
            }
            '{' => {
                let mut name = String::new();
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                    name.push(n);
                }
                let value = values.get(name.trim()).filter(|v| !v.is_empty());
                let text = value.map(|v| label(name.trim(), v)).unwrap_or_default();
                match &mut segment {
                    Some((buffer, complete)) => {
                        *complete &= value.is_some();
                        buffer.push_str(&text);
                    }
                    None => out.push_str(&text),
                }
            }
            c => match &mut segment {
                Some((buffer, _)) => buffer.push(c),
                None => out.push(c),
            },
        }
    }
    if let Some((text, complete)) = segment {
        if complete {
            out.push_str(&text);
        }
    }
    out.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// A short answer to a yes-or-no question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
}

/// Words that answer yes when they open the reply.
const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "correct",
    "confirm",
    "confirmed",
    "absolutely",
    "definitely",
    "exactly",
    "si",
    "claro",
    "vale",
    "dale",
    "correcto",
    "adelante",
    "perfecto",
    "confirmo",
    "exacto",
    "venga",
    "bueno",
    "afirmativo",
];
/// Phrases that answer yes anywhere in a short reply.
const YES_PHRASES: &[&str] = &[
    "go ahead",
    "do it",
    "please do",
    "that's right",
    "thats right",
    "it helped",
    "that helped",
    "it did",
    "me sirvio",
    "me ayudo",
    "me ha servido",
    "me ha ayudado",
    "por supuesto",
    "hazlo",
];
/// Words that answer no when they open the reply.
const NO: &[&str] = &[
    "no", "nope", "nah", "not", "don't", "dont", "never", "nunca", "tampoco", "negativo",
];
/// Phrases that answer no anywhere in a short reply.
const NO_PHRASES: &[&str] = &[
    "didn't help",
    "didnt help",
    "did not help",
    "not really",
    "not helpful",
    "mejor no",
    "para nada",
    "no me sirvio",
    "no me ayudo",
    "no gracias",
    "no thanks",
    "don't do",
    "dont do",
];

fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'ä' => 'a',
        'é' | 'è' | 'ë' => 'e',
        'í' | 'ì' | 'ï' => 'i',
        'ó' | 'ò' | 'ö' => 'o',
        'ú' | 'ù' | 'ü' => 'u',
        c => c,
    }
}

/// Reads a yes or a no from a short reply to a yes-or-no question ("yes please", "sí,
/// adelante", "yes, cancel it", "no thanks", "not really", "mejor no"). `None` for a question
/// ("do I still get my money back?") or anything longer or unclear: a question is not consent,
/// and the message is handled as a new request.
pub fn yes_or_no(text: &str) -> Option<Answer> {
    if text.contains('?') || text.contains('¿') {
        return None;
    }
    let folded: String = text.to_lowercase().chars().map(fold).collect();
    let words: Vec<&str> = folded
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.len() > 8 {
        return None;
    }
    let phrase = words.join(" ");
    let has = |list: &[&str]| list.iter().any(|p| format!(" {phrase} ").contains(&format!(" {p} ")));
    if NO.contains(&words[0]) || has(NO_PHRASES) {
        return Some(Answer::No);
    }
    // "si" opens a condition as often as it says yes: only a short reply counts.
    if (YES.contains(&words[0]) && (words[0] != "si" || words.len() <= 3)) || has(YES_PHRASES) {
        return Some(Answer::Yes);
    }
    None
}

/// The last four digits of a phone number in a message: a group of exactly four digits, or
/// the last four of a longer run of digits that looks like a phone number.
pub fn last_four_digits(text: &str) -> Option<String> {
    let runs: Vec<String> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(four) = runs.iter().rev().find(|r| r.len() == 4) {
        return Some(four.clone());
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (digits.len() >= 7).then(|| digits[digits.len() - 4..].to_owned())
}

/// Words a short answer may have around its value ("el 54177", "it's 54177").
const MAX_ANSWER_WORDS: usize = 5;

/// Words that say nothing about what a value is, in English and Spanish: an answer
/// made of these and one value gives that value. A word outside them ("from 2024", "cost
/// 150", "my phone is 5550142", "28013 Madrid") says the number is something else.
const FILLER_WORDS: [&[&str]; 2] = [
    &[
        "the", "it", "it's", "its", "is", "was", "that's", "that", "this", "one", "my", "number", "order", "ok",
        "okay", "yes", "sure", "thanks", "thank", "you", "please", "i", "think", "here", "sorry", "oh",
    ],
    &[
        "el", "la", "es", "era", "número", "numero", "nº", "n°", "pedido", "mi", "sí", "si", "vale", "gracias", "por",
        "favor", "creo", "que", "aquí", "aqui", "perdón", "perdon", "pues",
    ],
];

/// The value of a short answer to a question the bot asked: a one-word answer such as
/// `54192`, `#54192` or `AB-1234`, or the one value-like word of an answer of at most
/// [`MAX_ANSWER_WORDS`] words whose other words are fillers ([`FILLER_WORDS`]: "el 54177",
/// "it's #54192, thanks"). Beside other words, the value must be at least three characters
/// with no more letters than digits. `None` for anything else.
pub fn bare_value(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if let [word] = words.as_slice() {
        return value_word(word).map(str::to_owned);
    }
    if words.len() > MAX_ANSWER_WORDS {
        return None;
    }
    let mut value = None;
    for word in &words {
        if let Some(found) = value_word(word) {
            if value.replace(found).is_some() {
                return None;
            }
        } else if !is_filler(word) {
            return None;
        }
    }
    let value = value?;
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let letters = value.chars().filter(char::is_ascii_alphabetic).count();
    (value.len() >= 3 && letters <= digits).then(|| value.to_owned())
}

fn is_filler(word: &str) -> bool {
    let word = word
        .trim_matches(|c: char| matches!(c, '.' | '!' | '?' | ',' | ';' | ':' | '¿' | '¡' | '"'))
        .replace('’', "'")
        .to_lowercase();
    FILLER_WORDS.iter().any(|language| language.contains(&word.as_str()))
}

/// `word` without a leading `#` and trailing punctuation, if it is a value: letters, digits
/// and hyphens, at least one digit.
fn value_word(word: &str) -> Option<&str> {
    let word = word
        .trim_start_matches('#')
        .trim_end_matches(['.', '!', '?', ',', ';', ':']);
    let plain = !word.is_empty()
        && word.len() <= 32
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && word.chars().any(|c| c.is_ascii_digit());
    plain.then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn templates_fill_values_and_drop_incomplete_segments() {
        let v = values(&[("order_number", "54192"), ("status", "shipped")]);
        let plain = |_: &str, v: &str| v.to_owned();
        assert_eq!(
            render("Order #{order_number} is {status}.[ Tracking: {tracking}.]", &v, plain),
            "Order #54192 is shipped."
        );
        let v = values(&[("tracking", "1Z999")]);
        assert_eq!(render("[Tracking: {tracking}.]", &v, plain), "Tracking: 1Z999.");
        let shout = |_: &str, v: &str| v.to_uppercase();
        assert_eq!(render("{tracking}", &v, shout), "1Z999".to_uppercase());
    }

    #[test]
    fn yes_and_no_in_both_languages() {
        for yes in [
            "yes",
            "Yes please",
            "sure, go ahead",
            "ok",
            "sí",
            "Sí, adelante",
            "vale",
            "claro que sí",
            "yes, no problem",
        ] {
            assert_eq!(yes_or_no(yes), Some(Answer::Yes), "{yes}");
        }
        for no in [
            "no",
            "No thanks",
            "not really",
            "nope",
            "mejor no",
            "no, gracias",
            "it didn't help",
            "para nada",
        ] {
            assert_eq!(yes_or_no(no), Some(Answer::No), "{no}");
        }
        for other in [
            "where is my order",
            "my card was charged twice last week for the same jacket order",
        ] {
            assert_eq!(yes_or_no(other), None, "{other}");
        }
    }

    #[test]
    fn bare_values_are_single_words_with_a_digit() {
        assert_eq!(bare_value(" #54192. ").as_deref(), Some("54192"));
        assert_eq!(bare_value("AB-1234").as_deref(), Some("AB-1234"));
        assert_eq!(bare_value("2").as_deref(), Some("2"));
        assert_eq!(bare_value("hello"), None);
    }

    #[test]
    fn a_short_answer_gives_its_one_value() {
        for (answer, value) in [
            ("el 54177", "54177"),
            ("es el #54177.", "54177"),
            ("it's 54177, thanks", "54177"),
            ("my order is 54192", "54192"),
            ("creo que AB-1234", "AB-1234"),
            ("¡Gracias! Es el número 54177.", "54177"),
        ] {
            assert_eq!(bare_value(answer).as_deref(), Some(value), "{answer}");
        }
        for answer in [
            "I ordered 2 shirts",
            "the 2nd one",
            "54192 or 54193",
            "54192 on March 3",
            "I think it was order 54192 but I am not sure",
            "no lo sé",
            // A number the other words say is something else.
            "it ends in 555-0142",
            "my phone is 5550142",
            "mi móvil es 612345678",
            "the one from 2024",
            "es de 2024",
            "it cost 150 dollars",
            "costó 150 euros",
            "from the 21st",
            "about 10am",
            "28013 Madrid",
        ] {
            assert_eq!(bare_value(answer), None, "{answer}");
        }
    }

    #[test]
    fn last_four_digits_of_a_phone() {
        assert_eq!(last_four_digits("it ends in 0142").as_deref(), Some("0142"));
        assert_eq!(last_four_digits("+1 415 555 0142").as_deref(), Some("0142"));
        assert_eq!(last_four_digits("4155550142").as_deref(), Some("0142"));
        assert_eq!(last_four_digits("no digits here"), None);
        assert_eq!(last_four_digits("order 54192"), None);
    }
}

//! Sentiment of one customer message, in the style of VADER (Hutto & Gilbert, 2014): a
//! lexicon of word valences adjusted for negation, intensifiers and dampeners, contrast
//! ("but", "pero"), emphasis by capitals and exclamation marks, then squashed into [-1, 1].
//! English and Spanish. Frustration markers (all caps, repeated punctuation, asking for a
//! human, "this is ridiculous", profanity) are reported separately: they drive escalation
//! even when the words themselves are neutral.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A sign of frustration, independent of the sentiment score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FrustrationMarker {
    /// Shouting: most letters in capitals.
    AllCaps,
    /// "!!", "??", "?!" and longer runs.
    RepeatedPunctuation,
    /// "HUMAN", "real person", "agente", "persona real"...
    AsksForHuman,
    /// "this is ridiculous", "unacceptable", "es una vergüenza"...
    Exasperation,
    Profanity,
}

/// The sentiment of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentiment {
    /// From -1 (most negative) to 1 (most positive); 0 is neutral.
    pub score: f32,
    pub markers: Vec<FrustrationMarker>,
}

const NEGATION_SCALAR: f32 = -0.74;
const BOOST: f32 = 0.293;
const CAPS_BOOST: f32 = 0.733;
const ALPHA: f32 = 15.0;

/// Word valences, -4 to 4 (VADER's scale), English and Spanish together: the words rarely clash.
const LEXICON: &[(&str, f32)] = &[
    // English, positive
    ("good", 1.9),
    ("great", 3.1),
    ("excellent", 3.2),
    ("amazing", 2.8),
    ("awesome", 3.1),
    ("perfect", 2.7),
    ("love", 3.2),
    ("loved", 2.9),
    ("like", 1.5),
    ("happy", 2.7),
    ("glad", 2.0),
    ("pleased", 1.9),
    ("thanks", 1.9),
    ("thank", 1.5),
    ("appreciate", 2.0),
    ("appreciated", 2.2),
    ("helpful", 1.8),
    ("nice", 1.8),
    ("kind", 2.0),
    ("fast", 1.2),
    ("quick", 1.2),
    ("easy", 1.9),
    ("resolved", 1.4),
    ("fixed", 1.2),
    ("works", 0.9),
    ("wonderful", 2.7),
    ("fantastic", 2.6),
    ("best", 3.2),
    ("better", 1.9),
    ("cool", 1.3),
    ("fine", 0.8),
    ("ok", 0.9),
    ("okay", 0.9),
    ("satisfied", 1.8),
    ("brilliant", 2.8),
    ("lovely", 2.8),
    ("super", 2.0),
    ("recommend", 1.5),
    ("smooth", 1.2),
    // English, negative
    ("bad", -2.5),
    ("terrible", -2.9),
    ("awful", -2.8),
    ("horrible", -2.5),
    ("worst", -3.1),
    ("worse", -2.1),
    ("hate", -2.7),
    ("angry", -2.3),
    ("annoyed", -1.6),
    ("annoying", -1.7),
    ("frustrated", -2.2),
    ("frustrating", -2.2),
    ("ridiculous", -1.9),
    ("useless", -1.8),
    ("slow", -1.0),
    ("broken", -1.6),
    ("late", -0.9),
    ("disappointed", -1.9),
    ("disappointing", -2.2),
    ("scam", -2.8),
    ("unacceptable", -2.3),
    ("waste", -1.8),
    ("wrong", -2.1),
    ("problem", -1.7),
    ("problems", -1.7),
    ("issue", -0.8),
    ("fail", -2.3),
    ("failed", -2.3),
    ("fails", -2.0),
    ("missing", -1.2),
    ("damaged", -1.9),
    ("lost", -1.3),
    ("never", -0.5),
    ("stupid", -2.4),
    ("incompetent", -2.3),
    ("rude", -2.0),
    ("upset", -1.6),
    ("furious", -3.0),
    ("sad", -2.1),
    ("unhappy", -1.8),
    ("poor", -2.1),
    ("confusing", -1.3),
    ("confused", -1.3),
    ("cheated", -2.5),
    ("stolen", -2.2),
    ("fraud", -2.6),
    ("disgusting", -2.9),
    ("pathetic", -2.4),
    ("joke", -0.6),
    ("nightmare", -2.6),
    ("sucks", -1.5),
    ("garbage", -2.2),
    ("trash", -2.0),
    ("crap", -1.6),
    ("mess", -1.5),
    ("sorry", -0.3),
    ("delay", -1.2),
    ("delayed", -1.3),
    ("overcharged", -2.0),
    ("hopeless", -2.0),
    ("charged", -0.4),
    ("twice", -0.3),
    ("still", -0.2),
    ("again", -0.2),
    ("ignored", -1.7),
    ("waiting", -0.5),
    // Spanish, positive
    ("bueno", 1.9),
    ("buena", 1.9),
    ("buenísimo", 2.8),
    ("genial", 3.0),
    ("excelente", 3.2),
    ("perfecto", 2.7),
    ("perfecta", 2.7),
    ("gracias", 1.9),
    ("encanta", 3.0),
    ("encantado", 2.5),
    ("encantada", 2.5),
    ("feliz", 2.7),
    ("contento", 2.0),
    ("contenta", 2.0),
    ("amable", 2.0),
    ("útil", 1.8),
    ("rápido", 1.2),
    ("rápida", 1.2),
    ("fácil", 1.9),
    ("resuelto", 1.4),
    ("solucionado", 1.4),
    ("maravilloso", 2.7),
    ("fantástico", 2.6),
    ("mejor", 1.9),
    ("estupendo", 2.7),
    ("bien", 1.5),
    ("agradezco", 2.0),
    ("satisfecho", 1.8),
    ("satisfecha", 1.8),
    ("vale", 0.6),
    // Spanish, negative
    ("malo", -2.5),
    ("mala", -2.5),
    ("mal", -2.1),
    ("pésimo", -3.0),
    ("pésima", -3.0),
    ("peor", -3.0),
    ("odio", -2.7),
    ("enojado", -2.3),
    ("enojada", -2.3),
    ("enfadado", -2.3),
    ("enfadada", -2.3),
    ("molesto", -1.7),
    ("molesta", -1.7),
    ("frustrado", -2.2),
    ("frustrada", -2.2),
    ("ridículo", -1.9),
    ("inútil", -1.8),
    ("inútiles", -1.8),
    ("lento", -1.0),
    ("roto", -1.6),
    ("rota", -1.6),
    ("tarde", -0.8),
    ("decepcionado", -1.9),
    ("decepcionada", -1.9),
    ("estafa", -2.8),
    ("inaceptable", -2.3),
    ("vergüenza", -2.0),
    ("fatal", -2.6),
    ("problema", -1.7),
    ("problemas", -1.7),
    ("falla", -2.0),
    ("fallo", -2.0),
    ("falló", -2.3),
    ("error", -1.5),
    ("perdido", -1.3),
    ("dañado", -1.9),
    ("dañada", -1.9),
    ("triste", -2.1),
    ("furioso", -3.0),
    ("furiosa", -3.0),
    ("harto", -2.4),
    ("harta", -2.4),
    ("cansado", -1.2),
    ("cansada", -1.2),
    ("robo", -2.4),
    ("fraude", -2.6),
    ("asco", -2.6),
    ("desastre", -2.6),
    ("nunca", -0.5),
    ("retraso", -1.2),
    ("cobraron", -0.4),
    ("esperando", -0.5),
    ("ignoran", -1.7),
];

/// Words that strengthen (positive) or weaken (negative) the next sentiment word.
const BOOSTERS: &[(&str, f32)] = &[
    ("very", BOOST),
    ("really", BOOST),
    ("extremely", BOOST),
    ("so", BOOST),
    ("totally", BOOST),
    ("absolutely", BOOST),
    ("incredibly", BOOST),
    ("completely", BOOST),
    ("too", BOOST),
    ("utterly", BOOST),
    ("super", BOOST),
    ("most", BOOST),
    ("such", BOOST),
    ("quite", BOOST * 0.5),
    ("slightly", -BOOST),
    ("somewhat", -BOOST),
    ("barely", -BOOST),
    ("little", -BOOST),
    ("kinda", -BOOST),
    ("muy", BOOST),
    ("realmente", BOOST),
    ("súper", BOOST),
    ("totalmente", BOOST),
    ("extremadamente", BOOST),
    ("tan", BOOST),
    ("demasiado", BOOST),
    ("bastante", BOOST * 0.5),
    ("completamente", BOOST),
    ("increíblemente", BOOST),
    ("poco", -BOOST),
    ("algo", -BOOST * 0.5),
    ("apenas", -BOOST),
];

const NEGATIONS: &[&str] = &[
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without", "cannot", "dont", "doesnt",
    "didnt", "isnt", "arent", "wasnt", "werent", "wont", "cant", "couldnt", "shouldnt", "wouldnt", "havent", "hasnt",
    "nunca", "jamás", "jamas", "ni", "nada", "nadie", "ningún", "ninguna", "ninguno", "sin", "tampoco",
];

const CONTRAST: &[&str] = &["but", "however", "pero", "sin embargo", "aunque"];

const ASKS_FOR_HUMAN: &[&str] = &[
    "human",
    "real person",
    "a person",
    "an agent",
    "live agent",
    "representative",
    "speak to someone",
    "talk to someone",
    "humano",
    "persona real",
    "una persona",
    "un agente",
    "agente",
    "hablar con alguien",
];

const EXASPERATION: &[&str] = &[
    "this is ridiculous",
    "ridiculous",
    "unacceptable",
    "are you kidding",
    "you're kidding",
    "seriously?",
    "this is a joke",
    "fed up",
    "sick of",
    "waste of time",
    "es ridículo",
    "qué vergüenza",
    "que verguenza",
    "es una vergüenza",
    "inaceptable",
    "estoy harto",
    "estoy harta",
    "es una broma",
    "me tienen harto",
    "me tienen harta",
    "pérdida de tiempo",
];

const PROFANITY: &[&str] = &[
    "damn", "dammit", "shit", "fuck", "fucking", "wtf", "bullshit", "crap", "hell", "bloody", "mierda", "joder",
    "carajo", "coño", "puta", "puto", "cabrón", "hostia", "maldita", "maldito",
];

fn lexicon() -> &'static HashMap<&'static str, f32> {
    static MAP: OnceLock<HashMap<&'static str, f32>> = OnceLock::new();
    MAP.get_or_init(|| LEXICON.iter().copied().collect())
}

fn boosters() -> &'static HashMap<&'static str, f32> {
    static MAP: OnceLock<HashMap<&'static str, f32>> = OnceLock::new();
    MAP.get_or_init(|| BOOSTERS.iter().copied().collect())
}

/// Words with their original form (for capitals) and a lower-case, apostrophe-free form.
fn words(text: &str) -> Vec<(&str, String)> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(|w| (w, w.to_lowercase().replace(['\'', '’'], "")))
        .collect()
}

fn is_shouting(word: &str) -> bool {
    word.chars().filter(|c| c.is_alphabetic()).count() >= 2 && word.chars().all(|c| !c.is_lowercase())
}

/// Scores one message.
pub fn analyze(text: &str) -> Sentiment {
    let words = words(text);
    let lexicon = lexicon();
    let boosters = boosters();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    let upper = text.chars().filter(|c| c.is_uppercase()).count();
    let mixed_case = upper > 0 && upper < letters;

    let mut valences: Vec<f32> = Vec::with_capacity(words.len());
    for (i, (original, word)) in words.iter().enumerate() {
        let Some(base) = lexicon.get(word.as_str()).copied() else {
            valences.push(0.0);
            continue;
        };
        let mut v = base;
        if mixed_case && is_shouting(original) {
            v += CAPS_BOOST * v.signum();
        }
        for distance in 1..=3 {
            let Some(j) = i.checked_sub(distance) else { break };
            let previous = words[j].1.as_str();
            if let Some(b) = boosters.get(previous) {
                let decay = [1.0, 0.95, 0.9][distance - 1];
                v += b * decay * v.signum();
            }
            if NEGATIONS.contains(&previous) {
                v *= NEGATION_SCALAR;
            }
        }
        valences.push(v);
    }
    // Contrast: what follows "but" counts more, what precedes it less.
    if let Some(k) = words.iter().position(|(_, w)| CONTRAST.contains(&w.as_str())) {
        for (i, v) in valences.iter_mut().enumerate() {
            *v *= if i < k {
                0.5
            } else if i > k {
                1.5
            } else {
                1.0
            };
        }
    }
    let mut sum: f32 = valences.iter().sum();
    if sum != 0.0 {
        let exclamations = text.matches('!').count().min(4) as f32 * 0.292;
        let questions = match text.matches('?').count() {
            0 | 1 => 0.0,
            q @ 2..=3 => q as f32 * 0.18,
            _ => 0.96,
        };
        sum += (exclamations + questions) * sum.signum();
    }
    let score = (sum / (sum * sum + ALPHA).sqrt()).clamp(-1.0, 1.0);
    Sentiment {
        score,
        markers: markers(text, &words, letters, upper),
    }
}

fn markers(text: &str, words: &[(&str, String)], letters: usize, upper: usize) -> Vec<FrustrationMarker> {
    let lower = text.to_lowercase();
    let mut found = Vec::new();
    if letters >= 6 && upper * 10 >= letters * 7 {
        found.push(FrustrationMarker::AllCaps);
    }
    let chars: Vec<char> = text.chars().collect();
    if chars
        .windows(2)
        .any(|w| matches!(w[0], '!' | '?' | '¡' | '¿') && matches!(w[1], '!' | '?' | '¡' | '¿'))
    {
        found.push(FrustrationMarker::RepeatedPunctuation);
    }
    let contains_phrase = |phrases: &[&str]| {
        phrases.iter().any(|p| {
            if p.contains(' ') || p.contains('?') {
                lower.contains(p)
            } else {
                words.iter().any(|(_, w)| w == p)
            }
        })
    };
    if contains_phrase(ASKS_FOR_HUMAN) {
        found.push(FrustrationMarker::AsksForHuman);
    }
    if contains_phrase(EXASPERATION) {
        found.push(FrustrationMarker::Exasperation);
    }
    if contains_phrase(PROFANITY) {
        found.push(FrustrationMarker::Profanity);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(text: &str) -> f32 {
        analyze(text).score
    }

    #[test]
    fn polarity_in_both_languages() {
        assert!(score("thanks, that was great") > 0.5);
        assert!(score("this is terrible service") < -0.4);
        assert!(score("muchas gracias, excelente") > 0.5);
        assert!(score("el servicio es pésimo") < -0.4);
        assert_eq!(score("where is my order"), 0.0);
        assert_eq!(score("¿dónde está mi pedido?"), 0.0);
    }

    #[test]
    fn negation_flips_and_softens() {
        assert!(score("the app is good") > 0.0);
        assert!(score("the app is not good") < 0.0);
        assert!(score("the app isn't good") < 0.0);
        assert!(score("no es bueno") < 0.0);
        assert!(score("not bad") > 0.0);
        assert!(score("not bad").abs() < score("bad").abs());
    }

    #[test]
    fn intensifiers_and_dampeners() {
        assert!(score("very bad") < score("bad"));
        assert!(score("muy malo") < score("malo"));
        assert!(score("slightly bad") > score("bad"));
        assert!(score("extremely happy") > score("happy"));
    }

    #[test]
    fn but_shifts_weight_to_what_follows() {
        assert!(score("the agent was nice but the refund failed") < 0.0);
        assert!(score("el envío fue lento pero el agente fue muy amable") > 0.0);
    }

    #[test]
    fn capitals_and_exclamations_add_emphasis() {
        assert!(score("this is BAD") < score("this is bad"));
        assert!(score("this is bad!!!") < score("this is bad"));
        assert!(score("great!") > score("great"));
    }

    #[test]
    fn scores_stay_in_range() {
        let s = score(&"TERRIBLE AWFUL HORRIBLE WORST!!!! ".repeat(500));
        assert!((-1.0..=1.0).contains(&s) && s < -0.99);
        assert!((-1.0..=1.0).contains(&score(&"great ".repeat(10_000))));
        assert_eq!(score(""), 0.0);
    }

    #[test]
    fn frustration_markers_are_reported_separately() {
        let s = analyze("WHERE IS MY ORDER?? I WANT A HUMAN");
        assert!(s.markers.contains(&FrustrationMarker::AllCaps));
        assert!(s.markers.contains(&FrustrationMarker::RepeatedPunctuation));
        assert!(s.markers.contains(&FrustrationMarker::AsksForHuman));
        assert_eq!(
            analyze("this is ridiculous").markers,
            vec![FrustrationMarker::Exasperation]
        );
        assert_eq!(
            analyze("qué vergüenza, quiero hablar con una persona real").markers,
            vec![FrustrationMarker::AsksForHuman, FrustrationMarker::Exasperation]
        );
        assert_eq!(analyze("what the hell").markers, vec![FrustrationMarker::Profanity]);
        assert!(analyze("Where is my order?").markers.is_empty());
        assert!(analyze("OK").markers.is_empty(), "a short capital word is not shouting");
        assert!(!analyze("I'm a humanist")
            .markers
            .contains(&FrustrationMarker::AsksForHuman));
    }
}

//! What the customer reads while they wait, per language: a line for each moment of the
//! wait ([`Cue`]), each with variants so that the same line never comes twice in a row.
//! Lines are templates (`{team}`, `{wait}`, `{agent}`...; a `[...]` part shows only when all
//! its values are known).

use baton_dialogue::text::render;
use baton_domain::Values;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Variants of one line, per language.
pub type Lines = BTreeMap<String, Vec<String>>;

/// A moment of the wait that the customer is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cue {
    /// In the queue, with the estimated wait (`{team}`, `{wait}`, `{position}`).
    Queued,
    /// The estimate changed meaningfully (`{wait}`).
    EstimateChanged,
    /// A while passed with no news.
    StillLooking,
    /// An offer is out: a person is looking at the case.
    Reviewing,
    /// An agent took the conversation (`{agent}`).
    Joined,
    /// The queue is closed and keeps the customer waiting (`{team}`, `{opens}`).
    ClosedWait,
    /// A ticket carries the case (`{team}`, `{ticket}`, `{reply_by}`, `{contact}`).
    Ticket,
    /// The customer chose a callback or an email: a ticket carries the case (`{ticket}`,
    /// `{reply_by}`, `{contact}`).
    FollowUp,
    /// A ticket was opened but Baton knows no way to answer: ask for one.
    AskContact,
    /// A long wait: offer a callback or an email instead (`{wait}`).
    CallbackOffer,
    /// An agent passed the conversation on (`{agent}` or `{team}`).
    Transferred,
    /// The agent handed the conversation back to the bot.
    HandedBack,
}

/// The narration's words, per cue; the demo's wording when the configuration has none.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Narration {
    pub queued: Lines,
    pub estimate_changed: Lines,
    pub still_looking: Lines,
    pub reviewing: Lines,
    pub joined: Lines,
    pub closed_wait: Lines,
    pub ticket: Lines,
    pub follow_up: Lines,
    pub ask_contact: Lines,
    pub callback_offer: Lines,
    pub transferred: Lines,
    pub handed_back: Lines,
    /// How a wait is said: under a minute, in minutes (`{minutes}`), in hours (`{hours}`).
    pub wait_soon: Lines,
    pub wait_minutes: Lines,
    pub wait_hours: Lines,
    /// The quick replies of the callback offer.
    pub callback_label: Lines,
    pub email_label: Lines,
}

impl Narration {
    fn lines(&self, cue: Cue) -> &Lines {
        match cue {
            Cue::Queued => &self.queued,
            Cue::EstimateChanged => &self.estimate_changed,
            Cue::StillLooking => &self.still_looking,
            Cue::Reviewing => &self.reviewing,
            Cue::Joined => &self.joined,
            Cue::ClosedWait => &self.closed_wait,
            Cue::Ticket => &self.ticket,
            Cue::FollowUp => &self.follow_up,
            Cue::AskContact => &self.ask_contact,
            Cue::CallbackOffer => &self.callback_offer,
            Cue::Transferred => &self.transferred,
            Cue::HandedBack => &self.handed_back,
        }
    }

    /// Every set of lines with its name (for the configuration's checks).
    pub fn all(&self) -> [(&'static str, &Lines); 17] {
        [
            ("queued", &self.queued),
            ("estimate_changed", &self.estimate_changed),
            ("still_looking", &self.still_looking),
            ("reviewing", &self.reviewing),
            ("joined", &self.joined),
            ("closed_wait", &self.closed_wait),
            ("ticket", &self.ticket),
            ("follow_up", &self.follow_up),
            ("ask_contact", &self.ask_contact),
            ("callback_offer", &self.callback_offer),
            ("transferred", &self.transferred),
            ("handed_back", &self.handed_back),
            ("wait_soon", &self.wait_soon),
            ("wait_minutes", &self.wait_minutes),
            ("wait_hours", &self.wait_hours),
            ("callback_label", &self.callback_label),
            ("email_label", &self.email_label),
        ]
    }

    /// The line for `cue` in `language` (else `fallback`), filled with `values`: the first
    /// variant that differs from `last`, the line the customer read before.
    pub fn line(&self, cue: Cue, language: &str, fallback: &str, values: &Values, last: Option<&str>) -> String {
        let variants = pick(self.lines(cue), language, fallback);
        let mut first = None;
        for variant in variants {
            let text = render(variant, values, |_, v| v.to_owned());
            if last != Some(text.as_str()) {
                return text;
            }
            first.get_or_insert(text);
        }
        first.unwrap_or_default()
    }

    /// A wait of `seconds`, in words.
    pub fn wait(&self, seconds: u64, language: &str, fallback: &str) -> String {
        let mut values = Values::new();
        let lines = if seconds < 60 {
            &self.wait_soon
        } else if seconds < 90 * 60 {
            values.insert("minutes".into(), seconds.div_ceil(60).to_string());
            &self.wait_minutes
        } else {
            values.insert("hours".into(), seconds.div_ceil(3600).to_string());
            &self.wait_hours
        };
        self.first(lines, language, fallback, &values)
    }

    /// The first variant of a set of lines (labels, fixed words).
    pub fn first(&self, lines: &Lines, language: &str, fallback: &str, values: &Values) -> String {
        pick(lines, language, fallback)
            .first()
            .map(|t| render(t, values, |_, v| v.to_owned()))
            .unwrap_or_default()
    }
}

fn pick<'a>(lines: &'a Lines, language: &str, fallback: &str) -> &'a [String] {
    lines
        .get(language)
        .or_else(|| lines.get(fallback))
        .or_else(|| lines.values().next())
        .map_or(&[], Vec::as_slice)
}

impl Default for Narration {
    /// The demo's narration (read from the demo file alone: the rest of `[routing]` defaults
    /// to this, so it must not be read through [`crate::RoutingConfig`]).
    fn default() -> Self {
        #[derive(Deserialize)]
        struct File {
            routing: Section,
        }
        #[derive(Deserialize)]
        struct Section {
            narration: Narration,
        }
        // The demo file is part of the binary and checked by a unit test.
        toml::from_str::<File>(crate::config::DEMO_ROUTING_TOML)
            .map(|f| f.routing.narration)
            .unwrap_or_else(|e| panic!("the demo narration: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_the_same_line_twice_in_a_row() {
        let narration = Narration::default();
        let values = Values::new();
        for language in ["en", "es"] {
            let first = narration.line(Cue::StillLooking, language, "en", &values, None);
            let second = narration.line(Cue::StillLooking, language, "en", &values, Some(&first));
            let third = narration.line(Cue::StillLooking, language, "en", &values, Some(&second));
            assert_ne!(first, second, "{language}");
            assert_ne!(second, third, "{language}");
            assert!(!first.is_empty());
        }
    }

    #[test]
    fn lines_speak_the_customers_language_and_fill_their_values() {
        let narration = Narration::default();
        let mut values = Values::new();
        values.insert("agent".into(), "Nina".into());
        let en = narration.line(Cue::Joined, "en", "en", &values, None);
        let es = narration.line(Cue::Joined, "es", "en", &values, None);
        assert!(en.contains("Nina") && es.contains("Nina"), "{en} / {es}");
        assert_ne!(en, es);
        // A language without lines falls back to the default one.
        assert_eq!(narration.line(Cue::Joined, "de", "en", &values, None), en);
    }

    #[test]
    fn waits_read_naturally() {
        let narration = Narration::default();
        assert_eq!(narration.wait(20, "en", "en"), "less than a minute");
        assert_eq!(narration.wait(61, "en", "en"), "about 2 minutes");
        assert_eq!(narration.wait(3 * 3600, "es", "en"), "unas 3 horas");
    }
}

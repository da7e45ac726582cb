//! The `[routing]` section: agents (skills, languages, capacity, team), the queues' staffing
//! (languages, hours, maximum wait), business hours, priority rules, offers and presence, and
//! the narration's words. [`RoutingConfig::check`] turns it into a [`Routing`] against the
//! handoff's queues (which say which intents, tiers and reasons go where, and the skills each
//! needs), or an error naming the bad entry.

use crate::hours::{AfterHours, HoursError, Schedule};
use crate::narration::Narration;
use crate::plan::{OnDuty, Presence, Waiting};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The demo shop's routing: billing, orders and VIP queues in English and Spanish, open around
/// the clock, and a trust-and-safety queue with office hours that shows the after-hours path.
pub const DEMO_ROUTING_TOML: &str = include_str!("../demo/routing.toml");

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Seconds an offer waits for the agent before it moves on to the next one.
    pub offer_timeout_seconds: u64,
    /// Seconds an agent whose last stream dropped stays online (a page reload) before going away.
    pub presence_grace_seconds: u64,
    /// The handle time assumed until handle times are measured.
    pub handle_seconds: u64,
    /// Seconds without news after which the waiting customer hears a progress cue.
    pub progress_every_seconds: u64,
    /// Past this wait the customer is offered a callback or an email instead.
    pub callback_after_seconds: u64,
    /// With nobody on duty who can serve a handoff for this long, a ticket carries it.
    pub nobody_eligible_after_seconds: u64,
    /// A ticket promises an answer within this many hours (or when a closed queue opens).
    pub ticket_reply_hours: u64,
    /// While the customer waits, the bot still understands what they write and records the
    /// details the brief lacks (an order number, an email) for the agent; it never answers.
    pub collect_while_waiting: bool,
    pub priority: PriorityRules,
    /// The profile of an agent the configuration does not list.
    pub default_agent: AgentProfile,
    pub agents: Vec<AgentEntry>,
    /// Staffing per queue (by the handoff queue's name); a queue not listed speaks every
    /// language and is open around the clock.
    pub queues: BTreeMap<String, QueueStaffing>,
    /// Named weekly hours, for `queues.*.hours`.
    pub hours: BTreeMap<String, HoursEntry>,
    pub narration: Narration,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            offer_timeout_seconds: 30,
            presence_grace_seconds: 60,
            handle_seconds: 300,
            progress_every_seconds: 90,
            callback_after_seconds: 600,
            nobody_eligible_after_seconds: 60,
            ticket_reply_hours: 24,
            collect_while_waiting: true,
            priority: PriorityRules::default(),
            default_agent: AgentProfile::default(),
            agents: Vec::new(),
            queues: BTreeMap::new(),
            hours: BTreeMap::new(),
            narration: Narration::default(),
        }
    }
}

/// How a waiting handoff's priority is raised beyond the escalation's own.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityRules {
    /// Steps up per account tier (`vip = 1`).
    pub tiers: BTreeMap<String, u64>,
    /// A customer whose mood fell to this (or below) goes one step up.
    pub negative_mood: f32,
    /// One step up for every this many minutes waited, so no class starves (0: never).
    pub age_step_minutes: u64,
}

impl Default for PriorityRules {
    fn default() -> Self {
        PriorityRules {
            tiers: BTreeMap::new(),
            negative_mood: -0.5,
            age_step_minutes: 10,
        }
    }
}

/// What an agent can take.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    /// Conversations at once.
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    #[serde(default)]
    pub team: Option<String>,
}

fn default_capacity() -> u32 {
    2
}

impl Default for AgentProfile {
    fn default() -> Self {
        AgentProfile {
            skills: vec!["general".into()],
            languages: Vec::new(),
            capacity: default_capacity(),
            team: None,
        }
    }
}

/// One agent's profile, by the email they log in with.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    pub email: String,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default = "default_capacity")]
    pub capacity: u32,
    #[serde(default)]
    pub team: Option<String>,
}

impl AgentEntry {
    pub fn profile(&self) -> AgentProfile {
        AgentProfile {
            skills: self.skills.clone(),
            languages: self.languages.clone(),
            capacity: self.capacity,
            team: self.team.clone(),
        }
    }
}

/// A queue's staffing.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct QueueStaffing {
    /// The languages it serves; every language when absent.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// The name of its hours (`[routing.hours.NAME]`); open around the clock when absent.
    #[serde(default)]
    pub hours: Option<String>,
    /// The longest a customer should wait; past it the customer is offered a callback.
    #[serde(default)]
    pub max_wait_seconds: Option<u64>,
}

/// Weekly hours as written: a zone, a window per day, holidays, the after-hours policy.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HoursEntry {
    pub zone: String,
    pub mon: Option<String>,
    pub tue: Option<String>,
    pub wed: Option<String>,
    pub thu: Option<String>,
    pub fri: Option<String>,
    pub sat: Option<String>,
    pub sun: Option<String>,
    #[serde(default)]
    pub holidays: Vec<String>,
    #[serde(default)]
    pub after_hours: AfterHours,
}

/// A handoff queue as routing needs it: its name and the skills it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSkills {
    pub name: String,
    pub skills: Vec<String>,
}

/// A bad entry of `[routing]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing.{entry}: {problem}")]
pub struct RoutingConfigError {
    pub entry: String,
    pub problem: String,
}

/// A queue, checked: skills, languages, hours.
#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub schedule: Option<Schedule>,
    pub max_wait_seconds: Option<u64>,
}

/// The routing configuration, checked against the handoff's queues and languages.
#[derive(Debug, Clone)]
pub struct Routing {
    pub config: RoutingConfig,
    pub queues: BTreeMap<String, Queue>,
    pub languages: Vec<String>,
    pub default_language: String,
}

impl RoutingConfig {
    /// The demo's `[routing]` section.
    pub fn demo() -> Self {
        #[derive(Deserialize)]
        struct File {
            routing: RoutingConfig,
        }
        // The demo file is part of the binary and checked by a unit test.
        toml::from_str::<File>(DEMO_ROUTING_TOML)
            .map(|f| f.routing)
            .unwrap_or_else(|e| panic!("the demo routing configuration: {e}"))
    }

    /// The profile of the agent with `email`: their entry, else the default profile.
    pub fn profile(&self, email: &str) -> AgentProfile {
        self.agents
            .iter()
            .find(|a| a.email.eq_ignore_ascii_case(email))
            .map_or_else(|| self.default_agent.clone(), AgentEntry::profile)
    }

    /// Checks every entry against the handoff's `queues` and `languages` (the first is the
    /// default) and builds the schedules.
    pub fn check(self, queues: &[QueueSkills], languages: &[String]) -> Result<Routing, RoutingConfigError> {
        fn err<T>(entry: String, problem: String) -> Result<T, RoutingConfigError> {
            Err(RoutingConfigError { entry, problem })
        }
        for (name, value) in [
            ("offer_timeout_seconds", self.offer_timeout_seconds),
            ("presence_grace_seconds", self.presence_grace_seconds),
            ("handle_seconds", self.handle_seconds),
            ("progress_every_seconds", self.progress_every_seconds),
            ("callback_after_seconds", self.callback_after_seconds),
            ("ticket_reply_hours", self.ticket_reply_hours * 3600),
        ] {
            if value == 0 || value > 7 * 24 * 3600 {
                return err(name.into(), "must be between 1 and 604800 seconds".into());
            }
        }
        let known_skills: Vec<&str> = queues
            .iter()
            .flat_map(|q| q.skills.iter().map(String::as_str))
            .collect();
        let check_profile = |entry: &str, profile: &AgentProfile| -> Result<(), RoutingConfigError> {
            if let Some(skill) = profile.skills.iter().find(|s| !known_skills.contains(&s.as_str())) {
                return err(
                    format!("{entry}.skills"),
                    format!(
                        "`{skill}` is not a skill any queue asks for (known: {})",
                        known_skills.join(", ")
                    ),
                );
            }
            if let Some(language) = profile.languages.iter().find(|l| !languages.contains(l)) {
                return err(
                    format!("{entry}.languages"),
                    format!("`{language}` is not one of the languages ({})", languages.join(", ")),
                );
            }
            if profile.capacity == 0 || profile.capacity > 50 {
                return err(format!("{entry}.capacity"), "must be between 1 and 50".into());
            }
            Ok(())
        };
        check_profile("default_agent", &self.default_agent)?;
        for (i, agent) in self.agents.iter().enumerate() {
            let entry = format!("agents[{i}] ({})", agent.email);
            if !agent.email.contains('@') {
                return err(entry, "`email` is not an email address".into());
            }
            if self.agents[..i]
                .iter()
                .any(|a| a.email.eq_ignore_ascii_case(&agent.email))
            {
                return err(entry, "the same email appears twice".into());
            }
            if agent.languages.is_empty() {
                return err(format!("{entry}.languages"), "needs at least one language".into());
            }
            check_profile(&entry, &agent.profile())?;
        }
        if let Some((tier, _)) = self.priority.tiers.iter().find(|(_, steps)| **steps > 3) {
            return err(
                format!("priority.tiers.{tier}"),
                "at most 3 steps (low to urgent)".into(),
            );
        }
        let mut schedules = BTreeMap::new();
        for (name, h) in &self.hours {
            let week = [&h.mon, &h.tue, &h.wed, &h.thu, &h.fri, &h.sat, &h.sun].map(Option::as_deref);
            let schedule = Schedule::new(&h.zone, week, &h.holidays, h.after_hours).map_err(|e| {
                let field = match e {
                    HoursError::Zone(_) => "zone",
                    HoursError::Window(_) => "a day's window",
                    HoursError::Holiday(_) => "holidays",
                };
                RoutingConfigError {
                    entry: format!("hours.{name} ({field})"),
                    problem: e.to_string(),
                }
            })?;
            schedules.insert(name.clone(), schedule);
        }
        if let Some(name) = self.queues.keys().find(|n| !queues.iter().any(|q| &q.name == *n)) {
            let names: Vec<&str> = queues.iter().map(|q| q.name.as_str()).collect();
            return err(
                format!("queues.{name}"),
                format!("no handoff queue has this name (queues: {})", names.join(", ")),
            );
        }
        let mut checked = BTreeMap::new();
        for queue in queues {
            let staffing = self.queues.get(&queue.name).cloned().unwrap_or_default();
            let entry = format!("queues.{}", queue.name);
            let queue_languages = staffing.languages.clone().unwrap_or_else(|| languages.to_vec());
            if let Some(language) = queue_languages.iter().find(|l| !languages.contains(l)) {
                return err(
                    format!("{entry}.languages"),
                    format!("`{language}` is not one of the languages ({})", languages.join(", ")),
                );
            }
            let schedule = match &staffing.hours {
                Some(name) => Some(schedules.get(name).cloned().ok_or_else(|| RoutingConfigError {
                    entry: format!("{entry}.hours"),
                    problem: format!("no `[routing.hours.{name}]` is defined"),
                })?),
                None => None,
            };
            // A queue nobody listed can serve is a queue whose customers wait forever.
            let probe = |language: &str| Waiting {
                handoff: baton_domain::HandoffId {
                    conversation_id: baton_domain::ConversationId(uuid_nil()),
                    seq: 1,
                },
                queue: queue.name.clone(),
                skills: queue.skills.clone(),
                language: language.to_owned(),
                priority: baton_domain::Priority::Normal,
                since: time::OffsetDateTime::UNIX_EPOCH,
                offered_to: None,
                passed: Vec::new(),
                target: None,
                held: false,
            };
            for language in &queue_languages {
                let served = self.agents.iter().any(|a| {
                    OnDuty {
                        id: baton_domain::AgentId(uuid_nil()),
                        skills: a.skills.clone(),
                        languages: a.languages.clone(),
                        capacity: a.capacity,
                        load: 0,
                        presence: Presence::Online,
                        free_since: time::OffsetDateTime::UNIX_EPOCH,
                    }
                    .can_serve(&probe(language))
                });
                if !served {
                    return err(
                        entry,
                        format!(
                            "no agent can serve it in `{language}` (it needs the skills [{}]); add one to `[[routing.agents]]`",
                            queue.skills.join(", ")
                        ),
                    );
                }
            }
            checked.insert(
                queue.name.clone(),
                Queue {
                    name: queue.name.clone(),
                    skills: queue.skills.clone(),
                    languages: queue_languages,
                    schedule,
                    max_wait_seconds: staffing.max_wait_seconds,
                },
            );
        }
        for (name, lines) in self.narration.all() {
            for language in languages {
                if lines
                    .get(language)
                    .is_none_or(|v| v.is_empty() || v.iter().any(|t| t.trim().is_empty()))
                {
                    return err(format!("narration.{name}"), format!("needs lines in `{language}`"));
                }
            }
        }
        Ok(Routing {
            config: self,
            queues: checked,
            languages: languages.to_vec(),
            default_language: languages.first().cloned().unwrap_or_else(|| "en".into()),
        })
    }
}

fn uuid_nil() -> uuid::Uuid {
    uuid::Uuid::nil()
}

impl Routing {
    pub fn queue(&self, name: &str) -> Option<&Queue> {
        self.queues.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_queues() -> Vec<QueueSkills> {
        [
            ("trust_and_safety", vec!["compliance", "fraud"]),
            ("vip", vec!["vip", "billing", "orders"]),
            ("billing", vec!["billing", "refunds"]),
            ("orders", vec!["orders", "shipping"]),
            ("general", vec!["general"]),
        ]
        .into_iter()
        .map(|(name, skills)| QueueSkills {
            name: name.into(),
            skills: skills.into_iter().map(String::from).collect(),
        })
        .collect()
    }

    fn languages() -> Vec<String> {
        vec!["en".into(), "es".into()]
    }

    fn parse(text: &str) -> RoutingConfig {
        #[derive(Deserialize)]
        struct File {
            routing: RoutingConfig,
        }
        toml::from_str::<File>(text).expect("parses").routing
    }

    #[test]
    fn the_demo_checks() {
        let routing = parse(DEMO_ROUTING_TOML)
            .check(&demo_queues(), &languages())
            .expect("the demo routing is valid");
        assert!(routing
            .queue("trust_and_safety")
            .and_then(|q| q.schedule.as_ref())
            .is_some());
        for name in ["billing", "orders", "vip"] {
            let queue = routing.queue(name).expect("demo queue");
            assert!(queue.schedule.is_none(), "{name} is open around the clock");
            assert_eq!(queue.languages, languages(), "{name}");
        }
    }

    #[test]
    fn errors_name_the_bad_entry() {
        let agent = |skills: &[&str], languages: &[&str]| AgentEntry {
            email: "x@y.z".into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            languages: languages.iter().map(|s| s.to_string()).collect(),
            capacity: 2,
            team: None,
        };
        let hours = |zone: &str, mon: &str| HoursEntry {
            zone: zone.into(),
            mon: Some(mon.into()),
            tue: None,
            wed: None,
            thu: None,
            fri: None,
            sat: None,
            sun: None,
            holidays: Vec::new(),
            after_hours: AfterHours::Ticket,
        };
        type Change = Box<dyn Fn(&mut RoutingConfig)>;
        let cases: Vec<(Change, &str, &str)> = vec![
            (
                Box::new(move |c| c.agents.push(agent(&["biling"], &["en"]))),
                "agents[",
                "biling",
            ),
            (
                Box::new(move |c| c.agents.push(agent(&["billing"], &["fr"]))),
                "agents[",
                "`fr`",
            ),
            (
                Box::new(move |c| {
                    c.hours.insert("night".into(), hours("Mars/Base", "09:00-17:00"));
                }),
                "hours.night (zone)",
                "Mars/Base",
            ),
            (
                Box::new(move |c| {
                    c.hours.insert("night".into(), hours("UTC", "17:00-09:00"));
                }),
                "hours.night",
                "17:00-09:00",
            ),
            (
                Box::new(|c| {
                    c.queues.insert("nowhere".into(), QueueStaffing::default());
                }),
                "queues.nowhere",
                "no handoff queue",
            ),
            (
                Box::new(|c| {
                    c.queues.entry("orders".into()).or_default().hours = Some("missing".into());
                }),
                "queues.orders.hours",
                "missing",
            ),
            (
                Box::new(|c| c.offer_timeout_seconds = 0),
                "offer_timeout_seconds",
                "between",
            ),
        ];
        for (change, entry, detail) in cases {
            let mut config = RoutingConfig::demo();
            change(&mut config);
            let message = config.check(&demo_queues(), &languages()).expect_err(entry).to_string();
            assert!(
                message.contains(entry) && message.contains(detail),
                "{entry}: {message}"
            );
        }
    }

    #[test]
    fn a_queue_no_agent_can_serve_is_refused() {
        let mut config = RoutingConfig::demo();
        config.agents.retain(|a| !a.skills.iter().any(|s| s == "compliance"));
        let message = config
            .check(&demo_queues(), &languages())
            .expect_err("unstaffed")
            .to_string();
        assert!(message.contains("queues.trust_and_safety"), "{message}");
        assert!(message.contains("compliance"), "{message}");
    }

    #[test]
    fn unlisted_agents_get_the_default_profile() {
        let config = RoutingConfig::demo();
        assert_eq!(config.profile("someone@else.example"), config.default_agent);
        assert!(config
            .profile("NINA@demo.baton.chat")
            .skills
            .contains(&"billing".to_owned()));
    }
}

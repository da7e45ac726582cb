//! The routing decisions, pure functions of a snapshot: the waiting handoffs, the agents on
//! duty and the clock.
//!
//! - **Eligible** means the agent speaks the conversation's language and has every skill its
//!   queue asks for; nobody else is ever offered it (a transfer to a named agent is the one
//!   exception: the agent who transfers chose them; once that agent passes on it, or while
//!   they are not online, it goes to the queue like any other).
//! - **Order**: the highest priority first (aged: a long wait raises it step by step, so no
//!   class starves), then the longest wait.
//! - **Who**: among eligible agents online with a free seat, the least loaded, then the one
//!   free the longest. An agent who declined (or let expire) an offer of this handoff is asked
//!   again only once every eligible agent has passed.

use crate::config::PriorityRules;
use baton_domain::{AgentId, HandoffId, Priority};
use time::OffsetDateTime;

/// An agent's availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Takes offers.
    Online,
    /// Keeps their conversations, takes no offers.
    Away,
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        }
    }
}

/// An agent as routing sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct OnDuty {
    pub id: AgentId,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub capacity: u32,
    /// Conversations they own plus offers out to them.
    pub load: u32,
    pub presence: Presence,
    /// Since when their load last fell (ties go to the one free the longest).
    pub free_since: OffsetDateTime,
}

impl OnDuty {
    pub fn has_seat(&self) -> bool {
        self.presence == Presence::Online && self.load < self.capacity
    }

    /// Speaks the language and has every skill the queue asks for.
    pub fn can_serve(&self, waiting: &Waiting) -> bool {
        self.languages.contains(&waiting.language) && waiting.skills.iter().all(|s| self.skills.iter().any(|k| k == s))
    }
}

/// A handoff waiting for an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub handoff: HandoffId,
    pub queue: String,
    /// The queue's skills.
    pub skills: Vec<String>,
    pub language: String,
    /// The priority it was queued with (the handoff's, raised by tier and mood).
    pub priority: Priority,
    pub since: OffsetDateTime,
    /// An offer is out (to this agent) and has not been answered.
    pub offered_to: Option<AgentId>,
    /// Agents who declined or let an offer of it expire.
    pub passed: Vec<AgentId>,
    /// Transferred to this agent by name: only they are offered it, until they pass on it.
    pub target: Option<AgentId>,
    /// Not offered to anyone (its queue is closed and keeps it waiting, or a ticket took it).
    pub held: bool,
}

/// One decision: offer `handoff` to `agent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub handoff: HandoffId,
    pub agent: AgentId,
}

const LEVELS: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

fn level(priority: Priority) -> usize {
    LEVELS.iter().position(|p| *p == priority).unwrap_or(1)
}

/// `priority` raised by `steps` (urgent at most).
pub fn raised(priority: Priority, steps: u64) -> Priority {
    LEVELS[(level(priority) as u64 + steps).min(3) as usize]
}

/// The priority `waiting` has at `now`: its own, one step up for each `age_step_minutes`
/// waited.
pub fn aged(waiting: &Waiting, rules: &PriorityRules, now: OffsetDateTime) -> Priority {
    let waited = (now - waiting.since).whole_minutes().max(0) as u64;
    let steps = match rules.age_step_minutes {
        0 => 0,
        step => waited / step,
    };
    raised(waiting.priority, steps)
}

/// The waiting handoffs in the order they are served: highest aged priority, then longest
/// wait, then handoff id (so equal snapshots give equal orders).
pub fn order(waiting: &[Waiting], rules: &PriorityRules, now: OffsetDateTime) -> Vec<usize> {
    let mut keyed: Vec<(std::cmp::Reverse<usize>, OffsetDateTime, HandoffId, usize)> = waiting
        .iter()
        .enumerate()
        .map(|(i, w)| (std::cmp::Reverse(level(aged(w, rules, now))), w.since, w.handoff, i))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, _, _, i)| i).collect()
}

/// The offers to make now. Agents' loads count each offer made earlier in the same plan, so
/// no agent is offered beyond their capacity.
pub fn plan(waiting: &[Waiting], agents: &[OnDuty], rules: &PriorityRules, now: OffsetDateTime) -> Vec<Offer> {
    let mut loads: Vec<u32> = agents.iter().map(|a| a.load).collect();
    let mut offers = Vec::new();
    // Free seats of online agents: once none is left, nobody else can be offered anything.
    let mut seats_left: u64 = agents
        .iter()
        .filter(|a| a.presence == Presence::Online)
        .map(|a| u64::from(a.capacity.saturating_sub(a.load)))
        .sum();
    if seats_left == 0 {
        return offers;
    }
    let masks = Masks::new(agents);
    for i in order(waiting, rules, now) {
        if seats_left == 0 {
            break;
        }
        let w = &waiting[i];
        if w.offered_to.is_some() || w.held {
            continue;
        }
        let free = |j: usize| agents[j].presence == Presence::Online && loads[j] < agents[j].capacity;
        let chosen = match named(w, agents) {
            Some(target) => (0..agents.len()).find(|&j| free(j) && agents[j].id == target),
            None => {
                let need = masks.of(w);
                let serves = |j: usize| match &need {
                    Some(need) => masks.serves(j, need),
                    None => agents[j].can_serve(w),
                };
                // Passing counts until every eligible agent on duty has passed.
                let everyone_passed = !w.passed.is_empty()
                    && (0..agents.len())
                        .filter(|&j| agents[j].presence == Presence::Online && serves(j))
                        .all(|j| w.passed.contains(&agents[j].id));
                (0..agents.len())
                    .filter(|&j| free(j) && serves(j) && (everyone_passed || !w.passed.contains(&agents[j].id)))
                    .min_by_key(|&j| (loads[j], agents[j].free_since, agents[j].id))
            }
        };
        if let Some(j) = chosen {
            loads[j] += 1;
            seats_left -= 1;
            offers.push(Offer {
                handoff: w.handoff,
                agent: agents[j].id,
            });
        }
    }
    offers
}

/// The agent a transfer named, while they are online and have not passed on it: only they
/// are offered it. Away, offline or passed, it is the queue's like any other.
pub fn named(w: &Waiting, agents: &[OnDuty]) -> Option<AgentId> {
    w.target
        .filter(|t| !w.passed.contains(t) && agents.iter().any(|a| a.id == *t && a.presence == Presence::Online))
}

/// Skills and languages as bits, so that checking an agent against a handoff is two `and`s
/// rather than string comparisons (the plan checks every agent for every waiting handoff).
/// Only the first 64 distinct skills and languages get a bit; a handoff needing another is
/// checked with [`OnDuty::can_serve`].
struct Masks {
    names: std::collections::HashMap<String, u32>,
    /// Per agent: their skills' bits and their languages' bits.
    agents: Vec<(u64, u64)>,
}

/// What a handoff needs, as bits: every one of `skills`, and `language`.
struct Need {
    skills: u64,
    language: u64,
}

impl Masks {
    fn new(agents: &[OnDuty]) -> Self {
        let mut names = std::collections::HashMap::new();
        let mut bits = |name: &str| -> u64 {
            let next = names.len() as u32;
            let index = *names.entry(name.to_owned()).or_insert(next);
            if index < 64 {
                1 << index
            } else {
                0
            }
        };
        let agents = agents
            .iter()
            .map(|a| {
                let skills = a.skills.iter().fold(0, |m, s| m | bits(&format!("s:{s}")));
                let languages = a.languages.iter().fold(0, |m, l| m | bits(&format!("l:{l}")));
                (skills, languages)
            })
            .collect();
        Masks { names, agents }
    }

    fn bit(&self, name: &str) -> Option<u64> {
        match self.names.get(name) {
            Some(&index) if index < 64 => Some(1 << index),
            Some(_) => None,
            // Nobody has it: a bit nobody holds.
            None => Some(0),
        }
    }

    /// `None` when a name has no bit (more than 64 of them): check by name instead.
    fn of(&self, w: &Waiting) -> Option<Need> {
        let mut skills = 0;
        for skill in &w.skills {
            match self.bit(&format!("s:{skill}"))? {
                // A skill no agent has: nobody serves it.
                0 => {
                    return Some(Need {
                        skills: u64::MAX,
                        language: 0,
                    })
                }
                bit => skills |= bit,
            }
        }
        let language = self.bit(&format!("l:{}", w.language))?;
        Some(Need { skills, language })
    }

    fn serves(&self, agent: usize, need: &Need) -> bool {
        let (skills, languages) = self.agents[agent];
        languages & need.language != 0 && need.skills & !skills == 0
    }
}

/// The seats that could serve each of `waiting` (in its order), checked with bits: what the
/// estimate of every waiting customer needs, on every tick.
pub fn staffing(waiting: &[Waiting], agents: &[OnDuty]) -> Vec<Staffing> {
    let masks = Masks::new(agents);
    waiting
        .iter()
        .map(|w| {
            let need = masks.of(w);
            (0..agents.len())
                .filter(|&j| agents[j].presence == Presence::Online)
                .filter(|&j| match &need {
                    Some(need) => masks.serves(j, need),
                    None => agents[j].can_serve(w),
                })
                .fold(Staffing::default(), |s, j| Staffing {
                    seats: s.seats + agents[j].capacity,
                    free: s.free + agents[j].capacity.saturating_sub(agents[j].load),
                })
        })
        .collect()
}

/// Seats that could serve a handoff: their total, and how many are free now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Staffing {
    pub seats: u32,
    pub free: u32,
}

impl Staffing {
    /// The seats of online agents who can serve `waiting`.
    pub fn for_waiting(waiting: &Waiting, agents: &[OnDuty]) -> Staffing {
        agents
            .iter()
            .filter(|a| a.presence == Presence::Online && a.can_serve(waiting))
            .fold(Staffing::default(), |s, a| Staffing {
                seats: s.seats + a.capacity,
                free: s.free + a.capacity.saturating_sub(a.load),
            })
    }
}

/// Seconds until an agent takes the handoff, with `ahead` handoffs served before it by the same
/// agents: none while free seats remain ahead of it, else one handle time per seat's worth of
/// handoffs ahead. `None` when nobody on duty can serve it.
pub fn estimate(ahead: u32, staffing: Staffing, handle_seconds: u64) -> Option<u64> {
    if staffing.seats == 0 {
        return None;
    }
    if ahead < staffing.free {
        return Some(0);
    }
    let queued = u64::from(ahead - staffing.free + 1);
    Some((queued * handle_seconds).div_ceil(u64::from(staffing.seats)))
}

/// Whether the customer should be told a new estimate: a change of at least a minute and a
/// quarter of the old one, or the estimate appearing or going.
pub fn meaningful_change(old: Option<u64>, new: Option<u64>) -> bool {
    match (old, new) {
        (Some(old), Some(new)) => {
            let change = old.abs_diff(new);
            change >= 60 && change * 4 >= old.max(60)
        }
        (None, None) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests;

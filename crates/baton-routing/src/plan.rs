//! The routing decisions, pure functions of a snapshot: the waiting handoffs, the agents on
//! duty and the clock.
//!
//! - **Eligible** means the agent speaks the conversation's language and has every skill its
//!   queue asks for; nobody else is ever offered it (a transfer to a named agent is the one
//!   exception: the agent who transfers chose them).
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
    /// Transferred to this agent by name: only they are offered it.
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
    if !agents.iter().any(OnDuty::has_seat) {
        return offers;
    }
    for i in order(waiting, rules, now) {
        let w = &waiting[i];
        if w.offered_to.is_some() || w.held {
            continue;
        }
        let free = |(j, a): &(usize, &OnDuty)| a.presence == Presence::Online && loads[*j] < a.capacity;
        let chosen = match w.target {
            Some(target) => agents.iter().enumerate().filter(free).find(|(_, a)| a.id == target),
            None => {
                // Passing counts until every eligible agent on duty has passed.
                let everyone_passed = agents
                    .iter()
                    .filter(|a| a.presence == Presence::Online && a.can_serve(w))
                    .all(|a| w.passed.contains(&a.id));
                agents
                    .iter()
                    .enumerate()
                    .filter(free)
                    .filter(|(_, a)| a.can_serve(w) && (everyone_passed || !w.passed.contains(&a.id)))
                    .min_by_key(|(j, a)| (loads[*j], a.free_since, a.id))
            }
        };
        if let Some((j, agent)) = chosen {
            loads[j] += 1;
            offers.push(Offer {
                handoff: w.handoff,
                agent: agent.id,
            });
        }
    }
    offers
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

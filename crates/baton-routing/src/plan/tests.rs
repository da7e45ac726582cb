use super::*;
use baton_domain::ConversationId;
use proptest::prelude::*;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

fn rules() -> PriorityRules {
    PriorityRules::default()
}

fn agent(n: u128, skills: &[&str], languages: &[&str], capacity: u32, load: u32) -> OnDuty {
    OnDuty {
        id: AgentId(uuid::Uuid::from_u128(n)),
        skills: skills.iter().map(|s| s.to_string()).collect(),
        languages: languages.iter().map(|s| s.to_string()).collect(),
        capacity,
        load,
        presence: Presence::Online,
        free_since: NOW - time::Duration::minutes(n as i64),
    }
}

fn waiting(n: u128, skills: &[&str], language: &str, priority: Priority, waited_minutes: i64) -> Waiting {
    Waiting {
        handoff: HandoffId {
            conversation_id: ConversationId(uuid::Uuid::from_u128(1000 + n)),
            seq: 5,
        },
        queue: "q".into(),
        skills: skills.iter().map(|s| s.to_string()).collect(),
        language: language.into(),
        priority,
        since: NOW - time::Duration::minutes(waited_minutes),
        offered_to: None,
        passed: Vec::new(),
        target: None,
        held: false,
    }
}

fn offered(offers: &[Offer], w: &Waiting) -> Option<AgentId> {
    offers.iter().find(|o| o.handoff == w.handoff).map(|o| o.agent)
}

#[test]
fn language_and_skills_decide_who_may_take_it() {
    let english_orders = agent(1, &["orders"], &["en"], 2, 0);
    let spanish_billing = agent(2, &["billing", "refunds"], &["es"], 2, 0);
    let english_billing = agent(3, &["billing", "refunds"], &["en"], 2, 0);
    let agents = [english_orders.clone(), spanish_billing.clone(), english_billing.clone()];
    let dispute = waiting(1, &["billing", "refunds"], "es", Priority::High, 1);
    let offers = plan(std::slice::from_ref(&dispute), &agents, &rules(), NOW);
    assert_eq!(offered(&offers, &dispute), Some(spanish_billing.id));
    // Without a Spanish billing agent, nobody else is offered it.
    let offers = plan(
        std::slice::from_ref(&dispute),
        &[english_orders, english_billing],
        &rules(),
        NOW,
    );
    assert!(offers.is_empty(), "{offers:?}");
}

#[test]
fn priority_then_age_then_the_least_loaded_agent() {
    let busy = agent(1, &["billing"], &["en"], 3, 2);
    let idle = agent(2, &["billing"], &["en"], 3, 0);
    let old_normal = waiting(1, &["billing"], "en", Priority::Normal, 5);
    let new_urgent = waiting(2, &["billing"], "en", Priority::Urgent, 0);
    let offers = plan(
        &[old_normal.clone(), new_urgent.clone()],
        &[busy.clone(), idle.clone()],
        &rules(),
        NOW,
    );
    assert_eq!(offers[0].handoff, new_urgent.handoff, "urgent first");
    assert_eq!(offers[0].agent, idle.id, "to the least loaded");
    assert_eq!(
        offered(&offers, &old_normal),
        Some(idle.id),
        "idle still has the fewest"
    );
    // One seat, two of the same class: the longer wait goes first.
    let seat = agent(3, &["billing"], &["en"], 1, 0);
    let older = waiting(3, &["billing"], "en", Priority::Normal, 9);
    let younger = waiting(4, &["billing"], "en", Priority::Normal, 1);
    let offers = plan(&[younger, older.clone()], &[seat], &rules(), NOW);
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].handoff, older.handoff);
}

#[test]
fn a_long_wait_climbs_over_newer_higher_priorities() {
    let seat = agent(1, &["billing"], &["en"], 1, 0);
    let starving = waiting(1, &["billing"], "en", Priority::Low, 35);
    let fresh_high = waiting(2, &["billing"], "en", Priority::High, 0);
    // 35 minutes at one step per 10: low → urgent.
    assert_eq!(aged(&starving, &rules(), NOW), Priority::Urgent);
    let offers = plan(&[fresh_high, starving.clone()], &[seat], &rules(), NOW);
    assert_eq!(offers[0].handoff, starving.handoff);
}

#[test]
fn declined_agents_are_asked_again_only_when_everyone_has_passed() {
    let first = agent(1, &["orders"], &["en"], 2, 0);
    let second = agent(2, &["orders"], &["en"], 2, 1);
    let mut w = waiting(1, &["orders"], "en", Priority::Normal, 1);
    w.passed = vec![first.id];
    let offers = plan(
        std::slice::from_ref(&w),
        &[first.clone(), second.clone()],
        &rules(),
        NOW,
    );
    assert_eq!(
        offered(&offers, &w),
        Some(second.id),
        "the one who has not passed, though busier"
    );
    w.passed = vec![first.id, second.id];
    let offers = plan(std::slice::from_ref(&w), &[first.clone(), second], &rules(), NOW);
    assert_eq!(offered(&offers, &w), Some(first.id), "a new round");
}

#[test]
fn away_agents_full_agents_and_held_handoffs_get_no_offer() {
    let mut away = agent(1, &["orders"], &["en"], 2, 0);
    away.presence = Presence::Away;
    let full = agent(2, &["orders"], &["en"], 2, 2);
    let w = waiting(1, &["orders"], "en", Priority::Normal, 1);
    assert!(plan(std::slice::from_ref(&w), &[away, full], &rules(), NOW).is_empty());
    let free = agent(3, &["orders"], &["en"], 2, 0);
    let mut held = w.clone();
    held.held = true;
    let mut out = w;
    out.offered_to = Some(free.id);
    assert!(plan(&[held, out], &[free], &rules(), NOW).is_empty());
}

#[test]
fn a_transfer_to_a_named_agent_goes_to_them_alone() {
    let named = agent(1, &["orders"], &["en"], 1, 0);
    let other = agent(2, &["billing"], &["en", "es"], 3, 0);
    let mut w = waiting(1, &["billing"], "es", Priority::Normal, 1);
    w.target = Some(named.id);
    let offers = plan(std::slice::from_ref(&w), &[named.clone(), other.clone()], &rules(), NOW);
    assert_eq!(offered(&offers, &w), Some(named.id));
    // Once they pass on it, it is the queue's like any other; and while they are away.
    w.passed = vec![named.id];
    let offers = plan(std::slice::from_ref(&w), &[named.clone(), other.clone()], &rules(), NOW);
    assert_eq!(offered(&offers, &w), Some(other.id));
    w.passed.clear();
    let mut away = named;
    away.presence = Presence::Away;
    let offers = plan(std::slice::from_ref(&w), &[away, other.clone()], &rules(), NOW);
    assert_eq!(offered(&offers, &w), Some(other.id));
}

#[test]
fn the_estimate_follows_position_seats_and_handle_time() {
    let staffing = Staffing { seats: 4, free: 1 };
    assert_eq!(estimate(0, staffing, 300), Some(0), "a free seat: at once");
    assert_eq!(estimate(1, staffing, 300), Some(75), "one ahead of four seats");
    assert_eq!(estimate(8, staffing, 300), Some(600));
    assert_eq!(estimate(3, Staffing::default(), 300), None, "nobody on duty");
    assert!(meaningful_change(Some(600), Some(300)));
    assert!(!meaningful_change(Some(600), Some(560)), "40 s is not news");
    assert!(!meaningful_change(Some(1200), Some(1100)), "under a quarter");
    assert!(meaningful_change(None, Some(60)));
}

/// Skills and languages (as switches), capacity, load, presence.
type AgentGen = (Vec<bool>, Vec<bool>, u32, u32, u8);
/// Skill, Spanish, priority, minutes waited, a second skill, something special, who passed.
type WaitingGen = (usize, bool, u8, i64, bool, u8, Vec<bool>);

fn arb_agent() -> impl Strategy<Value = AgentGen> {
    (
        prop::collection::vec(any::<bool>(), 3),
        prop::collection::vec(any::<bool>(), 2),
        1u32..4,
        0u32..4,
        0u8..3,
    )
}

fn arb_waiting() -> impl Strategy<Value = WaitingGen> {
    (
        0usize..3,
        any::<bool>(),
        0u8..4,
        0i64..60,
        any::<bool>(),
        0u8..12,
        prop::collection::vec(any::<bool>(), 8),
    )
}

const SKILLS: [&str; 3] = ["billing", "orders", "vip"];
const LANGUAGES: [&str; 2] = ["en", "es"];

fn build(agents: &[AgentGen], waiting: &[WaitingGen]) -> (Vec<OnDuty>, Vec<Waiting>) {
    let agents: Vec<OnDuty> = agents
        .iter()
        .enumerate()
        .map(|(i, (skills, languages, capacity, load, presence))| OnDuty {
            id: AgentId(uuid::Uuid::from_u128(i as u128 + 1)),
            skills: SKILLS
                .iter()
                .zip(skills)
                .filter(|(_, on)| **on)
                .map(|(s, _)| s.to_string())
                .collect(),
            languages: LANGUAGES
                .iter()
                .zip(languages)
                .filter(|(_, on)| **on)
                .map(|(s, _)| s.to_string())
                .collect(),
            capacity: *capacity,
            load: (*load).min(*capacity),
            presence: [Presence::Online, Presence::Online, Presence::Away][*presence as usize],
            free_since: NOW - time::Duration::seconds(i as i64),
        })
        .collect();
    let waiting = waiting
        .iter()
        .enumerate()
        .map(
            |(i, (skill, spanish, priority, minutes, second_skill, special, passed))| {
                let mut skills = vec![SKILLS[*skill].to_string()];
                if *second_skill {
                    skills.push(SKILLS[(skill + 1) % 3].to_string());
                }
                let agent_id = |n: usize| AgentId(uuid::Uuid::from_u128(n as u128 + 1));
                Waiting {
                    handoff: HandoffId {
                        conversation_id: ConversationId(uuid::Uuid::from_u128(1000 + i as u128)),
                        seq: 3,
                    },
                    queue: "q".into(),
                    skills,
                    language: LANGUAGES[usize::from(*spanish)].into(),
                    priority: [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent][*priority as usize],
                    since: NOW - time::Duration::minutes(*minutes),
                    offered_to: (*special == 1 && !agents.is_empty()).then(|| agent_id(0)),
                    passed: passed
                        .iter()
                        .enumerate()
                        .filter(|(n, on)| **on && *n < agents.len())
                        .map(|(n, _)| agent_id(n))
                        .collect(),
                    target: (*special == 2 && agents.len() > 1).then(|| agent_id(1)),
                    held: *special == 3,
                }
            },
        )
        .collect();
    (agents, waiting)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_beyond_capacity_never_to_the_ineligible(
        agents in prop::collection::vec(arb_agent(), 0..8),
        waiting in prop::collection::vec(arb_waiting(), 0..25),
    ) {
        let (agents, waiting) = build(&agents, &waiting);
        let offers = plan(&waiting, &agents, &rules(), NOW);
        // The staffing of every waiting customer, with bits, equals the one by names.
        let seats = staffing(&waiting, &agents);
        for (w, s) in waiting.iter().zip(&seats) {
            prop_assert_eq!(*s, Staffing::for_waiting(w, &agents));
        }
        for a in &agents {
            let given = offers.iter().filter(|o| o.agent == a.id).count() as u32;
            prop_assert!(a.load + given <= a.capacity, "agent {} over capacity", a.id);
            prop_assert!(given == 0 || a.presence == Presence::Online);
        }
        let mut seen = std::collections::HashSet::new();
        for o in &offers {
            prop_assert!(seen.insert(o.handoff), "one offer per handoff");
            let w = waiting.iter().find(|w| w.handoff == o.handoff).expect("offered a waiting handoff");
            let a = agents.iter().find(|a| a.id == o.agent).expect("offered to a known agent");
            prop_assert!(w.offered_to.is_none() && !w.held);
            match named(w, &agents) {
                Some(target) => prop_assert_eq!(target, a.id),
                None => prop_assert!(a.can_serve(w), "{:?} cannot serve {:?}", a, w),
            }
        }
    }

    /// Nothing is left waiting while an eligible agent (who has not passed on it) still has a
    /// free seat, and within the served order no later handoff took a seat the earlier one
    /// could have had: the oldest of a class is never starved.
    #[test]
    fn no_free_eligible_seat_is_left_and_the_oldest_goes_first(
        agents in prop::collection::vec(arb_agent(), 0..8),
        waiting in prop::collection::vec(arb_waiting(), 0..25),
    ) {
        let (agents, waiting) = build(&agents, &waiting);
        let offers = plan(&waiting, &agents, &rules(), NOW);
        let mut left: Vec<u32> = agents.iter().map(|a| a.capacity - a.load).collect();
        for o in &offers {
            let j = agents.iter().position(|a| a.id == o.agent).expect("known agent");
            left[j] -= 1;
        }
        let sequence = order(&waiting, &rules(), NOW);
        for (rank, &i) in sequence.iter().enumerate() {
            let w = &waiting[i];
            if w.offered_to.is_some() || w.held || named(w, &agents).is_some() {
                continue;
            }
            let everyone_passed = agents
                .iter()
                .filter(|a| a.presence == Presence::Online && a.can_serve(w))
                .all(|a| w.passed.contains(&a.id));
            let open_to = |a: &OnDuty| a.presence == Presence::Online && a.can_serve(w) && (everyone_passed || !w.passed.contains(&a.id));
            if offered(&offers, w).is_none() {
                for (j, a) in agents.iter().enumerate() {
                    prop_assert!(!(open_to(a) && left[j] > 0), "{:?} left waiting while {:?} is free", w.handoff, a.id);
                    // No handoff served after this one took a seat of an agent open to it.
                    for &later in &sequence[rank + 1..] {
                        if offered(&offers, &waiting[later]) == Some(a.id) {
                            prop_assert!(!open_to(a), "{:?} went to {:?} before the earlier {:?}", waiting[later].handoff, a.id, w.handoff);
                        }
                    }
                }
            }
        }
        // The order itself: never a lower aged class before a higher one, and within a
        // class never a younger before an older.
        for pair in sequence.windows(2) {
            let (a, b) = (&waiting[pair[0]], &waiting[pair[1]]);
            let (pa, pb) = (aged(a, &rules(), NOW), aged(b, &rules(), NOW));
            prop_assert!(pa > pb || (pa == pb && a.since <= b.since));
        }
    }
}

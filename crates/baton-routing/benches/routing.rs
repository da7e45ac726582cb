//! The routing decision at the scale: 1,000 handoffs waiting and 200 agents online,
//! in two languages and five skill sets. `plan` is what runs after every change (a handoff,
//! an accept, an agent coming online), so its time bounds the router's decisions per second.

use baton_domain::{AgentId, ConversationId, HandoffId, Priority};
use baton_routing::config::PriorityRules;
use baton_routing::{plan, OnDuty, Presence, Waiting};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use time::OffsetDateTime;

const SKILL_SETS: [&[&str]; 5] = [
    &["billing", "refunds"],
    &["orders", "shipping"],
    &["vip", "billing", "orders"],
    &["general"],
    &["compliance", "fraud"],
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn snapshot(waiting: usize, agents: usize, busy: bool) -> (Vec<Waiting>, Vec<OnDuty>, OffsetDateTime) {
    let now = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let agents: Vec<OnDuty> = (0..agents)
        .map(|i| {
            let mut skills = strings(SKILL_SETS[i % 5]);
            skills.extend(strings(SKILL_SETS[(i + 1) % 5]));
            OnDuty {
                id: AgentId(uuid::Uuid::from_u128(i as u128 + 1)),
                skills,
                languages: if i % 3 == 0 {
                    strings(&["en", "es"])
                } else {
                    strings(&["en"])
                },
                capacity: 3,
                // Everyone full but a few: the steady state of a busy queue.
                load: if busy && i % 20 != 0 { 3 } else { 0 },
                presence: Presence::Online,
                free_since: now,
            }
        })
        .collect();
    let waiting = (0..waiting)
        .map(|i| Waiting {
            handoff: HandoffId {
                conversation_id: ConversationId(uuid::Uuid::from_u128(10_000 + i as u128)),
                seq: 7,
            },
            queue: format!("q{}", i % 5),
            skills: strings(SKILL_SETS[i % 5]),
            language: if i % 4 == 0 { "es".into() } else { "en".into() },
            priority: [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent][i % 4],
            since: now - time::Duration::seconds(i as i64 * 3),
            offered_to: None,
            passed: Vec::new(),
            target: None,
            held: false,
        })
        .collect();
    (waiting, agents, now)
}

fn routing(c: &mut Criterion) {
    let rules = PriorityRules::default();
    for (name, busy) in [
        ("1000_waiting_200_agents_free", false),
        ("1000_waiting_200_agents_busy", true),
    ] {
        let (waiting, agents, now) = snapshot(1_000, 200, busy);
        c.bench_function(&format!("plan/{name}"), |b| {
            b.iter(|| plan(black_box(&waiting), black_box(&agents), &rules, now))
        });
    }
}

criterion_group!(benches, routing);
criterion_main!(benches);

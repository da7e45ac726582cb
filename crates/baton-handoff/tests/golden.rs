//! Golden files for the context package, the brief (both agent languages), the opener and the
//! acknowledgment, on seed-style cases in English and Spanish. Each package is also validated
//! against the published JSON Schema. `BATON_BLESS=1 cargo test -p baton-handoff --test golden`
//! rewrites the files after a deliberate change; review the diff before committing it.

mod common;

use baton_domain::{ActionOutcome, CustomerProfile, EventKind, HandoffRequester};
use baton_handoff::package::{CustomerFacts, Degraded, OrderFacts, OrderRelevance, PaymentFacts};
use baton_handoff::{acknowledgment, build_package, opener, package_schema, ContextPackage, PackageInput, Snapshot};
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;

fn sarah() -> CustomerFacts {
    CustomerFacts {
        customer_id: "c-1001".into(),
        name: "Sarah Johnson".into(),
        email: "sarah.johnson@example.com".into(),
        phone: Some("+14155552671".into()),
        language: "en".into(),
        tier: "standard".into(),
    }
}

fn order(number: &str, status: &str, total: &str, payments: &[(&str, &str, &str)]) -> OrderFacts {
    OrderFacts {
        number: number.into(),
        status: status.into(),
        placed_on: "2026-03-02".into(),
        total: total.into(),
        payments: payments
            .iter()
            .map(|(amount, on, status)| PaymentFacts {
                amount: (*amount).into(),
                on: (*on).into(),
                status: (*status).into(),
            })
            .collect(),
        relevance: OrderRelevance::Recent,
    }
}

/// Verification, the eligibility check and a failed refund: the seed case.
fn refund_fails(script: &mut Script, customer: (&str, &str, &str), number: &str, texts: [&str; 4]) {
    let (id, name, tier) = customer;
    script.say(
        texts[0],
        intent("duplicate_charge", 0.93).mood(-0.45).markers(&["exasperation"]),
    );
    script.push(flow("duplicate_charge"));
    script.bot("Which order were you charged twice for?");
    let (seq, _) = script.say_quietly(texts[1], intent("duplicate_charge", 0.4));
    script.push(slot("email", "sarah.johnson@example.com", seq));
    script.push(slot("order_number", number, seq));
    let at = script.now;
    script.push(verified(id, name, tier, script.language, at));
    script.push(action(
        "verify_identity",
        ActionOutcome::Ok,
        "verified by email and order number",
        &[],
    ));
    script.push(action(
        "refund_eligibility",
        ActionOutcome::Ok,
        "2 charges of €49.90 on 2026-03-03",
        &[
            ("charged_on", "2026-03-03"),
            ("amount", "€49.90"),
            ("charge_count", "2"),
        ],
    ));
    script.bot("I can see 2 charges of €49.90 on 2026-03-03. Shall I refund the duplicate charge?");
    script.say(texts[2], intent("duplicate_charge", 0.3).mood(-0.2));
    script.push(EventKind::SlotsConfirmed {
        slots: vec!["order_number".into()],
    });
    let reasons = script.turn(vec![action(
        "start_refund",
        ActionOutcome::Failed,
        "refund workflow failed",
        &[],
    )]);
    script.bot(texts[3]);
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
}

struct Case {
    name: &'static str,
    script: Script,
    snapshot: Snapshot,
    agent: &'static str,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();

    // 1. The seed: Sarah, order 54192, charged twice, the automatic refund fails.
    let mut script = Script::new("en");
    refund_fails(
        &mut script,
        ("c-1001", "Sarah Johnson", "standard"),
        "54192",
        [
            "I was charged twice for my order, this is ridiculous",
            "sarah.johnson@example.com, order 54192",
            "yes",
            "I tried to refund the duplicate charge of €49.90, but our refund system could not complete it.",
        ],
    );
    cases.push(Case {
        name: "duplicate_charge_refund_failed_en",
        script,
        snapshot: Snapshot {
            customer: Some(sarah()),
            orders: vec![
                order(
                    "54192",
                    "delivered",
                    "€49.90",
                    &[
                        ("€49.90", "2026-03-03", "captured"),
                        ("€49.90", "2026-03-03", "captured"),
                    ],
                ),
                order("54011", "delivered", "€19.00", &[("€19.00", "2026-02-11", "captured")]),
            ],
            tickets: Vec::new(),
            degraded: Vec::new(),
        },
        agent: "Nina",
    });

    // 2. The same in Spanish.
    let mut script = Script::new("es");
    refund_fails(
        &mut script,
        ("c-1005", "Javier Morales", "standard"),
        "54250",
        [
            "me habéis cobrado dos veces el pedido, qué vergüenza",
            "javier.morales@example.com, pedido 54250",
            "sí",
            "He intentado reembolsar el cargo duplicado de 49,90 €, pero nuestro sistema no ha podido completarlo.",
        ],
    );
    cases.push(Case {
        name: "duplicate_charge_refund_failed_es",
        script,
        snapshot: Snapshot {
            customer: Some(CustomerFacts {
                customer_id: "c-1005".into(),
                name: "Javier Morales".into(),
                email: "javier.morales@example.com".into(),
                phone: None,
                language: "es".into(),
                tier: "standard".into(),
            }),
            orders: vec![order(
                "54250",
                "processing",
                "€49.90",
                &[
                    ("€49.90", "2026-03-03", "captured"),
                    ("€49.90", "2026-03-03", "captured"),
                ],
            )],
            tickets: Vec::new(),
            degraded: Vec::new(),
        },
        agent: "Lucía",
    });

    // 3. An angry customer: a drop from neutral to furious while asking about a late order.
    let mut script = Script::with_profile(
        "en",
        CustomerProfile {
            name: Some("Tom Becker".into()),
            ..CustomerProfile::default()
        },
    );
    script.say("where is my order 54261?", intent("late_delivery", 0.88));
    script.push(flow("late_delivery"));
    script.bot("Sorry it's taking long. Please give me your email so I can check.");
    let reasons = script.say(
        "THIS IS THE THIRD TIME I ASK!!! Absolutely useless",
        intent("complaint", 0.61)
            .mood(-0.82)
            .markers(&["all_caps", "repeated_punctuation", "exasperation"]),
    );
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "angry_customer_en",
        script,
        snapshot: Snapshot::default(),
        agent: "Nina",
    });

    // 4. A high-value account hits a dead end.
    let mut script = Script::new("en");
    script.say("order 54233", intent("order_status", 0.7));
    script.push(flow("order_status"));
    let at = script.now;
    script.push(verified("c-1003", "Marcus Chen", "vip", "en", at));
    script.push(action(
        "order_status",
        ActionOutcome::Ok,
        "order 54233 is in transit",
        &[("status", "in_transit")],
    ));
    script.bot("Order #54233 is on its way.");
    script.say("can you make the courier come in the evening instead", unplaced(0.2));
    let fallback = script.fallback();
    let reasons = script.turn(vec![fallback]);
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "high_value_account_en",
        script,
        snapshot: Snapshot {
            customer: Some(CustomerFacts {
                customer_id: "c-1003".into(),
                name: "Marcus Chen".into(),
                email: "marcus.chen@example.com".into(),
                phone: Some("+14155550199".into()),
                language: "en".into(),
                tier: "vip".into(),
            }),
            orders: vec![order(
                "54233",
                "in_transit",
                "$1,249.00",
                &[("$1,249.00", "2026-03-01", "captured")],
            )],
            tickets: Vec::new(),
            degraded: Vec::new(),
        },
        agent: "Nina",
    });

    // 5. An explicit request in Spanish, before anything else.
    let mut script = Script::with_profile(
        "es",
        CustomerProfile {
            name: Some("Lucía Fernández".into()),
            email: Some("lucia.fernandez@example.com".into()),
            ..CustomerProfile::default()
        },
    );
    script.push(slot("email", "lucia.fernandez@example.com", 1));
    let reasons = script.say(
        "quiero hablar con una persona, por favor",
        intent("talk_to_human", 0.91),
    );
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "explicit_request_es",
        script,
        snapshot: Snapshot::default(),
        agent: "Lucía",
    });

    // 6. The CRM is down: the handoff goes through with what memory holds (as the runtime
    // records it when the CRM does not answer within the budget).
    let mut script = Script::new("en");
    script.say("I want to cancel order 54261", intent("cancel_order", 0.9));
    script.push(flow("cancel_order"));
    script.push(slot("order_number", "54261", 2));
    let at = script.now;
    script.push(verified("c-1006", "David Okafor", "plus", "en", at));
    script.bot("Order #54261 can be cancelled. Shall I cancel it?");
    let reasons = script.say("just get me an agent", intent("talk_to_human", 0.8));
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "crm_down_en",
        script,
        snapshot: Snapshot {
            customer: None,
            orders: vec![order(
                "54261",
                "processing",
                "€35.00",
                &[("€35.00", "2026-03-02", "captured")],
            )],
            tickets: Vec::new(),
            degraded: vec![
                Degraded {
                    source: "crm".into(),
                    problem: "no answer within 300 ms".into(),
                    missing: vec![
                        "name".into(),
                        "contact details".into(),
                        "tier".into(),
                        "preferred language".into(),
                    ],
                },
                Degraded {
                    source: "ticketing".into(),
                    problem: "not asked: the CRM gave no email".into(),
                    missing: vec!["open tickets".into()],
                },
            ],
        },
        agent: "Nina",
    });

    // 7. Failed verification, in Spanish.
    let mut script = Script::new("es");
    script.say("quiero saber dónde está mi pedido", intent("order_status", 0.9));
    script.push(flow("order_status"));
    script.say("lucia@example.com 11111", intent("order_status", 0.4));
    script.turn(vec![failed_check(1)]);
    script.bot("No coinciden. ¿Me das de nuevo tu email y el número de pedido?");
    script.say("lucia@example.com 22222", intent("order_status", 0.4));
    let reasons = script.turn(vec![failed_check(2)]);
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "failed_verification_es",
        script,
        snapshot: Snapshot::default(),
        agent: "Lucía",
    });

    // 8. A compliance topic: a charge the customer does not recognise.
    let mut script = Script::new("en");
    let reasons = script.say(
        "there is a charge of $89 on my card that I don't recognize, is this fraud?",
        intent("payment_failed", 0.55).mood(-0.3),
    );
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "compliance_fraud_en",
        script,
        snapshot: Snapshot::default(),
        agent: "Nina",
    });

    // 9. An out-of-scope streak in Spanish.
    let mut script = Script::new("es");
    script.say("¿vendéis entradas para el concierto?", unplaced(0.12));
    let fallback = script.fallback();
    script.turn(vec![fallback]);
    script.bot("Perdona, no lo he entendido bien. ¿Puedes decirlo de otra forma?");
    script.say("entradas del concierto de mayo", unplaced(0.1));
    let fallback = script.fallback();
    let reasons = script.turn(vec![fallback]);
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "out_of_scope_streak_es",
        script,
        snapshot: Snapshot::default(),
        agent: "Lucía",
    });

    // 10. A human-only intent: closing the account.
    let mut script = Script::new("en");
    let reasons = script.say(
        "please close my account and delete everything",
        intent("delete_account", 0.86),
    );
    let escalation = script.policy.escalation(reasons);
    script.hand_off(HandoffRequester::Bot, escalation);
    cases.push(Case {
        name: "human_only_intent_en",
        script,
        snapshot: Snapshot::default(),
        agent: "Nina",
    });

    // 11. A card number typed in the chat, then the handoff button.
    let mut script = Script::new("en");
    script.say(
        "my payment failed, card 4111 1111 1111 1111 cvv 123",
        intent("payment_failed", 0.8),
    );
    script.push(flow("payment_failed"));
    script.bot("Please never share card details here. I've hidden them.");
    let escalation = baton_domain::Escalation {
        reasons: vec![baton_domain::EscalationReason {
            kind: baton_domain::EscalationKind::Explicit,
            detail: "the customer asked for a person with the handoff button".into(),
            evidence: Vec::new(),
        }],
        priority: baton_domain::Priority::Normal,
        note: Some("payment keeps failing".into()),
    };
    script.hand_off(HandoffRequester::Customer, escalation);
    cases.push(Case {
        name: "card_number_typed_en",
        script,
        snapshot: Snapshot::default(),
        agent: "Nina",
    });

    cases
}

/// Version 1 of the package of the script's latest handoff, built now.
fn package_of(script: &Script, snapshot: &Snapshot, config: &baton_handoff::HandoffConfig) -> ContextPackage {
    let handoff = script.memory.current_handoff().expect("a handoff");
    build_package(
        PackageInput {
            memory: &script.memory,
            events: &script.events,
            handoff,
            snapshot,
            version: 1,
            now: script.now,
            wait_estimate_seconds: Some(240),
        },
        config,
    )
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn packages_briefs_openers_and_acknowledgments_match_their_golden_files() {
    let config = config();
    let schema = package_schema();
    let validator = jsonschema::validator_for(&schema).expect("the published schema compiles");
    let bless = std::env::var_os("BATON_BLESS").is_some();
    let mut mismatches = Vec::new();
    let all = cases();
    assert!(all.len() >= 10);
    for case in all {
        let package = package_of(&case.script, &case.snapshot, &config);
        let package_json = serde_json::to_value(&package).expect("package as JSON");
        let problems: Vec<String> = validator
            .iter_errors(&package_json)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(
            problems.is_empty(),
            "{}: package does not match its schema: {problems:?}",
            case.name
        );
        let actual = json!({
            "brief": package.conversation.brief.iter().map(|b| (b.language.clone(), json!(b.lines))).collect::<serde_json::Map<String, Value>>(),
            "opener": opener(&package, case.agent, &config),
            "acknowledgment": acknowledgment(&package, &config),
            "package": package_json,
        });
        let path = golden_dir().join(format!("{}.json", case.name));
        let text = serde_json::to_string_pretty(&actual).expect("pretty") + "\n";
        if bless {
            std::fs::create_dir_all(golden_dir()).expect("golden dir");
            std::fs::write(&path, &text).expect("write golden");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == text => {}
            Ok(_) => mismatches.push(format!("{} differs; got:\n{text}", case.name)),
            Err(e) => mismatches.push(format!("{}: {e} (run with BATON_BLESS=1 to write it)", path.display())),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n\n"));
}

#[test]
fn the_seed_case_reads_as_the_issue_describes_it() {
    let config = config();
    let case = cases().into_iter().next().expect("the seed case");
    let package = package_of(&case.script, &case.snapshot, &config);
    let english = &package.conversation.brief[0];
    assert_eq!(english.language, "en");
    assert_eq!(
        english.lines,
        [
            "Intent: refund for duplicate charge",
            "Captured: order #54192, email verified, paid Mar 3, €49.90 charged twice",
            "Sentiment: frustrated after failed self-service",
            "Tried: identity check, eligibility check, refund workflow (failed)",
            "Next: confirm eligibility and refund manually",
        ]
    );
    assert_eq!(
        opener(&package, "Nina", &config),
        "Hi Sarah, I'm Nina from billing. I can see the duplicate charge on order #54192 and that the automatic refund did not go through. Shall I refund the second charge to your original card?"
    );
    assert_eq!(
        acknowledgment(&package, &config),
        "I've passed your conversation, order #54192 and your account details to our billing team, so you won't need to repeat anything. Someone will be with you shortly."
    );
}

#[test]
fn without_a_name_or_facts_the_opener_stays_natural() {
    let config = config();
    let mut script = Script::new("en");
    let reasons = script.say("hmm", unplaced(0.1));
    let escalation = baton_domain::Escalation {
        reasons,
        ..script.policy.escalation(Vec::new())
    };
    script.hand_off(HandoffRequester::Customer, escalation);
    let package = package_of(&script, &Snapshot::default(), &config);
    let text = opener(&package, "Nina", &config);
    assert_eq!(
        text,
        "Hi, I'm Nina from support. I've read your conversation with our assistant. How can I help you from here?"
    );
    assert!(!text.contains('{') && !text.contains('['), "{text}");
    let brief = &package.conversation.brief[0].lines;
    assert!(brief.iter().all(|l| !l.ends_with(": ")), "no empty lines: {brief:?}");
    assert_eq!(brief.len(), 1, "only Next has something to say: {brief:?}");
}

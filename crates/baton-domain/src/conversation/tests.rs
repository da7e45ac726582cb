//! Unit and property tests of the conversation rules.

use super::*;
use crate::handoff::{EscalationKind, EscalationReason, Priority};
use proptest::prelude::*;
use time::macros::datetime;
use uuid::Uuid;

const NOW: OffsetDateTime = datetime!(2026-03-03 10:00 UTC);

fn conv() -> ConversationId {
    ConversationId(Uuid::from_u128(1))
}
fn agent(n: u128) -> AgentId {
    AgentId(Uuid::from_u128(100 + n))
}
fn text(s: &str) -> MessageText {
    MessageText::parse(s).expect("valid text")
}
fn cmid(s: &str) -> ClientMessageId {
    ClientMessageId::parse(s).expect("valid id")
}
fn started() -> ConversationState {
    ConversationState::start(conv(), Channel::Web, None, CustomerProfile::default(), NOW).state
}
fn run(state: &ConversationState, command: Command) -> Result<ConversationState, Rejection> {
    state.decide(command, NOW).map(|d| d.state)
}
fn bot_says(s: &str) -> Command {
    Command::PostBotMessage {
        text: text(s),
        client_message_id: cmid(s),
    }
}
fn handoff() -> Command {
    Command::RequestHandoff {
        requested_by: HandoffRequester::Customer,
        escalation: Escalation::default(),
    }
}

#[test]
fn a_new_conversation_starts_with_the_bot_and_one_event() {
    let decision = ConversationState::start(conv(), Channel::Web, None, CustomerProfile::default(), NOW);
    assert_eq!(decision.state.phase, Phase::Bot);
    assert_eq!(decision.events.len(), 1);
    assert_eq!(decision.events[0].seq, 1);
    assert_eq!(decision.events[0].kind.type_name(), "conversation_started");
}

#[test]
fn the_bot_cannot_speak_once_an_agent_owns_the_conversation() {
    let waiting = run(&started(), handoff()).expect("handoff");
    assert_eq!(waiting.phase, Phase::WaitingForAgent);
    assert_eq!(
        run(&waiting, bot_says("still here")),
        Err(Rejection::BotNotOwner {
            phase: PhaseName::WaitingForAgent
        })
    );
    let with_agent = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    assert_eq!(with_agent.phase, Phase::WithAgent { agent_id: agent(1) });
    assert_eq!(
        run(&with_agent, bot_says("let me help")),
        Err(Rejection::BotNotOwner {
            phase: PhaseName::WithAgent
        })
    );
}

#[test]
fn only_the_owning_agent_may_write_hand_back_or_resolve() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let with_agent = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    let intruder = Command::PostAgentMessage {
        agent_id: agent(2),
        text: text("hi"),
        client_message_id: cmid("x"),
    };
    assert!(matches!(
        run(&with_agent, intruder),
        Err(Rejection::NotOwningAgent { .. })
    ));
    assert!(matches!(
        run(
            &with_agent,
            Command::HandBack {
                agent_id: agent(2),
                agent_name: None,
                note: None
            }
        ),
        Err(Rejection::NotOwningAgent { .. })
    ));
    assert!(matches!(
        run(
            &with_agent,
            Command::Resolve {
                by: Resolver::Agent(agent(2))
            }
        ),
        Err(Rejection::NotOwningAgent { .. })
    ));
    let owner = Command::PostAgentMessage {
        agent_id: agent(1),
        text: text("hi"),
        client_message_id: cmid("y"),
    };
    assert!(run(&with_agent, owner).is_ok());
}

#[test]
fn a_second_accept_is_rejected() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let with_agent = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    assert_eq!(
        run(
            &with_agent,
            Command::Accept {
                agent_id: agent(2),
                waited_ms: None,
                capacity: None
            }
        ),
        Err(Rejection::NotAllowed {
            phase: PhaseName::WithAgent,
            command: "accept"
        })
    );
}

#[test]
fn hand_back_lets_the_bot_resume() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let with_agent = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    let back = run(
        &with_agent,
        Command::HandBack {
            agent_id: agent(1),
            agent_name: None,
            note: None,
        },
    )
    .expect("hand back");
    assert_eq!(back.phase, Phase::HandedBack);
    assert!(run(&back, bot_says("I'm back")).is_ok());
    // And the customer can ask for a human again.
    assert_eq!(run(&back, handoff()).map(|s| s.phase), Ok(Phase::WaitingForAgent));
}

#[test]
fn asking_twice_for_a_human_records_nothing_the_second_time() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let again = waiting.decide(handoff(), NOW).expect("no-op");
    assert!(again.events.is_empty());
    assert_eq!(again.state, waiting);
}

#[test]
fn closed_conversations_take_no_more_commands() {
    let resolved = run(&started(), Command::Resolve { by: Resolver::Bot }).expect("bot resolves");
    let customer = Command::PostCustomerMessage {
        text: text("hello?"),
        client_message_id: cmid("c"),
    };
    assert_eq!(
        run(&resolved, customer),
        Err(Rejection::Closed {
            phase: PhaseName::Resolved,
            command: "post a customer message"
        })
    );
}

#[test]
fn rejection_messages_name_the_phase() {
    let err = Rejection::BotNotOwner {
        phase: PhaseName::WithAgent,
    };
    assert_eq!(
        err.to_string(),
        "the bot may not speak while the conversation is with_agent: it does not own it"
    );
}

#[test]
fn events_serialize_as_tagged_json() {
    let decision = started()
        .decide(
            Command::PostCustomerMessage {
                text: text("where is my order?"),
                client_message_id: cmid("m-1"),
            },
            NOW,
        )
        .expect("message");
    let json = serde_json::to_value(&decision.events[0]).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({
            "conversation_id": "00000000-0000-0000-0000-000000000001",
            "seq": 2,
            "at": "2026-03-03T10:00:00Z",
            "type": "customer_message",
            "text": "where is my order?",
            "client_message_id": "m-1"
        })
    );
    let back: Event = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, decision.events[0]);
}

#[test]
fn phase_round_trips_through_its_parts() {
    for phase in [
        Phase::Bot,
        Phase::WaitingForAgent,
        Phase::WithAgent { agent_id: agent(1) },
        Phase::HandedBack,
        Phase::Resolved,
        Phase::Abandoned,
    ] {
        assert_eq!(Phase::from_parts(phase.name(), phase.agent_id()), Some(phase));
    }
    assert_eq!(Phase::from_parts(PhaseName::WithAgent, None), None);
    assert_eq!(Phase::from_parts(PhaseName::Bot, Some(agent(1))), None);
}

fn any_command() -> impl Strategy<Value = Command> {
    let agent_n = 0u128..3;
    prop_oneof![
        "[a-z]{1,8}".prop_map(|s| Command::PostCustomerMessage {
            text: text(&s),
            client_message_id: cmid(&s)
        }),
        "[a-z]{1,8}".prop_map(|s| bot_says(&s)),
        (agent_n.clone(), "[a-z]{1,8}").prop_map(|(n, s)| Command::PostAgentMessage {
            agent_id: agent(n),
            text: text(&s),
            client_message_id: cmid(&s)
        }),
        "[a-z]{1,8}".prop_map(|s| Command::PostSystemNote { text: text(&s) }),
        Just(handoff()),
        Just(Command::RequestHandoff {
            requested_by: HandoffRequester::Bot,
            escalation: Escalation {
                reasons: vec![EscalationReason {
                    kind: EscalationKind::Loop,
                    detail: "loop".into(),
                    evidence: vec![2],
                }],
                priority: Priority::Normal,
                note: None,
            },
        }),
        agent_n.clone().prop_map(|n| Command::Accept {
            agent_id: agent(n),
            waited_ms: None,
            capacity: None
        }),
        agent_n.clone().prop_map(|n| Command::HandBack {
            agent_id: agent(n),
            agent_name: None,
            note: None
        }),
        agent_n.clone().prop_map(|n| Command::Transfer {
            agent_id: agent(n),
            agent_name: None,
            handoff_id: HandoffId {
                conversation_id: conv(),
                seq: 2,
            },
            target: TransferTarget::Agent { agent_id: agent(n + 1) },
            note: None,
        }),
        agent_n.clone().prop_map(|n| Command::RecordRouting {
            records: vec![EventKind::OfferMade {
                handoff_id: HandoffId {
                    conversation_id: conv(),
                    seq: 2,
                },
                agent_id: agent(n),
                expires_at: NOW,
                after_ms: 1,
            }],
            note: None,
            suggestions: Vec::new(),
            while_waiting: false,
        }),
        agent_n.prop_map(|n| Command::Resolve {
            by: Resolver::Agent(agent(n))
        }),
        Just(Command::Resolve { by: Resolver::Bot }),
        Just(Command::Abandon),
    ]
}

proptest! {
    /// Whatever commands arrive, in whatever order: sequence numbers rise by exactly one,
    /// replaying the events rebuilds the same state, the bot never speaks unless it owns the
    /// conversation, only the owning agent writes, and closed conversations stay closed.
    #[test]
    fn invariants_hold_for_any_command_sequence(commands in proptest::collection::vec(any_command(), 0..60)) {
        let first = ConversationState::start(conv(), Channel::Api, None, CustomerProfile::default(), NOW);
        let mut state = first.state;
        let mut log = first.events;
        for command in commands {
            let before = state.clone();
            match before.decide(command.clone(), NOW) {
                Ok(decision) => {
                    prop_assert!(!before.phase.is_closed(), "a closed conversation accepted {:?}", command);
                    for event in &decision.events {
                        match &event.kind {
                            EventKind::BotMessage { .. } => prop_assert_eq!(before.phase.owner(), Owner::Bot),
                            EventKind::AgentMessage { agent_id, .. } => {
                                prop_assert_eq!(before.phase.owner(), Owner::Agent(*agent_id))
                            }
                            // An offer only while the customer waits; a transfer only by the owner.
                            EventKind::OfferMade { .. } => prop_assert_eq!(before.phase, Phase::WaitingForAgent),
                            EventKind::Transferred { from_agent, .. } => {
                                prop_assert_eq!(before.phase.owner(), Owner::Agent(*from_agent))
                            }
                            _ => {}
                        }
                    }
                    log.extend(decision.events);
                    state = decision.state;
                }
                Err(_) => prop_assert_eq!(&state, &before),
            }
        }
        for (i, event) in log.iter().enumerate() {
            prop_assert_eq!(event.seq, i as u64 + 1);
        }
        prop_assert_eq!(ConversationState::replay(conv(), &log), state);
    }
}

fn turn(reply: Option<&str>) -> Command {
    Command::RecordBotTurn {
        records: vec![EventKind::DialogueMoved {
            flow: Some("order_status".into()),
            awaiting: None,
        }],
        reply: reply.map(|r| BotReply {
            text: text(r),
            client_message_id: cmid(r),
            suggestions: Vec::new(),
        }),
        handoff: None,
    }
}

#[test]
fn a_bot_turn_records_its_facts_then_its_reply() {
    let decision = started().decide(turn(Some("Your order shipped.")), NOW).expect("turn");
    let names: Vec<_> = decision.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(names, ["dialogue_moved", "bot_message"]);
    assert_eq!(decision.events[1].seq, 3);
}

#[test]
fn a_bot_reply_computed_while_an_agent_took_over_is_refused_but_facts_are_kept() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let with_agent = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    assert_eq!(
        run(&with_agent, turn(Some("Let me check that for you"))),
        Err(Rejection::BotNotOwner {
            phase: PhaseName::WithAgent
        })
    );
    let facts_only = with_agent.decide(turn(None), NOW).expect("facts are accepted");
    assert_eq!(facts_only.events.len(), 1);
    assert_eq!(facts_only.state.phase, with_agent.phase);
}

#[test]
fn a_bot_turn_may_not_smuggle_in_other_events() {
    let forged = Command::RecordBotTurn {
        records: vec![EventKind::Assigned {
            agent_id: agent(1),
            waited_ms: None,
        }],
        reply: None,
        handoff: None,
    };
    assert_eq!(run(&started(), forged), Err(Rejection::NotABotRecord("assigned")));
}

#[test]
fn a_bot_turn_hands_over_with_its_reply_in_one_decision() {
    let mut command = turn(Some("I'll bring in a person."));
    if let Command::RecordBotTurn { handoff, .. } = &mut command {
        *handoff = Some(Escalation {
            reasons: vec![EscalationReason {
                kind: EscalationKind::Explicit,
                detail: "the customer asked for a person".into(),
                evidence: vec![1],
            }],
            priority: Priority::High,
            note: None,
        });
    }
    let decision = started().decide(command, NOW).expect("turn");
    let names: Vec<_> = decision.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(
        names,
        ["dialogue_moved", "bot_message", "handoff_requested", "phase_changed"]
    );
    assert_eq!(decision.state.phase, Phase::WaitingForAgent);
    // The handoff's id names the event that started it.
    let requested = &decision.events[2];
    let EventKind::HandoffRequested {
        handoff_id, priority, ..
    } = &requested.kind
    else {
        panic!("handoff_requested");
    };
    assert_eq!(handoff_id.map(|h| h.seq), Some(requested.seq));
    assert_eq!(requested.handoff_id(), *handoff_id);
    assert_eq!(*priority, Priority::High);
}

#[test]
fn a_package_is_recorded_in_any_phase_and_acknowledged_only_while_waiting() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let handoff_id = HandoffId {
        conversation_id: waiting.id,
        seq: 2,
    };
    let package = |ack: Option<&str>| Command::RecordHandoffPackage {
        handoff_id,
        version: 1,
        package: serde_json::json!({"version": 1}),
        acknowledgment: ack.map(text),
    };
    let recorded = waiting.decide(package(Some("passed on")), NOW).expect("package");
    let names: Vec<_> = recorded.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(names, ["handoff_packaged", "system_note"]);
    let taken = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    let late = taken.decide(package(Some("passed on")), NOW).expect("package");
    let names: Vec<_> = late.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(names, ["handoff_packaged"], "no acknowledgment once an agent is there");
    let stranger = HandoffId {
        conversation_id: ConversationId(uuid::Uuid::nil()),
        seq: 2,
    };
    assert_eq!(
        run(
            &waiting,
            Command::RecordHandoffPackage {
                handoff_id: stranger,
                version: 1,
                package: serde_json::json!({}),
                acknowledgment: None
            }
        ),
        Err(Rejection::UnknownHandoff(stranger))
    );
}

#[test]
fn handoff_ids_read_back_what_they_write() {
    let id = HandoffId {
        conversation_id: ConversationId(uuid::Uuid::nil()),
        seq: 17,
    };
    let text = id.to_string();
    assert_eq!(text, "00000000-0000-0000-0000-000000000000.17");
    assert_eq!(text.parse::<HandoffId>(), Ok(id));
    for bad in [
        "",
        "17",
        "nope.17",
        "00000000-0000-0000-0000-000000000000.0",
        "00000000-0000-0000-0000-000000000000.017",
        "00000000-0000-0000-0000-000000000000.x",
    ] {
        assert!(bad.parse::<HandoffId>().is_err(), "{bad}");
    }
}

#[test]
fn facts_of_a_turn_are_kept_even_after_the_conversation_closed() {
    let closed = run(&started(), Command::Resolve { by: Resolver::Bot }).expect("resolve");
    assert!(matches!(
        run(&closed, turn(Some("too late"))),
        Err(Rejection::Closed { .. })
    ));
    let facts = closed.decide(turn(None), NOW).expect("facts are kept");
    assert_eq!(facts.events.len(), 1);
    assert_eq!(facts.state.phase, Phase::Resolved);
}

fn offer_to(n: u128, state: &ConversationState) -> Command {
    Command::RecordRouting {
        records: vec![EventKind::OfferMade {
            handoff_id: HandoffId {
                conversation_id: conv(),
                seq: 2,
            },
            agent_id: agent(n),
            expires_at: NOW,
            after_ms: 5,
        }],
        note: Some(text(&format!("reviewing {}", state.last_seq))),
        suggestions: Vec::new(),
        while_waiting: false,
    }
}

#[test]
fn an_offer_is_recorded_only_while_the_customer_waits() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let decision = waiting.decide(offer_to(1, &waiting), NOW).expect("offer while waiting");
    let kinds: Vec<&str> = decision.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(kinds, ["offer_made", "system_note"]);
    // Someone accepted first: a late offer loses the race.
    let taken = run(
        &waiting,
        Command::Accept {
            agent_id: agent(2),
            waited_ms: Some(1200),
            capacity: None,
        },
    )
    .expect("accept");
    assert!(matches!(
        run(&taken, offer_to(1, &taken)),
        Err(Rejection::NotAllowed { .. })
    ));
    // A timed line that the accept overtook is not said; the join line is.
    let line = |while_waiting: bool| Command::RecordRouting {
        records: Vec::new(),
        note: Some(text("still looking")),
        suggestions: Vec::new(),
        while_waiting,
    };
    assert!(matches!(run(&taken, line(true)), Err(Rejection::NotAllowed { .. })));
    assert!(run(&taken, line(false)).is_ok());
    // Routing records only its own kinds.
    let sneaky = Command::RecordRouting {
        records: vec![EventKind::Assigned {
            agent_id: agent(1),
            waited_ms: None,
        }],
        note: None,
        suggestions: Vec::new(),
        while_waiting: false,
    };
    assert_eq!(run(&waiting, sneaky), Err(Rejection::NotARoutingRecord("assigned")));
}

#[test]
fn a_transfer_puts_the_conversation_back_in_the_queue_and_only_the_owner_may() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let with_agent = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    let transfer = |n: u128| Command::Transfer {
        agent_id: agent(n),
        agent_name: Some("Nina".into()),
        handoff_id: HandoffId {
            conversation_id: conv(),
            seq: 2,
        },
        target: TransferTarget::Queue {
            queue: "billing".into(),
        },
        note: Some("refund by hand".into()),
    };
    assert!(matches!(
        run(&with_agent, transfer(2)),
        Err(Rejection::NotOwningAgent { .. })
    ));
    let decision = with_agent.decide(transfer(1), NOW).expect("transfer");
    assert_eq!(decision.state.phase, Phase::WaitingForAgent);
    assert!(matches!(
        &decision.events[0].kind,
        EventKind::Transferred { note: Some(note), from_name: Some(name), .. } if note == "refund by hand" && name == "Nina"
    ));
    // A transfer is not allowed from the queue itself.
    assert!(matches!(run(&waiting, transfer(1)), Err(Rejection::NotAllowed { .. })));
}

#[test]
fn a_hand_back_records_the_agents_note_before_the_bot_resumes() {
    let waiting = run(&started(), handoff()).expect("handoff");
    let with_agent = run(
        &waiting,
        Command::Accept {
            agent_id: agent(1),
            waited_ms: None,
            capacity: None,
        },
    )
    .expect("accept");
    let decision = with_agent
        .decide(
            Command::HandBack {
                agent_id: agent(1),
                agent_name: None,
                note: Some("done by hand".into()),
            },
            NOW,
        )
        .expect("hand back");
    let kinds: Vec<&str> = decision.events.iter().map(|e| e.kind.type_name()).collect();
    assert_eq!(kinds, ["handed_back", "phase_changed"]);
    assert_eq!(decision.state.phase, Phase::HandedBack);
    // Agents only: the customer's client sees the phase change, not the note.
    assert!(!decision.events[0].kind.is_customer_visible());
    assert!(decision.events[1].kind.is_customer_visible());
}

//! The behaviour every [`Store`] backend must show, as async test functions. A backend's own
//! `tests/` calls [`run_all`] with a factory that makes a fresh, empty store per test, so
//! SQLite and PostgreSQL are held to the same contract.

use crate::{Agent, NewAgent, NewConversation, NewSession, Role, Store, StoreError, TokenHash};
use baton_domain::{
    AgentId, BotReply, Channel, ClientMessageId, Command, ConversationId, CustomerProfile, EventKind, HandoffRequester,
    MessageText, Phase, PhaseName, Rejection, Resolver,
};
use std::future::Future;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

type Result = std::result::Result<(), StoreError>;

/// One conformance check: given a fresh store, passes or names what failed.
type Check = fn(Arc<dyn Store>) -> std::pin::Pin<Box<dyn Future<Output = Result> + Send>>;

fn now() -> OffsetDateTime {
    // A fixed, microsecond-aligned instant keeps comparisons exact across backends.
    OffsetDateTime::from_unix_timestamp(1_772_532_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn text(s: &str) -> MessageText {
    MessageText::parse(s).unwrap_or_else(|e| panic!("test text {s:?}: {e}"))
}

fn cmid(s: &str) -> ClientMessageId {
    ClientMessageId::parse(s).unwrap_or_else(|e| panic!("test id {s:?}: {e}"))
}

fn customer_says(s: &str, id: &str) -> Command {
    Command::PostCustomerMessage {
        text: text(s),
        client_message_id: cmid(id),
    }
}

fn resolve_by(agent_id: AgentId) -> Command {
    Command::Resolve {
        by: Resolver::Agent(agent_id),
    }
}

fn handoff() -> Command {
    Command::RequestHandoff {
        requested_by: HandoffRequester::Customer,
        escalation: Default::default(),
    }
}

async fn new_conversation(store: &dyn Store, n: u8) -> std::result::Result<ConversationId, StoreError> {
    let id = ConversationId(Uuid::now_v7());
    let new = NewConversation {
        id,
        channel: Channel::Web,
        language: None,
        customer: CustomerProfile {
            name: Some(format!("Customer {n}")),
            email: None,
            external_id: None,
        },
        customer_token_hash: TokenHash([n; 32]),
    };
    store.create_conversation(new, now()).await?;
    Ok(id)
}

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let checks: Vec<(&str, Check)> = vec![
        ("creates with a first event", |s| {
            Box::pin(creates_with_a_first_event(s))
        }),
        ("concurrent appends are gapless", |s| {
            Box::pin(concurrent_appends_are_gapless(s))
        }),
        ("retries are idempotent", |s| Box::pin(retries_are_idempotent(s))),
        ("simultaneous retries store once", |s| {
            Box::pin(simultaneous_retries_store_once(s))
        }),
        ("exactly one accept wins", |s| Box::pin(exactly_one_accept_wins(s))),
        ("an agent at capacity accepts no more, even all at once", |s| {
            Box::pin(capacity_holds_under_simultaneous_accepts(s))
        }),
        ("waiting list is oldest first", |s| {
            Box::pin(waiting_list_is_oldest_first(s))
        }),
        ("rejections store nothing", |s| Box::pin(rejections_store_nothing(s))),
        ("a late retry still replays", |s| {
            Box::pin(a_late_retry_still_replays(s))
        }),
        ("agents and sessions", |s| Box::pin(agents_and_sessions(s))),
        ("conversations page by phase", |s| {
            Box::pin(conversations_page_by_phase(s))
        }),
        ("a bot turn is stored whole, once", |s| {
            Box::pin(a_bot_turn_is_stored_whole_once(s))
        }),
        ("work is claimed by one holder at a time", |s| {
            Box::pin(work_is_claimed_by_one_holder_at_a_time(s))
        }),
        ("unanswered messages are found once stale", |s| {
            Box::pin(unanswered_messages_are_found_once_stale(s))
        }),
    ];
    for (name, check) in checks {
        let store = make().await;
        if let Err(e) = check(store).await {
            panic!("conformance check `{name}` failed: {e}");
        }
    }
}

async fn creates_with_a_first_event(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 1).await?;
    let record = store
        .conversation(id)
        .await?
        .ok_or(StoreError::ConversationNotFound(id))?;
    assert_eq!(record.phase, Phase::Bot);
    assert_eq!(record.last_seq, 1);
    assert_eq!(record.customer.name.as_deref(), Some("Customer 1"));
    assert_eq!(store.customer_token_hash(id).await?, Some(TokenHash([1; 32])));
    let events = store.events_after(id, 0, 100).await?;
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0].kind, EventKind::ConversationStarted { .. }));
    assert_eq!(events[0].at, now());
    let unknown = ConversationId(Uuid::now_v7());
    assert!(store.conversation(unknown).await?.is_none());
    assert!(matches!(
        store.execute(unknown, handoff(), now()).await,
        Err(StoreError::ConversationNotFound(_))
    ));
    Ok(())
}

async fn concurrent_appends_are_gapless(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 2).await?;
    let mut tasks = Vec::new();
    for sender in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let id_text = format!("s{sender}-m{i}");
                store.execute(id, customer_says(&id_text, &id_text), now()).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap_or_else(|e| panic!("sender task panicked: {e}"))?;
    }
    let events = store.events_after(id, 0, 1_000).await?;
    assert_eq!(events.len(), 1 + 8 * 25);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.seq, i as u64 + 1, "sequence numbers must rise by exactly one");
    }
    // Each sender's own messages keep their order.
    for sender in 0..8 {
        let mine: Vec<String> = events
            .iter()
            .filter_map(|e| e.client_message_id().map(|c| c.as_str().to_owned()))
            .filter(|c| c.starts_with(&format!("s{sender}-")))
            .collect();
        let expected: Vec<String> = (0..25).map(|i| format!("s{sender}-m{i}")).collect();
        assert_eq!(mine, expected);
    }
    let after = store.events_after(id, 195, 1_000).await?;
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![196, 197, 198, 199, 200, 201]
    );
    assert_eq!(store.events_after(id, 0, 3).await?.len(), 3);
    Ok(())
}

async fn retries_are_idempotent(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 3).await?;
    let first = store
        .execute(id, customer_says("my order is late", "m-1"), now())
        .await?;
    assert!(!first.replayed);
    let retry = store
        .execute(id, customer_says("my order is late", "m-1"), now() + Duration::SECOND)
        .await?;
    assert!(retry.replayed);
    assert_eq!(
        retry.events, first.events,
        "a retry returns the original event, time included"
    );
    assert_eq!(store.events_after(id, 0, 100).await?.len(), 2);
    match store.execute(id, customer_says("something else", "m-1"), now()).await {
        Err(StoreError::IdempotencyConflict { client_message_id, seq }) => {
            assert_eq!(client_message_id, "m-1");
            assert_eq!(seq, 2);
        }
        other => panic!("expected an idempotency conflict, got {other:?}"),
    }
    // The same id in another conversation is a different message.
    let other = new_conversation(&*store, 4).await?;
    assert!(
        !store
            .execute(other, customer_says("hello", "m-1"), now())
            .await?
            .replayed
    );
    Ok(())
}

async fn simultaneous_retries_store_once(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 10).await?;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.execute(id, customer_says("same", "dup"), now()).await
        }));
    }
    tasks.push({
        let store = store.clone();
        tokio::spawn(async move { store.execute(id, handoff(), now()).await })
    });
    let mut fresh = 0;
    let mut seqs = Vec::new();
    for task in tasks {
        let executed = task.await.unwrap_or_else(|e| panic!("task panicked: {e}"))?;
        if executed.events.first().is_some_and(|e| e.client_message_id().is_some()) {
            fresh += usize::from(!executed.replayed);
            seqs.push(executed.events[0].seq);
        }
    }
    assert_eq!(fresh, 1, "one send stores the message, the others replay it");
    assert!(
        seqs.windows(2).all(|w| w[0] == w[1]),
        "every retry sees the same event: {seqs:?}"
    );
    let events = store.events_after(id, 0, 100).await?;
    assert_eq!(
        events.len(),
        4,
        "started, the message once, handoff requested, phase changed"
    );
    let record = store
        .conversation(id)
        .await?
        .ok_or(StoreError::ConversationNotFound(id))?;
    assert_eq!(record.phase, Phase::WaitingForAgent);
    assert_eq!(record.last_seq, 4);
    Ok(())
}

async fn exactly_one_accept_wins(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 5).await?;
    store.execute(id, handoff(), now()).await?;
    let mut tasks = Vec::new();
    for n in 0..6u128 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .execute(
                    id,
                    Command::Accept {
                        agent_id: AgentId(Uuid::from_u128(n + 1)),
                        waited_ms: None,
                        capacity: None,
                    },
                    now(),
                )
                .await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("accept task panicked: {e}")) {
            Ok(_) => winners += 1,
            Err(StoreError::Rejected(Rejection::NotAllowed { .. })) => {}
            Err(other) => return Err(other),
        }
    }
    assert_eq!(winners, 1);
    let record = store
        .conversation(id)
        .await?
        .ok_or(StoreError::ConversationNotFound(id))?;
    let owner = record
        .phase
        .agent_id()
        .unwrap_or_else(|| panic!("accepted conversation has no agent"));
    assert_eq!(store.agent_conversations(owner).await?.len(), 1);
    assert!(store.waiting_conversations(10).await?.is_empty());
    Ok(())
}

async fn capacity_holds_under_simultaneous_accepts(store: Arc<dyn Store>) -> Result {
    let agent_id = AgentId(Uuid::from_u128(77));
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = new_conversation(&*store, 40 + n).await?;
        store.execute(id, handoff(), now()).await?;
        ids.push(id);
    }
    let accept = Command::Accept {
        agent_id,
        waited_ms: Some(10),
        capacity: Some(2),
    };
    let mut tasks = Vec::new();
    for id in ids.clone() {
        let store = store.clone();
        let accept = accept.clone();
        tasks.push(tokio::spawn(async move { store.execute(id, accept, now()).await }));
    }
    let mut taken = 0;
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("accept task panicked: {e}")) {
            Ok(_) => taken += 1,
            Err(StoreError::Rejected(Rejection::AtCapacity { capacity: 2, .. })) => {}
            Err(other) => return Err(other),
        }
    }
    assert_eq!(taken, 2, "two seats, two accepts");
    assert_eq!(store.agent_conversations(agent_id).await?.len(), 2);
    // A seat frees: one more.
    let mine = store.agent_conversations(agent_id).await?;
    store
        .execute(
            mine[0].id,
            Command::Resolve {
                by: baton_domain::Resolver::Agent(agent_id),
            },
            now(),
        )
        .await?;
    let waiting = store.waiting_conversations(10).await?;
    store.execute(waiting[0].id, accept, now()).await?;
    assert_eq!(store.agent_conversations(agent_id).await?.len(), 2);
    Ok(())
}

async fn waiting_list_is_oldest_first(store: Arc<dyn Store>) -> Result {
    let a = new_conversation(&*store, 6).await?;
    let b = new_conversation(&*store, 7).await?;
    let c = new_conversation(&*store, 8).await?;
    store.execute(b, handoff(), now()).await?;
    store.execute(c, handoff(), now() + Duration::SECOND).await?;
    store.execute(a, handoff(), now() + Duration::seconds(2)).await?;
    let waiting: Vec<_> = store
        .waiting_conversations(10)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(waiting, vec![b, c, a]);
    let record = store
        .conversation(b)
        .await?
        .ok_or(StoreError::ConversationNotFound(b))?;
    assert_eq!(record.waiting_since, Some(now()));
    assert_eq!(store.waiting_conversations(2).await?.len(), 2);
    Ok(())
}

async fn rejections_store_nothing(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 9).await?;
    store.execute(id, handoff(), now()).await?;
    let agent_id = AgentId(Uuid::from_u128(77));
    store
        .execute(
            id,
            Command::Accept {
                agent_id,
                waited_ms: None,
                capacity: None,
            },
            now(),
        )
        .await?;
    let before = store.events_after(id, 0, 100).await?;
    let bot = Command::PostBotMessage {
        text: text("I can help!"),
        client_message_id: cmid("b-1"),
    };
    assert!(matches!(
        store.execute(id, bot, now()).await,
        Err(StoreError::Rejected(Rejection::BotNotOwner { .. }))
    ));
    assert_eq!(store.events_after(id, 0, 100).await?, before);
    store.execute(id, resolve_by(agent_id), now()).await?;
    assert!(matches!(
        store.execute(id, customer_says("hello?", "late"), now()).await,
        Err(StoreError::Rejected(Rejection::Closed { .. }))
    ));
    let record = store
        .conversation(id)
        .await?
        .ok_or(StoreError::ConversationNotFound(id))?;
    assert_eq!(record.phase, Phase::Resolved);
    Ok(())
}

/// A retry that arrives after the conversation moved on (here: was resolved, so a new message
/// would be refused) still answers with the original event rather than a rejection.
async fn a_late_retry_still_replays(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 11).await?;
    let first = store
        .execute(id, customer_says("are you there?", "early"), now())
        .await?;
    store.execute(id, handoff(), now()).await?;
    let agent_id = AgentId(Uuid::from_u128(78));
    store
        .execute(
            id,
            Command::Accept {
                agent_id,
                waited_ms: None,
                capacity: None,
            },
            now(),
        )
        .await?;
    store.execute(id, resolve_by(agent_id), now()).await?;
    let retry = store
        .execute(id, customer_says("are you there?", "early"), now() + Duration::MINUTE)
        .await?;
    assert!(retry.replayed);
    assert_eq!(retry.events, first.events);
    assert_eq!(retry.conversation.phase, Phase::Resolved);
    assert!(matches!(
        store.execute(id, customer_says("something new", "early"), now()).await,
        Err(StoreError::IdempotencyConflict { seq: 2, .. })
    ));
    Ok(())
}

async fn agents_and_sessions(store: Arc<dyn Store>) -> Result {
    let agent = Agent {
        id: AgentId(Uuid::now_v7()),
        email: "nina@example.com".into(),
        display_name: "Nina".into(),
        role: Role::Agent,
    };
    let new = NewAgent {
        agent: agent.clone(),
        password_hash: "$argon2id$fake".into(),
    };
    assert!(store.insert_agent_if_absent(new.clone(), now()).await?);
    let twin = NewAgent {
        agent: Agent {
            id: AgentId(Uuid::now_v7()),
            email: "NINA@example.com".into(),
            ..agent.clone()
        },
        ..new
    };
    assert!(
        !store.insert_agent_if_absent(twin, now()).await?,
        "emails are unique regardless of case"
    );
    let (found, hash) = store
        .agent_credentials("Nina@Example.com")
        .await?
        .unwrap_or_else(|| panic!("agent by email"));
    assert_eq!(found, agent);
    assert_eq!(hash, "$argon2id$fake");
    assert_eq!(store.agent(agent.id).await?, Some(agent.clone()));
    let token = TokenHash([42; 32]);
    let session = |verified: &str| NewSession {
        token_hash: token,
        agent_id: agent.id,
        verified_password_hash: verified.into(),
        now: now(),
        expires_at: now() + Duration::hours(1),
    };
    assert!(store.create_session(session("$argon2id$fake")).await?);
    assert_eq!(store.session_agent(token, now()).await?, Some(agent.clone()));
    assert_eq!(
        store.session_agent(token, now() + Duration::hours(2)).await?,
        None,
        "expired"
    );
    assert_eq!(store.session_agent(TokenHash([43; 32]), now()).await?, None);
    // Logout ends the session at once; ending it again finds nothing.
    assert!(store.revoke_session(token).await?);
    assert_eq!(store.session_agent(token, now()).await?, None, "revoked");
    assert!(!store.revoke_session(token).await?);
    // A password reset replaces the hash and ends every session of that agent.
    assert!(store.create_session(session("$argon2id$fake")).await?);
    assert!(
        store
            .reset_password(&agent.email.to_uppercase(), "$argon2id$new".into())
            .await?
    );
    assert_eq!(
        store.session_agent(token, now()).await?,
        None,
        "sessions end with a reset"
    );
    let (_, hash) = store
        .agent_credentials(&agent.email)
        .await?
        .unwrap_or_else(|| panic!("agent by email"));
    assert_eq!(hash, "$argon2id$new");
    // A login that checked the old password while the reset ran gets no session.
    assert!(
        !store.create_session(session("$argon2id$fake")).await?,
        "a session for a password that was reset"
    );
    assert_eq!(store.session_agent(token, now()).await?, None);
    assert!(store.create_session(session("$argon2id$new")).await?);
    assert_eq!(store.session_agent(token, now()).await?, Some(agent.clone()));
    assert!(!store.reset_password("nobody@example.com", "x".into()).await?);
    assert_eq!(store.agents().await?, vec![agent.clone()]);
    Ok(())
}

async fn conversations_page_by_phase(store: Arc<dyn Store>) -> Result {
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(new_conversation(&*store, 40 + n).await?);
    }
    store.execute(ids[2], handoff(), now()).await?;
    let bot = [PhaseName::Bot, PhaseName::HandedBack];
    let first = store.conversations_in_phases(&bot, None, 2).await?;
    let rest = store
        .conversations_in_phases(&bot, first.last().map(|c| c.id), 10)
        .await?;
    let paged: Vec<ConversationId> = first.iter().chain(&rest).map(|c| c.id).collect();
    assert_eq!(
        paged,
        [ids[0], ids[1], ids[3], ids[4]],
        "in creation order, without the waiting one"
    );
    let waiting = store
        .conversations_in_phases(&[PhaseName::WaitingForAgent], None, 10)
        .await?;
    assert_eq!(waiting.iter().map(|c| c.id).collect::<Vec<_>>(), [ids[2]]);
    assert!(store.conversations_in_phases(&[], None, 10).await?.is_empty());
    Ok(())
}

async fn a_bot_turn_is_stored_whole_once(store: Arc<dyn Store>) -> Result {
    let id = new_conversation(&*store, 50).await?;
    let turn = || Command::RecordBotTurn {
        records: vec![EventKind::DialogueMoved {
            flow: Some("order_status".into()),
            awaiting: None,
        }],
        reply: Some(BotReply {
            text: text("Which order is it?"),
            client_message_id: cmid("bot:2"),
            suggestions: Vec::new(),
        }),
        handoff: None,
    };
    let first = store.execute(id, turn(), now()).await?;
    assert_eq!(first.events.len(), 2);
    assert_eq!(first.conversation.last_seq, 3);
    // The same turn again (a retry after a lost answer) stores nothing new.
    let again = store.execute(id, turn(), now()).await?;
    assert!(again.replayed);
    assert_eq!(again.events[0].seq, 3);
    let stored = store.events_after(id, 0, 100).await?;
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1], first.events[0]);
    // Once an agent owns the conversation, the reply is refused and nothing is written.
    store.execute(id, handoff(), now()).await?;
    store
        .execute(
            id,
            Command::Accept {
                agent_id: AgentId(Uuid::from_u128(7)),
                waited_ms: None,
                capacity: None,
            },
            now(),
        )
        .await?;
    let before = store.events_after(id, 0, 100).await?.len();
    let mut late = turn();
    if let Command::RecordBotTurn { reply: Some(reply), .. } = &mut late {
        reply.client_message_id = cmid("bot:late");
    }
    assert!(matches!(
        store.execute(id, late, now()).await,
        Err(StoreError::Rejected(Rejection::BotNotOwner { .. }))
    ));
    assert_eq!(store.events_after(id, 0, 100).await?.len(), before);
    Ok(())
}

async fn work_is_claimed_by_one_holder_at_a_time(store: Arc<dyn Store>) -> Result {
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let lease = Duration::seconds(60);
    let t0 = now();
    assert!(
        store.claim("bot:a:2", first, t0, t0 + lease).await?,
        "free work is claimed"
    );
    assert!(
        !store
            .claim("bot:a:2", second, t0 + Duration::seconds(1), t0 + lease)
            .await?,
        "held by another"
    );
    assert!(
        !store
            .claim("bot:a:2", first, t0 + Duration::seconds(2), t0 + lease * 2)
            .await?,
        "not even its holder takes it again before the lease runs out"
    );
    assert!(
        !store
            .claim("bot:a:2", second, t0 + lease - Duration::seconds(1), t0 + lease * 3)
            .await?,
        "the lease holds to its end"
    );
    assert!(
        store.claim("bot:b:2", second, t0, t0 + lease).await?,
        "other work is free"
    );
    assert!(
        store.claim("bot:a:2", second, t0 + lease * 2, t0 + lease * 3).await?,
        "an expired lease goes to whoever asks"
    );
    // Many holders asking at once: exactly one gets it.
    let mut asks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        asks.push(tokio::spawn(async move {
            store.claim("bot:c:9", Uuid::new_v4(), t0, t0 + lease).await
        }));
    }
    let mut winners = 0;
    for ask in asks {
        if ask.await.map_err(|e| StoreError::corrupt("claim task", e))?? {
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one of the simultaneous claims wins");
    Ok(())
}

async fn unanswered_messages_are_found_once_stale(store: Arc<dyn Store>) -> Result {
    let silent = new_conversation(&*store, 30).await?;
    let answered = new_conversation(&*store, 31).await?;
    let with_agent = new_conversation(&*store, 32).await?;
    let t0 = now();
    store.execute(silent, customer_says("hello?", "s1"), t0).await?;
    store.execute(answered, customer_says("hi", "a1"), t0).await?;
    let reply = BotReply {
        text: text("Hello! How can I help?"),
        client_message_id: cmid("bot:2"),
        suggestions: Vec::new(),
    };
    store
        .execute(
            answered,
            Command::RecordBotTurn {
                records: Vec::new(),
                reply: Some(reply),
                handoff: None,
            },
            t0,
        )
        .await?;
    store.execute(with_agent, handoff(), t0).await?;
    let agent_id = AgentId(Uuid::now_v7());
    store
        .execute(
            with_agent,
            Command::Accept {
                agent_id,
                waited_ms: None,
                capacity: None,
            },
            t0,
        )
        .await?;
    store.execute(with_agent, customer_says("anyone?", "w1"), t0).await?;
    let waiting = new_conversation(&*store, 33).await?;
    store.execute(waiting, handoff(), t0).await?;
    // Not stale yet: stored at t0, asked about work left before t0.
    let since = t0 - Duration::hours(1);
    assert!(store.unfinished_work(since, t0, 10).await?.is_empty());
    let later = t0 + Duration::seconds(30);
    let mut unfinished = store.unfinished_work(since, later, 10).await?;
    unfinished.sort();
    let mut expected = vec![silent, waiting];
    expected.sort();
    assert_eq!(
        unfinished, expected,
        "the bot's conversation whose last word is the customer's, and the handoff without its package \
         (not the conversation an agent owns)"
    );
    // Too old to take over: left before the window.
    assert!(store
        .unfinished_work(t0 + Duration::seconds(1), later, 10)
        .await?
        .is_empty());
    Ok(())
}

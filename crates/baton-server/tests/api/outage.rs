//! The database becoming unavailable and coming back: health answers 503 while it is gone,
//! requests get problem answers, nothing acknowledged before is lost, and service resumes by
//! itself. The outage is injected between the server and its real SQLite store (SQLite in WAL
//! mode cannot be locked against readers from outside); a PostgreSQL restart is the scale-out
//! issue's test.

use crate::common::TestApp;
use async_trait::async_trait;
use baton_domain::{AgentId, Command, ConversationId, Event, PhaseName};
use baton_store::{
    Agent, ConversationRecord, Executed, NewAgent, NewConversation, NewSession, Store, StoreError, TokenHash,
};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use time::OffsetDateTime;

/// A store that fails every call, as a database that went away does, while `down` is set.
struct Outage {
    inner: Arc<dyn Store>,
    down: Arc<AtomicBool>,
}

impl Outage {
    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Backend {
                operation,
                source: "unable to open database file (injected outage)".into(),
            })
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for Outage {
    async fn ping(&self) -> Result<(), StoreError> {
        self.check("ping")?;
        self.inner.ping().await
    }
    async fn create_conversation(
        &self,
        new: NewConversation,
        now: OffsetDateTime,
    ) -> Result<(ConversationRecord, Event), StoreError> {
        self.check("creating a conversation")?;
        self.inner.create_conversation(new, now).await
    }
    async fn conversation(&self, id: ConversationId) -> Result<Option<ConversationRecord>, StoreError> {
        self.check("reading a conversation")?;
        self.inner.conversation(id).await
    }
    async fn customer_token_hash(&self, id: ConversationId) -> Result<Option<TokenHash>, StoreError> {
        self.check("reading a token")?;
        self.inner.customer_token_hash(id).await
    }
    async fn execute(&self, id: ConversationId, command: Command, now: OffsetDateTime) -> Result<Executed, StoreError> {
        self.check("executing a command")?;
        self.inner.execute(id, command, now).await
    }
    async fn events_after(&self, id: ConversationId, after: u64, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.check("reading events")?;
        self.inner.events_after(id, after, limit).await
    }
    async fn waiting_conversations(&self, limit: u32) -> Result<Vec<ConversationRecord>, StoreError> {
        self.check("reading the queue")?;
        self.inner.waiting_conversations(limit).await
    }
    async fn conversations_in_phases(
        &self,
        phases: &[PhaseName],
        after: Option<ConversationId>,
        limit: u32,
    ) -> Result<Vec<ConversationRecord>, StoreError> {
        self.check("paging conversations")?;
        self.inner.conversations_in_phases(phases, after, limit).await
    }
    async fn agent_conversations(&self, agent_id: AgentId) -> Result<Vec<ConversationRecord>, StoreError> {
        self.check("reading an agent's conversations")?;
        self.inner.agent_conversations(agent_id).await
    }
    async fn insert_agent_if_absent(&self, new: NewAgent, now: OffsetDateTime) -> Result<bool, StoreError> {
        self.check("creating an agent")?;
        self.inner.insert_agent_if_absent(new, now).await
    }
    async fn agent_credentials(&self, email: &str) -> Result<Option<(Agent, String)>, StoreError> {
        self.check("reading credentials")?;
        self.inner.agent_credentials(email).await
    }
    async fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        self.check("reading an agent")?;
        self.inner.agent(id).await
    }
    async fn create_session(&self, session: NewSession) -> Result<bool, StoreError> {
        self.check("creating a session")?;
        self.inner.create_session(session).await
    }
    async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        self.check("listing agents")?;
        self.inner.agents().await
    }
    async fn reset_password(&self, email: &str, password_hash: String) -> Result<bool, StoreError> {
        self.check("resetting a password")?;
        self.inner.reset_password(email, password_hash).await
    }
    async fn revoke_session(&self, token_hash: TokenHash) -> Result<bool, StoreError> {
        self.check("revoking a session")?;
        self.inner.revoke_session(token_hash).await
    }
    async fn session_agent(&self, token_hash: TokenHash, now: OffsetDateTime) -> Result<Option<Agent>, StoreError> {
        self.check("reading a session")?;
        self.inner.session_agent(token_hash, now).await
    }
    async fn claim(
        &self,
        work: &str,
        holder: uuid::Uuid,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.check("claiming work")?;
        self.inner.claim(work, holder, now, until).await
    }
    async fn unfinished_work(
        &self,
        since: OffsetDateTime,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ConversationId>, StoreError> {
        self.check("finding unfinished work")?;
        self.inner.unfinished_work(since, before, limit).await
    }
}

async fn health(app: &TestApp) -> (u16, Option<String>, Value) {
    let response = app.http.get(app.url("/healthz")).send().await.expect("healthz");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, content_type, response.json().await.expect("json body"))
}

#[tokio::test]
async fn health_is_503_while_the_database_is_gone_and_service_resumes_after() {
    let down = Arc::new(AtomicBool::new(false));
    let switch = down.clone();
    let app = TestApp::builder()
        .with_store_wrapper(move |inner| Arc::new(Outage { inner, down: switch }))
        .start()
        .await;
    assert_eq!(health(&app).await.0, 200);
    let customer = app.new_conversation().await;
    for n in 0..3 {
        let sent = app
            .post_message(&customer.id, &customer.token, &format!("before {n}"), &format!("b{n}"))
            .await;
        assert_eq!(sent.status(), 201);
    }

    down.store(true, Ordering::SeqCst);
    let (status, content_type, body) = health(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert!(
        body["detail"].as_str().unwrap_or("").contains("database"),
        "says what is wrong: {body}"
    );
    let refused = app.post_message(&customer.id, &customer.token, "during", "d0").await;
    assert!(refused.status().is_server_error(), "{}", refused.status());
    let problem: Value = refused.json().await.expect("problem body");
    assert!(problem["title"].is_string(), "a problem answer: {problem}");
    assert!(
        !problem.to_string().contains("injected outage"),
        "the database's own message stays in the log: {problem}"
    );

    down.store(false, Ordering::SeqCst);
    assert_eq!(health(&app).await.0, 200, "recovers without a restart");
    // The client retries the refused message with its id; it is stored now, once.
    for _ in 0..2 {
        let retried = app.post_message(&customer.id, &customer.token, "during", "d0").await;
        assert!(
            retried.status() == 201 || retried.status() == 200,
            "{}",
            retried.status()
        );
    }
    let sent = app.post_message(&customer.id, &customer.token, "after", "a0").await;
    assert_eq!(sent.status(), 201);
    let texts: Vec<String> = app
        .events(&customer.id, &customer.token, 0)
        .await
        .iter()
        .filter(|e| e["type"] == "customer_message")
        .map(|e| e["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        texts,
        ["before 0", "before 1", "before 2", "during", "after"],
        "everything acknowledged is kept; the refused message is stored once, on its retry"
    );
}

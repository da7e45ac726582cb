//! Who is calling: bearer tokens for customers and agents, password hashing for agent logins.
//!
//! Tokens carry 256 random bits, are shown to their holder once and stored only as SHA-256
//! hashes. A customer token opens exactly one conversation; for any other conversation the
//! answer is 404, the same as for a conversation that does not exist. Passwords are hashed
//! with argon2id. Neither tokens nor passwords are ever logged.

use crate::problem::ApiError;
use crate::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use baton_domain::ConversationId;
use baton_store::{Agent, TokenHash};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Prefix of customer tokens.
pub const CUSTOMER_TOKEN_PREFIX: &str = "bct_";
/// Prefix of agent session tokens.
pub const AGENT_TOKEN_PREFIX: &str = "bat_";

/// A bearer token in clear. Its `Debug` form hides the value so it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Draws a new random token with the given prefix.
    pub fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(format!("{prefix}{}", hex::encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        hash_token(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// A random password for a new agent, shown once.
pub fn generate_password() -> String {
    let mut bytes = [0u8; 15];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("hashing a password failed: {0}")]
pub struct PasswordHashError(String);

pub fn hash_password(password: &str) -> Result<String, PasswordHashError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordHashError(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A hash computed for logins of unknown emails, so that they take as long as real ones.
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

/// The bearer token of a request: the `Authorization: Bearer` header or, for WebSocket
/// clients that cannot set headers, the `access_token` query parameter.
pub fn bearer_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}

/// The caller of an endpoint that both customers and agents may use.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Holds a customer token; which conversation it opens is checked per request.
    Customer(TokenHash),
    Agent(Agent),
}

impl Caller {
    /// Whether this caller is shown `event`: agents see the whole log; customers see the
    /// conversation, not the bot's internal records (analysis, identity checks, actions).
    pub fn sees(&self, event: &baton_domain::Event) -> bool {
        match self {
            Caller::Customer(_) => event.kind.is_customer_visible(),
            Caller::Agent(_) => true,
        }
    }

    /// `event` as this caller is shown it, if at all: agents the whole event, customers
    /// [`baton_domain::Event::customer_view`] (no internal records, no handoff triage).
    pub fn view<'e>(&self, event: &'e baton_domain::Event) -> Option<std::borrow::Cow<'e, baton_domain::Event>> {
        match self {
            Caller::Customer(_) => event.customer_view(),
            Caller::Agent(_) => Some(std::borrow::Cow::Borrowed(event)),
        }
    }

    /// The key the rate limiter counts this caller under.
    pub fn rate_key(&self) -> TokenHash {
        match self {
            Caller::Customer(hash) => *hash,
            Caller::Agent(agent) => TokenHash(Sha256::digest(agent.id.0.as_bytes()).into()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthorized("send `Authorization: Bearer <token>` (a customer token or an agent token)")
        })?;
        if token.starts_with(CUSTOMER_TOKEN_PREFIX) {
            return Ok(Caller::Customer(hash_token(&token)));
        }
        if token.starts_with(AGENT_TOKEN_PREFIX) {
            let agent = state
                .store
                .session_agent(hash_token(&token), crate::now())
                .await?
                .ok_or_else(|| ApiError::unauthorized("the agent token is unknown or expired; log in again"))?;
            return Ok(Caller::Agent(agent));
        }
        Err(ApiError::unauthorized("the bearer token is not a Baton token"))
    }
}

/// The hash of the agent session token a request carries, if it carries one: what a stream
/// re-checks while it stays open, and what logout ends. Never fails; authentication is the
/// other extractors' job.
#[derive(Debug, Clone, Copy)]
pub struct SessionHash(pub Option<TokenHash>);

impl FromRequestParts<AppState> for SessionHash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(SessionHash(
            bearer_token(parts)
                .filter(|t| t.starts_with(AGENT_TOKEN_PREFIX))
                .map(|t| hash_token(&t)),
        ))
    }
}

/// An authenticated agent.
#[derive(Debug, Clone)]
pub struct AgentCaller(pub Agent);

impl FromRequestParts<AppState> for AgentCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Agent(agent) => Ok(AgentCaller(agent)),
            Caller::Customer(_) => Err(ApiError::forbidden("this endpoint is for agents; log in as an agent")),
        }
    }
}

/// Checks that `caller` may read and write conversation `id`. Customers may open only their
/// own; anything else answers 404 so that ids cannot be probed.
pub async fn authorize_conversation(state: &AppState, caller: &Caller, id: ConversationId) -> Result<(), ApiError> {
    match caller {
        Caller::Agent(_) => Ok(()),
        Caller::Customer(presented) => {
            let stored = match state.customer_tokens.get(id) {
                Some(known) => Some(known),
                None => {
                    let stored = state.store.customer_token_hash(id).await?;
                    if let Some(hash) = stored {
                        state.customer_tokens.remember(id, hash);
                    }
                    stored
                }
            };
            match stored {
                Some(stored) if bool::from(stored.0.ct_eq(&presented.0)) => Ok(()),
                _ => Err(ApiError::not_found("no such conversation")),
            }
        }
    }
}

/// The customer token hashes of recently used conversations, so that a customer's every
/// request (a widget posts each message over REST) does not read the store to check its token.
/// Safe to keep: a conversation's token hash is set when it is created and never changes, and
/// conversations are never deleted. Bounded: the least recently used are forgotten first, and
/// a forgotten one is read from the store again. Only hashes are kept, never tokens.
pub struct CustomerTokens(std::sync::Mutex<lru::LruCache<ConversationId, TokenHash>>);

impl CustomerTokens {
    /// At most `capacity` conversations (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = std::num::NonZeroUsize::new(capacity).unwrap_or(std::num::NonZeroUsize::MIN);
        Self(std::sync::Mutex::new(lru::LruCache::new(capacity)))
    }

    pub fn get(&self, id: ConversationId) -> Option<TokenHash> {
        self.lock().get(&id).copied()
    }

    pub fn remember(&self, id: ConversationId, hash: TokenHash) {
        self.lock().put(id, hash);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, lru::LruCache<ConversationId, TokenHash>> {
        // The cache holds no invariant a panicking holder could break.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_never_printed() {
        let a = Token::generate(CUSTOMER_TOKEN_PREFIX);
        let b = Token::generate(CUSTOMER_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.expose().starts_with("bct_"));
        assert_eq!(a.expose().len(), 4 + 64);
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
        assert_eq!(a.hash(), hash_token(a.expose()));
    }

    #[test]
    fn customer_tokens_are_bounded_and_forget_the_least_recently_used() {
        let tokens = CustomerTokens::new(2);
        let ids: Vec<ConversationId> = (0..3).map(|_| ConversationId(uuid::Uuid::now_v7())).collect();
        let hash = |n: u8| TokenHash([n; 32]);
        tokens.remember(ids[0], hash(0));
        tokens.remember(ids[1], hash(1));
        assert_eq!(tokens.get(ids[0]), Some(hash(0)), "a use makes it recent");
        tokens.remember(ids[2], hash(2));
        assert_eq!(tokens.get(ids[1]), None, "the least recently used is forgotten");
        assert_eq!(tokens.get(ids[0]), Some(hash(0)));
        assert_eq!(tokens.get(ids[2]), Some(hash(2)));
        assert!(
            CustomerTokens::new(0).get(ids[0]).is_none(),
            "a zero capacity still works"
        );
    }

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}

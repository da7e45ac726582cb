//! Bounds on what one client can make the server do: messages per token, conversations and
//! logins per IP address, logins per email, open streams per token. Each refusal is a 429
//! problem with `Retry-After`, and a client over its limit slows down no one else.

use crate::config::Limits;
use crate::problem::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use baton_store::TokenHash;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

/// Every limiter of one server.
pub struct Limiters {
    messages: DefaultKeyedRateLimiter<[u8; 32]>,
    conversations_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    logins_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    logins_per_email: DefaultKeyedRateLimiter<String>,
    streams: Mutex<HashMap<[u8; 32], u32>>,
    streams_per_ip: Mutex<HashMap<IpAddr, u32>>,
    max_streams: u32,
    max_streams_per_ip: u32,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn check<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K, what: &str) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1);
        ApiError::rate_limited(wait, what)
    })
}

impl Limiters {
    pub fn new(limits: &Limits) -> Self {
        let per_minute = |n: u32| Quota::per_minute(nonzero(n)).allow_burst(nonzero(n));
        Self {
            messages: RateLimiter::keyed(
                Quota::per_second(nonzero(limits.messages_per_second)).allow_burst(nonzero(limits.message_burst)),
            ),
            conversations_per_ip: RateLimiter::keyed(per_minute(limits.conversations_per_minute_per_ip)),
            logins_per_ip: RateLimiter::keyed(per_minute(limits.logins_per_minute)),
            logins_per_email: RateLimiter::keyed(per_minute(limits.logins_per_minute)),
            streams: Mutex::new(HashMap::new()),
            streams_per_ip: Mutex::new(HashMap::new()),
            max_streams: limits.max_streams_per_token,
            max_streams_per_ip: limits.max_streams_per_ip,
        }
    }

    /// One message from the holder of `token`.
    pub fn message(&self, token: TokenHash) -> Result<(), ApiError> {
        check(&self.messages, &token.0, "this token is sending too fast")
    }

    /// One new conversation from `ip`.
    pub fn new_conversation(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match ip {
            Some(ip) => check(
                &self.conversations_per_ip,
                &ip,
                "too many new conversations from this address",
            ),
            None => Ok(()),
        }
    }

    /// One login attempt, counted against the address and against the email.
    pub fn login(&self, ip: Option<IpAddr>, email: &str) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            check(&self.logins_per_ip, &ip, "too many login attempts from this address")?;
        }
        check(
            &self.logins_per_email,
            &email.trim().to_lowercase(),
            "too many login attempts for this account",
        )
    }

    /// Reserves one open stream for `token` from `ip`; the slot is given back when dropped.
    pub fn open_stream(self: &Arc<Self>, token: TokenHash, ip: Option<IpAddr>) -> Result<StreamSlot, ApiError> {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let mut per_ip = self.streams_per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if streams.get(&token.0).copied().unwrap_or(0) >= self.max_streams {
            return Err(ApiError::too_many_streams(format!(
                "this token already has {} open streams, the most allowed; close one first",
                self.max_streams
            )));
        }
        if let Some(ip) = ip {
            if per_ip.get(&ip).copied().unwrap_or(0) >= self.max_streams_per_ip {
                return Err(ApiError::too_many_streams(format!(
                    "this address already has {} open streams, the most allowed",
                    self.max_streams_per_ip
                )));
            }
            *per_ip.entry(ip).or_default() += 1;
        }
        *streams.entry(token.0).or_default() += 1;
        Ok(StreamSlot {
            limiters: self.clone(),
            key: token.0,
            ip,
        })
    }

    /// Forgets keys that have not been seen for a while (run periodically).
    pub fn retain_recent(&self) {
        self.messages.retain_recent();
        self.conversations_per_ip.retain_recent();
        self.logins_per_ip.retain_recent();
        self.logins_per_email.retain_recent();
    }
}

/// One open stream counted against its token.
pub struct StreamSlot {
    limiters: Arc<Limiters>,
    key: [u8; 32],
    ip: Option<IpAddr>,
}

/// Takes one from a counter, removing it at zero.
fn release<K: Hash + Eq>(counts: &Mutex<HashMap<K, u32>>, key: &K) {
    let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(open) = counts.get_mut(key) {
        *open = open.saturating_sub(1);
        if *open == 0 {
            counts.remove(key);
        }
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        release(&self.limiters.streams, &self.key);
        if let Some(ip) = &self.ip {
            release(&self.limiters.streams_per_ip, ip);
        }
    }
}

/// The client's IP address, when the server knows it.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        ))
    }
}

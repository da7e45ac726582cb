//! Failed proofs of identity per account, over all of its conversations.
//!
//! The dialogue stops asking after a few failures in one conversation, and the escalation
//! policy brings in a person; but a new conversation starts the count again, so four digits
//! could be guessed a couple at a time. [`FailedProofs`] remembers, per account (the CRM's
//! customer id), when its recent proofs failed: once `limit` failed within `window`, no proof
//! for the account is checked until the oldest of them is older than the window. A proof that
//! succeeds clears the count.
//!
//! It counts in this process's memory, for the most recently failed 100,000 accounts; when
//! several instances share a PostgreSQL database it counts in the store instead, so guesses
//! spread over the instances add up. It knows nothing of connectors or conversations.

use baton_store::Store;
use lru::LruCache;
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Accounts whose failures are remembered; beyond this, the least recently failed is forgotten.
const ACCOUNTS: NonZeroUsize = match NonZeroUsize::new(100_000) {
    Some(n) => n,
    None => panic!("a positive capacity"),
};

/// Recent failed proofs of identity, per account.
pub struct FailedProofs {
    limit: usize,
    window: Duration,
    failures: Mutex<LruCache<String, VecDeque<Instant>>>,
    /// The database the instances sharing it count in: then it alone decides.
    shared: Option<Arc<dyn Store>>,
}

impl FailedProofs {
    /// Allows `limit` failed proofs per account within `window`, counted in this process's
    /// memory, or in `shared` (the store several instances share) when given.
    pub fn new(limit: u32, window: Duration, shared: Option<Arc<dyn Store>>) -> Self {
        FailedProofs {
            limit: limit.max(1) as usize,
            window,
            failures: Mutex::new(LruCache::new(ACCOUNTS)),
            shared,
        }
    }

    /// Takes one of `account`'s attempts, counted as failed unless [`FailedProofs::succeeded`]
    /// follows; false when they are used up, and then no proof is checked. Checking and
    /// counting are one step, so proofs sent at once cannot all slip under the limit. Shared,
    /// the store counts under a lock per account; a store that cannot answer refuses (the turn
    /// could not be stored either).
    pub async fn attempt(&self, account: &str, now: Instant) -> bool {
        let Some(store) = &self.shared else {
            return self.attempt_here(account, now);
        };
        match store.reserve_proof(account, self.limit as u32, self.window).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(error = %e, "counting a proof attempt in the store failed: not checked");
                false
            }
        }
    }

    /// The proof for `account` succeeded: its failures are forgotten.
    pub async fn succeeded(&self, account: &str) {
        let Some(store) = &self.shared else {
            self.lock().pop(account);
            return;
        };
        if let Err(e) = store.clear_failed_proofs(account).await {
            tracing::warn!(error = %e, "forgetting failed proofs in the store failed");
        }
    }

    fn attempt_here(&self, account: &str, now: Instant) -> bool {
        let mut failures = self.lock();
        let times = failures.get_or_insert_mut(account.to_owned(), VecDeque::new);
        while times
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.limit {
            return false;
        }
        times.push_back(now);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_account_is_refused_at_the_limit_until_its_oldest_failure_ages_out() {
        let proofs = FailedProofs::new(3, Duration::from_secs(60), None);
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert!(proofs.attempt("c-1", at(0)).await);
        assert!(proofs.attempt("c-1", at(10)).await);
        assert!(proofs.attempt("c-1", at(20)).await, "the third of three");
        assert!(!proofs.attempt("c-1", at(21)).await);
        assert!(proofs.attempt("c-2", at(21)).await, "another account is not touched");
        assert!(!proofs.attempt("c-1", at(59)).await, "a refused attempt counts nothing");
        // The first failure is a minute old: one more guess, not three.
        assert!(proofs.attempt("c-1", at(60)).await);
        assert!(!proofs.attempt("c-1", at(61)).await);
    }

    #[tokio::test]
    async fn a_proof_that_succeeds_clears_the_count() {
        let proofs = FailedProofs::new(2, Duration::from_secs(60), None);
        let now = Instant::now();
        assert!(proofs.attempt("c-1", now).await);
        assert!(proofs.attempt("c-1", now).await);
        proofs.succeeded("c-1").await;
        assert!(proofs.attempt("c-1", now).await);
        assert!(proofs.attempt("c-1", now).await);
        assert!(!proofs.attempt("c-1", now).await);
    }
}

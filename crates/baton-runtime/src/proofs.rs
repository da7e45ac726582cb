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
//! several instances share a PostgreSQL database ([`FailedProofs::share_with`]) it also counts
//! in the store, so guesses spread over the instances add up. It knows nothing of connectors or
//! conversations.

use baton_store::Store;
use lru::LruCache;
use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};
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
    /// The database other instances count in too, when they share one.
    shared: OnceLock<Arc<dyn Store>>,
}

impl FailedProofs {
    /// Allows `limit` failed proofs per account within `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        FailedProofs {
            limit: limit.max(1) as usize,
            window,
            failures: Mutex::new(LruCache::new(ACCOUNTS)),
            shared: OnceLock::new(),
        }
    }

    /// Counts in `store` too, with the other instances sharing its database.
    pub fn share_with(&self, store: Arc<dyn Store>) {
        let _ = self.shared.set(store);
    }

    /// Whether no proof for `account` is checked now: by this process's count, or (shared)
    /// by every instance's. A store that cannot answer leaves this process's count to decide.
    pub async fn refuses(&self, account: &str, now: Instant) -> bool {
        if self.locked(account, now) {
            return true;
        }
        let Some(store) = self.shared.get() else {
            return false;
        };
        match store.failed_proofs(account, self.window).await {
            Ok(count) => count as usize >= self.limit,
            Err(e) => {
                tracing::warn!(error = %e, "reading the shared count of failed proofs failed");
                false
            }
        }
    }

    /// Counts a failed proof for `account`, here and (shared) in the store.
    pub async fn count_failure(&self, account: &str, now: Instant) {
        self.failed(account, now);
        if let Some(store) = self.shared.get() {
            if let Err(e) = store.record_failed_proof(account, self.window).await {
                tracing::warn!(error = %e, "counting a failed proof in the store failed");
            }
        }
    }

    /// A proof for `account` succeeded: its failures are forgotten, here and (shared) in the
    /// store.
    pub async fn count_success(&self, account: &str) {
        self.succeeded(account);
        if let Some(store) = self.shared.get() {
            if let Err(e) = store.clear_failed_proofs(account).await {
                tracing::warn!(error = %e, "forgetting failed proofs in the store failed");
            }
        }
    }

    /// Whether `account` has used up its failures: no proof for it is checked now.
    pub fn locked(&self, account: &str, now: Instant) -> bool {
        let mut failures = self.lock();
        let Some(times) = failures.get_mut(account) else {
            return false;
        };
        self.forget_old(times, now);
        times.len() >= self.limit
    }

    /// Counts a failed proof for `account`.
    pub fn failed(&self, account: &str, now: Instant) {
        let mut failures = self.lock();
        let times = failures.get_or_insert_mut(account.to_owned(), VecDeque::new);
        self.forget_old(times, now);
        times.push_back(now);
        // Only the last `limit` matter for the lock.
        while times.len() > self.limit {
            times.pop_front();
        }
    }

    /// A proof for `account` succeeded: its failures are forgotten.
    pub fn succeeded(&self, account: &str) {
        self.lock().pop(account);
    }

    fn forget_old(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= self.window)
        {
            times.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_at_the_limit_until_its_oldest_failure_ages_out() {
        let proofs = FailedProofs::new(3, Duration::from_secs(60));
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        proofs.failed("c-1", at(0));
        proofs.failed("c-1", at(10));
        assert!(!proofs.locked("c-1", at(11)), "two of three");
        proofs.failed("c-1", at(20));
        assert!(proofs.locked("c-1", at(21)));
        assert!(!proofs.locked("c-2", at(21)), "another account is not touched");
        assert!(proofs.locked("c-1", at(59)));
        // The first failure is a minute old: one more guess, not three.
        assert!(!proofs.locked("c-1", at(60)));
        proofs.failed("c-1", at(61));
        assert!(proofs.locked("c-1", at(62)));
    }

    #[test]
    fn a_proof_that_succeeds_clears_the_count() {
        let proofs = FailedProofs::new(2, Duration::from_secs(60));
        let now = Instant::now();
        proofs.failed("c-1", now);
        proofs.succeeded("c-1");
        proofs.failed("c-1", now);
        assert!(!proofs.locked("c-1", now));
    }
}

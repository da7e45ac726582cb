//! The circuit breaker of one HTTP connector instance: after `failures` consecutive failures
//! it opens and calls fail fast; after the cooldown one trial call goes through (half-open);
//! its success closes the circuit, its failure opens it again.
//!
//! Owns: the breaker's state machine and its admission permits. Must not touch: HTTP, retries
//! or what counts as a failure (the transport decides and reports).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The one trial call is under way.
    HalfOpen,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    connector: &'static str,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

/// Leave to make one call. Report its outcome with [`Breaker::success`] or
/// [`Breaker::failure`]; a permit dropped unreported (the caller gave up) lets the next call
/// be the trial again.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    trial: bool,
    reported: bool,
}

impl Breaker {
    pub(crate) fn new(connector: &'static str, threshold: u32, cooldown: Duration) -> Self {
        Self {
            connector,
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A permit, or `None` while the circuit is open (or its trial call is under way).
    pub(crate) fn admit(&self) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                tracing::debug!(connector = self.connector, "circuit half-open: trial call");
                true
            }
            State::Open { .. } | State::HalfOpen => return None,
        };
        Some(Permit {
            breaker: self,
            trial,
            reported: false,
        })
    }

    pub(crate) fn success(&self, mut permit: Permit<'_>) {
        permit.reported = true;
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => *state = State::Closed { failures: 0 },
            State::HalfOpen if permit.trial => {
                tracing::info!(connector = self.connector, "circuit closed");
                *state = State::Closed { failures: 0 };
            }
            // A call admitted before the circuit opened: the trial decides.
            State::HalfOpen | State::Open { .. } => {}
        }
    }

    pub(crate) fn failure(&self, mut permit: Permit<'_>) {
        permit.reported = true;
        let mut state = self.lock();
        match *state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.threshold {
                    tracing::warn!(
                        connector = self.connector,
                        failures,
                        cooldown_ms = self.cooldown.as_millis() as u64,
                        "circuit opened"
                    );
                    *state = State::Open {
                        until: Instant::now() + self.cooldown,
                    };
                } else {
                    *state = State::Closed { failures };
                }
            }
            State::HalfOpen if permit.trial => {
                tracing::warn!(connector = self.connector, "trial call failed: circuit opened again");
                *state = State::Open {
                    until: Instant::now() + self.cooldown,
                };
            }
            State::HalfOpen | State::Open { .. } => {}
        }
    }

    #[cfg(test)]
    fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.trial && !self.reported {
            let mut state = self.breaker.lock();
            if *state == State::HalfOpen {
                *state = State::Open { until: Instant::now() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_half_opens_after_cooldown() {
        let breaker = Breaker::new("crm", 3, Duration::from_millis(200));
        for _ in 0..2 {
            let permit = breaker.admit().expect("closed");
            breaker.failure(permit);
        }
        // A success resets the count.
        let permit = breaker.admit().expect("closed");
        breaker.success(permit);
        for _ in 0..3 {
            let permit = breaker.admit().expect("closed");
            breaker.failure(permit);
        }
        assert!(breaker.is_open());
        assert!(breaker.admit().is_none());

        tokio::time::advance(Duration::from_millis(201)).await;
        let trial = breaker.admit().expect("half-open trial");
        assert!(breaker.admit().is_none(), "only one trial at a time");
        breaker.failure(trial);
        assert!(breaker.admit().is_none(), "a failed trial opens it again");

        tokio::time::advance(Duration::from_millis(201)).await;
        let trial = breaker.admit().expect("second trial");
        breaker.success(trial);
        assert!(!breaker.is_open());
        assert!(breaker.admit().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_trial_lets_the_next_call_try() {
        let breaker = Breaker::new("crm", 1, Duration::from_millis(50));
        let permit = breaker.admit().expect("closed");
        breaker.failure(permit);
        tokio::time::advance(Duration::from_millis(51)).await;
        drop(breaker.admit().expect("trial"));
        assert!(breaker.admit().is_some(), "the next call is the trial");
    }
}

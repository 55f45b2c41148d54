//! The in-process backend: one map from key to TAT behind a mutex.
//!
//! # Memory bound
//!
//! A key whose TAT has passed is indistinguishable from a key never seen, so
//! it can be dropped at any time. The map holds at most `max_keys` entries
//! ([`MemoryLimiter::DEFAULT_MAX_KEYS`] unless chosen), roughly 100 bytes
//! each plus the key's length. Expired entries are pruned in one pass when
//! the map has grown to twice its size after the previous pass (so pruning
//! costs O(1) per insertion, amortized), and again before refusing a new key
//! at the cap. Only keys still live (used within their last refill time)
//! count against the cap; when all `max_keys` are live a new key gets
//! [`RateLimitError::Full`], while known keys keep working.
//!
//! A single mutex is enough: the critical section is one hash lookup, far
//! shorter than anything else a request does, and never spans an `.await`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use meritree_core::rate_limit::{decide, Decision, Quota};

use super::RateLimitError;

/// Cheap to clone: clones share the same table.
#[derive(Clone)]
pub struct MemoryLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// TATs are milliseconds since this instant: a monotonic clock, so a
    /// wall-clock step never releases or locks out a key.
    epoch: Instant,
    max_keys: usize,
    table: Mutex<Table>,
}

struct Table {
    tats: HashMap<String, u64>,
    /// Prune when the map reaches this size.
    prune_at: usize,
    /// No TAT in the map is earlier than this, so a prune before it frees
    /// nothing and is skipped.
    earliest_tat: u64,
}

/// Below this size the map is never pruned: scanning it would cost more
/// than the memory it holds.
const MIN_PRUNE_AT: usize = 1024;

impl MemoryLimiter {
    /// About 10 MB of keys.
    pub const DEFAULT_MAX_KEYS: usize = 100_000;

    pub fn new() -> Self {
        Self::with_max_keys(Self::DEFAULT_MAX_KEYS)
    }

    /// A limiter that tracks at most `max_keys` keys (at least 1).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                max_keys: max_keys.max(1),
                table: Mutex::new(Table {
                    tats: HashMap::new(),
                    prune_at: MIN_PRUNE_AT,
                    earliest_tat: u64::MAX,
                }),
            }),
        }
    }

    pub fn check(&self, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        self.check_at(key, quota, self.now())
    }

    /// What [`MemoryLimiter::check`] would decide now, without counting
    /// anything. Never [`RateLimitError::Full`]: it stores nothing.
    pub fn peek(&self, key: &str, quota: Quota) -> Decision {
        self.peek_at(key, quota, self.now())
    }

    fn now(&self) -> u64 {
        let elapsed = self.inner.epoch.elapsed().as_millis();
        u64::try_from(elapsed).unwrap_or(u64::MAX)
    }

    fn peek_at(&self, key: &str, quota: Quota, now: u64) -> Decision {
        let table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        decide(table.tats.get(key).copied(), now, quota)
    }

    fn check_at(&self, key: &str, quota: Quota, now: u64) -> Result<Decision, RateLimitError> {
        // Every update leaves the table consistent, so a panic elsewhere
        // while holding the lock cannot have left it half-written.
        let mut table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let table = &mut *table;

        if let Some(tat) = table.tats.get_mut(key) {
            let decision = decide(Some(*tat), now, quota);
            if let Some(new_tat) = decision.new_tat {
                *tat = new_tat;
                table.earliest_tat = table.earliest_tat.min(new_tat);
            }
            return Ok(decision);
        }

        // A new key is always allowed (a quota's burst is at least 1), so it
        // always needs room.
        let decision = decide(None, now, quota);
        if let Some(new_tat) = decision.new_tat {
            table.make_room(now, self.inner.max_keys)?;
            table.tats.insert(key.to_owned(), new_tat);
            table.earliest_tat = table.earliest_tat.min(new_tat);
        }
        Ok(decision)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table.tats.len()
    }
}

impl Table {
    fn make_room(&mut self, now: u64, max_keys: usize) -> Result<(), RateLimitError> {
        let len = self.tats.len();
        if len < self.prune_at.min(max_keys) {
            return Ok(());
        }
        if now >= self.earliest_tat {
            self.tats.retain(|_, tat| *tat > now);
            self.earliest_tat = self.tats.values().copied().min().unwrap_or(u64::MAX);
            self.prune_at = self.tats.len().saturating_mul(2).max(MIN_PRUNE_AT);
        }
        if self.tats.len() >= max_keys {
            return Err(RateLimitError::Full(self.tats.len()));
        }
        Ok(())
    }
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("max_keys", &self.inner.max_keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Quota = Quota::per_second(1);

    #[test]
    fn expired_keys_are_pruned() {
        let limiter = MemoryLimiter::new();
        for i in 0..MIN_PRUNE_AT {
            assert!(limiter.check_at(&format!("old{i}"), SECOND, 0).is_ok());
        }
        assert_eq!(limiter.len(), MIN_PRUNE_AT);
        // A second later every old key has refilled: the next insertion
        // drops them all.
        assert!(limiter.check_at("new", SECOND, 1_000).is_ok());
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn live_keys_survive_pruning() {
        let limiter = MemoryLimiter::new();
        for i in 0..MIN_PRUNE_AT {
            let quota = if i % 2 == 0 {
                SECOND
            } else {
                Quota::per_hour(1)
            };
            assert!(limiter.check_at(&format!("k{i}"), quota, 0).is_ok());
        }
        assert!(limiter.check_at("new", SECOND, 1_000).is_ok());
        assert_eq!(limiter.len(), MIN_PRUNE_AT / 2 + 1);
        // The hour-long keys are still exhausted.
        let decision = limiter.check_at("k1", Quota::per_hour(1), 1_000);
        assert!(decision.is_ok_and(|d| !d.allowed));
    }

    #[test]
    fn the_table_never_grows_past_max_keys() {
        let limiter = MemoryLimiter::with_max_keys(10);
        let hour = Quota::per_hour(1);
        for i in 0..10 {
            assert!(limiter.check_at(&format!("k{i}"), hour, 0).is_ok());
        }
        assert!(matches!(
            limiter.check_at("one too many", hour, 1),
            Err(RateLimitError::Full(10))
        ));
        assert_eq!(limiter.len(), 10);
        // Known keys still get their decision.
        assert!(limiter.check_at("k3", hour, 2).is_ok_and(|d| !d.allowed));
        // Once the keys expire there is room again.
        assert!(limiter.check_at("later", hour, 3_600_000).is_ok());
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn peeking_counts_nothing_and_never_fills_the_table() {
        let limiter = MemoryLimiter::with_max_keys(1);
        let quota = Quota::per_hour(2);
        assert!(limiter
            .check_at("k", quota, 0)
            .is_ok_and(|d| d.remaining == 1));
        for _ in 0..3 {
            let peeked = limiter.peek_at("k", quota, 10);
            assert!(peeked.allowed && peeked.remaining == 0, "{peeked:?}");
        }
        assert!(limiter.check_at("k", quota, 10).is_ok_and(|d| d.allowed));
        let peeked = limiter.peek_at("k", quota, 20);
        assert_eq!(peeked, decide(Some(3_600_000), 20, quota));
        assert!(!peeked.allowed);
        // An unknown key at the cap is answered, and not added.
        assert!(limiter.peek_at("other", quota, 20).allowed);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn a_refused_request_does_not_store_anything() {
        let limiter = MemoryLimiter::new();
        assert!(limiter.check_at("k", SECOND, 0).is_ok_and(|d| d.allowed));
        assert!(limiter.check_at("k", SECOND, 10).is_ok_and(|d| !d.allowed));
        assert!(limiter
            .check_at("k", SECOND, 1_000)
            .is_ok_and(|d| d.allowed));
    }
}

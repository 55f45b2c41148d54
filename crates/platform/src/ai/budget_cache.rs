//! AI budgets and what was spent against them, kept in process so the
//! budget check before a request usually reads nothing from the database.
//!
//! - The limits that apply to a caller (account, key) are cached until a
//!   budget of theirs changes ([`crate::invalidation`]) or the entry ages
//!   past [`crate::invalidation::Freshness::max_age`]. Most callers have
//!   none, and that is cached too.
//! - What a scope spent in a period is read from the database at most once
//!   per [`SPENT_REFRESH`], and what this instance records in between is
//!   added to it as it is recorded. So this instance sees its own spending
//!   at once and the other instances' within [`SPENT_REFRESH`]: with `n`
//!   instances, requests admitted after a budget is spent are bounded by
//!   what the other instances record in that second, on top of the
//!   in-flight overshoot every check has (see [`super::budgets`]).
//!
//! Spending recorded while a read is under way may be counted twice until
//! the next read: the error is on the side of refusing, never of admitting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::budgets::{AiBudget, BudgetPeriod, BudgetScope};

/// How stale the spending of other instances may be.
pub const SPENT_REFRESH: Duration = Duration::from_secs(1);
/// Past this many entries a map starts over (a bound on memory).
const MAX_ENTRIES: usize = 65_536;

#[derive(Debug, Default)]
pub struct BudgetCache {
    /// The limits applying to a request of (account, key).
    limits: Mutex<HashMap<(String, Option<String>), CachedLimits>>,
    /// Spending per scope and period (by the period's start).
    spent: Mutex<HashMap<SpentKey, Spent>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SpentKey {
    scope: BudgetScope,
    period: BudgetPeriod,
    start: i64,
}

#[derive(Debug)]
struct CachedLimits {
    budgets: Vec<AiBudget>,
    fetched: Instant,
}

#[derive(Debug)]
struct Spent {
    /// The database's figure, when last read.
    stored: u64,
    read_at: Instant,
    /// Everything this instance recorded against the entry since it was
    /// created, and how much of it the last read began after.
    added: u64,
    added_at_read: u64,
}

impl Spent {
    fn now(&self) -> u64 {
        self.stored
            .saturating_add(self.added.saturating_sub(self.added_at_read))
    }
}

/// A read of a scope's spending in progress: [`BudgetCache::store_spent`]
/// completes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpentRead {
    added_at_start: u64,
}

impl BudgetCache {
    /// The limits on a request of `account_id` with `api_key_id`, if cached
    /// within `max_age`.
    pub fn limits(
        &self,
        account_id: &str,
        api_key_id: Option<&str>,
        max_age: Duration,
    ) -> Option<Vec<AiBudget>> {
        let limits = self.limits.lock().expect("budget cache lock");
        let cached = limits.get(&(account_id.to_owned(), api_key_id.map(str::to_owned)))?;
        (cached.fetched.elapsed() <= max_age).then(|| cached.budgets.clone())
    }

    /// Caches what was read at `read_at` if `still_current()` holds, checked
    /// under the lock an invalidation also takes.
    pub fn store_limits(
        &self,
        account_id: &str,
        api_key_id: Option<&str>,
        budgets: Vec<AiBudget>,
        read_at: Instant,
        still_current: impl FnOnce() -> bool,
    ) {
        let mut limits = self.limits.lock().expect("budget cache lock");
        if !still_current() {
            return;
        }
        if limits.len() >= MAX_ENTRIES {
            limits.clear();
        }
        limits.insert(
            (account_id.to_owned(), api_key_id.map(str::to_owned)),
            CachedLimits {
                budgets,
                fetched: read_at,
            },
        );
    }

    /// What `scope` spent in the `period` starting at `start`, when read
    /// within [`SPENT_REFRESH`]; otherwise the read the caller must make.
    pub fn spent(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
        start: i64,
    ) -> Result<u64, SpentRead> {
        let mut spent = self.spent.lock().expect("budget cache lock");
        let key = SpentKey {
            scope: scope.clone(),
            period,
            start,
        };
        match spent.get(&key) {
            Some(entry) if entry.read_at.elapsed() <= SPENT_REFRESH => Ok(entry.now()),
            Some(entry) => Err(SpentRead {
                added_at_start: entry.added,
            }),
            None => {
                if spent.len() >= MAX_ENTRIES {
                    spent.clear();
                }
                spent.insert(
                    key,
                    Spent {
                        stored: 0,
                        read_at: Instant::now() - SPENT_REFRESH * 2,
                        added: 0,
                        added_at_read: 0,
                    },
                );
                Err(SpentRead { added_at_start: 0 })
            }
        }
    }

    /// Completes `read`: the database said `stored`. Returns the figure to
    /// use, with what this instance recorded while it read.
    pub fn store_spent(
        &self,
        scope: &BudgetScope,
        period: BudgetPeriod,
        start: i64,
        read: SpentRead,
        stored: u64,
    ) -> u64 {
        let mut spent = self.spent.lock().expect("budget cache lock");
        let key = SpentKey {
            scope: scope.clone(),
            period,
            start,
        };
        let entry = spent.entry(key).or_insert(Spent {
            stored,
            read_at: Instant::now(),
            added: read.added_at_start,
            added_at_read: read.added_at_start,
        });
        entry.stored = stored;
        entry.read_at = Instant::now();
        entry.added_at_read = read.added_at_start.min(entry.added);
        entry.now()
    }

    /// This instance recorded `cost_nanos` spent at the unix time `at` by
    /// `account_id` (with `api_key_id`): added to every cached figure whose
    /// period holds `at`.
    pub fn add_spent(&self, account_id: &str, api_key_id: Option<&str>, cost_nanos: u64, at: i64) {
        if cost_nanos == 0 {
            return;
        }
        let mut spent = self.spent.lock().expect("budget cache lock");
        for (key, entry) in spent.iter_mut() {
            let whose = match &key.scope {
                BudgetScope::Account(id) => id == account_id,
                BudgetScope::ApiKey(id) => Some(id.as_str()) == api_key_id,
            };
            if whose && key.period.start(at) == key.start {
                entry.added = entry.added.saturating_add(cost_nanos);
            }
        }
    }

    pub fn forget_account(&self, account_id: &str) {
        self.limits
            .lock()
            .expect("budget cache lock")
            .retain(|(account, _), _| account != account_id);
    }

    pub fn forget_key(&self, api_key_id: &str) {
        self.limits
            .lock()
            .expect("budget cache lock")
            .retain(|(_, key), _| key.as_deref() != Some(api_key_id));
    }

    pub fn clear(&self) {
        self.limits.lock().expect("budget cache lock").clear();
        self.spent.lock().expect("budget cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> BudgetScope {
        BudgetScope::Account("ann".into())
    }

    #[test]
    fn spending_is_read_then_followed_by_what_this_instance_records() {
        let cache = BudgetCache::default();
        let day = BudgetPeriod::Day;
        let read = cache.spent(&ann(), day, 0).unwrap_err();
        assert_eq!(cache.store_spent(&ann(), day, 0, read, 100), 100);
        assert_eq!(cache.spent(&ann(), day, 0), Ok(100));
        cache.add_spent("ann", None, 30, 10);
        // Another day's spending, another account's: not this figure.
        cache.add_spent("ann", None, 1_000, 86_400);
        cache.add_spent("bob", None, 1_000, 10);
        assert_eq!(cache.spent(&ann(), day, 0), Ok(130));
    }

    #[test]
    fn spending_recorded_during_a_read_is_never_lost() {
        let cache = BudgetCache::default();
        let day = BudgetPeriod::Day;
        let read = cache.spent(&ann(), day, 0).unwrap_err();
        cache.add_spent("ann", None, 30, 10);
        // The read may or may not have seen the 30: it is counted either way.
        assert_eq!(cache.store_spent(&ann(), day, 0, read, 100), 130);
    }

    #[test]
    fn a_key_scope_counts_only_that_key() {
        let cache = BudgetCache::default();
        let key = BudgetScope::ApiKey("k1".into());
        let read = cache.spent(&key, BudgetPeriod::Month, 0).unwrap_err();
        cache.store_spent(&key, BudgetPeriod::Month, 0, read, 0);
        cache.add_spent("ann", Some("k2"), 5, 10);
        cache.add_spent("ann", None, 5, 10);
        cache.add_spent("ann", Some("k1"), 7, 10);
        assert_eq!(cache.spent(&key, BudgetPeriod::Month, 0), Ok(7));
    }

    #[test]
    fn limits_are_dropped_by_account_or_by_key() {
        let cache = BudgetCache::default();
        let age = Duration::from_secs(1);
        cache.store_limits("ann", Some("k1"), vec![], Instant::now(), || true);
        cache.store_limits("ann", None, vec![], Instant::now(), || true);
        cache.store_limits("bob", Some("k2"), vec![], Instant::now(), || true);
        cache.forget_key("k1");
        assert!(cache.limits("ann", Some("k1"), age).is_none());
        assert!(cache.limits("ann", None, age).is_some());
        cache.forget_account("ann");
        assert!(cache.limits("ann", None, age).is_none());
        assert!(cache.limits("bob", Some("k2"), age).is_some());
    }
}

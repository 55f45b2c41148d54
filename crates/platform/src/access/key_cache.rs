//! API keys as last authenticated, kept in process, so a request with a
//! key reads nothing from the database: the AI gateway's hot path. Entries
//! are keyed by the key's digest (never the key), dropped when the
//! account's keys or role change ([`crate::invalidation`]), never used past
//! their age limit or the key's own expiry, and only a key that
//! authenticated is ever cached, so guessing keys cannot fill it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use meritree_store::api_keys::USE_RECORDED_EVERY_SECS;

use crate::principal::Principal;

/// Past this many entries the cache starts over: a bound on memory that a
/// real deployment's live keys stay far below.
const MAX_ENTRIES: usize = 65_536;

#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, CachedKey>>,
}

#[derive(Debug, Clone)]
pub struct CachedKey {
    pub principal: Principal,
    /// The key's own expiry (unix seconds).
    pub expires_at: Option<i64>,
    /// When its use was last recorded (unix seconds).
    pub last_used_at: Option<i64>,
    pub fetched: Instant,
}

/// A key served from the cache.
#[derive(Debug)]
pub struct Hit {
    pub principal: Principal,
    /// Its use is due to be recorded (at most once a minute).
    pub record_use: bool,
}

impl KeyCache {
    /// The key with this digest, if cached within `max_age` and live at the
    /// unix time `now`.
    pub fn get(&self, digest: &str, max_age: Duration, now: i64) -> Option<Hit> {
        let mut entries = self.entries.lock().expect("key cache lock");
        let entry = entries.get_mut(digest)?;
        let live = entry.expires_at.is_none_or(|at| at > now);
        if !live || entry.fetched.elapsed() > max_age {
            entries.remove(digest);
            return None;
        }
        let record_use = entry
            .last_used_at
            .is_none_or(|t| now - t >= USE_RECORDED_EVERY_SECS);
        if record_use {
            entry.last_used_at = Some(now);
        }
        Some(Hit {
            principal: entry.principal.clone(),
            record_use,
        })
    }

    /// Caches `key` if `still_current()` holds, checked under the lock an
    /// invalidation also takes: one that lands after the check drops it.
    pub fn put(&self, digest: String, key: CachedKey, still_current: impl FnOnce() -> bool) {
        let mut entries = self.entries.lock().expect("key cache lock");
        if !still_current() {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(digest, key);
    }

    /// Drops every key of the account.
    pub fn forget_account(&self, account_id: &str) {
        self.entries
            .lock()
            .expect("key cache lock")
            .retain(|_, key| key.principal.account_id.as_str() != account_id);
    }

    pub fn clear(&self) {
        self.entries.lock().expect("key cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Credential;
    use meritree_core::accounts::{ApiScope, Role};

    fn key(account: &str, expires_at: Option<i64>, last_used_at: Option<i64>) -> CachedKey {
        CachedKey {
            principal: Principal {
                account_id: account.into(),
                role: Role::Member,
                credential: Credential::ApiKey {
                    id: "k".into(),
                    scopes: vec![ApiScope::Ai],
                },
            },
            expires_at,
            last_used_at,
            fetched: Instant::now(),
        }
    }

    const AGE: Duration = Duration::from_secs(1);

    #[test]
    fn a_key_is_served_until_it_expires_or_its_account_is_invalidated() {
        let cache = KeyCache::default();
        cache.put("d1".into(), key("ann", Some(1_000), Some(990)), || true);
        cache.put("d2".into(), key("bob", None, Some(990)), || true);
        assert!(cache.get("d1", AGE, 999).is_some());
        assert!(cache.get("d1", AGE, 1_000).is_none(), "expired at 1000");
        assert!(cache.get("d1", AGE, 999).is_none(), "and dropped");
        assert!(cache.get("unknown", AGE, 999).is_none());

        cache.forget_account("bob");
        assert!(cache.get("d2", AGE, 999).is_none());
    }

    #[test]
    fn an_entry_older_than_the_age_limit_is_not_used() {
        let cache = KeyCache::default();
        let mut old = key("ann", None, None);
        old.fetched = Instant::now() - Duration::from_secs(2);
        cache.put("d".into(), old, || true);
        assert!(cache.get("d", AGE, 0).is_none());
    }

    #[test]
    fn a_lookup_overtaken_by_a_change_is_not_cached() {
        let cache = KeyCache::default();
        cache.put("d".into(), key("ann", None, None), || false);
        assert!(cache.get("d", AGE, 0).is_none());
    }

    #[test]
    fn use_is_due_once_a_minute() {
        let cache = KeyCache::default();
        cache.put("d".into(), key("ann", None, Some(1_000)), || true);
        assert!(!cache.get("d", AGE, 1_059).unwrap().record_use);
        assert!(cache.get("d", AGE, 1_060).unwrap().record_use);
        assert!(
            !cache.get("d", AGE, 1_061).unwrap().record_use,
            "recorded at 1060"
        );
    }
}

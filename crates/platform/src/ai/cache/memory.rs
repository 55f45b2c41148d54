//! The in-process backend: a map from key to value and expiry behind a
//! mutex, with an index by expiry.
//!
//! # Bounds
//!
//! At most `max_entries` entries and `max_bytes` bytes of keys and values.
//! To make room, a put first drops every expired entry, then the entries
//! closest to expiring (with one TTL for every entry, the oldest). Both
//! come off the front of the expiry index, so a put costs O(log n) per
//! entry it drops. Expired entries are otherwise dropped when read.
//!
//! Times are milliseconds on a monotonic clock, so a wall-clock step never
//! expires or revives an entry. The mutex is held for one map operation and
//! a copy of the value, never across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Cheap to clone: clones share the same entries.
#[derive(Clone)]
pub struct MemoryCache {
    inner: Arc<Inner>,
}

struct Inner {
    epoch: Instant,
    max_entries: usize,
    max_bytes: usize,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// (expires at, sequence) → key; the sequence orders equal expiries by
    /// insertion and makes each index key unique.
    by_expiry: BTreeMap<(u64, u64), String>,
    bytes: usize,
    next_seq: u64,
}

struct Entry {
    value: Vec<u8>,
    expires_at: u64,
    seq: u64,
}

impl MemoryCache {
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
    pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_MAX_ENTRIES, Self::DEFAULT_MAX_BYTES)
    }

    /// A cache of at most `max_entries` entries (at least 1) and
    /// `max_bytes` bytes of keys and values; a larger entry is not stored.
    pub fn with_limits(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                max_entries: max_entries.max(1),
                max_bytes,
                table: Mutex::new(Table::default()),
            }),
        }
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.get_at(key, self.now())
    }

    pub fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        self.put_at(key, value, ttl, self.now())
    }

    /// How many entries are held, expired ones included until dropped.
    pub fn len(&self) -> usize {
        self.table().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn now(&self) -> u64 {
        millis(self.inner.epoch.elapsed())
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Every update leaves the table consistent, so a panic elsewhere
        // while holding the lock cannot have left it half-written.
        self.inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn get_at(&self, key: &str, now: u64) -> Option<Vec<u8>> {
        let mut table = self.table();
        let expires_at = table.entries.get(key)?.expires_at;
        if expires_at <= now {
            table.remove(key);
            return None;
        }
        table.entries.get(key).map(|entry| entry.value.clone())
    }

    fn put_at(&self, key: &str, value: Vec<u8>, ttl: Duration, now: u64) {
        let size = key.len() + value.len();
        let mut table = self.table();
        // A put replaces: whatever was there goes, even if the new value
        // cannot be stored.
        table.remove(key);
        if ttl.is_zero() || size > self.inner.max_bytes {
            return;
        }
        table.drop_expired(now);
        while table.entries.len() >= self.inner.max_entries
            || table.bytes + size > self.inner.max_bytes
        {
            if !table.drop_first() {
                break;
            }
        }
        let expires_at = now.saturating_add(millis(ttl));
        let seq = table.next_seq;
        table.next_seq += 1;
        table.by_expiry.insert((expires_at, seq), key.to_owned());
        table.bytes += size;
        table.entries.insert(
            key.to_owned(),
            Entry {
                value,
                expires_at,
                seq,
            },
        );
    }
}

impl Table {
    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_expiry.remove(&(entry.expires_at, entry.seq));
            self.bytes -= key.len() + entry.value.len();
        }
    }

    fn drop_expired(&mut self, now: u64) {
        while self
            .by_expiry
            .first_key_value()
            .is_some_and(|(&(expires_at, _), _)| expires_at <= now)
        {
            self.drop_first();
        }
    }

    /// Drops the entry closest to expiring; whether there was one.
    fn drop_first(&mut self) -> bool {
        match self.by_expiry.pop_first() {
            Some((_, key)) => {
                if let Some(entry) = self.entries.remove(&key) {
                    self.bytes -= key.len() + entry.value.len();
                }
                true
            }
            None => false,
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("max_entries", &self.inner.max_entries)
            .field("max_bytes", &self.inner.max_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    impl MemoryCache {
        fn bytes(&self) -> usize {
            self.table().bytes
        }

        fn keys(&self) -> Vec<String> {
            let mut keys: Vec<String> = self.table().entries.keys().cloned().collect();
            keys.sort();
            keys
        }
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = MemoryCache::new();
        cache.put_at("k", b"v".to_vec(), SECOND, 1_000);
        assert_eq!(cache.get_at("k", 1_000).as_deref(), Some(&b"v"[..]));
        assert_eq!(cache.get_at("k", 1_999).as_deref(), Some(&b"v"[..]));
        assert_eq!(cache.get_at("k", 2_000), None);
        // The expired entry was dropped when read.
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_put_replaces_the_value_and_its_ttl() {
        let cache = MemoryCache::new();
        cache.put_at("k", b"first".to_vec(), SECOND, 0);
        cache.put_at("k", b"second!".to_vec(), 10 * SECOND, 500);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes(), 1 + 7);
        assert_eq!(cache.get_at("k", 5_000).as_deref(), Some(&b"second!"[..]));
        assert_eq!(cache.get_at("k", 10_500), None);
    }

    #[test]
    fn the_oldest_entry_makes_room_when_full() {
        let cache = MemoryCache::with_limits(3, usize::MAX);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            cache.put_at(key, vec![0; 10], SECOND, i as u64);
        }
        cache.put_at("d", vec![0; 10], SECOND, 3);
        assert_eq!(cache.keys(), ["b", "c", "d"]);
        assert_eq!(cache.get_at("a", 4), None);
        // Re-putting "b" makes it the newest, so "c" goes next.
        cache.put_at("b", vec![1], SECOND, 5);
        cache.put_at("e", vec![1], SECOND, 6);
        assert_eq!(cache.keys(), ["b", "d", "e"]);
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let cache = MemoryCache::with_limits(3, usize::MAX);
        cache.put_at("long", vec![0], 60 * SECOND, 0);
        cache.put_at("short1", vec![0], SECOND, 0);
        cache.put_at("short2", vec![0], SECOND, 0);
        // At 2 s both short entries are expired: both are dropped, the
        // long-lived one stays although it is the oldest.
        cache.put_at("new", vec![0], SECOND, 2_000);
        assert_eq!(cache.keys(), ["long", "new"]);
    }

    #[test]
    fn the_byte_bound_holds() {
        let cache = MemoryCache::with_limits(100, 30);
        cache.put_at("a", vec![0; 9], SECOND, 0); // 10 bytes
        cache.put_at("b", vec![0; 9], SECOND, 1);
        cache.put_at("c", vec![0; 9], SECOND, 2);
        assert_eq!(cache.bytes(), 30);
        // 15 more bytes: the two oldest go.
        cache.put_at("d", vec![0; 14], SECOND, 3);
        assert_eq!(cache.keys(), ["c", "d"]);
        assert_eq!(cache.bytes(), 25);
        // Larger than the whole cache: not stored, nothing evicted.
        cache.put_at("huge", vec![0; 30], SECOND, 4);
        assert_eq!(cache.keys(), ["c", "d"]);
        // ... but it still replaces an earlier value of its key.
        cache.put_at("c", vec![0; 40], SECOND, 5);
        assert_eq!(cache.keys(), ["d"]);
        assert_eq!(cache.bytes(), 15);
    }

    #[test]
    fn a_zero_ttl_stores_nothing() {
        let cache = MemoryCache::new();
        cache.put_at("k", vec![1], Duration::ZERO, 0);
        assert!(cache.is_empty());
        assert_eq!(cache.get_at("k", 0), None);
    }

    #[test]
    fn a_huge_ttl_does_not_overflow() {
        let cache = MemoryCache::new();
        cache.put_at("k", vec![1], Duration::MAX, u64::MAX - 1);
        assert_eq!(cache.get_at("k", u64::MAX - 1).as_deref(), Some(&[1][..]));
    }
}

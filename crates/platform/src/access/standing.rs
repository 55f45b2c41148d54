//! An account's standing as last read — disabled or not, and its role —
//! for requests signed in with an access token: the token is stateless,
//! and would otherwise keep a disabled account in, or a demoted account's
//! old role, until it expires. Same rules as the key cache: dropped when an
//! admin changes either ([`crate::invalidation`]), never used past its age
//! limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use meritree_core::accounts::Role;

const MAX_ENTRIES: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub disabled: bool,
    pub role: Role,
}

#[derive(Debug, Default)]
pub struct StandingCache {
    entries: Mutex<HashMap<String, (Standing, Instant)>>,
}

impl StandingCache {
    /// The account's standing, if read within `max_age`.
    pub fn get(&self, account_id: &str, max_age: Duration) -> Option<Standing> {
        let entries = self.entries.lock().expect("standing cache lock");
        let (standing, read) = entries.get(account_id)?;
        (read.elapsed() <= max_age).then_some(*standing)
    }

    /// Caches what was read at `read_at` if `still_current()` holds, checked
    /// under the lock an invalidation also takes.
    pub fn put(
        &self,
        account_id: &str,
        standing: Standing,
        read_at: Instant,
        still_current: impl FnOnce() -> bool,
    ) {
        let mut entries = self.entries.lock().expect("standing cache lock");
        if !still_current() {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(account_id.to_owned(), (standing, read_at));
    }

    pub fn forget(&self, account_id: &str) {
        self.entries
            .lock()
            .expect("standing cache lock")
            .remove(account_id);
    }

    pub fn clear(&self) {
        self.entries.lock().expect("standing cache lock").clear();
    }
}

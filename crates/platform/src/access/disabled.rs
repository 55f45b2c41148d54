//! Whether an account is disabled, as last read, for requests signed in
//! with an access token: the token itself is stateless and would otherwise
//! keep working until it expires. Same rules as the key cache: dropped when
//! an admin disables or enables the account ([`crate::invalidation`]), and
//! never used past its age limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_ENTRIES: usize = 65_536;

#[derive(Debug, Default)]
pub struct DisabledCache {
    entries: Mutex<HashMap<String, (bool, Instant)>>,
}

impl DisabledCache {
    /// Whether the account is disabled, if read within `max_age`.
    pub fn get(&self, account_id: &str, max_age: Duration) -> Option<bool> {
        let entries = self.entries.lock().expect("disabled cache lock");
        let (disabled, read) = entries.get(account_id)?;
        (read.elapsed() <= max_age).then_some(*disabled)
    }

    pub fn put(&self, account_id: &str, disabled: bool) {
        let mut entries = self.entries.lock().expect("disabled cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(account_id.to_owned(), (disabled, Instant::now()));
    }

    pub fn forget(&self, account_id: &str) {
        self.entries
            .lock()
            .expect("disabled cache lock")
            .remove(account_id);
    }

    pub fn clear(&self) {
        self.entries.lock().expect("disabled cache lock").clear();
    }
}

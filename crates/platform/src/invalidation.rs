//! The request hot path's caches (API keys: [`crate::access::key_cache`];
//! accounts' standing: [`crate::access::standing`]; AI budgets:
//! [`crate::ai::budget_cache`]) and how a change reaches them.
//!
//! A change made on this instance drops the entries it touches at once and
//! is forwarded to the other instances over the Redis bridge, which drop
//! theirs when it arrives (milliseconds). An entry is also never used past
//! [`Freshness::max_age`]: under a second while no bridge is subscribed (no
//! Redis, or Redis unreachable — a change made elsewhere is then seen
//! within a second), and [`BRIDGED_MAX_AGE`] while one is, which bounds
//! how long a change whose message was lost (or one made by a command-line
//! process, which has no bridge) goes unseen. Every cache is emptied when
//! the bridge (re)subscribes, since messages sent while it was away are
//! gone. See docs/decisions/0032.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Platform;

/// How long an entry may be used with no bridge: how late a revocation
/// made on another instance may take effect here, kept under a second with
/// room for the request that finds out.
pub const UNBRIDGED_MAX_AGE: Duration = Duration::from_millis(750);
/// How long an entry may be used while the bridge carries changes.
pub const BRIDGED_MAX_AGE: Duration = Duration::from_secs(10);

/// What changed, for the caches that hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Invalidation {
    /// The account's API keys: a key was revoked (or all were).
    ApiKeysOf { account_id: String },
    /// An admin disabled the account or enabled it again, or its role
    /// changed.
    AccountStanding { account_id: String },
    /// A budget on the account as a whole changed.
    AccountBudgets { account_id: String },
    /// A budget on one API key changed.
    KeyBudgets { api_key_id: String },
}

/// Whether a bridge keeps this instance's caches in step with the others,
/// and a generation counter every invalidation bumps, so a lookup that
/// read the database before a change landed does not cache what it read.
#[derive(Debug, Default)]
pub struct Freshness {
    bridged: AtomicBool,
    generation: AtomicU64,
}

impl Freshness {
    pub fn max_age(&self) -> Duration {
        if self.bridged.load(Ordering::Acquire) {
            BRIDGED_MAX_AGE
        } else {
            UNBRIDGED_MAX_AGE
        }
    }

    /// Read before a database lookup; [`Self::unchanged_since`] after it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether no invalidation happened since `generation` was read: only
    /// then may what was read be cached.
    pub fn unchanged_since(&self, generation: u64) -> bool {
        self.generation() == generation
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Platform {
    /// Applies `change` to this instance's caches and tells the others.
    pub(crate) fn invalidate(&self, change: Invalidation) {
        self.apply_invalidation(&change);
        self.hub()
            .forward(crate::live::Bridged::Invalidate { change });
    }

    /// Drops what `change` makes stale from this instance's caches.
    pub(crate) fn apply_invalidation(&self, change: &Invalidation) {
        self.freshness().bump();
        match change {
            Invalidation::ApiKeysOf { account_id } => self.key_cache().forget_account(account_id),
            Invalidation::AccountStanding { account_id } => {
                self.standing_cache().forget(account_id);
                self.key_cache().forget_account(account_id);
            }
            Invalidation::AccountBudgets { account_id } => {
                self.budget_cache().forget_account(account_id)
            }
            Invalidation::KeyBudgets { api_key_id } => self.budget_cache().forget_key(api_key_id),
        }
    }

    /// The bridge's subscription came up (`true`) or went away: either way
    /// changes may have been missed, so every cached entry goes.
    pub(crate) fn set_bridged(&self, bridged: bool) {
        self.freshness().bridged.store(bridged, Ordering::Release);
        self.freshness().bump();
        self.key_cache().clear();
        self.budget_cache().clear();
        self.standing_cache().clear();
    }
}

//! The audit log's entries and their hash chain (docs/decisions/0031), one
//! definition for the server that writes and verifies the log and anyone
//! who checks an export.
//!
//! Each entry's hash is SHA-256 over its fields and the previous entry's
//! hash, so editing, removing or reordering an entry breaks every hash
//! after it. (Cutting entries off the end leaves a shorter, intact chain:
//! keep the head hash of each export to notice that.)

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an admin (or an operator at the command line) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Points posted to an account by an admin, not by the platform's rules.
    PointsPosted,
    /// An account's role changed.
    RoleChanged,
    /// An account's second factor was reset by an operator.
    TotpReset,
    /// A submission held for review was approved or rejected.
    SubmissionModerated,
    /// A dead evaluation was put back in the queue.
    EvaluationRetried,
    /// A round's theme was set.
    RoundThemeSet,
    /// A flagged compute node was cleared or slashed.
    NodeReviewed,
    /// An account's AI budget was set or lifted.
    AiBudgetChanged,
    /// An account was disabled, or enabled again.
    AccountDisabled,
    AccountEnabled,
    /// Every session of an account was ended by an admin.
    SessionsEnded,
    /// Claims on the distributor were paused, or resumed.
    ClaimsPaused,
    ClaimsResumed,
}

impl AuditAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::PointsPosted => "points_posted",
            AuditAction::RoleChanged => "role_changed",
            AuditAction::TotpReset => "totp_reset",
            AuditAction::SubmissionModerated => "submission_moderated",
            AuditAction::EvaluationRetried => "evaluation_retried",
            AuditAction::RoundThemeSet => "round_theme_set",
            AuditAction::NodeReviewed => "node_reviewed",
            AuditAction::AiBudgetChanged => "ai_budget_changed",
            AuditAction::AccountDisabled => "account_disabled",
            AuditAction::AccountEnabled => "account_enabled",
            AuditAction::SessionsEnded => "sessions_ended",
            AuditAction::ClaimsPaused => "claims_paused",
            AuditAction::ClaimsResumed => "claims_resumed",
        }
    }
}

/// One entry as the log stores and exports it. `before` and `after` are
/// JSON text, hashed as stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// The admin's account id, or `cli` for the operator's command line.
    pub actor: String,
    pub action: String,
    /// What was acted on (an account id).
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry with these fields, lower-case hex. Every field is
/// length-prefixed, so no two different entries hash the same input.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&str>,
    after: Option<&str>,
    prev_hash: &str,
) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(&seq.to_be_bytes());
    field(&at.to_be_bytes());
    field(actor.as_bytes());
    field(action.as_bytes());
    field(subject.as_bytes());
    // Absent and empty differ: a one-byte tag before each optional field.
    for optional in [before, after] {
        match optional {
            Some(text) => field(&[&[1u8][..], text.as_bytes()].concat()),
            None => field(&[0u8]),
        }
    }
    field(prev_hash.as_bytes());
    to_hex(&hasher.finalize())
}

impl AuditEntry {
    /// What this entry's hash should be.
    pub fn expected_hash(&self) -> String {
        entry_hash(
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            &self.subject,
            self.before.as_deref(),
            self.after.as_deref(),
            &self.prev_hash,
        )
    }
}

/// Where a chain breaks, and how.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks `entries` (in order) continue a chain whose last entry was
/// `prev_seq` with hash `prev_hash` (`0` and [`GENESIS`] from the start):
/// consecutive numbers, each linked to the one before, each hash right.
/// Returns the last entry's sequence number and hash.
pub fn verify_chain(
    entries: &[AuditEntry],
    prev_seq: i64,
    prev_hash: &str,
) -> Result<(i64, String), AuditBreak> {
    let (mut seq, mut hash) = (prev_seq, prev_hash.to_owned());
    for entry in entries {
        let broken = |reason: &str| AuditBreak {
            seq: entry.seq,
            reason: reason.to_owned(),
        };
        if entry.seq != seq + 1 {
            return Err(broken(&format!(
                "follows entry {seq}: an entry is missing or out of order"
            )));
        }
        if entry.prev_hash != hash {
            return Err(broken("does not link to the entry before it"));
        }
        if entry.expected_hash() != entry.hash {
            return Err(broken("its contents do not match its hash: it was changed"));
        }
        seq = entry.seq;
        hash = entry.hash.clone();
    }
    Ok((seq, hash))
}

/// `GET /api/v1/admin/audit`: entries after `after`, oldest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next_after: Option<i64>,
}

/// `GET /api/v1/admin/audit/verify`: the whole chain checked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    pub entries: i64,
    /// The last entry's hash ([`GENESIS`] for an empty log): keep it to
    /// notice later if entries were cut off the end.
    pub head: String,
    /// Where the chain breaks, if it does.
    pub broken: Option<AuditBreak>,
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let after = Some(format!("{{\"balance\":{seq}}}"));
                let hash = entry_hash(
                    seq,
                    100 + seq,
                    "admin",
                    "points_posted",
                    "acct",
                    None,
                    after.as_deref(),
                    &prev,
                );
                let entry = AuditEntry {
                    seq,
                    at: 100 + seq,
                    actor: "admin".into(),
                    action: "points_posted".into(),
                    subject: "acct".into(),
                    before: None,
                    after,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                entry
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_change_breaks_it() {
        let entries = chain(4);
        let (last, head) = verify_chain(&entries, 0, GENESIS).unwrap();
        assert_eq!((last, head.as_str()), (4, entries[3].hash.as_str()));
        // Pages verify on from where the last one ended.
        verify_chain(&entries[2..], 2, &entries[1].hash).unwrap();

        let mut edited = entries.clone();
        edited[1].after = Some("{\"balance\":1000}".into());
        assert_eq!(verify_chain(&edited, 0, GENESIS).unwrap_err().seq, 2);

        let mut rehashed = edited.clone();
        rehashed[1].hash = rehashed[1].expected_hash();
        assert_eq!(
            verify_chain(&rehashed, 0, GENESIS).unwrap_err().seq,
            3,
            "the next link breaks"
        );

        let mut removed = entries.clone();
        removed.remove(1);
        assert_eq!(verify_chain(&removed, 0, GENESIS).unwrap_err().seq, 3);

        let mut swapped = entries;
        swapped.swap(1, 2);
        assert!(verify_chain(&swapped, 0, GENESIS).is_err());
    }

    #[test]
    fn absent_and_empty_fields_hash_differently() {
        let a = entry_hash(1, 1, "a", "b", "c", None, Some(""), GENESIS);
        let b = entry_hash(1, 1, "a", "b", "c", Some(""), None, GENESIS);
        let c = entry_hash(1, 1, "ab", "", "c", None, None, GENESIS);
        let d = entry_hash(1, 1, "a", "b", "c", None, None, GENESIS);
        assert_ne!(a, d);
        assert_ne!(b, d);
        assert_ne!(c, d, "fields cannot run into each other");
        assert_ne!(a, b);
    }
}

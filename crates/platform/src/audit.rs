//! The audit log (docs/decisions/0031): who did what to whom, with the
//! state before and after, for every admin action and every value movement
//! not made by the platform's own rules; hash-chained so that tampering
//! shows, and exported for anyone who keeps a copy.

use meritree_core::audit::{self, AuditAction, AuditEntry, AuditPage, AuditVerification, GENESIS};
use meritree_store::audit::{self as store, AuditRow, NewAudit};
use meritree_store::StoreError;

use crate::clock;

service!(
    /// The audit log.
    Audit,
    audit
);

/// Who acted, for entries made at the command line.
pub const CLI_ACTOR: &str = "cli";

/// The most entries one page returns.
pub const MAX_PAGE: u32 = 500;

impl Audit<'_> {
    /// Appends an entry: `actor` did `action` to `subject`, which went from
    /// `before` to `after` (JSON values).
    pub async fn record(
        &self,
        actor: &str,
        action: AuditAction,
        subject: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<AuditEntry, StoreError> {
        self.append(None, actor, action, subject, before, after)
            .await
    }

    /// [`Self::record`] at most once per `reference` (say, a ledger entry):
    /// a retry after the action succeeded and its entry did not finds the
    /// gap and fills it; otherwise it returns the entry already there.
    pub async fn record_once(
        &self,
        reference: &str,
        actor: &str,
        action: AuditAction,
        subject: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<AuditEntry, StoreError> {
        if let Some(existing) = store::by_reference(self.db(), reference).await? {
            return Ok(entry(existing));
        }
        self.append(Some(reference), actor, action, subject, before, after)
            .await
    }

    async fn append(
        &self,
        reference: Option<&str>,
        actor: &str,
        action: AuditAction,
        subject: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<AuditEntry, StoreError> {
        let before = before.map(|v| v.to_string());
        let after = after.map(|v| v.to_string());
        let at = clock::unix_secs();
        let row = store::append(
            self.db(),
            NewAudit {
                at,
                actor,
                action: action.as_str(),
                subject,
                state_before: before.as_deref(),
                state_after: after.as_deref(),
                reference,
            },
            GENESIS,
            |seq, prev_hash| {
                audit::entry_hash(
                    seq,
                    at,
                    actor,
                    action.as_str(),
                    subject,
                    before.as_deref(),
                    after.as_deref(),
                    prev_hash,
                )
            },
        )
        .await?;
        tracing::info!(
            seq = row.seq,
            actor,
            action = action.as_str(),
            subject,
            "audited"
        );
        Ok(entry(row))
    }

    /// Up to `limit` (1 to [`MAX_PAGE`], default 100) entries after `after`.
    pub async fn page(
        &self,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Result<AuditPage, StoreError> {
        let limit = limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let entries: Vec<AuditEntry> = store::page(self.db(), after.unwrap_or(0), limit)
            .await?
            .into_iter()
            .map(entry)
            .collect();
        let next_after = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.seq))
            .flatten();
        Ok(AuditPage {
            entries,
            next_after,
        })
    }

    /// The whole log, oldest first: what an admin downloads to re-check
    /// with `meritree_core::audit::verify_chain`.
    pub async fn export(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e| e.seq);
            let rows = store::page(self.db(), after, MAX_PAGE).await?;
            let full = rows.len() == MAX_PAGE as usize;
            entries.extend(rows.into_iter().map(entry));
            if !full {
                return Ok(entries);
            }
        }
    }

    /// Reads the whole log and checks its chain.
    pub async fn verify(&self) -> Result<AuditVerification, StoreError> {
        let (mut seq, mut head) = (0, GENESIS.to_owned());
        loop {
            let rows = store::page(self.db(), seq, MAX_PAGE).await?;
            let entries: Vec<AuditEntry> = rows.into_iter().map(entry).collect();
            match audit::verify_chain(&entries, seq, &head) {
                Ok((last, hash)) => (seq, head) = (last, hash),
                Err(broken) => {
                    tracing::error!(seq = broken.seq, reason = %broken.reason, "the audit log's chain is broken");
                    return Ok(AuditVerification {
                        entries: seq,
                        head,
                        broken: Some(broken),
                    });
                }
            }
            if entries.len() < MAX_PAGE as usize {
                return Ok(AuditVerification {
                    entries: seq,
                    head,
                    broken: None,
                });
            }
        }
    }
}

fn entry(row: AuditRow) -> AuditEntry {
    AuditEntry {
        seq: row.seq,
        at: row.at,
        actor: row.actor,
        action: row.action,
        subject: row.subject,
        before: row.state_before,
        after: row.state_after,
        prev_hash: row.prev_hash,
        hash: row.hash,
    }
}

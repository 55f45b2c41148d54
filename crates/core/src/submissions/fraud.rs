//! Fraud flags and what they do to a payout. The server counts (recent
//! submissions per account, address and wallet; accounts sharing an
//! address with the author of a near-copy); the rules that turn counts into
//! explained flags, and flags into a payout, live here.

use serde::{Deserialize, Serialize};

/// What kind of pattern a flag reports.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FraudKind {
    /// Many submissions from one account in a short window.
    AccountBurst,
    /// Many submissions from one network address in a short window.
    AddressBurst,
    /// Many submissions paid to one wallet in a short window.
    WalletBurst,
    /// Near-identical work from another account on the same address.
    SharedAddressCluster,
    /// The author's own earlier work, submitted again.
    SelfDuplicate,
}

/// A flag and why it was raised, shown to the author and the admins.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudFlag {
    pub kind: FraudKind,
    pub detail: String,
}

/// What a flag does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FraudAction {
    /// Pay this percent of the share.
    Reduce { percent: u32 },
    /// Hold the work for an admin.
    Hold,
}

/// The thresholds and actions, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudPolicy {
    pub window_secs: i64,
    /// More than this many in the window raises the burst flag.
    pub max_per_account: u32,
    pub max_per_address: u32,
    pub max_per_wallet: u32,
    pub burst: FraudAction,
    pub cluster: FraudAction,
    pub self_duplicate: FraudAction,
}

impl Default for FraudPolicy {
    fn default() -> Self {
        Self {
            window_secs: 600,
            max_per_account: 5,
            max_per_address: 10,
            max_per_wallet: 5,
            burst: FraudAction::Reduce { percent: 50 },
            cluster: FraudAction::Hold,
            self_duplicate: FraudAction::Reduce { percent: 0 },
        }
    }
}

/// What the server counted for one submission, the submission included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observations {
    pub by_account: u32,
    /// `None` when the address is unknown.
    pub by_address: Option<u32>,
    /// `None` when the author has no wallet.
    pub by_wallet: Option<u32>,
    /// The id of near-identical earlier work by another account that
    /// submitted from the same address.
    pub cluster_with: Option<String>,
    /// The id of the author's own earlier work this copies.
    pub copies_own: Option<String>,
}

/// The flags raised, and what they leave of the payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudDecision {
    pub flags: Vec<FraudFlag>,
    pub payout_percent: u32,
    pub hold: bool,
}

impl FraudPolicy {
    pub fn flags(&self, seen: &Observations) -> Vec<FraudFlag> {
        let window = self.window_secs;
        let mut flags = Vec::new();
        let mut burst = |kind, count: u32, max: u32, what: &str| {
            if count > max {
                flags.push(FraudFlag {
                    kind,
                    detail: format!(
                        "{count} submissions from this {what} within {window} s (more than {max})"
                    ),
                });
            }
        };
        burst(
            FraudKind::AccountBurst,
            seen.by_account,
            self.max_per_account,
            "account",
        );
        if let Some(count) = seen.by_address {
            burst(
                FraudKind::AddressBurst,
                count,
                self.max_per_address,
                "network address",
            );
        }
        if let Some(count) = seen.by_wallet {
            burst(FraudKind::WalletBurst, count, self.max_per_wallet, "wallet");
        }
        if let Some(other) = &seen.cluster_with {
            flags.push(FraudFlag {
                kind: FraudKind::SharedAddressCluster,
                detail: format!(
                    "near-identical to {other}, from another account on the same network address"
                ),
            });
        }
        if let Some(own) = &seen.copies_own {
            flags.push(FraudFlag {
                kind: FraudKind::SelfDuplicate,
                detail: format!("repeats the author's earlier work {own}"),
            });
        }
        flags
    }

    fn action(&self, kind: FraudKind) -> FraudAction {
        match kind {
            FraudKind::AccountBurst | FraudKind::AddressBurst | FraudKind::WalletBurst => {
                self.burst
            }
            FraudKind::SharedAddressCluster => self.cluster,
            FraudKind::SelfDuplicate => self.self_duplicate,
        }
    }

    /// Flags for `seen`, and their combined effect: reductions multiply,
    /// any hold holds.
    pub fn decide(&self, seen: &Observations) -> FraudDecision {
        let flags = self.flags(seen);
        let mut percent = 100_u32;
        let mut hold = false;
        for flag in &flags {
            match self.action(flag.kind) {
                FraudAction::Reduce { percent: p } => percent = percent * p.min(100) / 100,
                FraudAction::Hold => hold = true,
            }
        }
        FraudDecision {
            flags,
            payout_percent: percent,
            hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_quiet_submission_is_paid_in_full() {
        let decision = FraudPolicy::default().decide(&Observations {
            by_account: 1,
            by_address: Some(1),
            by_wallet: None,
            ..Default::default()
        });
        assert!(decision.flags.is_empty());
        assert_eq!(decision.payout_percent, 100);
        assert!(!decision.hold);
    }

    #[test]
    fn bursts_reduce_and_clusters_hold_with_reasons() {
        let decision = FraudPolicy::default().decide(&Observations {
            by_account: 6,
            by_address: Some(11),
            by_wallet: Some(2),
            cluster_with: Some("s1".into()),
            copies_own: None,
        });
        let kinds: Vec<FraudKind> = decision.flags.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![
                FraudKind::AccountBurst,
                FraudKind::AddressBurst,
                FraudKind::SharedAddressCluster
            ]
        );
        assert_eq!(decision.payout_percent, 25);
        assert!(decision.hold);
        assert!(decision.flags[0]
            .detail
            .contains("6 submissions from this account"));
    }

    proptest! {
        #[test]
        fn flags_only_ever_lower_the_payout(
            by_account in 0_u32..20, by_address in proptest::option::of(0_u32..20),
            by_wallet in proptest::option::of(0_u32..20), copies in any::<bool>(),
            percent in 0_u32..=150,
        ) {
            let policy = FraudPolicy { burst: FraudAction::Reduce { percent }, ..Default::default() };
            let decision = policy.decide(&Observations {
                by_account, by_address, by_wallet, cluster_with: None,
                copies_own: copies.then(|| "s0".to_string()),
            });
            prop_assert!(decision.payout_percent <= 100);
            if decision.flags.is_empty() { prop_assert_eq!(decision.payout_percent, 100); }
        }
    }
}

//! How a round's pool is shared among its scored entries. Integers only,
//! the same answer whatever order the entries come in, and never more than
//! the pool: what a division leaves over stays unpaid.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A round's payout rule, from the configuration.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PayoutRule {
    /// Each entry scoring above `threshold` gets a share proportional to how
    /// far above it scored; no account gets more than `per_account_cap`
    /// from one round.
    Proportional {
        threshold: u32,
        per_account_cap: u64,
    },
    /// The `n` best entries above score 0 share the pool equally.
    TopN { n: u32 },
}

impl Default for PayoutRule {
    fn default() -> Self {
        PayoutRule::Proportional {
            threshold: 50,
            per_account_cap: 500,
        }
    }
}

impl PayoutRule {
    /// A line for the round's page.
    pub fn describe(&self) -> String {
        match self {
            PayoutRule::Proportional {
                threshold,
                per_account_cap,
            } => format!(
                "Shared in proportion to each score above {threshold}, at most {per_account_cap} points per member"
            ),
            PayoutRule::TopN { n } => format!("Shared equally by the {n} best entries"),
        }
    }
}

/// One scored entry, as the payout sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutEntry {
    pub id: String,
    pub account: String,
    /// 0 to 100.
    pub score: u32,
    /// What fraud flags leave of the share, 0 to 100.
    pub payout_percent: u32,
    pub created_at: i64,
}

/// The leaderboard's order: higher score first, then the earlier entry,
/// then the id, so ties always break the same way.
pub fn ranking(a: &PayoutEntry, b: &PayoutEntry) -> Ordering {
    b.score
        .cmp(&a.score)
        .then(a.created_at.cmp(&b.created_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// Points per entry (only entries that get some), in ranking order.
pub fn payouts(pool: u64, rule: PayoutRule, entries: &[PayoutEntry]) -> Vec<(String, u64)> {
    let mut ranked: Vec<&PayoutEntry> = entries.iter().collect();
    ranked.sort_by(|a, b| ranking(a, b));
    let shares: Vec<(&PayoutEntry, u64)> = match rule {
        PayoutRule::Proportional {
            threshold,
            per_account_cap,
        } => {
            let weights: Vec<u128> = ranked
                .iter()
                .map(|e| u128::from(e.score.saturating_sub(threshold)))
                .collect();
            let total: u128 = weights.iter().sum();
            let mut paid_to: HashMap<&str, u64> = HashMap::new();
            ranked
                .iter()
                .zip(weights)
                .map(|(e, w)| {
                    let share = (u128::from(pool) * w)
                        .checked_div(total)
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0);
                    let paid = paid_to.entry(e.account.as_str()).or_default();
                    let share = share.min(per_account_cap.saturating_sub(*paid));
                    *paid += share;
                    (*e, share)
                })
                .collect()
        }
        PayoutRule::TopN { n } => {
            let winners: Vec<&PayoutEntry> = ranked
                .iter()
                .copied()
                .filter(|e| e.score > 0)
                .take(n as usize)
                .collect();
            let each = if winners.is_empty() {
                0
            } else {
                pool / winners.len() as u64
            };
            winners.into_iter().map(|e| (e, each)).collect()
        }
    };
    shares
        .into_iter()
        .map(|(e, share)| {
            let percent = u128::from(e.payout_percent.min(100));
            // ≤ share, so it fits back in u64.
            let points = (u128::from(share) * percent / 100) as u64;
            (e.id.clone(), points)
        })
        .filter(|(_, points)| *points > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(id: &str, account: &str, score: u32) -> PayoutEntry {
        PayoutEntry {
            id: id.into(),
            account: account.into(),
            score,
            payout_percent: 100,
            created_at: 0,
        }
    }

    #[test]
    fn proportional_shares_above_the_threshold() {
        let rule = PayoutRule::Proportional {
            threshold: 50,
            per_account_cap: 1_000,
        };
        let paid = payouts(
            1_000,
            rule,
            &[
                entry("a", "x", 90),
                entry("b", "y", 60),
                entry("c", "z", 50),
            ],
        );
        // Weights 40 and 10 of 50: 800 and 200; the entry at the threshold gets nothing.
        assert_eq!(paid, vec![("a".into(), 800), ("b".into(), 200)]);
    }

    #[test]
    fn one_account_is_capped_and_the_rest_stays_unpaid() {
        let rule = PayoutRule::Proportional {
            threshold: 0,
            per_account_cap: 400,
        };
        let paid = payouts(
            1_000,
            rule,
            &[
                entry("a", "x", 50),
                entry("b", "x", 50),
                entry("c", "y", 50),
            ],
        );
        let by_x: u64 = paid
            .iter()
            .filter(|(id, _)| id != "c")
            .map(|(_, p)| p)
            .sum();
        assert_eq!(by_x, 400);
        assert_eq!(paid.iter().find(|(id, _)| id == "c").unwrap().1, 333);
    }

    #[test]
    fn top_n_splits_equally_and_fraud_reduces_a_share() {
        let mut flagged = entry("c", "z", 70);
        flagged.payout_percent = 50;
        let paid = payouts(
            900,
            PayoutRule::TopN { n: 3 },
            &[
                entry("a", "x", 90),
                entry("b", "y", 80),
                flagged,
                entry("d", "w", 10),
            ],
        );
        assert_eq!(
            paid,
            vec![("a".into(), 300), ("b".into(), 300), ("c".into(), 150)]
        );
    }

    fn arb_entries() -> impl Strategy<Value = Vec<PayoutEntry>> {
        proptest::collection::vec((0_u32..=100, 0_u8..6, 0_u32..=100, 0_i64..1_000), 0..40)
            .prop_map(|rows| {
                rows.into_iter()
                    .enumerate()
                    .map(|(i, (score, account, percent, created_at))| PayoutEntry {
                        id: format!("s{i:03}"),
                        account: format!("acct{account}"),
                        score,
                        payout_percent: percent,
                        created_at,
                    })
                    .collect()
            })
    }

    fn arb_rule() -> impl Strategy<Value = PayoutRule> {
        prop_oneof![
            (0_u32..=100, 0_u64..10_000).prop_map(|(threshold, per_account_cap)| {
                PayoutRule::Proportional {
                    threshold,
                    per_account_cap,
                }
            }),
            (1_u32..20).prop_map(|n| PayoutRule::TopN { n }),
        ]
    }

    proptest! {
        #[test]
        fn never_more_than_the_pool_nor_the_cap(
            pool in 0_u64..u64::MAX / 2,
            rule in arb_rule(),
            entries in arb_entries(),
        ) {
            let paid = payouts(pool, rule, &entries);
            let total: u128 = paid.iter().map(|(_, p)| u128::from(*p)).sum();
            prop_assert!(total <= u128::from(pool));
            if let PayoutRule::Proportional { per_account_cap, .. } = rule {
                let mut per_account: HashMap<&str, u64> = HashMap::new();
                for (id, points) in &paid {
                    let e = entries.iter().find(|e| &e.id == id).unwrap();
                    *per_account.entry(&e.account).or_default() += points;
                }
                prop_assert!(per_account.values().all(|p| *p <= per_account_cap));
            }
            let mut ids: Vec<&String> = paid.iter().map(|(id, _)| id).collect();
            ids.dedup();
            prop_assert_eq!(ids.len(), paid.len(), "one payout per entry");
        }

        #[test]
        fn the_order_of_the_entries_changes_nothing(
            pool in 0_u64..1_000_000,
            rule in arb_rule(),
            entries in arb_entries(),
        ) {
            let mut reversed = entries.clone();
            reversed.reverse();
            prop_assert_eq!(payouts(pool, rule, &entries), payouts(pool, rule, &reversed));
        }

        #[test]
        fn a_better_score_never_earns_less_without_caps_or_flags(
            pool in 0_u64..1_000_000,
            threshold in 0_u32..100,
            scores in proptest::collection::vec(0_u32..=100, 1..30),
        ) {
            let entries: Vec<PayoutEntry> = scores.iter().enumerate()
                .map(|(i, s)| entry(&format!("s{i:03}"), &format!("a{i}"), *s)).collect();
            let rule = PayoutRule::Proportional { threshold, per_account_cap: u64::MAX };
            let paid: HashMap<String, u64> = payouts(pool, rule, &entries).into_iter().collect();
            for a in &entries {
                for b in &entries {
                    if a.score > b.score {
                        prop_assert!(paid.get(&a.id).unwrap_or(&0) >= paid.get(&b.id).unwrap_or(&0));
                    }
                }
            }
        }
    }
}

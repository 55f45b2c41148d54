//! Settlement rounds (docs/decisions/0007): their statuses, when each one
//! runs, and what the API and pages show of them.
//!
//! Times are Unix seconds. Amounts in token base units are decimal strings:
//! they exceed 64 bits (and JSON's exact integers) as soon as a point is
//! worth 10^18 units.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a round is in its life. Stored and sent as the snake_case name.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundStatus {
    /// Points earned now settle at this round's close.
    Open,
    /// Settled and its tree stored; the root is not on chain yet.
    Closing,
    /// `setRoot` was mined.
    Published,
    /// Enough blocks sit on top of `setRoot` that it will not be reorganised away.
    Confirmed,
}

impl RoundStatus {
    pub const ALL: [RoundStatus; 4] = [
        RoundStatus::Open,
        RoundStatus::Closing,
        RoundStatus::Published,
        RoundStatus::Confirmed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RoundStatus::Open => "open",
            RoundStatus::Closing => "closing",
            RoundStatus::Published => "published",
            RoundStatus::Confirmed => "confirmed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        RoundStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }

    /// Whether the round's tree (root, leaves, proofs) exists.
    pub const fn has_tree(self) -> bool {
        !matches!(self, RoundStatus::Open)
    }
}

impl fmt::Display for RoundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownRoundStatus;

impl fmt::Display for UnknownRoundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown round status: use open, closing, published or confirmed")
    }
}

impl std::error::Error for UnknownRoundStatus {}

impl FromStr for RoundStatus {
    type Err = UnknownRoundStatus;

    fn from_str(s: &str) -> Result<Self, UnknownRoundStatus> {
        RoundStatus::parse(s).ok_or(UnknownRoundStatus)
    }
}

/// A round's length is zero or does not fit the clock's `i64` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidRoundLength;

impl fmt::Display for InvalidRoundLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a round lasts at least one second")
    }
}

impl std::error::Error for InvalidRoundLength {}

/// When rounds start and end, for one round length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundSchedule {
    round_secs: i64,
}

impl RoundSchedule {
    pub fn new(round_secs: u64) -> Result<Self, InvalidRoundLength> {
        match i64::try_from(round_secs) {
            Ok(secs) if secs > 0 => Ok(Self { round_secs: secs }),
            _ => Err(InvalidRoundLength),
        }
    }

    pub const fn round_secs(self) -> i64 {
        self.round_secs
    }

    /// `(starts_at, ends_at)` of the round to open at `now`, after the round
    /// that ended at `last_ends_at` (none for the first round).
    ///
    /// The first round starts at `now` floored to the length, so rounds line
    /// up with the clock (a 600-second round ends at :00, :10, …). Every
    /// later round starts where the last ended, so no second belongs to two
    /// rounds or to none, and ends at the first multiple of the length after
    /// its start that is past `now`: after downtime one long round covers the
    /// outage instead of a burst of empty ones, and the numbering has no gaps.
    ///
    /// `ends_at > starts_at` and `ends_at > now`, unless the times come
    /// within one round of `i64::MAX`, where the arithmetic saturates rather
    /// than panics (and the database's CHECK refuses the round).
    pub fn next(self, last_ends_at: Option<i64>, now: i64) -> (i64, i64) {
        let len = self.round_secs;
        let starts_at = match last_ends_at {
            Some(ends_at) => ends_at,
            None => now.div_euclid(len).saturating_mul(len),
        };
        // Whole rounds from the start that `now` has already passed; a clock
        // behind the last round's end (skew between instances) gives one.
        let elapsed = now.saturating_sub(starts_at).max(0);
        let rounds = (elapsed / len).saturating_add(1);
        let ends_at = starts_at.saturating_add(rounds.saturating_mul(len));
        (starts_at, ends_at)
    }

    /// Whether a round that ends at `ends_at` should close at `now`.
    pub const fn is_due(ends_at: i64, now: i64) -> bool {
        now >= ends_at
    }
}

/// A round as the API and pages show it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundView {
    /// 1, 2, 3, … with no gaps.
    pub number: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub status: RoundStatus,
    /// `0x`-prefixed Merkle root, from `closing` on.
    pub root: Option<String>,
    /// Wallets in the tree, from `closing` on.
    pub leaf_count: Option<i64>,
    /// Sum of the leaves (token base units, decimal), from `closing` on.
    pub total_amount: Option<String>,
    pub closed_at: Option<i64>,
    /// The platform's id of the `setRoot` transaction, once sent.
    pub publish_tx: Option<String>,
    pub published_at: Option<i64>,
    pub confirmed_at: Option<i64>,
}

/// One page of rounds, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundsPage {
    pub rounds: Vec<RoundView>,
    /// Pass as `before` to get the next (older) page; `None` on the last.
    pub next_before: Option<i64>,
}

/// A wallet's leaf in a round's tree.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundLeafView {
    /// EIP-55 checksummed.
    pub wallet: String,
    /// Cumulative token base units, decimal.
    pub amount: String,
    /// `0x`-prefixed sibling hashes, leaf to root.
    pub proof: Vec<String>,
}

/// One leaf of the public export.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundExportLeaf {
    /// EIP-55 checksummed.
    pub address: String,
    /// Cumulative token base units, decimal.
    pub amount: String,
    pub proof: Vec<String>,
}

/// `GET /api/v1/rounds/{n}/export`: everything needed to check a round's
/// root and to claim from it, `{round, root, leaves: [{address, amount, proof}]}`.
/// Leaves are `(address, uint256)` pairs hashed as OpenZeppelin's
/// `StandardMerkleTree` does; ordered by address.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundExport {
    pub round: i64,
    pub root: String,
    pub leaves: Vec<RoundExportLeaf>,
}

/// Points an account moved into its wallet's total in one round.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettledPoints {
    pub round: i64,
    /// EIP-55 checksummed: the wallet bound when the round closed.
    pub wallet: String,
    pub points: i64,
}

/// What the bound wallet can claim: its leaf in the newest round that has a tree.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardsClaim {
    pub round: i64,
    /// Claims work once the round is `published`; until then the root is
    /// not on chain.
    pub status: RoundStatus,
    pub root: String,
    #[serde(flatten)]
    pub leaf: RoundLeafView,
}

/// `GET /api/v1/user/rewards`: a member's points and what they became.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewardsView {
    /// Points not settled yet: they move at the next round's close if a
    /// wallet is bound then.
    pub points_balance: i64,
    /// EIP-55 checksummed bound wallet.
    pub wallet: Option<String>,
    /// Newest first.
    pub settlements: Vec<SettledPoints>,
    /// `None` without a bound wallet or before its first settled round.
    pub claim: Option<RewardsClaim>,
}

/// A round as the public page lists it: with the hash of its `setRoot`
/// transaction, which anyone can look up on chain (the API gives the
/// platform's own id for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicRound {
    pub round: RoundView,
    pub publish_tx_hash: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_strings_and_serde() {
        for status in RoundStatus::ALL {
            assert_eq!(RoundStatus::parse(status.as_str()), Some(status));
            assert_eq!(status.as_str().parse(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{status}\""));
            assert_eq!(serde_json::from_str::<RoundStatus>(&json).unwrap(), status);
        }
        assert_eq!(RoundStatus::parse("Open"), None);
        assert_eq!("closed".parse::<RoundStatus>(), Err(UnknownRoundStatus));
        assert!(!RoundStatus::Open.has_tree());
        assert!(RoundStatus::Closing.has_tree());
    }

    fn export(leaves: &[(&str, &str)]) -> RoundExport {
        RoundExport {
            round: 1,
            root: String::new(),
            leaves: leaves
                .iter()
                .map(|(address, amount)| RoundExportLeaf {
                    address: (*address).to_owned(),
                    amount: (*amount).to_owned(),
                    proof: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_later_export_must_not_lower_any_total() {
        const ANN: &str = "0x00000000000000000000000000000000000000aA";
        const BOB: &str = "0x00000000000000000000000000000000000000bb";
        let earlier = export(&[(ANN, "10"), (BOB, "5")]);
        let grown = export(&[(&ANN.to_ascii_lowercase(), "12"), (BOB, "5"), ("0x01", "3")]);
        assert_eq!(
            grown.grows_from(&earlier).unwrap(),
            alloy_primitives::U256::from(5)
        );
        let lowered = export(&[(ANN, "9"), (BOB, "5")]);
        assert!(matches!(
            lowered.grows_from(&earlier),
            Err(ExportError::Decreased { after, .. }) if after == "9"
        ));
        let dropped = export(&[(ANN, "10")]);
        assert!(matches!(
            dropped.grows_from(&earlier),
            Err(ExportError::Decreased { address, .. }) if address == BOB
        ));
    }

    #[test]
    fn round_lengths() {
        assert_eq!(RoundSchedule::new(0), Err(InvalidRoundLength));
        assert_eq!(RoundSchedule::new(u64::MAX), Err(InvalidRoundLength));
        assert_eq!(RoundSchedule::new(600).unwrap().round_secs(), 600);
    }

    #[test]
    fn rounds_line_up_and_cover_downtime() {
        let schedule = RoundSchedule::new(600).unwrap();
        // The first round starts on the boundary at or before now.
        assert_eq!(schedule.next(None, 1_000_123), (999_600, 1_000_200));
        assert_eq!(schedule.next(None, 1_000_200), (1_000_200, 1_000_800));
        // On time: the next round is one length long.
        assert_eq!(
            schedule.next(Some(1_000_200), 1_000_200),
            (1_000_200, 1_000_800)
        );
        assert_eq!(
            schedule.next(Some(1_000_200), 1_000_799),
            (1_000_200, 1_000_800)
        );
        // Down for 25 minutes: one 30-minute round up to the next boundary.
        assert_eq!(
            schedule.next(Some(1_000_200), 1_000_200 + 1_500),
            (1_000_200, 1_002_000)
        );
        // Exactly on a boundary: that boundary has passed, so the next one.
        assert_eq!(
            schedule.next(Some(1_000_200), 1_000_800),
            (1_000_200, 1_001_400)
        );
        // A clock behind the last end (another instance's skew).
        assert_eq!(
            schedule.next(Some(1_000_200), 999_000),
            (1_000_200, 1_000_800)
        );
        // Before the epoch, flooring still goes down.
        assert_eq!(schedule.next(None, -1), (-600, 0));
        assert!(RoundSchedule::is_due(100, 100));
        assert!(!RoundSchedule::is_due(100, 99));
    }

    #[test]
    fn rounds_schedule_never_overflows() {
        let schedule = RoundSchedule::new(i64::MAX as u64).unwrap();
        for (last, now) in [
            (None, i64::MAX),
            (Some(i64::MAX - 1), i64::MAX),
            (None, i64::MIN),
        ] {
            let (starts, ends) = schedule.next(last, now);
            assert!(ends >= starts, "{last:?} {now}");
        }
        let (starts, ends) = RoundSchedule::new(600).unwrap().next(None, i64::MIN);
        assert!(ends > starts);
    }

    /// A deterministic pseudo-random walk over lengths, outages and clock
    /// skew (a 64-bit LCG, as the ledger's tests use): the properties that
    /// the platform's round numbering relies on.
    #[test]
    fn rounds_schedule_properties() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        for _ in 0..200 {
            let len = 1 + next(7_200) as i64;
            let schedule = RoundSchedule::new(len as u64).unwrap();
            let mut now = 1_600_000_000 + next(1_000_000_000) as i64;
            let (first_start, mut ends_at) = schedule.next(None, now);
            assert_eq!(first_start % len, 0);
            assert!(first_start <= now && now < ends_at && ends_at - first_start == len);
            for _ in 0..20 {
                // Mostly on time, sometimes early (skew), sometimes after an outage.
                now = match next(4) {
                    0 => ends_at - next(len as u64 + 1) as i64,
                    1 => ends_at + next(50 * len as u64) as i64,
                    _ => ends_at + next(3) as i64,
                };
                let (starts, ends) = schedule.next(Some(ends_at), now);
                // No gap and no overlap with the previous round.
                assert_eq!(starts, ends_at);
                // Ends on the grid the first round set, after now, and no
                // later than one length after now: one round, not a burst.
                assert_eq!((ends - first_start) % len, 0);
                assert!(ends > now.max(starts));
                assert!(ends - len <= now.max(starts), "{len} {starts} {ends} {now}");
                ends_at = ends;
            }
        }
    }
}

/// Why a round export does not hold together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// An address or amount that does not parse, or a wallet listed twice.
    InvalidLeaf(String),
    /// The tree over the leaves has another root than the export states.
    RootMismatch { stated: String, computed: String },
    /// A leaf's proof does not lead to the root.
    BadProof(String),
    /// A wallet's cumulative amount is lower than in an earlier round's
    /// export (or the wallet is gone): totals never fall.
    Decreased {
        address: String,
        before: String,
        after: String,
    },
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::InvalidLeaf(what) => write!(f, "invalid leaf: {what}"),
            ExportError::RootMismatch { stated, computed } => {
                write!(
                    f,
                    "the leaves give root {computed}, the export states {stated}"
                )
            }
            ExportError::BadProof(address) => {
                write!(f, "the proof of {address} does not lead to the root")
            }
            ExportError::Decreased {
                address,
                before,
                after,
            } => write!(
                f,
                "{address} had {before} in the earlier round and {after} now: totals never fall"
            ),
        }
    }
}

impl std::error::Error for ExportError {}

impl RoundExport {
    /// Checks that every wallet of `earlier` (an earlier round's export)
    /// has at least its amount there: what a guardian checks before a root
    /// pays out. Returns by how much the total grew.
    pub fn grows_from(&self, earlier: &RoundExport) -> Result<alloy_primitives::U256, ExportError> {
        use alloy_primitives::U256;

        let amount = |leaf: &RoundExportLeaf| {
            U256::from_str_radix(&leaf.amount, 10)
                .map_err(|_| ExportError::InvalidLeaf(format!("{}: {}", leaf.address, leaf.amount)))
        };
        let key = |address: &str| address.to_ascii_lowercase();
        let now: std::collections::HashMap<String, &RoundExportLeaf> = self
            .leaves
            .iter()
            .map(|leaf| (key(&leaf.address), leaf))
            .collect();
        let (mut before_total, mut after_total) = (U256::ZERO, U256::ZERO);
        for leaf in &self.leaves {
            after_total = after_total.saturating_add(amount(leaf)?);
        }
        for leaf in &earlier.leaves {
            let before = amount(leaf)?;
            before_total = before_total.saturating_add(before);
            let after = match now.get(&key(&leaf.address)) {
                Some(current) => amount(current)?,
                None => U256::ZERO,
            };
            if after < before {
                return Err(ExportError::Decreased {
                    address: leaf.address.clone(),
                    before: before.to_string(),
                    after: after.to_string(),
                });
            }
        }
        Ok(after_total.saturating_sub(before_total))
    }

    /// The export's published form: compact JSON, fields in declaration
    /// order, leaves ordered by address. The platform serves exactly these
    /// bytes, and their keccak256 is [`RoundExport::export_hash`].
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings and vectors always serialise")
    }

    /// keccak256 of [`RoundExport::to_bytes`]: published on chain with the
    /// root, so anyone who fetches the export can check it is the one the
    /// root was proposed with.
    pub fn export_hash(&self) -> alloy_primitives::B256 {
        alloy_primitives::keccak256(self.to_bytes())
    }

    /// Recomputes the root from the leaves alone (as OpenZeppelin's
    /// `StandardMerkleTree` would), checks it equals the stated root and that
    /// every proof leads to it; returns the root. An empty round's root is zero.
    pub fn verify(&self) -> Result<alloy_primitives::B256, ExportError> {
        use std::str::FromStr;

        use alloy_primitives::{Address, B256, U256};

        use crate::merkle::{self, MerkleTree};

        let mut entries = Vec::with_capacity(self.leaves.len());
        for leaf in &self.leaves {
            let address = Address::from_str(&leaf.address)
                .map_err(|_| ExportError::InvalidLeaf(leaf.address.clone()))?;
            let amount = U256::from_str_radix(&leaf.amount, 10).map_err(|_| {
                ExportError::InvalidLeaf(format!("{}: {}", leaf.address, leaf.amount))
            })?;
            entries.push((address, amount));
        }
        let computed = match MerkleTree::build(&entries) {
            Ok(tree) => tree.root(),
            Err(merkle::MerkleError::Empty) => B256::ZERO,
            Err(err) => return Err(ExportError::InvalidLeaf(err.to_string())),
        };
        let stated = B256::from_str(&self.root).map_err(|_| ExportError::RootMismatch {
            stated: self.root.clone(),
            computed: computed.to_string(),
        })?;
        if stated != computed {
            return Err(ExportError::RootMismatch {
                stated: self.root.clone(),
                computed: computed.to_string(),
            });
        }
        for (leaf, (address, amount)) in self.leaves.iter().zip(&entries) {
            let proof: Result<Vec<B256>, _> =
                leaf.proof.iter().map(|p| B256::from_str(p)).collect();
            let proof = proof.map_err(|_| ExportError::BadProof(leaf.address.clone()))?;
            if !merkle::verify(&computed, address, amount, &proof) {
                return Err(ExportError::BadProof(leaf.address.clone()));
            }
        }
        Ok(computed)
    }
}

//! The points ledger's rules, shared by the server and the browser: why
//! points move, which amounts, idempotency keys and references are
//! acceptable, and what the API shows of a balance and its history.
//!
//! Points are whole numbers (`i64`); there are no fractional points.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest amount one entry may move: 2^53 − 1, the largest integer
/// every JSON parser (JavaScript's included) reads exactly, so an amount
/// never changes on its way to or from a client.
pub const MAX_ENTRY_AMOUNT: i64 = (1 << 53) - 1;

/// Why points moved. Stored and sent as the snake_case name.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointsReason {
    /// A compute task completed (node operators).
    TaskReward,
    /// Submitted content scored well in a round.
    ContentReward,
    /// Someone this account invited joined and took part.
    Referral,
    /// An admin corrected a balance, in either direction.
    AdminAdjustment,
    /// Points moved to or from the chain at a round's settlement.
    Settlement,
}

impl PointsReason {
    pub const ALL: [PointsReason; 5] = [
        PointsReason::TaskReward,
        PointsReason::ContentReward,
        PointsReason::Referral,
        PointsReason::AdminAdjustment,
        PointsReason::Settlement,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            PointsReason::TaskReward => "task_reward",
            PointsReason::ContentReward => "content_reward",
            PointsReason::Referral => "referral",
            PointsReason::AdminAdjustment => "admin_adjustment",
            PointsReason::Settlement => "settlement",
        }
    }

    /// Whether an entry with this reason may take points away. Earning is
    /// never negative: a reward that must be undone is undone by an
    /// adjustment, so the history shows both the reward and its reversal.
    ///
    /// No reason may take a balance below zero: the ledger refuses any
    /// entry that would (see `ErrorCode::InsufficientPoints`).
    pub const fn allows_debit(self) -> bool {
        matches!(
            self,
            PointsReason::AdminAdjustment | PointsReason::Settlement
        )
    }
}

impl fmt::Display for PointsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownReason;

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "unknown reason: use task_reward, content_reward, referral, admin_adjustment or settlement",
        )
    }
}

impl std::error::Error for UnknownReason {}

impl FromStr for PointsReason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, UnknownReason> {
        PointsReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or(UnknownReason)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    Zero,
    TooLarge,
    /// A negative amount for a reason that only credits.
    DebitNotAllowed(PointsReason),
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountError::Zero => f.write_str("the amount cannot be zero"),
            AmountError::TooLarge => write!(f, "an entry moves at most {MAX_ENTRY_AMOUNT} points"),
            AmountError::DebitNotAllowed(reason) => {
                write!(f, "a {reason} entry cannot be negative")
            }
        }
    }
}

impl std::error::Error for AmountError {}

/// Checks an entry's amount: non-zero, at most [`MAX_ENTRY_AMOUNT`] either
/// way, and positive unless the reason [allows debits](PointsReason::allows_debit).
pub fn check_amount(reason: PointsReason, amount: i64) -> Result<(), AmountError> {
    if amount == 0 {
        return Err(AmountError::Zero);
    }
    // `unsigned_abs` because `i64::MIN.abs()` overflows.
    if amount.unsigned_abs() > MAX_ENTRY_AMOUNT.unsigned_abs() {
        return Err(AmountError::TooLarge);
    }
    if amount < 0 && !reason.allows_debit() {
        return Err(AmountError::DebitNotAllowed(reason));
    }
    Ok(())
}

/// Names one posting so that retrying it cannot post twice: 1 to 128
/// visible ASCII characters. Scoped to the account the entry is for.
///
/// Spaces and non-ASCII are refused rather than normalised: a key that
/// differs from its first use by invisible whitespace or Unicode
/// normalisation would silently post a second time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX_LEN: usize = TOKEN_MAX_LEN;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        check_token(raw).map_err(|problem| match problem {
            TokenProblem::Empty => "give an idempotency key",
            TokenProblem::TooLong => "an idempotency key has at most 128 characters",
            TokenProblem::NotVisibleAscii => {
                "an idempotency key is visible ASCII only (no spaces or control characters)"
            }
        })?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an entry is about (a task, a round, a ticket), same alphabet and
/// length as an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PointsReference(String);

impl PointsReference {
    pub const MAX_LEN: usize = TOKEN_MAX_LEN;

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        check_token(raw).map_err(|problem| match problem {
            TokenProblem::Empty => "a reference cannot be empty (leave it out instead)",
            TokenProblem::TooLong => "a reference has at most 128 characters",
            TokenProblem::NotVisibleAscii => {
                "a reference is visible ASCII only (no spaces or control characters)"
            }
        })?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const TOKEN_MAX_LEN: usize = 128;

enum TokenProblem {
    Empty,
    TooLong,
    NotVisibleAscii,
}

fn check_token(raw: &str) -> Result<(), TokenProblem> {
    if raw.is_empty() {
        Err(TokenProblem::Empty)
    } else if raw.len() > TOKEN_MAX_LEN {
        Err(TokenProblem::TooLong)
    } else if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        Err(TokenProblem::NotVisibleAscii)
    } else {
        Ok(())
    }
}

/// How many history entries a page holds when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// The most a client may ask for in one page.
pub const MAX_PAGE_SIZE: u32 = 100;

/// The page size to use for a requested one: the default when absent,
/// otherwise clamped to 1..=[`MAX_PAGE_SIZE`].
pub fn page_size(requested: Option<u32>) -> u32 {
    requested
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE)
}

/// An account's current balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsBalance {
    pub balance: i64,
}

/// One ledger entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsEntryView {
    /// Increases with every entry; the history cursor.
    pub id: i64,
    pub account_id: String,
    /// Positive credits, negative debits.
    pub amount: i64,
    pub reason: PointsReason,
    pub reference: Option<String>,
    pub idempotency_key: String,
    /// The account's balance right after this entry.
    pub balance_after: i64,
    /// Unix seconds.
    pub created_at: i64,
}

/// One page of an account's entries, newest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsHistory {
    pub entries: Vec<PointsEntryView>,
    /// Pass as `before` to get the next (older) page; `None` on the last.
    pub next_before: Option<i64>,
}

/// `GET /api/v1/user/points`: the balance and a page of history.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsOverview {
    pub balance: i64,
    #[serde(flatten)]
    pub history: PointsHistory,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_strings_and_serde() {
        for reason in PointsReason::ALL {
            assert_eq!(reason.as_str().parse(), Ok(reason));
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{reason}\""));
            assert_eq!(serde_json::from_str::<PointsReason>(&json).unwrap(), reason);
        }
        assert_eq!("bonus".parse::<PointsReason>(), Err(UnknownReason));
        assert_eq!("Task_Reward".parse::<PointsReason>(), Err(UnknownReason));
    }

    #[test]
    fn only_adjustments_and_settlements_debit() {
        let debiting: Vec<_> = PointsReason::ALL
            .into_iter()
            .filter(|r| r.allows_debit())
            .collect();
        assert_eq!(
            debiting,
            [PointsReason::AdminAdjustment, PointsReason::Settlement]
        );
    }

    #[test]
    fn amounts() {
        use PointsReason::*;
        assert_eq!(check_amount(TaskReward, 1), Ok(()));
        assert_eq!(check_amount(TaskReward, MAX_ENTRY_AMOUNT), Ok(()));
        assert_eq!(check_amount(AdminAdjustment, -MAX_ENTRY_AMOUNT), Ok(()));
        assert_eq!(check_amount(Settlement, -5), Ok(()));
        assert_eq!(check_amount(Referral, 0), Err(AmountError::Zero));
        assert_eq!(
            check_amount(ContentReward, -1),
            Err(AmountError::DebitNotAllowed(ContentReward))
        );
        for too_large in [MAX_ENTRY_AMOUNT + 1, i64::MAX, i64::MIN] {
            assert_eq!(
                check_amount(AdminAdjustment, too_large),
                Err(AmountError::TooLarge)
            );
        }
    }

    #[test]
    fn idempotency_keys_and_references() {
        assert!(IdempotencyKey::parse("round:42/task-7_b").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(128)).is_ok());
        for bad in ["", " key", "key ", "a b", "tab\t", "ключ", "nul\0"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
            assert!(PointsReference::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
        assert_eq!(PointsReference::parse("task:9").unwrap().as_str(), "task:9");
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some(0)), 1);
        assert_eq!(page_size(Some(7)), 7);
        assert_eq!(page_size(Some(10_000)), MAX_PAGE_SIZE);
    }

    #[test]
    fn the_overview_is_flat_json() {
        let overview = PointsOverview {
            balance: 5,
            history: PointsHistory {
                entries: vec![],
                next_before: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&overview).unwrap(),
            serde_json::json!({ "balance": 5, "entries": [], "next_before": null })
        );
    }
}

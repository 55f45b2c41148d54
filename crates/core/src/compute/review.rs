//! An admin's review of a flagged node: its results disagreed with other
//! nodes' often enough ([`super::verification::FLAG_AFTER`]) that someone
//! decides whether to take part of its operator's stake. The decision is
//! either a slash (an amount of the reward token, taken on chain and sent
//! to the treasury) or clearing the flag; both need a reason, kept with
//! the review.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use super::NodeId;

/// Characters of a review's reason (it also goes on chain with a slash).
pub const MAX_REASON_CHARS: usize = 500;

/// `POST /api/v1/admin/nodes/{id}/review`: `{slash, reason}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeReview {
    /// Base units of the reward token to slash, as a decimal string (256
    /// bits do not fit a JSON number); absent or null clears the flag.
    #[serde(default)]
    pub slash: Option<String>,
    pub reason: String,
}

/// What a review decides, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Slash(U256),
    Clear,
}

impl Decision {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Decision::Slash(_) => "slashed",
            Decision::Clear => "cleared",
        }
    }
}

/// Why a review was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewError {
    Reason,
    Amount,
}

impl std::fmt::Display for ReviewError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReviewError::Reason => write!(
                f,
                "a review needs a reason of 1 to {MAX_REASON_CHARS} characters, without control characters"
            ),
            ReviewError::Amount => f.write_str(
                "slash is a positive whole number of the token's base units, in decimal digits",
            ),
        }
    }
}

impl std::error::Error for ReviewError {}

impl NodeReview {
    /// The decision and its reason (trimmed), or why the review is refused.
    pub fn parse(&self) -> Result<(Decision, String), ReviewError> {
        let reason = self.reason.trim();
        let chars = reason.chars().count();
        if chars == 0 || chars > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
            return Err(ReviewError::Reason);
        }
        let decision = match self.slash.as_deref() {
            None => Decision::Clear,
            Some(digits) => {
                // Digits only: no sign, no `0x`, no exponent, no spaces.
                if digits.is_empty()
                    || digits.len() > 78
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(ReviewError::Amount);
                }
                match U256::from_str_radix(digits, 10) {
                    Ok(amount) if !amount.is_zero() => Decision::Slash(amount),
                    _ => return Err(ReviewError::Amount),
                }
            }
        };
        Ok((decision, reason.to_owned()))
    }
}

/// A review as stored and answered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReviewView {
    pub id: String,
    pub node_id: NodeId,
    /// `slashed` or `cleared`.
    pub decision: String,
    /// Base units slashed, decimal; `None` when the flag was cleared.
    pub amount: Option<String>,
    pub reason: String,
    /// The slash's transaction in the platform's outbox, and its state
    /// there (`queued`, `sent`, `mined`, `confirmed`, `failed`) and hash.
    pub transaction: Option<ReviewTransaction>,
    pub created_at: i64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewTransaction {
    pub id: String,
    pub status: String,
    pub hash: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(slash: Option<&str>, reason: &str) -> NodeReview {
        NodeReview {
            slash: slash.map(str::to_owned),
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn a_slash_is_a_positive_decimal_amount_of_up_to_256_bits() {
        let max = U256::MAX.to_string();
        assert_eq!(
            review(Some(max.as_str()), "r").parse(),
            Ok((Decision::Slash(U256::MAX), "r".to_owned()))
        );
        assert_eq!(
            review(Some("1000"), " copied answers ").parse(),
            Ok((
                Decision::Slash(U256::from(1000)),
                "copied answers".to_owned()
            ))
        );
        let over = format!("{max}0");
        for bad in [
            "",
            "0",
            "000",
            "-1",
            "+1",
            "1e3",
            "0x10",
            " 1",
            "1.5",
            over.as_str(),
        ] {
            assert_eq!(
                review(Some(bad), "r").parse(),
                Err(ReviewError::Amount),
                "{bad:?}"
            );
        }
        // 2^256 itself: 78 digits, one past the largest.
        let two_256 =
            "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(review(Some(two_256), "r").parse(), Err(ReviewError::Amount));
    }

    #[test]
    fn every_review_needs_a_printable_reason() {
        assert_eq!(
            review(None, "answers agree on re-check").parse(),
            Ok((Decision::Clear, "answers agree on re-check".to_owned()))
        );
        let long = "x".repeat(MAX_REASON_CHARS + 1);
        for bad in ["", "   ", "line\nbreak", long.as_str()] {
            assert_eq!(
                review(None, bad).parse(),
                Err(ReviewError::Reason),
                "{bad:?}"
            );
        }
        assert!(review(None, &"é".repeat(MAX_REASON_CHARS)).parse().is_ok());
    }

    #[test]
    fn a_review_has_exactly_the_documented_fields() {
        let parsed: Result<NodeReview, _> =
            serde_json::from_str(r#"{"slash": "5", "reason": "r", "amount": "5"}"#);
        assert!(parsed.is_err());
        let parsed: NodeReview = serde_json::from_str(r#"{"reason": "r"}"#).unwrap();
        assert_eq!(parsed.slash, None);
    }
}

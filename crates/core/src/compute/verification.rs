//! Checking nodes against each other: a sample of tasks is run again by a
//! second node, and the two answers compared — embeddings vector by vector,
//! chat answers by the similarity of their embeddings. Agreement earns
//! reputation slowly; a disagreement costs both nodes much more (with two
//! untrusted answers, neither is known to be the wrong one; a node that
//! cheats disagrees with everyone and sinks, an honest one recovers), and
//! repeated disagreements flag a node for an admin's slashing review.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FULL_REPUTATION;

/// Reputation (thousandths) an agreement adds.
pub const AGREEMENT_GAIN: i64 = 10;
/// Reputation a disagreement takes.
pub const DISAGREEMENT_COST: i64 = 100;
/// Disagreements after which a node is flagged for review.
pub const FLAG_AFTER: i64 = 3;

/// What a check found.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Sampled; its check has not run yet.
    Pending,
    Agreed,
    Disagreed,
    /// No other node took the check in time: paid unchecked.
    Unchecked,
}

impl Verdict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::Agreed => "agreed",
            Verdict::Disagreed => "disagreed",
            Verdict::Unchecked => "unchecked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Verdict::Pending,
            Verdict::Agreed,
            Verdict::Disagreed,
            Verdict::Unchecked,
        ]
        .into_iter()
        .find(|v| v.as_str() == raw)
    }

    /// Whether the node's work is paid: not while a check is pending, not
    /// after a disagreement.
    pub const fn pays(self) -> bool {
        matches!(self, Verdict::Agreed | Verdict::Unchecked)
    }
}

/// Whether the task is among the `per_mille` thousandths checked. Decided
/// by its id, so every instance decides alike, and a node cannot tell a
/// checked task from another.
pub fn sampled(task_id: &str, per_mille: u32) -> bool {
    let digest = Sha256::digest(task_id.as_bytes());
    let draw = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000;
    draw < per_mille
}

/// A node's reputation after a check.
pub fn reputation_after(reputation: u32, agreed: bool) -> u32 {
    let delta = if agreed {
        AGREEMENT_GAIN
    } else {
        -DISAGREEMENT_COST
    };
    (i64::from(reputation) + delta).clamp(0, i64::from(FULL_REPUTATION)) as u32
}

/// Whether two embedding answers agree: the same number of vectors, each
/// pair at a cosine of at least `threshold`.
pub fn vectors_agree(a: &[Vec<f32>], b: &[Vec<f32>], threshold: f32) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| crate::submissions::text::cosine(x, y) >= threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_takes_about_the_share_asked_and_is_stable() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("task-{i}")).collect();
        let taken = ids.iter().filter(|id| sampled(id, 100)).count();
        assert!((900..1_100).contains(&taken), "{taken} of 10,000 at 10%");
        assert!(ids.iter().all(|id| sampled(id, 1_000)));
        assert!(!ids.iter().any(|id| sampled(id, 0)));
        assert_eq!(sampled("task-7", 100), sampled("task-7", 100));
    }

    #[test]
    fn reputation_rises_slowly_falls_fast_and_stays_in_bounds() {
        assert_eq!(reputation_after(FULL_REPUTATION, true), FULL_REPUTATION);
        assert_eq!(reputation_after(500, true), 510);
        assert_eq!(reputation_after(500, false), 400);
        assert_eq!(reputation_after(50, false), 0);
    }

    #[test]
    fn vectors_agree_pair_by_pair() {
        let a = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let near = vec![vec![0.999, 0.01], vec![0.0, 1.0]];
        let off = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        assert!(vectors_agree(&a, &near, 0.99));
        assert!(!vectors_agree(&a, &off, 0.99));
        assert!(!vectors_agree(&a, &a[..1], 0.99));
    }

    #[test]
    fn only_settled_good_verdicts_pay() {
        assert!(Verdict::Agreed.pays() && Verdict::Unchecked.pays());
        assert!(!Verdict::Pending.pays() && !Verdict::Disagreed.pays());
        assert_eq!(Verdict::parse("agreed"), Some(Verdict::Agreed));
    }
}

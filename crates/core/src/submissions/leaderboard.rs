//! A round's leaderboard as it travels over the live socket: the server
//! sends what changed since its last announcement, and every page applies
//! that to the board it shows. One order and one rule for both, so a page
//! that applies every change shows exactly the server's board.
//!
//! Sending changes instead of the board keeps a frame to ten thousand
//! sockets small (one scored entry is about 200 bytes; the whole board of
//! 200 entries is 40 KB). Each change carries the [`digest`] of the board
//! it leads to: a page whose board came out different (it loaded between
//! two announcements and saw an entry that came and went since, or it
//! missed one) reloads the board instead of showing a wrong one.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{EntryView, SubmissionId};

/// Best first: higher score, then earlier work, then the id, so that no
/// two entries tie.
pub fn rank(a: &EntryView, b: &EntryView) -> Ordering {
    b.score
        .cmp(&a.score)
        .then(a.created_at.cmp(&b.created_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// Puts a board in [`rank`] order.
pub fn sort(board: &mut [EntryView]) {
    board.sort_by(rank);
}

/// What changed on a board between two announcements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardChange {
    /// Entries new on the board or different from before, as they are now.
    pub changed: Vec<EntryView>,
    /// Entries no longer on the board (outranked, rejected, …).
    pub removed: Vec<SubmissionId>,
}

impl BoardChange {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The change that turns board `old` into board `new`.
pub fn diff(old: &[EntryView], new: &[EntryView]) -> BoardChange {
    let before: HashMap<&SubmissionId, &EntryView> = old.iter().map(|e| (&e.id, e)).collect();
    let now: HashSet<&SubmissionId> = new.iter().map(|e| &e.id).collect();
    BoardChange {
        changed: new
            .iter()
            .filter(|e| before.get(&e.id) != Some(e))
            .cloned()
            .collect(),
        removed: old
            .iter()
            .filter(|e| !now.contains(&e.id))
            .map(|e| e.id.clone())
            .collect(),
    }
}

/// Applies `change` to `board`, which stays in [`rank`] order. Compare
/// the result's [`digest`] with the announced one to know it is right.
pub fn apply(board: &mut Vec<EntryView>, change: &BoardChange) {
    let replaced: HashSet<&SubmissionId> = change
        .changed
        .iter()
        .map(|e| &e.id)
        .chain(&change.removed)
        .collect();
    board.retain(|e| !replaced.contains(&e.id));
    board.extend(change.changed.iter().cloned());
    sort(board);
}

/// A short fingerprint of a whole board (FNV-1a, 64 bits, over its JSON),
/// as 16 hex digits: equal boards give equal digests on every platform.
pub fn digest(board: &[EntryView]) -> String {
    let json = serde_json::to_vec(board).expect("entries serialise");
    let hash = json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::submissions::SubmissionStatus;

    fn entry(id: u8, score: u32, created_at: i64, reward: Option<i64>) -> EntryView {
        EntryView {
            id: SubmissionId::from(format!("s{id:03}")),
            round: 1,
            author: Some("alice".into()),
            title: format!("Work {id}"),
            status: SubmissionStatus::Scored,
            score: Some(score),
            reward,
            created_at,
        }
    }

    /// A board of up to `limit` of the given entries, as the server reads it.
    fn board(entries: &[EntryView], limit: usize) -> Vec<EntryView> {
        let mut board = entries.to_vec();
        sort(&mut board);
        board.truncate(limit);
        board
    }

    #[test]
    fn ties_break_by_age_then_id() {
        let mut b = vec![
            entry(3, 80, 10, None),
            entry(2, 80, 10, None),
            entry(1, 80, 5, None),
            entry(4, 90, 20, None),
        ];
        sort(&mut b);
        let ids: Vec<&str> = b.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["s004", "s001", "s002", "s003"]);
    }

    #[test]
    fn an_outranked_entry_leaves_and_a_paid_reward_shows() {
        let old = vec![entry(1, 90, 1, None), entry(2, 50, 2, None)];
        let new = vec![entry(3, 95, 3, None), entry(1, 90, 1, Some(400))];
        let change = diff(&old, &new);
        assert_eq!(change.removed, [SubmissionId::from("s002")]);
        assert_eq!(change.changed.len(), 2);
        let mut shown = old.clone();
        apply(&mut shown, &change);
        assert_eq!(shown, new);
        assert!(diff(&new, &new).is_empty());
    }

    fn arb_entries() -> impl Strategy<Value = Vec<EntryView>> {
        proptest::collection::vec((0_u32..5, 0_i64..4, proptest::option::of(0_i64..3)), 0..24)
            .prop_map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(i, (score, at, reward))| entry(i as u8, score, at, reward))
                    .collect()
            })
    }

    proptest! {
        /// Whatever happened between two announcements (entries scored,
        /// paid, removed, pushed off the bottom), a page that held the
        /// first board shows the second; a page that held any other board
        /// either shows the second too or sees that its digest differs.
        #[test]
        fn applying_the_change_gives_the_new_board_or_a_different_digest(
            first in arb_entries(),
            middle in arb_entries(),
            last in arb_entries(),
            limit in 1_usize..12,
        ) {
            let (old, seen, new) = (board(&first, limit), board(&middle, limit), board(&last, limit));
            let change = diff(&old, &new);
            let mut shown = old.clone();
            apply(&mut shown, &change);
            prop_assert_eq!(&shown, &new);
            prop_assert_eq!(digest(&shown), digest(&new));

            let mut late = seen.clone();
            apply(&mut late, &change);
            prop_assert!(late == new || digest(&late) != digest(&new));
        }
    }
}

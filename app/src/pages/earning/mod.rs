//! The pages of earning: work that pays: submitting, a work's page, a round's
//! competition, a member's page, the leaderboards and search. Public pages
//! render on the server (crawlable, with Open Graph tags) and update live
//! after hydration.

pub mod entries;
pub mod leaderboard;
pub mod member;
pub mod round;
pub mod search;
pub mod submission;
pub mod submit;

//! Times as the pages show them.

use time::macros::format_description;
use time::OffsetDateTime;

/// Unix seconds as `2026-11-22 15:31 UTC`; the same on the server and in the
/// browser, so hydration never sees two spellings.
pub fn utc_minutes(unix_secs: i64) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| unix_secs.to_string())
}

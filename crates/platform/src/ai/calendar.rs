//! UTC calendar arithmetic on unix seconds, for budget periods: where a day
//! and a month begin and end. Proleptic Gregorian, total over `i64` (the
//! extremes saturate), no time zones: budgets reset at UTC midnight.
//!
//! The day-count conversions are Howard Hinnant's `days_from_civil` and
//! `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).

const SECS_PER_DAY: i64 = 86_400;

/// Midnight UTC of the day holding `now`.
pub fn day_start(now: i64) -> i64 {
    now.div_euclid(SECS_PER_DAY).saturating_mul(SECS_PER_DAY)
}

/// Midnight UTC of the next day.
pub fn next_day_start(now: i64) -> i64 {
    day_start(now).saturating_add(SECS_PER_DAY)
}

/// Midnight UTC of the first of the month holding `now`.
pub fn month_start(now: i64) -> i64 {
    let (year, month, _) = civil_from_days(now.div_euclid(SECS_PER_DAY));
    days_from_civil(year, month, 1).saturating_mul(SECS_PER_DAY)
}

/// Midnight UTC of the first of the next month (December's is January's
/// of the next year).
pub fn next_month_start(now: i64) -> i64 {
    let (year, month, _) = civil_from_days(now.div_euclid(SECS_PER_DAY));
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    days_from_civil(year, month, 1).saturating_mul(SECS_PER_DAY)
}

/// `now` as `YYYY-MM-DDTHH:MM:SSZ`, for messages.
pub fn format_utc(now: i64) -> String {
    let (year, month, day) = civil_from_days(now.div_euclid(SECS_PER_DAY));
    let secs = now.rem_euclid(SECS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days from 1970-01-01 to `year`-`month`-`day` (month 1–12, day 1–31).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Years start in March, so the leap day is the last of its year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01: (year, month 1–12, day 1–31).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

#[cfg(test)]
mod tests {
    use time::{Date, Month, OffsetDateTime, Time};

    use super::*;

    fn at(year: i32, month: u8, day: u8, hms: (u8, u8, u8)) -> i64 {
        let date = Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap();
        let time = Time::from_hms(hms.0, hms.1, hms.2).unwrap();
        date.with_time(time).assume_utc().unix_timestamp()
    }

    fn midnight(year: i32, month: u8, day: u8) -> i64 {
        at(year, month, day, (0, 0, 0))
    }

    #[test]
    fn day_and_month_boundaries() {
        let t = at(2025, 3, 14, (15, 9, 26));
        assert_eq!(day_start(t), midnight(2025, 3, 14));
        assert_eq!(next_day_start(t), midnight(2025, 3, 15));
        assert_eq!(month_start(t), midnight(2025, 3, 1));
        assert_eq!(next_month_start(t), midnight(2025, 4, 1));
        // Midnight belongs to the day it starts; a second before, to the one
        // before.
        let m = midnight(2025, 3, 1);
        assert_eq!((day_start(m), month_start(m)), (m, m));
        assert_eq!(day_start(m - 1), midnight(2025, 2, 28));
        assert_eq!(month_start(m - 1), midnight(2025, 2, 1));
        assert_eq!(next_month_start(m - 1), m);
    }

    #[test]
    fn december_rolls_into_the_next_year() {
        let t = at(2024, 12, 31, (23, 59, 59));
        assert_eq!(month_start(t), midnight(2024, 12, 1));
        assert_eq!(next_month_start(t), midnight(2025, 1, 1));
        assert_eq!(next_day_start(t), midnight(2025, 1, 1));
        assert_eq!(month_start(t + 1), midnight(2025, 1, 1));
    }

    #[test]
    fn leap_february() {
        // 2024 (divisible by 4), 2000 (by 400) leap; 2100 (by 100) not.
        for (year, last) in [(2024, 29), (2000, 29), (2100, 28), (2023, 28)] {
            let t = at(year, 2, last, (12, 0, 0));
            assert_eq!(month_start(t), midnight(year, 2, 1), "{year}");
            assert_eq!(next_month_start(t), midnight(year, 3, 1), "{year}");
            assert_eq!(next_day_start(t), midnight(year, 3, 1), "{year}");
        }
    }

    #[test]
    fn before_the_epoch() {
        let t = at(1969, 12, 31, (23, 0, 0));
        assert_eq!(t, -3_600);
        assert_eq!(day_start(t), midnight(1969, 12, 31));
        assert_eq!(month_start(t), midnight(1969, 12, 1));
        assert_eq!(next_month_start(t), 0);
    }

    /// Against the `time` crate, a day and a bit at a time over four
    /// centuries (every kind of year and month end).
    #[test]
    fn agrees_with_the_time_crate() {
        let mut t = midnight(1900, 1, 1) + 1_234;
        let end = midnight(2300, 1, 1);
        while t < end {
            let dt = OffsetDateTime::from_unix_timestamp(t).unwrap();
            let date = dt.date();
            let first = date.replace_day(1).unwrap();
            let next = match date.month() {
                Month::December => Date::from_calendar_date(date.year() + 1, Month::January, 1),
                month => Date::from_calendar_date(date.year(), month.next(), 1),
            }
            .unwrap();
            let unix = |d: Date| d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp();
            assert_eq!(day_start(t), unix(date), "{dt}");
            assert_eq!(month_start(t), unix(first), "{dt}");
            assert_eq!(next_month_start(t), unix(next), "{dt}");
            t += 86_400 + 3_607;
        }
    }

    #[test]
    fn formats_as_rfc3339_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_utc(at(2024, 2, 29, (7, 5, 9))),
            "2024-02-29T07:05:09Z"
        );
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn extremes_do_not_panic() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            let _ = (
                day_start(t),
                next_day_start(t),
                month_start(t),
                next_month_start(t),
            );
        }
    }
}

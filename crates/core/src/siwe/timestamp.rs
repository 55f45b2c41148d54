//! RFC 3339 timestamps that remember how they were written.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::SiweError;

/// A SIWE timestamp: the instant, and the exact RFC 3339 text it came from.
///
/// The text is kept because the signature covers it byte for byte, and
/// wallets write the same instant in different ways (`…00.000Z` from
/// JavaScript's `toISOString`, `…00Z`, `…+02:00`). Comparing two `SiweTime`s
/// compares their text; compare [`SiweTime::datetime`]s to compare instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweTime {
    at: OffsetDateTime,
    text: String,
}

impl SiweTime {
    /// Parses an RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    ///
    /// `T` and `Z` may be lowercase, as RFC 3339 allows; a space or any other
    /// separator is refused (the `time` crate alone would accept it).
    pub fn parse(text: &str) -> Result<Self, SiweError> {
        const BAD: SiweError = SiweError::Malformed {
            line: None,
            reason: "timestamps must be RFC 3339, e.g. 2021-09-30T16:25:24Z",
        };
        if !matches!(text.as_bytes().get(10), Some(b'T' | b't')) {
            return Err(BAD);
        }
        let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| BAD)?;
        Ok(Self {
            at,
            text: text.to_owned(),
        })
    }

    /// Writes `at` in UTC as RFC 3339 (`2024-05-01T12:00:00.5Z`), keeping
    /// its sub-second digits. Fails outside the years 0000–9999, which
    /// RFC 3339 cannot express.
    pub fn from_datetime(at: OffsetDateTime) -> Result<Self, SiweError> {
        const OUT_OF_RANGE: SiweError = SiweError::Malformed {
            line: None,
            reason: "timestamps must fall within the years 0000 to 9999",
        };
        let at = at.checked_to_offset(UtcOffset::UTC).ok_or(OUT_OF_RANGE)?;
        let text = at.format(&Rfc3339).map_err(|_| OUT_OF_RANGE)?;
        Ok(Self { at, text })
    }

    /// [`SiweTime::from_datetime`] of a Unix time in milliseconds, the unit
    /// of JavaScript's `Date.now()`.
    pub fn from_unix_millis(millis: i64) -> Result<Self, SiweError> {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .map_err(|_| SiweError::Malformed {
                line: None,
                reason: "timestamps must fall within the years 0000 to 9999",
            })?;
        Self::from_datetime(at)
    }

    /// The instant.
    pub fn datetime(&self) -> OffsetDateTime {
        self.at
    }

    /// The RFC 3339 text, exactly as it appears in the message.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for SiweTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn keeps_the_text_it_was_given() {
        for text in [
            "2023-02-01T00:00:00.000Z",
            "2023-02-01T00:00:00Z",
            "2023-02-01t00:00:00z",
            "2023-02-01T01:00:00+01:00",
            "2023-02-01T00:00:00.123456789Z",
        ] {
            let t = SiweTime::parse(text).unwrap();
            assert_eq!(t.as_str(), text);
            assert_eq!(t.to_string(), text);
        }
        let a = SiweTime::parse("2023-02-01T00:00:00.000Z").unwrap();
        let b = SiweTime::parse("2023-02-01T01:00:00+01:00").unwrap();
        assert_eq!(a.datetime(), b.datetime());
        assert_ne!(a, b, "same instant, different signed text");
    }

    #[test]
    fn refuses_what_rfc3339_does_not_allow() {
        for text in [
            "",
            "2023-02-01",
            "2023-02-01 00:00:00Z",
            "2023-02-01X00:00:00Z",
            "2023-02-01T00:00:00",
            "2023-02-01T00:00Z",
            "2023-02-01T00:00:00.Z",
            "2023-02-01T00:00:00+0100",
            "2023-02-01T00:00:00+24:00",
            "2023-02-30T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-02-01T24:00:00Z",
            "+2023-02-01T00:00:00Z",
            "23-02-01T00:00:00Z",
            "2023-02-01T00:00:00Z ",
            "2023-02-01T00:00:00Z\r",
            "2023-02-01T00:00:00Zé",
            "2023-02-01é00:00:00Z",
            "1675209600",
        ] {
            assert!(SiweTime::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn writes_utc_rfc3339() {
        let t = SiweTime::from_datetime(datetime!(2023-02-01 01:00:00.5 +01:00)).unwrap();
        assert_eq!(t.as_str(), "2023-02-01T00:00:00.5Z");
        assert_eq!(SiweTime::parse(t.as_str()), Ok(t));

        let t = SiweTime::from_unix_millis(1_675_209_600_000).unwrap();
        assert_eq!(t.as_str(), "2023-02-01T00:00:00Z");
        assert_eq!(t.datetime(), datetime!(2023-02-01 00:00 UTC));
    }

    #[test]
    fn refuses_years_rfc3339_cannot_write() {
        // 9999-12-31 23:00 at -05:00 is already year 10000 in UTC.
        assert!(SiweTime::from_datetime(datetime!(9999-12-31 23:00 -05:00)).is_err());
        assert!(SiweTime::from_datetime(datetime!(-0001-01-01 00:00 UTC)).is_err());
        assert!(SiweTime::from_unix_millis(i64::MAX).is_err());
        assert!(SiweTime::from_unix_millis(i64::MIN).is_err());
    }
}

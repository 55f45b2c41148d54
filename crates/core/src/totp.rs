//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, 30-second steps,
//! 6 digits — what every authenticator app speaks.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;

use crate::encoding::percent_encode;

/// Shown once, to put the secret into an authenticator app.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSetup {
    /// Base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
    /// When the factor is enabled at once (an admin made on the command
    /// line): its recovery codes, shown once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_codes: Vec<String>,
}

/// One-time codes that stand in for an authenticator code when the
/// device is lost; shown once, stored only as digests.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    /// `XXXX-XXXX-XXXX-XXXX`, each usable once.
    pub codes: Vec<String>,
}

/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// Bytes of randomness per recovery code: 80 bits, 16 base32 characters.
pub const RECOVERY_CODE_BYTES: usize = 10;

/// A recovery code as written for people: base32 in groups of four.
pub fn format_recovery_code(bytes: &[u8; RECOVERY_CODE_BYTES]) -> String {
    let plain = base32(bytes);
    plain
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
        .collect::<Vec<_>>()
        .join("-")
}

/// What a typed recovery code means: its 16 base32 characters (case,
/// spaces and dashes ignored), or `None` if it is not shaped like one —
/// a six-digit authenticator code is not.
pub fn parse_recovery_code(text: &str) -> Option<String> {
    let plain: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let shaped = plain.len() == RECOVERY_CODE_BYTES * 8 / 5
        && plain
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    shaped.then_some(plain)
}

pub const STEP_SECS: u64 = 30;
pub const DIGITS: u32 = 6;
/// Codes from one step before or after are accepted: phone clocks drift and
/// people type slowly.
pub const WINDOW: u64 = 1;
/// 160-bit secrets, as RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;

/// The RFC 4226 HOTP value for `counter`.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10_u32.pow(DIGITS)
}

/// The time step `unix_secs` falls in.
pub fn step(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// The step whose code `code` is, within the window around `unix_secs`,
/// later than `after_step` (so a code is never accepted twice). Non-digit or
/// wrong-length input matches nothing.
pub fn verify(secret: &[u8], code: &str, unix_secs: u64, after_step: Option<u64>) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = code.parse().ok()?;
    let now = step(unix_secs);
    (now.saturating_sub(WINDOW)..=now.saturating_add(WINDOW))
        .filter(|s| after_step.is_none_or(|used| *s > used))
        .find(|s| hotp(secret, *s) == value)
}

/// Formats a code with leading zeros.
pub fn format_code(value: u32) -> String {
    format!("{value:0width$}", width = DIGITS as usize)
}

/// RFC 4648 base32 without padding, as authenticator apps expect secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0_u32, 0_u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI an authenticator app scans as a QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = format!("{}:{}", percent_encode(issuer), percent_encode(account));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        base32(secret),
        percent_encode(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_read_back_however_they_are_typed() {
        let code = format_recovery_code(&[0xA5; RECOVERY_CODE_BYTES]);
        assert_eq!(code.len(), 19);
        assert_eq!(code.matches('-').count(), 3);
        let plain = parse_recovery_code(&code).unwrap();
        assert_eq!(
            parse_recovery_code(&code.to_lowercase()),
            Some(plain.clone())
        );
        assert_eq!(parse_recovery_code(&code.replace('-', " ")), Some(plain));
        for not_one in ["123456", "", "ABCD-EFGH-IJKL-MNO1", "ABCD-EFGH-IJKL-MNOPQ"] {
            assert_eq!(parse_recovery_code(not_one), None, "{not_one}");
        }
    }

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_4226_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, value) in expected.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64), value);
        }
    }

    #[test]
    fn rfc_6238_sha1_vectors_truncated_to_six_digits() {
        // RFC 6238 appendix B lists 8-digit codes; the last 6 digits are ours.
        for (time, eight_digits) in [
            (59_u64, 94287082_u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
        ] {
            assert_eq!(
                hotp(RFC_SECRET, step(time)),
                eight_digits % 1_000_000,
                "{time}"
            );
        }
    }

    #[test]
    fn verification_allows_one_step_of_drift_and_no_replay() {
        let now = 1_234_567_890;
        let code = format_code(hotp(RFC_SECRET, step(now)));
        assert_eq!(verify(RFC_SECRET, &code, now, None), Some(step(now)));
        assert_eq!(verify(RFC_SECRET, &code, now + 30, None), Some(step(now)));
        assert_eq!(verify(RFC_SECRET, &code, now + 90, None), None);
        assert_eq!(
            verify(RFC_SECRET, &code, now, Some(step(now))),
            None,
            "used once"
        );
        for bad in ["", "12345", "1234567", "abcdef", "12 345"] {
            assert_eq!(verify(RFC_SECRET, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
    }

    #[test]
    fn otpauth_uris_escape_the_label() {
        let uri = otpauth_uri("Meritree", "ann lee@example.org", b"12345");
        assert_eq!(
            uri,
            "otpauth://totp/Meritree:ann%20lee%40example.org?secret=GEZDGNBV&issuer=Meritree&algorithm=SHA1&digits=6&period=30"
        );
    }
}

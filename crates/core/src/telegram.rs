//! Telegram Mini Apps: the launch data (`initData`) Telegram hands the app,
//! checked exactly as Telegram specifies — a query string whose `hash` is
//! HMAC-SHA256 of its other fields (sorted, `key=value`, one per line)
//! under the key HMAC-SHA256("WebAppData", bot token).
//!
//! I/O-free: the server checks with its bot token and the clock; tests
//! sign with a test bot's token.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::encoding::{form_decode, percent_encode};

/// How long after Telegram issued it launch data can sign in. Long enough
/// for a slow phone to load the app, short enough that a copy found later
/// (a log, a screenshot of the URL) is useless.
pub const MAX_AGE_SECS: i64 = 60 * 60;
/// Telegram's clock and ours may disagree a little.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Longer launch data is refused before any work is done on it.
pub const MAX_LEN: usize = 8 * 1024;

/// A Telegram user id (Telegram's numbers fit in 52 bits; never negative
/// for users).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelegramId(i64);

impl TelegramId {
    pub fn parse(id: i64) -> Option<Self> {
        (id > 0).then_some(Self(id))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// The Telegram user who opened the Mini App, as Telegram vouches for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelegramUser {
    pub id: TelegramId,
    pub first_name: String,
    pub username: Option<String>,
}

/// Launch data that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedInitData {
    pub user: TelegramUser,
    /// Unix seconds, when Telegram issued it.
    pub auth_date: i64,
    /// Its `hash` (64 lower-case hex digits): unique per launch, the key
    /// of the replay window.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TelegramError {
    Malformed(&'static str),
    InvalidHash,
    Expired,
}

impl fmt::Display for TelegramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TelegramError::Malformed(what) => {
                write!(f, "the Telegram launch data is malformed: {what}")
            }
            TelegramError::InvalidHash => {
                f.write_str("the Telegram launch data is not signed for this bot")
            }
            TelegramError::Expired => {
                f.write_str("the Telegram launch data expired; open the app from Telegram again")
            }
        }
    }
}

impl std::error::Error for TelegramError {}

/// The wire form of `user`: Telegram adds fields over time; only these
/// are read.
#[derive(Deserialize)]
struct UserField {
    id: i64,
    first_name: String,
    #[serde(default)]
    username: Option<String>,
}

/// Checks `init_data` against the bot's token at `now` (Unix seconds).
pub fn verify_init_data(
    init_data: &str,
    bot_token: &str,
    now: i64,
) -> Result<VerifiedInitData, TelegramError> {
    if init_data.len() > MAX_LEN {
        return Err(TelegramError::Malformed("longer than 8 KiB"));
    }
    let mut fields = parse_fields(init_data)?;
    let hash = fields
        .remove("hash")
        .ok_or(TelegramError::Malformed("no hash"))?;
    // Exactly 64 digits (no `0x`): the replay window keys on the digits,
    // so one hash must have one spelling.
    let given = Some(&hash)
        .filter(|hash| hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|hash| alloy_primitives::hex::decode(hash).ok())
        .ok_or(TelegramError::Malformed("the hash is not 64 hex digits"))?;
    mac(bot_token, &fields)
        .verify_slice(&given)
        .map_err(|_| TelegramError::InvalidHash)?;
    let auth_date: i64 = fields
        .get("auth_date")
        .and_then(|date| date.parse().ok())
        .ok_or(TelegramError::Malformed("no auth_date"))?;
    if now - auth_date > MAX_AGE_SECS || auth_date - now > CLOCK_SKEW_SECS {
        return Err(TelegramError::Expired);
    }
    let user: UserField = fields
        .get("user")
        .and_then(|user| serde_json::from_str(user).ok())
        .ok_or(TelegramError::Malformed("no user"))?;
    Ok(VerifiedInitData {
        user: TelegramUser {
            id: TelegramId::parse(user.id).ok_or(TelegramError::Malformed("a bad user id"))?,
            first_name: user.first_name,
            username: user.username,
        },
        auth_date,
        hash: alloy_primitives::hex::encode(given),
    })
}

/// Signs `fields` as Telegram does, returning the query string with its
/// `hash`: what a test bot hands its Mini App.
pub fn sign_init_data(fields: &[(&str, &str)], bot_token: &str) -> String {
    let fields: BTreeMap<String, String> = fields
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    let hash = alloy_primitives::hex::encode(mac(bot_token, &fields).finalize().into_bytes());
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
        .chain(std::iter::once(format!("hash={hash}")))
        .collect::<Vec<_>>()
        .join("&")
}

fn parse_fields(init_data: &str) -> Result<BTreeMap<String, String>, TelegramError> {
    let mut fields = BTreeMap::new();
    for pair in init_data.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(key).ok_or(TelegramError::Malformed("a bad escape"))?;
        let value = form_decode(value).ok_or(TelegramError::Malformed("a bad escape"))?;
        if fields.insert(key, value).is_some() {
            return Err(TelegramError::Malformed("a field appears twice"));
        }
    }
    Ok(fields)
}

/// HMAC-SHA256 of the data-check string (every field but `hash`, sorted by
/// key, `key=value` joined by line feeds) under the bot's Mini App key.
fn mac(bot_token: &str, fields: &BTreeMap<String, String>) -> Hmac<Sha256> {
    let mut derive =
        Hmac::<Sha256>::new_from_slice(b"WebAppData").expect("HMAC takes keys of any length");
    derive.update(bot_token.as_bytes());
    let secret = derive.finalize().into_bytes();
    let check_string = fields
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes keys of any length");
    mac.update(check_string.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:TEST-bot-token";
    const NOW: i64 = 1_780_000_000;
    const USER: &str = r#"{"id":4242,"first_name":"Ann","username":"ann","language_code":"en"}"#;

    fn signed(auth_date: i64) -> String {
        sign_init_data(
            &[
                ("auth_date", &auth_date.to_string()),
                ("query_id", "AAH1"),
                ("user", USER),
            ],
            TOKEN,
        )
    }

    #[test]
    fn accepts_data_signed_for_the_bot() {
        let verified = verify_init_data(&signed(NOW - 5), TOKEN, NOW).unwrap();
        assert_eq!(verified.user.id.get(), 4242);
        assert_eq!(verified.user.first_name, "Ann");
        assert_eq!(verified.user.username.as_deref(), Some("ann"));
        assert_eq!(verified.auth_date, NOW - 5);
        assert_eq!(verified.hash.len(), 64);
    }

    /// Computed independently (Python's hmac) for these exact fields, so a
    /// mistake shared by signing and checking cannot pass.
    #[test]
    fn matches_telegrams_algorithm() {
        let fields = [
            ("auth_date", "1780000000"),
            ("query_id", "AAH1"),
            ("user", r#"{"id":4242}"#),
        ];
        let signed = sign_init_data(&fields, TOKEN);
        assert!(
            signed.ends_with(
                "&hash=0624a119d8f47b9dc76457f87c52c738f563ce13a0f8756e64d7cadede584e07"
            ),
            "{signed}"
        );
        assert!(verify_init_data(&signed, TOKEN, 1_780_000_000)
            .is_err_and(|e| e == TelegramError::Malformed("no user")));
    }

    #[test]
    fn refuses_tampering_another_bot_and_staleness() {
        let good = signed(NOW);
        let tampered = good.replace("AAH1", "AAH2");
        assert_eq!(
            verify_init_data(&tampered, TOKEN, NOW),
            Err(TelegramError::InvalidHash)
        );
        assert_eq!(
            verify_init_data(&good, "654321:another-bot", NOW),
            Err(TelegramError::InvalidHash)
        );
        assert_eq!(
            verify_init_data(&signed(NOW - MAX_AGE_SECS - 1), TOKEN, NOW),
            Err(TelegramError::Expired)
        );
        assert_eq!(
            verify_init_data(&signed(NOW + CLOCK_SKEW_SECS + 1), TOKEN, NOW),
            Err(TelegramError::Expired)
        );
        assert!(verify_init_data(&signed(NOW - MAX_AGE_SECS), TOKEN, NOW).is_ok());
    }

    #[test]
    fn refuses_malformed_data() {
        for data in [
            "",
            "auth_date=1&user=%7B%7D",
            "hash=zz",
            "auth_date=1&hash=0x0624a119d8f47b9dc76457f87c52c738f563ce13a0f8756e64d7cadede584e07",
            "a=1&a=2&hash=00",
            "a=%G1",
        ] {
            assert!(
                matches!(
                    verify_init_data(data, TOKEN, NOW),
                    Err(TelegramError::Malformed(_))
                ),
                "{data}"
            );
        }
        let no_user = sign_init_data(&[("auth_date", &NOW.to_string())], TOKEN);
        assert_eq!(
            verify_init_data(&no_user, TOKEN, NOW),
            Err(TelegramError::Malformed("no user"))
        );
        let bad_id = sign_init_data(
            &[
                ("auth_date", &NOW.to_string()),
                ("user", r#"{"id":-5,"first_name":"x"}"#),
            ],
            TOKEN,
        );
        assert_eq!(
            verify_init_data(&bad_id, TOKEN, NOW),
            Err(TelegramError::Malformed("a bad user id"))
        );
        let long = "a".repeat(MAX_LEN + 1);
        assert!(verify_init_data(&long, TOKEN, NOW).is_err());
    }
}

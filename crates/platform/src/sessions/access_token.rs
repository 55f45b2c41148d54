//! Access tokens: JWTs (RFC 7519) signed with HMAC-SHA256, and nothing else.
//!
//! The verifier accepts exactly one header algorithm, `HS256`: `none`, RSA or
//! any other `alg` is rejected before the signature is looked at, so the
//! algorithm-confusion attacks on generic JWT libraries do not apply. See
//! docs/decisions/0004-sessions.md for why this is not a JWT library.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use meritree_core::accounts::Role;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The claims Meritree puts in an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The account id.
    pub sub: String,
    pub role: Role,
    /// The session (refresh-token family) the token was issued for.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token, so two tokens issued in the same second differ.
    pub jti: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
}

/// `{"alg":"HS256","typ":"JWT"}`, base64url.
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#[derive(Clone)]
pub struct AccessTokenKey {
    mac: Hmac<Sha256>,
}

impl AccessTokenKey {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    pub fn sign(&self, claims: &AccessClaims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims serialise");
        let signing_input = format!("{HEADER}.{}", URL_SAFE_NO_PAD.encode(payload));
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Checks the algorithm, the signature (in constant time) and expiry.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed)?;
        let header_fields: Header<'_> =
            serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
        if header_fields.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;

        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: "acct".into(),
            role: Role::Member,
            sid: "family".into(),
            iat: 1_000,
            exp,
            jti: "j".into(),
        }
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn signed_tokens_verify_until_they_expire() {
        let key = AccessTokenKey::new(b"k");
        let token = key.sign(&claims(2_000));
        assert_eq!(key.verify(&token, 1_999), Ok(claims(2_000)));
        assert_eq!(key.verify(&token, 2_000), Err(TokenError::Expired));
    }

    #[test]
    fn the_header_is_the_standard_hs256_header() {
        let json = URL_SAFE_NO_PAD.decode(HEADER).unwrap();
        assert_eq!(json, br#"{"alg":"HS256","typ":"JWT"}"#);
    }

    #[test]
    fn another_key_or_a_tampered_payload_fails() {
        let token = AccessTokenKey::new(b"k").sign(&claims(2_000));
        assert_eq!(
            AccessTokenKey::new(b"other").verify(&token, 0),
            Err(TokenError::BadSignature)
        );
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut admin = claims(2_000);
        admin.role = Role::Admin;
        parts[1] = b64(&serde_json::to_vec(&admin).unwrap());
        assert_eq!(
            AccessTokenKey::new(b"k").verify(&parts.join("."), 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let key = AccessTokenKey::new(b"k");
        let payload = b64(&serde_json::to_vec(&claims(2_000)).unwrap());
        for header in [
            br#"{"alg":"none","typ":"JWT"}"#.as_slice(),
            br#"{"alg":"None"}"#,
            br#"{"alg":"HS512","typ":"JWT"}"#,
            br#"{"alg":"RS256","typ":"JWT"}"#,
        ] {
            for signature in ["", "AAAA"] {
                let token = format!("{}.{payload}.{signature}", b64(header));
                assert_eq!(
                    key.verify(&token, 0),
                    Err(TokenError::UnsupportedAlgorithm),
                    "{}",
                    String::from_utf8_lossy(header)
                );
            }
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let key = AccessTokenKey::new(b"k");
        for token in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "%%%.%%%.%%%",
            &format!("{HEADER}.."),
        ] {
            assert!(key.verify(token, 0).is_err(), "{token:?}");
        }
    }
}

//! The two session cookies.
//!
//! `mt_access` (the JWT) goes to every path so pages render signed in;
//! `mt_refresh` only to `/api/v1/auth`, the one place that uses it. Both are
//! HttpOnly (scripts never see them), SameSite, and Secure when the platform
//! is served over HTTPS.

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

use super::SessionTokens;

pub const ACCESS: &str = "mt_access";
pub const REFRESH: &str = "mt_refresh";
const REFRESH_PATH: &str = "/api/v1/auth";

/// Whether cookies get the `Secure` attribute: yes when the platform's
/// public URL is HTTPS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// `Set-Cookie` headers that store a new session.
    pub fn session_headers(&self, tokens: &SessionTokens) -> HeaderMap {
        let access_age = (tokens.access_expires_at - tokens.issued_at).max(0);
        let refresh_age = (tokens.refresh_expires_at - tokens.issued_at).max(0);
        let mut headers = HeaderMap::new();
        let (access, refresh) = (&tokens.access_token, &tokens.refresh_token);
        self.append(&mut headers, ACCESS, access, "/", "Lax", access_age);
        self.append(
            &mut headers,
            REFRESH,
            refresh,
            REFRESH_PATH,
            "Strict",
            refresh_age,
        );
        headers
    }

    /// `Set-Cookie` headers that delete both cookies.
    pub fn cleared_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        self.append(&mut headers, ACCESS, "", "/", "Lax", 0);
        self.append(&mut headers, REFRESH, "", REFRESH_PATH, "Strict", 0);
        headers
    }

    fn append(
        &self,
        headers: &mut HeaderMap,
        name: &str,
        value: &str,
        path: &str,
        same_site: &str,
        max_age: i64,
    ) {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}");
        // Tokens are base64url and JWTs: always valid header characters.
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(SET_COOKIE, value);
        }
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies_from_one_or_many_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; mt_access=tok.en.x"));
        headers.append(COOKIE, HeaderValue::from_static("mt_refresh=r"));
        assert_eq!(get(&headers, ACCESS), Some("tok.en.x"));
        assert_eq!(get(&headers, REFRESH), Some("r"));
        assert_eq!(get(&headers, "missing"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_scoped() {
        let tokens = SessionTokens {
            issued_at: 1_000,
            access_token: "A".into(),
            access_expires_at: 1_900,
            refresh_token: "R".into(),
            refresh_expires_at: 2_000,
        };
        let headers = CookiePolicy { secure: true }.session_headers(&tokens);
        let set: Vec<_> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            set[0],
            "mt_access=A; Path=/; HttpOnly; SameSite=Lax; Max-Age=900; Secure"
        );
        assert_eq!(
            set[1],
            "mt_refresh=R; Path=/api/v1/auth; HttpOnly; SameSite=Strict; Max-Age=1000; Secure"
        );
    }
}

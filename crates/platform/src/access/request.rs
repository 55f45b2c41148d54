//! What the front door needs from an HTTP request, read the same way for
//! the JSON API and for server functions.

use std::net::{IpAddr, SocketAddr};

use http::header::{AUTHORIZATION, HOST, USER_AGENT};
use http::HeaderMap;

use crate::accounts::AuthError;
use crate::sessions::cookies;

/// The parts of a request the services look at.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    credential: Presented,
    /// The client's address; `None` when the transport gives none (an
    /// in-process test client), and then per-IP limits share one count.
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The `Host` the request names: only ever used to pick among this
    /// site's configured origins, never trusted as one.
    pub host: Option<String>,
}

#[derive(Debug, Clone, Default)]
enum Presented {
    #[default]
    Nothing,
    Bearer(String),
    Cookie(String),
    /// An `Authorization` header that is not a well-formed bearer
    /// credential: refused, and the cookie is not consulted instead.
    Malformed,
}

impl RequestContext {
    /// Reads a request's headers. `trusted_proxy_hops` reverse proxies in
    /// front of us append to `X-Forwarded-For`; 0 takes the TCP peer.
    pub fn from_headers(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        trusted_proxy_hops: usize,
    ) -> Self {
        let credential = match headers.get(AUTHORIZATION) {
            Some(value) => match value.to_str().ok().and_then(bearer_token) {
                Some(token) => Presented::Bearer(token.to_owned()),
                None => Presented::Malformed,
            },
            None => match cookies::get(headers, cookies::ACCESS) {
                Some(token) => Presented::Cookie(token.to_owned()),
                None => Presented::Nothing,
            },
        };
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            credential,
            client_ip: peer.map(|peer| client_ip(headers, peer, trusted_proxy_hops)),
            user_agent: text(USER_AGENT),
            host: text(HOST),
        }
    }

    /// The token to authenticate: `Ok(None)` when the request carries none.
    pub(crate) fn credential(&self) -> Result<Option<&str>, AuthError> {
        match &self.credential {
            Presented::Nothing => Ok(None),
            Presented::Bearer(token) | Presented::Cookie(token) => Ok(Some(token)),
            Presented::Malformed => Err(AuthError::Unauthenticated),
        }
    }

    /// Whether a well-formed bearer credential came with the request (such
    /// a request is not authenticated by cookies, so CSRF does not apply).
    pub fn has_bearer(&self) -> bool {
        matches!(self.credential, Presented::Bearer(_))
    }

    /// What per-IP limits count the request under: the address, or for
    /// IPv6 its /64, which one client usually holds whole.
    pub fn ip_key(&self) -> String {
        match self.client_ip {
            None => "unknown".to_owned(),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1:
/// the scheme is case-insensitive, one space, a token68), else `None`.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && token.trim_end_matches('=').chars().all(token68);
    well_formed.then_some(token)
}

/// The client's address: the peer, or with proxies in front the address
/// the outermost trusted proxy saw (`X-Forwarded-For`, counted from the
/// right, which a client cannot forge).
fn client_ip(headers: &HeaderMap, peer: SocketAddr, trusted_proxy_hops: usize) -> IpAddr {
    if trusted_proxy_hops == 0 {
        return peer.ip();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .nth(trusted_proxy_hops - 1)
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(peer.ip())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_a_well_formed_bearer_is_a_bearer() {
        assert_eq!(bearer_token("Bearer mt_abc123"), Some("mt_abc123"));
        assert_eq!(
            bearer_token("bearer a.b-c_d~e+f/g=="),
            Some("a.b-c_d~e+f/g==")
        );
        for bad in [
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer\ta",
            "Token x",
        ] {
            assert_eq!(bearer_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_malformed_authorization_header_never_falls_back_to_the_cookie() {
        let request = RequestContext::from_headers(
            &headers(&[
                ("authorization", "Basic dXNlcjpwYXNz"),
                ("cookie", "mt_access=t"),
            ]),
            None,
            0,
        );
        assert!(!request.has_bearer());
        assert!(matches!(
            request.credential(),
            Err(AuthError::Unauthenticated)
        ));
        let cookie_only =
            RequestContext::from_headers(&headers(&[("cookie", "mt_access=t")]), None, 0);
        assert_eq!(cookie_only.credential().unwrap(), Some("t"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let at = |ip: &str| RequestContext {
            client_ip: Some(ip.parse().unwrap()),
            ..RequestContext::default()
        };
        assert_eq!(
            at("2001:db8:1:2::1").ip_key(),
            at("2001:db8:1:2:ffff::9").ip_key()
        );
        assert_ne!(
            at("2001:db8:1:2::1").ip_key(),
            at("2001:db8:1:3::1").ip_key()
        );
        assert_eq!(at("203.0.113.7").ip_key(), "203.0.113.7");
    }

    #[test]
    fn client_ip_trusts_only_configured_proxies() {
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let forwarded = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9")]);
        assert_eq!(client_ip(&forwarded, peer, 0), peer.ip());
        assert_eq!(client_ip(&forwarded, peer, 1).to_string(), "203.0.113.9");
        assert_eq!(client_ip(&forwarded, peer, 2).to_string(), "6.6.6.6");
        assert_eq!(
            client_ip(&forwarded, peer, 3),
            peer.ip(),
            "too few hops: the peer"
        );
    }
}

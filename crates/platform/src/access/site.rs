//! Which site this is: the origins people reach the platform at. A
//! cookie-carrying write must come from one of them (CSRF), and a
//! Sign-In With Ethereum message must name one of them — taken from the
//! configuration, never from a request's `Host`, so a message a wallet
//! signed for another site cannot sign in here.

use std::net::SocketAddr;

/// `scheme://host[:port]`, lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    /// The origin of an http(s) URL; `None` if it is not one.
    pub fn of_url(url: &str) -> Option<Self> {
        let (scheme, rest) = url.trim().split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let valid_scheme =
            scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
        let valid_authority = !authority.is_empty()
            && !authority.contains('@')
            && authority
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
        (valid_scheme && valid_authority)
            .then(|| Self(format!("{scheme}://{authority}").to_ascii_lowercase()))
    }

    /// `scheme://host[:port]`: what a SIWE message's URI must start with.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `host[:port]`: what a SIWE message's domain must be.
    pub fn domain(&self) -> &str {
        self.0
            .split_once("://")
            .map_or("", |(_, authority)| authority)
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }
}

/// This site's origins: the primary one and configured aliases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    origins: Vec<Origin>,
}

impl Site {
    /// `primary` first; aliases after it, duplicates dropped.
    pub fn new(primary: Origin, aliases: impl IntoIterator<Item = Origin>) -> Self {
        let mut origins = vec![primary];
        for alias in aliases {
            if !origins.contains(&alias) {
                origins.push(alias);
            }
        }
        Self { origins }
    }

    /// With no public URL configured: the address the server listens on,
    /// over plain HTTP. A loopback or unspecified listen address is reached
    /// as both `127.0.0.1` (or `[::1]`) and `localhost`, which name this
    /// machine only.
    pub fn from_listen_addr(addr: SocketAddr) -> Self {
        let port = addr.port();
        let ip = addr.ip();
        let origin = |host: String| Origin(format!("http://{host}:{port}"));
        let literal = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        };
        if ip.is_loopback() || ip.is_unspecified() {
            let loopback = if ip.is_ipv6() { "[::1]" } else { "127.0.0.1" };
            Self::new(
                origin(loopback.to_owned()),
                [origin("localhost".to_owned())],
            )
        } else {
            Self::new(origin(literal(ip)), [])
        }
    }

    pub fn primary(&self) -> &Origin {
        &self.origins[0]
    }

    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }

    /// Whether an `Origin` (or `Referer`) header value is one of ours:
    /// scheme, host and port must all match.
    pub fn allows(&self, header_value: &str) -> bool {
        Origin::of_url(header_value).is_some_and(|origin| self.origins.contains(&origin))
    }

    /// The origin a request was made to: the one of ours whose domain its
    /// `Host` names, else the primary. Never an origin that is not ours.
    pub fn for_host(&self, host: Option<&str>) -> &Origin {
        host.map(|h| h.trim().to_ascii_lowercase())
            .and_then(|h| self.origins.iter().find(|o| o.domain() == h))
            .unwrap_or(self.primary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site::new(
            Origin::of_url("https://Meritree.example/app").unwrap(),
            [Origin::of_url("https://www.meritree.example").unwrap()],
        )
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let site = site();
        assert!(site.allows("https://meritree.example"));
        assert!(site.allows("https://www.meritree.example/page?x"));
        assert!(!site.allows("http://meritree.example"), "another scheme");
        assert!(
            !site.allows("https://meritree.example:8443"),
            "another port"
        );
        assert!(!site.allows("https://evil.example"));
        assert!(!site.allows("null"));
        assert!(Origin::of_url("https://user@evil.example").is_none());
    }

    #[test]
    fn a_foreign_host_never_becomes_the_site() {
        let site = site();
        assert_eq!(
            site.for_host(Some("evil.example")).domain(),
            "meritree.example"
        );
        assert_eq!(site.for_host(None).domain(), "meritree.example");
        assert_eq!(
            site.for_host(Some("WWW.meritree.example")).as_str(),
            "https://www.meritree.example"
        );
    }

    #[test]
    fn a_loopback_listener_is_reached_by_address_and_localhost() {
        let site = Site::from_listen_addr("127.0.0.1:3000".parse().unwrap());
        assert_eq!(site.primary().as_str(), "http://127.0.0.1:3000");
        assert!(site.allows("http://localhost:3000"));
        assert!(!site.allows("http://localhost:3001"));
        let public = Site::from_listen_addr("192.0.2.7:80".parse().unwrap());
        assert_eq!(public.origins().len(), 1);
        assert_eq!(public.primary().domain(), "192.0.2.7:80");
    }
}

//! Web Push subscriptions (RFC 8030, RFC 8291): what a browser's
//! `PushSubscription.toJSON()` hands the page, parsed into the parts the
//! server encrypts to. Shared so the page and the server refuse the same
//! subscriptions; whether the key is a point on P-256, and whether the push
//! service is one the server sends to, are the server's to say.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The longest endpoint kept: push services' are under 512 characters.
pub const MAX_ENDPOINT_LEN: usize = 1024;

/// A subscription as the browser serialises it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushSubscriptionJson {
    /// The push service's URL for this browser; whoever holds it can send.
    pub endpoint: String,
    /// When the push service drops the subscription (ms since the epoch);
    /// browsers send `null`. Not used: a dropped one answers 404 or 410.
    #[serde(default)]
    pub expiration_time: Option<f64>,
    pub keys: PushKeysJson,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushKeysJson {
    /// The browser's P-256 public key, uncompressed, base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

/// Forgets one subscription: the browser's endpoint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushEndpointJson {
    pub endpoint: String,
}

/// The key browsers check pushes against (`applicationServerKey`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushServerKey {
    /// The server's VAPID public key: an uncompressed P-256 point, base64url.
    pub public_key: String,
}

/// A push service's URL, parsed far enough to check where it points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEndpoint {
    url: String,
    secure: bool,
    host: String,
    /// The port when not the scheme's own (443, 80).
    port: Option<u16>,
    /// `scheme://host[:port]`: the audience of the server's VAPID token.
    origin: String,
}

impl PushEndpoint {
    pub fn parse(url: &str) -> Result<Self, PushSubscriptionError> {
        use PushSubscriptionError::Endpoint;
        if url.len() > MAX_ENDPOINT_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Endpoint);
        }
        let (secure, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(Endpoint);
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        // Credentials in the URL would be sent to the push service.
        if authority.is_empty() || authority.contains('@') || url.contains('#') {
            return Err(Endpoint);
        }
        let (host, port) = split_port(authority).ok_or(Endpoint)?;
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
        if !host_ok {
            return Err(Endpoint);
        }
        let host = host.to_ascii_lowercase();
        let scheme = if secure { "https" } else { "http" };
        // The scheme's own port is no port: the origin a browser names.
        let port = port.filter(|&p| p != if secure { 443 } else { 80 });
        let origin = match port {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Ok(Self {
            url: url.to_owned(),
            secure,
            host,
            port,
            origin,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    pub fn is_https(&self) -> bool {
        self.secure
    }

    /// The host, lowercase (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when not the scheme's own.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// `host[:port]` → host and the port's digits; `None` for a bad port.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port_colon = if authority.starts_with('[') {
        let close = authority.find(']')?;
        match &authority[close + 1..] {
            "" => None,
            rest if rest.starts_with(':') => Some(close + 1),
            _ => return None,
        }
    } else {
        authority.rfind(':')
    };
    match port_colon {
        None => Some((authority, None)),
        Some(at) => {
            let digits = &authority[at + 1..];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((&authority[..at], Some(digits.parse().ok()?)))
        }
    }
}

/// A subscription the server can encrypt to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub endpoint: PushEndpoint,
    /// The browser's public key: an uncompressed SEC1 point (0x04, x, y).
    pub p256dh: [u8; 65],
    pub auth: [u8; 16],
}

impl TryFrom<&PushSubscriptionJson> for PushSubscription {
    type Error = PushSubscriptionError;

    fn try_from(json: &PushSubscriptionJson) -> Result<Self, Self::Error> {
        let endpoint = PushEndpoint::parse(&json.endpoint)?;
        let p256dh: [u8; 65] = decode(&json.keys.p256dh)
            .and_then(|bytes| bytes.try_into().ok())
            .filter(|key: &[u8; 65]| key[0] == 0x04)
            .ok_or(PushSubscriptionError::PublicKey)?;
        let auth = decode(&json.keys.auth)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(PushSubscriptionError::AuthSecret)?;
        Ok(Self {
            endpoint,
            p256dh,
            auth,
        })
    }
}

/// base64url, padded or not (browsers omit the padding; some libraries add it).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushSubscriptionError {
    Endpoint,
    PublicKey,
    AuthSecret,
}

impl std::fmt::Display for PushSubscriptionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PushSubscriptionError::Endpoint => {
                "the push subscription's endpoint is not an http(s) URL of at most 1024 characters"
            }
            PushSubscriptionError::PublicKey => {
                "the push subscription's p256dh key is not an uncompressed P-256 point in base64url"
            }
            PushSubscriptionError::AuthSecret => {
                "the push subscription's auth secret is not 16 bytes in base64url"
            }
        })
    }
}

impl std::error::Error for PushSubscriptionError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(endpoint: &str, p256dh: &str, auth: &str) -> PushSubscriptionJson {
        PushSubscriptionJson {
            endpoint: endpoint.to_owned(),
            expiration_time: None,
            keys: PushKeysJson {
                p256dh: p256dh.to_owned(),
                auth: auth.to_owned(),
            },
        }
    }

    // RFC 8291 Appendix A's user agent.
    const P256DH: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

    #[test]
    fn a_browsers_subscription_parses() {
        let json: PushSubscriptionJson = serde_json::from_str(&format!(
            r#"{{"endpoint":"https://fcm.googleapis.com/fcm/send/abc:def","expirationTime":null,"keys":{{"p256dh":"{P256DH}","auth":"{AUTH}"}}}}"#
        ))
        .unwrap();
        let parsed = PushSubscription::try_from(&json).unwrap();
        assert_eq!(parsed.endpoint.host(), "fcm.googleapis.com");
        assert_eq!(parsed.endpoint.origin(), "https://fcm.googleapis.com");
        assert!(parsed.endpoint.is_https());
        assert_eq!(parsed.auth.len(), 16);
        // Padded base64url is the same key.
        let padded = subscription(
            "https://a.example/x",
            &format!("{P256DH}="),
            &format!("{AUTH}=="),
        );
        assert_eq!(
            PushSubscription::try_from(&padded).unwrap().p256dh,
            parsed.p256dh
        );
    }

    #[test]
    fn endpoints_keep_their_port_in_the_origin() {
        let endpoint = PushEndpoint::parse("http://127.0.0.1:8080/push/1").unwrap();
        assert_eq!(endpoint.origin(), "http://127.0.0.1:8080");
        assert_eq!(endpoint.host(), "127.0.0.1");
        assert!(!endpoint.is_https());
        let v6 = PushEndpoint::parse("https://[::1]:9/p").unwrap();
        assert_eq!(v6.host(), "[::1]");
        assert_eq!(v6.origin(), "https://[::1]:9");
        assert_eq!(
            PushEndpoint::parse("https://Push.Example").unwrap().host(),
            "push.example"
        );
    }

    #[test]
    fn what_no_browser_sends_is_refused() {
        for endpoint in [
            "",
            "ftp://push.example/x",
            "https://",
            "https:///x",
            "https://user:pw@push.example/x",
            "https://push.example:99999/x",
            "https://push.example:/x",
            "https://push example/x",
            "https://push.example/x#frag",
            "https://push_example/x",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                PushEndpoint::parse(endpoint),
                Err(PushSubscriptionError::Endpoint),
                "{endpoint}"
            );
        }
        let long = format!("https://push.example/{}", "a".repeat(MAX_ENDPOINT_LEN));
        assert!(PushEndpoint::parse(&long).is_err());

        let compressed = encode(&[2u8; 33]);
        let not_04 = encode(&[5u8; 65]);
        for key in ["", "!!", &compressed, &not_04] {
            let json = subscription("https://push.example/x", key, AUTH);
            assert_eq!(
                PushSubscription::try_from(&json),
                Err(PushSubscriptionError::PublicKey)
            );
        }
        for auth in ["", "AAAA", &encode(&[1u8; 17])] {
            let json = subscription("https://push.example/x", P256DH, auth);
            assert_eq!(
                PushSubscription::try_from(&json),
                Err(PushSubscriptionError::AuthSecret)
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = format!(
            r#"{{"endpoint":"https://a.example/x","keys":{{"p256dh":"{P256DH}","auth":"{AUTH}","extra":1}}}}"#
        );
        assert!(serde_json::from_str::<PushSubscriptionJson>(&json).is_err());
    }
}

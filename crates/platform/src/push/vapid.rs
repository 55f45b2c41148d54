//! The server's identity towards push services (VAPID, RFC 8292): a P-256
//! key made on the first start, whose public half browsers subscribe with,
//! and a short-lived ES256 token signed with it on every message.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

/// How long a token is good for; RFC 8292 allows at most 24 hours.
pub const TOKEN_LIFETIME_SECS: i64 = 12 * 3600;

#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    public: [u8; 65],
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VapidKey({})", self.public_key())
    }
}

impl VapidKey {
    /// The key kept as its 32-byte scalar; `None` if it is not one.
    pub fn from_bytes(secret: &[u8]) -> Option<Self> {
        // `from_slice` would take a shorter slice, zero-extended.
        if secret.len() != 32 {
            return None;
        }
        let signing = SigningKey::from_slice(secret).ok()?;
        let public = signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .try_into()
            .ok()?;
        Some(Self { signing, public })
    }

    /// A new key's 32 bytes, to keep.
    pub fn generate() -> Vec<u8> {
        crate::secret::random_p256_key().to_bytes().to_vec()
    }

    /// The public key as browsers take it (`applicationServerKey`).
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    /// The `Authorization` header for a message to a push service at
    /// `audience` (its origin), identifying the operator by `subject` (a
    /// `mailto:` or `https:` URL).
    pub fn authorization(&self, audience: &str, subject: &str, now: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience,
            "exp": now + TOKEN_LIFETIME_SECS,
            "sub": subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        // JWS ES256 is the raw r ‖ s, not DER.
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!(
            "vapid t={signing_input}.{signature}, k={}",
            self.public_key()
        )
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    use super::*;

    #[test]
    fn the_token_verifies_under_the_published_key() {
        let key = VapidKey::from_bytes(&VapidKey::generate()).unwrap();
        let header = key.authorization("https://push.example", "https://meritree.example", 1_000);
        let rest = header.strip_prefix("vapid t=").unwrap();
        let (token, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, key.public_key());
        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let (_, claims) = signing_input.split_once('.').unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example");
        assert_eq!(claims["exp"], 1_000 + TOKEN_LIFETIME_SECS);
        assert_eq!(claims["sub"], "https://meritree.example");
        let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        verifying
            .verify(signing_input.as_bytes(), &signature)
            .unwrap();
    }

    #[test]
    fn only_a_scalar_is_a_key() {
        assert!(VapidKey::from_bytes(&[0u8; 32]).is_none());
        assert!(VapidKey::from_bytes(&[1u8; 31]).is_none());
        let bytes = VapidKey::generate();
        assert_eq!(
            VapidKey::from_bytes(&bytes).unwrap().public_key(),
            VapidKey::from_bytes(&bytes).unwrap().public_key()
        );
    }
}

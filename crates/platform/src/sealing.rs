//! Secrets the database keeps only sealed: the access-token signing key
//! and every account's TOTP secret are encrypted (AES-256-GCM) under a key
//! that lives outside the database — an environment variable or a file —
//! so a dump of the database alone cannot forge a session or a second
//! factor. Each value is bound to what it is (its context: the secret's
//! name, the account), so sealed values cannot be swapped between rows.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::secret::random_bytes;

/// Marks a sealed value (and its format) at the start of the stored bytes.
const MAGIC: &[u8; 4] = b"mts1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The key secrets are sealed with. Cheap to clone.
#[derive(Clone)]
pub struct SealingKey(std::sync::Arc<Aes256Gcm>);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

/// Why a stored value did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a secrets key is 64 hexadecimal characters (32 bytes)")]
    InvalidKey,
    #[error("the secrets key does not open {0}: another key sealed it, or it was altered")]
    WrongKey(String),
}

/// What a stored value held.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    Sealed(Vec<u8>),
    /// Stored before sealing existed: to be sealed now.
    Plain(Vec<u8>),
}

impl Opened {
    pub fn into_inner(self) -> Vec<u8> {
        match self {
            Opened::Sealed(bytes) | Opened::Plain(bytes) => bytes,
        }
    }
}

impl SealingKey {
    pub fn new(key: [u8; 32]) -> Self {
        Self(std::sync::Arc::new(Aes256Gcm::new(&key.into())))
    }

    /// A new random key, as 64 hexadecimal characters to store.
    pub fn generate_hex() -> String {
        random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// A key written as 64 hexadecimal characters (surrounding space ignored).
    pub fn parse_hex(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        if text.len() != 64 || !text.is_ascii() {
            return Err(SealError::InvalidKey);
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| SealError::InvalidKey)?;
        }
        Ok(Self::new(key))
    }

    /// A new random key.
    pub fn ephemeral() -> Self {
        Self::new(random_bytes::<32>())
    }

    /// One random key for the whole process, made at first use: what a
    /// platform not given a key uses (tests, which start several platforms
    /// on one database), so secrets it seals never outlive the process.
    pub fn process_wide() -> Self {
        static KEY: std::sync::OnceLock<SealingKey> = std::sync::OnceLock::new();
        KEY.get_or_init(Self::ephemeral).clone()
    }

    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM seals any message under 64 GiB");
        [MAGIC.as_slice(), &nonce, &sealed].concat()
    }

    /// Opens what `seal` made for `context`; a value stored before sealing
    /// existed comes back as [`Opened::Plain`].
    pub fn open(&self, context: &str, stored: &[u8]) -> Result<Opened, SealError> {
        if !is_sealed(stored) {
            return Ok(Opened::Plain(stored.to_vec()));
        }
        let (nonce, sealed) = stored[MAGIC.len()..].split_at(NONCE_LEN);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map(Opened::Sealed)
            .map_err(|_| SealError::WrongKey(context.to_owned()))
    }
}

/// Whether `stored` is a sealed value (rather than a plain one from before).
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.len() >= MAGIC.len() + NONCE_LEN + TAG_LEN && stored.starts_with(MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_its_context() {
        let key = SealingKey::ephemeral();
        let sealed = key.seal("totp:a", b"twenty bytes secret!");
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(20).any(|w| w == b"twenty bytes secret!"));
        assert_eq!(
            key.open("totp:a", &sealed),
            Ok(Opened::Sealed(b"twenty bytes secret!".to_vec()))
        );
        assert!(
            matches!(key.open("totp:b", &sealed), Err(SealError::WrongKey(_))),
            "bound to its row"
        );
        assert!(matches!(
            SealingKey::ephemeral().open("totp:a", &sealed),
            Err(SealError::WrongKey(_))
        ));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open("totp:a", &altered).is_err());
        // Sealed twice, stored differently (a fresh nonce each time).
        assert_ne!(key.seal("totp:a", b"x"), key.seal("totp:a", b"x"));
    }

    #[test]
    fn values_from_before_sealing_open_as_plain() {
        let key = SealingKey::ephemeral();
        assert_eq!(
            key.open("totp:a", b"old secret"),
            Ok(Opened::Plain(b"old secret".to_vec()))
        );
    }

    #[test]
    fn keys_are_read_from_hex() {
        let hex = SealingKey::generate_hex();
        assert_eq!(hex.len(), 64);
        let key = SealingKey::parse_hex(&format!(" {hex}\n")).unwrap();
        let again = SealingKey::parse_hex(&hex).unwrap();
        assert_eq!(
            again.open("c", &key.seal("c", b"v")).unwrap().into_inner(),
            b"v"
        );
        for bad in ["", "zz", &hex[..62], &format!("{}g", &hex[..63])] {
            assert_eq!(
                SealingKey::parse_hex(bad).unwrap_err(),
                SealError::InvalidKey
            );
        }
    }
}

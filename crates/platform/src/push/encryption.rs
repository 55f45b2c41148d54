//! Message encryption for Web Push (RFC 8291, `aes128gcm` of RFC 8188):
//! only the browser that subscribed can read what the push service carries.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The one record's size: the RFC's example, and what browsers take.
const RECORD_SIZE: u32 = 4096;
/// The header before the record: salt, record size, key length, key.
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
/// The AEAD tag and the padding delimiter each record carries.
const RECORD_OVERHEAD: usize = 16 + 1;
/// The most a push service must take is 4096 bytes of body (RFC 8030
/// §7.2), header included: 3993 bytes of message (RFC 8291 §4).
pub const MAX_BODY: usize = 4096;
pub const MAX_PLAINTEXT: usize = MAX_BODY - HEADER_LEN - RECORD_OVERHEAD;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptionError {
    #[error("the subscription's key is not a point on P-256")]
    InvalidPublicKey,
    #[error("the message is longer than one record ({MAX_PLAINTEXT} bytes)")]
    TooLong,
}

/// The browser's side of a subscription.
pub struct Recipient<'a> {
    /// Uncompressed SEC1 point.
    pub p256dh: &'a [u8],
    pub auth: &'a [u8; 16],
}

/// The sender's per-message secrets: a fresh key pair and salt for every
/// message (RFC 8291 §3.4); fixed only to reproduce the RFC's example.
pub struct Ephemeral {
    pub secret: SecretKey,
    pub salt: [u8; 16],
}

impl Ephemeral {
    pub fn random() -> Self {
        Self {
            secret: crate::secret::random_p256_key(),
            salt: crate::secret::random_bytes(),
        }
    }
}

/// Checks a subscription's key before it is kept: one that is not on the
/// curve could never be sent to.
pub fn check_public_key(p256dh: &[u8]) -> Result<(), EncryptionError> {
    PublicKey::from_sec1_bytes(p256dh)
        .map(drop)
        .map_err(|_| EncryptionError::InvalidPublicKey)
}

/// The request body for the push service: the `aes128gcm` header (salt,
/// record size, the sender's public key) and one encrypted record.
pub fn encrypt(
    plaintext: &[u8],
    to: &Recipient<'_>,
    ephemeral: &Ephemeral,
) -> Result<Vec<u8>, EncryptionError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptionError::TooLong);
    }
    let ua_public =
        PublicKey::from_sec1_bytes(to.p256dh).map_err(|_| EncryptionError::InvalidPublicKey)?;
    let ua_public_bytes = ua_public.to_encoded_point(false);
    let as_public = ephemeral.secret.public_key().to_encoded_point(false);
    let shared =
        p256::ecdh::diffie_hellman(ephemeral.secret.to_nonzero_scalar(), ua_public.as_affine());

    // RFC 8291 §3.3: the auth secret and both keys go into the input key.
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public_bytes.as_bytes());
    key_info.extend_from_slice(as_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(to.auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .expect("32 bytes is a valid HKDF-SHA-256 length");

    // RFC 8188 §2.2, 2.3: the content key and nonce from the salt.
    let content = Hkdf::<Sha256>::new(Some(&ephemeral.salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    content
        .expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes is a valid HKDF-SHA-256 length");
    content
        .expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes is a valid HKDF-SHA-256 length");

    // One record, the last: the delimiter 0x02 and no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(0x02);
    let sealed = Aes128Gcm::new(&cek.into())
        .encrypt(Nonce::from_slice(&nonce), record.as_slice())
        .expect("AES-GCM encrypts any message under 64 GiB");

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + sealed.len());
    body.extend_from_slice(&ephemeral.salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use meritree_core::push::{decode, encode};

    use super::*;

    // RFC 8291 Appendix A.
    const PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn rfc_sender() -> Ephemeral {
        Ephemeral {
            secret: SecretKey::from_slice(&decode(AS_PRIVATE).unwrap()).unwrap(),
            salt: decode(SALT).unwrap().try_into().unwrap(),
        }
    }

    #[test]
    fn reproduces_the_rfc_example_byte_for_byte() {
        let p256dh = decode(UA_PUBLIC).unwrap();
        let auth: [u8; 16] = decode(AUTH).unwrap().try_into().unwrap();
        let body = encrypt(
            PLAINTEXT.as_bytes(),
            &Recipient {
                p256dh: &p256dh,
                auth: &auth,
            },
            &rfc_sender(),
        )
        .unwrap();
        assert_eq!(encode(&body), BODY);
    }

    #[test]
    fn refuses_keys_off_the_curve_and_messages_over_one_record() {
        let mut off_curve = decode(UA_PUBLIC).unwrap();
        off_curve[64] ^= 1;
        assert_eq!(
            check_public_key(&off_curve),
            Err(EncryptionError::InvalidPublicKey)
        );
        assert_eq!(check_public_key(&decode(UA_PUBLIC).unwrap()), Ok(()));
        let auth = [0u8; 16];
        let to = Recipient {
            p256dh: &off_curve,
            auth: &auth,
        };
        assert_eq!(
            encrypt(b"hi", &to, &rfc_sender()),
            Err(EncryptionError::InvalidPublicKey)
        );
        let p256dh = decode(UA_PUBLIC).unwrap();
        let to = Recipient {
            p256dh: &p256dh,
            auth: &auth,
        };
        assert_eq!(MAX_PLAINTEXT, 3993);
        let longest = encrypt(&[b'a'; MAX_PLAINTEXT], &to, &rfc_sender()).unwrap();
        assert_eq!(longest.len(), MAX_BODY);
        assert_eq!(
            encrypt(&[b'a'; MAX_PLAINTEXT + 1], &to, &rfc_sender()),
            Err(EncryptionError::TooLong)
        );
    }
}

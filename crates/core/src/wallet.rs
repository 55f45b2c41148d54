//! The embedded wallet's key handling, for people without a wallet
//! extension: sign like `personal_sign`, and keep the key sealed under a
//! passphrase.
//!
//! Pure functions: the browser supplies randomness (key, salt, nonce from
//! `crypto.getRandomValues`) and storage (IndexedDB); this module never
//! touches either, so the same code is tested natively.
//!
//! A vault is PBKDF2-HMAC-SHA256 (the iteration count is stored with it, so
//! it can rise) deriving an AES-256-GCM key that encrypts the 32-byte
//! secp256k1 secret; the address is authenticated as associated data, so a
//! vault cannot be relabelled with another address.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use k256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};

use crate::eth::{personal_sign_hash, to_checksum, Address, SIGNATURE_LEN};

/// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Refused below this when opening, so a tampered vault cannot downgrade.
pub const MIN_ITERATIONS: u32 = 1_000;
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// A secp256k1 secret key. Its bytes are wiped when dropped.
pub struct WalletKey {
    key: SigningKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletError {
    /// Not a valid secp256k1 secret (zero or above the curve order).
    InvalidKey,
    /// The passphrase is wrong, or the vault was altered.
    WrongPassphrase,
    /// The vault is not one this code can open.
    UnsupportedVault,
    WeakPassphrase,
}

impl fmt::Display for WalletError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WalletError::InvalidKey => "not a valid wallet key",
            WalletError::WrongPassphrase => "wrong passphrase, or the wallet backup was altered",
            WalletError::UnsupportedVault => "this wallet backup is in an unknown format",
            WalletError::WeakPassphrase => "use a passphrase of at least 10 characters",
        })
    }
}

impl std::error::Error for WalletError {}

impl WalletKey {
    /// From 32 random bytes (the browser's CSPRNG).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, WalletError> {
        SigningKey::from_slice(bytes)
            .map(|key| Self { key })
            .map_err(|_| WalletError::InvalidKey)
    }

    pub fn address(&self) -> Address {
        Address::from_private_key(&self.key)
    }

    /// `personal_sign` (EIP-191): `r ‖ s ‖ v` with `v` in {27, 28}, low-s.
    /// Deterministic (RFC 6979), so no randomness is needed.
    pub fn sign_personal(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.sign_hash(personal_sign_hash(message).as_slice())
    }

    /// Signs a 32-byte digest (an EIP-712 hash, for example).
    pub fn sign_hash(&self, digest: &[u8]) -> [u8; SIGNATURE_LEN] {
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(digest)
            .expect("a 32-byte digest always signs");
        let mut out = [0u8; SIGNATURE_LEN];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery.to_byte();
        out
    }

    /// Encrypts the key under `passphrase`. `salt` and `nonce` must be fresh
    /// random bytes for every vault.
    pub fn seal(
        &self,
        passphrase: &str,
        salt: [u8; 16],
        nonce: [u8; 12],
        iterations: u32,
    ) -> Result<Vault, WalletError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(WalletError::WeakPassphrase);
        }
        let address = to_checksum(&self.address());
        let cipher = cipher(passphrase, &salt, iterations);
        let mut secret = self.key.to_bytes();
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_slice(),
                    aad: address.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts 32 bytes");
        secret.iter_mut().for_each(|b| *b = 0);
        Ok(Vault {
            version: Vault::VERSION,
            address,
            kdf: Vault::KDF.to_owned(),
            iterations,
            salt: hex(&salt),
            nonce: hex(&nonce),
            ciphertext: hex(&ciphertext),
        })
    }
}

/// An encrypted wallet key: what IndexedDB stores and what a backup file
/// holds (as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vault {
    pub version: u8,
    /// EIP-55 address of the sealed key (authenticated, not secret).
    pub address: String,
    pub kdf: String,
    pub iterations: u32,
    pub salt: String,
    pub nonce: String,
    pub ciphertext: String,
}

impl Vault {
    pub const VERSION: u8 = 1;
    pub const KDF: &'static str = "pbkdf2-hmac-sha256";

    /// Decrypts the key; fails on a wrong passphrase or any alteration.
    pub fn open(&self, passphrase: &str) -> Result<WalletKey, WalletError> {
        if self.version != Self::VERSION
            || self.kdf != Self::KDF
            || self.iterations < MIN_ITERATIONS
        {
            return Err(WalletError::UnsupportedVault);
        }
        let salt = unhex(&self.salt).ok_or(WalletError::UnsupportedVault)?;
        let nonce = unhex(&self.nonce).ok_or(WalletError::UnsupportedVault)?;
        let ciphertext = unhex(&self.ciphertext).ok_or(WalletError::UnsupportedVault)?;
        if nonce.len() != 12 {
            return Err(WalletError::UnsupportedVault);
        }
        let mut secret = cipher(passphrase, &salt, self.iterations)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: self.address.as_bytes(),
                },
            )
            .map_err(|_| WalletError::WrongPassphrase)?;
        let bytes: [u8; 32] = secret
            .as_slice()
            .try_into()
            .map_err(|_| WalletError::UnsupportedVault)?;
        secret.iter_mut().for_each(|b| *b = 0);
        let key = WalletKey::from_bytes(&bytes)?;
        if to_checksum(&key.address()) != self.address {
            return Err(WalletError::WrongPassphrase);
        }
        Ok(key)
    }

    /// Reads a backup file's JSON.
    pub fn from_json(text: &str) -> Result<Self, WalletError> {
        serde_json::from_str(text).map_err(|_| WalletError::UnsupportedVault)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a vault serialises")
    }
}

fn cipher(passphrase: &str, salt: &[u8], iterations: u32) -> Aes256Gcm {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), salt, iterations, &mut key);
    let cipher = Aes256Gcm::new_from_slice(&key).expect("a 32-byte AES key");
    key.iter_mut().for_each(|b| *b = 0);
    cipher
}

fn hex(bytes: &[u8]) -> String {
    alloy_primitives::hex::encode(bytes)
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    alloy_primitives::hex::decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::recover_personal_sign;

    const KEY: [u8; 32] = [
        0xac, 0x09, 0x74, 0xbe, 0xc3, 0x9a, 0x17, 0xe3, 0x6b, 0xa4, 0xa6, 0xb4, 0xd2, 0x38, 0xff,
        0x94, 0x4b, 0xac, 0xb4, 0x78, 0xcb, 0xed, 0x5e, 0xfc, 0xae, 0x78, 0x4d, 0x7b, 0xf4, 0xf2,
        0xff, 0x80,
    ];
    // Low iteration counts keep the tests fast; production uses DEFAULT_ITERATIONS.
    const FAST: u32 = MIN_ITERATIONS;

    #[test]
    fn signs_like_personal_sign() {
        let key = WalletKey::from_bytes(&KEY).unwrap();
        assert_eq!(
            to_checksum(&key.address()),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let signature = key.sign_personal(b"hello world");
        assert_eq!(
            recover_personal_sign(b"hello world", &signature).unwrap(),
            key.address()
        );
        assert_eq!(
            signature,
            key.sign_personal(b"hello world"),
            "deterministic"
        );
    }

    #[test]
    fn a_vault_opens_with_its_passphrase_only() {
        let key = WalletKey::from_bytes(&KEY).unwrap();
        let vault = key
            .seal("a long passphrase", [1; 16], [2; 12], FAST)
            .unwrap();
        assert_eq!(vault.address, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert!(
            !vault.to_json().contains(&hex(&KEY)),
            "the key is not in the clear"
        );

        let opened = Vault::from_json(&vault.to_json())
            .unwrap()
            .open("a long passphrase")
            .unwrap();
        assert_eq!(opened.address(), key.address());
        assert_eq!(
            vault.open("a long passphrasE").err(),
            Some(WalletError::WrongPassphrase)
        );
    }

    #[test]
    fn altered_vaults_are_refused() {
        let key = WalletKey::from_bytes(&KEY).unwrap();
        let vault = key
            .seal("a long passphrase", [1; 16], [2; 12], FAST)
            .unwrap();
        let relabelled = Vault {
            address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(),
            ..vault.clone()
        };
        assert_eq!(
            relabelled.open("a long passphrase").err(),
            Some(WalletError::WrongPassphrase)
        );
        let mut flipped = vault.clone();
        flipped.ciphertext.replace_range(0..2, "00");
        assert!(flipped.open("a long passphrase").is_err());
        let downgraded = Vault {
            iterations: 1,
            ..vault.clone()
        };
        assert_eq!(
            downgraded.open("a long passphrase").err(),
            Some(WalletError::UnsupportedVault)
        );
        assert_eq!(
            Vault::from_json("{").err(),
            Some(WalletError::UnsupportedVault)
        );
        let odd = Vault {
            nonce: "abc".into(),
            ..vault
        };
        assert_eq!(
            odd.open("a long passphrase").err(),
            Some(WalletError::UnsupportedVault)
        );
    }

    #[test]
    fn weak_passphrases_and_invalid_keys_are_refused() {
        let key = WalletKey::from_bytes(&KEY).unwrap();
        assert_eq!(
            key.seal("short", [1; 16], [2; 12], FAST).err(),
            Some(WalletError::WeakPassphrase)
        );
        assert_eq!(
            WalletKey::from_bytes(&[0; 32]).err(),
            Some(WalletError::InvalidKey)
        );
        assert_eq!(
            WalletKey::from_bytes(&[0xff; 32]).err(),
            Some(WalletError::InvalidKey)
        );
    }
}

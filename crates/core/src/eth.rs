//! Ethereum account primitives: EIP-191 (`personal_sign`) signer recovery and
//! EIP-55 checksummed addresses.
//!
//! Signatures and addresses arrive in HTTP bodies from browsers and wallets,
//! so every function here treats its input as hostile: anything malformed is
//! a typed error, never a panic. Recovery is pure computation (no clock, no
//! randomness), so it runs unchanged in the wasm32 client.
//!
//! Only externally owned accounts (EOAs) can be checked here. A contract
//! wallet (EIP-1271) is verified by calling the contract with
//! [`personal_sign_hash`] of the message and the raw signature bytes, which
//! needs the chain and therefore belongs to the server.

use std::fmt;

use alloy_primitives::{eip191_hash_message, uint, Signature};

pub use alloy_primitives::{Address, B256, U256};

/// Length of an `r ‖ s ‖ v` ECDSA signature as wallets return it.
pub const SIGNATURE_LEN: usize = 65;

/// The order `n` of the secp256k1 group.
const SECP256K1_N: U256 =
    uint!(0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256);

/// `n / 2`: since Homestead, a valid Ethereum signature has `s <= n / 2`.
const SECP256K1_HALF_N: U256 =
    uint!(0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256);

/// Why a signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The text is not hexadecimal (optionally `0x`-prefixed, even length).
    InvalidHex,
    /// Not [`SIGNATURE_LEN`] bytes; carries the length received.
    InvalidLength(usize),
    /// The last byte `v` is none of 0, 1, 27, 28. EIP-155 values (35 and
    /// above) belong to transactions, never to `personal_sign`.
    InvalidRecoveryId(u8),
    /// `r` is zero or not below the group order.
    InvalidR,
    /// `s` is zero or not below the group order.
    InvalidS,
    /// `s` is in the upper half of the group order. Such a signature is the
    /// malleated twin of a valid one; honest wallets never produce it, and
    /// accepting it would give every signature two spellings.
    HighS,
    /// No public key fits: `r` is not the x-coordinate of a curve point, or
    /// the recovered point is the identity.
    Unrecoverable,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidHex => f.write_str("the signature is not valid hexadecimal"),
            Self::InvalidLength(len) => {
                write!(f, "the signature must be {SIGNATURE_LEN} bytes, got {len}")
            }
            Self::InvalidRecoveryId(v) => {
                write!(
                    f,
                    "the signature's recovery byte must be 0, 1, 27 or 28, got {v}"
                )
            }
            Self::InvalidR => f.write_str("the signature's r value is out of range"),
            Self::InvalidS => f.write_str("the signature's s value is out of range"),
            Self::HighS => f.write_str("the signature is not in canonical low-s form"),
            Self::Unrecoverable => f.write_str("no public key can be recovered from the signature"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// The digest an EIP-191 `personal_sign` signature commits to:
/// `keccak256("\x19Ethereum Signed Message:\n" ‖ len(message) ‖ message)`.
///
/// This is also the hash to pass to a contract wallet's EIP-1271
/// `isValidSignature(bytes32, bytes)`.
pub fn personal_sign_hash(message: &[u8]) -> B256 {
    eip191_hash_message(message)
}

/// Recovers the address that signed `message` with `personal_sign` (EIP-191).
///
/// Accepts exactly 65 bytes `r ‖ s ‖ v` with `v` in {0, 1, 27, 28} and a
/// canonical (low) `s`. A successful recovery proves only that *some* key
/// signed the message: the caller compares the result with the address it
/// expects.
pub fn recover_personal_sign(message: &[u8], signature: &[u8]) -> Result<Address, SignatureError> {
    let signature = parse_signature(signature)?;
    // alloy would silently normalise a high `s`; `parse_signature` has
    // already refused one, so what is recovered is exactly what was signed.
    signature
        .recover_address_from_prehash(&personal_sign_hash(message))
        .map_err(|_| SignatureError::Unrecoverable)
}

/// Decodes a hex signature as wallets return it (`0x…`, or bare), without
/// checking its length: a contract wallet's EIP-1271 signature may be longer
/// than 65 bytes.
pub fn parse_signature_hex(text: &str) -> Result<Vec<u8>, SignatureError> {
    alloy_primitives::hex::decode(text).map_err(|_| SignatureError::InvalidHex)
}

/// Checks the shape of a 65-byte signature before any curve arithmetic.
fn parse_signature(bytes: &[u8]) -> Result<Signature, SignatureError> {
    let bytes: &[u8; SIGNATURE_LEN] = bytes
        .try_into()
        .map_err(|_| SignatureError::InvalidLength(bytes.len()))?;
    let (rs, v) = bytes.split_at(64);
    let (r, s) = rs.split_at(32);
    let v = v[0];
    let y_parity = match v {
        0 | 27 => false,
        1 | 28 => true,
        _ => return Err(SignatureError::InvalidRecoveryId(v)),
    };
    let r = U256::from_be_slice(r);
    let s = U256::from_be_slice(s);
    if r.is_zero() || r >= SECP256K1_N {
        return Err(SignatureError::InvalidR);
    }
    if s.is_zero() || s >= SECP256K1_N {
        return Err(SignatureError::InvalidS);
    }
    if s > SECP256K1_HALF_N {
        return Err(SignatureError::HighS);
    }
    Ok(Signature::new(r, s, y_parity))
}

/// Why an address string was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressError {
    /// Not `0x` followed by 40 hexadecimal digits.
    Malformed,
    /// Well-formed, but the letters' case does not match the EIP-55 checksum
    /// (this includes an all-lowercase address that contains letters).
    BadChecksum,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("an address is 0x followed by 40 hexadecimal digits"),
            Self::BadChecksum => f.write_str("the address does not match its EIP-55 checksum"),
        }
    }
}

impl std::error::Error for AddressError {}

/// Parses an address that must be spelled with its EIP-55 checksum.
///
/// The checksum catches typos, and a message that shows the user the
/// checksummed spelling is what EIP-4361 requires, so nothing lowercase (or
/// uppercase) gets through. Addresses without letters have only one spelling
/// and are accepted.
pub fn parse_checksummed_address(text: &str) -> Result<Address, AddressError> {
    let digits = text.strip_prefix("0x").ok_or(AddressError::Malformed)?;
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AddressError::Malformed);
    }
    let address: Address = digits.parse().map_err(|_| AddressError::Malformed)?;
    if address.to_checksum_buffer(None).as_str() == text {
        Ok(address)
    } else {
        Err(AddressError::BadChecksum)
    }
}

/// The EIP-55 spelling of `address` (`Address`'s `Display` gives the same).
pub fn to_checksum(address: &Address) -> String {
    address.to_checksum(None)
}

#[cfg(test)]
pub(crate) mod test_keys {
    //! Fixed keys for tests: the well-known anvil/hardhat development
    //! accounts, public knowledge and worthless on any real chain.

    use super::*;
    use k256::ecdsa::SigningKey;

    /// Anvil/hardhat account 0.
    pub const KEY_0: [u8; 32] =
        alloy_primitives::hex!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
    pub const ADDRESS_0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    /// Anvil/hardhat account 1.
    pub const KEY_1: [u8; 32] =
        alloy_primitives::hex!("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    pub const ADDRESS_1: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

    /// Signs like a wallet's `personal_sign`: `r ‖ s ‖ v` with `v` in {27, 28}.
    pub fn personal_sign(key: &[u8; 32], message: &[u8]) -> [u8; 65] {
        let key = SigningKey::from_slice(key).expect("test key is valid");
        let (sig, recid) = key
            .sign_prehash_recoverable(personal_sign_hash(message).as_slice())
            .expect("signing succeeds");
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64] = 27 + recid.to_byte();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;

    fn addr(s: &str) -> Address {
        parse_checksummed_address(s).unwrap()
    }

    #[test]
    fn test_keys_match_their_published_addresses() {
        let key = k256::ecdsa::SigningKey::from_slice(&KEY_0).unwrap();
        assert_eq!(Address::from_private_key(&key), addr(ADDRESS_0));
        let key = k256::ecdsa::SigningKey::from_slice(&KEY_1).unwrap();
        assert_eq!(Address::from_private_key(&key), addr(ADDRESS_1));
    }

    #[test]
    fn personal_sign_hash_matches_the_eip191_layout() {
        // web3.js / ethers / viem `hashMessage` reference values.
        assert_eq!(
            personal_sign_hash(b"Hello World").to_string(),
            "0xa1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2"
        );
        assert_eq!(
            personal_sign_hash(b"hello world").to_string(),
            "0xd9eba16ed0ecae432b71fe008c98cc872bb4cc214d3220a36f365326cf807d68"
        );
    }

    #[test]
    fn recovers_the_signer() {
        let sig = personal_sign(&KEY_0, b"hello meritree");
        assert_eq!(
            recover_personal_sign(b"hello meritree", &sig),
            Ok(addr(ADDRESS_0))
        );
    }

    #[test]
    fn recovers_a_known_vector() {
        // viem: privateKeyToAccount(anvil 0).signMessage({ message: "hello world" })
        // as published in viem's own test suite.
        let sig = parse_signature_hex(
            "0xa461f509887bd19e312c0c58467ce8ff8e300d3c1a90b608a760c5b80318eaf15fe57c96f9175d6cd4daad4663763baa7e78836e067d0163e9a2ccf2ff753f5b1b",
        )
        .unwrap();
        assert_eq!(
            recover_personal_sign(b"hello world", &sig),
            Ok(addr(ADDRESS_0))
        );
    }

    #[test]
    fn another_key_or_message_recovers_another_address() {
        let sig = personal_sign(&KEY_1, b"hello");
        assert_eq!(recover_personal_sign(b"hello", &sig), Ok(addr(ADDRESS_1)));
        let recovered = recover_personal_sign(b"hellO", &sig);
        assert!(recovered != Ok(addr(ADDRESS_1)), "{recovered:?}");
    }

    #[test]
    fn accepts_both_v_conventions() {
        let sig = personal_sign(&KEY_0, b"v");
        let mut raw = sig;
        raw[64] -= 27;
        assert!(raw[64] <= 1);
        assert_eq!(recover_personal_sign(b"v", &raw), Ok(addr(ADDRESS_0)));
        assert_eq!(recover_personal_sign(b"v", &sig), Ok(addr(ADDRESS_0)));
    }

    #[test]
    fn flipped_parity_does_not_recover_the_signer() {
        let mut sig = personal_sign(&KEY_0, b"parity");
        sig[64] = 55 - sig[64]; // 27 <-> 28
        let recovered = recover_personal_sign(b"parity", &sig);
        assert!(recovered.is_ok(), "{recovered:?}");
        assert_ne!(recovered, Ok(addr(ADDRESS_0)));
    }

    #[test]
    fn rejects_other_recovery_bytes() {
        let mut sig = personal_sign(&KEY_0, b"v");
        for v in [2u8, 26, 29, 35, 36, 37, 38, 255] {
            sig[64] = v;
            assert_eq!(
                recover_personal_sign(b"v", &sig),
                Err(SignatureError::InvalidRecoveryId(v))
            );
        }
    }

    #[test]
    fn rejects_wrong_lengths() {
        let sig = personal_sign(&KEY_0, b"len");
        for len in [0, 1, 64, 66, 130] {
            let mut bytes = sig.to_vec();
            bytes.resize(len, 0);
            assert_eq!(
                recover_personal_sign(b"len", &bytes),
                Err(SignatureError::InvalidLength(len))
            );
        }
    }

    #[test]
    fn rejects_high_s_twin() {
        let sig = personal_sign(&KEY_0, b"malleable");
        let s = U256::from_be_slice(&sig[32..64]);
        let mut twin = sig;
        twin[32..64].copy_from_slice(&(SECP256K1_N - s).to_be_bytes::<32>());
        twin[64] = 55 - sig[64]; // 27 <-> 28
                                 // The twin is a working signature by the same key (alloy normalises
                                 // it and recovers the signer), which is exactly why it is refused.
        let lenient = Signature::new(
            U256::from_be_slice(&twin[..32]),
            U256::from_be_slice(&twin[32..64]),
            twin[64] == 28,
        )
        .recover_address_from_prehash(&personal_sign_hash(b"malleable"));
        assert_eq!(lenient.ok(), Some(addr(ADDRESS_0)));
        assert_eq!(
            recover_personal_sign(b"malleable", &twin),
            Err(SignatureError::HighS)
        );
    }

    #[test]
    fn rejects_out_of_range_scalars() {
        let sig = personal_sign(&KEY_0, b"range");
        let n = SECP256K1_N.to_be_bytes::<32>();

        let mut zero_r = sig;
        zero_r[..32].fill(0);
        assert_eq!(
            recover_personal_sign(b"range", &zero_r),
            Err(SignatureError::InvalidR)
        );
        let mut big_r = sig;
        big_r[..32].copy_from_slice(&n);
        assert_eq!(
            recover_personal_sign(b"range", &big_r),
            Err(SignatureError::InvalidR)
        );

        let mut zero_s = sig;
        zero_s[32..64].fill(0);
        assert_eq!(
            recover_personal_sign(b"range", &zero_s),
            Err(SignatureError::InvalidS)
        );
        let mut big_s = sig;
        big_s[32..64].fill(0xff);
        assert_eq!(
            recover_personal_sign(b"range", &big_s),
            Err(SignatureError::InvalidS)
        );
    }

    #[test]
    fn rejects_r_that_is_not_on_the_curve() {
        // x = 5 has no point on secp256k1 (5^3 + 7 = 132 is a non-residue mod p).
        let mut sig = personal_sign(&KEY_0, b"curve");
        sig[..32].fill(0);
        sig[31] = 5;
        assert_eq!(
            recover_personal_sign(b"curve", &sig),
            Err(SignatureError::Unrecoverable)
        );
    }

    #[test]
    fn parses_hex_with_or_without_prefix() {
        assert_eq!(parse_signature_hex("0x00ff"), Ok(vec![0, 255]));
        assert_eq!(parse_signature_hex("00FF"), Ok(vec![0, 255]));
        assert_eq!(parse_signature_hex(""), Ok(vec![]));
        for bad in ["0x0", "zz", "0x 00", "0xg0", "00\n", "é0"] {
            assert_eq!(
                parse_signature_hex(bad),
                Err(SignatureError::InvalidHex),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn checksummed_addresses_only() {
        assert_eq!(to_checksum(&addr(ADDRESS_0)), ADDRESS_0);
        assert_eq!(
            parse_checksummed_address(&ADDRESS_0.to_lowercase()),
            Err(AddressError::BadChecksum)
        );
        assert_eq!(
            parse_checksummed_address(&format!("0x{}", ADDRESS_0[2..].to_uppercase())),
            Err(AddressError::BadChecksum)
        );
        // No letters: one spelling only, trivially checksummed.
        let digits = "0x1111111111111111111111111111111111111111";
        assert!(parse_checksummed_address(digits).is_ok());
        for bad in [
            "",
            "0x",
            "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0Xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb922660",
            "0xg39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0x+39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226é",
        ] {
            assert_eq!(
                parse_checksummed_address(bad),
                Err(AddressError::Malformed),
                "{bad:?}"
            );
        }
    }
}

//! Why a SIWE message was refused, with the stable codes the HTTP API sends.

use std::fmt;

use crate::eth::{Address, SignatureError};

/// Why a SIWE message was refused.
///
/// Every variant has its own [`code`](SiweError::code), so a client can tell
/// "sign again with a fresh nonce" from "your clock is off" from "this is
/// not our site". The `Display` text is safe to show to the client: it
/// names what failed, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiweError {
    /// The text does not follow the EIP-4361 grammar.
    Malformed {
        /// 1-based line of the message text, when parsing text.
        line: Option<usize>,
        /// What the grammar expected there.
        reason: &'static str,
    },
    /// The address is well-formed hex but not in its EIP-55 checksummed
    /// spelling (for instance all lowercase).
    AddressNotChecksummed,
    /// `Version:` is not `1`, the only version EIP-4361 defines.
    UnsupportedVersion,
    /// The message was made for another domain.
    DomainMismatch,
    /// The message names a scheme other than the site's.
    SchemeMismatch,
    /// The message's `URI:` is not on the site's origin.
    UriMismatch,
    /// The message is bound to another chain.
    ChainIdMismatch,
    /// The nonce is not the one issued for this sign-in.
    NonceMismatch,
    /// `Issued At` is later than now plus [`CLOCK_SKEW`](super::CLOCK_SKEW).
    IssuedInFuture,
    /// `Expiration Time` has passed.
    Expired,
    /// `Not Before` is later than now plus [`CLOCK_SKEW`](super::CLOCK_SKEW).
    NotYetValid,
    /// The signature bytes cannot be a valid EOA signature.
    InvalidSignature(SignatureError),
    /// The signature is valid, but by another key than the message's address.
    /// For a contract wallet this is expected: try EIP-1271 next.
    SignerMismatch {
        /// Who actually signed, for the server's log.
        recovered: Address,
    },
    /// The text whose signature was checked is not this message.
    MessageMismatch,
}

impl SiweError {
    /// Every code [`SiweError::code`] can return, for registering with the
    /// API's error table.
    pub const CODES: [&'static str; 14] = [
        "siwe_malformed",
        "siwe_address_not_checksummed",
        "siwe_unsupported_version",
        "siwe_domain_mismatch",
        "siwe_scheme_mismatch",
        "siwe_uri_mismatch",
        "siwe_chain_id_mismatch",
        "siwe_nonce_mismatch",
        "siwe_issued_in_future",
        "siwe_expired",
        "siwe_not_yet_valid",
        "siwe_invalid_signature",
        "siwe_signer_mismatch",
        "siwe_message_mismatch",
    ];

    /// The stable, machine-readable code: once released, a spelling never
    /// changes.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "siwe_malformed",
            Self::AddressNotChecksummed => "siwe_address_not_checksummed",
            Self::UnsupportedVersion => "siwe_unsupported_version",
            Self::DomainMismatch => "siwe_domain_mismatch",
            Self::SchemeMismatch => "siwe_scheme_mismatch",
            Self::UriMismatch => "siwe_uri_mismatch",
            Self::ChainIdMismatch => "siwe_chain_id_mismatch",
            Self::NonceMismatch => "siwe_nonce_mismatch",
            Self::IssuedInFuture => "siwe_issued_in_future",
            Self::Expired => "siwe_expired",
            Self::NotYetValid => "siwe_not_yet_valid",
            Self::InvalidSignature(_) => "siwe_invalid_signature",
            Self::SignerMismatch { .. } => "siwe_signer_mismatch",
            Self::MessageMismatch => "siwe_message_mismatch",
        }
    }

    /// The same error, located at `line` of the message text.
    pub(super) fn at_line(self, line: usize) -> Self {
        match self {
            Self::Malformed { reason, .. } => Self::Malformed {
                line: Some(line),
                reason,
            },
            other => other,
        }
    }
}

impl fmt::Display for SiweError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed {
                line: Some(line),
                reason,
            } => write!(f, "malformed sign-in message, line {line}: {reason}"),
            Self::Malformed { line: None, reason } => {
                write!(f, "malformed sign-in message: {reason}")
            }
            Self::AddressNotChecksummed => {
                f.write_str("the address must be written with its EIP-55 checksum (mixed case)")
            }
            Self::UnsupportedVersion => f.write_str("the message version must be 1"),
            Self::DomainMismatch => f.write_str("the message is for another domain"),
            Self::SchemeMismatch => f.write_str("the message is for another scheme"),
            Self::UriMismatch => f.write_str("the message URI is not on this site's origin"),
            Self::ChainIdMismatch => f.write_str("the message is for another chain"),
            Self::NonceMismatch => f.write_str("the nonce is unknown or already used"),
            Self::IssuedInFuture => f.write_str("the message is issued in the future"),
            Self::Expired => f.write_str("the message has expired"),
            Self::NotYetValid => f.write_str("the message is not valid yet"),
            Self::InvalidSignature(e) => write!(f, "invalid signature: {e}"),
            Self::SignerMismatch { .. } => {
                f.write_str("the signature is not by the message's address")
            }
            Self::MessageMismatch => f.write_str("the signed text is not this message"),
        }
    }
}

impl std::error::Error for SiweError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidSignature(e) => Some(e),
            _ => None,
        }
    }
}

//! Sign-In with Ethereum (EIP-4361) messages.
//!
//! A wallet proves it controls an address by signing a short, human-readable
//! message that names the site, the chain, a one-time nonce and a validity
//! window. The browser (or the embedded wallet, in wasm) builds the message
//! with [`SiweMessage::builder`]; the server parses the text it receives,
//! checks it against what it expects with [`SiweMessage::verify`], and checks
//! the signature over the *exact received text* with
//! [`SiweMessage::verify_signature`]. [`verify_signed_message`] does all
//! three.
//!
//! Parsing is strict: the text must follow the EIP-4361 ABNF, because the
//! user approved exactly that text and a lenient parser would let fields
//! mean something other than what the wallet displayed. Two deliberate
//! departures, both documented where they apply:
//!
//! - the statement-less layout with a single empty line, which older viem
//!   and WalletConnect emit, is accepted (see the parser's `take_statement`);
//! - addresses must carry their EIP-55 checksum: an all-lowercase address is
//!   refused with [`SiweError::AddressNotChecksummed`], as siwe-js and
//!   siwe-rs do (viem and siwe-js always emit the checksummed spelling).
//!
//! Everything here is pure: the caller passes "now" in [`Expectations`].

mod builder;
mod error;
mod grammar;
mod parse;
#[cfg(test)]
mod tests;
mod timestamp;

use std::fmt;
use std::str::FromStr;

use time::{OffsetDateTime, SignedDuration};

use crate::eth::{self, Address};

pub use builder::SiweMessageBuilder;
pub use error::SiweError;
pub use timestamp::SiweTime;

/// How far a client's clock may run ahead of the server's before `Issued At`
/// or `Not Before` count as "in the future". Phones and laptops drift by
/// seconds to minutes; expiry gets no such allowance, since extending a
/// signer's stated deadline is not ours to do.
pub const CLOCK_SKEW: SignedDuration = SignedDuration::minutes(5);

/// The end of the first line, after `[scheme://]domain`.
const HEADER_SUFFIX: &str = " wants you to sign in with your Ethereum account:";

/// A Sign-In with Ethereum message (EIP-4361).
///
/// Field values are stored as they appear in the text. A message from
/// [`str::parse`] or [`SiweMessageBuilder::build`] always satisfies
/// [`SiweMessage::validate`], and for such a message
/// `message.to_string().parse() == Ok(message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweMessage {
    /// The scheme of the requesting origin (`https`), when the message names
    /// one; most clients leave it out.
    pub scheme: Option<String>,
    /// The RFC 3986 authority that asks for the signature: `host[:port]`.
    pub domain: String,
    /// The signing account.
    pub address: Address,
    /// One line of text the user agrees to. `Some("")` is a present but
    /// empty statement, which the text spells differently from `None`.
    pub statement: Option<String>,
    /// The RFC 3986 URI the sign-in is for.
    pub uri: String,
    /// Always `"1"`.
    pub version: String,
    /// The EIP-155 chain the session is bound to (and where a contract
    /// wallet is resolved).
    pub chain_id: u64,
    /// The one-time value the server issued; at least 8 ASCII alphanumerics.
    pub nonce: String,
    pub issued_at: SiweTime,
    pub expiration_time: Option<SiweTime>,
    pub not_before: Option<SiweTime>,
    pub request_id: Option<String>,
    /// `None` when there is no `Resources:` line; `Some(vec![])` when the
    /// line is there with no items (viem and siwe-js write that for an empty
    /// list).
    pub resources: Option<Vec<String>>,
}

/// What the server hands a wallet so it can build the message it signs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SiweChallenge {
    pub nonce: String,
    pub domain: String,
    pub uri: String,
    pub chain_id: u64,
    pub statement: String,
    /// Unix seconds after which the nonce is refused.
    pub expires_at: i64,
}

/// What the server expects of a message, for [`SiweMessage::verify`].
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    /// This site's domain, `host[:port]`; compared without regard to ASCII
    /// case (hosts are case-insensitive; so, trivially, are ports).
    pub domain: &'a str,
    /// This site's origin, e.g. `https://meritree.example`. The message's
    /// `URI:` must have the same scheme and authority (no default-port
    /// normalisation: `:443` and nothing differ); a path here is ignored.
    /// When the message names a scheme, it must be this origin's scheme.
    pub origin: &'a str,
    pub chain_id: u64,
    /// The nonce the server issued for this sign-in (compared exactly).
    pub nonce: &'a str,
    /// The current time, from the caller: this crate reads no clock.
    pub now: OffsetDateTime,
}

impl SiweMessage {
    /// Starts a message with its required fields; version is `"1"` and
    /// optional fields are absent until set.
    pub fn builder(
        domain: impl Into<String>,
        address: Address,
        uri: impl Into<String>,
        chain_id: u64,
        nonce: impl Into<String>,
        issued_at: SiweTime,
    ) -> SiweMessageBuilder {
        SiweMessageBuilder::new(SiweMessage {
            scheme: None,
            domain: domain.into(),
            address,
            statement: None,
            uri: uri.into(),
            version: "1".to_owned(),
            chain_id,
            nonce: nonce.into(),
            issued_at,
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: None,
        })
    }

    /// Checks every field against the EIP-4361 grammar, exactly as the
    /// parser does; needed only for messages assembled field by field.
    pub fn validate(&self) -> Result<(), SiweError> {
        let check = |result: Result<(), grammar::Reason>| {
            result.map_err(|reason| SiweError::Malformed { line: None, reason })
        };
        if let Some(scheme) = &self.scheme {
            check(grammar::check_scheme(scheme))?;
        }
        check(grammar::check_authority(&self.domain))?;
        if let Some(statement) = &self.statement {
            check(grammar::check_statement(statement))?;
        }
        check(grammar::check_uri(&self.uri))?;
        if self.version != "1" {
            return Err(SiweError::UnsupportedVersion);
        }
        check(grammar::check_nonce(&self.nonce))?;
        if let Some(request_id) = &self.request_id {
            check(grammar::check_request_id(request_id))?;
        }
        for resource in self.resources.iter().flatten() {
            check(grammar::check_uri(resource))?;
        }
        Ok(())
    }

    /// Checks the message against what this server expects: grammar,
    /// domain, scheme, URI origin, chain, nonce, and the validity window at
    /// `expected.now`. Does not look at any signature.
    pub fn verify(&self, expected: &Expectations<'_>) -> Result<(), SiweError> {
        self.validate()?;
        if !self.domain.eq_ignore_ascii_case(expected.domain) {
            return Err(SiweError::DomainMismatch);
        }
        // A malformed configured origin matches nothing.
        let (scheme, authority) = grammar::origin(expected.origin).ok_or(SiweError::UriMismatch)?;
        if self
            .scheme
            .as_ref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(scheme))
        {
            return Err(SiweError::SchemeMismatch);
        }
        match grammar::origin(&self.uri) {
            Some((s, a)) if s.eq_ignore_ascii_case(scheme) && a.eq_ignore_ascii_case(authority) => {
            }
            _ => return Err(SiweError::UriMismatch),
        }
        if self.chain_id != expected.chain_id {
            return Err(SiweError::ChainIdMismatch);
        }
        if self.nonce != expected.nonce {
            return Err(SiweError::NonceMismatch);
        }
        let now = expected.now;
        // Saturates instead of overflowing at the end of the calendar.
        let lenient_now = now.checked_add(CLOCK_SKEW).unwrap_or(now);
        if self.issued_at.datetime() > lenient_now {
            return Err(SiweError::IssuedInFuture);
        }
        if self
            .expiration_time
            .as_ref()
            .is_some_and(|t| now >= t.datetime())
        {
            return Err(SiweError::Expired);
        }
        if self
            .not_before
            .as_ref()
            .is_some_and(|t| t.datetime() > lenient_now)
        {
            return Err(SiweError::NotYetValid);
        }
        Ok(())
    }

    /// Checks that `signature` is an EIP-191 signature of `message_text` by
    /// [`SiweMessage::address`], and that `message_text` is this message.
    ///
    /// The signature covers the text the wallet signed, which may be laid
    /// out differently from this message's `Display` (see the module docs),
    /// so the caller passes that text. For a contract wallet, recovery
    /// fails with [`SiweError::InvalidSignature`] or
    /// [`SiweError::SignerMismatch`]; the server then asks the contract
    /// (EIP-1271) about [`eth::personal_sign_hash`] of the same text.
    pub fn verify_signature(&self, message_text: &str, signature: &[u8]) -> Result<(), SiweError> {
        if parse::parse(message_text)? != *self {
            return Err(SiweError::MessageMismatch);
        }
        self.check_signer(message_text, signature)
    }

    /// The EOA check proper, for text already known to be this message.
    fn check_signer(&self, message_text: &str, signature: &[u8]) -> Result<(), SiweError> {
        let recovered = eth::recover_personal_sign(message_text.as_bytes(), signature)
            .map_err(SiweError::InvalidSignature)?;
        if recovered == self.address {
            Ok(())
        } else {
            Err(SiweError::SignerMismatch { recovered })
        }
    }
}

/// Parses `message_text`, verifies it against `expected`, and checks its
/// EOA signature: the whole server-side check for a wallet that is not a
/// contract. Returns the message, whose `address` is now proven.
pub fn verify_signed_message(
    message_text: &str,
    signature: &[u8],
    expected: &Expectations<'_>,
) -> Result<SiweMessage, SiweError> {
    let message = parse::parse(message_text)?;
    message.verify(expected)?;
    message.check_signer(message_text, signature)?;
    Ok(message)
}

impl FromStr for SiweMessage {
    type Err = SiweError;

    fn from_str(text: &str) -> Result<Self, SiweError> {
        parse::parse(text)
    }
}

/// Writes the EIP-4361 text: the layout siwe-js and current viem produce,
/// with two empty lines between the address and `URI:` when there is no
/// statement.
impl fmt::Display for SiweMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = &self.scheme {
            write!(f, "{scheme}://")?;
        }
        // `Address`'s `Display` is its EIP-55 checksum.
        write!(f, "{}{HEADER_SUFFIX}\n{}\n\n", self.domain, self.address)?;
        if let Some(statement) = &self.statement {
            writeln!(f, "{statement}")?;
        }
        write!(
            f,
            "\nURI: {}\nVersion: {}\nChain ID: {}\nNonce: {}\nIssued At: {}",
            self.uri, self.version, self.chain_id, self.nonce, self.issued_at
        )?;
        if let Some(time) = &self.expiration_time {
            write!(f, "\nExpiration Time: {time}")?;
        }
        if let Some(time) = &self.not_before {
            write!(f, "\nNot Before: {time}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "\nRequest ID: {id}")?;
        }
        if let Some(resources) = &self.resources {
            f.write_str("\nResources:")?;
            for resource in resources {
                write!(f, "\n- {resource}")?;
            }
        }
        Ok(())
    }
}

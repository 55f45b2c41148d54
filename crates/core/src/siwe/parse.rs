//! Text → [`SiweMessage`], line by line, following the EIP-4361 ABNF.
//!
//! The grammar fixes the order of every line, so the parser walks the lines
//! once and each step either takes the line it expects or reports where and
//! why the text departs from the grammar. There is no backtracking and no
//! lookahead beyond two lines, so hostile input costs linear time.

use super::grammar::{self, Reason};
use super::{SiweError, SiweMessage, SiweTime, HEADER_SUFFIX};
use crate::eth::{self, AddressError};

/// The labels of the fields after the statement, in the order the grammar
/// requires; used to explain a line that comes out of order.
const TAGS: [&str; 9] = [
    "URI: ",
    "Version: ",
    "Chain ID: ",
    "Nonce: ",
    "Issued At: ",
    "Expiration Time: ",
    "Not Before: ",
    "Request ID: ",
    "Resources:",
];

fn malformed(line: usize, reason: Reason) -> SiweError {
    SiweError::Malformed {
        line: Some(line),
        reason,
    }
}

/// The message's lines with a cursor; line numbers are 1-based.
struct Lines<'a> {
    lines: Vec<&'a str>,
    next: usize,
}

impl<'a> Lines<'a> {
    fn peek(&self, ahead: usize) -> Option<&'a str> {
        self.lines.get(self.next + ahead).copied()
    }

    /// The number of the line `next()` would return.
    fn number(&self) -> usize {
        self.next + 1
    }

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let line = self.peek(0)?;
        self.next += 1;
        Some((self.next, line))
    }

    /// The next line, which must exist.
    fn take(&mut self, what: Reason) -> Result<(usize, &'a str), SiweError> {
        let number = self.number();
        self.next().ok_or_else(|| malformed(number, what))
    }

    fn take_empty(&mut self) -> Result<(), SiweError> {
        match self.take("the message ends where an empty line is required")? {
            (_, "") => Ok(()),
            (n, _) => Err(malformed(n, "an empty line is required here")),
        }
    }

    /// The value of a required `Tag: value` line.
    fn take_field(
        &mut self,
        tag: &'static str,
        missing: Reason,
    ) -> Result<(usize, &'a str), SiweError> {
        let (n, line) = self.take(missing)?;
        match line.strip_prefix(tag) {
            Some(value) => Ok((n, value)),
            None => Err(malformed(n, misplaced(line).unwrap_or(missing))),
        }
    }

    /// The value of an optional `Tag: value` line, if it comes next.
    fn take_optional(&mut self, tag: &'static str) -> Option<(usize, &'a str)> {
        let value = self.peek(0)?.strip_prefix(tag)?;
        self.next += 1;
        Some((self.next, value))
    }
}

/// Explains a line that is a known field in the wrong place.
fn misplaced(line: &str) -> Option<Reason> {
    TAGS.iter()
        .any(|tag| line.starts_with(tag))
        .then_some("this field is repeated or out of order (the order is URI, Version, Chain ID, Nonce, Issued At, Expiration Time, Not Before, Request ID, Resources)")
}

pub(super) fn parse(text: &str) -> Result<SiweMessage, SiweError> {
    if text.contains('\r') {
        return Err(SiweError::Malformed {
            line: None,
            reason: "lines must end with LF alone, not CR LF",
        });
    }
    let mut lines = Lines {
        lines: text.split('\n').collect(),
        next: 0,
    };

    // `[ scheme "://" ] domain " wants you to sign in with your Ethereum account:"`
    let (n, header) = lines.take("the message is empty")?;
    let origin = header.strip_suffix(HEADER_SUFFIX).ok_or(malformed(
        n,
        "the first line must be \"<domain> wants you to sign in with your Ethereum account:\"",
    ))?;
    let (scheme, domain) = match origin.split_once("://") {
        Some((scheme, domain)) => {
            grammar::check_scheme(scheme).map_err(|r| malformed(n, r))?;
            (Some(scheme.to_owned()), domain)
        }
        None => (None, origin),
    };
    grammar::check_authority(domain).map_err(|r| malformed(n, r))?;

    let (n, line) = lines.take("the address line is missing")?;
    let address = eth::parse_checksummed_address(line).map_err(|e| match e {
        AddressError::Malformed => malformed(
            n,
            "the address must be 0x followed by 40 hexadecimal digits",
        ),
        AddressError::BadChecksum => SiweError::AddressNotChecksummed,
    })?;
    lines.take_empty()?;
    let statement = take_statement(&mut lines)?;

    let missing_uri = "expected \"URI: \" (after the address, an empty line, and optionally a statement and an empty line)";
    let (n, uri) = lines.take_field("URI: ", missing_uri)?;
    grammar::check_uri(uri).map_err(|r| malformed(n, r))?;
    let (_, version) = lines.take_field("Version: ", "expected \"Version: 1\"")?;
    if version != "1" {
        return Err(SiweError::UnsupportedVersion);
    }
    let (n, chain_id) = lines.take_field("Chain ID: ", "expected \"Chain ID: \"")?;
    let chain_id = grammar::parse_chain_id(chain_id).map_err(|r| malformed(n, r))?;
    let (n, nonce) = lines.take_field("Nonce: ", "expected \"Nonce: \"")?;
    grammar::check_nonce(nonce).map_err(|r| malformed(n, r))?;
    let (n, issued_at) = lines.take_field("Issued At: ", "expected \"Issued At: \"")?;
    let issued_at = SiweTime::parse(issued_at).map_err(|e| e.at_line(n))?;

    let expiration_time = take_time(&mut lines, "Expiration Time: ")?;
    let not_before = take_time(&mut lines, "Not Before: ")?;
    let request_id = match lines.take_optional("Request ID: ") {
        Some((n, id)) => {
            grammar::check_request_id(id).map_err(|r| malformed(n, r))?;
            Some(id.to_owned())
        }
        None => None,
    };
    let resources = take_resources(&mut lines)?;

    if let Some((n, line)) = lines.next() {
        let reason = match line {
            "" if lines.peek(0).is_none() => "the message must not end with a line break",
            _ => misplaced(line).unwrap_or("unexpected line after the last field"),
        };
        return Err(malformed(n, reason));
    }

    Ok(SiweMessage {
        scheme,
        domain: domain.to_owned(),
        address,
        statement,
        uri: uri.to_owned(),
        version: version.to_owned(),
        chain_id,
        nonce: nonce.to_owned(),
        issued_at,
        expiration_time,
        not_before,
        request_id,
        resources,
    })
}

/// The optional statement, between the empty line after the address and
/// the `URI:` line. What follows that first empty line decides:
///
/// - a line, then an empty line: that line is the statement (EIP-4361);
/// - two empty lines: an empty statement (EIP-4361; siwe-js writes this for
///   `statement: ""`);
/// - one empty line, then anything else: no statement (EIP-4361, siwe-js,
///   viem since 2.13);
/// - anything else directly: no statement, in the layout of viem before
///   2.13 and WalletConnect's old CACAO formatter.
///
/// The last layout departs from the ABNF but was emitted by widely deployed
/// libraries, and it cannot be confused with the others. It is accepted;
/// [`SiweMessage`]'s `Display` writes the EIP-4361 layout, and signatures
/// are always checked over the original text.
fn take_statement(lines: &mut Lines<'_>) -> Result<Option<String>, SiweError> {
    match (lines.peek(0), lines.peek(1)) {
        (Some(""), Some("")) => {
            lines.next();
            lines.next();
            Ok(Some(String::new()))
        }
        (Some(""), _) => {
            lines.next();
            Ok(None)
        }
        (Some(statement), Some("")) => {
            let n = lines.number();
            grammar::check_statement(statement).map_err(|r| malformed(n, r))?;
            lines.next();
            lines.next();
            Ok(Some(statement.to_owned()))
        }
        _ => Ok(None),
    }
}

fn take_time(lines: &mut Lines<'_>, tag: &'static str) -> Result<Option<SiweTime>, SiweError> {
    lines
        .take_optional(tag)
        .map(|(n, text)| SiweTime::parse(text).map_err(|e| e.at_line(n)))
        .transpose()
}

/// `[ LF "Resources:" *( LF "- " URI ) ]`: the list runs to the end of the
/// message.
fn take_resources(lines: &mut Lines<'_>) -> Result<Option<Vec<String>>, SiweError> {
    if lines.peek(0) != Some("Resources:") {
        return Ok(None);
    }
    lines.next();
    let mut resources = Vec::new();
    while let Some((n, line)) = lines.next() {
        let uri = line.strip_prefix("- ").ok_or(malformed(
            n,
            "after \"Resources:\", every line must be \"- \" followed by a URI",
        ))?;
        grammar::check_uri(uri).map_err(|r| malformed(n, r))?;
        resources.push(uri.to_owned());
    }
    Ok(Some(resources))
}

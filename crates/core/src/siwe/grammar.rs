//! The character-level rules of the EIP-4361 ABNF and the RFC 3986 pieces it
//! borrows.
//!
//! The parser and [`SiweMessage::validate`](super::SiweMessage::validate)
//! share these checks, so a message that validates always survives a
//! round trip through its text. Every check works on bytes and rejects
//! anything outside ASCII where the grammar does, so no input can make them
//! slice inside a UTF-8 character or panic.

/// Why a field does not match its rule; becomes the `reason` of
/// [`SiweError::Malformed`](super::SiweError::Malformed).
pub(super) type Reason = &'static str;

/// RFC 3986 `unreserved`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `sub-delims`.
fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// RFC 3986 `gen-delims`.
fn is_gen_delim(b: u8) -> bool {
    matches!(b, b':' | b'/' | b'?' | b'#' | b'[' | b']' | b'@')
}

/// RFC 3986 `reserved`.
fn is_reserved(b: u8) -> bool {
    is_gen_delim(b) || is_sub_delim(b)
}

/// Whether every byte is `allowed` or part of a `pct-encoded` triplet.
fn all_or_pct_encoded(s: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_hexdigit());
            if !(hex(bytes.next()) && hex(bytes.next())) {
                return false;
            }
        } else if !allowed(b) {
            return false;
        }
    }
    true
}

/// `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`.
pub(super) fn check_scheme(s: &str) -> Result<(), Reason> {
    let mut bytes = s.bytes();
    let starts_with_letter = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if starts_with_letter
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        Ok(())
    } else {
        Err("the scheme must be a letter followed by letters, digits, '+', '-' or '.'")
    }
}

/// `domain = authority`, RFC 3986's `[ userinfo "@" ] host [ ":" port ]`.
///
/// One rule is stricter than RFC 3986: the host must not be empty, since a
/// sign-in request always comes from somewhere.
pub(super) fn check_authority(s: &str) -> Result<(), Reason> {
    const BAD: Reason = "the domain must be an RFC 3986 authority: [userinfo@]host[:port]";
    let host_port = match s.rsplit_once('@') {
        Some((userinfo, rest)) => {
            // `userinfo` cannot hold an '@', so a second one fails here.
            if !all_or_pct_encoded(userinfo, |b| {
                is_unreserved(b) || is_sub_delim(b) || b == b':'
            }) {
                return Err(BAD);
            }
            rest
        }
        None => s,
    };
    let port = if let Some(literal) = host_port.strip_prefix('[') {
        // IP-literal: "[" ( IPv6address / IPvFuture ) "]", checked for its
        // character set only.
        let (inside, after) = literal.split_once(']').ok_or(BAD)?;
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| is_unreserved(b) || is_sub_delim(b) || b == b':')
        {
            return Err(BAD);
        }
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(BAD)?),
        }
    } else {
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        };
        // reg-name (which also covers IPv4 addresses).
        if host.is_empty() || !all_or_pct_encoded(host, |b| is_unreserved(b) || is_sub_delim(b)) {
            return Err(BAD);
        }
        port
    };
    match port {
        Some(port) if !port.bytes().all(|b| b.is_ascii_digit()) => Err(BAD),
        _ => Ok(()),
    }
}

/// `URI` of RFC 3986, as used by the `uri` field and each resource.
///
/// Checks the scheme and that every character is one RFC 3986 allows (with
/// well-formed percent-escapes and at most one `#`). It does not take the
/// hierarchical part apart: the URI is signed text, and verification looks
/// at its origin separately (see [`origin`]).
pub(super) fn check_uri(s: &str) -> Result<(), Reason> {
    let (scheme, rest) = s
        .split_once(':')
        .ok_or("a URI must start with a scheme followed by ':'")?;
    check_scheme(scheme)?;
    if !all_or_pct_encoded(rest, |b| is_unreserved(b) || is_reserved(b)) {
        return Err(
            "a URI may contain only RFC 3986 characters (no spaces or non-ASCII; use %-escapes)",
        );
    }
    if rest.bytes().filter(|&b| b == b'#').count() > 1 {
        return Err("a URI may contain at most one '#'");
    }
    Ok(())
}

/// `statement = *( reserved / unreserved / " " )`: one line of printable
/// ASCII without `%`, `"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`.
pub(super) fn check_statement(s: &str) -> Result<(), Reason> {
    if s.bytes()
        .all(|b| is_reserved(b) || is_unreserved(b) || b == b' ')
    {
        Ok(())
    } else {
        Err("the statement may contain only letters, digits, spaces and RFC 3986 reserved or unreserved punctuation")
    }
}

/// `nonce = 8*( ALPHA / DIGIT )`.
pub(super) fn check_nonce(s: &str) -> Result<(), Reason> {
    if s.len() >= 8 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("the nonce must be at least 8 ASCII letters or digits")
    }
}

/// `request-id = *pchar`.
pub(super) fn check_request_id(s: &str) -> Result<(), Reason> {
    if all_or_pct_encoded(s, |b| {
        is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@'
    }) {
        Ok(())
    } else {
        Err("the request ID may contain only RFC 3986 path characters")
    }
}

/// `chain-id = 1*DIGIT`, as a `u64` without leading zeros (a second
/// spelling of the same number would not survive a round trip).
pub(super) fn parse_chain_id(s: &str) -> Result<u64, Reason> {
    const BAD: Reason = "the chain ID must be a decimal number without leading zeros";
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(BAD);
    }
    s.parse()
        .map_err(|_| "the chain ID does not fit in 64 bits")
}

/// The origin of a hierarchical URI: its scheme and authority, for
/// `scheme://authority/...`. `None` for URIs without an authority
/// (`urn:…`, `did:…`) or with an empty one (`file:///…`).
pub(super) fn origin(uri: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = uri.split_once(':')?;
    let rest = rest.strip_prefix("//")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    (!scheme.is_empty() && !authority.is_empty()).then_some((scheme, authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        for ok in ["https", "http", "a", "web+siwe", "coap.tcp", "x-1"] {
            assert_eq!(check_scheme(ok), Ok(()), "{ok}");
        }
        for bad in ["", "1http", "+a", "ht tp", "http:", "héllo", "foo_bar"] {
            assert!(check_scheme(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn authorities() {
        for ok in [
            "example.com",
            "localhost:3000",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[2001:db8::1]",
            "user:pw@example.com",
            "xn--bcher-kva.example",
            "ex%41mple.com",
            "example.com:",
        ] {
            assert_eq!(check_authority(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ":80",
            "a@b@example.com",
            "example.com:80a",
            "exa mple.com",
            "exa/mple.com",
            "https://example.com",
            "bücher.example",
            "ex%4mple.com",
            "[::1",
            "[]",
            "[::1]x",
            "[::1]:8a",
            "example.com\r",
        ] {
            assert!(check_authority(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uris() {
        for ok in [
            "https://example.com",
            "https://example.com/login?next=%2F#top",
            "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
            "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
            "did:pkh:eip155:1:0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "http://[::1]:3000/",
        ] {
            assert_eq!(check_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "/login",
            "#foo",
            "https://exa mple.com",
            "https://example.com/ü",
            "https://example.com/%zz",
            "https://example.com/a#b#c",
            "https://example.com/\"",
            "1ttps://example.com",
        ] {
            assert!(check_uri(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn statements() {
        for ok in [
            "",
            "I accept the ExampleOrg Terms of Service: https://example.com/tos",
            "  ",
        ] {
            assert_eq!(check_statement(ok), Ok(()), "{ok}");
        }
        for bad in [
            "a\nb",
            "a\rb",
            "100%",
            "say \"hi\"",
            "café",
            "tab\there",
            "{x}",
        ] {
            assert!(check_statement(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nonces() {
        assert_eq!(check_nonce("foobarbaz"), Ok(()));
        assert_eq!(check_nonce("12345678"), Ok(()));
        for bad in ["", "1234567", "foo-barbaz", "foobarbaz ", "fööbarbaz"] {
            assert!(check_nonce(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_ids() {
        for ok in ["", "123e4567-e89b-12d3-a456-426614174000", "a:b@c", "%20"] {
            assert_eq!(check_request_id(ok), Ok(()), "{ok}");
        }
        for bad in ["a b", "a/b", "a?b", "%2"] {
            assert!(check_request_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chain_ids() {
        assert_eq!(parse_chain_id("1"), Ok(1));
        assert_eq!(parse_chain_id("0"), Ok(0));
        assert_eq!(parse_chain_id("18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "",
            "01",
            "+1",
            "-1",
            "1.0",
            "0x1",
            " 1",
            "18446744073709551616",
        ] {
            assert!(parse_chain_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://example.com"),
            Some(("https", "example.com"))
        );
        assert_eq!(
            origin("https://example.com:8443/a?b#c"),
            Some(("https", "example.com:8443"))
        );
        assert_eq!(
            origin("https://example.com?x"),
            Some(("https", "example.com"))
        );
        assert_eq!(
            origin("https://user@evil.example/"),
            Some(("https", "user@evil.example"))
        );
        assert_eq!(origin("urn:uuid:1"), None);
        assert_eq!(origin("file:///etc/passwd"), None);
        assert_eq!(origin("example.com"), None);
        assert_eq!(origin("://example.com"), None);
    }
}

//! Messages as real libraries write them, every way one can be refused, and
//! signatures made with the anvil development keys.

use time::macros::datetime;
use time::OffsetDateTime;

use super::*;
use crate::eth::test_keys::{personal_sign, ADDRESS_0, ADDRESS_1, KEY_0, KEY_1};
use crate::eth::{parse_checksummed_address, SignatureError};

// ---------------------------------------------------------------------------
// Messages written out literally, as the libraries emit them.
// ---------------------------------------------------------------------------

/// viem ≥ 2.13 `createSiweMessage` without a statement (and siwe-js v2/v3,
/// which lays out a missing statement the same way): two empty lines.
const VIEM_NO_STATEMENT: &str = "example.com wants you to sign in with your Ethereum account:
0xA0Cf798816D4b9b9866b5330EEa46a18382f251e


URI: https://example.com/path
Version: 1
Chain ID: 1
Nonce: foobarbaz
Issued At: 2023-02-01T00:00:00.000Z";

/// viem < 2.13 (and WalletConnect's old CACAO formatter) without a
/// statement: one empty line, which the ABNF does not allow.
const LEGACY_NO_STATEMENT: &str = "example.com wants you to sign in with your Ethereum account:
0xA0Cf798816D4b9b9866b5330EEa46a18382f251e

URI: https://example.com/path
Version: 1
Chain ID: 1
Nonce: foobarbaz
Issued At: 2023-02-01T00:00:00.000Z";

/// viem with a statement.
const VIEM_STATEMENT: &str = "example.com wants you to sign in with your Ethereum account:
0xA0Cf798816D4b9b9866b5330EEa46a18382f251e

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/path
Version: 1
Chain ID: 1
Nonce: foobarbaz
Issued At: 2023-02-01T00:00:00.000Z";

/// viem with resources.
const VIEM_RESOURCES: &str = "example.com wants you to sign in with your Ethereum account:
0xA0Cf798816D4b9b9866b5330EEa46a18382f251e


URI: https://example.com/path
Version: 1
Chain ID: 1
Nonce: foobarbaz
Issued At: 2023-02-01T00:00:00.000Z
Resources:
- https://example.com/foo
- https://example.com/bar
- https://example.com/baz";

/// The example of EIP-4361 itself.
const EIP_EXAMPLE: &str = "example.com wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ExampleOrg Terms of Service: https://example.com/tos

URI: https://example.com/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json";

/// siwe-js with a scheme and every optional field.
const SIWE_JS_FULL: &str =
    "https://example.com:8443 wants you to sign in with your Ethereum account:
0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

Sign in to Meritree.

URI: https://example.com:8443/login
Version: 1
Chain ID: 10
Nonce: 5d8aZ0qfYwK3rT2m
Issued At: 2023-02-01T00:00:00.000Z
Expiration Time: 2023-02-01T00:10:00.000Z
Not Before: 2023-02-01T00:00:00.000Z
Request ID: 123e4567-e89b-12d3-a456-426614174000
Resources:
- https://example.com/terms";

/// siwe-js given `statement: ""`: a present, empty statement (three empty
/// lines), which the ABNF allows.
const SIWE_JS_EMPTY_STATEMENT: &str = "example.com wants you to sign in with your Ethereum account:
0xA0Cf798816D4b9b9866b5330EEa46a18382f251e



URI: https://example.com/path
Version: 1
Chain ID: 1
Nonce: foobarbaz
Issued At: 2023-02-01T00:00:00.000Z";

/// viem or siwe-js given `resources: []`.
const EMPTY_RESOURCES: &str = "example.com wants you to sign in with your Ethereum account:
0xA0Cf798816D4b9b9866b5330EEa46a18382f251e


URI: https://example.com/path
Version: 1
Chain ID: 1
Nonce: foobarbaz
Issued At: 2023-02-01T00:00:00.000Z
Resources:";

const CANONICAL: [&str; 7] = [
    VIEM_NO_STATEMENT,
    VIEM_STATEMENT,
    VIEM_RESOURCES,
    EIP_EXAMPLE,
    SIWE_JS_FULL,
    SIWE_JS_EMPTY_STATEMENT,
    EMPTY_RESOURCES,
];

fn parse(text: &str) -> Result<SiweMessage, SiweError> {
    text.parse()
}

fn address(text: &str) -> Address {
    parse_checksummed_address(text).unwrap()
}

fn time(text: &str) -> SiweTime {
    SiweTime::parse(text).unwrap()
}

/// What the server expects of the viem-style fixtures above.
fn expectations(now: OffsetDateTime) -> Expectations<'static> {
    Expectations {
        domain: "example.com",
        origin: "https://example.com",
        chain_id: 1,
        nonce: "foobarbaz",
        now,
    }
}

const NOW: OffsetDateTime = datetime!(2023-02-01 00:01:00 UTC);

// ---------------------------------------------------------------------------
// Parsing what libraries emit
// ---------------------------------------------------------------------------

#[test]
fn parses_viem_without_statement() {
    let m = parse(VIEM_NO_STATEMENT).unwrap();
    assert_eq!(
        m,
        SiweMessage {
            scheme: None,
            domain: "example.com".into(),
            address: address("0xA0Cf798816D4b9b9866b5330EEa46a18382f251e"),
            statement: None,
            uri: "https://example.com/path".into(),
            version: "1".into(),
            chain_id: 1,
            nonce: "foobarbaz".into(),
            issued_at: time("2023-02-01T00:00:00.000Z"),
            expiration_time: None,
            not_before: None,
            request_id: None,
            resources: None,
        }
    );
    assert_eq!(m.issued_at.datetime(), datetime!(2023-02-01 00:00 UTC));
}

#[test]
fn parses_the_legacy_single_empty_line_and_writes_the_eip_layout() {
    let legacy = parse(LEGACY_NO_STATEMENT).unwrap();
    assert_eq!(legacy, parse(VIEM_NO_STATEMENT).unwrap());
    assert_eq!(legacy.statement, None);
    assert_eq!(legacy.to_string(), VIEM_NO_STATEMENT);
}

#[test]
fn parses_a_statement() {
    let m = parse(VIEM_STATEMENT).unwrap();
    assert_eq!(
        m.statement.as_deref(),
        Some("I accept the ExampleOrg Terms of Service: https://example.com/tos")
    );
    assert_eq!(m.uri, "https://example.com/path");
}

#[test]
fn parses_the_eip_example() {
    let m = parse(EIP_EXAMPLE).unwrap();
    assert_eq!(
        m.address,
        address("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2")
    );
    assert_eq!(m.nonce, "32891756");
    assert_eq!(m.issued_at.datetime(), datetime!(2021-09-30 16:25:24 UTC));
    assert_eq!(
        m.resources,
        Some(vec![
            "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/".to_owned(),
            "https://example.com/my-web2-claim.json".to_owned(),
        ])
    );
}

#[test]
fn parses_every_optional_field() {
    let m = parse(SIWE_JS_FULL).unwrap();
    assert_eq!(m.scheme.as_deref(), Some("https"));
    assert_eq!(m.domain, "example.com:8443");
    assert_eq!(m.address, address(ADDRESS_0));
    assert_eq!(m.statement.as_deref(), Some("Sign in to Meritree."));
    assert_eq!(m.chain_id, 10);
    assert_eq!(
        m.expiration_time.as_ref().map(SiweTime::datetime),
        Some(datetime!(2023-02-01 00:10 UTC))
    );
    assert_eq!(
        m.not_before.as_ref().map(SiweTime::datetime),
        Some(datetime!(2023-02-01 00:00 UTC))
    );
    assert_eq!(
        m.request_id.as_deref(),
        Some("123e4567-e89b-12d3-a456-426614174000")
    );
    assert_eq!(
        m.resources,
        Some(vec!["https://example.com/terms".to_owned()])
    );
}

#[test]
fn tells_an_empty_statement_and_an_empty_resource_list_from_none() {
    assert_eq!(
        parse(SIWE_JS_EMPTY_STATEMENT).unwrap().statement,
        Some(String::new())
    );
    assert_eq!(parse(EMPTY_RESOURCES).unwrap().resources, Some(vec![]));
    let empty_id = VIEM_NO_STATEMENT.to_owned() + "\nRequest ID: ";
    assert_eq!(parse(&empty_id).unwrap().request_id, Some(String::new()));
}

#[test]
fn a_statement_may_look_like_a_field() {
    // Legal per the ABNF; the empty line after it decides.
    let text = VIEM_STATEMENT.replace(
        "I accept the ExampleOrg Terms of Service: https://example.com/tos",
        "URI: https://example.com/tos",
    );
    let m = parse(&text).unwrap();
    assert_eq!(m.statement.as_deref(), Some("URI: https://example.com/tos"));
    assert_eq!(m.uri, "https://example.com/path");
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

#[test]
fn display_reproduces_canonical_text() {
    for text in CANONICAL {
        assert_eq!(parse(text).unwrap().to_string(), text);
    }
}

fn sample_message() -> SiweMessage {
    SiweMessage::builder(
        "example.com",
        address(ADDRESS_0),
        "https://example.com/login",
        1,
        "foobarbaz",
        time("2023-02-01T00:00:00.000Z"),
    )
    .build()
    .unwrap()
}

#[test]
fn builder_messages_survive_their_text() {
    let plain = sample_message();
    let full = SiweMessage::builder(
        "example.com:8443",
        address(ADDRESS_1),
        "https://example.com:8443/",
        u64::MAX,
        "ABCDEFGH12345678",
        SiweTime::from_unix_millis(1_675_209_600_123).unwrap(),
    )
    .scheme("https")
    .statement("I accept: https://example.com/tos (v2) & more!")
    .expiration_time(SiweTime::from_datetime(datetime!(2023-02-01 03:00 +02:00)).unwrap())
    .not_before(time("2023-02-01t00:00:00z"))
    .request_id("req:1@x%20y")
    .resource("urn:uuid:123e4567-e89b-12d3-a456-426614174000")
    .resource("https://example.com/a?b=c#d")
    .build()
    .unwrap();
    assert_eq!(
        full.expiration_time.as_ref().map(SiweTime::as_str),
        Some("2023-02-01T01:00:00Z")
    );
    assert_eq!(full.issued_at.as_str(), "2023-02-01T00:00:00.123Z");
    let mut empty = plain.clone();
    empty.statement = Some(String::new());
    empty.request_id = Some(String::new());
    empty.resources = Some(vec![]);

    for m in [plain, full, empty] {
        let text = m.to_string();
        assert_eq!(parse(&text), Ok(m), "{text}");
    }
}

#[test]
fn the_builder_refuses_what_the_parser_would() {
    let base = || {
        SiweMessage::builder(
            "example.com",
            address(ADDRESS_0),
            "https://example.com",
            1,
            "foobarbaz",
            time("2023-02-01T00:00:00Z"),
        )
    };
    let refused = [
        base().statement("line one\nURI: https://evil.example"),
        base().statement("café"),
        base().scheme("ht tp"),
        base().request_id("a b"),
        base().resource("not a uri"),
    ];
    for builder in refused {
        assert_eq!(builder.build().map_err(|e| e.code()), Err("siwe_malformed"));
    }
    let bad_domain = SiweMessage::builder(
        "https://example.com",
        address(ADDRESS_0),
        "https://example.com",
        1,
        "foobarbaz",
        time("2023-02-01T00:00:00Z"),
    );
    assert!(bad_domain.build().is_err());
    let bad_nonce = SiweMessage::builder(
        "example.com",
        address(ADDRESS_0),
        "https://example.com",
        1,
        "short",
        time("2023-02-01T00:00:00Z"),
    );
    assert!(bad_nonce.build().is_err());
    let mut wrong_version = sample_message();
    wrong_version.version = "2".into();
    assert_eq!(wrong_version.validate(), Err(SiweError::UnsupportedVersion));
}

// ---------------------------------------------------------------------------
// Malformed text
// ---------------------------------------------------------------------------

/// Replaces exactly one occurrence of `from` in `text`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "fixture edit {from:?} is ambiguous"
    );
    text.replacen(from, to, 1)
}

#[track_caller]
fn assert_malformed_at(text: &str, line: usize) {
    match parse(text) {
        Err(SiweError::Malformed { line: Some(l), .. }) if l == line => {}
        other => panic!("expected malformed at line {line}, got {other:?} for\n{text}"),
    }
}

#[test]
fn refuses_a_bad_first_line() {
    let s = VIEM_NO_STATEMENT;
    for text in [
        edit(
            s,
            " wants you to sign in with your Ethereum account:",
            " wants you to sign in with your account:",
        ),
        edit(
            s,
            " wants you to sign in with your Ethereum account:",
            " wants you to sign in with your Ethereum account: ",
        ),
        edit(s, "example.com wants", "Example.com  wants"),
        edit(s, "example.com wants", " wants"),
        edit(s, "example.com wants", "exa mple.com wants"),
        edit(s, "example.com wants", "1https://example.com wants"),
        edit(s, "example.com wants", "https://example.com/ wants"),
        edit(s, "example.com wants", "https:// wants"),
        edit(s, "example.com wants", "exämple.com wants"),
    ] {
        assert_malformed_at(&text, 1);
    }
}

#[test]
fn refuses_addresses_without_their_checksum() {
    let lower = edit(
        VIEM_NO_STATEMENT,
        "0xA0Cf798816D4b9b9866b5330EEa46a18382f251e",
        "0xa0cf798816d4b9b9866b5330eea46a18382f251e",
    );
    assert_eq!(parse(&lower), Err(SiweError::AddressNotChecksummed));
    let one_letter_off = edit(
        VIEM_NO_STATEMENT,
        "0xA0Cf798816D4b9b9866b5330EEa46a18382f251e",
        "0xA0Cf798816D4b9b9866b5330EEa46a18382f251E",
    );
    assert_eq!(
        parse(&one_letter_off),
        Err(SiweError::AddressNotChecksummed)
    );
    for bad in [
        "A0Cf798816D4b9b9866b5330EEa46a18382f251e",
        "0xA0Cf798816D4b9b9866b5330EEa46a18382f251",
        "0xA0Cf798816D4b9b9866b5330EEa46a18382f251e0",
        "0xZ0Cf798816D4b9b9866b5330EEa46a18382f251e",
        "0xA0Cf798816D4b9b9866b5330EEa46a18382f251e ",
        "vitalik.eth",
        "",
    ] {
        let text = edit(
            VIEM_NO_STATEMENT,
            "0xA0Cf798816D4b9b9866b5330EEa46a18382f251e",
            bad,
        );
        assert_malformed_at(&text, 2);
    }
}

#[test]
fn refuses_bad_statements_and_spacing() {
    let injected = edit(
        VIEM_STATEMENT,
        "I accept the ExampleOrg Terms of Service: https://example.com/tos",
        "I accept\nURI: https://evil.example",
    );
    assert!(parse(&injected).is_err());
    let accented = edit(
        VIEM_STATEMENT,
        "I accept the",
        "J'accepte les conditions générales,",
    );
    assert_malformed_at(&accented, 4);
    let no_empty_after_address = edit(VIEM_STATEMENT, "f251e\n\nI accept", "f251e\nI accept");
    assert_malformed_at(&no_empty_after_address, 3);
    let no_empty_after_statement = edit(VIEM_STATEMENT, "tos\n\nURI", "tos\nURI");
    assert_malformed_at(&no_empty_after_statement, 4);
    let four_empty_lines = edit(VIEM_NO_STATEMENT, "f251e\n\n\nURI", "f251e\n\n\n\n\nURI");
    assert_malformed_at(&four_empty_lines, 6);
}

#[test]
fn refuses_bad_field_values() {
    let s = VIEM_NO_STATEMENT;
    let cases = [
        (
            edit(s, "URI: https://example.com/path", "URI: example.com/path"),
            5,
        ),
        (
            edit(
                s,
                "URI: https://example.com/path",
                "URI: https://example.com/a path",
            ),
            5,
        ),
        (edit(s, "URI: https://example.com/path", "URI: "), 5),
        (
            edit(
                s,
                "URI: https://example.com/path",
                "URI:https://example.com/path",
            ),
            5,
        ),
        (
            edit(
                s,
                "URI: https://example.com/path",
                "uri: https://example.com/path",
            ),
            5,
        ),
        (edit(s, "Chain ID: 1", "Chain ID: 01"), 7),
        (edit(s, "Chain ID: 1", "Chain ID: one"), 7),
        (edit(s, "Chain ID: 1", "Chain ID: -1"), 7),
        (edit(s, "Chain ID: 1", "Chain ID: 18446744073709551616"), 7),
        (edit(s, "Chain ID: 1", "Chain ID: "), 7),
        (edit(s, "Nonce: foobarbaz", "Nonce: foobarb"), 8),
        (edit(s, "Nonce: foobarbaz", "Nonce: foo-bar-baz"), 8),
        (edit(s, "Nonce: foobarbaz", "Nonce: foobarbaz "), 8),
        (
            edit(
                s,
                "Issued At: 2023-02-01T00:00:00.000Z",
                "Issued At: 2023-02-01 00:00:00Z",
            ),
            9,
        ),
        (
            edit(
                s,
                "Issued At: 2023-02-01T00:00:00.000Z",
                "Issued At: yesterday",
            ),
            9,
        ),
        (
            edit(
                s,
                "Issued At: 2023-02-01T00:00:00.000Z",
                "Issued At: 1675209600",
            ),
            9,
        ),
        (s.to_owned() + "\nExpiration Time: 2023-02-31T00:00:00Z", 10),
        (s.to_owned() + "\nExpiration Time: ", 10),
        (s.to_owned() + "\nNot Before: 2023-02-01T00:00:00", 10),
        (s.to_owned() + "\nRequest ID: has space", 10),
        (s.to_owned() + "\nRequest ID: a/b", 10),
        (s.to_owned() + "\nResources:\n- not a uri", 11),
        (s.to_owned() + "\nResources:\n-https://example.com", 11),
        (s.to_owned() + "\nResources:\n* https://example.com", 11),
        (s.to_owned() + "\nResources:\n- https://example.com\n", 12),
    ];
    for (text, line) in cases {
        assert_malformed_at(&text, line);
    }
}

#[test]
fn refuses_other_versions() {
    for version in ["2", "0.1", "01", "", "1 "] {
        let text = edit(
            VIEM_NO_STATEMENT,
            "Version: 1",
            &format!("Version: {version}"),
        );
        assert_eq!(
            parse(&text),
            Err(SiweError::UnsupportedVersion),
            "{version:?}"
        );
    }
}

#[test]
fn refuses_missing_fields() {
    let s = VIEM_NO_STATEMENT;
    assert_eq!(parse("").map_err(|e| e.code()), Err("siwe_malformed"));
    for (field, line) in [
        ("URI: https://example.com/path\n", 5),
        ("Version: 1\n", 6),
        ("Chain ID: 1\n", 7),
        ("Nonce: foobarbaz\n", 8),
        ("\nIssued At: 2023-02-01T00:00:00.000Z", 9),
    ] {
        assert_malformed_at(&edit(s, field, ""), line);
    }
    let header_only = "example.com wants you to sign in with your Ethereum account:";
    assert_malformed_at(header_only, 2);
    let address_only = "example.com wants you to sign in with your Ethereum account:\n0xA0Cf798816D4b9b9866b5330EEa46a18382f251e";
    assert_malformed_at(address_only, 3);
}

#[test]
fn refuses_repeated_reordered_and_unknown_lines() {
    let s = VIEM_NO_STATEMENT;
    let cases = [
        // Required fields out of order.
        (
            edit(s, "Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"),
            6,
        ),
        // A repeated field.
        (
            edit(s, "Nonce: foobarbaz", "Nonce: foobarbaz\nNonce: foobarbaz"),
            9,
        ),
        (s.to_owned() + "\nIssued At: 2023-02-01T00:00:00.000Z", 10),
        (
            s.to_owned()
                + "\nExpiration Time: 2023-02-02T00:00:00Z\nExpiration Time: 2023-02-03T00:00:00Z",
            11,
        ),
        // Optional fields out of order.
        (
            s.to_owned()
                + "\nNot Before: 2023-02-01T00:00:00Z\nExpiration Time: 2023-02-02T00:00:00Z",
            11,
        ),
        (
            s.to_owned() + "\nRequest ID: abc\nNot Before: 2023-02-01T00:00:00Z",
            11,
        ),
        (s.to_owned() + "\nResources:\nRequest ID: abc", 11),
        // Unknown or stray lines.
        (s.to_owned() + "\nFoo: bar", 10),
        (s.to_owned() + "\n", 10),
        (s.to_owned() + "\n\n", 10),
        (edit(s, "Version: 1\n", "Version: 1\n\n"), 7),
    ];
    for (text, line) in cases {
        assert_malformed_at(&text, line);
    }
}

#[test]
fn refuses_crlf_line_endings() {
    let crlf = VIEM_NO_STATEMENT.replace('\n', "\r\n");
    assert!(matches!(
        parse(&crlf),
        Err(SiweError::Malformed { line: None, .. })
    ));
}

// ---------------------------------------------------------------------------
// Verification against the server's expectations
// ---------------------------------------------------------------------------

#[test]
fn verifies_a_matching_message() {
    for text in [
        VIEM_NO_STATEMENT,
        LEGACY_NO_STATEMENT,
        VIEM_STATEMENT,
        VIEM_RESOURCES,
    ] {
        assert_eq!(parse(text).unwrap().verify(&expectations(NOW)), Ok(()));
    }
    let with_scheme = edit(
        VIEM_NO_STATEMENT,
        "example.com wants",
        "https://example.com wants",
    );
    assert_eq!(
        parse(&with_scheme).unwrap().verify(&expectations(NOW)),
        Ok(())
    );
}

#[test]
fn domain_must_match_ignoring_case() {
    let m = parse(VIEM_NO_STATEMENT).unwrap();
    let mut expected = expectations(NOW);
    expected.domain = "EXAMPLE.com";
    assert_eq!(m.verify(&expected), Ok(()));
    for other in [
        "example.org",
        "example.com:443",
        "www.example.com",
        "evil.example.com",
        "",
    ] {
        expected.domain = other;
        assert_eq!(
            m.verify(&expected),
            Err(SiweError::DomainMismatch),
            "{other}"
        );
    }
}

#[test]
fn scheme_if_present_must_match_the_origin() {
    let text = edit(
        VIEM_NO_STATEMENT,
        "example.com wants",
        "http://example.com wants",
    );
    assert_eq!(
        parse(&text).unwrap().verify(&expectations(NOW)),
        Err(SiweError::SchemeMismatch)
    );
    let text = edit(
        VIEM_NO_STATEMENT,
        "example.com wants",
        "HTTPS://example.com wants",
    );
    assert_eq!(parse(&text).unwrap().verify(&expectations(NOW)), Ok(()));
}

#[test]
fn uri_must_be_on_the_origin() {
    let verify = |uri: &str| {
        let text = edit(
            VIEM_NO_STATEMENT,
            "URI: https://example.com/path",
            &format!("URI: {uri}"),
        );
        parse(&text).unwrap().verify(&expectations(NOW))
    };
    for ok in [
        "https://example.com",
        "https://example.com/",
        "https://EXAMPLE.COM/login?x=1",
        "HTTPS://example.com#top",
    ] {
        assert_eq!(verify(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://example.com/path",
        "https://example.com.evil.example/path",
        "https://example.com@evil.example/",
        "https://evil.example/https://example.com",
        "https://example.com:8443/path",
        "https://example.com:443/path",
        "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
        "https://sub.example.com/",
    ] {
        assert_eq!(verify(bad), Err(SiweError::UriMismatch), "{bad}");
    }
    let m = parse(VIEM_NO_STATEMENT).unwrap();
    let mut expected = expectations(NOW);
    expected.origin = "https://example.com/some/path";
    assert_eq!(
        m.verify(&expected),
        Ok(()),
        "a path in the configured origin is ignored"
    );
    expected.origin = "example.com";
    assert_eq!(
        m.verify(&expected),
        Err(SiweError::UriMismatch),
        "a bare host is no origin"
    );
}

#[test]
fn chain_and_nonce_must_match() {
    let m = parse(VIEM_NO_STATEMENT).unwrap();
    let mut expected = expectations(NOW);
    expected.chain_id = 10;
    assert_eq!(m.verify(&expected), Err(SiweError::ChainIdMismatch));
    let mut expected = expectations(NOW);
    for other in ["FOOBARBAZ", "foobarbaz1", "foobarba", ""] {
        expected.nonce = other;
        assert_eq!(
            m.verify(&expected),
            Err(SiweError::NonceMismatch),
            "{other}"
        );
    }
}

#[test]
fn issued_at_may_lead_by_the_clock_skew_only() {
    let m = parse(VIEM_NO_STATEMENT).unwrap(); // issued 2023-02-01T00:00:00Z
    let issued = datetime!(2023-02-01 00:00 UTC);
    assert_eq!(m.verify(&expectations(issued - CLOCK_SKEW)), Ok(()));
    assert_eq!(
        m.verify(&expectations(issued - CLOCK_SKEW - SignedDuration::SECOND)),
        Err(SiweError::IssuedInFuture)
    );
    // Old messages are the nonce's business, not the clock's.
    assert_eq!(
        m.verify(&expectations(datetime!(2030-01-01 00:00 UTC))),
        Ok(())
    );
}

#[test]
fn expiration_is_exact() {
    let text = VIEM_NO_STATEMENT.to_owned() + "\nExpiration Time: 2023-02-01T00:10:00Z";
    let m = parse(&text).unwrap();
    let expiry = datetime!(2023-02-01 00:10 UTC);
    assert_eq!(
        m.verify(&expectations(expiry - SignedDuration::NANOSECOND)),
        Ok(())
    );
    assert_eq!(m.verify(&expectations(expiry)), Err(SiweError::Expired));
    assert_eq!(
        m.verify(&expectations(expiry + SignedDuration::DAY)),
        Err(SiweError::Expired)
    );
}

#[test]
fn not_before_allows_the_clock_skew() {
    // Issued a day earlier, so only `Not Before` is in question.
    let issued_earlier = edit(
        VIEM_NO_STATEMENT,
        "Issued At: 2023-02-01T00:00:00.000Z",
        "Issued At: 2023-01-31T00:00:00.000Z",
    );
    let text = issued_earlier + "\nNot Before: 2023-02-01T01:00:00+01:00";
    let m = parse(&text).unwrap(); // not before 2023-02-01T00:00:00Z
    let start = datetime!(2023-02-01 00:00 UTC);
    assert_eq!(m.verify(&expectations(start - CLOCK_SKEW)), Ok(()));
    assert_eq!(
        m.verify(&expectations(start - CLOCK_SKEW - SignedDuration::SECOND)),
        Err(SiweError::NotYetValid)
    );
    let later = VIEM_NO_STATEMENT.to_owned() + "\nNot Before: 2023-02-01T01:00:00Z";
    assert_eq!(
        parse(&later).unwrap().verify(&expectations(NOW)),
        Err(SiweError::NotYetValid)
    );
}

#[test]
fn verification_survives_the_ends_of_the_calendar() {
    let m = parse(VIEM_NO_STATEMENT).unwrap();
    let max = time::PlainDateTime::MAX.assume_utc();
    let min = time::PlainDateTime::MIN.assume_utc();
    assert_eq!(m.verify(&expectations(max)), Ok(()));
    assert_eq!(m.verify(&expectations(min)), Err(SiweError::IssuedInFuture));
}

#[test]
fn verify_rechecks_hand_made_messages() {
    let mut m = sample_message();
    m.nonce = "bad nonce".into();
    assert_eq!(
        m.verify(&expectations(NOW)).map_err(|e| e.code()),
        Err("siwe_malformed")
    );
}

// ---------------------------------------------------------------------------
// Signatures
// ---------------------------------------------------------------------------

fn expectations_for_sample() -> Expectations<'static> {
    expectations(NOW)
}

#[test]
fn accepts_the_signers_own_signature() {
    let m = sample_message();
    let text = m.to_string();
    let sig = personal_sign(&KEY_0, text.as_bytes());
    assert_eq!(m.verify_signature(&text, &sig), Ok(()));
    assert_eq!(
        verify_signed_message(&text, &sig, &expectations_for_sample()),
        Ok(m)
    );
}

#[test]
fn accepts_v_as_0_or_1() {
    let m = sample_message();
    let text = m.to_string();
    let mut sig = personal_sign(&KEY_0, text.as_bytes());
    sig[64] -= 27;
    assert_eq!(m.verify_signature(&text, &sig), Ok(()));
}

#[test]
fn checks_the_signature_over_the_text_as_signed() {
    // A wallet signed the legacy layout; the server must check that text,
    // not the canonical rewrite.
    let legacy = edit(
        LEGACY_NO_STATEMENT,
        "0xA0Cf798816D4b9b9866b5330EEa46a18382f251e",
        ADDRESS_0,
    );
    let sig = personal_sign(&KEY_0, legacy.as_bytes());
    let m = verify_signed_message(&legacy, &sig, &expectations(NOW)).unwrap();
    assert_eq!(m.verify_signature(&legacy, &sig), Ok(()));
    assert!(matches!(
        m.verify_signature(&m.to_string(), &sig),
        Err(SiweError::SignerMismatch { .. })
    ));
}

#[test]
fn refuses_another_signer() {
    let m = sample_message();
    let text = m.to_string();
    let sig = personal_sign(&KEY_1, text.as_bytes());
    assert_eq!(
        m.verify_signature(&text, &sig),
        Err(SiweError::SignerMismatch {
            recovered: address(ADDRESS_1)
        })
    );
    assert_eq!(
        verify_signed_message(&text, &sig, &expectations_for_sample()).map_err(|e| e.code()),
        Err("siwe_signer_mismatch")
    );
}

#[test]
fn refuses_a_tampered_message() {
    let text = sample_message().to_string();
    let sig = personal_sign(&KEY_0, text.as_bytes());
    let tampered = edit(&text, "Chain ID: 1", "Chain ID: 10");
    let mut expected = expectations_for_sample();
    expected.chain_id = 10;
    assert!(matches!(
        verify_signed_message(&tampered, &sig, &expected),
        Err(SiweError::SignerMismatch { .. })
    ));
}

#[test]
fn refuses_a_signature_of_other_text() {
    let m = sample_message();
    let other = sample_message()
        .to_string()
        .replace("foobarbaz", "foobarbaz2");
    let sig = personal_sign(&KEY_0, other.as_bytes());
    assert_eq!(
        m.verify_signature(&other, &sig),
        Err(SiweError::MessageMismatch)
    );
    assert_eq!(
        m.verify_signature("not a message", &sig)
            .map_err(|e| e.code()),
        Err("siwe_malformed")
    );
}

#[test]
fn refuses_unusable_signature_bytes() {
    let m = sample_message();
    let text = m.to_string();
    let sig = personal_sign(&KEY_0, text.as_bytes());
    assert_eq!(
        m.verify_signature(&text, &sig[..64]),
        Err(SiweError::InvalidSignature(SignatureError::InvalidLength(
            64
        )))
    );
    let mut bad_v = sig;
    bad_v[64] = 37;
    assert_eq!(
        m.verify_signature(&text, &bad_v),
        Err(SiweError::InvalidSignature(
            SignatureError::InvalidRecoveryId(37)
        ))
    );
    assert_eq!(
        m.verify_signature(&text, &[0u8; 65]),
        Err(SiweError::InvalidSignature(SignatureError::InvalidR))
    );
}

#[test]
fn field_checks_come_before_the_signature() {
    let text = sample_message().to_string();
    let sig = personal_sign(&KEY_0, text.as_bytes());
    let mut expected = expectations_for_sample();
    expected.nonce = "anothernonce";
    assert_eq!(
        verify_signed_message(&text, &sig, &expected),
        Err(SiweError::NonceMismatch)
    );
}

// ---------------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------------

#[test]
fn error_codes_are_distinct_snake_case_and_listed() {
    let errors = [
        SiweError::Malformed {
            line: None,
            reason: "x",
        },
        SiweError::AddressNotChecksummed,
        SiweError::UnsupportedVersion,
        SiweError::DomainMismatch,
        SiweError::SchemeMismatch,
        SiweError::UriMismatch,
        SiweError::ChainIdMismatch,
        SiweError::NonceMismatch,
        SiweError::IssuedInFuture,
        SiweError::Expired,
        SiweError::NotYetValid,
        SiweError::InvalidSignature(SignatureError::HighS),
        SiweError::SignerMismatch {
            recovered: Address::ZERO,
        },
        SiweError::MessageMismatch,
    ];
    let codes: Vec<&str> = errors.iter().map(SiweError::code).collect();
    assert_eq!(codes, SiweError::CODES);
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len());
    for (error, code) in errors.iter().zip(codes) {
        assert!(code.starts_with("siwe_"));
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code}"
        );
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(
        SiweError::Malformed {
            line: Some(3),
            reason: "an empty line is required here"
        }
        .to_string(),
        "malformed sign-in message, line 3: an empty line is required here"
    );
}

// ---------------------------------------------------------------------------
// Hostile input: a tiny deterministic mutation fuzzer.
// ---------------------------------------------------------------------------

/// xorshift64*: deterministic, dependency-free, good enough to pick edits.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Whatever the parser accepts must survive its own `Display`.
#[track_caller]
fn check_consistency(text: &str) {
    if let Ok(m) = parse(text) {
        assert_eq!(m.validate(), Ok(()), "{text:?}");
        let again = m.to_string();
        assert_eq!(parse(&again).as_ref(), Ok(&m), "{text:?}");
    }
}

#[test]
fn every_prefix_parses_or_fails_cleanly() {
    for text in CANONICAL.iter().chain([&LEGACY_NO_STATEMENT]) {
        for (i, _) in text.char_indices() {
            check_consistency(&text[..i]);
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    const PIECES: [&str; 16] = [
        "\n",
        "\n\n",
        " ",
        ":",
        "://",
        "0x",
        "é",
        "🥵",
        "%",
        "%4",
        "Z",
        "T",
        "- ",
        "Resources:",
        "9",
        "\r",
    ];
    let mut rng = Rng(0x5157_4534_3631_0001);
    for round in 0..4000 {
        let base = CANONICAL[round % CANONICAL.len()];
        let mut text = base.to_owned();
        for _ in 0..=rng.below(3) {
            let boundaries: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let at = boundaries[rng.below(boundaries.len())];
            match rng.below(3) {
                0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
                1 => {
                    if let Some(c) = text[at..].chars().next() {
                        text.replace_range(at..at + c.len_utf8(), "");
                    }
                }
                _ => {
                    let len = rng.below(12);
                    let end = boundaries
                        .iter()
                        .copied()
                        .find(|&b| b >= at + len)
                        .unwrap_or(text.len());
                    text.replace_range(at..end, "");
                }
            }
        }
        check_consistency(&text);
    }
}

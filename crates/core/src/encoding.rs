//! Small text encodings shared by the server and the browser.

/// RFC 3986 percent-encoding: everything but unreserved characters
/// (`A–Z a–z 0–9 - . _ ~`) becomes `%XX`. Safe in any URI component.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a
/// space, `%XX` a byte). `None` when an escape is cut short or not hex, or
/// the bytes are not UTF-8.
pub fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        bytes.push(match byte {
            b'+' => b' ',
            b'%' => {
                let high = char::from(input.next()?).to_digit(16)?;
                let low = char::from(input.next()?).to_digit(16)?;
                (high * 16 + low) as u8
            }
            other => other,
        });
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_reverses_encoding() {
        for text in ["ann lee@x.org/{}", "ñ", "", "a+b=c&d"] {
            assert_eq!(form_decode(&percent_encode(text)).as_deref(), Some(text));
        }
        assert_eq!(form_decode("a+b%2Bc").as_deref(), Some("a b+c"));
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%FF"), None);
    }

    #[test]
    fn encodes_all_but_unreserved() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(
            percent_encode("ann lee@x.org/{}"),
            "ann%20lee%40x.org%2F%7B%7D"
        );
        assert_eq!(percent_encode("ñ"), "%C3%B1");
    }
}

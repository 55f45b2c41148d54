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

#[cfg(test)]
mod tests {
    use super::*;

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

//! Server-sent events, decoded incrementally from a byte stream.
//!
//! Hand-written rather than a dependency: the format is small (WHATWG HTML
//! §9.2.6), and the gateway needs exact control over what an incomplete
//! trailing event means, since that is how a cut-off stream shows itself.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` means the default type, "message".
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet terminated.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` opening the next one belongs
    /// to the same CRLF and must not end a second, empty line (which would
    /// dispatch the event early).
    after_cr: bool,
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk, returning the events it completes. Chunks may split
    /// anywhere, including inside a UTF-8 sequence or a CRLF.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(i) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&chunk[..i]);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
            if chunk[i] == b'\r' {
                match chunk.get(i + 1) {
                    Some(b'\n') => chunk = &chunk[i + 2..],
                    Some(_) => chunk = &chunk[i + 1..],
                    None => {
                        self.after_cr = true;
                        chunk = &[];
                    }
                }
            } else {
                chunk = &chunk[i + 1..];
            }
        }
        self.line.extend_from_slice(chunk);
        out
    }

    /// Whether the input so far ends inside an event: the signature of a
    /// stream cut off mid-way, which the spec says to discard.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data || self.event.is_some()
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let mut line = line;
        if !self.started {
            self.started = true;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            // An event with no data is dropped whole, its type included.
            self.event = None;
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            return; // a comment, e.g. a keep-alive
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match name {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            // `id` and `retry` matter to reconnecting browsers; an upstream
            // completion cannot be resumed, so they are ignored.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        p.push(input)
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn named_events_and_data() {
        let got = parse_all(b"event: ping\ndata: {\"a\":1}\n\ndata:x\n\n");
        assert_eq!(got, [ev(Some("ping"), "{\"a\":1}"), ev(None, "x")]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let got = parse_all(b"data: one\ndata: two\ndata:\n\n");
        assert_eq!(got, [ev(None, "one\ntwo\n")]);
    }

    #[test]
    fn crlf_and_lone_cr_terminate_lines() {
        assert_eq!(parse_all(b"data: a\r\n\r\n"), [ev(None, "a")]);
        assert_eq!(
            parse_all(b"data: a\r\rdata: b\r\r"),
            [ev(None, "a"), ev(None, "b")]
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let got = parse_all(b": keep-alive\nid: 7\nretry: 100\nfoo\ndata: a\n\n");
        assert_eq!(got, [ev(None, "a")]);
    }

    #[test]
    fn only_one_space_after_the_colon_is_stripped() {
        assert_eq!(parse_all(b"data:  a\n\n"), [ev(None, " a")]);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert_eq!(parse_all(b"event: x\n\ndata: a\n\n"), [ev(None, "a")]);
    }

    #[test]
    fn leading_bom_is_skipped() {
        assert_eq!(parse_all(b"\xEF\xBB\xBFdata: a\n\n"), [ev(None, "a")]);
    }

    #[test]
    fn any_split_gives_the_same_events() {
        let input = "event: message_start\r\ndata: {\"t\":\"h\u{e9}llo\"}\r\n\r\n: c\r\ndata: 2\r\ndata: 3\r\n\r\n".as_bytes();
        let whole = parse_all(input);
        assert_eq!(whole.len(), 2);
        for size in 1..input.len() {
            let mut p = SseParser::new();
            let mut got = Vec::new();
            for chunk in input.chunks(size) {
                got.extend(p.push(chunk));
            }
            assert_eq!(got, whole, "chunk size {size}");
            assert!(!p.has_partial());
        }
    }

    #[test]
    fn a_cut_event_is_partial() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: a\n\ndata: {\"trunc").len() == 1);
        assert!(p.has_partial());
        let mut p = SseParser::new();
        p.push(b"data: complete-but-unterminated\n");
        assert!(p.has_partial());
    }
}

//! Percent-encoding and -decoding of URL parts (RFC 3986), shared by the
//! places that read or write query strings by hand: SigV4's canonical
//! query, Lambda's HTTP events, tag sets, the dashboard's links.

/// Whether `+` means a space, as in `application/x-www-form-urlencoded`
/// query strings, or stays a `+`, as SigV4 reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    IsSpace,
    Literal,
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays as it
/// is, and bytes that are not UTF-8 become U+FFFD.
pub fn decode(text: &str, plus: Plus) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus == Plus::IsSpace => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - _ . ~`)
/// as `%XX`: safe in a query value or a path segment.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_bytes() {
        assert_eq!(encode("a b/é~"), "a%20b%2F%C3%A9~");
        assert_eq!(decode(&encode("a b/é+"), Plus::Literal), "a b/é+");
    }

    #[test]
    fn escapes_decode_and_plus_follows_the_flag() {
        assert_eq!(decode("a%20b+c%2Fd", Plus::IsSpace), "a b c/d");
        assert_eq!(decode("a%20b+c%2fd", Plus::Literal), "a b+c/d");
        // Truncated or non-hex escapes stay as they are.
        assert_eq!(decode("100%", Plus::Literal), "100%");
        assert_eq!(decode("%4", Plus::Literal), "%4");
        assert_eq!(decode("%zz%41", Plus::Literal), "%zzA");
        // Bytes that are not UTF-8 are replaced, not dropped.
        assert_eq!(decode("%FF", Plus::Literal), "\u{FFFD}");
    }
}

//! Human units in manifests: durations (`30s`, `1m30s`, `250ms`) and sizes
//! (`128MiB`, `1GiB`, `512MB`).

/// Parses a duration like `30s`, `250ms`, `1m30s`, `2h`, `4d` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"250ms\" or \"5m\"".into());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration; write a number and a unit (ms, s, m, h), e.g. \"30s\""
            ));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let factor = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "`{text}` has no unit; write e.g. \"{value}s\" or \"{value}ms\""
                ));
            }
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{text}`; use ms, s, m, h or d"
                ));
            }
        };
        total = value
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{text}` is too large"))?;
    }
    Ok(total)
}

/// Parses a size like `128MiB`, `1GiB`, `64MB` or a bare byte count.
pub fn parse_size_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(format!(
            "`{text}` is not a size; write a number and a unit, e.g. \"128MiB\""
        ));
    }
    let value: u64 = text[..digits]
        .parse()
        .map_err(|_| format!("`{text}` is too large"))?;
    let factor: u64 = match text[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` in `{text}`; use KiB, MiB, GiB (or KB, MB, GB)"
            ));
        }
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Formats bytes the way manifests write them (`128MiB`).
pub fn format_size(bytes: u64) -> String {
    for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

/// Formats milliseconds the way manifests write them (`30s`).
pub fn format_duration(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) && ms > 0 {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_duration_ms("4d"), Ok(345_600_000));
        assert!(parse_duration_ms("30").unwrap_err().contains("no unit"));
        assert!(parse_duration_ms("30 seconds").is_err());
        assert!(parse_duration_ms("fast").is_err());
        assert!(
            parse_duration_ms("5w")
                .unwrap_err()
                .contains("unknown duration unit")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_bytes("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size_bytes("64MB"), Ok(64_000_000));
        assert_eq!(parse_size_bytes("4096"), Ok(4096));
        assert!(parse_size_bytes("lots").is_err());
        assert!(parse_size_bytes("12TB").is_err());
        assert_eq!(format_size(128 << 20), "128MiB");
        assert_eq!(format_duration(30_000), "30s");
    }
}

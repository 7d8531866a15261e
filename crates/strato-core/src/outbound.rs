//! `allowed_outbound_hosts` rules: `scheme://host[:port]` where each part may
//! be `*`, and a host may start with `*.` to allow every subdomain.
//! Without a port the scheme's default port is meant (80 or 443).

use serde::{Deserialize, Serialize};

/// One parsed allow rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OutboundRule {
    text: String,
    scheme: Option<String>,
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com` stored as `.example.com`.
    Suffix(String),
}

impl OutboundRule {
    pub fn parse(text: &str) -> Result<OutboundRule, String> {
        let hint = "write `scheme://host[:port]`, e.g. \"https://api.example.com\" or \"http://127.0.0.1:8080\"";
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("outbound host `{text}` has no scheme; {hint}"))?;
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            other => return Err(format!("outbound scheme `{other}` is not http, https or *")),
        };
        if rest.contains('/') {
            return Err(format!(
                "outbound host `{text}` must not have a path; {hint}"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, "*")) => (h, None),
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| format!("outbound port `{p}` in `{text}` is not a number"))?,
                ),
            ),
            None => {
                let default = match scheme.as_deref() {
                    Some("http") => Some(80),
                    Some("https") => Some(443),
                    _ => None,
                };
                (rest, default)
            }
        };
        if host.is_empty() {
            return Err(format!("outbound host `{text}` has no host; {hint}"));
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{}", suffix.to_ascii_lowercase()))
        } else if host.contains('*') {
            return Err(format!(
                "outbound host `{text}` may use `*` only as the whole host or a leading `*.`"
            ));
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        Ok(OutboundRule {
            text: text.to_string(),
            scheme,
            host,
            port,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed by this rule.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if let Some(s) = &self.scheme
            && s != scheme
        {
            return false;
        }
        if let Some(p) = self.port
            && p != port
        {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => *h == host,
            HostPattern::Suffix(s) => host.ends_with(s.as_str()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for OutboundRule {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        OutboundRule::parse(&s)
    }
}

impl From<OutboundRule> for String {
    fn from(r: OutboundRule) -> String {
        r.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_scheme_host_and_port() {
        let r = OutboundRule::parse("http://127.0.0.1:8080").unwrap();
        assert!(r.allows("http", "127.0.0.1", 8080));
        assert!(!r.allows("http", "127.0.0.1", 8081));
        assert!(!r.allows("https", "127.0.0.1", 8080));
        let r = OutboundRule::parse("https://*.example.com").unwrap();
        assert!(r.allows("https", "api.example.com", 443));
        assert!(!r.allows("https", "example.org", 443));
        assert!(!r.allows("https", "api.example.com", 8443));
        let r = OutboundRule::parse("*://*:*").unwrap();
        assert!(r.allows("http", "anything", 1));
        assert!(OutboundRule::parse("example.com").is_err());
        assert!(OutboundRule::parse("ftp://x").is_err());
        assert!(OutboundRule::parse("http://x/path").is_err());
        assert!(OutboundRule::parse("http://x:port").is_err());
    }
}

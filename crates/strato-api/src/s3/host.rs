//! Which bucket a request names: virtual-host style (`BUCKET.DOMAIN`, for
//! the server's S3 domain) or path-style (`/BUCKET/KEY`, any other host,
//! an IP address included).

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The S3 domain virtual-host-style requests end with.
pub(crate) struct StratoHost {
    pub domain: Option<String>,
}

/// `host` without its port.
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

impl StratoHost {
    /// The bucket a `Host` header names, if it is `BUCKET.DOMAIN[:PORT]`.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let domain = self.domain.as_deref()?;
        let name = without_port(host);
        let bucket = name
            .len()
            .checked_sub(domain.len() + 1)
            .filter(|&at| {
                name[at + 1..].eq_ignore_ascii_case(domain) && name.as_bytes()[at] == b'.'
            })
            .map(|at| &name[..at])?;
        (!bucket.is_empty()).then_some(bucket)
    }
}

impl S3Host for StratoHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_come_from_the_domain_only() {
        let host = StratoHost {
            domain: Some("s3.localhost".into()),
        };
        assert_eq!(host.bucket_of("media.s3.localhost:9000"), Some("media"));
        assert_eq!(
            host.bucket_of("my.dotted.bucket.s3.localhost"),
            Some("my.dotted.bucket")
        );
        assert_eq!(host.bucket_of("s3.localhost:9000"), None);
        assert_eq!(host.bucket_of("127.0.0.1:9000"), None);
        assert_eq!(host.bucket_of("evils3.localhost"), None);
        assert_eq!(host.bucket_of(".s3.localhost"), None);
        let none = StratoHost { domain: None };
        assert_eq!(none.bucket_of("media.s3.localhost"), None);
    }
}

//! S3's additional checksums on the wire: which one an upload asks for
//! (a value in `x-amz-checksum-*`, a trailer named by `x-amz-trailer` in
//! an aws-chunked body, or only `x-amz-sdk-checksum-algorithm`), and the
//! `Checksum*` fields of the answers. The engine computes and compares.

use s3s::dto::ChecksumType;
use s3s::{S3Result, s3_error};
use std::collections::BTreeMap;
use std::sync::Arc;
use strato_engine::buckets::{ChecksumAlgorithm, ChecksumCheck, Expected};

/// The checksum an upload asks for, if any.
pub(crate) fn requested(
    headers: &http::HeaderMap,
    trailers: Option<s3s::TrailingHeaders>,
) -> S3Result<Option<ChecksumCheck>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let given: Vec<(ChecksumAlgorithm, &str)> = ChecksumAlgorithm::ALL
        .into_iter()
        .filter_map(|a| header(a.header()).map(|v| (a, v)))
        .collect();
    if given.len() > 1 {
        return Err(s3_error!(
            InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        ));
    }
    if let Some((algorithm, value)) = given.into_iter().next() {
        return Ok(Some(ChecksumCheck {
            algorithm,
            expected: Expected::Header(value.to_string()),
        }));
    }
    let trailer = header("x-amz-trailer")
        .map(str::trim)
        .filter(|t| t.starts_with("x-amz-checksum-"));
    if let Some(name) = trailer {
        let algorithm = ChecksumAlgorithm::ALL
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                s3_error!(
                    InvalidRequest,
                    "the trailer {name} is not a checksum S3 knows"
                )
            })?;
        let trailers = trailers.ok_or_else(|| {
            s3_error!(
                InvalidRequest,
                "x-amz-trailer needs an aws-chunked body with a trailer"
            )
        })?;
        let name = algorithm.header();
        let read = move || {
            trailers
                .read(|h| {
                    h.get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                })
                .flatten()
        };
        return Ok(Some(ChecksumCheck {
            algorithm,
            expected: Expected::Trailer(Arc::new(read)),
        }));
    }
    match header("x-amz-sdk-checksum-algorithm").or(header("x-amz-checksum-algorithm")) {
        None => Ok(None),
        Some(name) => match ChecksumAlgorithm::parse(name) {
            Some(algorithm) => Ok(Some(ChecksumCheck {
                algorithm,
                expected: Expected::Nothing,
            })),
            None => Err(s3_error!(
                InvalidRequest,
                "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
            )),
        },
    }
}

/// The `Checksum*` fields of an answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Checksums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub kind: Option<ChecksumType>,
}

impl Checksums {
    /// One computed value (an upload's answer).
    pub(crate) fn of(computed: Option<(ChecksumAlgorithm, String)>) -> Checksums {
        let mut out = Checksums::default();
        if let Some((algorithm, value)) = computed {
            out.set(algorithm, value);
            out.kind = Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
        }
        out
    }

    /// What an object keeps in its stored headers.
    pub(crate) fn stored(headers: &BTreeMap<String, String>) -> Checksums {
        let mut out = Checksums::default();
        for algorithm in ChecksumAlgorithm::ALL {
            if let Some(v) = headers.get(algorithm.header()) {
                out.set(algorithm, v.clone());
            }
        }
        out.kind = headers
            .get("x-amz-checksum-type")
            .map(|t| ChecksumType::from(t.clone()));
        out
    }

    fn set(&mut self, algorithm: ChecksumAlgorithm, value: String) {
        let slot = match algorithm {
            ChecksumAlgorithm::Crc32 => &mut self.crc32,
            ChecksumAlgorithm::Crc32c => &mut self.crc32c,
            ChecksumAlgorithm::Crc64Nvme => &mut self.crc64nvme,
            ChecksumAlgorithm::Sha1 => &mut self.sha1,
            ChecksumAlgorithm::Sha256 => &mut self.sha256,
        };
        *slot = Some(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn uploads_ask_by_value_by_trailer_or_by_name() {
        let by_value = requested(&headers(&[("x-amz-checksum-crc32c", "yZRlqg==")]), None)
            .unwrap()
            .unwrap();
        assert_eq!(by_value.algorithm, ChecksumAlgorithm::Crc32c);
        assert!(by_value.verify("yZRlqg==").is_ok() && by_value.verify("AAAAAA==").is_err());
        let by_name = requested(
            &headers(&[("x-amz-sdk-checksum-algorithm", "SHA256")]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(by_name.algorithm, ChecksumAlgorithm::Sha256);
        assert!(by_name.verify("anything").is_ok());
        assert!(requested(&headers(&[]), None).unwrap().is_none());
        // Two values, an unknown name, or a trailer without a chunked body.
        for bad in [
            headers(&[("x-amz-checksum-crc32", "a"), ("x-amz-checksum-sha1", "b")]),
            headers(&[("x-amz-sdk-checksum-algorithm", "MD5")]),
            headers(&[("x-amz-trailer", "x-amz-checksum-crc32")]),
        ] {
            assert!(requested(&bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_checksums_come_back_with_their_type() {
        let stored: BTreeMap<String, String> = [
            (
                "x-amz-checksum-crc64nvme".to_string(),
                "jSnVw/bqjr4=".to_string(),
            ),
            ("x-amz-checksum-type".to_string(), "FULL_OBJECT".to_string()),
            ("cache-control".to_string(), "no-cache".to_string()),
        ]
        .into();
        let c = Checksums::stored(&stored);
        assert_eq!(c.crc64nvme.as_deref(), Some("jSnVw/bqjr4="));
        assert_eq!(c.crc32, None);
        assert_eq!(c.kind.as_ref().map(|k| k.as_str()), Some("FULL_OBJECT"));
        assert_eq!(Checksums::stored(&BTreeMap::new()), Checksums::default());
    }
}

//! The additional checksums S3 clients send and expect back
//! (`x-amz-checksum-crc32`, `-crc32c`, `-crc64nvme`, `-sha1`, `-sha256`):
//! computed while the bytes are stored, compared with the value the client
//! declared in a header or in an aws-chunked body's trailer, and kept with
//! the object (in its stored headers) to be answered later.

use base64::Engine as _;
use std::sync::Arc;

/// One of S3's checksum algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// S3's name, as in `x-amz-sdk-checksum-algorithm: CRC32`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header carrying it, which is also the name it is stored under.
    pub fn header(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn parse(name: &str) -> Option<ChecksumAlgorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn hasher(self) -> ChecksumHasher {
        use sha1::Digest as _;
        match self {
            ChecksumAlgorithm::Crc32 => ChecksumHasher::Crc(
                crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
                4,
            ),
            ChecksumAlgorithm::Crc32c => {
                ChecksumHasher::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi), 4)
            }
            ChecksumAlgorithm::Crc64Nvme => {
                ChecksumHasher::Crc(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme), 8)
            }
            ChecksumAlgorithm::Sha1 => ChecksumHasher::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => ChecksumHasher::Sha256(sha2::Sha256::new()),
        }
    }
}

/// A running checksum of one algorithm.
pub enum ChecksumHasher {
    /// A CRC and its width in bytes.
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl ChecksumHasher {
    pub fn update(&mut self, data: &[u8]) {
        use sha1::Digest as _;
        match self {
            ChecksumHasher::Crc(d, _) => d.update(data),
            ChecksumHasher::Sha1(d) => d.update(data),
            ChecksumHasher::Sha256(d) => d.update(data),
        }
    }

    /// The checksum as S3 writes it: the big-endian digest, base64.
    pub fn finalize(self) -> String {
        use sha1::Digest as _;
        let bytes = match self {
            ChecksumHasher::Crc(d, width) => d.finalize().to_be_bytes()[8 - width..].to_vec(),
            ChecksumHasher::Sha1(d) => d.finalize().to_vec(),
            ChecksumHasher::Sha256(d) => d.finalize().to_vec(),
        };
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// Reads a trailer's value once the body has been read to its end.
pub type TrailerReader = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The checksum a client asked for on an upload, and the value it
/// declared, if any.
#[derive(Clone)]
pub struct ChecksumCheck {
    pub algorithm: ChecksumAlgorithm,
    pub expected: Expected,
}

/// Where the client's value is.
#[derive(Clone)]
pub enum Expected {
    /// Nothing to compare: the checksum is computed and kept.
    Nothing,
    /// In a header, before the body.
    Header(String),
    /// In the aws-chunked body's trailer, known once the body is read.
    Trailer(TrailerReader),
}

impl std::fmt::Debug for ChecksumCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let expected = match &self.expected {
            Expected::Nothing => "nothing",
            Expected::Header(_) => "header",
            Expected::Trailer(_) => "trailer",
        };
        write!(f, "{} from the {expected}", self.algorithm.name())
    }
}

impl ChecksumCheck {
    /// Compares the computed value with the declared one; `Err` names the
    /// algorithm that did not match.
    pub fn verify(&self, actual: &str) -> Result<(), ChecksumAlgorithm> {
        let declared = match &self.expected {
            Expected::Nothing => None,
            Expected::Header(v) => Some(v.clone()),
            Expected::Trailer(read) => read(),
        };
        match declared {
            Some(v) if v.trim() != actual => Err(self.algorithm),
            _ => Ok(()),
        }
    }
}

/// How a multipart upload's checksum is made, chosen when it is created
/// and kept in its stored headers until it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadChecksum {
    pub algorithm: ChecksumAlgorithm,
    /// One checksum of the whole object (CRCs only), rather than S3's
    /// COMPOSITE checksum of the parts' checksums.
    pub full_object: bool,
}

const UPLOAD_ALGORITHM: &str = "x-amz-checksum-algorithm";
const CHECKSUM_TYPE: &str = "x-amz-checksum-type";

impl UploadChecksum {
    /// S3's rules: CRC64NVME is always FULL_OBJECT, SHA1 and SHA256 always
    /// COMPOSITE, CRC32 and CRC32C either (COMPOSITE unless asked).
    pub fn new(algorithm: ChecksumAlgorithm, kind: Option<&str>) -> Result<UploadChecksum, String> {
        let full_object = match (algorithm, kind.map(str::to_ascii_uppercase).as_deref()) {
            (ChecksumAlgorithm::Crc64Nvme, None | Some("FULL_OBJECT")) => true,
            (_, None | Some("COMPOSITE")) if algorithm != ChecksumAlgorithm::Crc64Nvme => false,
            (ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c, Some("FULL_OBJECT")) => true,
            (_, Some(kind @ ("FULL_OBJECT" | "COMPOSITE"))) => {
                return Err(format!(
                    "The {kind} checksum type cannot be used with the {} checksum algorithm.",
                    algorithm.name().to_ascii_lowercase()
                ));
            }
            (_, Some(other)) => {
                return Err(format!(
                    "the checksum type {other} is not FULL_OBJECT or COMPOSITE"
                ));
            }
            (_, None) => unreachable!("every algorithm has a default type"),
        };
        Ok(UploadChecksum {
            algorithm,
            full_object,
        })
    }

    /// The checksum an upload was created with, from its stored headers.
    pub fn of(headers: &std::collections::BTreeMap<String, String>) -> Option<UploadChecksum> {
        let algorithm = ChecksumAlgorithm::parse(headers.get(UPLOAD_ALGORITHM)?)?;
        Some(UploadChecksum {
            algorithm,
            full_object: headers
                .get(CHECKSUM_TYPE)
                .is_some_and(|t| t == "FULL_OBJECT"),
        })
    }

    /// Keeps it in an upload's stored headers.
    pub fn record(self, headers: &mut std::collections::BTreeMap<String, String>) {
        headers.insert(UPLOAD_ALGORITHM.into(), self.algorithm.name().into());
        headers.insert(CHECKSUM_TYPE.into(), self.kind().into());
    }

    /// Removes it from the headers the object inherits.
    pub fn forget(headers: &mut std::collections::BTreeMap<String, String>) {
        headers.remove(UPLOAD_ALGORITHM);
        headers.remove(CHECKSUM_TYPE);
    }

    pub fn kind(self) -> &'static str {
        if self.full_object {
            "FULL_OBJECT"
        } else {
            "COMPOSITE"
        }
    }

    /// S3's COMPOSITE checksum: the checksum of the parts' binary
    /// checksums, then `-N`; `None` if a part has none.
    pub fn composite(self, parts: &[Option<String>]) -> Option<String> {
        let mut hasher = self.algorithm.hasher();
        for sum in parts {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(sum.as_deref()?)
                .ok()?;
            hasher.update(&raw);
        }
        Some(format!("{}-{}", hasher.finalize(), parts.len()))
    }
}

/// Keeps an object's checksum with its stored headers, under the header
/// that carries it, with its type.
pub fn keep_checksum(
    headers: &mut std::collections::BTreeMap<String, String>,
    algorithm: ChecksumAlgorithm,
    value: String,
    kind: &str,
) {
    headers.insert(algorithm.header().to_string(), value);
    headers.insert(CHECKSUM_TYPE.to_string(), kind.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = algorithm.hasher();
        // In two pieces: the state carries across updates.
        h.update(&data[..3]);
        h.update(&data[3..]);
        h.finalize()
    }

    #[test]
    fn checksums_match_known_values() {
        // "hello world", as S3 and the AWS SDKs compute them.
        let data = b"hello world";
        assert_eq!(of(ChecksumAlgorithm::Crc32, data), "DUoRhQ==");
        assert_eq!(of(ChecksumAlgorithm::Crc32c, data), "yZRlqg==");
        assert_eq!(of(ChecksumAlgorithm::Crc64Nvme, data), "jSnVw/bqjr4=");
        assert_eq!(
            of(ChecksumAlgorithm::Sha1, data),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            of(ChecksumAlgorithm::Sha256, data),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }

    #[test]
    fn names_parse_and_declared_values_are_compared() {
        assert_eq!(
            ChecksumAlgorithm::parse("crc64nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
        assert_eq!(ChecksumAlgorithm::parse("md5"), None);
        let check = |expected| ChecksumCheck {
            algorithm: ChecksumAlgorithm::Crc32,
            expected,
        };
        assert!(check(Expected::Nothing).verify("x").is_ok());
        assert!(
            check(Expected::Header("DUoRhQ==".into()))
                .verify("DUoRhQ==")
                .is_ok()
        );
        assert_eq!(
            check(Expected::Trailer(Arc::new(|| Some("AAAAAA==".into())))).verify("DUoRhQ=="),
            Err(ChecksumAlgorithm::Crc32)
        );
    }

    #[test]
    fn upload_checksum_types_follow_s3s_rules() {
        use ChecksumAlgorithm::*;
        let kind = |a, k| UploadChecksum::new(a, k).map(UploadChecksum::kind);
        assert_eq!(kind(Crc64Nvme, None), Ok("FULL_OBJECT"));
        assert_eq!(kind(Crc32, None), Ok("COMPOSITE"));
        assert_eq!(kind(Crc32c, Some("FULL_OBJECT")), Ok("FULL_OBJECT"));
        assert_eq!(kind(Sha256, Some("COMPOSITE")), Ok("COMPOSITE"));
        assert!(kind(Sha1, Some("FULL_OBJECT")).is_err());
        assert!(kind(Crc64Nvme, Some("COMPOSITE")).is_err());
        assert!(kind(Crc32, Some("SOMETIMES")).is_err());
        let mut headers = std::collections::BTreeMap::new();
        UploadChecksum::new(Sha256, None)
            .unwrap()
            .record(&mut headers);
        assert_eq!(
            UploadChecksum::of(&headers),
            UploadChecksum::new(Sha256, None).ok()
        );
        UploadChecksum::forget(&mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn composite_checksums_hash_the_parts_checksums() {
        let parts = [
            Some(of(ChecksumAlgorithm::Crc32, b"hello ")),
            Some(of(ChecksumAlgorithm::Crc32, b"world")),
        ];
        let raw: Vec<u8> = parts
            .iter()
            .flat_map(|p| {
                base64::engine::general_purpose::STANDARD
                    .decode(p.as_ref().unwrap())
                    .unwrap()
            })
            .collect();
        let mut h = ChecksumAlgorithm::Crc32.hasher();
        h.update(&raw);
        let crc32 = UploadChecksum::new(ChecksumAlgorithm::Crc32, None).unwrap();
        assert_eq!(crc32.composite(&parts), Some(format!("{}-2", h.finalize())));
        assert_eq!(crc32.composite(&[parts[0].clone(), None]), None);
    }
}

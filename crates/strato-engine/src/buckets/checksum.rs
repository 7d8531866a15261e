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
}

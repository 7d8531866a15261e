//! Server-side encryption at rest: SSE-S3 (a random data key per object,
//! sealed with the server's master key and kept in the object's headers)
//! and SSE-C (the customer's key, sent with every request, of which only
//! the MD5 is kept).
//!
//! An encrypted blob is an 8-byte random nonce prefix followed by the
//! object's bytes in 64 KiB chunks, each sealed with AES-256-GCM under the
//! nonce `prefix || chunk index`; a range read opens only the chunks it
//! covers. The object's size and ETag stay those of the plaintext, and the
//! number of chunks follows from the size, so a truncated blob fails to
//! open. A multipart upload's parts are sealed with the upload's key (each
//! blob with its own random prefix) and the assembled object again.

use super::BucketError;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 64 << 10;
const TAG: usize = 16;
const PREFIX: usize = 8;

/// Stored headers: S3's own, answered to clients...
pub const SSE_HEADER: &str = "x-amz-server-side-encryption";
pub const SSE_C_ALGORITHM_HEADER: &str = "x-amz-server-side-encryption-customer-algorithm";
pub const SSE_C_KEY_MD5_HEADER: &str = "x-amz-server-side-encryption-customer-key-md5";
/// ...and Strato's: an SSE-S3 object's data key, sealed.
const SEALED_KEY_HEADER: &str = "x-strato-sse-key";

const SSE_HEADERS: [&str; 4] = [
    SSE_HEADER,
    SSE_C_ALGORITHM_HEADER,
    SSE_C_KEY_MD5_HEADER,
    SEALED_KEY_HEADER,
];

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn aes_key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key"))
}

/// The key every SSE-S3 data key is sealed with (`<data-dir>/sse.key`).
#[derive(Clone)]
pub struct MasterKey(Arc<LessSafeKey>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn new(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Arc::new(aes_key(&bytes)))
    }

    /// A data key sealed: base64 of nonce, ciphertext and tag.
    fn seal(&self, data_key: &[u8; 32]) -> String {
        let nonce: [u8; 12] = rand::random();
        let mut sealed = data_key.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .expect("sealing 32 bytes");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        b64().encode(out)
    }

    fn open(&self, text: &str) -> Result<[u8; 32], BucketError> {
        let bad = || BucketError::Storage("an object's sealed data key does not open".into());
        let raw = b64().decode(text).map_err(|_| bad())?;
        if raw.len() != 12 + 32 + TAG {
            return Err(bad());
        }
        let (nonce, sealed) = raw.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut sealed = sealed.to_vec();
        let key = self
            .0
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .map_err(|_| bad())?;
        key.try_into().map_err(|_| bad())
    }
}

/// A customer's key (SSE-C), checked against its MD5.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    /// Base64 MD5 of the key, as the client sends it.
    pub md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("md5", &self.md5)
            .finish_non_exhaustive()
    }
}

impl CustomerKey {
    /// From the three SSE-C headers' values: the algorithm (only
    /// `AES256`), the base64 key and its base64 MD5.
    pub fn parse(algorithm: &str, key: &str, md5: &str) -> Result<CustomerKey, BucketError> {
        use md5::Digest;
        if algorithm != "AES256" {
            return Err(BucketError::InvalidEncryption(
                "The encryption algorithm specified is not valid; use AES256".into(),
            ));
        }
        let key: [u8; 32] = b64()
            .decode(key.trim())
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| {
                BucketError::InvalidEncryption(
                    "The secret key was invalid for the specified algorithm (a 256-bit key, base64)"
                        .into(),
                )
            })?;
        let actual = b64().encode(md5::Md5::digest(key));
        if actual != md5.trim() {
            return Err(BucketError::InvalidEncryption(
                "The calculated MD5 hash of the key did not match the hash that was provided"
                    .into(),
            ));
        }
        Ok(CustomerKey { key, md5: actual })
    }
}

/// How a write asks its bytes to be kept.
#[derive(Debug, Clone, Default)]
pub enum Encryption {
    /// As the bucket's default says (none, unless it has one).
    #[default]
    Default,
    /// SSE-S3: `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-C: with the customer's key.
    Customer(CustomerKey),
}

/// The cipher of one object's (or part's) blob.
#[derive(Clone)]
pub struct BlobCipher {
    key: Arc<LessSafeKey>,
}

fn nonce(prefix: &[u8; PREFIX], index: u32) -> Nonce {
    let mut n = [0u8; 12];
    n[..PREFIX].copy_from_slice(prefix);
    n[PREFIX..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

/// Size of a blob holding `size` plaintext bytes.
pub fn sealed_size(size: u64) -> u64 {
    let chunks = size.div_ceil(CHUNK as u64);
    PREFIX as u64 + size + chunks * TAG as u64
}

impl BlobCipher {
    fn new(key: &[u8; 32]) -> BlobCipher {
        BlobCipher {
            key: Arc::new(aes_key(key)),
        }
    }

    fn seal_chunk(&self, prefix: &[u8; PREFIX], index: u32, chunk: &mut Vec<u8>) {
        self.key
            .seal_in_place_append_tag(nonce(prefix, index), Aad::empty(), chunk)
            .expect("sealing a chunk");
    }

    /// Seals bytes held in memory (small objects).
    pub fn seal_all(&self, plain: &[u8]) -> Vec<u8> {
        let prefix: [u8; PREFIX] = rand::random();
        let mut out = Vec::with_capacity(sealed_size(plain.len() as u64) as usize);
        out.extend_from_slice(&prefix);
        for (index, chunk) in plain.chunks(CHUNK).enumerate() {
            let mut sealed = chunk.to_vec();
            self.seal_chunk(&prefix, index as u32, &mut sealed);
            out.extend(sealed);
        }
        out
    }

    /// Seals a stream of plaintext as it goes: the prefix first, then one
    /// sealed chunk per 64 KiB.
    pub fn seal_stream<'a, S>(
        &self,
        body: S,
    ) -> impl Stream<Item = Result<Bytes, String>> + Send + 'a
    where
        S: Stream<Item = Result<Bytes, String>> + Send + 'a,
    {
        let prefix: [u8; PREFIX] = rand::random();
        let cipher = self.clone();
        let head = futures::stream::once(async move { Ok(Bytes::copy_from_slice(&prefix)) });
        let chunks = rechunk(body, CHUNK).enumerate().map(move |(index, chunk)| {
            let mut sealed = chunk?.to_vec();
            cipher.seal_chunk(&prefix, index as u32, &mut sealed);
            Ok(Bytes::from(sealed))
        });
        head.chain(chunks)
    }

    /// The blob range holding plaintext `range`, and the index of its
    /// first chunk.
    pub fn blob_range(range: &Range<u64>, size: u64) -> (Range<u64>, u32) {
        let first = range.start / CHUNK as u64;
        let last = range.end.saturating_sub(1) / CHUNK as u64;
        let sealed = (CHUNK + TAG) as u64;
        let start = PREFIX as u64 + first * sealed;
        let end = (PREFIX as u64 + (last + 1) * sealed).min(sealed_size(size));
        (start..end, first as u32)
    }

    /// Opens the sealed chunks of `blob` (the bytes of
    /// [`BlobCipher::blob_range`]) and yields plaintext `range`.
    pub fn open_stream<'a, S>(
        &self,
        prefix: [u8; PREFIX],
        blob: S,
        range: Range<u64>,
        first_chunk: u32,
    ) -> impl Stream<Item = Result<Bytes, String>> + Send + 'a
    where
        S: Stream<Item = Result<Bytes, String>> + Send + 'a,
    {
        let cipher = self.clone();
        let mut skip = (range.start - u64::from(first_chunk) * CHUNK as u64) as usize;
        let mut left = range.end - range.start;
        rechunk(blob, CHUNK + TAG)
            .enumerate()
            .map(move |(i, chunk)| {
                let mut sealed = chunk?.to_vec();
                let index = first_chunk + i as u32;
                let plain = cipher
                    .key
                    .open_in_place(nonce(&prefix, index), Aad::empty(), &mut sealed)
                    .map_err(|_| format!("encrypted chunk {index} does not open"))?;
                let from = skip.min(plain.len());
                skip -= from;
                let take = ((plain.len() - from) as u64).min(left) as usize;
                left -= take as u64;
                Ok(Bytes::copy_from_slice(&plain[from..from + take]))
            })
            .filter(|c| std::future::ready(!matches!(c, Ok(b) if b.is_empty())))
    }

    /// The nonce prefix a sealed blob starts with.
    pub fn prefix_of(head: &[u8]) -> Result<[u8; PREFIX], BucketError> {
        head.get(..PREFIX)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| BucketError::Storage("an encrypted blob is too short".into()))
    }
}

/// Regroups a stream of byte chunks into chunks of exactly `size` bytes
/// (the last one shorter).
fn rechunk<'a, S>(body: S, size: usize) -> impl Stream<Item = Result<Bytes, String>> + Send + 'a
where
    S: Stream<Item = Result<Bytes, String>> + Send + 'a,
{
    futures::stream::unfold(
        (Box::pin(body), BytesMut::new(), false),
        move |(mut body, mut buf, done)| async move {
            if done {
                return None;
            }
            while buf.len() < size {
                match body.next().await {
                    Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
                    Some(Err(e)) => return Some((Err(e), (body, buf, true))),
                    None => {
                        if buf.is_empty() {
                            return None;
                        }
                        let last = buf.split().freeze();
                        return Some((Ok(last), (body, buf, true)));
                    }
                }
            }
            let chunk = buf.split_to(size).freeze();
            Some((Ok(chunk), (body, buf, false)))
        },
    )
}

/// The encryption a write ends up with: its headers to keep and its
/// cipher (none for a plain object).
pub(super) struct Sealing {
    pub headers: BTreeMap<String, String>,
    pub cipher: Option<BlobCipher>,
}

/// What a new object (or upload) gets: from the request, else the
/// bucket's default (`bucket_default` is `AES256` when it has one).
pub(super) fn sealing_for_write(
    master: &MasterKey,
    encryption: &Encryption,
    bucket_default: bool,
) -> Sealing {
    let mut headers = BTreeMap::new();
    let cipher = match encryption {
        Encryption::Default if !bucket_default => None,
        Encryption::Default | Encryption::S3 => {
            let data_key: [u8; 32] = rand::random();
            headers.insert(SSE_HEADER.to_string(), "AES256".to_string());
            headers.insert(SEALED_KEY_HEADER.to_string(), master.seal(&data_key));
            Some(BlobCipher::new(&data_key))
        }
        Encryption::Customer(key) => {
            headers.insert(SSE_C_ALGORITHM_HEADER.to_string(), "AES256".to_string());
            headers.insert(SSE_C_KEY_MD5_HEADER.to_string(), key.md5.clone());
            Some(BlobCipher::new(&key.key))
        }
    };
    Sealing { headers, cipher }
}

/// The cipher that opens an object (or upload) stored with `headers`,
/// given the customer's key when the request carries one.
pub(super) fn cipher_for_read(
    master: &MasterKey,
    headers: &BTreeMap<String, String>,
    customer: Option<&CustomerKey>,
) -> Result<Option<BlobCipher>, BucketError> {
    if let (Some(sealed), None) = (headers.get(SEALED_KEY_HEADER), customer) {
        return Ok(Some(BlobCipher::new(&master.open(sealed)?)));
    }
    match (headers.get(SSE_C_KEY_MD5_HEADER), customer) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(BucketError::InvalidEncryption(
            "The encryption parameters are not applicable to this object".into(),
        )),
        (Some(_), None) => Err(BucketError::InvalidEncryption(
            "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.".into(),
        )),
        (Some(md5), Some(key)) if *md5 != key.md5 => Err(BucketError::WrongCustomerKey),
        (Some(_), Some(key)) => Ok(Some(BlobCipher::new(&key.key))),
    }
}

/// Removes an object's encryption headers (a copy gets its own).
pub(super) fn strip(headers: &mut BTreeMap<String, String>) {
    for name in SSE_HEADERS {
        headers.remove(name);
    }
}

/// Whether stored headers mark an SSE-C object (whose reads need a key).
pub fn is_customer_encrypted(headers: &BTreeMap<String, String>) -> bool {
    headers.contains_key(SSE_C_KEY_MD5_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open_range(
        cipher: &BlobCipher,
        sealed: &[u8],
        size: u64,
        range: Range<u64>,
    ) -> Vec<u8> {
        let (blob_range, first) = BlobCipher::blob_range(&range, size);
        let prefix = BlobCipher::prefix_of(sealed).unwrap();
        let part =
            Bytes::copy_from_slice(&sealed[blob_range.start as usize..blob_range.end as usize]);
        // Handed over in odd pieces, as a blob stream may be.
        let pieces: Vec<Result<Bytes, String>> = part
            .chunks(1000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let out: Vec<Result<Bytes, String>> = cipher
            .open_stream(prefix, futures::stream::iter(pieces), range, first)
            .collect()
            .await;
        out.into_iter().flat_map(|c| c.unwrap().to_vec()).collect()
    }

    #[tokio::test]
    async fn sealed_bytes_open_whole_and_by_range_and_not_when_tampered() {
        let cipher = BlobCipher::new(&[7; 32]);
        let plain: Vec<u8> = (0..(CHUNK * 2 + 100)).map(|i| (i % 251) as u8).collect();
        let size = plain.len() as u64;
        // Streamed and in-memory sealing make the same layout.
        let pieces: Vec<Result<Bytes, String>> = plain
            .chunks(777)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let streamed: Vec<u8> = cipher
            .seal_stream(futures::stream::iter(pieces))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flat_map(|c| c.unwrap().to_vec())
            .collect();
        assert_eq!(streamed.len() as u64, sealed_size(size));
        assert_eq!(cipher.seal_all(&plain).len(), streamed.len());
        assert!(
            streamed.windows(16).all(|w| w != &plain[..16]),
            "no plaintext in the blob"
        );
        for range in [
            0..size,
            5..10,
            CHUNK as u64 - 3..CHUNK as u64 + 3,
            size - 1..size,
        ] {
            let got = open_range(&cipher, &streamed, size, range.clone()).await;
            assert_eq!(
                got,
                plain[range.start as usize..range.end as usize],
                "{range:?}"
            );
        }
        let mut tampered = streamed.clone();
        tampered[PREFIX + 10] ^= 1;
        let (r, first) = BlobCipher::blob_range(&(0..10), size);
        let opened: Vec<_> = cipher
            .open_stream(
                BlobCipher::prefix_of(&tampered).unwrap(),
                futures::stream::iter([Ok(Bytes::copy_from_slice(
                    &tampered[r.start as usize..r.end as usize],
                ))]),
                0..10,
                first,
            )
            .collect()
            .await;
        assert!(opened[0].is_err());
        let other = BlobCipher::new(&[8; 32]);
        let wrong: Vec<_> = other
            .open_stream(
                BlobCipher::prefix_of(&streamed).unwrap(),
                futures::stream::iter([Ok(Bytes::copy_from_slice(
                    &streamed[r.start as usize..r.end as usize],
                ))]),
                0..10,
                first,
            )
            .collect()
            .await;
        assert!(wrong[0].is_err());
    }

    #[test]
    fn data_keys_are_sealed_and_customer_keys_checked() {
        use md5::Digest;
        let master = MasterKey::new([1; 32]);
        let sealed = master.seal(&[9; 32]);
        assert_eq!(master.open(&sealed).unwrap(), [9; 32]);
        assert!(MasterKey::new([2; 32]).open(&sealed).is_err());
        let key = [3u8; 32];
        let (k, m) = (b64().encode(key), b64().encode(md5::Md5::digest(key)));
        assert!(CustomerKey::parse("AES256", &k, &m).is_ok());
        assert!(CustomerKey::parse("AES256", &k, &b64().encode([0u8; 16])).is_err());
        assert!(CustomerKey::parse("aws:kms", &k, &m).is_err());
        assert!(CustomerKey::parse("AES256", &b64().encode([3u8; 16]), &m).is_err());
        let customer = CustomerKey::parse("AES256", &k, &m).unwrap();
        let sealing = sealing_for_write(&master, &Encryption::Customer(customer.clone()), false);
        assert!(
            cipher_for_read(&master, &sealing.headers, Some(&customer))
                .unwrap()
                .is_some()
        );
        assert!(cipher_for_read(&master, &sealing.headers, None).is_err());
        let plain = sealing_for_write(&master, &Encryption::Default, false);
        assert!(plain.cipher.is_none() && plain.headers.is_empty());
        assert!(cipher_for_read(&master, &plain.headers, Some(&customer)).is_err());
        let by_default = sealing_for_write(&master, &Encryption::Default, true);
        assert_eq!(by_default.headers[SSE_HEADER], "AES256");
        assert!(
            cipher_for_read(&master, &by_default.headers, None)
                .unwrap()
                .is_some()
        );
    }
}

//! GetObjectAttributes: an object's ETag, checksum, size, storage class
//! and part count, each answered only when asked for, as S3 does.

use super::checksums::Checksums;
use super::object::timestamp_ms;
use super::{StratoS3, s3_error_of};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

impl StratoS3 {
    pub(crate) async fn handle_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let scope = self.scope(&req)?;
        let input = req.input;
        let meta = self
            .buckets
            .head_object(&input.bucket, &input.key, &scope)
            .await
            .map_err(s3_error_of)?;
        // One header, `x-amz-object-attributes: ETag,Checksum`, may hold
        // them all.
        let wants = |name: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|a| a.as_str().split(','))
                .any(|a| a.trim().eq_ignore_ascii_case(name))
        };
        let etag = meta.etag.trim_matches('"');
        let mut output = GetObjectAttributesOutput {
            last_modified: Some(timestamp_ms(meta.modified_ms)),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            output.e_tag = Some(ETag::Strong(etag.to_string()));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            output.object_size = Some(meta.size as i64);
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            output.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM) {
            let c = Checksums::stored(&meta.headers);
            if c.kind.is_some() {
                output.checksum = Some(Checksum {
                    checksum_crc32: c.crc32,
                    checksum_crc32c: c.crc32c,
                    checksum_crc64nvme: c.crc64nvme,
                    checksum_sha1: c.sha1,
                    checksum_sha256: c.sha256,
                    checksum_type: c.kind,
                });
            }
        }
        // A multipart object's ETag ends in `-N`: its part count. Its
        // parts' own sizes and checksums are not kept after completion.
        let parts = etag
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<i32>().ok());
        if wants(ObjectAttributes::OBJECT_PARTS)
            && let Some(count) = parts
        {
            output.object_parts = Some(GetObjectAttributesParts {
                total_parts_count: Some(count),
                ..Default::default()
            });
        }
        Ok(S3Response::new(output))
    }
}

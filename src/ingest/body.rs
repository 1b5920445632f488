//! Request bodies read within limits: the wire size (from `Content-Length` and while reading)
//! and the decompressed size, so a small gzip bomb is refused like a large body.

use std::io::Read;

use bytes::Bytes;
use http_body_util::BodyExt;

use super::IngestError;
use super::admission::BodyRefusal;

/// Compressed bodies above this size are inflated on a blocking thread.
const INLINE_DECOMPRESS_BYTES: usize = 64 * 1024;

/// Reads the whole body, refusing more than `limit` bytes on the wire.
pub async fn read_limited<B>(
    body: B,
    content_length: Option<u64>,
    limit: usize,
) -> Result<Bytes, IngestError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if let Some(size) = content_length
        && size > limit as u64
    {
        return Err(IngestError::BodyTooLarge { size, limit });
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(IngestError::BodyTooLarge {
                size: content_length.unwrap_or(limit as u64 + 1),
                limit,
            })
        }
        Err(error) => match error.downcast::<BodyRefusal>() {
            Ok(refusal) => Err(IngestError::BodyRefused(*refusal)),
            Err(error) => Err(IngestError::Body(error.to_string())),
        },
    }
}

/// Undoes `Content-Encoding`, refusing output beyond `limit` bytes.
pub async fn decompress(
    content_encoding: Option<&str>,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, IngestError> {
    let encoding = content_encoding.unwrap_or("").trim().to_ascii_lowercase();
    if matches!(encoding.as_str(), "" | "identity") {
        return Ok(body);
    }
    if body.len() <= INLINE_DECOMPRESS_BYTES {
        return inflate(&encoding, &body, limit);
    }
    tokio::task::spawn_blocking(move || inflate(&encoding, &body, limit))
        .await
        .map_err(|e| IngestError::Internal(e.to_string()))?
}

fn inflate(encoding: &str, body: &[u8], limit: usize) -> Result<Bytes, IngestError> {
    match encoding {
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(body), limit),
        "deflate" => read_capped(flate2::read::ZlibDecoder::new(body), limit),
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(body)
                .map_err(|e| IngestError::Decompress(e.to_string()))?;
            read_capped(decoder, limit)
        }
        other => Err(IngestError::UnsupportedContentEncoding(other.to_owned())),
    }
}

fn read_capped(reader: impl Read, limit: usize) -> Result<Bytes, IngestError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::Decompress(e.to_string()))?;
    if out.len() > limit {
        return Err(IngestError::DecompressedTooLarge { limit });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::error::{ErrorKind, HasErrorKind};
    use axum::body::Body;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).expect("write");
        encoder.finish().expect("finish")
    }

    #[tokio::test]
    async fn inflates_gzip_within_the_limit() {
        let body = Bytes::from(gzip(b"hello"));
        assert_eq!(
            decompress(Some("gzip"), body, 10).await.expect("ok"),
            "hello"
        );
    }

    #[tokio::test]
    async fn refuses_a_gzip_bomb() {
        let bomb = Bytes::from(gzip(&vec![0u8; 50 * 1024 * 1024]));
        assert!(bomb.len() < 100 * 1024);
        let error = decompress(Some("gzip"), bomb, 1024 * 1024)
            .await
            .expect_err("too large");
        assert_eq!(error.kind(), ErrorKind::PayloadTooLarge);
    }

    #[tokio::test]
    async fn refuses_unknown_and_corrupt_encodings() {
        let error = decompress(Some("br"), Bytes::from_static(b"x"), 10)
            .await
            .expect_err("br");
        assert_eq!(error.kind(), ErrorKind::UnsupportedMediaType);
        let error = decompress(Some("gzip"), Bytes::from_static(b"not gzip"), 10)
            .await
            .expect_err("corrupt");
        assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    }

    #[tokio::test]
    async fn refuses_bodies_over_the_wire_limit() {
        let error = read_limited(Body::from(vec![0u8; 100]), None, 10)
            .await
            .expect_err("big");
        assert_eq!(error.kind(), ErrorKind::PayloadTooLarge);
        let error = read_limited(Body::empty(), Some(1_000), 10)
            .await
            .expect_err("declared");
        assert!(matches!(
            error,
            IngestError::BodyTooLarge { size: 1_000, .. }
        ));
    }
}

//! The body of `npm publish`, split as it streams in: the packument with its `_attachments`,
//! where the tarball is one base64 string of `_attachments.{file}.data`.
//!
//! A tarball may be as large as `LOCAL_MAX_UPLOAD` allows, so the body is never held whole: a
//! small scanner follows the JSON structure byte by byte (objects, arrays, strings and their
//! escapes, the key path), decodes the one attachment string to bytes as they arrive and writes
//! them to a staging file, hashing them with SHA-512 and SHA-1 for `dist.integrity` and
//! `dist.shasum` (the staging writer computes SHA-256). Everything else, the metadata, is copied
//! into a buffer with that string left empty, bounded by its own limit, and parsed afterwards.
//! The scanner does not validate JSON: the metadata parser does, and a body whose structure
//! hid an attachment from the scanner still has its `data` in the metadata, which the publish
//! refuses. A body that breaks off, exceeds a limit or is no base64 leaves nothing behind.

use artifactapi_actors::storage::{Staged, StagingArea, StagingWriter};
use base64::Engine as _;
use futures_util::StreamExt;
use sha2::Digest as _;

use crate::locals::{LocalError, UploadBody};

/// Decoded bytes gathered before each write to the staging file.
const WRITE_BUFFER: usize = 256 * 1024;
/// Longest key the scanner remembers (longer keys are never the ones it looks for).
const MAX_KEY: usize = 1024;

/// The tarball of a publish, staged, with the digests npm records.
pub struct Attachment {
    /// The attachment's key (`name-1.0.0.tgz`, `@scope/name-1.0.0.tgz`).
    pub file: String,
    pub staged: Staged,
    pub sha512: [u8; 64],
    pub sha1: [u8; 20],
}

/// A publish body, split.
pub struct Split {
    /// The JSON document with the attachment's `data` emptied.
    pub metadata: Vec<u8>,
    pub attachment: Option<Attachment>,
}

enum Frame {
    Object { expect_key: bool, key: Vec<u8> },
    Array,
}

/// The attachment being decoded.
struct Decoding {
    file: String,
    writer: StagingWriter,
    sha512: sha2::Sha512,
    sha1: sha1::Sha1,
    /// Base64 characters not yet decoded (fewer than 4 between chunks).
    pending: Vec<u8>,
    /// Decoded bytes not yet written.
    out: Vec<u8>,
}

impl Decoding {
    fn push(&mut self, chars: &[u8]) -> Result<(), LocalError> {
        self.pending.extend_from_slice(chars);
        let whole = self.pending.len() / 4 * 4;
        // Padding can only end the string: decode up to the last full quad before it.
        let whole = if self.pending[..whole].contains(&b'=') { whole.saturating_sub(4) } else { whole };
        self.decode(whole)
    }

    fn decode(&mut self, n: usize) -> Result<(), LocalError> {
        if n == 0 {
            return Ok(());
        }
        let start = self.out.len();
        base64::engine::general_purpose::STANDARD
            .decode_vec(&self.pending[..n], &mut self.out)
            .map_err(|e| LocalError::Invalid(format!("_attachments[{:?}].data is not base64: {e}", self.file)))?;
        self.sha512.update(&self.out[start..]);
        self.sha1.update(&self.out[start..]);
        self.pending.drain(..n);
        Ok(())
    }

    async fn flush(&mut self, at_least: usize) -> Result<(), LocalError> {
        if self.out.len() >= at_least && !self.out.is_empty() {
            self.writer.write(&self.out).await.map_err(staging)?;
            self.out.clear();
        }
        Ok(())
    }
}

fn staging(e: std::io::Error) -> LocalError {
    LocalError::Unavailable(format!("staging the tarball: {e}"))
}

/// What the scanner is in the middle of.
#[derive(Default)]
struct Scanner {
    stack: Vec<Frame>,
    in_string: bool,
    escape: bool,
    /// The string being read is a key (collected into `key`).
    is_key: bool,
    key: Vec<u8>,
    /// The string being read is the attachment's data.
    in_data: bool,
    /// An attachment was found (only one is accepted).
    seen_data: bool,
}

/// What a chunk asks of the caller.
enum Event {
    /// Start decoding the attachment named this.
    Start(String),
}

impl Scanner {
    /// The attachment's file name if a value string starting now is `_attachments.{file}.data`.
    fn data_path(&self) -> Option<String> {
        match self.stack.as_slice() {
            [Frame::Object { key: top, .. }, Frame::Object { key: file, .. }, Frame::Object { expect_key: false, key }]
                if top == b"_attachments" && key == b"data" =>
            {
                Some(String::from_utf8_lossy(file).into_owned())
            }
            _ => None,
        }
    }
}

/// Reads the publish body `body`, staging its attachment; at most `limit` bytes in all, and
/// at most `meta_limit` of metadata.
pub async fn split(
    staging_area: &StagingArea,
    mut body: UploadBody,
    limit: u64,
    meta_limit: usize,
) -> Result<Split, LocalError> {
    let mut sc = Scanner::default();
    let mut meta = Vec::new();
    let mut dec: Option<Decoding> = None;
    let mut total = 0u64;
    let result: Result<(), LocalError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(LocalError::Body)?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(LocalError::TooLarge { limit });
            }
            let mut rest: &[u8] = &chunk;
            while !rest.is_empty() {
                if sc.in_data {
                    let d = dec.as_mut().ok_or_else(|| LocalError::Internal("attachment without a writer".into()))?;
                    if std::mem::take(&mut sc.escape) {
                        // Only `\/` can stand in base64 text.
                        if rest[0] != b'/' {
                            return Err(LocalError::Invalid(format!(
                                "_attachments[{:?}].data is not base64: it has an escape",
                                d.file
                            )));
                        }
                        d.push(b"/")?;
                        rest = &rest[1..];
                        continue;
                    }
                    let end = rest.iter().position(|b| *b == b'"' || *b == b'\\').unwrap_or(rest.len());
                    d.push(&rest[..end])?;
                    rest = &rest[end..];
                    match rest.first() {
                        Some(b'"') => {
                            sc.in_data = false;
                            sc.in_string = false;
                            let n = d.pending.len();
                            d.decode(n)?;
                            meta.push(b'"');
                            rest = &rest[1..];
                        }
                        Some(_) => {
                            sc.escape = true;
                            rest = &rest[1..];
                        }
                        None => {}
                    }
                    d.flush(WRITE_BUFFER).await?;
                    continue;
                }
                let b = rest[0];
                rest = &rest[1..];
                meta.push(b);
                if meta.len() > meta_limit {
                    return Err(LocalError::TooLarge { limit: meta_limit as u64 });
                }
                if let Some(Event::Start(file)) = step(&mut sc, b)? {
                    let writer = staging_area.create().await.map_err(staging)?;
                    dec = Some(Decoding {
                        file,
                        writer,
                        sha512: sha2::Sha512::new(),
                        sha1: sha1::Sha1::new(),
                        pending: Vec::new(),
                        out: Vec::with_capacity(WRITE_BUFFER + 4096),
                    });
                }
            }
        }
        if sc.in_data || sc.in_string || !sc.stack.is_empty() {
            return Err(LocalError::Invalid("the publish body ends in the middle of its JSON document".into()));
        }
        if let Some(d) = dec.as_mut() {
            if !d.pending.is_empty() {
                return Err(LocalError::Invalid(format!("_attachments[{:?}].data is not base64", d.file)));
            }
            d.flush(0).await?;
        }
        Ok(())
    }
    .await;
    match (result, dec) {
        (Err(e), Some(d)) => {
            d.writer.abort().await;
            Err(e)
        }
        (Err(e), None) => Err(e),
        (Ok(()), None) => Ok(Split { metadata: meta, attachment: None }),
        (Ok(()), Some(d)) => {
            let staged = d.writer.finish().await.map_err(staging)?;
            let attachment =
                Attachment { file: d.file, staged, sha512: d.sha512.finalize().into(), sha1: d.sha1.finalize().into() };
            Ok(Split { metadata: meta, attachment: Some(attachment) })
        }
    }
}

/// One byte of the document outside the attachment's data.
fn step(sc: &mut Scanner, b: u8) -> Result<Option<Event>, LocalError> {
    if sc.in_string {
        if sc.escape {
            sc.escape = false;
        } else if b == b'\\' {
            sc.escape = true;
        } else if b == b'"' {
            sc.in_string = false;
            if sc.is_key {
                let key = std::mem::take(&mut sc.key);
                if let Some(Frame::Object { key: k, .. }) = sc.stack.last_mut() {
                    *k = key;
                }
            }
            return Ok(None);
        }
        if sc.is_key && sc.key.len() < MAX_KEY {
            sc.key.push(b);
        }
        return Ok(None);
    }
    match b {
        b'{' => sc.stack.push(Frame::Object { expect_key: true, key: Vec::new() }),
        b'[' => sc.stack.push(Frame::Array),
        b'}' | b']' => {
            sc.stack.pop();
        }
        b':' | b',' => {
            if let Some(Frame::Object { expect_key, .. }) = sc.stack.last_mut() {
                *expect_key = b == b',';
            }
        }
        b'"' => {
            sc.in_string = true;
            sc.is_key = matches!(sc.stack.last(), Some(Frame::Object { expect_key: true, .. }));
            sc.key.clear();
            if !sc.is_key {
                if let Some(file) = sc.data_path() {
                    if std::mem::replace(&mut sc.seen_data, true) {
                        return Err(LocalError::Invalid("a publish carries one attachment, its tarball".into()));
                    }
                    sc.in_data = true;
                    return Ok(Some(Event::Start(file)));
                }
            }
        }
        _ => {}
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: Vec<Vec<u8>>) -> UploadBody {
        Box::pin(futures_util::stream::iter(parts.into_iter().map(|p| Ok(bytes::Bytes::from(p)))))
    }

    fn publish_json(data: &str) -> String {
        format!(
            r#"{{"_id":"x","name":"x","description":"a \"quoted\" {{brace}}","versions":{{"1.0.0":{{"name":"x"}}}},"_attachments":{{"x-1.0.0.tgz":{{"content_type":"application/octet-stream","data":"{data}","length":3}}}}}}"#
        )
    }

    fn area() -> (tempfile::TempDir, StagingArea) {
        let dir = tempfile::tempdir().unwrap();
        let area = StagingArea::new(dir.path().join("staging")).unwrap();
        (dir, area)
    }

    #[actix_rt::test]
    async fn attachments_are_decoded_into_staging_in_any_chunking() {
        let (_dir, area) = area();
        let tarball: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let data = base64::engine::general_purpose::STANDARD.encode(&tarball);
        let json = publish_json(&data);
        for size in [1, 3, 7, 1000, json.len()] {
            let parts: Vec<Vec<u8>> = json.as_bytes().chunks(size).map(<[u8]>::to_vec).collect();
            let split = split(&area, body(parts), 10 << 20, 1 << 20).await.unwrap();
            let a = split.attachment.unwrap();
            assert_eq!(a.file, "x-1.0.0.tgz");
            assert_eq!(std::fs::read(&a.staged.path).unwrap(), tarball, "chunks of {size}");
            assert_eq!(a.sha512.as_slice(), sha2::Sha512::digest(&tarball).as_slice());
            assert_eq!(a.staged.size, tarball.len() as u64);
            let meta: serde_json::Value = serde_json::from_slice(&split.metadata).unwrap();
            assert_eq!(meta["_attachments"]["x-1.0.0.tgz"]["data"], "");
            assert_eq!(meta["description"], "a \"quoted\" {brace}");
            a.staged.discard().await;
        }
    }

    #[actix_rt::test]
    async fn bad_bodies_are_refused_and_leave_nothing() {
        let (_dir, area) = area();
        let ok = base64::engine::general_purpose::STANDARD.encode(b"abc");
        let cases: Vec<(Vec<Vec<u8>>, u64, &str)> = vec![
            (vec![publish_json("!!!!").into_bytes()], 1 << 20, "not base64"),
            (vec![publish_json("YW\\nJj").into_bytes()], 1 << 20, "has an escape"),
            (vec![publish_json(&ok).as_bytes()[..60].to_vec()], 1 << 20, "ends in the middle"),
            (vec![publish_json(&ok).into_bytes()], 20, "larger than 20"),
            (
                vec![format!(r#"{{"_attachments":{{"a":{{"data":"{ok}"}},"b":{{"data":"{ok}"}}}}}}"#).into_bytes()],
                1 << 20,
                "one attachment",
            ),
        ];
        for (parts, limit, want) in cases {
            let e = split(&area, body(parts), limit, 1 << 20).await.err().unwrap();
            assert!(e.to_string().contains(want), "{e} does not contain {want}");
        }
        let broken: UploadBody = Box::pin(futures_util::stream::iter(vec![
            Ok(bytes::Bytes::from(publish_json(&ok)[..120].to_string())),
            Err("connection reset".to_string()),
        ]));
        assert!(matches!(split(&area, broken, 1 << 20, 1 << 20).await, Err(LocalError::Body(_))));
        let meta_limit = split(&area, body(vec![publish_json(&ok).into_bytes()]), 1 << 20, 50).await;
        assert!(matches!(meta_limit, Err(LocalError::TooLarge { limit: 50 })));
        assert_eq!(std::fs::read_dir(area.dir()).unwrap().count(), 0, "nothing left in staging");
        let plain = split(&area, body(vec![br#"{"name":"x","versions":{}}"#.to_vec()]), 1 << 20, 1 << 20).await;
        assert!(plain.unwrap().attachment.is_none());
    }
}

//! The SHA-1 of each of the first gzip streams of an Alpine `.apk`, computed while the bytes
//! stream, for checking a package against its index.
//!
//! An `.apk` is gzip streams concatenated: the signature (when signed), the control segment
//! (`.PKGINFO` and scripts) and the data. `APKINDEX` records `C:Q1{base64 SHA-1}` of the
//! control segment's compressed bytes, so checking a package means finding where each gzip
//! stream ends, which only inflating it tells. [`ApkSegments`] walks the streams with a raw
//! inflater (the output is thrown away) and hashes the bytes of the first [`SEGMENTS`] streams;
//! memory stays constant whatever the package's size, and the data stream is not inflated.

use flate2::{Decompress, FlushDecompress, Status};
use sha1::Digest as _;

/// Streams hashed: a signature and the control segment.
pub const SEGMENTS: usize = 2;
/// The longest gzip header accepted (name and comment included).
const MAX_HEADER: usize = 64 * 1024;

enum State {
    Header(Vec<u8>),
    Deflate(Box<Decompress>),
    Trailer(usize),
    Done,
    Failed,
}

/// A running split of a body into gzip streams, hashing the first [`SEGMENTS`].
pub struct ApkSegments {
    state: State,
    current: sha1::Sha1,
    done: Vec<[u8; 20]>,
    scratch: Vec<u8>,
}

impl Default for ApkSegments {
    fn default() -> Self {
        ApkSegments {
            state: State::Header(Vec::new()),
            current: sha1::Sha1::new(),
            done: Vec::new(),
            scratch: vec![0; 32 * 1024],
        }
    }
}

impl ApkSegments {
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = match &mut self.state {
                State::Done | State::Failed => return,
                State::Header(buf) => {
                    let before = buf.len();
                    let take = bytes.len().min(MAX_HEADER - before);
                    buf.extend_from_slice(&bytes[..take]);
                    match header_len(buf) {
                        Ok(Some(n)) => {
                            self.state = State::Deflate(Box::new(Decompress::new(false)));
                            n - before
                        }
                        Ok(None) if buf.len() < MAX_HEADER => take,
                        _ => {
                            self.state = State::Failed;
                            return;
                        }
                    }
                }
                State::Deflate(d) => {
                    let (before, out) = (d.total_in(), d.total_out());
                    let status = d.decompress(bytes, &mut self.scratch, FlushDecompress::None);
                    let used = (d.total_in() - before) as usize;
                    match status {
                        Ok(Status::StreamEnd) => self.state = State::Trailer(8),
                        // No progress on input or output: the stream is broken.
                        Ok(_) if used == 0 && d.total_out() == out => {
                            self.state = State::Failed;
                            return;
                        }
                        Ok(_) => {}
                        Err(_) => {
                            self.state = State::Failed;
                            return;
                        }
                    }
                    used
                }
                State::Trailer(left) => {
                    let n = (*left).min(bytes.len());
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Header(Vec::new());
                        self.current.update(&bytes[..n]);
                        let h = std::mem::replace(&mut self.current, sha1::Sha1::new());
                        self.done.push(h.finalize().into());
                        if self.done.len() == SEGMENTS {
                            self.state = State::Done;
                        }
                        bytes = &bytes[n..];
                        continue;
                    }
                    n
                }
            };
            self.current.update(&bytes[..used]);
            bytes = &bytes[used..];
        }
    }

    /// The SHA-1 of each complete stream among the first [`SEGMENTS`].
    pub fn finish(self) -> Vec<[u8; 20]> {
        self.done
    }
}

/// The length of the gzip header at the start of `b`, `None` while it is incomplete; an error
/// when `b` is no gzip header.
fn header_len(b: &[u8]) -> Result<Option<usize>, ()> {
    if b.len() < 10 {
        return if b.iter().zip([0x1f, 0x8b, 8]).all(|(x, y)| *x == y) { Ok(None) } else { Err(()) };
    }
    if b[..3] != [0x1f, 0x8b, 8] {
        return Err(());
    }
    let flags = b[3];
    let mut at = 10;
    if flags & 4 != 0 {
        let Some(x) = b.get(at..at + 2) else { return Ok(None) };
        at += 2 + u16::from_le_bytes([x[0], x[1]]) as usize;
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            let Some(end) = b.get(at..).and_then(|r| r.iter().position(|c| *c == 0)) else { return Ok(None) };
            at += end + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    Ok((b.len() >= at).then_some(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(body: &[u8], name: Option<&str>) -> Vec<u8> {
        let mut b = flate2::GzBuilder::new();
        if let Some(n) = name {
            b = b.filename(n);
        }
        let mut e = b.write(Vec::new(), flate2::Compression::default());
        e.write_all(body).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn hashes_each_stream_in_any_chunking() {
        let (sig, control, data) = (gz(b"signature", None), gz(&[7u8; 100_000], Some("c.tar")), gz(b"data", None));
        let apk = [sig.clone(), control.clone(), data].concat();
        let want: Vec<[u8; 20]> = [&sig, &control].iter().map(|s| sha1::Sha1::digest(s).into()).collect();
        for chunk in [1, 7, 4096, apk.len()] {
            let mut s = ApkSegments::default();
            for c in apk.chunks(chunk) {
                s.update(c);
            }
            assert_eq!(s.finish(), want, "chunks of {chunk}");
        }
    }

    #[test]
    fn junk_gives_no_hash() {
        let mut s = ApkSegments::default();
        s.update(b"<html>not a package</html>");
        assert!(s.finish().is_empty());
    }
}

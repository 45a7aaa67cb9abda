//! `APKINDEX.tar.gz`: read to check it and to find a package's control-segment checksum.
//!
//! The index is gzip streams concatenated (a signature, when signed, then the index proper), read
//! here as one tar stream holding `APKINDEX` (and `DESCRIPTION`, `.SIGN.*`). `APKINDEX` is
//! blank-line separated records of `K:value` lines; `P` is the name, `V` the version and `C`
//! the checksum (`Q1` + base64 of the SHA-1 of the package's control segment). The package file
//! is `{P}-{V}.apk` in the index's directory. The index is served as the upstream's bytes, never
//! re-encoded, so its signature stays valid.

use std::io::Read;

use base64::Engine as _;

/// The most bytes the index may inflate to (Alpine's `main` index is about 5 MiB inflated).
pub const MAX_INFLATED: u64 = 128 << 20;

/// One package as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub file: String,
    /// The SHA-1 of the control segment, from `C:Q1...` (`None` when absent or another form).
    pub control_sha1: Option<[u8; 20]>,
}

/// The packages `APKINDEX.tar.gz` lists; an error when it is no such index.
pub fn parse(body: &[u8]) -> Result<Vec<Entry>, String> {
    parse_with(body, MAX_INFLATED)
}

/// [`parse`] with at most `limit` bytes inflated.
fn parse_with(body: &[u8], limit: u64) -> Result<Vec<Entry>, String> {
    let text = apkindex_text(body, limit)?;
    Ok(records(&text))
}

/// A reader that fails once more than `left` bytes come out of `inner`.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let max = buf.len().min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n as u64 > self.left {
            return Err(std::io::Error::other("the index inflates to more than the limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn apkindex_text(body: &[u8], limit: u64) -> Result<String, String> {
    let gz = Limited { inner: flate2::read::MultiGzDecoder::new(body), left: limit };
    let mut tar = tar::Archive::new(gz);
    let entries = tar.entries().map_err(|e| format!("APKINDEX.tar.gz is no tar.gz: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("APKINDEX.tar.gz: {e}"))?;
        let name = entry.path_bytes().into_owned();
        if name == b"APKINDEX" {
            let mut text = String::new();
            entry.by_ref().take(MAX_INFLATED).read_to_string(&mut text).map_err(|e| format!("APKINDEX: {e}"))?;
            return Ok(text);
        }
    }
    Err("APKINDEX.tar.gz holds no APKINDEX".into())
}

fn records(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for record in text.split("\n\n") {
        let (mut p, mut v, mut c) = (None, None, None);
        for line in record.lines() {
            match line.split_once(':') {
                Some(("P", x)) => p = Some(x),
                Some(("V", x)) => v = Some(x),
                Some(("C", x)) => c = Some(x),
                _ => {}
            }
        }
        if let (Some(p), Some(v)) = (p, v) {
            out.push(Entry { file: format!("{p}-{v}.apk"), control_sha1: c.and_then(q1) });
        }
    }
    out
}

/// `Q1{base64}` as the 20 bytes of a SHA-1.
fn q1(c: &str) -> Option<[u8; 20]> {
    let b = base64::engine::general_purpose::STANDARD.decode(c.strip_prefix("Q1")?).ok()?;
    b.try_into().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A gzip stream of a tar holding `files`, without the end-of-archive blocks when `cut`
    /// (as apk writes its signature segment).
    pub(crate) fn tar_gz(files: &[(&str, &[u8])], cut: bool) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, body) in files {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, *body).unwrap();
        }
        let mut raw = tar.into_inner().unwrap();
        if cut {
            raw.truncate(raw.len() - 1024);
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).unwrap();
        gz.finish().unwrap()
    }

    pub(crate) fn signed_index(apkindex: &str) -> Vec<u8> {
        let sig = tar_gz(&[(".SIGN.RSA.test.rsa.pub", b"not really a signature")], true);
        let idx = tar_gz(&[("DESCRIPTION", b"test"), ("APKINDEX", apkindex.as_bytes())], false);
        [sig, idx].concat()
    }

    #[test]
    fn reads_a_signed_index() {
        let q = base64::engine::general_purpose::STANDARD.encode([7u8; 20]);
        let text = format!("C:Q1{q}\nP:busybox\nV:1.36.1-r15\nA:x86_64\n\nP:musl\nV:1.2.4-r2\nC:bogus\n\n");
        let got = parse(&signed_index(&text)).unwrap();
        assert_eq!(
            got,
            vec![
                Entry { file: "busybox-1.36.1-r15.apk".into(), control_sha1: Some([7; 20]) },
                Entry { file: "musl-1.2.4-r2.apk".into(), control_sha1: None },
            ]
        );
    }

    #[test]
    fn refuses_an_index_that_inflates_past_the_limit() {
        let big = "P:x\nV:1-r0\n\n".repeat(1000);
        let body = signed_index(&big);
        assert!(body.len() < 4096, "compresses well: {}", body.len());
        assert_eq!(parse_with(&body, 1 << 20).map(|e| e.len()), Ok(1000));
        let err = parse_with(&body, 8 * 1024).unwrap_err();
        assert!(err.contains("more than the limit"), "{err}");
    }

    #[test]
    fn refuses_what_is_no_index() {
        for body in [&b""[..], b"<html>", &tar_gz(&[("DESCRIPTION", b"x")], false)] {
            assert!(parse(body).is_err());
        }
    }
}

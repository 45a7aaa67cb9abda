//! `multipart/form-data` read as it streams, for ChartMuseum's upload API: each part's headers
//! are read (bounded), its body handed out chunk by chunk ([`Multipart::chunk`]), so a chart
//! part goes straight into staging and memory does not grow with the upload. Only what the
//! upload API needs: the part's field name and file name.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::locals::{LocalError, UploadBody};

/// Largest header block of one part.
const MAX_HEADERS: usize = 16 << 10;

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty() && v.len() <= 70).then(|| v.to_string())
    })
}

/// One part's headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartInfo {
    pub name: String,
    pub filename: Option<String>,
}

/// A multipart body being read.
pub struct Multipart {
    body: UploadBody,
    buf: BytesMut,
    /// `\r\n--{boundary}`.
    delim: Vec<u8>,
    started: bool,
    in_part: bool,
    done: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(p) = hay[from..].iter().position(|&b| b == first) {
        let at = from + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn malformed(why: &str) -> LocalError {
    LocalError::Invalid(format!("malformed multipart body: {why}"))
}

impl Multipart {
    pub fn new(body: UploadBody, boundary: &str) -> Multipart {
        let mut buf = BytesMut::new();
        // The first delimiter has no line break before it; with one, every delimiter looks alike.
        buf.extend_from_slice(b"\r\n");
        Multipart {
            body,
            buf,
            delim: format!("\r\n--{boundary}").into_bytes(),
            started: false,
            in_part: false,
            done: false,
        }
    }

    /// Reads more of the body; `false` at its end.
    async fn fill(&mut self) -> Result<bool, LocalError> {
        match self.body.next().await {
            Some(Ok(chunk)) => {
                self.buf.extend_from_slice(&chunk);
                Ok(true)
            }
            Some(Err(e)) => Err(LocalError::Body(e)),
            None => Ok(false),
        }
    }

    /// The next chunk of the current part's body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, LocalError> {
        if !self.in_part {
            return Ok(None);
        }
        loop {
            if let Some(at) = find(&self.buf, &self.delim) {
                if at > 0 {
                    return Ok(Some(self.buf.split_to(at).freeze()));
                }
                self.in_part = false;
                return Ok(None);
            }
            let safe = self.buf.len().saturating_sub(self.delim.len() - 1);
            if safe > 0 {
                return Ok(Some(self.buf.split_to(safe).freeze()));
            }
            if !self.fill().await? {
                return Err(LocalError::Body("the multipart body ended inside a part".into()));
            }
        }
    }

    /// Moves to the next part (skipping what is left of the current one); `None` after the last.
    pub async fn next_part(&mut self) -> Result<Option<PartInfo>, LocalError> {
        while self.chunk().await?.is_some() {}
        if self.done {
            return Ok(None);
        }
        // The delimiter (after a preamble, for the first part).
        loop {
            match find(&self.buf, &self.delim) {
                Some(at) if at == 0 || !self.started => {
                    let _ = self.buf.split_to(at + self.delim.len());
                    break;
                }
                Some(_) => return Err(malformed("data after a part")),
                None if !self.fill().await? => return Err(malformed("no boundary")),
                None => {}
            }
        }
        self.started = true;
        while self.buf.len() < 2 {
            if !self.fill().await? {
                return Err(malformed("ended after a boundary"));
            }
        }
        if self.buf.starts_with(b"--") {
            self.done = true;
            return Ok(None);
        }
        let headers_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at;
            }
            if self.buf.len() > MAX_HEADERS {
                return Err(malformed("part headers too long"));
            }
            if !self.fill().await? {
                return Err(malformed("ended in part headers"));
            }
        };
        let head = self.buf.split_to(headers_end + 4);
        let text = std::str::from_utf8(&head).map_err(|_| malformed("part headers are not UTF-8"))?;
        let mut info = PartInfo::default();
        for line in text.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else { continue };
            if !name.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for param in value.split(';').skip(1) {
                let Some((k, v)) = param.split_once('=') else { continue };
                let v = v.trim().trim_matches('"').to_string();
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => info.name = v,
                    "filename" => info.filename = Some(v),
                    _ => {}
                }
            }
        }
        // The body begins after the blank line; the delimiter before the next part ends it.
        self.in_part = true;
        Ok(Some(info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8], piece: usize) -> UploadBody {
        let chunks: Vec<Result<Bytes, String>> = bytes.chunks(piece).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        Box::pin(futures_util::stream::iter(chunks))
    }

    async fn parts(bytes: &[u8], piece: usize) -> Result<Vec<(PartInfo, Vec<u8>)>, LocalError> {
        let mut m = Multipart::new(body(bytes, piece), "XyZ");
        let mut out = Vec::new();
        while let Some(info) = m.next_part().await? {
            let mut data = Vec::new();
            while let Some(c) = m.chunk().await? {
                data.extend_from_slice(&c);
            }
            out.push((info, data));
        }
        Ok(out)
    }

    #[actix_rt::test]
    async fn reads_parts_in_any_chunking() {
        let chart: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut bytes = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"chart\"; filename=\"a-1.0.0.tgz\"\r\nContent-Type: application/gzip\r\n\r\n".to_vec();
        bytes.extend_from_slice(&chart);
        bytes
            .extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"prov\"\r\n\r\nsig\r\n--XyZ--\r\n");
        for piece in [1, 3, 7, 64, 100_000] {
            let got = parts(&bytes, piece).await.unwrap();
            assert_eq!(got.len(), 2, "{piece}");
            assert_eq!(got[0].0, PartInfo { name: "chart".into(), filename: Some("a-1.0.0.tgz".into()) });
            assert_eq!(got[0].1, chart, "{piece}");
            assert_eq!((got[1].0.name.as_str(), got[1].1.as_slice()), ("prov", b"sig".as_ref()));
        }
    }

    #[actix_rt::test]
    async fn refuses_broken_bodies() {
        let cut = b"--XyZ\r\nContent-Disposition: form-data; name=\"chart\"\r\n\r\nabc";
        assert!(matches!(parts(cut, 2).await, Err(LocalError::Body(_))));
        assert!(matches!(parts(b"no boundary at all", 4).await, Err(LocalError::Invalid(_))));
        let long = format!("--XyZ\r\n{}", "h".repeat(MAX_HEADERS + 10));
        assert!(matches!(parts(long.as_bytes(), 1000).await, Err(LocalError::Invalid(_))));
    }

    #[test]
    fn boundaries() {
        assert_eq!(boundary("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"").as_deref(), Some("a b"));
        assert_eq!(boundary("application/gzip"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }
}

//! Where a chunk of a blob upload goes: `Content-Range` on PATCH and PUT, and the `Range`
//! header that reports progress. Pure.
//!
//! The registry API writes chunk ranges as `start-end`, inclusive and without the `bytes `
//! unit of HTTP's own Content-Range (clients that add it, or a `/total`, are accepted too).
//! Chunks must arrive in order: a chunk that does not start where the upload stands is
//! refused with 416 and the client learns the offset from the `Range` header. A chunk without
//! a range (a streamed PATCH, or the body of the closing PUT) is appended wherever the upload
//! stands.

/// An inclusive byte range of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
}

impl ChunkRange {
    /// The number of bytes (saturating: `0-18446744073709551615` is one more than fits).
    pub fn len(&self) -> u64 {
        (self.end - self.start).saturating_add(1)
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Why a chunk is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Malformed range, or a body that does not match it: `BLOB_UPLOAD_INVALID` (400).
    #[error("{0}")]
    Invalid(String),
    /// The chunk does not start where the upload stands: 416, with the current `Range`.
    #[error("chunk starts at byte {start}, but the upload has {size} bytes; send the chunk starting at {size}")]
    OutOfOrder { start: u64, size: u64 },
}

/// Parses a `Content-Range` value: `start-end`, optionally `bytes start-end[/total]`.
pub fn parse_content_range(value: &str) -> Result<ChunkRange, ChunkError> {
    let bad = || {
        ChunkError::Invalid(format!("Content-Range {:?} is not start-end", value.chars().take(60).collect::<String>()))
    };
    let v = value.trim();
    let v = v.strip_prefix("bytes=").or_else(|| v.strip_prefix("bytes ")).unwrap_or(v).trim();
    let span = v.split_once('/').map_or(v, |(span, _total)| span);
    let (start, end) = span.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| -> Result<u64, ChunkError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u64>().map_err(|_| bad())
    };
    let (start, end) = (number(start.trim())?, number(end.trim())?);
    if end < start {
        return Err(ChunkError::Invalid(format!("Content-Range {start}-{end} ends before it starts")));
    }
    Ok(ChunkRange { start, end })
}

/// Checks a chunk before its body is read: its range (if any) must start at `size`, the bytes
/// the upload has, and agree with `Content-Length` (if any).
pub fn check(range: Option<ChunkRange>, size: u64, content_length: Option<u64>) -> Result<(), ChunkError> {
    let Some(r) = range else { return Ok(()) };
    if r.start != size {
        return Err(ChunkError::OutOfOrder { start: r.start, size });
    }
    match content_length {
        Some(n) if n != r.len() => Err(ChunkError::Invalid(format!(
            "Content-Range {}-{} is {} bytes, but Content-Length is {n}",
            r.start,
            r.end,
            r.len()
        ))),
        _ => Ok(()),
    }
}

/// Checks a chunk's body after it was read: it must be as long as its range said.
pub fn check_received(range: Option<ChunkRange>, received: u64) -> Result<(), ChunkError> {
    match range {
        Some(r) if r.len() != received => Err(ChunkError::Invalid(format!(
            "Content-Range {}-{} is {} bytes, but the body had {received}",
            r.start,
            r.end,
            r.len()
        ))),
        _ => Ok(()),
    }
}

/// The `Range` header reporting an upload of `size` bytes: `0-{size-1}` (`0-0` when empty,
/// as the reference registry answers).
pub fn progress(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ChunkRange {
        ChunkRange { start, end }
    }

    #[test]
    fn content_range_forms() {
        let cases: &[(&str, Option<ChunkRange>)] = &[
            ("0-99", Some(r(0, 99))),
            ("100-100", Some(r(100, 100))),
            (" 5-9 ", Some(r(5, 9))),
            ("bytes 0-9", Some(r(0, 9))),
            ("bytes=0-9", Some(r(0, 9))),
            ("bytes 0-9/10", Some(r(0, 9))),
            ("0-9/*", Some(r(0, 9))),
            ("9-0", None),
            ("0-", None),
            ("-9", None),
            ("", None),
            ("a-b", None),
            ("+1-2", None),
            ("0x1-2", None),
            ("1--2", None),
            ("0-18446744073709551616", None),
            ("bytes */10", None),
            ("0-9,20-29", None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_content_range(v).ok(), *want, "{v:?}");
        }
        assert!(matches!(parse_content_range("9-0"), Err(ChunkError::Invalid(m)) if m.contains("ends before")));
    }

    #[test]
    fn chunks_must_come_in_order_and_match_their_length() {
        assert_eq!(check(None, 7, None), Ok(()));
        assert_eq!(check(None, 7, Some(100)), Ok(()));
        assert_eq!(check(Some(r(0, 9)), 0, Some(10)), Ok(()));
        assert_eq!(check(Some(r(10, 19)), 10, None), Ok(()));
        assert_eq!(check(Some(r(20, 29)), 10, Some(10)), Err(ChunkError::OutOfOrder { start: 20, size: 10 }));
        assert_eq!(check(Some(r(0, 9)), 10, Some(10)), Err(ChunkError::OutOfOrder { start: 0, size: 10 }));
        assert!(matches!(check(Some(r(0, 9)), 0, Some(11)), Err(ChunkError::Invalid(_))));
        // Absurd ranges are refused, not overflowed.
        assert!(matches!(check(Some(r(0, u64::MAX)), 0, Some(10)), Err(ChunkError::Invalid(_))));
        assert!(matches!(check_received(Some(r(0, u64::MAX)), 10), Err(ChunkError::Invalid(_))));
        assert_eq!(r(5, u64::MAX).len(), u64::MAX - 4);
        assert_eq!(check_received(Some(r(0, 9)), 10), Ok(()));
        assert_eq!(check_received(None, 3), Ok(()));
        assert!(matches!(check_received(Some(r(0, 9)), 9), Err(ChunkError::Invalid(m)) if m.contains("body had 9")));
    }

    #[test]
    fn progress_header() {
        assert_eq!(progress(0), "0-0");
        assert_eq!(progress(1), "0-0");
        assert_eq!(progress(100), "0-99");
    }
}

//! The RPM file format's headers, read from the start of a package file: the 96-byte lead, the
//! signature header (padded to 8 bytes) and the main header, after which the payload starts.
//!
//! A header is a magic (`8e ad e8 01`), four reserved bytes, the number of index entries and the
//! size of the data store (both big-endian `u32`), then the entries (tag, type, offset, count:
//! four `u32`s each) and the store they point into. Every offset, count and string is checked
//! against the store before it is read, and the sizes are bounded, so a hostile upload gets a
//! clear error naming what is wrong and never an allocation of its choosing. Only the types a
//! repository's metadata needs are read: INT16/INT32/INT64, STRING, STRING_ARRAY, I18NSTRING
//! (its first, untranslated string) and BIN.

use std::io::Read;

/// The lead's magic, the first four bytes of every rpm.
pub const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
/// A header's magic and version.
pub const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// The lead's size.
pub const LEAD_SIZE: u64 = 96;
/// Most index entries of one header (real main headers have a few hundred).
pub const MAX_ENTRIES: u32 = 65_536;
/// Largest data store of one header (rpm itself refuses headers over 256 MiB; real ones with
/// tens of thousands of files stay below a few MiB).
pub const MAX_STORE: u32 = 64 << 20;

const INT16: u32 = 3;
const INT32: u32 = 4;
const INT64: u32 = 5;
const STRING: u32 = 6;
const BIN: u32 = 7;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

/// Why the headers of an upload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("not an rpm package (no rpm lead magic)")]
    NotRpm,
    #[error("the file ends inside the {0}")]
    Truncated(&'static str),
    #[error("the {0} has no header magic")]
    BadMagic(&'static str),
    #[error("the {what} has {count} index entries (at most {MAX_ENTRIES})")]
    TooManyEntries { what: &'static str, count: u32 },
    #[error("the {what} has a data store of {size} bytes (at most {MAX_STORE})")]
    TooLarge { what: &'static str, size: u32 },
    #[error("tag {tag}: {why}")]
    BadEntry { tag: u32, why: String },
    #[error("reading the package: {0}")]
    Io(String),
}

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: u32,
    count: u32,
}

/// One parsed header: its index and its data store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    entries: Vec<Entry>,
    store: Vec<u8>,
}

/// The two headers of a package and where the main one lies in the file (what
/// `rpm:header-range` gives, for clients that fetch only the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub signature: Header,
    pub main: Header,
    pub header_start: u64,
    pub header_end: u64,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<(), HeaderError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => HeaderError::Truncated(what),
        _ => HeaderError::Io(e.to_string()),
    })
}

/// Reads the lead and both headers from the start of a package; the reader is left at the
/// payload.
pub fn read(mut r: impl Read) -> Result<Headers, HeaderError> {
    let mut lead = [0u8; LEAD_SIZE as usize];
    r.read_exact(&mut lead[..4]).map_err(|_| HeaderError::NotRpm)?;
    if lead[..4] != LEAD_MAGIC {
        return Err(HeaderError::NotRpm);
    }
    read_exact(&mut r, &mut lead[4..], "lead")?;
    let (signature, sig_len) = read_header(&mut r, "signature header")?;
    let padding = (8 - sig_len % 8) % 8;
    let mut pad = [0u8; 8];
    read_exact(&mut r, &mut pad[..padding as usize], "signature header")?;
    let header_start = LEAD_SIZE + sig_len + padding;
    let (main, main_len) = read_header(&mut r, "main header")?;
    Ok(Headers { signature, main, header_start, header_end: header_start + main_len })
}

/// Reads one header; returns it and its length in bytes.
fn read_header(r: &mut impl Read, what: &'static str) -> Result<(Header, u64), HeaderError> {
    let mut intro = [0u8; 16];
    read_exact(r, &mut intro, what)?;
    if intro[..4] != HEADER_MAGIC {
        return Err(HeaderError::BadMagic(what));
    }
    let count = be32(&intro[8..12]);
    let size = be32(&intro[12..16]);
    if count > MAX_ENTRIES {
        return Err(HeaderError::TooManyEntries { what, count });
    }
    if size > MAX_STORE {
        return Err(HeaderError::TooLarge { what, size });
    }
    let mut index = vec![0u8; count as usize * 16];
    read_exact(r, &mut index, what)?;
    let mut store = vec![0u8; size as usize];
    read_exact(r, &mut store, what)?;
    let entries = index
        .chunks_exact(16)
        .map(|e| Entry { tag: be32(&e[0..4]), kind: be32(&e[4..8]), offset: be32(&e[8..12]), count: be32(&e[12..16]) })
        .collect();
    let header = Header::new(entries, store)?;
    Ok((header, 16 + u64::from(count) * 16 + u64::from(size)))
}

impl Header {
    /// A header of `entries` into `store`, each entry checked against the store.
    fn new(entries: Vec<Entry>, store: Vec<u8>) -> Result<Header, HeaderError> {
        let h = Header { entries, store };
        for e in &h.entries {
            h.extent(e)?;
        }
        Ok(h)
    }

    /// The bytes of `e`'s value; strings end at their last NUL.
    fn extent(&self, e: &Entry) -> Result<&[u8], HeaderError> {
        let bad = |why: String| HeaderError::BadEntry { tag: e.tag, why };
        let start = e.offset as usize;
        if start > self.store.len() {
            return Err(bad(format!("offset {start} is past the data store ({} bytes)", self.store.len())));
        }
        let rest = &self.store[start..];
        let width = match e.kind {
            INT16 => 2,
            INT32 => 4,
            INT64 => 8,
            STRING | STRING_ARRAY | I18NSTRING => {
                if e.kind == STRING && e.count != 1 {
                    return Err(bad(format!("a STRING with count {}", e.count)));
                }
                let mut end = 0;
                for _ in 0..e.count {
                    let nul = rest[end..]
                        .iter()
                        .position(|b| *b == 0)
                        .ok_or_else(|| bad("a string runs past the data store".into()))?;
                    end += nul + 1;
                }
                return Ok(&rest[..end]);
            }
            _ => 1,
        };
        let len = (e.count as usize).checked_mul(width).filter(|n| *n <= rest.len());
        let len = len.ok_or_else(|| bad(format!("{} values of {width} bytes run past the data store", e.count)))?;
        Ok(&rest[..len])
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// The strings of `tag` (STRING, STRING_ARRAY; an I18NSTRING's first): empty when absent.
    pub fn strings(&self, tag: u32) -> Result<Vec<String>, HeaderError> {
        let Some(e) = self.entry(tag) else { return Ok(Vec::new()) };
        if !matches!(e.kind, STRING | STRING_ARRAY | I18NSTRING) {
            return Err(HeaderError::BadEntry { tag, why: format!("type {} where strings belong", e.kind) });
        }
        let bytes = self.extent(e)?;
        let mut out: Vec<String> =
            bytes.split(|b| *b == 0).take(e.count as usize).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
        if e.kind == I18NSTRING {
            out.truncate(1);
        }
        Ok(out)
    }

    /// The string of `tag`, if present.
    pub fn string(&self, tag: u32) -> Result<Option<String>, HeaderError> {
        Ok(self.strings(tag)?.into_iter().next())
    }

    /// The integers of `tag` (INT16, INT32 or INT64): empty when absent.
    pub fn ints(&self, tag: u32) -> Result<Vec<u64>, HeaderError> {
        let Some(e) = self.entry(tag) else { return Ok(Vec::new()) };
        let bytes = self.extent(e)?;
        Ok(match e.kind {
            INT16 => bytes.chunks_exact(2).map(|c| u64::from(u16::from_be_bytes([c[0], c[1]]))).collect(),
            INT32 => bytes.chunks_exact(4).map(|c| u64::from(be32(c))).collect(),
            INT64 => bytes.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            k => return Err(HeaderError::BadEntry { tag, why: format!("type {k} where integers belong") }),
        })
    }

    /// The first integer of `tag`, if present.
    pub fn int(&self, tag: u32) -> Result<Option<u64>, HeaderError> {
        Ok(self.ints(tag)?.into_iter().next())
    }

    /// The bytes of the BIN `tag`, if present.
    pub fn bin(&self, tag: u32) -> Result<Option<Vec<u8>>, HeaderError> {
        let Some(e) = self.entry(tag) else { return Ok(None) };
        if e.kind != BIN {
            return Err(HeaderError::BadEntry { tag, why: format!("type {} where BIN belongs", e.kind) });
        }
        Ok(Some(self.extent(e)?.to_vec()))
    }
}

/// Builds headers and package files the way rpm lays them out, for the tests of this module
/// and of what reads it.
#[cfg(test)]
pub mod build {
    use super::*;

    /// A value of one tag.
    #[derive(Debug, Clone)]
    pub enum Value {
        I16(Vec<u16>),
        I32(Vec<u32>),
        I64(Vec<u64>),
        Str(String),
        StrArray(Vec<String>),
        I18n(Vec<String>),
        Bin(Vec<u8>),
    }

    /// A header holding `tags`, as bytes.
    pub fn header(tags: &[(u32, Value)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut store: Vec<u8> = Vec::new();
        for (tag, v) in tags {
            let align = match v {
                Value::I16(_) => 2,
                Value::I32(_) => 4,
                Value::I64(_) => 8,
                _ => 1,
            };
            while !store.len().is_multiple_of(align) {
                store.push(0);
            }
            let offset = store.len() as u32;
            let (kind, count) = match v {
                Value::I16(x) => {
                    x.iter().for_each(|n| store.extend(n.to_be_bytes()));
                    (INT16, x.len())
                }
                Value::I32(x) => {
                    x.iter().for_each(|n| store.extend(n.to_be_bytes()));
                    (INT32, x.len())
                }
                Value::I64(x) => {
                    x.iter().for_each(|n| store.extend(n.to_be_bytes()));
                    (INT64, x.len())
                }
                Value::Str(s) => {
                    store.extend(s.as_bytes());
                    store.push(0);
                    (STRING, 1)
                }
                Value::StrArray(x) | Value::I18n(x) => {
                    for s in x {
                        store.extend(s.as_bytes());
                        store.push(0);
                    }
                    (if matches!(v, Value::I18n(_)) { I18NSTRING } else { STRING_ARRAY }, x.len())
                }
                Value::Bin(b) => {
                    store.extend(b);
                    (BIN, b.len())
                }
            };
            for n in [*tag, kind, offset, count as u32] {
                index.extend(n.to_be_bytes());
            }
        }
        let mut out = HEADER_MAGIC.to_vec();
        out.extend([0; 4]);
        out.extend(((index.len() / 16) as u32).to_be_bytes());
        out.extend((store.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(store);
        out
    }

    /// A package file: lead, signature header (padded), main header of `tags`, `payload`.
    pub fn package(tags: &[(u32, Value)], payload: &[u8]) -> Vec<u8> {
        let mut out = LEAD_MAGIC.to_vec();
        out.resize(LEAD_SIZE as usize, 0);
        let sig = header(&[(1000, Value::I32(vec![1234])), (1004, Value::Bin(vec![7; 16]))]);
        out.extend(&sig);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        out.extend(header(tags));
        out.extend(payload);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::{header, package, Value};
    use super::*;

    fn tags() -> Vec<(u32, Value)> {
        vec![
            (1000, Value::Str("hello".into())),
            (1004, Value::I18n(vec!["A summary".into(), "Eine Zusammenfassung".into()])),
            (1009, Value::I32(vec![4096])),
            (1030, Value::I16(vec![0o100644, 0o40755])),
            (5009, Value::I64(vec![1 << 40])),
            (1117, Value::StrArray(vec!["a".into(), "b".into()])),
            (1035, Value::Bin(vec![1, 2, 3])),
        ]
    }

    #[test]
    fn reads_every_type_and_the_header_range() {
        let file = package(&tags(), b"payload");
        let h = read(file.as_slice()).unwrap();
        assert_eq!(h.main.string(1000).unwrap().as_deref(), Some("hello"));
        assert_eq!(h.main.strings(1004).unwrap(), vec!["A summary"]);
        assert_eq!(h.main.int(1009).unwrap(), Some(4096));
        assert_eq!(h.main.ints(1030).unwrap(), vec![0o100644, 0o40755]);
        assert_eq!(h.main.int(5009).unwrap(), Some(1 << 40));
        assert_eq!(h.main.strings(1117).unwrap(), vec!["a", "b"]);
        assert_eq!(h.main.bin(1035).unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(h.main.string(1001).unwrap(), None);
        assert_eq!(h.signature.int(1000).unwrap(), Some(1234));
        assert_eq!(h.header_start % 8, 0);
        assert_eq!(&file[h.header_start as usize..h.header_start as usize + 4], &HEADER_MAGIC);
        assert_eq!(&file[h.header_end as usize..], b"payload");
        assert!(matches!(h.main.ints(1000), Err(HeaderError::BadEntry { tag: 1000, .. })));
        assert!(matches!(h.main.strings(1009), Err(HeaderError::BadEntry { tag: 1009, .. })));
    }

    /// A package whose main header is `main` (raw bytes).
    fn with_main(main: Vec<u8>) -> Vec<u8> {
        let mut out = package(&[], b"");
        let start = read(out.as_slice()).unwrap().header_start as usize;
        out.truncate(start);
        out.extend(main);
        out
    }

    fn entry(tag: u32, kind: u32, offset: u32, count: u32, store: &[u8]) -> Vec<u8> {
        let mut out = HEADER_MAGIC.to_vec();
        out.extend([0; 4]);
        out.extend(1u32.to_be_bytes());
        out.extend((store.len() as u32).to_be_bytes());
        for n in [tag, kind, offset, count] {
            out.extend(n.to_be_bytes());
        }
        out.extend(store);
        out
    }

    #[test]
    fn hostile_and_broken_files_are_refused_with_the_reason() {
        let good = package(&tags(), b"payload");
        let mut huge_count = header(&[]);
        huge_count[8..12].copy_from_slice(&(MAX_ENTRIES + 1).to_be_bytes());
        let mut huge_store = header(&[]);
        huge_store[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut bad_magic = header(&[]);
        bad_magic[0] = 0;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", vec![], "not an rpm package"),
            ("text", b"<html>not found</html>".repeat(10), "not an rpm package"),
            ("lead only", good[..50].to_vec(), "ends inside the lead"),
            ("no signature", good[..LEAD_SIZE as usize].to_vec(), "ends inside the signature header"),
            ("cut in the main header", good[..good.len() - 20].to_vec(), "ends inside the main header"),
            ("main magic", with_main(bad_magic), "main header has no header magic"),
            ("entry count", with_main(huge_count), "65537 index entries"),
            ("store size", with_main(huge_store), "data store of 4294967295 bytes"),
            ("offset past the store", with_main(entry(1000, STRING, 9, 1, b"abc\0")), "tag 1000: offset 9"),
            ("unterminated string", with_main(entry(1000, STRING, 0, 1, b"abc")), "tag 1000: a string runs past"),
            ("string array past the end", with_main(entry(1117, STRING_ARRAY, 0, 3, b"a\0b\0")), "tag 1117"),
            ("ints past the end", with_main(entry(1009, INT32, 0, 2, b"\0\0\0\x01")), "tag 1009: 2 values"),
            ("count overflow", with_main(entry(1009, INT64, 0, u32::MAX, b"\0")), "tag 1009"),
            ("string with a count", with_main(entry(1000, STRING, 0, 2, b"a\0b\0")), "a STRING with count 2"),
        ];
        for (name, bytes, want) in cases {
            let err = read(bytes.as_slice()).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{name}: {err:?} does not say {want:?}");
        }
    }
}

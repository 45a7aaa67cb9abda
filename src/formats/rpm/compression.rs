//! The compressions rpm data files come in, read as streams.
//!
//! `repomd.xml` names its data files with the compression as the file name's suffix:
//! `createrepo_c` < 1.0 writes gzip (`.gz`), >= 1.0 zstd (`.zst`: Fedora, RHEL 9/10, Rocky,
//! Alma), and xz (`.xz`) and bzip2 (`.bz2`, old CentOS) are options of it; plain `.xml` is
//! valid too. A package of such a repository is looked up by reading its `primary` through one
//! of these decoders, so each is a [`Read`] adapter over the stored bytes: memory stays bounded
//! by the decoder's window (capped below, whatever a hostile header asks for), never by the
//! size of the file. All decoders are pure Rust.

use std::io::{BufRead, BufReader, Read};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::repomd::MetadataError;

/// Largest zstd window accepted (`zstd -19` uses 8 MiB, `--long` 128 MiB): a frame that asks
/// for more is refused instead of allocated.
const MAX_ZSTD_WINDOW: u64 = 64 << 20;
/// Most memory an xz stream may need to be decoded, in KiB (`xz -9`'s 64 MiB dictionary fits).
const MAX_XZ_MEMORY_KIB: u32 = 80 << 10;

/// How a data file is compressed, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Compression {
    /// The compression of the data file named `href`; `None` for a suffix no decoder reads
    /// (`.zck` zchunk files, which dnf only reads beside a gzip or zstd copy).
    pub fn of(href: &str) -> Option<Compression> {
        let suffixes = [
            (".xml", Compression::Plain),
            (".gz", Compression::Gzip),
            (".zst", Compression::Zstd),
            (".xz", Compression::Xz),
            (".bz2", Compression::Bzip2),
        ];
        suffixes.into_iter().find(|(s, _)| href.ends_with(s)).map(|(_, c)| c)
    }
}

/// A reader of the decompressed contents of the data file named `href`, read from `raw`.
pub fn decompressed<'r>(href: &str, raw: impl Read + 'r) -> Result<Box<dyn BufRead + 'r>, MetadataError> {
    let Some(compression) = Compression::of(href) else {
        return Err(MetadataError::Xml(format!(
            "{href}: unsupported compression (gzip, zstd, xz, bzip2 or plain XML)"
        )));
    };
    Ok(match compression {
        Compression::Plain => Box::new(BufReader::new(raw)),
        Compression::Gzip => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(raw))),
        Compression::Zstd => Box::new(BufReader::new(ZstdFrames::new(raw))),
        Compression::Xz => Box::new(BufReader::new(lzma_rust2::XzReader::new_mem_limit(raw, true, MAX_XZ_MEMORY_KIB))),
        Compression::Bzip2 => Box::new(BufReader::new(bzip2::read::MultiBzDecoder::new(raw))),
    })
}

fn zstd_error(e: FrameDecoderError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

/// Every frame of a zstd stream, one after another (`zstd` of concatenated files and `pzstd`
/// write several; skippable frames are passed over), as one reader.
struct ZstdFrames<R: Read> {
    source: BufReader<R>,
    decoder: FrameDecoder,
    /// Whether a frame is open: not all of its blocks decoded and collected yet.
    in_frame: bool,
}

impl<R: Read> ZstdFrames<R> {
    fn new(raw: R) -> Self {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(MAX_ZSTD_WINDOW);
        ZstdFrames { source: BufReader::new(raw), decoder, in_frame: false }
    }

    /// Opens the next frame; `false` at the end of the stream.
    fn next_frame(&mut self) -> std::io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => {
                    self.in_frame = true;
                    return Ok(true);
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let length = u64::from(length);
                    let skipped = std::io::copy(&mut (&mut self.source).take(length), &mut std::io::sink())?;
                    if skipped < length {
                        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "zstd: truncated frame"));
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame && !self.next_frame()? {
                return Ok(0);
            }
            if self.decoder.can_collect() > 0 {
                return self.decoder.read(buf);
            }
            if self.decoder.is_finished() {
                self.in_frame = false;
                continue;
            }
            self.decoder.decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1)).map_err(zstd_error)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use ruzstd::encoding::{compress_to_vec, CompressionLevel};

    use super::*;

    fn xml(n: usize) -> Vec<u8> {
        let mut out = b"<?xml version=\"1.0\"?><metadata>".to_vec();
        for i in 0..n {
            out.extend_from_slice(format!("<package><name>p{i}</name></package>\n").as_bytes());
        }
        out.extend_from_slice(b"</metadata>");
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        compress_to_vec(data, CompressionLevel::Fastest)
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut w = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn bzip2(data: &[u8]) -> Vec<u8> {
        let mut w = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn read_all(href: &str, raw: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        decompressed(href, raw).map_err(|e| e.to_string())?.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn the_compression_is_the_suffix() {
        let cases: &[(&str, Option<Compression>)] = &[
            ("repodata/ab-primary.xml", Some(Compression::Plain)),
            ("repodata/ab-primary.xml.gz", Some(Compression::Gzip)),
            ("repodata/ab-primary.xml.zst", Some(Compression::Zstd)),
            ("repodata/ab-primary.xml.xz", Some(Compression::Xz)),
            ("repodata/ab-primary.xml.bz2", Some(Compression::Bzip2)),
            ("repodata/ab-primary.xml.zck", None),
            ("repodata/ab-primary.sqlite.lz4", None),
            ("repodata/ab-primary.xml.gz.", None),
            ("", None),
        ];
        for (href, want) in cases {
            assert_eq!(Compression::of(href), *want, "{href}");
        }
        assert!(decompressed("repodata/ab-primary.xml.zck", &b""[..]).is_err());
    }

    #[test]
    fn every_compression_reads_back_what_was_written() {
        let data = xml(20_000);
        let cases: &[(&str, Vec<u8>)] = &[
            ("p.xml", data.clone()),
            ("p.xml.gz", gzip(&data)),
            ("p.xml.zst", zstd(&data)),
            ("p.xml.xz", xz(&data)),
            ("p.xml.bz2", bzip2(&data)),
        ];
        for (href, raw) in cases {
            assert_eq!(read_all(href, raw).as_deref(), Ok(data.as_slice()), "{href}");
        }
    }

    #[test]
    fn concatenated_streams_and_skippable_zstd_frames_read_whole() {
        let (a, b) = (xml(10), xml(20));
        let whole = [a.clone(), b.clone()].concat();
        let mut skippable = 0x184D_2A50u32.to_le_bytes().to_vec();
        skippable.extend_from_slice(&5u32.to_le_bytes());
        skippable.extend_from_slice(b"12345");
        let cases: &[(&str, Vec<u8>)] = &[
            ("p.xml.zst", [zstd(&a), zstd(&b)].concat()),
            ("p.xml.zst", [zstd(&a), skippable.clone(), zstd(&b)].concat()),
            ("p.xml.gz", [gzip(&a), gzip(&b)].concat()),
            ("p.xml.xz", [xz(&a), xz(&b)].concat()),
            ("p.xml.bz2", [bzip2(&a), bzip2(&b)].concat()),
        ];
        for (i, (href, raw)) in cases.iter().enumerate() {
            assert_eq!(read_all(href, raw).as_deref(), Ok(whole.as_slice()), "case {i}: {href}");
        }
    }

    #[test]
    fn hostile_and_broken_streams_are_errors() {
        let data = xml(2_000);
        let z = zstd(&data);
        // A zstd frame header asking for a 1 GiB window (descriptor: single segment unset,
        // window descriptor exponent 20 → 2^30).
        let huge_window = [0x28, 0xB5, 0x2F, 0xFD, 0x00, 20 << 3, 0, 0, 0];
        let mut truncated_skip = 0x184D_2A5Fu32.to_le_bytes().to_vec();
        truncated_skip.extend_from_slice(&1000u32.to_le_bytes());
        let cases: &[(&str, Vec<u8>)] = &[
            ("p.xml.zst", b"not zstd at all".to_vec()),
            ("p.xml.zst", z[..z.len() / 2].to_vec()),
            ("p.xml.zst", huge_window.to_vec()),
            ("p.xml.zst", truncated_skip),
            ("p.xml.zst", [z.clone(), b"garbage after".to_vec()].concat()),
            ("p.xml.xz", b"not xz".to_vec()),
            ("p.xml.xz", xz(&data)[..40].to_vec()),
            ("p.xml.bz2", b"BZh9 not really".to_vec()),
            ("p.xml.gz", gzip(&data)[..30].to_vec()),
            ("p.xml.xz", z.clone()),
        ];
        for (i, (href, raw)) in cases.iter().enumerate() {
            assert!(read_all(href, raw).is_err(), "case {i}: {href} read without an error");
        }
    }
}

//! What a fetched body must be before it is published, beyond its SHA-256.
//!
//! Package indexes record the digest of every file they list, each in its own algorithm: npm's
//! `dist.integrity` is SHA-512 (older packuments only have a SHA-1 `shasum`), helm and PyPI
//! record SHA-256. A fill checks the body against the [`Integrity`] its fetch carries while the
//! bytes stream, so a file that does not match what its index promised is never cached.
//! Metadata documents get a [`DocumentCheck`] instead: the package type's own parser decides
//! whether the whole body is a well-formed document before it may replace a good cached copy.

use std::fmt;
use std::sync::Arc;

use sha2::Digest as _;

use crate::digest::Digest;

/// A digest recorded by an index for a file it lists.
#[derive(Clone, PartialEq, Eq)]
pub enum Integrity {
    Sha256(Digest),
    Sha512(Box<[u8; 64]>),
    Sha1([u8; 20]),
    /// An Alpine package: the SHA-1 of its control segment (`C:Q1...` in `APKINDEX`), which
    /// is the first or, in a signed package, the second gzip stream ([`crate::apk`]).
    ApkControl([u8; 20]),
    /// MD5, the only digest some indexes give (a Puppet Forge release's `file_md5`).
    Md5([u8; 16]),
}

impl fmt::Debug for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Integrity::Sha256(d) => write!(f, "sha256:{}", d.hex()),
            Integrity::Sha512(d) => write!(f, "sha512:{}", hex::encode(d.as_slice())),
            Integrity::Sha1(d) => write!(f, "sha1:{}", hex::encode(d)),
            Integrity::ApkControl(d) => write!(f, "apk-control-sha1:{}", hex::encode(d)),
            Integrity::Md5(d) => write!(f, "md5:{}", hex::encode(d)),
        }
    }
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Integrity {
    /// The cache variant of a file checked against this digest, for files an index may list
    /// again under the same name with other bytes (a rebuilt apk package): each build is its own
    /// cached object. `None`: the name alone is the key.
    pub fn cache_variant(&self) -> Option<String> {
        match self {
            Integrity::ApkControl(d) => Some(format!("q1-{}", hex::encode(d))),
            _ => None,
        }
    }

    /// A hasher for the algorithm of this digest. SHA-256 needs none: the staging writer
    /// computes it for every body anyway.
    pub fn checker(&self) -> Option<Checker> {
        match self {
            Integrity::Sha256(_) => None,
            Integrity::Sha512(_) => Some(Checker::Sha512(Box::new(sha2::Sha512::new()))),
            Integrity::Sha1(_) => Some(Checker::Sha1(sha1::Sha1::new())),
            Integrity::ApkControl(_) => Some(Checker::Apk(Box::default())),
            Integrity::Md5(_) => Some(Checker::Md5(<md5::Md5 as md5::Digest>::new())),
        }
    }

    /// Whether a body whose SHA-256 is `sha256` and whose other hash (from [`Self::checker`])
    /// is `other` matches.
    pub fn matches(&self, sha256: &Digest, other: Option<Checker>) -> bool {
        match (self, other) {
            (Integrity::Sha256(d), _) => d == sha256,
            (Integrity::Sha512(want), Some(Checker::Sha512(h))) => h.finalize().as_slice() == want.as_slice(),
            (Integrity::Sha1(want), Some(Checker::Sha1(h))) => h.finalize().as_slice() == want.as_slice(),
            // The signature stream is hashed too: matching it would need a SHA-1 preimage.
            (Integrity::ApkControl(want), Some(Checker::Apk(s))) => s.finish().contains(want),
            (Integrity::Md5(want), Some(Checker::Md5(h))) => md5::Digest::finalize(h).as_slice() == want.as_slice(),
            _ => false,
        }
    }
}

/// A running hash of a body in another algorithm than SHA-256.
pub enum Checker {
    Sha512(Box<sha2::Sha512>),
    Sha1(sha1::Sha1),
    Apk(Box<crate::apk::ApkSegments>),
    Md5(md5::Md5),
}

impl Checker {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Checker::Sha512(h) => h.update(bytes),
            Checker::Sha1(h) => h.update(bytes),
            Checker::Apk(s) => s.update(bytes),
            Checker::Md5(h) => md5::Digest::update(h, bytes),
        }
    }
}

/// A package type's check that a whole document is well formed (parses, names what it must),
/// run on a blocking thread before the document is cached. The error says what is wrong.
#[derive(Clone)]
pub struct DocumentCheck(Arc<CheckFn>);

type CheckFn = dyn Fn(&[u8]) -> Result<(), String> + Send + Sync;

impl DocumentCheck {
    pub fn new(f: impl Fn(&[u8]) -> Result<(), String> + Send + Sync + 'static) -> Self {
        DocumentCheck(Arc::new(f))
    }

    pub fn check(&self, body: &[u8]) -> Result<(), String> {
        (self.0)(body)
    }
}

impl fmt::Debug for DocumentCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocumentCheck")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(i: &Integrity, body: &[u8]) -> bool {
        let mut c = i.checker();
        if let Some(c) = c.as_mut() {
            c.update(&body[..2]);
            c.update(&body[2..]);
        }
        i.matches(&Digest::of(body), c)
    }

    #[test]
    fn checks_each_algorithm() {
        let body = b"hello world";
        let sha512: [u8; 64] = sha2::Sha512::digest(body).into();
        let sha1: [u8; 20] = sha1::Sha1::digest(body).into();
        assert!(run(&Integrity::Sha256(Digest::of(body)), body));
        assert!(run(&Integrity::Sha512(Box::new(sha512)), body));
        assert!(run(&Integrity::Sha1(sha1), body));
        let md5: [u8; 16] = <md5::Md5 as md5::Digest>::digest(body).into();
        assert!(run(&Integrity::Md5(md5), body));
        assert!(!run(&Integrity::Md5([0; 16]), body));
        assert!(!run(&Integrity::Sha256(Digest::of(b"other")), body));
        assert!(!run(&Integrity::Sha512(Box::new([0; 64])), body));
        assert!(!run(&Integrity::Sha1([0; 20]), body));
    }
}

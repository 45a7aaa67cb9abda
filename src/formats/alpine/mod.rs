//! Alpine (apk) repositories: `{dir}APKINDEX.tar.gz` and the `.apk` packages it lists.
//!
//! The signed index is replaced whenever a package is added: a mutable [`Plan::Document`],
//! checked before it is cached ([`index`]) and served as the upstream's bytes (never
//! recompressed, no `Content-Encoding`: its signature covers those bytes). A package
//! `{dir}{name}-{version}.apk` is a [`Plan::Listed`] file of the index of its directory,
//! checked against the index's `C:Q1` (the SHA-1 of its control segment) before it is cached.
//! Packages are named by version and release, but a repository may rebuild one under the same
//! name: each build (each `C:` value) is its own cached object, so after the index moves, the
//! rebuilt package is fetched again rather than the old bytes served. Virtuals serve the first
//! member's index (indexes are signed by their repository; merging would break signatures).

mod index;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::files::{file_target, FileError};
use super::{
    Class, Doc, Format, Located, PackageType, ParsedIndex, Plan, ProtocolError, Rendered, Repo, Request, Urls,
};
use crate::paths::{PathError, RepoPath};
use artifactapi_actors::integrity::Integrity;

pub use index::MAX_INFLATED;

pub struct Alpine;

const INDEX: &str = "APKINDEX.tar.gz";
const DOC: Doc = Doc { variant: "", accept: "" };
/// The longest package file name accepted.
pub const MAX_FILE_BYTES: usize = 255;

/// What an alpine request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `{dir}APKINDEX.tar.gz`.
    Index { dir: String },
    /// `{dir}{file}.apk`.
    Package { dir: String, file: String },
    /// Anything else: the upstream's bytes, mutable.
    Other,
}

/// A parsed request to an alpine repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlpineRequest {
    pub path: RepoPath,
    pub kind: Kind,
}

/// Why an alpine request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlpineError {
    #[error(transparent)]
    Path(#[from] FileError),
    #[error("{0}")]
    Package(String),
}

impl From<PathError> for AlpineError {
    fn from(e: PathError) -> Self {
        AlpineError::Path(FileError(e))
    }
}

impl ProtocolError for AlpineError {
    fn code(&self) -> &'static str {
        match self {
            AlpineError::Path(e) => e.code(),
            AlpineError::Package(_) => "PACKAGE_INVALID",
        }
    }
    fn status(&self) -> u16 {
        400
    }
}

fn kind(path: &str) -> Result<Kind, String> {
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    if file == INDEX {
        return Ok(Kind::Index { dir: dir.into() });
    }
    if file.len() > ".apk".len() && file.ends_with(".apk") {
        let ok = file.len() <= MAX_FILE_BYTES
            && file.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
        if !ok {
            return Err(format!("invalid package file name {file:?}"));
        }
        return Ok(Kind::Package { dir: dir.into(), file: file.into() });
    }
    Ok(Kind::Other)
}

impl Format for Alpine {
    const TYPE: PackageType = PackageType::Alpine;
    type Endpoint = AlpineRequest;
    type Error = AlpineError;

    fn parse(&self, req: &Request<'_>) -> Result<AlpineRequest, AlpineError> {
        let path = RepoPath::parse(req.path)?;
        let kind = kind(path.as_str()).map_err(AlpineError::Package)?;
        Ok(AlpineRequest { path, kind })
    }

    fn subject<'e>(&self, e: &'e AlpineRequest, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path.as_str())
    }

    fn classify(&self, e: &AlpineRequest) -> Class {
        Class::immutable_if(matches!(e.kind, Kind::Package { .. }))
    }

    fn plan(&self, e: &AlpineRequest, _repo: &Repo<'_>) -> Result<Plan<AlpineRequest>, AlpineError> {
        Ok(match &e.kind {
            Kind::Index { .. } => Plan::Document(file_target(&e.path).document(&DOC), DOC),
            Kind::Package { dir, .. } => {
                let path = RepoPath::from_decoded(&format!("{dir}{INDEX}"))?;
                let index = AlpineRequest { path, kind: Kind::Index { dir: dir.clone() } };
                Plan::Listed { path: e.path.as_str().to_string(), index }
            }
            Kind::Other => Plan::Bytes(file_target(&e.path)),
        })
    }

    fn check_document(&self, _e: &AlpineRequest, body: &[u8]) -> Result<(), String> {
        index::parse(body).map(|_| ())
    }

    /// The upstream's bytes exactly: the index is signed.
    fn rewrite(&self, _e: &AlpineRequest, _doc: &Doc, body: &[u8], _urls: &Urls) -> Result<Rendered, String> {
        Ok(Rendered::new(body.to_vec(), "application/gzip"))
    }

    fn locate(&self, file: &AlpineRequest, body: &[u8], urls: &Urls) -> Result<Option<Located>, String> {
        let Kind::Package { file: name, .. } = &file.kind else { return Ok(None) };
        let Some(entry) = index::parse(body)?.into_iter().find(|e| &e.file == name) else { return Ok(None) };
        located(name, entry.control_sha1, urls).map(Some)
    }

    /// The index as a map of file names to control checksums: every `.apk` request reads it.
    fn parse_index(&self, _index: &AlpineRequest, body: &[u8]) -> Option<Result<ParsedIndex, String>> {
        Some(index::parse(body).map(|entries| {
            let map: Packages = entries.into_iter().map(|e| (e.file, e.control_sha1)).collect();
            Arc::new(map) as ParsedIndex
        }))
    }

    fn locate_parsed(&self, file: &AlpineRequest, index: &ParsedIndex, urls: &Urls) -> Result<Option<Located>, String> {
        let Kind::Package { file: name, .. } = &file.kind else { return Ok(None) };
        let packages = index.downcast_ref::<Packages>().ok_or("the kept index is no alpine index")?;
        match packages.get(name) {
            None => Ok(None),
            Some(control) => located(name, *control, urls).map(Some),
        }
    }
}

/// The packages of one index: file name, and the SHA-1 of its control segment.
type Packages = HashMap<String, Option<[u8; 20]>>;

/// Where package `name` is (beside its index) and its control checksum.
fn located(name: &str, control_sha1: Option<[u8; 20]>, urls: &Urls) -> Result<Located, String> {
    let url = urls.resolve(name).ok_or_else(|| format!("{name:?} does not resolve against the index URL"))?;
    Ok(Located { url: url.to_string(), integrity: control_sha1.map(Integrity::ApkControl) })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, get};
    use super::*;
    use Class::*;

    #[test]
    fn index_is_mutable_packages_are_not() {
        check(
            &Alpine,
            &[
                ("v3.19/main/x86_64/APKINDEX.tar.gz", Mutable),
                ("APKINDEX.tar.gz", Mutable),
                ("v3.19/main/x86_64/busybox-1.36.1-r15.apk", Immutable),
                ("edge/testing/aarch64/foo-0.1-r0.apk", Immutable),
                ("v3.19/main/x86_64/.apk", Mutable),
                ("v3.19/main/x86_64/foo.tar.gz", Mutable),
                ("v3.19/releases/x86_64/latest-releases.yaml", Mutable),
            ],
        );
    }

    const REPO: Repo<'static> = Repo { name: "apk", base_url: "http://up/alpine/", ban_tags: &[] };

    #[test]
    fn packages_are_listed_in_the_index_of_their_directory() {
        let e = Alpine.parse(&get("v3.19/main/x86_64/busybox-1.36.1-r15.apk")).unwrap();
        let Ok(Plan::Listed { path, index }) = Alpine.plan(&e, &REPO) else { panic!("listed") };
        assert_eq!(path, "v3.19/main/x86_64/busybox-1.36.1-r15.apk");
        assert_eq!(index.path.as_str(), "v3.19/main/x86_64/APKINDEX.tar.gz");
        let idx = Alpine.parse(&get("v3.19/main/x86_64/APKINDEX.tar.gz")).unwrap();
        assert!(matches!(Alpine.plan(&idx, &REPO), Ok(Plan::Document(t, _)) if t.held && t.variant.is_empty()));
    }

    #[test]
    fn refuses_hostile_package_names() {
        let long = format!("x/{}.apk", "a".repeat(MAX_FILE_BYTES));
        for path in ["x/a b.apk", "x/a;b.apk", long.as_str(), "x/%2e%2e/a.apk", "x/a%2fb.apk"] {
            assert!(Alpine.parse(&get(path)).is_err_and(|e| e.status() == 400), "{path}");
        }
    }

    #[test]
    fn locates_a_package_and_its_control_checksum() {
        use base64::Engine as _;
        let q = base64::engine::general_purpose::STANDARD.encode([9u8; 20]);
        let body = index::tests::signed_index(&format!("C:Q1{q}\nP:foo\nV:1.0-r0\n\n"));
        let urls = Urls {
            public: "http://proxy/api/v1/remote/apk/".into(),
            base: "http://up/alpine/".into(),
            document: "http://up/alpine/v3.19/main/x86_64/APKINDEX.tar.gz".into(),
        };
        let e = Alpine.parse(&get("v3.19/main/x86_64/foo-1.0-r0.apk")).unwrap();
        let got = Alpine.locate(&e, &body, &urls).unwrap().unwrap();
        assert_eq!(got.url, "http://up/alpine/v3.19/main/x86_64/foo-1.0-r0.apk");
        assert_eq!(got.integrity, Some(Integrity::ApkControl([9; 20])));
        let other = Alpine.parse(&get("v3.19/main/x86_64/bar-1.0-r0.apk")).unwrap();
        assert_eq!(Alpine.locate(&other, &body, &urls), Ok(None));

        // The index parsed once answers the same as reading it each time.
        let index = Alpine.parse(&get("v3.19/main/x86_64/APKINDEX.tar.gz")).unwrap();
        let parsed = Alpine.parse_index(&index, &body).unwrap().unwrap();
        assert_eq!(Alpine.locate_parsed(&e, &parsed, &urls), Ok(Some(got)));
        assert_eq!(Alpine.locate_parsed(&other, &parsed, &urls), Ok(None));
        assert!(Alpine.parse_index(&index, b"not an index").unwrap().is_err());
        let wrong: ParsedIndex = Arc::new(1u8);
        assert!(Alpine.locate_parsed(&e, &wrong, &urls).is_err());
    }
}

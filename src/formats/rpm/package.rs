//! What a repository's metadata says about one package, read from its headers ([`super::header`]):
//! name, epoch, version, release, arch, descriptions, sizes, dependencies with their flags and
//! versions, the file list and the changelog. Stored as the package's record in an rpm local
//! (serde JSON), from which the repository metadata is generated ([`super::repodata`]).

use serde::{Deserialize, Serialize};

use super::header::{HeaderError, Headers};

/// Header tags read here (rpm's `rpmtag.h`).
mod tag {
    pub const SIG_PAYLOADSIZE: u32 = 1007;
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const SUMMARY: u32 = 1004;
    pub const DESCRIPTION: u32 = 1005;
    pub const BUILDTIME: u32 = 1006;
    pub const BUILDHOST: u32 = 1007;
    pub const SIZE: u32 = 1009;
    pub const VENDOR: u32 = 1011;
    pub const LICENSE: u32 = 1014;
    pub const PACKAGER: u32 = 1015;
    pub const GROUP: u32 = 1016;
    pub const URL: u32 = 1020;
    pub const ARCH: u32 = 1022;
    pub const FILEMODES: u32 = 1030;
    pub const FILEFLAGS: u32 = 1037;
    pub const SOURCERPM: u32 = 1044;
    pub const ARCHIVESIZE: u32 = 1046;
    pub const PROVIDENAME: u32 = 1047;
    pub const REQUIREFLAGS: u32 = 1048;
    pub const REQUIRENAME: u32 = 1049;
    pub const REQUIREVERSION: u32 = 1050;
    pub const CONFLICTFLAGS: u32 = 1053;
    pub const CONFLICTNAME: u32 = 1054;
    pub const CONFLICTVERSION: u32 = 1055;
    pub const CHANGELOGTIME: u32 = 1080;
    pub const CHANGELOGNAME: u32 = 1081;
    pub const CHANGELOGTEXT: u32 = 1082;
    pub const OBSOLETENAME: u32 = 1090;
    pub const PROVIDEFLAGS: u32 = 1112;
    pub const PROVIDEVERSION: u32 = 1113;
    pub const OBSOLETEFLAGS: u32 = 1114;
    pub const OBSOLETEVERSION: u32 = 1115;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const LONGSIZE: u32 = 5009;
    pub const LONGARCHIVESIZE: u32 = 271;
}

/// Dependency flag bits (`rpmds.h`).
const SENSE_LESS: u64 = 1 << 1;
const SENSE_GREATER: u64 = 1 << 2;
const SENSE_EQUAL: u64 = 1 << 3;
/// Pre-install requirements (`PREREQ`, `SCRIPT_PRE`, `SCRIPT_POST`): `pre="1"` in primary.
const SENSE_PRE: u64 = (1 << 6) | (1 << 9) | (1 << 10);
/// rpm's own features (`rpmlib(...)`), never listed in repository metadata.
const SENSE_RPMLIB: u64 = 1 << 24;
/// A file that is not in the payload (`%ghost`).
const FILE_GHOST: u64 = 1 << 6;
/// Most changelog entries kept (createrepo_c keeps ten by default; dnf shows a few).
pub const MAX_CHANGELOG: usize = 10;

/// One dependency: `name`, and a version comparison when `flags` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dep {
    pub name: String,
    /// `EQ`, `LT`, `GT`, `LE`, `GE`; none for a dependency on any version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pre: bool,
}

/// What a listed file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageFile {
    pub path: String,
    pub kind: FileKind,
}

/// One changelog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub author: String,
    pub date: u64,
    pub text: String,
}

/// Where a stored package is and what it is, as the repository's metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub epoch: u64,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub url: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub packager: String,
    pub buildhost: String,
    pub sourcerpm: String,
    pub buildtime: u64,
    /// Installed size.
    pub installed_size: u64,
    pub archive_size: u64,
    pub header_start: u64,
    pub header_end: u64,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub conflicts: Vec<Dep>,
    pub obsoletes: Vec<Dep>,
    pub files: Vec<PackageFile>,
    pub changelog: Vec<Change>,
    /// Set when stored: `location href`, relative to the repository root.
    #[serde(default)]
    pub location: String,
    /// The sha256 of the package file (hex), its `pkgid`.
    #[serde(default)]
    pub sha256: String,
    /// The package file's size.
    #[serde(default)]
    pub size: u64,
    /// When it was uploaded (seconds since the epoch).
    #[serde(default)]
    pub time_file: u64,
}

impl Package {
    /// The package the headers describe (location and checksum still empty).
    pub fn from_headers(h: &Headers) -> Result<Package, HeaderError> {
        let m = &h.main;
        let required = |t: u32, what: &str| -> Result<String, HeaderError> {
            m.string(t)?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| HeaderError::BadEntry { tag: t, why: format!("the package has no {what}") })
        };
        let text = |t: u32| -> Result<String, HeaderError> { Ok(m.string(t)?.unwrap_or_default()) };
        let sourcerpm = text(tag::SOURCERPM)?;
        // A source package has no SOURCERPM; repositories list it with arch "src".
        let arch = if sourcerpm.is_empty() { "src".to_string() } else { required(tag::ARCH, "arch")? };
        let installed_size = match m.int(tag::LONGSIZE)? {
            Some(n) => n,
            None => m.int(tag::SIZE)?.unwrap_or(0),
        };
        let archive_size = match h.signature.int(tag::LONGARCHIVESIZE)? {
            Some(n) => n,
            None => h.signature.int(tag::SIG_PAYLOADSIZE)?.or(m.int(tag::ARCHIVESIZE)?).unwrap_or(0),
        };
        Ok(Package {
            name: required(tag::NAME, "name")?,
            epoch: m.int(tag::EPOCH)?.unwrap_or(0),
            version: required(tag::VERSION, "version")?,
            release: required(tag::RELEASE, "release")?,
            arch,
            summary: text(tag::SUMMARY)?,
            description: text(tag::DESCRIPTION)?,
            url: text(tag::URL)?,
            license: text(tag::LICENSE)?,
            vendor: text(tag::VENDOR)?,
            group: text(tag::GROUP)?,
            packager: text(tag::PACKAGER)?,
            buildhost: text(tag::BUILDHOST)?,
            sourcerpm,
            buildtime: m.int(tag::BUILDTIME)?.unwrap_or(0),
            installed_size,
            archive_size,
            header_start: h.header_start,
            header_end: h.header_end,
            provides: deps(h, tag::PROVIDENAME, tag::PROVIDEFLAGS, tag::PROVIDEVERSION)?,
            requires: deps(h, tag::REQUIRENAME, tag::REQUIREFLAGS, tag::REQUIREVERSION)?,
            conflicts: deps(h, tag::CONFLICTNAME, tag::CONFLICTFLAGS, tag::CONFLICTVERSION)?,
            obsoletes: deps(h, tag::OBSOLETENAME, tag::OBSOLETEFLAGS, tag::OBSOLETEVERSION)?,
            files: files(h)?,
            changelog: changelog(h)?,
            location: String::new(),
            sha256: String::new(),
            size: 0,
            time_file: 0,
        })
    }

    /// `name-[epoch:]version-release.arch`, what the package is known by.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }

    /// `[epoch:]version-release`.
    pub fn evr(&self) -> String {
        match self.epoch {
            0 => format!("{}-{}", self.version, self.release),
            e => format!("{e}:{}-{}", self.version, self.release),
        }
    }
}

fn mismatch(tag: u32, what: &str) -> HeaderError {
    HeaderError::BadEntry { tag, why: format!("{what} does not have one value per name") }
}

/// The dependencies of one kind: parallel arrays of names, flags and versions.
fn deps(h: &Headers, names: u32, flags: u32, versions: u32) -> Result<Vec<Dep>, HeaderError> {
    let m = &h.main;
    let names = m.strings(names)?;
    let mut flag_values = m.ints(flags)?;
    let mut version_values = m.strings(versions)?;
    if flag_values.is_empty() {
        flag_values = vec![0; names.len()];
    }
    if version_values.is_empty() {
        version_values = vec![String::new(); names.len()];
    }
    if flag_values.len() != names.len() {
        return Err(mismatch(flags, "the flags"));
    }
    if version_values.len() != names.len() {
        return Err(mismatch(versions, "the versions"));
    }
    let mut out: Vec<Dep> = Vec::with_capacity(names.len());
    for ((name, f), v) in names.into_iter().zip(flag_values).zip(version_values) {
        if f & SENSE_RPMLIB != 0 || name.starts_with("rpmlib(") {
            continue;
        }
        let cmp = match f & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL) {
            x if x == SENSE_EQUAL => Some("EQ"),
            x if x == SENSE_LESS => Some("LT"),
            x if x == SENSE_GREATER => Some("GT"),
            x if x == SENSE_LESS | SENSE_EQUAL => Some("LE"),
            x if x == SENSE_GREATER | SENSE_EQUAL => Some("GE"),
            _ => None,
        };
        let (epoch, ver, rel) = match cmp {
            Some(_) if !v.is_empty() => split_evr(&v),
            _ => (None, None, None),
        };
        let dep = Dep {
            name,
            flags: cmp.filter(|_| ver.is_some()).map(str::to_string),
            epoch,
            ver,
            rel,
            pre: f & SENSE_PRE != 0,
        };
        if !out.contains(&dep) {
            out.push(dep);
        }
    }
    Ok(out)
}

/// `[epoch:]version[-release]` as its three parts (epoch `0` when absent, as createrepo writes).
pub fn split_evr(evr: &str) -> (Option<String>, Option<String>, Option<String>) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e.to_string(), rest),
        _ => ("0".to_string(), evr),
    };
    let (ver, rel) = match rest.rsplit_once('-') {
        Some((v, r)) => (v.to_string(), Some(r.to_string())),
        None => (rest.to_string(), None),
    };
    (Some(epoch), Some(ver), rel)
}

/// The file list: each file's directory (by index) and base name, its mode and flags.
fn files(h: &Headers) -> Result<Vec<PackageFile>, HeaderError> {
    let m = &h.main;
    let basenames = m.strings(tag::BASENAMES)?;
    let dirnames = m.strings(tag::DIRNAMES)?;
    let indexes = m.ints(tag::DIRINDEXES)?;
    let modes = m.ints(tag::FILEMODES)?;
    let flags = m.ints(tag::FILEFLAGS)?;
    if indexes.len() != basenames.len() {
        return Err(mismatch(tag::DIRINDEXES, "the directory indexes"));
    }
    basenames
        .into_iter()
        .zip(indexes)
        .enumerate()
        .map(|(i, (base, dir))| {
            let dir = dirnames.get(dir as usize).ok_or_else(|| HeaderError::BadEntry {
                tag: tag::DIRINDEXES,
                why: format!("directory index {dir} of {} directories", dirnames.len()),
            })?;
            let kind = if flags.get(i).is_some_and(|f| f & FILE_GHOST != 0) {
                FileKind::Ghost
            } else if modes.get(i).is_some_and(|m| m & 0o170000 == 0o040000) {
                FileKind::Dir
            } else {
                FileKind::File
            };
            Ok(PackageFile { path: format!("{dir}{base}"), kind })
        })
        .collect()
}

/// The newest [`MAX_CHANGELOG`] changelog entries, oldest first (as other.xml lists them).
fn changelog(h: &Headers) -> Result<Vec<Change>, HeaderError> {
    let m = &h.main;
    let times = m.ints(tag::CHANGELOGTIME)?;
    let names = m.strings(tag::CHANGELOGNAME)?;
    let texts = m.strings(tag::CHANGELOGTEXT)?;
    if names.len() != times.len() || texts.len() != times.len() {
        return Err(mismatch(tag::CHANGELOGTIME, "the changelog"));
    }
    let mut out: Vec<Change> = times
        .into_iter()
        .zip(names)
        .zip(texts)
        .take(MAX_CHANGELOG)
        .map(|((date, author), text)| Change { author, date, text })
        .collect();
    out.reverse();
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::header::build::{package, Value};
    use super::super::header::read;
    use super::*;
    use Value::*;

    fn strs(v: &[&str]) -> Value {
        StrArray(v.iter().map(|s| s.to_string()).collect())
    }

    pub(crate) fn sample_tags() -> Vec<(u32, Value)> {
        vec![
            (tag::NAME, Str("hello".into())),
            (tag::VERSION, Str("1.2".into())),
            (tag::RELEASE, Str("3.el9".into())),
            (tag::EPOCH, I32(vec![2])),
            (tag::SUMMARY, I18n(vec!["Says hello".into()])),
            (tag::DESCRIPTION, I18n(vec!["Says <hello> & more".into()])),
            (tag::BUILDTIME, I32(vec![1_700_000_000])),
            (tag::SIZE, I32(vec![12_345])),
            (tag::LICENSE, Str("MIT".into())),
            (tag::ARCH, Str("x86_64".into())),
            (tag::SOURCERPM, Str("hello-1.2-3.el9.src.rpm".into())),
            (tag::PROVIDENAME, strs(&["hello", "hello(x86-64)"])),
            (tag::PROVIDEFLAGS, I32(vec![8, 8])),
            (tag::PROVIDEVERSION, strs(&["2:1.2-3.el9", "2:1.2-3.el9"])),
            (tag::REQUIRENAME, strs(&["/bin/sh", "libfoo", "rpmlib(CompressedFileNames)", "libbar", "libfoo"])),
            (tag::REQUIREFLAGS, I32(vec![1 << 9, 12, (1 << 24) | 10, 0, 12])),
            (tag::REQUIREVERSION, strs(&["", "1.0", "3.0.4-1", "", "1.0"])),
            (tag::OBSOLETENAME, strs(&["hi"])),
            (tag::OBSOLETEFLAGS, I32(vec![2])),
            (tag::OBSOLETEVERSION, strs(&["1.0-1"])),
            (tag::BASENAMES, strs(&["hello", "doc", "hello.conf", "cache"])),
            (tag::DIRNAMES, strs(&["/usr/bin/", "/usr/share/", "/etc/", "/var/"])),
            (tag::DIRINDEXES, I32(vec![0, 1, 2, 3])),
            (tag::FILEMODES, I16(vec![0o100755, 0o040755, 0o100644, 0o100644])),
            (tag::FILEFLAGS, I32(vec![0, 0, 1, 64])),
            (tag::CHANGELOGTIME, I32(vec![1_700_000_000, 1_600_000_000])),
            (tag::CHANGELOGNAME, strs(&["Ann <ann@example.org> - 1.2-3", "Bob - 1.0-1"])),
            (tag::CHANGELOGTEXT, strs(&["- newer", "- first"])),
        ]
    }

    #[test]
    fn reads_what_repository_metadata_lists() {
        let h = read(package(&sample_tags(), b"").as_slice()).unwrap();
        let p = Package::from_headers(&h).unwrap();
        assert_eq!(p.nevra(), "hello-2:1.2-3.el9.x86_64");
        assert_eq!((p.summary.as_str(), p.installed_size, p.buildtime), ("Says hello", 12_345, 1_700_000_000));
        assert_eq!(p.header_start, h.header_start);
        let names: Vec<&str> = p.requires.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["/bin/sh", "libfoo", "libbar"], "rpmlib() and duplicates dropped");
        assert!(p.requires[0].pre && p.requires[0].flags.is_none());
        assert_eq!(
            p.requires[1],
            Dep {
                name: "libfoo".into(),
                flags: Some("GE".into()),
                epoch: Some("0".into()),
                ver: Some("1.0".into()),
                rel: None,
                pre: false
            }
        );
        assert_eq!(p.provides[0].epoch.as_deref(), Some("2"));
        assert_eq!((p.obsoletes[0].flags.as_deref(), p.obsoletes[0].rel.as_deref()), (Some("LT"), Some("1")));
        let files: Vec<(&str, FileKind)> = p.files.iter().map(|f| (f.path.as_str(), f.kind)).collect();
        assert_eq!(
            files,
            vec![
                ("/usr/bin/hello", FileKind::File),
                ("/usr/share/doc", FileKind::Dir),
                ("/etc/hello.conf", FileKind::File),
                ("/var/cache", FileKind::Ghost)
            ]
        );
        assert_eq!(p.changelog[0].text, "- first", "oldest first");
        assert_eq!(p.changelog.len(), 2);
    }

    #[test]
    fn inconsistent_headers_are_refused() {
        let without = |t: u32| sample_tags().into_iter().filter(|(k, _)| *k != t).collect::<Vec<_>>();
        let replaced = |t: u32, v: Value| {
            let mut tags = without(t);
            tags.push((t, v));
            tags
        };
        type Case = (&'static str, Vec<(u32, Value)>, &'static str);
        let cases: Vec<Case> = vec![
            ("no name", without(tag::NAME), "has no name"),
            ("empty version", replaced(tag::VERSION, Str(String::new())), "has no version"),
            ("flags", replaced(tag::REQUIREFLAGS, I32(vec![0])), "the flags does not have"),
            ("versions", replaced(tag::PROVIDEVERSION, strs(&["1"])), "the versions"),
            ("dir index", replaced(tag::DIRINDEXES, I32(vec![0, 1, 2, 9])), "directory index 9 of 4"),
            ("dir indexes", replaced(tag::DIRINDEXES, I32(vec![0])), "the directory indexes"),
            ("changelog", replaced(tag::CHANGELOGTEXT, strs(&["x"])), "the changelog"),
            ("name type", replaced(tag::NAME, I32(vec![1])), "where strings belong"),
        ];
        for (what, tags, want) in cases {
            let h = read(package(&tags, b"").as_slice()).unwrap();
            let err = Package::from_headers(&h).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{what}: {err:?} does not say {want:?}");
        }
    }

    #[test]
    fn evr_splits_like_rpm() {
        let s = |x: Option<&str>| x.map(str::to_string);
        let cases = [
            ("1.0", (s(Some("0")), s(Some("1.0")), None)),
            ("1.0-1", (s(Some("0")), s(Some("1.0")), s(Some("1")))),
            ("3:1.0-1.el9", (s(Some("3")), s(Some("1.0")), s(Some("1.el9")))),
            ("a:1", (s(Some("0")), s(Some("a:1")), None)),
        ];
        for (evr, want) in cases {
            assert_eq!(split_evr(evr), want, "{evr}");
        }
    }
}

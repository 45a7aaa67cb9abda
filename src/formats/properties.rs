//! Property tests of every package type's parsers, over hostile input.
//!
//! The tables in each type's module pin the cases someone thought of; these generate the ones
//! nobody did. For any request path, query and `Accept` up to the limits, every type's
//! [`Format::parse`] and the decisions after it (subject, class, plan) must not panic, and every
//! path a plan names (catalog path, redirect, listed file, upstream suffix) must stay below its
//! base: relative, no dot segment in any spelling, no NUL or backslash, and an upstream URL that
//! a URL parser (which resolves `%2e%2e`) still finds below the remote's base. For any document
//! body, arbitrary or a real document with bytes changed, the document parsers (check, rewrite,
//! index parse, locate) must not panic either. The docker `/v2` router and the digest parsers
//! get the same treatment.
//!
//! Case counts keep `cargo test` quick: the whole file runs in a few seconds.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::docker::digest::{parse_digest, parse_oci_digest};
use super::docker::endpoint::V2Path;
use super::{fixtures, Doc, Format, Method, PackageType, Plan, Repo, Request, Target, Urls};
use crate::paths::properties::HOSTILE_PIECES;
use crate::paths::MAX_PATH_BYTES;

const BASE: &str = "http://upstream.test/base/";

fn repo() -> Repo<'static> {
    Repo { name: "r", base_url: BASE, ban_tags: &[] }
}

fn urls() -> Urls {
    Urls { public: "http://proxy.test/api/v1/remote/r/".into(), base: BASE.into(), document: format!("{BASE}index") }
}

/// The words the types route on, mixed with [`HOSTILE_PIECES`] into paths.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "1.0.0", "sha256:", "sha512:", "manifests", "blobs", "uploads", "tags", "list", "referrers", "library", "latest",
    "@v", "@latest", "v3", "files", "releases", "modules", "simple", "packages", "index.yaml", ".tgz", ".tar.gz",
    ".whl", ".metadata", ".apk", "APKINDEX.tar.gz", "repodata", "repomd.xml", ".rpm", ".info", ".mod", ".zip",
    "versions", "download", "providers", ".well-known", "terraform.json", "linux", "amd64", "@scope", "%40scope",
    "dist-tags", "-", "Z",
];

fn piece() -> impl Strategy<Value = &'static str> {
    prop_oneof![proptest::sample::select(HOSTILE_PIECES), proptest::sample::select(WORDS)]
}

fn hostile_text(max_tokens: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => vec(piece(), 0..max_tokens).prop_map(|t| t.concat()),
        1 => any::<String>(),
        1 => "[ -~]{0,80}",
        // Right at the length limits.
        1 => (MAX_PATH_BYTES - 2..MAX_PATH_BYTES + 2).prop_map(|n| "a/".repeat(n / 2 + 1)[..n].to_string()),
    ]
}

const METHODS: &[Method] = &[Method::Get, Method::Head, Method::Put, Method::Post, Method::Delete, Method::Other];

/// Openings that nest: a parser that recurses on them overflows its stack long before 20,000.
const NESTS: &[&str] = &["[", "{\"a\":", "- ", "<a>", "a:\n  "];

/// Bytes documents are broken with: structure characters, quotes, escapes, high bytes.
const EDIT_BYTES: &[u8] = b"{}[]:,\"\\<>/&#=-\n \t\x00\xff";

const ACCEPTS: &[&str] = &[
    "",
    "*/*",
    "application/json",
    "application/vnd.npm.install-v1+json",
    "application/vnd.pypi.simple.v1+json",
    "application/vnd.pypi.simple.v1+html;q=0.5, text/html",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json;q=0",
    ";;;,,,q=abc",
];

/// A path a plan names relative to its repository: decoded, below it.
fn check_relative(what: &str, p: &str) -> Result<(), TestCaseError> {
    prop_assert!(!p.starts_with('/'), "{what} {p:?} is absolute");
    prop_assert!(!p.contains('\\') && !p.contains('\0'), "{what} {p:?} has a backslash or NUL");
    prop_assert!(p.split('/').all(|s| s != "." && s != ".."), "{what} {p:?} has a dot segment");
    Ok(())
}

/// The upstream suffix of a target, appended to the base, is still below the base for a URL
/// parser (which treats `%2e%2e` as `..`).
fn check_upstream(suffix: &str) -> Result<(), TestCaseError> {
    prop_assert!(!suffix.starts_with('/') && !suffix.contains("://"), "upstream {suffix:?} leaves the base");
    let joined = crate::paths::join_upstream_suffix(BASE, suffix);
    if let Ok(u) = url::Url::parse(&joined) {
        prop_assert_eq!(u.host_str(), Some("upstream.test"), "upstream {:?} changes host", suffix);
        prop_assert!(u.path().starts_with("/base/"), "upstream {suffix:?} resolves to {u} outside {BASE}");
    }
    Ok(())
}

fn check_target(t: &Target) -> Result<(), TestCaseError> {
    check_relative("catalog path", &t.path)?;
    check_upstream(&t.upstream)
}

/// Parses `req` with `f` and checks everything decided from it.
fn check_request<F: Format>(f: &F, req: &Request<'_>) -> Result<(), TestCaseError> {
    let Ok(e) = f.parse(req) else { return Ok(()) };
    let _ = f.subject(&e, &repo());
    let _ = f.classify(&e);
    let _ = f.local_plan(&e);
    let _ = f.local_owner(&e);
    match f.plan(&e, &repo()) {
        Ok(Plan::Bytes(t)) | Ok(Plan::Document(t, _)) => check_target(&t)?,
        Ok(Plan::Redirect(p)) => check_relative("redirect", &p)?,
        Ok(Plan::Listed { path, index }) => {
            check_relative("listed file", &path)?;
            match f.plan(&index, &repo()) {
                Ok(Plan::Document(t, _)) => check_target(&t)?,
                other => prop_assert!(false, "the index of a listed file plans {other:?}"),
            }
        }
        Err(_) => {}
    }
    if let Some(via) = f.document_via(&e) {
        if let Ok(Plan::Document(t, _)) | Ok(Plan::Bytes(t)) = f.plan(&via, &repo()) {
            check_target(&t)?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn every_endpoint_parser_keeps_paths_below_their_base(
        path in hostile_text(40),
        query in hostile_text(8),
        accept in vec(proptest::sample::select(ACCEPTS), 0..3),
        method in proptest::sample::select(METHODS),
    ) {
        for t in PackageType::ALL {
            let req = Request { repo: "r", method, path: &path, query: &query, accept: &accept };
            crate::with_format!(t, f => check_request(f, &req))?;
        }
    }

    #[test]
    fn the_v2_router_never_panics(path in hostile_text(40)) {
        let _ = V2Path::parse(&format!("/v2/{path}"));
        let _ = V2Path::parse(&path);
    }

    #[test]
    fn digest_parsers_accept_only_their_forms(s in prop_oneof![
        hostile_text(6),
        "(sha256|sha512|SHA256|blake3|)[:%]?[0-9a-fA-Fg]{0,130}",
    ]) {
        if let Ok(d) = parse_oci_digest(&s) {
            prop_assert_eq!(d.to_string(), s.clone(), "a digest reads back as it was written");
        }
        if let Ok(d) = parse_digest(&s) {
            prop_assert_eq!(format!("sha256:{}", d.hex()), s.clone());
        }
        if let Ok(d) = s.parse::<artifactapi_actors::digest::Digest>() {
            prop_assert_eq!(d.hex().len(), 64);
        }
    }
}

/// Endpoints with documents (and files they list) of each type, with a real document to mutate.
struct DocCase {
    t: PackageType,
    doc: &'static str,
    query: &'static str,
    accept: &'static str,
    file: &'static str,
    real: fn() -> Vec<u8>,
}

const NPM_ACCEPT: &str = "application/vnd.npm.install-v1+json";
const PEP691: &str = "application/vnd.pypi.simple.v1+json";

fn doc_cases() -> Vec<DocCase> {
    let none: fn() -> Vec<u8> = Vec::new;
    vec![
        DocCase {
            t: PackageType::Npm,
            doc: "pkg",
            query: "",
            accept: "",
            file: "pkg/-/pkg-1.0.0.tgz",
            real: || fixtures::npm_packument("pkg", 3, BASE),
        },
        DocCase {
            t: PackageType::Npm,
            doc: "pkg",
            query: "",
            accept: NPM_ACCEPT,
            file: "pkg/-/pkg-1.0.1.tgz",
            real: || fixtures::npm_packument("pkg", 3, BASE),
        },
        DocCase {
            t: PackageType::Pypi,
            doc: "simple/pkg/",
            query: "",
            accept: PEP691,
            file: "simple/pkg/pkg-1.0.0-py3-none-any.whl",
            real: || fixtures::pypi_project("pkg", 4, BASE).json,
        },
        DocCase {
            t: PackageType::Pypi,
            doc: "simple/pkg/",
            query: "",
            accept: "text/html",
            file: "simple/pkg/pkg-1.0.0.tar.gz",
            real: || fixtures::pypi_project("pkg", 4, BASE).html,
        },
        DocCase {
            t: PackageType::Helm,
            doc: "index.yaml",
            query: "",
            accept: "",
            file: "chart-0-1.0.0.tgz",
            real: || fixtures::helm_index(2, 2),
        },
        DocCase {
            t: PackageType::Goproxy,
            doc: "m.test/x/@v/list",
            query: "",
            accept: "",
            file: "m.test/x/@v/v1.0.0.zip",
            real: || b"v1.0.0\nv1.1.0\n".to_vec(),
        },
        DocCase {
            t: PackageType::Rpm,
            doc: "repodata/repomd.xml",
            query: "",
            accept: "",
            file: "Packages/a-1.0-1.x86_64.rpm",
            real: none,
        },
        DocCase {
            t: PackageType::Alpine,
            doc: "v3.20/main/x86_64/APKINDEX.tar.gz",
            query: "",
            accept: "",
            file: "v3.20/main/x86_64/a-1.0-r0.apk",
            real: none,
        },
        DocCase {
            t: PackageType::Puppet,
            doc: "v3/releases",
            query: "module=puppetlabs-stdlib",
            accept: "",
            file: "v3/files/puppetlabs-stdlib-1.0.0.tar.gz",
            real: none,
        },
        DocCase {
            t: PackageType::Terraform,
            doc: "v1/providers/hashicorp/aws/versions",
            query: "",
            accept: "",
            file: "v1/providers/hashicorp/aws/1.0.0/download/linux/amd64",
            real: none,
        },
        DocCase {
            t: PackageType::Terraform,
            doc: ".well-known/terraform.json",
            query: "",
            accept: "",
            file: "hashicorp/aws/index.json",
            real: none,
        },
    ]
}

/// Runs every document operation of `f` on `body`, as the index `c.doc` and for the file
/// `c.file`; none may panic.
fn check_documents<F: Format>(f: &F, c: &DocCase, body: &[u8]) {
    let accept = [c.accept];
    let accept: &[&str] = if c.accept.is_empty() { &[] } else { &accept };
    let req = |path: &'static str| Request { repo: "r", method: Method::Get, path, query: c.query, accept };
    let urls = urls();
    let Ok(index) = f.parse(&req(c.doc)) else { return };
    let doc = match f.plan(&index, &repo()) {
        Ok(Plan::Document(_, doc)) => doc,
        _ => Doc { variant: "", accept: "" },
    };
    let _ = f.check_document(&index, body);
    if let Ok(r) = f.rewrite(&index, &doc, body, &urls) {
        let _ = f.merge(&index, &doc, vec![r.clone(), r]);
    }
    let Ok(file) = f.parse(&req(c.file)) else { return };
    let _ = f.locate(&file, body, &urls);
    if let Some(Ok(parsed)) = f.parse_index(&index, body) {
        let _ = f.locate_parsed(&file, &parsed, &urls);
    }
}

/// A real document with bytes replaced, inserted or cut off.
fn mutated(real: Vec<u8>, edits: &[(usize, u8, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut b = real;
    for &(at, op, byte) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = at % b.len();
        match op % 3 {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            _ => {
                b.remove(i);
            }
        }
    }
    if let Some(n) = cut {
        b.truncate(n % (b.len() + 1));
    }
    b
}

fn edit_byte() -> impl Strategy<Value = u8> {
    prop_oneof![proptest::sample::select(EDIT_BYTES), any::<u8>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn document_parsers_never_panic_on_broken_documents(
        which in any::<prop::sample::Index>(),
        edits in vec((any::<usize>(), any::<u8>(), edit_byte()), 0..12),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let cases = doc_cases();
        let c = which.get(&cases);
        let body = mutated((c.real)(), &edits, cut);
        crate::with_format!(c.t, f => check_documents(f, c, &body));
    }

    #[test]
    fn document_parsers_never_panic_on_arbitrary_bytes(
        which in any::<prop::sample::Index>(),
        body in prop_oneof![
            vec(any::<u8>(), 0..2048),
            hostile_text(64).prop_map(String::into_bytes),
            // Deep nesting: recursion in a parser is a stack overflow here.
            (1usize..20_000, proptest::sample::select(NESTS))
                .prop_map(|(n, s)| s.repeat(n).into_bytes()),
        ],
    ) {
        let cases = doc_cases();
        let c = which.get(&cases);
        crate::with_format!(c.t, f => check_documents(f, c, &body));
    }
}

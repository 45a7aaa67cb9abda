//! Terraform provider registries (the provider registry protocol).
//!
//! `v1/providers/{namespace}/{type}/versions` lists the published versions and changes with
//! each release. `v1/providers/{namespace}/{type}/{version}/download/{os}/{arch}` describes one
//! published build (its file name, checksum and signature) and never changes.
//!
//! A remote serves the upstream's bytes at the same path. A local terraform repository is a
//! registry of its own ([`registry`]): the namespace is the local's name, the two documents are
//! generated from the versions it holds, every other path is one of its files.

pub mod protocol;
pub mod registry;

use std::borrow::Cow;

use super::files::{file_target, FileError};
use super::{segments, Class, Doc, Format, LocalPackages, LocalPlan, PackageType, Plan, Rendered, Repo, Request, Urls};
use crate::paths::RepoPath;

pub struct Terraform;

/// A terraform request, parsed once: a registry document or any other file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `v1/providers/{namespace}/{provider}/versions`.
    Versions {
        path: RepoPath,
        namespace: String,
        provider: String,
    },
    /// `v1/providers/{namespace}/{provider}/{version}/download/{os}/{arch}`.
    Download {
        path: RepoPath,
        namespace: String,
        provider: String,
        version: String,
        os: String,
        arch: String,
    },
    File(RepoPath),
}

impl Endpoint {
    pub fn path(&self) -> &RepoPath {
        match self {
            Endpoint::Versions { path, .. } | Endpoint::Download { path, .. } | Endpoint::File(path) => path,
        }
    }

    fn parse(path: RepoPath) -> Endpoint {
        let s: Vec<String> = path.segments().to_vec();
        match s.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["v1", "providers", ns, ty, "versions"] if !path.has_trailing_slash() => {
                Endpoint::Versions { namespace: ns.into(), provider: ty.into(), path }
            }
            ["v1", "providers", ns, ty, version, "download", os, arch] if !path.has_trailing_slash() => {
                Endpoint::Download {
                    namespace: ns.into(),
                    provider: ty.into(),
                    version: version.into(),
                    os: os.into(),
                    arch: arch.into(),
                    path,
                }
            }
            _ => Endpoint::File(path),
        }
    }
}

/// The registry documents' one form.
const JSON: Doc = Doc { variant: "", accept: "" };

fn classify_path(path: &str) -> Class {
    let segs = segments(path);
    let n = segs.len();
    let download = n >= 4 && segs[n - 3] == "download" && !segs[n - 2].is_empty() && !segs[n - 1].is_empty();
    Class::immutable_if(download)
}

impl Format for Terraform {
    const TYPE: PackageType = PackageType::Terraform;
    type Endpoint = Endpoint;
    type Error = FileError;

    fn parse(&self, req: &Request<'_>) -> Result<Endpoint, FileError> {
        Ok(Endpoint::parse(RepoPath::parse(req.path)?))
    }

    fn subject<'e>(&self, e: &'e Endpoint, _repo: &Repo<'_>) -> Cow<'e, str> {
        Cow::Borrowed(e.path().as_str())
    }

    fn classify(&self, e: &Endpoint) -> Class {
        classify_path(e.path().as_str())
    }

    fn plan(&self, e: &Endpoint, _repo: &Repo<'_>) -> Result<Plan<Endpoint>, FileError> {
        Ok(Plan::Bytes(file_target(e.path())))
    }

    /// A local's namespace is its name: the documents of its providers are generated, every
    /// other path is a stored file.
    fn local_plan(&self, e: &Endpoint) -> Option<LocalPlan> {
        match e {
            Endpoint::Versions { provider, .. } | Endpoint::Download { provider, .. } => {
                Some(LocalPlan::Document { package: Some(provider.clone()), doc: JSON })
            }
            Endpoint::File(path) => Some(LocalPlan::File(path.as_str().to_string())),
        }
    }

    fn local_absent(&self, e: &Endpoint, packages: &LocalPackages) -> bool {
        match e {
            Endpoint::Versions { .. } => packages.published().next().is_none(),
            Endpoint::Download { version, os, arch, .. } => registry::download_absent(packages, version, os, arch),
            Endpoint::File(_) => false,
        }
    }

    fn local_document(
        &self,
        e: &Endpoint,
        _doc: &Doc,
        packages: &LocalPackages,
        urls: &Urls,
    ) -> Result<Rendered, String> {
        let body = match e {
            Endpoint::Versions { .. } => registry::versions_document(packages)?,
            Endpoint::Download { version, os, arch, .. } => {
                registry::download_document(packages, version, os, arch, &urls.public)?
                    .ok_or_else(|| format!("{version} {os}_{arch} is not there"))?
            }
            Endpoint::File(path) => return Err(format!("{path:?} is a file, not a document")),
        };
        Ok(Rendered::new(body, "application/json"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, get};
    use super::*;
    use Class::*;

    #[test]
    fn versions_are_mutable_downloads_are_not() {
        check(
            &Terraform,
            &[
                ("v1/providers/hashicorp/aws/versions", Mutable),
                ("providers/hashicorp/aws/versions", Mutable),
                ("v1/providers/hashicorp/versions/versions", Mutable),
                ("v1/providers/hashicorp/aws/5.0.0/download/linux/amd64", Immutable),
                ("v1/providers/hashicorp/versions/1.0.0/download/darwin/arm64", Immutable),
                ("v1/providers/hashicorp/aws/5.0.0/download/linux/", Mutable),
                ("v1/providers/hashicorp/aws/5.0.0/download", Mutable),
                ("download/linux/amd64", Mutable),
                (".well-known/terraform.json", Mutable),
            ],
        );
    }

    #[test]
    fn locals_generate_the_registry_documents_and_serve_files() {
        let plan = |p: &str| Terraform.parse(&get(p)).ok().and_then(|e| Terraform.local_plan(&e));
        let doc = |package: &str| Some(LocalPlan::Document { package: Some(package.into()), doc: JSON });
        let file = |path: &str| Some(LocalPlan::File(path.into()));
        let cases: Vec<(&str, Option<LocalPlan>)> = vec![
            ("v1/providers/acme/thing/versions", doc("thing")),
            ("v1/providers/acme/thing/1.0.0/download/linux/amd64", doc("thing")),
            ("v1/providers/acme/thing/versions/", file("v1/providers/acme/thing/versions/")),
            ("v1/providers/acme/thing/1.0.0/download/linux", file("v1/providers/acme/thing/1.0.0/download/linux")),
            (
                "thing/terraform-provider-thing_1.0.0_linux_amd64.zip",
                file("thing/terraform-provider-thing_1.0.0_linux_amd64.zip"),
            ),
            (
                "thing/1.0.0/ab/terraform-provider-thing_1.0.0_SHA256SUMS.sig",
                file("thing/1.0.0/ab/terraform-provider-thing_1.0.0_SHA256SUMS.sig"),
            ),
            ("v1/providers/acme/%2e%2e/versions", None),
            ("thing/..%2fx.zip", None),
            ("thing\\x.zip", None),
        ];
        for (path, want) in cases {
            assert_eq!(plan(path), want, "{path}");
        }
        let e = Terraform.parse(&get("v1/providers/acme/thing/1.2.0/download/darwin/arm64")).unwrap();
        assert!(matches!(&e, Endpoint::Download { namespace, version, os, arch, .. }
            if namespace == "acme" && version == "1.2.0" && os == "darwin" && arch == "arm64"));
    }
}

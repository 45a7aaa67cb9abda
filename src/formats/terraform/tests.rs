//! Tests of the [`Terraform`] format: classification, plans, hostile requests, the network
//! mirror's host rule.

use super::super::tests::{check, get};
use super::*;
use Class::*;

const REPO: Repo<'static> = Repo { name: "tf", base_url: "https://registry.example:8443/", ban_tags: &[] };

fn parse(path: &str) -> Result<TerraformRequest, TerraformError> {
    Terraform.parse(&get(path))
}

#[test]
fn versions_are_mutable_downloads_and_their_files_are_not() {
    check(
        &Terraform,
        &[
            (".well-known/terraform.json", Mutable),
            ("v1/providers/hashicorp/aws/versions", Mutable),
            ("v1/providers/hashicorp/versions/versions", Mutable),
            ("v1/providers/hashicorp/aws/5.0.0/download/linux/amd64", Immutable),
            ("v1/providers/hashicorp/versions/1.0.0/download/darwin/arm64", Immutable),
            (
                "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/terraform-provider-aws_5.0.0_linux_amd64.zip",
                Immutable,
            ),
            ("v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/SHA256SUMS.sig", Immutable),
            ("v1/providers/hashicorp/aws/5.0.0/download/linux/", Mutable),
            ("v1/providers/hashicorp/aws/5.0.0/download", Mutable),
            ("registry.example/hashicorp/aws/index.json", Mutable),
            ("registry.example/hashicorp/aws/5.0.0.json", Mutable),
        ],
    );
}

#[test]
fn hostile_or_malformed_requests_are_bad_requests_and_unknown_shapes_404() {
    for path in [
        "v1/providers/%2e%2e/aws/versions",
        "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/..%2fsecret",
        "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/%2e%2e",
        "v1/providers/hashicorp/a%00ws/versions",
        "v1/providers/hashicorp/a%5Cws/versions",
        "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/a\\b.zip",
        "v1/providers/hashicorp/aws/1.0;rm/download/linux/amd64",
        "v1/providers/hashicorp/aws/5.0.0/download/../amd64",
        "registry.example/hashicorp/aws/..json",
    ] {
        let err = parse(path).expect_err(path);
        assert_eq!(err.status(), 400, "{path}: {err}");
    }
    for path in [
        "v1/providers/hashicorp/aws",
        "v2/providers/a/b/versions",
        "x",
        "registry.example/a/b/index.html",
        "registry.example:8443/hashicorp/aws/index.json",
    ] {
        let e = parse(path).expect(path);
        assert_eq!(e.endpoint, Endpoint::Other, "{path}");
        let err = Terraform.plan(&e, &REPO).expect_err(path);
        assert_eq!((err.status(), err.code()), (404, "NOT_FOUND"), "{path}: {err}");
    }
}

#[test]
fn documents_are_held_files_are_listed_in_their_download_document() {
    let versions = parse("v1/providers/hashicorp/aws/versions").unwrap();
    let Ok(Plan::Document(t, doc)) = Terraform.plan(&versions, &REPO) else { panic!("a document") };
    assert!(t.held && doc == DOC);
    assert_eq!(Terraform.document_via(&versions).map(|d| d.endpoint), Some(Endpoint::Discovery));
    let discovery = parse(".well-known/terraform.json").unwrap();
    let Ok(Plan::Document(t, _)) = Terraform.plan(&discovery, &REPO) else { panic!("a document") };
    assert_eq!(t.upstream, ".well-known/terraform.json");
    assert_eq!(Terraform.document_via(&discovery), None, "discovery is at its own path");

    let zip = "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/terraform-provider-aws_5.0.0_linux_amd64.zip";
    let Ok(Plan::Listed { path, index }) = Terraform.plan(&parse(zip).unwrap(), &REPO) else { panic!("listed") };
    assert_eq!(path, zip);
    assert_eq!(index, parse("v1/providers/hashicorp/aws/5.0.0/download/linux/amd64").unwrap());
}

#[test]
fn the_mirror_answers_for_the_upstream_host_without_its_port_only() {
    let index = parse("registry.example/hashicorp/aws/index.json").unwrap();
    let plan = mirror_plan(&index, &REPO).unwrap();
    assert_eq!(plan, MirrorPlan { versions: parse("v1/providers/hashicorp/aws/versions").unwrap(), version: None });
    let version = parse("REGISTRY.example/hashicorp/aws/5.1.0.json").unwrap();
    assert_eq!(mirror_plan(&version, &REPO).unwrap().version.as_deref(), Some("5.1.0"));
    for other in ["registry.terraform.io/hashicorp/aws/index.json", "127.0.0.1/hashicorp/aws/5.1.0.json"] {
        let err = mirror_plan(&parse(other).unwrap(), &REPO).expect_err(other);
        assert_eq!(err.status(), 404, "{other}");
        assert!(err.to_string().contains("registry.example"), "{err}");
    }
    assert!(Terraform.plan(&index, &REPO).is_err_and(|e| e.status() == 404), "not a plain document");
    let ip = Repo { base_url: "http://127.0.0.1:9000/", ..REPO };
    assert!(mirror_plan(&parse("127.0.0.1/a/b/index.json").unwrap(), &ip).is_ok());
}

#[test]
fn locals_generate_the_registry_documents_and_serve_files() {
    let plan = |p: &str| Terraform.parse(&get(p)).ok().and_then(|e| Terraform.local_plan(&e));
    let doc = |package: &str| Some(LocalPlan::Document { package: Some(package.into()), doc: DOC });
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
    assert!(matches!(&e.endpoint, Endpoint::Download(b)
        if b.provider.namespace == "acme" && b.version == "1.2.0" && b.os == "darwin" && b.arch == "arm64"));
}

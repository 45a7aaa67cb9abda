//! Tables of [`super::Endpoint::parse`]: every endpoint of both protocols, and what is refused.

use super::*;

fn provider(ns: &str, kind: &str) -> Provider {
    Provider { namespace: ns.into(), ty: kind.into() }
}

fn build(version: &str, os: &str, arch: &str) -> Build {
    Build { provider: provider("hashicorp", "aws"), version: version.into(), os: os.into(), arch: arch.into() }
}

#[test]
fn parses_every_registry_and_mirror_endpoint() {
    let cases: Vec<(&str, Endpoint)> = vec![
        (".well-known/terraform.json", Endpoint::Discovery),
        ("v1/providers/hashicorp/aws/versions", Endpoint::Versions(provider("hashicorp", "aws"))),
        ("v1/providers/my-org/my_type/versions", Endpoint::Versions(provider("my-org", "my_type"))),
        (
            "v1/providers/hashicorp/aws/5.31.0/download/linux/amd64",
            Endpoint::Download(build("5.31.0", "linux", "amd64")),
        ),
        (
            "v1/providers/hashicorp/aws/1.0.0-rc.1+b2/download/darwin/arm64",
            Endpoint::Download(build("1.0.0-rc.1+b2", "darwin", "arm64")),
        ),
        (
            "v1/providers/hashicorp/aws/5.31.0/download/linux/amd64/terraform-provider-aws_5.31.0_linux_amd64.zip",
            Endpoint::File(
                build("5.31.0", "linux", "amd64"),
                BuildFile::Zip("terraform-provider-aws_5.31.0_linux_amd64.zip".into()),
            ),
        ),
        (
            "v1/providers/hashicorp/aws/5.31.0/download/linux/amd64/SHA256SUMS",
            Endpoint::File(build("5.31.0", "linux", "amd64"), BuildFile::Sums),
        ),
        (
            "v1/providers/hashicorp/aws/5.31.0/download/linux/amd64/SHA256SUMS.sig",
            Endpoint::File(build("5.31.0", "linux", "amd64"), BuildFile::Signature),
        ),
        (
            "registry.terraform.io/hashicorp/aws/index.json",
            Endpoint::MirrorIndex { host: "registry.terraform.io".into(), provider: provider("hashicorp", "aws") },
        ),
        (
            "Registry.Example/hashicorp/aws/5.31.0.json",
            Endpoint::MirrorVersion {
                host: "registry.example".into(),
                provider: provider("hashicorp", "aws"),
                version: "5.31.0".into(),
            },
        ),
        (
            "127.0.0.1/acme/thing/1.0.0.json",
            Endpoint::MirrorVersion {
                host: "127.0.0.1".into(),
                provider: provider("acme", "thing"),
                version: "1.0.0".into(),
            },
        ),
    ];
    for (path, want) in cases {
        assert_eq!(Endpoint::parse(path).as_ref(), Ok(&want), "{path}");
    }
}

#[test]
fn refuses_what_is_no_endpoint_or_no_plain_name() {
    let long = format!("v1/providers/a/{}/versions", "b".repeat(MAX_PART_BYTES + 1));
    for path in [
        "",
        ".well-known/terraform.json/x",
        "v1/providers/hashicorp/versions",
        "v1/providers/hashicorp/aws/versions/x",
        "v1/providers/-x/aws/versions",
        "v1/providers/hashicorp/a ws/versions",
        "v1/providers/hashicorp/aws/v5/download/linux/amd64",
        "v1/providers/hashicorp/aws/5.0.0/download/Linux/amd64",
        "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/.hidden",
        "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/a;b.zip",
        "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/a\\b.zip",
        "v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/a/b.zip",
        "v1/providers/hashicorp/aws/5.0.0/download/linux",
        "registry.example:8443/hashicorp/aws/index.json",
        "registry.example/hashicorp/aws/index.html",
        "registry.example/hashicorp/aws/latest.json",
        "registry.example/hashicorp/aws/index.json/x",
        "-bad/hashicorp/aws/index.json",
        "v1/providers/aws/index.json",
        long.as_str(),
    ] {
        assert!(Endpoint::parse(path).is_err(), "{path}");
    }
    let kind = |path: &str| match Endpoint::parse(path) {
        Err(ParseError::Invalid(_)) => "invalid",
        Err(ParseError::Unknown(_)) => "unknown",
        Ok(_) => "ok",
    };
    assert_eq!(kind("v1/providers/-x/aws/versions"), "invalid");
    assert_eq!(kind("v1/providers/hashicorp/aws/5.0.0/download/linux/amd64/a;b.zip"), "invalid");
    assert_eq!(kind("registry.example/hashicorp/aws/index.html"), "unknown");
    assert_eq!(kind("registry.example:8443/hashicorp/aws/index.json"), "unknown", "a port: another host name");
    assert_eq!(kind("v1/providers/hashicorp/versions"), "unknown");
}

#[test]
fn builds_name_their_paths() {
    let b = build("5.31.0", "linux", "amd64");
    assert_eq!(b.rest(), "hashicorp/aws/5.31.0/download/linux/amd64");
    assert_eq!(b.path(), "v1/providers/hashicorp/aws/5.31.0/download/linux/amd64");
    assert_eq!(
        b.file_path(&BuildFile::Signature),
        "v1/providers/hashicorp/aws/5.31.0/download/linux/amd64/SHA256SUMS.sig"
    );
    assert_eq!(provider("a", "b").versions_rest(), "a/b/versions");
}

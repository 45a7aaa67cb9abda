//! Table tests of the provider registry and mirror paths, file names and documents.

use serde_json::json;

use super::*;

fn provider(ns: &str, ty: &str) -> Provider {
    Provider { namespace: ns.into(), ty: ty.into() }
}

fn platform(os: &str, arch: &str) -> Platform {
    Platform { os: os.into(), arch: arch.into() }
}

#[test]
fn provider_paths() {
    let ok = [
        ("hashicorp/aws/versions", ProviderPath::Versions(provider("hashicorp", "aws"))),
        ("my-repo/null_x/versions", ProviderPath::Versions(provider("my-repo", "null_x"))),
        (
            "hashicorp/aws/5.31.0/download/linux/amd64",
            ProviderPath::Download(provider("hashicorp", "aws"), "5.31.0".into(), platform("linux", "amd64")),
        ),
        (
            "ns/t/1.0.0-rc.1+build.5/download/darwin/arm64",
            ProviderPath::Download(provider("ns", "t"), "1.0.0-rc.1+build.5".into(), platform("darwin", "arm64")),
        ),
    ];
    for (path, want) in ok {
        assert_eq!(ProviderPath::parse(path), Ok(want), "{path}");
    }
    let bad = [
        "",
        "hashicorp/aws",
        "hashicorp/aws/versions/",
        "/hashicorp/aws/versions",
        "hashicorp//versions",
        "../aws/versions",
        "hashicorp/../versions",
        "hash\\corp/aws/versions",
        "hashi\0corp/aws/versions",
        "hashicorp/aws/v5.0.0/download/linux/amd64",
        "hashicorp/aws/5.0/download/linux/amd64",
        "hashicorp/aws/../download/linux/amd64",
        "hashicorp/aws/5.0.0/download/linux",
        "hashicorp/aws/5.0.0/download/linux/amd64/x",
        "hashicorp/aws/5.0.0/download/Linux/amd64",
        "hashicorp/aws/5.0.0/download/linux/amd64.zip",
        "hashicorp/aws/5.0.0/download/../amd64",
        "-x/aws/versions",
        &format!("{}/aws/versions", "a".repeat(65)),
    ];
    for path in bad {
        assert!(ProviderPath::parse(path).is_err(), "{path:?} parsed");
    }
}

#[test]
fn mirror_paths() {
    assert_eq!(
        MirrorPath::parse("registry.terraform.io/hashicorp/aws/index.json"),
        Ok(MirrorPath::Index { hostname: "registry.terraform.io".into(), provider: provider("hashicorp", "aws") })
    );
    assert_eq!(
        MirrorPath::parse("localhost/ns/t/2.1.0.json"),
        Ok(MirrorPath::Version {
            hostname: "localhost".into(),
            provider: provider("ns", "t"),
            version: "2.1.0".into()
        })
    );
    for path in [
        "localhost:8443/ns/t/index.json",
        "localhost/ns/t/index",
        "localhost/ns/t/v1.json",
        "localhost/ns/t/1.0.json",
        "localhost/ns/index.json",
        "../ns/t/index.json",
        "a..b/ns/t/index.json",
        "localhost/ns/t/x/index.json",
        "localhost/ns/t/1.0.0.json/x",
        "local%2fhost/ns/t/index.json",
    ] {
        assert!(MirrorPath::parse(path).is_err(), "{path:?} parsed");
    }
}

#[test]
fn package_file_names() {
    let f = PackageFile::parse("terraform-provider-aws_5.31.0_linux_amd64.zip").unwrap();
    assert_eq!(f, PackageFile { ty: "aws".into(), version: "5.31.0".into(), platform: platform("linux", "amd64") });
    assert_eq!(f.file_name(), "terraform-provider-aws_5.31.0_linux_amd64.zip");
    let f = PackageFile::parse("terraform-provider-my-thing_0.1.0-beta.2_windows_386.zip").unwrap();
    assert_eq!(
        (f.ty.as_str(), f.version.as_str(), f.platform.joined()),
        ("my-thing", "0.1.0-beta.2", "windows_386".into())
    );
    for name in [
        "terraform-provider-aws_5.31.0_linux_amd64",
        "terraform-provider-aws_5.31.0_linux.zip",
        "terraform-provider-aws_5.31.0_linux_amd64_x.zip",
        "terraform-provider-aws_v5.31.0_linux_amd64.zip",
        "terraform-provider-aws_5.31_linux_amd64.zip",
        "terraform-provider-_5.31.0_linux_amd64.zip",
        "terraform-provider-../x_5.31.0_linux_amd64.zip",
        "terraform-provider-aws_5.31.0_Linux_amd64.zip",
        "aws_5.31.0_linux_amd64.zip",
        "terraform-provider-aws_5.31.0_linux_amd64.ZIP",
        "terraform-provider-a\\b_5.31.0_linux_amd64.zip",
    ] {
        assert!(PackageFile::parse(name).is_err(), "{name:?} parsed");
    }
}

#[test]
fn shasums_round_trip_sorted() {
    let a = "a".repeat(64);
    let b = "B".repeat(64);
    let text = render_shasums([(a.as_str(), "z.zip"), (b.as_str(), "a.zip")]);
    assert_eq!(text, format!("{b}  a.zip\n{a}  z.zip\n"));
    assert_eq!(parse_shasums(&text), Some(vec![(b.to_lowercase(), "a.zip".into()), (a.clone(), "z.zip".into())]));
    assert_eq!(parse_shasums(&format!("{a} *x.zip\n\n")), Some(vec![(a.clone(), "x.zip".into())]));
    for bad in [
        format!("{}  x.zip", "g".repeat(64)),
        format!("{}  x.zip", "a".repeat(63)),
        format!("{a}  "),
        format!("{a}x.zip"),
    ] {
        assert_eq!(parse_shasums(&bad), None, "{bad:?}");
    }
}

#[test]
fn documents_keep_unknown_fields() {
    let upstream = json!({
        "protocols": ["5.0"], "os": "linux", "arch": "amd64",
        "filename": "terraform-provider-aws_5.0.0_linux_amd64.zip",
        "download_url": "https://releases.example/aws.zip",
        "shasums_url": "https://releases.example/SHA256SUMS",
        "shasums_signature_url": "https://releases.example/SHA256SUMS.sig",
        "shasum": "a".repeat(64),
        "signing_keys": {"gpg_public_keys": [{"key_id": "34365D9472D7468F", "ascii_armor": "-----BEGIN PGP", "trust_signature": "", "source": "HashiCorp"}]},
        "x-vendor": 1
    });
    let d: Download = serde_json::from_value(upstream.clone()).unwrap();
    assert_eq!(d.signing_keys.gpg_public_keys[0].key_id, "34365D9472D7468F");
    assert_eq!(serde_json::to_value(&d).unwrap(), upstream);
    let v: Versions = serde_json::from_value(json!({"id": "hashicorp/aws", "versions": [{"version": "1.0.0", "protocols": ["5.0"], "platforms": [{"os": "linux", "arch": "amd64"}]}], "warnings": null})).unwrap();
    assert_eq!(v.versions[0].platforms, vec![platform("linux", "amd64")]);
    assert!(v.extra.contains_key("id") && v.extra.contains_key("warnings"));
    let disc: Discovery =
        serde_json::from_value(json!({"providers.v1": "/v1/providers/", "modules.v1": "/v1/modules/"})).unwrap();
    assert_eq!(disc.providers_v1.as_deref(), Some("/v1/providers/"));
    let mut m = MirrorVersion::default();
    m.archives.insert("linux_amd64".into(), MirrorArchive { url: "x.zip".into(), hashes: vec!["zh:ab".into()] });
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!({"archives": {"linux_amd64": {"url": "x.zip", "hashes": ["zh:ab"]}}})
    );
}

//! Tests of [`super`]: file names (hostile ones included), `SHA256SUMS`, and the registry
//! documents generated from versions of real size.

use serde_json::Value;

use super::*;
use crate::formats::LocalVersion;

#[test]
fn provider_file_names_parse_or_name_the_problem() {
    let ok = |t: &str, v: &str, os: &str, arch: &str| Ok(package_file(t, v, os, arch));
    let cases: Vec<(&str, Result<PackageFile, &str>)> = vec![
        ("terraform-provider-aws_5.0.0_linux_amd64.zip", ok("aws", "5.0.0", "linux", "amd64")),
        (
            "terraform-provider-my-thing_1.2.3-beta.1_darwin_arm64.zip",
            ok("my-thing", "1.2.3-beta.1", "darwin", "arm64"),
        ),
        ("terraform-provider-x_0.0.1+build.7_windows_386.zip", ok("x", "0.0.1+build.7", "windows", "386")),
        ("terraform-provider-aws_5.0.0_linux_amd64.tar.gz", Err("expected terraform-provider-")),
        ("aws_5.0.0_linux_amd64.zip", Err("expected terraform-provider-")),
        ("terraform-provider-aws_5.0.0_linux.zip", Err("four parts")),
        ("terraform-provider-aws_5.0.0_linux_amd64_x.zip", Err("four parts")),
        ("terraform-provider-aws_5.0_linux_amd64.zip", Err("version \"5.0\" is not a semantic version")),
        ("terraform-provider-aws_v5.0.0_linux_amd64.zip", Err("is not a semantic version")),
        ("terraform-provider-aws_05.0.0_linux_amd64.zip", Err("is not a semantic version")),
        ("terraform-provider-aws_latest_linux_amd64.zip", Err("is not a semantic version")),
        ("terraform-provider-AWS_5.0.0_linux_amd64.zip", Err("provider type \"AWS\"")),
        ("terraform-provider-_5.0.0_linux_amd64.zip", Err("provider type \"\"")),
        ("terraform-provider-a.b_5.0.0_linux_amd64.zip", Err("provider type \"a.b\"")),
        ("terraform-provider-aws-_5.0.0_linux_amd64.zip", Err("provider type \"aws-\"")),
        ("terraform-provider-../x_5.0.0_linux_amd64.zip", Err("provider type \"../x\"")),
        ("terraform-provider-aws_5.0.0_Linux_amd64.zip", Err("os \"Linux\"")),
        ("terraform-provider-aws_5.0.0_linux_x86-64.zip", Err("arch \"x86-64\"")),
        ("terraform-provider-aws_5.0.0_linux_a\\b.zip", Err("arch \"a\\\\b\"")),
        ("terraform-provider-aws_5.0.0_linux_a\0b.zip", Err("arch")),
        ("terraform-provider-aws_5.0.0__amd64.zip", Err("os \"\"")),
    ];
    for (name, want) in cases {
        match (PackageFile::parse(name), want) {
            (Ok(got), Ok(w)) => {
                assert_eq!(got, w, "{name}");
                assert_eq!(got.file_name(), name, "round trip");
                assert_eq!(got.path(), format!("{}/{name}", got.ty));
            }
            (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{name}: {e} lacks {w:?}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

fn package_file(ty: &str, version: &str, os: &str, arch: &str) -> PackageFile {
    let platform = super::super::protocol::Platform { os: os.into(), arch: arch.into() };
    PackageFile { ty: ty.into(), version: version.into(), platform }
}

fn platform(provider: &str, version: &str, os: &str, arch: &str) -> PlatformRecord {
    let file = package_file(provider, version, os, arch);
    let shasum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(file.file_name().as_bytes()));
    PlatformRecord { os: os.into(), arch: arch.into(), filename: file.file_name(), shasum, size: 1000 }
}

const PLATFORMS: [(&str, &str); 4] =
    [("linux", "amd64"), ("darwin", "arm64"), ("linux", "arm64"), ("windows", "amd64")];

#[test]
fn sha256sums_lists_every_platform_sorted_by_file_name() {
    let mut platforms = Vec::new();
    for (os, arch) in PLATFORMS {
        platforms = with_platform(&platforms, platform("aws", "5.1.0", os, arch)).unwrap();
    }
    let sums = sha256sums(&platforms);
    let lines: Vec<&str> = sums.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(sums.ends_with('\n'));
    let names: Vec<&str> = lines.iter().map(|l| l.split_once("  ").unwrap().1).collect();
    assert_eq!(
        names,
        [
            "terraform-provider-aws_5.1.0_darwin_arm64.zip",
            "terraform-provider-aws_5.1.0_linux_amd64.zip",
            "terraform-provider-aws_5.1.0_linux_arm64.zip",
            "terraform-provider-aws_5.1.0_windows_amd64.zip",
        ]
    );
    for (line, p) in lines.iter().zip(&platforms) {
        assert_eq!(*line, format!("{}  {}", p.shasum, p.filename));
        assert_eq!(p.shasum.len(), 64);
    }
    let again = with_platform(&platforms, platform("aws", "5.1.0", "linux", "amd64")).unwrap_err();
    assert!(again.contains("terraform-provider-aws_5.1.0_linux_amd64.zip was uploaded before"), "{again}");
    let (s, sig) = sums_paths("aws", "5.1.0", "ab12");
    assert_eq!(s, "aws/5.1.0/ab12/terraform-provider-aws_5.1.0_SHA256SUMS");
    assert_eq!(sig, format!("{s}.sig"));
}

/// A provider with `versions` versions of every platform in [`PLATFORMS`].
fn provider(versions: usize) -> LocalPackages {
    let mut out = LocalPackages::default();
    // Published out of order: the document sorts by semantic version, not by upload.
    for i in (0..versions).rev() {
        let version = format!("{}.{}.0", i / 10, i % 10);
        let mut platforms = Vec::new();
        for (os, arch) in PLATFORMS {
            platforms = with_platform(&platforms, platform("aws", &version, os, arch)).unwrap();
        }
        let (shasums, shasums_signature) = sums_paths("aws", &version, &"0".repeat(64));
        let record = VersionRecord {
            protocols: vec!["5.0".into(), "6.0".into()],
            platforms,
            shasums,
            shasums_signature,
            key_id: "0123456789ABCDEF".into(),
            public_key: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...".into(),
        };
        let metadata = serde_json::to_value(&record).unwrap();
        out.versions.push(LocalVersion::published_now("aws".into(), version, metadata));
    }
    out
}

#[test]
fn versions_lists_every_version_with_its_platforms_and_protocols() {
    let packages = provider(40);
    let doc: Value = serde_json::from_slice(&versions_document(&packages).unwrap()).unwrap();
    let versions = doc["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 40);
    let listed: Vec<&str> = versions.iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(listed[..3], ["0.0.0", "0.1.0", "0.2.0"]);
    assert_eq!(listed[39], "3.9.0");
    for v in versions {
        assert_eq!(v["protocols"], serde_json::json!(["5.0", "6.0"]));
        assert_eq!(v["platforms"].as_array().unwrap().len(), 4);
        assert!(v["platforms"].as_array().unwrap().contains(&serde_json::json!({"os": "darwin", "arch": "arm64"})));
    }
    let mut unpublished = packages.clone();
    unpublished.versions[0].published = false;
    let doc: Value = serde_json::from_slice(&versions_document(&unpublished).unwrap()).unwrap();
    assert_eq!(doc["versions"].as_array().unwrap().len(), 39);
}

#[test]
fn download_answers_the_platform_asked_for() {
    let packages = provider(20);
    let public = "https://registry.example:8443/api/v1/local/acme/";
    let doc = download_document(&packages, "1.3.0", "linux", "arm64", public).unwrap().unwrap();
    let doc: Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!((doc["os"].as_str(), doc["arch"].as_str()), (Some("linux"), Some("arm64")));
    assert_eq!(doc["filename"], "terraform-provider-aws_1.3.0_linux_arm64.zip");
    assert_eq!(doc["download_url"], format!("{public}aws/terraform-provider-aws_1.3.0_linux_arm64.zip"));
    let zeros = "0".repeat(64);
    let sums = format!("{public}aws/1.3.0/{zeros}/terraform-provider-aws_1.3.0_SHA256SUMS");
    assert_eq!(doc["shasums_url"], sums);
    assert_eq!(doc["shasums_signature_url"], format!("{sums}.sig"));
    assert_eq!(doc["shasum"].as_str().unwrap().len(), 64);
    assert_eq!(doc["protocols"], serde_json::json!(["5.0", "6.0"]));
    let key = &doc["signing_keys"]["gpg_public_keys"][0];
    assert_eq!(key["key_id"], "0123456789ABCDEF");
    assert!(key["ascii_armor"].as_str().unwrap().starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    assert!(!download_absent(&packages, "1.3.0", "linux", "arm64"));

    for (version, os, arch) in [("1.3.0", "linux", "386"), ("1.3.0", "freebsd", "amd64"), ("9.9.9", "linux", "amd64")] {
        assert_eq!(download_document(&packages, version, os, arch, public).unwrap(), None, "{version} {os} {arch}");
        assert!(download_absent(&packages, version, os, arch));
    }
}

#[test]
fn documents_of_the_protocol() {
    let d: Value = serde_json::from_slice(&discovery_document("/terraform/providers/v1/")).unwrap();
    assert_eq!(d, serde_json::json!({"providers.v1": "/terraform/providers/v1/"}));
    let e: Value = serde_json::from_slice(&error_document("provider acme/aws not found")).unwrap();
    assert_eq!(e, serde_json::json!({"errors": ["provider acme/aws not found"]}));
}

//! Terraform locals as a provider registry, proven with the real `terraform` (1.11) over HTTPS
//! with a certificate of a test CA (`SSL_CERT_FILE`): 20 versions × 4 platforms uploaded (the
//! platforms of each version at once), `terraform init` installing one with the source address
//! `localhost:PORT/{local}/{type}` and printing the server's key ID, `terraform providers lock`
//! writing the hash of every platform, a platform uploaded later (a new signed `SHA256SUMS`,
//! the old pair still served), a zip changed in storage refused by terraform, a key supplied by
//! `TF_SIGNING_KEY_PATH` (made with GnuPG) used for the signatures, and two servers starting
//! at once on one database making one key. The registry's documents, files and errors are
//! checked directly too; signatures with `gpgv`. Prints upload and `terraform init` times.

#[path = "terraform_local/hostile.rs"]
mod hostile;
#[path = "terraform_local/tools.rs"]
mod tools;

use std::path::Path;
use std::time::Instant;

use artifactapi_e2e::{fetch, sha256_hex, Options, Server, Storage};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tools::*;

const LOCAL: &str = "acme";
const TYPE: &str = "thing";
const PLATFORMS: [(&str, &str); 4] =
    [("linux", "amd64"), ("darwin", "arm64"), ("linux", "arm64"), ("windows", "amd64")];

fn registry(s: &Server, path: &str) -> reqwest::RequestBuilder {
    s.client().get(s.url(&format!("/terraform/providers/v1/{path}")))
}

async fn download_json(t: &TlsServer, version: &str, os: &str, arch: &str) -> Value {
    let r = fetch(registry(&t.server, &format!("{LOCAL}/{TYPE}/{version}/download/{os}/{arch}"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    r.json()
}

/// GETs (and HEADs) `url` on the plain port: the body.
async fn file(t: &TlsServer, url: &str) -> Vec<u8> {
    let plain = t.plain(url);
    let r = fetch(t.server.client().get(&plain)).await;
    assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.describe());
    let head = fetch(t.server.client().head(&plain)).await;
    assert_eq!(head.status, StatusCode::OK, "HEAD {url}: {}", head.describe());
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some(r.body.len().to_string().as_str()), "HEAD {url}");
    r.body.to_vec()
}

/// The `SHA256SUMS` a download document names, checked against its signature with gpgv.
async fn signed_sums(t: &TlsServer, doc: &Value) -> String {
    let sums = file(t, doc["shasums_url"].as_str().unwrap()).await;
    let sig = file(t, doc["shasums_signature_url"].as_str().unwrap()).await;
    assert_ne!(sig.first(), Some(&b'-'), "a binary signature, not an armored one");
    let key = doc["signing_keys"]["gpg_public_keys"][0]["ascii_armor"].as_str().unwrap();
    let (ok, out) = gpgv(key, &sums, &sig);
    assert!(ok, "gpgv refused the SHA256SUMS signature: {out}");
    String::from_utf8(sums).unwrap()
}

#[tokio::test]
async fn terraform_installs_and_locks_from_a_local_registry() {
    let Some(bin) = terraform_bin("terraform_installs_and_locks_from_a_local_registry") else { return };
    // No memory cache: the zip changed in storage below must be read from there.
    let t = TlsServer::start(Options::new(Storage::Fs, false).env("MEMORY_CACHE", 0)).await;
    let s = &t.server;
    let writer = local_with_writer(s, LOCAL).await;

    let discovery = fetch(s.client().get(s.url("/.well-known/terraform.json"))).await;
    assert_eq!(discovery.json(), json!({"providers.v1": "/terraform/providers/v1/"}), "{}", discovery.describe());

    // 20 versions × 4 platforms, the platforms of each version uploaded at once.
    let started = Instant::now();
    let mut key_id = String::new();
    for i in 0..20 {
        let answers = upload_platforms(s, LOCAL, &writer, TYPE, &format!("1.{i}.0"), &PLATFORMS, 256 << 10).await;
        key_id = answers[0]["key_id"].as_str().unwrap().to_string();
    }
    let uploads = started.elapsed();
    eprintln!("terraform local: 80 provider zips (256 KiB each) uploaded in {uploads:?}");
    assert_eq!(key_id.len(), 16, "{key_id}");

    let versions = fetch(registry(s, &format!("{LOCAL}/{TYPE}/versions"))).await.json();
    let versions = versions["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 20);
    for v in &versions {
        assert_eq!(v["platforms"].as_array().unwrap().len(), 4, "no platform lost to a concurrent upload: {v}");
        assert_eq!(v["protocols"], json!(["5.0", "6.0"]));
    }

    // The download document, its files and its signed SHA256SUMS.
    let doc = download_json(&t, "1.9.0", "linux", "arm64").await;
    assert_eq!((doc["os"].as_str(), doc["arch"].as_str()), (Some("linux"), Some("arm64")));
    assert_eq!(doc["filename"], zip_name(TYPE, "1.9.0", "linux", "arm64"));
    let zip = file(&t, doc["download_url"].as_str().unwrap()).await;
    assert_eq!(doc["shasum"].as_str().unwrap(), sha256_hex(&zip));
    assert_eq!(zip, provider_zip(TYPE, "1.9.0", "linux", "arm64", 256 << 10));
    let sums = signed_sums(&t, &doc).await;
    assert_eq!(sums.lines().count(), 4, "{sums}");
    assert!(sums.contains(&format!("{}  {}\n", doc["shasum"].as_str().unwrap(), doc["filename"].as_str().unwrap())));
    assert_eq!(doc["signing_keys"]["gpg_public_keys"][0]["key_id"], key_id);

    // Unknown provider, version, platform, namespace: the registry's error JSON.
    s.create("/api/v2/locals", json!({"name": "files", "package_type": "generic"})).await;
    for path in [
        format!("{LOCAL}/other/versions"),
        format!("{LOCAL}/{TYPE}/9.9.9/download/linux/amd64"),
        format!("{LOCAL}/{TYPE}/1.9.0/download/freebsd/amd64"),
        format!("nowhere/{TYPE}/versions"),
        format!("files/{TYPE}/versions"),
    ] {
        let r = fetch(registry(s, &path)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.describe());
        assert!(r.json()["errors"][0].is_string(), "{path}: {}", r.describe());
    }

    // terraform init: installs 1.9.0 for this machine, saying whose key signed it.
    let source = format!("{}/{LOCAL}/{TYPE}", t.host());
    let w = Workdir::new(&bin, &source, "1.9.0", "", &t.ca_pem);
    let (ok, out, took) = w.terraform(&["init", "-input=false", "-no-color"]);
    assert!(ok, "terraform init failed:\n{out}\nserver log:\n{}", s.log_tail(30));
    eprintln!("terraform init from the local registry (one 256 KiB provider): {took:?}");
    assert!(out.contains(&format!("Installed {source} v1.9.0")), "{out}");
    assert!(out.contains(&format!("key ID {key_id}")), "{out}");
    let installed =
        w.path().join(format!(".terraform/providers/{source}/1.9.0/linux_amd64/terraform-provider-{TYPE}_v1.9.0"));
    assert!(installed.is_file(), "{} missing", installed.display());

    // providers lock: the hash of every platform's zip.
    let args: Vec<String> = PLATFORMS.iter().map(|(os, arch)| format!("-platform={os}_{arch}")).collect();
    let mut lock = vec!["providers", "lock", "-no-color"];
    lock.extend(args.iter().map(String::as_str));
    let (ok, out, _) = w.terraform(&lock);
    assert!(ok, "terraform providers lock failed:\n{out}");
    let lock_file = w.lock_file();
    for (os, arch) in PLATFORMS {
        let zip = provider_zip(TYPE, "1.9.0", os, arch, 256 << 10);
        assert!(lock_file.contains(&format!("\"zh:{}\"", sha256_hex(&zip))), "{os}_{arch} missing:\n{lock_file}");
    }

    second_platform_later(&t, &bin, &writer).await;
    tampered_zip_is_refused(&t, &bin).await;
}

/// 2.0.0 for linux only; freebsd is added later: a new signed pair, the old one still served.
async fn second_platform_later(t: &TlsServer, bin: &Path, writer: &str) {
    let s = &t.server;
    upload_platforms(s, LOCAL, writer, TYPE, "2.0.0", &[("linux", "amd64")], 4096).await;
    let before = download_json(t, "2.0.0", "linux", "amd64").await;
    assert_eq!(signed_sums(t, &before).await.lines().count(), 1);
    let w = Workdir::new(bin, &format!("{}/{LOCAL}/{TYPE}", t.host()), "2.0.0", "", &t.ca_pem);
    let (ok, out, _) = w.terraform(&["providers", "lock", "-no-color", "-platform=freebsd_amd64"]);
    assert!(!ok, "locked a platform that is not there:\n{out}");

    upload_platforms(s, LOCAL, writer, TYPE, "2.0.0", &[("freebsd", "amd64")], 4096).await;
    let versions = fetch(registry(s, &format!("{LOCAL}/{TYPE}/versions"))).await.json();
    let v2 = versions["versions"].as_array().unwrap().iter().find(|v| v["version"] == "2.0.0").unwrap().clone();
    assert_eq!(v2["platforms"].as_array().unwrap().len(), 2, "{v2}");
    let after = download_json(t, "2.0.0", "freebsd", "amd64").await;
    let sums = signed_sums(t, &after).await;
    assert_eq!(sums.lines().count(), 2, "{sums}");
    assert!(sums.contains("_2.0.0_freebsd_amd64.zip\n") && sums.contains("_2.0.0_linux_amd64.zip\n"), "{sums}");
    assert_ne!(after["shasums_url"], before["shasums_url"]);
    // A client that read the document before the upload still gets a matching pair.
    assert_eq!(signed_sums(t, &before).await.lines().count(), 1);

    let (ok, out, _) =
        w.terraform(&["providers", "lock", "-no-color", "-platform=freebsd_amd64", "-platform=linux_amd64"]);
    assert!(ok, "terraform providers lock failed:\n{out}");
    assert_eq!(w.lock_file().matches("\"zh:").count(), 2, "{}", w.lock_file());

    // DELETE one platform: a new pair for the one left; the zip is gone.
    let zip_url = s.url(&format!("/api/v1/local/{LOCAL}/{TYPE}/{}", zip_name(TYPE, "2.0.0", "freebsd", "amd64")));
    let r = fetch(s.client().delete(&zip_url).bearer_auth(writer)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.describe());
    assert_eq!(fetch(s.client().get(&zip_url)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(fetch(s.client().delete(&zip_url).bearer_auth(writer)).await.status, StatusCode::NOT_FOUND);
    let left = download_json(t, "2.0.0", "linux", "amd64").await;
    assert_eq!(signed_sums(t, &left).await.lines().count(), 1);
    let gone = fetch(registry(s, &format!("{LOCAL}/{TYPE}/2.0.0/download/freebsd/amd64"))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.describe());
}

/// A zip whose stored bytes changed: terraform refuses it, the checksum does not match.
async fn tampered_zip_is_refused(t: &TlsServer, bin: &Path) {
    let doc = download_json(t, "1.5.0", "linux", "amd64").await;
    let blob = t.server.blob_path(doc["shasum"].as_str().unwrap());
    let mut bytes = std::fs::read(&blob).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    let mut perms = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&blob, perms).unwrap();
    std::fs::write(&blob, &bytes).unwrap();
    let w = Workdir::new(bin, &format!("{}/{LOCAL}/{TYPE}", t.host()), "1.5.0", "", &t.ca_pem);
    let (ok, out, _) = w.terraform(&["init", "-input=false", "-no-color"]);
    assert!(!ok, "terraform installed a changed zip:\n{out}");
    assert!(out.to_ascii_lowercase().contains("checksum"), "{out}");
}

#[tokio::test]
async fn a_key_from_tf_signing_key_path_signs() {
    let Some(bin) = terraform_bin("a_key_from_tf_signing_key_path_signs") else { return };
    let signer = Signer::with_passphrase("pass phrase");
    let (armored, gpg_key_id) = (signer.secret_armor(), signer.key_id.clone());
    let key_dir = tempfile::tempdir().unwrap();
    let key_path = key_dir.path().join("signing.asc");
    std::fs::write(&key_path, armored).unwrap();
    let opts = Options::new(Storage::Fs, false)
        .env("TF_SIGNING_KEY_PATH", key_path.display())
        .env("TF_SIGNING_KEY_PASSPHRASE", "pass phrase")
        .env("TF_PROVIDER_PROTOCOLS", "6.0");
    let t = TlsServer::start(opts).await;
    let writer = local_with_writer(&t.server, LOCAL).await;
    let answers = upload_platforms(&t.server, LOCAL, &writer, TYPE, "0.1.2", &[("linux", "amd64")], 1 << 20).await;
    assert_eq!(answers[0]["key_id"], gpg_key_id);
    let key = fetch(t.server.client().get(t.server.url("/api/v2/signing-key"))).await.json();
    assert_eq!(key["key_id"], gpg_key_id);
    let doc = download_json(&t, "0.1.2", "linux", "amd64").await;
    assert_eq!(doc["protocols"], json!(["6.0"]));
    signed_sums(&t, &doc).await;

    let w = Workdir::new(&bin, &format!("{}/{LOCAL}/{TYPE}", t.host()), "0.1.2", "", &t.ca_pem);
    let (ok, out, took) = w.terraform(&["init", "-input=false", "-no-color"]);
    assert!(ok, "terraform init failed:\n{out}");
    assert!(out.contains(&format!("key ID {gpg_key_id}")), "{out}");
    eprintln!("terraform init from the local registry (one 1 MiB provider, key from TF_SIGNING_KEY_PATH): {took:?}");
}

#[tokio::test]
async fn a_key_that_does_not_decrypt_stops_the_start_naming_the_variable() {
    let armored = Signer::with_passphrase("right").secret_armor();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("signing.asc");
    std::fs::write(&key_path, armored).unwrap();
    let db = artifactapi_e2e::db::Database::create().await;
    let out = artifactapi_e2e::server::command()
        .envs(db.env())
        .env("DATA_DIR", dir.path().join("data"))
        .env("LISTEN_ADDR", format!("127.0.0.1:{}", artifactapi_e2e::server::free_port()))
        .env("TF_SIGNING_KEY_PATH", &key_path)
        .env("TF_SIGNING_KEY_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.starts_with("artifactapi: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("TF_SIGNING_KEY_PATH") && line.contains("TF_SIGNING_KEY_PASSPHRASE"), "{line}");
}

#[tokio::test]
async fn two_servers_starting_at_once_on_one_database_make_one_key() {
    let servers = Server::start_together(Options::new(Storage::Fs, false), 2).await;
    let keys: Vec<Value> = futures_util::future::join_all(
        servers.iter().map(|s| async { fetch(s.client().get(s.url("/api/v2/signing-key"))).await.json() }),
    )
    .await;
    assert!(keys[0]["fingerprint"].as_str().is_some_and(|f| f.len() == 40), "{}", keys[0]);
    assert_eq!(keys[0], keys[1]);
    assert!(keys[0]["public_key"].as_str().unwrap().starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let db = artifactapi_e2e::db::DbServer::from_env().connect(servers[0].database_name()).await;
    let n: i64 = db.query_one("SELECT count(*) FROM signing_keys", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
}

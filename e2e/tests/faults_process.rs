//! `kill -9` of artifactapi while clients upload: mid-body (a docker chunk and a large generic
//! PUT still streaming) and mid-commit (a burst of uploads, killed while they are being
//! published). After the restart nothing partial is published: no file that was not complete,
//! no blob whose bytes do not match its name, no catalog row without its blob, no staging file;
//! uploads acknowledged before the kill are all there; and the clients can start over.

use std::time::Duration;

use artifactapi_e2e::oci_client::{digest, Registry};
use artifactapi_e2e::{fetch, pattern_bytes, poll_until, sha256_hex, Options, Server, Storage};
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::mpsc;

const MIB: usize = 1 << 20;

/// A request body the test feeds chunk by chunk: it never ends while the sender lives.
fn fed_body() -> (mpsc::Sender<Bytes>, reqwest::Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let chunks =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx)) },
        );
    (tx, reqwest::Body::wrap_stream(chunks))
}

/// Every blob in the store holds exactly the bytes its name says (no half blob).
fn assert_blobs_whole(s: &Server) {
    let root = s.bucket_dir().unwrap_or_else(|| s.data_dir().to_path_buf());
    let dir = root.join("blobs").join("sha256");
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() != 64 {
            continue; // s3s-fs keeps its metadata beside the objects
        }
        let bytes = std::fs::read(entry.path()).expect("read a blob");
        assert_eq!(sha256_hex(&bytes), name, "blob {} holds other bytes than its name says", entry.path().display());
    }
}

fn staged_bytes(s: &Server) -> u64 {
    s.staged_files().iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

async fn setup(opts: Options) -> Server {
    let s = Server::start(opts.env("LOCAL_MAX_UPLOAD", 256 << 20)).await;
    for (name, kind) in [("files", "generic"), ("loc", "docker")] {
        let r = s.send_json(Method::POST, "/api/v2/locals", &json!({"name": name, "package_type": kind})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    }
    s
}

fn put(s: &Server, path: &str) -> reqwest::RequestBuilder {
    s.client().put(s.url(&format!("/api/v1/local/files/{path}")))
}

async fn killed_mid_body(opts: Options) {
    let mut s = setup(opts).await;
    let layer = pattern_bytes(3 * MIB, 91);
    let big = pattern_bytes(64 * MIB, 92);
    let location = Registry::new(&s).start_upload("loc/app").await;
    let r = Registry::new(&s).patch(&location, Some((0, MIB as u64 - 1)), &layer[..MIB]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());

    // A second docker chunk and a 64 MiB PUT, each stopped part way through its body.
    let (chunk_tx, chunk_body) = fed_body();
    let patch = Registry::new(&s).request(Method::PATCH, &location).header("content-type", "application/octet-stream");
    let patch = tokio::spawn(patch.body(chunk_body).send());
    let (put_tx, put_body) = fed_body();
    let upload = tokio::spawn(put(&s, "big.bin").body(put_body).send());
    chunk_tx.send(Bytes::copy_from_slice(&layer[MIB..MIB + MIB / 2])).await.expect("send the chunk's first half");
    for part in big[..8 * MIB].chunks(MIB) {
        put_tx.send(Bytes::copy_from_slice(part)).await.expect("send part of the PUT");
    }
    // Each upload writes its staging file in pieces of up to 256 KiB, so up to that much of
    // each body may still be on its way to the disk.
    poll_until("both bodies to reach the staging", Duration::from_secs(30), Duration::from_millis(50), || async {
        (s.staged_files().len() >= 2 && staged_bytes(&s) >= (8 * MIB) as u64).then_some(())
    })
    .await;

    s.restart().await;
    drop((chunk_tx, put_tx));
    let (patch, upload) = (patch.await.expect("join"), upload.await.expect("join"));
    assert!(patch.is_err() && upload.is_err(), "the killed requests got answers: {patch:?} {upload:?}");
    assert!(s.staged_files().is_empty(), "the dead process's staging is swept at start: {:?}", s.staged_files());
    assert_blobs_whole(&s);
    let r = fetch(s.client().get(s.url("/api/v1/local/files/big.bin"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a cut PUT published something: {}", r.describe());

    // The docker upload stands where its last complete chunk left it; the client goes on.
    let reg = Registry::new(&s);
    let st = reg.get(&location).await;
    assert_eq!((st.status, st.header("range")), (StatusCode::NO_CONTENT, Some("0-1048575")), "{}", st.describe());
    let r = reg.patch(&location, Some((MIB as u64, 2 * MIB as u64 - 1)), &layer[MIB..2 * MIB]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.describe());
    let d = digest(&layer);
    let r = reg.close(&location, &d, &layer[2 * MIB..]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let got = reg.get(&format!("/v2/loc/app/blobs/{d}")).await;
    assert!(got.status == StatusCode::OK && got.body.as_ref() == layer.as_slice(), "{}", got.describe());

    // The PUT, started over, succeeds.
    let sha = sha256_hex(&big);
    let r = fetch(put(&s, "big.bin").header("X-Checksum-Sha256", &sha).body(big.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());
    let got = fetch(s.client().get(s.url("/api/v1/local/files/big.bin"))).await;
    assert_eq!((got.status, sha256_hex(&got.body)), (StatusCode::OK, sha));
    assert_blobs_whole(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_body_fs() {
    killed_mid_body(Options::new(Storage::Fs, false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_body_s3() {
    killed_mid_body(Options::new(Storage::S3, false)).await
}

/// Uploads of `n` files of 1 MiB at once; killed as soon as the first is acknowledged, so
/// others are being committed at that moment.
async fn killed_mid_commit(opts: Options) {
    const N: usize = 24;
    let mut s = setup(opts).await;
    let bodies: Vec<Vec<u8>> = (0..N).map(|i| pattern_bytes(MIB, 100 + i as u64)).collect();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    for (i, body) in bodies.iter().enumerate() {
        let req = put(&s, &format!("burst/{i}.bin")).header("X-Checksum-Sha256", sha256_hex(body)).body(body.clone());
        let done_tx = done_tx.clone();
        tokio::spawn(async move {
            let status = req.send().await.map(|r| r.status()).ok();
            let _ = done_tx.send((i, status));
        });
    }
    drop(done_tx);
    let mut answered = Vec::new();
    while let Some((i, status)) = done_rx.recv().await {
        answered.push((i, status));
        if status == Some(StatusCode::CREATED) {
            break;
        }
    }
    s.restart().await;
    while let Some(a) = done_rx.recv().await {
        answered.push(a);
    }
    let acknowledged: Vec<usize> =
        answered.iter().filter(|(_, st)| *st == Some(StatusCode::CREATED)).map(|(i, _)| *i).collect();
    assert!(!acknowledged.is_empty(), "{answered:?}");

    assert!(s.staged_files().is_empty(), "the dead process's staging is swept at start: {:?}", s.staged_files());
    assert_blobs_whole(&s);
    let mut present = 0;
    for (i, body) in bodies.iter().enumerate() {
        let r = fetch(s.client().get(s.url(&format!("/api/v1/local/files/burst/{i}.bin")))).await;
        match r.status {
            StatusCode::OK => {
                assert_eq!(sha256_hex(&r.body), sha256_hex(body), "burst/{i}.bin");
                present += 1;
            }
            StatusCode::NOT_FOUND => assert!(!acknowledged.contains(&i), "burst/{i}.bin was acknowledged, then lost"),
            other => panic!("burst/{i}.bin after the restart: {other}: {}", r.describe()),
        }
        // Whatever was not published can be uploaded again.
        if r.status == StatusCode::NOT_FOUND {
            let again = fetch(put(&s, &format!("burst/{i}.bin")).body(body.clone())).await;
            assert_eq!(again.status, StatusCode::CREATED, "{}", again.describe());
        }
    }
    eprintln!("killed mid-commit: {} of {N} acknowledged, {present} present after the restart", acknowledged.len());
    assert_blobs_whole(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_commit_fs() {
    killed_mid_commit(Options::new(Storage::Fs, false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_commit_s3() {
    killed_mid_commit(Options::new(Storage::S3, false)).await
}

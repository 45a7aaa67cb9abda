//! Garbage collection racing fills and uploads: sweeps with no grace period run back to back
//! while a remote fills dozens of objects, a local takes uploads that overwrite each other, and
//! cached objects are evicted. The sweeps must find garbage (the overwritten versions) and still
//! never delete a blob something references: afterwards every completed fill and every upload
//! is served with its exact bytes, and every blob left holds the bytes its name says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use artifactapi_e2e::{fetch, generic_remote, pattern_bytes, sha256_hex, File, Options, Server, Storage, Upstream};
use reqwest::{Method, StatusCode};
use serde_json::json;

const ADMIN: &str = "e2e-admin-token";
const FILLS: usize = 40;
const UPLOADS: usize = 24;

fn fill_bytes(i: usize) -> Vec<u8> {
    pattern_bytes(150_000 + i * 7_919, 300 + i as u64)
}

fn upload_bytes(i: usize, version: u64) -> Vec<u8> {
    pattern_bytes(90_000 + i * 3_001, 1_000 * version + i as u64)
}

async fn gc_racing_fills_and_uploads(opts: Options) {
    let up = Upstream::start().await;
    for i in 0..FILLS {
        up.put(&format!("/f/{i}.bin"), File::new(fill_bytes(i)));
    }
    let s = Server::start(opts.admin_token(ADMIN)).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let spec = json!({"name": "files", "package_type": "generic", "allow_overwrite": true});
    let r = s.send_json(Method::POST, "/api/v2/locals", &spec).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.describe());

    // Sweeps back to back, with no grace period, until the traffic is over: two loops, so
    // sweeps are asked for while one runs, which must be a `409`, never an error.
    let stop = Arc::new(AtomicBool::new(false));
    let gc_loop = || {
        let (client, url, stop) = (s.client().clone(), s.url("/api/v2/gc"), stop.clone());
        tokio::spawn(async move {
            let (mut runs, mut deleted, mut busy) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"dry_run": false, "grace_seconds": 0}).to_string();
                let req = client.post(&url).bearer_auth(ADMIN).header("content-type", "application/json").body(body);
                let r = fetch(req).await;
                if r.status == StatusCode::CONFLICT {
                    assert_eq!(r.json()["error"], "a garbage collection is already running", "{}", r.describe());
                    busy += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
                assert_eq!(r.status, StatusCode::OK, "gc: {}", r.describe());
                deleted += r.json()["deleted"].as_u64().unwrap_or(0);
                runs += 1;
            }
            (runs, deleted, busy)
        })
    };
    let gcs = [gc_loop(), gc_loop()];

    let fills = (0..FILLS).map(|i| {
        let (client, url) = (s.client().clone(), s.proxy_url("gen", &format!("f/{i}.bin")));
        tokio::spawn(async move { fetch(client.get(url)).await })
    });
    let fills: Vec<_> = fills.collect();
    let uploads = (0..UPLOADS).map(|i| {
        let client = s.client().clone();
        let url = s.url(&format!("/api/v1/local/files/u/{i}.bin"));
        tokio::spawn(async move {
            // The first version becomes garbage when the second replaces it.
            for version in [1, 2] {
                let r = fetch(client.put(&url).bearer_auth(ADMIN).body(upload_bytes(i, version))).await;
                assert!(r.status.is_success(), "upload u/{i}.bin v{version}: {}", r.describe());
            }
        })
    });
    let uploads: Vec<_> = uploads.collect();
    let (fills, uploads) = (futures_util::future::join_all(fills).await, futures_util::future::join_all(uploads).await);
    for (i, r) in fills.into_iter().enumerate() {
        let r = r.expect("join");
        assert_eq!(r.status, StatusCode::OK, "f/{i}.bin: {}", r.describe());
        assert_eq!(sha256_hex(&r.body), sha256_hex(&fill_bytes(i)), "f/{i}.bin");
    }
    uploads.into_iter().for_each(|u| u.expect("an upload task failed"));
    // Evicted objects leave their blobs to the sweeps too.
    for i in (0..FILLS).step_by(5) {
        let r = fetch(s.admin(Method::DELETE, &format!("/api/v2/remotes/gen/objects/f/{i}.bin"))).await;
        assert!(r.status.is_success(), "evict f/{i}.bin: {}", r.describe());
    }
    // The loop stops, then one more sweep after the traffic.
    stop.store(true, Ordering::Relaxed);
    let (mut runs, mut deleted, mut busy) = (0, 0, 0);
    for gc in gcs {
        let (r, d, b) = gc.await.expect("a GC loop failed");
        (runs, deleted, busy) = (runs + r, deleted + d, busy + b);
    }
    let last = s.gc(false, Some(0)).await;
    let deleted = deleted + last["deleted"].as_u64().unwrap_or(0);
    eprintln!("gc racing: {runs} sweeps during the traffic, {busy} asked while one ran (409), {deleted} blobs deleted");
    assert!(runs >= 1, "no sweep ran during the traffic");
    assert!(deleted >= UPLOADS as u64, "the overwritten versions were not collected: {deleted}");

    for i in 0..FILLS {
        let r = s.proxy_get("gen", &format!("f/{i}.bin")).await;
        assert_eq!(r.status, StatusCode::OK, "f/{i}.bin after the sweeps: {}", r.describe());
        assert_eq!(sha256_hex(&r.body), sha256_hex(&fill_bytes(i)), "f/{i}.bin after the sweeps");
        let expected = if i % 5 == 0 { "MISS" } else { "HIT" };
        assert_eq!(r.x_cache(), expected, "f/{i}.bin");
    }
    assert_eq!(up.count("/f/1.bin"), 1, "a cached object was fetched again");
    for i in 0..UPLOADS {
        let r = fetch(s.client().get(s.url(&format!("/api/v1/local/files/u/{i}.bin")))).await;
        assert_eq!(r.status, StatusCode::OK, "u/{i}.bin: {}", r.describe());
        assert_eq!(sha256_hex(&r.body), sha256_hex(&upload_bytes(i, 2)), "u/{i}.bin");
    }
    let root = s.bucket_dir().unwrap_or_else(|| s.data_dir().to_path_buf());
    for entry in std::fs::read_dir(root.join("blobs").join("sha256")).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 64 {
            let bytes = std::fs::read(entry.path()).expect("read a blob");
            assert_eq!(sha256_hex(&bytes), name, "blob {name}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_racing_fills_and_uploads_fs() {
    gc_racing_fills_and_uploads(Options::new(Storage::Fs, false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_racing_fills_and_uploads_s3() {
    gc_racing_fills_and_uploads(Options::new(Storage::S3, false)).await
}

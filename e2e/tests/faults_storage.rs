//! Faults of the blob store: the filesystem full, the S3 server down. Whatever fails, no client
//! gets a partial body presented as complete, nothing partial is published (no blob, no catalog
//! row pointing at a missing blob, no staging file left behind), the fault shows in
//! `/api/v2/health`, `/metrics` and the event feed, and artifactapi recovers by itself once the
//! store takes writes again.

use std::time::Duration;

use artifactapi_e2e::client::assert_failed_transfer;
use artifactapi_e2e::faults::{
    assert_health_error, dependency_events, expect_event, failures, gauge, wait_healthy, Tmpfs,
};
use artifactapi_e2e::s3::S3Server;
use artifactapi_e2e::stall::StallProxy;
use artifactapi_e2e::{
    generic_remote, pattern_bytes, poll_until, sha256_hex, try_fetch, File, Options, Server, Storage, Upstream,
};
use reqwest::StatusCode;

const MIB: usize = 1 << 20;

/// Waits until no staging file is left (a failed fill removes its spool when it ends).
async fn staging_swept(fs: &Tmpfs) {
    poll_until("the staging to be swept", Duration::from_secs(20), Duration::from_millis(100), || async {
        fs.staged_files().is_empty().then_some(())
    })
    .await;
}

/// `DATA_DIR` on a 32 MiB tmpfs: an object larger than the disk, then a disk filled up by
/// something else, then the space freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_fails_fills_cleanly_and_recovers_once_space_is_freed() {
    let fs = Tmpfs::mount(32);
    let up = Upstream::start().await;
    let (small, big, after) = (pattern_bytes(MIB, 71), pattern_bytes(40 * MIB, 72), pattern_bytes(2 * MIB, 73));
    up.put("/files/small.bin", File::new(small.clone()));
    up.put("/files/big.bin", File::new(big.clone()));
    up.put("/files/after.bin", File::new(after.clone()));
    let s = Server::start(Options::new(Storage::Fs, false).env("DATA_DIR", fs.path().display())).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let r = s.proxy_get("gen", "files/small.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    s.wait_cached("gen", "files/small.bin").await;
    let mut events = dependency_events(&s).await;

    // Larger than the disk: the fill fails part way.
    assert_failed_transfer(try_fetch(s.client().get(s.proxy_url("gen", "files/big.bin"))).await, big.len());
    staging_swept(&fs).await;
    assert!(!fs.blob_path(&sha256_hex(&big)).exists(), "a partial blob was published");
    let r = s.proxy_get("gen", "files/small.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&small));

    // Full: reads still work, every write fails.
    let filled = fs.fill("filler");
    assert!(filled > 0, "nothing written: the tmpfs was full already");
    let h = assert_health_error(&s, "storage").await;
    assert!(h["checks"]["storage"]["error"].as_str().is_some_and(|e| e.contains("No space")), "{h}");
    let down = expect_event(&mut events, "dependency_down", "storage").await;
    assert_eq!(down["detail"]["backend"], "fs", "{down}");
    assert_eq!(gauge(&s, "storage").await, 0.0);
    assert_eq!(failures(&s, "storage").await, 1.0);
    let r = s.proxy_get("gen", "files/small.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "a cached file on a full disk: {}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&small));
    assert_failed_transfer(try_fetch(s.client().get(s.proxy_url("gen", "files/after.bin"))).await, after.len());
    staging_swept(&fs).await;
    assert!(!fs.blob_path(&sha256_hex(&after)).exists(), "a partial blob was published");

    // Space freed: no restart needed.
    std::fs::remove_file(fs.path().join("filler")).expect("remove the filler");
    expect_event(&mut events, "dependency_up", "storage").await;
    wait_healthy(&s).await;
    assert_eq!(gauge(&s, "storage").await, 1.0);
    let r = s.proxy_get("gen", "files/after.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "{}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&after));
    s.wait_cached("gen", "files/after.bin").await;
    assert!(fs.blob_path(&sha256_hex(&after)).exists());
    staging_swept(&fs).await;
}

/// The S3 server killed while artifactapi runs, then started again on the same port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_down_serves_nothing_partial_and_recovers_without_a_restart() {
    let mut s3 = S3Server::start().await;
    let bucket = S3Server::unique_bucket();
    let up = Upstream::start().await;
    let (cached, cold) = (pattern_bytes(3 * MIB, 81), pattern_bytes(2 * MIB, 82));
    up.put("/files/cached.bin", File::new(cached.clone()));
    up.put("/files/cold.bin", File::new(cold.clone()));
    let opts = s3.env(&bucket).into_iter().fold(Options::new(Storage::Fs, false), |o, (k, v)| o.env(&k, v));
    let s = Server::start(opts.env("STORAGE_BACKEND", "s3")).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let r = s.proxy_get("gen", "files/cached.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    s.wait_cached("gen", "files/cached.bin").await;
    let mut events = dependency_events(&s).await;

    s3.stop();
    // A cached object cannot be read: an error, never a body presented as complete.
    match try_fetch(s.client().get(s.proxy_url("gen", "files/cached.bin"))).await {
        Ok(r) if r.status == StatusCode::OK => {
            assert_eq!(sha256_hex(&r.body), sha256_hex(&cached), "a 200 without S3 must carry the right bytes")
        }
        other => assert_failed_transfer(other, cached.len()),
    }
    // A cold object: the client may get the upstream's bytes, but nothing is recorded.
    match try_fetch(s.client().get(s.proxy_url("gen", "files/cold.bin"))).await {
        Ok(r) if r.status == StatusCode::OK => assert_eq!(sha256_hex(&r.body), sha256_hex(&cold)),
        other => assert_failed_transfer(other, cold.len()),
    }
    let h = assert_health_error(&s, "storage").await;
    assert_eq!(h["checks"]["database"]["status"], "ok", "{h}");
    let down = expect_event(&mut events, "dependency_down", "storage").await;
    assert_eq!(down["detail"]["backend"], "s3", "{down}");
    assert_eq!(gauge(&s, "storage").await, 0.0);
    staging_swept_dir(&s).await;

    s3.resume().await;
    expect_event(&mut events, "dependency_up", "storage").await;
    wait_healthy(&s).await;
    assert_eq!(gauge(&s, "storage").await, 1.0);
    let r = s.proxy_get("gen", "files/cached.bin").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cached));
    // What could not be stored was not recorded: fetched again, then served from the cache.
    let r = s.wait_cached("gen", "files/cold.bin").await;
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cold));
    let stored = s3.root().join(&bucket).join("blobs").join("sha256").join(sha256_hex(&cold));
    assert!(stored.is_file(), "the cold object is in the bucket now");
}

/// Waits until the server's own staging (its temp `DATA_DIR`) holds no file.
async fn staging_swept_dir(s: &Server) {
    poll_until("the staging to be swept", Duration::from_secs(20), Duration::from_millis(100), || async {
        s.staged_files().is_empty().then_some(())
    })
    .await;
}

/// The S3 server slow: its answers held back for 8 s by a proxy between artifactapi and it.
/// Slow is not down: requests wait and then complete with the right bytes; the health check's
/// 3 s deadline reports the stall meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_slow_delays_answers_without_breaking_them_and_shows_in_health() {
    let s3 = S3Server::start().await;
    let proxy = StallProxy::start(([127, 0, 0, 1], s3.port).into()).await;
    let bucket = S3Server::unique_bucket();
    let up = Upstream::start().await;
    let (cached, cold) = (pattern_bytes(8 * MIB, 85), pattern_bytes(3 * MIB, 86));
    up.put("/files/cached.bin", File::new(cached.clone()));
    up.put("/files/cold.bin", File::new(cold.clone()));
    let opts = s3.env(&bucket).into_iter().fold(Options::new(Storage::Fs, false), |o, (k, v)| o.env(&k, v));
    let opts = opts.env("STORAGE_BACKEND", "s3").env("MINIO_ENDPOINT", format!("127.0.0.1:{}", proxy.port));
    let s = Server::start(opts).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    assert_eq!(s.proxy_get("gen", "files/cached.bin").await.status, StatusCode::OK);
    s.wait_cached("gen", "files/cached.bin").await;
    let mut events = dependency_events(&s).await;

    proxy.stall(true);
    let (client, hit_url, cold_url) =
        (s.client().clone(), s.proxy_url("gen", "files/cached.bin"), s.proxy_url("gen", "files/cold.bin"));
    let hit = tokio::spawn(try_fetch(client.get(hit_url)));
    let miss = tokio::spawn(try_fetch(s.client().get(cold_url)));
    let down = expect_event(&mut events, "dependency_down", "storage").await;
    assert!(down["detail"]["error"].as_str().is_some_and(|e| e.contains("no answer")), "{down}");
    assert_health_error(&s, "storage").await;
    assert_eq!(gauge(&s, "storage").await, 0.0);
    tokio::time::sleep(Duration::from_secs(8)).await;

    proxy.stall(false);
    let hit = hit.await.expect("join").expect("the cached object after the stall");
    assert_eq!((hit.status, sha256_hex(&hit.body)), (StatusCode::OK, sha256_hex(&cached)));
    let miss = miss.await.expect("join").expect("the cold object after the stall");
    assert_eq!((miss.status, sha256_hex(&miss.body)), (StatusCode::OK, sha256_hex(&cold)));
    expect_event(&mut events, "dependency_up", "storage").await;
    wait_healthy(&s).await;
    assert_eq!(gauge(&s, "storage").await, 1.0);
    let r = s.wait_cached("gen", "files/cold.bin").await;
    assert_eq!(sha256_hex(&r.body), sha256_hex(&cold));
}

//! Garbage collection through `POST /api/v2/gc`, on every storage/coordination configuration:
//! blobs that cached objects reference are kept, a dry run deletes nothing, the grace period
//! protects recent blobs, and a blob left unreferenced (a mutable object revalidated to new
//! bytes) is deleted with its exact size reported. The blob files are also checked where the
//! backend keeps them (DATA_DIR, or s3s-fs's bucket directory).

use std::time::Duration;

use artifactapi_e2e::{generic_remote, matrix, pattern_bytes, poll_until, sha256_hex, File, Options, Server, Upstream};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn num(report: &Value, key: &str) -> u64 {
    report[key].as_u64().unwrap_or_else(|| panic!("GC report without a number {key}: {report}"))
}

async fn gc_keeps_referenced_blobs_and_reaps_replaced_ones(opts: Options) {
    let up = Upstream::start().await;
    let a = pattern_bytes(50_000, 31);
    let b = pattern_bytes(60_000, 32);
    let old = pattern_bytes(12_345, 33);
    let new = pattern_bytes(23_456, 34);
    up.put("/files/a.bin", File::new(a.clone()));
    up.put("/files/b.bin", File::new(b.clone()));
    up.put("/meta/index.json", File::new(old.clone()).etag("v1"));
    let s = Server::start(opts).await;
    let mut spec = generic_remote("gcr", &up.base_url());
    spec["mutable_ttl"] = json!(1);
    spec["mutable_patterns"] = json!(["\\.json$"]);
    s.create_remote(spec).await;
    for path in ["files/a.bin", "files/b.bin", "meta/index.json"] {
        assert_eq!(s.proxy_get("gcr", path).await.status, StatusCode::OK, "{path}");
        s.wait_cached("gcr", path).await;
    }
    for (name, bytes) in [("a", &a), ("b", &b), ("old", &old)] {
        assert!(
            s.blob_path(&sha256_hex(bytes)).is_file(),
            "blob {name} not at {}",
            s.blob_path(&sha256_hex(bytes)).display()
        );
    }

    let report = s.gc(false, Some(0)).await;
    assert_eq!((num(&report, "deleted"), num(&report, "deleted_bytes")), (0, 0), "{report}");
    assert!(num(&report, "kept_referenced") >= 3, "{report}");
    assert!(num(&report, "scanned") >= 3, "{report}");
    assert_eq!(report["dry_run"], false);
    for path in ["files/a.bin", "files/b.bin"] {
        let r = s.proxy_get("gcr", path).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{path} after GC");
    }

    // The mutable object changes upstream: its old blob is referenced no more.
    up.put("/meta/index.json", File::new(new.clone()).etag("v2"));
    poll_until("the new bytes after revalidation", Duration::from_secs(15), Duration::from_millis(100), || async {
        let r = s.proxy_get("gcr", "meta/index.json").await;
        assert_eq!(r.status, StatusCode::OK);
        (r.body == new).then_some(())
    })
    .await;
    assert_eq!(s.wait_cached("gcr", "meta/index.json").await.body, new);

    let recent = s.gc(false, Some(3600)).await;
    assert_eq!(num(&recent, "deleted"), 0, "the grace period protects the old blob: {recent}");
    assert!(num(&recent, "kept_recent") >= 1, "{recent}");
    let dry = s.gc(true, Some(0)).await;
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!((num(&dry, "deleted"), num(&dry, "deleted_bytes")), (1, old.len() as u64), "a dry run reports: {dry}");
    assert!(s.blob_path(&sha256_hex(&old)).is_file(), "a dry run deletes nothing");

    let real = s.gc(false, Some(0)).await;
    assert_eq!((num(&real, "deleted"), num(&real, "deleted_bytes")), (1, old.len() as u64), "{real}");
    assert!(!s.blob_path(&sha256_hex(&old)).exists(), "the unreferenced blob is gone");
    for (name, bytes) in [("a", &a), ("b", &b), ("new", &new)] {
        assert!(s.blob_path(&sha256_hex(bytes)).is_file(), "referenced blob {name} was deleted");
    }
    let again = s.gc(false, Some(0)).await;
    assert_eq!(num(&again, "deleted"), 0, "{again}");

    for (path, bytes) in [("files/a.bin", &a), ("files/b.bin", &b)] {
        let r = s.proxy_get("gcr", path).await;
        assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"), "{path}");
        assert_eq!(&r.body.to_vec(), bytes, "{path}");
    }
    assert_eq!(s.proxy_get("gcr", "meta/index.json").await.body, new);
}
matrix!(gc_keeps_referenced_blobs_and_reaps_replaced_ones);

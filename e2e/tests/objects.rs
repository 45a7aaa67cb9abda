//! The cached-object browser and eviction (`/api/v2/remotes/{name}/objects`): listing with a
//! prefix filter, keyset pages and both sorts; eviction of one path, a prefix or everything,
//! after which the next request is a MISS that reaches the upstream (on every replica); blobs
//! shared with another remote surviving GC; and hostile query strings and paths.

use std::time::Duration;

use artifactapi_e2e::{
    fetch, generic_remote, matrix, pattern_bytes, poll_until, raw, sha256_hex, Fetched, File, Options, Server, Storage,
    Upstream,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const POLL: Duration = Duration::from_millis(100);

async fn list(s: &Server, remote: &str, query: &str) -> Fetched {
    s.get(&format!("/api/v2/remotes/{remote}/objects{query}")).await
}

async fn list_ok(s: &Server, remote: &str, query: &str) -> Value {
    let r = list(s, remote, query).await;
    assert_eq!(r.status, StatusCode::OK, "list {remote}{query}: {}", r.describe());
    r.json()
}

async fn evict(s: &Server, remote: &str, suffix: &str) -> Fetched {
    fetch(s.admin(Method::DELETE, &format!("/api/v2/remotes/{remote}/objects{suffix}"))).await
}

/// Evicts and asserts the answer `{"evicted": count, "bytes": bytes}`.
async fn evict_ok(s: &Server, remote: &str, suffix: &str, count: u64, bytes: u64) {
    let r = evict(s, remote, suffix).await;
    assert_eq!(r.status, StatusCode::OK, "evict {remote}{suffix}: {}", r.describe());
    assert_eq!(r.json(), json!({ "evicted": count, "bytes": bytes }), "evict {remote}{suffix}");
}

fn paths_of(page: &Value) -> Vec<String> {
    let objects = page["objects"].as_array().unwrap_or_else(|| panic!("no objects array: {page}"));
    objects.iter().map(|o| o["path"].as_str().expect("a path").to_string()).collect()
}

/// Starts an upstream with `files` (path, size) and a server whose remote `gen` caches them all.
async fn cached_setup(opts: Options, spec_extra: Value, files: &[(&str, usize)]) -> (Server, Upstream) {
    let (s, up) = artifactapi_e2e::with_generic_remote(opts, spec_extra).await;
    for (i, (path, size)) in files.iter().enumerate() {
        up.put(path, File::new(pattern_bytes(*size, 500 + i as u64)).content_type("application/x-test"));
        assert_eq!(s.proxy_get("gen", path).await.status, StatusCode::OK, "{path}");
        s.wait_cached("gen", path).await;
    }
    (s, up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filters_paginates_and_sorts() {
    let files = [("files/a/1.bin", 100), ("files/a/2.bin", 200), ("files/b/3.bin", 300), ("files/b/4.bin", 400)];
    let mut files = files.to_vec();
    files.extend([("files/c/5.bin", 500), ("meta/index.json", 50)]);
    let extra = json!({ "mutable_patterns": ["\\.json$"], "mutable_ttl": 600 });
    let (s, _up) = cached_setup(Options::new(Storage::Fs, false), extra, &files).await;

    let all = list_ok(&s, "gen", "").await;
    assert_eq!(all["total"], 6, "{all}");
    assert_eq!(all["next_cursor"], Value::Null);
    let expected: Vec<&str> = files.iter().map(|(p, _)| *p).collect();
    assert_eq!(paths_of(&all), expected, "sorted by path by default");
    let first = &all["objects"][0];
    assert_eq!(first["variant"], "");
    assert_eq!(first["size"], 100);
    assert_eq!(first["digest"], format!("sha256:{}", sha256_hex(&pattern_bytes(100, 500))));
    assert_eq!(first["content_type"], "application/x-test");
    assert_eq!(first["mutable"], false);
    assert_eq!(first["expires_at"], Value::Null, "immutable with immutable_ttl 0: fresh forever");
    for key in ["fetched_at", "validated_at", "last_access"] {
        assert!(first[key].is_string(), "{key}: {first}");
    }
    assert!(first["hits"].is_u64(), "{first}");
    let meta = &all["objects"][5];
    assert_eq!(meta["mutable"], true);
    let validated = chrono_secs(&meta["validated_at"]);
    assert_eq!(chrono_secs(&meta["expires_at"]) - validated, 600, "mutable: validated_at + mutable_ttl: {meta}");

    // Three pages of two, in the same order as the whole listing, the last without a cursor.
    let mut pages = Vec::new();
    let mut query = "?prefix=files/&limit=2".to_string();
    loop {
        let page = list_ok(&s, "gen", &query).await;
        assert_eq!(page["total"], 5, "total counts the filter, not the page: {page}");
        pages.push(paths_of(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?prefix=files/&limit=2&cursor={c}"),
            None => break,
        }
        assert!(pages.len() < 5, "pagination does not end: {pages:?}");
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1], "{pages:?}");
    assert_eq!(pages.concat(), expected[..5].to_vec());

    let under_a = list_ok(&s, "gen", "?prefix=files/a/").await;
    assert_eq!(
        (paths_of(&under_a), &under_a["total"]),
        (vec!["files/a/1.bin".into(), "files/a/2.bin".into()], &json!(2))
    );
    let none = list_ok(&s, "gen", "?prefix=nothing/").await;
    assert_eq!((none["total"].as_u64(), none["objects"].as_array().map(Vec::len)), (Some(0), Some(0)));
    let desc = list_ok(&s, "gen", "?order=desc").await;
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(paths_of(&desc), reversed);

    // Hits reach the catalog in batches; the most recently used object sorts first.
    for _ in 0..3 {
        assert_eq!(s.proxy_get("gen", "files/a/2.bin").await.x_cache(), "HIT");
    }
    let recent = poll_until("hits of files/a/2.bin in the listing", Duration::from_secs(20), POLL, || async {
        let page = list_ok(&s, "gen", "?sort=last_access&order=desc&limit=1").await;
        (page["objects"][0]["path"] == "files/a/2.bin" && page["objects"][0]["hits"].as_u64() >= Some(3))
            .then_some(page)
    })
    .await;
    assert!(recent["next_cursor"].is_string(), "{recent}");
    // Walking the last_access sort one by one visits every object once.
    let mut seen = Vec::new();
    let mut query = "?sort=last_access&limit=1".to_string();
    while let Some(c) = {
        let page = list_ok(&s, "gen", &query).await;
        seen.extend(paths_of(&page));
        page["next_cursor"].as_str().map(str::to_string)
    } {
        query = format!("?sort=last_access&limit=1&cursor={c}");
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("files/a/2.bin"), "{seen:?}");
}

/// Seconds since the epoch of an RFC 3339 time in a JSON string.
fn chrono_secs(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).timestamp()
}

async fn eviction_makes_the_next_request_a_miss(opts: Options) {
    let files = [("p/a.bin", 1000), ("p/b.bin", 2000), ("q/c.bin", 3000), ("meta/m.json", 40)];
    let extra = json!({ "mutable_patterns": ["\\.json$"], "mutable_ttl": 600 });
    let (s, up) = cached_setup(opts.env("NEGATIVE_TTL", 600), extra, &files).await;

    evict_ok(&s, "gen", "/p/a.bin", 1, 1000).await;
    let r = s.proxy_get("gen", "p/a.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"), "an evicted object is fetched again");
    assert_eq!(up.count("/p/a.bin"), 2);
    s.wait_cached("gen", "p/a.bin").await;
    let r = evict(&s, "gen", "/p/nothing.bin").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.describe());
    assert!(r.error_message().contains("p/nothing.bin"), "{}", r.describe());

    evict_ok(&s, "gen", "?prefix=p/", 2, 3000).await;
    for path in ["p/a.bin", "p/b.bin"] {
        assert_eq!(s.proxy_get("gen", path).await.x_cache(), "MISS", "{path}");
    }
    assert_eq!((up.count("/p/a.bin"), up.count("/p/b.bin")), (3, 2));
    assert_eq!(s.proxy_get("gen", "q/c.bin").await.x_cache(), "HIT", "outside the prefix: kept");

    // A mutable object within its TTL: evicted, it is fetched anew, not revalidated.
    evict_ok(&s, "gen", "?prefix=meta/", 1, 40).await;
    let r = s.proxy_get("gen", "meta/m.json").await;
    assert_eq!(r.x_cache(), "MISS");
    let sent = up.requests("/meta/m.json");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].header("if-none-match"), None, "no conditional request after an eviction");

    // An upstream 404 is remembered; evicting the path forgets that too.
    assert_eq!(s.proxy_get("gen", "late/x.bin").await.status, StatusCode::NOT_FOUND);
    up.put("/late/x.bin", File::new("arrived"));
    assert_eq!(s.proxy_get("gen", "late/x.bin").await.status, StatusCode::NOT_FOUND, "remembered");
    assert_eq!(evict(&s, "gen", "/late/x.bin").await.status, StatusCode::NOT_FOUND, "it was not cached");
    let r = s.proxy_get("gen", "late/x.bin").await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "arrived"), "the negative entry went");

    for path in ["p/a.bin", "p/b.bin", "meta/m.json", "late/x.bin"] {
        s.wait_cached("gen", path).await;
    }
    let total = list_ok(&s, "gen", "").await["total"].as_u64().unwrap();
    assert_eq!(total, 5);
    let r = evict(&s, "gen", "").await;
    assert_eq!(r.json()["evicted"], 5, "{}", r.describe());
    assert_eq!(list_ok(&s, "gen", "").await["total"], 0);
    assert_eq!(s.proxy_get("gen", "q/c.bin").await.x_cache(), "MISS");

    for (what, r) in [
        ("list", list(&s, "nope", "").await),
        ("evict all", evict(&s, "nope", "").await),
        ("evict one", evict(&s, "nope", "/p/a.bin").await),
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{what}");
        assert!(r.error_message().contains("\"nope\""), "{what}: {}", r.describe());
    }
}
matrix!(eviction_makes_the_next_request_a_miss);

async fn evicting_one_remote_keeps_a_blob_another_uses(opts: Options) {
    let up = Upstream::start().await;
    let body = pattern_bytes(70_000, 77);
    let sha = sha256_hex(&body);
    up.put("/shared/x.bin", File::new(body.clone()));
    let s = Server::start(opts).await;
    for name in ["one", "two"] {
        s.create_remote(generic_remote(name, &up.base_url())).await;
        assert_eq!(s.proxy_get(name, "shared/x.bin").await.status, StatusCode::OK);
        s.wait_cached(name, "shared/x.bin").await;
    }
    assert!(s.blob_path(&sha).is_file(), "one blob for both remotes");

    evict_ok(&s, "one", "", 1, body.len() as u64).await;
    let report = s.gc(false, Some(0)).await;
    assert_eq!(report["deleted"], 0, "remote two still uses the blob: {report}");
    assert!(s.blob_path(&sha).is_file());
    let r = s.proxy_get("two", "shared/x.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "HIT"));
    assert_eq!(sha256_hex(&r.body), sha, "the other remote still serves the right bytes");

    evict_ok(&s, "two", "/shared/x.bin", 1, body.len() as u64).await;
    let report = s.gc(false, Some(0)).await;
    assert_eq!((report["deleted"].as_u64(), report["deleted_bytes"].as_u64()), (Some(1), Some(body.len() as u64)));
    assert!(!s.blob_path(&sha).exists(), "referenced by nothing, the blob is gone");
    assert_eq!(up.count("/shared/x.bin"), 2, "eviction and GC never called the upstream");
}
matrix!(evicting_one_remote_keeps_a_blob_another_uses);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_queries_and_paths_are_refused() {
    let token = "objects-token";
    let opts = Options::new(Storage::Fs, false).admin_token(token);
    let (s, _up) = cached_setup(opts, json!({}), &[("files/a.bin", 10), ("files/b.bin", 20)]).await;
    let bad_lists: &[(&str, &str)] = &[
        ("?limit=-1", "limit"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=99999999999999999999", "limit"),
        ("?limit=ten", "limit"),
        ("?limit=5&limit=6", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=e30", "cursor"),
        ("?prefix=..", "prefix"),
        ("?prefix=files/../x", "prefix"),
        ("?prefix=%2e%2e/x", "prefix"),
        ("?prefix=a%00b", "prefix"),
        ("?prefix=/files", "prefix"),
        ("?prefix=", "prefix"),
        ("?prefix=%ff", "prefix"),
        ("?sort=size", "sort"),
        ("?order=sideways", "order"),
        ("?offset=10", "offset"),
    ];
    for (query, param) in bad_lists {
        let r = list(&s, "gen", query).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.describe());
        assert!(r.error_message().starts_with(&format!("{param}:")), "{query}: {}", r.describe());
    }
    let long = format!("?prefix={}", "a".repeat(5000));
    assert_eq!(list(&s, "gen", &long).await.status, StatusCode::BAD_REQUEST);
    let page = list_ok(&s, "gen", "?limit=1").await;
    let cursor = page["next_cursor"].as_str().expect("a cursor");
    let r = list(&s, "gen", &format!("?limit=1&sort=last_access&cursor={cursor}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a cursor of another sort: {}", r.describe());

    for suffix in ["?prefix=..", "?prefix=", "?prefix=a//b", "?limit=5"] {
        let r = evict(&s, "gen", suffix).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "DELETE {suffix}: {}", r.describe());
    }
    assert_eq!(evict(&s, "gen", "/files/a.bin?x=1").await.status, StatusCode::BAD_REQUEST);
    let auth = format!("Authorization: Bearer {token}");
    for tail in ["files/../files/a.bin", "files/%2e%2e/files/a.bin", "files%2fa.bin", "files\\a.bin", "a//b", ""] {
        let target = format!("/api/v2/remotes/gen/objects/{tail}");
        let r = raw::request_with_headers(s.port(), "DELETE", &target, &[&auth]).await;
        assert_eq!(r.status, 400, "DELETE {target}: {}", r.head);
    }
    let r = fetch(s.client().delete(s.url("/api/v2/remotes/gen/objects"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "eviction needs the admin token");
    let r = fetch(s.client().delete(s.url("/api/v2/remotes/gen/objects/files/a.bin")).bearer_auth("wrong")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(list_ok(&s, "gen", "").await["total"], 2, "nothing refused was evicted");
    assert_eq!(s.proxy_get("gen", "files/a.bin").await.x_cache(), "HIT");

    let r = fetch(s.admin(Method::PUT, "/api/v2/remotes/gen/objects")).await;
    assert_eq!((r.status, r.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, Some("GET, DELETE")));
    let r = fetch(s.admin(Method::GET, "/api/v2/remotes/gen/objects/files/a.bin")).await;
    assert_eq!((r.status, r.header("allow")), (StatusCode::METHOD_NOT_ALLOWED, Some("DELETE")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_reaches_every_replica() {
    let up = Upstream::start().await;
    let body = pattern_bytes(5000, 91);
    up.put("/files/r.bin", File::new(body.clone()));
    let a = Server::start(Options::new(Storage::Fs, true)).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let b = Server::start(Options::new(Storage::Fs, true).shared_with(&a)).await;
    a.proxy_get("gen", "files/r.bin").await;
    a.wait_cached("gen", "files/r.bin").await;
    // Served from B's memory from now on: only the announcement can make B forget it.
    for _ in 0..3 {
        assert_eq!(b.wait_cached("gen", "files/r.bin").await.x_cache(), "HIT");
    }
    assert_eq!(up.count("/files/r.bin"), 1);

    evict_ok(&a, "gen", "/files/r.bin", 1, body.len() as u64).await;
    let r = poll_until("replica B to forget the evicted object", Duration::from_secs(10), POLL, || async {
        let r = b.proxy_get("gen", "files/r.bin").await;
        assert_eq!(r.status, StatusCode::OK);
        (r.x_cache() != "HIT").then_some(r)
    })
    .await;
    assert_eq!(r.x_cache(), "MISS");
    assert_eq!(r.body, body);
    assert_eq!(up.count("/files/r.bin"), 2, "B fetched it from the upstream again");
}

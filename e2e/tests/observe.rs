//! Observation against the real binary: after a scripted sequence of requests (miss, hits, a
//! HEAD, 403, 404, an unknown remote, stale while the upstream is down, revalidated once it is
//! back, and a second remote sharing a blob), `/api/v2/stats` adds up exactly per repository and
//! in total, `/metrics` is valid Prometheus text whose counters moved by exactly as much, and the
//! access log lists every request as it was answered. Stats survive a restart; bad query
//! parameters get 400 and unknown repositories 404.

use std::time::Duration;

use artifactapi_e2e::prom::Scrape;
use artifactapi_e2e::{
    fetch, generic_remote, matrix, pattern_bytes, poll_until, Fetched, File, Options, Server, Storage, Upstream,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const POLL: Duration = Duration::from_millis(100);
const SETTLE: Duration = Duration::from_secs(15);

/// One request as the client saw it.
#[derive(Debug, Clone)]
struct Seen {
    repo: String,
    path: String,
    method: &'static str,
    status: u16,
    cache: Option<String>,
    bytes: u64,
}

/// Every proxied request a test made, to compare with what the server reports.
#[derive(Debug, Default)]
struct Ledger(Vec<Seen>);

impl Ledger {
    async fn send(&mut self, s: &Server, method: &'static str, repo: &str, path: &str) -> Fetched {
        let url = s.proxy_url(repo, path);
        let req = match method {
            "HEAD" => s.client().head(url),
            _ => s.client().get(url),
        };
        let r = fetch(req).await;
        let cache = r.header("x-cache").map(str::to_string);
        let seen = Seen {
            repo: repo.into(),
            path: path.into(),
            method,
            status: r.status.as_u16(),
            cache,
            bytes: r.body.len() as u64,
        };
        self.0.push(seen);
        r
    }

    async fn get(&mut self, s: &Server, repo: &str, path: &str) -> Fetched {
        self.send(s, "GET", repo, path).await
    }

    /// GETs until the answer's X-Cache is `want`; every answer must be a 200 from `allowed`.
    async fn get_until(&mut self, s: &Server, repo: &str, path: &str, want: &str, allowed: &[&str]) {
        let deadline = std::time::Instant::now() + SETTLE;
        loop {
            let r = self.get(s, repo, path).await;
            assert_eq!(r.status, StatusCode::OK, "{repo}/{path}: {}", r.describe());
            if r.x_cache() == want {
                return;
            }
            assert!(allowed.contains(&r.x_cache()), "{repo}/{path}: X-Cache {} while waiting for {want}", r.x_cache());
            assert!(std::time::Instant::now() < deadline, "{repo}/{path}: no {want} within {SETTLE:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    fn of(&self, repo: &str) -> Vec<&Seen> {
        self.0.iter().filter(|s| s.repo == repo).collect()
    }

    fn count(&self, repo: &str, cache: &str) -> u64 {
        self.of(repo).iter().filter(|s| s.cache.as_deref() == Some(cache)).count() as u64
    }

    /// What `/api/v2/stats` must say about `repo`'s requests.
    fn expected(&self, repo: &str) -> Value {
        let seen = self.of(repo);
        json!({
            "requests": seen.len(),
            "hits": self.count(repo, "HIT"),
            "misses": self.count(repo, "MISS"),
            "stale": self.count(repo, "STALE"),
            "revalidated": self.count(repo, "REVALIDATED"),
            "bytes_served": seen.iter().map(|s| s.bytes).sum::<u64>(),
        })
    }
}

/// The request counters of a stats entry, in the shape of [`Ledger::expected`].
fn counters(entry: &Value) -> Value {
    let keys = ["requests", "hits", "misses", "stale", "revalidated", "bytes_served"];
    Value::Object(keys.iter().map(|k| (k.to_string(), entry[*k].clone())).collect())
}

fn repo_entry<'a>(stats: &'a Value, name: &str) -> &'a Value {
    stats["repositories"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

async fn stats(s: &Server) -> Value {
    let r = s.get("/api/v2/stats").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    r.json()
}

async fn scrape(s: &Server) -> Scrape {
    let r = s.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/plain; version=0.0.4")));
    Scrape::parse(&r.text()).unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}"))
}

/// Polls the access log of `repo` until it holds `n` rows (rows are written in batches).
async fn access_log(s: &Server, query: &str, n: usize) -> Vec<Value> {
    poll_until(&format!("{n} access log rows for {query}"), SETTLE, POLL, || async {
        let r = s.get(&format!("/api/v2/access-log?{query}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
        let entries = r.json()["entries"].as_array().cloned().unwrap_or_default();
        assert!(entries.len() <= n, "more rows than requests: {entries:?}");
        (entries.len() == n).then_some(entries)
    })
    .await
}

async fn the_figures_add_up(opts: Options) {
    let up = Upstream::start().await;
    let s = Server::start(opts.env("BREAKER_THRESHOLD", 100)).await;
    let mut spec = generic_remote("gen", &up.base_url());
    spec["mutable_ttl"] = 1.into();
    spec["mutable_patterns"] = json!(["^meta/"]);
    spec["blocklist"] = json!(["^secret/"]);
    s.create_remote(spec).await;
    s.create_remote(generic_remote("gen2", &up.base_url())).await;
    let blob = pattern_bytes(70_000, 31);
    let meta = br#"{"latest":"2.0"}"#.to_vec();
    up.put("/files/a.bin", File::new(blob.clone()));
    up.put("/meta/index.json", File::new(meta.clone()).etag("m1"));

    let before = scrape(&s).await;
    assert_eq!(before.sum("artifactapi_requests_total", &[("repo", "gen")]), 0.0);
    let mut l = Ledger::default();
    let r = l.get(&s, "gen", "files/a.bin").await;
    assert_eq!((r.status, r.x_cache()), (StatusCode::OK, "MISS"));
    l.get_until(&s, "gen", "files/a.bin", "HIT", &["MISS"]).await;
    l.get(&s, "gen", "files/a.bin").await;
    let head = l.send(&s, "HEAD", "gen", "files/a.bin").await;
    assert_eq!((head.status, head.x_cache(), head.body.len()), (StatusCode::OK, "HIT", 0));
    assert_eq!(l.get(&s, "gen", "files/missing.bin").await.status, StatusCode::NOT_FOUND);
    assert_eq!(l.get(&s, "gen", "secret/key").await.status, StatusCode::FORBIDDEN);
    assert_eq!(l.get(&s, "nosuchremote", "x").await.status, StatusCode::NOT_FOUND);
    l.get(&s, "gen", "meta/index.json").await;
    l.get_until(&s, "gen", "meta/index.json", "HIT", &["MISS"]).await;
    up.down().await;
    l.get_until(&s, "gen", "meta/index.json", "STALE", &["HIT"]).await;
    up.up().await;
    l.get_until(&s, "gen", "meta/index.json", "REVALIDATED", &["HIT", "STALE"]).await;
    l.get(&s, "gen2", "files/a.bin").await;
    l.get_until(&s, "gen2", "files/a.bin", "HIT", &["MISS"]).await;
    let files = Files { blob: blob.len() as u64, meta: meta.len() as u64 };
    assert_stats(&s, &l, files).await;
    assert_metrics(&s, &l, &before, &up, files).await;
    assert_access_log(&s, &l).await;
}
matrix!(the_figures_add_up);

/// The sizes of the two files of the scenario.
#[derive(Debug, Clone, Copy)]
struct Files {
    blob: u64,
    meta: u64,
}

/// `/api/v2/stats` says exactly what the ledger says, per repository and in total.
async fn assert_stats(s: &Server, l: &Ledger, files: Files) {
    // Records are made as bodies end: wait until the last one is in.
    let known = l.0.iter().filter(|s| s.repo != "nosuchremote").count();
    let st = poll_until("stats to count every request", SETTLE, POLL, || async {
        let st = stats(s).await;
        (st["total"]["requests"] == known).then_some(st)
    })
    .await;
    for repo in ["gen", "gen2"] {
        assert_eq!(counters(repo_entry(&st, repo)), l.expected(repo), "{repo}: {st}");
    }
    let gen = repo_entry(&st, "gen");
    let (blob_len, meta_len) = (files.blob, files.meta);
    assert_eq!(gen["bytes_fetched"], blob_len + meta_len, "{gen}");
    assert_eq!(repo_entry(&st, "gen2")["bytes_fetched"], blob_len);
    assert_eq!(gen["upstream_errors"], l.count("gen", "STALE"), "one failed fetch per stale answer: {gen}");
    assert_eq!((gen["objects"].as_u64(), gen["bytes_stored"].as_u64()), (Some(2), Some(blob_len + meta_len)));
    assert_eq!(
        (gen["kind"].as_str(), gen["package_type"].as_str(), gen["breaker"].as_str()),
        (Some("remote"), Some("generic"), Some("closed"))
    );
    let served_from_cache = l.count("gen", "HIT") + l.count("gen", "STALE") + l.count("gen", "REVALIDATED");
    let ratio = served_from_cache as f64 / (served_from_cache + l.count("gen", "MISS")) as f64;
    assert!((gen["hit_ratio"].as_f64().unwrap() - ratio).abs() < 1e-9, "{gen}");
    let mut total = l.expected("gen");
    for (k, v) in l.expected("gen2").as_object().unwrap() {
        total[k] = (total[k].as_u64().unwrap() + v.as_u64().unwrap()).into();
    }
    assert_eq!(counters(&st["total"]), total, "{st}");
    assert_eq!(st["total"]["bytes_fetched"], 2 * blob_len + meta_len);
    assert_eq!(st["total"]["bytes_stored"], 2 * blob_len + meta_len);
    let storage = &st["storage"];
    assert_eq!((storage["blobs"].as_u64(), storage["bytes"].as_u64()), (Some(2), Some(blob_len + meta_len)), "{st}");
    assert_eq!(storage["logical_bytes"], 2 * blob_len + meta_len);
    assert_eq!(storage["dedup_saving_bytes"], blob_len, "gen and gen2 share one blob");
    let only = s.get("/api/v2/stats?repo=gen2").await.json();
    assert_eq!(only["repositories"].as_array().map(Vec::len), Some(1));
    assert_eq!(counters(&only["total"]), l.expected("gen2"));
}

/// `/metrics` is valid Prometheus text, and its counters moved by exactly the ledger.
async fn assert_metrics(s: &Server, l: &Ledger, before: &Scrape, up: &Upstream, files: Files) {
    let after = scrape(s).await;
    let moved = |name: &str, repo: &str| after.sum(name, &[("repo", repo)]) - before.sum(name, &[("repo", repo)]);
    for repo in ["gen", "gen2"] {
        let want = l.expected(repo);
        assert_eq!(moved("artifactapi_requests_total", repo), want["requests"].as_f64().unwrap(), "{repo}");
        assert_eq!(moved("artifactapi_served_bytes_total", repo), want["bytes_served"].as_f64().unwrap(), "{repo}");
        assert_eq!(moved("artifactapi_request_duration_seconds_count", repo), want["requests"].as_f64().unwrap());
    }
    let hits = after.sum("artifactapi_requests_total", &[("repo", "gen"), ("cache", "HIT"), ("type", "generic")]);
    assert_eq!(hits, l.count("gen", "HIT") as f64);
    let not_found = after.sum("artifactapi_requests_total", &[("repo", "gen"), ("cache", "none"), ("status", "4xx")]);
    assert_eq!(not_found, 2.0, "the 404 and the 403");
    assert_eq!(
        after.sum("artifactapi_requests_total", &[("repo", "nosuchremote")]),
        0.0,
        "no series for unknown names"
    );
    assert_eq!(moved("artifactapi_upstream_fetched_bytes_total", "gen"), (files.blob + files.meta) as f64);
    assert_eq!(moved("artifactapi_upstream_errors_total", "gen"), l.count("gen", "STALE") as f64);
    // Every fetch ended once: the upstream answered each one (two fills of a.bin, the fill and
    // the revalidation of index.json, the 404 of missing.bin) or refused it (one per STALE).
    let fetches = after.sum("artifactapi_upstream_fetches_total", &[]);
    let answered = up.count("/files/a.bin") + up.count("/meta/index.json") + up.count("/files/missing.bin");
    assert_eq!(fetches as usize, answered + l.count("gen", "STALE") as usize);
    assert_eq!(after.sum("artifactapi_upstream_fetches_total", &[("outcome", "revalidated")]), 1.0);
    assert_eq!(after.sum("artifactapi_upstream_fetches_total", &[("outcome", "not_found")]), 1.0);
    assert_eq!(after.sum("artifactapi_upstream_inflight_fetches", &[]), 0.0);
    assert_eq!(after.sum("artifactapi_breaker_state", &[("repo", "gen")]), 0.0);
    assert_eq!(after.sum("artifactapi_db_pool_connections", &[("state", "max")]), 4.0);
    assert_eq!(after.sum("artifactapi_storage_commits_total", &[]), 3.0);
    assert_eq!(after.types.get("artifactapi_request_duration_seconds").map(String::as_str), Some("histogram"));
}

/// The access log lists every request as the client saw it, newest first. A request is
/// recorded when its body has been sent, which can be after the client has read it and sent the
/// next one, so the rows are compared as a set, and their order by id (newest recorded first).
async fn assert_access_log(s: &Server, l: &Ledger) {
    let rows = access_log(s, "repo=gen&limit=1000", l.of("gen").len()).await;
    let ids: Vec<u64> = rows.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let mut want: Vec<_> = l
        .of("gen")
        .iter()
        .map(|seen| (seen.method, seen.path.clone(), seen.status, seen.cache.clone(), seen.bytes))
        .collect();
    let mut got: Vec<_> = rows
        .iter()
        .map(|row| {
            assert_eq!(row["client"], "127.0.0.1");
            (
                row["method"].as_str().unwrap(),
                row["path"].as_str().unwrap().to_string(),
                row["status"].as_u64().unwrap() as u16,
                row["cache_status"].as_str().map(str::to_string),
                row["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    let stale = access_log(s, "repo=gen&cache=stale", l.count("gen", "STALE") as usize).await;
    assert!(stale.iter().all(|r| r["cache_status"] == "STALE"));
    let errors = access_log(s, "status=4xx", 3).await;
    let mut error_repos: Vec<&str> = errors.iter().map(|r| r["repo"].as_str().unwrap()).collect();
    error_repos.sort();
    assert_eq!(error_repos, ["gen", "gen", "nosuchremote"], "unknown remotes are logged too");
    let meta_rows =
        access_log(s, "repo=gen&path_prefix=meta/", l.of("gen").iter().filter(|s| s.path.starts_with("meta/")).count())
            .await;
    assert!(meta_rows.iter().all(|r| r["path"] == "meta/index.json"));
    // Keyset pages of 3 give the same rows as one page.
    let (mut paged, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = s.get(&format!("/api/v2/access-log?repo=gen&limit=3{cursor}")).await.json();
        paged.extend(page["entries"].as_array().unwrap().iter().map(|e| e["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, rows.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_and_the_access_log_survive_a_restart() {
    let up = Upstream::start().await;
    up.put("/a.bin", File::new(pattern_bytes(5_000, 32)));
    let mut a = Server::start(Options::new(Storage::Fs, false)).await;
    a.create_remote(generic_remote("gen", &up.base_url())).await;
    let mut l = Ledger::default();
    l.get(&a, "gen", "a.bin").await;
    l.get_until(&a, "gen", "a.bin", "HIT", &["MISS"]).await;
    l.get(&a, "gen", "nothing.bin").await;
    let before = poll_until("stats to count every request", SETTLE, POLL, || async {
        let st = stats(&a).await;
        (st["total"]["requests"] == l.0.len()).then_some(st)
    })
    .await;
    // Stopped right away (well within the flush period): the shutdown writes what is in memory.
    let status = a.terminate().await;
    assert!(status.is_some_and(|s| s.success()), "SIGTERM: {status:?}\n{}", a.log_tail(30));

    let b = Server::start(Options::new(Storage::Fs, false).shared_with(&a)).await;
    let after = stats(&b).await;
    assert_eq!(counters(repo_entry(&after, "gen")), l.expected("gen"), "{after}");
    assert_eq!(after["total"], before["total"]);
    let rows = access_log(&b, "repo=gen", l.0.len()).await;
    assert_eq!(rows[0]["path"], "nothing.bin");
    assert_eq!(rows[0]["status"], 404);

    // Counts from the new process add to the old ones.
    l.get(&b, "gen", "a.bin").await;
    poll_until("the new request in the stats", SETTLE, POLL, || async {
        let st = stats(&b).await;
        (counters(repo_entry(&st, "gen")) == l.expected("gen")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_get_400_and_unknown_repositories_404() {
    let up = Upstream::start().await;
    let s = Server::start(Options::new(Storage::Fs, false)).await;
    s.create_remote(generic_remote("gen", &up.base_url())).await;
    let cases: &[(&str, u16, &str)] = &[
        ("/api/v2/stats?repo=nope", 404, "\"nope\" not found"),
        ("/api/v2/stats?repo=", 400, "repo: invalid repository name"),
        ("/api/v2/stats?bogus=1", 400, "unknown query parameter \"bogus\""),
        ("/api/v2/stats?repo=gen&repo=gen", 400, "given more than once"),
        ("/api/v2/access-log?repo=nope", 404, "\"nope\" not found"),
        ("/api/v2/access-log?limit=0", 400, "limit: expected a whole number from 1 to 1000"),
        ("/api/v2/access-log?limit=-5", 400, "limit: "),
        ("/api/v2/access-log?limit=100000000000000000000", 400, "limit: "),
        ("/api/v2/access-log?cursor=abc", 400, "cursor: "),
        ("/api/v2/access-log?cursor=-1", 400, "cursor: "),
        ("/api/v2/access-log?status=999", 400, "status: "),
        ("/api/v2/access-log?cache=WARM", 400, "cache: expected HIT, MISS, STALE or REVALIDATED"),
        ("/api/v2/access-log?since=yesterday", 400, "since: expected an RFC 3339 time"),
        ("/api/v2/access-log?until=2024-02-30T00:00:00Z", 400, "until: "),
        ("/api/v2/access-log?path_prefix=", 400, "path_prefix: "),
        ("/api/v2/access-log?path_prefix=a%00b", 400, "path_prefix: "),
        ("/api/v2/access-log?sort=asc", 400, "unknown query parameter \"sort\""),
    ];
    for (path, status, message) in cases {
        let r = s.get(path).await;
        assert_eq!(r.status.as_u16(), *status, "{path}: {}", r.describe());
        assert!(r.error_message().contains(message), "{path}: {}", r.error_message());
    }
    for path in ["/metrics", "/api/v2/stats", "/api/v2/access-log"] {
        let r = fetch(s.client().post(s.url(path))).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "POST {path}");
        assert_eq!(r.header("allow"), Some("GET"));
    }
    assert_eq!(s.get("/api/v2/access-log?repo=gen&limit=1000&status=2xx&cache=HIT").await.status, StatusCode::OK);
}

//! What a large helm `index.yaml` costs: a generated index of 10,000 chart versions (1,000
//! charts of 10 versions, with the fields real indexes carry) is checked, rewritten, searched
//! and merged, and the peak heap each step needs above what it started with is measured with a
//! counting allocator (this test binary's own). The figures are printed (`--nocapture`); the
//! assertions bound memory relative to the input, so a change that builds a tree of the whole
//! index, clones per entry or keeps copies around fails here. Time is printed, not asserted: benchmarks, not tests,
//! judge speed.

mod common;

use std::fmt::Write as _;

use artifactapi::formats::helm::Helm;
use artifactapi::formats::{Doc, Format, Method, Rendered, Request, Urls};
use common::alloc::{measure, Counting};

#[global_allocator]
static ALLOC: Counting = Counting;

const CHARTS: usize = 1_000;
const VERSIONS: usize = 10;
const DOC: Doc = Doc { variant: "", accept: "" };

fn generated_index() -> String {
    let mut s = String::from("apiVersion: v1\nentries:\n");
    for c in 0..CHARTS {
        let _ = writeln!(s, "  chart-{c}:");
        for v in 0..VERSIONS {
            let digest = format!("{:064x}", (c * VERSIONS + v) as u128 * 0x9e37_79b9_7f4a_7c15 + 0xabc);
            let _ = write!(
                s,
                "  - annotations:\n      category: Infrastructure\n      licenses: Apache-2.0\n    apiVersion: v2\n    appVersion: {v}.{c}.0\n    created: \"2024-01-02T03:04:05.123456789Z\"\n    dependencies:\n    - name: common\n      repository: oci://registry.example/charts\n      version: 2.x.x\n    description: Chart number {c}, a generated chart for the scale test of the helm index rewrite.\n    digest: {digest}\n    home: https://example.org/charts/chart-{c}\n    icon: https://example.org/icons/chart-{c}.svg\n    keywords:\n    - test\n    - chart-{c}\n    maintainers:\n    - name: Maintainer {c}\n      url: https://example.org/people/{c}\n    name: chart-{c}\n    sources:\n    - https://example.org/src/chart-{c}\n    type: application\n    urls:\n    - chart-{c}-1.{v}.0.tgz\n    version: 1.{v}.0\n"
            );
        }
    }
    s.push_str("generated: \"2024-01-02T03:04:05.123456789Z\"\n");
    s
}

fn mib(n: usize) -> f64 {
    n as f64 / (1024.0 * 1024.0)
}

#[test]
fn ten_thousand_chart_versions_within_bounded_memory() {
    let body = generated_index();
    let urls = Urls {
        public: "http://proxy.example:8080/api/v1/remote/charts/".into(),
        base: "http://up.example/repo/".into(),
        document: "http://up.example/repo/index.yaml".into(),
    };
    let input = body.len();
    let parse = |path: &str| {
        Helm.parse(&Request { repo: "charts", method: Method::Get, path, query: "", accept: &[] }).unwrap()
    };
    let index = parse("index.yaml");

    let (checked, check_peak, check_s) = measure(|| Helm.check_document(&index, body.as_bytes()));
    checked.unwrap();
    let (out, rewrite_peak, rewrite_s) = measure(|| Helm.rewrite(&index, &DOC, body.as_bytes(), &urls));
    let out = out.unwrap();
    let chart = parse("charts/chart-999/1.9.0/chart-999-1.9.0.tgz");
    let (found, locate_peak, locate_s) = measure(|| Helm.locate(&chart, body.as_bytes(), &urls));
    assert_eq!(found.unwrap().unwrap().url, "http://up.example/repo/chart-999-1.9.0.tgz");
    let members = vec![out.clone(), Rendered::new(out.body.clone(), out.content_type.clone())];
    let (merged, merge_peak, merge_s) = measure(|| Helm.merge(&index, &DOC, members));
    let merged = merged.unwrap();

    println!(
        "helm index of {} chart versions, {:.1} MiB in, {:.1} MiB rewritten, {:.1} MiB merged (2 members)",
        CHARTS * VERSIONS,
        mib(input),
        mib(out.body.len()),
        mib(merged.body.len())
    );
    for (what, peak, secs) in [
        ("check", check_peak, check_s),
        ("rewrite", rewrite_peak, rewrite_s),
        ("locate", locate_peak, locate_s),
        ("merge", merge_peak, merge_s),
    ] {
        println!(
            "  {what:8} peak heap {:6.1} MiB ({:4.1}x input), {:7.1} ms",
            mib(peak),
            peak as f64 / input as f64,
            secs * 1e3
        );
    }

    let rendered = String::from_utf8(out.body).unwrap();
    assert_eq!(rendered.matches("\n  - ").count(), CHARTS * VERSIONS);
    assert_eq!(rendered.matches("http://proxy.example:8080/api/v1/remote/charts/charts/").count(), CHARTS * VERSIONS);
    // The rewrite holds its output and one entry at a time, never a tree of the whole index;
    // checking and finding one chart hold next to nothing; a merge holds the members' entries.
    assert!(rewrite_peak < 2 * input, "rewrite peaked at {rewrite_peak} bytes for {input} bytes in");
    assert!(check_peak < input / 20, "check peaked at {check_peak} bytes for {input} bytes in");
    assert!(locate_peak < input / 20, "locate peaked at {locate_peak} bytes for {input} bytes in");
    assert!(merge_peak < 5 * input, "merge peaked at {merge_peak} bytes for {input} bytes in");
}

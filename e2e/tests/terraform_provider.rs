//! The Terraform provider (`terraform-provider-artifactapi`) driven by the real terraform 1.11
//! against the real server (with `ADMIN_TOKEN`, so every call carries the provider's token),
//! installed through `dev_overrides` (`terraform_provider/cli.rs`).
//!
//! - one remote of each package type, a virtual and a local: plan, apply, a second plan with no
//!   changes, an update in place, a replacement on a new name, drift after a change through the
//!   API, re-creation after a deletion outside Terraform, import of each, destroy;
//! - refusals: plan-time checks on the attribute (regex, URL, TTL), and the server's own
//!   refusals (a member that does not exist, a local type not served) as diagnostics on the
//!   attribute it names;
//! - the seed README's HCL applied as written;
//! - tokens and data sources;
//! - an HTTPS endpoint behind a private CA, trusted through `ca_cert`;
//! - plan and apply times for 50 remotes (printed, not asserted).
//!
//! Skipped, loudly, when terraform is absent.

#[path = "terraform_provider/cli.rs"]
mod cli;

use artifactapi_e2e::{Options, Server, Storage};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use artifactapi_e2e::tls::TestCa;
use cli::{plan_counts, terraform, Tf, TlsFront};

const ADMIN: &str = "tf-e2e-admin-token";

const TYPES: [&str; 10] =
    ["generic", "docker", "helm", "pypi", "npm", "rpm", "alpine", "puppet", "terraform", "goproxy"];

async fn server() -> Server {
    Server::start(Options::new(Storage::Fs, false).admin_token(ADMIN)).await
}

async fn get(s: &Server, path: &str) -> (StatusCode, Value) {
    let r = artifactapi_e2e::fetch(s.admin(Method::GET, path)).await;
    let body = if r.status.is_success() { r.json() } else { Value::Null };
    (r.status, body)
}

/// The configuration of the lifecycle test: one remote per type (the generic one named
/// `generic_name`), every remote with `mutable_ttl = ttl`, a helm virtual over the helm remote
/// and a helm local in `members` order, the local with `allow_overwrite`.
fn lifecycle_hcl(ttl: u64, generic_name: &str, local_first: bool, overwrite: bool) -> String {
    let mut hcl = String::from(
        "terraform {\n  required_providers {\n    artifactapi = { source = \"artifactapi/artifactapi\" }\n  }\n}\n\n",
    );
    for t in TYPES {
        let name = if t == "generic" { generic_name.to_string() } else { format!("{t}-up") };
        let extra = match t {
            "docker" => "  ban_tags_enabled = true\n  ban_tags = [\"latest\", \"edge\"]\n  username = \"puller\"\n  password = \"hunter2-upstream\"\n",
            "generic" => "  patterns = [\"^releases/.*\\\\.tar\\\\.gz$\"]\n  blocklist = [\"\\\\.\\\\./\"]\n",
            "pypi" => "  immutable_ttl = 86400\n  mutable_patterns = [\"^simple/.*\"]\n",
            _ => "",
        };
        hcl.push_str(&format!(
            "resource \"artifactapi_remote_{t}\" \"r\" {{\n  name = \"{name}\"\n  base_url = \"https://{t}.example.com/base\"\n  mutable_ttl = {ttl}\n{extra}}}\n\n"
        ));
    }
    let members = if local_first {
        "[artifactapi_local.charts.name, artifactapi_remote_helm.r.name]"
    } else {
        "[artifactapi_remote_helm.r.name, artifactapi_local.charts.name]"
    };
    hcl.push_str(&format!(
        "resource \"artifactapi_local\" \"charts\" {{\n  name = \"charts\"\n  package_type = \"helm\"\n  allow_overwrite = {overwrite}\n}}\n\n\
         resource \"artifactapi_virtual\" \"helm\" {{\n  name = \"helm-all\"\n  package_type = \"helm\"\n  members = {members}\n}}\n"
    ));
    hcl
}

/// Every resource address of the lifecycle configuration.
fn lifecycle_addresses() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = TYPES
        .iter()
        .map(|t| {
            let name = if *t == "generic" { "generic-b".to_string() } else { format!("{t}-up") };
            (format!("artifactapi_remote_{t}.r"), name)
        })
        .collect();
    all.push(("artifactapi_local.charts".into(), "charts".into()));
    all.push(("artifactapi_virtual.helm".into(), "helm-all".into()));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_of_every_remote_type_a_virtual_and_a_local() {
    let Some(terraform) = terraform() else { return };
    let s = server().await;
    let tf = Tf::new(terraform, &s.url(""), ADMIN);

    // Plan, apply, and a second plan with nothing to do.
    tf.write("main.tf", &lifecycle_hcl(600, "generic-a", false, false));
    let plan = tf.plan();
    assert_eq!(plan.code, 2);
    assert_eq!(plan_counts(&plan.stdout), Some((12, 0, 0)), "{}", plan.stdout);
    assert!(!plan.stdout.contains("hunter2-upstream"), "the password shows in the plan:\n{}", plan.stdout);
    tf.apply();
    for t in TYPES {
        let name = if t == "generic" { "generic-a".to_string() } else { format!("{t}-up") };
        let (status, remote) = get(&s, &format!("/api/v2/remotes/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(remote["package_type"], t);
        assert_eq!(remote["mutable_ttl"], 600);
        assert!(remote.get("password").is_none(), "{remote}");
    }
    let (_, docker) = get(&s, "/api/v2/remotes/docker-up").await;
    assert_eq!(docker["ban_tags"], json!(["latest", "edge"]));
    assert_eq!(docker["username"], "puller");
    let (_, generic) = get(&s, "/api/v2/remotes/generic-a").await;
    assert_eq!(generic["patterns"], json!(["^releases/.*\\.tar\\.gz$"]));
    let (_, virt) = get(&s, "/api/v2/virtuals/helm-all").await;
    assert_eq!(virt["members"], json!(["helm-up", "charts"]));
    tf.assert_no_changes("apply");

    // Update in place: a TTL on every remote, the member order, a local's setting.
    tf.write("main.tf", &lifecycle_hcl(900, "generic-a", true, true));
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((0, 12, 0)), "{}", plan.stdout);
    tf.apply();
    let (_, pypi) = get(&s, "/api/v2/remotes/pypi-up").await;
    assert_eq!(pypi["mutable_ttl"], 900);
    let (_, virt) = get(&s, "/api/v2/virtuals/helm-all").await;
    assert_eq!(virt["members"], json!(["charts", "helm-up"]));
    let (_, local) = get(&s, "/api/v2/locals/charts").await;
    assert_eq!(local["allow_overwrite"], true);
    tf.assert_no_changes("an update");

    // A new name replaces the remote.
    tf.write("main.tf", &lifecycle_hcl(900, "generic-b", true, true));
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((1, 0, 1)), "{}", plan.stdout);
    assert!(plan.stdout.contains("must be replaced"), "{}", plan.stdout);
    assert!(plan.stdout.contains("# forces replacement"), "{}", plan.stdout);
    tf.apply();
    assert_eq!(get(&s, "/api/v2/remotes/generic-a").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&s, "/api/v2/remotes/generic-b").await.0, StatusCode::OK);
    tf.assert_no_changes("a replacement");

    // Drift: a change through the API shows in the plan, and apply puts the configuration back.
    let (_, mut pypi) = get(&s, "/api/v2/remotes/pypi-up").await;
    pypi["mutable_ttl"] = json!(5);
    pypi["patterns"] = json!(["^simple/only/"]);
    let r = s.send_json(Method::PUT, "/api/v2/remotes/pypi-up", &pypi).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let r = s
        .send_json(
            Method::PUT,
            "/api/v2/virtuals/helm-all",
            &json!({"name": "helm-all", "package_type": "helm", "members": ["helm-up"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.describe());
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((0, 2, 0)), "{}", plan.stdout);
    assert!(plan.stdout.contains("~ mutable_ttl") && plan.stdout.contains("5 -> 900"), "{}", plan.stdout);
    assert!(plan.stdout.contains("^simple/only/"), "{}", plan.stdout);
    tf.apply();
    let (_, pypi) = get(&s, "/api/v2/remotes/pypi-up").await;
    assert_eq!((pypi["mutable_ttl"].clone(), pypi["patterns"].clone()), (json!(900), json!([])));
    tf.assert_no_changes("drift was corrected");

    // Deleted outside Terraform: planned for creation again.
    let r = s.admin(Method::DELETE, "/api/v2/remotes/npm-up").send().await.expect("DELETE");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((1, 0, 0)), "{}", plan.stdout);
    assert!(plan.stdout.contains("artifactapi_remote_npm.r will be created"), "{}", plan.stdout);
    tf.apply();
    assert_eq!(get(&s, "/api/v2/remotes/npm-up").await.0, StatusCode::OK);
    tf.assert_no_changes("re-creation");

    // Import by name: each resource forgotten and imported again plans no change, but the
    // docker remote's password, which the API never returns.
    for (address, name) in lifecycle_addresses() {
        let r = tf.run(&["state", "rm", &address]);
        assert_eq!(r.code, 0, "{}", r.all());
        let r = tf.run(&["import", "-input=false", &address, &name]);
        assert_eq!(r.code, 0, "import {address} {name}:\n{}", r.all());
        assert!(r.stdout.contains("Import successful"), "{}", r.stdout);
    }
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((0, 1, 0)), "{}", plan.stdout);
    assert!(plan.stdout.contains("artifactapi_remote_docker.r will be updated in-place"), "{}", plan.stdout);
    assert!(plan.stdout.contains("password") && plan.stdout.contains("(sensitive value)"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("hunter2-upstream"), "{}", plan.stdout);
    tf.apply();
    tf.assert_no_changes("import");

    // Importing under the wrong type is refused, naming the right one.
    let r = tf.run(&["state", "rm", "artifactapi_remote_rpm.r"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = tf.run(&["import", "-input=false", "artifactapi_remote_rpm.r", "alpine-up"]);
    assert_ne!(r.code, 0);
    assert!(r.all().contains("import it as artifactapi_remote_alpine"), "{}", r.all());
    let r = tf.run(&["import", "-input=false", "artifactapi_remote_rpm.r", "rpm-up"]);
    assert_eq!(r.code, 0, "{}", r.all());

    // Destroy removes everything.
    let r = tf.run(&["destroy", "-input=false", "-auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("Destroy complete! Resources: 12 destroyed."), "{}", r.stdout);
    for collection in ["remotes", "virtuals", "locals"] {
        assert_eq!(get(&s, &format!("/api/v2/{collection}")).await.1, json!([]), "{collection}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_diagnostics_on_the_attribute() {
    let Some(terraform) = terraform() else { return };
    let s = server().await;
    let tf = Tf::new(terraform, &s.url(""), ADMIN);

    // Plan-time checks: nothing reaches the server.
    let cases = [
        (
            "resource \"artifactapi_remote_generic\" \"x\" {\n  name = \"x\"\n  base_url = \"https://x.example.com\"\n  patterns = [\"ok\", \"(unclosed\"]\n}\n",
            "invalid patterns[1]",
            "patterns = [\"ok\", \"(unclosed\"]",
        ),
        (
            "resource \"artifactapi_remote_npm\" \"x\" {\n  name = \"x\"\n  base_url = \"registry.npmjs.org\"\n}\n",
            "invalid base_url",
            "base_url = \"registry.npmjs.org\"",
        ),
        (
            "resource \"artifactapi_remote_helm\" \"x\" {\n  name = \"x\"\n  base_url = \"https://x.example.com\"\n  mutable_ttl = 999999999999\n}\n",
            "invalid mutable_ttl",
            "mutable_ttl = 999999999999",
        ),
        (
            "resource \"artifactapi_virtual\" \"x\" {\n  name = \"x\"\n  package_type = \"helm\"\n  members = [\"a\", \"a\"]\n}\n",
            "invalid members[1]",
            "members = [\"a\", \"a\"]",
        ),
        (
            "resource \"artifactapi_local\" \"x\" {\n  name = \"../x\"\n  package_type = \"generic\"\n}\n",
            "invalid name",
            "name = \"../x\"",
        ),
    ];
    for (hcl, summary, source_line) in cases {
        tf.write("main.tf", hcl);
        let r = tf.run(&["plan", "-input=false"]);
        assert_ne!(r.code, 0, "{hcl}");
        let out = r.all();
        assert!(out.contains(summary), "{hcl}: no {summary:?} in\n{out}");
        // Terraform quotes the configuration line of the attribute a diagnostic is on.
        assert!(out.contains(source_line), "{hcl}: the diagnostic is not on the attribute:\n{out}");
        assert!(!out.contains("stack backtrace") && !out.contains("   0: "), "backtrace in the diagnostic:\n{out}");
    }
    assert_eq!(get(&s, "/api/v2/remotes").await.1, json!([]));

    // The server's refusals: a member that does not exist, a local type that is not served.
    tf.write(
        "main.tf",
        "resource \"artifactapi_remote_helm\" \"a\" {\n  name = \"a\"\n  base_url = \"https://a.example.com\"\n}\n\n\
         resource \"artifactapi_virtual\" \"v\" {\n  name = \"v\"\n  package_type = \"helm\"\n  members = [artifactapi_remote_helm.a.name, \"nope\"]\n}\n",
    );
    let out = tf.apply_fails().all();
    assert!(
        out.contains("no remote or local repository named \\\"nope\\\"")
            || out.contains("no remote or local repository named \"nope\""),
        "{out}"
    );
    assert!(out.contains("members = [artifactapi_remote_helm.a.name, \"nope\"]"), "not on members:\n{out}");
    assert_eq!(get(&s, "/api/v2/remotes/a").await.0, StatusCode::OK, "the remote was applied");
    tf.write("main.tf", "resource \"artifactapi_local\" \"l\" {\n  name = \"l\"\n  package_type = \"alpine\"\n}\n");
    let out = tf.apply_fails().all();
    assert!(out.contains("are not served yet"), "{out}");
    assert!(out.contains("package_type = \"alpine\""), "not on package_type:\n{out}");

    // A wrong token is a clear error, not a crash.
    let bad = Tf::new(tf.terraform.clone(), &s.url(""), "not-the-token");
    bad.write("main.tf", "resource \"artifactapi_local\" \"l\" {\n  name = \"l2\"\n  package_type = \"generic\"\n}\n");
    let out = bad.apply_fails().all();
    assert!(out.contains("HTTP 401"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_readme_hcl_applies_as_written() {
    let Some(terraform) = terraform() else { return };
    let s = server().await;
    let tf = Tf::new(terraform, &s.url(""), ADMIN);
    tf.write("main.tf", include_str!("terraform_provider/seed.tf"));
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((4, 0, 0)), "{}", plan.stdout);
    tf.apply();
    tf.assert_no_changes("the seed's apply");
    let (_, github) = get(&s, "/api/v2/remotes/github").await;
    assert_eq!(github["mutable_ttl"], 7200);
    assert_eq!(github["mutable_patterns"], json!([".*/archive/refs/heads/.*\\.tar\\.gz$"]));
    let (_, hub) = get(&s, "/api/v2/remotes/dockerhub").await;
    assert_eq!((hub["package_type"].clone(), hub["ban_tags_enabled"].clone()), (json!("docker"), json!(true)));
    assert_eq!(hub["ban_tags"], json!(["latest"]));
    let (_, helm) = get(&s, "/api/v2/virtuals/helm").await;
    assert_eq!(helm["members"], json!(["jetstack"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_data_sources() {
    let Some(terraform) = terraform() else { return };
    let s = server().await;
    s.create_remote(json!({"name": "made-by-api", "package_type": "goproxy", "base_url": "https://proxy.golang.org", "mutable_ttl": 42})).await;
    s.create("/api/v2/locals", json!({"name": "files", "package_type": "generic"})).await;
    let tf = Tf::new(terraform, &s.url(""), ADMIN);
    let hcl = "data \"artifactapi_remote_goproxy\" \"g\" {\n  name = \"made-by-api\"\n}\n\n\
               data \"artifactapi_local\" \"f\" {\n  name = \"files\"\n}\n\n\
               resource \"artifactapi_token\" \"ci\" {\n  name = \"ci-upload\"\n  scopes = [{ repository = data.artifactapi_local.f.name, access = \"write\" }, { repository = \"*\", access = \"read\" }]\n  expires_at = \"2099-01-31T00:00:00+00:00\"\n}\n\n\
               output \"ttl\" {\n  value = data.artifactapi_remote_goproxy.g.mutable_ttl\n}\n\n\
               output \"secret\" {\n  value = artifactapi_token.ci.token\n  sensitive = true\n}\n";
    tf.write("main.tf", hcl);
    tf.apply();
    tf.assert_no_changes("creating a token");
    let r = tf.run(&["output", "-raw", "ttl"]);
    assert_eq!(r.stdout.trim(), "42", "{}", r.all());
    let r = tf.run(&["output", "-raw", "secret"]);
    let secret = r.stdout.trim().to_string();
    assert!(secret.starts_with("aat_"), "{}", r.all());

    // The token works: it may upload to the local.
    let put = s.client().put(s.url("/api/v1/local/files/a/b.txt")).bearer_auth(&secret).body("hello").send().await;
    assert!(put.expect("PUT").status().is_success());

    // Revoked outside Terraform: planned again; imported by name: no change but the secret.
    let (_, tokens) = get(&s, "/api/v2/tokens").await;
    let id = tokens[0]["id"].as_str().unwrap_or_default().to_string();
    let r = s.admin(Method::DELETE, &format!("/api/v2/tokens/{id}")).send().await.expect("DELETE");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((1, 0, 0)), "{}", plan.stdout);
    tf.apply();
    let r = tf.run(&["state", "rm", "artifactapi_token.ci"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = tf.run(&["import", "-input=false", "artifactapi_token.ci", "ci-upload"]);
    assert_eq!(r.code, 0, "{}", r.all());
    tf.assert_no_changes("importing a token");

    // A data source for something missing names it.
    tf.write("main.tf", "data \"artifactapi_virtual\" \"v\" {\n  name = \"nope\"\n}\n");
    let r = tf.run(&["plan", "-input=false"]);
    assert_ne!(r.code, 0);
    assert!(r.all().contains("no virtual named \"nope\""), "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_endpoint_behind_a_private_ca() {
    let Some(terraform) = terraform() else { return };
    let s = server().await;
    let ca = TestCa::new("artifactapi provider e2e CA");
    let front = TlsFront::start(&ca, s.port()).await;
    let tf = Tf::new(terraform, &format!("https://localhost:{}", front.port), ADMIN);
    ca.write_pem(tf.dir.path(), "ca.pem");
    tf.write(
        "main.tf",
        "resource \"artifactapi_local\" \"l\" {\n  name = \"over-tls\"\n  package_type = \"generic\"\n}\n",
    );

    // The system's roots do not know the CA: a clear TLS error, nothing created.
    let out = tf.apply_fails().all();
    assert!(out.contains("UnknownIssuer") || out.to_lowercase().contains("certificate"), "{out}");
    assert_eq!(get(&s, "/api/v2/locals/over-tls").await.0, StatusCode::NOT_FOUND);

    // With the CA in ca_cert.
    tf.write("provider.tf", "provider \"artifactapi\" {\n  ca_cert = file(\"ca.pem\")\n}\n");
    tf.apply();
    assert_eq!(get(&s, "/api/v2/locals/over-tls").await.0, StatusCode::OK);
    tf.assert_no_changes("an apply over HTTPS");

    // Not PEM: an error on ca_cert.
    tf.write("provider.tf", "provider \"artifactapi\" {\n  ca_cert = \"not a certificate\"\n}\n");
    let r = tf.run(&["plan", "-input=false"]);
    assert_ne!(r.code, 0);
    assert!(r.all().contains("ca_cert"), "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_remotes_plan_and_apply_times() {
    let Some(terraform) = terraform() else { return };
    let s = server().await;
    let tf = Tf::new(terraform, &s.url(""), ADMIN);
    let mut hcl = String::new();
    for i in 0..50 {
        let t = TYPES[i % TYPES.len()];
        hcl.push_str(&format!(
            "resource \"artifactapi_remote_{t}\" \"r{i}\" {{\n  name = \"remote-{i:02}\"\n  base_url = \"https://up{i}.example.com/\"\n  mutable_ttl = 300\n  patterns = [\"^a/\", \"^b/.*\\\\.tgz$\"]\n}}\n\n"
        ));
    }
    tf.write("main.tf", &hcl);
    let plan = tf.plan();
    assert_eq!(plan_counts(&plan.stdout), Some((50, 0, 0)), "{}", plan.stdout);
    let apply = tf.apply();
    assert_eq!(get(&s, "/api/v2/remotes").await.1.as_array().map(Vec::len), Some(50));
    let replan = tf.plan();
    assert_eq!(replan.code, 0, "{}", replan.stdout);
    let destroy = tf.run(&["destroy", "-input=false", "-auto-approve"]);
    assert_eq!(destroy.code, 0, "{}", destroy.all());
    println!(
        "50 remotes: plan {:.2}s, apply {:.2}s, re-plan (50 reads) {:.2}s, destroy {:.2}s",
        plan.took.as_secs_f64(),
        apply.took.as_secs_f64(),
        replan.took.as_secs_f64(),
        destroy.took.as_secs_f64()
    );
}

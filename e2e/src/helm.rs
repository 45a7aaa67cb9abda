//! The real helm client, for the helm tests: `helm-sdkpy` (Helm v4 compiled into a Python
//! package; no helm CLI installs on these machines), in the Python 3.12 venv `.ci/install`
//! makes, driven by a small script. It packages charts (`helm package`) and does what a user
//! does with a chart repository: `helm repo add`, `helm repo update`, `helm show chart
//! REPO/CHART` (which downloads the chart from the URL the index gives). Each [`HelmClient`]
//! has its own Helm home (config, cache, repositories file), so nothing is cached between two
//! clients and nothing outside the test is read.
//!
//! Knob: `HELM_PYTHON`, the venv's python (default `$TOOLS/helm-venv/bin/python`, `TOOLS`
//! defaulting to `/var/cache/artifactapi/tools`). A missing client fails the test loudly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;

const DRIVER: &str = r#"
import asyncio, json, sys
import helm_sdkpy as helm

async def main(cmd, args):
    config = helm.Configuration()
    if cmd == "package":
        dest, sources = args[0], args[1:]
        return [await helm.Package(config).run(src, dest) for src in sources]
    if cmd == "show":
        name, url, charts = args[0], args[1], args[2:]
        await helm.RepoAdd(config).run(name, url)
        await helm.RepoUpdate(config).run(name)
        return {chart: await helm.Show(config).chart(f"{name}/{chart}") for chart in charts}
    if cmd == "show-auth":
        name, url, user, password, charts = args[0], args[1], args[2], args[3], args[4:]
        await helm.RepoAdd(config).run(name, url, username=user, password=password)
        await helm.RepoUpdate(config).run(name)
        return {chart: await helm.Show(config).chart(f"{name}/{chart}") for chart in charts}
    if cmd == "push":
        host, user, password, chart, remote = args
        if user:
            await helm.RegistryLogin(config).run(host, user, password, plain_http=True)
        await helm.Push(config).run(chart, remote, plain_http=True)
        return True
    raise SystemExit(f"unknown command {cmd}")

print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2:]))))
"#;

/// The python that has `helm_sdkpy`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("HELM_PYTHON") {
        return PathBuf::from(p);
    }
    let tools = std::env::var("TOOLS").unwrap_or_else(|_| "/var/cache/artifactapi/tools".into());
    PathBuf::from(tools).join("helm-venv/bin/python")
}

/// One chart to package: a `Chart.yaml`, a `values.yaml` and a ConfigMap template.
#[derive(Debug, Clone)]
pub struct ChartSource {
    pub name: String,
    pub version: String,
    /// Goes into the chart's description and values, so two charts of one name and version
    /// (from two upstreams) have different bytes.
    pub note: String,
}

impl ChartSource {
    pub fn new(name: &str, version: &str, note: &str) -> ChartSource {
        ChartSource { name: name.into(), version: version.into(), note: note.into() }
    }

    fn write(&self, root: &Path) -> PathBuf {
        let dir = root.join(format!("{}-{}", self.name, self.version)).join(&self.name);
        std::fs::create_dir_all(dir.join("templates")).expect("chart directory");
        let chart = format!(
            "apiVersion: v2\nname: {}\nversion: {}\ndescription: {}\ntype: application\n",
            self.name, self.version, self.note
        );
        std::fs::write(dir.join("Chart.yaml"), chart).expect("Chart.yaml");
        std::fs::write(dir.join("values.yaml"), format!("note: {:?}\n", self.note)).expect("values.yaml");
        let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  note: {{ .Values.note | quote }}\n";
        std::fs::write(dir.join("templates/configmap.yaml"), template).expect("template");
        dir
    }
}

/// A helm client with a Helm home of its own.
pub struct HelmClient {
    home: TempDir,
}

impl Default for HelmClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HelmClient {
    pub fn new() -> HelmClient {
        let home = tempfile::Builder::new().prefix("aa-e2e-helm-").tempdir().expect("helm home");
        std::fs::create_dir_all(home.path().join("config")).expect("helm config dir");
        std::fs::write(
            home.path().join("config/repositories.yaml"),
            "apiVersion: \"\"\ngenerated: \"0001-01-01T00:00:00Z\"\nrepositories: []\n",
        )
        .expect("repositories.yaml");
        std::fs::write(home.path().join("driver.py"), DRIVER).expect("driver script");
        HelmClient { home }
    }

    async fn run(&self, args: &[String]) -> Result<String, String> {
        let h = self.home.path();
        let python = python();
        let out = tokio::process::Command::new(&python)
            .arg(h.join("driver.py"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
            .env("HOME", h)
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_REPOSITORY_CONFIG", h.join("config/repositories.yaml"))
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_REPOSITORY_CACHE", h.join("cache/repository"))
            .env("HELM_DATA_HOME", h.join("data"))
            .env("HELM_REGISTRY_CONFIG", h.join("config/registry.json"))
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): the helm client is helm-sdkpy in a Python 3.12 venv; run .ci/install or set HELM_PYTHON",
                    python.display()
                )
            });
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!("helm {args:?} failed ({}):\n{stdout}{}", out.status, String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// `helm repo add NAME URL --username USER --password PASSWORD`, then as [`Self::show`].
    pub async fn show_with_auth(
        &self,
        name: &str,
        url: &str,
        (user, password): (&str, &str),
        charts: &[&str],
    ) -> Result<BTreeMap<String, String>, String> {
        let mut args = vec!["show-auth".to_string(), name.into(), url.into(), user.into(), password.into()];
        args.extend(charts.iter().map(|c| c.to_string()));
        let out = self.run(&args).await?;
        serde_json::from_str(out.trim()).map_err(|e| format!("show output {out:?}: {e}"))
    }

    /// `helm registry login HOST` (when `login` is given) and `helm push CHART REMOTE`
    /// (`oci://HOST/...`), over plain HTTP.
    pub async fn push(
        &self,
        chart: &Path,
        remote: &str,
        host: &str,
        login: Option<(&str, &str)>,
    ) -> Result<(), String> {
        let (user, password) = login.unwrap_or(("", ""));
        let args = ["push", host, user, password, &chart.display().to_string(), remote].map(str::to_string).to_vec();
        self.run(&args).await.map(|_| ())
    }

    /// The directory packaged charts are written to.
    pub fn packages_dir(&self) -> PathBuf {
        self.home.path().join("packages")
    }

    /// `helm package` of each chart; the archives' bytes by `(name, version)`.
    pub async fn package(&self, charts: &[ChartSource]) -> BTreeMap<(String, String), Vec<u8>> {
        let src = self.home.path().join("src");
        let dest = self.home.path().join("packages");
        std::fs::create_dir_all(&dest).expect("package dir");
        let mut args = vec!["package".to_string(), dest.display().to_string()];
        args.extend(charts.iter().map(|c| c.write(&src).display().to_string()));
        let out = self.run(&args).await.unwrap_or_else(|e| panic!("{e}"));
        let paths: Vec<String> =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("package output {out:?}: {e}"));
        charts
            .iter()
            .zip(paths)
            .map(|(c, p)| ((c.name.clone(), c.version.clone()), std::fs::read(&p).expect("packaged chart")))
            .collect()
    }

    /// `helm repo add NAME URL`, `helm repo update NAME`, then `helm show chart NAME/CHART` for
    /// each chart: the `Chart.yaml` of each.
    pub async fn show(&self, name: &str, url: &str, charts: &[&str]) -> Result<BTreeMap<String, String>, String> {
        let mut args = vec!["show".to_string(), name.to_string(), url.to_string()];
        args.extend(charts.iter().map(|c| c.to_string()));
        let out = self.run(&args).await?;
        serde_json::from_str(out.trim()).map_err(|e| format!("show output {out:?}: {e}"))
    }
}

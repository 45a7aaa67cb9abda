//! The Python side of the pypi tests, all real: two tiny wheels built by pip from a
//! `pyproject.toml` (`beta-app` depends on `Alpha_Lib`, whose name is not in normal form),
//! pypiserver serving a directory of them, and pip and uv installing through artifactapi.
//!
//! The tools come from `$TOOLS/venv` (default `/var/cache/artifactapi/tools/venv`, where
//! `.ci/install` puts pip, uv and pypiserver); a missing tool fails the test, saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use artifactapi_e2e::server::free_port;

/// The tools directory `.ci/install` fills.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("TOOLS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/artifactapi/tools"))
}

/// A program of the tools venv; panics when it is missing.
pub fn venv(name: &str) -> PathBuf {
    let p = tools_dir().join("venv").join("bin").join(name);
    assert!(p.is_file(), "{} is missing: run .ci/install (pip, uv and pypiserver in $TOOLS/venv)", p.display());
    p
}

/// One built wheel.
#[derive(Debug, Clone)]
pub struct Wheel {
    /// The normalised project name.
    pub project: &'static str,
    pub file: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
    /// The wheel's `METADATA` (what PEP 658 serves as `{file}.metadata`).
    pub metadata: Vec<u8>,
}

impl Wheel {
    /// The path this server serves the wheel at, below a remote or virtual.
    pub fn served_at(&self) -> String {
        format!("simple/{}/{}", self.project, self.file)
    }
}

pub struct Wheels {
    pub alpha: Wheel,
    pub beta: Wheel,
}

/// Runs a command with a clean environment (PATH and `env` only); panics with its output when
/// it fails. Returns stdout and stderr together.
pub async fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = output(program, args, env).await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} {args:?} failed ({}):\n{text}", program.display(), out.status);
    text
}

/// Runs a command with a clean environment and returns what happened.
pub async fn output(program: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn write_project(dir: &Path, name: &str, module: &str, deps: &str, code: &str) {
    std::fs::create_dir_all(dir.join(module)).unwrap();
    let pyproject = format!(
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"{name}\"\nversion = \"1.0.0\"\nrequires-python = \">=3.8\"\ndependencies = [{deps}]\n\n\
         [tool.setuptools]\npackages = [\"{module}\"]\n"
    );
    std::fs::write(dir.join("pyproject.toml"), pyproject).unwrap();
    std::fs::write(dir.join(module).join("__init__.py"), code).unwrap();
}

/// Builds both wheels under `root` (about two seconds).
pub async fn build_wheels(root: &Path) -> Wheels {
    let src = root.join("src");
    write_project(&src.join("alpha"), "Alpha_Lib", "alpha_lib", "", "def hello():\n    return \"alpha\"\n");
    let beta_code = "import alpha_lib\n\n\ndef greet():\n    return \"beta+\" + alpha_lib.hello()\n";
    write_project(&src.join("beta"), "beta-app", "beta_app", "\"alpha-lib>=1.0\"", beta_code);
    let out = root.join("wheels");
    let (alpha_src, beta_src, out_s) =
        (src.join("alpha").display().to_string(), src.join("beta").display().to_string(), out.display().to_string());
    let home = root.join("build-home").display().to_string();
    let args = [
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--no-cache-dir",
        "-w",
        &out_s,
        &alpha_src,
        &beta_src,
    ];
    run(&venv("python"), &args, &[("HOME", &home), ("PIP_CONFIG_FILE", "/dev/null")]).await;
    Wheels {
        alpha: read_wheel(&out, "alpha-lib", "Alpha_Lib-").await,
        beta: read_wheel(&out, "beta-app", "beta_app-").await,
    }
}

async fn read_wheel(dir: &Path, project: &'static str, prefix: &str) -> Wheel {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with(prefix) && n.ends_with(".whl"))
        .unwrap_or_else(|| panic!("no {prefix}*.whl built"));
    let path = dir.join(&file);
    let bytes = std::fs::read(&path).unwrap();
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
                  n = [x for x in z.namelist() if x.endswith('.dist-info/METADATA')][0]\n\
                  sys.stdout.buffer.write(z.read(n))";
    let out = output(&venv("python"), &["-c", script, &path.display().to_string()], &[]).await;
    assert!(out.status.success(), "reading METADATA of {file}: {}", String::from_utf8_lossy(&out.stderr));
    Wheel { project, sha256: artifactapi_e2e::sha256_hex(&bytes), file, bytes, metadata: out.stdout }
}

/// A directory holding `wheels`, for a pypiserver.
pub fn dist_dir(root: &Path, name: &str, wheels: &[&Wheel]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for w in wheels {
        std::fs::write(dir.join(&w.file), &w.bytes).unwrap();
    }
    dir
}

/// A running pypiserver (the real one, from PyPI) serving a directory; stopped on drop.
pub struct PypiServer {
    child: Child,
    port: u16,
}

impl PypiServer {
    pub async fn start(dir: &Path) -> PypiServer {
        for _attempt in 1..=3 {
            let port = free_port();
            let child = std::process::Command::new(venv("pypi-server"))
                .args(["run", "-i", "127.0.0.1", "-p", &port.to_string(), "--disable-fallback", "--log-stream", "none"])
                .arg(dir)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start pypi-server");
            let mut server = PypiServer { child, port };
            if server.wait_up().await {
                return server;
            }
        }
        panic!("pypi-server did not start on three ports");
    }

    async fn wait_up(&mut self) -> bool {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let r = client.get(format!("{}simple/", self.url())).timeout(Duration::from_secs(2)).send().await;
            if matches!(r, Ok(r) if r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PypiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pip install --target` of `package` from the index at `index`, no cache; panics on failure.
pub async fn pip_install(index: &str, root: &Path, target: &str, package: &str) -> PathBuf {
    let dir = root.join(target);
    let home = root.join(format!("{target}-home")).display().to_string();
    let args = [
        "-m",
        "pip",
        "install",
        "--index-url",
        index,
        "--no-cache-dir",
        "--no-compile",
        "--disable-pip-version-check",
        "--target",
        &dir.display().to_string(),
        package,
    ];
    run(&venv("python"), &args, &[("HOME", &home), ("PIP_CONFIG_FILE", "/dev/null"), ("PIP_NO_INPUT", "1")]).await;
    dir
}

/// The same install, expected to fail: returns pip's output.
pub async fn pip_install_fails(index: &str, root: &Path, target: &str, package: &str) -> String {
    let dir = root.join(target).display().to_string();
    let home = root.join(format!("{target}-home")).display().to_string();
    let args = [
        "-m",
        "pip",
        "install",
        "--index-url",
        index,
        "--no-cache-dir",
        "--retries",
        "0",
        "--disable-pip-version-check",
        "--target",
        &dir,
        package,
    ];
    let out = output(&venv("python"), &args, &[("HOME", &home), ("PIP_CONFIG_FILE", "/dev/null")]).await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "pip install {package} should have failed:\n{text}");
    text
}

/// `uv pip install --target` of `package` from `index`, no cache and no configuration files.
pub async fn uv_install(index: &str, root: &Path, target: &str, package: &str) -> PathBuf {
    let dir = root.join(target);
    let home = root.join(format!("{target}-home")).display().to_string();
    let python = venv("python").display().to_string();
    let args = [
        "pip",
        "install",
        "--index-url",
        index,
        "--no-cache",
        "--python",
        &python,
        "--target",
        &dir.display().to_string(),
        package,
    ];
    let env = [("HOME", home.as_str()), ("UV_NO_CONFIG", "1"), ("UV_PYTHON_DOWNLOADS", "never")];
    run(&venv("uv"), &args, &env).await;
    dir
}

/// Imports `beta_app` (and through it `alpha_lib`) from an install target and calls it.
pub async fn assert_installed(target: &Path) {
    let out = output(
        &venv("python"),
        &["-c", "import beta_app; print(beta_app.greet())"],
        &[("PYTHONPATH", &target.display().to_string()), ("PYTHONDONTWRITEBYTECODE", "1")],
    )
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), "beta+alpha", "import from {}: {}", target.display(), String::from_utf8_lossy(&out.stderr));
}

//! Distributions the PyPI local tests publish, built for real by pip (wheels) and `build`
//! (sdists) from a `pyproject.toml` written per test, and the requests they are sent with:
//! twine itself, or a multipart body written here where a test needs a malformed one.

use std::path::{Path, PathBuf};

use super::tools::{run, venv};

/// One built distribution file.
#[derive(Debug, Clone)]
pub struct Dist {
    /// The normalised project name.
    pub project: String,
    pub name: String,
    pub version: String,
    pub file: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Dist {
    /// Where a repository serves it: `simple/{project}/{file}`.
    pub fn served_at(&self) -> String {
        format!("simple/{}/{}", self.project, self.file)
    }

    /// The upload form twine would send for it, fields only.
    pub fn fields(&self) -> Vec<(String, String)> {
        let filetype = if self.file.ends_with(".whl") { "bdist_wheel" } else { "sdist" };
        [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("metadata_version", "2.1"),
            ("name", self.name.as_str()),
            ("version", self.version.as_str()),
            ("filetype", filetype),
            ("pyversion", if filetype == "sdist" { "source" } else { "py3" }),
            ("requires_python", ">=3.8"),
            ("sha256_digest", self.sha256.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// A project to build.
pub struct Project<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub module: &'a str,
    pub deps: &'a str,
    pub code: &'a str,
}

/// Builds `p`'s wheel (and its sdist when `sdist`) under `root`; returns the wheel first.
pub async fn build(root: &Path, p: &Project<'_>, sdist: bool) -> Vec<Dist> {
    let tag = format!("{}-{}", p.module, p.version);
    let src = root.join("src").join(&tag);
    std::fs::create_dir_all(src.join(p.module)).unwrap();
    let pyproject = format!(
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"{}\"\nversion = \"{}\"\nrequires-python = \">=3.8\"\ndependencies = [{}]\n\n\
         [tool.setuptools]\npackages = [\"{}\"]\n",
        p.name, p.version, p.deps, p.module
    );
    std::fs::write(src.join("pyproject.toml"), pyproject).unwrap();
    std::fs::write(src.join(p.module).join("__init__.py"), p.code).unwrap();
    let out = root.join("dist").join(&tag);
    let (src_s, out_s) = (src.display().to_string(), out.display().to_string());
    let home = root.join("build-home").display().to_string();
    let env = [("HOME", home.as_str()), ("PIP_CONFIG_FILE", "/dev/null")];
    let python = venv("python");
    let wheel = [
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--no-cache-dir",
        "-w",
        &out_s,
        &src_s,
    ];
    run(&python, &wheel, &env).await;
    if sdist {
        run(&python, &["-m", "build", "--sdist", "--no-isolation", "--outdir", &out_s, &src_s], &env).await;
    }
    let mut files: Vec<String> =
        std::fs::read_dir(&out).unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    files.sort_by_key(|f| !f.ends_with(".whl"));
    let project = normalise(p.name);
    files
        .into_iter()
        .map(|file| {
            let path = out.join(&file);
            let bytes = std::fs::read(&path).unwrap();
            Dist {
                project: project.clone(),
                name: p.name.to_string(),
                version: p.version.to_string(),
                sha256: artifactapi_e2e::sha256_hex(&bytes),
                file,
                path,
                bytes,
            }
        })
        .collect()
}

/// PEP 503 normalisation.
pub fn normalise(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

pub const BOUNDARY: &str = "----artifactapi-e2e-boundary";

/// A multipart body of `fields` and, when given, the file part `content` named `file`.
pub fn multipart(fields: &[(String, String)], content: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    if let Some((file, bytes)) = content {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{file}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `twine upload` of `files` to `url` with basic auth `password` (any user name); what twine
/// printed, and whether it succeeded.
pub async fn twine(url: &str, password: Option<&str>, files: &[&Path], extra: &[&str]) -> (bool, String) {
    let mut args: Vec<String> = vec!["upload".into(), "--non-interactive".into(), "--disable-progress-bar".into()];
    args.extend(["--repository-url".to_string(), url.to_string()]);
    if let Some(p) = password {
        args.extend(["-u".to_string(), "ci-bot".to_string(), "-p".to_string(), p.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let home = std::env::temp_dir().display().to_string();
    let env = [
        ("HOME", home.as_str()),
        ("TWINE_NON_INTERACTIVE", "1"),
        ("NO_COLOR", "1"),
        ("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring"),
    ];
    let out = super::tools::output(&venv("twine"), &args, &env).await;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

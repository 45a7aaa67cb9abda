//! Go modules for the goproxy tests: module zips written byte by byte (stored, no
//! compression: `go` accepts any valid zip), module versions as `.info`/`.mod`/`.zip` and static
//! GOPROXY trees, main modules that use them, and the real `go` command run against a GOPROXY
//! URL with everything it writes kept under a directory of the test's own.

use std::path::Path;
use std::process::Stdio;

/// The stored form of a zip entry: no compression, as `go` accepts any valid zip.
pub fn zip_stored(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let (crc, len, offset) = (crc32(data), data.len() as u32, out.len() as u32);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u16.to_le_bytes()); // time
            v.extend_from_slice(&0x21u16.to_le_bytes()); // 1980-01-01
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&[0; 10]); // comment length, disk, internal and external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size, n) = (out.len() as u32, central.len() as u32, entries.len() as u16);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// One module version: its `.info`, `.mod` and `.zip` (`files` are the module's files besides
/// `go.mod`, under `{path}@{version}/`).
pub struct Module {
    pub encoded: String,
    pub version: String,
    pub info: Vec<u8>,
    pub go_mod: String,
    pub zip: Vec<u8>,
}

impl Module {
    pub fn new(path: &str, encoded: &str, version: &str, go_mod: &str, files: &[(&str, String)]) -> Module {
        let mut entries = vec![(format!("{path}@{version}/go.mod"), go_mod.as_bytes().to_vec())];
        entries.extend(files.iter().map(|(n, b)| (format!("{path}@{version}/{n}"), b.as_bytes().to_vec())));
        Module {
            encoded: encoded.into(),
            version: version.into(),
            info: format!(r#"{{"Version":"{version}","Time":"2024-01-02T03:04:05Z"}}"#).into_bytes(),
            go_mod: go_mod.into(),
            zip: zip_stored(&entries),
        }
    }

    /// The path of its `ext` file in the GOPROXY layout.
    pub fn file(&self, ext: &str) -> String {
        format!("{}/@v/{}.{ext}", self.encoded, self.version)
    }

    /// Writes the version into a static GOPROXY tree under `root`.
    pub fn write_tree(&self, root: &Path) {
        let dir = root.join(&self.encoded).join("@v");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("list"), format!("{}\n", self.version)).unwrap();
        std::fs::write(dir.join(format!("{}.info", self.version)), &self.info).unwrap();
        std::fs::write(dir.join(format!("{}.mod", self.version)), &self.go_mod).unwrap();
        std::fs::write(dir.join(format!("{}.zip", self.version)), &self.zip).unwrap();
    }
}

/// A main module importing `imports` (requiring `requires`), in a new directory under `root`.
pub fn app(root: &Path, name: &str, requires: &[(&str, &str)], body: &str, imports: &[&str]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let req: String = requires.iter().map(|(m, v)| format!("require {m} {v}\n")).collect();
    std::fs::write(dir.join("go.mod"), format!("module example.com/{name}\n\ngo 1.19\n\n{req}")).unwrap();
    let imp: String = imports.iter().map(|i| format!("\t\"{i}\"\n")).collect();
    let main = format!("package main\n\nimport (\n\t\"fmt\"\n{imp})\n\nfunc main() {{ fmt.Println({body}) }}\n");
    std::fs::write(dir.join("main.go"), main).unwrap();
    dir
}

/// The output of `go {args}` run in `dir` with `GOPROXY=proxy` (`GOSUMDB=off`,
/// `GOFLAGS=-mod=mod`), its module cache and home under `home`; `Err` with the output when it
/// fails.
pub async fn go(proxy: &str, dir: &Path, home: &Path, gocache: &Path, args: &[&str]) -> Result<String, String> {
    let gopath = home.join("gopath");
    let out = tokio::process::Command::new("go")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
        .env("GOPROXY", proxy)
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPATH", &gopath)
        .env("GOMODCACHE", gopath.join("pkg/mod"))
        .env("GOCACHE", gocache)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("HOME", home)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("cannot run `go` ({e}): install Debian's golang-go, as .ci/install does for the test suite")
        });
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("go {args:?} failed ({}):\n{text}", out.status))
    }
}

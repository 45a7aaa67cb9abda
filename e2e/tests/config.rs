//! Start-up configuration errors of the real binary: a bad environment value stops the process
//! with exit status 2 and one stderr line naming the variable, before it touches anything.

use std::time::Duration;

use artifactapi_e2e::server::command;

#[tokio::test]
async fn a_bad_value_exits_2_with_one_line_naming_the_variable() {
    let cases = [
        ("DBPORT", "abc"),
        ("STORAGE_BACKEND", "tape"),
        ("NEGATIVE_TTL", "-1"),
        ("LISTEN_ADDR", "nowhere"),
        ("UPSTREAM_CA_FILE", "/nonexistent/ca.pem"),
        // A file that exists but holds no PEM certificate.
        ("UPSTREAM_CA_FILE", "/etc/hostname"),
    ];
    for (var, value) in cases {
        let mut cmd = tokio::process::Command::from(command());
        cmd.env(var, value).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("{var}={value}: the process did not exit within 30 s"))
            .expect("run artifactapi");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {:?}, stderr: {stderr}", out.status);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{var}={value}: expected one line, got: {stderr}");
        assert!(lines[0].contains(var), "{var}={value}: the line does not name {var}: {}", lines[0]);
    }
}

//! Tests of [`super`]: defaults, one-line errors naming the variable, `UPSTREAM_CA_FILE`.

use super::*;

fn parse(args: &[&str]) -> Result<Config, String> {
    let mut argv = vec!["artifactapi"];
    argv.extend_from_slice(args);
    Config::try_parse_from(argv).map_err(one_line).and_then(|c| c.validate().map(|()| c)).map_err(|e| match e {
        ConfigError::Line(l) => l,
        ConfigError::Clap(e) => e.to_string(),
    })
}

#[test]
fn defaults_follow_the_original() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.listen_addr, "0.0.0.0:8000".parse().unwrap());
    assert_eq!(
        (c.db_host.as_str(), c.db_port, c.db_user.as_str(), c.db_name.as_str()),
        ("localhost", 5432, "artifacts", "artifacts")
    );
    assert_eq!(c.storage_backend, StorageBackend::Fs);
    assert_eq!(c.minio_bucket, "artifacts");
    assert!(!c.minio_secure);
    assert_eq!(c.public_base(), "http://localhost:8000");
    assert_eq!(c.events_heartbeat, Duration::from_secs(15));
    assert_eq!((c.client_header_timeout, c.client_idle_timeout), (Duration::from_secs(5), Duration::from_secs(5)));
    assert_eq!(c.gc_interval, Duration::from_secs(3600));
    assert!(!c.probe_allow_private && !c.admin_token_reads);
    assert_eq!(c.docker_upload_max_age, Duration::from_secs(86400));
    assert_eq!(c.docker_max_manifest, 8 << 20);
    assert_eq!(c.tf_provider_protocols, ProviderProtocols(vec!["5.0".into(), "6.0".into()]));
    assert!(c.tf_signing_key_path.is_none() && c.tf_signing_key_passphrase.is_none());
}

#[test]
fn bad_values_name_the_variable_in_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--dbport", "abc"], "invalid DBPORT=\"abc\""),
        (&["--listen-addr", "nowhere"], "invalid LISTEN_ADDR=\"nowhere\": expected HOST:PORT or :PORT"),
        (&["--storage-backend", "tape"], "invalid STORAGE_BACKEND=\"tape\""),
        (&["--public-url", "ftp://x"], "invalid PUBLIC_URL=\"ftp://x\""),
        (&["--redis-url", "http://x"], "invalid REDIS_URL=\"http://x\""),
        (&["--replica-url", "10.0.0.7:8080"], "invalid REPLICA_URL=\"10.0.0.7:8080\""),
        (&["--replica-url", "http://10.0.0.7:8080/?x"], "invalid REPLICA_URL=\"http://10.0.0.7:8080/?x\""),
        (&["--minio-secure", "maybe"], "invalid MINIO_SECURE=\"maybe\": expected true or false"),
        (&["--negative-ttl=-1"], "invalid NEGATIVE_TTL=\"-1\""),
        (&["--events-heartbeat", "0"], "invalid EVENTS_HEARTBEAT=\"0\": expected at least 1 second"),
        (&["--client-header-timeout", "0"], "invalid CLIENT_HEADER_TIMEOUT=\"0\": expected at least 1 second"),
        (&["--client-idle-timeout", "soon"], "invalid CLIENT_IDLE_TIMEOUT=\"soon\""),
        (&["--storage-backend", "s3"], "MINIO_ACCESS_KEY must be set when STORAGE_BACKEND=s3"),
        (&["--admin-token", " "], "invalid ADMIN_TOKEN: empty"),
        (&["--admin-token-reads", "true"], "ADMIN_TOKEN_READS=true needs ADMIN_TOKEN"),
        (&["--admin-token-reads", "maybe"], "invalid ADMIN_TOKEN_READS=\"maybe\": expected true or false"),
        (&["--gc-interval", "hourly"], "invalid GC_INTERVAL=\"hourly\""),
        (&["--probe-allow-private", "2"], "invalid PROBE_ALLOW_PRIVATE=\"2\""),
        (&["--docker-upload-max-age", "0"], "invalid DOCKER_UPLOAD_MAX_AGE=\"0\": expected at least 1 second"),
        (&["--docker-max-manifest", "1000"], "invalid DOCKER_MAX_MANIFEST=\"1000\": expected at least 4194304"),
        (&["--docker-max-manifest", "big"], "invalid DOCKER_MAX_MANIFEST=\"big\""),
        (&["--tls-cert", "c.pem"], "TLS_CERT needs TLS_KEY"),
        (&["--tls-key", "k.pem"], "TLS_KEY needs TLS_CERT"),
        (&["--tls-listen-addr", ":8443"], "TLS_LISTEN_ADDR needs TLS_CERT and TLS_KEY"),
        (&["--tls-listen-addr", "nowhere"], "invalid TLS_LISTEN_ADDR=\"nowhere\""),
        (&["--tls-cert", "c", "--tls-key", "k", "--tls-listen-addr", ":8000"], "TLS_LISTEN_ADDR must differ"),
        (&["--tf-provider-protocols", "5"], "invalid TF_PROVIDER_PROTOCOLS=\"5\": expected comma-separated"),
        (&["--tf-provider-protocols", "5.0,,6.0"], "invalid TF_PROVIDER_PROTOCOLS=\"5.0,,6.0\""),
        (&["--tf-provider-protocols", "5.x"], "invalid TF_PROVIDER_PROTOCOLS=\"5.x\""),
        (&["--tf-signing-key-passphrase", "p"], "TF_SIGNING_KEY_PASSPHRASE is set but TF_SIGNING_KEY_PATH is not"),
    ];
    for (args, want) in cases {
        let err = parse(args).expect_err(want);
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn upstream_ca_file_is_read_and_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, include_str!("../actors/testdata/ca.pem")).unwrap();
    let c = parse(&["--upstream-ca-file", ca.to_str().unwrap()]).unwrap();
    assert_eq!(c.upstream_ca_file.map(|u| u.certificates.len()), Some(1));
    assert_eq!(parse(&[]).unwrap().upstream_ca_file, None);
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n").unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let missing = dir.path().join("missing.pem");
    for (path, why) in [
        (&missing, "cannot read the file (No such file or directory"),
        (&empty, "no PEM certificate found"),
        (&key, "PEM block 1 is a PRIVATE KEY, not a certificate"),
    ] {
        let p = path.to_str().unwrap();
        let err = parse(&["--upstream-ca-file", p]).expect_err(p);
        assert!(err.starts_with(&format!("invalid UPSTREAM_CA_FILE=\"{p}\": {why}")), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn access_log_retention_is_whole_days() {
    assert_eq!(parse(&[]).unwrap().access_log_retention, 14);
    assert_eq!(parse(&["--access-log-retention", "0"]).unwrap().access_log_retention, 0);
    for bad in ["-1", "1.5", "two"] {
        let err = parse(&[&format!("--access-log-retention={bad}")]).expect_err(bad);
        assert!(err.starts_with(&format!("invalid ACCESS_LOG_RETENTION=\"{bad}\"")), "{err}");
    }
}

#[test]
fn public_url_wins_and_loses_its_slash() {
    let c = parse(&["--public-url", "https://cache.example.com/"]).unwrap();
    assert_eq!(c.public_base(), "https://cache.example.com");
    let c = parse(&["--listen-addr", "127.0.0.1:9999"]).unwrap();
    assert_eq!(c.public_base(), "http://localhost:9999");
    assert_eq!(c.replica_url, None);
    let c = parse(&["--replica-url", "http://10.0.0.7:8080/"]).unwrap();
    assert_eq!(c.replica_url.map(String::from).as_deref(), Some("http://10.0.0.7:8080/"));
}

#[test]
fn tls_moves_the_default_public_url_to_https_on_the_tls_listener() {
    let only = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--listen-addr", ":9000"]).unwrap();
    assert_eq!(only.https_addr(), Some("0.0.0.0:9000".parse().unwrap()));
    assert_eq!(only.public_base(), "https://localhost:9000");
    let beside = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-listen-addr", "127.0.0.1:9443"]).unwrap();
    assert_eq!(beside.https_addr(), Some("127.0.0.1:9443".parse().unwrap()));
    assert_eq!(beside.public_base(), "https://localhost:9443");
    let plain = parse(&[]).unwrap();
    assert_eq!((plain.https_addr(), plain.public_base().as_str()), (None, "http://localhost:8000"));
    // Files that do not exist fail when loaded, naming the variable.
    let err = only.load_listen_tls().map(|_| ()).expect_err("missing files");
    assert!(matches!(&err, ConfigError::Line(l) if l.starts_with("invalid TLS_CERT=\"c.pem\"")), "{err:?}");
}

#[test]
fn provider_protocols_are_listed_once_in_order() {
    let c = parse(&["--tf-provider-protocols", " 6.0, 5.0 ,6.0"]).unwrap();
    assert_eq!(c.tf_provider_protocols.0, ["6.0", "5.0"]);
}

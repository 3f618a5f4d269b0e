//! `ccx control` with `[control.tls]` and `control.ca` in its configuration file, and the
//! control commands with `--control-ca`: what an operator runs, wired from the file to the
//! listener. A command without the CA is refused; a bad TLS setting is named at start.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ccx_tls::testing::TestCa;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ccx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ccx"))
        .args(args)
        .env("CCX_LOG", "warn")
        .env_remove("CCX_CONTROL")
        .env_remove("CCX_CONTROL_CA")
        .env("CCX_CONTROL_TOKEN", OPERATOR)
        .output()
        .expect("run ccx")
}

/// The operator credential the replicas accept, and its `[[control.operators]]` entry.
const OPERATOR: &str = "operator-token-of-the-tls-cli-test";

fn operators() -> String {
    format!(
        "[[control.operators]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\n",
        ccx_model::hash_token(OPERATOR)
    )
}

struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_control_commands_reach_a_tls_replica_with_its_ca() {
    let ca = TestCa::new("ccx control CA");
    let dir = tempfile::tempdir().unwrap();
    let own = ca.issue("replica-1", &["localhost", "127.0.0.1"]);
    let (grpc, http) = (free_port(), free_port());
    let config = dir.path().join("ccx.toml");
    std::fs::write(
        &config,
        format!(
            "[control]\nca = {ca:?}\ngrpc_listen = \"127.0.0.1:{grpc}\"\n\
             http_listen = \"127.0.0.1:{http}\"\ndata_dir = {data:?}\n\
             [control.tls]\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {ca:?}\n{ops}",
            ca = ca.ca_path(),
            data = dir.path().join("control"),
            cert = own.cert,
            key = own.key,
            ops = operators(),
        ),
    )
    .unwrap();
    let _replica = Replica(
        Command::new(env!("CARGO_BIN_EXE_ccx"))
            .args(["control", "--id", "1", "-c", config.to_str().unwrap()])
            .env("CCX_LOG", "warn")
            .spawn()
            .expect("ccx control"),
    );
    let endpoint = format!("localhost:{grpc}");
    let ca_path = ca.ca_path();
    let ca_arg = ca_path.to_str().unwrap();
    let started = Instant::now();
    let got = loop {
        let out = ccx(&[
            "config",
            "get",
            "acme",
            "--control",
            &endpoint,
            "--control-ca",
            ca_arg,
        ]);
        if out.status.success() {
            break out;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no answer over TLS: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let config_json: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(config_json["version"], 0);

    // Without the CA the command speaks plaintext to a TLS listener and gets no answer.
    let plain = ccx(&["config", "get", "acme", "--control", &endpoint]);
    assert!(!plain.status.success());

    // A CA file that is not one is named.
    let bad = ccx(&[
        "config",
        "get",
        "acme",
        "--control",
        &endpoint,
        "--control-ca",
        own.key.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(err.contains("--control-ca"), "{err}");
}

#[test]
fn a_replica_with_an_unusable_certificate_does_not_start() {
    let ca = TestCa::new("ccx control CA");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ccx.toml");
    std::fs::write(
        &config,
        format!(
            "[control]\nca = {ca:?}\ngrpc_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\n\
             data_dir = {data:?}\n[control.tls]\ncert = \"/nonexistent/tls.crt\"\n\
             key = \"/nonexistent/tls.key\"\nclient_ca = {ca:?}\n{ops}",
            ca = ca.ca_path(),
            data = dir.path().join("control"),
            ops = operators(),
        ),
    )
    .unwrap();
    let mut replica = Replica(
        Command::new(env!("CARGO_BIN_EXE_ccx"))
            .args(["control", "--id", "1", "-c", config.to_str().unwrap()])
            .env("CCX_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ccx control"),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = replica.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "ccx control kept running with an unusable certificate"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut replica.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("control.tls.cert: /nonexistent/tls.crt"),
        "{err}"
    );
}

//! A real ClickHouse server for tests: `clickhouse-server` started as a child process on free
//! loopback ports with a self-contained configuration written by `scripts/clickhouse-config`
//! into a temporary directory. The server is killed and its data removed when the
//! [`ClickHouseServer`] is dropped.
//!
//! ```no_run
//! let (server, config) = ccx_store::testing::ClickHouseServer::start();
//! // config.url points at the server; config.database is "ccx".
//! # drop(server);
//! ```
//!
//! `CLICKHOUSE_SERVER` overrides the server binary (default `clickhouse-server` on PATH).
//! [`cluster`] starts several servers as a replicated cluster over a ZooKeeper.

pub mod cluster;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccx_config::ClickHouseConfig;

/// How long the server may take to answer `SELECT 1`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `clickhouse-server` child process.
pub struct ClickHouseServer {
    child: Child,
    pub http_port: u16,
    pub tcp_port: u16,
    dir: tempfile::TempDir,
    config_path: String,
}

pub(crate) fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|addr| addr.port())
}

/// `scripts/clickhouse-config` of this workspace.
pub fn config_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/clickhouse-config")
}

fn server_binary() -> String {
    std::env::var("CLICKHOUSE_SERVER").unwrap_or_else(|_| "clickhouse-server".into())
}

/// Sends `SELECT 1` over plain HTTP/1.0 and reports whether the answer is `1`.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /?query=SELECT%201 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("\r\n\r\n1\n")
}

impl ClickHouseServer {
    /// Starts a server and waits until it answers; panics with the server's log if it cannot
    /// (a test without its server cannot say anything useful).
    pub fn start() -> (ClickHouseServer, ClickHouseConfig) {
        match ClickHouseServer::try_start() {
            Ok(started) => started,
            Err(e) => panic!("cannot start ClickHouse for the test: {e}"),
        }
    }

    /// Starts a server on free loopback ports (retrying with other ports if one was taken
    /// meanwhile) and waits until it answers `SELECT 1`.
    pub fn try_start() -> Result<(ClickHouseServer, ClickHouseConfig), String> {
        let mut last = String::new();
        for _ in 0..3 {
            match ClickHouseServer::spawn() {
                Ok(server) => {
                    let config = ClickHouseConfig {
                        url: server.url(),
                        database: "ccx".into(),
                        user: "default".into(),
                        password: String::new(),
                        ..ClickHouseConfig::default()
                    };
                    return Ok((server, config));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn spawn() -> Result<ClickHouseServer, String> {
        let dir = temp_dir("ccx-clickhouse-")?;
        let http_port = free_port().map_err(|e| format!("free port: {e}"))?;
        let tcp_port = free_port().map_err(|e| format!("free port: {e}"))?;
        ClickHouseServer::launch(dir, http_port, tcp_port, None)
    }

    /// Writes the configuration (with `extra` elements) into `dir` and starts the server.
    pub(crate) fn launch(
        dir: tempfile::TempDir,
        http_port: u16,
        tcp_port: u16,
        extra: Option<&str>,
    ) -> Result<ClickHouseServer, String> {
        let script = config_script();
        let mut command = Command::new("bash");
        command
            .arg(&script)
            .arg(dir.path())
            .arg(http_port.to_string())
            .arg(tcp_port.to_string());
        if let Some(extra) = extra {
            let path = dir.path().join("extra.xml");
            std::fs::write(&path, extra).map_err(|e| format!("{}: {e}", path.display()))?;
            command.arg(path);
        }
        let output = command
            .output()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{} failed: {}",
                script.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let config_path = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let child = start_child(dir.path(), &config_path)?;
        let mut server = ClickHouseServer {
            child,
            http_port,
            tcp_port,
            dir,
            config_path,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and waits for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again (after [`ClickHouseServer::kill`]) on the same ports and data.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.child = start_child(self.dir.path(), &self.config_path)?;
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let http_port = self.http_port;
        let server = self;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers(http_port) {
                return Ok(());
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "clickhouse-server exited ({status}) before answering:\n{}",
                    server.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "clickhouse-server did not answer on port {http_port} within {} s:\n{}",
                    START_TIMEOUT.as_secs(),
                    server.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<http_port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The server's directory (data, logs, configuration).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The end of the server's console and error logs, for failure messages.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for name in ["console.log", "log/server.err.log"] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

pub(crate) fn temp_dir(prefix: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))
}

fn start_child(dir: &Path, config_path: &str) -> Result<Child, String> {
    let console = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("console.log"))
        .map_err(|e| format!("console log: {e}"))?;
    let console_err = console
        .try_clone()
        .map_err(|e| format!("console log: {e}"))?;
    Command::new(server_binary())
        .arg(format!("--config-file={config_path}"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(console))
        .stderr(Stdio::from(console_err))
        .spawn()
        .map_err(|e| format!("{}: {e}", server_binary()))
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

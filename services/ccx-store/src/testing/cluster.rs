//! A replicated ClickHouse cluster for tests: one ZooKeeper (Debian's `zookeeper` package,
//! run in the foreground with `java`) and `clickhouse-server` processes on free loopback
//! ports, each with the cluster in its `remote_servers`, its `{shard}`/`{replica}` macros and
//! distributed DDL. Everything is killed and removed when the [`ClickHouseCluster`] is dropped.
//!
//! `ZOOKEEPER_CLASSPATH` overrides where ZooKeeper's classes are
//! (default `/usr/share/java/zookeeper.jar`), `JAVA` the Java launcher (default `java`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ccx_config::{ClickHouseConfig, ClusterConfig};

use super::{free_port, temp_dir, ClickHouseServer};

/// The cluster's name in every server's `remote_servers`.
pub const CLUSTER: &str = "ccx_test";

/// A standalone ZooKeeper server.
pub struct ZooKeeperServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl ZooKeeperServer {
    pub fn start() -> Result<ZooKeeperServer, String> {
        let dir = temp_dir("ccx-zookeeper-")?;
        let port = free_port().map_err(|e| format!("free port: {e}"))?;
        let classpath = std::env::var("ZOOKEEPER_CLASSPATH")
            .unwrap_or_else(|_| "/usr/share/java/zookeeper.jar".into());
        let java = std::env::var("JAVA").unwrap_or_else(|_| "java".into());
        let log = std::fs::File::create(dir.path().join("zookeeper.log"))
            .map_err(|e| format!("zookeeper log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("zookeeper log: {e}"))?;
        // ZooKeeperServerMain PORT DATADIR TICKTIME: a 500 ms tick lets sessions expire in
        // seconds, so a killed replica's session ends soon after it.
        let child = Command::new(&java)
            .args([
                "-Xmx256m",
                "-Dzookeeper.admin.enableServer=false",
                "-cp",
                &classpath,
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                &port.to_string(),
                &dir.path().join("data").display().to_string(),
                "500",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| format!("{java} (ZooKeeper; apt-get install zookeeper): {e}"))?;
        let mut server = ZooKeeperServer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        // A ClickHouse 18.16 server whose first ZooKeeper handshake fails may crash later:
        // the servers start only once ZooKeeper serves requests.
        while !serving(port) {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "ZooKeeper exited ({status}): {}",
                    std::fs::read_to_string(server.dir.path().join("zookeeper.log"))
                        .unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "ZooKeeper did not listen on port {port} within 30 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }
}

/// Whether ZooKeeper answers its `srvr` command as a server serving requests.
fn serving(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"srvr").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.contains("Mode: standalone")
}

impl Drop for ZooKeeperServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// ClickHouse servers forming cluster [`CLUSTER`]; `servers[i]` is replica `replicas[i]`.
pub struct ClickHouseCluster {
    pub servers: Vec<ClickHouseServer>,
    /// `(shard, replica)` numbers (from 1) of each server.
    pub replicas: Vec<(usize, usize)>,
    pub zookeeper: ZooKeeperServer,
}

struct Ports {
    http: u16,
    tcp: u16,
    interserver: u16,
}

impl ClickHouseCluster {
    /// Starts `shards.len()` shards, shard `s` with `shards[s]` replicas, and returns the
    /// `[clickhouse]` settings of the cluster layout (every server's URL, the first one first).
    /// Retries with other ports if one was taken between being found free and being bound, as
    /// [`ClickHouseServer::try_start`] does.
    pub fn start(shards: &[usize]) -> Result<(ClickHouseCluster, ClickHouseConfig), String> {
        let mut last = String::new();
        for _ in 0..3 {
            match ClickHouseCluster::spawn(shards) {
                Ok(started) => return Ok(started),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn spawn(shards: &[usize]) -> Result<(ClickHouseCluster, ClickHouseConfig), String> {
        let zookeeper = ZooKeeperServer::start()?;
        let mut replicas = Vec::new();
        let mut ports = Vec::new();
        for (s, n) in shards.iter().enumerate() {
            for r in 0..*n {
                replicas.push((s + 1, r + 1));
                let port = || free_port().map_err(|e| format!("free port: {e}"));
                ports.push(Ports {
                    http: port()?,
                    tcp: port()?,
                    interserver: port()?,
                });
            }
        }
        let remote_servers: String = shards
            .iter()
            .enumerate()
            .map(|(s, _)| {
                let members: String = replicas
                    .iter()
                    .zip(&ports)
                    .filter(|((shard, _), _)| *shard == s + 1)
                    .map(|(_, p)| {
                        format!(
                            "<replica><host>127.0.0.1</host><port>{}</port></replica>",
                            p.tcp
                        )
                    })
                    .collect();
                // Replication copies a part to the shard's other replicas: a Distributed
                // insert writes it to one.
                format!("<shard><internal_replication>true</internal_replication>{members}</shard>")
            })
            .collect();
        let mut servers = Vec::new();
        for ((shard, replica), p) in replicas.iter().zip(&ports) {
            let extra = format!(
                "<zookeeper><node><host>127.0.0.1</host><port>{zk}</port></node>\
                 <session_timeout_ms>4000</session_timeout_ms></zookeeper>\n\
                 <remote_servers><{CLUSTER}>{remote_servers}</{CLUSTER}></remote_servers>\n\
                 <macros><shard>{shard:02}</shard><replica>s{shard}r{replica}</replica></macros>\n\
                 <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n\
                 <interserver_http_host>127.0.0.1</interserver_http_host>\n\
                 <interserver_http_port>{interserver}</interserver_http_port>",
                zk = zookeeper.port,
                interserver = p.interserver,
            );
            let dir = temp_dir("ccx-clickhouse-")?;
            servers.push(ClickHouseServer::launch(dir, p.http, p.tcp, Some(&extra))?);
        }
        let config = ClickHouseConfig {
            url: servers[0].url(),
            failover_urls: servers[1..].iter().map(ClickHouseServer::url).collect(),
            cluster: Some(ClusterConfig {
                name: CLUSTER.into(),
                replicated: true,
                shards: shards.len() as u32,
            }),
            ..ClickHouseConfig::default()
        };
        Ok((
            ClickHouseCluster {
                servers,
                replicas,
                zookeeper,
            },
            config,
        ))
    }

    /// The settings of `config` with server `i` first (reads go to it while it answers).
    pub fn config_at(&self, config: &ClickHouseConfig, i: usize) -> ClickHouseConfig {
        let mut urls: Vec<String> = self.servers.iter().map(ClickHouseServer::url).collect();
        urls.rotate_left(i);
        ClickHouseConfig {
            url: urls[0].clone(),
            failover_urls: urls[1..].to_vec(),
            ..config.clone()
        }
    }
}

/// Waits until every replicated table of `store`'s server is writable, sees every replica of
/// its shard active and fetched what they have (`SYSTEM SYNC REPLICA`): a restarted replica
/// answers queries before it rejoined its shard.
pub async fn sync_replicas(store: &crate::Store) -> Result<(), crate::StoreError> {
    let db = store.database();
    let deadline = Instant::now() + Duration::from_secs(60);
    let lagging = format!(
        "SELECT table FROM system.replicas WHERE database = '{db}' \
         AND (is_readonly OR is_session_expired OR active_replicas < total_replicas)"
    );
    loop {
        let rows = store.query_json(&lagging).await?;
        if rows.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(crate::StoreError::Decode {
                context: "waiting for replicas".into(),
                message: format!("still not active after 60 s: {rows:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tables = store
        .query_json(&format!(
            "SELECT table FROM system.replicas WHERE database = '{db}'"
        ))
        .await?;
    for table in tables {
        let name = table["table"].as_str().unwrap_or_default();
        store
            .query_json(&format!("SYSTEM SYNC REPLICA {db}.{name}"))
            .await?;
    }
    Ok(())
}

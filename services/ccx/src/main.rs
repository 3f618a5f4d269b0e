//! `ccx`: builds the runtime, initialises logging, parses the command line and hands over to
//! the library of the chosen role. No logic of its own beyond wiring.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ccx_collector::{KafkaSink, Sink};
use ccx_config::{Config, SinkKind};
use clap::{Parser, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

mod control;
mod demo;
mod staffing;

/// jemalloc, built to give its memory transparent huge pages (`.cargo/config.toml`): the
/// stream's random look-ups in tables of tens of megabytes need them (docs/benchmarks.md).
/// The benchmarks allocate the same way, so their figures are this binary's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "ccx", version, about = "Real-time contact-center analytics")]
struct Cli {
    /// Config file (TOML); repeat to layer several, later ones win. CCX__SECTION__KEY env
    /// variables override files.
    #[arg(
        long = "config",
        short = 'c',
        global = true,
        env = "CCX_CONFIG",
        value_delimiter = ','
    )]
    config: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ingest service (gRPC + HTTP) writing to Kafka.
    Collector,
    /// Run stream workers: Kafka partitions -> metric engine -> ClickHouse rows.
    Stream(StreamArgs),
    /// The whole pipeline in one process: a simulated contact center, the collector, the
    /// stream, a single-node control plane and a live wallboard.
    Demo {
        /// Wallboard address.
        #[arg(long, default_value = "127.0.0.1:8080", env = "CCX_DEMO_LISTEN")]
        listen: std::net::SocketAddr,
        /// Simulated contacts per second (all tenants).
        #[arg(long, default_value_t = 4.0, env = "CCX_DEMO_RATE")]
        rate: f64,
    },
    /// Serve the supervisor wallboard page (sign in with a tenant's token) over ClickHouse and
    /// the control plane.
    Wallboard(WallboardArgs),
    /// Run one control-plane replica (raft): tenant configuration and the alert lifecycle.
    Control(Box<ccx_control::ReplicaArgs>),
    /// Churn alerts: list, acknowledge, resolve (through the control plane).
    Alerts(control::alerts::AlertsArgs),
    /// Tenant configuration held by the control plane: get, set.
    Config(control::config::ConfigArgs),
    /// Tenant credentials of the control plane (operators): add, remove, list.
    Credentials(control::credentials::CredentialsArgs),
    /// Control-plane membership: status, add or remove a replica.
    Cluster(control::cluster::ClusterArgs),
    /// Load and validate the configuration, print it (token hashes included) and exit.
    CheckConfig,
    /// Print the SHA-256 of a bearer token, for `[[tenants]] token_sha256`.
    HashToken {
        /// The token (read from CCX_TOKEN if omitted).
        #[arg(env = "CCX_TOKEN")]
        token: String,
    },
    /// Print the events of the topic from the beginning as JSON lines (key, partition, offset,
    /// event), until no record arrived for `--idle-ms`.
    TailEvents {
        #[arg(long, default_value_t = 2000)]
        idle_ms: u64,
    },
    /// Create or upgrade the ClickHouse schema (versioned migrations; a re-run is a no-op).
    Migrate {
        /// Also build these tenants' read databases (as `ccx tenant-database`), rebuilt when
        /// this run applied migrations so that their new columns reach them; comma-separated.
        #[arg(
            long = "tenant-database",
            value_delimiter = ',',
            env = "CCX_TENANT_DATABASES"
        )]
        tenant_databases: Vec<String>,
    },
    /// Build (or, with --rebuild, rebuild after a migration) a tenant's read database in
    /// ClickHouse, `<database>_t_<tenant>`: its rows only, every table and KPI view; prints
    /// the read user to create for its Grafana datasource (docs/operations.md).
    TenantDatabase(TenantDatabaseArgs),
    /// Recompute a tenant's rows of a time range from its stored events, late ones included,
    /// and write them again (new versions): `… FINAL` becomes exact. Only minutes the stream
    /// can no longer change (behind the tenant's watermark by its FCR window + 2 h).
    Backfill(BackfillArgs),
    /// Erlang C for planners: agents a traffic needs for a service level, and what a number of
    /// agents gives (chance to wait, ASA, service level, occupancy).
    Staffing(staffing::StaffingArgs),
    /// Create the events topic with `kafka.partitions` partitions (no-op if it exists).
    CreateTopic {
        /// Replication factor.
        #[arg(long, default_value_t = 1, env = "CCX_REPLICATION")]
        replication: i32,
    },
}

#[derive(clap::Args)]
struct TenantDatabaseArgs {
    /// The tenant.
    tenant: String,
    /// Drop the tenant's database first and fill it again from the stored rows (after a
    /// migration added columns).
    #[arg(long)]
    rebuild: bool,
    /// The ClickHouse user that reads it (default: `<tenant>_read`, '-' written '_').
    #[arg(long)]
    user: Option<String>,
}

#[derive(clap::Args)]
struct BackfillArgs {
    /// The tenant whose rows are recomputed.
    #[arg(long)]
    tenant: String,
    /// First minute (RFC 3339, e.g. 2026-12-01T09:00:00Z).
    #[arg(long, value_parser = ccx_model::json::rfc3339_ms)]
    from: i64,
    /// End of the range, exclusive (RFC 3339).
    #[arg(long, value_parser = ccx_model::json::rfc3339_ms)]
    to: i64,
}

#[derive(clap::Args)]
struct WallboardArgs {
    /// Address of the page.
    #[arg(long, default_value = "127.0.0.1:8090", env = "CCX_WALLBOARD_LISTEN")]
    listen: std::net::SocketAddr,
    /// ClickHouse HTTP URL (default: clickhouse.url of the config).
    #[arg(long, env = "CCX_WALLBOARD_CLICKHOUSE")]
    clickhouse: Option<String>,
    /// Control-plane replicas, host:port, comma-separated (default: control.endpoints).
    #[arg(long, value_delimiter = ',', env = "CCX_WALLBOARD_CONTROL")]
    control: Option<Vec<String>>,
}

#[derive(clap::Args)]
struct StreamArgs {
    /// Worker threads of this process (default: stream.workers).
    #[arg(long, short = 'w', env = "CCX_STREAM_WORKERS")]
    workers: Option<usize>,
    /// Processes of the timely cluster.
    #[arg(long, short = 'n', default_value_t = 1, env = "CCX_STREAM_PROCESSES")]
    processes: usize,
    /// This process's index in the cluster.
    #[arg(long, short = 'p', default_value_t = 0, env = "CCX_STREAM_PROCESS_ID")]
    process_id: usize,
    /// host:port of every process, in index order (comma-separated).
    #[arg(long, value_delimiter = ',', env = "CCX_STREAM_PEERS")]
    peers: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches)?;
    // `ccx control` listens and stores where the config says unless a flag says otherwise.
    if let (Command::Control(args), Some(("control", sub))) =
        (&mut cli.command, matches.subcommand())
    {
        use clap::parser::ValueSource::DefaultValue;
        let config = Config::load(&cli.config)?;
        if sub.value_source("grpc_listen") == Some(DefaultValue) {
            args.grpc_listen = config.control.grpc_listen;
        }
        if sub.value_source("http_listen") == Some(DefaultValue) {
            args.http_listen = config.control.http_listen;
        }
        if sub.value_source("data_dir") == Some(DefaultValue) {
            args.data_dir = config.control.data_dir.clone();
        }
        args.tls = config.control.tls.clone();
        args.ca = config.control.ca.clone();
        // Credentials on the command line replace the config's.
        if args.operators.is_empty() {
            args.operators = config.control.operators.clone();
        }
        if args.services.is_empty() {
            args.services = config.control.services.clone();
        }
        // `alert_events` go where the config's `[clickhouse]` section says, if it has one.
        if args.clickhouse_url.is_none() && clickhouse_configured(&cli.config) {
            args.clickhouse_url = Some(config.clickhouse.url.clone());
            args.clickhouse_database = config.clickhouse.database.clone();
            args.clickhouse_user = config.clickhouse.user.clone();
            args.clickhouse_password = config.clickhouse.password.clone();
            args.clickhouse_section = Some(Box::new(config.clickhouse.clone()));
        }
    }
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

/// True when a config file has a `[clickhouse]` section or a `CCX__CLICKHOUSE__*` variable
/// is set (the built-in default alone does not make a replica write `alert_events`).
fn clickhouse_configured(files: &[std::path::PathBuf]) -> bool {
    std::env::vars_os().any(|(k, _)| {
        k.to_str()
            .is_some_and(|k| k.starts_with("CCX__CLICKHOUSE__"))
    }) || files.iter().any(|f| {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .is_some_and(|t| t.contains_key("clickhouse"))
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CCX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("CCX_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::HashToken { token } => {
            println!("{}", ccx_model::hash_token(&token));
            Ok(())
        }
        Command::Staffing(args) => {
            print!("{}", staffing::output(&args)?);
            Ok(())
        }
        Command::CheckConfig => {
            let mut config = Config::load(&cli.config)?;
            if !config.control.token.is_empty() {
                config.control.token = "(set, not shown)".into();
            }
            print!("{}", toml::to_string_pretty(&config)?);
            eprintln!("configuration ok");
            Ok(())
        }
        Command::Collector => {
            let config = Arc::new(Config::load(&cli.config)?);
            collector(&config).await
        }
        Command::Demo { listen, rate } => demo::run_demo(listen, rate).await,
        Command::Wallboard(args) => {
            let config = Config::load(&cli.config)?;
            wallboard(config, args).await
        }
        Command::Control(args) => {
            // Started before the wait, so that a setting it cannot use (a certificate, a port)
            // ends the process at once with its error.
            let replica = ccx_control::start_replica(args.to_options()).await?;
            println!("control replica {} running", args.id);
            wait_for_signal().await;
            tracing::info!(id = args.id, "stopping control replica");
            replica.stop().await;
            Ok(())
        }
        Command::Alerts(args) => Ok(control::alerts::run(args, &cli.config).await?),
        Command::Config(args) => Ok(control::config::run(args, &cli.config).await?),
        Command::Credentials(args) => Ok(control::credentials::run(args, &cli.config).await?),
        Command::Cluster(args) => Ok(control::cluster::run(args, &cli.config).await?),
        Command::Stream(args) => {
            let config = Config::load(&cli.config)?;
            stream(config, args).await
        }
        Command::Migrate { tenant_databases } => {
            let config = Config::load(&cli.config)?;
            let store = ccx_store::Store::connect(&config.clickhouse).await?;
            let applied = store.migrate().await?;
            println!(
                "ClickHouse {}: database {} migrated ({} applied now: {})",
                store.server_version(),
                config.clickhouse.database,
                applied.len(),
                applied.join(", ")
            );
            for tenant in &tenant_databases {
                let rebuild = !applied.is_empty();
                let db = store.provision_tenant(tenant, rebuild).await?;
                println!(
                    "{db}: {} for tenant {tenant}",
                    if rebuild { "built again" } else { "kept" }
                );
            }
            Ok(())
        }
        Command::TenantDatabase(args) => {
            let config = Config::load(&cli.config)?;
            let store = ccx_store::Store::connect(&config.clickhouse).await?;
            let db = store.provision_tenant(&args.tenant, args.rebuild).await?;
            let user = args
                .user
                .unwrap_or_else(|| format!("{}_read", args.tenant.replace('-', "_")));
            let database = &config.clickhouse.database;
            println!(
                "ClickHouse {}: {db} holds tenant {}'s rows",
                store.server_version(),
                args.tenant
            );
            println!(
                "\nusers.xml (any release): under <profiles>\n{}\nand under <users>\n{}",
                ccx_store::tenants::READ_PROFILE_XML,
                ccx_store::tenants::users_xml(
                    database,
                    &args.tenant,
                    &user,
                    "SHA256_OF_THE_PASSWORD"
                )
            );
            println!(
                "\nor, with SQL access control (current releases):\n\
                 CREATE USER {user} IDENTIFIED WITH sha256_password BY '<password>' \
                 SETTINGS readonly = 2;\n{};",
                ccx_store::tenants::grant_sql(database, &args.tenant, &user)
            );
            Ok(())
        }
        Command::TailEvents { idle_ms } => {
            let config = Config::load(&cli.config)?;
            tokio::task::spawn_blocking(move || {
                tail_events(&config, Duration::from_millis(idle_ms))
            })
            .await?
        }
        Command::Backfill(args) => {
            let config = Config::load(&cli.config)?;
            backfill(&config, args).await
        }
        Command::CreateTopic { replication } => {
            let config = Config::load(&cli.config)?;
            create_topic(&config, replication).await
        }
    }
}

async fn collector(config: &Config) -> anyhow::Result<()> {
    let sink = match config.collector.sink {
        SinkKind::Kafka => Sink::Kafka(Arc::new(
            KafkaSink::new(&config.kafka).context("cannot create the Kafka producer")?,
        )),
        SinkKind::Null => Sink::Null,
    };
    let shutdown = CancellationToken::new();
    let running = ccx_collector::serve(config, sink, shutdown.clone()).await?;
    if !config.control.endpoints.is_empty() {
        let client = ccx_control_client::ControlClient::from_config(&config.control)?;
        tokio::spawn(ccx_collector::directory::follow_control(
            Arc::clone(&running.ingest),
            config.tenants.clone(),
            client,
            Duration::from_secs(2),
            shutdown.clone(),
        ));
    }
    println!(
        "collector ready: grpc={} http={}",
        running.grpc_addr, running.http_addr
    );
    wait_for_signal().await;
    tracing::info!("stopping: draining in-flight batches");
    shutdown.cancel();
    running.wait().await;
    Ok(())
}

async fn wallboard(mut config: Config, args: WallboardArgs) -> anyhow::Result<()> {
    if let Some(url) = args.clickhouse {
        config.clickhouse.url = url;
    }
    if let Some(endpoints) = args.control {
        config.control.endpoints = endpoints;
    }
    let store = ccx_store::Store::connect(&config.clickhouse).await?;
    let mut options = ccx_wallboard::Options::new(args.listen);
    options.tenants = config.tenants.clone();
    options.control = config.control.endpoints.clone();
    options.control_tls = ccx_control_client::client_tls(&config.control)?;
    options.tls = config.wallboard.tls.clone();
    options.control_token = config.control.token.clone();
    let shutdown = CancellationToken::new();
    let source = Arc::new(ccx_wallboard::ClickHouseSource::new(store));
    let running = ccx_wallboard::serve(options, source, shutdown.clone()).await?;
    println!(
        "wallboard on {}://{} (ClickHouse {}, control plane {})",
        if config.wallboard.tls.is_some() {
            "https"
        } else {
            "http"
        },
        running.addr,
        config.clickhouse.url,
        if config.control.endpoints.is_empty() {
            "none: no alerts, default settings".to_string()
        } else {
            config.control.endpoints.join(",")
        }
    );
    wait_for_signal().await;
    shutdown.cancel();
    running.wait().await;
    Ok(())
}

pub(crate) async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn create_topic(config: &Config, replication: i32) -> anyhow::Result<()> {
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", &config.kafka.brokers);
    for (k, v) in &config.kafka.properties {
        client.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let topic = NewTopic::new(
        &config.kafka.topic,
        config.kafka.partitions as i32,
        TopicReplication::Fixed(replication),
    );
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&topic], &options).await? {
        match result {
            Ok(name) => println!("created topic {name}"),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                println!("topic {name} already exists")
            }
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Reads every partition of the topic from the beginning with explicit assignment.
fn tail_events(config: &Config, idle: Duration) -> anyhow::Result<()> {
    use ccx_proto::prost::Message as _;
    use ccx_stream::source::{EventLog, KafkaLog};
    let mut log = KafkaLog::new(&config.kafka)?.with_keys();
    let starts: Vec<(i32, i64)> = (0..config.kafka.partitions as i32)
        .map(|p| (p, 0))
        .collect();
    log.assign(&starts)?;
    let mut records = Vec::new();
    let mut last = std::time::Instant::now();
    while last.elapsed() < idle {
        log.poll(1000, &mut records)?;
        for record in records.drain(..) {
            last = std::time::Instant::now();
            let event = ccx_proto::v1::Event::decode(&record.payload[..])?;
            let line = serde_json::json!({
                "partition": record.partition,
                "offset": record.offset,
                "key": String::from_utf8_lossy(record.key.as_deref().unwrap_or_default()),
                "event": ccx_model::json::event_to_json(&event),
            });
            println!("{line}");
        }
    }
    Ok(())
}

async fn backfill(config: &Config, args: BackfillArgs) -> anyhow::Result<()> {
    use ccx_model::json::format_ms;
    use ccx_stream::backfill::{backfill, Range};
    let store = ccx_store::Store::connect(&config.clickhouse).await?;
    let mut settings = config.stream.tenant_defaults();
    let control = if config.control.endpoints.is_empty() {
        None
    } else {
        let client = ccx_control_client::ControlClient::from_config(&config.control)?;
        let stored = client.get_config(&args.tenant).await?;
        if stored.version > 0 {
            settings = ccx_model::settings::TenantSettings::from_proto(&stored)?;
        }
        Some(client)
    };
    let range = Range {
        tenant: args.tenant,
        from_ms: args.from,
        to_ms: args.to,
    };
    let report = backfill(&store, control.as_ref(), &settings, &range).await?;
    let (from, to) = report.range;
    println!(
        "backfilled {} from {} to {} (watermark {}): {} events read, {} rows written, {} rows \
         zeroed, {} hourly and daily rollup rows rewritten, {} churn alerts, {} withdrawn, {} \
         late events covered",
        range.tenant,
        format_ms(from),
        format_ms(to),
        format_ms(report.watermark),
        report.events_read,
        report.rows,
        report.zeroed,
        report.rollups,
        report.alerts,
        report.withdrawn,
        report.late_covered
    );
    Ok(())
}

async fn stream(config: Config, args: StreamArgs) -> anyhow::Result<()> {
    let cluster = ccx_stream::Cluster {
        workers: args.workers,
        processes: args.processes,
        process_id: args.process_id,
        peers: args.peers,
    };
    let shutdown = CancellationToken::new();
    let running = ccx_stream::serve(&config, cluster, shutdown.clone()).await?;
    println!("stream running: http={}", running.http_addr);
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.cancel();
    });
    Ok(running.wait().await?)
}

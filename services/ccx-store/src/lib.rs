//! The ClickHouse store of ccx (SPEC §5).
//!
//! This crate owns the analytics schema in ClickHouse — the tables, the KPI views and the
//! versioned migrations that create them ([`schema`]) — and the only code that writes rows
//! there or reads them back ([`Store`]). It speaks plain HTTP to ClickHouse (`JSONEachRow`),
//! which every server version understands, from 18.16 (the test server) to current releases.
//! It computes no metric: the rows come from the stream ([`ccx_model::rows`]), and the KPI
//! ratios of SPEC §3 are computed by ClickHouse views at query time.
//!
//! **Versions and idempotency.** Every table is `ReplacingMergeTree(version)` ordered by its
//! SPEC key. A [`RowBatch`] carries one `version`; a writer that recomputes a row (a replay,
//! a restart, a late correction) writes it again with a higher version, and `SELECT … FINAL`
//! returns the highest version of each key — also before ClickHouse merged the parts. Equal
//! versions keep the last insert; a lower version never wins. A key whose recomputed value is
//! all zero is written as a zero row; [`Store::read_final`] drops such rows. [`version_now`]
//! gives writers a version that grows with wall-clock time.
//!
//! **One server or a cluster.** With `[clickhouse] cluster` set, [`layout`] lays each
//! statement out `ON CLUSTER`: replicated `<table>_local` tables and a `Distributed` table
//! `<table>` sharded by tenant, which every read and write here names as on one server.
//! Statements fail over to the next configured server; [`retention`] drops old months.
//!
//! **Time.** ClickHouse 18.16 has no `DateTime64`: minute and second columns are
//! `DateTime('UTC')` (explicitly UTC, whatever the server's time zone), and the instants whose
//! milliseconds matter have a UInt64 twin in Unix milliseconds: `churn_alerts.triggered_at_ms`,
//! `queue_now.as_of_ms`, `events.occurred_at_ms`. Rows are written with Unix seconds, which
//! every version parses into a `DateTime`.
//!
//! **KPI views.** `queue_kpis_1m` (per queue, channel, direction and minute),
//! `agent_kpis_1m` (per agent, channel and minute) and `reason_kpis_1m` (per contact reason,
//! channel, direction and minute) compute the SPEC §3 and §7.2 ratios from the summed
//! components of `… FINAL`; `agent_occupancy_1m` computes occupancy from `agent_state_1m`,
//! which is keyed per agent without a channel (joining it into `agent_kpis_1m` would repeat an
//! agent's occupancy on each channel row). A ratio whose denominator is zero — or negative,
//! which a per-minute `offered − abandoned_short` can be when the offer and the short abandon
//! fall in different minutes — is NULL. Agent rows carry no `answered` (SPEC §5), so an
//! agent's `conversion_rate_pct` is over the contacts it ended (`handled − transfers`). The
//! inbound-only repeat rate is NULL on outbound rows, the outbound-only first-call close %
//! NULL on inbound rows. The rollups of migration 8 (`queue_metrics_1h`, …,
//! `reason_metrics_1d`, read with [`Store::read_rollups`]) have KPI views of the same
//! definitions (`queue_kpis_1h`, …, `reason_kpis_1d`). The views answer per minute and key; a ratio over a longer range or a group is computed from
//! the components summed over the base tables `… FINAL`, never by averaging view rows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccx_config::ClickHouseConfig;
use ccx_model::rows::{
    AgentKey, AgentMinute, AgentNow, ChurnAlert, Components, FinalRows, Quality, QueueKey,
    QueueNow, ReasonKey, RollupRows, StaffingRow, StateTimes, TenantProgress,
};
use ccx_model::Event;
use serde_json::Value;

mod alert_events;
mod codec;
pub mod layout;
pub mod retention;
pub mod schema;
pub mod tenants;
pub mod testing;
mod views;
mod withdraw;

pub use alert_events::AlertEvent;
pub use codec::{Insert, RowFilter};
pub use layout::Layout;
pub use schema::Migration;

/// What went wrong talking to ClickHouse; `context` names the statement (and with it the
/// table), `message` is ClickHouse's own.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid ClickHouse configuration: {0}")]
    Config(String),
    #[error("ClickHouse at {url} did not answer {context}: {source}")]
    Unreachable {
        url: String,
        context: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("ClickHouse refused {context} (HTTP {status}): {message}")]
    Refused {
        context: String,
        status: u16,
        message: String,
    },
    #[error("unexpected answer from ClickHouse to {context}: {message}")]
    Decode { context: String, message: String },
}

/// Rows to write together, all with one `version` (see the crate docs).
#[derive(Default, Clone, Debug)]
pub struct RowBatch {
    pub version: u64,
    pub queue: Vec<(QueueKey, Components)>,
    pub agent: Vec<(AgentKey, Components)>,
    /// `reason_metrics_1m` rows (SPEC §7.2).
    pub reason: Vec<(ReasonKey, Components)>,
    /// `*_metrics_1h` rows (migration 8).
    pub hourly: RollupRows,
    /// `*_metrics_1d` rows with their local dates (migration 8).
    pub daily: RollupRows,
    pub agent_state: Vec<(AgentMinute, StateTimes)>,
    /// `((tenant_id, window_start ms), values)`.
    pub quality: Vec<((String, i64), Quality)>,
    pub alerts: Vec<ChurnAlert>,
    pub queue_now: Vec<QueueNow>,
    /// `agent_now` rows of the agents whose doings changed (SPEC §7.4).
    pub agent_now: Vec<AgentNow>,
    /// `staffing_15m` rows (SPEC §7.6), keyed like queue rows by their interval's start.
    pub staffing: Vec<(QueueKey, StaffingRow)>,
    pub events: Vec<ccx_model::Event>,
    pub progress: Vec<TenantProgress>,
}

impl RowBatch {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
            && self.agent.is_empty()
            && self.reason.is_empty()
            && self.hourly.is_empty()
            && self.daily.is_empty()
            && self.agent_state.is_empty()
            && self.quality.is_empty()
            && self.alerts.is_empty()
            && self.queue_now.is_empty()
            && self.agent_now.is_empty()
            && self.staffing.is_empty()
            && self.events.is_empty()
            && self.progress.is_empty()
    }

    /// The `INSERT … FORMAT JSONEachRow` statements [`Store::write`] sends for this batch into
    /// database `db`, one per non-empty table.
    pub fn inserts(&self, db: &str) -> Vec<Insert> {
        codec::inserts(self, db)
    }
}

/// The `INSERT … FORMAT JSONEachRow` that [`Store::write_alert_events`] sends into database
/// `db` (`None` for no events).
pub fn alert_events_insert(db: &str, events: &[AlertEvent]) -> Option<Insert> {
    alert_events::insert(db, events)
}

/// A version that grows with wall-clock time: microseconds since the Unix epoch.
pub fn version_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A ClickHouse string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A connection to the ClickHouse HTTP interface, bound to one database.
#[derive(Clone)]
pub struct Store {
    client: reqwest::Client,
    /// The servers statements may go to; `current` indexes the one that answered last.
    urls: Arc<Vec<String>>,
    current: Arc<AtomicUsize>,
    database: String,
    layout: Layout,
    /// The shards `ccx migrate` expects the cluster to have.
    shards: u32,
    /// `[clickhouse] retention_days`.
    retention_days: Vec<(String, u32)>,
    user: String,
    password: String,
    server_version: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Store")
            .field("urls", &self.urls)
            .field("database", &self.database)
            .field("layout", &self.layout)
            .field("user", &self.user)
            .field("server_version", &self.server_version)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Checks that ClickHouse answers and reads its `version()`. The database need not exist
    /// yet ([`Store::migrate`] creates it).
    pub async fn connect(config: &ClickHouseConfig) -> Result<Store, StoreError> {
        config
            .validate()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        let urls = config
            .urls()
            .map(|url| url.trim_end_matches('/').to_string())
            .collect();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| StoreError::Config(format!("HTTP client: {e}")))?;
        let mut store = Store {
            client,
            urls: Arc::new(urls),
            current: Arc::new(AtomicUsize::new(0)),
            database: config.database.clone(),
            layout: Layout::of(config),
            shards: config.cluster.as_ref().map_or(1, |c| c.shards),
            retention_days: retention::tables(config)?,
            user: config.user.clone(),
            password: config.password.clone(),
            server_version: String::new(),
        };
        let answer = store
            .execute("SELECT version()", "SELECT version()")
            .await?;
        store.server_version = answer.trim().to_string();
        if store.server_version.is_empty() {
            return Err(StoreError::Decode {
                context: "SELECT version()".into(),
                message: "empty answer".into(),
            });
        }
        Ok(store)
    }

    /// The server's `version()`, e.g. `18.16.1`.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// The database this store reads and writes (tables are `<database>.<table>`).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The layout of the tables (one server or a cluster).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Sends a statement to the server that answered last; one that does not answer is
    /// followed by the next of the configured servers, each tried once. Sending a
    /// statement again is harmless: every statement ccx sends is idempotent.
    async fn send(
        &self,
        context: &str,
        params: &[(&str, &str)],
        body: bytes::Bytes,
    ) -> Result<String, StoreError> {
        let first = self.current.load(Ordering::Relaxed);
        let mut unreachable = None;
        for i in 0..self.urls.len() {
            let at = (first + i) % self.urls.len();
            let url = &self.urls[at];
            match self.send_to(url, context, params, body.clone()).await {
                Err(e @ StoreError::Unreachable { .. }) => {
                    tracing::warn!(error = %e, "ClickHouse server unreachable");
                    unreachable = Some(e);
                }
                answer => {
                    self.current.store(at, Ordering::Relaxed);
                    return answer;
                }
            }
        }
        Err(unreachable.expect("at least one url"))
    }

    async fn send_to(
        &self,
        url: &str,
        context: &str,
        params: &[(&str, &str)],
        body: bytes::Bytes,
    ) -> Result<String, StoreError> {
        let unreachable = |source| StoreError::Unreachable {
            url: url.to_string(),
            context: context.to_string(),
            source,
        };
        let mut request = self.client.post(url).query(params).body(body);
        if !self.user.is_empty() {
            request = request.basic_auth(&self.user, Some(&self.password));
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(StoreError::Refused {
                context: context.to_string(),
                status: status.as_u16(),
                message: text.trim().to_string(),
            });
        }
        Ok(text)
    }

    /// Runs one statement (sent as the request body) and returns the raw answer.
    async fn execute(&self, context: &str, sql: &str) -> Result<String, StoreError> {
        let params = [
            ("wait_end_of_query", "1"),
            ("output_format_json_quote_64bit_integers", "0"),
        ];
        self.send(context, &params, sql.to_string().into()).await
    }

    async fn select(&self, context: &str, sql: &str) -> Result<Vec<Value>, StoreError> {
        let answer = self
            .execute(context, &format!("{sql} FORMAT JSONEachRow"))
            .await?;
        parse_json_lines(context, &answer)
    }

    async fn insert(&self, insert: Insert) -> Result<(), StoreError> {
        let context = format!("INSERT INTO {}.{}", self.database, insert.table);
        let mut params = vec![("query", insert.query.as_str())];
        params.extend_from_slice(self.layout.insert_settings());
        self.send(&context, &params, insert.body.into())
            .await
            .map(|_| ())
    }

    /// The tables of the analytics database as the server holds them (engine, columns).
    pub async fn table_shapes(&self) -> Result<Vec<tenants::TableShape>, StoreError> {
        let db = &self.database;
        let mut shapes = Vec::new();
        for table in tenants::copied_tables() {
            let context = format!("shape of {db}.{table}");
            let engine = self
                .select(
                    &context,
                    &format!(
                        "SELECT engine_full FROM system.tables WHERE database = {} AND name = {}",
                        quote(db),
                        quote(table)
                    ),
                )
                .await?;
            let engine_full = engine
                .first()
                .and_then(|row| row["engine_full"].as_str())
                .ok_or_else(|| StoreError::Decode {
                    context: context.clone(),
                    message: format!("no table {db}.{table}: run ccx migrate first"),
                })?
                .to_string();
            // DESCRIBE keeps the columns' order (18.16's system.columns has no position).
            let columns = self
                .select(&context, &format!("DESCRIBE TABLE {db}.{table}"))
                .await?
                .iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect();
            shapes.push(tenants::TableShape {
                name: table.to_string(),
                engine_full,
                columns,
            });
        }
        Ok(shapes)
    }

    /// Builds `tenant`'s read database (see [`tenants`]); `rebuild` drops it first (after a
    /// migration added columns). Returns the database's name.
    pub async fn provision_tenant(
        &self,
        tenant: &str,
        rebuild: bool,
    ) -> Result<String, StoreError> {
        if !ccx_model::validate::is_tenant_id(tenant) {
            return Err(StoreError::Config(format!(
                "tenant {tenant:?}: not a tenant id ([a-z0-9][a-z0-9_-]{{0,62}})"
            )));
        }
        let shapes = self.table_shapes().await?;
        for statement in tenants::statements(&self.database, tenant, &shapes, rebuild) {
            let context: String = statement.chars().take(90).collect();
            self.execute(&context, &statement).await?;
        }
        Ok(tenants::tenant_database(&self.database, tenant))
    }

    /// Creates the database and applies the migrations not applied yet, in order. Returns the
    /// names of those applied now (empty when the schema is current). Safe to run again or
    /// concurrently: every step is idempotent.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.migrate_to(u32::MAX).await
    }

    /// [`Store::migrate`], but only the migrations up to version `last` (an older schema, as
    /// an earlier release left it: for upgrade tests and staged upgrades).
    pub async fn migrate_to(&self, last: u32) -> Result<Vec<String>, StoreError> {
        let db = &self.database;
        self.check_cluster().await?;
        for statement in schema::bootstrap(db) {
            for statement in self.layout.statements(&statement) {
                self.execute(&first_line(&statement), &statement).await?;
            }
        }
        let context = format!("SELECT FROM {db}.{}", schema::MIGRATIONS_TABLE);
        let applied: Vec<u32> = self
            .select(
                &context,
                &format!(
                    "SELECT version FROM {db}.{} FINAL",
                    schema::MIGRATIONS_TABLE
                ),
            )
            .await?
            .iter()
            .filter_map(|row| row.get("version").and_then(Value::as_u64))
            .map(|v| v as u32)
            .collect();
        let mut names = Vec::new();
        for migration in schema::migrations(db) {
            if migration.version > last || applied.contains(&migration.version) {
                continue;
            }
            tracing::info!(
                version = migration.version,
                name = migration.name,
                database = %db,
                "applying ClickHouse migration"
            );
            for step in migration.steps.iter().flat_map(|s| self.layout.steps(s)) {
                self.apply(&migration, &step).await?;
            }
            let record = format!(
                "INSERT INTO {db}.{} (version, name, applied_at) VALUES ({}, {}, now())",
                schema::MIGRATIONS_TABLE,
                migration.version,
                quote(migration.name)
            );
            let context = format!(
                "recording migration {} in {db}.{}",
                migration.version,
                schema::MIGRATIONS_TABLE
            );
            self.execute(&context, &record).await?;
            names.push(migration.name.to_string());
        }
        Ok(names)
    }

    /// In the cluster layout, checks that the server knows the cluster with the configured
    /// number of shards (the `ON CLUSTER` statements would otherwise fail or wait).
    async fn check_cluster(&self) -> Result<(), StoreError> {
        let Layout::Cluster { cluster, .. } = &self.layout else {
            return Ok(());
        };
        let sql = format!(
            "SELECT count() AS replicas, uniqExact(shard_num) AS shards \
             FROM system.clusters WHERE cluster = {}",
            quote(cluster)
        );
        let rows = self.select("SELECT FROM system.clusters", &sql).await?;
        let count = |k: &str| {
            rows.first()
                .and_then(|r| r.get(k))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        if count("replicas") == 0 {
            return Err(StoreError::Config(format!(
                "clickhouse.cluster.name: the server knows no cluster {cluster:?} \
                 (remote_servers in its configuration)"
            )));
        }
        if count("shards") != u64::from(self.shards) {
            return Err(StoreError::Config(format!(
                "clickhouse.cluster.shards: {} configured, cluster {cluster:?} has {}",
                self.shards,
                count("shards")
            )));
        }
        Ok(())
    }

    /// Drops the months each table keeps no longer (see [`retention`]) as of `now_ms`;
    /// returns `(table, YYYYMM)` of the months dropped.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Vec<(String, u32)>, StoreError> {
        let db = &self.database;
        let mut dropped = Vec::new();
        for (table, days) in &self.retention_days {
            let column = retention::column(table);
            let cutoff = retention::cutoff(now_ms, *days);
            let sql = retention::partitions_query(db, table, &column, cutoff);
            let context = format!("SELECT months past retention FROM {db}.{table}");
            for row in self.select(&context, &sql).await? {
                let partition =
                    row.get("month")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| StoreError::Decode {
                            context: context.clone(),
                            message: format!("no month in {row}"),
                        })? as u32;
                let statement = retention::drop_statement(&self.layout, db, table, partition);
                tracing::info!(table = %table, partition, "dropping a month past retention");
                self.execute(&first_line(&statement), &statement).await?;
                dropped.push((table.clone(), partition));
            }
        }
        Ok(dropped)
    }

    /// Applies one step of a migration. Columns are added only if missing; when the
    /// `ALTER` fails because a concurrent `ccx migrate` added them meanwhile, that is success.
    async fn apply(&self, migration: &Migration, step: &schema::Step) -> Result<(), StoreError> {
        let context = |statement: &str| {
            format!(
                "migration {} {}: {}",
                migration.version,
                migration.name,
                first_line(statement)
            )
        };
        match step {
            schema::Step::Sql(statement) => {
                self.execute(&context(statement), statement).await?;
            }
            schema::Step::AddColumns(add) => {
                let Some(statement) = add.statement(&self.column_names(add).await?) else {
                    return Ok(());
                };
                if let Err(e) = self.execute(&context(&statement), &statement).await {
                    if add.statement(&self.column_names(add).await?).is_some() {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    async fn column_names(&self, add: &schema::AddColumns) -> Result<Vec<String>, StoreError> {
        let context = format!(
            "SELECT FROM system.columns of {}.{}",
            add.database, add.table
        );
        let rows = self.select(&context, &add.existing_columns_query()).await?;
        Ok(rows
            .iter()
            .filter_map(|row| row.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    /// Writes every table of the batch (concurrently) and returns once ClickHouse acknowledged
    /// every insert. On error some tables may have been written: writing the batch again is
    /// harmless (same keys, same version).
    pub async fn write(&self, batch: &RowBatch) -> Result<(), StoreError> {
        let inserts = batch.inserts(&self.database);
        futures::future::try_join_all(inserts.into_iter().map(|insert| self.insert(insert)))
            .await?;
        Ok(())
    }

    /// The newest version of every row of the queue, agent, reason, agent-state, quality and
    /// alert tables (of one tenant, or all), all-zero rows dropped, alerts sorted.
    pub async fn read_final(&self, tenant: Option<&str>) -> Result<FinalRows, StoreError> {
        self.read_final_where(&RowFilter {
            tenant,
            between_ms: None,
        })
        .await
    }

    /// [`Store::read_final`] of the rows `filter` selects.
    pub async fn read_final_where(&self, filter: &RowFilter<'_>) -> Result<FinalRows, StoreError> {
        let selects = codec::final_selects(&self.database, filter);
        let answers = futures::future::try_join_all(selects.iter().map(|(table, sql)| {
            let context = format!("SELECT … FROM {}.{table} FINAL", self.database);
            async move { self.select(&context, sql).await }
        }))
        .await?;
        let answers: [Vec<Value>; codec::FINAL_TABLES] =
            answers.try_into().map_err(|_| StoreError::Decode {
                context: "read_final".into(),
                message: "missing answers".into(),
            })?;
        codec::assemble_final(&answers)
    }

    /// The newest version of every row of the queue, agent and reason rollups of `grain`
    /// (migration 8) that `filter` selects (by `window_start`), all-zero rows dropped.
    pub async fn read_rollups(
        &self,
        grain: schema::Grain,
        filter: &RowFilter<'_>,
    ) -> Result<RollupRows, StoreError> {
        let selects = codec::rollup_selects(&self.database, grain, filter);
        let answers = futures::future::try_join_all(selects.iter().map(|(table, sql)| {
            let context = format!("SELECT … FROM {}.{table} FINAL", self.database);
            async move { self.select(&context, sql).await }
        }))
        .await?;
        let answers: [Vec<Value>; 3] = answers.try_into().map_err(|_| StoreError::Decode {
            context: "read_rollups".into(),
            message: "missing answers".into(),
        })?;
        codec::assemble_rollups(grain, &answers)
    }

    /// The stored events (`events … FINAL`) of `tenant` from `since_ms` on, with each
    /// agent's newest state change before it, oldest first.
    pub async fn read_events(&self, tenant: &str, since_ms: i64) -> Result<Vec<Event>, StoreError> {
        let context = format!("SELECT … FROM {}.events FINAL", self.database);
        let answer = self
            .select(
                &context,
                &codec::events_select(&self.database, tenant, since_ms),
            )
            .await?;
        codec::assemble_events(&answer)
    }

    /// The watermark up to which the stream wrote `tenant`'s rows, if it wrote any.
    pub async fn tenant_watermark(&self, tenant: &str) -> Result<Option<i64>, StoreError> {
        let context = format!("SELECT … FROM {}.tenant_progress FINAL", self.database);
        let sql = format!(
            "SELECT watermark_ms FROM {}.tenant_progress FINAL WHERE tenant_id = {}",
            self.database,
            quote(tenant)
        );
        let answer = self.select(&context, &sql).await?;
        codec::assemble_watermark(&answer)
    }

    /// Records in `backfills` that `tenant`'s minutes were recomputed with the late events
    /// counted in them: `(minute ms, late events covered)`.
    pub async fn record_backfill(
        &self,
        tenant: &str,
        covered: &[(i64, u64)],
        at_ms: i64,
        version: u64,
    ) -> Result<(), StoreError> {
        for insert in codec::backfill_insert(&self.database, tenant, covered, at_ms, version) {
            self.insert(insert).await?;
        }
        Ok(())
    }

    /// The newest `queue_now` rows of a tenant, sorted by queue and channel.
    pub async fn read_queue_now(&self, tenant: &str) -> Result<Vec<QueueNow>, StoreError> {
        let context = format!("SELECT … FROM {}.queue_now FINAL", self.database);
        let answer = self
            .select(&context, &codec::queue_now_select(&self.database, tenant))
            .await?;
        codec::assemble_queue_now(&answer)
    }

    /// The `staffing_15m` rows of a tenant, by interval, queue, channel and direction.
    pub async fn read_staffing(
        &self,
        tenant: &str,
    ) -> Result<Vec<(QueueKey, StaffingRow)>, StoreError> {
        let context = format!("SELECT … FROM {}.staffing_15m FINAL", self.database);
        let answer = self
            .select(&context, &codec::staffing_select(&self.database, tenant))
            .await?;
        codec::assemble_staffing(&answer)
    }

    /// The newest `agent_now` rows of a tenant, sorted by agent.
    pub async fn read_agent_now(&self, tenant: &str) -> Result<Vec<AgentNow>, StoreError> {
        let context = format!("SELECT … FROM {}.agent_now FINAL", self.database);
        let answer = self
            .select(
                &context,
                &codec::agent_now_select(&self.database, tenant, None),
            )
            .await?;
        codec::assemble_agent_now(&answer)
    }

    /// The newest `agent_now` rows of the `n` agents of a tenant longest in their state
    /// (earliest `state_since`, then by agent), in that order.
    pub async fn read_agent_now_longest_in_state(
        &self,
        tenant: &str,
        n: usize,
    ) -> Result<Vec<AgentNow>, StoreError> {
        let context = format!("SELECT … FROM {}.agent_now FINAL", self.database);
        let sql = codec::agent_now_select(&self.database, tenant, Some(n));
        codec::assemble_agent_now(&self.select(&context, &sql).await?)
    }

    /// Writes alert transitions into `alert_events` (SPEC §7.5). Writing the same transitions
    /// again is harmless: a transition's version is its own time.
    pub async fn write_alert_events(&self, events: &[AlertEvent]) -> Result<(), StoreError> {
        match alert_events::insert(&self.database, events) {
            Some(insert) => self.insert(insert).await,
            None => Ok(()),
        }
    }

    /// `tenant`'s alert transitions (`alert_events … FINAL`), by alert id and time.
    pub async fn read_alert_events(&self, tenant: &str) -> Result<Vec<AlertEvent>, StoreError> {
        let context = format!("SELECT … FROM {}.alert_events FINAL", self.database);
        let answer = self
            .select(&context, &alert_events::select(&self.database, tenant))
            .await?;
        alert_events::assemble(&answer)
    }

    /// Runs a query and returns its rows as JSON objects (64-bit integers as numbers). Name
    /// tables with their database (`ccx.queue_kpis_1m`); a query without a `FORMAT` clause
    /// is answered as `JSONEachRow`.
    pub async fn query_json(&self, sql: &str) -> Result<Vec<Value>, StoreError> {
        let sql = sql.trim().trim_end_matches(';');
        let context = first_line(sql);
        let params = [
            ("wait_end_of_query", "1"),
            ("default_format", "JSONEachRow"),
            ("output_format_json_quote_64bit_integers", "0"),
        ];
        let answer = self.send(&context, &params, sql.to_string().into()).await?;
        parse_json_lines(&context, &answer)
    }
}

fn first_line(sql: &str) -> String {
    let line = sql.lines().next().unwrap_or_default().trim();
    let mut short: String = line.chars().take(120).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

fn parse_json_lines(context: &str, answer: &str) -> Result<Vec<Value>, StoreError> {
    answer
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).map_err(|e| StoreError::Decode {
                context: context.to_string(),
                message: format!("{e} in {line:?}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(quote("a'b\\c"), r"'a\'b\\c'");
    }

    #[test]
    fn empty_batches_are_empty() {
        let mut batch = RowBatch::default();
        assert!(batch.is_empty());
        assert!(batch.inserts("ccx").is_empty());
        batch.queue_now.push(QueueNow {
            tenant_id: "t".into(),
            queue_id: "q".into(),
            channel: "CHAT".into(),
            waiting: 0,
            longest_wait_ms: 0,
            agents_needed: None,
            as_of: 0,
        });
        assert!(!batch.is_empty());
    }
}

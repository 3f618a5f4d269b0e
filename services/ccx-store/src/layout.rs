//! Where the schema's tables live: on one server (the statements of [`crate::schema`] as
//! they are), or on a ClickHouse cluster, where each statement becomes its `ON CLUSTER`
//! counterpart. The treatment is generic over the migration list: a table added by a later
//! migration is laid out like the others because it is written like them.
//!
//! **Cluster layout.** A table `<t>` of the schema becomes
//! - `<t>_local` on every server: `ReplicatedReplacingMergeTree` with the ZooKeeper path
//!   `/clickhouse/tables/{shard}/<db>/<t>` and replica `{replica}` (plain
//!   `ReplacingMergeTree` when replication is off), same columns, partitions and key;
//! - `<t>`: a `Distributed` table over the `<t>_local` tables, sharded by
//!   `cityHash64(tenant_id)`, so every row of a tenant is on one shard.
//!
//! Readers and writers keep using `<t>` (views included). A key lives on one shard, so a
//! `FINAL` that each shard computes over its own rows is the `FINAL` of the whole table, and
//! the highest version wins as on one server. Writes go through `<t>` with
//! `insert_distributed_sync = 1`: ClickHouse answers once every shard's part is written to one
//! of its replicas (replication copies it to the others), so an acknowledged batch is stored
//! and a rewritten batch (same keys, same version) is harmless. Tables without a tenant (the
//! migrations record) are sharded by `rand()`; reads of them see every shard.

use ccx_config::ClickHouseConfig;

use crate::schema::{AddColumns, Step};

/// The layout of the schema's tables, from `[clickhouse]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Every table on the one server (the default).
    Single,
    /// Local tables on every server of `cluster`, a `Distributed` table over them.
    Cluster { cluster: String, replicated: bool },
}

/// The suffix of a table's local part in the cluster layout.
pub const LOCAL: &str = "_local";

/// The sharding key of a table with tenants: a tenant's rows are on one shard.
const BY_TENANT: &str = "cityHash64(tenant_id)";

/// The `Distributed` table `<db>.<table>` over the `<table>_local` tables of `cluster`.
fn distributed(cluster: &str, db: &str, table: &str, shard_by: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} AS {db}.{table}{LOCAL}\n\
         ENGINE = Distributed({cluster}, {db}, {table}{LOCAL}, {shard_by})"
    )
}

impl Layout {
    pub fn of(config: &ClickHouseConfig) -> Layout {
        match &config.cluster {
            None => Layout::Single,
            Some(c) => Layout::Cluster {
                cluster: c.name.clone(),
                replicated: c.replicated,
            },
        }
    }

    /// The steps that carry out `step` in this layout.
    pub fn steps(&self, step: &Step) -> Vec<Step> {
        match (self, step) {
            (Layout::Single, _) => vec![step.clone()],
            (Layout::Cluster { .. }, Step::Sql(sql)) => {
                self.statements(sql).into_iter().map(Step::Sql).collect()
            }
            (Layout::Cluster { cluster, .. }, Step::AddColumns(add)) => {
                let db = &add.database;
                let table = &add.table;
                // 18.16 refuses `ALTER … ON CLUSTER` of a Distributed table on a cluster with
                // internal replication; it holds no rows (inserts are synchronous), so it is
                // created again over the altered local tables.
                vec![
                    Step::AddColumns(AddColumns {
                        table: format!("{table}{LOCAL}"),
                        on_cluster: Some(cluster.clone()),
                        ..add.clone()
                    }),
                    Step::Sql(format!(
                        "DROP TABLE IF EXISTS {db}.{table} ON CLUSTER {cluster}"
                    )),
                    Step::Sql(distributed(cluster, db, table, BY_TENANT)),
                ]
            }
        }
    }

    /// The statements that carry out `sql` (one of the statement shapes the schema writes).
    /// Panics on another shape: the schema's unit tests lay out every statement it has.
    pub fn statements(&self, sql: &str) -> Vec<String> {
        let Layout::Cluster {
            cluster,
            replicated,
        } = self
        else {
            return vec![sql.to_string()];
        };
        let on = format!(" ON CLUSTER {cluster}");
        if let Some(db) = sql.strip_prefix("CREATE DATABASE IF NOT EXISTS ") {
            return vec![format!("CREATE DATABASE IF NOT EXISTS {db}{on}")];
        }
        if let Some(rest) = sql.strip_prefix("DROP TABLE IF EXISTS ") {
            return vec![format!("DROP TABLE IF EXISTS {rest}{on}")];
        }
        if let Some(rest) = sql.strip_prefix("CREATE VIEW IF NOT EXISTS ") {
            let (name, query) = rest.split_once(" AS").expect("CREATE VIEW … AS");
            return vec![format!("CREATE VIEW IF NOT EXISTS {name}{on} AS{query}")];
        }
        let rest = sql
            .strip_prefix("CREATE TABLE IF NOT EXISTS ")
            .unwrap_or_else(|| panic!("no cluster layout for {sql}"));
        let (name, definition) = rest.split_once(" (").expect("CREATE TABLE … (");
        let (db, table) = name.split_once('.').expect("database.table");
        let (columns, engine) = definition
            .split_once(") ENGINE = ")
            .expect("CREATE TABLE … ENGINE");
        let (engine_name, engine_rest) = engine.split_once('(').expect("ENGINE = Name(…)");
        let engine = if *replicated {
            let args = engine_rest
                .strip_prefix(')')
                .map_or_else(|| format!(", {engine_rest}"), |after| format!("){after}"));
            format!(
                "Replicated{engine_name}('/clickhouse/tables/{{shard}}/{db}/{table}', \
                 '{{replica}}'{args}"
            )
        } else {
            engine.to_string()
        };
        let shard_by = if columns.contains("tenant_id String") {
            "cityHash64(tenant_id)"
        } else {
            "rand()"
        };
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{table}{LOCAL}{on} ({columns}) ENGINE = {engine}"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{table}{on} AS {db}.{table}{LOCAL}\n\
                 ENGINE = Distributed({cluster}, {db}, {table}{LOCAL}, {shard_by})"
            ),
        ]
    }

    /// The table whose partitions hold `table`'s rows (what `ALTER … DROP PARTITION` names)
    /// and the `ON CLUSTER` clause such statements carry.
    pub fn storage(&self, table: &str) -> (String, String) {
        match self {
            Layout::Single => (table.to_string(), String::new()),
            Layout::Cluster { cluster, .. } => {
                (format!("{table}{LOCAL}"), format!(" ON CLUSTER {cluster}"))
            }
        }
    }

    /// Settings each `INSERT` carries in this layout.
    pub fn insert_settings(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            Layout::Single => &[],
            // Answer only once every shard stored its rows (see the module docs).
            Layout::Cluster { .. } => &[("insert_distributed_sync", "1")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{bootstrap, migrations, TABLES};

    fn cluster(replicated: bool) -> Layout {
        Layout::Cluster {
            cluster: "ccx_cluster".into(),
            replicated,
        }
    }

    #[test]
    fn one_server_keeps_every_statement() {
        for m in migrations("ccx") {
            for step in &m.steps {
                assert_eq!(Layout::Single.steps(step), vec![step.clone()]);
            }
        }
    }

    #[test]
    fn every_table_gets_replicated_local_tables_and_a_distributed_one() {
        let layout = cluster(true);
        let mut statements: Vec<String> = bootstrap("ccx")
            .iter()
            .flat_map(|s| layout.statements(s))
            .collect();
        for m in migrations("ccx") {
            for step in &m.steps {
                statements.extend(
                    layout
                        .steps(step)
                        .iter()
                        .filter_map(|s| s.sql().map(String::from)),
                );
            }
        }
        assert!(statements
            .iter()
            .all(|s| s.contains(" ON CLUSTER ccx_cluster")));
        assert_eq!(
            statements[0],
            "CREATE DATABASE IF NOT EXISTS ccx ON CLUSTER ccx_cluster"
        );
        assert!(statements[1].starts_with(
            "CREATE TABLE IF NOT EXISTS ccx.schema_migrations_local ON CLUSTER ccx_cluster ("
        ));
        assert!(statements[1].contains(
            "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ccx/schema_migrations', '{replica}')\n"
        ));
        assert!(statements[2]
            .ends_with("Distributed(ccx_cluster, ccx, schema_migrations_local, rand())"));
        for table in TABLES {
            let local = statements
                .iter()
                .find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS ccx.{table}_local ")))
                .unwrap_or_else(|| panic!("{table}_local"));
            assert!(
                local.contains(&format!(
                    "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/ccx/{table}', '{{replica}}', version)\n"
                )),
                "{local}"
            );
            let distributed = format!(
                "CREATE TABLE IF NOT EXISTS ccx.{table} ON CLUSTER ccx_cluster AS ccx.{table}_local\n\
                 ENGINE = Distributed(ccx_cluster, ccx, {table}_local, cityHash64(tenant_id))"
            );
            assert!(statements.contains(&distributed), "{distributed}");
        }
        assert!(statements.iter().any(|s| s.starts_with(
            "CREATE VIEW IF NOT EXISTS ccx.queue_kpis_1m ON CLUSTER ccx_cluster AS\n"
        )));
        assert!(statements.contains(
            &"DROP TABLE IF EXISTS ccx.queue_kpis_1m ON CLUSTER ccx_cluster".to_string()
        ));
    }

    #[test]
    fn without_replication_the_engine_stays() {
        let statements = cluster(false).statements(&bootstrap("db")[1]);
        assert!(
            statements[0].contains("ENGINE = ReplacingMergeTree()\n"),
            "{}",
            statements[0]
        );
    }

    #[test]
    fn columns_are_added_to_the_local_tables_and_the_distributed_one_follows() {
        let m4 = &migrations("db")[3];
        let steps = cluster(true).steps(&m4.steps[0]);
        let sql: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::AddColumns(add) => add.statement(&[]).unwrap(),
                Step::Sql(sql) => sql.clone(),
            })
            .collect();
        assert!(
            sql[0].starts_with("ALTER TABLE db.queue_metrics_1m_local ON CLUSTER ccx_cluster\n")
        );
        assert_eq!(
            sql[1],
            "DROP TABLE IF EXISTS db.queue_metrics_1m ON CLUSTER ccx_cluster"
        );
        assert!(sql[2].starts_with(
            "CREATE TABLE IF NOT EXISTS db.queue_metrics_1m ON CLUSTER ccx_cluster \
             AS db.queue_metrics_1m_local\nENGINE = Distributed(ccx_cluster, db, queue_metrics_1m_local, cityHash64(tenant_id))"
        ));
        let Step::AddColumns(local) = &steps[0] else {
            panic!()
        };
        assert!(local
            .existing_columns_query()
            .contains("table = 'queue_metrics_1m_local'"));
    }
}

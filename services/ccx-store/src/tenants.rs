//! Read-side isolation of tenants: one database per tenant, `<db>_t_<tenant>`, that holds only
//! that tenant's rows, for a ClickHouse user (Grafana's datasource of that tenant) allowed to
//! read that database alone.
//!
//! Why copies and not filters (docs/operations.md, "Read-side isolation"): ClickHouse 18.16
//! ignores `users.xml` row filters, has no row policies, and checks a view's source database
//! against the reading user, so neither a filter nor a view can limit a user to some rows. A
//! materialized view is read from its own storage, in its own database; it is the strongest
//! isolation both 18.16 and current releases give. Each table of the analytics database has a
//! materialized view in the tenant's database with the same engine and key, filled by every
//! insert with the tenant's rows and, once at creation, with the rows already stored
//! (`POPULATE`). The KPI views are created over those copies from the same definitions as the
//! analytics database's, so `… FINAL` and every view answer as they do there.
//!
//! The copies name their columns: a column a later migration adds reaches a tenant's database
//! when it is built again ([`statements`] with `rebuild`), never breaks writes meanwhile.

use crate::quote;
use crate::schema::{self, Step, TABLES, VIEWS};

/// The tenant's read database (quote it with [`ident`] in SQL).
pub fn tenant_database(db: &str, tenant: &str) -> String {
    format!("{db}_t_{tenant}")
}

/// A ClickHouse identifier in backquotes (tenant ids may hold '-').
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// A table of the analytics database as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub name: String,
    /// `system.tables.engine_full`: engine, key, partitioning and settings.
    pub engine_full: String,
    /// Column names, in order.
    pub columns: Vec<String>,
}

/// The tables copied into a tenant's database: every table of the schema.
pub fn copied_tables() -> impl Iterator<Item = &'static str> {
    TABLES.iter().copied()
}

/// The statements that (re)build `tenant`'s read database from the shapes of the analytics
/// database `db`'s tables: the database, one materialized view per table, the KPI views.
/// Without `rebuild`, what exists is kept (a second run changes nothing); with it, the
/// tenant's database is dropped first and filled again from the stored rows.
pub fn statements(db: &str, tenant: &str, shapes: &[TableShape], rebuild: bool) -> Vec<String> {
    let tdb = ident(&tenant_database(db, tenant));
    let mut out = Vec::new();
    if rebuild {
        out.push(format!("DROP DATABASE IF EXISTS {tdb}"));
    }
    out.push(format!("CREATE DATABASE IF NOT EXISTS {tdb}"));
    for shape in shapes {
        let columns = shape
            .columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {tdb}.{table} ENGINE = {engine} POPULATE AS \
             SELECT {columns} FROM {db}.{table} WHERE tenant_id = {tenant}",
            table = shape.name,
            engine = shape.engine_full,
            tenant = quote(tenant),
        ));
    }
    out.extend(kpi_views(&tdb));
    out
}

/// The current definition of each KPI view, over the tables of database `db` (the last
/// `CREATE VIEW` of each in the migrations: one definition, the analytics database's).
pub fn kpi_views(db: &str) -> Vec<String> {
    let created: Vec<String> = schema::migrations(db)
        .into_iter()
        .flat_map(|m| m.steps)
        .filter_map(|step| match step {
            Step::Sql(sql) => Some(sql),
            Step::AddColumns(_) => None,
        })
        .collect();
    VIEWS
        .iter()
        .filter_map(|view| {
            let head = format!("CREATE VIEW IF NOT EXISTS {db}.{view} ");
            created.iter().rev().find(|s| s.starts_with(&head)).cloned()
        })
        .collect()
}

/// The users.xml entry of a tenant's read user on ClickHouse 18.16 (and later releases that
/// read users.xml): read only, that database only.
pub fn users_xml(db: &str, tenant: &str, user: &str, password_sha256: &str) -> String {
    let tdb = tenant_database(db, tenant);
    format!(
        "<{user}>\n  <password_sha256_hex>{password_sha256}</password_sha256_hex>\n  \
         <networks><ip>::/0</ip></networks>\n  <profile>ccx_tenant_read</profile>\n  \
         <quota>default</quota>\n  <allow_databases><database>{tdb}</database></allow_databases>\n\
         </{user}>"
    )
}

/// The profile every tenant read user has: read only (settings may change, data may not).
pub const READ_PROFILE_XML: &str =
    "<ccx_tenant_read>\n  <readonly>2</readonly>\n</ccx_tenant_read>";

/// The grant of that user with SQL access control (current releases; the user is created
/// with its password first: `CREATE USER … IDENTIFIED WITH sha256_password BY …`).
pub fn grant_sql(db: &str, tenant: &str, user: &str) -> String {
    format!(
        "GRANT SELECT ON {}.* TO {}",
        ident(&tenant_database(db, tenant)),
        ident(user)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_database_copies_every_table_and_view_of_its_tenant() {
        let shapes = [TableShape {
            name: "events".into(),
            engine_full: "ReplacingMergeTree(version) ORDER BY (tenant_id, event_id)".into(),
            columns: vec!["tenant_id".into(), "event_id".into(), "version".into()],
        }];
        let sql = statements("ccx", "brand-a", &shapes, false);
        assert_eq!(sql[0], "CREATE DATABASE IF NOT EXISTS `ccx_t_brand-a`");
        assert_eq!(
            sql[1],
            "CREATE MATERIALIZED VIEW IF NOT EXISTS `ccx_t_brand-a`.events ENGINE = \
             ReplacingMergeTree(version) ORDER BY (tenant_id, event_id) POPULATE AS SELECT \
             `tenant_id`, `event_id`, `version` FROM ccx.events WHERE tenant_id = 'brand-a'"
        );
        let views = &sql[2..];
        assert_eq!(views.len(), VIEWS.len());
        for (view, name) in views.iter().zip(VIEWS) {
            assert!(
                view.starts_with(&format!(
                    "CREATE VIEW IF NOT EXISTS `ccx_t_brand-a`.{name} "
                )),
                "{view}"
            );
            assert!(
                !view.contains("ccx."),
                "reads the tenant's copies only: {view}"
            );
        }
        let rebuilt = statements("ccx", "brand-a", &shapes, true);
        assert_eq!(rebuilt[0], "DROP DATABASE IF EXISTS `ccx_t_brand-a`");
    }
}

//! Retention: how long each table keeps its rows (`[clickhouse] retention_days`).
//!
//! Table `TTL` came with ClickHouse 19.6, after the 18.16 ccx supports, and `ALTER … DELETE`
//! rewrites every part it touches. What both do cheaply is `ALTER TABLE … DROP PARTITION`:
//! the tables are partitioned by month, and a month is dropped whole once its last day is
//! more than the table's retention old. A row so lives between its retention and one month
//! more. The months to drop are read from the table itself (`WHERE column < the cutoff`
//! reads only the old partitions), so a cluster's shards are all seen through the
//! `Distributed` table; the drop goes to the local tables `ON CLUSTER`.

use ccx_config::ClickHouseConfig;

use crate::layout::Layout;
use crate::schema::monthly_tables;
use crate::StoreError;

/// `(table, days)` of `config.retention_days`, each checked to be a table partitioned by
/// month.
pub fn tables(config: &ClickHouseConfig) -> Result<Vec<(String, u32)>, StoreError> {
    let monthly = monthly_tables();
    config
        .retention_days
        .iter()
        .map(|(table, days)| {
            if monthly.iter().any(|(t, _)| t == table) {
                Ok((table.clone(), *days))
            } else {
                let known: Vec<&str> = monthly.iter().map(|(t, _)| t.as_str()).collect();
                Err(StoreError::Config(format!(
                    "clickhouse.retention_days.{table}: not a table partitioned by month \
                     (one of {})",
                    known.join(", ")
                )))
            }
        })
        .collect()
}

/// The `(year, month)` of a day counted from 1970-01-01 (proleptic Gregorian calendar).
fn year_month(days: i64) -> (i64, u32) {
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// Days from 1970-01-01 to the first day of `(year, month)`.
fn first_day(year: i64, month: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of the first instant of the month that holds `now − days`: every month
/// wholly before it is past its retention.
pub fn cutoff(now_ms: i64, days: u32) -> i64 {
    let day = now_ms.div_euclid(86_400_000) - i64::from(days);
    let (year, month) = year_month(day);
    first_day(year, month) * 86_400
}

/// The query whose answer (`month` per row) lists the months of `table` before `cutoff`.
pub fn partitions_query(db: &str, table: &str, column: &str, cutoff: i64) -> String {
    format!(
        "SELECT DISTINCT toYYYYMM({column}) AS month FROM {db}.{table} \
         WHERE {column} < toDateTime({cutoff}) ORDER BY month"
    )
}

/// The statement that drops month `partition` (YYYYMM) of `table`.
pub fn drop_statement(layout: &Layout, db: &str, table: &str, partition: u32) -> String {
    let (storage, on) = layout.storage(table);
    format!("ALTER TABLE {db}.{storage}{on} DROP PARTITION {partition}")
}

/// The partitioned column of `table`.
pub fn column(table: &str) -> String {
    monthly_tables()
        .into_iter()
        .find(|(t, _)| t == table)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("{table} is not partitioned by month"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_months() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(first_day(1970, 1), 0);
        // 2024-02-29 is day 19782; March 1st follows it.
        assert_eq!(year_month(19_782), (2024, 2));
        assert_eq!(first_day(2024, 3), 19_783);
        for day in [-800, 0, 59, 11_016, 19_782, 20_000, 40_000] {
            let (y, m) = year_month(day);
            assert!(
                first_day(y, m) <= day && day - first_day(y, m) < 31,
                "{day}"
            );
        }
    }

    #[test]
    fn a_month_goes_once_its_last_day_is_past_retention() {
        // 2024-05-10 12:00 UTC; 30 days earlier is 2024-04-10: March and before are past.
        let now_ms = 1_715_342_400_000;
        assert_eq!(cutoff(now_ms, 30), 1_711_929_600); // 2024-04-01 00:00 UTC
        assert_eq!(cutoff(now_ms, 1), 1_714_521_600); // 2024-05-01
        let sql = partitions_query("ccx", "events", "occurred_at", 1_711_929_600);
        assert!(
            sql.contains("WHERE occurred_at < toDateTime(1711929600)"),
            "{sql}"
        );
    }

    #[test]
    fn drops_name_the_storage_table() {
        assert_eq!(
            drop_statement(&Layout::Single, "ccx", "events", 202403),
            "ALTER TABLE ccx.events DROP PARTITION 202403"
        );
        let cluster = Layout::Cluster {
            cluster: "c".into(),
            replicated: true,
        };
        assert_eq!(
            drop_statement(&cluster, "ccx", "events", 202403),
            "ALTER TABLE ccx.events_local ON CLUSTER c DROP PARTITION 202403"
        );
    }

    #[test]
    fn only_monthly_tables_have_a_retention() {
        let mut config = ClickHouseConfig::default();
        assert_eq!(tables(&config).unwrap().len(), config.retention_days.len());
        config.retention_days.insert("queue_now".into(), 3);
        let err = tables(&config).unwrap_err().to_string();
        assert!(
            err.contains("clickhouse.retention_days.queue_now: not a table partitioned by month"),
            "{err}"
        );
    }
}

//! The ClickHouse source: `… FINAL` reads through [`ccx_store::Store`], always filtered by
//! tenant, literals quoted by the store's quoting. One query per minute table sums each
//! component over every range at once (`sumIf`, which ClickHouse 18.16 has too). Agents are
//! counted in ClickHouse, and only the listed ones are read row by row, so a refresh ships
//! about the same for any size of floor.

use std::collections::BTreeSet;
use std::time::Duration;

use ccx_model::rows::{AgentNow, Components, StateTimes, AGENT_COLUMNS, QUEUE_COLUMNS};
use ccx_store::{quote, Store};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::reused::Reused;
use crate::source::{Floor, RowSource, Snapshot, SourceError, Starts, Sums, AGENTS_LISTED, RANGES};

const STATE_COLUMNS: [&str; 4] = ["available_ms", "busy_ms", "acw_state_ms", "break_ms"];

/// How long a tenant's minute-table sums are reused. The sums over 15 min, 60 min and today
/// move with the watermark and cost a `FINAL` over the day's rows, which at every refresh would
/// compete with the stream's writes (docs/benchmarks.md, "Live floor").
const SUMS_REUSED_FOR: Duration = Duration::from_secs(2);

/// How long a tenant's agents (counted, and the longest in their state) are reused: two scans
/// of every agent of the tenant, which on a floor of hundreds of thousands of agents cost more
/// than everything else a refresh reads. `queue_now` is read at every refresh.
const AGENTS_REUSED_FOR: Duration = Duration::from_millis(750);

/// The listed agents' rows and the tenant's agents counted.
type Agents = (Vec<AgentNow>, Floor);

/// Reads a ClickHouse database written by the stream.
#[derive(Clone)]
pub struct ClickHouseSource {
    store: Store,
    sums: Reused<Starts, Snapshot>,
    agents: Reused<(), Agents>,
}

impl ClickHouseSource {
    pub fn new(store: Store) -> ClickHouseSource {
        ClickHouseSource {
            store,
            sums: Reused::new(SUMS_REUSED_FOR),
            agents: Reused::new(AGENTS_REUSED_FOR),
        }
    }

    async fn read(&self, tenant: &str, starts: &Starts) -> Result<Snapshot, SourceError> {
        let store_error = |e: ccx_store::StoreError| SourceError(e.to_string());
        let (queue_now, (agent_now, floor)) = futures::try_join!(
            async { self.store.read_queue_now(tenant).await.map_err(store_error) },
            self.read_agents(tenant),
        )?;
        let listed: BTreeSet<String> = agent_now.iter().map(|a| a.agent_id.clone()).collect();
        let mut out = match self.sums.get(tenant, starts) {
            Some(sums) => sums,
            None => {
                let sums = self.read_sums(tenant, starts, &listed).await?;
                self.sums.put(tenant, *starts, sums.clone());
                sums
            }
        };
        // Sums reused from a moment ago may lack an agent listed since: the page shows that
        // agent's figures as not read yet, until the next read.
        out.agents.retain(|id, _| listed.contains(id));
        out.queue_now = queue_now;
        out.agent_now = agent_now;
        out.floor = floor;
        Ok(out)
    }

    async fn read_agents(&self, tenant: &str) -> Result<Agents, SourceError> {
        if let Some(agents) = self.agents.get(tenant, &()) {
            return Ok(agents);
        }
        let agents = futures::try_join!(
            async {
                (self.store)
                    .read_agent_now_longest_in_state(tenant, AGENTS_LISTED)
                    .await
                    .map_err(|e| SourceError(e.to_string()))
            },
            self.read_floor(tenant),
        )?;
        self.agents.put(tenant, (), agents.clone());
        Ok(agents)
    }

    /// The tenant's agents counted by state, and by queue those on a contact.
    async fn read_floor(&self, tenant: &str) -> Result<Floor, SourceError> {
        let rows = (self.store)
            .query_json(&floor_sql(self.store.database(), tenant))
            .await
            .map_err(|e| SourceError(e.to_string()))?;
        let mut floor = Floor::default();
        for row in &rows {
            let text = |c: &str| {
                row.get(c)
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad(format!("no {c} in {row}")))
            };
            let number = |c: &str| {
                row.get(c)
                    .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                    .ok_or_else(|| bad(format!("no {c} in {row}")))
            };
            let agents = number("agents")? as u32;
            *floor.states.entry(text("state")?.to_string()).or_default() += agents;
            if number("on_contact")? != 0 {
                *floor
                    .on_queue
                    .entry(text("on_queue")?.to_string())
                    .or_default() += agents;
            }
            floor.as_of = floor.as_of.max(Some(number("as_of")?));
        }
        Ok(floor)
    }

    /// The minute tables summed over each range; agents' sums for the `listed` agents only.
    async fn read_sums(
        &self,
        tenant: &str,
        starts: &Starts,
        listed: &BTreeSet<String>,
    ) -> Result<Snapshot, SourceError> {
        let db = self.store.database();
        let queue_sql = sums_sql(
            db,
            "queue_metrics_1m",
            Some(("queue_id", None)),
            QUEUE_COLUMNS,
            tenant,
            starts,
        );
        let agent_sql = sums_sql(
            db,
            "agent_metrics_1m",
            Some(("agent_id", Some(listed))),
            AGENT_COLUMNS,
            tenant,
            starts,
        );
        let state_sql = sums_sql(db, "agent_state_1m", None, &STATE_COLUMNS, tenant, starts);
        let (queues, agents, state) = futures::try_join!(
            self.store.query_json(&queue_sql),
            async {
                if listed.is_empty() {
                    Ok(Vec::new())
                } else {
                    self.store.query_json(&agent_sql).await
                }
            },
            self.store.query_json(&state_sql),
        )
        .map_err(|e| SourceError(e.to_string()))?;
        let mut out = Snapshot::default();
        for row in &queues {
            out.queues
                .insert(key(row)?, components(row, QUEUE_COLUMNS)?);
        }
        for row in &agents {
            out.agents
                .insert(key(row)?, components(row, AGENT_COLUMNS)?);
        }
        // Every listed agent is read: one without rows has handled nothing in the ranges.
        for id in listed {
            out.agents.entry(id.clone()).or_default();
        }
        if let Some(row) = state.first() {
            let values = values(row, &STATE_COLUMNS)?;
            for (r, sum) in out.state.iter_mut().enumerate() {
                *sum = StateTimes {
                    available_ms: values[r][0] as u64,
                    busy_ms: values[r][1] as u64,
                    acw_state_ms: values[r][2] as u64,
                    break_ms: values[r][3] as u64,
                };
            }
        }
        Ok(out)
    }
}

/// `SELECT <key> AS k, sumIf(<c>, <in range r>) AS <c>_<r>, … FROM <db>.<table> FINAL WHERE
/// tenant_id = … AND <in the earliest range> [AND <key> IN (<only>)] GROUP BY k`; without a
/// key, one row of sums (zeros when no row matched).
fn sums_sql(
    db: &str,
    table: &str,
    key: Option<(&str, Option<&BTreeSet<String>>)>,
    columns: &[&str],
    tenant: &str,
    starts: &Starts,
) -> String {
    let minute = "toUInt64(window_start) * 1000";
    let sums: Vec<String> = columns
        .iter()
        .flat_map(|c| {
            starts
                .iter()
                .enumerate()
                .map(move |(r, start)| format!("sumIf({c}, {minute} >= {start}) AS {c}_{r}"))
        })
        .collect();
    let first = starts.iter().copied().min().unwrap_or(0);
    let (select_key, only, group) = match key {
        Some((key, only)) => (
            format!("{key} AS k, "),
            only.map_or(String::new(), |keys| {
                let keys: Vec<String> = keys.iter().map(|k| quote(k)).collect();
                format!(" AND {key} IN ({})", keys.join(", "))
            }),
            " GROUP BY k ORDER BY k",
        ),
        None => (String::new(), String::new(), ""),
    };
    format!(
        "SELECT {select_key}{} FROM {db}.{table} FINAL WHERE tenant_id = {} AND {minute} >= \
         {first}{only}{group}",
        sums.join(", "),
        quote(tenant)
    )
}

/// The tenant's `agent_now` rows counted by state, whether on a contact (as
/// [`crate::source::on_contact`] decides) and that contact's queue.
fn floor_sql(db: &str, tenant: &str) -> String {
    use ccx_model::AgentState::{AfterContactWork, Busy};
    format!(
        "SELECT state, (state IN ({}, {}) AND contact_id != '') AS on_contact, \
         if(on_contact, queue_id, '') AS on_queue, count() AS agents, max(as_of_ms) AS as_of \
         FROM {db}.agent_now FINAL WHERE tenant_id = {} GROUP BY state, on_contact, on_queue",
        quote(Busy.as_str_name()),
        quote(AfterContactWork.as_str_name()),
        quote(tenant)
    )
}

fn bad(what: String) -> SourceError {
    SourceError(format!("unexpected answer from ClickHouse: {what}"))
}

fn key(row: &Value) -> Result<String, SourceError> {
    row.get("k")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad(format!("no key in {row}")))
}

/// `values[range][column]` of a row of [`sums_sql`].
fn values(row: &Value, columns: &[&str]) -> Result<[Vec<i64>; RANGES], SourceError> {
    let mut out: [Vec<i64>; RANGES] = Default::default();
    for (r, values) in out.iter_mut().enumerate() {
        for c in columns {
            let name = format!("{c}_{r}");
            let v = row.get(&name).ok_or_else(|| bad(format!("no {name}")))?;
            let v = v
                .as_i64()
                .or_else(|| v.as_u64().map(|u| u as i64))
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| bad(format!("{name} = {v}")))?;
            values.push(v);
        }
    }
    Ok(out)
}

fn components(row: &Value, columns: &[&str]) -> Result<Sums<Components>, SourceError> {
    let values = values(row, columns)?;
    Ok(std::array::from_fn(|r| {
        Components::from_columns(columns, &values[r])
    }))
}

impl RowSource for ClickHouseSource {
    fn snapshot<'a>(
        &'a self,
        tenant: &'a str,
        starts: &'a Starts,
    ) -> BoxFuture<'a, Result<Snapshot, SourceError>> {
        Box::pin(self.read(tenant, starts))
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async move {
            self.store
                .query_json("SELECT 1 AS one")
                .await
                .map(|_| ())
                .map_err(|e| SourceError(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_per_range_and_the_tenant_is_quoted() {
        let sql = sums_sql(
            "ccx",
            "agent_state_1m",
            None,
            &["busy_ms"],
            "t'1",
            &[3, 1, 2],
        );
        assert_eq!(
            sql,
            "SELECT sumIf(busy_ms, toUInt64(window_start) * 1000 >= 3) AS busy_ms_0, \
             sumIf(busy_ms, toUInt64(window_start) * 1000 >= 1) AS busy_ms_1, \
             sumIf(busy_ms, toUInt64(window_start) * 1000 >= 2) AS busy_ms_2 \
             FROM ccx.agent_state_1m FINAL WHERE tenant_id = 't\\'1' AND \
             toUInt64(window_start) * 1000 >= 1"
        );
        let sql = sums_sql(
            "ccx",
            "queue_metrics_1m",
            Some(("queue_id", None)),
            &["offered"],
            "t",
            &[1; 3],
        );
        assert!(sql.starts_with("SELECT queue_id AS k, sumIf(offered, "));
        assert!(sql.ends_with(" GROUP BY k ORDER BY k"));
    }
}

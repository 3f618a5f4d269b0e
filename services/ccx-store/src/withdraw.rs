//! Deleting churn alerts a backfill's complete events do not raise. The stream raised them on
//! events that were missing some late ones; their rows go, while the control plane keeps the
//! alert's history (resolved, with the reason) — see `ccx backfill`.

use std::time::{Duration, Instant};

use crate::{quote, Store, StoreError};

/// How long a delete may take to be applied before the call gives up waiting.
const MUTATION_WAIT: Duration = Duration::from_secs(120);

impl Store {
    /// Deletes `tenant`'s `churn_alerts` rows of `alert_ids` (every version) and returns once
    /// ClickHouse has applied the delete, so a read afterwards no longer sees them. The delete
    /// is a mutation (`ALTER … DELETE`, on ClickHouse 18.16 and current releases alike): rare and
    /// heavy, which suits a backfill.
    pub async fn delete_alerts(
        &self,
        tenant: &str,
        alert_ids: &[String],
    ) -> Result<(), StoreError> {
        if alert_ids.is_empty() {
            return Ok(());
        }
        let db = self.database();
        let ids: Vec<String> = alert_ids.iter().map(|id| quote(id)).collect();
        let context = format!("ALTER TABLE {db}.churn_alerts DELETE");
        let sql = format!(
            "ALTER TABLE {db}.churn_alerts DELETE WHERE tenant_id = {} AND alert_id IN ({})",
            quote(tenant),
            ids.join(", ")
        );
        self.execute(&context, &sql).await?;
        let pending = format!(
            "SELECT count() AS n FROM system.mutations WHERE database = {} \
             AND table = 'churn_alerts' AND is_done = 0",
            quote(db)
        );
        let started = Instant::now();
        loop {
            let answer = self
                .select("SELECT … FROM system.mutations", &pending)
                .await?;
            let n = answer
                .first()
                .and_then(|row| row.get("n"))
                .and_then(|n| n.as_u64().or_else(|| n.as_str()?.parse().ok()))
                .unwrap_or(0);
            if n == 0 {
                return Ok(());
            }
            if started.elapsed() > MUTATION_WAIT {
                return Err(StoreError::Decode {
                    context,
                    message: format!(
                        "the delete was not applied within {} s ({n} mutations pending)",
                        MUTATION_WAIT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

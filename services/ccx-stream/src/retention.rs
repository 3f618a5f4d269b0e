//! Keeps `[clickhouse] retention_days`: the first stream process drops the months past each
//! table's retention at start and then every hour (see `ccx_store::retention`).

use std::time::Duration;

use ccx_config::ClickHouseConfig;
use ccx_store::Store;
use tokio_util::sync::CancellationToken;

/// How often the months past retention are looked for: a month becomes due once a month,
/// so an hour late is nothing, and the lookup reads only partitions about to go.
pub const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Applies the retention every `every` until `stop`. A failure is logged and tried again at
/// the next round: rows kept a little longer harm nothing.
pub async fn keep_retention(config: ClickHouseConfig, every: Duration, stop: CancellationToken) {
    if config.retention_days.is_empty() {
        return;
    }
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now_ms = ccx_model::now_ms();
        let result = match Store::connect(&config).await {
            Ok(store) => store.apply_retention(now_ms).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(dropped) if !dropped.is_empty() => {
                tracing::info!(?dropped, "months past retention dropped")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention not applied, trying again later"),
        }
    }
}

//! Following the control plane: the collector (tenant tokens) and the stream (tenant settings)
//! both keep what they apply equal to the configurations the control plane holds.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::client::ControlClient;
use crate::config::StoredConfig;

/// Reads every tenant configuration every `every` and hands the whole set to `apply`, until
/// `stop` is cancelled. A failed read keeps what was applied last (and is logged); a
/// configuration the control plane holds but this version cannot read is skipped with a
/// warning rather than dropping the others.
pub async fn watch_configs(
    client: ControlClient,
    every: Duration,
    stop: CancellationToken,
    mut apply: impl FnMut(Vec<StoredConfig>),
) {
    loop {
        match client.list_configs().await {
            Ok(held) => apply(
                held.iter()
                    .filter_map(|c| match StoredConfig::from_proto(c) {
                        Ok(stored) => Some(stored),
                        Err(e) => {
                            tracing::warn!(tenant = %c.tenant_id, error = %e, "tenant configuration skipped");
                            None
                        }
                    })
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read tenant configurations from the control plane")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

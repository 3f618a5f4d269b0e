//! Tenants and tokens from the control plane: the collector polls every stored tenant
//! configuration and applies the token hashes it holds, on top of the ones of its own config,
//! without a restart.

use std::sync::Arc;
use std::time::Duration;

use ccx_config::TenantToken;
use ccx_control_client::{watch_configs, ControlClient, StoredConfig};
use tokio_util::sync::CancellationToken;

use crate::Ingest;

/// The tenants of the config file plus every token hash held by the control plane.
pub fn merge(configured: &[TenantToken], held: &[StoredConfig]) -> Vec<TenantToken> {
    let mut all = configured.to_vec();
    for config in held {
        for hash in &config.token_sha256 {
            let token = TenantToken {
                id: config.tenant_id.clone(),
                token_sha256: hash.to_ascii_lowercase(),
            };
            if !all.contains(&token) {
                all.push(token);
            }
        }
    }
    all
}

/// Applies the control plane's tokens (read every `every`) until `stop`; a failed read keeps
/// the last ones.
pub async fn follow_control(
    ingest: Arc<Ingest>,
    configured: Vec<TenantToken>,
    client: ControlClient,
    every: Duration,
    stop: CancellationToken,
) {
    watch_configs(client, every, stop, |held| {
        ingest.set_tenants(&merge(&configured, &held))
    })
    .await
}

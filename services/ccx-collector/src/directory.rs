//! Tenants and tokens from the control plane: the collector polls every stored tenant
//! configuration and applies the token hashes it holds, on top of the ones of its own config,
//! without a restart.

use std::sync::Arc;
use std::time::Duration;

use ccx_config::TenantToken;
use tokio_util::sync::CancellationToken;

use crate::Ingest;

/// The tenants of the config file plus every token hash held by the control plane.
pub fn merge(configured: &[TenantToken], held: &[ccx_proto::v1::TenantConfig]) -> Vec<TenantToken> {
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

/// Polls the control plane every `every` until `stop`; a failed poll keeps the last tokens.
pub async fn follow_control(
    ingest: Arc<Ingest>,
    configured: Vec<TenantToken>,
    client: ccx_control::ControlClient,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        match client.list_configs().await {
            Ok(held) => ingest.set_tenants(&merge(&configured, &held)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read tenant configuration from the control plane")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

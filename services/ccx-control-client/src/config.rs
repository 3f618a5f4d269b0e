//! A tenant's configuration as the control plane holds it, and its proto form.

use ccx_model::settings::TenantSettings;
use ccx_model::token::is_token_hash;
use ccx_proto::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::error::CommandError;

/// A tenant's configuration as the control plane holds it: its settings, the sha256 of each
/// collector token (token plaintext is never stored) and who changed it when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredConfig {
    pub tenant_id: String,
    pub settings: TenantSettings,
    /// Lowercase hex sha256 of each collector bearer token, sorted, unique.
    pub token_sha256: Vec<String>,
    pub version: u64,
    pub updated_at_ms: i64,
    pub updated_by: String,
}

impl StoredConfig {
    /// SPEC defaults for a tenant that has never been configured (version 0).
    pub fn defaults(tenant_id: &str) -> StoredConfig {
        StoredConfig {
            tenant_id: tenant_id.to_string(),
            settings: TenantSettings::default(),
            token_sha256: Vec::new(),
            version: 0,
            updated_at_ms: 0,
            updated_by: String::new(),
        }
    }

    pub fn to_proto(&self) -> pb::TenantConfig {
        pb::TenantConfig {
            token_sha256: self.token_sha256.clone(),
            version: self.version,
            updated_at: (self.updated_at_ms != 0)
                .then(|| ccx_model::ms_timestamp(self.updated_at_ms)),
            updated_by: self.updated_by.clone(),
            ..self.settings.to_proto(&self.tenant_id)
        }
    }

    /// Reads a proto config (zero-valued settings take SPEC defaults, so a sparse message is a
    /// valid put), checked.
    pub fn from_proto(config: &pb::TenantConfig) -> Result<StoredConfig, CommandError> {
        let settings =
            TenantSettings::from_proto(config).map_err(|e| CommandError::invalid(e.to_string()))?;
        let mut tokens: Vec<String> = config
            .token_sha256
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect();
        tokens.sort();
        tokens.dedup();
        let stored = StoredConfig {
            tenant_id: config.tenant_id.clone(),
            settings,
            token_sha256: tokens,
            version: config.version,
            updated_at_ms: 0,
            updated_by: String::new(),
        };
        stored.validate()?;
        Ok(stored)
    }

    pub fn validate(&self) -> Result<(), CommandError> {
        if !ccx_model::validate::is_tenant_id(&self.tenant_id) {
            return Err(CommandError::invalid(format!(
                "tenantId: {:?} is not a tenant id ([a-z0-9][a-z0-9_-]{{0,62}})",
                self.tenant_id
            )));
        }
        self.settings
            .validate()
            .map_err(|e| CommandError::invalid(e.to_string()))?;
        if !self.token_sha256.iter().all(|t| is_token_hash(t)) {
            return Err(CommandError::invalid(
                "tokenSha256: each entry must be 64 hex digits (sha256 of the token)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_config_keeps_settings_and_tokens_through_the_proto() {
        let mut stored = StoredConfig::defaults("acme");
        stored.settings.fcr_window_ms = 3_600_000;
        stored.token_sha256 = vec![ccx_model::hash_token("t")];
        stored.version = 3;
        assert_eq!(
            StoredConfig::from_proto(&stored.to_proto()).unwrap(),
            stored
        );
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let bad_signal = pb::TenantConfig {
            tenant_id: "acme".into(),
            churn_signals: vec![pb::ChurnSignalConfig {
                signal: "BAD".into(),
                weight: 1,
                cap: 1,
            }],
            ..Default::default()
        };
        assert!(StoredConfig::from_proto(&bad_signal).is_err());
        let bad_tenant = pb::TenantConfig {
            tenant_id: "Not OK".into(),
            ..Default::default()
        };
        assert!(StoredConfig::from_proto(&bad_tenant).is_err());
        let bad_token = pb::TenantConfig {
            tenant_id: "acme".into(),
            token_sha256: vec!["abc".into()],
            ..Default::default()
        };
        assert!(StoredConfig::from_proto(&bad_token).is_err());
        let ok = pb::TenantConfig {
            tenant_id: "acme".into(),
            token_sha256: vec![ccx_model::hash_token("secret").to_uppercase()],
            ..Default::default()
        };
        assert_eq!(
            StoredConfig::from_proto(&ok).unwrap().token_sha256,
            vec![ccx_model::hash_token("secret")]
        );
    }
}

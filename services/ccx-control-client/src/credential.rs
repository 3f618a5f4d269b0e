//! Control-plane credentials: what a caller presents (`authorization: Bearer <token>` on every
//! call, [`Bearer`]) and a tenant's credentials as the control plane holds them
//! ([`TenantCredential`], the token only as its SHA-256, `ccx_model::hash_token`).

use ccx_model::token::{is_credential_name, is_token_hash};
use ccx_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataValue;

use crate::error::{CommandError, ControlError};

/// The bearer credential a client presents on every call (none: the call is refused).
#[derive(Clone, Default)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    /// The `authorization` value of `token`; a token that is not printable ASCII is refused
    /// here rather than sent.
    pub fn new(token: &str) -> Result<Bearer, ControlError> {
        let token = token.trim();
        if token.is_empty() {
            return Ok(Bearer(None));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ControlError::Config(
                "control token: must be printable ASCII without spaces".into(),
            ));
        }
        format!("Bearer {token}")
            .parse()
            .map(|v| Bearer(Some(v)))
            .map_err(|_| {
                ControlError::Config("control token: must be printable ASCII without spaces".into())
            })
    }
}

impl std::fmt::Debug for Bearer {
    // Never print the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Bearer(..)"
        } else {
            "Bearer(none)"
        })
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A credential that acts for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCredential {
    pub tenant_id: String,
    pub name: String,
    /// Lowercase hex SHA-256 of the token.
    pub token_sha256: String,
    pub created_at_ms: i64,
    pub created_by: String,
}

impl TenantCredential {
    pub fn validate(&self) -> Result<(), CommandError> {
        if !ccx_model::validate::is_tenant_id(&self.tenant_id) {
            return Err(CommandError::invalid(format!(
                "tenantId: {:?} is not a tenant id",
                self.tenant_id
            )));
        }
        if !is_credential_name(&self.name) {
            return Err(CommandError::invalid(format!(
                "name: {:?} must match [a-z0-9][a-z0-9_.@-]{{0,63}}",
                self.name
            )));
        }
        if !is_token_hash(&self.token_sha256) {
            return Err(CommandError::invalid(
                "tokenSha256: must be 64 hex digits (sha256 of the token)",
            ));
        }
        Ok(())
    }

    pub fn to_proto(&self) -> pb::TenantCredential {
        pb::TenantCredential {
            tenant_id: self.tenant_id.clone(),
            name: self.name.clone(),
            token_sha256: self.token_sha256.clone(),
            created_at: (self.created_at_ms != 0)
                .then(|| ccx_model::ms_timestamp(self.created_at_ms)),
            created_by: self.created_by.clone(),
        }
    }

    /// Reads a proto credential, checked (the hash is kept in lowercase).
    pub fn from_proto(c: &pb::TenantCredential) -> Result<TenantCredential, CommandError> {
        let credential = TenantCredential {
            tenant_id: c.tenant_id.clone(),
            name: c.name.clone(),
            token_sha256: c.token_sha256.to_ascii_lowercase(),
            created_at_ms: c.created_at.as_ref().map_or(0, ccx_model::timestamp_ms),
            created_by: c.created_by.clone(),
        };
        credential.validate()?;
        Ok(credential)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hashes_are_checked() {
        let c = pb::TenantCredential {
            tenant_id: "acme".into(),
            name: "ann".into(),
            token_sha256: ccx_model::hash_token("t").to_uppercase(),
            ..Default::default()
        };
        assert_eq!(
            TenantCredential::from_proto(&c).unwrap().token_sha256,
            ccx_model::hash_token("t")
        );
        let bad = pb::TenantCredential {
            token_sha256: "abc".into(),
            ..c
        };
        let err = TenantCredential::from_proto(&bad).unwrap_err();
        assert!(err.to_string().starts_with("tokenSha256:"), "{err}");
    }

    #[test]
    fn a_bearer_never_prints_its_token() {
        let b = Bearer::new("s3cret").unwrap();
        assert_eq!(format!("{b:?}"), "Bearer(..)");
        assert!(Bearer::new("has space").is_err());
    }
}

//! Who is calling and what they may do: every `ccx.v1.Control` call presents
//! `authorization: Bearer <token>`; the token's SHA-256 (`ccx_model::hash_token`) is looked
//! up among the replica's operator and service credentials (its options) and the tenants'
//! credentials (the replicated state). The answer is a [`Principal`], which each handler asks
//! before it reads or changes anything, and which is recorded as the author of every change.

use ccx_config::NamedCredential;
use ccx_model::token::{token_digest, TokenTable};
use tonic::metadata::MetadataMap;

use crate::error::ControlError;
use crate::state::StateMachine;

/// The operator and service credentials a replica accepts (token hashes only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// May do everything.
    pub operators: Vec<NamedCredential>,
    /// Collectors, streams, wallboards: read every tenant, raise, acknowledge and resolve
    /// alerts.
    pub services: Vec<NamedCredential>,
}

/// The holder of a presented credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Principal {
    Operator(String),
    Service(String),
    Tenant { tenant: String, name: String },
}

impl Principal {
    /// How the principal is named in the history: `operator:ops`, `service:stream`,
    /// `tenant:acme/ann`.
    pub(super) fn label(&self) -> String {
        match self {
            Principal::Operator(n) => format!("operator:{n}"),
            Principal::Service(n) => format!("service:{n}"),
            Principal::Tenant { tenant, name } => format!("tenant:{tenant}/{name}"),
        }
    }

    /// Who a change is recorded as: the person the caller names (`by`, e.g. the wallboard's
    /// signed-in viewer or `CCX_USER`) and the credential that vouched for them.
    pub(super) fn author(&self, by: &str) -> String {
        match by.trim() {
            "" => self.label(),
            by => format!("{by} via {}", self.label()),
        }
    }

    /// Operators only.
    pub(super) fn operator(&self, what: &str) -> Result<(), ControlError> {
        match self {
            Principal::Operator(_) => Ok(()),
            other => Err(denied(other, what)),
        }
    }

    /// Operators and services (what spans every tenant or runs the pipeline).
    pub(super) fn operator_or_service(&self, what: &str) -> Result<(), ControlError> {
        match self {
            Principal::Operator(_) | Principal::Service(_) => Ok(()),
            other => Err(denied(other, what)),
        }
    }

    /// Reading or acting on `tenant`'s alerts and settings: anyone but another tenant.
    pub(super) fn tenant(&self, tenant: &str, what: &str) -> Result<(), ControlError> {
        match self {
            Principal::Tenant { tenant: own, .. } if own != tenant => Err(denied(self, what)),
            _ => Ok(()),
        }
    }

    /// The tenant a tenant credential is limited to; `None` for operators and services.
    pub(super) fn own_tenant(&self) -> Option<&str> {
        match self {
            Principal::Tenant { tenant, .. } => Some(tenant),
            _ => None,
        }
    }
}

fn denied(who: &Principal, what: &str) -> ControlError {
    ControlError::PermissionDenied(format!("{} may not {what}", who.label()))
}

/// The principal of a request's `authorization` header.
pub(super) fn authenticate(
    access: &Access,
    state: &StateMachine,
    metadata: &MetadataMap,
) -> Result<Principal, ControlError> {
    let Some(header) = metadata.get("authorization") else {
        return Err(ControlError::Unauthenticated(
            "authorization: a bearer credential is required (ccx: CCX_CONTROL_TOKEN or [control] token)"
                .into(),
        ));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ControlError::Unauthenticated("authorization: expected \"Bearer <token>\"".into())
        })?;
    let table = TokenTable::from_hashes(
        access
            .operators
            .iter()
            .map(|c| (c.token_sha256.as_str(), Principal::Operator(c.name.clone())))
            .chain(
                access
                    .services
                    .iter()
                    .map(|c| (c.token_sha256.as_str(), Principal::Service(c.name.clone()))),
            )
            .chain(state.credentials().map(|c| {
                (
                    c.token_sha256.as_str(),
                    Principal::Tenant {
                        tenant: c.tenant_id.clone(),
                        name: c.name.clone(),
                    },
                )
            })),
    );
    table
        .owner_of_digest(&token_digest(token))
        .cloned()
        .ok_or_else(|| ControlError::Unauthenticated("authorization: unknown credential".into()))
}

/// True when `sha256` is one of the replica's operator or service credentials (a tenant
/// credential may not reuse one).
pub(super) fn is_process_credential(access: &Access, sha256: &str) -> bool {
    access
        .operators
        .iter()
        .chain(&access.services)
        .any(|c| c.token_sha256.eq_ignore_ascii_case(sha256))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Command, Proposal, TenantCredential};

    fn metadata(token: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", format!("Bearer {token}").parse().unwrap());
        m
    }

    #[test]
    fn each_credential_names_its_principal() {
        let access = Access {
            operators: vec![NamedCredential {
                name: "ops".into(),
                token_sha256: ccx_model::hash_token("op-token"),
            }],
            services: vec![NamedCredential {
                name: "stream".into(),
                token_sha256: ccx_model::hash_token("svc-token"),
            }],
        };
        let mut state = StateMachine::new();
        let put = Command::PutCredential {
            credential: TenantCredential {
                tenant_id: "acme".into(),
                name: "ann".into(),
                token_sha256: ccx_model::hash_token("acme-token"),
                created_at_ms: 0,
                created_by: String::new(),
            },
        };
        state
            .apply(
                1,
                &Proposal {
                    request_id: "r".into(),
                    at_ms: 1,
                    command: put,
                },
            )
            .unwrap();
        let who = |t: &str| authenticate(&access, &state, &metadata(t));
        assert_eq!(who("op-token").unwrap(), Principal::Operator("ops".into()));
        assert_eq!(
            who("svc-token").unwrap(),
            Principal::Service("stream".into())
        );
        let ann = who("acme-token").unwrap();
        assert_eq!(ann.label(), "tenant:acme/ann");
        assert_eq!(ann.author("Ann Lee"), "Ann Lee via tenant:acme/ann");
        assert!(ann.tenant("acme", "read").is_ok());
        let err = ann.tenant("beta", "read tenant beta's alerts").unwrap_err();
        assert_eq!(
            err.to_string(),
            "permission denied: tenant:acme/ann may not read tenant beta's alerts"
        );
        assert!(ann.operator_or_service("raise alerts").is_err());
        assert!(matches!(who("nope"), Err(ControlError::Unauthenticated(_))));
        assert!(matches!(
            authenticate(&access, &state, &MetadataMap::new()),
            Err(ControlError::Unauthenticated(_))
        ));
        assert!(is_process_credential(
            &access,
            &ccx_model::hash_token("svc-token")
        ));
    }
}

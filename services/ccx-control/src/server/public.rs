//! The public `ccx.v1.Control` gRPC service: tenant configs, alerts, tenant credentials and
//! cluster membership. Every handler first names its caller (`access.rs`) and checks what
//! that caller may do; changes record the caller as their author.

use std::sync::Arc;
use std::time::Duration;

use ccx_proto::v1 as pb;
use ccx_proto::v1::control_server::Control;
use tonic::{Request, Response, Status};

use crate::error::ControlError;
use crate::state::{
    AlertFilter, AlertRecord, Command, CommandValue, Proposal, StoredConfig, TenantCredential,
};

use super::access::{self, Principal};
use super::core::Core;
use super::write::WriteOp;

fn request_id_or(core: &Core, id: &str) -> String {
    if id.is_empty() {
        core.new_request_id()
    } else {
        id.to_string()
    }
}

fn alert_of(v: CommandValue) -> Result<pb::Alert, ControlError> {
    match v {
        CommandValue::Alert(a) => Ok(a.to_proto()),
        other => Err(ControlError::Storage(format!(
            "unexpected result {other:?}"
        ))),
    }
}

#[derive(Clone)]
pub(super) struct ControlService(pub(super) Arc<Core>);

fn credential_of(v: CommandValue) -> Result<pb::TenantCredential, ControlError> {
    match v {
        CommandValue::Credential(c) => Ok(c.to_proto()),
        other => Err(ControlError::Storage(format!(
            "unexpected result {other:?}"
        ))),
    }
}

impl ControlService {
    /// The caller of `request`, or UNAUTHENTICATED (logged: who knocks without a key matters).
    fn who<T>(&self, request: &Request<T>) -> Result<Principal, ControlError> {
        let state = ccx_model::sync::read(&self.0.state);
        access::authenticate(&self.0.access, &state, request.metadata()).map_err(|e| {
            self.0.metrics.refused.inc();
            tracing::warn!(remote = ?request.remote_addr(), error = %e, "control call refused");
            e
        })
    }

    /// A refused call, counted and logged with who tried.
    fn refuse(
        &self,
        who: &Principal,
        result: Result<(), ControlError>,
    ) -> Result<(), ControlError> {
        result.inspect_err(|e| {
            self.0.metrics.refused.inc();
            tracing::warn!(caller = %who.label(), error = %e, "control call refused");
        })
    }

    async fn command(
        &self,
        request_id: String,
        command: Command,
        timeout: Duration,
    ) -> Result<CommandValue, Status> {
        command.validate().map_err(ControlError::from)?;
        let proposal = Proposal {
            request_id,
            at_ms: ccx_model::now_ms(),
            command,
        };
        Ok(self
            .0
            .write(WriteOp::Command(Box::new(proposal)), true, timeout)
            .await?)
    }

    /// Acknowledge or resolve: the same request, a different command.
    async fn alert_action(
        &self,
        request: Request<pb::AlertActionRequest>,
        command: impl FnOnce(String, String, String, String) -> Command,
    ) -> Result<Response<pb::Alert>, Status> {
        let who = self.who(&request)?;
        let timeout = self.0.request_timeout_of(&request);
        let r = request.into_inner();
        self.refuse(
            &who,
            who.tenant(
                &r.tenant_id,
                &format!("act on tenant {}'s alerts", r.tenant_id),
            ),
        )?;
        let request_id = request_id_or(&self.0, &r.request_id);
        let by = who.author(&r.by);
        let v = self
            .command(
                request_id,
                command(r.tenant_id, r.alert_id, by, r.note),
                timeout,
            )
            .await?;
        Ok(Response::new(alert_of(v)?))
    }
}

#[tonic::async_trait]
impl Control for ControlService {
    async fn get_tenant_config(
        &self,
        request: Request<pb::GetTenantConfigRequest>,
    ) -> Result<Response<pb::TenantConfig>, Status> {
        let who = self.who(&request)?;
        let req = request.into_inner();
        self.refuse(
            &who,
            who.tenant(
                &req.tenant_id,
                &format!("read tenant {}'s configuration", req.tenant_id),
            ),
        )?;
        if !ccx_model::validate::is_tenant_id(&req.tenant_id) {
            return Err(ControlError::InvalidArgument(format!(
                "tenantId: {:?} is not a tenant id",
                req.tenant_id
            ))
            .into());
        }
        if !req.local {
            self.0.linearizable().await?;
        }
        let config = ccx_model::sync::read(&self.0.state).config_or_default(&req.tenant_id);
        Ok(Response::new(config.to_proto()))
    }

    async fn list_tenant_configs(
        &self,
        request: Request<pb::ListTenantConfigsRequest>,
    ) -> Result<Response<pb::ListTenantConfigsResponse>, Status> {
        let who = self.who(&request)?;
        if !request.into_inner().local {
            self.0.linearizable().await?;
        }
        // A tenant credential sees its own tenant's only.
        let configs = ccx_model::sync::read(&self.0.state)
            .configs()
            .filter(|c| who.own_tenant().is_none_or(|t| t == c.tenant_id))
            .map(|c| c.to_proto())
            .collect();
        Ok(Response::new(pb::ListTenantConfigsResponse { configs }))
    }

    async fn put_tenant_config(
        &self,
        request: Request<pb::PutTenantConfigRequest>,
    ) -> Result<Response<pb::TenantConfig>, Status> {
        let who = self.who(&request)?;
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let config = req
            .config
            .ok_or_else(|| ControlError::InvalidArgument("config: required".into()))?;
        let mut stored = StoredConfig::from_proto(&config).map_err(ControlError::from)?;
        let mut expected_version = stored.version;
        match &who {
            Principal::Operator(_) => {}
            Principal::Service(_) => {
                self.refuse(&who, who.operator("change tenant configurations"))?
            }
            Principal::Tenant { .. } => {
                self.refuse(
                    &who,
                    who.tenant(
                        &stored.tenant_id,
                        &format!("change tenant {}'s configuration", stored.tenant_id),
                    ),
                )?;
                // A tenant changes its settings, never its ingest tokens; it writes over the
                // version it read, so an operator's token change in between is not undone.
                let current =
                    ccx_model::sync::read(&self.0.state).config_or_default(&stored.tenant_id);
                if current.token_sha256 != stored.token_sha256 {
                    self.refuse(&who, who.operator("change ingest tokens (tokenSha256)"))?;
                }
                if expected_version == 0 {
                    expected_version = current.version;
                }
            }
        }
        stored.updated_by = who.author(&req.by);
        let v = self
            .command(
                request_id_or(&self.0, &req.request_id),
                Command::PutConfig {
                    config: stored,
                    expected_version,
                },
                timeout,
            )
            .await?;
        match v {
            CommandValue::Config(c) => Ok(Response::new(c.to_proto())),
            other => Err(Status::internal(format!("unexpected result {other:?}"))),
        }
    }

    async fn raise_alert(
        &self,
        request: Request<pb::RaiseAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        let who = self.who(&request)?;
        self.refuse(&who, who.operator_or_service("raise alerts"))?;
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let alert = req
            .alert
            .ok_or_else(|| ControlError::InvalidArgument("alert: required".into()))?;
        let record = AlertRecord::from_proto(&alert);
        let v = self
            .command(
                request_id_or(&self.0, &req.request_id),
                Command::RaiseAlert { alert: record },
                timeout,
            )
            .await?;
        Ok(Response::new(alert_of(v)?))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let who = self.who(&request)?;
        let mut req = request.into_inner();
        // A tenant credential lists its own tenant's, whatever the filter asked.
        match who.own_tenant() {
            Some(own) if req.tenant_id.is_empty() => req.tenant_id = own.to_string(),
            _ => self.refuse(
                &who,
                who.tenant(
                    &req.tenant_id,
                    &format!("read tenant {}'s alerts", req.tenant_id),
                ),
            )?,
        }
        if !req.local {
            self.0.linearizable().await?;
        }
        let filter = AlertFilter::from_proto(&req);
        let alerts = ccx_model::sync::read(&self.0.state).list_alerts(&filter);
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: alerts.iter().map(AlertRecord::to_proto).collect(),
        }))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AlertActionRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        self.alert_action(request, |tenant_id, alert_id, by, note| {
            Command::Acknowledge {
                tenant_id,
                alert_id,
                by,
                note,
            }
        })
        .await
    }

    async fn resolve_alert(
        &self,
        request: Request<pb::AlertActionRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        self.alert_action(request, |tenant_id, alert_id, by, note| Command::Resolve {
            tenant_id,
            alert_id,
            by,
            note,
        })
        .await
    }

    async fn cluster_status(
        &self,
        request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let who = self.who(&request)?;
        self.refuse(&who, who.operator_or_service("read the cluster's status"))?;
        Ok(Response::new(self.0.cluster_status()))
    }

    async fn change_membership(
        &self,
        request: Request<pb::ChangeMembershipRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let who = self.who(&request)?;
        self.refuse(&who, who.operator("change the cluster's membership"))?;
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let add = match pb::MembershipChange::try_from(req.change) {
            Ok(pb::MembershipChange::AddReplica) => true,
            Ok(pb::MembershipChange::RemoveReplica) => false,
            _ => {
                return Err(ControlError::InvalidArgument(
                    "change: ADD_REPLICA or REMOVE_REPLICA".into(),
                )
                .into())
            }
        };
        if req.replica_id == 0 || (add && req.address.is_empty()) {
            return Err(ControlError::InvalidArgument(
                "replicaId is required, and address when adding".into(),
            )
            .into());
        }
        let op = WriteOp::Membership {
            request_id: self.0.new_request_id(),
            replica_id: req.replica_id,
            add,
            address: req.address,
        };
        self.0.write(op, true, timeout).await?;
        // Answer with this replica's view once it has applied the change.
        self.0.linearizable().await?;
        Ok(Response::new(self.0.cluster_status()))
    }

    async fn put_tenant_credential(
        &self,
        request: Request<pb::PutTenantCredentialRequest>,
    ) -> Result<Response<pb::TenantCredential>, Status> {
        let who = self.who(&request)?;
        self.refuse(&who, who.operator("manage tenant credentials"))?;
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let proto = req
            .credential
            .ok_or_else(|| ControlError::InvalidArgument("credential: required".into()))?;
        let mut credential = TenantCredential::from_proto(&proto).map_err(ControlError::from)?;
        if access::is_process_credential(&self.0.access, &credential.token_sha256) {
            return Err(ControlError::InvalidArgument(
                "tokenSha256: an operator or service credential's token; use a new token".into(),
            )
            .into());
        }
        credential.created_by = who.author("");
        let v = self
            .command(
                request_id_or(&self.0, &req.request_id),
                Command::PutCredential { credential },
                timeout,
            )
            .await?;
        Ok(Response::new(credential_of(v)?))
    }

    async fn remove_tenant_credential(
        &self,
        request: Request<pb::RemoveTenantCredentialRequest>,
    ) -> Result<Response<pb::TenantCredential>, Status> {
        let who = self.who(&request)?;
        self.refuse(&who, who.operator("manage tenant credentials"))?;
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let v = self
            .command(
                request_id_or(&self.0, &req.request_id),
                Command::RemoveCredential {
                    tenant_id: req.tenant_id,
                    name: req.name,
                },
                timeout,
            )
            .await?;
        Ok(Response::new(credential_of(v)?))
    }

    async fn list_tenant_credentials(
        &self,
        request: Request<pb::ListTenantCredentialsRequest>,
    ) -> Result<Response<pb::ListTenantCredentialsResponse>, Status> {
        let who = self.who(&request)?;
        let req = request.into_inner();
        if req.tenant_id.is_empty() {
            self.refuse(
                &who,
                who.operator_or_service("list every tenant's credentials"),
            )?;
        } else {
            self.refuse(
                &who,
                who.tenant(
                    &req.tenant_id,
                    &format!("list tenant {}'s credentials", req.tenant_id),
                ),
            )?;
        }
        self.0.linearizable().await?;
        let state = ccx_model::sync::read(&self.0.state);
        let credentials = if req.tenant_id.is_empty() {
            state
                .credentials()
                .map(TenantCredential::to_proto)
                .collect()
        } else {
            state
                .credentials_of(&req.tenant_id)
                .map(TenantCredential::to_proto)
                .collect()
        };
        Ok(Response::new(pb::ListTenantCredentialsResponse {
            credentials,
        }))
    }
}

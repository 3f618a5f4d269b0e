//! The public `ccx.v1.Control` gRPC service: tenant configs, alerts and cluster membership.

use std::sync::Arc;
use std::time::Duration;

use ccx_proto::v1 as pb;
use ccx_proto::v1::control_server::Control;
use tonic::{Request, Response, Status};

use crate::error::ControlError;
use crate::state::{AlertFilter, AlertRecord, Command, CommandValue, Proposal, StoredConfig};

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

impl ControlService {
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
        let timeout = self.0.request_timeout_of(&request);
        let r = request.into_inner();
        let request_id = request_id_or(&self.0, &r.request_id);
        let v = self
            .command(
                request_id,
                command(r.tenant_id, r.alert_id, r.by, r.note),
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
        let req = request.into_inner();
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
        if !request.into_inner().local {
            self.0.linearizable().await?;
        }
        let configs = ccx_model::sync::read(&self.0.state)
            .configs()
            .map(|c| c.to_proto())
            .collect();
        Ok(Response::new(pb::ListTenantConfigsResponse { configs }))
    }

    async fn put_tenant_config(
        &self,
        request: Request<pb::PutTenantConfigRequest>,
    ) -> Result<Response<pb::TenantConfig>, Status> {
        let timeout = self.0.request_timeout_of(&request);
        let req = request.into_inner();
        let config = req
            .config
            .ok_or_else(|| ControlError::InvalidArgument("config: required".into()))?;
        let mut stored = StoredConfig::from_proto(&config).map_err(ControlError::from)?;
        stored.updated_by = req.by;
        let expected_version = stored.version;
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
        let req = request.into_inner();
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
        _request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        Ok(Response::new(self.0.cluster_status()))
    }

    async fn change_membership(
        &self,
        request: Request<pb::ChangeMembershipRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
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
}

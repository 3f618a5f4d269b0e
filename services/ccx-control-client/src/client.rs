//! A client of the control plane: talks to any replica of a list, prefers the one that answered
//! last (or that a follower named as leader), and retries retryable failures until its timeout.
//! Each write carries one request id across all its retries, so it is applied at most once.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ccx_model::rows::ChurnAlert;
use ccx_model::settings::TenantSettings;
use ccx_proto::v1 as pb;
use ccx_proto::v1::control_client::ControlClient as GrpcClient;
use ccx_tls::ClientTls;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::alert::{AlertFilter, AlertRecord};
use crate::credential::{Bearer, TenantCredential};
use crate::error::{leader_of, ControlError};

/// The generated client with the caller's credential on every call.
type Grpc = GrpcClient<InterceptedService<Channel, Bearer>>;

/// Connects to the control plane through any of its replicas and follows the leader.
pub struct ControlClient {
    endpoints: Mutex<Vec<String>>,
    channels: Mutex<HashMap<String, Channel>>,
    /// Set: replicas are reached over TLS and verified against its CA.
    tls: Option<ClientTls>,
    preferred: Mutex<usize>,
    timeout: Duration,
    id_prefix: String,
    counter: AtomicU64,
    bearer: Bearer,
}

fn normalize(endpoint: &str) -> String {
    endpoint
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

impl ControlClient {
    /// A client of the replicas at `endpoints` (host:port each). Connections are made lazily.
    pub fn new<I, S>(endpoints: I) -> Result<ControlClient, ControlError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| normalize(e.as_ref()))
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(ControlError::Config(
                "no control endpoint given (--control host:port,...)".into(),
            ));
        }
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        Ok(ControlClient {
            endpoints: Mutex::new(endpoints),
            channels: Mutex::new(HashMap::new()),
            tls: None,
            preferred: Mutex::new(0),
            timeout: Duration::from_secs(15),
            id_prefix: format!("{:016x}", h.finish()),
            counter: AtomicU64::new(0),
            bearer: Bearer::default(),
        })
    }

    /// A client of the replicas of `[control] endpoints` presenting `[control] token`, which
    /// is required: every call without a credential would be refused.
    pub fn from_config(config: &ccx_config::ControlConfig) -> Result<ControlClient, ControlError> {
        if config.token.trim().is_empty() {
            return Err(ControlError::Config(
                "control.token: required to call the control plane (a service credential; \
                 CCX__CONTROL__TOKEN)"
                    .into(),
            ));
        }
        ControlClient::new(config.endpoints.iter())?
            .with_tls(client_tls(config)?)
            .with_credential(&config.token)
    }

    /// Presents `token` (`authorization: Bearer <token>`) on every call; empty: none.
    pub fn with_credential(mut self, token: &str) -> Result<ControlClient, ControlError> {
        self.bearer = Bearer::new(token)?;
        Ok(self)
    }

    /// How long one call may take, retries included (default 15 s).
    pub fn with_timeout(mut self, timeout: Duration) -> ControlClient {
        self.timeout = timeout;
        self
    }

    /// Reaches the replicas over TLS (`Some`) or in plaintext (`None`, the default).
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> ControlClient {
        self.tls = tls;
        self
    }

    /// A fresh request id: one per logical write, reused by its retries.
    pub fn new_request_id(&self) -> String {
        format!(
            "{}-{}",
            self.id_prefix,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn client_for(&self, endpoint: &str) -> Result<Grpc, ControlError> {
        let mut channels = ccx_model::sync::lock(&self.channels);
        let ch = match channels.get(endpoint) {
            Some(c) => c.clone(),
            None => {
                let c = tls_channel(endpoint, self.tls.as_ref())?;
                channels.insert(endpoint.to_string(), c.clone());
                c
            }
        };
        Ok(GrpcClient::with_interceptor(ch, self.bearer.clone()))
    }

    /// Calls `f` on replicas until one answers with success or a non-retryable error.
    async fn call<T, F, Fut>(&self, mut f: F) -> Result<T, ControlError>
    where
        F: FnMut(Grpc, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut last: Option<ControlError> = None;
        let mut failures_in_row = 0usize;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(match last {
                    Some(e) => ControlError::Unavailable(format!(
                        "control plane did not answer within {:?}: {e}",
                        self.timeout
                    )),
                    None => ControlError::Unavailable("control plane timeout".into()),
                });
            }
            let (index, endpoint) = {
                let endpoints = ccx_model::sync::lock(&self.endpoints);
                let i = *ccx_model::sync::lock(&self.preferred) % endpoints.len();
                (i, endpoints[i].clone())
            };
            let client = self.client_for(&endpoint)?;
            match f(client, remaining).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(status) => {
                    let err = ControlError::from(status.clone());
                    if !err.is_retryable() {
                        return Err(err);
                    }
                    let pause = {
                        let mut endpoints = ccx_model::sync::lock(&self.endpoints);
                        let next = match leader_of(&status).map(|l| normalize(&l)) {
                            Some(leader) if leader != endpoint => {
                                match endpoints.iter().position(|e| *e == leader) {
                                    Some(i) => i,
                                    None => {
                                        endpoints.push(leader);
                                        endpoints.len() - 1
                                    }
                                }
                            }
                            _ => {
                                failures_in_row += 1;
                                (index + 1) % endpoints.len()
                            }
                        };
                        *ccx_model::sync::lock(&self.preferred) = next;
                        failures_in_row >= endpoints.len()
                    };
                    last = Some(err);
                    if pause {
                        failures_in_row = 0;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    }

    /// Records a churn alert (once per alert id, whoever raises it).
    pub async fn raise_alert(&self, alert: &ChurnAlert) -> Result<AlertRecord, ControlError> {
        self.raise(&AlertRecord::from_churn_alert(alert)).await
    }

    /// Records an alert of any kind (once per alert id, whoever raises it).
    pub async fn raise(&self, alert: &AlertRecord) -> Result<AlertRecord, ControlError> {
        let request_id = self.new_request_id();
        let proto = alert.to_proto();
        let a = self
            .call(|mut c, t| {
                let mut r = tonic::Request::new(pb::RaiseAlertRequest {
                    alert: Some(proto.clone()),
                    request_id: request_id.clone(),
                });
                r.set_timeout(t);
                async move { c.raise_alert(r).await }
            })
            .await?;
        Ok(AlertRecord::from_proto_full(&a))
    }

    /// Alerts matching `filter` (linearizable).
    pub async fn list_alerts(
        &self,
        filter: &AlertFilter,
    ) -> Result<Vec<AlertRecord>, ControlError> {
        self.list(filter, false).await
    }

    /// Alerts matching `filter` as the first reachable replica has applied them (no read
    /// index; may lag the leader).
    pub async fn list_alerts_local(
        &self,
        filter: &AlertFilter,
    ) -> Result<Vec<AlertRecord>, ControlError> {
        self.list(filter, true).await
    }

    async fn list(
        &self,
        filter: &AlertFilter,
        local: bool,
    ) -> Result<Vec<AlertRecord>, ControlError> {
        let request = filter.to_proto(local);
        let r = self
            .call(|mut c, t| {
                let mut r = tonic::Request::new(request.clone());
                r.set_timeout(t);
                async move { c.list_alerts(r).await }
            })
            .await?;
        Ok(r.alerts.iter().map(AlertRecord::from_proto_full).collect())
    }

    /// Moves an open alert to ACKNOWLEDGED.
    pub async fn acknowledge(
        &self,
        tenant_id: &str,
        alert_id: &str,
        by: &str,
        note: &str,
    ) -> Result<AlertRecord, ControlError> {
        self.action(tenant_id, alert_id, by, note, false).await
    }

    /// Moves an open or acknowledged alert to RESOLVED.
    pub async fn resolve(
        &self,
        tenant_id: &str,
        alert_id: &str,
        by: &str,
        note: &str,
    ) -> Result<AlertRecord, ControlError> {
        self.action(tenant_id, alert_id, by, note, true).await
    }

    async fn action(
        &self,
        tenant_id: &str,
        alert_id: &str,
        by: &str,
        note: &str,
        resolve: bool,
    ) -> Result<AlertRecord, ControlError> {
        let request = pb::AlertActionRequest {
            tenant_id: tenant_id.to_string(),
            alert_id: alert_id.to_string(),
            by: by.to_string(),
            note: note.to_string(),
            request_id: self.new_request_id(),
        };
        let a = self
            .call(|mut c, t| {
                let mut r = tonic::Request::new(request.clone());
                r.set_timeout(t);
                async move {
                    if resolve {
                        c.resolve_alert(r).await
                    } else {
                        c.acknowledge_alert(r).await
                    }
                }
            })
            .await?;
        Ok(AlertRecord::from_proto_full(&a))
    }

    /// The tenant's configuration (SPEC defaults with version 0 if never set); linearizable.
    pub async fn get_config(&self, tenant_id: &str) -> Result<pb::TenantConfig, ControlError> {
        let request = pb::GetTenantConfigRequest {
            tenant_id: tenant_id.to_string(),
            local: false,
        };
        self.call(|mut c, t| {
            let mut r = tonic::Request::new(request.clone());
            r.set_timeout(t);
            async move { c.get_tenant_config(r).await }
        })
        .await
    }

    /// Every stored tenant configuration; linearizable.
    pub async fn list_configs(&self) -> Result<Vec<pb::TenantConfig>, ControlError> {
        let response = self
            .call(|mut c, t| {
                let mut r = tonic::Request::new(pb::ListTenantConfigsRequest { local: false });
                r.set_timeout(t);
                async move { c.list_tenant_configs(r).await }
            })
            .await?;
        Ok(response.configs)
    }

    /// The tenant's settings as the stream applies them.
    pub async fn get_settings(&self, tenant_id: &str) -> Result<TenantSettings, ControlError> {
        let config = self.get_config(tenant_id).await?;
        Ok(TenantSettings::from_proto(&config)?)
    }

    /// Stores a configuration. `config.version` 0 writes unconditionally; otherwise it must be
    /// the stored version (optimistic concurrency). Returns the stored configuration.
    pub async fn put_config(
        &self,
        config: pb::TenantConfig,
    ) -> Result<pb::TenantConfig, ControlError> {
        self.put_config_by(config, "").await
    }

    /// [`ControlClient::put_config`] recording who changed it.
    pub async fn put_config_by(
        &self,
        config: pb::TenantConfig,
        by: &str,
    ) -> Result<pb::TenantConfig, ControlError> {
        let request = pb::PutTenantConfigRequest {
            config: Some(config),
            request_id: self.new_request_id(),
            by: by.to_string(),
        };
        self.call(|mut c, t| {
            let mut r = tonic::Request::new(request.clone());
            r.set_timeout(t);
            async move { c.put_tenant_config(r).await }
        })
        .await
    }

    /// Leader, term, members, commit and applied index, as the answering replica sees them.
    pub async fn status(&self) -> Result<pb::ClusterStatusResponse, ControlError> {
        self.call(|mut c, t| {
            let mut r = tonic::Request::new(pb::ClusterStatusRequest {});
            r.set_timeout(t);
            async move { c.cluster_status(r).await }
        })
        .await
    }

    /// Adds replica `id` at `address` (host:port) as a voter. Start it with `join` first.
    pub async fn add_replica(
        &self,
        id: u64,
        address: &str,
    ) -> Result<pb::ClusterStatusResponse, ControlError> {
        self.membership(pb::MembershipChange::AddReplica, id, address)
            .await
    }

    /// Removes replica `id` from the voters.
    pub async fn remove_replica(&self, id: u64) -> Result<pb::ClusterStatusResponse, ControlError> {
        self.membership(pb::MembershipChange::RemoveReplica, id, "")
            .await
    }

    async fn membership(
        &self,
        change: pb::MembershipChange,
        id: u64,
        address: &str,
    ) -> Result<pb::ClusterStatusResponse, ControlError> {
        let request = pb::ChangeMembershipRequest {
            change: change as i32,
            replica_id: id,
            address: address.to_string(),
        };
        self.call(|mut c, t| {
            let mut r = tonic::Request::new(request.clone());
            r.set_timeout(t);
            async move { c.change_membership(r).await }
        })
        .await
    }
}

impl ControlClient {
    /// Adds a credential to `tenant_id`, or replaces the hash of its credential `name`.
    pub async fn put_credential(
        &self,
        tenant_id: &str,
        name: &str,
        token_sha256: &str,
    ) -> Result<TenantCredential, ControlError> {
        let request = pb::PutTenantCredentialRequest {
            credential: Some(pb::TenantCredential {
                tenant_id: tenant_id.to_string(),
                name: name.to_string(),
                token_sha256: token_sha256.to_string(),
                ..Default::default()
            }),
            request_id: self.new_request_id(),
        };
        let c = self
            .call(|mut c, t| {
                let mut r = tonic::Request::new(request.clone());
                r.set_timeout(t);
                async move { c.put_tenant_credential(r).await }
            })
            .await?;
        Ok(TenantCredential::from_proto(&c)?)
    }

    /// Withdraws credential `name` of `tenant_id`; answers with what was removed.
    pub async fn remove_credential(
        &self,
        tenant_id: &str,
        name: &str,
    ) -> Result<TenantCredential, ControlError> {
        let request = pb::RemoveTenantCredentialRequest {
            tenant_id: tenant_id.to_string(),
            name: name.to_string(),
            request_id: self.new_request_id(),
        };
        let c = self
            .call(|mut c, t| {
                let mut r = tonic::Request::new(request.clone());
                r.set_timeout(t);
                async move { c.remove_tenant_credential(r).await }
            })
            .await?;
        Ok(TenantCredential::from_proto(&c)?)
    }

    /// The credentials of `tenant_id` (`None`: of every tenant), by tenant and name.
    pub async fn list_credentials(
        &self,
        tenant_id: Option<&str>,
    ) -> Result<Vec<TenantCredential>, ControlError> {
        let request = pb::ListTenantCredentialsRequest {
            tenant_id: tenant_id.unwrap_or_default().to_string(),
        };
        let r = self
            .call(|mut c, t| {
                let mut r = tonic::Request::new(request.clone());
                r.set_timeout(t);
                async move { c.list_tenant_credentials(r).await }
            })
            .await?;
        r.credentials
            .iter()
            .map(|c| Ok(TenantCredential::from_proto(c)?))
            .collect()
    }
}

/// A lazily connected plaintext channel to `address` (host:port or URL).
pub fn channel(address: &str) -> Result<Channel, ControlError> {
    tls_channel(address, None)
}

/// A lazily connected channel to `address` (host:port or URL), over TLS with `tls`; the
/// replica's certificate must name the address's host.
pub fn tls_channel(address: &str, tls: Option<&ClientTls>) -> Result<Channel, ControlError> {
    let url = match (address.split_once("://"), tls) {
        (Some(_), _) => address.to_string(),
        (None, Some(_)) => format!("https://{address}"),
        (None, None) => format!("http://{address}"),
    };
    let mut endpoint = Endpoint::from_shared(url)?;
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls.tonic())?;
    }
    Ok(endpoint
        .connect_timeout(Duration::from_millis(500))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(5))
        .connect_lazy())
}

/// What a client of the control plane trusts: `control.ca` if set (TLS), else nothing
/// (plaintext).
pub fn client_tls(control: &ccx_config::ControlConfig) -> Result<Option<ClientTls>, ControlError> {
    control
        .ca
        .as_ref()
        .map(|ca| ClientTls::trusting("control.ca", ca))
        .transpose()
        .map_err(|e| ControlError::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_service_without_a_credential_is_refused_before_it_calls() {
        let mut config = ccx_config::ControlConfig {
            endpoints: vec!["127.0.0.1:1".into()],
            ..Default::default()
        };
        let err = ControlClient::from_config(&config).err().unwrap();
        assert!(
            err.to_string().starts_with("control.token: required"),
            "{err}"
        );
        config.token = "service-token".into();
        assert!(ControlClient::from_config(&config).is_ok());
    }
}

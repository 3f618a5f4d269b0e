//! A replica's TLS, from `control.tls` and `control.ca`: its listeners' certificate, what it
//! presents to and trusts of its peers, and the check that replica traffic comes from a replica.
//!
//! One gRPC port carries the public API and the replica services. With a client CA, the
//! handshake asks for a certificate without requiring one: a presented certificate must chain
//! to the CA, the public API's clients present none (they authenticate per call), and the
//! replica services refuse a call whose connection presented none (mutual TLS between
//! replicas).

use ccx_control_client::ClientTls;
use ccx_tls::{ClientCerts, ServerTls};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::error::ControlError;

use super::ReplicaOptions;

/// The TLS side of a replica; everything `None` when it runs in plaintext.
pub(super) struct ReplicaTls {
    pub(super) grpc: Option<ServerTls>,
    pub(super) http: Option<ServerTls>,
    /// What this replica trusts of its peers and presents to them.
    pub(super) peers: Option<ClientTls>,
    /// Replica services refuse connections without a client certificate.
    pub(super) peer_certs_required: bool,
}

impl ReplicaTls {
    pub(super) fn load(options: &ReplicaOptions) -> Result<ReplicaTls, ControlError> {
        let config = |e: ccx_tls::TlsError| ControlError::Config(e.to_string());
        let peers =
            match (&options.ca, &options.tls) {
                (Some(ca), tls) => {
                    let trusting = ClientTls::trusting("control.ca", ca).map_err(config)?;
                    Some(match tls {
                        Some(tls) => trusting.presenting("control", tls).map_err(config)?,
                        None => trusting,
                    })
                }
                (None, Some(_)) => return Err(ControlError::Config(
                    "control.ca: required with control.tls: replicas verify each other against it"
                        .into(),
                )),
                (None, None) => None,
            };
        let Some(tls) = &options.tls else {
            return Ok(ReplicaTls {
                grpc: None,
                http: None,
                peers,
                peer_certs_required: false,
            });
        };
        let grpc = ServerTls::grpc("control", tls, ClientCerts::Optional).map_err(config)?;
        // Probes and Prometheus present no certificate.
        let probes = ccx_config::TlsConfig {
            client_ca: None,
            ..tls.clone()
        };
        let http = ServerTls::http("control", &probes, ClientCerts::Optional).map_err(config)?;
        Ok(ReplicaTls {
            grpc: Some(grpc),
            http: Some(http),
            peers,
            peer_certs_required: tls.client_ca.is_some(),
        })
    }

    /// The interceptor of the replica services.
    pub(super) fn replica_only(&self) -> ReplicaOnly {
        ReplicaOnly {
            required: self.peer_certs_required,
        }
    }
}

/// Refuses replica-service calls whose connection presented no client certificate, when
/// replicas use mutual TLS.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplicaOnly {
    required: bool,
}

impl Interceptor for ReplicaOnly {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        if self.required && request.peer_certs().is_none_or(|c| c.is_empty()) {
            return Err(Status::unauthenticated(
                "replica traffic needs a client certificate signed by control.tls.client_ca",
            ));
        }
        Ok(request)
    }
}

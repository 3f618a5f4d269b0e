//! The internal replica gRPC services: the raft transport and writes forwarded by followers.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};

use crate::error::ControlError;
use crate::state::CommandResult;
use crate::transport::{self, pb as internal};

use super::core::Core;
use super::raft_loop::Input;
use super::write::WriteOp;

#[derive(Clone)]
pub(super) struct InternalService(pub(super) Arc<Core>);

#[tonic::async_trait]
impl internal::raft_transport_server::RaftTransport for InternalService {
    async fn step(
        &self,
        request: Request<internal::RaftBatch>,
    ) -> Result<Response<internal::RaftAck>, Status> {
        let batch = request.into_inner();
        if batch.to != self.0.id {
            return Err(Status::failed_precondition(format!(
                "batch for replica {} reached replica {}",
                batch.to, self.0.id
            )));
        }
        if !batch.from_address.is_empty() {
            let known = ccx_model::sync::read(&self.0.addresses).contains_key(&batch.from);
            if !known {
                ccx_model::sync::write(&self.0.addresses)
                    .insert(batch.from, batch.from_address.clone());
            }
        }
        for m in transport::decode_batch(&batch) {
            self.0
                .input
                .send(Input::Raft(Box::new(m)))
                .map_err(|_| Status::unavailable("replica is stopping"))?;
        }
        Ok(Response::new(internal::RaftAck {}))
    }
}

#[tonic::async_trait]
impl internal::replica_writes_server::ReplicaWrites for InternalService {
    async fn forward(
        &self,
        request: Request<internal::ForwardRequest>,
    ) -> Result<Response<internal::ForwardResponse>, Status> {
        let req = request.into_inner();
        let op: WriteOp = bincode::deserialize(&req.op)
            .map_err(|e| Status::invalid_argument(format!("bad forwarded write: {e}")))?;
        let wait = Duration::from_millis(req.timeout_ms.clamp(100, 60_000));
        let result: CommandResult = match self.0.write(op, false, wait).await {
            Ok(v) => Ok(v),
            Err(ControlError::InvalidArgument(m)) => {
                Err(crate::state::CommandError::InvalidArgument(m))
            }
            Err(ControlError::NotFound(m)) => Err(crate::state::CommandError::NotFound(m)),
            Err(ControlError::FailedPrecondition(m)) => {
                Err(crate::state::CommandError::FailedPrecondition(m))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Response::new(internal::ForwardResponse {
            result: bincode::serialize(&result).expect("result serializes"),
        }))
    }
}

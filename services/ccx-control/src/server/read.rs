//! Reads: linearizable (ReadIndex) waits, and this replica's local view of the cluster.

use std::time::{Duration, Instant};

use ccx_proto::v1 as pb;
use tokio::sync::oneshot;

use crate::error::ControlError;

use super::core::Core;
use super::raft_loop::Input;

impl Core {
    /// Waits until this replica's state reflects every write committed before the call.
    pub(super) async fn linearizable(&self) -> Result<(), ControlError> {
        let deadline = Instant::now() + self.request_timeout;
        loop {
            let (reply, rx) = oneshot::channel();
            self.input
                .send(Input::Read { reply })
                .map_err(|_| ControlError::Unavailable("replica is stopping".into()))?;
            if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_millis(1_000), rx).await {
                self.metrics.reads.inc();
                return Ok(());
            }
            if Instant::now() + Duration::from_millis(20) >= deadline {
                return Err(ControlError::Unavailable(
                    "no leader confirmed a read index in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(super) fn cluster_status(&self) -> pb::ClusterStatusResponse {
        let s = self.status();
        let addresses = ccx_model::sync::read(&self.addresses);
        let mut members: Vec<u64> = s.voters.iter().chain(&s.learners).copied().collect();
        members.sort_unstable();
        pb::ClusterStatusResponse {
            node_id: s.id,
            leader_id: s.leader_id,
            leader_address: addresses.get(&s.leader_id).cloned().unwrap_or_default(),
            term: s.term,
            members: members.clone(),
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            role: s.role.clone(),
            member_addresses: members
                .iter()
                .map(|id| pb::Member {
                    id: *id,
                    address: addresses.get(id).cloned().unwrap_or_default(),
                    voter: s.voters.contains(id),
                })
                .collect(),
            snapshot_index: s.snapshot_index,
            first_index: s.first_index,
            last_index: s.last_index,
        }
    }
}

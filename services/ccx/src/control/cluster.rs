//! `ccx cluster status | add | remove`: the control plane's membership.

use ccx_control_client::ControlError;
use serde_json::json;
use std::path::PathBuf;

use super::ControlEndpoints;

/// `ccx cluster …`: membership and status.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub endpoints: ControlEndpoints,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum ClusterCommand {
    /// Leader, term, members, commit and applied index.
    Status,
    /// Add a replica (started with --join) as a voter.
    Add {
        id: u64,
        /// Its gRPC host:port.
        address: String,
    },
    /// Remove a replica from the voters.
    Remove { id: u64 },
}

/// `ccx cluster …`: prints the cluster's status (after the change, for `add` and `remove`).
pub async fn run(args: ClusterArgs, config: &[PathBuf]) -> Result<(), ControlError> {
    let client = args.endpoints.client(config)?;
    let s = match args.command {
        ClusterCommand::Status => client.status().await?,
        ClusterCommand::Add { id, address } => client.add_replica(id, &address).await?,
        ClusterCommand::Remove { id } => client.remove_replica(id).await?,
    };
    let v = json!({
        "replica": s.node_id,
        "role": s.role,
        "leader": s.leader_id,
        "leaderAddress": s.leader_address,
        "term": s.term,
        "commitIndex": s.commit_index,
        "appliedIndex": s.applied_index,
        "snapshotIndex": s.snapshot_index,
        "firstIndex": s.first_index,
        "lastIndex": s.last_index,
        "members": s.member_addresses.iter().map(|m| json!({
            "id": m.id, "address": m.address, "voter": m.voter
        })).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}

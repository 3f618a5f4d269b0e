//! `ccx credentials add | remove | list`: the credentials that act for one tenant on the
//! control plane and sign its people into the wallboard (docs/operations.md, "Onboarding a
//! client brand"). The control plane keeps only each token's SHA-256; `add` prints a token it
//! generated once, or takes one from `CCX_NEW_TOKEN`.

use std::path::PathBuf;

use ccx_control_client::{ControlError, TenantCredential};
use serde_json::json;

use ccx_model::json::format_ms;

use super::ControlEndpoints;

/// `ccx credentials …`
#[derive(clap::Args, Debug, Clone)]
pub struct CredentialsArgs {
    #[command(flatten)]
    pub endpoints: ControlEndpoints,
    #[command(subcommand)]
    pub command: CredentialsCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum CredentialsCommand {
    /// Give a tenant a credential (or a new token to its credential NAME). Prints the token
    /// once when it generated it.
    Add {
        tenant: String,
        /// Recorded as who acted with it: `[a-z0-9][a-z0-9_.@-]{0,63}`.
        name: String,
        /// The token to hash (default: a new random one, printed once).
        #[arg(long, env = "CCX_NEW_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Withdraw a credential: calls and wallboard sessions made with it stop at once.
    Remove { tenant: String, name: String },
    /// A tenant's credentials (every tenant's without TENANT): names, never tokens.
    List { tenant: Option<String> },
}

fn credential_json(c: &TenantCredential) -> serde_json::Value {
    json!({
        "tenant": c.tenant_id,
        "name": c.name,
        "tokenSha256": c.token_sha256,
        "createdAt": (c.created_at_ms != 0).then(|| format_ms(c.created_at_ms)),
        "createdBy": c.created_by,
    })
}

/// 32 random bytes, hex: a token no one has to invent.
fn new_token() -> Result<String, ControlError> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(ControlError::Io)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `ccx credentials …`: prints what the control plane answers.
pub async fn run(args: CredentialsArgs, config: &[PathBuf]) -> Result<(), ControlError> {
    let client = args.endpoints.client(config)?;
    match args.command {
        CredentialsCommand::Add {
            tenant,
            name,
            token,
        } => {
            let (token, generated) = match token {
                Some(t) => (t, false),
                None => (new_token()?, true),
            };
            let held = client
                .put_credential(&tenant, &name, &ccx_model::hash_token(token.trim()))
                .await?;
            let mut out = credential_json(&held);
            if generated {
                out["token"] = json!(token);
            }
            println!("{out}");
        }
        CredentialsCommand::Remove { tenant, name } => {
            let gone = client.remove_credential(&tenant, &name).await?;
            println!(
                "{}",
                json!({"tenant": gone.tenant_id, "removed": gone.name})
            );
        }
        CredentialsCommand::List { tenant } => {
            for c in client.list_credentials(tenant.as_deref()).await? {
                println!("{}", credential_json(&c));
            }
        }
    }
    Ok(())
}

//! `ccx alerts`, `ccx config`, `ccx credentials` and `ccx cluster`: the control plane's
//! commands, talking to the replicas named by `--control host:port,...` (env `CCX_CONTROL`)
//! through the control client, presenting the credential of `CCX_CONTROL_TOKEN` or, when it is
//! not set, `[control] token` of the configuration.

pub mod alerts;
pub mod cluster;
pub mod config;
pub mod credentials;

use std::path::PathBuf;

use ccx_control_client::{ControlClient, ControlError};

/// Where the control plane is: `--control host:port,...` (env `CCX_CONTROL`), and the
/// credential to present.
#[derive(clap::Args, Debug, Clone)]
pub struct ControlEndpoints {
    #[arg(
        long = "control",
        env = "CCX_CONTROL",
        value_delimiter = ',',
        default_value = "127.0.0.1:7400",
        global = true
    )]
    pub control: Vec<String>,
    /// CA certificates (PEM) the replicas are verified against: set, the commands connect
    /// with TLS (`control.ca` of the replicas' configuration).
    #[arg(long = "control-ca", env = "CCX_CONTROL_CA", global = true)]
    pub control_ca: Option<std::path::PathBuf>,
    /// The credential presented to the control plane (an operator's or a tenant's). Only
    /// from the environment, so it never shows in a process list; default: `[control] token`
    /// of the configuration (`--config`, `CCX__CONTROL__TOKEN`).
    #[arg(skip = std::env::var("CCX_CONTROL_TOKEN").ok())]
    pub token: Option<String>,
}

impl ControlEndpoints {
    /// A client presenting `CCX_CONTROL_TOKEN`, or the configuration's `[control] token`.
    pub fn client(&self, config: &[PathBuf]) -> Result<ControlClient, ControlError> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => {
                ccx_config::Config::load(config)
                    .map_err(|e| ControlError::Config(e.to_string()))?
                    .control
                    .token
            }
        };
        if token.is_empty() {
            return Err(ControlError::Config(
                "no control-plane credential: set CCX_CONTROL_TOKEN, or [control] token in the \
                 configuration"
                    .into(),
            ));
        }
        let tls = self
            .control_ca
            .as_deref()
            .map(|ca| ccx_control_client::ClientTls::trusting("--control-ca", ca))
            .transpose()
            .map_err(|e| ControlError::Config(e.to_string()))?;
        ControlClient::new(self.control.iter().cloned())?
            .with_tls(tls)
            .with_credential(&token)
    }
}

#[cfg(test)]
mod tests {
    use super::alerts::{AlertsArgs, AlertsCommand};
    use super::config::{apply_settings, parse_duration_ms, ConfigArgs, ConfigCommand};
    use ccx_control_client::AlertStatus;
    use ccx_model::settings::{Signal, TenantSettings};
    use clap::Parser;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: Sub,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Sub {
        Alerts(AlertsArgs),
        Config(ConfigArgs),
    }

    #[test]
    fn the_credential_comes_from_the_environment_or_the_config() {
        let endpoints = super::ControlEndpoints {
            control: vec!["127.0.0.1:1".into()],
            token: None,
            control_ca: None,
        };
        let dir = std::env::temp_dir().join(format!("ccx-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let without = dir.join("none.toml");
        std::fs::write(&without, "").unwrap();
        let err = endpoints.client(&[without]).err().unwrap();
        assert!(err.to_string().contains("CCX_CONTROL_TOKEN"), "{err}");
        let with = dir.join("token.toml");
        std::fs::write(&with, "[control]\ntoken = \"op-token\"\n").unwrap();
        assert!(endpoints.client(&[with]).is_ok());
        let from_env = super::ControlEndpoints {
            token: Some("has space".into()),
            ..endpoints
        };
        assert!(from_env.client(&[]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_alerts_and_config_commands() {
        let cli = Cli::try_parse_from([
            "ccx",
            "alerts",
            "--control",
            "a:1,b:2",
            "list",
            "--tenant",
            "acme",
            "--status",
            "open",
            "--from",
            "2024-01-01T00:00:00Z",
        ])
        .unwrap();
        let Sub::Alerts(a) = cli.cmd else { panic!() };
        assert_eq!(a.endpoints.control, vec!["a:1", "b:2"]);
        let AlertsCommand::List { status, from, .. } = a.command else {
            panic!()
        };
        assert_eq!(status, Some(AlertStatus::Open));
        assert_eq!(from, Some(1_704_067_200_000));
        let cli = Cli::try_parse_from([
            "ccx",
            "config",
            "set",
            "acme",
            "sl_threshold=30s",
            "churn.nps_detractor.weight=40",
            "token=s3cret",
            "queues.vip.sl_threshold=10s",
            "case_window=2d",
            "--control",
            "x:1",
        ])
        .unwrap();
        let Sub::Config(c) = cli.cmd else { panic!() };
        assert_eq!(c.endpoints.control, vec!["x:1"]);
        let ConfigCommand::Set { settings, .. } = c.command else {
            panic!()
        };
        let (mut edited, mut tokens) = (TenantSettings::default(), Vec::new());
        apply_settings(&mut edited, &mut tokens, &settings).unwrap();
        assert_eq!(edited.sl_threshold_ms, 30_000);
        assert_eq!(edited.churn.rules[Signal::NpsDetractor.index()].weight, 40);
        assert_eq!(tokens, vec![ccx_model::hash_token("s3cret")]);
        assert_eq!(edited.sl_threshold_of("vip"), 10_000);
        assert_eq!(edited.case_window_ms, 2 * 86_400_000);
        let reset = [("queues.vip.sl_threshold".to_string(), "default".to_string())];
        apply_settings(&mut edited, &mut tokens, &reset).unwrap();
        assert!(edited.queues.is_empty());
        let unknown = apply_settings(&mut edited, &mut tokens, &[("nope".into(), "1".into())]);
        assert!(unknown.is_err());
        assert_eq!(parse_duration_ms("24h").unwrap(), 86_400_000);
    }
}

//! `ccx alerts`, `ccx config` and `ccx cluster`: the control plane's commands, talking to the
//! replicas named by `--control host:port,...` (env `CCX_CONTROL`) through the control client.

pub mod alerts;
pub mod cluster;
pub mod config;

use ccx_control_client::{ControlClient, ControlError};

/// Where the control plane is: `--control host:port,...` (env `CCX_CONTROL`).
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
}

impl ControlEndpoints {
    fn client(&self) -> Result<ControlClient, ControlError> {
        let tls = self
            .control_ca
            .as_deref()
            .map(|ca| ccx_control_client::ClientTls::trusting("--control-ca", ca))
            .transpose()
            .map_err(|e| ControlError::Config(e.to_string()))?;
        Ok(ControlClient::new(self.control.iter().cloned())?.with_tls(tls))
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

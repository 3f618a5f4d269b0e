//! Runs one control-plane replica (the same as `ccx control`), for tests and benchmarks that
//! need replicas as separate processes.

use clap::Parser;

#[derive(Parser)]
#[command(about = "ccx control-plane replica")]
struct Cli {
    #[command(flatten)]
    replica: ccx_control::ReplicaArgs,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,raft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        stop.cancel();
    });
    ccx_control::run_replica(cli.replica.to_options(), shutdown).await?;
    Ok(())
}

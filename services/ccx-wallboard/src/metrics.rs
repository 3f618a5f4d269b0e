//! Prometheus metrics of the wallboard (`/metrics`). Labels come from bounded sets only: an
//! outcome, an action; never a tenant typed at sign-in, a user or an alert id.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    /// Sign-ins by outcome (`ok`, `refused`, `bad_user`).
    pub sign_ins: IntCounterVec,
    /// Alert actions by action and outcome (`ok`, `not_found`, `conflict`, `error`).
    pub alert_actions: IntCounterVec,
    /// Board reads whose source failed.
    pub source_errors: IntCounter,
    /// Open event streams.
    pub streams: IntGauge,
    /// Tenants whose board is being recomputed.
    pub feeds: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let sign_ins = IntCounterVec::new(
            Opts::new(
                "ccx_wallboard_sign_ins_total",
                "Sign-ins by outcome (ok, refused, bad_user).",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let alert_actions = IntCounterVec::new(
            Opts::new(
                "ccx_wallboard_alert_actions_total",
                "Alert actions from the page by action (acknowledge, resolve) and outcome (ok, \
                 not_found, conflict, error).",
            ),
            &["action", "outcome"],
        )
        .expect("valid metric");
        let source_errors = IntCounter::new(
            "ccx_wallboard_source_errors_total",
            "Board reads whose row source did not answer.",
        )
        .expect("valid metric");
        let streams = IntGauge::new(
            "ccx_wallboard_event_streams",
            "Open server-sent event streams (viewers).",
        )
        .expect("valid metric");
        let feeds = IntGauge::new(
            "ccx_wallboard_feeds",
            "Tenants whose board is being recomputed for their viewers.",
        )
        .expect("valid metric");
        for c in [&sign_ins, &alert_actions] {
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
        }
        registry
            .register(Box::new(source_errors.clone()))
            .expect("unique metric");
        for g in [&streams, &feeds] {
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
        }
        Metrics {
            registry,
            sign_ins,
            alert_actions,
            source_errors,
            streams,
            feeds,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

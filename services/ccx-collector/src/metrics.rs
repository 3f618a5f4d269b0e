//! Prometheus metrics of the collector. Labels come from bounded sets only: the configured
//! tenants, the protocol and the outcome.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub events: IntCounterVec,
    pub requests: IntCounterVec,
    pub batch_seconds: HistogramVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "ccx_collector_events_total",
                "Events by tenant and outcome (accepted, rejected).",
            ),
            &["tenant", "outcome"],
        )
        .expect("valid metric");
        let requests = IntCounterVec::new(
            Opts::new(
                "ccx_collector_requests_total",
                "Publish requests by protocol and status code name.",
            ),
            &["protocol", "code"],
        )
        .expect("valid metric");
        let batch_seconds = HistogramVec::new(
            HistogramOpts::new(
                "ccx_collector_batch_seconds",
                "Time from a batch's arrival to its answer.",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
            &["protocol"],
        )
        .expect("valid metric");
        for c in [&events, &requests] {
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
        }
        registry
            .register(Box::new(batch_seconds.clone()))
            .expect("unique metric");
        Metrics {
            registry,
            events,
            requests,
            batch_seconds,
        }
    }

    /// The text exposition format for `/metrics`.
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

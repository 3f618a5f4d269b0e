//! Prometheus metrics of the collector. Labels come from bounded sets only: the configured
//! tenants, the protocol, the outcome and the limit a request was refused by.

use crate::CollectorError;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub events: IntCounterVec,
    pub requests: IntCounterVec,
    pub refused: IntCounterVec,
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
        let refused = IntCounterVec::new(
            Opts::new(
                "ccx_collector_refused_total",
                "Requests refused whole for a limit, by protocol and reason (batch_bytes, \
                 batch_events, header_bytes, in_flight, tenant_rate).",
            ),
            &["protocol", "reason"],
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
        for c in [&events, &requests, &refused] {
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
            refused,
            batch_seconds,
        }
    }

    /// Counts a publish request by its outcome, and by the limit it hit when it was refused.
    pub fn request(&self, protocol: &str, error: Option<&CollectorError>) {
        let code = error.map_or("OK", CollectorError::code_name);
        self.requests.with_label_values(&[protocol, code]).inc();
        if let Some(reason) = error.and_then(CollectorError::limit) {
            self.refused.with_label_values(&[protocol, reason]).inc();
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

//! The one publish path of both protocols: authenticate, bound the batch, check tenants,
//! take the tenant's rate, validate each event, write the valid ones durably, answer.

use std::time::Instant;

use ccx_config::Config;
use ccx_model::now_ms;
use ccx_model::{kafka_key, validate, Event, Limits, Rejection};
use ccx_proto::prost::Message;
use ccx_proto::v1::{PublishResponse, Rejection as PbRejection};

use crate::auth::Tokens;
use crate::error::Measure;
use crate::limits::Door;
use crate::metrics::Metrics;
use crate::rate::{retry_after_secs, TenantRates};
use crate::sink::{Record, Sink};
use crate::CollectorError;

pub struct Ingest {
    /// Replaced as a whole when tenants or tokens change (see `set_tenants`).
    tokens: std::sync::RwLock<Tokens>,
    limits: Limits,
    max_events: usize,
    max_bytes: usize,
    rates: TenantRates,
    /// Header size and requests in flight, checked by each listener before reading a body.
    pub door: Door,
    sink: Sink,
    pub metrics: Metrics,
}

impl Ingest {
    pub fn new(config: &Config, sink: Sink) -> Ingest {
        Ingest {
            tokens: std::sync::RwLock::new(Tokens::new(&config.tenants)),
            limits: config.validation.limits(),
            max_events: config.collector.max_batch_events,
            max_bytes: config.collector.max_batch_bytes,
            rates: TenantRates::new(
                config.collector.tenant_events_per_second,
                config.collector.tenant_burst_events,
            ),
            door: Door::new(
                config.collector.max_header_bytes,
                config.collector.max_in_flight,
            ),
            sink,
            metrics: Metrics::new(),
        }
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The caller's tenant, from an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<String, CollectorError> {
        let tokens = ccx_model::sync::read(&self.tokens);
        tokens.authenticate(header).map(str::to_owned)
    }

    /// Replaces the tenants and their token hashes (applied to the next request).
    pub fn set_tenants(&self, tenants: &[ccx_config::TenantToken]) {
        let fresh = Tokens::new(tenants);
        *ccx_model::sync::write(&self.tokens) = fresh;
    }

    /// Refuses a batch over the byte limit before it is parsed.
    pub fn check_bytes(&self, bytes: usize) -> Result<(), CollectorError> {
        if bytes > self.max_bytes {
            return Err(self.too_many_bytes(format!("{bytes} bytes")));
        }
        Ok(())
    }

    /// The refusal of a body over the byte limit, of `size` (e.g. "5000 bytes").
    pub fn too_many_bytes(&self, size: String) -> CollectorError {
        CollectorError::TooLarge {
            measure: Measure::Bytes,
            size,
            limit: format!("{} bytes", self.max_bytes),
        }
    }

    /// Publishes a decoded batch for `tenant`. Elements that failed to decode arrive as their
    /// rejection. Valid events are accepted, invalid ones rejected one by one; the answer comes
    /// after the sink stored every accepted event.
    pub async fn publish(
        &self,
        tenant: &str,
        events: Vec<Result<Event, Rejection>>,
        bytes: usize,
    ) -> Result<PublishResponse, CollectorError> {
        self.check_bytes(bytes)?;
        if events.len() > self.max_events {
            return Err(CollectorError::TooLarge {
                measure: Measure::Events,
                size: format!("{} events", events.len()),
                limit: format!("{} events", self.max_events),
            });
        }
        if let Some((index, event)) = events.iter().enumerate().find_map(|(i, e)| match e {
            // Another tenant's id is refused as a whole; a malformed id is one bad event.
            Ok(e) if e.tenant_id != tenant && ccx_model::validate::is_tenant_id(&e.tenant_id) => {
                Some((i, e))
            }
            _ => None,
        }) {
            return Err(CollectorError::PermissionDenied {
                index,
                event_tenant: event.tenant_id.chars().take(64).collect(),
                caller: tenant.to_string(),
            });
        }
        // Last of the checks that refuse the whole batch, so that only batches that will be
        // processed spend the tenant's tokens; before any write, so a refusal loses nothing.
        if let Err(wait) = self.rates.take(tenant, events.len(), Instant::now()) {
            return Err(CollectorError::RateLimited {
                tenant: tenant.to_string(),
                events: events.len(),
                rate: self.rates.rate(),
                burst: self.rates.burst(),
                retry_after_secs: retry_after_secs(wait),
            });
        }
        let now = now_ms();
        let mut records = Vec::with_capacity(events.len());
        let mut rejected = Vec::new();
        for (index, event) in events.into_iter().enumerate() {
            let checked = event.and_then(|e| validate(&e, &self.limits, now).map(|()| e));
            match checked {
                Ok(e) => records.push(Record {
                    key: kafka_key(&e),
                    value: e.encode_to_vec(),
                }),
                Err(r) => rejected.push(PbRejection {
                    index: index as u32,
                    code: r.code.as_str().to_string(),
                    message: r.message,
                }),
            }
        }
        if !records.is_empty() {
            self.sink
                .write(&records)
                .await
                .map_err(CollectorError::Unavailable)?;
        }
        let counter = |outcome: &str, n: usize| {
            self.metrics
                .events
                .with_label_values(&[tenant, outcome])
                .inc_by(n as u64)
        };
        counter("accepted", records.len());
        counter("rejected", rejected.len());
        Ok(PublishResponse {
            accepted: records.len() as u32,
            rejected,
        })
    }
}

//! The ClickHouse row sink: writers on threads of their own, so the workers go on reading
//! while ClickHouse takes earlier flushes, shared by the workers of a process (their tenants
//! are disjoint, so their rows fold into the same writes). ClickHouse 18.16 pays per part
//! written (a file per column) far more than per row, so each table is written only as often
//! as its readers need, flushes that come in between folded into one write (a minute row
//! changed at every flush is written once):
//! - the live floor (`queue_now`, `agent_now`) as soon as its writer is free;
//! - the minute tables, alerts, staffing and progress as soon as their writer is free: the
//!   engines hand them over at most once per `StreamOptions::minutes_every`;
//! - events and the hourly and daily rollups, which nobody watches by the second, at most
//!   once per [`COLD_GAP`].
//!
//! What [`RowSink::sync_later`] returns waits until everything handed over before it is
//! stored; a checkpoint records its offsets only then, so a restart still replays whatever was
//! not.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ccx_config::ClickHouseConfig;
use ccx_model::sync::lock;
use ccx_model::Event;

use crate::batch_rows::BatchRows;
use crate::dataflow::{RowSink, Stored};
use crate::engine::Output;
use crate::error::StreamError;
use crate::fold_writer::{Cadence, FoldWriter};
use crate::live_rows::LiveRows;

pub const COLD_GAP: Duration = Duration::from_millis(5_000);
/// Events (which do not fold) that may wait for the cold writer before a hand-over waits for
/// it: a slow ClickHouse slows the workers rather than grow their memory.
const MAX_WAITING_EVENTS: usize = 250_000;

struct Writers {
    live: FoldWriter<LiveRows>,
    minutes: FoldWriter<BatchRows>,
    cold: FoldWriter<BatchRows>,
}

impl Writers {
    fn start(config: &ClickHouseConfig) -> Result<Writers, StreamError> {
        let cadence = |min_gap, max_backlog| Cadence {
            min_gap,
            max_backlog,
        };
        Ok(Writers {
            live: FoldWriter::start(
                "clickhouse-live",
                config,
                cadence(Duration::ZERO, usize::MAX),
            )?,
            minutes: FoldWriter::start(
                "clickhouse-minutes",
                config,
                cadence(Duration::ZERO, usize::MAX),
            )?,
            cold: FoldWriter::start(
                "clickhouse-cold",
                config,
                cadence(COLD_GAP, MAX_WAITING_EVENTS),
            )?,
        })
    }
}

/// Hands out sinks that share one set of writers while any of them lives.
#[derive(Clone)]
pub struct ClickHouseSinks {
    config: ClickHouseConfig,
    writers: Arc<Mutex<Weak<Writers>>>,
}

impl ClickHouseSinks {
    pub fn new(config: &ClickHouseConfig) -> ClickHouseSinks {
        ClickHouseSinks {
            config: config.clone(),
            writers: Arc::default(),
        }
    }

    /// A sink for one worker.
    pub fn sink(&self) -> Result<ClickHouseSink, StreamError> {
        let mut shared = lock(&self.writers);
        let writers = match shared.upgrade() {
            Some(writers) => writers,
            None => {
                let writers = Arc::new(Writers::start(&self.config)?);
                *shared = Arc::downgrade(&writers);
                writers
            }
        };
        Ok(ClickHouseSink {
            writers,
            failed: None,
        })
    }
}

pub struct ClickHouseSink {
    writers: Arc<Writers>,
    /// The first error of any writer, reported by every later `write` or `sync`.
    failed: Option<String>,
}

impl ClickHouseSink {
    /// A sink with writers of its own.
    pub fn new(config: &ClickHouseConfig) -> Result<ClickHouseSink, StreamError> {
        ClickHouseSinks::new(config).sink()
    }

    fn fail(&mut self, error: String) -> StreamError {
        StreamError::Sink(self.failed.get_or_insert(error).clone())
    }

    fn hand_over(&self, mut rows: Output, events: Vec<Event>) -> Result<(), String> {
        let w = &self.writers;
        // "Now" first: it never waits for the other writers.
        w.live.hand_over((
            std::mem::take(&mut rows.queue_now),
            std::mem::take(&mut rows.agent_now),
        ))?;
        let cold = Output {
            hourly: std::mem::take(&mut rows.hourly),
            daily: std::mem::take(&mut rows.daily),
            ..Output::default()
        };
        w.minutes.hand_over((rows, Vec::new()))?;
        w.cold.hand_over((cold, events))
    }
}

impl RowSink for ClickHouseSink {
    fn write(&mut self, rows: Output, events: Vec<Event>) -> Result<(), StreamError> {
        if let Some(e) = &self.failed {
            return Err(StreamError::Sink(e.clone()));
        }
        self.hand_over(rows, events).map_err(|e| self.fail(e))
    }

    fn sync(&mut self) -> Result<(), StreamError> {
        let stored = self.sync_later()?;
        stored().map_err(|e| match e {
            StreamError::Sink(e) => self.fail(e),
            other => other,
        })
    }

    fn sync_later(&mut self) -> Result<Stored, StreamError> {
        if let Some(e) = &self.failed {
            return Err(StreamError::Sink(e.clone()));
        }
        let w = Arc::clone(&self.writers);
        let targets = [w.cold.handed(), w.minutes.handed(), w.live.handed()];
        Ok(Box::new(move || {
            let [cold, minutes, live] = targets;
            w.cold
                .wait_stored(cold)
                .and(w.minutes.wait_stored(minutes))
                .and(w.live.wait_stored(live))
                .map_err(StreamError::Sink)
        }))
    }
}

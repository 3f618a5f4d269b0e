//! The engine operator: receives the readers' messages, hands them to the engine once the
//! dataflow's frontier passed the epoch they were sent at, moves each tenant's watermark
//! ([`crate::watermark`]), writes rows and checkpoints.
//!
//! Epochs are processing time (wall-clock ms at each reader's advance). The state at a
//! checkpoint boundary is exactly "everything sent before every reader crossed it", and the
//! checkpoint records the offsets each reader had then, so a restart resumes exactly.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use ccx_model::Event;
use ccx_proto::prost::Message as _;

use crate::checkpoint::{CheckpointDir, WorkerCheckpoint};
use crate::dataflow::{Progress, RowSink, StreamOptions};
use crate::engine::{Engine, Ingested, NO_WATERMARK};
use crate::error::StreamError;
use crate::reader::Message;
use crate::watermark::{TenantClocks, NEVER};

/// Input time advanced to -> (time advanced from, next offset of each owned partition).
pub type OffsetsAt = BTreeMap<u64, (u64, Vec<(i32, i64)>)>;

/// State shared between a worker's source loop and its engine operator.
pub struct Shared {
    /// Next offsets of this worker's partitions at each advance of its input time, keyed by
    /// the time advanced to, with the time advanced from: a boundary in (from, to] was
    /// crossed with these offsets.
    pub offsets_at: OffsetsAt,
    pub error: Option<StreamError>,
    /// With `finish_at`: every tenant of this worker's engine reached it.
    pub finished: bool,
}

pub struct EngineOperator<S> {
    engine: Engine,
    clocks: TenantClocks,
    sink: S,
    options: StreamOptions,
    dir: Option<Arc<CheckpointDir>>,
    shared: Rc<RefCell<Shared>>,
    progress: Arc<Progress>,
    worker: usize,
    peers: usize,
    /// Messages received, by the epoch they were sent at (kept whole, not copied).
    stash: BTreeMap<u64, Vec<Vec<Message>>>,
    /// Accepted raw events for the `events` table.
    events: Vec<Event>,
    last_flush: Instant,
    next_boundary: Option<u64>,
    /// The checkpoint being written (once the rows it covers are stored); it gives its buffer
    /// back for the next one.
    writing: Option<JoinHandle<Result<Vec<u8>, StreamError>>>,
    buffer: Vec<u8>,
}

impl<S: RowSink> EngineOperator<S> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Engine,
        sink: S,
        options: StreamOptions,
        dir: Option<Arc<CheckpointDir>>,
        shared: Rc<RefCell<Shared>>,
        progress: Arc<Progress>,
        (worker, peers): (usize, usize),
        start_time: u64,
    ) -> Self {
        // Boundaries are the multiples of `checkpoint_every_ms` after the first frontier seen
        // (or after the restored one), so all workers share every later boundary.
        let next_boundary = (start_time > 0)
            .then(|| next_boundary_after(start_time, options.checkpoint_every_ms))
            .flatten();
        let idle_ms = options.idle_timeout.as_millis() as i64;
        EngineOperator {
            engine,
            clocks: TenantClocks::new(options.partitions as usize, idle_ms),
            sink,
            options,
            dir,
            shared,
            progress,
            worker,
            peers,
            stash: BTreeMap::new(),
            events: Vec::new(),
            last_flush: Instant::now(),
            next_boundary,
            writing: None,
            buffer: Vec::new(),
        }
    }

    pub fn receive(&mut self, epoch: u64, messages: Vec<Message>) {
        self.stash.entry(epoch).or_default().push(messages);
    }

    /// The frontier moved to `front` (`None`: the inputs closed, the process is stopping).
    pub fn on_frontier(&mut self, front: Option<u64>) {
        if let Err(e) = self.step(front) {
            self.shared.borrow_mut().error = Some(e);
        }
    }

    fn step(&mut self, front: Option<u64>) -> Result<(), StreamError> {
        let Some(front) = front else {
            // Rows still go out, exact to the watermark; no watermark moves (nothing after it
            // is known).
            self.engine.accrue_agent_time();
            self.write_rows(Rows::Everything)?;
            return self.finish_checkpoint();
        };
        if self.writing.as_ref().is_some_and(|w| w.is_finished()) {
            self.finish_checkpoint()?;
        }
        if self.next_boundary.is_none() && front > 0 {
            self.next_boundary = next_boundary_after(front, self.options.checkpoint_every_ms);
        }
        // Cross each checkpoint boundary exactly: take what was sent before it, move the
        // watermarks, write rows, then the checkpoint.
        while let Some(boundary) = self.next_boundary.filter(|b| *b <= front) {
            self.take_until(boundary);
            self.advance_watermarks();
            self.write_rows(Rows::Everything)?;
            self.checkpoint(boundary)?;
            self.next_boundary = next_boundary_after(boundary, self.options.checkpoint_every_ms);
        }
        self.take_until(front);
        self.advance_watermarks();
        self.report();
        if self.last_flush.elapsed() >= self.options.flush_interval {
            self.last_flush = Instant::now();
            self.progress
                .set_tenant_watermarks(self.engine.watermarks());
            self.write_rows(Rows::AsDue)?;
        }
        Ok(())
    }

    /// Hands the engine every message sent before epoch `until`, in epoch order.
    fn take_until(&mut self, until: u64) {
        let later = self.stash.split_off(&until);
        let ready = std::mem::replace(&mut self.stash, later);
        let keep_events = self.options.keep_events;
        for message in ready.into_values().flatten().flatten() {
            match message {
                Message::Events {
                    read_before,
                    newest,
                    events,
                    ..
                } => {
                    let Some(first) = events.first() else {
                        continue;
                    };
                    let tenant = std::str::from_utf8(first.tenant()).unwrap_or_default();
                    self.clocks.observe(tenant, read_before, &newest);
                    let kept = &mut self.events;
                    self.engine.ingest_events(events, |ev, outcome| {
                        // Every event that is not a copy goes to `events` (late ones too:
                        // they were accepted, only not applied).
                        if keep_events && outcome != Ingested::Duplicate {
                            kept.extend(Event::decode(&ev.record()[..]).ok());
                        }
                    });
                }
                Message::CaughtUp { partitions, .. } => {
                    for (partition, at) in partitions {
                        self.clocks.caught_up(partition, at);
                    }
                }
            }
        }
    }

    /// Moves every tenant's watermark to what its clock allows, minus its own lateness:
    /// its events' progress, or the wall clock once it is idle (with `finish_at`, that value
    /// once every partition was read to its end).
    fn advance_watermarks(&mut self) {
        let finish = self
            .options
            .finish_at
            .filter(|_| self.clocks.all_caught_up());
        let (clocks, live) = (&self.clocks, self.options.finish_at.is_none());
        self.engine.advance_tenants(|tenant, settings| {
            let lateness = settings.allowed_lateness_ms;
            let bound = clocks.bound(tenant);
            let mut watermark = if bound == NEVER {
                NO_WATERMARK
            } else {
                bound.saturating_sub(lateness)
            };
            if let Some(finish) = finish {
                watermark = watermark.max(finish);
            } else if let Some(clock) = clocks.idle_clock(tenant).filter(|_| live) {
                watermark = watermark.max(clock.saturating_sub(lateness));
            }
            watermark
        });
        if let Some(finish) = finish {
            let done = self.engine.watermarks().all(|(_, w)| w >= finish);
            self.shared.borrow_mut().finished = done;
        }
    }

    fn report(&self) {
        let lowest = self.engine.watermarks().map(|(_, w)| w.max(0)).min();
        self.progress.set_watermark(self.worker, lowest);
    }

    fn write_rows(&mut self, rows: Rows) -> Result<(), StreamError> {
        let out = match rows {
            Rows::Everything => self.engine.take_all_output(),
            Rows::AsDue => self.engine.take_output(),
        };
        if out.is_empty() && self.events.is_empty() {
            return Ok(());
        }
        self.sink.write(out, std::mem::take(&mut self.events))
    }

    fn checkpoint(&mut self, boundary: u64) -> Result<(), StreamError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        // The offsets recorded must not pass rows ClickHouse has not stored yet: the file is
        // written on a thread of its own once they are, while the worker reads on; the worker
        // only encodes its state.
        let stored = self.sink.sync_later()?;
        let offsets = offsets_at_boundary(&mut self.shared.borrow_mut().offsets_at, boundary);
        // Files in boundary order: the previous one first (its buffer serves this one).
        self.finish_checkpoint()?;
        let ckpt = WorkerCheckpoint {
            boundary,
            workers: self.peers,
            worker: self.worker,
            offsets,
            tenants: self
                .engine
                .tenant_ids()
                .filter_map(|t| Some((t, self.engine.tenant_state(t)?)))
                .collect(),
        }
        .encode_into(std::mem::take(&mut self.buffer))
        .map_err(StreamError::Checkpoint)?;
        let (worker, peers, progress) = (self.worker, self.peers, Arc::clone(&self.progress));
        let writing = std::thread::Builder::new()
            .name(format!("checkpoint-w{worker}"))
            .spawn(move || {
                stored()?;
                dir.write(&ckpt).map_err(StreamError::Checkpoint)?;
                dir.prune(worker, peers);
                progress.checkpoints.fetch_add(1, Ordering::Relaxed);
                Ok(ckpt.into_buffer())
            })
            .map_err(StreamError::io("cannot start the checkpoint writer"))?;
        self.writing = Some(writing);
        Ok(())
    }

    /// Waits for the checkpoint being written, if any: its failure stops the stream.
    fn finish_checkpoint(&mut self) -> Result<(), StreamError> {
        if let Some(writing) = self.writing.take() {
            self.buffer = writing.join().unwrap_or_else(|_| {
                Err(StreamError::Checkpoint(std::io::Error::other(
                    "the checkpoint writer panicked",
                )))
            })?;
        }
        Ok(())
    }
}

/// What a flush hands over: everything changed (before a checkpoint and at the end, so the
/// rows it covers are written first), or what is due (the minute tables at their own pace).
enum Rows {
    Everything,
    AsDue,
}

/// The offsets the source had when its input time crossed `boundary`; forgets older ones.
fn offsets_at_boundary(offsets_at: &mut OffsetsAt, boundary: u64) -> Vec<(i32, i64)> {
    let found = offsets_at
        .range(boundary..)
        .next()
        .filter(|(_, (from, _))| *from < boundary)
        .map(|(_, (_, offsets))| offsets.clone())
        .unwrap_or_default();
    *offsets_at = offsets_at.split_off(&boundary);
    found
}

fn next_boundary_after(time: u64, every: u64) -> Option<u64> {
    (every > 0).then(|| (time / every + 1) * every)
}

//! The timely dataflow around the engine.
//!
//! Every worker reads its own partitions (partition p belongs to worker p mod workers,
//! [`crate::reader`]) and sends each poll's events, one batch per tenant, into the dataflow
//! at its current input time: the wall clock in ms (processing time, not event time). Batches
//! are exchanged by tenant to the worker that owns the tenant's engine; a reader also tells
//! every worker when one of its partitions is caught up. The engine operator
//! ([`crate::operator`]) takes data only once the frontier passed the epoch it was sent at,
//! moves each tenant's own watermark ([`crate::watermark`]), and at each checkpoint boundary
//! writes its rows and then a checkpoint with its state and the offsets the readers had when
//! they crossed that boundary. A restart resumes every worker from the newest boundary all of
//! them wrote.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ccx_model::now_ms;
use ccx_model::Event;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::InputHandle;
use timely::CommunicationConfig;

use crate::checkpoint::{CheckpointDir, WorkerCheckpoint};
use crate::engine::{Engine, Output, Settings, NO_WATERMARK};
use crate::error::StreamError;
use crate::operator::{EngineOperator, Shared};
use crate::reader::{Message, PartitionReader};
use crate::source::EventLog;

/// How a stream process runs.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Worker threads of this process.
    pub workers: usize,
    /// Processes of the timely cluster, this one's index and every process's address.
    pub processes: usize,
    pub process_id: usize,
    pub peers: Vec<String>,
    /// Partitions of the events topic.
    pub partitions: u32,
    /// A tenant that sent nothing for this long, while every partition was caught up, has
    /// its watermark follow the wall clock (minus its lateness), so its minutes become final.
    pub idle_timeout: Duration,
    /// The live floor (`queue_now`, `agent_now`) is recomputed and handed to its writer this
    /// often (SPEC §7.4); the minute tables at most every `minutes_every`.
    pub flush_interval: Duration,
    /// Processing time between checkpoint boundaries (0: no checkpoints).
    pub checkpoint_every_ms: u64,
    pub checkpoint_dir: Option<PathBuf>,
    /// For a finite log (benchmarks and tests): once every partition was read to its end,
    /// every tenant's watermark goes to this value (instead of following the wall clock) and
    /// the stream stops.
    pub finish_at: Option<i64>,
    /// Also hand accepted raw events to the sink (the `events` table).
    pub keep_events: bool,
    /// Write provisional rows that include events still waiting for the watermark.
    pub provisional: bool,
    /// Agent-state minutes are brought up to the watermark at most this often (and whenever
    /// a tenant's watermark enters a new minute): with every agent of a large floor in its
    /// open minute, doing it at every flush rewrites every agent's row at every flush.
    pub state_accrual: Duration,
    /// The minute tables' rows (and their provisional speculation, which costs a pass over
    /// the events waiting for the watermark) are handed over at most this often, and before
    /// every checkpoint; the live floor at every flush. ClickHouse 18.16 pays per part
    /// written, and nobody reads a minute's figures by the quarter second.
    pub minutes_every: Duration,
}

impl Default for StreamOptions {
    /// `[stream]`'s defaults (ccx-config), one process, 8 partitions, no checkpoints.
    fn default() -> Self {
        let config = ccx_config::StreamConfig::default();
        StreamOptions {
            workers: config.workers,
            processes: 1,
            process_id: 0,
            peers: Vec::new(),
            partitions: 8,
            idle_timeout: config.idle_timeout,
            flush_interval: config.flush_interval,
            checkpoint_every_ms: config.checkpoint_every.as_millis() as u64,
            checkpoint_dir: None,
            finish_at: None,
            keep_events: true,
            provisional: true,
            state_accrual: Duration::from_secs(5),
            minutes_every: Duration::from_secs(1),
        }
    }
}

/// Where rows go: ClickHouse in production, memory for the demo and tests.
pub trait RowSink {
    /// Hands the rows over, in order; they are stored by the time [`RowSink::sync`] returns
    /// (a sink may store them before returning, as the in-memory ones do).
    fn write(&mut self, rows: Output, events: Vec<Event>) -> Result<(), StreamError>;

    /// Returns once every row handed over is stored: the next checkpoint covers them.
    fn sync(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    /// [`RowSink::sync`] for another thread to wait for: it returns once every row handed
    /// over before this call is stored, while the worker goes on.
    fn sync_later(&mut self) -> Result<Stored, StreamError> {
        self.sync()?;
        Ok(Box::new(|| Ok(())))
    }
}

/// Waits until the rows a [`RowSink::sync_later`] covers are stored.
pub type Stored = Box<dyn FnOnce() -> Result<(), StreamError> + Send>;

impl RowSink for Box<dyn RowSink> {
    fn write(&mut self, rows: Output, events: Vec<Event>) -> Result<(), StreamError> {
        (**self).write(rows, events)
    }

    fn sync(&mut self) -> Result<(), StreamError> {
        (**self).sync()
    }

    fn sync_later(&mut self) -> Result<Stored, StreamError> {
        (**self).sync_later()
    }
}

/// What the stream reports while it runs (shared by all workers of the process).
#[derive(Debug, Default)]
pub struct Progress {
    /// The lowest tenant watermark of each worker's engine (none: it holds no tenant).
    watermarks: std::sync::Mutex<BTreeMap<usize, Option<i64>>>,
    /// Each tenant's watermark, as of the last flush.
    tenants: std::sync::Mutex<BTreeMap<String, i64>>,
    pub events_read: std::sync::atomic::AtomicU64,
    pub checkpoints: std::sync::atomic::AtomicU64,
    /// Set once every worker restored its state and started reading.
    pub running: AtomicBool,
}

impl Progress {
    pub(crate) fn set_watermark(&self, worker: usize, watermark: Option<i64>) {
        let mut all = ccx_model::sync::lock(&self.watermarks);
        all.insert(worker, watermark);
    }

    pub(crate) fn set_tenant_watermarks<'a>(&self, all: impl Iterator<Item = (&'a str, i64)>) {
        let mut tenants = ccx_model::sync::lock(&self.tenants);
        for (tenant, watermark) in all {
            match tenants.get_mut(tenant) {
                Some(w) => *w = watermark,
                None => {
                    tenants.insert(tenant.to_string(), watermark);
                }
            }
        }
    }

    /// The lowest watermark of the tenants this process's workers hold (0 before any has
    /// one).
    pub fn watermark(&self) -> i64 {
        let all = ccx_model::sync::lock(&self.watermarks);
        all.values().flatten().copied().min().unwrap_or(0)
    }

    /// Each tenant's watermark ([`NO_WATERMARK`] while its events are not yet known to have
    /// progressed), as of the last flush.
    pub fn tenant_watermarks(&self) -> BTreeMap<String, i64> {
        ccx_model::sync::lock(&self.tenants).clone()
    }
}

/// The timely configuration of `options`.
pub fn timely_config(options: &StreamOptions) -> timely::Config {
    let communication = if options.processes > 1 {
        CommunicationConfig::Cluster {
            threads: options.workers,
            process: options.process_id,
            addresses: options.peers.clone(),
            report: false,
            zerocopy: false,
        }
    } else if options.workers > 1 {
        CommunicationConfig::Process(options.workers)
    } else {
        CommunicationConfig::Thread
    };
    timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    }
}

/// Runs the stream until `stop` is set (or, with `finish_at`, until the log is consumed).
/// `make_log(worker)` and `make_sink(worker)` build each worker's reader and row sink.
pub fn run<L, S>(
    options: StreamOptions,
    settings: Settings,
    make_log: impl Fn(usize) -> Result<L, StreamError> + Send + Sync + 'static,
    make_sink: impl Fn(usize) -> Result<S, StreamError> + Send + Sync + 'static,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> Result<(), StreamError>
where
    L: EventLog + 'static,
    S: RowSink + 'static,
{
    let config = timely_config(&options);
    let guards = timely::execute(config, move |worker| {
        let result = run_worker(
            worker,
            &options,
            settings.clone(),
            &make_log,
            &make_sink,
            &stop,
            &progress,
        );
        if let Err(e) = &result {
            tracing::error!(worker = worker.index(), error = %e, "stream worker failed");
            stop.store(true, Ordering::Relaxed);
        }
        result
    })
    .map_err(StreamError::Timely)?;
    for result in guards.join() {
        result.map_err(StreamError::Timely)??;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run_worker<L: EventLog + 'static, S: RowSink + 'static>(
    worker: &mut timely::worker::Worker,
    options: &StreamOptions,
    settings: Settings,
    make_log: &(impl Fn(usize) -> Result<L, StreamError> + Send + Sync),
    make_sink: &(impl Fn(usize) -> Result<S, StreamError> + Send + Sync),
    stop: &AtomicBool,
    progress: &Arc<Progress>,
) -> Result<(), StreamError> {
    let index = worker.index();
    let peers = worker.peers();
    let dir = match &options.checkpoint_dir {
        Some(path) if options.checkpoint_every_ms > 0 => Some(Arc::new(
            CheckpointDir::new(path).map_err(StreamError::Checkpoint)?,
        )),
        _ => None,
    };
    let restored = restore(dir.as_deref(), index, peers)?;
    let start_time = restored.as_ref().map(|c| c.boundary).unwrap_or(0);
    let mut settings = settings;
    settings.provisional = options.provisional;
    settings.state_accrual_ms = options.state_accrual.as_millis() as i64;
    settings.minutes_every_ms = options.minutes_every.as_millis() as i64;
    // A tenant's first events are never late: it has no progress yet.
    let mut engine = Engine::new(settings, NO_WATERMARK);
    let mut starts: HashMap<i32, i64> = (0..options.partitions as i32)
        .filter(|p| (*p as usize) % peers == index)
        .map(|p| (p, 0))
        .collect();
    if let Some(ckpt) = restored {
        for (tenant, state) in ckpt.tenants {
            engine.restore_tenant(tenant, state);
        }
        starts.extend(ckpt.offsets);
    }
    let mut start_list: Vec<(i32, i64)> = starts.into_iter().collect();
    start_list.sort_unstable();
    let mut reader = PartitionReader::new(make_log(index)?, peers, &start_list)?;

    let shared = Rc::new(RefCell::new(Shared {
        offsets_at: BTreeMap::new(),
        error: None,
        finished: false,
    }));
    let mut input = InputHandle::<u64, CapacityContainerBuilder<Vec<Message>>>::new();
    {
        let mut operator = EngineOperator::new(
            engine,
            make_sink(index)?,
            options.clone(),
            dir,
            Rc::clone(&shared),
            Arc::clone(progress),
            (index, peers),
            start_time,
        );
        worker.dataflow::<u64, _, _>(|scope| {
            let exchange = Exchange::new(|m: &Message| m.route());
            input
                .to_stream(scope)
                .sink(exchange, "Engine", move |(input, frontier)| {
                    input.for_each(|cap, data| {
                        let epoch = cap.least().copied().unwrap_or_default();
                        operator.receive(epoch, std::mem::take(data));
                    });
                    operator.on_frontier(frontier.frontier().first().copied());
                });
        });
    }

    // The source loop: read, send at the current epoch, advance the epoch to the clock.
    input.advance_to(start_time);
    progress.running.store(true, Ordering::Relaxed);
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(e) = shared.borrow_mut().error.take() {
            return Err(e);
        }
        let polled = reader.poll()?;
        progress
            .events_read
            .fetch_add(polled.records as u64, Ordering::Relaxed);
        let caught_up = reader.caught_up(now_ms)?;
        // Everything of this poll was read before now.
        let now = now_ms();
        reader.take_batches(now, |message| input.send(message));
        if !caught_up.is_empty() {
            for route in 0..peers as u64 {
                input.send(Message::CaughtUp {
                    route,
                    partitions: caught_up.clone(),
                });
            }
        }
        let from = *input.time();
        let to = now.max(0) as u64;
        if to > from {
            shared
                .borrow_mut()
                .offsets_at
                .insert(to, (from, reader.offsets()));
            input.advance_to(to);
        }
        if shared.borrow().finished {
            break;
        }
        if polled.records == 0 {
            worker.step_or_park(Some(Duration::from_millis(2)));
        } else if polled.full {
            // Catching up (the poll came back full): the first step hands the poll's batches
            // to the engine operators, the second brings them the frontier past those
            // batches, so the engine ingests them now, while they are in cache, instead of
            // one poll later. Caught up, polls are small and one step each costs less.
            worker.step();
            worker.step();
        } else {
            worker.step_or_park(Some(Duration::ZERO));
        }
    }
    input.close();
    while worker.step_or_park(Some(Duration::from_millis(1))) {}
    Ok(())
}

/// The checkpoint of this worker at the newest boundary every worker wrote, if any.
fn restore(
    dir: Option<&CheckpointDir>,
    worker: usize,
    peers: usize,
) -> Result<Option<WorkerCheckpoint>, StreamError> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let Some(boundary) = dir.latest_complete(peers) else {
        return Ok(None);
    };
    let ckpt = dir
        .load(boundary, worker, peers)
        .map_err(StreamError::Checkpoint)?;
    tracing::info!(worker, boundary, "restored from checkpoint");
    Ok(Some(ckpt))
}

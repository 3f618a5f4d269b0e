//! The timely dataflow around the engine.
//!
//! Every worker reads its own partitions (partition p belongs to worker p mod workers) and
//! sends each event into the dataflow at the worker's current input time; the input time
//! follows the worker's watermark: min over its non-idle partitions of (latest event time −
//! allowed lateness). Events are exchanged by tenant to the worker that owns the tenant's
//! engine, whose input frontier is therefore the global watermark. The engine takes data only
//! once the frontier passed the time it was sent at, so its state at an event-time boundary is
//! exactly "everything read before each worker crossed that boundary": the worker then writes
//! its rows, and after them a checkpoint with that state and the offsets its sources recorded
//! at the boundary. A restart resumes every worker from the newest boundary all of them wrote.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ccx_model::Event;
use ccx_proto::prost::Message as _;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Operator;
use timely::dataflow::InputHandle;
use timely::CommunicationConfig;

use crate::checkpoint::{CheckpointDir, WorkerCheckpoint};
use crate::engine::{Engine, Ev, FastMap, Ingested, Output, Settings};
use crate::source::{fnv, EventLog, LogRecord};

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
    pub allowed_lateness_ms: i64,
    /// A partition without records for this long no longer holds the watermark back; when all
    /// of a worker's partitions are idle its watermark follows the clock (minus lateness).
    pub idle_timeout: Duration,
    /// Rows of open minutes are written at least this often.
    pub flush_interval: Duration,
    /// Event-time distance between checkpoint boundaries (0: no checkpoints).
    pub checkpoint_every_ms: u64,
    pub checkpoint_dir: Option<PathBuf>,
    /// Stop once every partition is read to its end and the watermark reached this value
    /// (benchmarks and tests over a finite log).
    pub finish_at: Option<i64>,
    /// Also hand accepted raw events to the sink (the `events` table).
    pub keep_events: bool,
    /// Write provisional rows that include events still waiting for the watermark.
    pub provisional: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            workers: 1,
            processes: 1,
            process_id: 0,
            peers: Vec::new(),
            partitions: 8,
            allowed_lateness_ms: 5_000,
            idle_timeout: Duration::from_secs(10),
            flush_interval: Duration::from_millis(500),
            checkpoint_every_ms: 10_000,
            checkpoint_dir: None,
            finish_at: None,
            keep_events: true,
            provisional: true,
        }
    }
}

/// Where rows go: ClickHouse in production, memory for the demo and tests.
pub trait RowSink {
    /// Returns only once the rows are stored (they are covered by the next checkpoint).
    fn write(&mut self, rows: Output, events: Vec<Event>) -> Result<(), String>;
}

impl RowSink for Box<dyn RowSink> {
    fn write(&mut self, rows: Output, events: Vec<Event>) -> Result<(), String> {
        (**self).write(rows, events)
    }
}

/// What the stream reports while it runs (shared by all workers of the process).
#[derive(Debug, Default)]
pub struct Progress {
    /// The watermark each worker's engine applied.
    watermarks: std::sync::Mutex<BTreeMap<usize, i64>>,
    pub events_read: std::sync::atomic::AtomicU64,
    pub checkpoints: std::sync::atomic::AtomicU64,
    /// Set once every worker restored its state and started reading.
    pub running: AtomicBool,
}

impl Progress {
    fn set_watermark(&self, worker: usize, watermark: i64) {
        let mut all = self.watermarks.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(worker, watermark);
    }

    /// The lowest watermark applied by this process's workers (0 before they started).
    pub fn watermark(&self) -> i64 {
        let all = self.watermarks.lock().unwrap_or_else(|p| p.into_inner());
        all.values().copied().min().unwrap_or(0)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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
    make_log: impl Fn(usize) -> Result<L, String> + Send + Sync + 'static,
    make_sink: impl Fn(usize) -> Result<S, String> + Send + Sync + 'static,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
) -> Result<(), String>
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
    })?;
    for result in guards.join() {
        result??;
    }
    Ok(())
}

/// State shared between a worker's source loop and its engine operator.
struct Shared {
    /// Next offsets of this worker's partitions at each advance of its input time, keyed by
    /// the time advanced to, with the time advanced from: a boundary in (from, to] was
    /// crossed with these offsets.
    offsets_at: OffsetsAt,
    error: Option<String>,
    /// The watermark this worker's engine applied.
    engine_watermark: i64,
}

/// The events of one poll of one tenant, with their route (the hash of the tenant), exchanged
/// as a unit: the exchange moves a batch, not each event. The source groups events by their
/// tenant's bytes, so a batch never mixes tenants (the engine relies on it).
type Exchanged = (u64, Vec<Ev>);

/// Input time advanced to -> (time advanced from, next offset of each owned partition).
type OffsetsAt = BTreeMap<u64, (u64, Vec<(i32, i64)>)>;

#[allow(clippy::too_many_arguments)]
fn run_worker<L: EventLog + 'static, S: RowSink + 'static>(
    worker: &mut timely::worker::Worker,
    options: &StreamOptions,
    settings: Settings,
    make_log: &(impl Fn(usize) -> Result<L, String> + Send + Sync),
    make_sink: &(impl Fn(usize) -> Result<S, String> + Send + Sync),
    stop: &AtomicBool,
    progress: &Arc<Progress>,
) -> Result<(), String> {
    let index = worker.index();
    let peers = worker.peers();
    let owned: Vec<i32> = (0..options.partitions as i32)
        .filter(|p| (*p as usize) % peers == index)
        .collect();

    // Restore from the newest boundary every worker wrote.
    let dir = match &options.checkpoint_dir {
        Some(path) if options.checkpoint_every_ms > 0 => Some(Rc::new(
            CheckpointDir::new(path).map_err(|e| e.to_string())?,
        )),
        _ => None,
    };
    let restored = match &dir {
        Some(dir) => match dir.latest_complete(peers) {
            Some(boundary) => Some(
                dir.load(boundary, index, peers)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        },
        None => None,
    };
    let start_time = restored.as_ref().map(|c| c.boundary).unwrap_or(0);
    let mut settings = settings;
    settings.provisional = options.provisional;
    let mut engine = Engine::new(settings, start_time as i64);
    let mut starts: HashMap<i32, i64> = owned.iter().map(|p| (*p, 0)).collect();
    if let Some(ckpt) = restored {
        for (tenant, state) in ckpt.tenants {
            engine.restore_tenant(tenant, state);
        }
        for (p, next) in ckpt.offsets {
            starts.insert(p, next);
        }
        tracing::info!(
            worker = index,
            boundary = ckpt.boundary,
            "restored from checkpoint"
        );
    }
    let mut log = make_log(index)?;
    // In `owned` order: partition `index + k * peers` is the k-th.
    let start_list: Vec<(i32, i64)> = owned
        .iter()
        .map(|p| (*p, starts.get(p).copied().unwrap_or(0)))
        .collect();
    log.assign(&start_list)?;

    let shared = Rc::new(RefCell::new(Shared {
        offsets_at: BTreeMap::new(),
        error: None,
        engine_watermark: start_time as i64,
    }));
    let mut sink = make_sink(index)?;
    let mut input = InputHandle::<u64, CapacityContainerBuilder<Vec<Exchanged>>>::new();
    {
        let shared = Rc::clone(&shared);
        let options = options.clone();
        let progress = Arc::clone(progress);
        let dir = dir.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            let stream = input.to_stream(scope);
            // Batches received, by the time they were sent at (kept whole, not copied).
            let mut stash: BTreeMap<u64, Vec<Vec<Exchanged>>> = BTreeMap::new();
            let mut events: Vec<Event> = Vec::new();
            let mut last_flush = Instant::now();
            // Boundaries are the multiples of `checkpoint_every_ms` after the first frontier
            // seen (or after the restored one), so all workers share every later boundary.
            let mut next_boundary = if start_time > 0 {
                next_boundary_after(start_time, options.checkpoint_every_ms)
            } else {
                None
            };
            let exchange = Exchange::new(|(route, _): &Exchanged| *route);
            stream.sink(exchange, "Engine", move |(input, frontier)| {
                input.for_each(|cap, data| {
                    let time = cap.least().copied().unwrap_or_default();
                    stash.entry(time).or_default().push(std::mem::take(data));
                });
                let Some(front) = frontier.frontier().first().copied() else {
                    // The inputs closed: the process is stopping. Rows still go out; the
                    // watermark does not jump (nothing after it is known).
                    let out = engine.take_output();
                    if !out.is_empty() || !events.is_empty() {
                        let _ = sink.write(out, std::mem::take(&mut events));
                    }
                    return;
                };
                if next_boundary.is_none() && front > 0 {
                    next_boundary = next_boundary_after(front, options.checkpoint_every_ms);
                }
                // Cross each checkpoint boundary exactly: ingest what was sent before it,
                // advance to it, write rows, then the checkpoint.
                while let Some(boundary) = next_boundary.filter(|b| *b <= front) {
                    take_until(
                        &mut stash,
                        boundary,
                        &mut engine,
                        &mut events,
                        options.keep_events,
                    );
                    engine.advance(boundary as i64);
                    let out = engine.take_output();
                    if let Err(e) = sink.write(out, std::mem::take(&mut events)) {
                        shared.borrow_mut().error = Some(e);
                        return;
                    }
                    if let Some(dir) = &dir {
                        let offsets =
                            offsets_at_boundary(&mut shared.borrow_mut().offsets_at, boundary);
                        let ckpt = WorkerCheckpoint {
                            boundary,
                            workers: peers,
                            worker: index,
                            offsets,
                            tenants: engine
                                .tenant_ids()
                                .filter_map(|t| Some((t.clone(), engine.tenant_state(t)?.clone())))
                                .collect(),
                        };
                        if let Err(e) = dir.write(&ckpt) {
                            shared.borrow_mut().error = Some(format!("checkpoint: {e}"));
                            return;
                        }
                        dir.prune(index, peers);
                        progress.checkpoints.fetch_add(1, Ordering::Relaxed);
                    }
                    next_boundary = next_boundary_after(boundary, options.checkpoint_every_ms);
                }
                take_until(
                    &mut stash,
                    front,
                    &mut engine,
                    &mut events,
                    options.keep_events,
                );
                engine.advance(front as i64);
                shared.borrow_mut().engine_watermark = engine.watermark();
                progress.set_watermark(index, engine.watermark());
                if last_flush.elapsed() >= options.flush_interval {
                    last_flush = Instant::now();
                    let out = engine.take_output();
                    if !out.is_empty() || !events.is_empty() {
                        if let Err(e) = sink.write(out, std::mem::take(&mut events)) {
                            shared.borrow_mut().error = Some(e);
                        }
                    }
                }
            });
        });
    }

    // The source loop: read, send at the current input time, advance to the watermark.
    input.advance_to(start_time);
    progress.running.store(true, Ordering::Relaxed);
    let lateness = options.allowed_lateness_ms;
    let mut sources: Vec<PartitionSource> = start_list
        .iter()
        .map(|(partition, next)| PartitionSource {
            partition: *partition,
            next: *next,
            max_time: start_time as i64 + lateness,
            last_record: Instant::now(),
        })
        .collect();
    let mut records: Vec<LogRecord> = Vec::new();
    // This poll's batch of each tenant; a tenant's next batch starts with a quarter more
    // room than its last one held.
    let mut batches: FastMap<Box<[u8]>, Vec<Ev>> = FastMap::default();
    let has_partitions = !owned.is_empty();
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some(e) = shared.borrow().error.clone() {
            return Err(e);
        }
        records.clear();
        if has_partitions {
            log.poll(POLL_RECORDS, &mut records)?;
        }
        let exhausted = records.is_empty();
        let behind = records.len() == POLL_RECORDS;
        progress
            .events_read
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let now = Instant::now();
        for record in records.drain(..) {
            // `sources` is in `owned` order: partition p is slot p / peers.
            let source = usize::try_from(record.partition)
                .ok()
                .and_then(|p| sources.get_mut(p / peers))
                .filter(|source| source.partition == record.partition);
            let Some(source) = source else {
                return Err(format!(
                    "record of partition {} not assigned",
                    record.partition
                ));
            };
            source.next = record.offset + 1;
            let ev = match Ev::read(record.payload) {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::warn!(
                        partition = record.partition,
                        offset = record.offset,
                        error = %e,
                        "undecodable record skipped"
                    );
                    continue;
                }
            };
            source.max_time = source.max_time.max(ev.time());
            source.last_record = now;
            match batches.get_mut(ev.tenant()) {
                Some(batch) => batch.push(ev),
                None => {
                    batches.insert(ev.tenant().into(), vec![ev]);
                }
            }
        }
        batches.retain(|tenant, batch| {
            if batch.is_empty() {
                return false;
            }
            let room = batch.len() + batch.len() / 4;
            input.send((
                fnv(tenant),
                std::mem::replace(batch, Vec::with_capacity(room)),
            ));
            true
        });
        let mut target = if has_partitions {
            local_watermark(&sources, lateness, options.idle_timeout)
        } else {
            None
        };
        if let Some(finish) = options.finish_at {
            if exhausted || !has_partitions {
                target = Some(finish);
            } else {
                target = target.map(|t| t.min(finish));
            }
        }
        if let Some(target) = target {
            let target = target.max(0) as u64;
            let from = *input.time();
            if target > from {
                let offsets: Vec<(i32, i64)> =
                    sources.iter().map(|s| (s.partition, s.next)).collect();
                shared
                    .borrow_mut()
                    .offsets_at
                    .insert(target, (from, offsets));
                input.advance_to(target);
            }
        }
        if let Some(finish) = options.finish_at {
            if shared.borrow().engine_watermark >= finish {
                break;
            }
        }
        if exhausted {
            worker.step_or_park(Some(Duration::from_millis(2)));
        } else if behind {
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

fn take_until(
    stash: &mut BTreeMap<u64, Vec<Vec<Exchanged>>>,
    until: u64,
    engine: &mut Engine,
    events: &mut Vec<Event>,
    keep_events: bool,
) {
    let later = stash.split_off(&until);
    for batch in std::mem::replace(stash, later).into_values().flatten() {
        for (_, evs) in batch {
            engine.ingest_events(evs, |ev, outcome| {
                // Every event that is not a copy goes to `events` (late ones too: they were
                // accepted, only not applied).
                if keep_events && outcome != Ingested::Duplicate {
                    events.extend(Event::decode(&ev.record()[..]).ok());
                }
            });
        }
    }
}

/// The most records a source reads per poll.
const POLL_RECORDS: usize = 4096;

/// Where the worker's source is in one of its partitions.
struct PartitionSource {
    partition: i32,
    /// The offset of the next record to read.
    next: i64,
    max_time: i64,
    last_record: Instant,
}

/// The worker's watermark: min over non-idle partitions of (latest time − lateness); the
/// clock minus lateness when all are idle.
fn local_watermark(sources: &[PartitionSource], lateness: i64, idle: Duration) -> Option<i64> {
    let active: Vec<i64> = sources
        .iter()
        .filter(|c| c.last_record.elapsed() < idle)
        .map(|c| c.max_time - lateness)
        .collect();
    if active.is_empty() {
        Some(now_ms() - lateness)
    } else {
        active.into_iter().min()
    }
}

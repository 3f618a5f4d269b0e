//! A ClickHouse writer on a thread of its own that folds what it is handed while it writes:
//! rows of the same key from successive flushes become one row (the newest value, as `FINAL`
//! would show), so a slow ClickHouse gets fewer, larger inserts instead of a queue, and the
//! worker handing rows over never waits for an insert. `wait_stored` waits until what was
//! handed over is stored; a checkpoint is recorded only after that, so exactly-once holds.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ccx_config::ClickHouseConfig;
use ccx_model::sync::lock;
use ccx_store::{version_now, RowBatch, Store};

use crate::error::StreamError;

/// Rows waiting for a writer, folded by key.
pub trait Pending: Default + Send + 'static {
    type Rows;
    fn fold(&mut self, rows: Self::Rows);
    fn is_empty(&self) -> bool;
    /// Rows that do not fold (each event is a row of its own): a hand-over waits while the
    /// writer has more than [`Cadence::max_backlog`] of them, so memory stays bounded.
    fn backlog(&self) -> usize;
    fn into_batch(self, version: u64) -> RowBatch;
}

/// How often a writer writes.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    /// At least this long from the start of one write to the start of the next (unless a
    /// `wait_stored` or the stop waits for it).
    pub min_gap: Duration,
    pub max_backlog: usize,
}

/// A write is retried with doubling delays from the first to the last, then fails the stream.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(10);

struct State<P> {
    pending: P,
    /// Hand-overs counted, and the newest of them stored.
    handed: u64,
    stored: u64,
    /// Callers in `wait_stored`: the writer does not wait out its gap for them.
    syncing: usize,
    failed: Option<String>,
    closed: bool,
}

struct Shared<P> {
    state: Mutex<State<P>>,
    changed: Condvar,
}

impl<P> Shared<P> {
    fn wait<'a>(&self, state: MutexGuard<'a, State<P>>) -> MutexGuard<'a, State<P>> {
        self.changed.wait(state).unwrap_or_else(|p| p.into_inner())
    }
}

pub struct FoldWriter<P: Pending> {
    shared: Arc<Shared<P>>,
    cadence: Cadence,
    thread: Option<JoinHandle<()>>,
}

impl<P: Pending> FoldWriter<P> {
    /// Starts the thread `name`.
    pub fn start(
        name: &str,
        config: &ClickHouseConfig,
        cadence: Cadence,
    ) -> Result<FoldWriter<P>, StreamError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StreamError::io(
                "cannot start a ClickHouse writer's runtime",
            ))?;
        // A connection of its own: a pooled connection serves only the runtime that opened it.
        let store = runtime.block_on(Store::connect(config))?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                pending: P::default(),
                handed: 0,
                stored: 0,
                syncing: 0,
                failed: None,
                closed: false,
            }),
            changed: Condvar::new(),
        });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&runtime, &store, &theirs, cadence))
            .map_err(StreamError::io("cannot start a ClickHouse writer"))?;
        Ok(FoldWriter {
            shared,
            cadence,
            thread: Some(thread),
        })
    }

    /// Folds one flush's rows into what waits; waits for ClickHouse only while the backlog
    /// is over its bound.
    pub fn hand_over(&self, rows: P::Rows) -> Result<(), String> {
        let mut state = lock(&self.shared.state);
        while state.failed.is_none() && state.pending.backlog() > self.cadence.max_backlog {
            state = self.shared.wait(state);
        }
        if let Some(e) = &state.failed {
            return Err(e.clone());
        }
        state.pending.fold(rows);
        if !state.pending.is_empty() {
            state.handed += 1;
            self.shared.changed.notify_all();
        }
        Ok(())
    }

    /// Hand-overs so far: [`FoldWriter::wait_stored`] of it waits for the rows handed over.
    pub fn handed(&self) -> u64 {
        lock(&self.shared.state).handed
    }

    /// Waits until the first `target` hand-overs are stored, or the writer failed; the
    /// writer does not wait out its gap meanwhile.
    pub fn wait_stored(&self, target: u64) -> Result<(), String> {
        let mut state = lock(&self.shared.state);
        state.syncing += 1;
        self.shared.changed.notify_all();
        let result = loop {
            if let Some(e) = &state.failed {
                break Err(e.clone());
            }
            if state.stored >= target {
                break Ok(());
            }
            state = self.shared.wait(state);
        };
        state.syncing -= 1;
        result
    }
}

impl<P: Pending> Drop for FoldWriter<P> {
    /// Stores what was handed over, then stops the thread.
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run<P: Pending>(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    shared: &Shared<P>,
    cadence: Cadence,
) {
    let mut last_start: Option<Instant> = None;
    let mut last_version = 0;
    loop {
        let (pending, handed) = {
            let mut state = lock(&shared.state);
            loop {
                let urgent = state.closed || state.syncing > 0;
                let due = last_start.map_or(Duration::ZERO, |t| {
                    cadence.min_gap.saturating_sub(t.elapsed())
                });
                if !state.pending.is_empty() && (urgent || due.is_zero()) {
                    break;
                }
                if state.pending.is_empty() && state.closed {
                    return;
                }
                state = if state.pending.is_empty() {
                    shared.wait(state)
                } else {
                    shared
                        .changed
                        .wait_timeout(state, due)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                };
            }
            let pending = std::mem::take(&mut state.pending);
            // A hand-over held back by the backlog may go on.
            shared.changed.notify_all();
            (pending, state.handed)
        };
        last_start = Some(Instant::now());
        last_version = version_now().max(last_version + 1);
        let result = write_batch(runtime, store, &pending.into_batch(last_version));
        let mut state = lock(&shared.state);
        match result {
            Ok(()) => state.stored = handed,
            Err(e) => {
                state.failed = Some(e);
                shared.changed.notify_all();
                return;
            }
        }
        shared.changed.notify_all();
    }
}

/// Stores one batch, retrying; after a failure the writer writes nothing more (the stream
/// stops and replays from its checkpoint).
fn write_batch(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    batch: &RowBatch,
) -> Result<(), String> {
    let mut delay = RETRY_FIRST;
    loop {
        match runtime.block_on(store.write(batch)) {
            Ok(()) => return Ok(()),
            Err(e) if delay < RETRY_LAST => {
                tracing::warn!(error = %e, "ClickHouse write failed, retrying");
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, "ClickHouse write failed");
                return Err(e.to_string());
            }
        }
    }
}

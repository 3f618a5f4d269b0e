//! The live floor's writer (`queue_now`, `agent_now`): a thread of its own beside the batch
//! writer, so "now" never waits behind a flush's minutes and events. Rows handed over while
//! a write is under way are folded into one pending batch, newer rows replacing older rows of
//! the same key: the writer is at most one write behind the newest flush and its memory is
//! bounded by the floor's size, however slow ClickHouse is.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use ccx_config::ClickHouseConfig;
use ccx_model::rows::{AgentNow, QueueNow};
use ccx_model::sync::lock;
use ccx_store::{RowBatch, Store};

use crate::error::StreamError;

/// What waits to be written, by table key.
#[derive(Default)]
struct Pending {
    queue_now: HashMap<(String, String, String), QueueNow>,
    agent_now: HashMap<(String, String), AgentNow>,
    version: u64,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.queue_now.is_empty() && self.agent_now.is_empty()
    }
}

#[derive(Default)]
struct State {
    pending: Pending,
    /// Hand-overs counted, and the newest of them stored.
    handed: u64,
    stored: u64,
    failed: Option<String>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

pub struct LiveWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LiveWriter {
    /// Starts the thread; `write` stores one batch (retrying as it sees fit).
    pub fn start(
        config: &ClickHouseConfig,
        write: fn(&tokio::runtime::Runtime, &Store, &RowBatch) -> Result<(), String>,
    ) -> Result<LiveWriter, StreamError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StreamError::io("cannot start the live writer's runtime"))?;
        // A connection of its own: a pooled connection serves only the runtime that opened it.
        let store = runtime.block_on(Store::connect(config))?;
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("clickhouse-live".into())
            .spawn(move || run(&runtime, &store, &theirs, write))
            .map_err(StreamError::io("cannot start the live writer"))?;
        Ok(LiveWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Folds one flush's live rows into what waits; never blocks on ClickHouse.
    pub fn hand_over(
        &self,
        queue_now: Vec<QueueNow>,
        agent_now: Vec<AgentNow>,
        version: u64,
    ) -> Result<(), String> {
        let mut state = lock(&self.shared.state);
        if let Some(e) = &state.failed {
            return Err(e.clone());
        }
        if queue_now.is_empty() && agent_now.is_empty() {
            return Ok(());
        }
        let pending = &mut state.pending;
        for row in queue_now {
            let key = (
                row.tenant_id.clone(),
                row.queue_id.clone(),
                row.channel.clone(),
            );
            pending.queue_now.insert(key, row);
        }
        for row in agent_now {
            pending
                .agent_now
                .insert((row.tenant_id.clone(), row.agent_id.clone()), row);
        }
        pending.version = version;
        state.handed += 1;
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Waits until every row handed over is stored, or the writer failed.
    pub fn sync(&self) -> Result<(), String> {
        let mut state = lock(&self.shared.state);
        let target = state.handed;
        loop {
            if let Some(e) = &state.failed {
                return Err(e.clone());
            }
            if state.stored >= target {
                return Ok(());
            }
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for LiveWriter {
    /// Stores what was handed over, then stops the thread.
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    runtime: &tokio::runtime::Runtime,
    store: &Store,
    shared: &Shared,
    write: fn(&tokio::runtime::Runtime, &Store, &RowBatch) -> Result<(), String>,
) {
    loop {
        let (pending, handed) = {
            let mut state = lock(&shared.state);
            while state.pending.is_empty() && !state.closed {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
            if state.pending.is_empty() {
                return;
            }
            (std::mem::take(&mut state.pending), state.handed)
        };
        let batch = RowBatch {
            version: pending.version,
            queue_now: pending.queue_now.into_values().collect(),
            agent_now: pending.agent_now.into_values().collect(),
            ..RowBatch::default()
        };
        let result = write(runtime, store, &batch);
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

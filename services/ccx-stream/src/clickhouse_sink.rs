//! The ClickHouse row sink: each output becomes one versioned batch, written by a thread of
//! its own so the worker goes on reading while ClickHouse takes the previous flush. At most one
//! batch waits behind the one being written (a slow ClickHouse slows the worker, never grows
//! memory); [`RowSink::sync`] waits until everything handed over is stored, which the
//! checkpoint does before it records offsets, so a restart still replays whatever was not.
//! The live floor's rows go to a writer of their own (`live_writer.rs`).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use ccx_config::ClickHouseConfig;
use ccx_model::Event;
use ccx_store::{version_now, RowBatch, Store};

use crate::dataflow::RowSink;
use crate::engine::Output;
use crate::error::StreamError;
use crate::live_writer::LiveWriter;
use crate::sink::row_batch;

/// Batches handed over but not yet being written.
const QUEUED: usize = 1;
/// A write is retried with doubling delays from the first to the last, then fails the stream.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(10);

enum Job {
    Write(Box<RowBatch>),
    /// Answered once every earlier batch is stored (or failed).
    Sync(SyncSender<Result<(), String>>),
}

pub struct ClickHouseSink {
    jobs: Option<SyncSender<Job>>,
    writer: Option<JoinHandle<()>>,
    live: LiveWriter,
    last_version: u64,
    /// The writer's first error, reported by the next `write` or `sync`.
    failed: Option<String>,
}

impl ClickHouseSink {
    pub fn new(config: &ClickHouseConfig) -> Result<ClickHouseSink, StreamError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StreamError::io("cannot start the sink's runtime"))?;
        let store = runtime.block_on(Store::connect(config))?;
        let live = LiveWriter::start(config, write_batch)?;
        let (jobs, queue) = sync_channel(QUEUED);
        let writer = std::thread::Builder::new()
            .name("clickhouse-writer".into())
            .spawn(move || write_jobs(&runtime, &store, queue))
            .map_err(StreamError::io("cannot start the ClickHouse writer"))?;
        Ok(ClickHouseSink {
            jobs: Some(jobs),
            writer: Some(writer),
            live,
            last_version: 0,
            failed: None,
        })
    }

    fn send(&mut self, job: Job) -> Result<(), StreamError> {
        match &self.jobs {
            Some(jobs) if jobs.send(job).is_ok() => Ok(()),
            _ => Err(self.fail(None)),
        }
    }

    /// Records the writer's failure (`None`: it is gone without saying why) and returns it.
    fn fail(&mut self, message: Option<String>) -> StreamError {
        let message = self
            .failed
            .get_or_insert_with(|| message.unwrap_or_else(|| "the writer stopped".into()));
        StreamError::Sink(message.clone())
    }
}

impl RowSink for ClickHouseSink {
    fn write(&mut self, mut rows: Output, events: Vec<Event>) -> Result<(), StreamError> {
        if self.failed.is_some() {
            return Err(self.fail(None));
        }
        if rows.is_empty() && events.is_empty() {
            return Ok(());
        }
        self.last_version = version_now().max(self.last_version + 1);
        // "Now" first: it never waits for the batch writer.
        let (queue_now, agent_now) = (
            std::mem::take(&mut rows.queue_now),
            std::mem::take(&mut rows.agent_now),
        );
        if let Err(e) = self.live.hand_over(queue_now, agent_now, self.last_version) {
            return Err(self.fail(Some(e)));
        }
        self.send(Job::Write(Box::new(row_batch(
            rows,
            events,
            self.last_version,
        ))))
    }

    fn sync(&mut self) -> Result<(), StreamError> {
        let (reply, answer) = sync_channel(1);
        self.send(Job::Sync(reply))?;
        match answer.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.fail(Some(e))),
            Err(_) => return Err(self.fail(None)),
        }
        self.live.sync().map_err(|e| self.fail(Some(e)))
    }
}

impl Drop for ClickHouseSink {
    /// Stores what was handed over before the stream goes (a stop writes its last rows).
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer thread: batches in order, each retried until stored or out of retries; after a
/// failure nothing more is written (the stream stops and replays from its checkpoint).
fn write_jobs(runtime: &tokio::runtime::Runtime, store: &Store, jobs: Receiver<Job>) {
    let mut failed: Option<String> = None;
    for job in jobs {
        match job {
            Job::Write(batch) if failed.is_none() => {
                failed = write_batch(runtime, store, &batch).err();
            }
            Job::Write(_) => {}
            Job::Sync(reply) => {
                let _ = reply.send(failed.clone().map_or(Ok(()), Err));
            }
        }
    }
}

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

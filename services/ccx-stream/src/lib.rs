//! The stream: turns validated events into the rows of SPEC §3/§5.
//!
//! It owns the metric engine ([`engine`]: deduplication, event-time ordering behind a
//! watermark, per-contact state, FCR verdicts, churn scoring, agent-state time, row
//! accumulation) — pure logic, no I/O — and, around it, the timely dataflow that reads Kafka
//! partitions, checkpoints and writes rows. It never talks to sources and never computes
//! KPIs (ratios are computed at query time from the components it writes).

pub mod backfill;
mod batch_rows;
pub mod checkpoint;
pub mod clickhouse_sink;
pub mod dataflow;
pub mod engine;
pub mod error;
mod fold_writer;
pub mod http;
mod live_rows;
pub mod operator;
pub mod reader;
pub mod retention;
pub mod serve;
pub mod sink;
pub mod source;
pub mod watermark;

pub use engine::{Engine, Output, Settings};
pub use error::StreamError;
pub use serve::{serve, Cluster, Running};

//! The collector: the only way events enter ccx.
//!
//! It owns the ingest APIs (tonic gRPC `ccx.v1.Collector` and HTTP `POST /v1/events`), bearer
//! token authentication per tenant, batch limits, and the durable write to Kafka: an event is
//! reported accepted only after Kafka acknowledged it (acks=all). Both protocols share one
//! path, [`ingest::Ingest::publish`]; validation itself is `ccx-model`'s. It computes no metric.

pub mod auth;
pub mod directory;
pub mod error;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod server;
pub mod sink;

pub use error::CollectorError;
pub use ingest::Ingest;
pub use server::{serve, Running};
pub use sink::{KafkaSink, Record, Sink};

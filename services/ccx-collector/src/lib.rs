//! The collector: the only way events enter ccx.
//!
//! It owns the ingest APIs (tonic gRPC `ccx.v1.Collector` and HTTP `POST /v1/events`), bearer
//! token authentication per tenant, limits on what a client can make it hold (body, batch,
//! headers, requests in flight, a per-tenant rate), and the durable write to Kafka: an event is
//! reported accepted only after Kafka acknowledged it (acks=all). Both protocols share one
//! path, [`ingest::Ingest::publish`]; validation itself is `ccx-model`'s. It computes no metric.

pub mod auth;
pub mod directory;
pub mod error;
pub mod grpc;
pub mod grpc_door;
pub mod http;
pub mod ingest;
pub mod limits;
pub mod metrics;
pub mod rate;
pub mod server;
pub mod sink;

pub use error::CollectorError;
pub use ingest::Ingest;
pub use server::{serve, Running};
pub use sink::{KafkaSink, Record, Sink};

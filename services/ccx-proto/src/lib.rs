//! Generated code for the `ccx.v1` protobuf package: the `Event` message of SPEC §2 and the
//! `Collector` and `Control` gRPC services. Nothing here is hand-written beyond this module;
//! validation and JSON live in `ccx-model`.

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("ccx.v1");
}

pub use prost;
pub use prost_types;

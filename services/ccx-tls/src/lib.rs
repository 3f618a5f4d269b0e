//! TLS of every ccx listener and of the control plane's clients, over rustls.
//!
//! One [`TlsConfig`](ccx_config::TlsConfig) shape serves every listener: [`ServerTls`] reads
//! it into a rustls server configuration whose certificate follows its files (`reload.rs`: a
//! rotated certificate is served from the next handshake, no restart), with the client CA when
//! one is set. [`ServerTls::incoming`] is the accept loop of the gRPC servers (tonic), and
//! [`serve_http`] serves an axum router over it or in plaintext. [`ClientTls`] is what a
//! control-plane client trusts and, between replicas, presents. [`warn_if_plaintext`] is the
//! one policy for listeners without TLS. This crate knows nothing of the services it secures.

mod client;
mod error;
mod http;
mod pem;
mod reload;
mod server;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::ClientTls;
pub use error::TlsError;
pub use http::serve_http;
pub use server::{warn_if_plaintext, ClientCerts, ServerTls};

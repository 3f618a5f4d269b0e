//! The control plane as its users see it (SPEC §1, §4): the client every other service and the
//! CLI use, the records it answers with (alerts, tenant configurations) and its errors.
//!
//! Collectors and streams link this crate only, not the raft replica (`ccx-control`), which
//! builds on these same records. [`ControlClient`] talks to any replica and follows the leader;
//! [`watch_configs`] keeps a service's tenant tokens or settings equal to what the control
//! plane holds. Every call presents the client's credential ([`Bearer`]).

pub mod alert;
pub mod client;
pub mod config;
pub mod credential;
pub mod error;
pub mod watch;

pub use alert::{AlertFilter, AlertKind, AlertRecord, AlertStatus, HistoryEntry, ThresholdFacts};
pub use ccx_tls::ClientTls;
pub use client::{channel, client_tls, tls_channel, ControlClient};
pub use config::StoredConfig;
pub use credential::{Bearer, TenantCredential};
pub use error::{CommandError, ControlError};
pub use watch::watch_configs;

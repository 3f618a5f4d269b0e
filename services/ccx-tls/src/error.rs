//! The one error of this crate: which setting, and why.

/// A TLS setting that cannot be used; `field` is its configuration key (`collector.tls.cert`).
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TlsError {
    pub field: String,
    pub reason: String,
}

impl TlsError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> TlsError {
        TlsError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

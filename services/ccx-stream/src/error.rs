//! What can stop the stream: the one error type of ccx-stream.

use rdkafka::error::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The broker refused or failed a call; `context` says which.
    #[error("Kafka: {context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: KafkaError,
    },
    /// The log handed a reader a record of a partition it does not own.
    #[error("record of partition {0} read by a worker that does not own it")]
    Unassigned(i32),
    #[error(transparent)]
    Store(#[from] ccx_store::StoreError),
    #[error(transparent)]
    Control(#[from] ccx_control_client::ControlError),
    /// Rows could not be stored (ClickHouse, after its retries).
    #[error("ClickHouse rows: {0}")]
    Sink(String),
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] std::io::Error),
    /// A listener or runtime of this process could not start.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Timely could not start its workers, or one of them panicked.
    #[error("timely: {0}")]
    Timely(String),
    /// A setting or flag that cannot work, named with the reason.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl StreamError {
    pub(crate) fn kafka(context: impl Into<String>) -> impl FnOnce(KafkaError) -> StreamError {
        let context = context.into();
        move |source| StreamError::Kafka { context, source }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StreamError {
        let context = context.into();
        move |source| StreamError::Io { context, source }
    }
}

//! What a request must pass before its body is read, on both listeners: the size of its
//! headers and a place among the requests in flight. The protocol layers (hyper, h2) also cut
//! off headers at twice `max_header_bytes` (see `server.rs`), so that no header list is held
//! in memory unbounded; below that this check refuses them with a message.

use std::sync::Arc;

use axum::http::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::CollectorError;

/// The size of a header list as HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE counts it
/// (RFC 9113 §6.5.2): name + value + 32 bytes per entry.
pub fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// A place among the requests in flight, held until the request is answered (a gRPC stream
/// holds it until it ends). Cloned into request extensions, hence the `Arc`.
#[derive(Debug, Clone)]
pub struct InFlight {
    _permit: Arc<OwnedSemaphorePermit>,
}

#[derive(Debug)]
pub struct Door {
    max_header_bytes: usize,
    max_in_flight: usize,
    in_flight: Arc<Semaphore>,
}

impl Door {
    pub fn new(max_header_bytes: usize, max_in_flight: usize) -> Door {
        Door {
            max_header_bytes,
            max_in_flight,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
        }
    }

    /// Lets a request in, or refuses it at once: a flood is turned away rather than queued,
    /// so that waiting requests hold no memory and clients learn to back off.
    pub fn admit(&self, headers: &HeaderMap) -> Result<InFlight, CollectorError> {
        let size = header_bytes(headers);
        if size > self.max_header_bytes {
            return Err(CollectorError::HeadersTooLarge {
                size,
                limit: self.max_header_bytes,
            });
        }
        let permit = Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| CollectorError::Overloaded {
                limit: self.max_in_flight,
            })?;
        Ok(InFlight {
            _permit: Arc::new(permit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_count_as_in_http2() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(header_bytes(&headers), 13 + 10 + 32);
    }

    #[test]
    fn admits_up_to_the_limits() {
        let door = Door::new(100, 1);
        let mut headers = HeaderMap::new();
        headers.insert("x", "y".repeat(67).parse().unwrap());
        assert_eq!(header_bytes(&headers), 100);
        let held = door.admit(&headers).unwrap();
        let err = door.admit(&headers).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the collector is at its limit of 1 requests in flight: retry later"
        );
        drop(held);
        let _held = door.admit(&headers).unwrap();

        headers.insert("x", "y".repeat(68).parse().unwrap());
        let err = door.admit(&headers).unwrap_err();
        assert_eq!(
            err.to_string(),
            "request headers of 101 bytes exceed the limit of 100 bytes"
        );
    }
}

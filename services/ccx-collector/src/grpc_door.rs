//! The gRPC listener's door, around the tonic service: admits a call before its message is
//! read (header size, requests in flight), and gives tonic's own refusal of a message over
//! `max_decoding_message_size` the collector's code and message.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::BoxBody;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::NamedService;
use tonic::{Code, Status};

use crate::{CollectorError, Ingest};

#[derive(Clone)]
pub struct GrpcDoor<S> {
    inner: S,
    ingest: Arc<Ingest>,
}

impl<S> GrpcDoor<S> {
    pub fn new(inner: S, ingest: Arc<Ingest>) -> Self {
        GrpcDoor { inner, ingest }
    }
}

impl<S: NamedService> NamedService for GrpcDoor<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<BoxBody>> for GrpcDoor<S>
where
    S: Service<http::Request<BoxBody>, Response = http::Response<BoxBody>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<BoxBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<BoxBody>) -> Self::Future {
        let ingest = Arc::clone(&self.ingest);
        let in_flight = match ingest.door.admit(request.headers()) {
            Ok(in_flight) => in_flight,
            Err(e) => {
                ingest.metrics.request("grpc", Some(&e));
                return Box::pin(async move { Ok(Status::from(e).into_http()) });
            }
        };
        // A stream keeps its place until it ends: the handler takes it from the extensions.
        request.extensions_mut().insert(in_flight.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            drop(in_flight);
            Ok(match oversized_message(&ingest, response.headers()) {
                Some(e) => {
                    ingest.metrics.request("grpc", Some(&e));
                    Status::from(e).into_http()
                }
                None => response,
            })
        })
    }
}

/// tonic refuses a message whose length prefix is over the limit before reading it, with
/// OUT_OF_RANGE; the collector never answers OUT_OF_RANGE itself, so this is that refusal.
fn oversized_message(ingest: &Ingest, headers: &http::HeaderMap) -> Option<CollectorError> {
    let status = Status::from_header_map(headers)?;
    (status.code() == Code::OutOfRange).then(|| too_large(ingest, &status))
}

/// The collector's refusal for tonic's "… found N bytes, the limit is …".
pub fn too_large(ingest: &Ingest, status: &Status) -> CollectorError {
    let found = status
        .message()
        .split("found ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok());
    ingest.too_many_bytes(match found {
        Some(n) => format!("{n} bytes"),
        None => format!("more than {} bytes", ingest.max_bytes()),
    })
}

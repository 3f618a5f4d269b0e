//! The tonic service `ccx.v1.Collector`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use ccx_proto::prost::Message;
use ccx_proto::v1::collector_server::Collector;
use ccx_proto::v1::{PublishRequest, PublishResponse};
use futures::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::limits::InFlight;
use crate::{grpc_door, CollectorError, Ingest};

/// In-flight batches of one `PublishStream` (answers keep the request order).
const STREAM_PIPELINE: usize = 4;

pub struct CollectorService {
    ingest: Arc<Ingest>,
}

impl CollectorService {
    pub fn new(ingest: Arc<Ingest>) -> Self {
        CollectorService { ingest }
    }
}

fn caller<T>(ingest: &Ingest, request: &Request<T>) -> Result<String, CollectorError> {
    let header = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    ingest.authenticate(header)
}

async fn publish_one(
    ingest: &Ingest,
    tenant: &str,
    request: PublishRequest,
) -> Result<PublishResponse, Status> {
    let started = Instant::now();
    let bytes = request.encoded_len();
    let events = request.events.into_iter().map(Ok).collect();
    let result = ingest.publish(tenant, events, bytes).await;
    record(ingest, &result, started);
    result.map_err(Status::from)
}

fn record<T>(ingest: &Ingest, result: &Result<T, CollectorError>, started: Instant) {
    ingest.metrics.request("grpc", result.as_ref().err());
    ingest
        .metrics
        .batch_seconds
        .with_label_values(&["grpc"])
        .observe(started.elapsed().as_secs_f64());
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<PublishResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Collector for CollectorService {
    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let tenant = caller(&self.ingest, &request).map_err(|e| {
            record::<()>(&self.ingest, &Err(e.clone()), Instant::now());
            Status::from(e)
        })?;
        let response = publish_one(&self.ingest, &tenant, request.into_inner()).await?;
        Ok(Response::new(response))
    }

    type PublishStreamStream = ResponseStream;

    async fn publish_stream(
        &self,
        request: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let tenant = Arc::new(caller(&self.ingest, &request)?);
        let ingest = Arc::clone(&self.ingest);
        // The stream's place among the requests in flight (see `grpc_door`), held until it ends.
        let in_flight = request.extensions().get::<InFlight>().cloned();
        let answers = request
            .into_inner()
            .map(move |message| {
                let _in_flight = in_flight.clone();
                let ingest = Arc::clone(&ingest);
                let tenant = Arc::clone(&tenant);
                async move {
                    let message = message.map_err(|status| match status.code() {
                        Code::OutOfRange => {
                            let e = grpc_door::too_large(&ingest, &status);
                            ingest.metrics.request("grpc", Some(&e));
                            Status::from(e)
                        }
                        _ => status,
                    })?;
                    publish_one(&ingest, &tenant, message).await
                }
            })
            .buffered(STREAM_PIPELINE);
        Ok(Response::new(Box::pin(answers)))
    }
}

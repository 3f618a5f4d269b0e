//! HTTP: `POST /v1/events` (JSON array or NDJSON, same answer as gRPC, as JSON), `/metrics`,
//! `/healthz`, `/readyz`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ccx_proto::v1::PublishResponse;
use serde_json::{json, Value};

use crate::{CollectorError, Ingest};

pub fn router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route(
            "/v1/events",
            post(publish).layer(middleware::from_fn_with_state(Arc::clone(&ingest), door)),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(ingest)
}

/// The JSON answer of a publish, shared with clients and tests.
pub fn response_json(response: &PublishResponse) -> Value {
    json!({
        "accepted": response.accepted,
        "rejected": response.rejected.iter().map(|r| json!({
            "index": r.index, "code": r.code, "message": r.message,
        })).collect::<Vec<_>>(),
    })
}

fn error_response(e: &CollectorError) -> Response {
    let body = Json(json!({"code": e.code_name(), "message": e.to_string()}));
    let mut response = (e.http_status(), body).into_response();
    if let Some(secs) = e.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, secs.into());
    }
    response
}

/// Admits a publish before its body is read (header size, requests in flight); the place in
/// flight is held until the answer is built.
async fn door(State(ingest): State<Arc<Ingest>>, request: Request, next: Next) -> Response {
    match ingest.door.admit(request.headers()) {
        Ok(_in_flight) => next.run(request).await,
        Err(e) => {
            ingest.metrics.request("http", Some(&e));
            error_response(&e)
        }
    }
}

async fn publish(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let result = publish_inner(&ingest, &headers, body).await;
    ingest.metrics.request("http", result.as_ref().err());
    ingest
        .metrics
        .batch_seconds
        .with_label_values(&["http"])
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(response) => (StatusCode::OK, Json(response_json(&response))).into_response(),
        Err(e) => error_response(&e),
    }
}

async fn publish_inner(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
) -> Result<PublishResponse, CollectorError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let tenant = ingest.authenticate(auth)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // A declared length over the limit is refused before a byte of the body is read.
    if let Some(len) = declared {
        ingest.check_bytes(len)?;
    }
    // A body without a length (chunked) is read up to the limit and no further.
    let body = to_bytes(body, ingest.max_bytes())
        .await
        .map_err(|_| ingest.too_many_bytes(format!("more than {} bytes", ingest.max_bytes())))?;
    let events = ccx_model::json::parse_batch(&body)
        .map_err(|e| CollectorError::Malformed(e.to_string()))?;
    ingest.publish(&tenant, events, body.len()).await
}

async fn metrics(State(ingest): State<Arc<Ingest>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ingest.metrics.render(),
    )
}

async fn ready(State(ingest): State<Arc<Ingest>>) -> impl IntoResponse {
    if ingest.sink().ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "broker not answering")
    }
}

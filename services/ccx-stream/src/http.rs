//! `/metrics`, `/healthz`, `/readyz` of a stream process.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use crate::dataflow::Progress;

pub fn router(progress: Arc<Progress>) -> Router {
    let metrics = {
        let p = Arc::clone(&progress);
        move || async move {
            let watermark = p.watermark();
            let mut text = format!(
                "# TYPE ccx_stream_events_read_total counter\nccx_stream_events_read_total {}\n\
                 # TYPE ccx_stream_checkpoints_total counter\nccx_stream_checkpoints_total {}\n\
                 # TYPE ccx_stream_watermark_ms gauge\nccx_stream_watermark_ms {}\n\
                 # TYPE ccx_stream_tenant_watermark_ms gauge\n",
                p.events_read.load(Ordering::Relaxed),
                p.checkpoints.load(Ordering::Relaxed),
                watermark,
            );
            // Tenant ids are bounded by configuration; a tenant without progress yet has none.
            for (tenant, w) in p.tenant_watermarks() {
                if w != crate::engine::NO_WATERMARK {
                    text.push_str(&format!(
                        "ccx_stream_tenant_watermark_ms{{tenant=\"{tenant}\"}} {w}\n"
                    ));
                }
            }
            text
        }
    };
    let ready = move || async move {
        if progress.running.load(Ordering::Relaxed) {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "starting")
        }
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
}

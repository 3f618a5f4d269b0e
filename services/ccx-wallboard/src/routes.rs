//! The HTTP routes. Every `/api` route takes the tenant from the session only: a `tenant`
//! parameter, or another tenant's alert id, reaches nothing of another tenant.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{cleared_cookie, session_cookie, Session, SignInError};
use crate::error::WallboardError;
use crate::feed::{board_of, now_ms, TenantState};
use crate::App;

const PAGE: &str = include_str!("page.html");
const SIGN_IN: &str = include_str!("signin.html");

pub fn router(app: Arc<App>) -> Router {
    let posts = Router::new()
        .route("/signin", post(sign_in))
        .route("/signout", post(sign_out))
        .route("/api/alerts/acknowledge", post(acknowledge))
        .route("/api/alerts/resolve", post(resolve))
        .layer(axum::middleware::from_fn(same_origin));
    Router::new()
        .route("/", get(page))
        .route("/signin", get(sign_in_form))
        .route("/api/session", get(session))
        .route("/api/board", get(board))
        .route("/api/events", get(events))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/readyz", get(ready))
        .merge(posts)
        .with_state(app)
}

/// Refuses a POST sent by a page of another site (its `Origin` names another host than the
/// request's `X-Forwarded-Host`, set by a proxy in front, or else its `Host`): the session
/// cookie is SameSite=Strict already; this also keeps another site from signing a browser into
/// a tenant of its choosing.
async fn same_origin(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("x-forwarded-host").or_else(|| text(header::HOST.as_str()));
    if let Some(origin) = text(header::ORIGIN.as_str()) {
        let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if Some(origin_host) != host {
            return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
        }
    }
    next.run(request).await
}

fn signed_in(app: &App, headers: &HeaderMap) -> Result<Session, WallboardError> {
    app.auth
        .session(headers)
        .ok_or(WallboardError::Unauthenticated)
}

/// Pages are not cached and not framed.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 frame-ancestors 'none'; form-action 'self'",
            ),
        ],
        Html(body),
    )
        .into_response()
}

async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match app.auth.session(&headers) {
        Some(_) => html(StatusCode::OK, PAGE.to_string()),
        None => Redirect::to("/signin").into_response(),
    }
}

fn sign_in_page(status: StatusCode, problem: &str) -> Response {
    html(
        status,
        SIGN_IN.replace("<!--problem-->", &escape_html(problem)),
    )
}

async fn sign_in_form() -> Response {
    sign_in_page(StatusCode::OK, "")
}

#[derive(Deserialize)]
struct SignIn {
    tenant: String,
    user: String,
    token: String,
}

async fn sign_in(State(app): State<Arc<App>>, Form(form): Form<SignIn>) -> Response {
    let signed = app
        .auth
        .sign_in(form.tenant.trim(), &form.user, &form.token);
    let outcome = match &signed {
        Ok(_) => "ok",
        Err(SignInError::Refused) => "refused",
        Err(SignInError::BadUser) => "bad_user",
    };
    app.metrics.sign_ins.with_label_values(&[outcome]).inc();
    match signed {
        Ok(id) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (header::SET_COOKIE, session_cookie(&id)),
            ],
        )
            .into_response(),
        Err(e) => {
            if e == SignInError::Refused {
                tracing::info!(tenant = %form.tenant.trim(), "wallboard sign-in refused");
            }
            sign_in_page(StatusCode::UNAUTHORIZED, &e.to_string())
        }
    }
}

async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    app.auth.sign_out(&headers);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/signin".to_string()),
            (header::SET_COOKIE, cleared_cookie()),
        ],
    )
        .into_response()
}

async fn session(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, WallboardError> {
    let s = signed_in(&app, &headers)?;
    Ok(Json(json!({ "tenant": s.tenant, "user": s.user })))
}

/// The board of the session's tenant now (what the events carry), as JSON.
async fn board(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, WallboardError> {
    let s = signed_in(&app, &headers)?;
    let board = board_of(&app, &s.tenant, &mut TenantState::default(), now_ms()).await;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(board)).into_response())
}

async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, WallboardError> {
    let s = signed_in(&app, &headers)?;
    let stream = crate::sse::events(Arc::clone(&app), &s, headers);
    // Proxies pass each event on at once instead of buffering the response.
    Ok(([("x-accel-buffering", "no")], stream).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertAction {
    alert_id: String,
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(action): Json<AlertAction>,
) -> Result<Json<serde_json::Value>, WallboardError> {
    alert_action(&app, &headers, action, false).await
}

async fn resolve(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(action): Json<AlertAction>,
) -> Result<Json<serde_json::Value>, WallboardError> {
    alert_action(&app, &headers, action, true).await
}

/// Acknowledges or resolves an alert of the session's tenant, by the session's user.
async fn alert_action(
    app: &App,
    headers: &HeaderMap,
    action: AlertAction,
    resolve: bool,
) -> Result<Json<serde_json::Value>, WallboardError> {
    let s = signed_in(app, headers)?;
    let control = app.control.as_ref().ok_or(WallboardError::Unavailable(
        "no control plane configured".into(),
    ))?;
    let (tenant, id, by, note) = (&s.tenant, &action.alert_id, &s.user, &action.note);
    let done = if resolve {
        control.resolve(tenant, id, by, note).await
    } else {
        control.acknowledge(tenant, id, by, note).await
    }
    .map_err(WallboardError::of_alert_action);
    let outcome = match &done {
        Ok(_) => "ok",
        Err(WallboardError::NotFound(_)) => "not_found",
        Err(WallboardError::Conflict(_)) => "conflict",
        Err(_) => "error",
    };
    let name = if resolve { "resolve" } else { "acknowledge" };
    app.metrics
        .alert_actions
        .with_label_values(&[name, outcome])
        .inc();
    let record = done?;
    tracing::info!(tenant = %s.tenant, by = %s.user, alert = %record.alert_id,
        status = record.status.name(), "wallboard alert action");
    Ok(Json(json!({
        "alertId": record.alert_id,
        "status": record.status.name(),
    })))
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    match app.source.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("source: {e}")).into_response(),
    }
}

/// Escapes text for an HTML text node or attribute value.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_is_escaped() {
        assert_eq!(
            super::escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

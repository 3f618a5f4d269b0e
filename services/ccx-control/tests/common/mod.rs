//! Shared by the notification tests: an HTTP receiver on loopback that records every request
//! (and can fail or stall on purpose), targets and alerts.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ccx_control::{AlertRecord, StoredConfig};
use ccx_control_client::ThresholdFacts;
use ccx_model::rows::ChurnAlert;
use ccx_model::settings::{AlertKind, Format, NotificationTarget};
use serde_json::Value;

/// The operator credential the replicas of these tests accept.
pub const OPERATOR: &str = "operator-token-of-the-notify-tests";

/// How the receiver answers on one path.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    Ok,
    /// 500 to the first `n` requests of each Idempotency-Key, then 200.
    FailFirst(usize),
    /// Sleeps `delay` before answering the first `n` requests of each key, then answers
    /// at once; always 200.
    StallFirst(usize, Duration),
    /// Sleeps `delay`, then 200.
    Slow(Duration),
    /// 500, always.
    Down,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub key: String,
    pub body: Value,
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    behaviour: HashMap<String, Behaviour>,
    seen: HashMap<(String, String), usize>,
    requests: Vec<Received>,
}

/// A small HTTP server on 127.0.0.1 recording what is posted to it.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start(paths: &[(&str, Behaviour)]) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            behaviour: paths.iter().map(|(p, b)| (p.to_string(), *b)).collect(),
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/*path", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// Every request to `path`, in arrival order.
    pub fn requests(&self, path: &str) -> Vec<Received> {
        ccx_model::sync::lock(&self.inner)
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// The requests to `path` answered 200, in arrival order.
    pub fn accepted(&self, path: &str) -> Vec<Received> {
        self.requests(path)
            .into_iter()
            .filter(|r| r.status == 200)
            .collect()
    }

    pub fn all(&self) -> Vec<Received> {
        ccx_model::sync::lock(&self.inner).requests.clone()
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (behaviour, nth) = {
        let mut inner = ccx_model::sync::lock(&inner);
        let behaviour = inner.behaviour.get(&path).copied().unwrap_or(Behaviour::Ok);
        let nth = inner.seen.entry((path.clone(), key.clone())).or_default();
        *nth += 1;
        (behaviour, *nth)
    };
    let status = match behaviour {
        Behaviour::Ok => 200,
        Behaviour::FailFirst(n) => {
            if nth <= n {
                500
            } else {
                200
            }
        }
        Behaviour::StallFirst(n, delay) => {
            if nth <= n {
                tokio::time::sleep(delay).await;
            }
            200
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            200
        }
        Behaviour::Down => 500,
    };
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    ccx_model::sync::lock(&inner).requests.push(Received {
        path,
        key,
        body,
        status,
        at: Instant::now(),
    });
    StatusCode::from_u16(status).unwrap()
}

pub fn target(url: String, kinds: &[AlertKind], format: Format) -> NotificationTarget {
    NotificationTarget {
        url,
        kinds: kinds.to_vec(),
        format,
    }
}

/// `tenant`'s configuration with these notification targets.
pub fn config_with(tenant: &str, targets: Vec<NotificationTarget>) -> ccx_proto::v1::TenantConfig {
    let mut c = StoredConfig::defaults(tenant);
    c.settings.notification_targets = targets;
    c.to_proto()
}

pub fn churn(tenant: &str, n: u64) -> ChurnAlert {
    ChurnAlert {
        tenant_id: tenant.into(),
        alert_id: format!("{tenant}:c{n}:e{n}"),
        customer_id: format!("c{n}"),
        score: 70,
        reasons: vec!["NPS_DETRACTOR".into(), "REPEAT_CONTACT".into()],
        triggered_at: 1_767_225_600_000 + n as i64,
        contact_id: format!("k{n}"),
        channel: "VOICE".into(),
        queue_id: "q1".into(),
        agent_id: "a1".into(),
    }
}

/// A THRESHOLD alert as the stream raises it.
pub fn threshold(tenant: &str, rule: &str, value: f64) -> AlertRecord {
    let mut a = AlertRecord::from_churn_alert(&churn(tenant, 0));
    a.kind = AlertKind::Threshold;
    a.alert_id = format!("{tenant}:{rule}:q1::29446260");
    a.customer_id.clear();
    a.score = 0;
    a.reasons.clear();
    a.contact_id.clear();
    a.agent_id.clear();
    a.channel.clear();
    a.threshold = Some(ThresholdFacts {
        rule_id: rule.into(),
        metric: "service_level".into(),
        value,
        threshold: 80.0,
    });
    a
}

/// Raises any alert (a churn alert or a threshold one) through the public gRPC service.
pub async fn raise(address: &str, alert: &AlertRecord) -> AlertRecord {
    let mut c = ccx_proto::v1::control_client::ControlClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let mut request = tonic::Request::new(ccx_proto::v1::RaiseAlertRequest {
        alert: Some(alert.to_proto()),
        request_id: format!("raise-{}", alert.alert_id),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {OPERATOR}").parse().unwrap(),
    );
    let a = c.raise_alert(request).await.unwrap().into_inner();
    AlertRecord::from_proto_full(&a)
}

/// Waits up to `within` for `check`.
pub async fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The replica's `/metrics` value of `name` (summed over label sets).
pub async fn metric(http: SocketAddr, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{http}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

//! The wallboard's HTTP API over the memory source and a single-node control plane: sign-in,
//! and that a session of one tenant reads and acts on nothing of another.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ccx_config::TenantToken;
use ccx_control_client::{ControlClient, StoredConfig};
use ccx_model::hash_token;
use ccx_model::rows::ChurnAlert;
use ccx_wallboard::{MemorySource, Options};
use common::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

struct Fixture {
    base: String,
    http: reqwest::Client,
    control: ControlClient,
    shutdown: CancellationToken,
    _replica: ccx_control::ReplicaHandle,
    _dir: tempfile::TempDir,
}

/// The control plane's operator (the tests' own changes) and the wallboard's service
/// credential.
const OPERATOR: &str = "operator-token-of-the-wallboard-tests";
const SERVICE: &str = "service-token-of-the-wallboard";

async fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let replica = ccx_control::start_replica(
        ccx_control::ReplicaOptions::single_node(dir.path().to_path_buf())
            .with_operator("ops", OPERATOR)
            .with_service("wallboard", SERVICE),
    )
    .await
    .expect("control plane");
    let endpoint = replica.grpc_addr().to_string();
    let mut options = Options::new(([127, 0, 0, 1], 0).into());
    options.tenants = ["a", "b"]
        .iter()
        .map(|t| TenantToken {
            id: t.to_string(),
            token_sha256: hash_token(&format!("token-{t}")),
        })
        .collect();
    options.control = vec![endpoint.clone()];
    options.control_token = SERVICE.into();
    options.tokens_every = Duration::from_millis(100);
    let now = now_ms();
    let source = Arc::new(MemorySource::new(memory(&batch(now))));
    let shutdown = CancellationToken::new();
    let running = ccx_wallboard::serve(options, source, shutdown.clone())
        .await
        .expect("serve");
    Fixture {
        base: format!("http://{}", running.addr),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        control: ControlClient::new([endpoint])
            .unwrap()
            .with_credential(OPERATOR)
            .unwrap(),
        shutdown,
        _replica: replica,
        _dir: dir,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl Fixture {
    /// Signs in; the session cookie (`name=value`) or the refusal's status.
    async fn sign_in(&self, tenant: &str, token: &str) -> Result<String, StatusCode> {
        let r = self
            .http
            .post(format!("{}/signin", self.base))
            .form(&[("tenant", tenant), ("user", "Sam <b>"), ("token", token)])
            .send()
            .await
            .unwrap();
        if r.status() != StatusCode::SEE_OTHER {
            return Err(r.status());
        }
        assert_eq!(r.headers()[LOCATION], "/");
        let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        Ok(cookie.split(';').next().unwrap().to_string())
    }

    async fn get(&self, cookie: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    async fn board(&self, cookie: &str, path: &str) -> Value {
        let r = self.get(cookie, path).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    async fn act(&self, cookie: &str, action: &str, alert_id: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/alerts/{action}", self.base))
            .header(COOKIE, cookie)
            .json(&json!({ "alertId": alert_id }))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn raise(&self, tenant: &str, customer: &str) -> String {
        let alert = ChurnAlert {
            tenant_id: tenant.into(),
            alert_id: format!("{tenant}:{customer}:e1"),
            customer_id: customer.into(),
            score: 65,
            reasons: vec!["NPS_DETRACTOR".into()],
            triggered_at: now_ms(),
            contact_id: "c1".into(),
            channel: "VOICE".into(),
            queue_id: "q1".into(),
            agent_id: "ann".into(),
        };
        self.control.raise_alert(&alert).await.expect("raise");
        alert.alert_id
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test]
async fn sign_in_needs_the_tenants_own_token() {
    let f = start().await;
    assert_eq!(f.sign_in("a", "wrong").await, Err(StatusCode::UNAUTHORIZED));
    assert_eq!(
        f.sign_in("a", "token-b").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        f.sign_in("zz", "token-a").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let cross_site = f
        .http
        .post(format!("{}/signin", f.base))
        .header("origin", "https://elsewhere.example")
        .form(&[("tenant", "a"), ("user", "x"), ("token", "token-a")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let same_site = f
        .http
        .post(format!("{}/signin", f.base))
        .header("origin", &f.base)
        .form(&[("tenant", "a"), ("user", "x"), ("token", "token-a")])
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::SEE_OTHER);
    let refused = f
        .http
        .post(format!("{}/signin", f.base))
        .form(&[("tenant", "a"), ("user", "x"), ("token", "wrong")])
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get(SET_COOKIE).is_none());
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("unknown tenant or wrong token"));

    // Without a session: the page sends to the form, the API answers 401.
    let page = f.get("", "/").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[LOCATION], "/signin");
    for path in ["/api/board", "/api/events", "/api/session"] {
        assert_eq!(
            f.get("", path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let forged =
            "ccx_wallboard=0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(
            f.get(forged, path).await.status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    assert_eq!(
        f.act("", "acknowledge", "a:x:e1").await.0,
        StatusCode::UNAUTHORIZED
    );

    let cookie = f.sign_in("a", "token-a").await.unwrap();
    let session: Value = f.get(&cookie, "/api/session").await.json().await.unwrap();
    assert_eq!(session, json!({"tenant": "a", "user": "Sam <b>"}));
    assert_eq!(f.get(&cookie, "/").await.status(), StatusCode::OK);
    assert_eq!(f.get("", "/healthz").await.status(), StatusCode::OK);
    assert_eq!(f.get("", "/readyz").await.status(), StatusCode::OK);
    let metrics = f.get("", "/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("ccx_wallboard_sign_ins_total{outcome=\"refused\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ccx_wallboard_sign_ins_total{outcome=\"ok\"} 2"),
        "{metrics}"
    );

    // Signing out ends the session.
    let out = f
        .http
        .post(format!("{}/signout", f.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        f.get(&cookie, "/api/board").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_session_reads_and_acts_on_its_own_tenant_only() {
    let f = start().await;
    let a = f.sign_in("a", "token-a").await.unwrap();
    let b = f.sign_in("b", "token-b").await.unwrap();
    let alert_a = f.raise("a", "cust-a").await;
    let alert_b = f.raise("b", "cust-b").await;

    // The board is the session's tenant's, whatever the query says.
    for path in [
        "/api/board",
        "/api/board?tenant=b",
        "/api/board?tenant_id=b&tenant=b",
    ] {
        let board = f.board(&a, path).await;
        assert_eq!(board["tenant"], "a", "{path}");
        assert_eq!(board["total"]["waiting"], 4, "{path}: a's live rows");
        let ids: Vec<&str> = board["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["alert_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [alert_a.as_str()], "{path}");
    }
    assert_eq!(f.board(&b, "/api/board").await["total"]["waiting"], 5);

    // a cannot act on b's alert: not found, and b's alert stays open.
    for action in ["acknowledge", "resolve"] {
        let (status, body) = f.act(&a, action, &alert_b).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}: {body}");
        assert_eq!(body["error"], "no such alert");
    }
    assert_eq!(
        f.act(&a, "acknowledge", "no-such-id").await.0,
        StatusCode::NOT_FOUND
    );
    let board_b = f.board(&b, "/api/board").await;
    assert_eq!(board_b["alerts"][0]["status"], "OPEN");

    // a acts on its own, as its signed-in user.
    let (status, body) = f.act(&a, "acknowledge", &alert_a).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ACKNOWLEDGED"))
    );
    assert_eq!(
        f.act(&a, "acknowledge", &alert_a).await.0,
        StatusCode::CONFLICT
    );
    let (status, body) = f.act(&a, "resolve", &alert_a).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("RESOLVED"))
    );
    let metrics = f.get("", "/metrics").await.text().await.unwrap();
    for line in [
        "ccx_wallboard_alert_actions_total{action=\"acknowledge\",outcome=\"not_found\"} 2",
        "ccx_wallboard_alert_actions_total{action=\"acknowledge\",outcome=\"conflict\"} 1",
        "ccx_wallboard_alert_actions_total{action=\"resolve\",outcome=\"ok\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    // Resolved alerts leave the board's list; the control plane keeps who resolved it.
    assert_eq!(
        f.board(&a, "/api/board").await["alerts"],
        serde_json::json!([])
    );
    let held = f
        .control
        .list_alerts(&ccx_control_client::AlertFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.alert_id == alert_a)
        .expect("held");
    assert_eq!(
        (
            held.status.name(),
            held.history.last().map(|h| h.by.as_str())
        ),
        ("RESOLVED", Some("Sam <b> via service:wallboard"))
    );
}

#[tokio::test]
async fn events_push_the_sessions_board() {
    let f = start().await;
    let a = f.sign_in("a", "token-a").await.unwrap();
    let mut r = f.get(&a, "/api/events").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), r.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    assert!(text.starts_with("event: board\n"), "{text}");
    let event: Value = serde_json::from_str(data).unwrap();
    assert!(event["now"].as_i64().unwrap() > 0);
    assert_eq!(event["board"]["tenant"], "a");
}

#[tokio::test]
async fn tokens_and_settings_come_from_the_control_plane_too() {
    let f = start().await;
    let mut stored = StoredConfig::defaults("c");
    stored.token_sha256 = vec![hash_token("token-c")];
    stored.settings.sl_target_pct = 90;
    stored.settings.time_zone = "Europe/Paris".into();
    f.control.put_config(stored.to_proto()).await.expect("put");
    let mut cookie = Err(StatusCode::UNAUTHORIZED);
    for _ in 0..50 {
        cookie = f.sign_in("c", "token-c").await;
        if cookie.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cookie = cookie.expect("the control plane's token signs in");
    let board = f.board(&cookie, "/api/board").await;
    assert_eq!(board["tenant"], "c");
    assert_eq!(board["time_zone"], "Europe/Paris");
    assert_eq!(board["total"]["sl_target_pct"], 90);
    assert_eq!(board["queues"], json!([]), "c has no rows");
    assert_eq!(board["live"]["stale"], false);
    assert_eq!(board["live"]["quiet"], true, "no rows, no contacts: quiet");

    // Withdrawing the token ends the session.
    stored.token_sha256.clear();
    stored.version = 0;
    f.control.put_config(stored.to_proto()).await.expect("put");
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        status = f.get(&cookie, "/api/board").await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_tenant_credential_signs_in_to_its_own_tenant_only() {
    let f = start().await;
    f.control
        .put_credential("a", "sam", &hash_token("credential-of-a"))
        .await
        .expect("put credential");
    let mut cookie = Err(StatusCode::UNAUTHORIZED);
    for _ in 0..50 {
        cookie = f.sign_in("a", "credential-of-a").await;
        if cookie.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cookie = cookie.expect("a's credential signs in to a");
    // Not into b, and a's session shows a's board whatever is asked.
    assert_eq!(
        f.sign_in("b", "credential-of-a").await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let alert_b = f.raise("b", "cust-b").await;
    let board = f.board(&cookie, "/api/board?tenant=b").await;
    assert_eq!(board["tenant"], "a");
    assert_eq!(board["alerts"], json!([]));
    assert_eq!(
        f.act(&cookie, "resolve", &alert_b).await.0,
        StatusCode::NOT_FOUND
    );
    // Withdrawing the credential ends the session.
    f.control
        .remove_credential("a", "sam")
        .await
        .expect("remove");
    let mut status = StatusCode::OK;
    for _ in 0..50 {
        status = f.get(&cookie, "/api/board").await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

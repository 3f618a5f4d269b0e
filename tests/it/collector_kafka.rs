//! The collector against the real broker: gRPC and HTTP publishes read back with a real Kafka
//! consumer; every SPEC §2 rule in one mixed batch; auth; batch limits; probes.

use std::collections::BTreeMap;
use std::time::Duration;

use ccx_e2e::*;
use ccx_model::json::event_to_json;
use ccx_model::{kafka_key, ms_timestamp, Event};
use ccx_proto::prost::Message;
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::{
    AgentState, Channel, Direction, EventType, PublishRequest, PublishResponse, SurveyType,
};
use serde_json::{json, Value};
use tonic::transport::Channel as GrpcChannel;
use tonic::{Code, Request};

const PARTITIONS: u32 = 4;

struct Env {
    broker: Broker,
    topic: String,
    running: ccx_collector::Running,
}

async fn setup() -> Env {
    let broker = Broker::start().expect("broker");
    let topic = unique_topic("ccx.events.test");
    broker
        .create_topic(&topic, PARTITIONS as i32)
        .await
        .expect("topic");
    let config = collector_config(&broker.addr(), &topic, PARTITIONS);
    let (running, _) = start_collector(&config).await.expect("collector");
    Env {
        broker,
        topic,
        running,
    }
}

impl Env {
    async fn grpc(&self) -> CollectorClient<GrpcChannel> {
        CollectorClient::connect(format!("http://{}", self.running.grpc_addr))
            .await
            .expect("grpc connect")
    }

    fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.http_addr)
    }

    async fn consume(&self, expected: usize) -> Vec<Consumed> {
        consume_all(
            &self.broker.addr(),
            &self.topic,
            PARTITIONS as i32,
            expected,
            Duration::from_secs(20),
        )
        .await
        .expect("consume")
    }
}

fn authed<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
    }
    request
}

async fn publish(
    client: &mut CollectorClient<GrpcChannel>,
    events: Vec<Event>,
    token: Option<&str>,
) -> Result<PublishResponse, tonic::Status> {
    client
        .publish(authed(PublishRequest { events }, token))
        .await
        .map(|r| r.into_inner())
}

fn by_id(consumed: &[Consumed]) -> BTreeMap<String, &Consumed> {
    consumed
        .iter()
        .map(|c| (c.event.event_id.clone(), c))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_publish_is_durable_in_kafka_with_spec_keys() {
    let env = setup().await;
    let mut client = env.grpc().await;
    let mut sent = sample_events("tenant-1", "g", 120);
    sent.extend(sample_events("tenant-1", "h", 80));
    let response = publish(&mut client, sent.clone(), Some(&token("tenant-1")))
        .await
        .expect("publish");
    assert_eq!(response.accepted, 200);
    assert!(response.rejected.is_empty());

    let consumed = env.consume(200).await;
    assert_eq!(consumed.len(), 200, "each accepted event exactly once");
    let got = by_id(&consumed);
    for event in &sent {
        let record = got[&event.event_id];
        assert_eq!(
            &record.event, event,
            "decoded content equals the sent event"
        );
        assert_eq!(record.key, kafka_key(event));
        let expected_key = if event.r#type == EventType::AgentStateChanged as i32 {
            format!("tenant-1/{}", event.agent_id)
        } else {
            format!("tenant-1/{}", event.customer_id)
        };
        assert_eq!(record.key, expected_key);
    }
    // One key always lands on one partition.
    let mut partition_of_key = BTreeMap::new();
    for c in &consumed {
        assert_eq!(
            *partition_of_key.entry(&c.key).or_insert(c.partition),
            c.partition
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_publish_stream_answers_each_batch_in_order() {
    let env = setup().await;
    let mut client = env.grpc().await;
    let batches: Vec<Vec<Event>> = (0..5)
        .map(|b| sample_events("tenant-2", &format!("s{b}"), 10 + b))
        .collect();
    let requests: Vec<PublishRequest> = batches
        .iter()
        .map(|events| PublishRequest {
            events: events.clone(),
        })
        .collect();
    let outbound = authed(futures::stream::iter(requests), Some(&token("tenant-2")));
    let mut answers = client
        .publish_stream(outbound)
        .await
        .expect("stream")
        .into_inner();
    let mut accepted = Vec::new();
    while let Some(answer) = answers.message().await.expect("answer") {
        accepted.push(answer.accepted as usize);
    }
    assert_eq!(accepted, vec![10, 11, 12, 13, 14]);
    assert_eq!(env.consume(60).await.len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_accepts_json_arrays_and_ndjson() {
    let env = setup().await;
    let http = reqwest::Client::new();
    let array: Vec<Value> = sample_events("tenant-3", "a", 30)
        .iter()
        .map(event_to_json)
        .collect();
    let response = http
        .post(env.http_url("/v1/events"))
        .bearer_auth(token("tenant-3"))
        .json(&array)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"accepted": 30, "rejected": []}));

    let ndjson_events = sample_events("tenant-3", "n", 20);
    let ndjson: String = ndjson_events
        .iter()
        .map(|e| format!("{}\n", event_to_json(e)))
        .collect();
    let response = http
        .post(env.http_url("/v1/events"))
        .bearer_auth(token("tenant-3"))
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["accepted"], 20);

    let consumed = env.consume(50).await;
    assert_eq!(consumed.len(), 50);
    let got = by_id(&consumed);
    for event in &ndjson_events {
        assert_eq!(&got[&event.event_id].event, event);
        assert_eq!(
            got[&event.event_id].value,
            event.encode_to_vec(),
            "the record value is the protobuf Event"
        );
    }
}

/// One event per SPEC §2 rule, each invalid in exactly one way, between valid events.
fn rule_cases(now: i64) -> Vec<(Option<Value>, &'static str, &'static str)> {
    let base = |kind: &str| {
        json!({
            "eventId": "x", "tenantId": "tenant-0", "type": kind,
            "occurredAt": ts(now), "contactId": "c1", "customerId": "cust-1",
            "channel": "VOICE", "direction": "INBOUND", "queueId": "q1", "agentId": "a1"
        })
    };
    let with = |kind: &str, f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut v = base(kind);
        f(v.as_object_mut().expect("object"));
        Some(v)
    };
    let survey = |t: &str, score: i64| {
        with("SURVEY_RESPONDED", &|m| {
            m.insert("surveyType".into(), json!(t));
            m.insert("score".into(), json!(score));
        })
    };
    let remove = |kind: &str, field: &'static str| {
        with(kind, &move |m| {
            m.remove(field);
        })
    };
    let long = "z".repeat(129);
    vec![
        (remove("CONTACT_OFFERED", "eventId"), "MISSING_FIELD", "eventId: required"),
        (with("CONTACT_OFFERED", &|m| { m.insert("eventId".into(), json!(long)); }), "OUT_OF_RANGE", "eventId: 129 characters (limit 128)"),
        (remove("CONTACT_OFFERED", "tenantId"), "MISSING_FIELD", "tenantId: required"),
        (remove("CONTACT_OFFERED", "type"), "MISSING_FIELD", "type: required"),
        (with("CONTACT_OFFERED", &|m| { m.insert("type".into(), json!("CONTACT_LOST")); }), "INVALID_VALUE", "type: unknown value \"CONTACT_LOST\" (expected one of CONTACT_OFFERED, CONTACT_ANSWERED, CONTACT_ABANDONED, HOLD_STARTED, HOLD_ENDED, CONTACT_TRANSFERRED, CONTACT_ENDED, WRAPUP_ENDED, SURVEY_RESPONDED, SENTIMENT_SCORED, AGENT_STATE_CHANGED)"),
        (with("CONTACT_OFFERED", &|m| { m.insert("channel".into(), json!("FAX")); }), "INVALID_VALUE", "channel: unknown value \"FAX\" (expected one of VOICE, CHAT, EMAIL, SMS, SOCIAL, MESSAGING, VIDEO)"),
        (with("CONTACT_OFFERED", &|m| { m.insert("direction".into(), json!("SIDEWAYS")); }), "INVALID_VALUE", "direction: unknown value \"SIDEWAYS\" (expected one of INBOUND, OUTBOUND)"),
        (with("SURVEY_RESPONDED", &|m| { m.insert("surveyType".into(), json!("NPX")); m.insert("score".into(), json!(5)); }), "INVALID_VALUE", "surveyType: unknown value \"NPX\" (expected one of NPS, CSAT, CES)"),
        (with("AGENT_STATE_CHANGED", &|m| { m.insert("agentState".into(), json!("NAPPING")); }), "INVALID_VALUE", "agentState: unknown value \"NAPPING\" (expected one of AVAILABLE, BUSY, AFTER_CONTACT_WORK, BREAK, OFFLINE)"),
        (remove("AGENT_STATE_CHANGED", "agentId"), "MISSING_FIELD", "agentId: required for AGENT_STATE_CHANGED"),
        (remove("AGENT_STATE_CHANGED", "direction").map(|mut v| { v["agentState"] = json!("BREAK"); v.as_object_mut().expect("object").remove("agentId"); v }), "MISSING_FIELD", "agentId: required for AGENT_STATE_CHANGED"),
        (with("AGENT_STATE_CHANGED", &|_| {}), "MISSING_FIELD", "agentState: required for AGENT_STATE_CHANGED"),
        (with("CONTACT_OFFERED", &|m| { m.insert("tenantId".into(), json!("Tenant 0")); }), "INVALID_VALUE", "tenantId: \"Tenant 0\" does not match [a-z0-9][a-z0-9_-]{0,62}"),
        (with("CONTACT_OFFERED", &|m| { m.insert("occurredAt".into(), json!("yesterday")); }), "INVALID_VALUE", "occurredAt: \"yesterday\" is not an RFC 3339 timestamp (like 2026-11-24T07:00:00.250Z)"),
        (with("CONTACT_OFFERED", &|m| { m.insert("occurredAt".into(), json!(ts(now - 8 * 86_400_000))); }), "OUT_OF_RANGE", "occurredAt: 8 days in the past (limit 7d)"),
        (with("CONTACT_OFFERED", &|m| { m.insert("occurredAt".into(), json!(ts(now + 2 * 86_400_000 + 3_600_000))); }), "OUT_OF_RANGE", "occurredAt: 2 days in the future (limit 5m)"),
        (remove("CONTACT_OFFERED", "occurredAt"), "MISSING_FIELD", "occurredAt: required"),
        (survey("NPS", -1), "OUT_OF_RANGE", "score: -1 out of range for NPS (0..10)"),
        (survey("NPS", 11), "OUT_OF_RANGE", "score: 11 out of range for NPS (0..10)"),
        (survey("CSAT", 0), "OUT_OF_RANGE", "score: 0 out of range for CSAT (1..5)"),
        (survey("CSAT", 6), "OUT_OF_RANGE", "score: 6 out of range for CSAT (1..5)"),
        (survey("CES", 0), "OUT_OF_RANGE", "score: 0 out of range for CES (1..7)"),
        (survey("CES", 8), "OUT_OF_RANGE", "score: 8 out of range for CES (1..7)"),
        (with("SURVEY_RESPONDED", &|m| { m.insert("surveyType".into(), json!("NPS")); }), "MISSING_FIELD", "score: required for SURVEY_RESPONDED"),
        (with("SURVEY_RESPONDED", &|m| { m.insert("score".into(), json!(3)); }), "MISSING_FIELD", "surveyType: required for SURVEY_RESPONDED"),
        (with("SENTIMENT_SCORED", &|m| { m.insert("sentiment".into(), json!(1.01)); }), "OUT_OF_RANGE", "sentiment: 1.01 out of range (-1.0..1.0)"),
        (with("SENTIMENT_SCORED", &|m| { m.insert("sentiment".into(), json!(-1.5)); }), "OUT_OF_RANGE", "sentiment: -1.5 out of range (-1.0..1.0)"),
        (with("SENTIMENT_SCORED", &|_| {}), "MISSING_FIELD", "sentiment: required for SENTIMENT_SCORED"),
        (remove("CONTACT_ANSWERED", "agentId"), "MISSING_FIELD", "agentId: required for CONTACT_ANSWERED"),
        (remove("HOLD_STARTED", "agentId"), "MISSING_FIELD", "agentId: required for HOLD_STARTED"),
        (remove("HOLD_ENDED", "agentId"), "MISSING_FIELD", "agentId: required for HOLD_ENDED"),
        (with("CONTACT_TRANSFERRED", &|m| { m.remove("agentId"); m.insert("toQueueId".into(), json!("q2")); }), "MISSING_FIELD", "agentId: required for CONTACT_TRANSFERRED"),
        (remove("WRAPUP_ENDED", "agentId"), "MISSING_FIELD", "agentId: required for WRAPUP_ENDED"),
        (with("CONTACT_TRANSFERRED", &|_| {}), "MISSING_FIELD", "toQueueId: CONTACT_TRANSFERRED needs toQueueId or toAgentId"),
        (remove("CONTACT_OFFERED", "customerId"), "MISSING_FIELD", "customerId: required for CONTACT_OFFERED"),
        (with("CONTACT_OFFERED", &|m| { m.insert("customerId".into(), json!(long)); }), "OUT_OF_RANGE", "customerId: 129 characters (limit 128)"),
        (remove("CONTACT_ENDED", "contactId"), "MISSING_FIELD", "contactId: required for CONTACT_ENDED"),
        (remove("CONTACT_ABANDONED", "queueId"), "MISSING_FIELD", "queueId: required for CONTACT_ABANDONED"),
        (remove("SURVEY_RESPONDED", "channel").map(|mut v| { v["surveyType"] = json!("NPS"); v["score"] = json!(9); v }), "MISSING_FIELD", "channel: required for SURVEY_RESPONDED"),
        (remove("CONTACT_ENDED", "direction"), "MISSING_FIELD", "direction: required for CONTACT_ENDED"),
        (with("CONTACT_OFFERED", &|m| { m.insert("reason".into(), json!(long)); }), "OUT_OF_RANGE", "reason: 129 characters (limit 128)"),
        (with("CONTACT_OFFERED", &|m| { m.insert("score".into(), json!("high")); }), "INVALID_VALUE", "score: expected an integer, got \"high\""),
        (with("CONTACT_ENDED", &|m| { m.insert("resolved".into(), json!("yes")); }), "INVALID_VALUE", "resolved: expected a boolean, got a string"),
        (with("CONTACT_OFFERED", &|m| { m.insert("mood".into(), json!("sunny")); }), "INVALID_VALUE", "event: unknown field \"mood\""),
        (Some(json!("not an event")), "INVALID_VALUE", "event: expected a JSON object, got a string"),
    ]
}

fn ts(ms: i64) -> String {
    ccx_model::json::format_timestamp(&ms_timestamp(ms))
}

fn valid(id: &str, now: i64) -> Value {
    event_to_json(&offered("tenant-0", id, "cust-ok", now))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_is_partly_accepted_with_one_precise_error_per_invalid_event() {
    let env = setup().await;
    let now = now_ms();
    let cases = rule_cases(now);
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for (i, (event, code, message)) in cases.iter().enumerate() {
        batch.push(valid(&format!("ok-{i}"), now));
        let mut event = event.clone().expect("case");
        if let Some(map) = event.as_object_mut() {
            if map.get("eventId") == Some(&json!("x")) {
                map.insert("eventId".into(), json!(format!("bad-{i}")));
            }
        }
        expected.push(json!({"index": batch.len(), "code": code, "message": message}));
        batch.push(event);
    }
    batch.push(valid("ok-last", now));
    let response = reqwest::Client::new()
        .post(env.http_url("/v1/events"))
        .bearer_auth(token("tenant-0"))
        .json(&batch)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let rejected = body["rejected"].as_array().expect("rejected");
    for (got, want) in rejected.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    assert_eq!(rejected.len(), expected.len());
    assert_eq!(body["accepted"], cases.len() + 1);

    let consumed = env.consume(cases.len() + 1).await;
    let ids: Vec<&str> = consumed.iter().map(|c| c.event.event_id.as_str()).collect();
    assert_eq!(consumed.len(), cases.len() + 1, "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("ok-")), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_rejects_invalid_events_one_by_one() {
    let env = setup().await;
    let mut client = env.grpc().await;
    let now = now_ms();
    let good = offered("tenant-0", "good", "c", now);
    let mut no_agent = good.clone();
    no_agent.event_id = "no-agent".into();
    no_agent.r#type = EventType::ContactAnswered as i32;
    let mut bad_enum = good.clone();
    bad_enum.event_id = "bad-enum".into();
    bad_enum.channel = 42;
    let mut agent = good.clone();
    agent.event_id = "agent".into();
    agent.r#type = EventType::AgentStateChanged as i32;
    agent.agent_id = "a1".into();
    agent.agent_state = AgentState::AfterContactWork as i32;
    agent.channel = Channel::Unspecified as i32;
    agent.direction = Direction::Unspecified as i32;
    let mut ces = good.clone();
    ces.event_id = "ces".into();
    ces.r#type = EventType::SurveyResponded as i32;
    ces.survey_type = SurveyType::Ces as i32;
    ces.score = Some(7);
    let response = publish(
        &mut client,
        vec![good, no_agent, bad_enum, agent, ces],
        Some(&token("tenant-0")),
    )
    .await
    .expect("publish");
    assert_eq!(response.accepted, 3);
    let rejected: Vec<(u32, &str, &str)> = response
        .rejected
        .iter()
        .map(|r| (r.index, r.code.as_str(), r.message.as_str()))
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "MISSING_FIELD", "agentId: required for CONTACT_ANSWERED"),
            (2, "INVALID_VALUE", "channel: unknown value 42"),
        ]
    );
    assert_eq!(env.consume(3).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_tenant_isolation() {
    let env = setup().await;
    let mut client = env.grpc().await;
    let events = sample_events("tenant-1", "auth", 3);
    let status = publish(&mut client, events.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = publish(&mut client, events.clone(), Some("dev-token-tenant-9"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = publish(&mut client, events.clone(), Some(&token("tenant-2")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("\"tenant-1\""),
        "{}",
        status.message()
    );

    let http = reqwest::Client::new();
    let body: Vec<Value> = events.iter().map(event_to_json).collect();
    let post = |token: Option<String>| {
        let mut request = http.post(env.http_url("/v1/events")).json(&body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    assert_eq!(post(None).await.expect("post").status(), 401);
    assert_eq!(post(Some("nope".into())).await.expect("post").status(), 401);
    let forbidden = post(Some(token("tenant-2"))).await.expect("post");
    assert_eq!(forbidden.status(), 403);
    let forbidden: Value = forbidden.json().await.expect("json");
    assert_eq!(forbidden["code"], "PERMISSION_DENIED");

    // Nothing of the refused calls reached Kafka; the right token goes through.
    let ok = publish(&mut client, events, Some(&token("tenant-1")))
        .await
        .expect("publish");
    assert_eq!(ok.accepted, 3);
    assert_eq!(env.consume(3).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_batches_get_their_status() {
    let env = setup().await;
    let mut client = env.grpc().await;
    let too_many = sample_events("tenant-0", "many", 10_001);
    let status = publish(&mut client, too_many.clone(), Some(&token("tenant-0")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "batch of 10001 events exceeds the limit of 10000 events"
    );

    let mut huge = offered("tenant-0", "huge", "c", now_ms());
    huge.reason = "r".repeat(128);
    let heavy: Vec<Event> = (0..9_000)
        .map(|i| {
            let mut e = huge.clone();
            e.event_id = format!("{i}-{}", "e".repeat(120));
            e.contact_id = "c".repeat(128);
            e.customer_id = "k".repeat(128);
            e.queue_id = "q".repeat(128);
            e
        })
        .collect();
    let status = publish(&mut client, heavy, Some(&token("tenant-0")))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );

    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        http.post(env.http_url("/v1/events"))
            .bearer_auth(token("tenant-0"))
            .body(body)
            .send()
    };
    assert_eq!(
        declared_too_large(env.running.http_addr).await,
        "HTTP/1.1 413"
    );
    let many: Vec<Value> = too_many.iter().map(event_to_json).collect();
    let response = post(serde_json::to_vec(&many).expect("json"))
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    let response = post(b"[{\"eventId\": \"a\",}]".to_vec())
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "INVALID_ARGUMENT");
    assert_eq!(
        body["message"],
        "malformed JSON at line 1, column 18: trailing comma"
    );
    assert!(
        env.consume(0).await.is_empty(),
        "nothing refused reached Kafka"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics() {
    let env = setup().await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(env.http_url(path)).send();
    assert_eq!(get("/healthz").await.expect("get").status(), 200);
    let mut ready = false;
    for _ in 0..50 {
        if get("/readyz").await.expect("get").status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "/readyz turns 200 once the broker answers");
    let mut client = env.grpc().await;
    publish(
        &mut client,
        sample_events("tenant-0", "m", 4),
        Some(&token("tenant-0")),
    )
    .await
    .expect("publish");
    let text = get("/metrics")
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("ccx_collector_events_total{outcome=\"accepted\",tenant=\"tenant-0\"} 4"),
        "{text}"
    );
    assert!(text.contains("ccx_collector_requests_total{code=\"OK\",protocol=\"grpc\"} 1"));
}

/// Declares a body one byte over the limit and reads the answer without sending the body:
/// the collector refuses before reading it.
async fn declared_too_large(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: ccx\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        token("tenant-0"),
        4 * 1024 * 1024 + 1
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 12];
    stream.read_exact(&mut answer).await.expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

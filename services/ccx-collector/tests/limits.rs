//! Each limit of the collector against real listeners on loopback (null sink): a request over
//! it gets the exact status and message, one within it still succeeds.

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ccx_collector::{Running, Sink};
use ccx_config::{Config, TenantToken};
use ccx_model::json::event_to_json;
use ccx_model::{hash_token, ms_timestamp, Event};
use ccx_proto::prost::Message;
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::{Channel, Direction, EventType, PublishRequest, PublishResponse};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Request, Status};

fn token(tenant: &str) -> String {
    format!("token-{tenant}")
}

async fn start(tune: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::default();
    config.collector.grpc_listen = ([127, 0, 0, 1], 0).into();
    config.collector.http_listen = ([127, 0, 0, 1], 0).into();
    config.collector.drain_timeout = Duration::from_secs(1);
    config.tenants = ["a", "b"]
        .iter()
        .map(|t| TenantToken {
            id: t.to_string(),
            token_sha256: hash_token(&token(t)),
        })
        .collect();
    tune(&mut config);
    config.validate().expect("valid test config");
    ccx_collector::serve(&config, Sink::Null, CancellationToken::new())
        .await
        .expect("collector")
}

fn events(tenant: &str, n: usize) -> Vec<Event> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    (0..n)
        .map(|i| Event {
            event_id: format!("e-{i}"),
            tenant_id: tenant.into(),
            r#type: EventType::ContactOffered as i32,
            occurred_at: Some(ms_timestamp(now)),
            contact_id: format!("c-{i}"),
            customer_id: "k".into(),
            channel: Channel::Voice as i32,
            direction: Direction::Inbound as i32,
            queue_id: "support".into(),
            reason: "billing".into(),
            ..Default::default()
        })
        .collect()
}

fn json_body(events: &[Event]) -> Vec<u8> {
    serde_json::to_vec(&events.iter().map(event_to_json).collect::<Vec<_>>()).unwrap()
}

async fn grpc_publish(
    running: &Running,
    tenant: &str,
    events: Vec<Event>,
    extra: &[(&'static str, String)],
) -> Result<PublishResponse, Status> {
    let mut client = CollectorClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .expect("grpc connect");
    let mut request = Request::new(PublishRequest { events });
    let metadata = request.metadata_mut();
    metadata.insert(
        "authorization",
        format!("Bearer {}", token(tenant)).parse().unwrap(),
    );
    for (k, v) in extra {
        metadata.insert(*k, v.parse().unwrap());
    }
    client.publish(request).await.map(|r| r.into_inner())
}

async fn http_post(running: &Running, tenant: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{}/v1/events", running.http_addr))
        .bearer_auth(token(tenant))
        .body(body)
        .send()
        .await
        .expect("post")
}

/// The status line and JSON body of an HTTP/1 answer read from a raw connection.
async fn raw_answer(stream: &mut TcpStream) -> (String, Value) {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text.lines().next().unwrap_or_default().trim().to_string();
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

async fn metric(running: &Running, line_start: &str) -> Option<String> {
    let text = reqwest::get(format!("http://{}/metrics", running.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_string)
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let running = start(|c| c.collector.max_batch_bytes = 4096).await;

    // HTTP, declared length: the answer comes although not a byte of the body was sent.
    let mut stream = TcpStream::connect(running.http_addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-length: 1000000\r\n\r\n",
        token("a")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = raw_answer(&mut stream).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        body["message"],
        "batch of 1000000 bytes exceeds the limit of 4096 bytes"
    );

    // HTTP, chunked: read up to the limit and no further.
    let mut stream = TcpStream::connect(running.http_addr).await.unwrap();
    let chunk = "x".repeat(5000);
    let request = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
        token("a"),
        chunk.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (status, body) = raw_answer(&mut stream).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert_eq!(
        body["message"],
        "batch of more than 4096 bytes exceeds the limit of 4096 bytes"
    );

    // gRPC: tonic refuses the message from its length prefix; the collector's code and words.
    let big = events("a", 100);
    let size = PublishRequest {
        events: big.clone(),
    }
    .encoded_len();
    assert!(size > 4096);
    let status = grpc_publish(&running, "a", big, &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        format!("batch of {size} bytes exceeds the limit of 4096 bytes")
    );

    // Within the limit, both doors accept.
    let ok = grpc_publish(&running, "a", events("a", 2), &[])
        .await
        .unwrap();
    assert_eq!(ok.accepted, 2);
    let response = http_post(&running, "a", json_body(&events("a", 2))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        metric(
            &running,
            "ccx_collector_refused_total{protocol=\"grpc\",reason=\"batch_bytes\"}"
        )
        .await
        .as_deref(),
        Some("ccx_collector_refused_total{protocol=\"grpc\",reason=\"batch_bytes\"} 1")
    );
    assert_eq!(
        metric(
            &running,
            "ccx_collector_refused_total{protocol=\"http\",reason=\"batch_bytes\"}"
        )
        .await
        .as_deref(),
        Some("ccx_collector_refused_total{protocol=\"http\",reason=\"batch_bytes\"} 2")
    );
}

#[tokio::test]
async fn a_batch_over_the_event_limit_is_refused_on_both_doors() {
    let running = start(|c| c.collector.max_batch_events = 3).await;
    let message = "batch of 4 events exceeds the limit of 3 events";

    let status = grpc_publish(&running, "a", events("a", 4), &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), message);
    let response = http_post(&running, "a", json_body(&events("a", 4))).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["message"], message);

    let ok = grpc_publish(&running, "a", events("a", 3), &[])
        .await
        .unwrap();
    assert_eq!(ok.accepted, 3);
    let response = http_post(&running, "a", json_body(&events("a", 3))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 3);
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let running = start(|c| c.collector.max_header_bytes = 4096).await;

    // HTTP: over the limit, refused with a message; the size is counted as HTTP/2 does.
    let pad = "p".repeat(5000);
    let mut stream = TcpStream::connect(running.http_addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\nx-pad: {pad}\r\n\
         content-length: 2\r\n\r\n[]",
        token("a")
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = raw_answer(&mut stream).await;
    let mut sent = HeaderMap::new();
    sent.insert("host", "x".parse().unwrap());
    sent.insert(
        "authorization",
        format!("Bearer {}", token("a")).parse().unwrap(),
    );
    sent.insert("x-pad", pad.parse().unwrap());
    sent.insert("content-length", "2".parse().unwrap());
    let size = ccx_collector::limits::header_bytes(&sent);
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        body["message"],
        format!("request headers of {size} bytes exceed the limit of 4096 bytes")
    );

    // Past twice the limit, hyper refuses the head itself without holding it.
    let mut stream = TcpStream::connect(running.http_addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\n\r\n",
        "p".repeat(9000)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (status, _) = raw_answer(&mut stream).await;
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");

    // gRPC metadata: the same limit, RESOURCE_EXHAUSTED.
    let status = grpc_publish(&running, "a", events("a", 1), &[("x-pad", pad.clone())])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let message = status.message();
    assert!(
        message.starts_with("request headers of ")
            && message.ends_with(" bytes exceed the limit of 4096 bytes"),
        "{message}"
    );
    // Past twice the limit, h2 refuses the stream (431) before the service sees it.
    let status = grpc_publish(
        &running,
        "a",
        events("a", 1),
        &[("x-pad", "p".repeat(9000))],
    )
    .await
    .unwrap_err();
    assert_ne!(status.code(), Code::Ok);

    // Ordinary headers pass.
    let small = [("x-pad", "p".repeat(100))];
    let ok = grpc_publish(&running, "a", events("a", 1), &small)
        .await
        .unwrap();
    assert_eq!(ok.accepted, 1);
    let response = http_post(&running, "a", json_body(&events("a", 1))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        metric(
            &running,
            "ccx_collector_refused_total{protocol=\"grpc\",reason=\"header_bytes\"}"
        )
        .await
        .as_deref(),
        Some("ccx_collector_refused_total{protocol=\"grpc\",reason=\"header_bytes\"} 1")
    );
}

#[tokio::test]
async fn requests_over_the_in_flight_limit_are_refused() {
    let running = start(|c| c.collector.max_in_flight = 1).await;

    // One HTTP request holds the only place: its body is announced, never sent.
    let mut held = TcpStream::connect(running.http_addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-length: 100\r\n\r\n[",
        token("a")
    );
    held.write_all(head.as_bytes()).await.unwrap();

    let message = "the collector is at its limit of 1 requests in flight: retry later";
    let deadline = Instant::now() + Duration::from_secs(5);
    let response = loop {
        let response = http_post(&running, "b", json_body(&events("b", 1))).await;
        if response.status() != 200 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["message"], message);
    let status = grpc_publish(&running, "b", events("b", 1), &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), message);

    // Once it is gone, the place is free again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = http_post(&running, "b", json_body(&events("b", 1))).await;
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the place was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ok = grpc_publish(&running, "b", events("b", 1), &[])
        .await
        .unwrap();
    assert_eq!(ok.accepted, 1);
    assert_eq!(
        metric(
            &running,
            "ccx_collector_refused_total{protocol=\"grpc\",reason=\"in_flight\"}"
        )
        .await
        .as_deref(),
        Some("ccx_collector_refused_total{protocol=\"grpc\",reason=\"in_flight\"} 1")
    );
}

#[tokio::test]
async fn a_tenant_over_its_rate_is_refused_whole_with_a_retry_delay() {
    let running = start(|c| {
        c.collector.max_batch_events = 10;
        c.collector.tenant_events_per_second = 10;
        c.collector.tenant_burst_events = 10;
    })
    .await;

    // The burst passes; 5 more at once need half a second of refill, rounded up to 1 s.
    let response = http_post(&running, "a", json_body(&events("a", 10))).await;
    assert_eq!(response.status(), 200);
    let message = "tenant \"a\" is over its ingest rate of 10 events/s (burst 10): nothing of \
                   this batch of 5 events was accepted, retry in 1 s";
    let response = http_post(&running, "a", json_body(&events("a", 5))).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED");
    assert_eq!(body["message"], message);
    let status = grpc_publish(&running, "a", events("a", 5), &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), message);
    assert_eq!(status.metadata().get("retry-after").unwrap(), "1");

    // Another tenant has its own bucket.
    let ok = grpc_publish(&running, "b", events("b", 10), &[])
        .await
        .unwrap();
    assert_eq!(ok.accepted, 10);

    // After the delay the refused batch goes through: the refusals took no tokens.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ok = grpc_publish(&running, "a", events("a", 5), &[])
        .await
        .unwrap();
    assert_eq!(ok.accepted, 5);
    let accepted = metric(
        &running,
        "ccx_collector_events_total{outcome=\"accepted\",tenant=\"a\"}",
    )
    .await;
    assert_eq!(
        accepted.as_deref(),
        Some("ccx_collector_events_total{outcome=\"accepted\",tenant=\"a\"} 15")
    );
    for protocol in ["grpc", "http"] {
        let line = format!(
            "ccx_collector_refused_total{{protocol=\"{protocol}\",reason=\"tenant_rate\"}}"
        );
        assert_eq!(metric(&running, &line).await, Some(format!("{line} 1")),);
    }
}

/// HTTP/2 frames of a raw connection, enough to read SETTINGS and open streams.
mod h2 {
    use super::*;

    pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// A header block of literal fields without indexing (no Huffman; short strings only).
    pub fn headers(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.push(0);
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
            out.push(value.len() as u8);
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    pub async fn read_frame(stream: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).await.unwrap();
        let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.unwrap();
        (head[3], head[4], id, payload)
    }

    pub fn settings(payload: &[u8]) -> Vec<(u16, u32)> {
        payload
            .chunks(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }
}

/// Opens one stream more than allowed on a raw HTTP/2 connection to `addr` and returns the
/// server's SETTINGS and the RST_STREAM error code of the extra stream.
async fn one_stream_too_many(addr: std::net::SocketAddr, path: &str) -> (Vec<(u16, u32)>, u32) {
    const SETTINGS: u8 = 0x4;
    const HEADERS: u8 = 0x1;
    const RST_STREAM: u8 = 0x3;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(h2::PREFACE).await.unwrap();
    stream
        .write_all(&h2::frame(SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    let (kind, _, _, payload) = h2::read_frame(&mut stream).await;
    assert_eq!(kind, SETTINGS);
    let settings = h2::settings(&payload);
    stream
        .write_all(&h2::frame(SETTINGS, 1, 0, &[]))
        .await
        .unwrap();
    let auth = format!("Bearer {}", token("a"));
    let block = h2::headers(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "x"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", &auth),
    ]);
    // END_HEADERS without END_STREAM: the streams stay open, waiting for a body.
    for id in [1, 3] {
        stream
            .write_all(&h2::frame(HEADERS, 0x4, id, &block))
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(Instant::now() < deadline, "stream 3 was never reset");
        let (kind, _, id, payload) =
            tokio::time::timeout(Duration::from_secs(5), h2::read_frame(&mut stream))
                .await
                .expect("a frame");
        if kind == RST_STREAM && id == 3 {
            let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
            return (settings, code);
        }
    }
}

#[tokio::test]
async fn streams_over_the_per_connection_limit_are_refused() {
    let running = start(|c| {
        c.collector.max_concurrent_streams = 1;
        c.collector.max_header_bytes = 4096;
    })
    .await;
    const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    const REFUSED_STREAM: u32 = 0x7;
    for (addr, path) in [
        (running.grpc_addr, "/ccx.v1.Collector/PublishStream"),
        (running.http_addr, "/v1/events"),
    ] {
        let (settings, code) = one_stream_too_many(addr, path).await;
        assert!(
            settings.contains(&(MAX_CONCURRENT_STREAMS, 1)),
            "{settings:?}"
        );
        assert!(
            settings.contains(&(MAX_HEADER_LIST_SIZE, 8192)),
            "{settings:?}"
        );
        assert_eq!(code, REFUSED_STREAM, "{addr}");
    }
    // A client that keeps to the limit queues its calls on one connection: all succeed. (The
    // first call lets the client learn the limit from the server's SETTINGS.)
    let client = CollectorClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .unwrap();
    let call = |mut client: CollectorClient<tonic::transport::Channel>| async move {
        let mut request = Request::new(PublishRequest {
            events: events("a", 1),
        });
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", token("a")).parse().unwrap(),
        );
        client
            .publish(request)
            .await
            .map(|r| r.into_inner().accepted)
    };
    assert_eq!(call(client.clone()).await.unwrap(), 1);
    let answers = futures::future::join_all((0..4).map(|_| call(client.clone()))).await;
    assert!(
        answers.iter().all(|a| a.as_ref().ok() == Some(&1)),
        "{answers:?}"
    );
}

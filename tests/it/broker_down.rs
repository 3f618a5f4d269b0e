//! Kafka down: the collector answers UNAVAILABLE / 503 and reports nothing accepted; after the
//! broker is back, a retry delivers every event that was ever reported accepted, each once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ccx_e2e::*;
use ccx_model::json::event_to_json;
use ccx_model::Event;
use ccx_proto::v1::collector_client::CollectorClient;
use ccx_proto::v1::{PublishRequest, PublishResponse};
use serde_json::Value;
use tonic::{Code, Request};

const PARTITIONS: i32 = 3;

async fn publish(
    addr: std::net::SocketAddr,
    events: &[Event],
) -> Result<PublishResponse, tonic::Status> {
    let mut client = CollectorClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let mut request = Request::new(PublishRequest {
        events: events.to_vec(),
    });
    let auth = format!("Bearer {}", token("tenant-0"));
    request
        .metadata_mut()
        .insert("authorization", auth.parse().expect("ascii"));
    client.publish(request).await.map(|r| r.into_inner())
}

/// Retries a batch the way a client should, until it is accepted or 60 s passed.
async fn publish_until_accepted(addr: std::net::SocketAddr, events: &[Event]) -> PublishResponse {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match publish(addr, events).await {
            Ok(response) => return response,
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(status) => panic!("retry failed: {status}"),
        }
    }
}

async fn wait_ready(http: &str, want: u16) {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let status = client
            .get(format!("http://{http}/readyz"))
            .send()
            .await
            .expect("get")
            .status();
        if status == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("/readyz never answered {want}");
}

/// Each accepted event present; copies of one eventId are byte-identical, so counting by
/// (tenantId, eventId) counts it exactly once. Returns the number of raw records.
fn assert_each_once(consumed: &[Consumed], accepted: &[Event]) -> usize {
    let mut by_id: BTreeMap<&str, Vec<&Consumed>> = BTreeMap::new();
    for c in consumed {
        by_id.entry(c.event.event_id.as_str()).or_default().push(c);
    }
    for event in accepted {
        let copies = by_id
            .get(event.event_id.as_str())
            .unwrap_or_else(|| panic!("accepted event {} lost", event.event_id));
        assert!(copies.iter().all(|c| &c.event == event));
    }
    assert_eq!(by_id.len(), accepted.len(), "no event that was never sent");
    consumed.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_broker_means_unavailable_and_a_retry_after_restart_delivers_once() {
    let mut broker = Broker::start().expect("broker");
    let topic = unique_topic("ccx.events.down");
    broker
        .create_topic(&topic, PARTITIONS)
        .await
        .expect("topic");
    let config = collector_config(&broker.addr(), &topic, PARTITIONS as u32);
    let (running, _) = start_collector(&config).await.expect("collector");
    let http = running.http_addr.to_string();
    wait_ready(&http, 200).await;

    broker.kill();
    let batch = sample_events("tenant-0", "down", 40);
    let status = publish(running.grpc_addr, &batch).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    let body: Vec<Value> = batch.iter().map(event_to_json).collect();
    let response = reqwest::Client::new()
        .post(format!("http://{http}/v1/events"))
        .bearer_auth(token("tenant-0"))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 503);
    wait_ready(&http, 503).await;

    broker.restart().expect("restart");
    broker
        .create_topic(&topic, PARTITIONS)
        .await
        .expect("topic");
    let response = publish_until_accepted(running.grpc_addr, &batch).await;
    assert_eq!(response.accepted, 40);
    wait_ready(&http, 200).await;

    let consumed = consume_all(
        &broker.addr(),
        &topic,
        PARTITIONS,
        40,
        Duration::from_secs(20),
    )
    .await
    .expect("consume");
    assert_eq!(consumed.len(), 40, "exactly once in Kafka");
    assert_each_once(&consumed, &batch);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_broker_means_unavailable_and_nothing_accepted_is_lost() {
    let broker = Broker::start().expect("broker");
    let topic = unique_topic("ccx.events.paused");
    broker
        .create_topic(&topic, PARTITIONS)
        .await
        .expect("topic");
    let config = collector_config(&broker.addr(), &topic, PARTITIONS as u32);
    let (running, _) = start_collector(&config).await.expect("collector");
    wait_ready(&running.http_addr.to_string(), 200).await;

    let before = sample_events("tenant-0", "before", 25);
    assert_eq!(
        publish(running.grpc_addr, &before)
            .await
            .expect("publish")
            .accepted,
        25
    );

    broker.pause(true);
    let during = sample_events("tenant-0", "during", 25);
    let status = publish(running.grpc_addr, &during).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    broker.pause(false);
    let response = publish_until_accepted(running.grpc_addr, &during).await;
    assert_eq!(response.accepted, 25);

    let accepted: Vec<Event> = before.into_iter().chain(during).collect();
    let consumed = consume_all(
        &broker.addr(),
        &topic,
        PARTITIONS,
        50,
        Duration::from_secs(20),
    )
    .await
    .expect("consume");
    let raw = assert_each_once(&consumed, &accepted);
    // Records of the refused attempt may have reached the broker after it resumed: they are
    // byte-identical copies, counted once downstream by (tenantId, eventId).
    println!("raw records: {raw} for {} accepted events", accepted.len());
    running.stop().await;
}

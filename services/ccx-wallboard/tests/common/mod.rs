//! Rows of two tenants, written alike to ClickHouse and to a memory sink, and an HTTP client
//! that keeps the session cookie.

#![allow(dead_code)]

use ccx_model::rows::{
    AgentKey, AgentMinute, AgentNow, Components, QueueKey, QueueNow, StateTimes, AGENT_COLUMNS,
    QUEUE_COLUMNS,
};
use ccx_store::RowBatch;
use ccx_stream::sink::MemorySink;

pub const MINUTE: i64 = 60_000;

/// A noon (UTC) to compute boards at: today began 12 h before.
pub const NOON: i64 = 1_796_299_200_000;

/// Rows of tenants `a` and `b` around `now`: minutes in the last 15, in the last 60 only, in
/// today only and yesterday, on two queues and channels, plus live rows as of `now`.
pub fn batch(now: i64) -> RowBatch {
    let minute = now - now.rem_euclid(MINUTE);
    let mut batch = RowBatch {
        version: 1,
        ..RowBatch::default()
    };
    for (t, tenant) in ["a", "b"].into_iter().enumerate() {
        let t = t as u64;
        for (m, ago) in [0i64, 10, 30, 300, 24 * 60 + 5].into_iter().enumerate() {
            let m = m as u64;
            let window_start = minute - ago * MINUTE;
            for (queue, channel, k) in
                [("q1", "VOICE", 1u64), ("q1", "CHAT", 2), ("q2", "VOICE", 3)]
            {
                let c = Components {
                    offered: 10 + k + m + t,
                    answered: 8 + k,
                    answered_in_sl: 6 + m,
                    wait_answered_ms: 9_000 * k + m,
                    abandoned: 2,
                    abandoned_short: m % 2,
                    handled: 7 + k,
                    talk_ms: 100_000 * k,
                    acw_ms: 5_000,
                    fcr_eligible: 4,
                    fcr_success: 3 - (m % 2),
                    csat_responses: 5,
                    csat_satisfied: 4 + (k % 2),
                    sentiment_milli_sum: -250 * k as i64,
                    sentiment_count: k,
                    callbacks_requested: k,
                    callbacks_matched: m % 2,
                    qa_evaluations: 0,
                    ..Components::default()
                }
                .only(QUEUE_COLUMNS);
                batch.queue.push((
                    QueueKey {
                        tenant_id: tenant.into(),
                        window_start,
                        queue_id: queue.into(),
                        channel: channel.into(),
                        direction: "INBOUND".into(),
                    },
                    c,
                ));
            }
            for (agent, k) in [("ann", 1u64), ("bob", 2)] {
                let c = Components {
                    handled: 3 + k + m,
                    talk_ms: 40_000 * k,
                    hold_ms: 1_000 * m,
                    acw_ms: 2_000,
                    qa_evaluations: 1,
                    qa_score_sum: 80 + k,
                    ..Components::default()
                }
                .only(AGENT_COLUMNS);
                batch.agent.push((
                    AgentKey {
                        tenant_id: tenant.into(),
                        window_start,
                        agent_id: agent.into(),
                        channel: "VOICE".into(),
                    },
                    c,
                ));
                batch.agent_state.push((
                    AgentMinute {
                        tenant_id: tenant.into(),
                        window_start,
                        agent_id: agent.into(),
                    },
                    StateTimes {
                        available_ms: 10_000 * k,
                        busy_ms: 30_000 + m,
                        acw_state_ms: 5_000,
                        break_ms: 15_000 - 10_000 * (k - 1),
                    },
                ));
            }
        }
        batch.queue_now.push(QueueNow {
            tenant_id: tenant.into(),
            queue_id: "q1".into(),
            channel: "VOICE".into(),
            waiting: 3 + t,
            longest_wait_ms: 42_000,
            agents_needed: Some(4),
            as_of: now - 300,
        });
        batch.queue_now.push(QueueNow {
            tenant_id: tenant.into(),
            queue_id: "q1".into(),
            channel: "CHAT".into(),
            waiting: 1,
            longest_wait_ms: 7_000,
            agents_needed: None,
            as_of: now - 800,
        });
        for (agent, state, contact) in [("ann", "BUSY", "c-1"), ("bob", "AVAILABLE", "")] {
            batch.agent_now.push(AgentNow {
                tenant_id: tenant.into(),
                agent_id: agent.into(),
                state: state.into(),
                state_since: now - 95_000,
                contact_id: contact.into(),
                queue_id: if contact.is_empty() { "" } else { "q1" }.into(),
                channel: if contact.is_empty() { "" } else { "VOICE" }.into(),
                on_hold: !contact.is_empty(),
                as_of: now - 200,
            });
        }
    }
    batch
}

/// A memory sink holding `batch` as the stream would have written it.
pub fn memory(batch: &RowBatch) -> MemorySink {
    let sink = MemorySink::default();
    {
        let mut shared = ccx_model::sync::lock(&sink.shared);
        shared.rows.queue.extend(batch.queue.iter().cloned());
        shared.rows.agent.extend(batch.agent.iter().cloned());
        shared
            .rows
            .agent_state
            .extend(batch.agent_state.iter().cloned());
        for n in &batch.queue_now {
            let key = (n.tenant_id.clone(), n.queue_id.clone(), n.channel.clone());
            shared.queue_now.insert(key, n.clone());
        }
        for n in &batch.agent_now {
            shared
                .agent_now
                .insert((n.tenant_id.clone(), n.agent_id.clone()), n.clone());
        }
    }
    sink
}

"""Known rows for the dashboards' tests, and the instant the dashboards are looked at.

The clock is NOW = 2026-01-15 10:30:20 UTC, so with the dashboards' own ranges:

* wallboard, last 60 minutes: window_start in [09:30:20, 10:30:20] → minutes 09:31 … 10:30;
  last 15 minutes: window_start ≥ 10:15:20 → minutes 10:16 … 10:30;
* agents, last 24 hours: from 2026-01-14 10:30:20;
* CX trends, last year: the local days whose midnight is from 2025-01-15 10:30:20 (daily rollup
  rows, summed below from the minute rows by each tenant's local day);
* churn, last 30 days: from 2025-12-16 10:30:20.

Rows just outside each window (09:30, 10:15, 2026-01-13 …, 2024-12-10) and rows of another tenant
would change every expected number if they were counted. Several keys are written twice with
different versions, the stale version sometimes inserted *after* the newer one, so that only
`FROM … FINAL` (highest version per key) gives the expected numbers; merges are stopped while the
rows are inserted and queried, so the versions stay in separate parts.

Each row lists only its non-zero columns; the tests fill the others with 0 / '' / [] / NULL from
the table's own column list.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

NOW = datetime(2026, 1, 15, 10, 30, 20, tzinfo=timezone.utc)
TENANT = "tenant-0"
OTHER_TENANT = "tenant-1"
# A tenant whose days are far from UTC's: its rows exist only for the CX trends' grains.
TOKYO_TENANT = "tenant-2"
# Each tenant's `time_zone` setting: what its daily rollup rows' `day` is the local date in.
TIME_ZONES = {TENANT: "America/New_York", OTHER_TENANT: "UTC", TOKYO_TENANT: "Asia/Tokyo"}


def ts(text: str) -> int:
    """'2026-01-15 10:20' or '2026-01-15 10:20:05' (UTC) → Unix seconds."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return int(datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp())


def q(when, queue, channel, direction, version=1, tenant=TENANT, **components):
    return {"tenant_id": tenant, "window_start": ts(when), "queue_id": queue, "channel": channel,
            "direction": direction, "version": version, **components}


def ag(when, agent, channel, version=1, tenant=TENANT, **components):
    return {"tenant_id": tenant, "window_start": ts(when), "agent_id": agent, "channel": channel,
            "version": version, **components}


def rs(when, reason, channel, direction, version=1, tenant=TENANT, **components):
    return {"tenant_id": tenant, "window_start": ts(when), "reason": reason, "channel": channel,
            "direction": direction, "version": version, **components}


def st(when, agent, version=1, tenant=TENANT, **state):
    return {"tenant_id": tenant, "window_start": ts(when), "agent_id": agent, "version": version, **state}


def an(agent, state, since, ms=0, version=1, tenant=TENANT, contact="", queue="", channel="", on_hold=0):
    """An agent_now row: in `state` since `since` (+ ms), written (as_of) at 10:30:18.250."""
    as_of = ts("2026-01-15 10:30:18")
    return {"tenant_id": tenant, "agent_id": agent, "state": state, "state_since": ts(since),
            "state_since_ms": ts(since) * 1000 + ms, "contact_id": contact, "queue_id": queue, "channel": channel,
            "on_hold": on_hold, "as_of": as_of, "as_of_ms": as_of * 1000 + 250, "version": version}


def ae(alert_id, kind, status, at, by="ccx-stream", tenant=TENANT):
    """An alert_events row: the transition of `alert_id` to `status` at `at` (its version)."""
    return {"tenant_id": tenant, "alert_id": alert_id, "kind": kind, "status": status, "at": ts(at),
            "at_ms": ts(at) * 1000, "by": by, "note": "", "version": ts(at) * 1000}


D = "2026-01-15 "


def alert(a: dict) -> dict:
    """A churn_alerts row of CHURN_ALERTS' short form."""
    at = ts(a["at"])
    return {"tenant_id": a.get("tenant", TENANT), "alert_id": a["id"], "customer_id": a["customer"],
            "score": a["score"], "reasons": a["reasons"], "triggered_at": at,
            "triggered_at_ms": at * 1000 + a.get("ms", 0), "contact_id": a["contact"], "channel": a["channel"],
            "queue_id": a["queue"], "agent_id": a["agent"], "version": a.get("version", 1)}


# Every churn alert of the seed with its status now (the churn dashboard's tests count from this
# list): the first four are also the wallboard's (inserted in the churn_alerts batches below).
CHURN_ALERTS = [
    {"id": "tenant-0:x1:e1", "customer": "x1", "score": 60, "at": D + "10:05:00", "contact": "c1",
     "reasons": ["HIGH_EFFORT", "NEGATIVE_SENTIMENT", "NPS_DETRACTOR"], "channel": "VOICE", "queue": "q1",
     "agent": "a1", "status": "ACKNOWLEDGED"},
    {"id": "tenant-0:x3:e9", "customer": "x3", "score": 70, "at": "2026-01-13 09:00:00", "contact": "c9",
     "reasons": ["CSAT_DISSATISFIED", "NPS_DETRACTOR", "REPEAT_CONTACT"], "channel": "VOICE", "queue": "q1",
     "agent": "a2", "status": "OPEN"},
    {"id": "tenant-0:x2:e7", "customer": "x2", "score": 80, "at": "2026-01-14 20:00:00", "ms": 500,
     "contact": "c7", "reasons": ["CSAT_DISSATISFIED", "NPS_DETRACTOR", "TRANSFER_BOUNCE"], "channel": "CHAT",
     "queue": "q2", "agent": "", "status": "RESOLVED"},
    {"id": "tenant-1:y1:e1", "tenant": OTHER_TENANT, "customer": "y1", "score": 90, "at": D + "10:00:00",
     "contact": "d1", "reasons": ["NPS_DETRACTOR"], "channel": "VOICE", "queue": "q1", "agent": "b1",
     "status": "OPEN"},
    # x1's earlier alert (resolved), x4's (no transition yet: open), x5's older than 30 days
    {"id": "tenant-0:x1:e0", "customer": "x1", "score": 65, "at": "2025-12-20 12:00:00", "contact": "c0",
     "reasons": ["NPS_DETRACTOR", "REPEAT_CONTACT"], "channel": "CHAT", "queue": "q1", "agent": "a2",
     "status": "RESOLVED"},
    {"id": "tenant-0:x4:e4", "customer": "x4", "score": 75, "at": "2026-01-12 16:30:00", "contact": "c4x",
     "reasons": ["LONG_ABANDON", "NPS_DETRACTOR", "REPEAT_CONTACT"], "channel": "EMAIL", "queue": "q3",
     "agent": "", "status": "OPEN"},
    {"id": "tenant-0:x5:e5", "customer": "x5", "score": 99, "at": "2025-12-01 08:00:00", "contact": "c5x",
     "reasons": ["NPS_DETRACTOR"], "channel": "VOICE", "queue": "q1", "agent": "a1", "status": "OPEN"},
]


def ev(event_id, type_, at, contact, customer="", channel="VOICE", queue="q1", agent="", version=1,
       tenant=TENANT, direction="INBOUND"):
    """An events row (only a CONTACT_OFFERED has to name the customer)."""
    return {"tenant_id": tenant, "event_id": event_id, "type": type_, "occurred_at": ts(at),
            "occurred_at_ms": ts(at) * 1000, "contact_id": contact, "customer_id": customer, "channel": channel,
            "direction": direction, "queue_id": queue, "agent_id": agent, "payload": "{}", "version": version}


# Customer x1's contacts: c0 (2025-12-20, abandoned) and c1 (today, with a survey); c99 is
# another customer's, d1 another tenant's contact of a customer also called x1, c-old is x1's but
# older than 30 days. e-c1-2 is written twice (a replay): one row.
EVENTS = [
    ev("e-c0-1", "CONTACT_OFFERED", "2025-12-20 11:50:00", "c0", customer="x1", channel="CHAT"),
    ev("e-c0-2", "CONTACT_ABANDONED", "2025-12-20 11:52:10", "c0", channel="CHAT"),
    ev("e-c1-1", "CONTACT_OFFERED", D + "09:50:00", "c1", customer="x1"),
    ev("e-c1-2", "CONTACT_ANSWERED", D + "09:50:30", "c1", agent="a1"),
    ev("e-c99-1", "CONTACT_OFFERED", D + "09:51:00", "c99", customer="x9"),
    ev("e-old-1", "CONTACT_OFFERED", "2025-12-01 07:00:00", "c-old", customer="x1"),
    ev("e-c1-2", "CONTACT_ANSWERED", D + "09:50:30", "c1", agent="a1", version=2),
    ev("e-c1-3", "CONTACT_ENDED", D + "10:00:00", "c1", agent="a1"),
    ev("e-c1-4", "SURVEY_RESPONDED", D + "10:05:00", "c1"),
    ev("e-c99-2", "CONTACT_ENDED", D + "09:59:00", "c99", agent="a2"),
    ev("e-d1-1", "CONTACT_OFFERED", D + "09:40:00", "d1", customer="x1", tenant=OTHER_TENANT),
]

# Each batch is one INSERT (one part), in this order.
BATCHES: list[tuple[str, list[dict]]] = [
    # ------------------------------------------------------------------ queue_metrics_1m
    ("queue_metrics_1m", [
        # A: 10:20 q1 VOICE INBOUND — the newest version (2) first …
        q(D + "10:20", "q1", "VOICE", "INBOUND", version=2,
          offered=10, answered=7, answered_in_sl=6, wait_answered_ms=84000,
          abandoned=3, abandoned_short=1, wait_abandoned_ms=45000,
          handled=6, talk_ms=540000, hold_ms=60000, holds=3, transfers=1, acw_ms=120000, acw_count=5,
          resolved=4, fcr_eligible=4, fcr_success=3,
          nps_responses=4, nps_promoters=2, nps_detractors=1, csat_responses=5, csat_satisfied=4,
          ces_responses=2, ces_score_sum=9,
          sentiment_count=4, sentiment_milli_sum=-500, sentiment_negative=1, sentiment_positive=1,
          callbacks_requested=2, wait_callback_ms=90000, transfer_answered=1, transfer_wait_ms=15000,
          repeats=2, cases_resolved=3, case_resolution_ms=10800000, case_contacts=5,
          mos_count=4, mos_milli_sum=15000, mos_poor=1),
        # B: 10:16 q2 CHAT INBOUND — a stale version 1 …
        q(D + "10:16", "q2", "CHAT", "INBOUND", version=1,
          offered=2, answered=1, answered_in_sl=1, wait_answered_ms=1000, handled=1, talk_ms=10000,
          repeats=9, self_served=2),
    ]),
    ("queue_metrics_1m", [
        # … A's stale version 1, inserted after version 2: FINAL must still keep version 2.
        q(D + "10:20", "q1", "VOICE", "INBOUND", version=1,
          offered=3, answered=3, answered_in_sl=3, wait_answered_ms=3000, handled=3, talk_ms=30000,
          nps_responses=1, nps_promoters=1, csat_responses=1, csat_satisfied=1,
          callbacks_requested=50, transfer_answered=10, repeats=3, mos_count=10, mos_milli_sum=10000),
        # … and B's newer version 3.
        q(D + "10:16", "q2", "CHAT", "INBOUND", version=3,
          offered=4, answered=4, answered_in_sl=2, wait_answered_ms=100000,
          handled=4, talk_ms=400000, acw_ms=40000, acw_count=4, conversions=1,
          fcr_eligible=2, fcr_success=2, csat_responses=2, csat_satisfied=1,
          sentiment_count=2, sentiment_milli_sum=700, sentiment_positive=1,
          callbacks_requested=1, wait_callback_ms=30000, repeats=1, self_served=1,
          cases_resolved=1, case_resolution_ms=1800000, case_contacts=1),
        # J: 10:15 — in the last 60 minutes, not in the last 15.
        q(D + "10:15", "q1", "CHAT", "INBOUND",
          offered=2, answered=1, answered_in_sl=0, wait_answered_ms=30000, handled=1, talk_ms=100000,
          repeats=1),
        # C: 09:50 q1 VOICE INBOUND
        q(D + "09:50", "q1", "VOICE", "INBOUND",
          offered=6, answered=4, answered_in_sl=4, wait_answered_ms=20000,
          abandoned=2, abandoned_short=2, wait_abandoned_ms=6000,
          handled=5, talk_ms=500000, hold_ms=50000, holds=2, acw_ms=50000, acw_count=5,
          nps_responses=2, nps_detractors=2, fcr_eligible=1,
          callbacks_requested=1, wait_callback_ms=60000, transfer_answered=2, transfer_wait_ms=50000,
          mos_count=3, mos_milli_sum=12600, cases_resolved=1, case_resolution_ms=3600000, case_contacts=2),
        # D: 10:10 q2 VOICE OUTBOUND
        q(D + "10:10", "q2", "VOICE", "OUTBOUND",
          offered=5, answered=3, answered_in_sl=3, abandoned=2, handled=3, talk_ms=300000, conversions=2,
          callbacks_attempted=3, callbacks_matched=3, callback_delay_ms=1800000, callbacks_connected=2,
          accounts_attempted=4, first_call_closes=1, mos_count=2, mos_milli_sum=5000, mos_poor=2),
        # K: 09:30 — before the wallboard's 60 minutes (from 09:30:20), inside 30 days.
        q(D + "09:30", "q1", "VOICE", "INBOUND",
          offered=8, answered=6, answered_in_sl=5, wait_answered_ms=30000, abandoned=2,
          handled=6, talk_ms=360000, acw_ms=60000, acw_count=6, conversions=1,
          fcr_eligible=3, fcr_success=3, nps_responses=4, nps_promoters=3,
          csat_responses=2, csat_satisfied=2, sentiment_count=1, sentiment_milli_sum=800,
          sentiment_positive=1, repeats=2, self_served=1, callbacks_requested=7, callbacks_attempted=7,
          cases_resolved=2, case_resolution_ms=14400000, case_contacts=6, mos_count=1, mos_milli_sum=1000,
          mos_poor=1),
        # F: the day before
        q("2026-01-14 15:00", "q1", "VOICE", "INBOUND",
          offered=20, answered=18, answered_in_sl=15, wait_answered_ms=180000,
          abandoned=2, abandoned_short=1, wait_abandoned_ms=20000,
          handled=18, talk_ms=1800000, hold_ms=90000, holds=6, transfers=2, acw_ms=180000, acw_count=16,
          conversions=3, fcr_eligible=10, fcr_success=8,
          nps_responses=10, nps_promoters=6, nps_detractors=2, csat_responses=8, csat_satisfied=6,
          ces_responses=5, ces_score_sum=30, sentiment_count=5, sentiment_milli_sum=1500,
          sentiment_positive=3, repeats=3, self_served=2, cases_resolved=10, case_resolution_ms=72000000,
          case_contacts=15, mos_count=10, mos_milli_sum=40000, mos_poor=1),
        # G: older than a year (the CX trends' range)
        q("2024-12-10 12:00", "q1", "VOICE", "INBOUND",
          offered=1000, answered=1000, nps_responses=100, nps_detractors=100, csat_responses=100,
          repeats=1000, self_served=1000, cases_resolved=1, case_resolution_ms=99000000, mos_count=100,
          mos_poor=100),
        # I: 10:25 q3 EMAIL — surveys only: every queue ratio but NPS has a zero denominator.
        q(D + "10:25", "q3", "EMAIL", "INBOUND", nps_responses=1, nps_promoters=1),
        # H: another tenant, same minute and queue as A.
        q(D + "10:20", "q1", "VOICE", "INBOUND", tenant=OTHER_TENANT,
          offered=500, answered=500, wait_answered_ms=50000000, handled=500, talk_ms=50000000,
          nps_responses=50, nps_detractors=50, csat_responses=50,
          callbacks_requested=500, callbacks_attempted=50, repeats=500, mos_count=50, mos_poor=50,
          transfer_answered=5, transfer_wait_ms=5000000),
    ]),
    # T: tenant-2 (Asia/Tokyo, UTC+9): local days, weeks and months that differ from UTC's.
    ("queue_metrics_1m", [
        # T1 Wed 2025-12-31 23:00 local (December); T2 Thu 2026-01-01 01:00 local (January, same week)
        q("2025-12-31 14:00", "q1", "VOICE", "INBOUND", tenant=TOKYO_TENANT,
          offered=10, answered=8, answered_in_sl=6, wait_answered_ms=80000, abandoned=2, abandoned_short=1,
          handled=8, talk_ms=800000, acw_ms=80000, nps_responses=4, nps_promoters=3, nps_detractors=1,
          fcr_eligible=5, fcr_success=4, repeats=1, cases_resolved=2, case_resolution_ms=7200000),
        q("2025-12-31 16:00", "q1", "VOICE", "INBOUND", tenant=TOKYO_TENANT,
          offered=20, answered=15, answered_in_sl=15, wait_answered_ms=45000, abandoned=5, abandoned_short=3,
          handled=15, talk_ms=900000, hold_ms=30000, nps_responses=5, nps_promoters=1, nps_detractors=3,
          csat_responses=4, csat_satisfied=2, fcr_eligible=6, fcr_success=3, repeats=4),
        # T3 Sun 2026-01-04 19:00 local (week of 12-29); T4 Mon 2026-01-05 05:00 local (week of 01-05),
        # both on UTC's Sunday 01-04
        q("2026-01-04 10:00", "q1", "CHAT", "INBOUND", tenant=TOKYO_TENANT,
          offered=6, answered=6, answered_in_sl=5, wait_answered_ms=12000, handled=6, talk_ms=360000,
          nps_responses=2, nps_promoters=2, ces_responses=2, ces_score_sum=11),
        q("2026-01-04 20:00", "q2", "CHAT", "INBOUND", tenant=TOKYO_TENANT,
          offered=8, answered=4, answered_in_sl=1, wait_answered_ms=200000, abandoned=4, abandoned_short=0,
          handled=4, talk_ms=480000, acw_ms=40000, nps_responses=3, nps_detractors=2, nps_promoters=1,
          csat_responses=3, csat_satisfied=1, fcr_eligible=2, fcr_success=0),
        # T5 Thu 2026-01-08 12:00 local (the previous week); T6 UTC's 01-14 16:00 = 01-15 01:00 local and
        # T7 01-15 10:00 local (today: the latest local day with data by NOW); T8 01-16 01:00 local, after NOW
        q("2026-01-08 03:00", "q1", "VOICE", "INBOUND", tenant=TOKYO_TENANT,
          offered=12, answered=10, answered_in_sl=9, wait_answered_ms=50000, abandoned=2, abandoned_short=2,
          handled=10, talk_ms=1200000, hold_ms=60000, acw_ms=100000, nps_responses=6, nps_promoters=4,
          nps_detractors=1, csat_responses=5, csat_satisfied=4, ces_responses=3, ces_score_sum=15,
          fcr_eligible=8, fcr_success=7, repeats=2, cases_resolved=4, case_resolution_ms=14400000),
        q("2026-01-14 16:00", "q1", "VOICE", "INBOUND", tenant=TOKYO_TENANT,
          offered=9, answered=9, answered_in_sl=7, wait_answered_ms=27000, handled=9, talk_ms=900000,
          acw_ms=90000, nps_responses=3, nps_promoters=1, nps_detractors=1, csat_responses=2, csat_satisfied=2,
          fcr_eligible=4, fcr_success=2, repeats=3, cases_resolved=1, case_resolution_ms=1800000),
        q("2026-01-15 01:00", "q2", "CHAT", "INBOUND", tenant=TOKYO_TENANT,
          offered=5, answered=3, answered_in_sl=3, wait_answered_ms=9000, abandoned=2, abandoned_short=1,
          handled=3, talk_ms=300000, ces_responses=1, ces_score_sum=6, fcr_eligible=1, fcr_success=1),
        q("2026-01-15 16:00", "q1", "VOICE", "INBOUND", tenant=TOKYO_TENANT,
          offered=100, answered=1, nps_responses=50, nps_detractors=50, fcr_eligible=50),
    ]),
    # ------------------------------------------------------------------ agent_metrics_1m
    ("agent_metrics_1m", [
        ag(D + "10:20", "a1", "VOICE", version=1, handled=40, talk_ms=4000000, transfers=20,
           qa_evaluations=10, qa_score_sum=100, mos_count=9, mos_milli_sum=9000, mos_poor=9),
    ]),
    ("agent_metrics_1m", [
        ag(D + "10:20", "a1", "VOICE", version=2,
           handled=4, talk_ms=360000, hold_ms=60000, holds=3, transfers=1, acw_ms=80000, acw_count=3,
           resolved=2, conversions=1, fcr_eligible=3, fcr_success=2,
           nps_responses=2, nps_promoters=1, nps_detractors=1, csat_responses=3, csat_satisfied=2,
           ces_responses=1, ces_score_sum=5, sentiment_count=2, sentiment_milli_sum=-300,
           sentiment_negative=1, qa_evaluations=2, qa_score_sum=170, mos_count=3, mos_milli_sum=12000,
           mos_poor=1),
        ag("2026-01-14 15:00", "a1", "CHAT",
           handled=2, talk_ms=200000, acw_ms=20000, acw_count=2, fcr_eligible=1, fcr_success=1,
           csat_responses=1, csat_satisfied=1, qa_evaluations=1, qa_score_sum=70),
        ag(D + "10:20", "a2", "VOICE",
           handled=2, talk_ms=180000, acw_ms=40000, acw_count=2, fcr_eligible=2, fcr_success=2,
           nps_responses=1, nps_promoters=1, mos_count=2, mos_milli_sum=8400),
        ag("2026-01-13 10:00", "a2", "VOICE", handled=100, talk_ms=1000, qa_evaluations=5, qa_score_sum=25),
        ag(D + "10:20", "a1", "VOICE", tenant=OTHER_TENANT, handled=9, talk_ms=9000000,
           qa_evaluations=1, qa_score_sum=1, mos_count=1, mos_milli_sum=1000),
    ]),
    # ------------------------------------------------------------------ reason_metrics_1m
    ("reason_metrics_1m", [
        # R1: 10:20 billing VOICE INBOUND — the newest version (2) first …
        rs(D + "10:20", "billing", "VOICE", "INBOUND", version=2,
           offered=6, handled=5, resolved=4, repeats=2, fcr_eligible=4, fcr_success=3,
           cases_resolved=3, case_resolution_ms=10800000, nps_responses=3, nps_promoters=2, nps_detractors=1,
           csat_responses=4, csat_satisfied=3, ces_responses=2, ces_score_sum=9),
        # R2: 10:16, no reason given, CHAT
        rs(D + "10:16", "", "CHAT", "INBOUND",
           offered=4, handled=4, resolved=1, fcr_eligible=2, fcr_success=2, cases_resolved=1,
           case_resolution_ms=1800000, csat_responses=2, csat_satisfied=1),
    ]),
    ("reason_metrics_1m", [
        # … R1's stale version 1, inserted after version 2.
        rs(D + "10:20", "billing", "VOICE", "INBOUND", version=1,
           offered=60, repeats=50, fcr_eligible=10, cases_resolved=10, nps_responses=10, nps_detractors=10),
        # R3, R4: the day before
        rs("2026-01-14 15:00", "billing", "VOICE", "INBOUND",
           offered=10, handled=9, resolved=6, repeats=1, fcr_eligible=6, fcr_success=5, cases_resolved=5,
           case_resolution_ms=36000000, nps_responses=5, nps_promoters=3, nps_detractors=2,
           csat_responses=4, csat_satisfied=3, ces_responses=3, ces_score_sum=12),
        rs("2026-01-14 15:00", "delivery", "VOICE", "INBOUND",
           offered=8, handled=8, resolved=5, repeats=3, fcr_eligible=5, fcr_success=2, cases_resolved=4,
           case_resolution_ms=7200000, nps_responses=2, nps_detractors=2, csat_responses=3, csat_satisfied=1,
           ces_responses=1, ces_score_sum=2),
        # R5: 10:25 delivery EMAIL — a promoter, nothing to compute FCR, ART, CSAT or CES from
        rs(D + "10:25", "delivery", "EMAIL", "INBOUND", offered=2, handled=1, nps_responses=1, nps_promoters=1),
        # R6: outbound billing attempts: counted in the volume, not in the (inbound) repeat rate
        rs(D + "10:10", "billing", "VOICE", "OUTBOUND", offered=5, handled=3),
        # R7: older than a year; R8: another tenant
        rs("2024-12-10 12:00", "billing", "VOICE", "INBOUND", offered=1000, repeats=1000, fcr_eligible=1000),
        rs(D + "10:20", "billing", "VOICE", "INBOUND", tenant=OTHER_TENANT, offered=500, repeats=500,
           fcr_eligible=500, nps_responses=50, nps_detractors=50),
    ]),
    # ------------------------------------------------------------------ agent_state_1m
    ("agent_state_1m", [
        st(D + "10:20", "a1", version=2, available_ms=20000, busy_ms=30000, acw_state_ms=10000),
    ]),
    ("agent_state_1m", [
        st(D + "10:20", "a1", version=1, busy_ms=60000),
        st(D + "10:20", "a2", available_ms=30000, busy_ms=30000),
        st(D + "09:45", "a1", available_ms=60000),
        st(D + "10:00", "a3", available_ms=60000),
        st(D + "09:10", "a2", available_ms=60000),
        st("2026-01-13 10:00", "a1", busy_ms=60000),
        st(D + "10:20", "a1", tenant=OTHER_TENANT, busy_ms=60000),
    ]),
    # ------------------------------------------------------------------ queue_now
    ("queue_now", [
        {"tenant_id": TENANT, "queue_id": "q1", "channel": "VOICE", "waiting": 9, "longest_wait_ms": 999000,
         "agents_needed": 9, "as_of": ts(D + "10:29:00"), "as_of_ms": ts(D + "10:29:00") * 1000, "version": 1},
        {"tenant_id": TENANT, "queue_id": "q2", "channel": "VOICE", "waiting": 4, "longest_wait_ms": 300000,
         "agents_needed": 7, "as_of": ts(D + "10:29:00"), "as_of_ms": ts(D + "10:29:00") * 1000, "version": 1},
        {"tenant_id": TENANT, "queue_id": "q2", "channel": "CHAT", "waiting": 1, "longest_wait_ms": 5000,
         "as_of": ts(D + "10:30:18"), "as_of_ms": ts(D + "10:30:18") * 1000 + 250, "version": 2},
    ]),
    ("queue_now", [
        {"tenant_id": TENANT, "queue_id": "q1", "channel": "VOICE", "waiting": 3, "longest_wait_ms": 125000,
         "agents_needed": 4, "as_of": ts(D + "10:30:18"), "as_of_ms": ts(D + "10:30:18") * 1000 + 250, "version": 2},
        # q2/VOICE emptied: the newer row says nobody is waiting (its traffic still needs 2 agents);
        # q2/CHAT handled nothing in the last 30 minutes: agents_needed NULL.
        {"tenant_id": TENANT, "queue_id": "q2", "channel": "VOICE", "waiting": 0, "longest_wait_ms": 0,
         "agents_needed": 2, "as_of": ts(D + "10:30:18"), "as_of_ms": ts(D + "10:30:18") * 1000 + 250, "version": 2},
        {"tenant_id": OTHER_TENANT, "queue_id": "q1", "channel": "VOICE", "waiting": 50,
         "longest_wait_ms": 600000, "agents_needed": 60, "as_of": ts(D + "10:30:18"), "as_of_ms": ts(D + "10:30:18") * 1000,
         "version": 2},
    ]),
    # ------------------------------------------------------------------ agent_now
    # What each agent does now (as of NOW = 10:30:20): a1 busy on c5 (on hold) since 10:25:00.5,
    # a2 available since 10:28:20 (its stale BUSY version 1 inserted after version 2), a3 in
    # after-contact work since 10:29:50, a4 on break since 10:00, a5 signed off, a6 named only by
    # contact events (UNKNOWN) since 10:30, a7 available since 10:10; tenant-1's b1 must not count.
    ("agent_now", [
        an("a1", "AVAILABLE", D + "10:20:00", version=1),
        an("a2", "AVAILABLE", D + "10:28:20", version=2),
        an("a4", "BREAK", D + "10:00:00"),
        an("a5", "OFFLINE", D + "09:00:00"),
    ]),
    ("agent_now", [
        an("a1", "BUSY", D + "10:25:00", ms=500, version=2, contact="c5", queue="q1", channel="VOICE", on_hold=1),
        an("a2", "BUSY", D + "10:27:00", version=1, contact="c4", queue="q2", channel="CHAT"),
        an("a3", "AFTER_CONTACT_WORK", D + "10:29:50", contact="c6", queue="q2", channel="CHAT"),
        an("a6", "UNKNOWN", D + "10:30:00", contact="c8", queue="q3", channel="EMAIL"),
        an("a7", "AVAILABLE", D + "10:10:00"),
        an("b1", "AVAILABLE", D + "10:00:00", tenant=OTHER_TENANT),
    ]),
    # ------------------------------------------------------------------ churn_alerts
    ("churn_alerts", [
        {"tenant_id": TENANT, "alert_id": "tenant-0:x1:e1", "customer_id": "x1", "score": 60,
         "reasons": ["HIGH_EFFORT", "NEGATIVE_SENTIMENT", "NPS_DETRACTOR"],
         "triggered_at": ts(D + "10:05:00"), "triggered_at_ms": ts(D + "10:05:00") * 1000,
         "contact_id": "c1", "channel": "VOICE", "queue_id": "q1", "agent_id": "a1", "version": 1},
        {"tenant_id": TENANT, "alert_id": "tenant-0:x3:e9", "customer_id": "x3", "score": 70,
         "reasons": ["CSAT_DISSATISFIED", "NPS_DETRACTOR", "REPEAT_CONTACT"],
         "triggered_at": ts("2026-01-13 09:00:00"), "triggered_at_ms": ts("2026-01-13 09:00:00") * 1000,
         "contact_id": "c9", "channel": "VOICE", "queue_id": "q1", "agent_id": "a2", "version": 1},
    ]),
    ("churn_alerts", [
        # the same alert written again by a replay (higher version): still one alert
        {"tenant_id": TENANT, "alert_id": "tenant-0:x1:e1", "customer_id": "x1", "score": 60,
         "reasons": ["HIGH_EFFORT", "NEGATIVE_SENTIMENT", "NPS_DETRACTOR"],
         "triggered_at": ts(D + "10:05:00"), "triggered_at_ms": ts(D + "10:05:00") * 1000,
         "contact_id": "c1", "channel": "VOICE", "queue_id": "q1", "agent_id": "a1", "version": 2},
        {"tenant_id": TENANT, "alert_id": "tenant-0:x2:e7", "customer_id": "x2", "score": 80,
         "reasons": ["CSAT_DISSATISFIED", "NPS_DETRACTOR", "TRANSFER_BOUNCE"],
         "triggered_at": ts("2026-01-14 20:00:00"), "triggered_at_ms": ts("2026-01-14 20:00:00") * 1000 + 500,
         "contact_id": "c7", "channel": "CHAT", "queue_id": "q2", "agent_id": "", "version": 1},
        {"tenant_id": OTHER_TENANT, "alert_id": "tenant-1:y1:e1", "customer_id": "y1", "score": 90,
         "reasons": ["NPS_DETRACTOR"], "triggered_at": ts(D + "10:00:00"),
         "triggered_at_ms": ts(D + "10:00:00") * 1000, "contact_id": "d1", "channel": "VOICE",
         "queue_id": "q1", "agent_id": "b1", "version": 1},
    ]),
    # ------------------------------------------------------------------ alert_events
    # x1 opened then acknowledged; x2 opened then resolved (written twice by a new leader:
    # same version, one row); a threshold alert open; tenant-1's open alert
    ("alert_events", [
        ae("tenant-0:x1:e1", "CHURN", "OPEN", D + "10:05:01"),
        ae("tenant-0:x1:e1", "CHURN", "ACKNOWLEDGED", D + "10:07:00", by="kim"),
        ae("tenant-0:x2:e7", "CHURN", "OPEN", "2026-01-14 20:00:01"),
        ae("tenant-0:x2:e7", "CHURN", "RESOLVED", D + "09:00:00", by="lee"),
        ae("tenant-0:sl-low:q1::1768471200000", "THRESHOLD", "OPEN", D + "10:20:00"),
        ae("tenant-1:y1:e1", "CHURN", "OPEN", D + "10:00:01", tenant=OTHER_TENANT),
    ]),
    ("alert_events", [
        ae("tenant-0:x2:e7", "CHURN", "RESOLVED", D + "09:00:00", by="lee"),
        # x1's earlier alert, resolved the next day
        ae("tenant-0:x1:e0", "CHURN", "OPEN", "2025-12-20 12:00:01"),
        ae("tenant-0:x1:e0", "CHURN", "RESOLVED", "2025-12-21 09:00:00", by="kim"),
    ]),
    # ------------------------------------------------------------------ churn: more alerts, events
    ("churn_alerts", [alert(a) for a in CHURN_ALERTS[4:]]),
    ("events", EVENTS[:6]),
    ("events", EVENTS[6:]),
    # ------------------------------------------------------------------ ingest_quality_1m
    ("ingest_quality_1m", [
        {"tenant_id": TENANT, "window_start": ts(D + "10:20"), "duplicates": 2, "out_of_sequence": 1,
         "late_dropped": 0, "version": 2},
    ]),
    ("ingest_quality_1m", [
        {"tenant_id": TENANT, "window_start": ts(D + "10:20"), "duplicates": 5, "out_of_sequence": 5,
         "late_dropped": 5, "version": 1},
        {"tenant_id": TENANT, "window_start": ts(D + "09:40"), "duplicates": 1, "out_of_sequence": 0,
         "late_dropped": 1, "version": 1},
        {"tenant_id": TENANT, "window_start": ts(D + "09:00"), "duplicates": 100, "out_of_sequence": 0,
         "late_dropped": 0, "version": 1},
        {"tenant_id": OTHER_TENANT, "window_start": ts(D + "10:20"), "duplicates": 7, "out_of_sequence": 7,
         "late_dropped": 7, "version": 1},
        # two days ago: inside the 7 days a backfill is looked for, outside every other range
        {"tenant_id": TENANT, "window_start": ts("2026-01-13 08:00"), "late_dropped": 3, "version": 1},
        {"tenant_id": TENANT, "window_start": ts("2026-01-13 08:01"), "late_dropped": 4, "version": 1},
    ]),
    # ------------------------------------------------------------------ backfills
    ("backfills", [
        # 09:40's late event and 08:01's four were taken in by a backfill (the newer record
        # counts: 08:01 was first backfilled with 2 of its 4); 08:00's three were not
        {"tenant_id": TENANT, "window_start": ts(D + "09:40"), "late_covered": 1, "version": 1},
        {"tenant_id": TENANT, "window_start": ts("2026-01-13 08:01"), "late_covered": 4, "version": 2},
        {"tenant_id": OTHER_TENANT, "window_start": ts(D + "10:20"), "late_covered": 7, "version": 1},
    ]),
    ("backfills", [
        {"tenant_id": TENANT, "window_start": ts("2026-01-13 08:01"), "late_covered": 2, "version": 1},
    ]),
]


# ------------------------------------------------------------------------------ daily rollups

ROLLED_UP = {"queue_metrics_1m": ("queue_id", "channel", "direction"),
             "reason_metrics_1m": ("reason", "channel", "direction")}


def local_day(tenant: str, window_start: int) -> str:
    """The tenant-local date of a minute (its `time_zone`), as 'YYYY-MM-DD'."""
    return datetime.fromtimestamp(window_start, ZoneInfo(TIME_ZONES[tenant])).strftime("%Y-%m-%d")


def local_midnight(tenant: str, day: str) -> int:
    """The instant (Unix seconds) the tenant's local `day` starts."""
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=ZoneInfo(TIME_ZONES[tenant])).timestamp())


def final(rows: list[dict], key: tuple[str, ...]) -> list[dict]:
    """What `FINAL` keeps of rows: the highest version of each key."""
    newest: dict[tuple, dict] = {}
    for r in rows:
        k = tuple(r[c] for c in ("tenant_id", "window_start", *key))
        if k not in newest or r["version"] > newest[k]["version"]:
            newest[k] = r
    return list(newest.values())


def daily(rows: list[dict], key: tuple[str, ...], version: int) -> list[dict]:
    """The daily rollup rows (`_1d`) of minute rows: per tenant-local day and key, every component
    summed."""
    out: dict[tuple, dict] = {}
    for r in rows:
        day = local_day(r["tenant_id"], r["window_start"])
        k = (r["tenant_id"], day, *(r[c] for c in key))
        row = out.setdefault(k, {"tenant_id": r["tenant_id"], "day": day,
                                 "window_start": local_midnight(r["tenant_id"], day),
                                 **{c: r[c] for c in key}, "version": version})
        for c, v in r.items():
            if c not in ("tenant_id", "window_start", "version", *key):
                row[c] = row.get(c, 0) + v
    return list(out.values())


def _rollup_batches() -> list[tuple[str, list[dict]]]:
    """The `_1d` rows of the minute rows above: version 2 from what FINAL keeps of the minutes,
    inserted before a stale version 1 summed over every version (different where a minute was
    rewritten), so only `FINAL` gives the rollup of the current minutes."""
    minutes: dict[str, list[dict]] = defaultdict(list)
    for table, rows in BATCHES:
        if table in ROLLED_UP:
            minutes[table].extend(rows)
    out = []
    for table, key in ROLLED_UP.items():
        rollup = table.replace("_1m", "_1d")
        current = daily(final(minutes[table], key), key, version=2)
        stale = [r for r in daily(minutes[table], key, version=1)
                 if {**r, "version": 2} not in current]
        assert stale, f"{rollup}: no stale row: FINAL would not be exercised"
        out += [(rollup, current), (rollup, stale)]
    return out


BATCHES += _rollup_batches()


def complete(row: dict, columns: list[tuple[str, str]]) -> dict:
    """row with every column of the table: the missing ones at their type's default."""
    out = {}
    for name, type_ in columns:
        if name in row:
            out[name] = row[name]
        elif type_.startswith("Nullable"):
            out[name] = None
        elif type_.startswith("Array"):
            out[name] = []
        elif type_.startswith("String"):
            out[name] = ""
        else:
            out[name] = 0
    unknown = set(row) - {n for n, _ in columns}
    assert not unknown, f"seed row has columns the table lacks: {sorted(unknown)}"
    return out

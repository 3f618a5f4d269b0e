"""Every panel's SQL and every variable's query of dashboards/*.json, after the Grafana and
plugin substitutions of dashboards_grafana.expand, against

* a real ClickHouse 18.16 server started here, with the schema of `ccx migrate`, and
* a current ClickHouse engine (chdb-core) with the same DDL (replayed from the 18.16 server),

both holding the rows of dashboards_seed. Both engines must answer every query, identically,
and the KPIs must be the numbers computed by hand below (SPEC §3: ratios of components summed
over the range, NULL on a zero denominator, rows read with FINAL).
"""

from __future__ import annotations

import math
import re

import pytest

from dashboards_engines import QueryError
from dashboards_grafana import ALL, all_panels, expand, variable_sql, variables
from dashboards_run import (DASHBOARDS, SELECTIONS, assert_rows, clones, context, options_of, panel, panel_sql, run,
                            run_clone, same)
from dashboards_seed import CHURN_ALERTS, TENANT

# --------------------------------------------------------------------------------- every query

CASES = [
    pytest.param(uid, p["id"], selection, id=f"{uid}/{p['id']}-{p['title']}/{selection}")
    for uid, d in DASHBOARDS.items()
    for p in all_panels(d)
    if p["type"] != "row"  # a row header has no query
    for selection in SELECTIONS
]


def test_the_server_is_clickhouse_18_16(server):
    assert server.version.startswith("18.16."), server.version


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_variable_queries_run_on_both_engines(server, current, uid):
    d = DASHBOARDS[uid]
    old = options_of(server, d, context(d, "all"))
    new = options_of(current, d, context(d, "all"))
    assert old == new, f"{uid}: ClickHouse {server.version} {old} != chdb {current.version} {new}"
    assert old["tenant"] == ["tenant-0", "tenant-1", "tenant-2"]
    expected = {
        "ccx-wallboard": {"queue": ["q1", "q2", "q3"], "channel": ["CHAT", "EMAIL", "VOICE"]},
        "ccx-cx-trends": {"grain": ["day", "week", "month"], "queue": ["q1", "q2", "q3"],
                          "channel": ["CHAT", "EMAIL", "VOICE"], "direction": ["INBOUND", "OUTBOUND"],
                          "reason": ["(none)", "billing", "delivery"]},
        "ccx-agents": {"channel": ["CHAT", "VOICE"], "agent": ["a1", "a2", "a3"]},
        # churn: what the tenant's alerts of the 30 days name (not x5's, older)
        "ccx-churn": {"queue": ["q1", "q2", "q3"], "channel": ["CHAT", "EMAIL", "VOICE"],
                      "customer": ["x1", "x2", "x3", "x4"],
                      "signal": sorted({r for a in CHURN_ALERTS[:3] + CHURN_ALERTS[4:6] for r in a["reasons"]}),
                      "status": ["OPEN", "ACKNOWLEDGED", "RESOLVED"]},
    }[uid]
    for name, values in expected.items():
        assert old[name] == values, f"{uid}: ${name} options {old[name]}"


@pytest.mark.parametrize("uid,panel_id,selection", CASES)
def test_every_panel_runs_on_18_16_and_the_current_engine_with_the_same_answer(server, current, uid, panel_id,
                                                                               selection):
    d = DASHBOARDS[uid]
    (p,) = [p for p in all_panels(d) if p["id"] == panel_id]
    ctx_old = context(d, selection, server)
    ctx_new = context(d, selection, current)
    copies = list(zip(clones(p, ctx_old), clones(p, ctx_new)))
    assert copies, f"{uid} panel {p['title']!r} ({selection}): no copy shown"
    for ((value, c_old), (_, c_new)), t in ((c, t) for c in copies for t in p["targets"]):
        frm, to = c_old.time_range(d, p)
        old = server.query(expand(t["rawSql"], c_old, frm, to))
        new = current.query(expand(t["rawSql"], c_new, frm, to))
        assert same(old, new), (f"{uid} panel {p['title']!r} ({selection}, {value}): ClickHouse {server.version} "
                                f"and chdb {current.version} differ:\n  {old}\n  {new}")
        if p["type"] == "timeseries" and old:
            assert "time" in old[0], f"{p['title']}: a time series needs a `time` column"


# --------------------------------------------------------------------------------- a brand's copy

BRAND_USER = ("tenant_0_read", "pw-of-tenant-0")


def as_brand(sql: str) -> str:
    """A query as the chart rewrites it for the brand's own folder
    (helm/ccx/templates/grafana-dashboards.yaml): its tenant database instead of `ccx`."""
    return re.sub(r"\bccx\.", f"`ccx_t_{TENANT}`.", sql)


@pytest.fixture(scope="module")
def brand(server):
    server.add_read_user(TENANT, *BRAND_USER)
    return server


@pytest.mark.parametrize("uid", sorted(DASHBOARDS))
def test_a_brands_dashboards_show_its_numbers_as_its_read_user_and_nothing_else(brand, uid):
    """Every variable and panel of the brand's copy, run as the brand's ClickHouse user on its
    tenant database, answers what the operator's dashboard answers for that tenant; the tenant
    variable offers the brand alone, and the operator's queries are refused to the user."""
    d = DASHBOARDS[uid]
    ctx_brand = context(d, "all")
    ctx = context(d, "all", brand)
    brand_options: dict[str, list[str]] = {}
    for v in variables(d):
        if v.get("type") != "query":
            # A custom list or a text box (grain, status, customer): as the operator's.
            name = v["name"]
            ctx_brand.options[name] = ctx.options.get(name, [])
            if name in ctx.values:
                ctx_brand.values[name] = ctx.values[name]
            continue
        frm, to = ctx_brand.time_range(d)
        rows = brand.query(as_brand(expand(variable_sql(v), ctx_brand, frm, to)), user=BRAND_USER)
        brand_options[v["name"]] = [str(next(iter(r.values()))) for r in rows]
        ctx_brand.options[v["name"]] = brand_options[v["name"]]
    assert brand_options["tenant"] == [TENANT]
    # A single-value variable (the customer of a drill-down) takes the operator's choice.
    for name, value in ctx.values.items():
        if value is not ALL and name != "tenant":
            ctx_brand.values[name] = value
    checked = 0
    for p in all_panels(d):
        if p["type"] == "row":
            continue
        for (value, c), (_, c_brand) in zip(clones(p, ctx), clones(p, ctx_brand)):
            for t in p["targets"]:
                frm, to = c.time_range(d, p)
                want = brand.query(expand(t["rawSql"], c, frm, to))
                got = brand.query(as_brand(expand(t["rawSql"], c_brand, frm, to)), user=BRAND_USER)
                assert same(got, want), f"{uid} panel {p['title']!r} ({value}):\n  {got}\n  {want}"
                with pytest.raises(QueryError, match="Access denied"):
                    brand.query(expand(t["rawSql"], c, frm, to), user=BRAND_USER)
                checked += 1
    assert checked > 0


# --------------------------------------------------------------------------------- hand-computed

W = "ccx-wallboard"
X = "ccx-cx-trends"
AG = "ccx-agents"




def test_wallboard_service_level_asa_abandonment_aht(engine):
    # last 15 min = rows A (version 2), B (version 3), I; last 60 min adds J, C, D (not K at 09:30)
    expect = {
        # 100·Σanswered_in_sl / (Σanswered + Σabandoned − Σabandoned_short)
        "Service level %": {"15 min": 100 * (6 + 2) / (7 + 4 + 3 - 1),
                            "60 min": 100 * (6 + 2 + 0 + 4 + 3) / ((7 + 4 + 1 + 4 + 3) + (3 + 2 + 2) - (1 + 2))},
        # Σwait_answered_ms / Σanswered, in seconds
        "ASA": {"15 min": (84000 + 100000) / (7 + 4) / 1000,
                "60 min": (84000 + 100000 + 30000 + 20000 + 0) / (7 + 4 + 1 + 4 + 3) / 1000},
        # 100·(Σabandoned − Σabandoned_short) / (Σoffered − Σabandoned_short)
        "Abandonment %": {"15 min": 100 * (3 - 1) / (10 + 4 + 0 - 1),
                          "60 min": 100 * ((3 + 2 + 2) - (1 + 2)) / ((10 + 4 + 2 + 6 + 5) - (1 + 2))},
        # (Σtalk + Σhold + Σacw) / Σhandled, in seconds
        "AHT": {"15 min": (540000 + 400000 + 60000 + 120000 + 40000) / (6 + 4) / 1000,
                "60 min": ((540000 + 400000 + 100000 + 500000 + 300000) + (60000 + 50000)
                           + (120000 + 40000 + 50000)) / (6 + 4 + 1 + 5 + 3) / 1000},
        "Offered": {"15 min": 14, "60 min": 27},
        # 100·(Σbusy + Σacw_state) / (Σbusy + Σacw_state + Σavailable), agent_state_1m
        "Occupancy %": {"15 min": 100 * (30000 + 10000 + 30000) / (70000 + 20000 + 30000),
                        "60 min": 100 * 70000 / (70000 + 20000 + 30000 + 60000 + 60000)},
    }
    assert math.isclose(expect["Service level %"]["60 min"], 1500 / 23)
    for title, values in expect.items():
        assert_rows(run(engine, W, title), [values], title)


def test_wallboard_narrow_selection_and_zero_denominators(engine):
    # queue q1 or q3, channel VOICE or EMAIL: rows A, C, I over 60 min; A, I over 15 min
    assert_rows(run(engine, W, "Service level %", "narrow"),
                [{"15 min": 100 * 6 / (7 + 3 - 1), "60 min": 100 * (6 + 4) / ((7 + 4) + (3 + 2) - (1 + 2))}], "SL")
    # only q3 (surveys only): every queue ratio has a zero denominator → NULL, not 0
    ctx = context(DASHBOARDS[W], "all", engine)
    ctx.values["queue"] = ["q3"]
    for title in ("Service level %", "ASA", "Abandonment %", "AHT"):
        assert_rows(engine.query(panel_sql(W, title, ctx)), [{"15 min": None, "60 min": None}], f"{title} (q3)")
    assert_rows(engine.query(panel_sql(W, "Offered", ctx)), [{"15 min": 0, "60 min": 0}], "Offered (q3)")


def test_wallboard_live_queue_churn_and_quality(engine):
    # queue_now FINAL: q1/VOICE 3 (version 2), q2/CHAT 1, q2/VOICE 0 (emptied, version 2)
    assert_rows(run(engine, W, "Waiting now"), [{"waiting": 4}], "Waiting now")
    assert_rows(run(engine, W, "Longest wait now"), [{"longest_wait_s": 125.0}], "Longest wait now")
    assert_rows(run(engine, W, "Queues now"), [
        {"queue": "q1", "channel": "VOICE", "waiting": 3, "longest_wait_s": 125.0, "agents_needed": 4,
         "as_of": "2026-01-15 10:30:18"},
        {"queue": "q2", "channel": "CHAT", "waiting": 1, "longest_wait_s": 5.0, "agents_needed": None,
         "as_of": "2026-01-15 10:30:18"},
        {"queue": "q2", "channel": "VOICE", "waiting": 0, "longest_wait_s": 0.0, "agents_needed": 2,
         "as_of": "2026-01-15 10:30:18"},
    ], "Queues now")
    # the replayed alert x1 counts once; x3 is older than 24 h; tenant-1's is not shown
    assert_rows(run(engine, W, "Churn alerts (24 h)"), [{"alerts": 2}], "Churn alerts (24 h)")
    # x2 was resolved (alert_events): no longer listed; x1's latest transition is its acknowledgement
    latest = run(engine, W, "Churn alerts — latest")
    assert [r["alert_id"] for r in latest] == ["tenant-0:x1:e1"]
    assert latest[0]["signals"] == "HIGH_EFFORT, NEGATIVE_SENTIMENT, NPS_DETRACTOR"
    assert latest[0]["score"] == 60 and latest[0]["triggered_at"] == "2026-01-15 10:05:00"
    assert latest[0]["status"] == "ACKNOWLEDGED"
    # x1 (acknowledged) and the threshold alert (open); x2 resolved; tenant-1's not counted
    assert_rows(run(engine, W, "Open alerts"), [{"open_alerts": 2}], "Open alerts")
    # agents needed now 4 (q1/VOICE) + 2 (q2/VOICE), q2/CHAT none; working now a1, a2 (busy), a3
    # (ACW), a7 (available); a6 unknown, b1 another tenant's
    assert_rows(run(engine, W, "Agents short"), [{"agents_short": 2}], "Agents short")
    assert_rows(run(engine, W, "Ingest quality (60 min)"),
                [{"duplicates": 2 + 1, "out_of_sequence": 1, "late_dropped": 1}], "Ingest quality")
    # late events of the last 7 days no backfill took in: 08:00's three (09:40's one and
    # 08:01's four were backfilled, 08:01's first, smaller record replaced by FINAL)
    assert_rows(run(engine, W, "Backfill due (7 days)"),
                [{"minutes_due": 1, "late_not_backfilled": 3}], "Backfill due")


def test_wallboard_agents_now(engine):
    # agent_now FINAL of tenant-0: a1 BUSY (version 2), a2 AVAILABLE (version 2, its stale BUSY
    # inserted later), a3 AFTER_CONTACT_WORK, a4 BREAK, a5 OFFLINE, a6 UNKNOWN, a7 AVAILABLE
    assert_rows(run(engine, W, "Agents by state"), [
        {"available": 2, "busy": 1, "after_contact_work": 1, "break": 1, "offline": 1, "unknown": 1}],
        "Agents by state")
    # signed in (not OFFLINE), by state, longest first; time in state to NOW = 10:30:20
    agents = run(engine, W, "Agents now")
    assert [(r["agent"], r["state"], r["time_in_state_s"]) for r in agents] == [
        ("a7", "AVAILABLE", 20 * 60 + 20.0),  # since 10:10:00
        ("a2", "AVAILABLE", 120.0),  # since 10:28:20
        ("a1", "BUSY", 319.5),  # since 10:25:00.500
        ("a3", "AFTER_CONTACT_WORK", 30.0),
        ("a4", "BREAK", 30 * 60 + 20.0),
        ("a6", "UNKNOWN", 20.0),
    ], agents
    a1 = agents[2]
    assert (a1["contact"], a1["queue"], a1["channel"], a1["hold"], a1["as_of"]) == \
        ("c5", "q1", "VOICE", "on hold", "2026-01-15 10:30:18")
    assert (agents[0]["contact"], agents[0]["hold"]) == ("", "")
    # tenant-wide: the queue and channel selections do not hide idle agents
    assert run(engine, W, "Agents now", "narrow") == agents


def test_wallboard_fcr_and_csat_today(engine):
    # since 00:00 UTC on 2026-01-15: A, B (version 3), J, C, D, K, I — not yesterday's F, which
    # the panel's 24 hours would include
    assert_rows(run(engine, W, "FCR % and CSAT % today"), [
        {"fcr_pct": 100 * (3 + 2 + 0 + 3) / (4 + 2 + 1 + 3), "csat_pct": 100 * (4 + 1 + 2) / (5 + 2 + 2)}],
        "FCR and CSAT today")
    # q1/q3, VOICE/EMAIL: A, C, K, I
    assert_rows(run(engine, W, "FCR % and CSAT % today", "narrow"), [
        {"fcr_pct": 100 * (3 + 0 + 3) / (4 + 1 + 3), "csat_pct": 100 * (4 + 2) / (5 + 2)}], "narrow")
    ctx = context(DASHBOARDS[W], "all", engine)
    ctx.values["queue"] = ["q3"]
    assert_rows(engine.query(panel_sql(W, "FCR % and CSAT % today", ctx)), [{"fcr_pct": None, "csat_pct": None}],
                "q3: nothing eligible, no survey")


def test_wallboard_queue_tiles(engine):
    tile = "Queue ${queue}"
    # one tile per queue: every queue of the range for All, the selected ones otherwise
    ctx = context(DASHBOARDS[W], "all", engine)
    assert [v for v, _ in clones(panel(W, tile), ctx)] == ["q1", "q2", "q3"]
    ctx = context(DASHBOARDS[W], "narrow", engine)
    assert [v for v, _ in clones(panel(W, tile), ctx)] == ["q1", "q3"]
    # now: queue_now FINAL; last 15 minutes: A for q1, B (version 3) for q2, I for q3
    expect = {
        "q1": {"waiting": 3, "longest_wait_s": 125.0, "agents_needed": 4,
               "service_level_pct": 100 * 6 / (7 + 3 - 1), "asa_s": 84000 / 7 / 1000},
        # CHAT 1 waiting + VOICE emptied; agents needed: VOICE's 2, CHAT's NULL left out
        "q2": {"waiting": 1, "longest_wait_s": 5.0, "agents_needed": 2,
               "service_level_pct": 100 * 2 / 4, "asa_s": 100000 / 4 / 1000},
        # nobody waiting, no agents_needed row, surveys only: no service level, no ASA
        "q3": {"waiting": 0, "longest_wait_s": 0.0, "agents_needed": None, "service_level_pct": None, "asa_s": None},
    }
    for queue, values in expect.items():
        assert_rows(run_clone(engine, W, tile, queue), [values], f"tile {queue}")
    assert_rows(run_clone(engine, W, tile, "q1", "narrow"), [expect["q1"]], "tile q1 (VOICE/EMAIL)")
    assert_rows(run_clone(engine, W, tile, "q2", channel=["VOICE"]), [
        {"waiting": 0, "longest_wait_s": 0.0, "agents_needed": 2, "service_level_pct": None, "asa_s": None}],
        "tile q2 VOICE")


def test_wallboard_queue_table_and_minutes(engine):
    rows = {(r["queue"], r["channel"]): r for r in run(engine, W, "Queues — last 15 / 60 minutes")}
    assert sorted(rows) == [("q1", "CHAT"), ("q1", "VOICE"), ("q2", "CHAT"), ("q2", "VOICE"), ("q3", "EMAIL")]
    q1v = rows[("q1", "VOICE")]  # A (15 and 60), C (60)
    assert same(q1v["service_level_pct_15m"], 100 * 6 / 9)
    assert same(q1v["service_level_pct_60m"], 100 * 10 / 13)
    assert same(q1v["asa_s_60m"], (84000 + 20000) / 11 / 1000)
    assert same(q1v["abandonment_pct_60m"], 100 * (5 - 3) / (16 - 3))
    q1c = rows[("q1", "CHAT")]  # J at 10:15: in the 60 minutes only
    assert q1c["offered_15m"] == 0 and q1c["service_level_pct_15m"] is None and q1c["aht_s_15m"] is None
    assert same(q1c["service_level_pct_60m"], 0.0) and same(q1c["aht_s_60m"], 100.0)
    minutes = run(engine, W, "Contacts per minute")
    assert [r["time"][11:16] for r in minutes] == ["09:50", "10:10", "10:15", "10:16", "10:20", "10:25"]
    assert [r["Offered"] for r in minutes] == [6, 5, 2, 4, 10, 0]
    sl = {r["time"][11:16]: r for r in run(engine, W, "Service level and abandonment per minute")}
    assert same(sl["10:20"]["Service level %"], 100 * 6 / 9) and sl["10:25"]["Service level %"] is None
    assert sl["10:25"]["Abandonment %"] is None


def test_cx_trends(engine):
    # the year (the range): rows A, B, J, C, D, K, F, I (not G, older; not tenant-1's H)
    expect = {
        "NPS": 100 * ((2 + 3 + 6 + 1) - (1 + 2 + 2)) / (4 + 2 + 4 + 10 + 1),
        "CSAT %": 100 * (4 + 1 + 2 + 6) / (5 + 2 + 2 + 8),
        "CES": (9 + 30) / (2 + 5),
        "FCR %": 100 * (3 + 2 + 3 + 8) / (4 + 2 + 1 + 3 + 10),
        "Sentiment": (-500 + 700 + 800 + 1500) / 1000 / (4 + 2 + 1 + 5),
        "Conversion rate %": 100 * (1 + 2 + 1 + 3) / (7 + 4 + 1 + 4 + 3 + 6 + 18),
        "Answer rate % (outbound)": 100 * 3 / 5,
    }
    assert math.isclose(expect["NPS"], 100 / 3) and expect["FCR %"] == 80.0
    for title, value in expect.items():
        assert_rows(run(engine, X, title), [{"value": value}], title)
    assert_rows(run(engine, X, "Contacts offered"), [{"offered": 10 + 4 + 2 + 6 + 5 + 8 + 20}], "offered")

    days = run(engine, X, "NPS, CSAT %, FCR % by period", grain="day")
    assert_rows(days, [
        {"time": "2026-01-14 00:00:00", "NPS": 100 * (6 - 2) / 10, "CSAT %": 100 * 6 / 8, "FCR %": 100 * 8 / 10},
        {"time": "2026-01-15 00:00:00", "NPS": 100 * ((2 + 3 + 1) - (1 + 2)) / (4 + 2 + 4 + 1),
         "CSAT %": 100 * (4 + 1 + 2) / (5 + 2 + 2), "FCR %": 100 * (3 + 2 + 3) / (4 + 2 + 1 + 3)},
    ], "by day")

    channels = {r["channel"]: r for r in run(engine, X, "CX by channel")}
    assert sorted(channels) == ["CHAT", "EMAIL", "VOICE"]
    chat = channels["CHAT"]  # B and J
    assert chat["offered"] == 6 and chat["answered"] == 5 and chat["nps_responses"] == 0
    assert chat["nps"] is None and chat["ces"] is None and chat["outbound_answer_rate_pct"] is None
    assert same(chat["csat_pct"], 50.0) and same(chat["conversion_rate_pct"], 20.0) and same(chat["sentiment"], 0.35)
    email = channels["EMAIL"]  # I: one promoter, nothing else
    assert same(email["nps"], 100.0) and email["csat_pct"] is None and email["conversion_rate_pct"] is None
    queues = {r["queue"]: r for r in run(engine, X, "CX by queue")}
    assert same(queues["q2"]["outbound_answer_rate_pct"], 60.0) and queues["q1"]["outbound_answer_rate_pct"] is None

    by_channel = run(engine, X, "NPS by period and channel", grain="day")
    assert [(r["time"][:10], r["channel"]) for r in by_channel] == [
        ("2026-01-14", "VOICE"), ("2026-01-15", "CHAT"), ("2026-01-15", "EMAIL"), ("2026-01-15", "VOICE")]
    assert by_channel[1]["value"] is None and same(by_channel[3]["value"], 100 * (5 - 3) / 10)


def test_agents(engine):
    # 24 hours: a1 (10:20 VOICE version 2, yesterday 15:00 CHAT), a2 (10:20 VOICE), a3 (state only)
    rows = {r["agent"]: r for r in run(engine, AG, "Agent performance")}
    assert sorted(rows) == ["a1", "a2", "a3"]
    a1, a2, a3 = rows["a1"], rows["a2"], rows["a3"]
    assert a1["handled"] == 6 and a1["holds"] == 3 and a1["transfers"] == 1
    assert same(a1["aht_s"], (360000 + 200000 + 60000 + 80000 + 20000) / 6 / 1000)
    assert same(a1["talk_s"], 560000 / 6 / 1000) and same(a1["acw_s"], 100000 / 5 / 1000)
    assert same(a1["avg_hold_s"], 20.0) and same(a1["transfer_rate_pct"], 100 / 6)
    assert same(a1["fcr_pct"], 75.0) and same(a1["conversion_rate_pct"], 100 * 1 / (6 - 1))
    assert same(a1["occupancy_pct"], 100 * (30000 + 10000) / (30000 + 10000 + 20000 + 60000))
    assert same(a1["staffed_h"], 120000 / 3600000)
    assert same(a2["aht_s"], 110.0) and a2["avg_hold_s"] is None and same(a2["transfer_rate_pct"], 0.0)
    assert same(a2["fcr_pct"], 100.0) and same(a2["occupancy_pct"], 25.0)
    assert a3["handled"] == 0 and a3["aht_s"] is None and a3["fcr_pct"] is None and a3["conversion_rate_pct"] is None
    assert same(a3["occupancy_pct"], 0.0)

    assert_rows(run(engine, AG, "AHT"), [{"value": (560000 + 180000 + 60000 + 100000 + 40000) / 8 / 1000}], "AHT")
    assert_rows(run(engine, AG, "Average hold"), [{"value": 20.0}], "Average hold")
    assert_rows(run(engine, AG, "Transfer rate %"), [{"value": 12.5}], "Transfer rate %")
    assert_rows(run(engine, AG, "FCR %"), [{"value": 100 * 5 / 6}], "FCR %")
    assert_rows(run(engine, AG, "CSAT %"), [{"value": 75.0}], "CSAT %")
    assert_rows(run(engine, AG, "Occupancy %"),
                [{"value": 100 * 70000 / (70000 + 20000 + 60000 + 30000 + 60000 + 60000)}], "Occupancy %")

    surveys = {r["agent"]: r for r in run(engine, AG, "Surveys by agent")}
    assert surveys["a1"]["nps_responses"] == 2 and same(surveys["a1"]["nps"], 0.0)
    assert same(surveys["a1"]["csat_pct"], 75.0) and same(surveys["a1"]["ces"], 5.0)
    assert same(surveys["a1"]["sentiment"], -0.15)
    assert same(surveys["a2"]["nps"], 100.0) and surveys["a2"]["csat_pct"] is None

    # narrow: agent a1, channels VOICE/EMAIL → a1's VOICE row only; occupancy has no channel
    assert_rows(run(engine, AG, "AHT", "narrow"), [{"value": (360000 + 60000 + 80000) / 4 / 1000}], "AHT a1 VOICE")
    assert_rows(run(engine, AG, "Occupancy %", "narrow"), [{"value": 100 * 40000 / 120000}], "Occupancy a1")


def test_wallboard_callbacks_transfers_repeats_containment_and_call_quality(engine):
    # last 15 min = A, B, I; last 60 min adds J, C, D (SPEC §7.2 components of dashboards_seed)
    expect = {
        "Callbacks requested": {"15 min": 2 + 1, "60 min": 2 + 1 + 1},
        # 100·Σcallbacks_connected / Σcallbacks_attempted: only D (10:10) attempted callbacks
        "Callback connect %": {"15 min": None, "60 min": 100 * 2 / 3},
        # Σcallback_delay_ms / Σcallbacks_matched, in seconds
        "Average callback delay": {"15 min": None, "60 min": 1800000 / 3 / 1000},
        # Σtransfer_wait_ms / Σtransfer_answered, in seconds
        "Transfer speed": {"15 min": 15000 / 1 / 1000, "60 min": (15000 + 50000) / (1 + 2) / 1000},
        # inbound: 100·Σrepeats / Σoffered (D, outbound, not counted)
        "Repeat rate %": {"15 min": 100 * (2 + 1) / (10 + 4 + 0),
                          "60 min": 100 * (2 + 1 + 1) / (10 + 4 + 0 + 2 + 6)},
        # 100·Σself_served / Σoffered
        "Self-service %": {"15 min": 100 * 1 / 14, "60 min": 100 * 1 / 27},
        # Σmos_milli_sum / 1000 / Σmos_count
        "MOS": {"15 min": 15000 / 1000 / 4, "60 min": (15000 + 12600 + 5000) / 1000 / (4 + 3 + 2)},
        # 100·Σmos_poor / Σmos_count
        "Poor-quality calls %": {"15 min": 100 * 1 / 4, "60 min": 100 * (1 + 0 + 2) / (4 + 3 + 2)},
    }
    for title, values in expect.items():
        assert_rows(run(engine, W, title), [values], title)

    # queue q1 or q3, channel VOICE or EMAIL: A, I over 15 min; A, C, I over 60 min
    narrow = {
        "Transfer speed": {"15 min": 15.0, "60 min": 65000 / 3 / 1000},
        "MOS": {"15 min": 3.75, "60 min": (15000 + 12600) / 1000 / 7},
        "Repeat rate %": {"15 min": 100 * 2 / 10, "60 min": 100 * 2 / 16},
        "Callbacks requested": {"15 min": 2, "60 min": 3},
    }
    for title, values in narrow.items():
        assert_rows(run(engine, W, title, "narrow"), [values], f"{title} (narrow)")

    # only q3 (surveys only): every new ratio has a zero denominator → NULL, not 0
    ctx = context(DASHBOARDS[W], "all", engine)
    ctx.values["queue"] = ["q3"]
    for title in ("Callback connect %", "Average callback delay", "Transfer speed", "Repeat rate %", "Self-service %",
                  "MOS", "Poor-quality calls %"):
        assert_rows(engine.query(panel_sql(W, title, ctx)), [{"15 min": None, "60 min": None}], f"{title} (q3)")
    assert_rows(engine.query(panel_sql(W, "Callbacks requested", ctx)), [{"15 min": 0, "60 min": 0}], "q3")


def test_cx_trends_resolution_repeats_containment_and_call_quality(engine):
    # the year: A, B, J, C, D, K, F, I (not G, older; not tenant-1's H)
    expect = {
        # Σcase_resolution_ms / Σcases_resolved, in seconds
        "ART": (10800000 + 1800000 + 3600000 + 14400000 + 72000000) / (3 + 1 + 1 + 2 + 10) / 1000,
        # Σcase_contacts / Σcases_resolved
        "Contacts per resolution": (5 + 1 + 2 + 6 + 15) / (3 + 1 + 1 + 2 + 10),
        # inbound: 100·Σrepeats / Σoffered
        "Repeat rate %": 100 * (2 + 1 + 1 + 2 + 3) / (10 + 4 + 2 + 6 + 8 + 20 + 0),
        "Self-service %": 100 * (1 + 1 + 2) / 55,
        "MOS": (15000 + 12600 + 5000 + 1000 + 40000) / 1000 / (4 + 3 + 2 + 1 + 10),
        "Poor-quality calls %": 100 * (1 + 0 + 2 + 1 + 1) / (4 + 3 + 2 + 1 + 10),
    }
    assert expect["Repeat rate %"] == 18.0 and math.isclose(expect["MOS"], 3.68)
    for title, value in expect.items():
        assert_rows(run(engine, X, title), [{"value": value}], title)

    assert_rows(run(engine, X, "ART by period", grain="day"), [
        {"time": "2026-01-14 00:00:00", "ART": 72000000 / 10 / 1000},
        {"time": "2026-01-15 00:00:00", "ART": (10800000 + 1800000 + 3600000 + 14400000) / 7 / 1000},
    ], "ART by day")
    assert_rows(run(engine, X, "Repeat rate and self-service % by period", grain="day"), [
        {"time": "2026-01-14 00:00:00", "Repeat rate %": 100 * 3 / 20, "Self-service %": 100 * 2 / 20},
        {"time": "2026-01-15 00:00:00", "Repeat rate %": 100 * (2 + 1 + 1 + 2) / (10 + 4 + 2 + 6 + 8 + 0),
         "Self-service %": 100 * (1 + 1) / (10 + 4 + 2 + 6 + 5 + 8)},
    ], "repeat and self-service by day")
    assert_rows(run(engine, X, "Call quality by period", grain="day"), [
        {"time": "2026-01-14 00:00:00", "MOS": 4.0, "Poor-quality %": 10.0},
        {"time": "2026-01-15 00:00:00", "MOS": (15000 + 12600 + 5000 + 1000) / 1000 / 10,
         "Poor-quality %": 100 * (1 + 0 + 2 + 1) / 10},
    ], "call quality by day")

    # narrow: queues q1/q3, channels VOICE/EMAIL → A, C, K, F, I
    assert_rows(run(engine, X, "ART", "narrow"),
                [{"value": (10800000 + 3600000 + 14400000 + 72000000) / (3 + 1 + 2 + 10) / 1000}], "ART narrow")
    # q3 alone: nothing to divide by
    ctx = context(DASHBOARDS[X], "all", engine)
    ctx.values["queue"] = ["q3"]
    for title in ("ART", "Contacts per resolution", "Repeat rate %", "Self-service %", "MOS", "Poor-quality calls %",
                  "Calls per account", "First-call close %", "Conversion rate % (outbound)"):
        assert_rows(engine.query(panel_sql(X, title, ctx)), [{"value": None}], f"{title} (q3)")


def test_cx_trends_why_customers_contact(engine):
    # reason_metrics_1d, the year: R1 (version 2), R2, R3, R4, R5, R6 (not R7, older; not tenant-1's R8)
    assert_rows(run(engine, X, "Contacts by reason"), [
        {"contact_reason": "billing", "Offered": 6 + 10 + 5},
        {"contact_reason": "delivery", "Offered": 8 + 2},
        {"contact_reason": "(none)", "Offered": 4},
    ], "Contacts by reason")
    assert_rows(run(engine, X, "FCR % and repeat rate % by reason"), [
        # R6 is outbound: in the volume, not in the repeat rate's denominator
        {"contact_reason": "billing", "FCR %": 100 * (3 + 5) / (4 + 6), "Repeat rate %": 100 * (2 + 1) / (6 + 10)},
        {"contact_reason": "delivery", "FCR %": 100 * 2 / 5, "Repeat rate %": 100 * 3 / (8 + 2)},
        {"contact_reason": "(none)", "FCR %": 100.0, "Repeat rate %": 0.0},
    ], "FCR and repeat rate by reason")
    assert_rows(run(engine, X, "ART by reason"), [
        {"contact_reason": "billing", "ART": (10800000 + 36000000) / (3 + 5) / 1000},
        {"contact_reason": "delivery", "ART": 7200000 / 4 / 1000},
        {"contact_reason": "(none)", "ART": 1800000 / 1 / 1000},
    ], "ART by reason")
    assert_rows(run(engine, X, "NPS and CSAT % by reason"), [
        {"contact_reason": "billing", "NPS": 100 * ((2 + 3) - (1 + 2)) / (3 + 5), "CSAT %": 100 * (3 + 3) / (4 + 4)},
        {"contact_reason": "delivery", "NPS": 100 * (1 - 2) / (2 + 1), "CSAT %": 100 * 1 / 3},
        {"contact_reason": "(none)", "NPS": None, "CSAT %": 50.0},
    ], "NPS and CSAT by reason")
    table = {r["contact_reason"]: r for r in run(engine, X, "Reasons — volume, FCR, repeats, resolution, surveys")}
    assert list(table) == ["billing", "delivery", "(none)"]
    billing = table["billing"]
    assert (billing["offered"], billing["handled"], billing["resolved"], billing["cases_resolved"]) == (21, 17, 10, 8)
    assert same(billing["repeat_rate_pct"], 18.75) and same(billing["fcr_pct"], 80.0)
    assert same(billing["art_s"], 5850.0) and same(billing["nps"], 25.0) and same(billing["csat_pct"], 75.0)
    assert same(billing["ces"], (9 + 12) / (2 + 3))
    assert same(table["delivery"]["ces"], 2.0) and same(table["delivery"]["nps"], -100 / 3)
    none = table["(none)"]
    assert none["nps"] is None and none["ces"] is None and same(none["art_s"], 1800.0)

    # channels VOICE/EMAIL, inbound, reasons billing/delivery: the reason-less CHAT contacts and the
    # outbound billing attempts (R6) drop out; the queue filter does not apply
    assert_rows(run(engine, X, "Contacts by reason", "narrow"), [
        {"contact_reason": "billing", "Offered": 6 + 10}, {"contact_reason": "delivery", "Offered": 8 + 2}], "narrow")
    assert_rows(run(engine, X, "Contacts by reason", reason=["(none)"]), [{"contact_reason": "(none)", "Offered": 4}],
                "no reason given")
    ctx = context(DASHBOARDS[X], "all", engine)
    ctx.values["channel"] = ["CHAT"]
    assert_rows(engine.query(panel_sql(X, "ART by reason", ctx)), [{"contact_reason": "(none)", "ART": 1800.0}],
                "CHAT")
    ctx.values["channel"] = ["EMAIL"]  # R5: a promoter only
    assert_rows(engine.query(panel_sql(X, "FCR % and repeat rate % by reason", ctx)),
                [{"contact_reason": "delivery", "FCR %": None, "Repeat rate %": 0.0}], "EMAIL")
    assert_rows(engine.query(panel_sql(X, "ART by reason", ctx)), [{"contact_reason": "delivery", "ART": None}],
                "EMAIL")


def test_cx_trends_outbound(engine):
    # outbound in the year: D only (q2 VOICE); the inbound conversions of B, K and F do not count
    expect = {
        "Calls per account": 5 / 4,  # Σoffered / Σaccounts_attempted
        "First-call close %": 100 * 1 / 2,  # 100·Σfirst_call_closes / Σconversions
        "Conversion rate % (outbound)": 100 * 2 / 3,  # 100·Σconversions / Σanswered
        "Accounts attempted": 4,
        "Answer rate % (outbound)": 100 * 3 / 5,
    }
    for title, value in expect.items():
        assert_rows(run(engine, X, title), [{"value": value}], title)
    assert_rows(run(engine, X, "Outbound by queue"), [
        {"queue": "q2", "offered": 5, "answered": 3, "accounts_attempted": 4, "calls_per_account": 1.25,
         "answer_rate_pct": 60.0, "conversions": 2, "conversion_rate_pct": 100 * 2 / 3, "first_call_close_pct": 50.0},
    ], "Outbound by queue")
    # narrow (q1/q3): no outbound queue
    assert run(engine, X, "Outbound by queue", "narrow") == []
    assert_rows(run(engine, X, "Accounts attempted", "narrow"), [{"value": 0}], "Accounts attempted (narrow)")


def test_agents_quality(engine):
    # 24 hours: a1 10:20 VOICE (version 2) and yesterday's CHAT row, a2 10:20 VOICE (not a2's row of 01-13)
    assert_rows(run(engine, AG, "Quality by agent"), [
        {"agent": "a1", "qa_evaluations": 3, "qa_score": (170 + 70) / 3, "mos_calls": 3, "mos": 12000 / 1000 / 3,
         "poor_quality_pct": 100 * 1 / 3},
        {"agent": "a2", "qa_evaluations": 0, "qa_score": None, "mos_calls": 2, "mos": 8400 / 1000 / 2,
         "poor_quality_pct": 0.0},
    ], "Quality by agent")
    assert_rows(run(engine, AG, "QA score"), [{"value": (170 + 70) / 3}], "QA score")
    assert_rows(run(engine, AG, "MOS"), [{"value": (12000 + 8400) / 1000 / 5}], "MOS")
    # narrow: agent a1, channels VOICE/EMAIL → a1's VOICE row only
    assert_rows(run(engine, AG, "QA score", "narrow"), [{"value": 85.0}], "QA score a1 VOICE")
    assert_rows(run(engine, AG, "Quality by agent", "narrow"), [
        {"agent": "a1", "qa_evaluations": 2, "qa_score": 85.0, "mos_calls": 3, "mos": 4.0,
         "poor_quality_pct": 100 / 3}], "Quality a1 VOICE")
    # a2 alone on CHAT: nothing → no QA score, no MOS
    ctx = context(DASHBOARDS[AG], "all", engine)
    ctx.values.update({"agent": ["a2"], "channel": ["CHAT"]})
    for title in ("QA score", "MOS"):
        assert_rows(engine.query(panel_sql(AG, title, ctx)), [{"value": None}], f"{title} (a2 CHAT)")


def test_final_is_what_makes_the_numbers_right(server):
    """Without FINAL the stale versions would count: the seed really exercises FINAL."""
    ctx = context(DASHBOARDS[W], "all", server)
    sql = panel_sql(W, "Service level %", ctx)
    with_final = server.query(sql)
    without = server.query(re.sub(r"\s+FINAL\b", "", sql))
    assert not same(with_final, without), "the seeded versions do not change the service level"
    sql = panel_sql(W, "Agents by state", ctx)
    assert not same(server.query(sql), server.query(re.sub(r"\s+FINAL\b", "", sql))), "Agents by state"
    ctx = context(DASHBOARDS[AG], "all", server)
    for title in ("Agent performance", "Quality by agent"):
        sql = panel_sql(AG, title, ctx)
        assert not same(server.query(sql), server.query(re.sub(r"\s+FINAL\b", "", sql))), title
    ctx = context(DASHBOARDS[X], "all", server)
    for title in ("Reasons — volume, FCR, repeats, resolution, surveys", "MOS"):
        sql = panel_sql(X, title, ctx)
        assert not same(server.query(sql), server.query(re.sub(r"\s+FINAL\b", "", sql))), title


def test_an_engine_error_is_reported_with_the_query(server):
    with pytest.raises(QueryError, match="toStartOfInterval"):
        server.query("SELECT toStartOfInterval(now(), INTERVAL 1 hour)")

"""The churn dashboard (dashboards/ccx-churn.json) on both engines: its counts, breakdowns and
lists against what dashboards_seed.CHURN_ALERTS and EVENTS say, computed here from those lists."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from dashboards_grafana import all_panels
from dashboards_run import DASHBOARDS, assert_rows, context, panel, panel_sql, run
from dashboards_seed import CHURN_ALERTS, EVENTS, NOW, TENANT, ts

C = "ccx-churn"
FROM = ts((NOW - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S"))


def shown(queues=None, channels=None, statuses=None, signals=None) -> list[dict]:
    """The seed's alerts the dashboard shows over its 30 days with these selections (None: all)."""
    return [a for a in CHURN_ALERTS
            if a.get("tenant", TENANT) == TENANT and FROM <= ts(a["at"]) <= ts(NOW.strftime("%Y-%m-%d %H:%M:%S"))
            and (queues is None or a["queue"] in queues) and (channels is None or a["channel"] in channels)
            and (statuses is None or a["status"] in statuses)
            and (signals is None or set(a["reasons"]) & set(signals))]


NARROW = {"queues": ["q1", "q3"], "channels": ["VOICE", "EMAIL"], "statuses": ["OPEN", "ACKNOWLEDGED"],
          "signals": ["REPEAT_CONTACT", "HIGH_EFFORT"]}


def by_status(alerts: list[dict]) -> dict:
    n = Counter(a["status"] for a in alerts)
    return {"Open": n["OPEN"], "Acknowledged": n["ACKNOWLEDGED"], "Resolved": n["RESOLVED"]}


def test_counts_and_status(engine):
    for selection, chosen in (("all", shown()), ("narrow", shown(**NARROW))):
        assert chosen, selection
        assert_rows(run(engine, C, "Alerts raised", selection), [{"alerts": len(chosen)}], f"raised {selection}")
        assert_rows(run(engine, C, "Alerts by status", selection), [by_status(chosen)], f"status {selection}")
        at_risk = {a["customer"] for a in chosen if a["status"] != "RESOLVED"}
        assert_rows(run(engine, C, "Customers at risk", selection), [{"customers": len(at_risk)}], selection)
    # the seed covers every status, an alert without any transition, and alerts left out by the range
    assert {a["status"] for a in shown()} == {"OPEN", "ACKNOWLEDGED", "RESOLVED"}
    assert len(shown()) < len([a for a in CHURN_ALERTS if a.get("tenant", TENANT) == TENANT])


def test_over_time_and_by_signal_channel_queue(engine):
    alerts = shown()
    days = sorted({a["at"][:10] for a in alerts})
    expected = [{"time": f"{d} 00:00:00", **by_status([a for a in alerts if a["at"][:10] == d])} for d in days]
    assert_rows(run(engine, C, "Alerts by day and status"), expected, "by day and status")

    pairs = Counter((a["at"][:10], r) for a in alerts for r in a["reasons"])
    assert_rows(run(engine, C, "Alerts by day and signal"),
                [{"time": f"{d} 00:00:00", "signal": r, "value": n} for (d, r), n in sorted(pairs.items())],
                "by day and signal")

    signals = Counter(r for a in alerts for r in a["reasons"])
    assert_rows(run(engine, C, "Alerts by signal"),
                [{"signal": r, "alerts": n} for r, n in sorted(signals.items(), key=lambda x: (-x[1], x[0]))],
                "by signal")
    for title, key, column in (("Alerts by channel and status", "channel", "channel"),
                               ("Alerts by queue and status", "queue", "queue")):
        values = sorted({a[key] for a in alerts})
        assert_rows(run(engine, C, title),
                    [{column: v, **by_status([a for a in alerts if a[key] == v])} for v in values], title)

    narrow = shown(**NARROW)
    signals = Counter(r for a in narrow for r in a["reasons"])
    assert_rows(run(engine, C, "Alerts by signal", "narrow"),
                [{"signal": r, "alerts": n} for r, n in sorted(signals.items(), key=lambda x: (-x[1], x[0]))],
                "by signal (narrow)")


def test_top_customers_and_the_alert_list(engine):
    alerts = shown()
    expected = []
    for customer in sorted({a["customer"] for a in alerts}):
        mine = sorted((a for a in alerts if a["customer"] == customer), key=lambda a: ts(a["at"]))
        if all(a["status"] == "RESOLVED" for a in mine):
            continue
        latest = mine[-1]
        expected.append({"customer": customer, "alerts": len(mine), "latest_score": latest["score"],
                         "highest_score": max(a["score"] for a in mine),
                         "signals": ", ".join(latest["reasons"]), "latest_status": latest["status"],
                         "last_triggered": latest["at"]})
    expected.sort(key=lambda r: (-r["latest_score"], -r["alerts"], r["customer"]))
    assert_rows(run(engine, C, "Top customers at risk"), expected, "top customers")
    assert any(r["alerts"] > 1 for r in expected), "a customer with several alerts"

    listed = run(engine, C, "Churn alerts")
    order = sorted(alerts, key=lambda a: (-ts(a["at"]), a["id"]))
    assert [(r["alert_id"], r["status"], r["score"]) for r in listed] == \
        [(a["id"], a["status"], a["score"]) for a in order]
    first = listed[0]
    triggered_ms = ts(order[0]["at"]) * 1000 + order[0].get("ms", 0)
    assert (first["lookback_from_ms"], first["lookback_to_ms"]) == \
        (triggered_ms - 30 * 86_400_000, triggered_ms + 7 * 86_400_000)


def test_drill_down_from_a_customer_to_its_contacts(engine):
    # both customer columns link to this dashboard with the customer variable set to the cell
    for title in ("Top customers at risk", "Churn alerts"):
        overrides = panel(C, title)["fieldConfig"]["overrides"]
        links = [prop["value"] for o in overrides if o["matcher"]["options"] == "customer"
                 for prop in o["properties"] if prop["id"] == "links"]
        assert len(links) == 1 and len(links[0]) == 1, title
        url = links[0][0]["url"]
        assert url.startswith("/d/ccx-churn/") and "var-customer=${__value.raw}" in url, url
        assert "var-tenant=${tenant}" in url, url
    # the customer the link sets: x1 (two alerts, contacts c0 and c1)
    ctx = context(DASHBOARDS[C], "all", engine)
    ctx.values["customer"] = "x1"
    frm, to = FROM, ts(NOW.strftime("%Y-%m-%d %H:%M:%S"))
    contacts = {e["contact_id"] for e in EVENTS
                if e["tenant_id"] == TENANT and e["customer_id"] == "x1" and e["type"] == "CONTACT_OFFERED"
                and frm <= e["occurred_at"] <= to}
    newest = {}
    for e in EVENTS:
        if e["tenant_id"] == TENANT and e["contact_id"] in contacts and frm <= e["occurred_at"] <= to:
            if e["event_id"] not in newest or e["version"] > newest[e["event_id"]]["version"]:
                newest[e["event_id"]] = e
    expected = [(e["event_id"], e["contact_id"], e["type"], e["agent_id"])
                for e in sorted(newest.values(), key=lambda e: (e["occurred_at"], e["event_id"]))]
    got = engine.query(panel_sql(C, "Contacts of customer ${customer}", ctx))
    assert [(r["event_id"], r["contact"], r["type"], r["agent"]) for r in got] == expected
    assert {"c0", "c1"} == contacts and len(expected) == 6

    mine = sorted((a for a in shown() if a["customer"] == "x1"), key=lambda a: (-ts(a["at"]), a["id"]))
    got = engine.query(panel_sql(C, "Alerts of customer ${customer}", ctx))
    assert [(r["alert_id"], r["status"]) for r in got] == [(a["id"], a["status"]) for a in mine] and len(mine) == 2


def test_every_panel_reads_the_tenant_and_the_range():
    for p in all_panels(DASHBOARDS[C]):
        for t in p.get("targets", []):
            assert "tenant_id = '${tenant}'" in t["rawSql"] and "$__timeFilter(" in t["rawSql"], p["title"]

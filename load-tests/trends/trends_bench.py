#!/usr/bin/env python3
"""Executive trends benchmark (SPEC §7.7): a year of a 1,000-agent contact center generated
straight into ClickHouse, then every panel and variable query of the CX trends and churn
dashboards timed as Grafana would send it, on a ClickHouse 18.16 server and on chdb-core.

    load-tests/trends/trends_bench.py [--minute-days 365] [--event-days 30] [--agent-days 30] [--runs 5]
                                      [--keep-minute-days N] [--no-hourly] [--engines 18.16,chdb]

The data (tenant `bench`, time zone Europe/Rome, a year up to 2026-12-01 12:00 UTC):

* queue_metrics_1m: 40 rows a minute (each a distinct queue/channel/direction of 50 queues ×
  7 channels × 2 directions; 1–2 contacts each, ~86,000 contacts a day) for --minute-days days;
  reason_metrics_1m the same shape over 50 reasons; agent_metrics_1m 170 agent rows a minute
  (1,000 agents) for --agent-days days;
* the hourly and daily rollups of the minute tables, computed from them in ClickHouse
  (`INSERT … SELECT … GROUP BY`: hours from minutes, days from hours; days in Europe/Rome, so
  two days are 23 h and 25 h long);
* churn_alerts: 300 a day over 40,000 customers; alert_events: every alert opened, 60 %
  acknowledged, 40 % resolved; events: 6 events for each of 14,000 contacts a day over
  --event-days days, each contact's offer naming its customer.

Everything is made by `INSERT … SELECT … FROM numbers(…)` inside the engine, in chunks of a
month. The server and its data live in a temporary directory removed at the end. Prints one
Markdown table per engine: per query, the median and the slowest of --runs runs after one
warm-up, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "dashboards"))

from dashboards_engines import ChdbEngine, Server18  # noqa: E402
from dashboards_grafana import ALL, Context, all_panels, expand, load, variable_sql, variables  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
TENANT = "bench"
TIME_ZONE = "Europe/Rome"
DAY = 86400
START = int(NOW.timestamp()) - 365 * DAY
CHANNELS = "['VOICE','CHAT','EMAIL','SMS','SOCIAL','MESSAGING','VIDEO']"
# sorted, as an alert's reasons are
SIGNALS = ("['CSAT_DISSATISFIED','HIGH_EFFORT','LONG_ABANDON','NEGATIVE_SENTIMENT','NPS_DETRACTOR',"
           "'REPEAT_CONTACT','TRANSFER_BOUNCE']")
COMBOS = 50 * 7 * 2  # queues × channels × directions
ROWS_PER_MINUTE = 40
AGENT_ROWS_PER_MINUTE = 170
CHUNK_DAYS = 30
ROLLUP_CHUNK_DAYS = 5  # what one GROUP BY of hourly agent rows holds within the server's 4 GB


def combo_dims(combo: str, first: str) -> str:
    """queue (or reason), channel and direction of combination number `combo`."""
    return (f"concat('{first}', toString({combo} % 50)), arrayElement({CHANNELS}, intDiv({combo}, 50) % 7 + 1), "
            f"if(intDiv({combo}, 350) = 1, 'OUTBOUND', 'INBOUND')")


# Components of one minute row from a 64-bit hash h: plausible ratios (SL ~80 %, abandonment ~14 %,
# NPS responses on a quarter of the rows, …), all consistent (answered ≤ offered, …).
QUEUE_COMPONENTS = """
    1 + h % 2 AS offered,
    if(bitShiftRight(h, 8) % 7 = 0, 1, 0) AS abandoned,
    abandoned * (bitShiftRight(h, 20) % 2) AS abandoned_short,
    abandoned * (2000 + bitShiftRight(h, 21) % 90000) AS wait_abandoned_ms,
    offered - abandoned AS answered,
    answered * (bitShiftRight(h, 12) % 5 != 0) AS answered_in_sl,
    answered * (bitShiftRight(h, 16) % 40000) AS wait_answered_ms,
    answered AS handled,
    handled * (120000 + bitShiftRight(h, 24) % 300000) AS talk_ms,
    handled * (bitShiftRight(h, 28) % 20000) AS hold_ms,
    handled * (bitShiftRight(h, 29) % 2) AS holds,
    handled * 30000 AS acw_ms,
    handled AS acw_count,
    handled * (bitShiftRight(h, 30) % 3 != 0) AS resolved,
    handled * (bitShiftRight(h, 32) % 2) AS fcr_eligible,
    fcr_eligible * (bitShiftRight(h, 33) % 4 != 0) AS fcr_success,
    bitShiftRight(h, 34) % 4 = 0 AS nps_responses,
    nps_responses * (bitShiftRight(h, 36) % 2) AS nps_promoters,
    nps_responses * (1 - nps_promoters) * (bitShiftRight(h, 37) % 2) AS nps_detractors,
    bitShiftRight(h, 38) % 4 = 0 AS csat_responses,
    csat_responses * (bitShiftRight(h, 39) % 5 != 0) AS csat_satisfied,
    bitShiftRight(h, 40) % 6 = 0 AS ces_responses,
    ces_responses * (1 + bitShiftRight(h, 41) % 7) AS ces_score_sum,
    (direction = 'INBOUND') * (bitShiftRight(h, 44) % 10 = 0) AS repeats,
    resolved * (bitShiftRight(h, 45) % 2) AS cases_resolved,
    cases_resolved * (bitShiftRight(h, 46) % 86400000) AS case_resolution_ms,
    cases_resolved * (1 + bitShiftRight(h, 47) % 3) AS case_contacts"""
QUEUE_EXTRA = """,
    bitShiftRight(h, 48) % 5 = 0 AS sentiment_count,
    sentiment_count * (toInt64(bitShiftRight(h, 49) % 2000) - 1000) AS sentiment_milli_sum,
    handled * (bitShiftRight(h, 50) % 9 = 0) AS conversions,
    (direction = 'OUTBOUND') * offered * (bitShiftRight(h, 51) % 2) AS accounts_attempted,
    (channel IN ('VOICE', 'VIDEO')) * handled AS mos_count,
    mos_count * (3000 + bitShiftRight(h, 52) % 2000) AS mos_milli_sum,
    mos_count * (bitShiftRight(h, 53) % 10 = 0) AS mos_poor"""
REASON_COMPONENT_NAMES = ["offered", "handled", "resolved", "repeats", "fcr_eligible", "fcr_success",
                          "cases_resolved", "case_resolution_ms", "nps_responses", "nps_promoters",
                          "nps_detractors", "csat_responses", "csat_satisfied", "ces_responses", "ces_score_sum"]


def names(select: str) -> list[str]:
    return [line.rsplit(" AS ", 1)[1].strip().rstrip(",") for line in select.strip().splitlines()]


def minute_rows(table: str, first: str, start: int, minutes: int) -> str:
    """INSERT of `minutes` minutes of 40-rows-a-minute minute rows from `start`, reasons or queues."""
    n = minutes * ROWS_PER_MINUTE
    extra = QUEUE_EXTRA if table == "queue_metrics_1m" else ""
    components = QUEUE_COMPONENTS + extra
    dim = "queue_id" if first == "q" else "reason"
    keep = names(components) if table == "queue_metrics_1m" else REASON_COMPONENT_NAMES
    # within a minute the 40 combinations are distinct (k · 17 mod 700, 17 prime to 700)
    return f"""INSERT INTO ccx.{table} (tenant_id, window_start, {dim}, channel, direction, {', '.join(keep)}, version)
SELECT tenant_id, window_start, {dim}, channel, direction, {', '.join(keep)}, 1
FROM
(
    SELECT
        '{TENANT}' AS tenant_id,
        toDateTime({start} + intDiv(number, {ROWS_PER_MINUTE}) * 60, 'UTC') AS window_start,
        (intDiv(number, {ROWS_PER_MINUTE}) * 37 + (number % {ROWS_PER_MINUTE}) * 17) % {COMBOS} AS combo,
        intHash64(number + {start}) AS h,
        concat('{first}', toString(combo % 50)) AS {dim},
        arrayElement({CHANNELS}, intDiv(combo, 50) % 7 + 1) AS channel,
        if(intDiv(combo, 350) = 1, 'OUTBOUND', 'INBOUND') AS direction,{components}
    FROM numbers({n})
)"""


def agent_rows(start: int, days: int) -> str:
    n = days * 1440 * AGENT_ROWS_PER_MINUTE
    return f"""INSERT INTO ccx.agent_metrics_1m (tenant_id, window_start, agent_id, channel, handled, talk_ms, hold_ms,
    holds, acw_ms, acw_count, fcr_eligible, fcr_success, nps_responses, nps_promoters, csat_responses, csat_satisfied,
    version)
SELECT '{TENANT}', toDateTime({start} + intDiv(number, {AGENT_ROWS_PER_MINUTE}) * 60, 'UTC'),
    concat('a', toString(number % 1000)), arrayElement({CHANNELS}, number % 1000 % 7 + 1),
    1, 120000 + h % 300000, h % 20000, h % 2, 30000, 1, bitShiftRight(h, 10) % 2, bitShiftRight(h, 11) % 2,
    bitShiftRight(h, 12) % 4 = 0, bitShiftRight(h, 14) % 8 = 0, bitShiftRight(h, 15) % 4 = 0,
    bitShiftRight(h, 17) % 5 = 0, 1
FROM (SELECT number, intHash64(number + {start}) AS h FROM numbers({n}))"""


def rollup(engine, minute: str, grain: str, start: int, end: int, from_hours: bool = True) -> str:
    """INSERT of the hourly (`1h`) or daily (`1d`, Europe/Rome days) rows of a minute table's
    rows in [start, end), summed from what FINAL keeps of them: hours from the minutes, days
    from the hours (Rome's offsets are whole hours, so an hour is in one local day)."""
    source = minute if grain == "1h" or not from_hours else minute.replace("_1m", "_1h")
    target = minute.replace("_1m", "_" + grain)
    cols = [c for c, _ in engine_columns(engine, f"ccx.{target}")]
    key = {"queue_metrics_1m": ["queue_id", "channel", "direction"],
           "reason_metrics_1m": ["reason", "channel", "direction"],
           "agent_metrics_1m": ["agent_id", "channel"]}[minute]
    components = [c for c in cols if c not in ("tenant_id", "day", "window_start", "version", *key)]
    if grain == "1h":
        head, group = "toStartOfHour(window_start) AS w", "w"
        select_cols = ["tenant_id", "window_start", *key, *components, "version"]
        firsts = ["tenant_id", "w", *key]
    else:
        head = f"toDate(window_start, '{TIME_ZONE}') AS d, toStartOfDay(window_start, '{TIME_ZONE}') AS w"
        group = "d, w"
        select_cols = ["tenant_id", "day", "window_start", *key, *components, "version"]
        firsts = ["tenant_id", "d", "w", *key]
    sums = ", ".join(f"sum({c})" for c in components)
    return f"""INSERT INTO ccx.{target} ({', '.join(select_cols)})
SELECT {', '.join(firsts)}, {sums}, 1
FROM
(
    SELECT *, {head}
    FROM ccx.{source} FINAL
    WHERE window_start >= toDateTime({start}) AND window_start < toDateTime({end})
)
GROUP BY tenant_id, {group}, {', '.join(key)}"""


def engine_columns(engine, table: str) -> list[tuple[str, str]]:
    return [(r["name"], r["type"]) for r in engine.query(f"DESCRIBE TABLE {table}")]


def churn(start: int, days: int) -> list[str]:
    n = days * 300
    first = (start - START) // DAY * 300  # alert numbers go on from the previous chunk's
    alerts = f"""INSERT INTO ccx.churn_alerts
SELECT '{TENANT}', concat('{TENANT}:', customer_id, ':e', toString(g)), customer_id,
    60 + h % 41, arrayFilter((s, i) -> bitAnd(bitShiftRight(h, 8 + i), 1) = 1 OR i = 4,
        {SIGNALS}, [0, 1, 2, 3, 4, 5, 6]),
    toDateTime(t, 'UTC'), t * 1000, concat('k', toString(g)), arrayElement({CHANNELS}, h % 7 + 1),
    concat('q', toString(bitShiftRight(h, 20) % 50)), concat('a', toString(bitShiftRight(h, 30) % 1000)), 1
FROM (SELECT g, intHash64(g + 7) AS h, concat('x', toString(h % 40000)) AS customer_id,
             {start} + intDiv((g - {first}) * 86400, 300) AS t
      FROM (SELECT number + {first} AS g FROM numbers({n})))"""
    events = f"""INSERT INTO ccx.alert_events
SELECT '{TENANT}', alert_id, 'CHURN', status, toDateTime(intDiv(at_ms, 1000), 'UTC'), at_ms, 'bench', '', at_ms
FROM
(
    SELECT alert_id, triggered_at_ms, cityHash64(alert_id) AS h,
        arrayJoin(arrayFilter(x -> x.1 != '', [('OPEN', triggered_at_ms + 1000),
            (if(h % 10 < 6, 'ACKNOWLEDGED', ''), triggered_at_ms + 3600000),
            (if(h % 10 < 4, 'RESOLVED', ''), triggered_at_ms + 86400000)])) AS tr,
        tr.1 AS status, tr.2 AS at_ms
    FROM ccx.churn_alerts
    WHERE tenant_id = '{TENANT}' AND triggered_at >= toDateTime({start}) AND triggered_at < toDateTime({start + days * DAY})
)"""
    return [alerts, events]


def contact_events(start: int, days: int) -> str:
    """6 events for each of 14,000 contacts a day, of 40,000 customers."""
    n = days * 14000 * 6
    first = (start - START) // DAY * 14000 * 6  # event and contact numbers go on from the previous chunk's
    return f"""INSERT INTO ccx.events
SELECT '{TENANT}', concat('ev', toString(g)), arrayElement(['CONTACT_OFFERED', 'CONTACT_ANSWERED', 'HOLD_STARTED',
        'HOLD_ENDED', 'CONTACT_ENDED', 'WRAPUP_ENDED'], g % 6 + 1),
    toDateTime(t, 'UTC'), t * 1000, concat('k', toString(contact)),
    if(g % 6 = 0, concat('x', toString(intHash64(contact) % 40000)), ''),
    arrayElement({CHANNELS}, contact % 7 + 1), 'INBOUND', concat('q', toString(contact % 50)),
    if(g % 6 = 0, '', concat('a', toString(contact % 1000))), '{{}}', 1
FROM (SELECT g, intDiv(g, 6) AS contact,
             {start} + intDiv((contact - intDiv({first}, 6)) * 86400, 14000) + (g % 6) * 60 AS t
      FROM (SELECT number + {first} AS g FROM numbers({n})))"""


def local_chunks(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) cut at Europe/Rome midnights ROLLUP_CHUNK_DAYS apart, so that no local day
    (nor hour) is split between two rollup INSERTs."""
    zone = ZoneInfo(TIME_ZONE)
    day = datetime.fromtimestamp(start, zone).date()
    cuts = [start]
    while True:
        day += timedelta(days=ROLLUP_CHUNK_DAYS)
        cut = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp())
        if cut >= end:
            break
        cuts.append(cut)
    return list(zip(cuts, cuts[1:] + [end]))


def generate(engine, minute_days: int, event_days: int, agent_days: int, keep_minute_days: int | None,
             hourly: bool = True) -> None:
    """Writes the year, a few local days at a time: minute rows, then their hours and days.
    With keep_minute_days, the minute tables' months older than that are dropped as the year is
    written (retention), so the disk holds the rollups of the year and only recent minutes."""
    end = int(NOW.timestamp())
    dropped: set[str] = set()
    for a, b in local_chunks(end - minute_days * DAY, end):
        for table, first in (("queue_metrics_1m", "q"), ("reason_metrics_1m", "r")):
            engine.execute(minute_rows(table, first, a, (b - a) // 60))
            for grain in ("1h", "1d") if hourly else ("1d",):
                engine.execute(rollup(engine, table, grain, a, b, from_hours=hourly))
        if keep_minute_days is not None:
            cutoff = datetime.fromtimestamp(b - keep_minute_days * DAY, timezone.utc)
            month = datetime.fromtimestamp(end - minute_days * DAY, timezone.utc).replace(day=1)
            while (month.replace(year=month.year + 1, month=1) if month.month == 12
                   else month.replace(month=month.month + 1)) <= cutoff:
                partition = month.strftime("%Y%m")
                if partition not in dropped:
                    for table in ("queue_metrics_1m", "reason_metrics_1m"):
                        engine.execute(f"ALTER TABLE ccx.{table} DROP PARTITION {partition}")
                    dropped.add(partition)
                month = month.replace(year=month.year + 1, month=1) if month.month == 12 \
                    else month.replace(month=month.month + 1)
    for s in range(end - agent_days * DAY, end, 10 * DAY):
        engine.execute(agent_rows(s, min(10, (end - s) // DAY)))
    for a, b in local_chunks(end - agent_days * DAY, end):
        for grain in ("1h", "1d") if hourly else ("1d",):
            engine.execute(rollup(engine, "agent_metrics_1m", grain, a, b, from_hours=hourly))
    for s in range(START, end, CHUNK_DAYS * DAY):
        for statement in churn(s, min(CHUNK_DAYS, (end - s) // DAY)):
            engine.execute(statement)
    for s in range(end - event_days * DAY, end, 10 * DAY):
        engine.execute(contact_events(s, min(10, (end - s) // DAY)))


# ------------------------------------------------------------------------------------ queries

def context(engine, dashboard: dict, time_from: str, **values) -> Context:
    """Grafana's state: tenant `bench`, every multi-value variable at All, each variable's
    options from its query (custom ones from their list), single ones at their first option."""
    ctx = Context(now=NOW, values={"tenant": TENANT}, options={})
    d = {**dashboard, "time": {"from": time_from, "to": "now"}}
    for v in variables(d):
        name = v["name"]
        if v["type"] == "custom":
            ctx.options[name] = [o["value"] for o in v["options"]]
        else:
            frm, to = ctx.time_range(d)
            rows = engine.query(expand(variable_sql(v), ctx, frm, to))
            ctx.options[name] = [str(next(iter(r.values()))) for r in rows]
        if name in values:
            ctx.values[name] = values[name]
        elif name not in ctx.values:
            if v.get("includeAll"):
                ctx.values[name] = ALL
            elif v["type"] == "custom":
                ctx.values[name] = v["current"]["value"]
            else:
                ctx.values[name] = ctx.options[name][0] if ctx.options[name] else ""
    return ctx


def settle(engine) -> None:
    """Waits for the background merges of the generated parts: a year of data is merged."""
    deadline = time.monotonic() + 1800
    while engine.query_one("SELECT count() AS n FROM system.merges")["n"] and time.monotonic() < deadline:
        time.sleep(2)


def timed(engine, sql: str, runs: int) -> tuple[float, float, int]:
    rows = engine.query(sql)  # warm-up (and the row count)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.query(sql)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times), len(rows)


def measure(engine, runs: int) -> list[tuple[str, str, float, float, int]]:
    out = []
    cases = [("ccx-cx-trends", "now-1y", {"grain": "week"}), ("ccx-cx-trends", "now-1y", {"grain": "month"}),
             ("ccx-cx-trends", "now-1y", {"grain": "day"}), ("ccx-churn", "now-30d", {}), ("ccx-churn", "now-1y", {})]
    for uid, time_from, values in cases:
        d = load(REPO / "dashboards" / f"{uid}.json")
        d["time"] = {"from": time_from, "to": "now"}
        ctx = context(engine, d, time_from, **values)
        if uid == "ccx-churn":
            # the drill-down as a viewer reaches it: the top customer at risk
            (top,) = [p for p in all_panels(d) if p["title"] == "Top customers at risk"]
            frm, to = ctx.time_range(d, top)
            first = engine.query(expand(top["targets"][0]["rawSql"], ctx, frm, to))
            ctx.values["customer"] = first[0]["customer"]
        label = f"{uid} {time_from}" + "".join(f" {k}={v}" for k, v in values.items())
        frm, to = ctx.time_range(d)
        for v in variables(d):
            if v["type"] == "query":
                med, slowest, n = timed(engine, expand(variable_sql(v), ctx, frm, to), runs)
                out.append((label, f"variable {v['name']}", med, slowest, n))
        for p in all_panels(d):
            for t in p.get("targets", []):
                pf, pt = ctx.time_range(d, p)
                med, slowest, n = timed(engine, expand(t["rawSql"], ctx, pf, pt), runs)
                out.append((label, p["title"], med, slowest, n))
    return out


def report(name: str, rows) -> None:
    print(f"\n### {name}\n")
    print("| dashboard, range | query | median ms | slowest ms | rows |")
    print("|---|---|---:|---:|---:|")
    for label, what, med, slowest, n in rows:
        print(f"| {label} | {what} | {med:.0f} | {slowest:.0f} | {n} |")
    worst = max(rows, key=lambda r: r[3])
    print(f"\nload average after: {os.getloadavg()}")
    print(f"{len(rows)} queries; slowest: {worst[1]} ({worst[0]}) {worst[3]:.0f} ms; "
          f"over 1 s: {sum(1 for r in rows if r[3] > 1000)}")


def counts(engine) -> str:
    tables = ["queue_metrics_1m", "reason_metrics_1m", "agent_metrics_1m", "queue_metrics_1h", "reason_metrics_1h",
              "agent_metrics_1h", "queue_metrics_1d", "reason_metrics_1d", "agent_metrics_1d", "churn_alerts",
              "alert_events", "events"]
    return ", ".join(f"{t} {engine.query_one(f'SELECT count() AS n FROM ccx.{t}')['n']:,}" for t in tables)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minute-days", type=int, default=365, help="days of queue and reason minute rows")
    ap.add_argument("--event-days", type=int, default=30, help="days of contact events")
    ap.add_argument("--agent-days", type=int, default=30, help="days of agent minute rows")
    ap.add_argument("--no-hourly", action="store_true",
                    help="no hourly rollups (the days summed straight from the minutes): less disk")
    ap.add_argument("--keep-minute-days", type=int, default=None,
                    help="drop the queue and reason minute rows' months older than this as the year is written")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--engines", default="18.16,chdb")
    args = ap.parse_args()
    engines = args.engines.split(",")
    server = Server18()
    current = None
    try:
        server.start()
        server.migrate()
        print(f"ClickHouse {server.version}, {os.cpu_count()} CPUs")
        if "18.16" in engines:
            t = time.perf_counter()
            generate(server, args.minute_days, args.event_days, args.agent_days, args.keep_minute_days,
                     hourly=not args.no_hourly)
            settle(server)
            print(f"generated in {time.perf_counter() - t:.0f} s: {counts(server)}")
            print(f"load average before measuring: {os.getloadavg()}")
            report(f"ClickHouse {server.version}", measure(server, args.runs))
        if "chdb" in engines:
            current = ChdbEngine()
            current.execute("CREATE DATABASE IF NOT EXISTS ccx")
            for statement in server.ddl("ccx"):
                current.execute(statement)
            # parts replaced by merges and dropped months leave the disk at once, not 8 minutes later
            for row in current.query("SELECT name FROM system.tables WHERE database = 'ccx' AND engine LIKE '%MergeTree'"):
                current.execute(f"ALTER TABLE ccx.{row['name']} MODIFY SETTING old_parts_lifetime = 1")
            t = time.perf_counter()
            generate(current, args.minute_days, args.event_days, args.agent_days, args.keep_minute_days,
                     hourly=not args.no_hourly)
            settle(current)
            print(f"\nchdb {current.version}: generated in {time.perf_counter() - t:.0f} s: {counts(current)}")
            print(f"load average before measuring: {os.getloadavg()}")
            report(f"chdb-core {current.version}", measure(current, args.runs))
    finally:
        server.stop()
        if current is not None:
            current.close()


if __name__ == "__main__":
    main()

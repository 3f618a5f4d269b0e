"""The CX trends on the daily rollups (dashboards/ccx-cx-trends.json): periods of the tenant's
time zone at each grain, this period against the previous one, and KPI formulas equal to the
KPI views'. Expected values are computed here from the seeded *minute* rows (what FINAL keeps),
grouped by the tenant-local date of each minute, independently of the SQL under test."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboards_run import DASHBOARDS, assert_rows, context, panel_sql, run
from dashboards_seed import BATCHES, NOW, TENANT, TIME_ZONES, TOKYO_TENANT

X = "ccx-cx-trends"
KEY = ("tenant_id", "window_start", "queue_id", "channel", "direction")


def minute_rows(tenant: str) -> list[dict]:
    """The tenant's queue_metrics_1m rows as FINAL reads them (highest version per key)."""
    newest: dict[tuple, dict] = {}
    for table, rows in BATCHES:
        for r in rows if table == "queue_metrics_1m" else []:
            k = tuple(r[c] for c in KEY)
            if r["tenant_id"] == tenant and (k not in newest or r["version"] > newest[k]["version"]):
                newest[k] = r
    return list(newest.values())


def local_date(tenant: str, unix: int) -> date:
    return datetime.fromtimestamp(unix, ZoneInfo(TIME_ZONES[tenant])).date()


def period_of(d: date, grain: str) -> date:
    return {"day": d, "week": d - timedelta(days=d.weekday()), "month": d.replace(day=1)}[grain]


def in_range(tenant: str, day: date) -> bool:
    """A local day is in the dashboard's year when its local midnight is."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(TIME_ZONES[tenant]))
    return NOW.replace(year=NOW.year - 1) <= midnight <= NOW


def sums(rows: list[dict]) -> defaultdict:
    out: defaultdict = defaultdict(int)
    for r in rows:
        for c, v in r.items():
            if isinstance(v, int) and c not in KEY and c != "version":
                out[c] += v
    return out


def ratio(num, den, scale=1.0):
    return scale * num / den if den > 0 else None


# SPEC §3 / §7.2, from summed components s
KPIS = {
    "NPS": lambda s: ratio(s["nps_promoters"] - s["nps_detractors"], s["nps_responses"], 100),
    "CSAT %": lambda s: ratio(s["csat_satisfied"], s["csat_responses"], 100),
    "CES": lambda s: ratio(s["ces_score_sum"], s["ces_responses"]),
    "FCR %": lambda s: ratio(s["fcr_success"], s["fcr_eligible"], 100),
    "ART": lambda s: ratio(s["case_resolution_ms"] / 1000, s["cases_resolved"]),
    "Service level %": lambda s: ratio(s["answered_in_sl"], s["answered"] + s["abandoned"] - s["abandoned_short"], 100),
    "ASA": lambda s: ratio(s["wait_answered_ms"] / 1000, s["answered"]),
    "AHT": lambda s: ratio((s["talk_ms"] + s["hold_ms"] + s["acw_ms"]) / 1000, s["handled"]),
    "Abandonment %": lambda s: ratio(s["abandoned"] - s["abandoned_short"], max(s["offered"] - s["abandoned_short"], 0),
                                     100),
}


def by_period(tenant: str, grain: str, keep=lambda r: True) -> dict[date, defaultdict]:
    groups: dict[date, list] = defaultdict(list)
    for r in minute_rows(tenant):
        day = local_date(tenant, r["window_start"])
        if in_range(tenant, day) and keep(r):
            groups[period_of(day, grain)].append(r)
    return {p: sums(rows) for p, rows in sorted(groups.items())}


def time(p: date) -> str:
    return f"{p.isoformat()} 00:00:00"


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_periods_are_the_tenants_local_days_weeks_and_months(engine, grain):
    periods = by_period(TOKYO_TENANT, grain)
    expected = []
    for p, s in periods.items():
        passives = s["nps_responses"] - s["nps_promoters"] - s["nps_detractors"]
        expected.append({"time": time(p), "NPS": KPIS["NPS"](s),
                         "Promoters %": ratio(s["nps_promoters"], s["nps_responses"], 100),
                         "Passives %": ratio(passives, s["nps_responses"], 100),
                         "Detractors %": ratio(s["nps_detractors"], s["nps_responses"], 100)})
    got = run(engine, X, "NPS and promoter, passive and detractor shares by period", tenant=TOKYO_TENANT, grain=grain)
    assert_rows(got, expected, f"NPS shares by {grain}")
    # Tokyo's periods are not UTC's: 2025-12-31 16:00 UTC is January there, 2026-01-04 20:00 UTC
    # (a UTC Sunday) is Monday there, and 2026-01-15 16:00 UTC is a local day that starts after NOW.
    assert [r["time"][:10] for r in got] == {
        "day": ["2025-12-31", "2026-01-01", "2026-01-04", "2026-01-05", "2026-01-08", "2026-01-15"],
        "week": ["2025-12-29", "2026-01-05", "2026-01-12"],
        "month": ["2025-12-01", "2026-01-01"]}[grain]

    expected = [{"time": time(p), "Service level %": KPIS["Service level %"](s),
                 "Abandonment %": KPIS["Abandonment %"](s)} for p, s in periods.items()]
    assert_rows(run(engine, X, "Service level and abandonment % by period", tenant=TOKYO_TENANT, grain=grain),
                expected, f"SL by {grain}")
    expected = [{"time": time(p), "ASA": KPIS["ASA"](s), "AHT": KPIS["AHT"](s)} for p, s in periods.items()]
    assert_rows(run(engine, X, "ASA and AHT by period", tenant=TOKYO_TENANT, grain=grain), expected, f"ASA by {grain}")
    expected = [{"time": time(p), "FCR %": KPIS["FCR %"](s), "Repeat rate %": ratio(s["repeats"], s["offered"], 100)}
                for p, s in periods.items()]
    assert_rows(run(engine, X, "FCR % and repeat rate % by period", tenant=TOKYO_TENANT, grain=grain), expected,
                f"FCR by {grain}")
    expected = [{"time": time(p), "ART": KPIS["ART"](s)} for p, s in periods.items()]
    assert_rows(run(engine, X, "ART by period", tenant=TOKYO_TENANT, grain=grain), expected, f"ART by {grain}")


def test_trends_with_a_narrow_selection(engine):
    # queue q1/q3, channel VOICE/EMAIL, inbound: Tokyo's VOICE rows only
    keep = lambda r: r["queue_id"] in ("q1", "q3") and r["channel"] in ("VOICE", "EMAIL")  # noqa: E731
    periods = by_period(TOKYO_TENANT, "week", keep)
    assert periods != by_period(TOKYO_TENANT, "week")
    expected = [{"time": time(p), "ASA": KPIS["ASA"](s), "AHT": KPIS["AHT"](s)} for p, s in periods.items()]
    assert_rows(run(engine, X, "ASA and AHT by period", "narrow", tenant=TOKYO_TENANT, grain="week"), expected,
                "narrow ASA")


def comparison(tenant: str, grain: str, keep=lambda r: True) -> dict[str, dict]:
    """Each headline KPI over this period (the one holding the tenant's latest local day with data
    up to NOW) and over the whole previous one."""
    days = [local_date(tenant, r["window_start"]) for r in minute_rows(tenant)]
    today = max(d for d in days if in_range(tenant, d))
    this = period_of(today, grain)
    previous = period_of(this - timedelta(days=1), grain)
    rows = [(local_date(tenant, r["window_start"]), r) for r in minute_rows(tenant) if keep(r)]
    now_sums = sums([r for d, r in rows if this <= d <= today])
    before = sums([r for d, r in rows if previous <= d < this])
    return {k: {"This period": f(now_sums), "Previous period": f(before)} for k, f in KPIS.items()}


@pytest.mark.parametrize("tenant,grain", [(TOKYO_TENANT, "day"), (TOKYO_TENANT, "week"), (TOKYO_TENANT, "month"),
                                          (TENANT, "day"), (TENANT, "week")])
def test_this_period_against_the_previous_one(engine, tenant, grain):
    expected = comparison(tenant, grain)
    for kpi, values in expected.items():
        assert_rows(run(engine, X, f"{kpi} vs previous period", tenant=tenant, grain=grain), [values],
                    f"{kpi} {tenant} {grain}")
    if (tenant, grain) == (TOKYO_TENANT, "week"):
        # both periods have data: the comparison is not NULL against NULL
        assert all(v["This period"] is not None and v["Previous period"] is not None
                   for k, v in expected.items() if k not in ("CES", "ART", "CSAT %"))


def test_this_period_against_the_previous_one_narrow(engine):
    keep = lambda r: r["queue_id"] in ("q1", "q3") and r["channel"] in ("VOICE", "EMAIL")  # noqa: E731
    expected = comparison(TOKYO_TENANT, "month", keep)
    assert expected != comparison(TOKYO_TENANT, "month")
    for kpi, values in expected.items():
        assert_rows(run(engine, X, f"{kpi} vs previous period", "narrow", tenant=TOKYO_TENANT, grain="month"),
                    [values], f"{kpi} narrow")


VIEW_COLUMNS = {"NPS": ("nps", 1), "CSAT %": ("csat_pct", 1), "CES": ("ces", 1), "FCR %": ("fcr_pct", 1),
                "ART": ("art_ms", 1000), "Service level %": ("service_level_pct", 1), "ASA": ("asa_ms", 1000),
                "AHT": ("aht_ms", 1000), "Abandonment %": ("abandonment_pct", 1)}


def test_headline_kpis_are_the_kpi_views_formulas(engine):
    """Over one rollup row (one key, one day), each headline KPI is what queue_kpis_1d (the
    minute KPI views' definition over the daily rows, from `ccx migrate`) says."""
    ctx = context(DASHBOARDS[X], "all", engine)
    checked = 0
    for tenant, queue, channel in ((TOKYO_TENANT, "q1", "VOICE"), (TENANT, "q1", "VOICE"), (TENANT, "q2", "CHAT")):
        ctx.values.update({"tenant": tenant, "grain": "day", "queue": [queue], "channel": [channel],
                           "direction": ["INBOUND"]})
        (view,) = engine.query(
            f"SELECT * FROM ccx.queue_kpis_1d WHERE tenant_id = '{tenant}' AND queue_id = '{queue}' "
            f"AND channel = '{channel}' AND direction = 'INBOUND' AND window_start <= toDateTime({int(NOW.timestamp())}) "
            "ORDER BY window_start DESC LIMIT 1")
        for kpi, (column, per) in VIEW_COLUMNS.items():
            (got,) = engine.query(panel_sql(X, f"{kpi} vs previous period", ctx))
            want = None if view[column] is None else view[column] / per
            assert_rows([{"v": got["This period"]}], [{"v": want}], f"{kpi} = queue_kpis_1d.{column} ({tenant})")
            checked += want is not None
    assert checked >= 15

"""Static checks of dashboards/*.json: what Grafana needs to load them, and the SQL rules of
SPEC §3/§5 that can be read off the text (the SQL itself runs in test_dashboards_sql.py)."""

from __future__ import annotations

import json
import re

import pytest

from dashboards_grafana import (
    CHART_DASHBOARDS_DIR,
    DASHBOARDS_DIR,
    DATASOURCE,
    all_panels,
    dashboard_files,
    referenced_variables,
    variable_sql,
    variables,
)

EXPECTED = {
    # file: (uid, refresh choices, time.from)
    "ccx-wallboard.json": ("ccx-wallboard", {"1s", "5s"}, "now-1h"),
    "ccx-cx-trends.json": ("ccx-cx-trends", {"5m"}, "now-1y"),
    "ccx-agents.json": ("ccx-agents", {"1m"}, "now-24h"),
    "ccx-churn.json": ("ccx-churn", {"1m"}, "now-30d"),
}
TABLES = {"backfills", "queue_metrics_1m", "agent_metrics_1m", "reason_metrics_1m", "agent_state_1m", "churn_alerts",
          "queue_now", "agent_now", "ingest_quality_1m", "events", "alert_events",
          "queue_metrics_1d", "agent_metrics_1d", "reason_metrics_1d"}
PANEL_TYPES = {"stat", "table", "timeseries", "bargauge", "barchart", "gauge", "piechart"}
FILES = [p.name for p in dashboard_files()]


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"duplicate JSON keys {sorted(dupes)}")
    return dict(pairs)


def parse(name: str) -> dict:
    return json.loads((DASHBOARDS_DIR / name).read_text(encoding="utf-8"), object_pairs_hook=no_duplicate_keys)


def sqls(d: dict) -> list[tuple[str, str]]:
    """(where, sql) of every panel target and every query variable."""
    out = []
    for p in all_panels(d):
        for t in p.get("targets", []):
            out.append((f"panel {p.get('id')} {p.get('title')!r} target {t.get('refId')}", t.get("rawSql", "")))
    for v in variables(d):
        if v.get("type") == "query":
            out.append((f"variable {v['name']}", variable_sql(v)))
    return out


def test_the_dashboards_exist():
    assert sorted(FILES) == sorted(EXPECTED), f"dashboards/ holds {FILES}"


def test_uids_and_titles_are_unique():
    ds = [parse(n) for n in FILES]
    assert len({d["uid"] for d in ds}) == len(ds)
    assert len({d["title"] for d in ds}) == len(ds)


def test_the_helm_chart_copy_is_identical():
    """helm/ccx/dashboards is what the chart packages: `scripts/test-helm --sync-dashboards`."""
    for name in FILES:
        copy = CHART_DASHBOARDS_DIR / name
        assert copy.is_file(), f"{copy} missing: run scripts/test-helm --sync-dashboards"
        assert copy.read_bytes() == (DASHBOARDS_DIR / name).read_bytes(), f"{copy} differs from dashboards/{name}"
    extra = {p.name for p in CHART_DASHBOARDS_DIR.glob("*.json")} - set(FILES)
    assert not extra, f"helm/ccx/dashboards has dashboards that dashboards/ lacks: {sorted(extra)}"


@pytest.mark.parametrize("name", FILES)
def test_dashboard_model(name):
    d = parse(name)
    uid, refreshes, time_from = EXPECTED[name]
    assert isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36
    assert d.get("uid") == uid and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", d["uid"])
    assert isinstance(d.get("title"), str) and d["title"].strip()
    assert d.get("refresh") in refreshes
    assert d["refresh"] in d.get("timepicker", {}).get("refresh_intervals", []), "refresh not offered in the picker"
    assert d.get("time") == {"from": time_from, "to": "now"}
    assert "id" not in d or d["id"] is None, "a provisioned dashboard carries no database id"


@pytest.mark.parametrize("name", FILES)
def test_panels_have_unique_ids_positions_and_the_clickhouse_datasource(name):
    d = parse(name)
    panels = list(all_panels(d))
    assert panels, "no panels"
    ids = [p.get("id") for p in panels]
    assert all(isinstance(i, int) for i in ids), ids
    assert len(set(ids)) == len(ids), f"duplicate panel ids {ids}"
    titles = [p.get("title") for p in panels]
    assert len(set(titles)) == len(titles), f"duplicate panel titles {titles}"
    boxes = []
    for p in panels:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        g = p.get("gridPos")
        assert isinstance(g, dict) and set(g) >= {"x", "y", "w", "h"}, f"{where}: gridPos {g}"
        assert all(isinstance(g[k], int) for k in "xywh"), f"{where}: gridPos {g}"
        assert g["x"] >= 0 and g["y"] >= 0 and g["w"] >= 1 and g["h"] >= 1 and g["x"] + g["w"] <= 24, where
        boxes.append((where, g))
        if p.get("type") == "row":
            # a section header: full width, one unit high, open, its panels follow it at top level
            assert g == {"x": 0, "y": g["y"], "w": 24, "h": 1}, f"{where}: gridPos {g}"
            assert p.get("collapsed") is False and p.get("panels") == [], f"{where}: a row is open and holds no panels"
            assert "targets" not in p and isinstance(p.get("title"), str) and p["title"].strip(), where
            continue
        assert p.get("type") in PANEL_TYPES, f"{where}: type {p.get('type')}"
        assert p.get("datasource") == DATASOURCE, f"{where}: datasource {p.get('datasource')}"
        targets = p.get("targets") or []
        assert targets, f"{where}: no targets"
        refs = [t.get("refId") for t in targets]
        assert len(set(refs)) == len(refs), f"{where}: duplicate refIds"
        for t in targets:
            assert t.get("datasource") == DATASOURCE, f"{where}: target datasource {t.get('datasource')}"
            assert isinstance(t.get("rawSql"), str) and t["rawSql"].strip(), f"{where}: no rawSql"
            assert t.get("editorType") == "sql", f"{where}: editorType"
            # grafana-clickhouse-datasource: format 0 = time series, 1 = table
            expected_format = 0 if p["type"] == "timeseries" else 1
            assert t.get("format") == expected_format, f"{where}: format {t.get('format')}"
            assert t.get("queryType") == ("timeseries" if expected_format == 0 else "table"), where
        if p.get("repeat"):
            # Grafana clones the panel once per value of a multi-value variable, each clone
            # with that one value: the SQL must not treat the variable as All.
            var = {v["name"]: v for v in variables(d)}.get(p["repeat"])
            assert var and (var.get("multi") or var.get("includeAll")), f"{where}: repeat over {p['repeat']}"
            assert p.get("repeatDirection") in ("h", "v") and "${%s}" % p["repeat"] in p["title"], where
            for t in targets:
                assert not re.search(r"\$__conditionalAll\(.*,\s*\$\{?%s\}?\)" % p["repeat"], t["rawSql"]), where
        if p.get("timeFrom"):
            assert re.fullmatch(r"\d+[smhd]", p["timeFrom"]), f"{where}: timeFrom {p['timeFrom']}"
    for i, (wa, a) in enumerate(boxes):
        for wb, b in boxes[i + 1:]:
            overlap = (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and
                       a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
            assert not overlap, f"{wa} and {wb} overlap"


@pytest.mark.parametrize("name", FILES)
def test_template_variables(name):
    d = parse(name)
    vs = variables(d)
    names = [v.get("name") for v in vs]
    assert len(set(names)) == len(names), names
    assert names[0] == "tenant", "the tenant variable comes first (the others depend on it)"
    tenant = vs[0]
    assert tenant["type"] == "query" and tenant.get("datasource") == DATASOURCE
    assert not tenant.get("multi") and not tenant.get("includeAll"), "one tenant at a time"
    # the daily rollup lists the same tenants as the minute table from far fewer rows
    assert re.match(r"SELECT DISTINCT tenant_id FROM ccx\.queue_metrics_1[md]\b", variable_sql(tenant))
    for i, v in enumerate(vs):
        if v.get("type") == "custom":
            # a fixed choice: its options are its query's `text : value` pairs, its default one of them
            pairs = [tuple(x.strip() for x in o.split(" : ")) for o in v["query"].split(",")]
            assert [{"text": t, "value": val} for t, val in pairs] == \
                [{"text": o["text"], "value": o["value"]} for o in v["options"]], f"variable {v['name']}: options"
            assert all(re.fullmatch(r"[A-Z_a-z]+", val) for _, val in pairs), f"variable {v['name']}: values"
            if not v.get("multi"):
                assert v["current"]["value"] in [val for _, val in pairs], f"variable {v['name']}: default"
            continue
        assert v.get("type") == "query", f"variable {v.get('name')}: type {v.get('type')}"
        assert v.get("datasource") == DATASOURCE, f"variable {v['name']}: datasource"
        assert variable_sql(v).strip(), f"variable {v['name']}: no query"
        # a variable's query may only use variables defined before it
        used = referenced_variables(variable_sql(v))
        assert used <= set(names[:i]), f"variable {v['name']} uses {sorted(used - set(names[:i]))}"


@pytest.mark.parametrize("name", FILES)
def test_every_variable_used_is_defined_and_quoted_the_way_its_kind_needs(name):
    d = parse(name)
    by_name = {v["name"]: v for v in variables(d)}
    used_anywhere = set()
    for where, sql in sqls(d):
        used = referenced_variables(sql)
        used_anywhere |= used
        assert used <= set(by_name), f"{where}: undefined variables {sorted(used - set(by_name))}"
        for var in used:
            forms = re.findall(r"(.{0,8})(\$\{%s\}|\$%s\b|\[\[%s\]\])(.?)" % (var, var, var), sql)
            for before, _, after in forms:
                if by_name[var].get("multi") or by_name[var].get("includeAll"):
                    # multi-value: the plugin inserts 'a','b' — only valid inside IN (…),
                    # or as the variable argument of $__conditionalAll
                    assert before.endswith("IN (") and after == ")" or before.endswith(", ") and after == ")", \
                        f"{where}: multi-value ${var} used outside IN (…): {before}${var}{after}"
                else:
                    # single value: inserted as is — must sit in a string literal
                    assert before.endswith("'") and after == "'", f"{where}: ${var} not quoted: {before}${var}{after}"
    assert "tenant" in used_anywhere


@pytest.mark.parametrize("name", FILES)
def test_sql_reads_base_tables_with_final_and_guards_every_division(name):
    d = parse(name)
    for where, sql in sqls(d):
        # FROM/JOIN of a ccx relation: one of the SPEC §5 tables, always with FINAL (never the
        # per-minute KPI views: a KPI over a range is a ratio of summed components)
        refs = re.findall(r"\b(?:FROM|JOIN)\s+ccx\.(\w+)(\s+FINAL\b)?", sql, flags=re.I)
        for table, final in refs:
            assert table in TABLES, f"{where}: reads ccx.{table}"
            assert final, f"{where}: ccx.{table} without FINAL"
        from_anything = re.findall(r"\bFROM\s+([\w.]+)", sql, flags=re.I)
        assert all(f.startswith("ccx.") for f in from_anything), f"{where}: reads {from_anything}"
        assert refs, f"{where}: reads no ccx table"
        # never an average of per-minute values
        assert not re.search(r"\bavg\w*\s*\(", sql, flags=re.I), f"{where}: avg()"
        # every division is by a constant or by nullIf(…): a zero denominator gives NULL
        for m in re.finditer(r"/", sql):
            rest = sql[m.end():].lstrip()
            assert re.match(r"(\d+\b|nullIf\()", rest), f"{where}: unguarded division before {rest[:40]!r}"
        # the plugin's $__timeInterval writes toStartOfInterval, which ClickHouse 18.16 lacks
        assert "$__timeInterval" not in sql, f"{where}: $__timeInterval needs ClickHouse ≥ 19"


def sections(d: dict) -> dict[str, list[dict]]:
    """The panels under each row header (by position), keyed by the row's title."""
    panels = sorted(all_panels(d), key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    out: dict[str, list[dict]] = {}
    current = None
    for p in panels:
        if p["type"] == "row":
            current = out.setdefault(p["title"], [])
        elif current is not None:
            current.append(p)
    return out


def test_the_cx_trends_sections_read_what_their_titles_say():
    d = parse("ccx-cx-trends.json")
    # a year of trends: only the daily rollups, never the minute tables
    for where, sql in sqls(d):
        assert not re.search(r"\bccx\.\w+_1m\b", sql), f"{where}: reads a minute table"
    rows = sections(d)
    assert list(rows) == ["This period vs the previous one", "Over the range", "Trends by period",
                          "Why customers contact", "Outbound"]
    headline = rows["This period vs the previous one"]
    assert [p["title"] for p in headline] == [f"{k} vs previous period" for k in (
        "NPS", "CSAT %", "CES", "FCR %", "ART", "Service level %", "ASA", "AHT", "Abandonment %")]
    for p in headline:
        (t,) = p["targets"]
        assert "AS `This period`" in t["rawSql"] and "AS `Previous period`" in t["rawSql"], p["title"]
        assert "'${grain}'" in t["rawSql"], p["title"]
    for p in (p for p in rows["Trends by period"] if p["type"] == "timeseries"):
        for t in p["targets"]:
            assert "'${grain}' = 'week', toMonday(day)" in t["rawSql"], f"{p['title']}: not by the grain"
    why = rows["Why customers contact"]
    assert len(why) == 5
    for p in why + [p for p in rows["Trends by period"] if "reason" in p["title"]]:
        for t in p["targets"]:
            assert re.findall(r"\bFROM\s+ccx\.(\w+)", t["rawSql"]) == ["reason_metrics_1d"], p["title"]
            assert "queue_id" not in t["rawSql"], f"{p['title']}: reason rows have no queue"
            assert "IN (${reason})" in t["rawSql"], f"{p['title']}: the reason filter"
    outbound = rows["Outbound"]
    assert len(outbound) == 5
    for p in outbound:
        for t in p["targets"]:
            sql = t["rawSql"]
            assert "direction = 'OUTBOUND'" in sql or "accounts_attempted" in sql, p["title"]

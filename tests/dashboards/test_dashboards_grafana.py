"""The substitutions of dashboards_grafana.expand are those of Grafana and of
grafana-clickhouse-datasource (frontend: $__conditionalAll and the multi-value format; backend:
the time macros), on fixed inputs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dashboards_grafana import ALL, Context, expand, referenced_variables, relative

NOW = datetime(2026, 1, 15, 10, 30, 20, 750000, tzinfo=timezone.utc)  # 1768473020.75
FROM = datetime(2026, 1, 15, 9, 30, 20, 750000, tzinfo=timezone.utc)  # 1768469420.75


def ctx(**values):
    return Context(now=NOW, values=values, options={"queue": ["q1", "q2"]})


def test_time_macros_are_written_like_the_plugin_does():
    sql = "SELECT 1 FROM t WHERE $__timeFilter(window_start) AND x < $__toTime AND y > $__fromTime"
    assert expand(sql, ctx(), FROM, NOW) == (
        "SELECT 1 FROM t WHERE window_start >= toDateTime(1768469420) AND window_start <= toDateTime(1768473020)"
        " AND x < toDateTime(1768473020) AND y > toDateTime(1768469420)")
    assert expand("$__fromTime_ms $__interval_s", ctx(), FROM, NOW) == "fromUnixTimestamp64Milli(1768469420750) 60"
    assert expand("$__timeInterval(ts)", ctx(), FROM, NOW) == "toStartOfInterval(toDateTime(ts), INTERVAL 60 second)"
    assert expand("$__dateFilter(d)", ctx(), FROM, NOW) == "d >= toDate('2026-01-15') AND d <= toDate('2026-01-15')"


def test_conditional_all_and_multi_values():
    sql = "WHERE tenant_id = '${tenant}' AND $__conditionalAll(queue_id IN (${queue}), $queue)"
    assert expand(sql, ctx(tenant="t0", queue=ALL), FROM, NOW) == "WHERE tenant_id = 't0' AND 1=1"
    assert expand(sql, ctx(tenant="t0", queue=["q2"]), FROM, NOW) == "WHERE tenant_id = 't0' AND queue_id IN ('q2')"
    assert expand(sql, ctx(tenant="t0", queue=["q1", "q2"]), FROM, NOW) == \
        "WHERE tenant_id = 't0' AND queue_id IN ('q1','q2')"
    # outside $__conditionalAll, All stands for every option
    assert expand("IN (${queue})", ctx(queue=ALL), FROM, NOW) == "IN ('q1','q2')"


def test_undefined_variables_and_unknown_macros_fail():
    with pytest.raises(KeyError):
        expand("WHERE a = '$nope'", ctx(), FROM, NOW)
    with pytest.raises(ValueError, match="unknown macro"):
        expand("WHERE $__timeFilterr(a)", ctx(), FROM, NOW)
    assert referenced_variables("'${tenant}' $queue [[agent]] $__timeFilter(x) ${__from}") == {"tenant", "queue", "agent"}


def test_relative_times():
    assert relative("now-30d", NOW) == datetime(2025, 12, 16, 10, 30, 20, 750000, tzinfo=timezone.utc)
    assert relative("15m", NOW) == datetime(2026, 1, 15, 10, 15, 20, 750000, tzinfo=timezone.utc)
    assert relative("now", NOW) == NOW

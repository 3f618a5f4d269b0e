"""What Grafana and the ClickHouse datasource plugin do to a dashboard's SQL before ClickHouse
sees it, written out explicitly so the tests can run every panel on a real server.

A query of grafana-clickhouse-datasource goes through three steps:

1. the plugin's frontend replaces ``$__conditionalAll(condition, $var)`` by ``1=1`` when ``var``
   is set to *All* (or empty), else by ``condition``;
2. Grafana's template service interpolates ``$var`` / ``${var}`` / ``[[var]]``: a single value is
   inserted as is, a multi-value selection (and *All*, which stands for every option) as
   ``'a','b'`` — the plugin's formatter;
3. the plugin's backend expands its time macros, with the panel's time range:
   ``$__timeFilter(c)`` → ``c >= toDateTime(FROM) AND c <= toDateTime(TO)``, ``$__fromTime`` →
   ``toDateTime(FROM)``, ``$__toTime`` → ``toDateTime(TO)`` (Unix seconds), and the other macros of
   the plugin (``$__timeFilter_ms``, ``$__fromTime_ms``, ``$__toTime_ms``, ``$__dateFilter``,
   ``$__dateTimeFilter``/``$__dt``, ``$__timeInterval``, ``$__timeInterval_ms``, ``$__interval_s``)
   exactly as the plugin writes them — so a dashboard using one that ClickHouse 18.16 lacks
   (``toStartOfInterval``, ``fromUnixTimestamp64Milli``) fails the tests.

Anything ``$…`` left after that is an error: an undefined variable or an unknown macro.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO / "dashboards"
CHART_DASHBOARDS_DIR = REPO / "helm" / "ccx" / "dashboards"

DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "ccx-clickhouse"}
ALL = "$__all"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def all_panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, also those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        for inner in panel.get("panels", []) or []:
            yield inner


def variables(dashboard: dict) -> list[dict]:
    return dashboard.get("templating", {}).get("list", [])


def variable_sql(variable: dict) -> str:
    """The SQL of a query variable: a plain string, or the plugin's object form."""
    query = variable.get("query")
    if isinstance(query, dict):
        return query.get("rawSql", "")
    return query or ""


# ------------------------------------------------------------------------------------- parsing

_VAR_RE = re.compile(
    r"\$(?P<plain>[A-Za-z_]\w*)"
    r"|\[\[(?P<bracket>[A-Za-z_]\w*)(?::[^\]]*)?\]\]"
    r"|\$\{(?P<braced>[A-Za-z_]\w*)(?:\.[^:}]+)?(?::[^}]*)?\}"
)


def referenced_variables(sql: str) -> set[str]:
    """Names of template variables referenced in sql (Grafana's built-ins and the plugin's
    macros, all starting with ``__``, excluded)."""
    names = set()
    for m in _VAR_RE.finditer(sql):
        name = m.group("plain") or m.group("bracket") or m.group("braced")
        if not name.startswith("__"):
            names.add(name)
    return names


def _macro_args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """Arguments of the call whose '(' is at open_paren, split at top-level commas; and the
    index just after the closing ')'."""
    depth = 0
    args, start = [], open_paren + 1
    quote = None
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i])
                return [a.strip() for a in args], i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i])
            start = i + 1
    raise ValueError(f"unbalanced parentheses after position {open_paren}: {sql[open_paren:open_paren + 60]!r}")


# ------------------------------------------------------------------------------------- context

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def relative(spec: str, now: datetime) -> datetime:
    """'now', 'now-30d', 'now-1y' (a dashboard's time.from) or '15m' (a panel's timeFrom) → instant."""
    spec = spec.strip()
    if spec == "now":
        return now
    m = re.fullmatch(r"(?:now-)?(\d+)([smhdwy])", spec)
    if not m:
        raise ValueError(f"unsupported relative time {spec!r}")
    if m.group(2) == "y":
        return now.replace(year=now.year - int(m.group(1)))  # Grafana's years are calendar years
    return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


@dataclass
class Context:
    """The state of a dashboard in a browser: the clock, the selected variable values (a
    string, a list of strings, or ALL) and each variable's options (what ALL stands for)."""

    now: datetime
    values: dict[str, object]
    options: dict[str, list[str]] = field(default_factory=dict)
    interval_s: int = 60

    def time_range(self, dashboard: dict, panel: dict | None = None) -> tuple[datetime, datetime]:
        time = dashboard.get("time", {})
        to = relative(time.get("to", "now"), self.now)
        if panel is not None and panel.get("timeFrom"):
            # A panel's relative time override replaces the dashboard's range: last N until now.
            return relative(panel["timeFrom"], self.now), self.now
        return relative(time.get("from", "now-6h"), self.now), to


def _seconds(t: datetime) -> int:
    return int(t.timestamp() // 1)  # Go's time.Unix(): whole seconds, truncated


def _millis(t: datetime) -> int:
    return int(t.timestamp() * 1000 // 1)


def expand(sql: str, ctx: Context, frm: datetime, to: datetime) -> str:
    """The SQL ClickHouse receives for sql under ctx, with the time range [frm, to]."""
    # 1. $__conditionalAll(condition, $var) — frontend, before interpolation, last one first.
    while (start := sql.rfind("$__conditionalAll(")) != -1:
        args, end = _macro_args(sql, start + len("$__conditionalAll"))
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes 2 arguments: {sql[start:end]}")
        names = referenced_variables(args[1])
        if len(names) != 1:
            raise ValueError(f"$__conditionalAll needs one variable as its 2nd argument: {sql[start:end]}")
        (name,) = names
        if name not in ctx.values:
            raise KeyError(f"undefined variable ${name} in {sql[start:end]}")
        value = ctx.values[name]
        is_all = value == ALL or value == [ALL] or value == "" or value == []
        sql = sql[:start] + ("1=1" if is_all else args[0]) + sql[end:]

    # 2. template variables
    def interpolate(m: re.Match) -> str:
        name = m.group("plain") or m.group("bracket") or m.group("braced")
        if name.startswith("__"):
            return m.group(0)  # a macro, for the backend
        if name not in ctx.values:
            raise KeyError(f"undefined variable ${name}")
        value = ctx.values[name]
        if value == ALL or value == [ALL]:
            value = list(ctx.options.get(name, []))
        if isinstance(value, list):
            return "'" + "','".join(value) + "'"
        return str(value)

    sql = _VAR_RE.sub(interpolate, sql)

    # 3. backend macros, as grafana-clickhouse-datasource writes them
    f_s, t_s, f_ms, t_ms = _seconds(frm), _seconds(to), _millis(frm), _millis(to)

    def date(t: datetime) -> str:
        return f"toDate('{t.strftime('%Y-%m-%d')}')"

    def one(args: list[str], macro: str) -> str:
        if len(args) != 1:
            raise ValueError(f"$__{macro} expects 1 argument, got {len(args)}")
        return args[0]

    def time_filter(a: list[str]) -> str:
        c = one(a, "timeFilter")
        return f"{c} >= toDateTime({f_s}) AND {c} <= toDateTime({t_s})"

    def time_filter_ms(a: list[str]) -> str:
        c = one(a, "timeFilter_ms")
        return f"{c} >= fromUnixTimestamp64Milli({f_ms}) AND {c} <= fromUnixTimestamp64Milli({t_ms})"

    def date_filter(a: list[str]) -> str:
        c = one(a, "dateFilter")
        return f"{c} >= {date(frm)} AND {c} <= {date(to)}"

    def date_time_filter(a: list[str]) -> str:
        if len(a) != 2:
            raise ValueError(f"$__dateTimeFilter expects 2 arguments, got {len(a)}")
        return (f"({a[0]} >= {date(frm)} AND {a[0]} <= {date(to)}) AND "
                f"({a[1]} >= toDateTime({f_s}) AND {a[1]} <= toDateTime({t_s}))")

    interval = max(ctx.interval_s, 1)
    macros = {
        "fromTime": lambda a: f"toDateTime({f_s})",
        "toTime": lambda a: f"toDateTime({t_s})",
        "fromTime_ms": lambda a: f"fromUnixTimestamp64Milli({f_ms})",
        "toTime_ms": lambda a: f"fromUnixTimestamp64Milli({t_ms})",
        "timeFilter": time_filter,
        "timeFilter_ms": time_filter_ms,
        "dateFilter": date_filter,
        "dateTimeFilter": date_time_filter,
        "dt": date_time_filter,
        "timeInterval": lambda a: f"toStartOfInterval(toDateTime({one(a, 'timeInterval')}), INTERVAL {interval} second)",
        "timeInterval_ms": lambda a: f"toStartOfInterval(toDateTime64({one(a, 'timeInterval_ms')}, 3), "
        f"INTERVAL {interval * 1000} millisecond)",
        "interval_s": lambda a: str(interval),
    }

    out, pos = [], 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < pos:
            continue
        name = m.group(1)
        if name not in macros:
            raise ValueError(f"unknown macro $__{name}")
        out.append(sql[pos:m.start()])
        end = m.end()
        args: list[str] = []
        if end < len(sql) and sql[end] == "(":
            args, end = _macro_args(sql, end)
            if args == [""]:
                args = []
        out.append(macros[name](args))
        pos = end
    out.append(sql[pos:])
    sql = "".join(out)

    if "$" in sql.replace("'$'", ""):
        raise ValueError(f"unexpanded '$' left in query:\n{sql}")
    return sql

"""Running a dashboard's panels as Grafana would: the variables' options and values, each panel's
SQL after the substitutions of dashboards_grafana.expand, and comparing answers."""

from __future__ import annotations

import math

from dashboards_grafana import ALL, Context, all_panels, dashboard_files, expand, load, variable_sql, variables
from dashboards_seed import NOW, TENANT

DASHBOARDS = {load(p)["uid"]: load(p) for p in dashboard_files()}

# Variable selections every panel is run with: everything (the default), and a narrow choice
# that takes the IN (…) branch of every $__conditionalAll.
SELECTIONS = {
    "all": {},
    "narrow": {"queue": ["q1", "q3"], "channel": ["VOICE", "EMAIL"], "agent": ["a1"],
               "status": ["OPEN", "ACKNOWLEDGED"], "signal": ["REPEAT_CONTACT", "HIGH_EFFORT"],
               "direction": ["INBOUND"], "reason": ["billing", "delivery"]},
}



def options_of(engine, dashboard: dict, ctx: Context) -> dict[str, list[str]]:
    """Runs the variable queries in order, as Grafana does, and returns each one's options."""
    out: dict[str, list[str]] = {}
    for v in variables(dashboard):
        if v["type"] == "custom":
            out[v["name"]] = [o["value"] for o in v["options"]]
        else:
            frm, to = ctx.time_range(dashboard)
            rows = engine.query(expand(variable_sql(v), ctx, frm, to))
            out[v["name"]] = [str(next(iter(r.values()))) for r in rows]
        ctx.options[v["name"]] = out[v["name"]]
        if ctx.values.get(v["name"]) == ALL and not v.get("includeAll"):
            # a single-value variable without All starts on its first option, as in Grafana
            ctx.values[v["name"]] = out[v["name"]][0] if out[v["name"]] else ""
    return out


def context(dashboard: dict, selection: str, engine=None) -> Context:
    # a custom single-value variable (a choice such as the trends' grain) starts on its default
    values: dict[str, object] = {
        v["name"]: v["current"]["value"] if v["type"] == "custom" and not v.get("multi") else ALL
        for v in variables(dashboard)}
    values["tenant"] = TENANT
    values.update({k: v for k, v in SELECTIONS[selection].items() if k in values})
    ctx = Context(now=NOW, values=values)
    if engine is not None:
        options_of(engine, dashboard, ctx)
    return ctx


def panel(uid: str, title: str) -> dict:
    found = [p for p in all_panels(DASHBOARDS[uid]) if p["title"] == title]
    assert len(found) == 1, f"{uid}: no single panel titled {title!r}"
    return found[0]


def panel_sql(uid: str, title: str, ctx: Context, ref: str = "A") -> str:
    d = DASHBOARDS[uid]
    p = panel(uid, title)
    (t,) = [t for t in p["targets"] if t["refId"] == ref]
    frm, to = ctx.time_range(d, p)
    return expand(t["rawSql"], ctx, frm, to)


def run(engine, uid: str, title: str, selection: str = "all", **values) -> list[dict]:
    """The answer of a panel with a selection (values: other variables set, e.g. grain="day")."""
    ctx = context(DASHBOARDS[uid], selection, engine)
    ctx.values.update(values)
    return engine.query(panel_sql(uid, title, ctx))


def clones(p: dict, ctx: Context) -> list[tuple[str | None, Context]]:
    """(value, context) of each copy Grafana shows of panel p: a panel with `repeat` is cloned
    once per selected value of its variable (every option for All), each clone with that value
    alone; any other panel is shown once."""
    name = p.get("repeat")
    if not name:
        return [(None, ctx)]
    chosen = ctx.values[name]
    values = ctx.options[name] if chosen == ALL or chosen == [ALL] else list(chosen)
    return [(v, Context(now=ctx.now, values={**ctx.values, name: [v]}, options=ctx.options,
                        interval_s=ctx.interval_s)) for v in values]


def run_clone(engine, uid: str, title: str, value: str, selection: str = "all", **values) -> list[dict]:
    """The answer of the clone for `value` of a repeated panel (values: other variables set)."""
    ctx = context(DASHBOARDS[uid], selection, engine)
    ctx.values.update(values)
    (clone,) = [c for v, c in clones(panel(uid, title), ctx) if v == value]
    return engine.query(panel_sql(uid, title, clone))


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def assert_rows(actual: list[dict], expected: list[dict], what: str) -> None:
    assert same(actual, expected), f"{what}:\n  got      {actual}\n  expected {expected}"

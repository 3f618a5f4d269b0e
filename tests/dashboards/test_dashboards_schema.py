"""dashboards/*.json and the chart's copies type-check against Grafana's published dashboard
schema (npm @grafana/schema, pinned in schema/package.json) with the TypeScript compiler: each
file is assigned, as a literal, to a constant of the schema's type (schema/check.mjs), so an
unknown key, a missing required key, a wrong type or a value outside an enum fails.

scripts/test-dashboards installs node and the pinned packages; CCX_DASHBOARDS_SKIP_SCHEMA=1 skips.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dashboards_grafana import CHART_DASHBOARDS_DIR, DASHBOARDS_DIR

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
CHECK = SCHEMA_DIR / "check.mjs"


@pytest.fixture(scope="module")
def node() -> str:
    if os.environ.get("CCX_DASHBOARDS_SKIP_SCHEMA") == "1":
        pytest.skip("CCX_DASHBOARDS_SKIP_SCHEMA=1")
    path = shutil.which("node")
    assert path, "node not found: run scripts/test-dashboards (it installs nodejs and npm)"
    assert (SCHEMA_DIR / "node_modules" / "@grafana" / "schema").is_dir(), \
        "tests/dashboards/schema/node_modules missing: run scripts/test-dashboards (npm ci)"
    return path


def check(node: str, files: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([node, str(CHECK), *map(str, files)], capture_output=True, text=True, timeout=600)


def test_every_dashboard_and_chart_copy_matches_the_grafana_schema(node):
    files = sorted(DASHBOARDS_DIR.glob("*.json")) + sorted(CHART_DASHBOARDS_DIR.glob("*.json"))
    assert files
    run = check(node, files)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(files)} dashboard(s) match @grafana/schema" in run.stdout


def _first(d: dict, kind: str) -> dict:
    return next(p for p in d["panels"] if p["type"] == kind)


# name: (change to a valid dashboard, a fragment of the compiler's complaint)
BROKEN = {
    "gridpos-without-h": (lambda d: _first(d, "stat")["gridPos"].pop("h"), "Property 'h' is missing"),
    "panel-type-a-number": (lambda d: _first(d, "stat").__setitem__("type", 7),
                            "Type 'number' is not assignable"),
    "unknown-panel-type": (lambda d: _first(d, "stat").__setitem__("type", "stats"), "Did you mean '\"stat\"'"),
    "threshold-mode-typo": (lambda d: _first(d, "stat")["fieldConfig"]["defaults"]["thresholds"]
                            .__setitem__("mode", "absolut"), "'\"absolut\"' is not assignable"),
    "stat-text-mode-typo": (lambda d: _first(d, "stat")["options"].__setitem__("textMode", "valu"),
                            "'\"valu\"' is not assignable"),
    "legend-placement": (lambda d: _first(d, "timeseries")["options"]["legend"].__setitem__("placement", "middle"),
                         "'\"middle\"' is not assignable"),
    "cursor-sync-out-of-enum": (lambda d: d.__setitem__("graphTooltip", 7), "'7' is not assignable"),
    "unknown-dashboard-key": (lambda d: d.__setitem__("refreshh", "5s"), "'\"refreshh\"' does not exist"),
    "query-format": (lambda d: _first(d, "stat")["targets"][0].__setitem__("format", 2), "'2' is not assignable"),
    "no-schema-version": (lambda d: d.pop("schemaVersion"), "Property 'schemaVersion' is missing"),
}


def test_a_broken_dashboard_is_rejected(node, tmp_path):
    """The check can fail: each of these one-line breakages of the wallboard is an error, reported
    at the broken file."""
    valid = json.loads((DASHBOARDS_DIR / "ccx-wallboard.json").read_text(encoding="utf-8"))
    files = []
    for name, (breakage, _) in BROKEN.items():
        d = copy.deepcopy(valid)
        breakage(d)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(d, indent=2), encoding="utf-8")
        files.append(path)
    intact = tmp_path / "intact.json"
    intact.write_text(json.dumps(valid, indent=2), encoding="utf-8")
    run = check(node, [*files, intact])
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    errors = [line for line in out.splitlines() if "error TS" in line]
    for name, (_, complaint) in BROKEN.items():
        mine = [e for e in errors if f"{name}.json(" in e]
        assert any(complaint in e for e in mine), f"{name}: expected {complaint!r} in {mine or out}"
    assert not [e for e in errors if "intact.json(" in e], out

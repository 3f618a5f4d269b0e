"""load-tests/trends/trends_bench.py at a small scale (two days of minute rows, one of events):
its generator runs on both engines and every query of the CX trends and churn dashboards gets a
figure, so the benchmark of docs/benchmarks.md keeps working as the dashboards change."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from dashboards_grafana import REPO, all_panels, load, variables

BENCH = REPO / "load-tests" / "trends" / "trends_bench.py"


def test_the_trends_benchmark_times_every_query_on_both_engines():
    engines = "18.16" if os.environ.get("CCX_DASHBOARDS_SKIP_CHDB") == "1" else "18.16,chdb"
    done = subprocess.run([sys.executable, str(BENCH), "--minute-days", "2", "--event-days", "1", "--agent-days", "1",
                           "--runs", "1", "--engines", engines], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    tables = re.split(r"\n### ", done.stdout)[1:]
    assert len(tables) == len(engines.split(",")), done.stdout
    # each measured case: every query variable and every panel target of its dashboard
    per_case = {uid: sum(1 for v in variables(d) if v["type"] == "query")
                + sum(len(p.get("targets", [])) for p in all_panels(d))
                for uid in ("ccx-cx-trends", "ccx-churn") for d in [load(REPO / "dashboards" / f"{uid}.json")]}
    cases = {"ccx-cx-trends": 3, "ccx-churn": 2}  # grains day/week/month; 30 days and a year
    for table in tables:
        rows = re.findall(r"^\| (ccx-[\w-]+) [^|]*\| [^|]+ \| (\d+) \| (\d+) \| (\d+) \|$", table, flags=re.M)
        for uid, n in cases.items():
            assert sum(1 for r in rows if r[0] == uid) == n * per_case[uid], f"{uid}:\n{table}"
        # the generated year is there: the daily trends have periods, the churn queries alerts
        nonempty = {(uid, int(n) > 0) for uid, _, _, n in rows}
        assert ("ccx-cx-trends", True) in nonempty and ("ccx-churn", True) in nonempty

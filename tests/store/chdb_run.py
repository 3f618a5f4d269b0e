#!/usr/bin/env python3
"""Runs ccx-store SQL on a current ClickHouse engine, in process, with chdb-core.

Reads a JSON plan on stdin:
    {"steps": [{"sql": "...", "body": "..."?}, ...], "queries": ["...", ...]}
Each step is executed in order (a step with a body is an INSERT … FORMAT JSONEachRow whose rows
follow the statement); then each query is answered as JSONEachRow. Prints
    {"engine": "<version()>", "results": [[row, ...], ...]}
on stdout. A failing step or query exits with status 1 and names it on stderr.

`--check` only reports whether chdb can be imported (exit status 0 or 3).
"""

import json
import sys


def main() -> int:
    try:
        from chdb import session
    except ImportError as e:  # the caller decides whether that skips or fails
        print(f"chdb-core is not importable: {e}", file=sys.stderr)
        return 3
    if sys.argv[1:] == ["--check"]:
        return 0

    plan = json.load(sys.stdin)
    sess = session.Session()
    try:
        sess.query("SET output_format_json_quote_64bit_integers = 0")
        for n, step in enumerate(plan.get("steps", [])):
            sql = step["sql"]
            if step.get("body") is not None:
                sql = sql + "\n" + step["body"]
            try:
                sess.query(sql)
            except Exception as e:  # noqa: BLE001 - report which statement failed
                print(f"step {n} failed: {e}\n--- statement ---\n{step['sql']}", file=sys.stderr)
                return 1
        results = []
        for query in plan.get("queries", []):
            try:
                text = sess.query(query, "JSONEachRow").data()
            except Exception as e:  # noqa: BLE001
                print(f"query failed: {e}\n--- query ---\n{query}", file=sys.stderr)
                return 1
            results.append([json.loads(line) for line in text.splitlines() if line.strip()])
        engine = sess.query("SELECT version()", "TabSeparated").data().strip()
    finally:
        sess.close()
    json.dump({"engine": engine, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The two ClickHouse engines the dashboards' SQL must run on.

* ``Server18``: a real ``clickhouse-server`` (ClickHouse 18.16 on this machine) started as a child
  process on free loopback ports with a config written by ``scripts/clickhouse-config``; the ccx
  schema is created by the project's own migrations (``cargo run -q -p ccx -- --config … migrate``,
  or ``$CCX_BIN --config … migrate`` when CCX_BIN names an already built ccx binary).
* ``ChdbEngine``: a current ClickHouse engine in process (PyPI ``chdb-core``). Its schema is the
  one the migrations created on the 18.16 server, replayed statement by statement from
  ``SHOW CREATE TABLE`` (tables first, then the views), so both engines hold exactly the same
  DDL without a second copy of it here.

Both answer queries as JSONEachRow with 64-bit integers as JSON numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dashboards_grafana import REPO


class QueryError(Exception):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server18:
    """clickhouse-server as a child process; stop() kills it and removes its files."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ccx-dashboards-ch-"))
        self.proc: subprocess.Popen | None = None
        self.http_port = 0
        self.version = ""

    # -- lifecycle
    def start(self, attempts: int = 3) -> None:
        binary = shutil.which("clickhouse-server")
        if not binary:
            raise RuntimeError("clickhouse-server not found on PATH (Debian package clickhouse-server)")
        last = ""
        for _ in range(attempts):
            self.http_port, tcp_port = free_port(), free_port()
            config = subprocess.run(
                [str(REPO / "scripts" / "clickhouse-config"), str(self.dir), str(self.http_port), str(tcp_port)],
                check=True, capture_output=True, text=True).stdout.strip()
            log = open(self.dir / "stdout.log", "ab")
            self.proc = subprocess.Popen([binary, f"--config-file={config}"], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as r:
                        if r.read().strip() == b"Ok.":
                            self.version = self.query_one("SELECT version() AS v")["v"]
                            return
                except OSError:
                    time.sleep(0.2)
            last = self._log_tail()
            self._kill()
        raise RuntimeError(f"clickhouse-server did not start:\n{last}")

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    def _log_tail(self) -> str:
        texts = []
        for name in ("stdout.log", "log/server.err.log"):
            p = self.dir / name
            if p.exists():
                texts.append(p.read_text(errors="replace")[-3000:])
        return "\n".join(texts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- schema
    def migrate(self) -> str:
        """Runs `ccx migrate` against this server; returns its output."""
        return self.ccx("migrate")

    def ccx(self, *args: str) -> str:
        """Runs `ccx ARGS` against this server; returns its output."""
        config = self.dir / "ccx.toml"
        config.write_text(f'[clickhouse]\nurl = "{self.url}"\n', encoding="utf-8")
        ccx = os.environ.get("CCX_BIN")
        if ccx:
            command = [ccx, "--config", str(config), *args]
        else:
            cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
            command = [cargo, "run", "-q", "-p", "ccx", "--", "--config", str(config), *args]
        env = dict(os.environ, CCX_LOG=os.environ.get("CCX_LOG", "warn"))
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3600, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def ddl(self, database: str = "ccx") -> list[str]:
        """The CREATE statements of every table and view of database, tables first."""
        rows = self.query(
            f"SELECT name, engine FROM system.tables WHERE database = '{database}' ORDER BY engine = 'View', name")
        out = []
        for row in rows:
            statement = self.query_one(f"SHOW CREATE TABLE {database}.{row['name']}")["statement"]
            out.append(statement)
        return out

    def add_read_user(self, tenant: str, user: str, password: str) -> None:
        """Builds the tenant's read database (`ccx tenant-database`) and adds the read user it
        prints to users.xml, as docs/operations.md says; waits until the server reloaded it."""
        printed = self.ccx("tenant-database", tenant, "--user", user)
        profile = printed[printed.index("<ccx_tenant_read>"):printed.index("</ccx_tenant_read>") + 18]
        entry = printed[printed.index(f"<{user}>"):printed.index(f"</{user}>") + len(user) + 3]
        entry = entry.replace("SHA256_OF_THE_PASSWORD", hashlib.sha256(password.encode()).hexdigest())
        users = self.dir / "users.xml"
        xml = users.read_text(encoding="utf-8")
        if "<ccx_tenant_read>" not in xml:
            xml = xml.replace("</profiles>", profile + "</profiles>", 1)
        users.write_text(xml.replace("</users>", entry + "</users>", 1), encoding="utf-8")
        deadline = time.monotonic() + 30
        while True:
            try:
                self.query("SELECT 1", user=(user, password))
                return
            except QueryError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # -- statements
    def execute(self, sql: str, body: str | None = None, user: tuple[str, str] | None = None) -> str:
        data = sql if body is None else sql + "\n" + body
        params = urllib.parse.urlencode({"output_format_json_quote_64bit_integers": 0})
        req = urllib.request.Request(f"{self.url}/?{params}", data=data.encode("utf-8"), method="POST")
        if user is not None:
            token = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise QueryError(f"ClickHouse {self.version}: {e.read().decode('utf-8', 'replace').strip()}\n"
                             f"--- query ---\n{sql}") from None

    def query(self, sql: str, user: tuple[str, str] | None = None) -> list[dict]:
        text = self.execute(sql.rstrip().rstrip(";") + "\nFORMAT JSONEachRow", user=user)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def query_one(self, sql: str) -> dict:
        rows = self.query(sql)
        assert len(rows) == 1, f"expected one row, got {rows}"
        return rows[0]

    def columns(self, table: str) -> list[tuple[str, str]]:
        return [(r["name"], r["type"]) for r in self.query(f"DESCRIBE TABLE {table}")]

    def insert(self, table: str, rows: list[dict]) -> None:
        body = "\n".join(json.dumps(r) for r in rows)
        self.execute(f"INSERT INTO {table} FORMAT JSONEachRow", body)


class ChdbEngine:
    """A current ClickHouse engine in this process (chdb-core)."""

    def __init__(self) -> None:
        from chdb import session  # imported here: only the current-engine tests need it

        self.dir = tempfile.mkdtemp(prefix="ccx-dashboards-chdb-")
        self.session = session.Session(self.dir)
        self.session.query("SET output_format_json_quote_64bit_integers = 0")
        self.version = self.query_one("SELECT version() AS v")["v"]

    def close(self) -> None:
        try:
            self.session.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def execute(self, sql: str, body: str | None = None) -> None:
        data = sql if body is None else sql + "\n" + body
        try:
            self.session.query(data)
        except Exception as e:  # noqa: BLE001 - chdb raises a plain RuntimeError
            raise QueryError(f"chdb {getattr(self, 'version', '')}: {e}\n--- query ---\n{sql}") from None

    def query(self, sql: str) -> list[dict]:
        try:
            text = self.session.query(sql, "JSONEachRow").data()
        except Exception as e:  # noqa: BLE001
            raise QueryError(f"chdb {getattr(self, 'version', '')}: {e}\n--- query ---\n{sql}") from None
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def query_one(self, sql: str) -> dict:
        rows = self.query(sql)
        assert len(rows) == 1, f"expected one row, got {rows}"
        return rows[0]

    def insert(self, table: str, rows: list[dict]) -> None:
        body = "\n".join(json.dumps(r) for r in rows)
        self.execute(f"INSERT INTO {table} FORMAT JSONEachRow", body)

"""The container image the chart runs: parsed with BuildKit's own Dockerfile parser and checked
against what the chart assumes (entrypoint, uid, ports) and what the build needs."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import dockerfile
import pytest

from conftest import REPO, Rendered

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@pytest.fixture(scope="module")
def stages() -> list[list[dockerfile.Command]]:
    out: list[list[dockerfile.Command]] = []
    for cmd in dockerfile.parse_file(str(DOCKERFILE)):
        if cmd.cmd == "FROM":
            out.append([])
        out[-1].append(cmd)
    return out


def first(stage, name):
    return next(c for c in stage if c.cmd == name)


def runs(stage) -> str:
    return "\n".join(c.value[0] for c in stage if c.cmd == "RUN")


def test_builder_stage(stages):
    builder = stages[0]
    assert first(builder, "FROM").value == ("rust:1-bookworm", "AS", "builder")
    script = runs(builder)
    for package in ("cmake", "libcurl4-openssl-dev"):
        assert re.search(rf"apt-get install [^\n]*\b{re.escape(package)}\b", script), package
    assert re.search(r"cargo build --release( --locked)? -p ccx\b", script)


def test_runtime_stage(stages, default_render: Rendered):
    assert len(stages) == 2
    runtime = stages[-1]
    assert first(runtime, "FROM").value == ("debian:bookworm-slim",)
    script = runs(runtime)
    for package in ("ca-certificates", "libcurl4"):
        assert re.search(rf"apt-get install [^\n]*\b{re.escape(package)}\b", script), package
    assert "--uid 10001" in script
    user = first(runtime, "USER").value[0]
    uid = int(user.split(":")[0])
    assert uid == 10001
    entrypoint = first(runtime, "ENTRYPOINT")
    assert entrypoint.json and entrypoint.value == ("ccx",)
    copy = [c for c in runtime if c.cmd == "COPY"]
    assert any("--from=builder" in c.flags and c.value[-1] == "/usr/local/bin/ccx" for c in copy)
    # The chart runs the image's user and relies on its entrypoint.
    pod = default_render.get("Deployment", "ccx-collector")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == uid
    assert "command" not in pod["containers"][0]


def test_runtime_exposes_the_chart_ports(stages, default_render: Rendered):
    exposed = {int(p) for c in stages[-1] if c.cmd == "EXPOSE" for p in c.value}
    used = {
        p["containerPort"]
        for w in default_render.of_kind("Deployment") + default_render.of_kind("StatefulSet")
        for c in w["spec"]["template"]["spec"]["containers"]
        for p in c["ports"]
    }
    assert used <= exposed


def test_build_context_keeps_the_workspace():
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]
    needed = ["Cargo.toml", "Cargo.lock", "proto", *workspace["members"]]
    for path in needed:
        for pattern in patterns:
            assert not fnmatch.fnmatch(path, pattern.lstrip("/")), f".dockerignore {pattern!r} drops {path}"
    assert "target" in patterns and ".git" in patterns

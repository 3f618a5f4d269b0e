"""Shared fixtures of the Helm chart tests.

The chart is loaded, linted and rendered by the Helm v4 library itself (helm-python-sdk binds
the Go SDK's C ABI, libhelm_c, shipped in its wheel); nothing here reimplements Helm. Rendered
manifests are checked against the Kubernetes OpenAPI schemas of kubernetes-validate.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate.utils as kv
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "ccx"
HA_VALUES = CHART_DIR / "ci" / "ha-values.yaml"
RELEASE = "ccx"
NAMESPACE = "analytics"

# The newest Kubernetes release the pinned kubernetes-validate has schemas for.
KUBE_VERSION = kv.latest_version()

helm.disable_logging()


@dataclass
class Rendered:
    """One render of the chart: every object, with the template it came from."""

    values: dict[str, Any]
    objects: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: str = ""

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]


def load_chart(path: Path = CHART_DIR) -> helm.Chart:
    return helm.Chart.load(path)


# The control plane's credentials, which every install names (the chart refuses to render
# without them): an operator's hash, and the service credential's Secret and hash.
AUTH_VALUES: dict[str, Any] = {
    "control": {
        "auth": {
            "operators": [{"name": "ops", "tokenSha256": "1" * 64}],
            "service": {"tokenSecret": {"name": "ccx-control-service"}, "tokenSha256": "2" * 64},
        }
    }
}


def render(
    values: dict[str, Any] | None = None,
    *,
    chart: helm.Chart | None = None,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    with_auth: bool = True,
) -> Rendered:
    """Render like `helm template` (install), parse every document; the values are laid over
    AUTH_VALUES unless with_auth is False."""
    if with_auth:
        values = deep_merge(AUTH_VALUES, values or {})
    own = chart is None
    chart = chart or load_chart()
    try:
        manifests = chart.render(
            values=copy.deepcopy(values) if values is not None else None,
            name=release,
            namespace=namespace,
            is_install=True,
        )
    finally:
        if own:
            chart.close()
    out = Rendered(values=values or {})
    for source, text in sorted(manifests.items()):
        if source.endswith("NOTES.txt"):
            out.notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            out.objects.append(doc)
            out.sources.append(source)
    return out


def ha_values() -> dict[str, Any]:
    return yaml.safe_load(HA_VALUES.read_text())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# Value sets every structural test runs against.
MINIMAL_VALUES: dict[str, Any] = {
    "ordinalSource": "hostname",
    "collector": {"autoscaling": {"enabled": False}, "replicas": 1, "podAntiAffinity": ""},
    "stream": {
        "replicas": 1,
        "workers": 1,
        "updateStrategy": {"type": "RollingUpdate"},
        "checkpoint": {"persistence": {"enabled": False}},
        "podAntiAffinity": "",
    },
    "control": {"replicas": 1, "podAntiAffinity": ""},
    "networkPolicy": {"enabled": False},
    "grafana": {"datasource": {"enabled": False}, "dashboards": {"enabled": False}},
    "serviceAccount": {"create": False},
    "tenants": [
        {"id": "tenant-0", "tokenSha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
    ],
    "kafka": {"sasl": {"enabled": True, "username": "ccx", "password": 'p"w\\d'}},
    "clickhouse": {"password": "secret"},
}

VALUE_SETS: dict[str, Any] = {
    "default": None,
    "ha": "ha",
    "minimal": MINIMAL_VALUES,
}


def values_for(name: str) -> dict[str, Any] | None:
    spec = VALUE_SETS[name]
    if spec == "ha":
        return ha_values()
    return copy.deepcopy(spec)


@pytest.fixture(scope="session")
def chart():
    with load_chart() as loaded:
        yield loaded


@pytest.fixture(scope="session")
def default_render(chart) -> Rendered:
    return render(None, chart=chart)


@pytest.fixture(scope="session")
def ha_render(chart) -> Rendered:
    return render(ha_values(), chart=chart)


@pytest.fixture(scope="session", params=sorted(VALUE_SETS))
def any_render(request, chart) -> Rendered:
    return render(values_for(request.param), chart=chart)

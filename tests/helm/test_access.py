"""Access in the chart: the control plane's credentials (operators and the service credential
the workloads present) and, per client brand, a Grafana datasource reading its own tenant
database as its own ClickHouse user, with the dashboards in its folder wired to it alone."""

from __future__ import annotations

import json
from pathlib import Path
import re

import helm_python as helm
import pytest

from conftest import AUTH_VALUES, Rendered, deep_merge, render
from test_config import config_of

TENANTS = [
    {"id": "brand-a", "user": "brand_a_read", "passwordEnvVar": "PW_A", "folder": "Brand A"},
    {"id": "brand-b", "user": "brand_b_read", "passwordEnvVar": "PW_B", "orgId": 3},
]


def test_the_control_plane_needs_an_operator_and_a_service_credential(chart):
    with pytest.raises(helm.HelmRenderError, match="control.auth.operators"):
        render(None, chart=chart, with_auth=False)
    no_service = {"control": {"auth": {"operators": AUTH_VALUES["control"]["auth"]["operators"]}}}
    with pytest.raises(helm.HelmRenderError, match="control.auth.service"):
        render(no_service, chart=chart, with_auth=False)
    # Without a control plane there is nothing to authenticate to.
    render({"control": {"enabled": False}}, chart=chart, with_auth=False)


def test_replicas_get_the_hashes_and_every_workload_presents_the_service_token(default_render: Rendered):
    control = config_of(default_render)["control"]
    assert control["operators"] == [{"name": "ops", "token_sha256": "1" * 64}]
    assert control["services"] == [{"name": "ccx", "token_sha256": "2" * 64}]
    for workload in default_render.workloads():
        for container in workload["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            token = env.get("CCX__CONTROL__TOKEN")
            assert token, f"{workload['metadata']['name']}/{container['name']} presents no credential"
            assert token["valueFrom"]["secretKeyRef"] == {"name": "ccx-control-service", "key": "token"}
    # The plaintext token is nowhere in the release.
    assert "token" not in control


def tenant_render(chart, extra=None) -> Rendered:
    values = {"grafana": {"tenants": TENANTS}}
    return render(deep_merge(values, extra or {}), chart=chart)


def test_each_brand_has_its_own_datasource(chart):
    out = tenant_render(chart)
    cm = out.get("ConfigMap", "ccx-grafana-datasource")
    import yaml

    sources = {d["uid"]: d for d in yaml.safe_load(cm["data"]["ccx-datasource.yaml"])["datasources"]}
    assert set(sources) == {"ccx-clickhouse", "ccx-clickhouse-brand-a", "ccx-clickhouse-brand-b"}
    a, b = sources["ccx-clickhouse-brand-a"], sources["ccx-clickhouse-brand-b"]
    assert a["jsonData"]["username"] == "brand_a_read"
    assert a["jsonData"]["defaultDatabase"] == "ccx_t_brand-a"
    assert a["secureJsonData"]["password"] == "$PW_A"
    assert (a["orgId"], b["orgId"]) == (1, 3)
    assert b["jsonData"]["defaultDatabase"] == "ccx_t_brand-b"


def brand_dashboards(out: Rendered, brand: str) -> list[tuple[dict, dict]]:
    found = []
    for cm in out.of_kind("ConfigMap"):
        if cm["metadata"]["labels"].get("grafana_dashboard") != "1":
            continue
        for key, text in cm["data"].items():
            if key.startswith(f"{brand}-"):
                found.append((cm, json.loads(text)))
    return found


def datasource_uids(node) -> set[str]:
    if isinstance(node, dict):
        uids = {node["uid"]} if node.get("type") == "grafana-clickhouse-datasource" and "uid" in node else set()
        for value in node.values():
            uids |= datasource_uids(value)
        return uids
    if isinstance(node, list):
        return set().union(*(datasource_uids(v) for v in node)) if node else set()
    return set()


@pytest.mark.parametrize("brand,folder", [("brand-a", "Brand A"), ("brand-b", "brand-b")])
def test_each_brand_has_the_dashboards_reading_its_own_data_only(chart, brand, folder):
    out = tenant_render(chart)
    boards = brand_dashboards(out, brand)
    operator_boards = [k for cm in out.of_kind("ConfigMap") for k in cm.get("data", {})
                       if cm["metadata"]["labels"].get("grafana_dashboard") == "1" and not k.startswith("brand-")]
    shipped = len(list((Path(__file__).resolve().parents[2] / "dashboards").glob("*.json")))
    assert len(boards) == len(operator_boards) == shipped
    uids = set()
    for cm, board in boards:
        assert cm["metadata"]["annotations"]["grafana_folder"] == folder
        assert board["uid"].endswith(f"-{brand}") and len(board["uid"]) <= 40
        assert board["title"].endswith(f"({brand})")
        uids.add(board["uid"])
        assert datasource_uids(board) == {f"ccx-clickhouse-{brand}"}
        text = json.dumps(board)
        # Every table it reads is the brand's database's; no other database is named.
        assert not re.search(r"\bccx\.", text), "reads the analytics database"
        assert f"`ccx_t_{brand}`." in text
        other = "brand-b" if brand == "brand-a" else "brand-a"
        assert other not in text
    assert len(uids) == shipped


def test_the_migration_job_builds_each_brands_tenant_database(chart, default_render: Rendered):
    (c,) = tenant_render(chart).get("Job", "ccx-migrate")["spec"]["template"]["spec"]["containers"]
    assert c["args"][:3] == ["migrate", "--tenant-database", "brand-a,brand-b"]
    (c,) = default_render.get("Job", "ccx-migrate")["spec"]["template"]["spec"]["containers"]
    assert "--tenant-database" not in c["args"]


def test_a_brand_listed_twice_is_refused(chart):
    with pytest.raises(helm.HelmRenderError, match="listed twice"):
        render({"grafana": {"tenants": [TENANTS[0], TENANTS[0]]}}, chart=chart)

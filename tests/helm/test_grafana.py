"""Grafana provisioning: the dashboards ConfigMaps hold exactly the repository's dashboards,
the datasource ConfigMap is labelled for the sidecar and holds no password."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from conftest import CHART_DIR, REPO, Rendered, load_chart, render

REPO_DASHBOARDS = REPO / "dashboards"
CHART_DASHBOARDS = CHART_DIR / "dashboards"


def json_files(folder: Path) -> dict[str, str]:
    """name -> text of every *.json file directly in folder (none if it does not exist)."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes().decode("utf-8") for p in sorted(folder.glob("*.json")) if p.is_file()}


def dashboard_data(out: Rendered) -> dict[str, str]:
    data: dict[str, str] = {}
    for cm in out.of_kind("ConfigMap"):
        if cm["metadata"]["labels"].get("grafana_dashboard") != "1":
            continue
        for key, value in cm["data"].items():
            assert key not in data, f"dashboard {key} is provisioned twice"
            data[key] = value
    return data


def test_dashboards_configmaps_hold_exactly_the_repository_dashboards(default_render: Rendered):
    expected = json_files(REPO_DASHBOARDS)
    provisioned = dashboard_data(default_render)
    assert sorted(provisioned) == sorted(expected)
    for name, text in expected.items():
        assert provisioned[name] == text, f"{name} differs from dashboards/{name}"
        json.loads(provisioned[name])


def test_chart_copy_is_in_sync_with_the_repository():
    """Helm reads only inside the chart: helm/ccx/dashboards is a copy of dashboards/."""
    assert json_files(CHART_DASHBOARDS) == json_files(REPO_DASHBOARDS), (
        "helm/ccx/dashboards differs from dashboards/: run scripts/test-helm --sync-dashboards"
    )


def copy_chart(tmp_path: Path) -> Path:
    target = tmp_path / "ccx"
    shutil.copytree(CHART_DIR, target, ignore=shutil.ignore_patterns("*.json", "__pycache__"))
    shutil.copy2(CHART_DIR / "values.schema.json", target / "values.schema.json")
    (target / "dashboards").mkdir(exist_ok=True)
    return target


@pytest.mark.parametrize("count", [0, 1, 3])
def test_dashboards_template_provisions_any_number_of_files(tmp_path, count):
    chart_dir = copy_chart(tmp_path)
    files = {}
    for i in range(count):
        # Awkward but legal content: unicode, tabs, no final newline, odd file names.
        name = ["ccx-overview.json", "Queue_Wallboard.json", "cx-trends.v2.json"][i]
        text = json.dumps({"title": f"Board {i} – Übersicht", "uid": f"ccx-{i}", "panels": []}, ensure_ascii=False,
                          indent="\t")
        if i != 1:
            text += "\n"
        (chart_dir / "dashboards" / name).write_text(text, encoding="utf-8")
        files[name] = text
    # Files outside dashboards/*.json are not dashboards.
    (chart_dir / "dashboards" / "README.md").write_text("not a dashboard\n")
    with load_chart(chart_dir) as chart:
        out = render(None, chart=chart)
    assert dashboard_data(out) == files
    configmaps = [cm for cm in out.of_kind("ConfigMap") if cm["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(configmaps) == count
    assert len({cm["metadata"]["name"] for cm in configmaps}) == count
    for cm in configmaps:
        assert len(cm["metadata"]["name"]) <= 63


@pytest.mark.parametrize(
    "names, message",
    [
        (["cx trends.json"], "may hold only letters"),
        (["queue_board.json", "Queue-Board.json"], "both become ConfigMap"),
    ],
)
def test_dashboards_with_unusable_names_fail_clearly(tmp_path, names, message):
    chart_dir = copy_chart(tmp_path)
    for name in names:
        (chart_dir / "dashboards" / name).write_text("{}\n")
    with load_chart(chart_dir) as chart:
        with pytest.raises(helm.HelmRenderError, match=message):
            render(None, chart=chart)


def test_dashboards_can_be_disabled_and_annotated(chart, ha_render: Rendered):
    off = render({"grafana": {"dashboards": {"enabled": False}, "datasource": {"enabled": False}}}, chart=chart)
    assert [cm for cm in off.of_kind("ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]] == []
    assert [cm for cm in off.of_kind("ConfigMap") if "grafana_datasource" in cm["metadata"]["labels"]] == []
    for cm in ha_render.of_kind("ConfigMap"):
        # The operator's dashboards; each client brand's are in the brand's folder (test_access).
        if "grafana_dashboard" in cm["metadata"]["labels"] and not any(k.startswith("brand-") for k in cm["data"]):
            assert cm["metadata"]["annotations"]["grafana_folder"] == "ccx"


def test_datasource_configmap(default_render: Rendered, ha_render: Rendered):
    for out in (default_render, ha_render):
        (cm,) = [c for c in out.of_kind("ConfigMap") if c["metadata"]["labels"].get("grafana_datasource") == "1"]
        (text,) = cm["data"].values()
        doc = yaml.safe_load(text)
        # The operator's; the client brands' follow it (test_access).
        ds = doc["datasources"][0]
        assert len(doc["datasources"]) == 1 + len(out.values.get("grafana", {}).get("tenants", []))
        assert ds["type"] == "grafana-clickhouse-datasource"
        assert ds["uid"] == "ccx-clickhouse"
        assert ds["jsonData"]["defaultDatabase"] == "ccx"
        # Grafana expands the variable; the password itself is never in a ConfigMap.
        assert ds["secureJsonData"]["password"] == "$CCX_CLICKHOUSE_PASSWORD"
    (cm,) = [c for c in ha_render.of_kind("ConfigMap") if c["metadata"]["labels"].get("grafana_datasource") == "1"]
    ds = yaml.safe_load(next(iter(cm["data"].values())))["datasources"][0]
    assert ds["jsonData"]["secure"] is True and ds["jsonData"]["port"] == 8443

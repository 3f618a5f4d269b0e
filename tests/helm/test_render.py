"""Lint, values schema and Kubernetes schema validation of every rendered object."""

from __future__ import annotations

import re

import helm_python as helm
import kubernetes_validate.utils as kv
import pytest

from conftest import (
    CHART_DIR,
    KUBE_VERSION,
    NAMESPACE,
    VALUE_SETS,
    deep_merge,
    ha_values,
    render,
    values_for,
)

# Custom resources the chart may render, with no schema in kubernetes-validate.
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor")}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_is_clean(name):
    report = helm.lint(CHART_DIR, values_for(name), strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == [], report
    assert report["total_charts_linted"] == 1
    # Severity 1 is informational ("icon is recommended"); 2 warning, 3 error.
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems


def test_every_object_matches_the_kubernetes_schema(any_render):
    assert any_render.objects, "nothing rendered"
    for obj, source in zip(any_render.objects, any_render.sources):
        key = (obj["apiVersion"], obj["kind"])
        if key in CUSTOM_RESOURCES:
            continue  # checked in test_service_monitor_shape
        try:
            kv.validate(obj, KUBE_VERSION, strict=True)
        except kv.ValidationError as err:
            pytest.fail(f"{source}: {obj['kind']}/{obj['metadata']['name']}: {err.message} at {list(err.path)}")
        except kv.SchemaNotFoundError as err:
            pytest.fail(f"{source}: {err.message}")


def test_objects_are_namespaced_and_labelled(any_render):
    for obj in any_render.objects:
        meta = obj["metadata"]
        assert DNS_LABEL.match(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
        assert meta["namespace"] == NAMESPACE, meta["name"]
        labels = meta["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                    "app.kubernetes.io/version", "helm.sh/chart"):
            assert key in labels, f"{obj['kind']}/{meta['name']} lacks label {key}"


def test_long_release_names_keep_pod_names_valid(chart):
    release = "a-very-long-release-name-for-contact-center-analytics"
    assert len(release) <= 53  # Helm's own limit
    out = render(None, chart=chart, release=release)
    for sts in out.of_kind("StatefulSet"):
        # Pods are <sts>-<ordinal>; the pod-name label value must stay a valid DNS label.
        pod = f"{sts['metadata']['name']}-{sts['spec']['replicas'] - 1}"
        assert DNS_LABEL.match(pod) and len(pod) <= 63, pod
        assert len(sts["spec"]["serviceName"]) <= 63


@pytest.mark.parametrize("replicas", [0, 2, 4, 6, 8])
def test_schema_refuses_an_even_control_replica_count(chart, replicas):
    values = {"control": {"replicas": replicas}}
    with pytest.raises(helm.HelmValuesError, match="control/replicas"):
        chart.validate_schema(values)
    with pytest.raises(helm.HelmValuesError):
        chart.render(values, name="ccx", namespace=NAMESPACE)


@pytest.mark.parametrize("replicas", [1, 3, 5])
def test_schema_accepts_an_odd_control_replica_count(chart, replicas):
    chart.validate_schema({"control": {"replicas": replicas}})
    out = render({"control": {"replicas": replicas}}, chart=chart)
    assert out.get("StatefulSet", "ccx-control")["spec"]["replicas"] == replicas


@pytest.mark.parametrize(
    "values, where",
    [
        ({"kafka": {"brokerz": "kafka:9092"}}, "/kafka"),
        ({"collectr": {}}, "collectr"),
        ({"tenants": [{"id": "t1", "tokenSha256": "not-a-hash"}]}, "/tenants/0/tokenSha256"),
        ({"tenants": [{"id": "Tenant One", "tokenSha256": "0" * 64}]}, "/tenants/0/id"),
        ({"tenants": [{"id": "t1", "token": "plaintext"}]}, "/tenants/0"),
        ({"control": {"pdb": {"enabled": True, "maxUnavailable": 2}}}, "/control/pdb/maxUnavailable"),
        ({"stream": {"workers": 0}}, "/stream/workers"),
        ({"kafka": {"partitions": 0}}, "/kafka/partitions"),
        ({"kafka": {"properties": {"linger.ms": 5}}}, "/kafka/properties"),
        ({"clickhouse": {"url": "clickhouse:8123"}}, "/clickhouse/url"),
        ({"collector": {"resources": {"limits": None}}}, "/collector/resources"),
        ({"validation": {"maxPast": "a week"}}, "/validation/maxPast"),
    ],
)
def test_schema_refuses_bad_values(chart, values, where):
    with pytest.raises(helm.HelmValuesError) as err:
        chart.validate_schema(values)
    assert where in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"collector": {"tls": {"enabled": True}}}, "collector.tls.secretName"),
        ({"kafka": {"sasl": {"enabled": True}}}, "kafka.sasl.username"),
        (
            {"secret": {"existingSecret": "mine"},
             "tenants": [{"id": "t1", "tokenSha256": "0" * 64}]},
            "secret.existingSecret",
        ),
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(chart, values, message):
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        chart.render(values, name="ccx", namespace=NAMESPACE)


def test_ha_values_file_is_valid(chart):
    chart.validate_schema(ha_values())


def test_service_monitor_shape(default_render, ha_render):
    assert default_render.of_kind("ServiceMonitor") == []
    (sm,) = ha_render.of_kind("ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    spec = sm["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selected = [
        svc for svc in ha_render.of_kind("Service")
        if all(svc["metadata"]["labels"].get(k) == v for k, v in spec["selector"]["matchLabels"].items())
        and svc["metadata"]["labels"].get("app.kubernetes.io/component") in spec["selector"]["matchExpressions"][0]["values"]
    ]
    scraped = {
        (svc["metadata"]["name"], port["name"])
        for svc in selected
        for port in svc["spec"]["ports"]
        if port["name"] in {e["port"] for e in spec["endpoints"]}
    }
    # Exactly one scrape target per component: collector http, stream and control metrics.
    assert scraped == {
        ("ccx-collector", "http"),
        ("ccx-stream-headless", "metrics"),
        ("ccx-control-headless", "metrics"),
    }
    for endpoint in spec["endpoints"]:
        assert endpoint["path"] == "/metrics"


def test_values_override_merges_like_helm(chart):
    # The chart's own coalescing is what an install uses; a partial override keeps defaults.
    merged = chart.merge_values(deep_merge({}, {"stream": {"replicas": 3}}))
    assert merged["stream"]["replicas"] == 3
    assert merged["stream"]["workers"] == chart.values["stream"]["workers"]


@pytest.mark.parametrize("component", ["collector", "stream", "control", "migrate", "wallboard"])
def test_a_component_can_be_left_out(chart, component):
    out = render({component: {"enabled": False}, "metrics": {"serviceMonitor": {"enabled": True}}}, chart=chart)
    left = [o for o in out.objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert left == []
    for obj in out.objects:
        if (obj["apiVersion"], obj["kind"]) not in CUSTOM_RESOURCES:
            kv.validate(obj, KUBE_VERSION, strict=True)

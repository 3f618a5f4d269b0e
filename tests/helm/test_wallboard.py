"""The wallboard (`ccx wallboard`): a Deployment serving the supervisors' page on the HTTP port
of wallboard.service.port, with the other workloads' configuration (the control-plane replicas
included: every workload reads them), a Service, an optional Ingress and a NetworkPolicy."""

from __future__ import annotations

import tomllib

import helm_python as helm
import kubernetes_validate.utils as kv
import pytest

from conftest import KUBE_VERSION, NAMESPACE, Rendered, render

SUFFIX = f"ccx-control-headless.{NAMESPACE}.svc.cluster.local"


def container(out: Rendered) -> dict:
    (c,) = out.get("Deployment", "ccx-wallboard")["spec"]["template"]["spec"]["containers"]
    return c


def config_toml(out: Rendered) -> dict:
    return tomllib.loads(out.get("ConfigMap", "ccx-config")["data"]["config.toml"])


def test_deployment_command_probes_resources_and_config(default_render: Rendered, chart):
    d = default_render.get("Deployment", "ccx-wallboard")
    assert d["spec"]["replicas"] == chart.values["wallboard"]["replicas"] == 2
    c = container(default_render)
    assert c["args"][:3] == ["wallboard", "--listen", "0.0.0.0:8090"]
    assert c["ports"] == [{"name": "http", "containerPort": 8090, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": "HTTP"}
    assert c["livenessProbe"]["periodSeconds"] == chart.values["wallboard"]["livenessProbe"]["periodSeconds"]
    assert c["resources"] == chart.values["wallboard"]["resources"]
    # the same layers as the collector's
    (collector,) = default_render.get("Deployment", "ccx-collector")["spec"]["template"]["spec"]["containers"]
    layers = lambda args: [args[i + 1] for i, a in enumerate(args) if a == "--config"]  # noqa: E731
    assert layers(c["args"]) == layers(collector["args"])
    assert c["volumeMounts"] == collector["volumeMounts"]
    assert c["env"] == collector["env"]


@pytest.mark.parametrize("replicas", [1, 3, 5])
def test_every_workload_reads_every_control_replica(chart, replicas):
    # the collector (tokens), the stream (settings, rules, alerts) and the wallboard share it
    out = render({"control": {"replicas": replicas}}, chart=chart)
    assert config_toml(out)["control"]["endpoints"] == [
        f"ccx-control-{i}.{SUFFIX}:50061" for i in range(replicas)]
    for kind, name in [("Deployment", "ccx-collector"), ("StatefulSet", "ccx-stream"),
                       ("Deployment", "ccx-wallboard")]:
        (c,) = out.get(kind, name)["spec"]["template"]["spec"]["containers"]
        assert "/etc/ccx/config/config.toml" in c["args"], name


def test_without_a_control_plane_no_workload_reads_one(chart):
    out = render({"control": {"enabled": False}}, chart=chart)
    assert config_toml(out)["control"]["endpoints"] == []


def test_service_and_port(chart):
    out = render({"wallboard": {"service": {"port": 9000, "type": "LoadBalancer"}}}, chart=chart)
    svc = out.get("Service", "ccx-wallboard")
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 9000, "targetPort": "http", "protocol": "TCP"}]
    c = container(out)
    assert c["args"][:3] == ["wallboard", "--listen", "0.0.0.0:9000"]
    assert c["ports"][0]["containerPort"] == 9000


def test_no_ingress_by_default(default_render: Rendered, ha_render: Rendered):
    assert default_render.find("Ingress", "ccx-wallboard") is None
    assert ha_render.find("Ingress", "ccx-wallboard") is None


def test_ingress_with_class_host_and_tls(chart):
    values = {"wallboard": {"ingress": {"enabled": True, "className": "nginx", "host": "wallboard.example.com",
                                        "annotations": {"nginx.ingress.kubernetes.io/proxy-buffering": "off"},
                                        "tls": {"secretName": "wallboard-tls"}}}}
    out = render(values, chart=chart)
    ing = out.get("Ingress", "ccx-wallboard")
    kv.validate(ing, KUBE_VERSION, strict=True)
    spec = ing["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["wallboard.example.com"], "secretName": "wallboard-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "wallboard.example.com"
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "ccx-wallboard", "port": {"name": "http"}}
    # server-sent events: buffering off is the operator's annotation to give, passed through
    assert ing["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/proxy-buffering": "off"}

    plain = render({"wallboard": {"ingress": {"enabled": True, "host": "wb.example.com"}}}, chart=chart)
    spec = plain.get("Ingress", "ccx-wallboard")["spec"]
    assert "tls" not in spec and "ingressClassName" not in spec


def test_ingress_needs_a_host(chart):
    with pytest.raises(helm.HelmRenderError, match="wallboard.ingress.host"):
        render({"wallboard": {"ingress": {"enabled": True}}}, chart=chart)


def test_network_policy_admits_the_configured_peers(chart):
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    out = render({"networkPolicy": {"wallboardFrom": peers}}, chart=chart)
    (rule,) = out.get("NetworkPolicy", "ccx-wallboard")["spec"]["ingress"]
    assert rule == {"ports": [{"port": "http", "protocol": "TCP"}], "from": peers}
    kv.validate(out.get("NetworkPolicy", "ccx-wallboard"), KUBE_VERSION, strict=True)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"wallboard": {"replicas": 0}}, "/wallboard/replicas"),
        ({"wallboard": {"service": {"port": 0}}}, "/wallboard/service/port"),
        ({"wallboard": {"service": {"port": 70000}}}, "/wallboard/service/port"),
        ({"wallboard": {"ingress": {"host": "Not A Host"}}}, "/wallboard/ingress/host"),
        ({"wallboard": {"ingress": {"tls": {"secret": "x"}}}}, "/wallboard/ingress/tls"),
        ({"wallboard": {"resources": {"limits": None}}}, "/wallboard/resources"),
        ({"wallboard": {"livenessProbe": {"path": "/"}}}, "/wallboard/livenessProbe"),
        ({"wallboard": {"replica": 2}}, "/wallboard"),
    ],
)
def test_schema_refuses_bad_wallboard_values(chart, values, where):
    with pytest.raises(helm.HelmValuesError) as err:
        chart.validate_schema(values)
    assert where in str(err.value), str(err.value)


def test_notes_name_the_wallboard(default_render: Rendered, chart):
    assert f"http://ccx-wallboard.{NAMESPACE}.svc:8090" in default_render.notes
    out = render({"wallboard": {"ingress": {"enabled": True, "host": "wb.example.com",
                                            "tls": {"secretName": "wb-tls"}}}}, chart=chart)
    assert "https://wb.example.com" in out.notes

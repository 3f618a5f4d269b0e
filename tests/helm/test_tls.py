"""TLS of the chart's workloads (collector.tls, control.tls, wallboard.tls): the paths the
config names are files of the Secrets mounted where the workload reads them, the probes and
the ServiceMonitor speak HTTPS where the listener does, and plaintext stays the default."""

from __future__ import annotations

import tomllib
from pathlib import PurePosixPath

import helm_python as helm
import pytest

from conftest import Rendered, render


def config_of(out: Rendered) -> dict:
    return tomllib.loads(out.get("ConfigMap", "ccx-config")["data"]["config.toml"])


def pod(out: Rendered, kind: str, name: str) -> tuple[dict, dict]:
    spec = out.get(kind, name)["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    return spec, c


def mounted_file(spec: dict, c: dict, path: str) -> tuple[str, str]:
    """The Secret and key a file path of the config comes from in this container."""
    p = PurePosixPath(path)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    mount = mounts[str(p.parent)]
    assert mount.get("readOnly") is True, path
    volume = {v["name"]: v for v in spec["volumes"]}[mount["name"]]
    secret = volume["secret"]
    items = {i["path"]: i["key"] for i in secret.get("items", [])}
    if items:
        assert p.name in items, path
        return secret["secretName"], items[p.name]
    return secret["secretName"], p.name


# What each workload reads of the TLS settings (the others' sections are not loaded by it).
READS = {
    ("Deployment", "ccx-collector"): ["collector.cert", "collector.key", "collector.client_ca", "control.ca"],
    ("StatefulSet", "ccx-control"): ["control.cert", "control.key", "control.client_ca", "control.ca"],
    ("StatefulSet", "ccx-stream"): ["stream.cert", "stream.key", "control.ca"],
    ("Deployment", "ccx-wallboard"): ["wallboard.cert", "wallboard.key", "control.ca"],
}


def tls_paths(config: dict) -> dict[str, str]:
    paths = {"control.ca": config["control"]["ca"]}
    for section in ("collector", "control", "stream", "wallboard"):
        for key, path in config[section].get("tls", {}).items():
            paths[f"{section}.{key}"] = path
    return paths


def test_every_tls_file_is_a_mounted_secret_key(ha_render: Rendered):
    config = config_of(ha_render)
    paths = tls_paths(config)
    assert paths == {
        "control.ca": "/etc/ccx/control-ca/ca.crt",
        "collector.cert": "/etc/ccx/tls/tls.crt",
        "collector.key": "/etc/ccx/tls/tls.key",
        "collector.client_ca": "/etc/ccx/collector-client-ca/ca.crt",
        "control.cert": "/etc/ccx/control-tls/tls.crt",
        "control.key": "/etc/ccx/control-tls/tls.key",
        "control.client_ca": "/etc/ccx/control-tls/ca.crt",
        "stream.cert": "/etc/ccx/stream-tls/tls.crt",
        "stream.key": "/etc/ccx/stream-tls/tls.key",
        "wallboard.cert": "/etc/ccx/wallboard-tls/tls.crt",
        "wallboard.key": "/etc/ccx/wallboard-tls/tls.key",
    }
    expected = {
        "collector.cert": ("ccx-collector-tls", "tls.crt"),
        "collector.key": ("ccx-collector-tls", "tls.key"),
        "collector.client_ca": ("ccx-sources-ca", "ca.crt"),
        "control.cert": ("ccx-control-tls", "tls.crt"),
        "control.key": ("ccx-control-tls", "tls.key"),
        "control.client_ca": ("ccx-control-tls", "ca.crt"),
        "control.ca": ("ccx-control-tls", "ca.crt"),
        "stream.cert": ("ccx-stream-tls", "tls.crt"),
        "stream.key": ("ccx-stream-tls", "tls.key"),
        "wallboard.cert": ("ccx-wallboard-tls", "tls.crt"),
        "wallboard.key": ("ccx-wallboard-tls", "tls.key"),
    }
    for (kind, name), reads in READS.items():
        spec, c = pod(ha_render, kind, name)
        for setting in reads:
            assert mounted_file(spec, c, paths[setting]) == expected[setting], (name, setting)
    # Only the replicas mount the replicas' private key; the others get the CA alone.
    for (kind, name) in READS:
        spec, c = pod(ha_render, kind, name)
        has_key = any(m["mountPath"] == "/etc/ccx/control-tls" for m in c["volumeMounts"])
        assert has_key == (name == "ccx-control"), name


def test_probes_follow_each_listener(ha_render: Rendered, default_render: Rendered):
    _, control = pod(ha_render, "StatefulSet", "ccx-control")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert control[probe]["httpGet"]["scheme"] == "HTTPS", probe
    # Client certificates required: the kubelet has none, so the TCP port is checked.
    for kind, name in (("Deployment", "ccx-collector"),):
        _, c = pod(ha_render, kind, name)
        assert c["livenessProbe"]["tcpSocket"] == {"port": "http"}
    _, stream = pod(ha_render, "StatefulSet", "ccx-stream")
    assert stream["startupProbe"]["httpGet"]["scheme"] == "HTTPS"
    _, wallboard = pod(ha_render, "Deployment", "ccx-wallboard")
    assert wallboard["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    for kind, name in (("Deployment", "ccx-collector"), ("StatefulSet", "ccx-control"),
                       ("Deployment", "ccx-wallboard")):
        _, c = pod(default_render, kind, name)
        assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTP", name


def endpoints_by_component(out: Rendered) -> dict[str, dict]:
    by_component = {}
    for e in out.of_kind("ServiceMonitor")[0]["spec"]["endpoints"]:
        keep = e["relabelings"][0]
        assert keep["action"] == "keep"
        by_component[keep["regex"]] = e
    return by_component


def test_service_monitor_scrapes_tls_listeners_over_https(ha_render: Rendered, chart):
    by_component = endpoints_by_component(ha_render)
    assert {c: e.get("scheme", "http") for c, e in by_component.items()} == {
        "collector": "https", "stream|control": "https"}
    mixed = render({"control": {"tls": {"enabled": True, "secretName": "c"}},
                    "metrics": {"serviceMonitor": {"enabled": True}}}, chart=chart)
    assert {c: e.get("scheme", "http") for c, e in endpoints_by_component(mixed).items()} == {
        "collector": "http", "stream": "http", "control": "https"}
    # The collector asks its clients for certificates: the scrape presents one.
    tls = by_component["collector"]["tlsConfig"]
    assert tls["cert"]["secret"] == {"name": "ccx-prometheus-client", "key": "tls.crt"}
    assert tls["keySecret"] == {"name": "ccx-prometheus-client", "key": "tls.key"}
    assert "cert" not in by_component["stream|control"]["tlsConfig"]
    values = {"collector": {"tls": {"enabled": True, "secretName": "x",
                                    "clientCaSecret": {"name": "ca", "key": "ca.crt"}}},
              "metrics": {"serviceMonitor": {"enabled": True}}}
    with pytest.raises(helm.errors.HelmError, match="collectorClientCertSecret is required"):
        render(values, chart=chart)


def test_plaintext_is_the_default(default_render: Rendered):
    config = config_of(default_render)
    assert all("tls" not in config[section] for section in ("collector", "control", "stream"))
    assert "ca" not in config["control"] and "wallboard" not in config


@pytest.mark.parametrize("section", ["control", "stream", "wallboard", "collector"])
def test_tls_without_a_secret_is_refused(chart, section):
    with pytest.raises(helm.errors.HelmError, match=f"{section}.tls.secretName is required"):
        render({section: {"tls": {"enabled": True}}}, chart=chart)

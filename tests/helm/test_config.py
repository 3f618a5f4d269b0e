"""The configuration files the chart hands to `ccx --config`: valid TOML, only keys of the
ccx config contract, secrets only in Secrets, every --config path mounted."""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import MINIMAL_VALUES, REPO, Rendered, render

# The ccx configuration contract (services/ccx-config): section -> keys.
CONTRACT: dict[str, set[str]] = {
    "collector": {"grpc_listen", "http_listen", "max_batch_events", "max_batch_bytes", "tls",
                  "sink", "drain_timeout"},
    "kafka": {"brokers", "topic", "partitions", "delivery_timeout", "properties"},
    "validation": {"max_past", "max_future"},
    "clickhouse": {"url", "failover_urls", "database", "user", "password", "cluster", "retention_days"},
    "stream": {"checkpoint_dir", "http_listen", "tls"},
    "control": {
        "endpoints", "data_dir", "grpc_listen", "http_listen", "ca", "tls", "operators", "services",
    },
    "wallboard": {"tls"},
    "tenants": {"id", "token_sha256"},
}
CONFIG_CRATE = REPO / "services" / "ccx-config" / "src"


def config_of(out: Rendered) -> dict[str, Any]:
    return tomllib.loads(out.get("ConfigMap", "ccx-config")["data"]["config.toml"])


def secret_of(out: Rendered) -> dict[str, Any]:
    data = out.get("Secret", "ccx-secret")["data"]["secret.toml"]
    return tomllib.loads(base64.b64decode(data).decode())


def assert_in_contract(doc: dict[str, Any]) -> None:
    for section, body in doc.items():
        assert section in CONTRACT, f"unknown section [{section}]"
        entries = body if isinstance(body, list) else [body]
        for entry in entries:
            unknown = set(entry) - CONTRACT[section]
            assert not unknown, f"[{section}] has unknown keys {unknown}"
    if "kafka" in doc and "properties" in doc["kafka"]:
        assert all(isinstance(v, str) for v in doc["kafka"]["properties"].values())


def test_contract_matches_the_config_crate():
    """Every key the chart may write is a field of the Rust config structs."""
    if not CONFIG_CRATE.exists():
        pytest.skip("services/ccx-config is not in this checkout")
    source = "\n".join(f.read_text() for f in sorted(CONFIG_CRATE.glob("*.rs")))
    structs = dict(re.findall(r"pub struct (\w+) \{(.*?)\n\}", source, re.S))
    fields = {name: set(re.findall(r"pub (\w+):", body)) for name, body in structs.items()}
    sections = dict(re.findall(r"pub (\w+): (?:Vec<)?(\w+)>?,", structs["Config"]))
    for section, keys in CONTRACT.items():
        assert keys <= fields[sections[section]], (section, keys - fields[sections[section]])


def test_default_config(default_render: Rendered):
    config = config_of(default_render)
    assert_in_contract(config)
    assert config["collector"]["grpc_listen"] == "0.0.0.0:50051"
    assert config["collector"]["http_listen"] == "0.0.0.0:8088"
    assert config["stream"]["http_listen"] == "0.0.0.0:9090"
    assert config["control"]["grpc_listen"] == "0.0.0.0:50061"
    assert config["control"]["http_listen"] == "0.0.0.0:9091"
    assert config["control"]["data_dir"] == "/var/lib/ccx/control"
    assert config["stream"]["checkpoint_dir"] == "/var/lib/ccx/stream"
    assert config["kafka"] == {
        "brokers": "kafka:9092", "topic": "ccx.events", "partitions": 12,
        "delivery_timeout": "5s", "properties": {},
    }
    assert "password" not in config["clickhouse"]
    assert "tenants" not in config
    assert secret_of(default_render) == {}


def test_ports_in_config_match_the_containers(any_render: Rendered):
    config = config_of(any_render)
    ports = {}
    for w in any_render.of_kind("Deployment") + any_render.of_kind("StatefulSet"):
        (c,) = w["spec"]["template"]["spec"]["containers"]
        ports[c["name"]] = {p["name"]: p["containerPort"] for p in c["ports"]}
    port = lambda addr: int(addr.rsplit(":", 1)[1])  # noqa: E731
    assert port(config["collector"]["grpc_listen"]) == ports["collector"]["grpc"]
    assert port(config["collector"]["http_listen"]) == ports["collector"]["http"]
    assert port(config["stream"]["http_listen"]) == ports["stream"]["http"]
    assert port(config["control"]["grpc_listen"]) == ports["control"]["grpc"]
    assert port(config["control"]["http_listen"]) == ports["control"]["http"]


def test_an_external_clickhouse_cluster(chart):
    values = {
        **MINIMAL_VALUES,
        "clickhouse": {
            **MINIMAL_VALUES.get("clickhouse", {}),
            "url": "http://ch-0.data.svc:8123",
            "failoverUrls": ["http://ch-1.data.svc:8123", "http://ch-2.data.svc:8123"],
            "cluster": {"name": "analytics", "replicated": True, "shards": 2},
            "retentionDays": {"queue_metrics_1m": 180, "events": 35},
        },
    }
    config = config_of(render(values, chart=chart))
    assert_in_contract(config)
    ch = config["clickhouse"]
    assert ch["failover_urls"] == ["http://ch-1.data.svc:8123", "http://ch-2.data.svc:8123"]
    assert ch["cluster"] == {"name": "analytics", "replicated": True, "shards": 2}
    assert ch["retention_days"] == {"events": 35, "queue_metrics_1m": 180}
    # The default is one server: no cluster section, no retention overrides.
    default = config_of(render(MINIMAL_VALUES, chart=chart))["clickhouse"]
    assert "cluster" not in default and "retention_days" not in default
    assert default["failover_urls"] == []
    with pytest.raises(Exception, match="shards"):
        render({**values, "clickhouse": {**values["clickhouse"], "cluster": {"name": "a", "replicated": True, "shards": 0}}}, chart=chart)


def test_secrets_are_escaped_and_kept_out_of_the_configmap(chart):
    out = render(MINIMAL_VALUES, chart=chart)
    config = config_of(out)
    secret = secret_of(out)
    assert_in_contract(config)
    assert_in_contract(secret)
    assert secret["tenants"] == [{"id": "tenant-0", "token_sha256": MINIMAL_VALUES["tenants"][0]["tokenSha256"]}]
    assert secret["kafka"]["properties"] == {"sasl.password": 'p"w\\d'}
    assert secret["clickhouse"] == {"password": "secret"}
    assert config["kafka"]["properties"] == {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "ccx",
    }
    for cm in out.of_kind("ConfigMap"):
        text = str(cm["data"])
        assert 'p"w' not in text and "secret\"" not in text


def test_ha_config_tls_sasl_and_credentials(ha_render: Rendered):
    config = config_of(ha_render)
    assert_in_contract(config)
    props = config["kafka"]["properties"]
    assert props == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "ccx",
        "ssl.ca.location": "/etc/ccx/kafka-ca/ca.crt",
        "linger.ms": "5",
        "compression.type": "lz4",
    }
    assert config["kafka"]["partitions"] == 48
    assert config["clickhouse"]["url"].startswith("https://")
    extra = tomllib.loads(ha_render.get("ConfigMap", "ccx-config")["data"]["extra.toml"])
    assert_in_contract(extra)
    # Credentials come from existing Secrets only: the chart renders none of its own.
    assert ha_render.find("Secret", "ccx-secret") is None
    assert ha_render.find("Secret", "ccx-migrate") is None
    for w in ha_render.workloads():
        (c,) = w["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in c["env"]}
        assert env["CCX__CLICKHOUSE__PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "clickhouse-ccx", "key": "password"}
        assert env["SSL_CERT_FILE"]["value"] == "/etc/ccx/clickhouse-ca/ca.crt"
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert Path(props["ssl.ca.location"]).parent.as_posix() in mounts


def config_paths(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "--config"]


def test_every_config_file_is_mounted(any_render: Rendered):
    """Each --config path is a key of the ConfigMap or Secret mounted at its directory."""
    for w in any_render.workloads():
        spec = w["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec["containers"]:
            paths = config_paths(c["args"])
            assert paths[0] == "/etc/ccx/config/config.toml"
            assert len(paths) >= 2, "the secret TOML is always the second layer or later"
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            for path in paths:
                directory, key = path.rsplit("/", 1)
                volume = volumes[mounts[directory]["name"]]
                assert mounts[directory].get("readOnly") is True
                if "configMap" in volume:
                    cm = any_render.get("ConfigMap", volume["configMap"]["name"])
                    assert key in cm["data"], path
                else:
                    secret = volume["secret"]
                    assert [i["path"] for i in secret["items"]] == [key], path
                    own = any_render.find("Secret", secret["secretName"])
                    if own is not None:
                        assert key in own["data"], path


def test_layer_order(ha_render: Rendered):
    (c,) = ha_render.get("Deployment", "ccx-collector")["spec"]["template"]["spec"]["containers"]
    assert config_paths(c["args"]) == [
        "/etc/ccx/config/config.toml",
        "/etc/ccx/config/extra.toml",
        "/etc/ccx/secret/secret.toml",
        "/etc/ccx/secret-0/kafka.toml",
    ]


def test_tenant_tokens_are_only_stored_hashed(chart):
    token_hash = "A" * 64
    out = render({"tenants": [{"id": "acme", "tokenSha256": token_hash}]}, chart=chart)
    (tenant,) = secret_of(out)["tenants"]
    assert tenant == {"id": "acme", "token_sha256": token_hash.lower()}
    assert re.fullmatch(r"[0-9a-f]{64}", tenant["token_sha256"])

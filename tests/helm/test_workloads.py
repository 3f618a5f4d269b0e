"""Invariants of the workloads: probes, resources, security, PDBs, the timely and raft peer
lists, the migration hook, services, autoscaling and network policies."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import NAMESPACE, Rendered, render

UID = 10001
LONG_RUNNING = ("Deployment", "StatefulSet")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def component_of(obj: dict[str, Any]) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def flag(args: list[str], name: str) -> str:
    """The value following --name in an argument list."""
    assert args.count(name) == 1, f"{name} must appear once in {args}"
    return args[args.index(name) + 1]


def test_every_container_has_probes_resources_and_security(any_render: Rendered):
    workloads = any_render.workloads()
    assert workloads
    for workload in workloads:
        for c in containers(workload):
            where = f"{workload['kind']}/{workload['metadata']['name']}/{c['name']}"
            res = c.get("resources", {})
            assert res.get("requests", {}).get("cpu") and res["requests"].get("memory"), where
            assert res.get("limits", {}).get("memory"), where
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["privileged"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            if workload["kind"] in LONG_RUNNING:
                # A one-shot Job has nothing to probe; every service does. A listener that asks
                # every client for a certificate is probed on its TCP port (tests/helm/test_tls.py).
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    if "httpGet" in c[probe]:
                        assert c[probe]["httpGet"]["path"] == path, where
                    else:
                        assert c[probe]["tcpSocket"] == {"port": "http"}, where
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                    if probe in c:
                        action = c[probe].get("httpGet") or c[probe]["tcpSocket"]
                        assert action["port"] in ports, f"{where} {probe}"


def test_pods_run_as_the_image_user(any_render: Rendered):
    for workload in any_render.workloads():
        spec = pod_spec(workload)
        sc = spec["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["runAsUser"] == UID and sc["runAsGroup"] == UID and sc["fsGroup"] == UID
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in containers(workload):
            assert c["securityContext"]["runAsUser"] == UID
            # The root filesystem is read-only: /tmp is an emptyDir.
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


def test_expected_workloads(default_render: Rendered):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in default_render.workloads()}
    assert kinds == {
        ("Deployment", "ccx-collector"),
        ("Deployment", "ccx-wallboard"),
        ("StatefulSet", "ccx-stream"),
        ("StatefulSet", "ccx-control"),
        ("Job", "ccx-migrate"),
    }
    control = default_render.get("StatefulSet", "ccx-control")
    assert control["spec"]["replicas"] == 3


def test_disruption_budgets(any_render: Rendered):
    pdbs = {component_of(p): p for p in any_render.of_kind("PodDisruptionBudget")}
    assert set(pdbs) == {"collector", "stream", "control"}
    assert pdbs["control"]["spec"]["maxUnavailable"] == 1
    for component, pdb in pdbs.items():
        selector = pdb["spec"]["selector"]["matchLabels"]
        selected = [
            w for w in any_render.of_kind("Deployment") + any_render.of_kind("StatefulSet")
            if matches(selector, w["spec"]["template"]["metadata"]["labels"])
        ]
        assert [component_of(w) for w in selected] == [component], component


@pytest.mark.parametrize("replicas, workers", [(1, 1), (2, 2), (3, 4), (7, 2)])
def test_stream_peer_list_matches_replicas(chart, replicas, workers):
    out = render({"stream": {"replicas": replicas, "workers": workers}}, chart=chart)
    check_stream(out, replicas, workers)


def test_stream_in_ha_values(ha_render: Rendered):
    check_stream(ha_render, 4, 4)
    sts = ha_render.get("StatefulSet", "ccx-stream")
    volumes = {v["name"]: v for v in pod_spec(sts)["volumes"]}
    # A shared claim: any process can read any partition's checkpoint after a rescale.
    assert volumes["checkpoints"]["persistentVolumeClaim"]["claimName"] == "ccx-stream-checkpoints"
    assert "volumeClaimTemplates" not in sts["spec"]


def check_stream(out: Rendered, replicas: int, workers: int) -> None:
    sts = out.get("StatefulSet", "ccx-stream")
    headless = out.get("Service", "ccx-stream-headless")
    spec = sts["spec"]
    assert spec["replicas"] == replicas
    assert spec["serviceName"] == "ccx-stream-headless"
    assert spec["podManagementPolicy"] == "Parallel"
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert matches(headless["spec"]["selector"], spec["template"]["metadata"]["labels"])
    (c,) = pod_spec(sts)["containers"]
    args = c["args"]
    assert args[0] == "stream"
    assert flag(args, "--processes") == str(replicas)
    assert flag(args, "--workers") == str(workers)
    peers = flag(args, "--peers").split(",")
    assert peers == [
        f"ccx-stream-{i}.ccx-stream-headless.{NAMESPACE}.svc.cluster.local:2101" for i in range(replicas)
    ]
    peer_port = next(p for p in c["ports"] if p["name"] == "timely")
    assert peer_port["containerPort"] == 2101
    assert any(p["name"] == "timely" and p["port"] == 2101 for p in headless["spec"]["ports"])
    # The process id is the pod ordinal, from the pod-index label.
    assert flag(args, "--process-id") == "$(CCX_POD_INDEX)"
    env = {e["name"]: e for e in c["env"]}
    assert env["CCX_POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["checkpoints"] == "/var/lib/ccx/stream"


def test_stream_ordinal_from_hostname(chart):
    out = render({"ordinalSource": "hostname", "stream": {"replicas": 3}}, chart=chart)
    (c,) = pod_spec(out.get("StatefulSet", "ccx-stream"))["containers"]
    assert c["command"][:2] == ["/bin/sh", "-c"]
    script = c["command"][2]
    # `$$` is Kubernetes' escape for a literal `$`: the shell sees $(( ... )).
    assert script == 'exec ccx "$@" --process-id "$$(( ${HOSTNAME##*-} + 0 ))"'
    assert c["command"][3] == "ccx"  # $0 of the script; "$@" is the args list
    assert c["args"][0] == "stream" and "--process-id" not in c["args"]
    assert len(flag(c["args"], "--peers").split(",")) == 3
    assert "CCX_POD_INDEX" not in {e["name"] for e in c["env"]}


def test_stream_rollout_is_operator_driven_by_default(default_render: Rendered):
    sts = default_render.get("StatefulSet", "ccx-stream")
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert "delete pod" in default_render.notes


@pytest.mark.parametrize("replicas", [1, 3, 5])
def test_control_peers_and_ids(chart, replicas):
    out = render({"control": {"replicas": replicas}}, chart=chart)
    sts = out.get("StatefulSet", "ccx-control")
    headless = out.get("Service", "ccx-control-headless")
    spec = sts["spec"]
    assert spec["replicas"] == replicas
    assert spec["serviceName"] == "ccx-control-headless"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    (c,) = pod_spec(sts)["containers"]
    assert c["args"][0] == "control"
    peers = flag(c["args"], "--peers").split(",")
    assert peers == [
        f"{i + 1}=ccx-control-{i}.ccx-control-headless.{NAMESPACE}.svc.cluster.local:50061" for i in range(replicas)
    ]
    # Raft ids are non-zero: ordinal i runs as id i + 1.
    assert c["command"][2] == 'exec ccx "$@" --id "$$(( ${CCX_POD_INDEX} + 1 ))"'
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert {"name": "data", "mountPath": "/var/lib/ccx/control"} in c["volumeMounts"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenScaled": "Retain", "whenDeleted": "Retain"}


def test_control_ids_without_a_shell(chart):
    out = render({"control": {"idBase": 0}}, chart=chart)
    (c,) = pod_spec(out.get("StatefulSet", "ccx-control"))["containers"]
    assert "command" not in c
    assert flag(c["args"], "--id") == "$(CCX_POD_INDEX)"


def test_migrate_runs_as_a_hook_before_install_and_upgrade(any_render: Rendered):
    job = any_render.get("Job", "ccx-migrate")
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    spec = pod_spec(job)
    assert spec["restartPolicy"] == "Never"
    (c,) = spec["containers"]
    assert c["args"][0] == "migrate"
    # It reads hook objects created before it (lower weight); the release's own ConfigMap
    # and Secret do not exist yet at pre-install.
    volumes = {v["name"]: v for v in spec["volumes"]}
    cm = any_render.get("ConfigMap", volumes["config"]["configMap"]["name"])
    assert cm["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(cm["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])
    main_cm = any_render.get("ConfigMap", "ccx-config")
    assert cm["data"] == main_cm["data"]
    secret_name = volumes["secret"]["secret"]["secretName"]
    existing = (any_render.values.get("secret") or {}).get("existingSecret")
    if existing:
        assert secret_name == existing
        assert any_render.find("Secret", "ccx-secret") is None
    else:
        secret = any_render.get("Secret", secret_name)
        assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert secret["data"] == any_render.get("Secret", "ccx-secret")["data"]
    if (any_render.values.get("serviceAccount") or {}).get("create", True):
        assert "serviceAccountName" not in spec


def test_services_select_their_pods(any_render: Rendered):
    pods = {
        component_of(w): w["spec"]["template"]
        for w in any_render.of_kind("Deployment") + any_render.of_kind("StatefulSet")
    }
    for svc in any_render.of_kind("Service"):
        component = component_of(svc)
        template = pods[component]
        assert matches(svc["spec"]["selector"], template["metadata"]["labels"]), svc["metadata"]["name"]
        for other, tmpl in pods.items():
            if other != component:
                assert not matches(svc["spec"]["selector"], tmpl["metadata"]["labels"])
        port_names = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, (svc["metadata"]["name"], port)


def test_collector_ports_and_autoscaling(default_render: Rendered, chart):
    dep = default_render.get("Deployment", "ccx-collector")
    assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    (c,) = pod_spec(dep)["containers"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"grpc": 50051, "http": 8088}
    assert c["args"][0] == "collector"
    hpa = default_render.get("HorizontalPodAutoscaler", "ccx-collector")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ccx-collector"}
    assert hpa["spec"]["minReplicas"] >= 2
    fixed = render({"collector": {"autoscaling": {"enabled": False}, "replicas": 4}}, chart=chart)
    assert fixed.get("Deployment", "ccx-collector")["spec"]["replicas"] == 4
    assert fixed.of_kind("HorizontalPodAutoscaler") == []


def test_anti_affinity_presets(default_render: Rendered, ha_render: Rendered):
    for name in ("ccx-collector", "ccx-stream", "ccx-control"):
        kind = "Deployment" if name == "ccx-collector" else "StatefulSet"
        soft = pod_spec(default_render.get(kind, name))["affinity"]["podAntiAffinity"]
        assert "preferredDuringSchedulingIgnoredDuringExecution" in soft
        hard = pod_spec(ha_render.get(kind, name))["affinity"]["podAntiAffinity"]
        (term,) = hard["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == name.removeprefix("ccx-")


def test_config_changes_roll_the_pods(chart):
    before = render(None, chart=chart).get("Deployment", "ccx-collector")
    after = render({"kafka": {"topic": "other"}}, chart=chart).get("Deployment", "ccx-collector")
    key = "checksum/config"
    assert before["spec"]["template"]["metadata"]["annotations"][key] != \
        after["spec"]["template"]["metadata"]["annotations"][key]


def test_network_policies(default_render: Rendered, ha_render: Rendered):
    for out in (default_render, ha_render):
        policies = {component_of(p): p for p in out.of_kind("NetworkPolicy")}
        assert {"collector", "stream", "control", "wallboard"} <= set(policies)
        for component in ("collector", "stream", "control", "wallboard"):
            selector = policies[component]["spec"]["podSelector"]["matchLabels"]
            assert selector["app.kubernetes.io/component"] == component
        stream_in = policies["stream"]["spec"]["ingress"]
        timely = next(r for r in stream_in if r["ports"][0]["port"] == "timely")
        assert timely["from"] == [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "ccx", "app.kubernetes.io/instance": "ccx",
            "app.kubernetes.io/component": "stream"}}}]
    assert all("Egress" not in p["spec"]["policyTypes"] for p in default_render.of_kind("NetworkPolicy"))
    for policy in ha_render.of_kind("NetworkPolicy"):
        assert "Egress" in policy["spec"]["policyTypes"]
        egress = policy["spec"]["egress"]
        assert {"port": 53, "protocol": "UDP"} in egress[0]["ports"]
        assert any(p["port"] == 9093 for rule in egress for p in rule.get("ports", []))
    migrate = ha_render.get("NetworkPolicy", "ccx-migrate")
    assert migrate["spec"]["ingress"] == []


def test_service_account(default_render: Rendered, ha_render: Rendered):
    sa = default_render.get("ServiceAccount", "ccx")
    assert sa["automountServiceAccountToken"] is False
    for w in default_render.of_kind("Deployment") + default_render.of_kind("StatefulSet"):
        assert pod_spec(w)["serviceAccountName"] == "ccx"


def test_image_reference(default_render: Rendered, ha_render: Rendered):
    for w in default_render.workloads():
        for c in containers(w):
            assert c["image"] == "ccx:0.1.0"
    for w in ha_render.workloads():
        for c in containers(w):
            assert re.fullmatch(r"registry\.example\.internal/ccx/ccx@sha256:[0-9a-f]{64}", c["image"])

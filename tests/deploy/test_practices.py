"""The production practices, object by object, in the rendered prod overlay: availability,
probes, resources, the restricted pod security profile, graceful shutdown, network and RBAC
least privilege, and registration the aggregator verifies."""

from __future__ import annotations

import pytest

from surge.cli import build_parser
from tests.deploy.manifests import (
    NAMESPACE,
    Obj,
    Rendered,
    container,
    flags,
    pod_spec,
    prestop_seconds,
    selects,
)

HEALTH = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}


@pytest.fixture(scope="module")
def surge(prod: Rendered) -> Obj:
    return prod.get("Deployment", "surge", NAMESPACE)


@pytest.fixture(scope="module")
def args(surge: Obj) -> dict[str, str]:
    return flags(container(surge, "surge"))


def _cpu_millis(q: str) -> float:
    return float(q[:-1]) if q.endswith("m") else float(q) * 1000


def _bytes(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return float(q[:-2]) * units[q[-2:]] if q[-2:] in units else float(q)


def test_surge_accepts_every_flag_the_manifests_pass(args: dict[str, str]) -> None:
    parsed = build_parser().parse_args(["serve", *(f"{f}={v}" for f, v in args.items())])
    assert parsed.command == "serve"
    # Production authenticates every caller: the demo-only switch is never passed.
    assert not parsed.insecure_skip_auth
    # The kubelet probes without credentials: the health paths must need none.
    assert set(HEALTH.values()) <= set(parsed.authorization_always_allow_paths)


def test_replicas_spread_over_nodes_and_zones(surge: Obj) -> None:
    assert surge["spec"]["replicas"] >= 2
    labels = surge["spec"]["template"]["metadata"]["labels"]
    spec = pod_spec(surge)
    terms = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    hostname = [t for t in terms if t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"]
    assert hostname and selects(
        hostname[0]["podAffinityTerm"]["labelSelector"]["matchLabels"], labels
    )
    (zone,) = spec["topologySpreadConstraints"]
    assert zone["topologyKey"] == "topology.kubernetes.io/zone"
    assert selects(zone["labelSelector"]["matchLabels"], labels)
    # Rolling updates never take a serving replica away first.
    assert surge["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_probes_hit_the_health_endpoints_over_https(surge: Obj, args: dict[str, str]) -> None:
    c = container(surge, "surge")
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe, path in HEALTH.items():
        get = c[probe]["httpGet"]
        assert (get["path"], get["scheme"]) == (path, "HTTPS"), probe
        assert ports[get["port"]] == int(args["--secure-port"]), probe
    # Startup may take as long as the first series listing; liveness never kills a slow start.
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_requests_and_limits_are_set_and_consistent(surge: Obj) -> None:
    resources = container(surge, "surge")["resources"]
    for resource, parse in (("cpu", _cpu_millis), ("memory", _bytes)):
        request, limit = resources["requests"][resource], resources["limits"][resource]
        assert 0 < parse(request) <= parse(limit), resource


def test_pod_meets_the_restricted_pod_security_standard(prod: Rendered, surge: Obj) -> None:
    spec = pod_spec(surge)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
    for c in spec["containers"]:
        ctx = c["securityContext"]
        assert ctx["runAsNonRoot"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"]["drop"] == ["ALL"] and not ctx["capabilities"].get("add")
        assert ctx.get("seccompProfile", pod["seccompProfile"])["type"] == "RuntimeDefault"
        assert not ctx.get("privileged")
    namespace = prod.get("Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_read_only_root_has_a_writable_tmp(surge: Obj) -> None:
    spec = pod_spec(surge)
    mounts = {m["mountPath"]: m for m in container(surge, "surge")["volumeMounts"]}
    tmp = mounts["/tmp"]
    volume = next(v for v in spec["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume and not tmp.get("readOnly")
    # Everything else mounted is read-only input (rules, certificate).
    assert all(m.get("readOnly") for path, m in mounts.items() if path != "/tmp")


def test_shutdown_drains_within_the_grace_period(surge: Obj, args: dict[str, str]) -> None:
    c = container(surge, "surge")
    parsed = build_parser().parse_args(["serve", *(f"{f}={v}" for f, v in args.items())])
    # Surge exits within --shutdown-grace-period of SIGTERM, which comes after preStop.
    grace = pod_spec(surge)["terminationGracePeriodSeconds"]
    assert prestop_seconds(c) > 0
    assert prestop_seconds(c) + parsed.shutdown_grace_period < grace
    assert parsed.shutdown_delay_duration < parsed.shutdown_grace_period


def test_logs_are_json(args: dict[str, str]) -> None:
    assert args["--log-format"] == "json"


def test_disruption_budget_lets_one_replica_go(prod: Rendered, surge: Obj) -> None:
    pdb = prod.get("PodDisruptionBudget", "surge", NAMESPACE)["spec"]
    replicas = surge["spec"]["replicas"]
    if "maxUnavailable" in pdb:
        allowed = pdb["maxUnavailable"]
    else:
        allowed = replicas - pdb["minAvailable"]
    assert 1 <= allowed < replicas, "drains must proceed, and never take every replica"


def test_network_policy_admits_only_the_secure_port(prod: Rendered, args: dict[str, str]) -> None:
    spec = prod.get("NetworkPolicy", "surge", NAMESPACE)["spec"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    ingress_ports = [p for rule in spec["ingress"] for p in rule["ports"]]
    assert ingress_ports == [{"protocol": "TCP", "port": int(args["--secure-port"])}]
    egress = {(p["protocol"], p["port"]) for rule in spec["egress"] for p in rule["ports"]}
    assert egress == {("TCP", 9090), ("TCP", 443), ("TCP", 6443), ("UDP", 53), ("TCP", 53)}
    dns = [r for r in spec["egress"] if {"protocol": "UDP", "port": 53} in r["ports"]]
    assert dns[0]["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_object_reader_is_list_and_watch_of_what_the_index_needs(prod: Rendered) -> None:
    role = prod.get("ClusterRole", "surge-object-reader")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    wanted = {
        ("", "pods"),
        ("", "namespaces"),
        ("", "nodes"),
        ("", "services"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
    }
    assert granted == {(g, r, v) for g, r in wanted for v in ("list", "watch")}


def test_surge_account_holds_exactly_its_grants(prod: Rendered) -> None:
    subject = {"kind": "ServiceAccount", "name": "surge", "namespace": NAMESPACE}
    bound = {
        (b["kind"], b["metadata"].get("namespace"), b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in prod.all("ClusterRoleBinding") + prod.all("RoleBinding")
        if subject in b["subjects"]
    }
    assert bound == {
        ("ClusterRoleBinding", None, "ClusterRole", "surge-object-reader"),
        ("ClusterRoleBinding", None, "ClusterRole", "system:auth-delegator"),
        ("RoleBinding", "kube-system", "Role", "extension-apiserver-authentication-reader"),
    }


def test_hpa_controller_may_read_the_metrics_apis_and_nothing_more(prod: Rendered) -> None:
    binding = prod.get("ClusterRoleBinding", "surge-hpa-metrics-reader")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"}
    ]
    role = prod.get("ClusterRole", binding["roleRef"]["name"])
    (rule,) = role["rules"]
    assert sorted(rule["apiGroups"]) == ["custom.metrics.k8s.io", "external.metrics.k8s.io"]
    assert sorted(rule["verbs"]) == ["get", "list"]


def test_no_role_grants_secrets_or_writes(prod: Rendered) -> None:
    for role in prod.all("ClusterRole") + prod.all("Role"):
        for rule in role["rules"]:
            assert "secrets" not in rule.get("resources", []), role["metadata"]["name"]
            assert not set(rule["verbs"]) & {"create", "update", "patch", "delete", "*"}


@pytest.mark.parametrize(
    ("name", "version_priority"),
    [
        ("v1beta1.custom.metrics.k8s.io", 100),
        ("v1beta2.custom.metrics.k8s.io", 200),
        ("v1beta1.external.metrics.k8s.io", 100),
    ],
)
def test_apiservices_are_verified_and_prioritised(
    prod: Rendered, dev: Rendered, name: str, version_priority: int
) -> None:
    for rendered in (prod, dev):
        spec = rendered.get("APIService", name)["spec"]
        assert spec["groupPriorityMinimum"] == 100
        assert spec["versionPriority"] == version_priority
        assert not spec.get("insecureSkipTLSVerify")
        # The CA comes from cert-manager (prod) or make-certs.sh (dev), never a stale literal.
        assert "caBundle" not in spec

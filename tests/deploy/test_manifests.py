"""Both overlays render, every object is well formed, and every reference between objects
resolves (names, namespaces, ports, labels, mounted keys, flags pointing at mounts)."""

from __future__ import annotations

import re
import tomllib
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.manifests import (
    CLUSTER_SCOPED,
    CRD_KINDS,
    DEPLOY,
    NAMESPACE,
    ROOT,
    Obj,
    Rendered,
    container,
    flags,
    kustomize,
    pod_spec,
    selects,
    walk_files,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# RBAC object names are path segments, so ':' is allowed (system:auth-delegator and the like).
RBAC_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$")
# Objects Kubernetes itself provides, which the manifests may reference without creating.
BUILTIN_ROLES = {("ClusterRole", None, "system:auth-delegator")} | {
    ("Role", "kube-system", "extension-apiserver-authentication-reader")
}
BUILTIN_SERVICE_ACCOUNTS = {("kube-system", "horizontal-pod-autoscaler")}
APISERVICES = {
    "v1beta1.custom.metrics.k8s.io",
    "v1beta2.custom.metrics.k8s.io",
    "v1beta1.external.metrics.k8s.io",
}


def _surge(r: Rendered) -> Obj:
    return r.get("Deployment", "surge", NAMESPACE)


def _mounted_file(deployment: Obj, path: str) -> tuple[Obj, str]:
    """The volume and the key a file path in the Surge container resolves to."""
    c = container(deployment, "surge")
    target = PurePosixPath(path)
    for mount in c["volumeMounts"]:
        if target.parent == PurePosixPath(mount["mountPath"]):
            volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"])
            return volume, target.name
    raise AssertionError(f"{path} is not in any mounted volume")


def test_every_object_is_well_formed(overlay: Rendered) -> None:
    seen: set[tuple[str, str | None, str]] = set()
    for o in overlay.objects:
        assert {"apiVersion", "kind", "metadata"} <= o.keys(), o
        kind, meta = o["kind"], o["metadata"]
        name, namespace = meta["name"], meta.get("namespace")
        key = (kind, namespace, name)
        assert key not in seen, f"{key} rendered twice"
        seen.add(key)
        if kind in CLUSTER_SCOPED:
            assert namespace is None, f"{kind} {name} is cluster-scoped but names a namespace"
        else:
            assert namespace, f"{kind} {name} is namespaced but has no namespace"
        pattern = RBAC_NAME if kind.endswith(("Role", "RoleBinding")) else DNS_SUBDOMAIN
        assert pattern.match(name) and len(name) <= 253, f"{kind} name {name!r} is invalid"
        if kind in ("Service", "Namespace"):
            assert DNS_LABEL.match(name) and len(name) <= 63, f"{kind} name {name!r} is invalid"
        assert meta.get("labels", {}).get("app.kubernetes.io/part-of") == "surge", key


def test_objects_live_in_surges_namespace_except_the_kube_system_grant(overlay: Rendered) -> None:
    assert overlay.find("Namespace", NAMESPACE) is not None
    elsewhere = {
        (o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
        for o in overlay.objects
        if o["metadata"].get("namespace") not in (None, NAMESPACE)
    }
    assert elsewhere == {("RoleBinding", "kube-system", "surge-auth-reader")}


def test_dev_needs_no_crds_and_prod_only_from_components(dev: Rendered, prod: Rendered) -> None:
    assert not [o for o in dev.objects if o["kind"] in CRD_KINDS]
    assert {o["kind"] for o in prod.objects} >= {
        "ServiceMonitor",
        "PrometheusRule",
        "Certificate",
        "Issuer",
    }
    # CRD objects are declared only where a component or optional folder can be left out.
    optional = [DEPLOY / "cert-manager", DEPLOY / "monitoring", DEPLOY / "examples"]
    for path in walk_files(DEPLOY):
        if path.suffix != ".yaml" or path.name.endswith(".test.yaml"):
            continue
        if path.is_relative_to(DEPLOY / "helm" / "surge" / "templates"):
            continue  # Go templates, not YAML; their CRD objects are behind values
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in CRD_KINDS:
                assert any(path.is_relative_to(o) for o in optional), (
                    f"{path.relative_to(ROOT)} declares a {doc['kind']} outside a component"
                )


def test_the_base_alone_renders_without_crds() -> None:
    objects = kustomize(DEPLOY / "base")
    assert objects and not [o for o in objects if o["kind"] in CRD_KINDS]


def test_service_accounts_and_roles_referenced_exist(overlay: Rendered) -> None:
    deployment = _surge(overlay)
    account = pod_spec(deployment)["serviceAccountName"]
    assert overlay.find("ServiceAccount", account, NAMESPACE) is not None
    for binding in overlay.all("RoleBinding") + overlay.all("ClusterRoleBinding"):
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        role_ns = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
        assert (
            overlay.find(ref["kind"], ref["name"], role_ns) is not None
            or (ref["kind"], role_ns, ref["name"]) in BUILTIN_ROLES
        ), f"{binding['metadata']['name']} binds a missing {ref['kind']} {ref['name']}"
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            key = (subject["namespace"], subject["name"])
            assert (
                overlay.find("ServiceAccount", subject["name"], subject["namespace"]) is not None
                or key in BUILTIN_SERVICE_ACCOUNTS
            ), f"{binding['metadata']['name']} binds a missing ServiceAccount {key}"


def test_rules_configmap_is_hash_named_and_holds_the_seed_rules(overlay: Rendered) -> None:
    deployment = _surge(overlay)
    volume, key = _mounted_file(deployment, flags(container(deployment, "surge"))["--config"])
    name = volume["configMap"]["name"]
    # The generator's hash suffix: a change of rules renames it and rolls the pods.
    assert re.fullmatch(r"surge-rules-[a-z0-9]{10}", name), name
    configmap = overlay.get("ConfigMap", name, NAMESPACE)
    source = (DEPLOY / "config" / "seed-rules.yaml").read_text()
    assert configmap["data"][key] == source


def test_rules_configmap_name_follows_its_content(tmp_path) -> None:
    """Edit the rules: the generated name, and so the pod template, changes."""
    config = tmp_path / "config"
    config.mkdir()
    generator = (DEPLOY / "config" / "kustomization.yaml").read_text()
    (config / "kustomization.yaml").write_text(generator)
    rules = (DEPLOY / "config" / "seed-rules.yaml").read_text()
    (config / "seed-rules.yaml").write_text(rules)
    before = kustomize(config)[0]["metadata"]["name"]
    (config / "seed-rules.yaml").write_text(rules + "# edited\n")
    after = kustomize(config)[0]["metadata"]["name"]
    assert (
        before != after and before.startswith("surge-rules-") and after.startswith("surge-rules-")
    )


def test_tls_flags_point_at_the_serving_secret(overlay: Rendered) -> None:
    deployment = _surge(overlay)
    args = flags(container(deployment, "surge"))
    cert_volume, cert_key = _mounted_file(deployment, args["--tls-cert-file"])
    key_volume, key_key = _mounted_file(deployment, args["--tls-private-key-file"])
    assert cert_volume is key_volume
    assert (cert_key, key_key) == ("tls.crt", "tls.key")
    assert cert_volume["secret"]["secretName"] == "surge-serving-cert"


def test_prod_certificate_fills_the_secret_the_pod_mounts(prod: Rendered) -> None:
    deployment = _surge(prod)
    volume, _ = _mounted_file(deployment, flags(container(deployment, "surge"))["--tls-cert-file"])
    secret = volume["secret"]["secretName"]
    serving = next(c for c in prod.all("Certificate") if c["spec"]["secretName"] == secret)
    assert serving["metadata"]["namespace"] == NAMESPACE
    # Issuer chain: serving <- CA issuer <- CA certificate <- self-signed issuer.
    ca_issuer = prod.get("Issuer", serving["spec"]["issuerRef"]["name"], NAMESPACE)
    ca_cert = next(
        c
        for c in prod.all("Certificate")
        if c["spec"]["secretName"] == ca_issuer["spec"]["ca"]["secretName"]
    )
    assert ca_cert["spec"]["isCA"] is True
    root = prod.get("Issuer", ca_cert["spec"]["issuerRef"]["name"], NAMESPACE)
    assert "selfSigned" in root["spec"]
    for apiservice in prod.all("APIService"):
        injected = apiservice["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        assert injected == f"{NAMESPACE}/{serving['metadata']['name']}"
        svc = apiservice["spec"]["service"]
        assert f"{svc['name']}.{svc['namespace']}.svc" in serving["spec"]["dnsNames"]


def test_service_selects_the_pods_on_the_secure_port(overlay: Rendered) -> None:
    deployment = _surge(overlay)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], labels)
    service = overlay.get("Service", "surge", NAMESPACE)
    assert selects(service["spec"]["selector"], labels)
    c = container(deployment, "surge")
    secure_port = int(flags(c)["--secure-port"])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    (https,) = service["spec"]["ports"]
    assert https["port"] == 443
    assert ports[https["targetPort"]] == secure_port


def test_apiservices_point_at_surges_service(overlay: Rendered) -> None:
    assert {a["metadata"]["name"] for a in overlay.all("APIService")} == APISERVICES
    for apiservice in overlay.all("APIService"):
        spec = apiservice["spec"]
        assert apiservice["metadata"]["name"] == f"{spec['version']}.{spec['group']}"
        ref = spec["service"]
        service = overlay.get("Service", ref["name"], ref["namespace"])
        assert ref["port"] in [p["port"] for p in service["spec"]["ports"]]


def test_pdb_and_networkpolicy_select_surges_pods(overlay: Rendered) -> None:
    labels = _surge(overlay)["spec"]["template"]["metadata"]["labels"]
    pdb = overlay.get("PodDisruptionBudget", "surge", NAMESPACE)
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    policy = overlay.get("NetworkPolicy", "surge", NAMESPACE)
    assert selects(policy["spec"]["podSelector"]["matchLabels"], labels)


def test_servicemonitor_scrapes_surge_with_a_token_and_its_ca(prod: Rendered) -> None:
    monitor = prod.get("ServiceMonitor", "surge", NAMESPACE)
    service = prod.get("Service", "surge", NAMESPACE)
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert (endpoint["scheme"], endpoint["path"]) == ("https", "/metrics")
    # The bearer token: a service-account token Secret of an account allowed GET /metrics.
    token = endpoint["authorization"]["credentials"]
    secret = prod.get("Secret", token["name"], NAMESPACE)
    assert secret["type"] == "kubernetes.io/service-account-token" and token["key"] == "token"
    account = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    assert prod.find("ServiceAccount", account, NAMESPACE) is not None
    granted = [
        prod.get("ClusterRole", b["roleRef"]["name"])
        for b in prod.all("ClusterRoleBinding")
        if {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE} in b["subjects"]
    ]
    assert [r["rules"] for r in granted] == [[{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]]
    # TLS verified against the CA the serving Secret carries, under the Service's DNS name.
    tls = endpoint["tlsConfig"]
    assert tls["ca"]["secret"] == {"name": "surge-serving-cert", "key": "ca.crt"}
    assert tls["serverName"] == f"surge.{NAMESPACE}.svc"
    assert "insecureSkipVerify" not in tls


def test_networkpolicy_egress_reaches_the_configured_prometheus(overlay: Rendered) -> None:
    url = urlsplit(flags(container(_surge(overlay), "surge"))["--prometheus-url"])
    service, namespace, *_ = url.hostname.split(".")
    assert (service, namespace) == ("prometheus-operated", "monitoring")
    policy = overlay.get("NetworkPolicy", "surge", NAMESPACE)
    to_prometheus = [
        rule
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        if peer.get("namespaceSelector", {}).get("matchLabels")
        == {"kubernetes.io/metadata.name": namespace}
    ]
    assert [p["port"] for rule in to_prometheus for p in rule["ports"]] == [url.port]


def test_images_are_tagged_per_overlay(dev: Rendered, prod: Rendered) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container(_surge(dev), "surge")["image"] == "surge:dev"
    image = container(_surge(prod), "surge")["image"]
    name, _, tag = image.rpartition(":")
    assert name.endswith("/surge") and tag == version


@pytest.mark.parametrize(
    ("overlay_name", "replicas", "log_level"), [("dev", 1, "debug"), ("prod", 3, "info")]
)
def test_overlays_differ_where_they_should(
    overlay_name: str, replicas: int, log_level: str, dev: Rendered, prod: Rendered
) -> None:
    rendered = {"dev": dev, "prod": prod}[overlay_name]
    deployment = _surge(rendered)
    assert deployment["spec"]["replicas"] == replicas
    assert flags(container(deployment, "surge"))["--log-level"] == log_level
    has_cert_manager = bool(rendered.all("Certificate"))
    assert has_cert_manager is (overlay_name == "prod")

"""deploy/helm/surge, rendered by the real helm (built from the Go module proxy): lint-clean,
one source of truth for the rules with deploy/config, and a prometheus-adapter chart values
file renders the Surge of deploy/overlays/resource-metrics."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from surge.cli import build_parser
from tests.deploy.manifests import DEPLOY, NAMESPACE, ROOT, Obj, Rendered, container, render
from tests.support.tools import tool_bin

CHART = DEPLOY / "helm" / "surge"
PA_VALUES = DEPLOY / "helm" / "examples" / "from-prometheus-adapter.yaml"
RELEASE = "surge"
MIGRATION = ROOT / "docs" / "migration-from-prometheus-adapter.md"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool_bin("helm") / "helm"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def template(*args: str) -> Rendered:
    """`helm template surge CHART -n surge-system ARGS`; fails the test with helm's stderr."""
    run = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert run.returncode == 0, f"helm template {' '.join(args)} failed:\n{run.stderr}"
    return Rendered(CHART, [doc for doc in yaml.safe_load_all(run.stdout) if doc])


def template_error(*args: str) -> str:
    run = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert run.returncode != 0, f"helm template {' '.join(args)} rendered, expected an error"
    return run.stderr


@pytest.fixture(scope="module")
def defaults() -> Rendered:
    return template()


@pytest.fixture(scope="module")
def from_pa() -> Rendered:
    return template("-f", str(PA_VALUES))


@pytest.fixture(scope="module")
def overlay() -> Rendered:
    return render("overlays/resource-metrics")


def rules_of(rendered: Rendered) -> Any:
    """The rules file Surge serves: the ConfigMap the Deployment mounts, parsed."""
    deployment = rendered.one("Deployment")
    volume = next(
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "rules"
    )
    configmap = rendered.get("ConfigMap", volume["configMap"]["name"], NAMESPACE)
    return yaml.safe_load(configmap["data"]["config.yaml"])


def serve_options(deployment: Obj) -> dict[str, Any]:
    """The container's arguments as `surge serve` parses them (defaults filled in)."""
    args = container(deployment, "surge")["args"]
    return vars(build_parser().parse_args(["serve", *args]))


def apiservices(rendered: Rendered) -> dict[str, Obj]:
    return {
        a["metadata"]["name"]: {k: v for k, v in a["spec"].items() if k != "caBundle"}
        for a in rendered.all("APIService")
    }


@pytest.mark.parametrize("values", [None, PA_VALUES], ids=["defaults", "prometheus-adapter"])
def test_chart_is_lint_clean(values: Path | None) -> None:
    run = helm("lint", "--strict", str(CHART), *(["-f", str(values)] if values else []))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 chart(s) failed" in run.stdout, run.stdout


def test_default_rules_are_deploy_config(defaults: Rendered) -> None:
    copy = CHART / "files" / "seed-rules.yaml"
    assert copy.read_bytes() == (DEPLOY / "config" / "seed-rules.yaml").read_bytes(), (
        f"{copy} drifted from deploy/config/seed-rules.yaml: copy it over"
    )
    assert rules_of(defaults) == rules_of(render("base"))


def test_prometheus_adapter_values_render_the_resource_metrics_overlay(
    from_pa: Rendered, overlay: Rendered
) -> None:
    assert rules_of(from_pa) == rules_of(overlay)
    assert apiservices(from_pa) == apiservices(overlay)
    chart, kustomized = from_pa.one("Deployment"), overlay.one("Deployment")
    assert serve_options(chart) == serve_options(kustomized)
    assert chart["spec"]["replicas"] == kustomized["spec"]["replicas"]
    assert chart["spec"]["strategy"] == kustomized["spec"]["strategy"]
    assert container(chart, "surge")["resources"] == container(kustomized, "surge")["resources"]
    pod, kpod = chart["spec"]["template"]["spec"], kustomized["spec"]["template"]["spec"]
    for key in ("securityContext", "terminationGracePeriodSeconds", "serviceAccountName"):
        assert pod[key] == kpod[key], key
    for key in ("securityContext", "startupProbe", "livenessProbe", "readinessProbe"):
        assert container(chart, "surge")[key] == container(kustomized, "surge")[key], key
    for kind in ("Service", "PodDisruptionBudget"):
        mine, theirs = from_pa.get(kind, "surge", NAMESPACE), overlay.get(kind, "surge", NAMESPACE)
        assert {k: v for k, v in mine["spec"].items() if k != "selector"} == {
            k: v for k, v in theirs["spec"].items() if k != "selector"
        }, kind
    # The same grants under the same names.
    for kind in ("ClusterRole", "ClusterRoleBinding", "RoleBinding"):
        mine = {(o["metadata"]["name"], o["metadata"].get("namespace")) for o in from_pa.all(kind)}
        theirs = {
            (o["metadata"]["name"], o["metadata"].get("namespace")) for o in overlay.all(kind)
        }
        assert mine == theirs, kind
        for name, namespace in theirs:
            a, b = from_pa.get(kind, name, namespace), overlay.get(kind, name, namespace)
            assert (a.get("rules"), a.get("roleRef"), a.get("subjects")) == (
                b.get("rules"),
                b.get("roleRef"),
                b.get("subjects"),
            ), f"{kind} {name}"


def test_rendered_rules_pass_surge_check(from_pa: Rendered, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(rules_of(from_pa)))
    run = subprocess.run(
        [sys.executable, "-m", "surge", "check", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_pods_roll_when_the_rules_change() -> None:
    before = template().one("Deployment")
    after = template("--set", "rules.custom[0].seriesQuery=up").one("Deployment")
    key = "checksum/rules"
    assert (
        before["spec"]["template"]["metadata"]["annotations"][key]
        != (after["spec"]["template"]["metadata"]["annotations"][key])
    )


def test_which_apiservices_follow_the_rules_as_in_prometheus_adapters_chart() -> None:
    custom = {"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"}
    external = {"v1beta1.external.metrics.k8s.io"}
    assert set(apiservices(template())) == custom | external
    only_external = template(
        "--set", "rules.default=false", "--set", "rules.external[0].seriesQuery=up"
    )
    assert set(apiservices(only_external)) == external
    # Beside KEDA: KEDA's metrics server owns external.metrics.k8s.io.
    assert set(apiservices(template("--set", "apiServices.external=false"))) == custom


def _certificate(rendered: Rendered, key: str) -> x509.Certificate:
    secret = rendered.get("Secret", "surge-serving-cert", NAMESPACE)
    return x509.load_pem_x509_certificate(base64.b64decode(secret["data"][key]))


def test_without_a_pki_the_chart_makes_one_the_apiservices_trust(defaults: Rendered) -> None:
    ca, cert = _certificate(defaults, "ca.crt"), _certificate(defaults, "tls.crt")
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "surge.surge-system.svc" in names.get_values_for_type(x509.DNSName)
    for apiservice in defaults.all("APIService"):
        assert "insecureSkipTLSVerify" not in apiservice["spec"]
        pem = base64.b64decode(apiservice["spec"]["caBundle"])
        assert x509.load_pem_x509_certificate(pem) == ca


def test_tls_values_fill_the_secret_and_the_ca_bundle(defaults: Rendered, tmp_path: Path) -> None:
    secret = defaults.get("Secret", "surge-serving-cert", NAMESPACE)["data"]
    pems = {key: base64.b64decode(secret[key]).decode() for key in ("ca.crt", "tls.crt", "tls.key")}
    values = tmp_path / "tls.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "tls": {
                    "enable": True,
                    "ca": pems["ca.crt"],
                    "certificate": pems["tls.crt"],
                    "key": pems["tls.key"],
                }
            }
        )
    )
    rendered = template("-f", str(values))
    assert rendered.get("Secret", "surge-serving-cert", NAMESPACE)["data"] == secret
    for apiservice in rendered.all("APIService"):
        assert base64.b64decode(apiservice["spec"]["caBundle"]).decode() == pems["ca.crt"]
    assert "tls.ca is required" in template_error("--set", "tls.enable=true")


def test_cert_manager_issues_the_mounted_secret_and_injects_its_ca() -> None:
    rendered = template("--set", "certManager.enabled=true")
    assert rendered.find("Secret", "surge-serving-cert", NAMESPACE) is None
    certificate = rendered.get("Certificate", "surge-serving-cert", NAMESPACE)
    assert certificate["spec"]["secretName"] == "surge-serving-cert"
    assert "surge.surge-system.svc" in certificate["spec"]["dnsNames"]
    for apiservice in rendered.all("APIService"):
        annotations = apiservice["metadata"]["annotations"]
        assert annotations["cert-manager.io/inject-ca-from"] == "surge-system/surge-serving-cert"
        assert "caBundle" not in apiservice["spec"]


def test_keda_scaler_opens_its_port_and_may_require_client_certificates(
    defaults: Rendered,
) -> None:
    rendered = template("--set", "keda.scaler.enabled=true")
    assert serve_options(rendered.one("Deployment"))["scaler_port"] == 9443
    assert serve_options(rendered.one("Deployment"))["scaler_client_ca_file"] is None
    service = rendered.get("Service", "surge", NAMESPACE)
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "https": 443,
        "keda-grpc": 9443,
    }
    ingress = rendered.one("NetworkPolicy")["spec"]["ingress"]
    assert any(p["port"] == 9443 for rule in ingress for p in rule["ports"])

    ca = base64.b64decode(defaults.get("Secret", "surge-serving-cert", NAMESPACE)["data"]["ca.crt"])
    mtls = template(
        "--set", "keda.scaler.enabled=true", "--set", f"keda.scaler.clientCA={ca.decode()}"
    )
    deployment = mtls.one("Deployment")
    path = Path(serve_options(deployment)["scaler_client_ca_file"])
    mount = next(
        m for m in container(deployment, "surge")["volumeMounts"] if m["name"] == "scaler-client-ca"
    )
    assert path.parent == Path(mount["mountPath"])
    configmap = mtls.get("ConfigMap", "surge-scaler-client-ca", NAMESPACE)
    assert configmap["data"][path.name].strip() == ca.decode().strip()


def test_engine_and_prometheus_values_become_flags() -> None:
    rendered = template(
        "--set", "prometheus.url=http://{{ .Release.Name }}-prom.obs.svc",
        "--set", "prometheus.port=",
        "--set", "prometheus.path=/prometheus",
        "--set", "engine.freshness=5s",
        "--set", "logLevel=6",
    )  # fmt: skip
    options = serve_options(rendered.one("Deployment"))
    assert options["prometheus_url"] == "http://surge-prom.obs.svc/prometheus"
    assert options["freshness"] == 5.0
    assert options["log_level"] == "debug"
    egress = rendered.one("NetworkPolicy")["spec"]["egress"][0]
    assert egress["ports"] == [{"protocol": "TCP", "port": 80}]


def test_bad_values_are_refused_with_the_reason() -> None:
    assert "logLevl" in template_error("--set", "logLevl=4")
    assert "logLevel" in template_error("--set", "logLevel=verbose")
    assert "this chart runs Surge's image" in template_error(
        "--set", "image.repository=registry.k8s.io/prometheus-adapter/prometheus-adapter"
    )
    assert "service.externalName is required" in template_error(
        "--set", "service.type=ExternalName"
    )
    assert "not both" in template_error("--set", "podDisruptionBudget.minAvailable=1")


# The top-level keys of the prometheus-community/prometheus-adapter chart's values.yaml
# (chart 5.3.0, prometheus-adapter v0.12.0).
PA_CHART_KEYS = frozenset(
    "affinity topologySpreadConstraints nameOverride fullnameOverride image logLevel "
    "metricsRelistInterval listenPort nodeSelector priorityClassName namespaceOverride "
    "customAnnotations customLabels prometheus replicas podSecurityContext securityContext "
    "rbac psp automountServiceAccountToken serviceAccount dnsConfig resources livenessProbe "
    "readinessProbe startupProbe rules service tls env extraArguments extraContainers "
    "extraVolumes extraVolumeMounts tolerations podLabels podAnnotations deploymentAnnotations "
    "hostNetwork strategy podDisruptionBudget certManager extraManifests "
    "revisionHistoryLimit".split()
)


def test_every_prometheus_adapter_key_is_accepted_and_every_value_documented() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert PA_CHART_KEYS <= set(schema["properties"]), PA_CHART_KEYS - set(schema["properties"])
    assert set(yaml.safe_load((CHART / "values.yaml").read_text())) == set(schema["properties"])
    text = MIGRATION.read_text()
    section = text[text.index("## Helm values") : text.index("### Kustomize")]
    named = {name.split(".")[0] for name in re.findall(r"`([a-zA-Z][\w.*/]*)", section)}
    assert set(schema["properties"]) <= named, set(schema["properties"]) - named


def test_beside_keda_the_chart_and_the_overlay_leave_external_metrics_to_keda() -> None:
    overlay = render("overlays/beside-keda")
    chart = template("--set", "apiServices.external=false", "--set", "keda.scaler.enabled=true")
    custom = {"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"}
    assert set(apiservices(overlay)) == set(apiservices(chart)) == custom
    for rendered in (overlay, chart):
        assert serve_options(rendered.one("Deployment"))["scaler_port"] == 9443
        ports = rendered.get("Service", "surge", NAMESPACE)["spec"]["ports"]
        assert {"keda-grpc": 9443}.items() <= {p["name"]: p["port"] for p in ports}.items()


def test_forecast_rules_become_a_file_beside_the_rules(tmp_path: Path) -> None:
    rules = yaml.safe_load((ROOT / "tests" / "e2e" / "forecasts.yaml").read_text())
    values = tmp_path / "forecast.yaml"
    values.write_text(yaml.safe_dump({"forecast": {"rules": rules["forecastRules"]}}))
    rendered = template("-f", str(values))
    options = serve_options(rendered.one("Deployment"))
    path = Path(options["forecast_config"])
    configmap = rendered.get("ConfigMap", "surge-rules", NAMESPACE)
    assert yaml.safe_load(configmap["data"][path.name]) == rules
    mount = next(
        m
        for m in container(rendered.one("Deployment"), "surge")["volumeMounts"]
        if m["name"] == "rules"
    )
    assert path.parent == Path(mount["mountPath"])
    (tmp_path / path.name).write_text(configmap["data"][path.name])
    check = subprocess.run(
        [sys.executable, "-m", "surge", "check", "--forecast", str(tmp_path / path.name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert serve_options(template().one("Deployment"))["forecast_config"] is None


MONITORING_VALUES = ("--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true")
SCRAPER = (
    ("ServiceAccount", "surge-scraper", NAMESPACE),
    ("Secret", "surge-scraper-token", NAMESPACE),
    ("ClusterRole", "surge-metrics-scraper", None),
    ("ClusterRoleBinding", "surge-metrics-scraper", None),
)


def test_monitoring_is_off_by_default(defaults: Rendered) -> None:
    assert not defaults.all("ServiceMonitor") and not defaults.all("PrometheusRule")
    assert all(defaults.find(kind, name, ns) is None for kind, name, ns in SCRAPER)


def test_monitoring_renders_deploy_monitoring_with_the_one_rule_file(prod: Rendered) -> None:
    """serviceMonitor and prometheusRule: the objects deploy/monitoring gives the prod overlay;
    the alerts are the chart's files/surge.rules.yaml, which deploy/monitoring links to."""
    linked = DEPLOY / "monitoring" / "surge.rules.yaml"
    assert linked.resolve() == (CHART / "files" / "surge.rules.yaml").resolve()
    chart = template(*MONITORING_VALUES, "--set", "prometheusRule.labels.release=kps")
    alerts = chart.get("PrometheusRule", "surge", NAMESPACE)
    assert alerts["spec"] == yaml.safe_load(linked.read_text())
    assert alerts["spec"] == prod.get("PrometheusRule", "surge", NAMESPACE)["spec"]
    assert alerts["metadata"]["labels"]["release"] == "kps"
    ours = chart.get("ServiceMonitor", "surge", NAMESPACE)["spec"]
    theirs = prod.get("ServiceMonitor", "surge", NAMESPACE)["spec"]
    assert ours["endpoints"] == theirs["endpoints"]
    assert ours["namespaceSelector"] == theirs["namespaceSelector"]
    assert theirs["selector"]["matchLabels"].items() <= ours["selector"]["matchLabels"].items()
    for kind, name, ns in SCRAPER:
        mine, kustomized = chart.get(kind, name, ns), prod.get(kind, name, ns)
        for key in ("rules", "roleRef", "subjects", "type", "automountServiceAccountToken"):
            assert mine.get(key) == kustomized.get(key), (kind, key)
        assert (
            kustomized["metadata"].get("annotations", {}).items()
            <= mine["metadata"].get("annotations", {}).items()
        )


def test_the_alerts_job_is_surge_whatever_the_release_is_named() -> None:
    """The rules read job="surge"; the ServiceMonitor takes the job from a label of the
    Service that is "surge" under any release name."""
    run = helm("template", "metrics", str(CHART), "--namespace", NAMESPACE, *MONITORING_VALUES)
    assert run.returncode == 0, run.stderr
    rendered = Rendered(CHART, [doc for doc in yaml.safe_load_all(run.stdout) if doc])
    service = rendered.one("Service")
    assert service["metadata"]["name"] == "metrics-surge"
    monitor = rendered.one("ServiceMonitor")["spec"]
    assert monitor["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    job = service["metadata"]["labels"][monitor["jobLabel"]]
    groups = rendered.one("PrometheusRule")["spec"]["groups"]
    jobs = {j for g in groups for r in g["rules"] for j in re.findall(r'job="([^"]*)"', r["expr"])}
    assert jobs == {job} == {"surge"}


def test_monitoring_values_are_checked() -> None:
    assert "interval" in template_error("--set", "serviceMonitor.interval=often")
    assert "scrapeTimeout" in template_error("--set", "serviceMonitor.scrapeTimeout=5s")

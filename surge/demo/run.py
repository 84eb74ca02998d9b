"""`surge demo`: a real local Prometheus with the seed service's data, and Surge over HTTPS.

No cluster: the demo pods come from an objects file. History is backfilled (the last six
hours) and a live exporter keeps the series current, so answers move with the workday.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import uvloop

from surge.demo import data as demodata
from surge.demo.localprom import LocalPrometheus, PrometheusError, backfill
from surge.options import (
    BackendOptions,
    DemoOptions,
    PrometheusOptions,
    ServeOptions,
    ServingOptions,
)
from surge.wiring import UsageError

log = logging.getLogger("surge.demo")

PODS = 4
HISTORY = timedelta(hours=6)


def _commands(port: int, prometheus: str, workdir: Path) -> str:
    # --token: without a kubeconfig, kubectl would stop to ask for a username (the demo
    # serves without authentication, so any token does)
    kubectl = (
        f"kubectl --server=https://127.0.0.1:{port} --insecure-skip-tls-verify --token=demo "
        "get --raw"
    )
    base = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ai-platform"
    ns = demodata.NAMESPACE
    return "\n".join(
        [
            "",
            f"Surge is serving on https://127.0.0.1:{port} (Prometheus: {prometheus}).",
            "Paste any of these in another terminal:",
            "",
            "  # what Surge serves",
            f'  {kubectl} "/apis/custom.metrics.k8s.io/v1beta2" | python3 -m json.tool',
            "  # requests waiting in each ai-service pod (HPA type Pods)",
            f'  {kubectl} "{base}/pods/*/http_requests_waiting?labelSelector=app%3Dai-service"'
            " | python3 -m json.tool",
            "  # p99 LLM latency of the Deployment (HPA type Object)",
            f'  {kubectl} "{base}/deployments.apps/ai-service/ai_llm_response_time_p99_seconds"'
            " | python3 -m json.tool",
            "  # requests per second of each pod, from the counter rule",
            f'  {kubectl} "{base}/pods/*/http_requests_per_second" | python3 -m json.tool',
            "  # an external metric",
            f'  {kubectl} "/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/'
            'ai_service_requests_waiting_total" | python3 -m json.tool',
            "",
            f"Prometheus' data and log, the certificates and the objects file ({workdir}/"
            "objects.yaml, for `surge query --objects`) are in",
            f"{workdir} (removed on exit unless you gave --workdir). Surge logs on stderr.",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def _port_free(port: int) -> None:
    """Say at once that the port is taken, not after the backfill."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as err:
            raise UsageError(
                f"port {port} on 127.0.0.1 is taken ({err.strerror}): choose another with --port"
            ) from None


def _prepare(options: DemoOptions) -> tuple[Path, list[str]]:
    """Files first, before any event loop: the history backfill and the objects file."""
    _port_free(options.port)
    workdir = Path(options.workdir or tempfile.mkdtemp(prefix="surge-demo-"))
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"--workdir {workdir}: {err.strerror}") from None
    pods = demodata.pod_names(PODS)
    data_dir = workdir / "prometheus"
    if not data_dir.exists():
        now = datetime.now(UTC)
        log.info("backfilling %s of history for %d pods", HISTORY, len(pods))
        backfill(data_dir, demodata.generate_openmetrics(now - HISTORY, now, 15, pods))
    demodata.write_objects_yaml(workdir / "objects.yaml", pods)
    return workdir, pods


async def _demo(options: DemoOptions, workdir: Path, pods: list[str]) -> int:
    from surge.serve import serve

    data_dir = workdir / "prometheus"
    objects = workdir / "objects.yaml"
    exporter = await demodata.start_exporter("127.0.0.1", 0, pods, time.time)
    exporter_port = exporter.addresses[0][1]
    prometheus = LocalPrometheus(
        data_dir,
        scrape_targets=[f"127.0.0.1:{exporter_port}"],
        scrape_interval="5s",
        port=options.prometheus_port or None,
    )
    try:
        await asyncio.to_thread(prometheus.start)
        with resources.as_file(resources.files("surge") / "seed-rules.yaml") as rules:
            serving = ServeOptions(
                backend=BackendOptions(
                    config=str(rules),
                    prometheus=PrometheusOptions(url=prometheus.url),
                    objects=str(objects),
                    relist_interval_s=30.0,
                    max_age_s=6 * 3600.0,
                ),
                serving=ServingOptions(
                    bind_address="127.0.0.1",
                    secure_port=options.port,
                    cert_dir=str(workdir / "certs"),
                    insecure_skip_auth=True,
                ),
            )
            return await serve(
                serving, on_ready=lambda: print(_commands(options.port, prometheus.url, workdir))
            )
    finally:
        await exporter.cleanup()
        with contextlib.suppress(PrometheusError):
            await asyncio.to_thread(prometheus.stop)


def demo(options: DemoOptions) -> int:
    workdir, pods = _prepare(options)
    try:
        return uvloop.run(_demo(options, workdir, pods))  # serve's loop, as `surge serve`
    except PrometheusError as err:
        raise UsageError(str(err).splitlines()[0]) from None
    finally:
        if not options.workdir:  # a workdir of our own making goes with the demo
            shutil.rmtree(workdir, ignore_errors=True)

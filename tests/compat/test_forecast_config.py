"""Where forecast rules live, decided by the real prometheus-adapter v0.12.0.

PA decodes its config strictly: a `forecastRules:` section in the file it reads stops it
at startup. So forecast rules go in a file of their own (`--forecast-config`), and the
file given to both servers with `--config` stays a plain PA config. Surge refuses the
section in --config the same way, with the line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.rules import check_text, read_file
from tests.compat.conftest import CONFIGS, DISCOVERY, Cluster
from tests.compat.prometheus_adapter import AdapterError, ClientPKI, PrometheusAdapter
from tests.support.oracle import ConstantData

pytestmark = pytest.mark.timeout(1200)

FORECAST_SECTION = """\
forecastRules:
- name: ai_service_qps_forecast
  query: sum(rate(http_requests_total{namespace="ai-platform"}[2m]))
"""


def test_prometheus_adapter_refuses_a_forecast_section_in_its_config(
    adapter_binary: Path,
    client_pki: ClientPKI,
    cluster: Cluster,
    prometheus_constant: ConstantData,
    tmp_path: Path,
) -> None:
    seed = CONFIGS["seed"].read_text()
    combined = tmp_path / "combined.yaml"
    combined.write_text(seed + FORECAST_SECTION)
    line = seed.count("\n") + 1
    adapter = PrometheusAdapter(
        adapter_binary,
        combined,
        prometheus_constant.url,
        cluster.kubeconfig,
        client_pki,
        tmp_path / "pa",
    )
    adapter.start()
    try:
        with pytest.raises(AdapterError) as caught:
            adapter.wait_listed(DISCOVERY, timeout_s=30)
    finally:
        adapter.stop()
    assert "exited with" in str(caught.value)
    assert (
        f"line {line}: field forecastRules not found in type config.MetricsDiscoveryConfig"
        in str(caught.value)
    )
    # Surge says the same of its --config, and takes the rules from a file of their own.
    assert check_text(read_file(str(combined)), str(combined)).errors == [
        f'{combined}:{line}: unknown field "forecastRules": forecast rules go in a file of '
        "their own, given by --forecast-config (prometheus-adapter refuses them here too)"
    ]

"""Bad input and a failing backend: each gets its exact Status body or error line."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from surge.cli import main
from tests.integration.conftest import SEED_RULES, Answer
from tests.support.oracle import ConstantData
from tests.support.promproxy import PrometheusProxy

CM = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ai-platform"


def status(code: int, reason: str, message: str, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    body.update(extra)
    body["code"] = code
    return body


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            f"{CM}/pods/*/http_requests_waiting?labelSelector=app%3D%3D%3Dx",
            status(
                400,
                "BadRequest",
                "unable to parse requirement: found '=', expected: identifier",
            ),
        ),
        (
            f"{CM}/pods/*/http_requests_waiting?labelSelector=app%20in%20(a",
            status(
                400,
                "BadRequest",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
        ),
        (
            f"{CM}/pods/*/http_requests_waiting?metricLabelSelector=container%3D%3D%3D",
            status(
                400,
                "BadRequest",
                "unable to parse requirement: found '=', expected: identifier",
            ),
        ),
        (
            f"{CM}/pods/*/no_such_metric",
            status(404, "NotFound", "the server could not find the metric no_such_metric for pods"),
        ),
        (
            f"{CM}/pods/no-such-pod/http_requests_waiting",
            status(
                404,
                "NotFound",
                "the server could not find the metric http_requests_waiting for pods no-such-pod",
            ),
        ),
        (
            f"{CM}/pods/*/http_requests_waiting?labelSelector=app%3Dnothing",
            status(
                404,
                "NotFound",
                "the server could not find the metric http_requests_waiting for pods",
            ),
        ),
        (
            f"{CM}/widgets/*/http_requests_waiting",
            status(
                500,
                "InternalError",
                "Internal error occurred: unable to list matching resources",
                details={"causes": [{"message": "unable to list matching resources"}]},
            ),
        ),
        (
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/ai-platform/no_such_metric",
            status(404, "NotFound", "the server could not find the metric no_such_metric for "),
        ),
        (
            "/apis/custom.metrics.k8s.io/v1beta3/namespaces/ai-platform/pods/*/x",
            status(404, "NotFound", "the server could not find the requested resource", details={}),
        ),
    ],
)
def test_client_mistakes_get_their_status(
    surge_query: Callable[..., Answer], path: str, expected: dict[str, object]
) -> None:
    answer = surge_query(path)
    assert answer.code == 1
    assert answer.body == expected
    assert "Traceback" not in answer.stderr


def test_a_prometheus_error_answer_is_500(
    surge_query: Callable[..., Answer], tmp_path: Path
) -> None:
    config = tmp_path / "rules.yaml"
    broken_query = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>) +* 2"
    config.write_text(
        SEED_RULES.read_text().replace(
            "metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'",
            f"metricsQuery: '{broken_query}'",
            1,
        )
    )
    answer = surge_query(f"{CM}/pods/*/http_requests_waiting", config)
    assert answer.code == 1
    assert answer.body == status(
        500,
        "InternalError",
        "Internal error occurred: unable to fetch metrics",
        details={"causes": [{"message": "unable to fetch metrics"}]},
    )
    assert "parse error" in answer.stderr  # the cause is logged for the operator


def test_prometheus_down_is_503(
    capsys: pytest.CaptureFixture[str], constant_objects: Path, free_port: Callable[[], int]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code = main(
        [
            "query",
            f"--config={SEED_RULES}",
            f"--prometheus-url={url}",
            f"--objects={constant_objects}",
            f"{CM}/pods/*/http_requests_waiting",
        ]
    )
    body = json.loads(capsys.readouterr().out)
    assert code == 1
    assert body["code"] == 503
    assert body["reason"] == "ServiceUnavailable"
    assert body["message"].startswith(
        f"unable to fetch metrics: the series list is not loaded yet (Prometheus at {url} is "
        "unreachable"
    )


@pytest.fixture
def slow_prometheus(prometheus_constant: ConstantData) -> Iterator[PrometheusProxy]:
    """The real Prometheus behind a proxy that stalls every answer, on its own loop."""
    loop = asyncio.new_event_loop()
    proxy = PrometheusProxy(prometheus_constant.url)
    proxy.mode = "stall"
    proxy.stall_s = 5.0
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    yield proxy
    asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_prometheus_too_slow_is_503(
    capsys: pytest.CaptureFixture[str], constant_objects: Path, slow_prometheus: PrometheusProxy
) -> None:
    code = main(
        [
            "query",
            f"--config={SEED_RULES}",
            f"--prometheus-url={slow_prometheus.url}",
            f"--objects={constant_objects}",
            "--prometheus-timeout=500ms",
            f"{CM}/pods/*/http_requests_waiting",
        ]
    )
    body = json.loads(capsys.readouterr().out)
    assert code == 1
    assert body == status(
        503,
        "ServiceUnavailable",
        "unable to fetch metrics: the series list is not loaded yet "
        f"(Prometheus at {slow_prometheus.url} did not answer within 0.5s)",
    )


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            "rules:\n  - seriesQeury: x\n    metricsQuery: y\n",
            'surge query: {path}:2: rules[0]: unknown field "seriesQeury" (did you mean '
            '"seriesQuery"?) (and 1 more: run `surge check {path}`)',
        ),
        (
            "rules: {a: 1}\n",
            "surge query: {path}:1: rules: expected a list, got a mapping",
        ),
        ("rules: [\n", "surge query: {path}:2: "),
    ],
)
def test_broken_config_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    prometheus_constant: ConstantData,
    content: str,
    line: str,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(content)
    code = main(
        ["query", f"--config={path}", f"--prometheus-url={prometheus_constant.url}", "/apis"]
    )
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(line.format(path=path))


def test_missing_objects_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, prometheus_constant: ConstantData
) -> None:
    code = main(
        [
            "query",
            f"--config={SEED_RULES}",
            f"--prometheus-url={prometheus_constant.url}",
            f"--objects={tmp_path / 'none.yaml'}",
            "/apis",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    missing = tmp_path / "none.yaml"
    assert err.strip() == (
        f"surge query: {missing}: cannot read objects file: No such file or directory"
    )


def test_serve_refuses_to_start_without_auth(
    capsys: pytest.CaptureFixture[str], constant_objects: Path
) -> None:
    # The objects from a file: the input files are read before authentication, so without
    # them the missing Kubernetes client would be named first.
    code = main(
        [
            "serve",
            f"--config={SEED_RULES}",
            f"--objects={constant_objects}",
            "--prometheus-url=http://127.0.0.1:1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "pass --insecure-skip-auth" in err
    assert len(err.strip().splitlines()) == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == "surge 0.1.0"

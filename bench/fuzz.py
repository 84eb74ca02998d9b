"""Fuzzing the inputs a client or a backend controls: `python -m bench fuzz [--examples N]`.

Each target draws inputs with hypothesis and checks that nothing but the documented error
escapes, and that no client mistake is answered with a 5xx:

- routes: apiservice.routes.resolve on paths built from real segments and noise;
- selector: apiservice.selectors.parse_selector on selector-like text;
- config: adapter.rules.parse_config on YAML built from the config's keys, and on noise;
- prometheus: adapter.prometheus.decode_query and the client's answer decoding on
  JSON shaped like Prometheus' answers (and not);
- auth: RequestInfo attributes, Forbidden messages and front-proxy header parsing;
- app: the whole aiohttp application (routing, selectors, errors), through an HTTP client;
- http: raw request bytes on a socket (bad request lines, headers, lengths);
- engine: batched answers against per-request answers on generated fleets in a real
  Prometheus (bench/variety.py): equal, errors included;
- cli: every `surge` command (bench/commands.py) as a subprocess, on a file it reads
  replaced by a mutated valid one or a broken one: no traceback, exit 0, 1 or 2, one line
  of diagnosis. A few seconds each: `--cli-examples` (40 by default) bounds it apart.

The suite runs each target briefly (tests/security/test_fuzz.py); this command runs
100,000 inputs in all by default and prints a table of inputs, rate and failures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from adapter.prometheus import (
    BackendError,
    BackendUnavailable,
    PrometheusClient,
    PrometheusSettings,
    decode_query,
)
from adapter.rules import ConfigError, parse_config
from apiservice.auth import FrontProxyConfig, UserInfo, forbidden, request_attributes
from apiservice.errors import BadRequest, metric_not_found
from apiservice.provider import (
    CustomMetricInfo,
    ExternalMetricInfo,
    ExternalMetricValue,
    GroupResource,
    MetricValue,
    ObjectReference,
)
from apiservice.quantity import Quantity
from apiservice.routes import resolve
from apiservice.selectors import Selector, SelectorError, parse_selector
from apiservice.server import build_app
from bench import commands, variety

# -- strategies ----------------------------------------------------------------------------------

_NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=24)
_SEGMENTS = st.one_of(
    st.sampled_from(
        [
            "apis",
            "api",
            "custom.metrics.k8s.io",
            "external.metrics.k8s.io",
            "metrics.k8s.io",
            "v1beta1",
            "v1beta2",
            "v1",
            "namespaces",
            "default",
            "pods",
            "deployments.apps",
            "nodes",
            "metrics",
            "*",
            "http_requests",
            "openapi",
            "v2",
            "v3",
            "healthz",
            "readyz",
            "",
            ".",
            "..",
            "%2F",
            "watch",
        ]
    ),
    _NOISE,
)
PATHS = st.lists(_SEGMENTS, max_size=9).map(lambda parts: "/" + "/".join(parts)) | _NOISE

_SELECTOR_ALPHABET = string.ascii_letters + string.digits + " ,=!()<>-_./:" + "\t\u00e9\u2028"
SELECTORS = st.one_of(
    st.text(alphabet=_SELECTOR_ALPHABET, max_size=60),
    st.lists(
        st.tuples(
            st.sampled_from(["app", "tier", "a.b/c", "x" * 64, "", "-bad"]),
            st.sampled_from(["=", "==", "!=", " in ", " notin ", ">", "<", "", "!"]),
            st.sampled_from(["web", "(a,b)", "(a", "", "1", "-1", "x" * 70, "(,)"]),
        ).map("".join),
        max_size=4,
    ).map(",".join),
    _NOISE,
)

_CONFIG_KEYS = st.sampled_from(
    [
        "rules",
        "externalRules",
        "resourceRules",
        "seriesQuery",
        "seriesFilters",
        "resources",
        "overrides",
        "template",
        "namespaced",
        "name",
        "matches",
        "as",
        "metricsQuery",
        "is",
        "isNot",
        "cpu",
        "memory",
        "containerQuery",
        "nodeQuery",
        "containerLabel",
        "window",
        "resource",
        "group",
    ]
)
_CONFIG_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(
        [
            '{__name__=~"^http_.*"}',
            "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
            "<<.Bad",
            "^(.*)_total$",
            "${1}_per_second",
            "(",
            "kube_<<.Resource>>",
            "pod",
            "1m",
            "-3s",
        ]
    ),
    _NOISE,
)
_CONFIG_TREES = st.recursive(
    _CONFIG_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_CONFIG_KEYS, inner, max_size=5),
    max_leaves=25,
)
CONFIGS = st.one_of(
    _CONFIG_TREES.map(lambda tree: yaml.safe_dump(tree, allow_unicode=True)),
    st.text(alphabet=":-[]{}&*!|>'\"%@` \n\tabc123#", max_size=80),
    _NOISE,
)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.sampled_from(["NaN", "+Inf", "-Inf", "1.5", "1e400", "x", ""])
    | _NOISE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NOISE, inner, max_size=3),
    max_leaves=12,
)
_SAMPLE = st.fixed_dictionaries(
    {"metric": st.dictionaries(st.sampled_from(["pod", "namespace", "__name__"]), _NOISE) | _JSON},
    optional={"value": st.lists(_JSON, max_size=3) | _JSON},
)
PROMETHEUS_BODIES = st.one_of(
    _JSON,
    st.fixed_dictionaries(
        {"status": st.sampled_from(["success", "error", "x"])},
        optional={
            "data": st.fixed_dictionaries(
                {"resultType": st.sampled_from(["vector", "scalar", "matrix", "string", "x"])},
                optional={"result": st.lists(_SAMPLE, max_size=3) | _JSON},
            )
            | _JSON,
            "errorType": st.sampled_from(["timeout", "bad_data", "execution", ""]) | _JSON,
            "error": _JSON,
        },
    ),
)

_HEADER_NAMES = st.sampled_from(
    ["X-Remote-User", "X-Remote-Group", "X-Remote-Extra-Scopes", "X-Remote-Extra-%ZZ", "Other"]
)
_HEADERS = st.lists(st.tuples(_HEADER_NAMES | _NOISE, _NOISE), max_size=6)
_METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"])
_QUERY_KEYS = st.sampled_from(["labelSelector", "metricLabelSelector", "watch", "hash", "x"])
_QUERIES = st.lists(st.tuples(_QUERY_KEYS, SELECTORS), max_size=3)

_RAW_LINES = st.one_of(
    st.sampled_from(
        [
            b"GET / HTTP/1.1",
            b"GET /apis HTTP/1.0",
            b"GET /apis HTTP/9.9",
            b"GET",
            b"",
            b"\x00\xff\xfe",
            b"GET /" + b"a" * 20_000 + b" HTTP/1.1",
            b"GET /apis?labelSelector=%zz HTTP/1.1",
            b"POST /apis HTTP/1.1",
        ]
    ),
    st.binary(max_size=64),
)
_RAW_HEADERS = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"Host: x",
                b"Content-Length: -1",
                b"Content-Length: 99999999999",
                b"Content-Length: abc",
                b"Transfer-Encoding: chunked",
                b"Transfer-Encoding: gzip, chunked",
                b"X-Big: " + b"b" * 20_000,
                b"Connection: close",
                b"no colon",
                b": empty name",
            ]
        ),
        st.binary(max_size=40),
    ),
    max_size=5,
)
RAW_REQUESTS = st.tuples(_RAW_LINES, _RAW_HEADERS, st.binary(max_size=32)).map(
    lambda t: t[0] + b"\r\n" + b"".join(h + b"\r\n" for h in t[1]) + b"\r\n" + t[2]
)


# -- checks --------------------------------------------------------------------------------------


Check = Callable[[Any], None]


class FuzzFailure(AssertionError):
    """An input that broke a promise: an exception escaped, or a client mistake got a 5xx."""


def check_route(path: str) -> None:
    try:
        resolve(path)
    except BadRequest:
        pass


def check_selector(text: str) -> None:
    try:
        selector = parse_selector(text)
    except SelectorError:
        return
    again = parse_selector(str(selector))  # what it prints, it reads back the same
    if again != selector:
        raise FuzzFailure(f"{text!r} -> {selector} -> {again}")


def check_config(text: str) -> None:
    try:
        parse_config(text, "fuzz.yaml")
    except ConfigError as err:
        if not err.problems or not all(p.startswith("fuzz.yaml") for p in err.problems):
            raise FuzzFailure(f"problems without their place: {err.problems!r}") from None


_CLIENT = PrometheusClient(PrometheusSettings(url="http://127.0.0.1:1"))


def check_prometheus(body: Any) -> None:
    try:
        decode_query(body)
    except BackendError:
        pass
    try:
        text = json.dumps(body)
    except (ValueError, TypeError):
        return
    for status in (200, 400, 422, 500, 503):
        try:
            _CLIENT._decode(status, text)
        except (BackendError, BackendUnavailable):
            pass


def check_auth(args: tuple[str, str, list[tuple[str, str]], list[tuple[str, str]]]) -> None:
    method, path, query, headers = args
    attrs = request_attributes(method, path, dict(query))
    forbidden(UserInfo(path), attrs, method)
    proxy = FrontProxyConfig((), username_headers=("X-Remote-User", "X-Other"))
    proxy.user(CIMultiDictProxy(CIMultiDict(headers)))


# -- the whole app -------------------------------------------------------------------------------

_NOON = datetime(2026, 1, 1, 12, tzinfo=UTC)


class FuzzProvider:
    """Answers every pods and deployments question with a value, others with 404."""

    def _value(self, namespace: str, name: str, info: CustomMetricInfo, sel: Selector) -> Any:
        kind = {"pods": "Pod", "deployments": "Deployment"}.get(info.group_resource.resource)
        if kind is None:
            raise metric_not_found(info.metric, str(info.group_resource))
        return MetricValue(
            ObjectReference(kind, namespace, name, "v1"),
            info.metric,
            _NOON,
            Quantity.from_milli(1500),
            None if sel.empty else sel,
        )

    async def get_metric_by_name(
        self, namespace: str, name: str, info: CustomMetricInfo, metric_selector: Selector
    ) -> MetricValue:
        return self._value(namespace, name, info, metric_selector)

    async def get_metric_by_selector(
        self, namespace: str, selector: Selector, info: CustomMetricInfo, metric_selector: Selector
    ) -> list[MetricValue]:
        return [self._value(namespace, n, info, metric_selector) for n in ("a", "b")]

    def list_all_metrics(self) -> list[CustomMetricInfo]:
        return [CustomMetricInfo(GroupResource("", "pods"), True, "http_requests")]

    async def get_external_metric(
        self, namespace: str, metric_selector: Selector, info: ExternalMetricInfo
    ) -> list[ExternalMetricValue]:
        labels = {r.key: r.values[0] for r in metric_selector.requirements if r.values}
        return [ExternalMetricValue(info.metric, _NOON, Quantity.from_milli(7), labels)]

    def list_all_external_metrics(self) -> list[ExternalMetricInfo]:
        return [ExternalMetricInfo("queue_depth")]


def _documented_500(body: bytes) -> bool:
    """Kubernetes (and prometheus-adapter) answer 500 for a metricLabelSelector with no
    LabelSelector form (!=, <, >); Surge keeps that answer for compatibility."""
    try:
        status = json.loads(body)
    except ValueError:
        return False
    message = status.get("message", "") if isinstance(status, dict) else ""
    return "label selector" in message and status.get("code") == 500


class AppHarness:
    """The application on a loopback port, driven from synchronous hypothesis tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(self._start())
        # aiohttp logs every unparsable request with a traceback; they are the point here.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)

    @staticmethod
    async def _start() -> TestClient[Any, Any]:
        client = TestClient(TestServer(build_app(FuzzProvider(), insecure_skip_auth=True)))
        await client.start_server()
        return client

    def check(self, args: tuple[str, list[str], list[tuple[str, str]]]) -> None:
        method, segments, query = args
        try:
            url = URL.build(path="/" + "/".join(segments), query=query)
        except (ValueError, TypeError):
            reject()
        status, body = self.loop.run_until_complete(self._send(method, url))
        if status >= 500 and not _documented_500(body):
            raise FuzzFailure(f"{method} {url} -> {status} {body[:300]!r}")

    async def _send(self, method: str, url: URL) -> tuple[int, bytes]:
        async with self.client.request(method, url) as resp:
            return resp.status, await resp.read()

    def check_raw(self, request: bytes) -> None:
        status = self.loop.run_until_complete(self._raw(request))
        if status is not None and status >= 500:
            raise FuzzFailure(f"{request[:200]!r} -> {status}")

    async def _raw(self, request: bytes) -> int | None:
        server = self.client.server
        reader, writer = await asyncio.open_connection(server.host, server.port)
        try:
            writer.write(request)
            await writer.drain()
            # An incomplete request (a body still owed) gets no answer: that is fine, the
            # idle timeout closes such connections.
            line = await asyncio.wait_for(reader.readline(), 1.0)
        except (ConnectionError, TimeoutError):
            return None
        finally:
            writer.close()
        parts = line.split()
        return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


APP_REQUESTS = st.tuples(_METHODS, st.lists(_SEGMENTS, max_size=9), _QUERIES)
AUTH_INPUTS = st.tuples(_METHODS, PATHS, _QUERIES, _HEADERS)


# -- running ---------------------------------------------------------------------------------------


@dataclass
class Result:
    target: str
    inputs: int
    seconds: float
    failure: str = ""


def run_target(
    name: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], None], examples: int
) -> Result:
    """Run `check` on up to `examples` inputs; the first failure, shrunk, is reported."""
    count = 0

    def counted(value: Any) -> None:
        nonlocal count
        count += 1
        check(value)

    prop = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )(given(strategy)(counted))
    started = time.perf_counter()
    failure = ""
    try:
        prop()
    except Exception as err:  # the property's failure, reported as a figure
        failure = f"{type(err).__name__}: {err}"[:500]
    return Result(name, count, time.perf_counter() - started, failure)


TARGETS: dict[str, tuple[st.SearchStrategy[Any], float]] = {
    # name -> (inputs, share of the total budget)
    "routes": (PATHS, 0.15),
    "selector": (SELECTORS, 0.15),
    "config": (CONFIGS, 0.15),
    "prometheus": (PROMETHEUS_BODIES, 0.15),
    "auth": (AUTH_INPUTS, 0.15),
    "app": (APP_REQUESTS, 0.15),
    "http": (RAW_REQUESTS, 0.10),
    "engine": (variety.fleets(), 0.002),  # ~200 fleets: each costs a real Prometheus ~1 s
}


def run(total: int, only: list[str] | None = None, cli_examples: int = 40) -> list[Result]:
    results = _run_in_process(total, [t for t in only or TARGETS if t != "cli"])
    if cli_examples > 0 and (not only or "cli" in only):
        cli = CliHarness()
        try:
            results.append(run_target("cli", cli.inputs, cli.check, cli_examples))
        finally:
            cli.close()
    return results


def _run_in_process(total: int, only: list[str]) -> list[Result]:
    if not only:
        return []
    chosen = {k: v for k, v in TARGETS.items() if k in only}
    weight = sum(share for _, share in chosen.values())
    harness = AppHarness() if {"app", "http"} & chosen.keys() else None
    equivalence = variety.Equivalence() if "engine" in chosen else None
    checks: dict[str, Callable[[Any], None]] = {
        "routes": check_route,
        "selector": check_selector,
        "config": check_config,
        "prometheus": check_prometheus,
        "auth": check_auth,
    }
    if harness is not None:
        checks["app"] = harness.check
        checks["http"] = harness.check_raw
    if equivalence is not None:
        checks["engine"] = equivalence.check
    results = []
    try:
        for name, (strategy, share) in chosen.items():
            budget = max(1, round(total * share / weight))
            results.append(run_target(name, strategy, checks[name], budget))
    finally:
        if harness is not None:
            harness.close()
        if equivalence is not None:
            equivalence.close()
    return results


# -- cli: the commands themselves, on mutated files ----------------------------------------


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """`seed` cut short, with bytes spliced in, or a line dropped."""
    cut = st.integers(0, len(seed)).map(lambda n: seed[:n])
    spliced = st.tuples(st.integers(0, len(seed)), st.binary(max_size=12)).map(
        lambda t: seed[: t[0]] + t[1] + seed[t[0] :]
    )
    lines = seed.splitlines(keepends=True)
    dropped = st.integers(0, max(len(lines) - 1, 0)).map(
        lambda i: b"".join(lines[:i] + lines[i + 1 :])
    )
    return st.one_of(cut, spliced, dropped)


def _cli_seeds(work: commands.Workspace) -> list[bytes]:
    return [
        commands.SEED_RULES.read_bytes(),
        commands.SEED_HPA.read_bytes(),
        work.objects.read_bytes(),
        work.dead_kubeconfig.read_bytes(),
    ]


class CliHarness:
    """A workspace for bench/commands.py's slots; each input is one command run."""

    TIMEOUT_S = 15.0  # a mutated file that is still valid lets `serve` start: stop it there

    def __init__(self) -> None:
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="surge-fuzz-cli-")
        self.work = commands.Workspace(Path(self._dir.name)).prepare()
        self.slots = self.work.slots()
        broken = [c for c in commands.BROKEN_FILES.values() if isinstance(c, bytes)]
        contents = st.one_of(st.sampled_from(broken), *map(_mutations, _cli_seeds(self.work)))
        self.inputs = st.tuples(st.sampled_from(sorted(self.slots)), contents)

    def check(self, drawn: tuple[str, bytes]) -> None:
        name, content = drawn
        path = self.work.root / "fuzzed"
        path.write_bytes(content)
        argv = tuple(str(path) if a == "{}" else a for a in self.slots[name].argv)
        outcome = commands.run(argv, self.TIMEOUT_S)
        problems = outcome.problems()
        if problems:
            raise FuzzFailure(
                f"surge {' '.join(argv)} on {content[:200]!r}: {', '.join(problems)}; "
                f"stderr: {outcome.stderr[-400:]!r}"
            )

    def close(self) -> None:
        self._dir.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fuzz", description=__doc__)
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--examples", type=int, default=100_000, help="inputs in all")
    parser.add_argument(
        "--target", action="append", choices=[*sorted(TARGETS), "cli"], help="only these targets"
    )
    parser.add_argument(
        "--cli-examples",
        type=int,
        default=40,
        help="command runs of the cli target (seconds each; 0: none)",
    )


def run_command(args: argparse.Namespace) -> int:
    results = run(args.examples, args.target, args.cli_examples)
    print(f"{'target':<12}{'inputs':>10}{'seconds':>10}{'inputs/s':>10}  result")
    for r in results:
        rate = r.inputs / r.seconds if r.seconds else 0.0
        verdict = r.failure or "ok"
        print(f"{r.target:<12}{r.inputs:>10}{r.seconds:>10.1f}{rate:>10.0f}  {verdict}")
    total = sum(r.inputs for r in results)
    failed = [r for r in results if r.failure]
    print(f"{total} inputs, {len(failed)} target(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

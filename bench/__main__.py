"""`python -m bench storm ...`: the benchmarks' command line (see bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import sys
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import controller, forecast, kube, shared, storm, tune
from surge.demo.localprom import PrometheusError

if TYPE_CHECKING:
    from rich.console import Console


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    """Above 0 and finite: every wait and loop of a run is bounded."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above 0 and finite, got {text}")
    return value


def _compression(text: str) -> str | float:
    if text == "auto":
        return text
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{err} (or auto)") from None


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in storm.MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(
            f"unknown mode {', '.join(unknown) or '(none)'}; choose from {','.join(storm.MODES)}"
        )
    return modes


def _adapters(text: str) -> tuple[str, ...]:
    names = tuple(a.strip() for a in text.split(",") if a.strip())
    unknown = [a for a in names if a not in controller.ADAPTERS]
    if unknown or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"{text!r}: name each of {','.join(controller.ADAPTERS)} at most once"
        )
    return names


def _fleet_arguments(p: argparse.ArgumentParser, *, hpas: int, namespaces: int) -> None:
    """The fleet's size, as storm and controller both take it."""
    p.add_argument(
        "--hpas",
        type=_positive_int,
        default=hpas,
        help="HPAs, one per Deployment (default: %(default)s)",
    )
    p.add_argument(
        "--metrics", type=_positive_int, default=2, help="metrics per HPA (default: %(default)s)"
    )
    p.add_argument(
        "--namespaces",
        type=_positive_int,
        default=namespaces,
        help="namespaces the Deployments are spread over, at most one per HPA "
        "(default: %(default)s)",
    )


def _run_arguments(p: argparse.ArgumentParser) -> None:
    """How a run against prometheus-adapter is set up and reported, as storm and controller
    both take it."""
    p.add_argument(
        "--pa-build-timeout",
        type=_positive_float,
        default=360.0,
        help="seconds to wait for bench/build_prometheus_adapter.sh before "
        "prometheus-adapter is left out (default: %(default)g)",
    )
    p.add_argument("--workdir", type=Path, help="keep logs and data here (default: a temp dir)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench")
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser(
        "storm",
        help="N HPAs x M metrics against Surge, naive Surge, a bare handler and PA",
        description=storm.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _fleet_arguments(s, hpas=500, namespaces=50)
    s.add_argument(
        "--compress",
        type=_compression,
        default="auto",
        help="time compression factor C: sync every 15s/C; Surge's --freshness, "
        "--max-staleness and --refresh-idle-after, and both servers' relist interval and "
        "SubjectAccessReview cache, divided by C; "
        f"auto: the largest whole C <= {storm.MAX_COMPRESSION} keeping the offered load "
        f"under {storm.AUTO_RATE:g} req/s (default: %(default)s)",
    )
    s.add_argument(
        "--syncs",
        type=_positive_int,
        default=3,
        help="measured syncs per mode (default: %(default)s)",
    )
    s.add_argument(
        "--workers",
        type=_positive_int,
        default=storm.HPA_WORKERS,
        help="HPA controller workers (default: %(default)s)",
    )
    s.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        help="closed-loop connections (default: %(default)s)",
    )
    s.add_argument(
        "--loop-seconds",
        type=_positive_float,
        default=3.0,
        help="closed-loop seconds (default: %(default)s)",
    )
    s.add_argument(
        "--modes",
        type=_modes,
        default=storm.MODES,
        help=f"subset of {','.join(storm.MODES)} (default: all)",
    )
    s.add_argument(
        "--kube",
        choices=kube.KUBES,
        help="the Kubernetes API every server reads: real (tests/e2e's kube-apiserver; the "
        "default when tests/e2e/build.sh has built it) or standin (the Python stand-in)",
    )
    s.add_argument(
        "--surge-reviews",
        choices=storm.SURGE_REVIEWS,
        default="broad",
        help="Surge's SubjectAccessReviews: broad (its default: all namespaces and names "
        "first) or exact (each request's own, as prometheus-adapter asks them)",
    )
    _run_arguments(s)
    c = commands.add_parser(
        "controller",
        help="the real HPA controller with N HPAs through the aggregator: Surge, then PA",
        description=controller.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _fleet_arguments(c, hpas=1000, namespaces=100)
    c.add_argument(
        "--compress",
        type=_positive_float,
        default=1.0,
        help="time compression factor C: the controller syncs every 15s/C, Surge's durations "
        "and both adapters' relist interval are divided by C (default: %(default)g)",
    )
    c.add_argument(
        "--syncs",
        type=_positive_int,
        default=4,
        help="sync periods in each adapter's window (default: %(default)s)",
    )
    c.add_argument(
        "--adapters",
        type=_adapters,
        default=controller.ADAPTERS,
        help="which adapters, in the order measured (default: surge,prometheus-adapter)",
    )
    _run_arguments(c)
    shared.add_parser(commands)
    forecast.add_parser(commands)
    t = commands.add_parser(
        "tune",
        help="surge tune on four generated week-long shapes, judged on a held-out day",
        description=tune.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--small", action="store_true", help="the tests' size: three-hour days")
    t.add_argument(
        "shapes", nargs="*", help=f"a subset of {', '.join(s.name for s in tune.SHAPES)}"
    )
    # Listed for help; main() hands its arguments to bench.fuzz before parsing.
    commands.add_parser(
        "fuzz",
        help="hypothesis on routes, selectors, config, Prometheus answers, auth and the app",
    )
    k = commands.add_parser(
        "kube-standin", help="(internal) the Kubernetes stand-in process of `storm --kube standin`"
    )
    k.add_argument("--objects", type=Path, required=True)
    k.add_argument("--kubeconfig", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fuzz"]:
        from bench import fuzz

        return fuzz.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "shared":
        return shared.main(args)
    if args.command == "forecast":
        return forecast.main(args)
    if args.command == "tune":
        return tune.main(args.small, args.shapes)
    if args.command == "kube-standin":
        kube.serve_standin(args.objects, args.kubeconfig)
        return 0
    if args.command == "controller":
        return _controller(args)
    compression = (
        storm.auto_compression(args.hpas, args.metrics)
        if args.compress == "auto"
        else args.compress
    )
    scenario = storm.Scenario(
        hpas=args.hpas,
        metrics=args.metrics,
        namespaces=min(args.namespaces, args.hpas),
        compression=compression,
        syncs=args.syncs,
        workers=args.workers,
        concurrency=args.concurrency,
        loop_s=args.loop_seconds,
    )
    options = storm.Options(
        scenario,
        kube=args.kube or kube.default_kube(),
        modes=args.modes,
        pa_build_timeout_s=args.pa_build_timeout,
        surge_reviews=args.surge_reviews,
        workdir=args.workdir,
        progress=_log,
    )
    result = _run(storm.run(options), "the storm", storm.render, args.json)
    if isinstance(result, int):
        return result
    return storm_status(result, args.modes)


def storm_status(result: dict[str, Any], asked: tuple[str, ...]) -> int:
    """1 when Surge, naive Surge or the bare handler was not measured, or any mode answered
    wrong (named on stderr in one line); else 0."""
    modes = result["modes"]
    wrong = [f"{m} ({f['wrong']} of {f['requests']})" for m, f in modes.items() if f and f["wrong"]]
    if wrong:
        print(f"python -m bench storm: wrong answers from {', '.join(wrong)}", file=sys.stderr)
    missing = [m for m in ("surge", "naive", "bare") if m in asked and not modes[m]]
    return 1 if wrong or missing else 0


def _controller(args: argparse.Namespace) -> int:
    scenario = storm.Scenario(
        hpas=args.hpas,
        metrics=args.metrics,
        namespaces=min(args.namespaces, args.hpas),
        compression=args.compress,
        syncs=args.syncs,
    )
    options = controller.Options(
        scenario,
        pa_build_timeout_s=args.pa_build_timeout,
        workdir=args.workdir,
        progress=_log,
        adapters=args.adapters,
    )
    result = _run(controller.run(options), "the controller benchmark", controller.render, args.json)
    if isinstance(result, int):
        return result
    return 1 if any(result["adapters"][a] is None for a in args.adapters) else 0


@functools.cache
def _errors() -> Console:
    """One console on stderr for a run's progress and its errors."""
    from rich.console import Console

    return Console(stderr=True)


def _log(text: str) -> None:
    _errors().log(text)


def _run(
    run: Coroutine[Any, Any, dict[str, Any]],
    what: str,
    render: Callable[[dict[str, Any]], Iterable[Any]],
    as_json: bool,
) -> dict[str, Any] | int:
    """A run that starts processes: its result printed, or the exit status it ended with."""
    from rich.console import Console

    errors = _errors()
    try:
        result = asyncio.run(run)
    except KeyboardInterrupt:
        errors.print("interrupted; every process the run started is stopped")
        return 130
    except (PrometheusError, kube.KubeError) as err:
        errors.print(f"[red]cannot run {what}:[/red] {err}")
        return 1
    if as_json:
        print(json.dumps(result))
    else:
        out = Console()
        for part in render(result):
            out.print(part)
    return result


if __name__ == "__main__":
    sys.exit(main())

"""`surge capacity export --seed` and `surge capacity fit`: capacity files
(docs/capacity-format.md) from the seed's model or from a service's own history."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from autoscaler.simulation.capacity import SEED_EXPORT_COMMENTS, document, export_seed
from autoscaler.simulation.timeline import TimelineError, TimelineUnavailable


def _bytes(text: str) -> int:
    """1073741824, 1Gi or 512Mi."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return round(float(text[: -len(suffix)]) * factor)
    return round(float(text))


def add_parser(sub: argparse._SubParsersAction, duration: object) -> None:
    """The `capacity` command and its two subcommands; `duration` parses 40s, 3m."""
    capacity = sub.add_parser("capacity", help="capacity files: export the seed's, fit history")
    commands = capacity.add_subparsers(dest="capacity_command", metavar="COMMAND")
    export = commands.add_parser("export", help="print a built-in capacity model as a file")
    export.add_argument(
        "--seed", action="store_true", required=True, help="the seed's calibrated model"
    )
    fit = commands.add_parser("fit", help="fit a capacity file from a service's history")
    src = fit.add_argument_group("the history (one of)")
    src.add_argument(
        "--timeline",
        metavar="FILE",
        help="CSV or JSON: time, qps, replicas, p99_seconds [, waiting, cpu, memory]",
    )
    src.add_argument("--prometheus-url", metavar="URL", help="range queries (with --query)")
    src.add_argument(
        "--query",
        action="append",
        metavar="NAME=PROMQL",
        help="qps (total), replicas (ready pods), p99_seconds; optional per-pod waiting, "
        "cpu (cores), memory (bytes)",
    )
    src.add_argument("--start", metavar="TIME", help="RFC 3339 or unix seconds")
    src.add_argument("--end", metavar="TIME", help="RFC 3339 or unix seconds")
    src.add_argument("--step", type=duration, default=60.0, metavar="DURATION", help="default 1m")
    m = fit.add_argument_group("the pods (not in the history)")
    m.add_argument("--cpu-request", type=float, default=0.5, metavar="CORES", help="default 0.5")
    m.add_argument(
        "--memory-request", type=_bytes, default=2**30, metavar="BYTES", help="default 1Gi"
    )
    m.add_argument(
        "--ready-delay", type=duration, default=40.0, metavar="DURATION", help="default 40s"
    )
    fit.add_argument("--out", default="capacity.yaml", metavar="FILE", help="default capacity.yaml")


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.capacity_command == "export":
        out.write(document(export_seed(), SEED_EXPORT_COMMENTS))
        return 0
    return _fit(args, out)


def _fit(args: argparse.Namespace, out: TextIO) -> int:
    from autoscaler.simulation import timeline as tl
    from autoscaler.simulation.fit import FitError, fit
    from autoscaler.simulation.progress import progress

    try:
        if bool(args.timeline) == bool(args.prometheus_url):
            raise FitError("give one of --timeline FILE, --prometheus-url URL")
        if args.cpu_request <= 0 or args.memory_request <= 0 or args.ready_delay < 0:
            raise FitError("--cpu-request and --memory-request must be above 0")
        if args.timeline:
            timeline = tl.read_file(args.timeline)
        else:
            if args.start is None or args.end is None:
                raise FitError("--prometheus-url needs --start and --end")
            start, end = tl.parse_time(args.start), tl.parse_time(args.end)
            queries = tl.parse_queries(args.query or [])
            total = len(queries) * len(tl.chunks(start, end, args.step))
            with progress("reading Prometheus", total) as bar:
                timeline = tl.read_prometheus(
                    args.prometheus_url, queries, start, end, args.step, bar.advance
                )
        result = fit(timeline, args.cpu_request, args.memory_request, args.ready_delay)
    except (FitError, TimelineError, ValueError) as err:
        print(f"surge capacity fit: {err}", file=sys.stderr)
        return 2
    except TimelineUnavailable as err:
        print(f"surge capacity fit: {err}", file=sys.stderr)
        return 1
    except ImportError as err:
        print(f"surge capacity fit: needs pip install 'surge[tools]' ({err})", file=sys.stderr)
        return 1
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(document(result.capacity, result.comments()))
    except OSError as err:
        print(f"surge capacity fit: cannot write {args.out}: {err.strerror}", file=sys.stderr)
        return 1
    for line in result.lines():
        out.write(line + "\n")
    out.write(f"capacity file: {args.out}\n")
    return 0

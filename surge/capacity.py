"""`surge capacity export --seed` and `surge capacity fit`: capacity files
(docs/capacity-format.md) from the seed's model or from a service's own history."""

from __future__ import annotations

import sys
from typing import TextIO

from autoscaler.simulation.capacity import SEED_EXPORT_COMMENTS, document, export_seed
from autoscaler.simulation.timeline import TimelineError, TimelineUnavailable
from surge.options import CapacityOptions


def main(args: CapacityOptions, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.capacity_command == "export":
        out.write(document(export_seed(), SEED_EXPORT_COMMENTS))
        return 0
    return _fit(args, out)


def _fit(args: CapacityOptions, out: TextIO) -> int:
    from autoscaler.simulation import timeline as tl
    from autoscaler.simulation.fit import READ_COLUMNS, FitError, fit, from_simulation
    from autoscaler.simulation.progress import progress

    try:
        if bool(args.timeline) == bool(args.prometheus_url):
            raise FitError("give one of --timeline FILE, --prometheus-url URL")
        if args.cpu_request <= 0 or args.memory_request <= 0 or args.ready_delay < 0:
            raise FitError("--cpu-request and --memory-request must be above 0")
        if args.timeline:
            timeline = from_simulation(tl.read_file(args.timeline, READ_COLUMNS), args.cpu_request)
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
        print(
            f"surge capacity fit: needs the [tools] extra, pip install '.[tools]' in Surge's "
            f"source ({err})",
            file=sys.stderr,
        )
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

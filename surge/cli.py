"""The `surge` command line: parse the flags (surge.flags), build the command's options
(surge.options) once, and run the command's module.

Results go to stdout, logs to stderr. Exit 0: success; 1: a failed answer or check;
2: a usage error or invalid input (one line naming the problem).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

from surge import options
from surge.flags import build_parser

log = logging.getLogger("surge")


def _dispatch(args: argparse.Namespace) -> Callable[[], int]:
    if args.command == "check":
        from surge.check import check

        return lambda: asyncio.run(check(options.check_options(args)))
    if args.command == "serve":
        import uvloop

        from surge.serve import serve

        # uvloop: the closed loop at 5,000 HPAs is bound by this one loop's CPU (bench/README.md)
        return lambda: uvloop.run(serve(options.serve_options(args)))
    if args.command == "query":
        from surge.query import query

        return lambda: asyncio.run(query(options.query_options(args)))
    if args.command == "demo":
        from surge.demo.run import demo

        return lambda: demo(options.demo_options(args))
    if args.command == "hpa" and args.hpa_command == "evaluate":
        from autoscaler.cases import main as evaluate

        return lambda: evaluate(args.cases)
    if args.command == "simulate":
        from autoscaler.simulation.command import main as simulate

        return lambda: simulate(options.simulate_options(args))
    if args.command == "tune":
        from surge import tune

        return lambda: tune.main(options.tune_options(args))
    if args.command == "capacity":
        from surge import capacity

        return lambda: capacity.main(options.capacity_options(args))
    if args.command == "explain":
        from autoscaler.core.versions import VersionError, parse_gates
        from autoscaler.explain import main as explain
        from surge.wiring import UsageError, forecast_config

        try:
            gates = parse_gates(args.feature_gates)
        except VersionError as err:
            raise UsageError(str(err)) from None
        hpa = options.hpa_options(args)
        forecasts: tuple[str, ...] = ()
        if args.forecast_config:
            forecasts = tuple(r.name for r in forecast_config(args.forecast_config).rules)
        return lambda: explain(
            args.target,
            args.kubeconfig,
            args.output,
            options=hpa,
            feature_gates=gates,
            forecasts=forecasts,
        )
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from surge import logs
    from surge.wiring import CommandFailed, UsageError

    logging_options = options.log_options(args)
    logs.setup(logging_options.format, logging_options.level)
    try:
        return _dispatch(args)()
    except UsageError as err:
        print(f"surge {args.command}: {err}", file=sys.stderr)
        return 2
    except CommandFailed as err:
        print(f"surge {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `surge ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:  # a bug: still one line; the traceback goes to the debug log
        log.debug("unexpected error", exc_info=True)
        first = str(err).splitlines()[0] if str(err) else ""
        print(
            f"surge {args.command}: unexpected error: {type(err).__name__}: {first} "
            "(--log-level=debug shows where)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

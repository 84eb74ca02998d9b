"""`surge check FILE`: what can be known about a prometheus-adapter config without serving.

Offline: the file as prometheus-adapter reads it, each template rendered with
representative arguments and parsed as PromQL. With `--objects` or `--kubeconfig`: also
that every resource a rule names is served. Exit 1 with one line per error; warnings
(valid for both servers, yet suspicious) leave the exit at 0.
"""

from __future__ import annotations

import argparse
import asyncio

from adapter.naming import namer_problems
from adapter.objects import KubeAPI, ObjectsFileError, StaticObjects
from adapter.resources import ResourceMapper
from adapter.rules import ConfigError, check_text, read_file
from surge.wiring import UsageError, api_client, discover


async def _mapper(args: argparse.Namespace) -> ResourceMapper:
    """The resources the rules will meet: the --objects file's, or the cluster's."""
    if args.objects:
        try:
            return (await asyncio.to_thread(StaticObjects.from_file, args.objects)).mapper
        except ObjectsFileError as err:
            raise UsageError(str(err)) from None
    api = KubeAPI(await api_client(args.kubeconfig, "objects"))
    try:
        return await discover(api)
    finally:
        await api.client.close()


async def _judge(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(errors, warnings), each `FILE:LINE: message`."""
    try:
        text = read_file(args.file)
    except ConfigError as err:  # unreadable: not a verdict on its content
        raise UsageError(err.problems[0]) from None
    if args.forecast:
        from adapter.forecast.rules import parse_forecast_config

        try:
            parse_forecast_config(text, args.file)
        except ConfigError as err:
            return err.problems, []
        return [], []
    result = check_text(text, args.file)
    errors = result.errors
    if result.config is not None and (args.objects or args.kubeconfig):
        errors += namer_problems(result.config, await _mapper(args))
    return errors, result.warning_lines


async def check(args: argparse.Namespace) -> int:
    errors, warnings = await _judge(args)
    for line in errors + warnings:
        print(line)
    if not errors:
        count = len(warnings)
        print(f"{args.file}: OK" + (f" ({count} warning{'s' * (count > 1)})" if count else ""))
    return 1 if errors else 0

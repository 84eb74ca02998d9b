"""`surge check FILE`: what can be known about a prometheus-adapter config without serving.

Offline: the file as prometheus-adapter reads it, each template rendered with
representative arguments and parsed as PromQL. With `--objects` or `--kubeconfig`: also
that every resource a rule names is served. Exit 1 with one line per error; warnings
(valid for both servers, yet suspicious) leave the exit at 0.
"""

from __future__ import annotations

import asyncio

from adapter.naming import namer_problems
from adapter.objects import KubeAPI, ObjectsFileError, StaticObjects
from adapter.resources import ResourceMapper
from adapter.rules import ConfigError, check_text, read_file
from surge.options import CheckOptions
from surge.wiring import UsageError, api_client, discover


async def _mapper(options: CheckOptions) -> ResourceMapper:
    """The resources the rules will meet: the --objects file's, or the cluster's."""
    if options.objects:
        try:
            return (await asyncio.to_thread(StaticObjects.from_file, options.objects)).mapper
        except ObjectsFileError as err:
            raise UsageError(str(err)) from None
    api = KubeAPI(await api_client(options.kubeconfig, "objects"))
    try:
        return await discover(api)
    finally:
        await api.client.close()


async def _judge(options: CheckOptions) -> tuple[list[str], list[str]]:
    """(errors, warnings), each `FILE:LINE: message`."""
    try:
        text = read_file(options.file)
    except ConfigError as err:  # unreadable: not a verdict on its content
        raise UsageError(err.problems[0]) from None
    if options.forecast:
        from adapter.forecast.rules import parse_forecast_config

        try:
            parse_forecast_config(text, options.file)
        except ConfigError as err:
            return err.problems, []
        return [], []
    result = check_text(text, options.file)
    errors = result.errors
    if result.config is not None and (options.objects or options.kubeconfig):
        errors += namer_problems(result.config, await _mapper(options))
    return errors, result.warning_lines


async def check(options: CheckOptions) -> int:
    errors, warnings = await _judge(options)
    for line in errors + warnings:
        print(line)
    if not errors:
        count = len(warnings)
        print(f"{options.file}: OK" + (f" ({count} warning{'s' * (count > 1)})" if count else ""))
    return 1 if errors else 0

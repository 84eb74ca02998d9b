"""Metric history for `surge simulate`: read from a CSV or JSON file, or from Prometheus.

A timeline is a column of samples per name over time. Column names are the HPA's metric
names (`cpu` and `memory` for Resource metrics) holding what the metrics API would have
answered (docs/simulate.md), plus optional `replicas` (the replicas the samples were
recorded under), `qps` and `p99_seconds` for the report. Between samples a value holds
until the next one, as the HPA keeps reading the last value an adapter serves.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoscaler.simulation import records

# Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS_PER_QUERY = 10_000
TIME_COLUMNS = ("time", "timestamp")
QUERY_TIMEOUT_S = 120


class TimelineError(ValueError):
    """Input that is not a usable timeline; the message is one line naming the problem."""


class TimelineUnavailable(RuntimeError):
    """Prometheus could not be read (unreachable, or it answered an error)."""


@dataclass(frozen=True)
class Series:
    times: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Timeline:
    """Samples by column name; each column keeps only the instants it has a value for."""

    columns: Mapping[str, Series]
    source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.columns)

    @property
    def start(self) -> float:
        return min(s.times[0] for s in self.columns.values() if s.times)

    @property
    def instants(self) -> tuple[float, ...]:
        """Every time any column has a sample at, sorted."""
        return tuple(sorted({t for s in self.columns.values() for t in s.times}))

    def value_at(self, name: str, t: float) -> float | None:
        """The last sample of `name` at or before `t`, or None before its first sample."""
        series = self.columns.get(name)
        if series is None:
            return None
        i = bisect.bisect_right(series.times, t)
        return series.values[i - 1] if i else None


def build(rows: Sequence[tuple[float, Mapping[str, float | None]]], source: str) -> Timeline:
    """A timeline from (time, {name: value or None}) rows in any order."""
    samples: dict[str, list[tuple[float, float]]] = {}
    for t, values in rows:
        for name, value in values.items():
            column = samples.setdefault(name, [])
            if value is not None and not math.isnan(value):
                column.append((t, value))
    if not rows:
        raise TimelineError(f"{source}: no samples")
    columns = {}
    for name, points in samples.items():
        points.sort(key=lambda p: p[0])
        columns[name] = Series(tuple(p[0] for p in points), tuple(p[1] for p in points))
    if not any(s.times for s in columns.values()):
        raise TimelineError(f"{source}: no values, only empty cells")
    return Timeline(columns, source)


def parse_time(text: str | float | int) -> float:
    """RFC 3339 (2026-01-05T09:00:00Z) or unix seconds, as unix seconds."""
    if isinstance(text, bool):
        raise ValueError("a time, not a boolean")
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise ValueError(f"not a time: {text!r}")
        return float(text)
    stripped = text.strip()
    try:
        return float(stripped)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (RFC 3339 such as 2026-01-05T09:00:00Z, or unix seconds)"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"not a time: {text!r} has no time zone (add Z or +08:00)")
    return parsed.timestamp()


def _number(value: Any, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise TimelineError(f"{where}: not a number: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TimelineError(f"{where}: not a number: {value!r}") from None
    if math.isinf(number):
        raise TimelineError(f"{where}: not a finite number: {value!r}")
    return number


def _row(
    record: Mapping[str, Any], where: str, time_key: str, names: Collection[str] | None
) -> tuple[float, dict[str, float | None]]:
    try:
        t = parse_time(record[time_key])
    except (ValueError, TypeError) as err:
        raise TimelineError(f"{where}: {time_key}: {err}") from None
    values = {
        str(k): _number(v, f"{where}: {k}")
        for k, v in record.items()
        if k != time_key and k and (names is None or k in names)
    }
    return t, values


def read_csv(path: Path, names: Collection[str] | None = None) -> Timeline:
    """A header line `time,<name>,...`, then one row per instant; empty cells have no sample.
    With `names`, only those columns are read (the others may hold anything)."""
    header, rows = records.read_csv(path, TimelineError)
    time_key = next((k for k in header if k.lower() in TIME_COLUMNS), None)
    if time_key is None:
        raise TimelineError(f"{path}: line 1: the header needs a `time` column")
    return build([_row(record, where, time_key, names) for where, record in rows], str(path))


def read_json(path: Path, names: Collection[str] | None = None) -> Timeline:
    """A list of objects `{"time": ..., "<name>": number or null, ...}`."""
    document = records.read_json(path, TimelineError)
    if not isinstance(document, list):
        raise TimelineError(f'{path}: expected a list of {{"time": ..., "<metric>": ...}} rows')
    rows = []
    for i, record in enumerate(document):
        where = f"{path}: row {i}"
        if not isinstance(record, dict):
            raise TimelineError(f"{where}: not an object")
        time_key = next((k for k in record if k.lower() in TIME_COLUMNS), None)
        if time_key is None:
            raise TimelineError(f"{where}: has no `time`")
        rows.append(_row(record, where, time_key, names))
    return build(rows, str(path))


def read_file(path: str | Path, names: Collection[str] | None = None) -> Timeline:
    """CSV or JSON, by the file's extension or, without one, by its first character."""
    p = Path(path)
    return read_json(p, names) if records.is_json(p, TimelineError) else read_csv(p, names)


def parse_queries(items: Sequence[str]) -> dict[str, str]:
    """NAME=PROMQL pairs (the query may contain `=`)."""
    queries: dict[str, str] = {}
    for item in items:
        name, sep, promql = item.partition("=")
        name = name.strip()
        if not sep or not name or not promql.strip():
            raise TimelineError(f"--query {item!r}: expected NAME=PROMQL")
        if name in queries:
            raise TimelineError(f"--query: {name} is given twice")
        queries[name] = promql.strip()
    return queries


def chunks(start: float, end: float, step_s: float) -> list[tuple[float, float]]:
    """[start, end] cut into ranges of at most MAX_POINTS_PER_QUERY points each."""
    span = step_s * (MAX_POINTS_PER_QUERY - 1)
    out = []
    t = start
    while t <= end:
        out.append((t, min(t + span, end)))
        t += span + step_s
    return out


def read_prometheus(
    url: str,
    queries: Mapping[str, str],
    start: float,
    end: float,
    step_s: float,
    advance: Callable[[], None] = lambda: None,
) -> Timeline:
    """Range queries (prometheus-api-client), one column per query; each query must give
    one series. `advance` is called after each range request, for a progress bar."""
    if end <= start:
        raise TimelineError("--end must be after --start")
    if step_s <= 0:
        raise TimelineError("--step must be positive")
    from adapter.prometheus import url_problem  # aiohttp's import only where it is used

    if problem := url_problem(url):
        raise TimelineError(problem)
    try:
        from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
        from requests.exceptions import RequestException
        from urllib3.util.retry import Retry
    except ImportError as err:
        raise TimelineUnavailable(
            f"--prometheus-url needs the prometheus-api-client package: "
            f"the [history] extra, pip install '.[history]' in Surge's source ({err})"
        ) from None

    # A refused connection fails at once; an overloaded Prometheus gets two more tries.
    retry = Retry(total=2, connect=0, backoff_factor=0.5, status_forcelist=(502, 503, 504))
    client = PrometheusConnect(
        url=url,
        disable_ssl=not url.startswith("https"),
        retry=retry,
        timeout=QUERY_TIMEOUT_S,
        method="POST",
    )
    samples: dict[float, dict[str, float | None]] = {}
    for name, promql in queries.items():
        found = False
        for lo, hi in chunks(start, end, step_s):
            try:
                result = client.custom_query_range(
                    promql,
                    start_time=datetime.fromtimestamp(lo, UTC),
                    end_time=datetime.fromtimestamp(hi, UTC),
                    step=f"{step_s:g}s",
                )
            except PrometheusApiClientException as err:
                raise TimelineError(f"--query {name}: Prometheus refused it: {err}") from None
            except RequestException as err:
                raise TimelineUnavailable(f"Prometheus at {url} unreachable: {err}") from None
            advance()
            if len(result) > 1:
                raise TimelineError(
                    f"--query {name}: {len(result)} series; aggregate them to one "
                    "(avg(...) for a per-pod value, sum(...) for a total)"
                )
            for t, value in result[0]["values"] if result else ():
                samples.setdefault(float(t), {})[name] = float(value)
                found = True
        if not found:
            raise TimelineError(f"--query {name}: no data between --start and --end")
    return build(sorted(samples.items()), f"Prometheus {url}")

"""Files of time-stamped rows (timelines, traffic traces): reading CSV or JSON and saying
in one line why a file cannot be read, with the caller's error class (each is exit 2), and
how long the rows cover."""

from __future__ import annotations

import csv
import itertools
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CsvRow = tuple[str, dict[str, str]]


def read_csv(path: Path, error: type[ValueError]) -> tuple[list[str], list[CsvRow]]:
    """The header (names stripped) and each row as (`FILE: line N`, {name: cell})."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = [name.strip() for name in reader.fieldnames or []]
            rows = []
            for record in reader:
                where = f"{path}: line {reader.line_num}"
                if None in record:
                    raise error(f"{where}: more cells than the header has names")
                rows.append((where, {k.strip(): v for k, v in record.items()}))
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise error(f"{path}: not a CSV file: {err}") from None
    return header, rows


def read_json(path: Path, error: type[ValueError]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path}: not JSON: {err}") from None


def is_json(path: Path, error: type[ValueError]) -> bool:
    """By the extension (.json or .csv) or, without one, by the first character."""
    suffix = path.suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix == ".json"
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            head = f.read(256).lstrip()
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror}") from None
    return head.startswith(("[", "{"))


def covered_until(times: Sequence[float], lone_s: float) -> float:
    """Where samples at the sorted `times` stop standing for what they record: the last one
    holds for the record's usual step (the median gap, so a hole does not stretch it), or
    `lone_s` alone. A day of per-minute samples, 00:00 to 23:59, covers the whole day: the
    days a run holds out then start on a day boundary, not a minute before it."""
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return times[-1] + (statistics.median(gaps) if gaps else lone_s)

"""The ecosystem tools built from the Go module proxy by tests/e2e/build_tools.sh (helm,
KEDA). Tests never build: a missing tool fails the test with the command that builds it."""

from __future__ import annotations

import subprocess
from pathlib import Path

BUILD_TOOLS = Path(__file__).resolve().parents[1] / "e2e" / "build_tools.sh"


class ToolMissing(RuntimeError):
    """The tool is not built (or Go is missing): the message says what to run."""


def tool_bin(tool: str) -> Path:
    """The cached bin dir of `tool`."""
    done = subprocess.run(
        ["bash", str(BUILD_TOOLS), "--bin", tool],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if done.returncode != 0:
        raise ToolMissing(
            f"{done.stderr.strip()}\n(tests/e2e/build.sh builds it; .ci/run and the README's "
            "test command run that before pytest)"
        )
    return Path(done.stdout.strip())

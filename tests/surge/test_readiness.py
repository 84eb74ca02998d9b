"""surge.readiness: a child that exits, or never passes its probe, is an error with
its log; one whose probe fails with OSError for a while is waited for."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from surge.readiness import wait_ready


class NotReady(RuntimeError):
    pass


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_a_child_that_exits_first_is_named_with_its_code_and_log() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(NotReady) as caught:
        wait_ready(process, lambda: False, 60, name="child", log=lambda: "LOG", error=NotReady)
    assert str(caught.value) == "child exited with code 3 before it was ready:\nLOG"


def test_a_probe_failing_with_oserror_is_retried(sleeper: subprocess.Popen[bytes]) -> None:
    answers: list[bool | OSError] = [ConnectionRefusedError(), False, True]

    def probe() -> bool:
        answer = answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer

    wait_ready(sleeper, probe, 60, name="child", log=lambda: "", error=NotReady)
    assert answers == []


def test_a_probe_never_passing_gives_up_with_the_log(sleeper: subprocess.Popen[bytes]) -> None:
    with pytest.raises(NotReady, match=r"^child was not ready after 0s:\nLOG$"):
        wait_ready(sleeper, lambda: False, 0, name="child", log=lambda: "LOG", error=NotReady)
    assert sleeper.poll() is None  # the caller stops it

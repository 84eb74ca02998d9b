"""Every `surge` command on a corpus of broken inputs (bench/commands.py): the documented
exit status (DESIGN.md: 1 a failed answer or check, 2 a usage error or invalid input), one
line naming the problem, and never a traceback. The commands run as subprocesses, four at
once, in a module fixture; each case is then reported on its own."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench import commands

# About 120 commands of a few seconds each (most of it Python starting), four at a time.
pytestmark = pytest.mark.timeout(1200)

# Names only: the paths of the real workspace differ, the cases do not.
NAMES = [case.name for case in commands.cases(commands.Workspace(Path("corpus")))]

Ran = dict[str, tuple[commands.Case, commands.Outcome]]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    work = commands.Workspace(tmp_path_factory.mktemp("cli-corpus")).prepare()
    corpus = commands.cases(work)
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda case: commands.run(case.argv), corpus))
    return {case.name: (case, outcome) for case, outcome in zip(corpus, outcomes, strict=True)}


@pytest.mark.parametrize("name", NAMES)
def test_one_line_the_documented_status_and_no_traceback(ran: Ran, name: str) -> None:
    case, outcome = ran[name]
    assert commands.verdict(case, outcome) == [], (
        f"surge {' '.join(case.argv)}\nexit {outcome.code}\n"
        f"stdout: {outcome.stdout[-2000:]}\nstderr: {outcome.stderr[-3000:]}"
    )


def test_every_command_is_in_the_corpus() -> None:
    """A command added to the CLI without a line in the corpus fails here."""
    from surge.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "command").choices
    covered = {name.split(" ")[0] for name in commands.verbs(commands.Workspace(Path("x")))}
    assert set(verbs) <= covered, set(verbs) - covered

"""A command group without its command (`surge hpa`, `surge capacity`) is a usage error on
one line naming what is missing, exit 2, as git and kubectl answer; not the help page."""

from __future__ import annotations

import pytest

from surge.cli import main


@pytest.mark.parametrize(
    ("group", "choices"), [("hpa", {"evaluate"}), ("capacity", {"export", "fit"})]
)
def test_a_group_alone_is_a_one_line_usage_error(
    group: str, choices: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([group])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert err == (
        f"surge {group}: the following arguments are required: COMMAND (see surge {group} --help)\n"
    )
    with pytest.raises(SystemExit):
        main([group, "--help"])
    listed = capsys.readouterr().out
    assert all(f"    {name}" in listed for name in choices)  # where the commands are


def test_surge_alone_still_shows_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err

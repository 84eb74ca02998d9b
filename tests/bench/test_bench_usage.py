"""`python -m bench storm` and `controller` answer a bad value with one line naming the flag
and exit 2, before starting anything; their help gives each figure's default."""

from __future__ import annotations

import pytest

from bench.__main__ import _parser, main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["storm", "--hpas", "abc"], "argument --hpas: not a whole number: 'abc'"),
        (["storm", "--hpas", "0"], "argument --hpas: must be at least 1, got 0"),
        (["storm", "--compress", "x"], "argument --compress: not a number: 'x' (or auto)"),
        (["storm", "--compress", "0"], "--compress: must be above 0 and finite, got 0 (or auto)"),
        (["storm", "--loop-seconds", "inf"], "--loop-seconds: must be above 0 and finite, got inf"),
        (["controller", "--compress", "nan"], "--compress: must be above 0 and finite, got nan"),
        (["controller", "--syncs", "1.5"], "argument --syncs: not a whole number: '1.5'"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"python -m bench {argv[0]}: error: ")
    assert last.endswith(message)


def test_compress_takes_auto_or_a_factor() -> None:
    assert _parser().parse_args(["storm"]).compress == "auto"
    assert _parser().parse_args(["storm", "--compress", "2.5"]).compress == 2.5


@pytest.mark.parametrize("command", ["storm", "controller"])
def test_help_gives_the_scale_and_its_defaults(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for flag in ("--hpas", "--metrics", "--namespaces", "--syncs", "--pa-build-timeout"):
        option = help_text.split(f" {flag} {flag.lstrip('-').replace('-', '_').upper()} ")[1]
        assert "(default: " in option.split(" --")[0], flag

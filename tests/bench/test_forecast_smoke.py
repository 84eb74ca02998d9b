"""`python -m bench forecast`'s model part at a small scale: the served profile misses
fewer ramps than the load now alone, and the command line answers bad names with 2."""

from __future__ import annotations

from bench.__main__ import main
from bench.forecast import models


def test_the_profile_misses_fewer_ramps_than_the_load_now() -> None:
    reactive, profile = models(("steep-ramps",), ("profile",))
    assert (reactive["model"], profile["model"]) == ("reactive (load now)", "profile")
    assert float(profile["servedUnder"]) < float(reactive["servedUnder"]) / 3
    assert float(profile["mape"]) < float(reactive["mape"])


def test_unknown_names_are_a_usage_error() -> None:
    assert main(["forecast", "--part", "models", "--traces", "nope"]) == 2

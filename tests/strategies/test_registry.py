"""The strategy registry: each strategy's parameter model, and what derives from it."""

from __future__ import annotations

import pytest

from valuespectrum.strategies import (
    STRATEGIES,
    StrategyOptions,
    build_strategy,
    strategy_for_trial,
    strategy_params,
)
from valuespectrum.strategies.registry import option_name


def test_the_spec_options_block_is_every_registered_parameter_with_its_default():
    expected = {option_name(f, s.params): info.default for s in STRATEGIES.values()
                for f, info in s.params.model_fields.items()}
    assert StrategyOptions().model_dump() == expected
    # what users write today: isq_format, followups, caption_question
    assert expected == {"followups": False, "isq_format": "json", "caption_question": "simple"}


def test_each_strategy_takes_only_its_own_parameters_from_the_block():
    block = StrategyOptions(isq_format="turns", followups=True, caption_question="own")
    got = {name: block.params_for(name).model_dump() for name in STRATEGIES}
    assert got == {"plain": {"followups": True}, "simple": {}, "isq": {"mode": "turns"},
                   "caption_llm": {"question": "own"}}


def test_stored_params_build_the_strategy_they_name():
    isq = build_strategy("isq", {"mode": "turns"})
    assert (isq.name, isq.mode) == ("isq", "turns")
    assert build_strategy("plain", {}).followups is False  # the model's (a sweep's) default
    assert build_strategy("caption_llm", {"question": "plain"}).question == "plain"
    with pytest.raises(ValueError, match="^strategy plain: mode: unknown field"):
        build_strategy("plain", {"mode": "turns"})
    with pytest.raises(ValueError, match="unknown strategy 'isq2'"):
        strategy_params("isq2")


def test_a_trial_spec_holds_its_strategy_as_name_and_params(tmp_path):
    from pydantic import ValidationError

    from valuespectrum.models.spec import ModelSpec
    from valuespectrum.personas import Persona
    from valuespectrum.trial import PlatformSpec, TrialSpec

    base = dict(trial_id="t", cell="p|m|tiktok|isq", index=0,
                persona=Persona(name="p", description="d", traits=["I like dogs."],
                                values=["benevolence"]),
                model=ModelSpec.parse("always:yes"), platform=PlatformSpec(style="tiktok"),
                strategy="isq", scrolls=2, seed=7)
    trial = TrialSpec(**base)
    assert trial.strategy_params == {"mode": "json"}  # defaults filled
    trial = TrialSpec(**base, strategy_params={"mode": "turns"})
    strategy = strategy_for_trial(trial)
    assert (strategy.mode, strategy.config.seed) == ("turns", 7)
    with pytest.raises(ValidationError, match="strategy isq: followups: unknown field"):
        TrialSpec(**base, strategy_params={"followups": True})

"""Prompting strategies: how a viewer questions its model about one screenshot.

Public API::

    from valuespectrum.strategies import make_strategy, isq_score, parse_yes_no
    strategy = make_strategy("isq")
    decision = await strategy.decide(obs, persona, backend)

`STRATEGIES` is the registry: spec validation, the CLI and the actors all read it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from valuespectrum.strategies.base import Strategy, load_prompts, persona_prompt
from valuespectrum.strategies.isq import ISQStrategy
from valuespectrum.strategies.paper import CaptionLLMStrategy, PlainStrategy, SimpleStrategy
from valuespectrum.strategies.parsing import isq_score, parse_json_object, parse_scale, parse_yes_no
from valuespectrum.trial import StrategyOptions, TrialSpec
from valuespectrum.types import GenerateConfig

STRATEGIES: MappingProxyType[str, type] = MappingProxyType({
    "plain": PlainStrategy,
    "simple": SimpleStrategy,
    "isq": ISQStrategy,
    "caption_llm": CaptionLLMStrategy,
})


#: Which constructor argument of each strategy a `StrategyOptions` field sets (argument ->
#: field). The one mapping: a sweep's actors and the viewer's replay both build through it.
OPTION_PARAMS: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType({
    "plain": MappingProxyType({"followups": "followups"}),
    "isq": MappingProxyType({"mode": "isq_format"}),
    "caption_llm": MappingProxyType({"question": "caption_question"}),
})


def validate_strategy(name: str) -> str:
    """Return `name` if it is a registered strategy, else raise ValueError naming them."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return name


def make_strategy(name: str, **params: Any) -> Strategy:
    """Build a strategy by name: ``plain``, ``simple``, ``isq`` or ``caption_llm``.

    Args:
        name: Strategy name.
        **params: Constructor arguments, e.g. ``mode="turns"`` for isq, ``followups=False``
            for plain, ``text_backend=...`` for caption_llm, ``config=GenerateConfig(...)``,
            ``prompts=...``.

    Raises:
        ValueError: unknown name or parameter.
    """
    cls = STRATEGIES[validate_strategy(name)]
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError(f"strategy {name!r}: {e}") from None


def option_params(name: str, options: StrategyOptions) -> dict[str, Any]:
    """The constructor arguments strategy `name` takes from `options` (see `OPTION_PARAMS`)."""
    return {arg: getattr(options, field)
            for arg, field in OPTION_PARAMS.get(validate_strategy(name), {}).items()}


def strategy_for_trial(trial: TrialSpec) -> Strategy:
    """The strategy a sweep trial asks with: its prompt set, options and seed."""
    return make_strategy(trial.strategy, config=GenerateConfig(seed=trial.seed),
                         prompts=trial.prompts or None,
                         **option_params(trial.strategy, trial.options))


__all__ = [
    "OPTION_PARAMS", "STRATEGIES", "CaptionLLMStrategy", "ISQStrategy", "PlainStrategy",
    "SimpleStrategy", "Strategy", "isq_score", "load_prompts", "make_strategy", "option_params", "parse_json_object",
    "parse_scale", "parse_yes_no", "persona_prompt", "strategy_for_trial", "validate_strategy",
]

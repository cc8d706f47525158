"""Prompting strategies: how a viewer questions its model about one screenshot.

Public API::

    from valuespectrum.strategies import make_strategy, isq_score, parse_yes_no
    strategy = make_strategy("isq")
    decision = await strategy.decide(obs, persona, backend)

`STRATEGIES` is the registry (`strategies/registry.py`): each strategy's class and parameter
model. Spec validation, the CLI, the actors and the viewer's replay all read it; a trial
stores its strategy as ``{name, params}`` and is built from it (`build_strategy`).
"""

from __future__ import annotations

from valuespectrum.strategies.base import Strategy, StrategyParams, load_prompts, persona_prompt
from valuespectrum.strategies.isq import ISQParams, ISQStrategy
from valuespectrum.strategies.paper import (
    CaptionLLMParams,
    CaptionLLMStrategy,
    PlainParams,
    PlainStrategy,
    SimpleParams,
    SimpleStrategy,
)
from valuespectrum.strategies.parsing import isq_score, parse_json_object, parse_scale, parse_yes_no
from valuespectrum.strategies.registry import (
    STRATEGIES,
    RegisteredStrategy,
    StrategyOptions,
    build_strategy,
    make_strategy,
    strategy_for_trial,
    strategy_params,
    validate_strategy,
)

__all__ = [
    "STRATEGIES", "CaptionLLMParams", "CaptionLLMStrategy", "ISQParams", "ISQStrategy",
    "PlainParams", "PlainStrategy", "RegisteredStrategy", "SimpleParams", "SimpleStrategy",
    "Strategy", "StrategyOptions", "StrategyParams", "build_strategy", "isq_score",
    "load_prompts", "make_strategy", "parse_json_object", "parse_scale", "parse_yes_no",
    "persona_prompt", "strategy_for_trial", "strategy_params", "validate_strategy",
]

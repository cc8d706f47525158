"""Prompting strategies: how a viewer questions its model about one screenshot.

Public API::

    from valuespectrum.strategies import make_strategy, isq_score, parse_yes_no
    strategy = make_strategy("isq")
    decision = await strategy.decide(obs, persona, backend)
"""

from __future__ import annotations

from typing import Any

from valuespectrum.strategies.base import Strategy, load_prompts, persona_prompt
from valuespectrum.strategies.isq import ISQStrategy
from valuespectrum.strategies.paper import CaptionLLMStrategy, PlainStrategy, SimpleStrategy
from valuespectrum.strategies.parsing import isq_score, parse_json_object, parse_scale, parse_yes_no

STRATEGY_CLASSES: dict[str, type] = {
    "plain": PlainStrategy,
    "simple": SimpleStrategy,
    "isq": ISQStrategy,
    "caption_llm": CaptionLLMStrategy,
}


def make_strategy(name: str, **params: Any) -> Strategy:
    """Build a strategy by name: ``plain``, ``simple``, ``isq`` or ``caption_llm``.

    Args:
        name: Strategy name.
        **params: Constructor arguments, e.g. ``mode="turns"`` for isq, ``followups=False``
            for plain, ``text_backend=...`` for caption_llm, ``config=GenerateConfig(...)``.

    Raises:
        ValueError: unknown name or parameter.
    """
    try:
        cls = STRATEGY_CLASSES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; expected one of {', '.join(STRATEGY_CLASSES)}"
        ) from None
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError(f"strategy {name!r}: {e}") from None


__all__ = [
    "CaptionLLMStrategy", "ISQStrategy", "PlainStrategy", "SimpleStrategy", "Strategy",
    "STRATEGY_CLASSES", "isq_score", "load_prompts", "make_strategy", "parse_json_object",
    "parse_scale", "parse_yes_no", "persona_prompt",
]

"""The strategy registry: each strategy by name, with its class and its parameter model.

A trial stores its strategy as ``{name, params}``: the registered name and the parameters
of that strategy only, defaults filled (`strategy_params`). Everything else is derived from
the registry: a sweep spec's flat `strategy_options` block (`StrategyOptions`, one field per
parameter of any strategy, named by the parameter's alias), the parameters each strategy
takes from it (`StrategyOptions.params_for`), and the checks of a name or a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from pydantic import Field, ValidationError, create_model

from valuespectrum.config import format_validation_error
from valuespectrum.strategies.base import Strategy, StrategyParams
from valuespectrum.strategies.isq import ISQParams, ISQStrategy
from valuespectrum.strategies.paper import (
    CaptionLLMParams,
    CaptionLLMStrategy,
    PlainParams,
    PlainStrategy,
    SimpleParams,
    SimpleStrategy,
)
from valuespectrum.types import Frozen, GenerateConfig


@dataclass(frozen=True)
class RegisteredStrategy:
    """One registered strategy.

    Attributes:
        name: Its name (spec value, the `strategy` column, the cell key's last part).
        strategy: Its class; the constructor takes the parameters as keywords, plus the
            runtime objects (``config``, ``prompts``; caption_llm's ``text_backend``).
        params: Its parameter model: what a trial records of it. The model's defaults are
            a sweep's defaults (a class built directly keeps its own: `make_strategy`).
    """

    name: str
    strategy: type
    params: type[StrategyParams]


STRATEGIES: MappingProxyType[str, RegisteredStrategy] = MappingProxyType({s.name: s for s in (
    RegisteredStrategy("plain", PlainStrategy, PlainParams),
    RegisteredStrategy("simple", SimpleStrategy, SimpleParams),
    RegisteredStrategy("isq", ISQStrategy, ISQParams),
    RegisteredStrategy("caption_llm", CaptionLLMStrategy, CaptionLLMParams),
)})


def validate_strategy(name: str) -> str:
    """Return `name` if it is a registered strategy, else raise ValueError naming them."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return name


def strategy_params(name: str, params: Mapping[str, Any] | None = None) -> StrategyParams:
    """The parameters of strategy `name`, validated by its model, defaults filled.

    Raises:
        ValueError: an unknown strategy, or a parameter it does not take or of a wrong value
            (one line per problem, naming the parameter).
    """
    model = STRATEGIES[validate_strategy(name)].params
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as e:
        raise ValueError(format_validation_error(e, f"strategy {name}")) from None


def make_strategy(name: str, **kwargs: Any) -> Strategy:
    """Build a strategy by name: ``plain``, ``simple``, ``isq`` or ``caption_llm``.

    Parameters given are checked by the strategy's parameter model; those left out keep the
    class's own defaults (plain asks its follow-ups when built so; a sweep's trials are built
    from complete parameters, `build_strategy`).

    Args:
        name: Strategy name.
        **kwargs: Parameters, e.g. ``mode="turns"`` for isq, ``followups=False`` for plain,
            and runtime objects: ``text_backend=...`` for caption_llm,
            ``config=GenerateConfig(...)``, ``prompts=...``.

    Raises:
        ValueError: unknown name, parameter or value.
    """
    entry = STRATEGIES[validate_strategy(name)]
    given = {k: v for k, v in kwargs.items() if k in entry.params.model_fields}
    checked = strategy_params(name, given)
    runtime = {k: v for k, v in kwargs.items() if k not in given}
    try:
        return entry.strategy(**{k: getattr(checked, k) for k in given}, **runtime)
    except TypeError as e:
        raise ValueError(f"strategy {name!r}: {e}") from None


def build_strategy(name: str, params: Mapping[str, Any] | None = None,
                   **runtime: Any) -> Strategy:
    """Build a strategy from ``{name, params}`` as a trial stores it (missing parameters take
    the model's defaults), with runtime objects (``config``, ``prompts``...)."""
    return make_strategy(name, **strategy_params(name, params).model_dump(), **runtime)


class TrialRecipe(Protocol):
    """What `strategy_for_trial` reads of a trial (`trial.TrialSpec` has it)."""

    @property
    def strategy(self) -> str: ...

    @property
    def strategy_params(self) -> Mapping[str, Any]: ...

    @property
    def seed(self) -> int: ...

    @property
    def prompts(self) -> dict[str, Any]: ...


def strategy_for_trial(trial: TrialRecipe) -> Strategy:
    """The strategy a sweep trial asks with: its ``{name, params}``, prompt set and seed."""
    return build_strategy(trial.strategy, trial.strategy_params,
                          config=GenerateConfig(seed=trial.seed), prompts=trial.prompts or None)


# --------------------------------------------------------------------------- spec options


def option_name(field: str, model: type[StrategyParams]) -> str:
    """A parameter's name in a spec's `strategy_options` block: its alias, else its name."""
    return model.model_fields[field].alias or field


class _StrategyOptions(Frozen):
    """A sweep's `strategy_options`: every registered strategy's parameters in one block,
    each under its option name (`option_name`); a sweep's strategies all read it."""

    def params_for(self, name: str) -> StrategyParams:
        """The parameters strategy `name` takes from this block."""
        model = STRATEGIES[validate_strategy(name)].params
        return model.model_validate({o: getattr(self, o) for o in
                                     (option_name(f, model) for f in model.model_fields)})


def _option_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for entry in STRATEGIES.values():
        for f, info in entry.params.model_fields.items():
            option = option_name(f, entry.params)
            if option in fields:  # one flat block: an option names one strategy's parameter
                raise TypeError(f"strategy option {option!r} is a parameter of both "
                                f"{owner[option]} and {entry.name}; give one an alias")
            owner[option] = entry.name
            fields[option] = (info.annotation, Field(info.default, description=(
                f"{entry.name}: {info.description or f}")))
    return fields


#: Derived from the registry: a new strategy's options are its parameter model alone.
StrategyOptions = create_model("StrategyOptions", __base__=_StrategyOptions,
                               __module__=__name__, **_option_fields())

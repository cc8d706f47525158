"""The ten Schwartz values and their retrieval keywords (packaged YAML, user-overridable)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import Field

from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.types import Frozen, SchwartzValue


class ValueDefinition(Frozen):
    description: str
    keywords: tuple[str, ...] = Field(min_length=5)


class ValueCatalog(Frozen):
    """All ten values, each with a description and at least five keywords."""

    version: int = 1
    values: dict[SchwartzValue, ValueDefinition]

    def keywords(self, value: SchwartzValue) -> tuple[str, ...]:
        return self.values[value].keywords

    def pairs(self) -> list[tuple[SchwartzValue, str]]:
        """(value, keyword) for every keyword, in catalog order."""
        return [(v, k) for v, d in self.values.items() for k in d.keywords]


def load_values(path: str | Path | None = None) -> ValueCatalog:
    """Load the packaged value catalog, or a user file with the same schema."""
    if path is None:
        path = Path(str(resources.files("valuespectrum") / "data" / "values.yaml"))
    data, lines = read_yaml(path)
    catalog = validate(ValueCatalog, data, str(path), lines)
    missing = [v.value for v in SchwartzValue if v not in catalog.values]
    if missing:
        raise ConfigError(f"{path}: values: missing {', '.join(missing)} (all 10 are required)")
    return catalog

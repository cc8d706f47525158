"""Personas: who a viewer agent pretends to be (YAML files under `personas/`)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from pydantic import Field, field_validator

from valuespectrum.config import ConfigError, load_yaml_model
from valuespectrum.types import Frozen, SchwartzValue


class Persona(Frozen):
    """A persona in the PersonaChat style used by the paper's Simple and ISQ prompts."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", description="slug, e.g. pet_owner")
    description: str = Field(min_length=1)
    traits: tuple[str, ...] = Field(min_length=1, description="first-person statements")
    interests: tuple[str, ...] = ()
    values: tuple[SchwartzValue, ...] = Field(
        min_length=1, description="Schwartz values the persona should favour"
    )

    @field_validator("traits", "interests")
    @classmethod
    def _no_blank(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in v):
            raise ValueError("entries must be non-empty strings")
        return v

    def profile_text(self) -> str:
        """Description, traits and interests as one text (for embedding baselines)."""
        parts = [self.description, *self.traits]
        if self.interests:
            parts.append("Interests: " + ", ".join(self.interests))
        return " ".join(parts)


def load_persona(path: str | Path) -> Persona:
    """Load and validate one persona file; the file stem must equal the persona name."""
    path = Path(path)
    persona = load_yaml_model(Persona, path)
    if persona.name != path.stem:
        raise ConfigError(
            f"{path}: name: '{persona.name}' does not match the file name '{path.stem}'"
        )
    return persona


class PersonaLibrary:
    """The persona files of one directory, loaded lazily by name or glob."""

    def __init__(self, directory: str | Path = "personas") -> None:
        self.directory = Path(directory)

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            raise ConfigError(f"{self.directory}: persona directory not found")
        return sorted(p.stem for p in self.directory.glob("*.yaml"))

    def get(self, name: str) -> Persona:
        path = self.directory / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(
                f"persona '{name}' not found in {self.directory} "
                f"(known: {', '.join(self.names()) or 'none'})"
            )
        return load_persona(path)

    def select(self, patterns: list[str]) -> list[Persona]:
        """Personas whose names match any of the patterns (names or shell globs), in order."""
        names = self.names()
        chosen: list[str] = []
        for pat in patterns:
            hits = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            if not hits:
                raise ConfigError(
                    f"persona '{pat}' matches nothing in {self.directory} "
                    f"(known: {', '.join(names) or 'none'})"
                )
            chosen.extend(h for h in hits if h not in chosen)
        return [self.get(n) for n in chosen]

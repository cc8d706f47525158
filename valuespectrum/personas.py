"""Personas: who a viewer agent pretends to be (YAML files under `personas/`).

A persona file may extend another one and override some of its fields, so a
counterfactual pair that differs in one value is a few lines::

    # personas/pet_owner_power.yaml
    extends: pet_owner
    name: pet_owner_power
    values: [power]            # every other field comes from pet_owner.yaml

Fields given in the variant replace the base's (lists are replaced, not appended).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from valuespectrum.config import ConfigError, read_yaml, validate
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
        """Description, traits and interests as one text: the persona as data.

        Strategies send it with every question (`Question.persona`); CPU viewers, which
        cannot read prompts, compare posts with it.
        """
        parts = [self.description, *self.traits]
        if self.interests:
            parts.append("Interests: " + ", ".join(self.interests))
        return " ".join(parts)


class PersonaLibrary:
    """The persona files of one directory, loaded lazily by name or glob."""

    def __init__(self, directory: str | Path = "personas") -> None:
        self.directory = Path(directory)

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            raise ConfigError(f"{self.directory}: persona directory not found")
        return sorted(p.stem for p in self.directory.glob("*.yaml"))

    def path(self, name: str) -> Path:
        path = self.directory / f"{name}.yaml"
        if not path.exists():
            raise ConfigError(
                f"persona '{name}' not found in {self.directory} "
                f"(known: {', '.join(self.names()) or 'none'})"
            )
        return path

    def resolve(self, data: Any, source: str, lines: dict | None = None,
                chain: tuple[str, ...] = ()) -> Persona:
        """Validate persona data, first merging it over the persona it `extends`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of persona fields")
        data = dict(data)
        base_name = data.pop("extends", None)
        if base_name is not None:
            if not isinstance(base_name, str):
                raise ConfigError(f"{source}: extends: expected a persona name")
            if base_name in chain:
                raise ConfigError(f"{source}: extends: a cycle ({' -> '.join([*chain, base_name])})")
            base_path = self.path(base_name)
            base_data, _ = read_yaml(base_path)
            base = self.resolve(base_data, str(base_path), None, (*chain, base_name))
            data = {**base.model_dump(mode="json"), **data}
        return validate(Persona, data, source, lines)

    def get(self, name: str) -> Persona:
        return load_persona(self.path(name), self)

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


def load_persona(path: str | Path, library: PersonaLibrary | None = None) -> Persona:
    """Load and validate one persona file; the file stem must equal the persona name.

    `extends` is resolved in `library` (default: the file's own folder).
    """
    path = Path(path)
    data, lines = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: file is empty")
    library = library or PersonaLibrary(path.parent)
    persona = library.resolve(data, str(path), lines, (path.stem,))
    if persona.name != path.stem:
        raise ConfigError(
            f"{path}: name: '{persona.name}' does not match the file name '{path.stem}'"
        )
    return persona

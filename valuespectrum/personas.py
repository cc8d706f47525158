"""Personas: who a viewer agent pretends to be (YAML files under `personas/`).

A persona file may extend another one and override some of its fields, so a
counterfactual pair that differs in one value is a few lines::

    # personas/pet_owner_power.yaml
    extends: pet_owner
    name: pet_owner_power
    values: [power]            # every other field comes from pet_owner.yaml

Fields given in the variant replace the base's (lists are replaced, not appended).

A persona may also say which corpus posts are relevant to it (`relevant:`), by the corpus's
own metadata rather than by any viewer's answers: `RelevanceLabels`, decided for one post
by `is_relevant(persona, item)`. Sweeps record it per step (`StepRecord.relevant`), and
`vspec models check --persona` measures a viewer's precision and recall against it.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PrivateAttr, field_validator

from valuespectrum.config import ConfigError, read_yaml, validate
from valuespectrum.types import FeedItem, Frozen, SchwartzValue

_SLUG = re.compile(r"^[0-9a-z_]+$")
_FOLDER = re.compile(r"^[0-9A-Za-z_.\-]+(/[0-9A-Za-z_.\-]+)*$")


def _folder(c: str) -> str:
    if not _FOLDER.match(c):
        raise ValueError(f"{c!r} is not a category or folder like 'animals' or "
                         "'recreation/sports'")
    return c


def _hashtag(t: str) -> str:
    if not _SLUG.match(t):
        raise ValueError(f"{t!r}: a hashtag as the corpus writes it: lower-case letters, "
                         "digits and _ without '#'")
    return t


def _keyword(k: str) -> str:
    if not k.strip():
        raise ValueError("a keyword must not be blank")
    return k


Folder = Annotated[str, AfterValidator(_folder)]
Hashtag = Annotated[str, AfterValidator(_hashtag)]
Keyword = Annotated[str, AfterValidator(_keyword)]


def item_folder(item: FeedItem) -> str:
    """The post's place in the corpus's category tree, e.g. ``animals/mammals/dogs``.

    The openclipart corpus keeps its source folders under ``images/<category>/...``; a
    corpus whose image paths do not start with the category (an imported one) has only the
    category itself.
    """
    parts = PurePosixPath(item.image_path).parts[1:-1]  # without "images/" and the file
    if parts and parts[0] == item.category:
        return "/".join(parts)
    return item.category


class RelevanceRules(Frozen):
    """Rules that pick corpus posts by their metadata; a post matches if ANY rule does.

    Attributes:
        categories: Categories or folders of the category tree: ``animals`` matches every
            post of that category, ``recreation/sports`` that folder and the folders below.
        hashtags: Hashtags, written as the corpus writes them (lower case, no ``#``); a
            post matches when it carries one of them.
        keywords: Words or phrases matched as whole words in the caption, ignoring case;
            a trailing ``s``/``es`` (plural) also matches.
        value_tags: Schwartz values of the corpus's value tags.
    """

    categories: tuple[Folder, ...] = ()
    hashtags: tuple[Hashtag, ...] = ()
    keywords: tuple[Keyword, ...] = ()
    value_tags: tuple[SchwartzValue, ...] = ()
    _keyword_re: re.Pattern[str] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        if self.keywords:
            alts = "|".join(r"\s+".join(map(re.escape, k.split())) for k in self.keywords)
            self._keyword_re = re.compile(rf"(?<![0-9a-z])(?:{alts})(?:e?s)?(?![0-9a-z])",
                                          re.IGNORECASE)

    @property
    def empty(self) -> bool:
        return not (self.categories or self.hashtags or self.keywords or self.value_tags)

    def matches(self, item: FeedItem) -> bool:
        """Whether any rule picks `item`."""
        if self.categories:
            folder = item_folder(item)
            if any(folder == c or folder.startswith(c + "/") for c in self.categories):
                return True
        if self.hashtags and not set(self.hashtags).isdisjoint(item.hashtags):
            return True
        if self.value_tags and not set(self.value_tags).isdisjoint(item.value_tags):
            return True
        pattern = self._keyword_re
        return pattern is not None and pattern.search(item.caption) is not None


class RelevanceLabels(RelevanceRules):
    """Which corpus posts are relevant to a persona: those its rules pick and `exclude`'s
    rules do not (e.g. ``exclude: {keywords: [hot dog]}`` for a dog lover).

    Labels state the corpus's ground truth (its category tree, the authors' keywords as
    hashtags, caption words), written from the persona's description and interests, never
    from a viewer's answers. How the packaged ones were written: docs/sweeps.md.
    """

    exclude: RelevanceRules = RelevanceRules()

    def matches(self, item: FeedItem) -> bool:
        """Whether `item` is relevant: picked by a rule and not excluded."""
        return super().matches(item) and not self.exclude.matches(item)


class Persona(Frozen):
    """A persona in the PersonaChat style used by the paper's Simple and ISQ prompts."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", description="slug, e.g. pet_owner")
    description: str = Field(min_length=1)
    traits: tuple[str, ...] = Field(min_length=1, description="first-person statements")
    interests: tuple[str, ...] = ()
    values: tuple[SchwartzValue, ...] = Field(
        min_length=1, description="Schwartz values the persona should favour"
    )
    relevant: RelevanceLabels | None = Field(
        default=None, description="which corpus posts are relevant to the persona")

    @field_validator("relevant")
    @classmethod
    def _some_rule(cls, v: RelevanceLabels | None) -> RelevanceLabels | None:
        if v is not None and v.empty:
            raise ValueError("give at least one of categories, hashtags, keywords, value_tags")
        return v

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


def is_relevant(persona: Persona, item: FeedItem | None) -> bool | None:
    """Whether `item` is relevant to `persona` by its labels; None when the persona has no
    labels or the item is unknown. The one rule every consumer uses (sweeps record it per
    step, the viewer check measures against it)."""
    if persona.relevant is None or item is None:
        return None
    return persona.relevant.matches(item)


def value_match(persona: Persona, item: FeedItem | None) -> bool | None:
    """Whether `item` carries one of `persona`'s values (its value tags); None when the
    item is unknown."""
    if item is None:
        return None
    return not set(persona.values).isdisjoint(item.value_tags)


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

"""Persona relevance labels: validation, the one matching rule, the packaged labels, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuespectrum.cli import app
from valuespectrum.config import ConfigError
from valuespectrum.personas import PersonaLibrary, RelevanceLabels, is_relevant, load_persona
from valuespectrum.types import FeedItem

ROOT = Path(__file__).resolve().parents[1]
BASE = """\
name: dog_lover
description: Loves dogs.
traits: [I have a dog.]
values: [benevolence]
"""


def item(path: str, caption: str = "x", hashtags: tuple[str, ...] = (),
         category: str | None = None, **kw) -> FeedItem:
    cat = category or path.split("/")[0]
    return FeedItem(item_id="i", image_path=f"images/{path}", caption=caption,
                    hashtags=hashtags, creator="@c", category=cat, duration_s=10,
                    posted="2024-08-01", popularity=0.5, **kw)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dog_lover.yaml"
    path.write_text(text)
    return path


def test_a_rule_of_each_kind_picks_posts_and_exclude_removes_them():
    labels = RelevanceLabels(categories=["animals/mammals"], hashtags=["puppy"],
                             keywords=["dog", "golden retriever"], value_tags=["benevolence"],
                             exclude={"categories": ["food"], "keywords": ["hot dog"]})
    assert labels.matches(item("animals/mammals/dogs/a.png"))  # a folder below the rule's
    assert labels.matches(item("animals/mammals/a.png"))
    assert not labels.matches(item("animals/birds/a.png"))
    assert not labels.matches(item("animals/mammalsx/a.png"))  # a folder, not a prefix
    assert labels.matches(item("people/a.png", hashtags=("puppy",)))
    assert not labels.matches(item("people/a.png", hashtags=("puppylove",)))
    assert labels.matches(item("people/a.png", caption="Two Dogs playing"))  # plural, any case
    assert labels.matches(item("people/a.png", caption="A golden  retriever"))
    assert not labels.matches(item("people/a.png", caption="Dogma and doghouse"))
    assert labels.matches(item("people/a.png", value_tags=("benevolence",)))
    assert not labels.matches(item("people/a.png", caption="Hot Dog stand"))  # excluded
    assert not labels.matches(item("food/a.png", caption="dog biscuit"))


def test_a_category_rule_reads_the_category_of_an_imported_corpus():
    labels = RelevanceLabels(categories=["pets"])
    assert labels.matches(item("shot_001.png", category="pets"))
    assert not labels.matches(item("shot_002.png", category="news"))


def test_is_relevant_is_none_without_labels_or_item():
    lib = PersonaLibrary(ROOT / "personas")
    pet = lib.get("pet_owner")
    dog = item("animals/mammals/dogs/a.png", caption="Dog")
    assert is_relevant(pet, dog) is True
    assert is_relevant(pet, item("food/a.png", caption="Hot Dog")) is False
    assert is_relevant(pet, None) is None
    assert is_relevant(pet.model_copy(update={"relevant": None}), dog) is None


@pytest.mark.parametrize(("block", "expected"), [
    ("relevant:\n  hashtags: ['#Dog']\n",
     "dog_lover.yaml:6: relevant.hashtags.0: Value error, '#Dog': a hashtag as the corpus"),
    ("relevant:\n  categories: [animals]\n  tags: [dog]\n",
     "dog_lover.yaml:7: relevant.tags: unknown field"),
    ("relevant:\n  exclude: {keywords: [hot dog]}\n",
     "dog_lover.yaml:5: relevant: Value error, give at least one of categories, hashtags"),
    ("relevant:\n  categories: ['animals//dogs']\n",
     "dog_lover.yaml:6: relevant.categories.0: Value error, 'animals//dogs' is not a category"),
    ("relevant:\n  value_tags: [kindness]\n",
     "dog_lover.yaml:6: relevant.value_tags.0: Input should be"),
])
def test_bad_labels_are_refused_naming_file_line_and_field(tmp_path, block, expected):
    with pytest.raises(ConfigError) as e:
        load_persona(write(tmp_path, BASE + block))
    assert expected in str(e.value)


def test_every_packaged_persona_has_labels_and_a_variant_inherits_its_base_labels():
    lib = PersonaLibrary(ROOT / "personas")
    personas = [lib.get(n) for n in lib.names()]
    assert len(personas) == 15 and all(p.relevant is not None for p in personas)
    assert lib.get("pet_owner_power").relevant == lib.get("pet_owner").relevant


def test_relevance_command_counts_the_posts_and_shows_examples(corpus_dir):
    runner = CliRunner()
    res = runner.invoke(app, ["personas", "relevance", "pet_owner", "--persona-dir",
                              str(ROOT / "personas"), "--corpus", str(corpus_dir),
                              "--examples", "3"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    from valuespectrum.feed.corpus import Corpus

    items = Corpus.load(corpus_dir).items
    pet = PersonaLibrary(ROOT / "personas").get("pet_owner")
    n = sum(pet.relevant.matches(it) for it in items)
    assert n > 0
    assert f"pet_owner: {n:,} of {len(items):,} posts relevant" in res.output
    assert "3 examples" in res.output and "animals" in res.output


def test_relevance_command_says_when_a_persona_has_no_labels(tmp_path, corpus_dir):
    write(tmp_path, BASE)
    res = CliRunner().invoke(app, ["personas", "relevance", "dog_lover", "--persona-dir",
                                   str(tmp_path), "--corpus", str(corpus_dir)])
    assert res.exit_code == 2
    assert "persona 'dog_lover' has no `relevant:` labels" in res.output

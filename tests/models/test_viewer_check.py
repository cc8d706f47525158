"""`vspec models check SPEC --persona NAME`: a viewer's yes against the persona's labels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuespectrum.cli import app
from valuespectrum.models import build_backend
from valuespectrum.models.check import check_viewer, stratified_sample
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pet_owner():
    return PersonaLibrary(ROOT / "personas").get("pet_owner")


def test_the_sample_is_seeded_and_half_relevant(corpus, pet_owner):
    rel, other = stratified_sample(corpus.items, pet_owner, 40, seed=3)
    assert len(rel) == 20 and len(other) == 20
    assert all(pet_owner.relevant.matches(it) for it in rel)
    assert not any(pet_owner.relevant.matches(it) for it in other)
    assert (rel, other) == stratified_sample(corpus.items, pet_owner, 40, seed=3)
    assert (rel, other) != stratified_sample(corpus.items, pet_owner, 40, seed=4)
    n_rel = sum(pet_owner.relevant.matches(it) for it in corpus.items)
    rel, other = stratified_sample(corpus.items, pet_owner, 4 * n_rel, seed=3)
    assert len(rel) == n_rel and len(other) == 3 * n_rel  # all of them when fewer


@pytest.mark.parametrize(("spec", "recall", "other_rate"), [("always:yes", 1.0, 1.0),
                                                            ("always:no", 0.0, 0.0)])
async def test_precision_is_for_the_corpus_not_the_stratified_sample(
        corpus, pet_owner, spec, recall, other_rate):
    r = await check_viewer(build_backend(spec), make_strategy("simple"), pet_owner, corpus,
                           spec=spec, strategy_name="simple", reads_pixels=False, n=40)
    n_rel = sum(pet_owner.relevant.matches(it) for it in corpus.items)
    assert (r.relevant_n, r.other_n) == (20, 20)
    assert (r.recall, r.yes_rate_other) == (recall, other_rate)
    if spec == "always:yes":  # a yes to everything is as precise as the corpus is relevant
        assert r.precision == pytest.approx(n_rel / len(corpus))
        assert r.corpus_yes_rate == pytest.approx(1.0)
    else:
        assert r.precision is None


async def test_the_default_viewer_says_yes_mostly_on_the_pet_owners_posts(corpus, pet_owner):
    r = await check_viewer(build_backend("embed:minilm"), make_strategy("simple"), pet_owner,
                           corpus, spec="embed:minilm", strategy_name="simple",
                           reads_pixels=False, n=60, seed=0)
    assert r.invalid == 0 and len(r.answers) == 60
    assert r.recall >= 0.5 and r.yes_rate_other <= 0.1
    assert r.precision >= 0.5
    control = await check_viewer(build_backend("embed:minilm-percentile"),
                                 make_strategy("simple"), pet_owner, corpus,
                                 spec="embed:minilm-percentile", strategy_name="simple",
                                 reads_pixels=False, n=60, seed=0)
    assert control.yes_rate_other > r.yes_rate_other  # the percentile rule's share of yes


def test_the_command_prints_precision_and_recall(corpus_dir):
    res = CliRunner().invoke(app, [
        "models", "check", "embed:minilm", "--persona", "pet_owner", "--persona-dir",
        str(ROOT / "personas"), "--corpus", str(corpus_dir), "--sample", "40"],
        env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    out = res.output
    assert "answered yes" in out
    assert re.search(r"viewer check: embed:minilm as pet_owner \(simple\), 40 posts", out)
    for line in ("yes-rate on relevant posts", "yes-rate on other posts", "precision of its yes",
                 "recall of its yes"):
        assert re.search(re.escape(line) + r"\s+\d+\.\d%", out), line


def test_an_api_model_is_not_sampled_unless_asked(corpus_dir, openai_server, monkeypatch):
    """Each sampled post is a paid call: an API model gets the probe only by default."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    args = ["models", "check", "openai:test-model", "--base-url", openai_server.url,
            "--persona", "pet_owner", "--persona-dir", str(ROOT / "personas"),
            "--corpus", str(corpus_dir)]
    before = len(openai_server.requests)
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "answered yes" in res.output and "viewer check" not in res.output
    assert len(openai_server.requests) - before == 1
    res = CliRunner().invoke(app, [*args, "--sample", "6"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "viewer check: openai:test-model as pet_owner (simple), 6 posts" in res.output
    assert len(openai_server.requests) - before == 1 + 1 + 6

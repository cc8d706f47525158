"""CPU baseline viewers answer the paper's strategies like a model, deterministically."""

from __future__ import annotations

import json

import pytest

from valuespectrum.models import BackendUnavailable, ModelSpec, build_backend
from valuespectrum.models.baselines import EmbeddingViewer
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy
from valuespectrum.types import GenerateConfig, ImagePart, Message, TextPart

DOG = ("Golden retriever puppy playing fetch in the park", "dog", "puppy", "pets")
STOCKS = ("Stock market chart: quarterly earnings and share prices", "finance", "stocks")
KITTEN = ("Cute kitten sleeping in a basket", "cat", "kitten")
TAXES = ("How to file your corporate tax return", "tax", "accounting")


@pytest.fixture(scope="module")
def minilm():
    return EmbeddingViewer()


@pytest.fixture(scope="module")
def personas():
    return PersonaLibrary("personas")


@pytest.mark.parametrize("strategy", ["simple", "isq", "plain", "caption_llm"])
async def test_pet_owner_likes_pets_not_stocks(minilm, personas, make_obs, strategy):
    pet_owner = personas.get("pet_owner")
    s = make_strategy(strategy)
    verdicts = {post[0]: (await s.decide(make_obs(*post), pet_owner, minilm)).yes
                for post in (DOG, KITTEN, STOCKS, TAXES)}
    if strategy == "plain":  # plain has no persona: only check it answers validly
        assert all(v is not None for v in verdicts.values())
        return
    assert verdicts == {DOG[0]: True, KITTEN[0]: True, STOCKS[0]: False, TAXES[0]: False}


async def test_isq_scores_come_from_affinity(minilm, personas, make_obs):
    s = make_strategy("isq")
    owner = personas.get("pet_owner")
    dog = await s.decide(make_obs(*DOG), owner, minilm)
    stocks = await s.decide(make_obs(*STOCKS), owner, minilm)
    assert dog.score > 60 >= stocks.score
    assert dog.isq.visual_appeal > stocks.isq.visual_appeal
    assert dog.isq.preference_alignment and not stocks.isq.action_desire
    turns = await make_strategy("isq", mode="turns").decide(make_obs(*DOG), owner, minilm)
    assert turns.yes is True and turns.isq == dog.isq  # same verdict one question per turn


async def test_plain_answers_all_three_questions(minilm, make_obs):
    d = await make_strategy("plain").decide(make_obs(*DOG), None, minilm)
    assert d.answers["interesting"].split(",")[0] in ("Yes", "No")
    assert d.answers["description"].startswith("Golden retriever")
    assert d.answers["reason"]


async def test_founder_and_pet_owner_disagree(minilm, personas, make_obs):
    pitch = make_obs("Business plan for a technology startup", "business", "technology")
    simple = make_strategy("simple")
    assert (await simple.decide(pitch, personas.get("startup_founder"), minilm)).yes is True
    assert (await simple.decide(pitch, personas.get("pet_owner"), minilm)).yes is False


async def test_deterministic_and_json_schema_filled(minilm):
    msgs = [Message.text("system", "I love dogs."),
            Message(role="user", content=(ImagePart(png=b"x", alt_text="a dog"),
                                          TextPart(text="Rate it")))]
    schema = {"type": "object", "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 10},
        "liked": {"type": "boolean"}, "verdict": {"type": "string", "enum": ["yes", "no"]},
        "why": {"type": "string"}}}
    a = await minilm.generate(msgs, GenerateConfig(json_schema=schema))
    b = await minilm.generate(msgs, GenerateConfig(json_schema=schema))
    assert a.text == b.text
    obj = json.loads(a.text)
    assert 1 <= obj["score"] <= 10 and obj["liked"] is True and obj["verdict"] == "yes"
    assert "dog" in obj["why"]


@pytest.mark.parametrize(("spec", "rate"), [("random:0.3", 0.3), ("always:yes", 1.0),
                                            ("always:no", 0.0)])
async def test_random_and_constant_rates(spec, rate, make_obs, personas):
    backend = build_backend(spec)
    s = make_strategy("simple")
    owner = personas.get("pet_owner")
    yes = [(await s.decide(make_obs(f"post {i}"), owner, backend)).yes for i in range(300)]
    again = [(await s.decide(make_obs(f"post {i}"), owner, backend)).yes for i in range(20)]
    assert again == yes[:20], "same content must give the same answer"
    assert sum(yes) / len(yes) == pytest.approx(rate, abs=0.07)


async def test_random_viewer_draws_independently_per_seed(make_obs, personas):
    from valuespectrum.types import GenerateConfig

    backend = build_backend("random:0.5")
    owner = personas.get("pet_owner")

    async def answers(seed):
        s = make_strategy("simple", config=GenerateConfig(seed=seed))
        return [(await s.decide(make_obs(f"post {i}"), owner, backend)).yes for i in range(200)]

    a, b, a_again = await answers(1), await answers(2), await answers(1)
    assert a == a_again  # a trial's seed reproduces its answers
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    assert 0.35 < agree < 0.65  # another trial's answers are independent, not copies


@pytest.mark.parametrize("model", ["embed:minilm", "random:0.5"])
@pytest.mark.parametrize("strategy", ["simple", "isq", "plain", "caption_llm"])
async def test_rewording_every_prompt_cannot_change_a_control(model, strategy, make_obs,
                                                               personas):
    """CPU viewers answer the question as data (kind, persona, subject), not its wording."""
    from valuespectrum.strategies import load_prompts

    reworded = load_prompts()

    def scramble(node):
        if isinstance(node, dict):
            return {k: scramble(v) for k, v in node.items()}
        return node if not isinstance(node, str) else "Zebra " + node[::-1]

    reworded = {**scramble(reworded), "version": "reworded",
                "persona": "Zebra {traits}"}  # placeholders must survive
    backend = build_backend(model)
    owner = personas.get("pet_owner")
    posts = [make_obs(*p) for p in (DOG, KITTEN, STOCKS, TAXES)]
    for persona in (owner, None):
        a = [await make_strategy(strategy).decide(o, persona, backend) for o in posts]
        b = [await make_strategy(strategy, prompts=reworded).decide(o, persona, backend)
             for o in posts]
        assert [(d.yes, d.score) for d in a] == [(d.yes, d.score) for d in b]
        assert all(d.yes is not None for d in a)


async def test_a_text_only_question_is_about_its_subject(minilm, personas):
    from valuespectrum.types import Question

    owner = personas.get("pet_owner").profile_text()
    config = GenerateConfig(question=Question(kind="yes_no", persona=owner,
                                              subject="kittens and puppies asleep in a basket"))
    msgs = [Message(role="user", content=(TextPart(text="anything at all"),))]
    assert (await minilm.generate(msgs, config)).text.startswith("Yes")
    config = config.model_copy(update={"question": config.question.model_copy(
        update={"subject": "quarterly corporate tax filing"})})
    assert (await minilm.generate(msgs, config)).text.startswith("No")


def test_clip_without_weights_is_a_clear_error():
    with pytest.raises(BackendUnavailable, match="open_clip weights cannot be loaded"):
        build_backend(ModelSpec.parse("embed:clip:ViT-B-32/laion2b_s34b_b79k"))


def test_the_percentile_rule_is_a_control_of_its_own_and_old_params_are_told_where_it_went():
    from valuespectrum.config import ConfigError
    from valuespectrum.models.baselines import make_baseline

    control = make_baseline(ModelSpec.parse({"spec": "embed:minilm-percentile",
                                             "params": {"top_fraction": 0.2}}))
    assert control.rule == "percentile" and control.top_fraction == 0.2
    assert ModelSpec.parse("embed:minilm-percentile").label == "embed-minilm-percentile"
    with pytest.raises(ConfigError, match=r"x.yaml: .*params.top_fraction: a parameter of the "
                                          r"percentile rule, now the control "
                                          r"'embed:minilm-percentile'"):
        ModelSpec.parse({"spec": "embed:minilm", "params": {"top_fraction": 0.2}}, "x.yaml")
    with pytest.raises(ConfigError, match="embed:minilm takes threshold; unknown thresh"):
        ModelSpec.parse({"spec": "embed:minilm", "params": {"thresh": 0.2}})
    strict = make_baseline(ModelSpec.parse({"spec": "embed:minilm",
                                            "params": {"threshold": 0.9}}))
    assert strict.rule == "threshold" and strict.similarity_threshold == 0.9


async def test_the_threshold_rule_says_yes_by_similarity_not_by_share(minilm, personas, make_obs):
    """embed:minilm answers by an absolute similarity to the persona's interests: a feed of
    nothing but off-topic posts gets no yes at all (the percentile control would still say
    yes to its top 28%), and its ratings agree with its yes/no."""
    owner = personas.get("pet_owner")
    off_topic = [make_obs(t, "office") for t in (
        "Quarterly tax form", "Stapler", "Filing cabinet", "Spreadsheet icon", "Paper clip",
        "Printer toner", "Office chair", "Calendar page", "Ring binder", "Desk lamp")]
    simple, isq = make_strategy("simple"), make_strategy("isq")
    assert [(await simple.decide(o, owner, minilm)).yes for o in off_topic] == [False] * 10
    control = build_backend("embed:minilm-percentile")
    assert any([(await simple.decide(o, owner, control)).yes for o in off_topic])
    for post in (DOG, KITTEN, STOCKS, TAXES):
        d_simple = await simple.decide(make_obs(*post), owner, minilm)
        d_isq = await isq.decide(make_obs(*post), owner, minilm)
        assert d_simple.yes == d_isq.yes


def test_a_run_planned_under_another_rule_of_embed_minilm_does_not_resume():
    from valuespectrum.models.baselines import viewer_rule

    assert "threshold 0.35" in viewer_rule(ModelSpec.parse("embed:minilm"))
    assert viewer_rule(ModelSpec.parse("embed:minilm-percentile")) is None
    assert viewer_rule(ModelSpec.parse("random:0.5")) is None

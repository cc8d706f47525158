import re
from pathlib import Path

import pytest

from valuespectrum.config import ConfigError
from valuespectrum.sweep.spec import expand, load_sweep_spec, plan_for

ROOT = Path(__file__).resolve().parents[2]


def load_experiment(path):
    spec = load_sweep_spec(path)
    return spec, spec.persona_list


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


BASE = f"""name: t
persona_dir: {ROOT / 'personas'}
personas: [pet_owner]
models: ["always:yes"]
platforms: [tiktok]
"""


@pytest.mark.parametrize("name", ["demo", "paper", "sweep-controls", "feed-kinds"])
def test_shipped_specs_load_and_expand_from_any_directory(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # inputs resolve against the spec's folder, not the cwd
    spec, personas = load_experiment(ROOT / "experiments" / f"{name}.yaml")
    trials = expand(spec, personas)
    cells = {t.cell for t in trials}
    assert len(trials) == len(cells) * spec.trials
    assert len({t.trial_id for t in trials}) == len(trials)


def test_expansion_is_stable_and_seeds_differ(tmp_path):
    spec, personas = load_experiment(write(tmp_path, BASE + "trials: 3\nscrolls: 10\nwindow: 5\n"))
    a, b = expand(spec, personas), expand(spec, personas)
    assert [t.trial_id for t in a] == [t.trial_id for t in b]
    assert [t.seed for t in a] == [t.seed for t in b]
    assert len({t.seed for t in a}) == 3


def test_trial_i_of_a_persona_has_one_seed_in_every_arm(tmp_path):
    """Arms compared (models, feeds and their frozen twins, strategies) meet the same random
    draws; replicates within a cell, and different personas, do not."""
    spec, personas = load_experiment(write(tmp_path, f"""\
name: arms
persona_dir: {ROOT / 'personas'}
personas: [pet_owner, athlete]
models: ["always:yes", "random:0.5"]
platforms: [tiktok, tiktok-frozen]
strategies: [simple, isq]
trials: 3
scrolls: 10
window: 5
"""))
    trials = expand(spec, personas)
    seeds: dict[tuple[str, int], set[int]] = {}
    for t in trials:
        seeds.setdefault((t.persona.name, t.index), set()).add(t.seed)
    assert len(trials) == 2 * 2 * 2 * 2 * 3
    assert all(len(s) == 1 for s in seeds.values())  # 8 arms, one seed per (persona, i)
    assert len({s.pop() for s in seeds.values()}) == 6  # 2 personas x 3 replicates


def test_unknown_field_names_file_line_and_field(tmp_path):
    p = write(tmp_path, BASE + "scrols: 10\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    msg = str(e.value)
    assert str(p) in msg and ":6:" in msg and "scrols" in msg and "unknown field" in msg


def test_a_model_timeout_is_validated_and_does_not_change_the_plan(tmp_path):
    models = 'models:\n  - {spec: "openai:m", base_url: "http://127.0.0.1:9/v1", timeout_s: %s}\n'
    bad = write(tmp_path, BASE.replace('models: ["always:yes"]\n', models % "0"))
    with pytest.raises(ConfigError) as e:
        load_experiment(bad)
    assert re.search(re.escape(str(bad)) + r":\d+: models.*timeout_s.*greater than 0", str(e.value))
    # how long to wait for a reply is where and how a model is reached, not what answers:
    # a run may resume with another timeout
    context = {"recommenders": {}, "corpus": "c", "prompts": "p"}
    plans = []
    for value in ("2.5", "60"):
        spec, personas = load_experiment(write(tmp_path, BASE.replace(
            'models: ["always:yes"]\n', models % value)))
        assert spec.models[0].timeout_s == float(value)
        plans.append(plan_for(expand(spec, personas), context,
                              options=spec.strategy_options).entries)
    assert plans[0] == plans[1]


def test_unknown_platform_style(tmp_path):
    p = write(tmp_path, BASE.replace("[tiktok]", "[tiktak]"))
    with pytest.raises(ConfigError, match="platforms.0.style.*tiktak"):
        load_experiment(p)


def test_a_style_listed_twice_is_refused_since_its_trials_would_collide(tmp_path):
    p = write(tmp_path, BASE.replace(
        "platforms: [tiktok]", "platforms:\n  - {style: tiktok, environment: http}\n"
        "  - {style: tiktok, environment: http, options: {screenshot: jpeg}}"))
    with pytest.raises(ConfigError, match="exp.yaml.*tiktok is listed twice.*own `name`"):
        load_experiment(p)
    spec, _ = load_experiment(write(tmp_path, BASE.replace("[tiktok]", "[tiktok, youtube]")))
    ids = [t.trial_id for t in expand(spec)]
    assert len(ids) == len(set(ids))


def test_named_platforms_make_arms_that_differ_only_in_an_environment_option(tmp_path):
    arms = BASE.replace("platforms: [tiktok]", """platforms:
  - {style: tiktok, environment: http, name: tiktok-png}
  - {style: tiktok, environment: http, name: tiktok-jpeg, options: {screenshot: jpeg}}
""")
    spec, _ = load_experiment(write(tmp_path, arms))
    trials = expand(spec)
    by_platform = {t.platform.label: t for t in trials}
    assert sorted(by_platform) == ["tiktok-jpeg", "tiktok-png"]
    png, jpeg = by_platform["tiktok-png"], by_platform["tiktok-jpeg"]
    assert "tiktok-png" in png.trial_id and "tiktok-jpeg" in jpeg.trial_id
    assert png.platform.style == jpeg.platform.style == "tiktok"  # one feed
    assert png.seed == jpeg.seed  # trial i meets the same random draws in both arms


@pytest.mark.parametrize("platforms, error", [
    ("[{style: tiktok, name: youtube}]", "platforms.0.*'youtube' is the name of another feed"),
    ("[{style: tiktok, name: 'tik tok'}]", "platforms.0.name"),
    ("[{style: tiktok, name: a}, {style: youtube, name: a}]", "a is listed twice"),
])
def test_bad_platform_names(tmp_path, platforms, error):
    with pytest.raises(ConfigError, match=error):
        load_experiment(write(tmp_path, BASE.replace("[tiktok]", platforms)))


@pytest.mark.parametrize("contrast, error", [
    ("{dimension: platform, treatment: tiktok, control: tiktokk}",
     "contrasts.0.control: no platform is called 'tiktokk'; the sweep's are tiktok, random"),
    ("{dimension: model, treatment: gpt-4o, control: always-yes}",
     "contrasts.0.treatment: no model is called 'gpt-4o'"),
    ("{dimension: persona, treatment: pet_owner, control: nobody}",
     "exp.yaml: contrasts.0.control: no persona is called 'nobody'"),
])
def test_a_contrast_naming_no_arm_of_the_sweep_is_refused(tmp_path, contrast, error):
    text = BASE.replace("[tiktok]", "[tiktok, random]") + f"contrasts: [{contrast}]\n"
    with pytest.raises(ConfigError, match=re.escape(error)):
        load_experiment(write(tmp_path, text))


def test_window_larger_than_scrolls(tmp_path):
    with pytest.raises(ConfigError, match="window"):
        load_experiment(write(tmp_path, BASE + "scrolls: 10\nwindow: 20\n"))


def test_missing_persona_lists_known_ones(tmp_path):
    p = write(tmp_path, BASE.replace("[pet_owner]", "[cat_lady]"))
    with pytest.raises(ConfigError, match="cat_lady.*known: .*pet_owner"):
        load_experiment(p)


def test_persona_globs(tmp_path):
    spec, personas = load_experiment(write(tmp_path, BASE.replace("[pet_owner]", "['*_owner', 'athlete']")))
    assert [p.name for p in personas] == ["pet_owner", "athlete"]


def test_broken_yaml_names_the_line(tmp_path):
    p = write(tmp_path, BASE + "trials: [1,\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:\d+: invalid YAML"):
        load_experiment(p)


def test_windows_must_not_overlap(tmp_path):
    with pytest.raises(ConfigError, match="at most half of scrolls"):
        load_experiment(write(tmp_path, BASE + "scrolls: 10\nwindow: 6\n"))


def test_unknown_output_placeholder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"output: .*only the placeholder \{name\}"):
        load_experiment(write(tmp_path, BASE + "output: runs/{date}\n"))


def test_relative_inputs_resolve_against_the_spec_folder_outputs_against_cwd(tmp_path,
                                                                          monkeypatch):
    (tmp_path / "specs" / "people").mkdir(parents=True)
    (tmp_path / "specs" / "people" / "pet_owner.yaml").write_text(
        (ROOT / "personas" / "pet_owner.yaml").read_text())
    p = tmp_path / "specs" / "exp.yaml"
    p.write_text("name: t\npersona_dir: people\npersonas: [pet_owner]\nmodels: [always:yes]\n"
                 "platforms: [tiktok]\ncorpus: data/corpus\noutput: out/{name}\n")
    monkeypatch.chdir(tmp_path)
    spec = load_sweep_spec(p)
    assert [x.name for x in spec.persona_list] == ["pet_owner"]
    assert spec.corpus_path() == tmp_path / "specs" / "data" / "corpus"
    assert spec.output_dir() == Path("out/t")
    monkeypatch.setenv("VSPEC_HOME", str(tmp_path / "home"))
    p.write_text(p.read_text().replace("data/corpus", "${VSPEC_HOME}/corpus/x"))
    assert load_sweep_spec(p).corpus_path() == tmp_path / "home" / "corpus" / "x"


def test_the_saved_spec_is_self_contained_and_reruns_as_it_is(tmp_path):
    import yaml

    spec = load_sweep_spec(write(tmp_path, BASE + "recommenders: {tiktok: {warmup_views: 7}}\n"))
    saved = spec.saved()
    assert saved["kind"] == "sweep"
    assert saved["personas"][0]["traits"]  # inline: a rerun does not need the persona files
    assert saved["recommenders"]["tiktok"]["warmup_views"] == 7
    again = tmp_path / "again" / "spec.yaml"
    again.parent.mkdir()
    again.write_text(yaml.safe_dump(saved))
    reloaded = load_sweep_spec(again)
    assert reloaded.saved() == saved
    assert [t.model_dump() for t in expand(reloaded)] == [t.model_dump() for t in expand(spec)]


def test_unknown_strategy_and_environment_come_from_the_registries(tmp_path):
    with pytest.raises(ConfigError, match="unknown strategy 'fancy'.*plain, simple, isq"):
        load_experiment(write(tmp_path, BASE + "strategies: [fancy]\n"))
    with pytest.raises(ConfigError, match="unknown environment kind 'tv'"):
        load_experiment(write(tmp_path, BASE + "environment: tv\n"))
    with pytest.raises(ConfigError, match="unknown option.*'zoom'.*environment 'http'"):
        load_experiment(write(tmp_path, BASE.replace(
            "[tiktok]", "[{style: tiktok, environment: http, options: {zoom: 2}}]")))


def test_inline_personas_and_duplicate_names(tmp_path):
    inline = ("personas:\n  - {name: cat_person, description: Likes cats., "
              "traits: [I have three cats.], values: [benevolence]}\n  - pet_owner\n")
    spec = load_sweep_spec(write(tmp_path, BASE.replace("personas: [pet_owner]\n", inline)))
    assert [p.name for p in spec.persona_list] == ["cat_person", "pet_owner"]
    dup = inline.replace("cat_person", "pet_owner")
    with pytest.raises(ConfigError, match="two personas are named"):
        load_sweep_spec(write(tmp_path, BASE.replace("personas: [pet_owner]\n", dup)))


def test_persona_variants_extend_a_base_and_override_fields(tmp_path):
    from valuespectrum.personas import PersonaLibrary, load_persona

    lib = PersonaLibrary(ROOT / "personas")
    base, twin = lib.get("pet_owner"), lib.get("pet_owner_power")
    assert twin.description == base.description and twin.interests == base.interests
    assert [v.value for v in twin.values] == ["power"]
    assert sum(a != b for a, b in zip(twin.traits, base.traits, strict=True)) == 1
    # inline variants in a spec, and errors that name where
    inline = ("personas:\n  - pet_owner\n  - {extends: pet_owner, name: pet_owner_b, "
              "values: [benevolence, universalism]}\n")
    spec = load_sweep_spec(write(tmp_path, BASE.replace("personas: [pet_owner]\n", inline)))
    assert [p.name for p in spec.persona_list] == ["pet_owner", "pet_owner_b"]
    assert "extends" not in str(spec.saved()["personas"])  # saved resolved, reruns alone
    (tmp_path / "a.yaml").write_text("extends: b\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a\nname: b\n")
    with pytest.raises(ConfigError, match=r"cycle \(a -> b -> a\)"):
        load_persona(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: pet_owner\nname: c\nvalues: [greed]\n")
    with pytest.raises(ConfigError, match="persona 'pet_owner' not found"):
        load_persona(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match=r"c.yaml:3: values.0"):
        load_persona(tmp_path / "c.yaml", PersonaLibrary(ROOT / "personas"))


NO_SHOT = """
platforms: [{style: tiktok, environment: playwright, options: {screenshot: none}}]
"""


@pytest.mark.parametrize("extra, error", [
    ("models: [openai:gpt-4o]\nscreenshots: false", r"models.0: openai:gpt-4o looks at"),
    ("models: ['embed:clip:ViT-B-32']\nscreenshots: false", r"models.0: .*looks at"),
    ("models: ['embed:minilm']", r"platforms.0: .*set screenshots: false"),
])
def test_no_screenshot_only_for_text_readers_and_nothing_to_store(tmp_path, extra, error):
    text = BASE.replace('models: ["always:yes"]\nplatforms: [tiktok]\n', "") + NO_SHOT + extra
    with pytest.raises(ConfigError, match=error):
        load_sweep_spec(write(tmp_path, text))
    ok = text.replace(extra, "models: ['embed:minilm', 'random:0.5']\nscreenshots: false")
    assert load_sweep_spec(write(tmp_path, ok)).screenshots is False


def test_the_screenshot_format_is_part_of_the_plan(tmp_path):
    from valuespectrum.sweep.spec import plan_for

    context = {"recommenders": {}, "corpus": "c", "prompts": "p"}

    def plan(fmt: str):
        text = BASE.replace("platforms: [tiktok]", "platforms: [{style: tiktok, options: "
                            f"{{screenshot: {fmt}}}}}]")
        spec = load_sweep_spec(write(tmp_path, text))
        return plan_for(expand(spec), context, options=spec.strategy_options).entries

    png, jpeg = plan("png"), plan("jpeg")
    assert png.keys() == jpeg.keys() and png != jpeg  # resuming with another format is refused


def test_relevance_labels_are_part_of_the_plan_and_no_labels_plan_as_before(tmp_path):
    """Steps record relevance by the persona's labels, so a run does not resume under
    changed labels; a persona without labels plans as it did before labels existed."""
    from valuespectrum.runs import fingerprint
    from valuespectrum.sweep.spec import OPERATIONAL_FIELDS

    inline = ("personas:\n  - name: dog_lover\n    description: Loves dogs.\n"
              "    traits: [I have a dog.]\n    values: [benevolence]\n%s")
    context = {"recommenders": {}, "corpus": "c", "prompts": "p"}
    plans = []
    for labels in ("", "    relevant: {hashtags: [dog]}\n", "    relevant: {hashtags: [cat]}\n"):
        spec, personas = load_experiment(write(tmp_path, BASE.replace(
            "personas: [pet_owner]\n", inline % labels)))
        trials = expand(spec, personas)
        plans.append(plan_for(trials, context, options=spec.strategy_options).entries)
    assert plans[0] != plans[1] != plans[2]
    t = trials[0].model_copy(update={"persona": personas[0].model_copy(
        update={"relevant": None})})
    before = t.model_dump(mode="json", exclude={
        "screenshots": True, "prompts": True, "model": set(OPERATIONAL_FIELDS),
        "platform": {"name"}, "strategy_params": True})
    del before["persona"]["relevant"]  # the persona as dumped before the field existed
    # the strategy as planned before parameter models: the whole strategy_options block
    before["options"] = {"isq_format": "json", "followups": False, "caption_question": "simple"}
    assert plans[0][t.trial_id] == fingerprint(before, "c", None, "p")


def test_the_analysis_block_is_validated_naming_the_field(tmp_path):
    spec, _ = load_experiment(write(tmp_path, BASE))
    assert (spec.analysis.estimand, spec.analysis.reading, spec.analysis.alpha) == (
        "session", "paired", 0.05)
    with pytest.raises(ConfigError, match=r"analysis\.estimand"):
        load_experiment(write(tmp_path, BASE + "analysis: {estimand: drift}\n"))
    with pytest.raises(ConfigError, match=r"analysis\.alpha"):
        load_experiment(write(tmp_path, BASE + "analysis: {alpha: 0.7}\n"))
    with pytest.raises(ConfigError, match="confirmatory: named .* names none"):
        load_experiment(write(tmp_path, BASE + "analysis: {confirmatory: named}\n"))


def test_the_declared_analysis_and_window_are_one_plan_entry(tmp_path):
    from valuespectrum.sweep.spec import analysis_context

    context = {"recommenders": {}, "corpus": "c", "prompts": "p"}

    def entries(window: int = 10, extra: str = "") -> dict:
        spec = load_sweep_spec(write(tmp_path, BASE + f"scrolls: 20\nwindow: {window}\n" + extra))
        return plan_for(expand(spec), {**context, **analysis_context(spec)},
                        options=spec.strategy_options).entries

    base = entries()
    for other in (entries(window=5), entries(extra="analysis: {reading: unpaired}\n")):
        assert other["analysis"] != base["analysis"]
        assert {k: v for k, v in other.items() if k != "analysis"} == \
            {k: v for k, v in base.items() if k != "analysis"}  # the trials are the same


def test_trials_start_round_robin_over_the_cells_and_resume_in_that_order(tmp_path):
    from valuespectrum.sweep.spec import run_order

    spec, personas = load_experiment(write(tmp_path, BASE.replace(
        "platforms: [tiktok]", "platforms: [tiktok, tiktok-frozen, random]") + "trials: 3\n"))
    order = run_order(expand(spec, personas))
    assert [(t.platform.label, t.index) for t in order[:4]] == [
        ("tiktok", 0), ("tiktok-frozen", 0), ("random", 0), ("tiktok", 1)]
    done = {order[0].trial_id, order[4].trial_id}
    rest = run_order([t for t in expand(spec, personas) if t.trial_id not in done])
    assert rest == [t for t in order if t.trial_id not in done]


def test_each_trial_takes_the_options_its_strategy_takes_defaults_filled(tmp_path):
    from valuespectrum.runs import fingerprint
    from valuespectrum.sweep.spec import OPERATIONAL_FIELDS

    spec, personas = load_experiment(write(tmp_path, BASE + (
        "strategies: [plain, simple, isq, caption_llm]\n"
        "strategy_options: {isq_format: turns, followups: true}\n")))
    trials = expand(spec, personas)
    params = {t.strategy: t.strategy_params for t in trials}
    assert params == {"plain": {"followups": True}, "simple": {}, "isq": {"mode": "turns"},
                      "caption_llm": {"question": "simple"}}
    # the plan still fingerprints the whole block, as before parameter models: runs
    # planned then resume
    context = {"recommenders": {}, "corpus": "c", "prompts": "p"}
    plan = plan_for(trials, context, options=spec.strategy_options).entries
    t = trials[0]
    before = t.model_dump(mode="json", exclude={
        "screenshots": True, "prompts": True, "model": set(OPERATIONAL_FIELDS),
        "platform": {"name"}, "strategy_params": True})
    before["options"] = {"isq_format": "turns", "followups": True, "caption_question": "simple"}
    assert plan[t.trial_id] == fingerprint(before, "c", None, "p")


@pytest.mark.parametrize("options, error", [
    ("{isq_format: xml}", r"exp\.yaml:\d+: strategy_options\.isq_format: Input should be "
                          r"'json' or 'turns'"),
    ("{mode: turns}", r"exp\.yaml:\d+: strategy_options\.mode: unknown field"),
    ("{followups: often}", r"exp\.yaml:\d+: strategy_options\.followups: Input should be a "
                           r"valid boolean"),
])
def test_a_bad_strategy_option_is_one_line_naming_the_field(tmp_path, options, error):
    with pytest.raises(ConfigError) as err:
        load_sweep_spec(write(tmp_path, BASE + f"strategies: [isq, plain]\n"
                                               f"strategy_options: {options}\n"))
    assert re.search(error, str(err.value)) and "\n" not in str(err.value)

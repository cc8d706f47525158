from pathlib import Path

import pytest

from valuespectrum.config import ConfigError
from valuespectrum.experiments.spec import expand, load_experiment

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("name", ["demo", "paper", "sweep-controls"])
def test_shipped_specs_load_and_expand(name, monkeypatch):
    monkeypatch.chdir(ROOT)
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


def test_unknown_field_names_file_line_and_field(tmp_path):
    p = write(tmp_path, BASE + "scrols: 10\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(p)
    msg = str(e.value)
    assert str(p) in msg and ":6:" in msg and "scrols" in msg and "unknown field" in msg


def test_unknown_platform_style(tmp_path):
    p = write(tmp_path, BASE.replace("[tiktok]", "[tiktak]"))
    with pytest.raises(ConfigError, match="platforms.0.style.*tiktak"):
        load_experiment(p)


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

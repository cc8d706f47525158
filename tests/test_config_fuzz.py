"""Fuzzed configuration files: persona, sweep spec, spectrum spec and values YAML.

Whatever a file holds (wrong types, unknown or missing fields, tabs, huge numbers, empty
files, binary junk, deep nesting, alias bombs), loading it either succeeds or raises a
`ConfigError` whose every line names the file (and the line and field where one is
known); `vspec` turns that into exit status 2 and never prints a traceback.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from valuespectrum.cli import app
from valuespectrum.config import ConfigError
from valuespectrum.personas import load_persona
from valuespectrum.spectrum.spec import load_spectrum_spec
from valuespectrum.sweep.spec import load_sweep_spec
from valuespectrum.values import load_values

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

FIELDS = {
    "persona": ["name", "description", "traits", "interests", "values", "extends"],
    "sweep": ["kind", "name", "personas", "persona_dir", "models", "platforms", "strategies",
              "strategy_options", "environment", "trials", "scrolls", "window", "seed",
              "concurrency", "agents_per_actor", "feed_servers", "output", "cache_dir",
              "budget_usd",
              "corpus", "prompts", "recommenders", "screenshots", "trial_timeout_s",
              "max_restarts", "contrasts"],
    "spectrum": ["kind", "name", "store", "embedder", "ingest", "models", "top_k", "filters",
                 "values", "keyword_template", "abundance_radius", "followups", "caption_llm",
                 "prompts", "budget_usd", "cache_dir", "output", "seed", "concurrency",
                 "parallel", "max_image_px"],
    "values": ["version", "values", "self_direction", "benevolence", "keywords",
               "description"],
}
#: A valid file of each kind, for mutations.
VALID = {
    "persona": (ROOT / "personas" / "pet_owner.yaml").read_text(),
    "sweep": yaml.safe_dump({"name": "fz", "personas": ["pet_owner"],
                             "persona_dir": str(ROOT / "personas"), "models": ["always:yes"],
                             "platforms": ["tiktok"], "trials": 1, "scrolls": 4, "window": 2}),
    "spectrum": (ROOT / "experiments" / "spectrum-demo.yaml").read_text(),
    "values": (ROOT / "valuespectrum" / "data" / "values.yaml").read_text(),
}


def load(kind: str, path: Path) -> object:
    if kind == "persona":
        return load_persona(path)
    if kind == "sweep":
        return load_sweep_spec(path)
    if kind == "spectrum":
        return load_spectrum_spec(path)
    return load_values(path)


def file_for(tmp: Path, kind: str) -> Path:
    # a persona's file name must equal its name: use the name the fuzzer writes most
    return tmp / ("fz.yaml" if kind == "persona" else f"{kind}.yaml")


def assert_clean(kind: str, path: Path) -> None:
    """Loading succeeds or raises ConfigError naming the file on every line."""
    t0 = time.perf_counter()
    try:
        load(kind, path)
    except ConfigError as e:
        for line in str(e).splitlines():
            if line.strip():
                assert str(path) in line, f"{kind}: a message line without the file: {line!r}"
    assert time.perf_counter() - t0 < 10, f"{kind}: loading took {time.perf_counter() - t0:.1f}s"


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**15, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", "\t", "yes", "pet_owner", "embed:minilm", "tiktok", "simple",
                     "runs/{name}", "{nope}", "~", "${NOPE_UNSET_VAR}", "benevolence",
                     "../../etc/passwd", "http", "playwright", "ray", "local", "-1", "1e309"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)


def documents(kind: str):
    keys = st.one_of(st.sampled_from(FIELDS[kind]), st.text(max_size=10))
    return st.dictionaries(keys, values, max_size=8)


@pytest.mark.parametrize("kind", list(FIELDS))
@FUZZ
@given(data=st.data())
def test_fuzzed_mappings_fail_with_a_located_config_error(kind, data, tmp_path):
    doc = data.draw(documents(kind))
    if kind == "persona" and data.draw(st.booleans()):
        doc["name"] = "fz"
    path = file_for(tmp_path, kind)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert_clean(kind, path)


def alias_bomb(width: int, depth: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, depth + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    lines.append(f"traits: *a{depth}\nvalues: *a{depth}\nmodels: *a{depth}\n"
                 f"personas: *a{depth}")
    return "\n".join(lines) + "\n"


def mutations(kind: str):
    valid = VALID[kind]
    lines = valid.splitlines()
    return st.one_of(
        st.binary(max_size=300).map(lambda b: ("binary", b)),
        st.text(max_size=300).map(lambda t: ("text", t.encode("utf-8", "replace"))),
        st.integers(0, len(valid)).map(lambda n: ("truncated", valid[:n].encode())),
        st.integers(0, max(0, len(lines) - 1)).map(
            lambda i: ("tab", "\n".join(lines[:i] + ["\t" + lines[i]] + lines[i + 1:]).encode())),
        st.tuples(st.integers(2, 12), st.integers(3, 12)).map(
            lambda wd: ("bomb", alias_bomb(*wd).encode())),
        st.integers(20, 3000).map(lambda n: ("deep", ("a: " + "[" * n + "]" * n).encode())),
        st.integers(20, 400).map(lambda n: ("deep-block", "".join(
            "  " * i + f"k{i}:\n" for i in range(n)).encode())),
        st.integers(4000, 20000).map(lambda n: ("huge-number", f"trials: {'9' * n}\n".encode())),
        st.just(("empty", b"")),
        st.just(("recursive", b"a: &a [*a]\ntraits: *a\n")),
    )


@pytest.mark.parametrize("kind", list(FIELDS))
@FUZZ
@given(data=st.data())
def test_broken_files_fail_with_a_config_error_naming_the_file(kind, data, tmp_path):
    _what, content = data.draw(mutations(kind))
    path = file_for(tmp_path, kind)
    path.write_bytes(content)
    assert_clean(kind, path)


@pytest.mark.parametrize("content,expect", [
    (alias_bomb(9, 9), "expands to more than"),
    (b"a: &a [*a]\n", "recursive YAML"),
    ("a: " + "[" * 2000 + "]" * 2000, "nest"),
    (b"\x00\x01\x02binary", "invalid YAML"),
    (b"\xff\xfe\x00junk", "not UTF-8"),
    (b"name: x\n\tdescription: y\n", ":2: invalid YAML"),
    (b"", "empty"),
])
def test_known_bad_files_get_their_own_message(content, expect, tmp_path):
    path = tmp_path / "fz.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        load_persona(path)
    assert expect in str(err.value) and str(path) in str(err.value)
    assert time.perf_counter() - t0 < 2


def test_a_field_error_names_file_line_and_field(tmp_path):
    path = tmp_path / "fz.yaml"
    path.write_text("name: fz\ndescription: d\ntraits: [a]\nvalues: [benevolence]\n"
                    "interests: 7\n")
    with pytest.raises(ConfigError, match=rf"^{path}:5: interests: "):
        load_persona(path)
    spec = tmp_path / "s.yaml"
    spec.write_text(VALID["sweep"] + "trials: 100000000000000000000\n")
    with pytest.raises(ConfigError, match=rf"{spec}:\d+: trials: "):
        load_sweep_spec(spec)


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


CLI_CASES = {
    "bomb": alias_bomb(10, 8).encode(),
    "binary": b"\x00\xff\x13junk",
    "tabs": b"kind: sweep\n\tname: x\n",
    "empty": b"",
    "deep": ("a: " + "[" * 1500 + "]" * 1500).encode(),
    "wrong-types": b"kind: spectrum\nmodels: 7\ntop_k: [1]\n",
    "unknown-field": b"name: s\npersonas: [pet_owner]\nmodels: [always:yes]\n"
                     b"platforms: [tiktok]\nscroll: 5\n",
    "huge": b"name: s\npersonas: [pet_owner]\nmodels: [always:yes]\nplatforms: [tiktok]\n"
            b"trials: 1e999\n",
    "bad-values-file": b"kind: spectrum\nmodels: [always:yes]\nvalues: bad-values.yaml\n",
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_vspec_run_exits_2_with_a_message_never_a_traceback(case, tmp_path, runner,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad-values.yaml").write_bytes(alias_bomb(10, 8).encode())
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(CLI_CASES[case])
    out = runner.invoke(app, ["run", str(spec), "--plain", "--no-report"])
    assert out.exit_code == 2, out.output
    assert "error:" in out.output
    assert "spec.yaml" in out.output or "bad-values.yaml" in out.output
    assert "Traceback" not in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_vspec_personas_validate_reports_fuzzed_files_with_exit_2(data, tmp_path, runner):
    path = tmp_path / "fz.yaml"
    if data.draw(st.booleans()):
        path.write_text(yaml.safe_dump(data.draw(documents("persona")), allow_unicode=True))
    else:
        path.write_bytes(data.draw(mutations("persona"))[1])
    out = runner.invoke(app, ["personas", "validate", str(path)])
    assert "Traceback" not in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit)
    if out.exit_code != 0:
        assert out.exit_code == 2 and str(path) in out.output

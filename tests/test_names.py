"""One rule for safe names (valuespectrum/names.py), and the names it makes."""

from __future__ import annotations

import re
from pathlib import Path

from valuespectrum.models.shared import run_scope
from valuespectrum.models.spec import ModelSpec
from valuespectrum.names import SAFE_NAME_PATTERN, safe_name, slug
from valuespectrum.view.links import file_slug

PKG = Path(__file__).resolve().parents[1] / "valuespectrum"


def test_unsafe_runs_become_one_dash_and_slug_strips_the_ends():
    assert safe_name("Qwen/Qwen2-VL 7B") == "Qwen-Qwen2-VL-7B"
    assert safe_name("a|b|c d.e_f") == "a-b-c-d.e_f"
    assert slug("  pet owner|gpt-4o  ") == "pet-owner-gpt-4o"
    assert re.fullmatch(SAFE_NAME_PATTERN, safe_name("any thing/at all?"))
    assert not re.fullmatch(SAFE_NAME_PATTERN, "a b")


def test_labels_scopes_and_file_names_are_what_they_were():
    """Trial ids, journals and tables use these names: the rule must not drift."""
    assert ModelSpec.parse("vllm:Qwen/Qwen2-VL-7B-Instruct").label == "Qwen2-VL-7B-Instruct"
    assert ModelSpec.parse("always:yes").label == "always-yes"
    assert ModelSpec.parse("scripted:Yes. No. A very long scripted reply").label == \
        "scripted-Yes.-No.-A-very-long-scripted-r"
    assert ModelSpec.parse("random:0.5").label == "random-0.5"
    assert run_scope("my demo!") == "my-demo"
    assert file_slug("p|m|tiktok|simple").startswith("p-m-tiktok-simple-")


def test_the_rule_is_written_once():
    for path in PKG.rglob("*.py"):
        if path.name != "names.py":
            text = path.read_text()
            assert "A-Za-z0-9_.\\-" not in text and "A-Za-z0-9_\\-." not in text, path

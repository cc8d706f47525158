"""One spectrum arm: answers journaled, budget stop, backend failures redone on resume."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import valuespectrum.models as models
from valuespectrum.experiments.results import read_jsonl
from valuespectrum.experiments.spectrum_arm import (
    Arm,
    ArmConfig,
    SpectrumItem,
    is_final,
    load_png,
    run_arm,
)
from valuespectrum.models import BudgetExceeded, ModelSpec, ScriptedBackend
from valuespectrum.models.base import TransientBackendError
from valuespectrum.types import SchwartzValue


@pytest.fixture
def items(tmp_path):
    out = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.new("RGBA", (2000, 1000), (255, 0, 0, 0 if i == 0 else 255)).save(path)
        out.append(SpectrumItem(value=SchwartzValue.HEDONISM, keyword="beach", rank=i,
                                image_id=str(i), path=str(path), caption=f"post {i}"))
    out.append(SpectrumItem(value=SchwartzValue.POWER, keyword="money", rank=0, image_id="x",
                            path=str(tmp_path / "missing.png")))
    return out


def scripted(monkeypatch, replies):
    backend = ScriptedBackend(replies)
    monkeypatch.setattr(models, "build_backend", lambda *a, **k: backend)
    return backend


ARM = Arm(label="s", strategy="plain", model=ModelSpec.parse("scripted:x"), vlm_label="s")
CFG = ArmConfig(run_name="t", followups=False, concurrency=1, max_image_px=256)


async def test_rows_are_journaled_and_failures_classified(tmp_path, items, monkeypatch):
    backend = scripted(monkeypatch, ["Yes.", TransientBackendError("503 after retries"),
                                     "No.", "Hmm.", "Hmm."])
    journal = tmp_path / "j.jsonl"
    out = await run_arm(ARM, items, journal, CFG)
    rows = read_jsonl(journal)
    assert out == {"arm": "s", "written": 5, "stopped": None} and backend.closed
    by_rank = {(r["keyword"], r["rank"]): r for r in rows}
    assert by_rank[("beach", 0)]["yes"] is True
    assert by_rank[("beach", 1)]["error"].startswith("backend: TransientBackendError")
    assert by_rank[("beach", 2)]["yes"] is False
    assert by_rank[("beach", 3)]["yes"] is None and by_rank[("beach", 3)]["error"] == "invalid"
    assert by_rank[("money", 0)]["error"].startswith("image: ")
    # resume redoes backend failures only
    assert [is_final(r) for r in rows].count(False) == 1
    assert json.loads(by_rank[("beach", 0)]["answers"])


async def test_budget_exhaustion_stops_the_arm_without_writing_a_row(tmp_path, items,
                                                                     monkeypatch):
    scripted(monkeypatch, ["Yes.", BudgetExceeded("budget 't' exhausted")])
    out = await run_arm(ARM, items[:4], tmp_path / "j.jsonl", CFG)
    assert out["stopped"] == "budget 't' exhausted"
    assert len(read_jsonl(tmp_path / "j.jsonl")) == 1


async def test_dead_endpoint_stops_the_arm_with_its_message(tmp_path, items, monkeypatch):
    from valuespectrum.models.base import BackendUnavailable

    scripted(monkeypatch, ["Yes.", BackendUnavailable("http://127.0.0.1:9/v1: connection refused")])
    out = await run_arm(ARM, items[:4], tmp_path / "j.jsonl", CFG)
    assert out["stopped"].startswith("model backend unavailable: http://127.0.0.1:9/v1")
    assert len(read_jsonl(tmp_path / "j.jsonl")) == 1  # no error row per remaining image


def test_images_are_downscaled_pngs_flattened_on_white(items):
    png = load_png(items[0].path, 256)
    import io

    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (256, 128) and im.mode == "RGB"
        assert im.getpixel((5, 5)) == (255, 255, 255)  # transparent -> white, not black

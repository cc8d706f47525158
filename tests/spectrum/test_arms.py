"""One spectrum arm: answers streamed, budget stop, backend failures redone on resume."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

import valuespectrum.spectrum.arms as arms_module
from valuespectrum.models import BudgetExceeded, ModelSpec, ScriptedBackend
from valuespectrum.models.base import TransientBackendError
from valuespectrum.spectrum.arms import (
    Arm,
    ArmConfig,
    ArmHost,
    ArmStopped,
    ResultRow,
    SpectrumItem,
    answer_items,
    is_final,
    load_images,
    load_png,
)
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


@pytest.fixture
def images(items):
    return load_images([it.path for it in items], 256)


def scripted(monkeypatch, replies):
    backend = ScriptedBackend(replies)
    monkeypatch.setattr(arms_module, "build_backend", lambda *a, **k: backend)
    return backend


ARM = Arm(label="s", strategy="plain", model=ModelSpec.parse("scripted:x"), vlm_label="s")
CFG = ArmConfig(run_name="t", followups=False, concurrency=1)


async def collect(items, images, cfg=CFG):
    return [got async for got in answer_items(ARM, items, images, cfg)]


async def test_rows_are_streamed_and_failures_classified(items, images, monkeypatch):
    backend = scripted(monkeypatch, ["Yes.", TransientBackendError("503 after retries"),
                                     "No.", "Hmm.", "Hmm."])
    rows = [r.model_dump(mode="json") for r in await collect(items, images)]
    assert len(rows) == 5 and backend.closed
    by_rank = {(r["keyword"], r["rank"]): r for r in rows}
    assert by_rank[("beach", 0)]["yes"] is True
    assert by_rank[("beach", 1)]["error"].startswith("backend: TransientBackendError")
    assert by_rank[("beach", 2)]["yes"] is False
    assert by_rank[("beach", 3)]["yes"] is None and by_rank[("beach", 3)]["error"] == "invalid"
    assert by_rank[("money", 0)]["error"].startswith("image: FileNotFoundError")
    # resume redoes backend failures only
    assert [is_final(r) for r in rows].count(False) == 1
    assert json.loads(by_rank[("beach", 0)]["answers"])


async def test_budget_exhaustion_stops_the_arm_without_writing_a_row(items, images,
                                                                     monkeypatch):
    scripted(monkeypatch, ["Yes.", BudgetExceeded("budget 't' exhausted")])
    got = await collect(items[:4], images)
    assert [type(g) for g in got] == [ResultRow, ArmStopped]
    assert got[-1].reason == "budget 't' exhausted"


async def test_dead_endpoint_stops_the_arm_with_its_message(items, images, monkeypatch):
    from valuespectrum.models.base import BackendUnavailable

    scripted(monkeypatch, ["Yes.", BackendUnavailable("http://127.0.0.1:9/v1: connection refused")])
    got = await collect(items[:4], images)
    assert len(got) == 2  # one answer, then the stop: no error row per remaining image
    assert got[-1].reason.startswith("model backend unavailable: http://127.0.0.1:9/v1")


async def test_the_answer_actor_streams_plain_rows_and_installs_keys(items, images, monkeypatch):
    import os

    scripted(monkeypatch, ["Yes.", "No."])
    monkeypatch.delenv("VSPEC_ARM_TEST_KEY", raising=False)
    host = ArmHost()
    got = [r async for r in host.answer(ARM, items[:2], images, CFG, {"VSPEC_ARM_TEST_KEY": "k"})]
    assert [r[0]["yes"] for r in got] == [True, False]
    assert os.environ.pop("VSPEC_ARM_TEST_KEY") == "k"


def test_images_are_downscaled_pngs_flattened_on_white(items, images):
    png = load_png(items[0].path, 256)
    assert images[items[0].path] == png
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (256, 128) and im.mode == "RGB"
        assert im.getpixel((5, 5)) == (255, 255, 255)  # transparent -> white, not black

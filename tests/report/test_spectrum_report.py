"""Spectrum scoring and report from hand-made result rows (no models, no store)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from valuespectrum.report.spectrum import score_rows, table1_markdown
from valuespectrum.runs import arrow_schema
from valuespectrum.spectrum.arms import ResultRow


def row(arm, value, keyword, rank, yes, error=None, strategy="plain"):
    return ResultRow(arm=arm, strategy=strategy, model=f"m:{arm}", value=value,
                     keyword=keyword, rank=rank, image_id=str(rank), path=f"{rank}.png",
                     yes=yes, error=error or (None if yes is not None else "invalid")
                     ).model_dump(mode="json")


def test_invalid_answers_are_excluded_not_scored_as_no():
    rows = [row("a", "hedonism", "beach", 0, True), row("a", "hedonism", "beach", 1, None),
            row("a", "hedonism", "music", 0, False), row("a", "hedonism", "music", 1, True),
            row("a", "hedonism", "music", 2, None, error="backend: timeout")]
    s = score_rows(rows)["a"]["hedonism"]
    assert s.mean == pytest.approx(2 / 3)          # 2 yes of 3 answered (not 2 of 5)
    assert s.keywords == {"beach": 1.0, "music": 0.5}
    assert s.std == pytest.approx(0.25)            # population std of [1.0, 0.5]
    assert (s.answered, s.yes, s.invalid, s.errors) == (3, 2, 1, 1)


def test_keyword_without_answers_is_left_out_of_the_std():
    rows = [row("a", "power", "money", 0, True), row("a", "power", "crown", 0, None)]
    s = score_rows(rows)["a"]["power"]
    assert (s.mean, s.std, s.keywords["crown"]) == (1.0, 0.0, None)


def test_table1_is_values_by_models_in_percent():
    rows = [row(m, v, "k1", 0, y) for m, y in (("gpt", True), ("blip", False))
            for v in ("hedonism", "self_direction")]
    rows += [row("gpt", "hedonism", "k2", 0, False)]
    text = table1_markdown(score_rows(rows), ["gpt", "blip"])
    lines = text.splitlines()
    assert lines[0] == "| Value | gpt | blip |"
    assert lines[2] == "| Self-direction | 100 ± 0 | 0 ± 0 |"   # the paper's value order
    assert lines[3] == "| Hedonism | 50 ± 50 | 0 ± 0 |"


def test_vspec_report_dispatches_a_spectrum_run(tmp_path):
    from valuespectrum.engine.registry import write_report

    values = ["self_direction", "universalism", "benevolence", "stimulation", "power",
              "achievement", "hedonism", "conformity", "tradition", "security"]
    rows = []
    for i, v in enumerate(values):
        for arm, strategy in (("vlm", "plain"), ("other", "plain"), ("vlm+llm", "caption_llm")):
            for kw in ("k1", "k2"):
                for rank in range(2):
                    rows.append(row(arm, v, f"{v}-{kw}", rank, (i + rank) % 3 != 0,
                                    strategy=strategy))
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(ResultRow)),
                   tmp_path / "results.parquet")
    (tmp_path / "abundance.json").write_text(json.dumps({
        "radius": 1.5, "total": 100,
        "per_keyword": {v: {f"{v}-k1": 3 * i, f"{v}-k2": 10} for i, v in enumerate(values)},
        "per_value": {v: 3 * i + 10 for i, v in enumerate(values)}}))
    (tmp_path / "spec.yaml").write_text("kind: spectrum\n")
    out = write_report(tmp_path)
    text = out.read_text()
    assert out.name == "report.md" and "| Value | vlm | other |" in text
    assert "| Value | vlm | vlm+llm |" in text  # Figure 9 pairs the VLM with its caption arm
    for name in ("fig2_abundance", "fig5_radar", "fig6_ranked_means", "fig7_std_per_model",
                 "fig9_vlm_vs_llm"):
        with Image.open(tmp_path / "figures" / f"{name}.png") as im:
            assert im.format == "PNG" and im.width > 400

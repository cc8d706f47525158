"""Ingest (folder + CSV, run directory), retrieval in one batched query, and abundance."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.store.conftest import ColorImageEmbedder, HashTextEmbedder, unit_rows
from valuespectrum.config import ConfigError
from valuespectrum.store.ingest import ingest_folder, ingest_records, ingest_run
from valuespectrum.store.retrieval import (
    Filters,
    abundance,
    brute_force_topk,
    brute_force_within,
    keyword_vectors,
    retrieve,
)
from valuespectrum.store.vector_store import ScreenshotRecord, ScreenshotStore
from valuespectrum.values import load_values

COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]


@pytest.fixture
def shots(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    lines = ["path,platform,posted,caption"]
    for i, c in enumerate(COLORS):
        Image.new("RGB", (40, 30), c).save(folder / f"{c}.png")
        lines.append(f"{c}.png,{['tiktok', 'youtube'][i % 2]},2024-08-{i + 1:02d},a {c} square")
    Image.new("RGB", (40, 30), "red").save(folder / "red-copy.png")  # same bytes as red.png
    lines.append("red-copy.png,tiktok,2024-08-09,the red square again")
    (folder / "broken.png").write_bytes(b"not an image")
    lines.append("broken.png,tiktok,2024-08-10,broken")
    (tmp_path / "shots.csv").write_text("\n".join(lines) + "\n")
    return folder, tmp_path / "shots.csv"


def test_folder_csv_ingest_is_idempotent_and_dedups_identical_screenshots(tmp_path, shots):
    folder, csv = shots
    emb = ColorImageEmbedder(dim=8)
    with ScreenshotStore(tmp_path / "s.db", emb.name, emb.dim) as store:
        first = ingest_folder(store, emb, folder, csv, progress=False)
        assert (first.seen, first.inserted, first.already_stored) == (8, 6, 1)
        assert [p.rsplit("/", 1)[1] for p in first.failed] == ["broken.png"]
        again = ingest_folder(store, emb, folder, csv, progress=False)
        assert again.inserted == 0 and store.count() == 6
        # the image vector is what the store matches: a pure red query finds red.png first
        red = emb.embed_images([Image.new("RGB", (4, 4), "red")])
        assert store.search(red, k=1)[0][0].path.endswith("red.png")
        assert store.stats().platforms == {"tiktok": 3, "youtube": 3}


def test_csv_errors_name_file_and_column(tmp_path, shots):
    folder, _ = shots
    bad = tmp_path / "bad.csv"
    bad.write_text("file,platform\nx.png,tiktok\n")
    with ScreenshotStore(tmp_path / "s.db", "x", 8) as store, pytest.raises(
            ConfigError, match="bad.csv: needs a 'path' column"):
        ingest_folder(store, ColorImageEmbedder(8), folder, bad, progress=False)


def test_run_dir_ingest_reads_steps_and_screens(tmp_path):
    run = tmp_path / "run"
    (run / "screens" / "t1").mkdir(parents=True)
    rows = []
    for step, c in enumerate(["red", "blue", "red"]):
        Image.new("RGB", (20, 20), c).save(run / "screens" / "t1" / f"{step:04d}.jpg")
        rows.append({"trial_id": "t1", "step": step, "platform": "tiktok",
                     "screenshot_path": f"screens/t1/{step:04d}.jpg", "url": f"u{step}",
                     "item_id": None})
    pq.write_table(pa.Table.from_pylist(rows), run / "steps.parquet")
    emb = ColorImageEmbedder(dim=8)
    with ScreenshotStore(tmp_path / "s.db", emb.name, emb.dim) as store:
        rep = ingest_run(store, emb, run, progress=False)
        assert (rep.inserted, rep.already_stored) == (2, 1)  # step 2 repeats step 0's frame
        assert {r["source"] for r in store.records()} == {"run:run"}
    with ScreenshotStore(tmp_path / "t.db", "minilm", 8) as store:
        text_only = HashTextEmbedder(8)
        text_only.name = "minilm"
        with pytest.raises(ConfigError, match="--corpus"):
            ingest_run(store, text_only, run, progress=False)


@pytest.fixture
def keyword_store(tmp_path):
    """A store of random vectors plus, for each keyword, two planted near neighbours."""
    emb = HashTextEmbedder(dim=16)
    catalog = load_values()
    pairs, kw = keyword_vectors(emb, catalog)
    rng = np.random.default_rng(0)
    planted = np.repeat(kw, 2, axis=0) + 0.05 * rng.normal(size=(2 * len(kw), 16))
    data = np.vstack([unit_rows(500, 16, 7), planted]).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    recs = [ScreenshotRecord(path=f"{i}.png", platform=["tiktok", "youtube"][i % 2],
                             posted=f"2024-08-{1 + i % 28:02d}") for i in range(len(data))]
    store = ScreenshotStore(tmp_path / "k.db", emb.name, emb.dim)
    ingest_records(store, emb, recs, vectors=data, progress=False)
    yield store, emb, catalog, pairs, kw, data
    store.close()


def test_retrieve_top_k_per_keyword_equals_brute_force(keyword_store):
    store, emb, catalog, pairs, kw, data = keyword_store
    got = retrieve(store, emb, catalog, k=5)
    assert len(got) == 5 * len(pairs)
    ref = brute_force_topk(data, kw, 5)
    for j, (value, keyword) in enumerate(pairs):
        rows = [r for r in got if r.keyword == keyword and r.value == value]
        assert [r.rank for r in rows] == list(range(5))
        assert [int(r.hit.path[:-4]) for r in rows] == ref[j].tolist()
    filtered = retrieve(store, emb, catalog, k=3, filters=Filters(platforms=("youtube",)))
    assert {r.hit.platform for r in filtered} == {"youtube"}


def test_abundance_counts_union_of_keywords_within_radius(keyword_store):
    store, emb, catalog, pairs, kw, data = keyword_store
    ab = abundance(store, emb, catalog, radius=1.2)
    per_kw = brute_force_within(data, kw, 1.2)
    for j, (value, keyword) in enumerate(pairs):
        assert ab.per_keyword[value][keyword] == per_kw[j]
    d2 = ((kw[:, None, :] - data[None]) ** 2).sum(-1) < 1.2**2
    for value in catalog.values:
        rows = [j for j, (v, _) in enumerate(pairs) if v == value]
        assert ab.per_value[value] == int(d2[rows].any(axis=0).sum())
    assert ab.total == len(data)

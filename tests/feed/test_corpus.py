"""Corpus building (real openclipart files), import of user screenshots, safe image access."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from valuespectrum.feed.corpus import (
    Corpus,
    CorpusError,
    UnknownItemError,
    default_corpus_dir,
)
from valuespectrum.feed.sources import build_openclipart, import_corpus
from valuespectrum.types import SchwartzValue

OPENCLIPART = Path("/usr/share/openclipart")
OVERSIZED = "computer/microchip_v.2_havok_redh_01.png"  # beyond PIL's decompression-bomb limit
NORMAL = "animals/bison_leif_lodahl_01.png"

pytestmark = pytest.mark.skipif(not (OPENCLIPART / "png").is_dir(),
                                reason="openclipart-png is not installed")


def test_items_carry_metadata_from_the_real_files(corpus):
    assert 250 <= len(corpus) <= 300
    cats = corpus.categories()
    assert set(cats) <= {"animals", "food", "people", "transportation", "plants", "buildings"}
    assert cats["animals"] >= 30
    for it in corpus.items:
        assert it.caption.strip()
        assert 5.0 <= it.duration_s <= 60.0
        assert dt.date(2024, 7, 31) <= dt.date.fromisoformat(it.posted) <= dt.date(2024, 10, 31)
        assert 0.0 <= it.popularity <= 1.0
        assert it.creator.startswith("@")
        assert len(it.value_tags) <= 2
        assert all(isinstance(v, SchwartzValue) for v in it.value_tags)
        assert all(h == h.lower() and " " not in h for h in it.hashtags)
    assert sum(bool(it.value_tags) for it in corpus.items) > 0
    assert len({it.creator for it in corpus.items}) > 20


def test_embeddings_are_row_aligned_minilm_of_caption_and_hashtags(corpus, minilm):
    assert corpus.embeddings.shape == (len(corpus), 384)
    np.testing.assert_allclose(np.linalg.norm(corpus.embeddings, axis=1), 1.0, atol=1e-4)
    sample = corpus.items[:: max(1, len(corpus) // 5)]
    fresh = minilm.embed_texts([it.text for it in sample])
    stored = np.stack([corpus.embeddings[corpus.index(it.item_id)] for it in sample])
    assert np.all(np.sum(fresh * stored, axis=1) > 0.999)


def test_build_is_seeded(tmp_path, minilm):
    a = build_openclipart(tmp_path / "a", limit=25, seed=3, embedder=minilm)
    b = build_openclipart(tmp_path / "b", limit=25, seed=3, embedder=minilm)
    c = build_openclipart(tmp_path / "c", limit=25, seed=4, embedder=minilm)
    items_a, items_b = Corpus.load(a.out_dir).items, Corpus.load(b.out_dir).items
    assert items_a == items_b
    assert {i.item_id for i in items_a} != {i.item_id for i in Corpus.load(c.out_dir).items}


def test_oversized_and_unreadable_images_are_skipped_and_counted(tmp_path, minilm):
    src = tmp_path / "src"
    for rel in (OVERSIZED, NORMAL):
        for kind in ("png", "svg"):
            target = (src / kind / rel).with_suffix("." + kind)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to((OPENCLIPART / kind / rel).with_suffix("." + kind))
    broken = src / "png" / "animals" / "broken_01.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    report = build_openclipart(tmp_path / "out", source=src, embedder=minilm)
    assert (report.n_items, report.skipped_oversized, report.skipped_unreadable) == (1, 1, 1)
    assert report.missing_metadata == 0
    (item,) = Corpus.load(report.out_dir).items
    assert item.image_path == f"images/{NORMAL}" and item.category == "animals"
    # <dc:title> -> caption, <dc:subject> keywords -> hashtags, top folder -> category
    assert (item.caption, item.hashtags) == ("Bison", ("animal",))


def test_image_path_stays_inside_the_corpus(corpus):
    item = corpus.items[0]
    path = corpus.image_path(item.item_id)
    assert path.is_file() and path.is_relative_to(corpus.root)
    evil = item.model_copy(update={"image_path": "../../../etc/passwd"})
    linked = item.model_copy(update={"image_path": "images/../../../../etc/passwd"})
    for bad in (evil, linked):
        tampered = Corpus(corpus.root, [bad], corpus.embeddings[:1], corpus.meta)
        with pytest.raises(CorpusError, match="escapes the corpus"):
            tampered.image_path(bad.item_id)
    os_link = corpus.root / "images" / "evil.png"
    os_link.symlink_to("/etc/hostname")
    try:
        outside = item.model_copy(update={"image_path": "images/evil.png"})
        tampered = Corpus(corpus.root, [outside], corpus.embeddings[:1], corpus.meta)
        with pytest.raises(CorpusError, match="outside the corpus"):
            tampered.image_path(outside.item_id)
    finally:
        os_link.unlink()


def test_unknown_item_gives_a_clear_error(corpus):
    with pytest.raises(UnknownItemError) as exc:
        corpus.get("no-such-item")
    assert str(exc.value) == "unknown item id 'no-such-item'"
    assert not isinstance(exc.value, KeyError)


def test_loading_a_non_corpus_says_how_to_build_one(tmp_path):
    with pytest.raises(CorpusError, match="vspec corpus build openclipart"):
        Corpus.load(tmp_path)


def test_default_corpus_dir_follows_vspec_home(monkeypatch, tmp_path):
    monkeypatch.setenv("VSPEC_HOME", str(tmp_path))
    assert default_corpus_dir() == tmp_path / "corpus" / "openclipart"
    monkeypatch.delenv("VSPEC_HOME")
    monkeypatch.chdir(tmp_path)
    assert default_corpus_dir("mine") == tmp_path / ".vspec" / "corpus" / "mine"


def _screenshots(folder: Path) -> None:
    folder.mkdir()
    for i, color in enumerate(("red", "green", "blue")):
        Image.new("RGB", (60, 100), color).save(folder / f"shot_{i}.png")


def test_import_folder_with_csv_metadata(tmp_path, minilm):
    src = tmp_path / "shots"
    _screenshots(src)
    (src / "meta.csv").write_text(
        "image,caption,hashtags,category,creator,duration_s,posted\n"
        "shot_0.png,My dog at the beach,#dog #beach,animals,@me,12.5,2024-08-01\n"
        "shot_1.png,Cooking pasta,\"food, pasta\",food,,,\n", encoding="utf-8")
    report = import_corpus(src, tmp_path / "out", embedder=minilm)
    corpus = Corpus.load(report.out_dir)
    by_caption = {it.caption: it for it in corpus.items}
    assert len(corpus) == 3
    dog = by_caption["My dog at the beach"]
    assert (dog.hashtags, dog.category, dog.creator, dog.duration_s, dog.posted) == (
        ("dog", "beach"), "animals", "@me", 12.5, "2024-08-01")
    assert by_caption["Cooking pasta"].hashtags == ("food", "pasta")
    assert "Shot" in by_caption and by_caption["Shot"].category == "imported"
    for it in corpus.items:  # copied, so the corpus survives the user's folder moving
        path = corpus.image_path(it.item_id)
        assert not path.is_symlink() and path.is_relative_to(corpus.root)


def test_import_csv_of_image_paths_and_bad_input(tmp_path, minilm):
    _screenshots(tmp_path / "shots")
    csv_path = tmp_path / "list.csv"
    csv_path.write_text("image,caption\nshots/shot_2.png,Blue sky\nshots/missing.png,Gone\n")
    report = import_corpus(csv_path, tmp_path / "out", embedder=minilm)
    assert report.n_items == 1 and report.skipped_unreadable == 1
    assert Corpus.load(report.out_dir).items[0].caption == "Blue sky"
    csv_path.write_text("image,duration_s\nshots/shot_2.png,long\n")
    with pytest.raises(CorpusError, match="duration_s 'long' is not a number"):
        import_corpus(csv_path, tmp_path / "out2", embedder=minilm)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no images found"):
        import_corpus(tmp_path / "empty", tmp_path / "out3", embedder=minilm)
    assert not os.path.exists(tmp_path / "out3")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.mark.parametrize("out", [".", "sub", ".."], ids=["is-src", "inside-src", "contains-src"])
def test_import_refuses_an_out_that_overlaps_the_source_and_keeps_every_file(tmp_path, minilm,
                                                                             out):
    src = tmp_path / "shots"
    _screenshots(src)
    (src / "notes.txt").write_text("my notes")
    (src / "sub").mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(CorpusError, match="refusing to build a corpus here: it (is|contains) "):
        import_corpus(src, src / out, embedder=minilm)
    assert _snapshot(tmp_path) == before
    assert (src / "sub").is_dir() and _leftovers(tmp_path) == _leftovers(src) == []


def test_import_refuses_an_out_that_holds_other_files(tmp_path, minilm):
    _screenshots(tmp_path / "shots")
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    (home / "notes.txt").write_text("keep me")
    (home / "docs" / "cv.pdf").write_bytes(b"%PDF")
    before = _snapshot(home)
    with pytest.raises(CorpusError, match=r"home: refusing .*not empty and not a corpus"):
        import_corpus(tmp_path / "shots", home, embedder=minilm)
    assert _snapshot(home) == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(CorpusError, match="is not a directory"):
        import_corpus(tmp_path / "shots", tmp_path / "file", embedder=minilm)
    (tmp_path / "link").symlink_to(home)
    with pytest.raises(CorpusError, match="is a symlink"):
        import_corpus(tmp_path / "shots", tmp_path / "link", embedder=minilm)
    assert _snapshot(home) == before and _leftovers(tmp_path) == []


def test_import_over_an_existing_corpus_or_empty_folder_replaces_it(tmp_path, minilm):
    _screenshots(tmp_path / "shots")
    (tmp_path / "other").mkdir()
    Image.new("RGB", (30, 30), "white").save(tmp_path / "other" / "only.png")
    out = tmp_path / "out"
    out.mkdir()  # an empty folder is fine
    assert import_corpus(tmp_path / "shots", out, embedder=minilm).n_items == 3
    report = import_corpus(tmp_path / "other", out, embedder=minilm)
    assert report.out_dir == out and report.n_items == 1
    corpus = Corpus.load(out)
    assert [it.caption for it in corpus.items] == ["Only"]
    assert len(list((out / "images").iterdir())) == 1  # the old images went with the old corpus
    assert _leftovers(tmp_path) == []


def test_failed_import_leaves_the_existing_corpus_and_no_temp_dir(tmp_path, minilm):
    _screenshots(tmp_path / "shots")
    out = tmp_path / "out"
    import_corpus(tmp_path / "shots", out, embedder=minilm)
    before = _snapshot(out)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(CorpusError, match="none of the 1 images could be read"):
        import_corpus(broken, out, embedder=minilm)
    assert _snapshot(out) == before and len(Corpus.load(out)) == 3
    assert _leftovers(tmp_path) == []


def _mini_source(src: Path) -> None:
    """An openclipart-shaped folder: one good image (+ its SVG metadata) and one broken PNG."""
    for kind in ("png", "svg"):
        target = (src / kind / NORMAL).with_suffix("." + kind)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to((OPENCLIPART / kind / NORMAL).with_suffix("." + kind))
    (src / "png" / "food").mkdir()
    (src / "png" / "food" / "broken_01.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")


def test_build_refuses_the_source_folder_and_keeps_an_existing_corpus_on_failure(tmp_path,
                                                                                 minilm):
    src = tmp_path / "oc"
    _mini_source(src)
    before = _snapshot(src)
    for out in (src, src / "png" / "out", tmp_path):
        with pytest.raises(CorpusError, match="openclipart source folder"):
            build_openclipart(out, source=src, embedder=minilm)
    assert _snapshot(src) == before
    out = tmp_path / "corpus"
    first = build_openclipart(out, limit=4, categories=("animals",), embedder=minilm)
    assert first.n_items == 4
    report = build_openclipart(out, source=src, embedder=minilm)  # rebuild replaces it
    assert report.n_items == 1 and len(Corpus.load(out)) == 1
    before = _snapshot(out)
    with pytest.raises(CorpusError, match="no usable images"):
        build_openclipart(out, source=src, categories=("food",), embedder=minilm)
    assert _snapshot(out) == before and _leftovers(tmp_path) == []

"""`vspec collect`: a random walk into the screenshot store, idempotent on link, resumable."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from vspec_helpers import ROOT, VSPEC, run_vspec, vspec_env

from valuespectrum.environments.collect import Collector, CollectSpec
from valuespectrum.runs import read_jsonl
from valuespectrum.store.vector_store import ScreenshotStore

pytestmark = pytest.mark.slow


def stored(db, minilm) -> list[dict]:
    with ScreenshotStore(db, "minilm", minilm.dim) as store:
        return store.records(fields=("link", "platform", "posted", "caption", "path", "source"))


def test_200_posts_land_in_the_store_once_when_run_twice(corpus_dir, corpus, tmp_path, minilm):
    db, run = tmp_path / "store" / "shots.db", tmp_path / "collect-run"
    args = ["collect", "-n", "200", "--environment", "http", "--platform", "tiktok",
            "--corpus", str(corpus_dir), "--store", str(db), "--output", str(run),
            "--seed", "3"]
    first = run_vspec(args, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "200/200 posts collected (200 new" in first.stdout and "200 inserted" in first.stdout
    second = run_vspec(args, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "200/200 posts collected (0 new" in second.stdout
    rows = stored(db, minilm)
    assert len(rows) == 200 and len({r["link"] for r in rows}) == 200
    for r in rows[:20]:  # each post with its link, platform, caption and date, and its image
        item = corpus.get(r["link"].rsplit("/", 1)[1])
        assert r["link"] == f"corpus://{corpus.root.name}/{item.item_id}"
        assert r["platform"] == "local-tiktok" and r["posted"] == item.posted
        assert r["caption"] == item.text and r["source"] == "collect:collect-run"
        assert open(r["path"], "rb").read(2) == b"\xff\xd8"
    journal = read_jsonl(run / "journal" / "collected.jsonl")
    assert len(journal) == 200 and len(list((run / "screens").glob("*.jpg"))) == 200


def _spec(db, corpus_dir, n, **kw) -> CollectSpec:
    return CollectSpec(n=n, environment="http", platform="youtube", store=str(db),
                       corpus=str(corpus_dir), seed=1, **kw)


def test_a_larger_n_resumes_and_lost_store_rows_are_restored(corpus_dir, tmp_path, minilm):
    db, run = tmp_path / "shots.db", tmp_path / "run"
    seen = []
    first = Collector(_spec(db, corpus_dir, 40), run,
                      progress=lambda done, total: seen.append((done, total))).run()
    assert (first.collected, first.new, first.inserted, first.walks) == (40, 40, 40, 1)
    assert seen[-1] == (40, 40) and seen[0] == (0, 40)
    more = Collector(_spec(db, corpus_dir, 70), run).run()  # same walk, a larger target
    assert (more.collected, more.new, more.walks) == (70, 30, 2)
    assert len(stored(db, minilm)) == 70
    # a crash can lose rows the store had not flushed: the journal puts them back
    for path in db.parent.glob(db.name + "*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    again = Collector(_spec(db, corpus_dir, 70), run).run()
    assert (again.restored, again.new, again.walks) == (70, 0, 2)
    assert len(stored(db, minilm)) == 70
    with pytest.raises(Exception, match="different plan"):  # another walk in the same folder
        Collector(_spec(db, corpus_dir, 70, skip_prob=0.9), run).run()


def test_bad_environment_options_fail_before_anything_starts(tmp_path):
    r = run_vspec(["collect", "-n", "5", "--environment", "http", "--option", "colour=red",
                   "--output", str(tmp_path / "r")], tmp_path)
    assert r.returncode == 2 and "unknown option(s) ['colour']" in r.stderr
    assert not (tmp_path / "r").exists()


def test_collect_errors_are_one_line_like_vspec_run(corpus_dir, tmp_path):
    """`vspec collect` maps errors to exit codes as `vspec run` does (one helper): bad input
    is status 2, a run directory it cannot write is status 1; never a traceback."""
    store = ["--store", str(tmp_path / "s.db")]
    r = run_vspec(["collect", "-n", "3", "--environment", "http", "--corpus",
                   str(tmp_path / "nope"), "--output", str(tmp_path / "r"), *store], tmp_path)
    assert r.returncode == 2 and "not a corpus" in r.stderr and "Traceback" not in r.stderr
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
    prefix = (["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
              if os.geteuid() == 0 else [])  # root writes anywhere: drop what lets it
    locked = tmp_path / "readonly"
    locked.mkdir(mode=0o555)
    try:
        r = subprocess.run([*prefix, *VSPEC, "collect", "-n", "3", "--environment", "http",
                            "--corpus", str(corpus_dir), "--output", str(locked / "run"),
                            *store], env=vspec_env(tmp_path), capture_output=True, text=True,
                           timeout=600, cwd=ROOT)
    finally:
        locked.chmod(0o755)
    assert r.returncode == 1 and "cannot write the run directory" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_a_collection_without_screenshots_is_refused(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="screenshot: none saves nothing"):
        CollectSpec(n=5, environment="playwright", options={"screenshot": "none"},
                    store=str(tmp_path / "s.db"))

"""The demo's scientific sanity check, on the demo's own spec and the default corpus.

With the offline MiniLM viewer, a pet owner on the TikTok-style feed must show a real
positive drift (I_avg > 0 with its whole 95% CI above 0), while on the random feed (the
control, which does not learn) the CI must contain 0. The spec is run as shipped except for
the output directory and, to keep CI short, the environment: `http` draws the same posts
without a browser, and the viewer reads the same visible text, so decisions are the same
as in Chromium (test_sweep.py covers the Chromium path end to end).
"""

from __future__ import annotations

import json

import pytest
import yaml
from vspec_helpers import ROOT, run_vspec

pytestmark = pytest.mark.slow


def test_pet_owner_drifts_on_tiktok_and_not_on_the_random_feed(tmp_path):
    from valuespectrum.feed.corpus import default_corpus_dir

    corpus = default_corpus_dir()
    if not (corpus / "manifest.parquet").exists():
        pytest.skip(f"default corpus not built at {corpus} (scripts/setup.sh builds it)")
    spec = yaml.safe_load((ROOT / "experiments" / "demo.yaml").read_text())
    spec.update(output=str(tmp_path / "demo"), environment="http",
                persona_dir=str(ROOT / "personas"), corpus=str(corpus))
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = run_vspec(["run", str(path), "--plain"], tmp_path, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    by_platform = {g["platform"]: g for g in summary["groups"]}
    tiktok, control = by_platform["tiktok"], by_platform["random"]
    assert tiktok["trials"] == control["trials"] == spec["trials"]
    assert tiktok["i_avg_count"] > 0
    assert tiktok["i_avg_count_ci"][0] > 0
    lo, hi = control["i_avg_count_ci"]
    assert lo <= 0 <= hi
    assert tiktok["yes_rate_last"] > tiktok["yes_rate_first"]

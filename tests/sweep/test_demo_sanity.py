"""The demo's own spec, run as `make demo` runs it (through HTTP instead of Chromium).

What it must show, whatever the size of the effect: the learning feed serves the pet owner
more of what it stays on than its frozen twin does (the feed learns), the controls do not
drift (their Δ intervals contain 0), and every learning cell is contrasted with both
controls, with Holm-adjusted p-values. The environment is `http`: it draws the same posts
without a browser and the viewer reads the same visible text, so decisions are the same as
in Chromium (test_sweep.py covers the Chromium path end to end).
"""

from __future__ import annotations

import json

import pytest
import yaml
from vspec_helpers import ROOT, run_vspec

pytestmark = pytest.mark.slow


def test_the_demo_contrasts_the_learning_feed_with_its_controls(tmp_path):
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
    assert "contrasts: difference in Δ" in proc.stdout
    assert "tiktok − tiktok-frozen" in proc.stdout  # what the two cells differ in, named
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    cells = {c["platform"]: c for c in summary["cells"]}
    tiktok, twin, random = cells["tiktok"], cells["tiktok-frozen"], cells["random"]
    assert tiktok["trials"] == twin["trials"] == random["trials"] == spec["trials"]
    assert not tiktok["control"] and twin["control"] and random["control"]
    # the feed learns: more yes on the learning feed than on its matched control
    assert tiktok["yes_rate_first"]["value"] > twin["yes_rate_first"]["value"] + 0.1
    for control in (twin, random):
        lo, hi = control["delta"]["ci"]
        assert lo <= 0 <= hi
    pairs = {(c["treatment"].split("|")[2], c["control"].split("|")[2]): c
             for c in summary["contrasts"]}
    assert set(pairs) == {("tiktok", "tiktok-frozen"), ("tiktok", "random")}
    assert all(c["p_adjusted"] is not None and c["p_adjusted"] >= c["p_value"]
               for c in pairs.values())
    # and pair by pair: each trial against the control's trial of the same seed
    assert all(c["paired"]["pairs"] == spec["trials"] for c in pairs.values())

"""The demo's own spec, run as `make demo` runs it (through HTTP instead of Chromium).

What it must show, whatever the size of the effect: the session contrast against the frozen
twin leads (the one confirmatory contrast, its interval agreeing with its p), the learning
feed serves the pet owner more of what it stays on than its twin does (the feed learns), the
controls do not drift (their Δ intervals contain 0), and the learning cell is contrasted
with both controls on every estimand. The environment is `http`: it draws the same posts
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
    out = proc.stdout
    assert "what the feed did" in out and "declared plan: session yes-rate" in out
    assert out.index("what the feed did") < out.index("each arm")  # the lead comes first
    assert "tiktok − tiktok-frozen" in out  # what the two cells differ in, named
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
    lead = [c for c in summary["contrasts"] if c["family"] == "confirmatory"]
    assert [(c["control_cell"]["platform"], c["estimand"], c["reading"]) for c in lead] == [
        ("tiktok-frozen", "session", "paired")]
    assert lead[0]["pairs"] == spec["trials"] and lead[0]["p_adjusted"] == lead[0]["p_value"]
    assert (lead[0]["p_value"] < 0.05) == (lead[0]["ci"][0] > 0 or lead[0]["ci"][1] < 0)
    controls = {c["control_cell"]["platform"] for c in summary["contrasts"]}
    assert controls == {"tiktok-frozen", "random"}
    assert len(summary["curves"]) == 2

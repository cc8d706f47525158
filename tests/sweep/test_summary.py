"""summary.json of a sweep: statistics per cell and group, controls, contrasts."""

from pathlib import Path

import pytest

from valuespectrum.metrics import null_i_avg
from valuespectrum.runs import RunDirectory, read_table
from valuespectrum.sweep.results import SweepResults, TrialRecord
from valuespectrum.sweep.spec import SweepSpec
from valuespectrum.sweep.summary import summarize
from valuespectrum.types import StepRecord

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rd(tmp_path):
    run = RunDirectory(tmp_path, "sweep")
    run.acquire()
    yield SweepResults(run)
    run.release()


def record_trial(rd: SweepResults, tid: str, model: str, platform: str, decisions,
                 status="done", persona="p", tags=None, seed=0):
    cell = f"{persona}|{model}|{platform}|simple"
    for i, d in enumerate(decisions):
        rd.stage_step(StepRecord(trial_id=tid, cell=cell, persona=persona, model=model,
                                 platform=platform, strategy="simple", step=i, decision=d,
                                 value_tags=tuple(tags[i]) if tags else ()))
    rd.finish_trial(TrialRecord(trial_id=tid, cell=cell, persona=persona, model=model,
                                platform=platform, strategy="simple", index=0, seed=seed,
                                status=status, steps=len(decisions)))


def rows(s, estimand="session", reading="paired"):
    """The contrast rows of one estimand and reading (summary.json has one per comparison
    x estimand x reading)."""
    return [r for r in s["contrasts"] if r["estimand"] == estimand and r["reading"] == reading]


def spec(platforms=("tiktok", "random"), **kw) -> SweepSpec:
    fields = dict(name="s", personas=["pet_owner"], persona_dir=str(ROOT / "personas"),
                  models=["embed:minilm", "random:0.5", "always:no"],
                  platforms=list(platforms), scrolls=4, window=2)
    return SweepSpec(**{**fields, **kw})


def test_controls_are_non_learning_feeds_and_non_looking_viewers(tmp_path, rd):
    record_trial(rd, "a", "embed-minilm", "tiktok", [1, 0, 1, 1])
    record_trial(rd, "b", "embed-minilm", "random", [1, 0, 1, 1])
    record_trial(rd, "c", "random-0.5", "tiktok", [1, 0, 1, 1])
    record_trial(rd, "d", "always-no", "tiktok", [0, 0, 0, 0])
    record_trial(rd, "e", "embed-minilm", "tiktok-frozen", [1, 0, 1, 1])
    s = summarize(tmp_path, spec(("tiktok", "tiktok-frozen", "random")))
    groups = {(g["model"], g["platform"]): g for g in s["groups"]}
    assert groups[("embed-minilm", "tiktok")]["control"] is False
    assert groups[("embed-minilm", "random")]["control"] is True
    assert groups[("embed-minilm", "tiktok-frozen")]["control"] is True
    assert groups[("random-0.5", "tiktok")]["control"] is True
    assert groups[("always-no", "tiktok")]["control"] is True
    g = groups[("embed-minilm", "tiktok")]
    assert g["delta"]["value"] == 0.5  # first window 1/2, last 2/2
    assert g["i_avg"]["value"] == 100.0 and g["increase_pooled"]["value"] == 100.0
    assert groups[("always-no", "tiktok")]["i_avg"]["value"] is None  # excluded, not infinite
    assert groups[("always-no", "tiktok")]["delta"]["value"] == 0.0  # Δ needs no exclusion
    # the learning cell's controls: its frozen twin (matched) first, then the random feed
    assert [(c["treatment"], c["control"]) for c in rows(s)
            if c["treatment"].startswith("p|embed-minilm")] == \
        [("p|embed-minilm|tiktok|simple", "p|embed-minilm|tiktok-frozen|simple"),
         ("p|embed-minilm|tiktok|simple", "p|embed-minilm|random|simple")]


def test_cell_statistics_equal_a_hand_computation(tmp_path, rd):
    # 10 scrolls, windows of 5: steps 0-4 and 5-9
    trials = {"t1": [1, 0, 0, 0, 1, 1, 1, 1, 0, 1],    # F 2/5, L 4/5
              "t2": [1, 1, 0, 0, 0, 1, 1, 1, 1, 1],    # F 2/5, L 5/5
              "t3": [0, 1, None, 0, 1, 1, 0, 1, 1, 0]}  # F 2/4 (one invalid, 20 %), L 3/5
    for tid, d in trials.items():
        record_trial(rd, tid, "embed-minilm", "tiktok", d)
    s = summarize(tmp_path, spec(scrolls=10, window=5))
    c = s["cells"][0]
    f, la = [2 / 5, 2 / 5, 2 / 4], [4 / 5, 5 / 5, 3 / 5]
    assert c["yes_rate_first"]["value"] == pytest.approx(sum(f) / 3, abs=1e-6)
    assert c["delta"]["value"] == pytest.approx(sum(b - a for a, b in zip(f, la, strict=True)) / 3, abs=1e-6)
    assert c["increase_pooled"]["value"] == pytest.approx((sum(la) / sum(f) - 1) * 100, abs=1e-4)
    assert c["i_avg"]["value"] == pytest.approx(
        100 * sum((b - a) / a for a, b in zip(f, la, strict=True)) / 3, abs=1e-4)
    base = 6 / 14  # first-window yes over valid answers, pooled over trials
    assert c["base_rate"] == pytest.approx(base, abs=1e-6)
    assert c["i_avg_null"] == pytest.approx(null_i_avg(round(base, 4), 5), abs=1e-6)
    assert c["invalid_answers"] == 1 and c["excluded"] == []
    lo, hi = c["delta"]["ci"]
    assert lo <= c["delta"]["value"] <= hi
    assert c["trend"]["slope"] is not None and c["trend"]["reason"] is None


def test_a_trial_with_too_many_invalid_answers_is_excluded_with_its_reason(tmp_path, rd):
    record_trial(rd, "ok", "embed-minilm", "tiktok", [1, 0, 1, 1])
    record_trial(rd, "bad", "embed-minilm", "tiktok", [None, 0, 1, 1])  # half a window
    c = summarize(tmp_path, spec())["cells"][0]
    assert c["excluded"] == [{"trial_id": "bad", "reason": "1 of 2 answers invalid in the "
                                                           "first window"}]
    assert c["delta"]["value"] == 0.5 and c["trials"] == 2


def test_value_drift_counts_each_value_in_both_windows(tmp_path, rd):
    tags = [["benevolence"], [], ["power", "benevolence"], ["benevolence"]]
    record_trial(rd, "a", "embed-minilm", "tiktok", [1, 0, 1, 1], tags=tags)
    drift = summarize(tmp_path, spec())["cells"][0]["value_drift"]
    assert (drift["benevolence"]["first"], drift["benevolence"]["last"]) == (0.5, 1.0)
    assert drift["power"]["value"] == 0.5 and drift["hedonism"]["value"] == 0.0


def test_only_planned_trials_count_and_partial_steps_are_marked(tmp_path, rd):
    record_trial(rd, "a", "embed-minilm", "tiktok", [1, 0, 1, 1])
    record_trial(rd, "old", "embed-minilm", "tiktok", [0, 1, 1, 1])  # not in the plan now
    rd.stage_step(StepRecord(trial_id="b", cell="c", persona="p", model="embed-minilm",
                             platform="tiktok", strategy="simple", step=0, decision=1))
    rd.commit()  # "b" has a step on disk and no trial record
    g = summarize(tmp_path, spec(), trial_ids=["a", "b"])["groups"][0]
    assert g["trials"] == 1 and g["i_avg"]["value"] == 100.0
    rd.consolidate(["a", "b"])
    steps = read_table(tmp_path / "steps.parquet")
    assert {r["trial_id"] for r in steps} == {"a", "b"}
    assert {r["trial_id"]: r["trial_status"] for r in steps} == {"a": "done", "b": "unfinished"}


def test_named_contrasts_are_exploratory_unless_the_plan_names_them(tmp_path, rd):
    for i in range(6):
        record_trial(rd, f"a{i}", "embed-minilm", "tiktok", [0, 0, 1, 1], seed=i)
        record_trial(rd, f"b{i}", "random-0.5", "tiktok", [1, 1, 1, 1], seed=i)
        record_trial(rd, f"c{i}", "embed-minilm", "random", [1, 0, 1, 0], seed=i)
        record_trial(rd, f"d{i}", "random-0.5", "random", [0, 1, 1, 0], seed=i)
    named = [{"dimension": "model", "treatment": "embed-minilm", "control": "random-0.5"}]
    s = summarize(tmp_path, spec(contrasts=named))
    mine = [c for c in rows(s, "delta", "unpaired") if c["kind"] == "spec: model"]
    assert {(c["treatment"], c["control"]) for c in mine} == {
        ("p|embed-minilm|tiktok|simple", "p|random-0.5|tiktok|simple"),
        ("p|embed-minilm|random|simple", "p|random-0.5|random|simple")}
    tiktok = next(c for c in mine if "tiktok" in c["treatment"])
    assert tiktok["diff"] == 1.0 and tiktok["p_value"] < 0.01  # Δ 1 vs Δ 0, no overlap
    # no twin in this sweep: nothing is confirmatory, every p is unadjusted
    assert {c["family"] for c in s["contrasts"]} == {"exploratory"}
    assert all(c["p_adjusted"] is None for c in s["contrasts"])
    s = summarize(tmp_path, spec(contrasts=named, analysis={"confirmatory": "named"}))
    family = [c for c in s["contrasts"] if c["family"] == "confirmatory"]
    assert {(c["kind"], c["estimand"], c["reading"]) for c in family} == {
        ("spec: model", "session", "paired")}
    assert len(family) == 2 and s["contrasts"][:2] == family  # confirmatory rows lead
    from statsmodels.stats.multitest import multipletests

    assert [c["p_adjusted"] for c in family] == pytest.approx(
        list(multipletests([c["p_value"] for c in family], method="holm")[1]), abs=1e-6)


def test_holm_covers_the_twin_family_only_and_every_row_carries_its_reading(tmp_path, rd):
    for i in range(5):
        record_trial(rd, f"t{i}", "embed-minilm", "tiktok", [1, 1, 1, i % 2], seed=i)
        record_trial(rd, f"f{i}", "embed-minilm", "tiktok-frozen", [0, 1, 0, i % 2], seed=i)
        record_trial(rd, f"r{i}", "embed-minilm", "random", [0, 0, 1, 0], seed=i)
    s = summarize(tmp_path, spec(("tiktok", "tiktok-frozen", "random")))
    keys = {"kind", "treatment", "control", "estimand", "reading", "diff", "ci", "p_value",
            "p_adjusted", "min_p", "family"}
    assert all(keys <= set(r) for r in s["contrasts"])
    (lead,) = [r for r in s["contrasts"] if r["family"] == "confirmatory"]
    assert (lead["control"], lead["estimand"], lead["reading"]) == (
        "p|embed-minilm|tiktok-frozen|simple", "session", "paired")
    assert lead["p_adjusted"] == lead["p_value"]  # a family of one
    assert lead["diff"] == pytest.approx(0.5) and lead["pairs"] == 5 and lead["min_p"] == 0
    assert (lead["p_value"] < 0.05) == (lead["ci"][0] > 0)
    random = [r for r in s["contrasts"] if r["control"].endswith("random|simple")]
    assert random and all(r["family"] == "exploratory" and r["p_adjusted"] is None
                          for r in random)
    estimands = {r["estimand"] for r in s["contrasts"]}
    assert estimands == {"session", "exposure", "exposure_values", "last_window", "delta",
                         "i_avg"}
    assert s["analysis"]["estimand"] == "session" and s["analysis"]["declared"] is True
    # the curves: each comparison with a control feed, paired by seed
    (twin_curve, _) = s["curves"]
    assert twin_curve["paired"] and len(twin_curve["edges"]) == 5  # 4 scrolls: 4 bins


def test_another_reading_than_the_declared_plan_is_all_exploratory(tmp_path, rd):
    from valuespectrum.sweep.analysis import AnalysisPlan

    for i in range(4):
        record_trial(rd, f"t{i}", "embed-minilm", "tiktok", [1, 1, 1, 1], seed=i)
        record_trial(rd, f"f{i}", "embed-minilm", "tiktok-frozen", [0, 1, 0, 0], seed=i)
    s = summarize(tmp_path, spec(("tiktok", "tiktok-frozen")),
                  analysis=AnalysisPlan(estimand="delta"), window=1)
    assert s["analysis"]["declared"] is False
    assert s["analysis"]["departs"] == ["estimand delta instead of session",
                                        "window 1 instead of 2"]
    assert {r["family"] for r in s["contrasts"]} == {"exploratory"}
    assert s["contrasts"][0]["estimand"] == "delta"


def test_named_platforms_meet_the_control_feed_with_their_own_environment_options(
        tmp_path, rd):
    """Two observation modes as arms: each learning arm's control is the frozen twin that
    shows posts the same way, never the other mode's."""
    platforms = [
        {"style": "tiktok", "environment": "http", "name": "tiktok-shot"},
        {"style": "tiktok", "environment": "http", "name": "tiktok-text",
         "options": {"observation": "screenshot_text"}},
        {"style": "tiktok-frozen", "environment": "http", "name": "frozen-shot"},
        {"style": "tiktok-frozen", "environment": "http", "name": "frozen-text",
         "options": {"observation": "screenshot_text"}},
    ]
    for label in ("tiktok-shot", "tiktok-text", "frozen-shot", "frozen-text"):
        record_trial(rd, label, "embed-minilm", label, [0, 0, 1, 1])
    s = summarize(tmp_path, spec(platforms, contrasts=[
        {"dimension": "platform", "treatment": "tiktok-text", "control": "tiktok-shot"}]))
    cells = {c["platform"]: c for c in s["cells"]}
    assert {p: (c["style"], c["control"]) for p, c in cells.items()} == {
        "tiktok-shot": ("tiktok", False), "tiktok-text": ("tiktok", False),
        "frozen-shot": ("tiktok-frozen", True), "frozen-text": ("tiktok-frozen", True)}
    pairs = [(c["treatment_cell"]["platform"], c["control_cell"]["platform"])
             for c in rows(s)]
    assert pairs == [("tiktok-shot", "frozen-shot"), ("tiktok-text", "frozen-text"),
                     ("tiktok-text", "tiktok-shot")]  # the last: the spec's own contrast
    assert [c["kind"] for c in rows(s)] == ["control feed"] * 2 + ["spec: platform"]


def test_a_control_feed_shown_through_another_environment_is_no_matched_control(tmp_path, rd):
    record_trial(rd, "a", "embed-minilm", "tiktok", [0, 0, 1, 1])
    record_trial(rd, "b", "embed-minilm", "tiktok-frozen", [0, 0, 1, 1])
    s = summarize(tmp_path, spec([{"style": "tiktok", "environment": "http"},
                                  {"style": "tiktok-frozen", "environment": "playwright"}]))
    assert s["contrasts"] == []
    s = summarize(tmp_path, spec([{"style": "tiktok", "environment": "http"},
                                  {"style": "tiktok-frozen", "environment": "http"}]))
    assert [(c["treatment"], c["control"]) for c in rows(s)] == [
        ("p|embed-minilm|tiktok|simple", "p|embed-minilm|tiktok-frozen|simple")]


def test_contrasts_are_also_read_pair_by_pair_over_the_trials_that_share_a_seed(tmp_path, rd):
    # trial i's seed moves both feeds alike (its opening posts); tiktok's last answer is yes
    base = [[0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 1, 1], [0, 0, 1, 1]]  # Δ 0, .5, .5, 1
    for i, d in enumerate(base):
        record_trial(rd, f"t{i}", "embed-minilm", "tiktok", d[:3] + [1], seed=100 + i)
        record_trial(rd, f"f{i}", "embed-minilm", "tiktok-frozen", d, seed=100 + i)
    record_trial(rd, "f4", "embed-minilm", "tiktok-frozen", [1, 1, 1, 1], seed=104)  # no pair
    s = summarize(tmp_path, spec(("tiktok", "tiktok-frozen")))
    (unpaired,) = rows(s, "delta", "unpaired")
    (paired,) = rows(s, "delta", "paired")
    assert unpaired["n_treatment"] == 4 and unpaired["n_control"] == 5
    assert paired["pairs"] == 4 and paired["n_treatment"] == paired["n_control"] == 4
    assert paired["diff"] == pytest.approx(0.25)  # the pairs differ by .5, .5, 0, 0
    # the unpaired reading spends the seed's effect on its interval
    assert paired["ci"][1] - paired["ci"][0] < unpaired["ci"][1] - unpaired["ci"][0]
    (session,) = rows(s)  # the lead: session yes-rate, paired: +1/4 in pairs 0 and 1
    assert session["family"] == "confirmatory" and session["diff"] == pytest.approx(0.125)


def test_a_persona_contrast_compares_the_two_personas_and_is_not_paired(tmp_path, rd):
    for i in range(5):
        record_trial(rd, f"a{i}", "embed-minilm", "tiktok", [0, 0, 1, 1], persona="pet_owner",
                     seed=i)
        record_trial(rd, f"b{i}", "embed-minilm", "tiktok", [1, 1, 1, 1], persona="athlete",
                     seed=10 + i)
    s = summarize(tmp_path, spec(("tiktok",), personas=["pet_owner", "athlete"], contrasts=[
        {"dimension": "persona", "treatment": "pet_owner", "control": "athlete"}]))
    (row,) = rows(s, "delta", "unpaired")
    assert row["diff"] == 1.0 and row["p_value"] < 0.01 and row["personas"] == 1
    (paired,) = rows(s, "delta", "paired")  # no trial shares a seed
    assert paired["diff"] is None and paired["reason"] == "no trials of the two arms share a seed"


@pytest.mark.parametrize("treatment, control, label", [
    ("p|m|tiktok|simple", "p|m|tiktok-frozen|simple", ("tiktok − tiktok-frozen", "p, m, simple")),
    ("*|m|tiktok|isq", "*|m|random|isq", ("tiktok − random", "all personas, m, isq")),
    ("a|m|tiktok|simple", "b|m|tiktok|isq", ("a|simple − b|isq", "m, tiktok")),
])
def test_the_terminal_names_what_a_contrast_compares(treatment, control, label):
    from valuespectrum.report.terminal import contrast_label
    from valuespectrum.sweep.summary_model import ContrastRow

    def columns(key):
        return dict(zip(("persona", "model", "platform", "strategy"), key.split("|"),
                        strict=True))

    row = ContrastRow(kind="control feed", treatment=treatment, control=control,
                      treatment_cell=columns(treatment), control_cell=columns(control))
    assert contrast_label(row) == label

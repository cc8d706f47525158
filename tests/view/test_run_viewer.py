"""`vspec view` in real Chromium: runs, a cell's chart, a trial's filmstrip, keys, the export,
and a run in progress.

Set VSPEC_DOC_SCREENSHOTS=1 to save each page's screenshot into docs/images/.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from urllib.parse import quote

import pytest
from view_runs import ROOT, SCROLLS, TRIALS, VSPEC, doc_shot, start_viewer, stop

from valuespectrum.runs import RunDirectory, read_jsonl, read_table
from valuespectrum.sweep.results import SweepResults
from valuespectrum.types import StepRecord

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TREATMENT = "pet_owner|embed-minilm|tiktok|simple"
CONTROL = "pet_owner|embed-minilm|tiktok-frozen|simple"


def first_trial(run_dir, cell=TREATMENT) -> str:
    return sorted(t["trial_id"] for t in read_table(run_dir / "trials.parquet")
                  if t["cell"] == cell)[0]


def test_runs_page_lists_the_finished_runs(viewer, view_runs, page):
    page.goto(viewer)
    sweep = page.locator('section.run-card[data-run="pet-owner-drift"]')
    assert "finished" in sweep.locator("dl").inner_text()
    assert "8 done of 8 planned" in sweep.inner_text()
    summary = json.loads((view_runs["sweep"] / "summary.json").read_text())
    # the headline rows are the summary's cells, each with its Δ and interval
    rows = sweep.locator("table").first.locator("tbody tr")
    assert rows.count() == len(summary["cells"])
    for cell in summary["cells"]:
        delta = f"{cell['delta']['value']:+.3f}"
        assert delta in sweep.inner_text(), (cell["cell"], delta)
    bench = page.locator('section.run-card[data-run="spectrum-controls"]')
    assert "Value-Spectrum benchmark" in bench.inner_text() and "yes-man" in bench.inner_text()
    doc_shot(page, "runs")


def test_cell_page_shows_the_statistics_and_the_chart(viewer, view_runs, page):
    page.goto(viewer)
    page.get_by_role("link", name="pet-owner-drift").first.click()
    assert page.locator("body").get_attribute("data-page") == "run"
    doc_shot(page, "run")
    page.get_by_role("link", name=TREATMENT, exact=True).click()
    assert page.locator("body").get_attribute("data-page") == "cell"
    stats = page.locator("dl.facts").nth(1).inner_text()
    assert "Δ yes-rate" in stats and "null" in stats and "trend" in stats
    charts = page.locator("svg.chart")
    assert charts.count() == 2  # yes-rate and persona-value share
    yes_rate = charts.first
    assert yes_rate.locator("path.trial").count() == TRIALS  # one faint line per trial
    assert yes_rate.locator("path.mean").count() == 1
    assert yes_rate.locator("polygon.band").count() == 1
    # the mean line spans every scroll of the trials
    d = yes_rate.locator("path.mean").get_attribute("d")
    assert len(re.findall(r"[ML]", d)) == SCROLLS
    assert page.locator("table").last.locator("tbody tr").count() == TRIALS
    doc_shot(page, "cell")


def test_filmstrip_shows_each_step_with_its_recorded_decision(viewer, view_runs, page):
    tid = first_trial(view_runs["sweep"])
    page.goto(f"{viewer}run/pet-owner-drift/trial/{quote(tid)}")
    steps = page.locator(".filmstrip .step")
    assert steps.count() == SCROLLS
    recorded = {r["step"]: r for r in read_table(view_runs["sweep"] / "steps.parquet")
                if r["trial_id"] == tid}
    for i in range(SCROLLS):
        card = steps.nth(i)
        want = {1: "stay", 0: "skip", None: "invalid"}[recorded[i]["decision"]]
        assert card.get_attribute("data-decision") == want
        assert card.locator(".badge").inner_text() == want
        img = card.locator("img")
        assert img.get_attribute("src").endswith(recorded[i]["screenshot_path"])
    # every screenshot was served as a file and decoded by the browser
    page.wait_for_function("() => [...document.querySelectorAll('.step img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    doc_shot(page, "filmstrip")


def test_keyboard_moves_between_steps_and_opens_one(viewer, view_runs, page):
    tid = first_trial(view_runs["sweep"])
    page.goto(f"{viewer}run/pet-owner-drift/trial/{quote(tid)}")
    selected = page.locator(".step.selected")
    assert selected.get_attribute("data-step") == "0"
    page.keyboard.press("ArrowRight")
    assert selected.get_attribute("data-step") == "1"
    assert page.evaluate("location.hash") == "#s-1"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowRight")
    assert selected.get_attribute("data-step") == "2"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/step/2$"))
    row = next(r for r in read_table(view_runs["sweep"] / "steps.parquet")
               if r["trial_id"] == tid and r["step"] == 2)
    detail = page.locator("main").inner_text()
    reply = next(iter(json.loads(row["answers"]).values()))
    assert reply in detail  # the recorded reply
    assert "I volunteer at the local animal shelter" in detail  # the persona prompt
    assert "Determine whether you are interested" in detail  # the simple strategy's question
    assert "digest matches" in detail
    doc_shot(page, "step")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(r"/step/3$"))
    page.keyboard.press("Escape")
    page.wait_for_url(re.compile(r"/trial/[^/]+#s-3$"))
    assert page.locator(".step.selected").get_attribute("data-step") == "3"


def test_two_cells_side_by_side(viewer, page):
    page.goto(f"{viewer}run/pet-owner-drift/cell?id={quote(TREATMENT)}")
    page.locator("table").filter(has_text="treatment − control").get_by_role(
        "link", name="side by side").first.click()
    assert page.locator("body").get_attribute("data-page") == "compare"
    heads = page.locator("table.side-by-side thead th").all_inner_texts()
    assert TREATMENT in heads[1] and CONTROL in heads[2]
    text = page.locator("main").inner_text()
    assert "Planned comparison (control feed, confirmatory): session, paired" in text
    assert "yes-rate per scroll bin" in text  # the curves with their simultaneous bands
    assert page.locator("svg.chart").first.locator("path.mean").count() == 2
    doc_shot(page, "compare")


def test_benchmark_run_shows_table1_figures_and_each_answer(viewer, view_runs, page):
    page.goto(f"{viewer}run/spectrum-controls")
    table1 = page.locator("table.table1").first
    assert table1.locator("tbody tr").count() == 10  # the ten Schwartz values
    yes_man = table1.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert yes_man == ["100 ± 0"] * 10  # always:yes says yes to every image
    page.wait_for_function("() => [...document.querySelectorAll('img.figure')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("img.figure").count() >= 3
    doc_shot(page, "benchmark")
    page.get_by_role("link", name="Benevolence").first.click()
    cards = page.locator(".retrieved")
    assert cards.count() >= 10
    first = cards.first
    assert first.locator(".verdicts li").count() == 3  # every arm's answer
    yes_man = first.locator(".verdicts li").filter(
        has=page.get_by_role("link", name="yes-man", exact=True))
    assert yes_man.locator(".badge").inner_text() == "yes"
    doc_shot(page, "value")


def test_static_export_opens_from_disk_with_no_server(view_runs, browser, tmp_path):
    out = tmp_path / "site"
    done = subprocess.run([*VSPEC, "view", str(view_runs["sweep"]), str(view_runs["spectrum"]),
                           "--export", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    context = browser.new_context()
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto((out / "index.html").as_uri())
        page.get_by_role("link", name="pet-owner-drift").first.click()
        page.get_by_role("link", name=TREATMENT, exact=True).click()
        assert page.locator("svg.chart").count() == 2
        page.locator("table").last.get_by_role("link").first.click()
        assert page.locator(".filmstrip .step").count() == SCROLLS
        page.wait_for_function("() => [...document.querySelectorAll('.step img')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"step-.*-1\.html$"))
        assert "Determine whether you are interested" in page.locator("main").inner_text()
    finally:
        context.close()
    assert requests and all(u.startswith("file://") for u in requests), requests


def test_a_run_in_progress_reloads_as_its_journal_grows(sweep_dir, page, tmp_path):
    src = sweep_dir
    tid = first_trial(src)
    rows = sorted(read_jsonl(src / "journal" / f"{tid}.jsonl"), key=lambda r: r["step"])
    live = tmp_path / "live-run"
    run = RunDirectory(live, "sweep")
    run.acquire()  # this test is the run's writer, as the sweep driver would be
    try:
        for name in ("spec.yaml", "plan.json", "versions.json"):
            shutil.copy(src / name, live / name)
        results = SweepResults(run)

        def record(steps: range) -> None:
            for s in steps:
                results.stage_step(StepRecord.model_validate(rows[s]),
                                   (src / rows[s]["screenshot_path"]).read_bytes())
            results.commit()

        record(range(0, 3))
        proc, url = start_viewer([live])
        try:
            page.goto(f"{url}run/live-run/trial/{quote(tid)}")
            assert page.locator(".filmstrip .step").count() == 3
            assert "reloads as they grow" in page.locator(".live-note").inner_text()
            page.keyboard.press("ArrowRight")
            record(range(3, 6))
            page.wait_for_function("() => document.querySelectorAll('.filmstrip .step')"
                                   ".length === 6")
            assert page.locator(".step.selected").get_attribute("data-step") == "1"
            page.goto(url)
            assert "running" in page.locator('section.run-card[data-run="live-run"]').inner_text()
        finally:
            stop(proc)
    finally:
        run.release()

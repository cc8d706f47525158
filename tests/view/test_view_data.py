"""What the viewer reads and shows, without a browser: prompts rebuilt exactly, live journals,
refusals with a message, no file outside a run served, nothing written into a run."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
from starlette.testclient import TestClient
from view_runs import ROOT, synthetic_sweep

from valuespectrum.models import ScriptedBackend
from valuespectrum.personas import PersonaLibrary
from valuespectrum.runs import fingerprint
from valuespectrum.strategies import load_prompts, make_strategy
from valuespectrum.types import Observation, VisibleText
from valuespectrum.values import load_values
from valuespectrum.view import ViewError, open_runs
from valuespectrum.view.app import create_app
from valuespectrum.view.export import export_site
from valuespectrum.view.replay import Replayer
from valuespectrum.view.sweep_source import SweepSource

PROMPTS = load_prompts()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return synthetic_sweep(tmp_path_factory.mktemp("view-data") / "tiny")


def sweep_replayer(root, spec, context):
    """The replayer of a sweep at `root` whose spec.yaml says `spec`, plan.json `context`."""
    return Replayer(spec, context, SweepSource(root, "run", spec).replay_context)


def transcript(messages, reply):
    return [(m.role, m.text_content(), bool(m.images())) for m in messages] + [
        ("assistant", reply, False)]


CASES = {  # strategy, its options, scripted replies (an unreadable one makes it re-ask)
    "simple": ("simple", {}, ["Maybe.", "Yes, cute."]),
    "isq-json": ("isq", {"mode": "json"}, ['{"visual_appeal": 8, "curiosity": 7, '
                                           '"emotional_engagement": 6, "value_expectation": 7, '
                                           '"preference_alignment": "yes", "action_desire": "no"}']),
    "isq-turns": ("isq", {"mode": "turns"}, ["eight", "8", "7", "6", "5", "Yes", "No"]),
    "plain-followups": ("plain", {"followups": True}, ["Yes.", "The puppy.", "A puppy."]),
    "caption_llm": ("caption_llm", {}, ["A puppy in the snow.", "Yes."]),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_rebuilt_prompt_is_what_the_strategy_sent(case, tmp_path):
    name, options, replies = CASES[case]
    persona = PersonaLibrary(ROOT / "personas").get("pet_owner")
    sent = ScriptedBackend(replies)
    obs = Observation(screenshot_png=b"\x89PNG", item_id="oc-1",
                      text=VisibleText(caption="Puppy in the snow"))
    decision = await make_strategy(name, **options).decide(obs, persona, sent)
    row = {"strategy": name, "persona": "pet_owner", "answers": json.dumps(decision.answers),
           "prompt_version": decision.prompt_version, "isq_format": options.get("mode")}
    spec = {"personas": [persona.model_dump(mode="json")],
            "strategy_options": {"followups": options.get("followups", False),
                                 "isq_format": options.get("mode", "json")}}
    context = {"prompts": {"version": PROMPTS["version"], "digest": fingerprint(PROMPTS)}}
    replay = await sweep_replayer(tmp_path, spec, context).replay(row)
    assert replay.error is None and [lvl for lvl, _ in replay.notes] == ["ok"]
    got = [[(t.role, t.text, t.image) for t in chat] for chat in replay.conversations]
    if name == "caption_llm":  # the captioner's chat, then the decider's
        expected = [transcript(sent.requests[0][0], replies[0]),
                    transcript(sent.requests[-1][0], replies[-1])]
    else:  # one chat: the last request holds every earlier turn
        expected = [transcript(sent.requests[-1][0], replies[len(sent.requests) - 1])]
    assert got == expected


async def test_a_changed_prompt_file_is_flagged(tmp_path):
    path = tmp_path / "prompts.yaml"
    shutil.copy(ROOT / "valuespectrum" / "data" / "prompts.yaml", path)
    ran = load_prompts(path)
    text = path.read_text().replace("Determine whether", "Decide whether")
    path.write_text(text)
    persona = PersonaLibrary(ROOT / "personas").get("pet_owner")
    spec = {"prompts": str(path), "personas": [persona.model_dump(mode="json")]}
    context = {"prompts": {"version": ran["version"], "digest": fingerprint(ran)}}
    replay = await sweep_replayer(tmp_path, spec, context).replay(
        {"strategy": "simple", "persona": "pet_owner", "answers": '{"interested": "Yes."}'})
    assert replay.notes[0][0] == "warn" and "changed since the run" in replay.notes[0][1]
    assert "Decide whether" in replay.conversations[0][1].text  # shown, with the warning


def test_paths_that_are_not_runs_are_refused_by_name(tmp_path):
    with pytest.raises(ViewError, match="no such directory"):
        open_runs([tmp_path / "missing"])
    with pytest.raises(ViewError, match="not a run directory"):
        open_runs([tmp_path])
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "spec.yaml").write_text("kind: poll\n")
    with pytest.raises(ViewError, match="kind: 'poll' is not a spec kind"):
        open_runs([tmp_path / "odd"])
    from vspec_helpers import run_vspec

    done = run_vspec(["view", str(tmp_path / "missing")], tmp_path, timeout=120)
    assert done.returncode == 2 and "no such directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_journals_newer_than_the_tables_are_read_live(run_dir, tmp_path):
    copy = tmp_path / "tiny-live"
    shutil.copytree(run_dir, copy)
    src = open_runs([copy])["tiny-live"]
    assert not src.live() and src.status() == "finished"
    tid = sorted(src.trial_records())[0]
    journal = copy / "journal" / f"{tid}.jsonl"
    last = json.loads(journal.read_text().splitlines()[-1])
    with journal.open("a") as f:  # a new step, then a torn line (a crash mid-write)
        f.write(json.dumps({**last, "step": last["step"] + 1, "decision": None}) + "\n")
        f.write('{"trial_id": "' + tid + '", "st')
    deadline = time.monotonic() + 10  # the source looks at the files at most twice a second
    while not src.live():
        assert time.monotonic() < deadline, "the newer journal was not noticed"
        time.sleep(0.05)
    steps = src.trial_steps(tid, 0, 100)
    assert [r["step"] for r in steps] == list(range(last["step"] + 2))
    cell = next(c for c in src.cell_rows() if c["cell"] == last["cell"])
    assert cell["invalid"] == 1 and cell["steps"] == 2 * (last["step"] + 1) + 1


def tree(root):
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_page_renders_and_nothing_is_written_into_the_run(run_dir, tmp_path):
    before = tree(run_dir)
    client = TestClient(create_app(open_runs([run_dir])))
    seen, todo = set(), ["/"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        seen.add(url)
        r = client.get(url)
        assert r.status_code == 200, url
        if r.headers["content-type"].startswith("text/html"):
            todo += [h.replace("&amp;", "&").split("#")[0]
                     for h in re.findall(r'(?:href|src)="(/[^"]*)"', r.text)]
    steps = sum(1 for u in seen if "/step/" in u)
    assert steps == 4 * 6  # every step of every trial is reachable
    assert sum(1 for u in seen if "/files/screens/" in u) == 4 * 6
    done = export_site(open_runs([run_dir]), tmp_path / "site")
    assert done["pages"] > steps and (tmp_path / "site" / "index.html").exists()
    with pytest.raises(ViewError, match="inside the run directory"):
        export_site(open_runs([run_dir]), run_dir / "site")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(ViewError, match="not empty"):
        export_site(open_runs([run_dir]), tmp_path / "notes")
    assert tree(run_dir) == before


def test_a_filmstrip_says_which_stays_were_on_posts_relevant_to_the_persona(run_dir):
    client = TestClient(create_app(open_runs([run_dir])))
    seen, todo, trial = set(), ["/"], None
    while todo and trial is None:  # follow links until a trial's filmstrip
        url = todo.pop(0)
        if url in seen:
            continue
        seen.add(url)
        r = client.get(url)
        if "/trial/" in url and "/step/" not in url:
            trial = url
            break
        todo += [h.replace("&amp;", "&").split("#")[0]
                 for h in re.findall(r'href="(/[^"]*)"', r.text)]
    strip = client.get(trial).text
    assert strip.count("· relevant<") == 3 and strip.count("· not relevant<") == 3
    step = client.get(trial.split("?")[0] + "/step/0").text
    assert re.search(r"<dt>relevant</dt>\s*<dd>\s*(true|yes)", step, re.IGNORECASE), step


def test_a_cell_against_itself_differs_by_zero_in_an_ad_hoc_contrast(run_dir):
    from urllib.parse import quote

    client = TestClient(create_app(open_runs([run_dir])))
    cell = quote("tiny:cell:pet_owner|random-0.5|tiktok|simple")
    text = client.get(f"/compare?a={cell}&b={cell}").text
    assert "Ad hoc contrast (exploratory" in text and "left − right: +0.000 [" in text
    assert "p 1.000" in text and "yes-rate per scroll bin" in text
    assert client.get("/compare?a=tiny:cell:x&b=tiny:trial:y").status_code == 400


def test_the_run_page_leads_with_the_declared_contrast_and_draws_its_curves(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    (lead,) = [c for c in summary["contrasts"] if c["family"] == "confirmatory"]
    assert (lead["estimand"], lead["reading"], lead["pairs"]) == ("session", "paired", 2)
    text = TestClient(create_app(open_runs([run_dir]))).get("/run/tiny").text
    assert "declared plan: session yes-rate, paired by seed" in text
    assert f"{lead['diff']:+.3f} [{lead['ci'][0]:+.3f}, {lead['ci'][1]:+.3f}]" in text
    assert "Yes-rate over the session" in text and "simultaneous 95 %" in text


def test_only_the_runs_images_are_served(run_dir):
    client = TestClient(create_app(open_runs([run_dir])))
    for url in ("/run/tiny/files/spec.yaml", "/run/tiny/files/../tiny/spec.yaml",
                "/run/tiny/files/%2e%2e/%2e%2e/etc/passwd", "/run/tiny/files/summary.json",
                "/run/other/files/screens/x.jpg"):
        assert client.get(url).status_code == 404, url
    shot = next((run_dir / "screens").rglob("*.jpg")).relative_to(run_dir)
    r = client.get(f"/run/tiny/files/{shot}")
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


def test_the_journal_index_reads_what_was_appended_and_rereads_a_restarted_trial(tmp_path):
    import duckdb

    from valuespectrum.runs import Journal
    from valuespectrum.types import StepRecord
    from valuespectrum.view.journal_index import TABLE, JournalIndex

    def rows(n, decision):
        return [StepRecord(trial_id="t", cell="p|m|f|s", persona="p", model="m", platform="f",
                           strategy="s", step=s, decision=decision).model_dump(mode="json")
                for s in range(n)]

    db = duckdb.connect()
    index = JournalIndex(db)
    journal = Journal(tmp_path / "t.jsonl")
    journal.append(*rows(2, 1))
    assert index.refresh([journal.path]) == 2
    more = rows(4, 1)[2:]
    journal.append(more[0])
    with journal.path.open("a") as f:  # the next line is being written
        f.write(json.dumps(more[1])[:20])
    assert index.refresh([journal.path]) == 1
    assert index.refresh([journal.path]) == 0  # the torn line waits for its end
    journal.reset()  # the trial restarts from scratch
    journal.append(*rows(1, 0))
    assert index.refresh([journal.path]) == 1
    assert db.execute(f"SELECT count(*), sum(decision) FROM {TABLE}").fetchall() == [(1, 0)]
    journal.reset()
    assert index.refresh([]) == 0
    assert db.execute(f"SELECT count(*) FROM {TABLE}").fetchall() == [(0,)]


def test_a_benchmark_run_in_progress_scores_table1_from_its_journals(spectrum_dir, tmp_path):
    copy = tmp_path / "bench-live"
    shutil.copytree(spectrum_dir, copy)
    (copy / "results.parquet").unlink()  # the run has not consolidated yet
    (copy / "summary.json").unlink()
    finished = open_runs([spectrum_dir])["spectrum-controls"]
    live = open_runs([copy])["bench-live"]
    assert live.live() and not finished.live()
    assert live.scores() == finished.scores()
    text = TestClient(create_app({"bench-live": live})).get("/run/bench-live").text
    assert "Read from the journals" in text and "100 ± 0" in text  # always:yes


async def test_each_benchmark_answer_replays_with_its_arms_strategy(spectrum_dir):
    src = open_runs([spectrum_dir])["spectrum-controls"]
    replayer = src.replayer()
    rows = src.answers()
    asked: dict[str, str] = {}
    for row in rows:
        replay = await replayer.replay(row)
        assert replay.error is None and [lvl for lvl, _ in replay.notes] == ["ok"], replay
        chats = replay.conversations
        assert all(t.role != "user" or t.asked_as for chat in chats for t in chat)
        if row["strategy"] == "plain":  # no persona, no follow-ups (the spec says none)
            assert [t.role for t in chats[0]] == ["system", "user", "assistant"]
        else:  # the captioner's chat, then the LLM asked the plain arm's question
            assert len(chats) == 2 and chats[0][-1].text in chats[1][-2].text
        asked.setdefault(row["strategy"], chats[-1][-2].text.splitlines()[-1])
    assert set(asked) == {"plain", "caption_llm"} and asked["plain"] == asked["caption_llm"]
    assert len(rows) == 3 * 2 * len(load_values().pairs())  # 3 arms, top 2 of each keyword

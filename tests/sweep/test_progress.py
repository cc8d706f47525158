from types import SimpleNamespace

from rich.console import Console

from valuespectrum.sweep.progress import SweepProgress
from valuespectrum.sweep.results import TrialRecord
from valuespectrum.types import StepRecord


def trial(tid: str, platform: str = "tiktok"):
    return SimpleNamespace(trial_id=tid, strategy="simple", model=SimpleNamespace(label="m"),
                           platform=SimpleNamespace(label=platform))


def feed(progress: SweepProgress, t, decisions, status="done", error=None):
    progress.trial_started(t)
    for i, d in enumerate(decisions):
        progress.step(t, StepRecord(trial_id=t.trial_id, cell="c", persona="p", model="m",
                                    platform=t.platform.label, strategy="simple", step=i,
                                    decision=d, cost_usd=0.01))
    progress.trial_finished(t, TrialRecord(
        trial_id=t.trial_id, cell="c", persona="p", model="m", platform=t.platform.label,
        strategy="simple", index=0, seed=0, status=status, steps=len(decisions), error=error))


def test_plain_mode_prints_one_line_per_trial_and_the_live_table_shows_running_delta():
    console = Console(record=True, width=200, force_terminal=False)
    p = SweepProgress(console, window=2, live=False)
    trials = [trial("a"), trial("b"), trial("c", "random")]
    p.start(trials, done=set())
    feed(p, trials[0], [1, 0, 1, 1])          # first 0.5, last 1.0: Δ +0.5
    feed(p, trials[1], [1, 1, 1, 1])          # Δ 0
    feed(p, trials[2], [0, 1], status="failed", error="browser crashed")
    out = console.export_text()
    assert "running 3 trials" in out
    assert "[1/3] a: done, 4 steps, yes-rate 0.75" in out
    assert "c: failed, 2 steps, yes-rate 0.50 (browser crashed)" in out

    table = Console(record=True, width=200)
    table.print(p.table())
    text = table.export_text()
    row = next(line for line in text.splitlines() if "tiktok" in line)
    assert "2/2" in row and "+0.250" in row and "0.0800" in row  # mean Δ of +0.5 and 0
    row = next(line for line in text.splitlines() if "random" in line)
    assert "0/1" in row and " 1 " in row  # one error


def test_resume_is_announced_and_counted():
    console = Console(record=True, width=200, force_terminal=False)
    p = SweepProgress(console, window=2, live=False)
    p.start([trial("a"), trial("b")], done={"a"})
    assert "resuming: 1 of 2 trials already done" in console.export_text()
    assert p.trials_done == 1


def test_a_repaired_run_dir_and_ctrl_c_are_announced_in_both_modes():
    for live in (False, True):
        console = Console(record=True, width=200, force_terminal=live)
        p = SweepProgress(console, window=2, live=live)
        p.start([trial("a"), trial("b")], done={"a"})
        p.repaired({"b": 37, "_trials": 12}, ["steps.parquet"])
        p.interrupting()
        p.finish()
        out = " ".join(console.export_text().split())
        assert ("repaired: cut a torn last line from 2 journal(s): _trials (12 bytes), "
                "b (37 bytes)") in out, live
        assert "repaired: steps.parquet was unreadable (truncated?); it is rebuilt" in out
        assert "Ctrl-C: finishing the steps in flight" in out


BROWSER_DIED = (
    "browser died: Page.evaluate: Target page, context or browser has been closed\n"
    "Browser logs:\n\n"
    "<launching> /usr/bin/chromium --headless --no-sandbox [/tmp/profile]\n"
    "[pid=6284][err] [6284:6317:1206/204746.294651:ERROR:dbus/bus.cc:405] Failed to connect\n")


def test_a_multi_line_error_is_one_terminal_line_in_both_modes():
    """A dead browser's error carries Playwright's browser log: the terminal shows its first
    line (and where the rest is), never the log itself or a rich markup error."""
    for live in (False, True):
        console = Console(record=True, width=400, force_terminal=live)
        p = SweepProgress(console, window=2, live=live)
        t = trial("a")
        p.start([t], done=set())
        p.trial_started(t)
        p.restart(t, BROWSER_DIED)
        p.restart(t, "x" * 1000)
        feed(p, t, [1], status="failed", error="environment crashed 3 times; last: "
             + BROWSER_DIED)
        p.finish()
        lines = console.export_text().splitlines()
        # (a live view's redraws may share a line with what is printed above it)
        restarts = [line[line.index("restart a: "):] for line in lines if "restart a: " in line]
        assert restarts == [
            "restart a: browser died: Page.evaluate: Target page, context or browser has been "
            "closed (+3 lines in logs/output.log)",
            "restart a: " + "x" * 299 + "…"], live
        ended = [line for line in lines if "environment crashed 3 times" in line]
        assert len(ended) == 1 and ended[0].endswith(
            "browser has been closed (+3 lines in trials.parquet)" + ("" if live else ")")), live
        assert not any("pid=6284" in line or "<launching>" in line for line in lines), live

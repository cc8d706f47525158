"""Live progress of a sweep: a rich view on a terminal, plain lines in CI logs."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from valuespectrum.metrics import trial_windows

#: Longest error line the terminal shows; the full text is in the run's log or trials table.
ERROR_CHARS = 300


def error_line(error: str | None, rest_in: str) -> str:
    """An error as one terminal line: its first non-empty line, trimmed, at most
    `ERROR_CHARS` long, with rich markup escaped (a browser's log says ``[pid=...]``).

    A crashed browser's error carries Playwright's multi-line browser log: the terminal
    gets its first line and a note that the other lines are in `rest_in`, where the full
    text is (``logs/output.log`` for a restart, which the actor logs; ``trials.parquet`` for a
    trial's final error).
    """
    lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0]
    if len(first) > ERROR_CHARS:
        first = first[:ERROR_CHARS - 1] + "…"
    if len(lines) > 1:
        first += f" (+{len(lines) - 1} lines in {rest_in})"
    return escape(first)


@dataclass
class GroupState:
    """Running counters of one model x platform x strategy row."""

    total: int = 0
    done: int = 0
    steps: int = 0
    errors: int = 0
    cost: float = 0.0
    first_ts: float | None = None
    last_ts: float | None = None
    finished: list[list[int | None]] = field(default_factory=list)


class SweepProgress:
    """Receives runner events and renders them.

    On a terminal: an overall bar with ETA and a row per model x platform x strategy (trials
    done, steps/s, yes-rate in the first/last window, running Δ, errors, cost). Otherwise
    one line per finished trial and a status line every `plain_every_s` seconds.
    """

    def __init__(self, console: Console | None = None, *, window: int = 50,
                 live: bool | None = None, plain_every_s: float = 10.0) -> None:
        self.console = console or Console()
        self.window = window
        self.live_mode = self.console.is_terminal if live is None else live
        self.plain_every_s = plain_every_s
        self.groups: dict[tuple[str, str, str], GroupState] = defaultdict(GroupState)
        self.running: dict[str, list[int | None]] = {}
        self.total_steps = 0
        self.trials_total = 0
        self.trials_done = 0
        self._last_plain = 0.0
        self._t0 = time.time()
        self._progress = Progress(
            TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
        )
        self._task = None
        self._live: Live | None = None

    @staticmethod
    def _key(trial: Any) -> tuple[str, str, str]:
        return (trial.model.label, trial.platform.label, trial.strategy)

    # ------------------------------------------------------------------ events
    def start(self, trials: list[Any], done: set[str]) -> None:
        self.trials_total = len(trials)
        for t in trials:
            g = self.groups[self._key(t)]
            g.total += 1
            if t.trial_id in done:
                g.done += 1
        self.trials_done = len(done)
        self._task = self._progress.add_task("trials", total=len(trials), completed=len(done))
        if done:
            self.console.print(f"resuming: {len(done)} of {len(trials)} trials already done")
        if self.live_mode:
            # sys.stdout / sys.stderr stay as they are: what others print goes to the run's
            # log (console.output_to_log), not through the live view
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
        else:
            self.console.print(f"running {len(trials) - len(done)} trials")

    def repaired(self, cut: dict[str, int], damaged: list[str] | tuple[str, ...] = ()) -> None:
        """Resume found damage from a crash (power loss) and repaired it; say so plainly."""
        if cut:
            which = ", ".join(f"{name} ({n} bytes)" for name, n in sorted(cut.items()))
            self._print(f"repaired: cut a torn last line from {len(cut)} journal(s): {which}; "
                        "the trials they belong to are redone")
        for name in damaged:
            self._print(f"repaired: {name} was unreadable (truncated?); it is rebuilt from "
                        "the journals at the end of this run")

    def interrupting(self) -> None:
        self._print("Ctrl-C: finishing the steps in flight, then writing the summary "
                    "(press Ctrl-C again to stop at once; rerun the command to resume)")

    def note(self, message: str) -> None:
        """One plain line of the run's own (e.g. the default corpus built on first use)."""
        # as written: it names paths, which must stay whole to be copied
        (self._live.console if self._live else self.console).print(
            message, markup=False, highlight=False, soft_wrap=True)

    def warning(self, message: str) -> None:
        self._print(f"warning: {message}")

    def budget_carried(self, spent: float) -> None:
        self._print(f"budget: ${spent:.4f} already spent by earlier runs counts toward the cap")

    def trial_started(self, trial: Any) -> None:
        self.running[trial.trial_id] = []
        g = self.groups[self._key(trial)]
        if g.first_ts is None:
            g.first_ts = time.time()

    def step(self, trial: Any, event: Any) -> None:
        """A step journaled (`event`: the actor's `StepEvent`; its `record` parses the line)."""
        self.running.setdefault(trial.trial_id, []).append(event.decision)
        g = self.groups[self._key(trial)]
        g.steps += 1
        g.last_ts = time.time()
        g.cost += event.cost_usd or 0.0
        self.total_steps += 1
        self._maybe_plain()

    def restart(self, trial: Any, error: str) -> None:
        self.running[trial.trial_id] = []
        self.groups[self._key(trial)].errors += 1
        # the actor logs the full text (ViewerHost.run_trial), the terminal gets one line
        self._print(f"[yellow]restart[/] {trial.trial_id}: {error_line(error, 'logs/output.log')}")

    def trial_finished(self, trial: Any, record: Any) -> None:
        g = self.groups[self._key(trial)]
        decisions = self.running.pop(trial.trial_id, [])
        if record.status == "done":
            g.done += 1
            g.finished.append(decisions)
            self.trials_done += 1
            if self._task is not None:
                self._progress.update(self._task, completed=self.trials_done)
        else:
            g.errors += 1
        if not self.live_mode:
            yes = [d for d in decisions if d is not None]
            rate = f"{np.mean(yes):.2f}" if yes else "-"
            err = f" ({error_line(record.error, 'trials.parquet')})" if record.error else ""
            self.console.print(
                f"[{self.trials_done}/{self.trials_total}] {trial.trial_id}: {record.status}, "
                f"{record.steps} steps, yes-rate {rate}{err}", highlight=False,
            )
        elif record.status != "done":
            error = error_line(record.error, "trials.parquet")
            self._print(f"[red]{record.status}[/] {trial.trial_id}: {error}")

    def finish(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # ------------------------------------------------------------------ rendering
    def _print(self, msg: str) -> None:
        (self._live.console if self._live else self.console).print(msg, highlight=False)

    def _maybe_plain(self) -> None:
        if self.live_mode:
            return
        now = time.time()
        if now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            rate = self.total_steps / max(now - self._t0, 1e-9)
            self.console.print(
                f"progress: {self.trials_done}/{self.trials_total} trials, "
                f"{self.total_steps} steps, {rate:.1f} steps/s", highlight=False,
            )

    def table(self) -> Table:
        t = Table(title="running", expand=False)
        for col in ("model", "platform", "strategy", "trials", "steps/s", "yes first", "yes last",
                    "Δ", "errors", "cost $"):
            t.add_column(col, justify="right" if col not in ("model", "platform", "strategy") else "left")
        now = time.time()
        for (model, platform, strategy), g in sorted(self.groups.items()):
            windows = [w for w in (trial_windows(d, self.window) for d in g.finished) if w.usable]
            firsts = [w.first for w in windows]
            lasts = [w.last for w in windows]
            # a finished row keeps the rate it ran at
            end = now if g.done < g.total else (g.last_ts or now)
            sps = g.steps / max(end - g.first_ts, 1e-9) if g.first_ts else 0.0
            t.add_row(
                model, platform, strategy, f"{g.done}/{g.total}", f"{sps:.1f}",
                f"{np.mean(firsts):.2f}" if firsts else "-",
                f"{np.mean(lasts):.2f}" if lasts else "-",
                f"{np.mean(lasts) - np.mean(firsts):+.3f}" if firsts else "-",
                str(g.errors), f"{g.cost:.4f}",
            )
        return t

    def __rich__(self) -> Group:
        return Group(self._progress, self.table())

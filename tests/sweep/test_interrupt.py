"""The two-step Ctrl-C handler: the second press stops the event loop at a safe point."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from valuespectrum.sweep.interrupt import GracefulInterrupt


def test_a_second_ctrl_c_in_a_loop_stops_it_at_its_next_step_not_in_a_callback():
    """A KeyboardInterrupt raised inside a weakref callback is printed and swallowed by
    Python; the handler defers it to the loop, so it always ends `asyncio.run`.

    Afterwards SIGINT has the handler it had before, which is not always Python's
    `default_int_handler`: a process started with `&` from a non-interactive shell
    (`nohup make test &`) starts with SIGINT ignored (see the test below)."""
    before = signal.getsignal(signal.SIGINT)
    firsts = []
    finished = []

    class Thing:
        pass

    async def main() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the first press: a clean stop is asked
        await asyncio.sleep(0)
        assert interrupt.requested and not interrupt.hard
        # the second press arrives while a weakref callback runs
        ref = weakref.ref(Thing(), lambda _: os.kill(os.getpid(), signal.SIGINT))  # noqa: F841
        try:
            await asyncio.sleep(30)
        finally:
            finished.append(True)  # the loop's tasks unwind, as after any Ctrl-C

    interrupt = GracefulInterrupt(on_first=lambda: firsts.append(1))
    with interrupt, pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
    assert interrupt.hard and firsts == [1] and finished == [True]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_ctrl_c_outside_a_loop_raises_at_once():
    interrupt = GracefulInterrupt()
    with interrupt, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert interrupt.hard


def test_the_interrupt_tests_pass_in_a_process_started_with_sigint_ignored():
    """As under `nohup make test &`: the child starts with SIGINT set to SIG_IGN (kept
    across exec, and kept by Python), runs the two tests above, and SIGINT is still
    ignored when they end."""
    here = Path(__file__)
    code = (
        "import signal, sys, pytest\n"
        "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN, 'SIGINT not ignored'\n"
        "rc = pytest.main(sys.argv[1:])\n"
        "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN, 'SIGINT handler changed'\n"
        "sys.exit(rc)\n")
    tests = [f"{here}::{name}" for name in (
        "test_a_second_ctrl_c_in_a_loop_stops_it_at_its_next_step_not_in_a_callback",
        "test_a_second_ctrl_c_outside_a_loop_raises_at_once")]
    p = subprocess.run(
        [sys.executable, "-c", code, "-q", "-p", "no:cacheprovider", *tests],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        capture_output=True, text=True, timeout=300, cwd=here.parents[2])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "2 passed" in p.stdout

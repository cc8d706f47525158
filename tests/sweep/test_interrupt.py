"""The two-step Ctrl-C handler: the second press stops the event loop at a safe point."""

from __future__ import annotations

import asyncio
import os
import signal
import weakref

import pytest

from valuespectrum.sweep.interrupt import GracefulInterrupt


def test_a_second_ctrl_c_in_a_loop_stops_it_at_its_next_step_not_in_a_callback():
    """A KeyboardInterrupt raised inside a weakref callback is printed and swallowed by
    Python; the handler defers it to the loop, so it always ends `asyncio.run`."""
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
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_outside_a_loop_raises_at_once():
    interrupt = GracefulInterrupt()
    with interrupt, pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes
            pass
    assert interrupt.hard

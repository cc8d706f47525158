"""Ctrl-C during a sweep: the first asks for a clean stop, the second stops at once.

The first SIGINT sets `requested`: the driver lets the steps in flight finish and be
journaled, starts nothing new, records the trials it stopped as ``interrupted`` and writes
the tables and the summary. A second SIGINT restores the handler that was in place before
(Python's, or SIG_IGN in a process started in the background) and raises
`KeyboardInterrupt` at once; the tables are then left as they were. Inside an event loop it
is raised at the loop's next step, not in whatever the signal interrupted: raised inside a
weakref callback or a `__del__`, Python printed "Exception ignored ... KeyboardInterrupt"
with a traceback and swallowed it (seen once in the Ctrl-C test). Either way every step
already journaled is on disk (each is fsync'd), so rerunning the same command resumes.

Ray's own processes block SIGINT (they are started with it masked), so a Ctrl-C at the
terminal reaches only the driver.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any


class GracefulInterrupt:
    """Context manager installing the two-step SIGINT handler (main thread only).

    Args:
        on_first: Called (in the main thread) when the first Ctrl-C arrives.

    Attributes:
        requested: A first Ctrl-C arrived: finish the steps in flight, then stop.
        hard: A second Ctrl-C arrived: `KeyboardInterrupt` was raised.
    """

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.on_first = on_first
        self.requested = False
        self.hard = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self.hard = True
            self._restore()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop in this thread: raise here, as Python does
                raise KeyboardInterrupt from None
            # asyncio lets KeyboardInterrupt out of a callback: run_until_complete raises it
            loop.call_soon_threadsafe(_raise_interrupt)
            return
        self.requested = True
        if self.on_first is not None:
            self.on_first()

    def _restore(self) -> None:
        if self._installed:  # the handler in place before, which may be SIG_IGN (nohup ... &)
            # None: set outside Python; the closest Python can restore is the default action
            signal.signal(signal.SIGINT,
                          signal.SIG_DFL if self._previous is None else self._previous)
            self._installed = False

    def __enter__(self) -> GracefulInterrupt:
        # signal handlers can only be set from the main thread; elsewhere Ctrl-C keeps
        # Python's default behaviour (KeyboardInterrupt, then resume from the journals)
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._restore()


def _raise_interrupt() -> None:
    raise KeyboardInterrupt

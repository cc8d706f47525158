"""One writer per run directory: an advisory lock file that names its holder."""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from pathlib import Path
from typing import IO


class RunLockedError(RuntimeError):
    """Another process is writing to this run directory."""


class WriterLock:
    """An exclusive, non-blocking `flock` on `<directory>/.writer.lock`.

    The holder writes its pid, host and command line into the file, so a second writer is
    told who holds the directory. The OS drops the lock when the holder dies, so a crashed
    run never leaves a stale lock behind.
    """

    def __init__(self, directory: str | Path, error: type[Exception] = RunLockedError) -> None:
        self.directory = Path(directory)
        self.error = error
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        f = (self.directory / ".writer.lock").open("a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise self.error(f"{self.directory} is being written by {holder}") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}: {' '.join(sys.argv)}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

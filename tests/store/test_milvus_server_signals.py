"""The Milvus server is stopped with SIGINT, also when the tests were started ignoring it."""

from __future__ import annotations

import signal
import subprocess
import sys

from valuespectrum.store.milvus_server import with_sigint_default

HANDLER = ("import signal; h = signal.getsignal(signal.SIGINT); "
           "print('ignored' if h is signal.SIG_IGN else 'default' "
           "if h is signal.default_int_handler else h)")


def _ignoring_sigint(cmd: list[str]) -> str:
    """Run `cmd` from a child that ignores SIGINT (as under `nohup make test &`)."""
    p = subprocess.run(cmd, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_the_server_command_starts_with_sigint_at_its_default_whatever_the_parent_has():
    assert _ignoring_sigint([sys.executable, "-c", HANDLER]) == "ignored"  # inherited
    assert _ignoring_sigint(with_sigint_default([sys.executable, "-c", HANDLER])) == "default"

"""The Milvus server is stopped with SIGINT, also when the tests were started ignoring it."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

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


def test_a_second_server_is_refused_at_once_naming_the_taken_etcd_port():
    """Two standalone servers cannot share a machine (their embedded etcd binds fixed ports):
    a start while another holds them fails at once with the cause, not after 180 s."""
    import socket
    import time

    from valuespectrum.store.milvus_server import (
        MilvusServerError,
        check_no_other_server,
        local_milvus_server,
        milvus_server_binary,
        port_taken,
    )

    holder = None
    if not port_taken(2380):  # stand in for the other server's etcd
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 2380))
        holder.listen()
    try:
        with pytest.raises(MilvusServerError, match=r"2380.*another Milvus standalone server"):
            check_no_other_server()
        if milvus_server_binary() is not None:
            t0 = time.monotonic()
            with pytest.raises(MilvusServerError, match="2380"):
                with local_milvus_server("/nonexistent-never-created"):
                    pass
            assert time.monotonic() - t0 < 5
    finally:
        if holder is not None:
            holder.close()

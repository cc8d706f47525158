"""A local standalone Milvus server (the PyPI `milvus` package) for tests and benchmarks.

Production stores point at a Milvus deployment (docs/spectrum.md, "A Milvus server"); this
starts the standalone binary that `pip install milvus` ships, so the store's server code
path runs for real on one machine. It listens on all interfaces (the binary has no bind
option): test machines only. Its embedded etcd always binds 127.0.0.1:2379 and 2380, so
**one such server runs on a machine at a time**: a second one's etcd fails to bind, its
binary panics and its wrapper never answers (tried: 6 Dec 2026, found when a killed test
run left its server behind and the next run's store tests waited 180 s each). A start
therefore checks those ports first and names what holds them.

    with local_milvus_server(tmp_dir) as uri:
        store = ScreenshotStore(uri, "minilm", 384)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MilvusServerError", "free_port", "local_milvus_server", "milvus_server_binary"]


class MilvusServerError(RuntimeError):
    """The local server is missing, exited, or did not answer in time."""


def milvus_server_binary() -> str | None:
    """The `milvus-server` launcher next to this Python, or on PATH; None when missing."""
    here = Path(sys.executable).with_name("milvus-server")
    return str(here) if here.exists() else shutil.which("milvus-server")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: The ports the standalone server's embedded etcd binds, whatever its options.
ETCD_PORTS = (2379, 2380)


def port_taken(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:`port`."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_no_other_server() -> None:
    """Raise MilvusServerError when another standalone server (or anything else) holds the
    embedded etcd's ports, naming the pid the server records when there is one."""
    taken = [p for p in ETCD_PORTS if port_taken(p)]
    if not taken:
        return
    pid_file = Path("/run/milvus/standalone.pid")
    pid = pid_file.read_text().strip() if pid_file.is_file() else ""
    holder = f" (the last one started here recorded pid {pid} in {pid_file})" if pid else ""
    raise MilvusServerError(
        f"127.0.0.1:{', '.join(map(str, taken))} taken: another Milvus standalone server is "
        f"running on this machine{holder}, and its embedded etcd cannot share those ports. "
        "Stop it (e.g. a test run that was killed left it behind) or point the store at it")


def answers(uri: str) -> bool:
    """Whether a Milvus server at `uri` lists its collections."""
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, timeout=2)
        client.list_collections()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False


#: Resets SIGINT to its default action, then execs the command (argv[1:]).
_SIGINT_DEFAULT_EXEC = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execv(sys.argv[1], sys.argv[1:])")


def with_sigint_default(cmd: list[str]) -> list[str]:
    """`cmd` started with SIGINT at its default action, whatever this process has.

    A child inherits an ignored SIGINT (a process started with `&` from a script, e.g.
    `nohup make test &`), and the server's wrapper, a Python script, would then ignore the
    SIGINT that stops it. A handler is reset to the default by exec; an ignored signal is
    not, so a small Python step sets the default before exec'ing the command.
    """
    return [sys.executable, "-c", _SIGINT_DEFAULT_EXEC, *cmd]


@contextlib.contextmanager
def local_milvus_server(data_dir: str | Path, port: int | None = None,
                        timeout_s: float = 180.0) -> Iterator[str]:
    """Start a standalone Milvus server on `data_dir`; yields its URI, stops it on exit.

    Start-up takes ~7 s (the first start unpacks ~250 MB). It is stopped through its
    wrapper (SIGINT): a bare SIGTERM to the binary panics.

    Raises:
        MilvusServerError: no `milvus-server` launcher, another standalone server holds
            the embedded etcd's ports, or the server exited or did not answer within
            `timeout_s` (the message ends with its log).
    """
    exe = milvus_server_binary()
    if exe is None:
        raise MilvusServerError("no milvus-server launcher: pip install milvus")
    check_no_other_server()
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    uri = f"http://127.0.0.1:{port}"
    log_path = data / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(with_sigint_default([exe, "--data", str(data), "--proxy-port",
                                                     str(port)]),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while not answers(uri):
                if proc.poll() is not None:
                    raise MilvusServerError(f"milvus-server exited with {proc.returncode}: "
                                            f"{log_path.read_text(errors='replace')[-2000:]}")
                if time.monotonic() > deadline:
                    raise MilvusServerError(f"milvus-server did not answer at {uri} in "
                                            f"{timeout_s:.0f} s (log: {log_path})")
                time.sleep(0.5)
            yield uri
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # the whole group: the wrapper and its binary
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

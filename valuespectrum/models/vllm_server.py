"""`VllmServer`: one `vllm serve` process (start, health-check, report, stop).

Used directly by a `VllmBackend` without Ray, and as the body of each shared Ray actor of
a ``vllm:`` model (one per replica; see valuespectrum/models/vllm.py).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from valuespectrum.cluster import ray_ready
from valuespectrum.models.base import BackendUnavailable
from valuespectrum.models.spec import VllmOptions


def vllm_command(model: str, host: str, port: int, opts: VllmOptions) -> list[str]:
    """The server command line (`opts.command` with placeholders filled, if given)."""
    if opts.command:
        return [a.format(model=model, host=host, port=port) for a in opts.command]
    cmd = ["vllm", "serve", model, "--host", host, "--port", str(port),
           "--max-model-len", str(opts.max_model_len),
           "--limit-mm-per-prompt", json.dumps({"image": opts.max_images})]
    if opts.gpu_memory_utilization is not None:
        cmd += ["--gpu-memory-utilization", str(opts.gpu_memory_utilization)]
    return cmd + list(opts.extra_args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: the server gets SIGTERM if its owner dies (Linux PR_SET_PDEATHSIG).

    The signal follows the thread that forked; the launching threads (a Ray actor's pool, or
    asyncio's default executor) live as long as their owner, so this means "the owner".
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # resolved before fork
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def check_models_endpoint(base_url: str, model: str | None = None, timeout_s: float = 2.0) -> bool:
    """True when ``GET {base_url}/models`` answers 200 (and lists `model`, if given)."""
    import httpx

    try:
        r = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout_s)
    except httpx.HTTPError:
        return False
    if r.status_code != 200:
        return False
    return model is None or any(m.get("id") == model for m in r.json().get("data", []))


class VllmServer:
    """Owns one `vllm serve` process: start, health-check, report, stop.

    Used directly without Ray, and as the body of the shared Ray actor.
    """

    def __init__(self, model: str, opts: VllmOptions, bind_host: str = "127.0.0.1") -> None:
        self.model = model
        self.opts = opts
        self.bind_host = bind_host
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self._lock = threading.Lock()

    def _advertised_url(self) -> str:
        host = "127.0.0.1"
        if ray_ready() and self.bind_host == "0.0.0.0":
            import ray

            host = ray.util.get_node_ip_address()
        return f"http://{host}:{self.port}/v1"

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> str:
        """Launch (once) and wait until ``/v1/models`` lists the model; returns the base URL.

        Raises:
            BackendUnavailable: the process exited, or was not ready in time (it is killed).
        """
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                return self._advertised_url()
            self.port = self.opts.port or _free_port()
            cmd = vllm_command(self.model, self.bind_host, self.port, self.opts)
            slug = re.sub(r"[^A-Za-z0-9]+", "-", self.model)[-40:]
            self.log_path = Path(tempfile.gettempdir()) / f"vspec-vllm-{slug}-{self.port}.log"
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL,
                                             preexec_fn=_die_with_parent())
            local = f"http://127.0.0.1:{self.port}/v1"
            deadline = time.monotonic() + self.opts.startup_timeout_s
            while True:
                code = self.proc.poll()
                if code is not None:
                    raise BackendUnavailable(
                        f"vllm:{self.model}: server exited with code {code} during startup "
                        f"(command: {' '.join(cmd[:3])} ...); last log lines:\n{self.log_tail()}")
                if check_models_endpoint(local, self.model):
                    return self._advertised_url()
                if time.monotonic() > deadline:
                    self.stop()
                    raise BackendUnavailable(
                        f"vllm:{self.model}: not ready after {self.opts.startup_timeout_s:.0f}s; "
                        f"last log lines:\n{self.log_tail()}")
                time.sleep(0.25)

    def health(self) -> dict[str, Any]:
        """Process state: alive, exit code, pid, URL and the end of the log."""
        alive = self.proc is not None and self.proc.poll() is None
        return {"alive": alive, "returncode": None if self.proc is None else self.proc.poll(),
                "pid": None if self.proc is None else self.proc.pid,
                "url": self._advertised_url() if self.port else None,
                "log_tail": "" if alive else self.log_tail()}

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __del__(self) -> None:  # the actor is going away: do not leave a GPU server behind
        try:
            self.stop()
        except Exception:
            pass


__all__ = ["VllmServer", "check_models_endpoint", "vllm_command"]

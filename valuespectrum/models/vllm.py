"""``vllm:<hf-model-id>``: a local VLM served by `vllm serve`, owned by a Ray actor.

The first agent that needs the model creates a named, detached Ray actor (asking for
`num_gpus` GPUs) that launches ``vllm serve MODEL --limit-mm-per-prompt ... --max-model-len
...`` and health-checks ``/v1/models``; every other agent on the cluster finds the same actor
(``get_if_exists``) and talks to the same server through the OpenAI-compatible API. The
runner stops it with `release_shared_actors()` when the run ends. Without Ray, the backend
owns a server process itself. With ``base_url`` it attaches to a server already running.

A server that fails to start or dies is a fatal `BackendUnavailable` naming its exit code
and the end of its log, never an endless retry.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from valuespectrum.cluster import RAY_NAMESPACE, ray_ready
from valuespectrum.models.base import BackendUnavailable
from valuespectrum.models.shared import ACTOR_PREFIX
from valuespectrum.models.spec import ModelSpec, VllmOptions
from valuespectrum.types import Completion, GenerateConfig, Message


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


def actor_name(model: str) -> str:
    return f"{ACTOR_PREFIX}vllm-" + re.sub(r"[^A-Za-z0-9_.\-]+", "-", model)


def shared_server(model: str, opts: VllmOptions):
    """The cluster's Ray actor serving `model` (created on first use, found afterwards)."""
    import ray

    gpus = ray.cluster_resources().get("GPU", 0.0)
    if opts.num_gpus > gpus:
        raise BackendUnavailable(
            f"vllm:{model}: needs {opts.num_gpus:g} GPU(s) but the Ray cluster has {gpus:g}; "
            "run on a GPU node, attach to a running server with base_url, or set vllm.num_gpus")
    cls = ray.remote(VllmServer)
    return cls.options(name=actor_name(model), namespace=RAY_NAMESPACE, lifetime="detached",
                       get_if_exists=True, num_gpus=opts.num_gpus, num_cpus=0,
                       max_concurrency=8).remote(model, opts, cluster_bind_host())


def cluster_bind_host() -> str:
    """Where a shared server listens: loopback on a one-machine Ray, all interfaces otherwise.

    A local Ray (the default) has every agent on this machine, so nothing else on the network
    should reach an unauthenticated model server; on a cluster of several machines, agents on
    other nodes must reach it.
    """
    import ray

    hosts = {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}
    return "127.0.0.1" if len(hosts) <= 1 else "0.0.0.0"


class VllmBackend:
    """A `vllm:` model: launches or finds its server on first use, then speaks OpenAI.

    Args:
        spec: The model spec (``spec.vllm`` options; ``spec.base_url`` to attach instead).
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model = spec.target
        self.name = spec.spec
        self.opts = spec.vllm or VllmOptions()
        self.supports_json_schema = True if spec.json_schema is None else spec.json_schema
        self._client: Any = None
        self._local: VllmServer | None = None
        self._actor: Any = None
        self._start_lock = asyncio.Lock()

    async def _ensure(self) -> Any:
        async with self._start_lock:
            if self._client is not None:
                return self._client
            if self.spec.base_url:
                url = self.spec.base_url
                ok = await asyncio.to_thread(check_models_endpoint, url)
                if not ok:
                    raise BackendUnavailable(f"{self.name}: no vLLM server answers at {url}/models")
            elif ray_ready():
                self._actor = shared_server(self.model, self.opts)
                try:
                    url = await asyncio.wait_for(self._actor.start.remote(),
                                                 self.opts.startup_timeout_s + 60)
                except TimeoutError:
                    raise BackendUnavailable(f"{self.name}: server actor not ready in time") from None
            else:
                self._local = VllmServer(self.model, self.opts)
                url = await asyncio.to_thread(self._local.start)
            from valuespectrum.models.openai_backend import OpenAIBackend

            self._client = OpenAIBackend(self.model, base_url=url, api_key_env=self.spec.api_key_env,
                                         params=self.spec.params, name=self.name,
                                         supports_json_schema=self.supports_json_schema,
                                         timeout_s=self.spec.timeout_s)
            return self._client

    async def _health(self) -> dict[str, Any] | None:
        if self._local is not None:
            return self._local.health()
        if self._actor is not None:
            try:
                return await self._actor.health.remote()
            except Exception as e:  # the actor itself is gone
                return {"alive": False, "returncode": None, "log_tail": f"actor lost: {e}"}
        return None

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        client = await self._ensure()
        try:
            return await client.generate(messages, config)
        except BackendUnavailable:
            health = await self._health()
            if health is not None and not health["alive"]:
                raise BackendUnavailable(
                    f"{self.name}: the vLLM server died (exit code {health['returncode']}); "
                    f"last log lines:\n{health['log_tail']}") from None
            raise

    async def aclose(self) -> None:
        """Close the client; stop the server only if this backend owns it (no Ray)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._local is not None:
            await asyncio.to_thread(self._local.stop)
            self._local = None


__all__ = ["VllmBackend", "VllmServer", "actor_name", "check_models_endpoint", "shared_server",
           "vllm_command"]

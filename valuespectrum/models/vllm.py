"""``vllm:<hf-model-id>``: a local VLM served by `vllm serve`, owned by Ray actors.

The first agent that needs the model creates a named, detached Ray actor (asking for
`num_gpus` GPUs) that launches ``vllm serve MODEL --limit-mm-per-prompt ... --max-model-len
...`` and health-checks ``/v1/models``; every other agent on the cluster finds the same actor
(``get_if_exists``) and talks to the same server through the OpenAI-compatible API. With
``vllm.replicas: N`` there are N such actors (``vspec-vllm-<model>``, ``...@1``, ...), and
each agent's backend spreads its requests over them (`replicas.ReplicaPool`). The runner
stops them with `release_shared_actors()` when the run ends. Without Ray, the backend owns
its server processes itself. With ``base_url`` it attaches to a server already running.

A server that fails to start, or the last replica that dies, is a fatal
`BackendUnavailable` naming its exit code and the end of its log, never an endless retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from valuespectrum.cluster import RAY_NAMESPACE, ray_ready
from valuespectrum.models.base import BackendUnavailable
from valuespectrum.models.replicas import Replica, ReplicaPool
from valuespectrum.models.shared import ACTOR_PREFIX
from valuespectrum.models.spec import ModelSpec, VllmOptions
from valuespectrum.models.vllm_server import VllmServer, check_models_endpoint, vllm_command
from valuespectrum.names import safe_name
from valuespectrum.types import Completion, GenerateConfig, Message

log = logging.getLogger(__name__)


def actor_name(model: str, index: int = 0) -> str:
    """Name of the Ray actor owning replica `index` of `model` (replica 0: no suffix).

    ``@`` never occurs in the sanitised model part, so replica names cannot collide with
    another model's name.
    """
    base = f"{ACTOR_PREFIX}vllm-" + safe_name(model)
    return base if index == 0 else f"{base}@{index}"


def replica_names(model: str, replicas: int) -> list[str]:
    """The actor names of `model`'s `replicas` servers (what a run leases and releases)."""
    return [actor_name(model, i) for i in range(replicas)]


def shared_server(model: str, opts: VllmOptions, index: int = 0):
    """The cluster's Ray actor serving replica `index` of `model` (created on first use,
    found afterwards); each replica's actor asks for `opts.num_gpus` GPUs."""
    import ray

    gpus = ray.cluster_resources().get("GPU", 0.0)
    need = opts.num_gpus * opts.replicas
    if need > gpus:
        each = f" ({opts.replicas} replicas of {opts.num_gpus:g})" if opts.replicas > 1 else ""
        raise BackendUnavailable(
            f"vllm:{model}: needs {need:g} GPU(s){each} but the Ray cluster has {gpus:g}; "
            "run on a GPU node, attach to a running server with base_url, or set vllm.num_gpus"
            + (" or vllm.replicas" if opts.replicas > 1 else ""))
    cls = ray.remote(VllmServer)
    return cls.options(name=actor_name(model, index), namespace=RAY_NAMESPACE,
                       lifetime="detached", get_if_exists=True, num_gpus=opts.num_gpus,
                       num_cpus=0, max_concurrency=8).remote(model, opts, cluster_bind_host())


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
    """A `vllm:` model: launches or finds its server(s) on first use, then speaks OpenAI.

    With ``vllm.replicas: N`` it starts (or finds) N servers and spreads its requests over
    them with a `ReplicaPool` (least requests in flight; a dead replica is left out and its
    request sent to another).

    Args:
        spec: The model spec (``spec.vllm`` options; ``spec.base_url`` to attach instead).
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model = spec.target
        self.name = spec.spec
        self.opts = spec.vllm or VllmOptions()
        self.supports_json_schema = True if spec.json_schema is None else spec.json_schema
        self.pool: ReplicaPool | None = None
        self._local: list[VllmServer] = []
        self._start_lock = asyncio.Lock()

    def _client(self, url: str) -> Any:
        from valuespectrum.models.openai_backend import OpenAIBackend

        return OpenAIBackend(self.model, base_url=url, api_key_env=self.spec.api_key_env,
                             params=self.spec.params, name=self.name,
                             supports_json_schema=self.supports_json_schema,
                             timeout_s=self.spec.timeout_s)

    async def _start_on_ray(self, index: int) -> Replica:
        actor = shared_server(self.model, self.opts, index)
        try:
            url = await asyncio.wait_for(actor.start.remote(), self.opts.startup_timeout_s + 60)
        except TimeoutError:
            raise BackendUnavailable(f"{self.name}: server actor not ready in time") from None

        async def health() -> dict[str, Any]:
            return await asyncio.wait_for(actor.health.remote(), 30)

        return Replica(index, url, self._client(url), health)

    async def _start_local(self, index: int) -> Replica:
        server = VllmServer(self.model, self.opts)
        self._local.append(server)
        url = await asyncio.to_thread(server.start)

        async def health() -> dict[str, Any]:
            return server.health()

        return Replica(index, url, self._client(url), health)

    async def _ensure(self) -> ReplicaPool:
        async with self._start_lock:
            if self.pool is not None:
                return self.pool
            if self.spec.base_url:
                url = self.spec.base_url
                ok = await asyncio.to_thread(check_models_endpoint, url)
                if not ok:
                    raise BackendUnavailable(f"{self.name}: no vLLM server answers at {url}/models")
                self.pool = ReplicaPool(self.name, [Replica(0, url, self._client(url))])
                return self.pool
            start = self._start_on_ray if ray_ready() else self._start_local
            # every replica starts at once; one that fails is left out, the others serve
            results = await asyncio.gather(*(start(i) for i in range(self.opts.replicas)),
                                           return_exceptions=True)
            replicas = [r for r in results if isinstance(r, Replica)]
            failures = [r for r in results if isinstance(r, BaseException)]
            if not replicas:
                raise failures[0]
            for i, err in enumerate(results):
                if isinstance(err, BaseException):
                    log.warning("%s: replica %d did not start (%s); serving with %d", self.name,
                                i, str(err).splitlines()[0], len(replicas))
            self.pool = ReplicaPool(self.name, replicas)
            return self.pool

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        pool = await self._ensure()
        return await pool.generate(messages, config)

    async def aclose(self) -> None:
        """Close the clients; stop the servers only if this backend owns them (no Ray)."""
        if self.pool is not None:
            await self.pool.aclose()
            self.pool = None
        servers, self._local = self._local, []
        for server in servers:
            await asyncio.to_thread(server.stop)


__all__ = ["VllmBackend", "VllmServer", "actor_name", "check_models_endpoint", "replica_names",
           "shared_server", "vllm_command"]

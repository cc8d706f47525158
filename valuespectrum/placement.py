"""Where a sweep's actors run on a Ray cluster: the resources they ask for.

`ray_cluster.yaml` declares what these ask for (a test checks that it does):

- **Viewer actors** ask for `VIEWER_CPUS` CPU each and, when their agents drive a browser
  (an environment kind whose `host` is "browser" or "appium"), memory for the browser and
  its agents (`viewer_memory_bytes`). They are scheduled with Ray's ``SPREAD`` strategy.
  Ray's default policy packs actors onto one node until it is half busy: on the two-node
  test cluster (1 CPU per node, two 0.5-CPU actors) that already spreads, measured with
  and without SPREAD; but a few actors on 16-CPU nodes would all land on the first node.
- On a cluster that declares the custom resource `VIEWER_NODE_RESOURCE` (the CPU nodes of
  `ray_cluster.yaml`), viewer actors require a sliver of it, which keeps browsers off the
  nodes that do not declare it: the GPU nodes, left to the vLLM servers. A local Ray
  declares no such resource, and viewers go anywhere.
- **vLLM server actors**, one per replica (`vllm.replicas`), each ask for the model's
  `vllm.num_gpus` (default 1; see valuespectrum/models/vllm.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from valuespectrum.environments.spec import KINDS

__all__ = ["BROWSER_AGENT_MB", "BROWSER_BASE_MB", "VIEWER_CPUS", "VIEWER_NODE_RESOURCE",
           "capacity_problem", "viewer_actor_options", "viewer_capacity", "viewer_memory_bytes"]

#: Custom resource of the nodes that may host viewer actors (browsers).
VIEWER_NODE_RESOURCE = "viewer_node"
#: CPU each viewer actor asks for (its agents mostly wait on the model).
VIEWER_CPUS = 0.5
#: Memory of one Chromium with one agent, and of each further agent (a context): the
#: issue-12 measurements on 2 cores (673 MB at 1 agent, 153-176 MB per agent at 8-16),
#: rounded up.
BROWSER_BASE_MB = 700
BROWSER_AGENT_MB = 180


def _browser_kinds(kinds: Iterable[str]) -> list[str]:
    return [k for k in kinds if KINDS[k].host in ("browser", "appium")]


def viewer_memory_bytes(kinds: Iterable[str], agents_per_actor: int) -> int:
    """Memory a viewer actor asks for: a browser's, when any of `kinds` drives one, else 0
    (an HTTP-environment actor takes ~20 MB per agent and asks for none)."""
    if not _browser_kinds(kinds):
        return 0
    return (BROWSER_BASE_MB + BROWSER_AGENT_MB * max(0, agents_per_actor - 1)) * 2**20


def viewer_actor_options(kinds: Iterable[str], agents_per_actor: int,
                         cluster_resources: Mapping[str, float]) -> dict[str, Any]:
    """Ray options of a sweep's viewer actors (besides `max_concurrency`).

    Args:
        kinds: The environment kinds of the sweep's platforms.
        agents_per_actor: Agents sharing one actor (one browser).
        cluster_resources: `ray.cluster_resources()` of the cluster the sweep runs on.
    """
    opts: dict[str, Any] = {"num_cpus": VIEWER_CPUS, "scheduling_strategy": "SPREAD"}
    memory = viewer_memory_bytes(kinds, agents_per_actor)
    if memory:
        opts["memory"] = memory
    if cluster_resources.get(VIEWER_NODE_RESOURCE, 0) > 0:
        opts["resources"] = {VIEWER_NODE_RESOURCE: 0.001}
    return opts


def viewer_capacity(options: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]) -> int:
    """How many viewer actors with Ray `options` the cluster's live nodes can ever hold.

    Counted from each node's total resources (not what is free now): an actor beyond this
    number would wait for resources forever, and its trials with it.

    Args:
        options: From `viewer_actor_options`.
        nodes: `ray.nodes()` (dicts with "Alive" and "Resources").
    """
    return sum(_fits(options, node) for node in nodes)


def _fits(options: Mapping[str, Any], node: Mapping[str, Any]) -> int:
    """How many viewer actors with Ray `options` one node (of `ray.nodes()`) can ever hold."""
    res = node.get("Resources", {})
    if not node.get("Alive", True) or any(res.get(k, 0) < v for k, v in
                                           options.get("resources", {}).items()):
        return 0
    n = math.floor(res.get("CPU", 0) / options["num_cpus"] + 1e-9)
    if options.get("memory"):
        n = min(n, math.floor(res.get("memory", 0) / options["memory"]))
    return n


def viewer_nodes(options: Mapping[str, Any],
                 nodes: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(node id, IP address) of the live nodes that can hold a viewer actor with `options`:
    where `feed_placement: nodes` starts feed processes."""
    return [(node["NodeID"], node.get("NodeManagerAddress", "127.0.0.1")) for node in nodes
            if _fits(options, node) > 0]


def capacity_problem(actors: int, concurrency: int, agents_per_actor: int, fits: int) -> str:
    """What to change when `actors` viewer actors do not fit (`fits` do); "" when they do."""
    if actors <= fits:
        return ""
    fix = (f"raise agents_per_actor to {math.ceil(concurrency / fits)} or lower concurrency "
           f"to {fits * agents_per_actor}" if fits else "add nodes that can host viewers")
    return (f"concurrency {concurrency} with agents_per_actor {agents_per_actor} needs {actors} "
            f"viewer actors ({VIEWER_CPUS:g} CPU each, plus a browser's memory when they drive "
            f"one), but this Ray cluster can hold {fits}; the others would wait forever: {fix}")

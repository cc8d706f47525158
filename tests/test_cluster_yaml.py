"""ray_cluster.yaml declares what the code asks for: viewer actors fit on (only) the CPU
nodes, vLLM actors on the GPU nodes, and every node runs the project's own set-up."""

from __future__ import annotations

import re
import tomllib

import yaml
from vspec_helpers import ROOT

from valuespectrum.models.spec import ModelSpec, VllmOptions
from valuespectrum.placement import VIEWER_CPUS, viewer_actor_options


def config() -> dict:
    return yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())


def fits(ask: dict, node: dict) -> bool:
    return all(node.get(k, 0) >= v for k, v in ask.items())


def viewer_ask(kind: str, cluster: dict) -> dict:
    opts = viewer_actor_options([kind], 8, cluster)
    return {"CPU": opts["num_cpus"], **opts.get("resources", {})}


def test_viewer_actors_fit_only_on_cpu_viewer_nodes():
    types = config()["available_node_types"]
    cluster = {}
    for t in types.values():
        for k, v in t["resources"].items():
            cluster[k] = cluster.get(k, 0) + v
    for kind in ("playwright", "http"):
        ask = viewer_ask(kind, cluster)
        assert ask["CPU"] == VIEWER_CPUS and "viewer_node" in ask
        assert [n for n, t in types.items() if fits(ask, t["resources"])] == ["cpu_viewers"]
    # a local Ray declares no viewer_node: viewers then go anywhere
    assert "resources" not in viewer_actor_options(["playwright"], 8, {"CPU": 2})


def test_vllm_actors_fit_only_on_gpu_nodes():
    types = config()["available_node_types"]
    gpus = (ModelSpec.parse("vllm:Qwen/Qwen2-VL-2B-Instruct").vllm or VllmOptions()).num_gpus
    assert gpus > 0
    assert [n for n, t in types.items() if t["resources"].get("GPU", 0) >= gpus] == ["gpu_vllm"]


def test_every_node_runs_the_projects_setup_with_vllm_only_on_gpu_nodes():
    cfg = config()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    gpu = " ".join(cfg["available_node_types"]["gpu_vllm"]["worker_setup_commands"])
    assert "bash scripts/setup.sh" in gpu
    wanted = re.search(r"VSPEC_EXTRAS=(\S+)", gpu).group(1).split(",")
    assert "vllm" in wanted and set(wanted) <= set(extras)
    for key in ("head_setup_commands", "worker_setup_commands"):
        cmds = " ".join(cfg[key])
        assert "bash scripts/setup.sh" in cmds and "vllm" not in cmds
    # setup.sh installs the extras it is given
    assert "VSPEC_EXTRAS" in (ROOT / "scripts" / "setup.sh").read_text()


def test_viewer_capacity_counts_what_each_live_node_can_ever_hold():
    from valuespectrum.placement import capacity_problem, viewer_capacity

    gib = 2**30
    nodes = [
        {"Alive": True, "Resources": {"CPU": 2.0, "memory": 8 * gib}},
        {"Alive": True, "Resources": {"CPU": 8.0, "memory": 2 * gib, "viewer_node": 1}},
        {"Alive": False, "Resources": {"CPU": 64.0, "memory": 64 * gib, "viewer_node": 1}},
    ]
    http = viewer_actor_options(["http"], 250, {"CPU": 10})  # no viewer_node: anywhere
    assert viewer_capacity(http, nodes) == 4 + 16  # 0.5 CPU each; the dead node holds none
    browsers = viewer_actor_options(["playwright"], 8, {"viewer_node": 1})
    # only the viewer node, and there memory limits it: 2 GiB / (700 + 7 * 180) MB = 1
    assert viewer_capacity(browsers, nodes) == 1
    assert capacity_problem(4, 1000, 250, fits=4) == ""
    problem = capacity_problem(10, 1000, 100, fits=4)
    assert "needs 10 viewer actors" in problem and "can hold 4" in problem
    assert "raise agents_per_actor to 250 or lower concurrency to 400" in problem

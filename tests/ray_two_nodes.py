"""A real two-node Ray cluster on one machine (`ray start --head` + `ray start --address`).

Each node has its own temp dir and ports, so the cluster shares nothing with any other Ray
on the machine; `stop()` ends only the processes of this cluster (found by its temp dirs,
with their children), never `ray stop`, which would stop every Ray of the user.

    python tests/ray_two_nodes.py DIR     # start one by hand; Enter stops it
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    return env


def _node_ports(worker_base: int) -> list[str]:
    """Every port a node opens, so none collides with another Ray on this machine."""
    return [f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}",
            f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
            f"--min-worker-port={worker_base}", f"--max-worker-port={worker_base + 999}"]


@dataclass
class TwoNodeCluster:
    """A head and one worker node, each with 1 CPU and the given custom resources.

    Attributes:
        address: the GCS address (``127.0.0.1:PORT``) for `--ray-address`.
        dashboard: the dashboard URL (for `ray job submit --address`).
    """

    root: Path
    head_resources: str = '{"viewer_node": 100}'
    worker_resources: str = '{"viewer_node": 100, "second_node": 1}'
    address: str = ""
    dashboard: str = ""
    logs: list[str] = field(default_factory=list)

    def start(self, timeout_s: float = 120.0) -> TwoNodeCluster:
        port, dash = free_port(), free_port()
        # worker ports: a block per test process, below the kernel's ephemeral range (32768-)
        base = 21000 + (os.getpid() % 11) * 1000
        common = ["--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats"]
        self._run([RAY, "start", "--head", f"--port={port}", f"--temp-dir={self.root / 'head'}",
                   "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}",
                   f"--ray-client-server-port={free_port()}",
                   f"--resources={self.head_resources}", *common, *_node_ports(base)])
        self.address, self.dashboard = f"127.0.0.1:{port}", f"http://127.0.0.1:{dash}"
        self._run([RAY, "start", f"--address={self.address}",
                   f"--temp-dir={self.root / 'worker'}", f"--resources={self.worker_resources}",
                   *common, *_node_ports(base + 500)])
        deadline = time.monotonic() + timeout_s
        while self.alive_nodes() < 2:  # the second node registers a few seconds later
            if time.monotonic() > deadline:
                raise RuntimeError(f"2 nodes not up in {timeout_s:.0f} s: {self.logs[-2:]}")
            time.sleep(1)
        return self

    def _run(self, cmd: list[str]) -> None:
        r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)
        self.logs.append(r.stdout[-1500:] + r.stderr[-1500:])
        if r.returncode:
            self.stop()
            raise RuntimeError(f"{' '.join(cmd[:3])} failed ({r.returncode}): {self.logs[-1]}")

    def alive_nodes(self) -> int:
        code = (f"import ray; ray.init(address={self.address!r}, logging_level='ERROR', "
                "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))")
        r = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                           text=True, timeout=120)
        return int(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else 0

    def processes(self) -> list:
        """This cluster's processes: those naming its temp dirs, with all their children."""
        import psutil

        root = str(self.root)
        found = {}
        for p in psutil.process_iter(["cmdline"]):
            try:
                if any(root in a for a in (p.info["cmdline"] or ())):
                    found[p.pid] = p
                    for c in p.children(recursive=True):
                        found[c.pid] = c
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return list(found.values())

    def stop(self) -> None:
        import psutil

        procs = self.processes()
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=15)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=10)


if __name__ == "__main__":
    cluster = TwoNodeCluster(Path(sys.argv[1]).resolve()).start()
    print(f"address {cluster.address}  dashboard {cluster.dashboard}", flush=True)
    try:
        input("Enter stops the cluster\n")
    finally:
        cluster.stop()

"""Ray for both pipelines: start or join it, hand API keys to workers.

Every `ray.init` of the package happens in `start_ray`:

- ``address=None`` starts a local Ray (no dashboard, usage stats off); ``"auto"`` or
  ``host:port`` joins a running cluster (``ray start --head`` there, with
  ``RAY_AUTH_MODE=disabled`` for command-line use).
- A local start that fails (e.g. "The current node timed out during startup") is retried
  once; a second failure raises `ClusterError` with the logs folder and the likely causes.
- A local start is refused, with a message, in a process that already runs gRPC's native
  threads (``event_engine``, ``grpc_global_tim``: pymilvus / milvus-lite start them, and
  closing the store does not stop them). Ray launches its servers with a ``preexec_fn``,
  so each is a plain ``fork`` that runs gRPC's fork handlers; measured here, 26 of 1,500
  such children aborted with SIGABRT after an "epoll_wait error: Bad file descriptor", and
  a GCS server that dies that way is the "timed out during startup" / "Timed out waiting
  for file ... gcs_server_port" failure. The benchmark therefore starts Ray before the
  store and opens the store in a `StoreActor` (docs/cluster.md).

Output: a run's actors and tasks are quiet. Ray is started or joined with
``log_to_driver=False``, so nothing a worker prints is forwarded to the driver's terminal,
and every actor or task a run starts calls `send_output_to` first, which points its file
descriptors 1 and 2 at the run's log (``RUN_DIR/logs/output.log``): progress bars
("Loading weights: 100%|...") and warnings of the libraries they load land there. Their
errors still reach the user as exceptions (a trial's error, a failed arm). Output a worker
printed before that call, and that of workers on a node without the run directory, stays
in Ray's own worker logs (``/tmp/ray/session_latest/logs``).

API keys never travel in specs, records, or Ray runtime environments (Ray logs those in
plain text): the driver reads them with `api_keys` and sends them to its actors and tasks
as method arguments, which call `install_api_keys`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from valuespectrum.config import ConfigError
from valuespectrum.errors import ClusterError

RAY_NAMESPACE = "valuespectrum"

#: Native thread names of gRPC's C core (Linux `comm`), which survive closing a channel.
GRPC_THREADS = ("event_engine", "grpc_global_tim")


def ray_ready() -> bool:
    """True when Ray is imported and initialised in this process (never imports Ray)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def grpc_threads() -> list[str]:
    """Names of gRPC C-core threads alive in this process (Linux; [] elsewhere)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return []
    names = []
    for t in tasks.iterdir():
        try:
            name = (t / "comm").read_text().strip()
        except OSError:  # the thread ended while we looked
            continue
        if name.startswith(GRPC_THREADS):
            names.append(name)
    return sorted(names)


def _local_init(ray: Any, num_cpus: int | None, log_to_driver: bool) -> None:
    ray.init(namespace=RAY_NAMESPACE, include_dashboard=False, log_to_driver=log_to_driver,
             num_cpus=num_cpus, configure_logging=True, logging_level="warning")


def start_ray(address: str | None = None, *, num_cpus: int | None = None,
              log_to_driver: bool = False) -> bool:
    """Start a local Ray, or join the cluster at `address`; returns True if this call did.

    Does nothing (returns False) when Ray is already initialised in this process.

    Raises:
        ClusterError: the cluster cannot be joined, or a local start failed twice, or this
            process holds threads that make Ray's process start-up hang.
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        try:
            ray.init(address=address, namespace=RAY_NAMESPACE, log_to_driver=log_to_driver)
        except Exception as e:  # ConnectionError, auth errors, version mismatch
            raise ClusterError(
                f"cannot join the Ray cluster at {address}: {type(e).__name__}: {e}. Is "
                "`ray start --head` running there (with RAY_AUTH_MODE=disabled set before "
                "it for command-line use), and are Ray and Python the same versions?"
            ) from e
        return True
    unsafe = grpc_threads()
    if unsafe:
        raise ClusterError(
            f"this process runs gRPC threads ({', '.join(sorted(set(unsafe)))}; a milvus-lite "
            "store or pymilvus client started them). Ray forks its servers with a preexec_fn, "
            "and in such a process the children can abort (\"timed out during startup\"). "
            "Start Ray before opening a store, or open the store in another process.")
    first: Exception | None = None
    for _attempt in range(2):
        try:
            _local_init(ray, num_cpus, log_to_driver)
            return True
        except Exception as e:  # "The current node timed out during startup", ...
            first = first or e
            try:
                ray.shutdown()
            except Exception:  # noqa: BLE001 - a half-started Ray may fail to stop
                pass
    logs = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "session_latest" / "logs"
    raise ClusterError(
        f"Ray did not start locally (two tries): {type(first).__name__}: {first}. Its logs are "
        f"in {logs}. Check free memory and disk space in /tmp, that no other `ray start` "
        "holds the ports, and `vspec doctor`; or join a running cluster with --ray-address."
    ) from first


def send_output_to(log_path: str | None, what: str = "worker") -> bool:
    """Point this process's stdout and stderr (fds 1 and 2) at a run's log file.

    Called first in every actor and task a run starts (and again after an actor restart),
    so third-party progress bars and warnings, Python's or native, go to the run's log
    instead of a terminal. Appends, with one header line per process.

    Returns:
        Whether it did: False without a path, or when the file cannot be opened (a node of
        a cluster that does not hold the run directory: the output then stays in Ray's
        worker logs).
    """
    if not log_path:
        return False
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return False
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    import socket

    os.write(2, f"--- vspec: {what} (pid {os.getpid()} on {socket.gethostname()}) ---\n"
             .encode())
    return True


def stop_ray(started: bool) -> None:
    """Shut Ray down if `start_ray` started it in this process."""
    if started and ray_ready():
        import ray

        ray.shutdown()


def api_keys(model_specs: Iterable[Any]) -> dict[str, str]:
    """The API keys (variable name -> value) the models need, from this environment.

    Raises:
        ConfigError: naming every model whose key variable is not set.
    """
    keys: dict[str, str] = {}
    missing: list[str] = []
    for m in model_specs:
        var = m.key_env()
        if not var:
            continue
        value = os.environ.get(var)
        if value:
            keys[var] = value
        else:
            missing.append(f"{m.spec} needs ${var}")
    if missing:
        raise ConfigError("models: " + "; ".join(sorted(set(missing))) + " (API keys are read "
                          "only from the environment; set the variables, or drop those models)")
    return keys


def install_api_keys(keys: dict[str, str] | None) -> None:
    """Put API keys received as an argument into this worker's environment."""
    os.environ.update(keys or {})

"""Security: API keys never leak, local services bind loopback, viewers only observe.

The model is the local OpenAI-compatible TEST SERVER (a test double with scripted replies),
reached through the real `openai` client, so the sentinel key really travels in the
`Authorization` header of every call.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import yaml
from vspec_helpers import ROOT, VSPEC, vspec_env, write_spec

sys.path.insert(0, str(Path(__file__).resolve().parent / "models"))
from openai_test_server import OpenAITestServer  # noqa: E402 - test double beside the model tests

MAX_SCANNED = 200_000_000  # bytes; Ray's object spill files could be larger, logs never are


def files_holding(root: Path, secret: bytes) -> list[Path]:
    """Every file under `root` whose bytes contain `secret`."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and p.stat().st_size < MAX_SCANNED and secret in p.read_bytes()]


@pytest.fixture
def keyed_run(tmp_path):
    """Runs `vspec` in a subprocess with a sentinel OPENAI_API_KEY and its own Ray temp dir."""
    sentinel = f"sk-SENTINEL-{uuid.uuid4()}"
    # short: Ray's Unix socket paths must stay under 108 bytes
    ray_tmp = Path(tempfile.mkdtemp(prefix="vsk", dir="/tmp"))
    server = OpenAITestServer("Yes, I would watch this.").start()
    env = dict(vspec_env(tmp_path), OPENAI_API_KEY=sentinel, RAY_TMPDIR=str(ray_tmp))

    def run(spec: Path) -> subprocess.CompletedProcess:
        return subprocess.run([*VSPEC, "run", str(spec), "--plain"], env=env,
                              capture_output=True, text=True, timeout=900, cwd=ROOT)

    run.sentinel, run.server, run.ray_tmp = sentinel, server, ray_tmp
    try:
        yield run
    finally:
        server.stop()
        import shutil

        shutil.rmtree(ray_tmp, ignore_errors=True)


def assert_no_leak(run, proc: subprocess.CompletedProcess, *roots: Path) -> None:
    secret = run.sentinel.encode()
    # the key was really used: every call carried it (so a leak could happen)
    assert run.server.headers, "the model double was never called"
    assert {h.get("authorization") for h in run.server.headers} == {f"Bearer {run.sentinel}"}
    sessions = list((run.ray_tmp / "ray").glob("session_2*"))
    # the run's own Ray: its workers (the actors that held the key) logged here
    assert sessions and list((run.ray_tmp / "ray").glob("session_2*/logs/worker-*")), \
        "no Ray worker logs found"
    assert run.sentinel not in proc.stdout and run.sentinel not in proc.stderr
    for root in (*roots, run.ray_tmp):
        assert root.is_dir() and any(root.rglob("*")), root
        assert files_holding(root, secret) == [], f"the API key leaked under {root}"


@pytest.mark.slow
def test_a_sweep_with_a_real_key_writes_it_nowhere(keyed_run, tmp_path, corpus_dir):
    spec = write_spec(
        tmp_path / "keyed.yaml", name="keyed", personas=["pet_owner"],
        models=[{"spec": "openai:test-model", "base_url": keyed_run.server.url,
                 "api_key_env": "OPENAI_API_KEY"}],
        platforms=[{"style": "tiktok", "environment": "http"}], strategies=["simple"],
        trials=2, scrolls=6, window=3, concurrency=2, corpus=str(corpus_dir),
        output=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"))
    proc = keyed_run(spec)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "cache").is_dir()
    assert_no_leak(keyed_run, proc, tmp_path)  # the run, its cache, the spec, VSPEC_HOME


@pytest.mark.slow
def test_a_benchmark_run_with_a_real_key_writes_it_nowhere(keyed_run, tmp_path, corpus_dir):
    spec = tmp_path / "spectrum.yaml"
    spec.write_text(yaml.safe_dump({
        "kind": "spectrum", "name": "keyed-spectrum", "store": str(tmp_path / "store.db"),
        "embedder": "minilm", "ingest": {"corpus": str(corpus_dir)}, "top_k": 1,
        "followups": False, "parallel": "ray", "concurrency": 2,
        "models": [{"spec": "openai:test-model", "base_url": keyed_run.server.url,
                 "api_key_env": "OPENAI_API_KEY"}],
        "cache_dir": str(tmp_path / "cache"), "output": str(tmp_path / "bench")}))
    proc = keyed_run(spec)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "bench" / "results.parquet").is_file() and (tmp_path / "cache").is_dir()
    assert_no_leak(keyed_run, proc, tmp_path)  # the run, its cache, the store, the spec


# ---------------------------------------------------------------- local services bind loopback
def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state of `pid` and its children."""
    import psutil

    root = psutil.Process(pid)
    out = set()
    for proc in (root, *root.children(recursive=True)):
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        out |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return out


def assert_loopback_only(pid: int, port: int, *, this_port_only: bool = False) -> None:
    """`pid` listens on 127.0.0.1:`port`, and on no other interface (at that port only, when
    the process also runs other things, e.g. this test process with its Ray driver)."""
    socks = listening(pid)
    assert ("127.0.0.1", port) in socks, socks
    if this_port_only:
        socks = {s for s in socks if s[1] == port}
    assert all(ip in ("127.0.0.1", "::1") for ip, _ in socks), socks


def test_the_feed_server_listens_on_loopback_only(feed_server):
    import os

    assert feed_server.url.startswith("http://127.0.0.1:")
    assert_loopback_only(os.getpid(), feed_server.port, this_port_only=True)


@pytest.mark.appium
def test_an_appium_server_the_project_launches_listens_on_loopback_only():
    from valuespectrum.environments.appium_server import AppiumServer

    with AppiumServer(startup_timeout_s=120) as server:
        assert_loopback_only(server._proc.pid, int(server.url.rsplit(":", 1)[1]))


def fake_vllm_options() -> dict:
    """vllm options whose command runs the OpenAI test server (a double of `vllm serve`)."""
    server = str(Path(__file__).resolve().parent / "models" / "openai_test_server.py")
    return {"num_gpus": 0, "startup_timeout_s": 60,
            "command": [sys.executable, server, "--host", "{host}", "--port", "{port}",
                        "--model", "{model}"]}


def test_a_vllm_server_launched_without_ray_listens_on_loopback_only():
    from valuespectrum.models.spec import VllmOptions
    from valuespectrum.models.vllm import VllmServer

    server = VllmServer("bind-test-model", VllmOptions(**fake_vllm_options()))
    try:
        assert server.start().startswith("http://127.0.0.1:")
        assert_loopback_only(server.proc.pid, server.port)
    finally:
        server.stop()


@pytest.mark.slow
def test_a_vllm_server_shared_on_a_local_ray_listens_on_loopback_only(ray_session):
    from valuespectrum.models.shared import release_shared_actors
    from valuespectrum.models.spec import VllmOptions
    from valuespectrum.models.vllm import shared_server

    ray = ray_session
    actor = shared_server("bind-test-shared-model", VllmOptions(**fake_vllm_options()))
    try:
        url = ray.get(actor.start.remote(), timeout=120)
        health = ray.get(actor.health.remote(), timeout=30)
        assert url.startswith("http://127.0.0.1:") and health["alive"]
        assert_loopback_only(health["pid"], int(url.rsplit(":", 1)[1].split("/")[0]))
    finally:
        ray.get(actor.stop.remote(), timeout=30)
        release_shared_actors()


def test_local_ray_runs_without_a_dashboard(ray_session):
    """conftest started this Ray through `start_ray()`, as every local run does.

    Ray still runs a head process (dashboard.py --disable-frontend, for its internal
    modules), but no web UI: no URL, and no port of that process serves a web page. It does
    serve Prometheus metrics text on Ray's fixed port 44227, on all interfaces like Ray's
    other ports (docs/cluster.md says so; found by a CI run).
    """
    import httpx
    import psutil

    node = ray_session._private.worker._global_node
    assert not node.address_info.get("webui_url")
    session = node.get_session_dir_path()
    heads = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if "dashboard/dashboard.py" in cmd and session in cmd:
                heads.append((cmd, listening(p.pid)))
        except psutil.Error:
            continue
    assert heads, "no Ray head process of this session found"
    for cmd, socks in heads:
        assert "--disable-frontend" in cmd, cmd
        for _, port in socks:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/", timeout=3)
            except httpx.HTTPError:  # gRPC speaks HTTP/2 only: not a web page
                continue
            page = r.text.lstrip().lower()
            assert not page.startswith(("<!doctype", "<html")), (port, r.text[:200])


# ---------------------------------------------------------------- observe-only, every kind
def test_no_action_type_can_express_engagement():
    from pydantic import TypeAdapter, ValidationError

    from valuespectrum.environments.guard import ENGAGEMENT_ACTIONS
    from valuespectrum.types import Action, Skip, Stay

    kinds = {Stay.model_fields["kind"].default, Skip.model_fields["kind"].default}
    assert kinds == {"stay", "skip"}
    adapter = TypeAdapter(Action)
    for name in ENGAGEMENT_ACTIONS:
        with pytest.raises(ValidationError):
            adapter.validate_python({"kind": name, "dwell_s": 1.0})


def test_the_built_in_feed_has_no_engagement_endpoint_and_records_none(feed_server):
    """http, playwright and appium-web all talk to this server: nothing there to like."""
    import dataclasses

    import httpx

    from valuespectrum.environments.guard import ENGAGEMENT_ACTIONS
    from valuespectrum.feed.recommenders import WatchEvent

    with httpx.Client(base_url=feed_server.url, timeout=10) as client:
        for name in ENGAGEMENT_ACTIONS:
            for path in (f"/api/{name}", f"/api/items/x/{name}"):
                assert client.post(path, json={"session": "s"}).status_code in (404, 405)
        session = client.post("/api/session", json={"session": "sec", "style": "tiktok"})
        assert session.status_code == 200, session.text
        item = client.get("/api/next", params={"session": "sec"}).json()
        r = client.post("/api/events", json={
            "session": "sec", "item_id": item["item_id"], "watched_s": 1.0,
            "liked": True, "comment": "nice", "follow": True, "share": True})
        assert r.status_code == 200 and set(r.json()) == {
            "item_id", "watch_ratio", "watched_s", "skipped", "t_s"}
    fields = {f.name for f in dataclasses.fields(WatchEvent)}
    assert not [f for f in fields if any(a in f for a in ENGAGEMENT_ACTIONS)]


async def test_an_environment_refuses_a_foreign_action_and_sends_nothing(feed_server):
    from valuespectrum.environments.spec import EnvironmentSpec, build_environment
    from valuespectrum.types import Stay

    class Like:  # what an agent might try to slip in: not an Action
        kind = "like"

    env = await build_environment(EnvironmentSpec(kind="http", feed_url=feed_server.url,
                                                  session_id="foreign"))
    async with env:
        await env.reset(seed=1)
        with pytest.raises((TypeError, AttributeError, ValueError)):
            await env.act(Like())
        assert feed_server.platform.history("foreign")["events"] == []
        await env.act(Stay(dwell_s=1.0))  # the environment still works
        assert len(feed_server.platform.history("foreign")["events"]) == 1

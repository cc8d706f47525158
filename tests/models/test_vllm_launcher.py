"""The vllm: launcher on CPU: the scripted OpenAI test server stands in for `vllm serve`."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from valuespectrum.models import BackendUnavailable, ModelSpec, build_backend
from valuespectrum.models.spec import VllmOptions
from valuespectrum.models.vllm import VllmBackend, vllm_command
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy
from valuespectrum.types import GenerateConfig, Message

SERVER = str(Path(__file__).with_name("openai_test_server.py"))


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    """These tests are about the launcher a backend owns; whether the test process happens to
    be connected to Ray (then servers are shared actors, see test_model_ray_shared) must not
    change the path they take."""
    monkeypatch.setattr("valuespectrum.models.vllm.ray_ready", lambda: False)

def fake_vllm(*extra: str, **opts) -> dict:
    """A vllm: spec whose server command runs the test server instead of `vllm serve`."""
    command = [sys.executable, SERVER, "--host", "{host}", "--port", "{port}", "--model", "{model}",
               *extra]
    return {"spec": "vllm:Qwen/Qwen2-VL-2B-Instruct", "backoff_s": 0.01,
            "vllm": {"command": command, "num_gpus": 0, "startup_timeout_s": 30, **opts}}

def test_real_command_line_has_image_limit_and_length():
    cmd = vllm_command("Qwen/Qwen2-VL-7B-Instruct", "0.0.0.0", 8011,
                       VllmOptions(max_images=2, max_model_len=4096, gpu_memory_utilization=0.85,
                                   extra_args=("--dtype", "bfloat16")))
    assert cmd[:3] == ["vllm", "serve", "Qwen/Qwen2-VL-7B-Instruct"]
    assert cmd[cmd.index("--limit-mm-per-prompt") + 1] == '{"image": 2}'
    assert cmd[cmd.index("--max-model-len") + 1] == "4096"
    assert cmd[cmd.index("--port") + 1] == "8011"
    assert cmd[-2:] == ["--dtype", "bfloat16"] and "--gpu-memory-utilization" in cmd

async def test_launches_health_checks_serves_and_stops(make_obs):
    backend = build_backend(fake_vllm("--reply", "Yes, served by the launcher.", "--startup-delay", "0.5"))
    owner = PersonaLibrary("personas").get("pet_owner")
    decision = await make_strategy("simple").decide(make_obs("puppy"), owner, backend)
    assert decision.yes is True
    assert decision.answers["interested"] == "Yes, served by the launcher."
    (server,) = backend.unwrap()._local
    pid = server.proc.pid
    await backend.aclose()
    await asyncio.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

async def test_startup_failure_is_fatal_with_the_log():
    spec = {"spec": "vllm:m", "vllm": {"num_gpus": 0, "command": [
        sys.executable, "-c", "import sys; print('RuntimeError: No CUDA GPUs are available'); sys.exit(1)"]}}
    backend = build_backend(spec)
    with pytest.raises(BackendUnavailable, match=r"(?s)exited with code 1.*No CUDA GPUs"):
        await backend.generate([], GenerateConfig())
    await backend.aclose()

async def test_dead_server_is_fatal_not_retried(make_obs):
    backend = build_backend(fake_vllm("--exit-after", "2"))
    owner = PersonaLibrary("personas").get("pet_owner")
    strategy = make_strategy("simple")
    assert (await strategy.decide(make_obs("puppy"), owner, backend)).yes is True
    await asyncio.sleep(2.5)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(BackendUnavailable, match=r"vLLM server died \(exit code 3\)"):
        await strategy.decide(make_obs("kitten"), owner, backend)
    assert loop.time() - t0 < 2.0
    await backend.aclose()

async def test_attach_to_running_server_by_url(openai_server):
    openai_server.model = "Qwen/Qwen2-VL-2B-Instruct"
    backend = build_backend({"spec": "vllm:Qwen/Qwen2-VL-2B-Instruct", "base_url": openai_server.url})

    c = await backend.generate([Message.text("user", "hi")], GenerateConfig())
    assert c.text == "Yes, I like it." and c.usage.cost_usd == 0.0
    await backend.aclose()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    backend = VllmBackend(ModelSpec.parse({"spec": "vllm:m", "base_url": dead}))
    with pytest.raises(BackendUnavailable, match="no vLLM server answers"):
        await backend.generate([Message.text("user", "hi")], GenerateConfig())

#: Local weights for the GPU test (GPU nodes without a hub mirror); unset: the hub id below.
MODEL_PATH_ENV = "VSPEC_VLLM_MODEL_PATH"


@pytest.mark.gpu
async def test_real_vllm_serve_on_gpu(feed_server):  # pragma: no cover - GPU nodes only
    from valuespectrum.environments.spec import EnvironmentSpec, build_environment

    model = os.environ.get(MODEL_PATH_ENV) or "Qwen/Qwen2-VL-2B-Instruct"
    if os.environ.get(MODEL_PATH_ENV) and not Path(model).is_dir():
        pytest.fail(f"{MODEL_PATH_ENV}={model} is not a directory of model weights")
    # a real rendered post: the feed renderer's PNG of a corpus image with its caption
    env = await build_environment(EnvironmentSpec(kind="http", feed_url=feed_server.url,
                                                  session_id="gpu-test"))
    async with env:
        obs = await env.reset(seed=0)
    assert obs.screenshot_png.startswith(b"\x89PNG")
    backend = build_backend({"spec": f"vllm:{model}",
                             "vllm": {"max_model_len": 4096, "num_gpus": 1}})
    owner = PersonaLibrary("personas").get("pet_owner")
    try:
        decision = await make_strategy("simple").decide(obs, owner, backend)
    finally:
        await backend.aclose()
    # parsed: a yes or a no from the model's own words, not an invalid reply
    assert decision.error is None, decision
    assert decision.yes in (True, False), decision.answers
    assert decision.answers["interested"].strip()
    assert decision.usage.input_tokens > 0

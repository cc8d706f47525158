"""ModelSpec parsing, labels, prices and the registry's choice of stack."""

from __future__ import annotations

import pickle
import time

import pytest

from valuespectrum.config import ConfigError
from valuespectrum.models import ModelSpec, ScriptedBackend, build_backend
from valuespectrum.models.cache import CachedBackend
from valuespectrum.models.wrappers import MeteredBackend, RetryingBackend
from valuespectrum.types import GenerateConfig, Message


@pytest.mark.parametrize(("text", "label", "provider"), [
    ("openai:gpt-4o", "gpt-4o", "openai"),
    ("vllm:Qwen/Qwen2-VL-7B-Instruct", "Qwen2-VL-7B-Instruct", "vllm"),
    ("embed:minilm", "embed-minilm", "embed"),
    ("embed:clip:ViT-B-32/laion2b_s34b_b79k", "embed-clip-ViT-B-32-laion2b_s34b_b79k", "embed"),
    ("random:0.5", "random-0.5", "random"),
    ("always:yes", "always-yes", "always"),
    ("gemini:gemini-1.5-pro", "gemini-1.5-pro", "gemini"),
])
def test_parse_and_label(text, label, provider):
    spec = ModelSpec.parse(text)
    assert (spec.label, spec.provider) == (label, provider)
    assert pickle.loads(pickle.dumps(spec)) == spec


@pytest.mark.parametrize(("value", "message"), [
    ("gpt-4o", "expected 'provider:model'"),
    ("foo:bar", "unknown provider 'foo'"),
    ("random:1.5", "probability between 0 and 1"),
    ("always:maybe", "always:yes"),
    ("embed:bert", "expected 'minilm', 'minilm-percentile' or 'clip:<arch>"),
    ("clip:ViT-B-32", "unknown provider 'clip'"),
    ({"spec": "openai:gpt-4o", "api_key": "sk-123"}, "api_key: unknown field"),
    ({"spec": "openai:gpt-4o", "retries": -1}, "retries"),
    (42, "expected a string"),
])
def test_parse_errors_name_the_problem(value, message):
    with pytest.raises(ConfigError, match=message):
        ModelSpec.parse(value, source="exp.yaml")


def test_prices_from_table_and_override():
    assert ModelSpec.parse("openai:gpt-4o-2024-08-06").resolved_price().input_per_mtok == 2.5
    assert ModelSpec.parse("openai:gpt-4o-mini").resolved_price().output_per_mtok == 0.6
    assert ModelSpec.parse("vllm:Qwen/Qwen2-VL-7B-Instruct").resolved_price().cost(10**6, 10**6) == 0
    assert ModelSpec.parse("openai:unknown-model").resolved_price() is None
    spec = ModelSpec.parse({"spec": "openai:gpt-4o", "price": {"input_per_mtok": 1, "output_per_mtok": 2}})
    assert spec.resolved_price().cost(1_000_000, 500_000) == pytest.approx(2.0)


def test_provider_presets_hold_only_env_var_names():
    spec = ModelSpec.parse("anthropic:claude-3-5-sonnet-latest")
    assert spec.endpoint == "https://api.anthropic.com/v1"
    assert spec.key_env() == "ANTHROPIC_API_KEY"
    custom = ModelSpec.parse({"spec": "openai:qwen-vl-plus", "api_key_env": "DASHSCOPE_API_KEY",
                              "base_url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"})
    assert custom.key_env() == "DASHSCOPE_API_KEY"


def test_stack_for_api_models_and_baselines(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy")
    api = build_backend("openai:gpt-4o", cache_dir=tmp_path)
    assert isinstance(api, CachedBackend) and api.find(MeteredBackend) and api.find(RetryingBackend)
    baseline = build_backend("random:0.5", cache_dir=tmp_path)
    assert type(baseline).__name__ == "RandomViewer", "baselines skip retry/rate limit/cache"
    assert not isinstance(build_backend("openai:gpt-4o"), CachedBackend), "no cache_dir, no cache"


async def test_scripted_double_from_registry_with_fixed_latency():
    backend = build_backend({"spec": "scripted:yes", "params": {"replies": ["Yes.", "No."],
                                                                "latency_s": 0.2}})
    assert isinstance(backend, ScriptedBackend)
    t0 = time.perf_counter()
    texts = [(await backend.generate([Message.text("user", "q")], GenerateConfig())).text
             for _ in range(3)]
    assert texts == ["Yes.", "No.", "Yes."] and backend.calls == 3
    assert time.perf_counter() - t0 >= 0.6
    with pytest.raises(ConfigError, match="unknown params"):
        build_backend({"spec": "scripted:x", "params": {"latency": 1}})


def test_every_provider_has_a_factory_and_nothing_else_does():
    from valuespectrum.models.providers import PROVIDERS
    from valuespectrum.models.registry import FACTORIES

    assert set(FACTORIES) == set(PROVIDERS)


def test_validation_reads_the_provider_registry():
    from valuespectrum.models.providers import PROVIDERS

    for name, p in PROVIDERS.items():
        target = {"random": "0.5", "always": "yes", "embed": "minilm", "ocr": "minilm"}.get(name, "m")
        spec = ModelSpec.parse(f"{name}:{target}")
        assert spec.kind == p.kind and spec.is_baseline == p.local
        assert (spec.resolved_price() is not None) == (p.kind != "api") or p.kind == "api"
    with pytest.raises(ConfigError, match="expected one of " + ", ".join(PROVIDERS)):
        ModelSpec.parse("nope:x")

"""The OpenAI backend and its wrappers against a real local HTTP server."""

from __future__ import annotations

import base64
import logging
import math
import time

import pytest

from valuespectrum.models import (
    BackendUnavailable,
    BudgetExceeded,
    SharedBudget,
    TransientBackendError,
    build_backend,
)
from valuespectrum.models.cache import CachedBackend
from valuespectrum.models.wrappers import MeteredBackend, RetryingBackend
from valuespectrum.personas import PersonaLibrary
from valuespectrum.strategies import make_strategy
from valuespectrum.types import GenerateConfig, ImagePart, Message, TextPart

FAST = {"backoff_s": 0.01, "backoff_max_s": 2.0}


def spec_for(server, **extra):
    return {"spec": "openai:test-model", "base_url": server.url, **FAST, **extra}


@pytest.fixture
def pet_owner():
    return PersonaLibrary("personas").get("pet_owner")


async def test_image_sent_as_data_url_and_usage_counted(openai_server):
    backend = build_backend(spec_for(openai_server, price={"input_per_mtok": 1e6, "output_per_mtok": 0}))
    msg = Message(role="user", content=(ImagePart(png=b"\x89PNGdata", alt_text="SECRET ALT"),
                                        TextPart(text="Is this content interesting?")))
    completion = await backend.generate([Message.text("system", "ctx"), msg], GenerateConfig())
    await backend.aclose()
    body = openai_server.requests[0]
    user = body["messages"][1]["content"]
    assert user[0]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(b"\x89PNGdata").decode()
    assert "SECRET ALT" not in str(body), "alt_text must never reach an API VLM"
    assert completion.text == "Yes, I like it."
    assert completion.usage.input_tokens == 1 + 85 + 4
    assert completion.usage.cost_usd == pytest.approx(completion.usage.input_tokens)


async def test_retries_429_and_500_honouring_retry_after(openai_server):
    openai_server.script.extend([{"status": 429, "retry_after": 0.4}, {"status": 500},
                                 {"reply": "No."}])
    backend = build_backend(spec_for(openai_server))
    t0 = time.perf_counter()
    completion = await backend.generate([Message.text("user", "hi")], GenerateConfig())
    elapsed = time.perf_counter() - t0
    assert completion.text == "No."
    assert len(openai_server.requests) == 3
    assert elapsed >= 0.4, "Retry-After was not honoured"
    assert backend.find(RetryingBackend).retried == 2
    await backend.aclose()


async def test_timeout_is_retried(openai_server):
    openai_server.script.extend([{"delay": 1.5, "reply": "late"}, {"reply": "on time"}])
    backend = build_backend(spec_for(openai_server))
    completion = await backend.generate([Message.text("user", "hi")], GenerateConfig(timeout_s=0.3))
    assert completion.text == "on time"
    assert len(openai_server.requests) == 2
    await backend.aclose()


async def test_the_model_spec_timeout_abandons_a_hang_and_a_call_timeout_overrides_it(
        openai_server):
    openai_server.script.extend([{"delay": 1.5, "reply": "late"}, {"reply": "on time"}])
    backend = build_backend(spec_for(openai_server, timeout_s=0.3))
    t0 = time.perf_counter()
    completion = await backend.generate([Message.text("user", "hi")], GenerateConfig())
    assert completion.text == "on time"
    assert len(openai_server.requests) == 2
    assert time.perf_counter() - t0 < 1.4, "the spec's 0.3 s timeout was not used"
    # a call that sets its own timeout waits that long instead
    openai_server.script.append({"delay": 0.6, "reply": "slow but in time"})
    completion = await backend.generate([Message.text("user", "again")],
                                        GenerateConfig(timeout_s=5.0))
    assert completion.text == "slow but in time"
    assert len(openai_server.requests) == 3
    await backend.aclose()


async def test_gives_up_after_bounded_retries(openai_server):
    openai_server.script.extend([{"status": 503}] * 10)
    backend = build_backend(spec_for(openai_server, retries=2))
    with pytest.raises(TransientBackendError, match="HTTP 503"):
        await backend.generate([Message.text("user", "hi")], GenerateConfig())
    assert len(openai_server.requests) == 3
    await backend.aclose()


async def test_dead_endpoint_is_fatal_without_retrying():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = build_backend({"spec": "openai:m", "base_url": f"http://127.0.0.1:{port}/v1",
                             "backoff_s": 5.0})
    t0 = time.perf_counter()
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}.*cannot connect"):
        await backend.generate([Message.text("user", "hi")], GenerateConfig())
    assert time.perf_counter() - t0 < 2.0, "a dead endpoint must fail fast, not back off"
    await backend.aclose()


async def test_missing_api_key_variable_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("VSPEC_NO_SUCH_KEY", raising=False)
    with pytest.raises(BackendUnavailable, match="VSPEC_NO_SUCH_KEY is not set"):
        build_backend({"spec": "openai:gpt-4o", "api_key_env": "VSPEC_NO_SUCH_KEY"})


async def test_json_schema_rejected_falls_back_to_prompt(openai_server, make_obs, pet_owner):
    openai_server.reject_json_schema = True
    openai_server.default_reply = ('{"visual_appeal": 9, "curiosity": 8, "emotional_engagement": 9,'
                                   ' "value_expectation": 7, "preference_alignment": "yes",'
                                   ' "action_desire": "yes"}')
    backend = build_backend(spec_for(openai_server))
    decision = await make_strategy("isq").decide(make_obs("puppy"), pet_owner, backend)
    assert "response_format" in openai_server.requests[0]
    assert "response_format" not in openai_server.requests[1]
    assert "JSON schema" in str(openai_server.requests[1]["messages"][-1])
    assert decision.yes is True and decision.score == pytest.approx(53 / 60 * 100)
    assert backend.supports_json_schema is False
    await backend.aclose()


async def test_isq_json_schema_sent_when_supported(openai_server, make_obs, pet_owner):
    openai_server.default_reply = ('```json\n{"visual_appeal": 3, "curiosity": 2, "emotional_engagement": 2,'
                                   ' "value_expectation": 3, "preference_alignment": "no",'
                                   ' "action_desire": "no"}\n```')
    backend = build_backend(spec_for(openai_server))
    decision = await make_strategy("isq").decide(make_obs("stock chart"), pet_owner, backend)
    fmt = openai_server.requests[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert set(fmt["json_schema"]["schema"]["required"]) >= {"visual_appeal", "action_desire"}
    assert decision.yes is False and decision.isq.preference_alignment is False
    await backend.aclose()


async def test_rerun_from_cache_makes_zero_calls(openai_server, make_obs, pet_owner, tmp_path):
    posts = [make_obs("puppy", "dogs"), make_obs("stock market"), make_obs("kitten")]
    openai_server.script.extend([{"reply": "Yes."}, {"reply": "No."}, {"reply": "Yes!"}])
    strategy = make_strategy("simple")
    first = build_backend(spec_for(openai_server), cache_dir=tmp_path)
    run1 = [await strategy.decide(o, pet_owner, first) for o in posts]
    await first.aclose()
    assert len(openai_server.requests) == 3
    again = build_backend(spec_for(openai_server), cache_dir=tmp_path)  # a fresh process would do this
    run2 = [await strategy.decide(o, pet_owner, again) for o in posts]
    assert len(openai_server.requests) == 3, "a rerun must be served from the cache"
    assert [d.yes for d in run2] == [d.yes for d in run1] == [True, False, True]
    assert all(d.cached for d in run2) and not any(d.cached for d in run1)
    assert again.find(CachedBackend).hits == 3
    # a different image is a different request
    await strategy.decide(make_obs("puppy", "dogs", png=b"other pixels"), pet_owner, again)
    assert len(openai_server.requests) == 4
    await again.aclose()


async def test_api_key_never_in_cache_records_or_logs(openai_server, make_obs, pet_owner, tmp_path,
                                                      monkeypatch, caplog):
    secret = "sk-test-SECRET-1234567890"
    monkeypatch.setenv("VSPEC_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    openai_server.script.extend([{"status": 429, "retry_after": 0}, {"reply": "Yes."}])
    spec = spec_for(openai_server, api_key_env="VSPEC_TEST_KEY")
    backend = build_backend(spec, cache_dir=tmp_path)
    decision = await make_strategy("simple").decide(make_obs("puppy"), pet_owner, backend)
    await backend.aclose()
    assert openai_server.headers[-1]["authorization"] == f"Bearer {secret}"  # it was used...
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert stored and secret.encode() not in stored  # ...but never stored
    assert secret not in decision.model_dump_json()
    assert secret not in caplog.text


async def test_budget_stops_new_calls(openai_server, make_obs, pet_owner):
    # every call costs the same c (same prompt); the cap lets exactly ceil(cap / c) calls start
    budget = SharedBudget(0.3, name="test-run")
    backend = build_backend(spec_for(openai_server, price={"input_per_mtok": 1000, "output_per_mtok": 0}),
                            budget=budget)
    strategy = make_strategy("simple")
    made = 0
    with pytest.raises(BudgetExceeded, match="budget 'test-run' exhausted"):
        for _ in range(10):
            await strategy.decide(make_obs("puppy"), pet_owner, backend)
            made += 1
    snap = await budget.snapshot()
    per_call = snap["spent_usd"] / snap["calls"]
    assert made == math.ceil(0.3 / per_call) == len(openai_server.requests) >= 2
    assert snap["spent_usd"] >= 0.3 > snap["spent_usd"] - per_call
    assert backend.find(MeteredBackend).usage.cost_usd == pytest.approx(snap["spent_usd"])
    await backend.aclose()


async def test_malformed_answer_is_reasked_then_invalid(openai_server, make_obs, pet_owner):
    backend = build_backend(spec_for(openai_server))
    strategy = make_strategy("simple")
    openai_server.script.extend([{"reply": "The picture shows a chart."}, {"reply": "**No**"}])
    d = await strategy.decide(make_obs("chart"), pet_owner, backend)
    assert d.yes is False and d.answers["interested_retry"] == "**No**"
    assert "Yes or No" in str(openai_server.requests[-1]["messages"][-1])
    openai_server.script.extend([{"reply": "Hmm."}, {"reply": "It depends."}])
    d = await strategy.decide(make_obs("chart 2"), pet_owner, backend)
    assert d.yes is None and d.error == "invalid"
    assert d.answers == {"interested": "Hmm.", "interested_retry": "It depends."}
    await backend.aclose()


async def test_malformed_http_body_is_retried(openai_server):
    openai_server.script.extend([{"status": 502}, {"raw": "not json"},
                                 {"raw": '{"choices": 5}'}, {"reply": "Yes."}])
    backend = build_backend(spec_for(openai_server))
    assert (await backend.generate([Message.text("user", "x")], GenerateConfig())).text == "Yes."
    assert len(openai_server.requests) == 4
    await backend.aclose()


@pytest.mark.parametrize("fault", ["429", "500", "503", "reset", "hang", "malformed"])
async def test_each_chaos_fault_is_retried_and_the_answer_is_unchanged(openai_server, fault):
    from openai_test_server import FAULTS

    openai_server.script.extend([FAULTS[fault](1.0), {"reply": "No."}])
    backend = build_backend(spec_for(openai_server))
    completion = await backend.generate([Message.text("user", "x")], GenerateConfig(timeout_s=0.3))
    assert completion.text == "No."
    assert len(openai_server.requests) == 2
    assert backend.find(RetryingBackend).retried == 1
    await backend.aclose()


async def test_a_reset_connection_is_not_a_dead_endpoint(openai_server):
    openai_server.script.extend([{"reset": True}] * 3)
    backend = build_backend(spec_for(openai_server, retries=2))
    with pytest.raises(TransientBackendError, match="connection lost mid-request"):
        await backend.generate([Message.text("user", "x")], GenerateConfig())
    assert len(openai_server.requests) == 3  # retried, then given up: the step is invalid
    await backend.aclose()


async def test_empty_answers_are_reasked_then_invalid_never_no(openai_server, make_obs, pet_owner):
    backend = build_backend(spec_for(openai_server))
    openai_server.script.extend([{"reply": ""}, {"reply": "No."}, {"reply": ""}, {"reply": ""}])
    strategy = make_strategy("simple")
    d = await strategy.decide(make_obs("chart"), pet_owner, backend)
    assert d.yes is False and d.answers == {"interested": "", "interested_retry": "No."}
    d = await strategy.decide(make_obs("chart 2"), pet_owner, backend)
    assert d.yes is None and d.error == "invalid"
    await backend.aclose()


async def test_seeded_chaos_injects_every_kind_and_every_call_still_answers(openai_server):
    openai_server.chaos(0.5, seed=3, kinds=("429", "500", "503", "reset", "hang", "malformed"),
                        hang_s=1.0)
    backend = build_backend(spec_for(openai_server, retries=8, backoff_max_s=0.5))
    for i in range(24):
        c = await backend.generate([Message.text("user", f"q{i}")], GenerateConfig(timeout_s=0.3))
        assert c.text == "Yes, I like it."
    assert set(openai_server.faults) == {"429", "500", "503", "reset", "hang", "malformed"}
    assert len(openai_server.requests) == 24 + sum(openai_server.faults.values())
    await backend.aclose()


async def test_rate_limit_paces_requests(openai_server):
    backend = build_backend(spec_for(openai_server, rate_limit_rpm=600))  # 10 per second
    t0 = time.perf_counter()
    for i in range(5):
        await backend.generate([Message.text("user", f"q{i}")], GenerateConfig())
    assert time.perf_counter() - t0 >= 0.38
    await backend.aclose()


async def test_extra_params_reach_the_body_and_quota_429_is_fatal(openai_server):
    backend = build_backend(spec_for(openai_server, params={"top_k": 5, "top_p": 0.9}))
    await backend.generate([Message.text("user", "x")], GenerateConfig(max_tokens=17))
    body = openai_server.requests[-1]
    assert (body["top_k"], body["top_p"], body["max_tokens"]) == (5, 0.9, 17)
    openai_server.script.append({"status": 429, "message": "You exceeded your current quota",
                                 "code": "insufficient_quota"})
    with pytest.raises(BackendUnavailable, match="quota exhausted"):
        await backend.generate([Message.text("user", "y")], GenerateConfig())
    assert len(openai_server.requests) == 2, "a quota error must not be retried"
    await backend.aclose()

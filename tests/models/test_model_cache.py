"""The persistent response cache: keys, hits, and several processes on one file."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from valuespectrum.models import ScriptedBackend
from valuespectrum.models.cache import CachedBackend, cache_key
from valuespectrum.types import GenerateConfig, ImagePart, Message, TextPart


def msgs(png: bytes, question: str = "Interesting?") -> list[Message]:
    return [Message.text("system", "persona"),
            Message(role="user", content=(ImagePart(png=png), TextPart(text=question)))]


def test_key_covers_model_images_and_params_but_not_timeout():
    ns = {"spec": "openai:gpt-4o", "endpoint": "https://api.openai.com/v1", "params": {}}
    base = cache_key(ns, msgs(b"a"), GenerateConfig())
    assert cache_key(ns, msgs(b"a"), GenerateConfig(timeout_s=5)) == base
    assert cache_key(ns, msgs(b"b"), GenerateConfig()) != base
    assert cache_key(ns, msgs(b"a", "Other?"), GenerateConfig()) != base
    assert cache_key(ns, msgs(b"a"), GenerateConfig(temperature=0.7)) != base
    assert cache_key(ns, msgs(b"a"), GenerateConfig(json_schema={"type": "object"})) != base
    assert cache_key({**ns, "spec": "openai:gpt-4o-mini"}, msgs(b"a"), GenerateConfig()) != base


async def test_hit_returns_the_stored_reply_marked_cached(tmp_path):
    inner = ScriptedBackend(["first", "second"])
    cached = CachedBackend(inner, tmp_path / "c.sqlite", {"spec": "scripted:x"})
    a = await cached.generate(msgs(b"a"), GenerateConfig())
    b = await cached.generate(msgs(b"a"), GenerateConfig())
    assert (a.text, a.cached, b.text, b.cached, inner.calls) == ("first", False, "first", True, 1)
    await cached.aclose()


async def test_hit_costs_nothing_and_does_not_charge_the_budget(tmp_path, openai_server):
    from valuespectrum.models import SharedBudget, build_backend

    budget = SharedBudget(10.0, "cache-hit-run")
    spec = {"spec": "openai:test-model", "base_url": openai_server.url,
            "price": {"input_per_mtok": 100_000, "output_per_mtok": 0}}
    backend = build_backend(spec, cache_dir=tmp_path, budget=budget)
    first = await backend.generate(msgs(b"a"), GenerateConfig())
    spent = (await budget.snapshot())["spent_usd"]
    hit = await backend.generate(msgs(b"a"), GenerateConfig())
    await backend.aclose()
    assert first.usage.cost_usd > 0 and spent == first.usage.cost_usd
    assert (hit.cached, hit.usage.cost_usd) == (True, 0.0)
    assert hit.usage.input_tokens == first.usage.input_tokens  # tokens of the stored reply stay
    assert (await budget.snapshot())["spent_usd"] == spent and len(openai_server.requests) == 1


def test_several_processes_share_one_cache_file(tmp_path):
    script = textwrap.dedent(f"""
        import asyncio, sys
        from valuespectrum.models import build_backend
        from valuespectrum.types import GenerateConfig, Message
        async def main(offset):
            b = build_backend({{"spec": "scripted:ok", "cache": True}}, cache_dir={str(tmp_path)!r})
            for i in range(offset, offset + 60):
                c = await b.generate([Message.text("user", f"q{{i}}")], GenerateConfig())
                assert c.text == "ok"
            print(b.hits, b.misses)
            await b.aclose()
        asyncio.run(main(int(sys.argv[1])))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(off)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for off in (0, 30)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-800:] for o in outs]
    import sqlite3

    rows = sqlite3.connect(tmp_path / "responses.sqlite").execute(
        "SELECT COUNT(*) FROM responses").fetchone()[0]
    assert rows == 90  # q0..q89, the overlap q30..q59 stored once

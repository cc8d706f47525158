"""`CachedBackend`: a persistent response cache (sqlite) shared by processes on one machine.

The key is a hash of the model, its endpoint, its extra request parameters, the messages
(images by content hash) and the generation parameters (not the timeout). API keys are
never part of it. A rerun of a finished job is served entirely from the cache.

A hit costs nothing: it returns ``cached=True`` and ``cost_usd=0.0`` (the input/output token
counts are those the stored reply had), and it never reaches the metering layer below, so
it does not touch the budget.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from valuespectrum.models.base import Backend, BackendWrapper
from valuespectrum.types import Completion, GenerateConfig, ImagePart, Message, Usage

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(namespace: dict[str, Any], messages: Sequence[Message], config: GenerateConfig) -> str:
    """Stable hash of everything that determines a reply."""
    msgs = [
        {"role": m.role, "content": [
            {"image": p.sha256, "alt": p.alt_text} if isinstance(p, ImagePart) else {"text": p.text}
            for p in m.content
        ]}
        for m in messages
    ]
    payload = {"ns": namespace, "messages": msgs,
               "config": config.model_dump(exclude={"timeout_s"}, mode="json")}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()



def _locked(e: BaseException) -> bool:
    return isinstance(e, sqlite3.OperationalError) and "locked" in str(e)

class CachedBackend(BackendWrapper):
    """Serves repeated requests from an sqlite file; misses go to the inner backend.

    Args:
        inner: The backend to call on a miss.
        path: sqlite file (created with its directory); WAL mode lets several processes
            read and write it at once.
        namespace: What identifies the model (spec, endpoint, extra params); part of the key.

    Attributes:
        hits, misses: Counters for this instance.
    """

    def __init__(self, inner: Backend, path: str | Path, namespace: dict[str, Any]) -> None:
        super().__init__(inner)
        self.path = Path(path)
        self.namespace = namespace
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                 check_same_thread=False)
            # Switching to WAL can fail with "database is locked" without waiting on the busy
            # timeout when several processes open a new file at once: retry briefly (100
            # attempts, 0.05 s apart).
            try:
                for attempt in Retrying(retry=retry_if_exception(_locked),
                                        stop=stop_after_attempt(100), wait=wait_fixed(0.05),
                                        reraise=True):
                    with attempt:
                        db.execute("PRAGMA journal_mode=WAL")
                        db.execute("PRAGMA synchronous=NORMAL")
                        db.execute(SCHEMA)
            except sqlite3.OperationalError:
                db.close()
                raise
            self._db = db
        return self._db

    def lookup(self, key: str) -> Completion | None:
        row = self._conn().execute(
            "SELECT model, text, input_tokens, output_tokens, cost_usd FROM responses WHERE key=?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        model, text, tin, tout, _cost = row  # the stored cost is what the first call paid
        # A hit costs nothing: cost_usd is 0. The token counts stay those of the stored reply
        # (they describe its size, not tokens spent now); `cached=True` tells them apart.
        return Completion(text=text, model=model, cached=True,
                          usage=Usage(input_tokens=tin, output_tokens=tout, cost_usd=0.0))

    def store(self, key: str, completion: Completion) -> None:
        u = completion.usage
        self._conn().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, completion.model, completion.text, u.input_tokens, u.output_tokens,
             u.cost_usd, time.time()),
        )

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        t0 = time.perf_counter()
        key = cache_key(self.namespace, messages, config)
        hit = self.lookup(key)
        if hit is not None:
            self.hits += 1
            return hit.model_copy(update={"latency_s": time.perf_counter() - t0})
        self.misses += 1
        completion = await self.inner.generate(messages, config)
        self.store(key, completion)
        return completion

    async def aclose(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        await self.inner.aclose()

"""`ScriptedBackend`: a TEST DOUBLE that replies from a script, selected as ``scripted:...``.

It lets the whole pipeline (strategies, agents, runner, benchmarks) run without a model:
replies come from a list (cycled), a callable, or one constant text; an optional fixed
latency stands in for a real model's response time.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from valuespectrum.types import Completion, GenerateConfig, Message, Usage

Reply = str | BaseException
ReplyFn = Callable[[Sequence[Message], GenerateConfig], Reply | Awaitable[Reply]]


class ScriptedBackend:
    """Test double: answers from a script and counts its calls.

    Args:
        replies: A list of replies used in turn (cycled), a callable
            ``(messages, config) -> str`` (sync or async), or one string. A reply that is an
            exception instance is raised instead (to script failures).
        latency_s: Fixed delay before each reply (e.g. 0.5 s for parallel-efficiency tests).
        name: Backend name reported in completions.
        supports_json_schema: What the double claims, so strategies pick JSON or turns.
        keep_requests: How many of the latest requests to keep (None: all). A run keeps
            few: every request holds its screenshot.

    Attributes:
        calls: Number of `generate` calls so far.
        requests: The (messages, config) of every call (the latest `keep_requests`), in order.
    """

    def __init__(self, replies: Sequence[Reply] | ReplyFn | str = "Yes.", *, latency_s: float = 0.0,
                 name: str = "scripted", supports_json_schema: bool = False,
                 keep_requests: int | None = None) -> None:
        if isinstance(replies, str | BaseException):
            replies = [replies]
        if not callable(replies) and len(replies) == 0:
            raise ValueError("ScriptedBackend needs at least one reply")
        self._replies = replies
        self.latency_s = latency_s
        self.name = name
        self.supports_json_schema = supports_json_schema
        self.calls = 0
        self.requests: deque[tuple[tuple[Message, ...], GenerateConfig]] = deque(
            maxlen=keep_requests)
        self.closed = False

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        t0 = time.perf_counter()
        index = self.calls
        self.calls += 1
        self.requests.append((tuple(messages), config))
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)
        if callable(self._replies):
            reply = self._replies(messages, config)
            if inspect.isawaitable(reply):
                reply = await reply
        else:
            reply = self._replies[index % len(self._replies)]
        if isinstance(reply, BaseException):
            raise reply
        words_in = sum(len(m.text_content().split()) for m in messages)
        return Completion(
            text=str(reply), model=self.name,
            usage=Usage(input_tokens=words_in, output_tokens=len(str(reply).split())),
            latency_s=time.perf_counter() - t0,
        )

    async def aclose(self) -> None:
        self.closed = True

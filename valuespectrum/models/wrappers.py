"""Stackable wrappers: retry, rate limit and metering (the cache is in `cache.py`).

`build_backend` stacks them as ``Cached(Metered(Retrying(RateLimited(provider))))``: a
cache hit costs nothing and touches no budget; every retry attempt takes a rate-limit token.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from valuespectrum.models.base import Backend, BackendWrapper, TransientBackendError
from valuespectrum.models.shared import SharedBudget, SharedRateLimit
from valuespectrum.models.spec import Price
from valuespectrum.types import Completion, GenerateConfig, Message, Usage

log = logging.getLogger(__name__)


class RetryingBackend(BackendWrapper):
    """Retries transient failures (429, 5xx, timeouts) with exponential backoff and jitter.

    A server's ``Retry-After`` is honoured (capped at `backoff_max_s`); fatal errors
    (`BackendUnavailable`, `BudgetExceeded`, bad requests) are never retried.

    Args:
        inner: The backend to call.
        retries: Extra attempts after the first (0: no retry).
        backoff_s: First delay; doubles per attempt, plus up to `backoff_s` of jitter.
        backoff_max_s: Largest single delay.

    Attributes:
        retried: Number of retries made so far (for metrics and tests).
    """

    def __init__(self, inner: Backend, *, retries: int = 4, backoff_s: float = 1.0,
                 backoff_max_s: float = 60.0) -> None:
        super().__init__(inner)
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.retried = 0
        self._wait = self._make_wait()

    def _make_wait(self):
        from tenacity import wait_exponential_jitter
        from tenacity.wait import wait_base

        exponential = wait_exponential_jitter(
            multiplier=max(self.backoff_s, 1e-6), max=self.backoff_max_s, jitter=self.backoff_s
        )
        cap = self.backoff_max_s

        class WaitRetryAfter(wait_base):
            """Wait what the server asked for (plus a little jitter), else back off."""

            def __call__(self, retry_state) -> float:
                exc = retry_state.outcome.exception() if retry_state.outcome else None
                after = getattr(exc, "retry_after_s", None)
                if after is not None and after >= 0:
                    return min(cap, after + random.uniform(0, 0.1 * after + 0.01))
                return exponential(retry_state)

        return WaitRetryAfter()

    def _before_sleep(self, retry_state) -> None:
        self.retried += 1
        exc = retry_state.outcome.exception()
        log.warning("%s: attempt %d failed (%s); retrying in %.2fs", self.name,
                    retry_state.attempt_number, exc, retry_state.next_action.sleep)

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        if self.retries <= 0:
            return await self.inner.generate(messages, config)
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientBackendError),
            stop=stop_after_attempt(self.retries + 1),
            wait=self._wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self.inner.generate(messages, config)
        raise AssertionError("unreachable")  # pragma: no cover


class RateLimitedBackend(BackendWrapper):
    """Paces requests: a shared requests-per-minute bucket and a local concurrency cap.

    Args:
        inner: The backend to call.
        limit: Shared token bucket of the endpoint (None: no rate limit).
        max_concurrency: Requests in flight at once from this process (None: unlimited).
    """

    def __init__(self, inner: Backend, *, limit: SharedRateLimit | None = None,
                 max_concurrency: int | None = None) -> None:
        super().__init__(inner)
        self.limit = limit
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.waited_s = 0.0

    async def _paced(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        if self.limit is not None:
            delay = await self.limit.reserve()
            if delay > 0:
                self.waited_s += delay
                await asyncio.sleep(delay)
        return await self.inner.generate(messages, config)

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        if self._semaphore is None:
            return await self._paced(messages, config)
        async with self._semaphore:
            return await self._paced(messages, config)


class MeteredBackend(BackendWrapper):
    """Counts tokens and cost, and enforces the run's budget before each call.

    Args:
        inner: The backend to call.
        price: Per-1M-token prices (None: unknown, cost counted as 0 with a warning).
        budget: Shared budget; `BudgetExceeded` is raised before a call once it is spent.

    Attributes:
        usage: Tokens and cost of the calls made through this wrapper.
        calls: Number of completed calls.
    """

    def __init__(self, inner: Backend, *, price: Price | None,
                 budget: SharedBudget | None = None) -> None:
        super().__init__(inner)
        self.price = price
        self.budget = budget
        self.usage = Usage()
        self.calls = 0
        if price is None:
            log.warning("%s: no price known (add it to prices.yaml or the model spec); "
                        "cost is counted as 0 and a budget cannot stop it", inner.name)

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        if self.budget is not None:
            await self.budget.check()
        completion = await self.inner.generate(messages, config)
        u = completion.usage
        cost = self.price.cost(u.input_tokens, u.output_tokens) if self.price else 0.0
        completion = completion.model_copy(update={"usage": u.model_copy(update={"cost_usd": cost})})
        self.usage = self.usage + completion.usage
        self.calls += 1
        if self.budget is not None:
            await self.budget.charge(cost)
        return completion

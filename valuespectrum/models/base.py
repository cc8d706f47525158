"""The model backend protocol, its error classes and the base of stackable wrappers.

A backend turns a conversation (typed text and image parts) into a `Completion`. Real
providers, CPU baselines, the scripted test double and the wrappers (retry, rate limit,
cache, metering) all implement the same protocol, so they stack freely.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from valuespectrum.types import Completion, GenerateConfig, Message


@runtime_checkable
class Backend(Protocol):
    """Anything that answers a conversation.

    Attributes:
        name: Short identifier of the model behind the backend (e.g. ``openai:gpt-4o``).
        supports_json_schema: Whether ``GenerateConfig.json_schema`` is honoured (strategies
            ask for one structured reply when true, one question per turn otherwise).
    """

    name: str
    supports_json_schema: bool

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        """Answer the conversation `messages` with the generation parameters `config`."""
        ...

    async def aclose(self) -> None:
        """Release clients and connections (never a shared server); safe to call twice."""
        ...


class BackendError(RuntimeError):
    """A model call failed and retrying will not help (bad request, unknown model...)."""


class BackendUnavailable(BackendError):
    """The endpoint is dead, unreachable or refuses our credentials: fatal for the run.

    Raised instead of retrying forever; the message names the endpoint and the likely fix.
    """


class EndpointUnreachable(BackendUnavailable):
    """Nothing listens at the endpoint (connection refused, unknown host).

    A server of ours that died looks like this; `replicas.ReplicaPool` then asks whether it
    did, and sends the request to another replica.
    """


class TransientBackendError(BackendError):
    """A failure worth retrying (HTTP 5xx, timeouts, overload).

    Attributes:
        status_code: HTTP status when known.
        retry_after_s: Delay the server asked for (``Retry-After``), when given.
    """

    def __init__(self, message: str, *, status_code: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after_s = retry_after_s


class ConnectionLost(TransientBackendError):
    """The connection broke mid-request (reset or closed): worth a retry, or the server died."""


class RateLimited(TransientBackendError):
    """HTTP 429: the provider asks us to slow down (honouring ``Retry-After``)."""


class BackendTimeout(TransientBackendError):
    """The request did not complete within its timeout (``GenerateConfig.timeout_s``, else
    the model's ``ModelSpec.timeout_s``)."""


class BudgetExceeded(BackendError):
    """The run's spending cap is reached; no new paid calls are started."""


#: The backend-error policy every task follows (one place):
#: - these end the work at once (a dead endpoint, an exhausted budget): a sweep's trial ends
#:   and the run stops, a benchmark arm stops, a probe stops; the message says why;
#: - any other `BackendError` (retries exhausted, one bad request) is recorded on its step or
#:   answer as `backend_error_text(e)` with no decision, and the work goes on; a resume asks
#:   those again (`is_backend_error`).
STOPS_THE_RUN: tuple[type[BackendError], ...] = (BackendUnavailable, BudgetExceeded)

BACKEND_ERROR_PREFIX = "backend:"


def backend_error_text(err: BackendError) -> str:
    """The recorded error of a failed model call (a step's or an answer's `error`)."""
    return f"{BACKEND_ERROR_PREFIX} {type(err).__name__}: {err}"


def is_backend_error(error: str | None) -> bool:
    """Whether a recorded error is a failed model call (redone on resume)."""
    return str(error or "").startswith(BACKEND_ERROR_PREFIX)


class BackendWrapper:
    """Base of wrappers: delegates the protocol to an inner backend.

    Subclasses override `generate`; `name`, `supports_json_schema` and `aclose` pass through.
    """

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def supports_json_schema(self) -> bool:
        return bool(getattr(self.inner, "supports_json_schema", False))

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        return await self.inner.generate(messages, config)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def unwrap(self) -> Backend:
        """The innermost backend (the provider itself)."""
        inner = self.inner
        while isinstance(inner, BackendWrapper):
            inner = inner.inner
        return inner

    def find(self, kind: type) -> object | None:
        """The first layer of this stack (outermost first) that is an instance of `kind`."""
        layer: object = self
        while layer is not None:
            if isinstance(layer, kind):
                return layer
            layer = getattr(layer, "inner", None)
        return None

"""`OpenAIBackend`: chat completions through the `openai` client, against OpenAI or any
OpenAI-compatible endpoint (Anthropic, Gemini, DashScope/Qwen, a vLLM server...).

Images go as base64 PNG data URLs in ``image_url`` parts; `ImagePart.alt_text` is never
sent. The API key is read from an environment variable when the backend is built and
lives only inside the client: it is never logged, cached or recorded.
"""

from __future__ import annotations

import base64
import email.utils
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from valuespectrum.models.base import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ConnectionLost,
    EndpointUnreachable,
    RateLimited,
    TransientBackendError,
)
from valuespectrum.types import Completion, GenerateConfig, ImagePart, Message, Usage

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 425, 500, 502, 503, 504, 529}


def to_openai_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Our typed messages as chat-completions messages (text-only ones as plain strings)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role != "user" or not m.images():
            out.append({"role": m.role, "content": m.text_content()})
            continue
        parts: list[dict[str, Any]] = []
        for p in m.content:
            if isinstance(p, ImagePart):
                if not p.media_type:  # a spec error the sweep spec check should have caught
                    raise ValueError("this model reads images, but the environment took no "
                                     "screenshot (options.screenshot: none)")
                url = f"data:{p.media_type};base64," + base64.b64encode(p.png).decode("ascii")
                parts.append({"type": "image_url", "image_url": {"url": url}})
            else:
                parts.append({"type": "text", "text": p.text})
        out.append({"role": "user", "content": parts})
    return out


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (delta seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _connection_refused(err: BaseException) -> bool:
    """Whether a connection error means nothing listens there (refused, unknown host).

    A connection that was reset or closed mid-request (`ReadError`, `RemoteProtocolError`)
    is not: the server was there, and the request is worth retrying.
    """
    import httpx

    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, httpx.ConnectError | ConnectionRefusedError | socket.gaierror):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _json_rejected(err: Exception) -> bool:
    text = str(err).lower()
    return any(w in text for w in ("response_format", "json_schema", "json schema", "structured"))


class OpenAIBackend:
    """An OpenAI-compatible chat-completions model.

    Args:
        model: Model id sent to the endpoint.
        base_url: Endpoint (None: api.openai.com).
        api_key_env: Environment variable with the key; None for local servers that need none.
        params: Extra request fields (e.g. ``top_p``), sent as-is.
        supports_json_schema: Try ``response_format=json_schema`` when a schema is requested;
            an endpoint that rejects it is remembered and asked in the prompt instead.
        name: Backend name (default ``openai:<model>``).
        timeout_s: Seconds a request waits for its reply when the call's
            `GenerateConfig.timeout_s` is None (`ModelSpec.timeout_s`).
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 params: dict[str, Any] | None = None, supports_json_schema: bool = True,
                 name: str | None = None, timeout_s: float = 60.0) -> None:
        from openai import AsyncOpenAI

        api_key = "EMPTY"  # local servers (vLLM, test server) accept any key
        if api_key_env:
            api_key = os.environ.get(api_key_env, "")
            if not api_key:
                raise BackendUnavailable(
                    f"{name or model}: environment variable {api_key_env} is not set "
                    "(API keys are read only from the environment)"
                )
        self.model = model
        self.name = name or f"openai:{model}"
        self.base_url = base_url
        self.params = dict(params or {})
        self.supports_json_schema = supports_json_schema
        self.timeout_s = timeout_s
        self._client = AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)

    def _where(self) -> str:
        return f"{self.name} at {self.base_url or 'https://api.openai.com/v1'}"

    async def _create(self, messages: list[dict[str, Any]], config: GenerateConfig,
                      schema: dict[str, Any] | None) -> Any:
        import openai

        timeout_s = config.timeout_s if config.timeout_s is not None else self.timeout_s
        # extra params go in the body as-is, so server-specific ones (vLLM's top_k...) work too
        kwargs: dict[str, Any] = dict(model=self.model, messages=messages,
                                      temperature=config.temperature, timeout=timeout_s,
                                      extra_body=dict(self.params) or None)
        if "max_completion_tokens" not in self.params:  # newer OpenAI models take only that name
            kwargs["max_tokens"] = config.max_tokens
        if config.seed is not None:
            kwargs["seed"] = config.seed
        if schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": schema, "strict": False},
            }
        try:
            return await self._client.chat.completions.create(**kwargs)
        except openai.APITimeoutError as e:
            raise BackendTimeout(f"{self._where()}: no reply within {timeout_s}s") from e
        except openai.APIConnectionError as e:
            if not _connection_refused(e):  # the connection broke mid-request: worth a retry
                cause = e.__cause__ or e
                raise ConnectionLost(
                    f"{self._where()}: connection lost mid-request ({type(cause).__name__}"
                    f"{': ' + str(cause) if str(cause) else ''})") from None
            raise EndpointUnreachable(
                f"{self._where()}: cannot connect ({e.__cause__ or e}); is the server running "
                "and the base_url right?"
            ) from None
        except ValueError as e:  # a body that is not JSON (json.JSONDecodeError)
            raise TransientBackendError(f"{self._where()}: malformed reply body ({e})") from None
        except openai.RateLimitError as e:
            if "insufficient_quota" in str(e.body):  # a 429 that no waiting will fix
                raise BackendUnavailable(f"{self._where()}: account quota exhausted (HTTP 429 "
                                         "insufficient_quota)") from None
            raise RateLimited(f"{self._where()}: rate limited (HTTP 429)", status_code=429,
                              retry_after_s=retry_after_seconds(e.response.headers)) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise BackendUnavailable(
                f"{self._where()}: credentials refused (HTTP {e.status_code}); check the key in "
                "the environment variable named by api_key_env"
            ) from None
        except openai.APIStatusError as e:
            if e.status_code in RETRYABLE_STATUS:
                raise TransientBackendError(
                    f"{self._where()}: HTTP {e.status_code}", status_code=e.status_code,
                    retry_after_s=retry_after_seconds(e.response.headers),
                ) from None
            raise BackendError(f"{self._where()}: HTTP {e.status_code}: {e.message}") from e

    async def generate(self, messages: Sequence[Message], config: GenerateConfig) -> Completion:
        t0 = time.perf_counter()
        payload = to_openai_messages(messages)
        schema = config.json_schema
        response = None
        if schema is not None and self.supports_json_schema:
            try:
                response = await self._create(payload, config, schema)
            except BackendError as e:
                if isinstance(e, TransientBackendError | BackendUnavailable) or not _json_rejected(e):
                    raise
                log.info("%s rejects response_format; asking for JSON in the prompt", self.name)
                self.supports_json_schema = False
        if response is None:
            if schema is not None:
                payload = [*payload, {"role": "user", "content":
                    "Reply with one JSON object only, matching this JSON schema: " + json.dumps(schema)}]
            response = await self._create(payload, config, None)
        try:  # the client builds its reply objects without validating them
            if not response.choices:
                raise TransientBackendError(f"{self._where()}: reply without choices")
            text = response.choices[0].message.content or ""
            if not isinstance(text, str):
                raise TypeError(f"content is a {type(text).__name__}")
            u = response.usage
            usage = (Usage(input_tokens=int(u.prompt_tokens or 0),
                           output_tokens=int(u.completion_tokens or 0)) if u else Usage())
            model = response.model if isinstance(response.model, str) else self.model
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
            raise TransientBackendError(
                f"{self._where()}: malformed reply ({type(e).__name__}: {e})") from None
        return Completion(text=text, model=model or self.model, usage=usage,
                          latency_s=time.perf_counter() - t0)

    async def aclose(self) -> None:
        await self._client.close()

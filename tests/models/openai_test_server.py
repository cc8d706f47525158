"""A local OpenAI-compatible chat-completions TEST SERVER with scripted replies.

Real sockets (uvicorn in a thread, or a subprocess via ``python openai_test_server.py``), so
the real `openai` client is exercised. Each request pops the next scripted action:

- ``{"reply": "Yes."}``: a normal completion;
- ``{"status": 429, "retry_after": 0.3}``: an error status, optionally with Retry-After;
- ``{"delay": 2.0, "reply": ...}``: answer late (to trigger client timeouts);
- ``{"raw": "not json"}``: a malformed HTTP body;
- ``{"reset": True}``: reset the connection (TCP RST) without answering;
- ``{"reply": ""}``: an empty answer.

As a stand-in for a model server under load, `latency_s` delays every answer and `capacity`
caps the requests answered at once (the rest queue, like a GPU's batch); ``GET
/test/stats`` counts the chat requests received and answered (replica tests count the
spread on it).

When the script is empty, `default_reply` (or `reply_fn(body)`) answers, unless `chaos()`
armed a seeded fault injector: then each request draws a fault (429 with Retry-After, 500,
503, reset, a hang past the client timeout, malformed JSON, an empty answer) with the
given rate, and `faults` counts what was injected.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

IMAGE_TOKENS = 85

#: The chaos faults and the scripted action each one is.
FAULTS: dict[str, Callable[[float], dict[str, Any]]] = {
    "429": lambda hang_s: {"status": 429, "retry_after": 0.2},
    "500": lambda hang_s: {"status": 500},
    "503": lambda hang_s: {"status": 503},
    "reset": lambda hang_s: {"reset": True},
    "hang": lambda hang_s: {"delay": hang_s},
    "malformed": lambda hang_s: {"raw": '{"choices": [{"message": '},
    "empty": lambda hang_s: {"reply": ""},
}


def _reset(transport: Any) -> None:
    """Abort a connection with a TCP RST (SO_LINGER 0), as a crashed proxy would."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _KeepTransport:
    """ASGI middleware putting uvicorn's transport into the scope (for scripted resets)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        cycle = getattr(send, "__self__", None)
        if scope["type"] == "http" and cycle is not None:
            scope["test.transport"] = getattr(cycle, "transport", None)
        await self.app(scope, receive, send)


class OpenAITestServer:
    """Scripted OpenAI-compatible server.

    Attributes:
        requests: Every chat request body received, in order.
        headers: The matching request headers (lower-case names).
    """

    def __init__(self, default_reply: str = "Yes.", *, model: str = "test-model",
                 reject_json_schema: bool = False,
                 reply_fn: Callable[[dict[str, Any]], str] | None = None,
                 latency_s: float = 0.0, capacity: int | None = None) -> None:
        self.default_reply = default_reply
        self.latency_s = latency_s
        self.capacity = capacity
        self.answered = 0
        self.model = model
        self.reject_json_schema = reject_json_schema
        self.reply_fn = reply_fn
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.faults: Counter[str] = Counter()
        self._chaos: tuple[random.Random, float, tuple[str, ...], float] | None = None

    def chaos(self, rate: float, *, seed: int = 0, kinds: tuple[str, ...] = tuple(FAULTS),
              hang_s: float = 2.0) -> OpenAITestServer:
        """Inject a seeded random fault into a fraction `rate` of unscripted requests.

        Args:
            rate: Probability of a fault per request.
            seed: Seed of the injector's random draws.
            kinds: Fault kinds to draw from (keys of `FAULTS`).
            hang_s: How long a "hang" waits before answering (above the client timeout).
        """
        unknown = set(kinds) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {list(FAULTS)}")
        self._chaos = (random.Random(seed), rate, tuple(kinds), hang_s)
        return self

    def _next_action(self) -> dict[str, Any]:
        if self.script:
            return self.script.popleft()
        if self._chaos is not None:
            rng, rate, kinds, hang_s = self._chaos
            if rng.random() < rate:
                kind = rng.choice(kinds)
                self.faults[kind] += 1
                return FAULTS[kind](hang_s)
        return {}

    # ------------------------------------------------------------------ app
    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def models(request):
            return JSONResponse({"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "test"}]})

        slots = asyncio.Semaphore(self.capacity) if self.capacity else None

        async def stats(request):
            return JSONResponse({"requests": len(self.requests), "answered": self.answered})

        async def chat(request):
            if slots is None:
                return await answer(request)
            async with slots:
                return await answer(request)

        async def answer(request):
            body = await request.json()
            self.requests.append(body)
            self.headers.append({k.lower(): v for k, v in request.headers.items()})
            action = self._next_action()
            if action.get("reset"):
                transport = request.scope.get("test.transport")
                if transport is not None:
                    _reset(transport)
                    await asyncio.sleep(0.05)  # uvicorn sees the disconnect; nothing is sent
                return Response(b"", status_code=500)
            if action.get("delay"):
                await asyncio.sleep(action["delay"])
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if "status" in action:
                headers = {}
                if action.get("retry_after") is not None:
                    headers["retry-after"] = str(action["retry_after"])
                return JSONResponse({"error": {"message": action.get("message", "scripted error"),
                                               "type": "test", "code": action.get("code")}},
                                    status_code=action["status"], headers=headers)
            if "raw" in action:
                return Response(action["raw"], media_type="application/json")
            if self.reject_json_schema and "response_format" in body:
                return JSONResponse({"error": {"message": "response_format json_schema is not supported",
                                               "type": "invalid_request_error"}}, status_code=400)
            text = action.get("reply")
            if text is None:
                text = self.reply_fn(body) if self.reply_fn else self.default_reply
            prompt_tokens = 0
            for m in body.get("messages", []):
                content = m.get("content")
                if isinstance(content, str):
                    prompt_tokens += len(content.split())
                else:
                    for part in content or []:
                        prompt_tokens += (len(part.get("text", "").split())
                                          if part.get("type") == "text" else IMAGE_TOKENS)
            completion_tokens = len(text.split())
            self.answered += 1
            return JSONResponse({
                "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.model),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            })

        return _KeepTransport(Starlette(routes=[
            Route("/v1/models", models), Route("/test/stats", stats),
            Route("/v1/chat/completions", chat, methods=["POST"])]))

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, port: int = 0, host: str = "127.0.0.1") -> OpenAITestServer:
        """Serve in a background thread; returns when the socket is listening."""
        import uvicorn

        config = uvicorn.Config(self.app(), host=host, port=port, log_level="warning",
                                lifespan="off", timeout_graceful_shutdown=1, access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def main() -> None:
    """Run as a process (stands in for `vllm serve` in launcher tests)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--model", default="test-model")
    ap.add_argument("--reply", default="Yes.")
    ap.add_argument("--startup-delay", type=float, default=0.0)
    ap.add_argument("--exit-after", type=float, default=0.0, help="die after N seconds (0: never)")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    ap.add_argument("--capacity", type=int, default=0, help="requests answered at once (0: any)")
    args, _unknown = ap.parse_known_args()
    time.sleep(args.startup_delay)
    if args.exit_after:
        threading.Timer(args.exit_after, lambda: __import__("os")._exit(3)).start()
    server = OpenAITestServer(args.reply, model=args.model, latency_s=args.latency,
                              capacity=args.capacity or None).start(args.port, args.host)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

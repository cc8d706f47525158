"""A local OpenAI-compatible chat-completions TEST SERVER with scripted replies.

Real sockets (uvicorn in a thread, or a subprocess via ``python openai_test_server.py``), so
the real `openai` client is exercised. Each request pops the next scripted action:

- ``{"reply": "Yes."}``: a normal completion;
- ``{"status": 429, "retry_after": 0.3}``: an error status, optionally with Retry-After;
- ``{"delay": 2.0, "reply": ...}``: answer late (to trigger client timeouts);
- ``{"raw": "not json"}``: a malformed HTTP body.

When the script is empty, `default_reply` (or `reply_fn(body)`) answers.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

IMAGE_TOKENS = 85


class OpenAITestServer:
    """Scripted OpenAI-compatible server.

    Attributes:
        requests: Every chat request body received, in order.
        headers: The matching request headers (lower-case names).
    """

    def __init__(self, default_reply: str = "Yes.", *, model: str = "test-model",
                 reject_json_schema: bool = False,
                 reply_fn: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.default_reply = default_reply
        self.model = model
        self.reject_json_schema = reject_json_schema
        self.reply_fn = reply_fn
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ app
    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def models(request):
            return JSONResponse({"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "test"}]})

        async def chat(request):
            body = await request.json()
            self.requests.append(body)
            self.headers.append({k.lower(): v for k, v in request.headers.items()})
            action = self.script.popleft() if self.script else {}
            if action.get("delay"):
                await asyncio.sleep(action["delay"])
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
            return JSONResponse({
                "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.model),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            })

        return Starlette(routes=[Route("/v1/models", models),
                                 Route("/v1/chat/completions", chat, methods=["POST"])])

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
    args, _unknown = ap.parse_known_args()
    time.sleep(args.startup_delay)
    if args.exit_after:
        threading.Timer(args.exit_after, lambda: __import__("os")._exit(3)).start()
    server = OpenAITestServer(args.reply, model=args.model).start(args.port, args.host)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

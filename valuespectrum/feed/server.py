"""The feed web server: one vertical-post page per platform style, a JSON API, images.

Pages: one per feed style of `recommenders.STYLES` (`/tiktok`, `/cowatch`, `/random`, the
`-frozen` twins...) with query parameters `session`,
`seed`, `clock=manual|realtime` and `speed`. JSON API (all errors are 4xx JSON with an
`error` message): `POST /api/session`, `GET /api/next?session=`, `POST /api/events` (with
`next: true`, the answer carries the next post too), `POST /api/events/batch` (many
viewers' events in one request, each answered as `/api/events` would answer it alone),
`GET /api/history?session=`, `GET /api/current?session=` (the post on screen and the
session's clock, serving nothing: what a fresh page on a session in progress shows),
`GET /api/items/{item_id}`. Images: `/media/{item_id}` and `/images/{path}` (only paths
listed in the manifest).
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from valuespectrum.feed.corpus import Corpus, CorpusError, UnknownItemError
from valuespectrum.feed.platform import FeedError, FeedPlatform
from valuespectrum.feed.recommenders import STYLES
from valuespectrum.types import FeedItem

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response


log = logging.getLogger(__name__)

#: The API's requests are a few hundred bytes; anything far larger is refused (413).
MAX_BODY_BYTES = 64 * 1024
#: A batch of watch events (`POST /api/events/batch`): at most this many, in at most
#: this many bytes (a client sends up to 128 of ~200 bytes each; see FeedClient).
MAX_BATCH = 1024
MAX_BATCH_BYTES = 1024 * 1024

def _static_dir() -> Path:
    return Path(str(resources.files("valuespectrum") / "feed" / "static"))


def item_json(item: FeedItem, corpus_name: str = "", image_digest: str = "") -> dict[str, Any]:
    """An item as the page and the HTTP environment see it.

    `link` names the post independently of the server's address (the same link
    `store.ingest.ingest_corpus` gives it), so a collection is idempotent across runs.
    `image_digest` names the bytes `image_url` serves (`Corpus.image_digest`; "" when
    unknown): the HTTP environment reuses a post it drew before only when it matches.
    """
    data = item.model_dump(mode="json")
    data["image_url"] = f"/media/{item.item_id}"
    data["image_digest"] = image_digest
    data["link"] = f"corpus://{corpus_name}/{item.item_id}" if corpus_name else ""
    return data


def _error(status: int, message: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


#: The domain errors a request can raise, answered as 4xx (never a 500 for bad input).
REFUSALS = (FeedError, UnknownItemError, CorpusError)


def _status(e: Exception) -> int:
    """The HTTP status answering a refusal (one of `REFUSALS`)."""
    return e.status if isinstance(e, FeedError) else 404


def _guarded(handler):
    """Turn domain errors into 4xx JSON answers; never leak a 500 for bad input."""

    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except REFUSALS as e:
            return _error(_status(e), str(e))

    return wrapper


class BodyTooLarge(FeedError):
    status = 413


async def _json_body(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {int(declared):,} bytes; at most "
                           f"{limit:,} are accepted")
    from starlette.requests import ClientDisconnect

    body = bytearray()
    try:
        async for chunk in request.stream():  # a body without a length is read up to the cap
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(f"request body over {limit:,} bytes; at most "
                                   f"{limit:,} are accepted")
    except ClientDisconnect:  # the viewer went away (e.g. its trial was cancelled)
        raise FeedError("the client disconnected before sending its request") from None
    try:
        data = json.loads(bytes(body))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FeedError(f"malformed JSON body: {e}") from None
    if not isinstance(data, dict):
        raise FeedError("JSON body must be an object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    if name not in data:
        if default is ...:
            raise FeedError(f"missing field {name!r}")
        return default
    value = data[name]
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise FeedError(f"field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _session_param(request: Request) -> str:
    session = request.query_params.get("session")
    if not session:
        raise FeedError("query parameter 'session' is required")
    return session


def build_app(platform: FeedPlatform) -> Starlette:
    """The starlette application serving `platform`."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    template = (_static_dir() / "feed.html").read_text(encoding="utf-8")
    name = platform.corpus.root.name

    def shown(item: FeedItem) -> dict[str, Any]:
        return item_json(item, name, platform.corpus.image_digest(item.item_id))

    async def index(request: Request) -> Response:
        links = "".join(f'<li><a href="/{s}">/{s}</a></li>' for s in STYLES)
        return HTMLResponse(f"<!doctype html><title>ValueSpectrum feed</title>"
                            f"<h1>ValueSpectrum feed</h1><ul>{links}</ul>"
                            f"<p>{len(platform.corpus)} posts.</p>")

    async def page(request: Request) -> Response:
        style = request.path_params["style"]
        if style not in STYLES:
            return _error(404, f"no page {style!r}: try {', '.join('/' + s for s in STYLES)}")
        look = STYLES[style].params_key  # a frozen twin looks exactly like its learning feed
        html = (template.replace("{{STYLE}}", style).replace("{{LOOK}}", look)
                .replace("{{BRAND}}", STYLES[look].brand))
        return HTMLResponse(html)

    @_guarded
    async def open_session(request: Request) -> Response:
        data = await _json_body(request)
        state = platform.open_session(
            _field(data, "session", str), _field(data, "style", str),
            seed=_field(data, "seed", int, 0), clock=_field(data, "clock", str, "manual"),
            speed=_field(data, "speed", float, 1.0),
        )
        return JSONResponse({"session": state.session_id, "style": state.style,
                             "seed": state.seed, "clock": state.clock, "items": state.n_items})

    @_guarded
    async def next_item(request: Request) -> Response:
        return JSONResponse(shown(platform.next_item(_session_param(request))))

    def watch(data: dict[str, Any]) -> dict[str, Any]:
        """Record one watch event (a request's body); the answer (a `REFUSALS` if refused)."""
        session = _field(data, "session", str)
        item_id = _field(data, "item_id", str)
        served = _field(data, "served", int, None)
        then_next = _field(data, "next", bool, False)
        ratio = platform.record_watch(session, item_id, _field(data, "watched_s", float),
                                      skipped=_field(data, "skipped", bool, False),
                                      served=served)
        event = platform.session(session).events[-1]
        answer = {"item_id": item_id, "watch_ratio": ratio, "watched_s": event.watched_s,
                  "skipped": event.skipped, "t_s": event.t_s}
        if then_next:  # the next post in the same answer: one request per scroll, not two
            answer["next"] = shown(platform.next_item(session))
        return answer

    @_guarded
    async def events(request: Request) -> Response:
        return JSONResponse(watch(await _json_body(request)))

    @_guarded
    async def events_batch(request: Request) -> Response:
        """`{"requests": [body, ...]}` -> `{"replies": [{"status", "body"}, ...]}`, in order:
        each body answered as `POST /api/events` would answer it alone (a refused one with
        its 4xx status and `{"error"}`), so one viewer's bad request fails no other's."""
        requests = _field(await _json_body(request, MAX_BATCH_BYTES), "requests", list)
        if len(requests) > MAX_BATCH:
            raise BodyTooLarge(f"a batch of {len(requests):,} events; at most {MAX_BATCH:,}")
        replies = []
        for i, data in enumerate(requests):
            try:
                if not isinstance(data, dict):
                    raise FeedError(f"requests[{i}] must be an object, "
                                    f"got {type(data).__name__}")
                replies.append({"status": 200, "body": watch(data)})
            except REFUSALS as e:
                replies.append({"status": _status(e), "body": {"error": str(e)}})
            except Exception as e:  # a fault of this event's, not of the others recorded
                log.exception("watch event %d of a batch failed", i)
                replies.append({"status": 500, "body": {"error": f"{type(e).__name__}: {e}"}})
        return JSONResponse({"replies": replies})

    @_guarded
    async def current(request: Request) -> Response:
        session = _session_param(request)
        item = platform.current_item(session)
        return JSONResponse({"item": shown(item), "t_s": platform.session(session).clock_s})

    @_guarded
    async def history(request: Request) -> Response:
        return JSONResponse(platform.history(_session_param(request)))

    @_guarded
    async def item(request: Request) -> Response:
        return JSONResponse(shown(platform.corpus.get(request.path_params["item_id"])))

    @_guarded
    async def media(request: Request) -> Response:
        return FileResponse(platform.corpus.image_path(request.path_params["item_id"]))

    @_guarded
    async def image(request: Request) -> Response:
        rel = "images/" + request.path_params["path"]
        found = platform.corpus.item_for_image(rel)  # only manifest paths, verbatim
        return FileResponse(platform.corpus.image_path(found.item_id))

    async def favicon(request: Request) -> Response:
        from starlette.responses import Response as Empty

        return Empty(status_code=204)

    routes = [
        Route("/", index),
        Route("/favicon.ico", favicon),
        Route("/api/session", open_session, methods=["POST"]),
        Route("/api/next", next_item),
        Route("/api/events", events, methods=["POST"]),
        Route("/api/events/batch", events_batch, methods=["POST"]),
        Route("/api/history", history),
        Route("/api/current", current),
        Route("/api/items/{item_id}", item),
        Route("/media/{item_id}", media),
        Route("/images/{path:path}", image),
        Mount("/static", StaticFiles(directory=_static_dir()), name="static"),
        Route("/{style}", page),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(getattr(exc, "status_code", 404), getattr(exc, "detail", "not found"))

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


class FeedServer:
    """Runs the feed app with uvicorn in a background thread.

    Args:
        platform: the platform to serve (its corpus and sessions).
        host: interface to bind; loopback by default.
        port: TCP port; 0 picks a free one (read it back from `url`).

    Example:
        >>> with FeedServer.from_corpus_dir(default_corpus_dir()) as server:
        ...     print(server.url + "/tiktok")
    """

    def __init__(self, platform: FeedPlatform, host: str = "127.0.0.1", port: int = 0) -> None:
        self.platform = platform
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_corpus_dir(cls, corpus_dir: str | Path, host: str = "127.0.0.1",
                        port: int = 0) -> FeedServer:
        """A server over the corpus at `corpus_dir` with the packaged recommender params."""
        return cls(FeedPlatform(Corpus.load(corpus_dir)), host=host, port=port)

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:43121` (pages are `url + '/tiktok'`)."""
        if self._thread is None:
            raise RuntimeError("FeedServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> FeedServer:
        """Bind the socket and serve in a daemon thread; returns once it accepts requests."""
        import uvicorn

        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # answers go out as two writes (headers, body): without NODELAY each waits ~40 ms
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise OSError(f"cannot bind {self.host}:{self.port}: {e.strerror or e}") from None
        self.port = sock.getsockname()[1]
        # Keep idle connections open longer than clients do (http_env: 30 s): with equal
        # timeouts a client reused a connection the server was closing, and the request
        # failed with "Server disconnected without sending a response".
        # httptools parses requests in C: about half h11's CPU per request (docs/scale.md),
        # and this server runs in the sweep driver's process
        config = uvicorn.Config(build_app(self.platform), log_level="warning", http="httptools",
                                access_log=False, lifespan="off", timeout_keep_alive=60)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"feed-server:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("feed server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread (idempotent)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def restart(self, down_s: float = 0.0) -> FeedServer:
        """Stop, stay down `down_s` seconds, and serve again on the same host and port.

        The platform (sessions, recommender state) is not part of the server and survives:
        clients that reconnect continue their sessions.
        """
        self.stop()
        time.sleep(down_s)
        return self.start()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

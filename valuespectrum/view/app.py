"""The viewer's web app (starlette): pages, files and the live-reload signature.

Every page is rendered from the run directories on request (nothing is held in memory but
small JSON files); screenshots and figures are served as files, never inlined. Page
handlers are plain functions, which starlette runs in its thread pool, so a slow query
never blocks another page.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from valuespectrum.view import pages, spectrum_pages, sweep_pages, trial_pages
from valuespectrum.view.html import esc, page
from valuespectrum.view.links import Links
from valuespectrum.view.run_source import RunSource

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response


def assets_dir() -> Path:
    """The packaged stylesheet and script."""
    return Path(str(resources.files("valuespectrum") / "view" / "static"))


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def create_app(runs: dict[str, RunSource]) -> Starlette:
    """The app over `runs` (id -> source), as `open_runs` returns them."""
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse
    from starlette.routing import Route


    links = Links()
    assets = assets_dir()

    def html(text: str | None, what: str = "page") -> Response:
        if text is None:
            return missing(what)
        return HTMLResponse(text)

    def missing(what: str, status: int = 404) -> Response:
        body = f"<p>{esc(what)}</p>"
        return HTMLResponse(page(links, "Not found" if status == 404 else "Cannot show this",
                                 body, kind="error"), status_code=status)

    def source(request: Request, route: str | None = None) -> Any:
        """The run of the URL, if it serves `route` (see `RunSource.routes`), else None."""
        src = runs.get(request.path_params["rid"])
        if src is None or (route is not None and route not in src.routes):
            return None
        return src

    def index(request: Request) -> Response:
        return html(pages.runs_page(runs, links))

    def run(request: Request) -> Response:
        src = source(request)
        if src is None:
            return missing(f"no run {request.path_params['rid']!r} is shown here")
        return html(src.run_page(links))

    def cell(request: Request) -> Response:
        src, cid = source(request, "cell"), request.query_params.get("id", "")
        if src is None or not cid:
            return missing("no such sweep or cell")
        return html(sweep_pages.cell_page(src, links, cid))

    def trial(request: Request) -> Response:
        src = source(request, "trial")
        if src is None:
            return missing("no such sweep")
        tid = request.path_params["tid"]
        return html(trial_pages.filmstrip_page(src, links, tid,
                                               max(0, _int(request.query_params.get("page")))),
                    f"no trial {tid!r} in this run")

    def step(request: Request) -> Response:
        src = source(request, "step")
        if src is None:
            return missing("no such sweep")
        tid, n = request.path_params["tid"], request.path_params["n"]
        row = src.step(tid, n)
        if row is None:
            return missing(f"trial {tid!r} has no step {n}")
        replay = asyncio.run(src.replayer().replay(row))
        return html(trial_pages.step_page(src, links, row, src.trial_length(tid), replay))

    def value(request: Request) -> Response:
        src = source(request, "value")
        if src is None:
            return missing("no such Value-Spectrum run")
        return html(spectrum_pages.value_page(src, links, request.path_params["value"]),
                    "no image was retrieved for this value")

    def answer(request: Request) -> Response:
        src, q = source(request, "answer"), request.query_params
        row = src and spectrum_pages.find_answer(src, q.get("arm", ""), q.get("value", ""),
                                                 q.get("keyword", ""), _int(q.get("rank"), -1))
        if not row:
            return missing("no such answer")
        replay = asyncio.run(src.replayer().replay(row))
        return html(spectrum_pages.answer_page(src, links, row, replay))

    def compare(request: Request) -> Response:
        q = request.query_params
        try:
            return html(pages.compare_page(runs, links, q.get("a", ""), q.get("b", "")))
        except ValueError as e:
            return missing(str(e), status=400)

    def files(request: Request) -> Response:
        src = source(request)
        path = src.servable(request.path_params["path"]) if src else None
        if path is None:
            return missing("no such file in this run")
        return FileResponse(path, headers={"Cache-Control": "max-age=3600"})

    def image(request: Request) -> Response:
        src, q = source(request, "image"), request.query_params
        path = src and src.image(q.get("value", ""), q.get("keyword", ""), _int(q.get("rank"), -1))
        if not path:
            return missing("no such retrieved image")
        return FileResponse(path, headers={"Cache-Control": "max-age=3600"})

    def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("view.css", "view.js"):
            return missing("no such asset")
        return FileResponse(assets / name)

    def signature(request: Request) -> Response:
        rid = request.path_params["rid"]
        if rid == "*":
            return JSONResponse({"signature": "".join(s.signature() for s in runs.values())})
        src = runs.get(rid)
        if src is None:
            return JSONResponse({"error": f"no run {rid!r}"}, status_code=404)
        return JSONResponse({"signature": src.signature()})

    return Starlette(routes=[
        Route("/", index),
        Route("/run/{rid}", run),
        Route("/run/{rid}/cell", cell),
        Route("/run/{rid}/trial/{tid}", trial),
        Route("/run/{rid}/trial/{tid}/step/{n:int}", step),
        Route("/run/{rid}/value/{value}", value),
        Route("/run/{rid}/answer", answer),
        Route("/run/{rid}/files/{path:path}", files),
        Route("/run/{rid}/image", image),
        Route("/compare", compare),
        Route("/assets/{name}", asset),
        Route("/api/signature/{rid}", signature),
    ])

"""Local replica pages of TikTok, YouTube Shorts and Instagram Reels (a test double).

Each replica mimics its platform's URL scheme and the page structure the packaged profile
reads (`valuespectrum/data/profiles/*.yaml`): the same post containers, id/link/caption/
creator/date elements, advance (key, wheel) and engagement endpoints. Videos are canvas
streams, so a post's video really starts and the screenshot shows it. The server logs every
request, so a test can prove that a like never reached it. Written for the tests from the
profiles, not copied from the live sites: it checks our selectors and advance logic, not
that the live sites still match them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

POSTS = 6
POSTED = 1_710_000_000  # 2024-03-09, encoded in TikTok-style ids

STYLE = """<style>html,body{margin:0;height:100%;overflow:hidden;background:#000;color:#fff;
font:15px sans-serif}#feed{height:100vh;overflow:hidden}.p{display:block;position:relative;height:100vh;
width:100vw}.p video{width:100%;height:75%;object-fit:cover}.m{position:absolute;left:8px;
bottom:40px;right:60px}.like{position:absolute;right:8px;bottom:200px;width:40px;
height:40px;background:#f24}</style>"""

# the current post's canvas stream is redrawn, so its video keeps producing frames
SCRIPT = """<script>
const posts = Array.from(document.querySelectorAll(POST));
let index = 0, wheelAt = 0;
function stream(post, i) {
  const c = document.createElement("canvas"); c.width = 390; c.height = 600;
  const g = c.getContext("2d"), hue = (i * 67) % 360;
  const draw = () => { g.fillStyle = `hsl(${hue},70%,45%)`; g.fillRect(0, 0, 390, 600);
    g.fillStyle = "#fff"; g.font = "40px sans-serif"; g.fillText("post " + i, 120, 300); };
  draw(); setInterval(draw, 100);
  const v = post.querySelector("video"); v.muted = true; v.srcObject = c.captureStream(10);
  v.play().catch(() => {});
}
posts.forEach(stream);
function go(i) {
  if (i < 0 || i >= posts.length) return;
  index = i; posts[i].scrollIntoView();
  if (URL_OF) history.replaceState(null, "", URL_OF(posts[i]));
}
addEventListener("keydown", (e) => { if (e.key === "ArrowDown") go(index + 1); });
addEventListener("wheel", (e) => {
  if (e.deltaY > 20 && performance.now() - wheelAt > 300) { wheelAt = performance.now(); go(index + 1); }
});
document.querySelectorAll(".like").forEach((b) => b.addEventListener("click", () => {
  window.likeResult = "pending";
  fetch(LIKE_URL(b), {method: "POST", body: LIKE_BODY}).then(
    (r) => { window.likeResult = "sent " + r.status; },
    () => { window.likeResult = "failed"; });
}));
go(START);
</script>"""


def tiktok_id(i: int) -> str:
    return str((POSTED + 86400 * i) << 32 | (1000 + i))


def _tiktok(start: int = 0) -> str:
    posts = "".join(
        f'<div class="p" data-e2e="recommend-list-item-container"><video></video>'
        f'<a href="/@maker{i}/video/{tiktok_id(i)}">open</a><div class="m">'
        f'<span data-e2e="video-author-uniqueid">maker{i}</span>'
        f'<div data-e2e="video-desc">Replica post {i} #cats #replica{i}</div></div>'
        f'<div class="like" data-e2e="like-icon" data-id="{tiktok_id(i)}"></div></div>'
        for i in range(POSTS))
    return _page("For You", posts, post='[data-e2e="recommend-list-item-container"]',
                 url_of="null", like="(b) => '/api/commit/item/digg/?aweme_id=' + "
                 "b.dataset.id + '&type=1'", start=start)


def short_id(i: int) -> str:
    return f"short{i:06d}"  # 11 characters, like YouTube's ids


def _youtube(start: int = 0) -> str:
    posts = "".join(
        f'<ytd-reel-video-renderer class="p" data-id="{short_id(i)}"><video></video>'
        f'<div class="m"><h2 class="title"><yt-formatted-string>Short {i} #howto '
        f'#replica</yt-formatted-string></h2><ytd-channel-name><a href="/@chan{i}">chan{i}'
        f'</a></ytd-channel-name></div><div class="like" data-id="{short_id(i)}"></div>'
        f'</ytd-reel-video-renderer>' for i in range(POSTS))
    return _page("Shorts", posts, post="ytd-reel-video-renderer",
                 url_of="(p) => '/shorts/' + p.dataset.id",
                 like="(b) => '/youtubei/v1/like/like?prettyPrint=false'", start=start)


def reel_code(i: int) -> str:
    return f"Cx{i}Reel{i}"


def _instagram(start: int = 0) -> str:
    posts = "".join(
        f'<div class="p" data-id="{reel_code(i)}"><video></video><div class="m">'
        f'<a role="link" href="/creator{i}/"><span>creator{i}</span></a>'
        f'<h1>Reel {i} about gardens #garden</h1>'
        f'<time datetime="2024-05-{10 + i:02d}T08:00:00.000Z">May {10 + i}</time></div>'
        f'<div class="like" data-id="{reel_code(i)}"></div></div>' for i in range(POSTS))
    # the web app likes through GraphQL: a generic endpoint, told apart only by its body
    return _page("Reels", f"<main>{posts}</main>", post='main div:has(> video), main article',
                 url_of="(p) => '/reels/' + p.dataset.id + '/'",
                 like="(b) => '/graphql/query'",
                 body="'fb_api_req_friendly_name=usePolarisLikeMediaLikeMutation&media=' + 1",
                 start=start)


def _page(title: str, posts: str, *, post: str, url_of: str, like: str,
          body: str = "null", start: int = 0) -> str:
    config = (f"<script>const POST = {post!r}, URL_OF = {url_of}, LIKE_URL = {like}, "
              f"LIKE_BODY = {body}, START = {start};</script>")
    return (f'<!doctype html><html><head><meta name="viewport" content="width=device-width">'
            f"<title>{title}</title>{STYLE}</head><body><div id=\"feed\">{posts}</div>"
            f"{config}{SCRIPT}</body></html>")


@dataclass
class ReplicaServer:
    """Serves the three replicas and a login page on 127.0.0.1, logging every request."""

    requests: list[dict] = field(default_factory=list)
    url: str = ""
    _server: object = None
    _thread: threading.Thread | None = None

    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse
        from starlette.routing import Route

        async def log(request):
            self.requests.append({"method": request.method, "path": request.url.path,
                                  "query": request.url.query,
                                  "cookie": request.headers.get("cookie", ""),
                                  "body": (await request.body()).decode(errors="replace")})

        def page(make):
            async def handler(request):
                await log(request)
                return HTMLResponse(make())
            return handler

        async def shorts_entry(request):
            await log(request)
            return RedirectResponse(f"/shorts/{short_id(0)}")

        async def short(request):
            await log(request)
            ids = [short_id(i) for i in range(POSTS)]
            sid = request.path_params["sid"]
            return HTMLResponse(_youtube(ids.index(sid) if sid in ids else 0))

        async def login(request):
            await log(request)
            r = HTMLResponse('<html><body><span id="avatar" data-e2e="profile-icon">me</span>'
                             'logged in</body></html>')
            r.set_cookie("sessionid", "replica-session-42", httponly=True)
            return r

        async def engagement(request):
            await log(request)
            return JSONResponse({"status_code": 0})

        return Starlette(routes=[
            Route("/foryou", page(_tiktok)),
            Route("/shorts", shorts_entry),
            Route("/shorts/{sid}", short),
            Route("/reels/", page(_instagram)),
            Route("/login", login),
            Route("/{path:path}", engagement, methods=["GET", "POST"]),
        ])

    def paths(self, method: str = "POST") -> list[str]:
        return [r["path"] for r in self.requests if r["method"] == method]

    def __enter__(self) -> ReplicaServer:
        import socket

        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self.app(), log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "replica server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


START_PATHS = {"tiktok": "/foryou", "youtube": "/shorts", "instagram": "/reels/"}

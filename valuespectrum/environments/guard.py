"""The observe-only guard: a viewer agent never likes, comments, follows or shares.

Two layers. No environment has an action for engagement: `act` takes only `Stay` and
`Skip`, and no environment class has a like/comment/follow/share method. And, should a
page send such a request anyway (a stray click, a script), request routing blocks the
platforms' engagement endpoints before they leave the browser: Playwright routes every
request of a context through `RequestGuard`, and the Appium web environment gives the same
URL globs to Chromium's `Network.setBlockedURLs`. The endpoints are listed, as data, in the
platform profiles (`blocked_requests`, `blocked_bodies`); every guard blocks the union of
all packaged profiles' URL globs plus the profile's own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from valuespectrum.environments.profiles import engagement_globs, glob_regex

log = logging.getLogger(__name__)

#: Method names no environment may have (checked by the tests over the registry's kinds).
ENGAGEMENT_ACTIONS = ("like", "comment", "follow", "share", "subscribe", "digg", "favorite")


class RequestGuard:
    """Blocks engagement requests of a Playwright browser context, and remembers them.

    Args:
        globs: URL globs to block besides every packaged profile's.
        bodies: Regular expressions; a non-GET request whose body matches is blocked.
    """

    def __init__(self, globs: Iterable[str] = (), bodies: Iterable[str] = ()) -> None:
        self.globs = tuple(dict.fromkeys([*engagement_globs(), *globs]))
        self._urls = [glob_regex(g) for g in self.globs]
        self._bodies = [re.compile(b) for b in bodies]
        self.blocked: list[str] = []

    def blocks(self, url: str, method: str = "GET", body: str | None = None) -> bool:
        """Whether a request would be blocked."""
        if any(p.fullmatch(url) for p in self._urls):
            return True
        return method != "GET" and bool(body) and any(p.search(body) for p in self._bodies)

    async def install(self, context: Any) -> None:
        """Route every request of `context` through the guard (before any page opens)."""
        await context.route("**/*", self._handle)

    async def _handle(self, route: Any) -> None:
        request = route.request
        try:
            body = request.post_data if request.method != "GET" else None
        except Exception:  # noqa: BLE001 - binary bodies cannot be decoded; URLs still apply
            body = None
        if self.blocks(request.url, request.method, body):
            self.blocked.append(f"{request.method} {request.url}")
            log.warning("observe-only guard blocked %s %s", request.method, request.url)
            await route.abort("blockedbyclient")
        else:
            await route.fallback()

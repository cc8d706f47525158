"""`vspec login PLATFORM`: log in once in a visible browser and save the session for runs.

The saved file is Playwright's `storage_state` (cookies and local storage), written with
mode 0600 to `$VSPEC_HOME/auth/<platform>[-<account>].json`; the `platform` environment
uses it when no `storage_state` option is given. Passwords never pass through ValueSpectrum:
you type them into the site itself.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from valuespectrum.environments.base import EnvError
from valuespectrum.environments.guard import RequestGuard
from valuespectrum.environments.profiles import PlatformProfile
from valuespectrum.specs import vspec_home


def auth_path(profile: str, account: str = "") -> Path:
    """Where `vspec login` saves a platform's session: $VSPEC_HOME/auth/<profile>[-<account>].json."""
    return vspec_home() / "auth" / (f"{profile}-{account}.json" if account else f"{profile}.json")


async def _press_enter(page: Any) -> None:
    await asyncio.to_thread(input, "Log in in the browser window, then press Enter here to "
                                   "save the session... ")


async def record_login(profile: PlatformProfile, out: Path, *, start_url: str | None = None,
                       headless: bool = False,
                       done: Callable[[Any], Awaitable[None]] = _press_enter) -> Path:
    """Open the profile's login page, wait until `done(page)` returns, save the session.

    Args:
        profile: the platform.
        out: the storage_state file to write (mode 0600).
        start_url: replaces the profile's login URL (a replica in tests).
        headless: no window (only for scripted logins; a person needs the window).
        done: awaited with the page; returns once the user has logged in (default: Enter
            on the terminal).

    Raises:
        EnvError: no display for a visible browser, or Chromium cannot start.
    """
    from valuespectrum.environments.playwright_env import BrowserHost

    if not headless and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise EnvError("vspec login opens a browser window, but this session has no display "
                       "(DISPLAY is not set): run it on a machine with a screen (or over "
                       "`ssh -X`), then copy the saved file to this one's "
                       f"{out.parent}/")
    async with BrowserHost(headless=headless) as host:
        context = await host.new_context((1280, 900), service_workers="block")
        # logging in is not engagement, but nothing sent from here may be either
        await RequestGuard(profile.blocked_requests, profile.blocked_bodies).install(context)
        page = await context.new_page()
        await page.goto(start_url or profile.login_url)
        await done(page)
        state = await context.storage_state()
        await context.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, out)
    return out

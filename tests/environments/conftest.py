"""Environment fixtures: a browser per test module (corpus and server come from tests/conftest.py)."""

from __future__ import annotations

import pytest
import pytest_asyncio


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser_host():
    """One Chromium per test module; tests using it run on the module's event loop."""
    from valuespectrum.environments.playwright_env import BrowserHost

    host = await BrowserHost().start()
    yield host
    await host.close()


@pytest.fixture(scope="module")
def appium_server():
    """One Appium server per test module (tests that use it are marked `appium`)."""
    from valuespectrum.environments.appium_server import AppiumServer

    with AppiumServer() as server:
        yield server

"""Real platform profiles against local replica pages; the observe-only guard; login.

No internet here: each packaged profile is exercised on a replica that mimics its
platform's URL scheme and page structure (tests/environments/replicas.py).
"""

from __future__ import annotations

import inspect
import json
import os
import stat
from importlib import resources

import pytest
from replicas import START_PATHS, ReplicaServer, reel_code, short_id, tiktok_id

from valuespectrum.config import ConfigError
from valuespectrum.environments.base import check_environment
from valuespectrum.environments.guard import ENGAGEMENT_ACTIONS
from valuespectrum.environments.login import record_login
from valuespectrum.environments.profiles import PACKAGED, load_profile
from valuespectrum.environments.spec import KINDS, EnvironmentSpec, build_environment
from valuespectrum.types import Skip, Stay

pytestmark = pytest.mark.browser
ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the module's browser_host
FAST = 0.01  # replicas need no real waits: 1 s of the profile's waits is 10 ms here

EXPECTED = {  # what each replica's first two posts show, read through the profile
    "tiktok": [dict(item_id=tiktok_id(i), creator=f"maker{i}", posted=f"2024-03-{9 + i:02d}",
                    link_end=f"/@maker{i}/video/{tiktok_id(i)}",
                    hashtags=("cats", f"replica{i}")) for i in range(2)],
    "youtube": [dict(item_id=short_id(i), creator=f"chan{i}", posted="",
                     link_end=f"/shorts/{short_id(i)}", hashtags=("howto", "replica"))
                for i in range(2)],
    "instagram": [dict(item_id=reel_code(i), creator=f"creator{i}", posted=f"2024-05-{10 + i}",
                       link_end=f"/reels/{reel_code(i)}/", hashtags=("garden",))
                  for i in range(2)],
}


@pytest.fixture(scope="module")
def replica():
    with ReplicaServer() as server:
        yield server


def spec_for(platform, replica, **options):
    return EnvironmentSpec(kind="platform", feed_url="http://127.0.0.1:1", style=platform,
                           session_id=f"replica-{platform}", timeout_s=15,
                           options={"start_url": replica.url + START_PATHS[platform],
                                    "time_scale": FAST, **options})


def test_packaged_profiles_load_and_a_broken_one_names_file_line_and_field(tmp_path):
    for name in PACKAGED:
        profile = load_profile(name)
        assert profile.name == name and profile.blocked_requests and profile.android
    bad = tmp_path / "mine.yaml"
    packaged = resources.files("valuespectrum.data").joinpath("profiles/tiktok.yaml")
    text = packaged.read_text("utf-8").replace("method: key", "method: tap")
    bad.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_profile(str(bad))
    line = text.splitlines().index("  method: tap") + 1
    assert f"{bad}:{line}: advance.method:" in str(info.value)
    with pytest.raises(ConfigError, match="unknown platform profile 'vine'"):
        load_profile("vine")


@pytest.mark.parametrize("platform", PACKAGED)
@ON_MODULE_LOOP
async def test_a_profile_reads_its_replica_and_advances(platform, browser_host, replica):
    async with await build_environment(spec_for(platform, replica, account="acct-a",
                                                region="EU"), host=browser_host) as env:
        env.purge_every = 1  # a live feed's renderer gets the memory signal after each step
        first = await env.reset()
        second = (await env.act(Stay(dwell_s=2.0))).observation
        third = (await env.act(Skip())).observation
        assert env._cdp is not None  # the signal went through the page's DevTools session
    for obs, want in zip((first, second), EXPECTED[platform], strict=True):
        assert obs.item_id == want["item_id"]
        assert obs.text.creator == want["creator"] and obs.text.hashtags == want["hashtags"]
        assert obs.posted == want["posted"]
        assert obs.link.startswith(replica.url) and obs.link.endswith(want["link_end"])
        assert obs.screenshot_png[:4] == b"\x89PNG"
        assert obs.meta["profile"] == platform and obs.meta["account"] == "acct-a"
        assert obs.meta["region"] == "EU" and obs.meta["browser"].startswith("chromium")
    assert third.step == 2 and third.item_id not in (first.item_id, second.item_id)
    # each post's video really started: the screenshots differ post to post
    assert len({first.screenshot_png, second.screenshot_png, third.screenshot_png}) == 3


@pytest.mark.parametrize("platform", PACKAGED)
@ON_MODULE_LOOP
async def test_replicas_pass_the_environment_checker(platform, browser_host, replica):
    passed = await check_environment(
        lambda: build_environment(spec_for(platform, replica), host=browser_host), steps=3)
    assert "reset determinism" in passed


LIKE = "() => { document.querySelector('.like').click(); }"
LIKE_DONE = "() => window.likeResult && window.likeResult !== 'pending'"


@pytest.mark.parametrize("platform", PACKAGED)
@ON_MODULE_LOOP
async def test_a_click_on_like_is_never_sent(platform, browser_host, replica):
    """The guard stops the like in the browser; without it the same click reaches the site."""
    async with await build_environment(spec_for(platform, replica), host=browser_host) as env:
        await env.reset()
        before = len(replica.requests)
        await env._page.evaluate(LIKE)  # a stray click, as no environment can make one
        await env._page.wait_for_function(LIKE_DONE)
        assert await env._page.evaluate("() => window.likeResult") == "failed"
        blocked = env.blocked_requests()
    assert len(blocked) == 1 and blocked[0].startswith("POST ")
    guarded = len(replica.requests)
    # no POST reached the replica (slicing the POST-only paths() by a count of all requests,
    # as this line did, could never fail)
    assert [r for r in replica.requests[before:] if r["method"] == "POST"] == []
    # the control: a browser context without the guard sends the very same click
    context = await browser_host.new_context()
    page = await context.new_page()
    try:
        await page.goto(replica.url + START_PATHS[platform])
        await page.evaluate(LIKE)
        await page.wait_for_function(LIKE_DONE)
        assert await page.evaluate("() => window.likeResult") == "sent 200"
    finally:
        await context.close()
    # the page may still GET assets or the next post after the like (seen in CI): find
    # the POST among what reached the replica, not the last request
    posts = [r for r in replica.requests[guarded:] if r["method"] == "POST"]
    assert len(posts) == 1 and posts[0]["path"] in blocked[0]


def test_no_environment_can_like_comment_follow_or_share():
    from valuespectrum.environments.android_env import AndroidEnvironment
    from valuespectrum.environments.appium_env import AppiumWebEnvironment
    from valuespectrum.environments.http_env import HttpFeedEnvironment
    from valuespectrum.environments.platform_env import PlatformEnvironment
    from valuespectrum.environments.playwright_env import PlaywrightFeedEnvironment

    classes = (AndroidEnvironment, AppiumWebEnvironment, HttpFeedEnvironment,
               PlatformEnvironment, PlaywrightFeedEnvironment)
    assert len(classes) == len(KINDS)  # one class per registered kind
    for cls in classes:
        names = [n.lower() for n, _ in inspect.getmembers(cls) if not n.startswith("__")]
        assert not [n for n in names if any(a in n for a in ENGAGEMENT_ACTIONS)], cls
        assert list(inspect.signature(cls.act).parameters) == ["self", "action"]


@ON_MODULE_LOOP
async def test_login_saves_a_session_that_platform_runs_send(browser_host, replica, tmp_path):
    out = tmp_path / "auth" / "tiktok.json"

    async def logged_in(page):  # what the person does: log in until the avatar shows
        await page.wait_for_selector(load_profile("tiktok").logged_in)

    await record_login(load_profile("tiktok"), out, start_url=replica.url + "/login",
                       headless=True, done=logged_in)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    cookies = {c["name"]: c["value"] for c in json.loads(out.read_text())["cookies"]}
    assert cookies["sessionid"] == "replica-session-42"
    async with await build_environment(spec_for("tiktok", replica, storage_state=str(out)),
                                       host=browser_host) as env:
        await env.reset()
    feed = [r for r in replica.requests if r["path"] == "/foryou"]
    assert "sessionid=replica-session-42" in feed[-1]["cookie"]


def test_login_without_a_display_says_what_to_do(tmp_path):
    from vspec_helpers import run_vspec

    env_display = os.environ.pop("DISPLAY", None)
    try:
        r = run_vspec(["login", "youtube"], tmp_path, timeout=120)
    finally:
        if env_display is not None:
            os.environ["DISPLAY"] = env_display
    assert r.returncode == 2
    assert "no display" in r.stderr and "auth" in r.stderr


@ON_MODULE_LOOP
async def test_a_sweep_trial_watches_a_platform_through_the_actor_host(replica, tmp_path):
    """A spec's `environment: platform` reaches the viewer actor, which records who watched."""
    from vspec_helpers import sweep_spec

    from valuespectrum.agents.actor import ActorOptions, ViewerHost
    from valuespectrum.sweep.spec import expand
    from valuespectrum.trial import StepEvent

    options = {"start_url": replica.url + START_PATHS["youtube"], "time_scale": FAST,
               "account": "research-1", "region": "DE"}
    spec = sweep_spec(tmp_path / "live.yaml", name="live", personas=["pet_owner"],
                      models=["always:yes"], strategies=["simple"], trials=1, scrolls=3,
                      window=1, platforms=[{"style": "youtube", "environment": "platform",
                                            "options": options}])
    host = ViewerHost(ActorOptions(feed_urls=("http://127.0.0.1:1",)))
    try:
        events = [e async for e in host.run_trial(expand(spec)[0])]
    finally:
        await host.shutdown()
    steps = [e.record for e in events if isinstance(e, StepEvent)]
    assert [r.item_id for r in steps] == [short_id(i) for i in range(3)]
    assert all(r.action == "stay" and r.watch_ratio == 1.0 for r in steps)
    info = json.loads(steps[0].environment_info)
    assert (info["profile"], info["account"], info["region"]) == ("youtube", "research-1", "DE")
    assert events[-1].status == "done"

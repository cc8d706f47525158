"""Drawn posts cached: the same bytes as drawn anew, for every option; keys and bounds."""

from __future__ import annotations

import asyncio
import io
import shutil

import pytest
from PIL import Image

from valuespectrum.agents.viewer import screenshot_jpeg
from valuespectrum.environments.drawing import (
    DrawingDirectory,
    DrawnPosts,
    drawing_key,
    stored_key,
)
from valuespectrum.environments.feed_client import FeedClient
from valuespectrum.environments.http_env import HttpFeedEnvironment
from valuespectrum.environments.observation import ObservationMode
from valuespectrum.types import Skip, Stay

OPTIONS = [
    pytest.param({}, "none", (390, 844), id="png"),
    pytest.param({"screenshot": "jpeg", "jpeg_quality": 80}, "none", (390, 844), id="jpeg80"),
    pytest.param({"screenshot": "jpeg", "jpeg_quality": 55}, "none", (390, 844), id="jpeg55"),
    pytest.param({"observation": "frames", "frames": 3, "frame_span_s": 3.0}, "panzoom",
                 (390, 844), id="png-frames-panzoom"),
    pytest.param({"observation": "frames", "frames": 2, "screenshot": "jpeg"}, "panzoom",
                 (360, 640), id="jpeg-frames-panzoom-small"),
    pytest.param({"observation": "screenshot_text"}, "panzoom", (412, 915),
                 id="png-text-panzoom-large"),
]


async def _walk(env, seed, steps):
    """The pictures of `steps` posts of a session (alternating Stay and Skip)."""
    obs = await env.reset(seed=seed)
    seen = [(obs.item_id, obs.screenshot_png, obs.frames)]
    for i in range(steps - 1):
        obs = (await env.act(Stay(dwell_s=2.0) if i % 2 else Skip())).observation
        seen.append((obs.item_id, obs.screenshot_png, obs.frames))
    return seen


@pytest.mark.parametrize(("options", "motion", "viewport"), OPTIONS)
async def test_cached_screenshots_are_byte_identical_to_drawn_ones(feed_server, options,
                                                                  motion, viewport, tmp_path):
    """Sessions of several agents sharing one cache, and of another actor reading the
    node's directory, see, post for post, the bytes an environment without a cache draws,
    whether their post was drawn or reused."""
    mode = ObservationMode.from_options(options)
    directory = DrawingDirectory(tmp_path / "drawn")
    drawings, other_actor = DrawnPosts(directory=directory), DrawnPosts(directory=directory)
    client = FeedClient()

    def env(name, cache):
        return HttpFeedEnvironment(feed_server.url, "tiktok", name, viewport=viewport,
                                   observation=mode, motion=motion, client=client,
                                   drawings=cache)

    try:
        # three agents on two seeds at once: the second of a seed reuses the first's posts
        cached = await asyncio.gather(*(_walk(env(f"c{i}-{seed}", drawings), seed, 12)
                                        for i, seed in ((0, 1), (1, 1), (2, 2))))
        # another actor of the node, later: every post from the directory
        shared = await _walk(env("o-1", other_actor), 1, 12)
        plain = await asyncio.gather(*(_walk(env(f"p-{seed}", None), seed, 12)
                                       for seed in (1, 2)))
    finally:
        await client.close()
    assert cached[0] == cached[1] == shared == plain[0]
    assert cached[2] == plain[1]
    assert drawings.hits >= 12 and 0 < drawings.misses <= 24
    assert other_actor.misses == 0 and other_actor.shared_hits >= 10
    frames = mode.frames if mode.mode == "frames" else 1
    assert all(len(f) == (frames if frames > 1 else 0) for _, _, f in plain[0])
    with Image.open(io.BytesIO(plain[0][0][1])) as im:
        assert im.size == viewport


async def test_a_cached_post_is_not_fetched_again(feed_server):
    """A post in the cache costs no image request: the second agent's images come from it."""
    paths = []

    class Counted(HttpFeedEnvironment):
        async def _attempt(self, method, path, **kwargs):
            paths.append(path)
            return await super()._attempt(method, path, **kwargs)

    drawings = DrawnPosts()
    for name in ("first", "second"):
        paths.clear()
        async with Counted(feed_server.url, "tiktok", name, drawings=drawings) as env:
            await _walk(env, 5, 6)
        images = [p for p in paths if p.startswith("/media/")]
        assert len(images) == (6 if name == "first" else 0), (name, paths)


def test_the_key_names_every_input_of_the_drawing():
    item = {"item_id": "oc-1", "image_digest": "ab" * 8, "creator": "@c", "caption": "A cat",
            "hashtags": ["cat"], "duration_s": 10.0}
    base = dict(viewport=(390, 844), times=[0.0], motion="none", image="png", jpeg_quality=80)
    key = drawing_key(item, **base)
    changed_items = [{**item, k: v} for k, v in (
        ("item_id", "oc-2"), ("image_digest", "cd" * 8), ("creator", "@d"),
        ("caption", "A dog"), ("hashtags", ["dog"]))]
    changed_options = [{**base, k: v} for k, v in (
        ("viewport", (360, 640)), ("times", [0.0, 1.0]), ("motion", "panzoom"),
        ("image", "jpeg"))]
    keys = {key, *(drawing_key(i, **base) for i in changed_items),
            *(drawing_key(item, **o) for o in changed_options)}
    assert len(keys) == 1 + len(changed_items) + len(changed_options)
    # JPEG quality matters to a JPEG only; a PNG is the same at any quality
    jpeg = {**base, "image": "jpeg"}
    assert drawing_key(item, **jpeg) != drawing_key(item, **{**jpeg, "jpeg_quality": 60})
    assert drawing_key(item, **base) == drawing_key(item, **{**base, "jpeg_quality": 60})
    # no digest from the server: nothing to key the image by, so no caching
    assert drawing_key({**item, "image_digest": ""}, **base) is None
    assert drawing_key({k: v for k, v in item.items() if k != "image_digest"}, **base) is None


def test_the_served_digest_follows_the_image_bytes(corpus_dir, tmp_path):
    from valuespectrum.feed.corpus import Corpus

    root = tmp_path / "corpus"
    shutil.copytree(corpus_dir, root)
    corpus = Corpus.load(root)
    a, b = corpus.items[0], corpus.items[1]
    first = corpus.image_digest(a.item_id)
    assert len(first) == 16 and first == corpus.image_digest(a.item_id)
    assert first != corpus.image_digest(b.item_id)
    path = corpus.image_path(a.item_id)
    path.unlink()  # a copied tree may hold links to the source; write a file of its own
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path, format="PNG")
    assert corpus.image_digest(a.item_id) not in ("", first)
    path.unlink()  # a missing image is drawn as a broken one, and keyed by nothing
    assert corpus.image_digest(a.item_id) == ""


def test_the_cache_keeps_at_most_its_bytes_dropping_the_least_recently_used():
    drawings = DrawnPosts(max_bytes=4000)  # four entries of 700 bytes (with their overhead)
    for i in range(4):
        drawings.put(f"k{i}", [bytes(700)])
    assert len(drawings) == 4
    assert drawings.get("k0") is not None  # k0 now the most recent
    drawings.put("k4", [bytes(700)])
    assert drawings.bytes <= 4000 and len(drawings) == 4
    assert drawings.get("k1") is None and drawings.get("k0") is not None
    assert drawings.get("k4") == (bytes(700),)
    drawings.put("huge", [bytes(5000)])  # larger than the cache: returned, not kept
    assert drawings.get("huge") is None and drawings.bytes <= 4000
    assert len(DrawnPosts(max_bytes=0).put("k", [b"x"])) == 1
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        DrawnPosts(max_bytes=-1)


async def test_agents_asking_at_once_draw_once_and_a_failed_drawing_is_redrawn():
    drawings = DrawnPosts()
    calls = []
    gate = asyncio.Event()

    async def draw():
        calls.append(1)
        await gate.wait()
        return (b"picture",)

    waiting = [asyncio.ensure_future(drawings.fetch("k", draw)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [(b"picture",)] * 5
    assert len(calls) == 1 and (drawings.misses, drawings.hits) == (1, 4)

    async def fail():
        await asyncio.sleep(0)
        raise ConnectionError("feed went away")

    async def slow_ok():
        await asyncio.sleep(0.01)
        return (b"again",)

    failing = asyncio.ensure_future(drawings.fetch("k2", fail))
    await asyncio.sleep(0)  # the failing drawing is under way when the second agent asks
    other = asyncio.ensure_future(drawings.fetch("k2", slow_ok))
    with pytest.raises(ConnectionError):
        await failing
    assert await other == (b"again",)  # drew it itself, not handed the failure


async def test_a_png_is_stored_once_as_the_same_jpeg(feed_server):
    """The actor's stored copy of a PNG screenshot: the bytes a fresh re-encode gives,
    encoded once per distinct screenshot."""
    from valuespectrum.agents.actor import ActorOptions, ViewerHost

    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,), jpeg_quality=70))
    try:
        async with HttpFeedEnvironment(feed_server.url, "tiktok", "stored") as env:
            obs = await env.reset(seed=4)
        first = await host.stored_jpeg(obs)
        misses = host.drawings.misses
        again = await host.stored_jpeg(obs.model_copy())
    finally:
        await host.shutdown()
    assert first == again == screenshot_jpeg(obs.screenshot_png, 70)
    assert host.drawings.misses == misses and stored_key(obs.screenshot_png, 70) != stored_key(
        obs.screenshot_png, 80)


async def test_a_browser_screenshot_is_stored_without_being_kept(feed_server, tmp_path,
                                                                 monkeypatch):
    """A browser's screenshots never repeat: their stored copies fill no cache or disk."""
    from valuespectrum.agents.actor import ActorOptions, ViewerHost
    from valuespectrum.environments.drawing import DIRECTORY_VARIABLE

    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path / "node"))
    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,)))
    try:
        async with HttpFeedEnvironment(feed_server.url, "tiktok", "browser-like") as env:
            obs = await env.reset(seed=4)
        shot = obs.model_copy(update={"meta": {"environment": "playwright"}})
        assert await host.stored_jpeg(shot) == screenshot_jpeg(obs.screenshot_png, 80)
        assert len(host.drawings) == 0 and not list((tmp_path / "node").iterdir())
        await host.stored_jpeg(obs)  # drawn by the HTTP environment: kept
        assert len(host.drawings) == 1 and len(list((tmp_path / "node").iterdir())) == 1
    finally:
        await host.shutdown()


def test_the_directory_returns_only_whole_files_of_the_same_key(tmp_path):
    """A damaged, truncated or foreign file is a miss, never another picture."""
    directory = DrawingDirectory(tmp_path / "d")
    frames = (b"\x89PNG first frame", b"\x89PNG second")
    directory.write("key-a", frames)
    assert directory.read("key-a") == frames and directory.read("key-b") is None
    (path,) = (tmp_path / "d").glob("*.post")
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # truncated
    assert directory.read("key-a") is None
    path.write_bytes(data.replace(b"key-a", b"key-b"))  # another key's file under this name
    assert directory.read("key-a") is None
    path.write_bytes(b"garbage")
    assert directory.read("key-a") is None
    # another version of the renderer never reads this one's files
    directory.write("key-a", frames)
    newer = DrawingDirectory(tmp_path / "d")
    newer.namespace = "another-renderer"
    assert newer.read("key-a") is None and directory.read("key-a") == frames


def test_the_directory_keeps_at_most_its_bytes_dropping_the_least_recently_read(tmp_path):
    import os
    import time

    directory = DrawingDirectory(tmp_path / "d", max_bytes=40_000)
    for i in range(8):
        directory.write(f"k{i}", (bytes(4_000),))
    past = time.time() - 100
    for i in range(8):  # k0 oldest ... k7 newest, then k0 read again
        os.utime(directory._path(f"k{i}")[1], (past + i, past + i))
    assert directory.read("k0") is not None
    for i in range(8, 12):  # past max_bytes: the writes trim
        directory.write(f"k{i}", (bytes(4_000),))
    sizes = [p.stat().st_size for p in (tmp_path / "d").glob("*.post")]
    assert sum(sizes) <= 40_000
    assert directory.read("k0") is not None and directory.read("k1") is None
    assert directory.read("k11") is not None


def test_a_directory_others_can_write_to_is_refused(tmp_path):
    from valuespectrum.environments.drawing import node_directory

    d = tmp_path / "open"
    d.mkdir()
    d.chmod(0o777)
    with pytest.raises(ValueError, match="writable by no one else"):
        DrawingDirectory(d)
    assert node_directory(d) is None  # the actor draws on, without the node's directory


def test_the_node_directory_is_a_setting_of_the_node(tmp_path, monkeypatch):
    from valuespectrum.environments.drawing import (
        DIRECTORY_VARIABLE,
        default_directory,
        node_directory,
    )

    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path / "node"))
    assert default_directory() == tmp_path / "node"
    assert node_directory().root == tmp_path / "node"
    monkeypatch.setenv(DIRECTORY_VARIABLE, "")  # none: each actor draws for itself
    assert default_directory() is None and node_directory() is None
    monkeypatch.delenv(DIRECTORY_VARIABLE)
    assert default_directory().name == "drawn-posts"

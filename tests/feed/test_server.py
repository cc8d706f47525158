"""The feed web server: pages, the JSON API, and 4xx (never 500) for bad requests."""

from __future__ import annotations

import httpx
import pytest

from valuespectrum.feed.platform import FeedPlatform
from valuespectrum.feed.recommenders import STYLES
from valuespectrum.feed.server import FeedServer


@pytest.fixture()
def client(feed_server):
    with httpx.Client(base_url=feed_server.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("style", sorted(STYLES))  # every registered style, twins included
def test_style_pages_have_the_post_and_agent_api(client, style):
    r = client.get(f"/{style}?session=a&seed=1&clock=manual")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert f'data-style="{style}"' in r.text and 'id="post"' in r.text
    assert "data-item-id" in r.text and 'inert aria-hidden="true"' in r.text
    js = client.get("/static/feed.js")
    assert js.status_code == 200 and "window.vspec" in js.text and "advance(seconds)" in js.text


@pytest.mark.parametrize("style", [s.name for s in STYLES.values() if s.learning])
def test_a_frozen_twin_page_looks_like_its_learning_feed(client, style):
    """Arms differ only in learning: the viewer sees the same page chrome on both."""
    twin = client.get(f"/{style}-frozen?session=b&seed=1&clock=manual").text
    base = client.get(f"/{style}?session=c&seed=1&clock=manual").text
    assert f'class="style-{style}"' in twin and STYLES[style].brand in twin
    assert twin.replace(f'data-style="{style}-frozen"', f'data-style="{style}"') == base
    css = client.get("/static/feed.css").text
    assert f".style-{style} .bar" in css  # each learning feed has its own look


def test_api_session_next_events_history(client, corpus):
    assert client.post("/api/session", json={"session": "s1", "style": "tiktok", "seed": 3}
                       ).json()["items"] == len(corpus)
    item = client.get("/api/next", params={"session": "s1"}).json()
    assert item["item_id"] in corpus and item["image_url"] == f"/media/{item['item_id']}"
    ev = client.post("/api/events", json={"session": "s1", "item_id": item["item_id"],
                                          "watched_s": item["duration_s"] / 4, "skipped": True})
    assert ev.status_code == 200 and ev.json()["watch_ratio"] == pytest.approx(0.25)
    hist = client.get("/api/history", params={"session": "s1"}).json()
    assert hist["served"] == [item["item_id"]] and hist["events"][0]["skipped"] is True
    assert client.get(f"/api/items/{item['item_id']}").json()["category"] == item["category"]


def test_the_current_post_is_shown_again_without_serving_another(client, corpus):
    """`GET /api/current`: what a fresh page on a session in progress shows."""
    client.post("/api/session", json={"session": "cur", "style": "tiktok", "seed": 2})
    none_yet = client.get("/api/current", params={"session": "cur"})
    assert none_yet.status_code == 409 and "shows no post" in none_yet.json()["error"]
    first = client.get("/api/next", params={"session": "cur"}).json()
    ev = client.post("/api/events", json={"session": "cur", "item_id": first["item_id"],
                                          "watched_s": 3.0, "next": True}).json()
    now = client.get("/api/current", params={"session": "cur"}).json()
    assert now["item"] == ev["next"] and now["t_s"] == pytest.approx(ev["t_s"])
    assert now["item"]["image_digest"] == corpus.image_digest(now["item"]["item_id"])
    again = client.get("/api/current", params={"session": "cur"}).json()
    assert again == now  # nothing served meanwhile
    assert client.get("/api/history", params={"session": "cur"}).json()["served"] == [
        first["item_id"], now["item"]["item_id"]]
    client.post("/api/events", json={"session": "cur", "item_id": now["item"]["item_id"],
                                     "watched_s": 1.0})
    assert client.get("/api/current", params={"session": "cur"}).status_code == 409
    assert client.get("/api/current", params={"session": "ghost"}).status_code == 404


def test_images_are_served_from_the_corpus_only(client, corpus):
    item = corpus.items[0]
    expected = corpus.image_path(item.item_id).read_bytes()
    media = client.get(f"/media/{item.item_id}")
    assert media.status_code == 200 and media.content == expected
    assert media.headers["content-type"] == "image/png"
    assert client.get("/" + item.image_path).content == expected


@pytest.mark.parametrize("path", [
    "/images/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/images/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/images/animals/../../corpus.json",
    "/media/..%2Fcorpus.json",
    "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%2Fserver.py",
    "/static/%2e%2e/corpus.py",
    "/api/items/..%2F..%2Fetc%2Fpasswd",
])
def test_path_traversal_is_a_404(client, path):
    r = client.get(httpx.URL(path))
    assert r.status_code == 404, r.text
    assert b"root:" not in r.content and b"import" not in r.content


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("GET", "/api/next?session=ghost", None, 404, "unknown session 'ghost'"),
    ("GET", "/api/next", None, 400, "'session' is required"),
    ("GET", "/api/history?session=ghost", None, 404, "unknown session"),
    ("GET", "/api/items/nope", None, 404, "unknown item id 'nope'"),
    ("GET", "/media/nope", None, 404, "unknown item id 'nope'"),
    ("GET", "/tiktokk", None, 404, "no page 'tiktokk'"),
    ("POST", "/api/events", b"{not json", 400, "malformed JSON"),
    ("POST", "/api/events", b"[1, 2]", 400, "must be an object"),
    ("POST", "/api/events", b'{"session": "srv"}', 400, "missing field 'item_id'"),
    ("POST", "/api/events", b'{"session": "srv", "item_id": "nope", "watched_s": 1}', 404,
     "unknown item id"),
    ("POST", "/api/events", b'{"session": "srv", "item_id": "x", "watched_s": "long"}', 400,
     "'watched_s' must be float"),
    ("POST", "/api/events", b'{"session": "srv", "item_id": "x", "watched_s": true}', 400,
     "'watched_s' must be float"),
    ("POST", "/api/session", b'{"session": "x", "style": "vine"}', 400, "unknown style"),
    ("POST", "/api/session", b'{"session": "x", "style": "tiktok", "speed": -1}', 400, "speed"),
    ("POST", "/api/session", b"\xff\xfe", 400, "malformed JSON"),
    ("PUT", "/api/events", b"{}", 405, "Method Not Allowed"),
])
def test_bad_requests_get_a_4xx_with_a_message(client, method, path, body, status, message):
    client.post("/api/session", json={"session": "srv", "style": "random"})
    r = client.request(method, path, content=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_event_for_an_item_not_served_is_a_conflict(client, corpus):
    client.post("/api/session", json={"session": "c", "style": "random", "seed": 0})
    served = client.get("/api/next", params={"session": "c"}).json()["item_id"]
    other = next(it.item_id for it in corpus.items if it.item_id != served)
    r = client.post("/api/events", json={"session": "c", "item_id": other, "watched_s": 1})
    assert r.status_code == 409 and "was not served" in r.json()["error"]


def test_an_event_can_bring_the_next_post_and_a_replayed_one_is_refused(client):
    """One request per scroll: the watch event's answer carries the next post, and a
    replay of that request (its answer lost) is refused instead of recorded twice."""
    client.post("/api/session", json={"session": "n", "style": "tiktok", "seed": 2})
    first = client.get("/api/next", params={"session": "n"}).json()
    body = {"session": "n", "item_id": first["item_id"], "watched_s": 1.0, "served": 1,
            "next": True}
    r = client.post("/api/events", json=body)
    assert r.status_code == 200 and r.json()["watch_ratio"] > 0
    nxt = r.json()["next"]
    again = client.post("/api/events", json=body)
    assert again.status_code == 409 and "received 1 posts but session 'n' served 2" in \
        again.json()["error"]
    hist = client.get("/api/history", params={"session": "n"}).json()
    assert hist["served"] == [first["item_id"], nxt["item_id"]]
    assert [e["item_id"] for e in hist["events"]] == [first["item_id"]]
    # the same post as `GET /api/next` would have served (a twin session, same seed)
    client.post("/api/session", json={"session": "m", "style": "tiktok", "seed": 2})
    twin = client.get("/api/next", params={"session": "m"}).json()
    client.post("/api/events", json={"session": "m", "item_id": twin["item_id"],
                                     "watched_s": 1.0})
    assert client.get("/api/next", params={"session": "m"}).json() == nxt


def test_a_batch_of_events_is_answered_event_by_event_as_each_alone_would_be(client):
    """`POST /api/events/batch`: each body gets the answer `POST /api/events` gives it alone
    (a twin session, same seed, checks the post and ratio); a refused one gets its own 4xx
    and fails no other."""
    bodies, twins = [], []
    for i, name in enumerate(("b0", "b1")):
        for session in (name, "twin-" + name):
            client.post("/api/session", json={"session": session, "style": "tiktok",
                                              "seed": i})
        first = client.get("/api/next", params={"session": name}).json()
        client.get("/api/next", params={"session": "twin-" + name})
        bodies.append({"session": name, "item_id": first["item_id"], "watched_s": 2.0 + i,
                       "served": 1, "next": True})
        twins.append({**bodies[-1], "session": "twin-" + name})
    r = client.post("/api/events/batch", json={"requests": [
        bodies[0], {"session": "ghost", "item_id": "x", "watched_s": 1.0}, [1], bodies[1],
        bodies[0]]})  # the last: a replay of the first
    assert r.status_code == 200, r.text
    replies = r.json()["replies"]
    assert [a["status"] for a in replies] == [200, 404, 400, 200, 409]
    assert "unknown session 'ghost'" in replies[1]["body"]["error"]
    assert "requests[2] must be an object" in replies[2]["body"]["error"]
    for body, twin, answer in zip(bodies, twins, (replies[0], replies[3]), strict=True):
        alone = client.post("/api/events", json=twin).json()
        assert answer["body"]["next"]["item_id"] == alone["next"]["item_id"]
        assert answer["body"]["watch_ratio"] == alone["watch_ratio"]
        hist = client.get("/api/history", params={"session": body["session"]}).json()
        assert len(hist["events"]) == 1  # the replay was not recorded


def test_an_event_that_fails_in_a_batch_fails_alone(feed_server, client, monkeypatch):
    platform = feed_server.platform
    record = platform.record_watch

    def faulty(session, *args, **kwargs):  # TEST DOUBLE: a fault in one session's event
        if session == "boom":
            raise RuntimeError("disk on fire")
        return record(session, *args, **kwargs)

    monkeypatch.setattr(platform, "record_watch", faulty)
    bodies = []
    for name in ("boom", "fine"):
        client.post("/api/session", json={"session": name, "style": "tiktok", "seed": 1})
        first = client.get("/api/next", params={"session": name}).json()
        bodies.append({"session": name, "item_id": first["item_id"], "watched_s": 1.0})
    replies = client.post("/api/events/batch", json={"requests": bodies}).json()["replies"]
    assert [a["status"] for a in replies] == [500, 200]
    assert replies[0]["body"]["error"] == "RuntimeError: disk on fire"
    assert len(client.get("/api/history", params={"session": "fine"}).json()["events"]) == 1


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"requests": {}}, 400, "'requests' must be list"),
    ({}, 400, "missing field 'requests'"),
    ({"requests": [{}] * 1025}, 413, "a batch of 1,025 events; at most 1,024"),
])
def test_a_bad_batch_is_refused_whole_with_a_4xx(client, body, status, message):
    r = client.post("/api/events/batch", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_server_binds_a_free_port_and_stops(corpus):
    server = FeedServer(FeedPlatform(corpus), port=0).start()
    url = server.url
    assert not url.endswith(":0")
    assert httpx.get(url + "/").status_code == 200
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/", timeout=2)

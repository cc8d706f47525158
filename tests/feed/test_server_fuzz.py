"""The feed server's HTTP API, fuzzed: 4xx for anything malformed, never a 500, and never a
file from outside the corpus (or the page's static folder)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from valuespectrum.feed.platform import FeedPlatform
from valuespectrum.feed.server import MAX_BODY_BYTES, _static_dir, build_app

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

ROUTES = ["/", "/api/session", "/api/next", "/api/events", "/api/history", "/api/items/{id}",
          "/media/{id}", "/images/{img}", "/static/feed.js", "/static/{any}", "/tiktok",
          "/random", "/{any}", "/favicon.ico"]
TRAVERSALS = ["../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd",
              "....//....//etc/passwd", "/etc/passwd", "images/../../corpus.json",
              "images/%2e%2e/corpus.json", "..\\..\\windows\\win.ini", "%00", "a" * 3000,
              "images/", "corpus.json", "../corpus.json", "%252e%252e%252fetc%252fpasswd"]
FIELDS = ["session", "style", "seed", "clock", "speed", "item_id", "watched_s", "skipped"]


@pytest.fixture(scope="module")
def client(corpus):
    with TestClient(build_app(FeedPlatform(corpus)), raise_server_exceptions=False) as c:
        yield c


class Digests(frozenset):
    def __repr__(self) -> str:  # hypothesis prints fixtures of a failing example
        return f"<{len(self)} file digests>"


@pytest.fixture(scope="module")
def allowed_files(corpus_dir) -> Digests:
    """Digests of every file the server may send: corpus images and the page's files."""
    files = [p for p in Path(corpus_dir).rglob("*") if p.is_file() and p.suffix != ".json"]
    files += [p for p in _static_dir().rglob("*") if p.is_file()]
    return Digests(hashlib.sha256(p.resolve().read_bytes()).hexdigest() for p in files)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def bodies(item_ids: list[str]):
    field_values = st.one_of(json_values, st.sampled_from(item_ids), st.sampled_from(
        ["tiktok", "random", "manual", "realtime", "s1", "", "x" * 200]),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([float("nan"), float("inf"), -1.0, 1e308, 0.0]))
    api = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=8)
    valid = st.sampled_from([
        {"session": "s1", "style": "tiktok", "seed": 1, "clock": "manual", "speed": 1.0},
        {"session": "s1", "item_id": item_ids[0], "watched_s": 3.0, "skipped": False}])
    one_off = st.builds(lambda base, key, value: {**base, key: value},  # reach deeper checks
                        valid, st.sampled_from(FIELDS), field_values)
    return st.one_of(
        api.map(lambda d: json.dumps(d, allow_nan=True).encode()),
        one_off.map(lambda d: json.dumps(d, allow_nan=True).encode()),
        json_values.map(lambda v: json.dumps(v, allow_nan=True).encode()),
        st.binary(max_size=200),
        st.just(b'{"session": "s1", "style": "tiktok"'),
        st.none(),
    )


def paths(item_ids: list[str]):
    ids = st.one_of(st.sampled_from(item_ids), st.sampled_from(TRAVERSALS), st.text(max_size=40))
    return st.builds(
        lambda route, a, b: route.replace("{id}", a).replace("{img}", b).replace("{any}", a),
        st.sampled_from(ROUTES), ids,
        st.one_of(ids, st.sampled_from(["images/" + i for i in TRAVERSALS])))


def check(response, allowed_files: set[str]) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    kind = response.headers.get("content-type", "")
    if response.status_code == 200 and response.request.method != "HEAD" and \
            not kind.startswith(("application/json", "text/html")):
        digest = hashlib.sha256(response.content).hexdigest()
        assert digest in allowed_files, f"served a file from outside the corpus ({kind})"
    assert b"root:x:0:0" not in response.content


@FUZZ
@given(data=st.data())
def test_any_request_gets_a_4xx_or_a_corpus_file_never_a_500(client, corpus, allowed_files,
                                                               data):
    ids = [it.item_id for it in corpus.items[:20]]
    client.post("/api/session", json={"session": "s1", "style": "tiktok", "seed": 1})
    method = data.draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD",
                                        "OPTIONS"]))
    path = data.draw(paths(ids))
    params = data.draw(st.dictionaries(st.sampled_from(["session", "seed", "style", "x"]),
                                       st.text(max_size=20), max_size=2))
    body = data.draw(bodies(ids))
    try:
        response = client.request(method, path, params=params, content=body)
    except Exception as e:  # the test client refuses URLs no browser would send
        if "url" in type(e).__name__.lower() or "Invalid" in str(e):
            return
        raise
    check(response, allowed_files)


EDGES = [-1, 0, -(2**63), 2**64, 1.5, -0.5, float("nan"), float("inf"), float("-inf"), 1e308,
         "", "\x00", "x" * 500, None, True, [], {}, "../../etc/passwd"]
VALID_BODIES = {
    "/api/session": {"session": "s1", "style": "tiktok", "seed": 1, "clock": "manual",
                     "speed": 1.0},
    "/api/events": {"session": "s1", "item_id": "SERVED", "watched_s": 3.0, "skipped": False},
}


@pytest.mark.parametrize("path,field", [(p, f) for p, body in VALID_BODIES.items()
                                        for f in body])
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=st.one_of(st.sampled_from(EDGES), json_values))
def test_each_api_field_with_any_value_gets_a_4xx_never_a_500(client, allowed_files, path,
                                                               field, value):
    client.post("/api/session", json={"session": "s1", "style": "tiktok", "seed": 1})
    served = client.get("/api/next", params={"session": "s1"}).json()["item_id"]
    body = {k: served if v == "SERVED" else v for k, v in VALID_BODIES[path].items()}
    body[field] = value
    check(client.post(path, content=json.dumps(body, allow_nan=True)), allowed_files)


def test_malformed_json_and_unknown_ids_are_4xx_with_a_message(client, corpus):
    item = corpus.items[0].item_id
    for method, path, body in [
        ("POST", "/api/session", b"{not json"),
        ("POST", "/api/session", b"[1, 2]"),
        ("POST", "/api/session", json.dumps({"session": "s", "style": "tiktok",
                                             "seed": -1}).encode()),
        ("POST", "/api/session", json.dumps({"session": "s", "style": "tiktok",
                                             "seed": 1.5}).encode()),
        ("POST", "/api/events", json.dumps({"session": "nope", "item_id": item,
                                            "watched_s": 1}).encode()),
        ("GET", "/api/next?session=nope", None),
        ("GET", "/api/items/nope", None),
        ("GET", "/media/nope", None),
        ("DELETE", "/api/session", None),
        ("GET", "/api/events", None),
    ]:
        r = client.request(method, path, content=body)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
        assert r.json()["error"], (method, path)


def test_path_traversal_never_leaves_the_corpus(client, allowed_files):
    for bad in TRAVERSALS:
        for route in ("/images/", "/static/", "/media/", "/api/items/", "/"):
            r = client.get(route + bad)
            check(r, allowed_files)
            assert r.status_code != 200 or route == "/" and "text/html" in r.headers[
                "content-type"], (route + bad, r.status_code)


def test_an_oversized_body_is_refused_with_413(client):
    big = b'{"session": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    for path in ("/api/session", "/api/events"):
        r = client.post(path, content=big)
        assert r.status_code == 413 and "at most" in r.json()["error"]

"""StoreActor: one Ray actor owns the store; others get records back, and a second
owner is refused with the holder named."""

from __future__ import annotations

import pytest

from tests.store.conftest import unit_rows
from valuespectrum.store.actor import StoreOwner
from valuespectrum.store.vector_store import ScreenshotRecord, StoreLockedError


def test_store_owner_in_process(tmp_path):
    owner = StoreOwner(tmp_path / "o.db", "minilm")
    recs = [ScreenshotRecord(path=f"{w}.png", caption=w, platform="tiktok")
            for w in ("a puppy playing", "stock market chart", "a birthday party")]
    from valuespectrum.embedders import make_embedder

    vecs = make_embedder("minilm").embed_texts([r.caption for r in recs])
    assert owner.add(recs, vecs) == 3
    got = owner.retrieve(k=1)
    pet = next(r for r in got if r.keyword == "pet care")
    assert pet.hit.path == "a puppy playing.png"
    assert owner.stats().count == 3
    owner.close()


@pytest.mark.slow
def test_store_actor_is_the_single_owner(tmp_path, ray_session):
    from valuespectrum.store.actor import StoreActor
    from valuespectrum.store.vector_store import ScreenshotStore

    ray = ray_session
    actor = StoreActor.spawn(tmp_path / "a.db", "clip:ViT-S-32-alt")
    recs = [ScreenshotRecord(path=f"{i}.png") for i in range(20)]
    n = ray.get(actor.add.remote(recs, unit_rows(20, 256, 0)))
    assert n == 20 and ray.get(actor.stats.remote()).count == 20
    hits = ray.get(actor.search.remote(unit_rows(20, 256, 0)[3:4], 1))
    assert hits[0][0].path == "3.png"
    with pytest.raises(StoreLockedError, match="pid"):
        ScreenshotStore(tmp_path / "a.db", "clip:ViT-S-32-alt", 256)
    ray.get(actor.close.remote())
    ray.kill(actor)

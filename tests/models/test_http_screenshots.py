"""The http kind's JPEG screenshots reach the model and the run directory unchanged."""

from __future__ import annotations


async def test_a_jpeg_drawn_by_the_http_kind_is_stored_as_the_model_saw_it(
        feed_server, tmp_path, openai_server):
    """No PNG step and no re-encoding: the run directory keeps the very bytes sent."""
    import base64

    from vspec_helpers import sweep_spec

    from valuespectrum.agents.actor import ActorOptions, ViewerHost
    from valuespectrum.sweep.spec import expand
    from valuespectrum.trial import EndEvent, StepEvent

    spec = sweep_spec(
        tmp_path / "jpeg.yaml", name="jpeg", personas=["pet_owner"], strategies=["simple"],
        models=[{"spec": "openai:test-model", "base_url": openai_server.url}], trials=1,
        scrolls=3, window=1, cache_dir=None,
        platforms=[{"style": "tiktok", "environment": "http",
                    "options": {"screenshot": "jpeg"}}])
    (trial,) = expand(spec)
    host = ViewerHost(ActorOptions(feed_urls=(feed_server.url,)))
    try:
        events = [e async for e in host.run_trial(trial)]
    finally:
        await host.shutdown()
    assert isinstance(events[-1], EndEvent) and events[-1].status == "done", events[-1]
    prefix = "data:image/jpeg;base64,"
    sent = [base64.b64decode(part["image_url"]["url"][len(prefix):])
            for body in openai_server.requests for msg in body["messages"]
            if isinstance(msg["content"], list) for part in msg["content"]
            if part["type"] == "image_url" and part["image_url"]["url"].startswith(prefix)]
    stored = [e.jpeg for e in events if isinstance(e, StepEvent)]
    assert len(stored) == 3 and stored == sent
    assert all(j[:3] == b"\xff\xd8\xff" for j in stored)

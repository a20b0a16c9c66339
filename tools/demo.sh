#!/usr/bin/env bash
# tools/demo.sh -- the main job: build frost (release, no tests) and run
# bench/demo.py, which freezes a 1,000,000-entry dict and reads it from the
# main interpreter and from one own-GIL subinterpreter per core. Extra
# arguments go to demo.py.
#
# Needs only a C compiler and a CPython >= 3.12: CMake and Ninja come from
# PyPI into .venv/py3.X when the system has none; arena chunks come from mmap.
set -euo pipefail
FROST_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$FROST_ROOT"
source tools/env.sh
frost_install_packages build
frost_setup_python "${FROST_DEMO_PYTHON:-}" build
log="build/demo$FROST_BUILD_SUFFIX.log"
mkdir -p build
echo "== building frost (preset demo, Python $FROST_PY_VERSION); log: $log"
if ! { cmake --preset demo && cmake --build --preset demo; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "error: the build failed (full log: $log)" >&2
    exit 1
fi
sed -n '/^CMake Warning/,/^$/p' "$log" >&2   # CMake's warnings, if any
PYTHONPATH="$FROST_ROOT/build/demo$FROST_BUILD_SUFFIX/python" exec "$FROST_PYTHON" bench/demo.py "$@"

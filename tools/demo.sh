#!/usr/bin/env bash
# tools/demo.sh -- the main job: build frost (release) and run bench/demo.py,
# which freezes a 1,000,000-entry dict and reads it from the main interpreter
# and from one own-GIL subinterpreter per core. Extra arguments go to demo.py.
set -euo pipefail
FROST_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$FROST_ROOT"
source tools/env.sh
frost_setup_python "${FROST_DEMO_PYTHON:-}"
cmake --preset release >/dev/null
cmake --build --preset release --target _frost frost_python_package >/dev/null
PYTHONPATH="$FROST_ROOT/build/release$FROST_BUILD_SUFFIX/python" exec "$FROST_PYTHON" bench/demo.py "$@"

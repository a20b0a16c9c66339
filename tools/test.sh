#!/usr/bin/env bash
# tools/test.sh -- build frost and run every test (GoogleTests + Python suites).
#
#   bash tools/test.sh                      # newest Python >= 3.12 found, preset dev
#   bash tools/test.sh --python 3.12        # a given version
#   bash tools/test.sh --preset asan        # dev, release, asan or tsan
#
# Builds into build/<preset>-py3.X with a venv in .venv/py3.X (pytest,
# hypothesis, numpy). Exit status: that of the ctest run.
set -euo pipefail
FROST_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$FROST_ROOT"
source tools/env.sh

want="" preset="dev"
while [ $# -gt 0 ]; do
    case "$1" in
        --python) want="$2"; shift 2 ;;
        --preset) preset="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$preset" in dev|release|asan|tsan) ;; *) echo "unknown preset: $preset" >&2; exit 2 ;; esac

frost_setup_python "$want"
echo "== frost: preset $preset, Python $FROST_PY_VERSION ($FROST_PYTHON)"
exec cmake --workflow --preset "$preset"

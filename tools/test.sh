#!/usr/bin/env bash
# tools/test.sh -- build frost and run every test (GoogleTests + Python suites).
#
#   bash tools/test.sh                      # every Python >= 3.12 found, preset dev
#   bash tools/test.sh --python 3.12        # one version
#   bash tools/test.sh --preset asan        # dev, release, asan or tsan (newest Python
#                                           # unless --python is given)
#   bash tools/test.sh --preset memcheck    # the GoogleTests under valgrind memcheck
#                                           # (ctest -T memcheck; tests/valgrind.supp)
#
# Builds into build/<preset>-py3.X with a venv in .venv/py3.X (pytest,
# hypothesis, numpy). Exit status: non-zero if any run failed.
set -euo pipefail
FROST_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$FROST_ROOT"
source tools/env.sh

want="" preset="dev"
while [ $# -gt 0 ]; do
    case "$1" in
        --python) want="$2"; shift 2 ;;
        --preset) preset="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$preset" in dev|release|asan|tsan|memcheck) ;; *) echo "unknown preset: $preset" >&2; exit 2 ;; esac

if [ -z "$want" ]; then
    versions=$(frost_all_versions)
    [ "$preset" = dev ] || versions=${versions%% *}   # sanitizer runs: the newest only
else
    versions=$want
fi
[ -n "$versions" ] || frost_setup_python ""           # prints what to install, exits

status=0
for v in $versions; do
    frost_setup_python "$v"
    echo "== frost: preset $preset, Python $FROST_PY_VERSION ($FROST_PYTHON)"
    if [ "$preset" = memcheck ]; then   # a workflow step can't pass -T memcheck
        command -v valgrind >/dev/null || { echo "memcheck needs valgrind (apt-get install valgrind)" >&2; exit 2; }
        { cmake --preset memcheck && cmake --build --preset memcheck &&
          ctest --preset memcheck --test-dir "build/memcheck$FROST_BUILD_SUFFIX" -T memcheck; } || status=1
    else
        cmake --workflow --preset "$preset" || status=1
    fi
done
exit $status

#!/usr/bin/env bash
# tools/test.sh -- install what the tests need, build frost and run every test
# (GoogleTests, then the Python suites with pytest's own per-test output).
#
#   bash tools/test.sh                      # every Python >= 3.12 found, preset dev
#   bash tools/test.sh --python 3.12        # one version
#   bash tools/test.sh --preset asan        # dev, release, asan or tsan (newest Python
#                                           # unless --python is given)
#   bash tools/test.sh --preset memcheck    # the GoogleTests under valgrind memcheck
#                                           # (ctest -T memcheck; tests/valgrind.supp)
#   bash tools/test.sh -R 'test_views|arena' # only the ctest tests matching a regex
#                                           # (quick: -R python.test_views, ~20 s)
#
# System packages (GoogleTest, g++, ...) are installed through
# frost_install_packages (tools/env.sh) when it can, else it prints the
# apt-get line; the venv .venv/py3.X gets pytest, hypothesis, numpy and, if
# the system has none, CMake and Ninja. Builds into build/<preset>-py3.X.
# Exit status: non-zero if any run failed.
set -euo pipefail
FROST_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$FROST_ROOT"
source tools/env.sh

want="" preset="dev" filter=()
while [ $# -gt 0 ]; do
    case "$1" in
        --python) want="$2"; shift 2 ;;
        --preset) preset="$2"; shift 2 ;;
        -R) filter=(-R "$2"); shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
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
case "$preset" in memcheck) frost_install_packages memcheck ;; *) frost_install_packages test ;; esac

# ctest --verbose, streamed, without ctest's own per-test preamble (command,
# directory, environment, timeout): what is left is the tests' own output,
# prefixed "N: " by ctest, and its "k/n Test #N: name ... Passed" lines.
ctest_streamed() {
    ctest --verbose "$@" | awk '
        /^[0-9]+: (Test command:|Working Directory:|Environment variables:|Test timeout computed)/ { next }
        /^[0-9]+:  [A-Za-z_][A-Za-z0-9_]*=/ { next }
        /^(UpdateCTestConfiguration|Constructing a list|Done constructing|Updating test list|Added [0-9]+ tests|Checking test dependency|test [0-9]+$)/ { next }
        /^$/ { next }
        { print; fflush() }'
    return "${PIPESTATUS[0]}"
}

status=0
for v in $versions; do
    frost_setup_python "$v" test
    build="build/$preset$FROST_BUILD_SUFFIX"
    echo "== frost: preset $preset, Python $FROST_PY_VERSION ($FROST_PYTHON)"
    if ! { cmake --preset "$preset" && cmake --build --preset "$preset"; }; then
        status=1; continue
    fi
    start=$SECONDS
    if [ "$preset" = memcheck ]; then   # ctest -T memcheck; the preset keeps only the GoogleTests
        ctest --preset memcheck --test-dir "$build" -T memcheck "${filter[@]}" || status=1
    elif [ ${#filter[@]} -gt 0 ]; then
        ctest_streamed --preset "$preset" "${filter[@]}" || status=1
    else
        echo "== GoogleTests ($build)"
        ctest --preset "$preset" -E '^python\.' || status=1
        # One ctest per file, pytest -v inside: each test's line as it ends
        # ("N: test_x.py::Case::test_y PASSED"), N the ctest number of its file
        # (two files run side by side).
        echo "== Python suites ($build; pytest -v, two files at a time)"
        ctest_streamed --preset "$preset" -R '^python\.' || status=1
    fi
    echo "== Python $FROST_PY_VERSION, preset $preset: tests took $((SECONDS - start)) s"
done
exit $status

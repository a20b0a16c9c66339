# tools/env.sh -- sourced by tools/*.sh and .ci/run. The one place that knows
# what frost needs from the machine and how to get it:
#
#   frost_install_packages SET   system packages (apt-get) for SET: build, test,
#                                memcheck or ci; installs what is missing when it
#                                can (root or password-less sudo), else prints the
#                                exact apt-get line. FROST_NO_INSTALL=1: only print.
#   frost_setup_python VER [build|test]  the venv .venv/py3.X (VER "" = newest
#                                CPython >= 3.12 found), its bin/ first on PATH, with
#                                CMake and Ninja from PyPI when the system has none
#                                new enough, and unless "build" (tools/demo.sh): the
#                                test tooling pytest, hypothesis, numpy, mypy, pyarrow, pandas, polars,
#                                distributed (tests/python/test_dask.py).
#                                Sets FROST_PY_VERSION, FROST_PYTHON (the venv's
#                                python), FROST_BUILD_SUFFIX (read by the presets).
#   frost_find_python VER, frost_all_versions
#
# Every error names what to install.

# name|probe (a shell test, true when it is there)|sets it belongs to|what for
FROST_PACKAGES=(
    "gcc|frost_have_cmd cc gcc|build test memcheck ci|the C compiler"
    "g++|frost_have_cmd c++ g++|test memcheck ci|the GoogleTests (C++)"
    "libgtest-dev|frost_have_file include/gtest/gtest.h|test memcheck ci|the GoogleTests"
    "libmimalloc-dev|frost_have_file include/mimalloc.h include/mimalloc-2.*/mimalloc.h|ci|the optional mimalloc arena backend (-DFROST_ALLOCATOR=mimalloc)"
    "valgrind|frost_have_cmd valgrind|memcheck ci|tools/test.sh --preset memcheck"
    "pkg-config|frost_have_cmd pkg-config|ci|the C embedding check (tools/embed_check.sh)"
)

frost_have_cmd() { local c; for c; do command -v "$c" >/dev/null 2>&1 && return 0; done; return 1; }
frost_have_file() {   # a header under /usr or /usr/local
    local f p
    for f; do for p in /usr/$f /usr/local/$f; do [ -e "$p" ] && return 0; done; done
    return 1
}

frost_join() { local out="$1" x; shift; for x; do out="$out; $x"; done; echo "$out"; }

frost_install_packages() {   # $1: build | test | memcheck | ci
    local set="$1" entry name probe sets what required=() optional=() why=()
    for entry in "${FROST_PACKAGES[@]}"; do
        IFS='|' read -r name probe sets what <<<"$entry"
        case " $sets " in
            *" $set "*) eval "$probe" || { required+=("$name"); why+=("$name: $what"); } ;;
            *" $set? "*) eval "$probe" || { optional+=("$name"); why+=("$name: $what"); } ;;
        esac
    done
    local missing=("${required[@]}" "${optional[@]}")
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo="" can=0
    if [ "${FROST_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then can=1
        elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then can=1 sudo=sudo
        fi
    fi
    if [ $can = 1 ]; then
        echo "== installing ${missing[*]} (for: $(frost_join "${why[@]}"))"
        $sudo apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null || true
        required=() optional=()
        for entry in "${FROST_PACKAGES[@]}"; do
            IFS='|' read -r name probe sets what <<<"$entry"
            case " $sets " in
                *" $set "*) eval "$probe" || required+=("$name") ;;
                *" $set? "*) eval "$probe" || optional+=("$name") ;;
            esac
        done
    fi
    local line="sudo apt-get install -y ${required[*]} ${optional[*]}"
    if [ ${#required[@]} -gt 0 ]; then
        echo "error: $set needs ${required[*]} ($(frost_join "${why[@]}"))." >&2
        echo "  install them:  $line" >&2
        echo "  (other systems: the same tools from your package manager)" >&2
        return 2
    fi
    if [ ${#optional[@]} -gt 0 ]; then
        echo "note: without ${optional[*]} the build falls back ($(frost_join "${why[@]}")); to add it: $line" >&2
    fi
    return 0
}

frost_find_python() {   # $1: "3.13", "3.12" or "" (newest found)
    local want="$1" v cand
    for v in ${want:-3.14 3.13 3.12}; do
        for cand in "python$v" \
                    ${PYENV_ROOT:+"$PYENV_ROOT"/versions/"$v".*/bin/python"$v"} \
                    "$HOME"/.pyenv/versions/"$v".*/bin/python"$v"; do
            case "$cand" in *t/bin/*) continue ;; esac
            if command -v "$cand" >/dev/null 2>&1 &&
               "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
                command -v "$cand"
                return 0
            fi
        done
    done
    return 1
}

frost_all_versions() {  # every CPython >= 3.12 found, newest first ("3.13 3.12")
    local v found=""
    for v in 3.14 3.13 3.12; do
        frost_find_python "$v" >/dev/null && found="$found $v"
    done
    echo $found
}

frost_cmake_ok() {      # a cmake >= 3.25 on PATH
    command -v cmake >/dev/null 2>&1 &&
        cmake -P /dev/stdin <<<'if(CMAKE_VERSION VERSION_LESS 3.25)
message(FATAL_ERROR old)
endif()' >/dev/null 2>&1
}

frost_pip() {           # pip install into the venv, with a message naming the packages
    "$FROST_PYTHON" -m pip install -q --disable-pip-version-check "$@" || {
        echo "error: could not pip-install $* into ${FROST_PYTHON%/bin/python}" \
             "(is PyPI reachable?)." >&2
        echo "  install them by hand: $FROST_PYTHON -m pip install $*" >&2
        return 2
    }
}

frost_setup_python() {  # $1: wanted version or ""; $2: "build" (no test tooling) or "test" (default)
    local base
    if ! base=$(frost_find_python "$1"); then
        echo "error: no CPython ${1:->= 3.12} found (frost needs 3.12+ for per-interpreter GILs)." >&2
        echo "  install one: apt-get install python3.12-dev python3.12-venv, or" >&2
        echo "  env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.13" >&2
        return 2
    fi
    FROST_PY_VERSION=$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    # FROST_ROOT unset (env.sh sourced by hand): this checkout, not /.venv
    local venv="${FROST_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/.venv/py$FROST_PY_VERSION"
    if [ ! -x "$venv/bin/python" ]; then
        echo "== creating $venv from $base"
        "$base" -m venv "$venv" || {
            echo "error: $base cannot make a venv: apt-get install python$FROST_PY_VERSION-venv" >&2
            return 2
        }
    fi
    FROST_PYTHON="$venv/bin/python"
    FROST_BUILD_SUFFIX="-py$FROST_PY_VERSION"
    export FROST_PYTHON FROST_BUILD_SUFFIX FROST_PY_VERSION
    case ":$PATH:" in *":$venv/bin:"*) ;; *) export PATH="$venv/bin:$PATH" ;; esac
    local want=()
    frost_cmake_ok || want+=("cmake>=3.25")
    ninja --version >/dev/null 2>&1 || want+=("ninja")
    if [ "${2:-test}" = test ] && ! "$FROST_PYTHON" -c 'import pytest, hypothesis, numpy, mypy, pyarrow, pandas, polars, distributed' 2>/dev/null; then
        want+=(pytest hypothesis numpy mypy pyarrow pandas polars distributed)
    fi
    if [ ${#want[@]} -gt 0 ]; then
        echo "== installing ${want[*]} into $venv (PyPI)"
        frost_pip "${want[@]}" || return 2
    fi
}

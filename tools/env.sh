# tools/env.sh -- sourced by tools/*.sh: find a CPython >= 3.12 and make the
# venv .venv/py3.X with the test tooling (pytest, hypothesis, numpy,
# pyarrow, pandas, polars).
# Sets FROST_PY_VERSION, FROST_PYTHON (the venv's python), FROST_BUILD_SUFFIX.

frost_find_python() {   # $1: "3.13", "3.12" or "" (newest found)
    local want="$1" v cand root
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

frost_setup_python() {  # $1: wanted version or ""
    local base
    if ! base=$(frost_find_python "$1"); then
        echo "error: no CPython ${1:->= 3.12} found (frost needs 3.12+ for per-interpreter GILs)." >&2
        echo "  install one: apt-get install python3.12-dev python3.12-venv, or" >&2
        echo "  env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.13" >&2
        exit 2
    fi
    FROST_PY_VERSION=$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    local venv="$FROST_ROOT/.venv/py$FROST_PY_VERSION"
    if [ ! -x "$venv/bin/python" ]; then
        echo "== creating $venv from $base"
        "$base" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c 'import pytest, hypothesis, numpy, pyarrow, pandas, polars' 2>/dev/null; then
        "$venv/bin/python" -m pip install -q --disable-pip-version-check pytest hypothesis numpy pyarrow pandas polars
    fi
    FROST_PYTHON="$venv/bin/python"
    FROST_BUILD_SUFFIX="-py$FROST_PY_VERSION"
    export FROST_PYTHON FROST_BUILD_SUFFIX FROST_PY_VERSION
}

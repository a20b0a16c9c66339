#!/usr/bin/env bash
# tools/embed_check.sh [--python 3.13] -- frost's C embedding API as a user
# gets it (run by .ci/run):
#   1. build frost (preset demo) and `cmake --install` it into a temporary prefix;
#   2. <frost/frost_pool.h> compiles with only -I<prefix>/include, and with
#      `pkg-config --cflags frost`; examples/embed/embed_pool.c links with
#      `pkg-config --libs frost` (+ python3.X-config --embed) and runs;
#   3. examples/embed builds with find_package(frost) against the prefix and runs;
#   4. examples/embed builds frost itself through add_subdirectory and runs.
# Each run embeds CPython, freezes a dict, attaches it to a pool of own-GIL
# subinterpreters, sums it there and checks the sum.
set -euo pipefail
FROST_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$FROST_ROOT"
source tools/env.sh
want=""
[ "${1:-}" = --python ] && want=$2
frost_setup_python "$want" build
tmp=$(mktemp -d "${TMPDIR:-/tmp}/frost-embed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
build=build/demo$FROST_BUILD_SUFFIX
quiet() { "$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; echo "error: $*" >&2; exit 1; }; }

echo "== embed 1: cmake --install $build --prefix $prefix"
quiet cmake --preset demo
quiet cmake --build --preset demo
quiet cmake --install "$build" --prefix "$prefix"
(cd "$prefix" && find . -type f -not -path '*/frost/*.py*' | sort | sed 's/^/   /')
pythonpath=$(sed -n 's/^pythonpath=${prefix}\///p' "$prefix/lib/pkgconfig/frost.pc")
pythonpath=$prefix/$pythonpath

echo "== embed 2: the header alone, and pkg-config"
echo '#include <frost/frost_pool.h>' | cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$prefix/include" -x c -
if command -v pkg-config >/dev/null; then
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    echo '#include <frost/frost_pool.h>' | cc -std=c11 -Wall -Werror -fsyntax-only $(pkg-config --cflags frost) -x c -
    pyconfig=$("$FROST_PYTHON" -c 'import sys, sysconfig; print(sys.base_prefix + "/bin/python" + sysconfig.get_python_version() + "-config")')
    pylibdir=$("$FROST_PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')
    cc -std=c11 -Wall -Werror -o "$tmp/embed_pc" examples/embed/embed_pool.c \
        $(pkg-config --cflags frost) $("$pyconfig" --includes) \
        $(pkg-config --libs frost) $("$pyconfig" --ldflags --embed) -Wl,-rpath,"$pylibdir"
    PYTHONPATH=$pythonpath "$tmp/embed_pc" examples/embed
else
    echo "   (no pkg-config: skipped; apt-get install pkg-config)"
fi

echo "== embed 3: examples/embed with find_package(frost) from $prefix"
quiet cmake -S examples/embed -B "$tmp/find" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
    -DPython_EXECUTABLE="$FROST_PYTHON"
quiet cmake --build "$tmp/find"
PYTHONPATH=$pythonpath "$tmp/find/embed_pool" examples/embed

echo "== embed 4: examples/embed with add_subdirectory(frost)"
quiet cmake -S examples/embed -B "$tmp/sub" -G Ninja -DFROST_SOURCE_DIR="$FROST_ROOT" \
    -DPython_EXECUTABLE="$FROST_PYTHON"
quiet cmake --build "$tmp/sub"
PYTHONPATH=$tmp/sub/frost/python "$tmp/sub/embed_pool" examples/embed
echo "== embed: all passed"

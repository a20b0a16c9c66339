#!/usr/bin/env bash
# tools/fresh_machine_check.sh -- README's two commands on a fresh machine,
# simulated on a Debian 12 box (root only; changes nothing on the host):
#
#   sudo bash tools/fresh_machine_check.sh [COMMIT-ISH] [-- CMD...]
#
# In a private mount namespace, / is overlaid with a tmpfs (every write,
# apt's included, lands there and vanishes at the end) and chrooted into;
# there the Debian dev packages frost can use are removed (apt-get remove)
# (GoogleTest, mimalloc, jemalloc, Google Benchmark, CMake, Ninja, g++,
# clang, valgrind, pkg-config), PATH holds no pyenv shims (so no cmake or
# ninja from another Python), and the repository is cloned fresh to
# /tmp/x/main (with /tmp/x/shared -> /work/shared). Then, in the clone:
#   bash tools/demo.sh --entries 200000 --workers 2    (must need no apt-get)
#   bash tools/test.sh                                  (installs what it needs)
# or CMD... instead of the test command. The CPythons are the host's
# ~/.pyenv/versions (3.12 and 3.13). Prints each step; exit status 0 when
# every step passed.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
rev=HEAD
if [ $# -gt 0 ] && [ "$1" != -- ]; then rev=$1; shift; fi
[ "${1:-}" = -- ] && shift
test_cmd=${*:-bash tools/test.sh}
[ "$(id -u)" -eq 0 ] || { echo "needs root (mount namespace, overlay, chroot)" >&2; exit 2; }
scratch=$(mktemp -d /tmp/frost-fresh.XXXXXX)
trap 'rmdir "$scratch" 2>/dev/null || true' EXIT

remove="libgtest-dev googletest libmimalloc-dev libjemalloc-dev libbenchmark-dev cmake ninja-build
        g++ g++-12 clang clang-14 valgrind pkg-config pkgconf pkgconf-bin"
unshare -m --propagation private bash -euo pipefail -c '
    scratch=$1 src=$2 rev=$3 remove=$4 test_cmd=$5
    mount -t tmpfs -o size=16g tmpfs "$scratch"
    mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root"
    r=$scratch/root
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    mount --rbind /sys "$r/sys"
    in_root() { chroot "$r" env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
                    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                    bash -euo pipefail -c "$1"; }
    echo "== fresh machine: removing $(echo $remove) (inside the overlay only)"
    installed=$(for p in $remove; do dpkg -s "$p" >/dev/null 2>&1 && echo "$p"; done)
    in_root "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq $(echo $installed) >/dev/null"
    in_root "for c in cmake ninja c++ g++ clang++ valgrind pkg-config; do
                 ! command -v \$c >/dev/null || { echo \"still there: \$c\" >&2; exit 1; }; done
             ! ls /usr/include/gtest /usr/include/mimalloc* >/dev/null 2>&1 ||
                 { echo \"headers still there\" >&2; exit 1; }
             echo \"   no cmake, ninja, C++ compiler, GoogleTest, mimalloc; cc: \$(cc --version | head -1)\""
    echo "== fresh clone of $src ($rev) into /tmp/x/main"
    in_root "mkdir -p /tmp/x && git clone -q --no-hardlinks $src /tmp/x/main && git -C /tmp/x/main checkout -q $rev &&
             ln -s /work/shared /tmp/x/shared && git -C /tmp/x/main log --oneline -1"
    echo "== README command 1: bash tools/demo.sh --entries 200000 --workers 2"
    in_root "cd /tmp/x/main && FROST_NO_INSTALL=1 bash tools/demo.sh --entries 200000 --workers 2"
    echo "== README command 2: $test_cmd"
    in_root "cd /tmp/x/main && $test_cmd"
    echo "== fresh machine check passed"
' fresh "$scratch" "$src" "$rev" "$remove" "$test_cmd"

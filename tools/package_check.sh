#!/usr/bin/env bash
# tools/package_check.sh [--python 3.13] [--no-dist] -- frost as a Python package (run by .ci/run):
#   1. `pip install <checkout>` into a fresh venv, from a read-only view of the
#      checkout when this runs as root (a read-only bind mount in a private
#      mount namespace), else checking that the build wrote nothing into it;
#   2. the installed frost-store imports as `frost`, has __version__ (=
#      pyproject's) and freezes and reads back;
#   3. `python -m build` makes an sdist and a wheel (from that sdist) whose
#      frost/ holds the extension, _version.py and any py.typed / *.pyi.
set -euo pipefail
FROST_ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$FROST_ROOT"
source tools/env.sh
want="" dist=1
while [ $# -gt 0 ]; do
    case "$1" in
        --python) want=$2; shift 2 ;;
        --no-dist) dist=0; shift ;;   # skip step 3 (CI builds the dist with one Python)
        *) echo "usage: $0 [--python 3.X] [--no-dist]" >&2; exit 2 ;;
    esac
done
base=$(frost_find_python "$want") || { frost_setup_python "$want"; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/frost-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$base" -m venv "$tmp/venv"
py=$tmp/venv/bin/python
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
pip_quiet() { "$py" -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v '^WARNING: Location' || true; }

echo "== package 1: pip install $FROST_ROOT ($("$py" -V))"
before=$(git status --porcelain --ignored | sort)
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
    unshare -m --propagation private bash -c 'mount --bind -o ro "$1" "$1" && cd / &&
        "$2" -m pip install -q --disable-pip-version-check "$1" 2>&1 | grep -v "^WARNING: Location"; exit "${PIPESTATUS[0]}"' \
        ro "$FROST_ROOT" "$py"
    echo "   (from a read-only bind mount of the checkout)"
else
    (cd / && "$py" -m pip install -q --disable-pip-version-check "$FROST_ROOT")
fi
after=$(git status --porcelain --ignored | sort)
[ "$before" = "$after" ] || { echo "error: pip install wrote into the checkout:" >&2; diff <(echo "$before") <(echo "$after") >&2; exit 1; }

echo "== package 2: import frost"
(cd / && "$py" -c "
import importlib.metadata as md, frost
assert frost.__version__ == '$version' == md.version('frost-store'), frost.__version__
with frost.freeze({'a': [1, 2.5, 'x']}) as store:
    assert frost.thaw(store.root) == {'a': [1, 2.5, 'x']}
print('   frost-store', frost.__version__, 'from', frost.__file__)
")

if [ $dist = 0 ]; then echo "== package: passed (no dist)"; exit 0; fi
echo "== package 3: python -m build"
pip_quiet build
"$py" -m build -o "$tmp/dist" . >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log" >&2; exit 1; }
ls "$tmp/dist" | sed 's/^/   /'
"$py" - "$tmp/dist" <<'PY'
import pathlib, sys, zipfile
dist = pathlib.Path(sys.argv[1])
wheel, = dist.glob("frost_store-*.whl")
names = set(zipfile.ZipFile(wheel).namelist())
src = pathlib.Path("python/frost")
want = {f"frost/{p.relative_to(src)}" for p in src.rglob("*")
        if p.is_file() and (p.suffix in (".py", ".pyi") or p.name == "py.typed")
        and "__pycache__" not in p.parts}
want.add("frost/_version.py")
missing = want - names
assert not missing, f"{wheel.name} lacks {sorted(missing)}"
assert any(n.startswith("frost/_frost.") and n.endswith(".so") for n in names), names
print(f"   {wheel.name}: {len(want)} package files + the extension")
PY
echo "== package: all passed"

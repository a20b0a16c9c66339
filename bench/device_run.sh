#!/usr/bin/env bash
# bench/device_run.sh -- one slice of the 16-core run recorded in bench/RESULTS.md:
# build frost (release flags, mmap chunk backend: no mimalloc there) and the C
# benchmarks with the machine's CPython, then run bench/driver.py for the given
# workloads. Each call fits one 10-minute device command; results go to $OUT
# (the device tool's output folder) or bench/results/<machine>/.
#
#   bash bench/device_run.sh W1,W2 1,2,4,8,16 [--contention] [-- driver args...]
#
# FROST_BENCH_PYTHON picks the interpreter (default /usr/bin/python3.12: the
# default python3 on the device machine is a venv whose startup can hang a
# subinterpreter). Needs cmake, a C compiler, the Python's headers and libpython.
set -euo pipefail
cd "$(dirname "$0")/.."

workloads=${1:?workloads, e.g. W1,W2}
workers=${2:?worker counts, e.g. 1,2,4,8,16}
shift 2
contention=0
if [[ ${1:-} == --contention ]]; then contention=1; shift; fi
[[ ${1:-} == -- ]] && shift

py=${FROST_BENCH_PYTHON:-/usr/bin/python3.12}
machine=${FROST_BENCH_MACHINE:-device-$(nproc)core}
out=${OUT:-bench/results/$machine}
build=build/bench-device
mkdir -p "$out"

gen=()
command -v ninja >/dev/null || gen=(-G "Unix Makefiles")
t0=$(date +%s)
if [[ ! -f $build/CMakeCache.txt ]]; then
    FROST_BUILD_SUFFIX=-device cmake --preset bench "${gen[@]}" -DFROST_ALLOCATOR=mmap \
        -DFROST_BUILD_TESTS=OFF -DPython_EXECUTABLE="$py" >"$out/build.log" 2>&1 \
        || { tail -40 "$out/build.log"; exit 1; }
fi
cmake --build "$build" -j"$(nproc)" >>"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "built in $(($(date +%s) - t0)) s: $("$py" -VV | head -1), $(nproc) CPUs"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
status=0   # a failed cell fails the driver; the C benchmarks still run
PYTHONPATH=$build/python "$py" bench/driver.py --workloads "$workloads" --workers "$workers" \
    --machine "$machine" --out "$out/${workloads//,/}-$stamp.jsonl" "$@" || status=$?

if (( contention )); then   # the C microbenchmarks (micro_bench only where libbenchmark is)
    "$build/bench/contention" ${workers//,/ } | tee "$out/contention-$stamp.txt"
    if [[ -x $build/bench/micro_bench ]]; then
        PYTHONHOME=$("$py" -c 'import sys; print(sys.base_prefix)') \
            "$build/bench/micro_bench" | tee "$out/micro_bench-$stamp.txt"
    fi
fi
exit $status

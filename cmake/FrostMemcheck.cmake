# cmake/FrostMemcheck.cmake -- valgrind memcheck for the GoogleTests through
# CTest's own support: `ctest --preset memcheck -T memcheck` (what
# `bash tools/test.sh --preset memcheck` runs). include(CTest) writes the
# settings below into DartConfiguration.tcl (and calls enable_testing()).
#
# A test fails when valgrind finds an error: an invalid read or write, a use of
# uninitialised memory, or a *definite* leak (--errors-for-leak-kinds=definite;
# "still reachable" memory of the embedded interpreter is not an error).
# tests/valgrind.supp holds CPython's known noise, each entry with a comment on
# why it lies inside CPython. The embedded tests need PYTHONMALLOC=malloc (set
# by the memcheck test preset) so that valgrind sees every object allocation.
#
# The memcheck preset builds with FROST_ALLOCATOR=mmap: libmimalloc overrides
# malloc/free/new/delete under aliases, which valgrind intercepts by name, so
# mi_free of a mimalloc chunk shows as an invalid free() and gtest's own
# strings as mismatched new/free. The death test (ArenaDeathTest) passes as
# is: gtest's "threadsafe" style re-executes the binary for the dying child,
# and valgrind does not follow exec (--trace-children=no), so the SIGSEGV
# happens in an uninstrumented child; the parent under valgrind only sees it die.
find_program(MEMORYCHECK_COMMAND valgrind)
set(MEMORYCHECK_TYPE Valgrind)
set(MEMORYCHECK_COMMAND_OPTIONS
    "--leak-check=full --errors-for-leak-kinds=definite --error-exitcode=1 --num-callers=40")
set(MEMORYCHECK_SUPPRESSIONS_FILE "${PROJECT_SOURCE_DIR}/tests/valgrind.supp")
include(CTest)

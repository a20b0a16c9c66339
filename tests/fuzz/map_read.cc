// map_read.cc -- libFuzzer target over the in-place reader of format-2 images
// (store/map_read.c through views/view_mapped.c: frost._frost.MapImage and the
// Mapped* views).
//
// Each input is an image. It is copied into a private anonymous mapping laid out
// as the reader's real input is: read-only, the image's first byte 8-aligned,
// its last byte followed (after at most 7 bytes of slack, poisoned under ASan)
// by a PROT_NONE guard page, and a PROT_NONE page before it, so a read outside
// the image faults (or is an ASan report) instead of reading a neighbour.
// Before it is made read-only the image is "re-sealed": its body checksum and
// then its header checksum are recomputed (mapcraft.reseal), so mutations reach
// the structure behind the O(1) header check and the full verify.
//
// Then mapwalk.check_image (tests/python) is the oracle: MapImage(buffer) opens
// it or refuses with SnapshotError; the walk follows every reachable reference
// (materializes every leaf, iterates and indexes every container, looks up every
// key, reads every record field and array, every table's columns, rows and Arrow
// exports); verify() runs the full check; thaw
// copies it out. Any other exception, or damage met by the walk after verify()
// passed, aborts. At the end the memoryview over the mapping must be releasable
// (no MapImage or view outlives the input), else abort: the mapping is then
// unmapped.
//
// Built by tests/fuzz/CMakeLists.txt: a libFuzzer binary with FROST_FUZZ=ON (the
// fuzz preset), else a replay executable (replay_main.c) for ctest. Seed corpus:
// tests/fuzz/make_corpus.py (Store.save(format=2) files and mapcraft images, tables
// included: table.frost2, table_crafted.map).
#include <Python.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MAP_FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define MAP_FUZZ_ASAN 1
#endif
#ifdef MAP_FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static PyObject *g_check;    // mapwalk.check_image (strong, never released)
static PyObject *g_reseal;   // mapcraft.reseal
static const size_t kMaxInput = 1u << 20;

static void die(const char *what) {
    std::fprintf(stderr, "map_read: %s\n", what);
    if (PyErr_Occurred()) {
        PyErr_Print();
    }
    std::abort();
}

// CPython leaks by design at exit: no LeakSanitizer report (ASan builds only).
extern "C" const char *__asan_default_options() { return "detect_leaks=0"; }

static PyObject *import_attr(const char *module, const char *name) {
    PyObject *mod = PyImport_ImportModule(module);
    PyObject *attr = mod ? PyObject_GetAttrString(mod, name) : NULL;
    Py_XDECREF(mod);
    if (attr == NULL) {
        die(module);
    }
    return attr;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    setenv("PYTHONMALLOC", "malloc", 0);   // let ASan see CPython's allocations
    Py_InitializeEx(0);
    PyObject *sys_path = PySys_GetObject("path");   // borrowed
    const char *p = FROST_FUZZ_PYTHONPATH;
    while (sys_path && *p) {
        const char *end = std::strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : std::strlen(p);
        PyObject *d = PyUnicode_FromStringAndSize(p, (Py_ssize_t)n);
        if (d == NULL || PyList_Insert(sys_path, 0, d) < 0) {
            die("sys.path");
        }
        Py_DECREF(d);
        p += n + (end ? 1 : 0);
    }
    g_check = import_attr("mapwalk", "check_image");
    g_reseal = import_attr("mapcraft", "reseal");
    return 0;
}

// A memoryview over [p, p + n), called with `fn`; aborts on an exception. The view
// is released afterwards; a BufferError there means something kept an export.
static void call_over(PyObject *fn, char *p, size_t n, int flags) {
    PyObject *mv = PyMemoryView_FromMemory(p, (Py_ssize_t)n, flags);
    if (mv == NULL) {
        die("memoryview");
    }
    PyObject *r = PyObject_CallOneArg(fn, mv);
    if (r == NULL) {
        die("the oracle raised (see the traceback above)");
    }
    Py_DECREF(r);
    PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
    if (rel == NULL) {
        die("the image's buffer is still exported after the check (a MapImage or view leaked)");
    }
    Py_DECREF(rel);
    Py_DECREF(mv);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (g_check == NULL) {
        LLVMFuzzerInitialize(nullptr, nullptr);
    }
    if (size > kMaxInput) {
        return 0;
    }
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t span = (size + 7) & ~(size_t)7;          // the image, 8-aligned at both ends
    const size_t body_pages = (span + page - 1) / page;
    const size_t total = (body_pages + 2) * page;          // guard, image pages, guard
    char *base = (char *)mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        die("mmap");
    }
    char *body = base + page;
    char *end = body + body_pages * page;                  // the trailing guard page
    char *image = end - span;
    if (mprotect(base, page, PROT_NONE) < 0 || mprotect(end, page, PROT_NONE) < 0) {
        die("mprotect guard");
    }
    std::memcpy(image, data, size);
    std::memset(image + size, 0xA5, span - size);
    call_over(g_reseal, image, size, PyBUF_WRITE);
    if (mprotect(body, body_pages * page, PROT_READ) < 0) {
        die("mprotect read-only");
    }
    POISON(body, (size_t)(image - body));                  // before the image, same page
    POISON(image + size, span - size);                     // the slack after it
    call_over(g_check, image, size, PyBUF_READ);
    if (PyErr_Occurred()) {
        die("an exception was left set");
    }
    UNPOISON(body, body_pages * page);
    munmap(base, total);
    return 0;
}

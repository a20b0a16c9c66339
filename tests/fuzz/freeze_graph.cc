// freeze_graph.cc -- libFuzzer target: freeze -> view -> thaw round trips of
// object graphs built from the fuzz bytes.
//
// The input is a tiny bytecode run on a stack of Python objects:
//   op % 12:  0 int (8 bytes)   1 float (8 bytes; NaN only via op 2)
//             2 NaN, -0.0, inf  3 str (len byte + bytes, decoded with
//             surrogatepass/replace)   4 bytes (len byte + bytes)
//             5 None/True/False   6 tuple of the top k   7 list of the top k
//             8 dict from the top 2k (key, value) pairs   9 set of the top k
//            10 dup item i (sharing)  11 append the top to the list at i (cycles)
// Ops that don't apply (unhashable key, too few items) are skipped. The top
// of the stack is then checked by fuzzgraph.check_value (tests/python): it
// is frozen (scoped; also process lifetime, for one input in 64 when
// fuzzing, as those stores are never freed), walked through its views, thawed, and must
// equal the original with the same sharing (fuzzgraph.same); a mismatch or
// an unexpected exception aborts. FreezeError (e.g. a cycle through a tuple)
// is an accepted outcome.
//
// Built by tests/fuzz/CMakeLists.txt: as a libFuzzer binary with FROST_FUZZ=ON
// (clang), and always as a replay executable (replay_main.c) for ctest.
// FROST_FUZZ_PYTHONPATH (compile definition) is where `frost` and
// fuzzgraph.py are imported from.
#include <Python.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static PyObject *g_check;   // fuzzgraph.check_value (strong, never released)

static void die(const char *what) {
    std::fprintf(stderr, "freeze_graph: %s\n", what);
    if (PyErr_Occurred()) {
        PyErr_Print();
    }
    std::abort();
}

// CPython leaks by design at exit: no LeakSanitizer report (ASan builds only).
extern "C" const char *__asan_default_options() { return "detect_leaks=0"; }

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    setenv("PYTHONMALLOC", "malloc", 0);   // let ASan see CPython's allocations
    Py_InitializeEx(0);
    PyObject *sys_path = PySys_GetObject("path");   // borrowed
    const char *dirs = FROST_FUZZ_PYTHONPATH;
    const char *p = dirs;
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
    PyObject *mod = PyImport_ImportModule("fuzzgraph");
    g_check = mod ? PyObject_GetAttrString(mod, "check_value") : NULL;
    Py_XDECREF(mod);
    if (g_check == NULL) {
        die("cannot import fuzzgraph.check_value");
    }
    return 0;
}

namespace {

struct Reader {
    const uint8_t *p, *end;
    bool more() const { return p < end; }
    uint8_t byte() { return p < end ? *p++ : 0; }
    uint64_t u64() {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | byte();
        }
        return v;
    }
};

bool has_nan(PyObject *o) {   // NaN keys / set members compare by identity only
    if (PyFloat_CheckExact(o)) {
        return std::isnan(PyFloat_AS_DOUBLE(o));
    }
    if (PyTuple_CheckExact(o)) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(o); i++) {
            if (has_nan(PyTuple_GET_ITEM(o, i))) {
                return true;
            }
        }
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (g_check == NULL) {
        LLVMFuzzerInitialize(nullptr, nullptr);
    }
    Reader r{data, data + size};
    std::vector<PyObject *> st;   // strong references
    const size_t kMaxStack = 256;
    int ops = 0;
    while (r.more() && ops++ < 4096) {
        uint8_t op = r.byte() % 12;
        PyObject *made = NULL;
        size_t k = r.more() ? r.byte() % 9 : 0;
        if (k > st.size()) {
            k = st.size();
        }
        switch (op) {
        case 0:
            made = PyLong_FromLongLong((long long)r.u64() >> (k * 7));
            break;
        case 1: {
            uint64_t bits = r.u64();
            double d;
            std::memcpy(&d, &bits, sizeof d);
            made = PyFloat_FromDouble(std::isnan(d) ? 0.5 : d);
            break;
        }
        case 2: {
            static const double kSpecial[] = {NAN, -0.0, INFINITY, -INFINITY, 5e-324};
            made = PyFloat_FromDouble(kSpecial[k % 5]);
            break;
        }
        case 3:
        case 4: {
            size_t n = r.byte() % 24;
            char buf[24];
            for (size_t i = 0; i < n; i++) {
                buf[i] = (char)r.byte();
            }
            made = op == 4 ? PyBytes_FromStringAndSize(buf, (Py_ssize_t)n)
                           : PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, (k & 1) ? "surrogatepass" : "replace");
            if (made == NULL) {
                PyErr_Clear();
                made = PyUnicode_DecodeLatin1(buf, (Py_ssize_t)n, NULL);
            }
            break;
        }
        case 5:
            made = Py_NewRef(k % 3 == 0 ? Py_None : k % 3 == 1 ? Py_True : Py_False);
            break;
        case 6:
        case 7:
        case 9: {
            made = op == 6 ? PyTuple_New((Py_ssize_t)k) : op == 7 ? PyList_New((Py_ssize_t)k) : PySet_New(NULL);
            for (size_t i = 0; made && i < k; i++) {
                PyObject *item = st[st.size() - k + i];
                if (op == 6) {
                    PyTuple_SET_ITEM(made, (Py_ssize_t)i, Py_NewRef(item));
                }
                else if (op == 7) {
                    PyList_SET_ITEM(made, (Py_ssize_t)i, Py_NewRef(item));
                }
                else if (has_nan(item) || PySet_Add(made, item) < 0) {
                    PyErr_Clear();   // unhashable: leave it out
                }
            }
            for (size_t i = 0; made && i < k; i++) {
                Py_DECREF(st.back());
                st.pop_back();
            }
            break;
        }
        case 8: {
            k = k / 2 * 2;
            made = PyDict_New();
            for (size_t i = 0; made && i < k; i += 2) {
                PyObject *key = st[st.size() - k + i], *val = st[st.size() - k + i + 1];
                if (has_nan(key) || PyDict_SetItem(made, key, val) < 0) {
                    PyErr_Clear();
                }
            }
            for (size_t i = 0; made && i < k; i++) {
                Py_DECREF(st.back());
                st.pop_back();
            }
            break;
        }
        case 10:
            if (!st.empty()) {
                made = Py_NewRef(st[st.size() - 1 - (r.byte() % st.size())]);
            }
            break;
        case 11:
            if (!st.empty()) {
                PyObject *target = st[st.size() - 1 - (r.byte() % st.size())];
                if (PyList_CheckExact(target) && PyList_Append(target, st.back()) < 0) {
                    die("append");
                }
            }
            break;
        }
        if (made == NULL && PyErr_Occurred()) {
            die("building the graph");
        }
        if (made != NULL) {
            if (st.size() >= kMaxStack) {
                Py_DECREF(made);
            }
            else {
                st.push_back(made);
            }
        }
    }
    if (!st.empty()) {
        // process-lifetime stores are never freed (by design): when fuzzing,
        // one input in 64 gets one, or the run grows by ~1 MB an input.
#ifdef FROST_FUZZING
        const unsigned long kProcessEvery = 64;
#else
        const unsigned long kProcessEvery = 1;   // replay: every input
#endif
        static unsigned long runs;
        const char *lifetimes = runs++ % kProcessEvery == 0 ? "(ss)" : "(s)";
        PyObject *lt = Py_BuildValue(lifetimes, "scoped", "process");
        PyObject *diff = lt ? PyObject_CallFunctionObjArgs(g_check, st.back(), lt, NULL) : NULL;
        Py_XDECREF(lt);
        if (diff == NULL) {
            die("check_value raised");
        }
        if (diff != Py_None) {
            PyObject_Print(diff, stderr, Py_PRINT_RAW);
            std::fputc('\n', stderr);
            die("round trip differs");
        }
        Py_DECREF(diff);
    }
    for (PyObject *o : st) {
        Py_DECREF(o);
    }
    PyGC_Collect();   // cycles made by op 11
    return 0;
}

// snapshot_load.cc -- libFuzzer target over frost_snapshot_load (store/snapshot.c).
//
// Every input is written to an in-memory file and loaded; the loader must
// either refuse it with a status (never a crash, an ASan report, or a Python
// exception left set) or produce a store whose root can be released. Inputs
// are "re-sealed" first (their checksum field is recomputed) so the fuzzer
// reaches the record checks behind the checksum instead of stopping there.
//
// Built by tests/fuzz/CMakeLists.txt: a libFuzzer binary with FROST_FUZZ=ON
// (the fuzz preset), else a replay executable; see tests/fuzz/README.md.
// Seed corpus: files written by Store.save() (tests/fuzz/corpus/snapshot_load/).
#include <Python.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "frost_snapshot.h"

// CPython leaks by design at exit: no LeakSanitizer report (ASan builds only).
extern "C" const char *__asan_default_options() { return "detect_leaks=0"; }

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    Py_InitializeEx(0);
    if (frost_snapshot_init() < 0) {
        std::abort();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string blob(reinterpret_cast<const char *>(data), size);
    if (blob.size() >= 16) {   // re-seal: checksum of [16, end) at offset 8
        uint64_t sum = frost_snapshot_xxh64(blob.data() + 16, blob.size() - 16, 0);
        std::memcpy(&blob[8], &sum, 8);
    }
    int fd = memfd_create("frost-snapshot-fuzz", MFD_CLOEXEC);
    if (fd < 0 || write(fd, blob.data(), blob.size()) != (ssize_t)blob.size()) {
        std::abort();
    }
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    frost_store_t *store = nullptr;
    frost_snapshot_error_t err;
    int rc = frost_snapshot_load(path, FROST_LIFETIME_SCOPED, &store, &err);
    if (PyErr_Occurred()) {
        std::abort();   // the loader must never leave an exception set
    }
    if (rc == 0) {
        frost_store_release(store);
    }
    close(fd);
    return 0;
}

// frozen.hpp -- freeze a Python expression into a fresh arena, for the
// GoogleTests of store/ that need real frozen graphs (freeze, snapshot).
#pragma once

#include <utility>

#include "../frost_test_util.hpp"

extern "C" {
#include "frost_freeze.h"
#include "frost_nodes.h"
}

namespace frost_test {

// A freeze environment with TypeError as FreezeError and the real Mapping ABC.
struct Env {
  frost_freeze_env_t env{};
  Ref abc;
  Env() : abc(Eval("__import__('collections.abc').abc.Mapping")) {
    env.freeze_error = PyExc_TypeError;
    env.mapping_abc = abc.get();
  }
};

// Freeze `expr` into a fresh arena; the test owns the arena.
struct Frozen {
  frost_arena_t *arena = nullptr;
  uintptr_t root = 0;
  int rc = -1;
  Frozen(const char *expr, const frost_backend_t *backend = nullptr, size_t first_chunk = 0,
         void (*before_freeze)(void) = nullptr, int unindexed = 0) {
    Env e;
    e.env.unindexed = unindexed;
    Ref obj(Eval(expr));
    EXPECT_TRUE(obj) << expr;
    if (frost_arena_new(&arena, backend ? backend : frost_backend_mmap(), first_chunk) != FROST_OK) {
      PyErr_NoMemory();   // the backend refused the first chunk
      return;
    }
    if (before_freeze) before_freeze();
    rc = frost_freeze(obj.get(), arena, &e.env, &root);
  }
  ~Frozen() { frost_arena_free(arena); }
  // Hand the arena to someone else (e.g. frost_store_new), sealed.
  frost_arena_t *TakeSealedArena() {
    EXPECT_EQ(frost_arena_seal(arena), FROST_OK);
    return std::exchange(arena, nullptr);
  }
  PyObject *object() const { return frost_ref_object(root); }
  const frost_node_t *node() const { return frost_ref_node(root); }
};

}  // namespace frost_test

// micro_bench.cc -- Google Benchmark micro-benchmarks of the store layer, in an
// embedded interpreter: arena allocation, freeze per object kind, and the node
// lookups behind FrozenDict / FrozenList (store/frost_nodes.h).
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <benchmark/benchmark.h>

#include <string>

extern "C" {
#include "frost_arena.h"
#include "frost_freeze.h"
#include "frost_nodes.h"
}

namespace {

PyObject *Eval(const char *expr) {
  PyObject *g = PyDict_New();
  PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins());
  PyObject *r = PyRun_String(expr, Py_eval_input, g, g);
  Py_DECREF(g);
  if (!r) PyErr_Print();
  return r;
}

struct Env {
  frost_freeze_env_t env{};
  PyObject *abc;
  Env() : abc(Eval("__import__('collections.abc').abc.Mapping")) {
    env.freeze_error = PyExc_TypeError;
    env.mapping_abc = abc;
  }
  ~Env() { Py_XDECREF(abc); }
};

void BM_ArenaAlloc(benchmark::State &state) {
  const size_t size = (size_t)state.range(0);
  for (auto _ : state) {
    state.PauseTiming();
    frost_arena_t *a = nullptr;
    if (frost_arena_new(&a, frost_backend_default(), 0) != FROST_OK) {
      state.SkipWithError("arena_new");
      return;
    }
    state.ResumeTiming();
    for (int i = 0; i < 10000; i++) benchmark::DoNotOptimize(frost_arena_alloc(a, size, 8));
    state.PauseTiming();
    frost_arena_free(a);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * 10000);
}
BENCHMARK(BM_ArenaAlloc)->Arg(16)->Arg(64)->Arg(4096);

// Freeze one object graph (the expression) per iteration into a fresh arena.
void FreezeExpr(benchmark::State &state, const char *expr, int64_t objects) {
  Env e;
  PyObject *obj = Eval(expr);
  if (!obj) {
    state.SkipWithError(expr);
    return;
  }
  for (auto _ : state) {
    frost_arena_t *a = nullptr;
    if (frost_arena_new(&a, frost_backend_default(), 0) != FROST_OK) {
      state.SkipWithError("arena_new");
      break;
    }
    uintptr_t root = 0;
    if (frost_freeze(obj, a, &e.env, &root) != 0) {
      PyErr_Print();
      state.SkipWithError("freeze");
      frost_arena_free(a);
      break;
    }
    state.PauseTiming();
    frost_arena_free(a);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * objects);
  Py_DECREF(obj);
}
BENCHMARK_CAPTURE(FreezeExpr, str, "[f'value number {i}' for i in range(10000)]", 10000);
BENCHMARK_CAPTURE(FreezeExpr, int, "[i * 1000003 for i in range(10000)]", 10000);
BENCHMARK_CAPTURE(FreezeExpr, float, "[i * 0.5 for i in range(10000)]", 10000);
BENCHMARK_CAPTURE(FreezeExpr, tuple, "[(i, i * 0.5) for i in range(10000)]", 10000);
BENCHMARK_CAPTURE(FreezeExpr, dict_w1, "{f'key{i:07d}': (i, i*0.5, f'val{i}') for i in range(10000)}", 10000);
BENCHMARK_CAPTURE(FreezeExpr, set, "{f'k{i}' for i in range(10000)}", 10000);
BENCHMARK_CAPTURE(FreezeExpr, bytes, "[bytes(64) + i.to_bytes(4, 'little') for i in range(10000)]", 10000);
BENCHMARK_CAPTURE(FreezeExpr, array, "__import__('array').array('d', range(1000000))", 1);

int CompareKey(PyObject *arena_key, PyObject *key, void *) {
  return PyObject_RichCompareBool(arena_key, key, Py_EQ);
}

// FrozenDict's C lookup: frost__table_lookup on a frozen W1 dict, keys built up front.
void BM_TableLookup(benchmark::State &state) {
  const Py_ssize_t n = state.range(0);
  Env e;
  std::string expr = "{f'key{i:07d}': (i, i*0.5, f'val{i}') for i in range(" + std::to_string(n) + ")}";
  PyObject *d = Eval(expr.c_str());
  PyObject *keys = Eval(("[f'key{(i * 7919) % " + std::to_string(n) + ":07d}' for i in range(4096)]").c_str());
  frost_arena_t *a = nullptr;
  uintptr_t root = 0;
  if (!d || !keys || frost_arena_new(&a, frost_backend_default(), 0) != FROST_OK ||
      frost_freeze(d, a, &e.env, &root) != 0 || !frost_ref_is_node(root)) {
    state.SkipWithError("setup");
    return;
  }
  const frost_table_t *t = (const frost_table_t *)frost_ref_node(root);
  Py_ssize_t found = 0, i = 0;
  for (auto _ : state) {
    PyObject *k = PyList_GET_ITEM(keys, i & 4095);
    found += frost__table_lookup(t, k, PyObject_Hash(k), CompareKey, nullptr) >= 0;
    i++;
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(state.iterations());
  frost_arena_free(a);
  Py_DECREF(d);
  Py_DECREF(keys);
}
BENCHMARK(BM_TableLookup)->Arg(1000)->Arg(1000000);

// The same lookups in a plain dict, for scale.
void BM_PyDictLookup(benchmark::State &state) {
  const Py_ssize_t n = state.range(0);
  std::string expr = "{f'key{i:07d}': (i, i*0.5, f'val{i}') for i in range(" + std::to_string(n) + ")}";
  PyObject *d = Eval(expr.c_str());
  PyObject *keys = Eval(("[f'key{(i * 7919) % " + std::to_string(n) + ":07d}' for i in range(4096)]").c_str());
  Py_ssize_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(PyDict_GetItem(d, PyList_GET_ITEM(keys, i++ & 4095)));
  state.SetItemsProcessed(state.iterations());
  Py_DECREF(d);
  Py_DECREF(keys);
}
BENCHMARK(BM_PyDictLookup)->Arg(1000)->Arg(1000000);

// FrozenList's C read: index a frozen list node (refs, or packed int64/float64).
void SeqIndex(benchmark::State &state, const char *expr) {
  Env e;
  PyObject *l = Eval(expr);
  frost_arena_t *a = nullptr;
  uintptr_t root = 0;
  if (!l || frost_arena_new(&a, frost_backend_default(), 0) != FROST_OK ||
      frost_freeze(l, a, &e.env, &root) != 0 || !frost_ref_is_node(root)) {
    state.SkipWithError("setup");
    return;
  }
  const frost_seq_t *s = (const frost_seq_t *)frost_ref_node(root);
  const Py_ssize_t n = s->len;
  uintptr_t acc = 0;
  Py_ssize_t i = 0;
  for (auto _ : state) {
    Py_ssize_t j = (i++ * 7919) % n;
    acc += s->hdr.flags == FROST_SEQ_REFS ? (uintptr_t)s->items.refs[j]
                                          : (uintptr_t)s->items.i64[j];
  }
  benchmark::DoNotOptimize(acc);
  state.SetItemsProcessed(state.iterations());
  frost_arena_free(a);
  Py_DECREF(l);
}
BENCHMARK_CAPTURE(SeqIndex, refs, "[(i, i * 0.5) for i in range(100000)]");
BENCHMARK_CAPTURE(SeqIndex, int64, "list(range(100000))");
BENCHMARK_CAPTURE(SeqIndex, float64, "[i * 0.5 for i in range(100000)]");

}  // namespace

int main(int argc, char **argv) {
  Py_InitializeEx(0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return Py_FinalizeEx() < 0 ? 1 : 0;
}

// freeze_test.cc -- store/freeze.c in an embedded interpreter: what lands in
// the arena for each kind of object, sharing, cycles, depth, errors and
// allocation failure.
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <sys/mman.h>
#include <unistd.h>

#include "frozen.hpp"

using frost_test::Env;
using frost_test::Eval;
using frost_test::Frozen;
using frost_test::Ref;

namespace {

bool IsImmortalHeader(PyObject *o) {
#if PY_VERSION_HEX >= 0x030E0000
  return _Py_IsImmortal(o);
#else
  return o->ob_refcnt == _Py_IMMORTAL_REFCNT;
#endif
}

TEST(FreezeTest, StrIsAnImmortalArenaCopyWithCachesFilled) {
  Frozen f("'h\\u00e9llo w\\u00f6rld'");
  ASSERT_EQ(f.rc, 0);
  PyObject *s = f.object();
  EXPECT_TRUE(frost_arena_contains(f.arena, s));
  EXPECT_EQ(Py_TYPE(s), &PyUnicode_Type);
  EXPECT_TRUE(IsImmortalHeader(s));
  EXPECT_NE(((PyASCIIObject *)s)->hash, -1);
  EXPECT_EQ(((PyASCIIObject *)s)->state.interned, 2u);
  EXPECT_EQ(((PyASCIIObject *)s)->state.statically_allocated, 0u);
  // the UTF-8 cache points into the arena, right after the characters
  PyCompactUnicodeObject *c = (PyCompactUnicodeObject *)s;
  ASSERT_NE(c->utf8, nullptr);
  EXPECT_TRUE(frost_arena_contains(f.arena, c->utf8));
  EXPECT_STREQ(c->utf8, "h\xc3\xa9llo w\xc3\xb6rld");
  Ref expected(Eval("'h\\u00e9llo w\\u00f6rld'"));
  EXPECT_EQ(PyObject_RichCompareBool(s, expected.get(), Py_EQ), 1);
  EXPECT_EQ(PyObject_Hash(s), PyObject_Hash(expected.get()));
}

TEST(FreezeTest, LoneSurrogateStrHasNoUtf8Cache) {
  Frozen f("'a\\ud800b'");
  ASSERT_EQ(f.rc, 0);
  EXPECT_EQ(((PyCompactUnicodeObject *)f.object())->utf8, nullptr);
}

TEST(FreezeTest, SmallValuesAreCPythonsSingletons) {
  // {what is frozen, an expression that yields CPython's canonical object}:
  // a one-character literal in compiled code need not be the Latin-1
  // singleton on 3.12, but chr() always returns it.
  const std::pair<const char *, const char *> cases[] = {
      {"5", "5"},     {"-5", "-5"},    {"256", "256"},        {"''", "''"},
      {"'a'", "chr(97)"}, {"b''", "b''"}, {"b'x'", "bytes([120])"}, {"()", "()"},
      {"None", "None"}, {"True", "True"}};
  for (const auto &[expr, canonical] : cases) {
    Frozen f(expr);
    ASSERT_EQ(f.rc, 0) << expr;
    EXPECT_FALSE(frost_arena_contains(f.arena, f.object())) << expr;
    Ref again(Eval(canonical));
    EXPECT_EQ(f.object(), again.get()) << expr;   // the very same static object
  }
}

TEST(FreezeTest, NumbersAndBytesAreCopied) {
  for (const char *expr : {"257", "-2**200", "2**10000", "1.5", "float('nan')", "-0.0", "3+4j",
                           "b'bytes!'"}) {
    Frozen f(expr);
    ASSERT_EQ(f.rc, 0) << expr;
    PyObject *o = f.object();
    EXPECT_TRUE(frost_arena_contains(f.arena, o)) << expr;
    EXPECT_TRUE(IsImmortalHeader(o)) << expr;
    Ref original(Eval(expr));
    Ref r1(PyObject_Repr(o)), r2(PyObject_Repr(original.get()));
    EXPECT_EQ(PyUnicode_Compare(r1.get(), r2.get()), 0) << expr;
  }
}

TEST(FreezeTest, TupleHasZeroGcHeaderAndIsUntracked) {
  Frozen f("(1, 'two', (3.0, b'four'))");
  ASSERT_EQ(f.rc, 0);
  PyObject *t = f.object();
  ASSERT_EQ(Py_TYPE(t), &PyTuple_Type);
  EXPECT_TRUE(frost_arena_contains(f.arena, t));
  const unsigned char *gc = (const unsigned char *)t - 2 * sizeof(uintptr_t);
  for (size_t i = 0; i < 2 * sizeof(uintptr_t); i++) EXPECT_EQ(gc[i], 0) << i;
  EXPECT_FALSE(PyObject_GC_IsTracked(t));
  EXPECT_TRUE(frost_arena_contains(f.arena, PyTuple_GET_ITEM(t, 2)));
}

TEST(FreezeTest, TupleWithContainerBecomesTupleNode) {
  Frozen f("(1, [2, 3])");
  ASSERT_EQ(f.rc, 0);
  ASSERT_TRUE(frost_ref_is_node(f.root));
  EXPECT_EQ(f.node()->kind, (uint32_t)FROST_NODE_TUPLE);
}

TEST(FreezeTest, DictNodeFindsEveryKey) {
  Frozen f("{f'k{i}': i for i in range(1000)}");
  ASSERT_EQ(f.rc, 0);
  ASSERT_EQ(f.node()->kind, (uint32_t)FROST_NODE_DICT);
  const frost_table_t *t = (const frost_table_t *)f.node();
  ASSERT_EQ(t->len, 1000);
  for (int i = 0; i < 1000; i++) {
    Ref key(PyUnicode_FromFormat("k%d", i));
    Py_ssize_t ix = frost__table_lookup(t, key.get(), PyObject_Hash(key.get()), nullptr, nullptr);
    ASSERT_EQ(ix, i);   // insertion order kept
    EXPECT_EQ(PyLong_AsLong(frost_ref_object(t->entries[ix].value)), i);
  }
  Ref missing(PyUnicode_FromString("nope"));
  EXPECT_EQ(frost__table_lookup(t, missing.get(), PyObject_Hash(missing.get()), nullptr, nullptr), -1);
}

int CompareEq(PyObject *a, PyObject *b, void *) { return PyObject_RichCompareBool(a, b, Py_EQ); }

// A set node is a slot table: each item sits in the slot its hash probes to,
// `order` names the slots in insertion order, and no other slot is used.
TEST(FreezeTest, SetNodeIsASlotTableInInsertionOrder) {
  Frozen f("set([f'k{i}' for i in range(1000)] + [None, 2.5, (1, 'a')])");
  ASSERT_EQ(f.rc, 0);
  ASSERT_EQ(f.node()->kind, (uint32_t)FROST_NODE_SET);
  const frost_set_t *s = (const frost_set_t *)f.node();
  ASSERT_EQ(s->len, 1003);
  EXPECT_EQ(s->mask + 1, frost__table_slots(1003));
  EXPECT_EQ(s->hdr.flags, 0u);
  Ref original(Eval("set([f'k{i}' for i in range(1000)] + [None, 2.5, (1, 'a')])"));
  Ref it(PyObject_GetIter(original.get()));
  for (Py_ssize_t i = 0; i < s->len; i++) {   // the set's own iteration order
    Ref want(PyIter_Next(it.get()));
    PyObject *got = frost_ref_object(frost_set_item(s, i));
    EXPECT_EQ(PyObject_RichCompareBool(got, want.get(), Py_EQ), 1) << i;
    Py_ssize_t at = frost__set_lookup(s, want.get(), PyObject_Hash(want.get()), CompareEq, nullptr);
    EXPECT_EQ(at, s->order[i]) << i;
    EXPECT_EQ(s->slots[at].hash, PyObject_Hash(want.get())) << i;
  }
  Py_ssize_t used = 0;
  for (Py_ssize_t j = 0; j <= s->mask; j++) {
    used += s->slots[j].key != 0;
    if (s->slots[j].key == 0) {
      EXPECT_EQ(s->slots[j].hash, 0) << j;
    }
  }
  EXPECT_EQ(used, s->len);
  Ref missing(PyUnicode_FromString("nope"));
  EXPECT_EQ(frost__set_lookup(s, missing.get(), PyObject_Hash(missing.get()), nullptr, nullptr), -1);
  Frozen fs("frozenset({1, 2})");
  ASSERT_EQ(fs.rc, 0);
  EXPECT_EQ(fs.node()->flags, FROST_SET_WAS_FROZENSET);
}

// The entry of root dict `t` under str key `key`, by a scan (an unindexed dict
// has no index to look it up with).
frost_ref_t EntryValue(const frost_table_t *t, const char *key) {
  for (Py_ssize_t i = 0; i < t->len; i++) {
    if (PyUnicode_CompareWithASCIIString(frost_ref_object(t->entries[i].key), key) == 0) {
      return frost_table_value(t, i);
    }
  }
  ADD_FAILURE() << "no key " << key;
  return 0;
}

size_t BytesUsed(const frost_arena_t *arena) {
  frost_arena_stats_t st;
  frost_arena_stats(arena, &st);
  return st.bytes_used;
}

// frost_freeze_env_t.unindexed (frost.share's private arena): no dict gets an
// index (a record's shaped dict included) and a set's slots are its items in
// order, nothing else allocated; the entries and items are those of the
// indexed arena, in the same order.
TEST(FreezeTest, AnUnindexedArenaHasNoLookupStructures) {
  const char *expr =
      "{'d': {f'k{i}': i for i in range(100000)}, 's': {f's{i}' for i in range(50000)},"
      " 'r': __import__('collections').namedtuple('P', 'x y')(1, 2), 'e': {}, 'z': set()}";
  Frozen indexed(expr), bare(expr, nullptr, 0, nullptr, 1);
  ASSERT_EQ(indexed.rc, 0);
  ASSERT_EQ(bare.rc, 0);
  const frost_table_t *ri = (const frost_table_t *)indexed.node(), *rb = (const frost_table_t *)bare.node();
  EXPECT_NE(ri->index, nullptr);
  EXPECT_EQ(rb->index, nullptr);
  ASSERT_EQ(rb->len, ri->len);
  for (const char *k : {"d", "e"}) {
    const frost_table_t *ti = (const frost_table_t *)frost_ref_node(EntryValue(ri, k));
    const frost_table_t *tb = (const frost_table_t *)frost_ref_node(EntryValue(rb, k));
    EXPECT_EQ(tb->index, nullptr) << k;
    EXPECT_EQ(tb->mask, 0) << k;
    ASSERT_EQ(tb->len, ti->len) << k;
    for (Py_ssize_t i = 0; i < tb->len; i++) {
      ASSERT_EQ(PyObject_RichCompareBool(frost_ref_object(tb->entries[i].key),
                                         frost_ref_object(ti->entries[i].key), Py_EQ), 1) << i;
      ASSERT_EQ(tb->entries[i].hash, ti->entries[i].hash) << i;
    }
  }
  for (const char *k : {"s", "z"}) {
    const frost_set_t *si = (const frost_set_t *)frost_ref_node(EntryValue(ri, k));
    const frost_set_t *sb = (const frost_set_t *)frost_ref_node(EntryValue(rb, k));
    EXPECT_EQ(sb->mask, 0) << k;
    ASSERT_EQ(sb->len, si->len) << k;
    for (Py_ssize_t i = 0; i < sb->len; i++) {
      ASSERT_EQ(sb->order[i], i);
      ASSERT_EQ(PyObject_RichCompareBool(frost_ref_object(frost_set_item(sb, i)),
                                         frost_ref_object(frost_set_item(si, i)), Py_EQ), 1) << i;
    }
  }
  const frost_record_t *rec = (const frost_record_t *)frost_ref_node(EntryValue(rb, "r"));
  const frost_table_t *fields = (const frost_table_t *)frost_ref_node(rec->state);
  EXPECT_TRUE(fields->hdr.flags & FROST_DICT_SHAPED);
  EXPECT_EQ(fields->index, nullptr);
  ASSERT_EQ(fields->len, 2);
  EXPECT_EQ(PyUnicode_CompareWithASCIIString(frost_ref_object(fields->entries[1].key), "y"), 0);
  EXPECT_EQ(PyLong_AsLong(frost_ref_object(frost_table_value(fields, 1))), 2);
  // what is not allocated: the dict's index (int32 a slot) and the set's empty slots
  size_t saved = 4 * (size_t)frost__table_slots(100000)
                 + sizeof(frost_set_slot_t) * (size_t)(frost__table_slots(50000) - 50000);
  EXPECT_GE(BytesUsed(indexed.arena) - BytesUsed(bare.arena), saved);
}

TEST(FreezeTest, HomogeneousListsArePacked) {
  Frozen ints("[1, -2, 2**62]"), floats("[0.5, -1.0]"), mixed("[1, 2.0]"), big("[2**64]");
  ASSERT_EQ(ints.rc, 0);
  EXPECT_EQ(ints.node()->flags, FROST_SEQ_INT64);
  EXPECT_EQ(((const frost_seq_t *)ints.node())->items.i64[2], INT64_C(1) << 62);
  EXPECT_EQ(floats.node()->flags, FROST_SEQ_FLOAT64);
  EXPECT_EQ(mixed.node()->flags, FROST_SEQ_REFS);
  EXPECT_EQ(big.node()->flags, FROST_SEQ_REFS);
}

TEST(FreezeTest, SharedSubstructureIsFrozenOnce) {
  Frozen f("(lambda a: {'x': a, 'y': a, 'z': [a]})([1, 'shared'])");
  ASSERT_EQ(f.rc, 0);
  const frost_table_t *t = (const frost_table_t *)f.node();
  EXPECT_EQ(t->entries[0].value, t->entries[1].value);
  frost_arena_stats_t stats;
  frost_arena_stats(f.arena, &stats);
  EXPECT_EQ(stats.objects[FROST_KIND_LIST], 2u);   // a and [a]
}

TEST(FreezeTest, CyclesThroughListsArePreserved) {
  Frozen f("(lambda l: (l.append(l), l)[1])([])");
  ASSERT_EQ(f.rc, 0);
  const frost_seq_t *s = (const frost_seq_t *)f.node();
  ASSERT_EQ(s->len, 1);
  EXPECT_EQ(s->items.refs[0], f.root);
}

TEST(FreezeTest, CycleThroughTupleNodeIsPreserved) {
  // l = [(l,)]: the tuple holds a container, so it is a node made up front
  Frozen f("(lambda l: (l.append((l,)), l)[1])([])");
  ASSERT_EQ(f.rc, 0);
  const frost_seq_t *list = (const frost_seq_t *)f.node();
  const frost_seq_t *tuple = (const frost_seq_t *)frost_ref_node(list->items.refs[0]);
  EXPECT_EQ(tuple->hdr.kind, (uint32_t)FROST_NODE_TUPLE);
  EXPECT_EQ(tuple->items.refs[0], f.root);
}

TEST(FreezeTest, CycleThroughTupleOfTuplesIsRefused) {
  // t = ((l,),) with l = [t]: t's items are all tuples, so t is decided only
  // after them, and the cycle reaches it while it is still in progress
  Frozen f("(lambda l: (l.append(t := ((l,),)), t)[1])([])");
  EXPECT_EQ(f.rc, -1);
  ASSERT_TRUE(PyErr_ExceptionMatches(PyExc_TypeError));
  PyObject *exc = PyErr_GetRaisedException();
  Ref msg(PyObject_Str(exc));
  EXPECT_NE(std::string(PyUnicode_AsUTF8(msg.get())).find("cycle"), std::string::npos);
  Py_DECREF(exc);
}

TEST(FreezeTest, ErrorNamesThePath) {
  Frozen f("{'users': [0, {'conn': object()}]}");
  EXPECT_EQ(f.rc, -1);
  PyObject *exc = PyErr_GetRaisedException();
  ASSERT_NE(exc, nullptr);
  Ref msg(PyObject_Str(exc));
  EXPECT_STREQ(PyUnicode_AsUTF8(msg.get()),
               "root['users'][1]['conn']: cannot freeze object of type 'object'");
  Py_DECREF(exc);
}

TEST(FreezeTest, DeepNestingUsesNoCStack) {
  // 1,000,000 nested lists: the walk is iterative.
  Ref deep(Eval("(lambda: [l := [], [l := [l] for _ in range(1000000)], l][2])()"));
  ASSERT_TRUE(deep);
  Env e;
  frost_arena_t *arena = nullptr;
  ASSERT_EQ(frost_arena_new(&arena, frost_backend_mmap(), 0), FROST_OK);
  uintptr_t root = 0;
  ASSERT_EQ(frost_freeze(deep.get(), arena, &e.env, &root), 0);
  size_t depth = 0;
  for (frost_ref_t r = root; frost_ref_is_node(r); depth++) {
    const frost_seq_t *s = (const frost_seq_t *)frost_ref_node(r);
    if (s->len == 0) break;
    r = s->items.refs[0];
  }
  EXPECT_EQ(depth, 1000000u);
  frost_arena_free(arena);
}

// A backend that fails after `budget` chunk allocations.
struct FailingBackend {
  frost_backend_t backend;
  int budget;
  int live = 0;
  static void *Alloc(void *ctx, size_t size) {
    auto *self = static_cast<FailingBackend *>(ctx);
    if (self->budget-- <= 0) return nullptr;
    void *p = frost_backend_mmap()->chunk_alloc(frost_backend_mmap()->ctx, size);
    if (p) self->live++;
    return p;
  }
  static void Free(void *ctx, void *chunk, size_t size) {
    auto *self = static_cast<FailingBackend *>(ctx);
    self->live--;
    frost_backend_mmap()->chunk_free(frost_backend_mmap()->ctx, chunk, size);
  }
  explicit FailingBackend(int n) : budget(n) {
    backend = {"failing", &FailingBackend::Alloc, &FailingBackend::Free, this};
  }
};

TEST(FreezeTest, AllocationFailureIsCleanAtEveryPoint) {
  // Needs several chunks: ~4 MiB of strings.
  const char *expr = "{f'key{i:07d}': (i, f'value{i}' * 3) for i in range(30000)}";
  int n = 0;
  for (;; n++) {
    FailingBackend fb(n);
    {
      Frozen f(expr, &fb.backend);
      if (f.rc == 0) break;
      EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_MemoryError)) << n;
      PyErr_Clear();
    }
    EXPECT_EQ(fb.live, 0) << n;   // the caller freed the arena: every chunk returned
    ASSERT_LT(n, 1000);
  }
  EXPECT_GT(n, 1);   // it did fail at more than one point before succeeding
  printf("chunk allocation failure points covered: %d\n", n);
}

// One of every kind freeze handles -- str of each width, big and small ints,
// float, complex, bytes, plain and node tuples, dicts, packed int and float
// lists, mixed lists, sets, bytearray, memoryview, a NamedTuple record --
// repeated so the arena grows through many chunks.
const char *kEveryKind =
    "[{'a': f'k{i}' * 3, 'u2': '\\u4e2d' * (i % 5), 'u4': '\\U0001f600' + str(i),"
    "  'big': 2 ** 100 + i, 'f': i / 3, 'c': complex(i, -1), 'b': b'xy' * i,"
    "  't': (i, 'x', (1.5, None)), 'tn': (i, [i]), 'ints': list(range(i % 7)),"
    "  'floats': [0.5 * j for j in range(i % 4)], 'mixed': [i, 'x', None, [i]],"
    "  's': {i, 'a', (1, 2)}, 'fs': frozenset({i}), 'ba': bytearray(b'abc'),"
    "  'mv': memoryview(b'abcdef').cast('B', (2, 3)),"
    "  'rec': __import__('collections').namedtuple('P', 'x y')(i, [i])}"
    " for i in range(%d)]";

std::string EveryKind(int n) {
  char buf[1024];
  snprintf(buf, sizeof buf, kEveryKind, n);
  return buf;
}

TEST(FreezeTest, ChunkFailureIsCleanAtEveryPointForEveryKind) {
  // A one-page first chunk: the arena grows through many chunks.
  std::string expr = EveryKind(600);
  int n = 0;
  for (;; n++) {
    FailingBackend fb(n);
    {
      Frozen f(expr.c_str(), &fb.backend, 4096);
      if (f.rc == 0) break;
      EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_MemoryError)) << n;
      PyErr_Clear();
    }
    EXPECT_EQ(fb.live, 0) << n;
    ASSERT_LT(n, 1000);
  }
  EXPECT_GT(n, 4);
  printf("chunk allocation failure points covered: %d\n", n);
}

// PyMem (the "mem" domain: freeze's memo, stack and scratch arrays, and what
// CPython allocates for the objects' own methods) failing after `budget`
// calls while armed; counts the armed allocations still live.
struct FailingPyMem {
  static PyMemAllocatorEx base;
  static bool armed;
  static long budget;
  static long live;
  static void *Malloc(void *ctx, size_t n) { return Take(base.malloc(ctx, n)); }
  static void *Calloc(void *ctx, size_t k, size_t n) { return Take(base.calloc(ctx, k, n)); }
  static void *Realloc(void *ctx, void *p, size_t n) {
    if (armed && budget-- <= 0) return nullptr;
    return base.realloc(ctx, p, n);   // a realloc'd block keeps its count
  }
  static void Free(void *ctx, void *p) {
    if (armed && p) live--;
    base.free(ctx, p);
  }
  static void *Take(void *p) {
    if (!armed) return p;
    if (budget-- <= 0) {
      base.free(base.ctx, p);
      return nullptr;
    }
    if (p) live++;
    return p;
  }
  static void Arm() {
    live = 0;
    armed = true;
  }
};
PyMemAllocatorEx FailingPyMem::base;
bool FailingPyMem::armed = false;
long FailingPyMem::budget = 0;
long FailingPyMem::live = 0;

TEST(FreezeTest, PyMemFailureIsCleanAtEveryPoint) {
  std::string expr = EveryKind(12);
  PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &FailingPyMem::base);
  PyMemAllocatorEx failing = {nullptr, &FailingPyMem::Malloc, &FailingPyMem::Calloc,
                              &FailingPyMem::Realloc, &FailingPyMem::Free};
  failing.ctx = FailingPyMem::base.ctx;
  PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &failing);
  long n = 0;
  for (;; n++) {
    FailingPyMem::budget = n;
    {
      Frozen f(expr.c_str(), nullptr, 0, &FailingPyMem::Arm);
      long live_after = FailingPyMem::live;
      FailingPyMem::armed = false;
      if (f.rc == 0) break;
      EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_MemoryError)) << n;
      PyErr_Clear();
      // Not a definite count of CPython's own caches, but freeze's scratch
      // memory must all be back: nothing allocated during the failed freeze
      // may outlive it.
      EXPECT_LE(live_after, 0) << "failing at PyMem call " << n;
    }
    ASSERT_LT(n, 100000);
  }
  FailingPyMem::armed = false;
  PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &FailingPyMem::base);
  EXPECT_GT(n, 10);
  printf("PyMem failure points covered: %ld\n", n);
}

}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new frost_test::PythonEnvironment);
  return RUN_ALL_TESTS();
}

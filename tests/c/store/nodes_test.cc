// nodes_test.cc -- store/nodes.c: table sizing, indexing, probing and the
// user-code-free equality used by lookups.
#include <deque>
#include <set>
#include <vector>

#include "../frost_test_util.hpp"

extern "C" {
#include "frost_nodes.h"
}

using frost_test::Eval;
using frost_test::Ref;

namespace {

// A comparison callback is used for undecided pairs, and its error reported.
int AlwaysFails(PyObject *, PyObject *, void *) {
  PyErr_SetString(PyExc_RuntimeError, "boom");
  return -1;
}

TEST(NodesTest, TableSlotsKeepTwoThirdsLoad) {
  EXPECT_EQ(frost__table_slots(0), 8);
  EXPECT_EQ(frost__table_slots(5), 8);
  EXPECT_EQ(frost__table_slots(6), 16);
  for (Py_ssize_t n : {1, 100, 1000, 1000000}) {
    Py_ssize_t s = frost__table_slots(n);
    EXPECT_EQ(s & (s - 1), 0) << n;   // a power of two
    EXPECT_LE(n * 3, s * 2) << n;
  }
}

// Builds a table in plain memory with colliding hashes, then looks keys up.
TEST(NodesTest, LookupProbesPastCollisions) {
  const int n = 40;
  std::deque<Ref> keys;   // deque: Ref is not movable
  std::vector<frost_entry_t> entries(n);
  Py_ssize_t slots = frost__table_slots(n);
  std::vector<int32_t> index(slots, -1);
  frost_table_t t{};
  t.hdr.kind = FROST_NODE_DICT;
  t.len = n;
  t.mask = slots - 1;
  t.index = index.data();
  t.entries = entries.data();
  for (int i = 0; i < n; i++) {
    keys.emplace_back(PyUnicode_FromFormat("key-%d", i));
    entries[i].hash = 7 + (i % 3) * slots;   // three chains of collisions
    entries[i].key = frost_ref_from_object(keys.back().get());
    frost__table_index_entry(&t, i);
  }
  for (int i = 0; i < n; i++) {
    Ref probe(PyUnicode_FromFormat("key-%d", i));   // equal, not identical
    EXPECT_EQ(frost__table_lookup(&t, probe.get(), entries[i].hash, nullptr, nullptr), i);
  }
  Ref absent(PyUnicode_FromString("key-x"));
  EXPECT_EQ(frost__table_lookup(&t, absent.get(), 7, nullptr, nullptr), -1);
}

// A set node in plain memory: colliding hashes fill neighbouring slots (the
// linear probes) and then the perturbed sequence; every key is found, and a
// probe for an absent key ends at an empty slot even in a crowded table.
TEST(NodesTest, SetPlaceAndLookupProbePastCollisions) {
  const int n = 40;
  std::deque<Ref> keys;
  Py_ssize_t nslots = frost__table_slots(n);
  std::vector<frost_set_slot_t> slots(nslots, frost_set_slot_t{0, 0});
  std::vector<int32_t> order(n);
  frost_set_t s{};
  s.hdr.kind = FROST_NODE_SET;
  s.len = n;
  s.mask = nslots - 1;
  s.slots = slots.data();
  s.order = order.data();
  std::vector<Py_hash_t> hashes(n);
  for (int i = 0; i < n; i++) {
    keys.emplace_back(PyUnicode_FromFormat("key-%d", i));
    hashes[i] = (i % 2 ? nslots - 3 : 7) + (i % 3) * nslots;   // collisions, some near the end
    Py_ssize_t at = frost__set_place(&s, hashes[i]);
    ASSERT_GE(at, 0);
    ASSERT_LT(at, nslots);
    ASSERT_EQ(slots[at].key, 0u) << i;
    slots[at] = frost_set_slot_t{hashes[i], frost_ref_from_object(keys.back().get())};
    order[i] = (int32_t)at;
  }
  EXPECT_EQ(order[2], 8);   // the first collision on slot 7 takes its neighbour
  for (int i = 0; i < n; i++) {
    Ref probe(PyUnicode_FromFormat("key-%d", i));   // equal, not identical
    EXPECT_EQ(frost__set_lookup(&s, probe.get(), hashes[i], nullptr, nullptr), order[i]);
    EXPECT_EQ(frost_ref_object(frost_set_item(&s, i)), keys[i].get());
  }
  Ref absent(PyUnicode_FromString("key-x"));
  EXPECT_EQ(frost__set_lookup(&s, absent.get(), 7, nullptr, nullptr), -1);
  EXPECT_EQ(frost__set_lookup(&s, absent.get(), nslots - 3, nullptr, nullptr), -1);
  Ref tuple_key(Eval("(1, 2)")), tuple_probe(Eval("(1, 2)"));
  Py_ssize_t free_slot = frost__set_place(&s, PyObject_Hash(tuple_key.get()));
  slots[free_slot] = frost_set_slot_t{PyObject_Hash(tuple_key.get()), frost_ref_from_object(tuple_key.get())};
  EXPECT_EQ(frost__set_lookup(&s, tuple_probe.get(), PyObject_Hash(tuple_probe.get()), AlwaysFails, nullptr), -2);
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_RuntimeError));
  PyErr_Clear();
}

TEST(NodesTest, FastEqualDecidesPlainBuiltinsOnly) {
  Ref a(Eval("'abc'")), b(Eval("''.join(['a', 'bc'])")), c(Eval("'abd'"));
  EXPECT_EQ(frost__fast_equal(a.get(), b.get()), 1);
  EXPECT_EQ(frost__fast_equal(a.get(), c.get()), 0);
  Ref i1(Eval("10**5")), i2(Eval("100000")), big(Eval("10**30"));
  EXPECT_EQ(frost__fast_equal(i1.get(), i2.get()), 1);
  EXPECT_EQ(frost__fast_equal(i1.get(), big.get()), -1);   // needs a full comparison
  Ref f1(Eval("1.0")), one(Eval("1"));
  EXPECT_EQ(frost__fast_equal(f1.get(), one.get()), -1);   // 1.0 == 1: undecided here
  Ref by(Eval("b'abc'"));
  EXPECT_EQ(frost__fast_equal(a.get(), by.get()), 0);
  Ref nan(Eval("float('nan')")), nan2(Eval("float('nan')"));
  EXPECT_EQ(frost__fast_equal(nan.get(), nan.get()), 1);   // identity, like dict lookup
  EXPECT_EQ(frost__fast_equal(nan.get(), nan2.get()), -1); // the caller judges identity on its copy
  EXPECT_EQ(frost__fast_equal(nan.get(), f1.get()), 0);
}

// frost__key_hash is CPython's hash except where that is an address; tuples
// are hashed iteratively and may be bounded in depth.
TEST(NodesTest, KeyHashIsCPythonsButNeverAnAddress) {
  for (const char *expr : {"'abc'", "b'xy'", "10**30", "-1", "2.5", "-0.0", "1+2j", "None",
                           "True", "()", "(1, ('a', (2.5, b'z')), None)", "((), ((),))"}) {
    Ref o(Eval(expr));
    Py_hash_t h = 0;
    ASSERT_EQ(frost__key_hash(o.get(), 0, &h), 0) << expr;
    EXPECT_EQ(h, PyObject_Hash(o.get())) << expr;
  }
  // Ellipsis: one fixed value, not its address (which differs between processes)
  for (const char *expr : {"...", "((..., 'a'),)"}) {
    Ref a(Eval(expr)), b(Eval(expr));
    Py_hash_t ha = 0, hb = 0;
    ASSERT_EQ(frost__key_hash(a.get(), 0, &ha), 0) << expr;
    ASSERT_EQ(frost__key_hash(b.get(), 0, &hb), 0) << expr;
    EXPECT_EQ(ha, hb) << expr;
  }
}

// A NaN hashes by its identity (design.md "NaN keys"): distinct NaNs (and
// tuples holding them) spread; the same NaN, or another the identity
// function maps to it (a scoped store's copy), hashes alike.
static const void *SameIdentity(PyObject *, void *ctx) { return ctx; }

TEST(NodesTest, NanKeysHashByIdentity) {
  for (const char *expr : {"float('nan')", "complex(float('nan'), 1)", "(1, float('nan'))",
                           "((complex(1, float('nan')),), 'a')"}) {
    Ref a(Eval(expr)), b(Eval(expr));
    Py_hash_t ha = 0, ha2 = 0, hb = 0;
    ASSERT_EQ(frost__key_hash(a.get(), 0, &ha), 0) << expr;
    ASSERT_EQ(frost__key_hash(a.get(), 0, &ha2), 0) << expr;
    ASSERT_EQ(frost__key_hash(b.get(), 0, &hb), 0) << expr;
    EXPECT_EQ(ha, ha2) << expr;
    EXPECT_NE(ha, hb) << expr;
    EXPECT_EQ(frost__key_holds_nan(a.get()), 1) << expr;
    int tag = 0;
    ASSERT_EQ(frost__key_hash_as(a.get(), 0, SameIdentity, &tag, &ha), 0) << expr;
    ASSERT_EQ(frost__key_hash_as(b.get(), 0, SameIdentity, &tag, &hb), 0) << expr;
    EXPECT_EQ(ha, hb) << expr;
  }
  Ref plain(Eval("(1.5, ('x', ...))"));
  EXPECT_EQ(frost__key_holds_nan(plain.get()), 0);
  // 4,096 NaNs: 4,096 hashes, spread over the low bits a table of 8,192 slots uses
  Ref nans(Eval("[float('nan') for _ in range(4096)]"));
  std::set<Py_hash_t> seen, low;
  for (Py_ssize_t i = 0; i < 4096; i++) {
    Py_hash_t h = 0;
    ASSERT_EQ(frost__key_hash(PyList_GET_ITEM(nans.get(), i), 0, &h), 0);
    seen.insert(h);
    low.insert(h & 8191);
  }
  EXPECT_EQ(seen.size(), 4096u);
  // a random function gives ~3,225 distinct of 8,192, pymalloc's 24-byte floats about as
  // many; valgrind's malloc spaces them wider (2,575 seen); one fixed hash gives 1
  EXPECT_GT(low.size(), 2048u);
}

TEST(NodesTest, KeyHashBoundsTupleDepth) {
  Ref deep(Eval("(lambda: [t := 1, [t := (t,) for _ in range(100000)], t][2])()"));
  Py_hash_t h = 0;
  EXPECT_EQ(frost__key_hash(deep.get(), 0, &h), 0);   // no C recursion
  EXPECT_EQ(frost__key_hash(deep.get(), FROST_MAX_TUPLE_DEPTH, &h), -2);
  EXPECT_FALSE(PyErr_Occurred());
  Ref limit(Eval("(lambda: [t := 1, [t := (t,) for _ in range(256)], t][2])()"));
  EXPECT_EQ(frost__key_hash(limit.get(), FROST_MAX_TUPLE_DEPTH, &h), 0);
  EXPECT_EQ(h, PyObject_Hash(limit.get()));
  Ref unhashable(Eval("(1, [])"));
  EXPECT_EQ(frost__key_hash(unhashable.get(), 0, &h), -1);
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_TypeError));
  PyErr_Clear();
}


TEST(NodesTest, LookupReportsComparisonErrors) {
  Ref key(Eval("(1, 2)"));
  frost_entry_t entry{PyObject_Hash(key.get()), frost_ref_from_object(key.get()), 0};
  int32_t index[8];
  for (int32_t &x : index) x = -1;
  frost_table_t t{};
  t.len = 1;
  t.mask = 7;
  t.index = index;
  t.entries = &entry;
  frost__table_index_entry(&t, 0);
  Ref probe(Eval("(1, 2)"));
  EXPECT_EQ(frost__table_lookup(&t, probe.get(), entry.hash, AlwaysFails, nullptr), -2);
  EXPECT_TRUE(PyErr_ExceptionMatches(PyExc_RuntimeError));
  PyErr_Clear();
}

}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new frost_test::PythonEnvironment);
  return RUN_ALL_TESTS();
}

// columns_test.cc -- store/columns.c: building a table blob from Arrow C
// structs, and the blob check refusing every single-word damage to the
// header and the descriptors without reading out of bounds (run under the
// asan preset, this is the check's memory-safety test).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
#include "frost_arena.h"
#include "frost_columns.h"
}

namespace {

void NoRelease(ArrowSchema *s) { s->release = nullptr; }
void NoReleaseArray(ArrowArray *a) { a->release = nullptr; }

struct Arena {
  frost_arena_t *a = nullptr;
  Arena() { EXPECT_EQ(frost_arena_new(&a, nullptr, 0), FROST_OK); }
  ~Arena() { frost_arena_free(a); }
};

// A three-row table: i (int64, row 1 null), s (utf8), d (dictionary<int8, utf8>),
// l (list<int32>).
struct Source {
  uint8_t validity[1] = {0b101};
  int64_t ints[3] = {10, 20, 30};
  int32_t offsets[4] = {0, 2, 2, 5};
  char chars[6] = "abcde";
  int8_t indices[3] = {1, 0, 1};
  int32_t dict_offsets[3] = {0, 1, 3};
  char dict_chars[4] = "xyz";
  int32_t list_offsets[4] = {0, 1, 1, 3};
  int32_t list_values[3] = {7, 8, 9};

  const void *i_bufs[2] = {validity, ints};
  const void *s_bufs[3] = {nullptr, offsets, chars};
  const void *d_bufs[2] = {nullptr, indices};
  const void *dv_bufs[3] = {nullptr, dict_offsets, dict_chars};
  const void *l_bufs[2] = {nullptr, list_offsets};
  const void *lv_bufs[2] = {nullptr, list_values};
  const void *root_bufs[1] = {nullptr};

  ArrowSchema s_i{"l", "i", nullptr, 2, 0, nullptr, nullptr, NoRelease, nullptr};
  ArrowSchema s_s{"u", "s", nullptr, 2, 0, nullptr, nullptr, NoRelease, nullptr};
  ArrowSchema s_dv{"u", "", nullptr, 2, 0, nullptr, nullptr, NoRelease, nullptr};
  ArrowSchema s_d{"c", "d", nullptr, 2, 0, nullptr, &s_dv, NoRelease, nullptr};
  ArrowSchema s_lv{"i", "item", nullptr, 2, 0, nullptr, nullptr, NoRelease, nullptr};
  ArrowSchema *s_l_children[1] = {&s_lv};
  ArrowSchema s_l{"+l", "l", nullptr, 2, 1, s_l_children, nullptr, NoRelease, nullptr};
  ArrowSchema *s_root_children[4] = {&s_i, &s_s, &s_d, &s_l};
  ArrowSchema s_root{"+s", "", nullptr, 0, 4, s_root_children, nullptr, NoRelease, nullptr};

  ArrowArray a_i{3, 1, 0, 2, 0, i_bufs, nullptr, nullptr, NoReleaseArray, nullptr};
  ArrowArray a_s{3, 0, 0, 3, 0, s_bufs, nullptr, nullptr, NoReleaseArray, nullptr};
  ArrowArray a_dv{2, 0, 0, 3, 0, dv_bufs, nullptr, nullptr, NoReleaseArray, nullptr};
  ArrowArray a_d{3, 0, 0, 2, 0, d_bufs, nullptr, &a_dv, NoReleaseArray, nullptr};
  ArrowArray a_lv{3, 0, 0, 2, 0, lv_bufs, nullptr, nullptr, NoReleaseArray, nullptr};
  ArrowArray *a_l_children[1] = {&a_lv};
  ArrowArray a_l{3, 0, 0, 2, 1, l_bufs, a_l_children, nullptr, NoReleaseArray, nullptr};
  ArrowArray *a_root_children[4] = {&a_i, &a_s, &a_d, &a_l};
  ArrowArray a_root{3, 0, 0, 1, 4, root_bufs, a_root_children, nullptr, NoReleaseArray, nullptr};
};

frost_columns_t *Build(frost_arena_t *arena, Source &src, char *err, size_t errlen) {
  ArrowArray *chunks[1] = {&src.a_root};
  frost_columns_t *node = nullptr;
  int rc = frost__columns_build(arena, &src.s_root, chunks, 1, &node, err, errlen);
  return rc == 0 ? node : nullptr;
}

TEST(ColumnsTest, BuildsAndChecksATable) {
  Arena arena;
  Source src;
  char err[FROST_COL_ERRLEN] = "";
  frost_columns_t *node = Build(arena.a, src, err, sizeof err);
  ASSERT_NE(node, nullptr) << err;
  const char *blob = node->blob;
  const frost_colblob_header_t *h = frost__colblob_header(blob);
  EXPECT_EQ(h->nrows, 3);
  EXPECT_EQ(h->nchunks, 1u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(blob) % 64, 0u);
  const frost_colarray_t *root = frost__colarray(blob, frost__colchild(blob, h->chunks, 0));
  const frost_colarray_t *col_i = frost__colarray(blob, frost__colchild(blob, root->children, 0));
  EXPECT_EQ(col_i->null_count, 1);
  const int64_t *ints = static_cast<const int64_t *>(frost__colbuf(blob, col_i, 1));
  EXPECT_NE(static_cast<const void *>(ints), static_cast<const void *>(src.ints));   // a copy
  EXPECT_EQ(ints[2], 30);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ints) % 64, 0u);
  EXPECT_EQ(frost__colblob_check(const_cast<char *>(blob), node->nbytes, 0, err, sizeof err), 0) << err;
}

TEST(ColumnsTest, LiesAreRefusedWithTheColumnName) {
  Arena arena;
  char err[FROST_COL_ERRLEN] = "";
  {
    Source src;
    src.offsets[2] = 1;   // decreasing
    EXPECT_EQ(Build(arena.a, src, err, sizeof err), nullptr);
    EXPECT_NE(std::strstr(err, "column 's' of type string"), nullptr) << err;
    EXPECT_NE(std::strstr(err, "offsets decrease"), nullptr) << err;
  }
  {
    Source src;
    src.indices[1] = 5;
    EXPECT_EQ(Build(arena.a, src, err, sizeof err), nullptr);
    EXPECT_NE(std::strstr(err, "column 'd'"), nullptr) << err;
    EXPECT_NE(std::strstr(err, "dictionary index 5"), nullptr) << err;
  }
  {
    Source src;
    src.list_offsets[3] = 4;   // past the child's 3 items
    EXPECT_EQ(Build(arena.a, src, err, sizeof err), nullptr);
    EXPECT_NE(std::strstr(err, "column 'l.item' of type int32"), nullptr) << err;
    EXPECT_NE(std::strstr(err, "3 items, 4 needed"), nullptr) << err;
  }
  {
    Source src;
    src.a_i.null_count = 2;
    src.i_bufs[0] = nullptr;   // nulls without a bitmap
    EXPECT_EQ(Build(arena.a, src, err, sizeof err), nullptr);
    EXPECT_NE(std::strstr(err, "no validity bitmap"), nullptr) << err;
  }
  {
    // a string_view column whose first view (13 bytes, out of line) names data buffer 5
    // of none: the 16-byte views are written here in full, so the builder's reads are of
    // initialised memory (the plain string buffers it would otherwise read as views are
    // shorter than three views, and under valgrind their padding is uninitialised)
    Source src;
    alignas(16) uint8_t views[3 * 16] = {};
    const int32_t len = 13, buffer = 5;
    std::memcpy(views, &len, 4);
    std::memcpy(views + 8, &buffer, 4);
    src.s_bufs[1] = views;
    src.s_s.format = "vu";
    EXPECT_EQ(Build(arena.a, src, err, sizeof err), nullptr);
    EXPECT_NE(std::strstr(err, "string_view"), nullptr) << err;
  }
}

// Every 8-byte word of the header and descriptor area, replaced by each of a
// set of values: the check returns 0 or -1 and never reads outside the blob
// (the copy is exactly nbytes long, so ASan sees any overrun).
TEST(ColumnsTest, EveryWordDamagedIsRefusedOrSafe) {
  Arena arena;
  Source src;
  char err[FROST_COL_ERRLEN] = "";
  frost_columns_t *node = Build(arena.a, src, err, sizeof err);
  ASSERT_NE(node, nullptr) << err;
  const frost_colblob_header_t *h = frost__colblob_header(node->blob);
  size_t size = static_cast<size_t>(node->nbytes);
  char *copy = static_cast<char *>(std::aligned_alloc(64, size));
  ASSERT_NE(copy, nullptr);
  const uint64_t deltas[] = {1, static_cast<uint64_t>(-1), 8, static_cast<uint64_t>(-8), 64,
                             static_cast<uint64_t>(-64), 1ull << 40};
  const uint64_t values[] = {0, ~0ull, 64, h->desc_end, node->nbytes, 1ull << 62};
  int refused = 0, total = 0;
  for (size_t at = 0; at + 8 <= h->desc_end; at += 8) {
    uint64_t orig;
    std::memcpy(&orig, node->blob + at, 8);
    std::vector<uint64_t> tries(std::begin(values), std::end(values));
    for (uint64_t d : deltas) tries.push_back(orig + d);
    for (uint64_t v : tries) {
      if (v == orig) continue;
      std::memcpy(copy, node->blob, size);
      std::memcpy(copy + at, &v, 8);
      total++;
      refused += frost__colblob_check(copy, node->nbytes, 0, err, sizeof err) < 0;
    }
  }
  std::free(copy);
  EXPECT_GT(refused, total / 2) << refused << " of " << total;
}

}  // namespace

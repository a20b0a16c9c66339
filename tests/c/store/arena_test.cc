// arena_test.cc -- store/arena.c and the chunk backends: bump allocation and
// alignment, chunk growth, sealing (a write to a sealed arena faults), stats,
// and allocation failure (a backend that fails after N calls).
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

extern "C" {
#include "frost_arena.h"
}

namespace {

// Owns an arena for one test.
struct ArenaPtr {
  frost_arena_t *a = nullptr;
  ~ArenaPtr() { frost_arena_free(a); }
};

// A backend over mmap that fails every call after the first `budget`, and
// counts what it handed out and got back.
struct FailingBackend {
  frost_backend_t backend;
  int budget;
  int allocs = 0;
  int frees = 0;

  explicit FailingBackend(int n) : budget(n) {
    backend.name = "failing";
    backend.chunk_alloc = &FailingBackend::Alloc;
    backend.chunk_free = &FailingBackend::Free;
    backend.ctx = this;
  }
  static void *Alloc(void *ctx, size_t size) {
    auto *self = static_cast<FailingBackend *>(ctx);
    if (self->allocs >= self->budget) return nullptr;
    void *p = frost_backend_mmap()->chunk_alloc(nullptr, size);
    if (p) self->allocs++;
    return p;
  }
  static void Free(void *ctx, void *chunk, size_t size) {
    auto *self = static_cast<FailingBackend *>(ctx);
    self->frees++;
    frost_backend_mmap()->chunk_free(nullptr, chunk, size);
  }
};

// The mmap backend: a chunk of 2 MiB or more starts on a 2 MiB boundary (where
// transparent huge pages can back it) and owns exactly its pages: the slack
// mapped to align it is given back, and freeing it leaves nothing mapped there.
bool Mapped(const void *p) {
  unsigned char v;
  auto page = reinterpret_cast<uintptr_t>(p) & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);
  return mincore(reinterpret_cast<void *>(page), 1, &v) == 0;   // ENOMEM: not mapped
}

TEST(ArenaTest, LargeMmapChunksStartOnHugePageBoundariesAndOwnOnlyTheirPages) {
  const size_t huge = size_t{2} << 20, page = sysconf(_SC_PAGESIZE);
  for (size_t size : {huge - page, huge, huge + page, 5 * huge + 3 * page}) {
    auto *p = static_cast<unsigned char *>(frost_backend_mmap()->chunk_alloc(nullptr, size));
    ASSERT_NE(p, nullptr) << size;
    if (size >= huge) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % huge, 0u) << size;
      EXPECT_FALSE(Mapped(p - page)) << "the slack before a chunk of " << size << " is unmapped";
      EXPECT_FALSE(Mapped(p + size)) << "the slack after a chunk of " << size << " is unmapped";
    }
    for (size_t i = 0; i < size; i += page) ASSERT_EQ(p[i], 0) << i;
    p[0] = 1;
    p[size - 1] = 2;
    frost_backend_mmap()->chunk_free(nullptr, p, size);
    EXPECT_FALSE(Mapped(p));
    EXPECT_FALSE(Mapped(p + size - 1));
  }
}

TEST(ArenaTest, AllocationsAreZeroedAlignedAndDistinct) {
  ArenaPtr arena;
  ASSERT_EQ(frost_arena_new(&arena.a, nullptr, 0), FROST_OK);
  std::set<uintptr_t> seen;
  for (size_t align : {1, 2, 8, 16, 64, 4096}) {
    for (size_t size : {0, 1, 7, 24, 100, 5000}) {
      auto *p = static_cast<unsigned char *>(frost_arena_alloc(arena.a, size, align));
      ASSERT_NE(p, nullptr) << size << "@" << align;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
      for (size_t i = 0; i < size; i++) ASSERT_EQ(p[i], 0) << i;
      std::memset(p, 0xAB, size);
      EXPECT_TRUE(seen.insert(reinterpret_cast<uintptr_t>(p)).second);
      EXPECT_TRUE(frost_arena_contains(arena.a, p));
    }
  }
  int local = 0;
  EXPECT_FALSE(frost_arena_contains(arena.a, &local));
}

TEST(ArenaTest, BadArgumentsAreRefused) {
  ArenaPtr arena;
  ASSERT_EQ(frost_arena_new(&arena.a, frost_backend_mmap(), 0), FROST_OK);
  EXPECT_EQ(frost_arena_alloc(arena.a, 8, 3), nullptr);
  EXPECT_EQ(frost_arena_last_error(arena.a), FROST_EINVAL);
  EXPECT_EQ(frost_arena_alloc(arena.a, 8, 1 << 20), nullptr);
  EXPECT_EQ(frost_arena_alloc(arena.a, SIZE_MAX - 10, 8), nullptr);
  EXPECT_EQ(frost_arena_last_error(arena.a), FROST_EINVAL);
  frost_arena_t *none = reinterpret_cast<frost_arena_t *>(1);
  EXPECT_EQ(frost_arena_new(&none, frost_backend_mmap(), SIZE_MAX), FROST_EINVAL);
  EXPECT_EQ(none, nullptr);
}

TEST(ArenaTest, ChunksGrowAndBigAllocationsGetTheirOwn) {
  ArenaPtr arena;
  ASSERT_EQ(frost_arena_new(&arena.a, frost_backend_mmap(), 4096), FROST_OK);
  frost_arena_stats_t s;
  frost_arena_stats(arena.a, &s);
  EXPECT_EQ(s.chunks, 0u);   // lazy: nothing reserved before the first alloc

  ASSERT_NE(frost_arena_alloc(arena.a, 100, 8), nullptr);
  ASSERT_NE(frost_arena_alloc(arena.a, 10 << 20, 64), nullptr);   // its own chunk
  void *small = frost_arena_alloc(arena.a, 100, 8);               // back in the first
  ASSERT_NE(small, nullptr);
  frost_arena_stats(arena.a, &s);
  EXPECT_EQ(s.chunks, 2u);
  EXPECT_EQ(s.bytes_used, 100u + 4u + (10u << 20) + 100u);        // 4 bytes of padding
  EXPECT_EQ(s.bytes_reserved, 4096u + (10u << 20));
  for (int i = 0; i < 100; i++) ASSERT_NE(frost_arena_alloc(arena.a, 1000, 8), nullptr);
  frost_arena_stats(arena.a, &s);
  EXPECT_GT(s.chunks, 3u);
  EXPECT_LE(s.bytes_used, s.bytes_reserved);
  EXPECT_EQ(s.bytes_reserved % 4096, 0u);
  EXPECT_STREQ(s.backend, "mmap");
}

// A tiny store costs one page, not a megabyte (issue 14 item 18), and a run
// of medium objects early on grows the bump chunk instead of taking a chunk
// (and a mapping) each.
TEST(ArenaTest, SmallArenasCostOnePageAndGrowGeometrically) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ArenaPtr arena;
  ASSERT_EQ(frost_arena_new(&arena.a, nullptr, 0), FROST_OK);
  ASSERT_NE(frost_arena_alloc(arena.a, 64, 8), nullptr);
  frost_arena_stats_t s;
  frost_arena_stats(arena.a, &s);
  EXPECT_EQ(s.bytes_reserved, page);
  for (int i = 0; i < 1000; i++) ASSERT_NE(frost_arena_alloc(arena.a, 3000, 8), nullptr);
  frost_arena_stats(arena.a, &s);
  EXPECT_LE(s.chunks, 12u);                        // doubling: log2(3 MB / 4 KB) + 1
  EXPECT_LE(s.bytes_reserved, 2 * s.bytes_used + page);
}

// A window (freeze.c places its small objects in one itself): the rest of the
// bump chunk, aligned, counted as used until its unused end is given back, which
// the next allocation then gets; giving back anything but the end of the last
// allocation does nothing, and a window is only for small minimums.
TEST(ArenaTest, AWindowIsTheRestOfTheBumpChunkAndItsEndComesBack) {
  ArenaPtr arena;
  ASSERT_EQ(frost_arena_new(&arena.a, nullptr, 0), FROST_OK);
  ASSERT_NE(frost_arena_alloc(arena.a, 10, 1), nullptr);
  size_t got = 0;
  auto *w = static_cast<char *>(frost_arena_alloc_window(arena.a, 100, 64, &got));
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w) % 64, 0u);
  EXPECT_GE(got, 100u);
  for (size_t i = 0; i < got; i++) ASSERT_EQ(w[i], 0) << i;
  frost_arena_stats_t s;
  frost_arena_stats(arena.a, &s);
  EXPECT_EQ(s.bytes_used, s.bytes_reserved);   // the whole chunk is handed out
  frost_arena_give_back(arena.a, w + got - 1, 1);   // not the end: kept
  frost_arena_give_back(arena.a, w + got, got - 200);
  frost_arena_stats(arena.a, &s);
  EXPECT_EQ(s.bytes_used, 64u + 200u);         // 10 bytes + padding to 64, 200 kept
  auto *next = static_cast<char *>(frost_arena_alloc(arena.a, 8, 8));
  EXPECT_EQ(next, w + 200);                    // the given-back space is used again
  EXPECT_EQ(frost_arena_alloc_window(arena.a, 0, 8, &got), nullptr);
  EXPECT_EQ(frost_arena_alloc_window(arena.a, 1 << 20, 8, &got), nullptr);
  EXPECT_EQ(frost_arena_last_error(arena.a), FROST_EINVAL);
}

TEST(ArenaTest, StatsCountObjectsByKind) {
  ArenaPtr arena;
  ASSERT_EQ(frost_arena_new(&arena.a, nullptr, 0), FROST_OK);
  frost_arena_count(arena.a, FROST_KIND_STR);
  frost_arena_count(arena.a, FROST_KIND_STR);
  frost_arena_count(arena.a, FROST_KIND_TUPLE_NODE);
  frost_arena_count(arena.a, FROST_KIND_COUNT);   // ignored, not a crash
  frost_arena_stats_t s;
  frost_arena_stats(arena.a, &s);
  EXPECT_EQ(s.objects[FROST_KIND_STR], 2u);
  EXPECT_EQ(s.objects[FROST_KIND_TUPLE_NODE], 1u);
  EXPECT_EQ(s.objects[FROST_KIND_DICT], 0u);
  EXPECT_STREQ(frost_kind_name(FROST_KIND_TUPLE_NODE), "tuple_node");
  EXPECT_STREQ(frost_kind_name(FROST_KIND_COUNT), "unknown");
  EXPECT_STREQ(s.backend, frost_backend_default()->name);
}

TEST(ArenaTest, SealedArenaRefusesAllocationAndStaysReadable) {
  ArenaPtr arena;
  ASSERT_EQ(frost_arena_new(&arena.a, nullptr, 0), FROST_OK);
  auto *p = static_cast<char *>(frost_arena_alloc(arena.a, 16, 8));
  ASSERT_NE(p, nullptr);
  std::strcpy(p, "frozen");
  EXPECT_FALSE(frost_arena_is_sealed(arena.a));
  ASSERT_EQ(frost_arena_seal(arena.a), FROST_OK);
  ASSERT_EQ(frost_arena_seal(arena.a), FROST_OK);   // idempotent
  EXPECT_TRUE(frost_arena_is_sealed(arena.a));
  EXPECT_STREQ(p, "frozen");
  EXPECT_EQ(frost_arena_alloc(arena.a, 16, 8), nullptr);
  EXPECT_EQ(frost_arena_last_error(arena.a), FROST_ESEALED);
  frost_arena_stats_t s;
  frost_arena_stats(arena.a, &s);
  EXPECT_TRUE(s.sealed);
}

// Writes into a sealed arena on `backend`; the process must die of SIGSEGV.
void WriteAfterSeal(const frost_backend_t *backend) {
  frost_arena_t *a = nullptr;
  if (frost_arena_new(&a, backend, 0) != FROST_OK) return;
  auto *p = static_cast<volatile char *>(frost_arena_alloc(a, 64, 8));
  if (p == nullptr || frost_arena_seal(a) != FROST_OK) return;
  p[10] = 'x';   // must fault
}

TEST(ArenaDeathTest, WriteToSealedArenaFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(WriteAfterSeal(frost_backend_default()), "");
  EXPECT_DEATH(WriteAfterSeal(frost_backend_mmap()), "");
}

// For every N, a backend that fails after N chunks gives a clean ENOMEM, the
// arena stays usable and freeable, and every chunk goes back.
TEST(ArenaTest, BackendFailureIsCleanForEveryN) {
  const size_t live_before = frost_arena_live_count();
  for (int n = 0; n <= 6; n++) {
    FailingBackend backend(n);
    frost_arena_t *a = nullptr;
    ASSERT_EQ(frost_arena_new(&a, &backend.backend, 4096), FROST_OK);
    int ok = 0;
    for (int i = 0; i < 64; i++) {
      if (frost_arena_alloc(a, 3000, 8) == nullptr) {
        EXPECT_EQ(frost_arena_last_error(a), FROST_ENOMEM) << n;
        break;
      }
      ok++;
    }
    EXPECT_EQ(backend.allocs, n);
    EXPECT_GE(ok, n);   // every granted chunk holds at least one 3000-byte object
    EXPECT_EQ(frost_arena_seal(a), FROST_OK);
    frost_arena_free(a);
    EXPECT_EQ(backend.frees, backend.allocs) << n;
  }
  EXPECT_EQ(frost_arena_live_count(), live_before);
}

TEST(ArenaTest, LiveCountTracksNewAndFree) {
  const size_t before = frost_arena_live_count();
  frost_arena_t *a = nullptr;
  ASSERT_EQ(frost_arena_new(&a, nullptr, 0), FROST_OK);
  EXPECT_EQ(frost_arena_live_count(), before + 1);
  frost_arena_free(a);
  frost_arena_free(nullptr);
  EXPECT_EQ(frost_arena_live_count(), before);
}

TEST(ArenaTest, StrerrorNamesEveryCode) {
  for (int code : {FROST_OK, FROST_ENOMEM, FROST_ESEALED, FROST_EINVAL, FROST_EPROTECT, FROST_EBUSY}) {
    EXPECT_STRNE(frost_strerror(code), "unknown error") << code;
  }
  EXPECT_STREQ(frost_strerror(-99), "unknown error");
}

}  // namespace

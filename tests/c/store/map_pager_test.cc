// map_pager_test.cc -- the format-2 writer's pager thread (store/map_pager.c):
// it maps what the writer allocated, never writes a byte or changes the
// file's size, survives a file truncated under it, and stop always returns.
// Pure C API; no Python involved.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "frost_map_pager.h"

namespace {

constexpr size_t kMiB = size_t(1) << 20;
constexpr size_t kWindow = 256 * kMiB;

struct Memfd {
  int fd = -1;
  unsigned char *base = nullptr;
  Memfd() {
    fd = memfd_create("map_pager_test", MFD_CLOEXEC);
    EXPECT_GE(fd, 0);
    void *p = mmap(nullptr, kWindow, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    EXPECT_NE(p, MAP_FAILED);
    base = static_cast<unsigned char *>(p);
  }
  ~Memfd() {
    munmap(base, kWindow);
    close(fd);
  }
  off_t Size() const {
    struct stat st;
    EXPECT_EQ(fstat(fd, &st), 0);
    return st.st_size;
  }
};

// Resident pages of [at, at + n) of the mapping.
size_t Resident(const unsigned char *base, size_t at, size_t n) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec(n / page);
  EXPECT_EQ(mincore(const_cast<unsigned char *>(base) + at, n, vec.data()), 0);
  size_t r = 0;
  for (unsigned char v : vec) r += v & 1;
  return r * page;
}

TEST(MapPagerTest, MapsWhatWasAllocatedAndWritesNothing) {
  Memfd f;
  ASSERT_EQ(fallocate(f.fd, 0, 0, 24 * kMiB), 0);
  frost_map_pager_t *p = frost__map_pager_start(f.base);
  if (p == nullptr) {
    GTEST_SKIP() << "no MADV_POPULATE_WRITE in this build's headers";
  }
  ASSERT_EQ(frost__map_pager_add(p, kMiB, 4 * kMiB), 0);
  ASSERT_EQ(frost__map_pager_add(p, 4 * kMiB, 8 * kMiB), 0);          // extends the last range
  ASSERT_EQ(frost__map_pager_add(p, 12 * kMiB + 5, 24 * kMiB + 123), 0);   // partial pages: left alone
  for (int i = 0; i < 500 && Resident(f.base, 12 * kMiB + 4096, 12 * kMiB - 4096) < 12 * kMiB - 4096; i++) {
    usleep(10000);
  }
  EXPECT_EQ(Resident(f.base, kMiB, 7 * kMiB), 7 * kMiB);
  EXPECT_EQ(Resident(f.base, 12 * kMiB + 4096, 12 * kMiB - 4096), 12 * kMiB - 4096);
  EXPECT_EQ(Resident(f.base, 8 * kMiB, 4 * kMiB), 0u);   // the gap (a bulk payload's) is never touched
  EXPECT_EQ(Resident(f.base, 12 * kMiB, 4096), 0u);
  frost__map_pager_stop(p);
  EXPECT_EQ(f.Size(), static_cast<off_t>(24 * kMiB));   // the size is the writer's
  for (size_t at = 0; at < 24 * kMiB; at += 4096) {
    ASSERT_EQ(f.base[at], 0) << at;
  }
}

TEST(MapPagerTest, TooManySeparateRangesAreRefusedForTheCallerToDo) {
  Memfd f;
  ASSERT_EQ(fallocate(f.fd, 0, 0, 128 * kMiB), 0);
  frost_map_pager_t *p = frost__map_pager_start(f.base);
  if (p == nullptr) {
    GTEST_SKIP() << "no MADV_POPULATE_WRITE in this build's headers";
  }
  int refused = 0;
  for (size_t i = 0; i < 64; i++) {   // gaps between all: each is a range of its own
    refused += frost__map_pager_add(p, 2 * i * kMiB, (2 * i + 1) * kMiB) < 0;
  }
  frost__map_pager_stop(p);
  EXPECT_LE(refused, 64 - 16);   // at least the first 16 are taken; how many more depends on
                                 // how fast the pager drains them
}

TEST(MapPagerTest, FileTruncatedUnderThePagerIsNoCrashAndNoGrowth) {
  Memfd f;
  ASSERT_EQ(fallocate(f.fd, 0, 0, 64 * kMiB), 0);
  frost_map_pager_t *p = frost__map_pager_start(f.base);
  if (p == nullptr) {
    GTEST_SKIP() << "no MADV_POPULATE_WRITE in this build's headers";
  }
  ASSERT_EQ(frost__map_pager_add(p, 0, 64 * kMiB), 0);
  ASSERT_EQ(ftruncate(f.fd, 4096), 0);   // what a progress callback may do
  frost__map_pager_stop(p);
  EXPECT_EQ(f.Size(), 4096);
}

TEST(MapPagerTest, StopRightAwayOrMidStepAndNullAreFine) {
  for (int i = 0; i < 20; i++) {
    Memfd f;
    ASSERT_EQ(fallocate(f.fd, 0, 0, 8 * kMiB), 0);
    frost_map_pager_t *p = frost__map_pager_start(f.base);
    ASSERT_EQ(frost__map_pager_add(p, 0, i % 2 ? 8 * kMiB : 0), 0);
    frost__map_pager_stop(p);
  }
  EXPECT_EQ(frost__map_pager_add(nullptr, 0, kMiB), -1);
  frost__map_pager_stop(nullptr);
}

}  // namespace

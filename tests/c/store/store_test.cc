// store_test.cc -- frost_store_t: registry, references, tokens, lifetimes; and
// publish.c, the name -> (store, version) table.
// Pure C API; no Python involved.
#include <gtest/gtest.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "frost_store.h"

namespace {

frost_arena_t *SealedArena() {
  frost_arena_t *arena = nullptr;
  EXPECT_EQ(frost_arena_new(&arena, frost_backend_mmap(), 0), FROST_OK);
  void *p = frost_arena_alloc(arena, 64, 8);
  EXPECT_NE(p, nullptr);
  EXPECT_EQ(frost_arena_seal(arena), FROST_OK);
  return arena;
}

TEST(StoreTest, NewRequiresSealedArenaAndTakesIt) {
  size_t arenas_before = frost_arena_live_count();
  frost_arena_t *open = nullptr;
  ASSERT_EQ(frost_arena_new(&open, frost_backend_mmap(), 0), FROST_OK);
  frost_store_t *store = nullptr;
  // An unsealed arena is refused, and freed (ownership passed in).
  EXPECT_EQ(frost_store_new(&store, open, 0, FROST_LIFETIME_SCOPED), FROST_EINVAL);
  EXPECT_EQ(store, nullptr);
  EXPECT_EQ(frost_arena_live_count(), arenas_before);
}

TEST(StoreTest, ScopedStoreIsFreedWithItsLastReference) {
  size_t arenas_before = frost_arena_live_count();
  size_t stores_before = frost_store_live_count();
  frost_store_t *store = nullptr;
  ASSERT_EQ(frost_store_new(&store, SealedArena(), 0x1234, FROST_LIFETIME_SCOPED), FROST_OK);
  EXPECT_EQ(frost_store_root(store), 0x1234u);
  EXPECT_EQ(frost_store_lifetime(store), FROST_LIFETIME_SCOPED);
  EXPECT_EQ(frost_store_live_count(), stores_before + 1);

  frost_store_acquire(store);   // a second holder
  frost_store_release(store);
  EXPECT_EQ(frost_store_live_count(), stores_before + 1);
  frost_store_release(store);   // the last one frees store and arena
  EXPECT_EQ(frost_store_live_count(), stores_before);
  EXPECT_EQ(frost_arena_live_count(), arenas_before);
  frost_store_release(nullptr);   // NULL ok
}

TEST(StoreTest, ProcessStoreIsNeverFreed) {
  size_t stores_before = frost_store_live_count();
  frost_store_t *store = nullptr;
  ASSERT_EQ(frost_store_new(&store, SealedArena(), 8, FROST_LIFETIME_PROCESS), FROST_OK);
  frost_store_release(store);
  EXPECT_EQ(frost_store_live_count(), stores_before + 1);
  int bad = 0;
  frost_store_t *again = frost_store_acquire_by_id(frost_store_id(store), 8,
                                                   frost_store_token(store, 8), &bad);
  EXPECT_EQ(again, store);
  frost_store_release(again);
}

TEST(StoreTest, AcquireByIdChecksTheToken) {
  frost_store_t *store = nullptr;
  ASSERT_EQ(frost_store_new(&store, SealedArena(), 0, FROST_LIFETIME_SCOPED), FROST_OK);
  uint64_t id = frost_store_id(store);
  int bad = 0;
  // The right token gives the store (a new reference).
  frost_store_t *found = frost_store_acquire_by_id(id, 0x40, frost_store_token(store, 0x40), &bad);
  EXPECT_EQ(found, store);
  EXPECT_EQ(bad, 0);
  frost_store_release(found);
  // A token for another address is refused and flagged.
  EXPECT_EQ(frost_store_acquire_by_id(id, 0x48, frost_store_token(store, 0x40), &bad), nullptr);
  EXPECT_EQ(bad, 1);
  // An unknown id is simply absent.
  EXPECT_EQ(frost_store_acquire_by_id(id + 1000000, 0, 0, &bad), nullptr);
  EXPECT_EQ(bad, 0);
  frost_store_release(store);
  // After the last release the id is gone.
  EXPECT_EQ(frost_store_acquire_by_id(id, 0, 0, &bad), nullptr);
}

TEST(StoreTest, IdsAreUniqueAndTokensDiffer) {
  frost_store_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(frost_store_new(&a, SealedArena(), 0, FROST_LIFETIME_SCOPED), FROST_OK);
  ASSERT_EQ(frost_store_new(&b, SealedArena(), 0, FROST_LIFETIME_SCOPED), FROST_OK);
  EXPECT_NE(frost_store_id(a), frost_store_id(b));
  EXPECT_NE(frost_store_token(a, 16), frost_store_token(b, 16));
  EXPECT_NE(frost_store_token(a, 16), frost_store_token(a, 24));
  frost_store_release(a);
  frost_store_release(b);
}

// Many threads take and drop references while the owner drops its own:
// the store is freed exactly once, and lookups never revive a dying store.
TEST(StoreTest, ConcurrentAcquireRelease) {
  size_t stores_before = frost_store_live_count();
  frost_store_t *store = nullptr;
  ASSERT_EQ(frost_store_new(&store, SealedArena(), 0, FROST_LIFETIME_SCOPED), FROST_OK);
  uint64_t id = frost_store_id(store);
  uint64_t token = frost_store_token(store, 0);
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; t++) {
    frost_store_acquire(store);   // each thread owns one reference to start with
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; i++) {
        int bad = 0;
        frost_store_t *s = frost_store_acquire_by_id(id, 0, token, &bad);
        if (s != nullptr) {
          hits++;
          frost_store_release(s);
        }
      }
      frost_store_release(store);
    });
  }
  frost_store_release(store);
  for (auto &t : threads) t.join();
  EXPECT_GT(hits.load(), 0);
  EXPECT_EQ(frost_store_live_count(), stores_before);
}

// ---- publish.c: the name -> (store, version) table -------------------------

TEST(PublishTest, VersionsGrowAndReplacingKeepsOldReadersAlive) {
  size_t stores_before = frost_store_live_count();
  frost_store_t *v1 = nullptr, *v2 = nullptr;
  ASSERT_EQ(frost_store_new(&v1, SealedArena(), 1, FROST_LIFETIME_SCOPED), FROST_OK);
  ASSERT_EQ(frost_store_new(&v2, SealedArena(), 2, FROST_LIFETIME_SCOPED), FROST_OK);
  uint64_t version = 0;
  ASSERT_EQ(frost_publish("publish-test", v1, &version), FROST_OK);
  EXPECT_EQ(version, 1u);
  frost_store_release(v1);   // the table holds it now

  frost_store_t *reader = frost_published("publish-test", &version);   // a reader of v1
  ASSERT_EQ(reader, v1);
  EXPECT_EQ(version, 1u);

  ASSERT_EQ(frost_publish("publish-test", v2, &version), FROST_OK);
  EXPECT_EQ(version, 2u);
  frost_store_release(v2);
  EXPECT_EQ(frost_store_live_count(), stores_before + 2);   // v1 still read
  EXPECT_EQ(frost_store_root(reader), 1u);
  frost_store_release(reader);                               // its last reader
  EXPECT_EQ(frost_store_live_count(), stores_before + 1);

  frost_store_t *now = frost_published("publish-test", &version);
  ASSERT_EQ(now, v2);
  frost_store_release(now);
  EXPECT_EQ(frost_unpublish("publish-test"), 1);
  EXPECT_EQ(frost_unpublish("publish-test"), 0);
  EXPECT_EQ(frost_published("publish-test", &version), nullptr);
  EXPECT_EQ(frost_published("never-published", &version), nullptr);
  EXPECT_EQ(frost_store_live_count(), stores_before);
}

// Many names (the table's buckets grow several times): each finds its own
// entry, versions stay per name, and unpublishing every name frees the store.
TEST(PublishTest, ManyNamesEachFindTheirOwn) {
  size_t stores_before = frost_store_live_count();
  frost_store_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(frost_store_new(&a, SealedArena(), 1, FROST_LIFETIME_SCOPED), FROST_OK);
  ASSERT_EQ(frost_store_new(&b, SealedArena(), 2, FROST_LIFETIME_SCOPED), FROST_OK);
  const int n = 5000;
  uint64_t version = 0;
  char name[32];
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "many-%d", i);
    ASSERT_EQ(frost_publish(name, i % 2 ? b : a, &version), FROST_OK);
    ASSERT_EQ(version, 1u);
  }
  for (int i = 0; i < n; i += 3) {   // a third published again: version 2
    snprintf(name, sizeof name, "many-%d", i);
    ASSERT_EQ(frost_publish(name, i % 2 ? b : a, &version), FROST_OK);
    ASSERT_EQ(version, 2u);
  }
  frost_store_release(a);
  frost_store_release(b);
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "many-%d", i);
    frost_store_t *s = frost_published(name, &version);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(frost_store_root(s), i % 2 ? 2u : 1u) << name;
    EXPECT_EQ(version, i % 3 ? 1u : 2u) << name;
    frost_store_release(s);
  }
  EXPECT_EQ(frost_published("many-5000", &version), nullptr);
  EXPECT_EQ(frost_published("many-", &version), nullptr);
  for (int i = 0; i < n; i++) {
    snprintf(name, sizeof name, "many-%d", i);
    ASSERT_EQ(frost_unpublish(name), 1) << name;
  }
  EXPECT_EQ(frost_store_live_count(), stores_before);
}

// Publishers and readers race on one name: every reader gets a whole store
// (its root is one of the published ones), and all are freed at the end.
TEST(PublishTest, ConcurrentPublishAndRead) {
  size_t stores_before = frost_store_live_count();
  std::vector<std::thread> threads;
  std::atomic<int> reads{0};
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([] {
      for (uintptr_t i = 1; i <= 200; i++) {
        frost_store_t *s = nullptr;
        ASSERT_EQ(frost_store_new(&s, SealedArena(), i, FROST_LIFETIME_SCOPED), FROST_OK);
        uint64_t version = 0;
        ASSERT_EQ(frost_publish("publish-race", s, &version), FROST_OK);
        frost_store_release(s);
      }
    });
  }
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&reads] {
      for (int i = 0; i < 2000; i++) {
        uint64_t version = 0;
        frost_store_t *s = frost_published("publish-race", &version);
        if (s != nullptr) {
          EXPECT_GE(frost_store_root(s), 1u);
          EXPECT_LE(frost_store_root(s), 200u);
          reads++;
          frost_store_release(s);
        }
      }
    });
  }
  for (auto &t : threads) t.join();
  uint64_t version = 0;
  frost_store_t *last = frost_published("publish-race", &version);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(version, 400u);
  frost_store_release(last);
  EXPECT_EQ(frost_unpublish("publish-race"), 1);
  EXPECT_EQ(frost_store_live_count(), stores_before);
}

}  // namespace

// ---- published images: the table owns a dup of the fd and a copy of meta ----

namespace {
bool FdOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }
ino_t InodeOf(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_ino : 0;
}
}  // namespace

TEST(PublishTest, ImagesShareVersionsWithStoresAndOwnTheirFd) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);   // any open file stands for an image
  uint64_t version = 0;
  ASSERT_EQ(frost_publish_image("publish-image", pipe_fds[0], "meta1", 5, &version), FROST_OK);
  EXPECT_EQ(version, 1u);
  close(pipe_fds[0]);   // the caller keeps its own fd: the table has a dup

  frost_publication_t pub;
  ASSERT_EQ(frost_publication("publish-image", &pub), FROST_PUBLISHED_IMAGE);
  EXPECT_EQ(pub.version, 1u);
  EXPECT_EQ(pub.store, nullptr);
  ASSERT_GE(pub.fd, 0);
  EXPECT_EQ(InodeOf(pub.fd), InodeOf(pipe_fds[1]));
  EXPECT_EQ(fcntl(pub.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(pub.meta_len, 5u);
  EXPECT_EQ(std::string(static_cast<char *>(pub.meta), pub.meta_len), "meta1");
  int reader_fd = pub.fd;
  EXPECT_EQ(frost_published("publish-image", &version), nullptr);   // not a store

  // a store replaces the image (version 2): the reader's dup stays valid
  size_t stores_before = frost_store_live_count();
  frost_store_t *store = nullptr;
  ASSERT_EQ(frost_store_new(&store, SealedArena(), 7, FROST_LIFETIME_SCOPED), FROST_OK);
  ASSERT_EQ(frost_publish("publish-image", store, &version), FROST_OK);
  EXPECT_EQ(version, 2u);
  frost_store_release(store);
  EXPECT_TRUE(FdOpen(reader_fd));
  frost_publication_release(&pub);
  EXPECT_FALSE(FdOpen(reader_fd));
  frost_publication_release(&pub);   // idempotent

  frost_publication_t now;
  ASSERT_EQ(frost_publication("publish-image", &now), FROST_PUBLISHED_STORE);
  EXPECT_EQ(now.version, 2u);
  EXPECT_EQ(frost_store_root(now.store), 7u);
  frost_publication_release(&now);

  // an image replaces the store (version 3), which is freed
  ASSERT_EQ(frost_publish_image("publish-image", pipe_fds[1], "", 0, &version), FROST_OK);
  EXPECT_EQ(version, 3u);
  EXPECT_EQ(frost_store_live_count(), stores_before);
  ASSERT_EQ(frost_publication("publish-image", &now), FROST_PUBLISHED_IMAGE);
  EXPECT_EQ(now.meta_len, 0u);
  int table_ino = static_cast<int>(InodeOf(now.fd));
  frost_publication_release(&now);
  EXPECT_EQ(frost_unpublish("publish-image"), 1);
  EXPECT_EQ(frost_unpublish("publish-image"), 0);
  EXPECT_EQ(frost_publication("publish-image", &now), FROST_PUBLISHED_NONE);
  EXPECT_EQ(now.fd, -1);
  EXPECT_NE(table_ino, 0);
  close(pipe_fds[1]);

  // an fd that is not open: nothing published, errno says why
  EXPECT_EQ(frost_publish_image("publish-image-bad", 999999, "m", 1, &version), FROST_EINVAL);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(frost_publication("publish-image-bad", &now), FROST_PUBLISHED_NONE);
}

// Replacing an image while readers dup it: every reader gets an open fd of one
// of the published files, and no fd is left once unpublished.
TEST(PublishTest, ConcurrentImageReplaceAndRead) {
  int probe = dup(0);
  close(probe);   // the lowest free fd number now
  int files[2][2];
  ASSERT_EQ(pipe(files[0]), 0);
  ASSERT_EQ(pipe(files[1]), 0);
  ino_t inodes[2] = {InodeOf(files[0][0]), InodeOf(files[1][0])};
  std::vector<std::thread> threads;
  threads.emplace_back([&files] {
    for (int i = 0; i < 300; i++) {
      uint64_t version = 0;
      if (i % 7 == 6) {
        frost_unpublish("publish-image-race");
      } else {
        ASSERT_EQ(frost_publish_image("publish-image-race", files[i % 2][0], "m", 1, &version),
                  FROST_OK);
      }
    }
  });
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&inodes] {
      for (int i = 0; i < 1000; i++) {
        frost_publication_t pub;
        int kind = frost_publication("publish-image-race", &pub);
        if (kind == FROST_PUBLISHED_IMAGE) {
          ino_t ino = InodeOf(pub.fd);
          EXPECT_TRUE(ino == inodes[0] || ino == inodes[1]);
        } else {
          EXPECT_EQ(kind, FROST_PUBLISHED_NONE);
        }
        frost_publication_release(&pub);
      }
    });
  }
  for (auto &t : threads) t.join();
  frost_unpublish("publish-image-race");
  for (auto &f : files) {
    close(f[0]);
    close(f[1]);
  }
  int after = dup(0);
  close(after);
  EXPECT_EQ(after, probe);   // every dup closed
}

// snapshot_test.cc -- store/snapshot.c in an embedded interpreter: a store
// saved and loaded back reads the same data from a new sealed arena, saving
// over a path leaves earlier loads intact, and bad files are clean errors
// (status, message, no store, nothing leaked). The Python suite
// (tests/python/test_snapshot.py) covers the format's corners and corruption.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

#include "frozen.hpp"

extern "C" {
#include "frost_snapshot.h"
}

using frost_test::Eval;
using frost_test::Frozen;
using frost_test::Ref;

namespace {

const char *kData = "{f'k{i}': (i, i * 0.5, f'v\\u00e9{i}') for i in range(2000)}";

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(frost_snapshot_init(), 0);
    char tmpl[] = "/tmp/frost-snapshot-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    stores_before_ = frost_store_live_count();
    arenas_before_ = frost_arena_live_count();
  }
  void TearDown() override {
    std::remove(Path().c_str());
    rmdir(dir_.c_str());
    EXPECT_EQ(frost_store_live_count(), stores_before_);
    EXPECT_EQ(frost_arena_live_count(), arenas_before_);
  }
  std::string Path() const { return dir_ + "/s.frost"; }

  // Freeze `expr` into a new scoped store (one reference, the caller's).
  static frost_store_t *Store(const char *expr) {
    Frozen f(expr);
    EXPECT_EQ(f.rc, 0);
    frost_store_t *store = nullptr;
    EXPECT_EQ(frost_store_new(&store, f.TakeSealedArena(), f.root, FROST_LIFETIME_SCOPED),
              FROST_OK);
    return store;
  }

  // Every key of kData maps to the value Python computes for it.
  static void ExpectData(const frost_store_t *store) {
    const frost_node_t *node = frost_ref_node(frost_store_root(store));
    ASSERT_EQ(node->kind, (uint32_t)FROST_NODE_DICT);
    const frost_table_t *t = (const frost_table_t *)node;
    ASSERT_EQ(t->len, 2000);
    Ref expected(Eval(kData));
    for (int i = 0; i < 2000; i += 7) {
      Ref key(PyUnicode_FromFormat("k%d", i));
      Py_ssize_t ix = frost__table_lookup(t, key.get(), PyObject_Hash(key.get()), nullptr, nullptr);
      ASSERT_EQ(ix, i);
      PyObject *got = frost_ref_object(t->entries[ix].value);
      EXPECT_EQ(PyObject_RichCompareBool(got, PyDict_GetItem(expected.get(), key.get()), Py_EQ), 1);
    }
  }

  std::string dir_;
  size_t stores_before_ = 0, arenas_before_ = 0;
};

TEST_F(SnapshotTest, SavedStoreLoadsIntoANewSealedArenaWithTheSameData) {
  frost_store_t *original = Store(kData);
  frost_snapshot_error_t err;
  ASSERT_EQ(frost_snapshot_save(original, Path().c_str(), &err), FROST_OK) << err.message;
  frost_store_t *loaded = nullptr;
  ASSERT_EQ(frost_snapshot_load(Path().c_str(), FROST_LIFETIME_SCOPED, &loaded, &err), FROST_OK)
      << err.message;
  EXPECT_NE(frost_store_arena(loaded), frost_store_arena(original));
  frost_arena_stats_t stats;
  frost_arena_stats(frost_store_arena(loaded), &stats);
  EXPECT_TRUE(stats.sealed);
  frost_store_release(original);   // the loaded store does not depend on it
  ExpectData(loaded);
  frost_store_release(loaded);
}

TEST_F(SnapshotTest, SavingOverThePathLeavesEarlierLoadsIntact) {
  frost_store_t *v1 = Store(kData), *v2 = Store("{'other': 1}");
  frost_snapshot_error_t err;
  ASSERT_EQ(frost_snapshot_save(v1, Path().c_str(), &err), FROST_OK);
  frost_store_t *reader = nullptr;
  ASSERT_EQ(frost_snapshot_load(Path().c_str(), FROST_LIFETIME_SCOPED, &reader, &err), FROST_OK);
  ASSERT_EQ(frost_snapshot_save(v2, Path().c_str(), &err), FROST_OK);
  ExpectData(reader);   // still the first file's pages
  frost_store_t *fresh = nullptr;
  ASSERT_EQ(frost_snapshot_load(Path().c_str(), FROST_LIFETIME_SCOPED, &fresh, &err), FROST_OK);
  EXPECT_EQ(((const frost_table_t *)frost_ref_node(frost_store_root(fresh)))->len, 1);
  for (frost_store_t *s : {v1, v2, reader, fresh}) frost_store_release(s);
}

TEST_F(SnapshotTest, ATargetThatIsNotARegularFileIsRefusedAndKept) {
  // rename(2) over a FIFO (or /dev/null, as root) would replace it with a file
  frost_store_t *store = Store("{'k': 1}");
  std::string fifo = dir_ + "/fifo", sub = dir_ + "/sub";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  frost_snapshot_error_t err;
  ASSERT_EQ(frost_snapshot_save(store, fifo.c_str(), &err), FROST_SNAPSHOT_EIO);
  EXPECT_EQ(err.sys_errno, EINVAL);
  EXPECT_NE(std::string(err.message).find("a FIFO, not a regular file"), std::string::npos) << err.message;
  struct stat sb;
  ASSERT_EQ(stat(fifo.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISFIFO(sb.st_mode));
  ASSERT_EQ(frost_snapshot_save(store, sub.c_str(), &err), FROST_SNAPSHOT_EIO);
  EXPECT_EQ(err.sys_errno, EISDIR);
  ASSERT_EQ(stat(sub.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISDIR(sb.st_mode));
  frost_store_release(store);
  std::remove(fifo.c_str());
  rmdir(sub.c_str());
}

TEST_F(SnapshotTest, BadFilesAreCleanErrors) {
  frost_store_t *out = reinterpret_cast<frost_store_t *>(0x1);
  frost_snapshot_error_t err;
  EXPECT_EQ(frost_snapshot_load((dir_ + "/missing").c_str(), FROST_LIFETIME_SCOPED, &out, &err),
            FROST_SNAPSHOT_EIO);
  EXPECT_EQ(err.sys_errno, ENOENT);
  EXPECT_EQ(out, nullptr);

  // a valid file, then cut short, then its magic broken
  frost_store_t *original = Store(kData);
  ASSERT_EQ(frost_snapshot_save(original, Path().c_str(), &err), FROST_OK);
  frost_store_release(original);
  long size = 0;
  {
    FILE *f = std::fopen(Path().c_str(), "rb");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 0, SEEK_END);
    size = std::ftell(f);
    std::fclose(f);
  }
  ASSERT_EQ(truncate(Path().c_str(), size / 2), 0);
  EXPECT_EQ(frost_snapshot_load(Path().c_str(), FROST_LIFETIME_SCOPED, &out, &err),
            FROST_SNAPSHOT_EFORMAT);
  EXPECT_NE(std::string(err.message), "");
  EXPECT_EQ(out, nullptr);
  {
    FILE *f = std::fopen(Path().c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fputs("XXXX", f);
    std::fclose(f);
  }
  EXPECT_EQ(frost_snapshot_load(Path().c_str(), FROST_LIFETIME_SCOPED, &out, &err),
            FROST_SNAPSHOT_EFORMAT);
  EXPECT_EQ(out, nullptr);
  EXPECT_FALSE(PyErr_Occurred());
}

}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new frost_test::PythonEnvironment);
  return RUN_ALL_TESTS();
}

// pool_test.cc -- interp/pool.c through its C embedding API (frost_pool.h):
// start/stop, init code, run_all, tasks and their results, errors in
// workers, cancellation, attaching a frozen store, which threads are the
// workers, misuse.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <sys/wait.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "../frost_test_util.hpp"

extern "C" {
#include "frost_pool.h"
}

using frost_test::Eval;
using frost_test::Ref;

namespace {

// The main interpreter runs, but its GIL is released: the pool API must be
// called without a GIL held.
class ReleasedPython : public ::testing::Environment {
 public:
  void SetUp() override {
    Py_InitializeEx(0);
    saved_ = PyEval_SaveThread();
  }
  void TearDown() override {
    PyEval_RestoreThread(saved_);
    ASSERT_EQ(Py_FinalizeEx(), 0);
  }

 private:
  PyThreadState *saved_ = nullptr;
};

// Frees the pool (and its error text) on scope exit.
struct PoolPtr {
  frost_pool_t *p = nullptr;
  char *error = nullptr;
  ~PoolPtr() {
    frost_pool_free(p);
    free(error);
  }
};

std::string Text(const frost_pool_result_t &r) { return std::string(r.data, r.size); }

TEST(PoolTest, StartsRunsCodeEverywhereAndStops) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 3, "import sys\nseen = []\n", &pool.error), FROST_OK);
  EXPECT_EQ(pool.error, nullptr);
  EXPECT_EQ(frost_pool_workers(pool.p), 3);
  // Each worker is its own interpreter: a global set by run_all is per worker.
  ASSERT_EQ(frost_pool_run_all(pool.p, "seen.append(1)\nassert len(seen) == 1\n", &pool.error),
            FROST_OK);
  ASSERT_EQ(frost_pool_run_all(pool.p, "seen.append(2)\nassert seen == [1, 2], seen\n", &pool.error),
            FROST_OK);
  EXPECT_FALSE(frost_pool_is_worker_thread(pool.p));
  frost_pool_shutdown(pool.p, false);
  EXPECT_EQ(frost_pool_join(pool.p), FROST_OK);
  EXPECT_EQ(frost_pool_join(pool.p), FROST_OK);   // idempotent
  frost_pool_result_t r;
  EXPECT_EQ(frost_pool_next_result(pool.p, 0, &r), FROST_EDRAINED);
  EXPECT_EQ(frost_pool_run_all(pool.p, "pass\n", &pool.error), FROST_ESHUTDOWN);
  EXPECT_EQ(frost_pool_submit(pool.p, "binascii", "hexlify", "x", 1), FROST_ESHUTDOWN);
}

TEST(PoolTest, TasksReturnBytesInAnyOrder) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 2, nullptr, &pool.error), FROST_OK);
  std::set<int64_t> ids;
  for (int i = 0; i < 50; i++) {
    std::string payload = "item" + std::to_string(i);
    int64_t id = frost_pool_submit(pool.p, "binascii", "hexlify", payload.data(), payload.size());
    ASSERT_GE(id, 1);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 50u);
  for (int i = 0; i < 50; i++) {
    frost_pool_result_t r;
    ASSERT_EQ(frost_pool_next_result(pool.p, 30, &r), FROST_OK);
    EXPECT_EQ(r.status, FROST_TASK_OK);
    EXPECT_EQ(ids.erase(r.id), 1u);
    std::string hex = Text(r);
    EXPECT_EQ(hex.rfind("6974656d", 0), 0u) << hex;   // hex of "item"
    frost_pool_result_clear(&r);
  }
  frost_pool_result_t r;
  EXPECT_EQ(frost_pool_next_result(pool.p, 0.01, &r), FROST_ETIMEOUT);
}

TEST(PoolTest, ErrorsComeBackAsTracebacksAndWorkersSurvive) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 1, nullptr, &pool.error), FROST_OK);
  int64_t raises = frost_pool_submit(pool.p, "binascii", "unhexlify", "zz!", 3);
  int64_t not_bytes = frost_pool_submit(pool.p, "zlib", "crc32", "abc", 3);
  int64_t no_module = frost_pool_submit(pool.p, "no_such_module_frost", "f", "", 0);
  int64_t exits = frost_pool_submit(pool.p, "sys", "exit", "bye", 3);
  int64_t fine = frost_pool_submit(pool.p, "binascii", "hexlify", "\x01", 1);
  std::string text[6];
  for (int i = 0; i < 5; i++) {
    frost_pool_result_t r;
    ASSERT_EQ(frost_pool_next_result(pool.p, 30, &r), FROST_OK);
    ASSERT_GE(r.id, raises);
    ASSERT_LE(r.id, fine);
    EXPECT_EQ(r.status, r.id == fine ? FROST_TASK_OK : FROST_TASK_ERROR) << r.id;
    text[r.id - raises] = Text(r);
    frost_pool_result_clear(&r);
  }
  EXPECT_NE(text[raises - raises].find("binascii.Error"), std::string::npos) << text[0];
  EXPECT_NE(text[not_bytes - raises].find("must return bytes, not int"), std::string::npos);
  EXPECT_NE(text[no_module - raises].find("ModuleNotFoundError"), std::string::npos);
  EXPECT_NE(text[exits - raises].find("SystemExit"), std::string::npos);
  EXPECT_EQ(text[fine - raises], "01");
}

TEST(PoolTest, FailingInitCodeFailsTheConstructorCleanly) {
  PoolPtr pool;
  EXPECT_EQ(frost_pool_new(&pool.p, 2, "raise ValueError('init broke')\n", &pool.error),
            FROST_EPYTHON);
  EXPECT_EQ(pool.p, nullptr);
  ASSERT_NE(pool.error, nullptr);
  EXPECT_NE(std::string(pool.error).find("ValueError: init broke"), std::string::npos);
}

// frost_pool_new_interruptible asks its caller every 50 ms while the workers
// start; a yes stops the start: FROST_EINTR, no pool, nothing left running
// (ASan and memcheck check that the workers' memory went too).
TEST(PoolTest, AnInterruptedStartEndsEveryWorkerAndReturnsEintr) {
  PoolPtr pool;
  int asked = 0;
  auto stop_now = [](void *ctx) -> int {
    ++*static_cast<int *>(ctx);
    return 1;
  };
  // 128 interpreters, two per CPU at a time: far longer than 50 ms
  EXPECT_EQ(frost_pool_new_interruptible(&pool.p, 128, nullptr, &pool.error, stop_now, &asked),
            FROST_EINTR);
  EXPECT_EQ(pool.p, nullptr);
  EXPECT_EQ(asked, 1);   // asked until it said stop, never again
}

TEST(PoolTest, AStartAskedButNeverStoppedGivesAWorkingPool) {
  PoolPtr pool;
  int asked = 0;
  auto go_on = [](void *ctx) -> int {
    ++*static_cast<int *>(ctx);
    return 0;
  };
  ASSERT_EQ(frost_pool_new_interruptible(&pool.p, 24, "x = 1\n", &pool.error, go_on, &asked),
            FROST_OK);
  EXPECT_GT(asked, 0);   // 24 interpreters take more than one 50 ms wait
  EXPECT_EQ(frost_pool_workers(pool.p), 24);
  ASSERT_EQ(frost_pool_run_all(pool.p, "assert x == 1\n", &pool.error), FROST_OK);
}

TEST(PoolTest, RunAllReportsTheFirstError) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 2, nullptr, &pool.error), FROST_OK);
  EXPECT_EQ(frost_pool_run_all(pool.p, "1/0\n", &pool.error), FROST_EPYTHON);
  ASSERT_NE(pool.error, nullptr);
  EXPECT_NE(std::string(pool.error).find("ZeroDivisionError"), std::string::npos);
  free(pool.error);
  pool.error = nullptr;
  EXPECT_EQ(frost_pool_run_all(pool.p, "x = 1\n", &pool.error), FROST_OK);   // still alive
}

TEST(PoolTest, ShutdownWithCancelGivesPayloadsBack) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 1, nullptr, &pool.error), FROST_OK);
  // A module whose function holds the only worker for a while, so the
  // tasks behind it are still queued when the pool shuts down.
  ASSERT_EQ(frost_pool_run_all(pool.p,
                               "import sys, time, types\n"
                               "gate = types.ModuleType('frost_gate')\n"
                               "gate.wait = lambda p: (time.sleep(float(p)), b'slept')[1]\n"
                               "sys.modules['frost_gate'] = gate\n",
                               &pool.error),
            FROST_OK);
  ASSERT_GE(frost_pool_submit(pool.p, "frost_gate", "wait", "0.5", 3), 1);
  for (int i = 0; i < 20; i++) {
    ASSERT_GE(frost_pool_submit(pool.p, "binascii", "hexlify", "payload", 7), 1);
  }
  frost_pool_shutdown(pool.p, true);
  int ok = 0, cancelled = 0, errors = 0;
  for (;;) {
    frost_pool_result_t r;
    int rc = frost_pool_next_result(pool.p, 30, &r);
    if (rc == FROST_EDRAINED) break;
    ASSERT_EQ(rc, FROST_OK);
    if (r.status == FROST_TASK_CANCELLED) {
      cancelled++;
      EXPECT_TRUE(Text(r) == "payload" || Text(r) == "0.5") << Text(r);
    }
    ok += r.status == FROST_TASK_OK;
    errors += r.status == FROST_TASK_ERROR;
    frost_pool_result_clear(&r);
  }
  EXPECT_EQ(ok + cancelled, 21);
  EXPECT_GE(cancelled, 20);   // the sleeper may have been cancelled too
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(frost_pool_join(pool.p), FROST_OK);
}

TEST(PoolTest, CancelTakesBackOnlyQueuedTasks) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 1, nullptr, &pool.error), FROST_OK);
  // The only worker blocks reading a pipe until the test writes to it, so the
  // task behind it stays queued for as long as the test needs.
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  ASSERT_EQ(frost_pool_run_all(pool.p,
                               "import os, sys, types\n"
                               "gate = types.ModuleType('frost_gate')\n"
                               "gate.wait = lambda fd: (os.read(int(fd), 1), b'opened')[1]\n"
                               "sys.modules['frost_gate'] = gate\n",
                               &pool.error),
            FROST_OK);
  std::string fd = std::to_string(gate[0]);
  int64_t gated = frost_pool_submit(pool.p, "frost_gate", "wait", fd.data(), fd.size());
  int64_t queued = frost_pool_submit(pool.p, "binascii", "hexlify", "payload", 7);
  ASSERT_GE(gated, 1);
  ASSERT_GE(queued, 1);
  while (frost_pool_cancel(pool.p, gated, nullptr, nullptr) == FROST_OK) {   // until taken
    sched_yield();
  }
  EXPECT_EQ(frost_pool_cancel(pool.p, queued, nullptr, nullptr), FROST_OK);   // only asks
  char *payload = nullptr;
  size_t size = 0;
  EXPECT_EQ(frost_pool_cancel(pool.p, gated, &payload, &size), FROST_EBUSY);   // taken
  ASSERT_EQ(frost_pool_cancel(pool.p, queued, &payload, &size), FROST_OK);
  EXPECT_EQ(std::string(payload, size), "payload");
  free(payload);
  EXPECT_EQ(frost_pool_cancel(pool.p, queued, &payload, &size), FROST_EBUSY);   // once
  EXPECT_EQ(frost_pool_cancel(pool.p, 12345, &payload, &size), FROST_EBUSY);    // unknown
  ASSERT_EQ(write(gate[1], "x", 1), 1);
  frost_pool_shutdown(pool.p, false);
  int results = 0;
  for (;;) {
    frost_pool_result_t r;
    int rc = frost_pool_next_result(pool.p, 30, &r);
    if (rc == FROST_EDRAINED) break;
    ASSERT_EQ(rc, FROST_OK);
    EXPECT_EQ(r.id, gated);   // the cancelled task never ran and reports nothing
    EXPECT_EQ(Text(r), "opened");
    results++;
    frost_pool_result_clear(&r);
  }
  EXPECT_EQ(results, 1);
  EXPECT_EQ(frost_pool_join(pool.p), FROST_OK);
  close(gate[0]);
  close(gate[1]);
}

TEST(PoolTest, AttachedStoreIsReadInEveryWorker) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 2, nullptr, &pool.error), FROST_OK);
  PyGILState_STATE g = PyGILState_Ensure();
  {
    Ref frost(PyImport_ImportModule("frost"));
    ASSERT_TRUE(frost) << "PYTHONPATH must hold the built frost package";
    Ref store(PyObject_CallMethod(frost.get(), "freeze", "O",
                                  Ref(Eval("{'answer': 42, 'names': ['ada', 'grace'], 'pi': 3.25}")).get()));
    ASSERT_TRUE(store);
    EXPECT_EQ(frost_pool_attach(pool.p, "bad name", store.get(), &pool.error), FROST_EINVAL);
    EXPECT_EQ(frost_pool_attach(pool.p, "1x", store.get(), &pool.error), FROST_EINVAL);
    Ref not_frost(PyLong_FromLong(7));
    EXPECT_EQ(frost_pool_attach(pool.p, "x", not_frost.get(), &pool.error), FROST_EPYTHON);
    ASSERT_NE(pool.error, nullptr);
    EXPECT_NE(std::string(pool.error).find("not a frost Store or view: 'int'"), std::string::npos)
        << pool.error;
    free(pool.error);
    pool.error = nullptr;
    ASSERT_EQ(frost_pool_attach(pool.p, "data", store.get(), &pool.error), FROST_OK)
        << (pool.error ? pool.error : "");
    Ref names(PyObject_GetItem(Ref(PyObject_GetAttrString(store.get(), "root")).get(),
                               Ref(PyUnicode_FromString("names")).get()));
    ASSERT_TRUE(names);
    ASSERT_EQ(frost_pool_attach(pool.p, "names", names.get(), &pool.error), FROST_OK)
        << (pool.error ? pool.error : "");
    PyThreadState *saved = PyEval_SaveThread();
    EXPECT_EQ(frost_pool_run_all(pool.p,
                                 "r = data.root\n"
                                 "assert r['answer'] == 42 and r['pi'] == 3.25, dict(r)\n"
                                 "assert list(names) == ['ada', 'grace'], names\n"
                                 "assert type(r).__name__ == 'FrozenDict', type(r)\n"
                                 "del r, data, names\n",
                                 &pool.error),
              FROST_OK)
        << (pool.error ? pool.error : "");
    PyEval_RestoreThread(saved);
  }
  PyGILState_Release(g);
}

// A pipe a task writes "in" to once it runs where the test wants to
// interrupt it; the test waits for that before interrupting.
struct Signal {
  int fds[2] = {-1, -1};
  Signal() { EXPECT_EQ(pipe(fds), 0); }
  ~Signal() {
    close(fds[0]);
    close(fds[1]);
  }
  std::string WriteEnd() const { return std::to_string(fds[1]); }
  bool Wait() const {
    char in[2];
    return read(fds[0], in, 2) == 2;
  }
};

TEST(PoolTest, InterruptStopsRunningTasksOnly) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 2, nullptr, &pool.error), FROST_OK);
  EXPECT_EQ(frost_pool_interrupt(pool.p), 0);   // nothing runs: nothing to stop
  ASSERT_EQ(frost_pool_run_all(pool.p,
                               "import sys, types\n"
                               "m = types.ModuleType('frost_spin')\n"
                               "exec('import os\\n'\n"
                               "     'def spin(p):\\n'\n"
                               "     '    if p: os.write(int(p), b\"in\")\\n'\n"
                               "     '    while True: pass\\n'\n"
                               "     'def spin_catching(p):\\n'\n"
                               "     '    try:\\n        os.write(int(p), b\"in\")\\n'\n"
                               "     '        while True: pass\\n'\n"
                               "     '    except KeyboardInterrupt:\\n        return b\"caught\"\\n',\n"
                               "     m.__dict__)\n"
                               "sys.modules['frost_spin'] = m\n",
                               &pool.error),
            FROST_OK)
      << (pool.error ? pool.error : "");
  // A task that loops forever is stopped; its result says so, with no data.
  Signal spinning;
  std::string fd = spinning.WriteEnd();
  int64_t spin = frost_pool_submit(pool.p, "frost_spin", "spin", fd.data(), fd.size());
  ASSERT_GE(spin, 1);
  ASSERT_TRUE(spinning.Wait());
  ASSERT_EQ(frost_pool_interrupt(pool.p), 1);
  frost_pool_result_t r;
  ASSERT_EQ(frost_pool_next_result(pool.p, 30, &r), FROST_OK);
  EXPECT_EQ(r.id, spin);
  EXPECT_EQ(r.status, FROST_TASK_INTERRUPTED);
  EXPECT_EQ(r.size, 0u);
  frost_pool_result_clear(&r);
  // One that catches KeyboardInterrupt returns; its bytes come back. It
  // writes to a pipe once inside its `try`, so the interrupt lands there.
  Signal trying;
  fd = trying.WriteEnd();
  int64_t catching = frost_pool_submit(pool.p, "frost_spin", "spin_catching", fd.data(), fd.size());
  ASSERT_TRUE(trying.Wait());
  ASSERT_EQ(frost_pool_interrupt(pool.p), 1);
  ASSERT_EQ(frost_pool_next_result(pool.p, 30, &r), FROST_OK);
  EXPECT_EQ(r.id, catching);
  EXPECT_EQ(r.status, FROST_TASK_INTERRUPTED);
  EXPECT_EQ(Text(r), "caught");
  frost_pool_result_clear(&r);
  // The workers live on: the next tasks run normally, with no stray interrupt.
  for (int i = 0; i < 4; i++) {
    ASSERT_GE(frost_pool_submit(pool.p, "binascii", "hexlify", "ab", 2), 1);
  }
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(frost_pool_next_result(pool.p, 30, &r), FROST_OK);
    EXPECT_EQ(r.status, FROST_TASK_OK);
    EXPECT_EQ(Text(r), "6162");
    frost_pool_result_clear(&r);
  }
  // free() (PoolPtr's) interrupts tasks still spinning, so it cannot hang.
  Signal left_spinning;
  fd = left_spinning.WriteEnd();
  ASSERT_GE(frost_pool_submit(pool.p, "frost_spin", "spin", fd.data(), fd.size()), 1);
  ASSERT_GE(frost_pool_submit(pool.p, "frost_spin", "spin", "", 0), 1);
  ASSERT_TRUE(left_spinning.Wait());
}

// Whether a thread is one of the pool's workers: yes inside a task, no on the
// caller's thread, and no on a thread started after the workers ended --
// glibc gives such a thread the pthread_t of an ended one (its freed stack),
// and it was taken for a worker: interrupt, wait_ended and join answered
// FROST_ESELF (free would have leaked the pool). A task asks through the
// builtin module frost_pool_self (below; ctypes refuses subinterpreters in
// 3.12), which calls frost_pool_is_worker_thread.
PyObject *AskIsWorker(PyObject *, PyObject *payload) {
  // payload: b"<pool address>"; returns b"<0|1> <thread ident>"
  const char *text = PyBytes_AsString(payload);
  if (text == nullptr) {
    return nullptr;
  }
  auto *pool = reinterpret_cast<const frost_pool_t *>(std::stoull(text));
  std::string answer = std::to_string(frost_pool_is_worker_thread(pool) ? 1 : 0) + " " +
                       std::to_string(PyThread_get_thread_ident());
  return PyBytes_FromStringAndSize(answer.data(), static_cast<Py_ssize_t>(answer.size()));
}

PyMethodDef self_methods[] = {{"ask", AskIsWorker, METH_O, nullptr}, {nullptr, nullptr, 0, nullptr}};
PyModuleDef_Slot self_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED}, {0, nullptr}};
PyModuleDef self_module = {PyModuleDef_HEAD_INIT, "frost_pool_self", nullptr, 0, self_methods,
                           self_slots, nullptr, nullptr, nullptr};
PyObject *InitSelfModule() { return PyModuleDef_Init(&self_module); }

struct WorkerAsk {
  frost_pool_t *pool;
  std::set<unsigned long> *workers;
  bool reused = false, taken = false;
};

void *AskFromANewThread(void *arg) {
  auto *ask = static_cast<WorkerAsk *>(arg);
  ask->reused = ask->workers->count(static_cast<unsigned long>(pthread_self())) > 0;
  ask->taken = frost_pool_is_worker_thread(ask->pool);
  ask->taken |= frost_pool_interrupt(ask->pool) == FROST_ESELF;
  ask->taken |= frost_pool_wait_ended(ask->pool, 0) == FROST_ESELF;
  ask->taken |= frost_pool_join(ask->pool) == FROST_ESELF;
  return nullptr;
}

TEST(PoolTest, OnlyItsOwnRunningWorkersAreTheWorkerThreads) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 2, nullptr, &pool.error), FROST_OK);
  std::string payload = std::to_string(reinterpret_cast<uintptr_t>(pool.p));
  for (int i = 0; i < 20; i++) {
    ASSERT_GE(frost_pool_submit(pool.p, "frost_pool_self", "ask", payload.data(), payload.size()), 1);
  }
  std::set<unsigned long> workers;
  for (int i = 0; i < 20; i++) {
    frost_pool_result_t r;
    ASSERT_EQ(frost_pool_next_result(pool.p, 30, &r), FROST_OK);
    ASSERT_EQ(r.status, FROST_TASK_OK) << Text(r);
    std::string text = Text(r);
    EXPECT_EQ(text.substr(0, 2), "1 ") << "a task's thread is not its pool's worker";
    workers.insert(std::stoul(text.substr(2)));
    frost_pool_result_clear(&r);
  }
  EXPECT_FALSE(frost_pool_is_worker_thread(pool.p));
  frost_pool_shutdown(pool.p, false);
  ASSERT_EQ(frost_pool_join(pool.p), FROST_OK);   // every worker thread has ended
  bool reused = false;
  for (int round = 0; round < 10 && !reused; round++) {
    WorkerAsk asks[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {   // alive at once: they take the freed stacks
      asks[i].pool = pool.p;
      asks[i].workers = &workers;
      ASSERT_EQ(pthread_create(&threads[i], nullptr, AskFromANewThread, &asks[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
      ASSERT_EQ(pthread_join(threads[i], nullptr), 0);
      EXPECT_FALSE(asks[i].taken) << "a new thread was taken for an ended worker"
                                  << (asks[i].reused ? " (it has its pthread_t)" : "");
      reused |= asks[i].reused;
    }
  }
  if (!reused) {
    GTEST_SKIP() << "no new thread took an ended worker's pthread_t here: nothing checked";
  }
}

// A forked child has none of the pool's threads: every call says so, and
// freeing only forgets the pool (its lock may be held by a thread that is
// not there). The parent's pool is untouched.
TEST(PoolTest, ForkedChildGetsEforkedAndParentKeepsItsPool) {
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 2, nullptr, &pool.error), FROST_OK);
  int64_t busy = frost_pool_submit(pool.p, "time", "sleep", nullptr, 0);   // raises: no float
  ASSERT_GT(busy, 0);
  // The child reports through a pipe, not its exit status: under valgrind the
  // child's exit runs a leak check that counts the forgotten parent's pool.
  int verdict[2];
  ASSERT_EQ(pipe(verdict), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    frost_pool_result_t r;
    char *error = nullptr;
    int bad = 0;
    bad |= frost_pool_submit(pool.p, "binascii", "hexlify", "x", 1) != FROST_EFORKED;
    bad |= frost_pool_next_result(pool.p, 0, &r) != FROST_EFORKED;
    bad |= frost_pool_run_all(pool.p, "pass\n", &error) != FROST_EFORKED;
    bad |= frost_pool_interrupt(pool.p) != FROST_EFORKED;
    bad |= frost_pool_wait_ended(pool.p, 0) != FROST_EFORKED;
    bad |= frost_pool_join(pool.p) != FROST_EFORKED;
    bad |= frost_pool_is_worker_thread(pool.p);
    frost_pool_shutdown(pool.p, true);   // does nothing
    frost_pool_free(pool.p);             // forgets it
    char answer = bad ? 'F' : 'K';
    ssize_t written = write(verdict[1], &answer, 1);
    _exit(written == 1 ? 0 : 2);
  }
  close(verdict[1]);
  char answer = '?';
  EXPECT_EQ(read(verdict[0], &answer, 1), 1);
  close(verdict[0]);
  EXPECT_EQ(answer, 'K') << "a call on the parent's pool did not answer FROST_EFORKED in the child";
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << status;   // not killed by a signal
  frost_pool_result_t r;
  ASSERT_EQ(frost_pool_next_result(pool.p, 60, &r), FROST_OK);
  EXPECT_EQ(r.id, busy);
  frost_pool_result_clear(&r);
  int64_t id = frost_pool_submit(pool.p, "binascii", "hexlify", "x", 1);
  ASSERT_EQ(frost_pool_next_result(pool.p, 60, &r), FROST_OK);
  EXPECT_EQ(r.id, id);
  EXPECT_EQ(Text(r), "78");
  frost_pool_result_clear(&r);
}

TEST(PoolTest, BadArgumentsAreRefused) {
  frost_pool_t *p = reinterpret_cast<frost_pool_t *>(1);
  EXPECT_EQ(frost_pool_new(&p, 0, nullptr, nullptr), FROST_EINVAL);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(frost_pool_new(&p, 100000, nullptr, nullptr), FROST_EINVAL);
  PoolPtr pool;
  ASSERT_EQ(frost_pool_new(&pool.p, 1, nullptr, nullptr), FROST_OK);
  EXPECT_EQ(frost_pool_submit(pool.p, nullptr, "f", "", 0), FROST_EINVAL);
  EXPECT_EQ(frost_pool_submit(pool.p, "m", "f", nullptr, 3), FROST_EINVAL);
  EXPECT_EQ(frost_pool_run_all(pool.p, nullptr, nullptr), FROST_EINVAL);
  frost_pool_free(nullptr);
}

}  // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  PyImport_AppendInittab("frost_pool_self", InitSelfModule);   // before Py_InitializeEx
  ::testing::AddGlobalTestEnvironment(new ReleasedPython);
  return RUN_ALL_TESTS();
}

/*
 * frost_pool.h -- a pool of own-GIL subinterpreters, one per worker thread:
 * the C embedding API (a `PyVM`-style handle) under frost.Pool.
 *
 *   Py_Initialize();  PyObject *store = ...;    // e.g. frost.freeze(data), with the GIL
 *   PyThreadState *main = PyEval_SaveThread();   // release it: the pool needs no GIL
 *   frost_pool_t *pool;  char *err = NULL;
 *   frost_pool_new(&pool, 4, "import math\n", &err);     // 4 interpreters
 *   PyEval_RestoreThread(main);                            // attach alone needs the GIL
 *   frost_pool_attach(pool, "data", store, &err);          //   of store's interpreter:
 *   main = PyEval_SaveThread();                            //   __main__.data in each
 *   frost_pool_run_all(pool, "total = len(data.root)\n", &err);
 *   int64_t id = frost_pool_submit(pool, "mymod", "work", payload, n);
 *   frost_pool_result_t r;  frost_pool_next_result(pool, -1, &r);  ...
 *   frost_pool_free(pool);                                 // shutdown + join
 *   PyEval_RestoreThread(main);  Py_DECREF(store);  Py_FinalizeEx();
 *
 * (examples/embed/embed_pool.c is this as a complete program, run by CI.)
 * Installed: #include <frost/frost_pool.h>, link libfrost (find_package(frost)
 * -> frost::frost, or pkg-config frost) and your libpython.
 *
 * Threads and GILs: every function here may be called from any thread, but
 * never while the calling thread holds a GIL that a worker could need --
 * in practice: release your GIL first (Py_BEGIN_ALLOW_THREADS). The one
 * exception is frost_pool_attach, which must be called holding the GIL of
 * the interpreter that owns the store. The pool's own GILs are taken only by
 * its worker threads.
 *
 * A task names a module-level function `module.func`; the worker imports
 * the module, calls func(payload: bytes) and expects bytes back. The bytes
 * are copied in and out, so the caller keeps ownership of what it passes.
 *
 * Lifecycle: new -> (submit / run_all / next_result)* -> shutdown
 * [-> interrupt] -> join -> free. free does shutdown(cancel), interrupt and
 * join when they were not done.
 * A worker exception never ends a worker; only shutdown does.
 *
 * fork(): a child process has none of the parent's worker threads. In it,
 * every call on a pool of the parent returns FROST_EFORKED (or does
 * nothing: shutdown, result_clear) and frost_pool_free only forgets the
 * pool; the parent's worker interpreters are unlinked from CPython's list
 * in the child so CPython does not try to clear them (interp/fork.c). The
 * child may start pools of its own.
 */
#ifndef FROST_POOL_H
#define FROST_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frost_arena.h"   /* FROST_OK, FROST_E*, FROST_NODISCARD */

#ifdef __cplusplus
extern "C" {
#endif

/* More status codes of this API. */
enum {
    FROST_EPYTHON = -10,    /* Python code raised in a worker; the error text says what */
    FROST_ESHUTDOWN = -11,  /* the pool is shut down: no new work */
    FROST_ETIMEOUT = -12,   /* nothing arrived before the timeout */
    FROST_EDRAINED = -13,   /* shut down and every result collected: nothing will arrive */
    FROST_ESELF = -14,      /* joined from one of the pool's own workers */
    FROST_EFORKED = -15,    /* the pool was started by the parent of this forked process */
    FROST_EINTR = -16,      /* frost_pool_new_interruptible: its caller asked it to stop */
};

typedef struct frost_pool_s frost_pool_t;

typedef enum {
    FROST_TASK_OK = 0,         /* data: the bytes func returned */
    FROST_TASK_ERROR = 1,      /* data: the traceback text (func raised or returned no bytes) */
    FROST_TASK_CANCELLED = 2,  /* data: the payload, given back (shutdown with cancel) */
    FROST_TASK_INTERRUPTED = 3, /* stopped by frost_pool_interrupt; data: the bytes func
                                   returned after the interrupt, or none (size 0) */
} frost_task_status_t;

typedef struct {
    int64_t id;                   /* what frost_pool_submit returned */
    frost_task_status_t status;
    char *data;                   /* owned; release with frost_pool_result_clear */
    size_t size;
} frost_pool_result_t;

/*
 * Start `workers` threads (1..1024), each creating an own-GIL subinterpreter
 * (PyInterpreterConfig_OWN_GIL, isolated) and running `init_code` (NULL ok)
 * in its __main__. Returns when every worker is ready. Requires a running
 * Python (Py_Initialize). On failure nothing is left running; *error (if
 * error != NULL) receives a malloc'd message for FROST_EPYTHON (free() it).
 */
FROST_NODISCARD int frost_pool_new(frost_pool_t **out, int workers, const char *init_code,
                                   char **error);

/*
 * frost_pool_new, asking `interrupted(ctx)` every 50 ms while it waits for its
 * workers (from the calling thread, with no pool lock held: it may take the
 * GIL and check for signals). A nonzero answer stops the start: workers not
 * yet creating an interpreter never do (at most two per CPU create at a
 * time), those creating one finish and end it, and FROST_EINTR is returned
 * with nothing left running.
 */
typedef int (*frost_pool_interrupted_fn)(void *ctx);
FROST_NODISCARD int frost_pool_new_interruptible(frost_pool_t **out, int workers,
                                                 const char *init_code, char **error,
                                                 frost_pool_interrupted_fn interrupted, void *ctx);

/* How many workers the pool has. */
int frost_pool_workers(const frost_pool_t *pool);

/*
 * Run `code` in the __main__ of every worker, once each, and wait. Queued
 * tasks run before it in each worker. FROST_EPYTHON if it raised in any
 * (the first error text goes to *error, malloc'd), FROST_ESHUTDOWN.
 */
FROST_NODISCARD int frost_pool_run_all(frost_pool_t *pool, const char *code, char **error);

/*
 * run_all in two steps, for a caller that must stay interruptible: begin
 * starts `code` in every worker (FROST_ESHUTDOWN, FROST_ESELF, FROST_ENOMEM);
 * wait waits up to `timeout` seconds (< 0: forever) for all of them:
 * FROST_ETIMEOUT (call it again), FROST_OK or FROST_EPYTHON (*error as for
 * run_all). A caller that gives up waiting must shut the pool down (the
 * next run_all would wait for this one's waiter); frost_pool_interrupt
 * stops the code like a task. The code is copied.
 */
FROST_NODISCARD int frost_pool_run_all_begin(frost_pool_t *pool, const char *code);
FROST_NODISCARD int frost_pool_run_all_wait(frost_pool_t *pool, double timeout, char **error);

/*
 * Bind `name` (a Python identifier) in every worker's __main__ to a view of
 * the same memory as `shared`, a frost.Store or view object. Unlike the rest
 * of this API it needs the GIL of the interpreter that owns `shared` (it
 * reads its reference, then releases that GIL while the workers attach).
 * Each worker takes its own lease; the caller keeps `shared`. Needs the
 * `frost` package importable in the workers (sys.path / PYTHONPATH).
 * FROST_EPYTHON (with *error) if `shared` is not a frost object or a worker
 * fails to attach.
 */
typedef struct _object PyObject;
FROST_NODISCARD int frost_pool_attach(frost_pool_t *pool, const char *name, PyObject *shared,
                                      char **error);

/* Queue module.func(payload). Returns the task id (>= 1), or FROST_ESHUTDOWN
 * / FROST_ENOMEM / FROST_EINVAL (< 0). */
int64_t frost_pool_submit(frost_pool_t *pool, const char *module, const char *func,
                          const void *payload, size_t size);

/*
 * Take task `id` back if no worker has taken it yet. FROST_OK: it is out of
 * the queue, will never run and no result will come for it; its payload is
 * handed to the caller in *payload / *size (malloc'd: free() it). FROST_EBUSY:
 * it is not queued -- a worker has taken it (it is running, or its result
 * is on its way) or the id is unknown. With payload == NULL nothing is
 * taken: the return only says whether the task is still queued.
 */
FROST_NODISCARD int frost_pool_cancel(frost_pool_t *pool, int64_t id, char **payload,
                                      size_t *size);

/*
 * Wait up to `timeout` seconds (< 0: forever) for the next finished task.
 * FROST_OK and *out filled; FROST_ETIMEOUT; FROST_EDRAINED once the pool is
 * shut down and every task has been reported.
 */
FROST_NODISCARD int frost_pool_next_result(frost_pool_t *pool, double timeout,
                                           frost_pool_result_t *out);
void frost_pool_result_clear(frost_pool_result_t *result);

/*
 * Stop taking work (idempotent). Tasks already queued still run, unless
 * `cancel_pending`: then they come back as FROST_TASK_CANCELLED results.
 * Does not wait; workers end once the queue is empty.
 */
void frost_pool_shutdown(frost_pool_t *pool, bool cancel_pending);

/*
 * Stop the tasks (and run_all code) that are running now: KeyboardInterrupt is raised in each
 * (asynchronously, like Ctrl-C: it lands at the task's next bytecode, so a
 * task blocked in C -- sleep, I/O -- stops once that call returns; a task
 * that catches it runs on; calling this again raises it again). Their results come back as
 * FROST_TASK_INTERRUPTED; a task a worker has taken but not yet begun
 * never begins and comes back FROST_TASK_CANCELLED. Queued tasks are not
 * touched (frost_pool_shutdown cancels those). Takes each busy worker's GIL for a moment; call it
 * without a GIL. Returns how many tasks were interrupted, or FROST_ESELF
 * from one of this pool's own workers, FROST_ENOMEM.
 */
int frost_pool_interrupt(frost_pool_t *pool);

/* Wait up to `timeout` seconds (>= 0) for every worker to end its
 * interpreter, without joining: FROST_OK, FROST_ETIMEOUT, FROST_ESELF. A
 * caller that must stay interruptible waits in slices, then joins. */
FROST_NODISCARD int frost_pool_wait_ended(frost_pool_t *pool, double timeout);

/* Wait until every worker has ended its interpreter and its thread is
 * joined (idempotent). FROST_ESELF from one of this pool's own workers. */
int frost_pool_join(frost_pool_t *pool);

/*
 * For interpreter exit only, once waiting for the workers has taken too long:
 * shut down (cancelling the queue) and give up on every worker that has not
 * begun ending its interpreter. Their threads are left where they are (a
 * task blocked in time.sleep, a lock or a read: nothing else can stop it),
 * their interpreters are unlinked from CPython's list so that Py_Finalize
 * neither ends nor waits for them, and what they hold (store leases) stays
 * held. Afterwards next_result drains without their results, wait_ended and
 * join do not wait for them, interrupt does nothing, and frost_pool_free
 * leaks the pool (a forgotten worker may still wake up and read it).
 * Returns how many workers were given up, FROST_ESELF, FROST_ENOMEM.
 * Idempotent.
 */
int frost_pool_abandon(frost_pool_t *pool);

/* Whether the calling thread is one of this pool's workers, while it runs (a
 * thread started later is not, even with the pthread_t of an ended worker). */
bool frost_pool_is_worker_thread(const frost_pool_t *pool);

/* shutdown(cancel) + interrupt + join if still needed, then free. NULL ok. Must not be
 * called from one of the pool's own workers. Undelivered results are dropped. */
void frost_pool_free(frost_pool_t *pool);

#ifdef __cplusplus
}
#endif
#endif /* FROST_POOL_H */

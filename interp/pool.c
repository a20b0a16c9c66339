/*
 * pool.c -- frost_pool_t: N worker threads, each owning one own-GIL
 * subinterpreter, fed by a task queue (see frost_pool.h for the contract).
 *
 * Synchronisation: one mutex `lock` guards every queue and counter below;
 * three condition variables say what changed:
 *   work_cv    -- a task was queued, a broadcast started, or shutdown began
 *                 (workers wait here);
 *   result_cv  -- a result was queued, or a worker ended (next_result waits);
 *   control_cv -- a worker became ready, or finished its part of a
 *                 broadcast (frost_pool_new, run_all and the workers
 *                 waiting for a creation slot wait here).
 * Nobody polls: every wait is on a condition variable, and a worker
 * releases its interpreter's GIL while it waits, so threads that user code
 * started inside that interpreter keep running. (One exception: while
 * frost_pool_new_interruptible waits for its workers it asks its caller's
 * `interrupted` every START_POLL_MS, so Ctrl-C stops a long start.)
 * Start-up: at most create_slots workers (twice the CPUs this process may use)
 * create their interpreters at once, so an interrupted start waits for those
 * few only; the others see start_stopped and end without one.
 *
 * Invariants (under `lock`):
 *   - queued tasks + running + results queued + results taken + taken back
 *     (frost_pool_cancel) == submitted;
 *   - running <= live_workers <= workers;
 *   - a worker ends only when shutting_down, the task queue is empty and it
 *     has run the current broadcast (seen_gen == bcast_gen);
 *   - drained (next_result -> FROST_EDRAINED) == shutting_down && no task
 *     queued or running && no result queued.
 *
 * Interrupting a running task (frost_pool_interrupt): the caller takes the
 * worker's GIL with a thread state of its own in that interpreter and
 * raises KeyboardInterrupt there with PyThreadState_SetAsyncExc (the only
 * public way in 3.12/3.13 to stop a thread of another interpreter; the
 * pending-call API only reaches the main one). Lock order is always
 * "a worker's GIL, then `lock`", never the reverse: nobody takes a GIL
 * while holding `lock`. Two per-worker fields make it safe:
 *   in_task  -- set and cleared by the worker *while it holds its GIL*, so
 *               an interrupter holding that GIL sees exactly whether the
 *               task is still running (an exception can't leak into the
 *               next task or into Py_EndInterpreter); a task taken from
 *               the queue but not yet begun (has_task) is marked so that
 *               it never begins (it comes back cancelled);
 *   pins     -- interrupters between "saw in_task" and "released the GIL";
 *               the worker does not end its interpreter while pins > 0.
 * The exception itself is set after `lock` is released (still inside the
 * worker's GIL): no frost lock is held while CPython takes its own.
 *
 * Ending: before Py_EndInterpreter a worker stops the threads its tasks left
 * running (stop_leftover_threads), or Py_EndInterpreter would wait for them
 * forever. fork(): see "fork" below and interp/fork.c.
 *
 * Abandoning (frost_pool_abandon, for interpreter exit only): a worker whose
 * task -- or a thread the task started -- is blocked in a C call that no
 * async exception reaches (time.sleep, a lock, a read) cannot end. Its
 * interpreter is unlinked from CPython's list (interp/fork.c) so that
 * finalization neither ends it nor waits for it, and from then on:
 *   - a worker decides under `lock` between ending its interpreter
 *     (`ending`, set only while not `abandoned`) and leaving it for good;
 *     abandon forgets only workers not `ending`, so no interpreter is both
 *     forgotten and ended;
 *   - the pool's memory is never freed (frost_pool_free leaks it): a
 *     forgotten worker may still wake up and touch it; whatever its
 *     interpreter holds (store leases) stays held until the process ends.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "frost_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WORKERS 1024
#define START_POLL_MS 50   /* frost_pool_new_interruptible asks `interrupted` this often */

typedef struct task_s {
    int64_t id;
    char *module;               /* owned */
    char *func;                 /* owned */
    char *payload;              /* owned, `size` bytes */
    size_t size;
    struct task_s *next;
} task_t;

typedef struct result_s {
    frost_pool_result_t r;      /* r.data owned */
    struct result_s *next;
} result_t;

typedef struct {
    struct frost_pool_s *pool;  /* borrowed: the pool outlives its threads */
    pthread_t thread;           /* valid once `started` */
    bool started;               /* pthread_create succeeded */
    uint64_t seen_gen;          /* last broadcast this worker ran; guarded by lock */
    PyInterpreterState *interp; /* set before `ready`, alive while pins > 0 or in_task */
    unsigned long thread_ident; /* PyThread_get_thread_ident() of the worker thread */
    bool has_task;              /* took a task from the queue; guarded by lock */
    bool in_task;               /* running a task's Python code; guarded by lock (see top) */
    bool interrupted;           /* the current task was interrupted; guarded by lock */
    int pins;                   /* interrupters using `interp`; guarded by lock */
    bool ending;                /* committed to Py_EndInterpreter; guarded by lock */
    bool forgotten;             /* abandoned: unlinked from CPython's list; guarded by lock */
} worker_t;

struct frost_pool_s {
    unsigned fork_generation;   /* immutable: fork_generation when made (see "fork" below) */
    pthread_mutex_t lock;
    pthread_cond_t work_cv, result_cv, control_cv;
    pthread_mutex_t join_lock;  /* serialises frost_pool_join */

    int workers;                /* immutable after new */
    worker_t *worker;           /* [workers], immutable array */
    char *init_code;            /* owned; read by workers at start */

    task_t *tasks_head, *tasks_tail;        /* guarded by lock */
    result_t *results_head, *results_tail;  /* guarded by lock */
    int64_t next_id;                        /* guarded by lock */
    int running;                            /* tasks being run; guarded by lock */
    int live_workers;                       /* started and not yet ended; guarded by lock */
    int ready;                              /* workers past init (ok or not); guarded by lock */
    int creating;                           /* workers creating their interpreter now;
                                               guarded by lock; <= create_slots */
    int create_slots;                       /* immutable: creations at once (2 x CPUs) */
    bool start_stopped;                     /* frost_pool_new was interrupted: workers not
                                               yet creating never do; guarded by lock */
    char *init_error;                       /* first init failure, owned; guarded by lock */
    bool shutting_down;                     /* guarded by lock */
    bool abandoned;                         /* frost_pool_abandon ran; guarded by lock */
    bool joined;                            /* guarded by join_lock */

    /* run_all: one broadcast at a time. Guarded by lock. */
    bool bcast_active;
    uint64_t bcast_gen;
    char *bcast_code;           /* owned: a caller may stop waiting (Ctrl-C) before it ran */
    int bcast_remaining;
    char *bcast_error;          /* first failure text, owned */
};

/* ---- small helpers ------------------------------------------------------ */

static char *
copy_bytes(const void *p, size_t n)
{
    char *c = malloc(n + 1);
    if (c != NULL) {
        if (n) {
            memcpy(c, p, n);
        }
        c[n] = '\0';
    }
    return c;
}

static char *
copy_str(const char *s)
{
    return s ? copy_bytes(s, strlen(s)) : NULL;
}

static void
set_error(char **error, char *text)
{
    if (error != NULL) {
        *error = text;
    }
    else {
        free(text);
    }
}

/* When a wait gives up: never (`forever`), or at `at` on CLOCK_MONOTONIC (the
 * clock of every condition variable of a pool). */
typedef struct {
    bool forever;
    struct timespec at;
} deadline_t;

/* The deadline `seconds` from now; seconds < 0: none. */
static deadline_t
deadline_in(double seconds)
{
    deadline_t d = {.forever = seconds < 0};
    if (!d.forever) {
        clock_gettime(CLOCK_MONOTONIC, &d.at);
        double whole = (double)(time_t)seconds;
        d.at.tv_sec += (time_t)seconds;
        d.at.tv_nsec += (long)((seconds - whole) * 1e9);
        if (d.at.tv_nsec >= 1000000000L) {
            d.at.tv_sec++;
            d.at.tv_nsec -= 1000000000L;
        }
    }
    return d;
}

/* One wait on `cv` (caller holds `lock`): ETIMEDOUT once the deadline has
 * passed, else 0 (woken; the caller checks its condition again). */
static int
wait_until(pthread_cond_t *cv, pthread_mutex_t *lock, const deadline_t *d)
{
    if (d->forever) {
        pthread_cond_wait(cv, lock);
        return 0;
    }
    return pthread_cond_timedwait(cv, lock, &d->at) == ETIMEDOUT ? ETIMEDOUT : 0;
}

/* Push a result (takes ownership of data); caller holds lock. */
static void
push_result_locked(frost_pool_t *pool, result_t *res)
{
    res->next = NULL;
    if (pool->results_tail) {
        pool->results_tail->next = res;
    }
    else {
        pool->results_head = res;
    }
    pool->results_tail = res;
    pthread_cond_broadcast(&pool->result_cv);
}

static void
task_free(task_t *t)
{
    free(t->module);
    free(t->func);
    free(t->payload);
    free(t);
}

/* ---- inside a worker (its GIL held) --------------------------------------- */

/* The raised exception as traceback text (malloc'd; never NULL). Clears it. */
static char *
format_exception(void)
{
    PyObject *exc = PyErr_GetRaisedException();
    char *text = NULL;
    PyObject *tb_mod = PyImport_ImportModule("traceback");
    PyObject *lines = tb_mod ? PyObject_CallMethod(tb_mod, "format_exception", "O", exc) : NULL;
    PyObject *empty = lines ? PyUnicode_FromString("") : NULL;
    PyObject *joined = empty ? PyUnicode_Join(empty, lines) : NULL;
    Py_ssize_t n;
    const char *utf8 = joined ? PyUnicode_AsUTF8AndSize(joined, &n) : NULL;
    if (utf8 != NULL) {
        text = copy_bytes(utf8, (size_t)n);
    }
    else {
        PyErr_Clear();
        char buf[256];
        snprintf(buf, sizeof buf, "%s (the traceback could not be formatted)\n",
                 exc ? Py_TYPE(exc)->tp_name : "unknown error");
        text = copy_str(buf);
    }
    Py_XDECREF(joined);
    Py_XDECREF(empty);
    Py_XDECREF(lines);
    Py_XDECREF(tb_mod);
    Py_XDECREF(exc);
    return text ? text : copy_str("MemoryError\n");
}

/* Run `code` in this interpreter's __main__; NULL on success, else the error.
 * Not PyRun_String: in 3.12 that records a KeyboardInterrupt it lets out in
 * a process-wide flag (_Py_UnhandledKeyboardInterrupt), and the process
 * then exits by SIGINT however the main interpreter ends (a start-up
 * stopped by Ctrl-C and handled by the caller would still exit 130). */
static char *
run_code(const char *code)
{
    PyObject *main = PyImport_AddModule("__main__");   /* borrowed */
    if (main == NULL) {
        return format_exception();
    }
    PyObject *globals = PyModule_GetDict(main);
    PyObject *compiled = Py_CompileString(code, "<frost run_all>", Py_file_input);
    PyObject *r = compiled ? PyEval_EvalCode(compiled, globals, globals) : NULL;
    Py_XDECREF(compiled);
    if (r == NULL) {
        return format_exception();
    }
    Py_DECREF(r);
    return NULL;
}

/* module.func(payload) -> bytes; fills res. */
static void
run_task(const task_t *t, result_t *res)
{
    PyObject *mod = PyImport_ImportModule(t->module);
    PyObject *fn = mod ? PyObject_GetAttrString(mod, t->func) : NULL;
    PyObject *arg = fn ? PyBytes_FromStringAndSize(t->payload, (Py_ssize_t)t->size) : NULL;
    PyObject *out = arg ? PyObject_CallOneArg(fn, arg) : NULL;
    if (out != NULL && !PyBytes_Check(out)) {
        PyErr_Format(PyExc_TypeError, "%s.%s() must return bytes, not %.200s", t->module, t->func,
                     Py_TYPE(out)->tp_name);
        Py_CLEAR(out);
    }
    if (out != NULL) {
        res->r.status = FROST_TASK_OK;
        res->r.size = (size_t)PyBytes_GET_SIZE(out);
        res->r.data = copy_bytes(PyBytes_AS_STRING(out), res->r.size);
        if (res->r.data == NULL) {
            res->r.status = FROST_TASK_ERROR;
            res->r.data = copy_str("MemoryError: copying the task's result\n");
            res->r.size = res->r.data ? strlen(res->r.data) : 0;
        }
    }
    else {
        res->r.status = FROST_TASK_ERROR;
        res->r.data = format_exception();
        res->r.size = strlen(res->r.data);
    }
    Py_XDECREF(out);
    Py_XDECREF(arg);
    Py_XDECREF(fn);
    Py_XDECREF(mod);
}

/* Start running the task this worker took from the queue; called with its
 * GIL held. False if the task was interrupted before it began: then it must
 * not run. */
static bool
enter_task(worker_t *w)
{
    frost_pool_t *pool = w->pool;
    pthread_mutex_lock(&pool->lock);
    bool go = !w->interrupted;
    w->in_task = go;
    w->has_task = go;
    w->interrupted = false;
    pthread_mutex_unlock(&pool->lock);
    return go;
}

/* The task has returned; called with the worker's GIL held. Returns whether
 * it was interrupted, and drops an async exception that was set but had not
 * fired yet, so it can't land in the next task. */
static bool
leave_task(worker_t *w)
{
    frost_pool_t *pool = w->pool;
    pthread_mutex_lock(&pool->lock);
    bool interrupted = w->interrupted;
    w->in_task = w->has_task = w->interrupted = false;
    pthread_mutex_unlock(&pool->lock);
    if (interrupted) {
        (void)PyThreadState_SetAsyncExc(w->thread_ident, NULL);
    }
    return interrupted;
}

/* An interrupted task's result: FROST_TASK_INTERRUPTED, keeping the bytes
 * it returned (they may own references) and dropping a traceback text. */
static void
mark_interrupted(result_t *res)
{
    if (res->r.status != FROST_TASK_OK) {
        free(res->r.data);
        res->r.data = NULL;
        res->r.size = 0;
    }
    res->r.status = FROST_TASK_INTERRUPTED;
}

/* ---- the worker thread ---------------------------------------------------- */

/* Creating interpreters from several threads at once has races in CPython
 * (3.12; reports for later versions too): once in a 16-core benchmark run a
 * worker's creation failed with "failed to get the Python codec of the
 * filesystem encoding" (bench/RESULTS.md). Creating them one at a time
 * avoids it but costs 4x the start-up (16 workers: 247 ms instead of 67 ms),
 * so workers create in parallel (shared hold of this lock) and a failed
 * creation is retried once alone (exclusive hold: no other creation runs).
 * No thread holds a GIL or a pool's `lock` while waiting for it. */
static pthread_rwlock_t create_lock = PTHREAD_RWLOCK_INITIALIZER;

/* ---- fork ------------------------------------------------------------------- */

/* How many fork()s this process is from the one that loaded frost: a pool
 * whose fork_generation differs was started by an ancestor, and its threads,
 * queues and locks are not this process's (a lock may be held by a thread
 * that does not exist here). Such a pool is never touched again: every call
 * returns FROST_EFORKED, frost_pool_free forgets it (see frost_pool.h). */
static _Atomic unsigned fork_generation;

void frost__fork_child_forget_subinterpreters(void);   /* fork.c */

/* pthread_atfork child handler: runs inside fork(), in the child, before
 * CPython's PyOS_AfterFork_Child. Only async-signal-safe work. */
static void
pool_atfork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
    pthread_rwlock_t fresh = PTHREAD_RWLOCK_INITIALIZER;   /* a creator may have held it */
    memcpy(&create_lock, &fresh, sizeof fresh);
    frost__fork_child_forget_subinterpreters();
}

__attribute__((constructor)) static void
pool_atfork_register(void)
{
    pthread_atfork(NULL, NULL, pool_atfork_child);
}

static bool
forked(const frost_pool_t *pool)
{
    return pool->fork_generation != atomic_load(&fork_generation);
}

/* Whether the caller may wait for the pool's workers: FROST_EFORKED in a
 * forked child (they are not there), FROST_ESELF on one of them (it would wait
 * for itself), else FROST_OK. */
static int
may_wait_for_workers(const frost_pool_t *pool)
{
    if (forked(pool)) {
        return FROST_EFORKED;
    }
    return frost_pool_is_worker_thread(pool) ? FROST_ESELF : FROST_OK;
}

static PyThreadState *
create_interpreter(char **error)
{
    PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = 1,
        .allow_daemon_threads = 0,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
    };
    PyThreadState *ts = NULL;
    pthread_rwlock_rdlock(&create_lock);
    PyStatus status = Py_NewInterpreterFromConfig(&ts, &config);
    pthread_rwlock_unlock(&create_lock);
    if (PyStatus_Exception(status) || ts == NULL) {   /* a failed creation leaves nothing */
        ts = NULL;
        pthread_rwlock_wrlock(&create_lock);
        status = Py_NewInterpreterFromConfig(&ts, &config);
        pthread_rwlock_unlock(&create_lock);
    }
    if (PyStatus_Exception(status) || ts == NULL) {
        char buf[256];
        snprintf(buf, sizeof buf, "could not create a worker interpreter: %s",
                 status.err_msg ? status.err_msg : "unknown error");
        *error = copy_str(buf);
        return NULL;
    }
    return ts;
}

/* Wait for something to do. Returns with lock held; *task set, or
 * *bcast set, or neither (time to end). */
static void
next_work_locked(frost_pool_t *pool, worker_t *w, task_t **task, const char **bcast)
{
    *task = NULL;
    *bcast = NULL;
    for (;;) {
        if (w->seen_gen != pool->bcast_gen) {
            w->seen_gen = pool->bcast_gen;
            *bcast = pool->bcast_code;
            return;
        }
        if (pool->tasks_head != NULL) {
            *task = pool->tasks_head;
            pool->tasks_head = (*task)->next;
            if (pool->tasks_head == NULL) {
                pool->tasks_tail = NULL;
            }
            pool->running++;
            w->has_task = true;
            return;
        }
        if (pool->shutting_down) {
            return;
        }
        pthread_cond_wait(&pool->work_cv, &pool->lock);
    }
}

/*
 * Before Py_EndInterpreter (our GIL held): end the threads a task started and
 * left running, which Py_EndInterpreter would otherwise wait for forever
 * (threading's shutdown joins them; daemon threads are not allowed here).
 * SystemExit -- which threading lets end a thread silently -- is raised in
 * each, again every slice while any is left: a thread running Python or
 * waiting in a frost call (frost__wait_tick) ends within a slice; one blocked
 * in another C call ends when that call returns, or never: then only
 * frost_pool_abandon ends the wait. Returns true when the worker may end its
 * interpreter (`ending` is set), false once the pool is abandoned.
 */
static bool
stop_leftover_threads(worker_t *w, PyThreadState *self)
{
    frost_pool_t *pool = w->pool;
    PyInterpreterState *interp = PyThreadState_GetInterpreter(self);
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        bool abandoned = pool->abandoned;
        pthread_mutex_unlock(&pool->lock);
        if (abandoned) {
            return false;
        }
        int others = 0;
        for (PyThreadState *t = PyInterpreterState_ThreadHead(interp); t != NULL;
             t = PyThreadState_Next(t)) {
            if (t != self) {
                others++;
                (void)PyThreadState_SetAsyncExc(t->thread_id, PyExc_SystemExit);
            }
        }
        if (others == 0) {
            pthread_mutex_lock(&pool->lock);
            w->ending = !pool->abandoned;
            pthread_mutex_unlock(&pool->lock);
            return w->ending;
        }
        Py_BEGIN_ALLOW_THREADS
        struct timespec slice = {0, 20 * 1000 * 1000};
        nanosleep(&slice, NULL);
        Py_END_ALLOW_THREADS
    }
}

/* Wait for a turn to create an interpreter: true with one of the
 * create_slots taken, false if the start was stopped meanwhile (the worker
 * then ends without an interpreter). */
static bool
take_creation_slot(frost_pool_t *pool)
{
    pthread_mutex_lock(&pool->lock);
    while (pool->creating >= pool->create_slots && !pool->start_stopped) {
        pthread_cond_wait(&pool->control_cv, &pool->lock);
    }
    bool go = !pool->start_stopped;
    pool->creating += go;
    pthread_mutex_unlock(&pool->lock);
    return go;
}

/* The pool whose worker the calling thread is, NULL on any other thread: set
 * first thing in worker_main, cleared last. frost_pool_is_worker_thread asks
 * this and not pthread_equal(worker.thread, pthread_self()): a worker that
 * has ended (and been joined) leaves its pthread_t behind, and glibc hands
 * the same value to a thread started later, which would then be taken for
 * one of the pool's workers (shutdown() from it refused with FROST_ESELF,
 * frost_pool_free leaking the pool). A thread-local needs no lock and is
 * never stale: only the worker's own thread ever sees it set. */
static _Thread_local const frost_pool_t *current_pool;

static void *
worker_main(void *arg)
{
    worker_t *w = arg;
    frost_pool_t *pool = w->pool;
    current_pool = pool;
    char *error = NULL;
    PyThreadState *ts = NULL;
    bool creating = take_creation_slot(pool);
    if (creating) {
        ts = create_interpreter(&error);
    }
    if (ts != NULL) {
        w->interp = PyThreadState_GetInterpreter(ts);
        w->thread_ident = PyThread_get_thread_ident();
    }
    if (ts != NULL && pool->init_code != NULL) {
        error = run_code(pool->init_code);
    }

    pthread_mutex_lock(&pool->lock);
    pool->creating -= creating;
    pool->ready++;
    if (error != NULL && pool->init_error == NULL) {
        pool->init_error = error;
        error = NULL;
    }
    pthread_cond_broadcast(&pool->control_cv);
    bool failed = pool->init_error != NULL;
    pthread_mutex_unlock(&pool->lock);
    free(error);

    if (ts != NULL && !failed) {
        PyThreadState *saved = PyEval_SaveThread();   /* our GIL is free while we wait */
        pthread_mutex_lock(&pool->lock);
        for (;;) {
            task_t *task;
            const char *bcast;
            next_work_locked(pool, w, &task, &bcast);
            if (task == NULL && bcast == NULL) {
                break;
            }
            pthread_mutex_unlock(&pool->lock);
            PyEval_RestoreThread(saved);
            if (bcast != NULL) {   /* interruptible like a task (frost_pool_interrupt) */
                pthread_mutex_lock(&pool->lock);
                w->in_task = true;
                pthread_mutex_unlock(&pool->lock);
                char *err = run_code(bcast);
                (void)leave_task(w);
                saved = PyEval_SaveThread();
                pthread_mutex_lock(&pool->lock);
                if (err != NULL && pool->bcast_error == NULL) {
                    pool->bcast_error = err;
                    err = NULL;
                }
                free(err);
                pool->bcast_remaining--;
                pthread_cond_broadcast(&pool->control_cv);
                continue;
            }
            result_t *res = calloc(1, sizeof(*res));
            if (res == NULL) {
                (void)leave_task(w);   /* dropped: nothing to report it with */
            }
            else if (enter_task(w)) {
                res->r.id = task->id;
                run_task(task, res);
                if (leave_task(w)) {
                    mark_interrupted(res);
                }
            }
            else {   /* interrupted before it began: given back like a cancelled one */
                res->r = (frost_pool_result_t){.id = task->id, .status = FROST_TASK_CANCELLED,
                                               .data = task->payload, .size = task->size};
                task->payload = NULL;
            }
            saved = PyEval_SaveThread();
            task_free(task);
            pthread_mutex_lock(&pool->lock);
            pool->running--;
            if (res != NULL) {
                push_result_locked(pool, res);
            }
        }
        while (w->pins > 0) {   /* an interrupter still holds a thread state here */
            pthread_cond_wait(&pool->control_cv, &pool->lock);
        }
        pthread_mutex_unlock(&pool->lock);
        PyEval_RestoreThread(saved);
    }
    if (ts != NULL) {
        if (stop_leftover_threads(w, ts)) {
            Py_EndInterpreter(ts);
        }
        else {   /* abandoned: the interpreter is left as it is, forever */
            (void)PyEval_SaveThread();
        }
    }
    pthread_mutex_lock(&pool->lock);
    pool->live_workers--;
    pthread_cond_broadcast(&pool->result_cv);
    pthread_cond_broadcast(&pool->control_cv);
    pthread_mutex_unlock(&pool->lock);
    current_pool = NULL;
    return NULL;
}

/* ---- the public API -------------------------------------------------------- */

static int
init_sync(frost_pool_t *pool)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) {
        return -1;
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&pool->lock, NULL) | pthread_mutex_init(&pool->join_lock, NULL)
             | pthread_cond_init(&pool->work_cv, &attr) | pthread_cond_init(&pool->result_cv, &attr)
             | pthread_cond_init(&pool->control_cv, &attr);
    pthread_condattr_destroy(&attr);
    return rc ? -1 : 0;
}

static void
release_memory(frost_pool_t *pool)
{
    for (task_t *t = pool->tasks_head, *next; t != NULL; t = next) {
        next = t->next;
        task_free(t);
    }
    for (result_t *r = pool->results_head, *next; r != NULL; r = next) {
        next = r->next;
        free(r->r.data);
        free(r);
    }
    pthread_mutex_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->join_lock);
    pthread_cond_destroy(&pool->work_cv);
    pthread_cond_destroy(&pool->result_cv);
    pthread_cond_destroy(&pool->control_cv);
    free(pool->init_error);
    free(pool->bcast_error);
    free(pool->bcast_code);
    free(pool->init_code);
    free(pool->worker);
    free(pool);
}

/* The CPUs this process may run on (its affinity mask), at least 1. */
static int
cpus_allowed(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
        return CPU_COUNT(&set);
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n < MAX_WORKERS ? n : MAX_WORKERS) : 1;
}

int
frost_pool_new(frost_pool_t **out, int workers, const char *init_code, char **error)
{
    return frost_pool_new_interruptible(out, workers, init_code, error, NULL, NULL);
}

int
frost_pool_new_interruptible(frost_pool_t **out, int workers, const char *init_code,
                             char **error, frost_pool_interrupted_fn interrupted, void *ctx)
{
    *out = NULL;
    set_error(error, NULL);
    if (workers < 1 || workers > MAX_WORKERS || !Py_IsInitialized()) {
        return FROST_EINVAL;
    }
    frost_pool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        return FROST_ENOMEM;
    }
    pool->worker = calloc((size_t)workers, sizeof(worker_t));
    pool->init_code = copy_str(init_code);
    if (pool->worker == NULL || (init_code != NULL && pool->init_code == NULL)
        || init_sync(pool) != 0) {
        free(pool->worker);
        free(pool->init_code);
        free(pool);
        return FROST_ENOMEM;
    }
    pool->workers = workers;
    pool->next_id = 1;
    pool->fork_generation = atomic_load(&fork_generation);
    pool->create_slots = 2 * cpus_allowed();

    int started = 0;
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < workers; i++) {
        worker_t *w = &pool->worker[i];
        w->pool = pool;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            break;
        }
        w->started = true;
        pool->live_workers++;
        started++;
    }
    deadline_t ask = deadline_in(START_POLL_MS / 1000.0);   /* the next question */
    while (pool->ready < started) {
        if (interrupted == NULL || pool->start_stopped) {
            pthread_cond_wait(&pool->control_cv, &pool->lock);
            continue;
        }
        if (wait_until(&pool->control_cv, &pool->lock, &ask) == ETIMEDOUT) {
            ask = deadline_in(START_POLL_MS / 1000.0);
            pthread_mutex_unlock(&pool->lock);   /* (the caller may take its GIL) */
            int stop = interrupted(ctx);
            pthread_mutex_lock(&pool->lock);
            if (stop) {
                pool->start_stopped = true;
                pthread_cond_broadcast(&pool->control_cv);   /* workers waiting for a slot */
            }
        }
    }
    char *init_error = pool->init_error;
    pool->init_error = NULL;
    bool stopped = pool->start_stopped;
    pthread_mutex_unlock(&pool->lock);

    if (started < workers || init_error != NULL || stopped) {
        frost_pool_shutdown(pool, true);
        (void)frost_pool_join(pool);
        release_memory(pool);
        if (stopped) {
            free(init_error);
            return FROST_EINTR;
        }
        if (init_error != NULL) {
            set_error(error, init_error);
            return FROST_EPYTHON;
        }
        return FROST_ENOMEM;   /* could not start a thread */
    }
    *out = pool;
    return FROST_OK;
}

int
frost_pool_workers(const frost_pool_t *pool)
{
    return pool->workers;
}

int
frost_pool_run_all_begin(frost_pool_t *pool, const char *code)
{
    if (code == NULL) {
        return FROST_EINVAL;
    }
    int refused = may_wait_for_workers(pool);
    if (refused != FROST_OK) {
        return refused;
    }
    char *copy = copy_str(code);
    if (copy == NULL) {
        return FROST_ENOMEM;
    }
    pthread_mutex_lock(&pool->lock);
    while (pool->bcast_active && !pool->shutting_down) {   /* the last one's waiter is done */
        pthread_cond_wait(&pool->control_cv, &pool->lock);
    }
    if (pool->shutting_down) {
        pthread_mutex_unlock(&pool->lock);
        free(copy);
        return FROST_ESHUTDOWN;
    }
    pool->bcast_active = true;
    pool->bcast_code = copy;
    pool->bcast_remaining = pool->live_workers;
    pool->bcast_gen++;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);
    return FROST_OK;
}

int
frost_pool_run_all_wait(frost_pool_t *pool, double timeout, char **error)
{
    set_error(error, NULL);
    if (forked(pool)) {
        return FROST_EFORKED;
    }
    deadline_t deadline = deadline_in(timeout);
    pthread_mutex_lock(&pool->lock);
    if (!pool->bcast_active) {
        pthread_mutex_unlock(&pool->lock);
        return FROST_EINVAL;   /* no broadcast to wait for */
    }
    while (pool->bcast_remaining > 0) {
        if (wait_until(&pool->control_cv, &pool->lock, &deadline) == ETIMEDOUT
            && pool->bcast_remaining > 0) {
            pthread_mutex_unlock(&pool->lock);
            return FROST_ETIMEOUT;
        }
    }
    char *failure = pool->bcast_error;
    pool->bcast_error = NULL;
    free(pool->bcast_code);
    pool->bcast_code = NULL;
    pool->bcast_active = false;
    pthread_cond_broadcast(&pool->control_cv);
    pthread_mutex_unlock(&pool->lock);
    if (failure != NULL) {
        set_error(error, failure);
        return FROST_EPYTHON;
    }
    return FROST_OK;
}

int
frost_pool_run_all(frost_pool_t *pool, const char *code, char **error)
{
    set_error(error, NULL);
    int rc = frost_pool_run_all_begin(pool, code);
    return rc != FROST_OK ? rc : frost_pool_run_all_wait(pool, -1, error);
}

static bool
is_identifier(const char *name)
{
    if (name == NULL || *name == '\0') {
        return false;
    }
    for (const char *c = name; *c; c++) {
        if (!(*c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (c != name && *c >= '0' && *c <= '9'))) {
            return false;
        }
    }
    return true;
}

int
frost_pool_attach(frost_pool_t *pool, const char *name, PyObject *shared, char **error)
{
    set_error(error, NULL);
    if (!is_identifier(name) || shared == NULL) {   /* an identifier can't inject code */
        return FROST_EINVAL;
    }
    if (forked(pool)) {
        return FROST_EFORKED;
    }
    /* (rebuild, (store id, node, token[, slice])): plain ints, so its repr
     * is a safe literal; `shared` keeps the store alive while workers attach. */
    PyObject *reduced = PyObject_CallMethod(shared, "__reduce__", NULL);
    PyObject *args = NULL, *repr = NULL;
    if (reduced == NULL) {
        PyErr_Clear();   /* replaced by the TypeError below */
    }
    if (reduced != NULL && PyTuple_Check(reduced) && PyTuple_GET_SIZE(reduced) == 2
        && PyTuple_Check(PyTuple_GET_ITEM(reduced, 1))) {
        PyObject *rebuild = PyTuple_GET_ITEM(reduced, 0);
        PyObject *qualname = PyObject_GetAttrString(rebuild, "__name__");
        if (qualname != NULL && PyUnicode_Check(qualname)
            && PyUnicode_CompareWithASCIIString(qualname, "_rebuild") == 0) {
            args = PyTuple_GET_ITEM(reduced, 1);
        }
        Py_XDECREF(qualname);
    }
    if (args == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "frost_pool_attach: not a frost Store or view: '%.200s'",
                         Py_TYPE(shared)->tp_name);
        }
        Py_XDECREF(reduced);
        set_error(error, format_exception());
        return FROST_EPYTHON;
    }
    repr = PyObject_Repr(args);
    const char *literal = repr ? PyUnicode_AsUTF8(repr) : NULL;
    size_t size = strlen(name) + (literal ? strlen(literal) : 0) + 128;
    char *code = literal ? malloc(size) : NULL;
    if (code == NULL) {
        PyErr_Clear();
        Py_XDECREF(repr);
        Py_DECREF(reduced);
        return FROST_ENOMEM;
    }
    snprintf(code, size,
             "import frost._frost as _frost_ext\n%s = _frost_ext._rebuild%s\ndel _frost_ext\n",
             name, literal);
    Py_DECREF(repr);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = frost_pool_run_all(pool, code, error);
    Py_END_ALLOW_THREADS
    free(code);
    Py_DECREF(reduced);
    return rc;
}

int64_t
frost_pool_submit(frost_pool_t *pool, const char *module, const char *func, const void *payload,
                  size_t size)
{
    if (module == NULL || func == NULL || (payload == NULL && size != 0)) {
        return FROST_EINVAL;
    }
    if (forked(pool)) {
        return FROST_EFORKED;
    }
    task_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return FROST_ENOMEM;
    }
    t->module = copy_str(module);
    t->func = copy_str(func);
    t->payload = copy_bytes(payload, size);
    t->size = size;
    if (t->module == NULL || t->func == NULL || t->payload == NULL) {
        task_free(t);
        return FROST_ENOMEM;
    }
    pthread_mutex_lock(&pool->lock);
    if (pool->shutting_down) {
        pthread_mutex_unlock(&pool->lock);
        task_free(t);
        return FROST_ESHUTDOWN;
    }
    t->id = pool->next_id++;
    if (pool->tasks_tail) {
        pool->tasks_tail->next = t;
    }
    else {
        pool->tasks_head = t;
    }
    pool->tasks_tail = t;
    int64_t id = t->id;
    pthread_cond_signal(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);
    return id;
}

int
frost_pool_cancel(frost_pool_t *pool, int64_t id, char **payload, size_t *size)
{
    int rc = FROST_EBUSY;
    pthread_mutex_lock(&pool->lock);
    task_t *prev = NULL, *t = pool->tasks_head;
    while (t != NULL && t->id != id) {
        prev = t;
        t = t->next;
    }
    if (t != NULL) {
        rc = FROST_OK;
        if (payload != NULL) {
            if (prev != NULL) {
                prev->next = t->next;
            }
            else {
                pool->tasks_head = t->next;
            }
            if (pool->tasks_tail == t) {
                pool->tasks_tail = prev;
            }
            *payload = t->payload;
            *size = t->size;
            t->payload = NULL;
            task_free(t);
            pthread_cond_broadcast(&pool->result_cv);   /* drained may now hold */
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

int
frost_pool_next_result(frost_pool_t *pool, double timeout, frost_pool_result_t *out)
{
    memset(out, 0, sizeof(*out));
    if (forked(pool)) {
        return FROST_EFORKED;
    }
    deadline_t deadline = deadline_in(timeout);
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->results_head != NULL) {
            result_t *res = pool->results_head;
            pool->results_head = res->next;
            if (pool->results_head == NULL) {
                pool->results_tail = NULL;
            }
            pthread_mutex_unlock(&pool->lock);
            *out = res->r;
            free(res);
            return FROST_OK;
        }
        if (pool->shutting_down && pool->tasks_head == NULL
            && (pool->running == 0 || pool->abandoned)) {   /* abandoned tasks never report */
            pthread_mutex_unlock(&pool->lock);
            return FROST_EDRAINED;
        }
        if (wait_until(&pool->result_cv, &pool->lock, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            return FROST_ETIMEOUT;
        }
    }
}

void
frost_pool_result_clear(frost_pool_result_t *result)
{
    if (result != NULL) {
        free(result->data);
        result->data = NULL;
        result->size = 0;
    }
}

void
frost_pool_shutdown(frost_pool_t *pool, bool cancel_pending)
{
    if (forked(pool)) {
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->shutting_down = true;
    if (cancel_pending) {
        for (task_t *t = pool->tasks_head, *next; t != NULL; t = next) {
            next = t->next;
            result_t *res = calloc(1, sizeof(*res));
            if (res != NULL) {   /* the payload goes back: it may own references */
                res->r = (frost_pool_result_t){.id = t->id, .status = FROST_TASK_CANCELLED,
                                               .data = t->payload, .size = t->size};
                t->payload = NULL;
                push_result_locked(pool, res);
            }
            task_free(t);
        }
        pool->tasks_head = pool->tasks_tail = NULL;
    }
    pthread_cond_broadcast(&pool->work_cv);
    pthread_cond_broadcast(&pool->result_cv);
    pthread_cond_broadcast(&pool->control_cv);
    pthread_mutex_unlock(&pool->lock);
}

/* Raise KeyboardInterrupt in worker w's running task, if it still runs.
 * Called without any GIL; returns whether it was raised. */
static bool
interrupt_worker(worker_t *w)
{
    frost_pool_t *pool = w->pool;
    bool raised = false;
    PyThreadState *ts = PyThreadState_New(w->interp);
    if (ts != NULL) {
        PyEval_RestoreThread(ts);   /* the worker's GIL: its task is between bytecodes */
        pthread_mutex_lock(&pool->lock);
        bool running = w->in_task;
        if (running) {
            w->interrupted = true;
        }
        pthread_mutex_unlock(&pool->lock);
        /* Outside `lock` (CPython takes its own locks here), still inside the
         * worker's GIL: in_task cannot change before the exception is set. */
        if (running) {
            raised = PyThreadState_SetAsyncExc(w->thread_ident, PyExc_KeyboardInterrupt) == 1;
        }
        PyThreadState_Clear(ts);
        PyThreadState_DeleteCurrent();
    }
    pthread_mutex_lock(&pool->lock);
    w->pins--;
    pthread_cond_broadcast(&pool->control_cv);
    pthread_mutex_unlock(&pool->lock);
    return raised;
}

int
frost_pool_interrupt(frost_pool_t *pool)
{
    if (forked(pool)) {
        return FROST_EFORKED;
    }
    pthread_mutex_lock(&pool->lock);
    bool abandoned = pool->abandoned;
    pthread_mutex_unlock(&pool->lock);
    if (abandoned) {
        return 0;   /* its interpreters are not CPython's any more */
    }
    if (frost_pool_is_worker_thread(pool)) {
        return FROST_ESELF;
    }
    bool *busy = calloc((size_t)pool->workers, sizeof(bool));
    if (busy == NULL) {
        return FROST_ENOMEM;
    }
    int stopped = 0;
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < pool->workers; i++) {
        worker_t *w = &pool->worker[i];
        if (w->in_task) {   /* again if it was already: it may have caught the first */
            busy[i] = true;
            w->pins++;
        }
        else if (w->has_task && !w->interrupted) {   /* taken but not begun: it will not begin */
            w->interrupted = true;
            stopped++;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->workers; i++) {
        if (busy[i]) {
            stopped += interrupt_worker(&pool->worker[i]);
        }
    }
    free(busy);
    return stopped;
}

int
frost_pool_wait_ended(frost_pool_t *pool, double timeout)
{
    int refused = may_wait_for_workers(pool);
    if (refused != FROST_OK) {
        return refused;
    }
    deadline_t deadline = deadline_in(timeout < 0 ? 0 : timeout);
    int rc = FROST_OK;
    pthread_mutex_lock(&pool->lock);
    while (pool->live_workers > 0 && !pool->abandoned) {
        if (wait_until(&pool->control_cv, &pool->lock, &deadline) == ETIMEDOUT) {
            rc = pool->live_workers > 0 && !pool->abandoned ? FROST_ETIMEOUT : FROST_OK;
            break;
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void frost__forget_interpreter(PyInterpreterState *interp);   /* fork.c */

int
frost_pool_abandon(frost_pool_t *pool)
{
    int refused = may_wait_for_workers(pool);
    if (refused != FROST_OK) {
        return refused;
    }
    frost_pool_shutdown(pool, true);
    PyInterpreterState **forget = calloc((size_t)pool->workers, sizeof(*forget));
    if (forget == NULL) {
        return FROST_ENOMEM;
    }
    int n = 0;
    pthread_mutex_lock(&pool->lock);
    if (!pool->abandoned) {
        pool->abandoned = true;
        for (int i = 0; i < pool->workers; i++) {
            worker_t *w = &pool->worker[i];
            /* A worker that has not passed `ending` never will now. One that
             * has ended, or is ending, its interpreter is left to finish. */
            if (w->started && w->interp != NULL && !w->ending) {
                w->forgotten = true;
                forget[n++] = w->interp;
                pthread_detach(w->thread);   /* never joined: its end frees it */
            }
        }
    }
    pthread_cond_broadcast(&pool->result_cv);
    pthread_cond_broadcast(&pool->control_cv);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < n; i++) {   /* CPython's list lock: outside ours */
        frost__forget_interpreter(forget[i]);
    }
    free(forget);
    /* Nobody joins an abandoned pool (it is never freed): detach the workers
     * that are ending normally too, unless a join is under way (it has them). */
    if (pthread_mutex_trylock(&pool->join_lock) == 0) {
        if (!pool->joined) {
            for (int i = 0; i < pool->workers; i++) {
                worker_t *w = &pool->worker[i];
                pthread_mutex_lock(&pool->lock);
                bool forgotten = w->forgotten;
                pthread_mutex_unlock(&pool->lock);
                if (w->started && !forgotten) {
                    pthread_detach(w->thread);
                }
            }
            pool->joined = true;
        }
        pthread_mutex_unlock(&pool->join_lock);
    }
    return n;
}

bool
frost_pool_is_worker_thread(const frost_pool_t *pool)
{
    if (forked(pool)) {
        return false;
    }
    return pool != NULL && current_pool == pool;   /* see current_pool */
}

int
frost_pool_join(frost_pool_t *pool)
{
    int refused = may_wait_for_workers(pool);
    if (refused != FROST_OK) {
        return refused;
    }
    pthread_mutex_lock(&pool->join_lock);
    if (!pool->joined) {
        for (int i = 0; i < pool->workers; i++) {
            worker_t *w = &pool->worker[i];
            pthread_mutex_lock(&pool->lock);
            bool forgotten = w->forgotten;
            pthread_mutex_unlock(&pool->lock);
            if (w->started && !forgotten) {   /* a forgotten one may never return */
                pthread_join(w->thread, NULL);
            }
        }
        pool->joined = true;
    }
    pthread_mutex_unlock(&pool->join_lock);
    return FROST_OK;
}

void
frost_pool_free(frost_pool_t *pool)
{
    if (pool == NULL || forked(pool)) {
        return;   /* a parent's pool: its threads are not here, its locks may be held */
    }
    pthread_mutex_lock(&pool->lock);
    bool abandoned = pool->abandoned;
    pthread_mutex_unlock(&pool->lock);
    if (abandoned) {
        return;   /* its forgotten workers may still wake up and read it */
    }
    frost_pool_shutdown(pool, true);
    (void)frost_pool_interrupt(pool);
    if (frost_pool_join(pool) != FROST_OK) {
        return;   /* from one of its own workers: leak rather than deadlock */
    }
    release_memory(pool);
}

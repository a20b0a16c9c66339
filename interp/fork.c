/*
 * fork.c -- what a fork() leaves of the pool's worker interpreters in the
 * child: nothing that CPython will try to clean up.
 *
 * The problem (CPython 3.12 and 3.13): after fork(), PyOS_AfterFork_Child
 * calls _PyInterpreterState_DeleteExceptMain, which clears every other
 * interpreter with no thread state of it current. Clearing runs deallocators
 * (its first list dealloc calls PyThreadState_Get), so a process that forks
 * while any subinterpreter exists dies with "Fatal Python error:
 * PyThreadState_Get" (3.13) or hangs (3.12). The threads that ran those
 * interpreters do not exist in the child anyway, so their state may be
 * half-updated and is unusable.
 *
 * The fix: a pthread_atfork child handler (interp/pool.c registers it; it
 * runs inside fork(), before PyOS_AfterFork_Child) unlinks every interpreter
 * but the main one from the runtime's list. CPython then neither clears them
 * after the fork nor ends them at exit; their memory stays in the child,
 * unreachable (a leak of the child only), and the objects the main
 * interpreter owns -- its frost stores and views included -- are untouched.
 *
 * The same unlinking, one interpreter at a time and under the list's lock,
 * abandons a worker stuck in a foreign C call at interpreter exit
 * (frost__forget_interpreter; see frost_pool_abandon in interp/pool.c):
 * 3.13's Py_Finalize ends every subinterpreter still listed, and 3.12's
 * Py_EndInterpreter of a listed one would wait for the stuck thread.
 *
 * This is the only file that reads CPython's internal structures (the
 * runtime's interpreter list); it compiles against the internal headers of
 * the CPython it is built for (3.12 and 3.13 have the same fields here).
 * The fork handler does only async-signal-safe work: plain stores, no
 * locks, no allocation.
 */
#include <patchlevel.h>   /* PY_VERSION_HEX, before Python.h decides what it exposes */
#define FROST_KNOWN_INTERPRETER_LIST (PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000)
#if FROST_KNOWN_INTERPRETER_LIST
#define Py_BUILD_CORE 1
#endif
#include <Python.h>

void frost__fork_child_forget_subinterpreters(void);
void frost__forget_interpreter(PyInterpreterState *interp);

#if !FROST_KNOWN_INTERPRETER_LIST
/* A CPython whose interpreter list frost has not checked (3.14+: untested):
 * nothing is unlinked, so a fork while a pool runs and abandoning stuck
 * workers at exit behave as CPython itself does there. */
void frost__fork_child_forget_subinterpreters(void) {}
void frost__forget_interpreter(PyInterpreterState *interp) { (void)interp; }
#else
#include "internal/pycore_interp.h"
#include "internal/pycore_runtime.h"

void
frost__fork_child_forget_subinterpreters(void)
{
    PyInterpreterState *main = _PyRuntime.interpreters.main;
    if (main == NULL) {
        return;   /* Python not initialised: nothing to forget */
    }
    _PyRuntime.interpreters.head = main;
    main->next = NULL;
}

/* Unlink one (non-main) interpreter from the runtime's list, under the
 * list's lock: CPython will neither end it at finalization nor find it
 * again. Its memory and threads are left as they are. */
void
frost__forget_interpreter(PyInterpreterState *interp)
{
    struct pyinterpreters *list = &_PyRuntime.interpreters;
    if (interp == NULL || interp == list->main) {
        return;
    }
#if PY_VERSION_HEX >= 0x030D0000
    PyMutex_Lock(&list->mutex);   /* public in 3.13; CPython's HEAD_LOCK */
#else
    PyThread_acquire_lock(list->mutex, WAIT_LOCK);
#endif
    for (PyInterpreterState **p = &list->head; *p != NULL; p = &(*p)->next) {
        if (*p == interp) {
            *p = interp->next;
            interp->next = NULL;
            break;
        }
    }
#if PY_VERSION_HEX >= 0x030D0000
    PyMutex_Unlock(&list->mutex);
#else
    PyThread_release_lock(list->mutex);
#endif
}
#endif   /* CPython 3.12 / 3.13 */

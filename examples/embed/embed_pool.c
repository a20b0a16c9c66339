/*
 * examples/embed/embed_pool.c -- embed CPython, freeze a dict with frost,
 * attach it to a pool of own-GIL subinterpreters and sum it in parallel
 * through the C API (<frost/frost_pool.h>). Exit status 0 when the sum the
 * workers computed is right.
 *
 *   PYTHONPATH=<frost's python package> embed_pool [DIR-OF-embed_tasks.py]
 *
 * The GIL rule of the API: the pool functions are called with no GIL held,
 * except frost_pool_attach, which needs the GIL of the interpreter that owns
 * the store (here: the main one).
 */
#include <Python.h>

#include <frost/frost_pool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ENTRIES = 100000, WORKERS = 4, TASKS = 8 };

static int
fail(const char *what, int rc, char *error)
{
    fprintf(stderr, "embed_pool: %s failed (%d)%s%s\n", what, rc, error ? ": " : "",
            error ? error : "");
    free(error);
    return 1;
}

int
main(int argc, char **argv)
{
    const char *tasks_dir = argc > 1 ? argv[1] : ".";
    Py_Initialize();

    /* With the main GIL: freeze the data (any Python code can build it). */
    char code[256];
    snprintf(code, sizeof code,
             "import frost\nstore = frost.freeze({f'k{i}': i for i in range(%d)})\n", ENTRIES);
    PyObject *globals = PyDict_New();
    PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins());
    PyObject *ok = PyRun_String(code, Py_file_input, globals, globals);
    if (ok == NULL) {
        PyErr_Print();
        return 1;
    }
    Py_DECREF(ok);
    PyObject *store = Py_NewRef(PyDict_GetItemString(globals, "store"));

    /* Release the main GIL: the pool's functions must not be called holding it. */
    PyThreadState *main_state = PyEval_SaveThread();
    frost_pool_t *pool;
    char *error = NULL;
    char init[4096];
    snprintf(init, sizeof init, "import sys\nsys.path.insert(0, %s%s%s)\n", "r'", tasks_dir, "'");
    int rc = frost_pool_new(&pool, WORKERS, init, &error);
    if (rc != FROST_OK) {
        return fail("frost_pool_new", rc, error);
    }

    /* frost_pool_attach reads `store`: it needs the main interpreter's GIL. */
    PyEval_RestoreThread(main_state);
    rc = frost_pool_attach(pool, "data", store, &error);
    main_state = PyEval_SaveThread();
    if (rc != FROST_OK) {
        frost_pool_free(pool);
        return fail("frost_pool_attach", rc, error);
    }

    /* Work: TASKS slices of the keys, each summed by some worker. */
    for (int t = 0; t < TASKS; t++) {
        char payload[64];
        int n = snprintf(payload, sizeof payload, "%d %d", t * ENTRIES / TASKS,
                         (t + 1) * ENTRIES / TASKS);
        int64_t id = frost_pool_submit(pool, "embed_tasks", "total", payload, (size_t)n);
        if (id < 0) {
            frost_pool_free(pool);
            return fail("frost_pool_submit", (int)id, NULL);
        }
    }
    frost_pool_shutdown(pool, false);   /* no more work; the queued tasks still run */

    /* Collect every result until the pool is drained. */
    long long sum = 0;
    int results = 0, errors = 0;
    frost_pool_result_t r;
    while ((rc = frost_pool_next_result(pool, 60.0, &r)) == FROST_OK) {
        if (r.status == FROST_TASK_OK) {
            char text[64] = {0};
            memcpy(text, r.data, r.size < sizeof text - 1 ? r.size : sizeof text - 1);
            sum += atoll(text);
        }
        else {
            fprintf(stderr, "embed_pool: task %lld: status %d: %.*s\n", (long long)r.id,
                    (int)r.status, (int)r.size, r.data);
            errors++;
        }
        results++;
        frost_pool_result_clear(&r);
    }
    frost_pool_free(pool);   /* joins the workers: each ends its interpreter */

    PyEval_RestoreThread(main_state);
    PyObject *closed = PyObject_CallMethod(store, "close", NULL);
    Py_XDECREF(closed);
    Py_DECREF(store);
    Py_DECREF(globals);
    if (Py_FinalizeEx() < 0) {
        return 1;
    }

    long long want = (long long)ENTRIES * (ENTRIES - 1) / 2;
    printf("embed_pool: %d workers, %d tasks, sum %lld (expected %lld)\n", WORKERS, results, sum,
           want);
    if (rc != FROST_EDRAINED || results != TASKS || errors != 0 || sum != want) {
        fprintf(stderr, "embed_pool: FAILED (last status %d)\n", rc);
        return 1;
    }
    return 0;
}

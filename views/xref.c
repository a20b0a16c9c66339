/*
 * xref.c -- the cross-interpreter reference: the one way a frost Store, view
 * or Channel is named outside the interpreter that holds it. Every path that
 * moves one between interpreters goes through here: pickling (__reduce__ and
 * _rebuild / _channel_attach), frost._transport (the pool's tasks and
 * results, Channel messages) and cross-interpreter data (xidata.c).
 *
 * Three things live here:
 *
 * 1. frost_xref_t, a reference as plain data: (kind, id, node, token, slice).
 *    It is decoded in one place (xref_decode: every field range-checked,
 *    without overflow) and turned into an object in one place (resolve: the
 *    node must belong to the store -- the token, a keyed hash -- and a slice
 *    must lie inside its list). A plain pickle carries one and owns nothing:
 *    it is valid while the store (channel) lives.
 *
 * 2. Sent references ("tickets"): a process-wide table of references in
 *    flight, each holding ONE count on its store or channel. _export makes
 *    one; _import gives the receiving interpreter its own object (taking a
 *    count of its own, so importing never releases and may happen any number
 *    of times); _discard removes the entry and releases its count -- the only
 *    place a sent reference is released. A ticket is (entry id, token): never
 *    reused, unforgeable, and a second _discard finds nothing, so no call
 *    order, repeated or forged, can release a count twice.
 *
 * 3. Messages (frost._transport: _dumps, _loads): the pickle, then the tickets
 *    it refers to (section 3). The by-reference types' reducers reduce to a
 *    ticket of the message being made on their thread, as
 *    _ticket_ref(index, ticket id); elsewhere they pickle a plain reference.
 *    Whoever ends a message's life releases its tickets: the receiver after
 *    loading it (loaded or failed half way alike), the sender's dumps when it
 *    fails half way, or the sender's side when it is never delivered (a
 *    cancelled task, a channel freed with messages queued).
 *
 *    A ticket may also carry a file descriptor (_export_fd: a dup that the
 *    tickets in flight of one file share, closed when the last is released,
 *    so a process never runs out of fds however many messages carry one
 *    store): a mapped image (format 2,
 *    python/frost/_mapped.py) crosses as its memfd's fd, so the image lives
 *    until the message is received or discarded, whoever held it before;
 *    _import_fd gives the receiver a dup of its own.
 *
 * Channels that hold references to themselves (a channel sent on itself, or
 * two sent on each other) would keep each other alive forever; a ticket
 * queued in a channel is "parked" there, each channel keeps the tickets to it
 * and those parked in it, and when a channel loses its last handle the
 * channels reachable only through parked tickets of such channels are drained
 * (collect_channels).
 *
 * Locking: `lock` guards the ticket table and is the innermost lock: it is
 * taken under a channel's lock (parking) and nothing is locked under it; no
 * Python runs and no GIL is waited for while holding it.
 */
#include "views.h"
#include "frost_internal.h"   // frost__mix64, frost__new_secret

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. a reference as plain data ----------------------------------------- */

typedef enum { XREF_STORE, XREF_CHANNEL } xref_kind_t;

typedef struct {
    xref_kind_t kind;
    uint64_t id;                 /* store or channel id */
    uintptr_t node;              /* store: 0 = the Store, else a frost_ref_t node of it */
    uint64_t token;              /* keyed hash proving (id, node) came from that object */
    int has_slice;               /* a list view's (start, step, len) */
    Py_ssize_t start, step, len;
    int has_sub;                 /* a sub-Array: (dims consumed, flat index over them) */
    Py_ssize_t sub_dims, sub_index;
} frost_xref_t;

static int
invalid(const char *why)
{
    PyErr_Format(PyExc_ValueError, "invalid frost reference: %s (corrupted or forged data)", why);
    return -1;
}

/* An int in [0, 2**64) into *out; ValueError otherwise. */
static int
get_u64(PyObject *obj, uint64_t *out, const char *what)
{
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "invalid frost reference: %s must be an int, not %.200s",
                     what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return invalid(what);
    }
    *out = (uint64_t)v;
    return 0;
}

static int
get_ssize(PyObject *obj, Py_ssize_t *out, const char *what)
{
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "invalid frost reference: %s must be an int, not %.200s",
                     what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    *out = PyLong_AsSsize_t(obj);
    if (*out == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return invalid(what);
    }
    return 0;
}

/* (id, node, token[, (start, step, len) | (dims, index)]) of _rebuild into *x:
 * a list view's slice, or a sub-Array (its first `dims` indices, flattened). */
static int
xref_decode_store(PyObject *args, frost_xref_t *x)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n != 3 && n != 4) {
        PyErr_Format(PyExc_TypeError, "_rebuild() takes 3 or 4 arguments (%zd given)", n);
        return -1;
    }
    *x = (frost_xref_t){.kind = XREF_STORE};
    uint64_t node;
    if (get_u64(PyTuple_GET_ITEM(args, 0), &x->id, "store id") < 0
        || get_u64(PyTuple_GET_ITEM(args, 1), &node, "node") < 0
        || get_u64(PyTuple_GET_ITEM(args, 2), &x->token, "token") < 0) {
        return -1;
    }
    if ((uint64_t)(uintptr_t)node != node) {
        return invalid("node");
    }
    x->node = (uintptr_t)node;
    if (n == 4) {
        PyObject *slice = PyTuple_GET_ITEM(args, 3);
        if (PyTuple_Check(slice) && PyTuple_GET_SIZE(slice) == 2) {
            x->has_sub = 1;
            return get_ssize(PyTuple_GET_ITEM(slice, 0), &x->sub_dims, "sub-array dims") < 0
                   || get_ssize(PyTuple_GET_ITEM(slice, 1), &x->sub_index, "sub-array index") < 0
                       ? -1 : 0;
        }
        if (!PyTuple_Check(slice) || PyTuple_GET_SIZE(slice) != 3) {
            return invalid("slice must be a (start, step, len) or (dims, index) tuple");
        }
        x->has_slice = 1;
        if (get_ssize(PyTuple_GET_ITEM(slice, 0), &x->start, "slice start") < 0
            || get_ssize(PyTuple_GET_ITEM(slice, 1), &x->step, "slice step") < 0
            || get_ssize(PyTuple_GET_ITEM(slice, 2), &x->len, "slice len") < 0) {
            return -1;
        }
    }
    return 0;
}

/* Whether the slice (start, step, len) lies inside a list of n items, checked
 * without overflow: every index start + i*step, 0 <= i < len, is in [0, n). */
static int
slice_in_range(Py_ssize_t n, Py_ssize_t start, Py_ssize_t step, Py_ssize_t len)
{
    if (step == 0 || len < 0 || len > n) {
        return 0;
    }
    if (len == 0) {
        return 1;   /* reads nothing; normalised by the caller */
    }
    if (start < 0 || start >= n) {
        return 0;
    }
    size_t room = step > 0 ? (size_t)(n - 1 - start) : (size_t)start;   /* >= 0 */
    size_t stride = step > 0 ? (size_t)step : (size_t)(-(step + 1)) + 1;    /* |step|, no overflow */
    return (size_t)(len - 1) <= room / stride;
}

/* The object x names, in this interpreter, for a store reference the caller
 * owns (one count, handed over to the Lease, also on error). */
static PyObject *
resolve_store(frost_state *st, const frost_xref_t *x, frost_store_t *store)
{
    FrostLease *lease = frost__lease_for(st, store);   /* takes the count */
    if (lease == NULL) {
        return NULL;
    }
    PyObject *result = NULL;
    if (x->node == 0) {
        if (x->has_slice || x->has_sub) {
            invalid("slice of a Store");
        }
        else {
            result = frost__store_new(st, lease);
        }
    }
    else if (x->has_sub) {
        const frost_node_t *node = frost_ref_is_node((frost_ref_t)x->node)
                                       ? frost_ref_node((frost_ref_t)x->node) : NULL;
        if (node == NULL || node->kind != FROST_NODE_ARRAY) {
            invalid("sub-array of a non-array");
        }
        else {
            result = frost__array_subview_new(lease, (const frost_array_t *)node, x->sub_dims,
                                              x->sub_index);
        }
    }
    else if (x->has_slice) {
        const frost_node_t *node = frost_ref_is_node((frost_ref_t)x->node)
                                       ? frost_ref_node((frost_ref_t)x->node) : NULL;
        if (node == NULL || node->kind != FROST_NODE_LIST) {
            invalid("slice of a non-list");
        }
        else {
            const frost_seq_t *seq = (const frost_seq_t *)node;
            if (!slice_in_range(seq->len, x->start, x->step, x->len)) {
                invalid("slice out of range");
            }
            else if (x->len == 0) {
                result = frost__list_view_new(lease, seq, 0, 1, 0);
            }
            else {
                result = frost__list_view_new(lease, seq, x->start, x->step, x->len);
            }
        }
    }
    else {
        result = frost__load(lease, (frost_ref_t)x->node);
    }
    Py_DECREF(lease);
    return result;
}

/* A store reference for x from the registry (checks the token), or NULL and
 * an error naming why. */
static frost_store_t *
acquire_store(frost_state *st, const frost_xref_t *x)
{
    int bad_token = 0;
    frost_store_t *store = frost_store_acquire_by_id(x->id, x->node, x->token, &bad_token);
    if (store == NULL) {
        if (bad_token) {
            invalid("it does not belong to that store");
        }
        else {
            PyErr_Format(st->closed_error, "frost store %llu does not exist in this process: it "
                         "was freed, or the reference was pickled in another process (frost "
                         "pickles stores and views by reference; use frost.thaw() to pickle the "
                         "data)", (unsigned long long)x->id);
        }
    }
    return store;
}

PyObject *
frost__rebuild(PyObject *module, PyObject *args)
{
    frost_state *st = PyModule_GetState(module);
    frost_xref_t x;
    if (xref_decode_store(args, &x) < 0) {
        return NULL;
    }
    frost_store_t *store = acquire_store(st, &x);
    return store ? resolve_store(st, &x, store) : NULL;
}

static PyObject *capture_store(PyObject *module, frost_store_t *store, PyObject *args);

PyObject *
frost__reduce_ref(FrostView *view, uintptr_t ref, PyObject *slice)
{
    frost_store_t *store = view->lease->store;
    PyObject *module = PyType_GetModule(Py_TYPE(view->lease));
    if (module == NULL) {
        return NULL;
    }
    unsigned long long id = frost_store_id(store), token = frost_store_token(store, ref);
    PyObject *args = slice ? Py_BuildValue("(KKKO)", id, (unsigned long long)ref, token, slice)
                           : Py_BuildValue("(KKK)", id, (unsigned long long)ref, token);
    if (args == NULL) {
        return NULL;
    }
    if (frost__capturing()) {
        return capture_store(module, store, args);
    }
    PyObject *rebuild = PyObject_GetAttrString(module, "_rebuild");
    if (rebuild == NULL) {
        Py_DECREF(args);
        return NULL;
    }
    return Py_BuildValue("(NN)", rebuild, args);
}

PyObject *
frost__channel_attach(PyObject *module, PyObject *args)
{
    frost_state *st = PyModule_GetState(module);
    if (PyTuple_GET_SIZE(args) != 2) {
        PyErr_Format(PyExc_TypeError, "_channel_attach() takes 2 arguments (%zd given)",
                     PyTuple_GET_SIZE(args));
        return NULL;
    }
    uint64_t id, token;
    if (get_u64(PyTuple_GET_ITEM(args, 0), &id, "channel id") < 0
        || get_u64(PyTuple_GET_ITEM(args, 1), &token, "token") < 0) {
        return NULL;
    }
    frost_channel_t *ch = frost__channel_acquire_by_id(id, token);
    if (ch == NULL) {
        PyErr_Format(st->channel_closed_error, "frost.Channel %llu does not exist in this process "
                     "(every handle to it is gone, or it was pickled in another process)",
                     (unsigned long long)id);
        return NULL;
    }
    return frost__channel_wrap(st, ch);
}

/* ---- 2. sent references ----------------------------------------------------- */

typedef struct sent_s {
    uint64_t ticket;             /* unique, never reused */
    uint64_t token;              /* keyed hash of ticket: unforgeable */
    frost_xref_t ref;
    frost_store_t *store;        /* XREF_STORE: one count */
    frost_channel_t *channel;    /* XREF_CHANNEL: one count */
    struct shared_fd_s *fd;      /* an fd ticket: one count of it (else NULL) */
    frost_channel_t *parked_in;  /* queued in that channel (no count), or NULL */
    struct sent_s *next;         /* bucket chain */
    struct sent_s *ch_prev, *ch_next;   /* XREF_CHANNEL: the tickets to `channel` */
    struct sent_s *pk_prev, *pk_next;   /* XREF_CHANNEL: the tickets to channels parked in `parked_in` */
} sent_t;

typedef struct {
    uint64_t ticket, token;
} ticket_t;

/* A transport dumps running on this thread: the tickets of the message it
 * makes (section 3). */
typedef struct capture_s {
    PyThreadState *tstate;       /* its thread state: this interpreter */
    int depth;                   /* tstate->py_recursion_remaining when it began */
    size_t n, cap;
    ticket_t *tickets;           /* inline_tickets, or malloc'd once more are needed */
    ticket_t inline_tickets[4];
    struct capture_s *prev;      /* the one it runs inside, or NULL */
} capture_t;

/* A transport loads running on this thread: the tickets of its message. */
typedef struct loading_s {
    PyThreadState *tstate;
    const ticket_t *tickets;
    size_t n;
    struct loading_s *prev;
} loading_t;

static _Thread_local capture_t *capturing;   /* innermost first */
static _Thread_local loading_t *loading;

#define SENT_BUCKETS 1024u       /* power of two */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sent_t *buckets[SENT_BUCKETS];     /* guarded by lock */
static uint64_t next_ticket = 1;          /* guarded by lock */
static uint64_t secret;                   /* set once, under lock */
static _Atomic size_t live_sent;

/* fork(): held across it (called by channel.c's atfork handlers, after the
 * channel locks: nobody waits for another lock while holding this one). */
void frost__xref_atfork_lock(void) { pthread_mutex_lock(&lock); }
void frost__xref_atfork_unlock(void) { pthread_mutex_unlock(&lock); }

static uint64_t
ticket_token(uint64_t ticket)
{
    return frost__mix64(secret ^ frost__mix64(ticket ^ 0x5E17ull));
}

static sent_t **
slot_of(uint64_t ticket)
{
    return &buckets[frost__mix64(ticket) & (SENT_BUCKETS - 1)];
}

/* The entry for (ticket, token), lock held; NULL if none. */
static sent_t *
find_locked(uint64_t ticket, uint64_t token)
{
    for (sent_t *e = *slot_of(ticket); e != NULL; e = e->next) {
        if (e->ticket == ticket) {
            return e->token == token ? e : NULL;
        }
    }
    return NULL;
}

/* Register a sent reference that owns the count the caller took. */
static sent_t *
sent_add(sent_t *e)
{
    pthread_mutex_lock(&lock);
    if (secret == 0) {
        secret = frost__new_secret(0x5E17ull, &secret) | 1u;
    }
    e->ticket = next_ticket++;
    e->token = ticket_token(e->ticket);
    sent_t **slot = slot_of(e->ticket);
    e->next = *slot;
    *slot = e;
    if (e->channel != NULL) {   /* a new ticket is in no queue yet */
        frost_channel_tickets_t *t = frost__channel_tickets(e->channel);
        e->ch_next = t->head;
        if (t->head != NULL) {
            t->head->ch_prev = e;
        }
        t->head = e;
        t->n++;
        t->unparked++;
    }
    pthread_mutex_unlock(&lock);
    atomic_fetch_add(&live_sent, 1);
    return e;
}

static void collect_channels(frost_channel_t *x);

/* Under lock: park the ticket to a channel e in `in` (NULL: unpark it), in
 * the counts and lists of both channels. */
static void
channel_ticket_park(sent_t *e, frost_channel_t *in)
{
    frost_channel_tickets_t *to = frost__channel_tickets(e->channel);
    if (e->parked_in != NULL) {
        if (e->pk_prev != NULL) {
            e->pk_prev->pk_next = e->pk_next;
        }
        else {
            frost__channel_tickets(e->parked_in)->parked = e->pk_next;
        }
        if (e->pk_next != NULL) {
            e->pk_next->pk_prev = e->pk_prev;
        }
        e->pk_prev = e->pk_next = NULL;
        to->unparked++;
    }
    if (in != NULL) {
        frost_channel_tickets_t *t = frost__channel_tickets(in);
        e->pk_next = t->parked;
        if (t->parked != NULL) {
            t->parked->pk_prev = e;
        }
        t->parked = e;
        to->unparked--;
    }
    e->parked_in = in;
}

/* Under lock: take e off the tickets to its channel (and the queue's). */
static void
channel_ticket_unlink(sent_t *e)
{
    channel_ticket_park(e, NULL);
    frost_channel_tickets_t *t = frost__channel_tickets(e->channel);
    if (e->ch_prev != NULL) {
        e->ch_prev->ch_next = e->ch_next;
    }
    else {
        t->head = e->ch_next;
    }
    if (e->ch_next != NULL) {
        e->ch_next->ch_prev = e->ch_prev;
    }
    t->n--;
    t->unparked--;
}

/* The fd that every fd ticket of one open file (same st_dev, st_ino and access
 * mode) holds, however many messages are in flight: a dup made by the first,
 * closed by the last. One dup per ticket would run a process out of fds when
 * thousands of tasks or channel messages carry views of one mapped store. */
typedef struct shared_fd_s {
    int fd;
    dev_t dev;
    ino_t ino;
    int mode;                    /* O_ACCMODE of its flags */
    size_t refs;                 /* guarded by lock */
    struct shared_fd_s *next;
} shared_fd_t;

#define SHARED_FD_BUCKETS 64u    /* power of two */
static shared_fd_t *shared_fds[SHARED_FD_BUCKETS];   /* guarded by lock */

static shared_fd_t **
shared_fd_slot(dev_t dev, ino_t ino)
{
    return &shared_fds[frost__mix64((uint64_t)dev ^ frost__mix64((uint64_t)ino)) & (SHARED_FD_BUCKETS - 1)];
}

/* The shared fd of fd's file, with a count taken, lock held; NULL if none. */
static shared_fd_t *
shared_fd_find_locked(dev_t dev, ino_t ino, int mode)
{
    for (shared_fd_t *s = *shared_fd_slot(dev, ino); s != NULL; s = s->next) {
        if (s->dev == dev && s->ino == ino && s->mode == mode) {
            s->refs++;
            return s;
        }
    }
    return NULL;
}

/* A count of the shared fd of fd's file (made with a dup of fd, close-on-exec,
 * if none is in flight); NULL with an exception set. */
static shared_fd_t *
shared_fd_get(int fd)
{
    struct stat st;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fstat(fd, &st) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    pthread_mutex_lock(&lock);
    shared_fd_t *s = shared_fd_find_locked(st.st_dev, st.st_ino, flags & O_ACCMODE);
    pthread_mutex_unlock(&lock);
    if (s != NULL) {
        return s;
    }
    shared_fd_t *made = calloc(1, sizeof *made);
    if (made == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    made->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (made->fd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        free(made);
        return NULL;
    }
    made->dev = st.st_dev;
    made->ino = st.st_ino;
    made->mode = flags & O_ACCMODE;
    made->refs = 1;
    pthread_mutex_lock(&lock);
    s = shared_fd_find_locked(st.st_dev, st.st_ino, made->mode);   /* another thread's meanwhile? */
    if (s == NULL) {
        shared_fd_t **slot = shared_fd_slot(st.st_dev, st.st_ino);
        made->next = *slot;
        *slot = made;
    }
    pthread_mutex_unlock(&lock);
    if (s != NULL) {
        close(made->fd);
        free(made);
        return s;
    }
    return made;
}

/* Drop a count of s: the last closes its fd. Any thread, lock not held. */
static void
shared_fd_put(shared_fd_t *s)
{
    pthread_mutex_lock(&lock);
    int last = --s->refs == 0;
    if (last) {
        shared_fd_t **p = shared_fd_slot(s->dev, s->ino);
        while (*p != s) {
            p = &(*p)->next;
        }
        *p = s->next;
    }
    pthread_mutex_unlock(&lock);
    if (last) {
        close(s->fd);
        free(s);
    }
}

/* A new, unregistered entry: no store, no channel, no fd (calloc'd). */
static sent_t *
sent_new(void)
{
    return calloc(1, sizeof(sent_t));
}

/* Remove and release a sent reference: the one place it happens. Returns
 * whether the ticket was still in flight. Any thread, no GIL needed. */
static int
sent_release(uint64_t ticket, uint64_t token)
{
    pthread_mutex_lock(&lock);
    sent_t *e = NULL;
    if (secret != 0) {
        for (sent_t **p = slot_of(ticket); *p != NULL; p = &(*p)->next) {
            if ((*p)->ticket == ticket && (*p)->token == token) {
                e = *p;
                *p = e->next;
                if (e->channel != NULL) {
                    channel_ticket_unlink(e);
                }
                break;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    if (e == NULL) {
        return 0;
    }
    atomic_fetch_sub(&live_sent, 1);
    if (e->store != NULL) {
        frost_store_release(e->store);
    }
    if (e->fd != NULL) {
        shared_fd_put(e->fd);
    }
    if (e->channel != NULL) {
        if (frost__channel_handles(e->channel) == 0) {
            collect_channels(e->channel);   /* it may now be held only by queues (ours: a count) */
        }
        frost__channel_release(e->channel);
    }
    free(e);
    return 1;
}

/* A new sent reference to a Store, view or Channel of this interpreter. */
static int
sent_export(frost_state *st, PyObject *obj, uint64_t *ticket, uint64_t *token)
{
    sent_t *e = sent_new();
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    frost_channel_t *ch = frost__channel_of(st, obj);
    if (ch != NULL) {
        e->ref = (frost_xref_t){.kind = XREF_CHANNEL};
        frost__channel_acquire(ch);
        e->channel = ch;
    }
    else if (Py_TYPE(obj) == st->store_type) {
        FrostLease *lease = ((FrostStore *)obj)->lease;
        if (lease == NULL) {
            free(e);
            frost__closed_error(st, "sending");
            return -1;
        }
        e->ref = (frost_xref_t){.kind = XREF_STORE, .id = frost_store_id(lease->store)};
        frost_store_acquire(lease->store);
        e->store = lease->store;
    }
    else if (frost__is_node_view_type(st, Py_TYPE(obj))) {
        /* the view's own __reduce__ names its node (and slice): one decoder for both;
         * a plain reference, whatever message this thread may be making */
        struct capture_s *outer = capturing;
        capturing = NULL;
        PyObject *reduced = PyObject_CallMethod(obj, "__reduce__", NULL);
        capturing = outer;
        int rc = reduced == NULL ? -1 : xref_decode_store(PyTuple_GET_ITEM(reduced, 1), &e->ref);
        Py_XDECREF(reduced);
        if (rc < 0) {
            free(e);
            return -1;
        }
        frost_store_t *store = ((FrostView *)obj)->lease->store;
        frost_store_acquire(store);
        e->store = store;
    }
    else {
        free(e);
        PyErr_Format(PyExc_TypeError, "not a frost Store, view or Channel: '%.200s'",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    sent_add(e);
    *ticket = e->ticket;
    *token = e->token;
    return 0;
}

/* The receiving interpreter's own object for a ticket still in flight: a
 * count of its own (the ticket keeps its count until released). */
static PyObject *
sent_import(frost_state *st, uint64_t ticket, uint64_t token)
{
    pthread_mutex_lock(&lock);
    sent_t *e = secret != 0 ? find_locked(ticket, token) : NULL;
    frost_xref_t ref;
    frost_store_t *store = NULL;
    frost_channel_t *ch = NULL;
    if (e != NULL && e->fd != NULL) {
        e = NULL;   /* an fd ticket: _import_fd's */
    }
    if (e != NULL) {
        ref = e->ref;
        if (e->store != NULL) {
            frost_store_acquire(e->store);   /* the entry's count keeps it alive meanwhile */
            store = e->store;
        }
        else {
            frost__channel_acquire(e->channel);
            ch = e->channel;
        }
    }
    pthread_mutex_unlock(&lock);
    if (e == NULL) {
        PyErr_SetString(PyExc_ValueError, "invalid frost reference: it was already released "
                        "(its message was loaded or discarded) or never sent");
        return NULL;
    }
    if (ch != NULL) {
        return frost__channel_wrap(st, ch);
    }
    return resolve_store(st, &ref, store);
}

/* ---- 3. messages (frost._transport) ------------------------------------------ */

/*
 * A message is bytes: the pickle, then a trailer naming its tickets --
 * n x (u64 ticket, u64 token), u32 n, MAGIC, little-endian. A trailer, so
 * that dumps appends it to pickle's own bytes (in place) and loads hands the
 * message itself to pickle, which stops at the pickle's STOP. It is read
 * without trusting it: a short or malformed trailer names no tickets.
 *
 * dumps is pickle.dumps with a capture open on this thread (capture_t): the
 * reducers of Store, the views and Channel see it (frost__capturing), export
 * a ticket into it and reduce to (_ticket_ref, (index, ticket id)); pickle
 * does everything else at C speed, with no per-object hook. loads is
 * pickle.loads with the message's tickets open on this thread (loading_t),
 * which _ticket_ref resolves against. Both are stacks, innermost first, so a
 * dumps or loads inside another (a reducer that sends, a __setstate__ that
 * receives, another interpreter run on this thread) finds its own.
 */
static const char MAGIC[4] = {'F', 'X', 'M', '2'};
#define TRAILER_FIXED 8u
#define TICKET_BYTES 16u

static uint64_t
read_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void
write_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* 0 with *n tickets, the first at offset *body (the pickle's length); -1 if malformed. */
static int
message_parse(const char *data, size_t len, size_t *n, size_t *body)
{
    if (len < TRAILER_FIXED || memcmp(data + len - 4, MAGIC, 4) != 0) {
        return -1;
    }
    const unsigned char *p = (const unsigned char *)data + len - TRAILER_FIXED;
    size_t count = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    if (count > (len - TRAILER_FIXED) / TICKET_BYTES) {
        return -1;
    }
    *n = count;
    *body = len - TRAILER_FIXED - count * TICKET_BYTES;
    return 0;
}

static ticket_t
message_ticket(const char *data, size_t body, size_t i)
{
    const unsigned char *p = (const unsigned char *)data + body + i * TICKET_BYTES;
    return (ticket_t){read_u64(p), read_u64(p + 8)};
}

/* The message of `body` (a pickle's bytes; the reference is stolen) and n
 * tickets; NULL with an error. The caller still owns the tickets' counts. */
static PyObject *
message_seal(PyObject *body, const ticket_t *tickets, size_t n)
{
    if (!PyBytes_CheckExact(body)) {
        PyErr_Format(PyExc_TypeError, "pickle.dumps returned %.200s, not bytes", Py_TYPE(body)->tp_name);
        Py_DECREF(body);
        return NULL;
    }
    size_t len = (size_t)PyBytes_GET_SIZE(body);
    if (n > UINT32_MAX || len > (size_t)PY_SSIZE_T_MAX - TRAILER_FIXED - n * TICKET_BYTES) {
        PyErr_SetString(PyExc_OverflowError, "frost message too large");
        Py_DECREF(body);
        return NULL;
    }
    Py_ssize_t total = (Py_ssize_t)(len + n * TICKET_BYTES + TRAILER_FIXED);
    if (Py_REFCNT(body) == 1) {   /* pickle's fresh bytes: grown in place */
        if (_PyBytes_Resize(&body, total) < 0) {
            return NULL;
        }
    }
    else {
        PyObject *copy = PyBytes_FromStringAndSize(NULL, total);
        if (copy != NULL) {
            memcpy(PyBytes_AS_STRING(copy), PyBytes_AS_STRING(body), len);
        }
        Py_SETREF(body, copy);
        if (body == NULL) {
            return NULL;
        }
    }
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(body) + len;
    for (size_t i = 0; i < n; i++, p += TICKET_BYTES) {
        write_u64(p, tickets[i].ticket);
        write_u64(p + 8, tickets[i].token);
    }
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(n >> (8 * i));
    }
    memcpy(p + 4, MAGIC, 4);
    return body;
}

void
frost__message_release(const char *data, size_t len)
{
    size_t n, body;
    if (message_parse(data, len, &n, &body) < 0) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ticket_t t = message_ticket(data, body, i);
        sent_release(t.ticket, t.token);
    }
}

void
frost__message_park(const char *data, size_t len, frost_channel_t *ch)
{
    size_t n, body;
    if (message_parse(data, len, &n, &body) < 0 || n == 0) {
        return;
    }
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n && secret != 0; i++) {
        ticket_t t = message_ticket(data, body, i);
        sent_t *e = find_locked(t.ticket, t.token);
        if (e == NULL) {
            continue;
        }
        if (e->channel != NULL) {
            channel_ticket_park(e, ch);
        }
        else {
            e->parked_in = ch;
        }
    }
    pthread_mutex_unlock(&lock);
}

/* The capture of the dumps whose pickler is reducing right now, or NULL: the
 * innermost capture of this thread, if it belongs to this thread state (this
 * interpreter) and exactly `frames` Python frames were entered since its
 * dumps began -- 0 for the C reducers (Store, views, Channel), 1 for a
 * reducer written in Python (frost._mapped._Handle.__reduce__, its own frame,
 * called by that pickler itself). So user code run during pickling (a
 * __reduce__ that calls pickle.dumps or copy.deepcopy, or __reduce__ itself)
 * gets a plain reference, as always. */
static capture_t *
capture_at(int frames)
{
    capture_t *cap = capturing;
    if (cap == NULL) {
        return NULL;
    }
    PyThreadState *ts = PyThreadState_Get();
    return cap->tstate == ts && cap->depth == ts->py_recursion_remaining + frames ? cap : NULL;
}

static capture_t *
active_capture(void)
{
    return capture_at(0);
}

int
frost__capturing(void)
{
    return active_capture() != NULL;
}

/* Register e (owning its count or fd) as the next ticket of `cap` (NULL: no
 * capture -- e is released and SystemError set): its index in the message,
 * or -1 with an exception set (e released). */
static Py_ssize_t
capture_add(capture_t *cap, sent_t *e, ticket_t *t)
{
    sent_add(e);
    *t = (ticket_t){e->ticket, e->token};
    if (cap == NULL) {   /* callers check first; nothing runs in between */
        sent_release(t->ticket, t->token);
        PyErr_SetString(PyExc_SystemError, "frost: no message is being made on this thread");
        return -1;
    }
    if (cap->n == cap->cap) {
        int on_stack = cap->tickets == cap->inline_tickets;
        ticket_t *grown = on_stack ? malloc(2 * cap->cap * sizeof *grown)
                                   : realloc(cap->tickets, 2 * cap->cap * sizeof *grown);
        if (grown == NULL) {
            sent_release(t->ticket, t->token);
            PyErr_NoMemory();
            return -1;
        }
        if (on_stack) {
            memcpy(grown, cap->inline_tickets, cap->n * sizeof *grown);
        }
        cap->tickets = grown;
        cap->cap *= 2;
    }
    cap->tickets[cap->n] = *t;   /* the message owns it now: released with it */
    return (Py_ssize_t)cap->n++;
}

/* Register e as the next ticket of the active capture; the reduce value
 * naming it: (_ticket_ref, (index, ticket id)). */
static PyObject *
capture_ref(PyObject *module, sent_t *e)
{
    ticket_t t;
    Py_ssize_t index = capture_add(active_capture(), e, &t);
    if (index < 0) {
        return NULL;
    }
    PyObject *fn = PyObject_GetAttrString(module, "_ticket_ref");
    return fn ? Py_BuildValue("(N(nK))", fn, index, (unsigned long long)t.ticket) : NULL;
}

/* A new fd ticket's entry for func()'s fd argument `arg` (an int >= 0, not a
 * bool), holding a count of that file's shared fd (a dup, close-on-exec),
 * unregistered; NULL with an exception set (ValueError for a bad argument). */
static sent_t *
fd_entry(PyObject *arg, const char *func)
{
    long fd = PyLong_Check(arg) && !PyBool_Check(arg) ? PyLong_AsLong(arg) : -1;
    if (fd < 0 || fd > INT_MAX) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyObject *repr = PyLong_Check(arg) ? frost__int_repr(arg) : PyObject_Repr(arg);
            if (repr != NULL) {
                PyErr_Format(PyExc_ValueError, "%s(): fd must be an int >= 0, not %U", func, repr);
                Py_DECREF(repr);
            }
        }
        return NULL;
    }
    sent_t *e = sent_new();
    if (e == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    e->fd = shared_fd_get((int)fd);
    if (e->fd == NULL) {
        free(e);
        return NULL;
    }
    return e;
}

/* A new fd (the caller's) of the fd ticket (ticket, token) still in flight;
 * -1 with ValueError (no such fd ticket) or OSError set. */
static int
fd_ticket_dup(uint64_t ticket, uint64_t token)
{
    pthread_mutex_lock(&lock);
    sent_t *e = secret != 0 ? find_locked(ticket, token) : NULL;
    int found = e != NULL && e->fd != NULL;
    int fd = found ? fcntl(e->fd->fd, F_DUPFD_CLOEXEC, 0) : -1;
    int err = errno;
    pthread_mutex_unlock(&lock);
    if (!found) {
        PyErr_SetString(PyExc_ValueError, "invalid frost reference: not an fd ticket in flight "
                        "(already released, never sent, or a store's)");
        return -1;
    }
    if (fd < 0) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
    }
    return fd;
}

static PyObject *
fd_object(int fd)
{
    PyObject *r = PyLong_FromLong(fd);
    if (r == NULL) {
        close(fd);
    }
    return r;
}

/* The capture a reducer written in Python may use (see capture_at). */
static capture_t *
caller_capture(void)
{
    return capture_at(1);
}

/* _capturing() -> bool: whether the calling reducer runs for a transport dumps */
PyObject *
frost__capturing_caller(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(caller_capture() != NULL);
}

/* _capture_fd(fd) -> (index, ticket id): a new fd ticket (a dup of fd) of the
 * message the calling reducer pickles for (SystemError if none: check
 * _capturing() first); loads resolves it with _ticket_fd. */
PyObject *
frost__capture_fd(PyObject *Py_UNUSED(module), PyObject *arg)
{
    sent_t *e = fd_entry(arg, "_capture_fd");
    if (e == NULL) {
        return NULL;
    }
    ticket_t t;
    Py_ssize_t index = capture_add(caller_capture(), e, &t);
    return index < 0 ? NULL : Py_BuildValue("(nK)", index, (unsigned long long)t.ticket);
}

/* args: the plain reference's (id, node, token[, slice]), stolen */
static PyObject *
capture_store(PyObject *module, frost_store_t *store, PyObject *args)
{
    sent_t *e = sent_new();
    int rc = e == NULL ? -1 : xref_decode_store(args, &e->ref);
    Py_DECREF(args);
    if (rc < 0) {
        free(e);
        return e == NULL ? PyErr_NoMemory() : NULL;
    }
    frost_store_acquire(store);
    e->store = store;
    return capture_ref(module, e);
}

PyObject *
frost__capture_channel(PyObject *module, frost_channel_t *ch)
{
    sent_t *e = sent_new();
    if (e == NULL) {
        return PyErr_NoMemory();
    }
    e->ref = (frost_xref_t){.kind = XREF_CHANNEL};
    frost__channel_acquire(ch);
    e->channel = ch;
    return capture_ref(module, e);
}

/* dumps, loads and PicklingError of pickle's C accelerator `_pickle` (what
 * pickle.dumps/loads/PicklingError are), and protocol -1 (the highest), in
 * this interpreter's module state (looked up on first use). Not the pickle
 * module itself: its `re` and `enum` imports were ~8 ms of a pool worker's
 * first task (issue 17); `pickle` only where `_pickle` is missing. */
static int
pickle_ready(frost_state *st)
{
    if (st->pickle_loads != NULL) {
        return 0;
    }
    PyObject *pickle = PyImport_ImportModule("_pickle");
    if (pickle == NULL && PyErr_ExceptionMatches(PyExc_ImportError)) {
        PyErr_Clear();
        pickle = PyImport_ImportModule("pickle");
    }
    if (pickle == NULL) {
        return -1;
    }
    PyObject *dumps = PyObject_GetAttrString(pickle, "dumps");
    PyObject *loads = dumps ? PyObject_GetAttrString(pickle, "loads") : NULL;
    PyObject *error = loads ? PyObject_GetAttrString(pickle, "PicklingError") : NULL;
    PyObject *protocol = error ? PyLong_FromLong(-1) : NULL;
    Py_DECREF(pickle);
    if (protocol == NULL) {
        Py_XDECREF(dumps);
        Py_XDECREF(loads);
        Py_XDECREF(error);
        return -1;
    }
    Py_XSETREF(st->pickle_dumps, dumps);
    Py_XSETREF(st->pickling_error, error);
    Py_XSETREF(st->pickle_protocol, protocol);
    Py_XSETREF(st->pickle_loads, loads);   /* last: the "ready" mark */
    return 0;
}

/* Pickling `obj` failed with the current exception: a PicklingError,
 * AttributeError or TypeError becomes TypeError("cannot send <type> object
 * <repr> to another interpreter: <why>") raised from it. */
static void
cannot_send(frost_state *st, PyObject *obj)
{
    if (!PyErr_ExceptionMatches(st->pickling_error) && !PyErr_ExceptionMatches(PyExc_AttributeError)
        && !PyErr_ExceptionMatches(PyExc_TypeError)) {
        return;
    }
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *text = PyObject_Repr(obj);
    if (text == NULL && PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
        text = PyBaseObject_Type.tp_repr(obj);
    }
    if (text != NULL && PyUnicode_GET_LENGTH(text) > 80) {
        PyObject *cut = PyUnicode_Substring(text, 0, 77);
        Py_SETREF(text, cut ? PyUnicode_FromFormat("%U...", cut) : NULL);
        Py_XDECREF(cut);
    }
    PyObject *name = text ? PyType_GetName(Py_TYPE(obj)) : NULL;
    PyObject *msg = name ? PyUnicode_FromFormat("cannot send %U object %U to another interpreter: %S",
                                                name, text, exc)
                         : NULL;
    PyObject *wrapped = msg ? PyObject_CallOneArg(PyExc_TypeError, msg) : NULL;
    Py_XDECREF(text);
    Py_XDECREF(name);
    Py_XDECREF(msg);
    if (wrapped == NULL) {   /* describing it failed: that error, in the context of the first */
        PyObject *now = PyErr_GetRaisedException();
        PyException_SetContext(now, exc);
        PyErr_SetRaisedException(now);
        return;
    }
    PyException_SetContext(wrapped, Py_NewRef(exc));
    PyException_SetCause(wrapped, exc);
    PyErr_SetRaisedException(wrapped);
}

PyObject *
frost__transport_dumps(frost_state *st, PyObject *obj)
{
    if (pickle_ready(st) < 0) {
        return NULL;
    }
    PyThreadState *ts = PyThreadState_Get();
    capture_t cap = {.tstate = ts, .depth = ts->py_recursion_remaining,
                     .cap = sizeof cap.inline_tickets / sizeof cap.inline_tickets[0],
                     .prev = capturing};
    cap.tickets = cap.inline_tickets;
    capturing = &cap;
    PyObject *args[2] = {obj, st->pickle_protocol};
    PyObject *body = PyObject_Vectorcall(st->pickle_dumps, args, 2, NULL);
    capturing = cap.prev;
    PyObject *message = body ? message_seal(body, cap.tickets, cap.n) : NULL;
    if (message == NULL) {   /* failed half way (or interrupted): it ends here, holding nothing */
        for (size_t i = 0; i < cap.n; i++) {
            sent_release(cap.tickets[i].ticket, cap.tickets[i].token);
        }
    }
    if (cap.tickets != cap.inline_tickets) {
        free(cap.tickets);
    }
    if (message == NULL) {
        cannot_send(st, obj);
    }
    return message;
}

#define LOAD_INLINE 8

PyObject *
frost__transport_loads(frost_state *st, PyObject *data, int consume)
{
    Py_buffer buf;
    if (PyObject_GetBuffer(data, &buf, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    size_t n, body;
    if (message_parse(buf.buf, (size_t)buf.len, &n, &body) < 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "not a frost message (bad trailer)");
        return NULL;
    }
    ticket_t inline_tickets[LOAD_INLINE];
    ticket_t *tickets = n <= LOAD_INLINE ? inline_tickets : malloc(n * sizeof *tickets);
    if (tickets == NULL) {
        if (consume) {
            frost__message_release(buf.buf, (size_t)buf.len);
        }
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    for (size_t i = 0; i < n; i++) {   /* a copy: what is released is what was loaded */
        tickets[i] = message_ticket(buf.buf, body, i);
    }
    PyBuffer_Release(&buf);
    PyObject *result = NULL;
    if (pickle_ready(st) == 0) {
        loading_t frame = {.tstate = PyThreadState_Get(), .tickets = tickets, .n = n, .prev = loading};
        loading = &frame;
        result = PyObject_CallOneArg(st->pickle_loads, data);
        loading = frame.prev;
    }
    if (consume) {   /* loaded or failed half way alike: the message ends here */
        for (size_t i = 0; i < n; i++) {
            sent_release(tickets[i].ticket, tickets[i].token);
        }
    }
    if (tickets != inline_tickets) {
        free(tickets);
    }
    return result;
}

/* ---- the Python functions ---------------------------------------------------- */

static PyObject *
ticket_object(uint64_t ticket, uint64_t token)
{
    return Py_BuildValue("(KK)", (unsigned long long)ticket, (unsigned long long)token);
}

static int
ticket_parse(PyObject *obj, uint64_t *ticket, uint64_t *token)
{
    if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 2) {
        PyErr_Format(PyExc_TypeError, "a frost ticket is the (int, int) made by _export(), "
                     "not %.200s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    return get_u64(PyTuple_GET_ITEM(obj, 0), ticket, "ticket") < 0
               || get_u64(PyTuple_GET_ITEM(obj, 1), token, "ticket token") < 0 ? -1 : 0;
}

PyObject *
frost__export(PyObject *module, PyObject *obj)
{
    uint64_t ticket, token;
    if (sent_export(PyModule_GetState(module), obj, &ticket, &token) < 0) {
        return NULL;
    }
    PyObject *r = ticket_object(ticket, token);
    if (r == NULL) {
        sent_release(ticket, token);
    }
    return r;
}

PyObject *
frost__import(PyObject *module, PyObject *arg)
{
    uint64_t ticket, token;
    if (ticket_parse(arg, &ticket, &token) < 0) {
        return NULL;
    }
    return sent_import(PyModule_GetState(module), ticket, token);
}

/* _export_fd(fd) -> ticket: the ticket owns a dup of fd (close-on-exec). */
PyObject *
frost__export_fd(PyObject *Py_UNUSED(module), PyObject *arg)
{
    sent_t *e = fd_entry(arg, "_export_fd");
    if (e == NULL) {
        return NULL;
    }
    sent_add(e);
    uint64_t ticket = e->ticket, token = e->token;   /* e is the table's from here on */
    PyObject *r = ticket_object(ticket, token);
    if (r == NULL) {
        sent_release(ticket, token);
    }
    return r;
}

/* _import_fd(ticket) -> a new fd (the caller's) of an fd ticket still in flight. */
PyObject *
frost__import_fd(PyObject *Py_UNUSED(module), PyObject *arg)
{
    uint64_t ticket, token;
    if (ticket_parse(arg, &ticket, &token) < 0) {
        return NULL;
    }
    int fd = fd_ticket_dup(ticket, token);
    return fd < 0 ? NULL : fd_object(fd);
}

PyObject *
frost__discard(PyObject *Py_UNUSED(module), PyObject *arg)
{
    uint64_t ticket, token;
    if (ticket_parse(arg, &ticket, &token) < 0) {
        return NULL;
    }
    return PyBool_FromLong(sent_release(ticket, token));
}

/* The (index, ticket id) arguments of func: the ticket of the message being
 * loaded on this thread at that index, into *t; -1 with an exception set. */
static int
loading_ticket(PyObject *const *args, Py_ssize_t nargs, const char *func, ticket_t *t)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes 2 arguments (%zd given)", func, nargs);
        return -1;
    }
    Py_ssize_t index;
    uint64_t ticket;
    if (get_ssize(args[0], &index, "message reference") < 0 || get_u64(args[1], &ticket, "ticket") < 0) {
        return -1;
    }
    const loading_t *f = loading;
    if (f == NULL || f->tstate != PyThreadState_Get()) {
        PyErr_SetString(PyExc_ValueError, "invalid frost reference: a message's reference read "
                        "outside the loading of its message (frost._transport.loads)");
        return -1;
    }
    if (index < 0 || (size_t)index >= f->n || f->tickets[index].ticket != ticket) {
        invalid("not a reference of the message being loaded");
        return -1;
    }
    *t = f->tickets[index];
    return 0;
}

/* _ticket_ref(index, ticket id): the object of a ticket of the message being
 * loaded on this thread (what a captured reference unpickles as). */
PyObject *
frost__ticket_ref(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    ticket_t t;
    if (loading_ticket(args, nargs, "_ticket_ref", &t) < 0) {
        return NULL;
    }
    return sent_import(PyModule_GetState(module), t.ticket, t.token);
}

/* _ticket_fd(index, ticket id): a new fd (the caller's) of an fd ticket of the
 * message being loaded on this thread (_capture_fd's, in the receiver). */
PyObject *
frost__ticket_fd(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    ticket_t t;
    if (loading_ticket(args, nargs, "_ticket_fd", &t) < 0) {
        return NULL;
    }
    int fd = fd_ticket_dup(t.ticket, t.token);
    return fd < 0 ? NULL : fd_object(fd);
}

/* _own_fd(owner, make, *args): owner.fd = make(*args), the new fd never a bare int
 * in Python code. make is a C callable (os.open, os.memfd_create, fcntl.fcntl,
 * _ticket_fd) and no bytecode runs between its return and the store, so a signal
 * handler that raises (Ctrl-C) runs before the fd exists or after owner holds it:
 * `fd = os.open(...)` leaks the fd when KeyboardInterrupt lands between the call
 * and the assignment (frost._fd.Fd, its one caller). An fd owner refuses is closed. */
PyObject *
frost__own_fd(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError, "_own_fd(owner, make, *args) takes at least 2 arguments");
        return NULL;
    }
    PyObject *made = PyObject_Vectorcall(args[1], args + 2, (size_t)(nargs - 2), NULL);
    if (made == NULL) {
        return NULL;
    }
    long fd = PyLong_Check(made) ? PyLong_AsLong(made) : -1;
    if (fd < 0 || fd > INT_MAX) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "_own_fd: make returned %R, not an fd", made);
        }
        Py_DECREF(made);
        return NULL;
    }
    int rc = PyObject_SetAttrString(args[0], "fd", made);
    Py_DECREF(made);
    if (rc < 0) {
        close((int)fd);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Fd.close and Fd.__del__ (frost._fd.Fd): owner.fd taken, set to None and
 * closed with no bytecode in between, as _own_fd stores it. Both are method
 * descriptors of object (frost__fd_methods_add), so the class statement binds
 * them and CPython's finalizer calls __del__ with no Python frame: a Python
 * __del__ (or close) let a signal handler that raises (Ctrl-C) run at its
 * first instruction, before the close, and the fd of a store dropped then
 * stayed open for ever. __del__ reports nothing (an fd closed elsewhere is
 * not the finalizer's to raise); close raises OSError as os.close. */
static PyObject *
fd_owner_close(PyObject *owner, int quiet)
{
    PyObject *held = PyObject_GetAttrString(owner, "fd");
    if (held == NULL) {
        if (quiet) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        return NULL;
    }
    if (held == Py_None) {
        Py_DECREF(held);
        Py_RETURN_NONE;
    }
    long fd = PyLong_Check(held) ? PyLong_AsLong(held) : -1;
    Py_DECREF(held);
    if (fd < 0 || fd > INT_MAX) {
        if (quiet) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "Fd.fd is not an fd");
        }
        return NULL;
    }
    if (PyObject_SetAttrString(owner, "fd", Py_None) < 0) {
        if (quiet) {
            PyErr_Clear();   /* not ours any more: closed below all the same */
        } else {
            return NULL;
        }
    }
    if (close((int)fd) < 0 && errno != EINTR && !quiet) {   /* EINTR: closed (Linux) */
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

static PyObject *
fd_owner_close_method(PyObject *owner, PyObject *Py_UNUSED(ignored))
{
    return fd_owner_close(owner, 0);
}

static PyObject *
fd_owner_del_method(PyObject *owner, PyObject *Py_UNUSED(ignored))
{
    return fd_owner_close(owner, 1);
}

static PyMethodDef fd_owner_close_def = {
    "close", fd_owner_close_method, METH_NOARGS,
    "close()\n--\n\nClose self.fd (if not None) and set it to None."};
static PyMethodDef fd_owner_del_def = {
    "__del__", fd_owner_del_method, METH_NOARGS,
    "__del__()\n--\n\nclose(), reporting no error."};

int
frost__fd_methods_add(PyObject *module)
{
    PyMethodDef *defs[] = {&fd_owner_close_def, &fd_owner_del_def};
    const char *names[] = {"_fd_close", "_fd_del"};
    for (int i = 0; i < 2; i++) {
        PyObject *method = PyDescr_NewMethod(&PyBaseObject_Type, defs[i]);
        int rc = method == NULL ? -1 : PyModule_AddObjectRef(module, names[i], method);
        Py_XDECREF(method);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

PyObject *
frost__dumps(PyObject *module, PyObject *obj)
{
    return frost__transport_dumps(PyModule_GetState(module), obj);
}

PyObject *
frost__loads(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int consume = 1;
    if (nargs != 1 || nkw > 1
        || (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "consume") != 0)) {
        PyErr_SetString(PyExc_TypeError, "loads() takes one message and the keyword consume");
        return NULL;
    }
    if (nkw == 1 && (consume = PyObject_IsTrue(args[1])) < 0) {
        return NULL;
    }
    return frost__transport_loads(PyModule_GetState(module), args[0], consume);
}

/* _message(tickets, body) -> bytes: a message from parts (tests) */
PyObject *
frost__message_pack(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *list;
    Py_buffer body;
    if (!PyArg_ParseTuple(args, "O!y*:_message", &PyList_Type, &list, &body)) {
        return NULL;
    }
    size_t n = (size_t)PyList_GET_SIZE(list);
    ticket_t *tickets = malloc((n ? n : 1) * sizeof *tickets);
    PyObject *out = tickets ? PyBytes_FromStringAndSize(body.buf, body.len) : PyErr_NoMemory();
    for (size_t i = 0; out != NULL && i < n; i++) {
        if (ticket_parse(PyList_GET_ITEM(list, (Py_ssize_t)i), &tickets[i].ticket, &tickets[i].token) < 0) {
            Py_CLEAR(out);
        }
    }
    out = out ? message_seal(out, tickets, n) : NULL;
    free(tickets);
    PyBuffer_Release(&body);
    return out;
}

/* _message_tickets(data) -> the tickets of a message, a tuple */
PyObject *
frost__message_tickets(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    size_t n, body;
    PyObject *tickets = NULL;
    if (message_parse(data.buf, (size_t)data.len, &n, &body) < 0) {
        PyErr_SetString(PyExc_ValueError, "not a frost message (bad trailer)");
    }
    else {
        tickets = PyTuple_New((Py_ssize_t)n);
    }
    for (size_t i = 0; tickets != NULL && i < n; i++) {
        ticket_t t = message_ticket(data.buf, body, i);
        PyObject *item = ticket_object(t.ticket, t.token);
        if (item == NULL) {
            Py_CLEAR(tickets);
            break;
        }
        PyTuple_SET_ITEM(tickets, (Py_ssize_t)i, item);
    }
    PyBuffer_Release(&data);
    return tickets;
}

/* _discard_message(data): release every ticket of a message (idempotent). */
PyObject *
frost__discard_message(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    frost__message_release(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

PyObject *
frost__live_xrefs(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSize_t(atomic_load(&live_sent));
}

/* ---- for xidata.c: the same tickets, without Python objects ----------------- */

int
frost__xref_send(PyObject *module, PyObject *obj, uint64_t *ticket, uint64_t *token)
{
    return sent_export(PyModule_GetState(module), obj, ticket, token);
}

PyObject *
frost__xref_receive(PyObject *module, uint64_t ticket, uint64_t token)
{
    return sent_import(PyModule_GetState(module), ticket, token);
}

void
frost__xref_release(uint64_t ticket, uint64_t token)
{
    sent_release(ticket, token);
}

/* ---- channels reachable only from their own queues ---------------------------- */

/*
 * A channel is garbage when no channel held from outside any queue (a handle,
 * a ticket in flight elsewhere) reaches it through queued tickets: it has no
 * handle and every ticket to it is queued in a garbage channel. Each channel
 * keeps the tickets to it and the tickets to channels queued in it (views.h,
 * frost_channel_tickets_t), so a collection looks only near the one channel x
 * that may have become garbage -- it lost its last handle, or a ticket to it
 * was released while it had none -- never at the tickets in flight. (The
 * collection scanned the whole ticket table at every such drop, so N reply
 * channels queued then dropped cost O(N^2).)
 *
 * What that event can turn garbage is x and what x reaches (a channel whose
 * every holder path ran through x). A collection decides x, and with it the
 * channels x is held through when they are garbage too (a cycle: x sent on
 * itself, two sent on each other); draining those releases their queued
 * tickets, and each channel released that way is looked at in turn, so what x
 * reaches is decided by collections of its own. Two walks decide x, a step (a
 * channel or a ticket) of each in turn:
 *
 * - backward, through the channels the tickets to x are queued in, the
 *   channels the tickets to those are queued in, and so on. A channel held
 *   from outside ends it: x is live. Finished without one, every channel it
 *   found is garbage: each is held only through the others.
 * - forward, through the channels whose tickets are queued in x, and so on,
 *   not on past a channel held from outside. Once it is finished, a channel
 *   the backward walk found that it did not reach ends the backward walk too:
 *   x is held through that channel h, so x is live if h is; and h is not what
 *   this event turned garbage (x does not reach it but through a channel held
 *   from outside). If h is garbage, something else made it so, whose
 *   collection (to come) or draining (under way) decides h, and then, channel
 *   by channel as their tickets are released, everything down to x.
 *
 * So a collection costs at most twice the shorter walk. (The backward walk
 * alone went back to a chain's held head: a chain of handle-less channels,
 * each queued in the one made before it, grown at its tail while the handles
 * were dropped, cost O(length) a drop; 8,000 took 64M steps and 2.9 s. Now
 * the forward walk ends at the tail's held channel in a step or two.)
 */

static _Thread_local int collecting;
static _Atomic uint64_t collect_steps;   /* channels and tickets looked at */

/* A growable array of channels. */
typedef struct {
    frost_channel_t **v;
    size_t n, cap;
} chanvec_t;

static _Thread_local chanvec_t pending;   /* released while draining: looked at next */

static int
grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return 0;
    }
    size_t cap2 = *cap ? 2 * *cap : 8;
    while (cap2 < need) {
        cap2 *= 2;
    }
    void *v2 = realloc(*v, cap2 * size);
    if (v2 == NULL) {
        return -1;
    }
    *v = v2;
    *cap = cap2;
    return 0;
}

static int
chanvec_push(chanvec_t *c, frost_channel_t *ch)
{
    if (grow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v) < 0) {
        return -1;
    }
    c->v[c->n++] = ch;
    return 0;
}

/* Whether ch is held from outside any queue: a handle, a ticket in flight
 * elsewhere (a task's payload, a receiver's hands) -- or no ticket at all, a
 * channel on its way out (its own release drains it) or being attached. Read
 * once per channel and walk: a handle may be dropped meanwhile (its own
 * collection follows), and a channel read as held and then as not would be
 * neither walked nor held. */
static int
held_outside(frost_channel_t *ch)
{
    frost_channel_tickets_t *t = frost__channel_tickets(ch);
    return frost__channel_handles(ch) > 0 || t->unparked > 0 || t->n == 0;
}

/* One walk of a collection, a step at a time: the channels found, x first,
 * the one being walked (found.v[j]) and its next ticket (NULL: start it). */
typedef struct {
    chanvec_t found;
    size_t j;
    sent_t *e;
} walk_t;

/* Under lock: a step of the backward walk. 1: taken; 0: the walk is finished;
 * 2: it met a channel held from outside; -1: out of memory. Every channel it
 * finds (mark) is not held from outside, so has tickets, all of them queued. */
static int
walk_back(walk_t *w)
{
    if (w->e == NULL) {
        if (w->j == w->found.n) {
            return 0;
        }
        w->e = frost__channel_tickets(w->found.v[w->j])->head;   /* not NULL: n > 0 */
        return 1;
    }
    frost_channel_t *in = w->e->parked_in;   /* not NULL: none is unparked */
    w->e = w->e->ch_next;
    if (w->e == NULL) {
        w->j++;
    }
    frost_channel_tickets_t *t = frost__channel_tickets(in);
    if (t->mark == 0) {
        if (held_outside(in)) {
            return 2;
        }
        if (chanvec_push(&w->found, in) < 0) {
            return -1;
        }
        t->mark = 1;
    }
    return 1;
}

/* Under lock: a step of the forward walk; it walks on from x and from no
 * other channel held from outside. 1: taken; 0: finished; -1: out of memory. */
static int
walk_forward(walk_t *w)
{
    if (w->e == NULL) {
        if (w->j == w->found.n) {
            return 0;
        }
        frost_channel_t *ch = w->found.v[w->j];
        if (w->j == 0 || !held_outside(ch)) {
            w->e = frost__channel_tickets(ch)->parked;
        }
        if (w->e == NULL) {
            w->j++;
        }
        return 1;
    }
    frost_channel_t *to = w->e->channel;
    w->e = w->e->pk_next;
    if (w->e == NULL) {
        w->j++;
    }
    frost_channel_tickets_t *t = frost__channel_tickets(to);
    if (t->reached == 0) {
        if (chanvec_push(&w->found, to) < 0) {
            return -1;
        }
        t->reached = 1;
    }
    return 1;
}

/*
 * Under lock: x and the channels it is held through, when only their queues
 * hold them, into *garbage, each with a count taken (the caller drains and
 * releases them). -1 when out of memory: nothing is found (a live channel is
 * never drained; out of memory in the forward walk only, the backward walk
 * decides alone).
 */
static int
find_garbage(frost_channel_t *x, chanvec_t *garbage)
{
    if (held_outside(x)) {
        collect_steps++;
        return 0;
    }
    walk_t back = {0}, fwd = {0};
    int b = -1, f = 1;
    size_t steps = 0, checked = 0;
    if (chanvec_push(&back.found, x) < 0) {
        goto done;
    }
    frost__channel_tickets(x)->mark = 1;
    if (chanvec_push(&fwd.found, x) < 0) {
        goto done;
    }
    frost__channel_tickets(x)->reached = 1;
    while ((b = walk_back(&back)) == 1) {
        steps++;
        if (f == 1) {
            f = walk_forward(&fwd);
            steps += f == 1;
        }
        if (f == 0) {   /* a channel found behind x that x does not reach: live */
            for (; checked < back.found.n; checked++) {
                if (!frost__channel_tickets(back.found.v[checked])->reached) {
                    b = 2;
                    break;
                }
            }
            if (b == 2) {
                break;
            }
        }
    }
    steps++;
    if (b == 0) {   /* no channel held from outside reaches any found */
        size_t first = garbage->n;
        for (size_t i = 0; i < back.found.n; i++) {
            if (chanvec_push(garbage, back.found.v[i]) < 0) {
                garbage->n = first;
                b = -1;
                goto done;
            }
        }
        for (size_t i = first; i < garbage->n; i++) {
            frost__channel_acquire(garbage->v[i]);   /* a ticket holds one: alive */
        }
    }
done:
    collect_steps += steps;
    for (size_t i = 0; i < back.found.n; i++) {
        frost__channel_tickets(back.found.v[i])->mark = 0;
    }
    for (size_t i = 0; i < fwd.found.n; i++) {
        frost__channel_tickets(fwd.found.v[i])->reached = 0;
    }
    free(back.found.v);
    free(fwd.found.v);
    return b < 0 ? -1 : 0;
}

/* x may have become garbage (the caller holds a count on it): drain what is.
 * Draining releases tickets, which brings other channels here: they wait in
 * `pending` until this collection is done (no recursion, however long a
 * chain of channels queued in each other). */
static void
collect_channels(frost_channel_t *x)
{
    if (collecting) {
        if (chanvec_push(&pending, x) == 0) {   /* out of memory: not looked at */
            frost__channel_acquire(x);
        }
        return;
    }
    collecting = 1;
    frost__channel_acquire(x);
    for (;;) {
        chanvec_t garbage = {0};
        pthread_mutex_lock(&lock);
        find_garbage(x, &garbage);
        pthread_mutex_unlock(&lock);
        for (size_t i = 0; i < garbage.n; i++) {
            frost__channel_drain(garbage.v[i]);
        }
        for (size_t i = 0; i < garbage.n; i++) {
            frost__channel_release(garbage.v[i]);
        }
        free(garbage.v);
        frost__channel_release(x);
        if (pending.n == 0) {
            break;
        }
        x = pending.v[--pending.n];
    }
    free(pending.v);
    pending = (chanvec_t){0};
    collecting = 0;
}

void
frost__xref_channel_orphaned(frost_channel_t *ch)
{
    collect_channels(ch);
}

PyObject *
frost__collect_steps(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromUnsignedLongLong(atomic_load(&collect_steps));
}

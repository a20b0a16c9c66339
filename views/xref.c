/*
 * xref.c -- the cross-interpreter reference: the one way a frost Store, view
 * or Channel is named outside the interpreter that holds it. Every path that
 * moves one between interpreters goes through here: pickling (__reduce__ and
 * _rebuild / _channel_attach), frost._transport (the pool's tasks and
 * results, Channel messages) and cross-interpreter data (xidata.c).
 *
 * Two things live here:
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
 *    A message (_transport.dumps) is a header listing its tickets, then the
 *    pickle, whose persistent ids are indexes into that list. Whoever ends a
 *    message's life releases its tickets: the receiver after loading it
 *    (loaded or failed half way alike), or the sender's side when it is never
 *    delivered (a cancelled task, a channel freed with messages queued).
 *
 *    A ticket may also carry a file descriptor (_export_fd: a dup that the
 *    ticket owns, closed when it is released): a mapped image (format 2,
 *    python/frost/_mapped.py) crosses as its memfd's fd, so the image lives
 *    until the message is received or discarded, whoever held it before;
 *    _import_fd gives the receiver a dup of its own.
 *
 * Channels that hold references to themselves (a channel sent on itself, or
 * two sent on each other) would keep each other alive forever; a ticket
 * queued in a channel is "parked" there, and when a channel loses its last
 * handle the channels reachable only through parked tickets of such channels
 * are drained (collect_channels).
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

PyObject *
frost__reduce_ref(FrostView *view, uintptr_t ref, PyObject *slice)
{
    frost_store_t *store = view->lease->store;
    PyObject *module = PyType_GetModule(Py_TYPE(view->lease));
    PyObject *rebuild = module ? PyObject_GetAttrString(module, "_rebuild") : NULL;
    if (rebuild == NULL) {
        return NULL;
    }
    unsigned long long id = frost_store_id(store), token = frost_store_token(store, ref);
    return slice ? Py_BuildValue("(N(KKKO))", rebuild, id, (unsigned long long)ref, token, slice)
                 : Py_BuildValue("(N(KKK))", rebuild, id, (unsigned long long)ref, token);
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
    int fd;                      /* an fd ticket: owned (else -1) */
    frost_channel_t *parked_in;  /* queued in that channel (no count), or NULL */
    struct sent_s *next;         /* bucket chain */
} sent_t;

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
    pthread_mutex_unlock(&lock);
    atomic_fetch_add(&live_sent, 1);
    return e;
}

static void collect_channels(void);

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
    if (e->fd >= 0) {
        close(e->fd);
    }
    if (e->channel != NULL) {
        int orphan = frost__channel_handles(e->channel) == 0;
        frost__channel_release(e->channel);
        if (orphan) {
            collect_channels();   /* it may now be reachable only from its own queue */
        }
    }
    free(e);
    return 1;
}

/* A new sent reference to a Store, view or Channel of this interpreter. */
static int
sent_export(frost_state *st, PyObject *obj, uint64_t *ticket, uint64_t *token)
{
    sent_t *e = calloc(1, sizeof *e);
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    e->fd = -1;
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
        /* the view's own __reduce__ names its node (and slice): one decoder for both */
        PyObject *reduced = PyObject_CallMethod(obj, "__reduce__", NULL);
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
    if (e != NULL && e->fd >= 0) {
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

/* ---- tickets and messages in Python ----------------------------------------- */

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
    long fd = PyLong_Check(arg) ? PyLong_AsLong(arg) : -1;
    if (fd < 0 || fd > INT_MAX) {
        if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "_export_fd(): fd must be an int >= 0, not %R", arg);
        }
        return NULL;
    }
    sent_t *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return PyErr_NoMemory();
    }
    e->fd = fcntl((int)fd, F_DUPFD_CLOEXEC, 0);
    if (e->fd < 0) {
        free(e);
        return PyErr_SetFromErrno(PyExc_OSError);
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
    pthread_mutex_lock(&lock);
    sent_t *e = secret != 0 ? find_locked(ticket, token) : NULL;
    int found = e != NULL && e->fd >= 0;
    int fd = found ? fcntl(e->fd, F_DUPFD_CLOEXEC, 0) : -1;
    int err = errno;
    pthread_mutex_unlock(&lock);
    if (!found) {
        PyErr_SetString(PyExc_ValueError, "invalid frost reference: not an fd ticket in flight "
                        "(already released, never sent, or a store's)");
        return NULL;
    }
    if (fd < 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    PyObject *r = PyLong_FromLong(fd);
    if (r == NULL) {
        close(fd);
    }
    return r;
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

/*
 * A message: MAGIC, u32 n, n x (u64 ticket, u64 token) little-endian, then
 * the pickle. Read without trusting it: a short or malformed header names
 * no tickets.
 */
static const char MAGIC[4] = {'F', 'X', 'M', '1'};
#define HEADER_FIXED 8u
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

/* The number of tickets in a message (0 for a malformed one); *body: offset of the pickle. */
static size_t
message_tickets(const char *data, size_t len, size_t *body)
{
    *body = 0;
    if (len < HEADER_FIXED || memcmp(data, MAGIC, 4) != 0) {
        return 0;
    }
    const unsigned char *p = (const unsigned char *)data + 4;
    size_t n = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    if (n > (len - HEADER_FIXED) / TICKET_BYTES) {
        return 0;
    }
    *body = HEADER_FIXED + n * TICKET_BYTES;
    return n;
}

static void
message_ticket(const char *data, size_t i, uint64_t *ticket, uint64_t *token)
{
    const unsigned char *p = (const unsigned char *)data + HEADER_FIXED + i * TICKET_BYTES;
    *ticket = read_u64(p);
    *token = read_u64(p + 8);
}

void
frost__message_release(const char *data, size_t len)
{
    size_t body;
    size_t n = message_tickets(data, len, &body);
    for (size_t i = 0; i < n; i++) {
        uint64_t ticket, token;
        message_ticket(data, i, &ticket, &token);
        sent_release(ticket, token);
    }
}

void
frost__message_park(const char *data, size_t len, frost_channel_t *ch)
{
    size_t body;
    size_t n = message_tickets(data, len, &body);
    if (n == 0) {
        return;
    }
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n && secret != 0; i++) {
        uint64_t ticket, token;
        message_ticket(data, i, &ticket, &token);
        sent_t *e = find_locked(ticket, token);
        if (e != NULL) {
            e->parked_in = ch;
        }
    }
    pthread_mutex_unlock(&lock);
}

/* _message(tickets, body) -> bytes */
PyObject *
frost__message_pack(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *tickets;
    Py_buffer body;
    if (!PyArg_ParseTuple(args, "O!y*:_message", &PyList_Type, &tickets, &body)) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(tickets);
    PyObject *out = NULL;
    if (n > UINT32_MAX || (size_t)body.len > (size_t)PY_SSIZE_T_MAX - HEADER_FIXED - (size_t)n * TICKET_BYTES) {
        PyErr_SetString(PyExc_OverflowError, "frost message too large");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(HEADER_FIXED + (size_t)n * TICKET_BYTES) + body.len);
    if (out == NULL) {
        goto done;
    }
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
    memcpy(p, MAGIC, 4);
    for (int i = 0; i < 4; i++) {
        p[4 + i] = (unsigned char)((size_t)n >> (8 * i));
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t ticket, token;
        if (ticket_parse(PyList_GET_ITEM(tickets, i), &ticket, &token) < 0) {
            Py_CLEAR(out);
            goto done;
        }
        write_u64(p + HEADER_FIXED + (size_t)i * TICKET_BYTES, ticket);
        write_u64(p + HEADER_FIXED + (size_t)i * TICKET_BYTES + 8, token);
    }
    memcpy(p + HEADER_FIXED + (size_t)n * TICKET_BYTES, body.buf, (size_t)body.len);
done:
    PyBuffer_Release(&body);
    return out;
}

/* _message_header(data) -> (tickets tuple, offset of the pickle) */
PyObject *
frost__message_header(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    size_t body;
    size_t n = message_tickets(data.buf, (size_t)data.len, &body);
    PyObject *tickets = body == 0 ? NULL : PyTuple_New((Py_ssize_t)n);
    if (body == 0) {
        PyErr_SetString(PyExc_ValueError, "not a frost message (bad header)");
    }
    for (size_t i = 0; tickets != NULL && i < n; i++) {
        uint64_t ticket, token;
        message_ticket(data.buf, i, &ticket, &token);
        PyObject *t = ticket_object(ticket, token);
        if (t == NULL) {
            Py_CLEAR(tickets);
            break;
        }
        PyTuple_SET_ITEM(tickets, (Py_ssize_t)i, t);
    }
    PyBuffer_Release(&data);
    return tickets ? Py_BuildValue("(Nn)", tickets, (Py_ssize_t)body) : NULL;
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

static _Thread_local int collecting, collect_again;

/* Find channels with no handle whose every ticket is parked in such a
 * channel, and drain them (which releases those tickets). */
static void
collect_channels(void)
{
    if (collecting) {
        collect_again = 1;   /* draining released a ticket: look once more after */
        return;
    }
    collecting = 1;
    do {
        collect_again = 0;
        size_t cap = 0, n = 0;
        frost_channel_t **cand = NULL;
        unsigned char *live = NULL;
        pthread_mutex_lock(&lock);
        for (unsigned b = 0; b < SENT_BUCKETS; b++) {
            for (sent_t *e = buckets[b]; e != NULL; e = e->next) {
                if (e->channel == NULL || frost__channel_handles(e->channel) != 0) {
                    continue;
                }
                size_t i = 0;
                while (i < n && cand[i] != e->channel) {
                    i++;
                }
                if (i < n) {
                    continue;
                }
                if (n == cap) {
                    cap = cap ? 2 * cap : 8;
                    frost_channel_t **grown = realloc(cand, cap * sizeof *cand);
                    if (grown == NULL) {
                        n = 0;   /* no memory: collect nothing now (never drain a live one) */
                        goto scanned;
                    }
                    cand = grown;
                }
                cand[n++] = e->channel;
            }
        }
    scanned:
        live = n ? calloc(n, 1) : NULL;
        if (n && live == NULL) {
            n = 0;
        }
        for (int changed = 1; changed && n;) {
            changed = 0;
            for (unsigned b = 0; b < SENT_BUCKETS; b++) {
                for (sent_t *e = buckets[b]; e != NULL; e = e->next) {
                    if (e->channel == NULL) {
                        continue;
                    }
                    size_t t = 0, p = n;
                    while (t < n && cand[t] != e->channel) {
                        t++;
                    }
                    if (t == n || live[t]) {
                        continue;
                    }
                    for (size_t i = 0; e->parked_in != NULL && i < n; i++) {
                        if (cand[i] == e->parked_in) {
                            p = i;
                        }
                    }
                    if (p == n || live[p]) {   /* held from outside the garbage */
                        live[t] = 1;
                        changed = 1;
                    }
                }
            }
        }
        size_t ngarbage = 0;
        for (size_t i = 0; i < n; i++) {
            if (!live[i]) {
                frost__channel_acquire(cand[i]);
                cand[ngarbage++] = cand[i];
            }
        }
        pthread_mutex_unlock(&lock);
        for (size_t i = 0; i < ngarbage; i++) {
            frost__channel_drain(cand[i]);
            frost__channel_release(cand[i]);
        }
        free(live);
        free(cand);
    } while (collect_again);
    collecting = 0;
}

void
frost__xref_channel_orphaned(void)
{
    collect_channels();
}

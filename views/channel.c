/*
 * channel.c -- frost.Channel: a FIFO between interpreters of one process.
 *
 * The queue (frost_channel_t) is process-global raw memory: a mutex, two
 * condition variables, a linked list of messages, an atomic count of the
 * Channel objects (handles, in any interpreter) plus the sent references to
 * it (tickets, views/xref.c).
 * A message is the bytes of frost._transport.dumps(obj): its tickets, then
 * the pickle. The queue owns a message from send until recv pops it; a
 * message's life ends in msg_free, which releases its tickets (xref.c) --
 * after recv has loaded it (whether loading succeeded or not), or when the
 * channel is drained or freed with it still queued. While queued its tickets
 * are "parked" here, so that a channel reachable only through its own queue
 * is found and drained (xref.c: collect_channels).
 *
 * Blocking: send/recv release the GIL and wait on a condition variable; the
 * wait wakes at least every FROST_CHANNEL_SIGNAL_SLICE seconds to let the main
 * thread see KeyboardInterrupt.
 *
 * Crossing: a Channel pickles by reference (id + token, _channel_attach in
 * xref.c), like stores; through frost._transport it travels as a ticket.
 */
#include "views.h"
#include "frost_internal.h"   // frost__mix64, frost__new_secret, frost__acquire_if_live

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FROST_CHANNEL_SIGNAL_SLICE 0.1

typedef struct channel_msg_s {
    struct channel_msg_s *next;
    size_t len;
    char data[];                    /* a message of _transport.dumps (its tickets, then the pickle) */
} channel_msg_t;

typedef struct frost_channel_s {
    uint64_t id;                    /* immutable */
    uint64_t secret;                /* immutable: key of the pickling token */
    Py_ssize_t maxsize;             /* immutable: 0 = unbounded */
    pthread_mutex_t lock;
    pthread_cond_t not_empty;       /* signalled on send and close */
    pthread_cond_t not_full;        /* signalled on recv and close */
    channel_msg_t *head, *tail;     /* guarded by lock */
    Py_ssize_t count;               /* guarded by lock */
    int closed;                     /* guarded by lock */
    _Atomic size_t refcount;        /* Channel objects + sent references (tickets, xref.c) */
    _Atomic size_t handles;         /* Channel objects, in any interpreter */
    struct frost_channel_s *next;   /* registry; guarded by registry_lock */
} frost_channel_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static frost_channel_t *registry_head;
static uint64_t registry_next_id = 1;
static _Atomic size_t live_channels;     /* made and not yet freed */

static uint64_t
channel_token(const frost_channel_t *ch)
{
    return frost__mix64(ch->secret ^ 0xC4A77E1ull);
}

/* End a message's life: release its tickets (xref.c), then free it. */
static void
msg_free(channel_msg_t *m)
{
    frost__message_release(m->data, m->len);
    free(m);
}

static frost_channel_t *
channel_new(Py_ssize_t maxsize)
{
    frost_channel_t *ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        return NULL;
    }
    ch->maxsize = maxsize;
    pthread_mutex_init(&ch->lock, NULL);
    pthread_cond_init(&ch->not_empty, NULL);
    pthread_cond_init(&ch->not_full, NULL);
    atomic_init(&ch->refcount, 1);
    atomic_init(&ch->handles, 0);
    atomic_fetch_add(&live_channels, 1);
    pthread_mutex_lock(&registry_lock);
    ch->id = registry_next_id++;
    ch->next = registry_head;
    registry_head = ch;
    pthread_mutex_unlock(&registry_lock);
    ch->secret = frost__new_secret(ch->id, ch);
    return ch;
}

frost_channel_t *
frost__channel_acquire_by_id(uint64_t id, uint64_t token)
{
    frost_channel_t *found = NULL;
    pthread_mutex_lock(&registry_lock);
    for (frost_channel_t *ch = registry_head; ch != NULL; ch = ch->next) {
        if (ch->id == id && channel_token(ch) == token) {
            if (frost__acquire_if_live(&ch->refcount)) {
                found = ch;
            }
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

void
frost__channel_acquire(frost_channel_t *ch)
{
    atomic_fetch_add(&ch->refcount, 1);
}

size_t
frost__channel_handles(const frost_channel_t *ch)
{
    return atomic_load(&ch->handles);
}

/* Take the queue (closing the channel) and end the messages' lives. */
void
frost__channel_drain(frost_channel_t *ch)
{
    pthread_mutex_lock(&ch->lock);
    channel_msg_t *m = ch->head;
    ch->head = ch->tail = NULL;
    ch->count = 0;
    ch->closed = 1;
    pthread_cond_broadcast(&ch->not_empty);
    pthread_cond_broadcast(&ch->not_full);
    pthread_mutex_unlock(&ch->lock);
    for (channel_msg_t *next; m != NULL; m = next) {
        next = m->next;
        msg_free(m);
    }
}

void
frost__channel_release(frost_channel_t *ch)
{
    if (atomic_fetch_sub(&ch->refcount, 1) != 1) {
        return;
    }
    pthread_mutex_lock(&registry_lock);
    for (frost_channel_t **p = &registry_head; *p != NULL; p = &(*p)->next) {
        if (*p == ch) {
            *p = ch->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    frost__channel_drain(ch);
    atomic_fetch_sub(&live_channels, 1);
    pthread_cond_destroy(&ch->not_empty);
    pthread_cond_destroy(&ch->not_full);
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

/* ---- waiting ------------------------------------------------------------ */

typedef enum { WAIT_READY, WAIT_TIMEOUT, WAIT_ERROR } wait_result_t;

/*
 * Wait (lock held, GIL held on entry and exit) until `ready(ch)` holds or the
 * deadline passes. The GIL is released while waiting; every slice it is
 * taken back briefly to check signals.
 */
static wait_result_t
wait_for(frost_channel_t *ch, pthread_cond_t *cond, int (*ready)(frost_channel_t *), double timeout)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double deadline = timeout < 0 ? INFINITY : now.tv_sec + now.tv_nsec * 1e-9 + timeout;
    while (!ready(ch)) {
        clock_gettime(CLOCK_REALTIME, &now);
        double t = now.tv_sec + now.tv_nsec * 1e-9;
        if (t >= deadline) {
            return WAIT_TIMEOUT;
        }
        double until = fmin(deadline, t + FROST_CHANNEL_SIGNAL_SLICE);
        struct timespec ts = {.tv_sec = (time_t)until,
                              .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
        Py_BEGIN_ALLOW_THREADS
        pthread_cond_timedwait(cond, &ch->lock, &ts);
        Py_END_ALLOW_THREADS
        if (!ready(ch)) {
            pthread_mutex_unlock(&ch->lock);
            int rc = PyErr_CheckSignals();
            pthread_mutex_lock(&ch->lock);
            if (rc < 0) {
                return WAIT_ERROR;
            }
        }
    }
    return WAIT_READY;
}

static int
can_send(frost_channel_t *ch)
{
    return ch->closed || ch->maxsize <= 0 || ch->count < ch->maxsize;
}

static int
can_recv(frost_channel_t *ch)
{
    return ch->closed || ch->count > 0;
}

/* ---- the Python type ---------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    frost_channel_t *ch;            /* one reference */
} FrostChannel;

#define CH(o) (((FrostChannel *)(o))->ch)

static PyObject *
transport_call(const char *name, PyObject *arg)
{
    PyObject *mod = PyImport_ImportModule("frost._transport");
    if (mod == NULL) {
        return NULL;
    }
    PyObject *fn = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    if (fn == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_CallOneArg(fn, arg);   /* not CallMethod("O"): it unpacks tuples */
    Py_DECREF(fn);
    return r;
}

static PyObject *
wrap_channel(PyTypeObject *tp, frost_channel_t *ch)
{
    FrostChannel *self = PyObject_New(FrostChannel, tp);
    if (self == NULL) {
        frost__channel_release(ch);
        return NULL;
    }
    atomic_fetch_add(&ch->handles, 1);
    self->ch = ch;
    return (PyObject *)self;
}

PyObject *
frost__channel_wrap(frost_state *st, frost_channel_t *ch)
{
    return wrap_channel(st->channel_type, ch);
}

frost_channel_t *
frost__channel_of(frost_state *st, PyObject *obj)
{
    return Py_TYPE(obj) == st->channel_type ? CH(obj) : NULL;
}

size_t
frost__channel_live_count(void)
{
    return atomic_load(&live_channels);
}

static PyObject *
channel_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"maxsize", NULL};
    PyObject *maxsize_obj = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Channel", kwlist, &maxsize_obj)) {
        return NULL;
    }
    Py_ssize_t maxsize = 0;
    if (maxsize_obj != NULL) {
        if (!PyLong_Check(maxsize_obj) || PyBool_Check(maxsize_obj)) {
            PyErr_Format(PyExc_TypeError, "Channel maxsize must be an int, not %.200s",
                         Py_TYPE(maxsize_obj)->tp_name);
            return NULL;
        }
        maxsize = PyLong_AsSsize_t(maxsize_obj);
        if (maxsize == -1 && PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "Channel maxsize out of range: %R", maxsize_obj);
            return NULL;
        }
    }
    if (maxsize < 0) {
        PyErr_Format(PyExc_ValueError, "Channel maxsize must be >= 0 (0: unbounded), not %zd", maxsize);
        return NULL;
    }
    frost_channel_t *ch = channel_new(maxsize);
    if (ch == NULL) {
        return PyErr_NoMemory();
    }
    return wrap_channel(tp, ch);
}

static void
channel_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    frost_channel_t *ch = CH(self);
    if (ch != NULL) {
        if (atomic_fetch_sub(&ch->handles, 1) == 1) {
            frost__xref_channel_orphaned();   /* maybe only its own queue holds it now */
        }
        frost__channel_release(ch);
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int
parse_timeout(PyObject *obj, double *timeout)
{
    *timeout = -1;
    if (obj == NULL || obj == Py_None) {
        return 0;
    }
    double t = PyFloat_AsDouble(obj);
    if (t == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "timeout must be a number or None, not %.200s",
                         Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    if (t < 0 || isnan(t)) {
        PyErr_SetString(PyExc_ValueError, "timeout must be a non-negative number or None");
        return -1;
    }
    *timeout = t;
    return 0;
}

static PyObject *
closed_error(PyObject *self, const char *what)
{
    frost_state *st = frost__state_of_type(Py_TYPE(self));
    if (st != NULL) {
        PyErr_Format(st->channel_closed_error, "%s a closed frost.Channel", what);
    }
    return NULL;
}

/* A queue entry holding a copy of `payload` (a _transport.dumps message,
 * whose tickets it now owns: on any failure here they are released). */
static channel_msg_t *
make_message(PyObject *payload)
{
    if (!PyBytes_Check(payload)) {
        PyErr_Format(PyExc_TypeError, "frost._transport.dumps returned %.200s, not bytes",
                     Py_TYPE(payload)->tp_name);
        return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(payload);
    channel_msg_t *m = malloc(sizeof *m + (size_t)len);
    if (m == NULL) {
        frost__message_release(PyBytes_AS_STRING(payload), (size_t)len);
        PyErr_NoMemory();
        return NULL;
    }
    m->next = NULL;
    m->len = (size_t)len;
    memcpy(m->data, PyBytes_AS_STRING(payload), (size_t)len);
    return m;
}

static PyObject *
channel_send(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"obj", "timeout", NULL};
    PyObject *obj, *timeout_obj = NULL;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:send", kwlist, &obj, &timeout_obj)
        || parse_timeout(timeout_obj, &timeout) < 0) {
        return NULL;
    }
    PyObject *payload = transport_call("dumps", obj);
    if (payload == NULL) {
        return NULL;
    }
    channel_msg_t *m = make_message(payload);
    Py_DECREF(payload);
    if (m == NULL) {
        return NULL;
    }
    frost_channel_t *ch = CH(self);
    pthread_mutex_lock(&ch->lock);
    wait_result_t w = wait_for(ch, &ch->not_full, can_send, timeout);
    if (w != WAIT_READY || ch->closed) {
        int closed = ch->closed;
        pthread_mutex_unlock(&ch->lock);
        msg_free(m);
        if (w == WAIT_TIMEOUT && !closed) {
            PyErr_SetString(PyExc_TimeoutError, "frost.Channel.send timed out: the channel is full");
            return NULL;
        }
        return w == WAIT_ERROR ? NULL : closed_error(self, "send on");
    }
    if (ch->tail) {
        ch->tail->next = m;
    }
    else {
        ch->head = m;
    }
    ch->tail = m;
    ch->count++;
    frost__message_park(m->data, m->len, ch);   /* its tickets now live in this queue */
    pthread_cond_signal(&ch->not_empty);
    pthread_mutex_unlock(&ch->lock);
    Py_RETURN_NONE;
}

static PyObject *
channel_recv(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *timeout_obj = NULL;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:recv", kwlist, &timeout_obj)
        || parse_timeout(timeout_obj, &timeout) < 0) {
        return NULL;
    }
    frost_channel_t *ch = CH(self);
    pthread_mutex_lock(&ch->lock);
    wait_result_t w = wait_for(ch, &ch->not_empty, can_recv, timeout);
    if (w != WAIT_READY || ch->count == 0) {
        int closed = ch->closed;
        pthread_mutex_unlock(&ch->lock);
        if (w == WAIT_ERROR) {
            return NULL;
        }
        if (closed) {
            return closed_error(self, "recv on");
        }
        PyErr_SetString(PyExc_TimeoutError, "frost.Channel.recv timed out: the channel is empty");
        return NULL;
    }
    channel_msg_t *m = ch->head;
    ch->head = m->next;
    if (ch->head == NULL) {
        ch->tail = NULL;
    }
    ch->count--;
    frost__message_park(m->data, m->len, NULL);   /* in this receiver's hands now */
    pthread_cond_signal(&ch->not_full);
    pthread_mutex_unlock(&ch->lock);
    PyObject *payload = PyBytes_FromStringAndSize(m->data, (Py_ssize_t)m->len);
    PyObject *r = payload ? transport_call("loads", payload) : NULL;
    Py_XDECREF(payload);
    msg_free(m);   /* loaded, failed half way or not at all: its tickets are released */
    return r;
}

static PyObject *
channel_close(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    frost_channel_t *ch = CH(self);
    pthread_mutex_lock(&ch->lock);
    ch->closed = 1;
    pthread_cond_broadcast(&ch->not_empty);
    pthread_cond_broadcast(&ch->not_full);
    pthread_mutex_unlock(&ch->lock);
    Py_RETURN_NONE;
}

static PyObject *
channel_closed(PyObject *self, void *Py_UNUSED(closure))
{
    frost_channel_t *ch = CH(self);
    pthread_mutex_lock(&ch->lock);
    int closed = ch->closed;
    pthread_mutex_unlock(&ch->lock);
    return PyBool_FromLong(closed);
}

static Py_ssize_t
channel_len(PyObject *self)
{
    frost_channel_t *ch = CH(self);
    pthread_mutex_lock(&ch->lock);
    Py_ssize_t n = ch->count;
    pthread_mutex_unlock(&ch->lock);
    return n;
}

static PyObject *
channel_maxsize(PyObject *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(CH(self)->maxsize);
}

static PyObject *
channel_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *module = PyType_GetModule(Py_TYPE(self));
    PyObject *attach = module ? PyObject_GetAttrString(module, "_channel_attach") : NULL;
    if (attach == NULL) {
        return NULL;
    }
    return Py_BuildValue("(N(KK))", attach, (unsigned long long)CH(self)->id,
                         (unsigned long long)channel_token(CH(self)));
}

static PyObject *
channel_repr(PyObject *self)
{
    frost_channel_t *ch = CH(self);
    return PyUnicode_FromFormat("<frost.Channel id=%llu maxsize=%zd queued=%zd%s>",
                                (unsigned long long)ch->id, ch->maxsize, channel_len(self),
                                ch->closed ? " closed" : "");
}

static PyMethodDef channel_methods[] = {
    {"send", (PyCFunction)(void (*)(void))channel_send, METH_VARARGS | METH_KEYWORDS,
     "send(obj, timeout=None)\n--\n\nQueue obj (views by reference, plain values copied, "
     "others pickled); blocks while the channel is full. TimeoutError, ChannelClosedError."},
    {"recv", (PyCFunction)(void (*)(void))channel_recv, METH_VARARGS | METH_KEYWORDS,
     "recv(timeout=None)\n--\n\nThe oldest message; blocks while empty. TimeoutError; "
     "ChannelClosedError once closed and empty."},
    {"close", channel_close, METH_NOARGS,
     "close()\n--\n\nNo more sends; queued messages can still be received."},
    {"__reduce__", channel_reduce, METH_NOARGS, "Pickle by reference to the same channel."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef channel_getset[] = {
    {"closed", channel_closed, NULL, "True after close().", NULL},
    {"maxsize", channel_maxsize, NULL, "The capacity (0: unbounded).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot channel_slots[] = {
    {Py_tp_doc, "Channel(maxsize=0)\n--\n\nA FIFO usable from every interpreter of the process.\n"
                "frost stores and views travel by reference; plain values are copied."},
    {Py_tp_new, channel_tp_new},
    {Py_tp_dealloc, channel_dealloc},
    {Py_tp_repr, channel_repr},
    {Py_tp_methods, channel_methods},
    {Py_tp_getset, channel_getset},
    {Py_sq_length, channel_len},
    {0, NULL},
};

PyType_Spec FrostChannel_spec = {
    .name = "frost.Channel",
    .basicsize = sizeof(FrostChannel),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = channel_slots,
};

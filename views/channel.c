/*
 * channel.c -- frost.Channel: a FIFO between interpreters of one process.
 *
 * The queue (frost_channel_t) is process-global raw memory: a mutex, two
 * condition variables, a linked list of messages, an atomic count of the
 * Channel objects (handles, in any interpreter) plus the sent references to
 * it (tickets, views/xref.c).
 * A message is the bytes of frost._transport.dumps(obj): the pickle, then
 * its tickets (xref.c). The queue owns a message from send until recv pops it; a
 * message's life ends in msg_free, which releases its tickets (xref.c) --
 * after recv has loaded it (whether loading succeeded or not), or when the
 * channel is drained or freed with it still queued. While queued its tickets
 * are "parked" here, so that a channel reachable only through its own queue
 * is found and drained (xref.c: collect_channels, which walks the tickets to
 * a channel, kept in it: `tickets`).
 *
 * Blocking: send/recv release the GIL and wait on a condition variable; the
 * wait wakes at least every FROST_CHANNEL_SIGNAL_SLICE seconds to let the main
 * thread see KeyboardInterrupt and a pool worker see its interruption
 * (frost__wait_tick). Nobody waits for a GIL while holding ch->lock (see
 * "waiting" below).
 *
 * fork(): the registry and every channel's lock are held across it (see
 * channels_atfork_prepare): the child inherits every channel, usable.
 *
 * Crossing: a Channel pickles by reference (id + token, _channel_attach in
 * xref.c), like stores; in a message (frost__transport_dumps) it is a ticket.
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
    char data[];                    /* a message of _transport.dumps (the pickle, then its tickets) */
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
    frost_channel_tickets_t tickets;   /* the tickets to it: xref.c's, under its lock */
    struct frost_channel_s *next, **pprev;   /* registry bucket of id; guarded by registry_lock */
} frost_channel_t;

/* The registry: every channel not yet freed, in buckets by id, doubly linked.
 * (One list, searched to unlink: freeing the oldest of N channels cost O(N),
 * so N channels dropped oldest first -- reply channels received in order --
 * O(N^2).) */
#define REGISTRY_BUCKETS 1024u        /* power of two */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static frost_channel_t *registry[REGISTRY_BUCKETS];   /* guarded by registry_lock */
static uint64_t registry_next_id = 1;                 /* guarded by registry_lock */

static frost_channel_t **
registry_slot(uint64_t id)
{
    return &registry[frost__mix64(id) & (REGISTRY_BUCKETS - 1)];
}

/* Every channel of the registry, registry_lock held. */
#define FOR_EACH_CHANNEL(ch)                                     \
    for (unsigned b_ = 0; b_ < REGISTRY_BUCKETS; b_++)           \
        for (frost_channel_t *ch = registry[b_]; ch != NULL; ch = ch->next)
static _Atomic size_t live_channels;     /* made and not yet freed */

/* The condition variables of ch, on CLOCK_MONOTONIC (as a pool's): a wall
 * clock stepped back or forth does not stretch or cut a timeout. */
static void
init_conds(frost_channel_t *ch)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);   /* glibc: cannot fail */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ch->not_empty, &attr);
    pthread_cond_init(&ch->not_full, &attr);
    pthread_condattr_destroy(&attr);
}

/* fork(): hold the registry and every channel's lock across it, so the child
 * inherits consistent queues and free locks. Waiters in the parent's other
 * threads do not exist in the child: its condition variables start afresh. */
static void
channels_atfork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    FOR_EACH_CHANNEL(ch) {
        pthread_mutex_lock(&ch->lock);
    }
    frost__xref_atfork_lock();   /* last: a channel's lock is held when tickets are parked */
}

static void
channels_atfork_parent(void)
{
    frost__xref_atfork_unlock();
    FOR_EACH_CHANNEL(ch) {
        pthread_mutex_unlock(&ch->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void
channels_atfork_child(void)
{
    frost__xref_atfork_unlock();
    FOR_EACH_CHANNEL(ch) {
        init_conds(ch);
        pthread_mutex_unlock(&ch->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}

__attribute__((constructor)) static void
channels_atfork_register(void)
{
    pthread_atfork(channels_atfork_prepare, channels_atfork_parent, channels_atfork_child);
}

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
    init_conds(ch);
    atomic_init(&ch->refcount, 1);
    atomic_init(&ch->handles, 0);
    atomic_fetch_add(&live_channels, 1);
    pthread_mutex_lock(&registry_lock);
    ch->id = registry_next_id++;
    ch->secret = frost__new_secret(ch->id, ch);   /* before anyone can find it */
    frost_channel_t **slot = registry_slot(ch->id);
    ch->next = *slot;
    if (*slot != NULL) {
        (*slot)->pprev = &ch->next;
    }
    ch->pprev = slot;
    *slot = ch;
    pthread_mutex_unlock(&registry_lock);
    return ch;
}

frost_channel_t *
frost__channel_acquire_by_id(uint64_t id, uint64_t token)
{
    frost_channel_t *found = NULL;
    pthread_mutex_lock(&registry_lock);
    for (frost_channel_t *ch = *registry_slot(id); ch != NULL; ch = ch->next) {
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

frost_channel_tickets_t *
frost__channel_tickets(frost_channel_t *ch)
{
    return &ch->tickets;
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
    *ch->pprev = ch->next;
    if (ch->next != NULL) {
        ch->next->pprev = ch->pprev;
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

/*
 * The locking rule (docs/design.md, "Locks and the GIL"): nobody waits for a
 * GIL while holding ch->lock. A thread may take ch->lock with its GIL held
 * (len(), close(), closed) because every holder lets go without needing any
 * GIL; a blocked send/recv therefore waits with its GIL released and gives
 * ch->lock back *before* it takes its GIL again. (Taking the GIL back inside
 * the lock deadlocked against a thread of the same interpreter holding the
 * GIL and asking for ch->lock.)
 */

#define WAIT_TICK_KEY "frost._frost.wait_tick"

/* (code, globals) of the expression "None", compiled once per interpreter and
 * kept in the interpreter's own dict (PyInterpreterState_GetDict: objects of
 * one interpreter stay there, and go with it): a new reference, or NULL with
 * an exception. */
static PyObject *
wait_tick_code(void)
{
    PyObject *interp_dict = PyInterpreterState_GetDict(PyInterpreterState_Get());   /* borrowed */
    if (interp_dict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "frost: no interpreter dict for the wait tick");
        return NULL;
    }
    PyObject *cached = PyDict_GetItemString(interp_dict, WAIT_TICK_KEY);   /* borrowed */
    if (cached != NULL) {
        return Py_NewRef(cached);
    }
    PyObject *code = Py_CompileString("None", "<frost wait>", Py_eval_input);
    PyObject *globals = code ? PyDict_New() : NULL;
    PyObject *pair = globals ? PyTuple_Pack(2, code, globals) : NULL;
    Py_XDECREF(code);
    Py_XDECREF(globals);
    if (pair != NULL && PyDict_SetItemString(interp_dict, WAIT_TICK_KEY, pair) < 0) {
        Py_CLEAR(pair);
    }
    return pair;
}

/*
 * Between two slices of a blocking wait (GIL held): -1 with the exception
 * that must end the wait, else 0. Signals reach only the main thread
 * (PyErr_CheckSignals); an exception another thread raised in this one with
 * PyThreadState_SetAsyncExc -- how frost.Pool stops a running task, and the
 * threads a task left behind -- is delivered by CPython only when bytecode
 * runs (no C API runs the eval breaker's pending work), so one trivial code
 * object, compiled once per interpreter (wait_tick_code), is evaluated: its
 * first instruction raises that exception here instead of after the wait.
 */
int
frost__wait_tick(void)
{
    if (PyErr_CheckSignals() < 0) {
        return -1;
    }
    PyObject *pair = wait_tick_code();
    PyObject *r = pair ? PyEval_EvalCode(PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1),
                                         PyTuple_GET_ITEM(pair, 1))
                       : NULL;
    Py_XDECREF(pair);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

typedef enum { XFER_DONE, XFER_CLOSED, XFER_TIMEOUT, XFER_ERROR } xfer_result_t;

static double
now_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);   /* the clock of the condition variables */
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* Under ch->lock: queue *m, if there is room. */
static xfer_result_t
try_send_locked(frost_channel_t *ch, channel_msg_t **m)
{
    if (ch->closed) {
        return XFER_CLOSED;
    }
    if (ch->maxsize > 0 && ch->count >= ch->maxsize) {
        return XFER_TIMEOUT;   /* not yet */
    }
    if (ch->tail) {
        ch->tail->next = *m;
    }
    else {
        ch->head = *m;
    }
    ch->tail = *m;
    ch->count++;
    frost__message_park((*m)->data, (*m)->len, ch);   /* its tickets now live in this queue */
    *m = NULL;
    pthread_cond_signal(&ch->not_empty);
    return XFER_DONE;
}

/* Under ch->lock: take the oldest message into *m, if any. */
static xfer_result_t
try_recv_locked(frost_channel_t *ch, channel_msg_t **m)
{
    if (ch->count == 0) {
        return ch->closed ? XFER_CLOSED : XFER_TIMEOUT;
    }
    *m = ch->head;
    ch->head = (*m)->next;
    if (ch->head == NULL) {
        ch->tail = NULL;
    }
    ch->count--;
    frost__message_park((*m)->data, (*m)->len, NULL);   /* in this receiver's hands now */
    pthread_cond_signal(&ch->not_full);
    return XFER_DONE;
}

/*
 * Send (*m queued, set to NULL) or receive (*m set) within `timeout` seconds
 * (< 0: forever). Called with the GIL held; ch->lock is only ever held with
 * the GIL released. Every FROST_CHANNEL_SIGNAL_SLICE the GIL is taken back
 * (outside the lock) for frost__wait_tick: Ctrl-C, and the KeyboardInterrupt
 * or SystemExit a frost.Pool raises in a worker it stops, end the wait.
 */
static xfer_result_t
transfer(frost_channel_t *ch, int sending, channel_msg_t **m, double timeout)
{
    xfer_result_t (*attempt)(frost_channel_t *, channel_msg_t **) =
        sending ? try_send_locked : try_recv_locked;
    pthread_cond_t *cond = sending ? &ch->not_full : &ch->not_empty;
    double deadline = timeout < 0 ? INFINITY : now_seconds() + timeout;
    for (;;) {
        xfer_result_t r;
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&ch->lock);
        r = attempt(ch, m);
        if (r == XFER_TIMEOUT) {
            double until = fmin(deadline, now_seconds() + FROST_CHANNEL_SIGNAL_SLICE);
            if (until > now_seconds()) {
                struct timespec ts = {.tv_sec = (time_t)until,
                                      .tv_nsec = (long)((until - (double)(time_t)until) * 1e9)};
                pthread_cond_timedwait(cond, &ch->lock, &ts);
                r = attempt(ch, m);
            }
        }
        pthread_mutex_unlock(&ch->lock);
        Py_END_ALLOW_THREADS
        if (r != XFER_TIMEOUT) {
            return r;
        }
        if (now_seconds() >= deadline) {
            return XFER_TIMEOUT;
        }
        if (frost__wait_tick() < 0) {
            return XFER_ERROR;
        }
    }
}

/* ---- the Python type ---------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    frost_channel_t *ch;            /* one reference */
} FrostChannel;

#define CH(o) (((FrostChannel *)(o))->ch)

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
    if (maxsize_obj != NULL && frost__parse_index(maxsize_obj, "Channel maxsize", &maxsize) < 0) {
        return NULL;
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
            frost__xref_channel_orphaned(ch);   /* maybe only its own queue holds it now */
        }
        frost__channel_release(ch);
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

/* Raise `type` with a message naming the timeout, the error float() raised
 * while converting it as its cause. */
static int
timeout_error(PyObject *type, const char *what, PyObject *obj)
{
    PyObject *cause = PyErr_GetRaisedException();
    PyErr_Format(type, "timeout %s, not %.200s", what, Py_TYPE(obj)->tp_name);
    PyObject *exc = PyErr_GetRaisedException();
    PyException_SetCause(exc, cause);   /* steals cause */
    PyErr_SetRaisedException(exc);
    return -1;
}

int
frost__parse_timeout(PyObject *obj, double *timeout)
{
    *timeout = -1;
    if (obj == NULL || obj == Py_None) {
        return 0;
    }
    if (PyBool_Check(obj)) {   /* recv(True) is a mistake, not a 1 s timeout (map() says so too) */
        PyErr_SetString(PyExc_TypeError, "timeout must be a number or None, not bool");
        return -1;
    }
    double t = PyFloat_AsDouble(obj);   /* floats, ints, __float__ and __index__ objects */
    if (t == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Format(PyExc_TypeError, "timeout must be a number or None, not %.200s",
                         Py_TYPE(obj)->tp_name);
            return -1;
        }
        /* an int past a float's range (10**400), a Fraction, Decimal('sNaN'):
         * float()'s own message does not say which argument */
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            int overflow = 0;
            if (PyLong_Check(obj) && PyLong_AsLongAndOverflow(obj, &overflow) == -1 && overflow < 0) {
                return timeout_error(PyExc_ValueError, "must be a non-negative number or None", obj);
            }
            return timeout_error(PyExc_OverflowError,
                                 "is beyond a float's range (None: wait without end)", obj);
        }
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            return timeout_error(PyExc_ValueError, "must be a non-negative number or None", obj);
        }
        return -1;   /* anything else __float__ raised (KeyboardInterrupt, ...) */
    }
    if (t < 0 || isnan(t)) {
        PyObject *value = PyFloat_FromDouble(t);   /* its float(): no __repr__ of the caller's runs */
        if (value != NULL) {
            PyErr_Format(PyExc_ValueError, "timeout must be a non-negative number or None, not %R",
                         value);
            Py_DECREF(value);
        }
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
        || frost__parse_timeout(timeout_obj, &timeout) < 0) {
        return NULL;
    }
    frost_state *st = frost__state_of_type(Py_TYPE(self));
    PyObject *payload = st ? frost__transport_dumps(st, obj) : NULL;
    if (payload == NULL) {
        return NULL;
    }
    channel_msg_t *m = make_message(payload);
    Py_DECREF(payload);
    if (m == NULL) {
        return NULL;
    }
    switch (transfer(CH(self), 1, &m, timeout)) {
    case XFER_DONE:
        Py_RETURN_NONE;
    case XFER_TIMEOUT:
        PyErr_SetString(PyExc_TimeoutError, "frost.Channel.send timed out: the channel is full");
        break;
    case XFER_CLOSED:
        closed_error(self, "send on");
        break;
    case XFER_ERROR:
        break;
    }
    msg_free(m);
    return NULL;
}

static PyObject *
channel_recv(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *timeout_obj = NULL;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:recv", kwlist, &timeout_obj)
        || frost__parse_timeout(timeout_obj, &timeout) < 0) {
        return NULL;
    }
    channel_msg_t *m = NULL;
    switch (transfer(CH(self), 0, &m, timeout)) {
    case XFER_DONE:
        break;
    case XFER_TIMEOUT:
        PyErr_SetString(PyExc_TimeoutError, "frost.Channel.recv timed out: the channel is empty");
        return NULL;
    case XFER_CLOSED:
        return closed_error(self, "recv on");
    case XFER_ERROR:
        return NULL;
    }
    frost_state *st = frost__state_of_type(Py_TYPE(self));
    PyObject *payload = st ? PyBytes_FromStringAndSize(m->data, (Py_ssize_t)m->len) : NULL;
    PyObject *r = payload ? frost__transport_loads(st, payload, 1) : NULL;
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

/* Always true, like queue.Queue: with only __len__, an empty channel was
 * false, so `ch or Channel()` made a new channel instead of using ch. */
static int
channel_bool(PyObject *Py_UNUSED(self))
{
    return 1;
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
    if (module != NULL && frost__capturing()) {   /* in a message: a ticket */
        return frost__capture_channel(module, CH(self));
    }
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
    pthread_mutex_lock(&ch->lock);
    Py_ssize_t queued = ch->count;
    int closed = ch->closed;
    pthread_mutex_unlock(&ch->lock);
    return PyUnicode_FromFormat("<frost.Channel id=%llu maxsize=%zd queued=%zd%s>",
                                (unsigned long long)ch->id, ch->maxsize, queued,
                                closed ? " closed" : "");
}

static PyMethodDef channel_methods[] = {
    {"send", (PyCFunction)(void (*)(void))channel_send, METH_VARARGS | METH_KEYWORDS,
     "send($self, /, obj, timeout=None)\n--\n\nQueue obj (views by reference, plain values copied, "
     "others pickled); blocks while the channel is full. TimeoutError, ChannelClosedError."},
    {"recv", (PyCFunction)(void (*)(void))channel_recv, METH_VARARGS | METH_KEYWORDS,
     "recv($self, /, timeout=None)\n--\n\nThe oldest message; blocks while empty. TimeoutError; "
     "ChannelClosedError once closed and empty."},
    {"close", channel_close, METH_NOARGS,
     "close($self, /)\n--\n\nNo more sends; queued messages can still be received."},
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
                "frost stores and views travel by reference; plain values are copied.\n"
                "len(ch) is the number of messages queued; a Channel is always true\n"
                "(empty or not, like queue.Queue), so `ch or default` keeps ch."},
    {Py_tp_new, channel_tp_new},
    {Py_tp_dealloc, channel_dealloc},
    {Py_tp_repr, channel_repr},
    {Py_tp_methods, channel_methods},
    {Py_tp_getset, channel_getset},
    {Py_sq_length, channel_len},
    {Py_nb_bool, channel_bool},
    {0, NULL},
};

PyType_Spec FrostChannel_spec = {
    .name = "frost.Channel",
    .basicsize = sizeof(FrostChannel),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = channel_slots,
};

#include "net/conn.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/alloc.h"
#include "net/addr.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "net/netmetrics.h"
#include "proto/frame.h"

/* One queued output piece: a shared body plus a small per-connection tail. */
typedef struct out_entry {
    cc_sbuf *body;
    uint8_t tail_len;
    char tail[87];
} out_entry;

typedef struct out_queue {
    out_entry *items;
    size_t count;
    size_t cap;
} out_queue;

struct cc_conn {
    cc_net *net;
    uv_tcp_t tcp;
    uv_write_t wreq;
    uv_connect_t creq;
    uint64_t id;
    const cc_conn_ops *ops;
    void *user;
    cc_conn_limits lim;
    proto_framer framer;
    cc_buf held; /* input not yet consumed while paused */
    out_queue pending;
    out_queue inflight;
    cc_sbuf *block; /* the block the backlog is copied into: pending's last entry, or NULL */
    uv_buf_t *wbufs;
    size_t wbufs_cap;
    size_t queued;
    uint64_t seq;
    uint64_t last_rx_us;
    uint64_t deadline_us;   /* 0: none */
    uint64_t soft_since_us; /* when the output went over the soft limit; 0: it is not */
    size_t body_mem;        /* accounted bodies and tails of both queues */
    size_t out_mem;         /* body_mem plus the queue arrays, as last synced */
    size_t out_peak;        /* the most out_mem ever was */
    bool live;              /* out_mem counts in the net's mem_out_live */
    bool paused, closing, notified, uv_closing, writing, dirty, reading;
    bool tp_closing_done; /* the transport's closing hook ran */
    bool linger, shut;    /* close by half-closing first (cc_conn_linger); shutdown sent */
    uint64_t shut_us;     /* when the shutdown was sent */
    uv_shutdown_t sreq;
    const cc_conn_transport *tp; /* NULL for plain TCP lines */
    void *tp_ctx;
    tls_conn *tls;           /* NULL: plain TCP */
    cc_buf wire;             /* TLS: ciphertext being written, or waiting to be */
    const char *plain_reply; /* TLS server: sent in clear to a plaintext client */
    bool tls_shut;           /* TLS: the close_notify step ran */
    enum cc_close_reason reason;
    cc_conn *dirty_next;
    cc_conn *all_prev, *all_next;
    char peer[64];
};

/* One read buffer for the whole loop: libuv calls read right after alloc, and the loop
 * is single-threaded, so connections need not hold 64 KiB each. */
static char read_buffer[65536];
static uint64_t next_conn_id = 1;
/* Plaintext decrypted from TLS connections, one record at a time; like read_buffer it
 * is handed on before the next read. */
static char tls_plain[16384];
/* A TLS connection's ciphertext buffer larger than this is freed once written. */
#define WIRE_KEEP ((size_t)64 << 10)
/* How long a lingering close waits for the peer's end before closing anyway. */
#define LINGER_US 2000000u
/* What malloc adds to each block (its header and rounding), for the accounting. */
#define MALLOC_OVERHEAD 16u
/* Queue arrays and write vectors larger than this are freed once empty, so a burst does
 * not keep its peak allocation for the life of the connection. */
#define QUEUE_KEEP 256u
/* A freed connection that held more than this asks for memory to go back to the system
 * (a slow reader cut at the default soft limit of 256 KiB qualifies); the walk of
 * malloc's free lists that this costs runs once a second at most. */
#define TRIM_MIN ((size_t)128 << 10)
#define TRIM_EVERY_US 1000000u
/* Once BACKLOG_ENTRIES messages wait on a connection (a burst of answers to pipelined
 * requests in one turn, or a peer that does not read), its further messages are copied
 * into blocks of BLOCK_BYTES in pages of their own: thousands of small messages and a
 * queue array grown for them would otherwise sit in the heap among allocations that
 * outlive them, and the heap pages they spread over would stay resident after the burst
 * or the peer is gone. A block is also one write vector instead of two per message.
 * Messages larger than a quarter block keep their own entry. */
#define BLOCK_BYTES ((size_t)64 << 10)
#define BACKLOG_ENTRIES 16u

const char *cc_close_reason_name(enum cc_close_reason r)
{
    switch (r) {
    case CC_CLOSE_PEER: return "peer";
    case CC_CLOSE_LOCAL: return "local";
    case CC_CLOSE_SLOW: return "slow";
    case CC_CLOSE_IDLE: return "idle";
    case CC_CLOSE_TOO_LARGE: return "too_large";
    case CC_CLOSE_CONNECT: return "connect_failed";
    case CC_CLOSE_TIMEOUT: return "timeout";
    case CC_CLOSE_MEMORY: return "max_memory";
    case CC_CLOSE_TLS: return "tls";
    }
    return "unknown";
}

cc_conn_limits cc_conn_default_limits(void)
{
    cc_conn_limits l = {.max_line = PROTO_LINE_MAX_DEFAULT,
                        .out_hard = 8u * 1024u * 1024u,
                        .idle_timeout_s = 0,
                        .server_side = true};
    return l;
}

static void conn_start_write(cc_conn *c);
static void conn_finish_close(cc_conn *c);
static void conn_end(cc_conn *c);
static void unlink_all(cc_conn *c);

/* What one queued piece costs: its share of a body (counted whole on every connection
 * that queues it, as each could be the last to hold it), the body's header, and the
 * tail kept in the entry itself (the entry is counted with the array). */
static size_t entry_cost(const cc_sbuf *body)
{
    if (!body)
        return 0;
    if (body->map_len)
        return body->map_len;
    return body->len + sizeof(cc_sbuf) + MALLOC_OVERHEAD;
}

static size_t arrays_mem(const cc_conn *c)
{
    return (c->pending.cap + c->inflight.cap) * sizeof(out_entry) + c->wbufs_cap * sizeof(uv_buf_t);
}

/* Brings the connection's accounted output and the net's totals up to date. */
static void mem_sync(cc_conn *c)
{
    /* Ciphertext waiting in the socket's queue counts like the plaintext it replaced. */
    size_t now = c->body_mem + arrays_mem(c) + c->wire.len;
    cc_net *net = c->net;
    net->mem_out_all = net->mem_out_all - c->out_mem + now;
    if (c->live)
        net->mem_out_live = net->mem_out_live - c->out_mem + now;
    c->out_mem = now;
    if (now > c->out_peak)
        c->out_peak = now;
}

/* The connection no longer counts towards what max-memory compares: it is closing. */
static void mem_unlive(cc_conn *c)
{
    if (!c->live)
        return;
    c->live = false;
    c->net->mem_out_live -= c->out_mem;
}

static size_t in_mem(const cc_conn *c)
{
    size_t n = c->held.cap + c->framer.partial.cap;
    if (c->tp && c->tp->mem)
        n += c->tp->mem(c->tp_ctx);
    if (c->tls)
        n += tls_conn_mem(c->tls) + (c->wire.cap - c->wire.len);
    return n;
}

size_t cc_conn_mem(const cc_conn *c)
{
    return sizeof *c + c->out_mem + in_mem(c);
}

size_t cc_conn_out_mem(const cc_conn *c)
{
    return c->out_mem;
}

static void net_enforce_memory(cc_net *net);

static void on_kick(uv_idle_t *h)
{
    /* Nothing to do here: an active idle handle only keeps the poll from blocking. */
    (void)h;
}

static void mark_dirty(cc_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->dirty_next = c->net->dirty;
    c->net->dirty = c;
    /* A connection marked outside the loop's poll and check phases (a write finishing
     * in the pending phase) would otherwise wait for the next poll to time out before
     * the check phase flushes or closes it. */
    if (!c->net->closing && !uv_is_active((uv_handle_t *)&c->net->kick))
        uv_idle_start(&c->net->kick, on_kick);
}

static void queue_release(cc_conn *c, out_queue *q)
{
    if (q == &c->pending)
        c->block = NULL;
    for (size_t i = 0; i < q->count; i++) {
        c->body_mem -= entry_cost(q->items[i].body) + q->items[i].tail_len;
        cc_sbuf_unref(q->items[i].body);
    }
    q->count = 0;
    if (q->cap > QUEUE_KEEP) {
        free(q->items);
        q->items = NULL;
        q->cap = 0;
    }
}

/* Output to write: queued messages, or on TLS ciphertext (handshake messages, alerts, a
 * reply in clear) that no message produced. */
static bool has_output(const cc_conn *c)
{
    return c->pending.count || (c->tls && (c->wire.len || tls_conn_has_output(c->tls)));
}

/* A TLS connection ends its stream with a close_notify once its output is written, so
 * that the peer can tell the end from a cut; not after a failure or the peer's end. */
static void tls_close_notify(cc_conn *c)
{
    c->tls_shut = true;
    if (c->reason == CC_CLOSE_PEER || c->reason == CC_CLOSE_TLS || c->reason == CC_CLOSE_CONNECT)
        return;
    tls_conn_close_notify(c->tls);
    if (has_output(c))
        conn_start_write(c);
}

static void on_flush_check(uv_check_t *h)
{
    cc_net *net = h->data;
    /* Take the whole list: callbacks below may mark connections dirty again. */
    while (net->dirty) {
        cc_conn *list = net->dirty;
        net->dirty = NULL;
        while (list) {
            cc_conn *c = list;
            list = c->dirty_next;
            c->dirty = false;
            c->dirty_next = NULL;
            if (c->closing && !c->notified) {
                c->notified = true;
                if (c->ops->on_close)
                    c->ops->on_close(c, c->reason);
            }
            if (c->closing && (c->reason == CC_CLOSE_SLOW || c->reason == CC_CLOSE_MEMORY)) {
                queue_release(c, &c->pending);
                mem_sync(c);
                /* A cut peer that reads nothing would keep the write in progress (and
                 * everything in it) until it closed its end: the socket closes now, which
                 * cancels the write and frees its buffers. */
                if (!c->uv_closing) {
                    conn_finish_close(c);
                    continue;
                }
            }
            if (!c->writing && !c->uv_closing && has_output(c))
                conn_start_write(c);
            if (c->closing && c->tls && !c->tls_shut && !c->writing && !c->uv_closing)
                tls_close_notify(c);
            if (c->closing && !c->writing && !c->uv_closing)
                conn_end(c);
        }
    }
    uv_idle_stop(&net->kick);
#ifdef __GLIBC__
    /* Freed queues leave their pages in malloc's free lists, where a process that
     * served one slow peer would keep them for good: give them back. */
    if (net->trim_due && cc_mono_us() - net->trimmed_us >= TRIM_EVERY_US) {
        net->trim_due = false;
        net->trimmed_us = cc_mono_us();
        malloc_trim(0);
    }
#endif
}

/* Input that arrived while the process could not run (stopped, swapped out, a long
 * loop turn) is still in the socket when the timers run, before the loop polls: it
 * counts as activity, and it is read before any clock decides about this peer. */
static bool input_waiting(cc_conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, FIONREAD, &n) != 0)
        return false;
    return n > 0;
}

/* Cuts a peer whose output stayed over its soft limit for its seconds. */
static bool check_soft(cc_conn *c, uint64_t now)
{
    if (!c->lim.out_soft || c->out_mem <= c->lim.out_soft) {
        c->soft_since_us = 0;
        return false;
    }
    if (!c->soft_since_us) {
        c->soft_since_us = now;
        return false;
    }
    if (now - c->soft_since_us < (uint64_t)c->lim.out_soft_s * 1000000u)
        return false;
    c->net->stats.closed_slow++;
    LOG_WARN("event=conn_slow conn=%" PRIu64 " peer=%s queued=%zu soft_limit=%zu seconds=%u", c->id,
             c->peer, c->out_mem, c->lim.out_soft, c->lim.out_soft_s);
    cc_conn_close(c, CC_CLOSE_SLOW);
    return true;
}

/* The idle sweep looks at every connection once a round of SWEEP_ROUND_MS, a slice of
 * them every SWEEP_ROUND_MS / SWEEP_SLICES: one walk of 10,000 connections takes some
 * 3 ms of a loop turn, which every message arriving meanwhile would wait for. */
#define SWEEP_ROUND_MS 250u
#define SWEEP_SLICES 10u

static void on_idle_timer(uv_timer_t *t)
{
    cc_net *net = t->data;
    uint64_t now = cc_mono_us();
    /* The daemons' one periodic tick: the heap's growth is marked for huge pages here
     * (a comparison unless the heap grew; common/alloc.h). */
    cc_heap_huge_pages_refresh();
    if (!net->sweep) {
        net->sweep = net->all;
        net->sweep_in = 0;
    }
    size_t quota = net->nall / SWEEP_SLICES + 1;
    cc_conn *c;
    while (quota > 0 && (c = net->sweep)) {
        quota--;
        /* Advanced first: closing c may unlink it (cc_conn's unlink moves the cursor
         * past any connection it removes). */
        net->sweep = c->all_next;
        if (c->closing && c->shut && !c->uv_closing && now - c->shut_us > LINGER_US) {
            conn_finish_close(c);
            continue;
        }
        if (c->closing)
            continue;
        net->sweep_in += in_mem(c);
        if (check_soft(c, now))
            continue;
        /* A paused connection waits for the answer to a request of its own (a password
         * check, a commit): it counts as active until then. */
        bool idle = c->lim.idle_timeout_s && !c->paused &&
                    now - c->last_rx_us > (uint64_t)c->lim.idle_timeout_s * 1000000u;
        bool late = c->deadline_us && now > c->deadline_us;
        if (!idle && !late)
            continue;
        if (input_waiting(c)) {
            if (idle && !late)
                net->stats.idle_spared++;
            c->last_rx_us = now;
            continue;
        }
        if (late) {
            net->stats.closed_timeout++;
            c->deadline_us = 0;
            LOG_INFO("event=conn_deadline conn=%" PRIu64 " peer=%s", c->id, c->peer);
            if (c->ops->on_deadline)
                c->ops->on_deadline(c);
            cc_conn_close(c, CC_CLOSE_TIMEOUT);
            continue;
        }
        net->stats.closed_idle++;
        LOG_INFO("event=conn_idle conn=%" PRIu64 " peer=%s", c->id, c->peer);
        cc_conn_close(c, CC_CLOSE_IDLE);
    }
    if (net->sweep)
        return;
    /* The round is complete: its sum is the input memory max-memory compares. */
    net->mem_in = net->sweep_in;
    net->cut_futile = false;
    net_enforce_memory(net);
}

/* Over max-memory: the biggest consumers go first, until the total is under the cap or
 * no connection is big enough to be worth cutting. */
static void net_enforce_memory(cc_net *net)
{
    while (cc_net_over_memory(net)) {
        cc_conn *big = NULL;
        size_t big_mem = CC_NET_CUT_MIN;
        for (cc_conn *c = net->all; c; c = c->all_next) {
            if (c->closing)
                continue;
            size_t m = cc_conn_mem(c);
            if (m > big_mem) {
                big = c;
                big_mem = m;
            }
        }
        if (!big) {
            net->cut_futile = true;
            return;
        }
        net->stats.closed_memory++;
        LOG_WARN("event=conn_cut reason=max_memory conn=%" PRIu64 " peer=%s mem=%zu used=%zu "
                 "max_memory=%zu",
                 big->id, big->peer, big_mem, cc_net_mem_used(net), net->mem_max);
        size_t in = in_mem(big);
        cc_conn_close(big, CC_CLOSE_MEMORY);
        net->mem_in = net->mem_in > in ? net->mem_in - in : 0;
    }
}

void cc_net_set_max_memory(cc_net *net, size_t bytes)
{
    net->mem_max = bytes;
}

size_t cc_net_mem_used(const cc_net *net)
{
    return net->mem_out_live + net->mem_in + net->mem_extra;
}

bool cc_net_over_memory(const cc_net *net)
{
    return net->mem_max && cc_net_mem_used(net) > net->mem_max;
}

void cc_net_mem_declare(cc_net *net, long long delta)
{
    if (delta < 0 && (size_t)(-delta) > net->mem_extra)
        net->mem_extra = 0;
    else
        net->mem_extra = (size_t)((long long)net->mem_extra + delta);
}

/* A number with an optional k, m or g suffix (powers of 1024). */
static bool parse_size(const char *s, const char **end, uint64_t *out)
{
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t n = 0;
    while (isdigit((unsigned char)*s)) {
        if (n > (UINT64_MAX - 9) / 10)
            return false;
        n = n * 10 + (uint64_t)(*s++ - '0');
    }
    unsigned shift = 0;
    if (*s == 'k' || *s == 'K')
        shift = 10;
    else if (*s == 'm' || *s == 'M')
        shift = 20;
    else if (*s == 'g' || *s == 'G')
        shift = 30;
    if (shift) {
        s++;
        if (n > (UINT64_MAX >> shift))
            return false;
        n <<= shift;
    }
    *end = s;
    *out = n;
    return true;
}

bool cc_out_limit_parse(const char *v, size_t min, size_t max, cc_out_limit *out)
{
    uint64_t n[3] = {0, 0, 0};
    int k = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (k == 3 || !parse_size(p, &p, &n[k]))
            return false;
        if (*p && *p != ' ' && *p != '\t')
            return false;
        k++;
    }
    if ((k != 1 && k != 3) || n[0] < min || n[0] > max || n[1] > n[0] || n[2] > 86400)
        return false;
    out->hard = (size_t)n[0];
    out->soft = (size_t)n[1];
    out->soft_s = (unsigned)n[2];
    return true;
}

void cc_net_init(cc_net *net, uv_loop_t *loop)
{
    memset(net, 0, sizeof *net);
    net->loop = loop;
    uv_check_init(loop, &net->flush_check);
    net->flush_check.data = net;
    uv_check_start(&net->flush_check, on_flush_check);
    uv_idle_init(loop, &net->kick);
    uv_unref((uv_handle_t *)&net->kick);
    uv_timer_init(loop, &net->idle_timer);
    net->idle_timer.data = net;
    uv_timer_start(&net->idle_timer, on_idle_timer, SWEEP_ROUND_MS / SWEEP_SLICES,
                   SWEEP_ROUND_MS / SWEEP_SLICES);
    /* The timer alone must not keep the loop alive. */
    uv_unref((uv_handle_t *)&net->idle_timer);
    uv_unref((uv_handle_t *)&net->flush_check);
}

void cc_net_close(cc_net *net)
{
    net->closing = true;
    uv_check_stop(&net->flush_check);
    uv_idle_stop(&net->kick);
    uv_timer_stop(&net->idle_timer);
    uv_close((uv_handle_t *)&net->flush_check, NULL);
    uv_close((uv_handle_t *)&net->kick, NULL);
    uv_close((uv_handle_t *)&net->idle_timer, NULL);
}

static cc_conn *conn_new(cc_net *net, const cc_conn_ops *ops, const cc_conn_limits *limits,
                         void *user)
{
    cc_conn *c = xcalloc(1, sizeof *c);
    c->net = net;
    c->id = next_conn_id++;
    c->ops = ops;
    c->user = user;
    c->lim = limits ? *limits : cc_conn_default_limits();
    proto_framer_init(&c->framer, c->lim.max_line);
    cc_buf_init(&c->held);
    c->last_rx_us = cc_mono_us();
    c->live = true;
    uv_tcp_init(net->loop, &c->tcp);
    c->tcp.data = c;
    c->all_next = net->all;
    if (net->all)
        net->all->all_prev = c;
    net->all = c;
    net->nall++;
    return c;
}

static void on_uv_closed(uv_handle_t *h)
{
    cc_conn *c = h->data;
    if (c->out_peak + in_mem(c) > TRIM_MIN)
        c->net->trim_due = true;
    queue_release(c, &c->pending);
    queue_release(c, &c->inflight);
    free(c->pending.items);
    free(c->inflight.items);
    free(c->wbufs);
    c->pending.cap = c->inflight.cap = c->wbufs_cap = 0;
    mem_unlive(c);
    mem_sync(c);
    proto_framer_free(&c->framer);
    cc_buf_free(&c->held);
    if (c->tp && c->tp->free_ctx)
        c->tp->free_ctx(c->tp_ctx);
    tls_conn_free(c->tls);
    cc_buf_free(&c->wire);
    free(c);
}

static void conn_finish_close(cc_conn *c)
{
    assert(c->closing && !c->uv_closing);
    c->uv_closing = true;
    unlink_all(c);
    uv_close((uv_handle_t *)&c->tcp, on_uv_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    cc_conn *c = req->data;
    if (status < 0 && !c->uv_closing)
        conn_finish_close(c);
}

/* Everything queued is written: close the socket, or for a lingering close send our
 * end first and go on reading (and discarding) until the peer's end or a timeout, so
 * that input still in flight cannot turn into a reset that destroys our last answer. */
static void conn_end(cc_conn *c)
{
    if (!c->linger || c->reason == CC_CLOSE_PEER) {
        conn_finish_close(c);
        return;
    }
    if (c->shut)
        return;
    c->shut = true;
    c->shut_us = cc_mono_us();
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        conn_finish_close(c);
}

static void unlink_all(cc_conn *c)
{
    if (!c->all_prev && c->net->all != c)
        return;
    c->net->nall--;
    if (c->net->sweep == c)
        c->net->sweep = c->all_next;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else if (c->net->all == c)
        c->net->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    c->all_prev = c->all_next = NULL;
}

void cc_conn_close(cc_conn *c, enum cc_close_reason reason)
{
    if (c->closing)
        return;
    if (c->tp && c->tp->closing && !c->tp_closing_done && reason != CC_CLOSE_PEER &&
        reason != CC_CLOSE_CONNECT && reason != CC_CLOSE_SLOW && reason != CC_CLOSE_MEMORY &&
        reason != CC_CLOSE_TLS) {
        c->tp_closing_done = true;
        c->tp->closing(c, c->tp_ctx, reason);
        if (c->closing)
            return;
    }
    c->closing = true;
    c->reason = reason;
    mem_unlive(c);
    /* A lingering connection keeps reading (on_read discards) and stays in the list the
     * idle timer walks, which ends the linger. */
    if (!c->linger) {
        if (c->reading)
            uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        unlink_all(c);
    }
    if (reason != CC_CLOSE_PEER && reason != CC_CLOSE_CONNECT)
        LOG_DEBUG("event=conn_close conn=%" PRIu64 " reason=%s", c->id,
                  cc_close_reason_name(reason));
    /* on_close and the socket close run from the check phase, so an owner that closes a
     * connection while walking its lists never sees them change under it. */
    mark_dirty(c);
}

/* The write of inflight ended (status < 0: it failed). */
static void write_finished(cc_conn *c, int status)
{
    c->writing = false;
    for (size_t i = 0; i < c->inflight.count; i++) {
        size_t n = c->inflight.items[i].body ? c->inflight.items[i].body->len : 0;
        n += c->inflight.items[i].tail_len;
        c->queued -= n;
        c->net->stats.bytes_out += n;
    }
    queue_release(c, &c->inflight);
    if (c->wire.len) {
        c->queued -= c->wire.len;
        c->net->stats.bytes_out += c->wire.len;
        c->wire.len = 0;
        if (c->wire.cap > WIRE_KEEP)
            cc_buf_free(&c->wire);
    }
    if (c->wbufs_cap > 2 * QUEUE_KEEP) {
        free(c->wbufs);
        c->wbufs = NULL;
        c->wbufs_cap = 0;
    }
    mem_sync(c);
    if (c->uv_closing)
        return;
    if (status < 0) {
        queue_release(c, &c->pending);
        mem_sync(c);
        cc_conn_close(c, CC_CLOSE_PEER);
    }
    /* A connection that was closing already when its write failed still has to reach
     * conn_finish_close from the check phase; cc_conn_close does not mark it again. */
    if (has_output(c) || c->closing)
        mark_dirty(c);
}

static void on_write_done(uv_write_t *req, int status)
{
    write_finished(req->data, status);
}

/* Fills the write vectors from the inflight queue; returns their count. */
static size_t build_wbufs(cc_conn *c)
{
    size_t need = c->inflight.count * 2;
    if (need > c->wbufs_cap) {
        c->wbufs_cap = need * 2;
        c->wbufs = xrealloc(c->wbufs, c->wbufs_cap * sizeof *c->wbufs);
        mem_sync(c);
    }
    size_t n = 0;
    for (size_t i = 0; i < c->inflight.count; i++) {
        out_entry *e = &c->inflight.items[i];
        if (e->body && e->body->len)
            c->wbufs[n++] = uv_buf_init(e->body->data, (unsigned)e->body->len);
        if (e->tail_len)
            c->wbufs[n++] = uv_buf_init(e->tail, e->tail_len);
    }
    return n;
}

/* Writes n vectors (their bytes stay untouched until the write finishes). */
static void write_vectors(cc_conn *c, uv_buf_t *bufs, size_t n)
{
    c->writing = true;
    /* Most writes go out at once: trying first spares libuv's write request and the
     * epoll changes it makes; only what the socket did not take waits for POLLOUT. */
    int sent = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
    if (sent < 0 && sent != UV_EAGAIN) {
        write_finished(c, sent);
        return;
    }
    size_t skip = sent > 0 ? (size_t)sent : 0, first = 0;
    while (first < n && skip >= bufs[first].len)
        skip -= bufs[first++].len;
    if (first == n) {
        write_finished(c, 0);
        return;
    }
    bufs[first].base += skip;
    bufs[first].len -= skip;
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs + first, (unsigned)(n - first),
                      on_write_done);
    if (rc < 0) {
        c->writing = false;
        queue_release(c, &c->inflight);
        queue_release(c, &c->pending);
        mem_sync(c);
        cc_conn_close(c, CC_CLOSE_PEER);
    }
}

/* A TLS connection failed: one line, and the close (an alert OpenSSL queued still goes
 * out first). */
static void tls_fail(cc_conn *c)
{
    char why[160];
    c->net->stats.tls_failed++;
    LOG_WARN("event=tls_failed conn=%" PRIu64 " peer=%s why=%s", c->id, c->peer,
             LOGQ(tls_conn_error(c->tls, why, sizeof why)));
    cc_conn_close(c, CC_CLOSE_TLS);
}

/* TLS: the queued messages are encrypted into the connection's ciphertext buffer (once
 * the handshake is done; until then they wait), which is written in their place. The
 * plaintext entries are released at once: the ciphertext is what the queue holds now. */
static void tls_start_write(cc_conn *c)
{
    size_t before = c->wire.len;
    if (c->pending.count && tls_conn_ready(c->tls)) {
        c->block = NULL;
        out_queue tmp = c->inflight;
        c->inflight = c->pending;
        c->pending = tmp;
        size_t n = build_wbufs(c), plain = 0;
        for (size_t i = 0; i < n; i++)
            plain += c->wbufs[i].len;
        int rc = tls_conn_writev(c->tls, c->wbufs, n, &c->wire);
        c->queued -= plain;
        queue_release(c, &c->inflight);
        if (rc < 0) {
            c->queued += c->wire.len - before;
            mem_sync(c);
            tls_fail(c);
            return;
        }
    } else {
        tls_conn_take_output(c->tls, &c->wire);
    }
    c->queued += c->wire.len - before;
    mem_sync(c);
    if (!c->wire.len)
        return;
    uv_buf_t b = uv_buf_init(c->wire.data, (unsigned)c->wire.len);
    write_vectors(c, &b, 1);
}

static void conn_start_write(cc_conn *c)
{
    assert(!c->writing);
    if (c->tls) {
        tls_start_write(c);
        return;
    }
    c->block = NULL;
    out_queue tmp = c->inflight;
    c->inflight = c->pending;
    c->pending = tmp;
    size_t n = build_wbufs(c);
    write_vectors(c, c->wbufs, n);
}

static out_entry *queue_add(out_queue *q)
{
    if (q->count == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 8;
        q->items = xrealloc(q->items, q->cap * sizeof *q->items);
    }
    return &q->items[q->count++];
}

/* Copies a message into the block at the end of the queue (a new one when the last has
 * no room); false when few messages wait or the message is too big for a block. */
static bool backlog_append(cc_conn *c, const cc_sbuf *body, const char *tail, size_t tail_len)
{
    size_t body_len = body ? body->len : 0, n = body_len + tail_len;
    if (c->pending.count < BACKLOG_ENTRIES || n > BLOCK_BYTES / 4)
        return false;
    if (!c->block || c->block->spare < n) {
        out_entry *e = queue_add(&c->pending);
        c->block = cc_sbuf_block(BLOCK_BYTES);
        e->body = c->block;
        e->tail_len = 0;
        c->body_mem += entry_cost(c->block);
    }
    if (body_len)
        cc_sbuf_block_append(c->block, body->data, body_len);
    if (tail_len)
        cc_sbuf_block_append(c->block, tail, tail_len);
    c->queued += n;
    return true;
}

static void queue_push_any(cc_conn *c, cc_sbuf *body, const char *tail, size_t tail_len)
{
    out_queue *q = &c->pending;
    assert(tail_len <= sizeof q->items[0].tail);
    if (!backlog_append(c, body, tail, tail_len)) {
        /* An entry after the block: nothing may be appended to the block any more, or it
         * would overtake this one. */
        c->block = NULL;
        out_entry *e = queue_add(q);
        e->body = body ? cc_sbuf_ref(body) : NULL;
        e->tail_len = (uint8_t)tail_len;
        if (tail_len)
            memcpy(e->tail, tail, tail_len);
        c->queued += (body ? body->len : 0) + tail_len;
        c->body_mem += entry_cost(body) + tail_len;
    }
    mem_sync(c);
    mark_dirty(c);
    if (c->closing)
        return;
    if (c->out_mem > c->lim.out_hard) {
        c->net->stats.closed_slow++;
        LOG_WARN("event=conn_slow conn=%" PRIu64 " peer=%s queued=%zu limit=%zu", c->id, c->peer,
                 c->out_mem, c->lim.out_hard);
        cc_conn_close(c, CC_CLOSE_SLOW);
        return;
    }
    if (c->lim.out_soft && c->out_mem > c->lim.out_soft && check_soft(c, cc_mono_us()))
        return;
    /* Looking for the biggest walks every connection: when that found nobody worth
     * cutting, sends leave it to the next sweep. */
    if (c->net->mem_max && !c->net->cut_futile && c->net->mem_out_live > c->net->mem_max)
        net_enforce_memory(c->net);
}

static void queue_push(cc_conn *c, cc_sbuf *body, const char *tail, size_t tail_len)
{
    if (c->closing)
        return;
    queue_push_any(c, body, tail, tail_len);
}

/* A message through a transport: its frame header, then the shared body, then the tail
 * without its newline (one message per frame needs no line end). */
static void send_framed(cc_conn *c, cc_sbuf *body, const char *tail, size_t tail_len)
{
    if (c->closing)
        return;
    assert(tail_len > 0 && tail[tail_len - 1] == '\n');
    tail_len--;
    char head[CC_CONN_HEAD_MAX];
    size_t hl = c->tp->head(c->tp_ctx, (body ? body->len : 0) + tail_len, head);
    assert(hl <= sizeof head);
    queue_push(c, NULL, head, hl);
    queue_push(c, body, tail, tail_len);
}

void cc_conn_send_open(cc_conn *c, cc_sbuf *body, const char *extra)
{
    char tail[sizeof((out_entry *)0)->tail];
    int n;
    cc_netm_sent(body->data, body->len);
    if (c->lim.server_side)
        n = snprintf(tail, sizeof tail, "%s,\"seq\":%" PRIu64 "}\n", extra ? extra : "", ++c->seq);
    else
        n = snprintf(tail, sizeof tail, "%s}\n", extra ? extra : "");
    assert(n > 0 && (size_t)n < sizeof tail);
    if (c->tp && c->tp->head)
        send_framed(c, body, tail, (size_t)n);
    else
        queue_push(c, body, tail, (size_t)n);
}

void cc_conn_send_buf(cc_conn *c, const cc_buf *b)
{
    cc_sbuf *s = cc_sbuf_new(b->data, b->len);
    cc_conn_send_open(c, s, NULL);
    cc_sbuf_unref(s);
}

void cc_conn_send_raw(cc_conn *c, cc_sbuf *bytes)
{
    /* Through a transport the bytes are one message: a trailing newline is dropped. */
    if (c->tp && c->tp->head && bytes->len && bytes->data[bytes->len - 1] == '\n') {
        cc_sbuf *msg = cc_sbuf_new(bytes->data, bytes->len - 1);
        send_framed(c, msg, "\n", 1);
        cc_sbuf_unref(msg);
        return;
    }
    if (c->tp && c->tp->head) {
        send_framed(c, bytes, "\n", 1);
        return;
    }
    queue_push(c, bytes, NULL, 0);
}

void cc_conn_send_wire(cc_conn *c, cc_sbuf *bytes)
{
    /* A connection cut for a full queue sends nothing more, and one whose socket is
     * closing cannot. */
    if (c->uv_closing || (c->closing && c->reason == CC_CLOSE_SLOW))
        return;
    queue_push_any(c, bytes, NULL, 0);
}

void cc_conn_set_transport(cc_conn *c, const cc_conn_transport *t, void *ctx)
{
    c->tp = t;
    c->tp_ctx = ctx;
    c->tp_closing_done = false;
}

int cc_conn_deliver(cc_conn *c, const char *msg, size_t len)
{
    if (c->closing)
        return CC_E_CLOSED;
    int rc = c->ops->on_line(c, msg, len);
    if (c->closing)
        return CC_E_CLOSED;
    return rc;
}

void cc_conn_adopt(cc_conn *c, const cc_conn_ops *ops, const cc_conn_limits *limits, void *user)
{
    assert(!c->closing);
    c->ops = ops;
    c->user = user;
    if (limits) {
        c->lim = *limits;
        proto_framer_free(&c->framer);
        proto_framer_init(&c->framer, c->lim.max_line);
        if (c->tp && c->tp->set_max)
            c->tp->set_max(c->tp_ctx, c->lim.max_line);
    }
}

void cc_conn_set_max_line(cc_conn *c, size_t max_line)
{
    c->lim.max_line = max_line;
    c->framer.max_line = max_line;
    if (c->tp && c->tp->set_max)
        c->tp->set_max(c->tp_ctx, max_line);
}

void cc_conn_set_deadline(cc_conn *c, unsigned seconds)
{
    c->deadline_us = seconds ? cc_mono_us() + (uint64_t)seconds * 1000000u : 0;
}

bool cc_conn_has_deadline(const cc_conn *c)
{
    return c->deadline_us != 0;
}

bool cc_conn_has_transport(const cc_conn *c)
{
    return c->tp != NULL;
}

const char *cc_conn_peer_host(const cc_conn *c, char *buf, size_t len)
{
    const char *p = c->peer;
    size_t n = strlen(p);
    const char *colon = strrchr(p, ':');
    if (colon)
        n = (size_t)(colon - p);
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
        p++;
        n -= 2;
    }
    snprintf(buf, len, "%.*s", (int)n, p);
    return buf;
}

void cc_conn_linger(cc_conn *c)
{
    c->linger = true;
}

void cc_conn_start_tls(cc_conn *c, tls_ctx *t, const char *host, const char *plain_reply)
{
    assert(!c->tls);
    c->tls = tls_conn_new(t, host);
    c->plain_reply = plain_reply;
}

bool cc_conn_is_tls(const cc_conn *c)
{
    return c->tls != NULL;
}

cc_net *cc_conn_net(const cc_conn *c)
{
    return c->net;
}

size_t cc_conn_max_line(const cc_conn *c)
{
    return c->lim.max_line;
}

static int deliver_line(void *ctx, const char *line, size_t len)
{
    cc_conn *c = ctx;
    int rc = c->ops->on_line(c, line, len);
    if (c->closing)
        return CC_E_CLOSED;
    return rc;
}

static void conn_feed(cc_conn *c, const char *data, size_t len)
{
    if (c->tp) {
        c->tp->feed(c, c->tp_ctx, data, len);
        return;
    }
    size_t used = 0;
    int rc = proto_framer_feed(&c->framer, data, len, deliver_line, c, &used);
    if (rc == PROTO_FRAME_PAUSE) {
        cc_buf_append(&c->held, data + used, len - used);
        return;
    }
    if (rc == CC_E_MESSAGE_TOO_LARGE && !c->closing) {
        c->net->stats.closed_too_large++;
        if (c->ops->on_too_large)
            c->ops->on_too_large(c);
        cc_conn_close(c, CC_CLOSE_TOO_LARGE);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(read_buffer, sizeof read_buffer);
}

/* Input kept unread while paused at most: one line's maximum, and at least 64 KiB. */
static size_t held_max(const cc_conn *c)
{
    return c->lim.max_line > 65536 ? c->lim.max_line : 65536;
}

/* Plaintext input: held while paused (reading stops past a bound), else framed. */
static void conn_input(cc_conn *c, const char *data, size_t len)
{
    if (c->paused) {
        cc_buf_append(&c->held, data, len);
        /* A pause keeps reading into held up to a bound, which spares the two epoll
         * changes of stopping and restarting for every request that waits a turn; a
         * peer that sends more than that while paused is simply not read. */
        if (c->held.len >= held_max(c) && c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        return;
    }
    conn_feed(c, data, len);
}

/* A plaintext client on a TLS port: a line, the reply in clear when there is one, and
 * the close. */
static void tls_refuse_plaintext(cc_conn *c)
{
    c->net->stats.tls_plaintext++;
    LOG_WARN("event=tls_refused conn=%" PRIu64 " peer=%s why=plaintext_client", c->id, c->peer);
    if (c->plain_reply && !c->writing) {
        size_t before = c->wire.len;
        cc_buf_append(&c->wire, c->plain_reply, strlen(c->plain_reply));
        c->queued += c->wire.len - before;
        mem_sync(c);
        cc_conn_linger(c);
    }
    cc_conn_close(c, CC_CLOSE_TLS);
}

/* Ciphertext input: decrypted one record at a time and handed on as plaintext. The
 * handshake runs in here too; its messages wait in the engine's output for the flush. */
static void tls_input(cc_conn *c, const char *data, size_t len)
{
    if (tls_conn_feed(c->tls, data, len) == TLS_E_NOT_TLS) {
        tls_refuse_plaintext(c);
        return;
    }
    bool was_ready = tls_conn_ready(c->tls);
    for (;;) {
        long n = tls_conn_read(c->tls, tls_plain, sizeof tls_plain);
        if (!was_ready && tls_conn_ready(c->tls)) {
            was_ready = true;
            c->net->stats.tls_handshakes++;
            if (c->pending.count)
                mark_dirty(c);
        }
        if (n > 0) {
            conn_input(c, tls_plain, (size_t)n);
            if (c->closing)
                return;
            continue;
        }
        if (n == 0)
            break;
        if (n == TLS_E_CLOSED) {
            cc_conn_close(c, CC_CLOSE_PEER);
            return;
        }
        tls_fail(c);
        return;
    }
    if (tls_conn_has_output(c->tls))
        mark_dirty(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    cc_conn *c = s->data;
    if (nread < 0) {
        if (c->closing && c->linger) {
            /* The peer's end came: nothing is left to wait for once our output is out. */
            c->linger = false;
            if (c->shut && !c->uv_closing)
                conn_finish_close(c);
            return;
        }
        cc_conn_close(c, CC_CLOSE_PEER);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    c->last_rx_us = cc_mono_us();
    c->net->stats.bytes_in += (uint64_t)nread;
    if (c->tls)
        tls_input(c, buf->base, (size_t)nread);
    else
        conn_input(c, buf->base, (size_t)nread);
}

static void start_reading(cc_conn *c)
{
    if (c->reading || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

static void set_peer(cc_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    char host[48] = "";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(c->peer, sizeof c->peer, "[%s]:%d", host, port);
    }
}

int cc_conn_accept(cc_net *net, uv_stream_t *server, const cc_conn_ops *ops,
                   const cc_conn_limits *limits, void *user, cc_conn **out)
{
    cc_conn *c = conn_new(net, ops, limits, user);
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        c->closing = c->notified = true;
        unlink_all(c);
        conn_finish_close(c);
        return rc;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    set_peer(c);
    net->stats.accepted++;
    start_reading(c);
    *out = c;
    return 0;
}

static void on_connected(uv_connect_t *req, int status)
{
    cc_conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        if (c->ops->on_connect)
            c->ops->on_connect(c, status);
        cc_conn_close(c, CC_CLOSE_CONNECT);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    set_peer(c);
    c->last_rx_us = cc_mono_us();
    start_reading(c);
    if (c->tls) {
        /* The ClientHello goes out with the first flush; what the owner queues now waits
         * for the handshake. */
        tls_conn_start(c->tls);
        mark_dirty(c);
    }
    if (c->ops->on_connect)
        c->ops->on_connect(c, 0);
}

int cc_conn_connect(cc_net *net, const char *addr, const cc_conn_ops *ops,
                    const cc_conn_limits *limits, void *user, cc_conn **out)
{
    struct sockaddr_storage ss;
    int rc = cc_parse_hostport(addr, &ss);
    if (rc < 0)
        return rc;
    cc_conn *c = conn_new(net, ops, limits, user);
    c->creq.data = c;
    rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&ss, on_connected);
    if (rc < 0) {
        c->closing = c->notified = true;
        unlink_all(c);
        conn_finish_close(c);
        return rc;
    }
    snprintf(c->peer, sizeof c->peer, "%s", addr);
    *out = c;
    return 0;
}

void *cc_conn_user(const cc_conn *c)
{
    return c->user;
}

void cc_conn_set_user(cc_conn *c, void *user)
{
    c->user = user;
}

uint64_t cc_conn_id(const cc_conn *c)
{
    return c->id;
}

const char *cc_conn_peer(const cc_conn *c)
{
    return c->peer;
}

bool cc_conn_is_closing(const cc_conn *c)
{
    return c->closing;
}

size_t cc_conn_queued(const cc_conn *c)
{
    return c->queued;
}

void cc_conn_set_idle_timeout(cc_conn *c, unsigned seconds)
{
    c->lim.idle_timeout_s = seconds;
}

void cc_conn_set_out_limit(cc_conn *c, size_t bytes)
{
    c->lim.out_hard = bytes;
}

void cc_conn_set_out_limits(cc_conn *c, const cc_out_limit *l)
{
    if (l->hard)
        c->lim.out_hard = l->hard;
    c->lim.out_soft = l->soft;
    c->lim.out_soft_s = l->soft_s;
    c->soft_since_us = 0;
}

uint64_t cc_conn_next_seq(const cc_conn *c)
{
    return c->seq + 1;
}

void cc_conn_pause(cc_conn *c)
{
    if (c->paused)
        return;
    c->paused = true;
    /* Reading goes on into held (on_read) until held_max; only then does it stop. */
    if (c->reading && c->held.len >= held_max(c)) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

void cc_conn_resume(cc_conn *c)
{
    if (!c->paused || c->closing)
        return;
    c->paused = false;
    /* The idle clock starts again when the request it waited for is answered. */
    c->last_rx_us = cc_mono_us();
    if (c->tp && c->tp->resume) {
        c->tp->resume(c, c->tp_ctx);
        if (c->paused || c->closing)
            return;
    }
    if (c->held.len) {
        cc_buf held = c->held;
        cc_buf_init(&c->held);
        conn_feed(c, held.data, held.len);
        cc_buf_free(&held);
    }
    if (!c->paused)
        start_reading(c);
}

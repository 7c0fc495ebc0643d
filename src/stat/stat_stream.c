#include "stat/stat_stream.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ticker.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/map.h"
#include "proto/statkey.h"

/* After a failed publish nothing more leaves for this long, so that a bucket that is gone
 * or a server that refuses is not asked again and again within one turn. */
#define HOLD_AFTER_ERROR_MS 200
/* Publishes leave in batches: when this many agents wait, or when the oldest change has
 * waited BATCH_WAIT_MS. Handing each change to the thread on its own costs a thread wakeup
 * per change, which at tens of thousands a second is most of the stream's CPU. */
#define BATCH_MIN 128
#define BATCH_WAIT_MS 1
/* How often the thread looks at the connection when nothing else wakes it. */
#define POLL_MS 50
/* The lag histogram: 8 buckets per power of two (about 9 % wide), microseconds up to
 * 2^40. */
#define LAG_SUB 8
#define LAG_BUCKETS (LAG_SUB + 38 * LAG_SUB)
/* The span of the "last" lag figures. */
#define SPAN_US 5000000u

/* One agent with a publish pending or in flight: the dirty set. */
typedef struct entry {
    char *key; /* the escaped key, the map's key too */
    size_t keylen;
    char *tenant; /* inside the same allocation */
    char *agent_id;
    cc_sbuf *body;     /* the status as changed, NULL: encoded when it leaves */
    bool gone;         /* with body: the agent is known nowhere (a delete) */
    uint64_t first_us; /* the oldest change not yet in a publish */
    uint64_t sent_us;  /* first_us of the publish in flight */
    bool dirty;        /* a change waits for a publish */
    bool inflight;     /* a publish awaits its answer */
    bool queued;       /* in the FIFO */
    struct entry *next;
} entry;

/* A publish handed to the thread: subject, then the value (none for a delete). */
typedef struct job {
    char *subject;
    char *data;
    int len;
    bool del;
    int64_t epoch;
} job;

/* Publishes answered by the ack of one more, the group's last (see publish_batch): the
 * keys of the others. */
typedef struct group {
    size_t n;
    char *keys[];
} group;

/* At most this many publishes share one ack. */
#define GROUP_MAX 64

/* An answer handed back: the key's escaped form (owned) and the outcome. */
typedef struct result {
    char *key;
    bool ok;
} result;

struct stat_stream {
    const stat_nats_config *cfg;
    stat_agents *agents;
    stat_stream_lag_fn lag_fn;
    stat_stream_owns_fn owns; /* NULL: every key of the bucket is this statserver's */
    void *owns_ctx;
    size_t max_dirty;
    size_t max_inflight;
    char *prefix; /* "$KV.<bucket>." */
    size_t prefix_len;
    /* The loop's side. */
    uv_loop_t *loop;
    uv_async_t async;
    uv_check_t check;
    uv_timer_t hold_timer;
    uv_timer_t batch_timer;
    bool primary;
    int64_t epoch;
    bool connected;   /* as the thread last said */
    bool want_resync; /* every known agent to be queued */
    bool overflowed;  /* a change was dropped: resync once the set drains */
    uint64_t hold_until_us;
    bool stopped;
    cc_map set; /* escaped key -> entry */
    entry *head, *tail;
    size_t inflight;
    size_t ndirty; /* entries with dirty set */
    stat_stream_stats stats;
    uint64_t first_pub_us, last_ack_us;
    uint64_t win_start_us, win_acks; /* the current second of acks, for the peak rate */
    double peak_per_s;
    uint64_t win_lag[LAG_BUCKETS];   /* the current second's lags */
    double peak_p50_ms, peak_p99_ms; /* those of the second with the peak rate */
    /* The lags of the current five seconds, and the figures of the last five complete
     * ones: at a stop right after a steady load, that load's own. */
    uint64_t span_start_us, span_n;
    uint64_t span_lag[LAG_BUCKETS];
    double last_span_per_s, last_span_p50_ms, last_span_p99_ms;
    uint64_t lag[LAG_BUCKETS];
    uint64_t lag_n, lag_max_us;
    cc_buf scratch;
    /* Shared with the thread; every field below is read and written under mu. */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    bool async_closed;
    job *jobs; /* ring of max_inflight */
    size_t job_head, job_count;
    result *results; /* ring of max_inflight */
    size_t res_head, res_count;
    bool t_connected;    /* the thread's view: connected and bound */
    uint64_t t_conn_gen; /* bumped at every (re)connection with the bucket bound */
    uint64_t seen_gen;   /* the loop's: the last generation acted on */
    bool want_keys;      /* the loop asks for the bucket's keys */
    kvKeysList *keys;    /* the answer, handed to the loop */
    cc_map groups;       /* the last publish's subject -> its group */
    bool rebind;         /* an answer said the bucket is gone */
};

/* ---- the loop's side ---- */

static void wake(stat_stream *s)
{
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void fifo_push(stat_stream *s, entry *e)
{
    e->queued = true;
    e->next = NULL;
    if (s->tail)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
}

static entry *fifo_pop(stat_stream *s)
{
    entry *e = s->head;
    if (!e)
        return NULL;
    s->head = e->next;
    if (!s->head)
        s->tail = NULL;
    e->queued = false;
    e->next = NULL;
    return e;
}

static void entry_free(entry *e)
{
    if (e->body)
        cc_sbuf_unref(e->body);
    free(e);
}

static void entry_drop(stat_stream *s, entry *e)
{
    cc_map_del(&s->set, e->key, e->keylen);
    entry_free(e);
}

/* Queues the agent for publishing; now_us is the change's time. body (NULL: encoded when
 * it leaves) replaces what the entry kept. */
static void mark(stat_stream *s, const char *tenant, const char *agent_id, uint64_t now_us,
                 cc_sbuf *body, bool known)
{
    char key[PROTO_STATKEY_MAX];
    size_t n = proto_statkey_make(key, sizeof key, tenant, agent_id);
    if (!n)
        return;
    entry *e = cc_map_get(&s->set, key, n);
    if (!e) {
        if (s->set.count >= s->max_dirty) {
            s->stats.dropped++;
            s->overflowed = true;
            return;
        }
        size_t tl = strlen(tenant) + 1, al = strlen(agent_id) + 1;
        e = xcalloc(1, sizeof *e + n + 1 + tl + al);
        e->key = (char *)(e + 1);
        memcpy(e->key, key, n + 1);
        e->keylen = n;
        e->tenant = e->key + n + 1;
        memcpy(e->tenant, tenant, tl);
        e->agent_id = e->tenant + tl;
        memcpy(e->agent_id, agent_id, al);
        cc_map_put(&s->set, key, n, e);
    }
    if (body || !e->dirty) {
        if (e->body)
            cc_sbuf_unref(e->body);
        e->body = body ? cc_sbuf_ref(body) : NULL;
        e->gone = !known;
    }
    if (e->dirty)
        return;
    e->dirty = true;
    s->ndirty++;
    e->first_us = now_us;
    /* An entry in flight goes back in the FIFO when its answer comes. */
    if (!e->inflight)
        fifo_push(s, e);
}

static void mark_cb(void *ctx, const char *tenant, const char *agent_id)
{
    stat_stream *s = ctx;
    mark(s, tenant, agent_id, cc_mono_us(), NULL, true);
}

/* Forgets every entry (a standby publishes nothing; a new primary starts over). Answers
 * still to come find no entry and only lower the count in flight. */
static void forget_all(stat_stream *s)
{
    size_t pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&s->set, &pos)))
        entry_free(ms->value);
    cc_map_free(&s->set);
    cc_map_init(&s->set);
    s->head = s->tail = NULL;
    s->ndirty = 0;
    s->overflowed = false;
}

/* The upper bound of lag bucket i, in microseconds. */
static double lag_upper(size_t i)
{
    if (i < LAG_SUB)
        return (double)i;
    size_t octave = (i - LAG_SUB) / LAG_SUB, sub = (i - LAG_SUB) % LAG_SUB;
    return (double)((uint64_t)(LAG_SUB + sub + 1) << octave);
}

/* The quantile q of the n lags counted in h, in ms (a bucket's upper bound). */
static double lag_quantile(const uint64_t *h, uint64_t n, double q)
{
    if (!n)
        return 0.0;
    uint64_t want = (uint64_t)(q * (double)n);
    if (want >= n)
        want = n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < LAG_BUCKETS; i++) {
        seen += h[i];
        if (seen > want)
            return lag_upper(i) / 1000.0;
    }
    return lag_upper(LAG_BUCKETS - 1) / 1000.0;
}

static void lag_record(stat_stream *s, uint64_t us)
{
    size_t i;
    if (us < LAG_SUB) {
        i = (size_t)us;
    } else {
        int msb = 63 - __builtin_clzll(us);
        int shift = msb - 3;
        i = LAG_SUB + (size_t)(msb - 3) * LAG_SUB + (size_t)((us >> shift) & (LAG_SUB - 1));
        if (i >= LAG_BUCKETS)
            i = LAG_BUCKETS - 1;
    }
    s->lag[i]++;
    s->win_lag[i]++;
    s->lag_n++;
    uint64_t now = cc_mono_us();
    if (now - s->span_start_us >= SPAN_US) {
        if (s->span_start_us) {
            s->last_span_per_s = (double)s->span_n * 1e6 / (double)(now - s->span_start_us);
            s->last_span_p50_ms = lag_quantile(s->span_lag, s->span_n, 0.50);
            s->last_span_p99_ms = lag_quantile(s->span_lag, s->span_n, 0.99);
        }
        s->span_start_us = now;
        s->span_n = 0;
        memset(s->span_lag, 0, sizeof s->span_lag);
    }
    s->span_lag[i]++;
    s->span_n++;
    if (us > s->lag_max_us)
        s->lag_max_us = us;
    if (s->lag_fn)
        s->lag_fn(us);
}

static void on_hold_timer(uv_timer_t *t);

static void hold(stat_stream *s, uint64_t now)
{
    s->hold_until_us = now + HOLD_AFTER_ERROR_MS * 1000u;
    if (!uv_is_active((uv_handle_t *)&s->hold_timer))
        uv_timer_start(&s->hold_timer, on_hold_timer, HOLD_AFTER_ERROR_MS + 1, 0);
}

/* One answer from the thread. */
static void answer(stat_stream *s, const result *r, uint64_t now)
{
    if (s->inflight > 0)
        s->inflight--;
    entry *e = cc_map_gets(&s->set, r->key);
    if (r->ok) {
        s->stats.published++;
        s->last_ack_us = now;
        if (now - s->win_start_us >= 1000000u) {
            double rate =
                s->win_start_us ? (double)s->win_acks * 1e6 / (double)(now - s->win_start_us) : 0.0;
            if (rate > s->peak_per_s) {
                s->peak_per_s = rate;
                s->peak_p50_ms = lag_quantile(s->win_lag, s->win_acks, 0.50);
                s->peak_p99_ms = lag_quantile(s->win_lag, s->win_acks, 0.99);
            }
            s->win_start_us = now;
            s->win_acks = 0;
            memset(s->win_lag, 0, sizeof s->win_lag);
        }
        s->win_acks++;
    } else {
        s->stats.errors++;
        hold(s, now);
    }
    if (!e || !e->inflight)
        return; /* an answer to a publish of a former primary term */
    e->inflight = false;
    if (r->ok) {
        lag_record(s, now > e->sent_us ? now - e->sent_us : 0);
        if (!e->dirty) {
            entry_drop(s, e);
            return;
        }
    } else if (!e->dirty) {
        e->dirty = true;
        s->ndirty++;
        e->first_us = e->sent_us;
    }
    fifo_push(s, e);
}

/* Makes the entry's publish: the agent's status as last changed (or, for an entry queued
 * by a resynchronisation, as it is now), or a delete when it is known nowhere. */
static void make_job(stat_stream *s, entry *e, job *j)
{
    bool known;
    cc_sbuf *body = e->body;
    e->body = NULL;
    if (body) {
        known = !e->gone;
    } else {
        known = stat_agents_known(s->agents, e->tenant, e->agent_id);
        if (known)
            body = stat_agents_status(s->agents, e->tenant, e->agent_id);
    }
    size_t len = 0;
    cc_buf_reset(&s->scratch);
    if (known) {
        cc_buf_append(&s->scratch, body->data, body->len);
        cc_buf_puts(&s->scratch, "}");
        len = s->scratch.len;
    }
    if (body)
        cc_sbuf_unref(body);
    j->subject = xmalloc(s->prefix_len + e->keylen + 1 + len + 1);
    memcpy(j->subject, s->prefix, s->prefix_len);
    memcpy(j->subject + s->prefix_len, e->key, e->keylen + 1);
    j->data = j->subject + s->prefix_len + e->keylen + 1;
    if (len)
        memcpy(j->data, s->scratch.data, len);
    j->data[len] = '\0';
    j->len = (int)len;
    j->del = !known;
    j->epoch = s->epoch;
    if (!known)
        s->stats.deleted++;
}

/* Takes in what the thread handed over, then sends what the limits allow. */
static void pump(stat_stream *s)
{
    if (s->stopped)
        return;
    uint64_t now = cc_mono_us();
    pthread_mutex_lock(&s->mu);
    size_t nres = s->res_count;
    result *res = NULL;
    if (nres) {
        res = xmalloc(nres * sizeof *res);
        for (size_t i = 0; i < nres; i++)
            res[i] = s->results[(s->res_head + i) % s->max_inflight];
        s->res_head = (s->res_head + nres) % s->max_inflight;
        s->res_count = 0;
    }
    bool connected = s->t_connected;
    uint64_t gen = s->t_conn_gen;
    kvKeysList *keys = s->keys;
    s->keys = NULL;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < nres; i++) {
        answer(s, &res[i], now);
        free(res[i].key);
    }
    free(res);
    if (connected != s->connected) {
        s->connected = connected;
        LOG_INFO("event=status_stream_%s bucket=%s dirty=%u", connected ? "up" : "down",
                 s->cfg->status_bucket, (unsigned)s->set.count);
    }
    if (!s->primary) {
        if (keys)
            kvKeysList_Destroy(keys);
        free(keys);
        return;
    }
    if (connected && gen != s->seen_gen) {
        /* A new connection (or bucket): it may have lost anything, and it may hold keys
         * of agents gone meanwhile. */
        s->seen_gen = gen;
        s->want_resync = true;
        pthread_mutex_lock(&s->mu);
        s->want_keys = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
    }
    if (keys) {
        char tenant[PROTO_ID_MAX + 1], agent_id[PROTO_ID_MAX + 1];
        for (int i = 0; i < keys->Count; i++) {
            const char *k = keys->Keys[i];
            if (proto_statkey_parse(k, strlen(k), tenant, sizeof tenant, agent_id,
                                    sizeof agent_id) &&
                (!s->owns || s->owns(s->owns_ctx, tenant, agent_id)) &&
                !stat_agents_known(s->agents, tenant, agent_id))
                mark(s, tenant, agent_id, now, NULL, false);
        }
        kvKeysList_Destroy(keys);
        free(keys);
    }
    if (s->overflowed && s->set.count == 0) {
        s->overflowed = false;
        s->want_resync = true;
    }
    if (s->want_resync && connected) {
        s->want_resync = false;
        s->stats.resyncs++;
        size_t n = stat_agents_each_key(s->agents, mark_cb, s);
        LOG_INFO("event=status_stream_resync agents=%zu epoch=%" PRId64, n, s->epoch);
    }
    if (!connected || now < s->hold_until_us || !s->head || s->inflight >= s->max_inflight)
        return;
    if (s->ndirty < BATCH_MIN && now - s->head->first_us < BATCH_WAIT_MS * 1000u) {
        if (!uv_is_active((uv_handle_t *)&s->batch_timer))
            uv_timer_start(&s->batch_timer, on_hold_timer, BATCH_WAIT_MS, 0);
        return;
    }
    /* The ring's free slots past its tail are the loop's alone until they are counted in:
     * the jobs are encoded there without the lock, which the ack callbacks need. */
    pthread_mutex_lock(&s->mu);
    size_t tail = (s->job_head + s->job_count) % s->max_inflight;
    size_t room = s->max_inflight - s->job_count;
    pthread_mutex_unlock(&s->mu);
    size_t handed = 0;
    while (s->head && s->inflight < s->max_inflight && handed < room) {
        entry *e = fifo_pop(s);
        e->dirty = false;
        s->ndirty--;
        e->inflight = true;
        e->sent_us = e->first_us;
        make_job(s, e, &s->jobs[(tail + handed) % s->max_inflight]);
        s->inflight++;
        handed++;
    }
    if (!handed)
        return;
    pthread_mutex_lock(&s->mu);
    s->job_count += handed;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (!s->first_pub_us)
        s->first_pub_us = now;
}

static void on_async(uv_async_t *h)
{
    pump(h->data);
}

static void on_check(uv_check_t *h)
{
    pump(h->data);
}

static void on_hold_timer(uv_timer_t *t)
{
    pump(t->data);
}

void stat_stream_changed(stat_stream *s, const char *tenant, const char *agent_id, bool known,
                         cc_sbuf *body)
{
    if (!s || !s->primary || s->stopped)
        return;
    mark(s, tenant, agent_id, cc_mono_us(), body, known);
}

void stat_stream_role(stat_stream *s, bool primary, int64_t epoch)
{
    if (!s || s->stopped)
        return;
    forget_all(s);
    s->primary = primary;
    s->epoch = epoch;
    s->want_resync = primary;
    if (primary) {
        /* Force the keys' reconciliation as on a new connection. */
        s->seen_gen = UINT64_MAX;
        pump(s);
    }
}

/* ---- the thread ---- */

typedef struct conn {
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
} conn;

static const char *last_error(natsStatus st)
{
    const char *text = nats_GetLastError(NULL);
    return text && *text ? text : natsStatus_GetText(st);
}

static void push_result(stat_stream *s, const char *key, bool ok)
{
    pthread_mutex_lock(&s->mu);
    /* Each publish has one answer and at most max_inflight are out: the ring never
     * fills; the check keeps a faulty library from writing past it. */
    if (s->res_count < s->max_inflight) {
        s->results[(s->res_head + s->res_count) % s->max_inflight] = (result){xstrdup(key), ok};
        s->res_count++;
    }
    if (!s->async_closed)
        uv_async_send(&s->async);
    pthread_mutex_unlock(&s->mu);
}

/* libnats' thread: the answer to one publish (an ack, an error, or MaxWait passed). */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    stat_stream *s = closure;
    const char *subject = natsMsg_GetSubject(msg);
    bool ok = pa && !pae;
    if (!ok && pae && pae->Err == NATS_NO_RESPONDERS) {
        pthread_mutex_lock(&s->mu);
        s->rebind = true;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
    }
    group *g = NULL;
    if (subject) {
        pthread_mutex_lock(&s->mu);
        g = cc_map_dels(&s->groups, subject);
        pthread_mutex_unlock(&s->mu);
    }
    if (subject && strlen(subject) > s->prefix_len)
        push_result(s, subject + s->prefix_len, ok);
    for (size_t i = 0; g && i < g->n; i++) {
        push_result(s, g->keys[i], ok);
        free(g->keys[i]);
    }
    free(g);
    natsMsg_Destroy(msg);
}

static void on_conn_event(natsConnection *nc, void *closure)
{
    (void)nc;
    wake(closure);
}

static bool connect_nats(stat_stream *s, conn *c)
{
    const stat_nats_config *cfg = s->cfg;
    natsOptions *opts = NULL;
    natsStatus st = natsOptions_Create(&opts);
    int64_t quarter = (int64_t)cfg->lease_ms / 4;
    if (st == NATS_OK)
        st = natsOptions_SetURL(opts, cfg->url);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(opts, quarter);
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(opts, -1);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(opts, quarter);
    if (st == NATS_OK)
        st = natsOptions_SetPingInterval(opts, (int64_t)cfg->lease_ms);
    if (st == NATS_OK)
        st = natsOptions_SetMaxPingsOut(opts, 2);
    if (st == NATS_OK)
        st = natsOptions_SetDisconnectedCB(opts, on_conn_event, s);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectedCB(opts, on_conn_event, s);
    if (st == NATS_OK)
        st = natsOptions_SetRetryOnFailedConnect(opts, true, on_conn_event, s);
    if (st == NATS_OK) {
        st = natsConnection_Connect(&c->nc, opts);
        if (st == NATS_NOT_YET_CONNECTED)
            st = NATS_OK;
    }
    natsOptions_Destroy(opts);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = (int64_t)cfg->status_ack_ms;
    jo.PublishAsync.MaxPending = (int64_t)s->max_inflight;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = s;
    jo.PublishAsync.StallWait = 10;
    if (st == NATS_OK)
        st = natsConnection_JetStream(&c->js, c->nc, &jo);
    if (st != NATS_OK) {
        LOG_ERROR("event=status_stream_failed url=%s error=%s", LOGQ(cfg->url),
                  LOGQ(last_error(st)));
        return false;
    }
    return true;
}

/* Finds the bucket, or makes it: one revision per key, file storage, no age limit. A
 * failure is logged once until a bind succeeds (a NATS without JetStream is asked every
 * second). */
static bool bind_bucket(stat_stream *s, conn *c, uint64_t *failures)
{
    kvStore_Destroy(c->kv);
    c->kv = NULL;
    natsStatus st = js_KeyValue(&c->kv, c->js, s->cfg->status_bucket);
    if (st == NATS_OK) {
        *failures = 0;
        return true;
    }
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = s->cfg->status_bucket;
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    st = js_CreateKeyValue(&c->kv, c->js, &kc);
    if (st != NATS_OK) {
        if ((*failures)++ == 0)
            LOG_WARN("event=status_bucket_failed bucket=%s error=%s", s->cfg->status_bucket,
                     LOGQ(last_error(st)));
        c->kv = NULL;
        return false;
    }
    *failures = 0;
    LOG_INFO("event=status_bucket_created bucket=%s", s->cfg->status_bucket);
    return true;
}

static natsStatus make_msg(const job *j, natsMsg **msg)
{
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%" PRId64, j->epoch);
    natsStatus st = natsMsg_Create(msg, j->subject, NULL, j->len ? j->data : NULL, j->len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(*msg, "Cc-Epoch", epoch);
    if (st == NATS_OK && j->del)
        st = natsMsgHeader_Set(*msg, "KV-Operation", "DEL");
    return st;
}

static void group_fail(stat_stream *s, group *g)
{
    for (size_t i = 0; i < g->n; i++) {
        push_result(s, g->keys[i], false);
        free(g->keys[i]);
    }
    free(g);
}

/*
 * Publishes n jobs in groups of up to GROUP_MAX: all but the last of a group as plain NATS
 * messages, which the bucket's stream stores without answering, and the last as a
 * JetStream publish whose ack answers for the whole group, since the stream stores what
 * one connection sends in order. One ack per group instead of one per status: the acks'
 * delivery (a thread wakeup and a callback each) was most of the stream's CPU. A group
 * whose last publish fails or goes unanswered fails as a whole, and is published again.
 */
static void publish_batch(stat_stream *s, conn *c, job *jobs, size_t n)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = (int64_t)s->cfg->status_ack_ms;
    for (size_t i = 0; i < n;) {
        size_t count = n - i < GROUP_MAX ? n - i : GROUP_MAX;
        group *g = xmalloc(sizeof *g + count * sizeof g->keys[0]);
        g->n = 0;
        for (size_t k = 0; k + 1 < count; k++) {
            const job *j = &jobs[i + k];
            natsMsg *msg = NULL;
            natsStatus st = make_msg(j, &msg);
            if (st == NATS_OK)
                st = natsConnection_PublishMsg(c->nc, msg);
            natsMsg_Destroy(msg);
            if (st == NATS_OK)
                g->keys[g->n++] = xstrdup(j->subject + s->prefix_len);
            else
                push_result(s, j->subject + s->prefix_len, false);
        }
        const job *last = &jobs[i + count - 1];
        /* Registered first: the ack may come before the call returns. */
        pthread_mutex_lock(&s->mu);
        cc_map_puts(&s->groups, last->subject, g);
        pthread_mutex_unlock(&s->mu);
        natsMsg *msg = NULL;
        natsStatus st = make_msg(last, &msg);
        if (st == NATS_OK)
            st = js_PublishMsgAsync(c->js, &msg, &po);
        natsMsg_Destroy(msg);
        if (st != NATS_OK) {
            pthread_mutex_lock(&s->mu);
            group *mine = cc_map_dels(&s->groups, last->subject);
            pthread_mutex_unlock(&s->mu);
            push_result(s, last->subject + s->prefix_len, false);
            if (mine)
                group_fail(s, mine);
        }
        i += count;
    }
}

/* Sleeps until a job, a request or a stop, at most POLL_MS; true on stop. */
static bool wait_work(stat_stream *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->stop && !s->job_count && !s->rebind) {
        struct timespec ts = cc_deadline_after(CLOCK_MONOTONIC, POLL_MS);
        pthread_cond_timedwait(&s->cond, &s->mu, &ts);
    }
    bool stop = s->stop;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

static void set_connected(stat_stream *s, bool connected, bool new_gen)
{
    pthread_mutex_lock(&s->mu);
    s->t_connected = connected;
    if (new_gen)
        s->t_conn_gen++;
    if (!s->async_closed)
        uv_async_send(&s->async);
    pthread_mutex_unlock(&s->mu);
}

static void *stream_thread(void *arg)
{
    stat_stream *s = arg;
    conn c = {0};
    bool ok = connect_nats(s, &c);
    bool connected = false;
    uint64_t bind_at = 0, bind_failures = 0;
    bool published_any = false;
    job *batch = xcalloc(s->max_inflight, sizeof *batch);
    while (ok && !wait_work(s)) {
        bool up = natsConnection_Status(c.nc) == NATS_CONN_STATUS_CONNECTED;
        pthread_mutex_lock(&s->mu);
        bool rebind = s->rebind;
        s->rebind = false;
        pthread_mutex_unlock(&s->mu);
        if (!up && connected) {
            connected = false;
            set_connected(s, false, false);
        }
        /* Every (re)connection binds the bucket again: a server restarted without its
         * store has none, and it is made before anything is published. */
        if (up && (!connected || rebind) && cc_mono_us() / 1000u >= bind_at) {
            if (bind_bucket(s, &c, &bind_failures)) {
                connected = true;
                set_connected(s, true, true);
            } else {
                bind_at = cc_mono_us() / 1000u + 1000u;
                if (connected) {
                    connected = false;
                    set_connected(s, false, false);
                }
            }
        }
        pthread_mutex_lock(&s->mu);
        bool want_keys = s->want_keys && connected;
        if (want_keys)
            s->want_keys = false;
        pthread_mutex_unlock(&s->mu);
        if (want_keys) {
            kvKeysList *list = xcalloc(1, sizeof *list);
            kvWatchOptions wo;
            kvWatchOptions_Init(&wo);
            wo.Timeout = (int64_t)s->cfg->status_ack_ms;
            natsStatus st = kvStore_Keys(list, c.kv, &wo);
            if (st != NATS_OK && st != NATS_NOT_FOUND)
                LOG_WARN("event=status_keys_failed bucket=%s error=%s", s->cfg->status_bucket,
                         LOGQ(last_error(st)));
            pthread_mutex_lock(&s->mu);
            if (st == NATS_OK && !s->keys) {
                s->keys = list;
                list = NULL;
                if (!s->async_closed)
                    uv_async_send(&s->async);
            }
            pthread_mutex_unlock(&s->mu);
            if (list) {
                kvKeysList_Destroy(list);
                free(list);
            }
        }
        /* Every job waiting, taken out of the ring at once. */
        pthread_mutex_lock(&s->mu);
        size_t n = s->stop ? 0 : s->job_count;
        for (size_t i = 0; i < n; i++)
            batch[i] = s->jobs[(s->job_head + i) % s->max_inflight];
        s->job_head = (s->job_head + n) % s->max_inflight;
        s->job_count -= n;
        pthread_mutex_unlock(&s->mu);
        if (n)
            published_any = true;
        publish_batch(s, &c, batch, n);
        for (size_t i = 0; i < n; i++)
            free(batch[i].subject);
    }
    free(batch);
    /* The publishes still unanswered are taken back, so that no ack callback comes for
     * them once the module is gone (libnats 3.4 crashes here when nothing was ever
     * published). */
    natsMsgList pending;
    if (c.js && published_any && js_PublishAsyncGetPendingList(&pending, c.js) == NATS_OK)
        natsMsgList_Destroy(&pending);
    if (c.nc)
        natsConnection_Close(c.nc);
    kvStore_Destroy(c.kv);
    jsCtx_Destroy(c.js);
    natsConnection_Destroy(c.nc);
    return NULL;
}

/* ---- start and stop ---- */

void stat_stream_set_owner(stat_stream *s, stat_stream_owns_fn owns, void *ctx)
{
    s->owns = owns;
    s->owns_ctx = ctx;
}

stat_stream *stat_stream_start(uv_loop_t *loop, const stat_nats_config *cfg, stat_agents *agents,
                               size_t max_dirty, stat_stream_lag_fn lag)
{
    stat_stream *s = xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->agents = agents;
    s->lag_fn = lag;
    s->max_dirty = max_dirty ? max_dirty : 1;
    s->max_inflight = cfg->status_inflight ? cfg->status_inflight : 1;
    s->loop = loop;
    size_t bl = strlen(cfg->status_bucket);
    s->prefix = xmalloc(bl + 6);
    snprintf(s->prefix, bl + 6, "$KV.%s.", cfg->status_bucket);
    s->prefix_len = bl + 5;
    s->jobs = xcalloc(s->max_inflight, sizeof *s->jobs);
    s->results = xcalloc(s->max_inflight, sizeof *s->results);
    cc_map_init(&s->set);
    cc_map_init(&s->groups);
    cc_buf_init(&s->scratch);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    uv_async_init(loop, &s->async, on_async);
    s->async.data = s;
    uv_check_init(loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, on_check);
    uv_timer_init(loop, &s->hold_timer);
    s->hold_timer.data = s;
    uv_timer_init(loop, &s->batch_timer);
    s->batch_timer.data = s;
    if (pthread_create(&s->thread, NULL, stream_thread, s) != 0) {
        LOG_ERROR("event=status_stream_failed why=\"no thread\"");
        stat_stream_stop(s);
        return s;
    }
    s->thread_started = true;
    LOG_INFO("event=status_stream_started url=%s bucket=%s in_flight=%zu max_dirty=%zu",
             LOGQ(cfg->url), cfg->status_bucket, s->max_inflight, s->max_dirty);
    return s;
}

void stat_stream_stop(stat_stream *s)
{
    if (!s || s->stopped)
        return;
    s->stopped = true;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    s->async_closed = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    uv_close((uv_handle_t *)&s->async, NULL);
    uv_close((uv_handle_t *)&s->check, NULL);
    uv_close((uv_handle_t *)&s->hold_timer, NULL);
    uv_close((uv_handle_t *)&s->batch_timer, NULL);
}

void stat_stream_free(stat_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->job_count; i++)
        free(s->jobs[(s->job_head + i) % s->max_inflight].subject);
    for (size_t i = 0; i < s->res_count; i++)
        free(s->results[(s->res_head + i) % s->max_inflight].key);
    if (s->keys) {
        kvKeysList_Destroy(s->keys);
        free(s->keys);
    }
    forget_all(s);
    cc_map_free(&s->set);
    size_t pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&s->groups, &pos))) {
        group *g = ms->value;
        for (size_t i = 0; i < g->n; i++)
            free(g->keys[i]);
        free(g);
    }
    cc_map_free(&s->groups);
    cc_buf_free(&s->scratch);
    free(s->jobs);
    free(s->results);
    free(s->prefix);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

stat_stream_stats stat_stream_get_stats(const stat_stream *s)
{
    stat_stream_stats st = s->stats;
    st.dirty = s->ndirty;
    st.inflight = s->inflight;
    st.connected = s->connected;
    st.lag_p50_ms = lag_quantile(s->lag, s->lag_n, 0.50);
    st.lag_p99_ms = lag_quantile(s->lag, s->lag_n, 0.99);
    st.peak_lag_p50_ms = s->peak_p50_ms;
    st.peak_lag_p99_ms = s->peak_p99_ms;
    st.last5_per_s = s->last_span_per_s;
    st.last5_lag_p50_ms = s->last_span_p50_ms;
    st.last5_lag_p99_ms = s->last_span_p99_ms;
    st.lag_max_ms = (double)s->lag_max_us / 1000.0;
    st.peak_per_s = s->peak_per_s;
    st.active_s = s->last_ack_us > s->first_pub_us && s->first_pub_us
                      ? (double)(s->last_ack_us - s->first_pub_us) / 1e6
                      : 0.0;
    return st;
}

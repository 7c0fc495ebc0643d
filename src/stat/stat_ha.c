#include "stat/stat_ha.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"

/* The thread's view of the lease. Only the thread reads and writes it. */
typedef struct lease {
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    bool held;
    uint64_t revision;   /* the key's revision after our last write */
    int64_t epoch;       /* the revision at creation */
    uint64_t expires_ms; /* when the lease runs out, counted from our last write's send */
    uint64_t next_ms;    /* next attempt: renewal when held, creation otherwise */
    uint64_t bind_ms;    /* next attempt to find or make the bucket */
    bool was_connected;  /* for a log line when the connection comes and goes */
    uint64_t failures_in_row;
    bool overdue; /* the lease ran out without an answer; logged once */
} lease;

struct stat_ha {
    const stat_nats_config *cfg;
    stat_ha_role_fn fn;
    void *user;
    uv_async_t async;
    pthread_t thread;
    bool thread_started;
    /* Shared with the thread; every field below is read and written under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;         /* the loop asked the thread to end */
    bool async_closed; /* the handle is closing: the thread must not signal it */
    bool pub_primary;  /* the role the thread last decided */
    int64_t pub_epoch;
    stat_ha_stats stats; /* the thread's counters; primary and epoch as published */
    /* The loop's side: the role last handed to fn. */
    bool told_primary;
    int64_t told_epoch;
};

static uint64_t now_ms(void)
{
    return cc_mono_us() / 1000u;
}

/* Hands the thread's decision to the loop. */
static void publish_role(stat_ha *ha, bool primary, int64_t epoch)
{
    pthread_mutex_lock(&ha->mu);
    ha->pub_primary = primary;
    ha->pub_epoch = epoch;
    ha->stats.primary = primary;
    ha->stats.epoch = epoch;
    if (primary)
        ha->stats.promotions++;
    else
        ha->stats.demotions++;
    if (!ha->async_closed)
        uv_async_send(&ha->async);
    pthread_mutex_unlock(&ha->mu);
}

static void count(stat_ha *ha, uint64_t *counter)
{
    pthread_mutex_lock(&ha->mu);
    (*counter)++;
    pthread_mutex_unlock(&ha->mu);
}

/* A renewal or creation every so often, short enough for takeover within a lease plus a
 * little, long enough to be no load: a quarter lease to renew, a twentieth to try. */
static uint64_t renew_every(const stat_nats_config *cfg)
{
    return cfg->lease_ms / 4;
}

static uint64_t try_every(const stat_nats_config *cfg)
{
    uint64_t ms = cfg->lease_ms / 20;
    return ms < 10 ? 10 : ms;
}

static const char *last_error(natsStatus s)
{
    const char *text = nats_GetLastError(NULL);
    return text && *text ? text : natsStatus_GetText(s);
}

/* Finds the bucket, or makes it with one revision per key and the lease as its maximum
 * age (nats-server 2.9 has no per-key TTL, so an unrenewed key ages out with the bucket's
 * max age). An existing bucket is used as it is. */
static bool bind_bucket(stat_ha *ha, lease *l)
{
    natsStatus s = js_KeyValue(&l->kv, l->js, ha->cfg->bucket);
    if (s == NATS_OK)
        return true;
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = ha->cfg->bucket;
    kc.History = 1;
    kc.TTL = (int64_t)ha->cfg->lease_ms * 1000000; /* nanoseconds */
    s = js_CreateKeyValue(&l->kv, l->js, &kc);
    if (s != NATS_OK) {
        LOG_WARN("event=lease_bucket_failed bucket=%s error=%s", ha->cfg->bucket,
                 LOGQ(last_error(s)));
        l->kv = NULL;
        return false;
    }
    LOG_INFO("event=lease_bucket_created bucket=%s max_age_ms=%u", ha->cfg->bucket,
             ha->cfg->lease_ms);
    return true;
}

static void lose(stat_ha *ha, lease *l, const char *why)
{
    l->held = false;
    LOG_WARN("event=lease_lost key=%s epoch=%" PRId64 " why=%s", ha->cfg->key, l->epoch, why);
    publish_role(ha, false, l->epoch);
}

static void try_create(stat_ha *ha, lease *l, uint64_t now)
{
    const char *member = ha->cfg->member;
    uint64_t rev = 0;
    natsStatus s = kvStore_Create(&rev, l->kv, ha->cfg->key, member, (int)strlen(member));
    l->next_ms = now_ms() + try_every(ha->cfg);
    if (s != NATS_OK)
        return; /* held by the other member, or NATS away: try again */
    l->held = true;
    l->revision = rev;
    l->epoch = (int64_t)rev;
    l->expires_ms = now + ha->cfg->lease_ms;
    l->next_ms = now + renew_every(ha->cfg);
    l->failures_in_row = 0;
    l->overdue = false;
    LOG_INFO("event=lease_won key=%s member=%s epoch=%" PRId64, ha->cfg->key, LOGQ(member),
             l->epoch);
    publish_role(ha, true, l->epoch);
}

static void renew(stat_ha *ha, lease *l, uint64_t now)
{
    const char *member = ha->cfg->member;
    uint64_t rev = 0;
    natsStatus s =
        kvStore_Update(&rev, l->kv, ha->cfg->key, member, (int)strlen(member), l->revision);
    if (s == NATS_OK) {
        l->revision = rev;
        l->expires_ms = now + ha->cfg->lease_ms;
        l->next_ms = now + renew_every(ha->cfg);
        l->failures_in_row = 0;
        l->overdue = false;
        count(ha, &ha->stats.renewals);
        return;
    }
    count(ha, &ha->stats.renew_failures);
    const char *err = last_error(s);
    if (s == NATS_ERR && strstr(err, "wrong last sequence")) {
        /* Our key is gone (it aged out while we were stopped or cut off) or another
         * member holds it. Creating it again either wins a new term at once (nobody took
         * over: the role goes on with a new epoch, without a standby step that would stop
         * routing) or fails, and the role is lost. */
        int64_t old_epoch = l->epoch;
        l->held = false;
        try_create(ha, l, now_ms());
        if (!l->held) {
            l->epoch = old_epoch;
            l->held = true;
            lose(ha, l, "\"the key was replaced\"");
        }
        return;
    }
    if (l->failures_in_row++ == 0)
        LOG_WARN("event=lease_renew_failed key=%s epoch=%" PRId64 " error=%s left_ms=%" PRId64,
                 ha->cfg->key, l->epoch, LOGQ(err), (int64_t)l->expires_ms - (int64_t)now_ms());
    l->next_ms = now_ms() + try_every(ha->cfg);
}

/* Gives the key up if it is still ours: a delete marker written only if the key's last
 * revision is our last write (the KV API of libnats 3.4 has no conditional delete). */
static void give_up(stat_ha *ha, lease *l)
{
    if (!l->held || !l->kv)
        return;
    char subject[300];
    snprintf(subject, sizeof subject, "$KV.%s.%s", ha->cfg->bucket, ha->cfg->key);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, NULL, 0);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "KV-Operation", "DEL");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = l->revision;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    if (s == NATS_OK)
        s = js_PublishMsg(&ack, l->js, msg, &po, &jerr);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(msg);
    if (s == NATS_OK)
        LOG_INFO("event=lease_released key=%s epoch=%" PRId64, ha->cfg->key, l->epoch);
    else
        LOG_WARN("event=lease_release_failed key=%s epoch=%" PRId64 " error=%s", ha->cfg->key,
                 l->epoch, LOGQ(last_error(s)));
    l->held = false;
}

/* Sleeps until ms (monotonic) or a stop; returns true on stop. */
static bool wait_until(stat_ha *ha, uint64_t ms)
{
    pthread_mutex_lock(&ha->mu);
    while (!ha->stop) {
        uint64_t now = now_ms();
        if (now >= ms)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t left = ms - now;
        ts.tv_sec += (time_t)(left / 1000u);
        ts.tv_nsec += (long)(left % 1000u) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ha->cond, &ha->mu, &ts);
    }
    bool stop = ha->stop;
    pthread_mutex_unlock(&ha->mu);
    return stop;
}

/* libnats' thread: the first connection is up (it may come after the start). Wakes the
 * lease thread, so that it does not wait out its poll interval. */
static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    stat_ha *ha = closure;
    pthread_mutex_lock(&ha->mu);
    pthread_cond_signal(&ha->cond);
    pthread_mutex_unlock(&ha->mu);
}

static bool connect_nats(stat_ha *ha, lease *l)
{
    const stat_nats_config *cfg = ha->cfg;
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    /* Requests and connects never block longer than a quarter lease, so a renewal that
     * hangs cannot outlive the lease unnoticed; a dead server is seen within two pings. */
    int64_t quarter = (int64_t)cfg->lease_ms / 4;
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, cfg->url);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, quarter);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, quarter);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(opts, (int64_t)cfg->lease_ms);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(opts, 2);
    if (s == NATS_OK)
        /* With a callback the first connect goes on in the background: without one,
         * libnats would retry inside natsConnection_Connect, forever with no NATS. */
        s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, ha);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&l->nc, opts);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK;
    }
    natsOptions_Destroy(opts);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = quarter;
    if (s == NATS_OK)
        s = natsConnection_JetStream(&l->js, l->nc, &jo);
    if (s != NATS_OK) {
        LOG_ERROR("event=nats_failed url=%s error=%s", LOGQ(cfg->url), LOGQ(last_error(s)));
        return false;
    }
    return true;
}

static void *lease_thread(void *arg)
{
    stat_ha *ha = arg;
    lease l = {0};
    bool ok = connect_nats(ha, &l);
    while (ok) {
        uint64_t now = now_ms();
        bool connected = natsConnection_Status(l.nc) == NATS_CONN_STATUS_CONNECTED;
        if (connected != l.was_connected) {
            l.was_connected = connected;
            pthread_mutex_lock(&ha->mu);
            ha->stats.nats_connected = connected;
            pthread_mutex_unlock(&ha->mu);
            if (connected)
                LOG_INFO("event=nats_connected url=%s", LOGQ(ha->cfg->url));
            else
                LOG_WARN("event=nats_disconnected url=%s held=%s", LOGQ(ha->cfg->url),
                         l.held ? "yes" : "no");
        }
        /* Without NATS nothing is asked (a request queued while away could land late);
         * a holder keeps its role until the lease it holds would have run out. */
        if (connected && !l.kv && now >= l.bind_ms && !bind_bucket(ha, &l))
            l.bind_ms = now + try_every(ha->cfg) * 10;
        if (connected && l.kv && now >= l.next_ms) {
            if (l.held)
                renew(ha, &l, now);
            else
                try_create(ha, &l, now);
        }
        /* Without an answer from NATS the role is kept past the lease: if the other
         * member won the key meanwhile, its higher epoch fences this one at every
         * interaction server; giving the role up here would stop routing everywhere
         * whenever NATS is away (docs/ha.md). */
        if (l.held && !l.overdue && now_ms() >= l.expires_ms) {
            l.overdue = true;
            count(ha, &ha->stats.overdue);
            LOG_WARN("event=lease_unconfirmed key=%s epoch=%" PRId64
                     " why=\"no renewal answered within the lease: primary until NATS says "
                     "otherwise\"",
                     ha->cfg->key, l.epoch);
        }
        uint64_t next = l.next_ms;
        if (!connected || !l.kv)
            next = now_ms() + try_every(ha->cfg);
        if (wait_until(ha, next))
            break;
    }
    give_up(ha, &l);
    kvStore_Destroy(l.kv);
    jsCtx_Destroy(l.js);
    natsConnection_Destroy(l.nc);
    return NULL;
}

/* On the loop: the thread changed its decision; fn hears of it once. */
static void on_async(uv_async_t *h)
{
    stat_ha *ha = h->data;
    pthread_mutex_lock(&ha->mu);
    bool primary = ha->pub_primary;
    int64_t epoch = ha->pub_epoch;
    bool closed = ha->async_closed;
    pthread_mutex_unlock(&ha->mu);
    if (closed || (primary == ha->told_primary && epoch == ha->told_epoch))
        return;
    ha->told_primary = primary;
    ha->told_epoch = epoch;
    ha->fn(ha->user, primary, epoch);
}

stat_ha *stat_ha_start(uv_loop_t *loop, const stat_nats_config *cfg, stat_ha_role_fn fn, void *user)
{
    stat_ha *ha = xcalloc(1, sizeof *ha);
    ha->cfg = cfg;
    ha->fn = fn;
    ha->user = user;
    pthread_mutex_init(&ha->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ha->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (uv_async_init(loop, &ha->async, on_async) != 0) {
        LOG_ERROR("event=lease_failed why=\"no async handle\"");
        pthread_cond_destroy(&ha->cond);
        pthread_mutex_destroy(&ha->mu);
        free(ha);
        return NULL;
    }
    ha->async.data = ha;
    if (pthread_create(&ha->thread, NULL, lease_thread, ha) != 0) {
        LOG_ERROR("event=lease_failed why=\"no thread\"");
        ha->async_closed = true;
        uv_close((uv_handle_t *)&ha->async, NULL);
        return ha;
    }
    ha->thread_started = true;
    LOG_INFO("event=lease_started url=%s bucket=%s key=%s member=%s lease_ms=%u", LOGQ(cfg->url),
             cfg->bucket, cfg->key, LOGQ(cfg->member), cfg->lease_ms);
    return ha;
}

void stat_ha_stop(stat_ha *ha)
{
    if (!ha)
        return;
    pthread_mutex_lock(&ha->mu);
    bool was_closed = ha->async_closed;
    ha->stop = true;
    ha->async_closed = true;
    pthread_cond_signal(&ha->cond);
    pthread_mutex_unlock(&ha->mu);
    if (!was_closed)
        uv_close((uv_handle_t *)&ha->async, NULL);
}

void stat_ha_free(stat_ha *ha)
{
    if (!ha)
        return;
    /* Normally stopped already; a loop that ended some other way still ends the thread. */
    pthread_mutex_lock(&ha->mu);
    ha->stop = true;
    pthread_cond_signal(&ha->cond);
    pthread_mutex_unlock(&ha->mu);
    if (ha->thread_started)
        pthread_join(ha->thread, NULL);
    pthread_cond_destroy(&ha->cond);
    pthread_mutex_destroy(&ha->mu);
    free(ha);
    /* libnats' own threads and caches go with the last user. */
    nats_Close();
}

stat_ha_stats stat_ha_get_stats(stat_ha *ha)
{
    pthread_mutex_lock(&ha->mu);
    stat_ha_stats st = ha->stats;
    pthread_mutex_unlock(&ha->mu);
    return st;
}

#include "stat/stat_stats.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/map.h"
#include "stat/stat_config.h"

/* The window of EstimatedWaitTime's answer rate. */
#define EWT_WINDOW_S 900

/* One thing that happened, or (segment series) the start of a state that lasts until
 * the next record. */
typedef struct rec {
    int64_t at;
    int64_t a;    /* visits: the wait; ends: the handle time (-1 unknown); segments: reason */
    int32_t kind; /* visits, ends: K_*; segments: SEG_* bits */
    int32_t b;    /* segments: a reason is given */
} rec;

enum {
    K_ENTER = 1,
    K_ANSWER,
    K_ABANDON,
    K_OFFERED,
    K_ACCEPTED,
    K_REJECTED,
    K_TIMED_OUT,
    K_HANDLED,
    K_COUNT
};

/* The visits of the day that ended with a wait of s seconds, rounded up (0: no wait;
 * the engine's sl_cap: longer than any threshold), answered and abandoned. Answered with
 * wait <= T is then s <= T, abandoned with wait > T is s > T, for any T in whole seconds. */
typedef struct sl_bucket {
    uint32_t s;
    uint32_t answered, abandoned;
} sl_bucket;

/* Closed not-ready time of the day with one reason code. */
typedef struct reason_ms {
    int64_t code;
    int64_t ms;
} reason_ms;

/* What a series counted since the start of a day, so that a day statistic opened at any
 * time finds its value without the records, which are kept only as long as sliding
 * windows need them. Counting series fill n..sl, segment series ms and reasons. */
typedef struct day_acc {
    int64_t lo;          /* the midnight (Unix ms) of the day summed; 0: none yet */
    uint32_t n[K_COUNT]; /* records per kind */
    int64_t wait_sum;    /* waits of the answered visits */
    int64_t handle_sum;  /* handle times of the handled ones whose accept is known */
    uint32_t handle_known;
    uint32_t nsl, capsl;
    sl_bucket *sl; /* by s */
    int64_t ms[2]; /* closed segment time with kind bit 1, bit 2 */
    uint32_t nreasons, capreasons;
    reason_ms *reasons;
} day_acc;

/* Records in time order, in a ring of cap slots (a power of two) from slot head: records
 * leave at the front without moving the others, so that a series holding about the same
 * number of records keeps the same array. Seq numbers stay valid while records leave. */
typedef struct series {
    rec *r;
    size_t head, n, cap;
    uint64_t base; /* seq of the record at slot head */
    bool segments;
    bool used; /* a record was ever added: its object is one of the engine's for good */
    day_acc day;
} series;

/* Agent segments: logged in anywhere, holding something; media segments: ready, not
 * ready (the State NotReady). */
#define SEG_LOGIN 1
#define SEG_BUSY 2
#define SEG_READY 1
#define SEG_NOT_READY 2

typedef struct tenant_obj tenant_obj;
typedef struct queue_obj queue_obj;
typedef struct agent_obj agent_obj;
typedef struct ixn ixn;

struct stat_stats_inst {
    char *key;
    size_t keylen;
    int refs;
    enum proto_sts_stat stat;
    int64_t sliding_ms; /* 0: day */
    int64_t day_lo;     /* day: the day num and den are of (its series' day.lo) */
    int64_t threshold_ms;
    int media;
    bool has_reason;
    int64_t reason;
    tenant_obj *tenant;        /* Tenant statistics; the tenant of the others */
    queue_obj *queue;          /* Queue statistics */
    agent_obj *agent;          /* Agent statistics */
    series *ser;               /* the records it sums; NULL for the statistics of now */
    uint64_t cur;              /* sliding: seq of the first record in the window (segments:
                                  overlapping) */
    int64_t num, den;          /* sliding: sums over the records from cur (segments: closed
                                  ones); day counts: the sums of the day */
    stat_stats_inst *ewt_rate; /* EstimatedWaitTime: Answered over sliding:900 */
    bool dirty;
    stat_stats_inst *dirty_next;
    stat_stats_inst *prev, *next; /* the object's list */
    void *user;
};

struct tenant_obj {
    char *name;
    uint32_t nagents; /* agent objects of the tenant */
    uint32_t logged_in[CC_MEDIA_MAX];
    uint32_t ready[CC_MEDIA_MAX];
    uint64_t available[CC_MEDIA_MAX];
    uint32_t waiting[CC_MEDIA_MAX];
    queue_obj *queues;
    queue_obj *waiting_queues; /* the queues where something waits: OldestWait walks these */
    stat_stats_inst *insts;
};

struct queue_obj {
    char *key; /* its map key */
    size_t keylen;
    uint32_t nixns; /* unfinished interactions in it */
    tenant_obj *tenant;
    queue_obj *tnext;
    int media;          /* of its interactions; -1 until one is seen */
    ixn *whead, *wtail; /* waiting interactions, oldest queuedAt first */
    uint32_t waiting;
    queue_obj *wq_prev, *wq_next; /* the tenant's waiting_queues, while waiting > 0 */
    series visits;
    stat_stats_inst *insts;
};

/* An agent's State of one media, and that media's segments. */
typedef struct agent_media {
    int media;
    enum proto_sts_state state;
    int64_t since;
    bool has_reason;
    int64_t code;
    char *desc;
    uint32_t available; /* what the tenant's Available holds of it */
    series seg;
} agent_media;

struct agent_obj {
    char *key; /* its map key */
    size_t keylen;
    tenant_obj *tenant;
    bool logged_in;
    cc_media_mask added, ready;
    agent_media *am;
    int nam;
    series seg;  /* SEG_LOGIN, SEG_BUSY */
    series ends; /* K_OFFERED .. K_HANDLED */
    stat_stats_inst *insts;
};

/* An unfinished interaction. */
struct ixn {
    char *key; /* link byte, then the interactionId */
    size_t keylen;
    int link;
    queue_obj *queue;
    int64_t queued_at;
    int64_t accepted_at; /* 0: unknown */
    enum cc_ixn_state state;
    int media;
    bool answered; /* its current visit was answered */
    bool waiting;  /* in its queue's waiting list */
    uint32_t gen;  /* the link's snapshot generation that last showed it */
    ixn *wprev, *wnext;
};

typedef struct link_state {
    bool down; /* lost, and its snapshot not started again */
    uint32_t gen;
} link_state;

struct stat_stats {
    stat_stats_config cfg;
    cc_map tenants, queues, agents, ixns, insts;
    stat_stats_inst *dirty_head, *dirty_tail;
    int64_t day_lo, day_hi; /* the day containing the last time asked for */
    int64_t last_now;
    int64_t keep_ms; /* sliding-keep */
    uint32_t sl_cap; /* the sl_bucket of waits longer than any threshold */
    stat_stats_counts counts;
    link_state links[STAT_LINKS_MAX];
};

/* ---- records ---- */

static rec *series_at(const series *se, uint64_t seq)
{
    return &se->r[(se->head + (size_t)(seq - se->base)) & (se->cap - 1)];
}

/* Gives the ring cap slots (a power of two, at least n), its records from slot 0. */
static void series_resize(series *se, size_t cap)
{
    rec *r = xmalloc(cap * sizeof *r);
    for (size_t k = 0; k < se->n; k++)
        r[k] = *series_at(se, se->base + k);
    free(se->r);
    se->r = r;
    se->head = 0;
    se->cap = cap;
}

static uint64_t series_end(const series *se)
{
    return se->base + se->n;
}

/* Inserts r in time order (after records of the same time) and returns its seq. */
static uint64_t series_insert(stat_stats *s, series *se, const rec *r)
{
    if (se->n == se->cap)
        series_resize(se, se->cap ? se->cap * 2 : 4);
    /* Mostly at the end: only a step reported late goes before newer records. */
    uint64_t seq = series_end(se);
    while (seq > se->base && series_at(se, seq - 1)->at > r->at) {
        *series_at(se, seq) = *series_at(se, seq - 1);
        seq--;
    }
    *series_at(se, seq) = *r;
    se->n++;
    se->used = true;
    s->counts.records++;
    return seq;
}

/* Drops the oldest record. */
static void series_pop(stat_stats *s, series *se)
{
    se->head = (se->head + 1) & (se->cap - 1);
    se->n--;
    se->base++;
    s->counts.records--;
}

static void series_free(stat_stats *s, series *se)
{
    s->counts.records -= se->n;
    free(se->r);
    free(se->day.sl);
    free(se->day.reasons);
    memset(se, 0, sizeof *se);
}

/* ---- windows ---- */

static int64_t day_start(stat_stats *s, int64_t now)
{
    if (now >= s->day_lo && now < s->day_hi)
        return s->day_lo;
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    struct tm next = tm;
    time_t lo = mktime(&tm);
    next.tm_mday += 1;
    time_t hi = mktime(&next);
    s->day_lo = (int64_t)lo * 1000;
    s->day_hi = (int64_t)hi * 1000;
    return s->day_lo;
}

/* The first time inside the sliding window of i at now. Counts take records with
 * at >= it: the last N seconds are (now - N s, now]; time in state is measured over
 * [now - N s, now]. */
static int64_t window_start(const stat_stats_inst *i, int64_t now)
{
    return i->ser && i->ser->segments ? now - i->sliding_ms : now - i->sliding_ms + 1;
}

/* ---- the day's sums ---- */

/* The sl_bucket of a wait: whole seconds rounded up, at most sl_cap. */
static uint32_t sl_second(const stat_stats *s, int64_t wait_ms)
{
    if (wait_ms <= 0)
        return 0;
    int64_t sec = (wait_ms + 999) / 1000;
    return sec < (int64_t)s->sl_cap ? (uint32_t)sec : s->sl_cap;
}

/* The bucket of second sec, made when missing (buckets stay sorted by s). */
static sl_bucket *sl_get(day_acc *d, uint32_t sec)
{
    uint32_t lo = 0, hi = d->nsl;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d->sl[mid].s < sec)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < d->nsl && d->sl[lo].s == sec)
        return &d->sl[lo];
    if (d->nsl == d->capsl) {
        d->capsl = d->capsl ? d->capsl * 2 : 8;
        d->sl = xrealloc(d->sl, d->capsl * sizeof *d->sl);
    }
    memmove(&d->sl[lo + 1], &d->sl[lo], (d->nsl - lo) * sizeof *d->sl);
    d->nsl++;
    d->sl[lo] = (sl_bucket){.s = sec};
    return &d->sl[lo];
}

/* The closed time of one reason code, made when missing. */
static int64_t *reason_get(day_acc *d, int64_t code)
{
    for (uint32_t k = 0; k < d->nreasons; k++)
        if (d->reasons[k].code == code)
            return &d->reasons[k].ms;
    if (d->nreasons == d->capreasons) {
        d->capreasons = d->capreasons ? d->capreasons * 2 : 4;
        d->reasons = xrealloc(d->reasons, d->capreasons * sizeof *d->reasons);
    }
    d->reasons[d->nreasons] = (reason_ms){.code = code};
    return &d->reasons[d->nreasons++].ms;
}

/* Adds a counting record to the day's sums. */
static void day_count(const stat_stats *s, day_acc *d, const rec *r)
{
    if (r->kind <= 0 || r->kind >= K_COUNT)
        return;
    d->n[r->kind]++;
    switch (r->kind) {
    case K_ANSWER:
        d->wait_sum += r->a;
        sl_get(d, sl_second(s, r->a))->answered++;
        break;
    case K_ABANDON: sl_get(d, sl_second(s, r->a))->abandoned++; break;
    case K_HANDLED:
        if (r->a >= 0) {
            d->handle_sum += r->a;
            d->handle_known++;
        }
        break;
    default: break;
    }
}

/* Adds what the segment last, ending at end, held of the day to the day's sums. */
static void day_close(day_acc *d, const rec *last, int64_t end)
{
    int64_t from = last->at > d->lo ? last->at : d->lo;
    if (end <= from)
        return;
    int64_t dur = end - from;
    if (last->kind & 1)
        d->ms[0] += dur;
    if (last->kind & 2) {
        d->ms[1] += dur;
        if (last->b)
            *reason_get(d, last->a) += dur;
    }
}

/* Starts the series' day sums again when now lies in a later day than they are of. A
 * counting record of the new day added earlier (an at ahead of the statserver's clock)
 * is still among the newest records: it is counted again. A segment is clipped to the
 * day when it closes (day_close) and when a value is read (time_value). */
static void day_roll(stat_stats *s, series *se, int64_t now)
{
    int64_t lo = day_start(s, now);
    if (se->day.lo >= lo)
        return;
    day_acc *d = &se->day;
    free(d->sl);
    free(d->reasons);
    memset(d, 0, sizeof *d);
    d->lo = lo;
    if (se->segments)
        return;
    uint64_t q = series_end(se);
    while (q > se->base && series_at(se, q - 1)->at >= lo)
        q--;
    for (; q < series_end(se); q++)
        day_count(s, d, series_at(se, q));
}

/* The day sums of a counting statistic, from its series' day sums. */
static void day_sums(stat_stats_inst *i, const day_acc *d)
{
    i->num = i->den = 0;
    switch (i->stat) {
    case PROTO_STS_Q_ENTERED: i->num = d->n[K_ENTER]; break;
    case PROTO_STS_Q_ANSWERED: i->num = d->n[K_ANSWER]; break;
    case PROTO_STS_Q_ABANDONED: i->num = d->n[K_ABANDON]; break;
    case PROTO_STS_Q_SERVICE_LEVEL:
        i->den = d->n[K_ANSWER];
        for (uint32_t k = 0; k < d->nsl; k++) {
            int64_t ms = (int64_t)d->sl[k].s * 1000;
            if (ms <= i->threshold_ms)
                i->num += d->sl[k].answered;
            else
                i->den += d->sl[k].abandoned;
        }
        break;
    case PROTO_STS_Q_ASA:
        i->num = d->wait_sum;
        i->den = d->n[K_ANSWER];
        break;
    case PROTO_STS_A_OFFERED: i->num = d->n[K_OFFERED]; break;
    case PROTO_STS_A_ACCEPTED: i->num = d->n[K_ACCEPTED]; break;
    case PROTO_STS_A_REJECTED: i->num = d->n[K_REJECTED]; break;
    case PROTO_STS_A_TIMED_OUT: i->num = d->n[K_TIMED_OUT]; break;
    case PROTO_STS_A_HANDLED: i->num = d->n[K_HANDLED]; break;
    case PROTO_STS_A_AHT:
        i->num = d->handle_sum;
        i->den = d->handle_known;
        break;
    default: break;
    }
}

/* Brings a day statistic to the day of now: a new day takes its series' sums of it. */
static void day_sync(stat_stats *s, stat_stats_inst *i, int64_t now)
{
    day_roll(s, i->ser, now);
    if (i->day_lo == i->ser->day.lo)
        return;
    i->day_lo = i->ser->day.lo;
    if (!i->ser->segments)
        day_sums(i, &i->ser->day);
}

/* ---- sums ---- */

static bool seg_pred(const stat_stats_inst *i, const rec *r)
{
    switch (i->stat) {
    case PROTO_STS_A_LOGIN_TIME: return r->kind & SEG_LOGIN;
    case PROTO_STS_A_BUSY_TIME: return r->kind & SEG_BUSY;
    case PROTO_STS_A_READY_TIME: return r->kind & SEG_READY;
    case PROTO_STS_A_NOT_READY_TIME:
        return (r->kind & SEG_NOT_READY) && (!i->has_reason || (r->b && r->a == i->reason));
    default: return false;
    }
}

/* What one record adds to a counting statistic's sums. */
static void contrib(const stat_stats_inst *i, const rec *r, int64_t *num, int64_t *den)
{
    *num = *den = 0;
    switch (i->stat) {
    case PROTO_STS_Q_ENTERED: *num = r->kind == K_ENTER; break;
    case PROTO_STS_Q_ANSWERED: *num = r->kind == K_ANSWER; break;
    case PROTO_STS_Q_ABANDONED: *num = r->kind == K_ABANDON; break;
    case PROTO_STS_Q_SERVICE_LEVEL:
        if (r->kind == K_ANSWER) {
            *den = 1;
            *num = r->a <= i->threshold_ms;
        } else if (r->kind == K_ABANDON && r->a > i->threshold_ms) {
            *den = 1;
        }
        break;
    case PROTO_STS_Q_ASA:
        if (r->kind == K_ANSWER) {
            *num = r->a;
            *den = 1;
        }
        break;
    case PROTO_STS_A_OFFERED: *num = r->kind == K_OFFERED; break;
    case PROTO_STS_A_ACCEPTED: *num = r->kind == K_ACCEPTED; break;
    case PROTO_STS_A_REJECTED: *num = r->kind == K_REJECTED; break;
    case PROTO_STS_A_TIMED_OUT: *num = r->kind == K_TIMED_OUT; break;
    case PROTO_STS_A_HANDLED: *num = r->kind == K_HANDLED; break;
    case PROTO_STS_A_AHT:
        if (r->kind == K_HANDLED && r->a >= 0) {
            *num = r->a;
            *den = 1;
        }
        break;
    default: break;
    }
}

/* Moves the window of i to now, taking out what left it (day: a new day starts). */
static void expire(stat_stats *s, stat_stats_inst *i, int64_t now)
{
    series *se = i->ser;
    if (!se)
        return;
    if (!i->sliding_ms) {
        day_sync(s, i, now);
        return;
    }
    if (i->cur < se->base)
        i->cur = se->base;
    int64_t ws = window_start(i, now);
    uint64_t end = series_end(se);
    if (se->segments) {
        while (i->cur + 1 < end && series_at(se, i->cur + 1)->at <= ws) {
            const rec *r = series_at(se, i->cur);
            if (seg_pred(i, r))
                i->num -= series_at(se, i->cur + 1)->at - r->at;
            i->cur++;
        }
        return;
    }
    while (i->cur < end && series_at(se, i->cur)->at < ws) {
        int64_t dn, dd;
        contrib(i, series_at(se, i->cur), &dn, &dd);
        i->num -= dn;
        i->den -= dd;
        i->cur++;
    }
}

/* Sums the window of a statistic being opened: a day statistic takes its series' day
 * sums, a sliding one makes the one scan of the records it finds kept. */
static void initial_sums(stat_stats *s, stat_stats_inst *i, int64_t now)
{
    series *se = i->ser;
    i->num = i->den = 0;
    if (!i->sliding_ms) {
        i->day_lo = INT64_MIN;
        day_sync(s, i, now);
        return;
    }
    i->cur = se->base;
    int64_t ws = window_start(i, now);
    uint64_t end = series_end(se);
    if (se->segments) {
        while (i->cur + 1 < end && series_at(se, i->cur + 1)->at <= ws)
            i->cur++;
        for (uint64_t q = i->cur; q + 1 < end; q++)
            if (seg_pred(i, series_at(se, q)))
                i->num += series_at(se, q + 1)->at - series_at(se, q)->at;
        return;
    }
    while (i->cur < end && series_at(se, i->cur)->at < ws)
        i->cur++;
    for (uint64_t q = i->cur; q < end; q++) {
        int64_t dn, dd;
        contrib(i, series_at(se, q), &dn, &dd);
        i->num += dn;
        i->den += dd;
    }
}

static void mark_dirty(stat_stats *s, stat_stats_inst *i)
{
    if (i->dirty)
        return;
    i->dirty = true;
    i->dirty_next = NULL;
    if (s->dirty_tail)
        s->dirty_tail->dirty_next = i;
    else
        s->dirty_head = i;
    s->dirty_tail = i;
}

static void mark_all(stat_stats *s, stat_stats_inst *list)
{
    for (stat_stats_inst *i = list; i; i = i->next)
        mark_dirty(s, i);
}

/* Drops the records older than keep_ms before now (a segment: when it ended before), which
 * no open window holds any more, and gives the memory back when most of it is unused. */
static void series_trim(stat_stats *s, series *se, int64_t now, int64_t keep_ms)
{
    int64_t cut = now - keep_ms;
    if (se->segments) {
        while (se->n >= 2 && series_at(se, se->base + 1)->at < cut)
            series_pop(s, se);
    } else {
        while (se->n && series_at(se, se->base)->at < cut)
            series_pop(s, se);
    }
    if (se->cap > 64 && se->n < se->cap / 8)
        series_resize(se, se->cap / 2);
}

/* Drops the oldest records beyond max_records, taking them out of the sums of the
 * sliding statistics whose window still held them (the day sums keep them). */
static void series_cap(stat_stats *s, series *se, stat_stats_inst *list)
{
    while (se->n > s->cfg.max_records) {
        const rec *r = series_at(se, se->base);
        for (stat_stats_inst *i = list; i; i = i->next) {
            if (i->ser != se || !i->sliding_ms || i->cur != se->base)
                continue;
            if (se->segments) {
                if (seg_pred(i, r))
                    i->num -= series_at(se, se->base + 1)->at - r->at;
            } else {
                int64_t dn, dd;
                contrib(i, r, &dn, &dd);
                i->num -= dn;
                i->den -= dd;
            }
            i->cur++;
            mark_dirty(s, i);
        }
        series_pop(s, se);
    }
}

/* Adds a counting record to se, to its day sums and to every statistic of list that sums
 * it. */
static void add_record(stat_stats *s, series *se, stat_stats_inst *list, const rec *r, int64_t now)
{
    day_roll(s, se, now);
    /* The records are kept sliding-keep long, or as long as the longest window open. */
    int64_t keep = s->keep_ms;
    for (stat_stats_inst *i = list; i; i = i->next) {
        if (i->ser != se)
            continue;
        expire(s, i, now);
        if (i->sliding_ms > keep)
            keep = i->sliding_ms;
    }
    uint64_t pos = series_insert(s, se, r);
    bool today = r->at >= se->day.lo;
    if (today)
        day_count(s, &se->day, r);
    for (stat_stats_inst *i = list; i; i = i->next) {
        if (i->ser != se)
            continue;
        if (i->sliding_ms ? r->at < window_start(i, now) : !today) {
            if (i->sliding_ms && pos <= i->cur)
                i->cur++;
            continue;
        }
        int64_t dn, dd;
        contrib(i, r, &dn, &dd);
        i->num += dn;
        i->den += dd;
        mark_dirty(s, i);
    }
    series_trim(s, se, now, keep);
    series_cap(s, se, list);
}

/* Starts a new state segment at now when the state differs from the current one. */
static void add_segment(stat_stats *s, series *se, stat_stats_inst *list, int32_t kind,
                        bool has_reason, int64_t reason, int64_t now)
{
    if (se->n) {
        const rec *last = series_at(se, series_end(se) - 1);
        if (last->kind == kind && last->b == (int32_t)has_reason && last->a == reason)
            return;
        if (last->at > now)
            now = last->at;
    } else if (!kind) {
        return; /* nothing to measure before the first state */
    }
    day_roll(s, se, now);
    if (se->n)
        day_close(&se->day, series_at(se, series_end(se) - 1), now);
    int64_t keep = s->keep_ms;
    for (stat_stats_inst *i = list; i; i = i->next) {
        if (i->ser != se)
            continue;
        expire(s, i, now);
        if (i->sliding_ms > keep)
            keep = i->sliding_ms;
        if (se->n && i->sliding_ms) {
            const rec *last = series_at(se, series_end(se) - 1);
            if (seg_pred(i, last))
                i->num += now - last->at;
        }
        mark_dirty(s, i);
    }
    rec r = {.at = now, .a = has_reason ? reason : 0, .kind = kind, .b = has_reason};
    series_insert(s, se, &r);
    series_trim(s, se, now, keep);
    series_cap(s, se, list);
}

/* ---- objects ---- */

static size_t key2(char *buf, size_t cap, const char *a, const char *b, const char *c)
{
    size_t n = 0;
    const char *parts[3] = {a, b, c};
    for (int k = 0; k < 3 && parts[k]; k++) {
        size_t l = strlen(parts[k]);
        if (n + l + 1 > cap)
            return 0;
        memcpy(buf + n, parts[k], l);
        n += l;
        buf[n++] = '\0';
    }
    return n;
}

#define KEY_MAX (3 * PROTO_ID_MAX + 8)

static tenant_obj *tenant_get(stat_stats *s, const char *name)
{
    tenant_obj *t = cc_map_gets(&s->tenants, name);
    if (!t) {
        t = xcalloc(1, sizeof *t);
        t->name = xstrdup(name);
        cc_map_puts(&s->tenants, name, t);
    }
    return t;
}

static queue_obj *queue_get(stat_stats *s, const char *server, const char *tenant, const char *id)
{
    char key[KEY_MAX];
    size_t n = key2(key, sizeof key, server, tenant, id);
    if (!n)
        return NULL;
    queue_obj *q = cc_map_get(&s->queues, key, n);
    if (!q) {
        q = xcalloc(1, sizeof *q);
        q->media = -1;
        q->key = xmalloc(n);
        memcpy(q->key, key, n);
        q->keylen = n;
        q->tenant = tenant_get(s, tenant);
        q->tnext = q->tenant->queues;
        q->tenant->queues = q;
        cc_map_put(&s->queues, key, n, q);
    }
    return q;
}

size_t stat_stats_each_queue(const stat_stats *s, stat_stats_queue_fn *fn, void *ctx)
{
    size_t pos = 0, n = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&s->queues, &pos))) {
        const queue_obj *q = ms->value;
        if (!q->nixns && !q->visits.used)
            continue;
        /* The key is server NUL tenant NUL id NUL (key2). */
        const char *server = q->key;
        const char *tenant = server + strlen(server) + 1;
        const char *id = tenant + strlen(tenant) + 1;
        fn(ctx, server, tenant, id, q->media);
        n++;
    }
    return n;
}

static agent_obj *agent_get(stat_stats *s, const char *tenant, const char *id)
{
    char key[KEY_MAX];
    size_t n = key2(key, sizeof key, tenant, id, NULL);
    if (!n)
        return NULL;
    agent_obj *a = cc_map_get(&s->agents, key, n);
    if (!a) {
        a = xcalloc(1, sizeof *a);
        a->key = xmalloc(n);
        memcpy(a->key, key, n);
        a->keylen = n;
        a->tenant = tenant_get(s, tenant);
        a->tenant->nagents++;
        a->seg.segments = true;
        cc_map_put(&s->agents, key, n, a);
    }
    return a;
}

/* Objects made only for statistics that are closed again (an object that does not exist
 * yet, a typing mistake) are freed with their last statistic, so that opening and closing
 * cannot grow the engine; objects with something recorded stay. */
static void tenant_gc(stat_stats *s, tenant_obj *t)
{
    if (t->insts || t->queues || t->nagents)
        return;
    cc_map_dels(&s->tenants, t->name);
    free(t->name);
    free(t);
}

static void queue_gc(stat_stats *s, queue_obj *q)
{
    if (q->insts || q->nixns || q->visits.used)
        return;
    tenant_obj *t = q->tenant;
    queue_obj **pp = &t->queues;
    while (*pp != q)
        pp = &(*pp)->tnext;
    *pp = q->tnext;
    cc_map_del(&s->queues, q->key, q->keylen);
    series_free(s, &q->visits);
    free(q->key);
    free(q);
    tenant_gc(s, t);
}

static void agent_gc(stat_stats *s, agent_obj *a)
{
    if (a->insts || a->logged_in || a->seg.used || a->ends.used)
        return;
    for (int k = 0; k < a->nam; k++)
        if (a->am[k].seg.used)
            return;
    for (int k = 0; k < a->nam; k++) {
        free(a->am[k].desc);
        series_free(s, &a->am[k].seg);
    }
    series_free(s, &a->seg);
    series_free(s, &a->ends);
    free(a->am);
    tenant_obj *t = a->tenant;
    t->nagents--;
    cc_map_del(&s->agents, a->key, a->keylen);
    free(a->key);
    free(a);
    tenant_gc(s, t);
}

static agent_media *agent_media_get(agent_obj *a, int media)
{
    for (int k = 0; k < a->nam; k++)
        if (a->am[k].media == media)
            return &a->am[k];
    a->am = xrealloc(a->am, (size_t)(a->nam + 1) * sizeof *a->am);
    agent_media *m = &a->am[a->nam++];
    memset(m, 0, sizeof *m);
    m->media = media;
    m->state = PROTO_STS_LOGGED_OUT;
    m->seg.segments = true;
    /* The series moved with the array: the statistics of the agent point at them. */
    return m;
}

/* Series pointers of media statistics are refreshed after agent_media_get grew the
 * array (the array holds the series by value). */
static void agent_rebind(agent_obj *a)
{
    for (stat_stats_inst *i = a->insts; i; i = i->next) {
        if (i->stat != PROTO_STS_A_READY_TIME && i->stat != PROTO_STS_A_NOT_READY_TIME)
            continue;
        for (int k = 0; k < a->nam; k++)
            if (a->am[k].media == i->media)
                i->ser = &a->am[k].seg;
    }
}

/* ---- queues ---- */

/* True for the statistics whose value reads the waiting interactions (of their queue, or
 * of their tenant's queues) and nothing an agent's state changes. */
static bool reads_waiting(enum proto_sts_stat st)
{
    return st == PROTO_STS_Q_WAITING || st == PROTO_STS_Q_OLDEST_WAIT || st == PROTO_STS_Q_EWT ||
           st == PROTO_STS_T_WAITING || st == PROTO_STS_T_OLDEST_WAIT;
}

/* Marks the statistics of list that read (want) or do not read (!want) the waiting
 * interactions: a change of one kind of input leaves the others' values alone, and a
 * tenant's OldestWait walks all its queues, so it is not computed again for every agent
 * state. */
static void mark_waiting(stat_stats *s, stat_stats_inst *list, bool want)
{
    for (stat_stats_inst *i = list; i; i = i->next)
        if (reads_waiting(i->stat) == want)
            mark_dirty(s, i);
}

/* What waits in q changed: its own counts of now, and its tenant's. The counting
 * statistics of q change with its visits (visit_record marks them). */
static void tenant_waiting_changed(stat_stats *s, queue_obj *q)
{
    mark_waiting(s, q->insts, true);
    mark_waiting(s, q->tenant->insts, true);
}

static void wait_add(stat_stats *s, ixn *x)
{
    queue_obj *q = x->queue;
    if (x->waiting)
        return;
    x->waiting = true;
    /* Mostly at the tail (a new visit); a reject or a snapshot puts an older one back. */
    ixn *after = q->wtail;
    while (after && after->queued_at > x->queued_at)
        after = after->wprev;
    x->wprev = after;
    x->wnext = after ? after->wnext : q->whead;
    if (x->wnext)
        x->wnext->wprev = x;
    else
        q->wtail = x;
    if (after)
        after->wnext = x;
    else
        q->whead = x;
    if (q->waiting++ == 0) {
        tenant_obj *t = q->tenant;
        q->wq_prev = NULL;
        q->wq_next = t->waiting_queues;
        if (t->waiting_queues)
            t->waiting_queues->wq_prev = q;
        t->waiting_queues = q;
    }
    if (x->media >= 0)
        q->tenant->waiting[x->media]++;
    tenant_waiting_changed(s, q);
}

static void wait_remove(stat_stats *s, ixn *x)
{
    if (!x->waiting)
        return;
    queue_obj *q = x->queue;
    x->waiting = false;
    if (x->wprev)
        x->wprev->wnext = x->wnext;
    else
        q->whead = x->wnext;
    if (x->wnext)
        x->wnext->wprev = x->wprev;
    else
        q->wtail = x->wprev;
    x->wprev = x->wnext = NULL;
    if (--q->waiting == 0) {
        if (q->wq_prev)
            q->wq_prev->wq_next = q->wq_next;
        else
            q->tenant->waiting_queues = q->wq_next;
        if (q->wq_next)
            q->wq_next->wq_prev = q->wq_prev;
        q->wq_prev = q->wq_next = NULL;
    }
    if (x->media >= 0)
        q->tenant->waiting[x->media]--;
    tenant_waiting_changed(s, q);
}

static void visit_record(stat_stats *s, queue_obj *q, int kind, int64_t at, int64_t wait,
                         int64_t now)
{
    rec r = {.at = at, .a = wait, .kind = kind};
    add_record(s, &q->visits, q->insts, &r, now);
    mark_all(s, q->insts);
}

static void agent_record(stat_stats *s, const char *tenant, const char *agent_id, int kind,
                         int64_t at, int64_t a, int64_t now)
{
    if (!agent_id)
        return;
    agent_obj *ag = agent_get(s, tenant, agent_id);
    if (!ag)
        return;
    rec r = {.at = at, .a = a, .kind = kind};
    add_record(s, &ag->ends, ag->insts, &r, now);
}

/* ---- interactions ---- */

static ixn *ixn_find(stat_stats *s, int link, const char *id, char *key, size_t *keylen)
{
    /* The link in two bytes that are never NUL (base 255, plus one), then the id. */
    size_t l = strlen(id);
    if (l + 2 > KEY_MAX)
        return NULL;
    key[0] = (char)(link / 255 + 1);
    key[1] = (char)(link % 255 + 1);
    memcpy(key + 2, id, l);
    *keylen = l + 2;
    return cc_map_get(&s->ixns, key, *keylen);
}

static void ixn_drop(stat_stats *s, ixn *x)
{
    wait_remove(s, x);
    if (x->queue)
        x->queue->nixns--;
    cc_map_del(&s->ixns, x->key, x->keylen);
    free(x->key);
    free(x);
    s->counts.interactions--;
}

/* The interaction's queue and visit become those of e. Returns true when that is a new
 * visit (another queue, or another queuedAt). */
static bool ixn_place(stat_stats *s, ixn *x, const char *server, const proto_ixr_event *e)
{
    queue_obj *q = queue_get(s, server, e->tenant, e->queue);
    if (x->queue == q && x->queued_at == e->queued_at)
        return false;
    wait_remove(s, x);
    if (x->queue)
        x->queue->nixns--;
    if (q)
        q->nixns++;
    x->queue = q;
    x->queued_at = e->queued_at;
    x->answered = false;
    x->accepted_at = 0;
    if (q && q->media < 0)
        q->media = x->media;
    return true;
}

static void ixn_set_state(stat_stats *s, ixn *x, enum cc_ixn_state st)
{
    x->state = st;
    if (st == CC_IXN_QUEUED && !s->links[x->link].down)
        wait_add(s, x);
    else
        wait_remove(s, x);
}

void stat_stats_ixn(stat_stats *s, int link, const char *server, const proto_ixr_event *e,
                    int64_t now)
{
    if (link < 0 || link >= STAT_LINKS_MAX || !server)
        return;
    if (now < s->last_now)
        now = s->last_now;
    s->last_now = now;
    s->counts.steps++;
    char key[KEY_MAX];
    size_t keylen = 0;
    ixn *x = ixn_find(s, link, e->interaction_id, key, &keylen);
    if (!keylen)
        return;
    bool known = x != NULL;
    if (!x) {
        x = xcalloc(1, sizeof *x);
        x->key = xmalloc(keylen);
        memcpy(x->key, key, keylen);
        x->keylen = keylen;
        x->link = link;
        x->media = cc_media_intern(s->cfg.media, e->media, strlen(e->media));
        x->state = CC_IXN_QUEUED;
        cc_map_put(&s->ixns, key, keylen, x);
        s->counts.interactions++;
    }
    /* An interaction first met in a step other than Queued started before anything the
     * engine knows: it is counted in no visit. */
    enum cc_ixn_state before = known ? x->state : CC_IXN_ENDED;
    bool new_visit = ixn_place(s, x, server, e);
    queue_obj *q = x->queue;
    if (!q) {
        ixn_drop(s, x);
        return;
    }
    switch (e->cause) {
    case PROTO_IXR_SNAPSHOT:
        x->gen = s->links[link].gen;
        if (new_visit || !known) {
            /* A visit that started before the link came up: counted once, at its start. */
            visit_record(s, q, K_ENTER, e->queued_at, 0, now);
            x->answered = e->state == CC_IXN_HANDLING || e->state == CC_IXN_AFTER_WORK;
        }
        if (e->state == CC_IXN_HANDLING && !x->accepted_at)
            x->accepted_at = e->at;
        ixn_set_state(s, x, e->state);
        return;
    case PROTO_IXR_QUEUED:
        if (new_visit || !known)
            visit_record(s, q, K_ENTER, e->queued_at, 0, now);
        break;
    case PROTO_IXR_INVITED:
        agent_record(s, e->tenant, e->agent_id, K_OFFERED, e->at, 0, now);
        break;
    case PROTO_IXR_ACCEPTED:
        if (!x->answered) {
            x->answered = true;
            visit_record(s, q, K_ANSWER, e->at, e->at - x->queued_at, now);
        }
        x->accepted_at = e->at;
        agent_record(s, e->tenant, e->agent_id, K_ACCEPTED, e->at, 0, now);
        break;
    case PROTO_IXR_REJECTED:
        agent_record(s, e->tenant, e->agent_id, K_REJECTED, e->at, 0, now);
        break;
    case PROTO_IXR_REVOKED:
        if (e->reason == PROTO_IXR_REASON_TIMEOUT)
            agent_record(s, e->tenant, e->agent_id, K_TIMED_OUT, e->at, 0, now);
        break;
    case PROTO_IXR_AFTER_WORK: break;
    case PROTO_IXR_ENDED:
        if ((before == CC_IXN_QUEUED || before == CC_IXN_INVITED) && !x->answered)
            visit_record(s, q, K_ABANDON, e->at, e->at - x->queued_at, now);
        if (e->reason == PROTO_IXR_REASON_DONE)
            agent_record(s, e->tenant, e->agent_id, K_HANDLED, e->at,
                         x->accepted_at ? e->at - x->accepted_at : -1, now);
        ixn_drop(s, x);
        return;
    }
    ixn_set_state(s, x, e->state);
}

void stat_stats_link_up(stat_stats *s, int link)
{
    if (link < 0 || link >= STAT_LINKS_MAX)
        return;
    s->links[link].down = false;
    s->links[link].gen++;
}

void stat_stats_snapshot_done(stat_stats *s, int link, int64_t now)
{
    (void)now;
    if (link < 0 || link >= STAT_LINKS_MAX)
        return;
    uint32_t gen = s->links[link].gen;
    size_t pos = 0;
    cc_map_slot *ms;
    /* Only the interaction under the cursor is deleted, which the map allows. */
    while ((ms = cc_map_next(&s->ixns, &pos))) {
        ixn *x = ms->value;
        if (x->link == link && x->gen != gen)
            ixn_drop(s, x);
    }
}

void stat_stats_link_down(stat_stats *s, int link, int64_t now)
{
    (void)now;
    if (link < 0 || link >= STAT_LINKS_MAX)
        return;
    s->links[link].down = true;
    size_t pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&s->ixns, &pos))) {
        ixn *x = ms->value;
        if (x->link == link)
            wait_remove(s, x);
    }
}

/* ---- agents ---- */

static enum proto_sts_state media_state(const stat_agents_view *v, int m)
{
    cc_media_mask bit = (cc_media_mask)1 << m;
    if (!v->logged_in || !(v->added & bit))
        return PROTO_STS_LOGGED_OUT;
    if (v->dnd)
        return PROTO_STS_DND;
    if (!(v->ready & bit))
        return PROTO_STS_NOT_READY;
    if (v->available[m] == 0)
        return PROTO_STS_FULL;
    if (v->holding & bit)
        return PROTO_STS_BUSY;
    return PROTO_STS_READY;
}

static bool same_text(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

void stat_stats_agent(stat_stats *s, const stat_agents_view *v, int64_t now)
{
    if (now < s->last_now)
        now = s->last_now;
    s->last_now = now;
    s->counts.agents++;
    agent_obj *a = agent_get(s, v->tenant, v->agent_id);
    if (!a)
        return;
    tenant_obj *t = a->tenant;
    bool tenant_changed = false;
    cc_media_mask ewt_media = 0;
    cc_media_mask media = (a->added | (v->logged_in ? v->added : 0));
    int before = a->nam;
    for (cc_media_mask mm = media; mm; mm &= mm - 1)
        agent_media_get(a, __builtin_ctzll(mm));
    if (a->nam != before)
        agent_rebind(a);
    cc_media_mask added = v->logged_in ? v->added : 0;
    cc_media_mask ready = v->logged_in ? v->ready : 0;
    for (int k = 0; k < a->nam; k++) {
        agent_media *am = &a->am[k];
        int m = am->media;
        cc_media_mask bit = (cc_media_mask)1 << m;
        if ((a->added ^ added) & bit) {
            if (added & bit)
                t->logged_in[m]++;
            else
                t->logged_in[m]--;
            tenant_changed = true;
        }
        if ((a->ready ^ ready) & bit) {
            if (ready & bit)
                t->ready[m]++;
            else
                t->ready[m]--;
            tenant_changed = true;
        }
        uint32_t avail = (added & bit) ? v->available[m] : 0;
        if (avail != am->available) {
            bool had = t->available[m] > 0;
            t->available[m] += avail;
            t->available[m] -= am->available;
            am->available = avail;
            tenant_changed = true;
            /* EstimatedWaitTime only asks whether someone has room. */
            if (had != (t->available[m] > 0))
                ewt_media |= bit;
        }
        enum proto_sts_state st = media_state(v, m);
        bool has_reason = st == PROTO_STS_NOT_READY && v->reasons[m].present;
        int64_t code = has_reason ? v->reasons[m].code : 0;
        const char *desc = has_reason ? v->reasons[m].description : NULL;
        if (st != am->state || has_reason != am->has_reason || code != am->code ||
            !same_text(desc, am->desc)) {
            am->state = st;
            am->since = now;
            am->has_reason = has_reason;
            am->code = code;
            free(am->desc);
            am->desc = desc ? xstrdup(desc) : NULL;
            mark_all(s, a->insts);
        }
        int32_t kind = (ready & bit) ? SEG_READY : st == PROTO_STS_NOT_READY ? SEG_NOT_READY : 0;
        add_segment(s, &am->seg, a->insts, kind, has_reason, code, now);
    }
    a->added = added;
    a->ready = ready;
    bool busy = v->logged_in && v->holding != 0;
    add_segment(s, &a->seg, a->insts, (v->logged_in ? SEG_LOGIN : 0) | (busy ? SEG_BUSY : 0), false,
                0, now);
    a->logged_in = v->logged_in;
    if (tenant_changed)
        mark_waiting(s, t->insts, false);
    if (ewt_media)
        for (queue_obj *q = t->queues; q; q = q->tnext)
            if (q->media >= 0 && (ewt_media >> q->media & 1))
                for (stat_stats_inst *i = q->insts; i; i = i->next)
                    if (i->stat == PROTO_STS_Q_EWT)
                        mark_dirty(s, i);
}

/* ---- statistics ---- */

/* The key of a definition: identifiers hold no control characters, so \x01 separates. */
static size_t inst_key(char *buf, size_t cap, const proto_sts_open *d, int media, int64_t thr)
{
    int n = snprintf(buf, cap, "%d\x01%d\x01%s\x01%s\x01%s\x01%lld\x01%lld\x01%d\x01%d\x01%lld",
                     (int)d->type, (int)d->statistic, d->server ? d->server : "", d->tenant,
                     d->id ? d->id : "", (long long)d->sliding_s, (long long)thr, media,
                     d->has_reason, (long long)d->reason);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static bool uses_threshold(enum proto_sts_stat st)
{
    return st == PROTO_STS_Q_SERVICE_LEVEL;
}

static void inst_link(stat_stats_inst **list, stat_stats_inst *i)
{
    i->prev = NULL;
    i->next = *list;
    if (*list)
        (*list)->prev = i;
    *list = i;
}

static stat_stats_inst **inst_list(stat_stats_inst *i)
{
    if (i->queue)
        return &i->queue->insts;
    if (i->agent)
        return &i->agent->insts;
    return &i->tenant->insts;
}

stat_stats_inst *stat_stats_open(stat_stats *s, const proto_sts_open *def, int media, int64_t now)
{
    if (proto_sts_stat_per_media((int)def->statistic) && media < 0)
        return NULL;
    if (proto_sts_stat_object((int)def->statistic) != (int)def->type)
        return NULL;
    if (!proto_sts_stat_per_media((int)def->statistic))
        media = -1;
    if (now < s->last_now)
        now = s->last_now;
    int64_t thr = uses_threshold(def->statistic)
                      ? (def->threshold_s >= 0 ? def->threshold_s : s->cfg.threshold_s)
                      : 0;
    bool reason = def->statistic == PROTO_STS_A_NOT_READY_TIME && def->has_reason;
    proto_sts_open d = *def;
    d.has_reason = reason;
    if (!reason)
        d.reason = 0;
    char key[4 * KEY_MAX];
    size_t n = inst_key(key, sizeof key, &d, media, thr);
    if (!n)
        return NULL;
    stat_stats_inst *i = cc_map_get(&s->insts, key, n);
    if (i) {
        i->refs++;
        return i;
    }
    i = xcalloc(1, sizeof *i);
    i->key = xmalloc(n);
    memcpy(i->key, key, n);
    i->keylen = n;
    i->refs = 1;
    i->stat = def->statistic;
    i->sliding_ms = def->sliding_s * 1000;
    i->threshold_ms = thr * 1000;
    i->media = media;
    i->has_reason = reason;
    i->reason = d.reason;
    switch (def->type) {
    case PROTO_STS_QUEUE:
        i->queue = queue_get(s, def->server, def->tenant, def->id);
        if (!i->queue)
            goto bad;
        i->tenant = i->queue->tenant;
        break;
    case PROTO_STS_AGENT:
        i->agent = agent_get(s, def->tenant, def->id);
        if (!i->agent)
            goto bad;
        i->tenant = i->agent->tenant;
        break;
    case PROTO_STS_TENANT: i->tenant = tenant_get(s, def->tenant); break;
    }
    switch (i->stat) {
    case PROTO_STS_Q_ENTERED:
    case PROTO_STS_Q_ANSWERED:
    case PROTO_STS_Q_ABANDONED:
    case PROTO_STS_Q_SERVICE_LEVEL:
    case PROTO_STS_Q_ASA: i->ser = &i->queue->visits; break;
    case PROTO_STS_A_OFFERED:
    case PROTO_STS_A_ACCEPTED:
    case PROTO_STS_A_REJECTED:
    case PROTO_STS_A_TIMED_OUT:
    case PROTO_STS_A_HANDLED:
    case PROTO_STS_A_AHT: i->ser = &i->agent->ends; break;
    case PROTO_STS_A_LOGIN_TIME:
    case PROTO_STS_A_BUSY_TIME: i->ser = &i->agent->seg; break;
    case PROTO_STS_A_READY_TIME:
    case PROTO_STS_A_NOT_READY_TIME: {
        int before = i->agent->nam;
        agent_media_get(i->agent, media);
        if (i->agent->nam != before)
            agent_rebind(i->agent);
        for (int k = 0; k < i->agent->nam; k++)
            if (i->agent->am[k].media == media)
                i->ser = &i->agent->am[k].seg;
        break;
    }
    case PROTO_STS_Q_EWT: {
        proto_sts_open r = *def;
        r.statistic = PROTO_STS_Q_ANSWERED;
        r.sliding_s = EWT_WINDOW_S;
        i->ewt_rate = stat_stats_open(s, &r, -1, now);
        break;
    }
    default: break;
    }
    if (i->ser)
        initial_sums(s, i, now);
    inst_link(inst_list(i), i);
    if (i->stat == PROTO_STS_A_READY_TIME || i->stat == PROTO_STS_A_NOT_READY_TIME)
        agent_rebind(i->agent);
    cc_map_put(&s->insts, key, n, i);
    s->counts.open++;
    return i;
bad:
    free(i->key);
    free(i);
    return NULL;
}

/* Drops a reference; with gc, the object goes too when nothing else holds it. */
static void inst_close(stat_stats *s, stat_stats_inst *i, bool gc)
{
    if (!i || --i->refs > 0)
        return;
    stat_stats_inst **list = inst_list(i);
    if (i->prev)
        i->prev->next = i->next;
    else
        *list = i->next;
    if (i->next)
        i->next->prev = i->prev;
    if (i->dirty) {
        /* Out of the dirty list: rare (a close right after a change), so a walk. */
        stat_stats_inst **pp = &s->dirty_head, *prev = NULL;
        while (*pp != i) {
            prev = *pp;
            pp = &(*pp)->dirty_next;
        }
        *pp = i->dirty_next;
        if (s->dirty_tail == i)
            s->dirty_tail = prev;
    }
    if (i->ewt_rate)
        inst_close(s, i->ewt_rate, false);
    cc_map_del(&s->insts, i->key, i->keylen);
    s->counts.open--;
    queue_obj *q = i->queue;
    agent_obj *a = i->agent;
    tenant_obj *t = i->tenant;
    free(i->key);
    free(i);
    if (!gc)
        return;
    if (q)
        queue_gc(s, q);
    else if (a)
        agent_gc(s, a);
    else
        tenant_gc(s, t);
}

void stat_stats_close(stat_stats *s, stat_stats_inst *i)
{
    inst_close(s, i, true);
}

static proto_sts_value v_int(int64_t n)
{
    return (proto_sts_value){.type = PROTO_STS_INT, .v = n};
}

static proto_sts_value v_milli(int64_t n)
{
    return (proto_sts_value){.type = PROTO_STS_MILLI, .v = n};
}

static proto_sts_value v_null(void)
{
    return (proto_sts_value){.type = PROTO_STS_NULL};
}

/* num / den rounded to the nearest (both >= 0). */
static int64_t div_round(int64_t num, int64_t den)
{
    return (num + den / 2) / den;
}

static int64_t oldest_wait(const queue_obj *q, int64_t now)
{
    if (!q->whead)
        return 0;
    int64_t w = now - q->whead->queued_at;
    return w > 0 ? w : 0;
}

/* A day time statistic: the closed time of its series' day sums, and the open segment's
 * part of the day. */
static int64_t day_time_value(stat_stats *s, stat_stats_inst *i, int64_t now)
{
    series *se = i->ser;
    day_roll(s, se, now);
    const day_acc *d = &se->day;
    int64_t v = 0;
    switch (i->stat) {
    case PROTO_STS_A_LOGIN_TIME:
    case PROTO_STS_A_READY_TIME: v = d->ms[0]; break;
    case PROTO_STS_A_BUSY_TIME: v = d->ms[1]; break;
    case PROTO_STS_A_NOT_READY_TIME:
        if (!i->has_reason) {
            v = d->ms[1];
            break;
        }
        for (uint32_t k = 0; k < d->nreasons; k++)
            if (d->reasons[k].code == i->reason)
                v = d->reasons[k].ms;
        break;
    default: break;
    }
    if (se->n) {
        const rec *last = series_at(se, series_end(se) - 1);
        int64_t from = last->at > d->lo ? last->at : d->lo;
        if (seg_pred(i, last) && now > from)
            v += now - from;
    }
    return v;
}

static int64_t time_value(stat_stats *s, stat_stats_inst *i, int64_t now)
{
    series *se = i->ser;
    if (!i->sliding_ms)
        return day_time_value(s, i, now);
    if (!se->n)
        return 0;
    int64_t ws = window_start(i, now);
    const rec *last = series_at(se, series_end(se) - 1);
    const rec *first = series_at(se, i->cur);
    int64_t v = i->num;
    if (seg_pred(i, last) && now > last->at)
        v += now - last->at;
    if (seg_pred(i, first) && ws > first->at)
        v -= ws - first->at;
    return v > 0 ? v : 0;
}

proto_sts_value stat_stats_value(stat_stats *s, stat_stats_inst *i, int64_t now)
{
    if (now < s->last_now)
        now = s->last_now;
    expire(s, i, now);
    switch (i->stat) {
    case PROTO_STS_Q_WAITING: return v_int(i->queue->waiting);
    case PROTO_STS_Q_OLDEST_WAIT: return v_milli(oldest_wait(i->queue, now));
    case PROTO_STS_Q_ENTERED:
    case PROTO_STS_Q_ANSWERED:
    case PROTO_STS_Q_ABANDONED:
    case PROTO_STS_A_OFFERED:
    case PROTO_STS_A_ACCEPTED:
    case PROTO_STS_A_REJECTED:
    case PROTO_STS_A_TIMED_OUT:
    case PROTO_STS_A_HANDLED: return v_int(i->num);
    case PROTO_STS_Q_SERVICE_LEVEL:
        return i->den ? v_milli(div_round(i->num * 100000, i->den)) : v_null();
    case PROTO_STS_Q_ASA:
    case PROTO_STS_A_AHT: return i->den ? v_milli(div_round(i->num, i->den)) : v_null();
    case PROTO_STS_Q_EWT: {
        queue_obj *q = i->queue;
        if (q->media >= 0 && q->tenant->available[q->media] > 0)
            return v_milli(0);
        expire(s, i->ewt_rate, now);
        int64_t answered = i->ewt_rate->num;
        if (!answered)
            return v_null();
        return v_milli(div_round(((int64_t)q->waiting + 1) * EWT_WINDOW_S * 1000, answered));
    }
    case PROTO_STS_A_STATE: {
        proto_sts_value v = {.type = PROTO_STS_STATE, .state = PROTO_STS_LOGGED_OUT};
        for (int k = 0; k < i->agent->nam; k++) {
            const agent_media *am = &i->agent->am[k];
            if (am->media != i->media)
                continue;
            v.state = am->state;
            v.since = am->since;
            v.has_reason = am->has_reason;
            v.reason_code = am->code;
            v.reason_desc = am->desc;
        }
        return v;
    }
    case PROTO_STS_A_LOGIN_TIME:
    case PROTO_STS_A_READY_TIME:
    case PROTO_STS_A_NOT_READY_TIME:
    case PROTO_STS_A_BUSY_TIME: return v_milli(time_value(s, i, now));
    case PROTO_STS_T_LOGGED_IN: return v_int(i->tenant->logged_in[i->media]);
    case PROTO_STS_T_READY: return v_int(i->tenant->ready[i->media]);
    case PROTO_STS_T_AVAILABLE: return v_int((int64_t)i->tenant->available[i->media]);
    case PROTO_STS_T_WAITING: return v_int(i->tenant->waiting[i->media]);
    case PROTO_STS_T_OLDEST_WAIT: {
        int64_t w = 0;
        for (const queue_obj *q = i->tenant->waiting_queues; q; q = q->wq_next)
            if (q->media == i->media) {
                int64_t qw = oldest_wait(q, now);
                if (qw > w)
                    w = qw;
            }
        return v_milli(w);
    }
    default: return v_null();
    }
}

bool stat_stats_time_driven(const stat_stats_inst *i)
{
    switch (i->stat) {
    case PROTO_STS_Q_WAITING:
    case PROTO_STS_A_STATE:
    case PROTO_STS_T_LOGGED_IN:
    case PROTO_STS_T_READY:
    case PROTO_STS_T_AVAILABLE:
    case PROTO_STS_T_WAITING: return false;
    default: return true;
    }
}

void *stat_stats_user(const stat_stats_inst *i)
{
    return i->user;
}

void stat_stats_set_user(stat_stats_inst *i, void *user)
{
    i->user = user;
}

stat_stats_inst *stat_stats_next_dirty(stat_stats *s)
{
    stat_stats_inst *i = s->dirty_head;
    if (!i)
        return NULL;
    s->dirty_head = i->dirty_next;
    if (!s->dirty_head)
        s->dirty_tail = NULL;
    i->dirty = false;
    i->dirty_next = NULL;
    return i;
}

stat_stats_counts stat_stats_get_counts(const stat_stats *s)
{
    stat_stats_counts c = s->counts;
    c.objects = s->queues.count + s->agents.count + s->tenants.count;
    return c;
}

stat_stats *stat_stats_new(const stat_stats_config *cfg)
{
    stat_stats *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    if (!s->cfg.max_records)
        s->cfg.max_records = STAT_STATS_RECORDS_MAX;
    if (s->cfg.max_records < 2)
        s->cfg.max_records = 2; /* a segment needs the next one to end */
    if (s->cfg.sliding_keep_s == 0)
        s->cfg.sliding_keep_s = STAT_STATS_KEEP_DEFAULT_S;
    s->keep_ms = s->cfg.sliding_keep_s > 0 ? s->cfg.sliding_keep_s * 1000 : 0;
    int64_t longest =
        s->cfg.threshold_s > PROTO_STS_THRESHOLD_MAX ? s->cfg.threshold_s : PROTO_STS_THRESHOLD_MAX;
    s->sl_cap = (uint32_t)(longest + 1);
    cc_map_init(&s->tenants);
    cc_map_init(&s->queues);
    cc_map_init(&s->agents);
    cc_map_init(&s->ixns);
    cc_map_init(&s->insts);
    return s;
}

void stat_stats_free(stat_stats *s)
{
    if (!s)
        return;
    size_t pos = 0;
    cc_map_slot *ms;
    while ((ms = cc_map_next(&s->insts, &pos))) {
        stat_stats_inst *i = ms->value;
        free(i->key);
        free(i);
    }
    pos = 0;
    while ((ms = cc_map_next(&s->ixns, &pos))) {
        ixn *x = ms->value;
        free(x->key);
        free(x);
    }
    pos = 0;
    while ((ms = cc_map_next(&s->queues, &pos))) {
        queue_obj *q = ms->value;
        series_free(s, &q->visits);
        free(q->key);
        free(q);
    }
    pos = 0;
    while ((ms = cc_map_next(&s->agents, &pos))) {
        agent_obj *a = ms->value;
        for (int k = 0; k < a->nam; k++) {
            free(a->am[k].desc);
            series_free(s, &a->am[k].seg);
        }
        free(a->am);
        series_free(s, &a->seg);
        series_free(s, &a->ends);
        free(a->key);
        free(a);
    }
    pos = 0;
    while ((ms = cc_map_next(&s->tenants, &pos))) {
        tenant_obj *t = ms->value;
        free(t->name);
        free(t);
    }
    cc_map_free(&s->tenants);
    cc_map_free(&s->queues);
    cc_map_free(&s->agents);
    cc_map_free(&s->ixns);
    cc_map_free(&s->insts);
    free(s);
}

void stat_stats_each(stat_stats *s, enum proto_sts_object type,
                     void (*fn)(void *user, const stat_stats_object *o), void *user)
{
    size_t pos = 0;
    if (type == PROTO_STS_QUEUE) {
        for (cc_map_slot *sl; (sl = cc_map_next(&s->queues, &pos));) {
            const queue_obj *q = sl->value;
            /* The key is "server\0tenant\0id\0" (key2). */
            const char *server = q->key;
            const char *tenant = server + strlen(server) + 1;
            const char *id = tenant + strlen(tenant) + 1;
            fn(user,
               &(stat_stats_object){.type = type, .server = server, .tenant = tenant, .id = id});
        }
    } else if (type == PROTO_STS_AGENT) {
        for (cc_map_slot *sl; (sl = cc_map_next(&s->agents, &pos));) {
            const agent_obj *a = sl->value;
            const char *tenant = a->key;
            const char *id = tenant + strlen(tenant) + 1;
            cc_media_mask media = 0;
            for (int k = 0; k < a->nam; k++)
                if (a->am[k].media >= 0 && a->am[k].media < CC_MEDIA_MAX)
                    media |= (cc_media_mask)1 << a->am[k].media;
            fn(user,
               &(stat_stats_object){.type = type, .tenant = tenant, .id = id, .media = media});
        }
    }
}

int64_t stat_stats_clock(const stat_stats *s, int64_t wall_ms)
{
    return wall_ms < s->last_now ? s->last_now : wall_ms;
}

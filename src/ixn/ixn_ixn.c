#include "ixn/ixn_ixn.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/map.h"
#include "ixn/ixn_batch.h"
#include "ixn/ixn_ixnreport.h"
#include "ixn/ixn_metrics.h"
#include "ixn/ixn_report.h"
#include "ixn/ixn_route.h"
#include "net/turnw.h"
#include "proto/ixnmsg.h"
#include "store/store.h"

/* Invitations sent per loop turn at most, so that a burst of submits or statuses never
 * keeps the loop from reading and writing for long. */
#define ROUTE_BUDGET 2048
/* At most this many agents that stopped being eligible are dropped from the routing lists
 * per pass (ixn_route_pass_begin): about 1 µs each, so a pass stays well under a
 * millisecond; the rest go in the next turns. */
#define ROUTE_STALE_BUDGET 256
/* Agents looked at per loop turn at most while searching for one with room. */
#define SCAN_BUDGET 200000
/* Commit-and-answer rounds per loop turn at most (see on_check). */
#define COMMIT_ROUNDS 8
/* Ended interactions forgotten per purge run at most. */
#define PURGE_BUDGET 100000
/* After a failed commit, milliseconds before changes kept in memory are written again,
 * before timers (invite timeouts, after-work ends) whose change was undone fire again,
 * and before routing offers again: a full disk must not make the loop spin. */
#define RETRY_MS 1000
/* Longest queue key (ixn_config_key) or pool key, with its NUL. */
#define QKEY_MAX IXN_KEY_MAX
/* How often a standby asks for the PostgreSQL store's lock while another process owns it. */
#define STANDBY_RETRY_MS 200
/* Order keys above this (2001-09-09 in microseconds) are times: see ixn_ixn.order. */
#define ORDER_KEY_TIME_MIN 1000000000000000LL

/* A request answered after the commit of this loop turn. */
typedef struct ixn_waiter {
    cc_session *s;  /* NULL once its session closed */
    int err;        /* 0: the ack buffer; else the refusal, sent after the commit */
    size_t out_pos; /* held events of the batch when it began to wait (they go first) */
    char desc[192]; /* the refusal's description */
} ixn_waiter;

typedef struct ixn_core {
    ixn_server *srv;
    store *st;       /* NULL without data-dir */
    cc_map ixns;     /* id -> ixn_ixn, ended ones included while kept */
    cc_map external; /* externalId -> ixn_ixn */
    cc_map queues;   /* "tenant/queue" -> ixn_queue */
    cc_map pools;    /* "tenant\n<media id>" -> ixn_pool */
    ixn_queue **qlist;
    size_t nq;
    ixn_pool **plist;
    size_t np;
    ixn_pool *dirty_head, *dirty_tail;
    int64_t last_num;         /* the highest interaction number used */
    int64_t order_clock;      /* above every order key in use */
    uint64_t take_clock;      /* above every take_seq in use */
    ixn_waiter *wait, *spare; /* waiting requests; spare is the list being answered */
    size_t nwait, capwait, nspare, capspare, spare_pos;
    ixn_ixn *invite_head, *invite_tail;
    ixn_ixn *aw_head[CC_MEDIA_MAX], *aw_tail[CC_MEDIA_MAX];
    ixn_ixn *ended_head, *ended_tail; /* by the time they ended */
    size_t nended;
    ixn_batch batch;         /* the uncommitted batch (only with a store) */
    ixn_router router;       /* the routing index and its widening timer */
    uint64_t retry_after_us; /* monotonic: timers wait until then after a failed commit */
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t tick;
    uv_timer_t purge;
    uv_timer_t retry;
    uv_timer_t renew; /* PostgreSQL: renews the owner row */
    uv_poll_t *poll;  /* PostgreSQL: the store's socket while a commit is in flight */
    int poll_fd;
    size_t seal_wait;      /* waiting requests answered by the commit in flight */
    uint64_t answers_sent; /* waiting requests answered, PostgreSQL path */
    uint64_t epoch;        /* PostgreSQL: the store's ownership epoch (0: SQLite or none) */
    uint64_t tick_due_us;  /* when tick is armed for; 0 = not armed */
    bool idle_on;
    bool more; /* routing stopped on its budget: go on next turn */
    bool closed;
    bool loading; /* store_load runs: nothing to undo (a failed start exits) */
    cc_buf buf;
    /* counters, logged at exit */
    uint64_t submitted, duplicates, invites, accepted, rejected, timeouts, stopped, ended;
    uint64_t commits, commit_failures, undone, forgotten;
} ixn_core;

static void on_idle(uv_idle_t *h)
{
    (void)h;
}

/* ---- names and small helpers ---- */

static bool is_busy(enum cc_ixn_state st)
{
    return st == CC_IXN_INVITED || st == CC_IXN_HANDLING;
}

/* Queue names and tenants may contain '/': the key escapes the tenant (ixn_config_key), so
 * a submit for tenant "a/b", queue "q" cannot land in tenant "a"'s queue "b/q". */
static size_t qkey(char *key, const char *tenant, const char *name)
{
    return ixn_config_key(key, tenant, name);
}

static int pkey(char *key, const char *tenant, int media)
{
    int n = snprintf(key, QKEY_MAX, "%s\n%d", tenant, media);
    assert(n > 0 && n < QKEY_MAX);
    return n;
}

/* A queue that takes new interactions: configured, and not removed by a reload (a removed
 * one serves what it holds until it is empty). */
static ixn_queue *queue_find(ixn_core *k, const char *tenant, const char *name)
{
    char key[QKEY_MAX];
    qkey(key, tenant, name);
    ixn_queue *q = cc_map_gets(&k->queues, key);
    return q && !q->draining ? q : NULL;
}

/* Any queue of that name, draining ones included (the store's rows name them). */
static ixn_queue *queue_any(ixn_core *k, const char *tenant, const char *name)
{
    char key[QKEY_MAX];
    qkey(key, tenant, name);
    return cc_map_gets(&k->queues, key);
}

/* The userData text is the bulk of an interaction's memory: it is declared to the net's
 * process total, which max-memory compares (new submits get 12 past it). */
static void user_data_declare(ixn_core *k, const char *text, int sign)
{
    if (text)
        cc_net_mem_declare(k->srv->cs->net, sign * (long long)(strlen(text) + 1));
}

/* Frees an interaction's userData (it stays in the store) and takes it off the total. */
static void user_data_drop(ixn_core *k, ixn_ixn *x)
{
    user_data_declare(k, x->user_data, -1);
    free(x->user_data);
    x->user_data = NULL;
}

static const char *media_name(const ixn_core *k, int m)
{
    return cc_media_name(&k->srv->cfg->media, m);
}

/* Keeps the loop from blocking in poll: something waits for the commit of this turn. */
static void idle_on(ixn_core *k)
{
    if (!k->idle_on && !k->closed) {
        uv_idle_start(&k->idle, on_idle);
        k->idle_on = true;
    }
}

/* ---- the store ---- */

/* Puts x's row into the batch. An ended interaction whose userData was dropped from
 * memory is ended by id, so that the stored userData stays. */
static void persist(ixn_core *k, const ixn_ixn *x)
{
    if (!k->st)
        return;
    /* A change from a timer or a closing connection is committed (and its held events
     * sent) in this loop turn's check, not after the next poll. */
    idle_on(k);
    if (x->state == CC_IXN_ENDED && !x->user_data) {
        int rc = store_end(k->st, x->num, x->ended_us);
        if (rc)
            LOG_ERROR("event=store_put_failed interaction=%s error=%s", x->id, cc_err_name(rc));
        return;
    }
    store_ixn r = {
        .id = x->num,
        .tenant = x->queue->tenant,
        .media = media_name(k, x->media),
        .queue = x->queue->name,
        .user_data = x->user_data,
        .external_id = x->external_id,
        .agent = x->agent ? x->agent->key : NULL,
        .state = (int)x->state,
        .order_key = x->order,
        .priority = x->priority,
        .created_us = x->created_us,
        .updated_us = x->updated_us,
        .ended_us = x->ended_us,
    };
    int rc = store_put(k->st, &r);
    if (rc)
        LOG_ERROR("event=store_put_failed interaction=%s error=%s", x->id, cc_err_name(rc));
}

/* ---- the batch: what a failed commit undoes ---- */

/* Changes are logged only with a store: without one nothing can fail. */
static bool batching(const ixn_core *k)
{
    return k->st && !k->loading;
}

/* Called before every change of x: the first change of the batch records what x was. */
static void touch(ixn_core *k, ixn_ixn *x)
{
    if (batching(k) && !x->batch)
        ixn_batch_log(&k->batch, x);
    else if (batching(k))
        ixn_batch_touched(&k->batch, x);
}

/* The offer about to move a in media m's idle order is undone with the batch. */
static void touch_offer(ixn_core *k, ixn_agent *a, int m)
{
    if (batching(k))
        ixn_batch_offer(&k->batch, a, m);
}

/* Reports a's whole state (now, so that versions stay in order with the reports of
 * ixn_agents) and notes that a failed commit must report it again. */
static void report(ixn_core *k, ixn_agent *a, const char *cause, int64_t resv_id)
{
    ixn_agent_changed_resv(k->srv, a, cause, resv_id);
    if (batching(k))
        ixn_batch_reported(&k->batch, a);
}

/* Sends an event to a's desktop, or holds it until the commit of the batch whose change
 * it tells of: a desktop never hears of a change that a failed commit undoes. */
static void emit(ixn_core *k, ixn_agent *a, cc_buf *b)
{
    cc_sbuf *sb = cc_sbuf_new(b->data, b->len);
    if (batching(k)) {
        ixn_batch_hold(&k->batch, a, sb);
        return;
    }
    cc_session_send(a->client->session, sb, NULL);
    cc_sbuf_unref(sb);
}

/* Reports a step of x to the reporting engines that subscribed to interactions: with the
 * commit of the batch that holds its change, or now when nothing can undo it. */
static void step(ixn_core *k, ixn_ixn *x, enum proto_ixr_cause cause, const ixn_agent *a,
                 const ixn_queue *from, enum proto_ixr_reason why)
{
    ixn_ixnreport_step(k->srv, batching(k) ? &k->batch : NULL, x, cause, a, from, why);
}

/* ---- queues, agents, timers ---- */

static void set_state(ixn_ixn *x, enum cc_ixn_state st)
{
    ixn_queue *q = x->queue;
    assert(q->count[x->state] > 0);
    q->count[x->state]--;
    q->count[st]++;
    if (x->agent)
        x->agent->busy = x->agent->busy - (is_busy(x->state) ? 1u : 0u) + (is_busy(st) ? 1u : 0u);
    x->state = st;
    x->updated_us = (int64_t)cc_wall_us();
}

/* The next order key: the wall clock in microseconds, above every key in use, so that
 * a queue's order is the order its interactions entered it, across restarts. */
static int64_t next_order(ixn_core *k)
{
    int64_t now = (int64_t)cc_wall_us();
    if (now <= k->order_clock)
        now = k->order_clock + 1;
    k->order_clock = now;
    return now;
}

static int64_t order_key(const ixn_ixn *x)
{
    return x->order;
}

static int64_t ended_key(const ixn_ixn *x)
{
    return x->ended_us;
}

/* Links x into the q_prev/q_next list head..tail after the last entry whose key is not
 * above x's. Most inserts belong near the tail, so the walk starts there. */
static void list_insert_by(ixn_ixn **head, ixn_ixn **tail, ixn_ixn *x,
                           int64_t (*key)(const ixn_ixn *))
{
    int64_t k = key(x);
    ixn_ixn *after = *tail;
    while (after && key(after) > k)
        after = after->q_prev;
    x->q_prev = after;
    x->q_next = after ? after->q_next : *head;
    if (x->q_next)
        x->q_next->q_prev = x;
    else
        *tail = x;
    if (after)
        after->q_next = x;
    else
        *head = x;
}

/* Links x, queued, at its place by order key in its queue (new ones at the tail; a
 * rejected one, or an undo, keeps its key and so its place) and in the routing index. */
static void queue_insert(ixn_core *k, ixn_ixn *x)
{
    ixn_queue *q = x->queue;
    list_insert_by(&q->head, &q->tail, x, order_key);
    x->queued_mono_us = cc_mono_us();
    ixn_route_add(&k->router, x);
}

/* Takes x out of the q_prev/q_next list head..tail. */
static void list_unlink(ixn_ixn **head, ixn_ixn **tail, ixn_ixn *x)
{
    if (x->q_prev)
        x->q_prev->q_next = x->q_next;
    else
        *head = x->q_next;
    if (x->q_next)
        x->q_next->q_prev = x->q_prev;
    else
        *tail = x->q_prev;
    x->q_prev = x->q_next = NULL;
}

static void queue_unlink(ixn_core *k, ixn_ixn *x)
{
    ixn_route_remove(&k->router, x);
    list_unlink(&x->queue->head, &x->queue->tail, x);
}

/* Links x into a's held list at its place by take_seq (the order taken). */
static void agent_attach(ixn_ixn *x, ixn_agent *a)
{
    assert(!x->agent);
    x->agent = a;
    ixn_ixn *after = a->held_tail;
    while (after && after->take_seq > x->take_seq)
        after = after->a_prev;
    x->a_prev = after;
    x->a_next = after ? after->a_next : a->held_head;
    if (x->a_next)
        x->a_next->a_prev = x;
    else
        a->held_tail = x;
    if (after)
        after->a_next = x;
    else
        a->held_head = x;
    a->held_media[x->media]++;
    if (is_busy(x->state))
        a->busy++;
}

static void agent_detach(ixn_ixn *x)
{
    ixn_agent *a = x->agent;
    if (!a)
        return;
    if (x->a_prev)
        x->a_prev->a_next = x->a_next;
    else
        a->held_head = x->a_next;
    if (x->a_next)
        x->a_next->a_prev = x->a_prev;
    else
        a->held_tail = x->a_prev;
    x->a_prev = x->a_next = NULL;
    assert(a->held_media[x->media] > 0);
    a->held_media[x->media]--;
    if (is_busy(x->state)) {
        assert(a->busy > 0);
        a->busy--;
    }
    x->agent = NULL;
}

static ixn_ixn **timer_head(ixn_core *k, int t)
{
    return t == 0 ? &k->invite_head : &k->aw_head[t - 1];
}
static ixn_ixn **timer_tail(ixn_core *k, int t)
{
    return t == 0 ? &k->invite_tail : &k->aw_tail[t - 1];
}

/* Links x into timer list t at its place by deadline. */
static void timer_insert(ixn_core *k, ixn_ixn *x, int t, uint64_t deadline_us)
{
    assert(x->timer < 0);
    x->timer = t;
    x->deadline_us = deadline_us;
    ixn_ixn **head = timer_head(k, t), **tail = timer_tail(k, t);
    ixn_ixn *after = *tail;
    while (after && after->deadline_us > deadline_us)
        after = after->t_prev;
    x->t_prev = after;
    x->t_next = after ? after->t_next : *head;
    if (x->t_next)
        x->t_next->t_prev = x;
    else
        *tail = x;
    if (after)
        after->t_next = x;
    else
        *head = x;
}

/* Every list holds one duration, so a new deadline goes to the tail. */
static void timer_set(ixn_core *k, ixn_ixn *x, int t, unsigned seconds)
{
    timer_insert(k, x, t, cc_mono_us() + (uint64_t)seconds * 1000000u);
}

/* The ended list, by the time they ended: the oldest are forgotten first. */
static void ended_insert(ixn_core *k, ixn_ixn *x)
{
    list_insert_by(&k->ended_head, &k->ended_tail, x, ended_key);
    k->nended++;
}

static void ended_unlink(ixn_core *k, ixn_ixn *x)
{
    list_unlink(&k->ended_head, &k->ended_tail, x);
    assert(k->nended > 0);
    k->nended--;
}

static void timer_clear(ixn_core *k, ixn_ixn *x)
{
    if (x->timer < 0)
        return;
    ixn_ixn **head = timer_head(k, x->timer), **tail = timer_tail(k, x->timer);
    if (x->t_prev)
        x->t_prev->t_next = x->t_next;
    else
        *head = x->t_next;
    if (x->t_next)
        x->t_next->t_prev = x->t_prev;
    else
        *tail = x->t_prev;
    x->t_prev = x->t_next = NULL;
    x->timer = -1;
}

static void pool_kick(ixn_core *k, ixn_pool *p)
{
    if (p->dirty)
        return;
    p->dirty = true;
    p->dirty_next = NULL;
    if (k->dirty_tail)
        k->dirty_tail->dirty_next = p;
    else
        k->dirty_head = p;
    k->dirty_tail = p;
}

static void pool_unlink(ixn_pool *p, ixn_agent *a)
{
    int m = p->media;
    if (a->pool_prev[m])
        a->pool_prev[m]->pool_next[m] = a->pool_next[m];
    else
        p->head = a->pool_next[m];
    if (a->pool_next[m])
        a->pool_next[m]->pool_prev[m] = a->pool_prev[m];
    else
        p->tail = a->pool_prev[m];
    a->pool_prev[m] = a->pool_next[m] = NULL;
}

/* The agent's place in the idle order of media m: its last offer of m here, or its
 * login here when never offered (protocol 7: not when m was added or became ready). */
static uint64_t idle_key(const ixn_agent *a, int m)
{
    return a->offer_seq[m] ? a->offer_seq[m] : a->login_seq;
}

/* Joins the pool at the agent's place in idle order. Most joins are logins, whose key is
 * the newest, so the walk starts at the tail. */
static void pool_insert(ixn_pool *p, ixn_agent *a)
{
    int m = p->media;
    uint64_t key = idle_key(a, m);
    ixn_agent *after = p->tail;
    while (after && idle_key(after, m) > key)
        after = after->pool_prev[m];
    a->pool_prev[m] = after;
    a->pool_next[m] = after ? after->pool_next[m] : p->head;
    if (a->pool_next[m])
        a->pool_next[m]->pool_prev[m] = a;
    else
        p->tail = a;
    if (after)
        after->pool_next[m] = a;
    else
        p->head = a;
}

static void pool_append(ixn_pool *p, ixn_agent *a)
{
    int m = p->media;
    a->pool_next[m] = NULL;
    a->pool_prev[m] = p->tail;
    if (p->tail)
        p->tail->pool_next[m] = a;
    else
        p->head = a;
    p->tail = a;
}

/* ---- events to the agent ---- */

static void send_to_agent(ixn_core *k, ixn_agent *a, const char *name, const ixn_ixn *x,
                          const char *reason)
{
    if (!a || !a->client || !a->client->session)
        return;
    int kind = proto_ixn_event_kind(name);
    assert(kind >= 0);
    cc_buf *b = &k->buf;
    cc_buf_reset(b);
    proto_ixn_enc_event(b, &(proto_ixn_event){.kind = (enum proto_ixn_event_kind)kind,
                                              .interaction_id = x->id,
                                              .reason = reason});
    emit(k, a, b);
}

/* Encodes the EventInvite of x into k->buf. */
static cc_buf *enc_invite(ixn_core *k, const ixn_ixn *x, unsigned timeout_s)
{
    cc_buf *b = &k->buf;
    cc_buf_reset(b);
    proto_ixn_enc_invite(b, &(proto_ixn_invite){.interaction_id = x->id,
                                                .tenant = x->queue->tenant,
                                                .media = media_name(k, x->media),
                                                .queue = x->queue->name,
                                                .user_data = x->user_data,
                                                .timeout_sec = timeout_s});
    return b;
}

/* ---- transitions ---- */

/* Back to the head of its queue (reject, timeout, the agent gone): cause NULL reports
 * no agent state (the agent's logout reports the result); the interaction's step is
 * reported as rcause with why. */
static void back_to_queue(ixn_core *k, ixn_ixn *x, const char *cause, enum proto_ixr_cause rcause,
                          enum proto_ixr_reason why)
{
    ixn_agent *a = x->agent;
    touch(k, x);
    timer_clear(k, x);
    agent_detach(x);
    set_state(x, CC_IXN_QUEUED);
    queue_insert(k, x);
    persist(k, x);
    step(k, x, rcause, a, NULL, why);
    if (a && cause)
        report(k, a, cause, 0);
    pool_kick(k, x->queue->pool);
}

/* Ends an interaction wherever it is. The agent holding it gets event (may be NULL), the
 * agent's change is reported with cause (NULL: nothing reported), and the interaction's
 * end with why (Done or Stopped). */
static void end_ixn(ixn_core *k, ixn_ixn *x, const char *event, const char *reason,
                    const char *cause, enum proto_ixr_reason why)
{
    ixn_agent *a = x->agent;
    touch(k, x);
    timer_clear(k, x);
    if (x->state == CC_IXN_QUEUED)
        queue_unlink(k, x);
    agent_detach(x);
    set_state(x, CC_IXN_ENDED);
    x->ended_us = x->updated_us;
    ended_insert(k, x);
    persist(k, x);
    step(k, x, PROTO_IXR_ENDED, a, NULL, why);
    if (!batching(k)) {
        /* Nothing can undo the end: the userData is not needed in memory any more (with a
         * store it stays there; see batch_committed). */
        user_data_drop(k, x);
    }
    k->ended++;
    if (a && event)
        send_to_agent(k, a, event, x, reason);
    if (a && cause)
        report(k, a, cause, 0);
}

static void invite(ixn_core *k, ixn_ixn *x, ixn_agent *a, int64_t resv_id)
{
    ixn_pool *p = x->queue->pool;
    touch(k, x);
    touch_offer(k, a, p->media);
    queue_unlink(k, x);
    set_state(x, CC_IXN_INVITED);
    x->take_seq = ++k->take_clock;
    agent_attach(x, a);
    /* Offered now: the agent becomes the latest on this media. */
    a->offer_seq[p->media] = ++k->srv->idle_seq;
    pool_unlink(p, a);
    pool_append(p, a);
    timer_set(k, x, 0, k->srv->cfg->invite_timeout_s);
    persist(k, x);
    step(k, x, PROTO_IXR_INVITED, a, NULL, PROTO_IXR_REASON_NONE);
    report(k, a, "Invited", resv_id);
    emit(k, a, enc_invite(k, x, k->srv->cfg->invite_timeout_s));
    k->invites++;
    ixn_metrics_invited(x->created_us);
}

/* ---- routing ---- */

/* A target step widened: routing looks at the pool now. */
static void on_widened(void *ctx, ixn_pool *p)
{
    pool_kick(ctx, p);
}

/* Asks reservations for the pools marked since the last call, in the order of
 * routing.md section 4: per pool, the first interaction in order that an eligible agent
 * matches goes to the agent its queue's select rule picks, then the next, until no pair
 * is left. The interaction is claimed for that agent while the engine answers; offers are
 * made when the grants come back (ixn_core_reservation_done), so routing never waits for
 * an answer. Returns true when it asked anything. */
static bool route(ixn_core *k)
{
    bool did = false;
    k->more = false;
    if (!k->srv->subs)
        return false; /* no reporting engine: the pools stay dirty until one comes */
    /* Shortly after a failed commit an offer would most likely fail too, and its undo
     * would make the engines answer with a status that asks again: routing waits, the
     * pools stay dirty, and the retry timer wakes it. */
    if (cc_mono_us() < k->retry_after_us)
        return false;
    size_t asks = 0;
    ixn_route_pass_begin(&k->router, ROUTE_STALE_BUDGET);
    while (k->dirty_head) {
        ixn_pool *p = k->dirty_head;
        bool done = false;
        /* No sweep of the eligible list first (ixn_route_prepare): ixn_route_next drops the
         * agents that stopped being eligible as it meets them, and a sweep per call cost
         * the whole list (10,000 agents: about half the server's time under load). */
        for (;;) {
            if (asks >= ROUTE_BUDGET)
                break;
            ixn_ixn *x;
            ixn_agent *a;
            if (!ixn_route_next(&k->router, p, &x, &a)) {
                /* Out of the pass's budget of stale agents: the pool is looked at again
                 * in the next turn, as when out of asks. */
                done = !ixn_route_pass_out(&k->router);
                break;
            }
            ixn_route_claim(&k->router, x, a);
            ixn_resv_ask(k->srv, a, p->media, p);
            p->asking++;
            asks++;
            did = true;
        }
        if (!done) {
            k->more = true;
            break;
        }
        k->dirty_head = p->dirty_next;
        if (!k->dirty_head)
            k->dirty_tail = NULL;
        p->dirty = false;
        p->dirty_next = NULL;
    }
    return did;
}

/* The agent may be eligible again (a status, a reservation that ended unused): it joins
 * the eligible lists, and those pools are looked at. */
static void agent_ready(ixn_core *k, ixn_agent *a)
{
    cc_media_mask joined = ixn_route_agent_ready(a);
    for (int m = 0; joined; m++, joined >>= 1)
        if ((joined & 1u) && a->pool[m]->nqueues)
            pool_kick(k, a->pool[m]);
}

bool ixn_core_reservation_done(ixn_server *srv, struct ixn_pool *pool, ixn_agent *a, int media,
                               int64_t resv_id, enum ixn_resv_outcome outcome)
{
    ixn_core *k = srv->core;
    ixn_pool *p = pool;
    assert(p->asking > 0);
    p->asking--;
    /* Whatever the outcome, the pool may have work for another agent now. */
    pool_kick(k, p);
    if (!a || k->closed)
        return false;
    /* The interaction asked for goes back to the index; it is taken again below when the
     * grant can be used for it. */
    ixn_ixn *x = ixn_route_unclaim(&k->router, a);
    bool used = false;
    if (outcome == IXN_RESV_REFUSED) {
        a->refused |= (cc_media_mask)1 << media;
    } else if (outcome == IXN_RESV_GRANTED && ixn_route_can_offer(a, media) &&
               a->pool[media] == p) {
        /* The claimed one if it still waits here and the agent still matches its step;
         * otherwise the first the agent matches, if any. */
        if (!x || x->state != CC_IXN_QUEUED || x->queue->pool != p || !x->rlist || x->batch ||
            x->unsaved || !ixn_route_matches(x->queue, x->rlist->step, a))
            x = ixn_route_best_for(p, a);
        if (x) {
            invite(k, x, a, resv_id);
            used = true;
        }
    }
    /* A grant given back leaves the agent eligible as before. After a refusal it waits for
     * the next status, for every media: the engine's view differs from this one. */
    if (!used && outcome == IXN_RESV_GRANTED)
        agent_ready(k, a);
    return used;
}

/* ---- timers ---- */

static void on_tick(uv_timer_t *t);

static void tick_arm(ixn_core *k)
{
    if (k->closed)
        return;
    uint64_t due = 0;
    if (k->invite_head)
        due = k->invite_head->deadline_us;
    for (int m = 0; m < k->srv->cfg->media.count; m++)
        if (k->aw_head[m] && (!due || k->aw_head[m]->deadline_us < due))
            due = k->aw_head[m]->deadline_us;
    /* After a failed commit, a timer whose change was undone waits a little: retrying at
     * once would only fail again and spin the loop. */
    if (due && due < k->retry_after_us)
        due = k->retry_after_us;
    if (due == k->tick_due_us)
        return;
    k->tick_due_us = due;
    if (!due) {
        uv_timer_stop(&k->tick);
        return;
    }
    uint64_t now = cc_mono_us();
    uint64_t ms = due > now ? (due - now + 999) / 1000 : 0;
    uv_timer_start(&k->tick, on_tick, ms, 0);
}

static void on_tick(uv_timer_t *t)
{
    ixn_core *k = t->data;
    k->tick_due_us = 0;
    uint64_t now = cc_mono_us();
    while (k->invite_head && k->invite_head->deadline_us <= now) {
        ixn_ixn *x = k->invite_head;
        ixn_agent *a = x->agent;
        LOG_INFO("event=invite_timeout interaction=%s agent=%s", x->id, LOGQ(a ? a->key : "-"));
        send_to_agent(k, a, "EventRevoked", x, "Timeout");
        back_to_queue(k, x, "Revoked", PROTO_IXR_REVOKED, PROTO_IXR_REASON_TIMEOUT);
        k->timeouts++;
    }
    for (int m = 0; m < k->srv->cfg->media.count; m++) {
        while (k->aw_head[m] && k->aw_head[m]->deadline_us <= now) {
            ixn_ixn *x = k->aw_head[m];
            end_ixn(k, x, "EventInteractionEnded", "AfterWorkEnded", "PartyRemoved",
                    PROTO_IXR_REASON_DONE);
        }
    }
    tick_arm(k);
}

/* Takes x out of every list and count, the maps included, and frees it. */
static void forget(ixn_core *k, ixn_ixn *x)
{
    timer_clear(k, x);
    if (x->state == CC_IXN_QUEUED)
        queue_unlink(k, x);
    else if (x->state == CC_IXN_ENDED)
        ended_unlink(k, x);
    agent_detach(x);
    assert(x->queue->count[x->state] > 0);
    x->queue->count[x->state]--;
    ixn_batch_unsaved_drop(&k->batch, x);
    cc_map_dels(&k->ixns, x->id);
    if (x->external_id && cc_map_gets(&k->external, x->external_id) == x)
        cc_map_dels(&k->external, x->external_id);
    user_data_drop(k, x);
    free(x->external_id);
    free(x);
}

/* The oldest ended interaction may be forgotten in memory: its end is committed. */
static bool ended_forgettable(const ixn_ixn *x)
{
    return x && !x->batch && !x->unsaved;
}

/* Keeps at most max-ended ended interactions in memory, forgetting the oldest. The store
 * keeps them until keep-ended has passed: a repeated externalId is looked up there. */
static void trim_ended(ixn_core *k)
{
    size_t max = k->srv->cfg->max_ended;
    while (k->nended > max && ended_forgettable(k->ended_head)) {
        forget(k, k->ended_head);
        k->forgotten++;
    }
}

static void on_purge(uv_timer_t *t)
{
    ixn_core *k = t->data;
    int64_t cutoff = (int64_t)cc_wall_us() - (int64_t)k->srv->cfg->keep_ended_s * 1000000;
    if (k->st) {
        int64_t n = store_purge(k->st, cutoff);
        if (n < 0)
            LOG_WARN("event=store_purge_failed");
        else if (n > 0)
            LOG_INFO("event=store_purged rows=%" PRId64, n);
    }
    size_t n = 0;
    while (ended_forgettable(k->ended_head) && k->ended_head->ended_us < cutoff &&
           n < PURGE_BUDGET) {
        forget(k, k->ended_head);
        n++;
    }
}

/* ---- the per-turn commit ---- */

/* Puts x back as its log entry says (a failed commit). Every list is ordered by a key
 * the entry keeps (order, take_seq, deadline, end time), so entries can be restored in
 * any order. */
static void restore(ixn_core *k, const ixn_before *e)
{
    ixn_ixn *x = e->x;
    timer_clear(k, x);
    if (x->state == CC_IXN_QUEUED)
        queue_unlink(k, x);
    else if (x->state == CC_IXN_ENDED)
        ended_unlink(k, x);
    agent_detach(x);
    x->queue->count[x->state]--;
    x->state = e->state;
    x->queue = e->queue;
    x->order = e->order;
    x->entered_us = e->entered_us;
    x->updated_us = e->updated_us;
    x->ended_us = e->ended_us;
    x->queued_mono_us = e->queued_mono_us;
    x->take_seq = e->take_seq;
    x->queue->count[x->state]++;
    if (e->agent)
        agent_attach(x, e->agent);
    if (x->state == CC_IXN_QUEUED) {
        queue_insert(k, x);
        pool_kick(k, x->queue->pool);
    } else if (x->state == CC_IXN_ENDED) {
        ended_insert(k, x);
    }
    if (e->timer >= 0)
        timer_insert(k, x, e->timer, e->deadline_us);
}

/* The batch is in the store: its held events leave, its queued interactions may be
 * routed, and ended ones drop their userData (the store keeps it). */
static void batch_committed(ixn_core *k)
{
    ixn_batch *b = &k->batch;
    for (size_t i = 0; i < b->nlog; i++) {
        ixn_ixn *x = b->log[i].x;
        x->batch = 0;
        if (x->state == CC_IXN_QUEUED) {
            pool_kick(k, x->queue->pool);
        } else if (x->state == CC_IXN_ENDED) {
            user_data_drop(k, x);
        }
    }
    ixn_batch_send_held(b);
    ixn_ixnreport_committed(k->srv, b);
    ixn_batch_clear(b);
}

/* The sealed batch (a PostgreSQL commit in flight) is in the store while the next one
 * filled: the sealed batch's held events and reports leave, its interactions that did
 * not change since are done with it, and those that did keep an entry that now records
 * them as the commit wrote them (the next batch's failure goes back to that). */
static void batch_sealed_committed(ixn_core *k)
{
    ixn_batch *b = &k->batch;
    size_t w = 0;
    for (size_t i = 0; i < b->nlog; i++) {
        ixn_before e = b->log[i];
        ixn_ixn *x = e.x;
        if (i < b->seal_log) {
            if (!e.again) {
                x->batch = 0;
                if (x->state == CC_IXN_QUEUED)
                    pool_kick(k, x->queue->pool);
                else if (x->state == CC_IXN_ENDED)
                    user_data_drop(k, x);
                continue;
            }
            e = b->after[i];
            e.created = false;
            e.again = false;
        }
        b->log[w++] = e;
        x->batch = w;
    }
    b->nlog = w;
    size_t total = b->nreports, m = b->seal_reports;
    b->nreports = m;
    ixn_ixnreport_committed(k->srv, b);
    /* Published, or carried (which took them out of the list). */
    for (size_t i = 0; i < b->nreports; i++)
        cc_sbuf_unref(b->reports[i].sb);
    size_t left = total - m;
    if (left)
        memmove(b->reports, b->reports + m, left * sizeof *b->reports);
    b->nreports = left;
    b->sealed = false;
    b->seal_log = b->seal_reports = 0;
}

static void on_retry(uv_timer_t *t);

/* The commit failed: every change of the batch is undone in memory, so the requests
 * answered 14 changed nothing. Changes that cannot be undone (the agent is gone) stay
 * and are put into a later batch. */
static void batch_undo(ixn_core *k)
{
    ixn_batch *b = &k->batch;
    for (size_t i = b->nlog; i-- > 0;) {
        ixn_before *e = &b->log[i];
        ixn_ixn *x = e->x;
        x->batch = 0;
        if (e->created) {
            forget(k, x);
            continue;
        }
        restore(k, e);
        if (e->repersist)
            ixn_batch_unsaved_add(b, x);
    }
    /* Newest first, so that the value before the batch's first offer wins. */
    for (size_t i = b->noffers; i-- > 0;) {
        const ixn_offer_undo *o = &b->offers[i];
        ixn_agent *a = o->a;
        if (!a)
            continue;
        a->offer_seq[o->media] = o->offer_seq;
        if (a->pool[o->media]) {
            pool_unlink(a->pool[o->media], a);
            pool_insert(a->pool[o->media], a);
        }
    }
    /* The reporting engines saw the undone changes: each agent's state is reported again
     * as it is now, with a new version. */
    for (size_t i = 0; i < b->ntouched; i++) {
        const ixn_touched *t = &b->touched[i];
        if (!t->a)
            continue;
        size_t held = 0;
        for (const ixn_ixn *x = t->a->held_head; x; x = x->a_next)
            held++;
        ixn_agent_changed(k->srv, t->a, held < t->held ? "PartyRemoved" : "PartyAdded");
    }
    k->undone += b->nlog;
    ixn_ixnreport_undone(k->srv, b);
    ixn_batch_clear(b);
    uint64_t now = cc_mono_us();
    k->retry_after_us = now + RETRY_MS * 1000u;
    k->tick_due_us = 0;
    uv_timer_stop(&k->tick);
    uv_timer_start(&k->retry, on_retry, RETRY_MS, 0);
}

/* Puts the changes kept in memory after a failed commit into the batch again. */
static void unsaved_put(ixn_core *k)
{
    ixn_batch *b = &k->batch;
    for (size_t i = 0; i < b->nunsaved; i++) {
        ixn_ixn *x = b->unsaved[i];
        x->unsaved = false;
        touch(k, x);
        b->log[x->batch - 1].repersist = true;
        persist(k, x);
    }
    b->nunsaved = 0;
}

/* RETRY_MS after a failed commit: the kept changes are put into the batch again, and
 * on_check commits them and routes the pools that waited. */
static void on_retry(uv_timer_t *t)
{
    ixn_core *k = t->data;
    if (k->closed)
        return;
    if (k->batch.nunsaved)
        unsaved_put(k);
    idle_on(k);
}

/* A stale owner must never write again: another process took the store over (a higher
 * epoch), or the connection, and with it the lock, broke during a commit whose outcome is
 * unknown. Memory may hold changes the store does not; only a fresh load can tell, so the
 * process stops at once and its supervisor starts it again (as a standby). */
static void owner_lost(ixn_core *k, const char *at)
{
    LOG_ERROR("event=store_owner_lost at=%s epoch=%" PRId64 " waiting=%zu "
              "why=\"the store belongs to another process now\" action=exit",
              at, store_epoch(k->st), k->nwait);
    exit(3);
}

/* Answers the first n waiting requests (rc: their commit's result). */
static void answer_first(ixn_core *k, size_t n, int rc);

/* Commits the batch and answers the requests that waited for it. */
static void commit_and_answer(ixn_core *k)
{
    int rc = 0;
    if (k->st && store_pending(k->st) > 0) {
        /* Changes kept after a failed commit ride along with the next real one. */
        if (k->batch.nunsaved)
            unsaved_put(k);
        rc = store_commit(k->st);
        if (rc == CC_E_STALE_OWNER)
            owner_lost(k, "commit");
        if (rc == 0) {
            k->commits++;
            ixn_metrics_committed(k->st);
        } else {
            k->commit_failures++;
            LOG_ERROR("event=store_commit_failed waiting=%zu undone=%zu", k->nwait, k->batch.nlog);
        }
    }
    /* Before anything is answered: an answer resumes its connection, whose next requests
     * must see memory as the store has it. */
    if (rc == 0)
        batch_committed(k);
    else
        batch_undo(k);
    trim_ended(k);
    answer_first(k, k->nwait, rc);
}

/* Moves the first n waiting requests to the list being answered. Answering resumes each
 * connection, whose buffered requests run inside the call and may wait again: they join
 * the list behind the others and wait for the next commit. */
static void take_waiters(ixn_core *k, size_t n)
{
    ixn_waiter *list = k->wait;
    size_t cap = k->capwait;
    if (n < k->nwait) {
        /* The rest waits for a later commit: it keeps the list. */
        if (k->capspare < n) {
            k->capspare = n;
            k->spare = xrealloc(k->spare, k->capspare * sizeof *k->spare);
        }
        if (n)
            memcpy(k->spare, k->wait, n * sizeof *k->wait);
        k->nwait -= n;
        memmove(k->wait, k->wait + n, k->nwait * sizeof *k->wait);
        k->nspare = n;
    } else {
        k->wait = k->spare;
        k->capwait = k->capspare;
        k->nwait = 0;
        k->spare = list;
        k->capspare = cap;
        k->nspare = n;
    }
}

static void answer_first(ixn_core *k, size_t n, int rc)
{
    take_waiters(k, n);
    k->answers_sent += k->nspare;
    for (k->spare_pos = 0; k->spare_pos < k->nspare; k->spare_pos++) {
        ixn_waiter *w = &k->spare[k->spare_pos];
        if (w->s && rc)
            cc_session_finish(w->s, CC_E_UNAVAILABLE, "the interaction store cannot write now");
        else if (w->s)
            cc_session_finish(w->s, w->err, w->err ? w->desc : NULL);
    }
    k->nspare = 0;
}

/* ---- the commit in flight (PostgreSQL) ----
 *
 * With a store whose commits run in flight, a turn never waits for the database: the
 * batch is sealed and sent (store_commit_begin), the socket is watched with a uv_poll, and
 * requests of the next turns change memory and fill the next batch meanwhile (their
 * answers wait for it). When the sealed commit succeeds, its requests are answered, in the
 * order they came, and the next batch is sent at once; when it fails, both batches are
 * undone (one undo log spans them) and every waiting request gets 14. */

static void on_store_io(uv_poll_t *p, int status, int events)
{
    /* The check hook of this turn reads what arrived. */
    (void)p;
    (void)status;
    (void)events;
}

static void poll_free(uv_handle_t *h)
{
    free(h);
}

/* Watches the store's socket while a commit is in flight; a new connection (made again
 * after a break) has a new socket, and gets a new handle. */
static void store_watch(ixn_core *k, bool want_write)
{
    int fd = store_fd(k->st);
    if (k->poll && k->poll_fd != fd) {
        uv_close((uv_handle_t *)k->poll, poll_free);
        k->poll = NULL;
    }
    if (!k->poll) {
        k->poll = xmalloc(sizeof *k->poll);
        if (uv_poll_init(k->srv->loop, k->poll, fd) != 0) {
            free(k->poll);
            k->poll = NULL;
            /* Without a watch the loop turns until the commit is done. */
            idle_on(k);
            return;
        }
        k->poll->data = k;
        k->poll_fd = fd;
    }
    uv_poll_start(k->poll, UV_READABLE | (want_write ? UV_WRITABLE : 0), on_store_io);
}

static void store_unwatch(ixn_core *k)
{
    if (k->poll)
        uv_poll_stop(k->poll);
}

/* Answers the requests of the sealed batch, each after the held events that came before
 * it: the batch spanned several turns, so a request's answer must not follow an event
 * that its own change made possible (an invite after a stop, say). */
static void answer_sealed(ixn_core *k, size_t n)
{
    ixn_batch *b = &k->batch;
    size_t sent = 0;
    take_waiters(k, n);
    k->answers_sent += k->nspare;
    for (k->spare_pos = 0; k->spare_pos < k->nspare; k->spare_pos++) {
        ixn_waiter *w = &k->spare[k->spare_pos];
        size_t upto = w->out_pos < b->seal_out ? w->out_pos : b->seal_out;
        if (upto > sent) {
            ixn_batch_send_range(b, sent, upto);
            sent = upto;
        }
        if (w->s)
            cc_session_finish(w->s, w->err, w->err ? w->desc : NULL);
    }
    k->nspare = 0;
    ixn_batch_send_range(b, sent, b->seal_out);
    size_t dropped = b->seal_out;
    ixn_batch_drop_sealed(b);
    for (size_t i = 0; i < k->nwait; i++)
        k->wait[i].out_pos = k->wait[i].out_pos > dropped ? k->wait[i].out_pos - dropped : 0;
    if (!b->nlog && !b->nout && !b->nreports && !b->noffers)
        ixn_batch_clear(b);
}

/* The sealed commit finished with rc. */
static void sealed_done(ixn_core *k, int rc)
{
    store_unwatch(k);
    if (rc == CC_E_STALE_OWNER)
        owner_lost(k, "commit");
    if (rc == 0) {
        k->commits++;
        ixn_metrics_committed(k->st);
        batch_sealed_committed(k);
        trim_ended(k);
        answer_sealed(k, k->seal_wait);
    } else {
        k->commit_failures++;
        LOG_ERROR("event=store_commit_failed waiting=%zu undone=%zu", k->nwait, k->batch.nlog);
        /* The next batch's rows were never sent: they go with the changes undone. */
        store_drop_batch(k->st);
        batch_undo(k);
        trim_ended(k);
        answer_first(k, k->nwait, rc);
    }
    k->seal_wait = 0;
}

/* One turn of the in-flight commit: finish the one in flight if it is done, then send
 * the next batch, or answer at once what waited when there is nothing to write. */
static void async_turn(ixn_core *k)
{
    if (store_in_flight(k->st)) {
        bool want_write = false;
        int rc = store_commit_poll(k->st, &want_write);
        if (rc == 1) {
            store_watch(k, want_write);
            return;
        }
        sealed_done(k, rc);
    }
    for (int round = 0; round < COMMIT_ROUNDS && !store_in_flight(k->st); round++) {
        if (store_pending(k->st) > 0) {
            if (k->batch.nunsaved)
                unsaved_put(k);
            ixn_batch_seal(&k->batch);
            k->seal_wait = k->nwait;
            int rc = store_commit_begin(k->st);
            if (rc == 1) {
                store_watch(k, true);
                return;
            }
            sealed_done(k, rc);
        } else {
            /* Nothing to write: held events and what waited (refusals, reads) go now, and
             * reporting engines waiting for their snapshot get it. */
            batch_committed(k);
            trim_ended(k);
            if (!k->nwait)
                return;
            answer_first(k, k->nwait, 0);
        }
    }
}

/* Runs once per loop turn, after I/O: commits the turn's batch, then answers the
 * requests that waited for it, then routes (whose changes go into the next batch).
 * Requests that a connection had already buffered run while it is answered; a few more
 * rounds of commit and answer serve them in this turn too, so that pipelined requests
 * share the turn's write to their connection. */
static void on_check(uv_check_t *h)
{
    ixn_core *k = h->data;
    bool answered = k->nwait > 0;
    bool async = k->st && store_commits_async(k->st);
    /* The loop-turn watch (net/turnw.h, off unless CC_TURN_WATCH_MS is set) names the
     * commit and the routing pass in the long turns it logs. */
    uint64_t t0 = cc_turnw_begin();
    if (async) {
        /* Requests wait across turns there: only answers sent now need the extra turn. */
        uint64_t before = k->answers_sent;
        async_turn(k);
        answered = k->answers_sent != before;
    } else {
        for (int round = 0; round < COMMIT_ROUNDS; round++) {
            commit_and_answer(k);
            if (k->nwait == 0)
                break;
        }
    }
    cc_turnw_end("commit", t0);
    t0 = cc_turnw_begin();
    bool routed = route(k);
    cc_turnw_end("route", t0);
    tick_arm(k);
    /* Keep the loop turning (no blocking poll) while anything waits for a commit, and
     * one more turn after answers or invitations were queued, so they are flushed even
     * if the connections' flush ran before this hook. A commit in flight wakes the loop
     * through its socket instead. */
    bool waiting = k->nwait > 0 || (k->st && store_pending(k->st) > 0);
    if (async && store_in_flight(k->st))
        waiting = false;
    bool busy = waiting || k->more || answered || routed;
    if (busy) {
        idle_on(k);
    } else if (k->idle_on) {
        uv_idle_stop(&k->idle);
        k->idle_on = false;
    }
}

int ixn_core_answer(ixn_server *srv, cc_session *s)
{
    ixn_core *k = srv->core;
    if (!k->st || (store_pending(k->st) == 0 && !store_in_flight(k->st)))
        return 0;
    if (k->nwait == k->capwait) {
        k->capwait = k->capwait ? 2 * k->capwait : 64;
        k->wait = xrealloc(k->wait, k->capwait * sizeof *k->wait);
    }
    k->wait[k->nwait++] = (ixn_waiter){.s = s, .out_pos = k->batch.nout};
    cc_session_defer(s);
    idle_on(k);
    return CC_SESSION_DEFERRED;
}

/* Answers an agent's request on an interaction that is refused for its state (rc from
 * the checks, msg->desc set). The change that put the interaction in that state may
 * still wait for the commit, and with it the event telling the desktop (EventRevoked
 * after a media server's stop, say): the refusal then waits too, so that the desktop
 * reads the event first and the refusal after it, never a refusal it cannot explain. */
static int refuse_after_commit(ixn_core *k, cc_session *s, proto_msg *msg, int rc)
{
    if (rc != CC_E_INVALID_STATE || !k->st ||
        (store_pending(k->st) == 0 && !store_in_flight(k->st)))
        return rc;
    int deferred = ixn_core_answer(k->srv, s);
    assert(deferred == CC_SESSION_DEFERRED);
    ixn_waiter *w = &k->wait[k->nwait - 1];
    w->err = rc;
    snprintf(w->desc, sizeof w->desc, "%s", msg->desc);
    return deferred;
}

void ixn_core_session_closed(ixn_server *srv, cc_session *s)
{
    ixn_core *k = srv->core;
    if (!k)
        return;
    for (size_t i = 0; i < k->nwait; i++)
        if (k->wait[i].s == s)
            k->wait[i].s = NULL;
    for (size_t i = k->spare_pos; i < k->nspare; i++)
        if (k->spare[i].s == s)
            k->spare[i].s = NULL;
}

/* ---- agents ---- */

void ixn_core_agent_media(ixn_server *srv, ixn_agent *a)
{
    ixn_core *k = srv->core;
    char key[QKEY_MAX];
    for (int m = 0; m < srv->cfg->media.count; m++) {
        bool want = (a->added & ((cc_media_mask)1 << m)) != 0;
        if (want && !a->pool[m]) {
            pkey(key, a->tenant, m);
            ixn_pool *p = cc_map_gets(&k->pools, key);
            if (p) {
                a->pool[m] = p;
                pool_insert(p, a);
                ixn_route_agent_join(p, a);
            }
        } else if (!want && a->pool[m]) {
            ixn_route_agent_leave(a->pool[m], a);
            pool_unlink(a->pool[m], a);
            a->pool[m] = NULL;
        }
    }
}

void ixn_core_agent_status(ixn_server *srv, ixn_agent *a)
{
    agent_ready(srv->core, a);
}

void ixn_core_reporting_started(ixn_server *srv)
{
    ixn_core *k = srv->core;
    for (size_t i = 0; i < k->np; i++)
        pool_kick(k, k->plist[i]);
}

void ixn_core_agent_resumed(ixn_server *srv, ixn_agent *a)
{
    ixn_core *k = srv->core;
    uint64_t now = cc_mono_us();
    for (const ixn_ixn *x = a->held_head; x; x = x->a_next) {
        /* An offer of the uncommitted batch has its EventInvite held: it goes to this
         * desktop with the commit. */
        if (x->state != CC_IXN_INVITED || x->batch)
            continue;
        uint64_t left = x->deadline_us > now ? (x->deadline_us - now + 999999) / 1000000 : 1;
        cc_buf *b = enc_invite(k, x, (unsigned)left);
        cc_sbuf *sb = cc_sbuf_new(b->data, b->len);
        cc_session_send(a->client->session, sb, NULL);
        cc_sbuf_unref(sb);
    }
}

void ixn_core_agent_gone(ixn_server *srv, ixn_agent *a)
{
    ixn_core *k = srv->core;
    ixn_resv_agent_gone(a);
    /* From the latest taken to the first, so that those going back to the head of one
     * queue keep their order there. */
    while (a->held_tail) {
        ixn_ixn *x = a->held_tail;
        if (srv->shutting_down) {
            /* Stopping: the store keeps them as they are, and a restart queues them. */
            timer_clear(k, x);
            agent_detach(x);
            continue;
        }
        LOG_INFO("event=interaction_released interaction=%s agent=%s state=%s", x->id, LOGQ(a->key),
                 cc_ixn_state_name(x->state));
        if (x->state == CC_IXN_AFTER_WORK)
            end_ixn(k, x, NULL, NULL, NULL, PROTO_IXR_REASON_DONE);
        else
            back_to_queue(k, x, NULL, PROTO_IXR_REVOKED, PROTO_IXR_REASON_LOGGED_OUT);
        if (batching(k))
            ixn_batch_keep(&k->batch, x);
    }
    /* What a failed commit would put back into the hands of the agent goes where this
     * logout puts it instead (docs/ixnserver.md, "Durability"). */
    if (batching(k)) {
        ixn_ixnreport_agent_gone(srv, &k->batch, a);
        ixn_batch_agent_gone(&k->batch, a, cc_mono_us(), (int64_t)cc_wall_us());
    }
    /* The interaction its unanswered reservation was for waits for someone else. */
    ixn_ixn *claimed = ixn_route_unclaim(&k->router, a);
    if (claimed && claimed->state == CC_IXN_QUEUED)
        pool_kick(k, claimed->queue->pool);
    for (int m = 0; m < CC_MEDIA_MAX; m++) {
        if (a->pool[m]) {
            ixn_route_agent_leave(a->pool[m], a);
            pool_unlink(a->pool[m], a);
            a->pool[m] = NULL;
        }
    }
}

/* ---- requests ---- */

static ixn_core *core_of(cc_session *s)
{
    ixn_server *srv = cc_session_server(s)->user;
    return srv->core;
}

ixn_ixn *ixn_core_find(ixn_server *srv, const char *id)
{
    return cc_map_gets(&srv->core->ixns, id);
}

ixn_ixn *ixn_core_next(ixn_server *srv, size_t *pos)
{
    cc_map_slot *sl = cc_map_next(&srv->core->ixns, pos);
    return sl ? sl->value : NULL;
}

void ixn_core_wake(ixn_server *srv)
{
    idle_on(srv->core);
}

void ixn_core_emit(ixn_server *srv, ixn_agent *a, cc_buf *b)
{
    if (!a->client || !a->client->session)
        return;
    emit(srv->core, a, b);
}

void ixn_core_take_back(ixn_server *srv, ixn_ixn *x)
{
    ixn_core *k = srv->core;
    ixn_agent *a = x->agent;
    bool invited = x->state == CC_IXN_INVITED;
    assert(a && (invited || x->state == CC_IXN_HANDLING));
    LOG_INFO("event=interaction_taken_back interaction=%s agent=%s state=%s", x->id, LOGQ(a->key),
             cc_ixn_state_name(x->state));
    /* The statistics contract knows no supervisor: an interaction taken from its agent
     * is reported as the agent losing it. */
    back_to_queue(k, x, invited ? "Revoked" : "PartyRemoved", PROTO_IXR_REVOKED,
                  PROTO_IXR_REASON_LOGGED_OUT);
    send_to_agent(k, a, invited ? "EventRevoked" : "EventPartyRemoved", x, "Supervisor");
}

void ixn_core_claim(ixn_server *srv, ixn_ixn *x, ixn_agent *a)
{
    ixn_route_claim(&srv->core->router, x, a);
}

ixn_ixn *ixn_core_unclaim(ixn_server *srv, ixn_agent *a)
{
    ixn_core *k = srv->core;
    ixn_ixn *x = ixn_route_unclaim(&k->router, a);
    if (x && x->state == CC_IXN_QUEUED)
        pool_kick(k, x->queue->pool);
    return x;
}

bool ixn_core_offerable(const ixn_ixn *x)
{
    return x->state == CC_IXN_QUEUED && !x->claimed_by && !x->batch && !x->unsaved;
}

void ixn_core_offer(ixn_server *srv, ixn_ixn *x, ixn_agent *a, int64_t resv_id)
{
    invite(srv->core, x, a, resv_id);
}

static int find_ixn(ixn_core *k, proto_msg *msg, const char *id, ixn_ixn **out)
{
    ixn_ixn *x = cc_map_gets(&k->ixns, id);
    if (!x) {
        snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is not known here", id);
        return CC_E_UNKNOWN_INTERACTION;
    }
    *out = x;
    return 0;
}

static int held_by(proto_msg *msg, const ixn_ixn *x, const ixn_agent *a)
{
    if (x->agent == a)
        return 0;
    snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is not offered to or held by you",
             x->id);
    return CC_E_INVALID_STATE;
}

static int need_state(proto_msg *msg, const ixn_ixn *x, enum cc_ixn_state st)
{
    if (x->state == st)
        return 0;
    snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is %s, not %s", x->id,
             cc_ixn_state_name(x->state), cc_ixn_state_name(st));
    return CC_E_INVALID_STATE;
}

int ixn_core_submit(cc_session *s, proto_msg *msg)
{
    ixn_core *k = core_of(s);
    const ixn_config *cfg = k->srv->cfg;
    proto_ixn_submit sub;
    int rc = proto_ixn_decode_submit(msg, &sub);
    if (rc)
        return rc;
    const char *tenant = sub.tenant, *media = sub.media, *queue = sub.queue,
               *external = sub.external_id;
    char *text;
    if (sub.user_data_obj) {
        cc_buf ud;
        cc_buf_init(&ud);
        proto_ixn_submit_user_data_text(&sub, &ud);
        if (ud.len == 0) {
            cc_buf_free(&ud);
            snprintf(msg->desc, sizeof msg->desc, "%s", "userData cannot be encoded");
            return CC_E_INVALID_ATTRIBUTE;
        }
        text = xstrdup(ud.data);
        cc_buf_free(&ud);
    } else {
        text = xstrdup("{}");
    }
    size_t ulen = strlen(text);
    if (ulen > cfg->max_user_data) {
        free(text);
        snprintf(msg->desc, sizeof msg->desc, "userData is %zu bytes, over the limit of %zu", ulen,
                 cfg->max_user_data);
        return CC_E_INVALID_ATTRIBUTE;
    }
    if ((rc = cc_session_allow(s, msg, CC_CLIENT_MEDIA)) ||
        (rc = cc_session_tenant_check(s, msg, tenant))) {
        free(text);
        return rc;
    }
    int m = cc_media_find(&cfg->media, media, strlen(media));
    if (m < 0) {
        free(text);
        snprintf(msg->desc, sizeof msg->desc, "media %.64s is not configured here", media);
        return CC_E_UNKNOWN_MEDIA;
    }
    ixn_queue *q = queue_find(k, tenant, queue);
    if (!q || q->media != m) {
        free(text);
        if (!q)
            snprintf(msg->desc, sizeof msg->desc, "queue %.100s is not known for tenant %.40s",
                     queue, tenant);
        else
            snprintf(msg->desc, sizeof msg->desc, "queue %.128s is for %s, not %s", queue,
                     media_name(k, q->media), media_name(k, m));
        return CC_E_INVALID_ATTRIBUTE;
    }
    cc_buf *ack = cc_session_ack_buf(s);
    ixn_ixn *dup = external ? cc_map_gets(&k->external, external) : NULL;
    if (dup) {
        free(text);
        proto_ixn_enc_submitted(ack, &(proto_ixn_submitted){dup->id, true});
        k->duplicates++;
        return ixn_core_answer(k->srv, s);
    }
    if (external && k->st) {
        /* Memory holds every interaction not ended and the newest max-ended ended ones;
         * the store also has the older ended ones and those of queues no longer
         * configured. Their externalId answers with the first interaction, as in memory. */
        int64_t num;
        enum cc_ixn_state stored;
        rc = store_find_external(k->st, external, &num, &stored);
        if (rc == 0) {
            free(text);
            char id[IXN_ID_MAX];
            snprintf(id, sizeof id, "%s:%09" PRId64, cfg->name, num);
            proto_ixn_enc_submitted(ack, &(proto_ixn_submitted){id, true});
            k->duplicates++;
            return ixn_core_answer(k->srv, s);
        }
        if (rc != CC_E_NOT_FOUND) {
            free(text);
            snprintf(msg->desc, sizeof msg->desc, "%s", "the interaction store cannot read now");
            return CC_E_UNAVAILABLE;
        }
    }
    if (cc_net_over_memory(k->srv->cs->net)) {
        free(text);
        snprintf(msg->desc, sizeof msg->desc, "%s",
                 "max-memory reached: the server takes no new interaction now");
        return CC_E_LIMIT_EXCEEDED;
    }
    if (q->count[CC_IXN_QUEUED] >= cfg->max_queue) {
        free(text);
        snprintf(msg->desc, sizeof msg->desc, "queue %.128s holds max-queue (%zu) interactions",
                 queue, cfg->max_queue);
        return CC_E_LIMIT_EXCEEDED;
    }
    ixn_ixn *x = xcalloc(1, sizeof *x);
    x->num = ++k->last_num;
    snprintf(x->id, sizeof x->id, "%s:%09" PRId64, cfg->name, x->num);
    x->queue = q;
    x->media = m;
    x->user_data = text;
    user_data_declare(k, text, 1);
    x->external_id = external ? xstrdup(external) : NULL;
    x->state = CC_IXN_QUEUED;
    x->timer = -1;
    x->priority = sub.has_priority ? (uint32_t)sub.priority : q->default_priority;
    x->order = next_order(k);
    x->entered_us = x->order;
    x->created_us = x->updated_us = (int64_t)cc_wall_us();
    q->count[CC_IXN_QUEUED]++;
    queue_insert(k, x);
    cc_map_puts(&k->ixns, x->id, x);
    if (x->external_id)
        cc_map_puts(&k->external, x->external_id, x);
    if (batching(k))
        ixn_batch_log(&k->batch, x)->created = true;
    persist(k, x);
    step(k, x, PROTO_IXR_QUEUED, NULL, NULL, PROTO_IXR_REASON_NONE);
    pool_kick(k, q->pool);
    k->submitted++;
    LOG_DEBUG("event=submitted interaction=%s tenant=%s queue=%s", x->id, LOGQ(q->tenant),
              LOGQ(q->name));
    proto_ixn_enc_submitted(ack, &(proto_ixn_submitted){x->id, false});
    return ixn_core_answer(k->srv, s);
}

int ixn_core_stop_processing(cc_session *s, proto_msg *msg)
{
    ixn_core *k = core_of(s);
    const char *id, *reason;
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &id)) ||
        (rc = proto_get_str(msg, "reason", false, PROTO_TEXT_MAX, &reason)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_MEDIA | CC_CLIENT_AGENT)))
        return rc;
    ixn_ixn *x;
    if (cc_session_type(s) == CC_CLIENT_MEDIA) {
        if ((rc = find_ixn(k, msg, id, &x)) ||
            (rc = cc_session_tenant_check(s, msg, x->queue->tenant)))
            return rc;
        if (x->state == CC_IXN_ENDED) {
            snprintf(msg->desc, sizeof msg->desc, "interaction %.140s has ended", x->id);
            return CC_E_INVALID_STATE;
        }
        LOG_INFO("event=interaction_stopped interaction=%s state=%s by=media", x->id,
                 cc_ixn_state_name(x->state));
        /* After-work comes after the agent ended the handling: the end counts as theirs. */
        enum proto_ixr_reason why =
            x->state == CC_IXN_AFTER_WORK ? PROTO_IXR_REASON_DONE : PROTO_IXR_REASON_STOPPED;
        if (x->state == CC_IXN_INVITED)
            end_ixn(k, x, "EventRevoked", "Stopped", "Revoked", why);
        else
            end_ixn(k, x, "EventPartyRemoved", "Stopped", "PartyRemoved", why);
        k->stopped++;
        return ixn_core_answer(k->srv, s);
    }
    ixn_agent *a;
    if ((rc = ixn_agent_require(s, msg, &a)) || (rc = find_ixn(k, msg, id, &x)))
        return rc;
    if ((rc = held_by(msg, x, a)) || (rc = need_state(msg, x, CC_IXN_HANDLING)))
        return refuse_after_commit(k, s, msg, rc);
    unsigned aw = k->srv->cfg->after_work_s[x->media];
    if (aw) {
        touch(k, x);
        set_state(x, CC_IXN_AFTER_WORK);
        timer_set(k, x, 1 + x->media, aw);
        persist(k, x);
        step(k, x, PROTO_IXR_AFTER_WORK, a, NULL, PROTO_IXR_REASON_NONE);
        report(k, a, "AfterWork", 0);
    } else {
        end_ixn(k, x, NULL, NULL, "PartyRemoved", PROTO_IXR_REASON_DONE);
    }
    proto_ixn_enc_stopped(cc_session_ack_buf(s), aw);
    return ixn_core_answer(k->srv, s);
}

/* The checks of the agent requests on one interaction: fields, type, login, existence,
 * holder, state. */
static int agent_ixn(cc_session *s, proto_msg *msg, enum cc_ixn_state st, ixn_agent **a,
                     ixn_ixn **x)
{
    ixn_core *k = core_of(s);
    const char *id;
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &id)) ||
        (rc = ixn_agent_require(s, msg, a)) || (rc = find_ixn(k, msg, id, x)))
        return rc;
    if ((rc = held_by(msg, *x, *a)) || (rc = need_state(msg, *x, st)))
        return refuse_after_commit(k, s, msg, rc);
    return 0;
}

int ixn_core_accept(cc_session *s, proto_msg *msg)
{
    ixn_core *k = core_of(s);
    ixn_agent *a;
    ixn_ixn *x;
    int rc = agent_ixn(s, msg, CC_IXN_INVITED, &a, &x);
    if (rc)
        return rc;
    touch(k, x);
    timer_clear(k, x);
    set_state(x, CC_IXN_HANDLING);
    persist(k, x);
    step(k, x, PROTO_IXR_ACCEPTED, a, NULL, PROTO_IXR_REASON_NONE);
    report(k, a, "PartyAdded", 0);
    k->accepted++;
    return ixn_core_answer(k->srv, s);
}

int ixn_core_reject(cc_session *s, proto_msg *msg)
{
    ixn_core *k = core_of(s);
    const char *reason;
    ixn_agent *a;
    ixn_ixn *x;
    int rc;
    if ((rc = proto_get_str(msg, "reason", false, PROTO_TEXT_MAX, &reason)) ||
        (rc = agent_ixn(s, msg, CC_IXN_INVITED, &a, &x)))
        return rc;
    back_to_queue(k, x, "Revoked", PROTO_IXR_REJECTED, PROTO_IXR_REASON_NONE);
    k->rejected++;
    return ixn_core_answer(k->srv, s);
}

int ixn_core_complete_after_work(cc_session *s, proto_msg *msg)
{
    ixn_core *k = core_of(s);
    ixn_agent *a;
    ixn_ixn *x;
    int rc = agent_ixn(s, msg, CC_IXN_AFTER_WORK, &a, &x);
    if (rc)
        return rc;
    end_ixn(k, x, NULL, NULL, "PartyRemoved", PROTO_IXR_REASON_DONE);
    return ixn_core_answer(k->srv, s);
}

int ixn_core_place_in_queue(cc_session *s, proto_msg *msg)
{
    ixn_core *k = core_of(s);
    const char *id, *queue;
    ixn_agent *a;
    ixn_ixn *x;
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &id)) ||
        (rc = proto_get_id(msg, "queue", true, &queue)) || (rc = ixn_agent_require(s, msg, &a)))
        return rc;
    ixn_queue *q = queue_find(k, a->tenant, queue);
    if (!q) {
        snprintf(msg->desc, sizeof msg->desc, "queue %.100s is not known for tenant %.40s", queue,
                 a->tenant);
        return CC_E_INVALID_ATTRIBUTE;
    }
    if ((rc = find_ixn(k, msg, id, &x)) || (rc = held_by(msg, x, a)))
        return rc;
    if (q->media != x->media) {
        snprintf(msg->desc, sizeof msg->desc, "queue %.128s is for %s, not %s", queue,
                 media_name(k, q->media), media_name(k, x->media));
        return CC_E_INVALID_ATTRIBUTE;
    }
    if (!is_busy(x->state)) {
        snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is %s", x->id,
                 cc_ixn_state_name(x->state));
        return CC_E_INVALID_STATE;
    }
    touch(k, x);
    timer_clear(k, x);
    agent_detach(x);
    set_state(x, CC_IXN_QUEUED);
    ixn_queue *from = x->queue;
    x->queue->count[CC_IXN_QUEUED]--;
    x->queue = q;
    q->count[CC_IXN_QUEUED]++;
    x->order = next_order(k);
    x->entered_us = x->order;
    queue_insert(k, x);
    persist(k, x);
    step(k, x, PROTO_IXR_QUEUED, a, from, PROTO_IXR_REASON_NONE);
    report(k, a, "PartyRemoved", 0);
    pool_kick(k, q->pool);
    LOG_INFO("event=interaction_transferred interaction=%s agent=%s queue=%s", x->id, LOGQ(a->key),
             LOGQ(q->name));
    return ixn_core_answer(k->srv, s);
}

int ixn_core_queue_status(cc_session *s, proto_msg *msg)
{
    (void)msg;
    ixn_core *k = core_of(s);
    cc_buf *b = cc_session_ack_buf(s);
    uint64_t now = cc_mono_us();
    /* Each client sees the queues of its own tenants only; a desktop with an agent
     * logged in, those of the agent's tenant. */
    const ixn_client *c = cc_session_user(s);
    const char *agent_tenant = c && c->agent ? c->agent->tenant : NULL;
    proto_ixn_enc_queues_begin(b);
    for (size_t i = 0; i < k->nq; i++) {
        const ixn_queue *q = k->qlist[i];
        if (!cc_session_tenant_ok(s, q->tenant) ||
            (agent_tenant && strcmp(agent_tenant, q->tenant) != 0))
            continue;
        proto_ixn_enc_queue_row(
            b, &(proto_ixn_queue_row){.tenant = q->tenant,
                                      .queue = q->name,
                                      .media = media_name(k, q->media),
                                      .waiting = (int64_t)q->count[CC_IXN_QUEUED],
                                      .invited = (int64_t)q->count[CC_IXN_INVITED],
                                      .handling = (int64_t)q->count[CC_IXN_HANDLING],
                                      .after_work = (int64_t)q->count[CC_IXN_AFTER_WORK],
                                      .oldest_ms =
                                          q->head && now > q->head->queued_mono_us
                                              ? (int64_t)((now - q->head->queued_mono_us) / 1000)
                                              : 0});
    }
    proto_ixn_enc_queues_end(b);
    return 0;
}

/* ---- start-up ---- */

typedef struct load_ctx {
    ixn_core *k;
    ixn_ixn **ended;
    size_t nended, capended;
    size_t skipped, restored, ended_now;
} load_ctx;

static void load_one(void *ctx, const store_ixn *r)
{
    load_ctx *lc = ctx;
    ixn_core *k = lc->k;
    if (r->id > k->last_num)
        k->last_num = r->id;
    ixn_queue *q = queue_find(k, r->tenant, r->queue);
    int m = cc_media_find(&k->srv->cfg->media, r->media, strlen(r->media));
    if (!q || m != q->media) {
        /* Left in the store untouched: it comes back when the queue is configured again. */
        LOG_WARN("event=stored_interaction_skipped number=%" PRId64 " tenant=%s queue=%s why=%s",
                 r->id, LOGQ(r->tenant), LOGQ(r->queue), q ? "media_changed" : "queue_unknown");
        lc->skipped++;
        return;
    }
    ixn_ixn *x = xcalloc(1, sizeof *x);
    x->num = r->id;
    snprintf(x->id, sizeof x->id, "%s:%09" PRId64, k->srv->cfg->name, x->num);
    x->queue = q;
    x->media = m;
    /* An ended one keeps its userData in the store only. */
    x->user_data = r->state == CC_IXN_ENDED ? NULL : xstrdup(r->user_data ? r->user_data : "{}");
    user_data_declare(k, x->user_data, 1);
    x->external_id = r->external_id ? xstrdup(r->external_id) : NULL;
    x->order = r->order_key;
    /* Keys of earlier versions were counters, not times: such an interaction counts as
     * waiting since it was created. */
    x->entered_us = r->order_key > ORDER_KEY_TIME_MIN ? r->order_key : r->created_us;
    x->priority = r->priority >= 0 && r->priority <= 1000 ? (uint32_t)r->priority : 0;
    x->timer = -1;
    x->created_us = r->created_us;
    x->updated_us = r->updated_us;
    x->ended_us = r->ended_us;
    if (r->order_key > k->order_clock)
        k->order_clock = r->order_key;
    cc_map_puts(&k->ixns, x->id, x);
    if (x->external_id)
        cc_map_puts(&k->external, x->external_id, x);
    if (r->state == CC_IXN_ENDED) {
        x->state = CC_IXN_ENDED;
        q->count[CC_IXN_ENDED]++;
        if (lc->nended == lc->capended) {
            lc->capended = lc->capended ? 2 * lc->capended : 256;
            lc->ended = xrealloc(lc->ended, lc->capended * sizeof *lc->ended);
        }
        lc->ended[lc->nended++] = x;
        return;
    }
    /* Rows come in queue order, so appending rebuilds each queue as it was; whoever held
     * an interaction is gone with the old process. */
    x->state = CC_IXN_QUEUED;
    q->count[CC_IXN_QUEUED]++;
    queue_insert(k, x);
    if (r->state == CC_IXN_AFTER_WORK) {
        end_ixn(k, x, NULL, NULL, NULL, PROTO_IXR_REASON_DONE);
        lc->ended_now++;
        return;
    }
    if (r->state != CC_IXN_QUEUED || r->agent) {
        /* Back in its queue since now (the reports' "at" of its snapshot). */
        x->updated_us = (int64_t)cc_wall_us();
        persist(k, x);
    }
    lc->restored++;
}

static int cmp_ended(const void *pa, const void *pb)
{
    const ixn_ixn *a = *(ixn_ixn *const *)pa, *b = *(ixn_ixn *const *)pb;
    if (a->ended_us != b->ended_us)
        return a->ended_us < b->ended_us ? -1 : 1;
    return a->num < b->num ? -1 : a->num > b->num;
}

static int load(ixn_core *k)
{
    load_ctx lc = {.k = k};
    k->loading = true;
    int rc = store_load(k->st, load_one, &lc);
    k->loading = false;
    if (rc) {
        free(lc.ended);
        return rc;
    }
    /* The ended ones that were already ended come by id; the purge wants them by the time
     * they ended, ahead of the ones ended just now. */
    if (lc.nended)
        qsort(lc.ended, lc.nended, sizeof *lc.ended, cmp_ended);
    ixn_ixn *now_head = k->ended_head;
    ixn_ixn *prev = NULL;
    for (size_t i = 0; i < lc.nended; i++) {
        ixn_ixn *x = lc.ended[i];
        x->q_prev = prev;
        x->q_next = NULL;
        if (prev)
            prev->q_next = x;
        else
            k->ended_head = x;
        prev = x;
    }
    if (prev) {
        prev->q_next = now_head;
        if (now_head)
            now_head->q_prev = prev;
        else
            k->ended_tail = prev;
    }
    k->nended += lc.nended;
    free(lc.ended);
    int64_t last = store_last_id(k->st);
    if (last > k->last_num)
        k->last_num = last;
    rc = store_commit(k->st);
    if (rc == CC_E_STALE_OWNER)
        owner_lost(k, "load");
    trim_ended(k);
    LOG_INFO("event=store_loaded path=%s queued=%zu ended_at_start=%zu kept_ended=%zu "
             "skipped=%zu last_id=%" PRId64,
             store_path(k->st), lc.restored, lc.ended_now, k->nended, lc.skipped, k->last_num);
    return rc;
}

int ixn_core_check_config(const ixn_config *cfg)
{
    if (!cfg->data_dir)
        return 0;
    struct stat sb;
    if (stat(cfg->data_dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "ixnserver: error: %s: [server] data-dir: %s is not a directory\n",
                    cfg->path, cfg->data_dir);
            return 1;
        }
        if (access(cfg->data_dir, W_OK | X_OK) != 0) {
            fprintf(stderr, "ixnserver: error: %s: [server] data-dir: %s is not writable\n",
                    cfg->path, cfg->data_dir);
            return 1;
        }
        return 0;
    }
    /* The store creates the directory itself (one level), so its parent must be writable. */
    char *parent = xstrdup(cfg->data_dir);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        snprintf(parent, n + 1, "%s", ".");
    else if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    int err = 0;
    if (access(parent, W_OK | X_OK) != 0) {
        fprintf(stderr,
                "ixnserver: error: %s: [server] data-dir: %s does not exist and %s is not a "
                "writable directory\n",
                cfg->path, cfg->data_dir, parent);
        err = 1;
    }
    free(parent);
    return err;
}

/* A queue of the configuration, in the pool of its tenant and media (made when new),
 * with its target and options. The pool's layout is the caller's to redo. */
static ixn_queue *queue_create(ixn_core *k, const ixn_config_queue *cq)
{
    const ixn_config *cfg = k->srv->cfg;
    char key[QKEY_MAX];
    ixn_queue *q = xcalloc(1, sizeof *q);
    q->tenant = xstrdup(cq->tenant);
    q->name = xstrdup(cq->name);
    q->media = cq->media;
    qkey(key, q->tenant, q->name);
    cc_map_puts(&k->queues, key, q);
    k->qlist = xrealloc(k->qlist, (k->nq + 1) * sizeof *k->qlist);
    k->qlist[k->nq++] = q;
    pkey(key, q->tenant, q->media);
    ixn_pool *p = cc_map_gets(&k->pools, key);
    if (!p) {
        p = xcalloc(1, sizeof *p);
        p->tenant = xstrdup(q->tenant);
        p->media = q->media;
        cc_map_puts(&k->pools, key, p);
        k->plist = xrealloc(k->plist, (k->np + 1) * sizeof *k->plist);
        k->plist[k->np++] = p;
    }
    p->queues = xrealloc(p->queues, (p->nqueues + 1) * sizeof *p->queues);
    p->queues[p->nqueues++] = q;
    q->pool = p;
    ixn_route_queue_setup(&k->router, q, ixn_config_target(cfg, q->tenant, q->name),
                          ixn_config_queue_options(cfg, q->tenant, q->name));
    return q;
}

int ixn_core_queue_media(ixn_server *srv, const char *tenant, const char *name)
{
    const ixn_queue *q = queue_any(srv->core, tenant, name);
    return q ? q->media : -1;
}

void ixn_core_reconfigure(ixn_server *srv)
{
    ixn_core *k = srv->core;
    const ixn_config *cfg = srv->cfg;
    size_t added = 0, draining = 0;
    for (size_t i = 0; i < k->nq; i++)
        k->qlist[i]->draining = true;
    for (size_t i = 0; i < cfg->queue_count; i++) {
        const ixn_config_queue *cq = &cfg->queues[i];
        ixn_queue *q = queue_any(k, cq->tenant, cq->name);
        if (!q) {
            q = queue_create(k, cq);
            added++;
        } else {
            /* ixn_reload refused a file that moves a queue to another media. */
            assert(q->media == cq->media);
            ixn_route_queue_setup(&k->router, q, ixn_config_target(cfg, q->tenant, q->name),
                                  ixn_config_queue_options(cfg, q->tenant, q->name));
        }
        q->draining = false;
    }
    for (size_t i = 0; i < k->nq; i++) {
        ixn_queue *q = k->qlist[i];
        if (!q->draining)
            continue;
        /* Removed: it keeps its interactions and takes no new ones. The file gives it no
         * target any more, so what it holds goes to any agent of the tenant with the media
         * (docs/routing.md, "Live reload"). */
        ixn_route_queue_setup(&k->router, q, NULL, NULL);
        draining++;
        LOG_INFO("event=queue_draining tenant=%s queue=%s queued=%zu", LOGQ(q->tenant),
                 LOGQ(q->name), q->count[CC_IXN_QUEUED]);
    }
    for (size_t i = 0; i < k->np; i++)
        ixn_route_pool_layout(k->plist[i]);
    /* Agents of new pools join them; every agent's bitsets follow the new layout. */
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&srv->agents, &pos))) {
        ixn_agent *a = sl->value;
        ixn_core_agent_media(srv, a);
        for (int m = 0; m < CC_MEDIA_MAX; m++)
            if (a->pool[m])
                ixn_route_agent_join(a->pool[m], a);
    }
    for (size_t i = 0; i < k->np; i++)
        pool_kick(k, k->plist[i]);
    LOG_INFO("event=queues_reconfigured queues=%zu added=%zu draining=%zu pools=%zu", k->nq, added,
             draining, k->np);
}

/* Every few hundred milliseconds while the store is PostgreSQL: renews the owner row, and
 * learns early that another process took the store over. */
static void on_renew(uv_timer_t *t)
{
    ixn_core *k = t->data;
    if (k->closed || !k->st)
        return;
    int rc = store_renew(k->st);
    if (rc == CC_E_STALE_OWNER)
        owner_lost(k, "renew");
    else if (rc)
        LOG_WARN("event=store_renew_failed error=%s", cc_err_name(rc));
}

static volatile sig_atomic_t wait_signal;

static void on_wait_signal(int sig)
{
    wait_signal = sig;
}

/* Opens the configured store. A PostgreSQL store owned by another process (same name on
 * another machine, say) is waited for with the ports still closed: the lock is asked for
 * every STANDBY_RETRY_MS until the owner's connection is gone (its process died, or its
 * row went unrenewed for store-owner-timeout and the attempt ended its connection). */
static int open_store(ixn_core *k, cc_buf *err)
{
    const ixn_config *cfg = k->srv->cfg;
    store_config sc = {.kind = cfg->store_postgres ? STORE_KIND_POSTGRES : STORE_KIND_SQLITE,
                       .dir = cfg->data_dir,
                       .dsn = cfg->store_dsn,
                       .owner_timeout_ms = (int)cfg->store_owner_timeout_s * 1000};
    bool waited = false;
    uint64_t t0 = cc_mono_us();
    /* The loop does not run yet: a standby ends on SIGTERM or SIGINT here, cleanly, since
     * it holds nothing (no port, no store). */
    struct sigaction sa = {.sa_handler = on_wait_signal}, old_term, old_int;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    for (;;) {
        if (wait_signal) {
            LOG_INFO("event=shutdown signal=%d while=waiting_for_owner", (int)wait_signal);
            exit(0);
        }
        cc_buf_reset(err);
        int rc = store_open_config(&sc, cfg->name, &k->st, err);
        if (rc != CC_E_OWNED) {
            sigaction(SIGTERM, &old_term, NULL);
            sigaction(SIGINT, &old_int, NULL);
            if (wait_signal) {
                LOG_INFO("event=shutdown signal=%d while=waiting_for_owner", (int)wait_signal);
                exit(0);
            }
            if (waited && rc == 0)
                LOG_INFO("event=store_owner_acquired waited_ms=%" PRIu64 " epoch=%" PRId64,
                         (cc_mono_us() - t0) / 1000, store_epoch(k->st));
            return rc;
        }
        if (!waited)
            LOG_INFO("event=store_waiting_for_owner name=%s retry_ms=%d why=%s", LOGQ(cfg->name),
                     STANDBY_RETRY_MS, LOGQ(err->data ? err->data : ""));
        waited = true;
        usleep(STANDBY_RETRY_MS * 1000);
    }
}

int ixn_core_init(ixn_server *srv)
{
    const ixn_config *cfg = srv->cfg;
    ixn_core *k = xcalloc(1, sizeof *k);
    srv->core = k;
    k->srv = srv;
    cc_map_init(&k->ixns);
    cc_map_init(&k->external);
    cc_map_init(&k->queues);
    cc_map_init(&k->pools);
    cc_buf_init(&k->buf);
    ixn_route_init(&k->router, srv->loop, on_widened, k);
    for (size_t i = 0; i < cfg->queue_count; i++)
        queue_create(k, &cfg->queues[i]);
    for (size_t i = 0; i < k->np; i++)
        ixn_route_pool_layout(k->plist[i]);
    uv_check_init(srv->loop, &k->check);
    k->check.data = k;
    uv_idle_init(srv->loop, &k->idle);
    k->idle.data = k;
    uv_timer_init(srv->loop, &k->tick);
    k->tick.data = k;
    uv_timer_init(srv->loop, &k->purge);
    k->purge.data = k;
    uv_timer_init(srv->loop, &k->retry);
    k->retry.data = k;
    uv_timer_init(srv->loop, &k->renew);
    k->renew.data = k;
    ixn_batch_init(&k->batch);
    /* Started after the connections' flush handle, so it runs before it in each turn
     * (libuv runs the newest check handle first): answers leave in the same turn. */
    uv_check_start(&k->check, on_check);
    if (cfg->data_dir || cfg->store_postgres) {
        cc_buf err;
        cc_buf_init(&err);
        int rc = open_store(k, &err);
        if (rc) {
            LOG_ERROR("event=store_open_failed dir=%s error=%s why=%s",
                      cfg->store_postgres ? "-" : cfg->data_dir, cc_err_name(rc),
                      LOGQ(err.data ? err.data : ""));
            cc_buf_free(&err);
            k->st = NULL;
            return rc;
        }
        cc_buf_free(&err);
        k->router.wait_uncommitted = store_commits_async(k->st);
        k->epoch = (uint64_t)store_epoch(k->st);
        rc = load(k);
        if (rc) {
            LOG_ERROR("event=store_load_failed dir=%s error=%s",
                      cfg->store_postgres ? "-" : cfg->data_dir, cc_err_name(rc));
            return rc;
        }
        if (cfg->store_postgres) {
            /* The owner row is renewed several times per owner timeout, so that a standby
             * only ends this process's connection when it has really stopped. */
            uint64_t every = cfg->store_owner_timeout_s ? cfg->store_owner_timeout_s * 200u : 1000u;
            uv_timer_start(&k->renew, on_renew, every, every);
            uv_unref((uv_handle_t *)&k->renew);
        }
    } else {
        LOG_WARN("event=no_data_dir why=\"interactions are kept in memory only\"");
    }
    uint64_t every = cfg->keep_ended_s / 2 * 1000u;
    if (every < 1000)
        every = 1000;
    if (every > 60000)
        every = 60000;
    uv_timer_start(&k->purge, on_purge, every, every);
    uv_unref((uv_handle_t *)&k->purge);
    for (size_t i = 0; i < k->np; i++)
        pool_kick(k, k->plist[i]);
    LOG_INFO("event=queues_ready queues=%zu pools=%zu next_id=%" PRId64, k->nq, k->np,
             k->last_num + 1);
    return 0;
}

void ixn_core_shutdown(ixn_server *srv)
{
    ixn_core *k = srv->core;
    if (!k || k->closed)
        return;
    k->closed = true;
    if (k->st && store_pending(k->st) > 0 && store_commit(k->st) != 0)
        LOG_ERROR("event=store_commit_failed at=shutdown");
    uv_close((uv_handle_t *)&k->check, NULL);
    uv_close((uv_handle_t *)&k->idle, NULL);
    uv_close((uv_handle_t *)&k->tick, NULL);
    uv_close((uv_handle_t *)&k->purge, NULL);
    uv_close((uv_handle_t *)&k->retry, NULL);
    uv_close((uv_handle_t *)&k->renew, NULL);
    if (k->poll) {
        uv_close((uv_handle_t *)k->poll, poll_free);
        k->poll = NULL;
    }
    ixn_route_close(&k->router);
    LOG_INFO(
        "event=routing_stopped decisions=%" PRIu64 " widenings=%" PRIu64 " decision_p50_ns=%" PRIu64
        " decision_p99_ns=%" PRIu64 " decision_max_ns=%" PRIu64 " decisions_over_20us=%" PRIu64
        " stale_dropped=%" PRIu64 " stale_budget_hits=%" PRIu64,
        k->router.decisions, k->router.widenings, ixn_route_decision_quantile(&k->router, 0.50),
        ixn_route_decision_quantile(&k->router, 0.99), ixn_route_decision_quantile(&k->router, 1.0),
        k->router.decisions_slow, k->router.stale_dropped, k->router.stale_budget_hits);
    LOG_INFO("event=interactions_stopped submitted=%" PRIu64 " duplicates=%" PRIu64
             " invites=%" PRIu64 " accepted=%" PRIu64 " rejected=%" PRIu64 " timeouts=%" PRIu64
             " stopped=%" PRIu64 " ended=%" PRIu64 " commits=%" PRIu64 " commit_failures=%" PRIu64
             " undone=%" PRIu64 " forgotten=%" PRIu64,
             k->submitted, k->duplicates, k->invites, k->accepted, k->rejected, k->timeouts,
             k->stopped, k->ended, k->commits, k->commit_failures, k->undone, k->forgotten);
}

void ixn_core_free(ixn_server *srv)
{
    ixn_core *k = srv->core;
    if (!k)
        return;
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&srv->agents, &pos))) {
        ixn_agent *a = sl->value;
        a->held_head = a->held_tail = NULL;
        for (int m = 0; m < CC_MEDIA_MAX; m++) {
            free(a->match[m]);
            a->match[m] = NULL;
        }
        memset(a->pool, 0, sizeof a->pool);
        a->in_e = 0;
        a->claim = NULL;
    }
    pos = 0;
    while ((sl = cc_map_next(&k->ixns, &pos))) {
        ixn_ixn *x = sl->value;
        free(x->user_data);
        free(x->external_id);
        free(x);
    }
    for (size_t i = 0; i < k->nq; i++) {
        ixn_route_queue_free(k->qlist[i]);
        free(k->qlist[i]->tenant);
        free(k->qlist[i]->name);
        free(k->qlist[i]);
    }
    for (size_t i = 0; i < k->np; i++) {
        ixn_route_pool_free(k->plist[i]);
        free(k->plist[i]->tenant);
        free(k->plist[i]->queues);
        free(k->plist[i]);
    }
    free(k->qlist);
    free(k->plist);
    free(k->wait);
    free(k->spare);
    ixn_batch_free(&k->batch);
    cc_map_free(&k->ixns);
    cc_map_free(&k->external);
    cc_map_free(&k->queues);
    cc_map_free(&k->pools);
    cc_buf_free(&k->buf);
    store_close(k->st);
    ixn_route_free(&k->router);
    free(k);
    srv->core = NULL;
}

/* ---- metrics ---- */

bool ixn_core_store_ready(const ixn_server *srv)
{
    return srv->core && ((!srv->cfg->data_dir && !srv->cfg->store_postgres) || srv->core->st);
}

/* The queues' gauges, written per queue when the metrics are read. */
static void collect_queue_counts(void *user, cc_metrics_emit *e)
{
    const ixn_core *k = ((const ixn_server *)user)->core;
    static const struct {
        enum cc_ixn_state state;
        const char *name;
    } states[] = {{CC_IXN_QUEUED, "queued"},
                  {CC_IXN_INVITED, "invited"},
                  {CC_IXN_HANDLING, "handling"},
                  {CC_IXN_AFTER_WORK, "after_work"}};
    for (size_t i = 0; k && i < k->nq; i++) {
        const ixn_queue *q = k->qlist[i];
        for (size_t j = 0; j < sizeof states / sizeof states[0]; j++) {
            const char *values[] = {q->tenant, q->name, media_name(k, q->media), states[j].name};
            cc_metrics_emit_sample(e, values, (double)q->count[states[j].state]);
        }
    }
}

static void collect_queue_oldest(void *user, cc_metrics_emit *e)
{
    const ixn_core *k = ((const ixn_server *)user)->core;
    uint64_t now = cc_mono_us();
    for (size_t i = 0; k && i < k->nq; i++) {
        const ixn_queue *q = k->qlist[i];
        const char *values[] = {q->tenant, q->name, media_name(k, q->media)};
        uint64_t since = q->head ? q->head->queued_mono_us : now;
        cc_metrics_emit_sample(e, values, now > since ? (double)(now - since) / 1e6 : 0.0);
    }
}

void ixn_core_metrics(ixn_server *srv, cc_metrics *r)
{
    ixn_core *k = srv->core;
    const char *event_label[] = {"event"};
    const char *events[] = {"submitted", "duplicate",      "invited", "accepted",
                            "rejected",  "invite_timeout", "stopped", "ended"};
    const uint64_t *sources[] = {&k->submitted, &k->duplicates, &k->invites, &k->accepted,
                                 &k->rejected,  &k->timeouts,   &k->stopped, &k->ended};
    cc_metric *m = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_ixn_interaction_events_total",
                            .help = "Steps of interactions: submits (new, or a known externalId), "
                                    "offers, accepts, rejects, invite timeouts, stops, ends",
                            .type = CC_METRIC_COUNTER,
                            .labels = event_label,
                            .nlabels = 1,
                            .rows = events,
                            .nrows = sizeof events / sizeof events[0]});
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        cc_metric_bind(m, i, sources[i]);
    const struct {
        const char *name, *help;
        const uint64_t *src;
    } counters[] = {
        {"contactcore_ixn_store_commits_total", "Batches committed to the store", &k->commits},
        {"contactcore_ixn_store_commit_failures_total",
         "Commits that failed: their requests were answered 14 and undone", &k->commit_failures},
        {"contactcore_ixn_store_undone_total", "Interaction changes undone after failed commits",
         &k->undone},
        {"contactcore_ixn_routing_decisions_total",
         "Routing decisions: an interaction and an agent paired for a reservation",
         &k->router.decisions},
        {"contactcore_ixn_routing_widenings_total", "Target steps widened by their timer",
         &k->router.widenings},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        m = cc_metrics_add(r, &(cc_metric_def){.name = counters[i].name,
                                               .help = counters[i].help,
                                               .type = CC_METRIC_COUNTER});
        cc_metric_bind(m, 0, counters[i].src);
    }
    m = cc_metrics_add(r, &(cc_metric_def){.name = "contactcore_ixn_store_epoch",
                                           .help = "Ownership epoch of the PostgreSQL store "
                                                   "(0 with SQLite)",
                                           .type = CC_METRIC_GAUGE});
    cc_metric_bind(m, 0, &k->epoch);
    const char *count_labels[] = {"tenant", "queue", "media", "state"};
    cc_metrics_add_collected(r,
                             &(cc_metric_def){.name = "contactcore_ixn_queue_interactions",
                                              .help = "Interactions of each queue by state",
                                              .type = CC_METRIC_GAUGE,
                                              .labels = count_labels,
                                              .nlabels = 4},
                             collect_queue_counts, srv);
    cc_metrics_add_collected(
        r,
        &(cc_metric_def){.name = "contactcore_ixn_queue_oldest_wait_seconds",
                         .help = "How long the first interaction of each queue has waited (0 "
                                 "when none waits)",
                         .type = CC_METRIC_GAUGE,
                         .labels = count_labels,
                         .nlabels = 3},
        collect_queue_oldest, srv);
}

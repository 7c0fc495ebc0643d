#include "ixn/ixn_route.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"

/* Uncommitted interactions skipped at the head of a step list before routing gives up on
 * that list until the commit (which kicks the pool again). They are few: a reject or an
 * undo of this loop turn. */
#define SKIP_UNCOMMITTED 64

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The store has x as queued: a change of this loop turn, or one kept after a failed
 * commit, waits for its commit before routing may offer it. */
static bool committed(const ixn_ixn *x)
{
    return !x->batch && !x->unsaved;
}

static uint64_t waited_ms(const ixn_ixn *x, int64_t now_us)
{
    return now_us > x->entered_us ? (uint64_t)(now_us - x->entered_us) / 1000u : 0;
}

static size_t step_count(const ixn_queue *q)
{
    return target_step_count(q->target);
}

/* ---- agents ---- */

bool ixn_route_can_offer(const ixn_agent *a, int m)
{
    cc_media_mask bit = (cc_media_mask)1 << m;
    return a->client && a->client->session && (a->added & bit) && (a->ready & bit) && !a->dnd;
}

/* Worth asking a reservation for media m: the newest status has room and reflects the
 * agent's current version (nothing in flight that it does not count), no reservation of
 * the agent is outstanding, and m was not refused since that status. */
bool ixn_route_eligible(const ixn_agent *a, int m)
{
    return ixn_route_can_offer(a, m) && a->has_status && a->status_from &&
           a->status_version == a->version && a->available[m] > 0 && !a->resv &&
           !(a->refused & ((cc_media_mask)1 << m));
}

static uint64_t idle_key(const ixn_agent *a, int m)
{
    return a->offer_seq[m] ? a->offer_seq[m] : a->login_seq;
}

static bool bit_get(const uint64_t *bits, size_t i)
{
    return (bits[i / 64] >> (i % 64)) & 1u;
}

/* One agent's place in the heap of one step class (ixn_pool). The classes are what a
 * decision reads, so that finding the longest idle eligible agent matching a step costs
 * the same whatever share of the pool matches it: a decision walked the whole eligible
 * list before, which at 10,000 agents and a step matching 1 % of them took tens to
 * hundreds of microseconds. A heap, not a list kept in idle order: agents come back
 * (their statuses) in no particular order, and finding each one's place in a list cost a
 * walk of hundreds of agents per status during a burst of offers. */
typedef struct e_node {
    ixn_agent *a;
    uint32_t cls;
    uint32_t pos; /* its index in the class's heap while the agent is eligible */
} e_node;

/* An entry of a class heap: the agent's idle key when it joined, and its node. */
typedef struct e_entry {
    uint64_t key;
    e_node *n;
} e_entry;

/* Children per heap node: a removal (every offer takes its agent out of each of its
 * classes) costs one level per factor of H_ARITY, and the children's keys sit side by
 * side in the array. */
#define H_ARITY 4

/** A step class of a pool (ixn_route.h): its eligible agents, a min-heap by idle key, so
 * that the longest idle is at index 0. */
typedef struct ixn_eclass {
    e_entry *heap;
    size_t count, cap;
    size_t qs; /* one queue step of the class: its bit in the agents' bitsets */
    const target *t;
    size_t step;
} ixn_eclass;

/* An agent's routing data in a pool, one allocation (a->match[m]): the bitset of the queue
 * steps it matches (p->words words), then the number of its classes, then one node per
 * class it matches. */
static size_t *node_count(const ixn_pool *p, uint64_t *bits)
{
    return (size_t *)(void *)(bits + p->words);
}

static e_node *nodes_of(const ixn_pool *p, uint64_t *bits)
{
    return (e_node *)(void *)(bits + p->words + 1);
}

static void h_set(ixn_eclass *c, size_t i, e_entry e)
{
    c->heap[i] = e;
    e.n->pos = (uint32_t)i;
}

static void h_up(ixn_eclass *c, size_t i)
{
    e_entry e = c->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / H_ARITY;
        if (c->heap[parent].key <= e.key)
            break;
        h_set(c, i, c->heap[parent]);
        i = parent;
    }
    h_set(c, i, e);
}

static void h_down(ixn_eclass *c, size_t i)
{
    e_entry e = c->heap[i];
    for (;;) {
        size_t first = H_ARITY * i + 1, min = first;
        if (first >= c->count)
            break;
        size_t end = first + H_ARITY < c->count ? first + H_ARITY : c->count;
        for (size_t k = first + 1; k < end; k++)
            if (c->heap[k].key < c->heap[min].key)
                min = k;
        if (c->heap[min].key >= e.key)
            break;
        h_set(c, i, c->heap[min]);
        i = min;
    }
    h_set(c, i, e);
}

/* Most agents join as the latest offered, the largest key: h_up stops at once. */
static void h_push(ixn_eclass *c, e_node *n, uint64_t key)
{
    if (c->count == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->heap = xrealloc(c->heap, c->cap * sizeof *c->heap);
    }
    h_set(c, c->count++, (e_entry){.key = key, .n = n});
    h_up(c, c->count - 1);
}

static void h_del(ixn_eclass *c, e_node *n)
{
    size_t i = n->pos;
    assert(i < c->count && c->heap[i].n == n);
    c->count--;
    if (i == c->count)
        return;
    e_entry last = c->heap[c->count];
    h_set(c, i, last);
    h_up(c, i);
    h_down(c, last.n->pos);
}

/* Joins p's eligible list (in no particular order: decisions read the classes) and the
 * heap of each class it matches. */
static void e_insert(ixn_pool *p, ixn_agent *a)
{
    int m = p->media;
    cc_media_mask bit = (cc_media_mask)1 << m;
    assert(!(a->in_e & bit));
    a->e_prev[m] = p->e_tail;
    a->e_next[m] = NULL;
    if (p->e_tail)
        p->e_tail->e_next[m] = a;
    else
        p->e_head = a;
    p->e_tail = a;
    a->in_e |= bit;
    p->e_count++;
    if (!a->match[m])
        return;
    uint64_t key = idle_key(a, m);
    e_node *n = nodes_of(p, a->match[m]);
    size_t count = *node_count(p, a->match[m]);
    for (size_t i = 0; i < count; i++)
        h_push(&p->eclass[n[i].cls], &n[i], key);
}

static void e_remove(ixn_pool *p, ixn_agent *a)
{
    int m = p->media;
    cc_media_mask bit = (cc_media_mask)1 << m;
    if (!(a->in_e & bit))
        return;
    if (a->e_prev[m])
        a->e_prev[m]->e_next[m] = a->e_next[m];
    else
        p->e_head = a->e_next[m];
    if (a->e_next[m])
        a->e_next[m]->e_prev[m] = a->e_prev[m];
    else
        p->e_tail = a->e_prev[m];
    a->e_prev[m] = a->e_next[m] = NULL;
    a->in_e &= ~bit;
    assert(p->e_count > 0);
    p->e_count--;
    if (!a->match[m])
        return;
    e_node *n = nodes_of(p, a->match[m]);
    size_t count = *node_count(p, a->match[m]);
    for (size_t i = 0; i < count; i++)
        h_del(&p->eclass[n[i].cls], &n[i]);
}

/* Frees the class heaps of p. */
static void classes_free(ixn_pool *p)
{
    for (size_t c = 0; p->eclass && c < p->nclass; c++)
        free(p->eclass[c].heap);
    free(p->eclass);
    p->eclass = NULL;
    p->nclass = 0;
}

void ixn_route_pool_layout(ixn_pool *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nqueues; i++) {
        p->queues[i]->qs_base = n;
        n += step_count(p->queues[i]);
    }
    p->nqs = n;
    p->words = (n + 63) / 64;
    /* The classes: queue steps with the same canonical expression text. A layout is made
     * at start and at a reload, so a plain search of the classes so far will do. */
    free(p->qs_class);
    classes_free(p);
    p->qs_class = xcalloc(n ? n : 1, sizeof *p->qs_class);
    p->eclass = xcalloc(n ? n : 1, sizeof *p->eclass);
    p->nclass = 0;
    for (size_t i = 0; i < p->nqueues; i++) {
        const ixn_queue *q = p->queues[i];
        for (size_t s = 0; s < step_count(q); s++) {
            const char *text = target_step_text(q->target, s);
            size_t c = 0;
            while (c < p->nclass &&
                   strcmp(target_step_text(p->eclass[c].t, p->eclass[c].step), text) != 0)
                c++;
            if (c == p->nclass)
                p->eclass[p->nclass++] =
                    (ixn_eclass){.qs = q->qs_base + s, .t = q->target, .step = s};
            p->qs_class[q->qs_base + s] = (uint32_t)c;
        }
    }
    /* The agents' bitsets and nodes are made again by their joins: until then the list
     * and the classes are empty. */
    for (ixn_agent *a = p->e_head; a;) {
        ixn_agent *next = a->e_next[p->media];
        a->e_prev[p->media] = a->e_next[p->media] = NULL;
        a->in_e &= ~((cc_media_mask)1 << p->media);
        a = next;
    }
    p->e_head = p->e_tail = NULL;
    p->e_count = 0;
}

void ixn_route_pool_free(ixn_pool *p)
{
    free(p->qs_class);
    p->qs_class = NULL;
    classes_free(p);
}

void ixn_route_agent_join(ixn_pool *p, ixn_agent *a)
{
    int m = p->media;
    bool was = (a->in_e >> m) & 1u;
    if (was)
        e_remove(p, a);
    free(a->match[m]);
    /* Each class's expression is evaluated once, then its bit is set for every queue step
     * of the class. */
    bool *in = xcalloc(p->nclass ? p->nclass : 1, sizeof *in);
    size_t count = 0;
    for (size_t c = 0; c < p->nclass; c++) {
        in[c] = target_match(p->eclass[c].t, p->eclass[c].step, &a->skills);
        count += in[c];
    }
    size_t words =
        p->words + 1 + (count * sizeof(e_node) + sizeof(uint64_t) - 1) / sizeof(uint64_t);
    uint64_t *bits = xcalloc(words, sizeof *bits);
    for (size_t qs = 0; qs < p->nqs; qs++)
        if (in[p->qs_class[qs]])
            bits[qs / 64] |= (uint64_t)1 << (qs % 64);
    *node_count(p, bits) = count;
    e_node *n = nodes_of(p, bits);
    for (size_t c = 0, i = 0; c < p->nclass; c++)
        if (in[c])
            n[i++] = (e_node){.a = a, .cls = (uint32_t)c};
    free(in);
    a->match[m] = bits;
    if (was || ixn_route_eligible(a, m))
        e_insert(p, a);
}

void ixn_route_agent_leave(ixn_pool *p, ixn_agent *a)
{
    int m = p->media;
    e_remove(p, a);
    free(a->match[m]);
    a->match[m] = NULL;
}

bool ixn_route_matches(const ixn_queue *q, size_t step, const ixn_agent *a)
{
    const uint64_t *bits = a->match[q->media];
    if (bits && a->pool[q->media] == q->pool)
        return bit_get(bits, q->qs_base + step);
    return target_match(q->target, step, &a->skills);
}

cc_media_mask ixn_route_agent_ready(ixn_agent *a)
{
    cc_media_mask joined = 0;
    for (int m = 0; m < CC_MEDIA_MAX; m++) {
        ixn_pool *p = a->pool[m];
        if (!p || ((a->in_e >> m) & 1u) || !ixn_route_eligible(a, m))
            continue;
        e_insert(p, a);
        joined |= (cc_media_mask)1 << m;
    }
    return joined;
}

void ixn_route_prepare(ixn_pool *p)
{
    for (ixn_agent *a = p->e_head; a;) {
        ixn_agent *next = a->e_next[p->media];
        if (!ixn_route_eligible(a, p->media) || a->pool[p->media] != p)
            e_remove(p, a);
        a = next;
    }
}

/* ---- the widening heap ---- */

static int64_t list_deadline(const ixn_steplist *l)
{
    const ixn_queue *q = l->bucket->queue;
    return l->head->entered_us + (int64_t)target_step_begin_ms(q->target, l->step + 1u) * 1000;
}

static void heap_swap(ixn_router *r, size_t i, size_t j)
{
    ixn_steplist *t = r->heap[i];
    r->heap[i] = r->heap[j];
    r->heap[j] = t;
    r->heap[i]->heap_pos = i + 1;
    r->heap[j]->heap_pos = j + 1;
}

static void heap_up(ixn_router *r, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (list_deadline(r->heap[parent]) <= list_deadline(r->heap[i]))
            break;
        heap_swap(r, i, parent);
        i = parent;
    }
}

static void heap_down(ixn_router *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, rr = l + 1, min = i;
        if (l < r->nheap && list_deadline(r->heap[l]) < list_deadline(r->heap[min]))
            min = l;
        if (rr < r->nheap && list_deadline(r->heap[rr]) < list_deadline(r->heap[min]))
            min = rr;
        if (min == i)
            return;
        heap_swap(r, i, min);
        i = min;
    }
}

static void on_widen(uv_timer_t *t);

static void arm(ixn_router *r)
{
    if (r->closed)
        return;
    int64_t due = r->nheap ? list_deadline(r->heap[0]) : 0;
    if (due == r->due_us)
        return;
    r->due_us = due;
    if (!due) {
        uv_timer_stop(&r->timer);
        return;
    }
    int64_t now = (int64_t)cc_wall_us();
    uint64_t ms = due > now ? (uint64_t)(due - now + 999) / 1000u : 0;
    uv_timer_start(&r->timer, on_widen, ms, 0);
}

/* The list's head changed: its place in the heap follows. */
static void heap_fix(ixn_router *r, ixn_steplist *l)
{
    bool want = l->head && (size_t)l->step + 1 < step_count(l->bucket->queue);
    if (!want) {
        if (l->heap_pos) {
            size_t i = l->heap_pos - 1;
            l->heap_pos = 0;
            r->nheap--;
            if (i != r->nheap) {
                r->heap[i] = r->heap[r->nheap];
                r->heap[i]->heap_pos = i + 1;
                heap_up(r, i);
                heap_down(r, r->heap[i]->heap_pos - 1);
            }
        }
    } else if (!l->heap_pos) {
        if (r->nheap == r->capheap) {
            r->capheap = r->capheap ? 2 * r->capheap : 64;
            r->heap = xrealloc(r->heap, r->capheap * sizeof *r->heap);
        }
        r->heap[r->nheap] = l;
        l->heap_pos = ++r->nheap;
        heap_up(r, r->nheap - 1);
    } else {
        heap_up(r, l->heap_pos - 1);
        heap_down(r, l->heap_pos - 1);
    }
    arm(r);
}

/* ---- step lists ---- */

/* Links x into l by order key. New ones and widened ones are the newest of their list;
 * those coming back (a reject, a claim that ended) are near the head. */
static void list_insert(ixn_steplist *l, ixn_ixn *x)
{
    ixn_ixn *after;
    if (!l->tail || l->tail->order <= x->order) {
        after = l->tail;
    } else if (x->order < l->head->order) {
        after = NULL;
    } else {
        after = l->head;
        while (after->r_next && after->r_next->order <= x->order)
            after = after->r_next;
    }
    x->r_prev = after;
    x->r_next = after ? after->r_next : l->head;
    if (x->r_next)
        x->r_next->r_prev = x;
    else
        l->tail = x;
    if (after)
        after->r_next = x;
    else
        l->head = x;
    x->rlist = l;
}

static void list_unlink(ixn_steplist *l, ixn_ixn *x)
{
    if (x->r_prev)
        x->r_prev->r_next = x->r_next;
    else
        l->head = x->r_next;
    if (x->r_next)
        x->r_next->r_prev = x->r_prev;
    else
        l->tail = x->r_prev;
    x->r_prev = x->r_next = NULL;
    x->rlist = NULL;
}

static ixn_bucket *bucket_get(ixn_queue *q, uint32_t priority)
{
    size_t i = 0;
    while (i < q->nbuckets && q->buckets[i]->priority > priority)
        i++;
    if (i < q->nbuckets && q->buckets[i]->priority == priority)
        return q->buckets[i];
    ixn_bucket *b = xcalloc(1, sizeof *b);
    b->priority = priority;
    b->queue = q;
    for (size_t s = 0; s < TARGET_STEPS_MAX; s++)
        b->lists[s] = (ixn_steplist){.bucket = b, .step = (uint8_t)s};
    q->buckets = xrealloc(q->buckets, (q->nbuckets + 1) * sizeof *q->buckets);
    memmove(&q->buckets[i + 1], &q->buckets[i], (q->nbuckets - i) * sizeof *q->buckets);
    q->buckets[i] = b;
    q->nbuckets++;
    return b;
}

size_t ixn_route_step(const ixn_ixn *x, int64_t now_us, uint64_t *next_ms)
{
    const target *t = x->queue->target;
    uint64_t w = waited_ms(x, now_us);
    size_t s = x->rlist ? x->rlist->step : target_step_at(t, w);
    if (next_ms) {
        *next_ms = 0;
        if (s + 1 < target_step_count(t)) {
            uint64_t begin = target_step_begin_ms(t, s + 1);
            *next_ms = begin > w ? begin - w : 0;
        }
    }
    return s;
}

uint64_t ixn_route_effective_priority(const ixn_ixn *x, int64_t now_us)
{
    uint32_t aging = x->queue->aging_s;
    uint64_t gain = aging ? waited_ms(x, now_us) / 1000u / aging : 0;
    return (uint64_t)x->priority + gain;
}

void ixn_route_add(ixn_router *r, ixn_ixn *x)
{
    assert(!x->rlist && !x->claimed_by);
    ixn_queue *q = x->queue;
    ixn_bucket *b = bucket_get(q, x->priority);
    size_t s = target_step_at(q->target, waited_ms(x, (int64_t)cc_wall_us()));
    assert(s < TARGET_STEPS_MAX);
    ixn_steplist *l = &b->lists[s];
    list_insert(l, x);
    if (l->head == x)
        heap_fix(r, l);
}

static void index_remove(ixn_router *r, ixn_ixn *x)
{
    ixn_steplist *l = x->rlist;
    if (!l)
        return;
    bool was_head = l->head == x;
    list_unlink(l, x);
    if (was_head)
        heap_fix(r, l);
}

void ixn_route_remove(ixn_router *r, ixn_ixn *x)
{
    if (x->claimed_by) {
        x->claimed_by->claim = NULL;
        x->claimed_by = NULL;
        return;
    }
    index_remove(r, x);
}

void ixn_route_claim(ixn_router *r, ixn_ixn *x, ixn_agent *a)
{
    assert(!a->claim && !x->claimed_by);
    index_remove(r, x);
    x->claimed_by = a;
    a->claim = x;
}

ixn_ixn *ixn_route_unclaim(ixn_router *r, ixn_agent *a)
{
    ixn_ixn *x = a->claim;
    if (!x)
        return NULL;
    a->claim = NULL;
    x->claimed_by = NULL;
    if (x->state == CC_IXN_QUEUED)
        ixn_route_add(r, x);
    return x;
}

void ixn_route_queue_setup(ixn_router *r, ixn_queue *q, const target *t,
                           const target_queue_options *opt)
{
    for (ixn_ixn *x = q->head; x; x = x->q_next)
        index_remove(r, x);
    q->target = t ? t : r->any;
    q->default_priority = opt && opt->has_priority ? opt->priority : 0;
    q->aging_s = opt ? opt->aging_s : 0;
    q->select_skill = opt ? opt->select_skill : -1;
    for (ixn_ixn *x = q->head; x; x = x->q_next)
        if (!x->claimed_by)
            ixn_route_add(r, x);
}

void ixn_route_queue_free(ixn_queue *q)
{
    for (size_t i = 0; i < q->nbuckets; i++)
        free(q->buckets[i]);
    free(q->buckets);
    q->buckets = NULL;
    q->nbuckets = 0;
}

/* ---- the widening timer ---- */

static void on_widen(uv_timer_t *t)
{
    ixn_router *r = t->data;
    r->due_us = 0;
    int64_t now = (int64_t)cc_wall_us();
    while (r->nheap && list_deadline(r->heap[0]) <= now) {
        ixn_steplist *l = r->heap[0];
        ixn_ixn *x = l->head;
        list_unlink(l, x);
        heap_fix(r, l);
        ixn_steplist *next = &l->bucket->lists[l->step + 1];
        list_insert(next, x);
        if (next->head == x)
            heap_fix(r, next);
        r->widenings++;
        LOG_DEBUG("event=step_widened interaction=%s step=%u", x->id, (unsigned)next->step + 1);
        r->widened(r->ctx, l->bucket->queue->pool);
    }
    arm(r);
}

void ixn_route_init(ixn_router *r, uv_loop_t *loop, ixn_route_widened_fn *widened, void *ctx)
{
    memset(r, 0, sizeof *r);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->widened = widened;
    r->ctx = ctx;
    r->any = target_any();
    /* Without ixn_route_pass_begin, decisions drop every stale agent they meet. */
    r->stale_left = SIZE_MAX;
}

void ixn_route_close(ixn_router *r)
{
    if (r->closed)
        return;
    r->closed = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
    free(r->heap);
    r->heap = NULL;
    r->nheap = r->capheap = 0;
}

void ixn_route_free(ixn_router *r)
{
    target_free(r->any);
    r->any = NULL;
}

/* ---- choosing ---- */

/* x comes before y in routing.md section 4's order. */
static bool before(const ixn_ixn *x, const ixn_ixn *y, int64_t now_us)
{
    uint64_t ex = ixn_route_effective_priority(x, now_us),
             ey = ixn_route_effective_priority(y, now_us);
    if (ex != ey)
        return ex > ey;
    if (x->entered_us != y->entered_us)
        return x->entered_us < y->entered_us;
    return x->order < y->order;
}

/* The first of l that may be offered; with wait, an interaction of the batch (its
 * commit soon done) is returned too, so that nothing behind it overtakes it. Those kept
 * after a failed commit are always passed over. */
static const ixn_ixn *first_committed(const ixn_steplist *l, bool wait)
{
    size_t n = 0;
    for (const ixn_ixn *x = l->head; x && n < SKIP_UNCOMMITTED; x = x->r_next, n++)
        if (committed(x) || (wait && !x->unsaved))
            return x;
    return NULL;
}

/* Whether queue step qs is in the set: a class list that is not empty when bits is NULL
 * (some eligible agent matches it), else one agent's bits. */
static bool step_in(const ixn_pool *p, const uint64_t *bits, size_t qs)
{
    return bits ? bit_get(bits, qs) : p->eclass[p->qs_class[qs]].count > 0;
}

/* The first interaction of p in routing order whose queue step is in the set (step_in). */
static ixn_ixn *first_matching(const ixn_pool *p, const uint64_t *bits, int64_t now_us, bool wait)
{
    const ixn_ixn *best = NULL;
    for (size_t i = 0; i < p->nqueues; i++) {
        const ixn_queue *q = p->queues[i];
        /* Most queues wait for nothing most of the time: one load says so (the count
         * includes claimed and uncommitted ones, which the index does not). */
        if (!q->count[CC_IXN_QUEUED])
            continue;
        size_t n = step_count(q);
        bool any = false;
        for (size_t s = 0; s < n && !any; s++)
            any = step_in(p, bits, q->qs_base + s);
        if (!any)
            continue;
        for (size_t bi = 0; bi < q->nbuckets; bi++) {
            const ixn_bucket *b = q->buckets[bi];
            /* The oldest are at the widest step; within a bucket the oldest matching one is
             * also the first by effective priority. */
            for (size_t s = n; s-- > 0;) {
                if (!b->lists[s].head || !step_in(p, bits, q->qs_base + s))
                    continue;
                const ixn_ixn *x = first_committed(&b->lists[s], wait);
                if (!x)
                    continue;
                if (!best || before(x, best, now_us))
                    best = x;
                break;
            }
        }
    }
    /* The first in order waits for its commit: nothing is offered until then (the commit
     * kicks the pool). */
    if (best && !committed(best))
        return NULL;
    return (ixn_ixn *)best;
}

/* The histogram bucket of ns: 4 * floor(log2 ns) plus the two bits below the top one. */
static size_t hist_bucket(uint64_t ns)
{
    if (ns < 4)
        return (size_t)ns;
    unsigned top = 63u - (unsigned)__builtin_clzll(ns);
    size_t b = 4u * top + (size_t)((ns >> (top - 2)) & 3u);
    return b < IXN_ROUTE_HIST ? b : IXN_ROUTE_HIST - 1;
}

/* The largest ns of bucket b. */
static uint64_t hist_upper(size_t b)
{
    if (b < 4)
        return b;
    unsigned top = (unsigned)(b / 4);
    uint64_t base = (uint64_t)1 << top, step = base / 4;
    return base + step * (b % 4 + 1) - 1;
}

static void record(ixn_router *r, uint64_t t0)
{
    uint64_t ns = now_ns() - t0;
    r->decision_hist[hist_bucket(ns)]++;
    r->decisions++;
    if (ns > IXN_ROUTE_SLOW_NS)
        r->decisions_slow++;
}

uint64_t ixn_route_decision_quantile(const ixn_router *r, double q)
{
    if (!r->decisions)
        return 0;
    uint64_t want = (uint64_t)(q * (double)r->decisions + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    for (size_t b = 0; b < IXN_ROUTE_HIST; b++) {
        seen += r->decision_hist[b];
        if (seen >= want)
            return hist_upper(b);
    }
    return hist_upper(IXN_ROUTE_HIST - 1);
}

/* Whether a, in p's lists, is no longer eligible there. Such an agent leaves the lists
 * when a decision meets it, as ixn_route_prepare would have it, and joins again when it
 * may: only the agents met are looked at (a sweep of the whole list in a decision cost
 * hundreds of microseconds at 10,000 agents). */
static bool stale(const ixn_pool *p, const ixn_agent *a)
{
    return !ixn_route_eligible(a, p->media) || a->pool[p->media] != p;
}

/* Drops a stale agent met by a decision, counted against the pass's budget. */
static void drop_stale(ixn_router *r, ixn_pool *p, ixn_agent *a)
{
    assert(r->stale_left > 0);
    e_remove(p, a);
    r->stale_left--;
    r->stale_dropped++;
}

/* The longest idle eligible agent of class c (select idle), or NULL (with r->stale_out
 * set when the pass's budget of stale agents ran out first). */
static ixn_agent *pick_idle(ixn_router *r, ixn_pool *p, ixn_eclass *c)
{
    while (c->count) {
        ixn_agent *a = c->heap[0].n->a;
        if (!stale(p, a))
            return a;
        if (r->stale_left == 0) {
            r->stale_out = true;
            return NULL;
        }
        drop_stale(r, p, a);
    }
    return NULL;
}

/* The eligible agent of class c with the highest level of skill, the longest idle of
 * those (select SKILL), or NULL. Every agent of the class is looked at; the stale ones
 * leave after the look, as taking them out moves the heap under it. */
static ixn_agent *pick_skill(ixn_router *r, ixn_pool *p, ixn_eclass *c, int skill)
{
    ixn_agent *pick = NULL;
    unsigned pick_level = 0;
    uint64_t pick_key = 0;
    size_t nstale = 0;
    for (size_t i = 0; i < c->count; i++) {
        ixn_agent *a = c->heap[i].n->a;
        if (stale(p, a)) {
            nstale++;
            continue;
        }
        unsigned level = target_skills_level(&a->skills, skill);
        uint64_t key = c->heap[i].key;
        if (!pick || level > pick_level || (level == pick_level && key < pick_key)) {
            pick = a;
            pick_level = level;
            pick_key = key;
        }
    }
    /* Stale agents beyond the pass's budget stay for a later decision: they are skipped
     * above whatever their number. */
    if (nstale > r->stale_left)
        nstale = r->stale_left;
    if (nstale) {
        ixn_agent **out = xmalloc(nstale * sizeof *out);
        size_t k = 0;
        for (size_t i = 0; i < c->count && k < nstale; i++)
            if (stale(p, c->heap[i].n->a))
                out[k++] = c->heap[i].n->a;
        for (size_t i = 0; i < k; i++)
            drop_stale(r, p, out[i]);
        free(out);
    }
    return pick;
}

void ixn_route_pass_begin(ixn_router *r, size_t stale_budget)
{
    r->stale_left = stale_budget;
    r->stale_out = false;
}

bool ixn_route_pass_out(const ixn_router *r)
{
    return r->stale_out;
}

bool ixn_route_next(ixn_router *r, ixn_pool *p, ixn_ixn **xo, ixn_agent **ao)
{
    uint64_t t0 = now_ns();
    int64_t now = (int64_t)cc_wall_us();
    while (p->e_count) {
        ixn_ixn *x = first_matching(p, NULL, now, r->wait_uncommitted);
        if (!x)
            break;
        const ixn_queue *q = x->queue;
        ixn_eclass *c = &p->eclass[p->qs_class[q->qs_base + x->rlist->step]];
        ixn_agent *pick =
            q->select_skill < 0 ? pick_idle(r, p, c) : pick_skill(r, p, c, q->select_skill);
        if (!pick && r->stale_out) {
            r->stale_budget_hits++;
            break;
        }
        if (!pick) {
            /* Only agents that stopped being eligible were in x's class: they are out of
             * it now, and the next search sees it empty. */
            assert(c->count == 0);
            continue;
        }
        e_remove(p, pick);
        *xo = x;
        *ao = pick;
        record(r, t0);
        return true;
    }
    record(r, t0);
    return false;
}

ixn_ixn *ixn_route_best_for(ixn_pool *p, const ixn_agent *a)
{
    const uint64_t *bits = a->match[p->media];
    if (!bits)
        return NULL;
    return first_matching(p, bits, (int64_t)cc_wall_us(), false);
}

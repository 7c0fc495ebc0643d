/* Routing decisions (docs/routing.md, the contract's routing.md sections 2 to 4): which
 * queued interaction goes to which agent. ixn_ixn owns the interactions, their states and
 * the queue lists; this module keeps, beside them, an index of the interactions routing
 * may offer (per queue, per priority, per target step, oldest first), the agents of each
 * pool that may take an offer now, and which target steps each agent matches. It moves
 * interactions to their next target step when its time comes (a timer, not a poll) and
 * answers "what next" in the order of routing.md section 4 without scanning the waiting
 * interactions or the pool's agents. No I/O except that timer. */
#ifndef IXN_ROUTE_H
#define IXN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ixn/ixn_agents.h"
#include "ixn/ixn_ixn.h"
#include "rules/target.h"

struct ixn_bucket;
struct ixn_pool;

/** The indexed interactions of one queue, one priority and one target step, oldest
 * (smallest order key) first. */
typedef struct ixn_steplist {
    ixn_ixn *head, *tail;
    struct ixn_bucket *bucket;
    size_t heap_pos; /* 1 + its index in the router's widening heap; 0 when not there */
    uint8_t step;
} ixn_steplist;

/** The indexed interactions of one queue with one base priority. */
typedef struct ixn_bucket {
    uint32_t priority;
    struct ixn_queue *queue;
    ixn_steplist lists[TARGET_STEPS_MAX];
} ixn_bucket;

/** One queue of the configuration. */
typedef struct ixn_queue {
    char *tenant;
    char *name;
    int media;
    struct ixn_pool *pool;
    /* Owned by ixn_ixn: every queued interaction (claimed and uncommitted ones included),
     * by order key, and the counts per state (ENDED unused). */
    ixn_ixn *head, *tail;
    size_t count[5];
    /* Owned by ixn_route, set by ixn_route_queue_setup: the target (never NULL; owned by
     * the configuration, or the router's built-in "any"), the [queue-options]. */
    const target *target;
    uint32_t default_priority;
    uint32_t aging_s;     /* 0: no aging */
    int select_skill;     /* -1: idle longest; else the skill id whose highest level wins */
    size_t qs_base;       /* the bit of its step 0 in the pool's agent bitsets */
    ixn_bucket **buckets; /* highest priority first */
    size_t nbuckets;
    bool draining; /* removed from the configuration: serves what it holds, takes nothing */
} ixn_queue;

/** The agents of one tenant that may take one media, and that tenant's queues of it. */
typedef struct ixn_pool {
    char *tenant;
    int media;
    /* Owned by ixn_ixn: every agent with the media added, from the one offered it longest
     * ago (or logged in earliest, when never offered) to the latest. */
    ixn_agent *head, *tail;
    ixn_queue **queues;
    size_t nqueues;
    size_t asking; /* reservations asked for this pool and not answered yet */
    bool dirty;    /* something changed: routing should look at this pool */
    struct ixn_pool *dirty_next;
    /* Owned by ixn_route: the layout of the agents' bitsets (one bit per queue and target
     * step), the agents that may take an offer now (every one that got a status with room,
     * in no particular order; checked again before use) and the same agents by step class:
     * the queue steps with the same expression form one class (every "any" step is one),
     * and each class holds the eligible agents that match it in a heap by idle order. */
    size_t nqs;
    size_t words;
    uint32_t *qs_class; /* per queue step: its class */
    struct ixn_eclass *eclass;
    size_t nclass;
    ixn_agent *e_head, *e_tail;
    size_t e_count;
} ixn_pool;

/** Called when interactions of pool moved to a wider target step: routing should look. */
typedef void ixn_route_widened_fn(void *ctx, ixn_pool *pool);

/** Decision times kept for the benchmark: a histogram of nanoseconds with four buckets per
 * power of two (each within 19 % of the next), up to about 17 s. */
#define IXN_ROUTE_HIST (4 * 34)

/** The decision time of issue 10's target (20 µs at p99): decisions slower than this are
 * counted exactly, as the histogram's bucket around it (16,384 to 20,479 ns) cannot say on
 * which side of it a p99 falls. */
#define IXN_ROUTE_SLOW_NS 20000

/** The router: the widening timer and what it needs. */
typedef struct ixn_router {
    ixn_steplist **heap; /* lists with a next step, by when their head widens */
    size_t nheap, capheap;
    uv_timer_t timer;
    int64_t due_us; /* wall clock the timer is armed for; 0 = not armed */
    ixn_route_widened_fn *widened;
    void *ctx;
    target *any; /* the target of a queue without one */
    bool closed;
    /* Set with a store whose commits run in flight (PostgreSQL): a search whose first
     * interaction in routing order waits for its commit offers nothing until that commit,
     * instead of a later one, since such waits span turns there. */
    bool wait_uncommitted;
    /* Agents that stopped being eligible leave the lists when a decision meets them; the
     * decisions of one routing pass drop at most this many (ixn_route_pass_begin), so
     * that a run of them (the agents that went not ready one after the other, at the top
     * of the idle order) is dropped over several loop turns instead of in one. */
    size_t stale_left;
    bool stale_out; /* a decision of this pass stopped at the budget */
    /* counters */
    uint64_t stale_dropped;
    uint64_t stale_budget_hits;
    uint64_t widenings;
    uint64_t decisions;
    uint64_t decisions_slow; /* slower than IXN_ROUTE_SLOW_NS */
    uint64_t decision_hist[IXN_ROUTE_HIST];
} ixn_router;

/** Starts a router on loop; widened is called from its timer. */
void ixn_route_init(ixn_router *r, uv_loop_t *loop, ixn_route_widened_fn *widened, void *ctx);

/** Stops the timer and frees the heap (the handle is closed; run the loop to free it). */
void ixn_route_close(ixn_router *r);

/** Frees what the router holds after ixn_route_close (the built-in target). */
void ixn_route_free(ixn_router *r);

/** Sets a queue's target (NULL: "any") and options (NULL: none). Interactions already
 * indexed are re-indexed at the step the new target gives them. */
void ixn_route_queue_setup(ixn_router *r, ixn_queue *q, const target *t,
                           const target_queue_options *opt);

/** Frees the routing part of a queue (its buckets; they must be empty). */
void ixn_route_queue_free(ixn_queue *q);

/** Lays out the pool's agent bitsets after its queue list or a target changed; every
 * agent of the pool must then be joined again (ixn_route_agent_join). */
void ixn_route_pool_layout(ixn_pool *p);

/** Frees the routing part of a pool. */
void ixn_route_pool_free(ixn_pool *p);

/** The agent is in pool p (a->pool[p->media] == p): computes which of its queue steps the
 * agent's skills match. Called again when skills or targets change. */
void ixn_route_agent_join(ixn_pool *p, ixn_agent *a);

/** The agent leaves pool p: out of its eligible list, bitset freed. */
void ixn_route_agent_leave(ixn_pool *p, ixn_agent *a);

/** Whether agent a matches step of q's target (its bitset when it is in q's pool). */
bool ixn_route_matches(const ixn_queue *q, size_t step, const ixn_agent *a);

/** The agent can take an offer of media m now, on this server's view alone. */
bool ixn_route_can_offer(const ixn_agent *a, int m);

/** Worth asking a reservation for media m (protocol 7a): see ixn_route.c. */
bool ixn_route_eligible(const ixn_agent *a, int m);

/** Something made a possibly eligible (a status, an ended reservation): it joins the
 * eligible list of each of its pools where it is eligible. Returns a mask of the media
 * whose pool it joined. */
cc_media_mask ixn_route_agent_ready(ixn_agent *a);

/** x entered the Queued state in x->queue (submit, back to the queue, transfer, undo,
 * load): it is indexed at the step its waiting time gives. */
void ixn_route_add(ixn_router *r, ixn_ixn *x);

/** x leaves the Queued state: out of the index; a claim on it ends (the agent keeps its
 * reservation, which finds another interaction or is released). */
void ixn_route_remove(ixn_router *r, ixn_ixn *x);

/** Routing asks a reservation of a for x: x leaves the index until the answer. */
void ixn_route_claim(ixn_router *r, ixn_ixn *x, ixn_agent *a);

/** The claim of a (if any) ends: its interaction, still queued, is indexed again.
 * Returns the interaction it was for, NULL when none. */
ixn_ixn *ixn_route_unclaim(ixn_router *r, ixn_agent *a);

/** Drops agents that are no longer eligible from p's eligible list: a walk of the whole
 * list. Routing does not need it (ixn_route_next drops those it meets). */
void ixn_route_prepare(ixn_pool *p);

/** Starts a routing pass: its decisions drop at most stale_budget agents that stopped
 * being eligible (see ixn_router.stale_left). */
void ixn_route_pass_begin(ixn_router *r, size_t stale_budget);

/** Whether a decision of the current pass stopped at its budget of stale agents: the
 * pool may have more offers, for the next pass. */
bool ixn_route_pass_out(const ixn_router *r);

/**
 * The next offer of pool p in the order of routing.md section 4: the first indexed,
 * committed interaction (highest effective priority, then waiting longest) that an agent
 * of the eligible list matches at its current step, and among those agents the one the
 * queue's select rule picks. The agent leaves the eligible list. Returns false when no
 * such pair exists, or when the pass's budget of stale agents ran out before one was
 * found (ixn_route_pass_out).
 */
bool ixn_route_next(ixn_router *r, ixn_pool *p, ixn_ixn **x, ixn_agent **a);

/** The first indexed, committed interaction of p in routing order that a matches at its
 * current step, or NULL (a grant whose claimed interaction went away). */
ixn_ixn *ixn_route_best_for(ixn_pool *p, const ixn_agent *a);

/** The decision time in nanoseconds below which a share q (0..1) of the decisions took
 * (the upper edge of the histogram bucket holding that share); 0 before any. */
uint64_t ixn_route_decision_quantile(const ixn_router *r, double q);

/** x's current target step (0-based) and the milliseconds until the next one (0 on the
 * last). */
size_t ixn_route_step(const ixn_ixn *x, int64_t now_us, uint64_t *next_ms);

/** Effective priority of x now: priority + floor(seconds waited / aging). */
uint64_t ixn_route_effective_priority(const ixn_ixn *x, int64_t now_us);

#endif

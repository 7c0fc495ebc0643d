/* Unit tests of src/ixn/ixn_route: the budget of stale agents per routing pass. Agents
 * that stopped being eligible stay in the pool's lists until a decision meets them; a
 * pass drops at most its budget of them and says so, and the next passes go on from
 * there, so that a long run of them costs several short loop turns instead of one long
 * one, and the decision reached at the end is the same as without a budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ixn/ixn_route.h"

#define AGENTS 600
#define STALE 500

typedef struct fixture {
    uv_loop_t loop;
    ixn_router router;
    ixn_pool pool;
    ixn_queue queue;
    ixn_queue *queues[1];
    ixn_client client;
    ixn_agent agents[AGENTS];
    ixn_ixn ixn;
} fixture;

static void on_widened(void *ctx, ixn_pool *pool)
{
    (void)ctx;
    (void)pool;
}

/* A pool of AGENTS agents on media 0, all eligible, the first logged in longest ago (so
 * first in idle order), and one queued interaction. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    ixn_route_init(&f->router, &f->loop, on_widened, NULL);
    f->pool.tenant = "T";
    f->pool.media = 0;
    f->queue.tenant = "T";
    f->queue.name = "q";
    f->queue.media = 0;
    f->queue.pool = &f->pool;
    f->queues[0] = &f->queue;
    f->pool.queues = f->queues;
    f->pool.nqueues = 1;
    ixn_route_queue_setup(&f->router, &f->queue, NULL, NULL);
    ixn_route_pool_layout(&f->pool);
    /* Any non-NULL session will do: routing only tests that the desktop is there. */
    f->client.session = (cc_session *)&f->client;
    for (int i = 0; i < AGENTS; i++) {
        ixn_agent *a = &f->agents[i];
        a->client = &f->client;
        a->added = 1;
        a->ready = 1;
        a->has_status = true;
        a->status_from = &f->client;
        a->version = a->status_version = 1;
        a->available[0] = 1;
        a->login_seq = (uint64_t)i + 1;
        a->pool[0] = &f->pool;
        ixn_route_agent_join(&f->pool, a);
    }
    assert_int_equal(f->pool.e_count, AGENTS);
    f->ixn.queue = &f->queue;
    f->ixn.media = 0;
    f->ixn.state = CC_IXN_QUEUED;
    f->ixn.order = 1;
    /* ixn_ixn keeps the queue's counts; routing reads them. */
    f->queue.count[CC_IXN_QUEUED] = 1;
    ixn_route_add(&f->router, &f->ixn);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < AGENTS; i++)
        ixn_route_agent_leave(&f->pool, &f->agents[i]);
    ixn_route_remove(&f->router, &f->ixn);
    ixn_route_close(&f->router);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    ixn_route_queue_free(&f->queue);
    ixn_route_pool_free(&f->pool);
    ixn_route_free(&f->router);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

/* The first STALE agents in idle order go not ready: still in the lists, stale. */
static void make_stale(fixture *f)
{
    for (int i = 0; i < STALE; i++)
        f->agents[i].ready = 0;
}

static void test_stale_dropped_over_passes(void **state)
{
    fixture *f = *state;
    make_stale(f);
    ixn_ixn *x = NULL;
    ixn_agent *a = NULL;
    /* First pass: 256 stale agents dropped, then the budget is out and nothing offered. */
    ixn_route_pass_begin(&f->router, 256);
    assert_false(ixn_route_next(&f->router, &f->pool, &x, &a));
    assert_true(ixn_route_pass_out(&f->router));
    assert_int_equal(f->router.stale_dropped, 256);
    assert_int_equal(f->router.stale_budget_hits, 1);
    assert_int_equal(f->pool.e_count, AGENTS - 256);
    /* The interaction is still there for the next pass. */
    assert_null(f->ixn.claimed_by);
    /* Second pass: the other 244 dropped, and the longest idle eligible agent found. */
    ixn_route_pass_begin(&f->router, 256);
    assert_true(ixn_route_next(&f->router, &f->pool, &x, &a));
    assert_false(ixn_route_pass_out(&f->router));
    assert_ptr_equal(x, &f->ixn);
    assert_ptr_equal(a, &f->agents[STALE]);
    assert_int_equal(f->router.stale_dropped, STALE);
    /* The agent picked leaves the list too. */
    assert_int_equal(f->pool.e_count, AGENTS - STALE - 1);
}

static void test_no_budget_same_pick(void **state)
{
    fixture *f = *state;
    make_stale(f);
    ixn_ixn *x = NULL;
    ixn_agent *a = NULL;
    /* Without a pass (as before the budget): one decision drops them all. */
    assert_true(ixn_route_next(&f->router, &f->pool, &x, &a));
    assert_false(ixn_route_pass_out(&f->router));
    assert_ptr_equal(a, &f->agents[STALE]);
    assert_int_equal(f->router.stale_dropped, STALE);
    assert_int_equal(f->router.stale_budget_hits, 0);
}

static void test_budget_only_counts_stale(void **state)
{
    fixture *f = *state;
    ixn_ixn *x = NULL;
    ixn_agent *a = NULL;
    /* Nothing stale: a budget of 0 does not stop a decision. */
    ixn_route_pass_begin(&f->router, 0);
    assert_true(ixn_route_next(&f->router, &f->pool, &x, &a));
    assert_false(ixn_route_pass_out(&f->router));
    assert_ptr_equal(a, &f->agents[0]);
    assert_int_equal(f->router.stale_dropped, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stale_dropped_over_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_budget_same_pick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_only_counts_stale, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

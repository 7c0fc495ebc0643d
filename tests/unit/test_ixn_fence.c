/* Unit tests of ixn_fence: sessions that never declare a mode are all taken (a single
 * statserver, or several, as before pairs existed); a primary with a higher epoch fences
 * the others and they are reported lost once; a standby is never taken; when the highest
 * primary leaves, the next highest is taken again; a stale primary that comes back with its
 * old epoch stays fenced; pairs of different partitions (groups) never fence each other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ixn/ixn_fence.h"

/* Records which members were reported lost, in order. */
typedef struct lost_log {
    ixn_fence_member *who[8];
    int n;
} lost_log;

static void on_lost(void *ctx, ixn_fence_member *m)
{
    lost_log *l = ctx;
    assert_true(l->n < 8);
    /* The verdicts are final when the callback runs. */
    assert_false(ixn_fence_takes(m));
    l->who[l->n++] = m;
}

static void test_default_sessions_all_taken(void **state)
{
    (void)state;
    ixn_fence f;
    ixn_fence_init(&f);
    ixn_fence_member a = {0}, b = {0};
    assert_false(ixn_fence_takes(&a));
    ixn_fence_join(&f, &a);
    ixn_fence_join(&f, &b);
    assert_true(ixn_fence_takes(&a));
    assert_true(ixn_fence_takes(&b));
    assert_int_equal(f.top, 0);
    ixn_fence_leave(&f, &a);
    assert_false(ixn_fence_takes(&a));
    assert_true(ixn_fence_takes(&b));
    ixn_fence_leave(&f, &b);
    assert_int_equal(f.top, -1);
    assert_int_equal(f.changes, 0);
}

static void test_higher_epoch_fences_the_rest(void **state)
{
    (void)state;
    ixn_fence f;
    ixn_fence_init(&f);
    ixn_fence_member old = {0}, standby = {0};
    lost_log log = {0};
    ixn_fence_join(&f, &old);
    ixn_fence_join(&f, &standby);
    ixn_fence_set_mode(&f, &old, true, 3, on_lost, &log);
    /* The other session never declared: primary at epoch 0, now below the top. */
    assert_int_equal(log.n, 1);
    assert_ptr_equal(log.who[0], &standby);
    ixn_fence_set_mode(&f, &standby, false, 0, on_lost, &log);
    assert_int_equal(log.n, 1);
    assert_true(ixn_fence_takes(&old));
    assert_false(ixn_fence_takes(&standby));
    /* The standby wins the lease: the old primary is fenced and reported once. */
    ixn_fence_set_mode(&f, &standby, true, 7, on_lost, &log);
    assert_int_equal(log.n, 2);
    assert_ptr_equal(log.who[1], &old);
    assert_false(ixn_fence_takes(&old));
    assert_true(ixn_fence_takes(&standby));
    assert_int_equal(f.top, 7);
    /* The stale primary resumes and declares its old epoch again: still fenced, and
     * nothing new is lost. */
    ixn_fence_set_mode(&f, &old, true, 3, on_lost, &log);
    assert_int_equal(log.n, 2);
    assert_false(ixn_fence_takes(&old));
    /* It then learns it lost the lease. */
    ixn_fence_set_mode(&f, &old, false, 3, on_lost, &log);
    assert_false(ixn_fence_takes(&old));
    assert_true(ixn_fence_takes(&standby));
    assert_int_equal(log.n, 2);
}

static void test_leader_leaves(void **state)
{
    (void)state;
    ixn_fence f;
    ixn_fence_init(&f);
    ixn_fence_member a = {0}, b = {0};
    lost_log log = {0};
    ixn_fence_join(&f, &a);
    ixn_fence_join(&f, &b);
    ixn_fence_set_mode(&f, &a, true, 5, on_lost, &log);
    ixn_fence_set_mode(&f, &b, false, 0, on_lost, &log);
    /* The primary dies: nobody is taken until the standby declares itself primary. */
    ixn_fence_leave(&f, &a);
    assert_int_equal(f.top, -1);
    assert_false(ixn_fence_takes(&b));
    ixn_fence_set_mode(&f, &b, true, 9, on_lost, &log);
    assert_true(ixn_fence_takes(&b));
    /* A primary that steps down with no successor leaves nobody taken. */
    ixn_fence_set_mode(&f, &b, false, 9, on_lost, &log);
    assert_false(ixn_fence_takes(&b));
    assert_ptr_equal(log.who[log.n - 1], &b);
}

static void test_equal_epochs_both_taken(void **state)
{
    (void)state;
    ixn_fence f;
    ixn_fence_init(&f);
    ixn_fence_member a = {0}, b = {0}, c = {0};
    lost_log log = {0};
    ixn_fence_join(&f, &a);
    ixn_fence_set_mode(&f, &a, true, 4, on_lost, &log);
    /* A primary reconnecting on a second session keeps its epoch: both are taken. */
    ixn_fence_set_mode(&f, &b, true, 4, on_lost, &log);
    assert_true(ixn_fence_takes(&a));
    assert_true(ixn_fence_takes(&b));
    /* A session joining late with the default mode is below the top from the start and
     * is not reported as lost. */
    ixn_fence_join(&f, &c);
    assert_false(ixn_fence_takes(&c));
    assert_int_equal(log.n, 0);
    ixn_fence_leave(&f, &a);
    ixn_fence_leave(&f, &b);
    /* With the pair gone, the one left is the highest primary again. */
    assert_true(ixn_fence_takes(&c));
    ixn_fence_leave(&f, &c);
    ixn_fence_leave(&f, &c);
}

/* Two partitions, each a pair with its own epochs: each group's highest primary is taken,
 * whatever the other group's epochs are, and a failover in one fences nobody in the other. */
static void test_groups_judged_apart(void **state)
{
    (void)state;
    ixn_fence f;
    ixn_fence_init(&f);
    ixn_fence_member p0 = {0}, s0 = {0}, p1 = {0}, s1 = {0};
    lost_log log = {0};
    ixn_fence_member *all[] = {&p0, &s0, &p1, &s1};
    for (int i = 0; i < 4; i++)
        ixn_fence_join(&f, all[i]);
    ixn_fence_set_group(&f, &p0, "0/2", on_lost, &log);
    ixn_fence_set_group(&f, &s0, "0/2", on_lost, &log);
    ixn_fence_set_group(&f, &p1, "1/2", on_lost, &log);
    ixn_fence_set_group(&f, &s1, "1/2", on_lost, &log);
    ixn_fence_set_mode(&f, &p0, true, 40, on_lost, &log);
    ixn_fence_set_mode(&f, &s0, false, 0, on_lost, &log);
    ixn_fence_set_mode(&f, &p1, true, 3, on_lost, &log);
    ixn_fence_set_mode(&f, &s1, false, 0, on_lost, &log);
    /* The lower epoch of partition 1 does not matter: it is that group's highest. */
    assert_true(ixn_fence_takes(&p0));
    assert_true(ixn_fence_takes(&p1));
    assert_false(ixn_fence_takes(&s0));
    assert_false(ixn_fence_takes(&s1));
    assert_int_equal(p0.top, 40);
    assert_int_equal(p1.top, 3);
    assert_int_equal(f.top, 40);
    /* s0 and s1 were reported lost when their groups' primaries declared themselves. */
    int before = log.n;
    /* Failover in partition 1: only p1 is lost. */
    ixn_fence_set_mode(&f, &s1, true, 5, on_lost, &log);
    assert_int_equal(log.n, before + 1);
    assert_ptr_equal(log.who[log.n - 1], &p1);
    assert_true(ixn_fence_takes(&p0));
    assert_true(ixn_fence_takes(&s1));
    /* The whole of partition 0 goes: partition 1 keeps its standing. */
    ixn_fence_leave(&f, &p0);
    ixn_fence_leave(&f, &s0);
    assert_true(ixn_fence_takes(&s1));
    assert_int_equal(f.top, 5);
    /* A session of no group (every agent) is judged with the other sessions of no group
     * only. */
    ixn_fence_member lone = {0};
    ixn_fence_join(&f, &lone);
    assert_true(ixn_fence_takes(&lone));
    assert_true(ixn_fence_takes(&s1));
    /* Moving to partition 1's group puts it below that group's top. */
    ixn_fence_set_group(&f, &lone, "1/2", on_lost, &log);
    assert_false(ixn_fence_takes(&lone));
    assert_ptr_equal(log.who[log.n - 1], &lone);
    ixn_fence_leave(&f, &lone);
    ixn_fence_leave(&f, &p1);
    ixn_fence_leave(&f, &s1);
    assert_int_equal(f.top, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_sessions_all_taken),
        cmocka_unit_test(test_higher_epoch_fences_the_rest),
        cmocka_unit_test(test_leader_leaves),
        cmocka_unit_test(test_equal_epochs_both_taken),
        cmocka_unit_test(test_groups_judged_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

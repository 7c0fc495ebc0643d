/* Unit tests of ixn_throttle: the free failures and the first delayed attempt, the
 * doubling and its cap, the lockout at exactly its count and after it, attempts in flight
 * counted like failures (and queued behind each other), forgetting, success, and the
 * table's cap. Time is passed in, in microseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "ixn/ixn_throttle.h"

#define MS 1000u
#define S 1000000u

static const ixn_throttle_rule rule = {
    .free_failures = 3,
    .lockout_failures = 8,
    .delay_us = 500 * MS,
    .delay_max_us = 4 * S,
    .lockout_us = 60 * S,
    .forget_us = 120 * S,
    .max_entries = 4,
    .count_in_flight = true,
};

/* One whole attempt at now: check, begin, end with outcome. Returns the check's result
 * and the delay it asked for in *delay. */
static int attempt(ixn_throttle *t, const char *key, uint64_t now, enum ixn_throttle_outcome o,
                   uint64_t *delay)
{
    uint64_t start;
    int rc = ixn_throttle_check(t, key, strlen(key), now, &start);
    if (rc)
        return rc;
    *delay = start - now;
    ixn_throttle_begin(t, key, strlen(key), now, start);
    ixn_throttle_end(t, key, strlen(key), start, o);
    return 0;
}

static void test_delays_and_lockout(void **state)
{
    (void)state;
    ixn_throttle t;
    ixn_throttle_init(&t, &rule);
    uint64_t now = 10 * S, d;
    /* Three failures are free; the fourth attempt (after three failures) waits 0.5 s. */
    static const uint64_t want[] = {0, 0, 0, 500 * MS, 1 * S, 2 * S, 4 * S, 4 * S};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(attempt(&t, "R/1001", now, IXN_THROTTLE_FAILED, &d), 0);
        assert_int_equal(d, want[i]);
        now += d + 1;
    }
    assert_int_equal(ixn_throttle_failures(&t, "R/1001", 6, now), 8);
    assert_int_equal(t.stats.lockouts, 1);
    /* Eight failures lock: the ninth attempt is refused, until the lockout is over. */
    uint64_t start;
    assert_int_equal(ixn_throttle_check(&t, "R/1001", 6, now, &start), CC_E_LIMIT_EXCEEDED);
    assert_int_equal(ixn_throttle_check(&t, "R/1001", 6, now + 59 * S, &start),
                     CC_E_LIMIT_EXCEEDED);
    /* Another key is not concerned. */
    assert_int_equal(ixn_throttle_check(&t, "R/1002", 6, now, &start), 0);
    assert_int_equal(start, now);
    /* After the lockout the next attempt waits the cap, and one more failure locks again. */
    now += 61 * S;
    assert_int_equal(attempt(&t, "R/1001", now, IXN_THROTTLE_FAILED, &d), 0);
    assert_int_equal(d, 4 * S);
    now += d + 1;
    assert_int_equal(t.stats.lockouts, 2);
    assert_int_equal(ixn_throttle_check(&t, "R/1001", 6, now, &start), CC_E_LIMIT_EXCEEDED);
    ixn_throttle_free(&t);
}

static void test_success_forgets(void **state)
{
    (void)state;
    ixn_throttle t;
    ixn_throttle_init(&t, &rule);
    uint64_t now = S, d;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(attempt(&t, "a", now, IXN_THROTTLE_FAILED, &d), 0);
        now += d;
    }
    assert_int_equal(attempt(&t, "a", now, IXN_THROTTLE_SUCCEEDED, &d), 0);
    assert_int_equal(d, 1 * S); /* the fifth attempt still waited */
    assert_int_equal(ixn_throttle_count(&t), 0);
    assert_int_equal(attempt(&t, "a", now, IXN_THROTTLE_FAILED, &d), 0);
    assert_int_equal(d, 0);
    /* An attempt not judged changes no count. */
    assert_int_equal(attempt(&t, "a", now, IXN_THROTTLE_NONE, &d), 0);
    assert_int_equal(ixn_throttle_failures(&t, "a", 1, now), 1);
    ixn_throttle_free(&t);
}

static void test_in_flight(void **state)
{
    (void)state;
    ixn_throttle t;
    ixn_throttle_init(&t, &rule);
    uint64_t now = S, start;
    /* Ten attempts begin at once: three free, then each queued behind the one before,
     * and the attempts from the eighth on are refused while seven are in flight. */
    static const uint64_t want[] = {0, 0, 0, 500 * MS, 1500 * MS, 3500 * MS, 7500 * MS, 11500 * MS};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(ixn_throttle_check(&t, "x", 1, now, &start), 0);
        assert_int_equal(start - now, want[i]);
        ixn_throttle_begin(&t, "x", 1, now, start);
    }
    assert_int_equal(ixn_throttle_check(&t, "x", 1, now, &start), CC_E_LIMIT_EXCEEDED);
    /* All fail: the eighth failure locks the key once. */
    int locked = 0;
    for (int i = 0; i < 8; i++)
        locked += ixn_throttle_end(&t, "x", 1, now + want[i], IXN_THROTTLE_FAILED);
    assert_int_equal(locked, 1);
    assert_int_equal(ixn_throttle_failures(&t, "x", 1, now + 12 * S), 8);
    ixn_throttle_free(&t);
}

static void test_forget(void **state)
{
    (void)state;
    ixn_throttle t;
    ixn_throttle_init(&t, &rule);
    uint64_t now = S, d;
    for (int i = 0; i < 3; i++)
        assert_int_equal(attempt(&t, "a", now, IXN_THROTTLE_FAILED, &d), 0);
    assert_int_equal(ixn_throttle_failures(&t, "a", 1, now + 120 * S - 1), 3);
    assert_int_equal(ixn_throttle_failures(&t, "a", 1, now + 120 * S), 0);
    assert_int_equal(ixn_throttle_count(&t), 0);
    ixn_throttle_free(&t);
}

static void test_cap(void **state)
{
    (void)state;
    ixn_throttle t;
    ixn_throttle_init(&t, &rule);
    uint64_t now = S, d;
    const char *keys[] = {"k1", "k2", "k3", "k4", "k5"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(attempt(&t, keys[i], now + (uint64_t)i, IXN_THROTTLE_FAILED, &d), 0);
    assert_int_equal(ixn_throttle_count(&t), 4);
    assert_int_equal(t.stats.evicted, 0);
    /* A fifth key drops the least recent one. */
    assert_int_equal(attempt(&t, keys[4], now + 10, IXN_THROTTLE_FAILED, &d), 0);
    assert_int_equal(ixn_throttle_count(&t), 4);
    assert_int_equal(t.stats.evicted, 1);
    assert_int_equal(ixn_throttle_failures(&t, "k1", 2, now + 10), 0);
    assert_int_equal(ixn_throttle_failures(&t, "k2", 2, now + 10), 1);
    ixn_throttle_free(&t);
}

static void test_no_lockout(void **state)
{
    (void)state;
    ixn_throttle_rule r = rule;
    r.lockout_failures = 0;
    r.delay_us = 0;
    ixn_throttle t;
    ixn_throttle_init(&t, &r);
    uint64_t d;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(attempt(&t, "a", S, IXN_THROTTLE_FAILED, &d), 0);
        assert_int_equal(d, 0);
    }
    ixn_throttle_free(&t);
}

/* A table that does not count attempts in flight (per address): a burst of logins from
 * one address is neither delayed nor locked by its own size, only by failures. */
static void test_in_flight_not_counted(void **state)
{
    (void)state;
    ixn_throttle t;
    ixn_throttle_rule r = rule;
    r.count_in_flight = false;
    ixn_throttle_init(&t, &r);
    uint64_t start;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(ixn_throttle_check(&t, "10.0.0.1", 8, 0, &start), 0);
        assert_int_equal(start, 0);
        ixn_throttle_begin(&t, "10.0.0.1", 8, 0, start);
    }
    for (int i = 0; i < 100; i++)
        ixn_throttle_end(&t, "10.0.0.1", 8, 0, IXN_THROTTLE_SUCCEEDED);
    assert_int_equal(ixn_throttle_failures(&t, "10.0.0.1", 8, 0), 0);
    ixn_throttle_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_flight_not_counted),
        cmocka_unit_test(test_delays_and_lockout),
        cmocka_unit_test(test_success_forgets),
        cmocka_unit_test(test_in_flight),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_no_lockout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

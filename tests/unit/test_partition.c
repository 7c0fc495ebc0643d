/* Unit tests of src/common/partition: the FNV-1a 64 hash against known vectors, the
 * agent's hash and partition, and the "I/N" form of the configuration.
 *
 * The expected values were computed independently with Python:
 *
 *   def fnv1a64(b):
 *       h = 14695981039346656037
 *       for c in b:
 *           h = ((h ^ c) * 1099511628211) % 2**64
 *       return h
 *   fnv1a64(b"acme\0alice")  # 15520918238785965743, % 2 == 1, % 7 == 3
 *
 * The vectors of "", "a" and "foobar" are the published FNV-1a 64 test values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/partition.h"

static void test_fnv_vectors(void **state)
{
    (void)state;
    assert_true(cc_partition_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(cc_partition_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(cc_partition_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
}

static void test_agent_hash(void **state)
{
    (void)state;
    assert_true(cc_partition_hash("acme", "alice") == 15520918238785965743ULL);
    assert_true(cc_partition_hash("acme", "bob") == 13288066199969537292ULL);
    assert_true(cc_partition_hash("t1", "agent-0001") == 283623832602477793ULL);
    /* The worked examples of docs/protocol.md. */
    assert_true(cc_partition_hash("acme", "alice") == 0xd76560e7a2b80eafULL);
    assert_true(cc_partition_hash("Resources", "1001") == 18371872857529047284ULL);
    assert_true(cc_partition_hash("", "") == 12638153115695167455ULL);
    /* The NUL keeps ("a", "") apart from ("", "a"). */
    assert_true(cc_partition_hash("a", "") == 620337896427418084ULL);
    assert_true(cc_partition_hash("a", "") != cc_partition_hash("", "a"));
    assert_true(cc_partition_hash("acme", "alice") == cc_partition_fnv1a64("acme\0alice", 10));
}

static void test_partition_of(void **state)
{
    (void)state;
    assert_int_equal(cc_partition_of("acme", "alice", 2), 1);
    assert_int_equal(cc_partition_of("acme", "alice", 7), 3);
    assert_int_equal(cc_partition_of("acme", "bob", 2), 0);
    assert_int_equal(cc_partition_of("acme", "bob", 7), 1);
    assert_int_equal(cc_partition_of("t1", "agent-0001", 7), 6);
    assert_int_equal(cc_partition_of("acme", "alice", 1), 0);
    assert_int_equal(cc_partition_of("acme", "alice", 3), 2);
    assert_int_equal(cc_partition_of("acme", "alice", 4), 3);
    assert_int_equal(cc_partition_of("acme", "alice", 8), 7);
    assert_int_equal(cc_partition_of("Resources", "1001", 2), 0);
    assert_int_equal(cc_partition_of("Resources", "1001", 3), 2);
    assert_int_equal(cc_partition_of("Resources", "1001", 8), 4);
}

static void test_parse(void **state)
{
    (void)state;
    uint32_t i = 99, n = 99;
    assert_true(cc_partition_parse("0/1", &i, &n));
    assert_int_equal(i, 0);
    assert_int_equal(n, 1);
    assert_true(cc_partition_parse("3/4", &i, &n));
    assert_int_equal(i, 3);
    assert_int_equal(n, 4);
    assert_true(cc_partition_parse("4095/4096", &i, &n));
    assert_int_equal(n, 4096);
    const char *bad[] = {"",     "1",    "/2",   "1/",   "2/2",    "0/0",
                         "-1/2", "1/-2", " 0/2", "0/2 ", "0/4097", "0/99999999999",
                         "a/b",  "0//2", "+0/2", "0/2/3"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        i = n = 77;
        assert_false(cc_partition_parse(bad[k], &i, &n));
        assert_int_equal(i, 77);
        assert_int_equal(n, 77);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv_vectors),
        cmocka_unit_test(test_agent_hash),
        cmocka_unit_test(test_partition_of),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

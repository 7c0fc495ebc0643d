/* Unit tests of the status bucket's keys (src/proto/statkey.c, docs/ha.md "Status stream
 * on NATS"): the escaping of every byte outside the KV alphabet and of `_` and `.`, the
 * empty part, the boundary that keeps distinct agents apart, the round trip over every
 * byte, and the refusal of keys the statserver never writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "proto/statkey.h"

static const char *key(const char *tenant, const char *agent)
{
    static char buf[PROTO_STATKEY_MAX];
    size_t n = proto_statkey_make(buf, sizeof buf, tenant, agent);
    assert_int_equal(n, strlen(buf));
    return buf;
}

static void test_make(void **state)
{
    (void)state;
    assert_string_equal(key("Resources", "1001"), "Resources.1001");
    assert_string_equal(key("a-b/c=d", "x"), "a-b/c=d.x");
    /* `_` and `.` are escaped, so the one dot left is the boundary. */
    assert_string_equal(key("a_b", "c"), "a_5Fb.c");
    assert_string_equal(key("a.b", "c"), "a_2Eb.c");
    assert_string_equal(key("a", "b.c"), "a.b_2Ec");
    /* Bytes outside the alphabet: wildcards, space, @, non-ASCII, upper-case hex. */
    assert_string_equal(key("t", "*>"), "t._2A_3E");
    assert_string_equal(key("t", "j doe@x"), "t.j_20doe_40x");
    assert_string_equal(key("t", "\xc3\xa9"), "t._C3_A9");
    assert_string_equal(key("", "a"), "_.a");
    assert_string_equal(key("a", ""), "a._");
    /* Pairs that a plain join would confuse get distinct keys. */
    char k1[PROTO_STATKEY_MAX], k2[PROTO_STATKEY_MAX];
    proto_statkey_make(k1, sizeof k1, "a.b", "c");
    proto_statkey_make(k2, sizeof k2, "a", "b.c");
    assert_string_not_equal(k1, k2);
    proto_statkey_make(k1, sizeof k1, "a_2E", "b");
    proto_statkey_make(k2, sizeof k2, "a.", "b");
    assert_string_not_equal(k1, k2);
}

static void test_too_small(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(proto_statkey_make(buf, sizeof buf, "abc", "def"), 7);
    assert_int_equal(proto_statkey_make(buf, sizeof buf, "abc", "defg"), 0);
    assert_string_equal(buf, "");
    assert_int_equal(proto_statkey_make(buf, sizeof buf, "a", "b__c"), 0);
    assert_int_equal(proto_statkey_make(buf, 0, "a", "b"), 0);
    /* The largest identifiers, every byte escaped, fit PROTO_STATKEY_MAX. */
    char id[PROTO_ID_MAX + 1];
    memset(id, '_', PROTO_ID_MAX);
    id[PROTO_ID_MAX] = '\0';
    char big[PROTO_STATKEY_MAX];
    assert_int_equal(proto_statkey_make(big, sizeof big, id, id), PROTO_STATKEY_MAX - 1);
}

static void round_trip(const char *tenant, const char *agent)
{
    char k[PROTO_STATKEY_MAX], t[PROTO_ID_MAX + 1], a[PROTO_ID_MAX + 1];
    size_t n = proto_statkey_make(k, sizeof k, tenant, agent);
    assert_true(n > 0);
    assert_true(proto_statkey_parse(k, n, t, sizeof t, a, sizeof a));
    assert_string_equal(t, tenant);
    assert_string_equal(a, agent);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip("Resources", "1001");
    round_trip("", "");
    round_trip("a.b", "_");
    char all[256];
    for (int c = 1; c < 256; c++)
        all[c - 1] = (char)c;
    all[255] = '\0';
    /* Bytes 128..255 in one part, 1..127 in the other, both ways round. */
    char low[128];
    memcpy(low, all, 127);
    low[127] = '\0';
    round_trip(all + 127, low);
    round_trip(low, all + 127);
}

static bool parses(const char *k)
{
    char t[PROTO_ID_MAX + 1], a[PROTO_ID_MAX + 1];
    return proto_statkey_parse(k, strlen(k), t, sizeof t, a, sizeof a);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    assert_true(parses("a.b"));
    assert_false(parses("ab"));    /* no boundary */
    assert_false(parses("a.b.c")); /* two */
    assert_false(parses(".b"));    /* an empty part is `_` */
    assert_false(parses("a."));
    assert_false(parses("a_2e.b")); /* lower-case hex */
    assert_false(parses("a_41.b")); /* `A` needs no escape */
    assert_false(parses("a_00.b")); /* NUL */
    assert_false(parses("a_4.b"));  /* short escape */
    assert_false(parses("a_.b"));
    assert_false(parses("a b.c")); /* a byte outside the alphabet */
    assert_false(parses("a*.c"));
    assert_true(parses("a_5F_2E.b"));
    char t[4], a[4];
    assert_false(proto_statkey_parse("abcd.e", 6, t, sizeof t, a, sizeof a));
    assert_true(proto_statkey_parse("abc.e", 5, t, sizeof t, a, sizeof a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

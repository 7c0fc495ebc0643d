/* Unit tests of src/common: allocation wrappers, the error table and its wire names,
 * growable and shared buffers, the string map and media name interning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/map.h"
#include "common/media.h"

static void test_alloc(void **state)
{
    (void)state;
    /* Size 0 must still give a pointer that free accepts. */
    void *p = xmalloc(0);
    assert_non_null(p);
    free(p);

    int *z = xcalloc(16, sizeof *z);
    for (int i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    z = xrealloc(z, 1024 * sizeof *z);
    assert_int_equal(z[15], 0);
    free(z);

    char *s = xstrdup("hello");
    assert_string_equal(s, "hello");
    free(s);
    s = xstrndup("hello", 3);
    assert_string_equal(s, "hel");
    free(s);
    /* n beyond the string's end copies only up to its NUL. */
    s = xstrndup("hi", 10);
    assert_string_equal(s, "hi");
    free(s);
}

static void test_err_table(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *name;
    } wire[] = {
        {CC_E_INVALID_MESSAGE, "InvalidMessage"},
        {CC_E_UNKNOWN_MESSAGE, "UnknownMessage"},
        {CC_E_INVALID_ATTRIBUTE, "InvalidAttribute"},
        {CC_E_NOT_REGISTERED, "NotRegistered"},
        {CC_E_NOT_AUTHORIZED, "NotAuthorized"},
        {CC_E_AGENT_NOT_LOGGED_IN, "AgentNotLoggedIn"},
        {CC_E_AGENT_ALREADY_LOGGED_IN, "AgentAlreadyLoggedIn"},
        {CC_E_UNKNOWN_MEDIA, "UnknownMedia"},
        {CC_E_UNKNOWN_INTERACTION, "UnknownInteraction"},
        {CC_E_INVALID_STATE, "InvalidState"},
        {CC_E_MESSAGE_TOO_LARGE, "MessageTooLarge"},
        {CC_E_LIMIT_EXCEEDED, "LimitExceeded"},
        {CC_E_ALREADY_REGISTERED, "AlreadyRegistered"},
        {CC_E_UNAVAILABLE, "Unavailable"},
    };
    /* The wire codes are 1..14 in the protocol's order. */
    for (size_t i = 0; i < sizeof wire / sizeof wire[0]; i++) {
        assert_int_equal(wire[i].code, -(int)(i + 1));
        assert_int_equal(cc_err_wire_code(wire[i].code), (int)(i + 1));
        assert_string_equal(cc_err_name(wire[i].code), wire[i].name);
        assert_string_equal(cc_err_wire_name(wire[i].code), wire[i].name);
    }
    /* Internal codes keep their own names but travel as Unavailable. */
    static const int internal[] = {CC_E_IO, CC_E_PARSE, CC_E_CONFIG, CC_E_NOT_FOUND, CC_E_CLOSED};
    static const char *const internal_names[] = {"IoError", "ParseError", "ConfigError", "NotFound",
                                                 "Closed"};
    for (size_t i = 0; i < 5; i++) {
        assert_true(internal[i] <= -9001);
        assert_string_equal(cc_err_name(internal[i]), internal_names[i]);
        assert_int_equal(cc_err_wire_code(internal[i]), 14);
        assert_string_equal(cc_err_wire_name(internal[i]), "Unavailable");
    }
    /* Codes outside the table. */
    assert_string_equal(cc_err_name(0), "Unknown");
    assert_string_equal(cc_err_name(-15), "Unknown");
    assert_string_equal(cc_err_name(7), "Unknown");
    assert_int_equal(cc_err_wire_code(-15), 14);
    assert_int_equal(cc_err_wire_code(0), 14);
}

static void test_buf(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    /* Operations on an empty, never-allocated buffer are safe. */
    cc_buf_reset(&b);
    cc_buf_consume(&b, 0);
    cc_buf_append(&b, "", 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");

    cc_buf_puts(&b, "abc");
    cc_buf_putc(&b, 'd');
    cc_buf_append(&b, "ef\0gh", 5);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "abcdef\0gh", 9);
    assert_int_equal(b.data[9], '\0');

    cc_buf_consume(&b, 3);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "def\0gh", 6);
    cc_buf_consume(&b, 6);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");

    /* Short and long printf paths (the long one is over the 256-byte stack buffer). */
    cc_buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.data, "42-x");
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cc_buf_printf(&b, "<%s>", big);
    assert_int_equal(b.len, 4 + 2 + 999);
    assert_int_equal(b.data[4], '<');
    assert_int_equal(b.data[b.len - 1], '>');
    assert_int_equal(b.data[b.len], '\0');
    assert_true(b.cap > b.len);

    size_t cap = b.cap;
    cc_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "");
    cc_buf_reserve(&b, 10000);
    assert_true(b.cap >= 10001);

    /* Growth over many appends keeps every byte. */
    cc_buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        cc_buf_putc(&b, (char)('a' + i % 26));
    assert_int_equal(b.len, 5000);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(b.data[i], 'a' + i % 26);
    cc_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void test_sbuf(void **state)
{
    (void)state;
    cc_sbuf *s = cc_sbuf_new("event", 5);
    assert_int_equal(s->refs, 1);
    assert_int_equal(s->len, 5);
    assert_memory_equal(s->data, "event", 5);
    assert_int_equal(s->data[5], '\0');
    assert_ptr_equal(cc_sbuf_ref(s), s);
    assert_ptr_equal(cc_sbuf_ref(s), s);
    assert_int_equal(s->refs, 3);
    cc_sbuf_unref(s);
    cc_sbuf_unref(s);
    assert_int_equal(s->refs, 1);
    /* The last reference frees it (ASan checks that nothing leaks). */
    cc_sbuf_unref(s);
    cc_sbuf_unref(NULL);

    cc_sbuf *e = cc_sbuf_new(NULL, 0);
    assert_int_equal(e->len, 0);
    assert_string_equal(e->data, "");
    cc_sbuf_unref(e);
}

static void test_map_basic(void **state)
{
    (void)state;
    cc_map m;
    cc_map_init(&m);
    int a = 1, b = 2, c = 3;
    assert_null(cc_map_gets(&m, "missing"));
    assert_null(cc_map_dels(&m, "missing"));
    assert_null(cc_map_puts(&m, "a", &a));
    assert_null(cc_map_puts(&m, "b", &b));
    assert_int_equal(m.count, 2);
    assert_ptr_equal(cc_map_gets(&m, "a"), &a);
    assert_ptr_equal(cc_map_gets(&m, "b"), &b);
    /* Replacing returns the old value and keeps the count. */
    assert_ptr_equal(cc_map_puts(&m, "a", &c), &a);
    assert_ptr_equal(cc_map_gets(&m, "a"), &c);
    assert_int_equal(m.count, 2);
    /* Keys are bytes, not C strings: an embedded NUL and a prefix differ. */
    assert_null(cc_map_put(&m, "a\0x", 3, &b));
    assert_ptr_equal(cc_map_get(&m, "a\0x", 3), &b);
    assert_ptr_equal(cc_map_get(&m, "a", 1), &c);
    assert_int_equal(m.count, 3);
    /* The key is copied in. */
    char key[8] = "temp";
    cc_map_puts(&m, key, &a);
    strcpy(key, "XXXX");
    assert_ptr_equal(cc_map_gets(&m, "temp"), &a);
    assert_null(cc_map_gets(&m, "XXXX"));
    /* Removal. */
    assert_ptr_equal(cc_map_dels(&m, "a"), &c);
    assert_null(cc_map_gets(&m, "a"));
    assert_null(cc_map_dels(&m, "a"));
    assert_int_equal(m.count, 3);
    cc_map_free(&m);
    assert_int_equal(m.count, 0);
    assert_null(cc_map_gets(&m, "b"));
}

static void test_map_growth_and_removal(void **state)
{
    (void)state;
    enum { N = 5000 };
    static int values[N];
    cc_map m;
    cc_map_init(&m);
    char key[32];
    for (int i = 0; i < N; i++) {
        values[i] = i;
        snprintf(key, sizeof key, "tenant/%d", i);
        assert_null(cc_map_puts(&m, key, &values[i]));
    }
    assert_int_equal(m.count, N);
    assert_true(m.cap >= N);
    assert_int_equal(m.cap & (m.cap - 1), 0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "tenant/%d", i);
        int *v = cc_map_gets(&m, key);
        assert_non_null(v);
        assert_int_equal(*v, i);
    }
    /* Remove the even keys; the odd ones must still be found past the tombstones. */
    for (int i = 0; i < N; i += 2) {
        snprintf(key, sizeof key, "tenant/%d", i);
        assert_ptr_equal(cc_map_dels(&m, key), &values[i]);
    }
    assert_int_equal(m.count, N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "tenant/%d", i);
        if (i % 2)
            assert_ptr_equal(cc_map_gets(&m, key), &values[i]);
        else
            assert_null(cc_map_gets(&m, key));
    }
    /* Churn: many put/delete cycles must not fill the table with tombstones (a full
     * table would make lookups of absent keys loop forever). */
    size_t cap_before = m.cap;
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof key, "churn/%d/%d", round, i);
            cc_map_puts(&m, key, &values[i]);
        }
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof key, "churn/%d/%d", round, i);
            assert_ptr_equal(cc_map_dels(&m, key), &values[i]);
        }
    }
    assert_int_equal(m.count, N / 2);
    assert_true(m.used < m.cap);
    assert_true(m.cap <= cap_before * 2);
    assert_null(cc_map_gets(&m, "absent"));
    cc_map_free(&m);
}

static void test_map_iteration(void **state)
{
    (void)state;
    enum { N = 300 };
    static int values[N];
    static int seen[N];
    cc_map m;
    cc_map_init(&m);
    size_t pos = 0;
    assert_null(cc_map_next(&m, &pos));
    char key[32];
    for (int i = 0; i < N; i++) {
        values[i] = i;
        snprintf(key, sizeof key, "k%d", i);
        cc_map_puts(&m, key, &values[i]);
    }
    /* Each key once, with its value, and deleting the returned key is allowed. */
    memset(seen, 0, sizeof seen);
    pos = 0;
    int visited = 0;
    cc_map_slot *s;
    while ((s = cc_map_next(&m, &pos))) {
        int v = *(int *)s->value;
        snprintf(key, sizeof key, "k%d", v);
        assert_int_equal(s->keylen, strlen(key));
        assert_memory_equal(s->key, key, s->keylen);
        seen[v]++;
        visited++;
        if (v % 3 == 0)
            assert_ptr_equal(cc_map_del(&m, s->key, s->keylen), &values[v]);
    }
    assert_int_equal(visited, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    pos = 0;
    visited = 0;
    while ((s = cc_map_next(&m, &pos))) {
        assert_int_not_equal(*(int *)s->value % 3, 0);
        visited++;
    }
    assert_int_equal(visited, N - (N + 2) / 3);
    assert_int_equal(m.count, (size_t)visited);
    cc_map_free(&m);
}

static void test_media_names(void **state)
{
    (void)state;
    static const char *const good[] = {"voice", "chat", "e", "a1", "x_y", "x-y", "z9_-"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(cc_media_name_valid(good[i], strlen(good[i])));
    static const char *const bad[] = {"",      "Voice", "1chat", "_x",   "-x",
                                      "ch at", "chät",  "chat!", "CHAT", "a.b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(cc_media_name_valid(bad[i], strlen(bad[i])));
    char name[40];
    memset(name, 'a', sizeof name);
    assert_true(cc_media_name_valid(name, 32));
    assert_false(cc_media_name_valid(name, 33));
    /* The length is what counts, not a NUL. */
    assert_true(cc_media_name_valid("chat!", 4));
    assert_false(cc_media_name_valid("ch\0t", 4));
}

static void test_media_intern(void **state)
{
    (void)state;
    cc_media_table t;
    cc_media_init(&t);
    assert_int_equal(t.count, 0);
    assert_int_equal(cc_media_find(&t, "voice", 5), CC_E_NOT_FOUND);
    assert_int_equal(cc_media_intern(&t, "voice", 5), 0);
    assert_int_equal(cc_media_intern(&t, "chat", 4), 1);
    assert_int_equal(cc_media_intern(&t, "voice", 5), 0);
    assert_int_equal(t.count, 2);
    assert_int_equal(cc_media_find(&t, "chat", 4), 1);
    /* A prefix of a known name is a different name. */
    assert_int_equal(cc_media_find(&t, "cha", 3), CC_E_NOT_FOUND);
    assert_int_equal(cc_media_find(&t, "chatx", 5), CC_E_NOT_FOUND);
    /* Only len bytes are taken. */
    assert_int_equal(cc_media_intern(&t, "emailXYZ", 5), 2);
    assert_string_equal(cc_media_name(&t, 2), "email");
    assert_string_equal(cc_media_name(&t, 0), "voice");
    assert_int_equal(cc_media_intern(&t, "Bad", 3), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(t.count, 3);

    char name[16];
    for (int i = 3; i < CC_MEDIA_MAX; i++) {
        int n = snprintf(name, sizeof name, "m%d", i);
        assert_int_equal(cc_media_intern(&t, name, (size_t)n), i);
    }
    assert_int_equal(t.count, CC_MEDIA_MAX);
    assert_int_equal(cc_media_intern(&t, "onemore", 7), CC_E_LIMIT_EXCEEDED);
    /* Known names still resolve when the table is full. */
    assert_int_equal(cc_media_intern(&t, "chat", 4), 1);
    assert_int_equal(cc_media_find(&t, "m63", 3), 63);
    char longest[CC_MEDIA_NAME_MAX + 1];
    memset(longest, 'b', CC_MEDIA_NAME_MAX);
    cc_media_init(&t);
    assert_int_equal(cc_media_intern(&t, longest, CC_MEDIA_NAME_MAX), 0);
    assert_int_equal(strlen(cc_media_name(&t, 0)), CC_MEDIA_NAME_MAX);
}

static void test_clock(void **state)
{
    (void)state;
    uint64_t a = cc_mono_us();
    uint64_t b = cc_mono_us();
    assert_true(b >= a);
    /* Wall time after 2020-01-01 in microseconds. */
    assert_true(cc_wall_us() > 1577836800ULL * 1000000ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc),         cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_buf),           cmocka_unit_test(test_sbuf),
        cmocka_unit_test(test_map_basic),     cmocka_unit_test(test_map_growth_and_removal),
        cmocka_unit_test(test_map_iteration), cmocka_unit_test(test_media_names),
        cmocka_unit_test(test_media_intern),  cmocka_unit_test(test_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

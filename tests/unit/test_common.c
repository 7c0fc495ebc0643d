/* Unit tests of src/common: allocation wrappers, the error table and its wire names,
 * growable and shared buffers, the string map, media name interning, and log values that
 * cannot forge a field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <stdatomic.h>

#include "common/alloc.h"
#include "common/ticker.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
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

/* A block fills up to its room, is shared once full, and its pages are reused by the next
 * block of the same size when fewer than the cache's handful are kept. */
static void test_sbuf_block(void **state)
{
    (void)state;
    size_t map_len = 64u << 10;
    cc_sbuf *b = cc_sbuf_block(map_len);
    assert_int_equal(b->refs, 1);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->map_len, map_len);
    assert_int_equal(b->spare, map_len - sizeof *b);
    cc_sbuf_block_append(b, "pong\n", 5);
    cc_sbuf_block_append(b, "ack\n", 4);
    assert_int_equal(b->len, 9);
    assert_memory_equal(b->data, "pong\nack\n", 9);
    assert_int_equal(b->len + b->spare, map_len - sizeof *b);
    /* Exactly the room left fits. */
    size_t room = b->spare;
    char *fill = xmalloc(room);
    memset(fill, 'x', room);
    cc_sbuf_block_append(b, fill, room);
    free(fill);
    assert_int_equal(b->spare, 0);
    assert_int_equal(b->len, map_len - sizeof *b);
    assert_ptr_equal(cc_sbuf_ref(b), b);
    cc_sbuf_unref(b);
    cc_sbuf_unref(b);
    /* Freed into the cache: the next block of that size is the same mapping, empty. */
    cc_sbuf *again = cc_sbuf_block(map_len);
    assert_ptr_equal(again, b);
    assert_int_equal(again->len, 0);
    assert_int_equal(again->spare, map_len - sizeof *again);
    /* Another size is mapped afresh and unmapped when freed. */
    cc_sbuf *other = cc_sbuf_block(2 * map_len);
    assert_ptr_not_equal(other, again);
    assert_int_equal(other->spare, 2 * map_len - sizeof *other);
    cc_sbuf_unref(other);
    cc_sbuf_unref(again);
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

/* ---- log values ---- */

/* One field of a log line as a reader sees it: a key, and the value with its quoting
 * undone. */
typedef struct log_field {
    char key[32];
    char value[600];
} log_field;

/* Splits line (without its line end) the way a log reader does: fields at spaces outside
 * quotes, key up to the first '=', a quoted value decoded (\" \\ \xNN). Returns the
 * number of fields, or -1 when the line does not parse. */
static int log_fields(const char *line, log_field *f, int max)
{
    int n = 0;
    const char *p = line;
    while (*p) {
        if (n == max)
            return -1;
        const char *eq = strchr(p, '=');
        if (!eq || eq == p || (size_t)(eq - p) >= sizeof f[n].key)
            return -1;
        memcpy(f[n].key, p, (size_t)(eq - p));
        f[n].key[eq - p] = '\0';
        if (strchr(f[n].key, ' ') || strchr(f[n].key, '"'))
            return -1;
        p = eq + 1;
        size_t o = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                char c = *p++;
                if (c == '\\') {
                    if (*p == 'x') {
                        char hex[3] = {p[1], p[2], 0};
                        c = (char)strtol(hex, NULL, 16);
                        p += 3;
                    } else {
                        c = *p++;
                    }
                }
                if (o + 1 >= sizeof f[n].value)
                    return -1;
                f[n].value[o++] = c;
            }
            if (*p != '"')
                return -1;
            p++;
        } else {
            while (*p && *p != ' ') {
                if (o + 1 >= sizeof f[n].value)
                    return -1;
                f[n].value[o++] = *p++;
            }
        }
        f[n].value[o] = '\0';
        n++;
        if (*p == ' ')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

/* The VmFlags of the mapping of /proc/self/smaps that holds p, in out ("" when none). */
static void vm_flags_of(const void *p, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    bool inside = false;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(out, cap, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

static void test_heap_huge_pages(void **state)
{
    (void)state;
    setenv("CC_HUGE_PAGES", "0", 1);
    assert_false(cc_heap_huge_pages_start());
    unsetenv("CC_HUGE_PAGES");
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (f) {
        if (!fgets(mode, sizeof mode, f))
            mode[0] = 0;
        fclose(f);
    }
    if (!mode[0] || strstr(mode, "[never]")) {
        assert_false(cc_heap_huge_pages_start());
        skip();
    }
#if defined(__SANITIZE_ADDRESS__)
    /* The sanitizer's malloc may refuse the mallopt settings: then there is nothing to
     * mark, and the start says so. */
    if (!cc_heap_huge_pages_start())
        skip();
#else
    assert_true(cc_heap_huge_pages_start());
#endif
    /* 8 MiB in blocks under the 2 MiB threshold: from the heap, which grows past what
     * the start marked. */
    enum { N = 128 };
    char *blocks[N];
    uintptr_t before = (uintptr_t)sbrk(0);
    for (int i = 0; i < N; i++) {
        blocks[i] = xmalloc(64 * 1024);
        memset(blocks[i], i, 64 * 1024);
    }
    uintptr_t after = (uintptr_t)sbrk(0);
    char flags[512];
    uintptr_t last = (uintptr_t)blocks[N - 1];
    if (after == before || last < before || last >= after) {
        /* Another malloc than the system's (a sanitizer's) keeps its blocks outside the
         * heap: nothing to mark. */
        for (int i = 0; i < N; i++)
            free(blocks[i]);
        skip();
    }
    cc_heap_huge_pages_refresh();
    vm_flags_of(blocks[N - 1], flags, sizeof flags);
    /* "hg": the mapping is marked MADV_HUGEPAGE. */
    assert_non_null(strstr(flags, " hg"));
    for (int i = 0; i < N; i++)
        free(blocks[i]);
}

typedef struct tick_seen {
    _Atomic int calls;
    _Atomic int nice;
} tick_seen;

static void on_tick_call(void *arg)
{
    tick_seen *t = arg;
    atomic_store(&t->nice, getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid)));
    atomic_fetch_add(&t->calls, 1);
}

/* Waits (bounded) until seen has at least n calls. */
static int wait_calls(tick_seen *seen, int n, int max_ms)
{
    for (int i = 0; i < max_ms / 5 && atomic_load(&seen->calls) < n; i++)
        usleep(5000);
    return atomic_load(&seen->calls);
}

static void test_ticker(void **state)
{
    (void)state;
    /* Every period. */
    tick_seen a = {0};
    cc_ticker *t = cc_ticker_start(20, 10, on_tick_call, &a);
    assert_non_null(t);
    assert_true(wait_calls(&a, 3, 20000) >= 3);
    /* At nice 10, or the process's own when that is lower already. */
    int own = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(atomic_load(&a.nice), own > 10 ? own : 10);
    cc_ticker_stop(t);
    int after = atomic_load(&a.calls);
    usleep(60000);
    assert_int_equal(atomic_load(&a.calls), after);
    /* A kick runs it long before its period of an hour. */
    tick_seen b = {0};
    t = cc_ticker_start(3600u * 1000u, 0, on_tick_call, &b);
    assert_non_null(t);
    usleep(20000);
    assert_int_equal(atomic_load(&b.calls), 0);
    cc_ticker_kick(t);
    assert_int_equal(wait_calls(&b, 1, 20000), 1);
    cc_ticker_stop(t);
    cc_ticker_stop(NULL);
    /* The deadline helper carries the milliseconds into seconds. */
    struct timespec now, d = cc_deadline_after(CLOCK_MONOTONIC, 1999);
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t diff_ms = (int64_t)(d.tv_sec - now.tv_sec) * 1000 + (d.tv_nsec - now.tv_nsec) / 1000000;
    assert_true(d.tv_nsec < 1000000000L);
    assert_true(diff_ms > 1900 && diff_ms <= 1999);
}

static void test_log_quote(void **state)
{
    (void)state;
    char out[CC_LOG_VALUE_MAX];
    /* Plain values stay as they are: the common case reads as before. */
    assert_string_equal(cc_log_quote(out, sizeof out, "Resources"), "Resources");
    assert_string_equal(cc_log_quote(out, sizeof out, "ixn-a:000000001"), "ixn-a:000000001");
    assert_string_equal(cc_log_quote(out, sizeof out, "a/b.c_d-e@f"), "a/b.c_d-e@f");
    assert_string_equal(cc_log_quote(out, sizeof out, NULL), "-");
    /* Everything a reader could split on, or that is not printable ASCII, is quoted. */
    assert_string_equal(cc_log_quote(out, sizeof out, ""), "\"\"");
    assert_string_equal(cc_log_quote(out, sizeof out, "a b"), "\"a b\"");
    assert_string_equal(cc_log_quote(out, sizeof out, "k=v"), "\"k=v\"");
    assert_string_equal(cc_log_quote(out, sizeof out, "say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_string_equal(cc_log_quote(out, sizeof out, "a\\b"), "\"a\\\\b\"");
    assert_string_equal(cc_log_quote(out, sizeof out, "l1\nl2\r\t"), "\"l1\\x0al2\\x0d\\x09\"");
    assert_string_equal(cc_log_quote(out, sizeof out, "\x7f\xc3\xa9"), "\"\\x7f\\xc3\\xa9\"");
    assert_string_equal(cc_log_quote_n(out, sizeof out, "a\0b", 3), "\"a\\x00b\"");

    /* Cut to the buffer, between two input bytes, always closed. */
    char small[12];
    assert_string_equal(cc_log_quote(small, sizeof small, "abcdefghijk"), "abcdefghijk");
    assert_string_equal(cc_log_quote(small, sizeof small, "abcdefghijkl"), "\"abcdef...\"");
    assert_string_equal(cc_log_quote(small, sizeof small, "abcdefgh "), "\"abcdefgh \"");
    assert_string_equal(cc_log_quote(small, sizeof small, "abcdefghi "), "\"abcdef...\"");
    assert_string_equal(cc_log_quote(small, sizeof small, "\n\n\n"), "\"\\x0a...\"");
    assert_string_equal(cc_log_quote(small, sizeof small, "\n\n"), "\"\\x0a\\x0a\"");
    /* An identifier of 128 bytes that all need escaping fits whole. */
    char id[129];
    memset(id, '\x01', 128);
    id[128] = '\0';
    assert_int_equal(strlen(cc_log_quote(out, sizeof out, id)), 2 + 4 * 128);
}

/* Runs one cc_log call with stderr sent to a temporary file and returns what it wrote. */
static char *log_capture(const char *agent, const char *place)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), 2), 2);
    LOG_INFO("event=agent_login agent=%s place=%s version=7", LOGQ(agent), LOGQ(place));
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    long len = ftell(tmp);
    assert_true(len > 0);
    char *text = xcalloc(1, (size_t)len + 1);
    rewind(tmp);
    assert_int_equal(fread(text, 1, (size_t)len, tmp), (size_t)len);
    fclose(tmp);
    return text;
}

static void test_log_no_forged_field(void **state)
{
    (void)state;
    cc_log_init("test_common", CC_LOG_INFO);
    static const char *const forged[] = {
        "1001 level=error event=forged",
        "1001\" level=\"error",
        "1001\\\" level=error",
        "1001\nts=2020-01-01T00:00:00.000Z level=error prog=ixnserver event=forged",
        "=",
        "",
    };
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        char *text = log_capture(forged[i], "P 1 version=9");
        /* One line, and exactly the fields the call wrote, each value as given. */
        size_t len = strlen(text);
        assert_true(len > 0 && text[len - 1] == '\n');
        text[len - 1] = '\0';
        assert_null(strchr(text, '\n'));
        log_field f[16];
        int n = log_fields(text, f, 16);
        assert_int_equal(n, 7);
        static const char *const keys[] = {"ts",    "level", "prog",   "event",
                                           "agent", "place", "version"};
        for (int k = 0; k < 7; k++)
            assert_string_equal(f[k].key, keys[k]);
        assert_string_equal(f[1].value, "info");
        assert_string_equal(f[3].value, "agent_login");
        assert_string_equal(f[4].value, forged[i]);
        assert_string_equal(f[5].value, "P 1 version=9");
        assert_string_equal(f[6].value, "7");
        free(text);
    }

    /* A value that reaches a line without LOGQ still cannot start a second line. */
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    assert_int_equal(dup2(fileno(tmp), 2), 2);
    LOG_INFO("event=raw what=%s", "a\nb\rc");
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    char text[256] = {0};
    rewind(tmp);
    assert_true(fread(text, 1, sizeof text - 1, tmp) > 0);
    fclose(tmp);
    assert_non_null(strstr(text, "what=a?b?c\n"));
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_sbuf),
        cmocka_unit_test(test_sbuf_block),
        cmocka_unit_test(test_map_basic),
        cmocka_unit_test(test_map_growth_and_removal),
        cmocka_unit_test(test_map_iteration),
        cmocka_unit_test(test_media_names),
        cmocka_unit_test(test_media_intern),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_heap_huge_pages),
        cmocka_unit_test(test_ticker),
        cmocka_unit_test(test_log_quote),
        cmocka_unit_test(test_log_no_forged_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

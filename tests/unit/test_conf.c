/* Unit tests of src/common/conf: the line-counting reader (long lines, line numbers,
 * sections), the message formats, and the value checks both daemons use. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/conf.h"
#include "common/err.h"
#include "common/hostport.h"

/* What the recording handler saw, one entry per pair. */
#define REC_MAX 16

typedef struct rec {
    int count;
    char section[REC_MAX][64];
    char key[REC_MAX][256];
    char *value[REC_MAX];
    int line[REC_MAX];
} rec;

static void rec_free(rec *r)
{
    for (int i = 0; i < r->count; i++)
        free(r->value[i]);
}

/* Records every pair; key "bad" gets an error and an unknown section a warning, so that
 * the tests can look at the messages of the current line. */
static void on_pair(cc_conf *c, const char *section, const char *key, const char *value)
{
    rec *r = c->user;
    assert_true(r->count < REC_MAX);
    snprintf(r->section[r->count], sizeof r->section[0], "%s", section);
    snprintf(r->key[r->count], sizeof r->key[0], "%s", key);
    r->value[r->count] = xstrdup(value);
    r->line[r->count] = c->line;
    r->count++;
    if (strcmp(key, "bad") == 0)
        cc_conf_error(c, section, key, "\"%s\" is bad", value);
    if (strcmp(section, "s") != 0 && strcmp(section, "t") != 0)
        cc_conf_warn(c, section, key, "unknown section, ignored");
    if (strcmp(key, "once") == 0 && !cc_conf_twice(c, section, key))
        cc_conf_mark(c, section, key);
}

/* Captures what runs between capture_start and capture_end writes to stderr. */
static FILE *capture_file;
static int saved_stderr = -1;

static void capture_start(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    assert_non_null(capture_file);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Returns the captured text (xmalloc'd) and restores stderr. */
static char *capture_end(void)
{
    fflush(stderr);
    assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    saved_stderr = -1;
    long n = ftell(capture_file);
    assert_true(n >= 0);
    char *out = xmalloc((size_t)n + 1);
    rewind(capture_file);
    size_t got = fread(out, 1, (size_t)n, capture_file);
    out[got] = '\0';
    fclose(capture_file);
    capture_file = NULL;
    return out;
}

static char path[64];

static void write_file(const char *text)
{
    snprintf(path, sizeof path, "/tmp/test_conf.%ld.ini", (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Parses text with the recording handler; returns cc_conf_parse's result and the stderr
 * output in *err (xmalloc'd). */
static int parse_text(const char *text, rec *r, cc_conf *c, char **err)
{
    memset(r, 0, sizeof *r);
    write_file(text);
    cc_conf_init(c, "prog", path, r);
    capture_start();
    int rc = cc_conf_parse(c, on_pair);
    *err = capture_end();
    unlink(path);
    return rc;
}

static void test_num(void **state)
{
    (void)state;
    uint64_t n = 7;
    assert_true(cc_conf_num("0", 0, 86400, &n));
    assert_int_equal(n, 0);
    assert_true(cc_conf_num("86400", 0, 86400, &n));
    assert_int_equal(n, 86400);
    n = 7;
    assert_false(cc_conf_num("86401", 0, 86400, &n));
    assert_false(cc_conf_num("1023", 1024, 2048, &n));
    assert_true(cc_conf_num("1024", 1024, 2048, &n));
    assert_int_equal(n, 1024);
    assert_true(cc_conf_num("18446744073709551615", 0, UINT64_MAX, &n));
    assert_true(n == UINT64_MAX);
    n = 7;
    /* One over the type's range: strtoull saturates, and the check must not take that. */
    assert_false(cc_conf_num("18446744073709551616", 0, UINT64_MAX, &n));
    assert_false(cc_conf_num("", 0, 10, &n));
    assert_false(cc_conf_num("-1", 0, 10, &n));
    assert_false(cc_conf_num("+1", 0, 10, &n));
    assert_false(cc_conf_num(" 1", 0, 10, &n));
    assert_false(cc_conf_num("1 ", 0, 10, &n));
    assert_false(cc_conf_num("1s", 0, 10, &n));
    assert_false(cc_conf_num("0x1", 0, 10, &n));
    assert_int_equal(n, 7);
}

static void test_bool(void **state)
{
    (void)state;
    static const char *const yes[] = {"yes", "YES", "True", "on", "1"};
    static const char *const no[] = {"no", "No", "FALSE", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        bool b = false;
        assert_true(cc_conf_bool(yes[i], &b));
        assert_true(b);
        assert_true(cc_conf_bool(no[i], &b));
        assert_false(b);
    }
    bool b = true;
    assert_false(cc_conf_bool("", &b));
    assert_false(cc_conf_bool("y", &b));
    assert_false(cc_conf_bool("yes ", &b));
    assert_false(cc_conf_bool("2", &b));
    assert_true(b);
}

static void test_str_and_hostport(void **state)
{
    (void)state;
    char *s = NULL;
    cc_conf_set_str(&s, "one");
    cc_conf_set_str(&s, "two");
    assert_string_equal(s, "two");
    free(s);

    const char *good[] = {"127.0.0.1:0", "localhost:7001", "[::1]:80", "0.0.0.0:65535"};
    const char *bad[] = {"",           "host",           ":80",
                         "1.2.3.4:",   "1.2.3.4:65536",  "1.2.3.4:-1",
                         "1.2.3.4: 1", "example.com:80", "[::1:80"};
    struct sockaddr_storage ss;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(cc_conf_hostport_ok(good[i]));
        assert_int_equal(cc_parse_hostport(good[i], &ss), 0);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(cc_conf_hostport_ok(bad[i]));

    cc_conf c;
    cc_conf_init(&c, "prog", "x.ini", NULL);
    c.line = 4;
    char *dst = xstrdup("127.0.0.1:1");
    capture_start();
    cc_conf_set_hostport(&c, "server", "listen", "nowhere", &dst);
    cc_conf_set_hostport(&c, "server", "listen", "127.0.0.1:2", &dst);
    char *err = capture_end();
    assert_string_equal(err,
                        "prog: error: x.ini:4: [server] listen: \"nowhere\" is not HOST:PORT\n");
    assert_string_equal(dst, "127.0.0.1:2");
    assert_int_equal(c.errors, 1);
    free(err);
    free(dst);
    cc_conf_free(&c);
}

/* Address lists: split in place, each entry checked, at most CC_HOSTPORT_LIST_MAX. */
static void test_hostport_list(void **state)
{
    (void)state;
    char one[] = "127.0.0.1:7000";
    char *out[CC_HOSTPORT_LIST_MAX];
    assert_int_equal(cc_hostport_list_split(one, out), 1);
    assert_string_equal(out[0], "127.0.0.1:7000");

    char two[] = "[::1]:7000,localhost:7001";
    assert_int_equal(cc_hostport_list_split(two, out), 2);
    assert_string_equal(out[0], "[::1]:7000");
    assert_string_equal(out[1], "localhost:7001");

    assert_int_equal(cc_hostport_list_check("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,"
                                            "127.0.0.1:5,127.0.0.1:6,127.0.0.1:7,127.0.0.1:8"),
                     CC_HOSTPORT_LIST_MAX);
    assert_int_equal(cc_hostport_list_check("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,"
                                            "127.0.0.1:5,127.0.0.1:6,127.0.0.1:7,127.0.0.1:8,"
                                            "127.0.0.1:9"),
                     -EINVAL);
    const char *bad[] = {"",
                         ",",
                         "127.0.0.1:1,",
                         ",127.0.0.1:1",
                         "127.0.0.1:1,,127.0.0.1:2",
                         "127.0.0.1:1, 127.0.0.1:2",
                         "127.0.0.1:1,nohost"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cc_hostport_list_check(bad[i]), -EINVAL);

    cc_conf c;
    cc_conf_init(&c, "prog", "x.ini", NULL);
    char *dst = NULL;
    cc_conf_set_hostport_list(&c, "ixn:a", "address", "127.0.0.1:1,127.0.0.1:2", &dst);
    assert_string_equal(dst, "127.0.0.1:1,127.0.0.1:2");
    assert_int_equal(c.errors, 0);
    capture_start();
    cc_conf_set_hostport_list(&c, "ixn:a", "address", "127.0.0.1:1;127.0.0.1:2", &dst);
    free(capture_end());
    assert_int_equal(c.errors, 1);
    assert_string_equal(dst, "127.0.0.1:1,127.0.0.1:2");
    free(dst);
    cc_conf_free(&c);
}

static void test_set_text(void **state)
{
    (void)state;
    cc_conf c;
    cc_conf_init(&c, "prog", "x.ini", NULL);
    c.line = 2;
    char *dst = NULL;
    capture_start();
    cc_conf_set_text(&c, "server", "port-file", "", 1, SIZE_MAX, &dst);
    cc_conf_set_text(&c, "tokens", "Agent", "12345", 0, 4, &dst);
    cc_conf_set_text(&c, "server", "name", "", 1, 4, &dst);
    cc_conf_set_text(&c, "server", "name", "12345", 1, 4, &dst);
    assert_null(dst);
    cc_conf_set_text(&c, "server", "name", "1234", 1, 4, &dst);
    assert_string_equal(dst, "1234");
    cc_conf_set_text(&c, "tokens", "Agent", "", 0, 4, &dst);
    assert_string_equal(dst, "");
    char *err = capture_end();
    assert_string_equal(err, "prog: error: x.ini:2: [server] port-file: must not be empty\n"
                             "prog: error: x.ini:2: [tokens] Agent: longer than 4 bytes\n"
                             "prog: error: x.ini:2: [server] name: must be 1..4 bytes\n"
                             "prog: error: x.ini:2: [server] name: must be 1..4 bytes\n");
    assert_int_equal(c.errors, 4);
    free(err);
    free(dst);
    cc_conf_free(&c);
}

static void test_messages(void **state)
{
    (void)state;
    cc_conf c;
    cc_conf_init(&c, "ixnserver", "a.ini", NULL);
    c.line = 12;
    capture_start();
    cc_conf_error(&c, "server", "max-line", "\"%s\" is not a number", "x");
    cc_conf_warn(&c, "server", "colour", "unknown key, ignored");
    cc_conf_file_error(&c, 3, "syntax error");
    cc_conf_file_error(&c, 0, "[server] name: missing");
    cc_conf_file_warn(&c, "[tokens] is empty: %s", "no client can register");
    char *err = capture_end();
    assert_string_equal(err,
                        "ixnserver: error: a.ini:12: [server] max-line: \"x\" is not a number\n"
                        "ixnserver: warning: a.ini:12: [server] colour: unknown key, ignored\n"
                        "ixnserver: error: a.ini:3: syntax error\n"
                        "ixnserver: error: a.ini: [server] name: missing\n"
                        "ixnserver: warning: a.ini: [tokens] is empty: no client can register\n");
    /* Warnings do not count. */
    assert_int_equal(c.errors, 3);
    free(err);
    cc_conf_free(&c);
}

static void test_parse_lines(void **state)
{
    (void)state;
    rec r;
    cc_conf c;
    char *err;
    int rc = parse_text("; comment\n"
                        "top = 1\n"
                        "[s]\n"
                        "\n"
                        "a = x ; comment\n"
                        "bad = y\n"
                        "[other]\n"
                        "k: v\n",
                        &r, &c, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(r.count, 4);
    assert_string_equal(r.section[0], "");
    assert_string_equal(r.key[0], "top");
    assert_int_equal(r.line[0], 2);
    assert_string_equal(r.section[1], "s");
    assert_string_equal(r.key[1], "a");
    assert_string_equal(r.value[1], "x");
    assert_int_equal(r.line[1], 5);
    assert_int_equal(r.line[2], 6);
    assert_string_equal(r.section[3], "other");
    assert_string_equal(r.value[3], "v");
    assert_int_equal(r.line[3], 8);
    char want[512];
    snprintf(want, sizeof want,
             "prog: warning: %s:2: [] top: unknown section, ignored\n"
             "prog: error: %s:6: [s] bad: \"y\" is bad\n"
             "prog: warning: %s:8: [other] k: unknown section, ignored\n",
             path, path, path);
    assert_string_equal(err, want);
    assert_int_equal(c.errors, 1);
    free(err);
    rec_free(&r);
    cc_conf_free(&c);
}

static void test_parse_long_lines(void **state)
{
    (void)state;
    /* A key = value line of about 300 bytes, past inih's 200-byte limit. */
    char key[160], value[160];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    char *huge = xmalloc(CC_CONF_LINE_MAX + 100);
    memset(huge, 'h', CC_CONF_LINE_MAX + 98);
    huge[CC_CONF_LINE_MAX + 98] = '\0';
    char section[300];
    memset(section, 'S', sizeof section - 1);
    section[sizeof section - 1] = '\0';
    size_t cap = 3 * CC_CONF_LINE_MAX;
    char *text = xmalloc(cap);
    snprintf(text, cap,
             "[t]\n"
             "  %s = %s ; trailing comment\n"
             "x = %s\n"
             "after = 1\n"
             "[%s]\n"
             "%s%s\n"
             "last = 2\n",
             key, value, huge, section, key, value);
    rec r;
    cc_conf c;
    char *err;
    int rc = parse_text(text, &r, &c, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(r.count, 3);
    assert_string_equal(r.section[0], "t");
    assert_string_equal(r.key[0], key);
    assert_string_equal(r.value[0], value);
    assert_int_equal(r.line[0], 2);
    assert_string_equal(r.key[1], "after");
    assert_int_equal(r.line[1], 4);
    /* The too long section header is not taken, so "last" stays in [t]. */
    assert_string_equal(r.section[2], "t");
    assert_string_equal(r.key[2], "last");
    assert_int_equal(r.line[2], 7);
    char want[512];
    snprintf(want, sizeof want,
             "prog: error: %s:3: line longer than %d bytes\n"
             "prog: error: %s:5: section name too long\n"
             "prog: error: %s:6: syntax error\n",
             path, CC_CONF_LINE_MAX, path, path);
    assert_string_equal(err, want);
    assert_int_equal(c.errors, 3);
    free(err);
    free(text);
    free(huge);
    rec_free(&r);
    cc_conf_free(&c);
}

static void test_parse_errors(void **state)
{
    (void)state;
    rec r;
    cc_conf c;
    char *err;
    /* inih keeps going after a syntax error and returns the first one's line. */
    int rc = parse_text("[s]\na = 1\nnot a pair\nb = 2\n[broken\n", &r, &c, &err);
    assert_int_equal(rc, 3);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.line[1], 4);
    assert_string_equal(err, "");
    assert_int_equal(c.errors, 0);
    free(err);
    rec_free(&r);
    cc_conf_free(&c);

    cc_conf_init(&c, "prog", "/nonexistent/dir/x.ini", &r);
    errno = 0;
    assert_int_equal(cc_conf_parse(&c, on_pair), CC_E_IO);
    assert_int_equal(errno, ENOENT);
    cc_conf_free(&c);
}

static void test_twice(void **state)
{
    (void)state;
    rec r;
    cc_conf c;
    char *err;
    int rc = parse_text("[s]\nonce = 1\n[t]\nonce = 2\n[s]\nonce = 3\n", &r, &c, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(r.count, 3);
    char want[256];
    snprintf(want, sizeof want, "prog: error: %s:6: [s] once: given twice\n", path);
    assert_string_equal(err, want);
    assert_int_equal(c.errors, 1);
    free(err);
    rec_free(&r);
    cc_conf_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_num),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_str_and_hostport),
        cmocka_unit_test(test_hostport_list),
        cmocka_unit_test(test_set_text),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_parse_lines),
        cmocka_unit_test(test_parse_long_lines),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

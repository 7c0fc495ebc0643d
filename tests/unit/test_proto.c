/* Unit tests of src/proto: the line framer, the JSON writer, the message layer (parsing,
 * typed getters and their errors) and every encoder/decoder pair of msg, resv, ixnmsg,
 * agentreq, statmsg and regmsg, the routing additions (skills, priority, explain)
 * included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/media.h"
#include "proto/agentreq.h"
#include "proto/frame.h"
#include "proto/ixnmsg.h"
#include "proto/ixnreport.h"
#include "proto/statistic.h"
#include "proto/jw.h"
#include "proto/msg.h"
#include "proto/regmsg.h"
#include "proto/resv.h"
#include "proto/statmsg.h"

/* ---- frame ---------------------------------------------------------------------- */

/* Collects the lines a framer delivers; can pause or fail after a given line. */
typedef struct lines {
    char text[16][128];
    size_t len[16];
    int count;
    int pause_after; /* 1-based line number to pause after, 0 = never */
    int fail_after;  /* 1-based line number to fail after, 0 = never */
} lines;

static int collect(void *ctx, const char *line, size_t len)
{
    lines *l = ctx;
    assert_true(l->count < 16);
    assert_true(len < sizeof l->text[0]);
    memcpy(l->text[l->count], line, len);
    l->text[l->count][len] = '\0';
    l->len[l->count] = len;
    l->count++;
    if (l->pause_after == l->count)
        return PROTO_FRAME_PAUSE;
    if (l->fail_after == l->count)
        return CC_E_INVALID_STATE;
    return 0;
}

static int feed_str(proto_framer *f, lines *l, const char *s, size_t *consumed)
{
    return proto_framer_feed(f, s, strlen(s), collect, l, consumed);
}

static void test_frame_split(void **state)
{
    (void)state;
    proto_framer f;
    proto_framer_init(&f, 64);
    lines l = {0};
    size_t used = 0;
    assert_int_equal(feed_str(&f, &l, "one\ntwo\r\n\nthree\n", &used), 0);
    assert_int_equal(used, 16);
    assert_int_equal(l.count, 4);
    assert_string_equal(l.text[0], "one");
    assert_string_equal(l.text[1], "two");
    assert_int_equal(l.len[1], 3);
    assert_int_equal(l.len[2], 0);
    assert_string_equal(l.text[3], "three");
    /* A '\r' that is not right before the '\n' stays in the line. */
    assert_int_equal(feed_str(&f, &l, "a\rb\n", &used), 0);
    assert_string_equal(l.text[4], "a\rb");
    proto_framer_free(&f);
}

static void test_frame_partial(void **state)
{
    (void)state;
    proto_framer f;
    proto_framer_init(&f, 64);
    lines l = {0};
    size_t used = 0;
    assert_int_equal(feed_str(&f, &l, "ab", &used), 0);
    assert_int_equal(used, 2);
    assert_int_equal(l.count, 0);
    assert_int_equal(feed_str(&f, &l, "c\nde", &used), 0);
    assert_int_equal(used, 4);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.text[0], "abc");
    /* The "\r\n" itself split across feeds. */
    assert_int_equal(feed_str(&f, &l, "f\r", &used), 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(feed_str(&f, &l, "\n", &used), 0);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.text[1], "def");
    /* One byte at a time. */
    const char *s = "{\"message\":\"x\"}\r\n";
    for (size_t i = 0; s[i]; i++) {
        assert_int_equal(proto_framer_feed(&f, s + i, 1, collect, &l, &used), 0);
        assert_int_equal(used, 1);
    }
    assert_int_equal(l.count, 3);
    assert_string_equal(l.text[2], "{\"message\":\"x\"}");
    proto_framer_free(&f);
}

static void test_frame_too_large(void **state)
{
    (void)state;
    proto_framer f;
    lines l = {0};
    size_t used = 0;

    /* Exactly the maximum, with and without '\r', is accepted. */
    proto_framer_init(&f, 8);
    assert_int_equal(feed_str(&f, &l, "12345678\n12345678\r\n", &used), 0);
    assert_int_equal(l.count, 2);
    assert_int_equal(l.len[1], 8);
    /* The same, arriving in pieces. */
    assert_int_equal(feed_str(&f, &l, "1234", &used), 0);
    assert_int_equal(feed_str(&f, &l, "5678\r", &used), 0);
    assert_int_equal(feed_str(&f, &l, "\n", &used), 0);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.text[2], "12345678");
    proto_framer_free(&f);

    /* One byte over in a complete line. */
    proto_framer_init(&f, 8);
    memset(&l, 0, sizeof l);
    assert_int_equal(feed_str(&f, &l, "ok\n123456789\nnext\n", &used), CC_E_MESSAGE_TOO_LARGE);
    assert_int_equal(l.count, 1);
    proto_framer_free(&f);

    /* Over the maximum before the line end arrives: reported at once. */
    proto_framer_init(&f, 8);
    memset(&l, 0, sizeof l);
    assert_int_equal(feed_str(&f, &l, "12345", &used), 0);
    assert_int_equal(feed_str(&f, &l, "67890", &used), CC_E_MESSAGE_TOO_LARGE);
    assert_int_equal(l.count, 0);
    proto_framer_free(&f);

    /* Without any earlier partial line. */
    proto_framer_init(&f, 8);
    memset(&l, 0, sizeof l);
    assert_int_equal(feed_str(&f, &l, "0123456789abcdef", &used), CC_E_MESSAGE_TOO_LARGE);
    assert_int_equal(l.count, 0);
    proto_framer_free(&f);

    /* A partial line plus the rest of it over the maximum. */
    proto_framer_init(&f, 8);
    memset(&l, 0, sizeof l);
    assert_int_equal(feed_str(&f, &l, "12345", &used), 0);
    assert_int_equal(feed_str(&f, &l, "6789\r\n", &used), CC_E_MESSAGE_TOO_LARGE);
    assert_int_equal(l.count, 0);
    proto_framer_free(&f);

    /* The default maximum. */
    proto_framer_init(&f, PROTO_LINE_MAX_DEFAULT);
    memset(&l, 0, sizeof l);
    size_t n = PROTO_LINE_MAX_DEFAULT + 2;
    char *big = malloc(n);
    memset(big, 'x', n);
    assert_int_equal(proto_framer_feed(&f, big, n, collect, &l, &used), CC_E_MESSAGE_TOO_LARGE);
    free(big);
    proto_framer_free(&f);
}

static void test_frame_pause_and_error(void **state)
{
    (void)state;
    proto_framer f;
    proto_framer_init(&f, 64);
    lines l = {0};
    size_t used = 0;
    l.pause_after = 1;
    const char *s = "first\nsecond\nthi";
    assert_int_equal(feed_str(&f, &l, s, &used), PROTO_FRAME_PAUSE);
    assert_int_equal(l.count, 1);
    assert_int_equal(used, 6);
    /* The caller feeds the rest again later. */
    assert_int_equal(proto_framer_feed(&f, s + used, strlen(s) - used, collect, &l, &used), 0);
    assert_int_equal(used, strlen(s) - 6);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.text[1], "second");
    /* Pause on a line completed from an earlier partial. */
    l.pause_after = 3;
    assert_int_equal(feed_str(&f, &l, "rd\nfourth\n", &used), PROTO_FRAME_PAUSE);
    assert_int_equal(used, 3);
    assert_string_equal(l.text[2], "third");
    assert_int_equal(feed_str(&f, &l, "fourth\n", &used), 0);
    assert_int_equal(l.count, 4);
    /* A callback's error stops the feed and is returned. */
    l.fail_after = 5;
    assert_int_equal(feed_str(&f, &l, "fifth\nsixth\n", &used), CC_E_INVALID_STATE);
    assert_int_equal(l.count, 5);
    assert_int_equal(used, 6);
    proto_framer_free(&f);
}

/* ---- jw ------------------------------------------------------------------------- */

/* Writes s (n bytes) with jw_strn and returns the output in a static buffer. */
static const char *jw_of(const char *s, size_t n)
{
    static char out[256];
    cc_buf b;
    cc_buf_init(&b);
    jw_strn(&b, s, n);
    assert_true(b.len < sizeof out);
    memcpy(out, b.data, b.len + 1);
    cc_buf_free(&b);
    return out;
}

/* Parses a JSON string literal back with jansson and compares it to want. */
static void assert_json_string(const char *json, const char *want, size_t want_len)
{
    json_error_t e;
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    assert_non_null(v);
    assert_true(json_is_string(v));
    assert_int_equal(json_string_length(v), want_len);
    assert_memory_equal(json_string_value(v), want, want_len);
    json_decref(v);
}

static void test_jw_escaping(void **state)
{
    (void)state;
    assert_string_equal(jw_of("plain", 5), "\"plain\"");
    assert_string_equal(jw_of("", 0), "\"\"");
    assert_string_equal(jw_of("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
    assert_string_equal(jw_of("\n\r\t", 3), "\"\\n\\r\\t\"");
    assert_string_equal(jw_of("\x01\x1f", 2), "\"\\u0001\\u001f\"");
    assert_string_equal(jw_of("a\0b", 3), "\"a\\u0000b\"");
    /* DEL and '/' need no escaping in JSON. */
    assert_string_equal(jw_of("\x7f/", 2), "\"\x7f/\"");
    const char all[] = "q\"\\\n\x02 \xc3\xa9";
    assert_json_string(jw_of(all, sizeof all - 1), all, sizeof all - 1);
    assert_json_string(jw_of("a\0b", 3), "a\0b", 3);

    cc_buf b;
    cc_buf_init(&b);
    jw_str(&b, "x\ty");
    assert_string_equal(b.data, "\"x\\ty\"");
    cc_buf_free(&b);
}

static void test_jw_utf8(void **state)
{
    (void)state;
    /* Valid sequences of 2, 3 and 4 bytes pass through unchanged. */
    const char *valid[] = {"\xc3\xa9",     "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                           "\xed\x9f\xbf", "\xee\x80\x80", "\xc2\x80"};
    char want[64];
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        snprintf(want, sizeof want, "\"%s\"", valid[i]);
        assert_string_equal(jw_of(valid[i], strlen(valid[i])), want);
    }
#define FFFD "\xef\xbf\xbd"
    /* Stray continuation bytes, invalid lead bytes, overlong forms, surrogates, code
     * points over U+10FFFF and truncated sequences: each bad byte becomes U+FFFD. */
    assert_string_equal(jw_of("\x80", 1), "\"" FFFD "\"");
    assert_string_equal(jw_of("\xff", 1), "\"" FFFD "\"");
    assert_string_equal(jw_of("a\xfe"
                              "b",
                              3),
                        "\"a" FFFD "b\"");
    assert_string_equal(jw_of("\xc0\x80", 2), "\"" FFFD FFFD "\"");
    assert_string_equal(jw_of("\xc1\xbf", 2), "\"" FFFD FFFD "\"");
    assert_string_equal(jw_of("\xe0\x80\x80", 3), "\"" FFFD FFFD FFFD "\"");
    assert_string_equal(jw_of("\xed\xa0\x80", 3), "\"" FFFD FFFD FFFD "\"");
    assert_string_equal(jw_of("\xf0\x80\x80\x80", 4), "\"" FFFD FFFD FFFD FFFD "\"");
    assert_string_equal(jw_of("\xf4\x90\x80\x80", 4), "\"" FFFD FFFD FFFD FFFD "\"");
    assert_string_equal(jw_of("\xf5\x80", 2), "\"" FFFD FFFD "\"");
    assert_string_equal(jw_of("\xe2\x82", 2), "\"" FFFD FFFD "\"");
    assert_string_equal(jw_of("\xc3", 1), "\"" FFFD "\"");
    assert_string_equal(jw_of("\xc3"
                              "A",
                              2),
                        "\"" FFFD "A\"");
    /* Truncation must look at n, not at a NUL: "\xe2\x82\xac" cut to 2 bytes. */
    assert_string_equal(jw_of("\xe2\x82\xac", 2), "\"" FFFD FFFD "\"");
#undef FFFD
    /* Whatever goes in, the output is valid JSON that jansson accepts. */
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(255 - i);
    cc_buf b;
    cc_buf_init(&b);
    jw_strn(&b, (const char *)bytes, sizeof bytes);
    json_error_t e;
    json_t *v = json_loads(b.data, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    assert_non_null(v);
    assert_true(json_is_string(v));
    json_decref(v);
    cc_buf_free(&b);
}

static void test_jw_message(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    jw_open_message(&b, "EventTest");
    jw_kv_str(&b, "s", "v\"");
    jw_kv_int(&b, "neg", -5);
    jw_kv_int(&b, "max", INT64_MAX);
    jw_kv_int(&b, "min", INT64_MIN);
    jw_kv_bool(&b, "t", true);
    jw_kv_bool(&b, "f", false);
    jw_key(&b, "obj");
    cc_buf_putc(&b, '{');
    jw_kv_int(&b, "a", 1);
    jw_kv_int(&b, "b", 2);
    cc_buf_putc(&b, '}');
    assert_string_equal(b.data, "{\"message\":\"EventTest\",\"s\":\"v\\\"\",\"neg\":-5,"
                                "\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                                "\"t\":true,\"f\":false,\"obj\":{\"a\":1,\"b\":2}");
    /* Open: the connection closes it; closed, it is valid JSON. */
    cc_buf_putc(&b, '}');
    json_error_t e;
    json_t *v = json_loadb(b.data, b.len, 0, &e);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "min")), INT64_MIN);
    assert_true(json_is_true(json_object_get(v, "t")));
    json_decref(v);
    cc_buf_free(&b);
}

/* ---- msg: parsing ----------------------------------------------------------------- */

static int parse(proto_msg *m, const char *s)
{
    return proto_msg_parse(m, s, strlen(s));
}

static void test_msg_parse_errors(void **state)
{
    (void)state;
    proto_msg m;
    static const char *const not_json[] = {
        "", "nope", "{", "{\"message\":}", "{\"a\":1}x", "{\"message\":\"X\",}"};
    for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++) {
        assert_int_equal(parse(&m, not_json[i]), CC_E_INVALID_MESSAGE);
        assert_non_null(strstr(m.desc, "JSON"));
        assert_null(m.name);
        proto_msg_free(&m);
    }
    static const char *const not_object[] = {"[1,2]", "[]"};
    for (size_t i = 0; i < sizeof not_object / sizeof not_object[0]; i++) {
        assert_int_equal(parse(&m, not_object[i]), CC_E_INVALID_MESSAGE);
        assert_string_equal(m.desc, "not a JSON object");
        proto_msg_free(&m);
    }
    /* Scalars are not objects either, whichever description they get. */
    static const char *const scalars[] = {"3", "\"RequestPing\"", "null", "true"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        assert_int_equal(parse(&m, scalars[i]), CC_E_INVALID_MESSAGE);
        assert_null(m.name);
        proto_msg_free(&m);
    }
    static const char *const no_message[] = {"{}", "{\"message\":5}", "{\"message\":null}",
                                             "{\"Message\":\"RequestPing\"}",
                                             "{\"message\":[\"RequestPing\"]}"};
    for (size_t i = 0; i < sizeof no_message / sizeof no_message[0]; i++) {
        assert_int_equal(parse(&m, no_message[i]), CC_E_INVALID_MESSAGE);
        assert_non_null(strstr(m.desc, "message"));
        assert_null(m.name);
        proto_msg_free(&m);
    }
    /* A valid referenceId is still reported when "message" is missing, so the error can
     * carry it. */
    assert_int_equal(parse(&m, "{\"referenceId\":7}"), CC_E_INVALID_MESSAGE);
    assert_int_equal(m.ref, 7);
    assert_true(m.ref_present);
    proto_msg_free(&m);
    /* Freeing twice, or a zeroed message, is safe. */
    proto_msg_free(&m);
    memset(&m, 0, sizeof m);
    proto_msg_free(&m);
    /* A key given twice is refused at any depth, also when both values are equal: which
     * one a receiver acts on would otherwise depend on its parser. */
    static const char *const dup_keys[] = {
        "{\"message\":\"RequestPing\",\"message\":\"RequestPing\"}",
        "{\"message\":\"RequestPing\",\"referenceId\":1,\"referenceId\":2}",
        "{\"message\":\"RequestSubmit\",\"userData\":{\"a\":1,\"a\":2}}",
        "{\"message\":\"RequestX\",\"list\":[{\"k\":1,\"k\":1}]}"};
    for (size_t i = 0; i < sizeof dup_keys / sizeof dup_keys[0]; i++) {
        assert_int_equal(parse(&m, dup_keys[i]), CC_E_INVALID_MESSAGE);
        assert_string_equal(m.desc, "not valid JSON: a key appears twice");
        assert_null(m.name);
        proto_msg_free(&m);
    }
    /* The same key in two different objects is no duplicate. */
    assert_int_equal(parse(&m, "{\"message\":\"RequestX\",\"a\":{\"a\":{\"a\":1}}}"), 0);
    proto_msg_free(&m);
    /* Embedded NUL in the input is not valid JSON. */
    assert_int_equal(proto_msg_parse(&m, "{\"message\":\"a\"}\0", 16), CC_E_INVALID_MESSAGE);
    proto_msg_free(&m);
}

static void test_msg_parse_ok(void **state)
{
    (void)state;
    proto_msg m;
    /* Only len bytes count: the rest of the buffer is the next line. */
    const char *two = "{\"message\":\"RequestPing\",\"referenceId\":3,\"extra\":[1]}\n{";
    assert_int_equal(proto_msg_parse(&m, two, strlen(two) - 2), 0);
    assert_string_equal(m.name, "RequestPing");
    assert_int_equal(m.ref, 3);
    assert_true(m.ref_present);
    assert_true(proto_msg_is_request(&m));
    assert_int_equal(proto_msg_check_ref(&m), 0);
    proto_msg_free(&m);

    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"seq\":1}"), 0);
    assert_false(proto_msg_is_request(&m));
    assert_int_equal(m.ref, 0);
    assert_false(m.ref_present);
    proto_msg_free(&m);

    assert_int_equal(parse(&m, "{\"message\":\"Requester\"}"), 0);
    assert_true(proto_msg_is_request(&m));
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"Reques\"}"), 0);
    assert_false(proto_msg_is_request(&m));
    proto_msg_free(&m);
}

static void test_msg_reference_id(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int64_t ref;
        bool present;
        int check;
    } cases[] = {
        {"{\"message\":\"RequestX\"}", 0, false, CC_E_INVALID_ATTRIBUTE},
        {"{\"message\":\"RequestX\",\"referenceId\":1}", 1, true, 0},
        {"{\"message\":\"RequestX\",\"referenceId\":9007199254740993}", 9007199254740993LL, true,
         0},
        {"{\"message\":\"RequestX\",\"referenceId\":0}", 0, true, CC_E_INVALID_ATTRIBUTE},
        {"{\"message\":\"RequestX\",\"referenceId\":-4}", 0, true, CC_E_INVALID_ATTRIBUTE},
        {"{\"message\":\"RequestX\",\"referenceId\":\"5\"}", 0, true, CC_E_INVALID_ATTRIBUTE},
        {"{\"message\":\"RequestX\",\"referenceId\":2.0}", 0, true, CC_E_INVALID_ATTRIBUTE},
        {"{\"message\":\"RequestX\",\"referenceId\":null}", 0, true, CC_E_INVALID_ATTRIBUTE},
        {"{\"message\":\"RequestX\",\"referenceId\":true}", 0, true, CC_E_INVALID_ATTRIBUTE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_msg m;
        assert_int_equal(parse(&m, cases[i].json), 0);
        assert_int_equal(m.ref, cases[i].ref);
        assert_int_equal(m.ref_present, cases[i].present);
        assert_int_equal(proto_msg_check_ref(&m), cases[i].check);
        if (cases[i].check)
            assert_non_null(strstr(m.desc, "referenceId"));
        proto_msg_free(&m);
    }
}

/* ---- msg: getters ------------------------------------------------------------------ */

/* Asserts that a getter failed with code 3 and a description that names field. */
static void assert_attr_error(int rc, const proto_msg *m, const char *field)
{
    assert_int_equal(rc, CC_E_INVALID_ATTRIBUTE);
    if (strstr(m->desc, field) == NULL)
        fail_msg("description \"%s\" does not name %s", m->desc, field);
}

static void test_get_str_and_id(void **state)
{
    (void)state;
    char long_id[PROTO_ID_MAX + 2];
    memset(long_id, 'i', sizeof long_id);
    long_id[PROTO_ID_MAX + 1] = '\0';
    char json[1024];
    snprintf(json, sizeof json,
             "{\"message\":\"RequestX\",\"s\":\"text\",\"n\":5,\"nul\":null,\"e\":\"\","
             "\"ctl\":\"a\\tb\",\"del\":\"a\\u007fb\",\"long\":\"%s\",\"max\":\"%.*s\"}",
             long_id, PROTO_ID_MAX, long_id);
    proto_msg m;
    assert_int_equal(parse(&m, json), 0);
    const char *out = "unset";

    assert_int_equal(proto_get_str(&m, "s", true, 10, &out), 0);
    assert_string_equal(out, "text");
    assert_attr_error(proto_get_str(&m, "s", true, 3, &out), &m, "s is too long");
    assert_null(out);
    assert_attr_error(proto_get_str(&m, "absent", true, 10, &out), &m, "absent is missing");
    assert_int_equal(proto_get_str(&m, "absent", false, 10, &out), 0);
    assert_null(out);
    /* null counts as absent. */
    assert_int_equal(proto_get_str(&m, "nul", false, 10, &out), 0);
    assert_null(out);
    assert_attr_error(proto_get_str(&m, "nul", true, 10, &out), &m, "nul");
    assert_attr_error(proto_get_str(&m, "n", false, 10, &out), &m, "n must be a string");

    assert_int_equal(proto_get_id(&m, "max", true, &out), 0);
    assert_int_equal(strlen(out), PROTO_ID_MAX);
    assert_attr_error(proto_get_id(&m, "long", true, &out), &m, "long");
    assert_attr_error(proto_get_id(&m, "e", true, &out), &m, "e must not be empty");
    assert_attr_error(proto_get_id(&m, "e", false, &out), &m, "e must not be empty");
    assert_attr_error(proto_get_id(&m, "ctl", true, &out), &m, "ctl");
    assert_attr_error(proto_get_id(&m, "del", true, &out), &m, "del");
    assert_attr_error(proto_get_id(&m, "n", true, &out), &m, "n");
    assert_attr_error(proto_get_id(&m, "tenant", true, &out), &m, "tenant");
    assert_int_equal(proto_get_id(&m, "tenant", false, &out), 0);
    assert_null(out);
    proto_msg_free(&m);
}

static void test_get_int_and_flag(void **state)
{
    (void)state;
    proto_msg m;
    assert_int_equal(parse(&m, "{\"message\":\"RequestX\",\"i\":7,\"neg\":-1,\"f\":1.5,"
                               "\"s\":\"7\",\"nul\":null,\"t\":true,\"no\":false,\"one\":1,"
                               "\"zero\":0,\"two\":2,\"yes\":\"yes\"}"),
                     0);
    int64_t i = 99;
    assert_int_equal(proto_get_int(&m, "i", true, 0, 10, &i), 0);
    assert_int_equal(i, 7);
    assert_attr_error(proto_get_int(&m, "i", true, 0, 6, &i), &m, "i is out of range");
    assert_attr_error(proto_get_int(&m, "i", true, 8, 10, &i), &m, "i is out of range");
    assert_int_equal(i, 7);
    assert_attr_error(proto_get_int(&m, "neg", true, 0, 10, &i), &m, "neg");
    assert_attr_error(proto_get_int(&m, "f", true, 0, 10, &i), &m, "f must be an integer");
    assert_attr_error(proto_get_int(&m, "s", true, 0, 10, &i), &m, "s must be an integer");
    assert_attr_error(proto_get_int(&m, "nul", false, 0, 10, &i), &m, "nul");
    assert_attr_error(proto_get_int(&m, "absent", true, 0, 10, &i), &m, "absent is missing");
    i = 42;
    assert_int_equal(proto_get_int(&m, "absent", false, 0, 10, &i), 0);
    assert_int_equal(i, 42);

    bool b = false;
    assert_int_equal(proto_get_flag(&m, "t", true, &b), 0);
    assert_true(b);
    assert_int_equal(proto_get_flag(&m, "no", true, &b), 0);
    assert_false(b);
    assert_int_equal(proto_get_flag(&m, "one", true, &b), 0);
    assert_true(b);
    assert_int_equal(proto_get_flag(&m, "zero", true, &b), 0);
    assert_false(b);
    assert_attr_error(proto_get_flag(&m, "two", true, &b), &m, "two must be 0 or 1");
    assert_attr_error(proto_get_flag(&m, "yes", true, &b), &m, "yes");
    assert_attr_error(proto_get_flag(&m, "f", true, &b), &m, "f");
    assert_attr_error(proto_get_flag(&m, "absent", true, &b), &m, "absent is missing");
    b = true;
    assert_int_equal(proto_get_flag(&m, "absent", false, &b), 0);
    assert_true(b);
    proto_msg_free(&m);
}

static void test_get_object_array_reason(void **state)
{
    (void)state;
    char long_text[PROTO_TEXT_MAX + 2];
    memset(long_text, 't', sizeof long_text);
    long_text[PROTO_TEXT_MAX + 1] = '\0';
    char long_id[PROTO_ID_MAX + 2];
    memset(long_id, 'i', sizeof long_id);
    long_id[PROTO_ID_MAX + 1] = '\0';
    static char json[4096];
    snprintf(json, sizeof json,
             "{\"message\":\"RequestX\",\"o\":{\"a\":1},\"arr\":[1],\"ids\":[\"a\",\"b\"],"
             "\"noids\":[],\"badids\":[\"a\",2],\"ctlids\":[\"a\",\"b\\nc\"],\"emptyid\":[\"\"],"
             "\"longid\":[\"%s\"],"
             "\"r\":{\"code\":3,\"description\":\"Lunch\"},\"r0\":{},\"rs\":\"Lunch\","
             "\"rneg\":{\"code\":-1},\"rbig\":{\"code\":2147483648},"
             "\"rcs\":{\"code\":\"3\"},\"rds\":{\"description\":5},"
             "\"rlong\":{\"description\":\"%s\"},\"rnul\":null}",
             long_id, long_text);
    proto_msg m;
    assert_int_equal(parse(&m, json), 0);
    json_t *o = NULL;
    assert_int_equal(proto_get_object(&m, "o", true, &o), 0);
    assert_non_null(o);
    assert_true(json_is_object(o));
    assert_attr_error(proto_get_object(&m, "arr", true, &o), &m, "arr must be an object");
    assert_null(o);
    assert_attr_error(proto_get_object(&m, "absent", true, &o), &m, "absent is missing");
    assert_int_equal(proto_get_object(&m, "absent", false, &o), 0);
    assert_null(o);

    json_t *a = NULL;
    assert_int_equal(proto_get_id_array(&m, "ids", true, &a), 0);
    assert_int_equal(json_array_size(a), 2);
    assert_int_equal(proto_get_id_array(&m, "noids", true, &a), 0);
    assert_int_equal(json_array_size(a), 0);
    assert_attr_error(proto_get_id_array(&m, "o", true, &a), &m, "o");
    assert_attr_error(proto_get_id_array(&m, "badids", true, &a), &m, "badids");
    assert_attr_error(proto_get_id_array(&m, "emptyid", true, &a), &m, "emptyid");
    assert_attr_error(proto_get_id_array(&m, "ctlids", true, &a), &m, "ctlids");
    assert_attr_error(proto_get_id_array(&m, "longid", true, &a), &m, "longid");
    assert_attr_error(proto_get_id_array(&m, "tenants", true, &a), &m, "tenants is missing");
    assert_int_equal(proto_get_id_array(&m, "tenants", false, &a), 0);
    assert_null(a);

    bool present = true;
    int64_t code = -7;
    const char *desc = "x";
    assert_int_equal(proto_get_reason(&m, "r", &present, &code, &desc), 0);
    assert_true(present);
    assert_int_equal(code, 3);
    assert_string_equal(desc, "Lunch");
    assert_int_equal(proto_get_reason(&m, "r0", &present, &code, &desc), 0);
    assert_true(present);
    assert_int_equal(code, 0);
    assert_null(desc);
    assert_int_equal(proto_get_reason(&m, "absent", &present, &code, &desc), 0);
    assert_false(present);
    assert_int_equal(proto_get_reason(&m, "rnul", &present, &code, &desc), 0);
    assert_false(present);
    assert_attr_error(proto_get_reason(&m, "rs", &present, &code, &desc), &m, "rs");
    assert_attr_error(proto_get_reason(&m, "rneg", &present, &code, &desc), &m, "rneg.code");
    assert_attr_error(proto_get_reason(&m, "rbig", &present, &code, &desc), &m, "rbig.code");
    assert_attr_error(proto_get_reason(&m, "rcs", &present, &code, &desc), &m, "rcs.code");
    assert_attr_error(proto_get_reason(&m, "rds", &present, &code, &desc), &m, "rds.description");
    assert_attr_error(proto_get_reason(&m, "rlong", &present, &code, &desc), &m,
                      "rlong.description");
    proto_msg_free(&m);
}

/* ---- msg: encoders and decoders ------------------------------------------------------ */

/* Closes an open message as a connection would and parses it. */
static json_t *close_and_load(const cc_buf *open, const char *tail)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_append(&b, open->data, open->len);
    cc_buf_puts(&b, tail);
    json_error_t e;
    json_t *v = json_loadb(b.data, b.len, 0, &e);
    if (!v)
        fail_msg("not JSON: %s (%s)", b.data, e.text);
    cc_buf_free(&b);
    return v;
}

static void test_enc_ack_error(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_ack(&b, 12);
    assert_string_equal(b.data, "{\"message\":\"EventAck\",\"referenceId\":12");
    json_t *v = close_and_load(&b, ",\"seq\":1}");
    assert_int_equal(json_integer_value(json_object_get(v, "seq")), 1);
    json_decref(v);

    cc_buf_reset(&b);
    proto_enc_error(&b, 5, CC_E_UNKNOWN_MEDIA, "media \"fax\" is not configured");
    v = close_and_load(&b, "}");
    assert_string_equal(json_string_value(json_object_get(v, "message")), "EventError");
    assert_int_equal(json_integer_value(json_object_get(v, "referenceId")), 5);
    assert_int_equal(json_integer_value(json_object_get(v, "errorCode")), 8);
    assert_string_equal(json_string_value(json_object_get(v, "errorName")), "UnknownMedia");
    assert_string_equal(json_string_value(json_object_get(v, "errorDescription")),
                        "media \"fax\" is not configured");
    json_decref(v);

    /* No referenceId: the field is absent, not 0. */
    cc_buf_reset(&b);
    proto_enc_error(&b, 0, CC_E_INVALID_MESSAGE, NULL);
    v = close_and_load(&b, "}");
    assert_null(json_object_get(v, "referenceId"));
    assert_int_equal(json_integer_value(json_object_get(v, "errorCode")), 1);
    assert_string_equal(json_string_value(json_object_get(v, "errorDescription")), "");
    json_decref(v);

    /* Internal errors travel as Unavailable. */
    cc_buf_reset(&b);
    proto_enc_error(&b, 9, CC_E_IO, "disk");
    v = close_and_load(&b, "}");
    assert_int_equal(json_integer_value(json_object_get(v, "errorCode")), 14);
    assert_string_equal(json_string_value(json_object_get(v, "errorName")), "Unavailable");
    json_decref(v);
    cc_buf_free(&b);

    assert_string_equal(cc_ixn_state_name(CC_IXN_INVITED), "Invited");
    assert_string_equal(cc_ixn_state_name(CC_IXN_HANDLING), "Handling");
    assert_string_equal(cc_ixn_state_name(CC_IXN_AFTER_WORK), "AfterWork");
}

static const char agent_state_json[] =
    "{\"message\":\"EventPlaceAgentState\",\"serverName\":\"ixn-a\",\"cause\":\"PartyAdded\","
    "\"tenant\":\"Resources\",\"agentId\":\"1001\",\"placeId\":\"P1001\",\"version\":42,"
    "\"loggedIn\":true,\"dnd\":false,"
    "\"media\":{\"chat\":{\"ready\":true,\"reason\":null},"
    "\"email\":{\"ready\":false,\"reason\":{\"code\":3,\"description\":\"Lunch\"}}},"
    "\"interactions\":[{\"interactionId\":\"ixn-a:1\",\"media\":\"chat\",\"state\":\"Handling\"},"
    "{\"interactionId\":\"ixn-a:2\",\"media\":\"chat\",\"state\":\"Handling\"},"
    "{\"interactionId\":\"ixn-a:3\",\"media\":\"chat\",\"state\":\"Invited\"},"
    "{\"interactionId\":\"ixn-a:4\",\"media\":\"voice\",\"state\":\"AfterWork\"}],"
    "\"seq\":311}";

static void test_decode_agent_state(void **state)
{
    (void)state;
    cc_media_table media;
    cc_media_init(&media);
    assert_int_equal(cc_media_intern(&media, "voice", 5), 0);
    proto_msg m;
    assert_int_equal(parse(&m, agent_state_json), 0);
    proto_agent_state st;
    assert_int_equal(proto_decode_agent_state(&m, &media, &st, NULL, 0), 0);
    assert_string_equal(st.server_name, "ixn-a");
    assert_string_equal(st.cause, "PartyAdded");
    assert_string_equal(st.tenant, "Resources");
    assert_string_equal(st.agent_id, "1001");
    assert_string_equal(st.place_id, "P1001");
    assert_int_equal(st.version, 42);
    assert_true(st.logged_in);
    assert_false(st.dnd);
    int chat = cc_media_find(&media, "chat", 4);
    int email = cc_media_find(&media, "email", 5);
    assert_true(chat > 0 && email > 0);
    assert_int_equal(st.added, ((cc_media_mask)1 << chat) | ((cc_media_mask)1 << email));
    assert_int_equal(st.ready, (cc_media_mask)1 << chat);
    assert_int_equal(st.counts[CC_IXN_HANDLING][chat], 2);
    assert_int_equal(st.counts[CC_IXN_INVITED][chat], 1);
    assert_int_equal(st.counts[CC_IXN_AFTER_WORK][chat], 0);
    /* Voice is held (after work) without being added. */
    assert_int_equal(st.counts[CC_IXN_AFTER_WORK][0], 1);
    assert_int_equal(st.counts[CC_IXN_HANDLING][email], 0);
    proto_msg_free(&m);

    /* A logout: no media, no interactions. */
    assert_int_equal(parse(&m, "{\"message\":\"EventPlaceAgentState\",\"tenant\":\"T\","
                               "\"agentId\":\"A\",\"version\":43,\"loggedIn\":false}"),
                     0);
    assert_int_equal(proto_decode_agent_state(&m, &media, &st, NULL, 0), 0);
    assert_false(st.logged_in);
    assert_null(st.place_id);
    assert_int_equal(st.added, 0);
    proto_msg_free(&m);
}

static void test_decode_agent_state_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body; /* fields after "message" */
        const char *field;
    } cases[] = {
        {",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true", "tenant"},
        {",\"tenant\":\"T\",\"version\":1,\"loggedIn\":true", "agentId"},
        {",\"tenant\":\"\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true", "tenant"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"loggedIn\":true", "version"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":-1,\"loggedIn\":true", "version"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1", "loggedIn"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,\"dnd\":3", "dnd"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,\"media\":[]",
         "media"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,"
         "\"media\":{\"Bad Name\":{\"ready\":true}}",
         "media"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,"
         "\"interactions\":{}",
         "interactions"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,"
         "\"interactions\":[{\"media\":\"chat\"}]",
         "interactions"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,"
         "\"interactions\":[5]",
         "interactions"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,"
         "\"interactions\":[{\"media\":\"chat\",\"state\":\"Ringing\"}]",
         "interactions"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,"
         "\"interactions\":[{\"media\":\"-x\",\"state\":\"Handling\"}]",
         "interactions"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"message\":\"EventPlaceAgentState\"%s}", cases[i].body);
        cc_media_table media;
        cc_media_init(&media);
        proto_msg m;
        assert_int_equal(parse(&m, json), 0);
        proto_agent_state st;
        assert_attr_error(proto_decode_agent_state(&m, &media, &st, NULL, 0), &m, cases[i].field);
        proto_msg_free(&m);
    }

    /* A full media table makes a new name an error rather than a silent drop. */
    cc_media_table media;
    cc_media_init(&media);
    char name[8];
    for (int i = 0; i < CC_MEDIA_MAX; i++) {
        int n = snprintf(name, sizeof name, "m%d", i);
        assert_int_equal(cc_media_intern(&media, name, (size_t)n), i);
    }
    proto_msg m;
    assert_int_equal(parse(&m, "{\"message\":\"EventPlaceAgentState\",\"tenant\":\"T\","
                               "\"agentId\":\"A\",\"version\":1,\"loggedIn\":true,"
                               "\"media\":{\"m63\":{\"ready\":true},\"fresh\":{}}}"),
                     0);
    proto_agent_state st;
    assert_attr_error(proto_decode_agent_state(&m, &media, &st, NULL, 0), &m, "media");
    proto_msg_free(&m);
}

static void test_status_round_trip(void **state)
{
    (void)state;
    cc_media_table media;
    cc_media_init(&media);
    cc_media_intern(&media, "voice", 5);
    cc_media_intern(&media, "chat", 4);
    cc_media_intern(&media, "email", 5);
    cc_media_intern(&media, "sms", 3);

    proto_agent_status st;
    memset(&st, 0, sizeof st);
    st.tenant = "Resources";
    st.agent_id = "10\"01";
    st.place_id = "P1001";
    st.rule = "Blended";
    st.logged_in = true;
    st.dnd = false;
    st.media = (1u << 1) | (1u << 2) | (1u << 0);
    st.ready[0] = true;
    st.current[0] = 0;
    st.max[0] = 0;
    st.available[0] = 0;
    st.ready[1] = true;
    st.current[1] = 1;
    st.max[1] = 3;
    st.available[1] = 2;
    st.ready[2] = false;
    st.current[2] = 0;
    st.max[2] = 255;
    st.available[2] = 0;

    cc_buf b;
    cc_buf_init(&b);
    proto_enc_status(&b, &st, &media);
    /* Open, without a version: the sender appends it per target. */
    assert_int_not_equal(b.data[b.len - 1], '\n');
    assert_null(strstr(b.data, "version"));
    assert_null(strstr(b.data, "sms"));
    /* Media in id order. */
    char *pv = strstr(b.data, "\"voice\""), *pc = strstr(b.data, "\"chat\""),
         *pe = strstr(b.data, "\"email\"");
    assert_true(pv && pc && pe && pv < pc && pc < pe);
    cc_buf_puts(&b, ",\"version\":42,\"seq\":9}");

    /* Decode into a table that knows the media in another order. */
    cc_media_table other;
    cc_media_init(&other);
    cc_media_intern(&other, "email", 5);
    cc_media_intern(&other, "chat", 4);
    proto_msg m;
    assert_int_equal(proto_msg_parse(&m, b.data, b.len), 0);
    assert_string_equal(m.name, "EventCurrentAgentStatus");
    proto_agent_status got;
    assert_int_equal(proto_decode_status(&m, &other, true, &got), 0);
    assert_string_equal(got.tenant, "Resources");
    assert_string_equal(got.agent_id, "10\"01");
    assert_string_equal(got.place_id, "P1001");
    assert_string_equal(got.rule, "Blended");
    assert_int_equal(got.version, 42);
    assert_true(got.logged_in);
    assert_false(got.dnd);
    int voice = cc_media_find(&other, "voice", 5);
    assert_int_equal(voice, 2);
    assert_int_equal(got.media, 7);
    assert_true(got.ready[1]);
    assert_int_equal(got.current[1], 1);
    assert_int_equal(got.max[1], 3);
    assert_int_equal(got.available[1], 2);
    assert_false(got.ready[0]);
    assert_int_equal(got.max[0], 255);
    assert_true(got.ready[voice]);
    assert_int_equal(got.max[voice], 0);
    proto_msg_free(&m);

    /* Without interning, media the table does not know are skipped. */
    cc_media_table small;
    cc_media_init(&small);
    cc_media_intern(&small, "chat", 4);
    assert_int_equal(proto_msg_parse(&m, b.data, b.len), 0);
    assert_int_equal(proto_decode_status(&m, &small, false, &got), 0);
    assert_int_equal(small.count, 1);
    assert_int_equal(got.media, 1);
    assert_int_equal(got.available[0], 2);
    proto_msg_free(&m);

    /* An agent not logged in: no media at all, no place, no rule, version 0. */
    memset(&st, 0, sizeof st);
    st.tenant = "T";
    st.agent_id = "A";
    cc_buf_reset(&b);
    proto_enc_status(&b, &st, &media);
    cc_buf_putc(&b, '}');
    assert_int_equal(proto_msg_parse(&m, b.data, b.len), 0);
    assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
    assert_false(got.logged_in);
    assert_null(got.place_id);
    assert_null(got.rule);
    assert_int_equal(got.version, 0);
    assert_int_equal(got.media, 0);
    json_t *mo = json_object_get(m.root, "media");
    assert_true(json_is_object(mo));
    assert_int_equal(json_object_size(mo), 0);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_decode_status_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *field;
    } cases[] = {
        {",\"agentId\":\"A\"", "tenant"},
        {",\"tenant\":\"T\"", "agentId"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"version\":\"1\"", "version"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"loggedIn\":\"yes\"", "loggedIn"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":5", "media"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":{\"chat\":1}", "media"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":{\"chat\":{\"ready\":true}}", "media"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":{\"chat\":{\"ready\":true,"
         "\"current\":-1,\"max\":1,\"available\":1}}",
         "media"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":{\"chat\":{\"ready\":true,"
         "\"current\":0,\"max\":1,\"available\":1e3}}",
         "media"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":{\"Chat\":{\"ready\":true,"
         "\"current\":0,\"max\":1,\"available\":1}}",
         "media"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"message\":\"EventCurrentAgentStatus\"%s}", cases[i].body);
        cc_media_table media;
        cc_media_init(&media);
        proto_msg m;
        assert_int_equal(parse(&m, json), 0);
        proto_agent_status st;
        assert_attr_error(proto_decode_status(&m, &media, true, &st), &m, cases[i].field);
        proto_msg_free(&m);
    }
}

/* The reason and since of each media come after its counts, and only when given. */
static void test_status_reason_since(void **state)
{
    (void)state;
    cc_media_table media;
    cc_media_init(&media);
    cc_media_intern(&media, "chat", 4);
    cc_media_intern(&media, "voice", 5);
    proto_agent_status st;
    memset(&st, 0, sizeof st);
    st.tenant = "T";
    st.agent_id = "A";
    st.logged_in = true;
    st.media = 3;
    st.max[0] = 2;
    st.reasons[0] = (proto_reason){true, 3, "Lunch \"long\""};
    st.since[0] = 1764999000123;
    st.ready[1] = true;
    st.max[1] = 1;
    st.available[1] = 1;
    st.since[1] = 1;
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_status(&b, &st, &media);
    const char *chat = strstr(b.data, "\"chat\":{\"ready\":false,\"current\":0,\"max\":2,"
                                      "\"available\":0,\"reason\":{\"code\":3,\"description\":"
                                      "\"Lunch \\\"long\\\"\"},\"since\":1764999000123}");
    assert_non_null(chat);
    assert_non_null(strstr(b.data, "\"voice\":{\"ready\":true,\"current\":0,\"max\":1,"
                                   "\"available\":1,\"since\":1}"));
    cc_buf_putc(&b, '}');
    proto_msg m;
    assert_int_equal(proto_msg_parse(&m, b.data, b.len), 0);
    proto_agent_status got;
    assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
    assert_true(got.reasons[0].present);
    assert_int_equal(got.reasons[0].code, 3);
    assert_string_equal(got.reasons[0].description, "Lunch \"long\"");
    assert_int_equal(got.since[0], 1764999000123);
    assert_false(got.reasons[1].present);
    assert_int_equal(got.since[1], 1);
    proto_msg_free(&m);

    /* A reason without a description, and no since: left out, read back as 0. */
    st.reasons[0] = (proto_reason){true, 0, NULL};
    st.since[0] = 0;
    cc_buf_reset(&b);
    proto_enc_status(&b, &st, &media);
    assert_non_null(strstr(b.data, "\"reason\":{\"code\":0,\"description\":null}}"));
    cc_buf_putc(&b, '}');
    assert_int_equal(proto_msg_parse(&m, b.data, b.len), 0);
    assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
    assert_true(got.reasons[0].present);
    assert_null(got.reasons[0].description);
    assert_int_equal(got.since[0], 0);
    proto_msg_free(&m);
    cc_buf_free(&b);

    /* A description of exactly PROTO_TEXT_MAX bytes is taken; one byte more is not. */
    for (int extra = 0; extra <= 1; extra++) {
        char *json = malloc(PROTO_TEXT_MAX + 512);
        char *d = malloc(PROTO_TEXT_MAX + 2);
        memset(d, 'd', PROTO_TEXT_MAX + 1);
        d[PROTO_TEXT_MAX + extra] = '\0';
        snprintf(json, PROTO_TEXT_MAX + 512,
                 "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"A\","
                 "\"media\":{\"chat\":{\"ready\":false,\"current\":0,\"max\":1,\"available\":0,"
                 "\"reason\":{\"code\":1,\"description\":\"%s\"}}}}",
                 d);
        assert_int_equal(parse(&m, json), 0);
        if (extra)
            assert_attr_error(proto_decode_status(&m, &media, false, &got), &m,
                              "media.reason.description");
        else
            assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
        proto_msg_free(&m);
        free(d);
        free(json);
    }
}

static void test_decode_status_reason_errors(void **state)
{
    (void)state;
    static const struct {
        const char *entry;
        const char *field;
    } cases[] = {
        {"\"reason\":3", "media.reason"},
        {"\"reason\":{\"code\":\"3\"}", "media.reason.code"},
        {"\"reason\":{\"code\":1.5}", "media.reason.code"},
        {"\"reason\":{\"code\":1,\"description\":7}", "media.reason.description"},
        {"\"since\":-1", "media.since"},
        {"\"since\":\"1\"", "media.since"},
        {"\"since\":1.5", "media.since"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"A\","
                 "\"media\":{\"chat\":{\"ready\":false,\"current\":0,\"max\":1,\"available\":0,"
                 "%s}}}",
                 cases[i].entry);
        cc_media_table media;
        cc_media_init(&media);
        proto_msg m;
        assert_int_equal(parse(&m, json), 0);
        proto_agent_status st;
        assert_attr_error(proto_decode_status(&m, &media, true, &st), &m, cases[i].field);
        proto_msg_free(&m);
    }
    /* null for either is the same as absent; since 0 is the lowest taken. */
    const char *ok = "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"A\","
                     "\"media\":{\"chat\":{\"ready\":false,\"current\":0,\"max\":1,"
                     "\"available\":0,\"reason\":null,\"since\":0}}}";
    cc_media_table media;
    cc_media_init(&media);
    proto_msg m;
    assert_int_equal(parse(&m, ok), 0);
    proto_agent_status st;
    assert_int_equal(proto_decode_status(&m, &media, true, &st), 0);
    assert_false(st.reasons[0].present);
    assert_int_equal(st.since[0], 0);
    proto_msg_free(&m);
}

/* /wallboard-config.json: valid JSON with the servers and the service-level settings,
 * and no queue (those are a tenant's, asked for with RequestQueueList). */
static void test_wb_config(void **state)
{
    (void)state;
    static const char *const servers[] = {"ixn-a", "ixn\"b"};
    proto_stat_wb_config c = {"stat", servers, 2, 80, 20};
    cc_buf b;
    cc_buf_init(&b);
    proto_stat_enc_wb_config(&b, &c);
    json_error_t err;
    json_t *root = json_loadb(b.data, b.len, 0, &err);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "serverName")), "stat");
    json_t *sv = json_object_get(root, "servers");
    assert_int_equal(json_array_size(sv), 2);
    assert_string_equal(json_string_value(json_array_get(sv, 1)), "ixn\"b");
    assert_int_equal(json_integer_value(json_object_get(root, "serviceLevelTarget")), 80);
    assert_int_equal(json_integer_value(json_object_get(root, "serviceLevelThreshold")), 20);
    assert_null(json_object_get(root, "queues"));
    json_decref(root);
    cc_buf_free(&b);
}

static void reparse(cc_buf *b, proto_msg *m);

/* RequestQueueList and its answer: media only when known; a bad row is refused alone. */
static void test_queue_list(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m;
    proto_stat_enc_queue_list(&b);
    assert_string_equal(b.data, "{\"message\":\"RequestQueueList\"");
    cc_buf_reset(&b);
    proto_enc_ack(&b, 3);
    proto_stat_enc_queues_begin(&b);
    proto_stat_enc_queue_row(&b, &(proto_stat_queue){"ixn-a", "acme", "chat-sales", "chat"});
    proto_stat_enc_queue_row(&b, &(proto_stat_queue){"ixn\"b", "acme", "q2", NULL});
    proto_stat_enc_queues_end(&b);
    assert_string_equal(b.data, "{\"message\":\"EventAck\",\"referenceId\":3,\"queues\":["
                                "{\"server\":\"ixn-a\",\"tenant\":\"acme\",\"id\":\"chat-sales\","
                                "\"media\":\"chat\"},"
                                "{\"server\":\"ixn\\\"b\",\"tenant\":\"acme\",\"id\":\"q2\"}]");
    reparse(&b, &m);
    size_t count;
    assert_int_equal(proto_stat_decode_queues(&m, &count), 0);
    assert_int_equal(count, 2);
    proto_stat_queue row;
    assert_int_equal(proto_stat_decode_queue_row(&m, 0, &row), 0);
    assert_string_equal(row.server, "ixn-a");
    assert_string_equal(row.tenant, "acme");
    assert_string_equal(row.id, "chat-sales");
    assert_string_equal(row.media, "chat");
    assert_int_equal(proto_stat_decode_queue_row(&m, 1, &row), 0);
    assert_string_equal(row.server, "ixn\"b");
    assert_null(row.media);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"queues\":[{\"server\":\"a\","
                               "\"tenant\":\"\",\"id\":\"q\"},7]}"),
                     0);
    assert_int_equal(proto_stat_decode_queues(&m, &count), 0);
    assert_attr_error(proto_stat_decode_queue_row(&m, 0, &row), &m, "tenant");
    assert_attr_error(proto_stat_decode_queue_row(&m, 1, &row), &m, "queues[1]");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\"}"), 0);
    assert_attr_error(proto_stat_decode_queues(&m, &count), &m, "queues");
    proto_msg_free(&m);
    cc_buf_free(&b);
}

/* ---- msg: agent state encoder, error decoder ---------------------------------------- */

/* Closes an open message as a connection would and parses it into m. */
static void reparse(cc_buf *b, proto_msg *m)
{
    cc_buf_puts(b, ",\"seq\":1}");
    if (proto_msg_parse(m, b->data, b->len) != 0)
        fail_msg("does not parse: %s (%s)", b->data, m->desc);
}

static void test_agent_state_round_trip(void **state)
{
    (void)state;
    cc_media_table media;
    cc_media_init(&media);
    int voice = cc_media_intern(&media, "voice", 5);
    int chat = cc_media_intern(&media, "chat", 4);
    int email = cc_media_intern(&media, "email", 5);
    const proto_held_ixn held[] = {
        {"ixn-a:1", chat, CC_IXN_INVITED},     {"ixn-a:2", chat, CC_IXN_HANDLING},
        {"ixn-a:3", email, CC_IXN_AFTER_WORK}, {"ixn-a:4", chat, CC_IXN_HANDLING},
        {"ixn-a:5", voice, CC_IXN_HANDLING},
    };
    proto_agent_state st = {
        .server_name = "ixn-a",
        .cause = "Invited",
        .tenant = "Resources",
        .agent_id = "1001",
        .place_id = "P1001",
        .version = 42,
        .login_time_ms = 1700000000123,
        .reservation_id = 77,
        .logged_in = true,
        .dnd = true,
        .added = ((cc_media_mask)1 << chat) | ((cc_media_mask)1 << email) | 1u,
        .ready = (cc_media_mask)1 << chat,
        .held = held,
        .nheld = 5,
    };
    st.reasons[email] = (proto_reason){.present = true, .code = 3, .description = "Lunch \"x\""};
    st.reasons[voice] = (proto_reason){.present = true, .code = 7, .description = NULL};
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_agent_state(&b, &st, &media);
    assert_non_null(strstr(b.data, "\"loginTime\":1700000000123,\"reservationId\":77,"));
    /* Media in id order, each with its reason. */
    assert_non_null(strstr(b.data, "\"media\":{\"voice\":{\"ready\":false,\"reason\":"
                                   "{\"code\":7,\"description\":null}},"
                                   "\"chat\":{\"ready\":true,\"reason\":null},"
                                   "\"email\":{\"ready\":false,\"reason\":"
                                   "{\"code\":3,\"description\":\"Lunch \\\"x\\\"\"}}}"));
    proto_msg m;
    reparse(&b, &m);
    /* The held list is cut at the cap; the count and the counts cover all of them. */
    proto_held_ixn got_held[3];
    proto_agent_state got;
    assert_int_equal(proto_decode_agent_state(&m, &media, &got, got_held, 3), 0);
    assert_string_equal(got.server_name, "ixn-a");
    assert_string_equal(got.cause, "Invited");
    assert_string_equal(got.place_id, "P1001");
    assert_int_equal(got.version, 42);
    assert_int_equal(got.login_time_ms, 1700000000123);
    assert_int_equal(got.reservation_id, 77);
    assert_true(got.logged_in && got.dnd);
    assert_int_equal(got.added, st.added);
    assert_int_equal(got.ready, st.ready);
    assert_false(got.reasons[chat].present);
    assert_true(got.reasons[email].present);
    assert_int_equal(got.reasons[email].code, 3);
    assert_string_equal(got.reasons[email].description, "Lunch \"x\"");
    assert_true(got.reasons[voice].present);
    assert_int_equal(got.reasons[voice].code, 7);
    assert_null(got.reasons[voice].description);
    assert_int_equal(got.nheld, 5);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(got_held[i].interaction_id, held[i].interaction_id);
        assert_int_equal(got_held[i].media, held[i].media);
        assert_int_equal(got_held[i].state, held[i].state);
    }
    assert_int_equal(got.counts[CC_IXN_HANDLING][chat], 2);
    assert_int_equal(got.counts[CC_IXN_INVITED][chat], 1);
    assert_int_equal(got.counts[CC_IXN_AFTER_WORK][email], 1);
    assert_int_equal(got.counts[CC_IXN_HANDLING][voice], 1);
    proto_msg_free(&m);

    /* Without loginTime and reservationId they are left out and read back as 0. */
    st.login_time_ms = 0;
    st.reservation_id = 0;
    cc_buf_reset(&b);
    proto_enc_agent_state(&b, &st, &media);
    assert_null(strstr(b.data, "loginTime"));
    assert_null(strstr(b.data, "reservationId"));
    reparse(&b, &m);
    assert_int_equal(proto_decode_agent_state(&m, &media, &got, NULL, 0), 0);
    assert_int_equal(got.login_time_ms, 0);
    assert_int_equal(got.reservation_id, 0);
    assert_int_equal(got.nheld, 5);
    proto_msg_free(&m);

    /* The logged-out form: DND off, no media, no interactions, whatever st holds. */
    st.logged_in = false;
    st.cause = "AgentLogout";
    cc_buf_reset(&b);
    proto_enc_agent_state(&b, &st, &media);
    assert_non_null(
        strstr(b.data, "\"loggedIn\":false,\"dnd\":false,\"media\":{},\"interactions\":[]"));
    reparse(&b, &m);
    assert_int_equal(proto_decode_agent_state(&m, &media, &got, got_held, 3), 0);
    assert_false(got.logged_in || got.dnd);
    assert_int_equal(got.added, 0);
    assert_int_equal(got.nheld, 0);
    assert_string_equal(got.cause, "AgentLogout");
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_decode_error(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_error(&b, 4, CC_E_INVALID_STATE, "the agent holds interactions of chat");
    proto_msg m;
    reparse(&b, &m);
    proto_error e;
    assert_int_equal(proto_decode_error(&m, &e), 0);
    assert_int_equal(e.code, 10);
    assert_string_equal(e.name, "InvalidState");
    assert_string_equal(e.description, "the agent holds interactions of chat");
    proto_msg_free(&m);

    assert_int_equal(parse(&m, "{\"message\":\"EventError\"}"), 0);
    assert_int_equal(proto_decode_error(&m, &e), 0);
    assert_int_equal(e.code, 0);
    assert_null(e.name);
    assert_null(e.description);
    proto_msg_free(&m);

    /* A bad field fails, and the fields read before it are kept. */
    assert_int_equal(parse(&m, "{\"message\":\"EventError\",\"errorCode\":8,\"errorName\":7}"), 0);
    assert_attr_error(proto_decode_error(&m, &e), &m, "errorName");
    assert_int_equal(e.code, 8);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventError\",\"errorCode\":\"8\"}"), 0);
    assert_attr_error(proto_decode_error(&m, &e), &m, "errorCode");
    proto_msg_free(&m);
    cc_buf_free(&b);
}

/* Collects the fields a walk visits as "key:kind:value" lines; stops after stop_after. */
typedef struct field_log {
    cc_buf text;
    int seen;
    int stop_after;
} field_log;

static bool log_field(void *ctx, const proto_field *f)
{
    field_log *l = ctx;
    cc_buf_printf(&l->text, "%s:%d:", f->key, (int)f->kind);
    switch (f->kind) {
    case PROTO_FIELD_STRING: cc_buf_printf(&l->text, "%s", f->str); break;
    case PROTO_FIELD_INT: cc_buf_printf(&l->text, "%lld", (long long)f->num); break;
    case PROTO_FIELD_REAL: cc_buf_printf(&l->text, "%g", f->real); break;
    case PROTO_FIELD_BOOL: cc_buf_puts(&l->text, f->flag ? "T" : "F"); break;
    default: break;
    }
    if (f->kind != PROTO_FIELD_STRING)
        cc_buf_printf(&l->text, "|%s", f->json);
    cc_buf_putc(&l->text, '\n');
    return ++l->seen != l->stop_after;
}

static void test_fields(void **state)
{
    (void)state;
    proto_msg m;
    assert_int_equal(parse(&m, "{\"message\":\"EventX\",\"s\":\"a\\nb\",\"i\":-4,\"r\":1.5,"
                               "\"b\":true,\"n\":null,\"o\":{\"k\":[1]},\"a\":[\"x\",2]}"),
                     0);
    field_log l = {.stop_after = 0};
    cc_buf_init(&l.text);
    proto_msg_fields(&m, log_field, &l);
    assert_string_equal(l.text.data, "message:0:EventX\n"
                                     "s:0:a\nb\n"
                                     "i:1:-4|-4\n"
                                     "r:2:1.5|1.5\n"
                                     "b:3:T|true\n"
                                     "n:4:|null\n"
                                     "o:5:|{\"k\":[1]}\n"
                                     "a:6:|[\"x\",2]\n");
    /* The callback stops the walk. */
    cc_buf_reset(&l.text);
    l.seen = 0;
    l.stop_after = 2;
    proto_msg_fields(&m, log_field, &l);
    assert_int_equal(l.seen, 2);
    /* Nothing for what is not an object. */
    cc_buf_reset(&l.text);
    l.seen = 0;
    proto_fields(NULL, log_field, &l);
    proto_fields(json_object_get(m.root, "a"), log_field, &l);
    assert_int_equal(l.seen, 0);
    cc_buf_free(&l.text);
    proto_msg_free(&m);
}

/* ---- resv ---------------------------------------------------------------------------- */

static void test_resv_round_trip(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_reserve(&b, &(proto_reserve){.reservation_id = 77,
                                           .tenant = "Resources",
                                           .agent_id = "1001",
                                           .media = "chat",
                                           .version = 42});
    assert_string_equal(b.data, "{\"message\":\"EventReserveAgent\",\"reservationId\":77,"
                                "\"tenant\":\"Resources\",\"agentId\":\"1001\",\"media\":\"chat\","
                                "\"version\":42");
    proto_msg m;
    reparse(&b, &m);
    proto_reserve r;
    assert_int_equal(proto_decode_reserve(&m, &r), 0);
    assert_int_equal(r.reservation_id, 77);
    assert_string_equal(r.tenant, "Resources");
    assert_string_equal(r.agent_id, "1001");
    assert_string_equal(r.media, "chat");
    assert_int_equal(r.version, 42);
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_enc_reserved(&b, &(proto_reserved){.reservation_id = 77, .granted = true});
    assert_string_equal(
        b.data, "{\"message\":\"EventAgentReserved\",\"reservationId\":77,\"granted\":true");
    reparse(&b, &m);
    proto_reserved g;
    assert_int_equal(proto_decode_reserved(&m, &g), 0);
    assert_int_equal(g.reservation_id, 77);
    assert_true(g.granted);
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_enc_released(&b, 78);
    assert_string_equal(b.data, "{\"message\":\"EventReservationReleased\",\"reservationId\":78");
    reparse(&b, &m);
    int64_t id;
    assert_int_equal(proto_decode_released(&m, &id), 0);
    assert_int_equal(id, 78);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_resv_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body;  /* fields after "message" */
        const char *field; /* named by the description */
        int64_t kept_id;   /* reservation_id after the failure */
    } reserve[] = {
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":\"chat\",\"version\":1", "reservationId",
         0},
        {",\"reservationId\":0,\"tenant\":\"T\",\"agentId\":\"A\",\"media\":\"chat\",\"version\":1",
         "reservationId", 0},
        {",\"reservationId\":\"5\",\"tenant\":\"T\",\"agentId\":\"A\",\"media\":\"chat\","
         "\"version\":1",
         "reservationId", 0},
        {",\"reservationId\":5,\"agentId\":\"A\",\"media\":\"chat\",\"version\":1", "tenant", 5},
        {",\"reservationId\":5,\"tenant\":\"T\",\"agentId\":7,\"media\":\"chat\",\"version\":1",
         "agentId", 5},
        {",\"reservationId\":5,\"tenant\":\"T\",\"agentId\":\"A\",\"version\":1", "media", 5},
        {",\"reservationId\":5,\"tenant\":\"T\",\"agentId\":\"A\",\"media\":\"Chat\",\"version\":1",
         "media", 5},
        {",\"reservationId\":5,\"tenant\":\"T\",\"agentId\":\"A\",\"media\":\"chat\"", "version",
         5},
        {",\"reservationId\":5,\"tenant\":\"T\",\"agentId\":\"A\",\"media\":\"chat\",\"version\":-"
         "2",
         "version", 5},
    };
    char json[512];
    proto_msg m;
    for (size_t i = 0; i < sizeof reserve / sizeof reserve[0]; i++) {
        snprintf(json, sizeof json, "{\"message\":\"EventReserveAgent\"%s}", reserve[i].body);
        assert_int_equal(parse(&m, json), 0);
        proto_reserve r;
        assert_attr_error(proto_decode_reserve(&m, &r), &m, reserve[i].field);
        assert_int_equal(r.reservation_id, reserve[i].kept_id);
        proto_msg_free(&m);
    }
    static const struct {
        const char *body;
        const char *field;
    } reserved[] = {
        {",\"granted\":true", "reservationId"},
        {",\"reservationId\":-1,\"granted\":true", "reservationId"},
        {",\"reservationId\":5", "granted"},
        {",\"reservationId\":5,\"granted\":1", "granted"},
    };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        snprintf(json, sizeof json, "{\"message\":\"EventAgentReserved\"%s}", reserved[i].body);
        assert_int_equal(parse(&m, json), 0);
        proto_reserved g;
        assert_attr_error(proto_decode_reserved(&m, &g), &m, reserved[i].field);
        proto_msg_free(&m);
    }
    static const char *const released[] = {"", ",\"reservationId\":0", ",\"reservationId\":null"};
    for (size_t i = 0; i < sizeof released / sizeof released[0]; i++) {
        snprintf(json, sizeof json, "{\"message\":\"EventReservationReleased\"%s}", released[i]);
        assert_int_equal(parse(&m, json), 0);
        int64_t id = 9;
        assert_attr_error(proto_decode_released(&m, &id), &m, "reservationId");
        assert_int_equal(id, 0);
        proto_msg_free(&m);
    }
}

/* ---- ixnmsg -------------------------------------------------------------------------- */

static void test_invite(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    /* As the interaction server sends it: the stored user data text as it is. */
    proto_ixn_enc_invite(&b, &(proto_ixn_invite){.interaction_id = "ixn-a:000000017",
                                                 .tenant = "Resources",
                                                 .media = "chat",
                                                 .queue = "chat-sales",
                                                 .user_data = "{\"customer\":\"Alice\",\"n\":7}",
                                                 .timeout_sec = 15});
    assert_string_equal(b.data,
                        "{\"message\":\"EventInvite\",\"interactionId\":\"ixn-a:000000017\","
                        "\"tenant\":\"Resources\",\"media\":\"chat\",\"queue\":\"chat-sales\","
                        "\"userData\":{\"customer\":\"Alice\",\"n\":7},\"timeoutSec\":15");
    proto_msg m;
    reparse(&b, &m);
    proto_ixn_invite inv;
    assert_int_equal(proto_ixn_decode_invite(&m, &inv), 0);
    assert_string_equal(inv.interaction_id, "ixn-a:000000017");
    assert_string_equal(inv.tenant, "Resources");
    assert_string_equal(inv.media, "chat");
    assert_string_equal(inv.queue, "chat-sales");
    assert_int_equal(inv.timeout_sec, 15);
    assert_null(inv.user_data);
    assert_true(json_is_object(inv.user_data_obj));
    int64_t n = 0;
    assert_int_equal(proto_ixn_user_data_int(inv.user_data_obj, "n", &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(proto_ixn_user_data_int(inv.user_data_obj, "customer", &n), CC_E_NOT_FOUND);
    assert_int_equal(proto_ixn_user_data_int(NULL, "n", &n), CC_E_NOT_FOUND);
    cc_buf text;
    cc_buf_init(&text);
    proto_ixn_user_data_text(&inv, &text);
    assert_string_equal(text.data, "{\"customer\":\"Alice\",\"n\":7}");
    proto_msg_free(&m);

    /* Optional fields left out, and read back as absent. */
    cc_buf_reset(&b);
    proto_ixn_enc_invite(
        &b, &(proto_ixn_invite){
                .interaction_id = "x:1", .media = "email", .queue = "q", .timeout_sec = -1});
    assert_string_equal(b.data, "{\"message\":\"EventInvite\",\"interactionId\":\"x:1\","
                                "\"media\":\"email\",\"queue\":\"q\"");
    reparse(&b, &m);
    assert_int_equal(proto_ixn_decode_invite(&m, &inv), 0);
    assert_null(inv.tenant);
    assert_null(inv.user_data_obj);
    assert_int_equal(inv.timeout_sec, -1);
    cc_buf_reset(&text);
    proto_ixn_user_data_text(&inv, &text);
    assert_int_equal(text.len, 0);
    proto_msg_free(&m);

    static const struct {
        const char *body;
        const char *field;
    } bad[] = {
        {",\"media\":\"chat\",\"queue\":\"q\"", "interactionId"},
        {",\"interactionId\":\"x\\u0007\",\"media\":\"chat\",\"queue\":\"q\"", "interactionId"},
        {",\"interactionId\":\"x:1\",\"queue\":\"q\"", "media"},
        {",\"interactionId\":\"x:1\",\"media\":\"Chat\",\"queue\":\"q\"", "media"},
        {",\"interactionId\":\"x:1\",\"media\":\"chat\"", "queue"},
        {",\"interactionId\":\"x:1\",\"tenant\":\"\",\"media\":\"chat\",\"queue\":\"q\"", "tenant"},
        {",\"interactionId\":\"x:1\",\"media\":\"chat\",\"queue\":\"q\",\"userData\":[1]",
         "userData"},
        {",\"interactionId\":\"x:1\",\"media\":\"chat\",\"queue\":\"q\",\"timeoutSec\":-1",
         "timeoutSec"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"message\":\"EventInvite\"%s}", bad[i].body);
        assert_int_equal(parse(&m, json), 0);
        assert_attr_error(proto_ixn_decode_invite(&m, &inv), &m, bad[i].field);
        proto_msg_free(&m);
    }
    cc_buf_free(&text);
    cc_buf_free(&b);
}

static void test_ixn_events_and_requests(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_ixn_enc_event(&b, &(proto_ixn_event){.kind = PROTO_IXN_REVOKED,
                                               .interaction_id = "x:1",
                                               .reason = "Timeout"});
    assert_string_equal(
        b.data, "{\"message\":\"EventRevoked\",\"interactionId\":\"x:1\",\"reason\":\"Timeout\"");
    proto_msg m;
    reparse(&b, &m);
    proto_ixn_event ev;
    assert_int_equal(proto_ixn_decode_event(&m, &ev), 0);
    assert_int_equal(ev.kind, PROTO_IXN_REVOKED);
    assert_string_equal(ev.interaction_id, "x:1");
    assert_string_equal(ev.reason, "Timeout");
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_ixn_enc_event(&b, &(proto_ixn_event){.kind = PROTO_IXN_ENDED, .interaction_id = "x:2"});
    assert_string_equal(b.data, "{\"message\":\"EventInteractionEnded\",\"interactionId\":\"x:2\"");
    assert_int_equal(proto_ixn_event_kind("EventPartyRemoved"), PROTO_IXN_PARTY_REMOVED);
    assert_int_equal(proto_ixn_event_kind("EventInvite"), -1);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\"}"), 0);
    assert_int_equal(proto_ixn_decode_event(&m, &ev), CC_E_NOT_FOUND);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventPartyRemoved\",\"interactionId\":\"x\","
                               "\"reason\":5}"),
                     0);
    assert_attr_error(proto_ixn_decode_event(&m, &ev), &m, "reason");
    proto_msg_free(&m);

    static const struct {
        proto_ixn_req req;
        const char *want;
    } reqs[] = {
        {{PROTO_IXN_REQ_ACCEPT, "x:1", "ignored", "ignored"},
         "{\"message\":\"RequestAccept\",\"interactionId\":\"x:1\""},
        {{PROTO_IXN_REQ_REJECT, "x:1", "Busy", NULL},
         "{\"message\":\"RequestReject\",\"interactionId\":\"x:1\",\"reason\":\"Busy\""},
        {{PROTO_IXN_REQ_REJECT, "x:1", NULL, NULL},
         "{\"message\":\"RequestReject\",\"interactionId\":\"x:1\""},
        {{PROTO_IXN_REQ_STOP, "x:1", "CustomerLeft", NULL},
         "{\"message\":\"RequestStopProcessing\",\"interactionId\":\"x:1\","
         "\"reason\":\"CustomerLeft\""},
        {{PROTO_IXN_REQ_COMPLETE, "x:1", NULL, NULL},
         "{\"message\":\"RequestCompleteAfterWork\",\"interactionId\":\"x:1\""},
        {{PROTO_IXN_REQ_PLACE, "x:1", NULL, "chat-support"},
         "{\"message\":\"RequestPlaceInQueue\",\"interactionId\":\"x:1\","
         "\"queue\":\"chat-support\""},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        const proto_ixn_req *r = &reqs[i].req;
        cc_buf_reset(&b);
        proto_ixn_enc_req(&b, r);
        assert_string_equal(b.data, reqs[i].want);
        reparse(&b, &m);
        assert_int_equal(proto_ixn_req_kind(m.name), r->kind);
        proto_ixn_req got;
        assert_int_equal(proto_ixn_decode_req(&m, r->kind, &got), 0);
        assert_int_equal(got.kind, r->kind);
        assert_string_equal(got.interaction_id, "x:1");
        if (r->kind == PROTO_IXN_REQ_REJECT || r->kind == PROTO_IXN_REQ_STOP) {
            if (r->reason)
                assert_string_equal(got.reason, r->reason);
            else
                assert_null(got.reason);
        } else {
            assert_null(got.reason);
        }
        if (r->kind == PROTO_IXN_REQ_PLACE)
            assert_string_equal(got.queue, "chat-support");
        else
            assert_null(got.queue);
        proto_msg_free(&m);
    }
    assert_int_equal(proto_ixn_req_kind("RequestAddMedia"), -1);
    proto_ixn_req got;
    assert_int_equal(parse(&m, "{\"message\":\"RequestPlaceInQueue\",\"interactionId\":\"x\"}"), 0);
    assert_attr_error(proto_ixn_decode_req(&m, PROTO_IXN_REQ_PLACE, &got), &m, "queue");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestAccept\",\"interactionId\":\"\"}"), 0);
    assert_attr_error(proto_ixn_decode_req(&m, PROTO_IXN_REQ_ACCEPT, &got), &m, "interactionId");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestReject\",\"interactionId\":\"x\","
                               "\"reason\":[]}"),
                     0);
    assert_attr_error(proto_ixn_decode_req(&m, PROTO_IXN_REQ_REJECT, &got), &m, "reason");
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_submit_and_acks(void **state)
{
    (void)state;
    cc_buf b, ud;
    cc_buf_init(&b);
    cc_buf_init(&ud);
    const proto_ixn_ud_field fields[] = {
        {.key = "customer", .str = "Ann \"A\" Lee"},
        {.key = "customerNumber", .num = -12},
    };
    proto_ixn_enc_user_data(&ud, fields, 2);
    assert_string_equal(ud.data, "{\"customer\":\"Ann \\\"A\\\" Lee\",\"customerNumber\":-12}");
    proto_ixn_enc_submit(&b, &(proto_ixn_submit){.tenant = "Resources",
                                                 .media = "chat",
                                                 .queue = "chat-sales",
                                                 .external_id = "ms-1",
                                                 .user_data = ud.data});
    assert_string_equal(b.data,
                        "{\"message\":\"RequestSubmit\",\"tenant\":\"Resources\","
                        "\"media\":\"chat\",\"queue\":\"chat-sales\",\"externalId\":\"ms-1\","
                        "\"userData\":{\"customer\":\"Ann \\\"A\\\" Lee\","
                        "\"customerNumber\":-12}");
    proto_msg m;
    reparse(&b, &m);
    proto_ixn_submit s;
    assert_int_equal(proto_ixn_decode_submit(&m, &s), 0);
    assert_string_equal(s.tenant, "Resources");
    assert_string_equal(s.media, "chat");
    assert_string_equal(s.queue, "chat-sales");
    assert_string_equal(s.external_id, "ms-1");
    cc_buf text;
    cc_buf_init(&text);
    proto_ixn_submit_user_data_text(&s, &text);
    assert_string_equal(text.data, ud.data);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestSubmit\",\"tenant\":\"T\",\"media\":\"chat\","
                               "\"queue\":\"q\",\"userData\":\"x\"}"),
                     0);
    assert_attr_error(proto_ixn_decode_submit(&m, &s), &m, "userData");
    proto_msg_free(&m);

    /* The fields of the answers go into an open EventAck. */
    cc_buf_reset(&b);
    proto_enc_ack(&b, 3);
    proto_ixn_enc_submitted(&b,
                            &(proto_ixn_submitted){.interaction_id = "ixn-a:9", .duplicate = true});
    assert_string_equal(b.data, "{\"message\":\"EventAck\",\"referenceId\":3,"
                                "\"interactionId\":\"ixn-a:9\",\"duplicate\":true");
    reparse(&b, &m);
    proto_ixn_submitted sd;
    assert_int_equal(proto_ixn_decode_submitted(&m, &sd), 0);
    assert_string_equal(sd.interaction_id, "ixn-a:9");
    assert_true(sd.duplicate);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"referenceId\":3}"), 0);
    assert_attr_error(proto_ixn_decode_submitted(&m, &sd), &m, "interactionId");
    int64_t aw = 9;
    assert_int_equal(proto_ixn_decode_stopped(&m, &aw), 0);
    assert_int_equal(aw, 0);
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_enc_ack(&b, 4);
    proto_ixn_enc_stopped(&b, 30);
    reparse(&b, &m);
    assert_int_equal(proto_ixn_decode_stopped(&m, &aw), 0);
    assert_int_equal(aw, 30);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"afterWorkSec\":-1}"), 0);
    assert_attr_error(proto_ixn_decode_stopped(&m, &aw), &m, "afterWorkSec");
    assert_int_equal(aw, 0);
    proto_msg_free(&m);

    /* Queue status: rows in, rows out; a bad row does not spoil the others. */
    cc_buf_reset(&b);
    proto_ixn_enc_queue_status(&b);
    assert_string_equal(b.data, "{\"message\":\"RequestQueueStatus\"");
    cc_buf_reset(&b);
    proto_enc_ack(&b, 5);
    proto_ixn_enc_queues_begin(&b);
    proto_ixn_enc_queue_row(
        &b, &(proto_ixn_queue_row){"Resources", "chat-sales", "chat", 3, 1, 2, 0, 1234});
    proto_ixn_enc_queue_row(&b, &(proto_ixn_queue_row){"Acme", "q", "email", 0, 0, 0, -1, -1});
    proto_ixn_enc_queues_end(&b);
    assert_string_equal(b.data,
                        "{\"message\":\"EventAck\",\"referenceId\":5,\"queues\":["
                        "{\"tenant\":\"Resources\",\"queue\":\"chat-sales\",\"media\":\"chat\","
                        "\"waiting\":3,\"invited\":1,\"handling\":2,\"afterWork\":0,"
                        "\"oldestWaitMs\":1234},"
                        "{\"tenant\":\"Acme\",\"queue\":\"q\",\"media\":\"email\","
                        "\"waiting\":0,\"invited\":0,\"handling\":0}]");
    reparse(&b, &m);
    size_t count;
    assert_int_equal(proto_ixn_decode_queues(&m, &count), 0);
    assert_int_equal(count, 2);
    proto_ixn_queue_row row;
    assert_int_equal(proto_ixn_decode_queue_row(&m, 0, &row), 0);
    assert_string_equal(row.tenant, "Resources");
    assert_string_equal(row.queue, "chat-sales");
    assert_string_equal(row.media, "chat");
    assert_int_equal(row.waiting, 3);
    assert_int_equal(row.invited, 1);
    assert_int_equal(row.handling, 2);
    assert_int_equal(row.after_work, 0);
    assert_int_equal(row.oldest_ms, 1234);
    assert_int_equal(proto_ixn_decode_queue_row(&m, 1, &row), 0);
    assert_int_equal(row.after_work, -1);
    assert_int_equal(row.oldest_ms, -1);
    proto_msg_free(&m);
    assert_int_equal(parse(&m,
                           "{\"message\":\"EventAck\",\"queues\":[7,"
                           "{\"tenant\":\"T\",\"queue\":\"q\",\"media\":\"chat\",\"waiting\":-1,"
                           "\"invited\":0,\"handling\":0},"
                           "{\"tenant\":\"T\",\"queue\":\"q\",\"media\":\"chat\",\"waiting\":1,"
                           "\"invited\":0,\"handling\":0}]}"),
                     0);
    assert_int_equal(proto_ixn_decode_queues(&m, &count), 0);
    assert_int_equal(count, 3);
    assert_attr_error(proto_ixn_decode_queue_row(&m, 0, &row), &m, "queues[0]");
    assert_attr_error(proto_ixn_decode_queue_row(&m, 1, &row), &m, "waiting");
    assert_non_null(strstr(m.desc, "queues[1]"));
    assert_int_equal(proto_ixn_decode_queue_row(&m, 2, &row), 0);
    assert_int_equal(row.waiting, 1);
    /* The message is whole again after a row was read. */
    assert_string_equal(m.name, "EventAck");
    assert_non_null(json_object_get(m.root, "queues"));
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"queues\":{}}"), 0);
    assert_attr_error(proto_ixn_decode_queues(&m, &count), &m, "queues");
    proto_msg_free(&m);
    cc_buf_free(&text);
    cc_buf_free(&ud);
    cc_buf_free(&b);
}

/* ---- routing additions (issue 10): skills, priority, explain ------------------------ */

/* Appends ,"skills":{"s0":L,...} with n skills, levels cycling through 1..10. */
static void skills_json(cc_buf *b, int n)
{
    cc_buf_puts(b, ",\"skills\":{");
    for (int i = 0; i < n; i++)
        cc_buf_printf(b, "%s\"s%d\":%d", i ? "," : "", i, i % PROTO_SKILL_LEVEL_MAX + 1);
    cc_buf_putc(b, '}');
}

static void test_skills(void **state)
{
    (void)state;
    cc_media_table media;
    cc_media_init(&media);
    int chat = cc_media_intern(&media, "chat", 4);
    proto_agent_state st = {
        .cause = PROTO_CAUSE_SKILLS_CHANGED,
        .tenant = "Resources",
        .agent_id = "1001",
        .version = 7,
        .logged_in = true,
        .added = (cc_media_mask)1 << chat,
        .skills = {.count = 3, .items = {{"sales", 7}, {"spanish", 5}, {"billing", 10}}},
    };
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_agent_state(&b, &st, &media);
    assert_non_null(strstr(b.data, "\"cause\":\"SkillsChanged\""));
    /* Skills come last, in the order given. */
    assert_non_null(strstr(b.data, "\"interactions\":[],"
                                   "\"skills\":{\"sales\":7,\"spanish\":5,\"billing\":10}"));
    proto_msg m;
    reparse(&b, &m);
    proto_agent_state got;
    assert_int_equal(proto_decode_agent_state(&m, &media, &got, NULL, 0), 0);
    assert_string_equal(got.cause, "SkillsChanged");
    assert_int_equal(got.skills.count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(got.skills.items[i].name, st.skills.items[i].name);
        assert_int_equal(got.skills.items[i].level, st.skills.items[i].level);
    }
    proto_msg_free(&m);

    /* No skills: always present, as {}; a logged-out state carries none. */
    st.skills.count = 0;
    cc_buf_reset(&b);
    proto_enc_agent_state(&b, &st, &media);
    assert_non_null(strstr(b.data, "\"skills\":{}"));
    st.skills.count = 2;
    st.logged_in = false;
    cc_buf_reset(&b);
    proto_enc_agent_state(&b, &st, &media);
    assert_non_null(strstr(b.data, "\"interactions\":[],\"skills\":{}"));
    reparse(&b, &m);
    assert_int_equal(proto_decode_agent_state(&m, &media, &got, NULL, 0), 0);
    assert_int_equal(got.skills.count, 0);
    proto_msg_free(&m);

    /* The login's EventAck carries the same object. */
    proto_skills sk = {.count = 2, .items = {{"vip", 1}, {"a-b_9", 10}}}, sk2;
    cc_buf_reset(&b);
    proto_enc_ack(&b, 2);
    proto_areq_enc_login_ack(&b, &sk);
    assert_string_equal(b.data, "{\"message\":\"EventAck\",\"referenceId\":2,"
                                "\"skills\":{\"vip\":1,\"a-b_9\":10}");
    reparse(&b, &m);
    assert_int_equal(proto_areq_decode_login_ack(&m, &sk2), 0);
    assert_int_equal(sk2.count, 2);
    assert_string_equal(sk2.items[1].name, "a-b_9");
    assert_int_equal(sk2.items[1].level, 10);
    proto_msg_free(&m);
    sk.count = 0;
    cc_buf_reset(&b);
    proto_enc_ack(&b, 2);
    proto_areq_enc_login_ack(&b, &sk);
    assert_string_equal(b.data, "{\"message\":\"EventAck\",\"referenceId\":2,\"skills\":{}");
    /* A server older than the skills sends a bare ack: no skills. */
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"referenceId\":2}"), 0);
    sk2.count = 5;
    assert_int_equal(proto_areq_decode_login_ack(&m, &sk2), 0);
    assert_int_equal(sk2.count, 0);
    proto_msg_free(&m);

    /* 64 skills are accepted, in both messages; 65 are refused. */
    for (int n = PROTO_SKILLS_MAX; n <= PROTO_SKILLS_MAX + 1; n++) {
        cc_buf_reset(&b);
        cc_buf_puts(&b, "{\"message\":\"EventAck\",\"referenceId\":2");
        skills_json(&b, n);
        cc_buf_putc(&b, '}');
        assert_int_equal(parse(&m, b.data), 0);
        if (n == PROTO_SKILLS_MAX) {
            assert_int_equal(proto_areq_decode_login_ack(&m, &sk2), 0);
            assert_int_equal(sk2.count, PROTO_SKILLS_MAX);
            assert_string_equal(sk2.items[63].name, "s63");
            assert_int_equal(sk2.items[63].level, 4);
        } else {
            assert_attr_error(proto_areq_decode_login_ack(&m, &sk2), &m, "skills");
            assert_int_equal(sk2.count, 0);
        }
        proto_msg_free(&m);
        cc_buf_reset(&b);
        cc_buf_puts(&b, "{\"message\":\"EventPlaceAgentState\",\"tenant\":\"T\","
                        "\"agentId\":\"A\",\"version\":1,\"loggedIn\":true");
        skills_json(&b, n);
        cc_buf_putc(&b, '}');
        assert_int_equal(parse(&m, b.data), 0);
        if (n == PROTO_SKILLS_MAX) {
            assert_int_equal(proto_decode_agent_state(&m, &media, &got, NULL, 0), 0);
            assert_int_equal(got.skills.count, PROTO_SKILLS_MAX);
        } else {
            assert_attr_error(proto_decode_agent_state(&m, &media, &got, NULL, 0), &m, "skills");
        }
        proto_msg_free(&m);
    }

    /* Levels 1 and 10 and a 32-byte name are the limits. */
    static const struct {
        const char *skills;
        bool ok;
    } cases[] = {
        {"{\"a\":1}", true},
        {"{\"a\":10}", true},
        {"{\"abcdefghijklmnopqrstuvwxyz012345\":3}", true},
        {"null", true},
        {"{\"a\":0}", false},
        {"{\"a\":11}", false},
        {"{\"a\":-1}", false},
        {"{\"a\":\"3\"}", false},
        {"{\"a\":3.0}", false},
        {"{\"a\":null}", false},
        {"{\"Spanish\":3}", false},
        {"{\"1x\":3}", false},
        {"{\"\":3}", false},
        {"{\"abcdefghijklmnopqrstuvwxyz0123456\":3}", false},
        {"[]", false},
        {"\"sales:7\"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"message\":\"EventAck\",\"skills\":%s}", cases[i].skills);
        assert_int_equal(parse(&m, json), 0);
        if (cases[i].ok) {
            assert_int_equal(proto_areq_decode_login_ack(&m, &sk2), 0);
        } else {
            assert_attr_error(proto_areq_decode_login_ack(&m, &sk2), &m, "skills");
            assert_int_equal(sk2.count, 0);
        }
        proto_msg_free(&m);
    }
    cc_buf_free(&b);
}

/* EventCurrentAgentStatus carries the agent's skills too, after the media (so that a
 * sender's version comes after them), always present, absent read as none. */
static void test_status_skills(void **state)
{
    (void)state;
    cc_media_table media;
    cc_media_init(&media);
    int chat = cc_media_intern(&media, "chat", 4);
    proto_agent_status st;
    memset(&st, 0, sizeof st);
    st.tenant = "Resources";
    st.agent_id = "1001";
    st.logged_in = true;
    st.media = (cc_media_mask)1 << chat;
    st.ready[chat] = true;
    st.max[chat] = 2;
    st.available[chat] = 2;
    st.skills =
        (proto_skills){.count = 3, .items = {{"sales", 7}, {"spanish", 5}, {"billing", 10}}};
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_status(&b, &st, &media);
    assert_string_equal(b.data,
                        "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"Resources\","
                        "\"agentId\":\"1001\",\"loggedIn\":true,\"dnd\":false,\"media\":"
                        "{\"chat\":{\"ready\":true,\"current\":0,\"max\":2,\"available\":2}},"
                        "\"skills\":{\"sales\":7,\"spanish\":5,\"billing\":10}");
    cc_buf_puts(&b, ",\"version\":3}");
    proto_msg m;
    assert_int_equal(parse(&m, b.data), 0);
    proto_agent_status got;
    assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
    assert_int_equal(got.version, 3);
    assert_int_equal(got.available[chat], 2);
    assert_int_equal(got.skills.count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(got.skills.items[i].name, st.skills.items[i].name);
        assert_int_equal(got.skills.items[i].level, st.skills.items[i].level);
    }
    proto_msg_free(&m);

    /* None: written as {}, for a logged-out agent too. */
    memset(&st, 0, sizeof st);
    st.tenant = "T";
    st.agent_id = "A";
    cc_buf_reset(&b);
    proto_enc_status(&b, &st, &media);
    assert_string_equal(b.data, "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\","
                                "\"agentId\":\"A\",\"loggedIn\":false,\"dnd\":false,\"media\":{},"
                                "\"skills\":{}");
    cc_buf_putc(&b, '}');
    assert_int_equal(parse(&m, b.data), 0);
    got.skills.count = 9;
    assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
    assert_int_equal(got.skills.count, 0);
    proto_msg_free(&m);

    /* A statserver older than the skills sends none: no skills, with or without media. */
    static const char *const old[] = {
        "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"A\"}",
        "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"A\","
        "\"media\":{\"chat\":{\"ready\":true,\"current\":0,\"max\":1,\"available\":1}}}",
        "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"A\","
        "\"media\":{},\"skills\":null}",
    };
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++) {
        assert_int_equal(parse(&m, old[i]), 0);
        got.skills.count = 9;
        assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
        assert_int_equal(got.skills.count, 0);
        proto_msg_free(&m);
    }

    /* 64 skills are accepted, 65 refused, with and without media before them. */
    for (int with_media = 0; with_media <= 1; with_media++) {
        for (int n = PROTO_SKILLS_MAX; n <= PROTO_SKILLS_MAX + 1; n++) {
            cc_buf_reset(&b);
            cc_buf_puts(&b, "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\","
                            "\"agentId\":\"A\",\"loggedIn\":true");
            if (with_media)
                cc_buf_puts(&b, ",\"media\":{\"chat\":{\"ready\":true,\"current\":0,\"max\":1,"
                                "\"available\":1}}");
            skills_json(&b, n);
            cc_buf_putc(&b, '}');
            assert_int_equal(parse(&m, b.data), 0);
            if (n == PROTO_SKILLS_MAX) {
                assert_int_equal(proto_decode_status(&m, &media, false, &got), 0);
                assert_int_equal(got.skills.count, PROTO_SKILLS_MAX);
                assert_string_equal(got.skills.items[63].name, "s63");
                assert_int_equal(got.skills.items[63].level, 4);
            } else {
                assert_attr_error(proto_decode_status(&m, &media, false, &got), &m, "skills");
            }
            proto_msg_free(&m);
        }
    }

    /* Bad skills are an error naming skills; levels 1 and 10 are the limits. */
    static const struct {
        const char *skills;
        bool ok;
    } cases[] = {
        {"{\"a\":1}", true},
        {"{\"a\":10}", true},
        {"{}", true},
        {"{\"a\":0}", false},
        {"{\"a\":11}", false},
        {"{\"A\":3}", false},
        {"{\"a\":\"3\"}", false},
        {"[]", false},
        {"7", false},
        {"{\"abcdefghijklmnopqrstuvwxyz0123456\":3}", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"A\","
                 "\"media\":{},\"skills\":%s}",
                 cases[i].skills);
        assert_int_equal(parse(&m, json), 0);
        if (cases[i].ok)
            assert_int_equal(proto_decode_status(&m, &media, true, &got), 0);
        else
            assert_attr_error(proto_decode_status(&m, &media, true, &got), &m, "skills");
        proto_msg_free(&m);
    }
    cc_buf_free(&b);
}

static void test_submit_priority(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m;
    proto_ixn_submit s;
    /* The limits 0 and 1000 go through the encoder and back. */
    static const int64_t ok[] = {PROTO_PRIORITY_MIN, 1, 500, PROTO_PRIORITY_MAX};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cc_buf_reset(&b);
        proto_ixn_enc_submit(&b, &(proto_ixn_submit){.tenant = "T",
                                                     .media = "voice",
                                                     .queue = "vip",
                                                     .has_priority = true,
                                                     .priority = ok[i]});
        char want[160];
        snprintf(want, sizeof want,
                 "{\"message\":\"RequestSubmit\",\"tenant\":\"T\",\"media\":\"voice\","
                 "\"queue\":\"vip\",\"priority\":%d",
                 (int)ok[i]);
        assert_string_equal(b.data, want);
        reparse(&b, &m);
        assert_int_equal(proto_ixn_decode_submit(&m, &s), 0);
        assert_true(s.has_priority);
        assert_int_equal(s.priority, ok[i]);
        proto_msg_free(&m);
    }
    /* Without it: left out, and has_priority false. */
    cc_buf_reset(&b);
    proto_ixn_enc_submit(
        &b, &(proto_ixn_submit){.tenant = "T", .media = "voice", .queue = "q", .priority = 9});
    assert_null(strstr(b.data, "priority"));
    reparse(&b, &m);
    assert_int_equal(proto_ixn_decode_submit(&m, &s), 0);
    assert_false(s.has_priority);
    proto_msg_free(&m);
    /* -1 and 1001 and anything not an integer: code 3 naming priority. */
    static const char *const bad[] = {"-1", "1001", "\"5\"", "5.0", "null", "true", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"message\":\"RequestSubmit\",\"tenant\":\"T\",\"media\":\"chat\","
                 "\"queue\":\"q\",\"priority\":%s}",
                 bad[i]);
        assert_int_equal(parse(&m, json), 0);
        assert_attr_error(proto_ixn_decode_submit(&m, &s), &m, "priority");
        proto_msg_free(&m);
    }
    cc_buf_free(&b);
}

/* An explain answer with n agents whose whys cycle through every name. */
static proto_ixn_explain sample_explain(size_t n)
{
    static const char *const ids[] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"};
    proto_ixn_explain e = {
        .interaction_id = "ixn-a:000000017",
        .tenant = "Resources",
        .media = "chat",
        .queue = "chat-billing-es",
        .state = CC_IXN_QUEUED,
        .priority = 5,
        .effective_priority = 8,
        .waited_sec = 31,
        .step = 2,
        .steps = 3,
        .expression = "billing >= 5",
        .next_step_sec = 59,
        .matching = 4,
        .nagents = n,
    };
    for (size_t i = 0; i < n; i++)
        e.agents[i] = (proto_explain_agent){ids[i], (enum proto_explain_why)(i % 11)};
    return e;
}

static void test_explain(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m;

    /* The request. */
    proto_ixn_explain_req r;
    proto_ixn_enc_explain_req(&b, &(proto_ixn_explain_req){"ixn-a:000000017"});
    assert_string_equal(b.data, "{\"message\":\"RequestExplainRouting\","
                                "\"interactionId\":\"ixn-a:000000017\"");
    reparse(&b, &m);
    assert_int_equal(proto_ixn_decode_explain_req(&m, &r), 0);
    assert_string_equal(r.interaction_id, "ixn-a:000000017");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestExplainRouting\",\"referenceId\":1}"), 0);
    assert_attr_error(proto_ixn_decode_explain_req(&m, &r), &m, "interactionId");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestExplainRouting\",\"interactionId\":7}"), 0);
    assert_attr_error(proto_ixn_decode_explain_req(&m, &r), &m, "interactionId");
    proto_msg_free(&m);

    /* Every why has a name that parses back to it. */
    static const char *const names[] = {
        "NotLoggedIn",        "MediaNotAdded", "NotReady",        "DoNotDisturb",
        "NoStatus",           "NoCapacity",    "VersionInFlight", "ReservationPending",
        "ReservationRefused", "Busy",          "Eligible"};
    for (int i = 0; i < 11; i++) {
        assert_string_equal(proto_explain_why_name(i), names[i]);
        assert_int_equal(proto_explain_why_parse(names[i]), i);
    }
    assert_string_equal(proto_explain_why_name(11), "Unknown");
    assert_string_equal(proto_explain_why_name(-1), "Unknown");
    assert_int_equal(proto_explain_why_parse("notready"), -1);

    /* The answer, in the order of routing.md's list. */
    proto_ixn_explain e = sample_explain(2), got;
    e.agent_id = NULL;
    cc_buf_reset(&b);
    proto_enc_ack(&b, 4);
    proto_ixn_enc_explain(&b, &e);
    assert_string_equal(b.data,
                        "{\"message\":\"EventAck\",\"referenceId\":4,"
                        "\"interactionId\":\"ixn-a:000000017\",\"tenant\":\"Resources\","
                        "\"media\":\"chat\",\"queue\":\"chat-billing-es\",\"state\":\"Queued\","
                        "\"priority\":5,\"effectivePriority\":8,\"waitedSec\":31,\"step\":2,"
                        "\"steps\":3,\"expression\":\"billing >= 5\",\"nextStepSec\":59,"
                        "\"matching\":4,\"agents\":[{\"agentId\":\"a0\",\"why\":\"NotLoggedIn\"},"
                        "{\"agentId\":\"a1\",\"why\":\"MediaNotAdded\"}]");
    reparse(&b, &m);
    assert_int_equal(proto_ixn_decode_explain(&m, &got), 0);
    assert_string_equal(got.interaction_id, "ixn-a:000000017");
    assert_string_equal(got.tenant, "Resources");
    assert_string_equal(got.media, "chat");
    assert_string_equal(got.queue, "chat-billing-es");
    assert_int_equal(got.state, CC_IXN_QUEUED);
    assert_int_equal(got.priority, 5);
    assert_int_equal(got.effective_priority, 8);
    assert_int_equal(got.waited_sec, 31);
    assert_int_equal(got.step, 2);
    assert_int_equal(got.steps, 3);
    assert_string_equal(got.expression, "billing >= 5");
    assert_int_equal(got.next_step_sec, 59);
    assert_int_equal(got.matching, 4);
    assert_null(got.agent_id);
    assert_int_equal(got.nagents, 2);
    assert_string_equal(got.agents[1].agent_id, "a1");
    assert_int_equal(got.agents[1].why, PROTO_EXPLAIN_MEDIA_NOT_ADDED);
    proto_msg_free(&m);

    /* The last step has no nextStepSec; a held one names its agent; no agents is []. */
    e = sample_explain(0);
    e.state = CC_IXN_HANDLING;
    e.step = e.steps = 3;
    e.next_step_sec = -1;
    e.agent_id = "1001";
    cc_buf_reset(&b);
    proto_enc_ack(&b, 5);
    proto_ixn_enc_explain(&b, &e);
    assert_null(strstr(b.data, "nextStepSec"));
    assert_non_null(strstr(b.data, "\"state\":\"Handling\""));
    assert_non_null(strstr(b.data, "\"matching\":4,\"agentId\":\"1001\",\"agents\":[]"));
    reparse(&b, &m);
    assert_int_equal(proto_ixn_decode_explain(&m, &got), 0);
    assert_int_equal(got.next_step_sec, -1);
    assert_string_equal(got.agent_id, "1001");
    assert_int_equal(got.nagents, 0);
    proto_msg_free(&m);

    /* 10 agents are accepted (and round-trip byte for byte); 11 are refused. */
    e = sample_explain(PROTO_EXPLAIN_AGENTS_MAX);
    cc_buf_reset(&b);
    proto_enc_ack(&b, 6);
    proto_ixn_enc_explain(&b, &e);
    reparse(&b, &m);
    assert_int_equal(proto_ixn_decode_explain(&m, &got), 0);
    assert_int_equal(got.nagents, PROTO_EXPLAIN_AGENTS_MAX);
    assert_int_equal(got.agents[9].why, PROTO_EXPLAIN_BUSY);
    cc_buf again;
    cc_buf_init(&again);
    proto_enc_ack(&again, 6);
    proto_ixn_enc_explain(&again, &got);
    cc_buf_puts(&again, ",\"seq\":1}");
    assert_string_equal(again.data, b.data);
    cc_buf_free(&again);
    proto_msg_free(&m);
    cc_buf_reset(&b);
    cc_buf_puts(&b, "{\"message\":\"EventAck\",\"interactionId\":\"i\",\"tenant\":\"T\","
                    "\"media\":\"chat\",\"queue\":\"q\",\"state\":\"Queued\",\"priority\":0,"
                    "\"effectivePriority\":0,\"waitedSec\":0,\"step\":1,\"steps\":1,"
                    "\"expression\":\"any\",\"matching\":11,\"agents\":[");
    for (int i = 0; i <= PROTO_EXPLAIN_AGENTS_MAX; i++)
        cc_buf_printf(&b, "%s{\"agentId\":\"a%d\",\"why\":\"Busy\"}", i ? "," : "", i);
    cc_buf_puts(&b, "]}");
    assert_int_equal(parse(&m, b.data), 0);
    assert_attr_error(proto_ixn_decode_explain(&m, &got), &m, "agents");
    assert_int_equal(got.nagents, 0);
    proto_msg_free(&m);

    /* Each field that is wrong is named. */
    static const struct {
        const char *from, *to; /* replace the first from of the good answer by to */
        const char *field;
    } bad[] = {
        {"\"interactionId\":\"i\",", "", "interactionId"},
        {"\"tenant\":\"T\",", "\"tenant\":\"\",", "tenant"},
        {"\"media\":\"chat\",", "\"media\":\"Chat\",", "media"},
        {"\"queue\":\"q\",", "", "queue"},
        {"\"state\":\"Queued\",", "\"state\":\"Ringing\",", "state"},
        {"\"state\":\"Queued\",", "", "state"},
        {"\"priority\":0,", "\"priority\":1001,", "priority"},
        {"\"priority\":0,", "\"priority\":-1,", "priority"},
        {"\"effectivePriority\":0,", "\"effectivePriority\":-1,", "effectivePriority"},
        {"\"waitedSec\":0,", "\"waitedSec\":\"0\",", "waitedSec"},
        {"\"step\":1,", "\"step\":0,", "step"},
        {"\"step\":1,", "\"step\":2,", "step"},
        {"\"steps\":1,", "\"steps\":17,", "steps"},
        {"\"expression\":\"any\",", "", "expression"},
        {"\"matching\":0,", "\"matching\":-2,", "matching"},
        {"\"matching\":0,", "\"matching\":0,\"nextStepSec\":-1,", "nextStepSec"},
        {"\"matching\":0,", "\"matching\":0,\"agentId\":5,", "agentId"},
        {"\"agents\":[]", "\"agents\":{}", "agents"},
        {"\"agents\":[]", "\"agents\":[7]", "agents[0]"},
        {"\"agents\":[]", "\"agents\":[{\"why\":\"Busy\"}]", "agentId"},
        {"\"agents\":[]", "\"agents\":[{\"agentId\":\"a\"}]", "why"},
        {"\"agents\":[]", "\"agents\":[{\"agentId\":\"a\",\"why\":\"Lazy\"}]", "why"},
    };
    static const char good[] =
        "{\"message\":\"EventAck\",\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"chat\","
        "\"queue\":\"q\",\"state\":\"Queued\",\"priority\":0,\"effectivePriority\":0,"
        "\"waitedSec\":0,\"step\":1,\"steps\":1,\"expression\":\"any\",\"matching\":0,"
        "\"agents\":[]}";
    assert_int_equal(parse(&m, good), 0);
    assert_int_equal(proto_ixn_decode_explain(&m, &got), 0);
    proto_msg_free(&m);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *at = strstr(good, bad[i].from);
        assert_non_null(at);
        cc_buf_reset(&b);
        cc_buf_append(&b, good, (size_t)(at - good));
        cc_buf_puts(&b, bad[i].to);
        cc_buf_puts(&b, at + strlen(bad[i].from));
        assert_int_equal(parse(&m, b.data), 0);
        assert_attr_error(proto_ixn_decode_explain(&m, &got), &m, bad[i].field);
        proto_msg_free(&m);
    }
    /* Every state is a state of an explanation, Ended included. */
    for (int s = CC_IXN_QUEUED; s <= CC_IXN_ENDED; s++) {
        e = sample_explain(0);
        e.state = (enum cc_ixn_state)s;
        cc_buf_reset(&b);
        proto_enc_ack(&b, 1);
        proto_ixn_enc_explain(&b, &e);
        reparse(&b, &m);
        assert_int_equal(proto_ixn_decode_explain(&m, &got), 0);
        assert_int_equal(got.state, s);
        proto_msg_free(&m);
    }
    cc_buf_free(&b);
}

/* ---- agentreq ------------------------------------------------------------------------ */

static void test_login(void **state)
{
    (void)state;
    proto_areq_login l = {.tenant = "Resources",
                          .agent_id = "1001",
                          .place_id = "P1001",
                          .password = "p\"w",
                          .nmedia = 2,
                          .media = {{"voice", false}, {"chat", true}}};
    cc_buf b;
    cc_buf_init(&b);
    proto_areq_enc_login(&b, &l);
    assert_string_equal(b.data,
                        "{\"message\":\"RequestAgentLogin\",\"tenant\":\"Resources\","
                        "\"agentId\":\"1001\",\"placeId\":\"P1001\",\"password\":\"p\\\"w\","
                        "\"mediaList\":{\"voice\":0,\"chat\":1}");
    proto_msg m;
    reparse(&b, &m);
    proto_areq_login got;
    assert_int_equal(proto_areq_decode_login(&m, &got), 0);
    assert_string_equal(got.tenant, "Resources");
    assert_string_equal(got.agent_id, "1001");
    assert_string_equal(got.place_id, "P1001");
    assert_string_equal(got.password, "p\"w");
    assert_int_equal(got.nmedia, 2);
    assert_string_equal(got.media[0].name, "voice");
    assert_false(got.media[0].ready);
    assert_string_equal(got.media[1].name, "chat");
    assert_true(got.media[1].ready);
    proto_msg_free(&m);
    /* Booleans are accepted for readiness, and an empty list is a login without media. */
    assert_int_equal(
        parse(&m, "{\"message\":\"RequestAgentLogin\",\"tenant\":\"T\",\"agentId\":"
                  "\"A\",\"placeId\":\"P\",\"password\":\"\",\"mediaList\":{\"chat\":true}}"),
        0);
    assert_int_equal(proto_areq_decode_login(&m, &got), 0);
    assert_true(got.media[0].ready);
    proto_msg_free(&m);

    static const struct {
        const char *body;
        const char *field;
    } bad[] = {
        {",\"agentId\":\"A\",\"placeId\":\"P\",\"password\":\"x\",\"mediaList\":{}", "tenant"},
        {",\"tenant\":\"T\",\"placeId\":\"P\",\"password\":\"x\",\"mediaList\":{}", "agentId"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"password\":\"x\",\"mediaList\":{}", "placeId"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"placeId\":\"P\",\"mediaList\":{}", "password"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"placeId\":\"P\",\"password\":\"x\"", "mediaList"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"placeId\":\"P\",\"password\":\"x\","
         "\"mediaList\":{\"Chat\":1}",
         "mediaList"},
        {",\"tenant\":\"T\",\"agentId\":\"A\",\"placeId\":\"P\",\"password\":\"x\","
         "\"mediaList\":{\"chat\":2}",
         "mediaList.chat"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, "{\"message\":\"RequestAgentLogin\"%s}", bad[i].body);
        assert_int_equal(parse(&m, json), 0);
        assert_attr_error(proto_areq_decode_login(&m, &got), &m, bad[i].field);
        proto_msg_free(&m);
    }
    /* More media than a table can hold. */
    cc_buf_reset(&b);
    cc_buf_puts(&b, "{\"message\":\"RequestAgentLogin\",\"tenant\":\"T\",\"agentId\":\"A\","
                    "\"placeId\":\"P\",\"password\":\"x\",\"mediaList\":{");
    for (int i = 0; i <= CC_MEDIA_MAX; i++)
        cc_buf_printf(&b, "%s\"m%d\":0", i ? "," : "", i);
    cc_buf_puts(&b, "}}");
    assert_int_equal(parse(&m, b.data), 0);
    assert_attr_error(proto_areq_decode_login(&m, &got), &m, "mediaList");
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_agent_requests(void **state)
{
    (void)state;
    static const struct {
        proto_areq req;
        const char *want;
    } reqs[] = {
        {{.kind = PROTO_AREQ_LOGOUT}, "{\"message\":\"RequestAgentLogout\""},
        {{.kind = PROTO_AREQ_ADD_MEDIA, .media = "chat"},
         "{\"message\":\"RequestAddMedia\",\"media\":\"chat\",\"ready\":0"},
        {{.kind = PROTO_AREQ_ADD_MEDIA, .media = "chat", .ready = true},
         "{\"message\":\"RequestAddMedia\",\"media\":\"chat\",\"ready\":1"},
        {{.kind = PROTO_AREQ_REMOVE_MEDIA, .media = "chat"},
         "{\"message\":\"RequestRemoveMedia\",\"media\":\"chat\""},
        {{.kind = PROTO_AREQ_NOT_READY, .media = "chat"},
         "{\"message\":\"RequestNotReadyForMedia\",\"media\":\"chat\""},
        {{.kind = PROTO_AREQ_NOT_READY, .media = "chat", .reason = {true, 3, "Lunch"}},
         "{\"message\":\"RequestNotReadyForMedia\",\"media\":\"chat\","
         "\"reason\":{\"code\":3,\"description\":\"Lunch\"}"},
        {{.kind = PROTO_AREQ_READY, .media = "chat", .agent_id = "1001", .tenant = "T"},
         "{\"message\":\"RequestCancelNotReadyForMedia\",\"media\":\"chat\",\"agentId\":\"1001\","
         "\"tenant\":\"T\""},
        {{.kind = PROTO_AREQ_CHANGE_REASON, .media = "chat", .reason = {true, 4, NULL}},
         "{\"message\":\"RequestChangeMediaStateReason\",\"media\":\"chat\","
         "\"reason\":{\"code\":4}"},
        {{.kind = PROTO_AREQ_DND_ON}, "{\"message\":\"RequestDoNotDisturbOn\""},
        {{.kind = PROTO_AREQ_DND_OFF}, "{\"message\":\"RequestDoNotDisturbOff\""},
    };
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m;
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        const proto_areq *r = &reqs[i].req;
        cc_buf_reset(&b);
        proto_areq_enc(&b, r);
        assert_string_equal(b.data, reqs[i].want);
        reparse(&b, &m);
        assert_int_equal(proto_areq_kind(m.name), r->kind);
        assert_string_equal(proto_areq_name(r->kind), m.name);
        proto_areq got;
        assert_int_equal(proto_areq_decode(&m, r->kind, &got), 0);
        if (r->media)
            assert_string_equal(got.media, r->media);
        else
            assert_null(got.media);
        assert_int_equal(got.ready, r->ready);
        assert_int_equal(got.reason.present, r->reason.present);
        assert_int_equal(got.reason.code, r->reason.code);
        if (r->reason.description)
            assert_string_equal(got.reason.description, r->reason.description);
        else
            assert_null(got.reason.description);
        if (r->agent_id) {
            assert_string_equal(got.agent_id, r->agent_id);
            assert_string_equal(got.tenant, r->tenant);
        } else {
            assert_null(got.agent_id);
            assert_null(got.tenant);
        }
        proto_msg_free(&m);
    }
    assert_int_equal(proto_areq_kind("RequestAgentLogin"), -1);

    static const struct {
        enum proto_areq_kind kind;
        const char *body;
        const char *field;
    } bad[] = {
        {PROTO_AREQ_ADD_MEDIA, "", "media"},
        {PROTO_AREQ_ADD_MEDIA, ",\"media\":\"Chat\"", "media"},
        {PROTO_AREQ_ADD_MEDIA, ",\"media\":\"chat\",\"ready\":2", "ready"},
        {PROTO_AREQ_NOT_READY, ",\"media\":\"chat\",\"reason\":{\"code\":-1}", "reason.code"},
        {PROTO_AREQ_NOT_READY, ",\"media\":\"chat\",\"reason\":3", "reason"},
        {PROTO_AREQ_CHANGE_REASON, ",\"media\":\"chat\"", "reason"},
        {PROTO_AREQ_READY, ",\"media\":\"chat\",\"agentId\":\"\"", "agentId"},
        {PROTO_AREQ_DND_ON, ",\"tenant\":5", "tenant"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"message\":\"%s\"%s}", proto_areq_name(bad[i].kind),
                 bad[i].body);
        assert_int_equal(parse(&m, json), 0);
        proto_areq got;
        assert_attr_error(proto_areq_decode(&m, bad[i].kind, &got), &m, bad[i].field);
        proto_msg_free(&m);
    }
    cc_buf_free(&b);
}

/* ---- statmsg ------------------------------------------------------------------------- */

static void test_stat_port(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    const char *tenants[] = {"Resources", "Acme"};
    proto_stat_enc_subscribe(&b, &(proto_stat_subscribe){.tenants = tenants, .ntenants = 2});
    assert_string_equal(b.data, "{\"message\":\"RequestSubscribeAgentStatus\","
                                "\"tenants\":[\"Resources\",\"Acme\"]");
    proto_msg m;
    reparse(&b, &m);
    proto_stat_subscribe s;
    assert_int_equal(proto_stat_decode_subscribe(&m, &s), 0);
    assert_false(s.all);
    assert_int_equal(s.ntenants, 2);
    assert_string_equal(proto_stat_tenant(&s, 0), "Resources");
    assert_string_equal(proto_stat_tenant(&s, 1), "Acme");
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_stat_enc_subscribe(&b, &(proto_stat_subscribe){.all = true});
    assert_string_equal(b.data, "{\"message\":\"RequestSubscribeAgentStatus\"");
    reparse(&b, &m);
    assert_int_equal(proto_stat_decode_subscribe(&m, &s), 0);
    assert_true(s.all);
    assert_int_equal(s.ntenants, 0);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestSubscribeAgentStatus\",\"tenants\":[\"\"]}"),
                     0);
    assert_attr_error(proto_stat_decode_subscribe(&m, &s), &m, "tenants");
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_stat_enc_server_list(&b);
    assert_string_equal(b.data, "{\"message\":\"RequestServerList\"");
    cc_buf_reset(&b);
    proto_enc_ack(&b, 2);
    proto_stat_enc_servers_begin(&b);
    proto_stat_enc_server_row(&b, &(proto_stat_server){"ixn-a", "127.0.0.1:7000", true, 12});
    proto_stat_enc_server_row(&b, &(proto_stat_server){"ixn-b", "127.0.0.1:7001", false, 0});
    proto_stat_enc_servers_end(&b);
    assert_string_equal(b.data, "{\"message\":\"EventAck\",\"referenceId\":2,\"servers\":["
                                "{\"name\":\"ixn-a\",\"address\":\"127.0.0.1:7000\","
                                "\"connected\":true,\"agents\":12},"
                                "{\"name\":\"ixn-b\",\"address\":\"127.0.0.1:7001\","
                                "\"connected\":false,\"agents\":0}]");
    reparse(&b, &m);
    size_t count;
    assert_int_equal(proto_stat_decode_servers(&m, &count), 0);
    assert_int_equal(count, 2);
    proto_stat_server row;
    assert_int_equal(proto_stat_decode_server_row(&m, 0, &row), 0);
    assert_string_equal(row.name, "ixn-a");
    assert_string_equal(row.address, "127.0.0.1:7000");
    assert_true(row.connected);
    assert_int_equal(row.agents, 12);
    assert_int_equal(proto_stat_decode_server_row(&m, 1, &row), 0);
    assert_false(row.connected);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"servers\":[{\"name\":\"a\","
                               "\"address\":\"b\",\"connected\":true}]}"),
                     0);
    assert_attr_error(proto_stat_decode_server_row(&m, 0, &row), &m, "agents");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\"}"), 0);
    assert_attr_error(proto_stat_decode_servers(&m, &count), &m, "servers");
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_stat_snapshot_and_agent_req(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    const char *tenants[] = {"Resources"};
    proto_stat_enc_subscribe(
        &b, &(proto_stat_subscribe){.reporting = true, .tenants = tenants, .ntenants = 1});
    assert_string_equal(b.data, "{\"message\":\"RequestStartPlaceAgentStateReportingAll\","
                                "\"tenants\":[\"Resources\"]");
    proto_msg m;
    reparse(&b, &m);
    proto_stat_subscribe s;
    assert_int_equal(proto_stat_decode_subscribe(&m, &s), 0);
    assert_true(s.reporting);
    assert_int_equal(s.ntenants, 1);
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_stat_enc_snapshot_done(
        &b, &(proto_stat_snapshot_done){.agent_state = true, .server_name = "ixn-a", .count = 12});
    assert_string_equal(b.data, "{\"message\":\"EventPlaceAgentStateSnapshotDone\","
                                "\"serverName\":\"ixn-a\",\"count\":12");
    reparse(&b, &m);
    proto_stat_snapshot_done d;
    assert_int_equal(proto_stat_decode_snapshot_done(&m, &d), 0);
    assert_true(d.agent_state);
    assert_string_equal(d.server_name, "ixn-a");
    assert_int_equal(d.count, 12);
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_stat_enc_snapshot_done(&b, &(proto_stat_snapshot_done){.count = 0});
    assert_string_equal(b.data, "{\"message\":\"EventAgentStatusSnapshotDone\",\"count\":0");
    reparse(&b, &m);
    assert_int_equal(proto_stat_decode_snapshot_done(&m, &d), 0);
    assert_false(d.agent_state);
    assert_null(d.server_name);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAgentStatusSnapshotDone\"}"), 0);
    assert_attr_error(proto_stat_decode_snapshot_done(&m, &d), &m, "count");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"count\":1}"), 0);
    assert_int_equal(proto_stat_decode_snapshot_done(&m, &d), CC_E_NOT_FOUND);
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_stat_enc_agent_req(&b, &(proto_stat_agent_req){"Resources", "1001"});
    assert_string_equal(b.data, "{\"message\":\"RequestAgentStatus\",\"tenant\":\"Resources\","
                                "\"agentId\":\"1001\"");
    reparse(&b, &m);
    proto_stat_agent_req r;
    assert_int_equal(proto_stat_decode_agent_req(&m, &r), 0);
    assert_string_equal(r.tenant, "Resources");
    assert_string_equal(r.agent_id, "1001");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestAgentStatus\",\"tenant\":\"T\"}"), 0);
    assert_attr_error(proto_stat_decode_agent_req(&m, &r), &m, "agentId");
    proto_msg_free(&m);
    cc_buf_free(&b);
}

/* The partition of RequestStartPlaceAgentStateReportingAll: a round trip, with and
 * without tenants, and every malformed form refused with the field named. */
static void test_stat_partition(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    const char *tenants[] = {"acme", "beta"};
    proto_stat_enc_subscribe(&b, &(proto_stat_subscribe){.reporting = true,
                                                         .tenants = tenants,
                                                         .ntenants = 2,
                                                         .partitioned = true,
                                                         .part_index = 3,
                                                         .part_count = 4096});
    assert_string_equal(b.data, "{\"message\":\"RequestStartPlaceAgentStateReportingAll\","
                                "\"tenants\":[\"acme\",\"beta\"],"
                                "\"partition\":{\"index\":3,\"count\":4096}");
    proto_msg m;
    reparse(&b, &m);
    proto_stat_subscribe s;
    assert_int_equal(proto_stat_decode_subscribe(&m, &s), 0);
    assert_true(s.partitioned);
    assert_int_equal(s.part_index, 3);
    assert_int_equal(s.part_count, 4096);
    assert_int_equal(s.ntenants, 2);
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_stat_enc_subscribe(
        &b,
        &(proto_stat_subscribe){
            .reporting = true, .all = true, .partitioned = true, .part_index = 0, .part_count = 2});
    assert_string_equal(b.data, "{\"message\":\"RequestStartPlaceAgentStateReportingAll\","
                                "\"partition\":{\"index\":0,\"count\":2}");
    reparse(&b, &m);
    assert_int_equal(proto_stat_decode_subscribe(&m, &s), 0);
    assert_true(s.all);
    assert_true(s.partitioned);
    assert_int_equal(s.part_index, 0);
    assert_int_equal(s.part_count, 2);
    proto_msg_free(&m);

    /* Absent: every agent. */
    assert_int_equal(parse(&m, "{\"message\":\"RequestStartPlaceAgentStateReportingAll\"}"), 0);
    assert_int_equal(proto_stat_decode_subscribe(&m, &s), 0);
    assert_false(s.partitioned);
    proto_msg_free(&m);
    /* The StatClient subscription has no partition: the field is not read there. */
    assert_int_equal(parse(&m, "{\"message\":\"RequestSubscribeAgentStatus\","
                               "\"partition\":7}"),
                     0);
    assert_int_equal(proto_stat_decode_subscribe(&m, &s), 0);
    assert_false(s.partitioned);
    proto_msg_free(&m);

    const char *bad[] = {
        "7",
        "\"0/2\"",
        "[0,2]",
        "{}",
        "{\"index\":0}",
        "{\"count\":2}",
        "{\"index\":2,\"count\":2}",
        "{\"index\":5,\"count\":2}",
        "{\"index\":0,\"count\":0}",
        "{\"index\":-1,\"count\":2}",
        "{\"index\":0,\"count\":-2}",
        "{\"index\":0,\"count\":4097}",
        "{\"index\":0,\"count\":9223372036854775807}",
        "{\"index\":0,\"count\":1e3}",
        "{\"index\":0.0,\"count\":2}",
        "{\"index\":0,\"count\":2.5}",
        "{\"index\":\"0\",\"count\":2}",
        "{\"index\":true,\"count\":2}",
        "{\"index\":0,\"count\":2,\"extra\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[200];
        snprintf(line, sizeof line,
                 "{\"message\":\"RequestStartPlaceAgentStateReportingAll\",\"partition\":%s}",
                 bad[i]);
        assert_int_equal(parse(&m, line), 0);
        assert_attr_error(proto_stat_decode_subscribe(&m, &s), &m, "partition");
        proto_msg_free(&m);
    }
    cc_buf_free(&b);
}

static void test_stat_mode(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_stat_enc_mode(&b, &(proto_stat_mode){.primary = true, .epoch = 42});
    assert_string_equal(b.data,
                        "{\"message\":\"RequestReportingMode\",\"primary\":true,\"epoch\":42");
    proto_msg m;
    reparse(&b, &m);
    proto_stat_mode md;
    assert_int_equal(proto_stat_decode_mode(&m, &md), 0);
    assert_true(md.primary);
    assert_int_equal(md.epoch, 42);
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_stat_enc_mode(&b, &(proto_stat_mode){.primary = false, .epoch = 0});
    reparse(&b, &m);
    assert_int_equal(proto_stat_decode_mode(&m, &md), 0);
    assert_false(md.primary);
    assert_int_equal(md.epoch, 0);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestReportingMode\",\"epoch\":3}"), 0);
    assert_attr_error(proto_stat_decode_mode(&m, &md), &m, "primary");
    proto_msg_free(&m);
    assert_int_equal(
        parse(&m, "{\"message\":\"RequestReportingMode\",\"primary\":true,\"epoch\":-1}"), 0);
    assert_attr_error(proto_stat_decode_mode(&m, &md), &m, "epoch");
    proto_msg_free(&m);
    assert_int_equal(
        parse(&m, "{\"message\":\"RequestReportingMode\",\"primary\":\"yes\",\"epoch\":1}"), 0);
    assert_attr_error(proto_stat_decode_mode(&m, &md), &m, "primary");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"primary\":true,\"epoch\":1}"), 0);
    assert_int_equal(proto_stat_decode_mode(&m, &md), CC_E_NOT_FOUND);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

/* ---- statistic ------------------------------------------------------------------------ */

static void test_sts_open(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m;
    proto_sts_open o = {.statistic_id = 1,
                        .type = PROTO_STS_QUEUE,
                        .server = "ixn-a",
                        .tenant = "Resources",
                        .id = "chat-sales",
                        .statistic = PROTO_STS_Q_SERVICE_LEVEL,
                        .sliding_s = 900,
                        .threshold_s = 20};
    proto_sts_enc_open(&b, &o);
    assert_string_equal(b.data, "{\"message\":\"RequestOpenStatistic\",\"statisticId\":1,"
                                "\"object\":{\"type\":\"Queue\",\"server\":\"ixn-a\","
                                "\"tenant\":\"Resources\",\"id\":\"chat-sales\"},"
                                "\"statistic\":\"ServiceLevel\",\"profile\":\"sliding:900\","
                                "\"notify\":\"changes\",\"threshold\":20");
    reparse(&b, &m);
    proto_sts_open d;
    assert_int_equal(proto_sts_decode_open(&m, &d), 0);
    assert_int_equal(d.statistic, PROTO_STS_Q_SERVICE_LEVEL);
    assert_int_equal(d.type, PROTO_STS_QUEUE);
    assert_string_equal(d.server, "ixn-a");
    assert_string_equal(d.id, "chat-sales");
    assert_int_equal(d.sliding_s, 900);
    assert_int_equal(d.every_s, 0);
    assert_int_equal(d.threshold_s, 20);
    assert_null(d.media);
    proto_msg_free(&m);
    /* Waiting of a Tenant is another statistic than Waiting of a Queue. */
    cc_buf_reset(&b);
    o = (proto_sts_open){.statistic_id = 2,
                         .type = PROTO_STS_TENANT,
                         .tenant = "Resources",
                         .statistic = PROTO_STS_T_WAITING,
                         .every_s = 5,
                         .threshold_s = -1,
                         .media = "chat"};
    proto_sts_enc_open(&b, &o);
    assert_string_equal(b.data, "{\"message\":\"RequestOpenStatistic\",\"statisticId\":2,"
                                "\"object\":{\"type\":\"Tenant\",\"tenant\":\"Resources\"},"
                                "\"statistic\":\"Waiting\",\"profile\":\"day\","
                                "\"notify\":\"every:5\",\"media\":\"chat\"");
    reparse(&b, &m);
    assert_int_equal(proto_sts_decode_open(&m, &d), 0);
    assert_int_equal(d.statistic, PROTO_STS_T_WAITING);
    assert_int_equal(d.every_s, 5);
    assert_int_equal(d.threshold_s, -1);
    assert_null(d.id);
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_sts_enc_close(&b, 7);
    assert_string_equal(b.data, "{\"message\":\"RequestCloseStatistic\",\"statisticId\":7");
    reparse(&b, &m);
    int64_t id;
    assert_int_equal(proto_sts_decode_close(&m, &id), 0);
    assert_int_equal(id, 7);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_sts_open_errors(void **state)
{
    (void)state;
    static const struct {
        const char *fields;
        const char *field; /* named by the error; NULL: decodes */
    } cases[] = {
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"sliding:60\",\"notify\":\"every:3600\"",
         NULL},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"sliding:86400\",\"notify\":\"every:1\"",
         NULL},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"sliding:59\",\"notify\":\"changes\"",
         "profile"},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"sliding:86401\",\"notify\":\"changes\"",
         "profile"},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"sliding:\",\"notify\":\"changes\"",
         "profile"},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"week\",\"notify\":\"changes\"",
         "profile"},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"day\",\"notify\":\"every:0\"",
         "notify"},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"day\",\"notify\":\"every:3601\"",
         "notify"},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"day\"",
         "notify"},
        {"\"object\":{\"type\":\"Queue\",\"server\":\"s\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Offered\",\"profile\":\"day\",\"notify\":\"changes\"",
         "statistic"},
        {"\"object\":{\"type\":\"Queue\",\"tenant\":\"T\",\"id\":\"q\"},"
         "\"statistic\":\"Entered\",\"profile\":\"day\",\"notify\":\"changes\"",
         "object.server"},
        {"\"object\":{\"type\":\"Planet\",\"tenant\":\"T\"},"
         "\"statistic\":\"Entered\",\"profile\":\"day\",\"notify\":\"changes\"",
         "object.type"},
        {"\"object\":{\"type\":\"Agent\",\"tenant\":\"T\",\"id\":\"\"},"
         "\"statistic\":\"State\",\"profile\":\"day\",\"notify\":\"changes\",\"media\":\"chat\"",
         "object.id"},
        {"\"object\":{\"type\":\"Agent\",\"tenant\":\"T\",\"id\":\"1\"},"
         "\"statistic\":\"State\",\"profile\":\"day\",\"notify\":\"changes\"",
         "media"},
        {"\"object\":{\"type\":\"Agent\",\"tenant\":\"T\",\"id\":\"1\"},"
         "\"statistic\":\"State\",\"profile\":\"day\",\"notify\":\"changes\",\"media\":\"Chat!\"",
         "media"},
        {"\"object\":{\"type\":\"Agent\",\"tenant\":\"T\",\"id\":\"1\"},"
         "\"statistic\":\"NotReadyTime\",\"profile\":\"day\",\"notify\":\"changes\","
         "\"media\":\"chat\",\"reason\":\"Lunch\"",
         "reason"},
        {"\"object\":{\"type\":\"Tenant\",\"tenant\":\"T\"},"
         "\"statistic\":\"Ready\",\"profile\":\"day\",\"notify\":\"changes\",\"media\":\"chat\","
         "\"threshold\":86401",
         "threshold"},
        {"\"object\":\"T\",\"statistic\":\"Ready\",\"profile\":\"day\",\"notify\":\"changes\"",
         "object"},
    };
    proto_msg m;
    proto_sts_open o;
    char line[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, "{\"message\":\"RequestOpenStatistic\",\"statisticId\":3,%s}",
                 cases[i].fields);
        assert_int_equal(parse(&m, line), 0);
        int rc = proto_sts_decode_open(&m, &o);
        if (cases[i].field)
            assert_attr_error(rc, &m, cases[i].field);
        else if (rc != 0)
            fail_msg("%s: %s", line, m.desc);
        proto_msg_free(&m);
    }
    assert_int_equal(parse(&m, "{\"message\":\"RequestOpenStatistic\",\"statisticId\":0}"), 0);
    assert_attr_error(proto_sts_decode_open(&m, &o), &m, "statisticId");
    proto_msg_free(&m);
}

static void test_sts_values(void **state)
{
    (void)state;
    static const struct {
        proto_sts_value v;
        const char *text;
    } cases[] = {
        {{.type = PROTO_STS_NULL}, "null"},
        {{.type = PROTO_STS_INT, .v = 42}, "42"},
        {{.type = PROTO_STS_MILLI, .v = 92500}, "92.5"},
        {{.type = PROTO_STS_MILLI, .v = 100000}, "100.0"},
        {{.type = PROTO_STS_MILLI, .v = 33333}, "33.333"},
        {{.type = PROTO_STS_MILLI, .v = 7}, "0.007"},
        {{.type = PROTO_STS_MILLI, .v = -1500}, "-1.5"},
        {{.type = PROTO_STS_STATE, .state = PROTO_STS_LOGGED_OUT},
         "{\"state\":\"LoggedOut\",\"since\":null}"},
        {{.type = PROTO_STS_STATE,
          .state = PROTO_STS_NOT_READY,
          .since = 1764999000123,
          .has_reason = true,
          .reason_code = 3,
          .reason_desc = "Lunch"},
         "{\"state\":\"NotReady\",\"since\":1764999000123,\"reason\":{\"code\":3,"
         "\"description\":\"Lunch\"}}"},
    };
    char want[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cc_buf b;
        cc_buf_init(&b);
        proto_sts_enc_event(
            &b, &(proto_sts_event){.statistic_id = 9, .value = cases[i].v, .at = 1764999000123});
        snprintf(want, sizeof want,
                 "{\"message\":\"EventStatisticValue\",\"statisticId\":9,\"value\":%s,"
                 "\"at\":1764999000123",
                 cases[i].text);
        assert_string_equal(b.data, want);
        proto_msg m;
        reparse(&b, &m);
        proto_sts_event e;
        assert_int_equal(proto_sts_decode_event(&m, &e), 0);
        assert_true(proto_sts_value_equal(&e.value, &cases[i].v));
        assert_int_equal(e.statistic_id, 9);
        proto_msg_free(&m);
        cc_buf_free(&b);
    }
    /* The largest statisticId fits the per-subscriber field. */
    char field[PROTO_STS_ID_FIELD_MAX];
    proto_sts_id_field(field, INT64_MAX);
    assert_string_equal(field, ",\"statisticId\":9223372036854775807");
    /* A shared body leaves statisticId out. */
    cc_buf b;
    cc_buf_init(&b);
    proto_sts_enc_event(&b, &(proto_sts_event){.value = {.type = PROTO_STS_INT, .v = 1}, .at = 5});
    assert_string_equal(b.data, "{\"message\":\"EventStatisticValue\",\"value\":1,\"at\":5");
    cc_buf_free(&b);
    proto_msg m;
    proto_sts_event e;
    assert_int_equal(parse(&m, "{\"message\":\"EventStatisticValue\",\"statisticId\":1,"
                               "\"value\":{\"state\":\"Asleep\"},\"at\":5}"),
                     0);
    assert_attr_error(proto_sts_decode_event(&m, &e), &m, "value.state");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventStatisticValue\",\"statisticId\":1,\"at\":5}"),
                     0);
    assert_attr_error(proto_sts_decode_event(&m, &e), &m, "value");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\"}"), 0);
    assert_int_equal(proto_sts_decode_event(&m, &e), CC_E_NOT_FOUND);
    proto_msg_free(&m);
    /* Equal values: a different reason text is a change. */
    proto_sts_value a = {.type = PROTO_STS_STATE,
                         .state = PROTO_STS_NOT_READY,
                         .since = 1,
                         .has_reason = true,
                         .reason_code = 3,
                         .reason_desc = "Lunch"};
    proto_sts_value c = a;
    c.reason_desc = "Break";
    assert_false(proto_sts_value_equal(&a, &c));
    c.reason_desc = NULL;
    assert_false(proto_sts_value_equal(&a, &c));
    assert_string_equal(proto_sts_stat_name(PROTO_STS_A_AHT), "AverageHandleTime");
    assert_null(proto_sts_stat_name(PROTO_STS_STAT_COUNT));
    assert_true(proto_sts_stat_per_media(PROTO_STS_T_OLDEST_WAIT));
    assert_false(proto_sts_stat_per_media(PROTO_STS_Q_OLDEST_WAIT));
}

/* ---- ixnreport ------------------------------------------------------------------------ */

static void test_ixr_start_stop(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m;
    const char *tenants[] = {"Resources", "Other"};
    proto_ixr_enc_start(&b, &(proto_ixr_start){.tenants = tenants, .ntenants = 2});
    assert_string_equal(b.data, "{\"message\":\"RequestStartInteractionReporting\","
                                "\"tenants\":[\"Resources\",\"Other\"]");
    reparse(&b, &m);
    proto_ixr_start st;
    assert_int_equal(proto_ixr_decode_start(&m, &st), 0);
    assert_false(st.all);
    assert_int_equal(st.ntenants, 2);
    assert_string_equal(proto_ixr_tenant(&st, 0), "Resources");
    assert_string_equal(proto_ixr_tenant(&st, 1), "Other");
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_ixr_enc_start(&b, &(proto_ixr_start){.all = true});
    assert_string_equal(b.data, "{\"message\":\"RequestStartInteractionReporting\"");
    reparse(&b, &m);
    assert_int_equal(proto_ixr_decode_start(&m, &st), 0);
    assert_true(st.all);
    assert_int_equal(st.ntenants, 0);
    proto_msg_free(&m);
    /* An empty list is a list: no tenant at all. */
    assert_int_equal(parse(&m, "{\"message\":\"RequestStartInteractionReporting\","
                               "\"tenants\":[]}"),
                     0);
    assert_int_equal(proto_ixr_decode_start(&m, &st), 0);
    assert_false(st.all);
    assert_int_equal(st.ntenants, 0);
    proto_msg_free(&m);
    static const char *const bad[] = {"\"x\"", "[1]", "[\"\"]", "{}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[128];
        snprintf(line, sizeof line,
                 "{\"message\":\"RequestStartInteractionReporting\",\"tenants\":%s}", bad[i]);
        assert_int_equal(parse(&m, line), 0);
        assert_attr_error(proto_ixr_decode_start(&m, &st), &m, "tenants");
        proto_msg_free(&m);
    }
    cc_buf_reset(&b);
    proto_ixr_enc_stop(&b);
    assert_string_equal(b.data, "{\"message\":\"RequestStopInteractionReporting\"");
    cc_buf_free(&b);
}

/* Encodes e, decodes it again and compares every field. */
static void ixr_round_trip(const proto_ixr_event *e, const char *want)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_ixr_enc_event(&b, e);
    if (want)
        assert_string_equal(b.data, want);
    proto_msg m;
    reparse(&b, &m);
    proto_ixr_event d;
    assert_int_equal(proto_ixr_decode_event(&m, &d), 0);
    assert_int_equal(d.cause, e->cause);
    assert_int_equal(d.state, e->state);
    assert_int_equal(d.reason, e->reason);
    assert_string_equal(d.interaction_id, e->interaction_id);
    assert_string_equal(d.tenant, e->tenant);
    assert_string_equal(d.media, e->media);
    assert_string_equal(d.queue, e->queue);
    assert_true((d.server_name == NULL) == (e->server_name == NULL));
    assert_true((d.agent_id == NULL) == (e->agent_id == NULL));
    assert_true((d.from_queue == NULL) == (e->from_queue == NULL));
    if (e->agent_id)
        assert_string_equal(d.agent_id, e->agent_id);
    if (e->from_queue)
        assert_string_equal(d.from_queue, e->from_queue);
    assert_int_equal(d.priority, e->priority);
    assert_int_equal(d.submitted_at, e->submitted_at);
    assert_int_equal(d.queued_at, e->queued_at);
    assert_int_equal(d.at, e->at);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_ixr_event(void **state)
{
    (void)state;
    proto_ixr_event e = {
        .cause = PROTO_IXR_ENDED,
        .server_name = "ixn-a",
        .interaction_id = "ixn-a:000000017",
        .tenant = "Resources",
        .media = "chat",
        .queue = "chat-sales",
        .agent_id = "1001",
        .state = CC_IXN_ENDED,
        .priority = 1000,
        .submitted_at = 1764999000000,
        .queued_at = 1764999000001,
        .at = 1764999060123,
        .reason = PROTO_IXR_REASON_STOPPED,
    };
    ixr_round_trip(&e, "{\"message\":\"EventInteractionReported\",\"serverName\":\"ixn-a\","
                       "\"cause\":\"Ended\",\"interactionId\":\"ixn-a:000000017\","
                       "\"tenant\":\"Resources\",\"media\":\"chat\",\"queue\":\"chat-sales\","
                       "\"agentId\":\"1001\",\"state\":\"Ended\",\"priority\":1000,"
                       "\"submittedAt\":1764999000000,\"queuedAt\":1764999000001,"
                       "\"at\":1764999060123,\"endReason\":\"Stopped\"");
    e.cause = PROTO_IXR_QUEUED;
    e.state = CC_IXN_QUEUED;
    e.reason = PROTO_IXR_REASON_NONE;
    e.from_queue = "chat-in";
    e.server_name = NULL;
    e.priority = 0;
    ixr_round_trip(&e, "{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\","
                       "\"interactionId\":\"ixn-a:000000017\",\"tenant\":\"Resources\","
                       "\"media\":\"chat\",\"queue\":\"chat-sales\",\"fromQueue\":\"chat-in\","
                       "\"agentId\":\"1001\",\"state\":\"Queued\",\"priority\":0,"
                       "\"submittedAt\":1764999000000,\"queuedAt\":1764999000001,"
                       "\"at\":1764999060123");
    e.from_queue = NULL;
    e.agent_id = NULL;
    e.cause = PROTO_IXR_REVOKED;
    e.reason = PROTO_IXR_REASON_TIMEOUT;
    ixr_round_trip(&e, NULL);
    e.reason = PROTO_IXR_REASON_LOGGED_OUT;
    ixr_round_trip(&e, NULL);
    /* Every cause with the state it leads to; a Snapshot in each unfinished state. */
    static const struct {
        enum proto_ixr_cause cause;
        enum cc_ixn_state state;
        enum proto_ixr_reason reason;
    } ok[] = {
        {PROTO_IXR_SNAPSHOT, CC_IXN_QUEUED, 0},
        {PROTO_IXR_SNAPSHOT, CC_IXN_INVITED, 0},
        {PROTO_IXR_SNAPSHOT, CC_IXN_HANDLING, 0},
        {PROTO_IXR_SNAPSHOT, CC_IXN_AFTER_WORK, 0},
        {PROTO_IXR_INVITED, CC_IXN_INVITED, 0},
        {PROTO_IXR_ACCEPTED, CC_IXN_HANDLING, 0},
        {PROTO_IXR_REJECTED, CC_IXN_QUEUED, 0},
        {PROTO_IXR_AFTER_WORK, CC_IXN_AFTER_WORK, 0},
        {PROTO_IXR_ENDED, CC_IXN_ENDED, PROTO_IXR_REASON_DONE},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        e.cause = ok[i].cause;
        e.state = ok[i].state;
        e.reason = ok[i].reason;
        ixr_round_trip(&e, NULL);
    }
    /* A reason is written only where its cause has one. */
    cc_buf b;
    cc_buf_init(&b);
    e.cause = PROTO_IXR_ACCEPTED;
    e.state = CC_IXN_HANDLING;
    e.reason = PROTO_IXR_REASON_TIMEOUT;
    proto_ixr_enc_event(&b, &e);
    assert_null(strstr(b.data, "reason"));
    assert_null(strstr(b.data, "Reason"));
    cc_buf_free(&b);
    assert_null(proto_ixr_cause_name(-1));
    assert_null(proto_ixr_cause_name(PROTO_IXR_ENDED + 1));
    assert_string_equal(proto_ixr_cause_name(PROTO_IXR_SNAPSHOT), "Snapshot");
    assert_null(proto_ixr_reason_name(PROTO_IXR_REASON_NONE));
    assert_null(proto_ixr_reason_name(PROTO_IXR_REASON_STOPPED + 1));
}

static void test_ixr_event_errors(void **state)
{
    (void)state;
    const char *base = "\"interactionId\":\"i:1\",\"tenant\":\"T\",\"media\":\"chat\","
                       "\"queue\":\"q\",\"priority\":5,\"submittedAt\":1,\"queuedAt\":2,"
                       "\"at\":3";
    static const struct {
        const char *extra; /* the fields besides base */
        const char *field; /* the field the error names; NULL: decodes */
    } cases[] = {
        {"\"cause\":\"Queued\",\"state\":\"Queued\"", NULL},
        {"\"cause\":\"Queued\",\"state\":\"Invited\"", "state"},
        {"\"cause\":\"Snapshot\",\"state\":\"Ended\"", "state"},
        {"\"cause\":\"Snapshot\",\"state\":\"AfterWork\"", NULL},
        {"\"cause\":\"Ended\",\"state\":\"Ended\"", "endReason"},
        {"\"cause\":\"Ended\",\"state\":\"Ended\",\"endReason\":\"Timeout\"", "endReason"},
        {"\"cause\":\"Ended\",\"state\":\"Ended\",\"endReason\":\"Done\"", NULL},
        {"\"cause\":\"Revoked\",\"state\":\"Queued\"", "reason"},
        {"\"cause\":\"Revoked\",\"state\":\"Queued\",\"reason\":\"Stopped\"", "reason"},
        {"\"cause\":\"Revoked\",\"state\":\"Queued\",\"reason\":\"LoggedOut\"", NULL},
        /* A reason where the cause has none is not read. */
        {"\"cause\":\"Accepted\",\"state\":\"Handling\",\"reason\":7", NULL},
        {"\"cause\":\"Moved\",\"state\":\"Queued\"", "cause"},
        {"\"state\":\"Queued\"", "cause"},
        {"\"cause\":\"Queued\",\"state\":\"Lost\"", "state"},
        {"\"cause\":\"Queued\"", "state"},
        {"\"cause\":\"Queued\",\"state\":\"Queued\",\"agentId\":\"\"", "agentId"},
        {"\"cause\":\"Queued\",\"state\":\"Queued\",\"fromQueue\":5", "fromQueue"},
        {"\"cause\":\"Queued\",\"state\":\"Queued\",\"serverName\":[]", "serverName"},
    };
    proto_msg m;
    proto_ixr_event e;
    char line[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, "{\"message\":\"EventInteractionReported\",%s,%s}", base,
                 cases[i].extra);
        assert_int_equal(parse(&m, line), 0);
        int rc = proto_ixr_decode_event(&m, &e);
        if (cases[i].field)
            assert_attr_error(rc, &m, cases[i].field);
        else if (rc != 0)
            fail_msg("%s: %s", line, m.desc);
        proto_msg_free(&m);
    }
    /* Each required field missing, and the bounds of the numbers. */
    static const struct {
        const char *line;
        const char *field;
    } fields[] = {
        {"{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":\"Queued\","
         "\"tenant\":\"T\",\"media\":\"chat\",\"queue\":\"q\",\"priority\":5,"
         "\"submittedAt\":1,\"queuedAt\":2,\"at\":3}",
         "interactionId"},
        {"{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":\"Queued\","
         "\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"Chat!\",\"queue\":\"q\","
         "\"priority\":5,\"submittedAt\":1,\"queuedAt\":2,\"at\":3}",
         "media"},
        {"{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":\"Queued\","
         "\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"chat\",\"queue\":\"q\","
         "\"priority\":1001,\"submittedAt\":1,\"queuedAt\":2,\"at\":3}",
         "priority"},
        {"{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":\"Queued\","
         "\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"chat\",\"queue\":\"q\","
         "\"priority\":-1,\"submittedAt\":1,\"queuedAt\":2,\"at\":3}",
         "priority"},
        {"{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":\"Queued\","
         "\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"chat\",\"queue\":\"q\","
         "\"priority\":0,\"submittedAt\":-1,\"queuedAt\":2,\"at\":3}",
         "submittedAt"},
        {"{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":\"Queued\","
         "\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"chat\",\"queue\":\"q\","
         "\"priority\":0,\"submittedAt\":1,\"at\":3}",
         "queuedAt"},
        {"{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":\"Queued\","
         "\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"chat\",\"queue\":\"q\","
         "\"priority\":0,\"submittedAt\":1,\"queuedAt\":2,\"at\":1.5}",
         "at"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        assert_int_equal(parse(&m, fields[i].line), 0);
        assert_attr_error(proto_ixr_decode_event(&m, &e), &m, fields[i].field);
        proto_msg_free(&m);
    }
    /* Priority at its bounds. */
    snprintf(line, sizeof line,
             "{\"message\":\"EventInteractionReported\",\"cause\":\"Queued\",\"state\":"
             "\"Queued\",\"interactionId\":\"i\",\"tenant\":\"T\",\"media\":\"chat\","
             "\"queue\":\"q\",\"priority\":1000,\"submittedAt\":0,\"queuedAt\":0,\"at\":0}");
    assert_int_equal(parse(&m, line), 0);
    assert_int_equal(proto_ixr_decode_event(&m, &e), 0);
    assert_int_equal(e.priority, 1000);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventInteractionSnapshotDone\",\"count\":1}"), 0);
    assert_int_equal(proto_ixr_decode_event(&m, &e), CC_E_NOT_FOUND);
    proto_msg_free(&m);
}

static void test_ixr_snapshot_done(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m;
    proto_ixr_snapshot_done d;
    proto_ixr_enc_snapshot_done(&b, &(proto_ixr_snapshot_done){.server_name = "ixn-a", .count = 3});
    assert_string_equal(b.data, "{\"message\":\"EventInteractionSnapshotDone\","
                                "\"serverName\":\"ixn-a\",\"count\":3");
    reparse(&b, &m);
    assert_int_equal(proto_ixr_decode_snapshot_done(&m, &d), 0);
    assert_string_equal(d.server_name, "ixn-a");
    assert_int_equal(d.count, 3);
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_ixr_enc_snapshot_done(&b, &(proto_ixr_snapshot_done){.count = 0});
    reparse(&b, &m);
    assert_int_equal(proto_ixr_decode_snapshot_done(&m, &d), 0);
    assert_null(d.server_name);
    assert_int_equal(d.count, 0);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventInteractionSnapshotDone\",\"count\":-1}"), 0);
    assert_attr_error(proto_ixr_decode_snapshot_done(&m, &d), &m, "count");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventPlaceAgentStateSnapshotDone\",\"count\":1}"),
                     0);
    assert_int_equal(proto_ixr_decode_snapshot_done(&m, &d), CC_E_NOT_FOUND);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

/* ---- regmsg -------------------------------------------------------------------------- */

static void test_registration(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_reg_enc_register(&b, 1,
                           &(proto_reg_register){.client_name = "desk-7",
                                                 .client_type = "AgentApplication",
                                                 .token = "s3cret"});
    assert_string_equal(b.data, "{\"message\":\"RequestRegisterClient\",\"referenceId\":1,"
                                "\"clientName\":\"desk-7\",\"clientType\":\"AgentApplication\","
                                "\"token\":\"s3cret\"");
    proto_msg m;
    reparse(&b, &m);
    assert_int_equal(m.ref, 1);
    proto_reg_register r;
    assert_int_equal(proto_reg_decode_register(&m, &r), 0);
    assert_string_equal(r.client_name, "desk-7");
    assert_string_equal(r.client_type, "AgentApplication");
    assert_string_equal(r.token, "s3cret");
    proto_msg_free(&m);
    cc_buf_reset(&b);
    proto_reg_enc_register(&b, 0, &(proto_reg_register){.client_type = "MediaServer"});
    assert_string_equal(b.data,
                        "{\"message\":\"RequestRegisterClient\",\"clientType\":\"MediaServer\"");
    reparse(&b, &m);
    assert_int_equal(proto_reg_decode_register(&m, &r), 0);
    assert_null(r.client_name);
    assert_null(r.token);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestRegisterClient\",\"token\":\"x\"}"), 0);
    assert_attr_error(proto_reg_decode_register(&m, &r), &m, "clientType");
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"RequestRegisterClient\",\"clientType\":\"X\","
                               "\"clientName\":\"\"}"),
                     0);
    assert_attr_error(proto_reg_decode_register(&m, &r), &m, "clientName");
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_enc_ack(&b, 1);
    proto_reg_enc_ack(&b, &(proto_reg_ack){.proxy_client_id = 17,
                                           .server_name = "ixn-a",
                                           .protocol_version = PROTO_VERSION,
                                           .idle_timeout_s = 30});
    assert_string_equal(b.data,
                        "{\"message\":\"EventAck\",\"referenceId\":1,\"proxyClientId\":17,"
                        "\"serverName\":\"ixn-a\",\"protocolVersion\":1,\"idleTimeout\":30");
    reparse(&b, &m);
    proto_reg_ack a;
    assert_int_equal(proto_reg_decode_ack(&m, &a), 0);
    assert_int_equal(a.proxy_client_id, 17);
    assert_string_equal(a.server_name, "ixn-a");
    assert_int_equal(a.protocol_version, 1);
    assert_int_equal(a.idle_timeout_s, 30);
    proto_msg_free(&m);
    assert_int_equal(parse(&m, "{\"message\":\"EventAck\",\"idleTimeout\":-3}"), 0);
    assert_attr_error(proto_reg_decode_ack(&m, &a), &m, "idleTimeout");
    proto_msg_free(&m);

    cc_buf_reset(&b);
    proto_reg_enc_ping(&b, 9);
    assert_string_equal(b.data, "{\"message\":\"RequestPing\",\"referenceId\":9");
    cc_buf_free(&b);
}

/* A forwarded line keeps its bytes, unless it carries the field to drop. */
static void test_forward_open(void **state)
{
    (void)state;
    const char *plain = "{\"message\":\"EventCurrentAgentStatus\",\"b\":1 , \"a\":[2]} \r\n";
    proto_msg m;
    assert_int_equal(proto_msg_parse(&m, plain, strlen(plain)), 0);
    cc_buf out;
    cc_buf_init(&out);
    assert_int_equal(proto_msg_forward_open(&m, plain, strlen(plain), "seq", &out), 0);
    assert_int_equal(out.len, strlen(plain) - 4);
    assert_memory_equal(out.data, plain, out.len);
    proto_msg_free(&m);
    const char *seq = "{\"message\":\"X\",\"seq\":7,\"v\":3}";
    assert_int_equal(proto_msg_parse(&m, seq, strlen(seq)), 0);
    cc_buf_reset(&out);
    assert_int_equal(proto_msg_forward_open(&m, seq, strlen(seq), "seq", &out), 0);
    cc_buf_putc(&out, '}');
    proto_msg again;
    assert_int_equal(proto_msg_parse(&again, out.data, out.len), 0);
    assert_null(json_object_get(again.root, "seq"));
    assert_int_equal(json_integer_value(json_object_get(again.root, "v")), 3);
    proto_msg_free(&again);
    proto_msg_free(&m);
    cc_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_split),
        cmocka_unit_test(test_frame_partial),
        cmocka_unit_test(test_frame_too_large),
        cmocka_unit_test(test_frame_pause_and_error),
        cmocka_unit_test(test_jw_escaping),
        cmocka_unit_test(test_jw_utf8),
        cmocka_unit_test(test_jw_message),
        cmocka_unit_test(test_msg_parse_errors),
        cmocka_unit_test(test_msg_parse_ok),
        cmocka_unit_test(test_msg_reference_id),
        cmocka_unit_test(test_get_str_and_id),
        cmocka_unit_test(test_get_int_and_flag),
        cmocka_unit_test(test_get_object_array_reason),
        cmocka_unit_test(test_enc_ack_error),
        cmocka_unit_test(test_decode_agent_state),
        cmocka_unit_test(test_decode_agent_state_errors),
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_decode_status_errors),
        cmocka_unit_test(test_status_reason_since),
        cmocka_unit_test(test_wb_config),
        cmocka_unit_test(test_queue_list),
        cmocka_unit_test(test_decode_status_reason_errors),
        cmocka_unit_test(test_agent_state_round_trip),
        cmocka_unit_test(test_decode_error),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_resv_round_trip),
        cmocka_unit_test(test_resv_errors),
        cmocka_unit_test(test_invite),
        cmocka_unit_test(test_ixn_events_and_requests),
        cmocka_unit_test(test_submit_and_acks),
        cmocka_unit_test(test_skills),
        cmocka_unit_test(test_status_skills),
        cmocka_unit_test(test_submit_priority),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_agent_requests),
        cmocka_unit_test(test_stat_port),
        cmocka_unit_test(test_stat_snapshot_and_agent_req),
        cmocka_unit_test(test_stat_mode),
        cmocka_unit_test(test_stat_partition),
        cmocka_unit_test(test_ixr_start_stop),
        cmocka_unit_test(test_ixr_event),
        cmocka_unit_test(test_ixr_event_errors),
        cmocka_unit_test(test_ixr_snapshot_done),
        cmocka_unit_test(test_sts_open),
        cmocka_unit_test(test_sts_open_errors),
        cmocka_unit_test(test_sts_values),
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_forward_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

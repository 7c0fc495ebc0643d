/* Unit tests of the WebSocket framing (src/net/ws.c) on in-memory bytes: messages whole,
 * in pieces and fragmented; the close codes of protocol.md section 9 (1002 unmasked,
 * 1003 binary, 1009 over the maximum in one frame or fragmented) and 1007 for bad UTF-8;
 * ping and pong; the close handshake; pausing delivery; the server's frame headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "net/ws.h"
#include "proto/frame.h"

#define MAX 1000u

typedef struct sink {
    char msgs[16][MAX + 1];
    size_t lens[16];
    int count;
    int pause_at; /* on_message returns PAUSE for message number pause_at (1-based) */
    cc_buf out;   /* bytes written to the peer */
} sink;

static int on_message(void *user, const char *msg, size_t len)
{
    sink *s = user;
    assert_true(s->count < 16 && len <= MAX);
    memcpy(s->msgs[s->count], msg, len);
    s->msgs[s->count][len] = '\0';
    s->lens[s->count] = len;
    s->count++;
    return s->count == s->pause_at ? PROTO_FRAME_PAUSE : 0;
}

static void on_write(void *user, const char *data, size_t len)
{
    sink *s = user;
    cc_buf_append(&s->out, data, len);
}

static const cc_ws_ops ops = {.on_message = on_message, .on_write = on_write};

/* A client frame: masked unless mask is false. */
static size_t frame(uint8_t *out, int opcode, bool fin, bool mask, const void *payload, size_t n)
{
    size_t o = 0;
    out[o++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = mask ? 0x80 : 0;
    if (n < 126) {
        out[o++] = (uint8_t)(m | n);
    } else if (n <= 0xFFFF) {
        out[o++] = m | 126;
        out[o++] = (uint8_t)(n >> 8);
        out[o++] = (uint8_t)n;
    } else {
        out[o++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[o++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    if (mask) {
        memcpy(out + o, key, 4);
        o += 4;
    }
    const uint8_t *p = payload;
    for (size_t i = 0; i < n; i++)
        out[o + i] = mask ? (uint8_t)(p[i] ^ key[i % 4]) : p[i];
    return o + n;
}

static cc_ws *make(sink *s)
{
    memset(s, 0, sizeof *s);
    cc_buf_init(&s->out);
    return cc_ws_new(&ops, s, MAX);
}

static void done(cc_ws *ws, sink *s)
{
    cc_ws_free(ws);
    cc_buf_free(&s->out);
}

/* The close frame the server wrote last: its code. */
static unsigned written_close(const sink *s)
{
    const uint8_t *p = (const uint8_t *)s->out.data;
    size_t n = s->out.len;
    /* Walk the server frames (unmasked, short) to the last one. */
    size_t o = 0;
    unsigned code = 0;
    while (o + 2 <= n) {
        size_t len = p[o + 1] & 0x7F;
        assert_true(len < 126);
        if ((p[o] & 0x0F) == 8)
            code = len >= 2 ? (unsigned)(p[o + 2] << 8 | p[o + 3]) : 1005;
        o += 2 + len;
    }
    assert_int_equal(o, n);
    return code;
}

static void test_messages(void **state)
{
    (void)state;
    sink s;
    cc_ws *ws = make(&s);
    uint8_t buf[4096];
    size_t n = frame(buf, 1, true, true, "{\"a\":1}", 7);
    n += frame(buf + n, 1, true, true, "", 0);
    n += frame(buf + n, 1, true, true, "h\xc3\xa9", 3);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), 0);
    assert_int_equal(s.count, 3);
    assert_string_equal(s.msgs[0], "{\"a\":1}");
    assert_int_equal(s.lens[1], 0);
    assert_string_equal(s.msgs[2], "h\xc3\xa9");
    /* Byte by byte. */
    n = frame(buf, 1, true, true, "split", 5);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cc_ws_feed(ws, (char *)buf + i, 1), 0);
    assert_int_equal(s.count, 4);
    assert_string_equal(s.msgs[3], "split");
    /* Fragmented under the limit, with a ping between the fragments. */
    char part[600];
    memset(part, 'f', sizeof part);
    n = frame(buf, 1, false, true, part, sizeof part);
    n += frame(buf + n, 9, true, true, "pi", 2);
    n += frame(buf + n, 0, true, true, part, 300);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), 0);
    assert_int_equal(s.count, 5);
    assert_int_equal(s.lens[4], 900);
    /* The pong: unmasked, same payload. */
    assert_int_equal(s.out.len, 4);
    assert_memory_equal(s.out.data, "\x8a\x02pi", 4);
    assert_int_equal(cc_ws_close_code(ws), 0);
    done(ws, &s);
}

static void expect_close_at(int line, const uint8_t *in, size_t n, unsigned code, int delivered)
{
    sink s;
    cc_ws *ws = make(&s);
    if (cc_ws_feed(ws, (const char *)in, n) != CC_E_CLOSED)
        fail_msg("case at line %d: not closed", line);
    if (cc_ws_close_code(ws) != code)
        fail_msg("case at line %d: code %u, want %u", line, cc_ws_close_code(ws), code);
    assert_int_equal(written_close(&s), code);
    assert_int_equal(s.count, delivered);
    assert_false(cc_ws_close_received(ws));
    /* Input after the close is ignored. */
    assert_int_equal(cc_ws_feed(ws, (const char *)in, n), CC_E_CLOSED);
    assert_int_equal(s.count, delivered);
    done(ws, &s);
}
/* Names the failing case by its line. */
#define expect_close(...) expect_close_at(__LINE__, __VA_ARGS__)

static void test_close_codes(void **state)
{
    (void)state;
    uint8_t buf[4096];
    size_t n;
    n = frame(buf, 1, true, false, "{}", 2);
    expect_close(buf, n, 1002, 0);
    /* A good message first is delivered, the unmasked one behind it is not. */
    n = frame(buf, 1, true, true, "ok", 2);
    n += frame(buf + n, 1, true, false, "{}", 2);
    expect_close(buf, n, 1002, 1);
    n = frame(buf, 2, true, true, "\x00\x01", 2);
    expect_close(buf, n, 1003, 0);
    /* A binary message is refused at its first fragment. */
    n = frame(buf, 2, false, true, "\x00\x01", 2);
    expect_close(buf, n, 1003, 0);
    /* One frame over the maximum: refused from its header and a first payload byte
     * (wslay reports a frame once some of its payload is there). */
    n = frame(buf, 1, true, true, "", 0);
    buf[1] = 0x80 | 126;
    buf[2] = (uint8_t)((MAX + 1) >> 8);
    buf[3] = (uint8_t)(MAX + 1);
    memset(buf + 4, 0, 5);
    expect_close(buf, 9, 1009, 0);
    /* A length of 2^63 - 1: refused, nothing allocated. */
    uint8_t huge[15] = {0x81, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_close(huge, sizeof huge, 1009, 0);
    /* Fragments that add up to more than the maximum. */
    char part[600];
    memset(part, 'x', sizeof part);
    n = frame(buf, 1, false, true, part, sizeof part);
    n += frame(buf + n, 0, true, true, part, sizeof part);
    expect_close(buf, n, 1009, 0);
    /* A continuation with no message started, and a new text inside a message. */
    n = frame(buf, 0, true, true, "x", 1);
    expect_close(buf, n, 1002, 0);
    n = frame(buf, 1, false, true, "x", 1);
    n += frame(buf + n, 1, true, true, "y", 1);
    expect_close(buf, n, 1002, 0);
    /* Reserved bits, and a fragmented control frame. */
    n = frame(buf, 1, true, true, "x", 1);
    buf[0] |= 0x40;
    expect_close(buf, n, 1002, 0);
    n = frame(buf, 9, false, true, "x", 1);
    expect_close(buf, n, 1002, 0);
    /* Text that is not UTF-8. */
    n = frame(buf, 1, true, true, "\xff\xfe", 2);
    expect_close(buf, n, 1007, 0);
}

static void test_peer_close(void **state)
{
    (void)state;
    sink s;
    cc_ws *ws = make(&s);
    uint8_t buf[64];
    const char bye[] = {0x03, (char)0xe8, 'b', 'y', 'e'}; /* 1000, "bye" */
    size_t n = frame(buf, 8, true, true, bye, sizeof bye);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), CC_E_CLOSED);
    assert_true(cc_ws_close_received(ws));
    assert_int_equal(written_close(&s), 1000);
    /* Our own close after that writes nothing more. */
    size_t before = s.out.len;
    cc_ws_close(ws, 1001);
    assert_int_equal(s.out.len, before);
    done(ws, &s);

    ws = make(&s);
    cc_ws_close(ws, 1001);
    assert_int_equal(written_close(&s), 1001);
    cc_ws_close(ws, 1000);
    assert_int_equal(written_close(&s), 1001);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), CC_E_CLOSED);
    done(ws, &s);
}

static void test_pause(void **state)
{
    (void)state;
    sink s;
    cc_ws *ws = make(&s);
    s.pause_at = 1;
    uint8_t buf[256];
    size_t n = frame(buf, 1, true, true, "one", 3);
    n += frame(buf + n, 1, true, true, "two", 3);
    n += frame(buf + n, 1, true, true, "three", 5);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), 0);
    assert_int_equal(s.count, 1);
    assert_true(cc_ws_paused(ws));
    /* More input while paused waits too. */
    n = frame(buf, 1, true, true, "four", 4);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), 0);
    assert_int_equal(s.count, 1);
    s.pause_at = 3;
    assert_int_equal(cc_ws_resume(ws), 0);
    assert_int_equal(s.count, 3);
    assert_true(cc_ws_paused(ws));
    assert_int_equal(cc_ws_resume(ws), 0);
    assert_int_equal(s.count, 4);
    assert_string_equal(s.msgs[1], "two");
    assert_string_equal(s.msgs[2], "three");
    assert_string_equal(s.msgs[3], "four");
    assert_false(cc_ws_paused(ws));
    done(ws, &s);
}

/* A message may come in CC_WS_FRAGMENTS_MAX frames, not one more (1008), pings between
 * them not counted; and the maximum can be changed (a registration raises it). */
static size_t fragmented(uint8_t *buf, size_t frames, bool ping)
{
    size_t n = 0;
    for (size_t i = 0; i < frames; i++) {
        n += frame(buf + n, i == 0 ? 1 : 0, i + 1 == frames, true, "f", 1);
        if (ping && i == 0)
            n += frame(buf + n, 9, true, true, "p", 1);
    }
    return n;
}

static void test_fragments_and_max(void **state)
{
    (void)state;
    static uint8_t buf[(CC_WS_FRAGMENTS_MAX + 2) * 8];
    sink s;
    cc_ws *ws = make(&s);
    size_t n = fragmented(buf, CC_WS_FRAGMENTS_MAX, true);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), 0);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.lens[0], CC_WS_FRAGMENTS_MAX);
    assert_int_equal(cc_ws_mem(ws) < 1024, true);
    done(ws, &s);

    ws = make(&s);
    n = fragmented(buf, CC_WS_FRAGMENTS_MAX + 1, false);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), CC_E_CLOSED);
    assert_int_equal(cc_ws_close_code(ws), CC_WS_POLICY);
    assert_int_equal(written_close(&s), CC_WS_POLICY);
    assert_int_equal(s.count, 0);
    done(ws, &s);

    /* A lowered maximum: exactly it passes, one byte more is 1009. */
    ws = make(&s);
    cc_ws_set_max_message(ws, 100);
    char msg[101];
    memset(msg, 'm', sizeof msg);
    n = frame(buf, 1, true, true, msg, 100);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), 0);
    assert_int_equal(s.count, 1);
    n = frame(buf, 1, true, true, msg, 101);
    assert_int_equal(cc_ws_feed(ws, (char *)buf, n), CC_E_CLOSED);
    assert_int_equal(cc_ws_close_code(ws), CC_WS_TOO_BIG);
    done(ws, &s);
}

static void test_text_header(void **state)
{
    (void)state;
    char h[CC_WS_HEADER_MAX];
    assert_int_equal(cc_ws_text_header(0, h), 2);
    assert_memory_equal(h, "\x81\x00", 2);
    assert_int_equal(cc_ws_text_header(125, h), 2);
    assert_int_equal((uint8_t)h[1], 125);
    assert_int_equal(cc_ws_text_header(126, h), 4);
    assert_memory_equal(h, "\x81\x7e\x00\x7e", 4);
    assert_int_equal(cc_ws_text_header(65535, h), 4);
    assert_memory_equal(h, "\x81\x7e\xff\xff", 4);
    assert_int_equal(cc_ws_text_header(65536, h), 10);
    assert_memory_equal(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),    cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_peer_close),  cmocka_unit_test(test_pause),
        cmocka_unit_test(test_text_header), cmocka_unit_test(test_fragments_and_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

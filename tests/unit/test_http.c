/* Unit tests of the HTTP request parser (src/net/http.c) and of the handshake's SHA-1 and
 * base64 (src/common), on in-memory bytes: well-formed requests whole and byte by byte,
 * every refusal with its status, header lookups, and the WebSocket upgrade checks with
 * the example of RFC 6455. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/err.h"
#include "common/sha1.h"
#include "net/http.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1_vectors(void **state)
{
    (void)state;
    uint8_t d[CC_SHA1_LEN];
    char h[2 * CC_SHA1_LEN + 1];
    cc_sha1_digest("", 0, d);
    hex(d, sizeof d, h);
    assert_string_equal(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    cc_sha1_digest("abc", 3, d);
    hex(d, sizeof d, h);
    assert_string_equal(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    cc_sha1_digest(two, strlen(two), d);
    hex(d, sizeof d, h);
    assert_string_equal(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    /* A million 'a' fed in uneven pieces crosses every block boundary case. */
    cc_sha1 s;
    cc_sha1_init(&s);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof a ? left : sizeof a;
        cc_sha1_update(&s, a, n);
        left -= n;
    }
    cc_sha1_final(&s, d);
    hex(d, sizeof d, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_base64(void **state)
{
    (void)state;
    char out[64];
    const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = cc_base64_encode((const uint8_t *)v[i].in, strlen(v[i].in), out);
        assert_int_equal(n, strlen(v[i].out));
        assert_string_equal(out, v[i].out);
        uint8_t back[16];
        long m = cc_base64_decode(v[i].out, strlen(v[i].out), back, sizeof back);
        assert_int_equal(m, (long)strlen(v[i].in));
        assert_memory_equal(back, v[i].in, (size_t)m);
    }
    uint8_t b[16];
    assert_int_equal(cc_base64_decode("Zg=", 3, b, sizeof b), -1);      /* length */
    assert_int_equal(cc_base64_decode("Zh==", 4, b, sizeof b), -1);     /* bits under '=' */
    assert_int_equal(cc_base64_decode("Z===", 4, b, sizeof b), -1);     /* padding place */
    assert_int_equal(cc_base64_decode("Zg==Zg==", 8, b, sizeof b), -1); /* padding inside */
    assert_int_equal(cc_base64_decode("Zm9*", 4, b, sizeof b), -1);     /* alphabet */
    assert_int_equal(cc_base64_decode("Zm9vYmFy", 8, b, 5), -1);        /* capacity */
}

static const char simple[] = "GET /assets/app.js?v=3 HTTP/1.1\r\n"
                             "Host: 127.0.0.1:8080\r\n"
                             "User-Agent: test\r\n"
                             "Accept:  */* \r\n"
                             "\r\n";

static void test_parse_simple(void **state)
{
    (void)state;
    cc_http_req r;
    assert_int_equal(cc_http_parse(simple, strlen(simple), &r), 0);
    assert_int_equal(r.method, CC_HTTP_GET);
    assert_int_equal(r.minor, 1);
    assert_int_equal(r.head_len, strlen(simple));
    assert_true(r.keep_alive);
    assert_int_equal(r.path.len, strlen("/assets/app.js"));
    assert_memory_equal(r.path.p, "/assets/app.js", r.path.len);
    assert_int_equal(r.target.len, strlen("/assets/app.js?v=3"));
    assert_int_equal(r.header_count, 3);
    const cc_http_str *acc = cc_http_get(&r, "accept");
    assert_non_null(acc);
    assert_true(cc_http_str_ieq(*acc, "*/*"));
    assert_null(cc_http_get(&r, "Origin"));
    assert_false(cc_http_is_upgrade(&r));

    /* Byte by byte: incomplete until the last byte, then the same request. */
    for (size_t n = 0; n < strlen(simple); n++)
        assert_int_equal(cc_http_parse(simple, n, &r), CC_HTTP_MORE);

    /* Bytes of the next request behind it are not part of this one. */
    char two[512];
    snprintf(two, sizeof two, "%sHEAD / HTTP/1.1\r\nHost: x\r\n\r\n", simple);
    assert_int_equal(cc_http_parse(two, strlen(two), &r), 0);
    assert_int_equal(r.head_len, strlen(simple));
    assert_int_equal(cc_http_parse(two + r.head_len, strlen(two) - r.head_len, &r), 0);
    assert_int_equal(r.method, CC_HTTP_HEAD);
}

static void test_parse_methods_versions(void **state)
{
    (void)state;
    cc_http_req r;
    const char *post = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(cc_http_parse(post, strlen(post), &r), 0);
    assert_int_equal(r.method, CC_HTTP_OTHER);
    const char *h10 = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(cc_http_parse(h10, strlen(h10), &r), 0);
    assert_int_equal(r.minor, 0);
    assert_false(r.keep_alive);
    const char *h10ka = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    assert_int_equal(cc_http_parse(h10ka, strlen(h10ka), &r), 0);
    assert_true(r.keep_alive);
    const char *close = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_int_equal(cc_http_parse(close, strlen(close), &r), 0);
    assert_false(r.keep_alive);
}

/* Each input is refused with the status given. */
static void test_parse_refusals(void **state)
{
    (void)state;
    const struct {
        const char *in;
        int status;
    } v[] = {
        {"GET / HTTP/1.1\nHost: a\n\n", 400},                               /* bare LF */
        {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400},                           /* bare CR */
        {"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                     /* empty first line */
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                        /* two spaces */
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},                        /* trailing space */
        {"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},                 /* absolute form */
        {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},                     /* control in target */
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                         /* not a token */
        {"GETTTTTTTTTTTTTTTTTTT / HTTP/1.1\r\nHost: a\r\n\r\n", 400},       /* method too long */
        {"GET / HTTP/1.1\r\n\r\n", 400},                                    /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},              /* two Hosts */
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},                        /* space before colon */
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},              /* obs-fold */
        {"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400},                     /* DEL in a value */
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},                         /* no colon */
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 400}, /* a body */
        {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", 400},
        {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400}, /* bad version */
        {"GET / HTTQ/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        cc_http_req r;
        int rc = cc_http_parse(v[i].in, strlen(v[i].in), &r);
        if (rc != CC_E_PARSE || r.status != v[i].status)
            fail_msg("input %zu: rc %d status %d, want %d", i, rc, r.status, v[i].status);
        assert_non_null(r.why);
    }
    /* A NUL is refused at once, before the line is complete. */
    cc_http_req r;
    assert_int_equal(cc_http_parse("GET /\0", 6, &r), CC_E_PARSE);
    assert_int_equal(r.status, 400);
    /* Junk is refused as soon as its line ends, long before the size limit. */
    assert_int_equal(cc_http_parse("hello world\r\n", 13, &r), CC_E_PARSE);
    assert_int_equal(r.status, 400);
}

static void test_parse_limits(void **state)
{
    (void)state;
    cc_http_req r;
    char *big = malloc(CC_HTTP_HEAD_MAX + 64);
    /* One endless header line: 431 once 16 KiB are buffered, more data before. */
    size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'v', CC_HTTP_HEAD_MAX + 64 - n);
    assert_int_equal(cc_http_parse(big, CC_HTTP_HEAD_MAX - 1, &r), CC_HTTP_MORE);
    assert_int_equal(cc_http_parse(big, CC_HTTP_HEAD_MAX, &r), CC_E_PARSE);
    assert_int_equal(r.status, 431);
    /* Complete but just over the limit: 431; just under: accepted. */
    for (int over = 0; over <= 1; over++) {
        size_t total = CC_HTTP_HEAD_MAX + (size_t)over;
        size_t head = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
        size_t fill = total - head - 4;
        memset(big + head, 'v', fill);
        memcpy(big + head + fill, "\r\n\r\n", 4);
        int rc = cc_http_parse(big, total, &r);
        if (over) {
            assert_int_equal(rc, CC_E_PARSE);
            assert_int_equal(r.status, 431);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(r.head_len, total);
        }
    }
    /* Too many fields: 431. */
    n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (unsigned i = 0; i < CC_HTTP_HEADERS_MAX; i++)
        n += (size_t)sprintf(big + n, "X%u: y\r\n", i);
    n += (size_t)sprintf(big + n, "\r\n");
    assert_int_equal(cc_http_parse(big, n, &r), CC_E_PARSE);
    assert_int_equal(r.status, 431);
    free(big);
}

static void test_tokens(void **state)
{
    (void)state;
    const char *in = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
                     "Connection: , Upgrade ,\r\nUpgrade: WebSocket\r\n\r\n";
    cc_http_req r;
    assert_int_equal(cc_http_parse(in, strlen(in), &r), 0);
    assert_true(cc_http_has_token(&r, "connection", "upgrade"));
    assert_true(cc_http_has_token(&r, "Connection", "keep-alive"));
    assert_false(cc_http_has_token(&r, "Connection", "close"));
    assert_false(cc_http_has_token(&r, "Connection", "upgrad"));
    assert_true(cc_http_has_token(&r, "Upgrade", "websocket"));
    assert_true(cc_http_is_upgrade(&r));
}

static void test_ws_accept_rfc(void **state)
{
    (void)state;
    char acc[CC_HTTP_WS_ACCEPT_LEN + 1];
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    cc_http_ws_accept(key, strlen(key), acc);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static int ws_check(const char *headers, char *acc, const char **why)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "GET /ws HTTP/1.1\r\nHost: a\r\n%s\r\n", headers);
    cc_http_req r;
    assert_int_equal(cc_http_parse(buf, strlen(buf), &r), 0);
    return cc_http_ws_check(&r, acc, why);
}

static void test_ws_check(void **state)
{
    (void)state;
    char acc[CC_HTTP_WS_ACCEPT_LEN + 1];
    const char *why;
    assert_int_equal(ws_check("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n",
                              acc, &why),
                     0);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    const struct {
        const char *h;
        int status;
    } v[] = {
        {"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400},
        {"Upgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400},
        {"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n"
         "Sec-WebSocket-Version: 13\r\n",
         400},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
         400},
        {"Upgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
         426},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        why = NULL;
        int st = ws_check(v[i].h, acc, &why);
        if (st != v[i].status)
            fail_msg("case %zu: %d, want %d", i, st, v[i].status);
        assert_non_null(why);
    }
    /* A HEAD or HTTP/1.0 request cannot upgrade. */
    const char *head =
        "HEAD /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n";
    cc_http_req r;
    assert_int_equal(cc_http_parse(head, strlen(head), &r), 0);
    assert_int_equal(cc_http_ws_check(&r, acc, &why), 400);
}

/* The statuses the limits answer with have their own reason phrases. */
static void test_reasons(void **state)
{
    (void)state;
    assert_string_equal(cc_http_reason(408), "Request Timeout");
    assert_string_equal(cc_http_reason(429), "Too Many Requests");
    assert_string_equal(cc_http_reason(503), "Service Unavailable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors),   cmocka_unit_test(test_base64),
        cmocka_unit_test(test_parse_simple),   cmocka_unit_test(test_parse_methods_versions),
        cmocka_unit_test(test_parse_refusals), cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_tokens),         cmocka_unit_test(test_ws_accept_rfc),
        cmocka_unit_test(test_ws_check),       cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

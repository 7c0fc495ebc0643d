/* Unit tests of the TLS module (src/net/tls.c) on in-memory pairs: a client and a server
 * engine hand each other their output until the handshake completes, then exchange
 * plaintext both ways (small pieces gathered, a large message in several records). The
 * certificates are made here with OpenSSL, in a temporary directory: a CA, a second CA
 * that signed nothing the client trusts, server certificates naming localhost and
 * 127.0.0.1, and client certificates. Checked: a wrong CA, a wrong host name, a missing
 * or wrongly signed client certificate where one is required, a plaintext first byte, the
 * close_notify, a reload that new connections see while old ones go on, a reload from a
 * broken file that keeps the old context, the file checks, loopback addresses and the
 * start-up rule of the configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/err.h"
#include "net/tls.h"

/* The temporary directory with every certificate and key; removed at the end. */
static char dir[64];

typedef struct issuer {
    EVP_PKEY *key;
    X509 *cert;
} issuer;

static issuer ca, other_ca;

static char *path_of(const char *name)
{
    static char paths[16][128];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static void add_ext(X509 *x, X509 *issuer_cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, signed by by (NULL: self-signed, a CA). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, long serial, const issuer *by,
                       const char *san)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, by ? X509_get_subject_name(by->cert) : name);
    add_ext(x, by ? by->cert : NULL, NID_subject_key_identifier, "hash");
    if (by) {
        add_ext(x, by->cert, NID_authority_key_identifier, "keyid:always");
        add_ext(x, by->cert, NID_basic_constraints, "critical,CA:FALSE");
        if (san)
            add_ext(x, by->cert, NID_subject_alt_name, san);
    } else {
        add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    assert_true(X509_sign(x, by ? by->key : key, EVP_sha256()) > 0);
    return x;
}

static void write_cert(const char *name, X509 *x)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static void write_key(const char *name, EVP_PKEY *k)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static void make_ca(issuer *is, const char *cn, const char *file)
{
    is->key = EVP_EC_gen("P-256");
    assert_non_null(is->key);
    is->cert = make_cert(is->key, cn, 1, NULL, NULL);
    write_cert(file, is->cert);
}

/* A leaf certificate signed by by, written as NAME.pem and NAME.key. */
static void make_leaf(const char *name, const char *cn, long serial, const issuer *by,
                      const char *san)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    X509 *x = make_cert(k, cn, serial, by, san);
    char file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    write_cert(file, x);
    snprintf(file, sizeof file, "%s.key", name);
    write_key(file, k);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_tls.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    make_ca(&ca, "Test CA", "ca.pem");
    make_ca(&other_ca, "Other CA", "other-ca.pem");
    const char *san = "DNS:localhost,IP:127.0.0.1,IP:::1";
    make_leaf("server", "server one", 2, &ca, san);
    make_leaf("server2", "server two", 3, &ca, san);
    make_leaf("rogue", "rogue server", 4, &other_ca, san);
    make_leaf("client", "client one", 5, &ca, NULL);
    make_leaf("rogue-client", "rogue client", 6, &other_ca, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"ca.pem",      "other-ca.pem", "server.pem",       "server.key",
                           "server2.pem", "server2.key",  "rogue.pem",        "rogue.key",
                           "client.pem",  "client.key",   "rogue-client.pem", "rogue-client.key",
                           "live.pem",    "live.key",     "broken.pem"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_of(names[i]));
    rmdir(dir);
    X509_free(ca.cert);
    EVP_PKEY_free(ca.key);
    X509_free(other_ca.cert);
    EVP_PKEY_free(other_ca.key);
    return 0;
}

static tls_ctx *ctx_of(enum tls_side side, const char *cert, const char *key, const char *cafile)
{
    tls_files f = {cert ? path_of(cert) : NULL, key ? path_of(key) : NULL,
                   cafile ? path_of(cafile) : NULL};
    tls_ctx *t = NULL;
    char err[512] = "";
    int rc = tls_ctx_new(&t, side, &f, "test", err, sizeof err);
    if (rc != 0)
        fail_msg("tls_ctx_new: %s", err);
    return t;
}

/* Moves a's waiting output into b. */
static void pump(tls_conn *a, tls_conn *b)
{
    cc_buf o;
    cc_buf_init(&o);
    tls_conn_take_output(a, &o);
    if (o.len)
        assert_int_equal(tls_conn_feed(b, o.data, o.len), 0);
    cc_buf_free(&o);
}

/* Runs the handshake to its end: 0 when both sides completed it, else the first failure
 * (TLS_E_FAILED) with *who set to 'c' or 's'. */
static int handshake(tls_conn *cl, tls_conn *sv, char *who)
{
    char buf[64];
    tls_conn_start(cl);
    for (int i = 0; i < 10; i++) {
        pump(cl, sv);
        long r = tls_conn_read(sv, buf, sizeof buf);
        assert_true(r <= 0);
        if (r < 0) {
            *who = 's';
            return (int)r;
        }
        pump(sv, cl);
        r = tls_conn_read(cl, buf, sizeof buf);
        assert_true(r <= 0);
        if (r < 0) {
            *who = 'c';
            return (int)r;
        }
        if (tls_conn_ready(cl) && tls_conn_ready(sv))
            return 0;
    }
    fail_msg("the handshake did not end");
    return -99;
}

/* Sends the pieces from a to b and returns what b decrypts, appended to got. */
static void send_pieces(tls_conn *a, tls_conn *b, const uv_buf_t *bufs, size_t n, cc_buf *got)
{
    cc_buf wire;
    cc_buf_init(&wire);
    assert_int_equal(tls_conn_writev(a, bufs, n, &wire), 0);
    assert_true(wire.len > 0);
    assert_int_equal(tls_conn_feed(b, wire.data, wire.len), 0);
    char buf[4096];
    long r;
    while ((r = tls_conn_read(b, buf, sizeof buf)) > 0)
        cc_buf_append(got, buf, (size_t)r);
    assert_int_equal(r, 0);
    cc_buf_free(&wire);
}

static void test_handshake_and_data(void **state)
{
    (void)state;
    tls_ctx *sctx = ctx_of(TLS_SERVER, "server.pem", "server.key", NULL);
    tls_ctx *cctx = ctx_of(TLS_CLIENT, NULL, NULL, "ca.pem");
    tls_conn *sv = tls_conn_new(sctx, NULL), *cl = tls_conn_new(cctx, "localhost");
    assert_false(tls_conn_ready(cl));
    char who = 0;
    assert_int_equal(handshake(cl, sv, &who), 0);
    assert_string_equal(tls_conn_version(cl), "TLSv1.3");
    char desc[256];
    assert_non_null(strstr(tls_conn_peer(cl, desc, sizeof desc), "CN=server one"));
    assert_non_null(strstr(desc, "serial=02"));
    assert_string_equal(tls_conn_peer(sv, desc, sizeof desc), "");

    /* Small pieces in one stream, as a turn's queued messages. */
    uv_buf_t pieces[] = {uv_buf_init("{\"a\":1", 6), uv_buf_init(",\"seq\":1}\n", 10),
                         uv_buf_init("{\"b\":2}\n", 8)};
    cc_buf got;
    cc_buf_init(&got);
    send_pieces(cl, sv, pieces, 3, &got);
    assert_int_equal(got.len, 24);
    assert_memory_equal(got.data, "{\"a\":1,\"seq\":1}\n{\"b\":2}\n", 24);

    /* A message larger than a record, and back the other way. */
    size_t big = 100000;
    char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    uv_buf_t one = uv_buf_init(data, (unsigned)big);
    cc_buf_reset(&got);
    send_pieces(sv, cl, &one, 1, &got);
    assert_int_equal(got.len, big);
    assert_memory_equal(got.data, data, big);
    free(data);

    /* The client's close_notify ends the server's stream. */
    tls_conn_close_notify(cl);
    pump(cl, sv);
    char buf[16];
    assert_int_equal(tls_conn_read(sv, buf, sizeof buf), TLS_E_CLOSED);
    assert_true(tls_conn_mem(sv) > 0);

    cc_buf_free(&got);
    tls_conn_free(cl);
    tls_conn_free(sv);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* The handshake between a fresh server on sctx and a client on cctx expecting host. */
static int try_pair(tls_ctx *sctx, tls_ctx *cctx, const char *host, char *who, char *why,
                    size_t why_len)
{
    tls_conn *sv = tls_conn_new(sctx, NULL), *cl = tls_conn_new(cctx, host);
    int rc = handshake(cl, sv, who);
    why[0] = '\0';
    if (rc)
        tls_conn_error(*who == 'c' ? cl : sv, why, why_len);
    tls_conn_free(cl);
    tls_conn_free(sv);
    return rc;
}

static void test_server_verified(void **state)
{
    (void)state;
    tls_ctx *good = ctx_of(TLS_SERVER, "server.pem", "server.key", NULL);
    tls_ctx *rogue = ctx_of(TLS_SERVER, "rogue.pem", "rogue.key", NULL);
    tls_ctx *cctx = ctx_of(TLS_CLIENT, NULL, NULL, "ca.pem");
    tls_ctx *wrong = ctx_of(TLS_CLIENT, NULL, NULL, "other-ca.pem");
    char who, why[200];
    assert_int_equal(try_pair(good, cctx, "127.0.0.1", &who, why, sizeof why), 0);
    assert_int_equal(try_pair(good, cctx, "[::1]", &who, why, sizeof why), 0);
    /* A server whose certificate another CA signed. */
    assert_int_equal(try_pair(rogue, cctx, "localhost", &who, why, sizeof why), TLS_E_FAILED);
    assert_int_equal(who, 'c');
    assert_non_null(strstr(why, "certificate verify failed"));
    /* A client that trusts another CA. */
    assert_int_equal(try_pair(good, wrong, "localhost", &who, why, sizeof why), TLS_E_FAILED);
    assert_int_equal(who, 'c');
    assert_non_null(strstr(why, "certificate verify failed"));
    /* The right CA, but a name the certificate does not carry. */
    assert_int_equal(try_pair(good, cctx, "example.org", &who, why, sizeof why), TLS_E_FAILED);
    assert_non_null(strstr(why, "certificate verify failed"));
    assert_int_equal(try_pair(good, cctx, "127.0.0.2", &who, why, sizeof why), TLS_E_FAILED);
    tls_ctx_free(good);
    tls_ctx_free(rogue);
    tls_ctx_free(cctx);
    tls_ctx_free(wrong);
}

static void test_client_verified(void **state)
{
    (void)state;
    tls_ctx *sctx = ctx_of(TLS_SERVER, "server.pem", "server.key", "ca.pem");
    tls_ctx *web = ctx_of(TLS_SERVER_NO_PEER, "server.pem", "server.key", NULL);
    tls_ctx *anon = ctx_of(TLS_CLIENT, NULL, NULL, "ca.pem");
    tls_ctx *cert = ctx_of(TLS_CLIENT, "client.pem", "client.key", "ca.pem");
    tls_ctx *rogue = ctx_of(TLS_CLIENT, "rogue-client.pem", "rogue-client.key", "ca.pem");
    char who, why[200];
    assert_int_equal(try_pair(sctx, cert, "localhost", &who, why, sizeof why), 0);
    assert_int_equal(try_pair(sctx, anon, "localhost", &who, why, sizeof why), TLS_E_FAILED);
    assert_int_equal(who, 's');
    assert_int_equal(try_pair(sctx, rogue, "localhost", &who, why, sizeof why), TLS_E_FAILED);
    assert_int_equal(who, 's');
    assert_non_null(strstr(why, "certificate verify failed"));
    /* The web port's context never asks. */
    assert_int_equal(try_pair(web, anon, "localhost", &who, why, sizeof why), 0);
    tls_ctx_free(sctx);
    tls_ctx_free(web);
    tls_ctx_free(anon);
    tls_ctx_free(cert);
    tls_ctx_free(rogue);
}

static void test_plaintext_first_byte(void **state)
{
    (void)state;
    tls_ctx *sctx = ctx_of(TLS_SERVER, "server.pem", "server.key", NULL);
    tls_conn *sv = tls_conn_new(sctx, NULL);
    assert_int_equal(tls_conn_feed(sv, "GET / HTTP/1.1\r\n", 16), TLS_E_NOT_TLS);
    tls_conn_free(sv);
    sv = tls_conn_new(sctx, NULL);
    assert_int_equal(tls_conn_feed(sv, "{\"message\":\"x\"}\n", 16), TLS_E_NOT_TLS);
    tls_conn_free(sv);
    /* A handshake record that is garbage inside fails as TLS. */
    sv = tls_conn_new(sctx, NULL);
    assert_int_equal(tls_conn_feed(sv, "\x16\x03\x01\x00\x05hello", 10), 0);
    char buf[16];
    assert_int_equal(tls_conn_read(sv, buf, sizeof buf), TLS_E_FAILED);
    assert_int_equal(tls_conn_read(sv, buf, sizeof buf), TLS_E_FAILED);
    tls_conn_free(sv);
    tls_ctx_free(sctx);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(path_of(from), "rb"), *out = fopen(path_of(to), "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void test_reload(void **state)
{
    (void)state;
    copy_file("server.pem", "live.pem");
    copy_file("server.key", "live.key");
    tls_ctx *sctx = ctx_of(TLS_SERVER, "live.pem", "live.key", NULL);
    tls_ctx *cctx = ctx_of(TLS_CLIENT, NULL, NULL, "ca.pem");
    char desc[256], who;
    assert_non_null(strstr(tls_ctx_describe(sctx, desc, sizeof desc), "serial=02"));
    tls_conn *sv = tls_conn_new(sctx, NULL), *cl = tls_conn_new(cctx, "localhost");
    assert_int_equal(handshake(cl, sv, &who), 0);

    /* Renewed in place: the next connection shows the new certificate. */
    copy_file("server2.pem", "live.pem");
    copy_file("server2.key", "live.key");
    assert_int_equal(tls_ctx_reload(sctx), 0);
    assert_non_null(strstr(tls_ctx_describe(sctx, desc, sizeof desc), "serial=03"));
    tls_conn *sv2 = tls_conn_new(sctx, NULL), *cl2 = tls_conn_new(cctx, "localhost");
    assert_int_equal(handshake(cl2, sv2, &who), 0);
    assert_non_null(strstr(tls_conn_peer(cl2, desc, sizeof desc), "CN=server two"));

    /* The connection made before goes on with its own context. */
    uv_buf_t msg = uv_buf_init("still here\n", 11);
    cc_buf got;
    cc_buf_init(&got);
    send_pieces(sv, cl, &msg, 1, &got);
    assert_int_equal(got.len, 11);
    assert_non_null(strstr(tls_conn_peer(cl, desc, sizeof desc), "CN=server one"));

    /* A broken file keeps the running context. */
    FILE *f = fopen(path_of("live.pem"), "w");
    assert_non_null(f);
    fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    assert_int_equal(tls_ctx_reload(sctx), CC_E_CONFIG);
    tls_conn *sv3 = tls_conn_new(sctx, NULL), *cl3 = tls_conn_new(cctx, "localhost");
    assert_int_equal(handshake(cl3, sv3, &who), 0);
    assert_non_null(strstr(tls_conn_peer(cl3, desc, sizeof desc), "CN=server two"));

    cc_buf_free(&got);
    tls_conn_free(sv);
    tls_conn_free(cl);
    tls_conn_free(sv2);
    tls_conn_free(cl2);
    /* Freeing the context first: the connections hold theirs. */
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
    msg = uv_buf_init("after\n", 6);
    cc_buf_init(&got);
    send_pieces(cl3, sv3, &msg, 1, &got);
    assert_int_equal(got.len, 6);
    cc_buf_free(&got);
    tls_conn_free(sv3);
    tls_conn_free(cl3);
}

static void test_files_check(void **state)
{
    (void)state;
    char err[512];
    tls_files mismatch = {path_of("server.pem"), path_of("client.key"), NULL};
    assert_int_equal(tls_files_check(TLS_SERVER, &mismatch, err, sizeof err), CC_E_CONFIG);
    assert_non_null(strstr(err, "does not belong"));
    tls_files missing = {path_of("nothing.pem"), path_of("server.key"), NULL};
    assert_int_equal(tls_files_check(TLS_SERVER, &missing, err, sizeof err), CC_E_CONFIG);
    assert_non_null(strstr(err, "nothing.pem"));
    tls_files no_key = {path_of("server.pem"), NULL, NULL};
    assert_int_equal(tls_files_check(TLS_SERVER, &no_key, err, sizeof err), CC_E_CONFIG);
    tls_files bad_ca = {path_of("server.pem"), path_of("server.key"), path_of("server.key")};
    assert_int_equal(tls_files_check(TLS_SERVER, &bad_ca, err, sizeof err), CC_E_CONFIG);
    tls_files ok = {path_of("server.pem"), path_of("server.key"), path_of("ca.pem")};
    assert_int_equal(tls_files_check(TLS_SERVER, &ok, err, sizeof err), 0);
    tls_files client = {NULL, NULL, path_of("ca.pem")};
    assert_int_equal(tls_files_check(TLS_CLIENT, &client, err, sizeof err), 0);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(tls_addr_loopback("127.0.0.1:7000"));
    assert_true(tls_addr_loopback("127.9.8.7:0"));
    assert_true(tls_addr_loopback("localhost:80"));
    assert_true(tls_addr_loopback("[::1]:7000"));
    assert_false(tls_addr_loopback("0.0.0.0:7000"));
    assert_false(tls_addr_loopback("[::]:7000"));
    assert_false(tls_addr_loopback("10.1.2.3:7000"));
    assert_false(tls_addr_loopback("not an address"));
}

/* The errors the start-up rule reports for one address. */
static int exposure_errors(const tls_conf *k, const char *addr, const char *empty)
{
    cc_conf c;
    cc_conf_init(&c, "test_tls", "test.ini", NULL);
    tls_conf_check_exposure(&c, k, "listen", addr, empty);
    int n = c.errors;
    cc_conf_free(&c);
    return n;
}

static void test_exposure_rule(void **state)
{
    (void)state;
    tls_conf off = {0}, on = {.cert = "c.pem", .key = "k.pem"};
    tls_conf off_insecure = {.insecure = true};
    assert_int_equal(exposure_errors(&off, "127.0.0.1:7000", "[tokens] MediaServer"), 0);
    assert_int_equal(exposure_errors(&off, NULL, NULL), 0);
    assert_int_equal(exposure_errors(&off, "0.0.0.0:7000", NULL), 1);
    assert_int_equal(exposure_errors(&on, "0.0.0.0:7000", NULL), 0);
    assert_int_equal(exposure_errors(&on, "0.0.0.0:7000", "[tokens] MediaServer"), 1);
    assert_int_equal(exposure_errors(&off, "0.0.0.0:7000", "[server] token"), 2);
    assert_int_equal(exposure_errors(&off_insecure, "0.0.0.0:7000", "[server] token"), 0);
    assert_true(tls_conf_on(&on));
    assert_false(tls_conf_on(&off));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_server_verified),
        cmocka_unit_test(test_client_verified),
        cmocka_unit_test(test_plaintext_first_byte),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_files_check),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_exposure_rule),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

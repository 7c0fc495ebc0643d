#include "net/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/hostport.h"
#include "common/log.h"

/* Plaintext is gathered into records of this size (TLS's largest) before encryption. */
#define TLS_RECORD_MAX 16384u
/* What OpenSSL keeps per server connection besides its memory BIOs with
 * SSL_MODE_RELEASE_BUFFERS (its record buffers come and go with each read and write):
 * about 16.7 KiB in all was measured after a TLS 1.3 handshake with OpenSSL 3.0, a few
 * KiB of it in the BIOs. */
#define TLS_CONN_BASE_MEM 12288u
/* The longest file name a configuration may give. */
#define TLS_PATH_MAX 4000u

struct tls_ctx {
    SSL_CTX *ctx;
    enum tls_side side;
    char *cert, *key, *ca;
    char *what;
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bool server;
    bool fed;   /* input arrived (the first byte was looked at) */
    bool ready; /* the handshake completed */
    bool failed;
    char why[120]; /* set on failure */
};

/* Gathered plaintext of the connection being written: the loop is single-threaded and a
 * write completes its encryption before returning, so one buffer serves every
 * connection. */
static char stage[TLS_RECORD_MAX];

/* OpenSSL's newest error as a sentence (its reason string), then its queue emptied: the
 * queue is per thread, and stale errors would be blamed on the next connection. */
static void take_ssl_error(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason)
        snprintf(buf, len, "%s", reason);
    else if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", fallback);
    ERR_clear_error();
}

static SSL_CTX *build_ctx(enum tls_side side, const tls_files *f, char *err, size_t err_len)
{
    ERR_clear_error();
    bool server = side != TLS_CLIENT;
    if (server && (!f->cert || !f->key)) {
        snprintf(err, err_len, "a TLS server needs a certificate and its key");
        return NULL;
    }
    if (!f->cert != !f->key) {
        snprintf(err, err_len, "a certificate and its key come together");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        char why[120];
        take_ssl_error(why, sizeof why, "out of memory");
        snprintf(err, err_len, "cannot make a TLS context: %s", why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Renegotiation (TLS 1.2) is a way to make a server work for nothing. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    /* Record buffers are taken per read and write and given back between them: ten
     * thousand idle desktops would otherwise hold 33 KiB more each. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (server) {
        /* Session tickets cost a message per handshake that no client here resumes with. */
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    char why[120];
    if (f->cert) {
        if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
            take_ssl_error(why, sizeof why, "unreadable");
            snprintf(err, err_len, "certificate %s: %s", f->cert, why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
            bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
            take_ssl_error(why, sizeof why, "unreadable");
            if (mismatch)
                snprintf(err, err_len, "key %s does not belong to certificate %s", f->key, f->cert);
            else
                snprintf(err, err_len, "key %s: %s", f->key, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            take_ssl_error(why, sizeof why, "mismatch");
            snprintf(err, err_len, "key %s does not belong to certificate %s (%s)", f->key, f->cert,
                     why);
            goto fail;
        }
    }
    if (f->ca && side != TLS_SERVER_NO_PEER) {
        if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
            take_ssl_error(why, sizeof why, "unreadable");
            snprintf(err, err_len, "CA file %s: %s", f->ca, why);
            goto fail;
        }
    }
    if (side == TLS_CLIENT) {
        if (!f->ca && SSL_CTX_set_default_verify_paths(ctx) != 1) {
            take_ssl_error(why, sizeof why, "unreadable");
            snprintf(err, err_len, "the system's CA certificates: %s", why);
            goto fail;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else if (side == TLS_SERVER && f->ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(f->ca);
        if (!names) {
            take_ssl_error(why, sizeof why, "no certificate in it");
            snprintf(err, err_len, "CA file %s: %s", f->ca, why);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    ERR_clear_error();
    return ctx;
fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

int tls_ctx_new(tls_ctx **out, enum tls_side side, const tls_files *files, const char *what,
                char *err, size_t err_len)
{
    SSL_CTX *ctx = build_ctx(side, files, err, err_len);
    if (!ctx)
        return CC_E_CONFIG;
    tls_ctx *t = xcalloc(1, sizeof *t);
    t->ctx = ctx;
    t->side = side;
    t->cert = dup_or_null(files->cert);
    t->key = dup_or_null(files->key);
    t->ca = dup_or_null(files->ca);
    t->what = xstrdup(what);
    *out = t;
    return 0;
}

int tls_ctx_reload(tls_ctx *t)
{
    char err[512];
    tls_files f = {t->cert, t->key, t->ca};
    SSL_CTX *ctx = build_ctx(t->side, &f, err, sizeof err);
    if (!ctx) {
        LOG_ERROR("event=tls_reload_failed what=%s why=%s", LOGQ(t->what), LOGQ(err));
        return CC_E_CONFIG;
    }
    /* Each open connection holds a reference of its own to the context it started with. */
    SSL_CTX_free(t->ctx);
    t->ctx = ctx;
    char desc[256];
    LOG_INFO("event=tls_reloaded what=%s cert=%s", LOGQ(t->what),
             LOGQ(tls_ctx_describe(t, desc, sizeof desc)));
    return 0;
}

void tls_ctx_free(tls_ctx *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->cert);
    free(t->key);
    free(t->ca);
    free(t->what);
    free(t);
}

/* "subject=... serial=HEX" of a certificate, into buf. */
static const char *describe_cert(X509 *x, char *buf, size_t len)
{
    buf[0] = '\0';
    if (!x)
        return buf;
    char subject[200];
    X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject);
    char *serial = NULL;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    if (bn)
        serial = BN_bn2hex(bn);
    snprintf(buf, len, "subject=%s serial=%s", subject, serial ? serial : "?");
    OPENSSL_free(serial);
    BN_free(bn);
    ERR_clear_error();
    return buf;
}

const char *tls_ctx_describe(const tls_ctx *t, char *buf, size_t len)
{
    return describe_cert(SSL_CTX_get0_certificate(t->ctx), buf, len);
}

int tls_files_check(enum tls_side side, const tls_files *files, char *err, size_t err_len)
{
    SSL_CTX *ctx = build_ctx(side, files, err, err_len);
    if (!ctx)
        return CC_E_CONFIG;
    SSL_CTX_free(ctx);
    return 0;
}

/* An IP literal, without the brackets of "[::1]", into out; false for a name. */
static bool ip_literal(const char *host, char *out, size_t len)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n + 1 > len)
        return false;
    memcpy(out, host, n);
    out[n] = '\0';
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, out, tmp) == 1 || inet_pton(AF_INET6, out, tmp) == 1;
}

tls_conn *tls_conn_new(tls_ctx *t, const char *host)
{
    tls_conn *s = xcalloc(1, sizeof *s);
    s->server = t->side != TLS_CLIENT;
    s->ssl = SSL_new(t->ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->rbio || !s->wbio) {
        fprintf(stderr, "out of memory (TLS)\n");
        abort();
    }
    /* An empty input BIO means "more to come", not the end of the stream. */
    BIO_set_mem_eof_return(s->rbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    if (s->server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        char ip[64];
        if (host && ip_literal(host, ip, sizeof ip)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), ip);
        } else if (host && *host) {
            SSL_set1_host(s->ssl, host);
            SSL_set_tlsext_host_name(s->ssl, host);
        }
    }
    ERR_clear_error();
    return s;
}

void tls_conn_free(tls_conn *s)
{
    if (!s)
        return;
    SSL_free(s->ssl);
    free(s);
}

/* Records why the engine failed: the certificate check's verdict when it failed,
 * OpenSSL's reason otherwise. */
static void note_failure(tls_conn *s)
{
    s->failed = true;
    long v = SSL_get_verify_result(s->ssl);
    if (v != X509_V_OK) {
        snprintf(s->why, sizeof s->why, "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
        return;
    }
    take_ssl_error(s->why, sizeof s->why, "protocol error");
}

void tls_conn_start(tls_conn *s)
{
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    if (r != 1) {
        int e = SSL_get_error(s->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            note_failure(s);
    }
    ERR_clear_error();
}

int tls_conn_feed(tls_conn *s, const char *data, size_t len)
{
    if (!len)
        return 0;
    /* Every TLS connection opens with a handshake record (content type 22). */
    if (s->server && !s->fed && (unsigned char)data[0] != 0x16)
        return TLS_E_NOT_TLS;
    s->fed = true;
    while (len) {
        int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
        int w = BIO_write(s->rbio, data, chunk);
        if (w <= 0) {
            fprintf(stderr, "out of memory (TLS input)\n");
            abort();
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

long tls_conn_read(tls_conn *s, char *buf, size_t cap)
{
    if (s->failed)
        return TLS_E_FAILED;
    ERR_clear_error();
    size_t got = 0;
    int r = SSL_read_ex(s->ssl, buf, cap, &got);
    if (!s->ready && SSL_is_init_finished(s->ssl))
        s->ready = true;
    if (r == 1)
        return (long)got;
    int e = SSL_get_error(s->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: ERR_clear_error(); return 0;
    case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return TLS_E_CLOSED;
    default: note_failure(s); return TLS_E_FAILED;
    }
}

bool tls_conn_ready(const tls_conn *s)
{
    return s->ready && !s->failed;
}

bool tls_conn_has_output(const tls_conn *s)
{
    return BIO_ctrl_pending(s->wbio) > 0;
}

void tls_conn_take_output(tls_conn *s, cc_buf *out)
{
    size_t n = BIO_ctrl_pending(s->wbio);
    if (!n)
        return;
    cc_buf_reserve(out, n);
    size_t got = 0;
    if (BIO_read_ex(s->wbio, out->data + out->len, n, &got) == 1)
        out->len += got;
    out->data[out->len] = '\0';
}

/* Encrypts the gathered stage and moves the records to out, so that the output BIO
 * never holds more than a record or so. */
static int flush_stage(tls_conn *s, size_t used, cc_buf *out)
{
    if (!used)
        return 0;
    ERR_clear_error();
    size_t written = 0;
    if (SSL_write_ex(s->ssl, stage, used, &written) != 1 || written != used) {
        note_failure(s);
        return TLS_E_FAILED;
    }
    tls_conn_take_output(s, out);
    return 0;
}

int tls_conn_writev(tls_conn *s, const uv_buf_t *bufs, size_t n, cc_buf *out)
{
    if (!tls_conn_ready(s))
        return TLS_E_FAILED;
    /* Output that came before (a handshake message, a key update) goes first. */
    tls_conn_take_output(s, out);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = bufs[i].base;
        size_t left = bufs[i].len;
        while (left) {
            size_t take = sizeof stage - used;
            if (take > left)
                take = left;
            memcpy(stage + used, p, take);
            used += take;
            p += take;
            left -= take;
            if (used == sizeof stage) {
                if (flush_stage(s, used, out) < 0)
                    return TLS_E_FAILED;
                used = 0;
            }
        }
    }
    return flush_stage(s, used, out);
}

void tls_conn_close_notify(tls_conn *s)
{
    if (!tls_conn_ready(s))
        return;
    ERR_clear_error();
    SSL_shutdown(s->ssl);
    ERR_clear_error();
}

const char *tls_conn_error(const tls_conn *s, char *buf, size_t len)
{
    snprintf(buf, len, "%s", s->failed ? s->why : "");
    return buf;
}

const char *tls_conn_peer(const tls_conn *s, char *buf, size_t len)
{
    X509 *x = SSL_get1_peer_certificate(s->ssl);
    describe_cert(x, buf, len);
    X509_free(x);
    return buf;
}

const char *tls_conn_version(const tls_conn *s)
{
    return s->ready ? SSL_get_version(s->ssl) : "";
}

static size_t bio_mem(BIO *b)
{
    BUF_MEM *bm = NULL;
    BIO_get_mem_ptr(b, &bm);
    return bm ? bm->max : 0;
}

size_t tls_conn_mem(const tls_conn *s)
{
    return sizeof *s + TLS_CONN_BASE_MEM + bio_mem(s->rbio) + bio_mem(s->wbio);
}

/* ---- configuration ---- */

bool tls_conf_key(cc_conf *c, const char *key, const char *v, tls_conf *k)
{
    if (strcmp(key, "tls-cert") == 0) {
        cc_conf_set_text(c, "server", key, v, 1, TLS_PATH_MAX, &k->cert);
    } else if (strcmp(key, "tls-key") == 0) {
        cc_conf_set_text(c, "server", key, v, 1, TLS_PATH_MAX, &k->key);
    } else if (strcmp(key, "tls-ca") == 0) {
        cc_conf_set_text(c, "server", key, v, 1, TLS_PATH_MAX, &k->ca);
    } else if (strcmp(key, "insecure") == 0) {
        if (!cc_conf_bool(v, &k->insecure))
            cc_conf_error(c, "server", key, "\"%s\" is not yes or no", v);
    } else {
        return false;
    }
    return true;
}

void tls_conf_check(cc_conf *c, const tls_conf *k)
{
    if (!k->cert != !k->key) {
        cc_conf_file_error(c, 0, "[server] tls-cert and tls-key: give both or neither");
        return;
    }
    if (k->ca && !k->cert) {
        cc_conf_file_error(c, 0, "[server] tls-ca: needs tls-cert and tls-key");
        return;
    }
    if (!k->cert)
        return;
    char err[512];
    tls_files f = {k->cert, k->key, k->ca};
    if (tls_files_check(TLS_SERVER, &f, err, sizeof err) != 0)
        cc_conf_file_error(c, 0, "[server] TLS: %s", err);
}

bool tls_conf_on(const tls_conf *k)
{
    return k->cert && k->key;
}

void tls_conf_free(tls_conf *k)
{
    free(k->cert);
    free(k->key);
    free(k->ca);
    memset(k, 0, sizeof *k);
}

void tls_conf_check_exposure(cc_conf *c, const tls_conf *k, const char *key, const char *addr,
                             const char *empty_token)
{
    if (!addr || tls_addr_loopback(addr))
        return;
    if (!tls_conf_on(k)) {
        if (k->insecure)
            cc_conf_file_warn(c,
                              "[server] %s = %s is not a loopback address and TLS is off: "
                              "tokens and passwords cross the network in clear (insecure = yes)",
                              key, addr);
        else
            cc_conf_file_error(c, 0,
                               "[server] %s = %s is not a loopback address and TLS is off "
                               "(tls-cert, tls-key): tokens and passwords would cross the "
                               "network in clear; turn TLS on, or set insecure = yes",
                               key, addr);
    }
    if (empty_token) {
        if (k->insecure)
            cc_conf_file_warn(c,
                              "[server] %s = %s is not a loopback address and %s is empty: "
                              "anyone who reaches it may register (insecure = yes)",
                              key, addr, empty_token);
        else
            cc_conf_file_error(c, 0,
                               "[server] %s = %s is not a loopback address and %s is empty: "
                               "anyone who reaches it could register; give a token, or set "
                               "insecure = yes",
                               key, addr, empty_token);
    }
}

static bool one_loopback(const char *addr)
{
    struct sockaddr_storage ss;
    if (cc_parse_hostport(addr, &ss) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

bool tls_addr_loopback(const char *addr)
{
    char *copy = xstrdup(addr);
    char *addrs[CC_HOSTPORT_LIST_MAX];
    int n = cc_hostport_list_split(copy, addrs);
    bool all = n > 0;
    for (int i = 0; i < n && all; i++)
        all = one_loopback(addrs[i]);
    free(copy);
    return all;
}

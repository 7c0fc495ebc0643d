/* TLS for the net layer (docs/operations.md, "TLS"): OpenSSL contexts built from the
 * certificate, key and CA files of a configuration, rebuilt on demand (SIGHUP), and the
 * per-connection engine that cc_conn runs between the socket and the protocol. The engine
 * works on memory only: the connection hands it the bytes libuv read and writes the
 * bytes it produces, so libuv keeps doing all of the socket I/O and the layers above see
 * the same plaintext as on a TCP connection. */
#ifndef NET_TLS_H
#define NET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/buf.h"
#include "common/conf.h"

/** The files a context is built from; each NULL when not given. */
typedef struct tls_files {
    const char *cert; /* PEM certificate chain, leaf first */
    const char *key;  /* PEM private key of the certificate */
    const char *ca;   /* PEM CA certificates the peer's certificate must chain to */
} tls_files;

/** The side a context serves. */
enum tls_side {
    TLS_SERVER,         /* accepts; asks for and verifies a client certificate when ca is set */
    TLS_SERVER_NO_PEER, /* accepts; never asks for a client certificate (the web port) */
    TLS_CLIENT,         /* connects; always verifies the server (ca, or the system's CAs) */
};

/** A configured context, shared by every connection of a listener or a link. */
typedef struct tls_ctx tls_ctx;

/** One connection's TLS engine. */
typedef struct tls_conn tls_conn;

/** Returned by tls_conn_feed for a server connection whose first byte is not the start
 * of a TLS handshake record: a plaintext client on a TLS port. */
#define TLS_E_NOT_TLS (-1)
/** A TLS failure (handshake, verification, a bad record); tls_conn_error says which. */
#define TLS_E_FAILED (-2)
/** The peer closed the TLS stream (close_notify). */
#define TLS_E_CLOSED (-3)

/**
 * Builds a context for side from files: a server needs cert and key; a client may give
 * both (its own certificate) or neither. what names the context in logs ("listen",
 * "http", "link ixn-a"). The file names are copied so that tls_ctx_reload reads them
 * again. Returns 0 and *out, or CC_E_CONFIG with a sentence in err.
 */
int tls_ctx_new(tls_ctx **out, enum tls_side side, const tls_files *files, const char *what,
                char *err, size_t err_len);

/**
 * Builds the context again from the same files (certificates renewed in place). New
 * connections use the new one; connections already open keep theirs. A failure keeps
 * the running context. Logs one line either way. Returns 0 or CC_E_CONFIG.
 */
int tls_ctx_reload(tls_ctx *t);

/** Frees the context (connections still open keep what they use). NULL is ignored. */
void tls_ctx_free(tls_ctx *t);

/** The subject and serial of the context's own certificate, for logs ("" without one). */
const char *tls_ctx_describe(const tls_ctx *t, char *buf, size_t len);

/**
 * Checks that files can make a context for side: the same checks as tls_ctx_new, for
 * configuration checks. Returns 0 or CC_E_CONFIG with a sentence in err.
 */
int tls_files_check(enum tls_side side, const tls_files *files, char *err, size_t err_len);

/**
 * A new engine on t. host is the name or address a client expects the server's
 * certificate to carry (an IP literal is matched against its IP addresses; NULL: no
 * name check); servers pass NULL.
 */
tls_conn *tls_conn_new(tls_ctx *t, const char *host);

/** Frees the engine. */
void tls_conn_free(tls_conn *s);

/** A client starts its handshake: the ClientHello is then waiting in the output. */
void tls_conn_start(tls_conn *s);

/**
 * Takes ciphertext that arrived from the peer. Returns 0, or TLS_E_NOT_TLS (server side:
 * the first byte ever received is not a handshake record).
 */
int tls_conn_feed(tls_conn *s, const char *data, size_t len);

/**
 * Decrypts into buf (cap bytes): returns the number of bytes (> 0), 0 when more input is
 * needed first, TLS_E_CLOSED or TLS_E_FAILED. It also drives the handshake, whose
 * messages then wait in the output.
 */
long tls_conn_read(tls_conn *s, char *buf, size_t cap);

/** True once the handshake completed: plaintext may be written. */
bool tls_conn_ready(const tls_conn *s);

/**
 * Encrypts the n pieces of bufs as one stream, in records of up to 16 KiB (small pieces
 * are gathered first, so a turn's messages share records), and appends the ciphertext,
 * with any other output waiting, to out. Only after tls_conn_ready. Returns 0 or
 * TLS_E_FAILED.
 */
int tls_conn_writev(tls_conn *s, const uv_buf_t *bufs, size_t n, cc_buf *out);

/** True when output (handshake messages, alerts) waits to be taken. */
bool tls_conn_has_output(const tls_conn *s);

/** Appends the waiting output to out. */
void tls_conn_take_output(tls_conn *s, cc_buf *out);

/** Queues a close_notify alert in the output (after a completed handshake only). */
void tls_conn_close_notify(tls_conn *s);

/** Why the engine failed (OpenSSL's reason, or the verification error), into buf. */
const char *tls_conn_error(const tls_conn *s, char *buf, size_t len);

/** The subject and serial of the peer's certificate ("" when it showed none). */
const char *tls_conn_peer(const tls_conn *s, char *buf, size_t len);

/** The negotiated protocol version ("TLSv1.3"), or "" before the handshake. */
const char *tls_conn_version(const tls_conn *s);

/** Bytes the engine holds (an estimate of OpenSSL's state plus its buffers), for the
 * memory accounting. */
size_t tls_conn_mem(const tls_conn *s);

/** The TLS keys of a daemon's [server] section, each NULL (false) until given. */
typedef struct tls_conf {
    char *cert;    /* tls-cert = FILE */
    char *key;     /* tls-key = FILE */
    char *ca;      /* tls-ca = FILE */
    bool insecure; /* insecure = yes: exposure without TLS or tokens is allowed */
} tls_conf;

/**
 * Handles the [server] keys tls-cert, tls-key, tls-ca and insecure, with errors reported
 * through c. Returns true when key was one of them, false to let the daemon handle it.
 */
bool tls_conf_key(cc_conf *c, const char *key, const char *v, tls_conf *k);

/**
 * The checks that need the whole section: tls-cert and tls-key come together, tls-ca
 * needs them, and the files make a context (reported as file errors through c).
 */
void tls_conf_check(cc_conf *c, const tls_conf *k);

/** True when the section turns TLS on (tls-cert and tls-key given). */
bool tls_conf_on(const tls_conf *k);

/** Frees the strings of k. */
void tls_conf_free(tls_conf *k);

/**
 * The start-up rule (docs/operations.md, "TLS"): a listening address other than loopback
 * needs TLS on, and a token for every client type it serves, unless insecure = yes. key
 * names the address's key ("listen", "http") and addr its value (NULL: not configured);
 * empty_token describes a client type served with an empty token ("[tokens] MediaServer"),
 * or is NULL when there is none. Reports an error through c when the rule is broken, and
 * a warning when insecure = yes lets it pass.
 */
void tls_conf_check_exposure(cc_conf *c, const tls_conf *k, const char *key, const char *addr,
                             const char *empty_token);

/** True when addr (HOST:PORT, or a list of them) is a loopback address only
 * (127.0.0.0/8, ::1, localhost), every one of a list. An address that does not parse is
 * not loopback. */
bool tls_addr_loopback(const char *addr);

#endif

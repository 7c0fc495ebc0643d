/* A small, strict HTTP/1.1 request parser with no I/O: bytes in, one request out. It
 * reads the request line and the header block (no bodies: the daemons serve GET and
 * HEAD only), and checks a WebSocket upgrade (RFC 6455 section 4.2) and computes its
 * Sec-WebSocket-Accept. The returned request points into the caller's bytes. */
#ifndef NET_HTTP_H
#define NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/** The largest header block (request line and headers with their line ends). */
#define CC_HTTP_HEAD_MAX 16384u
/** The most header fields one request may carry. */
#define CC_HTTP_HEADERS_MAX 64u
/** The length of a Sec-WebSocket-Accept value (base64 of 20 bytes), without NUL. */
#define CC_HTTP_WS_ACCEPT_LEN 28u

/** Returned by cc_http_parse while the header block is not complete. */
#define CC_HTTP_MORE 1

/** The method of a request. */
enum cc_http_method {
    CC_HTTP_GET,
    CC_HTTP_HEAD,
    CC_HTTP_OTHER, /* a well-formed method the daemons do not serve (405) */
};

/** A slice of the input: not NUL-terminated. */
typedef struct cc_http_str {
    const char *p;
    size_t len;
} cc_http_str;

/** One header field, value without surrounding whitespace. */
typedef struct cc_http_header {
    cc_http_str name;
    cc_http_str value;
} cc_http_header;

/** One parsed request. Every slice points into the bytes given to cc_http_parse. */
typedef struct cc_http_req {
    enum cc_http_method method;
    cc_http_str method_name;
    cc_http_str target; /* the whole request target, query included */
    cc_http_str path;   /* the target without its query */
    int minor;          /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
    cc_http_header headers[CC_HTTP_HEADERS_MAX];
    size_t header_count;
    size_t head_len; /* bytes of the request line and header block */
    bool keep_alive; /* HTTP/1.1 without "Connection: close", or 1.0 with keep-alive */
    int status;      /* on error: the status to answer (400, 431, 505) */
    const char *why; /* on error: a short reason for the log and the answer body */
} cc_http_req;

/**
 * Parses one request from the start of data. Returns 0 with *req filled (req->head_len
 * bytes used), CC_HTTP_MORE when the header block is not complete yet (and not over the
 * maximum), or CC_E_PARSE with req->status (400 malformed, 431 header block over
 * CC_HTTP_HEAD_MAX or too many fields, 505 an HTTP version other than 1.0 and 1.1) and
 * req->why. GET and HEAD requests with a body (Content-Length other than 0, or
 * Transfer-Encoding) are refused with 400: nothing the daemons serve takes one; other
 * methods are parsed so that the caller answers 405 and closes. Bad bytes are found as early as
 * possible, so a peer cannot make the caller buffer junk up to the maximum.
 */
int cc_http_parse(const char *data, size_t len, cc_http_req *req);

/** The value of the first header named name (case-insensitive), or NULL. */
const cc_http_str *cc_http_get(const cc_http_req *req, const char *name);

/** True when a comma-separated header list of any field named name holds token
 * (case-insensitive), e.g. "Connection: keep-alive, Upgrade". */
bool cc_http_has_token(const cc_http_req *req, const char *name, const char *token);

/** True when s equals the NUL-terminated lit, case-insensitively. */
bool cc_http_str_ieq(cc_http_str s, const char *lit);

/** True when the request asks for a WebSocket upgrade at all (an Upgrade header). */
bool cc_http_is_upgrade(const cc_http_req *req);

/**
 * Checks a WebSocket opening handshake (RFC 6455 section 4.2.1): GET, HTTP/1.1, Host,
 * "Upgrade: websocket", "Connection: Upgrade", Sec-WebSocket-Version 13 and a
 * Sec-WebSocket-Key that is base64 of 16 bytes. Returns 0 and writes the
 * Sec-WebSocket-Accept value (NUL-terminated) into accept, or returns the status to
 * answer (400, or 426 for another version) with *why set.
 */
int cc_http_ws_check(const cc_http_req *req, char accept[CC_HTTP_WS_ACCEPT_LEN + 1],
                     const char **why);

/** The Sec-WebSocket-Accept value for a key (RFC 6455: base64(SHA-1(key + GUID))). */
void cc_http_ws_accept(const char *key, size_t key_len, char accept[CC_HTTP_WS_ACCEPT_LEN + 1]);

/** The reason phrase of a status code this module and the web layer use. */
const char *cc_http_reason(int status);

#endif

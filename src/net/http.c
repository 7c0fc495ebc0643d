#include "net/http.h"

#include <string.h>

#include "common/base64.h"
#include "common/err.h"
#include "common/sha1.h"

/* RFC 6455 section 1.3: the key is concatenated with this GUID before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The longest method name taken; longer ones are malformed for us. */
#define METHOD_MAX 16u

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A byte allowed in a field value: visible ASCII, space, tab and obs-text. */
static bool is_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool cc_http_str_ieq(cc_http_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s.p[i]) != lower(lit[i]))
            return false;
    return true;
}

static int fail(cc_http_req *req, int status, const char *why)
{
    req->status = status;
    req->why = why;
    return CC_E_PARSE;
}

/* Parses "METHOD SP TARGET SP HTTP/1.x" (line without its CRLF). */
static int parse_request_line(cc_http_req *req, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return fail(req, 400, "malformed request line");
    if (i > METHOD_MAX)
        return fail(req, 400, "method too long");
    req->method_name = (cc_http_str){p, i};
    if (i == 3 && memcmp(p, "GET", 3) == 0)
        req->method = CC_HTTP_GET;
    else if (i == 4 && memcmp(p, "HEAD", 4) == 0)
        req->method = CC_HTTP_HEAD;
    else
        req->method = CC_HTTP_OTHER;
    size_t t = ++i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c > 0x7e)
            return fail(req, 400, "bad byte in the request target");
        i++;
    }
    if (i == t || i >= n)
        return fail(req, 400, "malformed request line");
    if (p[t] != '/')
        return fail(req, 400, "only origin-form request targets are served");
    req->target = (cc_http_str){p + t, i - t};
    const char *q = memchr(p + t, '?', i - t);
    req->path = (cc_http_str){p + t, q ? (size_t)(q - (p + t)) : i - t};
    i++;
    const char *v = p + i;
    size_t vn = n - i;
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return fail(req, 400, "malformed HTTP version");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return fail(req, 505, "only HTTP/1.0 and HTTP/1.1 are served");
    req->minor = v[7] - '0';
    return 0;
}

/* Parses "name: value" (line without its CRLF) into the next header slot. */
static int parse_header(cc_http_req *req, const char *p, size_t n)
{
    if (p[0] == ' ' || p[0] == '\t')
        return fail(req, 400, "folded header lines are not accepted");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return fail(req, 400, "malformed header field");
    if (req->header_count == CC_HTTP_HEADERS_MAX)
        return fail(req, 431, "too many header fields");
    cc_http_header *h = &req->headers[req->header_count++];
    h->name = (cc_http_str){p, i};
    size_t a = i + 1, b = n;
    while (a < b && (p[a] == ' ' || p[a] == '\t'))
        a++;
    while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
        b--;
    for (size_t k = a; k < b; k++)
        if (!is_vchar((unsigned char)p[k]))
            return fail(req, 400, "bad byte in a header value");
    h->value = (cc_http_str){p + a, b - a};
    return 0;
}

const cc_http_str *cc_http_get(const cc_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->header_count; i++)
        if (cc_http_str_ieq(req->headers[i].name, name))
            return &req->headers[i].value;
    return NULL;
}

static size_t header_count_of(const cc_http_req *req, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < req->header_count; i++)
        if (cc_http_str_ieq(req->headers[i].name, name))
            n++;
    return n;
}

bool cc_http_has_token(const cc_http_req *req, const char *name, const char *token)
{
    for (size_t i = 0; i < req->header_count; i++) {
        if (!cc_http_str_ieq(req->headers[i].name, name))
            continue;
        const char *p = req->headers[i].value.p;
        size_t n = req->headers[i].value.len, k = 0;
        while (k < n) {
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == ','))
                k++;
            size_t s = k;
            while (k < n && p[k] != ',')
                k++;
            size_t e = k;
            while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
                e--;
            if (e > s && cc_http_str_ieq((cc_http_str){p + s, e - s}, token))
                return true;
        }
    }
    return false;
}

/* Checks what only the whole header block can tell. */
static int check_block(cc_http_req *req)
{
    size_t hosts = header_count_of(req, "Host");
    if (hosts > 1 || (req->minor == 1 && hosts == 0))
        return fail(req, 400, "an HTTP/1.1 request needs exactly one Host header");
    /* Another method is answered 405 and the connection closed, body or not. */
    const cc_http_str *cl = cc_http_get(req, "Content-Length");
    if (req->method != CC_HTTP_OTHER &&
        (cc_http_get(req, "Transfer-Encoding") ||
         (cl && (header_count_of(req, "Content-Length") > 1 || !cc_http_str_ieq(*cl, "0")))))
        return fail(req, 400, "request bodies are not accepted");
    if (req->minor == 1)
        req->keep_alive = !cc_http_has_token(req, "Connection", "close");
    else
        req->keep_alive = cc_http_has_token(req, "Connection", "keep-alive");
    return 0;
}

int cc_http_parse(const char *data, size_t len, cc_http_req *req)
{
    memset(req, 0, sizeof *req);
    size_t limit = len < CC_HTTP_HEAD_MAX ? len : CC_HTTP_HEAD_MAX;
    size_t pos = 0;
    bool first = true;
    while (pos < limit) {
        /* Find this line's end, checking every byte on the way so that junk is refused
         * as soon as it arrives. */
        size_t e = pos;
        while (e < limit && data[e] != '\r' && data[e] != '\n') {
            if (data[e] == '\0')
                return fail(req, 400, "NUL byte in the header block");
            e++;
        }
        if (e == limit)
            break;
        if (data[e] == '\n')
            return fail(req, 400, "a line ends without CR");
        if (e + 1 == limit)
            break;
        if (data[e + 1] != '\n')
            return fail(req, 400, "CR not followed by LF");
        size_t n = e - pos;
        int rc;
        if (first) {
            if (n == 0)
                return fail(req, 400, "empty request line");
            rc = parse_request_line(req, data + pos, n);
            first = false;
        } else if (n == 0) {
            req->head_len = e + 2;
            return check_block(req);
        } else {
            rc = parse_header(req, data + pos, n);
        }
        if (rc != 0)
            return rc;
        pos = e + 2;
    }
    if (len >= CC_HTTP_HEAD_MAX)
        return fail(req, 431, "header block over 16 KiB");
    return CC_HTTP_MORE;
}

bool cc_http_is_upgrade(const cc_http_req *req)
{
    return cc_http_get(req, "Upgrade") != NULL;
}

void cc_http_ws_accept(const char *key, size_t key_len, char accept[CC_HTTP_WS_ACCEPT_LEN + 1])
{
    cc_sha1 s;
    uint8_t digest[CC_SHA1_LEN];
    cc_sha1_init(&s);
    cc_sha1_update(&s, key, key_len);
    cc_sha1_update(&s, ws_guid, sizeof ws_guid - 1);
    cc_sha1_final(&s, digest);
    cc_base64_encode(digest, sizeof digest, accept);
}

int cc_http_ws_check(const cc_http_req *req, char accept[CC_HTTP_WS_ACCEPT_LEN + 1],
                     const char **why)
{
    if (req->method != CC_HTTP_GET) {
        *why = "a WebSocket upgrade must be a GET";
        return 400;
    }
    if (req->minor != 1) {
        *why = "a WebSocket upgrade needs HTTP/1.1";
        return 400;
    }
    if (!cc_http_has_token(req, "Upgrade", "websocket")) {
        *why = "Upgrade: websocket missing";
        return 400;
    }
    if (!cc_http_has_token(req, "Connection", "upgrade")) {
        *why = "Connection: Upgrade missing";
        return 400;
    }
    const cc_http_str *ver = cc_http_get(req, "Sec-WebSocket-Version");
    if (!ver) {
        *why = "Sec-WebSocket-Version missing";
        return 400;
    }
    if (!cc_http_str_ieq(*ver, "13") || header_count_of(req, "Sec-WebSocket-Version") > 1) {
        *why = "only WebSocket version 13 is served";
        return 426;
    }
    const cc_http_str *key = cc_http_get(req, "Sec-WebSocket-Key");
    uint8_t raw[18];
    if (!key || header_count_of(req, "Sec-WebSocket-Key") > 1 || key->len != 24 ||
        cc_base64_decode(key->p, key->len, raw, sizeof raw) != 16) {
        *why = "Sec-WebSocket-Key is not base64 of 16 bytes";
        return 400;
    }
    cc_http_ws_accept(key->p, key->len, accept);
    *why = NULL;
    return 0;
}

const char *cc_http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    }
    return "Error";
}

#include "net/web.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/map.h"
#include "net/addr.h"
#include "net/http.h"
#include "net/ws.h"
#include "proto/frame.h"

/* The longest allowed-origins entry, and the most entries. */
#define ORIGIN_MAX 256u
#define ORIGINS_MAX 32u
/* The longest path handed to a generated page. */
#define PAGE_PATH_MAX 256u
/* HTTP connections get this idle timeout when the daemon sets none. */
#define HTTP_IDLE_DEFAULT_S 30u
/* What an HTTP connection may have queued before it is cut (pages are small). */
#define HTTP_OUT_LIMIT (8u * 1024u * 1024u)
/* Addresses remembered for logging once the table holds this many: those with no
 * connection open are forgotten then. */
#define ADDR_TABLE_MAX 8192u
/* The longest host of a peer address ("[v6]" without brackets fits). */
#define HOST_MAX 64u
/* A streamed answer makes its next piece only while less than this is queued. */
#define STREAM_LOW_WATER (256u * 1024u)
/* How often a stream whose peer is not reading looks again, milliseconds. */
#define STREAM_POLL_MS 5u
/* The longest request target and Authorization value a streamed page is given. */
#define STREAM_TARGET_MAX 2048u
#define STREAM_AUTH_MAX 1024u

typedef struct web_http web_http;
typedef struct web_stream web_stream;

/* What the listener remembers of one peer address. */
typedef struct web_addr {
    unsigned conns;     /* HTTP connections open (not upgraded) */
    uint64_t logged_us; /* when its last error line was written; 0: never */
    uint64_t unlogged;  /* errors answered since then and not logged */
} web_addr;

struct cc_web {
    cc_net *net;
    cc_web_config cfg;
    uv_tcp_t listener;
    char origins[ORIGINS_MAX][ORIGIN_MAX];
    size_t origin_count;
    cc_sbuf **bodies; /* one shared body per embedded asset, made on first use */
    cc_web_stats stats;
    /* The listener and every connection it accepted hold a reference, so that a
     * connection still open after cc_web_stop never sees the listener freed. */
    size_t refs;
    web_http *http; /* connections not (yet) upgraded, for the limit and the stop */
    size_t http_open;
    cc_map addrs; /* host -> web_addr */
    bool stopping;
};

/* An HTTP connection before (or instead of) an upgrade. */
struct web_http {
    cc_web *web;
    cc_conn *conn;
    char host[HOST_MAX];
    cc_buf in;
    bool done;           /* answered with "Connection: close": input is ignored */
    web_stream *stream;  /* a streamed answer in progress, or NULL */
    cc_web_later *later; /* a streamed page's answer still to come, or NULL */
    web_http *prev, *next;
};

/* A streamed page answered later: the connection it is for (NULL once gone). */
struct cc_web_later {
    web_http *h;
    bool head_only;
};

/* A streamed answer: its producer runs from a timer, one piece per loop turn while the
 * peer keeps up. */
struct web_stream {
    uv_timer_t timer;
    web_http *h; /* NULL once the connection is gone */
    const cc_web_stream_ops *ops;
    void *state;
    uint64_t progress_us; /* when a piece was sent or the queue last shrank */
    size_t last_queued;
    unsigned stall_s; /* a peer that reads nothing this long is cut */
};

/* A WebSocket connection: the transport under a cc_server session. */
typedef struct web_ws {
    cc_web *web;
    cc_conn *conn;
    cc_ws *ws;
} web_ws;

static void web_free(cc_web *w)
{
    size_t pos = 0;
    for (cc_map_slot *sl; (sl = cc_map_next(&w->addrs, &pos));)
        free(sl->value);
    cc_map_free(&w->addrs);
    size_t n = w->cfg.bundle && w->cfg.bundle->count ? w->cfg.bundle->count : 0;
    for (size_t i = 0; i < n; i++)
        cc_sbuf_unref(w->bodies[i]);
    free(w->bodies);
    free(w);
}

static void web_unref(cc_web *w)
{
    assert(w->refs > 0);
    if (--w->refs == 0)
        web_free(w);
}

static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* ---- origins ---- */

/* One entry: "http://host[:port]" or "https://...", nothing after the authority. */
static bool origin_valid(const char *s, size_t n)
{
    size_t skip;
    if (n > 7 && ieq(s, 7, "http://", 7))
        skip = 7;
    else if (n > 8 && ieq(s, 8, "https://", 8))
        skip = 8;
    else
        return false;
    for (size_t i = skip; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == ',')
            return false;
    }
    return true;
}

/* Calls fn for each trimmed entry of a comma list; stops at the first failure. */
static int each_origin(const char *list, int (*fn)(void *ctx, const char *s, size_t n), void *ctx)
{
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        if (!e)
            e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            int rc = fn(ctx, a, (size_t)(b - a));
            if (rc)
                return rc;
        }
        p = *e ? e + 1 : e;
    }
    return 0;
}

typedef struct origin_check {
    char *err;
    size_t err_len;
    size_t count;
} origin_check;

static int check_one(void *ctx, const char *s, size_t n)
{
    origin_check *oc = ctx;
    if (n >= ORIGIN_MAX || !origin_valid(s, n)) {
        snprintf(oc->err, oc->err_len, "\"%.*s\" is not an origin like http://host:port",
                 (int)(n > 80 ? 80 : n), s);
        return CC_E_CONFIG;
    }
    if (++oc->count > ORIGINS_MAX) {
        snprintf(oc->err, oc->err_len, "more than %u entries", ORIGINS_MAX);
        return CC_E_CONFIG;
    }
    return 0;
}

int cc_web_check_origins(const char *list, char *err, size_t err_len)
{
    origin_check oc = {err, err_len, 0};
    return each_origin(list, check_one, &oc);
}

static int add_one(void *ctx, const char *s, size_t n)
{
    cc_web *w = ctx;
    assert(w->origin_count < ORIGINS_MAX && n < ORIGIN_MAX);
    memcpy(w->origins[w->origin_count], s, n);
    w->origins[w->origin_count][n] = '\0';
    w->origin_count++;
    return 0;
}

/* An upgrade from a browser must come from a listed origin, or from the daemon's own
 * origin (the one the browser used, as the Host header says) when none are listed. */
static bool origin_allowed(const cc_web *w, const cc_http_req *req)
{
    const cc_http_str *o = cc_http_get(req, "Origin");
    if (!o)
        return true;
    if (w->cfg.allowed_origins) {
        for (size_t i = 0; i < w->origin_count; i++)
            if (ieq(o->p, o->len, w->origins[i], strlen(w->origins[i])))
                return true;
        return false;
    }
    /* The page's own origin has the scheme this listener speaks. */
    const char *scheme = w->cfg.tls ? "https://" : "http://";
    size_t sl = strlen(scheme);
    const cc_http_str *host = cc_http_get(req, "Host");
    if (!host || o->len != sl + host->len || !ieq(o->p, sl, scheme, sl))
        return false;
    return ieq(o->p + sl, host->len, host->p, host->len);
}

/* ---- peer addresses ---- */

static web_addr *addr_get(cc_web *w, const char *host)
{
    web_addr *a = cc_map_gets(&w->addrs, host);
    if (a)
        return a;
    if (w->addrs.count >= ADDR_TABLE_MAX) {
        size_t pos = 0;
        for (cc_map_slot *sl; (sl = cc_map_next(&w->addrs, &pos));) {
            web_addr *x = sl->value;
            if (x->conns == 0)
                free(cc_map_del(&w->addrs, sl->key, sl->keylen));
        }
    }
    a = xcalloc(1, sizeof *a);
    cc_map_puts(&w->addrs, host, a);
    return a;
}

/* Forgets an address with nothing open and nothing left to report. */
static void addr_maybe_drop(cc_web *w, const char *host, web_addr *a)
{
    if (a->conns == 0 && a->unlogged == 0 &&
        (!a->logged_us ||
         cc_mono_us() - a->logged_us >= (uint64_t)CC_WEB_ERROR_LOG_INTERVAL_S * 1000000u))
        free(cc_map_dels(&w->addrs, host));
}

/* ---- HTTP answers ---- */

static void send_bytes(cc_conn *c, const char *p, size_t n)
{
    cc_sbuf *s = cc_sbuf_new(p, n);
    cc_conn_send_wire(c, s);
    cc_sbuf_unref(s);
}

/* Status line and headers; the body (shared) follows unless the request was HEAD. */
static void respond(web_http *h, int status, const char *type, cc_sbuf *body, bool head_only,
                    bool keep, const char *extra)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_printf(&b,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n%s%s\r\n",
                  status, cc_http_reason(status), type, body ? body->len : 0, extra ? extra : "",
                  keep ? "" : "Connection: close\r\n");
    send_bytes(h->conn, b.data, b.len);
    cc_buf_free(&b);
    if (body && body->len && !head_only)
        cc_conn_send_wire(h->conn, body);
    h->web->stats.requests++;
    if (status >= 400)
        h->web->stats.errors++;
    if (!keep) {
        h->done = true;
        cc_conn_linger(h->conn);
        cc_conn_close(h->conn, CC_CLOSE_LOCAL);
    }
}

static void respond_error(web_http *h, int status, const char *why, bool head_only, bool keep,
                          const char *extra)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_printf(&b, "%d %s: %s\n", status, cc_http_reason(status), why);
    cc_sbuf *body = cc_sbuf_new(b.data, b.len);
    cc_buf_free(&b);
    /* One line per address per interval: a peer sending bad requests in a loop must not
     * write more log than it sends. */
    web_addr *a = addr_get(h->web, h->host);
    uint64_t now = cc_mono_us();
    if (!a->logged_us || now - a->logged_us >= (uint64_t)CC_WEB_ERROR_LOG_INTERVAL_S * 1000000u) {
        LOG_INFO("event=http_error conn=%" PRIu64 " peer=%s status=%d why=\"%s\" unlogged=%" PRIu64,
                 cc_conn_id(h->conn), cc_conn_peer(h->conn), status, why, a->unlogged);
        a->logged_us = now;
        a->unlogged = 0;
    } else {
        a->unlogged++;
        h->web->stats.errors_unlogged++;
    }
    respond(h, status, "text/plain; charset=utf-8", body, head_only, keep, extra);
    cc_sbuf_unref(body);
}

/* ---- WebSocket sessions ---- */

static int ws_on_message(void *user, const char *msg, size_t len)
{
    web_ws *x = user;
    return cc_conn_deliver(x->conn, msg, len);
}

static void ws_on_write(void *user, const char *data, size_t len)
{
    web_ws *x = user;
    send_bytes(x->conn, data, len);
}

static const cc_ws_ops ws_ops = {.on_message = ws_on_message, .on_write = ws_on_write};

/* The stream ended on the WebSocket level (our close frame or the answer to the
 * peer's): close the connection once the frame is out. */
static void ws_after(web_ws *x, int rc)
{
    if (rc != CC_E_CLOSED || cc_conn_is_closing(x->conn))
        return;
    uint16_t code = cc_ws_close_code(x->ws);
    bool peer = cc_ws_close_received(x->ws);
    LOG_INFO("event=ws_close conn=%" PRIu64 " peer=%s code=%u by=%s", cc_conn_id(x->conn),
             cc_conn_peer(x->conn), (unsigned)code, peer ? "peer" : "server");
    if (peer) {
        cc_conn_close(x->conn, CC_CLOSE_PEER);
        return;
    }
    x->web->stats.ws_closed++;
    cc_conn_linger(x->conn);
    if (code == CC_WS_TOO_BIG) {
        cc_conn_net(x->conn)->stats.closed_too_large++;
        cc_conn_close(x->conn, CC_CLOSE_TOO_LARGE);
    } else {
        cc_conn_close(x->conn, CC_CLOSE_LOCAL);
    }
}

static void ws_tp_feed(cc_conn *c, void *ctx, const char *data, size_t len)
{
    (void)c;
    web_ws *x = ctx;
    ws_after(x, cc_ws_feed(x->ws, data, len));
}

static void ws_tp_resume(cc_conn *c, void *ctx)
{
    (void)c;
    web_ws *x = ctx;
    ws_after(x, cc_ws_resume(x->ws));
}

static void ws_tp_set_max(void *ctx, size_t max)
{
    web_ws *x = ctx;
    cc_ws_set_max_message(x->ws, max);
}

static size_t ws_tp_mem(void *ctx)
{
    web_ws *x = ctx;
    return sizeof *x + cc_ws_mem(x->ws);
}

static size_t ws_tp_head(void *ctx, size_t len, char *head)
{
    (void)ctx;
    return cc_ws_text_header(len, head);
}

/* The session closes the connection: say why in a close frame first. */
static void ws_tp_closing(cc_conn *c, void *ctx, enum cc_close_reason reason)
{
    web_ws *x = ctx;
    uint16_t code = CC_WS_NORMAL;
    if (reason == CC_CLOSE_IDLE)
        code = CC_WS_GOING_AWAY;
    else if (reason == CC_CLOSE_TOO_LARGE)
        code = CC_WS_TOO_BIG;
    else if (reason == CC_CLOSE_TIMEOUT)
        code = CC_WS_POLICY;
    cc_ws_close(x->ws, code);
    cc_conn_linger(c);
}

static void ws_tp_free(void *ctx)
{
    web_ws *x = ctx;
    cc_web *w = x->web;
    cc_ws_free(x->ws);
    free(x);
    web_unref(w);
}

static const cc_conn_transport ws_transport = {
    .feed = ws_tp_feed,
    .resume = ws_tp_resume,
    .head = ws_tp_head,
    .closing = ws_tp_closing,
    .free_ctx = ws_tp_free,
    .set_max = ws_tp_set_max,
    .mem = ws_tp_mem,
};

static void stream_closed(uv_handle_t *t)
{
    free(t->data);
}

/* Frees the producer's state and the stream (its timer closes first). */
static void stream_end(web_stream *st)
{
    if (st->h)
        st->h->stream = NULL;
    st->h = NULL;
    if (st->ops) {
        st->ops->free(st->state);
        st->ops = NULL;
    }
    uv_timer_stop(&st->timer);
    uv_close((uv_handle_t *)&st->timer, stream_closed);
}

static void http_free(void *ctx)
{
    web_http *h = ctx;
    cc_web *w = h->web;
    if (h->stream)
        stream_end(h->stream);
    if (h->later)
        h->later->h = NULL;
    if (h->prev)
        h->prev->next = h->next;
    else
        w->http = h->next;
    if (h->next)
        h->next->prev = h->prev;
    w->http_open--;
    web_addr *a = cc_map_gets(&w->addrs, h->host);
    if (a) {
        if (a->conns)
            a->conns--;
        addr_maybe_drop(w, h->host, a);
    }
    cc_buf_free(&h->in);
    free(h);
    web_unref(w);
}

/* Answers 101 and turns the connection into a cc_server session over WebSocket. Frees
 * h: the caller returns at once. */
static void upgrade(web_http *h, const cc_http_req *req, const char *accept)
{
    cc_web *w = h->web;
    cc_conn *c = h->conn;
    char head[160];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    assert(n > 0 && (size_t)n < sizeof head);
    send_bytes(c, head, (size_t)n);
    w->stats.requests++;
    w->stats.upgrades++;

    /* Frames the client sent right behind its request. */
    size_t rest_len = h->in.len - req->head_len;
    char *rest = rest_len ? xmalloc(rest_len) : NULL;
    if (rest_len)
        memcpy(rest, h->in.data + req->head_len, rest_len);

    web_ws *x = xcalloc(1, sizeof *x);
    x->web = w;
    w->refs++;
    x->conn = c;
    size_t max = w->cfg.server->max_line ? w->cfg.server->max_line : PROTO_LINE_MAX_DEFAULT;
    x->ws = cc_ws_new(&ws_ops, x, max);
    cc_conn_set_transport(c, &ws_transport, x);
    http_free(h);
    LOG_INFO("event=ws_open conn=%" PRIu64 " peer=%s", cc_conn_id(c), cc_conn_peer(c));
    cc_server_adopt(w->cfg.server, c);
    if (rest_len)
        ws_tp_feed(c, x, rest, rest_len);
    free(rest);
}

/* ---- HTTP requests ---- */

static cc_sbuf *asset_body(cc_web *w, size_t i)
{
    if (!w->bodies[i])
        w->bodies[i] = cc_sbuf_new(w->cfg.bundle->assets[i].data, w->cfg.bundle->assets[i].len);
    return w->bodies[i];
}

static bool serve_asset(web_http *h, const cc_http_req *req, bool head_only)
{
    const cc_web_bundle *b = h->web->cfg.bundle;
    if (!b)
        return false;
    cc_http_str path = req->path;
    for (size_t i = 0; i < b->count; i++) {
        const cc_web_asset *a = &b->assets[i];
        if (strlen(a->path) == path.len && memcmp(a->path, path.p, path.len) == 0) {
            respond(h, 200, a->type, asset_body(h->web, i), head_only, req->keep_alive, NULL);
            return true;
        }
    }
    return false;
}

static bool serve_page(web_http *h, const cc_http_req *req, bool head_only)
{
    cc_web *w = h->web;
    if (!w->cfg.page || req->path.len >= PAGE_PATH_MAX)
        return false;
    char path[PAGE_PATH_MAX];
    memcpy(path, req->path.p, req->path.len);
    path[req->path.len] = '\0';
    cc_buf body;
    cc_buf_init(&body);
    const char *type = "application/json";
    if (w->cfg.page(w->cfg.page_user, path, &body, &type) != 0) {
        cc_buf_free(&body);
        return false;
    }
    cc_sbuf *s = cc_sbuf_new(body.data, body.len);
    cc_buf_free(&body);
    respond(h, 200, type, s, head_only, req->keep_alive, NULL);
    cc_sbuf_unref(s);
    return true;
}

static void on_stream_timer(uv_timer_t *t)
{
    web_stream *st = t->data;
    web_http *h = st->h;
    if (!h || cc_conn_is_closing(h->conn))
        return;
    uint64_t now = cc_mono_us();
    size_t queued = cc_conn_queued(h->conn);
    if (queued < st->last_queued)
        st->progress_us = now;
    st->last_queued = queued;
    if (queued >= STREAM_LOW_WATER) {
        if (now - st->progress_us > (uint64_t)st->stall_s * 1000000u) {
            LOG_INFO("event=http_stream_stalled conn=%" PRIu64 " peer=%s", cc_conn_id(h->conn),
                     cc_conn_peer(h->conn));
            stream_end(st);
            cc_conn_close(h->conn, CC_CLOSE_IDLE);
            return;
        }
        uv_timer_start(&st->timer, on_stream_timer, STREAM_POLL_MS, 0);
        return;
    }
    cc_buf out;
    cc_buf_init(&out);
    int rc = st->ops->next(st->state, &out);
    if (out.len)
        send_bytes(h->conn, out.data, out.len);
    cc_buf_free(&out);
    st->progress_us = now;
    st->last_queued = cc_conn_queued(h->conn);
    if (rc == 1) {
        uv_timer_start(&st->timer, on_stream_timer, 0, 0);
        return;
    }
    if (rc < 0)
        LOG_WARN("event=http_stream_failed conn=%" PRIu64 " error=%s", cc_conn_id(h->conn),
                 cc_err_name(rc));
    cc_conn *c = h->conn;
    stream_end(st);
    cc_conn_linger(c);
    cc_conn_close(c, CC_CLOSE_LOCAL);
}

static char *copy_str(const char *p, size_t n)
{
    char *s = xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void stream_answer(web_http *h, int rc, const cc_web_stream_answer *a, bool head_only,
                          bool keep_alive);

/* Offers the request to the daemon's streamed pages. Returns true when answered. */
static bool serve_stream(web_http *h, const cc_http_req *req, bool head_only)
{
    cc_web *w = h->web;
    if (!w->cfg.stream || req->target.len >= STREAM_TARGET_MAX)
        return false;
    const char *q = memchr(req->target.p, '?', req->target.len);
    size_t qlen = q ? req->target.len - (size_t)(q + 1 - req->target.p) : 0;
    char *path = copy_str(req->path.p, req->path.len);
    char *query = copy_str(q ? q + 1 : "", qlen);
    const cc_http_str *auth = cc_http_get(req, "Authorization");
    char *auth_s = auth && auth->len < STREAM_AUTH_MAX ? copy_str(auth->p, auth->len) : NULL;
    cc_web_later *later = xcalloc(1, sizeof *later);
    cc_web_request r = {.path = path, .query = query, .authorization = auth_s, .later = later};
    cc_web_stream_answer ans = {.status = 500};
    int rc = w->cfg.stream(w->cfg.stream_user, &r, &ans);
    free(path);
    free(query);
    free(auth_s);
    if (rc == 0 && ans.status == CC_WEB_LATER) {
        /* Nothing more is read from this connection: the answer closes it. */
        later->h = h;
        later->head_only = head_only;
        h->later = later;
        h->done = true;
        return true;
    }
    free(later);
    if (rc == CC_E_NOT_FOUND)
        return false;
    stream_answer(h, rc, &ans, head_only, req->keep_alive);
    return true;
}

void cc_web_later_answer(cc_web_later *l, const cc_web_stream_answer *ans)
{
    web_http *h = l->h;
    bool head_only = l->head_only;
    free(l);
    if (h)
        h->later = NULL;
    if (!h || cc_conn_is_closing(h->conn)) {
        if (ans->ops)
            ans->ops->free(ans->state);
        return;
    }
    stream_answer(h, 0, ans, head_only, false);
}

/* Sends a streamed page's answer: a refusal, or the head of a 200 and its producer. */
static void stream_answer(web_http *h, int rc, const cc_web_stream_answer *a, bool head_only,
                          bool keep_alive)
{
    cc_web *w = h->web;
    cc_web_stream_answer ans = *a;
    if (rc != 0 || ans.status != 200) {
        if (ans.ops)
            ans.ops->free(ans.state);
        respond_error(h, rc != 0 || ans.status < 400 ? 500 : ans.status,
                      ans.why ? ans.why : "the page failed", head_only, keep_alive, ans.extra);
        return;
    }
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_printf(&b,
                  "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
                  "X-Content-Type-Options: nosniff\r\n%sConnection: close\r\n\r\n",
                  ans.type ? ans.type : "text/plain", ans.extra ? ans.extra : "");
    send_bytes(h->conn, b.data, b.len);
    cc_buf_free(&b);
    w->stats.requests++;
    h->done = true;
    if (head_only) {
        ans.ops->free(ans.state);
        cc_conn_linger(h->conn);
        cc_conn_close(h->conn, CC_CLOSE_LOCAL);
        return;
    }
    web_stream *st = xcalloc(1, sizeof *st);
    st->h = h;
    st->ops = ans.ops;
    st->state = ans.state;
    st->progress_us = cc_mono_us();
    st->stall_s = w->cfg.idle_timeout_s ? w->cfg.idle_timeout_s : HTTP_IDLE_DEFAULT_S;
    h->stream = st;
    /* The peer sends nothing while it reads the body: the stall check stands in for the
     * idle timeout. */
    cc_conn_set_idle_timeout(h->conn, 0);
    uv_timer_init(cc_conn_net(h->conn)->loop, &st->timer);
    st->timer.data = st;
    uv_timer_start(&st->timer, on_stream_timer, 0, 0);
}

/* ---- operations: /metrics and /healthz ---- */

/* The peer's host is a loopback address (127.0.0.0/8, ::1, or 127/8 mapped to IPv6). */
static bool host_is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strncmp(host, "::ffff:127.", 11) == 0;
}

/* "Bearer TOKEN" with the configured token, compared in time independent of where the
 * strings differ. */
static bool bearer_ok(const cc_http_req *req, const char *token)
{
    const cc_http_str *a = cc_http_get(req, "Authorization");
    if (!a || a->len < 7 || !ieq(a->p, 7, "Bearer ", 7))
        return false;
    const char *p = a->p + 7;
    size_t n = a->len - 7, want = strlen(token);
    unsigned char diff = (unsigned char)(n != want);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(p[i] ^ token[i % (want ? want : 1)]);
    return diff == 0;
}

static bool path_is(const cc_http_req *req, const char *path)
{
    size_t n = strlen(path);
    return req->path.len == n && memcmp(req->path.p, path, n) == 0;
}

/* GET /metrics and GET /healthz (docs/operations.md, "Metrics and health"). Returns true
 * when the request was one of them. */
static bool serve_ops(web_http *h, const cc_http_req *req, bool head_only)
{
    cc_web *w = h->web;
    if (w->cfg.metrics && path_is(req, "/metrics")) {
        const char *token = w->cfg.metrics_token;
        if (token && *token) {
            if (!bearer_ok(req, token)) {
                respond_error(h, 401, "/metrics needs the metrics-token", head_only,
                              req->keep_alive, "WWW-Authenticate: Bearer realm=\"metrics\"\r\n");
                return true;
            }
        } else if (!host_is_loopback(h->host) || cc_http_get(req, "Forwarded") ||
                   cc_http_get(req, "X-Forwarded-For")) {
            /* A reverse proxy on the same host connects from loopback for every client
             * it forwards: a forwarded request is not a local one. */
            respond_error(h, 403, "/metrics is served to loopback only without a metrics-token",
                          head_only, req->keep_alive, NULL);
            return true;
        }
        cc_buf b;
        cc_buf_init(&b);
        cc_metrics_encode(w->cfg.metrics, &b);
        cc_sbuf *body = cc_sbuf_new(b.data, b.len);
        cc_buf_free(&b);
        respond(h, 200, CC_METRICS_CONTENT_TYPE, body, head_only, req->keep_alive, NULL);
        cc_sbuf_unref(body);
        return true;
    }
    if (path_is(req, "/healthz")) {
        const char *why = NULL;
        int rc = w->cfg.health ? w->cfg.health(w->cfg.health_user, &why) : 0;
        cc_buf b;
        cc_buf_init(&b);
        if (rc == 0)
            cc_buf_puts(&b, "ok\n");
        else
            cc_buf_printf(&b, "not ready: %s\n", why ? why : "unknown");
        cc_sbuf *body = cc_sbuf_new(b.data, b.len);
        cc_buf_free(&b);
        /* Not an error to log: a probe asks this every few seconds while the daemon
         * waits for its peers. */
        respond(h, rc == 0 ? 200 : 503, "text/plain; charset=utf-8", body, head_only,
                req->keep_alive, NULL);
        cc_sbuf_unref(body);
        return true;
    }
    return false;
}

/* Answers one complete request. Returns true when h was handed to a session (freed). */
static bool handle(web_http *h, const cc_http_req *req)
{
    cc_web *w = h->web;
    bool head_only = req->method == CC_HTTP_HEAD;
    if (req->method == CC_HTTP_OTHER) {
        /* Nothing here takes a body, and an unknown method may carry one: close. */
        respond_error(h, 405, "only GET and HEAD are served", false, false, "Allow: GET, HEAD\r\n");
        return false;
    }
    if (req->path.len == 3 && memcmp(req->path.p, "/ws", 3) == 0) {
        char accept[CC_HTTP_WS_ACCEPT_LEN + 1];
        const char *why = NULL;
        int status = cc_http_ws_check(req, accept, &why);
        if (status == 426) {
            respond_error(h, 426, why, head_only, false,
                          "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
            return false;
        }
        if (status) {
            respond_error(h, status, why, head_only, false, NULL);
            return false;
        }
        if (!origin_allowed(w, req)) {
            respond_error(h, 403, "this Origin may not open a WebSocket here", false, false, NULL);
            return false;
        }
        if (w->cfg.admit ? w->cfg.admit(w->cfg.admit_user) != 0
                         : !cc_server_has_room(w->cfg.server)) {
            respond_error(h, 503, "connection limit reached", false, false, NULL);
            return false;
        }
        upgrade(h, req, accept);
        return true;
    }
    if (serve_ops(h, req, head_only) || serve_stream(h, req, head_only) ||
        serve_asset(h, req, head_only) || serve_page(h, req, head_only))
        return false;
    respond_error(h, 404, "no such page", head_only, req->keep_alive, NULL);
    return false;
}

static void http_feed(cc_conn *c, void *ctx, const char *data, size_t len)
{
    (void)c;
    web_http *h = ctx;
    if (h->done)
        return;
    cc_buf_append(&h->in, data, len);
    while (!h->done && h->in.len && !cc_conn_is_closing(h->conn)) {
        /* The header deadline runs from a request's first byte; more bytes do not move
         * it, so a peer trickling a header cannot hold the connection past it. */
        if (!cc_conn_has_deadline(h->conn))
            cc_conn_set_deadline(h->conn, h->web->cfg.header_timeout_s
                                              ? h->web->cfg.header_timeout_s
                                              : CC_WEB_HEADER_TIMEOUT_DEFAULT);
        cc_http_req req;
        int rc = cc_http_parse(h->in.data, h->in.len, &req);
        if (rc == CC_HTTP_MORE)
            return;
        if (rc != 0) {
            respond_error(h, req.status, req.why, false, false, NULL);
            return;
        }
        cc_conn_set_deadline(h->conn, 0);
        if (handle(h, &req))
            return;
        if (!h->done)
            cc_buf_consume(&h->in, req.head_len);
    }
}

static size_t http_tp_mem(void *ctx)
{
    web_http *h = ctx;
    return sizeof *h + h->in.cap;
}

static const cc_conn_transport http_transport = {
    .feed = http_feed,
    .free_ctx = http_free,
    .mem = http_tp_mem,
};

static int http_on_line(cc_conn *c, const char *line, size_t len)
{
    /* Lines only come without a transport, and an HTTP connection always has one. */
    (void)c;
    (void)line;
    (void)len;
    return CC_E_CLOSED;
}

static void http_on_close(cc_conn *c, enum cc_close_reason reason)
{
    (void)c;
    (void)reason;
}

/* The header block did not complete in time: 408, then the connection closes. */
static void http_on_deadline(cc_conn *c)
{
    web_http *h = cc_conn_user(c);
    if (h->done)
        return;
    h->web->stats.header_timeouts++;
    respond_error(h, 408, "the request header did not arrive in time", false, false, NULL);
}

static const cc_conn_ops http_ops = {
    .on_line = http_on_line, .on_deadline = http_on_deadline, .on_close = http_on_close};

/* What a browser that typed http:// on the https port reads. */
static const char plaintext_reply[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n"
    "Connection: close\r\n\r\nThis port speaks HTTPS: use https:// .\r\n";

static void on_connection(uv_stream_t *listener, int status)
{
    cc_web *w = listener->data;
    if (status < 0) {
        LOG_WARN("event=accept_failed what=http error=%s", uv_strerror(status));
        return;
    }
    cc_conn_limits lim = cc_conn_default_limits();
    lim.out_hard = HTTP_OUT_LIMIT;
    lim.idle_timeout_s = w->cfg.idle_timeout_s ? w->cfg.idle_timeout_s : HTTP_IDLE_DEFAULT_S;
    lim.server_side = false;
    web_http *h = xcalloc(1, sizeof *h);
    h->web = w;
    cc_buf_init(&h->in);
    w->refs++;
    w->http_open++;
    h->next = w->http;
    if (w->http)
        w->http->prev = h;
    w->http = h;
    int rc = cc_conn_accept(w->net, listener, &http_ops, &lim, h, &h->conn);
    if (rc < 0) {
        LOG_WARN("event=accept_failed what=http error=%s", uv_strerror(rc));
        http_free(h);
        return;
    }
    cc_conn_set_transport(h->conn, &http_transport, h);
    if (w->cfg.tls)
        cc_conn_start_tls(h->conn, w->cfg.tls, NULL, plaintext_reply);
    cc_conn_peer_host(h->conn, h->host, sizeof h->host);
    web_addr *a = addr_get(w, h->host);
    a->conns++;
    unsigned max = w->cfg.max_connections ? w->cfg.max_connections : CC_WEB_MAX_CONNECTIONS_DEFAULT;
    unsigned per = w->cfg.max_per_address ? w->cfg.max_per_address : CC_WEB_MAX_PER_ADDRESS_DEFAULT;
    if (a->conns > per) {
        w->stats.refused_address++;
        respond_error(h, 429, "too many HTTP connections from this address", false, false, NULL);
    } else if (w->http_open > max) {
        w->stats.refused_full++;
        respond_error(h, 503, "too many HTTP connections", false, false, NULL);
    }
}

int cc_web_start(cc_web **out, cc_net *net, const cc_web_config *cfg, int *port_out)
{
    assert(cfg->server && cfg->server->net == net);
    char err[160];
    if (cfg->allowed_origins && cc_web_check_origins(cfg->allowed_origins, err, sizeof err)) {
        LOG_ERROR("event=config_error what=\"%s\"", err);
        return CC_E_CONFIG;
    }
    cc_web *w = xcalloc(1, sizeof *w);
    w->net = net;
    w->cfg = *cfg;
    if (cfg->allowed_origins)
        each_origin(cfg->allowed_origins, add_one, w);
    w->bodies =
        xcalloc(cfg->bundle && cfg->bundle->count ? cfg->bundle->count : 1, sizeof *w->bodies);
    w->refs = 1;
    cc_map_init(&w->addrs);
    uv_tcp_init(net->loop, &w->listener);
    w->listener.data = w;
    int rc = cc_listen_tcp(&w->listener, cfg->listen, on_connection, port_out);
    if (rc < 0) {
        cc_web_stop(w);
        return rc;
    }
    LOG_INFO("event=http_listening listen=%s port=%d assets=%zu tls=%s", cfg->listen, *port_out,
             cfg->bundle ? cfg->bundle->count : (size_t)0, cfg->tls ? "yes" : "no");
    *out = w;
    return 0;
}

const cc_web_stats *cc_web_get_stats(const cc_web *w)
{
    return &w->stats;
}

static void on_listener_closed(uv_handle_t *h)
{
    web_unref(h->data);
}

void cc_web_stop(cc_web *w)
{
    if (!w || w->stopping)
        return;
    w->stopping = true;
    /* Pages in flight are cut; WebSocket sessions are the cc_server's to close. */
    for (web_http *h = w->http; h; h = h->next)
        cc_conn_close(h->conn, CC_CLOSE_LOCAL);
    uv_close((uv_handle_t *)&w->listener, on_listener_closed);
}

bool cc_web_port_key(cc_conf *c, const char *key, const char *v, const cc_web_port_keys *keys)
{
    if (strcmp(key, "listen") == 0) {
        cc_conf_set_hostport(c, "server", key, v, keys->listen);
    } else if (strcmp(key, "http") == 0) {
        cc_conf_set_hostport(c, "server", key, v, keys->http);
    } else if (strcmp(key, "allowed-origins") == 0) {
        char err[200];
        if (cc_web_check_origins(v, err, sizeof err) != 0)
            cc_conf_error(c, "server", key, "%s", err);
        else
            cc_conf_set_str(keys->allowed_origins, v);
    } else if (strcmp(key, "port-file") == 0) {
        cc_conf_set_text(c, "server", key, v, 1, SIZE_MAX, keys->port_file);
    } else {
        return false;
    }
    return true;
}

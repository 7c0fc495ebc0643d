#include "net/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/hostport.h"
#include "common/log.h"
#include "net/netmetrics.h"
#include "proto/regmsg.h"

#define PING_RING 8

struct cc_client {
    cc_net *net;
    cc_client_config cfg;
    const cc_client_ops *ops;
    void *user;
    cc_conn *conn;
    uv_timer_t retry_timer;
    uv_timer_t ping_timer;
    unsigned backoff_ms;
    int64_t next_ref;
    int64_t register_ref;
    int64_t ping_refs[PING_RING];
    uint64_t expect_seq;
    bool up;
    bool freeing;
    int handles_open;
    char server_name[PROTO_ID_MAX + 1];
    char *tls_host; /* the host of the address, which the server's certificate names */
    /* The addresses of cfg.address ("HOST:PORT,HOST:PORT": an owner and its standbys),
     * split in place of one copy; each attempt after a lost link takes the next one. */
    char *addr_list;
    char *addrs[CC_HOSTPORT_LIST_MAX];
    int naddrs, cur;
};

static void client_connect(cc_client *c);

/* The host of the current address, which the server's certificate must name: "HOST:PORT"
 * or "[V6]:PORT", the host being everything before the last colon. */
static void set_tls_host(cc_client *c)
{
    const char *a = c->addrs[c->cur];
    const char *colon = strrchr(a, ':');
    size_t hl = colon ? (size_t)(colon - a) : strlen(a);
    free(c->tls_host);
    c->tls_host = xmalloc(hl + 1);
    memcpy(c->tls_host, a, hl);
    c->tls_host[hl] = '\0';
}

static void on_handle_closed(uv_handle_t *h)
{
    cc_client *c = h->data;
    if (--c->handles_open == 0) {
        free((char *)c->cfg.address);
        free(c->addr_list);
        free((char *)c->cfg.client_type);
        free((char *)c->cfg.client_name);
        free((char *)c->cfg.token);
        free(c->tls_host);
        free(c);
    }
}

static void on_retry(uv_timer_t *t)
{
    cc_client *c = t->data;
    if (!c->freeing && !c->conn)
        client_connect(c);
}

static void link_down(cc_client *c, const char *why)
{
    bool was_up = c->up;
    c->up = false;
    uv_timer_stop(&c->ping_timer);
    if (c->conn) {
        cc_conn_set_user(c->conn, NULL);
        cc_conn_close(c->conn, CC_CLOSE_LOCAL);
        c->conn = NULL;
    }
    if (c->freeing)
        return;
    /* The next address of a list is tried at the shortest delay: the standby may be up
     * already. Only a whole round that failed makes the client wait longer. */
    const char *lost = c->addrs[c->cur];
    c->cur = (c->cur + 1) % c->naddrs;
    unsigned delay = c->cur ? c->cfg.backoff_min_ms : c->backoff_ms;
    LOG_INFO("event=link_down address=%s type=%s was_up=%d why=%s retry_ms=%u next=%s", lost,
             c->cfg.client_type, was_up, LOGQ(why), c->cfg.reconnect ? delay : 0, c->addrs[c->cur]);
    set_tls_host(c);
    if (c->cfg.reconnect) {
        uv_timer_start(&c->retry_timer, on_retry, delay, 0);
        if (c->cur == 0) {
            c->backoff_ms *= 2;
            if (c->backoff_ms > c->cfg.backoff_max_ms)
                c->backoff_ms = c->cfg.backoff_max_ms;
        }
    }
    if (c->ops->on_down)
        c->ops->on_down(c, why);
}

static void send_open(cc_client *c, const cc_buf *b)
{
    cc_sbuf *s = cc_sbuf_new(b->data, b->len);
    cc_conn_send_open(c->conn, s, NULL);
    cc_sbuf_unref(s);
}

static void on_ping(uv_timer_t *t)
{
    cc_client *c = t->data;
    if (!c->up)
        return;
    cc_buf b;
    cc_buf_init(&b);
    int64_t ref = ++c->next_ref;
    proto_reg_enc_ping(&b, ref);
    send_open(c, &b);
    cc_buf_free(&b);
    for (int i = 0; i < PING_RING; i++)
        if (c->ping_refs[i] == 0) {
            c->ping_refs[i] = ref;
            break;
        }
}

static bool is_ping_ack(cc_client *c, int64_t ref)
{
    for (int i = 0; i < PING_RING; i++)
        if (ref > 0 && c->ping_refs[i] == ref) {
            c->ping_refs[i] = 0;
            return true;
        }
    return false;
}

static int on_line(cc_conn *conn, const char *line, size_t len)
{
    cc_client *c = cc_conn_user(conn);
    if (!c || len == 0)
        return 0;
    proto_msg msg;
    if (proto_msg_parse(&msg, line, len) != 0) {
        proto_msg_free(&msg);
        link_down(c, "invalid message from server");
        return 0;
    }
    int64_t seq = 0;
    if (proto_get_int(&msg, "seq", true, 1, INT64_MAX, &seq) != 0 ||
        (uint64_t)seq != c->expect_seq) {
        proto_msg_free(&msg);
        link_down(c, "seq gap");
        return 0;
    }
    c->expect_seq++;
    cc_netm_received(msg.name);
    if (!c->up) {
        if (msg.ref == c->register_ref && strcmp(msg.name, "EventAck") == 0) {
            c->up = true;
            c->backoff_ms = c->cfg.backoff_min_ms;
            /* Fields that do not decode are taken as absent: the link still works,
             * only without a name in the logs or without pings. */
            proto_reg_ack ra;
            if (proto_reg_decode_ack(&msg, &ra) != 0)
                memset(&ra, 0, sizeof ra);
            snprintf(c->server_name, sizeof c->server_name, "%s",
                     ra.server_name ? ra.server_name : "");
            if (ra.idle_timeout_s > 0) {
                uint64_t every = (uint64_t)ra.idle_timeout_s * 1000u / 3u;
                uv_timer_start(&c->ping_timer, on_ping, every, every);
            }
            if (c->ops->on_registered)
                c->ops->on_registered(c, &msg);
        } else {
            proto_error err;
            proto_decode_error(&msg, &err);
            const char *desc = err.description;
            char why[256];
            snprintf(why, sizeof why, "registration refused: %s", desc ? desc : msg.name);
            link_down(c, why);
        }
        proto_msg_free(&msg);
        return 0;
    }
    if (!(strcmp(msg.name, "EventAck") == 0 && is_ping_ack(c, msg.ref)) && c->ops->on_message)
        c->ops->on_message(c, &msg, line, len);
    proto_msg_free(&msg);
    return 0;
}

static void on_connect(cc_conn *conn, int status)
{
    cc_client *c = cc_conn_user(conn);
    if (!c || status < 0)
        return; /* on_close follows and reports it */
    cc_buf b;
    cc_buf_init(&b);
    c->register_ref = ++c->next_ref;
    proto_reg_enc_register(&b, c->register_ref,
                           &(proto_reg_register){.client_name = c->cfg.client_name,
                                                 .client_type = c->cfg.client_type,
                                                 .token = c->cfg.token});
    send_open(c, &b);
    cc_buf_free(&b);
}

static void on_close(cc_conn *conn, enum cc_close_reason reason)
{
    cc_client *c = cc_conn_user(conn);
    if (!c)
        return;
    c->conn = NULL;
    link_down(c, cc_close_reason_name(reason));
}

static const cc_conn_ops client_conn_ops = {
    .on_line = on_line,
    .on_connect = on_connect,
    .on_close = on_close,
};

static void client_connect(cc_client *c)
{
    cc_conn_limits lim = cc_conn_default_limits();
    lim.server_side = false;
    lim.max_line = c->cfg.max_line;
    lim.out_hard = c->cfg.out_limit;
    c->next_ref = 0;
    c->expect_seq = 1;
    memset(c->ping_refs, 0, sizeof c->ping_refs);
    int rc = cc_conn_connect(c->net, c->addrs[c->cur], &client_conn_ops, &lim, c, &c->conn);
    if (rc < 0) {
        c->conn = NULL;
        link_down(c, uv_strerror(rc));
        return;
    }
    if (c->cfg.tls)
        cc_conn_start_tls(c->conn, c->cfg.tls, c->tls_host, NULL);
}

cc_client *cc_client_new(cc_net *net, const cc_client_config *cfg, const cc_client_ops *ops,
                         void *user)
{
    cc_client *c = xcalloc(1, sizeof *c);
    c->net = net;
    c->cfg = *cfg;
    c->cfg.address = xstrdup(cfg->address);
    c->cfg.client_type = xstrdup(cfg->client_type);
    c->cfg.client_name = xstrdup(cfg->client_name ? cfg->client_name : "");
    c->cfg.token = xstrdup(cfg->token ? cfg->token : "");
    c->addr_list = xstrdup(cfg->address);
    c->naddrs = cc_hostport_list_split(c->addr_list, c->addrs);
    if (c->naddrs <= 0) {
        /* Not an address list: kept whole, so that the connect fails with a clear error
         * in the log like any bad address. */
        free(c->addr_list);
        c->addr_list = xstrdup(cfg->address);
        c->naddrs = 1;
        c->addrs[0] = c->addr_list;
    }
    set_tls_host(c);
    if (!c->cfg.backoff_min_ms)
        c->cfg.backoff_min_ms = 100;
    if (!c->cfg.backoff_max_ms)
        c->cfg.backoff_max_ms = 5000;
    if (!c->cfg.max_line)
        c->cfg.max_line = 65536;
    if (!c->cfg.out_limit)
        c->cfg.out_limit = 8u * 1024u * 1024u;
    c->backoff_ms = c->cfg.backoff_min_ms;
    c->ops = ops;
    c->user = user;
    uv_timer_init(net->loop, &c->retry_timer);
    uv_timer_init(net->loop, &c->ping_timer);
    c->retry_timer.data = c;
    c->ping_timer.data = c;
    c->handles_open = 2;
    return c;
}

void cc_client_start(cc_client *c)
{
    if (!c->conn && !c->freeing)
        client_connect(c);
}

void cc_client_free(cc_client *c)
{
    if (!c || c->freeing)
        return;
    c->freeing = true;
    link_down(c, "closed by owner");
    uv_timer_stop(&c->retry_timer);
    uv_close((uv_handle_t *)&c->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->ping_timer, on_handle_closed);
}

void cc_client_drop(cc_client *c, const char *why)
{
    if (c->conn || c->up)
        link_down(c, why);
}

bool cc_client_is_up(const cc_client *c)
{
    return c->up;
}
void *cc_client_user(const cc_client *c)
{
    return c->user;
}
const char *cc_client_address(const cc_client *c)
{
    return c->addrs[c->cur];
}
const char *cc_client_server_name(const cc_client *c)
{
    return c->server_name;
}

int64_t cc_client_request(cc_client *c, const cc_buf *open_msg)
{
    if (!c->up || !c->conn)
        return 0;
    int64_t ref = ++c->next_ref;
    char extra[40];
    snprintf(extra, sizeof extra, ",\"referenceId\":%" PRId64, ref);
    cc_sbuf *s = cc_sbuf_new(open_msg->data, open_msg->len);
    cc_conn_send_open(c->conn, s, extra);
    cc_sbuf_unref(s);
    return ref;
}

bool cc_client_send(cc_client *c, cc_sbuf *body, const char *extra)
{
    if (!c->up || !c->conn)
        return false;
    cc_conn_send_open(c->conn, body, extra);
    return true;
}

size_t cc_client_queued(const cc_client *c)
{
    return c->conn ? cc_conn_queued(c->conn) : 0;
}

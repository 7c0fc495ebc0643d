#include "net/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "net/netmetrics.h"
#include "net/turnw.h"
#include "net/creds.h"
#include "proto/frame.h"
#include "proto/regmsg.h"

struct cc_session {
    cc_server *server;
    cc_conn *conn;
    enum cc_client_type type;
    char name[PROTO_ID_MAX + 1];
    void *user;
    cc_buf ack;
    int64_t deferred_ref; /* referenceId of the request being answered later */
    bool deferred;
    const char *line; /* the inbound line being handled, for handlers that forward it */
    size_t line_len;
    bool counted;                 /* counts in the server's conns */
    uint64_t started_us;          /* when the line being handled (or answered later) arrived */
    const cc_tenant_set *tenants; /* of its [clients] entry; NULL = all (a token) */
    struct reg_work *reg;         /* a [clients] secret being checked; NULL when none */
};

/* The check of a [clients] secret, on libuv's thread pool: crypt(3) takes tens of
 * milliseconds, which the loop must not spend. */
typedef struct reg_work {
    uv_work_t req;
    cc_session *s; /* NULL once the session closed meanwhile */
    cc_server *server;
    const cc_cred *cred;
    char *secret;
    int64_t ref;
    bool ok;
} reg_work;

const char *cc_client_class_name(enum cc_client_class k)
{
    switch (k) {
    case CC_CLASS_DESKTOP: return "desktop";
    case CC_CLASS_MEDIA: return "media";
    case CC_CLASS_REPORTING: return "reporting";
    case CC_CLASS_STAT: return "stat";
    case CC_CLASS_WEB: return "web";
    case CC_CLASS_COUNT: break;
    }
    return "unknown";
}

static enum cc_client_class class_of(const cc_session *s)
{
    if (cc_conn_has_transport(s->conn))
        return CC_CLASS_WEB;
    switch (s->type) {
    case CC_CLIENT_MEDIA: return CC_CLASS_MEDIA;
    case CC_CLIENT_REPORTING: return CC_CLASS_REPORTING;
    case CC_CLIENT_STAT: return CC_CLASS_STAT;
    default: return CC_CLASS_DESKTOP;
    }
}

/* The limits a registered session lives with from now on. */
static void apply_registered_limits(cc_session *s)
{
    cc_server *srv = s->server;
    enum cc_client_class k = class_of(s);
    cc_out_limit l = srv->out_limits[k];
    if (!l.hard) {
        size_t hard =
            s->type == CC_CLIENT_REPORTING ? srv->out_limit_reporting : srv->out_limit_default;
        l.hard = hard ? hard : cc_conn_default_limits().out_hard;
    }
    cc_conn_set_out_limits(s->conn, &l);
    cc_conn_set_deadline(s->conn, 0);
    cc_conn_set_max_line(s->conn, srv->max_line ? srv->max_line : PROTO_LINE_MAX_DEFAULT);
}

const char *cc_client_type_name(enum cc_client_type t)
{
    switch (t) {
    case CC_CLIENT_AGENT: return "AgentApplication";
    case CC_CLIENT_MEDIA: return "MediaServer";
    case CC_CLIENT_REPORTING: return "ReportingEngine";
    case CC_CLIENT_STAT: return "StatClient";
    case CC_CLIENT_SUPERVISOR: return "Supervisor";
    case CC_CLIENT_NONE: break;
    }
    return "None";
}

static enum cc_client_type type_from_name(const char *name)
{
    if (strcmp(name, "AgentApplication") == 0)
        return CC_CLIENT_AGENT;
    if (strcmp(name, "MediaServer") == 0)
        return CC_CLIENT_MEDIA;
    if (strcmp(name, "ReportingEngine") == 0)
        return CC_CLIENT_REPORTING;
    if (strcmp(name, "StatClient") == 0)
        return CC_CLIENT_STAT;
    if (strcmp(name, "Supervisor") == 0)
        return CC_CLIENT_SUPERVISOR;
    return CC_CLIENT_NONE;
}

static const char *token_for(const cc_server *srv, enum cc_client_type t)
{
    switch (t) {
    case CC_CLIENT_AGENT: return srv->token_agent;
    case CC_CLIENT_MEDIA: return srv->token_media;
    case CC_CLIENT_REPORTING: return srv->token_reporting;
    case CC_CLIENT_STAT: return srv->token_stat;
    case CC_CLIENT_SUPERVISOR: break; /* by a [clients] entry only, never by a token */
    case CC_CLIENT_NONE: break;
    }
    return NULL;
}

/* Compares in time independent of where the strings differ, so a token cannot be
 * guessed byte by byte from answer times. */
static bool secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

cc_server *cc_session_server(const cc_session *s)
{
    return s->server;
}
cc_conn *cc_session_conn(const cc_session *s)
{
    return s->conn;
}
enum cc_client_type cc_session_type(const cc_session *s)
{
    return s->type;
}
const char *cc_session_name(const cc_session *s)
{
    return s->name;
}
void *cc_session_user(const cc_session *s)
{
    return s->user;
}
void cc_session_set_user(cc_session *s, void *user)
{
    s->user = user;
}
uint64_t cc_session_id(const cc_session *s)
{
    return cc_conn_id(s->conn);
}
cc_buf *cc_session_ack_buf(cc_session *s)
{
    return &s->ack;
}

const cc_tenant_set *cc_session_tenants(const cc_session *s)
{
    return s->tenants;
}

bool cc_session_tenant_ok(const cc_session *s, const char *tenant)
{
    return cc_tenant_set_has(s->tenants, tenant);
}

int cc_session_tenant_check(cc_session *s, proto_msg *msg, const char *tenant)
{
    if (cc_tenant_set_has(s->tenants, tenant))
        return 0;
    snprintf(msg->desc, sizeof msg->desc, "tenant %.128s is not one of this client's tenants",
             tenant);
    return CC_E_NOT_AUTHORIZED;
}

int cc_session_allow(cc_session *s, proto_msg *msg, unsigned mask)
{
    if (s->type & mask)
        return 0;
    snprintf(msg->desc, sizeof msg->desc, "%s may not send %s", cc_client_type_name(s->type),
             msg->name);
    return CC_E_NOT_AUTHORIZED;
}

void cc_session_send(cc_session *s, cc_sbuf *body, const char *extra)
{
    cc_conn_send_open(s->conn, body, extra);
}

void cc_session_send_error(cc_session *s, int64_t ref, int err, const char *desc)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_error(&b, ref, err, desc && *desc ? desc : cc_err_wire_name(err));
    cc_conn_send_buf(s->conn, &b);
    cc_buf_free(&b);
    s->server->errors_sent++;
    cc_netm_error(err);
}

void cc_session_close(cc_session *s)
{
    cc_conn_close(s->conn, CC_CLOSE_LOCAL);
}

static void answer(cc_session *s, int64_t ref, int rc, const char *desc)
{
    cc_netm_answered(s->started_us);
    if (rc == 0)
        cc_conn_send_buf(s->conn, &s->ack);
    else
        cc_session_send_error(s, ref, rc, desc);
}

/* The registration succeeded: the session is of type t from now on. */
static void registered(cc_session *s, enum cc_client_type t, const char *client_name,
                       const cc_cred *cred)
{
    s->type = t;
    cc_netm_session_registered(t);
    s->tenants = cred ? &cred->tenants : NULL;
    snprintf(s->name, sizeof s->name, "%s", client_name ? client_name : "");
    proto_reg_enc_ack(&s->ack, &(proto_reg_ack){.proxy_client_id = (int64_t)cc_session_id(s),
                                                .server_name = s->server->server_name,
                                                .protocol_version = PROTO_VERSION,
                                                .idle_timeout_s = s->server->idle_timeout_s});
    apply_registered_limits(s);
    LOG_INFO("event=client_registered session=%" PRIu64 " peer=%s type=%s name=%s cred=%s",
             cc_session_id(s), cc_conn_peer(s->conn), cc_client_type_name(t), LOGQ(s->name),
             cred ? "clients" : "token");
}

static void reg_work_run(uv_work_t *req)
{
    reg_work *w = req->data;
    w->ok = cc_creds_verify(w->secret, w->cred->hash);
    explicit_bzero(w->secret, strlen(w->secret));
}

static void reg_work_free(reg_work *w)
{
    explicit_bzero(w->secret, strlen(w->secret));
    free(w->secret);
    free(w);
}

static void reg_done(cc_session *s, int64_t ref, int rc, const char *desc);

/* Back on the loop with the verdict on a [clients] secret. */
static void reg_work_after(uv_work_t *req, int status)
{
    reg_work *w = req->data;
    cc_session *s = w->s;
    w->server->secret_checks--;
    if (!s || cc_conn_is_closing(s->conn)) {
        if (s)
            s->reg = NULL;
        reg_work_free(w);
        return;
    }
    s->reg = NULL;
    int rc = 0;
    const char *desc = NULL;
    if (status < 0) {
        rc = CC_E_UNAVAILABLE;
        desc = "cannot check the secret now";
    } else if (!w->ok) {
        rc = CC_E_NOT_AUTHORIZED;
        desc = "unknown client or wrong secret";
        LOG_WARN("event=client_register_failed session=%" PRIu64 " peer=%s name=%s why=secret",
                 cc_session_id(s), cc_conn_peer(s->conn), LOGQ(w->cred->name));
        cc_netm_register_failed(CC_NETM_REG_SECRET);
    } else {
        registered(s, w->cred->type, w->cred->name, w->cred);
    }
    int64_t ref = w->ref;
    reg_work_free(w);
    reg_done(s, ref, rc, desc);
    if (rc == 0)
        cc_conn_resume(s->conn);
}

static int handle_register(cc_session *s, proto_msg *msg)
{
    proto_reg_register reg;
    int rc = proto_reg_decode_register(msg, &reg);
    if (rc)
        return rc;
    const char *type_name = reg.client_type, *client_name = reg.client_name, *token = reg.token;
    enum cc_client_type t = type_from_name(type_name);
    if (t == CC_CLIENT_NONE) {
        snprintf(msg->desc, sizeof msg->desc, "clientType %s is not known", type_name);
        return CC_E_INVALID_ATTRIBUTE;
    }
    const cc_cred *cred = client_name ? cc_creds_find(s->server->creds, client_name) : NULL;
    if (cred) {
        /* A name of [clients] registers with its own secret and type only, never with a
         * token of [tokens]. */
        if (cred->type != t) {
            snprintf(msg->desc, sizeof msg->desc, "%s", "unknown client or wrong secret");
            LOG_WARN("event=client_register_failed session=%" PRIu64 " peer=%s name=%s why=type",
                     cc_session_id(s), cc_conn_peer(s->conn), LOGQ(cred->name));
            cc_netm_register_failed(CC_NETM_REG_TYPE);
            return CC_E_NOT_AUTHORIZED;
        }
        unsigned max = s->server->max_secret_checks ? s->server->max_secret_checks
                                                    : CC_SESSION_SECRET_CHECKS_MAX;
        if (s->server->secret_checks >= max) {
            snprintf(msg->desc, sizeof msg->desc, "%s",
                     "too many registrations being checked: try again later");
            LOG_WARN("event=client_register_failed session=%" PRIu64 " peer=%s name=%s "
                     "why=busy",
                     cc_session_id(s), cc_conn_peer(s->conn), LOGQ(cred->name));
            cc_netm_register_failed(CC_NETM_REG_BUSY);
            return CC_E_LIMIT_EXCEEDED;
        }
        reg_work *w = xcalloc(1, sizeof *w);
        w->req.data = w;
        w->s = s;
        w->server = s->server;
        w->cred = cred;
        w->secret = xstrdup(token ? token : "");
        w->ref = msg->ref;
        if (uv_queue_work(s->server->net->loop, &w->req, reg_work_run, reg_work_after) < 0) {
            reg_work_free(w);
            snprintf(msg->desc, sizeof msg->desc, "%s", "cannot check the secret now");
            return CC_E_UNAVAILABLE;
        }
        s->reg = w;
        s->server->secret_checks++;
        return CC_SESSION_DEFERRED;
    }
    const char *want = token_for(s->server, t);
    if (!want) {
        snprintf(msg->desc, sizeof msg->desc, "clientType %s is not served on this port",
                 type_name);
        return CC_E_NOT_AUTHORIZED;
    }
    if (*want && (!token || !secret_equal(token, want))) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "wrong token");
        return CC_E_NOT_AUTHORIZED;
    }
    registered(s, t, client_name, NULL);
    return 0;
}

/* Answers a registration: on success the daemon learns of the client, on failure the
 * connection closes. */
static void reg_done(cc_session *s, int64_t ref, int rc, const char *desc)
{
    answer(s, ref, rc, desc);
    if (rc == 0) {
        s->server->sessions_open++;
        if (s->server->on_register)
            s->server->on_register(s);
    } else {
        cc_conn_close(s->conn, CC_CLOSE_LOCAL);
    }
}

static const cc_handler *find_handler(const cc_server *srv, const char *name)
{
    for (size_t i = 0; i < srv->handler_count; i++)
        if (strcmp(srv->handlers[i].name, name) == 0)
            return &srv->handlers[i];
    return NULL;
}

static int on_line(cc_conn *c, const char *line, size_t len)
{
    cc_session *s = cc_conn_user(c);
    if (len == 0)
        return 0; /* blank lines between messages are harmless */
    proto_msg msg;
    uint64_t t0 = cc_turnw_begin();
    int rc = proto_msg_parse(&msg, line, len);
    cc_turnw_end("parse", t0);
    int64_t ref = msg.ref;
    s->line = line;
    s->line_len = len;

    if (s->type == CC_CLIENT_NONE) {
        s->started_us = cc_mono_us();
        cc_netm_received(rc == 0 && strcmp(msg.name, "RequestRegisterClient") == 0 ? msg.name
                                                                                   : NULL);
        if (rc == 0 && strcmp(msg.name, "RequestRegisterClient") == 0) {
            cc_buf_reset(&s->ack);
            proto_enc_ack(&s->ack, ref);
            rc = proto_msg_check_ref(&msg);
            if (rc == 0)
                rc = handle_register(s, &msg);
            if (rc == CC_SESSION_DEFERRED) {
                /* The secret is being checked: nothing more is read until the verdict. */
                proto_msg_free(&msg);
                cc_conn_pause(c);
                return PROTO_FRAME_PAUSE;
            }
            reg_done(s, ref, rc, msg.desc);
        } else {
            cc_session_send_error(s, ref, CC_E_NOT_REGISTERED,
                                  "register with RequestRegisterClient first");
            cc_conn_close(c, CC_CLOSE_LOCAL);
        }
        proto_msg_free(&msg);
        return 0;
    }

    if (rc != 0) {
        cc_netm_received(NULL);
        cc_session_send_error(s, ref, rc, msg.desc);
        proto_msg_free(&msg);
        return 0;
    }

    bool request = proto_msg_is_request(&msg);
    const cc_handler *h = NULL;
    if (strcmp(msg.name, "RequestRegisterClient") == 0) {
        rc = CC_E_ALREADY_REGISTERED;
        snprintf(msg.desc, sizeof msg.desc, "%s", "this connection is registered already");
    } else if (strcmp(msg.name, "RequestPing") == 0) {
        rc = 0;
    } else if (!(h = find_handler(s->server, msg.name))) {
        rc = CC_E_UNKNOWN_MESSAGE;
        snprintf(msg.desc, sizeof msg.desc, "unknown message %.160s", msg.name);
    }
    cc_netm_received(rc == CC_E_UNKNOWN_MESSAGE ? NULL : msg.name);
    if (!request && h) {
        /* An event from a client: never answered, except a refusal that the client can
         * match to its referenceId. */
        t0 = cc_turnw_begin();
        rc = h->fn(s, &msg);
        cc_turnw_end(h->name, t0);
        if (rc == CC_E_NOT_AUTHORIZED && msg.ref > 0)
            cc_session_send_error(s, msg.ref, rc, msg.desc);
        else if (rc < 0)
            s->server->events_dropped++;
        proto_msg_free(&msg);
        return 0;
    }
    /* The referenceId check comes after "message known" in the protocol's order, and
     * before anything the request itself is refused for (a second registration too). */
    if ((rc == 0 || rc == CC_E_ALREADY_REGISTERED) && proto_msg_check_ref(&msg) != 0) {
        cc_session_send_error(s, 0, CC_E_INVALID_ATTRIBUTE, msg.desc);
        proto_msg_free(&msg);
        return 0;
    }
    if (rc != 0) {
        cc_session_send_error(s, ref, rc, msg.desc);
        proto_msg_free(&msg);
        return 0;
    }
    s->started_us = cc_mono_us();
    cc_buf_reset(&s->ack);
    proto_enc_ack(&s->ack, ref);
    if (h) {
        /* The handlers' names are string literals of the daemons' tables: the turn watch
         * keeps the pointer. */
        t0 = cc_turnw_begin();
        rc = h->fn(s, &msg);
        cc_turnw_end(h->name, t0);
    }
    if (rc == CC_SESSION_DEFERRED) {
        s->deferred = true;
        s->deferred_ref = ref;
        proto_msg_free(&msg);
        return PROTO_FRAME_PAUSE;
    }
    if (rc != CC_SESSION_ANSWERED && !cc_conn_is_closing(c))
        answer(s, ref, rc, msg.desc);
    proto_msg_free(&msg);
    return 0;
}

const char *cc_session_line(const cc_session *s, size_t *len)
{
    *len = s->line_len;
    return s->line;
}

void cc_session_ack_now(cc_session *s)
{
    cc_netm_answered(s->started_us);
    cc_conn_send_buf(s->conn, &s->ack);
}

void cc_session_defer(cc_session *s)
{
    cc_conn_pause(s->conn);
}

void cc_session_finish(cc_session *s, int err, const char *desc)
{
    if (!s->deferred)
        return;
    s->deferred = false;
    if (cc_conn_is_closing(s->conn))
        return;
    answer(s, s->deferred_ref, err, desc);
    cc_conn_resume(s->conn);
}

static void on_too_large(cc_conn *c)
{
    cc_session *s = cc_conn_user(c);
    cc_session_send_error(s, 0, CC_E_MESSAGE_TOO_LARGE, "line over the maximum length");
}

/* The registration deadline passed: say so before the connection closes. */
static void on_deadline(cc_conn *c)
{
    cc_session *s = cc_conn_user(c);
    cc_session_send_error(s, 0, CC_E_NOT_REGISTERED, "register-timeout passed");
}

static void on_close(cc_conn *c, enum cc_close_reason reason)
{
    cc_session *s = cc_conn_user(c);
    cc_netm_session_closed(s->type);
    if (s->counted && s->server->conns)
        s->server->conns--;
    LOG_INFO("event=session_closed session=%" PRIu64 " peer=%s type=%s reason=%s", cc_session_id(s),
             cc_conn_peer(c), cc_client_type_name(s->type), cc_close_reason_name(reason));
    if (s->type != CC_CLIENT_NONE && s->server->sessions_open)
        s->server->sessions_open--;
    if (s->server->on_close)
        s->server->on_close(s);
    if (s->reg)
        s->reg->s = NULL; /* the check's end frees it */
    cc_buf_free(&s->ack);
    free(s);
}

static const cc_conn_ops session_ops = {
    .on_line = on_line,
    .on_too_large = on_too_large,
    .on_deadline = on_deadline,
    .on_close = on_close,
};

static cc_session *session_new(cc_server *srv, cc_conn_limits *lim)
{
    cc_session *s = xcalloc(1, sizeof *s);
    s->server = srv;
    cc_buf_init(&s->ack);
    *lim = cc_conn_default_limits();
    if (srv->max_line)
        lim->max_line = srv->max_line;
    /* Until it registers, a peer is a stranger: small lines only. */
    if (lim->max_line > CC_SESSION_REGISTER_LINE_MAX)
        lim->max_line = CC_SESSION_REGISTER_LINE_MAX;
    if (srv->out_limit_default)
        lim->out_hard = srv->out_limit_default;
    lim->idle_timeout_s = srv->idle_timeout_s;
    lim->server_side = true;
    return s;
}

void cc_server_on_connection(uv_stream_t *listener, int status)
{
    cc_server *srv = listener->data;
    if (status < 0) {
        LOG_WARN("event=accept_failed error=%s", uv_strerror(status));
        return;
    }
    cc_conn_limits lim;
    cc_session *s = session_new(srv, &lim);
    bool room = cc_server_has_room(srv);
    int rc = cc_conn_accept(srv->net, listener, &session_ops, &lim, s, &s->conn);
    if (rc < 0) {
        LOG_WARN("event=accept_failed error=%s", uv_strerror(rc));
        free(s);
        return;
    }
    cc_netm_session_opened();
    if (srv->tls)
        cc_conn_start_tls(s->conn, srv->tls, NULL, NULL);
    if (!room) {
        LOG_WARN("event=conn_refused reason=max_connections limit=%u peer=%s", srv->max_connections,
                 cc_conn_peer(s->conn));
        cc_session_send_error(s, 0, CC_E_LIMIT_EXCEEDED, "max-connections reached");
        cc_conn_close(s->conn, CC_CLOSE_LOCAL);
        return;
    }
    s->counted = true;
    srv->conns++;
    cc_conn_set_deadline(s->conn, srv->register_timeout_s);
}

bool cc_server_has_room(cc_server *srv)
{
    if (!srv->max_connections || srv->conns < srv->max_connections)
        return true;
    srv->conns_refused++;
    return false;
}

void cc_server_adopt(cc_server *srv, cc_conn *c)
{
    cc_conn_limits lim;
    cc_session *s = session_new(srv, &lim);
    s->conn = c;
    cc_conn_adopt(c, &session_ops, &lim, s);
    cc_netm_session_opened();
    s->counted = true;
    srv->conns++;
    cc_conn_set_deadline(c, srv->register_timeout_s);
}

void cc_server_conf_defaults(cc_server_conf *k)
{
    memset(k, 0, sizeof *k);
    k->register_timeout_s = 10;
    k->max_memory = (size_t)1 << 30;
    k->http_header_timeout_s = 10;
    k->http_max_connections = 4096;
    k->http_max_per_address = 256;
    k->max_secret_checks = CC_SESSION_SECRET_CHECKS_MAX;
}

static bool conf_uint(cc_conf *c, const char *key, const char *v, uint64_t min, uint64_t max,
                      unsigned *out)
{
    uint64_t n;
    if (!cc_conf_num(v, min, max, &n)) {
        cc_conf_error(c, "server", key, "\"%s\" is not a number in %" PRIu64 "..%" PRIu64, v, min,
                      max);
        return false;
    }
    *out = (unsigned)n;
    return true;
}

bool cc_server_conf_key(cc_conf *c, const char *key, const char *v, cc_server_conf *k,
                        unsigned classes)
{
    static const char prefix[] = "out-limit-";
    if (strncmp(key, prefix, sizeof prefix - 1) == 0) {
        for (int i = 0; i < CC_CLASS_COUNT; i++) {
            if (!(classes & (1u << i)) ||
                strcmp(key + sizeof prefix - 1, cc_client_class_name((enum cc_client_class)i)))
                continue;
            if (!cc_out_limit_parse(v, 65536, (size_t)4 << 30, &k->out_class[i]))
                cc_conf_error(c, "server", key,
                              "\"%s\" is not HARD or HARD SOFT SECONDS (bytes with k/m/g, "
                              "HARD 64k..4g, SOFT 0..HARD, SECONDS 0..86400)",
                              v);
            return true;
        }
        return false;
    }
    if (strcmp(key, "register-timeout") == 0) {
        conf_uint(c, key, v, 0, 3600, &k->register_timeout_s);
    } else if (strcmp(key, "max-memory") == 0) {
        cc_out_limit l;
        if (!cc_out_limit_parse(v, 0, (size_t)1 << 40, &l) || l.soft)
            cc_conf_error(c, "server", key, "\"%s\" is not a number of bytes (k/m/g) in 0..1t", v);
        else if (l.hard && l.hard < ((size_t)1 << 20))
            cc_conf_error(c, "server", key, "\"%s\" is under 1m (0 turns the cap off)", v);
        else
            k->max_memory = l.hard;
    } else if (strcmp(key, "http-header-timeout") == 0) {
        conf_uint(c, key, v, 1, 3600, &k->http_header_timeout_s);
    } else if (strcmp(key, "http-max-connections") == 0) {
        conf_uint(c, key, v, 1, 1000000, &k->http_max_connections);
    } else if (strcmp(key, "http-max-per-address") == 0) {
        conf_uint(c, key, v, 1, 1000000, &k->http_max_per_address);
    } else if (strcmp(key, "metrics-token") == 0) {
        if (strlen(v) > PROTO_TEXT_MAX)
            cc_conf_error(c, "server", key, "longer than %d bytes", PROTO_TEXT_MAX);
        else
            snprintf(k->metrics_token, sizeof k->metrics_token, "%s", v);
    } else if (strcmp(key, "max-secret-checks") == 0) {
        conf_uint(c, key, v, 1, 100000, &k->max_secret_checks);
    } else {
        return false;
    }
    return true;
}

void cc_server_conf_apply(const cc_server_conf *k, const cc_out_limit *base, cc_server *srv)
{
    for (int i = 0; i < CC_CLASS_COUNT; i++)
        srv->out_limits[i] = k->out_class[i].hard ? k->out_class[i] : *base;
    srv->register_timeout_s = k->register_timeout_s;
    srv->max_secret_checks = k->max_secret_checks;
}

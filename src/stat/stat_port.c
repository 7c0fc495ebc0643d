#include "stat/stat_port.h"

#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/map.h"
#include "net/addr.h"
#include "net/session.h"
#include "net/turnw.h"
#include "common/clock.h"
#include "proto/statistic.h"
#include "proto/statmsg.h"

/* A request answered on the next loop turn: its EventAck must go out before the statuses
 * it asks for, and the session sends the EventAck only after the handler returns. */

/* A tenant filter: all tenants, or those in the map. */
typedef struct tenant_filter {
    bool all;
    cc_map names;
} tenant_filter;

/* Values of one statistic go out at most this often under notify "changes". */
#define CHANGES_MIN_MS 100
/* The delivery tick: delayed changes, every:N, and the values that move with time alone.
 * Those are looked at once every TIME_TICKS ticks (a second), a TIME_TICKS-th of them
 * each tick: looked at all at once, thousands of values made one loop turn of many
 * milliseconds once a second, which every event arriving meanwhile waited for
 * (docs/bench.md, "Statistics (issue 11)"). The tick is short for the same reason: a
 * delayed change goes out within a tick of its 100 ms being over, so the held-back values
 * leave a few at a time instead of in one burst per 100 ms, at the statserver and at each
 * subscriber. every:N counts whole seconds: it is looked at every EVERY_TICKS ticks. */
#define TICK_MS 10
#define TIME_TICKS 100
#define EVERY_TICKS 10

typedef struct port_client port_client;
typedef struct port_stat port_stat;

/* One open statistic of one connection. */
typedef struct stat_sub {
    port_client *pc;
    port_stat *ps;
    int64_t id;
    int64_t every_ms;                   /* 0: changes */
    int64_t next_due;                   /* every:N: when the next value is due (monotonic ms) */
    struct stat_sub *prev, *next;       /* ps's changes list, or the port's every list */
    char key[24];                       /* statisticId in decimal: the key in pc->subs */
    char extra[PROTO_STS_ID_FIELD_MAX]; /* its field in a shared value body */
} stat_sub;

/* The port's side of an engine statistic, shared by every connection that opened it:
 * the value last pushed under "changes", so that a change is encoded once for all. */
struct port_stat {
    stat_stats_inst *inst;
    size_t nsubs;
    stat_sub *changes;
    proto_sts_value last;
    char *last_desc; /* owned copy of last's reason description */
    bool has_last;
    int64_t last_sent; /* monotonic ms of the last push */
    bool delayed;      /* in the port's delayed list */
    port_stat *dnext;
    port_stat *prev, *next; /* the port's list */
};

struct port_client {
    stat_port *port;
    cc_session *session;
    struct port_client *prev, *next;
    bool subscribed;
    tenant_filter filter; /* of the subscription */
    cc_map subs;          /* statisticId (decimal) -> stat_sub */
};

struct stat_port {
    cc_server server;
    uv_tcp_t listener;
    const stat_config *cfg;
    stat_agents *agents;
    stat_links *links;
    port_client *clients; /* every registered session */
    bool listening;
    stat_stats *stats;
    cc_media_table *media;
    port_stat *stat_list; /* every statistic open on some connection */
    size_t nstat;         /* the statistics in stat_list */
    port_stat *time_next; /* the next of stat_list the time slices look at; NULL: done */
    size_t time_quota;    /* how many of stat_list each slice of this pass looks at */
    port_stat *delayed;   /* changes held back by CHANGES_MIN_MS */
    stat_sub *every;      /* every every:N subscription */
    uv_check_t check;     /* pushes the changes of each loop turn */
    uv_timer_t tick;
    unsigned ticks;
    cc_buf scratch;
    uint64_t values_sent;
};

/* Values carry and are computed at the wall clock as the engine keeps it (never going
 * back, so that a value's at is never before the inputs it counts); they are paced by
 * the monotonic one, so that a clock set back does not hold them up. */
static int64_t now_ms(const stat_port *p)
{
    int64_t wall = (int64_t)(cc_wall_us() / 1000);
    return p->stats ? stat_stats_clock(p->stats, wall) : wall;
}

static int64_t mono_ms(void)
{
    return (int64_t)(cc_mono_us() / 1000);
}

static void filter_clear(tenant_filter *f)
{
    cc_map_free(&f->names);
    f->all = false;
}

static bool filter_match(const tenant_filter *f, const char *tenant)
{
    return f->all || cc_map_gets(&f->names, tenant) != NULL;
}

static bool filter_cb(void *ctx, const char *tenant)
{
    const port_client *pc = ctx;
    return filter_match(&pc->filter, tenant);
}

static void send_cb(void *ctx, cc_sbuf *body)
{
    const port_client *pc = ctx;
    cc_session_send(pc->session, body, NULL);
}

static int h_agent_status(cc_session *s, proto_msg *msg)
{
    const char *tenant, *agent_id;
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, &tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, &agent_id)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_STAT)) ||
        (rc = cc_session_tenant_check(s, msg, tenant)))
        return rc;
    /* The status follows its EventAck, so the ack goes out first. */
    cc_session_ack_now(s);
    cc_sbuf *body =
        stat_agents_status(((port_client *)cc_session_user(s))->port->agents, tenant, agent_id);
    cc_session_send(s, body, NULL);
    cc_sbuf_unref(body);
    return CC_SESSION_ANSWERED;
}

static int h_subscribe(cc_session *s, proto_msg *msg)
{
    proto_stat_subscribe sub;
    int rc;
    if ((rc = proto_stat_decode_subscribe(msg, &sub)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_STAT)))
        return rc;
    for (size_t i = 0; i < sub.ntenants; i++)
        if ((rc = cc_session_tenant_check(s, msg, proto_stat_tenant(&sub, i))))
            return rc;
    port_client *pc = cc_session_user(s);
    assert(pc);
    filter_clear(&pc->filter);
    const cc_tenant_set *mine = cc_session_tenants(s);
    /* "All tenants" from a client limited to some means all of its own. */
    pc->filter.all = sub.all && (!mine || mine->all);
    /* The list's length is bounded by the line maximum. */
    for (size_t i = 0; i < sub.ntenants; i++)
        cc_map_puts(&pc->filter.names, proto_stat_tenant(&sub, i), pc);
    for (size_t i = 0; sub.all && !pc->filter.all && i < mine->count; i++)
        cc_map_puts(&pc->filter.names, mine->names[i], pc);
    /* The snapshot follows its EventAck, so the ack goes out first. */
    cc_session_ack_now(s);
    size_t n = stat_agents_each(pc->port->agents, filter_cb, send_cb, pc);
    cc_buf b;
    cc_buf_init(&b);
    proto_stat_enc_snapshot_done(&b, &(proto_stat_snapshot_done){.count = (int64_t)n});
    cc_conn_send_buf(cc_session_conn(s), &b);
    cc_buf_free(&b);
    pc->subscribed = true;
    LOG_INFO("event=subscribed session=%" PRIu64 " name=%s agents=%zu all_tenants=%d",
             cc_session_id(s), LOGQ(cc_session_name(s)), n, pc->filter.all);
    return CC_SESSION_ANSWERED;
}

static bool session_tenant_ok(void *ctx, const char *tenant)
{
    return cc_session_tenant_ok(ctx, tenant);
}

static int h_server_list(cc_session *s, proto_msg *msg)
{
    int rc = cc_session_allow(s, msg, CC_CLIENT_STAT);
    if (rc)
        return rc;
    port_client *pc = cc_session_user(s);
    assert(pc);
    stat_port *p = pc->port;
    cc_buf *b = cc_session_ack_buf(s);
    /* A client of some tenants only learns how many of its own agents are on each. */
    bool all = cc_session_tenants(s) == NULL;
    proto_stat_enc_servers_begin(b);
    for (int i = 0; i < stat_links_count(p->links); i++) {
        size_t agents = all ? stat_agents_link_count(p->agents, i)
                            : stat_agents_link_count_of(p->agents, i, session_tenant_ok, s);
        proto_stat_enc_server_row(
            b, &(proto_stat_server){.name = stat_links_name(p->links, i),
                                    .address = stat_links_address(p->links, i),
                                    .connected = stat_links_connected(p->links, i),
                                    .agents = (int64_t)agents});
    }
    proto_stat_enc_servers_end(b);
    return 0;
}

/* One queue of the engine into a RequestQueueList answer, when the client may see its
 * tenant. */
typedef struct queue_list_ctx {
    cc_session *s;
    cc_buf *ack;
    const cc_media_table *media;
} queue_list_ctx;

static void queue_list_row(void *ctx, const char *server, const char *tenant, const char *id,
                           int media)
{
    queue_list_ctx *c = ctx;
    if (!cc_session_tenant_ok(c->s, tenant))
        return;
    proto_stat_enc_queue_row(
        c->ack, &(proto_stat_queue){.server = server,
                                    .tenant = tenant,
                                    .id = id,
                                    .media = media >= 0 && c->media ? cc_media_name(c->media, media)
                                                                    : NULL});
}

/* RequestQueueList (our extension): the queues the statistics engine knows, of the
 * client's tenants only, so that a wallboard of one tenant learns no other's queues. */
static int h_queue_list(cc_session *s, proto_msg *msg)
{
    int rc = cc_session_allow(s, msg, CC_CLIENT_STAT);
    if (rc)
        return rc;
    port_client *pc = cc_session_user(s);
    assert(pc);
    stat_port *p = pc->port;
    cc_buf *b = cc_session_ack_buf(s);
    proto_stat_enc_queues_begin(b);
    if (p->stats) {
        queue_list_ctx c = {s, b, p->media};
        stat_stats_each_queue(p->stats, queue_list_row, &c);
    }
    proto_stat_enc_queues_end(b);
    return 0;
}

static void sub_unlink(stat_sub **list, stat_sub *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        *list = u->next;
    if (u->next)
        u->next->prev = u->prev;
    u->prev = u->next = NULL;
}

static void sub_link(stat_sub **list, stat_sub *u)
{
    u->prev = NULL;
    u->next = *list;
    if (*list)
        (*list)->prev = u;
    *list = u;
}

/* Sends one value to one subscriber. */
static void send_one(stat_port *p, stat_sub *u, const proto_sts_value *v, int64_t at)
{
    cc_buf_reset(&p->scratch);
    proto_sts_enc_event(&p->scratch,
                        &(proto_sts_event){.statistic_id = u->id, .value = *v, .at = at});
    cc_sbuf *body = cc_sbuf_new(p->scratch.data, p->scratch.len);
    cc_session_send(u->pc->session, body, NULL);
    cc_sbuf_unref(body);
    p->values_sent++;
}

static void remember(port_stat *ps, const proto_sts_value *v, int64_t mono)
{
    free(ps->last_desc);
    ps->last = *v;
    ps->last_desc = v->reason_desc ? xstrdup(v->reason_desc) : NULL;
    ps->last.reason_desc = ps->last_desc;
    ps->has_last = true;
    ps->last_sent = mono;
}

/* Pushes v to every "changes" subscriber of ps: one body, each its statisticId. */
static void push(stat_port *p, port_stat *ps, const proto_sts_value *v, int64_t at, int64_t mono)
{
    cc_buf_reset(&p->scratch);
    proto_sts_enc_event(&p->scratch, &(proto_sts_event){.value = *v, .at = at});
    cc_sbuf *body = cc_sbuf_new(p->scratch.data, p->scratch.len);
    for (stat_sub *u = ps->changes; u; u = u->next) {
        cc_session_send(u->pc->session, body, u->extra);
        p->values_sent++;
    }
    cc_sbuf_unref(body);
    remember(ps, v, mono);
}

/* A "changes" statistic whose inputs changed: pushed now, or when CHANGES_MIN_MS has
 * passed since the last push (then with the latest value). */
static void consider(stat_port *p, port_stat *ps, int64_t now, int64_t mono)
{
    if (!ps->changes)
        return;
    proto_sts_value v = stat_stats_value(p->stats, ps->inst, now);
    if (ps->has_last && proto_sts_value_equal(&v, &ps->last))
        return;
    if (!ps->has_last || mono - ps->last_sent >= CHANGES_MIN_MS) {
        push(p, ps, &v, now, mono);
    } else if (!ps->delayed) {
        ps->delayed = true;
        ps->dnext = p->delayed;
        p->delayed = ps;
    }
}

/* Every change of the engine since the last turn. */
static void on_check(uv_check_t *h)
{
    stat_port *p = h->data;
    if (!p->stats)
        return;
    stat_stats_inst *i;
    int64_t now = now_ms(p), mono = mono_ms();
    uint64_t t0 = cc_turnw_begin();
    while ((i = stat_stats_next_dirty(p->stats))) {
        port_stat *ps = stat_stats_user(i);
        if (ps)
            consider(p, ps, now, mono);
    }
    cc_turnw_end("push_dirty", t0);
}

/* One tick's slice of the time-driven statistics. A pass over stat_list starts every
 * TIME_TICKS ticks at its head and looks at a TIME_TICKS-th of the statistics there then
 * each tick, the rest at its last tick: each is looked at once a second, as before the
 * slices. Statistics opened during a pass are added at the head, so they wait for the
 * next pass (their first value went out at the open); one closed during a pass moves
 * time_next on (stat_close_sub). */
static void time_slice(stat_port *p, int64_t now, int64_t mono)
{
    unsigned slot = p->ticks++ % TIME_TICKS;
    if (slot == 0) {
        p->time_next = p->stat_list;
        p->time_quota = (p->nstat + TIME_TICKS - 1) / TIME_TICKS;
    }
    size_t quota = slot == TIME_TICKS - 1 ? SIZE_MAX : p->time_quota;
    for (; p->time_next && quota > 0; quota--) {
        port_stat *ps = p->time_next;
        p->time_next = ps->next;
        if (ps->changes && stat_stats_time_driven(ps->inst))
            consider(p, ps, now, mono);
    }
}

static void on_tick(uv_timer_t *t)
{
    stat_port *p = t->data;
    int64_t now = now_ms(p), mono = mono_ms();
    on_check(&p->check);
    uint64_t t0 = cc_turnw_begin();
    port_stat *d = p->delayed;
    p->delayed = NULL;
    while (d) {
        port_stat *next = d->dnext;
        d->delayed = false;
        if (mono - d->last_sent >= CHANGES_MIN_MS)
            consider(p, d, now, mono);
        else {
            d->delayed = true;
            d->dnext = p->delayed;
            p->delayed = d;
        }
        d = next;
    }
    cc_turnw_end("delayed", t0);
    t0 = cc_turnw_begin();
    time_slice(p, now, mono);
    cc_turnw_end("time_tick", t0);
    if (p->ticks % EVERY_TICKS != 0)
        return;
    t0 = cc_turnw_begin();
    for (stat_sub *u = p->every; u; u = u->next) {
        if (mono < u->next_due)
            continue;
        proto_sts_value v = stat_stats_value(p->stats, u->ps->inst, now);
        send_one(p, u, &v, now);
        u->next_due += u->every_ms;
        if (u->next_due <= mono)
            u->next_due = mono + u->every_ms;
    }
    cc_turnw_end("every", t0);
}

static void stat_close_sub(stat_port *p, stat_sub *u)
{
    port_stat *ps = u->ps;
    if (u->every_ms)
        sub_unlink(&p->every, u);
    else
        sub_unlink(&ps->changes, u);
    cc_map_dels(&u->pc->subs, u->key);
    free(u);
    if (--ps->nsubs == 0) {
        if (ps->delayed) {
            port_stat **pp = &p->delayed;
            while (*pp != ps)
                pp = &(*pp)->dnext;
            *pp = ps->dnext;
        }
        if (p->time_next == ps)
            p->time_next = ps->next;
        p->nstat--;
        if (ps->prev)
            ps->prev->next = ps->next;
        else
            p->stat_list = ps->next;
        if (ps->next)
            ps->next->prev = ps->prev;
        stat_stats_set_user(ps->inst, NULL);
        stat_stats_close(p->stats, ps->inst);
        free(ps->last_desc);
        free(ps);
    } else {
        stat_stats_close(p->stats, ps->inst);
    }
}

static stat_sub *sub_find(port_client *pc, int64_t id)
{
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    return cc_map_gets(&pc->subs, key);
}

static int h_open_statistic(cc_session *s, proto_msg *msg)
{
    proto_sts_open o;
    int rc;
    if ((rc = cc_session_allow(s, msg, CC_CLIENT_STAT)) || (rc = proto_sts_decode_open(msg, &o)) ||
        (rc = cc_session_tenant_check(s, msg, o.tenant)))
        return rc;
    port_client *pc = cc_session_user(s);
    stat_port *p = pc->port;
    if (sub_find(pc, o.statistic_id)) {
        snprintf(msg->desc, sizeof msg->desc, "statisticId %" PRId64 " is open already",
                 o.statistic_id);
        return CC_E_INVALID_STATE;
    }
    if (pc->subs.count >= p->cfg->max_statistics) {
        snprintf(msg->desc, sizeof msg->desc, "more than max-statistics (%zu) on this connection",
                 p->cfg->max_statistics);
        return CC_E_LIMIT_EXCEEDED;
    }
    int media = -1;
    if (o.media && proto_sts_stat_per_media((int)o.statistic)) {
        media = cc_media_intern(p->media, o.media, strlen(o.media));
        if (media < 0) {
            snprintf(msg->desc, sizeof msg->desc, "%s", "media: no room for another media");
            return CC_E_INVALID_ATTRIBUTE;
        }
    }
    int64_t now = now_ms(p), mono = mono_ms();
    stat_stats_inst *inst = stat_stats_open(p->stats, &o, media, now);
    if (!inst) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "object: not a statistic of it");
        return CC_E_INVALID_ATTRIBUTE;
    }
    port_stat *ps = stat_stats_user(inst);
    if (!ps) {
        ps = xcalloc(1, sizeof *ps);
        ps->inst = inst;
        ps->next = p->stat_list;
        if (p->stat_list)
            p->stat_list->prev = ps;
        p->stat_list = ps;
        p->nstat++;
        stat_stats_set_user(inst, ps);
    }
    ps->nsubs++;
    stat_sub *u = xcalloc(1, sizeof *u);
    u->pc = pc;
    u->ps = ps;
    u->id = o.statistic_id;
    u->every_ms = o.every_s * 1000;
    snprintf(u->key, sizeof u->key, "%" PRId64, u->id);
    proto_sts_id_field(u->extra, u->id);
    cc_map_puts(&pc->subs, u->key, u);
    /* The first value follows its EventAck. */
    cc_session_ack_now(s);
    proto_sts_value v = stat_stats_value(p->stats, inst, now);
    send_one(p, u, &v, now);
    if (u->every_ms) {
        u->next_due = mono + u->every_ms;
        sub_link(&p->every, u);
    } else {
        sub_link(&ps->changes, u);
        if (!ps->has_last)
            remember(ps, &v, mono);
    }
    return CC_SESSION_ANSWERED;
}

static int h_close_statistic(cc_session *s, proto_msg *msg)
{
    int64_t id;
    int rc;
    if ((rc = cc_session_allow(s, msg, CC_CLIENT_STAT)) || (rc = proto_sts_decode_close(msg, &id)))
        return rc;
    port_client *pc = cc_session_user(s);
    stat_sub *u = sub_find(pc, id);
    if (!u) {
        snprintf(msg->desc, sizeof msg->desc, "statisticId %" PRId64 " is not open", id);
        return CC_E_INVALID_ATTRIBUTE;
    }
    stat_close_sub(pc->port, u);
    return 0;
}

/* A status is an event only a ReportingEngine may send, and none registers here: with a
 * referenceId it is refused with code 5, without one the session drops and counts it. */
static int h_status_event(cc_session *s, proto_msg *msg)
{
    return cc_session_allow(s, msg, CC_CLIENT_REPORTING);
}

static const cc_handler port_handlers[] = {
    {"EventCurrentAgentStatus", h_status_event},  {"RequestAgentStatus", h_agent_status},
    {"RequestOpenStatistic", h_open_statistic},   {"RequestCloseStatistic", h_close_statistic},
    {"RequestSubscribeAgentStatus", h_subscribe}, {"RequestServerList", h_server_list},
    {"RequestQueueList", h_queue_list},
};

static void on_register(cc_session *s)
{
    stat_port *p = cc_session_server(s)->user;
    port_client *pc = xcalloc(1, sizeof *pc);
    pc->port = p;
    pc->session = s;
    cc_map_init(&pc->filter.names);
    cc_map_init(&pc->subs);
    pc->next = p->clients;
    if (p->clients)
        p->clients->prev = pc;
    p->clients = pc;
    cc_session_set_user(s, pc);
}

static void on_session_close(cc_session *s)
{
    port_client *pc = cc_session_user(s);
    if (!pc)
        return;
    stat_port *p = pc->port;
    if (pc->prev)
        pc->prev->next = pc->next;
    else
        p->clients = pc->next;
    if (pc->next)
        pc->next->prev = pc->prev;
    filter_clear(&pc->filter);
    size_t pos = 0;
    cc_map_slot *ms;
    /* Only the key under the cursor is deleted (stat_close_sub), which the map allows. */
    while ((ms = cc_map_next(&pc->subs, &pos)))
        stat_close_sub(p, ms->value);
    cc_map_free(&pc->subs);
    cc_session_set_user(s, NULL);
    free(pc);
}

stat_port *stat_port_new(cc_net *net, const stat_config *cfg, stat_agents *agents,
                         stat_links *links, stat_stats *stats, cc_media_table *media)
{
    stat_port *p = xcalloc(1, sizeof *p);
    p->stats = stats;
    p->media = media;
    cc_buf_init(&p->scratch);
    uv_check_init(net->loop, &p->check);
    p->check.data = p;
    uv_check_start(&p->check, on_check);
    uv_timer_init(net->loop, &p->tick);
    p->tick.data = p;
    uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
    p->cfg = cfg;
    p->agents = agents;
    p->links = links;
    p->server.net = net;
    p->server.server_name = cfg->name;
    p->server.token_stat = cfg->token;
    p->server.creds = &cfg->clients;
    p->server.idle_timeout_s = cfg->idle_timeout_s;
    p->server.max_line = cfg->max_line;
    p->server.out_limit_default = cfg->out_limit;
    p->server.out_limit_reporting = cfg->out_limit;
    cc_server_conf_apply(&cfg->limits, &cfg->out_base, &p->server);
    p->server.max_connections = cfg->max_connections;
    cc_net_set_max_memory(net, cfg->limits.max_memory);
    p->server.handlers = port_handlers;
    p->server.handler_count = sizeof port_handlers / sizeof port_handlers[0];
    p->server.on_register = on_register;
    p->server.on_close = on_session_close;
    p->server.user = p;
    uv_tcp_init(net->loop, &p->listener);
    p->listener.data = &p->server;
    return p;
}

int stat_port_listen(stat_port *p, int *port_out)
{
    int rc = cc_listen_tcp(&p->listener, p->cfg->listen, cc_server_on_connection, port_out);
    if (rc == 0)
        p->listening = true;
    return rc;
}

void stat_port_publish(stat_port *p, const char *tenant, cc_sbuf *body)
{
    for (port_client *pc = p->clients; pc; pc = pc->next)
        if (pc->subscribed && filter_match(&pc->filter, tenant))
            cc_session_send(pc->session, body, NULL);
}

void stat_port_close(stat_port *p)
{
    /* The port itself stays allocated: sessions still closing refer to its server, and
     * the process exits once the loop is done. */
    uv_close((uv_handle_t *)&p->listener, NULL);
    uv_close((uv_handle_t *)&p->check, NULL);
    uv_close((uv_handle_t *)&p->tick, NULL);
    for (port_client *pc = p->clients; pc; pc = pc->next)
        cc_session_close(pc->session);
}

cc_server *stat_port_server(stat_port *p)
{
    return &p->server;
}

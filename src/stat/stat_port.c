#include "stat/stat_port.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/map.h"
#include "net/addr.h"
#include "net/session.h"
#include "proto/statmsg.h"

/* A request answered on the next loop turn: its EventAck must go out before the statuses
 * it asks for, and the session sends the EventAck only after the handler returns. */

/* A tenant filter: all tenants, or those in the map. */
typedef struct tenant_filter {
    bool all;
    cc_map names;
} tenant_filter;

typedef struct port_client {
    stat_port *port;
    cc_session *session;
    struct port_client *prev, *next;
    bool subscribed;
    tenant_filter filter; /* of the subscription */
} port_client;

struct stat_port {
    cc_server server;
    uv_tcp_t listener;
    const stat_config *cfg;
    stat_agents *agents;
    stat_links *links;
    port_client *clients; /* every registered session */
    bool listening;
};

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
        (rc = cc_session_allow(s, msg, CC_CLIENT_STAT)))
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
    port_client *pc = cc_session_user(s);
    assert(pc);
    filter_clear(&pc->filter);
    pc->filter.all = sub.all;
    /* The list's length is bounded by the line maximum. */
    for (size_t i = 0; i < sub.ntenants; i++)
        cc_map_puts(&pc->filter.names, proto_stat_tenant(&sub, i), pc);
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

static int h_server_list(cc_session *s, proto_msg *msg)
{
    int rc = cc_session_allow(s, msg, CC_CLIENT_STAT);
    if (rc)
        return rc;
    port_client *pc = cc_session_user(s);
    assert(pc);
    stat_port *p = pc->port;
    cc_buf *b = cc_session_ack_buf(s);
    proto_stat_enc_servers_begin(b);
    for (int i = 0; i < stat_links_count(p->links); i++)
        proto_stat_enc_server_row(
            b, &(proto_stat_server){.name = stat_links_name(p->links, i),
                                    .address = stat_links_address(p->links, i),
                                    .connected = stat_links_connected(p->links, i),
                                    .agents = (int64_t)stat_agents_link_count(p->agents, i)});
    proto_stat_enc_servers_end(b);
    return 0;
}

/* A status is an event only a ReportingEngine may send, and none registers here: with a
 * referenceId it is refused with code 5, without one the session drops and counts it. */
static int h_status_event(cc_session *s, proto_msg *msg)
{
    return cc_session_allow(s, msg, CC_CLIENT_REPORTING);
}

static const cc_handler port_handlers[] = {
    {"EventCurrentAgentStatus", h_status_event},
    {"RequestAgentStatus", h_agent_status},
    {"RequestSubscribeAgentStatus", h_subscribe},
    {"RequestServerList", h_server_list},
};

static void on_register(cc_session *s)
{
    stat_port *p = cc_session_server(s)->user;
    port_client *pc = xcalloc(1, sizeof *pc);
    pc->port = p;
    pc->session = s;
    cc_map_init(&pc->filter.names);
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
    cc_session_set_user(s, NULL);
    free(pc);
}

stat_port *stat_port_new(cc_net *net, const stat_config *cfg, stat_agents *agents,
                         stat_links *links)
{
    stat_port *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    p->agents = agents;
    p->links = links;
    p->server.net = net;
    p->server.server_name = cfg->name;
    p->server.token_stat = cfg->token;
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
    for (port_client *pc = p->clients; pc; pc = pc->next)
        cc_session_close(pc->session);
}

cc_server *stat_port_server(stat_port *p)
{
    return &p->server;
}

#include "stat/stat_links.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "net/client.h"
#include "proto/jw.h"

typedef struct stat_link {
    stat_links *owner;
    int index;
    char *name;
    cc_client *client;
    int64_t start_ref;   /* referenceId of RequestStartPlaceAgentStateReportingAll */
    uint64_t snap_start; /* when the snapshot was asked for, monotonic us */
    uint64_t bad_events; /* EventPlaceAgentState that could not be decoded */
} stat_link;

struct stat_links {
    cc_media_table *media;
    stat_agents *agents;
    int count;
    stat_link links[STAT_LINKS_MAX];
};

static void on_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    stat_link *l = cc_client_user(c);
    stat_agents_link_up(l->owner->agents, l->index);
    cc_buf b;
    cc_buf_init(&b);
    /* No tenants field: every tenant of the server is reported. */
    jw_open_message(&b, "RequestStartPlaceAgentStateReportingAll");
    l->start_ref = cc_client_request(c, &b);
    cc_buf_free(&b);
    l->snap_start = cc_mono_us();
    LOG_INFO("event=link_up link=%s address=%s server=%s", l->name, cc_client_address(c),
             cc_client_server_name(c));
}

static void on_state(stat_link *l, proto_msg *msg)
{
    proto_agent_state st;
    int rc = proto_decode_agent_state(msg, l->owner->media, &st, NULL, 0);
    if (rc != 0) {
        l->bad_events++;
        LOG_WARN("event=bad_agent_state link=%s error=\"%s\" count=%" PRIu64, l->name, msg->desc,
                 l->bad_events);
        return;
    }
    stat_agents_apply(l->owner->agents, l->index, &st);
}

static void on_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    stat_link *l = cc_client_user(c);
    if (strcmp(msg->name, "EventPlaceAgentState") == 0) {
        on_state(l, msg);
    } else if (strcmp(msg->name, "EventPlaceAgentStateSnapshotDone") == 0) {
        size_t n = stat_agents_snapshot_done(l->owner->agents, l->index);
        LOG_INFO("event=snapshot_done link=%s agents=%zu known=%zu elapsed_ms=%.1f", l->name, n,
                 stat_agents_count(l->owner->agents),
                 (double)(cc_mono_us() - l->snap_start) / 1000.0);
    } else if (strcmp(msg->name, "EventError") == 0) {
        const char *desc = json_string_value(json_object_get(msg->root, "errorDescription"));
        LOG_WARN("event=link_error link=%s ref=%" PRId64 " error=\"%s\"", l->name, msg->ref,
                 desc ? desc : "");
        /* Without reporting the link is useless: start over with a fresh registration. */
        if (msg->ref == l->start_ref)
            cc_client_drop(c, "reporting refused");
    } else if (strcmp(msg->name, "EventAck") == 0 && msg->ref == l->start_ref) {
        LOG_INFO("event=reporting_started link=%s", l->name);
    }
}

static void on_down(cc_client *c, const char *why)
{
    (void)why;
    stat_link *l = cc_client_user(c);
    stat_agents_link_down(l->owner->agents, l->index);
    l->start_ref = 0;
}

static const cc_client_ops link_ops = {
    .on_registered = on_registered,
    .on_message = on_message,
    .on_down = on_down,
};

stat_links *stat_links_new(cc_net *net, const stat_config *cfg, cc_media_table *media,
                           stat_agents *agents)
{
    stat_links *ls = xcalloc(1, sizeof *ls);
    ls->media = media;
    ls->agents = agents;
    ls->count = cfg->ixn_count;
    for (int i = 0; i < cfg->ixn_count; i++) {
        stat_link *l = &ls->links[i];
        l->owner = ls;
        l->index = i;
        l->name = xstrdup(cfg->ixns[i].name);
        cc_client_config cc = {
            .address = cfg->ixns[i].address,
            .client_type = "ReportingEngine",
            .client_name = cfg->name,
            .token = cfg->ixns[i].token,
            .reconnect = true,
            .backoff_min_ms = 100,
            .backoff_max_ms = 5000,
            .max_line = cfg->max_line,
            .out_limit = cfg->link_out_limit,
        };
        l->client = cc_client_new(net, &cc, &link_ops, l);
    }
    return ls;
}

void stat_links_start(stat_links *ls)
{
    for (int i = 0; i < ls->count; i++)
        cc_client_start(ls->links[i].client);
}

void stat_links_free(stat_links *ls)
{
    if (!ls)
        return;
    for (int i = 0; i < ls->count; i++) {
        cc_client_free(ls->links[i].client);
        free(ls->links[i].name);
    }
    free(ls);
}

int stat_links_count(const stat_links *ls)
{
    return ls->count;
}
const char *stat_links_name(const stat_links *ls, int i)
{
    return ls->links[i].name;
}

const char *stat_links_address(const stat_links *ls, int i)
{
    return cc_client_address(ls->links[i].client);
}

bool stat_links_connected(const stat_links *ls, int i)
{
    return cc_client_is_up(ls->links[i].client);
}

void stat_links_send(stat_links *ls, int i, cc_sbuf *body, int64_t version)
{
    char extra[40];
    snprintf(extra, sizeof extra, ",\"version\":%" PRId64, version);
    cc_client_send(ls->links[i].client, body, extra);
}

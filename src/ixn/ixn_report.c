#include "ixn/ixn_report.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "ixn/ixn_ixn.h"
#include "proto/jw.h"

void ixn_report_encode(cc_buf *b, const ixn_server *srv, const ixn_agent *a, const char *cause,
                       bool logged_in)
{
    jw_open_message(b, "EventPlaceAgentState");
    jw_kv_str(b, "serverName", srv->cfg->name);
    jw_kv_str(b, "cause", cause);
    jw_kv_str(b, "tenant", a->tenant);
    jw_kv_str(b, "agentId", a->agent_id);
    jw_kv_str(b, "placeId", a->place_id);
    jw_kv_int(b, "version", a->version);
    jw_kv_bool(b, "loggedIn", logged_in);
    jw_kv_bool(b, "dnd", logged_in && a->dnd);
    jw_key(b, "media");
    cc_buf_putc(b, '{');
    bool first = true;
    for (int i = 0; logged_in && i < srv->cfg->media.count; i++) {
        cc_media_mask bit = (cc_media_mask)1 << i;
        if (!(a->added & bit))
            continue;
        if (!first)
            cc_buf_putc(b, ',');
        first = false;
        jw_str(b, cc_media_name(&srv->cfg->media, i));
        cc_buf_puts(b, (a->ready & bit) ? ":{\"ready\":true,\"reason\":"
                                        : ":{\"ready\":false,\"reason\":");
        const ixn_reason *r = a->reasons[i];
        if (!r) {
            cc_buf_puts(b, "null}");
            continue;
        }
        cc_buf_printf(b, "{\"code\":%" PRId64 ",\"description\":", r->code);
        if (r->description)
            jw_str(b, r->description);
        else
            cc_buf_puts(b, "null");
        cc_buf_puts(b, "}}");
    }
    cc_buf_putc(b, '}');
    jw_key(b, "interactions");
    cc_buf_putc(b, '[');
    for (const ixn_ixn *x = logged_in ? a->held_head : NULL; x; x = x->a_next) {
        if (x != a->held_head)
            cc_buf_putc(b, ',');
        cc_buf_puts(b, "{\"interactionId\":");
        jw_str(b, x->id);
        jw_kv_str(b, "media", cc_media_name(&srv->cfg->media, x->media));
        jw_kv_str(b, "state", ixn_state_name(x->state));
        cc_buf_putc(b, '}');
    }
    cc_buf_putc(b, ']');
}

static bool wants(const ixn_client *c, const ixn_agent *a)
{
    return !c->tenants || cc_map_gets(c->tenants, a->tenant) != NULL;
}

void ixn_report_publish(ixn_server *srv, const ixn_agent *a, const char *cause, bool logged_in)
{
    if (!srv->subs)
        return;
    cc_buf_reset(&srv->scratch);
    ixn_report_encode(&srv->scratch, srv, a, cause, logged_in);
    /* Encoded once; every subscriber queues the same buffer with its own seq tail. */
    cc_sbuf *sb = cc_sbuf_new(srv->scratch.data, srv->scratch.len);
    for (ixn_client *c = srv->subs; c; c = c->sub_next)
        if (wants(c, a))
            cc_session_send(c->session, sb, NULL);
    cc_sbuf_unref(sb);
    srv->stats.events_published++;
}

static void sub_unlink(ixn_client *c)
{
    ixn_server *srv = c->srv;
    if (!c->subscribed)
        return;
    if (c->sub_prev)
        c->sub_prev->sub_next = c->sub_next;
    else
        srv->subs = c->sub_next;
    if (c->sub_next)
        c->sub_next->sub_prev = c->sub_prev;
    c->sub_prev = c->sub_next = NULL;
    c->subscribed = false;
}

static void free_tenants(ixn_client *c)
{
    if (!c->tenants)
        return;
    cc_map_free(c->tenants);
    free(c->tenants);
    c->tenants = NULL;
}

void ixn_report_drop(ixn_client *c)
{
    sub_unlink(c);
    free_tenants(c);
}

static void send_snapshot(ixn_server *srv, ixn_client *c)
{
    size_t pos = 0, count = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&srv->agents, &pos))) {
        const ixn_agent *a = sl->value;
        if (!wants(c, a))
            continue;
        cc_buf_reset(&srv->scratch);
        ixn_report_encode(&srv->scratch, srv, a, "Snapshot", true);
        cc_sbuf *sb = cc_sbuf_new(srv->scratch.data, srv->scratch.len);
        cc_session_send(c->session, sb, NULL);
        cc_sbuf_unref(sb);
        count++;
    }
    cc_buf_reset(&srv->scratch);
    jw_open_message(&srv->scratch, "EventPlaceAgentStateSnapshotDone");
    jw_kv_str(&srv->scratch, "serverName", srv->cfg->name);
    jw_kv_int(&srv->scratch, "count", (int64_t)count);
    cc_conn_send_buf(cc_session_conn(c->session), &srv->scratch);
    LOG_INFO("event=snapshot_sent session=%" PRIu64 " name=%s count=%zu", cc_session_id(c->session),
             cc_session_name(c->session), count);
}

int ixn_report_start(cc_session *s, proto_msg *msg)
{
    json_t *tenants;
    int rc;
    if ((rc = proto_get_id_array(msg, "tenants", false, &tenants)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING)))
        return rc;
    ixn_client *c = cc_session_user(s);
    ixn_server *srv = c->srv;
    /* A second start replaces the first: new tenants, a fresh snapshot. */
    sub_unlink(c);
    free_tenants(c);
    if (tenants) {
        c->tenants = xmalloc(sizeof *c->tenants);
        cc_map_init(c->tenants);
        size_t i;
        json_t *e;
        json_array_foreach(tenants, i, e)
        {
            cc_map_puts(c->tenants, json_string_value(e), (void *)1);
        }
    }
    LOG_INFO("event=reporting_start session=%" PRIu64 " name=%s tenants=%s", cc_session_id(s),
             cc_session_name(s), tenants ? "some" : "all");
    /* The EventAck goes out before the snapshot, as the protocol's example shows. */
    cc_session_ack_now(s);
    send_snapshot(srv, c);
    c->subscribed = true;
    c->sub_prev = NULL;
    c->sub_next = srv->subs;
    if (srv->subs)
        srv->subs->sub_prev = c;
    srv->subs = c;
    ixn_core_reporting_started(srv);
    return CC_SESSION_ANSWERED;
}

int ixn_report_stop(cc_session *s, proto_msg *msg)
{
    int rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING);
    if (rc)
        return rc;
    ixn_client *c = cc_session_user(s);
    /* Stopping when not reporting changes nothing and is acked all the same. */
    sub_unlink(c);
    free_tenants(c);
    LOG_INFO("event=reporting_stop session=%" PRIu64 " name=%s", cc_session_id(s),
             cc_session_name(s));
    return 0;
}

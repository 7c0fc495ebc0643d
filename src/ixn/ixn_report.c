#include "ixn/ixn_report.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/partition.h"
#include "ixn/ixn_ixn.h"
#include "ixn/ixn_resv.h"
#include "proto/statmsg.h"

void ixn_report_skills(const ixn_server *srv, const ixn_agent *a, proto_skills *out)
{
    out->count = 0;
    for (size_t i = 0; i < a->skills.count && i < PROTO_SKILLS_MAX; i++)
        out->items[out->count++] =
            (proto_skill){target_dict_name(srv->cfg->dict, a->skills.id[i]), a->skills.level[i]};
}

void ixn_report_encode(cc_buf *b, ixn_server *srv, const ixn_agent *a, const char *cause,
                       bool logged_in, int64_t resv_id)
{
    proto_agent_state st = {
        .server_name = srv->cfg->name,
        .cause = cause,
        .tenant = a->tenant,
        .agent_id = a->agent_id,
        .place_id = a->place_id,
        .version = a->version,
        .login_time_ms = a->login_time_ms,
        .reservation_id = resv_id,
        .logged_in = logged_in,
        .dnd = a->dnd,
        .added = a->added,
        .ready = a->ready,
    };
    for (cc_media_mask m = a->added; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        const ixn_reason *r = a->reasons[i];
        if (r)
            st.reasons[i] = (proto_reason){true, r->code, r->description};
    }
    size_t n = 0;
    for (const ixn_ixn *x = logged_in ? a->held_head : NULL; x; x = x->a_next) {
        if (n == srv->held_cap) {
            srv->held_cap = srv->held_cap ? 2 * srv->held_cap : 16;
            srv->held_scratch =
                xrealloc(srv->held_scratch, srv->held_cap * sizeof *srv->held_scratch);
        }
        srv->held_scratch[n++] = (proto_held_ixn){x->id, x->media, x->state};
    }
    st.held = srv->held_scratch;
    st.nheld = n;
    if (logged_in)
        ixn_report_skills(srv, a, &st.skills);
    proto_enc_agent_state(b, &st, &srv->cfg->media);
}

bool ixn_report_wants(const ixn_client *c, const ixn_agent *a)
{
    if (c->tenants && !cc_map_gets(c->tenants, a->tenant))
        return false;
    return c->part_count <= 1 ||
           cc_partition_of(a->tenant, a->agent_id, c->part_count) == c->part_index;
}

void ixn_report_publish(ixn_server *srv, const ixn_agent *a, const char *cause, bool logged_in,
                        int64_t resv_id)
{
    if (!srv->subs)
        return;
    cc_buf_reset(&srv->scratch);
    ixn_report_encode(&srv->scratch, srv, a, cause, logged_in, resv_id);
    /* Encoded once; every subscriber queues the same buffer with its own seq tail. */
    cc_sbuf *sb = cc_sbuf_new(srv->scratch.data, srv->scratch.len);
    for (ixn_client *c = srv->subs; c; c = c->sub_next)
        if (ixn_report_wants(c, a))
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
        if (!ixn_report_wants(c, a))
            continue;
        cc_buf_reset(&srv->scratch);
        ixn_report_encode(&srv->scratch, srv, a, "Snapshot", true, 0);
        cc_sbuf *sb = cc_sbuf_new(srv->scratch.data, srv->scratch.len);
        cc_session_send(c->session, sb, NULL);
        cc_sbuf_unref(sb);
        count++;
    }
    cc_buf_reset(&srv->scratch);
    proto_stat_enc_snapshot_done(&srv->scratch,
                                 &(proto_stat_snapshot_done){.agent_state = true,
                                                             .server_name = srv->cfg->name,
                                                             .count = (int64_t)count});
    cc_conn_send_buf(cc_session_conn(c->session), &srv->scratch);
    LOG_INFO("event=snapshot_sent session=%" PRIu64 " name=%s count=%zu", cc_session_id(c->session),
             LOGQ(cc_session_name(c->session)), count);
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The fencing group of c's filter (ixn_fence): equal exactly when two sessions report the
 * same agents, NULL for every agent. Identifiers hold no control characters, so the
 * separators below cannot occur inside a name. */
static char *group_key(const ixn_client *c)
{
    if (!c->tenants && c->part_count <= 1)
        return NULL;
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_printf(&b, "%" PRIu32 "/%" PRIu32, c->part_count > 1 ? c->part_index : 0,
                  c->part_count > 1 ? c->part_count : 1);
    if (!c->tenants) {
        cc_buf_putc(&b, '\x1d');
    } else {
        size_t n = 0, pos = 0;
        const char **names = xcalloc(c->tenants->count + 1, sizeof *names);
        cc_map_slot *sl;
        while ((sl = cc_map_next(c->tenants, &pos)))
            names[n++] = sl->key;
        qsort(names, n, sizeof *names, str_cmp);
        cc_buf_putc(&b, '\x1e');
        for (size_t i = 0; i < n; i++) {
            cc_buf_putc(&b, '\x1f');
            cc_buf_append(&b, names[i], strlen(names[i]));
        }
        free(names);
    }
    char *key = xstrdup(b.data);
    cc_buf_free(&b);
    return key;
}

/* An engine that was taken is fenced: what it granted and sent no longer counts. */
static void on_fenced(void *ctx, ixn_fence_member *m);

int ixn_report_start(cc_session *s, proto_msg *msg)
{
    proto_stat_subscribe sub;
    int rc;
    if ((rc = proto_stat_decode_subscribe(msg, &sub)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING)))
        return rc;
    for (size_t i = 0; i < sub.ntenants; i++)
        if ((rc = cc_session_tenant_check(s, msg, proto_stat_tenant(&sub, i))))
            return rc;
    ixn_client *c = cc_session_user(s);
    ixn_server *srv = c->srv;
    /* A second start replaces the first: new tenants, a fresh snapshot. */
    bool again = c->subscribed;
    sub_unlink(c);
    free_tenants(c);
    c->part_index = sub.partitioned ? sub.part_index : 0;
    c->part_count = sub.partitioned ? sub.part_count : 0;
    const cc_tenant_set *mine = cc_session_tenants(s);
    if (!sub.all || (mine && !mine->all)) {
        /* "All tenants" from a client limited to some means all of its own. */
        c->tenants = xmalloc(sizeof *c->tenants);
        cc_map_init(c->tenants);
        for (size_t i = 0; i < sub.ntenants; i++)
            cc_map_puts(c->tenants, proto_stat_tenant(&sub, i), (void *)1);
        for (size_t i = 0; sub.all && i < mine->count; i++)
            cc_map_puts(c->tenants, mine->names[i], (void *)1);
    }
    char *group = group_key(c);
    const char *before = c->fence.group;
    if (!before != !group || (group && strcmp(before, group) != 0)) {
        /* What it held for agents of its old filter is dropped: its statuses are taken
         * again as they come for the new one. */
        if (again && ixn_fence_takes(&c->fence))
            ixn_resv_engine_closed(srv, c);
        ixn_fence_set_group(&srv->fence, &c->fence, group, on_fenced, srv);
    }
    free(group);
    LOG_INFO("event=reporting_start session=%" PRIu64 " name=%s tenants=%s partition=%" PRIu32
             "/%" PRIu32 " taken=%s group_epoch=%" PRId64,
             cc_session_id(s), LOGQ(cc_session_name(s)), sub.all ? "all" : "some",
             c->part_count > 1 ? c->part_index : 0, c->part_count > 1 ? c->part_count : 1,
             ixn_fence_takes(&c->fence) ? "yes" : "no", c->fence.top);
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
             LOGQ(cc_session_name(s)));
    return 0;
}

static void on_fenced(void *ctx, ixn_fence_member *m)
{
    ixn_server *srv = ctx;
    ixn_client *c = (ixn_client *)((char *)m - offsetof(ixn_client, fence));
    LOG_INFO("event=reporting_fenced session=%" PRIu64 " name=%s primary=%s epoch=%" PRId64
             " top_epoch=%" PRId64,
             cc_session_id(c->session), LOGQ(cc_session_name(c->session)),
             m->primary ? "yes" : "no", m->epoch, m->top);
    ixn_resv_engine_closed(srv, c);
}

int ixn_report_mode(cc_session *s, proto_msg *msg)
{
    proto_stat_mode mode;
    int rc;
    if ((rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING)) ||
        (rc = proto_stat_decode_mode(msg, &mode)))
        return rc;
    ixn_client *c = cc_session_user(s);
    ixn_server *srv = c->srv;
    ixn_fence_set_mode(&srv->fence, &c->fence, mode.primary, mode.epoch, on_fenced, srv);
    LOG_INFO("event=reporting_mode session=%" PRIu64 " name=%s primary=%s epoch=%" PRId64
             " taken=%s top_epoch=%" PRId64,
             cc_session_id(s), LOGQ(cc_session_name(s)), mode.primary ? "yes" : "no", mode.epoch,
             ixn_fence_takes(&c->fence) ? "yes" : "no", c->fence.top);
    return 0;
}

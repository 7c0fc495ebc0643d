#include "ixn/ixn_ixnreport.h"

#include <inttypes.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/map.h"
#include "ixn/ixn_route.h"

/** One reporting engine's subscription. */
typedef struct ixn_ixnreport_sub {
    ixn_client *c;
    cc_map *tenants; /* the tenants reported; NULL = all */
    bool active;     /* in ixn_server.ixr_subs; else in ixr_pending */
    struct ixn_ixnreport_sub *prev, *next;
} ixn_ixnreport_sub;

static ixn_ixnreport_sub **list_of(ixn_server *srv, const ixn_ixnreport_sub *r)
{
    return r->active ? &srv->ixr_subs : &srv->ixr_pending;
}

static void sub_link(ixn_server *srv, ixn_ixnreport_sub *r, bool active)
{
    r->active = active;
    ixn_ixnreport_sub **head = list_of(srv, r);
    r->prev = NULL;
    r->next = *head;
    if (*head)
        (*head)->prev = r;
    *head = r;
}

static void sub_unlink(ixn_server *srv, ixn_ixnreport_sub *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        *list_of(srv, r) = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

void ixn_ixnreport_drop(ixn_client *c)
{
    ixn_ixnreport_sub *r = c->ixr;
    if (!r)
        return;
    sub_unlink(c->srv, r);
    if (r->tenants) {
        cc_map_free(r->tenants);
        free(r->tenants);
    }
    free(r);
    c->ixr = NULL;
}

static bool wants(const ixn_ixnreport_sub *r, const char *tenant)
{
    return !r->tenants || cc_map_gets(r->tenants, tenant) != NULL;
}

static int64_t ms(int64_t us)
{
    return us / 1000;
}

/* The event of x as it is now: the fields every cause shares. */
static proto_ixr_event event_of(const ixn_server *srv, const ixn_ixn *x, enum proto_ixr_cause cause,
                                const ixn_agent *a)
{
    return (proto_ixr_event){
        .cause = cause,
        .server_name = srv->cfg->name,
        .interaction_id = x->id,
        .tenant = x->queue->tenant,
        .media = cc_media_name(&srv->cfg->media, x->media),
        .queue = x->queue->name,
        .agent_id = a ? a->agent_id : NULL,
        .state = x->state,
        .priority = x->priority,
        .submitted_at = ms(x->created_us),
        .queued_at = ms(x->entered_us),
        .at = ms(x->updated_us),
    };
}

static cc_sbuf *encode(ixn_server *srv, const proto_ixr_event *e)
{
    cc_buf_reset(&srv->scratch);
    proto_ixr_enc_event(&srv->scratch, e);
    return cc_sbuf_new(srv->scratch.data, srv->scratch.len);
}

/* Queues sb on every subscriber that receives steps of tenant. */
static void publish(ixn_server *srv, const char *tenant, cc_sbuf *sb)
{
    for (ixn_ixnreport_sub *r = srv->ixr_subs; r; r = r->next)
        if (wants(r, tenant))
            cc_session_send(r->c->session, sb, NULL);
}

void ixn_ixnreport_step(ixn_server *srv, ixn_batch *b, ixn_ixn *x, enum proto_ixr_cause cause,
                        const ixn_agent *a, const struct ixn_queue *from,
                        enum proto_ixr_reason reason)
{
    /* Engines waiting for their snapshot get this change in it. */
    if (!srv->ixr_subs)
        return;
    proto_ixr_event e = event_of(srv, x, cause, a);
    e.from_queue = from ? from->name : NULL;
    e.reason = reason;
    /* A visit starts with this step: one time for both, though the server read its clock
     * for the state and for the order key separately. */
    if (cause == PROTO_IXR_QUEUED)
        e.at = e.queued_at;
    cc_sbuf *sb = encode(srv, &e);
    if (b) {
        ixn_batch_hold_report(b, x, x->queue->tenant, sb, false);
        return;
    }
    publish(srv, x->queue->tenant, sb);
    cc_sbuf_unref(sb);
}

void ixn_ixnreport_agent_gone(ixn_server *srv, ixn_batch *b, const ixn_agent *a)
{
    if (!srv->ixr_subs)
        return;
    int64_t now = (int64_t)cc_wall_us();
    for (size_t i = 0; i < b->nlog; i++) {
        const ixn_before *e = &b->log[i];
        if (e->agent != a)
            continue;
        /* As ixn_batch_agent_gone rewrites the entry: after-work ends, the rest goes back
         * to the queue it was in before the batch. */
        proto_ixr_event ev = event_of(srv, e->x, PROTO_IXR_REVOKED, a);
        ev.tenant = e->queue->tenant;
        ev.queue = e->queue->name;
        ev.queued_at = ms(e->entered_us);
        ev.at = ms(now);
        if (e->state == CC_IXN_AFTER_WORK) {
            ev.cause = PROTO_IXR_ENDED;
            ev.state = CC_IXN_ENDED;
            ev.reason = PROTO_IXR_REASON_DONE;
        } else {
            ev.state = CC_IXN_QUEUED;
            ev.reason = PROTO_IXR_REASON_LOGGED_OUT;
        }
        ixn_batch_hold_report(b, e->x, e->queue->tenant, encode(srv, &ev), true);
    }
}

/* Sends the snapshot to r: the ack went before it, and steps follow it. */
static void send_snapshot(ixn_server *srv, ixn_ixnreport_sub *r)
{
    size_t pos = 0, count = 0;
    ixn_ixn *x;
    while ((x = ixn_core_next(srv, &pos))) {
        if (x->state == CC_IXN_ENDED || !wants(r, x->queue->tenant))
            continue;
        proto_ixr_event e = event_of(srv, x, PROTO_IXR_SNAPSHOT, x->agent);
        cc_sbuf *sb = encode(srv, &e);
        cc_session_send(r->c->session, sb, NULL);
        cc_sbuf_unref(sb);
        count++;
    }
    cc_buf_reset(&srv->scratch);
    proto_ixr_enc_snapshot_done(&srv->scratch, &(proto_ixr_snapshot_done){
                                                   .server_name = srv->cfg->name,
                                                   .count = (int64_t)count,
                                               });
    cc_conn_send_buf(cc_session_conn(r->c->session), &srv->scratch);
    LOG_INFO("event=ixn_snapshot_sent session=%" PRIu64 " name=%s count=%zu",
             cc_session_id(r->c->session), LOGQ(cc_session_name(r->c->session)), count);
}

/* Every waiting subscriber gets its snapshot and then receives steps. */
static void serve_pending(ixn_server *srv)
{
    while (srv->ixr_pending) {
        ixn_ixnreport_sub *r = srv->ixr_pending;
        sub_unlink(srv, r);
        send_snapshot(srv, r);
        sub_link(srv, r, true);
    }
}

void ixn_ixnreport_committed(ixn_server *srv, ixn_batch *b)
{
    /* Carried reports tell of changes kept after a failed commit: they leave with the
     * commit that writes them. Should reports be held while some are still unsaved, they
     * wait behind them, in order. */
    if (b->nunsaved)
        ixn_batch_carry(b, true);
    if (!b->nunsaved) {
        for (size_t i = 0; i < b->ncarried; i++) {
            publish(srv, b->carried[i].tenant, b->carried[i].sb);
            cc_sbuf_unref(b->carried[i].sb);
        }
        b->ncarried = 0;
    }
    for (size_t i = 0; i < b->nreports; i++)
        if (!b->reports[i].if_undone)
            publish(srv, b->reports[i].tenant, b->reports[i].sb);
    if (!b->ncarried)
        serve_pending(srv);
}

void ixn_ixnreport_undone(ixn_server *srv, ixn_batch *b)
{
    ixn_batch_carry(b, false);
    if (!b->ncarried)
        serve_pending(srv);
}

int ixn_ixnreport_start(cc_session *s, proto_msg *msg)
{
    proto_ixr_start st;
    int rc;
    if ((rc = proto_ixr_decode_start(msg, &st)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING)))
        return rc;
    for (size_t i = 0; i < st.ntenants; i++)
        if ((rc = cc_session_tenant_check(s, msg, proto_ixr_tenant(&st, i))))
            return rc;
    const cc_tenant_set *mine = cc_session_tenants(s);
    ixn_client *c = cc_session_user(s);
    ixn_server *srv = c->srv;
    /* A second start replaces the first: new tenants, a fresh snapshot. */
    ixn_ixnreport_drop(c);
    ixn_ixnreport_sub *r = xcalloc(1, sizeof *r);
    r->c = c;
    if (!st.all || (mine && !mine->all)) {
        /* "All tenants" from a client limited to some means all of its own. */
        r->tenants = xmalloc(sizeof *r->tenants);
        cc_map_init(r->tenants);
        for (size_t i = 0; i < st.ntenants; i++)
            cc_map_puts(r->tenants, proto_ixr_tenant(&st, i), (void *)1);
        for (size_t i = 0; st.all && i < mine->count; i++)
            cc_map_puts(r->tenants, mine->names[i], (void *)1);
    }
    c->ixr = r;
    sub_link(srv, r, false);
    LOG_INFO("event=ixn_reporting_start session=%" PRIu64 " name=%s tenants=%s", cc_session_id(s),
             LOGQ(cc_session_name(s)), st.all ? "all" : "some");
    /* The snapshot is sent by this turn's commit hook, after the steps of the batch. */
    ixn_core_wake(srv);
    return 0;
}

int ixn_ixnreport_stop(cc_session *s, proto_msg *msg)
{
    int rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING);
    if (rc)
        return rc;
    ixn_ixnreport_drop(cc_session_user(s));
    LOG_INFO("event=ixn_reporting_stop session=%" PRIu64 " name=%s", cc_session_id(s),
             LOGQ(cc_session_name(s)));
    return 0;
}

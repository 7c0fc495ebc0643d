#include "ixn/ixn_resv.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "ixn/ixn_ixn.h"
#include "ixn/ixn_report.h"
#include "ixn/ixn_super.h"
#include "proto/resv.h"

static void send_open(cc_session *s, cc_buf *b)
{
    cc_sbuf *sb = cc_sbuf_new(b->data, b->len);
    cc_session_send(s, sb, NULL);
    cc_sbuf_unref(sb);
}

static void ask(ixn_server *srv, ixn_agent *a, int media, struct ixn_pool *pool,
                struct ixn_reassign *reassign)
{
    ixn_client *e = a->status_from;
    assert(e && e->session && !a->resv);
    ixn_resv *r = xcalloc(1, sizeof *r);
    r->id = ++srv->resv_next;
    r->asked_us = cc_mono_us();
    r->agent = a;
    r->media = media;
    r->pool = pool;
    r->reassign = reassign;
    r->engine = e;
    if (!e->resv_listed) {
        e->resv_listed = true;
        e->resv_prev = NULL;
        e->resv_next = srv->resv_engines;
        if (srv->resv_engines)
            srv->resv_engines->resv_prev = e;
        srv->resv_engines = e;
    }
    if (e->resv_tail)
        e->resv_tail->next = r;
    else
        e->resv_head = r;
    e->resv_tail = r;
    a->resv = r;
    proto_reserve msg = {
        .reservation_id = r->id,
        .tenant = a->tenant,
        .agent_id = a->agent_id,
        .media = cc_media_name(&srv->cfg->media, media),
        .version = a->version,
    };
    cc_buf_reset(&srv->scratch);
    proto_enc_reserve(&srv->scratch, &msg);
    send_open(e->session, &srv->scratch);
    srv->stats.resv_asked++;
    LOG_DEBUG("event=reservation_asked id=%" PRId64 " agent=%s media=%s version=%" PRId64, r->id,
              LOGQ(a->key), msg.media, a->version);
}

void ixn_resv_ask(ixn_server *srv, ixn_agent *a, int media, struct ixn_pool *pool)
{
    ask(srv, a, media, pool, NULL);
}

void ixn_resv_ask_reassign(ixn_server *srv, ixn_agent *a, int media, struct ixn_reassign *reassign)
{
    ask(srv, a, media, NULL, reassign);
}

void ixn_resv_agent_gone(ixn_agent *a)
{
    if (!a->resv)
        return;
    a->resv->agent = NULL;
    a->resv = NULL;
}

static void release(ixn_server *srv, ixn_client *e, int64_t id)
{
    if (!e->session)
        return;
    cc_buf_reset(&srv->scratch);
    proto_enc_released(&srv->scratch, id);
    send_open(e->session, &srv->scratch);
    srv->stats.resv_released++;
}

/* Takes r out of its engine's FIFO (usually the head). */
static void unlink_resv(ixn_client *e, ixn_resv *r)
{
    ixn_resv **pp = &e->resv_head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    assert(*pp == r);
    *pp = r->next;
    if (e->resv_tail == r)
        e->resv_tail = prev;
    r->next = NULL;
}

/* Ends r with outcome: routing is told, and a grant it does not use is released. */
static void finish(ixn_server *srv, ixn_resv *r, enum ixn_resv_outcome outcome)
{
    ixn_agent *a = r->agent;
    if (a) {
        assert(a->resv == r);
        a->resv = NULL;
    }
    bool used = r->reassign
                    ? ixn_super_reservation_done(srv, r->reassign, a, r->media, r->id, outcome)
                    : ixn_core_reservation_done(srv, r->pool, a, r->media, r->id, outcome);
    if (outcome == IXN_RESV_GRANTED && !used)
        release(srv, r->engine, r->id);
    free(r);
}

void ixn_resv_engine_closed(ixn_server *srv, ixn_client *c)
{
    if (c->resv_listed) {
        c->resv_listed = false;
        if (c->resv_prev)
            c->resv_prev->resv_next = c->resv_next;
        else
            srv->resv_engines = c->resv_next;
        if (c->resv_next)
            c->resv_next->resv_prev = c->resv_prev;
        c->resv_prev = c->resv_next = NULL;
    }
    while (c->resv_head) {
        ixn_resv *r = c->resv_head;
        unlink_resv(c, r);
        finish(srv, r, IXN_RESV_LOST);
    }
    /* Rare (an engine went away), so a walk of every agent is affordable. */
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&srv->agents, &pos))) {
        ixn_agent *a = sl->value;
        if (a->status_from == c) {
            a->status_from = NULL;
            a->has_status = false;
        }
    }
}

int ixn_resv_answer(cc_session *s, proto_msg *msg)
{
    ixn_client *c = cc_session_user(s);
    ixn_server *srv = c->srv;
    int rc = cc_session_allow(s, msg, CC_CLIENT_REPORTING);
    proto_reserved ans;
    if (rc || (rc = proto_decode_reserved(msg, &ans))) {
        srv->stats.resv_dropped++;
        LOG_WARN("event=reservation_answer_dropped session=%" PRIu64 " why=%s", cc_session_id(s),
                 LOGQ(msg->desc));
        return rc;
    }
    if (!ixn_fence_takes(&c->fence)) {
        /* Its reservations were ended when it was fenced; whatever it says now is not
         * acted on. */
        srv->stats.resv_fenced++;
        return 0;
    }
    /* Answers come in order, so the match is the head; anything else is searched for
     * rather than trusted, and an unknown id is dropped. */
    ixn_resv *r = c->resv_head;
    while (r && r->id != ans.reservation_id)
        r = r->next;
    if (!r) {
        srv->stats.resv_dropped++;
        LOG_WARN("event=reservation_answer_dropped session=%" PRIu64 " id=%" PRId64
                 " why=\"no such reservation outstanding\"",
                 cc_session_id(s), ans.reservation_id);
        return CC_E_INVALID_ATTRIBUTE;
    }
    unlink_resv(c, r);
    if (r->agent && !ixn_report_wants(c, r->agent)) {
        /* Asked of the agent's owner, which its filter no longer names: the answer is
         * not its to give. */
        srv->stats.resv_fenced++;
        finish(srv, r, IXN_RESV_LOST);
        return 0;
    }
    if (ans.granted)
        srv->stats.resv_granted++;
    else
        srv->stats.resv_refused++;
    finish(srv, r, ans.granted ? IXN_RESV_GRANTED : IXN_RESV_REFUSED);
    return 0;
}

static size_t unanswered(const ixn_client *c)
{
    size_t n = 0;
    for (const ixn_resv *r = c->resv_head; r; r = r->next)
        n++;
    return n;
}

void ixn_resv_check_overdue(ixn_server *srv, uint64_t now_us)
{
    for (ixn_client *c = srv->resv_engines, *next; c; c = next) {
        next = c->resv_next;
        ixn_resv *r = c->resv_head;
        if (!r || !c->session || now_us - r->asked_us <= IXN_RESV_OVERDUE_US)
            continue;
        /* Answers come in order, so nothing behind the oldest was answered either: the
         * engine is stuck (or its answers are lost). Closing it ends its reservations as
         * lost, which frees the agents for the others, and it reconnects afresh. */
        srv->stats.resv_overdue++;
        LOG_WARN("event=reservation_overdue session=%" PRIu64 " name=%s id=%" PRId64
                 " waited_ms=%" PRIu64 " unanswered=%zu",
                 cc_session_id(c->session), LOGQ(cc_session_name(c->session)), r->id,
                 (now_us - r->asked_us) / 1000, unanswered(c));
        cc_session_close(c->session);
    }
}

static void on_resv_timer(uv_timer_t *t)
{
    ixn_resv_check_overdue(t->data, cc_mono_us());
}

void ixn_resv_start(ixn_server *srv)
{
    uv_timer_init(srv->loop, &srv->resv_timer);
    srv->resv_timer.data = srv;
    uv_timer_start(&srv->resv_timer, on_resv_timer, 1000, 1000);
    /* The check alone must not keep the loop alive. */
    uv_unref((uv_handle_t *)&srv->resv_timer);
}

void ixn_resv_stop(ixn_server *srv)
{
    uv_timer_stop(&srv->resv_timer);
    uv_close((uv_handle_t *)&srv->resv_timer, NULL);
}

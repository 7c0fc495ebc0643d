#include "stat/stat_links.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/log.h"
#include "net/client.h"
#include "net/turnw.h"
#include "stat/stat_metrics.h"
#include "proto/ixnreport.h"
#include "proto/statmsg.h"
#include "proto/regmsg.h"
#include "proto/resv.h"

/* Agents per slice of a resend, and slices a link may have unread at once. A grant or a
 * fresh status waits behind at most that many statuses (about 150 KB at 300 bytes a
 * status), and with two slices in flight the server always has the next one to read
 * while the answer of the last one travels back. The link's output queue cannot pace
 * it: on a local network it empties into the kernel's socket buffers at once, which hold
 * megabytes the server has not read yet. */
#define RESEND_SLICE 256
#define RESEND_WINDOW 2

typedef struct stat_link {
    stat_links *owner;
    int index;
    char *name;
    cc_client *client;
    tls_ctx *tls;        /* NULL: the link runs without TLS */
    int64_t start_ref;   /* referenceId of RequestStartPlaceAgentStateReportingAll */
    int64_t ixr_ref;     /* referenceId of RequestStartInteractionReporting */
    uint64_t bad_steps;  /* EventInteractionReported that could not be decoded */
    uint64_t snap_start; /* when the snapshot was asked for, monotonic us */
    uint64_t bad_events; /* EventPlaceAgentState that could not be decoded */
    bool hist_up;        /* the history's last row of this link says up */
    /* EventReserveAgent received before grants are allowed (the start-up wait): held in
     * order and answered when the wait ends, since a refusal would leave the server
     * waiting for a status that nothing may send. */
    struct held_reserve *held_head, *held_tail;
    size_t nheld;
    /* The running resend's slices in flight: the referenceId of the RequestPing written
     * after each, whose EventAck says the server has read the slice. */
    int64_t resend_marks[RESEND_WINDOW];
    int nmarks;
    size_t resend_total;  /* agents the resend started with on this link */
    size_t resend_slices; /* slices sent so far */
    uint64_t resend_start_us;
} stat_link;

/* Reservations held per link at most; beyond, the held ones are answered (refused) at
 * once, in order, and so is the new one. */
#define HELD_RESERVES_MAX 65536

/* A copy of an EventReserveAgent that waits for the start-up wait to end. */
typedef struct held_reserve {
    proto_reserve r; /* strings owned */
    bool valid;
    struct held_reserve *next;
} held_reserve;

struct stat_links {
    cc_media_table *media;
    stat_agents *agents;
    stat_stats *stats;  /* NULL: no interaction reporting asked for */
    hist *hist;         /* NULL: no history kept */
    uv_timer_t *expiry; /* ends unused grants; freed in its close callback */
    uv_timer_t *gate;   /* opens reservations when a link is slow to settle at start */
    uint64_t gate_ms;
    uint64_t expiry_due_us;
    uint64_t bad_reserves; /* EventReserveAgent without a readable reservationId */
    bool pair;             /* a member of a pair: the mode goes to every server */
    bool primary;          /* statuses are sent (always, without a pair) */
    int64_t epoch;         /* the lease revision of the primary role */
    uint64_t withheld;     /* statuses not sent while standby */
    /* what is reported ([server] tenants and partition): the filter of every link */
    char **tenants; /* NULL: every tenant */
    size_t ntenants;
    uint32_t part_index, part_count;
    int count;
    stat_link *links; /* count of them */
};

/* Tells the server the member's role; before the reporting request on a new link, so that
 * no status of a standby is ever taken. */
static void send_mode(stat_link *l)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_stat_enc_mode(&b, &(proto_stat_mode){l->owner->primary, l->owner->epoch});
    cc_client_request(l->client, &b);
    cc_buf_free(&b);
}

/* Sends link l's next slices of the running resend while fewer than RESEND_WINDOW are
 * unread, each followed by a RequestPing whose answer lets the next one go. */
static void resend_pump(stat_link *l)
{
    stat_agents *agents = l->owner->agents;
    while (l->nmarks < RESEND_WINDOW && stat_agents_resend_left(agents, l->index) > 0) {
        size_t left = stat_agents_resend_step(agents, l->index, RESEND_SLICE);
        l->resend_slices++;
        if (!left) {
            LOG_INFO("event=resend_done link=%s agents=%zu slices=%zu elapsed_ms=%.1f", l->name,
                     l->resend_total, l->resend_slices,
                     (double)(cc_mono_us() - l->resend_start_us) / 1000.0);
            return;
        }
        cc_buf b;
        cc_buf_init(&b);
        proto_reg_enc_ping_open(&b);
        int64_t ref = cc_client_request(l->client, &b);
        cc_buf_free(&b);
        /* A link that is not up any more drops its resend in on_down. */
        if (!ref)
            return;
        l->resend_marks[l->nmarks++] = ref;
    }
}

/* An EventAck: when it answers a resend's RequestPing, that slice is read and the next
 * may go; any other is ignored. */
static void resend_acked(stat_link *l, int64_t ref)
{
    for (int i = 0; i < l->nmarks; i++)
        if (l->resend_marks[i] == ref) {
            l->resend_marks[i] = l->resend_marks[--l->nmarks];
            resend_pump(l);
            return;
        }
}

static void on_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    stat_link *l = cc_client_user(c);
    l->nmarks = 0;
    stat_agents_link_up(l->owner->agents, l->index);
    if (l->owner->pair)
        send_mode(l);
    cc_buf b;
    cc_buf_init(&b);
    /* Without [server] tenants, no tenants field: every tenant of the server; partition
     * 0/1 (every agent) is sent as no partition, so that a server without partitions
     * understands it. */
    const stat_links *ls = l->owner;
    proto_stat_enc_subscribe(&b, &(proto_stat_subscribe){
                                     .reporting = true,
                                     .all = ls->tenants == NULL,
                                     .tenants = (const char *const *)ls->tenants,
                                     .ntenants = ls->ntenants,
                                     .partitioned = ls->part_count > 1,
                                     .part_index = ls->part_index,
                                     .part_count = ls->part_count,
                                 });
    l->start_ref = cc_client_request(c, &b);
    if (l->owner->stats) {
        /* After the agent states, the interaction steps of the same tenants for the
         * statistics: the snapshot that follows replaces what was known of this server. */
        cc_buf_reset(&b);
        proto_ixr_enc_start(&b, &(proto_ixr_start){.all = ls->tenants == NULL,
                                                   .tenants = (const char *const *)ls->tenants,
                                                   .ntenants = ls->ntenants});
        l->ixr_ref = cc_client_request(c, &b);
        stat_stats_link_up(l->owner->stats, l->index);
        if (l->owner->hist) {
            hist_link(l->owner->hist, (int64_t)(cc_wall_us() / 1000), HIST_LINK_UP, l->index,
                      l->name);
            l->hist_up = true;
        }
    }
    cc_buf_free(&b);
    l->snap_start = cc_mono_us();
    LOG_INFO("event=link_up link=%s address=%s server=%s", l->name, cc_client_address(c),
             LOGQ(cc_client_server_name(c)));
}

static void on_state(stat_link *l, proto_msg *msg)
{
    proto_agent_state st;
    int rc = proto_decode_agent_state(msg, l->owner->media, &st, NULL, 0);
    if (rc != 0) {
        l->bad_events++;
        LOG_WARN("event=bad_agent_state link=%s error=%s count=%" PRIu64, l->name, LOGQ(msg->desc),
                 l->bad_events);
        return;
    }
    stat_agents_apply(l->owner->agents, l->index, &st);
}

static void on_step(stat_link *l, proto_msg *msg)
{
    proto_ixr_event e;
    int rc = proto_ixr_decode_event(msg, &e);
    if (rc != 0) {
        l->bad_steps++;
        LOG_WARN("event=bad_interaction_step link=%s error=%s count=%" PRIu64, l->name,
                 LOGQ(msg->desc), l->bad_steps);
        return;
    }
    int64_t now = (int64_t)(cc_wall_us() / 1000);
    uint64_t t0 = cc_turnw_begin();
    stat_stats_ixn(l->owner->stats, l->index, l->name, &e, now);
    cc_turnw_end("stats_ixn", t0);
    if (l->owner->hist)
        hist_ixn(l->owner->hist, now, l->index, l->name, &e);
}

static void on_expiry(uv_timer_t *t);

/* Keeps the expiry timer armed for the oldest outstanding grant. */
static void expiry_arm(stat_links *ls)
{
    uint64_t due = stat_agents_next_expiry(ls->agents);
    if (due == ls->expiry_due_us)
        return;
    ls->expiry_due_us = due;
    if (!due) {
        uv_timer_stop(ls->expiry);
        return;
    }
    uint64_t now = cc_mono_us();
    uint64_t ms = due > now ? (due - now + 999) / 1000 : 0;
    uv_timer_start(ls->expiry, on_expiry, ms, 0);
}

static void on_expiry(uv_timer_t *t)
{
    stat_links *ls = t->data;
    ls->expiry_due_us = 0;
    stat_agents_expire(ls->agents, cc_mono_us());
    expiry_arm(ls);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void held_free(held_reserve *h)
{
    free((char *)h->r.tenant);
    free((char *)h->r.agent_id);
    free((char *)h->r.media);
    free(h);
}

/* Answers link l's held reservations in order (answer false: only forgets them, the
 * link being gone). */
static void held_drain(stat_link *l, bool answer)
{
    while (l->held_head) {
        held_reserve *h = l->held_head;
        l->held_head = h->next;
        if (answer)
            stat_agents_reserve(l->owner->agents, l->index, &h->r, h->valid, cc_mono_us());
        held_free(h);
    }
    l->held_tail = NULL;
    l->nheld = 0;
    if (answer)
        expiry_arm(l->owner);
}

/* Once grants are allowed, every link's held reservations are answered. */
static void held_drain_all(stat_links *ls)
{
    if (!stat_agents_granting(ls->agents))
        return;
    for (int i = 0; i < ls->count; i++)
        if (ls->links[i].held_head)
            held_drain(&ls->links[i], true);
}

static void on_reserve(stat_link *l, proto_msg *msg)
{
    proto_reserve r;
    int rc = proto_decode_reserve(msg, &r);
    if (r.reservation_id <= 0) {
        /* Nothing to answer to: dropped and counted, the link stays (protocol 7a). */
        l->owner->bad_reserves++;
        LOG_WARN("event=bad_reserve link=%s error=%s count=%" PRIu64, l->name, LOGQ(msg->desc),
                 l->owner->bad_reserves);
        return;
    }
    if (!stat_agents_granting(l->owner->agents)) {
        if (l->nheld >= HELD_RESERVES_MAX) {
            held_drain(l, true);
        } else {
            held_reserve *h = xcalloc(1, sizeof *h);
            h->r = (proto_reserve){r.reservation_id, dup_or_null(r.tenant), dup_or_null(r.agent_id),
                                   dup_or_null(r.media), r.version};
            h->valid = rc == 0;
            if (l->held_tail)
                l->held_tail->next = h;
            else
                l->held_head = h;
            l->held_tail = h;
            l->nheld++;
            return;
        }
    }
    stat_agents_reserve(l->owner->agents, l->index, &r, rc == 0, cc_mono_us());
    expiry_arm(l->owner);
}

static void on_released(stat_link *l, proto_msg *msg)
{
    int64_t id;
    if (proto_decode_released(msg, &id) != 0) {
        l->owner->bad_reserves++;
        return;
    }
    stat_agents_release(l->owner->agents, l->index, id);
    expiry_arm(l->owner);
}

static void on_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    stat_link *l = cc_client_user(c);
    if (strcmp(msg->name, "EventPlaceAgentState") == 0) {
        uint64_t started_us = cc_mono_us();
        on_state(l, msg);
        stat_metrics_state_applied(started_us);
        expiry_arm(l->owner);
    } else if (strcmp(msg->name, "EventInteractionReported") == 0 && l->owner->stats) {
        on_step(l, msg);
    } else if (strcmp(msg->name, "EventInteractionSnapshotDone") == 0 && l->owner->stats) {
        int64_t now = (int64_t)(cc_wall_us() / 1000);
        stat_stats_snapshot_done(l->owner->stats, l->index, now);
        if (l->owner->hist)
            hist_link(l->owner->hist, now, HIST_SNAPSHOT_DONE, l->index, l->name);
        LOG_INFO("event=interaction_snapshot_done link=%s known=%" PRIu64, l->name,
                 stat_stats_get_counts(l->owner->stats).interactions);
    } else if (strcmp(msg->name, "EventReserveAgent") == 0) {
        on_reserve(l, msg);
    } else if (strcmp(msg->name, "EventReservationReleased") == 0) {
        on_released(l, msg);
    } else if (strcmp(msg->name, "EventPlaceAgentStateSnapshotDone") == 0) {
        size_t n = stat_agents_snapshot_done(l->owner->agents, l->index);
        held_drain_all(l->owner);
        LOG_INFO("event=snapshot_done link=%s agents=%zu known=%zu elapsed_ms=%.1f", l->name, n,
                 stat_agents_count(l->owner->agents),
                 (double)(cc_mono_us() - l->snap_start) / 1000.0);
    } else if (strcmp(msg->name, "EventError") == 0) {
        proto_error err;
        proto_decode_error(msg, &err);
        LOG_WARN("event=link_error link=%s ref=%" PRId64 " code=%" PRId64 " error=%s", l->name,
                 msg->ref, err.code, LOGQ(err.description ? err.description : ""));
        /* Without reporting the link is useless: start over with a fresh registration. */
        if (msg->ref == l->start_ref)
            cc_client_drop(c, "reporting refused");
        /* A server without interaction reporting still reports agents: its queues have
         * no statistics, which the log says once per connection. */
        if (msg->ref == l->ixr_ref && l->ixr_ref)
            LOG_WARN("event=interaction_reporting_refused link=%s code=%" PRId64, l->name,
                     err.code);
    } else if (strcmp(msg->name, "EventAck") == 0 && msg->ref == l->start_ref) {
        LOG_INFO("event=reporting_started link=%s", l->name);
    } else if (strcmp(msg->name, "EventAck") == 0 && msg->ref > 0) {
        resend_acked(l, msg->ref);
    }
}

static void on_down(cc_client *c, const char *why)
{
    (void)why;
    stat_link *l = cc_client_user(c);
    held_drain(l, false);
    l->nmarks = 0;
    stat_agents_link_down(l->owner->agents, l->index);
    if (l->owner->stats) {
        int64_t now = (int64_t)(cc_wall_us() / 1000);
        stat_stats_link_down(l->owner->stats, l->index, now);
        /* A server that stays away fails a connect every few seconds: only the loss of
         * a link that was up is history. */
        if (l->owner->hist && l->hist_up) {
            hist_link(l->owner->hist, now, HIST_LINK_DOWN, l->index, l->name);
            l->hist_up = false;
        }
    }
    l->start_ref = 0;
    l->ixr_ref = 0;
    held_drain_all(l->owner);
    expiry_arm(l->owner);
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
    stat_agents_set_reservation_timeout(agents, (uint64_t)cfg->reservation_timeout_s * 1000000u);
    ls->expiry = xmalloc(sizeof *ls->expiry);
    uv_timer_init(net->loop, ls->expiry);
    ls->expiry->data = ls;
    ls->gate = xmalloc(sizeof *ls->gate);
    uv_timer_init(net->loop, ls->gate);
    ls->gate->data = ls;
    ls->gate_ms = (uint64_t)cfg->reservation_timeout_s * 1000u;
    ls->count = cfg->ixn_count;
    ls->links = xcalloc((size_t)cfg->ixn_count + 1, sizeof *ls->links);
    ls->primary = true;
    if (cfg->tenants) {
        ls->tenants = xcalloc(cfg->ntenants + 1, sizeof *ls->tenants);
        for (size_t i = 0; i < cfg->ntenants; i++)
            ls->tenants[i] = xstrdup(cfg->tenants[i]);
        ls->ntenants = cfg->ntenants;
    }
    ls->part_index = cfg->part_index;
    ls->part_count = cfg->part_count;
    for (int i = 0; i < cfg->ixn_count; i++) {
        stat_link *l = &ls->links[i];
        l->owner = ls;
        l->index = i;
        l->name = xstrdup(cfg->ixns[i].name);
        const stat_ixn_config *ix = &cfg->ixns[i];
        if (ix->tls) {
            tls_files f = {ix->tls_cert, ix->tls_key, ix->tls_ca};
            char what[PROTO_ID_MAX + 8], err[512];
            snprintf(what, sizeof what, "ixn:%s", ix->name);
            if (tls_ctx_new(&l->tls, TLS_CLIENT, &f, what, err, sizeof err) != 0) {
                LOG_ERROR("event=tls_failed what=%s why=%s", LOGQ(what), LOGQ(err));
                ls->count = i + 1;
                l->client = NULL;
                stat_links_free(ls);
                return NULL;
            }
        }
        cc_client_config cc = {
            .address = cfg->ixns[i].address,
            .client_type = "ReportingEngine",
            .client_name = cfg->ixns[i].client_name ? cfg->ixns[i].client_name : cfg->name,
            .token = cfg->ixns[i].token,
            .reconnect = true,
            .backoff_min_ms = 100,
            .backoff_max_ms = 5000,
            .max_line = cfg->max_line,
            .out_limit = cfg->link_out_limit,
            .tls = l->tls,
        };
        l->client = cc_client_new(net, &cc, &link_ops, l);
    }
    return ls;
}

static void on_gate(uv_timer_t *t)
{
    stat_links *ls = t->data;
    stat_agents_open_gate(ls->agents);
    held_drain_all(ls);
}

void stat_links_start(stat_links *ls)
{
    /* A server that neither answers with a snapshot nor fails within reservation-timeout
     * of the start no longer holds up every grant. */
    uv_timer_start(ls->gate, on_gate, ls->gate_ms, 0);
    for (int i = 0; i < ls->count; i++)
        cc_client_start(ls->links[i].client);
}

/* Close callback of the timers allocated on their own. */
static void on_expiry_closed(uv_handle_t *h)
{
    free(h);
}

void stat_links_free(stat_links *ls)
{
    if (!ls)
        return;
    uv_close((uv_handle_t *)ls->expiry, on_expiry_closed);
    uv_close((uv_handle_t *)ls->gate, on_expiry_closed);
    for (int i = 0; i < ls->count; i++) {
        held_drain(&ls->links[i], false);
        cc_client_free(ls->links[i].client);
        /* The connection's own TLS engine holds the context it started with. */
        tls_ctx_free(ls->links[i].tls);
        free(ls->links[i].name);
    }
    free(ls->links);
    for (size_t i = 0; i < ls->ntenants; i++)
        free(ls->tenants[i]);
    free(ls->tenants);
    free(ls);
}

void stat_links_reload_tls(stat_links *ls)
{
    for (int i = 0; i < ls->count; i++)
        if (ls->links[i].tls)
            tls_ctx_reload(ls->links[i].tls);
}

void stat_links_set_stats(stat_links *ls, stat_stats *stats)
{
    ls->stats = stats;
}

void stat_links_set_hist(stat_links *ls, hist *h)
{
    ls->hist = h;
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

void stat_links_set_mode(stat_links *ls, bool pair, bool primary, int64_t epoch)
{
    bool changed = ls->pair != pair || ls->primary != primary || ls->epoch != epoch;
    ls->pair = pair;
    ls->primary = primary;
    ls->epoch = epoch;
    /* A standby sends no statuses: what a resend had left is dropped. */
    if (!primary) {
        stat_agents_resend_cancel(ls->agents);
        for (int i = 0; i < ls->count; i++)
            ls->links[i].nmarks = 0;
    }
    if (!pair || !changed)
        return;
    for (int i = 0; i < ls->count; i++)
        if (cc_client_is_up(ls->links[i].client))
            send_mode(&ls->links[i]);
}

size_t stat_links_resend(stat_links *ls)
{
    size_t n = stat_agents_resend_start(ls->agents);
    uint64_t now = cc_mono_us();
    for (int i = 0; i < ls->count; i++) {
        stat_link *l = &ls->links[i];
        l->nmarks = 0;
        l->resend_total = stat_agents_resend_left(ls->agents, i);
        l->resend_slices = 0;
        l->resend_start_us = now;
        resend_pump(l);
    }
    return n;
}

uint64_t stat_links_withheld(const stat_links *ls)
{
    return ls->withheld;
}

void stat_links_send(stat_links *ls, int i, cc_sbuf *body, int64_t version)
{
    if (!ls->primary) {
        ls->withheld++;
        return;
    }
    char extra[40];
    snprintf(extra, sizeof extra, ",\"version\":%" PRId64, version);
    cc_client_send(ls->links[i].client, body, extra);
}

void stat_links_send_reserved(stat_links *ls, int i, int64_t reservation_id, bool granted)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_reserved(&b, &(proto_reserved){reservation_id, granted});
    cc_sbuf *sb = cc_sbuf_new(b.data, b.len);
    cc_client_send(ls->links[i].client, sb, NULL);
    cc_sbuf_unref(sb);
    cc_buf_free(&b);
}

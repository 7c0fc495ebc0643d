#include "ixn/ixn_super.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "ixn/ixn_ixn.h"
#include "ixn/ixn_route.h"
#include "net/creds.h"
#include "proto/supmsg.h"

/* A reassignment whose reservation is asked: the supervisor's request is answered when
 * the reporting engine answers. */
struct ixn_reassign {
    cc_session *s; /* the supervisor's; NULL once it closed */
    struct ixn_reassign *prev, *next;
    char *supervisor;
    char *tenant;
    char *agent_id;
    char *interaction_id;
    char *reason; /* NULL when none */
    char *from;   /* the agent it was taken from; NULL when it was queued */
};

struct ixn_super {
    FILE *audit;      /* NULL without audit-log */
    char *audit_path; /* the path it was opened by, for SIGHUP's reopen */
    struct ixn_reassign *waiting;
    uint64_t actions, refused;
    ixn_super_counts counts;
};

/* What one action did, for the audit line and the log. */
typedef struct audit_entry {
    const char *supervisor;
    enum proto_sup_action action;
    const char *tenant, *agent_id, *media, *interaction_id, *from;
    const proto_sup_reason *reason;
    int result;                         /* 0 or a CC_E_ code */
    char tenant_copy[PROTO_ID_MAX + 1]; /* the tenant of an agent that is gone since */
} audit_entry;

/* Opens path for appending, created readable by the server's user only (it names agents
 * and supervisors): the stream, or NULL with errno set. */
static FILE *audit_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "a");
    if (!f) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return f;
}

int ixn_super_init(ixn_server *srv)
{
    struct ixn_super *sp = xcalloc(1, sizeof *sp);
    srv->super = sp;
    const char *path = srv->cfg->audit_log;
    if (!path)
        return 0;
    if (!(sp->audit = audit_open(path))) {
        LOG_ERROR("event=audit_log_failed path=%s error=%s", LOGQ(path), LOGQ(strerror(errno)));
        return CC_E_IO;
    }
    sp->audit_path = xstrdup(path);
    LOG_INFO("event=audit_log_open path=%s", LOGQ(path));
    return 0;
}

const ixn_super_counts *ixn_super_counts_of(const ixn_server *srv)
{
    return &srv->super->counts;
}

void ixn_super_reopen(ixn_server *srv)
{
    struct ixn_super *sp = srv->super;
    if (!sp || !sp->audit)
        return;
    /* The new file is opened before the old one is closed, so that a failure (a full disk,
     * a directory made unwritable) keeps the trail going to the old file. */
    FILE *f = audit_open(sp->audit_path);
    if (!f) {
        LOG_ERROR("event=audit_log_reopen_failed path=%s error=%s kept=old", LOGQ(sp->audit_path),
                  LOGQ(strerror(errno)));
        return;
    }
    fclose(sp->audit);
    sp->audit = f;
    LOG_INFO("event=audit_log_reopened path=%s", LOGQ(sp->audit_path));
}

static void reassign_free(struct ixn_reassign *r)
{
    free(r->supervisor);
    free(r->tenant);
    free(r->agent_id);
    free(r->interaction_id);
    free(r->reason);
    free(r->from);
    free(r);
}

void ixn_super_free(ixn_server *srv)
{
    struct ixn_super *sp = srv->super;
    if (!sp)
        return;
    LOG_INFO("event=supervisor_stats actions=%" PRIu64 " refused=%" PRIu64, sp->actions,
             sp->refused);
    /* Reassignments still waiting belong to their reservations, which end with the
     * engines' connections and then find no supervisor module. */
    for (struct ixn_reassign *r = sp->waiting; r; r = r->next)
        r->s = NULL;
    if (sp->audit)
        fclose(sp->audit);
    free(sp->audit_path);
    free(sp);
    srv->super = NULL;
}

/* One line per action, to the audit log and to the server's log: when, who, what, on
 * whom, why, and how it ended. Values a peer chose are quoted as in every log line. */
static void audit(ixn_server *srv, const audit_entry *e)
{
    struct ixn_super *sp = srv->super;
    if (!sp)
        return;
    sp->actions++;
    if (e->result)
        sp->refused++;
    if ((int)e->action >= 0 && e->action < PROTO_SUP_ACTION_COUNT) {
        if (e->result)
            sp->counts.refused[e->action]++;
        else
            sp->counts.ok[e->action]++;
    }
    int64_t ms = (int64_t)(cc_wall_us() / 1000);
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    char code[24] = "-";
    if (e->reason && e->reason->present && e->action == PROTO_SUP_FORCE_NOT_READY)
        snprintf(code, sizeof code, "%" PRId64, e->reason->code);
    const char *result = e->result ? cc_err_wire_name(e->result) : "ok";
    const char *text = e->reason && e->reason->present ? e->reason->text : NULL;
    char line[4096];
    snprintf(line, sizeof line,
             "supervisor=%s action=%s tenant=%s agent=%s media=%s interaction=%s from=%s "
             "reason_code=%s reason=%s result=%s",
             LOGQ(e->supervisor), proto_sup_action_name((int)e->action), LOGQ(e->tenant),
             LOGQ(e->agent_id), LOGQ(e->media), LOGQ(e->interaction_id), LOGQ(e->from), code,
             LOGQ(text), result);
    if (sp->audit) {
        fprintf(sp->audit, "time=%s %s\n", when, line);
        /* Each line reaches the file at once: an audit trail that a crash cuts short
         * of its last actions would be no trail. */
        if (fflush(sp->audit) != 0)
            LOG_ERROR("event=audit_log_write_failed error=%s", LOGQ(strerror(errno)));
    }
    if (e->result)
        LOG_WARN("event=supervisor_action %s", line);
    else
        LOG_INFO("event=supervisor_action %s", line);
}

/* Tells a's desktop who did what to it. direct: sent at once, ahead of any change of the
 * batch (a logout, after which nothing reaches the desktop); otherwise with the commit
 * of the changes it tells of. */
static void notify(ixn_server *srv, ixn_agent *a, const proto_sup_event *ev, bool direct)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_sup_enc_event(&b, ev);
    if (!direct) {
        ixn_core_emit(srv, a, &b);
    } else if (a->client && a->client->session) {
        cc_sbuf *sb = cc_sbuf_new(b.data, b.len);
        cc_session_send(a->client->session, sb, NULL);
        cc_sbuf_unref(sb);
    }
    cc_buf_free(&b);
}

/* The agent acted on: named by tenant and agentId, or by agentId alone when exactly one
 * of the supervisor's tenants has it logged in here. */
static int find_agent(cc_session *s, proto_msg *msg, const char *tenant, const char *agent_id,
                      ixn_agent **out)
{
    ixn_server *srv = cc_session_server(s)->user;
    int rc;
    if (tenant) {
        if ((rc = cc_session_tenant_check(s, msg, tenant)))
            return rc;
        char key[IXN_KEY_MAX];
        ixn_config_key(key, tenant, agent_id);
        *out = cc_map_gets(&srv->agents, key);
    } else {
        /* Rare (a person clicks), so a walk of the agents is affordable. */
        size_t mine = 0, theirs = 0, pos = 0;
        cc_map_slot *sl;
        *out = NULL;
        while ((sl = cc_map_next(&srv->agents, &pos))) {
            ixn_agent *a = sl->value;
            if (strcmp(a->agent_id, agent_id) != 0)
                continue;
            if (cc_session_tenant_ok(s, a->tenant)) {
                mine++;
                *out = a;
            } else {
                theirs++;
            }
        }
        if (mine > 1) {
            snprintf(msg->desc, sizeof msg->desc,
                     "tenant: agent %.128s is logged in for several of your tenants", agent_id);
            return CC_E_INVALID_ATTRIBUTE;
        }
        if (!mine && theirs) {
            snprintf(msg->desc, sizeof msg->desc,
                     "agent %.128s is not of one of this client's tenants", agent_id);
            return CC_E_NOT_AUTHORIZED;
        }
    }
    if (!*out) {
        snprintf(msg->desc, sizeof msg->desc, "agent %.128s is not logged in here", agent_id);
        return CC_E_AGENT_NOT_LOGGED_IN;
    }
    return 0;
}

static int force_not_ready(cc_session *s, proto_msg *msg, const proto_sup_request *q,
                           audit_entry *e)
{
    ixn_server *srv = cc_session_server(s)->user;
    ixn_agent *a;
    int rc = find_agent(s, msg, q->tenant, q->agent_id, &a);
    if (rc)
        return rc;
    e->tenant = a->tenant;
    int m = cc_media_find(&srv->cfg->media, q->media, strlen(q->media));
    if (m < 0) {
        snprintf(msg->desc, sizeof msg->desc, "media %.64s is not configured here", q->media);
        return CC_E_UNKNOWN_MEDIA;
    }
    if (!(a->added & ((cc_media_mask)1 << m))) {
        snprintf(msg->desc, sizeof msg->desc, "agent %.128s has not added %s", a->agent_id,
                 q->media);
        return CC_E_INVALID_STATE;
    }
    ixn_agent_force_not_ready(srv, a, m, q->reason.present, q->reason.code, q->reason.text);
    notify(srv, a,
           &(proto_sup_event){.action = PROTO_SUP_FORCE_NOT_READY,
                              .supervisor = cc_session_name(s),
                              .tenant = a->tenant,
                              .agent_id = a->agent_id,
                              .media = q->media,
                              .reason = q->reason},
           false);
    return 0;
}

static int force_logout(cc_session *s, proto_msg *msg, const proto_sup_request *q, audit_entry *e)
{
    ixn_server *srv = cc_session_server(s)->user;
    ixn_agent *a;
    int rc = find_agent(s, msg, q->tenant, q->agent_id, &a);
    if (rc)
        return rc;
    e->tenant = a->tenant;
    /* The desktop hears of it first: after the logout nothing of the agent reaches it. */
    notify(srv, a,
           &(proto_sup_event){.action = PROTO_SUP_FORCE_LOGOUT,
                              .supervisor = cc_session_name(s),
                              .tenant = a->tenant,
                              .agent_id = a->agent_id,
                              .reason = q->reason},
           true);
    /* The logout frees the agent that e's tenant points into. */
    snprintf(e->tenant_copy, sizeof e->tenant_copy, "%s", a->tenant);
    e->tenant = e->tenant_copy;
    ixn_agent_force_logout(srv, a);
    return 0;
}

/* The interaction of a request: known here (9) and of the supervisor's tenants (5). Its
 * tenant goes into the audit entry e, refused or not. */
static int find_ixn(cc_session *s, proto_msg *msg, const proto_sup_request *q, audit_entry *e,
                    ixn_ixn **out)
{
    ixn_server *srv = cc_session_server(s)->user;
    ixn_ixn *x = ixn_core_find(srv, q->interaction_id);
    if (!x) {
        snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is not known here",
                 q->interaction_id);
        return CC_E_UNKNOWN_INTERACTION;
    }
    e->tenant = x->queue->tenant;
    int rc = cc_session_tenant_check(s, msg, x->queue->tenant);
    if (rc)
        return rc;
    if (q->tenant && strcmp(q->tenant, x->queue->tenant) != 0) {
        snprintf(msg->desc, sizeof msg->desc, "tenant: interaction %.140s is of another tenant",
                 x->id);
        return CC_E_INVALID_ATTRIBUTE;
    }
    *out = x;
    return 0;
}

static int revoke_ixn(cc_session *s, proto_msg *msg, const proto_sup_request *q, audit_entry *e)
{
    ixn_server *srv = cc_session_server(s)->user;
    ixn_ixn *x;
    int rc = find_ixn(s, msg, q, e, &x);
    if (rc)
        return rc;
    e->tenant = x->queue->tenant;
    if (x->state != CC_IXN_INVITED && x->state != CC_IXN_HANDLING) {
        snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is %s, not offered or handled",
                 x->id, cc_ixn_state_name(x->state));
        return CC_E_INVALID_STATE;
    }
    ixn_agent *a = x->agent;
    e->agent_id = a->agent_id;
    ixn_core_take_back(srv, x);
    notify(srv, a,
           &(proto_sup_event){.action = PROTO_SUP_REVOKE,
                              .supervisor = cc_session_name(s),
                              .tenant = a->tenant,
                              .agent_id = a->agent_id,
                              .interaction_id = x->id,
                              .reason = q->reason},
           false);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static int reassign(cc_session *s, proto_msg *msg, const proto_sup_request *q, audit_entry *e)
{
    ixn_server *srv = cc_session_server(s)->user;
    ixn_ixn *x;
    int rc = find_ixn(s, msg, q, e, &x);
    if (rc)
        return rc;
    e->tenant = x->queue->tenant;
    char key[IXN_KEY_MAX];
    ixn_config_key(key, x->queue->tenant, q->agent_id);
    ixn_agent *a = cc_map_gets(&srv->agents, key);
    const char *why = NULL;
    int code = CC_E_INVALID_STATE;
    if (!a) {
        code = CC_E_AGENT_NOT_LOGGED_IN;
        why = "the agent is not logged in here";
    } else if (x->state == CC_IXN_AFTER_WORK || x->state == CC_IXN_ENDED) {
        why = x->state == CC_IXN_ENDED ? "the interaction has ended"
                                       : "the interaction is in after-work";
    } else if (x->agent == a) {
        why = "the agent holds it already";
    } else if (!(a->added & ((cc_media_mask)1 << x->media))) {
        why = "the agent has not added the interaction's media";
    } else if (!a->status_from) {
        why = "no status of the agent from a reporting engine yet";
    } else if (a->resv || a->claim || x->claimed_by) {
        /* One reservation per agent (protocol 7a), and one claim per interaction. */
        why = "a reservation for the agent or the interaction is outstanding: try again";
    }
    if (why) {
        snprintf(msg->desc, sizeof msg->desc, "cannot reassign %.48s to %.48s: %s", x->id,
                 q->agent_id, why);
        return code;
    }
    struct ixn_reassign *r = xcalloc(1, sizeof *r);
    if (x->agent) {
        ixn_agent *from = x->agent;
        r->from = xstrdup(from->agent_id);
        e->from = r->from;
        ixn_core_take_back(srv, x);
        notify(srv, from,
               &(proto_sup_event){.action = PROTO_SUP_REASSIGN,
                                  .supervisor = cc_session_name(s),
                                  .tenant = from->tenant,
                                  .agent_id = from->agent_id,
                                  .interaction_id = x->id,
                                  .reason = q->reason},
               false);
    }
    struct ixn_super *sp = srv->super;
    r->s = s;
    r->supervisor = xstrdup(cc_session_name(s));
    r->tenant = xstrdup(x->queue->tenant);
    r->agent_id = xstrdup(a->agent_id);
    r->interaction_id = xstrdup(x->id);
    r->reason = dup_or_null(q->reason.present ? q->reason.text : NULL);
    r->next = sp->waiting;
    if (sp->waiting)
        sp->waiting->prev = r;
    sp->waiting = r;
    ixn_core_claim(srv, x, a);
    ixn_resv_ask_reassign(srv, a, x->media, r);
    cc_session_defer(s);
    return CC_SESSION_DEFERRED;
}

int ixn_super_request(cc_session *s, proto_msg *msg)
{
    ixn_server *srv = cc_session_server(s)->user;
    proto_sup_request q;
    int rc = proto_sup_decode_request(msg, &q);
    if (rc)
        return rc;
    if ((rc = cc_session_allow(s, msg, CC_CLIENT_SUPERVISOR)))
        return rc;
    audit_entry e = {.supervisor = cc_session_name(s),
                     .action = q.action,
                     .tenant = q.tenant,
                     .agent_id = q.agent_id,
                     .media = q.media,
                     .interaction_id = q.interaction_id,
                     .reason = &q.reason};
    switch (q.action) {
    case PROTO_SUP_FORCE_NOT_READY: rc = force_not_ready(s, msg, &q, &e); break;
    case PROTO_SUP_FORCE_LOGOUT: rc = force_logout(s, msg, &q, &e); break;
    case PROTO_SUP_REVOKE: rc = revoke_ixn(s, msg, &q, &e); break;
    case PROTO_SUP_REASSIGN: rc = reassign(s, msg, &q, &e); break;
    case PROTO_SUP_ACTION_COUNT: rc = CC_E_INVALID_ATTRIBUTE; break;
    }
    if (rc == CC_SESSION_DEFERRED)
        return rc; /* audited when the reservation is answered */
    e.result = rc;
    audit(srv, &e);
    if (rc)
        return rc;
    /* What the action changed is stored before the supervisor hears it is done. */
    return ixn_core_answer(srv, s);
}

int ixn_super_query(cc_session *s, proto_msg *msg)
{
    ixn_server *srv = cc_session_server(s)->user;
    proto_sup_query q;
    ixn_agent *a;
    int rc;
    if ((rc = proto_sup_decode_query(msg, &q)) ||
        (rc = cc_session_allow(s, msg, CC_CLIENT_SUPERVISOR)) ||
        (rc = find_agent(s, msg, q.tenant, q.agent_id, &a)))
        return rc;
    cc_buf *ack = cc_session_ack_buf(s);
    proto_sup_enc_held_begin(ack, a->tenant, a->agent_id);
    size_t n = 0;
    for (const ixn_ixn *x = a->held_head; x && n < PROTO_SUP_HELD_MAX; x = x->a_next, n++)
        proto_sup_enc_held_row(ack, n == 0,
                               &(proto_sup_held){.interaction_id = x->id,
                                                 .media = cc_media_name(&srv->cfg->media, x->media),
                                                 .queue = x->queue->name,
                                                 .state = cc_ixn_state_name(x->state)});
    proto_sup_enc_held_end(ack);
    return 0;
}

static void unlink_waiting(struct ixn_super *sp, struct ixn_reassign *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (sp->waiting == r)
        sp->waiting = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

void ixn_super_session_closed(ixn_server *srv, cc_session *s)
{
    struct ixn_super *sp = srv->super;
    if (!sp)
        return;
    for (struct ixn_reassign *r = sp->waiting; r; r = r->next)
        if (r->s == s)
            r->s = NULL;
}

bool ixn_super_reservation_done(ixn_server *srv, struct ixn_reassign *r, ixn_agent *a, int media,
                                int64_t resv_id, enum ixn_resv_outcome outcome)
{
    struct ixn_super *sp = srv->super;
    if (sp)
        unlink_waiting(sp, r);
    ixn_ixn *x = a ? ixn_core_unclaim(srv, a) : NULL;
    const char *why = NULL;
    if (!a)
        why = "the agent logged out";
    else if (outcome == IXN_RESV_LOST)
        why = "the reporting engine went away";
    else if (outcome == IXN_RESV_REFUSED)
        why = "the reporting engine refused: the agent has no room for it";
    else if (!x || strcmp(x->id, r->interaction_id) != 0 || !ixn_core_offerable(x))
        why = "the interaction left its queue meanwhile";
    else if (!ixn_route_can_offer(a, media))
        why = "the agent is not ready for the media any more";
    if (outcome == IXN_RESV_REFUSED && a)
        a->refused |= (cc_media_mask)1 << media;
    proto_sup_reason reason = {.present = r->reason != NULL, .text = r->reason};
    audit_entry e = {.supervisor = r->supervisor,
                     .action = PROTO_SUP_REASSIGN,
                     .tenant = r->tenant,
                     .agent_id = r->agent_id,
                     .interaction_id = r->interaction_id,
                     .from = r->from,
                     .reason = &reason,
                     .result = why ? CC_E_INVALID_STATE : 0};
    if (!why) {
        ixn_core_offer(srv, x, a, resv_id);
        notify(srv, a,
               &(proto_sup_event){.action = PROTO_SUP_REASSIGN,
                                  .supervisor = r->supervisor,
                                  .tenant = a->tenant,
                                  .agent_id = a->agent_id,
                                  .interaction_id = x->id,
                                  .reason = reason},
               false);
    }
    audit(srv, &e);
    if (r->s) {
        if (why) {
            char desc[256];
            snprintf(desc, sizeof desc, "cannot reassign %.100s: %s", r->interaction_id, why);
            cc_session_finish(r->s, CC_E_INVALID_STATE, desc);
        } else if (ixn_core_answer(srv, r->s) != CC_SESSION_DEFERRED) {
            cc_session_finish(r->s, 0, NULL);
        }
    }
    reassign_free(r);
    return why == NULL;
}

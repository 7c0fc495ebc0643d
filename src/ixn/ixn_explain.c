#include "ixn/ixn_explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "ixn/ixn_route.h"
#include "proto/ixnmsg.h"

/* One agent of the directory that matches the current step, with why it was not
 * offered the interaction. */
typedef struct candidate {
    const char *agent_id; /* points into the directory key */
    enum proto_explain_why why;
} candidate;

/* Why a logged-in agent a was not offered media m (the first reason in the order the
 * router checks them). */
static enum proto_explain_why why_of(const ixn_agent *a, int m, const ixn_ixn *x)
{
    cc_media_mask bit = (cc_media_mask)1 << m;
    if (!a || !a->client)
        return PROTO_EXPLAIN_NOT_LOGGED_IN;
    if (!(a->added & bit))
        return PROTO_EXPLAIN_MEDIA_NOT_ADDED;
    if (!(a->ready & bit))
        return PROTO_EXPLAIN_NOT_READY;
    if (a->dnd)
        return PROTO_EXPLAIN_DND;
    if (!a->has_status || !a->status_from)
        return PROTO_EXPLAIN_NO_STATUS;
    if (a->status_version != a->version)
        return PROTO_EXPLAIN_VERSION_IN_FLIGHT;
    if (a->available[m] == 0)
        return PROTO_EXPLAIN_NO_CAPACITY;
    if (a->resv)
        return PROTO_EXPLAIN_RESERVATION_PENDING;
    if (a->refused & bit)
        return PROTO_EXPLAIN_RESERVATION_REFUSED;
    /* Eligible, yet another interaction was offered or is asked for: x is behind one of
     * higher priority, or claimed by another agent's reservation. */
    if (x->state != CC_IXN_QUEUED || x->claimed_by)
        return PROTO_EXPLAIN_BUSY;
    return PROTO_EXPLAIN_ELIGIBLE;
}

/* Logged-in agents first (their reasons say more), then by agentId. */
static int cmp_candidate(const void *pa, const void *pb)
{
    const candidate *a = pa, *b = pb;
    int la = a->why == PROTO_EXPLAIN_NOT_LOGGED_IN, lb = b->why == PROTO_EXPLAIN_NOT_LOGGED_IN;
    if (la != lb)
        return la - lb;
    return strcmp(a->agent_id, b->agent_id);
}

int ixn_explain_routing(cc_session *s, proto_msg *msg)
{
    ixn_server *srv = cc_session_server(s)->user;
    const ixn_config *cfg = srv->cfg;
    proto_ixn_explain_req req;
    int rc = proto_ixn_decode_explain_req(msg, &req);
    if (rc || (rc = cc_session_allow(s, msg, CC_CLIENT_MEDIA | CC_CLIENT_AGENT)))
        return rc;
    ixn_agent *asker = NULL;
    if (cc_session_type(s) == CC_CLIENT_AGENT && (rc = ixn_agent_require(s, msg, &asker)))
        return rc;
    ixn_ixn *x = ixn_core_find(srv, req.interaction_id);
    if (!x) {
        snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is not known here",
                 req.interaction_id);
        return CC_E_UNKNOWN_INTERACTION;
    }
    if (asker && x->agent != asker) {
        /* An agent may ask only about what it holds: the rest is other agents' business. */
        snprintf(msg->desc, sizeof msg->desc, "interaction %.140s is not offered to or held by you",
                 x->id);
        return CC_E_NOT_AUTHORIZED;
    }
    if ((rc = cc_session_tenant_check(s, msg, x->queue->tenant)))
        return rc;
    const ixn_queue *q = x->queue;
    int64_t now = (int64_t)cc_wall_us();
    uint64_t next_ms = 0;
    size_t step = ixn_route_step(x, now, &next_ms);
    size_t steps = target_step_count(q->target);
    proto_ixn_explain e = {
        .interaction_id = x->id,
        .tenant = q->tenant,
        .media = cc_media_name(&cfg->media, x->media),
        .queue = q->name,
        .state = x->state,
        .priority = x->priority,
        .effective_priority = (int64_t)ixn_route_effective_priority(x, now),
        .waited_sec = now > x->entered_us ? (now - x->entered_us) / 1000000 : 0,
        .step = (int64_t)step + 1,
        .steps = (int64_t)steps,
        .expression = target_step_text(q->target, step),
        .next_step_sec = step + 1 < steps ? (int64_t)((next_ms + 999) / 1000) : -1,
        .agent_id = x->agent ? x->agent->agent_id : NULL,
    };
    /* Every agent of the tenant in the directory, logged in or not, counts when its skills
     * match the current step. */
    candidate *list = NULL;
    size_t n = 0, cap = 0;
    static const target_skills none;
    char tenant[PROTO_ID_MAX + 1];
    const char *agent_id;
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&cfg->agents, &pos))) {
        if (!ixn_config_split_key(sl->key, tenant, sizeof tenant, &agent_id) ||
            strcmp(tenant, q->tenant) != 0)
            continue;
        const ixn_agent *a = cc_map_gets(&srv->agents, sl->key);
        const target_skills *sk = a ? &a->skills : ixn_config_skills(cfg, sl->key);
        if (!target_match(q->target, step, sk ? sk : &none))
            continue;
        e.matching++;
        if (a && a == x->agent)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            list = xrealloc(list, cap * sizeof *list);
        }
        list[n++] = (candidate){agent_id, why_of(a, x->media, x)};
    }
    /* list is NULL when nobody matches, which qsort may not be given. */
    if (n > 1)
        qsort(list, n, sizeof *list, cmp_candidate);
    for (size_t i = 0; i < n && e.nagents < PROTO_EXPLAIN_AGENTS_MAX; i++)
        e.agents[e.nagents++] = (proto_explain_agent){list[i].agent_id, list[i].why};
    proto_ixn_enc_explain(cc_session_ack_buf(s), &e);
    free(list);
    return 0;
}

#include "proto/ixnreport.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/media.h"
#include "proto/jw.h"

static const char START[] = "RequestStartInteractionReporting";
static const char STOP[] = "RequestStopInteractionReporting";
static const char EVENT[] = "EventInteractionReported";
static const char DONE[] = "EventInteractionSnapshotDone";

static const struct {
    const char *name;
    int state;
} causes[] = {
#define PROTO_IXR_CAUSE_ROW(sym, wire, st) {wire, st},
    PROTO_IXR_CAUSE_MAP(PROTO_IXR_CAUSE_ROW)
#undef PROTO_IXR_CAUSE_ROW
};
#define NCAUSES (sizeof causes / sizeof causes[0])

static const char *const reasons[] = {NULL, "Timeout", "LoggedOut", "Done", "Stopped"};
#define NREASONS (sizeof reasons / sizeof reasons[0])

static int invalid(proto_msg *msg, const char *what)
{
    snprintf(msg->desc, sizeof msg->desc, "%s", what);
    return CC_E_INVALID_ATTRIBUTE;
}

void proto_ixr_enc_start(cc_buf *b, const proto_ixr_start *s)
{
    jw_open_message(b, START);
    if (s->all)
        return;
    jw_kv_str_array(b, "tenants", s->tenants, s->ntenants);
}

int proto_ixr_decode_start(proto_msg *msg, proto_ixr_start *out)
{
    memset(out, 0, sizeof *out);
    int rc = proto_get_id_array(msg, "tenants", false, &out->list);
    if (rc)
        return rc;
    out->all = out->list == NULL;
    out->ntenants = out->list ? json_array_size(out->list) : 0;
    return 0;
}

const char *proto_ixr_tenant(const proto_ixr_start *s, size_t i)
{
    return json_string_value(json_array_get(s->list, i));
}

void proto_ixr_enc_stop(cc_buf *b)
{
    jw_open_message(b, STOP);
}

const char *proto_ixr_cause_name(int cause)
{
    return cause >= 0 && (size_t)cause < NCAUSES ? causes[cause].name : NULL;
}

const char *proto_ixr_reason_name(int reason)
{
    return reason > 0 && (size_t)reason < NREASONS ? reasons[reason] : NULL;
}

/* The key a cause's reason is written under, NULL when the cause has none. */
static const char *reason_key(enum proto_ixr_cause cause)
{
    if (cause == PROTO_IXR_REVOKED)
        return "reason";
    if (cause == PROTO_IXR_ENDED)
        return "endReason";
    return NULL;
}

void proto_ixr_enc_event(cc_buf *b, const proto_ixr_event *e)
{
    jw_open_message(b, EVENT);
    if (e->server_name)
        jw_kv_str(b, "serverName", e->server_name);
    jw_kv_str(b, "cause", proto_ixr_cause_name((int)e->cause));
    jw_kv_str(b, "interactionId", e->interaction_id);
    jw_kv_str(b, "tenant", e->tenant);
    jw_kv_str(b, "media", e->media);
    jw_kv_str(b, "queue", e->queue);
    if (e->from_queue)
        jw_kv_str(b, "fromQueue", e->from_queue);
    if (e->agent_id)
        jw_kv_str(b, "agentId", e->agent_id);
    jw_kv_str(b, "state", cc_ixn_state_name((int)e->state));
    jw_kv_int(b, "priority", e->priority);
    jw_kv_int(b, "submittedAt", e->submitted_at);
    jw_kv_int(b, "queuedAt", e->queued_at);
    jw_kv_int(b, "at", e->at);
    const char *key = reason_key(e->cause);
    const char *why = proto_ixr_reason_name((int)e->reason);
    if (key && why)
        jw_kv_str(b, key, why);
}

/* Finds name in table (n entries, NULL ones skipped): its index, or -1. */
static int lookup(const char *const *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (table[i] && strcmp(table[i], name) == 0)
            return (int)i;
    return -1;
}

int proto_ixr_decode_event(proto_msg *msg, proto_ixr_event *out)
{
    memset(out, 0, sizeof *out);
    if (!msg->name || strcmp(msg->name, EVENT) != 0)
        return CC_E_NOT_FOUND;
    const char *cause, *state, *why = NULL;
    int rc;
    if ((rc = proto_get_id(msg, "cause", true, &cause)) ||
        (rc = proto_get_id(msg, "serverName", false, &out->server_name)) ||
        (rc = proto_get_id(msg, "interactionId", true, &out->interaction_id)) ||
        (rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "media", true, &out->media)) ||
        (rc = proto_get_id(msg, "queue", true, &out->queue)) ||
        (rc = proto_get_id(msg, "fromQueue", false, &out->from_queue)) ||
        (rc = proto_get_id(msg, "agentId", false, &out->agent_id)) ||
        (rc = proto_get_id(msg, "state", true, &state)) ||
        (rc = proto_get_int(msg, "priority", true, 0, 1000, &out->priority)) ||
        (rc = proto_get_int(msg, "submittedAt", true, 0, INT64_MAX, &out->submitted_at)) ||
        (rc = proto_get_int(msg, "queuedAt", true, 0, INT64_MAX, &out->queued_at)) ||
        (rc = proto_get_int(msg, "at", true, 0, INT64_MAX, &out->at)))
        return rc;
    int c = -1;
    for (size_t i = 0; i < NCAUSES; i++)
        if (strcmp(causes[i].name, cause) == 0)
            c = (int)i;
    if (c < 0)
        return invalid(msg, "cause is not a known cause");
    out->cause = (enum proto_ixr_cause)c;
    if (!cc_media_name_valid(out->media, strlen(out->media)))
        return invalid(msg, "media is not a valid media name");
    int st = cc_ixn_state_parse(state);
    if (st < 0)
        return invalid(msg, "state is not an interaction state");
    if (causes[c].state >= 0 ? st != causes[c].state : st == CC_IXN_ENDED)
        return invalid(msg, "state is not the one its cause leads to");
    out->state = (enum cc_ixn_state)st;
    const char *key = reason_key(out->cause);
    if (!key)
        return 0;
    if ((rc = proto_get_id(msg, key, true, &why)))
        return rc;
    int r = lookup(reasons, NREASONS, why);
    bool ok = out->cause == PROTO_IXR_REVOKED
                  ? r == PROTO_IXR_REASON_TIMEOUT || r == PROTO_IXR_REASON_LOGGED_OUT
                  : r == PROTO_IXR_REASON_DONE || r == PROTO_IXR_REASON_STOPPED;
    if (!ok) {
        snprintf(msg->desc, sizeof msg->desc, "%s is not a %s of cause %s", key, key, cause);
        return CC_E_INVALID_ATTRIBUTE;
    }
    out->reason = (enum proto_ixr_reason)r;
    return 0;
}

void proto_ixr_enc_snapshot_done(cc_buf *b, const proto_ixr_snapshot_done *d)
{
    jw_open_message(b, DONE);
    if (d->server_name)
        jw_kv_str(b, "serverName", d->server_name);
    jw_kv_int(b, "count", d->count);
}

int proto_ixr_decode_snapshot_done(proto_msg *msg, proto_ixr_snapshot_done *out)
{
    memset(out, 0, sizeof *out);
    if (!msg->name || strcmp(msg->name, DONE) != 0)
        return CC_E_NOT_FOUND;
    int rc;
    if ((rc = proto_get_id(msg, "serverName", false, &out->server_name)) ||
        (rc = proto_get_int(msg, "count", true, 0, INT64_MAX, &out->count)))
        return rc;
    return 0;
}

#include "proto/ixnmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/media.h"
#include "proto/jw.h"

static int invalid(proto_msg *msg, const char *what)
{
    snprintf(msg->desc, sizeof msg->desc, "%s", what);
    return CC_E_INVALID_ATTRIBUTE;
}

/* Appends the compact text of a JSON value (nothing for NULL). */
static void dump_text(json_t *v, cc_buf *out)
{
    if (!v)
        return;
    char *text = json_dumps(v, JSON_COMPACT);
    if (text) {
        cc_buf_puts(out, text);
        free(text);
    }
}

void proto_ixn_enc_invite(cc_buf *b, const proto_ixn_invite *inv)
{
    jw_open_message(b, "EventInvite");
    jw_kv_str(b, "interactionId", inv->interaction_id);
    if (inv->tenant)
        jw_kv_str(b, "tenant", inv->tenant);
    jw_kv_str(b, "media", inv->media);
    jw_kv_str(b, "queue", inv->queue);
    if (inv->user_data) {
        jw_key(b, "userData");
        cc_buf_puts(b, inv->user_data);
    }
    if (inv->timeout_sec >= 0)
        jw_kv_int(b, "timeoutSec", inv->timeout_sec);
}

int proto_ixn_decode_invite(proto_msg *msg, proto_ixn_invite *out)
{
    memset(out, 0, sizeof *out);
    out->timeout_sec = -1;
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &out->interaction_id)) ||
        (rc = proto_get_id(msg, "tenant", false, &out->tenant)) ||
        (rc = proto_get_id(msg, "media", true, &out->media)) ||
        (rc = proto_get_id(msg, "queue", true, &out->queue)) ||
        (rc = proto_get_object(msg, "userData", false, &out->user_data_obj)) ||
        (rc = proto_get_int(msg, "timeoutSec", false, 0, INT32_MAX, &out->timeout_sec)))
        return rc;
    if (!cc_media_name_valid(out->media, strlen(out->media)))
        return invalid(msg, "media is not a valid media name");
    return 0;
}

void proto_ixn_user_data_text(const proto_ixn_invite *inv, cc_buf *out)
{
    dump_text(inv->user_data_obj, out);
}

void proto_ixn_enc_user_data(cc_buf *b, const proto_ixn_ud_field *f, size_t n)
{
    cc_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            cc_buf_putc(b, ',');
        /* Keys come from the program, but they are escaped all the same. */
        jw_str(b, f[i].key);
        cc_buf_putc(b, ':');
        if (f[i].str)
            jw_str(b, f[i].str);
        else
            cc_buf_printf(b, "%lld", (long long)f[i].num);
    }
    cc_buf_putc(b, '}');
}

int proto_ixn_user_data_int(const json_t *obj, const char *key, int64_t *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!json_is_integer(v))
        return CC_E_NOT_FOUND;
    *out = json_integer_value(v);
    return 0;
}

static const char *const event_names[] = {
#define PROTO_IXN_EVENT_NAME(sym, name) name,
    PROTO_IXN_EVENT_MAP(PROTO_IXN_EVENT_NAME)
#undef PROTO_IXN_EVENT_NAME
};

int proto_ixn_event_kind(const char *name)
{
    for (size_t i = 0; i < sizeof event_names / sizeof event_names[0]; i++)
        if (strcmp(name, event_names[i]) == 0)
            return (int)i;
    return -1;
}

void proto_ixn_enc_event(cc_buf *b, const proto_ixn_event *ev)
{
    jw_open_message(b, event_names[ev->kind]);
    jw_kv_str(b, "interactionId", ev->interaction_id);
    if (ev->reason)
        jw_kv_str(b, "reason", ev->reason);
}

int proto_ixn_decode_event(proto_msg *msg, proto_ixn_event *out)
{
    memset(out, 0, sizeof *out);
    int kind = msg->name ? proto_ixn_event_kind(msg->name) : -1;
    if (kind < 0)
        return CC_E_NOT_FOUND;
    out->kind = (enum proto_ixn_event_kind)kind;
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &out->interaction_id)) ||
        (rc = proto_get_str(msg, "reason", false, PROTO_TEXT_MAX, &out->reason)))
        return rc;
    return 0;
}

static const char *const req_names[] = {
#define PROTO_IXN_REQ_NAME(sym, name) name,
    PROTO_IXN_REQ_MAP(PROTO_IXN_REQ_NAME)
#undef PROTO_IXN_REQ_NAME
};

int proto_ixn_req_kind(const char *name)
{
    for (size_t i = 0; i < sizeof req_names / sizeof req_names[0]; i++)
        if (strcmp(name, req_names[i]) == 0)
            return (int)i;
    return -1;
}

static bool has_reason(enum proto_ixn_req_kind kind)
{
    return kind == PROTO_IXN_REQ_REJECT || kind == PROTO_IXN_REQ_STOP;
}

void proto_ixn_enc_req(cc_buf *b, const proto_ixn_req *r)
{
    jw_open_message(b, req_names[r->kind]);
    jw_kv_str(b, "interactionId", r->interaction_id);
    if (has_reason(r->kind) && r->reason)
        jw_kv_str(b, "reason", r->reason);
    if (r->kind == PROTO_IXN_REQ_PLACE)
        jw_kv_str(b, "queue", r->queue);
}

int proto_ixn_decode_req(proto_msg *msg, enum proto_ixn_req_kind kind, proto_ixn_req *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &out->interaction_id)))
        return rc;
    if (has_reason(kind) &&
        (rc = proto_get_str(msg, "reason", false, PROTO_TEXT_MAX, &out->reason)))
        return rc;
    if (kind == PROTO_IXN_REQ_PLACE && (rc = proto_get_id(msg, "queue", true, &out->queue)))
        return rc;
    return 0;
}

void proto_ixn_enc_submit(cc_buf *b, const proto_ixn_submit *s)
{
    jw_open_message(b, "RequestSubmit");
    jw_kv_str(b, "tenant", s->tenant);
    jw_kv_str(b, "media", s->media);
    jw_kv_str(b, "queue", s->queue);
    if (s->external_id)
        jw_kv_str(b, "externalId", s->external_id);
    if (s->has_priority)
        jw_kv_int(b, "priority", s->priority);
    if (s->user_data) {
        jw_key(b, "userData");
        cc_buf_puts(b, s->user_data);
    }
}

int proto_ixn_decode_submit(proto_msg *msg, proto_ixn_submit *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_str(msg, "media", true, PROTO_ID_MAX, &out->media)) ||
        (rc = proto_get_id(msg, "queue", true, &out->queue)) ||
        (rc = proto_get_object(msg, "userData", false, &out->user_data_obj)) ||
        (rc = proto_get_id(msg, "externalId", false, &out->external_id)) ||
        (rc = proto_get_int(msg, "priority", false, PROTO_PRIORITY_MIN, PROTO_PRIORITY_MAX,
                            &out->priority)))
        return rc;
    out->has_priority = json_object_get(msg->root, "priority") != NULL;
    return 0;
}

void proto_ixn_submit_user_data_text(const proto_ixn_submit *s, cc_buf *out)
{
    dump_text(s->user_data_obj, out);
}

void proto_ixn_enc_submitted(cc_buf *ack, const proto_ixn_submitted *s)
{
    jw_kv_str(ack, "interactionId", s->interaction_id);
    if (s->duplicate)
        jw_kv_bool(ack, "duplicate", true);
}

int proto_ixn_decode_submitted(proto_msg *msg, proto_ixn_submitted *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &out->interaction_id)) ||
        (rc = proto_get_flag(msg, "duplicate", false, &out->duplicate)))
        return rc;
    return 0;
}

void proto_ixn_enc_stopped(cc_buf *ack, int64_t after_work_sec)
{
    jw_kv_int(ack, "afterWorkSec", after_work_sec);
}

int proto_ixn_decode_stopped(proto_msg *msg, int64_t *after_work_sec)
{
    *after_work_sec = 0;
    int64_t v = 0;
    int rc = proto_get_int(msg, "afterWorkSec", false, 0, INT32_MAX, &v);
    if (rc == 0)
        *after_work_sec = v;
    return rc;
}

void proto_ixn_enc_queue_status(cc_buf *b)
{
    jw_open_message(b, "RequestQueueStatus");
}

void proto_ixn_enc_queues_begin(cc_buf *ack)
{
    jw_key(ack, "queues");
    cc_buf_putc(ack, '[');
}

void proto_ixn_enc_queue_row(cc_buf *ack, const proto_ixn_queue_row *row)
{
    if (ack->len > 0 && ack->data[ack->len - 1] == '}')
        cc_buf_putc(ack, ',');
    cc_buf_puts(ack, "{\"tenant\":");
    jw_str(ack, row->tenant);
    jw_kv_str(ack, "queue", row->queue);
    jw_kv_str(ack, "media", row->media);
    jw_kv_int(ack, "waiting", row->waiting);
    jw_kv_int(ack, "invited", row->invited);
    jw_kv_int(ack, "handling", row->handling);
    if (row->after_work >= 0)
        jw_kv_int(ack, "afterWork", row->after_work);
    if (row->oldest_ms >= 0)
        jw_kv_int(ack, "oldestWaitMs", row->oldest_ms);
    cc_buf_putc(ack, '}');
}

void proto_ixn_enc_queues_end(cc_buf *ack)
{
    cc_buf_putc(ack, ']');
}

int proto_ixn_decode_queues(proto_msg *msg, size_t *count)
{
    *count = 0;
    json_t *arr = json_object_get(msg->root, "queues");
    if (!json_is_array(arr))
        return invalid(msg, "queues is not an array");
    *count = json_array_size(arr);
    return 0;
}

int proto_ixn_decode_queue_row(proto_msg *msg, size_t i, proto_ixn_queue_row *out)
{
    memset(out, 0, sizeof *out);
    out->after_work = -1;
    out->oldest_ms = -1;
    json_t *row = json_array_get(json_object_get(msg->root, "queues"), i);
    if (!json_is_object(row)) {
        snprintf(msg->desc, sizeof msg->desc, "queues[%zu] is not an object", i);
        return CC_E_INVALID_ATTRIBUTE;
    }
    /* The typed getters read the row as if it were the message, so a row's fields obey
     * the same rules and produce the same descriptions as top-level ones. */
    json_t *root = msg->root;
    msg->root = row;
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "queue", true, &out->queue)) ||
        (rc = proto_get_id(msg, "media", true, &out->media)) ||
        (rc = proto_get_int(msg, "waiting", true, 0, INT64_MAX, &out->waiting)) ||
        (rc = proto_get_int(msg, "invited", true, 0, INT64_MAX, &out->invited)) ||
        (rc = proto_get_int(msg, "handling", true, 0, INT64_MAX, &out->handling)) ||
        (rc = proto_get_int(msg, "afterWork", false, 0, INT64_MAX, &out->after_work)) ||
        (rc = proto_get_int(msg, "oldestWaitMs", false, 0, INT64_MAX, &out->oldest_ms))) {
        char field[sizeof msg->desc];
        memcpy(field, msg->desc, sizeof field);
        snprintf(msg->desc, sizeof msg->desc, "queues[%zu]: %.150s", i, field);
    }
    msg->root = root;
    return rc;
}

void proto_ixn_enc_explain_req(cc_buf *b, const proto_ixn_explain_req *r)
{
    jw_open_message(b, "RequestExplainRouting");
    jw_kv_str(b, "interactionId", r->interaction_id);
}

int proto_ixn_decode_explain_req(proto_msg *msg, proto_ixn_explain_req *out)
{
    memset(out, 0, sizeof *out);
    return proto_get_id(msg, "interactionId", true, &out->interaction_id);
}

static const char *const why_names[] = {
#define PROTO_EXPLAIN_WHY_NAME(sym, name) name,
    PROTO_EXPLAIN_WHY_MAP(PROTO_EXPLAIN_WHY_NAME)
#undef PROTO_EXPLAIN_WHY_NAME
};

#define WHY_COUNT (sizeof why_names / sizeof why_names[0])

const char *proto_explain_why_name(int why)
{
    return why >= 0 && (size_t)why < WHY_COUNT ? why_names[why] : "Unknown";
}

int proto_explain_why_parse(const char *name)
{
    for (size_t i = 0; i < WHY_COUNT; i++)
        if (strcmp(name, why_names[i]) == 0)
            return (int)i;
    return -1;
}

void proto_ixn_enc_explain(cc_buf *ack, const proto_ixn_explain *e)
{
    jw_kv_str(ack, "interactionId", e->interaction_id);
    jw_kv_str(ack, "tenant", e->tenant);
    jw_kv_str(ack, "media", e->media);
    jw_kv_str(ack, "queue", e->queue);
    jw_kv_str(ack, "state", cc_ixn_state_name(e->state));
    jw_kv_int(ack, "priority", e->priority);
    jw_kv_int(ack, "effectivePriority", e->effective_priority);
    jw_kv_int(ack, "waitedSec", e->waited_sec);
    jw_kv_int(ack, "step", e->step);
    jw_kv_int(ack, "steps", e->steps);
    jw_kv_str(ack, "expression", e->expression);
    if (e->next_step_sec >= 0)
        jw_kv_int(ack, "nextStepSec", e->next_step_sec);
    jw_kv_int(ack, "matching", e->matching);
    if (e->agent_id)
        jw_kv_str(ack, "agentId", e->agent_id);
    jw_key(ack, "agents");
    cc_buf_putc(ack, '[');
    for (size_t i = 0; i < e->nagents; i++) {
        if (i)
            cc_buf_putc(ack, ',');
        cc_buf_puts(ack, "{\"agentId\":");
        jw_str(ack, e->agents[i].agent_id);
        jw_kv_str(ack, "why", proto_explain_why_name(e->agents[i].why));
        cc_buf_putc(ack, '}');
    }
    cc_buf_putc(ack, ']');
}

/* Entry i of the "agents" array arr of an explain answer. */
static int decode_explain_agent(proto_msg *msg, json_t *arr, size_t i, proto_explain_agent *out)
{
    json_t *entry = json_array_get(arr, i);
    if (!json_is_object(entry)) {
        snprintf(msg->desc, sizeof msg->desc, "agents[%zu] is not an object", i);
        return CC_E_INVALID_ATTRIBUTE;
    }
    /* As for the queue rows: the getters read the entry as if it were the message. */
    json_t *root = msg->root;
    msg->root = entry;
    const char *why = NULL;
    int rc = proto_get_id(msg, "agentId", true, &out->agent_id);
    if (rc == 0)
        rc = proto_get_str(msg, "why", true, PROTO_ID_MAX, &why);
    int w = rc == 0 ? proto_explain_why_parse(why) : 0;
    if (w < 0)
        rc = invalid(msg, "why is not a known reason");
    out->why = (enum proto_explain_why)(w < 0 ? 0 : w);
    msg->root = root;
    if (rc) {
        char field[sizeof msg->desc];
        memcpy(field, msg->desc, sizeof field);
        snprintf(msg->desc, sizeof msg->desc, "agents[%zu]: %.150s", i, field);
    }
    return rc;
}

int proto_ixn_decode_explain(proto_msg *msg, proto_ixn_explain *out)
{
    memset(out, 0, sizeof *out);
    out->next_step_sec = -1;
    const char *state;
    int rc;
    if ((rc = proto_get_id(msg, "interactionId", true, &out->interaction_id)) ||
        (rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "media", true, &out->media)) ||
        (rc = proto_get_id(msg, "queue", true, &out->queue)) ||
        (rc = proto_get_str(msg, "state", true, PROTO_ID_MAX, &state)) ||
        (rc = proto_get_int(msg, "priority", true, PROTO_PRIORITY_MIN, PROTO_PRIORITY_MAX,
                            &out->priority)) ||
        (rc = proto_get_int(msg, "effectivePriority", true, 0, INT64_MAX,
                            &out->effective_priority)) ||
        (rc = proto_get_int(msg, "waitedSec", true, 0, INT64_MAX, &out->waited_sec)) ||
        (rc = proto_get_int(msg, "step", true, 1, PROTO_EXPLAIN_STEPS_MAX, &out->step)) ||
        (rc = proto_get_int(msg, "steps", true, 1, PROTO_EXPLAIN_STEPS_MAX, &out->steps)) ||
        (rc = proto_get_str(msg, "expression", true, PROTO_EXPLAIN_EXPRESSION_MAX,
                            &out->expression)) ||
        (rc = proto_get_int(msg, "nextStepSec", false, 0, INT64_MAX, &out->next_step_sec)) ||
        (rc = proto_get_int(msg, "matching", true, 0, INT64_MAX, &out->matching)) ||
        (rc = proto_get_id(msg, "agentId", false, &out->agent_id)))
        return rc;
    if (!cc_media_name_valid(out->media, strlen(out->media)))
        return invalid(msg, "media is not a valid media name");
    int st = cc_ixn_state_parse(state);
    if (st < 0)
        return invalid(msg, "state is not an interaction state");
    out->state = (enum cc_ixn_state)st;
    if (out->step > out->steps)
        return invalid(msg, "step is beyond steps");
    json_t *agents = json_object_get(msg->root, "agents");
    if (!agents || json_is_null(agents))
        return 0;
    if (!json_is_array(agents))
        return invalid(msg, "agents must be an array");
    if (json_array_size(agents) > PROTO_EXPLAIN_AGENTS_MAX) {
        snprintf(msg->desc, sizeof msg->desc, "agents has more than %d entries",
                 PROTO_EXPLAIN_AGENTS_MAX);
        return CC_E_INVALID_ATTRIBUTE;
    }
    for (size_t i = 0; i < json_array_size(agents); i++) {
        if ((rc = decode_explain_agent(msg, agents, i, &out->agents[i]))) {
            out->nagents = 0;
            return rc;
        }
        out->nagents = i + 1;
    }
    return 0;
}

#include "proto/supmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/media.h"
#include "proto/jw.h"

static const char *const request_names[] = {
#define PROTO_SUP_REQ_NAME(sym, req, name) req,
    PROTO_SUP_ACTION_MAP(PROTO_SUP_REQ_NAME)
#undef PROTO_SUP_REQ_NAME
};

static const char *const action_names[] = {
#define PROTO_SUP_ACTION_NAME(sym, req, name) name,
    PROTO_SUP_ACTION_MAP(PROTO_SUP_ACTION_NAME)
#undef PROTO_SUP_ACTION_NAME
};

int proto_sup_request_action(const char *name)
{
    for (int i = 0; i < PROTO_SUP_ACTION_COUNT; i++)
        if (strcmp(name, request_names[i]) == 0)
            return i;
    return -1;
}

const char *proto_sup_action_name(int action)
{
    return action >= 0 && action < PROTO_SUP_ACTION_COUNT ? action_names[action] : NULL;
}

int proto_sup_action_of_name(const char *name)
{
    for (int i = 0; i < PROTO_SUP_ACTION_COUNT; i++)
        if (strcmp(name, action_names[i]) == 0)
            return i;
    return -1;
}

static bool takes_agent(enum proto_sup_action a)
{
    return a != PROTO_SUP_REVOKE;
}

static bool takes_interaction(enum proto_sup_action a)
{
    return a == PROTO_SUP_REVOKE || a == PROTO_SUP_REASSIGN;
}

static void enc_reason(cc_buf *b, enum proto_sup_action a, const proto_sup_reason *r)
{
    if (!r->present)
        return;
    if (a == PROTO_SUP_FORCE_NOT_READY) {
        jw_key(b, "reason");
        cc_buf_printf(b, "{\"code\":%" PRId64, r->code);
        if (r->text)
            jw_kv_str(b, "description", r->text);
        cc_buf_putc(b, '}');
    } else if (r->text) {
        jw_kv_str(b, "reason", r->text);
    }
}

/* The reason of action a: an object for ForceNotReady, text for the others. */
static int dec_reason(proto_msg *msg, enum proto_sup_action a, proto_sup_reason *r)
{
    memset(r, 0, sizeof *r);
    if (a == PROTO_SUP_FORCE_NOT_READY)
        return proto_get_reason(msg, "reason", &r->present, &r->code, &r->text);
    int rc = proto_get_str(msg, "reason", false, PROTO_TEXT_MAX, &r->text);
    r->present = r->text != NULL;
    return rc;
}

static int dec_media(proto_msg *msg, const char **out)
{
    int rc = proto_get_str(msg, "media", true, PROTO_ID_MAX, out);
    if (rc)
        return rc;
    if (!cc_media_name_valid(*out, strlen(*out))) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "media must match [a-z][a-z0-9_-]{0,31}");
        return CC_E_INVALID_ATTRIBUTE;
    }
    return 0;
}

void proto_sup_enc_request(cc_buf *b, const proto_sup_request *r)
{
    jw_open_message(b, request_names[r->action]);
    if (r->tenant)
        jw_kv_str(b, "tenant", r->tenant);
    if (takes_agent(r->action))
        jw_kv_str(b, "agentId", r->agent_id);
    if (r->action == PROTO_SUP_FORCE_NOT_READY)
        jw_kv_str(b, "media", r->media);
    if (takes_interaction(r->action))
        jw_kv_str(b, "interactionId", r->interaction_id);
    enc_reason(b, r->action, &r->reason);
}

int proto_sup_decode_request(proto_msg *msg, proto_sup_request *out)
{
    memset(out, 0, sizeof *out);
    int action = msg->name ? proto_sup_request_action(msg->name) : -1;
    if (action < 0)
        return CC_E_NOT_FOUND;
    enum proto_sup_action a = (enum proto_sup_action)action;
    out->action = a;
    int rc;
    if ((takes_interaction(a) &&
         (rc = proto_get_id(msg, "interactionId", true, &out->interaction_id))) ||
        (takes_agent(a) && (rc = proto_get_id(msg, "agentId", true, &out->agent_id))) ||
        (rc = proto_get_id(msg, "tenant", false, &out->tenant)) ||
        (a == PROTO_SUP_FORCE_NOT_READY && (rc = dec_media(msg, &out->media))) ||
        (rc = dec_reason(msg, a, &out->reason)))
        return rc;
    return 0;
}

void proto_sup_enc_event(cc_buf *b, const proto_sup_event *e)
{
    jw_open_message(b, "EventSupervisorAction");
    jw_kv_str(b, "action", action_names[e->action]);
    jw_kv_str(b, "supervisor", e->supervisor);
    jw_kv_str(b, "tenant", e->tenant);
    jw_kv_str(b, "agentId", e->agent_id);
    if (e->action == PROTO_SUP_FORCE_NOT_READY)
        jw_kv_str(b, "media", e->media);
    if (takes_interaction(e->action))
        jw_kv_str(b, "interactionId", e->interaction_id);
    enc_reason(b, e->action, &e->reason);
}

int proto_sup_decode_event(proto_msg *msg, proto_sup_event *out)
{
    memset(out, 0, sizeof *out);
    if (!msg->name || strcmp(msg->name, "EventSupervisorAction") != 0)
        return CC_E_NOT_FOUND;
    const char *name;
    int rc = proto_get_str(msg, "action", true, PROTO_ID_MAX, &name);
    if (rc)
        return rc;
    int action = proto_sup_action_of_name(name);
    if (action < 0) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "action is not a supervisor action");
        return CC_E_INVALID_ATTRIBUTE;
    }
    enum proto_sup_action a = (enum proto_sup_action)action;
    out->action = a;
    if ((rc = proto_get_id(msg, "supervisor", true, &out->supervisor)) ||
        (rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, &out->agent_id)) ||
        (a == PROTO_SUP_FORCE_NOT_READY && (rc = dec_media(msg, &out->media))) ||
        (takes_interaction(a) &&
         (rc = proto_get_id(msg, "interactionId", true, &out->interaction_id))) ||
        (rc = dec_reason(msg, a, &out->reason)))
        return rc;
    return 0;
}

void proto_sup_enc_query(cc_buf *b, const proto_sup_query *q)
{
    jw_open_message(b, "RequestAgentInteractions");
    if (q->tenant)
        jw_kv_str(b, "tenant", q->tenant);
    jw_kv_str(b, "agentId", q->agent_id);
}

int proto_sup_decode_query(proto_msg *msg, proto_sup_query *out)
{
    memset(out, 0, sizeof *out);
    if (!msg->name || strcmp(msg->name, "RequestAgentInteractions") != 0)
        return CC_E_NOT_FOUND;
    int rc;
    if ((rc = proto_get_id(msg, "agentId", true, &out->agent_id)) ||
        (rc = proto_get_id(msg, "tenant", false, &out->tenant)))
        return rc;
    return 0;
}

void proto_sup_enc_held_begin(cc_buf *ack, const char *tenant, const char *agent_id)
{
    jw_kv_str(ack, "tenant", tenant);
    jw_kv_str(ack, "agentId", agent_id);
    jw_key(ack, "interactions");
    cc_buf_putc(ack, '[');
}

void proto_sup_enc_held_row(cc_buf *ack, bool first, const proto_sup_held *h)
{
    if (!first)
        cc_buf_putc(ack, ',');
    cc_buf_puts(ack, "{\"interactionId\":");
    jw_str(ack, h->interaction_id);
    jw_kv_str(ack, "media", h->media);
    jw_kv_str(ack, "queue", h->queue);
    jw_kv_str(ack, "state", h->state);
    cc_buf_putc(ack, '}');
}

void proto_sup_enc_held_end(cc_buf *ack)
{
    cc_buf_putc(ack, ']');
}

/* A string member of a row: an identifier of the protocol. */
static const char *row_id(json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    if (!json_is_string(v))
        return NULL;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > PROTO_ID_MAX || strlen(s) != n)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return NULL;
    return s;
}

int proto_sup_decode_held(proto_msg *msg, const char **tenant, const char **agent_id,
                          proto_sup_held *rows, size_t cap, size_t *n)
{
    *n = 0;
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, agent_id)))
        return rc;
    json_t *list = json_object_get(msg->root, "interactions");
    if (!json_is_array(list) || json_array_size(list) > PROTO_SUP_HELD_MAX) {
        snprintf(msg->desc, sizeof msg->desc, "interactions must be an array of at most %d",
                 PROTO_SUP_HELD_MAX);
        return CC_E_INVALID_ATTRIBUTE;
    }
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row)
    {
        proto_sup_held h = {row_id(row, "interactionId"), row_id(row, "media"),
                            row_id(row, "queue"), row_id(row, "state")};
        if (!h.interaction_id || !h.media || !cc_media_name_valid(h.media, strlen(h.media)) ||
            !h.queue || !h.state ||
            (strcmp(h.state, "Invited") != 0 && strcmp(h.state, "Handling") != 0 &&
             strcmp(h.state, "AfterWork") != 0)) {
            snprintf(msg->desc, sizeof msg->desc, "interactions[%zu] is not a held interaction", i);
            return CC_E_INVALID_ATTRIBUTE;
        }
        if (*n < cap)
            rows[(*n)++] = h;
    }
    return 0;
}

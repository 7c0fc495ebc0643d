#include "proto/agentreq.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "proto/jw.h"

void proto_areq_enc_login(cc_buf *b, const proto_areq_login *l)
{
    jw_open_message(b, "RequestAgentLogin");
    jw_kv_str(b, "tenant", l->tenant);
    jw_kv_str(b, "agentId", l->agent_id);
    jw_kv_str(b, "placeId", l->place_id);
    jw_kv_str(b, "password", l->password);
    jw_key(b, "mediaList");
    cc_buf_putc(b, '{');
    for (int i = 0; i < l->nmedia; i++) {
        if (i)
            cc_buf_putc(b, ',');
        jw_str(b, l->media[i].name);
        cc_buf_puts(b, l->media[i].ready ? ":1" : ":0");
    }
    cc_buf_putc(b, '}');
}

int proto_areq_decode_login(proto_msg *msg, proto_areq_login *out)
{
    memset(out, 0, sizeof *out);
    json_t *ml;
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, &out->agent_id)) ||
        (rc = proto_get_id(msg, "placeId", true, &out->place_id)) ||
        (rc = proto_get_str(msg, "password", true, PROTO_TEXT_MAX, &out->password)) ||
        (rc = proto_get_object(msg, "mediaList", true, &ml)))
        return rc;
    const char *name;
    json_t *v;
    json_object_foreach(ml, name, v)
    {
        if (!cc_media_name_valid(name, strlen(name))) {
            snprintf(msg->desc, sizeof msg->desc, "%s", "mediaList has an invalid media name");
            return CC_E_INVALID_ATTRIBUTE;
        }
        if (!json_is_boolean(v) &&
            !(json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))) {
            snprintf(msg->desc, sizeof msg->desc, "mediaList.%s must be 0 or 1", name);
            return CC_E_INVALID_ATTRIBUTE;
        }
        if (out->nmedia == CC_MEDIA_MAX) {
            snprintf(msg->desc, sizeof msg->desc, "mediaList has more than %d media", CC_MEDIA_MAX);
            return CC_E_INVALID_ATTRIBUTE;
        }
        out->media[out->nmedia++] = (proto_areq_media){
            .name = name, .ready = json_is_true(v) || json_integer_value(v) == 1};
    }
    return 0;
}

void proto_areq_enc_login_ack(cc_buf *ack, const proto_skills *skills)
{
    proto_enc_skills(ack, skills);
}

int proto_areq_decode_login_ack(proto_msg *msg, proto_skills *skills)
{
    return proto_decode_skills(msg, skills);
}

static const struct {
    const char *name;
    bool media;
} kinds[] = {
#define PROTO_AREQ_ROW(sym, name, media) {name, media},
    PROTO_AREQ_MAP(PROTO_AREQ_ROW)
#undef PROTO_AREQ_ROW
};

int proto_areq_kind(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, kinds[i].name) == 0)
            return (int)i;
    return -1;
}

const char *proto_areq_name(enum proto_areq_kind kind)
{
    return kinds[kind].name;
}

static bool has_reason(enum proto_areq_kind kind)
{
    return kind == PROTO_AREQ_NOT_READY || kind == PROTO_AREQ_CHANGE_REASON;
}

void proto_areq_enc(cc_buf *b, const proto_areq *r)
{
    jw_open_message(b, kinds[r->kind].name);
    if (kinds[r->kind].media)
        jw_kv_str(b, "media", r->media);
    if (r->kind == PROTO_AREQ_ADD_MEDIA)
        jw_kv_int(b, "ready", r->ready ? 1 : 0);
    if (has_reason(r->kind) && r->reason.present) {
        jw_key(b, "reason");
        cc_buf_printf(b, "{\"code\":%" PRId64, r->reason.code);
        if (r->reason.description)
            jw_kv_str(b, "description", r->reason.description);
        cc_buf_putc(b, '}');
    }
    if (r->agent_id)
        jw_kv_str(b, "agentId", r->agent_id);
    if (r->tenant)
        jw_kv_str(b, "tenant", r->tenant);
}

int proto_areq_decode(proto_msg *msg, enum proto_areq_kind kind, proto_areq *out)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    int rc;
    if (kinds[kind].media) {
        if ((rc = proto_get_str(msg, "media", true, PROTO_ID_MAX, &out->media)))
            return rc;
        if (!cc_media_name_valid(out->media, strlen(out->media))) {
            snprintf(msg->desc, sizeof msg->desc, "%s", "media must match [a-z][a-z0-9_-]{0,31}");
            return CC_E_INVALID_ATTRIBUTE;
        }
    }
    if (kind == PROTO_AREQ_ADD_MEDIA && (rc = proto_get_flag(msg, "ready", false, &out->ready)))
        return rc;
    if (has_reason(kind)) {
        proto_reason *r = &out->reason;
        if ((rc = proto_get_reason(msg, "reason", &r->present, &r->code, &r->description)))
            return rc;
        /* Unlike RequestNotReadyForMedia, the protocol lists reason as required here. */
        if (kind == PROTO_AREQ_CHANGE_REASON && !r->present) {
            snprintf(msg->desc, sizeof msg->desc, "%s", "reason is missing");
            return CC_E_INVALID_ATTRIBUTE;
        }
    }
    if ((rc = proto_get_id(msg, "agentId", false, &out->agent_id)) ||
        (rc = proto_get_id(msg, "tenant", false, &out->tenant)))
        return rc;
    return 0;
}

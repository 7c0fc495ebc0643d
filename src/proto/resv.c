#include "proto/resv.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "proto/jw.h"

void proto_enc_reserve(cc_buf *b, const proto_reserve *r)
{
    jw_open_message(b, "EventReserveAgent");
    jw_kv_int(b, "reservationId", r->reservation_id);
    jw_kv_str(b, "tenant", r->tenant);
    jw_kv_str(b, "agentId", r->agent_id);
    jw_kv_str(b, "media", r->media);
    jw_kv_int(b, "version", r->version);
}

int proto_decode_reserve(proto_msg *msg, proto_reserve *out)
{
    memset(out, 0, sizeof *out);
    int64_t id = 0;
    int rc = proto_get_int(msg, "reservationId", true, 1, INT64_MAX, &id);
    if (rc)
        return rc;
    out->reservation_id = id;
    if ((rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, &out->agent_id)) ||
        (rc = proto_get_str(msg, "media", true, PROTO_ID_MAX, &out->media)) ||
        (rc = proto_get_int(msg, "version", true, 0, INT64_MAX, &out->version)))
        return rc;
    if (!cc_media_name_valid(out->media, strlen(out->media))) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "media must match [a-z][a-z0-9_-]{0,31}");
        return CC_E_INVALID_ATTRIBUTE;
    }
    return 0;
}

void proto_enc_reserved(cc_buf *b, const proto_reserved *r)
{
    jw_open_message(b, "EventAgentReserved");
    jw_kv_int(b, "reservationId", r->reservation_id);
    jw_kv_bool(b, "granted", r->granted);
}

int proto_decode_reserved(proto_msg *msg, proto_reserved *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_int(msg, "reservationId", true, 1, INT64_MAX, &out->reservation_id)))
        return rc;
    json_t *g = json_object_get(msg->root, "granted");
    if (!json_is_boolean(g)) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "granted must be true or false");
        return CC_E_INVALID_ATTRIBUTE;
    }
    out->granted = json_is_true(g);
    return 0;
}

void proto_enc_released(cc_buf *b, int64_t reservation_id)
{
    jw_open_message(b, "EventReservationReleased");
    jw_kv_int(b, "reservationId", reservation_id);
}

int proto_decode_released(proto_msg *msg, int64_t *reservation_id)
{
    *reservation_id = 0;
    return proto_get_int(msg, "reservationId", true, 1, INT64_MAX, reservation_id);
}

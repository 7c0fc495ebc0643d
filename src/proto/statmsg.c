#include "proto/statmsg.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "proto/jw.h"

void proto_stat_enc_subscribe(cc_buf *b, const proto_stat_subscribe *s)
{
    jw_open_message(b, "RequestSubscribeAgentStatus");
    if (s->all)
        return;
    jw_key(b, "tenants");
    cc_buf_putc(b, '[');
    for (size_t i = 0; i < s->ntenants; i++) {
        if (i)
            cc_buf_putc(b, ',');
        jw_str(b, s->tenants[i]);
    }
    cc_buf_putc(b, ']');
}

int proto_stat_decode_subscribe(proto_msg *msg, proto_stat_subscribe *out)
{
    memset(out, 0, sizeof *out);
    int rc = proto_get_id_array(msg, "tenants", false, &out->list);
    if (rc)
        return rc;
    out->all = out->list == NULL;
    out->ntenants = out->list ? json_array_size(out->list) : 0;
    return 0;
}

const char *proto_stat_tenant(const proto_stat_subscribe *s, size_t i)
{
    return json_string_value(json_array_get(s->list, i));
}

void proto_stat_enc_server_list(cc_buf *b)
{
    jw_open_message(b, "RequestServerList");
}

void proto_stat_enc_servers_begin(cc_buf *ack)
{
    jw_key(ack, "servers");
    cc_buf_putc(ack, '[');
}

void proto_stat_enc_server_row(cc_buf *ack, const proto_stat_server *row)
{
    if (ack->len > 0 && ack->data[ack->len - 1] == '}')
        cc_buf_putc(ack, ',');
    cc_buf_putc(ack, '{');
    jw_kv_str(ack, "name", row->name);
    jw_kv_str(ack, "address", row->address);
    jw_kv_bool(ack, "connected", row->connected);
    jw_kv_int(ack, "agents", row->agents);
    cc_buf_putc(ack, '}');
}

void proto_stat_enc_servers_end(cc_buf *ack)
{
    cc_buf_putc(ack, ']');
}

int proto_stat_decode_servers(proto_msg *msg, size_t *count)
{
    *count = 0;
    json_t *arr = json_object_get(msg->root, "servers");
    if (!json_is_array(arr)) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "servers is not an array");
        return CC_E_INVALID_ATTRIBUTE;
    }
    *count = json_array_size(arr);
    return 0;
}

int proto_stat_decode_server_row(proto_msg *msg, size_t i, proto_stat_server *out)
{
    memset(out, 0, sizeof *out);
    json_t *row = json_array_get(json_object_get(msg->root, "servers"), i);
    if (!json_is_object(row)) {
        snprintf(msg->desc, sizeof msg->desc, "servers[%zu] is not an object", i);
        return CC_E_INVALID_ATTRIBUTE;
    }
    /* The typed getters read the row as if it were the message, so a row's fields obey
     * the same rules as top-level ones. */
    json_t *root = msg->root;
    msg->root = row;
    int rc;
    if ((rc = proto_get_str(msg, "name", true, PROTO_ID_MAX, &out->name)) ||
        (rc = proto_get_str(msg, "address", true, PROTO_TEXT_MAX, &out->address)) ||
        (rc = proto_get_flag(msg, "connected", true, &out->connected)) ||
        (rc = proto_get_int(msg, "agents", true, 0, INT64_MAX, &out->agents))) {
        char field[sizeof msg->desc];
        memcpy(field, msg->desc, sizeof field);
        snprintf(msg->desc, sizeof msg->desc, "servers[%zu]: %.150s", i, field);
    }
    msg->root = root;
    return rc;
}

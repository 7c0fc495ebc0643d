#include "proto/statmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/partition.h"
#include "proto/jw.h"

static const char SUBSCRIBE[] = "RequestSubscribeAgentStatus";
static const char REPORTING[] = "RequestStartPlaceAgentStateReportingAll";
static const char STATUS_DONE[] = "EventAgentStatusSnapshotDone";
static const char STATE_DONE[] = "EventPlaceAgentStateSnapshotDone";
static const char MODE[] = "RequestReportingMode";

void proto_stat_enc_subscribe(cc_buf *b, const proto_stat_subscribe *s)
{
    jw_open_message(b, s->reporting ? REPORTING : SUBSCRIBE);
    if (!s->all)
        jw_kv_str_array(b, "tenants", s->tenants, s->ntenants);
    if (s->reporting && s->partitioned)
        cc_buf_printf(b, ",\"partition\":{\"index\":%" PRIu32 ",\"count\":%" PRIu32 "}",
                      s->part_index, s->part_count);
}

/* "partition": {"index": I, "count": N}, nothing else inside. */
static int decode_partition(proto_msg *msg, proto_stat_subscribe *out)
{
    json_t *p;
    int rc = proto_get_object(msg, "partition", false, &p);
    if (rc || !p)
        return rc;
    json_t *index = json_object_get(p, "index"), *count = json_object_get(p, "count");
    const char *why = NULL;
    if (json_object_size(p) != 2 || !index || !count)
        why = "must hold exactly index and count";
    else if (!json_is_integer(index) || !json_is_integer(count))
        why = "index and count must be integers";
    else if (json_integer_value(count) < 1 || json_integer_value(count) > CC_PARTITION_COUNT_MAX)
        why = "count is out of range";
    else if (json_integer_value(index) < 0 ||
             json_integer_value(index) >= json_integer_value(count))
        why = "index must be below count";
    if (why) {
        snprintf(msg->desc, sizeof msg->desc, "partition %s", why);
        return CC_E_INVALID_ATTRIBUTE;
    }
    out->partitioned = true;
    out->part_index = (uint32_t)json_integer_value(index);
    out->part_count = (uint32_t)json_integer_value(count);
    return 0;
}

int proto_stat_decode_subscribe(proto_msg *msg, proto_stat_subscribe *out)
{
    memset(out, 0, sizeof *out);
    out->reporting = msg->name && strcmp(msg->name, REPORTING) == 0;
    int rc = proto_get_id_array(msg, "tenants", false, &out->list);
    if (rc)
        return rc;
    out->all = out->list == NULL;
    out->ntenants = out->list ? json_array_size(out->list) : 0;
    return out->reporting ? decode_partition(msg, out) : 0;
}

const char *proto_stat_tenant(const proto_stat_subscribe *s, size_t i)
{
    return json_string_value(json_array_get(s->list, i));
}

void proto_stat_enc_snapshot_done(cc_buf *b, const proto_stat_snapshot_done *d)
{
    jw_open_message(b, d->agent_state ? STATE_DONE : STATUS_DONE);
    if (d->server_name)
        jw_kv_str(b, "serverName", d->server_name);
    jw_kv_int(b, "count", d->count);
}

int proto_stat_decode_snapshot_done(proto_msg *msg, proto_stat_snapshot_done *out)
{
    memset(out, 0, sizeof *out);
    if (!msg->name || (strcmp(msg->name, STATE_DONE) != 0 && strcmp(msg->name, STATUS_DONE) != 0))
        return CC_E_NOT_FOUND;
    out->agent_state = strcmp(msg->name, STATE_DONE) == 0;
    int rc;
    if ((rc = proto_get_id(msg, "serverName", false, &out->server_name)) ||
        (rc = proto_get_int(msg, "count", true, 0, INT64_MAX, &out->count)))
        return rc;
    return 0;
}

void proto_stat_enc_mode(cc_buf *b, const proto_stat_mode *m)
{
    jw_open_message(b, MODE);
    jw_kv_bool(b, "primary", m->primary);
    jw_kv_int(b, "epoch", m->epoch);
}

int proto_stat_decode_mode(proto_msg *msg, proto_stat_mode *out)
{
    memset(out, 0, sizeof *out);
    if (!msg->name || strcmp(msg->name, MODE) != 0)
        return CC_E_NOT_FOUND;
    int rc;
    if ((rc = proto_get_flag(msg, "primary", true, &out->primary)) ||
        (rc = proto_get_int(msg, "epoch", true, 0, INT64_MAX, &out->epoch)))
        return rc;
    return 0;
}

void proto_stat_enc_agent_req(cc_buf *b, const proto_stat_agent_req *r)
{
    jw_open_message(b, "RequestAgentStatus");
    jw_kv_str(b, "tenant", r->tenant);
    jw_kv_str(b, "agentId", r->agent_id);
}

int proto_stat_decode_agent_req(proto_msg *msg, proto_stat_agent_req *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, &out->agent_id)))
        return rc;
    return 0;
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

void proto_stat_enc_queue_list(cc_buf *b)
{
    jw_open_message(b, "RequestQueueList");
}

void proto_stat_enc_queues_begin(cc_buf *ack)
{
    jw_key(ack, "queues");
    cc_buf_putc(ack, '[');
}

void proto_stat_enc_queue_row(cc_buf *ack, const proto_stat_queue *row)
{
    if (ack->len > 0 && ack->data[ack->len - 1] == '}')
        cc_buf_putc(ack, ',');
    cc_buf_putc(ack, '{');
    jw_kv_str(ack, "server", row->server);
    jw_kv_str(ack, "tenant", row->tenant);
    jw_kv_str(ack, "id", row->id);
    if (row->media)
        jw_kv_str(ack, "media", row->media);
    cc_buf_putc(ack, '}');
}

void proto_stat_enc_queues_end(cc_buf *ack)
{
    cc_buf_putc(ack, ']');
}

int proto_stat_decode_queues(proto_msg *msg, size_t *count)
{
    *count = 0;
    json_t *arr = json_object_get(msg->root, "queues");
    if (!json_is_array(arr)) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "queues is not an array");
        return CC_E_INVALID_ATTRIBUTE;
    }
    *count = json_array_size(arr);
    return 0;
}

int proto_stat_decode_queue_row(proto_msg *msg, size_t i, proto_stat_queue *out)
{
    memset(out, 0, sizeof *out);
    json_t *row = json_array_get(json_object_get(msg->root, "queues"), i);
    if (!json_is_object(row)) {
        snprintf(msg->desc, sizeof msg->desc, "queues[%zu] is not an object", i);
        return CC_E_INVALID_ATTRIBUTE;
    }
    /* As for the servers' rows: a row's fields obey the rules of top-level ones. */
    json_t *root = msg->root;
    msg->root = row;
    int rc;
    if ((rc = proto_get_str(msg, "server", true, PROTO_ID_MAX, &out->server)) ||
        (rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "id", true, &out->id)) ||
        (rc = proto_get_id(msg, "media", false, &out->media))) {
        char field[sizeof msg->desc];
        memcpy(field, msg->desc, sizeof field);
        snprintf(msg->desc, sizeof msg->desc, "queues[%zu]: %.150s", i, field);
    }
    msg->root = root;
    return rc;
}

void proto_stat_enc_wb_config(cc_buf *b, const proto_stat_wb_config *c)
{
    cc_buf_putc(b, '{');
    jw_kv_str(b, "serverName", c->server_name);
    cc_buf_puts(b, ",\"servers\":[");
    for (size_t i = 0; i < c->nservers; i++) {
        if (i)
            cc_buf_putc(b, ',');
        jw_str(b, c->servers[i]);
    }
    cc_buf_printf(b, "],\"serviceLevelTarget\":%u,\"serviceLevelThreshold\":%u}", c->sl_target,
                  c->sl_threshold);
}

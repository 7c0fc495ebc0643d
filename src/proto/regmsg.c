#include "proto/regmsg.h"

#include <string.h>

#include "proto/jw.h"

void proto_reg_enc_register(cc_buf *b, int64_t ref, const proto_reg_register *r)
{
    jw_open_message(b, "RequestRegisterClient");
    if (ref > 0)
        jw_kv_int(b, "referenceId", ref);
    if (r->client_name)
        jw_kv_str(b, "clientName", r->client_name);
    jw_kv_str(b, "clientType", r->client_type);
    if (r->token)
        jw_kv_str(b, "token", r->token);
}

int proto_reg_decode_register(proto_msg *msg, proto_reg_register *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_str(msg, "clientType", true, PROTO_ID_MAX, &out->client_type)) ||
        (rc = proto_get_id(msg, "clientName", false, &out->client_name)) ||
        (rc = proto_get_str(msg, "token", false, PROTO_TEXT_MAX, &out->token)))
        return rc;
    return 0;
}

void proto_reg_enc_ack(cc_buf *ack, const proto_reg_ack *a)
{
    jw_kv_int(ack, "proxyClientId", a->proxy_client_id);
    if (a->server_name)
        jw_kv_str(ack, "serverName", a->server_name);
    jw_kv_int(ack, "protocolVersion", a->protocol_version);
    jw_kv_int(ack, "idleTimeout", a->idle_timeout_s);
}

int proto_reg_decode_ack(proto_msg *msg, proto_reg_ack *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_int(msg, "proxyClientId", false, 0, INT64_MAX, &out->proxy_client_id)) ||
        (rc = proto_get_str(msg, "serverName", false, PROTO_ID_MAX, &out->server_name)) ||
        (rc = proto_get_int(msg, "protocolVersion", false, 0, INT32_MAX, &out->protocol_version)) ||
        (rc = proto_get_int(msg, "idleTimeout", false, 0, INT32_MAX, &out->idle_timeout_s)))
        return rc;
    return 0;
}

void proto_reg_enc_ping(cc_buf *b, int64_t ref)
{
    jw_open_message(b, "RequestPing");
    jw_kv_int(b, "referenceId", ref);
}

void proto_reg_enc_ping_open(cc_buf *b)
{
    jw_open_message(b, "RequestPing");
}

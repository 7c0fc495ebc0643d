#include "proto/msg.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/jw.h"

static int fail(proto_msg *msg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(proto_msg *msg, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg->desc, sizeof msg->desc, fmt, ap);
    va_end(ap);
    return err;
}

int proto_msg_parse(proto_msg *msg, const char *line, size_t len)
{
    memset(msg, 0, sizeof *msg);
    json_error_t jerr;
    /* A key given twice would leave the value we act on to the parser's choice (jansson
     * keeps the last, others keep the first), so a gateway and the server could read one
     * line differently: such a line is refused as a whole, at every depth. */
    msg->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg->root && json_error_code(&jerr) == json_error_duplicate_key)
        return fail(msg, CC_E_INVALID_MESSAGE, "%s", "not valid JSON: a key appears twice");
    if (!msg->root)
        return fail(msg, CC_E_INVALID_MESSAGE, "%s", "not valid JSON");
    if (!json_is_object(msg->root))
        return fail(msg, CC_E_INVALID_MESSAGE, "%s", "not a JSON object");
    json_t *ref = json_object_get(msg->root, "referenceId");
    if (ref) {
        msg->ref_present = true;
        if (json_is_integer(ref) && json_integer_value(ref) > 0)
            msg->ref = json_integer_value(ref);
    }
    json_t *name = json_object_get(msg->root, "message");
    if (!json_is_string(name))
        return fail(msg, CC_E_INVALID_MESSAGE, "%s", "no \"message\" string");
    msg->name = json_string_value(name);
    return 0;
}

void proto_msg_free(proto_msg *msg)
{
    if (msg->root)
        json_decref(msg->root);
    msg->root = NULL;
    msg->name = NULL;
}

bool proto_msg_is_request(const proto_msg *msg)
{
    return msg->name && strncmp(msg->name, "Request", 7) == 0;
}

int proto_msg_check_ref(proto_msg *msg)
{
    if (msg->ref > 0)
        return 0;
    return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s", "referenceId must be a positive integer");
}

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

int proto_get_str(proto_msg *msg, const char *field, bool required, size_t max, const char **out)
{
    json_t *v = json_object_get(msg->root, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s is missing", field);
        return 0;
    }
    if (!json_is_string(v))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be a string", field);
    size_t n = json_string_length(v);
    if (n > max)
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s is too long", field);
    if (strlen(json_string_value(v)) != n)
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s contains a NUL character", field);
    *out = json_string_value(v);
    return 0;
}

int proto_get_id(proto_msg *msg, const char *field, bool required, const char **out)
{
    int rc = proto_get_str(msg, field, required, PROTO_ID_MAX, out);
    if (rc || !*out)
        return rc;
    size_t n = strlen(*out);
    if (n == 0)
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must not be empty", field);
    if (has_control(*out, n))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s contains a control character", field);
    return 0;
}

int proto_get_int(proto_msg *msg, const char *field, bool required, int64_t min, int64_t max,
                  int64_t *out)
{
    json_t *v = json_object_get(msg->root, field);
    if (!v) {
        if (required)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s is missing", field);
        return 0;
    }
    if (!json_is_integer(v))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an integer", field);
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s is out of range", field);
    *out = i;
    return 0;
}

int proto_get_flag(proto_msg *msg, const char *field, bool required, bool *out)
{
    json_t *v = json_object_get(msg->root, field);
    if (!v) {
        if (required)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s is missing", field);
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = json_integer_value(v) == 1;
        return 0;
    }
    return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be 0 or 1", field);
}

int proto_get_object(proto_msg *msg, const char *field, bool required, json_t **out)
{
    json_t *v = json_object_get(msg->root, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s is missing", field);
        return 0;
    }
    if (!json_is_object(v))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an object", field);
    *out = v;
    return 0;
}

int proto_get_id_array(proto_msg *msg, const char *field, bool required, json_t **out)
{
    json_t *v = json_object_get(msg->root, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s is missing", field);
        return 0;
    }
    if (!json_is_array(v))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an array of strings", field);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        /* The same rules as proto_get_id, so a name that could never be logged in or
         * configured is refused here rather than silently matching nothing. */
        if (!json_is_string(e) || json_string_length(e) == 0 ||
            json_string_length(e) > PROTO_ID_MAX ||
            strlen(json_string_value(e)) != json_string_length(e) ||
            has_control(json_string_value(e), json_string_length(e)))
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an array of identifiers", field);
    }
    *out = v;
    return 0;
}

/* The one reading of a reason (protocol.md section 3): null or absent is no reason; else
 * an object whose code (null or absent: 0) is an integer from 0 to 2^31-1 and whose
 * description (null or absent: none) is a short string. name is the field's path for the
 * error text. */
static int decode_reason(proto_msg *msg, json_t *v, const char *name, proto_reason *out)
{
    memset(out, 0, sizeof *out);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an object", name);
    json_t *c = json_object_get(v, "code");
    if (c && !json_is_null(c)) {
        if (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) > 2147483647)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s.code must be a non-negative integer",
                        name);
        out->code = json_integer_value(c);
    }
    json_t *d = json_object_get(v, "description");
    if (d && !json_is_null(d)) {
        if (!json_is_string(d) || json_string_length(d) > PROTO_TEXT_MAX ||
            strlen(json_string_value(d)) != json_string_length(d))
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s.description must be a short string", name);
        out->description = json_string_value(d);
    }
    out->present = true;
    return 0;
}

int proto_get_reason(proto_msg *msg, const char *field, bool *present, int64_t *code,
                     const char **description)
{
    proto_reason r;
    int rc = decode_reason(msg, json_object_get(msg->root, field), field, &r);
    *present = r.present;
    *code = r.code;
    *description = r.description;
    return rc;
}

void proto_fields(const json_t *obj, proto_field_fn *fn, void *ctx)
{
    if (!json_is_object(obj))
        return;
    const char *key;
    json_t *v;
    /* json_object_foreach wants a non-const object; the walk changes nothing. */
    json_object_foreach((json_t *)obj, key, v)
    {
        proto_field f = {.key = key};
        switch (json_typeof(v)) {
        case JSON_STRING:
            f.kind = PROTO_FIELD_STRING;
            f.str = json_string_value(v);
            break;
        case JSON_INTEGER:
            f.kind = PROTO_FIELD_INT;
            f.num = json_integer_value(v);
            break;
        case JSON_REAL:
            f.kind = PROTO_FIELD_REAL;
            f.real = json_real_value(v);
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            f.kind = PROTO_FIELD_BOOL;
            f.flag = json_is_true(v);
            break;
        case JSON_NULL: f.kind = PROTO_FIELD_NULL; break;
        case JSON_OBJECT: f.kind = PROTO_FIELD_OBJECT; break;
        case JSON_ARRAY: f.kind = PROTO_FIELD_ARRAY; break;
        }
        char *text = NULL;
        if (f.kind != PROTO_FIELD_STRING)
            f.json = text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        bool more = fn(ctx, &f);
        free(text);
        if (!more)
            return;
    }
}

void proto_msg_fields(const proto_msg *msg, proto_field_fn *fn, void *ctx)
{
    proto_fields(msg->root, fn, ctx);
}

int proto_msg_forward_open(const proto_msg *msg, const char *line, size_t len, const char *drop,
                           cc_buf *out)
{
    if (!json_object_get(msg->root, drop)) {
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r' ||
                           line[len - 1] == '\n'))
            len--;
        if (len == 0 || line[len - 1] != '}')
            return CC_E_INVALID_MESSAGE;
        cc_buf_append(out, line, len - 1);
        return 0;
    }
    json_t *copy = json_copy(msg->root);
    json_object_del(copy, drop);
    char *txt = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (!txt)
        return CC_E_INVALID_MESSAGE;
    size_t n = strlen(txt);
    int rc = n > 0 && txt[n - 1] == '}' ? 0 : CC_E_INVALID_MESSAGE;
    if (rc == 0)
        cc_buf_append(out, txt, n - 1);
    free(txt);
    return rc;
}

void proto_enc_ack(cc_buf *b, int64_t ref)
{
    jw_open_message(b, "EventAck");
    jw_kv_int(b, "referenceId", ref);
}

void proto_enc_error(cc_buf *b, int64_t ref, int err, const char *description)
{
    jw_open_message(b, "EventError");
    if (ref > 0)
        jw_kv_int(b, "referenceId", ref);
    jw_kv_int(b, "errorCode", cc_err_wire_code(err));
    jw_kv_str(b, "errorName", cc_err_wire_name(err));
    jw_kv_str(b, "errorDescription", description ? description : "");
}

int proto_decode_error(proto_msg *msg, proto_error *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_int(msg, "errorCode", false, 0, INT32_MAX, &out->code)) ||
        (rc = proto_get_str(msg, "errorName", false, PROTO_TEXT_MAX, &out->name)) ||
        (rc = proto_get_str(msg, "errorDescription", false, PROTO_TEXT_MAX, &out->description)))
        return rc;
    return 0;
}

/* A skill name has the form of a media name (routing.md section 1). */
static bool skill_name_valid(const char *name)
{
    return cc_media_name_valid(name, strlen(name));
}

void proto_enc_skills(cc_buf *b, const proto_skills *skills)
{
    jw_key(b, "skills");
    cc_buf_putc(b, '{');
    for (size_t i = 0; i < skills->count; i++) {
        if (i)
            cc_buf_putc(b, ',');
        jw_str(b, skills->items[i].name);
        cc_buf_printf(b, ":%d", skills->items[i].level);
    }
    cc_buf_putc(b, '}');
}

int proto_decode_skills(proto_msg *msg, proto_skills *out)
{
    out->count = 0;
    json_t *obj = json_object_get(msg->root, "skills");
    if (!obj || json_is_null(obj))
        return 0;
    if (!json_is_object(obj))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an object", "skills");
    if (json_object_size(obj) > PROTO_SKILLS_MAX)
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "skills has more than %d entries",
                    PROTO_SKILLS_MAX);
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v)
    {
        if (!skill_name_valid(name)) {
            out->count = 0;
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s has an invalid skill name", "skills");
        }
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > PROTO_SKILL_LEVEL_MAX) {
            out->count = 0;
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "skills.%s must be a level 1..%d", name,
                        PROTO_SKILL_LEVEL_MAX);
        }
        out->items[out->count++] = (proto_skill){name, (int)json_integer_value(v)};
    }
    return 0;
}

static int media_id(cc_media_table *media, const char *name, bool intern)
{
    size_t n = strlen(name);
    return intern ? cc_media_intern(media, name, n) : cc_media_find(media, name, n);
}

void proto_enc_agent_state(cc_buf *b, const proto_agent_state *st, const cc_media_table *media)
{
    jw_open_message(b, "EventPlaceAgentState");
    if (st->server_name)
        jw_kv_str(b, "serverName", st->server_name);
    if (st->cause)
        jw_kv_str(b, "cause", st->cause);
    jw_kv_str(b, "tenant", st->tenant);
    jw_kv_str(b, "agentId", st->agent_id);
    if (st->place_id)
        jw_kv_str(b, "placeId", st->place_id);
    jw_kv_int(b, "version", st->version);
    if (st->login_time_ms > 0)
        jw_kv_int(b, "loginTime", st->login_time_ms);
    if (st->reservation_id > 0)
        jw_kv_int(b, "reservationId", st->reservation_id);
    jw_kv_bool(b, "loggedIn", st->logged_in);
    jw_kv_bool(b, "dnd", st->logged_in && st->dnd);
    jw_key(b, "media");
    cc_buf_putc(b, '{');
    bool first = true;
    for (int i = 0; st->logged_in && i < media->count; i++) {
        cc_media_mask bit = (cc_media_mask)1 << i;
        if (!(st->added & bit))
            continue;
        if (!first)
            cc_buf_putc(b, ',');
        first = false;
        jw_str(b, cc_media_name(media, i));
        cc_buf_puts(b, (st->ready & bit) ? ":{\"ready\":true,\"reason\":"
                                         : ":{\"ready\":false,\"reason\":");
        const proto_reason *r = &st->reasons[i];
        if (!r->present) {
            cc_buf_puts(b, "null}");
            continue;
        }
        cc_buf_printf(b, "{\"code\":%" PRId64 ",\"description\":", r->code);
        if (r->description)
            jw_str(b, r->description);
        else
            cc_buf_puts(b, "null");
        cc_buf_puts(b, "}}");
    }
    cc_buf_putc(b, '}');
    jw_key(b, "interactions");
    cc_buf_putc(b, '[');
    for (size_t i = 0; st->logged_in && i < st->nheld; i++) {
        const proto_held_ixn *h = &st->held[i];
        if (i)
            cc_buf_putc(b, ',');
        cc_buf_puts(b, "{\"interactionId\":");
        jw_str(b, h->interaction_id);
        jw_kv_str(b, "media", cc_media_name(media, h->media));
        jw_kv_str(b, "state", cc_ixn_state_name(h->state));
        cc_buf_putc(b, '}');
    }
    cc_buf_putc(b, ']');
    static const proto_skills none;
    proto_enc_skills(b, st->logged_in ? &st->skills : &none);
}

static int decode_media_entry(proto_msg *msg, proto_agent_state *out, int id, json_t *v)
{
    out->added |= (cc_media_mask)1 << id;
    if (!json_is_object(v))
        return 0;
    if (json_is_true(json_object_get(v, "ready")))
        out->ready |= (cc_media_mask)1 << id;
    return decode_reason(msg, json_object_get(v, "reason"), "media.reason", &out->reasons[id]);
}

int proto_decode_agent_state(proto_msg *msg, cc_media_table *media, proto_agent_state *out,
                             proto_held_ixn *held, size_t cap)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, &out->agent_id)) ||
        (rc = proto_get_id(msg, "placeId", false, &out->place_id)) ||
        (rc = proto_get_id(msg, "serverName", false, &out->server_name)) ||
        (rc = proto_get_str(msg, "cause", false, PROTO_ID_MAX, &out->cause)) ||
        (rc = proto_get_int(msg, "version", true, 0, INT64_MAX, &out->version)) ||
        (rc = proto_get_int(msg, "loginTime", false, 0, INT64_MAX, &out->login_time_ms)) ||
        (rc = proto_get_int(msg, "reservationId", false, 1, INT64_MAX, &out->reservation_id)) ||
        (rc = proto_get_flag(msg, "loggedIn", true, &out->logged_in)) ||
        (rc = proto_get_flag(msg, "dnd", false, &out->dnd)))
        return rc;
    json_t *m = json_object_get(msg->root, "media");
    if (m && !json_is_null(m)) {
        if (!json_is_object(m))
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an object", "media");
        const char *name;
        json_t *v;
        json_object_foreach(m, name, v)
        {
            int id = media_id(media, name, true);
            if (id < 0)
                return fail(msg, CC_E_INVALID_ATTRIBUTE, "media name %s is not valid",
                            cc_media_name_valid(name, strlen(name)) ? "(too many media)" : name);
            if ((rc = decode_media_entry(msg, out, id, v)))
                return rc;
        }
    }
    json_t *ixns = json_object_get(msg->root, "interactions");
    if (ixns && !json_is_null(ixns)) {
        if (!json_is_array(ixns))
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an array", "interactions");
        size_t i;
        json_t *e;
        json_array_foreach(ixns, i, e)
        {
            const char *mname = json_string_value(json_object_get(e, "media"));
            const char *st = json_string_value(json_object_get(e, "state"));
            if (!mname || !st)
                return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s need media and state", "interactions");
            int id = media_id(media, mname, true);
            if (id < 0)
                return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s has an invalid media", "interactions");
            int s = cc_ixn_state_parse(st);
            if (s != CC_IXN_INVITED && s != CC_IXN_HANDLING && s != CC_IXN_AFTER_WORK)
                return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s has an unknown state", "interactions");
            out->counts[s][id]++;
            if (out->nheld < cap) {
                const char *iid = json_string_value(json_object_get(e, "interactionId"));
                held[out->nheld] = (proto_held_ixn){
                    .interaction_id = iid ? iid : "", .media = id, .state = (enum cc_ixn_state)s};
            }
            out->nheld++;
        }
    }
    return proto_decode_skills(msg, &out->skills);
}

void proto_enc_status(cc_buf *b, const proto_agent_status *st, const cc_media_table *media)
{
    jw_open_message(b, "EventCurrentAgentStatus");
    jw_kv_str(b, "tenant", st->tenant);
    jw_kv_str(b, "agentId", st->agent_id);
    if (st->place_id)
        jw_kv_str(b, "placeId", st->place_id);
    if (st->rule)
        jw_kv_str(b, "rule", st->rule);
    jw_kv_bool(b, "loggedIn", st->logged_in);
    jw_kv_bool(b, "dnd", st->dnd);
    jw_key(b, "media");
    cc_buf_putc(b, '{');
    for (int i = 0; i < media->count; i++) {
        if (!(st->media & ((cc_media_mask)1 << i)))
            continue;
        jw_key(b, cc_media_name(media, i));
        cc_buf_printf(b, "{\"ready\":%s,\"current\":%u,\"max\":%u,\"available\":%u",
                      st->ready[i] ? "true" : "false", st->current[i], st->max[i],
                      st->available[i]);
        const proto_reason *r = &st->reasons[i];
        if (r->present) {
            cc_buf_printf(b, ",\"reason\":{\"code\":%" PRId64 ",\"description\":", r->code);
            if (r->description)
                jw_str(b, r->description);
            else
                cc_buf_puts(b, "null");
            cc_buf_putc(b, '}');
        }
        if (st->since[i] > 0)
            cc_buf_printf(b, ",\"since\":%" PRId64, st->since[i]);
        cc_buf_putc(b, '}');
    }
    cc_buf_putc(b, '}');
    proto_enc_skills(b, &st->skills);
}

static int get_u32(json_t *obj, const char *key, uint32_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
        return -1;
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

/* The optional reason and since of one media entry of a status. */
static int status_reason_since(proto_msg *msg, json_t *v, int id, proto_agent_status *out)
{
    int rc = decode_reason(msg, json_object_get(v, "reason"), "media.reason", &out->reasons[id]);
    if (rc)
        return rc;
    json_t *s = json_object_get(v, "since");
    if (s && !json_is_null(s)) {
        if (!json_is_integer(s) || json_integer_value(s) < 0)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an integer >= 0", "media.since");
        out->since[id] = json_integer_value(s);
    }
    return 0;
}

int proto_decode_status(proto_msg *msg, cc_media_table *media, bool intern, proto_agent_status *out)
{
    memset(out, 0, sizeof *out);
    int rc;
    if ((rc = proto_get_id(msg, "tenant", true, &out->tenant)) ||
        (rc = proto_get_id(msg, "agentId", true, &out->agent_id)) ||
        (rc = proto_get_id(msg, "placeId", false, &out->place_id)) ||
        (rc = proto_get_str(msg, "rule", false, PROTO_ID_MAX, &out->rule)) ||
        (rc = proto_get_int(msg, "version", false, 0, INT64_MAX, &out->version)) ||
        (rc = proto_get_flag(msg, "loggedIn", false, &out->logged_in)) ||
        (rc = proto_get_flag(msg, "dnd", false, &out->dnd)))
        return rc;
    json_t *m = json_object_get(msg->root, "media");
    if (!m || json_is_null(m))
        return proto_decode_skills(msg, &out->skills);
    if (!json_is_object(m))
        return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s must be an object", "media");
    const char *name;
    json_t *v;
    json_object_foreach(m, name, v)
    {
        if (!json_is_object(v))
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s entries must be objects", "media");
        int id = media_id(media, name, intern);
        if (id == CC_E_NOT_FOUND)
            continue;
        if (id < 0)
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s has an invalid media name", "media");
        out->media |= (cc_media_mask)1 << id;
        out->ready[id] = json_is_true(json_object_get(v, "ready"));
        if (get_u32(v, "current", &out->current[id]) || get_u32(v, "max", &out->max[id]) ||
            get_u32(v, "available", &out->available[id]))
            return fail(msg, CC_E_INVALID_ATTRIBUTE, "%s counts must be small integers", "media");
        if ((rc = status_reason_since(msg, v, id, out)))
            return rc;
    }
    return proto_decode_skills(msg, &out->skills);
}

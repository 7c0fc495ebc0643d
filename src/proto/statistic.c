#include "proto/statistic.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/media.h"
#include "proto/jw.h"

static const char OPEN[] = "RequestOpenStatistic";
static const char CLOSE[] = "RequestCloseStatistic";
static const char VALUE[] = "EventStatisticValue";

static const struct {
    const char *name;
    int object;
    bool media;
} stats[] = {
#define PROTO_STS_STAT_ROW(sym, wire, obj, m) {wire, obj, m},
    PROTO_STS_STAT_MAP(PROTO_STS_STAT_ROW)
#undef PROTO_STS_STAT_ROW
};

static const char *const state_names[] = {
#define PROTO_STS_STATE_ROW(sym, wire) wire,
    PROTO_STS_STATE_MAP(PROTO_STS_STATE_ROW)
#undef PROTO_STS_STATE_ROW
};

#define NSTATES ((int)(sizeof state_names / sizeof state_names[0]))

static const char *const object_names[] = {"Queue", "Agent", "Tenant"};

const char *proto_sts_stat_name(int stat)
{
    return stat >= 0 && stat < PROTO_STS_STAT_COUNT ? stats[stat].name : NULL;
}

int proto_sts_stat_object(int stat)
{
    return stat >= 0 && stat < PROTO_STS_STAT_COUNT ? stats[stat].object : -1;
}

bool proto_sts_stat_per_media(int stat)
{
    return stat >= 0 && stat < PROTO_STS_STAT_COUNT && stats[stat].media;
}

const char *proto_sts_state_name(int state)
{
    return state >= 0 && state < NSTATES ? state_names[state] : NULL;
}

static int fail(proto_msg *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(proto_msg *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg->desc, sizeof msg->desc, fmt, ap);
    va_end(ap);
    return CC_E_INVALID_ATTRIBUTE;
}

static void enc_profile(cc_buf *b, const char *key, const char *word, int64_t n)
{
    jw_key(b, key);
    if (n)
        cc_buf_printf(b, "\"%s:%" PRId64 "\"", word, n);
    else
        jw_str(b, word);
}

void proto_sts_enc_open(cc_buf *b, const proto_sts_open *o)
{
    jw_open_message(b, OPEN);
    jw_kv_int(b, "statisticId", o->statistic_id);
    jw_key(b, "object");
    cc_buf_puts(b, "{\"type\":");
    jw_str(b, object_names[o->type]);
    if (o->server)
        jw_kv_str(b, "server", o->server);
    jw_kv_str(b, "tenant", o->tenant);
    if (o->id)
        jw_kv_str(b, "id", o->id);
    cc_buf_putc(b, '}');
    jw_kv_str(b, "statistic", proto_sts_stat_name((int)o->statistic));
    enc_profile(b, "profile", o->sliding_s ? "sliding" : "day", o->sliding_s);
    enc_profile(b, "notify", o->every_s ? "every" : "changes", o->every_s);
    if (o->threshold_s >= 0)
        jw_kv_int(b, "threshold", o->threshold_s);
    if (o->media)
        jw_kv_str(b, "media", o->media);
    if (o->has_reason)
        jw_kv_int(b, "reason", o->reason);
}

/* An identifier inside the object: the rules of proto_get_id. */
static int object_id(proto_msg *msg, json_t *obj, const char *key, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return fail(msg, "object.%s is missing", key);
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (!s || n == 0 || n > PROTO_ID_MAX || strlen(s) != n)
        return fail(msg, "object.%s must be an identifier", key);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(msg, "object.%s contains a control character", key);
    *out = s;
    return 0;
}

/* "WORD" alone (0) or "PREFIX:N" with N in min..max. Returns 1 when s is neither. */
static int parse_profile(const char *s, const char *word, const char *prefix, int64_t min,
                         int64_t max, int64_t *n)
{
    if (strcmp(s, word) == 0) {
        *n = 0;
        return 0;
    }
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0 || s[pl] != ':')
        return 1;
    const char *d = s + pl + 1;
    if (!*d || strlen(d) > 6)
        return 1;
    int64_t v = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9')
            return 1;
        v = v * 10 + (*d - '0');
    }
    if (v < min || v > max)
        return 1;
    *n = v;
    return 0;
}

static int decode_object(proto_msg *msg, proto_sts_open *out)
{
    json_t *obj;
    int rc = proto_get_object(msg, "object", true, &obj);
    if (rc)
        return rc;
    json_t *t = json_object_get(obj, "type");
    if (!t)
        return fail(msg, "%s", "object.type is missing");
    const char *type = json_string_value(t);
    int k = -1;
    for (int i = 0; type && i < 3; i++)
        if (strcmp(type, object_names[i]) == 0)
            k = i;
    if (k < 0)
        return fail(msg, "%s", "object.type must be Queue, Agent or Tenant");
    out->type = (enum proto_sts_object)k;
    if (k == PROTO_STS_QUEUE && (rc = object_id(msg, obj, "server", &out->server)))
        return rc;
    if ((rc = object_id(msg, obj, "tenant", &out->tenant)))
        return rc;
    if (k != PROTO_STS_TENANT && (rc = object_id(msg, obj, "id", &out->id)))
        return rc;
    return 0;
}

int proto_sts_decode_open(proto_msg *msg, proto_sts_open *out)
{
    memset(out, 0, sizeof *out);
    out->threshold_s = -1;
    int rc;
    const char *name, *profile, *notify;
    if ((rc = proto_get_int(msg, "statisticId", true, 1, INT64_MAX, &out->statistic_id)) ||
        (rc = decode_object(msg, out)) ||
        (rc = proto_get_str(msg, "statistic", true, PROTO_ID_MAX, &name)))
        return rc;
    int found = -1;
    for (int i = 0; i < PROTO_STS_STAT_COUNT; i++)
        if (stats[i].object == (int)out->type && strcmp(stats[i].name, name) == 0)
            found = i;
    if (found < 0)
        return fail(msg, "statistic %.64s is not a statistic of a %s", name,
                    object_names[out->type]);
    out->statistic = (enum proto_sts_stat)found;
    if ((rc = proto_get_str(msg, "profile", true, 32, &profile)))
        return rc;
    if (parse_profile(profile, "day", "sliding", PROTO_STS_SLIDING_MIN, PROTO_STS_SLIDING_MAX,
                      &out->sliding_s))
        return fail(msg, "profile must be day or sliding:N (N %d..%d)", PROTO_STS_SLIDING_MIN,
                    PROTO_STS_SLIDING_MAX);
    if ((rc = proto_get_str(msg, "notify", true, 32, &notify)))
        return rc;
    if (parse_profile(notify, "changes", "every", 1, PROTO_STS_EVERY_MAX, &out->every_s))
        return fail(msg, "notify must be changes or every:N (N 1..%d)", PROTO_STS_EVERY_MAX);
    if ((rc = proto_get_int(msg, "threshold", false, 0, PROTO_STS_THRESHOLD_MAX,
                            &out->threshold_s)) ||
        (rc = proto_get_str(msg, "media", false, 64, &out->media)))
        return rc;
    if (out->media && !cc_media_name_valid(out->media, strlen(out->media)))
        return fail(msg, "%s", "media is not a media name");
    if (stats[found].media && !out->media)
        return fail(msg, "media is missing: %s is defined per media", name);
    if (json_object_get(msg->root, "reason")) {
        if ((rc = proto_get_int(msg, "reason", false, INT64_MIN, INT64_MAX, &out->reason)))
            return rc;
        out->has_reason = true;
    }
    return 0;
}

void proto_sts_enc_close(cc_buf *b, int64_t statistic_id)
{
    jw_open_message(b, CLOSE);
    jw_kv_int(b, "statisticId", statistic_id);
}

int proto_sts_decode_close(proto_msg *msg, int64_t *statistic_id)
{
    *statistic_id = 0;
    return proto_get_int(msg, "statisticId", true, 1, INT64_MAX, statistic_id);
}

bool proto_sts_value_equal(const proto_sts_value *a, const proto_sts_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case PROTO_STS_NULL: return true;
    case PROTO_STS_INT:
    case PROTO_STS_MILLI: return a->v == b->v;
    case PROTO_STS_STATE:
        if (a->state != b->state || a->since != b->since || a->has_reason != b->has_reason)
            return false;
        if (!a->has_reason)
            return true;
        if (a->reason_code != b->reason_code)
            return false;
        if (!a->reason_desc || !b->reason_desc)
            return a->reason_desc == b->reason_desc;
        return strcmp(a->reason_desc, b->reason_desc) == 0;
    }
    return false;
}

void proto_sts_enc_value_field(cc_buf *b, const proto_sts_value *v)
{
    jw_key(b, "value");
    switch (v->type) {
    case PROTO_STS_INT: cc_buf_printf(b, "%" PRId64, v->v); break;
    case PROTO_STS_MILLI: {
        /* Always with a point, so that a reader (and the round trip) sees a number of
         * seconds rather than a count. */
        int64_t a = v->v < 0 ? -v->v : v->v;
        int64_t frac = a % 1000;
        char digits[8];
        int n = snprintf(digits, sizeof digits, "%03" PRId64, frac);
        while (n > 1 && digits[n - 1] == '0')
            digits[--n] = '\0';
        cc_buf_printf(b, "%s%" PRId64 ".%s", v->v < 0 ? "-" : "", a / 1000, digits);
        break;
    }
    case PROTO_STS_STATE:
        cc_buf_puts(b, "{\"state\":");
        jw_str(b, proto_sts_state_name((int)v->state));
        jw_key(b, "since");
        if (v->since)
            cc_buf_printf(b, "%" PRId64, v->since);
        else
            cc_buf_puts(b, "null");
        if (v->has_reason) {
            jw_key(b, "reason");
            cc_buf_printf(b, "{\"code\":%" PRId64, v->reason_code);
            if (v->reason_desc)
                jw_kv_str(b, "description", v->reason_desc);
            cc_buf_putc(b, '}');
        }
        cc_buf_putc(b, '}');
        break;
    case PROTO_STS_NULL:
    default: cc_buf_puts(b, "null"); break;
    }
}

void proto_sts_id_field(char buf[PROTO_STS_ID_FIELD_MAX], int64_t statistic_id)
{
    snprintf(buf, PROTO_STS_ID_FIELD_MAX, ",\"statisticId\":%" PRId64, statistic_id);
}

void proto_sts_enc_event(cc_buf *b, const proto_sts_event *e)
{
    jw_open_message(b, VALUE);
    if (e->statistic_id)
        jw_kv_int(b, "statisticId", e->statistic_id);
    proto_sts_enc_value_field(b, &e->value);
    jw_kv_int(b, "at", e->at);
}

static int decode_state(proto_msg *msg, json_t *v, proto_sts_value *out)
{
    out->type = PROTO_STS_STATE;
    const char *s = json_string_value(json_object_get(v, "state"));
    int k = -1;
    for (int i = 0; s && i < NSTATES; i++)
        if (strcmp(s, state_names[i]) == 0)
            k = i;
    if (k < 0)
        return fail(msg, "%s", "value.state is not a State");
    out->state = (enum proto_sts_state)k;
    json_t *since = json_object_get(v, "since");
    if (since && !json_is_null(since)) {
        if (!json_is_integer(since) || json_integer_value(since) <= 0)
            return fail(msg, "%s", "value.since must be a positive integer or null");
        out->since = json_integer_value(since);
    }
    json_t *r = json_object_get(v, "reason");
    if (r && !json_is_null(r)) {
        if (!json_is_object(r))
            return fail(msg, "%s", "value.reason must be an object");
        out->has_reason = true;
        json_t *code = json_object_get(r, "code");
        if (code) {
            if (!json_is_integer(code))
                return fail(msg, "%s", "value.reason.code must be an integer");
            out->reason_code = json_integer_value(code);
        }
        json_t *d = json_object_get(r, "description");
        if (d && !json_is_null(d)) {
            if (!json_is_string(d) || json_string_length(d) > PROTO_TEXT_MAX ||
                strlen(json_string_value(d)) != json_string_length(d))
                return fail(msg, "%s", "value.reason.description must be a text");
            out->reason_desc = json_string_value(d);
        }
    }
    return 0;
}

int proto_sts_decode_event(proto_msg *msg, proto_sts_event *out)
{
    memset(out, 0, sizeof *out);
    if (!msg->name || strcmp(msg->name, VALUE) != 0)
        return CC_E_NOT_FOUND;
    int rc;
    if ((rc = proto_get_int(msg, "statisticId", true, 1, INT64_MAX, &out->statistic_id)) ||
        (rc = proto_get_int(msg, "at", true, 0, INT64_MAX, &out->at)))
        return rc;
    json_t *v = json_object_get(msg->root, "value");
    if (!v)
        return fail(msg, "%s", "value is missing");
    if (json_is_null(v)) {
        out->value.type = PROTO_STS_NULL;
    } else if (json_is_integer(v)) {
        out->value.type = PROTO_STS_INT;
        out->value.v = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v) * 1000.0;
        if (!(d > -9e15 && d < 9e15))
            return fail(msg, "%s", "value is out of range");
        out->value.type = PROTO_STS_MILLI;
        out->value.v = (int64_t)(d >= 0 ? d + 0.5 : d - 0.5);
    } else if (json_is_object(v)) {
        return decode_state(msg, v, &out->value);
    } else {
        return fail(msg, "%s", "value must be null, a number or a State");
    }
    return 0;
}

/* libFuzzer target for the protocol codec: the bytes are a stream of lines that go
 * through the framer, the parser, every typed getter and both decoders, the way a server
 * treats what a peer sends. Decoded statuses are encoded again and must decode to the
 * same values, and any text written back by the JSON writer must be valid JSON. */
#include <assert.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/media.h"
#include "proto/frame.h"
#include "proto/jw.h"
#include "proto/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The JSON writer must produce valid JSON for any bytes, and a reply carrying the input
 * must parse again. */
static void check_writer(const char *line, size_t len)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_error(&b, 1, CC_E_INVALID_MESSAGE, "");
    jw_key(&b, "echo");
    jw_strn(&b, line, len);
    cc_buf_puts(&b, ",\"seq\":1}");
    json_error_t e;
    /* The input may hold NUL bytes, which the writer escapes as \u0000. */
    json_t *v = json_loadb(b.data, b.len, JSON_ALLOW_NUL, &e);
    assert(v != NULL);
    assert(json_is_string(json_object_get(v, "echo")));
    json_decref(v);
    cc_buf_free(&b);
}

static void exercise_getters(proto_msg *m)
{
    static const char *const fields[] = {
        "tenant",    "agentId", "placeId",     "media", "ready",      "reason", "tenants",
        "mediaList", "version", "referenceId", "token", "clientType", "queue"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *s;
        int64_t n = 0;
        bool flag = false;
        json_t *obj;
        bool present;
        int64_t code;
        const char *desc;
        if (proto_get_str(m, fields[i], i & 1, PROTO_TEXT_MAX, &s) == 0 && s)
            assert(strlen(s) <= PROTO_TEXT_MAX);
        if (proto_get_id(m, fields[i], i & 1, &s) == 0 && s)
            assert(strlen(s) >= 1 && strlen(s) <= PROTO_ID_MAX);
        if (proto_get_int(m, fields[i], i & 1, -5, 255, &n) == 0)
            assert(n >= -5 && n <= 255);
        (void)proto_get_flag(m, fields[i], i & 1, &flag);
        (void)proto_get_object(m, fields[i], i & 1, &obj);
        (void)proto_get_id_array(m, fields[i], i & 1, &obj);
        if (proto_get_reason(m, fields[i], &present, &code, &desc) == 0)
            assert(code >= 0);
        /* A failed getter's description is a bounded, terminated string. */
        assert(strlen(m->desc) < sizeof m->desc);
    }
}

static void round_trip_status(const proto_agent_status *st, const cc_media_table *media)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_status(&b, st, media);
    cc_buf_printf(&b, ",\"version\":%lld,\"seq\":1}", (long long)st->version);
    proto_msg m;
    int rc = proto_msg_parse(&m, b.data, b.len);
    assert(rc == 0);
    cc_media_table copy = *media;
    proto_agent_status again;
    rc = proto_decode_status(&m, &copy, false, &again);
    assert(rc == 0);
    assert(strcmp(again.tenant, st->tenant) == 0);
    assert(strcmp(again.agent_id, st->agent_id) == 0);
    assert(again.version == st->version);
    assert(again.logged_in == st->logged_in && again.dnd == st->dnd);
    assert(again.media == st->media);
    for (int i = 0; i < media->count; i++) {
        if (!(st->media & ((cc_media_mask)1 << i)))
            continue;
        assert(again.ready[i] == st->ready[i]);
        assert(again.current[i] == st->current[i]);
        assert(again.max[i] == st->max[i]);
        assert(again.available[i] == st->available[i]);
    }
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static int on_line(void *ctx, const char *line, size_t len)
{
    cc_media_table *media = ctx;
    check_writer(line, len);
    proto_msg m;
    int rc = proto_msg_parse(&m, line, len);
    if (rc != 0) {
        assert(rc == CC_E_INVALID_MESSAGE && m.name == NULL);
        proto_msg_free(&m);
        return 0;
    }
    assert(m.name != NULL);
    assert(m.ref >= 0);
    if (proto_msg_check_ref(&m) == 0)
        assert(m.ref > 0 && m.ref_present);
    (void)proto_msg_is_request(&m);
    exercise_getters(&m);

    proto_agent_state as;
    if (proto_decode_agent_state(&m, media, &as, NULL, 0) == 0) {
        assert(as.tenant && as.agent_id);
        assert((as.ready & ~as.added) == 0);
        assert(media->count <= CC_MEDIA_MAX);
    }
    proto_agent_status st;
    if (proto_decode_status(&m, media, false, &st) == 0)
        round_trip_status(&st, media);
    if (proto_decode_status(&m, media, true, &st) == 0)
        round_trip_status(&st, media);
    proto_msg_free(&m);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cc_media_table media;
    cc_media_init(&media);
    cc_media_intern(&media, "voice", 5);
    cc_media_intern(&media, "chat", 4);
    /* A small maximum so that the too-large path is reached too. */
    proto_framer f;
    proto_framer_init(&f, 4096);
    size_t used = 0;
    /* Feed in two pieces, split where the first byte says, so lines cross feeds. */
    size_t cut = size ? data[0] % (size + 1) : 0;
    int rc = proto_framer_feed(&f, (const char *)data, cut, on_line, &media, &used);
    if (rc == 0)
        rc = proto_framer_feed(&f, (const char *)data + cut, size - cut, on_line, &media, &used);
    assert(rc == 0 || rc == CC_E_MESSAGE_TOO_LARGE);
    proto_framer_free(&f);
    return 0;
}

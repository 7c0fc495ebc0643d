/* libFuzzer target for the protocol codec: the bytes are a stream of lines that go
 * through the framer, the parser, every typed getter and every decoder of src/proto, the
 * way a program treats what a peer sends. Whatever decodes is encoded again, and the
 * encoding must decode to the same values field by field; any text written back by the
 * JSON writer must be valid JSON. */
#include <assert.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/media.h"
#include "proto/agentreq.h"
#include "proto/frame.h"
#include "proto/ixnmsg.h"
#include "proto/ixnreport.h"
#include "proto/jw.h"
#include "proto/msg.h"
#include "proto/regmsg.h"
#include "proto/resv.h"
#include "proto/statistic.h"
#include "proto/statmsg.h"
#include "proto/supmsg.h"

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

/* Both NULL, or both strings with the same text. */
static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Every field a walk shows is well formed: a string, or a value with its JSON text. */
static bool check_field(void *ctx, const proto_field *f)
{
    (void)ctx;
    assert(f->key != NULL);
    assert(f->kind == PROTO_FIELD_STRING ? f->str != NULL : f->json != NULL);
    return true;
}

static void exercise_getters(proto_msg *m)
{
    proto_msg_fields(m, check_field, NULL);
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

/* The same skills in the same order. */
static bool same_skills(const proto_skills *a, const proto_skills *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (!same(a->items[i].name, b->items[i].name) || a->items[i].level != b->items[i].level)
            return false;
    return true;
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
    assert(same(again.place_id, st->place_id) && same(again.rule, st->rule));
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
        assert(again.reasons[i].present == st->reasons[i].present);
        assert(again.reasons[i].code == st->reasons[i].code);
        assert(same(again.reasons[i].description, st->reasons[i].description));
        assert(again.since[i] == st->since[i]);
    }
    assert(same_skills(&again.skills, &st->skills));
    proto_msg_free(&m);
    cc_buf_free(&b);
}

/* Closes an open message the way a connection does and parses it again; the encoders
 * must always produce a message that parses. */
static void reparse(cc_buf *b, proto_msg *m)
{
    cc_buf_puts(b, ",\"seq\":1}");
    int rc = proto_msg_parse(m, b->data, b->len);
    assert(rc == 0);
}

/* Held interactions kept per decoded agent state: fewer than a message may list, so
 * that the cut at the cap is exercised too. */
#define HELD_CAP 4

static void round_trip_agent_state(proto_msg *m, cc_media_table *media)
{
    proto_held_ixn held[HELD_CAP], held2[HELD_CAP];
    proto_agent_state st, again;
    if (proto_decode_agent_state(m, media, &st, held, HELD_CAP) != 0)
        return;
    assert(st.tenant && st.agent_id);
    assert((st.ready & ~st.added) == 0);
    assert(media->count <= CC_MEDIA_MAX);
    size_t listed = st.nheld;
    st.held = held;
    st.nheld = listed < HELD_CAP ? listed : HELD_CAP;
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_agent_state(&b, &st, media);
    proto_msg m2;
    reparse(&b, &m2);
    int rc = proto_decode_agent_state(&m2, media, &again, held2, HELD_CAP);
    assert(rc == 0);
    assert(same(again.server_name, st.server_name) && same(again.cause, st.cause));
    assert(same(again.tenant, st.tenant) && same(again.agent_id, st.agent_id));
    assert(same(again.place_id, st.place_id));
    assert(again.version == st.version && again.login_time_ms == st.login_time_ms);
    assert(again.reservation_id == st.reservation_id);
    assert(again.logged_in == st.logged_in);
    if (!st.logged_in) {
        /* A logged-out state is written with nothing but the agent. */
        assert(!again.dnd && again.added == 0 && again.nheld == 0 && again.skills.count == 0);
    } else {
        assert(again.dnd == st.dnd && again.added == st.added && again.ready == st.ready);
        for (int i = 0; i < media->count; i++) {
            if (!(st.added & ((cc_media_mask)1 << i)))
                continue;
            const proto_reason *a = &st.reasons[i], *z = &again.reasons[i];
            assert(a->present == z->present);
            if (a->present)
                assert(a->code == z->code && same(a->description, z->description));
        }
        assert(again.nheld == st.nheld);
        for (size_t i = 0; i < again.nheld; i++) {
            assert(strcmp(held2[i].interaction_id, held[i].interaction_id) == 0);
            assert(held2[i].media == held[i].media && held2[i].state == held[i].state);
        }
        if (listed <= HELD_CAP)
            assert(memcmp(again.counts, st.counts, sizeof st.counts) == 0);
        assert(same_skills(&again.skills, &st.skills));
    }
    proto_msg_free(&m2);
    cc_buf_free(&b);
}

static void round_trip_reservations(proto_msg *m)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m2;
    proto_reserve r, r2;
    if (proto_decode_reserve(m, &r) == 0) {
        assert(r.reservation_id > 0);
        proto_enc_reserve(&b, &r);
        reparse(&b, &m2);
        assert(proto_decode_reserve(&m2, &r2) == 0);
        assert(r2.reservation_id == r.reservation_id && r2.version == r.version);
        assert(same(r2.tenant, r.tenant) && same(r2.agent_id, r.agent_id));
        assert(same(r2.media, r.media));
        proto_msg_free(&m2);
    } else {
        assert(r.reservation_id >= 0);
    }
    proto_reserved g, g2;
    if (proto_decode_reserved(m, &g) == 0) {
        cc_buf_reset(&b);
        proto_enc_reserved(&b, &g);
        reparse(&b, &m2);
        assert(proto_decode_reserved(&m2, &g2) == 0);
        assert(g2.reservation_id == g.reservation_id && g2.granted == g.granted);
        proto_msg_free(&m2);
    }
    int64_t id, id2;
    if (proto_decode_released(m, &id) == 0) {
        cc_buf_reset(&b);
        proto_enc_released(&b, id);
        reparse(&b, &m2);
        assert(proto_decode_released(&m2, &id2) == 0 && id2 == id);
        proto_msg_free(&m2);
    }
    cc_buf_free(&b);
}

static void round_trip_invite(proto_msg *m)
{
    proto_ixn_invite inv, again;
    if (proto_ixn_decode_invite(m, &inv) != 0)
        return;
    cc_buf ud, ud2, b;
    cc_buf_init(&ud);
    cc_buf_init(&ud2);
    cc_buf_init(&b);
    proto_ixn_user_data_text(&inv, &ud);
    inv.user_data = inv.user_data_obj ? ud.data : NULL;
    proto_ixn_enc_invite(&b, &inv);
    proto_msg m2;
    reparse(&b, &m2);
    assert(proto_ixn_decode_invite(&m2, &again) == 0);
    assert(strcmp(again.interaction_id, inv.interaction_id) == 0);
    assert(same(again.tenant, inv.tenant) && same(again.media, inv.media));
    assert(same(again.queue, inv.queue) && again.timeout_sec == inv.timeout_sec);
    assert((again.user_data_obj == NULL) == (inv.user_data_obj == NULL));
    proto_ixn_user_data_text(&again, &ud2);
    assert(ud.len == ud2.len && (ud.len == 0 || memcmp(ud.data, ud2.data, ud.len) == 0));
    proto_msg_free(&m2);
    cc_buf_free(&b);
    cc_buf_free(&ud2);
    cc_buf_free(&ud);
}

static void round_trip_ixn_messages(proto_msg *m)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m2;
    proto_ixn_event ev, ev2;
    int rc = proto_ixn_decode_event(m, &ev);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        proto_ixn_enc_event(&b, &ev);
        reparse(&b, &m2);
        assert(proto_ixn_decode_event(&m2, &ev2) == 0);
        assert(ev2.kind == ev.kind && strcmp(ev2.interaction_id, ev.interaction_id) == 0);
        assert(same(ev2.reason, ev.reason));
        proto_msg_free(&m2);
    }
    int kind = proto_ixn_req_kind(m->name);
    proto_ixn_req r, r2;
    if (kind >= 0 && proto_ixn_decode_req(m, (enum proto_ixn_req_kind)kind, &r) == 0) {
        cc_buf_reset(&b);
        proto_ixn_enc_req(&b, &r);
        reparse(&b, &m2);
        assert(proto_ixn_req_kind(m2.name) == kind);
        assert(proto_ixn_decode_req(&m2, (enum proto_ixn_req_kind)kind, &r2) == 0);
        assert(strcmp(r2.interaction_id, r.interaction_id) == 0);
        assert(same(r2.reason, r.reason) && same(r2.queue, r.queue));
        proto_msg_free(&m2);
    }
    proto_ixn_submit sub, sub2;
    if (proto_ixn_decode_submit(m, &sub) == 0) {
        cc_buf ud, ud2;
        cc_buf_init(&ud);
        cc_buf_init(&ud2);
        proto_ixn_submit_user_data_text(&sub, &ud);
        sub.user_data = sub.user_data_obj ? ud.data : NULL;
        cc_buf_reset(&b);
        proto_ixn_enc_submit(&b, &sub);
        reparse(&b, &m2);
        assert(proto_ixn_decode_submit(&m2, &sub2) == 0);
        assert(same(sub2.tenant, sub.tenant) && same(sub2.media, sub.media));
        assert(same(sub2.queue, sub.queue) && same(sub2.external_id, sub.external_id));
        assert(sub2.has_priority == sub.has_priority && sub2.priority == sub.priority);
        assert(!sub.has_priority || (sub.priority >= 0 && sub.priority <= 1000));
        proto_ixn_submit_user_data_text(&sub2, &ud2);
        assert(ud.len == ud2.len && (ud.len == 0 || memcmp(ud.data, ud2.data, ud.len) == 0));
        proto_msg_free(&m2);
        cc_buf_free(&ud2);
        cc_buf_free(&ud);
    }
    proto_ixn_submitted sd, sd2;
    if (proto_ixn_decode_submitted(m, &sd) == 0) {
        cc_buf_reset(&b);
        proto_enc_ack(&b, 1);
        proto_ixn_enc_submitted(&b, &sd);
        reparse(&b, &m2);
        assert(proto_ixn_decode_submitted(&m2, &sd2) == 0);
        assert(strcmp(sd2.interaction_id, sd.interaction_id) == 0);
        assert(sd2.duplicate == sd.duplicate);
        proto_msg_free(&m2);
    }
    int64_t aw, aw2;
    if (proto_ixn_decode_stopped(m, &aw) == 0) {
        assert(aw >= 0);
        cc_buf_reset(&b);
        proto_enc_ack(&b, 1);
        proto_ixn_enc_stopped(&b, aw);
        reparse(&b, &m2);
        assert(proto_ixn_decode_stopped(&m2, &aw2) == 0 && aw2 == aw);
        proto_msg_free(&m2);
    } else {
        assert(aw == 0);
    }
    cc_buf_free(&b);
}

/* Rows of a list answer re-encoded per input line at most. */
#define ROWS_MAX 8

static void round_trip_queues(proto_msg *m)
{
    size_t n;
    if (proto_ixn_decode_queues(m, &n) != 0)
        return;
    proto_ixn_queue_row rows[ROWS_MAX], again;
    size_t k = 0;
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_ack(&b, 1);
    proto_ixn_enc_queues_begin(&b);
    for (size_t i = 0; i < n && k < ROWS_MAX; i++)
        if (proto_ixn_decode_queue_row(m, i, &rows[k]) == 0)
            proto_ixn_enc_queue_row(&b, &rows[k++]);
    proto_ixn_enc_queues_end(&b);
    proto_msg m2;
    reparse(&b, &m2);
    size_t n2;
    assert(proto_ixn_decode_queues(&m2, &n2) == 0 && n2 == k);
    for (size_t i = 0; i < k; i++) {
        const proto_ixn_queue_row *r = &rows[i];
        assert(proto_ixn_decode_queue_row(&m2, i, &again) == 0);
        assert(same(again.tenant, r->tenant) && same(again.queue, r->queue));
        assert(same(again.media, r->media));
        assert(again.waiting == r->waiting && again.invited == r->invited);
        assert(again.handling == r->handling && again.after_work == r->after_work);
        assert(again.oldest_ms == r->oldest_ms);
    }
    proto_msg_free(&m2);
    cc_buf_free(&b);
}

/* Closes b2 like reparse does to b1, and checks that both hold the same bytes: the
 * encoding of what was decoded from an encoding is that encoding again. */
static void same_bytes(cc_buf *b1, cc_buf *b2)
{
    cc_buf_puts(b2, ",\"seq\":1}");
    assert(b1->len == b2->len && memcmp(b1->data, b2->data, b1->len) == 0);
}

/* The routing additions: the login ack's skills, RequestExplainRouting and its answer. */
static void round_trip_routing(proto_msg *m)
{
    cc_buf b, b2;
    cc_buf_init(&b);
    cc_buf_init(&b2);
    proto_msg m2;
    proto_skills sk, sk2;
    int rc = proto_areq_decode_login_ack(m, &sk);
    if (rc == 0) {
        assert(sk.count <= PROTO_SKILLS_MAX);
        proto_enc_ack(&b, 1);
        proto_areq_enc_login_ack(&b, &sk);
        reparse(&b, &m2);
        assert(proto_areq_decode_login_ack(&m2, &sk2) == 0 && same_skills(&sk2, &sk));
        proto_enc_ack(&b2, 1);
        proto_areq_enc_login_ack(&b2, &sk2);
        same_bytes(&b, &b2);
        proto_msg_free(&m2);
    } else {
        assert(sk.count == 0);
    }
    proto_ixn_explain_req r, r2;
    if (proto_ixn_decode_explain_req(m, &r) == 0) {
        cc_buf_reset(&b);
        cc_buf_reset(&b2);
        proto_ixn_enc_explain_req(&b, &r);
        reparse(&b, &m2);
        assert(strcmp(m2.name, "RequestExplainRouting") == 0);
        assert(proto_ixn_decode_explain_req(&m2, &r2) == 0);
        assert(same(r2.interaction_id, r.interaction_id));
        proto_ixn_enc_explain_req(&b2, &r2);
        same_bytes(&b, &b2);
        proto_msg_free(&m2);
    }
    proto_ixn_explain e, e2;
    if (proto_ixn_decode_explain(m, &e) == 0) {
        assert(e.nagents <= PROTO_EXPLAIN_AGENTS_MAX);
        assert(e.step >= 1 && e.step <= e.steps && e.steps <= PROTO_EXPLAIN_STEPS_MAX);
        cc_buf_reset(&b);
        cc_buf_reset(&b2);
        proto_enc_ack(&b, 1);
        proto_ixn_enc_explain(&b, &e);
        reparse(&b, &m2);
        assert(proto_ixn_decode_explain(&m2, &e2) == 0);
        assert(same(e2.interaction_id, e.interaction_id) && same(e2.tenant, e.tenant));
        assert(same(e2.media, e.media) && same(e2.queue, e.queue) && e2.state == e.state);
        assert(e2.priority == e.priority && e2.effective_priority == e.effective_priority);
        assert(e2.waited_sec == e.waited_sec && e2.step == e.step && e2.steps == e.steps);
        assert(same(e2.expression, e.expression) && e2.next_step_sec == e.next_step_sec);
        assert(e2.matching == e.matching && same(e2.agent_id, e.agent_id));
        assert(e2.nagents == e.nagents);
        for (size_t i = 0; i < e.nagents; i++)
            assert(same(e2.agents[i].agent_id, e.agents[i].agent_id) &&
                   e2.agents[i].why == e.agents[i].why);
        proto_enc_ack(&b2, 1);
        proto_ixn_enc_explain(&b2, &e2);
        same_bytes(&b, &b2);
        proto_msg_free(&m2);
    }
    cc_buf_free(&b2);
    cc_buf_free(&b);
}

static void round_trip_agent_requests(proto_msg *m)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m2;
    proto_areq_login l, l2;
    if (proto_areq_decode_login(m, &l) == 0) {
        proto_areq_enc_login(&b, &l);
        reparse(&b, &m2);
        assert(proto_areq_decode_login(&m2, &l2) == 0);
        assert(same(l2.tenant, l.tenant) && same(l2.agent_id, l.agent_id));
        assert(same(l2.place_id, l.place_id) && same(l2.password, l.password));
        assert(l2.nmedia == l.nmedia);
        for (int i = 0; i < l.nmedia; i++)
            assert(same(l2.media[i].name, l.media[i].name) &&
                   l2.media[i].ready == l.media[i].ready);
        proto_msg_free(&m2);
    }
    int kind = proto_areq_kind(m->name);
    proto_areq r, r2;
    if (kind >= 0 && proto_areq_decode(m, (enum proto_areq_kind)kind, &r) == 0) {
        cc_buf_reset(&b);
        proto_areq_enc(&b, &r);
        reparse(&b, &m2);
        assert(proto_areq_kind(m2.name) == kind);
        assert(proto_areq_decode(&m2, (enum proto_areq_kind)kind, &r2) == 0);
        assert(same(r2.media, r.media) && r2.ready == r.ready);
        assert(r2.reason.present == r.reason.present && r2.reason.code == r.reason.code);
        assert(same(r2.reason.description, r.reason.description));
        assert(same(r2.agent_id, r.agent_id) && same(r2.tenant, r.tenant));
        proto_msg_free(&m2);
    }
    cc_buf_free(&b);
}

/* Interaction reporting: the start request, the step event and the snapshot's end. */
static void round_trip_ixn_reporting(proto_msg *m)
{
    cc_buf b, b2;
    cc_buf_init(&b);
    cc_buf_init(&b2);
    proto_msg m2;
    proto_ixr_start s, s2;
    const char *tenants[ROWS_MAX];
    if (proto_ixr_decode_start(m, &s) == 0 && s.ntenants <= ROWS_MAX) {
        for (size_t i = 0; i < s.ntenants; i++)
            tenants[i] = proto_ixr_tenant(&s, i);
        s.tenants = tenants;
        proto_ixr_enc_start(&b, &s);
        reparse(&b, &m2);
        assert(proto_ixr_decode_start(&m2, &s2) == 0);
        assert(s2.all == s.all && s2.ntenants == s.ntenants);
        for (size_t i = 0; i < s.ntenants; i++)
            assert(same(proto_ixr_tenant(&s2, i), tenants[i]));
        proto_msg_free(&m2);
    }
    proto_ixr_event e, e2;
    int rc = proto_ixr_decode_event(m, &e);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        assert(proto_ixr_cause_name((int)e.cause) != NULL);
        cc_buf_reset(&b);
        proto_ixr_enc_event(&b, &e);
        reparse(&b, &m2);
        assert(proto_ixr_decode_event(&m2, &e2) == 0);
        assert(e2.cause == e.cause && e2.state == e.state && e2.reason == e.reason);
        assert(same(e2.server_name, e.server_name) && same(e2.interaction_id, e.interaction_id));
        assert(same(e2.tenant, e.tenant) && same(e2.media, e.media) && same(e2.queue, e.queue));
        assert(same(e2.from_queue, e.from_queue) && same(e2.agent_id, e.agent_id));
        assert(e2.priority == e.priority && e2.submitted_at == e.submitted_at);
        assert(e2.queued_at == e.queued_at && e2.at == e.at);
        cc_buf_reset(&b2);
        proto_ixr_enc_event(&b2, &e2);
        same_bytes(&b, &b2);
        proto_msg_free(&m2);
    }
    proto_ixr_snapshot_done d, d2;
    rc = proto_ixr_decode_snapshot_done(m, &d);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        cc_buf_reset(&b);
        proto_ixr_enc_snapshot_done(&b, &d);
        reparse(&b, &m2);
        assert(proto_ixr_decode_snapshot_done(&m2, &d2) == 0);
        assert(d2.count == d.count && same(d2.server_name, d.server_name));
        proto_msg_free(&m2);
    }
    cc_buf_free(&b2);
    cc_buf_free(&b);
}

/* Statistics on the StatClient port: a decoded request or value encodes to the same
 * bytes again after a second decode, and every decoded request names a statistic of its
 * object type. */
static void round_trip_statistics(proto_msg *m)
{
    cc_buf b, b2;
    cc_buf_init(&b);
    cc_buf_init(&b2);
    proto_msg m2;
    proto_sts_open o, o2;
    if (proto_sts_decode_open(m, &o) == 0) {
        assert(proto_sts_stat_object((int)o.statistic) == (int)o.type);
        assert(!proto_sts_stat_per_media((int)o.statistic) || o.media);
        proto_sts_enc_open(&b, &o);
        reparse(&b, &m2);
        assert(proto_sts_decode_open(&m2, &o2) == 0);
        assert(o2.statistic_id == o.statistic_id && o2.type == o.type);
        assert(o2.statistic == o.statistic && o2.sliding_s == o.sliding_s);
        assert(o2.every_s == o.every_s && o2.threshold_s == o.threshold_s);
        assert(same(o2.server, o.server) && same(o2.tenant, o.tenant) && same(o2.id, o.id));
        assert(same(o2.media, o.media) && o2.has_reason == o.has_reason);
        assert(!o.has_reason || o2.reason == o.reason);
        proto_sts_enc_open(&b2, &o2);
        same_bytes(&b, &b2);
        proto_msg_free(&m2);
    }
    int64_t id, id2;
    if (proto_sts_decode_close(m, &id) == 0) {
        cc_buf_reset(&b);
        proto_sts_enc_close(&b, id);
        reparse(&b, &m2);
        assert(proto_sts_decode_close(&m2, &id2) == 0 && id2 == id);
        proto_msg_free(&m2);
    }
    proto_sts_event e, e2;
    int rc = proto_sts_decode_event(m, &e);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        cc_buf_reset(&b);
        proto_sts_enc_event(&b, &e);
        reparse(&b, &m2);
        assert(proto_sts_decode_event(&m2, &e2) == 0);
        assert(e2.statistic_id == e.statistic_id && e2.at == e.at);
        assert(proto_sts_value_equal(&e2.value, &e.value));
        cc_buf_reset(&b2);
        proto_sts_enc_event(&b2, &e2);
        same_bytes(&b, &b2);
        proto_msg_free(&m2);
    }
    cc_buf_free(&b2);
    cc_buf_free(&b);
}

static void round_trip_stat_port(proto_msg *m)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m2;
    proto_stat_subscribe s, s2;
    const char *tenants[ROWS_MAX];
    if (proto_stat_decode_subscribe(m, &s) == 0 && s.ntenants <= ROWS_MAX) {
        for (size_t i = 0; i < s.ntenants; i++)
            tenants[i] = proto_stat_tenant(&s, i);
        s.tenants = tenants;
        proto_stat_enc_subscribe(&b, &s);
        reparse(&b, &m2);
        assert(proto_stat_decode_subscribe(&m2, &s2) == 0);
        assert(s2.reporting == s.reporting && s2.all == s.all && s2.ntenants == s.ntenants);
        assert(s2.partitioned == s.partitioned && s2.part_index == s.part_index &&
               s2.part_count == s.part_count);
        for (size_t i = 0; i < s.ntenants; i++)
            assert(same(proto_stat_tenant(&s2, i), tenants[i]));
        proto_msg_free(&m2);
    }
    proto_stat_snapshot_done d, d2;
    int rc = proto_stat_decode_snapshot_done(m, &d);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        cc_buf_reset(&b);
        proto_stat_enc_snapshot_done(&b, &d);
        reparse(&b, &m2);
        assert(proto_stat_decode_snapshot_done(&m2, &d2) == 0);
        assert(d2.agent_state == d.agent_state && d2.count == d.count);
        assert(same(d2.server_name, d.server_name));
        proto_msg_free(&m2);
    }
    proto_stat_mode md, md2;
    rc = proto_stat_decode_mode(m, &md);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        cc_buf_reset(&b);
        proto_stat_enc_mode(&b, &md);
        reparse(&b, &m2);
        assert(proto_stat_decode_mode(&m2, &md2) == 0);
        assert(md2.primary == md.primary && md2.epoch == md.epoch);
        proto_msg_free(&m2);
    }
    proto_stat_agent_req a, a2;
    if (proto_stat_decode_agent_req(m, &a) == 0) {
        cc_buf_reset(&b);
        proto_stat_enc_agent_req(&b, &a);
        reparse(&b, &m2);
        assert(proto_stat_decode_agent_req(&m2, &a2) == 0);
        assert(same(a2.tenant, a.tenant) && same(a2.agent_id, a.agent_id));
        proto_msg_free(&m2);
    }
    size_t n;
    if (proto_stat_decode_servers(m, &n) == 0) {
        proto_stat_server rows[ROWS_MAX], again;
        size_t k = 0;
        cc_buf_reset(&b);
        proto_enc_ack(&b, 1);
        proto_stat_enc_servers_begin(&b);
        for (size_t i = 0; i < n && k < ROWS_MAX; i++)
            if (proto_stat_decode_server_row(m, i, &rows[k]) == 0)
                proto_stat_enc_server_row(&b, &rows[k++]);
        proto_stat_enc_servers_end(&b);
        reparse(&b, &m2);
        size_t n2;
        assert(proto_stat_decode_servers(&m2, &n2) == 0 && n2 == k);
        for (size_t i = 0; i < k; i++) {
            assert(proto_stat_decode_server_row(&m2, i, &again) == 0);
            assert(same(again.name, rows[i].name) && same(again.address, rows[i].address));
            assert(again.connected == rows[i].connected && again.agents == rows[i].agents);
        }
        proto_msg_free(&m2);
    }
    if (proto_stat_decode_queues(m, &n) == 0) {
        proto_stat_queue rows[ROWS_MAX], again;
        size_t k = 0;
        cc_buf_reset(&b);
        proto_enc_ack(&b, 1);
        proto_stat_enc_queues_begin(&b);
        for (size_t i = 0; i < n && k < ROWS_MAX; i++)
            if (proto_stat_decode_queue_row(m, i, &rows[k]) == 0)
                proto_stat_enc_queue_row(&b, &rows[k++]);
        proto_stat_enc_queues_end(&b);
        reparse(&b, &m2);
        size_t n2;
        assert(proto_stat_decode_queues(&m2, &n2) == 0 && n2 == k);
        for (size_t i = 0; i < k; i++) {
            assert(proto_stat_decode_queue_row(&m2, i, &again) == 0);
            assert(same(again.server, rows[i].server) && same(again.tenant, rows[i].tenant));
            assert(same(again.id, rows[i].id) && same(again.media, rows[i].media));
        }
        proto_msg_free(&m2);
    }
    cc_buf_free(&b);
}

static void round_trip_registration(proto_msg *m)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m2;
    proto_reg_register r, r2;
    if (proto_reg_decode_register(m, &r) == 0) {
        proto_reg_enc_register(&b, m->ref, &r);
        reparse(&b, &m2);
        assert(proto_reg_decode_register(&m2, &r2) == 0 && m2.ref == m->ref);
        assert(same(r2.client_name, r.client_name) && same(r2.client_type, r.client_type));
        assert(same(r2.token, r.token));
        proto_msg_free(&m2);
    }
    proto_reg_ack a, a2;
    if (proto_reg_decode_ack(m, &a) == 0) {
        cc_buf_reset(&b);
        proto_enc_ack(&b, 1);
        proto_reg_enc_ack(&b, &a);
        reparse(&b, &m2);
        assert(proto_reg_decode_ack(&m2, &a2) == 0);
        assert(a2.proxy_client_id == a.proxy_client_id && same(a2.server_name, a.server_name));
        assert(a2.protocol_version == a.protocol_version && a2.idle_timeout_s == a.idle_timeout_s);
        proto_msg_free(&m2);
    }
    cc_buf_free(&b);
}

/* The error encoder takes an error of the table and writes its wire name, so only wire
 * codes round-trip, and the name that comes back is the table's. */
static void round_trip_error(proto_msg *m)
{
    proto_error e, e2;
    if (proto_decode_error(m, &e) != 0 || e.code < 1 || e.code > 14)
        return;
    cc_buf b;
    cc_buf_init(&b);
    proto_enc_error(&b, m->ref, (int)-e.code, e.description);
    proto_msg m2;
    reparse(&b, &m2);
    assert(proto_decode_error(&m2, &e2) == 0);
    assert(e2.code == e.code && m2.ref == m->ref);
    assert(same(e2.name, cc_err_wire_name((int)-e.code)));
    assert(same(e2.description, e.description ? e.description : ""));
    proto_msg_free(&m2);
    cc_buf_free(&b);
}

static bool same_sup_reason(const proto_sup_reason *a, const proto_sup_reason *b)
{
    return a->present == b->present && a->code == b->code && same(a->text, b->text);
}

/* The supervisor actions: the four requests and EventSupervisorAction. */
static void round_trip_supervisor(proto_msg *m)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_msg m2;
    proto_sup_request r, r2;
    int rc = proto_sup_decode_request(m, &r);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        proto_sup_enc_request(&b, &r);
        reparse(&b, &m2);
        assert(proto_sup_decode_request(&m2, &r2) == 0);
        assert(r2.action == r.action && same(r2.tenant, r.tenant) &&
               same(r2.agent_id, r.agent_id) && same(r2.media, r.media) &&
               same(r2.interaction_id, r.interaction_id) && same_sup_reason(&r2.reason, &r.reason));
        proto_msg_free(&m2);
    }
    proto_sup_event e, e2;
    rc = proto_sup_decode_event(m, &e);
    assert(rc == 0 || rc == CC_E_NOT_FOUND || rc == CC_E_INVALID_ATTRIBUTE);
    if (rc == 0) {
        cc_buf_reset(&b);
        proto_sup_enc_event(&b, &e);
        reparse(&b, &m2);
        assert(proto_sup_decode_event(&m2, &e2) == 0);
        assert(e2.action == e.action && same(e2.supervisor, e.supervisor) &&
               same(e2.tenant, e.tenant) && same(e2.agent_id, e.agent_id) &&
               same(e2.media, e.media) && same(e2.interaction_id, e.interaction_id) &&
               same_sup_reason(&e2.reason, &e.reason));
        proto_msg_free(&m2);
    }
    proto_sup_query q, q2;
    if (proto_sup_decode_query(m, &q) == 0) {
        cc_buf_reset(&b);
        proto_sup_enc_query(&b, &q);
        reparse(&b, &m2);
        assert(proto_sup_decode_query(&m2, &q2) == 0);
        assert(same(q2.tenant, q.tenant) && same(q2.agent_id, q.agent_id));
        proto_msg_free(&m2);
    }
    proto_sup_held rows[4], rows2[4];
    const char *tenant, *agent, *tenant2, *agent2;
    size_t n, n2;
    if (proto_sup_decode_held(m, &tenant, &agent, rows, 4, &n) == 0) {
        cc_buf_reset(&b);
        proto_enc_ack(&b, 1);
        proto_sup_enc_held_begin(&b, tenant, agent);
        for (size_t i = 0; i < n; i++)
            proto_sup_enc_held_row(&b, i == 0, &rows[i]);
        proto_sup_enc_held_end(&b);
        reparse(&b, &m2);
        assert(proto_sup_decode_held(&m2, &tenant2, &agent2, rows2, 4, &n2) == 0);
        assert(n2 == n && same(tenant2, tenant) && same(agent2, agent));
        for (size_t i = 0; i < n; i++)
            assert(same(rows2[i].interaction_id, rows[i].interaction_id) &&
                   same(rows2[i].media, rows[i].media) && same(rows2[i].queue, rows[i].queue) &&
                   same(rows2[i].state, rows[i].state));
        proto_msg_free(&m2);
    }
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

    round_trip_agent_state(&m, media);
    proto_agent_status st;
    if (proto_decode_status(&m, media, false, &st) == 0)
        round_trip_status(&st, media);
    if (proto_decode_status(&m, media, true, &st) == 0)
        round_trip_status(&st, media);
    round_trip_reservations(&m);
    round_trip_invite(&m);
    round_trip_ixn_messages(&m);
    round_trip_queues(&m);
    round_trip_agent_requests(&m);
    round_trip_routing(&m);
    round_trip_stat_port(&m);
    round_trip_ixn_reporting(&m);
    round_trip_statistics(&m);
    round_trip_registration(&m);
    round_trip_supervisor(&m);
    round_trip_error(&m);
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

/* Unit tests of the supervisor messages (src/proto/supmsg.c): the four requests with the
 * fields each takes, reasons as an object (ForceNotReady) or text (the others), the field
 * errors that name the field, and EventSupervisorAction both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "proto/msg.h"
#include "proto/supmsg.h"

static int parse(proto_msg *m, const char *line)
{
    return proto_msg_parse(m, line, strlen(line));
}

/* Encodes r, closes the message and decodes it again into out (m2 holds its strings). */
static void again(const proto_sup_request *r, proto_msg *m2, proto_sup_request *out, cc_buf *b)
{
    cc_buf_reset(b);
    proto_sup_enc_request(b, r);
    cc_buf_puts(b, "}");
    assert_int_equal(proto_msg_parse(m2, b->data, b->len), 0);
    assert_int_equal(proto_sup_decode_request(m2, out), 0);
}

static void test_requests(void **state)
{
    (void)state;
    proto_msg m, m2;
    proto_sup_request r, r2;
    cc_buf b;
    cc_buf_init(&b);

    assert_int_equal(parse(&m, "{\"message\":\"RequestForceNotReady\",\"referenceId\":1,"
                               "\"agentId\":\"1001\",\"media\":\"chat\",\"reason\":{\"code\":7,"
                               "\"description\":\"Coaching\"}}"),
                     0);
    assert_int_equal(proto_sup_decode_request(&m, &r), 0);
    assert_int_equal(r.action, PROTO_SUP_FORCE_NOT_READY);
    assert_null(r.tenant);
    assert_string_equal(r.agent_id, "1001");
    assert_string_equal(r.media, "chat");
    assert_true(r.reason.present);
    assert_int_equal(r.reason.code, 7);
    assert_string_equal(r.reason.text, "Coaching");
    again(&r, &m2, &r2, &b);
    assert_string_equal(r2.agent_id, "1001");
    assert_int_equal(r2.reason.code, 7);
    assert_string_equal(r2.reason.text, "Coaching");
    proto_msg_free(&m2);
    proto_msg_free(&m);

    assert_int_equal(parse(&m,
                           "{\"message\":\"RequestReassign\",\"referenceId\":2,\"tenant\":"
                           "\"acme\",\"agentId\":\"1002\",\"interactionId\":\"ixn-a:000000001\","
                           "\"reason\":\"VIP\"}"),
                     0);
    assert_int_equal(proto_sup_decode_request(&m, &r), 0);
    assert_int_equal(r.action, PROTO_SUP_REASSIGN);
    assert_string_equal(r.tenant, "acme");
    assert_string_equal(r.interaction_id, "ixn-a:000000001");
    assert_string_equal(r.reason.text, "VIP");
    assert_null(r.media);
    again(&r, &m2, &r2, &b);
    assert_string_equal(r2.tenant, "acme");
    assert_string_equal(r2.agent_id, "1002");
    assert_string_equal(r2.interaction_id, "ixn-a:000000001");
    assert_string_equal(r2.reason.text, "VIP");
    proto_msg_free(&m2);
    proto_msg_free(&m);

    /* A revoke takes no agent; a logout takes no interaction. */
    assert_int_equal(parse(&m, "{\"message\":\"RequestRevokeInteraction\",\"referenceId\":3,"
                               "\"interactionId\":\"ixn-a:000000002\"}"),
                     0);
    assert_int_equal(proto_sup_decode_request(&m, &r), 0);
    assert_null(r.agent_id);
    assert_false(r.reason.present);
    proto_msg_free(&m);

    struct {
        const char *line, *field;
    } bad[] = {
        {"{\"message\":\"RequestForceNotReady\",\"referenceId\":1,\"agentId\":\"1\"}", "media"},
        {"{\"message\":\"RequestForceNotReady\",\"referenceId\":1,\"agentId\":\"1\",\"media\":"
         "\"Chat\"}",
         "media"},
        {"{\"message\":\"RequestForceNotReady\",\"referenceId\":1,\"agentId\":\"1\",\"media\":"
         "\"chat\","
         "\"reason\":\"x\"}",
         "reason"},
        {"{\"message\":\"RequestForceLogout\",\"referenceId\":1}", "agentId"},
        {"{\"message\":\"RequestForceLogout\",\"referenceId\":1,\"agentId\":\"1\",\"tenant\":5}",
         "tenant"},
        {"{\"message\":\"RequestRevokeInteraction\",\"referenceId\":1,\"interactionId\":\"\"}",
         "interactionId"},
        {"{\"message\":\"RequestReassign\",\"referenceId\":1,\"interactionId\":\"x\"}", "agentId"},
        {"{\"message\":\"RequestReassign\",\"referenceId\":1,\"interactionId\":\"x\",\"agentId\":"
         "\"1\",\"reason\":{}}",
         "reason"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(&m, bad[i].line), 0);
        assert_int_equal(proto_sup_decode_request(&m, &r), CC_E_INVALID_ATTRIBUTE);
        assert_non_null(strstr(m.desc, bad[i].field));
        proto_msg_free(&m);
    }
    assert_int_equal(parse(&m, "{\"message\":\"RequestAccept\",\"referenceId\":1}"), 0);
    assert_int_equal(proto_sup_decode_request(&m, &r), CC_E_NOT_FOUND);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

static void test_event(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_sup_event e = {.action = PROTO_SUP_FORCE_NOT_READY,
                         .supervisor = "sup-1",
                         .tenant = "acme",
                         .agent_id = "1001",
                         .media = "chat",
                         .reason = {.present = true, .code = 3, .text = "Lunch"}};
    proto_sup_enc_event(&b, &e);
    cc_buf_puts(&b, ",\"seq\":4}");
    proto_msg m;
    assert_int_equal(proto_msg_parse(&m, b.data, b.len), 0);
    assert_string_equal(m.name, "EventSupervisorAction");
    proto_sup_event d;
    assert_int_equal(proto_sup_decode_event(&m, &d), 0);
    assert_int_equal(d.action, PROTO_SUP_FORCE_NOT_READY);
    assert_string_equal(d.supervisor, "sup-1");
    assert_string_equal(d.tenant, "acme");
    assert_string_equal(d.agent_id, "1001");
    assert_string_equal(d.media, "chat");
    assert_null(d.interaction_id);
    assert_int_equal(d.reason.code, 3);
    assert_string_equal(d.reason.text, "Lunch");
    proto_msg_free(&m);

    cc_buf_reset(&b);
    e = (proto_sup_event){.action = PROTO_SUP_REVOKE,
                          .supervisor = "sup-1",
                          .tenant = "acme",
                          .agent_id = "1001",
                          .interaction_id = "ixn-a:000000009"};
    proto_sup_enc_event(&b, &e);
    cc_buf_puts(&b, "}");
    assert_non_null(strstr(b.data, "\"action\":\"RevokeInteraction\""));
    assert_null(strstr(b.data, "reason"));
    assert_int_equal(proto_msg_parse(&m, b.data, b.len), 0);
    assert_int_equal(proto_sup_decode_event(&m, &d), 0);
    assert_string_equal(d.interaction_id, "ixn-a:000000009");
    assert_false(d.reason.present);
    proto_msg_free(&m);

    assert_int_equal(parse(&m, "{\"message\":\"EventSupervisorAction\",\"action\":\"Nap\","
                               "\"supervisor\":\"s\",\"tenant\":\"t\",\"agentId\":\"a\"}"),
                     0);
    assert_int_equal(proto_sup_decode_event(&m, &d), CC_E_INVALID_ATTRIBUTE);
    proto_msg_free(&m);
    cc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the terminal desktop's pure parts: command parsing and encoding
 * (desk_cmd) and the formatting of statuses, errors and events (desk_view). The desk is
 * a program, not a library, so its modules are compiled into this test directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/desk/desk_cmd.c"
#include "../../src/desk/desk_view.c"

#include "common/err.h"

/* Parses s; returns the code and leaves the command in *cmd and the message in err. */
static int parse(const char *s, desk_cmd *cmd, char *err, size_t errlen)
{
    return desk_cmd_parse(s, strlen(s), cmd, err, errlen);
}

/* Encodes a parsed command and closes the open message so it can be compared. */
static void encode_closed(const desk_cmd *cmd, cc_buf *b)
{
    cc_buf_reset(b);
    desk_cmd_encode(cmd, b);
    cc_buf_putc(b, '}');
}

static void test_parse_empty_and_comments(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    assert_int_equal(parse("", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_EMPTY);
    assert_int_equal(parse("   \t ", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_EMPTY);
    assert_int_equal(parse("# a comment: ready chat", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_EMPTY);
    assert_int_equal(parse("\r\n", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_EMPTY);
    assert_false(desk_cmd_is_request(&cmd));
}

static void test_parse_media_commands(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    cc_buf b;
    cc_buf_init(&b);

    assert_int_equal(parse("ready chat", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_READY);
    assert_string_equal(cmd.media, "chat");
    assert_true(desk_cmd_is_request(&cmd));
    encode_closed(&cmd, &b);
    assert_string_equal(b.data,
                        "{\"message\":\"RequestCancelNotReadyForMedia\",\"media\":\"chat\"}");

    assert_int_equal(parse("  add   voice  \r\n", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_ADD);
    encode_closed(&cmd, &b);
    assert_string_equal(b.data,
                        "{\"message\":\"RequestAddMedia\",\"media\":\"voice\",\"ready\":0}");

    assert_int_equal(parse("remove e-mail_2", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_REMOVE);
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestRemoveMedia\",\"media\":\"e-mail_2\"}");

    /* A name of the longest allowed length, 32 bytes, and one byte more. */
    assert_int_equal(parse("ready abcdefghijklmnopqrstuvwxyz012345", &cmd, err, sizeof err), 0);
    assert_string_equal(cmd.media, "abcdefghijklmnopqrstuvwxyz012345");
    assert_int_equal(parse("ready abcdefghijklmnopqrstuvwxyz0123456", &cmd, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    cc_buf_free(&b);
}

static void test_parse_media_validation(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    static const char *const bad[] = {
        "ready Chat", "ready 1chat",     "ready _chat",   "ready ch.at",
        "add ch@t",   "remove -x",       "notready CHAT", "ready",
        "add",        "remove",          "notready",      "ready chat email",
        "add chat 1", "remove chat now",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(parse(bad[i], &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(parse("ready Chat", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(err, "invalid media name \"Chat\""));
    assert_int_equal(parse("ready", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_string_equal(err, "usage: ready MEDIA");
}

static void test_parse_notready(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    cc_buf b;
    cc_buf_init(&b);

    assert_int_equal(parse("notready chat", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_NOTREADY);
    assert_false(cmd.has_code);
    assert_false(cmd.has_text);
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestNotReadyForMedia\",\"media\":\"chat\"}");

    assert_int_equal(parse("notready chat 2", &cmd, err, sizeof err), 0);
    assert_true(cmd.has_code);
    assert_int_equal(cmd.code, 2);
    assert_false(cmd.has_text);
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestNotReadyForMedia\",\"media\":\"chat\","
                                "\"reason\":{\"code\":2}}");

    assert_int_equal(parse("notready email 3   Lunch \"break\"  ", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.code, 3);
    assert_true(cmd.has_text);
    assert_string_equal(cmd.text, "Lunch \"break\"");
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestNotReadyForMedia\",\"media\":\"email\","
                                "\"reason\":{\"code\":3,\"description\":\"Lunch \\\"break\\\"\"}}");

    /* Code numbers: digits only, 0..2147483647. */
    assert_int_equal(parse("notready chat 0", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.code, 0);
    assert_int_equal(parse("notready chat 2147483647", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.code, 2147483647);
    static const char *const bad_codes[] = {
        "notready chat 2147483648", "notready chat -1",    "notready chat +1",
        "notready chat 1x",         "notready chat Lunch", "notready chat 99999999999999",
        "notready chat 0x10",
    };
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        assert_int_equal(parse(bad_codes[i], &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
        assert_non_null(strstr(err, "reason code"));
    }

    /* Reason text: at most PROTO_TEXT_MAX bytes. */
    char line[DESK_CMD_LINE_MAX + 1];
    int n = snprintf(line, sizeof line, "notready chat 1 ");
    memset(line + n, 'x', PROTO_TEXT_MAX);
    line[n + PROTO_TEXT_MAX] = '\0';
    assert_int_equal(parse(line, &cmd, err, sizeof err), 0);
    assert_int_equal(strlen(cmd.text), PROTO_TEXT_MAX);
    line[n + PROTO_TEXT_MAX] = 'x';
    line[n + PROTO_TEXT_MAX + 1] = '\0';
    assert_int_equal(parse(line, &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(err, "longer than"));
    cc_buf_free(&b);
}

static void test_parse_dnd_and_bare(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    cc_buf b;
    cc_buf_init(&b);

    assert_int_equal(parse("dnd on", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_DND_ON);
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestDoNotDisturbOn\"}");
    assert_int_equal(parse("dnd off", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_DND_OFF);
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestDoNotDisturbOff\"}");
    assert_int_equal(parse("dnd", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_string_equal(err, "usage: dnd on|off");
    assert_int_equal(parse("dnd maybe", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(parse("dnd on now", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);

    assert_int_equal(parse("logout", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_LOGOUT);
    assert_true(desk_cmd_is_request(&cmd));
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestAgentLogout\"}");

    static const struct {
        const char *line;
        enum desk_cmd_kind kind;
    } local[] = {
        {"status", DESK_CMD_STATUS},   {"help", DESK_CMD_HELP},
        {"quit", DESK_CMD_QUIT},       {"wait-status", DESK_CMD_WAIT_STATUS},
        {" status ", DESK_CMD_STATUS},
    };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        assert_int_equal(parse(local[i].line, &cmd, err, sizeof err), 0);
        assert_int_equal(cmd.kind, local[i].kind);
        assert_false(desk_cmd_is_request(&cmd));
        assert_null(desk_cmd_message(&cmd));
    }
    assert_int_equal(parse("status now", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(parse("quit 1", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(parse("help me", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(desk_cmd_help(), "notready MEDIA [CODE [TEXT]]"));
    cc_buf_free(&b);
}

static void test_parse_sleep(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    assert_int_equal(parse("sleep 250", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_SLEEP);
    assert_int_equal(cmd.sleep_ms, 250);
    assert_int_equal(parse("sleep 0", &cmd, err, sizeof err), 0);
    assert_int_equal(parse("sleep 60000", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.sleep_ms, 60000);
    assert_int_equal(parse("sleep 60001", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(parse("sleep", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(parse("sleep -5", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(parse("sleep 1s", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(parse("sleep 1 2", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
}

static void test_parse_bad_lines(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    assert_int_equal(parse("bogus", &cmd, err, sizeof err), CC_E_UNKNOWN_MESSAGE);
    assert_string_equal(err, "unknown command \"bogus\"; type help for the list");
    assert_int_equal(parse("READY chat", &cmd, err, sizeof err), CC_E_UNKNOWN_MESSAGE);
    assert_int_equal(parse("ready\x1b[2Jchat", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_string_equal(err, "line contains control characters");
    /* An embedded NUL is a control character too. */
    assert_int_equal(desk_cmd_parse("ready c\0hat", 11, &cmd, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);

    char line[DESK_CMD_LINE_MAX + 2];
    memset(line, ' ', sizeof line);
    memcpy(line, "status", 6);
    assert_int_equal(desk_cmd_parse(line, DESK_CMD_LINE_MAX, &cmd, err, sizeof err), 0);
    assert_int_equal(desk_cmd_parse(line, DESK_CMD_LINE_MAX + 1, &cmd, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(err, "longer than"));

    /* A tiny error buffer is never overrun. */
    char tiny[8];
    assert_int_equal(parse("bogus", &cmd, tiny, sizeof tiny), CC_E_UNKNOWN_MESSAGE);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void test_media_list(void **state)
{
    (void)state;
    desk_media_list l;
    char err[256];
    assert_int_equal(desk_media_list_parse("", &l, err, sizeof err), 0);
    assert_int_equal(l.count, 0);
    assert_int_equal(desk_media_list_parse("voice,chat, email ", &l, err, sizeof err), 0);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.names[0], "voice");
    assert_string_equal(l.names[1], "chat");
    assert_string_equal(l.names[2], "email");
    assert_false(l.ready[0] || l.ready[1] || l.ready[2]);
    assert_int_equal(desk_media_list_parse("voice,,chat", &l, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(desk_media_list_parse("voice,Chat", &l, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(desk_media_list_parse("voice,chat,voice", &l, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(desk_media_list_parse("chat,", &l, err, sizeof err), CC_E_INVALID_ATTRIBUTE);

    cc_buf many;
    cc_buf_init(&many);
    for (int i = 0; i < CC_MEDIA_MAX; i++)
        cc_buf_printf(&many, "%sm%d", i ? "," : "", i);
    assert_int_equal(desk_media_list_parse(many.data, &l, err, sizeof err), 0);
    assert_int_equal(l.count, CC_MEDIA_MAX);
    cc_buf_puts(&many, ",one-more");
    assert_int_equal(desk_media_list_parse(many.data, &l, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    cc_buf_free(&many);
}

static void test_login_encoding(void **state)
{
    (void)state;
    desk_media_list l;
    char err[256];
    assert_int_equal(desk_media_list_parse("voice,chat", &l, err, sizeof err), 0);
    desk_login login = {.tenant = "Resources",
                        .agent_id = "1001",
                        .place_id = "P1001",
                        .password = "p\"w",
                        .media = &l};
    cc_buf b;
    cc_buf_init(&b);
    desk_cmd_encode_login(&login, &b);
    cc_buf_putc(&b, '}');
    assert_string_equal(b.data, "{\"message\":\"RequestAgentLogin\",\"tenant\":\"Resources\","
                                "\"agentId\":\"1001\",\"placeId\":\"P1001\",\"password\":"
                                "\"p\\\"w\",\"mediaList\":{\"voice\":0,\"chat\":0}}");
    desk_media_list none;
    assert_int_equal(desk_media_list_parse("", &none, err, sizeof err), 0);
    login.media = &none;
    cc_buf_reset(&b);
    desk_cmd_encode_login(&login, &b);
    cc_buf_putc(&b, '}');
    assert_non_null(strstr(b.data, "\"mediaList\":{}}"));
    cc_buf_free(&b);

    assert_true(desk_id_valid("1001"));
    assert_false(desk_id_valid(""));
    assert_false(desk_id_valid("a\tb"));
    char longid[PROTO_ID_MAX + 2];
    memset(longid, 'a', sizeof longid);
    longid[PROTO_ID_MAX] = '\0';
    assert_true(desk_id_valid(longid));
    longid[PROTO_ID_MAX] = 'a';
    longid[PROTO_ID_MAX + 1] = '\0';
    assert_false(desk_id_valid(longid));
}

/* Decodes a status line the way the desk does. */
static void decode(const char *line, proto_msg *msg, cc_media_table *media, proto_agent_status *st)
{
    assert_int_equal(proto_msg_parse(msg, line, strlen(line)), 0);
    assert_int_equal(proto_decode_status(msg, media, true, st), 0);
}

static void test_status_table(void **state)
{
    (void)state;
    cc_media_table media;
    cc_media_init(&media);
    proto_msg msg;
    proto_agent_status st;
    decode("{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"Resources\",\"agentId\":\"1001\","
           "\"placeId\":\"P1001\",\"version\":42,\"rule\":\"Blended\",\"loggedIn\":true,"
           "\"dnd\":false,\"media\":{\"email\":{\"ready\":false,\"current\":0,\"max\":1,"
           "\"available\":0},\"chat\":{\"ready\":true,\"current\":1,\"max\":3,\"available\":2}},"
           "\"seq\":7}",
           &msg, &media, &st);
    cc_buf b;
    cc_buf_init(&b);
    desk_view_status(&b, &st, &media);
    /* Rows are sorted by name although email was interned first. */
    assert_string_equal(
        b.data, "agent 1001 tenant Resources place P1001 rule Blended dnd off loggedIn yes\n"
                "  media  ready  current      max  available\n"
                "  chat   yes          1        3          2\n"
                "  email  no           0        1          0\n");
    proto_msg_free(&msg);

    /* A long media name widens the first column; absent place and rule show "-". */
    decode("{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"7\","
           "\"loggedIn\":true,\"dnd\":true,\"media\":{\"video-conference\":{\"ready\":true,"
           "\"current\":12,\"max\":1000000,\"available\":0}}}",
           &msg, &media, &st);
    cc_buf_reset(&b);
    desk_view_status(&b, &st, &media);
    assert_string_equal(b.data, "agent 7 tenant T place - rule - dnd on loggedIn yes\n"
                                "  media             ready  current      max  available\n"
                                "  video-conference  yes         12  1000000          0\n");
    proto_msg_free(&msg);

    /* A logged-out agent with no media. */
    decode("{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"7\","
           "\"loggedIn\":false,\"media\":{}}",
           &msg, &media, &st);
    cc_buf_reset(&b);
    desk_view_status(&b, &st, &media);
    assert_string_equal(b.data, "agent 7 tenant T place - rule - dnd off loggedIn no\n"
                                "  (no media)\n");
    proto_msg_free(&msg);

    /* Control characters from the server never reach the terminal. */
    decode("{\"message\":\"EventCurrentAgentStatus\",\"tenant\":\"T\",\"agentId\":\"7\","
           "\"rule\":\"R\\u001b[2J\",\"media\":{}}",
           &msg, &media, &st);
    cc_buf_reset(&b);
    desk_view_status(&b, &st, &media);
    assert_non_null(strstr(b.data, "rule R?[2J "));
    assert_null(strchr(b.data, '\x1b'));
    proto_msg_free(&msg);
    cc_buf_free(&b);
}

static void test_error_words(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    desk_view_error(&b, 6, "AgentNotLoggedIn", "no agent is logged in on this connection");
    assert_string_equal(b.data,
                        "error: AgentNotLoggedIn (6): no agent is logged in on this connection\n");
    cc_buf_reset(&b);
    desk_view_error(&b, 8, NULL, NULL);
    assert_string_equal(b.data, "error: UnknownMedia (8)\n");
    cc_buf_reset(&b);
    desk_view_error(&b, 99, "", "");
    assert_string_equal(b.data, "error: Unknown (99)\n");
    cc_buf_reset(&b);

    /* Every wire code has its name. */
    for (int code = 1; code <= 14; code++) {
        cc_buf_reset(&b);
        desk_view_error(&b, code, NULL, "x");
        char want[96];
        snprintf(want, sizeof want, "error: %s (%d): x\n", cc_err_name(-code), code);
        assert_string_equal(b.data, want);
    }

    proto_msg msg;
    const char *line =
        "{\"message\":\"EventError\",\"referenceId\":3,\"errorCode\":10,"
        "\"errorName\":\"InvalidState\",\"errorDescription\":\"holds\\ninteractions\","
        "\"seq\":4}";
    assert_int_equal(proto_msg_parse(&msg, line, strlen(line)), 0);
    cc_buf_reset(&b);
    desk_view_error_msg(&b, &msg);
    assert_string_equal(b.data, "error: InvalidState (10): holds?interactions\n");
    proto_msg_free(&msg);

    cc_buf_reset(&b);
    desk_view_local_error(&b, "not connected");
    assert_string_equal(b.data, "error: not connected\n");
    cc_buf_reset(&b);
    desk_view_ok(&b);
    assert_string_equal(b.data, "ok\n");
    cc_buf_free(&b);
}

static void test_event_line(void **state)
{
    (void)state;
    proto_msg msg;
    const char *line =
        "{\"message\":\"EventInvite\",\"interactionId\":\"ixn-a:1\",\"media\":\"chat\","
        "\"timeoutSec\":20,\"userData\":{\"a\":1},\"tags\":[1],\"x\":true,"
        "\"y\":null,\"seq\":9}";
    assert_int_equal(proto_msg_parse(&msg, line, strlen(line)), 0);
    cc_buf b;
    cc_buf_init(&b);
    desk_view_event(&b, &msg);
    assert_string_equal(b.data, "event: EventInvite interactionId=ixn-a:1 media=chat timeoutSec=20 "
                                "userData={...} tags=[...] x=true y=null\n");
    proto_msg_free(&msg);
    cc_buf_free(&b);
}

static void test_text_cut(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    desk_view_text(&b, "abcdef", 3);
    assert_string_equal(b.data, "abc...");
    cc_buf_reset(&b);
    desk_view_text(&b, NULL, 3);
    assert_string_equal(b.data, "-");
    cc_buf_reset(&b);
    desk_view_text(&b, "a\x7f\tb", 10);
    assert_string_equal(b.data, "a??b");
    cc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_empty_and_comments),
        cmocka_unit_test(test_parse_media_commands),
        cmocka_unit_test(test_parse_media_validation),
        cmocka_unit_test(test_parse_notready),
        cmocka_unit_test(test_parse_dnd_and_bare),
        cmocka_unit_test(test_parse_sleep),
        cmocka_unit_test(test_parse_bad_lines),
        cmocka_unit_test(test_media_list),
        cmocka_unit_test(test_login_encoding),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_error_words),
        cmocka_unit_test(test_event_line),
        cmocka_unit_test(test_text_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the terminal desktop's pure parts: command parsing and encoding
 * (desk_cmd), the formatting of statuses, errors, events and answers (desk_view) and the
 * interactions the desk tracks (desk_ixn). The desk is
 * a program, not a library, so its modules are compiled into this test directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/desk/desk_cmd.c"
#include "../../src/desk/desk_view.c"
#include "../../src/desk/desk_ixn.c"

#include "common/err.h"
#include "proto/agentreq.h"

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

/* The login list follows acknowledged media commands, for the re-login after a lost
 * connection. */
static void test_media_list_follows_commands(void **state)
{
    (void)state;
    desk_media_list l;
    char err[128];
    assert_int_equal(desk_media_list_parse("voice,chat", &l, err, sizeof err), 0);
    desk_media_list_set(&l, "chat", true);
    assert_int_equal(l.count, 2);
    assert_true(l.ready[1]);
    assert_false(l.ready[0]);
    desk_media_list_set(&l, "email", false);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.names[2], "email");
    assert_false(l.ready[2]);
    desk_media_list_remove(&l, "voice");
    assert_int_equal(l.count, 2);
    assert_string_equal(l.names[0], "chat");
    assert_true(l.ready[0]);
    assert_string_equal(l.names[1], "email");
    desk_media_list_remove(&l, "sms");
    assert_int_equal(l.count, 2);
    for (int i = 0; i < CC_MEDIA_MAX + 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        desk_media_list_set(&l, name, true);
    }
    assert_int_equal(l.count, CC_MEDIA_MAX);
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

static void test_parse_ixn_commands(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    cc_buf b;
    cc_buf_init(&b);

    assert_int_equal(parse("accept ixn-a:000000017", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_ACCEPT);
    assert_true(desk_cmd_has_ixn(&cmd));
    assert_true(desk_cmd_is_request(&cmd));
    assert_string_equal(cmd.ixn_arg, "ixn-a:000000017");
    assert_string_equal(cmd.ixn_id, "ixn-a:000000017");
    encode_closed(&cmd, &b);
    assert_string_equal(b.data,
                        "{\"message\":\"RequestAccept\",\"interactionId\":\"ixn-a:000000017\"}");

    /* The desk encodes the resolved id, not what was typed. */
    assert_int_equal(parse("done 17", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_DONE);
    strcpy(cmd.ixn_id, "ixn-a:000000017");
    encode_closed(&cmd, &b);
    assert_string_equal(
        b.data, "{\"message\":\"RequestStopProcessing\",\"interactionId\":\"ixn-a:000000017\"}");

    assert_int_equal(parse("complete last", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_COMPLETE);
    assert_string_equal(cmd.ixn_arg, "last");
    encode_closed(&cmd, &b);
    assert_string_equal(b.data,
                        "{\"message\":\"RequestCompleteAfterWork\",\"interactionId\":\"last\"}");

    assert_int_equal(parse("reject x:1", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_REJECT);
    assert_false(cmd.has_text);
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestReject\",\"interactionId\":\"x:1\"}");
    assert_int_equal(parse("reject x:1   busy with \"another\"  ", &cmd, err, sizeof err), 0);
    assert_true(cmd.has_text);
    assert_string_equal(cmd.text, "busy with \"another\"");
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestReject\",\"interactionId\":\"x:1\","
                                "\"reason\":\"busy with \\\"another\\\"\"}");

    assert_int_equal(parse("transfer 5 chat-support", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_TRANSFER);
    assert_string_equal(cmd.queue, "chat-support");
    strcpy(cmd.ixn_id, "ixn-a:000000005");
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestPlaceInQueue\",\"interactionId\":"
                                "\"ixn-a:000000005\",\"queue\":\"chat-support\"}");

    assert_int_equal(parse("queues", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_QUEUES);
    assert_false(desk_cmd_has_ixn(&cmd));
    encode_closed(&cmd, &b);
    assert_string_equal(b.data, "{\"message\":\"RequestQueueStatus\"}");

    assert_int_equal(parse("list", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_LIST);
    assert_false(desk_cmd_is_request(&cmd));
    assert_int_equal(parse("wait-invite", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_WAIT_INVITE);
    assert_false(desk_cmd_is_request(&cmd));

    static const struct {
        const char *line;
        const char *err;
    } bad[] = {
        {"accept", "usage: accept ID"},
        {"accept a b", "usage: accept ID"},
        {"done", "usage: done ID"},
        {"done 1 2", "usage: done ID"},
        {"complete", "usage: complete ID"},
        {"reject", "usage: reject ID [REASON]"},
        {"transfer 1", "usage: transfer ID QUEUE"},
        {"transfer 1 q extra", "usage: transfer ID QUEUE"},
        {"list all", "usage: list"},
        {"queues now", "usage: queues"},
        {"wait-invite 5", "usage: wait-invite"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i].line, &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
        assert_string_equal(err, bad[i].err);
    }

    /* Ids and queues are at most PROTO_ID_MAX bytes; a reason at most PROTO_TEXT_MAX. */
    char line[DESK_CMD_LINE_MAX + 1];
    int n = snprintf(line, sizeof line, "accept ");
    memset(line + n, 'i', PROTO_ID_MAX);
    line[n + PROTO_ID_MAX] = '\0';
    assert_int_equal(parse(line, &cmd, err, sizeof err), 0);
    line[n + PROTO_ID_MAX] = 'i';
    line[n + PROTO_ID_MAX + 1] = '\0';
    assert_int_equal(parse(line, &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_string_equal(err, "an interaction id is longer than 128 bytes");
    n = snprintf(line, sizeof line, "transfer 1 ");
    memset(line + n, 'q', PROTO_ID_MAX + 1);
    line[n + PROTO_ID_MAX + 1] = '\0';
    assert_int_equal(parse(line, &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_string_equal(err, "a queue name is longer than 128 bytes");
    n = snprintf(line, sizeof line, "reject 1 ");
    memset(line + n, 'r', PROTO_TEXT_MAX + 1);
    line[n + PROTO_TEXT_MAX + 1] = '\0';
    assert_int_equal(parse(line, &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(err, "reason text is longer than"));
    line[n + PROTO_TEXT_MAX] = '\0';
    assert_int_equal(parse(line, &cmd, err, sizeof err), 0);
    assert_int_equal(strlen(cmd.text), PROTO_TEXT_MAX);

    assert_non_null(strstr(desk_cmd_help(), "transfer ID QUEUE"));
    assert_non_null(strstr(desk_cmd_help(), "wait-invite"));
    cc_buf_free(&b);
}

static void test_ixn_table(void **state)
{
    (void)state;
    static desk_ixn_table t;
    desk_ixn_init(&t);
    char id[PROTO_ID_MAX + 1];
    char err[512];

    /* Nothing yet: last is an error, a number becomes SERVER:NNNNNNNNN. */
    assert_int_equal(desk_ixn_resolve(&t, "last", "ixn-a", id, sizeof id, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(err, "no invite"));
    assert_int_equal(desk_ixn_resolve(&t, "17", "ixn-a", id, sizeof id, err, sizeof err), 0);
    assert_string_equal(id, "ixn-a:000000017");
    assert_int_equal(desk_ixn_resolve(&t, "17", "", id, sizeof id, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(desk_ixn_resolve(&t, "1234567890", "ixn-a", id, sizeof id, err, sizeof err),
                     0);
    assert_string_equal(id, "ixn-a:1234567890");
    assert_int_equal(
        desk_ixn_resolve(&t, "1234567890123456789", "ixn-a", id, sizeof id, err, sizeof err),
        CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(desk_ixn_resolve(&t, "other:5", "ixn-a", id, sizeof id, err, sizeof err), 0);
    assert_string_equal(id, "other:5");

    assert_int_equal(desk_ixn_invited(&t, "ixn-a:000000017", "chat", "chat-sales", 1000000), 0);
    assert_int_equal(desk_ixn_invited(&t, "ixn-a:000000018", "email", "mail", 2000000), 0);
    assert_int_equal(t.count, 2);
    assert_string_equal(t.last, "ixn-a:000000018");
    assert_int_equal(desk_ixn_resolve(&t, "last", "ixn-a", id, sizeof id, err, sizeof err), 0);
    assert_string_equal(id, "ixn-a:000000018");
    /* A number suffix, with or without leading zeros. */
    assert_int_equal(desk_ixn_resolve(&t, "17", "zzz", id, sizeof id, err, sizeof err), 0);
    assert_string_equal(id, "ixn-a:000000017");
    assert_int_equal(desk_ixn_resolve(&t, "000018", "zzz", id, sizeof id, err, sizeof err), 0);
    assert_string_equal(id, "ixn-a:000000018");

    /* Two held interactions with the same number (from two servers) are ambiguous. */
    assert_int_equal(desk_ixn_invited(&t, "ixn-b:000000017", "chat", "chat-sales", 3000000), 0);
    assert_int_equal(desk_ixn_resolve(&t, "17", "ixn-a", id, sizeof id, err, sizeof err),
                     CC_E_INVALID_ATTRIBUTE);
    assert_non_null(strstr(err, "17 is ambiguous: it matches 2 interactions (ixn-a:000000017, "
                                "ixn-b:000000017)"));
    assert_int_equal(
        desk_ixn_resolve(&t, "ixn-b:000000017", "ixn-a", id, sizeof id, err, sizeof err), 0);
    assert_true(desk_ixn_remove(&t, "ixn-b:000000017"));
    assert_false(desk_ixn_remove(&t, "ixn-b:000000017"));

    /* States, and the list with ages. */
    assert_true(desk_ixn_set_state(&t, "ixn-a:000000017", CC_IXN_HANDLING));
    assert_true(desk_ixn_set_state(&t, "ixn-a:000000018", CC_IXN_AFTER_WORK));
    assert_false(desk_ixn_set_state(&t, "ixn-a:000000019", CC_IXN_HANDLING));
    cc_buf b;
    cc_buf_init(&b);
    desk_ixn_format_list(&b, &t, 13500000);
    assert_string_equal(b.data, "  interaction      media  queue       state      age\n"
                                "  ixn-a:000000017  chat   chat-sales  Handling   12 s\n"
                                "  ixn-a:000000018  email  mail        AfterWork  11 s\n");

    /* Offered again after a revoke: Invited, at the end, its age from the new invite. */
    assert_int_equal(desk_ixn_invited(&t, "ixn-a:000000017", "chat", "chat-sales", 13000000), 0);
    assert_int_equal(t.count, 2);
    assert_string_equal(t.items[1].id, "ixn-a:000000017");
    assert_int_equal(t.items[1].state, CC_IXN_INVITED);
    assert_string_equal(cc_ixn_state_name(t.items[1].state), "Invited");

    /* Clearing keeps last for `accept last`. */
    desk_ixn_clear(&t);
    cc_buf_reset(&b);
    desk_ixn_format_list(&b, &t, 0);
    assert_string_equal(b.data, "no interactions\n");
    assert_string_equal(t.last, "ixn-a:000000017");

    /* Bad fields are refused; a full table still records the newest invite. */
    assert_int_equal(desk_ixn_invited(&t, "", "chat", "q", 0), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(desk_ixn_invited(&t, "a\x1b", "chat", "q", 0), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(desk_ixn_invited(&t, "a", "abcdefghijklmnopqrstuvwxyz0123456", "q", 0),
                     CC_E_INVALID_ATTRIBUTE);
    for (int i = 0; i < DESK_IXN_MAX; i++) {
        snprintf(id, sizeof id, "s:%d", i);
        assert_int_equal(desk_ixn_invited(&t, id, "chat", "q", 0), 0);
    }
    assert_int_equal(desk_ixn_invited(&t, "s:99999", "chat", "q", 0), CC_E_LIMIT_EXCEEDED);
    assert_int_equal(t.count, DESK_IXN_MAX);
    assert_string_equal(t.last, "s:99999");
    assert_null(desk_ixn_find(&t, "s:99999"));
    assert_non_null(desk_ixn_find(&t, "s:255"));
    cc_buf_free(&b);
}

/* Parses line, decodes it as an interaction event and formats it into b. */
static int ixn_event(const char *line, cc_buf *b)
{
    proto_msg msg;
    assert_int_equal(proto_msg_parse(&msg, line, strlen(line)), 0);
    desk_view_ixn_event ev;
    int rc = desk_view_decode_ixn(&msg, &ev);
    cc_buf_reset(b);
    if (rc == 0)
        desk_view_ixn(b, &ev);
    proto_msg_free(&msg);
    return rc;
}

static void test_ixn_events(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    assert_int_equal(
        ixn_event("{\"message\":\"EventInvite\",\"interactionId\":\"ixn-a:000000017\","
                  "\"tenant\":\"Resources\",\"media\":\"chat\",\"queue\":\"chat-sales\","
                  "\"userData\":{\"customer\":\"Alice\\u001b\",\"order\":42,\"vip\":true,"
                  "\"tags\":[\"a\"]},\"timeoutSec\":15,\"seq\":5}",
                  &b),
        0);
    assert_string_equal(b.data, "invite ixn-a:000000017: chat from queue chat-sales of Resources, "
                                "accept within 15 s\n"
                                "  customer = Alice?\n"
                                "  order = 42\n"
                                "  vip = true\n"
                                "  tags = [\"a\"]\n");
    /* No tenant, no timeout, empty user data. */
    assert_int_equal(ixn_event("{\"message\":\"EventInvite\",\"interactionId\":\"x:1\","
                               "\"media\":\"email\",\"queue\":\"q\",\"userData\":{}}",
                               &b),
                     0);
    assert_string_equal(b.data, "invite x:1: email from queue q\n");

    /* Many user data fields: the first DESK_VIEW_USER_DATA_MAX, then a count. */
    cc_buf line;
    cc_buf_init(&line);
    cc_buf_puts(&line, "{\"message\":\"EventInvite\",\"interactionId\":\"x:1\",\"media\":\"chat\","
                       "\"queue\":\"q\",\"userData\":{");
    for (int i = 0; i < DESK_VIEW_USER_DATA_MAX + 3; i++)
        cc_buf_printf(&line, "%s\"k%d\":%d", i ? "," : "", i, i);
    cc_buf_puts(&line, "}}");
    assert_int_equal(ixn_event(line.data, &b), 0);
    assert_non_null(strstr(b.data, "  k31 = 31\n  ... 3 more\n"));
    assert_null(strstr(b.data, "k32"));
    cc_buf_free(&line);

    static const struct {
        const char *line;
        const char *want;
    } others[] = {
        {"{\"message\":\"EventRevoked\",\"interactionId\":\"x:1\",\"reason\":\"Timeout\"}",
         "revoked x:1: no answer in time, back to its queue\n"},
        {"{\"message\":\"EventRevoked\",\"interactionId\":\"x:1\",\"reason\":\"Stopped\"}",
         "revoked x:1: the customer left\n"},
        {"{\"message\":\"EventPartyRemoved\",\"interactionId\":\"x:1\",\"reason\":\"Stopped\"}",
         "removed x:1: the customer left\n"},
        {"{\"message\":\"EventInteractionEnded\",\"interactionId\":\"x:1\","
         "\"reason\":\"AfterWorkEnded\"}",
         "ended x:1: after-work time is over\n"},
        {"{\"message\":\"EventRevoked\",\"interactionId\":\"x:1\",\"reason\":\"Odd\\nthing\"}",
         "revoked x:1: Odd?thing\n"},
        {"{\"message\":\"EventPartyRemoved\",\"interactionId\":\"x:1\"}", "removed x:1\n"},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        assert_int_equal(ixn_event(others[i].line, &b), 0);
        assert_string_equal(b.data, others[i].want);
    }

    /* Other messages are not interaction events; malformed ones are refused. */
    assert_int_equal(ixn_event("{\"message\":\"EventAck\"}", &b), CC_E_NOT_FOUND);
    static const char *const bad[] = {
        "{\"message\":\"EventInvite\",\"media\":\"chat\",\"queue\":\"q\"}",
        "{\"message\":\"EventInvite\",\"interactionId\":\"x:1\",\"queue\":\"q\"}",
        "{\"message\":\"EventInvite\",\"interactionId\":\"x:1\",\"media\":\"Chat\",\"queue\":"
        "\"q\"}",
        "{\"message\":\"EventInvite\",\"interactionId\":\"x:1\",\"media\":\"chat\"}",
        "{\"message\":\"EventInvite\",\"interactionId\":\"x:1\",\"media\":\"chat\",\"queue\":\"q\","
        "\"userData\":[1]}",
        "{\"message\":\"EventInvite\",\"interactionId\":\"x:1\",\"media\":\"chat\",\"queue\":\"q\","
        "\"timeoutSec\":-1}",
        "{\"message\":\"EventInvite\",\"interactionId\":\"x\\u0007\",\"media\":\"chat\","
        "\"queue\":\"q\"}",
        "{\"message\":\"EventRevoked\",\"interactionId\":7}",
        "{\"message\":\"EventInteractionEnded\",\"interactionId\":\"x:1\",\"reason\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ixn_event(bad[i], &b), CC_E_INVALID_ATTRIBUTE);
    cc_buf_free(&b);
}

/* Parses an answer line and formats it with f. */
static int answer(const char *line, cc_buf *b, int (*f)(cc_buf *, proto_msg *))
{
    proto_msg msg;
    assert_int_equal(proto_msg_parse(&msg, line, strlen(line)), 0);
    cc_buf_reset(b);
    int rc = f(b, &msg);
    proto_msg_free(&msg);
    return rc;
}

static int done_answer(cc_buf *b, proto_msg *msg)
{
    desk_view_done(b, msg);
    return 0;
}

static void test_answers(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    answer("{\"message\":\"EventAck\",\"referenceId\":3,\"afterWorkSec\":5}", &b, done_answer);
    assert_string_equal(b.data, "ok: after-work 5 s\n");
    answer("{\"message\":\"EventAck\",\"referenceId\":3,\"afterWorkSec\":0}", &b, done_answer);
    assert_string_equal(b.data, "ok\n");
    answer("{\"message\":\"EventAck\",\"referenceId\":3}", &b, done_answer);
    assert_string_equal(b.data, "ok\n");

    assert_int_equal(
        answer("{\"message\":\"EventAck\",\"referenceId\":4,\"queues\":["
               "{\"tenant\":\"Resources\",\"queue\":\"email-support\",\"media\":\"email\","
               "\"waiting\":3,\"invited\":0,\"handling\":1,\"oldestWaitMs\":12345},"
               "{\"tenant\":\"Resources\",\"queue\":\"chat-sales\",\"media\":\"chat\","
               "\"waiting\":0,\"invited\":1,\"handling\":2,\"oldestWaitMs\":0},"
               "{\"tenant\":\"Acme\",\"queue\":\"q\",\"media\":\"chat\","
               "\"waiting\":10,\"invited\":0,\"handling\":0},"
               "{\"tenant\":\"Acme\",\"queue\":\"broken\",\"media\":\"chat\",\"waiting\":-1,"
               "\"invited\":0,\"handling\":0},"
               "7]}",
               &b, desk_view_queues),
        0);
    assert_string_equal(b.data,
                        "  tenant     queue          media  waiting  invited  handling    oldest\n"
                        "  Acme       q              chat        10        0         0         -\n"
                        "  Resources  chat-sales     chat         0        1         2     0.0 s\n"
                        "  Resources  email-support  email        3        0         1    12.3 s\n"
                        "  (2 rows not understood)\n");
    /* More rows than are shown: the first DESK_VIEW_QUEUES_MAX, then a count. */
    cc_buf many;
    cc_buf_init(&many);
    cc_buf_puts(&many, "{\"message\":\"EventAck\",\"queues\":[");
    for (int i = 0; i < DESK_VIEW_QUEUES_MAX + 5; i++)
        cc_buf_printf(&many,
                      "%s{\"tenant\":\"T\",\"queue\":\"q%04d\",\"media\":\"chat\","
                      "\"waiting\":%d,\"invited\":0,\"handling\":0}",
                      i ? "," : "", i, i);
    cc_buf_puts(&many, "]}");
    assert_int_equal(answer(many.data, &b, desk_view_queues), 0);
    assert_non_null(strstr(b.data, "  T       q0999  chat       999"));
    assert_null(strstr(b.data, "q1000"));
    assert_non_null(strstr(b.data, "\n  ... 5 more queues\n"));
    cc_buf_free(&many);

    assert_int_equal(answer("{\"message\":\"EventAck\",\"queues\":[]}", &b, desk_view_queues), 0);
    assert_string_equal(b.data, "no queues\n");
    assert_int_equal(answer("{\"message\":\"EventAck\"}", &b, desk_view_queues),
                     CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(b.len, 0);
    cc_buf_free(&b);
}

static void test_parse_explain(void **state)
{
    (void)state;
    desk_cmd cmd;
    char err[256];
    cc_buf b;
    cc_buf_init(&b);
    assert_int_equal(parse("explain 17", &cmd, err, sizeof err), 0);
    assert_int_equal(cmd.kind, DESK_CMD_EXPLAIN);
    assert_true(desk_cmd_has_ixn(&cmd));
    assert_true(desk_cmd_is_request(&cmd));
    assert_string_equal(desk_cmd_message(&cmd), "RequestExplainRouting");
    assert_string_equal(cmd.ixn_arg, "17");
    /* The resolved id is what is sent. */
    strcpy(cmd.ixn_id, "ixn-a:000000017");
    encode_closed(&cmd, &b);
    assert_string_equal(
        b.data, "{\"message\":\"RequestExplainRouting\",\"interactionId\":\"ixn-a:000000017\"}");
    assert_int_equal(parse("explain", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_string_equal(err, "usage: explain ID");
    assert_int_equal(parse("explain 17 18", &cmd, err, sizeof err), CC_E_INVALID_ATTRIBUTE);
    assert_string_equal(err, "usage: explain ID");
    assert_non_null(strstr(desk_cmd_help(), "explain ID"));
    cc_buf_free(&b);
}

static void test_skills_line(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    proto_skills sk = {.count = 0};
    desk_view_skills(&b, &sk);
    assert_string_equal(b.data, "  skills: none\n");
    /* Sorted by name, whatever order they came in. */
    sk = (proto_skills){.count = 3, .items = {{"spanish", 5}, {"billing", 10}, {"sales", 1}}};
    cc_buf_reset(&b);
    desk_view_skills(&b, &sk);
    assert_string_equal(b.data, "  skills: billing 10, sales 1, spanish 5\n");
    /* As the login's EventAck brings them, all 64. */
    cc_buf ack;
    cc_buf_init(&ack);
    cc_buf_puts(&ack, "{\"message\":\"EventAck\",\"referenceId\":2,\"skills\":{");
    for (int i = PROTO_SKILLS_MAX - 1; i >= 0; i--)
        cc_buf_printf(&ack, "\"s%02d\":%d%s", i, i % 10 + 1, i ? "," : "");
    cc_buf_puts(&ack, "}}");
    proto_msg msg;
    assert_int_equal(proto_msg_parse(&msg, ack.data, ack.len), 0);
    assert_int_equal(proto_areq_decode_login_ack(&msg, &sk), 0);
    cc_buf_reset(&b);
    desk_view_skills(&b, &sk);
    assert_true(strncmp(b.data, "  skills: s00 1, s01 2, ", 24) == 0);
    assert_non_null(strstr(b.data, ", s63 4\n"));
    proto_msg_free(&msg);
    cc_buf_free(&ack);
    cc_buf_free(&b);
}

static void test_explain_answer(void **state)
{
    (void)state;
    cc_buf b;
    cc_buf_init(&b);
    assert_int_equal(
        answer("{\"message\":\"EventAck\",\"referenceId\":7,\"interactionId\":\"ixn-a:000000017\","
               "\"tenant\":\"Resources\",\"media\":\"chat\",\"queue\":\"chat-billing-es\","
               "\"state\":\"Queued\",\"priority\":5,\"effectivePriority\":8,\"waitedSec\":31,"
               "\"step\":2,\"steps\":3,\"expression\":\"billing >= 5\",\"nextStepSec\":59,"
               "\"matching\":3,\"agents\":[{\"agentId\":\"1001\",\"why\":\"NotReady\"},"
               "{\"agentId\":\"1002\",\"why\":\"ReservationRefused\"},"
               "{\"agentId\":\"1003\",\"why\":\"Busy\"}]}",
               &b, desk_view_explain),
        0);
    assert_string_equal(
        b.data,
        "explain ixn-a:000000017: chat in queue chat-billing-es of Resources, Queued, waited 31 s\n"
        "  priority 5 (effective 8)\n"
        "  step 2 of 3: billing >= 5 (next step in 59 s)\n"
        "  matching: 3 agents\n"
        "  agent 1001: NotReady (not ready for the media)\n"
        "  agent 1002: ReservationRefused (the reporting engine refused a reservation)\n"
        "  agent 1003: Busy (eligible, but taken by an interaction ahead in order)\n");
    /* Held by the agent, on the last step, one match and no agents listed. */
    assert_int_equal(answer("{\"message\":\"EventAck\",\"interactionId\":\"ixn-a:000000018\","
                            "\"tenant\":\"Resources\",\"media\":\"voice\",\"queue\":\"voice-vip\","
                            "\"state\":\"Handling\",\"priority\":900,\"effectivePriority\":900,"
                            "\"waitedSec\":0,\"step\":1,\"steps\":1,\"expression\":\"vip >= 1\","
                            "\"matching\":1,\"agentId\":\"1004\",\"agents\":[]}",
                            &b, desk_view_explain),
                     0);
    assert_string_equal(b.data, "explain ixn-a:000000018: voice in queue voice-vip of Resources, "
                                "Handling, waited 0 s, held by 1004\n"
                                "  priority 900 (effective 900)\n"
                                "  step 1 of 1: vip >= 1 (the last step)\n"
                                "  matching: 1 agent\n");
    /* Server text with control characters is shown cleaned. */
    assert_int_equal(
        answer("{\"message\":\"EventAck\",\"interactionId\":\"i\",\"tenant\":\"T\","
               "\"media\":\"chat\",\"queue\":\"q\",\"state\":\"Queued\",\"priority\":0,"
               "\"effectivePriority\":0,\"waitedSec\":0,\"step\":1,\"steps\":1,"
               "\"expression\":\"a\\u001b[2J >= 1\",\"matching\":0}",
               &b, desk_view_explain),
        0);
    assert_non_null(strstr(b.data, "  step 1 of 1: a?[2J >= 1 (the last step)\n"));
    /* An answer that does not decode: nothing shown, the field named. */
    proto_msg msg;
    static const char bad[] = "{\"message\":\"EventAck\",\"interactionId\":\"i\"}";
    assert_int_equal(proto_msg_parse(&msg, bad, strlen(bad)), 0);
    cc_buf_reset(&b);
    assert_int_equal(desk_view_explain(&b, &msg), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(msg.desc, "tenant"));
    proto_msg_free(&msg);
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
        cmocka_unit_test(test_media_list_follows_commands),
        cmocka_unit_test(test_login_encoding),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_error_words),
        cmocka_unit_test(test_event_line),
        cmocka_unit_test(test_text_cut),
        cmocka_unit_test(test_parse_ixn_commands),
        cmocka_unit_test(test_ixn_table),
        cmocka_unit_test(test_ixn_events),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_parse_explain),
        cmocka_unit_test(test_skills_line),
        cmocka_unit_test(test_explain_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

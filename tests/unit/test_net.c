/* Unit tests of src/net over real loopback TCP: the server session (registration,
 * tokens, check order, one answer per request in order, seq, limits) and the outbound
 * client (registration, referenceIds, pings, seq gap detection, reconnect with backoff).
 *
 * Everything runs in one thread: the libuv loop is pumped without blocking while the test
 * side talks through plain non-blocking sockets, so each step can wait for exactly what it
 * expects with a deadline. A watchdog alarm ends the whole program if anything hangs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "net/addr.h"
#include "net/client.h"
#include "net/conn.h"
#include "net/session.h"
#include "net/turnw.h"
#include "proto/jw.h"

/* Every wait in this file is bounded by this, and the whole program by the alarm. */
#define WAIT_MS 3000
#define WATCHDOG_S 90

/* ---- the loop under test ----------------------------------------------------------- */

typedef struct fixture {
    uv_loop_t loop;
    cc_net net;
    uv_tcp_t listener;
    int port;
    cc_server srv;
    /* Handler state. */
    int events_seen;
    cc_session *slow_session;
    bool slow_fail;
    uv_timer_t slow_timer;
    cc_session *flood_session;
    uv_timer_t flood_timer;
    int closes;
    size_t burst_limit, burst_peak, burst_queued;
} fixture;

static fixture F;

static uint64_t now_ms(void)
{
    return cc_mono_us() / 1000u;
}

/* Runs whatever the loop has ready, then sleeps for a millisecond at most. */
static void pump_once(void)
{
    uv_run(&F.loop, UV_RUN_NOWAIT);
    poll(NULL, 0, 1);
}

#define WAIT_FOR(cond, ms)                                                                         \
    do {                                                                                           \
        uint64_t wait_deadline_ = now_ms() + (ms);                                                 \
        while (!(cond) && now_ms() < wait_deadline_)                                               \
            pump_once();                                                                           \
    } while (0)

/* ---- a raw peer over a plain socket ------------------------------------------------ */

typedef struct raw {
    int fd;
    char in[1 << 17];
    size_t len;
    bool eof;
    uint64_t next_seq; /* 0: do not check seq (the peer is a client) */
} raw;

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* Connects to the fixture's listener; rcvbuf > 0 shrinks the receive buffer first. */
static void raw_connect(raw *r, int port, int rcvbuf)
{
    memset(r, 0, sizeof *r);
    r->next_seq = 1;
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    if (rcvbuf > 0)
        setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A loopback connect to a listening socket completes in the kernel's backlog, so a
     * blocking connect does not need the loop to run. */
    assert_int_equal(connect(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    set_nonblock(r->fd);
}

static void raw_close(raw *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static void raw_sendn(raw *r, const char *s, size_t n)
{
    size_t off = 0;
    uint64_t deadline = now_ms() + WAIT_MS;
    while (off < n) {
        ssize_t w = send(r->fd, s + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        assert_true(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        assert_true(now_ms() < deadline);
        pump_once();
    }
}

static void raw_send(raw *r, const char *s)
{
    raw_sendn(r, s, strlen(s));
}

/* Reads what is available without blocking. */
static void raw_fill(raw *r)
{
    while (!r->eof && r->len < sizeof r->in - 1) {
        ssize_t n = recv(r->fd, r->in + r->len, sizeof r->in - 1 - r->len, 0);
        if (n > 0) {
            r->len += (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            r->eof = true;
        } else {
            break;
        }
    }
}

static bool raw_has_line(raw *r)
{
    raw_fill(r);
    return memchr(r->in, '\n', r->len) != NULL;
}

/* Waits for the next line and parses it; fails the test on timeout or EOF. The seq of
 * every server message is checked against 1, 2, 3 ... */
static json_t *raw_expect(raw *r)
{
    WAIT_FOR(raw_has_line(r) || r->eof, WAIT_MS);
    char *nl = memchr(r->in, '\n', r->len);
    if (!nl)
        fail_msg("no line from the peer (eof=%d, %zu bytes pending)", r->eof, r->len);
    size_t n = (size_t)(nl - r->in);
    json_error_t e;
    json_t *v = json_loadb(r->in, n, 0, &e);
    if (!v)
        fail_msg("not JSON: %.*s", (int)n, r->in);
    memmove(r->in, nl + 1, r->len - n - 1);
    r->len -= n + 1;
    if (r->next_seq) {
        json_t *seq = json_object_get(v, "seq");
        assert_true(json_is_integer(seq));
        assert_int_equal(json_integer_value(seq), r->next_seq);
        r->next_seq++;
    }
    return v;
}

/* Waits for the peer to close; nothing else may arrive first. */
static void raw_expect_closed(raw *r)
{
    WAIT_FOR((raw_fill(r), r->eof), WAIT_MS);
    assert_true(r->eof);
    if (r->len)
        fail_msg("unexpected input before close: %.*s", (int)r->len, r->in);
}

static const char *jstr(json_t *v, const char *key)
{
    return json_string_value(json_object_get(v, key));
}

static json_int_t jint(json_t *v, const char *key)
{
    json_t *i = json_object_get(v, key);
    if (!json_is_integer(i))
        fail_msg("%s is not an integer", key);
    return json_integer_value(i);
}

/* Expects an EventAck for ref and returns it (caller frees). */
static json_t *expect_ack(raw *r, json_int_t ref)
{
    json_t *v = raw_expect(r);
    if (strcmp(jstr(v, "message"), "EventAck") != 0)
        fail_msg("expected EventAck for %lld, got %s %s", (long long)ref, jstr(v, "message"),
                 jstr(v, "errorDescription") ? jstr(v, "errorDescription") : "");
    assert_int_equal(jint(v, "referenceId"), ref);
    return v;
}

/* Expects an EventError with code and ref (0: no referenceId field); returns it. */
static json_t *expect_error(raw *r, int code, json_int_t ref)
{
    json_t *v = raw_expect(r);
    assert_string_equal(jstr(v, "message"), "EventError");
    assert_int_equal(jint(v, "errorCode"), code);
    assert_string_equal(jstr(v, "errorName"), cc_err_name(-code));
    assert_non_null(jstr(v, "errorDescription"));
    if (ref)
        assert_int_equal(jint(v, "referenceId"), ref);
    else
        assert_null(json_object_get(v, "referenceId"));
    return v;
}

static void register_as(raw *r, const char *type, const char *token, int ref)
{
    char line[256];
    snprintf(line, sizeof line,
             "{\"message\":\"RequestRegisterClient\",\"referenceId\":%d,\"clientName\":\"t\","
             "\"clientType\":\"%s\",\"token\":\"%s\"}\n",
             ref, type, token);
    raw_send(r, line);
}

/* Connects and registers as an AgentApplication; the ack is seq 1. */
static void connect_registered(raw *r)
{
    raw_connect(r, F.port, 0);
    register_as(r, "AgentApplication", "desk-secret", 1);
    json_decref(expect_ack(r, 1));
}

/* ---- handlers of the test server ----------------------------------------------------- */

static int h_echo(cc_session *s, proto_msg *msg)
{
    const char *text;
    int rc;
    if ((rc = proto_get_id(msg, "text", true, &text)))
        return rc;
    if ((rc = cc_session_allow(s, msg, CC_CLIENT_AGENT | CC_CLIENT_STAT)))
        return rc;
    jw_kv_str(cc_session_ack_buf(s), "text", text);
    return 0;
}

static int h_agent_only(cc_session *s, proto_msg *msg)
{
    return cc_session_allow(s, msg, CC_CLIENT_AGENT);
}

static void on_slow_timer(uv_timer_t *t)
{
    (void)t;
    cc_session *s = F.slow_session;
    F.slow_session = NULL;
    if (!s)
        return;
    if (F.slow_fail) {
        cc_session_finish(s, CC_E_UNAVAILABLE, "storage is away");
    } else {
        jw_kv_bool(cc_session_ack_buf(s), "slow", true);
        cc_session_finish(s, 0, NULL);
    }
}

static int h_slow(cc_session *s, proto_msg *msg)
{
    bool fail = false;
    int rc = proto_get_flag(msg, "fail", false, &fail);
    if (rc)
        return rc;
    assert_null(F.slow_session);
    F.slow_session = s;
    F.slow_fail = fail;
    cc_session_defer(s);
    uv_timer_start(&F.slow_timer, on_slow_timer, 50, 0);
    return CC_SESSION_DEFERRED;
}

static int h_broadcast(cc_session *s, proto_msg *msg)
{
    (void)msg;
    cc_buf b;
    cc_buf_init(&b);
    jw_open_message(&b, "EventShared");
    jw_kv_str(&b, "text", "same bytes");
    cc_sbuf *body = cc_sbuf_new(b.data, b.len);
    cc_buf_free(&b);
    cc_session_send(s, body, NULL);
    cc_session_send(s, body, ",\"version\":7");
    cc_session_send(s, body, NULL);
    /* The connection holds its own references until the bytes are written. */
    assert_true(body->refs > 1);
    cc_sbuf_unref(body);
    return 0;
}

static void on_flood_timer(uv_timer_t *t)
{
    (void)t;
    if (!F.flood_session)
        return;
    static char blob[65536];
    cc_buf b;
    cc_buf_init(&b);
    jw_open_message(&b, "EventFlood");
    memset(blob, 'f', sizeof blob - 1);
    jw_kv_str(&b, "blob", blob);
    cc_sbuf *body = cc_sbuf_new(b.data, b.len);
    cc_buf_free(&b);
    for (int i = 0; i < 4 && F.flood_session; i++)
        cc_session_send(F.flood_session, body, NULL);
    cc_sbuf_unref(body);
}

static int h_flood(cc_session *s, proto_msg *msg)
{
    (void)msg;
    F.flood_session = s;
    uv_timer_start(&F.flood_timer, on_flood_timer, 1, 1);
    return 0;
}

static int h_event(cc_session *s, proto_msg *msg)
{
    (void)s;
    F.events_seen++;
    bool deny = false;
    proto_get_flag(msg, "deny", false, &deny);
    if (deny) {
        snprintf(msg->desc, sizeof msg->desc, "%s", "events are not for you");
        return CC_E_NOT_AUTHORIZED;
    }
    return 0;
}

/* Answers, then queues BURST_COUNT events of 1,000 bytes in one go (nothing is written
 * before the loop's check phase), under F.burst_limit; records the accounted queue. */
#define BURST_COUNT 200
static int h_burst(cc_session *s, proto_msg *msg)
{
    (void)msg;
    cc_conn *c = cc_session_conn(s);
    cc_conn_set_out_limit(c, F.burst_limit);
    cc_session_ack_now(s);
    char blob[1000];
    memset(blob, 'b', sizeof blob - 1);
    blob[sizeof blob - 1] = '\0';
    for (int i = 0; i < BURST_COUNT && !cc_conn_is_closing(c); i++) {
        cc_buf b;
        cc_buf_init(&b);
        jw_open_message(&b, "EventBurst");
        jw_kv_str(&b, "blob", blob);
        cc_conn_send_buf(c, &b);
        cc_buf_free(&b);
    }
    if (!cc_conn_is_closing(c)) {
        F.burst_peak = cc_conn_out_mem(c);
        F.burst_queued = cc_conn_queued(c);
    }
    return CC_SESSION_ANSWERED;
}

static const cc_handler test_handlers[] = {
    {"RequestEcho", h_echo},           {"RequestAgentOnly", h_agent_only}, {"RequestSlow", h_slow},
    {"RequestBroadcast", h_broadcast}, {"RequestFlood", h_flood},          {"EventTest", h_event},
    {"RequestBurst", h_burst},
};

static void on_session_close(cc_session *s)
{
    F.closes++;
    if (F.slow_session == s)
        F.slow_session = NULL;
    if (F.flood_session == s) {
        F.flood_session = NULL;
        uv_timer_stop(&F.flood_timer);
    }
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    assert_int_equal(uv_loop_init(&F.loop), 0);
    cc_net_init(&F.net, &F.loop);
    uv_timer_init(&F.loop, &F.slow_timer);
    uv_timer_init(&F.loop, &F.flood_timer);
    F.srv.net = &F.net;
    F.srv.server_name = "test-srv";
    F.srv.token_agent = "desk-secret";
    F.srv.token_stat = "";
    F.srv.token_reporting = "rep-secret";
    F.srv.token_media = NULL;
    F.srv.idle_timeout_s = 30;
    F.srv.handlers = test_handlers;
    F.srv.handler_count = sizeof test_handlers / sizeof test_handlers[0];
    F.srv.on_close = on_session_close;
    uv_tcp_init(&F.loop, &F.listener);
    F.listener.data = &F.srv;
    assert_int_equal(cc_listen_tcp(&F.listener, "127.0.0.1:0", cc_server_on_connection, &F.port),
                     0);
    assert_true(F.port > 0);
    return 0;
}

/* Names a handle that is still open after teardown: a connection the code under test
 * never closed shows up here before uv_loop_close fails. */
static void report_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "open handle: %s closing=%d\n", uv_handle_type_name(h->type), uv_is_closing(h));
}

static int teardown(void **state)
{
    (void)state;
    /* Let the server see every test socket go, then close all handles; a handle left
     * open makes uv_loop_close fail. */
    WAIT_FOR(F.net.all == NULL && F.closes == (int)F.net.stats.accepted, WAIT_MS);
    assert_null(F.net.all);
    assert_int_equal(F.closes, F.net.stats.accepted);
    /* Sockets still writing close from the check phase of a later turn. */
    for (int i = 0; i < 10; i++)
        pump_once();
    uv_close((uv_handle_t *)&F.listener, NULL);
    uv_close((uv_handle_t *)&F.slow_timer, NULL);
    uv_close((uv_handle_t *)&F.flood_timer, NULL);
    cc_net_close(&F.net);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    uv_walk(&F.loop, report_handle, NULL);
    assert_int_equal(uv_loop_close(&F.loop), 0);
    return 0;
}

/* ---- session tests ------------------------------------------------------------------- */

static void test_register_ok(void **state)
{
    (void)state;
    raw r;
    raw_connect(&r, F.port, 0);
    register_as(&r, "AgentApplication", "desk-secret", 41);
    json_t *ack = expect_ack(&r, 41);
    assert_string_equal(jstr(ack, "serverName"), "test-srv");
    assert_int_equal(jint(ack, "protocolVersion"), 1);
    assert_int_equal(jint(ack, "idleTimeout"), 30);
    assert_true(jint(ack, "proxyClientId") > 0);
    json_decref(ack);
    WAIT_FOR(F.srv.sessions_open == 1, WAIT_MS);
    assert_int_equal(F.srv.sessions_open, 1);

    /* A type whose configured token is empty needs none. */
    raw r2;
    raw_connect(&r2, F.port, 0);
    raw_send(&r2, "{\"message\":\"RequestRegisterClient\",\"referenceId\":1,"
                  "\"clientType\":\"StatClient\"}\n");
    ack = expect_ack(&r2, 1);
    json_decref(ack);
    /* Distinct sessions get distinct proxyClientIds. */
    raw_send(&r, "{\"message\":\"RequestPing\",\"referenceId\":42}\r\n");
    json_decref(expect_ack(&r, 42));
    raw_close(&r);
    raw_close(&r2);
    WAIT_FOR(F.closes == 2, WAIT_MS);
    assert_int_equal(F.srv.sessions_open, 0);
}

static void test_register_refused(void **state)
{
    (void)state;
    json_t *e;
    raw r;

    /* Wrong token: 5, then closed. */
    raw_connect(&r, F.port, 0);
    register_as(&r, "AgentApplication", "guess", 1);
    e = expect_error(&r, 5, 1);
    assert_null(strstr(jstr(e, "errorDescription"), "desk-secret"));
    json_decref(e);
    raw_expect_closed(&r);
    raw_close(&r);

    /* No token where one is required. */
    raw_connect(&r, F.port, 0);
    raw_send(&r, "{\"message\":\"RequestRegisterClient\",\"referenceId\":2,"
                 "\"clientType\":\"ReportingEngine\"}\n");
    json_decref(expect_error(&r, 5, 2));
    raw_expect_closed(&r);
    raw_close(&r);

    /* Unknown client type: the attribute is invalid (3), then closed. */
    raw_connect(&r, F.port, 0);
    register_as(&r, "Wallboard", "x", 3);
    e = expect_error(&r, 3, 3);
    assert_non_null(strstr(jstr(e, "errorDescription"), "clientType"));
    json_decref(e);
    raw_expect_closed(&r);
    raw_close(&r);

    /* A known type this server does not serve (its token is NULL): 5, then closed. */
    raw_connect(&r, F.port, 0);
    register_as(&r, "MediaServer", "", 4);
    json_decref(expect_error(&r, 5, 4));
    raw_expect_closed(&r);
    raw_close(&r);

    /* clientType missing. */
    raw_connect(&r, F.port, 0);
    raw_send(&r, "{\"message\":\"RequestRegisterClient\",\"referenceId\":5}\n");
    e = expect_error(&r, 3, 5);
    assert_non_null(strstr(jstr(e, "errorDescription"), "clientType"));
    json_decref(e);
    raw_expect_closed(&r);
    raw_close(&r);
    assert_int_equal(F.srv.sessions_open, 0);
}

static void test_before_register(void **state)
{
    (void)state;
    raw r;
    /* Any request before registration: 4, then closed. */
    raw_connect(&r, F.port, 0);
    raw_send(&r, "{\"message\":\"RequestPing\",\"referenceId\":7}\n"
                 "{\"message\":\"RequestPing\",\"referenceId\":8}\n");
    json_decref(expect_error(&r, 4, 7));
    raw_expect_closed(&r);
    raw_close(&r);

    /* Invalid JSON before registration is answered with 4 too. */
    raw_connect(&r, F.port, 0);
    raw_send(&r, "hello\n");
    json_decref(expect_error(&r, 4, 0));
    raw_expect_closed(&r);
    raw_close(&r);

    /* So is an event. */
    raw_connect(&r, F.port, 0);
    raw_send(&r, "{\"message\":\"EventTest\"}\n");
    json_decref(expect_error(&r, 4, 0));
    raw_expect_closed(&r);
    raw_close(&r);
    assert_int_equal(F.events_seen, 0);
}

static void test_second_register_and_ping(void **state)
{
    (void)state;
    raw r;
    connect_registered(&r);
    register_as(&r, "AgentApplication", "desk-secret", 2);
    json_decref(expect_error(&r, 13, 2));
    /* Still open and registered. */
    raw_send(&r, "{\"message\":\"RequestPing\",\"referenceId\":3}\n");
    json_t *ack = expect_ack(&r, 3);
    /* A ping ack carries nothing but the basics. */
    assert_int_equal(json_object_size(ack), 3);
    json_decref(ack);
    /* A second register without a referenceId is still "already registered": the
     * message is known, so the referenceId check answers first (3). */
    raw_send(&r, "{\"message\":\"RequestRegisterClient\",\"clientType\":\"StatClient\"}\n");
    json_decref(expect_error(&r, 3, 0));
    raw_close(&r);
}

static void test_check_order(void **state)
{
    (void)state;
    raw r;
    json_t *e;
    connect_registered(&r);

    /* Unknown message: 2, with the referenceId. */
    raw_send(&r, "{\"message\":\"RequestTeleport\",\"referenceId\":9}\n");
    e = expect_error(&r, 2, 9);
    assert_non_null(strstr(jstr(e, "errorDescription"), "RequestTeleport"));
    json_decref(e);
    /* Unknown message without a referenceId: still 2, the name is checked first. */
    raw_send(&r, "{\"message\":\"RequestTeleport\"}\n");
    json_decref(expect_error(&r, 2, 0));
    /* Unknown event: 2 as well. */
    raw_send(&r, "{\"message\":\"EventUnheardOf\"}\n");
    json_decref(expect_error(&r, 2, 0));

    /* Missing or invalid referenceId on a known request: 3 naming referenceId, with no
     * referenceId in the error. */
    static const char *const bad_refs[] = {
        "{\"message\":\"RequestPing\"}\n",
        "{\"message\":\"RequestPing\",\"referenceId\":0}\n",
        "{\"message\":\"RequestPing\",\"referenceId\":-3}\n",
        "{\"message\":\"RequestPing\",\"referenceId\":\"4\"}\n",
        "{\"message\":\"RequestEcho\",\"text\":\"x\"}\n",
    };
    for (size_t i = 0; i < sizeof bad_refs / sizeof bad_refs[0]; i++) {
        raw_send(&r, bad_refs[i]);
        e = expect_error(&r, 3, 0);
        assert_non_null(strstr(jstr(e, "errorDescription"), "referenceId"));
        json_decref(e);
    }

    /* Fields (3) come before the client type (5). */
    raw_send(&r, "{\"message\":\"RequestEcho\",\"referenceId\":10}\n");
    e = expect_error(&r, 3, 10);
    assert_non_null(strstr(jstr(e, "errorDescription"), "text"));
    json_decref(e);
    raw_send(&r, "{\"message\":\"RequestEcho\",\"referenceId\":11,\"text\":\"hi\"}\n");
    e = expect_ack(&r, 11);
    assert_string_equal(jstr(e, "text"), "hi");
    json_decref(e);
    raw_close(&r);

    /* The client type: a StatClient may not send RequestAgentOnly. */
    raw_connect(&r, F.port, 0);
    register_as(&r, "StatClient", "", 1);
    json_decref(expect_ack(&r, 1));
    raw_send(&r, "{\"message\":\"RequestAgentOnly\",\"referenceId\":2}\n");
    e = expect_error(&r, 5, 2);
    assert_non_null(strstr(jstr(e, "errorDescription"), "StatClient"));
    json_decref(e);
    raw_close(&r);
}

static void test_invalid_input_stays_open(void **state)
{
    (void)state;
    raw r;
    json_t *e;
    connect_registered(&r);
    raw_send(&r, "{not json\n");
    json_decref(expect_error(&r, 1, 0));
    raw_send(&r, "[1,2,3]\n");
    json_decref(expect_error(&r, 1, 0));
    /* No "message", but a valid referenceId: the error carries it. */
    raw_send(&r, "{\"referenceId\":6}\n");
    e = expect_error(&r, 1, 6);
    assert_non_null(strstr(jstr(e, "errorDescription"), "message"));
    json_decref(e);
    /* Blank lines are skipped without an answer. */
    raw_send(&r, "\n\r\n{\"message\":\"RequestPing\",\"referenceId\":7}\n");
    json_decref(expect_ack(&r, 7));
    assert_int_equal(F.srv.errors_sent, 3);
    raw_close(&r);
}

static void test_line_too_large(void **state)
{
    (void)state;
    F.srv.max_line = 1024;
    raw r;
    connect_registered(&r);
    /* Exactly the maximum is fine (it is not valid JSON, so it gets 1). */
    char line[2100];
    memset(line, ' ', 1024);
    line[1024] = '\n';
    raw_sendn(&r, line, 1025);
    json_decref(expect_error(&r, 1, 0));
    /* One byte over: 11 without a referenceId, then closed. */
    memset(line, ' ', sizeof line);
    memcpy(line, "{\"message\":\"RequestPing\",\"referenceId\":5,\"pad\":\"", 49);
    line[2000] = '"';
    line[2001] = '}';
    line[2002] = '\n';
    raw_sendn(&r, line, 2003);
    json_decref(expect_error(&r, 11, 0));
    raw_expect_closed(&r);
    raw_close(&r);
    WAIT_FOR(F.closes == 1, WAIT_MS);
    assert_int_equal(F.net.stats.closed_too_large, 1);
}

static void test_events_from_client(void **state)
{
    (void)state;
    raw r;
    connect_registered(&r);
    /* An event is never answered: the next line is the ping's ack. */
    raw_send(&r, "{\"message\":\"EventTest\"}\n"
                 "{\"message\":\"EventTest\",\"referenceId\":3}\n"
                 "{\"message\":\"RequestPing\",\"referenceId\":4}\n");
    json_decref(expect_ack(&r, 4));
    assert_int_equal(F.events_seen, 2);
    /* A refused event with a referenceId gets 5 naming it; without one it is dropped
     * and counted. */
    raw_send(&r, "{\"message\":\"EventTest\",\"deny\":1,\"referenceId\":5}\n"
                 "{\"message\":\"EventTest\",\"deny\":1}\n"
                 "{\"message\":\"RequestPing\",\"referenceId\":6}\n");
    json_decref(expect_error(&r, 5, 5));
    json_decref(expect_ack(&r, 6));
    assert_int_equal(F.events_seen, 4);
    assert_int_equal(F.srv.events_dropped, 1);
    raw_close(&r);
}

static void test_seq_and_shared_events(void **state)
{
    (void)state;
    raw r;
    connect_registered(&r); /* seq 1 */
    raw_send(&r, "{\"message\":\"RequestBroadcast\",\"referenceId\":2}\n");
    /* raw_expect checks seq 2, 3, 4, 5. */
    json_t *e1 = raw_expect(&r);
    json_t *e2 = raw_expect(&r);
    json_t *e3 = raw_expect(&r);
    assert_string_equal(jstr(e1, "message"), "EventShared");
    assert_string_equal(jstr(e2, "text"), "same bytes");
    assert_int_equal(jint(e2, "version"), 7);
    assert_null(json_object_get(e1, "version"));
    assert_string_equal(jstr(e3, "text"), "same bytes");
    json_decref(e1);
    json_decref(e2);
    json_decref(e3);
    json_decref(expect_ack(&r, 2));
    raw_send(&r, "{\"message\":\"RequestPing\",\"referenceId\":3}\n");
    json_decref(expect_ack(&r, 3));
    assert_int_equal(r.next_seq, 7);
    raw_close(&r);
}

static void test_deferred_answers_in_order(void **state)
{
    (void)state;
    raw r;
    connect_registered(&r);
    /* All three arrive in one segment; the first is answered 50 ms later, and the others
     * must wait for it. */
    uint64_t t0 = now_ms();
    raw_send(&r, "{\"message\":\"RequestSlow\",\"referenceId\":2}\n"
                 "{\"message\":\"RequestPing\",\"referenceId\":3}\n"
                 "{\"message\":\"RequestEcho\",\"referenceId\":4,\"text\":\"after\"}\n");
    json_t *a = expect_ack(&r, 2);
    assert_true(now_ms() - t0 >= 40);
    assert_true(json_is_true(json_object_get(a, "slow")));
    json_decref(a);
    json_decref(expect_ack(&r, 3));
    a = expect_ack(&r, 4);
    assert_string_equal(jstr(a, "text"), "after");
    json_decref(a);
    /* A deferred request can fail too, and later input still flows. */
    raw_send(&r, "{\"message\":\"RequestSlow\",\"referenceId\":5,\"fail\":true}\n"
                 "{\"message\":\"RequestPing\",\"referenceId\":6}\n");
    a = expect_error(&r, 14, 5);
    assert_string_equal(jstr(a, "errorDescription"), "storage is away");
    json_decref(a);
    json_decref(expect_ack(&r, 6));
    /* Closing while a request is deferred is safe. */
    raw_send(&r, "{\"message\":\"RequestSlow\",\"referenceId\":7}\n");
    WAIT_FOR(F.slow_session != NULL, WAIT_MS);
    assert_non_null(F.slow_session);
    raw_close(&r);
    WAIT_FOR(F.closes == 1, WAIT_MS);
    assert_null(F.slow_session);
}

static void test_pipelined_and_split(void **state)
{
    (void)state;
    raw r;
    connect_registered(&r);
    /* Many requests in one write, answered one each and in order. */
    enum { N = 300 };
    static char burst[N * 64];
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(burst + len, sizeof burst - len,
                                "{\"message\":\"RequestPing\",\"referenceId\":%d}\n", 100 + i);
    raw_sendn(&r, burst, len);
    for (int i = 0; i < N; i++)
        json_decref(expect_ack(&r, 100 + i));
    /* A line split over several TCP writes, the loop running in between. */
    raw_send(&r, "{\"message\":\"RequestEc");
    for (int i = 0; i < 5; i++)
        pump_once();
    raw_send(&r, "ho\",\"referenceId\":7,\"text\":\"sp");
    for (int i = 0; i < 5; i++)
        pump_once();
    raw_send(&r, "lit\"}\r");
    for (int i = 0; i < 5; i++)
        pump_once();
    assert_false(raw_has_line(&r));
    raw_send(&r, "\n");
    json_t *a = expect_ack(&r, 7);
    assert_string_equal(jstr(a, "text"), "split");
    json_decref(a);
    raw_close(&r);
}

static void test_slow_reader_cut(void **state)
{
    (void)state;
    F.srv.out_limit_default = 256 * 1024;
    raw r;
    raw_connect(&r, F.port, 4096);
    register_as(&r, "AgentApplication", "desk-secret", 1);
    json_decref(expect_ack(&r, 1));
    raw_send(&r, "{\"message\":\"RequestFlood\",\"referenceId\":2}\n");
    /* Read nothing more: the server's queue grows until it is over the limit. */
    WAIT_FOR(F.net.stats.closed_slow > 0, 10000);
    assert_int_equal(F.net.stats.closed_slow, 1);
    WAIT_FOR(F.closes == 1, WAIT_MS);
    assert_int_equal(F.closes, 1);
    assert_null(F.flood_session);
    raw_close(&r);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    F.srv.idle_timeout_s = 1;
    raw r;
    raw_connect(&r, F.port, 0);
    register_as(&r, "AgentApplication", "desk-secret", 1);
    json_t *ack = expect_ack(&r, 1);
    assert_int_equal(jint(ack, "idleTimeout"), 1);
    json_decref(ack);
    uint64_t t0 = now_ms();
    raw_expect_closed(&r);
    assert_true(now_ms() - t0 >= 900);
    assert_int_equal(F.net.stats.closed_idle, 1);
    raw_close(&r);
}

/* Before registration a line may be CC_SESSION_REGISTER_LINE_MAX bytes: exactly that is
 * taken (a register padded with spaces), one byte more is refused with 11 and closed. */
static void send_padded_register(raw *r, size_t total)
{
    static const char head[] = "{\"message\":\"RequestRegisterClient\",\"referenceId\":1,"
                               "\"clientName\":\"t\",\"clientType\":\"AgentApplication\","
                               "\"token\":\"desk-secret\"";
    char line[8192];
    assert_true(total < sizeof line - 2 && total > sizeof head);
    memcpy(line, head, sizeof head - 1);
    memset(line + sizeof head - 1, ' ', total - (sizeof head - 1) - 1);
    line[total - 1] = '}';
    line[total] = '\n';
    raw_sendn(r, line, total + 1);
}

static void test_register_line_limit(void **state)
{
    (void)state;
    raw r;
    raw_connect(&r, F.port, 0);
    send_padded_register(&r, CC_SESSION_REGISTER_LINE_MAX);
    json_decref(expect_ack(&r, 1));
    /* Registered: the server's own maximum applies again. */
    char big[6000];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"message\":\"RequestPing\",\"referenceId\":2}", 41);
    big[sizeof big - 1] = '\n';
    raw_sendn(&r, big, sizeof big);
    json_decref(expect_ack(&r, 2));
    raw_close(&r);

    raw_connect(&r, F.port, 0);
    send_padded_register(&r, CC_SESSION_REGISTER_LINE_MAX + 1);
    json_decref(expect_error(&r, 11, 0));
    raw_expect_closed(&r);
    raw_close(&r);
    WAIT_FOR(F.closes == 2, WAIT_MS);
    assert_int_equal(F.net.stats.closed_too_large, 1);
}

/* A peer that does not register within register_timeout_s is closed with 4, however
 * many blank lines it sends; one that registers in time stays. */
static void test_register_deadline(void **state)
{
    (void)state;
    F.srv.register_timeout_s = 1;
    raw late, ok;
    raw_connect(&late, F.port, 0);
    raw_connect(&ok, F.port, 0);
    uint64_t t0 = now_ms();
    bool registered = false;
    /* The deadline is checked by the periodic sweep, so the close comes between 1 s and
     * about 2 s; a loaded machine or a sanitizer build may add more, hence the wide upper
     * bound (what matters: not before the deadline, and blank lines do not move it). */
    while (!late.eof && now_ms() - t0 < 3 * WAIT_MS) {
        raw_send(&late, "\n");
        if (!registered && now_ms() - t0 >= 500) {
            register_as(&ok, "AgentApplication", "desk-secret", 1);
            registered = true;
        }
        uint64_t t = now_ms();
        while (now_ms() - t < 100)
            pump_once();
        raw_fill(&late);
    }
    uint64_t took = now_ms() - t0;
    assert_true(took >= 1000 && took < 2 * WAIT_MS);
    json_decref(expect_error(&late, 4, 0));
    raw_expect_closed(&late);
    assert_int_equal(F.net.stats.closed_timeout, 1);
    json_decref(expect_ack(&ok, 1));
    raw_send(&ok, "{\"message\":\"RequestPing\",\"referenceId\":2}\n");
    json_decref(expect_ack(&ok, 2));
    assert_int_equal(F.net.stats.closed_timeout, 1);
    raw_close(&late);
    raw_close(&ok);
}

/* The process stalls longer than the idle timeout while a client goes on pinging: its
 * pings are in the socket when the idle check runs, so it stays. */
static void test_idle_after_stall(void **state)
{
    (void)state;
    F.srv.idle_timeout_s = 1;
    raw r;
    connect_registered(&r);
    uint64_t t0 = now_ms();
    int pings = 0;
    while (now_ms() - t0 < 1600) {
        char line[80];
        snprintf(line, sizeof line, "{\"message\":\"RequestPing\",\"referenceId\":%d}\n",
                 2 + pings++);
        raw_sendn(&r, line, strlen(line));
        poll(NULL, 0, 200); /* the loop does not run: the process is "stopped" */
    }
    for (int i = 0; i < pings; i++)
        json_decref(expect_ack(&r, 2 + i));
    assert_int_equal(F.net.stats.closed_idle, 0);
    assert_true(F.net.stats.idle_spared >= 1);
    raw_close(&r);
}

/* A soft limit held for its seconds cuts a peer the hard limit would have let be. */
static void test_soft_limit(void **state)
{
    (void)state;
    F.srv.out_limits[CC_CLASS_DESKTOP] =
        (cc_out_limit){.hard = 64u << 20, .soft = 256u * 1024u, .soft_s = 1};
    raw r;
    raw_connect(&r, F.port, 4096);
    register_as(&r, "AgentApplication", "desk-secret", 1);
    json_decref(expect_ack(&r, 1));
    raw_send(&r, "{\"message\":\"RequestFlood\",\"referenceId\":2}\n");
    uint64_t t0 = now_ms();
    WAIT_FOR(F.flood_session && cc_conn_mem(cc_session_conn(F.flood_session)) > 512u * 1024u,
             WAIT_MS);
    uv_timer_stop(&F.flood_timer);
    WAIT_FOR(F.net.stats.closed_slow > 0, WAIT_MS);
    assert_int_equal(F.net.stats.closed_slow, 1);
    assert_true(now_ms() - t0 >= 900);
    raw_close(&r);
}

/* Over max-memory the biggest consumer is cut; a small one stays. */
static void test_max_memory(void **state)
{
    (void)state;
    F.srv.out_limit_default = 64u << 20;
    cc_net_set_max_memory(&F.net, 1u << 20);
    raw small, big;
    connect_registered(&small);
    raw_connect(&big, F.port, 4096);
    register_as(&big, "AgentApplication", "desk-secret", 1);
    json_decref(expect_ack(&big, 1));
    raw_send(&big, "{\"message\":\"RequestFlood\",\"referenceId\":2}\n");
    WAIT_FOR(F.net.stats.closed_memory > 0, 10000);
    assert_int_equal(F.net.stats.closed_memory, 1);
    assert_int_equal(F.net.stats.closed_slow, 0);
    WAIT_FOR(!cc_net_over_memory(&F.net), WAIT_MS);
    assert_false(cc_net_over_memory(&F.net));
    raw_send(&small, "{\"message\":\"RequestPing\",\"referenceId\":2}\n");
    json_decref(expect_ack(&small, 2));
    raw_close(&big);
    raw_close(&small);
}

/* max_connections sessions are taken; one more gets 12 and is closed; a closed session
 * gives its place back. */
static void test_max_connections(void **state)
{
    (void)state;
    F.srv.max_connections = 2;
    raw a, b, c;
    connect_registered(&a);
    raw_connect(&b, F.port, 0); /* not registered: counts too */
    raw_connect(&c, F.port, 0);
    json_decref(expect_error(&c, 12, 0));
    raw_expect_closed(&c);
    raw_close(&c);
    assert_int_equal(F.srv.conns_refused, 1);
    raw_close(&a);
    WAIT_FOR(F.srv.conns == 1, WAIT_MS);
    connect_registered(&c);
    raw_close(&b);
    raw_close(&c);
}

/* The hard limit compares the queue as allocated, at its exact edge: a burst that
 * accounts P bytes passes a limit of P and is cut by a limit of P - 1; and P is more
 * than the payload bytes queued (entries and buffer headers count). */
static void burst_on(raw *r, size_t limit)
{
    F.burst_limit = limit;
    F.burst_peak = 0;
    connect_registered(r);
    raw_send(r, "{\"message\":\"RequestBurst\",\"referenceId\":2}\n");
}

static void test_out_limit_edge(void **state)
{
    (void)state;
    raw r;
    burst_on(&r, 64u << 20);
    json_decref(expect_ack(&r, 2));
    for (int i = 0; i < BURST_COUNT; i++)
        json_decref(raw_expect(&r));
    size_t peak = F.burst_peak;
    assert_true(peak > F.burst_queued);
    assert_true(F.burst_queued > (size_t)BURST_COUNT * 1000u);
    raw_close(&r);

    burst_on(&r, peak);
    json_decref(expect_ack(&r, 2));
    for (int i = 0; i < BURST_COUNT; i++)
        json_decref(raw_expect(&r));
    assert_int_equal(F.burst_peak, peak);
    assert_int_equal(F.net.stats.closed_slow, 0);
    raw_close(&r);

    burst_on(&r, peak - 1);
    WAIT_FOR(F.net.stats.closed_slow > 0, WAIT_MS);
    assert_int_equal(F.net.stats.closed_slow, 1);
    raw_close(&r);
}

/* Output limits as written in a configuration file, at their edges. */
static void test_out_limit_parse(void **state)
{
    (void)state;
    cc_out_limit l;
    assert_true(cc_out_limit_parse("65536", 65536, 1u << 30, &l));
    assert_true(l.hard == 65536 && l.soft == 0 && l.soft_s == 0);
    assert_false(cc_out_limit_parse("65535", 65536, 1u << 30, &l));
    assert_true(cc_out_limit_parse("1g", 65536, 1u << 30, &l));
    assert_false(cc_out_limit_parse("1073741825", 65536, 1u << 30, &l));
    assert_true(cc_out_limit_parse(" 8m  2m 60 ", 65536, 1u << 30, &l));
    assert_true(l.hard == 8u << 20 && l.soft == 2u << 20 && l.soft_s == 60);
    assert_true(cc_out_limit_parse("8m 8m 86400", 65536, 1u << 30, &l));
    assert_false(cc_out_limit_parse("8m 8193k 1", 65536, 1u << 30, &l));
    assert_false(cc_out_limit_parse("8m 2m 86401", 65536, 1u << 30, &l));
    assert_false(cc_out_limit_parse("8m 2m", 65536, 1u << 30, &l));
    assert_false(cc_out_limit_parse("8m 2m 1 1", 65536, 1u << 30, &l));
    assert_false(cc_out_limit_parse("8x", 65536, 1u << 30, &l));
    assert_false(cc_out_limit_parse("", 65536, 1u << 30, &l));
}

/* ---- client tests ------------------------------------------------------------------ */

typedef struct client_log {
    int registered;
    int messages;
    int downs;
    uint64_t down_ms[16];
    char last_why[256];
    char last_message[64];
    int64_t last_ref;
} client_log;

static client_log CL;

static void cl_registered(cc_client *c, proto_msg *ack)
{
    (void)c;
    assert_string_equal(ack->name, "EventAck");
    CL.registered++;
}

static void cl_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)c;
    assert_true(len > 0 && line[len - 1] == '}');
    CL.messages++;
    snprintf(CL.last_message, sizeof CL.last_message, "%s", msg->name);
    CL.last_ref = msg->ref;
}

static void cl_down(cc_client *c, const char *why)
{
    (void)c;
    if (CL.downs < 16)
        CL.down_ms[CL.downs] = now_ms();
    CL.downs++;
    snprintf(CL.last_why, sizeof CL.last_why, "%s", why);
}

static const cc_client_ops cl_ops = {cl_registered, cl_message, cl_down};

static void free_client(cc_client *c)
{
    cc_client_free(c);
    /* The client's timers and socket close on the next turns. */
    for (int i = 0; i < 20; i++)
        pump_once();
}

static void test_client_with_session(void **state)
{
    (void)state;
    memset(&CL, 0, sizeof CL);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", F.port);
    cc_client_config cfg = {.address = addr,
                            .client_type = "AgentApplication",
                            .client_name = "unit",
                            .token = "desk-secret"};
    cc_client *c = cc_client_new(&F.net, &cfg, &cl_ops, &CL);
    assert_ptr_equal(cc_client_user(c), &CL);
    assert_string_equal(cc_client_address(c), addr);
    assert_string_equal(cc_client_server_name(c), "");
    cc_buf b;
    cc_buf_init(&b);
    jw_open_message(&b, "RequestEcho");
    jw_kv_str(&b, "text", "via client");
    /* Nothing is sent before the link is up. */
    assert_int_equal(cc_client_request(c, &b), 0);
    cc_client_start(c);
    WAIT_FOR(cc_client_is_up(c), WAIT_MS);
    assert_true(cc_client_is_up(c));
    assert_int_equal(CL.registered, 1);
    assert_string_equal(cc_client_server_name(c), "test-srv");
    /* Registration was referenceId 1; requests go on from 2. */
    assert_int_equal(cc_client_request(c, &b), 2);
    assert_int_equal(cc_client_request(c, &b), 3);
    WAIT_FOR(CL.messages == 2, WAIT_MS);
    assert_int_equal(CL.messages, 2);
    assert_string_equal(CL.last_message, "EventAck");
    assert_int_equal(CL.last_ref, 3);
    /* An event from the client. */
    cc_buf_reset(&b);
    jw_open_message(&b, "EventTest");
    cc_sbuf *ev = cc_sbuf_new(b.data, b.len);
    assert_true(cc_client_send(c, ev, NULL));
    cc_sbuf_unref(ev);
    WAIT_FOR(F.events_seen == 1, WAIT_MS);
    assert_int_equal(F.events_seen, 1);
    cc_buf_free(&b);
    assert_int_equal(CL.downs, 0);
    free_client(c);
    /* No callbacks after free. */
    assert_int_equal(CL.downs, 0);
}

static void test_client_wrong_token(void **state)
{
    (void)state;
    memset(&CL, 0, sizeof CL);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", F.port);
    cc_client_config cfg = {
        .address = addr, .client_type = "AgentApplication", .client_name = "unit", .token = "nope"};
    cc_client *c = cc_client_new(&F.net, &cfg, &cl_ops, NULL);
    cc_client_start(c);
    WAIT_FOR(CL.downs == 1, WAIT_MS);
    assert_int_equal(CL.downs, 1);
    assert_int_equal(CL.registered, 0);
    assert_non_null(strstr(CL.last_why, "registration refused"));
    assert_false(cc_client_is_up(c));
    free_client(c);
}

/* A listening socket the test drives by hand, to play a server that misbehaves. */
static int raw_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    set_nonblock(fd);
    return fd;
}

static bool try_accept(int lfd, raw *r)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return false;
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->next_seq = 0; /* clients send no seq */
    set_nonblock(fd);
    return true;
}

/* Accepts the client's next connection and checks its registration request. */
static void accept_register(int lfd, raw *r)
{
    WAIT_FOR(try_accept(lfd, r), WAIT_MS);
    assert_true(r->fd > 0);
    json_t *reg = raw_expect(r);
    assert_string_equal(jstr(reg, "message"), "RequestRegisterClient");
    assert_int_equal(jint(reg, "referenceId"), 1);
    assert_string_equal(jstr(reg, "clientType"), "ReportingEngine");
    assert_string_equal(jstr(reg, "clientName"), "stat-1");
    assert_string_equal(jstr(reg, "token"), "rep-secret");
    assert_null(json_object_get(reg, "seq"));
    json_decref(reg);
}

static void test_client_backoff_seq_gap(void **state)
{
    (void)state;
    memset(&CL, 0, sizeof CL);
    int port;
    int lfd = raw_listener(&port);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    cc_client_config cfg = {.address = addr,
                            .client_type = "ReportingEngine",
                            .client_name = "stat-1",
                            .token = "rep-secret",
                            .reconnect = true,
                            .backoff_min_ms = 100,
                            .backoff_max_ms = 400};
    cc_client *c = cc_client_new(&F.net, &cfg, &cl_ops, NULL);

    /* Bound but not listening: every connect is refused, and the retries back off
     * 100, 200, 400, then stay at the 400 ms cap. */
    cc_client_start(c);
    WAIT_FOR(CL.downs >= 5, WAIT_MS);
    assert_true(CL.downs >= 5);
    static const unsigned expect[] = {100, 200, 400, 400};
    for (int i = 0; i < 4; i++) {
        uint64_t gap = CL.down_ms[i + 1] - CL.down_ms[i];
        if (gap < expect[i] - 5 || gap > expect[i] + 350)
            fail_msg("retry %d came after %llu ms, expected about %u", i + 1,
                     (unsigned long long)gap, expect[i]);
    }
    assert_false(cc_client_is_up(c));

    /* Now listen: the next attempt registers. */
    assert_int_equal(listen(lfd, 8), 0);
    raw s;
    accept_register(lfd, &s);
    raw_send(&s, "{\"message\":\"EventAck\",\"referenceId\":1,\"serverName\":\"raw-srv\","
                 "\"protocolVersion\":1,\"idleTimeout\":1,\"seq\":1}\n");
    WAIT_FOR(cc_client_is_up(c), WAIT_MS);
    assert_true(cc_client_is_up(c));
    assert_string_equal(cc_client_server_name(c), "raw-srv");

    /* Pings at a third of the idle timeout; their acks are not passed on. */
    uint64_t t0 = now_ms();
    json_t *ping = raw_expect(&s);
    assert_string_equal(jstr(ping, "message"), "RequestPing");
    assert_int_equal(jint(ping, "referenceId"), 2);
    uint64_t waited = now_ms() - t0;
    assert_true(waited >= 250 && waited <= 600);
    json_decref(ping);
    raw_send(&s, "{\"message\":\"EventAck\",\"referenceId\":2,\"seq\":2}\n"
                 "{\"message\":\"EventSomething\",\"seq\":3}\n");
    WAIT_FOR(CL.messages == 1, WAIT_MS);
    assert_int_equal(CL.messages, 1);
    assert_string_equal(CL.last_message, "EventSomething");

    /* A gap in seq drops the link at once. */
    int downs = CL.downs;
    raw_send(&s, "{\"message\":\"EventSomething\",\"seq\":5}\n");
    WAIT_FOR(CL.downs == downs + 1, WAIT_MS);
    assert_int_equal(CL.downs, downs + 1);
    assert_string_equal(CL.last_why, "seq gap");
    assert_int_equal(CL.messages, 1);
    raw_expect_closed(&s);
    raw_close(&s);

    /* After a registered link the backoff starts again at the minimum, and the new
     * link numbers its requests from 1 again. */
    uint64_t down_at = CL.down_ms[downs];
    accept_register(lfd, &s);
    uint64_t gap = now_ms() - down_at;
    if (gap < 95 || gap > 350)
        fail_msg("reconnect after %llu ms, expected about 100", (unsigned long long)gap);

    /* A missing seq is a gap too. */
    raw_send(&s, "{\"message\":\"EventAck\",\"referenceId\":1,\"serverName\":\"raw-srv\"}\n");
    WAIT_FOR(CL.downs == downs + 2, WAIT_MS);
    assert_string_equal(CL.last_why, "seq gap");
    raw_close(&s);

    /* A refused registration is reported with the server's description. */
    accept_register(lfd, &s);
    raw_send(&s, "{\"message\":\"EventError\",\"referenceId\":1,\"errorCode\":5,"
                 "\"errorName\":\"NotAuthorized\",\"errorDescription\":\"wrong token\","
                 "\"seq\":1}\n");
    WAIT_FOR(CL.downs == downs + 3, WAIT_MS);
    assert_string_equal(CL.last_why, "registration refused: wrong token");
    raw_close(&s);

    /* cc_client_drop takes a live link down and it comes back. */
    accept_register(lfd, &s);
    raw_send(&s, "{\"message\":\"EventAck\",\"referenceId\":1,\"serverName\":\"raw-srv\","
                 "\"seq\":1}\n");
    WAIT_FOR(cc_client_is_up(c), WAIT_MS);
    assert_true(cc_client_is_up(c));
    cc_client_drop(c, "test drop");
    assert_false(cc_client_is_up(c));
    assert_string_equal(CL.last_why, "test drop");
    raw_expect_closed(&s);
    raw_close(&s);
    accept_register(lfd, &s);
    raw_close(&s);

    free_client(c);
    close(lfd);
}

static void test_addr(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    assert_int_equal(cc_parse_hostport("127.0.0.1:7001", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 7001);
    assert_int_equal(cc_parse_hostport("localhost:0", &ss), 0);
    assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(cc_parse_hostport("[::1]:65535", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 65535);
    static const char *const bad[] = {"",
                                      "7001",
                                      ":7001",
                                      "127.0.0.1:",
                                      "127.0.0.1:65536",
                                      "127.0.0.1:-1",
                                      "127.0.0.1:80x",
                                      "::1:80",
                                      "[::1:80",
                                      "[]:80",
                                      "host.example:80",
                                      "1.2.3:80",
                                      "127.0.0.1: 80",
                                      "127.0.0.1:+80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cc_parse_hostport(bad[i], &ss) != UV_EINVAL)
            fail_msg("%s was accepted", bad[i]);

    char dir[] = "/tmp/test_net.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/ixn.port", dir);
    const char *const keys[] = {"tcp", "http"};
    const int values[] = {7001, 8080};
    assert_int_equal(cc_write_port_file(path, keys, values, 2), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[64] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_string_equal(text, "tcp=7001\nhttp=8080\n");
    assert_int_equal(unlink(path), 0);
    /* Nothing is left behind: the temporary file was renamed. */
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(cc_write_port_file("/nonexistent-dir/x.port", keys, values, 1), CC_E_IO);
}

/* ---- the loop-turn watch ---- */

static uv_timer_t tw_spin_timer, tw_stop_timer;

/* One turn of at least 3 ms of CPU, as a named section. */
static void tw_spin(uv_timer_t *t)
{
    (void)t;
    uint64_t t0 = cc_turnw_begin();
    while (cc_turnw_begin() - t0 < 3000000u)
        ;
    cc_turnw_end("spin", t0);
}

static void tw_stop(uv_timer_t *t)
{
    (void)t;
    uv_close((uv_handle_t *)&tw_spin_timer, NULL);
    uv_close((uv_handle_t *)&tw_stop_timer, NULL);
}

static void test_turn_watch(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    /* Off without the variable: no probe, no figures. */
    unsetenv("CC_TURN_WATCH_MS");
    assert_false(cc_turnw_start(&loop, "test", 0));
    assert_false(cc_turnw_on());
    cc_turnw_stats st;
    cc_turnw_report(&st, false);
    assert_int_equal(st.turns, 0);

    setenv("CC_TURN_WATCH_MS", "2", 1);
    assert_true(cc_turnw_start(&loop, "test", 0));
    assert_true(cc_turnw_on());
    uv_timer_init(&loop, &tw_spin_timer);
    uv_timer_init(&loop, &tw_stop_timer);
    uv_timer_start(&tw_spin_timer, tw_spin, 1, 0);
    uv_timer_start(&tw_stop_timer, tw_stop, 30, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    cc_turnw_report(&st, false);
    /* The spinning turn is counted by its CPU time, the others are short. */
    assert_true(st.turns >= 2);
    assert_true(st.max_us >= 3000);
    assert_true(st.max_us < 1000000);
    assert_true(st.n_over2 >= 1);
    assert_true(st.over2_us >= 3000);
    assert_true(st.busy_us >= st.over2_us);
    assert_true(st.span_us >= 3000);
    /* A report starts a new count. */
    cc_turnw_report(&st, false);
    assert_int_equal(st.n_over2, 0);

    cc_turnw_stop();
    assert_false(cc_turnw_on());
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unsetenv("CC_TURN_WATCH_MS");
}

static void on_watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "test_net: watchdog expired, a test hung\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(2);
}

int main(void)
{
    signal(SIGALRM, on_watchdog);
    signal(SIGPIPE, SIG_IGN);
    alarm(WATCHDOG_S);
    /* The session and client log every connection; keep the test output readable. */
    cc_log_init("test_net", CC_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_turn_watch),
        cmocka_unit_test_setup_teardown(test_register_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_register_and_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input_stays_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_from_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seq_and_shared_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_answers_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_and_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_line_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_after_stall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
        cmocka_unit_test(test_out_limit_parse),
        cmocka_unit_test_setup_teardown(test_out_limit_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_with_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_wrong_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_backoff_seq_gap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

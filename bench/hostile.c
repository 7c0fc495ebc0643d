/* hostile: the hostile clients of the soak benchmark (scripts/soak.sh, docs/bench.md).
 *
 * Keeps four kinds of misbehaving connections open against one ixnserver on loopback for
 * --seconds, each connection opened again one second after the server closed it:
 *   slow     registered desktops (AgentApplication) that pipeline RequestPing at --ping-rate
 *            per second and never read: the answers pile up in the server;
 *   trickle  HTTP requests to the web port that send one more header line every
 *            --trickle-ms and never end the header;
 *   guess    registered desktops that try wrong passwords for the agents TENANT/v1..vK
 *            (--victims), one after the other as fast as the server answers;
 *   frag     WebSocket connections (GET /ws) that never register and send one-byte
 *            continuation fragments of a message that never ends, at --frag-rate per
 *            second.
 * No hostile client ever reads more than 64 KiB ahead or queues more than 64 KiB of its
 * own output, so that this process stays small whatever the server does.
 *
 * At the end (--seconds, SIGINT or SIGTERM) it prints one line of key=value pairs per kind:
 * how many connections it opened, how many the server closed, how long they lived on
 * average (open_s, or up to the end for those still open), and what each kind sent and got
 * back. The exit status is 0 unless the arguments were wrong. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "net/client.h"
#include "net/conn.h"
#include "proto/agentreq.h"
#include "proto/msg.h"
#include "proto/regmsg.h"
#include "lib/tool.h"

#define HOSTILE_MAX_PER_KIND 10000
#define HOSTILE_TICK_MS 100
/* Own output queued at most per connection before more is generated. */
#define HOSTILE_QUEUE_MAX 65536
/* The pause before a closed connection is opened again, so that a server that refuses at
 * once does not turn the benchmark into a connect loop. */
#define HOSTILE_RECONNECT_MS 1000
/* The first line of the HTTP answers the trickle and frag connections count. */
#define HOSTILE_STATUS_MAX 8

enum hkind { K_SLOW, K_TRICKLE, K_GUESS, K_FRAG, K_COUNT };

static const char *const kind_name[K_COUNT] = {"slow", "trickle", "guess", "frag"};

/* Counters of one kind. */
typedef struct hstats {
    uint64_t opened;     /* connects that succeeded */
    uint64_t failed;     /* connects that failed */
    uint64_t closed;     /* connections the server closed (or reset) */
    uint64_t life_us;    /* summed lifetime of the connections (to the end for open ones) */
    uint64_t lives;      /* connections whose lifetime is in life_us */
    uint64_t sent;       /* pings, header lines, guesses or fragments */
    uint64_t answered;   /* guesses answered */
    uint64_t refused_5;  /* guesses answered NotAuthorized (5) */
    uint64_t other;      /* guesses answered another error, or HTTP answers not 101 */
    uint64_t accepted;   /* guesses accepted (a right password: should never happen) */
    uint64_t upgraded;   /* frag: upgrades answered 101 */
    uint64_t http_codes; /* trickle/frag: HTTP status lines received */
} hstats;

/* One hostile connection. */
typedef struct hconn {
    enum hkind kind;
    int index;
    cc_conn *conn;     /* slow, trickle, frag */
    cc_client *client; /* guess */
    bool open;         /* connected (guess: registered) */
    bool connecting;
    uint64_t opened_us;
    uint64_t retry_us; /* when closed: connect again at this time */
    /* slow */
    int64_t next_ref;
    /* trickle */
    uint64_t next_line_us;
    uint64_t lines;
    /* frag */
    bool got_status;
    bool status_101;
    bool upgraded;
    bool frag_started;
    /* guess */
    int64_t login_ref;
    uint64_t guesses;
} hconn;

static struct {
    uv_loop_t loop;
    cc_net net;
    uv_timer_t tick;
    tool_stop stop;
    tool_drain drain;
    /* options */
    const char *ixn_addr;
    const char *http_addr;
    const char *token;
    const char *tenant;
    int count[K_COUNT];
    int victims;
    double ping_rate;
    double frag_rate;
    unsigned trickle_ms;
    unsigned seconds;
    /* state */
    hconn *conns[K_COUNT];
    hstats st[K_COUNT];
    uint64_t start_us;
    bool stopping;
    double budget_ping, budget_frag;
    cc_sbuf *frag_first; /* one masked text frame, FIN 0, one byte */
    cc_sbuf *frag_cont;  /* one masked continuation frame, FIN 0, one byte */
} H;

static void usage(FILE *f)
{
    fprintf(f, "usage: hostile --ixn HOST:PORT --http HOST:PORT --token T [--tenant T]\n"
               "               [--slow N] [--trickle N] [--guess N] [--frag N] [--victims K]\n"
               "               [--ping-rate R] [--trickle-ms MS] [--frag-rate R] [--seconds S]\n"
               "Keeps N connections of each kind open against the ixnserver for S seconds\n"
               "(default 60) and prints one summary line per kind. --token is the\n"
               "AgentApplication token; guesses go to agents TENANT/v1..vK.\n");
}

static bool parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ixn", required_argument, NULL, 'i'},
        {"http", required_argument, NULL, 'w'},
        {"token", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"slow", required_argument, NULL, 's'},
        {"trickle", required_argument, NULL, 'r'},
        {"guess", required_argument, NULL, 'g'},
        {"frag", required_argument, NULL, 'f'},
        {"victims", required_argument, NULL, 'v'},
        {"ping-rate", required_argument, NULL, 'P'},
        {"trickle-ms", required_argument, NULL, 'T'},
        {"frag-rate", required_argument, NULL, 'F'},
        {"seconds", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    H.token = "";
    H.tenant = "Bench";
    H.count[K_SLOW] = H.count[K_TRICKLE] = H.count[K_GUESS] = H.count[K_FRAG] = 50;
    H.victims = 50;
    H.ping_rate = 1000;
    H.frag_rate = 1000;
    H.trickle_ms = 5000;
    H.seconds = 60;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': H.ixn_addr = optarg; break;
        case 'w': H.http_addr = optarg; break;
        case 'k': H.token = optarg; break;
        case 't': H.tenant = optarg; break;
        case 's': H.count[K_SLOW] = atoi(optarg); break;
        case 'r': H.count[K_TRICKLE] = atoi(optarg); break;
        case 'g': H.count[K_GUESS] = atoi(optarg); break;
        case 'f': H.count[K_FRAG] = atoi(optarg); break;
        case 'v': H.victims = atoi(optarg); break;
        case 'P': H.ping_rate = strtod(optarg, NULL); break;
        case 'T': H.trickle_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'F': H.frag_rate = strtod(optarg, NULL); break;
        case 'S': H.seconds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return false;
        }
    }
    bool ok = H.ixn_addr && H.seconds >= 1 && H.seconds <= 86400 && H.victims >= 1 &&
              H.victims <= 100000 && H.ping_rate >= 0 && H.ping_rate <= 1e6 && H.frag_rate >= 0 &&
              H.frag_rate <= 1e6 && H.trickle_ms >= 10 && H.trickle_ms <= 3600000 && *H.tenant &&
              strlen(H.tenant) <= PROTO_ID_MAX;
    for (int k = 0; k < K_COUNT; k++)
        ok = ok && H.count[k] >= 0 && H.count[k] <= HOSTILE_MAX_PER_KIND;
    if (ok && !H.http_addr && (H.count[K_TRICKLE] || H.count[K_FRAG])) {
        fprintf(stderr, "hostile: --trickle and --frag need --http\n");
        return false;
    }
    if (!ok) {
        fprintf(stderr,
                "hostile: --ixn is required; --slow, --trickle, --guess, --frag 0..%d, "
                "--victims 1..100000, --ping-rate and --frag-rate 0..1000000, --trickle-ms "
                "10..3600000, --seconds 1..86400\n",
                HOSTILE_MAX_PER_KIND);
        usage(stderr);
        return false;
    }
    return true;
}

/* ---- raw connections: slow, trickle, frag ---- */

static void send_text(cc_conn *c, const char *text)
{
    cc_sbuf *s = cc_sbuf_new(text, strlen(text));
    cc_conn_send_raw(c, s);
    cc_sbuf_unref(s);
}

static void life_ends(hconn *h, uint64_t now)
{
    hstats *st = &H.st[h->kind];
    st->life_us += now - h->opened_us;
    st->lives++;
}

/* The first line of an HTTP answer: counted, and for frag whether it is the 101. */
static void http_status_line(hconn *h, const char *line, size_t len)
{
    h->got_status = true;
    H.st[h->kind].http_codes++;
    h->status_101 = len >= 12 && memcmp(line, "HTTP/1.1 101", 12) == 0;
    if (h->status_101)
        H.st[h->kind].upgraded++;
    else
        H.st[h->kind].other++;
}

static int on_raw_line(cc_conn *c, const char *line, size_t len)
{
    hconn *h = cc_conn_user(c);
    if (!h)
        return 0;
    if (h->kind == K_TRICKLE) {
        /* The server gave up on the request (an error page, or a deadline). */
        if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
            http_status_line(h, line, len);
        return 0;
    }
    if (h->kind == K_FRAG && !h->upgraded) {
        if (!h->got_status)
            http_status_line(h, line, len);
        else if (len == 0 && h->status_101)
            h->upgraded = true; /* the end of the 101's header: WebSocket from here on */
    }
    /* After the upgrade the server sends frames, not lines; whatever comes is ignored. */
    return 0;
}

static void on_raw_connect(cc_conn *c, int status)
{
    hconn *h = cc_conn_user(c);
    if (!h || status < 0)
        return; /* on_close follows and counts it */
    uint64_t now = cc_mono_us();
    h->open = true;
    h->connecting = false;
    h->opened_us = now;
    H.st[h->kind].opened++;
    switch (h->kind) {
    case K_SLOW: {
        /* Never read: the answers stay in the server. Reading stops once 64 KiB are held. */
        cc_conn_pause(c);
        cc_buf b;
        cc_buf_init(&b);
        char name[48];
        snprintf(name, sizeof name, "hostile-slow-%d", h->index + 1);
        proto_reg_enc_register(&b, 1,
                               &(proto_reg_register){.client_name = name,
                                                     .client_type = "AgentApplication",
                                                     .token = H.token});
        cc_conn_send_buf(c, &b);
        cc_buf_free(&b);
        h->next_ref = 2;
        break;
    }
    case K_TRICKLE: {
        char head[160];
        snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: %s\r\n", H.http_addr);
        send_text(c, head);
        h->lines = 0;
        h->next_line_us = now + (uint64_t)H.trickle_ms * 1000u;
        break;
    }
    case K_FRAG: {
        char req[400];
        /* No Origin header: not a browser, which the server allows. */
        snprintf(req, sizeof req,
                 "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 H.http_addr);
        send_text(c, req);
        h->got_status = h->status_101 = h->upgraded = h->frag_started = false;
        break;
    }
    case K_GUESS:
    case K_COUNT: break;
    }
}

static void on_raw_close(cc_conn *c, enum cc_close_reason reason)
{
    hconn *h = cc_conn_user(c);
    if (!h)
        return;
    uint64_t now = cc_mono_us();
    if (h->open) {
        life_ends(h, now);
        /* Closing them at the end is this side's doing, not the server's. */
        if (!H.stopping)
            H.st[h->kind].closed++;
    } else if (reason == CC_CLOSE_CONNECT) {
        H.st[h->kind].failed++;
    }
    h->conn = NULL;
    h->open = h->connecting = false;
    h->retry_us = now + HOSTILE_RECONNECT_MS * 1000u;
}

static const cc_conn_ops raw_ops = {
    .on_line = on_raw_line,
    .on_connect = on_raw_connect,
    .on_close = on_raw_close,
};

static void raw_connect(hconn *h)
{
    cc_conn_limits lim = cc_conn_default_limits();
    lim.server_side = false;
    /* Far above what is ever queued here (HOSTILE_QUEUE_MAX): never cut by this side. */
    lim.out_hard = 16u * 1024u * 1024u;
    const char *addr = h->kind == K_SLOW ? H.ixn_addr : H.http_addr;
    h->connecting = true;
    int rc = cc_conn_connect(&H.net, addr, &raw_ops, &lim, h, &h->conn);
    if (rc < 0) {
        h->conn = NULL;
        h->connecting = false;
        H.st[h->kind].failed++;
        h->retry_us = cc_mono_us() + HOSTILE_RECONNECT_MS * 1000u;
    }
}

/* Pipelined pings, n of them, while this side's own queue has room. */
static void slow_send(hconn *h, int n)
{
    cc_buf b;
    cc_buf_init(&b);
    for (int i = 0; i < n && cc_conn_queued(h->conn) < HOSTILE_QUEUE_MAX; i++) {
        cc_buf_reset(&b);
        proto_reg_enc_ping(&b, h->next_ref++);
        cc_conn_send_buf(h->conn, &b);
        H.st[K_SLOW].sent++;
    }
    cc_buf_free(&b);
}

static void trickle_send(hconn *h, uint64_t now)
{
    if (now < h->next_line_us)
        return;
    char line[64];
    snprintf(line, sizeof line, "X-Trickle-%" PRIu64 ": %d\r\n", ++h->lines, h->index);
    send_text(h->conn, line);
    h->next_line_us = now + (uint64_t)H.trickle_ms * 1000u;
    H.st[K_TRICKLE].sent++;
}

static void frag_send(hconn *h, int n)
{
    if (!h->upgraded)
        return;
    for (int i = 0; i < n && cc_conn_queued(h->conn) < HOSTILE_QUEUE_MAX; i++) {
        cc_conn_send_raw(h->conn, h->frag_started ? H.frag_cont : H.frag_first);
        h->frag_started = true;
        H.st[K_FRAG].sent++;
    }
}

/* A client frame of one payload byte: FIN 0, the opcode, the mask bit with a zero mask
 * (so the payload byte goes out as it is), then a space. */
static cc_sbuf *one_byte_frame(unsigned char opcode)
{
    const unsigned char f[7] = {opcode, 0x80 | 1, 0, 0, 0, 0, ' '};
    return cc_sbuf_new(f, sizeof f);
}

/* ---- guessers ---- */

static void guess_next(hconn *h)
{
    char agent[32], place[40], password[48];
    int v =
        (int)((uint64_t)(h->index + h->guesses * (uint64_t)H.count[K_GUESS]) % (uint64_t)H.victims);
    snprintf(agent, sizeof agent, "v%d", v + 1);
    snprintf(place, sizeof place, "PV%d", h->index + 1);
    snprintf(password, sizeof password, "guess-%d-%" PRIu64, h->index, h->guesses);
    proto_areq_login l = {.tenant = H.tenant,
                          .agent_id = agent,
                          .place_id = place,
                          .password = password,
                          .nmedia = 1,
                          .media = {{.name = "chat", .ready = false}}};
    cc_buf b;
    cc_buf_init(&b);
    proto_areq_enc_login(&b, &l);
    h->login_ref = cc_client_request(h->client, &b);
    cc_buf_free(&b);
    if (h->login_ref > 0) {
        h->guesses++;
        H.st[K_GUESS].sent++;
    }
}

static void on_guess_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    hconn *h = cc_client_user(c);
    h->open = true;
    h->opened_us = cc_mono_us();
    H.st[K_GUESS].opened++;
    guess_next(h);
}

static void on_guess_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    hconn *h = cc_client_user(c);
    if (H.stopping || msg->ref == 0 || msg->ref != h->login_ref)
        return;
    h->login_ref = 0;
    hstats *st = &H.st[K_GUESS];
    st->answered++;
    if (strcmp(msg->name, "EventAck") == 0) {
        /* A guess that got in: count it and start over on a fresh connection. */
        st->accepted++;
        cc_client_drop(c, "guessed");
        return;
    }
    proto_error e;
    if (proto_decode_error(msg, &e) == 0 && e.code == 5)
        st->refused_5++;
    else
        st->other++;
    guess_next(h);
}

static void on_guess_down(cc_client *c, const char *why)
{
    (void)why;
    hconn *h = cc_client_user(c);
    if (h->open) {
        life_ends(h, cc_mono_us());
        if (!H.stopping)
            H.st[K_GUESS].closed++;
    } else if (!H.stopping) {
        H.st[K_GUESS].failed++;
    }
    h->open = false;
    h->login_ref = 0;
}

static const cc_client_ops guess_ops = {
    .on_registered = on_guess_registered,
    .on_message = on_guess_message,
    .on_down = on_guess_down,
};

/* ---- the run ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (H.stopping)
        return;
    uint64_t now = cc_mono_us();
    H.budget_ping += H.ping_rate * HOSTILE_TICK_MS / 1000.0;
    H.budget_frag += H.frag_rate * HOSTILE_TICK_MS / 1000.0;
    int pings = (int)H.budget_ping, frags = (int)H.budget_frag;
    H.budget_ping -= pings;
    H.budget_frag -= frags;
    for (int k = 0; k < K_COUNT; k++) {
        if (k == K_GUESS)
            continue;
        for (int i = 0; i < H.count[k]; i++) {
            hconn *h = &H.conns[k][i];
            if (!h->conn && !h->connecting) {
                if (now >= h->retry_us)
                    raw_connect(h);
                continue;
            }
            if (!h->open || cc_conn_is_closing(h->conn))
                continue;
            if (k == K_SLOW)
                slow_send(h, pings);
            else if (k == K_TRICKLE)
                trickle_send(h, now);
            else
                frag_send(h, frags);
        }
    }
}

static void print_summary(void)
{
    uint64_t now = cc_mono_us();
    double secs = (double)(now - H.start_us) / 1e6;
    for (int k = 0; k < K_COUNT; k++) {
        hstats *st = &H.st[k];
        /* Connections still open count with their lifetime so far. */
        uint64_t life = st->life_us, lives = st->lives;
        for (int i = 0; i < H.count[k]; i++)
            if (H.conns[k][i].open) {
                life += now - H.conns[k][i].opened_us;
                lives++;
            }
        printf("hostile kind=%s conns=%d seconds=%.1f opened=%" PRIu64 " connect_failed=%" PRIu64
               " closed_by_server=%" PRIu64 " mean_open_s=%.1f sent=%" PRIu64,
               kind_name[k], H.count[k], secs, st->opened, st->failed, st->closed,
               lives ? (double)life / (double)lives / 1e6 : 0.0, st->sent);
        if (k == K_GUESS)
            printf(" answered=%" PRIu64 " refused_5=%" PRIu64 " refused_other=%" PRIu64
                   " accepted=%" PRIu64 " guesses_per_s=%.1f",
                   st->answered, st->refused_5, st->other, st->accepted,
                   secs > 0 ? (double)st->answered / secs : 0.0);
        else if (k == K_FRAG)
            printf(" upgraded=%" PRIu64 " http_refused=%" PRIu64, st->upgraded, st->other);
        else if (k == K_TRICKLE)
            printf(" http_answers=%" PRIu64, st->http_codes);
        printf("\n");
    }
    fflush(stdout);
}

static void begin_stop(const char *why)
{
    if (H.stopping)
        return;
    LOG_INFO("event=stopping why=%s", why);
    print_summary();
    H.stopping = true;
    for (int k = 0; k < K_COUNT; k++)
        for (int i = 0; i < H.count[k]; i++) {
            hconn *h = &H.conns[k][i];
            if (h->client)
                cc_client_free(h->client);
            if (h->conn) {
                cc_conn_set_user(h->conn, NULL);
                cc_conn_close(h->conn, CC_CLOSE_LOCAL);
            }
            h->client = NULL;
            h->conn = NULL;
        }
    tool_close((uv_handle_t *)&H.tick);
    tool_stop_close(&H.stop);
    tool_close_net_later(&H.drain, &H.loop, &H.net);
}

int main(int argc, char **argv)
{
    cc_log_init("hostile", CC_LOG_WARN);
    if (!parse_args(argc, argv))
        return 2;
    int total = 0;
    for (int k = 0; k < K_COUNT; k++)
        total += H.count[k];
    tool_raise_nofile("hostile", (uint64_t)total + 64);
    tool_loop_init(&H.loop, &H.net);
    H.frag_first = one_byte_frame(0x01);
    H.frag_cont = one_byte_frame(0x00);
    H.start_us = cc_mono_us();
    for (int k = 0; k < K_COUNT; k++) {
        H.conns[k] = xcalloc((size_t)(H.count[k] ? H.count[k] : 1), sizeof(hconn));
        for (int i = 0; i < H.count[k]; i++) {
            hconn *h = &H.conns[k][i];
            h->kind = (enum hkind)k;
            h->index = i;
            /* Spread the first connects over the first second. */
            h->retry_us = H.start_us + (uint64_t)i * 1000000u / (uint64_t)H.count[k];
        }
    }
    for (int i = 0; i < H.count[K_GUESS]; i++) {
        hconn *h = &H.conns[K_GUESS][i];
        char name[48];
        snprintf(name, sizeof name, "hostile-guess-%d", i + 1);
        cc_client_config cfg = {
            .address = H.ixn_addr,
            .client_type = "AgentApplication",
            .client_name = name,
            .token = H.token,
            .reconnect = true,
            .backoff_min_ms = HOSTILE_RECONNECT_MS,
            .backoff_max_ms = HOSTILE_RECONNECT_MS,
        };
        h->client = cc_client_new(&H.net, &cfg, &guess_ops, h);
        cc_client_start(h->client);
    }
    uv_timer_init(&H.loop, &H.tick);
    uv_timer_start(&H.tick, on_tick, HOSTILE_TICK_MS, HOSTILE_TICK_MS);
    tool_stop_start(&H.stop, &H.loop, H.seconds, begin_stop);
    int rc = tool_loop_run(&H.loop);
    if (rc != 0)
        LOG_WARN("event=loop_close_busy rc=%d", rc);
    cc_sbuf_unref(H.frag_first);
    cc_sbuf_unref(H.frag_cont);
    for (int k = 0; k < K_COUNT; k++)
        free(H.conns[k]);
    return 0;
}

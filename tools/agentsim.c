/* agentsim: simulates agents for the demo. Every agent holds one AgentApplication
 * connection on each interaction server given, logs in with that server's media, then at
 * random times changes readiness (ready, not ready with a reason, DND on and off) until
 * --seconds pass or SIGINT/SIGTERM arrives, and then logs out cleanly. One summary line
 * per 5 seconds goes to stdout. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/media.h"
#include "net/client.h"
#include "net/conn.h"
#include "proto/jw.h"
#include "proto/msg.h"

/* Bounds on what the command line may ask for, so a typo cannot exhaust the machine. */
#define SIM_MAX_AGENTS 100000
#define SIM_MAX_SERVERS 8
#define SIM_MAX_MEDIA 16
#define SIM_SUMMARY_MS 5000
#define SIM_TICK_MS 10
#define SIM_LOGOUT_WAIT_MS 3000
#define SIM_RETRY_LOGIN_MS 2000

/* Where one simulated agent's connection to one server stands. */
enum sim_phase {
    SIM_DOWN,       /* not registered */
    SIM_LOGGING_IN, /* login sent, no answer yet */
    SIM_LOGGED_IN,
    SIM_LOGIN_WAIT, /* login refused; retried later */
    SIM_LOGGING_OUT,
    SIM_DONE, /* logged out at shutdown */
};

/* What the request in flight on a connection was, so its answer updates local state. */
enum sim_req {
    SIM_REQ_NONE,
    SIM_REQ_LOGIN,
    SIM_REQ_LOGOUT,
    SIM_REQ_READY,
    SIM_REQ_NOTREADY,
    SIM_REQ_REASON,
    SIM_REQ_DND_ON,
    SIM_REQ_DND_OFF,
};

typedef struct sim_server {
    const char *address;
    int media_count;
    char media[SIM_MAX_MEDIA][CC_MEDIA_NAME_MAX + 1];
} sim_server;

typedef struct sim_conn {
    cc_client *client;
    int agent;  /* agent number, e.g. 1001 */
    int server; /* index into the server list */
    enum sim_phase phase;
    enum sim_req req;
    int req_media; /* media index of the request in flight */
    int64_t req_ref;
    uint32_t ready_mask; /* bit i: media i of the server is ready */
    bool dnd;
    uint64_t retry_at_us;
} sim_conn;

typedef struct sim {
    uv_loop_t loop;
    cc_net net;
    uv_timer_t tick;
    uv_timer_t summary;
    uv_timer_t stop_timer;
    uv_timer_t logout_timer;
    uv_signal_t sigint;
    uv_signal_t sigterm;
    sim_server servers[SIM_MAX_SERVERS];
    int server_count;
    const char *token;
    const char *tenant;
    const char *place_prefix;
    char password[PROTO_TEXT_MAX + 1];
    int first, last;
    double rate;
    double budget; /* requests owed to the rate, carried between ticks */
    unsigned seconds;
    char *server_list; /* the --server copy that the addresses point into */
    sim_conn *conns;
    size_t nconns;
    bool stopping;
    uint64_t rng;
    uint64_t start_us;
    uint64_t logins, requests, errors, statuses, logouts;
    uv_timer_t drain_timer;
    uint64_t drain_start_us;
} sim;

static sim S;

/* Reason codes the simulated agents give when they go not ready. */
static const struct {
    int code;
    const char *text;
} sim_reasons[] = {{1, "Break"}, {2, "Lunch"}, {3, "Training"}, {4, "Meeting"}, {5, "Coaching"}};
#define SIM_REASON_COUNT (sizeof sim_reasons / sizeof sim_reasons[0])

static uint64_t sim_rand(void)
{
    /* xorshift64*: good enough to spread simulated actions, and reproducible by seed. */
    S.rng ^= S.rng >> 12;
    S.rng ^= S.rng << 25;
    S.rng ^= S.rng >> 27;
    return S.rng * 2685821657736338717ULL;
}

static unsigned sim_below(unsigned n)
{
    return n ? (unsigned)(sim_rand() % n) : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: agentsim --server HOST:PORT[,HOST:PORT...] --token T --tenant T\n"
               "                --agents FIRST-LAST --password-file F [--media LIST[/LIST...]]\n"
               "                [--seconds S] [--rate R] [--place-prefix P] [--seed N]\n"
               "  --media     comma-separated media for each server; '/' separates the lists of\n"
               "              successive servers (the last list serves the remaining servers)\n"
               "  --seconds   run time, 0 = until SIGINT (default 0)\n"
               "  --rate      state changes per second over all agents (default: agents / 2)\n");
}

static bool parse_media_list(sim_server *srv, const char *s, size_t n)
{
    srv->media_count = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        if (j > i) {
            if (!cc_media_name_valid(s + i, j - i) || srv->media_count == SIM_MAX_MEDIA)
                return false;
            memcpy(srv->media[srv->media_count], s + i, j - i);
            srv->media[srv->media_count][j - i] = '\0';
            srv->media_count++;
        }
        i = j + 1;
    }
    return srv->media_count > 0;
}

static bool parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"token", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"agents", required_argument, NULL, 'a'},
        {"password-file", required_argument, NULL, 'p'},
        {"media", required_argument, NULL, 'm'},
        {"seconds", required_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},
        {"place-prefix", required_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *servers = NULL, *agents = NULL, *pwfile = NULL, *media = "voice,chat,email";
    S.token = "";
    S.tenant = "Resources";
    S.place_prefix = "P";
    S.rate = -1;
    S.rng = 0x9E3779B97F4A7C15ULL ^ cc_wall_us();
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': servers = optarg; break;
        case 'k': S.token = optarg; break;
        case 't': S.tenant = optarg; break;
        case 'a': agents = optarg; break;
        case 'p': pwfile = optarg; break;
        case 'm': media = optarg; break;
        case 'S': S.seconds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': S.rate = strtod(optarg, NULL); break;
        case 'P': S.place_prefix = optarg; break;
        case 'x': S.rng = strtoull(optarg, NULL, 10) | 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return false;
        }
    }
    if (!servers || !agents || !pwfile) {
        fprintf(stderr, "agentsim: --server, --agents and --password-file are required\n");
        usage(stderr);
        return false;
    }
    if (sscanf(agents, "%d-%d", &S.first, &S.last) != 2 || S.first < 0 || S.last < S.first ||
        S.last - S.first + 1 > SIM_MAX_AGENTS) {
        fprintf(stderr, "agentsim: --agents must be FIRST-LAST, at most %d agents\n",
                SIM_MAX_AGENTS);
        return false;
    }
    if (strlen(S.tenant) == 0 || strlen(S.tenant) > PROTO_ID_MAX || strlen(S.place_prefix) > 64) {
        fprintf(stderr, "agentsim: --tenant or --place-prefix too long\n");
        return false;
    }
    /* Servers: comma-separated addresses, kept in a copy that the list points into. */
    char *list = S.server_list = xstrdup(servers);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (S.server_count == SIM_MAX_SERVERS) {
            fprintf(stderr, "agentsim: at most %d servers\n", SIM_MAX_SERVERS);
            return false;
        }
        S.servers[S.server_count++].address = tok;
    }
    if (S.server_count == 0) {
        fprintf(stderr, "agentsim: --server names no address\n");
        return false;
    }
    const char *m = media;
    for (int i = 0; i < S.server_count; i++) {
        const char *slash = strchr(m, '/');
        size_t n = slash ? (size_t)(slash - m) : strlen(m);
        if (!parse_media_list(&S.servers[i], m, n)) {
            fprintf(stderr, "agentsim: bad --media list for server %d (at most %d names)\n", i + 1,
                    SIM_MAX_MEDIA);
            return false;
        }
        if (slash)
            m = slash + 1;
    }
    FILE *f = fopen(pwfile, "r");
    if (!f) {
        fprintf(stderr, "agentsim: %s: %s\n", pwfile, strerror(errno));
        return false;
    }
    if (!fgets(S.password, sizeof S.password, f))
        S.password[0] = '\0';
    fclose(f);
    S.password[strcspn(S.password, "\r\n")] = '\0';
    if (!S.password[0]) {
        fprintf(stderr, "agentsim: %s: no password on its first line\n", pwfile);
        return false;
    }
    if (S.rate < 0)
        S.rate = (S.last - S.first + 1) / 2.0;
    if (S.rate > 100000)
        S.rate = 100000;
    return true;
}

static void send_request(sim_conn *sc, cc_buf *b, enum sim_req req, int media)
{
    int64_t ref = cc_client_request(sc->client, b);
    if (ref > 0) {
        sc->req = req;
        sc->req_ref = ref;
        sc->req_media = media;
        S.requests++;
    }
}

static void send_login(sim_conn *sc)
{
    const sim_server *srv = &S.servers[sc->server];
    char id[32], place[96];
    snprintf(id, sizeof id, "%d", sc->agent);
    snprintf(place, sizeof place, "%s%d", S.place_prefix, sc->agent);
    /* Each media starts ready or not at random, so the first statuses already differ. */
    uint32_t ready = (uint32_t)sim_rand();
    cc_buf b;
    cc_buf_init(&b);
    jw_open_message(&b, "RequestAgentLogin");
    jw_kv_str(&b, "tenant", S.tenant);
    jw_kv_str(&b, "agentId", id);
    jw_kv_str(&b, "placeId", place);
    jw_kv_str(&b, "password", S.password);
    jw_key(&b, "mediaList");
    cc_buf_putc(&b, '{');
    for (int i = 0; i < srv->media_count; i++) {
        if (i)
            cc_buf_putc(&b, ',');
        jw_str(&b, srv->media[i]);
        cc_buf_printf(&b, ":%u", (ready >> i) & 1u);
    }
    cc_buf_putc(&b, '}');
    sc->ready_mask = ready & ((1u << srv->media_count) - 1u);
    sc->dnd = false;
    send_request(sc, &b, SIM_REQ_LOGIN, -1);
    explicit_bzero(b.data, b.len);
    cc_buf_free(&b);
    sc->phase = SIM_LOGGING_IN;
}

static void send_logout(sim_conn *sc)
{
    cc_buf b;
    cc_buf_init(&b);
    jw_open_message(&b, "RequestAgentLogout");
    send_request(sc, &b, SIM_REQ_LOGOUT, -1);
    cc_buf_free(&b);
    sc->phase = SIM_LOGGING_OUT;
}

/* One random state change on a logged-in connection with nothing in flight. */
static void random_action(sim_conn *sc)
{
    const sim_server *srv = &S.servers[sc->server];
    int m = (int)sim_below((unsigned)srv->media_count);
    unsigned roll = sim_below(100);
    cc_buf b;
    cc_buf_init(&b);
    /* DND is short: rare to start, likely to end at the agent's next action, so the
     * demo shows a few agents in DND rather than drifting towards half of them. */
    if (sc->dnd ? roll < 50 : roll < 3) {
        jw_open_message(&b, sc->dnd ? "RequestDoNotDisturbOff" : "RequestDoNotDisturbOn");
        send_request(sc, &b, sc->dnd ? SIM_REQ_DND_OFF : SIM_REQ_DND_ON, -1);
    } else if (roll < 14 && !(sc->ready_mask & (1u << m))) {
        unsigned r = sim_below(SIM_REASON_COUNT);
        jw_open_message(&b, "RequestChangeMediaStateReason");
        jw_kv_str(&b, "media", srv->media[m]);
        jw_key(&b, "reason");
        cc_buf_printf(&b, "{\"code\":%d,\"description\":", sim_reasons[r].code);
        jw_str(&b, sim_reasons[r].text);
        cc_buf_putc(&b, '}');
        send_request(sc, &b, SIM_REQ_REASON, m);
    } else if (sc->ready_mask & (1u << m)) {
        unsigned r = sim_below(SIM_REASON_COUNT);
        jw_open_message(&b, "RequestNotReadyForMedia");
        jw_kv_str(&b, "media", srv->media[m]);
        jw_key(&b, "reason");
        cc_buf_printf(&b, "{\"code\":%d,\"description\":", sim_reasons[r].code);
        jw_str(&b, sim_reasons[r].text);
        cc_buf_putc(&b, '}');
        send_request(sc, &b, SIM_REQ_NOTREADY, m);
    } else {
        jw_open_message(&b, "RequestCancelNotReadyForMedia");
        jw_kv_str(&b, "media", srv->media[m]);
        send_request(sc, &b, SIM_REQ_READY, m);
    }
    cc_buf_free(&b);
}

static size_t count_busy(void)
{
    size_t n = 0;
    for (size_t i = 0; i < S.nconns; i++)
        if (S.conns[i].req != SIM_REQ_NONE)
            n++;
    return n;
}

static void finish(void);

static void check_all_out(void)
{
    for (size_t i = 0; i < S.nconns; i++)
        if (S.conns[i].phase == SIM_LOGGING_OUT || S.conns[i].phase == SIM_LOGGING_IN)
            return;
    finish();
}

static void on_answer(sim_conn *sc, bool ok, proto_msg *msg)
{
    enum sim_req req = sc->req;
    sc->req = SIM_REQ_NONE;
    sc->req_ref = 0;
    if (!ok) {
        S.errors++;
        json_t *code = json_object_get(msg->root, "errorCode");
        LOG_WARN("event=request_failed agent=%d server=%s request=%d error=%" PRId64, sc->agent,
                 S.servers[sc->server].address, (int)req,
                 json_is_integer(code) ? (int64_t)json_integer_value(code) : 0);
    }
    switch (req) {
    case SIM_REQ_LOGIN:
        if (ok) {
            S.logins++;
            sc->phase = SIM_LOGGED_IN;
        } else {
            sc->phase = SIM_LOGIN_WAIT;
            sc->retry_at_us = cc_mono_us() + SIM_RETRY_LOGIN_MS * 1000u;
        }
        if (S.stopping) {
            if (ok)
                send_logout(sc);
            else
                sc->phase = SIM_DONE;
            check_all_out();
        }
        return;
    case SIM_REQ_LOGOUT:
        if (ok)
            S.logouts++;
        sc->phase = SIM_DONE;
        check_all_out();
        return;
    default: break;
    }
    if (S.stopping && sc->phase == SIM_LOGGING_OUT) {
        /* The logout waited for this answer so requests stay one at a time. */
        send_logout(sc);
        return;
    }
    if (!ok)
        return;
    uint32_t bit = sc->req_media >= 0 ? 1u << sc->req_media : 0;
    if (req == SIM_REQ_READY)
        sc->ready_mask |= bit;
    else if (req == SIM_REQ_NOTREADY)
        sc->ready_mask &= ~bit;
    else if (req == SIM_REQ_DND_ON)
        sc->dnd = true;
    else if (req == SIM_REQ_DND_OFF)
        sc->dnd = false;
}

static void on_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    sim_conn *sc = cc_client_user(c);
    sc->req = SIM_REQ_NONE;
    if (S.stopping) {
        sc->phase = SIM_DONE;
        return;
    }
    send_login(sc);
}

static void on_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    sim_conn *sc = cc_client_user(c);
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if ((ack || err) && sc->req != SIM_REQ_NONE && msg->ref == sc->req_ref) {
        on_answer(sc, ack, msg);
    } else if (err) {
        S.errors++;
    } else if (strcmp(msg->name, "EventCurrentAgentStatus") == 0) {
        S.statuses++;
    }
}

static void on_down(cc_client *c, const char *why)
{
    (void)why;
    sim_conn *sc = cc_client_user(c);
    sc->req = SIM_REQ_NONE;
    sc->req_ref = 0;
    if (S.stopping) {
        /* A link lost during shutdown logs its agent out on the server anyway. */
        sc->phase = SIM_DONE;
        check_all_out();
    } else {
        sc->phase = SIM_DOWN;
    }
}

static const cc_client_ops sim_client_ops = {
    .on_registered = on_registered,
    .on_message = on_message,
    .on_down = on_down,
};

static void print_summary(const char *when)
{
    size_t up = 0, in = 0;
    for (size_t i = 0; i < S.nconns; i++) {
        if (S.conns[i].client && cc_client_is_up(S.conns[i].client))
            up++;
        if (S.conns[i].phase == SIM_LOGGED_IN)
            in++;
    }
    printf("agentsim %s t=%" PRIu64 "s agents=%d connections=%zu up=%zu logged_in=%zu "
           "logins=%" PRIu64 " requests=%" PRIu64 " errors=%" PRIu64 " statuses=%" PRIu64
           " logouts=%" PRIu64 "\n",
           when, (cc_mono_us() - S.start_us + 500000u) / 1000000u, S.last - S.first + 1, S.nconns,
           up, in, S.logins, S.requests, S.errors, S.statuses, S.logouts);
    fflush(stdout);
}

static void on_summary(uv_timer_t *t)
{
    (void)t;
    print_summary("summary");
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (S.stopping)
        return;
    uint64_t now = cc_mono_us();
    for (size_t i = 0; i < S.nconns; i++) {
        sim_conn *sc = &S.conns[i];
        if (sc->phase == SIM_LOGIN_WAIT && now >= sc->retry_at_us && cc_client_is_up(sc->client))
            send_login(sc);
    }
    S.budget += S.rate * SIM_TICK_MS / 1000.0;
    /* The budget is capped, so a stall never turns into a burst of stale changes. */
    if (S.budget > S.rate + 1)
        S.budget = S.rate + 1;
    /* Random picks among all connections; a busy or logged-out one wastes its pick, which
     * bounds the work per tick even when few agents are logged in. */
    unsigned tries = 0;
    while (S.budget >= 1 && tries++ < 4 * (unsigned)S.budget + 8) {
        sim_conn *sc = &S.conns[sim_below((unsigned)S.nconns)];
        if (sc->phase != SIM_LOGGED_IN || sc->req != SIM_REQ_NONE)
            continue;
        random_action(sc);
        S.budget -= 1;
    }
}

static void close_cb_noop(uv_handle_t *h)
{
    (void)h;
}

/* Connections close from the check phase of a later loop turn, and a closing socket does
 * not keep the loop running by itself, so the networking context is closed only once no
 * TCP handle is left (or after a bounded wait). */
static void count_tcp(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TCP)
        (*(int *)arg)++;
}

static void on_net_drain(uv_timer_t *t)
{
    int open = 0;
    uv_walk(t->loop, count_tcp, &open);
    if (open > 0 && cc_mono_us() - S.drain_start_us < 2000000u)
        return;
    uv_close((uv_handle_t *)t, NULL);
    cc_net_close(&S.net);
}

static void close_net_later(void)
{
    S.drain_start_us = cc_mono_us();
    uv_timer_init(&S.loop, &S.drain_timer);
    uv_timer_start(&S.drain_timer, on_net_drain, 10, 10);
}

/* Everything is logged out (or gone): free the clients and let the loop end. */
static void finish(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    print_summary("final");
    for (size_t i = 0; i < S.nconns; i++) {
        cc_client_free(S.conns[i].client);
        S.conns[i].client = NULL;
    }
    uv_close((uv_handle_t *)&S.tick, close_cb_noop);
    uv_close((uv_handle_t *)&S.summary, close_cb_noop);
    uv_close((uv_handle_t *)&S.stop_timer, close_cb_noop);
    uv_close((uv_handle_t *)&S.logout_timer, close_cb_noop);
    uv_close((uv_handle_t *)&S.sigint, close_cb_noop);
    uv_close((uv_handle_t *)&S.sigterm, close_cb_noop);
    close_net_later();
}

static void on_logout_timeout(uv_timer_t *t)
{
    (void)t;
    LOG_WARN("event=logout_timeout pending=%zu", count_busy());
    finish();
}

static void begin_stop(const char *why)
{
    if (S.stopping)
        return;
    S.stopping = true;
    LOG_INFO("event=stopping why=%s", why);
    uv_timer_stop(&S.tick);
    for (size_t i = 0; i < S.nconns; i++) {
        sim_conn *sc = &S.conns[i];
        if (sc->phase == SIM_LOGGED_IN && sc->req == SIM_REQ_NONE)
            send_logout(sc);
        else if (sc->phase == SIM_LOGGED_IN)
            sc->phase = SIM_LOGGING_OUT; /* the logout follows when the answer arrives */
        else if (sc->phase != SIM_LOGGING_IN)
            sc->phase = SIM_DONE;
    }
    uv_timer_start(&S.logout_timer, on_logout_timeout, SIM_LOGOUT_WAIT_MS, 0);
    check_all_out();
}

static void on_stop_timer(uv_timer_t *t)
{
    (void)t;
    begin_stop("seconds");
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    begin_stop(signum == SIGINT ? "SIGINT" : "SIGTERM");
}

int main(int argc, char **argv)
{
    cc_log_init("agentsim", CC_LOG_INFO);
    if (!parse_args(argc, argv))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&S.loop);
    cc_net_init(&S.net, &S.loop);
    S.start_us = cc_mono_us();
    int agents = S.last - S.first + 1;
    S.nconns = (size_t)agents * (size_t)S.server_count;
    S.conns = xcalloc(S.nconns, sizeof *S.conns);
    for (int a = 0; a < agents; a++) {
        for (int s = 0; s < S.server_count; s++) {
            sim_conn *sc = &S.conns[(size_t)a * (size_t)S.server_count + (size_t)s];
            sc->agent = S.first + a;
            sc->server = s;
            char name[64];
            snprintf(name, sizeof name, "agentsim-%d", sc->agent);
            cc_client_config cfg = {
                .address = S.servers[s].address,
                .client_type = "AgentApplication",
                .client_name = name,
                .token = S.token,
                .reconnect = true,
            };
            sc->client = cc_client_new(&S.net, &cfg, &sim_client_ops, sc);
            cc_client_start(sc->client);
        }
    }
    LOG_INFO("event=start agents=%d servers=%d connections=%zu rate=%.1f seconds=%u", agents,
             S.server_count, S.nconns, S.rate, S.seconds);
    uv_timer_init(&S.loop, &S.tick);
    uv_timer_start(&S.tick, on_tick, SIM_TICK_MS, SIM_TICK_MS);
    uv_timer_init(&S.loop, &S.summary);
    uv_timer_start(&S.summary, on_summary, SIM_SUMMARY_MS, SIM_SUMMARY_MS);
    uv_timer_init(&S.loop, &S.stop_timer);
    if (S.seconds)
        uv_timer_start(&S.stop_timer, on_stop_timer, (uint64_t)S.seconds * 1000u, 0);
    uv_timer_init(&S.loop, &S.logout_timer);
    uv_signal_init(&S.loop, &S.sigint);
    uv_signal_start(&S.sigint, on_signal, SIGINT);
    uv_signal_init(&S.loop, &S.sigterm);
    uv_signal_start(&S.sigterm, on_signal, SIGTERM);
    uv_run(&S.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&S.loop);
    if (rc != 0)
        LOG_WARN("event=loop_close_busy rc=%d", rc);
    explicit_bzero(S.password, sizeof S.password);
    free(S.conns);
    free(S.server_list);
    return 0;
}

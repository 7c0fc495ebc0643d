/* ixbench: end-to-end benchmark of the state → status path on loopback.
 *
 * 1. Logs in N desktop connections (AgentApplication) to a running ixnserver, a bounded
 *    number at a time, every agent ready on one media.
 * 2. Spawns the statserver and measures the time from its start to the last desktop
 *    receiving its first status (the statserver connects, takes the snapshot, evaluates
 *    every agent and sends each status back, which the ixnserver forwards).
 * 3. Drives readiness toggles on that media, spread over the agents with a bounded window
 *    of changes in flight, and measures per change the time from the desktop's request to
 *    that desktop receiving a status with the new readiness.
 * 4. With --queue, interactions end to end: every desktop is made ready again, a few
 *    MediaServer connections submit interactions to that queue with a bounded number
 *    unfinished (and an optional rate), and each desktop accepts an EventInvite at once,
 *    then stops processing it at once (completing after-work at once when there is
 *    some). Measures interactions finished per second and, per interaction, the time
 *    from its RequestSubmit to its EventInvite (userData carries the interaction's
 *    number, so the invite is matched even when it overtakes the submit's ack).
 * 5. With --backlog B (the routing benchmark, docs/bench.md "Routing with skills"), B
 *    interactions are submitted after the logins and before the statserver is spawned,
 *    so that they all wait (the ixnserver routes nothing without a reporting engine); the
 *    statserver's start lets routing drain them end to end, measured apart, and the
 *    interaction phase of 4. starts once they are all finished. With --queues K the
 *    interactions go round robin to queues Q-1 .. Q-K.
 * 6. With --failover R (docs/bench.md "Failover (issue 13)"), instead of 4., a statserver
 *    pair on a NATS lease: the first member (--stat-config) is spawned alone and becomes
 *    primary, the second (--stat-config2) joins as standby. Each of R rounds submits at
 *    the rate for a while, lets every interaction finish, stops the submits, kills the
 *    primary with SIGKILL at time T, submits again from the moment the killed process
 *    is gone, and measures the time from T to the first invite (every interaction
 *    before T had finished, so that invite was routed on the new primary's statuses),
 *    with its parts read from the members' and the ixnserver's logs. The killed member
 *    is spawned again as the standby of the next round.
 *
 * Prints one result line of key=value pairs on stdout. Every phase is bounded in time;
 * the statserver it spawned is stopped by its pid. */
#include <assert.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/media.h"
#include "net/client.h"
#include "net/conn.h"
#include "proto/agentreq.h"
#include "proto/ixnmsg.h"
#include "proto/msg.h"
#include "lib/tool.h"

#define BENCH_MAX_AGENTS 100000
#define BENCH_MAX_CHANGES 10000000
#define BENCH_MAX_WINDOW 10000
#define BENCH_LOGIN_WINDOW_DEFAULT 256
#define BENCH_LOGIN_TIMEOUT_S 180
#define BENCH_SNAPSHOT_TIMEOUT_S 120
#define BENCH_DRAIN_TIMEOUT_MS 5000
#define BENCH_TICK_MS 100
#define BENCH_MAX_INTERACTIONS 10000000
#define BENCH_MAX_MEDIA_CONNS 16
#define BENCH_READY_TIMEOUT_S 30
#define BENCH_MAX_QUEUES 100000
/* Submits in flight per media connection while the backlog goes in. */
#define BENCH_BACKLOG_INFLIGHT 256
/* The backlog's drain after the statserver started: submits, statuses and routing. */
#define BENCH_BACKLOG_TIMEOUT_S 300
/* The submits per second of the failover phase when --ixn-rate is 0: an interaction is
 * waiting the moment routing can resume, with no flood. */
#define BENCH_FO_DEFAULT_RATE 500
/* Interactions one desktop works on at once; ChatOnly allows 4. */
#define BENCH_DESK_SLOTS 16

enum bench_phase {
    PH_LOGIN,
    PH_BACKLOG,
    PH_SNAPSHOT,
    PH_CHANGES,
    PH_DRAIN,
    PH_READY,
    PH_IXN,
    PH_IXN_DRAIN,
    PH_FO_SYNC,   /* the pair: primary elected, standby linked, desktops ready */
    PH_FO_WARM,   /* submits at the rate before the kill */
    PH_FO_QUIET,  /* no submits until every interaction finished, then the kill */
    PH_FO_WAIT,   /* killed: submits again once it is gone, until the first invite */
    PH_FO_SETTLE, /* no submits until every interaction finished, then the next round */
    PH_DONE
};

/* A member of the statserver pair of the failover phase. */
typedef struct fo_member {
    uv_process_t proc;
    const char *config;
    const char *log;
    char name;    /* 'a' or 'b' in the result lines */
    bool running; /* spawned and its exit not seen */
    bool closing; /* its handle is closing: not spawned again before that ends */
    bool spawned; /* spawned at least once: its log is appended to from then on */
    long log_off; /* the log's size at this life's spawn */
    int pid;
} fo_member;

/* The figures of one failover round, microseconds or milliseconds as named; < 0 when
 * not known. */
typedef struct fo_round {
    double failover_ms, exit_ms, lease_won_ms, promoted_ms, resend_ms, statuses_sent_ms;
    double resend_done_ms; /* the standby's event=resend_done: its last slice sent */
    int64_t resend_slices;
    double ixn_takes_ms, all_waiting_ms;
    int64_t epoch, agents_sent, waiting;
    int valid; /* 1 yes, 0 no, -1 not checked */
} fo_round;

/* The request in flight for one interaction a desktop works on. */
enum bench_step { STEP_FREE, STEP_ACCEPT, STEP_STOP, STEP_COMPLETE };

typedef struct desk_slot {
    enum bench_step step;
    int64_t ref;
    int64_t n; /* the interaction's number from its userData, -1 when unknown */
    char id[PROTO_ID_MAX + 16];
} desk_slot;

/* One MediaServer connection: the numbers of its submits in flight, in order sent. */
typedef struct media_conn {
    cc_client *client;
    int64_t *ring;
    unsigned head, count, cap;
} media_conn;

typedef struct desk {
    cc_client *client;
    int index;
    bool started;
    bool logged_in;
    int64_t login_ref;
    bool have_status;
    bool status_ready; /* the media's readiness in the newest status */
    bool pending;      /* a change is in flight */
    bool want_ready;   /* the readiness the change asked for */
    int64_t change_ref;
    uint64_t sent_us;
    int64_t ready_ref; /* the CancelNotReady before the interaction phase */
    desk_slot slots[BENCH_DESK_SLOTS];
} desk;

typedef struct bench {
    uv_loop_t loop;
    cc_net net;
    uv_timer_t tick;
    tool_signals sig;
    uv_process_t stat_proc;
    uv_timer_t kill_timer; /* SIGKILL for a statserver that ignores SIGTERM */
    bool stat_running;
    int stat_pid;
    /* options */
    const char *ixn_addr;
    const char *ixn2_addr; /* a second ixnserver every agent also logs in to, or NULL */
    const char *token;
    tool_tls tls; /* --tls, --tls-ca, --tls-cert, --tls-key */
    const char *tenant;
    const char *media;
    const char *stat_bin;
    const char *stat_config;
    const char *stat_log;
    char password[PROTO_TEXT_MAX + 1];
    int agents;
    int ndesks; /* desktop connections: one per agent on each server */
    int login_window;
    int cfg_window;
    uint64_t cfg_changes;
    uint64_t lat_changes; /* changes of the window-1 latency pass (0: no such pass) */
    /* the current pass */
    int window;
    uint64_t max_changes;
    unsigned seconds;
    /* state */
    desk *desks;
    enum bench_phase phase;
    int started, logged_in, in_login;
    int statuses_first; /* desks with at least one status */
    uint64_t phase_start_us;
    uint64_t login_start_us, login_end_us;
    uint64_t stat_start_us, last_first_status_us;
    uint64_t changes_start_us, changes_end_us;
    uint64_t sent, done, errors, drops, stray_statuses;
    int in_flight;
    int cursor;
    uint32_t *lat_us;
    int pass; /* 0: latency pass (window 1), 1: throughput pass */
    bool printed;
    int exit_code;
    bool stopping;
    tool_drain drain;
    /* the interaction phase */
    const char *queue;
    const char *media_token;
    int media_conns;
    int ixn_window;
    double ixn_rate; /* submits per second, 0: only the window limits */
    uint64_t ixn_max;
    media_conn *mconns;
    int mconn_next;
    int mconns_up;
    double ixn_budget;
    uint64_t *submit_us;  /* per interaction number */
    uint32_t *invite_lat; /* submit-to-invite latency, in order of invite */
    uint8_t *seen;        /* per number: 1 invited, 2 finished */
    uint64_t ixn_submitted, ixn_acked, ixn_invites, ixn_reinvites, ixn_finished, ixn_failed;
    /* The parts of ixn_failed: submits answered with an error, and submits whose media
     * connection went down before their answer came. */
    uint64_t ixn_refused, ixn_unanswered;
    uint64_t ixn_errors, ixn_start_us, ixn_end_us;
    /* The backlog (--backlog): how many, its drain from its first invite to its last
     * finish, and the counters when the interaction phase began (its own figures are the
     * differences). */
    int queues; /* --queues: 0 = the one queue Q, else Q-1 .. Q-K */
    uint64_t backlog;
    uint64_t backlog_first_invite_us, backlog_done_us;
    uint64_t base_finished, base_invites;
    /* With --ixn-pid, CPU time (user + system, microseconds) of the ixnserver and of the
     * statserver at the backlog's start and end and at the interaction phase's start and
     * end: a cost per interaction that other load on the machine moves much less than a
     * rate. -1: not read. */
    int ixn_pid;
    int64_t cpu_ixn[4], cpu_stat[4];
    /* CPU time (microseconds) at the start of the current change pass: the ixnserver's
     * (with --ixn-pid), the statserver's (when spawned) and this program's own. */
    int64_t pass_cpu[3];
    /* The failover phase (--failover). */
    int fo_rounds, fo_round_no;
    const char *ixn_log; /* the ixnserver's log, for its reporting_mode line */
    fo_member fo[2];
    int fo_primary; /* the member that holds the lease */
    bool fo_submitting;
    uint64_t fo_kill_us, fo_kill_wall_us, fo_exit_us, fo_first_us, fo_first_wall_us;
    uint64_t fo_n0, fo_n1, fo_gap_invited;
    long fo_off_standby, fo_off_ixn;
    fo_round *fo_res;
} bench;

static bench B;

static void usage(FILE *f)
{
    fprintf(f, "usage: ixbench --ixn HOST:PORT [--ixn2 HOST:PORT] --token T --password-file F\n"
               "               --agents N\n"
               "               [--tenant T] [--media M] [--statserver PATH --stat-config FILE\n"
               "               [--stat-log FILE]] [--changes C] [--seconds S] [--window W]\n"
               "               [--latency-changes K] [--login-window W]\n"
               "               [--queue Q --media-token T [--interactions N] [--ixn-window W]\n"
               "               [--ixn-rate R] [--media-conns C] [--queues K] [--backlog B]\n"
               "               [--ixn-pid PID]]\n"
               "               [--failover R --stat-config2 FILE [--stat-log2 FILE]\n"
               "               [--ixn-log FILE]]\n"
               "Agents are TENANT/1..N at places P1..PN. Without --statserver a statserver must\n"
               "already be connected, and the snapshot phase is skipped. With --queue, a last\n"
               "phase routes interactions of the media through queue Q end to end. With --ixn2\n"
               "every agent also logs in to a second server (same tokens), the media\n"
               "connections alternate between the two, and only the interaction phase runs.\n"
               "With --queues K, interaction n goes to queue Q-(n mod K + 1). With --backlog B\n"
               "(needs --statserver), B interactions are submitted before the statserver starts\n"
               "and drained apart before the interaction phase. With --ixn-pid the CPU time of\n"
               "the ixnserver (that pid) and of the statserver per interaction is printed, and\n"
               "per state change of each pass (with this program's own, the desktops' side).\n"
               "With --failover R (needs --statserver, --queue, no --backlog, no --ixn2), the\n"
               "interaction phase is R failover rounds of a statserver pair (the two configs,\n"
               "each with a [nats] lease): kill -9 of the primary to the first invite.\n");
    fputs(TOOL_TLS_USAGE, f);
}

static bool parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ixn", required_argument, NULL, 'i'},
        {"ixn2", required_argument, NULL, 'j'},
        {"token", required_argument, NULL, 'k'},
        {"password-file", required_argument, NULL, 'p'},
        {"agents", required_argument, NULL, 'n'},
        {"tenant", required_argument, NULL, 't'},
        {"media", required_argument, NULL, 'm'},
        {"statserver", required_argument, NULL, 's'},
        {"stat-config", required_argument, NULL, 'c'},
        {"stat-log", required_argument, NULL, 'l'},
        {"changes", required_argument, NULL, 'C'},
        {"seconds", required_argument, NULL, 'S'},
        {"window", required_argument, NULL, 'w'},
        {"latency-changes", required_argument, NULL, 'K'},
        {"login-window", required_argument, NULL, 'L'},
        {"queue", required_argument, NULL, 'Q'},
        {"media-token", required_argument, NULL, 'T'},
        {"interactions", required_argument, NULL, 'I'},
        {"ixn-window", required_argument, NULL, 'W'},
        {"ixn-rate", required_argument, NULL, 'R'},
        {"media-conns", required_argument, NULL, 'M'},
        {"queues", required_argument, NULL, 'q'},
        {"backlog", required_argument, NULL, 'B'},
        {"ixn-pid", required_argument, NULL, 'P'},
        {"failover", required_argument, NULL, 'F'},
        {"stat-config2", required_argument, NULL, 'D'},
        {"stat-log2", required_argument, NULL, 'E'},
        {"ixn-log", required_argument, NULL, 'G'},
        TOOL_TLS_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pwfile = NULL;
    for (int i = 0; i < 4; i++)
        B.cpu_ixn[i] = B.cpu_stat[i] = -1;
    B.token = "";
    B.tenant = "Bench";
    B.media = "chat";
    B.agents = 1000;
    B.login_window = BENCH_LOGIN_WINDOW_DEFAULT;
    B.cfg_window = 64;
    B.cfg_changes = 20000;
    B.lat_changes = 2000;
    B.seconds = 20;
    B.media_token = "";
    B.media_conns = 4;
    B.ixn_window = 64;
    B.ixn_max = 20000;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': B.ixn_addr = optarg; break;
        case 'j': B.ixn2_addr = optarg; break;
        case 'k': B.token = optarg; break;
        case 'p': pwfile = optarg; break;
        case 'n': B.agents = atoi(optarg); break;
        case 't': B.tenant = optarg; break;
        case 'm': B.media = optarg; break;
        case 's': B.stat_bin = optarg; break;
        case 'c': B.stat_config = optarg; break;
        case 'l': B.stat_log = optarg; break;
        case 'C': B.cfg_changes = strtoull(optarg, NULL, 10); break;
        case 'K': B.lat_changes = strtoull(optarg, NULL, 10); break;
        case 'S': B.seconds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'w': B.cfg_window = atoi(optarg); break;
        case 'L': B.login_window = atoi(optarg); break;
        case 'Q': B.queue = optarg; break;
        case 'T': B.media_token = optarg; break;
        case 'I': B.ixn_max = strtoull(optarg, NULL, 10); break;
        case 'W': B.ixn_window = atoi(optarg); break;
        case 'R': B.ixn_rate = strtod(optarg, NULL); break;
        case 'M': B.media_conns = atoi(optarg); break;
        case 'q': B.queues = atoi(optarg); break;
        case 'B': B.backlog = strtoull(optarg, NULL, 10); break;
        case 'P': B.ixn_pid = atoi(optarg); break;
        case 'F': B.fo_rounds = atoi(optarg); break;
        case 'D': B.fo[1].config = optarg; break;
        case 'E': B.fo[1].log = optarg; break;
        case 'G': B.ixn_log = optarg; break;
        case 'h': usage(stdout); exit(0);
        default:
            if (tool_tls_opt(&B.tls, c, optarg))
                break;
            usage(stderr);
            return false;
        }
    }
    if (!B.ixn_addr || !pwfile) {
        usage(stderr);
        return false;
    }
    if (B.agents < 1 || B.agents > BENCH_MAX_AGENTS || B.cfg_window < 1 ||
        B.cfg_window > BENCH_MAX_WINDOW || B.login_window < 1 || B.login_window > 4096 ||
        B.cfg_changes > BENCH_MAX_CHANGES || B.lat_changes > BENCH_MAX_CHANGES || B.seconds < 1 ||
        B.seconds > 3600) {
        fprintf(stderr,
                "ixbench: --agents 1..%d, --window 1..%d, --login-window 1..4096, "
                "--changes and --latency-changes 0..%d, --seconds 1..3600\n",
                BENCH_MAX_AGENTS, BENCH_MAX_WINDOW, BENCH_MAX_CHANGES);
        return false;
    }
    if (!cc_media_name_valid(B.media, strlen(B.media)) || !*B.tenant ||
        strlen(B.tenant) > PROTO_ID_MAX) {
        fprintf(stderr, "ixbench: bad --media or --tenant\n");
        return false;
    }
    if (B.queue &&
        (!*B.queue || strlen(B.queue) > PROTO_ID_MAX || B.ixn_max < 1 ||
         B.ixn_max > BENCH_MAX_INTERACTIONS || B.ixn_window < 1 ||
         B.ixn_window > BENCH_MAX_WINDOW || B.media_conns < 1 ||
         B.media_conns > BENCH_MAX_MEDIA_CONNS || !(B.ixn_rate >= 0) || B.ixn_rate > 1e6)) {
        fprintf(stderr,
                "ixbench: --queue 1..%d bytes, --interactions 1..%d, --ixn-window 1..%d, "
                "--media-conns 1..%d, --ixn-rate 0..1000000\n",
                PROTO_ID_MAX, BENCH_MAX_INTERACTIONS, BENCH_MAX_WINDOW, BENCH_MAX_MEDIA_CONNS);
        return false;
    }
    if (B.queue && (B.queues < 0 || B.queues > BENCH_MAX_QUEUES ||
                    (B.queues > 0 && strlen(B.queue) + 8 > PROTO_ID_MAX) ||
                    B.backlog > BENCH_MAX_INTERACTIONS)) {
        fprintf(stderr,
                "ixbench: --queues 0..%d (with --queue at most %d bytes), --backlog 0..%d\n",
                BENCH_MAX_QUEUES, PROTO_ID_MAX - 8, BENCH_MAX_INTERACTIONS);
        return false;
    }
    if (B.backlog && (!B.queue || !B.stat_bin || B.ixn2_addr)) {
        fprintf(stderr, "ixbench: --backlog needs --queue and --statserver, and one server\n");
        return false;
    }
    /* The backlog's numbers come first, the interaction phase's after them. */
    B.ixn_max += B.backlog;
    /* With two servers, a readiness change on one also sends a status to the other: the
     * change passes measure one server only and are left out. */
    B.ndesks = B.ixn2_addr ? 2 * B.agents : B.agents;
    if (B.ixn2_addr)
        B.lat_changes = B.cfg_changes = 0;
    if (B.stat_bin && !B.stat_config) {
        fprintf(stderr, "ixbench: --statserver needs --stat-config\n");
        return false;
    }
    if (B.fo_rounds && (B.fo_rounds < 1 || B.fo_rounds > 100 || !B.stat_bin || !B.fo[1].config ||
                        !B.queue || B.backlog || B.ixn2_addr)) {
        fprintf(stderr, "ixbench: --failover 1..100 needs --statserver, --stat-config2 and "
                        "--queue, and no --backlog or --ixn2\n");
        return false;
    }
    if (B.fo_rounds && B.ixn_rate <= 0)
        B.ixn_rate = BENCH_FO_DEFAULT_RATE;
    B.fo[0].config = B.stat_config;
    B.fo[0].log = B.stat_log;
    B.fo[0].name = 'a';
    B.fo[1].name = 'b';
    return tool_read_password("ixbench", pwfile, B.password, sizeof B.password, "no password");
}

static void send_login(desk *d)
{
    char id[32], place[40];
    snprintf(id, sizeof id, "%d", d->index + 1);
    snprintf(place, sizeof place, "P%d", d->index + 1);
    proto_areq_login l = {.tenant = B.tenant,
                          .agent_id = id,
                          .place_id = place,
                          .password = B.password,
                          .nmedia = 1,
                          .media = {{.name = B.media, .ready = true}}};
    cc_buf b;
    cc_buf_init(&b);
    proto_areq_enc_login(&b, &l);
    d->login_ref = cc_client_request(d->client, &b);
    explicit_bzero(b.data, b.len);
    cc_buf_free(&b);
}

/* The media's readiness in a status, or -1 when the status does not list the media. */
static int status_ready(proto_msg *msg)
{
    /* A table of the benchmark's media alone: the status decoder skips the others. */
    static cc_media_table table;
    static bool table_ready;
    if (!table_ready) {
        cc_media_init(&table);
        cc_media_intern(&table, B.media, strlen(B.media));
        table_ready = true;
    }
    proto_agent_status st;
    if (proto_decode_status(msg, &table, false, &st) != 0 || !(st.media & 1u))
        return -1;
    return st.ready[0] ? 1 : 0;
}

static void start_changes(void);
static void fill_window(void);
static void pump_submits(void);
static void pump_backlog(void);
static bool backlog_done(void);
static void on_desk_invite(desk *d, proto_msg *msg);
static bool on_desk_slot_answer(desk *d, proto_msg *msg, bool ok);
static void spawn_statserver(void);
static void fo_spawn(int i);
static void fo_on_invite(int64_t n, uint64_t now);
static void fo_start_round(void);
static void fo_tick(uint64_t now, uint64_t in_phase);
static bool fo_any_running(void);
static void start_ready(void);
static void finish(void);

static void all_logged_in(void)
{
    B.login_end_us = cc_mono_us();
    double s = (double)(B.login_end_us - B.login_start_us) / 1e6;
    fprintf(stderr, "ixbench: agents=%d logged in in %.2f s\n", B.agents, s);
    if (B.backlog) {
        /* The backlog goes in first; the statserver starts when every submit is answered. */
        B.phase = PH_BACKLOG;
        B.phase_start_us = cc_mono_us();
        for (int i = 0; i < B.media_conns; i++)
            cc_client_start(B.mconns[i].client);
    } else if (B.stat_bin) {
        B.phase = PH_SNAPSHOT;
        B.phase_start_us = cc_mono_us();
        if (B.fo_rounds)
            fo_spawn(0);
        else
            spawn_statserver();
    } else {
        start_changes();
    }
}

static void start_more_logins(void)
{
    while (B.started < B.ndesks && B.in_login < B.login_window) {
        desk *d = &B.desks[B.started++];
        d->started = true;
        B.in_login++;
        cc_client_start(d->client);
    }
}

static void on_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    desk *d = cc_client_user(c);
    if (!d->logged_in)
        send_login(d);
}

static void record_latency(desk *d, uint64_t now)
{
    uint64_t lat = now > d->sent_us ? now - d->sent_us : 0;
    if (B.done < B.max_changes)
        B.lat_us[B.done] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
    B.done++;
    d->pending = false;
    B.in_flight--;
}

static void on_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    desk *d = cc_client_user(c);
    uint64_t now = cc_mono_us();
    if (strcmp(msg->name, "EventCurrentAgentStatus") == 0) {
        int r = status_ready(msg);
        bool first = !d->have_status;
        d->have_status = true;
        if (r >= 0)
            d->status_ready = r == 1;
        if (d->pending && r >= 0 && (r == 1) == d->want_ready) {
            /* When the status comes before the ack, the change is measured now and the
             * ack that follows only clears the (negated) reference. */
            if (d->change_ref != 0)
                d->change_ref = -d->change_ref;
            record_latency(d, now);
            fill_window();
        } else if (!d->pending && !first && B.phase >= PH_CHANGES) {
            B.stray_statuses++;
        }
        /* The phase moves on last, so that the first change on this desk starts from the
         * readiness this status just gave. */
        if (first) {
            B.statuses_first++;
            B.last_first_status_us = now;
            if (B.phase == PH_SNAPSHOT && B.statuses_first == B.ndesks)
                start_changes();
        }
        return;
    }
    if (strcmp(msg->name, "EventInvite") == 0) {
        on_desk_invite(d, msg);
        return;
    }
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if (!ack && !err)
        return;
    if (msg->ref > 0 && on_desk_slot_answer(d, msg, ack))
        return;
    if (d->ready_ref && msg->ref == d->ready_ref) {
        d->ready_ref = 0;
        if (err)
            B.errors++;
        return;
    }
    if (d->login_ref && msg->ref == d->login_ref) {
        d->login_ref = 0;
        if (ack) {
            d->logged_in = true;
            B.logged_in++;
            B.in_login--;
            if (B.phase == PH_LOGIN) {
                if (B.logged_in == B.ndesks)
                    all_logged_in();
                else
                    start_more_logins();
            }
        } else {
            B.errors++;
            proto_error e;
            (void)proto_decode_error(msg, &e);
            fprintf(stderr, "ixbench: login of agent %d refused: code %" PRId64 "\n", d->index + 1,
                    e.code);
            B.exit_code = 1;
            finish();
        }
        return;
    }
    if (d->change_ref && (msg->ref == d->change_ref || msg->ref == -d->change_ref)) {
        bool measured = d->change_ref < 0;
        d->change_ref = 0;
        if (err) {
            B.errors++;
            if (!measured) {
                d->pending = false;
                B.in_flight--;
                fill_window();
            }
        }
    }
}

static void on_down(cc_client *c, const char *why)
{
    desk *d = cc_client_user(c);
    if (B.stopping)
        return;
    B.drops++;
    LOG_WARN("event=desk_down agent=%d why=\"%s\"", d->index + 1, why);
    if (d->logged_in) {
        d->logged_in = false;
        B.logged_in--;
        B.in_login++;
    }
    d->login_ref = 0;
    d->change_ref = 0;
    d->ready_ref = 0;
    /* The server puts what the desktop held back in the queue; it is offered again. */
    memset(d->slots, 0, sizeof d->slots);
    if (d->pending) {
        d->pending = false;
        B.in_flight--;
    }
}

static const cc_client_ops desk_ops = {
    .on_registered = on_registered,
    .on_message = on_message,
    .on_down = on_down,
};

static void on_stat_exit(uv_process_t *p, int64_t status, int sig)
{
    B.stat_running = false;
    if (!B.stopping) {
        fprintf(stderr, "ixbench: statserver exited early: status %" PRId64 " signal %d\n", status,
                sig);
        B.exit_code = 1;
        finish();
    }
    uv_close((uv_handle_t *)p, NULL);
    if (B.stopping && !uv_is_closing((uv_handle_t *)&B.kill_timer))
        uv_close((uv_handle_t *)&B.kill_timer, NULL);
}

static void on_kill_timer(uv_timer_t *t)
{
    (void)t;
    if (B.stat_running) {
        fprintf(stderr, "ixbench: statserver pid=%d ignored SIGTERM, killing it\n", B.stat_pid);
        uv_process_kill(&B.stat_proc, SIGKILL);
    }
    for (int i = 0; i < 2; i++)
        if (B.fo[i].running) {
            fprintf(stderr, "ixbench: statserver pid=%d ignored SIGTERM, killing it\n",
                    B.fo[i].pid);
            uv_process_kill(&B.fo[i].proc, SIGKILL);
        }
}

static void spawn_statserver(void)
{
    char *args[] = {(char *)B.stat_bin, (char *)"-c", (char *)B.stat_config, NULL};
    int logfd = -1;
    if (B.stat_log)
        logfd = open(B.stat_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
        {.flags = logfd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = logfd},
    };
    uv_process_options_t po = {
        .exit_cb = on_stat_exit,
        .file = B.stat_bin,
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    B.stat_start_us = cc_mono_us();
    int rc = uv_spawn(&B.loop, &B.stat_proc, &po);
    if (logfd >= 0)
        close(logfd);
    if (rc != 0) {
        fprintf(stderr, "ixbench: cannot start %s: %s\n", B.stat_bin, uv_strerror(rc));
        uv_close((uv_handle_t *)&B.stat_proc, NULL);
        B.exit_code = 1;
        finish();
        return;
    }
    B.stat_running = true;
    B.stat_pid = B.stat_proc.pid;
    fprintf(stderr, "ixbench: statserver started pid=%d\n", B.stat_pid);
}

static void end_pass(void);

/* Sets up the current pass: the latency pass sends one change at a time, so its figures
 * are the path's own latency; the throughput pass keeps a window of changes in flight. */
static void setup_pass(void)
{
    B.phase = PH_CHANGES;
    B.window = B.pass == 0 ? 1 : B.cfg_window;
    B.max_changes = B.pass == 0 ? B.lat_changes : B.cfg_changes;
    B.sent = B.done = 0;
    B.changes_start_us = B.phase_start_us = cc_mono_us();
    B.changes_end_us = 0;
    B.pass_cpu[0] = tool_proc_cpu_us(B.ixn_pid);
    B.pass_cpu[1] = B.stat_running ? tool_proc_cpu_us(B.stat_pid) : -1;
    B.pass_cpu[2] = tool_proc_cpu_us((int)getpid());
    if (B.max_changes == 0)
        end_pass();
    else
        fill_window();
}

static void start_changes(void)
{
    if (B.lat_changes == 0 && B.cfg_changes == 0 && B.queue) {
        /* No change pass: straight to the interactions, with no change line printed. */
        B.printed = true;
        start_ready();
        return;
    }
    B.pass = B.lat_changes > 0 ? 0 : 1;
    setup_pass();
}

/* Keeps the window full: the next agents in turn that have no change in flight and have
 * seen a status (so their readiness is known) each get one toggle. */
static void fill_window(void)
{
    if (B.phase != PH_CHANGES)
        return;
    int scanned = 0;
    while (B.in_flight < B.window && B.sent < B.max_changes && scanned < B.agents) {
        desk *d = &B.desks[B.cursor];
        B.cursor = (B.cursor + 1) % B.agents;
        scanned++;
        if (!d->logged_in || d->pending || !d->have_status || d->change_ref != 0)
            continue;
        cc_buf b;
        cc_buf_init(&b);
        if (d->status_ready)
            proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_NOT_READY,
                                             .media = B.media,
                                             .reason = {true, 1, "Bench"}});
        else
            proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_READY, .media = B.media});
        d->sent_us = cc_mono_us();
        int64_t ref = cc_client_request(d->client, &b);
        cc_buf_free(&b);
        if (ref <= 0)
            continue;
        d->change_ref = ref;
        d->pending = true;
        d->want_ready = !d->status_ready;
        B.in_flight++;
        B.sent++;
        scanned = 0;
    }
    if (B.sent >= B.max_changes && B.in_flight == 0)
        end_pass();
}

static void print_result(void)
{
    size_t n = B.done < B.max_changes ? (size_t)B.done : (size_t)B.max_changes;
    tool_sort_u32(B.lat_us, n);
    uint64_t end = B.changes_end_us ? B.changes_end_us : cc_mono_us();
    double secs = B.changes_start_us ? (double)(end - B.changes_start_us) / 1e6 : 0;
    double login_s = B.login_end_us ? (double)(B.login_end_us - B.login_start_us) / 1e6 : 0;
    char snap[32] = "na";
    if (B.stat_start_us && B.statuses_first == B.ndesks)
        snprintf(snap, sizeof snap, "%.1f",
                 (double)(B.last_first_status_us - B.stat_start_us) / 1e3);
    printf("agents=%d pass=%s logged_in=%d logins_per_s=%.0f snapshot_to_last_status_ms=%s "
           "changes=%" PRIu64 " changes_per_s=%.0f p50_us=%u p99_us=%u max_us=%u window=%d "
           "errors=%" PRIu64 " drops=%" PRIu64 " stray_statuses=%" PRIu64,
           B.agents,
           B.changes_start_us == 0 ? "none"
           : B.pass == 0           ? "latency"
                                   : "throughput",
           B.logged_in, login_s > 0 ? B.agents / login_s : 0.0, snap, B.done,
           secs > 0 ? (double)B.done / secs : 0.0, tool_percentile(B.lat_us, n, 0.50),
           tool_percentile(B.lat_us, n, 0.99), n ? B.lat_us[n - 1] : 0, B.window, B.errors, B.drops,
           B.stray_statuses);
    /* CPU time per change of each process on the path: unlike changes/s it does not
     * depend on how much of the machine the benchmark got. */
    int64_t now_cpu[3] = {tool_proc_cpu_us(B.ixn_pid),
                          B.stat_running ? tool_proc_cpu_us(B.stat_pid) : -1,
                          tool_proc_cpu_us((int)getpid())};
    static const char *const cpu_keys[3] = {"ixn_cpu_us_per_change", "stat_cpu_us_per_change",
                                            "desk_cpu_us_per_change"};
    for (int i = 0; i < 3 && B.changes_start_us && B.done; i++)
        if (B.pass_cpu[i] >= 0 && now_cpu[i] >= B.pass_cpu[i])
            printf(" %s=%.1f", cpu_keys[i], (double)(now_cpu[i] - B.pass_cpu[i]) / (double)B.done);
    printf("\n");
    fflush(stdout);
}

/* ---- the interaction phase ---- */

static void media_push(media_conn *m, int64_t n)
{
    assert(m->count < m->cap);
    m->ring[(m->head + m->count) % m->cap] = n;
    m->count++;
}

static int64_t media_pop(media_conn *m)
{
    if (m->count == 0)
        return -1;
    int64_t n = m->ring[m->head];
    m->head = (m->head + 1) % m->cap;
    m->count--;
    return n;
}

/* Takes CPU sample i (0: backlog start, 1: backlog end, 2: phase start, 3: phase end). */
static void cpu_sample(int i)
{
    if (B.ixn_pid <= 0)
        return;
    B.cpu_ixn[i] = tool_proc_cpu_us(B.ixn_pid);
    B.cpu_stat[i] = B.stat_running ? tool_proc_cpu_us(B.stat_pid) : -1;
}

/* " KEY=us" per routed interaction between samples i and j, or nothing. */
static void print_cpu(const char *key, const int64_t *cpu, int i, int j, uint64_t routed)
{
    if (cpu[i] >= 0 && cpu[j] >= cpu[i] && routed > 0)
        printf(" %s=%.0f", key, (double)(cpu[j] - cpu[i]) / (double)routed);
}

static uint64_t ixn_unfinished(void)
{
    return B.ixn_submitted - B.ixn_finished - B.ixn_failed;
}

static void print_ixn_result(void)
{
    /* The interaction phase's own figures: the backlog's invites and finishes come before
     * it and are left out (the counts below include them). */
    size_t n = (size_t)(B.ixn_invites - B.base_invites);
    uint32_t *lat = B.invite_lat + B.base_invites;
    tool_sort_u32(lat, n);
    uint64_t end = B.ixn_end_us ? B.ixn_end_us : cc_mono_us();
    double secs = B.ixn_start_us ? (double)(end - B.ixn_start_us) / 1e6 : 0;
    uint64_t routed = B.ixn_finished - B.base_finished;
    printf("agents=%d servers=%d routed_per_s=%.0f submit_to_invite_p50_us=%u p99_us=%u "
           "max_us=%u submitted=%" PRIu64 " routed=%" PRIu64 " failed=%" PRIu64
           " reinvites=%" PRIu64 " errors=%" PRIu64 " window=%d media_conns=%d seconds=%.1f"
           " acked=%" PRIu64 " refused=%" PRIu64 " unanswered=%" PRIu64 " invited=%" PRIu64
           " unfinished=%" PRIu64,
           B.agents, B.ixn2_addr ? 2 : 1, secs > 0 ? (double)routed / secs : 0.0,
           tool_percentile(lat, n, 0.50), tool_percentile(lat, n, 0.99), n ? lat[n - 1] : 0,
           B.ixn_submitted, B.ixn_finished, B.ixn_failed, B.ixn_reinvites, B.ixn_errors,
           B.ixn_window, B.media_conns, secs, B.ixn_acked, B.ixn_refused, B.ixn_unanswered,
           B.ixn_invites, ixn_unfinished());
    if (B.queues > 0)
        printf(" queues=%d", B.queues);
    if (B.backlog) {
        /* From the backlog's first invite to its last finish (every finish before the
         * interaction phase is one of the backlog's). */
        double bs = B.backlog_done_us > B.backlog_first_invite_us && B.backlog_first_invite_us
                        ? (double)(B.backlog_done_us - B.backlog_first_invite_us) / 1e6
                        : 0;
        printf(" backlog=%" PRIu64 " backlog_routed_per_s=%.0f backlog_seconds=%.2f", B.backlog,
               bs > 0 ? (double)B.base_finished / bs : 0.0, bs);
        print_cpu("backlog_ixn_cpu_us_per_routed", B.cpu_ixn, 0, 1, B.base_finished);
        print_cpu("backlog_stat_cpu_us_per_routed", B.cpu_stat, 0, 1, B.base_finished);
    }
    print_cpu("ixn_cpu_us_per_routed", B.cpu_ixn, 2, 3, routed);
    print_cpu("stat_cpu_us_per_routed", B.cpu_stat, 2, 3, routed);
    printf("\n");
    fflush(stdout);
}

static void end_ixn(void)
{
    if (B.phase != PH_IXN && B.phase != PH_IXN_DRAIN)
        return;
    B.ixn_end_us = cc_mono_us();
    cpu_sample(3);
    if (ixn_unfinished() > 0)
        fprintf(stderr, "ixbench: %" PRIu64 " interactions never finished\n", ixn_unfinished());
    print_ixn_result();
    finish();
}

static void check_ixn_done(void)
{
    if ((B.phase == PH_IXN || B.phase == PH_IXN_DRAIN) && B.ixn_submitted >= B.ixn_max &&
        ixn_unfinished() == 0)
        end_ixn();
}

static void on_media_registered(cc_client *c, proto_msg *ack)
{
    (void)c;
    (void)ack;
    B.mconns_up++;
    pump_backlog();
}

static void on_media_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    media_conn *m = cc_client_user(c);
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if (!ack && !err)
        return;
    /* Answers come in request order, and pings are answered inside the client. */
    int64_t n = media_pop(m);
    if (n < 0)
        return;
    if (ack) {
        B.ixn_acked++;
        pump_backlog();
        return;
    }
    B.ixn_failed++;
    B.ixn_refused++;
    if (B.ixn_errors++ < 10) {
        proto_error e;
        (void)proto_decode_error(msg, &e);
        fprintf(stderr, "ixbench: submit %" PRId64 " refused: %s\n", n,
                e.description ? e.description : "?");
    }
    pump_backlog();
    pump_submits();
    check_ixn_done();
}

static void on_media_down(cc_client *c, const char *why)
{
    media_conn *m = cc_client_user(c);
    if (B.stopping)
        return;
    if (B.mconns_up > 0)
        B.mconns_up--;
    fprintf(stderr, "ixbench: media connection down: %s (%u submits lost)\n", why, m->count);
    B.ixn_failed += m->count;
    B.ixn_unanswered += m->count;
    m->head = m->count = 0;
    pump_backlog();
    check_ixn_done();
}

static const cc_client_ops media_ops = {
    .on_registered = on_media_registered,
    .on_message = on_media_message,
    .on_down = on_media_down,
};

/* Queues interaction n's RequestSubmit on m: false when the request could not be queued. */
static bool submit_one(media_conn *m, uint64_t n, uint64_t now)
{
    char qname[PROTO_ID_MAX + 1];
    if (B.queues > 0)
        snprintf(qname, sizeof qname, "%s-%d", B.queue, (int)(n % (uint64_t)B.queues) + 1);
    else
        snprintf(qname, sizeof qname, "%s", B.queue);
    /* userData carries n, so the invite tells which submit it is. */
    const proto_ixn_ud_field ud_n = {.key = "n", .num = (int64_t)n};
    cc_buf ud, b;
    cc_buf_init(&ud);
    cc_buf_init(&b);
    proto_ixn_enc_user_data(&ud, &ud_n, 1);
    proto_ixn_enc_submit(
        &b, &(proto_ixn_submit){
                .tenant = B.tenant, .media = B.media, .queue = qname, .user_data = ud.data});
    cc_buf_free(&ud);
    B.submit_us[n] = now;
    int64_t ref = cc_client_request(m->client, &b);
    cc_buf_free(&b);
    if (ref <= 0)
        return false;
    media_push(m, (int64_t)n);
    B.ixn_submitted++;
    return true;
}

/* Keeps the submits going: at most the window unfinished, and the rate when set. */
static void pump_submits(void)
{
    if (B.phase != PH_IXN && !B.fo_submitting)
        return;
    uint64_t now = cc_mono_us();
    int tries = 0;
    while (ixn_unfinished() < (uint64_t)B.ixn_window && B.ixn_submitted < B.ixn_max &&
           (B.ixn_rate <= 0 || B.ixn_budget >= 1) && tries < B.media_conns) {
        media_conn *m = &B.mconns[B.mconn_next];
        B.mconn_next = (B.mconn_next + 1) % B.media_conns;
        if (!cc_client_is_up(m->client) || m->count == m->cap ||
            !submit_one(m, B.ixn_submitted, now)) {
            tries++;
            continue;
        }
        tries = 0;
        if (B.ixn_rate > 0)
            B.ixn_budget -= 1;
    }
}

/* The backlog goes in, at most BENCH_BACKLOG_INFLIGHT submits in flight per media
 * connection; once every one of them is answered, the statserver starts, and with it the
 * routing of the whole backlog. */
static void pump_backlog(void)
{
    if (B.phase != PH_BACKLOG)
        return;
    uint64_t now = cc_mono_us();
    int tries = 0;
    while (B.ixn_submitted < B.backlog && tries < B.media_conns) {
        media_conn *m = &B.mconns[B.mconn_next];
        B.mconn_next = (B.mconn_next + 1) % B.media_conns;
        if (!cc_client_is_up(m->client) || m->count >= BENCH_BACKLOG_INFLIGHT ||
            m->count == m->cap || !submit_one(m, B.ixn_submitted, now)) {
            tries++;
            continue;
        }
        tries = 0;
    }
    if (B.ixn_submitted == B.backlog && B.ixn_acked + B.ixn_failed == B.backlog) {
        fprintf(stderr,
                "ixbench: backlog of %" PRIu64 " submitted (%" PRIu64
                " refused or lost) in %.2f s\n",
                B.backlog, B.ixn_failed, (double)(now - B.phase_start_us) / 1e6);
        B.phase = PH_SNAPSHOT;
        B.phase_start_us = cc_mono_us();
        spawn_statserver();
        /* The statserver's own time starts at 0 with its spawn. */
        cpu_sample(0);
        if (B.ixn_pid > 0)
            B.cpu_stat[0] = B.stat_running ? 0 : -1;
    }
}

/* Every backlog interaction finished or failed. */
static bool backlog_done(void)
{
    return B.ixn_finished + B.ixn_failed >= B.backlog;
}

static desk_slot *free_slot(desk *d)
{
    for (int i = 0; i < BENCH_DESK_SLOTS; i++)
        if (d->slots[i].step == STEP_FREE)
            return &d->slots[i];
    return NULL;
}

static void slot_send(desk *d, desk_slot *sl, enum proto_ixn_req_kind kind, enum bench_step step)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_ixn_enc_req(&b, &(proto_ixn_req){.kind = kind, .interaction_id = sl->id});
    int64_t ref = cc_client_request(d->client, &b);
    cc_buf_free(&b);
    sl->ref = ref;
    sl->step = ref > 0 ? step : STEP_FREE;
}

/* The desktop accepts every invite at once. */
static void on_desk_invite(desk *d, proto_msg *msg)
{
    uint64_t now = cc_mono_us();
    proto_ixn_invite inv;
    int64_t n = -1;
    const char *id = NULL;
    if (proto_ixn_decode_invite(msg, &inv) == 0) {
        id = inv.interaction_id;
        if (proto_ixn_user_data_int(inv.user_data_obj, "n", &n) != 0)
            n = -1;
    }
    if (n >= 0 && (uint64_t)n < B.ixn_submitted) {
        if (B.seen[n] == 0) {
            B.seen[n] = 1;
            if ((uint64_t)n < B.backlog && !B.backlog_first_invite_us)
                B.backlog_first_invite_us = now;
            uint64_t lat = now > B.submit_us[n] ? now - B.submit_us[n] : 0;
            B.invite_lat[B.ixn_invites++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
            fo_on_invite(n, now);
        } else {
            B.ixn_reinvites++;
        }
    }
    desk_slot *sl = free_slot(d);
    if (!id || strlen(id) >= sizeof sl->id || !sl) {
        B.ixn_errors++;
        return;
    }
    sl->n = n;
    snprintf(sl->id, sizeof sl->id, "%s", id);
    slot_send(d, sl, PROTO_IXN_REQ_ACCEPT, STEP_ACCEPT);
}

static bool on_desk_slot_answer(desk *d, proto_msg *msg, bool ok)
{
    desk_slot *sl = NULL;
    for (int i = 0; i < BENCH_DESK_SLOTS; i++)
        if (d->slots[i].step != STEP_FREE && d->slots[i].ref == msg->ref)
            sl = &d->slots[i];
    if (!sl)
        return false;
    if (!ok) {
        B.ixn_errors++;
        sl->step = STEP_FREE;
        return true;
    }
    bool finished = false;
    switch (sl->step) {
    case STEP_ACCEPT: slot_send(d, sl, PROTO_IXN_REQ_STOP, STEP_STOP); break;
    case STEP_STOP: {
        /* A malformed afterWorkSec reads as 0: the interaction ended. */
        int64_t aw;
        (void)proto_ixn_decode_stopped(msg, &aw);
        if (aw > 0)
            slot_send(d, sl, PROTO_IXN_REQ_COMPLETE, STEP_COMPLETE);
        else
            finished = true;
        break;
    }
    case STEP_COMPLETE: finished = true; break;
    case STEP_FREE: break;
    }
    if (finished) {
        sl->step = STEP_FREE;
        if (sl->n >= 0 && (uint64_t)sl->n < B.ixn_submitted && B.seen[sl->n] != 2) {
            B.seen[sl->n] = 2;
            B.ixn_finished++;
            if (B.backlog && !B.backlog_done_us && backlog_done()) {
                B.backlog_done_us = cc_mono_us();
                cpu_sample(1);
            }
        }
        pump_submits();
        check_ixn_done();
    }
    return true;
}

/* Every desktop ready on the media again (the toggles left about half not ready), and
 * the media connections registering. */
static void start_ready(void)
{
    B.phase = PH_READY;
    B.phase_start_us = cc_mono_us();
    for (int i = 0; i < B.ndesks; i++) {
        desk *d = &B.desks[i];
        if (!d->logged_in || d->status_ready)
            continue;
        cc_buf b;
        cc_buf_init(&b);
        proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_READY, .media = B.media});
        d->ready_ref = cc_client_request(d->client, &b);
        cc_buf_free(&b);
    }
    if (!B.backlog)
        for (int i = 0; i < B.media_conns; i++)
            cc_client_start(B.mconns[i].client);
}

static void start_ixn(void)
{
    if (B.fo_rounds) {
        fo_start_round();
        return;
    }
    fprintf(stderr, "ixbench: interactions: %d desktops ready, %d media connections\n", B.ndesks,
            B.mconns_up);
    B.phase = PH_IXN;
    B.ixn_start_us = B.phase_start_us = cc_mono_us();
    B.ixn_budget = 1;
    B.base_finished = B.ixn_finished;
    B.base_invites = B.ixn_invites;
    cpu_sample(2);
    pump_submits();
}

static void tick_ixn(uint64_t now, uint64_t in_phase)
{
    (void)now;
    if (B.phase == PH_READY) {
        int ready = 0;
        for (int i = 0; i < B.ndesks; i++)
            if (B.desks[i].logged_in && B.desks[i].status_ready)
                ready++;
        unsigned limit_s = B.backlog ? BENCH_BACKLOG_TIMEOUT_S : BENCH_READY_TIMEOUT_S;
        if (ready == B.ndesks && B.mconns_up == B.media_conns && backlog_done()) {
            start_ixn();
        } else if (in_phase > (uint64_t)limit_s * 1000000u) {
            fprintf(stderr,
                    "ixbench: only %d of %d desktops ready, %d of %d media "
                    "connections up and %" PRIu64 " of %" PRIu64 " backlog interactions "
                    "finished after %u s\n",
                    ready, B.ndesks, B.mconns_up, B.media_conns, B.ixn_finished, B.backlog,
                    limit_s);
            B.exit_code = 1;
            finish();
        }
    } else if (B.phase == PH_IXN) {
        if (in_phase > (uint64_t)B.seconds * 1000000u) {
            /* Time is up: no more submits; what is unfinished gets a moment to land. */
            B.ixn_max = B.ixn_submitted;
            B.phase = PH_IXN_DRAIN;
            B.phase_start_us = now;
            check_ixn_done();
            return;
        }
        if (B.ixn_rate > 0) {
            B.ixn_budget += B.ixn_rate * BENCH_TICK_MS / 1000.0;
            if (B.ixn_budget > B.ixn_rate + 1)
                B.ixn_budget = B.ixn_rate + 1;
        }
        pump_submits();
    } else if (B.phase == PH_IXN_DRAIN) {
        if (in_phase > BENCH_DRAIN_TIMEOUT_MS * 1000u)
            end_ixn();
    }
}

/* ---- the failover phase (--failover) ---- */

/* Seconds of submits at the rate before each kill, and the bounds of the other steps. */
#define FO_WARM_S 2
#define FO_SYNC_TIMEOUT_S 120
#define FO_QUIET_TIMEOUT_S 15
/* How long a round waits, after its interactions finished, for the new primary's
 * event=resend_done before it is reported without it. */
#define FO_RESEND_WAIT_S 5
#define FO_WAIT_TIMEOUT_S 30
#define FO_LINE_MAX 4096

static bool fo_any_running(void)
{
    return B.fo[0].running || B.fo[1].running;
}

/* The size of the file at path, 0 when it cannot be read. */
static long fo_file_size(const char *path)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    fclose(f);
    return n > 0 ? n : 0;
}

/* Copies into line the first line of the log at path, from offset from on, that holds
 * every one of the (up to two) needles; false when there is none. */
static bool fo_log_find(const char *path, long from, const char *needle, const char *needle2,
                        char *line, size_t cap)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return false;
    bool found = false;
    if (fseek(f, from, SEEK_SET) == 0)
        while (fgets(line, (int)cap, f))
            if (strstr(line, needle) && (!needle2 || strstr(line, needle2))) {
                found = true;
                break;
            }
    fclose(f);
    return found;
}

/* The wall-clock time of a log line (its ts=YYYY-MM-DDTHH:MM:SS.mmmZ) in microseconds
 * since the epoch, 0 when it has none. */
static uint64_t fo_line_wall_us(const char *line)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(line, "ts=%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0)
        return 0;
    return (uint64_t)t * 1000000u + (uint64_t)ms * 1000u;
}

/* The number after " KEY=" in a log line, or -1. */
static double fo_line_num(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* Milliseconds from the kill to a log line's time (which has a millisecond's
 * resolution), or -1. */
static double fo_since_kill_ms(const char *line)
{
    uint64_t t = fo_line_wall_us(line);
    return t ? ((double)t - (double)B.fo_kill_wall_us) / 1000.0 : -1;
}

static void on_member_closed(uv_handle_t *h)
{
    fo_member *m = h->data;
    m->closing = false;
}

static void on_member_exit(uv_process_t *p, int64_t status, int sig)
{
    fo_member *m = p->data;
    uint64_t now = cc_mono_us();
    m->running = false;
    m->closing = true;
    uv_close((uv_handle_t *)p, on_member_closed);
    if (B.stopping) {
        if (!fo_any_running() && !uv_is_closing((uv_handle_t *)&B.kill_timer))
            uv_close((uv_handle_t *)&B.kill_timer, NULL);
        return;
    }
    if (B.phase == PH_FO_WAIT && m == &B.fo[B.fo_primary] && !B.fo_exit_us) {
        /* Gone, its sockets closed: whatever is submitted from now on waits for the new
         * primary, since every earlier interaction has finished. */
        B.fo_exit_us = now;
        B.fo_submitting = true;
        B.ixn_budget = 1;
        pump_submits();
        return;
    }
    fprintf(stderr, "ixbench: statserver %c exited early: status %" PRId64 " signal %d\n", m->name,
            status, sig);
    B.exit_code = 1;
    finish();
}

/* Spawns member i, its stderr appended to its log (truncated at its first spawn). */
static void fo_spawn(int i)
{
    fo_member *m = &B.fo[i];
    char *args[] = {(char *)B.stat_bin, (char *)"-c", (char *)m->config, NULL};
    int logfd = -1;
    if (m->log)
        logfd =
            open(m->log, O_WRONLY | O_CREAT | O_CLOEXEC | (m->spawned ? O_APPEND : O_TRUNC), 0644);
    m->log_off = fo_file_size(m->log);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
        {.flags = logfd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = logfd},
    };
    uv_process_options_t po = {
        .exit_cb = on_member_exit,
        .file = B.stat_bin,
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    if (i == 0 && !m->spawned)
        B.stat_start_us = cc_mono_us();
    m->proc.data = m;
    int rc = uv_spawn(&B.loop, &m->proc, &po);
    if (logfd >= 0)
        close(logfd);
    m->spawned = true;
    if (rc != 0) {
        fprintf(stderr, "ixbench: cannot start %s: %s\n", B.stat_bin, uv_strerror(rc));
        m->closing = true;
        uv_close((uv_handle_t *)&m->proc, on_member_closed);
        B.exit_code = 1;
        finish();
        return;
    }
    m->running = true;
    m->pid = m->proc.pid;
    fprintf(stderr, "ixbench: statserver %c started pid=%d\n", m->name, m->pid);
}

static void fo_set_phase(enum bench_phase ph)
{
    B.phase = ph;
    B.phase_start_us = cc_mono_us();
}

/* A round begins: the standby is spawned when it is not running (the member killed in the
 * previous round), then the pair is awaited. */
static void fo_start_round(void)
{
    fo_member *s = &B.fo[1 - B.fo_primary];
    fo_set_phase(PH_FO_SYNC);
    if (!s->running && !s->closing)
        fo_spawn(1 - B.fo_primary);
}

static void fo_fail(const char *what)
{
    fprintf(stderr, "ixbench: failover round %d: %s\n", B.fo_round_no + 1, what);
    B.exit_code = 1;
    finish();
}

static bool fo_pair_ready(void)
{
    char line[FO_LINE_MAX];
    fo_member *p = &B.fo[B.fo_primary], *s = &B.fo[1 - B.fo_primary];
    if (!p->running || !s->running)
        return false;
    if (!fo_log_find(p->log, p->log_off, "event=role role=primary", NULL, line, sizeof line) ||
        !fo_log_find(s->log, s->log_off, "event=snapshot_done", NULL, line, sizeof line))
        return false;
    for (int i = 0; i < B.ndesks; i++)
        if (!B.desks[i].logged_in || !B.desks[i].status_ready)
            return false;
    return B.mconns_up == B.media_conns;
}

/* True once the new primary logged the end of its resend (event=resend_done). */
static bool fo_resend_done(void)
{
    char line[FO_LINE_MAX];
    fo_member *s = &B.fo[1 - B.fo_primary];
    return fo_log_find(s->log, B.fo_off_standby, "event=resend_done", NULL, line, sizeof line);
}

static void fo_kill(void)
{
    fo_member *p = &B.fo[B.fo_primary];
    B.fo_n0 = B.ixn_submitted;
    B.fo_n1 = 0;
    B.fo_gap_invited = 0;
    B.fo_exit_us = B.fo_first_us = B.fo_first_wall_us = 0;
    B.fo_off_standby = fo_file_size(B.fo[1 - B.fo_primary].log);
    B.fo_off_ixn = fo_file_size(B.ixn_log);
    fo_set_phase(PH_FO_WAIT);
    B.fo_kill_wall_us = cc_wall_us();
    B.fo_kill_us = cc_mono_us();
    uv_process_kill(&p->proc, SIGKILL);
}

static void fo_on_invite(int64_t n, uint64_t now)
{
    if (B.phase != PH_FO_WAIT || n < 0 || (uint64_t)n < B.fo_n0)
        return;
    if (!B.fo_first_us) {
        B.fo_first_us = now;
        B.fo_first_wall_us = cc_wall_us();
        B.fo_n1 = B.ixn_submitted;
    }
    if ((uint64_t)n < B.fo_n1 && ++B.fo_gap_invited == B.fo_n1 - B.fo_n0) {
        /* Every interaction that waited for the new primary is invited. */
        fo_round *r = &B.fo_res[B.fo_round_no];
        r->all_waiting_ms = (double)(now - B.fo_kill_us) / 1000.0;
        B.fo_submitting = false;
        fo_set_phase(PH_FO_SETTLE);
    }
}

/* The round's figures from this program's clock and the logs, printed as one line. */
static void fo_report_round(void)
{
    fo_round *r = &B.fo_res[B.fo_round_no];
    fo_member *p = &B.fo[B.fo_primary], *s = &B.fo[1 - B.fo_primary];
    char line[FO_LINE_MAX];
    r->failover_ms = (double)(B.fo_first_us - B.fo_kill_us) / 1000.0;
    r->exit_ms = B.fo_exit_us ? (double)(B.fo_exit_us - B.fo_kill_us) / 1000.0 : -1;
    r->waiting = (int64_t)(B.fo_n1 - B.fo_n0);
    r->lease_won_ms = r->promoted_ms = r->resend_ms = r->statuses_sent_ms = r->ixn_takes_ms = -1;
    r->epoch = r->agents_sent = -1;
    r->resend_done_ms = -1;
    r->resend_slices = -1;
    r->valid = -1;
    if (fo_log_find(s->log, B.fo_off_standby, "event=lease_won", NULL, line, sizeof line))
        r->lease_won_ms = fo_since_kill_ms(line);
    if (fo_log_find(s->log, B.fo_off_standby, "event=role role=primary", NULL, line, sizeof line)) {
        /* The line is written when the resend is done; elapsed_ms is the resend. */
        r->statuses_sent_ms = fo_since_kill_ms(line);
        r->resend_ms = fo_line_num(line, "elapsed_ms");
        r->epoch = (int64_t)fo_line_num(line, "epoch");
        r->agents_sent = (int64_t)fo_line_num(line, "agents_sent");
        if (r->statuses_sent_ms >= 0 && r->resend_ms >= 0)
            r->promoted_ms = r->statuses_sent_ms - r->resend_ms;
    }
    if (fo_log_find(s->log, B.fo_off_standby, "event=resend_done", NULL, line, sizeof line)) {
        r->resend_done_ms = fo_since_kill_ms(line);
        r->resend_slices = (int64_t)fo_line_num(line, "slices");
    }
    if (B.ixn_log && r->epoch >= 0) {
        char want[64];
        snprintf(want, sizeof want, " epoch=%" PRId64 " taken=yes", r->epoch);
        if (fo_log_find(B.ixn_log, B.fo_off_ixn, "event=reporting_mode", want, line, sizeof line)) {
            uint64_t taken = fo_line_wall_us(line);
            r->ixn_takes_ms = fo_since_kill_ms(line);
            /* The log's time is truncated to the millisecond: the invite may share it. */
            r->valid = taken && B.fo_first_wall_us + 1000 >= taken ? 1 : 0;
        } else {
            r->valid = 0;
        }
    }
    printf("failover: round=%d agents=%d killed=%c pid=%d new_primary=%c epoch=%" PRId64
           " failover_ms=%.1f exit_ms=%.1f lease_won_ms=%.0f promoted_ms=%.0f resend_ms=%.1f"
           " agents_sent=%" PRId64 " statuses_sent_ms=%.0f ixn_takes_new_primary_ms=%.0f"
           " first_invite_ms=%.1f waiting=%" PRId64 " all_waiting_invited_ms=%.1f"
           " resend_done_ms=%.0f resend_slices=%" PRId64 " after_new_primary=%s\n",
           B.fo_round_no + 1, B.agents, p->name, p->pid, s->name, r->epoch, r->failover_ms,
           r->exit_ms, r->lease_won_ms, r->promoted_ms, r->resend_ms, r->agents_sent,
           r->statuses_sent_ms, r->ixn_takes_ms, r->failover_ms, r->waiting, r->all_waiting_ms,
           r->resend_done_ms, r->resend_slices,
           r->valid < 0 ? "na"
           : r->valid   ? "yes"
                        : "no");
    fflush(stdout);
}

static int fo_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* min, median, max of one figure over the rounds; " KEY_min=.. KEY_median=.. KEY_max=..". */
static void fo_print_spread(const char *key, size_t off)
{
    double v[100];
    int n = 0;
    for (int i = 0; i < B.fo_rounds; i++) {
        double x = *(const double *)((const char *)&B.fo_res[i] + off);
        if (x >= 0)
            v[n++] = x;
    }
    if (n == 0) {
        printf(" %s_min=na %s_median=na %s_max=na", key, key, key);
        return;
    }
    qsort(v, (size_t)n, sizeof *v, fo_cmp);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf(" %s_min=%.0f %s_median=%.0f %s_max=%.0f", key, v[0], key, med, key, v[n - 1]);
}

static void fo_print_summary(void)
{
    double v[100];
    int valid = 0;
    for (int i = 0; i < B.fo_rounds; i++) {
        v[i] = B.fo_res[i].failover_ms;
        valid += B.fo_res[i].valid != 0;
    }
    qsort(v, (size_t)B.fo_rounds, sizeof *v, fo_cmp);
    int n = B.fo_rounds;
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf("failover: agents=%d rounds=%d rate=%.0f failover_ms=%.0f", B.agents, n, B.ixn_rate,
           med);
    fo_print_spread("failover_ms", offsetof(fo_round, failover_ms));
    fo_print_spread("exit_ms", offsetof(fo_round, exit_ms));
    fo_print_spread("lease_won_ms", offsetof(fo_round, lease_won_ms));
    fo_print_spread("promoted_ms", offsetof(fo_round, promoted_ms));
    fo_print_spread("resend_ms", offsetof(fo_round, resend_ms));
    fo_print_spread("ixn_takes_new_primary_ms", offsetof(fo_round, ixn_takes_ms));
    fo_print_spread("all_waiting_invited_ms", offsetof(fo_round, all_waiting_ms));
    printf(" rounds_after_new_primary=%d\n", valid);
    fflush(stdout);
}

static void fo_tick(uint64_t now, uint64_t in_phase)
{
    if (B.fo_submitting) {
        B.ixn_budget += B.ixn_rate * BENCH_TICK_MS / 1000.0;
        if (B.ixn_budget > B.ixn_rate + 1)
            B.ixn_budget = B.ixn_rate + 1;
        pump_submits();
    }
    switch (B.phase) {
    case PH_FO_SYNC:
        if (fo_pair_ready()) {
            fo_set_phase(PH_FO_WARM);
            B.fo_submitting = true;
            B.ixn_budget = 1;
            pump_submits();
        } else if (in_phase > (uint64_t)FO_SYNC_TIMEOUT_S * 1000000u) {
            fo_fail("the primary, its standby or the desktops not ready in time");
        }
        break;
    case PH_FO_WARM:
        if (in_phase > (uint64_t)FO_WARM_S * 1000000u) {
            B.fo_submitting = false;
            fo_set_phase(PH_FO_QUIET);
        }
        break;
    case PH_FO_QUIET:
        /* Every interaction finished and every media connection answered: nothing left
         * that the old primary could have routed. */
        if (ixn_unfinished() == 0 && B.ixn_acked + B.ixn_failed == B.ixn_submitted)
            fo_kill();
        else if (in_phase > (uint64_t)FO_QUIET_TIMEOUT_S * 1000000u)
            fo_fail("interactions still unfinished before the kill");
        break;
    case PH_FO_WAIT:
        if (in_phase > (uint64_t)FO_WAIT_TIMEOUT_S * 1000000u)
            fo_fail(B.fo_first_us ? "not every waiting interaction invited"
                                  : "no invite after the kill");
        break;
    case PH_FO_SETTLE:
        /* The new primary's resend runs in slices paced by the ixnserver: the round is
         * reported once it is done too (a statserver that does not log it is given
         * FO_RESEND_WAIT_S), and the next round never kills a member in the middle of it. */
        if (ixn_unfinished() == 0 &&
            (fo_resend_done() || in_phase > (uint64_t)FO_RESEND_WAIT_S * 1000000u)) {
            fo_report_round();
            B.fo_primary = 1 - B.fo_primary;
            if (++B.fo_round_no == B.fo_rounds) {
                fo_print_summary();
                B.printed = true;
                finish();
            } else {
                fo_start_round();
            }
        } else if (in_phase > (uint64_t)FO_QUIET_TIMEOUT_S * 1000000u) {
            fo_fail("interactions still unfinished after the failover");
        }
        break;
    default: break;
    }
    (void)now;
}

/* One result line per pass; the last pass ends the benchmark (or leads to the
 * interaction phase). */
static void end_pass(void)
{
    B.changes_end_us = cc_mono_us();
    print_result();
    B.printed = true;
    if (B.pass == 0) {
        B.pass = 1;
        setup_pass();
    } else if (B.queue) {
        start_ready();
    } else {
        finish();
    }
}

static void finish(void)
{
    if (B.stopping)
        return;
    B.stopping = true;
    B.phase = PH_DONE;
    /* A run that failed before any pass ended still says how far it got. */
    if (!B.printed)
        print_result();
    B.fo_submitting = false;
    for (int i = 0; i < 2; i++)
        if (B.fo[i].running)
            uv_process_kill(&B.fo[i].proc, SIGTERM);
    if (B.stat_running || fo_any_running()) {
        /* Only the processes this benchmark started, by their pids. */
        if (B.stat_running)
            uv_process_kill(&B.stat_proc, SIGTERM);
        uv_timer_start(&B.kill_timer, on_kill_timer, 5000, 0);
    } else {
        uv_close((uv_handle_t *)&B.kill_timer, NULL);
    }
    for (int i = 0; i < B.ndesks; i++)
        cc_client_free(B.desks[i].client);
    for (int i = 0; B.mconns && i < B.media_conns; i++)
        cc_client_free(B.mconns[i].client);
    tool_close((uv_handle_t *)&B.tick);
    tool_signals_close(&B.sig);
    tool_close_net_later(&B.drain, &B.loop, &B.net);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = cc_mono_us();
    uint64_t in_phase = now - B.phase_start_us;
    switch (B.phase) {
    case PH_LOGIN:
        if (in_phase > (uint64_t)BENCH_LOGIN_TIMEOUT_S * 1000000u) {
            fprintf(stderr, "ixbench: only %d of %d agents logged in after %d s\n", B.logged_in,
                    B.ndesks, BENCH_LOGIN_TIMEOUT_S);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_BACKLOG:
        if (in_phase > (uint64_t)BENCH_BACKLOG_TIMEOUT_S * 1000000u) {
            fprintf(stderr,
                    "ixbench: %" PRIu64 " of %" PRIu64 " backlog submits answered after %d s\n",
                    B.ixn_acked + B.ixn_failed, B.backlog, BENCH_BACKLOG_TIMEOUT_S);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_SNAPSHOT:
        if (in_phase > (uint64_t)BENCH_SNAPSHOT_TIMEOUT_S * 1000000u) {
            fprintf(stderr, "ixbench: only %d of %d desktops got a status after %d s\n",
                    B.statuses_first, B.ndesks, BENCH_SNAPSHOT_TIMEOUT_S);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_CHANGES:
        if (in_phase > (uint64_t)B.seconds * 1000000u) {
            /* Time is up: stop sending and give what is in flight a moment to land. */
            B.max_changes = B.sent;
            B.phase = PH_DRAIN;
            B.phase_start_us = now;
            if (B.in_flight == 0) {
                end_pass();
            }
        } else {
            fill_window();
        }
        break;
    case PH_DRAIN:
        if (B.in_flight == 0 || in_phase > BENCH_DRAIN_TIMEOUT_MS * 1000u) {
            if (B.in_flight)
                fprintf(stderr, "ixbench: %d changes never got their status\n", B.in_flight);
            end_pass();
        }
        break;
    case PH_READY:
    case PH_IXN:
    case PH_IXN_DRAIN: tick_ixn(now, in_phase); break;
    case PH_FO_SYNC:
    case PH_FO_WARM:
    case PH_FO_QUIET:
    case PH_FO_WAIT:
    case PH_FO_SETTLE: fo_tick(now, in_phase); break;
    case PH_DONE: break;
    }
}

static void on_signal(tool_signals *s, int signum)
{
    (void)s;
    fprintf(stderr, "ixbench: signal %d, stopping\n", signum);
    B.exit_code = 1;
    finish();
}

int main(int argc, char **argv)
{
    cc_log_init("ixbench", CC_LOG_WARN);
    if (!parse_args(argc, argv))
        return 2;
    if (!tool_tls_start(&B.tls, "ixbench"))
        return 2;
    /* One desktop connection per agent on each side needs more descriptors than the usual
     * soft limit of 1024. */
    tool_raise_nofile("ixbench", (uint64_t)B.ndesks + 256);
    tool_loop_init(&B.loop, &B.net);
    uint64_t most = B.cfg_changes > B.lat_changes ? B.cfg_changes : B.lat_changes;
    B.lat_us = xcalloc(most ? most : 1, sizeof *B.lat_us);
    B.desks = xcalloc((size_t)B.ndesks, sizeof *B.desks);
    for (int i = 0; i < B.ndesks; i++) {
        desk *d = &B.desks[i];
        /* The agent's index: the desktops of the second server are the same agents. */
        d->index = i % B.agents;
        char name[48];
        snprintf(name, sizeof name, "ixbench-%d", i + 1);
        cc_client_config cfg = {
            .address = i < B.agents ? B.ixn_addr : B.ixn2_addr,
            .client_type = "AgentApplication",
            .client_name = name,
            .token = B.token,
            .tls = B.tls.ctx,
            .reconnect = true,
        };
        d->client = cc_client_new(&B.net, &cfg, &desk_ops, d);
    }
    if (B.queue) {
        B.submit_us = xcalloc(B.ixn_max, sizeof *B.submit_us);
        B.invite_lat = xcalloc(B.ixn_max, sizeof *B.invite_lat);
        B.seen = xcalloc(B.ixn_max, 1);
        B.mconns = xcalloc((size_t)B.media_conns, sizeof *B.mconns);
        for (int i = 0; i < B.media_conns; i++) {
            media_conn *m = &B.mconns[i];
            m->cap = (unsigned)B.ixn_window;
            if (B.backlog && m->cap < BENCH_BACKLOG_INFLIGHT)
                m->cap = BENCH_BACKLOG_INFLIGHT;
            m->ring = xcalloc(m->cap, sizeof *m->ring);
            char name[48];
            snprintf(name, sizeof name, "ixbench-media-%d", i + 1);
            cc_client_config cfg = {
                .address = B.ixn2_addr && i % 2 ? B.ixn2_addr : B.ixn_addr,
                .client_type = "MediaServer",
                .client_name = name,
                .token = B.media_token,
                .tls = B.tls.ctx,
                .reconnect = true,
            };
            m->client = cc_client_new(&B.net, &cfg, &media_ops, m);
        }
    }
    if (B.fo_rounds)
        B.fo_res = xcalloc((size_t)B.fo_rounds, sizeof *B.fo_res);
    B.phase = PH_LOGIN;
    B.login_start_us = B.phase_start_us = cc_mono_us();
    start_more_logins();
    uv_timer_init(&B.loop, &B.kill_timer);
    uv_timer_init(&B.loop, &B.tick);
    uv_timer_start(&B.tick, on_tick, BENCH_TICK_MS, BENCH_TICK_MS);
    tool_signals_start(&B.sig, &B.loop, on_signal);
    uv_run(&B.loop, UV_RUN_DEFAULT);
    if (B.stat_running) {
        /* The loop ended with the statserver still up (its exit was not seen): make sure
         * it is gone before the benchmark returns. */
        kill(B.stat_pid, SIGKILL);
    }
    for (int i = 0; i < 2; i++)
        if (B.fo[i].running)
            kill(B.fo[i].pid, SIGKILL);
    uv_loop_close(&B.loop);
    tool_tls_free(&B.tls);
    explicit_bzero(B.password, sizeof B.password);
    free(B.desks);
    free(B.lat_us);
    for (int i = 0; B.mconns && i < B.media_conns; i++)
        free(B.mconns[i].ring);
    free(B.mconns);
    free(B.submit_us);
    free(B.invite_lat);
    free(B.seen);
    free(B.fo_res);
    return B.exit_code;
}

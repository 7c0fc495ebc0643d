/* statbench: the statistics benchmark of issue 11 (docs/bench.md "Statistics (issue 11)").
 *
 * 1. Logs in N desktop connections (AgentApplication) to a running ixnserver, every agent
 *    ready on one media, spawns the statserver (whose configuration names a data-dir, so
 *    that it writes its history) and waits for every desktop's first status.
 * 2. Connects C StatClient connections to the statserver and a few MediaServer connections
 *    to the ixnserver, then drives load at a fixed rate until the end: readiness toggles
 *    (the agents in turn, one change in flight per agent at most) and interactions
 *    submitted round robin to queues Q-1 .. Q-K, each accepted and stopped by the desktop
 *    invited at once.
 * 3. Measures phases of the same load, each --seconds long, --rounds R rounds of a "stats"
 *    phase between two "base" phases: base, stats, base, ... base. A base phase has no
 *    statistic open; before each stats phase S statistics are opened over the C
 *    connections (queue, agent and tenant statistics, profiles day and sliding, notify
 *    changes), and after it closed again. Per phase: the statserver's CPU time (utime +
 *    stime from /proc) per state change (a status a desktop received: the statserver sends
 *    exactly one per state event), EventStatisticValue per second, the history's rows per
 *    second (the largest row number of DIR/history.db read every 100 ms, between the first
 *    and the last commit seen in the phase), and the toggle → status latency.
 * 4. In the stats phases, the push latency: from the request at the interaction server (a
 *    readiness toggle, a submit) to the EventStatisticValue it causes (the agent's State,
 *    the queue's Entered of the day), measured only for statistics whose last value
 *    arrived at least SB_QUIET_US before the request, so that the statserver's coalescing
 *    (one value per 100 ms per statistic) cannot hold the value back.
 *
 * Prints one line per phase and a summary line, key=value. Every phase is bounded in
 * time; the statserver it spawned is stopped by its pid. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/media.h"
#include "net/client.h"
#include "net/conn.h"
#include "net/turnw.h"
#include "proto/agentreq.h"
#include "proto/ixnmsg.h"
#include "proto/msg.h"
#include "proto/statistic.h"
#include "lib/tool.h"

#define SB_MAX_AGENTS 100000
#define SB_MAX_QUEUES 10000
#define SB_MAX_STATS 1000000
#define SB_MAX_CLIENTS 1000
#define SB_MAX_RATE 1000000
#define SB_LOGIN_WINDOW 256
#define SB_LOGIN_TIMEOUT_S 600
#define SB_SNAPSHOT_TIMEOUT_S 120
#define SB_CONNECT_TIMEOUT_S 60
#define SB_OPEN_TIMEOUT_S 180
#define SB_DRAIN_TIMEOUT_MS 5000
#define SB_TICK_MS 100
/* The pacing timer: the budget of changes and submits grows with the time that passed. */
#define SB_PACE_MS 1
/* At most this much budget accumulates (a stalled loop does not burst afterwards). */
#define SB_BUDGET_MAX_S 0.1
#define SB_MEDIA_CONNS 4
#define SB_DESK_SLOTS 16
/* Bounds of the load in flight: a server that cannot keep up lowers the rate achieved
 * (printed) instead of growing the queues without end. */
#define SB_MAX_CHANGES_IN_FLIGHT 2000
#define SB_MAX_UNFINISHED 2000
/* Load before the first measured phase, and after the statistics were opened (their first
 * values and the time-driven ones' first round), before the next one. */
#define SB_WARM_S 2
#define SB_SETTLE_S 2
/* A push is timed only when the statistic's last value arrived at least this long before
 * the request: the statserver sends one value per 100 ms per statistic at most (a later
 * change waits), and reads its clock in whole milliseconds. */
#define SB_QUIET_US 110000
/* Kinds of the agent statistics beyond State, and of the queue statistics. */
#define SB_EXTRA_KINDS 8
#define SB_QUEUE_KINDS 12
/* Index of Entered (day) among the queue kinds: the statistic a submit is timed by. */
#define SB_QUEUE_ENTERED 3

enum sb_phase {
    PH_LOGIN,
    PH_SNAPSHOT,
    PH_CONNECT,
    PH_WARM,
    PH_BASE,
    PH_OPEN,
    PH_SETTLE,
    PH_STATS,
    PH_CLOSE,
    PH_DRAIN,
    PH_DONE
};

/* Rounds of a stats phase between two base phases at the most: measured phases 0, 2, 4,
 * ... are without statistics, 1, 3, ... with them. */
#define SB_MAX_ROUNDS 10
#define M_COUNT (2 * SB_MAX_ROUNDS + 1)

/* One statistic definition of the mix. */
typedef struct stat_def {
    enum proto_sts_object type;
    enum proto_sts_stat stat;
    int64_t sliding_s; /* 0: day */
} stat_def;

/* Every queue gets these: the wallboard's figures, in both profiles. */
static const stat_def QUEUE_DEFS[SB_QUEUE_KINDS] = {
    {PROTO_STS_QUEUE, PROTO_STS_Q_WAITING, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_OLDEST_WAIT, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_EWT, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_ENTERED, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_ANSWERED, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_ABANDONED, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_SERVICE_LEVEL, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_ASA, 0},
    {PROTO_STS_QUEUE, PROTO_STS_Q_ENTERED, 900},
    {PROTO_STS_QUEUE, PROTO_STS_Q_ANSWERED, 900},
    {PROTO_STS_QUEUE, PROTO_STS_Q_SERVICE_LEVEL, 900},
    {PROTO_STS_QUEUE, PROTO_STS_Q_ASA, 900},
};

static const stat_def TENANT_DEFS[] = {
    {PROTO_STS_TENANT, PROTO_STS_T_LOGGED_IN, 0},   {PROTO_STS_TENANT, PROTO_STS_T_READY, 0},
    {PROTO_STS_TENANT, PROTO_STS_T_AVAILABLE, 0},   {PROTO_STS_TENANT, PROTO_STS_T_WAITING, 0},
    {PROTO_STS_TENANT, PROTO_STS_T_OLDEST_WAIT, 0},
};

static const stat_def STATE_DEF = {PROTO_STS_AGENT, PROTO_STS_A_STATE, 0};

/* What the statistics beyond one State per agent are, in turn: an agent report's counts
 * and times. */
static const stat_def EXTRA_DEFS[SB_EXTRA_KINDS] = {
    {PROTO_STS_AGENT, PROTO_STS_A_OFFERED, 0},
    {PROTO_STS_AGENT, PROTO_STS_A_ACCEPTED, 0},
    {PROTO_STS_AGENT, PROTO_STS_A_HANDLED, 0},
    {PROTO_STS_AGENT, PROTO_STS_A_AHT, 0},
    {PROTO_STS_AGENT, PROTO_STS_A_LOGIN_TIME, 0},
    {PROTO_STS_AGENT, PROTO_STS_A_READY_TIME, 3600},
    {PROTO_STS_AGENT, PROTO_STS_A_NOT_READY_TIME, 0},
    {PROTO_STS_AGENT, PROTO_STS_A_BUSY_TIME, 900},
};

/* One open statistic: its definition, object, connection, and its last value's arrival. */
typedef struct sb_stat {
    const stat_def *def;
    int32_t obj; /* the queue's or the agent's index; 0 for the tenant */
    int32_t client;
    bool has_value;
    uint64_t last_rx_us;
    int64_t last_v; /* INT values: the last one */
} sb_stat;

/* The request in flight for one interaction a desktop works on. */
enum sb_step { STEP_FREE, STEP_ACCEPT, STEP_STOP, STEP_COMPLETE };

typedef struct desk_slot {
    enum sb_step step;
    int64_t ref;
    char id[PROTO_ID_MAX + 16];
} desk_slot;

typedef struct desk {
    cc_client *client;
    int index;
    bool logged_in;
    int64_t login_ref;
    bool have_status;
    bool status_ready;
    bool pending; /* a toggle is in flight */
    bool want_ready;
    int64_t change_ref;
    uint64_t sent_us; /* when the toggle in flight was queued */
    /* The push being timed: 0 none, 1 a State NotReady expected, 2 any other State. */
    int arm;
    uint64_t arm_us;
    desk_slot slots[SB_DESK_SLOTS];
} desk;

typedef struct media_conn {
    cc_client *client;
    unsigned in_flight;
} media_conn;

typedef struct stat_client {
    cc_client *client;
    bool up;
    uint64_t answers; /* EventAck and EventError to its opens and closes */
} stat_client;

/* A queue's push being timed. */
typedef struct queue_arm {
    bool armed;
    uint64_t at_us;
    int64_t base; /* Entered before the submit */
} queue_arm;

/* Counters at the start and end of a measured phase. */
typedef struct phase_fig {
    uint64_t t0, t1;
    int64_t scpu0, scpu1, icpu0, icpu1;
    uint64_t statuses0, statuses1, toggles0, toggles1, routed0, routed1, values0, values1;
    uint64_t submitted0, submitted1;
    /* The first and last history commit seen in the phase. */
    uint64_t ht_first, ht_last;
    int64_t hseq_first, hseq_last;
    uint64_t wall0, wall1; /* the phase's start and end, wall clock ms */
    cc_turnw_stats tw;     /* statbench's own loop turns over the phase */
} phase_fig;

/* A growing array of latencies. */
typedef struct lat_list {
    uint32_t *v;
    size_t n, cap;
} lat_list;

static void lat_push(lat_list *l, uint64_t us);

typedef struct sbench {
    uv_loop_t loop;
    cc_net net;
    uv_timer_t tick, pace, kill_timer;
    tool_signals sig;
    uv_process_t stat_proc;
    bool stat_running;
    int stat_pid;
    /* options */
    const char *ixn_addr, *token, *tenant, *media, *stat_bin, *stat_config, *stat_log;
    const char *stat_port_file, *stat_token, *server, *queue, *media_token, *history;
    char password[PROTO_TEXT_MAX + 1];
    int agents, queues, nstats, nclients, ixn_pid, rounds;
    bool round_robin; /* --spread round-robin: statistic i on connection i mod C */
    double change_rate, ixn_rate;
    unsigned seconds;
    /* state */
    desk *desks;
    media_conn mconns[SB_MEDIA_CONNS];
    stat_client *sclients;
    sb_stat *stats;
    int *agent_state;   /* per agent: its State statistic's index, or -1 */
    int *queue_entered; /* per queue: its Entered (day) statistic's index, or -1 */
    queue_arm *qarm;
    enum sb_phase phase;
    uint64_t phase_start_us;
    int started, logged_in, in_login, statuses_first;
    uint64_t login_start_us, login_end_us, stat_start_us, first_statuses_us;
    int stat_port;
    int mconns_up, sclients_up;
    /* load */
    bool load_on;
    uint64_t pace_last_us;
    double change_budget, ixn_budget;
    int cursor, in_flight, mconn_next;
    uint64_t toggles_done, statuses, errors, drops;
    uint64_t submitted, acked, failed, finished, ixn_errors;
    uint64_t next_queue;
    /* statistics */
    uint64_t values, open_errors, bad_values, opened, closes_sent;
    bool measure_push;
    lat_list state_lat, queue_lat;
    /* Per measured phase: from a toggle's request to the status it causes arriving at its
     * desktop, the path of ixbench's passes, as a reference for the push latency. */
    lat_list status_lat[M_COUNT];
    uint64_t push_voided;
    double open_s; /* from the first RequestOpenStatistic to the last first value */
    /* history */
    sqlite3 *hdb;
    sqlite3_stmt *hst;
    int64_t hseq_prev;
    /* figures */
    int mphase; /* the measured phase running, or -1 */
    int nfig;   /* measured phases begun */
    phase_fig fig[M_COUNT];
    bool fig_done[M_COUNT];
    int exit_code;
    bool stopping, printed;
    tool_drain drain;
} sbench;

static sbench B;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: statbench --ixn HOST:PORT --token T --password-file F --agents N\n"
            "                 --statserver PATH --stat-config FILE --stat-port-file FILE\n"
            "                 --stat-token T --server NAME --queue Q --queues K --media-token T\n"
            "                 [--stat-log FILE] [--history DIR/history.db] [--statistics S]\n"
            "                 [--stat-clients C] [--change-rate R] [--ixn-rate R]\n"
            "                 [--seconds S] [--tenant T] [--media M] [--ixn-pid PID]\n"
            "                 [--spread blocks|round-robin] [--rounds R]\n"
            "Agents are TENANT/1..N at places P1..PN, queues Q-1..Q-K on the ixnserver whose\n"
            "[ixn:NAME] section the statserver's configuration has (--server NAME). Measures\n"
            "the statserver's CPU per state change without statistics, with S statistics\n"
            "open over C StatClient connections and without them again, under the same load\n"
            "(R readiness toggles and R interactions a second), the push latency and the\n"
            "history's rows per second.\n");
}

static bool parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"ixn", required_argument, NULL, 'i'},
        {"token", required_argument, NULL, 'k'},
        {"password-file", required_argument, NULL, 'p'},
        {"agents", required_argument, NULL, 'n'},
        {"tenant", required_argument, NULL, 't'},
        {"media", required_argument, NULL, 'm'},
        {"statserver", required_argument, NULL, 's'},
        {"stat-config", required_argument, NULL, 'c'},
        {"stat-log", required_argument, NULL, 'l'},
        {"stat-port-file", required_argument, NULL, 'f'},
        {"stat-token", required_argument, NULL, 'x'},
        {"server", required_argument, NULL, 'N'},
        {"queue", required_argument, NULL, 'Q'},
        {"queues", required_argument, NULL, 'q'},
        {"media-token", required_argument, NULL, 'T'},
        {"history", required_argument, NULL, 'H'},
        {"statistics", required_argument, NULL, 'S'},
        {"stat-clients", required_argument, NULL, 'C'},
        {"change-rate", required_argument, NULL, 'r'},
        {"ixn-rate", required_argument, NULL, 'R'},
        {"seconds", required_argument, NULL, 'd'},
        {"ixn-pid", required_argument, NULL, 'P'},
        {"spread", required_argument, NULL, 'D'},
        {"rounds", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pwfile = NULL;
    B.token = "";
    B.stat_token = "";
    B.media_token = "";
    B.tenant = "Bench";
    B.media = "chat";
    B.agents = 10000;
    B.queues = 200;
    B.nstats = 20000;
    B.nclients = 50;
    B.change_rate = 2000;
    B.ixn_rate = 200;
    B.seconds = 10;
    B.rounds = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': B.ixn_addr = optarg; break;
        case 'k': B.token = optarg; break;
        case 'p': pwfile = optarg; break;
        case 'n': B.agents = atoi(optarg); break;
        case 't': B.tenant = optarg; break;
        case 'm': B.media = optarg; break;
        case 's': B.stat_bin = optarg; break;
        case 'c': B.stat_config = optarg; break;
        case 'l': B.stat_log = optarg; break;
        case 'f': B.stat_port_file = optarg; break;
        case 'x': B.stat_token = optarg; break;
        case 'N': B.server = optarg; break;
        case 'Q': B.queue = optarg; break;
        case 'q': B.queues = atoi(optarg); break;
        case 'T': B.media_token = optarg; break;
        case 'H': B.history = optarg; break;
        case 'S': B.nstats = atoi(optarg); break;
        case 'C': B.nclients = atoi(optarg); break;
        case 'r': B.change_rate = strtod(optarg, NULL); break;
        case 'R': B.ixn_rate = strtod(optarg, NULL); break;
        case 'd': B.seconds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'P': B.ixn_pid = atoi(optarg); break;
        case 'o': B.rounds = atoi(optarg); break;
        case 'D':
            if (strcmp(optarg, "round-robin") == 0)
                B.round_robin = true;
            else if (strcmp(optarg, "blocks") != 0) {
                fprintf(stderr, "statbench: --spread blocks or round-robin\n");
                return false;
            }
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return false;
        }
    }
    if (optind != argc || !B.ixn_addr || !pwfile || !B.stat_bin || !B.stat_config ||
        !B.stat_port_file || !B.server || !B.queue) {
        usage(stderr);
        return false;
    }
    if (B.agents < 1 || B.agents > SB_MAX_AGENTS || B.queues < 1 || B.queues > SB_MAX_QUEUES ||
        B.nstats < 0 || B.nstats > SB_MAX_STATS || B.nclients < 1 || B.nclients > SB_MAX_CLIENTS ||
        !(B.change_rate >= 0) || B.change_rate > SB_MAX_RATE || !(B.ixn_rate >= 0) ||
        B.ixn_rate > SB_MAX_RATE || B.seconds < 1 || B.seconds > 3600 || B.rounds < 1 ||
        B.rounds > SB_MAX_ROUNDS) {
        fprintf(stderr,
                "statbench: --agents 1..%d, --queues 1..%d, --statistics 0..%d, "
                "--stat-clients 1..%d, rates 0..%d, --seconds 1..3600, --rounds 1..%d\n",
                SB_MAX_AGENTS, SB_MAX_QUEUES, SB_MAX_STATS, SB_MAX_CLIENTS, SB_MAX_RATE,
                SB_MAX_ROUNDS);
        return false;
    }
    if (!cc_media_name_valid(B.media, strlen(B.media)) || !*B.tenant ||
        strlen(B.tenant) > PROTO_ID_MAX || !*B.queue || strlen(B.queue) + 8 > PROTO_ID_MAX ||
        !*B.server || strlen(B.server) > PROTO_ID_MAX) {
        fprintf(stderr, "statbench: bad --media, --tenant, --queue or --server\n");
        return false;
    }
    return tool_read_password("statbench", pwfile, B.password, sizeof B.password, "no password");
}

/* ---- the mix of statistics ---- */

/* The mix, in this order until S: the tenant's five, every queue's twelve, one State per
 * agent, then the extra agent statistics, each agent the next kind in turn (an agent gets
 * each kind once at most). All are distinct, so that none is shared (the engine computes
 * a statistic once for all its subscribers). Each connection gets a block of S / C
 * statistics in that order, as a wallboard subscribes to the figures of the queues and
 * agents it shows; --spread round-robin puts statistic i on connection i mod C instead,
 * so that the values of one event go out on as many connections as possible. */
static void build_mix(void)
{
    B.stats = xcalloc(B.nstats ? (size_t)B.nstats : 1, sizeof *B.stats);
    B.agent_state = xmalloc((size_t)B.agents * sizeof *B.agent_state);
    B.queue_entered = xmalloc((size_t)B.queues * sizeof *B.queue_entered);
    B.qarm = xcalloc((size_t)B.queues, sizeof *B.qarm);
    for (int a = 0; a < B.agents; a++)
        B.agent_state[a] = -1;
    for (int q = 0; q < B.queues; q++)
        B.queue_entered[q] = -1;
    int n = 0;
    int ntenant = (int)(sizeof TENANT_DEFS / sizeof TENANT_DEFS[0]);
    for (int k = 0; k < ntenant && n < B.nstats; k++)
        B.stats[n++] = (sb_stat){.def = &TENANT_DEFS[k]};
    for (int q = 0; q < B.queues && n < B.nstats; q++)
        for (int k = 0; k < SB_QUEUE_KINDS && n < B.nstats; k++) {
            if (k == SB_QUEUE_ENTERED)
                B.queue_entered[q] = n;
            B.stats[n++] = (sb_stat){.def = &QUEUE_DEFS[k], .obj = q};
        }
    for (int a = 0; a < B.agents && n < B.nstats; a++) {
        B.agent_state[a] = n;
        B.stats[n++] = (sb_stat){.def = &STATE_DEF, .obj = a};
    }
    for (int j = 0; n < B.nstats && j < SB_EXTRA_KINDS * B.agents; j++) {
        int a = j % B.agents;
        int kind = (j / B.agents + a) % SB_EXTRA_KINDS;
        B.stats[n++] = (sb_stat){.def = &EXTRA_DEFS[kind], .obj = a};
    }
    if (n < B.nstats) {
        fprintf(stderr, "statbench: only %d distinct statistics for %d agents and %d queues\n", n,
                B.agents, B.queues);
        B.nstats = n;
    }
    for (int i = 0; i < B.nstats; i++)
        B.stats[i].client =
            B.round_robin ? i % B.nclients : (int)((int64_t)i * B.nclients / B.nstats);
}

static void queue_name(char *buf, size_t cap, uint64_t q)
{
    snprintf(buf, cap, "%s-%" PRIu64, B.queue, q + 1);
}

static void send_open(int i)
{
    sb_stat *st = &B.stats[i];
    const stat_def *d = st->def;
    char id[PROTO_ID_MAX + 16];
    proto_sts_open o = {.statistic_id = i + 1,
                        .type = d->type,
                        .tenant = B.tenant,
                        .statistic = d->stat,
                        .sliding_s = d->sliding_s,
                        .threshold_s = -1};
    if (d->type == PROTO_STS_QUEUE) {
        queue_name(id, sizeof id, (uint64_t)st->obj);
        o.server = B.server;
        o.id = id;
    } else if (d->type == PROTO_STS_AGENT) {
        snprintf(id, sizeof id, "%d", st->obj + 1);
        o.id = id;
    }
    if (proto_sts_stat_per_media((int)d->stat))
        o.media = B.media;
    cc_buf b;
    cc_buf_init(&b);
    proto_sts_enc_open(&b, &o);
    if (cc_client_request(B.sclients[st->client].client, &b) > 0)
        B.opened++;
    cc_buf_free(&b);
}

static void send_close(int i)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_sts_enc_close(&b, i + 1);
    if (cc_client_request(B.sclients[B.stats[i].client].client, &b) > 0)
        B.closes_sent++;
    cc_buf_free(&b);
}

/* ---- process and history readings ---- */

/* The largest row number of the history's events table (rows are numbered in the order
 * written, and only committed rows are seen), or -1. The file is opened read-only once
 * it exists; WAL readers never block the statserver's writes. */
static int64_t hist_seq(void)
{
    if (!B.history)
        return -1;
    if (!B.hdb) {
        if (access(B.history, R_OK) != 0)
            return -1;
        if (sqlite3_open_v2(B.history, &B.hdb, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(B.hdb, "SELECT max(seq) FROM events", -1, &B.hst, NULL) !=
                SQLITE_OK) {
            sqlite3_finalize(B.hst);
            sqlite3_close(B.hdb);
            B.hst = NULL;
            B.hdb = NULL;
            return -1;
        }
        sqlite3_busy_timeout(B.hdb, 50);
    }
    int64_t v = -1;
    if (sqlite3_step(B.hst) == SQLITE_ROW && sqlite3_column_type(B.hst, 0) == SQLITE_INTEGER)
        v = sqlite3_column_int64(B.hst, 0);
    sqlite3_reset(B.hst);
    return v;
}

/* Called every tick: a new largest row number is a commit, noted in the running phase. */
static void hist_sample(uint64_t now)
{
    uint64_t t0 = cc_turnw_begin();
    int64_t seq = hist_seq();
    cc_turnw_end("hist_sample", t0);
    if (seq < 0 || seq == B.hseq_prev)
        return;
    B.hseq_prev = seq;
    if (B.mphase < 0)
        return;
    phase_fig *f = &B.fig[B.mphase];
    if (!f->ht_first) {
        f->ht_first = now;
        f->hseq_first = seq;
    }
    f->ht_last = now;
    f->hseq_last = seq;
}

static void fig_begin(void)
{
    int m = B.nfig++;
    phase_fig *f = &B.fig[m];
    memset(f, 0, sizeof *f);
    f->t0 = cc_mono_us();
    f->wall0 = cc_wall_us() / 1000;
    cc_turnw_report(NULL, false);
    f->scpu0 = B.stat_running ? tool_proc_cpu_us(B.stat_pid) : -1;
    f->icpu0 = tool_proc_cpu_us(B.ixn_pid);
    f->statuses0 = B.statuses;
    f->toggles0 = B.toggles_done;
    f->routed0 = B.finished;
    f->values0 = B.values;
    f->submitted0 = B.submitted;
    B.mphase = m;
}

static void fig_end(void)
{
    if (B.mphase < 0)
        return;
    phase_fig *f = &B.fig[B.mphase];
    f->t1 = cc_mono_us();
    f->wall1 = cc_wall_us() / 1000;
    cc_turnw_report(&f->tw, false);
    f->scpu1 = B.stat_running ? tool_proc_cpu_us(B.stat_pid) : -1;
    f->icpu1 = tool_proc_cpu_us(B.ixn_pid);
    f->statuses1 = B.statuses;
    f->toggles1 = B.toggles_done;
    f->routed1 = B.finished;
    f->values1 = B.values;
    f->submitted1 = B.submitted;
    B.fig_done[B.mphase] = true;
    B.mphase = -1;
}

/* CPU microseconds per state change of a phase, or -1. */
static double cpu_per_change(const phase_fig *f, bool statserver)
{
    int64_t a = statserver ? f->scpu0 : f->icpu0, b = statserver ? f->scpu1 : f->icpu1;
    uint64_t n = f->statuses1 - f->statuses0;
    if (a < 0 || b < a || n == 0)
        return -1;
    return (double)(b - a) / (double)n;
}

static double hist_rate(const phase_fig *f)
{
    if (f->ht_last <= f->ht_first)
        return -1;
    return (double)(f->hseq_last - f->hseq_first) / ((double)(f->ht_last - f->ht_first) / 1e6);
}

/* " KEY=V" with decimals digits after the point, or " KEY=na" for a negative v. */
static void print_num(const char *key, double v, int decimals)
{
    if (v < 0)
        printf(" %s=na", key);
    else
        printf(" %s=%.*f", key, decimals, v);
}

static void print_lat(const char *prefix, lat_list *l)
{
    tool_sort_u32(l->v, l->n);
    printf(" %s_p50_us=%u %s_p99_us=%u %s_max_us=%u %s_samples=%zu", prefix,
           tool_percentile(l->v, l->n, 0.50), prefix, tool_percentile(l->v, l->n, 0.99), prefix,
           l->n ? l->v[l->n - 1] : 0, prefix, l->n);
}

static void print_phase(int m)
{
    const phase_fig *f = &B.fig[m];
    double secs = (double)(f->t1 - f->t0) / 1e6;
    uint64_t statuses = f->statuses1 - f->statuses0;
    printf("stats: phase=%s round=%d seconds=%.1f open=%d toggles_per_s=%.0f routed_per_s=%.0f "
           "state_changes=%" PRIu64 " state_changes_per_s=%.0f",
           m % 2 ? "stats" : "base", m / 2 + 1, secs, m % 2 ? B.nstats : 0,
           secs > 0 ? (double)(f->toggles1 - f->toggles0) / secs : 0.0,
           secs > 0 ? (double)(f->routed1 - f->routed0) / secs : 0.0, statuses,
           secs > 0 ? (double)statuses / secs : 0.0);
    if (f->scpu0 >= 0 && f->scpu1 >= f->scpu0)
        printf(" stat_cpu_ms=%.0f stat_cpu_share=%.3f", (double)(f->scpu1 - f->scpu0) / 1e3,
               secs > 0 ? (double)(f->scpu1 - f->scpu0) / 1e6 / secs : 0.0);
    print_num("stat_cpu_us_per_change", cpu_per_change(f, true), 1);
    if (B.ixn_pid > 0)
        print_num("ixn_cpu_us_per_change", cpu_per_change(f, false), 1);
    printf(" values_per_s=%.0f", secs > 0 ? (double)(f->values1 - f->values0) / secs : 0.0);
    print_num("hist_rows_per_s", hist_rate(f), 0);
    print_lat("status", &B.status_lat[m]);
    if (cc_turnw_on())
        printf(" wall_ms=%" PRIu64 "-%" PRIu64 " bench_cpu_share=%.3f bench_wall_share=%.3f"
               " bench_turn_p99_us=%" PRIu64 " bench_turn_max_us=%" PRIu64
               " bench_share_over2ms=%.4f bench_share_over5ms=%.4f",
               f->wall0, f->wall1,
               f->tw.span_us ? (double)f->tw.busy_us / (double)f->tw.span_us : 0.0,
               f->tw.span_us ? (double)f->tw.wall_us / (double)f->tw.span_us : 0.0, f->tw.p99_us,
               f->tw.max_us, f->tw.span_us ? (double)f->tw.over2_us / (double)f->tw.span_us : 0.0,
               f->tw.span_us ? (double)f->tw.over5_us / (double)f->tw.span_us : 0.0);
    printf("\n");
    fflush(stdout);
}

/* Sums over the measured phases with (odd) or without (even) statistics: CPU time and
 * state changes; false when a CPU reading is missing. */
static bool cpu_sums(bool with, int64_t *cpu, uint64_t *changes)
{
    *cpu = 0;
    *changes = 0;
    for (int m = with ? 1 : 0; m < B.nfig; m += 2) {
        const phase_fig *f = &B.fig[m];
        if (!B.fig_done[m])
            continue;
        if (f->scpu0 < 0 || f->scpu1 < f->scpu0)
            return false;
        *cpu += f->scpu1 - f->scpu0;
        *changes += f->statuses1 - f->statuses0;
    }
    return *changes > 0;
}

/* The summary: the statistics' cost as the CPU per state change of the stats phases over
 * that of the base phases around them (all summed), each round's own ratio (its stats
 * phase over the mean of the base phases before and after it), and the push latency of
 * both kinds together. */
static void print_summary(void)
{
    int64_t cpu_with, cpu_without;
    uint64_t n_with, n_without;
    if (B.nfig < 2 || !B.fig_done[1])
        return;
    bool ok = cpu_sums(true, &cpu_with, &n_with) && cpu_sums(false, &cpu_without, &n_without);
    double with = ok ? (double)cpu_with / (double)n_with : -1;
    double without = ok ? (double)cpu_without / (double)n_without : -1;
    lat_list all = {0};
    all.n = B.state_lat.n + B.queue_lat.n;
    all.v = xmalloc((all.n ? all.n : 1) * sizeof *all.v);
    if (B.state_lat.n)
        memcpy(all.v, B.state_lat.v, B.state_lat.n * sizeof *all.v);
    if (B.queue_lat.n)
        memcpy(all.v + B.state_lat.n, B.queue_lat.v, B.queue_lat.n * sizeof *all.v);
    printf("stats: agents=%d queues=%d statistics=%d stat_clients=%d spread=%s change_rate=%.0f "
           "ixn_rate=%.0f seconds=%u rounds=%d logins_per_s=%.0f",
           B.agents, B.queues, B.nstats, B.nclients, B.round_robin ? "round-robin" : "blocks",
           B.change_rate, B.ixn_rate, B.seconds, B.rounds,
           B.login_end_us > B.login_start_us
               ? B.agents / ((double)(B.login_end_us - B.login_start_us) / 1e6)
               : 0.0);
    print_num("cpu_us_per_change_without", without, 1);
    print_num("cpu_us_per_change_with", with, 1);
    print_num("stats_cost_ratio", with >= 0 && without > 0 ? with / without : -1, 2);
    printf(" round_ratios=");
    for (int m = 1; m < B.nfig; m += 2) {
        double a = cpu_per_change(&B.fig[m - 1], true);
        double b = m + 1 < B.nfig && B.fig_done[m + 1] ? cpu_per_change(&B.fig[m + 1], true) : a;
        double w = B.fig_done[m] ? cpu_per_change(&B.fig[m], true) : -1;
        if (a > 0 && b > 0 && w >= 0)
            printf("%s%.2f", m > 1 ? "," : "", w / ((a + b) / 2));
        else
            printf("%sna", m > 1 ? "," : "");
    }
    print_lat("push", &all);
    /* The shape of the tail: where the last 10 % and 5 % begin (all is sorted now). */
    printf(" push_p90_us=%u push_p95_us=%u", tool_percentile(all.v, all.n, 0.90),
           tool_percentile(all.v, all.n, 0.95));
    /* The toggle → status latency of the same phases: what the machine's load does to the
     * same hops without the statistics' last one. */
    lat_list st = {0};
    for (int m = 1; m < B.nfig; m += 2)
        for (size_t k = 0; k < B.status_lat[m].n; k++)
            lat_push(&st, B.status_lat[m].v[k]);
    print_lat("status_in_stats", &st);
    free(st.v);
    print_lat("push_state", &B.state_lat);
    print_lat("push_queue", &B.queue_lat);
    printf(" push_voided=%" PRIu64, B.push_voided);
    print_num("hist_rows_per_s", hist_rate(&B.fig[1]), 0);
    printf(" open_s=%.2f", B.open_s);
    printf(" open_errors=%" PRIu64 " bad_values=%" PRIu64 " errors=%" PRIu64 " ixn_errors=%" PRIu64
           " failed=%" PRIu64 " drops=%" PRIu64 "\n",
           B.open_errors, B.bad_values, B.errors, B.ixn_errors, B.failed, B.drops);
    fflush(stdout);
    free(all.v);
}

/* ---- the phases ---- */

static void finish(void);
static void set_phase(enum sb_phase p);

static void start_load(void)
{
    B.load_on = true;
    B.pace_last_us = cc_mono_us();
    B.change_budget = B.ixn_budget = 0;
}

static bool all_answered(void)
{
    uint64_t answers = 0;
    for (int i = 0; i < B.nclients; i++)
        answers += B.sclients[i].answers;
    return answers >= B.opened + B.closes_sent;
}

static bool all_values(void)
{
    for (int i = 0; i < B.nstats; i++)
        if (!B.stats[i].has_value)
            return false;
    return true;
}

static void set_phase(enum sb_phase p)
{
    B.phase = p;
    B.phase_start_us = cc_mono_us();
    switch (p) {
    case PH_WARM:
        fprintf(stderr, "statbench: load on: %.0f toggles/s, %.0f interactions/s\n", B.change_rate,
                B.ixn_rate);
        start_load();
        break;
    case PH_BASE:
        fig_end();
        B.measure_push = false;
        fig_begin();
        break;
    case PH_OPEN:
        fig_end();
        for (int i = 0; i < B.nstats; i++) {
            B.stats[i].has_value = false;
            send_open(i);
        }
        fprintf(stderr, "statbench: opening %d statistics on %d connections\n", B.nstats,
                B.nclients);
        break;
    case PH_STATS:
        fig_end();
        B.measure_push = true;
        fig_begin();
        break;
    case PH_CLOSE:
        B.measure_push = false;
        fig_end();
        for (int i = 0; i < B.nstats; i++)
            send_close(i);
        break;
    case PH_DRAIN:
        fig_end();
        B.load_on = false;
        break;
    default: break;
    }
}

static void on_phase_time(uint64_t in_phase)
{
    uint64_t secs_us = (uint64_t)B.seconds * 1000000u;
    switch (B.phase) {
    case PH_WARM:
        if (in_phase >= SB_WARM_S * 1000000u)
            set_phase(PH_BASE);
        break;
    case PH_BASE:
        /* After R rounds, the last base phase ends the measurements. */
        if (in_phase >= secs_us)
            set_phase(B.nfig >= 2 * B.rounds + 1 ? PH_DRAIN : B.nstats ? PH_OPEN : PH_STATS);
        break;
    case PH_OPEN:
        if (all_answered() && all_values()) {
            B.open_s = (double)in_phase / 1e6;
            fprintf(stderr, "statbench: %d statistics open in %.2f s (%" PRIu64 " refused)\n",
                    B.nstats, B.open_s, B.open_errors);
            set_phase(PH_SETTLE);
        } else if (in_phase > (uint64_t)SB_OPEN_TIMEOUT_S * 1000000u) {
            fprintf(stderr, "statbench: the statistics were not all open after %d s\n",
                    SB_OPEN_TIMEOUT_S);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_SETTLE:
        if (in_phase >= SB_SETTLE_S * 1000000u)
            set_phase(PH_STATS);
        break;
    case PH_STATS:
        if (in_phase >= secs_us)
            set_phase(B.nstats ? PH_CLOSE : PH_BASE);
        break;
    case PH_CLOSE:
        if (all_answered())
            set_phase(PH_BASE);
        else if (in_phase > (uint64_t)SB_OPEN_TIMEOUT_S * 1000000u) {
            fprintf(stderr, "statbench: the statistics were not all closed after %d s\n",
                    SB_OPEN_TIMEOUT_S);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_DRAIN:
        if ((B.in_flight == 0 && B.submitted == B.finished + B.failed) ||
            in_phase > SB_DRAIN_TIMEOUT_MS * 1000u)
            finish();
        break;
    default: break;
    }
}

/* ---- desktops ---- */

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

static void spawn_statserver(void);

static void start_more_logins(void)
{
    while (B.started < B.agents && B.in_login < SB_LOGIN_WINDOW) {
        desk *d = &B.desks[B.started++];
        B.in_login++;
        cc_client_start(d->client);
    }
}

static void on_desk_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    desk *d = cc_client_user(c);
    if (!d->logged_in)
        send_login(d);
}

static void slot_send(desk *d, desk_slot *sl, enum proto_ixn_req_kind kind, enum sb_step step)
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
    proto_ixn_invite inv;
    desk_slot *sl = NULL;
    for (int i = 0; i < SB_DESK_SLOTS && !sl; i++)
        if (d->slots[i].step == STEP_FREE)
            sl = &d->slots[i];
    if (proto_ixn_decode_invite(msg, &inv) != 0 || !sl ||
        strlen(inv.interaction_id) >= sizeof sl->id) {
        B.ixn_errors++;
        return;
    }
    snprintf(sl->id, sizeof sl->id, "%s", inv.interaction_id);
    slot_send(d, sl, PROTO_IXN_REQ_ACCEPT, STEP_ACCEPT);
}

static bool on_desk_slot_answer(desk *d, proto_msg *msg, bool ok)
{
    desk_slot *sl = NULL;
    for (int i = 0; i < SB_DESK_SLOTS; i++)
        if (d->slots[i].step != STEP_FREE && d->slots[i].ref == msg->ref)
            sl = &d->slots[i];
    if (!sl)
        return false;
    if (!ok) {
        B.ixn_errors++;
        sl->step = STEP_FREE;
        return true;
    }
    switch (sl->step) {
    case STEP_ACCEPT: slot_send(d, sl, PROTO_IXN_REQ_STOP, STEP_STOP); break;
    case STEP_STOP: {
        int64_t aw;
        (void)proto_ixn_decode_stopped(msg, &aw);
        if (aw > 0) {
            slot_send(d, sl, PROTO_IXN_REQ_COMPLETE, STEP_COMPLETE);
        } else {
            sl->step = STEP_FREE;
            B.finished++;
        }
        break;
    }
    case STEP_COMPLETE:
        sl->step = STEP_FREE;
        B.finished++;
        break;
    case STEP_FREE: break;
    }
    return true;
}

static void all_logged_in(void)
{
    B.login_end_us = cc_mono_us();
    fprintf(stderr, "statbench: agents=%d logged in in %.2f s\n", B.agents,
            (double)(B.login_end_us - B.login_start_us) / 1e6);
    set_phase(PH_SNAPSHOT);
    spawn_statserver();
}

static void change_done(desk *d, bool measured)
{
    if (measured && B.mphase >= 0)
        lat_push(&B.status_lat[B.mphase], cc_mono_us() - d->sent_us);
    d->pending = false;
    B.in_flight--;
    B.toggles_done++;
}

static void on_desk_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    desk *d = cc_client_user(c);
    if (strcmp(msg->name, "EventCurrentAgentStatus") == 0) {
        int r = status_ready(msg);
        B.statuses++;
        if (r >= 0)
            d->status_ready = r == 1;
        if (d->pending && r >= 0 && (r == 1) == d->want_ready) {
            if (d->change_ref != 0)
                d->change_ref = -d->change_ref;
            change_done(d, true);
        }
        if (!d->have_status) {
            d->have_status = true;
            if (++B.statuses_first == B.agents)
                B.first_statuses_us = cc_mono_us();
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
    if (d->login_ref && msg->ref == d->login_ref) {
        d->login_ref = 0;
        if (!ack) {
            proto_error e;
            (void)proto_decode_error(msg, &e);
            fprintf(stderr, "statbench: login of agent %d refused: code %" PRId64 "\n",
                    d->index + 1, e.code);
            B.exit_code = 1;
            finish();
            return;
        }
        d->logged_in = true;
        B.logged_in++;
        B.in_login--;
        if (B.phase == PH_LOGIN) {
            if (B.logged_in == B.agents)
                all_logged_in();
            else
                start_more_logins();
        }
        return;
    }
    if (d->change_ref && (msg->ref == d->change_ref || msg->ref == -d->change_ref)) {
        bool done = d->change_ref < 0;
        d->change_ref = 0;
        if (err) {
            B.errors++;
            d->arm = 0;
            if (!done)
                change_done(d, false);
        }
    }
}

static void on_desk_down(cc_client *c, const char *why)
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
    d->login_ref = d->change_ref = 0;
    d->arm = 0;
    memset(d->slots, 0, sizeof d->slots);
    if (d->pending) {
        d->pending = false;
        B.in_flight--;
    }
}

static const cc_client_ops desk_ops = {
    .on_registered = on_desk_registered,
    .on_message = on_desk_message,
    .on_down = on_desk_down,
};

/* ---- the load ---- */

/* With STATBENCH_PUSH_DUMP=FILE in the environment, each timed push is written there as
 * "KIND SENT_US LATENCY_US" (monotonic microseconds; s a State, q a queue's Entered), to
 * find out when the slow ones happen. */
static void dump_push(char kind, uint64_t sent_us, uint64_t now)
{
    static FILE *f;
    static bool tried;
    if (!tried) {
        tried = true;
        const char *path = getenv("STATBENCH_PUSH_DUMP");
        if (path && *path)
            f = fopen(path, "w");
    }
    if (f)
        fprintf(f, "%c %" PRIu64 " %" PRIu64 "\n", kind, sent_us, now - sent_us);
}

static void lat_push(lat_list *l, uint64_t us)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* True when the statistic's last value came long enough ago for its next to go out at
 * once (see SB_QUIET_US). */
static bool quiet(int si, uint64_t now)
{
    if (si < 0 || !B.measure_push)
        return false;
    const sb_stat *st = &B.stats[si];
    return st->has_value && now - st->last_rx_us >= SB_QUIET_US;
}

/* One readiness toggle for the next agent in turn with none in flight. */
static bool toggle_one(uint64_t now)
{
    for (int scanned = 0; scanned < B.agents; scanned++) {
        desk *d = &B.desks[B.cursor];
        B.cursor = (B.cursor + 1) % B.agents;
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
        int64_t ref = cc_client_request(d->client, &b);
        cc_buf_free(&b);
        if (ref <= 0)
            continue;
        d->change_ref = ref;
        d->sent_us = now;
        d->pending = true;
        d->want_ready = !d->status_ready;
        B.in_flight++;
        if (!d->arm && quiet(B.agent_state[d->index], now)) {
            d->arm = d->want_ready ? 2 : 1;
            d->arm_us = now;
        }
        return true;
    }
    return false;
}

/* One RequestSubmit to the next queue in turn, on the next media connection that is up. */
static bool submit_one(uint64_t now)
{
    for (int tries = 0; tries < SB_MEDIA_CONNS; tries++) {
        media_conn *m = &B.mconns[B.mconn_next];
        B.mconn_next = (B.mconn_next + 1) % SB_MEDIA_CONNS;
        if (!cc_client_is_up(m->client))
            continue;
        uint64_t q = B.next_queue % (uint64_t)B.queues;
        char qname[PROTO_ID_MAX + 1];
        queue_name(qname, sizeof qname, q);
        cc_buf b;
        cc_buf_init(&b);
        proto_ixn_enc_submit(
            &b, &(proto_ixn_submit){.tenant = B.tenant, .media = B.media, .queue = qname});
        int64_t ref = cc_client_request(m->client, &b);
        cc_buf_free(&b);
        if (ref <= 0)
            continue;
        B.next_queue++;
        m->in_flight++;
        B.submitted++;
        queue_arm *qa = &B.qarm[q];
        int si = B.queue_entered[q];
        if (!qa->armed && quiet(si, now)) {
            qa->armed = true;
            qa->at_us = now;
            qa->base = B.stats[si].last_v;
        }
        return true;
    }
    return false;
}

static void pace(void);

/* The 1 ms pacing timer: its time is a section of the turn watch. */
static void on_pace(uv_timer_t *t)
{
    (void)t;
    uint64_t t0 = cc_turnw_begin();
    pace();
    cc_turnw_end("pace", t0);
}

static void pace(void)
{
    if (!B.load_on || B.stopping)
        return;
    uint64_t now = cc_mono_us();
    double dt = (double)(now - B.pace_last_us) / 1e6;
    B.pace_last_us = now;
    B.change_budget += B.change_rate * dt;
    B.ixn_budget += B.ixn_rate * dt;
    if (B.change_budget > B.change_rate * SB_BUDGET_MAX_S + 1)
        B.change_budget = B.change_rate * SB_BUDGET_MAX_S + 1;
    if (B.ixn_budget > B.ixn_rate * SB_BUDGET_MAX_S + 1)
        B.ixn_budget = B.ixn_rate * SB_BUDGET_MAX_S + 1;
    while (B.change_budget >= 1 && B.in_flight < SB_MAX_CHANGES_IN_FLIGHT && toggle_one(now))
        B.change_budget -= 1;
    while (B.ixn_budget >= 1 && B.submitted - B.finished - B.failed < SB_MAX_UNFINISHED &&
           submit_one(now))
        B.ixn_budget -= 1;
}

static void on_media_registered(cc_client *c, proto_msg *ack)
{
    (void)c;
    (void)ack;
    B.mconns_up++;
}

static void on_media_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    media_conn *m = cc_client_user(c);
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if ((!ack && !err) || m->in_flight == 0)
        return;
    m->in_flight--;
    if (ack) {
        B.acked++;
        return;
    }
    B.failed++;
    if (B.ixn_errors++ < 10) {
        proto_error e;
        (void)proto_decode_error(msg, &e);
        fprintf(stderr, "statbench: submit refused: %s\n", e.description ? e.description : "?");
    }
}

static void on_media_down(cc_client *c, const char *why)
{
    media_conn *m = cc_client_user(c);
    if (B.stopping)
        return;
    if (B.mconns_up > 0)
        B.mconns_up--;
    fprintf(stderr, "statbench: media connection down: %s (%u submits lost)\n", why, m->in_flight);
    B.failed += m->in_flight;
    m->in_flight = 0;
}

static const cc_client_ops media_ops = {
    .on_registered = on_media_registered,
    .on_message = on_media_message,
    .on_down = on_media_down,
};

/* ---- StatClients ---- */

static void on_value(proto_msg *msg, uint64_t now)
{
    proto_sts_event ev;
    if (proto_sts_decode_event(msg, &ev) != 0 || ev.statistic_id < 1 ||
        ev.statistic_id > B.nstats) {
        B.bad_values++;
        return;
    }
    B.values++;
    sb_stat *st = &B.stats[ev.statistic_id - 1];
    const stat_def *def = st->def;
    if (def == &STATE_DEF) {
        desk *d = &B.desks[st->obj];
        if (d->arm) {
            bool state = ev.value.type == PROTO_STS_STATE;
            bool nr = state && ev.value.state == PROTO_STS_NOT_READY;
            bool match = d->arm == 1 ? nr : state && !nr && ev.value.state != PROTO_STS_LOGGED_OUT;
            /* Another value in between (an interaction's) means the change may have waited
             * for the 100 ms: not timed. */
            if (match) {
                lat_push(&B.state_lat, now - d->arm_us);
                dump_push('s', d->arm_us, now);
            } else
                B.push_voided++;
            d->arm = 0;
        }
    } else if (def == &QUEUE_DEFS[SB_QUEUE_ENTERED]) {
        queue_arm *qa = &B.qarm[st->obj];
        if (qa->armed) {
            if (ev.value.type == PROTO_STS_INT && ev.value.v > qa->base) {
                lat_push(&B.queue_lat, now - qa->at_us);
                dump_push('q', qa->at_us, now);
            } else
                B.push_voided++;
            qa->armed = false;
        }
    }
    if (ev.value.type == PROTO_STS_INT)
        st->last_v = ev.value.v;
    st->has_value = true;
    st->last_rx_us = now;
}

static void on_sc_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    stat_client *sc = cc_client_user(c);
    sc->up = true;
    B.sclients_up++;
}

static void on_sc_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    stat_client *sc = cc_client_user(c);
    uint64_t now = cc_mono_us();
    if (strcmp(msg->name, "EventStatisticValue") == 0) {
        uint64_t t0 = cc_turnw_begin();
        on_value(msg, now);
        cc_turnw_end("value", t0);
        return;
    }
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if (!ack && !err)
        return;
    sc->answers++;
    if (err && B.open_errors++ < 10) {
        proto_error e;
        (void)proto_decode_error(msg, &e);
        fprintf(stderr, "statbench: statistic request refused: code %" PRId64 " %s\n", e.code,
                e.description ? e.description : "?");
    }
}

static void on_sc_down(cc_client *c, const char *why)
{
    stat_client *sc = cc_client_user(c);
    if (B.stopping)
        return;
    sc->up = false;
    fprintf(stderr, "statbench: StatClient connection lost: %s\n", why);
    B.exit_code = 1;
    finish();
}

static const cc_client_ops sc_ops = {
    .on_registered = on_sc_registered,
    .on_message = on_sc_message,
    .on_down = on_sc_down,
};

/* ---- the statserver ---- */

static void on_stat_exit(uv_process_t *p, int64_t status, int sig)
{
    B.stat_running = false;
    if (!B.stopping) {
        fprintf(stderr, "statbench: statserver exited early: status %" PRId64 " signal %d\n",
                status, sig);
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
        fprintf(stderr, "statbench: statserver pid=%d ignored SIGTERM, killing it\n", B.stat_pid);
        uv_process_kill(&B.stat_proc, SIGKILL);
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
    unlink(B.stat_port_file);
    B.stat_start_us = cc_mono_us();
    int rc = uv_spawn(&B.loop, &B.stat_proc, &po);
    if (logfd >= 0)
        close(logfd);
    if (rc != 0) {
        fprintf(stderr, "statbench: cannot start %s: %s\n", B.stat_bin, uv_strerror(rc));
        uv_close((uv_handle_t *)&B.stat_proc, NULL);
        B.exit_code = 1;
        finish();
        return;
    }
    B.stat_running = true;
    B.stat_pid = B.stat_proc.pid;
    fprintf(stderr, "statbench: statserver started pid=%d\n", B.stat_pid);
}

/* The statserver's port from its port file ("tcp=PORT"), 0 while there is none. */
static int read_stat_port(void)
{
    FILE *f = fopen(B.stat_port_file, "r");
    if (!f)
        return 0;
    char line[64];
    int port = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "tcp=%d", &port) == 1)
            break;
    fclose(f);
    return port > 0 && port < 65536 ? port : 0;
}

/* The snapshot is in and the StatClient port known: the media and StatClient connections
 * register. */
static void start_connections(void)
{
    fprintf(stderr, "statbench: every desktop has its status %.2f s after the statserver's start\n",
            (double)(B.first_statuses_us - B.stat_start_us) / 1e6);
    set_phase(PH_CONNECT);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", B.stat_port);
    B.sclients = xcalloc((size_t)B.nclients, sizeof *B.sclients);
    for (int i = 0; i < B.nclients; i++) {
        char name[48];
        snprintf(name, sizeof name, "statbench-%d", i + 1);
        cc_client_config cfg = {
            .address = addr,
            .client_type = "StatClient",
            .client_name = name,
            .token = B.stat_token,
        };
        B.sclients[i].client = cc_client_new(&B.net, &cfg, &sc_ops, &B.sclients[i]);
        cc_client_start(B.sclients[i].client);
    }
    for (int i = 0; i < SB_MEDIA_CONNS; i++)
        cc_client_start(B.mconns[i].client);
}

static void finish(void)
{
    if (B.stopping)
        return;
    fig_end();
    B.stopping = true;
    B.load_on = false;
    B.phase = PH_DONE;
    if (!B.printed) {
        B.printed = true;
        for (int m = 0; m < M_COUNT; m++)
            if (B.fig_done[m])
                print_phase(m);
        print_summary();
    }
    if (B.stat_running) {
        uv_process_kill(&B.stat_proc, SIGTERM);
        uv_timer_start(&B.kill_timer, on_kill_timer, 5000, 0);
    } else {
        uv_close((uv_handle_t *)&B.kill_timer, NULL);
    }
    for (int i = 0; i < B.agents; i++)
        cc_client_free(B.desks[i].client);
    for (int i = 0; i < SB_MEDIA_CONNS; i++)
        cc_client_free(B.mconns[i].client);
    for (int i = 0; B.sclients && i < B.nclients; i++)
        cc_client_free(B.sclients[i].client);
    tool_close((uv_handle_t *)&B.tick);
    tool_close((uv_handle_t *)&B.pace);
    tool_signals_close(&B.sig);
    tool_close_net_later(&B.drain, &B.loop, &B.net);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    cc_heap_huge_pages_refresh();
    uint64_t now = cc_mono_us();
    uint64_t in_phase = now - B.phase_start_us;
    hist_sample(now);
    switch (B.phase) {
    case PH_LOGIN:
        if (in_phase > (uint64_t)SB_LOGIN_TIMEOUT_S * 1000000u) {
            fprintf(stderr, "statbench: only %d of %d agents logged in after %d s\n", B.logged_in,
                    B.agents, SB_LOGIN_TIMEOUT_S);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_SNAPSHOT:
        if (!B.stat_port)
            B.stat_port = read_stat_port();
        if (B.stat_port && B.statuses_first == B.agents) {
            start_connections();
        } else if (in_phase > (uint64_t)SB_SNAPSHOT_TIMEOUT_S * 1000000u) {
            fprintf(stderr,
                    "statbench: %d of %d desktops got a status and the port is %s after %d s\n",
                    B.statuses_first, B.agents, B.stat_port ? "known" : "unknown",
                    SB_SNAPSHOT_TIMEOUT_S);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_CONNECT:
        if (B.sclients_up == B.nclients && B.mconns_up == SB_MEDIA_CONNS) {
            set_phase(PH_WARM);
        } else if (in_phase > (uint64_t)SB_CONNECT_TIMEOUT_S * 1000000u) {
            fprintf(stderr, "statbench: %d of %d StatClients and %d of %d media connections up\n",
                    B.sclients_up, B.nclients, B.mconns_up, SB_MEDIA_CONNS);
            B.exit_code = 1;
            finish();
        }
        break;
    case PH_DONE: break;
    default: on_phase_time(in_phase); break;
    }
}

static void on_signal(tool_signals *s, int signum)
{
    (void)s;
    fprintf(stderr, "statbench: signal %d, stopping\n", signum);
    B.exit_code = 1;
    finish();
}

int main(int argc, char **argv)
{
    cc_log_init("statbench", CC_LOG_WARN);
    if (!parse_args(argc, argv))
        return 2;
    tool_raise_nofile("statbench", (uint64_t)B.agents + (uint64_t)B.nclients + 256);
    tool_loop_init(&B.loop, &B.net);
    build_mix();
    B.mphase = -1;
    B.hseq_prev = -1;
    B.desks = xcalloc((size_t)B.agents, sizeof *B.desks);
    for (int i = 0; i < B.agents; i++) {
        desk *d = &B.desks[i];
        d->index = i;
        char name[48];
        snprintf(name, sizeof name, "statbench-desk-%d", i + 1);
        cc_client_config cfg = {
            .address = B.ixn_addr,
            .client_type = "AgentApplication",
            .client_name = name,
            .token = B.token,
            .reconnect = true,
        };
        d->client = cc_client_new(&B.net, &cfg, &desk_ops, d);
    }
    for (int i = 0; i < SB_MEDIA_CONNS; i++) {
        char name[48];
        snprintf(name, sizeof name, "statbench-media-%d", i + 1);
        cc_client_config cfg = {
            .address = B.ixn_addr,
            .client_type = "MediaServer",
            .client_name = name,
            .token = B.media_token,
            .reconnect = true,
        };
        B.mconns[i].client = cc_client_new(&B.net, &cfg, &media_ops, &B.mconns[i]);
    }
    B.phase = PH_LOGIN;
    B.login_start_us = B.phase_start_us = cc_mono_us();
    start_more_logins();
    uv_timer_init(&B.loop, &B.kill_timer);
    uv_timer_init(&B.loop, &B.tick);
    uv_timer_start(&B.tick, on_tick, SB_TICK_MS, SB_TICK_MS);
    uv_timer_init(&B.loop, &B.pace);
    uv_timer_start(&B.pace, on_pace, SB_PACE_MS, SB_PACE_MS);
    tool_signals_start(&B.sig, &B.loop, on_signal);
    cc_turnw_start(&B.loop, "statbench", 0);
    /* As the daemons do: the measuring end should not stall where they do not. */
    cc_heap_huge_pages_start();
    uv_run(&B.loop, UV_RUN_DEFAULT);
    if (B.stat_running)
        kill(B.stat_pid, SIGKILL);
    uv_loop_close(&B.loop);
    explicit_bzero(B.password, sizeof B.password);
    sqlite3_finalize(B.hst);
    sqlite3_close(B.hdb);
    free(B.desks);
    free(B.sclients);
    free(B.stats);
    free(B.agent_state);
    free(B.queue_entered);
    free(B.qarm);
    free(B.state_lat.v);
    free(B.queue_lat.v);
    for (int m = 0; m < M_COUNT; m++)
        free(B.status_lat[m].v);
    return B.exit_code;
}

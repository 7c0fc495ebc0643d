/* wallboard: a terminal live summary for the demo. It registers as a StatClient on the
 * statserver's port, subscribes to every agent status, keeps each agent's newest one and
 * prints, every interval, per media how many agents are ready and not ready, the current
 * and maximum capacity, what is available and how many agents are busy or full, the DND
 * and logged-in counts, and the interaction servers the statserver is connected to.
 *
 * Queue numbers come from the statserver's statistics (RequestOpenStatistic, notify
 * changes: Waiting, OldestWait, and over the day ServiceLevel, AverageSpeedOfAnswer and
 * Abandoned), pushed as they change. Which queues: those named with --queue
 * SERVER/TENANT/QUEUE, and those of each --ixn HOST:PORT, where the wallboard registers
 * as a MediaServer (token --ixn-token) and asks RequestQueueStatus once per connection for
 * the list only (names and media), not for the numbers. */
#include <getopt.h>
#include <inttypes.h>
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
#include "common/map.h"
#include "common/media.h"
#include "net/client.h"
#include "net/conn.h"
#include "proto/ixnmsg.h"
#include "proto/msg.h"
#include "proto/statistic.h"
#include "proto/statmsg.h"
#include "lib/tool.h"

/* The wallboard keeps at most this many agents, so a runaway server cannot exhaust it. */
#define WB_MAX_AGENTS 1000000
/* At most this many servers are shown from a RequestServerList answer. */
#define WB_MAX_SERVERS 32
#define WB_ONCE_TIMEOUT_MS 10000
/* Interaction servers whose queue lists are asked for, and queues shown in all. */
#define WB_MAX_IXN 8
#define WB_MAX_QUEUES 256

/* The statistics of a queue row, in column order. */
static const enum proto_sts_stat wb_stats[] = {PROTO_STS_Q_WAITING, PROTO_STS_Q_OLDEST_WAIT,
                                               PROTO_STS_Q_SERVICE_LEVEL, PROTO_STS_Q_ASA,
                                               PROTO_STS_Q_ABANDONED};
#define WB_NSTATS ((int)(sizeof wb_stats / sizeof wb_stats[0]))

/* One queue shown. Its statistic k has statisticId index * WB_NSTATS + k + 1 on every
 * connection to the statserver, so a value finds its cell without a lookup. */
typedef struct wb_queue {
    char server[PROTO_ID_MAX + 1];
    char tenant[PROTO_ID_MAX + 1];
    char queue[PROTO_ID_MAX + 1];
    char media[CC_MEDIA_NAME_MAX + 1]; /* "" when not known (--queue) */
    bool opened;                       /* its statistics are open on the current connection */
    bool known[WB_NSTATS];             /* a value (or a refusal) came since they were opened */
    int64_t refs[WB_NSTATS];           /* referenceId of each RequestOpenStatistic */
    proto_sts_value values[WB_NSTATS];
} wb_queue;

/* One interaction server asked for its queues. */
typedef struct wb_ixn {
    const char *address;
    const char *token;
    cc_client *client;
    char name[PROTO_ID_MAX + 1];
    int64_t ref;   /* the RequestQueueStatus in flight, 0 when none */
    bool answered; /* an answer (or a refusal) came since the link came up */
    bool listed;   /* its queue list came once */
    bool unsupported;
} wb_ixn;

typedef struct wb_agent {
    bool dnd;
    cc_media_mask media;
    cc_media_mask ready;
    uint32_t current[CC_MEDIA_MAX];
    uint32_t max[CC_MEDIA_MAX];
    uint32_t available[CC_MEDIA_MAX];
} wb_agent;

typedef struct wb_server {
    char name[PROTO_ID_MAX + 1];
    char address[80];
    bool connected;
    int64_t agents;
} wb_server;

typedef struct wb {
    uv_loop_t loop;
    cc_net net;
    cc_client *client;
    uv_timer_t timer;
    uv_timer_t once_timer;
    tool_signals sig;
    const char *address;
    const char *token;
    const char *client_name;     /* --client-name: the clientName of the StatClient */
    const char *ixn_client_name; /* --ixn-client-name: that of each MediaServer link */
    tool_tls tls;                /* --tls, --tls-ca, --tls-cert, --tls-key */
    const char *tenant;
    bool once;
    unsigned interval_s;
    bool tty;
    cc_media_table media;
    cc_map agents; /* "tenant/agentId" -> wb_agent */
    bool snapshot_done;
    bool servers_known;
    int64_t list_ref;
    wb_server servers[WB_MAX_SERVERS];
    int server_count;
    uint64_t statuses;
    uint64_t dropped;
    char link[64];
    bool printed_once;
    bool stopping;
    int exit_code;
    tool_drain drain;
    wb_ixn ixns[WB_MAX_IXN];
    int ixn_count;
    const char *ixn_tokens[WB_MAX_IXN];
    int ixn_token_count;
    wb_queue queues[WB_MAX_QUEUES];
    int queue_count;
    int stats_pending; /* statistics opened whose first value (or refusal) has not come */
} wb;

static wb W;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wallboard --server HOST:PORT --token T [--client-name NAME] [--tenant T]\n"
            "                 [--once] [--interval S] [--queue SERVER/TENANT/QUEUE]...\n"
            "                 [--ixn HOST:PORT [--ixn-token T]]... [--ixn-client-name NAME]\n"
            "  --client-name      the clientName registered with (default wallboard): a\n"
            "                     [clients] entry's NAME, whose secret is --token\n"
            "  --queue            a queue whose statistics are shown (repeatable)\n"
            "  --ixn              an interaction server whose queues are all shown (repeatable)\n"
            "  --ixn-token        its MediaServer token: once for all, or once per --ixn\n"
            "  --ixn-client-name  the clientName on the --ixn servers (default wallboard)\n");
    fputs(TOOL_TLS_USAGE, f);
}

/* The queue with these names, added when new and there is room; NULL otherwise. */
static wb_queue *queue_add(const char *server, const char *tenant, const char *queue,
                           const char *media)
{
    for (int i = 0; i < W.queue_count; i++) {
        wb_queue *q = &W.queues[i];
        if (!strcmp(q->server, server) && !strcmp(q->tenant, tenant) && !strcmp(q->queue, queue)) {
            if (media && !q->media[0])
                snprintf(q->media, sizeof q->media, "%s", media);
            return NULL;
        }
    }
    if (W.queue_count == WB_MAX_QUEUES) {
        LOG_WARN("event=too_many_queues max=%d queue=%s/%s/%s", WB_MAX_QUEUES, server, tenant,
                 queue);
        return NULL;
    }
    wb_queue *q = &W.queues[W.queue_count++];
    memset(q, 0, sizeof *q);
    snprintf(q->server, sizeof q->server, "%s", server);
    snprintf(q->tenant, sizeof q->tenant, "%s", tenant);
    snprintf(q->queue, sizeof q->queue, "%s", queue);
    snprintf(q->media, sizeof q->media, "%s", media ? media : "");
    return q;
}

/* --queue SERVER/TENANT/QUEUE: three non-empty parts of at most PROTO_ID_MAX bytes. */
static bool add_queue_arg(const char *arg)
{
    char parts[3][PROTO_ID_MAX + 1];
    const char *p = arg;
    for (int k = 0; k < 3; k++) {
        const char *end = k < 2 ? strchr(p, '/') : p + strlen(p);
        if (!end || end == p || (size_t)(end - p) > PROTO_ID_MAX || (k == 2 && strchr(p, '/'))) {
            fprintf(stderr, "wallboard: --queue wants SERVER/TENANT/QUEUE (each 1..%d bytes)\n",
                    PROTO_ID_MAX);
            return false;
        }
        memcpy(parts[k], p, (size_t)(end - p));
        parts[k][end - p] = '\0';
        p = end + 1;
    }
    if (W.queue_count == WB_MAX_QUEUES) {
        fprintf(stderr, "wallboard: at most %d queues\n", WB_MAX_QUEUES);
        return false;
    }
    queue_add(parts[0], parts[1], parts[2], NULL);
    return true;
}

static bool parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"token", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"once", no_argument, NULL, 'o'},
        {"interval", required_argument, NULL, 'i'},
        {"ixn", required_argument, NULL, 'x'},
        {"ixn-token", required_argument, NULL, 'X'},
        {"queue", required_argument, NULL, 'q'},
        {"client-name", required_argument, NULL, 'n'},
        {"ixn-client-name", required_argument, NULL, 'N'},
        TOOL_TLS_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    W.token = "";
    W.client_name = "wallboard";
    W.ixn_client_name = "wallboard";
    W.interval_s = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': W.address = optarg; break;
        case 'k': W.token = optarg; break;
        case 'n': W.client_name = optarg; break;
        case 'N': W.ixn_client_name = optarg; break;
        case 't': W.tenant = optarg; break;
        case 'o': W.once = true; break;
        case 'i': W.interval_s = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'x':
            if (W.ixn_count == WB_MAX_IXN) {
                fprintf(stderr, "wallboard: at most %d --ixn\n", WB_MAX_IXN);
                return false;
            }
            W.ixns[W.ixn_count++].address = optarg;
            break;
        case 'X':
            if (W.ixn_token_count == WB_MAX_IXN) {
                fprintf(stderr, "wallboard: at most %d --ixn-token\n", WB_MAX_IXN);
                return false;
            }
            W.ixn_tokens[W.ixn_token_count++] = optarg;
            break;
        case 'q':
            if (!add_queue_arg(optarg))
                return false;
            break;
        case 'h': usage(stdout); exit(0);
        default:
            if (tool_tls_opt(&W.tls, c, optarg))
                break;
            usage(stderr);
            return false;
        }
    }
    if (!W.address) {
        usage(stderr);
        return false;
    }
    if (W.tenant && (!*W.tenant || strlen(W.tenant) > PROTO_ID_MAX)) {
        fprintf(stderr, "wallboard: --tenant must be 1..%d bytes\n", PROTO_ID_MAX);
        return false;
    }
    if (!*W.client_name || strlen(W.client_name) > PROTO_ID_MAX || !*W.ixn_client_name ||
        strlen(W.ixn_client_name) > PROTO_ID_MAX) {
        fprintf(stderr, "wallboard: --client-name and --ixn-client-name must be 1..%d bytes\n",
                PROTO_ID_MAX);
        return false;
    }
    if (W.interval_s == 0 || W.interval_s > 3600)
        W.interval_s = 2;
    if (W.ixn_token_count > 1 && W.ixn_token_count != W.ixn_count) {
        fprintf(stderr, "wallboard: give --ixn-token once, or once per --ixn\n");
        return false;
    }
    for (int i = 0; i < W.ixn_count; i++)
        W.ixns[i].token = W.ixn_token_count == 0   ? ""
                          : W.ixn_token_count == 1 ? W.ixn_tokens[0]
                                                   : W.ixn_tokens[i];
    return true;
}

static void clear_agents(void)
{
    size_t pos = 0;
    cc_map_slot *s;
    while ((s = cc_map_next(&W.agents, &pos)) != NULL)
        free(s->value);
    cc_map_free(&W.agents);
    cc_map_init(&W.agents);
}

/* A statistic's value as the board prints it: counts as they are, seconds and percents
 * with one decimal, "-" for null, "?" before the first value. */
static void value_text(const wb_queue *q, int k, char *buf, size_t cap)
{
    const proto_sts_value *v = &q->values[k];
    if (!q->known[k])
        snprintf(buf, cap, "?");
    else if (v->type == PROTO_STS_NULL)
        snprintf(buf, cap, "-");
    else if (v->type == PROTO_STS_INT && wb_stats[k] == PROTO_STS_Q_WAITING)
        snprintf(buf, cap, "%" PRId64, v->v);
    else if (v->type == PROTO_STS_INT && wb_stats[k] == PROTO_STS_Q_ABANDONED)
        snprintf(buf, cap, "%" PRId64, v->v);
    else if (v->type == PROTO_STS_INT)
        snprintf(buf, cap, "%.1f", (double)v->v);
    else if (v->type == PROTO_STS_MILLI)
        snprintf(buf, cap, "%.1f", (double)v->v / 1000.0);
    else
        snprintf(buf, cap, "?");
}

static void print_board(void)
{
    uint32_t ready[CC_MEDIA_MAX] = {0}, notready[CC_MEDIA_MAX] = {0};
    uint64_t cur[CC_MEDIA_MAX] = {0}, max[CC_MEDIA_MAX] = {0}, avail[CC_MEDIA_MAX] = {0};
    uint32_t busy[CC_MEDIA_MAX] = {0}, full[CC_MEDIA_MAX] = {0};
    size_t dnd = 0, logged_in = 0;
    size_t pos = 0;
    cc_map_slot *s;
    while ((s = cc_map_next(&W.agents, &pos)) != NULL) {
        const wb_agent *a = s->value;
        logged_in++;
        if (a->dnd)
            dnd++;
        for (int m = 0; m < W.media.count; m++) {
            if (!(a->media & ((cc_media_mask)1 << m)))
                continue;
            if (a->ready & ((cc_media_mask)1 << m))
                ready[m]++;
            else
                notready[m]++;
            cur[m] += a->current[m];
            max[m] += a->max[m];
            avail[m] += a->available[m];
            /* Busy: holds some of m; full: holds some and may take no more of it. */
            if (a->current[m] > 0) {
                busy[m]++;
                if (a->available[m] == 0)
                    full[m]++;
            }
        }
    }
    cc_buf b;
    cc_buf_init(&b);
    if (W.tty)
        cc_buf_puts(&b, "\033[H\033[2J");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    cc_buf_printf(&b, "wallboard %02d:%02d:%02d statserver=%s link=%s%s%s statuses=%" PRIu64 "\n",
                  tm.tm_hour, tm.tm_min, tm.tm_sec, W.address, W.link, W.tenant ? " tenant=" : "",
                  W.tenant ? W.tenant : "", W.statuses);
    cc_buf_printf(&b, "logged_in=%zu dnd=%zu%s\n", logged_in, dnd,
                  W.snapshot_done ? "" : " (snapshot in progress)");
    cc_buf_printf(&b, "%-10s %7s %9s %9s %9s %6s %6s\n", "media", "ready", "notready", "cur/max",
                  "available", "busy", "full");
    /* Media in name order, so the rows stay put whatever order statuses named them in. */
    int order[CC_MEDIA_MAX];
    for (int i = 0; i < W.media.count; i++) {
        int j = i;
        while (j > 0 &&
               strcmp(cc_media_name(&W.media, order[j - 1]), cc_media_name(&W.media, i)) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int i = 0; i < W.media.count; i++) {
        int m = order[i];
        char cm[48];
        snprintf(cm, sizeof cm, "%" PRIu64 "/%" PRIu64, cur[m], max[m]);
        cc_buf_printf(&b, "%-10s %7u %9u %9s %9" PRIu64 " %6u %6u\n", cc_media_name(&W.media, m),
                      ready[m], notready[m], cm, avail[m], busy[m], full[m]);
    }
    if (W.queue_count > 0 || W.ixn_count > 0)
        cc_buf_printf(&b, "%-34s %-8s %7s %9s %7s %7s %9s\n", "queue", "media", "waiting",
                      "oldest_s", "sl_pct", "asa_s", "abandoned");
    for (int i = 0; i < W.queue_count; i++) {
        const wb_queue *q = &W.queues[i];
        if (W.tenant && strcmp(W.tenant, q->tenant) != 0)
            continue;
        char qn[3 * PROTO_ID_MAX + 4];
        snprintf(qn, sizeof qn, "%s/%s/%s", q->server, q->tenant, q->queue);
        char cells[WB_NSTATS][32];
        for (int k = 0; k < WB_NSTATS; k++)
            value_text(q, k, cells[k], sizeof cells[k]);
        cc_buf_printf(&b, "%-34s %-8s %7s %9s %7s %7s %9s\n", qn, q->media[0] ? q->media : "-",
                      cells[0], cells[1], cells[2], cells[3], cells[4]);
    }
    for (int i = 0; i < W.ixn_count; i++) {
        const wb_ixn *x = &W.ixns[i];
        const char *name = x->name[0] ? x->name : x->address;
        if (x->listed)
            continue;
        if (!x->client || !cc_client_is_up(x->client))
            cc_buf_printf(&b, "ixn %s: link down, queue list not known yet\n", name);
        else if (x->unsupported)
            cc_buf_printf(&b, "ixn %s: no RequestQueueStatus on this server: no queue list\n",
                          name);
    }
    if (W.servers_known) {
        for (int i = 0; i < W.server_count; i++)
            cc_buf_printf(&b, "server %-12s %-22s %-12s agents=%" PRId64 "\n", W.servers[i].name,
                          W.servers[i].address,
                          W.servers[i].connected ? "connected" : "DISCONNECTED",
                          W.servers[i].agents);
    }
    if (!W.tty)
        cc_buf_puts(&b, "--\n");
    fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    cc_buf_free(&b);
    W.printed_once = true;
}

static void request_server_list(void)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_stat_enc_server_list(&b);
    W.list_ref = cc_client_request(W.client, &b);
    cc_buf_free(&b);
}

static void request_queue_status(wb_ixn *x)
{
    if (!x->client || !cc_client_is_up(x->client) || x->ref != 0 || x->unsupported)
        return;
    cc_buf b;
    cc_buf_init(&b);
    proto_ixn_enc_queue_status(&b);
    x->ref = cc_client_request(x->client, &b);
    cc_buf_free(&b);
}

static void open_queue(int qi);

/* The queue list of an interaction server: every queue is added (once) and its
 * statistics opened; the numbers of the list are not used. */
static void take_queue_status(wb_ixn *x, proto_msg *msg)
{
    size_t count;
    if (proto_ixn_decode_queues(msg, &count) != 0)
        return;
    x->listed = true;
    for (size_t i = 0; i < count; i++) {
        proto_ixn_queue_row row;
        if (proto_ixn_decode_queue_row(msg, i, &row) != 0)
            continue;
        if (queue_add(x->name, row.tenant, row.queue, row.media))
            open_queue(W.queue_count - 1);
    }
}

/* Opens queue qi's statistics on the statserver, when it is up and they are not open. */
static void open_queue(int qi)
{
    wb_queue *q = &W.queues[qi];
    if (q->opened || !W.client || !cc_client_is_up(W.client))
        return;
    if (W.tenant && strcmp(W.tenant, q->tenant) != 0)
        return;
    q->opened = true;
    for (int k = 0; k < WB_NSTATS; k++) {
        proto_sts_open o = {.statistic_id = (int64_t)qi * WB_NSTATS + k + 1,
                            .type = PROTO_STS_QUEUE,
                            .server = q->server,
                            .tenant = q->tenant,
                            .id = q->queue,
                            .statistic = wb_stats[k],
                            .threshold_s = -1};
        cc_buf b;
        cc_buf_init(&b);
        proto_sts_enc_open(&b, &o);
        q->refs[k] = cc_client_request(W.client, &b);
        cc_buf_free(&b);
        q->known[k] = false;
        q->values[k] = (proto_sts_value){.type = PROTO_STS_NULL};
        W.stats_pending++;
    }
}

/* An EventStatisticValue: into its queue's cell by its statisticId. */
static void take_value(proto_msg *msg)
{
    proto_sts_event e;
    if (proto_sts_decode_event(msg, &e) != 0) {
        LOG_WARN("event=bad_statistic_value why=\"%s\"", msg->desc);
        return;
    }
    int64_t idx = e.statistic_id - 1;
    if (idx < 0 || idx >= (int64_t)W.queue_count * WB_NSTATS)
        return;
    wb_queue *q = &W.queues[idx / WB_NSTATS];
    int k = (int)(idx % WB_NSTATS);
    if (!q->opened)
        return;
    if (!q->known[k] && W.stats_pending > 0)
        W.stats_pending--;
    q->known[k] = true;
    q->values[k] = e.value;
    q->values[k].reason_desc = NULL; /* borrowed from the message: not kept */
}

static void stop(int code)
{
    if (W.stopping)
        return;
    W.stopping = true;
    W.exit_code = code;
    cc_client_free(W.client);
    W.client = NULL;
    for (int i = 0; i < W.ixn_count; i++) {
        cc_client_free(W.ixns[i].client);
        W.ixns[i].client = NULL;
    }
    tool_close((uv_handle_t *)&W.timer);
    tool_close((uv_handle_t *)&W.once_timer);
    tool_signals_close(&W.sig);
    tool_close_net_later(&W.drain, &W.loop, &W.net);
}

static void maybe_done_once(void)
{
    for (int i = 0; i < W.ixn_count; i++)
        if (!W.ixns[i].answered)
            return;
    if (W.stats_pending > 0)
        return;
    if (W.once && W.snapshot_done && W.servers_known && !W.stopping) {
        print_board();
        stop(0);
    }
}

static void take_server_list(proto_msg *msg)
{
    size_t count;
    W.server_count = 0;
    if (proto_stat_decode_servers(msg, &count) != 0)
        count = 0;
    for (size_t i = 0; i < count && W.server_count < WB_MAX_SERVERS; i++) {
        proto_stat_server row;
        if (proto_stat_decode_server_row(msg, i, &row) != 0)
            continue;
        wb_server *s = &W.servers[W.server_count++];
        snprintf(s->name, sizeof s->name, "%s", row.name);
        snprintf(s->address, sizeof s->address, "%s", row.address);
        s->connected = row.connected;
        s->agents = row.agents;
    }
    W.servers_known = true;
}

static void take_status(proto_msg *msg)
{
    proto_agent_status st;
    if (proto_decode_status(msg, &W.media, true, &st) != 0) {
        W.dropped++;
        LOG_WARN("event=bad_status why=\"%s\"", msg->desc);
        return;
    }
    W.statuses++;
    char key[2 * PROTO_ID_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", st.tenant, st.agent_id);
    wb_agent *a = cc_map_gets(&W.agents, key);
    if (!st.logged_in) {
        free(cc_map_dels(&W.agents, key));
        return;
    }
    if (!a) {
        if (W.agents.count >= WB_MAX_AGENTS) {
            W.dropped++;
            return;
        }
        a = xcalloc(1, sizeof *a);
        cc_map_puts(&W.agents, key, a);
    }
    a->dnd = st.dnd;
    a->media = st.media;
    a->ready = 0;
    for (int m = 0; m < CC_MEDIA_MAX; m++) {
        if (!(st.media & ((cc_media_mask)1 << m)))
            continue;
        if (st.ready[m])
            a->ready |= (cc_media_mask)1 << m;
        a->current[m] = st.current[m];
        a->max[m] = st.max[m];
        a->available[m] = st.available[m];
    }
}

/* A refused RequestOpenStatistic sends no value: its cell shows "-" and the one-shot
 * board does not wait for it. */
static void refused_statistic(int64_t ref)
{
    for (int i = 0; i < W.queue_count; i++)
        for (int k = 0; k < WB_NSTATS; k++) {
            wb_queue *q = &W.queues[i];
            if (q->opened && !q->known[k] && q->refs[k] == ref) {
                q->known[k] = true;
                if (W.stats_pending > 0)
                    W.stats_pending--;
                maybe_done_once();
                return;
            }
        }
}

static void on_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    snprintf(W.link, sizeof W.link, "up");
    clear_agents();
    W.snapshot_done = false;
    cc_buf b;
    cc_buf_init(&b);
    const char *tenants[] = {W.tenant};
    proto_stat_enc_subscribe(
        &b, &(proto_stat_subscribe){.all = W.tenant == NULL, .tenants = tenants, .ntenants = 1});
    cc_client_request(c, &b);
    cc_buf_free(&b);
    request_server_list();
    /* The statistics of the previous connection went with it. */
    W.stats_pending = 0;
    for (int i = 0; i < W.queue_count; i++) {
        W.queues[i].opened = false;
        open_queue(i);
    }
}

static void on_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)c;
    (void)line;
    (void)len;
    if (strcmp(msg->name, "EventCurrentAgentStatus") == 0) {
        take_status(msg);
    } else if (strcmp(msg->name, "EventStatisticValue") == 0) {
        take_value(msg);
        maybe_done_once();
    } else if (strcmp(msg->name, "EventAgentStatusSnapshotDone") == 0) {
        W.snapshot_done = true;
        maybe_done_once();
    } else if (strcmp(msg->name, "EventAck") == 0 && msg->ref == W.list_ref) {
        take_server_list(msg);
        maybe_done_once();
    } else if (strcmp(msg->name, "EventError") == 0) {
        proto_error e;
        (void)proto_decode_error(msg, &e);
        LOG_WARN("event=error_from_server ref=%" PRId64 " description=\"%s\"", msg->ref,
                 e.description ? e.description : "");
        refused_statistic(msg->ref);
    }
}

static void on_down(cc_client *c, const char *why)
{
    (void)c;
    snprintf(W.link, sizeof W.link, "down");
    W.servers_known = false;
    if (W.once && !W.stopping) {
        fprintf(stderr, "wallboard: %s: %s\n", W.address, why);
        stop(1);
    }
}

static const cc_client_ops wb_ops = {
    .on_registered = on_registered,
    .on_message = on_message,
    .on_down = on_down,
};

static void on_ixn_registered(cc_client *c, proto_msg *ack)
{
    wb_ixn *x = cc_client_user(c);
    (void)ack;
    /* The client keeps the serverName of the registration's EventAck. */
    snprintf(x->name, sizeof x->name, "%s", cc_client_server_name(c));
    x->ref = 0;
    request_queue_status(x);
}

static void on_ixn_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    wb_ixn *x = cc_client_user(c);
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if (!(ack || err) || msg->ref != x->ref || x->ref == 0)
        return;
    x->ref = 0;
    x->answered = true;
    proto_error e = {0};
    if (!ack)
        (void)proto_decode_error(msg, &e);
    if (ack) {
        take_queue_status(x, msg);
    } else if (e.code == 2) {
        x->unsupported = true; /* a server without the extension: stop asking */
    } else {
        LOG_WARN("event=queue_status_failed server=%s description=\"%s\"", x->address,
                 e.description ? e.description : "");
    }
    maybe_done_once();
}

static void on_ixn_down(cc_client *c, const char *why)
{
    wb_ixn *x = cc_client_user(c);
    x->ref = 0;
    if (W.once && !W.stopping) {
        /* A one-shot board shows the link as down rather than waiting for it. */
        fprintf(stderr, "wallboard: %s: %s\n", x->address, why);
        x->answered = true;
        maybe_done_once();
    }
}

static const cc_client_ops wb_ixn_ops = {
    .on_registered = on_ixn_registered,
    .on_message = on_ixn_message,
    .on_down = on_ixn_down,
};

static void on_timer(uv_timer_t *t)
{
    (void)t;
    if (W.client && cc_client_is_up(W.client))
        request_server_list();
    print_board();
}

static void on_once_timeout(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "wallboard: no complete snapshot within %d ms\n", WB_ONCE_TIMEOUT_MS);
    print_board();
    stop(1);
}

static void on_signal(tool_signals *s, int signum)
{
    (void)s;
    (void)signum;
    stop(0);
}

int main(int argc, char **argv)
{
    cc_log_init("wallboard", CC_LOG_WARN);
    if (!parse_args(argc, argv))
        return 2;
    if (!tool_tls_start(&W.tls, "wallboard"))
        return 2;
    W.tty = isatty(STDOUT_FILENO) && getenv("CI") == NULL;
    snprintf(W.link, sizeof W.link, "connecting");
    cc_media_init(&W.media);
    cc_map_init(&W.agents);
    tool_loop_init(&W.loop, &W.net);
    cc_client_config cfg = {
        .address = W.address,
        .client_type = "StatClient",
        .client_name = W.client_name,
        .token = W.token,
        .tls = W.tls.ctx,
        .reconnect = !W.once,
        /* A subscription starts with one status per agent: allow a large snapshot. */
        .max_line = 65536,
        .out_limit = 1u << 20,
    };
    W.client = cc_client_new(&W.net, &cfg, &wb_ops, NULL);
    cc_client_start(W.client);
    for (int i = 0; i < W.ixn_count; i++) {
        cc_client_config icfg = {
            .address = W.ixns[i].address,
            .client_type = "MediaServer",
            .client_name = W.ixn_client_name,
            .token = W.ixns[i].token,
            .tls = W.tls.ctx,
            .reconnect = !W.once,
        };
        W.ixns[i].client = cc_client_new(&W.net, &icfg, &wb_ixn_ops, &W.ixns[i]);
        cc_client_start(W.ixns[i].client);
    }
    uv_timer_init(&W.loop, &W.timer);
    uv_timer_init(&W.loop, &W.once_timer);
    if (W.once)
        uv_timer_start(&W.once_timer, on_once_timeout, WB_ONCE_TIMEOUT_MS, 0);
    else
        uv_timer_start(&W.timer, on_timer, (uint64_t)W.interval_s * 1000u,
                       (uint64_t)W.interval_s * 1000u);
    tool_signals_start(&W.sig, &W.loop, on_signal);
    tool_loop_run(&W.loop);
    tool_tls_free(&W.tls);
    clear_agents();
    cc_map_free(&W.agents);
    return W.exit_code;
}

/* mediasim: simulates a media server (a chat gateway, a mail poller, a telephony switch)
 * for the demo. It registers on one interaction server as a MediaServer, submits
 * interactions to the configured queues at a given rate (each with userData naming a
 * customer and a subject, and a unique externalId), lets a fraction of them be stopped by
 * their customer after a random wait, and asks RequestQueueStatus every 5 seconds. One
 * summary line per 5 seconds goes to stdout (docs/demo.md explains the fields).
 *
 * Submits that were in flight when the link went down are sent again, with the same
 * externalId, once the link is back: the server answers a repeated externalId with the
 * first interactionId, so an interaction is never created twice.
 *
 * --priority gives the submits a priority, fixed or drawn from a range, per queue. With
 * --explain ID it submits nothing: it asks RequestExplainRouting about each ID, prints
 * the answers and exits. */
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
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
#include "common/err.h"
#include "common/log.h"
#include "common/media.h"
#include "net/client.h"
#include "net/conn.h"
#include "proto/ixnmsg.h"
#include "proto/msg.h"
#include "lib/tool.h"

/* Bounds on what the command line may ask for, so a typo cannot exhaust the machine. */
#define MS_MAX_QUEUES 32
#define MS_MAX_RATE 100000.0
#define MS_MAX_WINDOW 4096
#define MS_DEFAULT_WINDOW 256
/* Interactions waiting for their customer to leave; more are simply not abandoned. */
#define MS_MAX_ABANDONS 65536
/* Queue status rows kept from one answer. */
#define MS_MAX_QSTATUS 64
#define MS_SUMMARY_MS 5000
#define MS_TICK_MS 10
#define MS_DRAIN_MS 3000
/* Longest interaction id kept: "<serverName>:<9 digits>". */
#define MS_IXN_ID_MAX (PROTO_ID_MAX + 16)
/* Errors logged one by one before the log goes quiet (the summary still counts them). */
#define MS_LOGGED_ERRORS 20
/* Interactions one run may ask RequestExplainRouting about. */
#define MS_MAX_EXPLAIN 16
/* How long an explain run waits for its answers when --seconds does not say. */
#define MS_EXPLAIN_SECONDS 10

/* The priority a queue's submits carry: none (the queue's default applies), or drawn
 * from lo..hi (one value when lo == hi). */
typedef struct ms_priority {
    bool set;
    int lo, hi;
} ms_priority;

typedef struct ms_queue {
    char name[PROTO_ID_MAX + 1];
    char media[CC_MEDIA_NAME_MAX + 1];
    unsigned weight; /* share of the submits, relative to the other queues */
    ms_priority priority;
    uint64_t submitted;
} ms_queue;

/* What a request in flight was, so that its answer is counted right. */
enum ms_kind { MS_SUBMIT, MS_STOP, MS_QSTATUS, MS_EXPLAIN };

typedef struct ms_pending {
    enum ms_kind kind;
    int64_t ref;
    uint64_t n;                 /* MS_SUBMIT: the submit's number (its externalId and userData) */
    int queue;                  /* MS_SUBMIT: index into the queue list */
    char id[MS_IXN_ID_MAX + 1]; /* MS_STOP: the interaction */
    int explain;                /* MS_EXPLAIN: index into the explain list */
} ms_pending;

typedef struct ms_abandon {
    uint64_t due_us;
    char id[MS_IXN_ID_MAX + 1];
} ms_abandon;

typedef struct ms_qrow {
    char queue[PROTO_ID_MAX + 1];
    int64_t waiting, invited, handling, oldest_ms;
} ms_qrow;

typedef struct ms {
    uv_loop_t loop;
    cc_net net;
    cc_client *client;
    uv_timer_t tick;
    uv_timer_t summary;
    tool_stop stop; /* SIGINT, SIGTERM or --seconds */
    const char *address;
    const char *token;
    tool_tls tls; /* --tls, --tls-ca, --tls-cert, --tls-key */
    const char *tenant;
    const char *name;
    ms_queue queues[MS_MAX_QUEUES];
    int queue_count;
    unsigned weight_sum;
    double rate;
    double budget;
    unsigned seconds;
    double abandon;      /* fraction of acked interactions the customer stops */
    unsigned patience_s; /* mean wait before a customer leaves */
    uint64_t max;        /* 0: no limit */
    unsigned window;     /* submits in flight at most */
    uint64_t rng;
    uint64_t run_id; /* makes externalIds unique per run */
    uint64_t start_us;
    /* Requests in flight, in the order sent (answers come in that order). */
    ms_pending *pending;
    unsigned pending_head, pending_count;
    unsigned submits_in_flight, others_in_flight;
    /* Submits to send again after the link came back; bounded by the window. */
    ms_pending *redo;
    unsigned redo_count;
    ms_abandon *abandons;
    size_t abandon_count;
    ms_qrow qrows[MS_MAX_QSTATUS];
    int qrow_count;
    bool qstatus_unsupported;
    bool stopping;
    uint64_t next_n;
    uint64_t submitted, acked, duplicates, errors, stopped, stop_late, resent, downs;
    uint64_t logged_errors;
    uint64_t priority_seed; /* mixes a submit's number into its priority */
    /* --explain: the interactions to ask about, and which were answered. */
    const char *explain_ids[MS_MAX_EXPLAIN];
    bool explain_answered[MS_MAX_EXPLAIN];
    int explain_count, explain_left;
    tool_drain drain;
    uint64_t drain_start_us; /* when the stop began: answers in flight are awaited */
} ms;

static ms M;

static const char *const ms_first_names[] = {"Ada",   "Bram",  "Chloe", "Dmitri", "Eva",
                                             "Farid", "Greta", "Hugo",  "Ines",   "Jonas"};
static const char *const ms_last_names[] = {"Lindqvist", "Moreau", "Okafor", "Petrov",
                                            "Quispe",    "Rossi",  "Sato",   "Tanaka"};
static const char *const ms_subjects[] = {"Invoice question", "Change my plan", "Delivery late",
                                          "Password reset",   "Cancel order",   "Upgrade offer",
                                          "Broken device",    "Address change"};
#define MS_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mediasim --server HOST:PORT --token T --tenant T --queues Q:MEDIA[:W][,...]\n"
            "                [--rate R] [--seconds S] [--abandon P] [--patience S] [--max N]\n"
            "                [--window W] [--name NAME] [--seed N] [--priority SPEC]\n"
            "       mediasim --server HOST:PORT --token T --explain ID [--explain ID]...\n"
            "  --queues    queues and their media; W weighs a queue's share (default 1)\n"
            "  --rate      submits per second (default 2)\n"
            "  --seconds   run time, 0 = until SIGINT (default 0)\n"
            "  --abandon   fraction 0..1 of interactions the customer stops (default 0)\n"
            "  --patience  mean seconds before such a customer leaves (default 10)\n"
            "  --max       submit at most N interactions (default no limit)\n"
            "  --window    submits in flight at most (default %d)\n"
            "  --priority  [QUEUE=]N or [QUEUE=]LO-HI, comma-separated: the priority\n"
            "              (0..1000) of the submits, fixed or drawn per submit; an item\n"
            "              without QUEUE= applies to the queues not named (default: none)\n"
            "  --explain   ask RequestExplainRouting about interaction ID, print the answer\n"
            "              and exit (repeatable, at most %d; no submits)\n",
            MS_DEFAULT_WINDOW, MS_MAX_EXPLAIN);
    fputs(TOOL_TLS_USAGE, f);
}

static bool parse_queues(const char *s)
{
    char *copy = xstrdup(s);
    bool ok = true;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && ok;
         tok = strtok_r(NULL, ",", &save)) {
        /* QUEUE:MEDIA or QUEUE:MEDIA:WEIGHT; a trailing all-digit part is the weight. */
        unsigned weight = 1;
        char *colon = strrchr(tok, ':');
        if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
            char *media_colon = colon;
            *media_colon = '\0';
            colon = strrchr(tok, ':');
            unsigned long w = strtoul(media_colon + 1, NULL, 10);
            if (!colon || w < 1 || w > 1000) {
                ok = false;
                break;
            }
            weight = (unsigned)w;
        }
        if (!colon || colon == tok || M.queue_count == MS_MAX_QUEUES) {
            ok = false;
            break;
        }
        size_t qn = (size_t)(colon - tok), mn = strlen(colon + 1);
        if (qn > PROTO_ID_MAX || !cc_media_name_valid(colon + 1, mn)) {
            ok = false;
            break;
        }
        ms_queue *q = &M.queues[M.queue_count++];
        memcpy(q->name, tok, qn);
        q->name[qn] = '\0';
        memcpy(q->media, colon + 1, mn);
        q->media[mn] = '\0';
        q->weight = weight;
        M.weight_sum += weight;
    }
    free(copy);
    return ok && M.queue_count > 0;
}

/* Parses N or LO-HI (0..1000, LO <= HI) of n bytes at s. */
static bool parse_priority_value(const char *s, size_t n, ms_priority *out)
{
    char text[16];
    if (n == 0 || n >= sizeof text)
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    char *dash = strchr(text, '-');
    if (dash)
        *dash = '\0';
    const char *parts[2] = {text, dash ? dash + 1 : text};
    int v[2];
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(parts[i]);
        if (len == 0 || len > 4 || strspn(parts[i], "0123456789") != len)
            return false;
        v[i] = atoi(parts[i]);
        if (v[i] < PROTO_PRIORITY_MIN || v[i] > PROTO_PRIORITY_MAX)
            return false;
    }
    if (v[0] > v[1])
        return false;
    *out = (ms_priority){.set = true, .lo = v[0], .hi = v[1]};
    return true;
}

/* Applies --priority to the queues parsed already: named queues first, then the bare
 * item (at most one) to every queue not named. */
static bool parse_priority(const char *spec)
{
    char *copy = xstrdup(spec);
    bool ok = strspn(spec, ",") != strlen(spec), named[MS_MAX_QUEUES] = {false},
         has_default = false;
    ms_priority def = {0};
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && ok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        ms_priority p;
        if (!parse_priority_value(eq ? eq + 1 : tok, strlen(eq ? eq + 1 : tok), &p)) {
            ok = false;
            break;
        }
        if (!eq) {
            ok = !has_default;
            has_default = true;
            def = p;
            continue;
        }
        *eq = '\0';
        int found = -1;
        for (int i = 0; i < M.queue_count && found < 0; i++)
            if (strcmp(M.queues[i].name, tok) == 0)
                found = i;
        if (found < 0 || named[found]) {
            ok = false;
            break;
        }
        named[found] = true;
        M.queues[found].priority = p;
    }
    for (int i = 0; ok && has_default && i < M.queue_count; i++)
        if (!named[i])
            M.queues[i].priority = def;
    free(copy);
    return ok;
}

static bool parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"token", required_argument, NULL, 'k'},
        {"tenant", required_argument, NULL, 't'},
        {"queues", required_argument, NULL, 'q'},
        {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 'S'},
        {"abandon", required_argument, NULL, 'a'},
        {"patience", required_argument, NULL, 'p'},
        {"max", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},
        {"name", required_argument, NULL, 'N'},
        {"seed", required_argument, NULL, 'x'},
        {"priority", required_argument, NULL, 'P'},
        {"explain", required_argument, NULL, 'e'},
        TOOL_TLS_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *queues = NULL, *priority = NULL;
    M.token = "";
    M.tenant = "Resources";
    M.name = "mediasim";
    M.rate = 2;
    M.patience_s = 10;
    M.window = MS_DEFAULT_WINDOW;
    M.rng = 0x9E3779B97F4A7C15ULL ^ cc_wall_us() ^ ((uint64_t)getpid() << 32);
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': M.address = optarg; break;
        case 'k': M.token = optarg; break;
        case 't': M.tenant = optarg; break;
        case 'q': queues = optarg; break;
        case 'r': M.rate = strtod(optarg, NULL); break;
        case 'S': M.seconds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'a': M.abandon = strtod(optarg, NULL); break;
        case 'p': M.patience_s = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'n': M.max = strtoull(optarg, NULL, 10); break;
        case 'w': M.window = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'N': M.name = optarg; break;
        case 'x': M.rng = strtoull(optarg, NULL, 10) | 1; break;
        case 'P': priority = optarg; break;
        case 'e':
            if (M.explain_count == MS_MAX_EXPLAIN || !*optarg || strlen(optarg) > PROTO_ID_MAX) {
                fprintf(stderr,
                        "mediasim: --explain takes an id of 1..%d bytes, at most %d times\n",
                        PROTO_ID_MAX, MS_MAX_EXPLAIN);
                return false;
            }
            M.explain_ids[M.explain_count++] = optarg;
            break;
        case 'h': usage(stdout); exit(0);
        default:
            if (tool_tls_opt(&M.tls, c, optarg))
                break;
            usage(stderr);
            return false;
        }
    }
    if (M.address && M.explain_count > 0 && !queues && !priority) {
        /* Nothing is submitted: the submit options do not matter. */
        if (M.seconds == 0)
            M.seconds = MS_EXPLAIN_SECONDS;
        M.explain_left = M.explain_count;
        return true;
    }
    if (M.address && M.explain_count > 0) {
        fprintf(stderr, "mediasim: --explain goes without --queues and --priority\n");
        return false;
    }
    if (!M.address || !queues) {
        fprintf(stderr, "mediasim: --server and --queues (or --explain) are required\n");
        usage(stderr);
        return false;
    }
    if (!parse_queues(queues)) {
        fprintf(stderr,
                "mediasim: --queues must be QUEUE:MEDIA[:WEIGHT][,...], at most %d, "
                "weights 1..1000\n",
                MS_MAX_QUEUES);
        return false;
    }
    /* The name starts every externalId, which must stay within 128 bytes. */
    if (!*M.tenant || strlen(M.tenant) > PROTO_ID_MAX || !*M.name || strlen(M.name) > 64) {
        fprintf(stderr, "mediasim: --tenant must be 1..%d bytes, --name 1..64\n", PROTO_ID_MAX);
        return false;
    }
    if (!(M.rate > 0) || M.rate > MS_MAX_RATE) {
        fprintf(stderr, "mediasim: --rate must be in (0, %.0f]\n", MS_MAX_RATE);
        return false;
    }
    if (!(M.abandon >= 0 && M.abandon <= 1)) {
        fprintf(stderr, "mediasim: --abandon must be a fraction 0..1\n");
        return false;
    }
    if (M.window == 0 || M.window > MS_MAX_WINDOW) {
        fprintf(stderr, "mediasim: --window must be 1..%d\n", MS_MAX_WINDOW);
        return false;
    }
    if (M.patience_s == 0 || M.patience_s > 86400)
        M.patience_s = 10;
    if (priority && !parse_priority(priority)) {
        fprintf(stderr,
                "mediasim: --priority must be [QUEUE=]N or [QUEUE=]LO-HI, comma-separated, "
                "with N, LO <= HI in %d..%d, each queue of --queues at most once and one "
                "item without QUEUE=\n",
                PROTO_PRIORITY_MIN, PROTO_PRIORITY_MAX);
        return false;
    }
    /* Drawn once, so that a resent submit carries the priority of its first sending. */
    M.priority_seed = tool_rand(&M.rng);
    return true;
}

/* Stop and queue-status requests in flight at most; submits are bounded by the window. */
#define MS_MAX_OTHER 64
/* The pending ring holds both kinds. */
#define MS_RING (MS_MAX_WINDOW + MS_MAX_OTHER)

static ms_pending *pending_push(enum ms_kind kind, int64_t ref)
{
    assert(M.pending_count < MS_RING);
    ms_pending *p = &M.pending[(M.pending_head + M.pending_count) % MS_RING];
    M.pending_count++;
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->ref = ref;
    if (kind == MS_SUBMIT)
        M.submits_in_flight++;
    else
        M.others_in_flight++;
    assert(M.submits_in_flight <= M.window && M.others_in_flight <= MS_MAX_OTHER);
    return p;
}

/* Finds the request an answer belongs to. Answers come in request order, so it is
 * normally the oldest; anything older than it lost its answer with a link. */
static bool pending_take(int64_t ref, ms_pending *out)
{
    for (unsigned i = 0; i < M.pending_count; i++) {
        ms_pending *p = &M.pending[(M.pending_head + i) % MS_RING];
        if (p->ref != ref)
            continue;
        *out = *p;
        /* Close the gap by moving the older entries up one; i is 0 in the normal case. */
        for (unsigned j = i; j > 0; j--)
            M.pending[(M.pending_head + j) % MS_RING] =
                M.pending[(M.pending_head + j - 1) % MS_RING];
        M.pending_head = (M.pending_head + 1) % MS_RING;
        M.pending_count--;
        if (out->kind == MS_SUBMIT)
            M.submits_in_flight--;
        else
            M.others_in_flight--;
        return true;
    }
    return false;
}

/* The priority of submit n to queue q: a function of n, so a resent submit keeps it. */
static int submit_priority(const ms_queue *q, uint64_t n)
{
    if (q->priority.lo == q->priority.hi)
        return q->priority.lo;
    uint64_t x = (n + 1) * 0x9E3779B97F4A7C15ULL ^ M.priority_seed;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    return q->priority.lo + (int)(x % (uint64_t)(q->priority.hi - q->priority.lo + 1));
}

static void send_submit(uint64_t n, int queue)
{
    const ms_queue *q = &M.queues[queue];
    char ext[160], customer[64];
    snprintf(ext, sizeof ext, "%s-%016" PRIx64 "-%" PRIu64, M.name, M.run_id, n);
    /* Customer and subject follow from n, so a resent submit carries the same data. */
    snprintf(customer, sizeof customer, "%s %s", ms_first_names[n % MS_COUNT(ms_first_names)],
             ms_last_names[(n / 7) % MS_COUNT(ms_last_names)]);
    const proto_ixn_ud_field fields[] = {
        {.key = "customer", .str = customer},
        {.key = "subject", .str = ms_subjects[(n / 3) % MS_COUNT(ms_subjects)]},
        {.key = "customerNumber", .num = (int64_t)n},
    };
    cc_buf ud, b;
    cc_buf_init(&ud);
    cc_buf_init(&b);
    proto_ixn_enc_user_data(&ud, fields, MS_COUNT(fields));
    proto_ixn_enc_submit(&b, &(proto_ixn_submit){.tenant = M.tenant,
                                                 .media = q->media,
                                                 .queue = q->name,
                                                 .external_id = ext,
                                                 .user_data = ud.data,
                                                 .has_priority = q->priority.set,
                                                 .priority = submit_priority(q, n)});
    int64_t ref = cc_client_request(M.client, &b);
    cc_buf_free(&b);
    cc_buf_free(&ud);
    if (ref <= 0)
        return;
    ms_pending *p = pending_push(MS_SUBMIT, ref);
    p->n = n;
    p->queue = queue;
}

static void send_stop(const char *id)
{
    cc_buf b;
    cc_buf_init(&b);
    proto_ixn_enc_req(&b, &(proto_ixn_req){.kind = PROTO_IXN_REQ_STOP,
                                           .interaction_id = id,
                                           .reason = "CustomerLeft"});
    int64_t ref = cc_client_request(M.client, &b);
    cc_buf_free(&b);
    if (ref <= 0)
        return;
    ms_pending *p = pending_push(MS_STOP, ref);
    snprintf(p->id, sizeof p->id, "%s", id);
}

static void send_qstatus(void)
{
    if (M.qstatus_unsupported || !M.client || !cc_client_is_up(M.client) ||
        M.others_in_flight >= MS_MAX_OTHER)
        return;
    cc_buf b;
    cc_buf_init(&b);
    proto_ixn_enc_queue_status(&b);
    int64_t ref = cc_client_request(M.client, &b);
    cc_buf_free(&b);
    if (ref <= 0)
        return;
    pending_push(MS_QSTATUS, ref);
}

/* Asks about every interaction of --explain not answered yet. */
static void send_explains(void)
{
    for (int i = 0; i < M.explain_count; i++) {
        if (M.explain_answered[i] || M.others_in_flight >= MS_MAX_OTHER)
            continue;
        cc_buf b;
        cc_buf_init(&b);
        proto_ixn_enc_explain_req(&b, &(proto_ixn_explain_req){M.explain_ids[i]});
        int64_t ref = cc_client_request(M.client, &b);
        cc_buf_free(&b);
        if (ref <= 0)
            return;
        pending_push(MS_EXPLAIN, ref)->explain = i;
    }
}

/* Appends text from the server inside quotes, with quotes, backslashes and control
 * characters replaced by '?', so a line stays one line of key=value pairs. */
static void quoted(cc_buf *b, const char *s)
{
    cc_buf_putc(b, '"');
    for (size_t i = 0; s && s[i] && i < PROTO_EXPLAIN_EXPRESSION_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        cc_buf_putc(b, (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c);
    }
    cc_buf_putc(b, '"');
}

/* Prints the answer to RequestExplainRouting about --explain item i: one line for the
 * interaction, one per agent listed; an error or an answer that does not decode in one
 * line with error=CODE. */
static void print_explain(int i, proto_msg *msg, bool ok)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_puts(&b, "mediasim explain interactionId=");
    quoted(&b, M.explain_ids[i]);
    proto_ixn_explain e;
    if (!ok) {
        proto_error err;
        (void)proto_decode_error(msg, &err);
        cc_buf_printf(&b, " error=%" PRId64 " name=", err.code);
        quoted(&b, err.name);
        cc_buf_puts(&b, " description=");
        quoted(&b, err.description);
        M.errors++;
    } else if (proto_ixn_decode_explain(msg, &e) != 0) {
        cc_buf_puts(&b, " error=bad_answer description=");
        quoted(&b, msg->desc);
        M.errors++;
    } else {
        cc_buf_puts(&b, " tenant=");
        quoted(&b, e.tenant);
        cc_buf_printf(&b, " media=%s queue=", e.media);
        quoted(&b, e.queue);
        cc_buf_printf(&b,
                      " state=%s priority=%" PRId64 " effectivePriority=%" PRId64
                      " waitedSec=%" PRId64 " step=%" PRId64 " steps=%" PRId64,
                      cc_ixn_state_name(e.state), e.priority, e.effective_priority, e.waited_sec,
                      e.step, e.steps);
        if (e.next_step_sec >= 0)
            cc_buf_printf(&b, " nextStepSec=%" PRId64, e.next_step_sec);
        cc_buf_printf(&b, " matching=%" PRId64 " agents=%zu", e.matching, e.nagents);
        if (e.agent_id) {
            cc_buf_puts(&b, " agentId=");
            quoted(&b, e.agent_id);
        }
        cc_buf_puts(&b, " expression=");
        quoted(&b, e.expression);
        for (size_t k = 0; k < e.nagents; k++) {
            cc_buf_puts(&b, "\nmediasim explain-agent interactionId=");
            quoted(&b, M.explain_ids[i]);
            cc_buf_puts(&b, " agentId=");
            quoted(&b, e.agents[k].agent_id);
            cc_buf_printf(&b, " why=%s", proto_explain_why_name(e.agents[k].why));
        }
    }
    printf("%s\n", b.data);
    fflush(stdout);
    cc_buf_free(&b);
}

static void begin_stop(const char *why);

/* Room for one more stop, with one place left for a queue-status request. */
static bool can_send_other(void)
{
    return M.others_in_flight + 1 < MS_MAX_OTHER;
}

static void take_qstatus(proto_msg *msg)
{
    size_t count;
    M.qrow_count = 0;
    if (proto_ixn_decode_queues(msg, &count) != 0)
        return;
    for (size_t i = 0; i < count && M.qrow_count < MS_MAX_QSTATUS; i++) {
        proto_ixn_queue_row row;
        /* Only this simulator's tenant: the line stays short in a multi-tenant server. */
        if (proto_ixn_decode_queue_row(msg, i, &row) != 0 || strcmp(row.tenant, M.tenant) != 0)
            continue;
        ms_qrow *r = &M.qrows[M.qrow_count++];
        snprintf(r->queue, sizeof r->queue, "%s", row.queue);
        r->waiting = row.waiting;
        r->invited = row.invited;
        r->handling = row.handling;
        r->oldest_ms = row.oldest_ms < 0 ? 0 : row.oldest_ms;
    }
}

static void note_error(const char *what, proto_msg *msg)
{
    M.errors++;
    if (M.logged_errors++ >= MS_LOGGED_ERRORS)
        return;
    proto_error e;
    (void)proto_decode_error(msg, &e);
    LOG_WARN("event=request_failed request=%s error=%" PRId64 " description=\"%s\"%s", what, e.code,
             e.description ? e.description : "",
             M.logged_errors == MS_LOGGED_ERRORS ? " more=quiet" : "");
}

/* The errorCode of an EventError (0 when it carries none). */
static int64_t error_code(proto_msg *msg)
{
    proto_error e;
    (void)proto_decode_error(msg, &e);
    return e.code;
}

static void schedule_abandon(const char *id)
{
    if (M.stopping || M.abandon <= 0 || tool_unit(&M.rng) >= M.abandon ||
        M.abandon_count == MS_MAX_ABANDONS || strlen(id) > MS_IXN_ID_MAX)
        return;
    /* Uniform over 0.2..1.8 times the patience: a mean of the patience, with spread. */
    double wait_s = M.patience_s * (0.2 + 1.6 * tool_unit(&M.rng));
    ms_abandon *a = &M.abandons[M.abandon_count++];
    a->due_us = cc_mono_us() + (uint64_t)(wait_s * 1e6);
    snprintf(a->id, sizeof a->id, "%s", id);
}

static void on_answer(const ms_pending *p, proto_msg *msg, bool ok)
{
    switch (p->kind) {
    case MS_SUBMIT:
        if (!ok) {
            note_error("RequestSubmit", msg);
            return;
        }
        {
            proto_ixn_submitted sub;
            if (proto_ixn_decode_submitted(msg, &sub) != 0) {
                M.errors++;
                LOG_WARN("event=ack_without_interaction_id");
                return;
            }
            M.acked++;
            if (sub.duplicate)
                M.duplicates++;
            else
                schedule_abandon(sub.interaction_id);
        }
        return;
    case MS_STOP:
        if (ok) {
            M.stopped++;
            return;
        }
        /* The agent finished it before the customer left: a race, not a failure. */
        if (error_code(msg) == 10) {
            M.stop_late++;
            return;
        }
        note_error("RequestStopProcessing", msg);
        return;
    case MS_EXPLAIN:
        if (!M.explain_answered[p->explain]) {
            M.explain_answered[p->explain] = true;
            M.explain_left--;
            print_explain(p->explain, msg, ok);
        }
        if (M.explain_left == 0)
            begin_stop("answered");
        return;
    case MS_QSTATUS:
        if (ok) {
            take_qstatus(msg);
        } else if (error_code(msg) == 2) {
            /* A server without the extension: say so once, and stop asking. */
            M.qstatus_unsupported = true;
            LOG_INFO("event=queue_status_unsupported");
        } else {
            note_error("RequestQueueStatus", msg);
        }
        return;
    }
}

static void on_message(cc_client *c, proto_msg *msg, const char *line, size_t len)
{
    (void)c;
    (void)line;
    (void)len;
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if (!ack && !err)
        return;
    ms_pending p;
    if (msg->ref > 0 && pending_take(msg->ref, &p)) {
        on_answer(&p, msg, ack);
    } else if (err) {
        note_error("unknown", msg);
    }
}

static void on_registered(cc_client *c, proto_msg *ack)
{
    (void)ack;
    /* The client keeps the serverName of the registration's EventAck. */
    const char *server = cc_client_server_name(c);
    LOG_INFO("event=registered server=%s", *server ? server : "?");
    if (M.explain_count > 0) {
        send_explains();
        return;
    }
    /* The first summary then already shows the queues. */
    send_qstatus();
}

static void on_down(cc_client *c, const char *why)
{
    (void)c;
    M.downs++;
    /* The client logs every link loss; this line only says what it cost. */
    if (M.pending_count > 0)
        LOG_WARN("event=requests_lost why=\"%s\" in_flight=%u", why, M.pending_count);
    /* Submits whose answer was lost are sent again later with the same externalId; a
     * lost stop is dropped (the customer left anyway, the summary counts it). */
    for (unsigned i = 0; i < M.pending_count; i++) {
        ms_pending *p = &M.pending[(M.pending_head + i) % MS_RING];
        if (p->kind == MS_SUBMIT && M.redo_count < MS_RING)
            M.redo[M.redo_count++] = *p;
    }
    M.pending_head = 0;
    M.pending_count = 0;
    M.submits_in_flight = 0;
    M.others_in_flight = 0;
}

static const cc_client_ops ms_client_ops = {
    .on_registered = on_registered,
    .on_message = on_message,
    .on_down = on_down,
};

static void print_summary(const char *when)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_printf(&b,
                  "mediasim %s t=%" PRIu64 "s link=%s submitted=%" PRIu64 " acked=%" PRIu64
                  " duplicates=%" PRIu64 " errors=%" PRIu64 " stopped=%" PRIu64
                  " stop_late=%" PRIu64 " resent=%" PRIu64 " downs=%" PRIu64 " in_flight=%u",
                  when, (cc_mono_us() - M.start_us + 500000u) / 1000000u,
                  M.client && cc_client_is_up(M.client) ? "up" : "down", M.submitted, M.acked,
                  M.duplicates, M.errors, M.stopped, M.stop_late, M.resent, M.downs,
                  M.pending_count);
    /* Queue lengths as waiting/invited/handling, from the last RequestQueueStatus. */
    if (M.qstatus_unsupported) {
        cc_buf_puts(&b, " queues=unsupported");
    } else {
        cc_buf_puts(&b, " queues=");
        for (int i = 0; i < M.qrow_count; i++)
            cc_buf_printf(&b, "%s%s:%" PRId64 "/%" PRId64 "/%" PRId64, i ? "," : "",
                          M.qrows[i].queue, M.qrows[i].waiting, M.qrows[i].invited,
                          M.qrows[i].handling);
        if (M.qrow_count == 0)
            cc_buf_puts(&b, "-");
    }
    printf("%s\n", b.data);
    fflush(stdout);
    cc_buf_free(&b);
}

static void on_summary(uv_timer_t *t)
{
    (void)t;
    print_summary("summary");
    send_qstatus();
}

/* A random queue, each with the probability of its weight. */
static int pick_queue(void)
{
    unsigned r = (unsigned)(tool_rand(&M.rng) % M.weight_sum);
    for (int i = 0; i < M.queue_count; i++) {
        if (r < M.queues[i].weight)
            return i;
        r -= M.queues[i].weight;
    }
    assert(0 && "weights sum to weight_sum");
    return 0;
}

static void run_abandons(uint64_t now)
{
    size_t i = 0;
    while (i < M.abandon_count && can_send_other()) {
        if (M.abandons[i].due_us > now) {
            i++;
            continue;
        }
        send_stop(M.abandons[i].id);
        /* Swap-remove: the order of the pending customers does not matter. */
        M.abandons[i] = M.abandons[--M.abandon_count];
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (M.stopping || !cc_client_is_up(M.client) || M.explain_count > 0)
        return;
    uint64_t now = cc_mono_us();
    while (M.redo_count > 0 && M.submits_in_flight < M.window) {
        ms_pending p = M.redo[--M.redo_count];
        send_submit(p.n, p.queue);
        M.resent++;
    }
    M.budget += M.rate * MS_TICK_MS / 1000.0;
    /* The budget is capped, so a stall never turns into a long burst. */
    if (M.budget > M.rate / 10 + 1)
        M.budget = M.rate / 10 + 1;
    while (M.budget >= 1 && M.submits_in_flight < M.window && (M.max == 0 || M.submitted < M.max)) {
        int q = pick_queue();
        send_submit(M.next_n++, q);
        M.queues[q].submitted++;
        M.submitted++;
        M.budget -= 1;
    }
    run_abandons(now);
}

static void finish(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (M.explain_count == 0)
        print_summary("final");
    else if (M.explain_left > 0)
        LOG_WARN("event=explain_unanswered count=%d", M.explain_left);
    cc_client_free(M.client);
    M.client = NULL;
    tool_close((uv_handle_t *)&M.tick);
    tool_close((uv_handle_t *)&M.summary);
    tool_stop_close(&M.stop);
    tool_close_net_later(&M.drain, &M.loop, &M.net);
}

/* While stopping, the tick waits for the answers in flight (bounded in time). */
static void on_drain_tick(uv_timer_t *t)
{
    (void)t;
    if (M.pending_count == 0 || !cc_client_is_up(M.client) ||
        cc_mono_us() - M.drain_start_us > MS_DRAIN_MS * 1000u)
        finish();
}

static void begin_stop(const char *why)
{
    if (M.stopping)
        return;
    M.stopping = true;
    LOG_INFO("event=stopping why=%s in_flight=%u", why, M.pending_count);
    M.drain_start_us = cc_mono_us();
    uv_timer_stop(&M.tick);
    uv_timer_start(&M.tick, on_drain_tick, MS_TICK_MS, MS_TICK_MS);
}

int main(int argc, char **argv)
{
    cc_log_init("mediasim", CC_LOG_INFO);
    if (!parse_args(argc, argv))
        return 2;
    if (!tool_tls_start(&M.tls, "mediasim"))
        return 2;
    M.run_id = cc_wall_us() ^ ((uint64_t)getpid() << 40);
    M.pending = xcalloc(MS_RING, sizeof *M.pending);
    M.redo = xcalloc(MS_RING, sizeof *M.redo);
    M.abandons = xcalloc(MS_MAX_ABANDONS, sizeof *M.abandons);
    tool_loop_init(&M.loop, &M.net);
    M.start_us = cc_mono_us();
    cc_client_config cfg = {
        .address = M.address,
        .client_type = "MediaServer",
        .client_name = M.name,
        .token = M.token,
        .tls = M.tls.ctx,
        .reconnect = true,
    };
    M.client = cc_client_new(&M.net, &cfg, &ms_client_ops, NULL);
    cc_client_start(M.client);
    LOG_INFO("event=start server=%s queues=%d rate=%.1f seconds=%u abandon=%.2f window=%u",
             M.address, M.queue_count, M.rate, M.seconds, M.abandon, M.window);
    uv_timer_init(&M.loop, &M.tick);
    uv_timer_start(&M.tick, on_tick, MS_TICK_MS, MS_TICK_MS);
    uv_timer_init(&M.loop, &M.summary);
    if (M.explain_count == 0)
        uv_timer_start(&M.summary, on_summary, MS_SUMMARY_MS, MS_SUMMARY_MS);
    tool_stop_start(&M.stop, &M.loop, M.seconds, begin_stop);
    int rc = tool_loop_run(&M.loop);
    tool_tls_free(&M.tls);
    if (rc != 0)
        LOG_WARN("event=loop_close_busy rc=%d", rc);
    free(M.pending);
    free(M.redo);
    free(M.abandons);
    return M.errors || M.explain_left > 0 ? 1 : 0;
}

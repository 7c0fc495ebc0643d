/* agentsim: simulates agents for the demo. Every agent holds one AgentApplication
 * connection on each interaction server given, logs in with that server's media, then at
 * random times changes readiness (ready, not ready with a reason, DND on and off) until
 * --seconds pass or SIGINT/SIGTERM arrives, and then logs out cleanly.
 *
 * Agents also work interactions: an EventInvite is accepted after a short random delay
 * (or, sometimes, rejected), held for a random handling time that depends on its media,
 * then finished with RequestStopProcessing; when the server answers with after-work
 * seconds, the agent sometimes ends after-work early with RequestCompleteAfterWork and
 * otherwise waits for EventInteractionEnded. EventRevoked and EventPartyRemoved drop the
 * interaction. At shutdown an agent turns DND on, finishes what it holds, then logs out.
 * One summary line per 5 seconds goes to stdout.
 *
 * Every agent also watches its capacity rule: it keeps the newest EventCurrentAgentStatus
 * received on each of its connections and what it holds on each server, and counts (and
 * logs, event=over_capacity) every invite that put it above its rule, judged by overcap
 * (tools/lib/overcap.h); the summary lines show the count as over_capacity=N. */
#include <assert.h>
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
#include "common/err.h"
#include "common/log.h"
#include "common/media.h"
#include "net/client.h"
#include "net/conn.h"
#include "proto/agentreq.h"
#include "proto/ixnmsg.h"
#include "proto/msg.h"
#include "lib/overcap.h"
#include "lib/tool.h"

/* Bounds on what the command line may ask for, so a typo cannot exhaust the machine. */
#define SIM_MAX_AGENTS 100000
#define SIM_MAX_SERVERS 8
#define SIM_MAX_MEDIA 16
#define SIM_SUMMARY_MS 5000
#define SIM_TICK_MS 10
#define SIM_LOGOUT_WAIT_MS 3000
#define SIM_RETRY_LOGIN_MS 2000
/* Interactions one connection keeps track of; an invite beyond it is rejected at once. */
#define SIM_MAX_HELD 64
/* Longest interaction id kept: "<serverName>:<9 digits>". */
#define SIM_IXN_ID_MAX (PROTO_ID_MAX + 16)
#define SIM_MAX_HANDLE 16
/* How long an invite judged above the rule waits for a later status from the server that
 * sent it: a server may route on a status before it forwards that status to the desktop,
 * so the status that allowed the invite can arrive just after it. */
#define SIM_CONFIRM_MS 300
/* How long an agent's interactions must have stayed as they are before a status counts
 * as evidence of whether the statserver counts after-work: a status computed before the
 * last change can arrive after it. */
#define SIM_SETTLE_MS 500

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

/* Where one interaction the agent was offered stands, seen from the desktop. */
typedef struct sim_ixn {
    char id[SIM_IXN_ID_MAX + 1];
    char media[CC_MEDIA_NAME_MAX + 1];
    /* CC_IXN_INVITED: accept (or reject) when due; CC_IXN_HANDLING: RequestStopProcessing
     * when due; CC_IXN_AFTER_WORK: RequestCompleteAfterWork when due, else the server ends
     * it; CC_IXN_ENDED: ended by an event while a request was in flight, so its answer is
     * dropped. */
    enum cc_ixn_state state;
    enum proto_ixn_req_kind req; /* the request in flight, when ref is not 0 */
    bool reject;                 /* the agent decided to reject this invite */
    uint64_t due_us;             /* when the next action is due; UINT64_MAX: none */
    int64_t ref;                 /* the request in flight for it, 0 when none */
    int media_id;                /* in S.media; negative when the table is full */
    uint64_t seq;                /* order of arrival among every invite of this process */
} sim_ixn;

/* Mean handling seconds of one media (--handle). */
typedef struct sim_handle {
    char media[CC_MEDIA_NAME_MAX + 1];
    double seconds;
} sim_handle;

typedef struct sim_server {
    const char *address;
    int media_count;
    char media[SIM_MAX_MEDIA][CC_MEDIA_NAME_MAX + 1];
} sim_server;

/* The newest EventCurrentAgentStatus received on one connection, and the window of the
 * statuses received there since the server's last invite that a status followed (the
 * statuses an invite is judged by, overcap.h). Statuses of different servers are not
 * compared: each server routes by the statuses it received and forwards them in the order
 * received. */
typedef struct sim_status {
    overcap_media media[CC_MEDIA_MAX];  /* by id in S.media */
    overcap_media window[CC_MEDIA_MAX]; /* by id in S.media; all zero when empty */
    bool window_closed; /* an invite came after the window's last status: the next status
                           starts a new window */
    bool valid;         /* false before the first and after the link went */
    bool reflects;      /* at its arrival it showed what the agent held */
    uint64_t mark;      /* the agent's change count at its arrival */
} sim_status;

/* What the over-capacity check keeps per simulated agent (over all its servers). */
typedef struct sim_agent {
    uint64_t changes;    /* +1 on every change of what it holds, on any server */
    uint64_t changed_us; /* when the last one happened */
} sim_agent;

/* An invite judged above the rule, waiting SIM_CONFIRM_MS for a later status. */
typedef struct sim_pending {
    size_t conn;
    int media;
    uint64_t seq; /* the invite's sim_ixn seq */
    overcap_verdict verdict;
    uint32_t held;     /* the agent's count of the media with the invite */
    uint32_t max_seen; /* the largest max of the media among the statuses that judged it */
    uint32_t current, available; /* of the status that judged it first, for the log */
    uint64_t due_us;
    char id[SIM_IXN_ID_MAX + 1];
} sim_pending;

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
    sim_ixn *held; /* SIM_MAX_HELD slots, allocated at the first invite */
    int nheld;
    bool drain_dnd;     /* at shutdown: DND on was asked for */
    sim_status *status; /* allocated at the first status */
} sim_conn;

typedef struct sim {
    uv_loop_t loop;
    cc_net net;
    uv_timer_t tick;
    uv_timer_t summary;
    uv_timer_t logout_timer;
    tool_stop stop; /* SIGINT, SIGTERM or --seconds */
    sim_server servers[SIM_MAX_SERVERS];
    int server_count;
    const char *token;
    tool_tls tls; /* --tls, --tls-ca, --tls-cert, --tls-key */
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
    sim_agent *agents; /* by agent number - first */
    cc_media_table media;
    overcap_votes aw_votes; /* whether the statserver counts after-work */
    overcap_aw aw_given;    /* --count-after-work; OVERCAP_AW_UNKNOWN when not given */
    sim_pending *pending;
    size_t npending, pending_cap;
    uint64_t ixn_seq;
    uint64_t over_capacity;
    bool stopping;
    uint64_t rng;
    uint64_t start_us;
    uint64_t logins, requests, errors, statuses, logouts;
    uint64_t invites, accepts, rejects, done, completed, revoked, removed, ended;
    double ready_p;     /* share of media an agent wants ready */
    double reject_p;    /* fraction of invites rejected */
    double early_p;     /* fraction of after-work ended early */
    unsigned accept_ms; /* longest delay before answering an invite */
    sim_handle handle[SIM_MAX_HANDLE];
    int handle_count;
    tool_drain drain;
} sim;

static sim S;

/* Reason codes the simulated agents give when they go not ready. */
static const struct {
    int code;
    const char *text;
} sim_reasons[] = {{1, "Break"}, {2, "Lunch"}, {3, "Training"}, {4, "Meeting"}, {5, "Coaching"}};
#define SIM_REASON_COUNT (sizeof sim_reasons / sizeof sim_reasons[0])

/* The not-ready reason r of the table, as requests carry it. */
static proto_reason sim_reason(unsigned r)
{
    return (proto_reason){
        .present = true, .code = sim_reasons[r].code, .description = sim_reasons[r].text};
}

/* The errorCode of an EventError (0 when it carries none). */
static int64_t error_code(proto_msg *msg)
{
    proto_error e;
    (void)proto_decode_error(msg, &e);
    return e.code;
}

static unsigned sim_below(unsigned n)
{
    return n ? (unsigned)(tool_rand(&S.rng) % n) : 0;
}

static double sim_unit(void)
{
    return tool_unit(&S.rng);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: agentsim --server HOST:PORT[,HOST:PORT...] --token T --tenant T\n"
               "                --agents FIRST-LAST --password-file F [--media LIST[/LIST...]]\n"
               "                [--seconds S] [--rate R] [--place-prefix P] [--seed N]\n"
               "  --media     comma-separated media for each server; '/' separates the lists of\n"
               "              successive servers (the last list serves the remaining servers)\n"
               "  --seconds   run time, 0 = until SIGINT (default 0)\n"
               "  --rate      state changes per second over all agents (default: agents / 2)\n"
               "  --handle    mean handling seconds per media, e.g. chat=20,email=40,voice=30\n"
               "              (defaults: voice 30, chat 20, email 40, others 20)\n"
               "  --reject    fraction 0..1 of invites rejected (default 0.05)\n"
               "  --accept-ms longest random delay before answering an invite (default 1500)\n"
               "  --early     fraction 0..1 of after-work ended early (default 0.5)\n"
               "  --ready     share 0..1 of media kept ready, at login and after (default 0.5)\n"
               "  --count-after-work yes|no  the statserver's option of that name, for the\n"
               "              over_capacity count (default: after-work is not counted)\n");
    fputs(TOOL_TLS_USAGE, f);
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

static bool parse_handle(const char *s)
{
    char *copy = xstrdup(s);
    bool ok = true;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        char *end = NULL;
        double v = eq ? strtod(eq + 1, &end) : 0;
        if (!eq || !cc_media_name_valid(tok, (size_t)(eq - tok)) || end == eq + 1 || *end ||
            !(v >= 0 && v <= 86400) || S.handle_count == SIM_MAX_HANDLE) {
            ok = false;
            break;
        }
        sim_handle *h = &S.handle[S.handle_count++];
        memcpy(h->media, tok, (size_t)(eq - tok));
        h->media[eq - tok] = '\0';
        h->seconds = v;
    }
    free(copy);
    return ok;
}

/* The mean handling time of a media: --handle, else a default that makes a call
 * shorter than an email. */
static double handle_mean_s(const char *media)
{
    for (int i = 0; i < S.handle_count; i++)
        if (strcmp(S.handle[i].media, media) == 0)
            return S.handle[i].seconds;
    if (strcmp(media, "voice") == 0)
        return 30;
    if (strcmp(media, "email") == 0)
        return 40;
    return 20;
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
        {"handle", required_argument, NULL, 'H'},
        {"reject", required_argument, NULL, 'R'},
        {"accept-ms", required_argument, NULL, 'A'},
        {"early", required_argument, NULL, 'E'},
        {"ready", required_argument, NULL, 'y'},
        {"count-after-work", required_argument, NULL, 'W'},
        TOOL_TLS_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *servers = NULL, *agents = NULL, *pwfile = NULL, *media = "voice,chat,email";
    S.token = "";
    S.tenant = "Resources";
    S.place_prefix = "P";
    S.rate = -1;
    S.reject_p = 0.05;
    S.ready_p = 0.5;
    S.early_p = 0.5;
    S.accept_ms = 1500;
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
        case 'H':
            if (!parse_handle(optarg)) {
                fprintf(stderr, "agentsim: --handle must be MEDIA=SECONDS[,...], at most %d\n",
                        SIM_MAX_HANDLE);
                return false;
            }
            break;
        case 'R': S.reject_p = strtod(optarg, NULL); break;
        case 'A': S.accept_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'E': S.early_p = strtod(optarg, NULL); break;
        case 'y': S.ready_p = strtod(optarg, NULL); break;
        case 'W':
            if (strcmp(optarg, "yes") == 0) {
                S.aw_given = OVERCAP_AW_YES;
            } else if (strcmp(optarg, "no") == 0) {
                S.aw_given = OVERCAP_AW_NO;
            } else {
                fprintf(stderr, "agentsim: --count-after-work must be yes or no\n");
                return false;
            }
            break;
        case 'h': usage(stdout); exit(0);
        default:
            if (tool_tls_opt(&S.tls, c, optarg))
                break;
            usage(stderr);
            return false;
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
    if (!tool_read_password("agentsim", pwfile, S.password, sizeof S.password,
                            "no password on its first line"))
        return false;
    if (!(S.reject_p >= 0 && S.reject_p <= 1) || !(S.early_p >= 0 && S.early_p <= 1) ||
        !(S.ready_p >= 0 && S.ready_p <= 1) || S.accept_ms > 600000) {
        fprintf(stderr, "agentsim: --reject, --early and --ready are fractions 0..1, "
                        "--accept-ms at most 600000\n");
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
    uint32_t ready = 0;
    for (int i = 0; i < srv->media_count; i++)
        if (sim_unit() < S.ready_p)
            ready |= 1u << i;
    proto_areq_login l = {.tenant = S.tenant,
                          .agent_id = id,
                          .place_id = place,
                          .password = S.password,
                          .nmedia = srv->media_count};
    for (int i = 0; i < srv->media_count; i++)
        l.media[i] = (proto_areq_media){srv->media[i], (ready >> i) & 1u};
    cc_buf b;
    cc_buf_init(&b);
    proto_areq_enc_login(&b, &l);
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
    proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_LOGOUT});
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
        proto_areq_enc(&b, &(proto_areq){.kind = sc->dnd ? PROTO_AREQ_DND_OFF : PROTO_AREQ_DND_ON});
        send_request(sc, &b, sc->dnd ? SIM_REQ_DND_OFF : SIM_REQ_DND_ON, -1);
    } else if ((sc->ready_mask & (1u << m)) && sim_unit() < S.ready_p) {
        /* Kept ready: with --ready near 1 agents stay available and fill up. */
    } else if (roll < 14 && !(sc->ready_mask & (1u << m))) {
        unsigned r = sim_below(SIM_REASON_COUNT);
        proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_CHANGE_REASON,
                                         .media = srv->media[m],
                                         .reason = sim_reason(r)});
        send_request(sc, &b, SIM_REQ_REASON, m);
    } else if (sc->ready_mask & (1u << m)) {
        unsigned r = sim_below(SIM_REASON_COUNT);
        proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_NOT_READY,
                                         .media = srv->media[m],
                                         .reason = sim_reason(r)});
        send_request(sc, &b, SIM_REQ_NOTREADY, m);
    } else {
        proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_READY, .media = srv->media[m]});
        send_request(sc, &b, SIM_REQ_READY, m);
    }
    cc_buf_free(&b);
}

/* ---- over capacity ----
 *
 * An invite of media m puts the agent above its rule when, with it, the agent holds more
 * of m than the max of m (capacity-rules.md section 3), or when it came although the
 * newest status said available 0 for m while that status was up to date with everything
 * the agent held. The counts are the agent's own, summed over all its servers, as the
 * statserver counts them (section 2): Invited and Handling always; AfterWork only when
 * the statserver's count-after-work option is on. A desktop cannot read that option: it is
 * given (--count-after-work), or else after-work is left out, which can only miss an
 * over-capacity invite, never invent one. Statuses cannot show that after-work counts (a
 * status that counts a reservation granted for an invite still in flight looks the same,
 * overcap_aw_mode), but those that leave out what the agent has held in after-work for a
 * while show that it does not (overcap_aw_evidence), so that such a status can be up to
 * date for the check of `available`.
 *
 * For the same reason an interaction with a request in flight (being rejected, stopped
 * or completed) is not counted: the server may have ended it before it sent the invite.
 * Nor is the status's current plus one used: a status sent at the grant of this invite's
 * reservation already counts it (overcap.h). */

static sim_agent *agent_of(const sim_conn *sc)
{
    return &S.agents[sc->agent - S.first];
}

/* What the agent holds changed (an interaction came, went, or changed state). */
static void agent_changed(const sim_conn *sc)
{
    sim_agent *a = agent_of(sc);
    a->changes++;
    a->changed_us = cc_mono_us();
}

/* What the agent of sc holds over all its connections, per media id, of the interactions
 * that arrived before the invite numbered before_seq. Returns false when some
 * interaction could not be counted for sure (a request in flight, an unknown media). */
static bool agent_held(const sim_conn *sc, uint64_t before_seq, overcap_held held[CC_MEDIA_MAX])
{
    memset(held, 0, sizeof(overcap_held) * CC_MEDIA_MAX);
    bool sure = true;
    const sim_conn *first = &S.conns[(size_t)(sc->agent - S.first) * (size_t)S.server_count];
    for (int s = 0; s < S.server_count; s++) {
        const sim_conn *c = &first[s];
        for (int i = 0; i < c->nheld; i++) {
            const sim_ixn *x = &c->held[i];
            if (x->seq >= before_seq)
                continue;
            if (x->media_id < 0) {
                sure = false;
                continue;
            }
            if (x->ref != 0 && x->req != PROTO_IXN_REQ_ACCEPT) {
                /* Being rejected, stopped or completed: maybe gone on the server. */
                sure = false;
                continue;
            }
            switch (x->state) {
            case CC_IXN_INVITED: /* also while accepted: Invited or Handling, both count */
            case CC_IXN_HANDLING: held[x->media_id].active++; break;
            case CC_IXN_AFTER_WORK: held[x->media_id].after_work++; break;
            default: sure = false; break; /* ended by an event, its answer awaited */
            }
        }
    }
    return sure;
}

/* How the statserver counts after-work, as far as the desktop knows. */
static overcap_aw aw_mode(void)
{
    return S.aw_given != OVERCAP_AW_UNKNOWN ? S.aw_given : overcap_aw_mode(&S.aw_votes);
}

static const char *verdict_name(overcap_verdict v)
{
    return v == OVERCAP_ABOVE_MAX ? "above_max" : "none_available";
}

/* Judges an invite just added to sc's interactions, before it is counted as a change. */
static void judge_invite(sim_conn *sc, const sim_ixn *x)
{
    const sim_status *st = sc->status;
    if (!st || !st->valid || x->media_id < 0)
        return;
    overcap_held held[CC_MEDIA_MAX];
    agent_held(sc, x->seq, held);
    uint32_t n = overcap_count(&held[x->media_id], aw_mode()) + 1;
    overcap_media view = overcap_window_view(&st->media[x->media_id], &st->window[x->media_id]);
    const overcap_media *m = &view;
    bool reflecting = st->reflects && st->mark == agent_of(sc)->changes;
    overcap_verdict v = overcap_judge(m, n, reflecting);
    if (v == OVERCAP_OK)
        return;
    if (S.npending == S.pending_cap) {
        S.pending_cap = S.pending_cap ? 2 * S.pending_cap : 16;
        S.pending = xrealloc(S.pending, S.pending_cap * sizeof *S.pending);
    }
    sim_pending *p = &S.pending[S.npending++];
    memset(p, 0, sizeof *p);
    p->conn = (size_t)(sc - S.conns);
    p->media = x->media_id;
    p->seq = x->seq;
    p->verdict = v;
    p->held = n;
    p->max_seen = m->max;
    p->current = m->current;
    p->available = m->available;
    p->due_us = cc_mono_us() + SIM_CONFIRM_MS * 1000u;
    snprintf(p->id, sizeof p->id, "%s", x->id);
}

/* A status arrived on connection conn: the invites waiting there stay above the rule only
 * when it shows them so too. */
static void pending_on_status(size_t conn, const sim_status *st)
{
    for (size_t i = 0; i < S.npending;) {
        sim_pending *p = &S.pending[i];
        if (p->conn != conn) {
            i++;
            continue;
        }
        const overcap_media *m = &st->media[p->media];
        if (overcap_confirms(m, p->held)) {
            p->verdict = OVERCAP_ABOVE_MAX;
            if (m->max > p->max_seen)
                p->max_seen = m->max;
            i++;
        } else {
            S.pending[i] = S.pending[--S.npending];
        }
    }
}

/* Gives the last word on the invites whose wait is over (all of them when all is set). */
static void pending_check(bool all)
{
    uint64_t now = cc_mono_us();
    for (size_t i = 0; i < S.npending;) {
        sim_pending *p = &S.pending[i];
        if (!all && now < p->due_us) {
            i++;
            continue;
        }
        const sim_conn *sc = &S.conns[p->conn];
        overcap_held held[CC_MEDIA_MAX];
        agent_held(sc, p->seq, held);
        uint32_t n = overcap_count(&held[p->media], aw_mode()) + 1;
        if (n > p->held)
            n = p->held;
        if (overcap_final(p->verdict, p->held, n, p->max_seen)) {
            S.over_capacity++;
            LOG_WARN("event=over_capacity agent=%d server=%s interaction=%s media=%s why=%s "
                     "held=%u max=%u status_current=%u status_available=%u",
                     sc->agent, S.servers[sc->server].address, p->id,
                     cc_media_name(&S.media, p->media), verdict_name(p->verdict), p->held,
                     p->max_seen, p->current, p->available);
        }
        S.pending[i] = S.pending[--S.npending];
    }
}

static const char *aw_name(overcap_aw aw)
{
    return aw == OVERCAP_AW_YES ? "yes" : aw == OVERCAP_AW_NO ? "no" : "unknown";
}

static void on_status(sim_conn *sc, proto_msg *msg)
{
    proto_agent_status st;
    char id[32];
    snprintf(id, sizeof id, "%d", sc->agent);
    if (proto_decode_status(msg, &S.media, true, &st) != 0) {
        S.errors++;
        LOG_WARN("event=bad_status agent=%d why=\"%s\"", sc->agent, msg->desc);
        return;
    }
    if (strcmp(st.agent_id, id) != 0) {
        S.errors++;
        LOG_WARN("event=bad_status agent=%d why=\"status of another agent\"", sc->agent);
        return;
    }
    if (!sc->status)
        sc->status = xcalloc(1, sizeof *sc->status);
    sim_status *ss = sc->status;
    for (int i = 0; i < CC_MEDIA_MAX; i++) {
        overcap_media *m = &ss->media[i];
        m->listed = (st.media >> i) & 1u;
        m->ready = m->listed && st.ready[i];
        m->current = m->listed ? st.current[i] : 0;
        m->max = m->listed ? st.max[i] : 0;
        m->available = m->listed ? st.available[i] : 0;
    }
    ss->valid = true;
    if (ss->window_closed) {
        memset(ss->window, 0, sizeof ss->window);
        ss->window_closed = false;
    }
    for (int i = 0; i < CC_MEDIA_MAX; i++)
        overcap_window_add(&ss->window[i], &ss->media[i]);
    const sim_agent *a = agent_of(sc);
    overcap_held held[CC_MEDIA_MAX];
    bool sure = agent_held(sc, UINT64_MAX, held);
    size_t n = (size_t)S.media.count;
    ss->reflects = sure && overcap_reflects(ss->media, held, n, aw_mode());
    ss->mark = a->changes;
    if (S.aw_given == OVERCAP_AW_UNKNOWN && sure &&
        cc_mono_us() - a->changed_us >= SIM_SETTLE_MS * 1000u) {
        overcap_aw before = overcap_aw_mode(&S.aw_votes);
        overcap_vote(&S.aw_votes, overcap_aw_evidence(ss->media, held, n));
        overcap_aw now = overcap_aw_mode(&S.aw_votes);
        if (now != before)
            LOG_INFO("event=after_work_counted value=%s votes_yes=%u votes_no=%u", aw_name(now),
                     S.aw_votes.yes, S.aw_votes.no);
    }
    pending_on_status((size_t)(sc - S.conns), ss);
}

static int ixn_find(const sim_conn *sc, const char *id)
{
    for (int i = 0; i < sc->nheld; i++)
        if (strcmp(sc->held[i].id, id) == 0)
            return i;
    return -1;
}

static void ixn_remove(sim_conn *sc, int i)
{
    assert(i >= 0 && i < sc->nheld);
    sc->held[i] = sc->held[--sc->nheld];
    agent_changed(sc);
}

/* Sends one request about an interaction; its answer is matched by ref in ixn_answer. */
static void ixn_send(sim_conn *sc, sim_ixn *x, enum proto_ixn_req_kind kind)
{
    proto_ixn_req r = {.kind = kind, .interaction_id = x->id};
    if (kind == PROTO_IXN_REQ_REJECT)
        r.reason = S.stopping ? "LoggingOut" : "Busy";
    cc_buf b;
    cc_buf_init(&b);
    proto_ixn_enc_req(&b, &r);
    int64_t ref = cc_client_request(sc->client, &b);
    cc_buf_free(&b);
    if (ref <= 0)
        return;
    S.requests++;
    x->ref = ref;
    x->req = kind;
    x->due_us = UINT64_MAX;
    agent_changed(sc);
}

static void on_invite(sim_conn *sc, proto_msg *msg)
{
    proto_ixn_invite inv;
    int rc = proto_ixn_decode_invite(msg, &inv);
    const char *id = inv.interaction_id, *media = inv.media;
    S.invites++;
    if (rc != 0 || strlen(id) > SIM_IXN_ID_MAX || strlen(media) > CC_MEDIA_NAME_MAX) {
        S.errors++;
        LOG_WARN("event=bad_invite agent=%d", sc->agent);
        return;
    }
    if (ixn_find(sc, id) >= 0) {
        S.errors++;
        LOG_WARN("event=invite_twice agent=%d interaction=%s", sc->agent, id);
        return;
    }
    if (!sc->held)
        sc->held = xcalloc(SIM_MAX_HELD, sizeof *sc->held);
    if (sc->nheld == SIM_MAX_HELD) {
        /* Nowhere to keep it: it cannot be tracked, so it is left to the invite timeout. */
        LOG_WARN("event=too_many_held agent=%d interaction=%s", sc->agent, id);
        return;
    }
    sim_ixn *x = &sc->held[sc->nheld++];
    memset(x, 0, sizeof *x);
    snprintf(x->id, sizeof x->id, "%s", id);
    snprintf(x->media, sizeof x->media, "%s", media);
    x->state = CC_IXN_INVITED;
    /* An agent that is leaving, or one that decides so now, rejects the invite. */
    x->reject = S.stopping || sc->phase != SIM_LOGGED_IN || sim_unit() < S.reject_p;
    x->due_us =
        cc_mono_us() + (x->reject ? 0 : 100000u) + (uint64_t)sim_below(S.accept_ms + 1u) * 1000u;
    int mid = cc_media_intern(&S.media, media, strlen(media));
    x->media_id = mid >= 0 ? mid : -1;
    x->seq = ++S.ixn_seq;
    judge_invite(sc, x);
    if (sc->status)
        sc->status->window_closed = true;
    agent_changed(sc);
}

/* An event ended (or withdrew) an interaction the agent held. */
static void on_ixn_gone(sim_conn *sc, const proto_ixn_event *ev, uint64_t *counter)
{
    int i = ixn_find(sc, ev->interaction_id);
    (*counter)++;
    if (i < 0)
        return;
    if (sc->held[i].ref != 0) {
        sc->held[i].state = CC_IXN_ENDED; /* its answer still comes; drop it then */
        agent_changed(sc);
    } else {
        ixn_remove(sc, i);
    }
}

/* The answer to an interaction request, if it is one: true when it was. */
static bool ixn_answer(sim_conn *sc, proto_msg *msg, bool ok)
{
    int i = -1;
    for (int k = 0; k < sc->nheld; k++)
        if (sc->held[k].ref == msg->ref) {
            i = k;
            break;
        }
    if (i < 0)
        return false;
    sim_ixn *x = &sc->held[i];
    x->ref = 0;
    /* Every answer moves the interaction on (or ends it). */
    agent_changed(sc);
    if (x->state == CC_IXN_ENDED) {
        /* The customer left or the invite timed out while the request travelled. */
        ixn_remove(sc, i);
        return true;
    }
    if (!ok) {
        S.errors++;
        LOG_WARN("event=interaction_request_failed agent=%d interaction=%s state=%s request=%d "
                 "error=%" PRId64,
                 sc->agent, x->id, cc_ixn_state_name(x->state), (int)x->req, error_code(msg));
        ixn_remove(sc, i);
        return true;
    }
    uint64_t now = cc_mono_us();
    switch (x->req) {
    case PROTO_IXN_REQ_ACCEPT: {
        S.accepts++;
        double mean = handle_mean_s(x->media);
        x->state = CC_IXN_HANDLING;
        x->due_us = now + (uint64_t)(mean * (0.5 + sim_unit()) * 1e6);
        if (S.stopping)
            x->due_us = now;
        break;
    }
    case PROTO_IXN_REQ_REJECT:
        S.rejects++;
        ixn_remove(sc, i);
        break;
    case PROTO_IXN_REQ_STOP: {
        S.done++;
        /* A malformed afterWorkSec reads as 0: the interaction ended. */
        int64_t sec;
        (void)proto_ixn_decode_stopped(msg, &sec);
        if (sec <= 0) {
            ixn_remove(sc, i);
            break;
        }
        x->state = CC_IXN_AFTER_WORK;
        /* Some agents finish their notes early; the others wait for the server's timer. */
        if (S.stopping)
            x->due_us = now;
        else if (sim_unit() < S.early_p)
            x->due_us = now + (uint64_t)((double)sec * (0.2 + 0.6 * sim_unit()) * 1e6);
        else
            x->due_us = UINT64_MAX;
        break;
    }
    case PROTO_IXN_REQ_COMPLETE:
        S.completed++;
        ixn_remove(sc, i);
        break;
    default:
        /* The simulator sends no other request on an interaction. */
        assert(0 && "answer to a request the simulator does not send");
    }
    return true;
}

/* Takes the actions that are due on a connection's interactions. */
static void ixn_work(sim_conn *sc, uint64_t now)
{
    if (!cc_client_is_up(sc->client))
        return;
    for (int i = 0; i < sc->nheld; i++) {
        sim_ixn *x = &sc->held[i];
        if (x->ref != 0 || (x->due_us > now && !S.stopping))
            continue;
        switch (x->state) {
        case CC_IXN_INVITED:
            if (x->reject || S.stopping)
                ixn_send(sc, x, PROTO_IXN_REQ_REJECT);
            else
                ixn_send(sc, x, PROTO_IXN_REQ_ACCEPT);
            break;
        case CC_IXN_HANDLING: ixn_send(sc, x, PROTO_IXN_REQ_STOP); break;
        case CC_IXN_AFTER_WORK: ixn_send(sc, x, PROTO_IXN_REQ_COMPLETE); break;
        default: break;
        }
    }
}

/* At shutdown: DND on (so nothing new is routed), finish what is held, then log out. */
static void drain(sim_conn *sc)
{
    if (sc->phase != SIM_LOGGING_OUT || sc->req != SIM_REQ_NONE || !cc_client_is_up(sc->client))
        return;
    if (!sc->dnd && !sc->drain_dnd) {
        sc->drain_dnd = true;
        cc_buf b;
        cc_buf_init(&b);
        proto_areq_enc(&b, &(proto_areq){.kind = PROTO_AREQ_DND_ON});
        send_request(sc, &b, SIM_REQ_DND_ON, -1);
        cc_buf_free(&b);
        return;
    }
    ixn_work(sc, cc_mono_us());
    if (sc->nheld == 0)
        send_logout(sc);
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
    int64_t err = ok ? 0 : error_code(msg);
    if (!ok && req == SIM_REQ_LOGOUT && err == 10 && S.stopping) {
        /* An invite arrived before the logout: finish it, then log out again. */
        sc->phase = SIM_LOGGING_OUT;
        return;
    }
    if (!ok) {
        S.errors++;
        LOG_WARN("event=request_failed agent=%d server=%s request=%d error=%" PRId64, sc->agent,
                 S.servers[sc->server].address, (int)req, err);
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
            if (ok) {
                sc->phase = SIM_LOGGING_OUT;
                drain(sc);
            } else {
                sc->phase = SIM_DONE;
            }
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
    uint32_t bit = sc->req_media >= 0 ? 1u << sc->req_media : 0;
    if (ok && req == SIM_REQ_READY)
        sc->ready_mask |= bit;
    else if (ok && req == SIM_REQ_NOTREADY)
        sc->ready_mask &= ~bit;
    else if (ok && req == SIM_REQ_DND_ON)
        sc->dnd = true;
    else if (ok && req == SIM_REQ_DND_OFF)
        sc->dnd = false;
    /* The logout waited for this answer so requests stay one at a time. */
    if (S.stopping && sc->phase == SIM_LOGGING_OUT)
        drain(sc);
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
    proto_ixn_event ev;
    bool ack = strcmp(msg->name, "EventAck") == 0;
    bool err = strcmp(msg->name, "EventError") == 0;
    if ((ack || err) && sc->req != SIM_REQ_NONE && msg->ref == sc->req_ref) {
        on_answer(sc, ack, msg);
    } else if ((ack || err) && msg->ref > 0 && ixn_answer(sc, msg, ack)) {
        if (S.stopping)
            drain(sc);
    } else if (err) {
        S.errors++;
    } else if (strcmp(msg->name, "EventCurrentAgentStatus") == 0) {
        S.statuses++;
        on_status(sc, msg);
    } else if (strcmp(msg->name, "EventInvite") == 0) {
        on_invite(sc, msg);
    } else if (proto_ixn_decode_event(msg, &ev) == 0) {
        uint64_t *counter[] = {[PROTO_IXN_REVOKED] = &S.revoked,
                               [PROTO_IXN_PARTY_REMOVED] = &S.removed,
                               [PROTO_IXN_ENDED] = &S.ended};
        on_ixn_gone(sc, &ev, counter[ev.kind]);
    }
}

static void on_down(cc_client *c, const char *why)
{
    (void)why;
    sim_conn *sc = cc_client_user(c);
    sc->req = SIM_REQ_NONE;
    sc->req_ref = 0;
    /* The server takes back what the agent held when the link went (after its grace). */
    sc->nheld = 0;
    agent_changed(sc);
    if (sc->status) {
        /* A new link starts with no status and an empty window. */
        sc->status->valid = false;
        memset(sc->status->window, 0, sizeof sc->status->window);
        sc->status->window_closed = false;
    }
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
    size_t up = 0, in = 0, held = 0;
    for (size_t i = 0; i < S.nconns; i++) {
        held += (size_t)S.conns[i].nheld;
        if (S.conns[i].client && cc_client_is_up(S.conns[i].client))
            up++;
        if (S.conns[i].phase == SIM_LOGGED_IN)
            in++;
    }
    printf("agentsim %s t=%" PRIu64 "s agents=%d connections=%zu up=%zu logged_in=%zu "
           "logins=%" PRIu64 " requests=%" PRIu64 " errors=%" PRIu64 " statuses=%" PRIu64
           " logouts=%" PRIu64 " invites=%" PRIu64 " accepts=%" PRIu64 " rejects=%" PRIu64
           " done=%" PRIu64 " completed=%" PRIu64 " ended=%" PRIu64 " revoked=%" PRIu64
           " removed=%" PRIu64 " held=%zu over_capacity=%" PRIu64 "\n",
           when, (cc_mono_us() - S.start_us + 500000u) / 1000000u, S.last - S.first + 1, S.nconns,
           up, in, S.logins, S.requests, S.errors, S.statuses, S.logouts, S.invites, S.accepts,
           S.rejects, S.done, S.completed, S.ended, S.revoked, S.removed, held, S.over_capacity);
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
    uint64_t now = cc_mono_us();
    pending_check(false);
    if (S.stopping) {
        for (size_t i = 0; i < S.nconns; i++)
            drain(&S.conns[i]);
        return;
    }
    for (size_t i = 0; i < S.nconns; i++) {
        sim_conn *sc = &S.conns[i];
        if (sc->phase == SIM_LOGIN_WAIT && now >= sc->retry_at_us && cc_client_is_up(sc->client))
            send_login(sc);
        if (sc->nheld)
            ixn_work(sc, now);
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

/* Everything is logged out (or gone): free the clients and let the loop end. */
static void finish(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    /* Invites still waiting for a later status are judged as they stand. */
    pending_check(true);
    print_summary("final");
    for (size_t i = 0; i < S.nconns; i++) {
        cc_client_free(S.conns[i].client);
        S.conns[i].client = NULL;
    }
    tool_close((uv_handle_t *)&S.tick);
    tool_close((uv_handle_t *)&S.summary);
    tool_close((uv_handle_t *)&S.logout_timer);
    tool_stop_close(&S.stop);
    tool_close_net_later(&S.drain, &S.loop, &S.net);
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
    for (size_t i = 0; i < S.nconns; i++) {
        sim_conn *sc = &S.conns[i];
        if (sc->phase == SIM_LOGGED_IN) {
            /* The tick drains it: DND on, what it holds finished, then the logout (which
             * waits for any answer in flight, so requests stay one at a time). */
            sc->phase = SIM_LOGGING_OUT;
            drain(sc);
        } else if (sc->phase != SIM_LOGGING_IN) {
            sc->phase = SIM_DONE;
        }
    }
    uv_timer_start(&S.logout_timer, on_logout_timeout, SIM_LOGOUT_WAIT_MS, 0);
    check_all_out();
}

int main(int argc, char **argv)
{
    cc_log_init("agentsim", CC_LOG_INFO);
    if (!parse_args(argc, argv))
        return 2;
    if (!tool_tls_start(&S.tls, "agentsim"))
        return 2;
    tool_loop_init(&S.loop, &S.net);
    S.start_us = cc_mono_us();
    int agents = S.last - S.first + 1;
    S.nconns = (size_t)agents * (size_t)S.server_count;
    S.conns = xcalloc(S.nconns, sizeof *S.conns);
    S.agents = xcalloc((size_t)agents, sizeof *S.agents);
    cc_media_init(&S.media);
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
                .tls = S.tls.ctx,
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
    uv_timer_init(&S.loop, &S.logout_timer);
    tool_stop_start(&S.stop, &S.loop, S.seconds, begin_stop);
    int rc = tool_loop_run(&S.loop);
    tool_tls_free(&S.tls);
    if (rc != 0)
        LOG_WARN("event=loop_close_busy rc=%d", rc);
    explicit_bzero(S.password, sizeof S.password);
    for (size_t i = 0; i < S.nconns; i++) {
        free(S.conns[i].held);
        free(S.conns[i].status);
    }
    free(S.conns);
    free(S.agents);
    free(S.pending);
    free(S.server_list);
    return 0;
}

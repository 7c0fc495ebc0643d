/* statserver: the reporting engine. Connects to every configured interaction server as
 * a ReportingEngine, merges each agent's state over them, evaluates the agent's capacity
 * rule and sends the status back (protocol.md sections 5 and 6); serves StatClients on
 * its own port (section 8). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/stat.h>
#include <uv.h>

#include "cc_version.h"
#include "common/alloc.h"
#include "common/base64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/media.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/creds.h"
#include "net/netmetrics.h"
#include "net/turnw.h"
#include "net/tls.h"
#include "net/web.h"
#include "proto/statmsg.h"
#include "proto/msg.h"
#include "rules/rules.h"
#include "stat/stat_agents.h"
#include "stat/stat_config.h"
#include "stat/stat_ha.h"
#include "stat/stat_links.h"
#include "stat/stat_metrics.h"
#include "stat/stat_port.h"
#include "stat/stat_report.h"
#include "stat/stat_stats.h"
#include "stat/stat_stream.h"
#include "store/hist.h"
#include "common/clock.h"

/* How long a clean shutdown waits for queued output before the loop is stopped. */
#define SHUTDOWN_GRACE_MS 200
/* How often the history's pending rows are committed: the contract's "at least once a
 * second" with room for a slow turn. */
#define HIST_COMMIT_MS 250
/* Rows of history past history-days deleted per commit tick at most, so that a large
 * backlog (history-days lowered, a long stop) is worked off without a long pause. */
#define HIST_PURGE_ROWS 2000
/* Reports streamed over HTTP at once at most: each runs an engine with a day of history,
 * so a crowd of them would cost the memory and time of the live one many times over. */
#define STAT_REPORTS_AT_ONCE 4
/* Rows replayed per cursor call at start. */
#define HIST_REPLAY_ROWS 4096

typedef struct stat_daemon {
    uv_loop_t *loop;
    cc_net net;
    stat_config cfg;
    cc_media_table media;
    rules_set *rules;
    stat_agents *agents;
    stat_stats *stats;
    stat_links *links;
    stat_port *port;
    hist *hist;        /* NULL without a data-dir */
    stat_ha *ha;       /* the pair's lease; NULL without [nats] */
    uint64_t withheld; /* statuses a standby did not send, kept when the links go */
    uv_timer_t hist_timer;
    uint64_t hist_failures_logged;
    uint64_t hist_written_seen; /* rows_written at the last purge */
    unsigned reports_open;      /* reports being streamed over HTTP */
    cc_web *web;                /* NULL without an http key */
    cc_metrics *metrics;        /* GET /metrics */
    stat_stream *stream;        /* the status stream on NATS; NULL without it */
    tls_ctx *tls_listen;        /* NULL without TLS */
    tls_ctx *tls_http;          /* NULL without TLS or without an http key */
    uv_signal_t sig_hup, sig_int, sig_term;
    uv_timer_t shutdown_timer;
    bool stopping;
} stat_daemon;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: statserver -c FILE              run with the configuration FILE\n"
            "       statserver --check-config -c FILE\n"
            "                                       validate FILE and its rules file, then exit\n"
            "       statserver --check-rules FILE   print the rules FILE in normal form, or its\n"
            "                                       errors (exit 1)\n"
            "       statserver --report queues|agents --from T1 --to T2 --interval S -c FILE\n"
            "                                       print an interval report of the history as\n"
            "                                       CSV (T: ISO 8601 or Unix ms; S: seconds, a\n"
            "                                       multiple of 300)\n"
            "       statserver --help | --version\n"
            "options: -v, --verbose                 debug logging\n"
            "SIGHUP reloads the rules file; SIGINT and SIGTERM stop the server.\n");
}

/* Reads a whole rules file, refusing one over the language's size limit before reading
 * it. Returns 0 with *text (owned) and *len, or CC_E_IO / CC_E_LIMIT_EXCEEDED with a
 * line in diag. */
static int read_rules_file(const char *path, char **text, size_t *len, cc_buf *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cc_buf_printf(diag, "%s: error: cannot open: %s\n", path, strerror(errno));
        return CC_E_IO;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        cc_buf_printf(diag, "%s: error: not a regular file\n", path);
        fclose(f);
        return CC_E_IO;
    }
    if ((uint64_t)sb.st_size > RULES_FILE_MAX) {
        cc_buf_printf(diag, "%s: error: larger than %u bytes\n", path, RULES_FILE_MAX);
        fclose(f);
        return CC_E_LIMIT_EXCEEDED;
    }
    size_t size = (size_t)sb.st_size;
    char *buf = xmalloc(size + 1);
    size_t got = fread(buf, 1, size, f);
    bool err = ferror(f) != 0;
    fclose(f);
    if (err || got != size) {
        cc_buf_printf(diag, "%s: error: read failed\n", path);
        free(buf);
        return CC_E_IO;
    }
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return 0;
}

/* Loads and compiles a rules file; every message goes to diag. */
static int load_rules(const char *path, cc_media_table *media, rules_set **out, cc_buf *diag)
{
    char *text;
    size_t len;
    *out = NULL;
    int rc = read_rules_file(path, &text, &len, diag);
    if (rc)
        return rc;
    rc = rules_parse(text, len, path, media, out, diag);
    free(text);
    return rc;
}

static void print_diag(FILE *f, const cc_buf *diag)
{
    if (diag->len) {
        fwrite(diag->data, 1, diag->len, f);
        if (diag->data[diag->len - 1] != '\n')
            fputc('\n', f);
    }
}

/* Logs each line of diag as its own event. */
static void log_diag(const char *event, const cc_buf *diag)
{
    const char *p = diag->data, *end = diag->data + diag->len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n)
            LOG_ERROR("event=%s detail=%s", event, LOGQN(p, n));
        p = nl ? nl + 1 : end;
    }
}

static int check_rules(const char *path)
{
    cc_media_table media;
    cc_media_init(&media);
    rules_set *set;
    cc_buf diag, out;
    cc_buf_init(&diag);
    cc_buf_init(&out);
    int rc = load_rules(path, &media, &set, &diag);
    if (rc == 0) {
        rules_format(set, &media, &out);
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
    }
    print_diag(stderr, &diag);
    rules_free(set);
    cc_buf_free(&diag);
    cc_buf_free(&out);
    return rc == 0 ? 0 : 1;
}

/* Loads the configured rules (or the empty set when none is configured); prints the
 * errors to stderr. */
static int initial_rules(stat_daemon *d)
{
    if (!d->cfg.rules_path) {
        d->rules = rules_empty(&d->media);
        return 0;
    }
    cc_buf diag;
    cc_buf_init(&diag);
    int rc = load_rules(d->cfg.rules_path, &d->media, &d->rules, &diag);
    print_diag(stderr, &diag);
    cc_buf_free(&diag);
    if (rc)
        fprintf(stderr, "statserver: error: rules file %s is not valid\n", d->cfg.rules_path);
    return rc;
}

static void reload_rules(stat_daemon *d)
{
    if (!d->cfg.rules_path) {
        LOG_INFO("event=rules_reload_skipped why=\"no rules file configured\"");
        return;
    }
    rules_set *set;
    cc_buf diag;
    cc_buf_init(&diag);
    int rc = load_rules(d->cfg.rules_path, &d->media, &set, &diag);
    if (rc) {
        log_diag("rules_error", &diag);
        LOG_ERROR("event=rules_reload_failed path=%s error=%s kept=old", d->cfg.rules_path,
                  cc_err_name(rc));
    } else {
        rules_set *old = d->rules;
        d->rules = set;
        stat_agents_set_rules(d->agents, set);
        rules_free(old);
        LOG_INFO("event=rules_reloaded path=%s", d->cfg.rules_path);
    }
    cc_buf_free(&diag);
}

/* Whether the agent is this statserver's: of its [server] tenants and its partition (the
 * stream's resynchronisation deletes stale keys of these only). */
static bool owns_agent(void *user, const char *tenant, const char *agent_id)
{
    const stat_config *cfg = &((stat_daemon *)user)->cfg;
    if (cfg->tenants) {
        bool found = false;
        for (size_t i = 0; i < cfg->ntenants && !found; i++)
            found = strcmp(cfg->tenants[i], tenant) == 0;
        if (!found)
            return false;
    }
    return cfg->part_count <= 1 ||
           cc_partition_of(tenant, agent_id, cfg->part_count) == cfg->part_index;
}

/* The lease thread decided a new role: the servers hear of it first, then a new primary
 * sends every agent's status, since the servers dropped what the previous one sent: the
 * first slice now, the rest paced by each server's reading (stat_links_resend). */
static void on_role(void *user, bool primary, int64_t epoch)
{
    stat_daemon *d = user;
    if (d->stopping || !d->links)
        return;
    uint64_t started = cc_mono_us();
    stat_links_set_mode(d->links, true, primary, epoch);
    size_t sent = primary ? stat_links_resend(d->links) : 0;
    stat_stream_role(d->stream, primary, epoch);
    LOG_INFO("event=role role=%s epoch=%" PRId64 " agents_sent=%zu elapsed_ms=%.1f",
             primary ? "primary" : "standby", epoch, sent,
             (double)(cc_mono_us() - started) / 1000.0);
}

static void sink_link_send(void *user, int link, cc_sbuf *body, int64_t version)
{
    stat_daemon *d = user;
    stat_links_send(d->links, link, body, version);
}

static void sink_publish(void *user, const char *tenant, cc_sbuf *body)
{
    stat_daemon *d = user;
    stat_port_publish(d->port, tenant, body);
}

static void sink_changed(void *user, const char *tenant, const char *agent_id, bool known,
                         cc_sbuf *body)
{
    stat_daemon *d = user;
    stat_stream_changed(d->stream, tenant, agent_id, known, body);
}

static void sink_reserved(void *user, int link, int64_t reservation_id, bool granted)
{
    stat_daemon *d = user;
    if (d->links)
        stat_links_send_reserved(d->links, link, reservation_id, granted);
}

static void sink_agent(void *user, const stat_agents_view *view)
{
    stat_daemon *d = user;
    /* The view's own clock reading: the status's since, the State statistic and the
     * history row agree to the millisecond. */
    int64_t now = view->at;
    uint64_t t0 = cc_turnw_begin();
    stat_stats_agent(d->stats, view, now);
    cc_turnw_end("stats_agent", t0);
    if (d->hist) {
        t0 = cc_turnw_begin();
        hist_agent(d->hist, now, view);
        cc_turnw_end("hist_agent", t0);
    }
}

/* Commits the history's pending rows and purges a bounded number of old ones. A failure
 * is logged once per tick at most, with the running count, and never stops the daemon. */
static void on_hist_timer(uv_timer_t *t)
{
    stat_daemon *d = t->data;
    uint64_t t0 = cc_turnw_begin();
    hist_commit(d->hist);
    cc_turnw_end("hist_commit", t0);
    stat_metrics_hist_committed(d->hist);
    int64_t now = (int64_t)(cc_wall_us() / 1000);
    /* Twice what was written since the last tick on top: the purge keeps up with any
     * steady flow, and a backlog shrinks by HIST_PURGE_ROWS a tick at least. */
    uint64_t written = hist_get_stats(d->hist).rows_written;
    size_t max_rows = HIST_PURGE_ROWS + (size_t)(2 * (written - d->hist_written_seen));
    d->hist_written_seen = written;
    t0 = cc_turnw_begin();
    hist_purge(d->hist, now - (int64_t)d->cfg.history_days * 86400000, max_rows);
    cc_turnw_end("hist_purge", t0);
    hist_stats hs = hist_get_stats(d->hist);
    if (hs.rows_failed > d->hist_failures_logged) {
        LOG_ERROR("event=history_write_failed rows_lost=%" PRIu64 " commit_failures=%" PRIu64,
                  hs.rows_failed, hs.commit_failures);
        d->hist_failures_logged = hs.rows_failed;
    }
}

/* The link index of the configured server name, or -1 (a server no longer configured:
 * its history is not replayed). */
static int link_of(const stat_daemon *d, const char *server)
{
    for (int i = 0; i < d->cfg.ixn_count; i++)
        if (strcmp(d->cfg.ixns[i].name, server) == 0)
            return i;
    return -1;
}

static void replay_ixn(void *user, int64_t now, int link, const char *server,
                       const proto_ixr_event *e)
{
    (void)link;
    stat_daemon *d = user;
    int l = link_of(d, server);
    if (l >= 0)
        stat_stats_ixn(d->stats, l, d->cfg.ixns[l].name, e, now);
}

static void replay_agent(void *user, int64_t now, const stat_agents_view *v)
{
    stat_daemon *d = user;
    stat_stats_agent(d->stats, v, now);
}

static void replay_link(void *user, int64_t now, enum hist_link_kind kind, int link,
                        const char *server)
{
    (void)link;
    stat_daemon *d = user;
    int l = link_of(d, server);
    if (l < 0)
        return;
    if (kind == HIST_LINK_UP)
        stat_stats_link_up(d->stats, l);
    else if (kind == HIST_SNAPSHOT_DONE)
        stat_stats_snapshot_done(d->stats, l, now);
    else
        stat_stats_link_down(d->stats, l, now);
}

/* Local midnight (in the zone TZ names) of the day of t, Unix ms. */
static int64_t local_midnight(int64_t t)
{
    time_t secs = (time_t)(t / 1000);
    struct tm tm;
    localtime_r(&secs, &tm);
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000;
}

/* Opens the history and replays into the engine what the day and the sliding windows
 * (at most 24 hours) need: everything since the earlier of local midnight and 24 hours
 * ago. Runs before StatClients are served, so that the first value of a day statistic
 * already counts what happened before a restart. */
static int open_history(stat_daemon *d)
{
    cc_buf err;
    cc_buf_init(&err);
    int rc = hist_open(d->cfg.data_dir, &d->media, &d->hist, &err);
    if (rc) {
        LOG_ERROR("event=history_open_failed dir=%s error=%s", LOGQ(d->cfg.data_dir),
                  LOGQN(err.data, err.len));
        cc_buf_free(&err);
        return rc;
    }
    int64_t now = (int64_t)(cc_wall_us() / 1000);
    int64_t from = local_midnight(now);
    if (now - 86400000 < from)
        from = now - 86400000;
    int64_t t0 = (int64_t)cc_mono_us();
    hist_cursor *c;
    rc = hist_cursor_open(d->cfg.data_dir, &d->media, from, INT64_MAX, &c, &err);
    uint64_t rows = 0, skipped = 0;
    if (rc == 0) {
        hist_sink sink = {replay_ixn, replay_agent, replay_link, d};
        int n;
        while ((n = hist_cursor_next(c, &sink, HIST_REPLAY_ROWS, INT64_MAX)) > 0)
            rows += (uint64_t)n;
        skipped = hist_cursor_skipped(c);
        hist_cursor_close(c);
        rc = n < 0 ? n : 0;
    }
    if (rc) {
        LOG_ERROR("event=history_replay_failed dir=%s rows=%" PRIu64 " error=%s",
                  LOGQ(d->cfg.data_dir), rows, LOGQN(err.data, err.len));
    } else {
        LOG_INFO("event=history_replayed dir=%s from=%" PRId64 " rows=%" PRIu64 " skipped=%" PRIu64
                 " elapsed_ms=%.1f",
                 LOGQ(d->cfg.data_dir), from, rows, skipped,
                 (double)((int64_t)cc_mono_us() - t0) / 1000.0);
    }
    cc_buf_free(&err);
    return rc;
}

static void on_shutdown_timer(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void shutdown_daemon(stat_daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    LOG_INFO("event=shutdown why=%s", why);
    /* First, so that the other member of a pair takes over while this one closes. */
    stat_ha_stop(d->ha);
    stat_stream_stop(d->stream);
    d->withheld = stat_links_withheld(d->links);
    stat_links_free(d->links);
    d->links = NULL;
    stat_port_close(d->port);
    cc_web_stop(d->web);
    d->web = NULL;
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    if (d->hist)
        uv_close((uv_handle_t *)&d->hist_timer, NULL);
    /* Sessions are closing and flush what they queued; the timer bounds the wait. */
    uv_timer_init(d->loop, &d->shutdown_timer);
    uv_timer_start(&d->shutdown_timer, on_shutdown_timer, SHUTDOWN_GRACE_MS, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    stat_daemon *d = h->data;
    if (signum == SIGHUP) {
        reload_rules(d);
        /* Renewed certificates are read again from the same files, for later
         * connections. */
        if (d->tls_listen)
            tls_ctx_reload(d->tls_listen);
        if (d->tls_http)
            tls_ctx_reload(d->tls_http);
        if (d->links)
            stat_links_reload_tls(d->links);
    } else
        shutdown_daemon(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Every StatClient and link is a descriptor; the default soft limit (often 1024) is too
 * low for a busy reporting engine. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t want = rl.rlim_max;
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        LOG_WARN("event=rlimit_nofile_failed error=\"%s\"", strerror(errno));
}

static void start_signal(stat_daemon *d, uv_signal_t *h, int signum)
{
    uv_signal_init(d->loop, h);
    h->data = d;
    uv_signal_start(h, on_signal, signum);
}

/* GET /wallboard-config.json: what the wallboard needs before it connects. It names no
 * queue: the page is open to everyone, and a wallboard asks for its tenants' queues with
 * RequestQueueList once registered. */
static int web_page(void *user, const char *path, cc_buf *body, const char **type)
{
    stat_daemon *d = user;
    if (strcmp(path, "/wallboard-config.json") != 0)
        return CC_E_NOT_FOUND;
    const char **names = xcalloc((size_t)d->cfg.ixn_count + 1, sizeof *names);
    for (int i = 0; i < d->cfg.ixn_count; i++)
        names[i] = d->cfg.ixns[i].name;
    proto_stat_wb_config c = {.server_name = d->cfg.name,
                              .servers = names,
                              .nservers = (size_t)d->cfg.ixn_count,
                              .sl_target = d->cfg.sl_target,
                              .sl_threshold = d->cfg.sl_threshold_s};
    proto_stat_enc_wb_config(body, &c);
    free(names);
    *type = "application/json";
    return 0;
}

/* True when the Authorization value presents the configured token ("Bearer TOKEN"); a
 * statserver with an empty token asks for none, as on its StatClient port, and one with
 * [clients] and no token serves no report (a report covers every tenant). The comparison
 * takes the same time wherever the values differ. */
static bool bearer_ok(const char *token, const char *auth)
{
    if (!token)
        return false;
    if (!*token)
        return true;
    if (!auth || strncmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7;
    size_t n = strlen(token), m = strlen(given);
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(token[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

/* A report being streamed, and the daemon whose count of them it holds. */
typedef struct web_report {
    stat_daemon *d;
    stat_report *r;
} web_report;

static int report_next(void *state, cc_buf *out)
{
    web_report *w = state;
    return stat_report_next(w->r, out);
}

static void report_free(void *state)
{
    web_report *w = state;
    w->d->reports_open--;
    stat_report_free(w->r);
    free(w);
}

static const cc_web_stream_ops report_ops = {.next = report_next, .free = report_free};

/* Both ways a report may be asked for: the [server] token, or a StatClient's name and
 * secret. */
#define REPORT_AUTH_HEADERS                                                                        \
    "WWW-Authenticate: Bearer\r\nWWW-Authenticate: Basic realm=\"reports\"\r\n"

/* Starts the report rr for whoever asked (name NULL: the [server] token), or refuses it
 * while STAT_REPORTS_AT_ONCE are made. */
static cc_web_stream_answer report_start(stat_daemon *d, const stat_report_req *rr,
                                         const char *name)
{
    if (d->reports_open >= STAT_REPORTS_AT_ONCE)
        return (cc_web_stream_answer){.status = 503, .why = "reports are busy: try again later"};
    LOG_INFO("event=report kind=%s from=%" PRId64 " to=%" PRId64 " interval=%" PRId64 " client=%s",
             rr->kind == STAT_REPORT_QUEUES ? "queues" : "agents", rr->from, rr->to, rr->interval_s,
             name ? LOGQ(name) : "-");
    web_report *w = xmalloc(sizeof *w);
    w->d = d;
    w->r =
        stat_report_new(d->cfg.data_dir, rr, d->cfg.sl_threshold_s, (int64_t)(cc_wall_us() / 1000));
    d->reports_open++;
    return (cc_web_stream_answer){
        .status = 200, .type = "text/csv; charset=utf-8", .ops = &report_ops, .state = w};
}

/* A report asked with HTTP Basic credentials of a StatClient of [clients], while its
 * secret is checked on the thread pool: a check costs tens of milliseconds of CPU, which
 * the loop must not spend. */
typedef struct report_check {
    uv_work_t work;
    stat_daemon *d;
    cc_web_later *later;
    const cc_cred *cred;
    stat_report_req rr;
    bool ok;
    char secret[PROTO_TEXT_MAX + 1];
} report_check;

/* "Basic base64(NAME:SECRET)" naming a StatClient of [clients]: true with *cred and the
 * secret. Anything else (another scheme, a name not listed) is false. */
static bool basic_cred(const stat_daemon *d, const char *auth, const cc_cred **cred, char *secret,
                       size_t cap)
{
    if (!auth || strncmp(auth, "Basic ", 6) != 0)
        return false;
    const char *b64 = auth + 6;
    while (*b64 == ' ')
        b64++;
    uint8_t raw[PROTO_ID_MAX + PROTO_TEXT_MAX + 2];
    long n = cc_base64_decode(b64, strlen(b64), raw, sizeof raw - 1);
    if (n <= 0)
        return false;
    raw[n] = '\0';
    char *colon = memchr(raw, ':', (size_t)n);
    if (!colon || colon == (char *)raw || colon - (char *)raw > PROTO_ID_MAX ||
        memchr(raw, '\0', (size_t)n) || strlen(colon + 1) >= cap)
        return false;
    *colon = '\0';
    const cc_cred *c = cc_creds_find(&d->cfg.clients, (const char *)raw);
    bool ok = c && c->type == CC_CLIENT_STAT;
    if (ok) {
        *cred = c;
        snprintf(secret, cap, "%s", colon + 1);
    }
    explicit_bzero(raw, sizeof raw);
    return ok;
}

static void report_check_work(uv_work_t *w)
{
    report_check *c = w->data;
    c->ok = cc_creds_verify(c->secret, c->cred->hash);
}

static void report_check_done(uv_work_t *w, int status)
{
    report_check *c = w->data;
    stat_daemon *d = c->d;
    cc_server *srv = stat_port_server(d->port);
    srv->secret_checks--;
    explicit_bzero(c->secret, sizeof c->secret);
    cc_web_stream_answer ans;
    if (status < 0 || d->stopping) {
        ans = (cc_web_stream_answer){.status = 503, .why = "cannot check the secret now"};
    } else if (!c->ok) {
        LOG_WARN("event=report_refused name=%s why=secret", LOGQ(c->cred->name));
        ans = (cc_web_stream_answer){
            .status = 401, .why = "unknown client or wrong secret", .extra = REPORT_AUTH_HEADERS};
    } else {
        ans = report_start(d, &c->rr, c->cred->name);
    }
    cc_web_later_answer(c->later, &ans);
    free(c);
}

/* GET /reports/queues.csv and /reports/agents.csv: streamed from the history, to the
 * holder of the [server] token (every tenant) or to a StatClient of [clients] by HTTP
 * Basic NAME:SECRET (its tenants' rows only), whose secret is checked on the thread pool
 * under the daemon's max-secret-checks like a registration's. */
static int web_stream(void *user, const cc_web_request *req, cc_web_stream_answer *ans)
{
    stat_daemon *d = user;
    if (strncmp(req->path, "/reports/", 9) != 0)
        return CC_E_NOT_FOUND;
    enum stat_report_kind kind;
    stat_report_req rr;
    const char *why = NULL;
    const cc_cred *cred = NULL;
    char secret[PROTO_TEXT_MAX + 1];
    bool by_name = basic_cred(d, req->authorization, &cred, secret, sizeof secret);
    cc_server *srv = stat_port_server(d->port);
    unsigned max_checks =
        srv->max_secret_checks ? srv->max_secret_checks : CC_SESSION_SECRET_CHECKS_MAX;
    if (!by_name && !bearer_ok(d->cfg.token, req->authorization)) {
        *ans = (cc_web_stream_answer){
            .status = 401,
            .why = "reports need Authorization: Bearer TOKEN, or Basic with a StatClient's "
                   "name and secret",
            .extra = REPORT_AUTH_HEADERS};
    } else if (stat_report_kind_of(req->path, &kind) != 0) {
        *ans = (cc_web_stream_answer){.status = 404, .why = "no such report"};
    } else if (!d->cfg.data_dir) {
        *ans = (cc_web_stream_answer){.status = 404, .why = "no history is kept (no data-dir)"};
    } else if (rr = (stat_report_req){.kind = kind},
               stat_report_parse_query(req->query, &rr, &why) != 0) {
        *ans = (cc_web_stream_answer){.status = 400, .why = why};
    } else if (!by_name) {
        *ans = report_start(d, &rr, NULL);
    } else if (srv->secret_checks >= max_checks) {
        LOG_WARN("event=report_refused name=%s why=busy", LOGQ(cred->name));
        *ans = (cc_web_stream_answer){.status = 503,
                                      .why = "too many secrets being checked: try again later"};
    } else {
        report_check *c = xcalloc(1, sizeof *c);
        c->work.data = c;
        c->d = d;
        c->later = req->later;
        c->cred = cred;
        c->rr = rr;
        c->rr.tenants = cred->tenants.all ? NULL : &cred->tenants;
        memcpy(c->secret, secret, sizeof c->secret);
        if (uv_queue_work(d->loop, &c->work, report_check_work, report_check_done) < 0) {
            explicit_bzero(c->secret, sizeof c->secret);
            free(c);
            *ans = (cc_web_stream_answer){.status = 503, .why = "cannot check the secret now"};
        } else {
            srv->secret_checks++;
            *ans = (cc_web_stream_answer){.status = CC_WEB_LATER};
        }
    }
    if (by_name)
        explicit_bzero(secret, sizeof secret);
    return 0;
}

/* statserver --report: the same CSV as over HTTP, from the history read-only (the daemon
 * may be running), to stdout. */
static int run_report(const stat_config *cfg, const char *kind_s, const char *from, const char *to,
                      const char *interval)
{
    stat_report_req rr = {0};
    const char *why = NULL;
    char path[64];
    snprintf(path, sizeof path, "/reports/%s.csv", kind_s);
    if (stat_report_kind_of(path, &rr.kind) != 0) {
        fprintf(stderr, "statserver: error: --report takes queues or agents, not %s\n", kind_s);
        return 2;
    }
    cc_buf q;
    cc_buf_init(&q);
    cc_buf_printf(&q, "from=%s&to=%s&interval=%s", from, to, interval);
    int rc = strchr(from, '&') || strchr(to, '&') || strchr(interval, '&')
                 ? CC_E_INVALID_ATTRIBUTE
                 : stat_report_parse_query(q.data, &rr, &why);
    cc_buf_free(&q);
    if (rc) {
        fprintf(stderr, "statserver: error: %s\n", why ? why : "bad --from, --to or --interval");
        return 2;
    }
    if (!cfg->data_dir) {
        fprintf(stderr, "statserver: error: %s has no data-dir: no history is kept\n", cfg->path);
        return 1;
    }
    setenv("TZ", cfg->timezone, 1);
    tzset();
    stat_report *r =
        stat_report_new(cfg->data_dir, &rr, cfg->sl_threshold_s, (int64_t)(cc_wall_us() / 1000));
    cc_buf out;
    cc_buf_init(&out);
    do {
        rc = stat_report_next(r, &out);
        if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
            rc = CC_E_IO;
        cc_buf_reset(&out);
    } while (rc == 1);
    cc_buf_free(&out);
    stat_report_free(r);
    if (fflush(stdout) != 0)
        rc = CC_E_IO;
    if (rc < 0) {
        fprintf(stderr, "statserver: error: the history of %s cannot be read (%s)\n", cfg->data_dir,
                cc_err_name(rc));
        return 1;
    }
    return 0;
}

/* The TLS contexts of both ports, from [server] tls-cert, tls-key and tls-ca: the
 * StatClient port verifies client certificates against tls-ca when it is set; browsers on
 * the http port are never asked for one. */
static int start_tls(stat_daemon *d)
{
    if (!tls_conf_on(&d->cfg.tls))
        return 0;
    tls_files f = {d->cfg.tls.cert, d->cfg.tls.key, d->cfg.tls.ca};
    char err[512];
    if (tls_ctx_new(&d->tls_listen, TLS_SERVER, &f, "listen", err, sizeof err) != 0 ||
        (d->cfg.http &&
         tls_ctx_new(&d->tls_http, TLS_SERVER_NO_PEER, &f, "http", err, sizeof err) != 0)) {
        LOG_ERROR("event=tls_failed what=start why=%s", LOGQ(err));
        return CC_E_CONFIG;
    }
    char desc[256];
    LOG_INFO("event=tls_on cert=%s verify_clients=%s",
             LOGQ(tls_ctx_describe(d->tls_listen, desc, sizeof desc)), f.ca ? "yes" : "no");
    return 0;
}

static int run(stat_daemon *d)
{
    d->loop = uv_default_loop();
    cc_net_init(&d->net, d->loop);
    stat_sink sink = {.link_send = sink_link_send,
                      .publish = sink_publish,
                      .reserved = sink_reserved,
                      .agent = sink_agent,
                      .changed = sink_changed,
                      .user = d};
    /* The day profile's midnight is that of the configured zone (localtime_r). */
    setenv("TZ", d->cfg.timezone, 1);
    tzset();
    d->stats = stat_stats_new(&(stat_stats_config){
        .media = &d->media,
        .threshold_s = d->cfg.sl_threshold_s,
        .sliding_keep_s = d->cfg.sliding_keep_s > 0 ? (int64_t)d->cfg.sliding_keep_s : -1});
    if (d->cfg.data_dir && open_history(d) != 0)
        return 1;
    d->agents = stat_agents_new(&d->media, d->rules, d->cfg.count_after_work, d->cfg.ixn_count,
                                d->cfg.max_agents, &sink);
    if (start_tls(d) != 0)
        return 1;
    d->links = stat_links_new(&d->net, &d->cfg, &d->media, d->agents);
    if (!d->links)
        return 1;
    stat_links_set_stats(d->links, d->stats);
    stat_links_set_hist(d->links, d->hist);
    if (d->hist) {
        uv_timer_init(d->loop, &d->hist_timer);
        d->hist_timer.data = d;
        uv_timer_start(&d->hist_timer, on_hist_timer, HIST_COMMIT_MS, HIST_COMMIT_MS);
    }
    d->port = stat_port_new(&d->net, &d->cfg, d->agents, d->links, d->stats, &d->media);
    d->metrics = cc_metrics_new();
    cc_netm_init(d->metrics, &d->net, stat_port_server(d->port));
    cc_turnw_start(d->loop, "statserver", 5);
    LOG_INFO("event=huge_pages on=%s", cc_heap_huge_pages_start() ? "yes" : "no");
    stat_metrics_init(d->metrics, d->agents, d->links, d->stats, d->hist, d->cfg.data_dir);
    stat_port_server(d->port)->tls = d->tls_listen;
    int port;
    int rc = stat_port_listen(d->port, &port);
    if (rc < 0) {
        LOG_ERROR("event=listen_failed address=%s error=\"%s\"", d->cfg.listen, uv_strerror(rc));
        return 1;
    }
    LOG_INFO("event=listening name=%s address=%s port=%d links=%d rules=%s tenants=%s "
             "partition=%" PRIu32 "/%" PRIu32,
             d->cfg.name, d->cfg.listen, port, d->cfg.ixn_count,
             d->cfg.rules_path ? d->cfg.rules_path : "(none)", d->cfg.tenants ? "some" : "all",
             d->cfg.part_index, d->cfg.part_count);
    const char *keys[] = {"tcp", "http"};
    int values[] = {port, 0};
    int nports = 1;
    static cc_web_config web_cfg;
    if (d->cfg.http) {
        web_cfg = (cc_web_config){.listen = d->cfg.http,
                                  .allowed_origins = d->cfg.allowed_origins,
                                  .server = stat_port_server(d->port),
                                  .bundle = &cc_web_bundle_wallboard,
                                  .page = web_page,
                                  .page_user = d,
                                  .stream = web_stream,
                                  .stream_user = d,
                                  .idle_timeout_s = d->cfg.idle_timeout_s,
                                  .header_timeout_s = d->cfg.limits.http_header_timeout_s,
                                  .max_connections = d->cfg.limits.http_max_connections,
                                  .max_per_address = d->cfg.limits.http_max_per_address,
                                  .metrics = d->metrics,
                                  .metrics_token = d->cfg.limits.metrics_token,
                                  .health = stat_metrics_health,
                                  .tls = d->tls_http};
        rc = cc_web_start(&d->web, &d->net, &web_cfg, &values[1]);
        if (rc < 0) {
            LOG_ERROR("event=listen_failed address=%s error=\"%s\"", d->cfg.http,
                      rc == CC_E_CONFIG ? "bad allowed-origins" : uv_strerror(rc));
            return 1;
        }
        nports = 2;
    }
    if (d->cfg.port_file) {
        if (cc_write_port_file(d->cfg.port_file, keys, values, nports) != 0) {
            LOG_ERROR("event=port_file_failed path=%s", d->cfg.port_file);
            return 1;
        }
    }
    start_signal(d, &d->sig_hup, SIGHUP);
    start_signal(d, &d->sig_int, SIGINT);
    start_signal(d, &d->sig_term, SIGTERM);
    if (d->cfg.nats.on) {
        /* A member of a pair starts as standby: nothing it computes reaches the servers
         * until it wins the lease. */
        stat_links_set_mode(d->links, true, false, 0);
        if (d->cfg.nats.stream) {
            d->stream = stat_stream_start(d->loop, &d->cfg.nats, d->agents, d->cfg.max_agents,
                                          stat_metrics_stream_lag);
            if (!d->stream)
                return 1;
            stat_stream_set_owner(d->stream, owns_agent, d);
            stat_metrics_stream(d->metrics, d->stream);
        }
        d->ha = stat_ha_start(d->loop, &d->cfg.nats, on_role, d);
        if (!d->ha)
            return 1;
        stat_metrics_pair(d->metrics, d->ha);
    }
    stat_links_start(d->links);
    uv_run(d->loop, UV_RUN_DEFAULT);
    if (d->hist) {
        hist_stats hs = hist_get_stats(d->hist);
        LOG_INFO("event=history_stats rows_written=%" PRIu64 " transactions=%" PRIu64
                 " rows_lost=%" PRIu64 " rows_purged=%" PRIu64 " max_commit_us=%" PRId64
                 " checkpoints=%" PRIu64 " checkpoint_failures=%" PRIu64
                 " max_checkpoint_us=%" PRId64,
                 hs.rows_written, hs.transactions, hs.rows_failed, hs.rows_purged, hs.max_commit_us,
                 hs.checkpoints, hs.checkpoint_failures, hs.max_checkpoint_us);
    }
    if (d->ha) {
        stat_ha_stats hs = stat_ha_get_stats(d->ha);
        LOG_INFO("event=pair_stats role=%s epoch=%" PRId64 " promotions=%" PRIu64
                 " demotions=%" PRIu64 " renewals=%" PRIu64 " renew_failures=%" PRIu64
                 " statuses_withheld=%" PRIu64,
                 hs.primary ? "primary" : "standby", hs.epoch, hs.promotions, hs.demotions,
                 hs.renewals, hs.renew_failures, d->withheld);
    }
    if (d->stream) {
        stat_stream_stats ss = stat_stream_get_stats(d->stream);
        LOG_INFO("event=stream_stats bucket=%s published=%" PRIu64 " deleted=%" PRIu64
                 " errors=%" PRIu64 " dropped=%" PRIu64 " resyncs=%" PRIu64
                 " dirty=%zu in_flight=%zu active_s=%.3f published_per_s=%.0f"
                 " lag_p50_ms=%.2f lag_p99_ms=%.2f lag_max_ms=%.2f peak_per_s=%.0f"
                 " peak_lag_p50_ms=%.2f peak_lag_p99_ms=%.2f last5_per_s=%.0f"
                 " last5_lag_p50_ms=%.2f last5_lag_p99_ms=%.2f",
                 d->cfg.nats.status_bucket, ss.published, ss.deleted, ss.errors, ss.dropped,
                 ss.resyncs, ss.dirty, ss.inflight, ss.active_s,
                 ss.active_s > 0 ? (double)ss.published / ss.active_s : 0.0, ss.lag_p50_ms,
                 ss.lag_p99_ms, ss.lag_max_ms, ss.peak_per_s, ss.peak_lag_p50_ms,
                 ss.peak_lag_p99_ms, ss.last5_per_s, ss.last5_lag_p50_ms, ss.last5_lag_p99_ms);
    }
    stat_agents_stats sst = stat_agents_get_stats(d->agents);
    LOG_INFO("event=stopped events=%" PRIu64 " statuses_encoded=%" PRIu64
             " statuses_to_servers=%" PRIu64 " statuses_published=%" PRIu64 " reservations=%" PRIu64
             " granted=%" PRIu64 " refused=%" PRIu64 " released=%" PRIu64 " expired=%" PRIu64,
             sst.events, sst.encoded, sst.link_sends, sst.published, sst.reserve_asked,
             sst.reserve_granted, sst.reserve_refused, sst.reserve_released, sst.reserve_expired);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *rules_file = NULL;
    const char *report = NULL, *from = NULL, *to = NULL, *interval = NULL;
    bool check_config = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(a, "--report") == 0 && i + 1 < argc) {
            report = argv[++i];
        } else if (strcmp(a, "--from") == 0 && i + 1 < argc) {
            from = argv[++i];
        } else if (strcmp(a, "--to") == 0 && i + 1 < argc) {
            to = argv[++i];
        } else if (strcmp(a, "--interval") == 0 && i + 1 < argc) {
            interval = argv[++i];
        } else if (strcmp(a, "--check-config") == 0) {
            check_config = true;
        } else if (strcmp(a, "--check-rules") == 0 && i + 1 < argc) {
            rules_file = argv[++i];
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("statserver %s (git %s, protocol %d)\n", CC_VERSION, CC_GIT_REVISION,
                   PROTO_VERSION);
            return 0;
        } else {
            fprintf(stderr, "statserver: error: unexpected argument %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (rules_file)
        return check_rules(rules_file);
    if (!config) {
        fprintf(stderr, "statserver: error: no configuration file (-c FILE)\n");
        usage(stderr);
        return 2;
    }
    if (report && (!from || !to || !interval)) {
        fprintf(stderr, "statserver: error: --report needs --from, --to and --interval\n");
        return 2;
    }
    cc_log_init("statserver", verbose ? CC_LOG_DEBUG : CC_LOG_INFO);
    if (report) {
        stat_config cfg;
        int rc = stat_config_load(config, &cfg);
        if (rc == 0)
            rc = run_report(&cfg, report, from, to, interval);
        else
            rc = 1;
        stat_config_free(&cfg);
        return rc;
    }
    static stat_daemon d; /* static: reachable until exit, and zeroed */
    cc_media_init(&d.media);
    int rc = stat_config_load(config, &d.cfg);
    if (rc == 0)
        rc = initial_rules(&d);
    if (check_config) {
        if (rc == 0)
            printf("statserver: %s: configuration OK (%d interaction servers, rules %s)\n", config,
                   d.cfg.ixn_count, d.cfg.rules_path ? d.cfg.rules_path : "(none)");
        else
            fprintf(stderr, "statserver: %s: configuration is not valid\n", config);
        rules_free(d.rules);
        stat_config_free(&d.cfg);
        return rc == 0 ? 0 : 1;
    }
    if (rc) {
        stat_config_free(&d.cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    rc = run(&d);
    /* The links are gone: nothing records after this, and the last rows are committed. */
    stat_stream_free(d.stream);
    stat_ha_free(d.ha);
    hist_close(d.hist);
    stat_agents_free(d.agents);
    stat_stats_free(d.stats);
    rules_free(d.rules);
    stat_config_free(&d.cfg);
    cc_metrics_free(d.metrics);
    tls_ctx_free(d.tls_listen);
    tls_ctx_free(d.tls_http);
    return rc;
}

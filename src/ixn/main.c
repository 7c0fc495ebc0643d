/* ixnserver: the interaction server. Owns agent state (protocol sections 1-6), reports
 * it to reporting engines and forwards their statuses to the agents' desktops. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "cc_version.h"
#include "common/alloc.h"
#include "common/err.h"
#include "common/log.h"
#include "ixn/ixn_agents.h"
#include "ixn/ixn_config.h"
#include "ixn/ixn_ixn.h"
#include "ixn/ixn_metrics.h"
#include "ixn/ixn_reload.h"
#include "ixn/ixn_passwd.h"
#include "ixn/ixn_super.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/netmetrics.h"
#include "net/turnw.h"
#include "net/session.h"
#include "net/tls.h"
#include "net/web.h"
#include "proto/jw.h"
#include "proto/msg.h"

/* The process's single server; the signal and accept callbacks reach it from here. */
static struct {
    ixn_config cfg;
    cc_net net;
    cc_server cs;
    ixn_server srv;
    uv_tcp_t listener;
    cc_web *web; /* NULL without an http key */
    cc_web_config web_cfg;
    cc_metrics *metrics; /* GET /metrics */
    tls_ctx *tls_listen; /* NULL without TLS */
    tls_ctx *tls_http;   /* NULL without TLS or without an http key */
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t stop_timer;
    bool stopping;
} g;

static void usage(FILE *f)
{
    fprintf(f, "usage: ixnserver -c FILE                 run the interaction server\n"
               "       ixnserver --check-config -c FILE  validate FILE and exit\n"
               "       ixnserver --hash-password [--rounds N]\n"
               "                                         read a password line from stdin, print "
               "its crypt(3) hash\n"
               "       ixnserver --help | --version\n");
}

/* More descriptors than the usual soft limit of 1,024 are needed for benchmarks with
 * thousands of desktops, and the hard limit is ours to take. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            LOG_WARN("event=rlimit_failed what=nofile");
    }
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Accepts through the session layer, unless max-connections is reached: then the peer
 * gets EventError 12 as its first message and is closed at once. */
static void on_connection(uv_stream_t *l, int status)
{
    if (status >= 0 && g.cfg.max_connections && g.srv.conns >= g.cfg.max_connections) {
        uv_tcp_t *t = xmalloc(sizeof *t);
        uv_tcp_init(l->loop, t);
        /* Over TLS the refusal would need a handshake first: the close says enough. */
        if (uv_accept(l, (uv_stream_t *)t) == 0 && !g.cs.tls) {
            cc_buf b;
            cc_buf_init(&b);
            proto_enc_error(&b, 0, CC_E_LIMIT_EXCEEDED, "max-connections reached");
            cc_buf_puts(&b, ",\"seq\":1}\n");
            uv_buf_t ub = uv_buf_init(b.data, (unsigned)b.len);
            (void)uv_try_write((uv_stream_t *)t, &ub, 1);
            cc_buf_free(&b);
        }
        g.srv.stats.conns_refused++;
        LOG_WARN("event=conn_refused reason=max_connections limit=%u", g.cfg.max_connections);
        uv_close((uv_handle_t *)t, on_refused_closed);
        return;
    }
    uint64_t before = g.net.stats.accepted;
    cc_server_on_connection(l, status);
    if (g.net.stats.accepted != before)
        g.srv.conns++;
}

static void on_stop_timer(uv_timer_t *t)
{
    (void)t;
    uv_stop(g.net.loop);
}

/* SIGHUP reloads the configuration (docs/routing.md, "Reloading"): the directory, skills,
 * queues, targets and options apply without dropping a connection; a broken file changes
 * nothing. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    if (g.stopping)
        return;
    /* Renewed certificates are read again from the same files; open connections keep
     * the ones they started with. */
    if (g.tls_listen)
        tls_ctx_reload(g.tls_listen);
    if (g.tls_http)
        tls_ctx_reload(g.tls_http);
    /* A rotation moved the audit log away: the next lines go to a new file of that name. */
    ixn_super_reopen(&g.srv);
    if (!g.srv.core)
        return;
    ixn_reload(&g.srv);
}

/* The TLS contexts of both ports, from [server] tls-cert, tls-key and tls-ca: the TCP
 * port verifies client certificates against tls-ca when it is set; browsers on the http
 * port are never asked for one. */
static int start_tls(void)
{
    if (!tls_conf_on(&g.cfg.tls))
        return 0;
    tls_files f = {g.cfg.tls.cert, g.cfg.tls.key, g.cfg.tls.ca};
    char err[512];
    if (tls_ctx_new(&g.tls_listen, TLS_SERVER, &f, "listen", err, sizeof err) != 0 ||
        (g.cfg.http &&
         tls_ctx_new(&g.tls_http, TLS_SERVER_NO_PEER, &f, "http", err, sizeof err) != 0)) {
        LOG_ERROR("event=tls_failed what=start why=%s", LOGQ(err));
        return CC_E_CONFIG;
    }
    char desc[256];
    LOG_INFO("event=tls_on cert=%s verify_clients=%s",
             LOGQ(tls_ctx_describe(g.tls_listen, desc, sizeof desc)), f.ca ? "yes" : "no");
    g.cs.tls = g.tls_listen;
    return 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (g.stopping)
        return;
    g.stopping = true;
    LOG_INFO("event=shutdown signal=%d", signum);
    uv_close((uv_handle_t *)&g.listener, NULL);
    cc_web_stop(g.web);
    g.web = NULL;
    uv_close((uv_handle_t *)&g.sigint, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
    uv_close((uv_handle_t *)&g.sighup, NULL);
    ixn_server_shutdown(&g.srv);
    ixn_core_shutdown(&g.srv);
    /* Connections that never registered are not ours to enumerate; give the loop a
     * moment to flush and close the rest, then stop it. */
    uv_timer_init(g.net.loop, &g.stop_timer);
    uv_timer_start(&g.stop_timer, on_stop_timer, 200, 0);
}

/* GET /desk-config.json: what the web desktop needs before it logs in. It names no queue
 * and no tenant, since the page is open to everyone; a logged-in desktop asks for its
 * tenant's queues with RequestQueueStatus. */
static int web_page(void *user, const char *path, cc_buf *body, const char **type)
{
    const ixn_config *cfg = user;
    if (strcmp(path, "/desk-config.json") != 0)
        return CC_E_NOT_FOUND;
    cc_buf_putc(body, '{');
    jw_kv_str(body, "serverName", cfg->name);
    cc_buf_puts(body, ",\"media\":[");
    for (int i = 0; i < cfg->media.count; i++) {
        if (i)
            cc_buf_putc(body, ',');
        jw_str(body, cc_media_name(&cfg->media, i));
    }
    cc_buf_puts(body, "],\"reasons\":[");
    for (size_t i = 0; i < cfg->reason_count; i++) {
        if (i)
            cc_buf_putc(body, ',');
        cc_buf_putc(body, '{');
        jw_kv_int(body, "code", cfg->reasons[i].code);
        jw_kv_str(body, "description", cfg->reasons[i].description);
        cc_buf_putc(body, '}');
    }
    cc_buf_puts(body, "]}");
    *type = "application/json";
    return 0;
}

/* A WebSocket session counts against max-connections like a TCP one; the session's
 * close releases it. */
static int web_admit(void *user)
{
    (void)user;
    if (g.cfg.max_connections && g.srv.conns >= g.cfg.max_connections) {
        g.srv.stats.conns_refused++;
        return CC_E_LIMIT_EXCEEDED;
    }
    g.srv.conns++;
    return 0;
}

static int run(void)
{
    raise_nofile();
    uv_loop_t *loop = uv_default_loop();
    cc_net_init(&g.net, loop);
    /* Caught from the start, so that a SIGHUP during a long store load is no end either. */
    uv_signal_init(loop, &g.sighup);
    uv_signal_start(&g.sighup, on_sighup, SIGHUP);
    g.cs.net = &g.net;
    g.cs.server_name = g.cfg.name;
    g.cs.token_agent = g.cfg.token_agent;
    g.cs.token_media = g.cfg.token_media;
    g.cs.token_reporting = g.cfg.token_reporting;
    g.cs.token_stat = NULL;
    g.cs.creds = &g.cfg.clients;
    g.cs.idle_timeout_s = g.cfg.idle_timeout_s;
    g.cs.max_line = g.cfg.max_line;
    g.cs.out_limit_default = g.cfg.out_limit;
    g.cs.out_limit_reporting = g.cfg.out_limit_reporting;
    cc_server_conf_apply(&g.cfg.limits, &g.cfg.out_base, &g.cs);
    cc_net_set_max_memory(&g.net, g.cfg.limits.max_memory);
    if (start_tls() != 0)
        return 1;
    ixn_server_init(&g.srv, &g.cfg, loop, &g.cs);
    if (ixn_super_init(&g.srv) != 0 || ixn_core_init(&g.srv) != 0)
        return 1;
    g.metrics = cc_metrics_new();
    cc_netm_init(g.metrics, &g.net, &g.cs);
    cc_turnw_start(loop, "ixnserver", 5);
    LOG_INFO("event=huge_pages on=%s", cc_heap_huge_pages_start() ? "yes" : "no");
    cc_netm_bind_refused(&g.srv.stats.conns_refused);
    ixn_metrics_init(g.metrics, &g.srv);

    uv_tcp_init(loop, &g.listener);
    g.listener.data = &g.cs;
    int port = 0;
    int rc = cc_listen_tcp(&g.listener, g.cfg.listen, on_connection, &port);
    if (rc < 0) {
        LOG_ERROR("event=listen_failed listen=%s error=%s", g.cfg.listen, uv_strerror(rc));
        return 1;
    }
    const char *keys[] = {"tcp", "http"};
    int ports[] = {port, 0};
    int nports = 1;
    if (g.cfg.http) {
        g.web_cfg = (cc_web_config){.listen = g.cfg.http,
                                    .allowed_origins = g.cfg.allowed_origins,
                                    .server = &g.cs,
                                    .bundle = &cc_web_bundle_desk,
                                    .page = web_page,
                                    .page_user = &g.cfg,
                                    .admit = web_admit,
                                    .idle_timeout_s = g.cfg.idle_timeout_s,
                                    .header_timeout_s = g.cfg.limits.http_header_timeout_s,
                                    .max_connections = g.cfg.limits.http_max_connections,
                                    .max_per_address = g.cfg.limits.http_max_per_address,
                                    .metrics = g.metrics,
                                    .metrics_token = g.cfg.limits.metrics_token,
                                    .health = ixn_metrics_health,
                                    .health_user = &g.srv,
                                    .tls = g.tls_http};
        rc = cc_web_start(&g.web, &g.net, &g.web_cfg, &ports[1]);
        if (rc < 0) {
            LOG_ERROR("event=listen_failed http=%s error=\"%s\"", g.cfg.http,
                      rc == CC_E_CONFIG ? "bad allowed-origins" : uv_strerror(rc));
            return 1;
        }
        nports = 2;
    }
    if (g.cfg.port_file) {
        if (cc_write_port_file(g.cfg.port_file, keys, ports, nports) != 0) {
            LOG_ERROR("event=port_file_failed path=%s", g.cfg.port_file);
            return 1;
        }
    }
    uv_signal_init(loop, &g.sigint);
    uv_signal_init(loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    signal(SIGPIPE, SIG_IGN);
    LOG_INFO("event=listening name=%s listen=%s port=%d http_port=%d media=%d agents=%zu tls=%s",
             g.cfg.name, g.cfg.listen, port, ports[1], g.cfg.media.count, g.cfg.agent_count,
             g.cs.tls ? "yes" : "no");

    uv_run(loop, UV_RUN_DEFAULT);

    const ixn_stats *st = &g.srv.stats;
    LOG_INFO("event=stopped logins=%" PRIu64 " logouts=%" PRIu64 " login_failures=%" PRIu64
             " takeovers=%" PRIu64 " events=%" PRIu64 " status_forwarded=%" PRIu64
             " status_dropped=%" PRIu64 " conns_refused=%" PRIu64 " closed_slow=%" PRIu64
             " reservations=%" PRIu64 " granted=%" PRIu64 " refused=%" PRIu64 " released=%" PRIu64
             " answers_dropped=%" PRIu64 " engines_overdue=%" PRIu64,
             st->logins, st->logouts, st->login_failures, st->takeovers, st->events_published,
             st->status_forwarded, st->status_dropped, st->conns_refused, g.net.stats.closed_slow,
             st->resv_asked, st->resv_granted, st->resv_refused, st->resv_released,
             st->resv_dropped, st->resv_overdue);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    bool check = false, hash = false;
    unsigned long rounds = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "ixnserver: %s needs a FILE\n", a);
                return 2;
            }
            config = argv[i];
        } else if (strcmp(a, "--check-config") == 0) {
            check = true;
        } else if (strcmp(a, "--hash-password") == 0) {
            hash = true;
        } else if (strcmp(a, "--rounds") == 0) {
            char *end;
            if (++i >= argc || (rounds = strtoul(argv[i], &end, 10)) == 0 || *end) {
                fprintf(stderr, "ixnserver: --rounds needs a positive number\n");
                return 2;
            }
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("ixnserver %s (git %s, protocol %d)\n", CC_VERSION, CC_GIT_REVISION,
                   PROTO_VERSION);
            return 0;
        } else {
            fprintf(stderr, "ixnserver: unknown argument %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (hash)
        return ixn_passwd_cli(rounds);
    if (!config) {
        usage(stderr);
        return 2;
    }
    cc_log_init("ixnserver", CC_LOG_INFO);
    int rc = ixn_config_load(config, &g.cfg);
    if (rc != 0) {
        fprintf(stderr, "ixnserver: %s: configuration is not valid\n", config);
        ixn_config_free(&g.cfg);
        return 1;
    }
    if (check) {
        if (ixn_core_check_config(&g.cfg) != 0) {
            fprintf(stderr, "ixnserver: %s: configuration is not valid\n", config);
            ixn_config_free(&g.cfg);
            return 1;
        }
        printf("ixnserver: %s: OK (%d media, %zu agents, %zu queues)\n", config, g.cfg.media.count,
               g.cfg.agent_count, g.cfg.queue_count);
        ixn_config_free(&g.cfg);
        return 0;
    }
    rc = run();
    ixn_core_shutdown(&g.srv);
    ixn_core_free(&g.srv);
    ixn_super_free(&g.srv);
    ixn_server_free(&g.srv);
    ixn_config_free(&g.cfg);
    cc_metrics_free(g.metrics);
    tls_ctx_free(g.tls_listen);
    tls_ctx_free(g.tls_http);
    return rc;
}

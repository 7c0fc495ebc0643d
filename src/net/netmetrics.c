#include "net/netmetrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

/* The client type bits looked at for names (session.h gives each type one bit). */
#define TYPE_BITS 16
/* Message names learnt per direction before the rest count as "other". */
#define NAMES_MAX 128
/* The busy ratio is measured over windows of at least this long, so that several
 * scrapers close together do not each see a sliver of a second. */
#define BUSY_WINDOW_NS 10000000000ull
/* The highest protocol error code (err.h). */
#define WIRE_CODES 14

/* The families, NULL until cc_netm_init: every update is then a no-op. */
static struct {
    cc_net *net;
    cc_metric *sessions, *received, *sent, *errors, *duration, *refused, *reg_failed;
    cc_metric *memory, *busy, *idle, *rss, *vsize, *cpu, *start;
    size_t type_row[TYPE_BITS]; /* a type's bit -> its row in sessions; 0: None */
    bool idle_on;               /* the loop measures its idle time */
    bool busy_measured;         /* a whole window was measured */
    uint64_t window_ns, window_idle_ns;
} g;

static const double duration_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

static size_t type_row(enum cc_client_type t)
{
    for (int i = 0; i < TYPE_BITS; i++)
        if ((unsigned)t == 1u << i)
            return g.type_row[i];
    return 0;
}

/* Reads the process's sizes from /proc/self/statm: its first two fields are the virtual
 * and resident sizes in pages. */
static void read_statm(double *vsize, double *rss)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return;
    unsigned long long size, resident;
    if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
        long page = sysconf(_SC_PAGESIZE);
        *vsize = (double)size * (double)page;
        *rss = (double)resident * (double)page;
    }
    fclose(f);
}

/* The share of time the loop spent outside its poll over the last complete window, or
 * since the start until the first window is complete. */
static void refresh_busy(void)
{
    if (!g.idle_on)
        return;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(g.net->loop);
    cc_metric_set(g.idle, 0, (double)idle / 1e9);
    uint64_t span = now - g.window_ns;
    bool full = span >= BUSY_WINDOW_NS;
    if (span == 0 || (!full && g.busy_measured))
        return;
    double idle_share = (double)(idle - g.window_idle_ns) / (double)span;
    cc_metric_set(g.busy, 0, idle_share >= 1.0 ? 0.0 : idle_share <= 0.0 ? 1.0 : 1.0 - idle_share);
    if (full) {
        g.busy_measured = true;
        g.window_ns = now;
        g.window_idle_ns = idle;
    }
}

static void refresh(void *user)
{
    (void)user;
    cc_metric_set(g.memory, 0, (double)cc_net_mem_used(g.net));
    double vsize = 0, rss = 0;
    read_statm(&vsize, &rss);
    cc_metric_set(g.rss, 0, rss);
    cc_metric_set(g.vsize, 0, vsize);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cc_metric_set(g.cpu, 0,
                      (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                          ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6);
    refresh_busy();
}

static cc_metric *one(cc_metrics *r, const char *name, enum cc_metric_type type, const char *help)
{
    return cc_metrics_add(r, &(cc_metric_def){.name = name, .help = help, .type = type});
}

void cc_netm_init(cc_metrics *r, cc_net *net, cc_server *srv)
{
    g.net = net;

    /* Sessions: None first, then every client type session.h names. */
    const char *types[TYPE_BITS + 1] = {"None"};
    size_t ntypes = 1;
    for (int i = 0; i < TYPE_BITS; i++) {
        const char *name = cc_client_type_name((enum cc_client_type)(1u << i));
        if (strcmp(name, "None") != 0) {
            g.type_row[i] = ntypes;
            types[ntypes++] = name;
        }
    }
    const char *type_label[] = {"type"};
    g.sessions = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_sessions",
                            .help = "Protocol sessions open (TCP and WebSocket) by registered "
                                    "client type; None: not registered yet",
                            .type = CC_METRIC_GAUGE,
                            .labels = type_label,
                            .nlabels = 1,
                            .rows = types,
                            .nrows = ntypes});

    g.received =
        cc_metrics_add_named(r, "contactcore_messages_received_total",
                             "Protocol messages received, by message name", "name", NAMES_MAX);
    g.sent = cc_metrics_add_named(r, "contactcore_messages_sent_total",
                                  "Protocol messages queued to peers, by message name", "name",
                                  NAMES_MAX);

    const char *err_labels[] = {"code", "name"};
    const char *err_rows[WIRE_CODES * 2];
    char codes[WIRE_CODES][12];
    for (int c = 1; c <= WIRE_CODES; c++) {
        snprintf(codes[c - 1], sizeof codes[c - 1], "%d", c);
        err_rows[(c - 1) * 2] = codes[c - 1];
        err_rows[(c - 1) * 2 + 1] = cc_err_wire_name(-c);
    }
    g.errors = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_errors_sent_total",
                            .help = "EventError messages sent, by protocol errorCode",
                            .type = CC_METRIC_COUNTER,
                            .labels = err_labels,
                            .nlabels = 2,
                            .rows = err_rows,
                            .nrows = WIRE_CODES});

    g.duration = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_request_duration_seconds",
                            .help = "Time from a request's arrival to its EventAck or "
                                    "EventError, waits for the store and the login throttle "
                                    "included",
                            .type = CC_METRIC_HISTOGRAM,
                            .bounds = duration_bounds,
                            .nbounds = sizeof duration_bounds / sizeof duration_bounds[0]});

    const char *reason_label[] = {"reason"};
    const char *reasons[] = {"slow", "idle", "too_large", "timeout", "max_memory"};
    cc_metric *closed = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_connections_closed_total",
                            .help = "Connections cut by a limit: output queue (slow), idle "
                                    "timeout, line too large, deadline, max-memory",
                            .type = CC_METRIC_COUNTER,
                            .labels = reason_label,
                            .nlabels = 1,
                            .rows = reasons,
                            .nrows = 5});
    cc_metric_bind(closed, 0, &net->stats.closed_slow);
    cc_metric_bind(closed, 1, &net->stats.closed_idle);
    cc_metric_bind(closed, 2, &net->stats.closed_too_large);
    cc_metric_bind(closed, 3, &net->stats.closed_timeout);
    cc_metric_bind(closed, 4, &net->stats.closed_memory);
    g.refused = one(r, "contactcore_connections_refused_total", CC_METRIC_COUNTER,
                    "Protocol connections refused for max-connections");
    if (srv)
        cc_metric_bind(g.refused, 0, &srv->conns_refused);
    cc_metric_bind(one(r, "contactcore_connections_accepted_total", CC_METRIC_COUNTER,
                       "TCP connections accepted on every port (protocol and HTTP)"),
                   0, &net->stats.accepted);
    cc_metric_bind(one(r, "contactcore_received_bytes_total", CC_METRIC_COUNTER,
                       "Bytes read from every connection"),
                   0, &net->stats.bytes_in);
    cc_metric_bind(one(r, "contactcore_sent_bytes_total", CC_METRIC_COUNTER,
                       "Bytes written to every connection"),
                   0, &net->stats.bytes_out);
    cc_metric_bind(one(r, "contactcore_tls_handshakes_total", CC_METRIC_COUNTER,
                       "TLS handshakes completed on every port and link"),
                   0, &net->stats.tls_handshakes);
    cc_metric_bind(one(r, "contactcore_tls_failures_total", CC_METRIC_COUNTER,
                       "TLS connections closed for a failed handshake or record"),
                   0, &net->stats.tls_failed);
    cc_metric_bind(one(r, "contactcore_tls_plaintext_refused_total", CC_METRIC_COUNTER,
                       "Plaintext clients refused on a TLS port"),
                   0, &net->stats.tls_plaintext);
    const char *reg_reasons[CC_NETM_REG_FAILURES] = {"secret", "type", "busy"};
    g.reg_failed = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_registrations_failed_total",
                            .help = "Registrations by a [clients] name refused: wrong secret, "
                                    "another clientType, too many checks running",
                            .type = CC_METRIC_COUNTER,
                            .labels = reason_label,
                            .nlabels = 1,
                            .rows = reg_reasons,
                            .nrows = CC_NETM_REG_FAILURES});
    g.memory = one(r, "contactcore_memory_accounted_bytes", CC_METRIC_GAUGE,
                   "Memory max-memory compares: connection buffers and declared data");

    g.busy = one(r, "contactcore_loop_busy_ratio", CC_METRIC_GAUGE,
                 "Share of wall time the event loop spent outside its poll, over the last "
                 "10 s or more");
    g.idle = one(r, "contactcore_loop_idle_seconds_total", CC_METRIC_COUNTER,
                 "Time the event loop spent waiting in its poll");
    g.rss = one(r, "process_resident_memory_bytes", CC_METRIC_GAUGE, "Resident memory size");
    g.vsize = one(r, "process_virtual_memory_bytes", CC_METRIC_GAUGE, "Virtual memory size");
    g.cpu = one(r, "process_cpu_seconds_total", CC_METRIC_COUNTER, "User and system CPU time");
    g.start = one(r, "process_start_time_seconds", CC_METRIC_GAUGE,
                  "Start time of the process since the epoch");
    cc_metric_set(g.start, 0, (double)cc_wall_us() / 1e6);

    int rc = uv_loop_configure(net->loop, UV_METRICS_IDLE_TIME);
    if (rc == 0) {
        g.idle_on = true;
        g.window_ns = uv_hrtime();
        g.window_idle_ns = uv_metrics_idle_time(net->loop);
    } else {
        LOG_WARN("event=metrics_no_idle_time error=%s", uv_strerror(rc));
    }
    cc_metrics_on_refresh(r, refresh, NULL);
}

void cc_netm_bind_refused(const uint64_t *src)
{
    cc_metric_bind(g.refused, 0, src);
}

void cc_netm_session_opened(void)
{
    cc_metric_gauge_add(g.sessions, 0, 1);
}

void cc_netm_session_registered(enum cc_client_type t)
{
    if (!g.sessions)
        return;
    cc_metric_gauge_add(g.sessions, 0, -1);
    cc_metric_gauge_add(g.sessions, type_row(t), 1);
}

void cc_netm_session_closed(enum cc_client_type t)
{
    if (g.sessions)
        cc_metric_gauge_add(g.sessions, type_row(t), -1);
}

void cc_netm_received(const char *name)
{
    if (g.received)
        cc_metric_inc_name(g.received, name, name ? strlen(name) : 0);
}

void cc_netm_sent(const char *body, size_t len)
{
    if (!g.sent)
        return;
    static const char head[] = "{\"message\":\"";
    const size_t hlen = sizeof head - 1;
    const char *name = NULL;
    size_t n = 0;
    if (len > hlen && memcmp(body, head, hlen) == 0) {
        size_t rest = len - hlen;
        const char *q = memchr(body + hlen, '"',
                               rest < CC_METRICS_NAME_MAX + 1 ? rest : CC_METRICS_NAME_MAX + 1);
        if (q) {
            name = body + hlen;
            n = (size_t)(q - name);
        }
    }
    cc_metric_inc_name(g.sent, name, n);
}

void cc_netm_error(int err)
{
    if (g.errors)
        cc_metric_inc_row(g.errors, (size_t)(cc_err_wire_code(err) - 1));
}

void cc_netm_answered(uint64_t started_us)
{
    if (!g.duration || !started_us)
        return;
    uint64_t now = cc_mono_us();
    cc_metric_observe(g.duration, 0, now > started_us ? (double)(now - started_us) / 1e6 : 0.0);
}

void cc_netm_register_failed(enum cc_netm_reg_failure why)
{
    cc_metric_inc_row(g.reg_failed, (size_t)why);
}

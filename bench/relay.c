/* relay: the floor of this machine for ixbench's state → status path.
 *
 * ixbench times a readiness change from the desktop's request to the status that answers
 * it: desktop → ixnserver → statserver → ixnserver → desktop. relay runs the same path
 * with no logic in it, in three processes as in the real run: this one holds the desktops
 * and forks an "ixn" hop and a "stat" hop, both listening on 127.0.0.1 port 0. The lines
 * have the sizes of the real ones and travel the same way: the ixn hop answers each
 * request with an ack-sized line and sends a state-sized line over its one link to the
 * stat hop, which answers with a status-sized line that the ixn hop forwards to the
 * desktop. No hop parses a line: each finds the line ends and reads fixed-width fields (the
 * kind of change, a connection number) at fixed offsets, then writes a prepared line.
 * Writes are gathered per loop turn (one write per connection per turn), as the project's
 * network layer does.
 *
 * It runs ixbench's two passes with the same connection count, window and bounds: one
 * change at a time (latency), then a window of changes in flight (throughput), one change
 * per connection at a time, taking the connections in turn. With --rate R the second pass
 * is paced instead (pass=rate): R changes a second at most, as statbench drives its load,
 * and its line adds each hop's CPU time per change (the floor of the statserver's). It
 * prints one line per pass:
 *   floor connections=N pass=latency|throughput|rate changes=C changes_per_s=R p50_us=..
 *   p99_us=.. max_us=.. window=W drops=D
 * Every phase is bounded in time; the hops are stopped by their pids (and die with this
 * process if it dies first). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "lib/tool.h"

#define RELAY_MAX_CONNS 100000
#define RELAY_MAX_CHANGES 10000000
#define RELAY_MAX_WINDOW 10000
#define RELAY_CONNECT_WINDOW 256
#define RELAY_CONNECT_TIMEOUT_S 60
#define RELAY_DRAIN_TIMEOUT_MS 5000
#define RELAY_TICK_MS 100
#define RELAY_READ_BUF 65536
#define RELAY_MAX_LINE 65536
#define RELAY_LISTEN_BACKLOG 1024
#define RELAY_PORT_WAIT_MS 10000
/* With --rate: the pacing timer, and the most budget a stalled loop can gather. */
#define RELAY_PACE_MS 1
#define RELAY_BUDGET_MAX_S 0.1
#define RELAY_MAX_RATE 1000000
/* Offsets of the fixed-width fields every line starts with. */
#define F_TYPE 0
#define F_KIND 1
#define F_INDEX 2
#define F_INDEX_LEN 8
#define F_HEAD (F_INDEX + F_INDEX_LEN)

/* The size of each line, its newline included, as ixbench's path carries it; taken from a
 * run of ixnserver and statserver (protocol v1.1: the state carries loginTime) with agent
 * Bench/1000 on ChatOnly. Index 0 is the change
 * to not ready, index 1 the change back to ready. */
enum { KIND_NOT_READY, KIND_READY };
/* RequestNotReadyForMedia (with a reason) / RequestCancelNotReadyForMedia */
static const size_t SZ_REQUEST[2] = {111, 75};
/* EventAck from the ixnserver to the desktop */
static const size_t SZ_ACK = 47;
/* EventPlaceAgentState from the ixnserver to the statserver */
static const size_t SZ_STATE[2] = {321, 289};
/* EventCurrentAgentStatus from the statserver to the ixnserver */
static const size_t SZ_STATUS_UP[2] = {230, 229};
/* the same status re-stamped with the desktop connection's seq */
static const size_t SZ_STATUS_DESK[2] = {238, 237};

enum role {
    ROLE_DESK,     /* in this process: one desktop */
    ROLE_IXN_DESK, /* in the ixn hop: a desktop's connection */
    ROLE_IXN_UP,   /* in the ixn hop: its link to the stat hop */
    ROLE_STAT_IN,  /* in the stat hop: the ixn hop's link */
};

typedef struct rconn rconn;

struct rconn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    enum role role;
    uint32_t index;
    bool open;
    bool writing;
    bool dirty;
    rconn *dirty_next;
    cc_buf carry;  /* the start of a line whose end has not arrived */
    cc_buf out[2]; /* out[cur] collects, the other one is being written */
    int cur;
    /* desktop side */
    bool connected;
    bool pending;
    int kind; /* the kind of the next (or pending) change */
    uint64_t sent_us;
};

typedef struct relay {
    uv_loop_t loop;
    uv_check_t flush;
    uv_idle_t kick; /* active while connections are dirty: the poll must not block then */
    uv_timer_t tick;
    uv_timer_t pace; /* --rate: adds to the budget every RELAY_PACE_MS */
    tool_signals sig;
    uv_tcp_t listener;
    char template_line[512];
    rconn *dirty;
    /* options */
    int conns;
    int cfg_window;
    uint64_t cfg_changes;
    uint64_t lat_changes;
    unsigned seconds;
    double rate; /* changes per second of the second pass; 0: only the window limits */
    /* hops */
    rconn **accepted;
    uint32_t n_accepted;
    rconn *up;
    int port_fd;
    /* desktops */
    rconn *desks;
    pid_t ixn_pid, stat_pid;
    int started, connected, connecting;
    int phase; /* 0 connect, 1 changes, 2 drain, 3 done */
    int pass;  /* 0 latency, 1 throughput */
    int window;
    uint64_t max_changes;
    uint64_t sent, done, drops, bad_lines;
    int in_flight;
    int cursor;
    uint32_t *lat_us;
    uint64_t phase_start_us, pass_start_us, pass_end_us;
    /* --rate: the changes the pace allows now, and the hops' CPU time at the pass's start */
    double budget;
    uint64_t pace_last_us;
    int64_t ixn_cpu0, stat_cpu0;
    int exit_code;
    bool stopping;
} relay;

static relay R;
static char read_buf[RELAY_READ_BUF];

static void usage(FILE *f)
{
    fprintf(f, "usage: relay --connections N [--window W] [--changes C] [--latency-changes K]\n"
               "             [--seconds S] [--rate R]\n"
               "The floor of ixbench's state → status path: desktop → ixn hop → stat hop →\n"
               "ixn hop → desktop on 127.0.0.1, lines of the real sizes, nothing parsed.\n"
               "With --rate the second pass sends R changes a second at most (pass=rate) and\n"
               "prints each hop's CPU time per change.\n");
}

static bool parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"connections", required_argument, NULL, 'n'},
        {"window", required_argument, NULL, 'w'},
        {"changes", required_argument, NULL, 'C'},
        {"latency-changes", required_argument, NULL, 'K'},
        {"seconds", required_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    R.conns = 1000;
    R.cfg_window = 64;
    R.cfg_changes = 20000;
    R.lat_changes = 2000;
    R.seconds = 20;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': R.conns = atoi(optarg); break;
        case 'w': R.cfg_window = atoi(optarg); break;
        case 'C': R.cfg_changes = strtoull(optarg, NULL, 10); break;
        case 'K': R.lat_changes = strtoull(optarg, NULL, 10); break;
        case 'S': R.seconds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': R.rate = strtod(optarg, NULL); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return false;
        }
    }
    if (optind != argc || R.conns < 1 || R.conns > RELAY_MAX_CONNS || R.cfg_window < 1 ||
        R.cfg_window > RELAY_MAX_WINDOW || R.cfg_changes > RELAY_MAX_CHANGES ||
        R.lat_changes > RELAY_MAX_CHANGES || R.seconds < 1 || R.seconds > 3600 || !(R.rate >= 0) ||
        R.rate > RELAY_MAX_RATE) {
        fprintf(stderr,
                "relay: --connections 1..%d, --window 1..%d, --changes and --latency-changes "
                "0..%d, --seconds 1..3600, --rate 0..%d\n",
                RELAY_MAX_CONNS, RELAY_MAX_WINDOW, RELAY_MAX_CHANGES, RELAY_MAX_RATE);
        return false;
    }
    return true;
}

/* ---- connections: gathered writes and line framing ---- */

static void on_kick(uv_idle_t *h)
{
    /* Nothing to do: an active idle handle only keeps the poll from blocking. */
    (void)h;
}

static void mark_dirty(rconn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->dirty_next = R.dirty;
    R.dirty = c;
    if (!uv_is_active((uv_handle_t *)&R.kick))
        uv_idle_start(&R.kick, on_kick);
}

/* Queues one line of size bytes: the type, the kind and the connection number at their
 * fixed offsets, filler, and the newline. */
static void out_line(rconn *c, char type, int kind, uint32_t index, size_t size)
{
    if (!c->open)
        return;
    cc_buf *b = &c->out[c->cur];
    cc_buf_reserve(b, size);
    char *p = b->data + b->len;
    memcpy(p, R.template_line, size - 1);
    p[F_TYPE] = type;
    p[F_KIND] = (char)('0' + kind);
    for (int i = F_INDEX + F_INDEX_LEN - 1; i >= F_INDEX; i--) {
        p[i] = (char)('0' + index % 10);
        index /= 10;
    }
    p[size - 1] = '\n';
    b->len += size;
    b->data[b->len] = '\0';
    mark_dirty(c);
}

static void on_closed(uv_handle_t *h)
{
    rconn *c = h->data;
    cc_buf_free(&c->carry);
    cc_buf_free(&c->out[0]);
    cc_buf_free(&c->out[1]);
}

/* A hop's accepted connection is its own allocation. */
static void on_accepted_closed(uv_handle_t *h)
{
    on_closed(h);
    free(h->data);
}

static void conn_lost(rconn *c, const char *why);

static void conn_close(rconn *c)
{
    if (!c->open)
        return;
    c->open = false;
    bool own = c->role == ROLE_IXN_DESK || c->role == ROLE_STAT_IN;
    uv_close((uv_handle_t *)&c->tcp, own ? on_accepted_closed : on_closed);
}

static void on_write_done(uv_write_t *req, int status)
{
    rconn *c = req->data;
    c->writing = false;
    cc_buf_reset(&c->out[c->cur ^ 1]);
    if (!c->open)
        return;
    if (status < 0) {
        conn_lost(c, uv_strerror(status));
        return;
    }
    if (c->out[c->cur].len)
        mark_dirty(c);
}

/* The check phase: every dirty connection writes what it collected, in one write. */
static void on_flush(uv_check_t *h)
{
    (void)h;
    while (R.dirty) {
        rconn *list = R.dirty;
        R.dirty = NULL;
        while (list) {
            rconn *c = list;
            list = c->dirty_next;
            c->dirty = false;
            c->dirty_next = NULL;
            if (!c->open || c->writing || c->out[c->cur].len == 0)
                continue;
            cc_buf *b = &c->out[c->cur];
            c->cur ^= 1;
            uv_buf_t ub = uv_buf_init(b->data, (unsigned)b->len);
            c->writing = true;
            c->wreq.data = c;
            int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &ub, 1, on_write_done);
            if (rc < 0) {
                c->writing = false;
                cc_buf_reset(b);
                conn_lost(c, uv_strerror(rc));
            }
        }
    }
    uv_idle_stop(&R.kick);
}

static void on_line(rconn *c, const char *line, size_t len);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    /* One buffer serves every connection: on_read consumes it before the next read. */
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    rconn *c = s->data;
    if (nread < 0) {
        conn_lost(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    const char *p = buf->base, *end = buf->base + nread;
    while (p < end && c->open) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            cc_buf_append(&c->carry, p, (size_t)(end - p));
            if (c->carry.len > RELAY_MAX_LINE)
                conn_lost(c, "line too long");
            return;
        }
        if (c->carry.len) {
            cc_buf_append(&c->carry, p, (size_t)(nl - p));
            on_line(c, c->carry.data, c->carry.len);
            cc_buf_reset(&c->carry);
        } else {
            on_line(c, p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
}

static void conn_start(rconn *c)
{
    c->open = true;
    c->tcp.data = c;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* The connection number in a line's fixed-width field. */
static uint32_t line_index(const char *line)
{
    uint32_t v = 0;
    for (int i = F_INDEX; i < F_INDEX + F_INDEX_LEN; i++)
        v = v * 10 + (uint32_t)(line[i] - '0');
    return v;
}

static bool line_ok(const char *line, size_t len, char type)
{
    if (len < F_HEAD || line[F_TYPE] != type || (line[F_KIND] != '0' && line[F_KIND] != '1'))
        return false;
    for (int i = F_INDEX; i < F_INDEX + F_INDEX_LEN; i++)
        if (line[i] < '0' || line[i] > '9')
            return false;
    return true;
}

/* ---- the desktops' passes ---- */

/* True in the pass that --rate paces. */
static bool paced(void)
{
    return R.rate > 0 && R.pass == 1;
}

/* " KEY=us" of a hop's CPU time per change in the pass, or "KEY=na". */
static void print_hop_cpu(const char *key, pid_t pid, int64_t cpu0)
{
    int64_t cpu1 = tool_proc_cpu_us(pid);
    if (cpu0 >= 0 && cpu1 >= cpu0 && R.done > 0)
        printf(" %s=%.1f", key, (double)(cpu1 - cpu0) / (double)R.done);
    else
        printf(" %s=na", key);
}

static void print_pass(void)
{
    size_t n = R.done < R.max_changes ? (size_t)R.done : (size_t)R.max_changes;
    tool_sort_u32(R.lat_us, n);
    uint64_t end = R.pass_end_us ? R.pass_end_us : cc_mono_us();
    double secs = R.pass_start_us ? (double)(end - R.pass_start_us) / 1e6 : 0;
    printf("floor connections=%d pass=%s changes=%" PRIu64 " changes_per_s=%.0f p50_us=%u "
           "p99_us=%u max_us=%u window=%d drops=%" PRIu64,
           R.conns,
           R.pass == 0 ? "latency"
           : paced()   ? "rate"
                       : "throughput",
           R.done, secs > 0 ? (double)R.done / secs : 0.0, tool_percentile(R.lat_us, n, 0.50),
           tool_percentile(R.lat_us, n, 0.99), n ? R.lat_us[n - 1] : 0, R.window, R.drops);
    if (paced()) {
        printf(" rate=%.0f", R.rate);
        print_hop_cpu("stat_hop_cpu_us_per_change", R.stat_pid, R.stat_cpu0);
        print_hop_cpu("ixn_hop_cpu_us_per_change", R.ixn_pid, R.ixn_cpu0);
    }
    printf("\n");
    fflush(stdout);
}

static void end_pass(void);
static void finish(void);

/* Keeps the window full: the next desktops in turn with no change in flight get one. */
static void fill_window(void)
{
    if (R.phase != 1)
        return;
    int scanned = 0;
    while (R.in_flight < R.window && R.sent < R.max_changes && scanned < R.conns &&
           (!paced() || R.budget >= 1)) {
        rconn *d = &R.desks[R.cursor];
        R.cursor = (R.cursor + 1) % R.conns;
        scanned++;
        if (!d->open || !d->connected || d->pending)
            continue;
        d->sent_us = cc_mono_us();
        out_line(d, 'Q', d->kind, 0, SZ_REQUEST[d->kind]);
        d->pending = true;
        R.in_flight++;
        R.sent++;
        if (paced())
            R.budget -= 1;
        scanned = 0;
    }
    if (R.sent >= R.max_changes && R.in_flight == 0)
        end_pass();
}

static void setup_pass(void)
{
    R.phase = 1;
    R.window = R.pass == 0 ? 1 : R.cfg_window;
    R.max_changes = R.pass == 0 ? R.lat_changes : R.cfg_changes;
    R.sent = R.done = 0;
    R.pass_start_us = R.phase_start_us = R.pace_last_us = cc_mono_us();
    R.pass_end_us = 0;
    R.budget = 0;
    R.stat_cpu0 = tool_proc_cpu_us(R.stat_pid);
    R.ixn_cpu0 = tool_proc_cpu_us(R.ixn_pid);
    if (R.max_changes == 0)
        end_pass();
    else
        fill_window();
}

/* --rate: the budget grows with the time that passed, and the window is filled again. */
static void on_pace(uv_timer_t *t)
{
    (void)t;
    if (R.phase != 1 || !paced())
        return;
    uint64_t now = cc_mono_us();
    R.budget += R.rate * (double)(now - R.pace_last_us) / 1e6;
    R.pace_last_us = now;
    if (R.budget > R.rate * RELAY_BUDGET_MAX_S + 1)
        R.budget = R.rate * RELAY_BUDGET_MAX_S + 1;
    fill_window();
}

static void end_pass(void)
{
    R.pass_end_us = cc_mono_us();
    print_pass();
    if (R.pass == 0) {
        R.pass = 1;
        setup_pass();
    } else {
        R.phase = 3;
        finish();
    }
}

static void desk_line(rconn *d, const char *line, size_t len)
{
    if (len >= F_HEAD && line[F_TYPE] == 'A')
        return;
    if (!line_ok(line, len, 'S')) {
        R.bad_lines++;
        return;
    }
    if (!d->pending)
        return;
    uint64_t now = cc_mono_us();
    uint64_t lat = now > d->sent_us ? now - d->sent_us : 0;
    if (R.done < R.max_changes)
        R.lat_us[R.done] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
    R.done++;
    d->pending = false;
    d->kind ^= 1;
    R.in_flight--;
    fill_window();
}

static void start_more_connects(void);

static void on_desk_connect(uv_connect_t *req, int status)
{
    rconn *d = req->data;
    R.connecting--;
    if (R.stopping)
        return;
    if (status < 0) {
        fprintf(stderr, "relay: desktop %u cannot connect: %s\n", d->index, uv_strerror(status));
        R.exit_code = 1;
        uv_close((uv_handle_t *)&d->tcp, NULL);
        finish();
        return;
    }
    conn_start(d);
    d->connected = true;
    R.connected++;
    if (R.connected == R.conns && R.phase == 0) {
        R.pass = R.lat_changes > 0 ? 0 : 1;
        setup_pass();
    } else {
        start_more_connects();
    }
}

static struct sockaddr_in ixn_addr;

static void start_more_connects(void)
{
    while (R.started < R.conns && R.connecting < RELAY_CONNECT_WINDOW && !R.stopping) {
        rconn *d = &R.desks[R.started++];
        uv_tcp_init(&R.loop, &d->tcp);
        d->tcp.data = d;
        d->creq.data = d;
        R.connecting++;
        int rc =
            uv_tcp_connect(&d->creq, &d->tcp, (const struct sockaddr *)&ixn_addr, on_desk_connect);
        if (rc < 0) {
            fprintf(stderr, "relay: connect: %s\n", uv_strerror(rc));
            R.connecting--;
            uv_close((uv_handle_t *)&d->tcp, NULL);
            R.exit_code = 1;
            finish();
            return;
        }
    }
}

/* Stops a hop by its pid: SIGTERM, then SIGKILL when it is still there after 2 s. */
static void stop_hop(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

static void finish(void)
{
    if (R.stopping)
        return;
    R.stopping = true;
    if (R.phase != 3 && R.phase != 0)
        print_pass();
    R.phase = 3;
    stop_hop(&R.ixn_pid);
    stop_hop(&R.stat_pid);
    for (int i = 0; i < R.started; i++) {
        rconn *d = &R.desks[i];
        d->open = false;
        if (!uv_is_closing((uv_handle_t *)&d->tcp))
            uv_close((uv_handle_t *)&d->tcp, on_closed);
    }
    uv_check_stop(&R.flush);
    uv_idle_stop(&R.kick);
    tool_close((uv_handle_t *)&R.flush);
    tool_close((uv_handle_t *)&R.kick);
    tool_close((uv_handle_t *)&R.tick);
    tool_close((uv_handle_t *)&R.pace);
    tool_signals_close(&R.sig);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = cc_mono_us();
    uint64_t in_phase = now - R.phase_start_us;
    if (R.phase == 0 && in_phase > (uint64_t)RELAY_CONNECT_TIMEOUT_S * 1000000u) {
        fprintf(stderr, "relay: only %d of %d desktops connected after %d s\n", R.connected,
                R.conns, RELAY_CONNECT_TIMEOUT_S);
        R.exit_code = 1;
        finish();
    } else if (R.phase == 1 && in_phase > (uint64_t)R.seconds * 1000000u) {
        /* Time is up: stop sending and give what is in flight a moment to land. */
        R.max_changes = R.sent;
        R.phase = 2;
        R.phase_start_us = now;
        if (R.in_flight == 0)
            end_pass();
    } else if (R.phase == 1) {
        fill_window();
    } else if (R.phase == 2 && (R.in_flight == 0 || in_phase > RELAY_DRAIN_TIMEOUT_MS * 1000u)) {
        if (R.in_flight)
            fprintf(stderr, "relay: %d changes never got their status\n", R.in_flight);
        R.in_flight = 0;
        end_pass();
    }
}

static void on_signal(tool_signals *s, int signum)
{
    (void)s;
    fprintf(stderr, "relay: signal %d, stopping\n", signum);
    R.exit_code = 1;
    finish();
}

/* ---- the hops ---- */

static void on_line(rconn *c, const char *line, size_t len)
{
    switch (c->role) {
    case ROLE_DESK: desk_line(c, line, len); break;
    case ROLE_IXN_DESK: {
        /* A request: the ack to the desktop, the whole state to the stat hop. */
        if (len < F_HEAD || line[F_TYPE] != 'Q' || (line[F_KIND] != '0' && line[F_KIND] != '1')) {
            R.bad_lines++;
            break;
        }
        int kind = line[F_KIND] - '0';
        out_line(c, 'A', kind, c->index, SZ_ACK);
        out_line(R.up, 'E', kind, c->index, SZ_STATE[kind]);
        break;
    }
    case ROLE_STAT_IN:
        /* A state: the status back to the server it came from. */
        if (!line_ok(line, len, 'E')) {
            R.bad_lines++;
            break;
        }
        out_line(c, 'S', line[F_KIND] - '0', line_index(line), SZ_STATUS_UP[line[F_KIND] - '0']);
        break;
    case ROLE_IXN_UP: {
        /* A status: forwarded to the desktop the connection number names. */
        if (!line_ok(line, len, 'S')) {
            R.bad_lines++;
            break;
        }
        uint32_t i = line_index(line);
        int kind = line[F_KIND] - '0';
        if (i < R.n_accepted && R.accepted[i])
            out_line(R.accepted[i], 'S', kind, i, SZ_STATUS_DESK[kind]);
        break;
    }
    }
}

static void conn_lost(rconn *c, const char *why)
{
    if (!c->open)
        return;
    switch (c->role) {
    case ROLE_DESK:
        if (!R.stopping) {
            R.drops++;
            fprintf(stderr, "relay: desktop %u lost: %s\n", c->index, why);
            if (c->pending) {
                c->pending = false;
                R.in_flight--;
            }
        }
        conn_close(c);
        break;
    case ROLE_IXN_DESK:
        R.accepted[c->index] = NULL;
        conn_close(c);
        break;
    case ROLE_IXN_UP:
    case ROLE_STAT_IN:
        /* A hop without its link has nothing left to do. */
        _exit(0);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    rconn *c = xcalloc(1, sizeof *c);
    uv_tcp_init(&R.loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_accepted_closed);
        return;
    }
    if (R.up) {
        c->role = ROLE_IXN_DESK;
        c->index = R.n_accepted;
        R.accepted = xrealloc(R.accepted, (R.n_accepted + 1) * sizeof *R.accepted);
        R.accepted[R.n_accepted++] = c;
    } else {
        c->role = ROLE_STAT_IN;
    }
    conn_start(c);
}

/* Listens on 127.0.0.1 port 0 and tells the parent the port through fd. */
static void hop_listen(void)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(&R.loop, &R.listener);
    int rc = uv_tcp_bind(&R.listener, (const struct sockaddr *)&a, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&R.listener, RELAY_LISTEN_BACKLOG, on_connection);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (rc == 0)
        rc = uv_tcp_getsockname(&R.listener, (struct sockaddr *)&ss, &sl);
    if (rc != 0) {
        fprintf(stderr, "relay: hop cannot listen: %s\n", uv_strerror(rc));
        _exit(1);
    }
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (write(R.port_fd, &port, sizeof port) != (ssize_t)sizeof port)
        _exit(1);
    close(R.port_fd);
}

static void on_up_connect(uv_connect_t *req, int status)
{
    (void)req;
    if (status < 0) {
        fprintf(stderr, "relay: ixn hop cannot reach the stat hop: %s\n", uv_strerror(status));
        _exit(1);
    }
    conn_start(R.up);
    hop_listen();
}

static void on_hop_timeout(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "relay: hop pid=%d ran out of time\n", (int)getpid());
    _exit(1);
}

/* A hop's whole life: it serves until its link closes, its parent stops it, or its
 * lifetime ends. upstream_port is the stat hop's port for the ixn hop, 0 for the stat hop. */
static void hop_main(int port_fd, int upstream_port)
{
    /* The hop dies with its parent, whatever way the parent ends. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    R.port_fd = port_fd;
    uv_loop_init(&R.loop);
    uv_check_init(&R.loop, &R.flush);
    uv_check_start(&R.flush, on_flush);
    uv_idle_init(&R.loop, &R.kick);
    uv_timer_init(&R.loop, &R.tick);
    uv_timer_start(&R.tick, on_hop_timeout,
                   ((uint64_t)RELAY_CONNECT_TIMEOUT_S + 2u * (R.seconds + 10u) + 60u) * 1000u, 0);
    if (upstream_port) {
        R.up = xcalloc(1, sizeof *R.up);
        R.up->role = ROLE_IXN_UP;
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", upstream_port, &a);
        uv_tcp_init(&R.loop, &R.up->tcp);
        R.up->tcp.data = R.up;
        int rc =
            uv_tcp_connect(&R.up->creq, &R.up->tcp, (const struct sockaddr *)&a, on_up_connect);
        if (rc < 0)
            _exit(1);
    } else {
        hop_listen();
    }
    uv_run(&R.loop, UV_RUN_DEFAULT);
    _exit(0);
}

/* Forks one hop and returns its port (or -1); *pid gets its pid. */
static int fork_hop(int upstream_port, pid_t *pid)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t parent = getpid();
    *pid = fork();
    if (*pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (*pid == 0) {
        close(fds[0]);
        if (getppid() != parent)
            _exit(1);
        hop_main(fds[1], upstream_port);
    }
    close(fds[1]);
    int port = -1;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    if (poll(&pfd, 1, RELAY_PORT_WAIT_MS) == 1 && read(fds[0], &port, sizeof port) != sizeof port)
        port = -1;
    close(fds[0]);
    return port;
}

int main(int argc, char **argv)
{
    if (!parse_args(argc, argv))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    memset(R.template_line, 'x', sizeof R.template_line);
    /* The desktops here and their connections in the ixn hop, which inherits the limit. */
    tool_raise_nofile("relay", (uint64_t)R.conns + 256);
    int stat_port = fork_hop(0, &R.stat_pid);
    int ixn_port = stat_port > 0 ? fork_hop(stat_port, &R.ixn_pid) : -1;
    if (ixn_port <= 0) {
        fprintf(stderr, "relay: the hops did not start\n");
        stop_hop(&R.ixn_pid);
        stop_hop(&R.stat_pid);
        return 1;
    }
    uv_ip4_addr("127.0.0.1", ixn_port, &ixn_addr);
    uv_loop_init(&R.loop);
    uv_check_init(&R.loop, &R.flush);
    uv_check_start(&R.flush, on_flush);
    uv_idle_init(&R.loop, &R.kick);
    uint64_t most = R.cfg_changes > R.lat_changes ? R.cfg_changes : R.lat_changes;
    R.lat_us = xcalloc(most ? most : 1, sizeof *R.lat_us);
    R.desks = xcalloc((size_t)R.conns, sizeof *R.desks);
    for (int i = 0; i < R.conns; i++) {
        R.desks[i].role = ROLE_DESK;
        R.desks[i].index = (uint32_t)i;
        R.desks[i].kind = KIND_NOT_READY;
    }
    uv_timer_init(&R.loop, &R.tick);
    uv_timer_start(&R.tick, on_tick, RELAY_TICK_MS, RELAY_TICK_MS);
    uv_timer_init(&R.loop, &R.pace);
    if (R.rate > 0)
        uv_timer_start(&R.pace, on_pace, RELAY_PACE_MS, RELAY_PACE_MS);
    tool_signals_start(&R.sig, &R.loop, on_signal);
    R.phase_start_us = cc_mono_us();
    start_more_connects();
    uv_run(&R.loop, UV_RUN_DEFAULT);
    if (R.bad_lines)
        fprintf(stderr, "relay: %" PRIu64 " malformed lines\n", R.bad_lines);
    int rc = uv_loop_close(&R.loop);
    if (rc != 0)
        fprintf(stderr, "relay: loop not closed: %s\n", uv_strerror(rc));
    free(R.desks);
    free(R.lat_us);
    return R.exit_code;
}

#include "tool.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"

/* How long the networking context waits for closing connections at the most. */
#define TOOL_DRAIN_MAX_US 2000000u
#define TOOL_DRAIN_POLL_MS 10

void tool_loop_init(uv_loop_t *loop, cc_net *net)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(loop);
    cc_net_init(net, loop);
}

int tool_loop_run(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop);
}

static void tool_on_signal(uv_signal_t *h, int signum)
{
    tool_signals *s = h->data;
    s->on_signal(s, signum);
}

void tool_signals_start(tool_signals *s, uv_loop_t *loop, tool_signal_fn *on_signal)
{
    assert(on_signal != NULL);
    s->on_signal = on_signal;
    uv_signal_init(loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_start(&s->sigint, tool_on_signal, SIGINT);
    uv_signal_init(loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, tool_on_signal, SIGTERM);
}

void tool_signals_close(tool_signals *s)
{
    tool_close((uv_handle_t *)&s->sigint);
    tool_close((uv_handle_t *)&s->sigterm);
}

const char *tool_signal_name(int signum)
{
    return signum == SIGINT ? "SIGINT" : "SIGTERM";
}

static void tool_stop_on_signal(tool_signals *sig, int signum)
{
    tool_stop *s = sig->data;
    s->stop(tool_signal_name(signum));
}

static void tool_stop_on_timer(uv_timer_t *t)
{
    tool_stop *s = t->data;
    s->stop("seconds");
}

void tool_stop_start(tool_stop *s, uv_loop_t *loop, unsigned seconds, tool_stop_fn *stop)
{
    assert(stop != NULL);
    s->stop = stop;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    if (seconds)
        uv_timer_start(&s->timer, tool_stop_on_timer, (uint64_t)seconds * 1000u, 0);
    s->sig.data = s;
    tool_signals_start(&s->sig, loop, tool_stop_on_signal);
}

void tool_stop_close(tool_stop *s)
{
    tool_close((uv_handle_t *)&s->timer);
    tool_signals_close(&s->sig);
}

static void tool_close_cb_noop(uv_handle_t *h)
{
    (void)h;
}

void tool_close(uv_handle_t *h)
{
    uv_close(h, tool_close_cb_noop);
}

static void tool_count_tcp(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TCP)
        (*(int *)arg)++;
}

static void tool_on_net_drain(uv_timer_t *t)
{
    tool_drain *d = t->data;
    int open = 0;
    uv_walk(t->loop, tool_count_tcp, &open);
    if (open > 0 && cc_mono_us() - d->start_us < TOOL_DRAIN_MAX_US)
        return;
    uv_close((uv_handle_t *)t, NULL);
    cc_net_close(d->net);
}

void tool_close_net_later(tool_drain *d, uv_loop_t *loop, cc_net *net)
{
    d->start_us = cc_mono_us();
    d->net = net;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, tool_on_net_drain, TOOL_DRAIN_POLL_MS, TOOL_DRAIN_POLL_MS);
}

void tool_raise_nofile(const char *prog, uint64_t want64)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)want64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
        fprintf(stderr, "%s: warning: RLIMIT_NOFILE is %llu, below the %llu needed\n", prog,
                (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

bool tool_read_password(const char *prog, const char *path, char *out, size_t size,
                        const char *empty_what)
{
    assert(size > 0);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return false;
    }
    /* fgets takes an int; a password buffer is far below INT_MAX. */
    assert(size <= 1u << 20);
    if (!fgets(out, (int)size, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if (!out[0]) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, empty_what);
        return false;
    }
    return true;
}

uint64_t tool_rand(uint64_t *rng)
{
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    return *rng * 2685821657736338717ULL;
}

double tool_unit(uint64_t *rng)
{
    return (double)(tool_rand(rng) >> 11) / 9007199254740992.0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void tool_sort_u32(uint32_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u32);
}

uint32_t tool_percentile(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

bool tool_tls_opt(tool_tls *t, int opt, const char *arg)
{
    switch (opt) {
    case TOOL_OPT_TLS: t->on = true; return true;
    case TOOL_OPT_TLS_CA:
        t->on = true;
        t->ca = arg;
        return true;
    case TOOL_OPT_TLS_CERT: t->cert = arg; return true;
    case TOOL_OPT_TLS_KEY: t->key = arg; return true;
    default: return false;
    }
}

bool tool_tls_start(tool_tls *t, const char *prog)
{
    if ((t->cert || t->key) && !t->on) {
        fprintf(stderr, "%s: --tls-cert and --tls-key need --tls or --tls-ca\n", prog);
        return false;
    }
    if (!t->on)
        return true;
    tls_files f = {t->cert, t->key, t->ca};
    char err[512];
    if (tls_ctx_new(&t->ctx, TLS_CLIENT, &f, prog, err, sizeof err) != 0) {
        fprintf(stderr, "%s: TLS: %s\n", prog, err);
        return false;
    }
    return true;
}

void tool_tls_free(tool_tls *t)
{
    tls_ctx_free(t->ctx);
    t->ctx = NULL;
}

int64_t tool_proc_cpu_us(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields are counted after the command name's last ')': utime and stime are the 12th
     * and 13th after it. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (int64_t)((ut + st) * 1000000ull / (unsigned long long)hz) : -1;
}

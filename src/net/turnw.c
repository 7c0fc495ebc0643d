#include "net/turnw.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

/* Turns are counted in buckets of this many microseconds up to BUCKETS of them; longer
 * ones in the last. */
#define BUCKET_US 100
#define BUCKETS 1000
/* Named sections kept per turn; a turn with more adds the rest to the last one. */
#define SECTIONS 16

typedef struct section {
    const char *what;
    uint64_t us;
    unsigned n;
} section;

struct turnw_state {
    bool on;
    bool report_on; /* the report timer runs */
    const char *who;
    uv_loop_t *loop;
    uv_prepare_t prepare;
    uv_timer_t report;
    uint64_t threshold_us;
    uint64_t last_ns, last_idle_ns; /* at the end of the last turn */
    uint64_t last_cpu_ns;           /* the thread's CPU time then */
    uint64_t report_ns;             /* the start of the current count */
    section sec[SECTIONS];
    size_t nsec;
    cc_turnw_stats st;
    uint64_t hist[BUCKETS + 1];
};

static struct turnw_state g;

/* The thread's CPU time: what a turn costs whatever the machine's load (the wall time of
 * a turn also holds the time the process waited for a core). */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void turn_clear(void)
{
    g.nsec = 0;
}

/* Logs one long turn with its named sections (CPU microseconds/count each). */
static void log_turn(uint64_t busy_us, uint64_t wall_us)
{
    char buf[512];
    size_t len = 0;
    buf[0] = '\0';
    uint64_t named = 0;
    for (size_t i = 0; i < g.nsec && len < sizeof buf - 64; i++) {
        int n = snprintf(buf + len, sizeof buf - len, "%s%s:%" PRIu64 "/%u", i ? "," : "",
                         g.sec[i].what, g.sec[i].us, g.sec[i].n);
        if (n > 0)
            len += (size_t)n;
        named += g.sec[i].us;
    }
    LOG_WARN("event=long_turn who=%s cpu_us=%" PRIu64 " wall_us=%" PRIu64 " unnamed_us=%" PRIu64
             " sections=%s",
             g.who, busy_us, wall_us, busy_us > named ? busy_us - named : 0, g.nsec ? buf : "-");
}

/* The end of a turn, just before the poll: its CPU time since the last turn's end (the
 * poll's wait costs none), and its wall time outside the poll (the wall time since the
 * last turn's end less the time the poll waited in between). */
static void on_prepare(uv_prepare_t *h)
{
    (void)h;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(g.loop), cpu = cpu_ns();
    uint64_t wall = now - g.last_ns, waited = idle - g.last_idle_ns;
    uint64_t wall_us = (wall > waited ? wall - waited : 0) / 1000;
    uint64_t busy_us = (cpu - g.last_cpu_ns) / 1000;
    g.last_ns = now;
    g.last_idle_ns = idle;
    g.last_cpu_ns = cpu;
    g.st.wall_us += wall_us;
    g.st.turns++;
    g.st.busy_us += busy_us;
    if (busy_us > g.st.max_us)
        g.st.max_us = busy_us;
    if (busy_us >= 2000) {
        g.st.over2_us += busy_us;
        g.st.n_over2++;
    }
    if (busy_us >= 5000) {
        g.st.over5_us += busy_us;
        g.st.n_over5++;
    }
    size_t b = busy_us / BUCKET_US;
    g.hist[b < BUCKETS ? b : BUCKETS]++;
    if (busy_us >= g.threshold_us)
        log_turn(busy_us, wall_us);
    turn_clear();
}

static void on_report(uv_timer_t *t)
{
    (void)t;
    cc_turnw_report(NULL, true);
}

/* A whole number of 1..max from the environment variable name, or 0 when it is absent,
 * not all digits, or out of range. */
static unsigned env_count(const char *name, unsigned long max)
{
    const char *v = getenv(name);
    if (!v || *v < '0' || *v > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || n < 1 || n > max)
        return 0;
    return (unsigned)n;
}

bool cc_turnw_start(uv_loop_t *loop, const char *who, unsigned report_s)
{
    unsigned threshold_ms = env_count("CC_TURN_WATCH_MS", 60000);
    if (!threshold_ms || g.on)
        return g.on;
    int rc = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (rc != 0) {
        LOG_WARN("event=turn_watch_off error=%s", uv_strerror(rc));
        return false;
    }
    g.on = true;
    g.who = who;
    g.loop = loop;
    g.threshold_us = (uint64_t)threshold_ms * 1000;
    g.last_ns = g.report_ns = uv_hrtime();
    g.last_idle_ns = uv_metrics_idle_time(loop);
    g.last_cpu_ns = cpu_ns();
    uv_prepare_init(loop, &g.prepare);
    uv_prepare_start(&g.prepare, on_prepare);
    /* The probe alone must not keep the loop alive. */
    uv_unref((uv_handle_t *)&g.prepare);
    if (report_s && getenv("CC_TURN_WATCH_REPORT_S"))
        report_s = env_count("CC_TURN_WATCH_REPORT_S", 86400);
    if (report_s) {
        uv_timer_init(loop, &g.report);
        g.report_on = true;
        uv_timer_start(&g.report, on_report, report_s * 1000ull, report_s * 1000ull);
        uv_unref((uv_handle_t *)&g.report);
    }
    LOG_WARN("event=turn_watch who=%s threshold_ms=%u", who, threshold_ms);
    return true;
}

void cc_turnw_stop(void)
{
    if (!g.on)
        return;
    uv_close((uv_handle_t *)&g.prepare, NULL);
    if (g.report_on)
        uv_close((uv_handle_t *)&g.report, NULL);
    /* The handles stay as they are until the loop has closed them. */
    g.on = g.report_on = false;
    g.nsec = 0;
    g.st = (cc_turnw_stats){0};
    memset(g.hist, 0, sizeof g.hist);
}

bool cc_turnw_on(void)
{
    return g.on;
}

uint64_t cc_turnw_begin(void)
{
    return g.on ? cpu_ns() : 0;
}

void cc_turnw_end(const char *what, uint64_t t0)
{
    if (!g.on)
        return;
    uint64_t us = (cpu_ns() - t0) / 1000;
    size_t i = 0;
    while (i < g.nsec && g.sec[i].what != what && strcmp(g.sec[i].what, what) != 0)
        i++;
    if (i == g.nsec) {
        if (g.nsec == SECTIONS)
            i = SECTIONS - 1;
        else
            g.sec[g.nsec++] = (section){.what = what};
    }
    g.sec[i].us += us;
    g.sec[i].n++;
}

void cc_turnw_report(cc_turnw_stats *out, bool log)
{
    if (!g.on) {
        if (out)
            *out = (cc_turnw_stats){0};
        return;
    }
    uint64_t now = uv_hrtime();
    g.st.span_us = (now - g.report_ns) / 1000;
    uint64_t want = g.st.turns - g.st.turns / 100, seen = 0;
    for (size_t b = 0; b <= BUCKETS; b++) {
        seen += g.hist[b];
        if (seen >= want && g.st.turns) {
            g.st.p99_us = b < BUCKETS ? (b + 1) * BUCKET_US : g.st.max_us;
            break;
        }
    }
    if (log)
        LOG_WARN("event=turn_stats who=%s span_ms=%" PRIu64 " turns=%" PRIu64
                 " cpu_share=%.3f wall_share=%.3f p99_us=%" PRIu64 " max_us=%" PRIu64
                 " n_over2ms=%" PRIu64 " share_over2ms=%.4f n_over5ms=%" PRIu64
                 " share_over5ms=%.4f",
                 g.who, g.st.span_us / 1000, g.st.turns,
                 g.st.span_us ? (double)g.st.busy_us / (double)g.st.span_us : 0.0,
                 g.st.span_us ? (double)g.st.wall_us / (double)g.st.span_us : 0.0, g.st.p99_us,
                 g.st.max_us, g.st.n_over2,
                 g.st.span_us ? (double)g.st.over2_us / (double)g.st.span_us : 0.0, g.st.n_over5,
                 g.st.span_us ? (double)g.st.over5_us / (double)g.st.span_us : 0.0);
    if (out)
        *out = g.st;
    g.st = (cc_turnw_stats){0};
    memset(g.hist, 0, sizeof g.hist);
    g.report_ns = now;
}

/* leasefloor: the floor of the failover benchmark (docs/bench.md, "Failover (issue 13)"):
 * the takeover of a lease in a NATS KV bucket with nothing else in it.
 *
 * The same lease as the statserver pair's (src/stat/stat_ha.c): a bucket with one
 * revision per key and the lease as its maximum age, a holder that creates the key and
 * renews it by compare-and-set every quarter lease, a waiter that tries to create it every
 * twentieth. Each round starts a holder (this program again, with --hold), waits until it
 * holds the key, waits a random part of a renewal period (a kill lands anywhere between
 * two renewals), kills it with SIGKILL at time T and measures T to the holder's exit and
 * T to the waiter's successful create. Prints one line per round and one with the min,
 * median and max. Every step is bounded in time; the holder is killed by its pid. */
#include <errno.h>
#include <getopt.h>
#include <nats/nats.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

#define LF_MAX_ROUNDS 100
/* A holder that lives longer than this ends itself: it is never left behind. */
#define LF_HOLD_MAX_S 120
#define LF_STEP_TIMEOUT_S 10

static const char *url = "nats://127.0.0.1:4222";
static const char *bucket = "bench_floor";
static const char *key = "floor";
static int lease_ms = 1000;
static int rounds = 3;

static void usage(FILE *f)
{
    fprintf(f, "usage: leasefloor --url URL [--bucket B] [--key K] [--lease-ms MS] [--rounds R]\n"
               "       leasefloor --hold --url URL [--bucket B] [--key K] [--lease-ms MS]\n");
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Connects and finds the bucket, or makes it as the statserver does (one revision per
 * key, the lease as its maximum age). */
static bool open_kv(natsConnection **nc, jsCtx **js, kvStore **kv)
{
    natsStatus s = natsConnection_ConnectTo(nc, url);
    if (s == NATS_OK)
        s = natsConnection_JetStream(js, *nc, NULL);
    if (s == NATS_OK && js_KeyValue(kv, *js, bucket) != NATS_OK) {
        kvConfig kc;
        kvConfig_Init(&kc);
        kc.Bucket = bucket;
        kc.History = 1;
        kc.TTL = (int64_t)lease_ms * 1000000;
        s = js_CreateKeyValue(kv, *js, &kc);
    }
    if (s != NATS_OK) {
        fprintf(stderr, "leasefloor: NATS at %s: %s\n", url, natsStatus_GetText(s));
        return false;
    }
    return true;
}

/* The holder: creates the key (tries every twentieth lease), says "held" on stdout, then
 * renews every quarter lease until it is killed. */
static int hold(void)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    if (!open_kv(&nc, &js, &kv))
        return 1;
    uint64_t rev = 0, start = cc_mono_us();
    while (kvStore_Create(&rev, kv, key, "h", 1) != NATS_OK) {
        if (cc_mono_us() - start > (uint64_t)LF_STEP_TIMEOUT_S * 1000000u) {
            fprintf(stderr, "leasefloor: holder could not create the key\n");
            return 1;
        }
        sleep_ms(lease_ms / 20 < 10 ? 10 : lease_ms / 20);
    }
    printf("held\n");
    fflush(stdout);
    while (cc_mono_us() - start < (uint64_t)LF_HOLD_MAX_S * 1000000u) {
        sleep_ms(lease_ms / 4);
        uint64_t next = 0;
        if (kvStore_Update(&next, kv, key, "h", 1, rev) == NATS_OK)
            rev = next;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Starts a holder; returns its pid and the read end of its stdout, or -1. */
static pid_t start_holder(const char *self, int *out)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char lease[16];
    snprintf(lease, sizeof lease, "%d", lease_ms);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(self, self, "--hold", "--url", url, "--bucket", bucket, "--key", key, "--lease-ms",
              lease, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    *out = fds[0];
    return pid;
}

/* Waits for the holder's "held" line: false when it does not come in time. */
static bool wait_held(int fd)
{
    char buf[16];
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t end = cc_mono_us() + (uint64_t)LF_STEP_TIMEOUT_S * 1000000u;
    while (got < 5) {
        uint64_t now = cc_mono_us();
        if (now >= end || poll(&p, 1, (int)((end - now) / 1000) + 1) <= 0)
            return false;
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return strncmp(buf, "held\n", 5) == 0;
}

static int measure(const char *self)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    if (!open_kv(&nc, &js, &kv))
        return 1;
    double take[LF_MAX_ROUNDS], gone[LF_MAX_ROUNDS];
    uint64_t rng = cc_mono_us() | 1;
    int try_ms = lease_ms / 20 < 10 ? 10 : lease_ms / 20;
    for (int r = 0; r < rounds; r++) {
        /* A key left by an earlier round is deleted, so that the holder creates it. */
        (void)kvStore_Delete(kv, key);
        int fd = -1;
        pid_t pid = start_holder(self, &fd);
        if (pid < 0) {
            fprintf(stderr, "leasefloor: cannot start a holder\n");
            return 1;
        }
        bool held = wait_held(fd);
        close(fd);
        if (!held) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fprintf(stderr, "leasefloor: the holder did not take the key in time\n");
            return 1;
        }
        /* Somewhere between two renewals, as a crash would be. */
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        sleep_ms(lease_ms + (int)(rng % (uint64_t)(lease_ms / 4 + 1)));
        uint64_t t0 = cc_mono_us();
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        uint64_t t_exit = cc_mono_us();
        uint64_t rev = 0, t_won = 0;
        while (cc_mono_us() - t0 < (uint64_t)LF_STEP_TIMEOUT_S * 1000000u) {
            uint64_t before = cc_mono_us();
            if (kvStore_Create(&rev, kv, key, "w", 1) == NATS_OK) {
                t_won = cc_mono_us();
                break;
            }
            uint64_t spent = (cc_mono_us() - before) / 1000;
            if ((int)spent < try_ms)
                sleep_ms(try_ms - (int)spent);
        }
        if (!t_won) {
            fprintf(stderr, "leasefloor: no takeover within %d s\n", LF_STEP_TIMEOUT_S);
            return 1;
        }
        take[r] = (double)(t_won - t0) / 1000.0;
        gone[r] = (double)(t_exit - t0) / 1000.0;
        printf("lease_floor: round=%d lease_ms=%d takeover_ms=%.1f exit_ms=%.1f\n", r + 1, lease_ms,
               take[r], gone[r]);
        fflush(stdout);
    }
    (void)kvStore_Delete(kv, key);
    double m_gone = median(gone, rounds);
    double m_take = median(take, rounds);
    printf("lease_floor: lease_ms=%d rounds=%d takeover_ms=%.0f takeover_ms_min=%.0f "
           "takeover_ms_median=%.0f takeover_ms_max=%.0f exit_ms_median=%.1f\n",
           lease_ms, rounds, m_take, take[0], m_take, take[rounds - 1], m_gone);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},    {"bucket", required_argument, NULL, 'b'},
        {"key", required_argument, NULL, 'k'},    {"lease-ms", required_argument, NULL, 'l'},
        {"rounds", required_argument, NULL, 'r'}, {"hold", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    bool holder = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'b': bucket = optarg; break;
        case 'k': key = optarg; break;
        case 'l': lease_ms = atoi(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'H': holder = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (lease_ms < 100 || lease_ms > 60000 || rounds < 1 || rounds > LF_MAX_ROUNDS) {
        fprintf(stderr, "leasefloor: --lease-ms 100..60000, --rounds 1..%d\n", LF_MAX_ROUNDS);
        return 2;
    }
    int rc = holder ? hold() : measure("/proc/self/exe");
    nats_Close();
    return rc;
}

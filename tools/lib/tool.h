/* tool: what the demo tools and the benchmark (the programs in tools and bench) share:
 * the shutdown on SIGINT/SIGTERM, the bounded wait before the networking context is
 * closed, the descriptor limit, the password file and a seeded random generator. */
#ifndef CC_TOOL_H
#define CC_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/conn.h"
#include "net/tls.h"

typedef struct tool_signals tool_signals;

/* Called once per SIGINT or SIGTERM on s with the signal's number. */
typedef void tool_signal_fn(tool_signals *s, int signum);

/* The SIGINT and SIGTERM handlers of a tool's loop. */
struct tool_signals {
    uv_signal_t sigint;
    uv_signal_t sigterm;
    tool_signal_fn *on_signal;
    void *data; /* the caller's: the functions here leave it alone */
};

/* Begins a tool's orderly stop; why says what asked for it: "SIGINT", "SIGTERM" or
 * "seconds". Called again for every later signal. */
typedef void tool_stop_fn(const char *why);

/* What stops a simulator: a signal, or the end of its --seconds. */
typedef struct tool_stop {
    tool_signals sig;
    uv_timer_t timer;
    tool_stop_fn *stop;
} tool_stop;

/* The timer that closes a networking context once its connections are gone. */
typedef struct tool_drain {
    uv_timer_t timer;
    uint64_t start_us;
    cc_net *net;
} tool_drain;

/* Ignores SIGPIPE (a peer that went away shows up as a write error instead), then
 * initialises loop and the networking context net on it. */
void tool_loop_init(uv_loop_t *loop, cc_net *net);

/* Runs loop until no handle is left, then closes it; returns uv_loop_close's result
 * (0, or UV_EBUSY when a handle was left open). */
int tool_loop_run(uv_loop_t *loop);

/* Starts handlers on loop that call on_signal for SIGINT and for SIGTERM. */
void tool_signals_start(tool_signals *s, uv_loop_t *loop, tool_signal_fn *on_signal);

/* Closes both signal handlers, so that they no longer keep the loop running. */
void tool_signals_close(tool_signals *s);

/* "SIGINT" for SIGINT, "SIGTERM" for anything else (the only other signal handled). */
const char *tool_signal_name(int signum);

/* Calls stop on SIGINT and SIGTERM and, when seconds is not 0, once that many seconds
 * have passed. */
void tool_stop_start(tool_stop *s, uv_loop_t *loop, unsigned seconds, tool_stop_fn *stop);

/* Closes the signal handlers and the timer, so that they no longer keep the loop running. */
void tool_stop_close(tool_stop *s);

/* uv_close with a callback that does nothing: for handles that live in static storage. */
void tool_close(uv_handle_t *h);

/* Closes net once no TCP handle is left on loop, or after 2 seconds at the most: closing
 * connections finish in a later loop turn, and a closing socket does not keep the loop
 * running by itself. d must stay valid until the loop ends. */
void tool_close_net_later(tool_drain *d, uv_loop_t *loop, cc_net *net);

/* Raises the soft RLIMIT_NOFILE to want (at most to the hard limit) and warns on stderr,
 * prefixed by prog, when the limit stays below it. */
void tool_raise_nofile(const char *prog, uint64_t want);

/* Reads the first line of the file path, without its line end, into out (size bytes, a
 * longer line is cut). On failure prints "prog: path: ..." on stderr — the error, or
 * empty_what when the line is empty — and returns false. */
bool tool_read_password(const char *prog, const char *path, char *out, size_t size,
                        const char *empty_what);

/* The next number of the xorshift64* generator whose state is *rng (never 0): good enough
 * to spread simulated actions, and reproducible by seed. */
uint64_t tool_rand(uint64_t *rng);

/* A number in [0, 1) from the generator *rng. */
double tool_unit(uint64_t *rng);

/** Sorts n latencies in place, for tool_percentile. */
void tool_sort_u32(uint32_t *v, size_t n);

/** The p-th quantile (0..1, nearest rank) of n sorted values; 0 when n is 0. */
uint32_t tool_percentile(const uint32_t *v, size_t n, double p);

/* The TLS options every tool and the benchmark take (docs/operations.md, "TLS"):
 * --tls (verify the server with the system's CAs), --tls-ca FILE (with that CA; implies
 * --tls), --tls-cert FILE and --tls-key FILE (a client certificate, for servers that ask
 * for one). Their getopt values are TOOL_OPT_TLS and the three after it. */
typedef struct tool_tls {
    bool on;
    const char *ca, *cert, *key;
    tls_ctx *ctx; /* made by tool_tls_start; NULL without TLS */
} tool_tls;

enum { TOOL_OPT_TLS = 0x7100, TOOL_OPT_TLS_CA, TOOL_OPT_TLS_CERT, TOOL_OPT_TLS_KEY };

/* The struct option entries of the TLS options, for a tool's option table. */
#define TOOL_TLS_OPTIONS                                                                           \
    {"tls", no_argument, NULL, TOOL_OPT_TLS},                                                      \
        {"tls-ca", required_argument, NULL, TOOL_OPT_TLS_CA},                                      \
        {"tls-cert", required_argument, NULL, TOOL_OPT_TLS_CERT},                                  \
    {                                                                                              \
        "tls-key", required_argument, NULL, TOOL_OPT_TLS_KEY                                       \
    }

/* The usage lines of the TLS options. */
#define TOOL_TLS_USAGE                                                                             \
    "  --tls                connect with TLS, verifying the server with the system's CAs\n"        \
    "  --tls-ca FILE        connect with TLS, verifying the server with the CA in FILE\n"          \
    "  --tls-cert FILE, --tls-key FILE\n"                                                          \
    "                       the client certificate to present (servers with tls-ca)\n"

/* Takes getopt's opt and optarg: true when opt was a TLS option (stored in t). */
bool tool_tls_opt(tool_tls *t, int opt, const char *arg);

/* Makes the client context when TLS was asked for. Returns true, or prints why not on
 * stderr, prefixed by prog, and returns false. */
bool tool_tls_start(tool_tls *t, const char *prog);

/* Frees the context (after the last connection that used it was freed or closed). */
void tool_tls_free(tool_tls *t);

/** CPU time (user + system) of process pid in microseconds, from /proc; -1 when it
 * cannot be read. */
int64_t tool_proc_cpu_us(int pid);

#endif

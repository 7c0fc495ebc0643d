/* A background thread that runs one function now and then: every period, and at once when
 * kicked. For work that must stay off an event loop (a WAL checkpoint, a writeback) and
 * needs no answer. The thread runs at a nice value of its own, so that its work waits for
 * a core rather than the loop. */
#ifndef CC_TICKER_H
#define CC_TICKER_H

#include <stdint.h>
#include <time.h>

/** A running ticker (opaque). */
typedef struct cc_ticker cc_ticker;

/**
 * Starts a thread that calls fn(arg) every period_ms milliseconds and after each
 * cc_ticker_kick, never two calls at once. The thread lowers its own priority to nice
 * (0 leaves it; lowering needs no privilege, and a refusal leaves the process's). Returns
 * NULL when no thread can be started: the caller does the work some other way.
 */
cc_ticker *cc_ticker_start(unsigned period_ms, int nice, void (*fn)(void *arg), void *arg);

/** Asks for a call as soon as the current one (if any) is over. Cheap: a mutex and a
 * signal; safe from any thread. */
void cc_ticker_kick(cc_ticker *t);

/** Stops the thread after the call in progress (if any), joins it and frees t; NULL is
 * ignored. fn is not called after it returns. */
void cc_ticker_stop(cc_ticker *t);

/** The time ms milliseconds from now on clock (for pthread_cond_timedwait). */
struct timespec cc_deadline_after(clockid_t clock, uint64_t ms);

#endif

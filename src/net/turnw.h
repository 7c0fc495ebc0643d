/* Loop-turn watch: a switchable probe of how long one turn of an event loop keeps it
 * from its poll, for finding what sets a latency's tail (docs/bench.md, "Statistics
 * (issue 11)"). A message that arrives while the loop is busy waits for the rest of the
 * turn, so the share of time spent in long turns is the share of messages that wait.
 *
 * Off unless the environment has CC_TURN_WATCH_MS (a number of milliseconds, at least 1):
 * then every turn is measured (the CPU time of the loop's thread, which a loaded machine
 * does not inflate, and the wall time outside the poll), each turn of at least that much
 * CPU
 * is logged with the named sections it ran (event=long_turn), and cc_turnw_report logs
 * (or returns) a histogram of the turns since the last report. Its lines are logged at
 * warn, so that the benchmarks, which print warnings only, print them too. Off, every
 * call is a no-op costing a test of one flag. */
#ifndef NET_TURNW_H
#define NET_TURNW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/** The turns' figures since the last report. */
typedef struct cc_turnw_stats {
    uint64_t turns;
    uint64_t busy_us;  /* the CPU time of all turns */
    uint64_t wall_us;  /* the wall time of all turns outside the poll */
    uint64_t span_us;  /* the wall time since the last report */
    uint64_t max_us;   /* the longest turn (CPU time, as the next four) */
    uint64_t p99_us;   /* 99 % of the turns were at most this long (bucket bound) */
    uint64_t over2_us; /* the time of the turns of 2 ms or more */
    uint64_t over5_us; /* the time of the turns of 5 ms or more */
    uint64_t n_over2;  /* how many turns of 2 ms or more */
    uint64_t n_over5;  /* how many turns of 5 ms or more */
} cc_turnw_stats;

/**
 * Starts watching the turns of loop when CC_TURN_WATCH_MS is set; who names the process
 * in the lines logged; report_s, when not 0, logs a report every that many seconds
 * (CC_TURN_WATCH_REPORT_S instead when set).
 * Measures the loop's idle time (uv_loop_configure). Call once, before the loop runs.
 * Returns whether the watch is on.
 */
bool cc_turnw_start(uv_loop_t *loop, const char *who, unsigned report_s);

/** Stops the watch and closes its handles (the loop must run once more to finish
 * closing them, as for any handle). No-op when off. */
void cc_turnw_stop(void);

/** Whether the watch is on. */
bool cc_turnw_on(void);

/** The start of a named section of the current turn: pass the value to cc_turnw_end. */
uint64_t cc_turnw_begin(void);

/** The end of the section what (a string literal) begun at t0: its time and count are
 * added to the turn's. */
void cc_turnw_end(const char *what, uint64_t t0);

/** Fills out with the turns since the last report (or the start) and starts a new
 * count; logs event=turn_stats with them when log is true. No-op when off. */
void cc_turnw_report(cc_turnw_stats *out, bool log);

#endif

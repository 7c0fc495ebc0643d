/* Login throttling: failed logins remembered per key (an agent, or a peer address), an
 * exponential delay before every attempt beyond the free ones, and a lockout once a key
 * has failed often enough. A table knows nothing of agents, passwords or sockets, and
 * has no clock of its own: the caller passes the monotonic time in microseconds, so that
 * the unit tests drive it. Where the rule says so, attempts still in flight count like
 * failures, so that many connections guessing one agent at once are delayed (and locked
 * out) as if they took turns. */
#ifndef IXN_THROTTLE_H
#define IXN_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/map.h"

/** The rule of one table. */
typedef struct ixn_throttle_rule {
    unsigned free_failures;    /* attempts after this many failures are delayed */
    unsigned lockout_failures; /* this many failures lock the key; 0 = never */
    uint64_t delay_us;         /* the first delay, doubled per further failure; 0 = none */
    uint64_t delay_max_us;     /* the cap of the doubling */
    uint64_t lockout_us;       /* how long a lockout lasts */
    uint64_t forget_us;        /* failures are forgotten this long after the last one (the
                                  table uses at least lockout_us) */
    size_t max_entries;        /* the cap: a new key drops the least recent entry */
    bool count_in_flight;      /* attempts in flight count like failures (per agent: one
                                  agent logs in once; not per address, where a whole
                                  office or a proxy logs in at once) */
} ixn_throttle_rule;

/** Counters of one table. */
typedef struct ixn_throttle_stats {
    uint64_t lockouts; /* keys locked */
    uint64_t evicted;  /* entries dropped for a new key while the table was full */
} ixn_throttle_stats;

typedef struct ixn_throttle_entry ixn_throttle_entry;

/** One table of keys with their failures. */
typedef struct ixn_throttle {
    ixn_throttle_rule rule;
    cc_map map;                      /* key -> ixn_throttle_entry */
    ixn_throttle_entry *head, *tail; /* by last failure, oldest first */
    size_t count;
    ixn_throttle_stats stats;
} ixn_throttle;

/** How an attempt ended, for ixn_throttle_end. */
enum ixn_throttle_outcome {
    IXN_THROTTLE_NONE,      /* not judged (the check could not run): only no longer in flight */
    IXN_THROTTLE_FAILED,    /* a failure: counted, and may lock the key */
    IXN_THROTTLE_SUCCEEDED, /* the key's failures are forgotten */
};

/** Initialises an empty table with rule (copied). */
void ixn_throttle_init(ixn_throttle *t, const ixn_throttle_rule *rule);

/** Frees every entry of the table. */
void ixn_throttle_free(ixn_throttle *t);

/**
 * Whether an attempt for key may start at now. Returns 0 and *start_us, the time its
 * password may be checked (now when the attempt is free, later when it must wait), or
 * CC_E_LIMIT_EXCEEDED when the key is locked, counting the attempts in flight as
 * failures. Nothing is recorded: an admitted attempt is recorded by ixn_throttle_begin.
 */
int ixn_throttle_check(ixn_throttle *t, const char *key, size_t len, uint64_t now_us,
                       uint64_t *start_us);

/**
 * Records an attempt that ixn_throttle_check admitted: it is in flight until
 * ixn_throttle_end. start_us is when it will be checked (the latest start that any table
 * asked for); later delayed attempts of key queue behind it.
 */
void ixn_throttle_begin(ixn_throttle *t, const char *key, size_t len, uint64_t now_us,
                        uint64_t start_us);

/**
 * Ends an attempt recorded by ixn_throttle_begin with its outcome. Returns true when this
 * failure locked the key (from now until now + lockout_us).
 */
bool ixn_throttle_end(ixn_throttle *t, const char *key, size_t len, uint64_t now_us,
                      enum ixn_throttle_outcome outcome);

/** The failures remembered for key at now (0 for a key not in the table). */
unsigned ixn_throttle_failures(ixn_throttle *t, const char *key, size_t len, uint64_t now_us);

/** The entries in the table. */
size_t ixn_throttle_count(const ixn_throttle *t);

#endif

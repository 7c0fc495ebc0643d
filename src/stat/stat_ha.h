/* The hot-standby pair's lease (docs/ha.md): with a [nats] section, the statserver holds
 * the primary role only while it holds a key in a NATS JetStream KV bucket. The key is
 * created when absent, renewed by compare-and-set on its revision every quarter lease, and
 * deleted on stop; the revision at creation is the epoch. The role is lost only when NATS
 * refuses a renewal (another member holds the key, or it aged out): while NATS is away a
 * primary stays primary, since routing must not stop for it and a successor's higher epoch
 * fences it at the interaction servers anyway. All NATS calls run on a thread of
 * this module's own (libnats blocks and has threads of its own); role changes reach the
 * loop through a uv_async_t, and nothing of the statserver is touched off the loop. */
#ifndef STAT_HA_H
#define STAT_HA_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "stat/stat_config.h"

typedef struct stat_ha stat_ha;

/** Called on the loop when the role changes: primary with the epoch of its lease, or
 * standby (epoch: that of the last lease held, 0 if none). */
typedef void (*stat_ha_role_fn)(void *user, bool primary, int64_t epoch);

/** Counters and the current role, read on the loop (for logs and metrics). */
typedef struct stat_ha_stats {
    bool primary;
    int64_t epoch;
    uint64_t promotions;     /* times the lease was won */
    uint64_t demotions;      /* times it was lost or given up */
    uint64_t renewals;       /* successful renewals */
    uint64_t renew_failures; /* renewals that failed (NATS away or slow, or the key lost) */
    uint64_t overdue;        /* times the lease ran out with NATS silent: the role was kept */
    bool nats_connected;
} stat_ha_stats;

/**
 * Starts the lease thread for cfg (which must outlive the module) in the standby role. fn
 * is called on loop with user for every role change. Returns NULL (logged) when the
 * thread or the async handle cannot be made. A NATS server that cannot be reached is no
 * error: the thread keeps trying, and the member stays standby.
 */
stat_ha *stat_ha_start(uv_loop_t *loop, const stat_nats_config *cfg, stat_ha_role_fn fn,
                       void *user);

/** Stops on the loop (SIGTERM): the thread deletes the key if it holds it, so that the
 * other member takes over at once, and ends. fn is not called again. Returns at once. */
void stat_ha_stop(stat_ha *ha);

/** Waits for the thread (bounded by the NATS request timeout) and frees everything; after
 * stat_ha_stop, once the loop has run the handle's close. NULL is ignored. */
void stat_ha_free(stat_ha *ha);

/** The current counters. */
stat_ha_stats stat_ha_get_stats(stat_ha *ha);

#endif

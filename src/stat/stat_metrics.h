/* The statserver's own metrics and its health (docs/operations.md, "Metrics and
 * health"): agents, links, agent states taken in, statuses computed and sent,
 * reservations, the statistics engine's size, the time from an agent state to its
 * status, and the history's commits. The calls below do nothing before
 * stat_metrics_init. */
#ifndef STAT_METRICS_H
#define STAT_METRICS_H

#include <stdint.h>

#include "common/metrics.h"
#include "stat/stat_agents.h"
#include "stat/stat_ha.h"
#include "stat/stat_links.h"
#include "stat/stat_stats.h"
#include "stat/stat_stream.h"
#include "store/hist.h"

/** Adds the statserver's families to r. Every pointer must outlive r; h is NULL without
 * a data-dir, data_dir the configured one (NULL: none). */
void stat_metrics_init(cc_metrics *r, stat_agents *agents, stat_links *links, stat_stats *stats,
                       hist *h, const char *data_dir);

/** Adds the pair's families (role, epoch, failed renewals, statuses withheld) for a member
 * of a statserver pair; ha must outlive r. */
void stat_metrics_pair(cc_metrics *r, stat_ha *ha);

/** Adds the status stream's families (published, errors, dropped, pending, lag); stream
 * must outlive r. */
void stat_metrics_stream(cc_metrics *r, stat_stream *stream);

/** A status publish to NATS was acknowledged lag_us after the change it carries. */
void stat_metrics_stream_lag(uint64_t lag_us);

/** The /healthz check: 0 when the history is open (or none is configured), else
 * CC_E_UNAVAILABLE with *why. */
int stat_metrics_health(void *user, const char **why);

/** An agent state that arrived at started_us (cc_mono_us) was applied and its statuses
 * sent. */
void stat_metrics_state_applied(uint64_t started_us);

/** The history committed: a new transaction's duration is taken from its counters. */
void stat_metrics_hist_committed(const hist *h);

#endif

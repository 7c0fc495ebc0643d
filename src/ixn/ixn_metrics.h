/* The ixnserver's own metrics and its health (docs/operations.md, "Metrics and health"):
 * agents, logins and their throttling, statuses, reservations and the latency histograms
 * that need a moment from the hot path (state reported -> status received, submit ->
 * invite, store commit). Counters the server keeps anyway are bound, not copied; the
 * calls below do nothing before ixn_metrics_init. */
#ifndef IXN_METRICS_H
#define IXN_METRICS_H

#include <stdint.h>

#include "common/metrics.h"
#include "ixn/ixn_agents.h"
#include "store/store.h"

/** Adds the ixnserver's families to r (the interaction core's included, so call it after
 * ixn_core_init). srv must outlive r. */
void ixn_metrics_init(cc_metrics *r, ixn_server *srv);

/** The /healthz check: 0 when the store is open (or none is configured) and a reporting
 * engine reports for this server, else CC_E_UNAVAILABLE with *why. */
int ixn_metrics_health(void *srv, const char **why);

/** The agent's new version is being reported: the time its status takes starts now. */
void ixn_metrics_state_reported(ixn_agent *a);

/** A status for version arrived for the agent: the first one for the version it has
 * reported is timed. */
void ixn_metrics_status_received(ixn_agent *a, int64_t version);

/** An interaction submitted at created_us (wall clock) is offered now. */
void ixn_metrics_invited(int64_t created_us);

/** The store committed a batch: its duration is taken from the store's counters. */
void ixn_metrics_committed(const store *st);

#endif

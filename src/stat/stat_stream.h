/* The status stream on NATS (docs/ha.md, "Status stream on NATS"): while this member of a
 * pair is primary, every agent's changed status is mirrored into a JetStream KV bucket,
 * key `<tenant>.<agentId>` (proto/statkey.h), value the EventCurrentAgentStatus the
 * StatClient port sends for the agent; an agent known nowhere any more has its key
 * deleted. Publishing is asynchronous and coalesced: the loop keeps a dirty set of at most
 * one entry per agent holding the agent's latest status (a new change replaces it), sends
 * in batches, and keeps at most status-in-flight publishes unanswered; a group of
 * publishes shares the JetStream ack of its last. A publish that fails or stays
 * unanswered puts its agent back in the set; while NATS is away the set waits (bounded by
 * max_dirty: beyond it every agent is published again once it drains). On becoming
 * primary and on every (re)connection every known agent is published and the keys of
 * agents no longer known are deleted, so that the bucket converges to the StatClient
 * view. libnats runs on this module's own thread; publishes reach it through a bounded
 * queue, answers come back through another and a uv_async_t, and nothing of the
 * statserver is touched off the loop. */
#ifndef STAT_STREAM_H
#define STAT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "stat/stat_agents.h"
#include "stat/stat_config.h"

typedef struct stat_stream stat_stream;

/** Counters and gauges, read on the loop (metrics, the stream_stats log line). */
typedef struct stat_stream_stats {
    uint64_t published; /* publishes acknowledged (puts and deletes) */
    uint64_t deleted;   /* of which deletes of agents known nowhere */
    uint64_t errors;    /* publishes refused or unanswered within status-ack-ms */
    uint64_t dropped;   /* changes not kept because the dirty set was full */
    uint64_t resyncs;   /* times every known agent was queued for publishing */
    size_t dirty;       /* agents waiting to be published */
    size_t inflight;    /* publishes awaiting their answer */
    bool connected;     /* NATS connected and the bucket bound */
    double lag_p50_ms;  /* time from a status change to its ack, over every ack */
    double lag_p99_ms;
    double lag_max_ms;
    double active_s;        /* from the first publish to the last ack */
    double peak_per_s;      /* the most acks in one second (a second of acks, then the next) */
    double peak_lag_p50_ms; /* the lag in that second */
    double peak_lag_p99_ms;
    double last5_per_s;      /* publishes acknowledged per second over the last five
                                complete seconds of the current term */
    double last5_lag_p50_ms; /* and their lag */
    double last5_lag_p99_ms;
} stat_stream_stats;

/** Called on the loop with each ack's lag in microseconds (for the metrics). */
typedef void (*stat_stream_lag_fn)(uint64_t lag_us);

/**
 * Starts the stream for cfg (which must outlive the module) over agents, in the standby
 * role (nothing is published before stat_stream_role makes it primary). max_dirty bounds
 * the dirty set; lag (may be NULL) hears of every ack. Returns NULL (logged) when the
 * thread or the handles cannot be made. A NATS server that cannot be reached is no error.
 */
stat_stream *stat_stream_start(uv_loop_t *loop, const stat_nats_config *cfg, stat_agents *agents,
                               size_t max_dirty, stat_stream_lag_fn lag);

/** Whether an agent belongs to this statserver ([server] tenants and partition). */
typedef bool (*stat_stream_owns_fn)(void *ctx, const char *tenant, const char *agent_id);

/** Limits the resynchronisation's deletes to the keys of agents that owns accepts:
 * partitions share one bucket, and a key of another partition's agent is not stale
 * because this statserver does not know the agent. Without it every key is this one's. */
void stat_stream_set_owner(stat_stream *s, stat_stream_owns_fn owns, void *ctx);

/** The agent's status changed (stat_sink.changed): queued for publishing when primary,
 * with body (an open EventCurrentAgentStatus, referenced until it is sent or replaced) as
 * its value, or a delete of its key when it is no longer known. */
void stat_stream_changed(stat_stream *s, const char *tenant, const char *agent_id, bool known,
                         cc_sbuf *body);

/** The member's role: a new primary publishes every agent with epoch in the Cc-Epoch
 * header; a standby publishes nothing and forgets its dirty set. */
void stat_stream_role(stat_stream *s, bool primary, int64_t epoch);

/** Stops on the loop: nothing more is published, the handles close. NULL is ignored. */
void stat_stream_stop(stat_stream *s);

/** Waits for the thread and frees everything, once the loop has run the handles' close.
 * NULL is ignored. */
void stat_stream_free(stat_stream *s);

/** The current counters. */
stat_stream_stats stat_stream_get_stats(const stat_stream *s);

#endif

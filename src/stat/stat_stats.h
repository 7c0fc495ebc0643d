/* The statistics engine (docs/statistics.md "The statistics engine"): interaction steps
 * and merged agent states in, the value of any statistic of the definitions table out,
 * over the profiles day and sliding:N. No I/O and no clock of its own: every entry point
 * takes the time (Unix ms), so that a test can script a day to the millisecond.
 *
 * Per object (a queue's visits, an agent's offers and ends, its state segments) the
 * engine keeps the sums of the day so far, and the time-ordered records only as long as
 * sliding windows need them: the longest sliding window open on the object, or
 * sliding-keep when that is longer. A day statistic takes its object's day sums, a sliding
 * one a cursor into the records and running sums, so that an event costs O(statistics of
 * its object), the passing of time O(records that leave the window), and the memory does
 * not grow with the day's volume. Equal requests share one statistic, so a value is
 * computed (and encoded by the port) once for all. */
#ifndef STAT_STATS_H
#define STAT_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/media.h"
#include "proto/ixnreport.h"
#include "proto/statistic.h"
#include "stat/stat_agents.h"

/** Records one series (the visits of a queue, the ends or the state segments of an agent)
 * keeps at most: beyond, the oldest leave every sliding window early, so that a flood of
 * events cannot grow the engine without end (the day sums keep counting them). */
#define STAT_STATS_RECORDS_MAX ((size_t)1 << 20)

typedef struct stat_stats stat_stats;
typedef struct stat_stats_inst stat_stats_inst;

/** sliding-keep when stat_stats_config gives 0: seconds of records kept for sliding
 * windows opened later. */
#define STAT_STATS_KEEP_DEFAULT_S 900

/** The engine's settings. */
typedef struct stat_stats_config {
    cc_media_table *media;  /* the daemon's table: media names of events are interned there */
    int64_t threshold_s;    /* service-level-threshold: ServiceLevel's default T */
    size_t max_records;     /* records kept per series at most; 0 = STAT_STATS_RECORDS_MAX */
    int64_t sliding_keep_s; /* sliding-keep: seconds of records every series keeps for sliding
                               windows opened later; 0 = STAT_STATS_KEEP_DEFAULT_S, negative =
                               none (only what the open windows hold) */
} stat_stats_config;

/** A new engine. The day profile starts at midnight in the process's local time zone
 * (the daemon sets TZ from its timezone key before). */
stat_stats *stat_stats_new(const stat_stats_config *cfg);
/** Frees the engine and every statistic. */
void stat_stats_free(stat_stats *s);

/** Interaction reporting of link starts: the snapshot follows. */
void stat_stats_link_up(stat_stats *s, int link);
/** One EventInteractionReported of link (a Snapshot or a step), received at now. */
void stat_stats_ixn(stat_stats *s, int link, const char *server, const proto_ixr_event *e,
                    int64_t now);
/** The snapshot of link is complete: the interactions it did not show ended while the
 * link was down, neither answered nor abandoned. */
void stat_stats_snapshot_done(stat_stats *s, int link, int64_t now);
/** Link is lost: its interactions stop counting as waiting until its next snapshot. */
void stat_stats_link_down(stat_stats *s, int link, int64_t now);

/** An agent's merged state (the stat_agents sink), at now. */
void stat_stats_agent(stat_stats *s, const stat_agents_view *v, int64_t now);

/**
 * Opens a statistic as a decoded RequestOpenStatistic defines it (its statisticId and
 * notify are the port's), at now. Equal definitions share one statistic (a reference
 * each). media is the id of def->media in the table (-1 when none). Returns NULL only
 * when the definition is not one (a per-media statistic without media).
 */
stat_stats_inst *stat_stats_open(stat_stats *s, const proto_sts_open *def, int media, int64_t now);
/** Drops one reference; the last frees the statistic. */
void stat_stats_close(stat_stats *s, stat_stats_inst *i);
/** The value at now. A State's reason description is borrowed until the next call. */
proto_sts_value stat_stats_value(stat_stats *s, stat_stats_inst *i, int64_t now);
/** True when the value can change with time alone (a window moves, a wait grows). */
bool stat_stats_time_driven(const stat_stats_inst *i);
/** The caller's pointer of a statistic (NULL at first). */
void *stat_stats_user(const stat_stats_inst *i);
/** Sets the caller's pointer of a statistic. */
void stat_stats_set_user(stat_stats_inst *i, void *user);

/** Pops a statistic whose inputs changed since it was last popped, or NULL. */
stat_stats_inst *stat_stats_next_dirty(stat_stats *s);

/** One queue or agent the engine keeps, as stat_stats_each gives it. The strings are
 * borrowed for the call. */
typedef struct stat_stats_object {
    enum proto_sts_object type; /* PROTO_STS_QUEUE or PROTO_STS_AGENT */
    const char *server;         /* Queue: its interaction server; Agent: NULL */
    const char *tenant;
    const char *id;
    cc_media_mask media; /* Agent: the media it has had a State of; Queue: 0 */
} stat_stats_object;

/** Calls fn for every queue (type PROTO_STS_QUEUE) or agent (PROTO_STS_AGENT) the engine
 * keeps, in no particular order; fn must not change the engine. The reports' rows. */
void stat_stats_each(stat_stats *s, enum proto_sts_object type,
                     void (*fn)(void *user, const stat_stats_object *o), void *user);

/** Called by stat_stats_each_queue for one queue: its interaction server, tenant and id,
 * and the media of its interactions (-1 until one is seen). */
typedef void stat_stats_queue_fn(void *ctx, const char *server, const char *tenant, const char *id,
                                 int media);

/** Calls fn for every queue that holds an interaction or has had a visit recorded since
 * the engine started (a queue only named by a statistic is left out), in no particular
 * order. Returns how many. */
size_t stat_stats_each_queue(const stat_stats *s, stat_stats_queue_fn *fn, void *ctx);

/** Counters for logs and tests. */
typedef struct stat_stats_counts {
    uint64_t steps;        /* EventInteractionReported applied */
    uint64_t agents;       /* agent views applied */
    uint64_t open;         /* distinct statistics open */
    uint64_t interactions; /* unfinished interactions known */
    uint64_t objects;      /* queues, agents and tenants kept */
    uint64_t records;      /* records held by all series (what sliding windows need) */
} stat_stats_counts;

/** The engine's counters. */
stat_stats_counts stat_stats_get_counts(const stat_stats *s);

/** The engine's clock at the wall time wall_ms: never before a time it already took, so
 * that values stamped with it follow the inputs they count. */
int64_t stat_stats_clock(const stat_stats *s, int64_t wall_ms);

#endif

/* Interval reports from the history (statistics.md section 4, docs/statistics.md
 * "Reports"): CSV with one row per queue, or per agent and media, per interval. The
 * history is replayed through a statistics engine of the report's own, so that a report's
 * numbers are the engine's numbers by construction: a sliding window as long as the
 * interval, read at the interval's end, covers exactly that interval. The rows are made a
 * bounded amount at a time (stat_report_next), so that the daemon streams a report of any
 * length without holding it and without a long pause of its loop. */
#ifndef STAT_REPORT_H
#define STAT_REPORT_H

#include <stdint.h>

#include "common/buf.h"
#include "net/creds.h"

/** Shortest interval, seconds; every interval is a multiple of it. */
#define STAT_REPORT_STEP_S 300
/** Longest interval, seconds (a sliding window's longest). */
#define STAT_REPORT_INTERVAL_MAX_S 86400
/** Longest span from..to, seconds (a year and a day). */
#define STAT_REPORT_SPAN_MAX_S (366 * 86400)

/** Which report. */
enum stat_report_kind {
    STAT_REPORT_QUEUES, /* /reports/queues.csv */
    STAT_REPORT_AGENTS, /* /reports/agents.csv */
};

/** What a report covers. */
typedef struct stat_report_req {
    enum stat_report_kind kind;
    int64_t from, to;   /* Unix ms, whole seconds, from < to */
    int64_t interval_s; /* a multiple of STAT_REPORT_STEP_S, at most STAT_REPORT_INTERVAL_MAX_S */
    /* The tenants whose rows the report holds (a [clients] entry's); NULL: every tenant.
     * It must outlive the report. */
    const cc_tenant_set *tenants;
} stat_report_req;

/** The report of a path ("/reports/queues.csv", "/reports/agents.csv"): 0 with *kind, or
 * CC_E_NOT_FOUND. */
int stat_report_kind_of(const char *path, enum stat_report_kind *kind);

/** A time as the reports take it: Unix milliseconds (digits only) or ISO 8601
 * "YYYY-MM-DDTHH:MM[:SS[.fff]]" with "Z" or an offset "+HH:MM" (none: UTC), taken down to
 * the whole second. Returns 0 with *out, or CC_E_INVALID_ATTRIBUTE. */
int stat_report_parse_time(const char *s, size_t len, int64_t *out);

/** Fills the times and interval of req from a query "from=T1&to=T2&interval=S" (any
 * order; each exactly once; nothing else). Returns 0, or CC_E_INVALID_ATTRIBUTE with
 * *why, a static text naming the parameter. */
int stat_report_parse_query(const char *query, stat_report_req *req, const char **why);

typedef struct stat_report stat_report;

/** A report of the history in data_dir (read-only; a missing history gives the header
 * only). threshold_s is ServiceLevel's T; now (Unix ms) ends an interval still running:
 * its row holds what happened until then, and intervals that start later have none. */
stat_report *stat_report_new(const char *data_dir, const stat_report_req *req, int64_t threshold_s,
                             int64_t now);

/** Appends the next rows (the header first) to out: a bounded amount of history replayed
 * and of rows made. Returns 1 while more follows, 0 after the last rows, or
 * CC_E_UNAVAILABLE when the history cannot be read. */
int stat_report_next(stat_report *r, cc_buf *out);

/** Frees the report; NULL is ignored. */
void stat_report_free(stat_report *r);

#endif

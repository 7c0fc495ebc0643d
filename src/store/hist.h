/* The statserver's history (docs/statistics.md "History"): every input of the statistics
 * engine, in the order the engine got it, so that replaying a stretch of it through an
 * engine gives exactly the values the live engine had. Inputs are interaction steps of a
 * link, the link's reporting starting, its snapshot done and its loss, and agents' merged
 * states.
 *
 * Writing: each hist_ixn / hist_agent / hist_link inserts one row into a transaction that
 * stays open until hist_commit, which the daemon calls from a timer (at least once a
 * second), so that the loop pays a prepared insert per event and one WAL append per
 * commit. A failed write is counted, never fatal. hist_purge deletes old rows in bounded
 * steps.
 *
 * Rows are numbered in the order they are written, and the writer keeps their times
 * non-decreasing, so that the order of rows and the order of times are one; rows put in
 * by another tool out of that order are never purged before their time nor read outside
 * a cursor's range, but a cursor may miss them.
 *
 * Reading: a cursor has its own read-only connection (WAL: it sees the rows committed
 * when it started and never blocks the writer), so a report or another process (the
 * --report command line) can read while the daemon writes, a bounded number of rows per
 * call.
 *
 * The file is DIR/history.db, an SQLite database in WAL mode with synchronous=NORMAL: it
 * survives kill -9 of the process (losing what was not committed yet, at most about a
 * second). Media are kept by name, so a restart that numbers media otherwise reads the
 * same history. Not thread-safe. */
#ifndef CC_HIST_H
#define CC_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/media.h"
#include "proto/ixnreport.h"
#include "proto/msg.h"

/** An agent's merged state after an update: the statserver's view of one agent
 * (stat_agents_view is this type), and what an agent row of the history keeps. The store
 * owns the layout so that it need not know the statserver; `at` is not kept (a row has
 * its own time). */
typedef struct hist_agent_state {
    const char *tenant;
    const char *agent_id;
    bool logged_in;
    bool dnd;
    cc_media_mask added;   /* media added on some server */
    cc_media_mask ready;   /* media ready after the rule (none under DND) */
    cc_media_mask holding; /* media with an interaction invited, handled or in after-work */
    uint32_t available[CC_MEDIA_MAX];
    /* Per added media that is not ready: the reason of the first server (in link order)
     * that gives one. */
    proto_reason reasons[CC_MEDIA_MAX];
    /* Unix ms of this update: the since of every media whose state changed in it, so
     * that the statistics engine can date the change the same way as the status. */
    int64_t at;
} hist_agent_state;

/** What a history row records besides steps and agent states. */
/** The largest link index a replay passes on (the statserver's configuration allows
 * fewer; a larger one in a damaged file is skipped). */
#define HIST_LINK_MAX 65535

enum hist_link_kind {
    HIST_LINK_UP = 1,   /* interaction reporting of the link started: its snapshot follows */
    HIST_SNAPSHOT_DONE, /* the link's snapshot is complete */
    HIST_LINK_DOWN,     /* the link was lost */
};

/** Counters for logs, tests and benchmarks; all since hist_open. */
typedef struct hist_stats {
    uint64_t rows_written;        /* rows of successful commits */
    uint64_t rows_failed;         /* rows lost: refused inserts and rolled back commits */
    uint64_t transactions;        /* successful commits of at least one row */
    uint64_t commit_failures;     /* commits that failed (their rows are lost) */
    uint64_t rows_purged;         /* rows deleted by hist_purge */
    int64_t last_commit_us;       /* duration of the last successful commit */
    int64_t max_commit_us;        /* longest successful commit */
    size_t pending;               /* rows inserted and not committed yet */
    uint64_t checkpoints;         /* checkpoints run by the history's checkpoint thread */
    uint64_t checkpoint_failures; /* of those, failed ones (the next one tries again) */
    int64_t max_checkpoint_us;    /* longest checkpoint (off the loop) */
} hist_stats;

/** An open history (opaque). */
typedef struct hist hist;

/** Opens (creating when needed, with dir and its missing parents, mode 0700) the history
 * of dir for writing. media is the daemon's table: media names read back are interned
 * there. A second writer of the same dir is refused. Returns 0 with *out, or CC_E_IO /
 * CC_E_UNAVAILABLE with a message in err. */
int hist_open(const char *dir, cc_media_table *media, hist **out, cc_buf *err);

/** Commits what is pending and closes the history; NULL is ignored. */
void hist_close(hist *h);

/** Records an interaction step (or snapshot event) of link (named server) received at now. */
void hist_ixn(hist *h, int64_t now, int link, const char *server, const proto_ixr_event *e);

/** Records an agent's merged state at now. */
void hist_agent(hist *h, int64_t now, const hist_agent_state *v);

/** Records a link event of kind at now. */
void hist_link(hist *h, int64_t now, enum hist_link_kind kind, int link, const char *server);

/** Commits the pending rows in one transaction. Returns 0 (nothing pending included) or
 * CC_E_UNAVAILABLE (the rows are lost and counted). */
int hist_commit(hist *h);

/** Deletes at most max_rows rows older than before (Unix ms), oldest first, in their own
 * transaction (pending rows are committed first). Returns how many were deleted. */
size_t hist_purge(hist *h, int64_t before, size_t max_rows);

/** The counters. */
hist_stats hist_get_stats(const hist *h);

/** Where a cursor delivers rows. The strings and the view are borrowed for the call. */
typedef struct hist_sink {
    void (*ixn)(void *user, int64_t now, int link, const char *server, const proto_ixr_event *e);
    void (*agent)(void *user, int64_t now, const hist_agent_state *v);
    void (*link)(void *user, int64_t now, enum hist_link_kind kind, int link, const char *server);
    void *user;
} hist_sink;

/** A reader of rows in order (opaque). */
typedef struct hist_cursor hist_cursor;

/** Opens a read-only cursor over the rows of dir recorded at from <= time < to (Unix ms),
 * in the order they were recorded. media interns the media names read. Returns 0 with
 * *out, CC_E_NOT_FOUND when dir has no history, or CC_E_UNAVAILABLE with err. */
int hist_cursor_open(const char *dir, cc_media_table *media, int64_t from, int64_t to,
                     hist_cursor **out, cc_buf *err);

/** Delivers at most max_rows rows recorded before until (Unix ms) to sink; a later row
 * waits for a call with a later until. Returns how many (0: none before until, or the
 * end), or CC_E_UNAVAILABLE when the database failed. Rows that do not pass the checks (a
 * damaged file) are skipped and counted in hist_cursor_skipped. */
int hist_cursor_next(hist_cursor *c, const hist_sink *sink, size_t max_rows, int64_t until);

/** True when every row of the cursor was delivered. */
bool hist_cursor_done(const hist_cursor *c);

/** Rows skipped by the cursor's checks. */
uint64_t hist_cursor_skipped(const hist_cursor *c);

/** Closes the cursor; NULL is ignored. */
void hist_cursor_close(hist_cursor *c);

#endif

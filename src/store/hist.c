#include "store/hist.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/ticker.h"

/* The schema's version, kept in PRAGMA user_version. */
#define HIST_SCHEMA 1
/* How long a reader waits for a lock; WAL writers and readers do not block each other,
 * so this covers only a checkpoint racing a reader's start. */
#define HIST_BUSY_MS 100
/* How long the writer waits: only another writer (an outside tool) can hold it up, and the
 * loop must not wait for it. */
#define HIST_WRITER_BUSY_MS 20
/* The WAL pages after which a commit wakes the checkpoint thread: SQLite's own automatic
 * checkpoint starts at the same size. */
#define HIST_CKPT_PAGES 1000
/* The checkpoint thread also runs this often when nothing woke it, so that a quiet history
 * is written back into its database file too. */
#define HIST_CKPT_IDLE_S 5
/* The checkpoint thread's nice value (the loop's is the process's, usually 0). */
#define HIST_CKPT_NICE 10
/* Longest text a row may hold; longer values are not written (the wire's own limits
 * are far below). */
#define HIST_TEXT_MAX 4096

/* kind: 0 a step, HIST_LINK_* the link events, HIST_KIND_AGENT an agent's state. */
#define HIST_KIND_STEP 0
#define HIST_KIND_AGENT 9

/* An agent row's per-media bits in agent_media. */
#define BIT_ADDED 1
#define BIT_READY 2
#define BIT_HOLDING 4

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS events("
    " seq INTEGER PRIMARY KEY,"
    " at INTEGER NOT NULL,"
    " kind INTEGER NOT NULL,"
    " link INTEGER NOT NULL,"
    " server TEXT NOT NULL,"
    " cause INTEGER, ixn TEXT, tenant TEXT, media TEXT, queue TEXT, from_queue TEXT,"
    " agent TEXT, state INTEGER, priority INTEGER, submitted INTEGER, queued INTEGER,"
    " step_at INTEGER, reason INTEGER, flags INTEGER);"
    "CREATE INDEX IF NOT EXISTS events_at ON events(at);"
    "CREATE TABLE IF NOT EXISTS agent_media("
    " seq INTEGER NOT NULL,"
    " media TEXT NOT NULL,"
    " bits INTEGER NOT NULL,"
    " available INTEGER NOT NULL,"
    " rcode INTEGER,"
    " rdesc TEXT,"
    " PRIMARY KEY(seq, media)) WITHOUT ROWID;";

static const char INSERT_SQL[] =
    "INSERT INTO events(at, kind, link, server, cause, ixn, tenant, media, queue, from_queue,"
    " agent, state, priority, submitted, queued, step_at, reason, flags)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

static const char MEDIA_SQL[] = "INSERT INTO agent_media(seq, media, bits, available, rcode, rdesc)"
                                " VALUES(?1, ?2, ?3, ?4, ?5, ?6)";

static const char READ_SQL[] =
    "SELECT e.seq, e.at, e.kind, e.link, e.server, e.cause, e.ixn, e.tenant, e.media, e.queue,"
    " e.from_queue, e.agent, e.state, e.priority, e.submitted, e.queued, e.step_at, e.reason,"
    " e.flags, m.media, m.bits, m.available, m.rcode, m.rdesc"
    " FROM events e LEFT JOIN agent_media m ON m.seq = e.seq"
    " WHERE e.seq BETWEEN ?1 AND ?2 AND e.at >= ?3 AND e.at < ?4 ORDER BY e.seq";

/* The checkpoints of the WAL into the database file, on a thread (a ticker) and a connection
 * of their own. SQLite's automatic checkpoint runs inside the commit that finds the WAL over
 * 1,000 pages, on the loop's thread: 6 to 20 ms every few seconds at a busy centre's rate,
 * which every event arriving meanwhile waits for. A passive checkpoint from another
 * connection runs beside the writer (WAL mode allows one checkpointer next to one writer),
 * and the writer restarts the WAL from its start at its next commit once everything was
 * copied back. The counters are atomics, written by the ticker's thread, read by the
 * loop. */
typedef struct hist_ckpt {
    sqlite3 *db; /* the ticker's connection: only its thread uses it while it runs */
    cc_ticker *ticker;
    _Atomic uint64_t runs;
    _Atomic uint64_t failures;
    _Atomic int64_t max_us;
} hist_ckpt;

struct hist {
    sqlite3 *db;
    hist_ckpt ckpt;
    cc_media_table *media;
    char *path;
    int lock_fd;
    sqlite3_stmt *st_begin, *st_commit, *st_rollback, *st_insert, *st_media;
    bool in_tx;
    bool tx_failed;  /* an insert of the open transaction failed: it is rolled back */
    int64_t last_at; /* times are kept non-decreasing, as the engine sees them */
    hist_stats stats;
    int64_t last_error_log_ms;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *join_path(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int exec_sql(sqlite3 *db, const char *sql, cc_buf *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        store_set_err(err, "history: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return CC_E_UNAVAILABLE;
    }
    return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, cc_buf *err)
{
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        store_set_err(err, "history: cannot prepare a statement: %s", sqlite3_errmsg(db));
        return CC_E_UNAVAILABLE;
    }
    return 0;
}

/* Runs a prepared statement that returns no rows and resets it. */
static bool run_stmt(sqlite3_stmt *s)
{
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    return r == SQLITE_DONE;
}

static int setup(hist *h, cc_buf *err)
{
    int rc = exec_sql(h->db, "PRAGMA journal_mode=WAL", err);
    if (rc == 0)
        rc = exec_sql(h->db, "PRAGMA synchronous=NORMAL", err);
    if (rc == 0)
        rc = exec_sql(h->db, "PRAGMA journal_size_limit=67108864", err);
    if (rc == 0)
        rc = exec_sql(h->db, "PRAGMA cache_size=-1024", err);
    sqlite3_stmt *s = NULL;
    if (rc == 0)
        rc = prepare(h->db, "PRAGMA user_version", &s, err);
    int version = 0;
    if (rc == 0 && sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (rc == 0 && version > HIST_SCHEMA) {
        store_set_err(err, "%s has schema version %d, which this program cannot read", h->path,
                      version);
        return CC_E_UNAVAILABLE;
    }
    if (rc == 0)
        rc = exec_sql(h->db, SCHEMA_SQL, err);
    if (rc == 0 && version < HIST_SCHEMA)
        rc = exec_sql(h->db, "PRAGMA user_version=1", err);
    if (rc == 0)
        rc = prepare(h->db, "BEGIN", &h->st_begin, err);
    if (rc == 0)
        rc = prepare(h->db, "COMMIT", &h->st_commit, err);
    if (rc == 0)
        rc = prepare(h->db, "ROLLBACK", &h->st_rollback, err);
    if (rc == 0)
        rc = prepare(h->db, INSERT_SQL, &h->st_insert, err);
    if (rc == 0)
        rc = prepare(h->db, MEDIA_SQL, &h->st_media, err);
    if (rc == 0 && prepare(h->db, "SELECT max(at) FROM events", &s, err) == 0) {
        if (sqlite3_step(s) == SQLITE_ROW)
            h->last_at = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    return rc;
}

/* Runs one passive checkpoint on the ticker's connection and counts it. */
static void ckpt_run(void *arg)
{
    hist_ckpt *k = arg;
    int64_t t0 = mono_us();
    int log_pages = 0, done_pages = 0;
    int r = sqlite3_wal_checkpoint_v2(k->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log_pages,
                                      &done_pages);
    int64_t d = mono_us() - t0;
    /* BUSY: another checkpoint (an outside tool's) runs; the next call tries again. */
    if (r != SQLITE_OK && r != SQLITE_BUSY)
        atomic_fetch_add(&k->failures, 1);
    atomic_fetch_add(&k->runs, 1);
    if (d > atomic_load(&k->max_us))
        atomic_store(&k->max_us, d);
}

/* SQLite calls this on the writer's thread after each commit with the WAL's size in
 * pages. Installing it turns the automatic checkpoint off (both are the WAL hook). */
static int ckpt_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    hist_ckpt *k = arg;
    if (pages >= HIST_CKPT_PAGES)
        cc_ticker_kick(k->ticker);
    return SQLITE_OK;
}

/* Opens the checkpoint connection and starts its ticker. On failure the history keeps
 * SQLite's automatic checkpoint on the writer's connection: slower turns, nothing lost. */
static void ckpt_start(hist *h)
{
    hist_ckpt *k = &h->ckpt;
    if (sqlite3_open_v2(h->path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        exec_sql(k->db, "PRAGMA synchronous=NORMAL", NULL) != 0 ||
        !(k->ticker = cc_ticker_start(HIST_CKPT_IDLE_S * 1000u, HIST_CKPT_NICE, ckpt_run, k))) {
        sqlite3_close(k->db);
        k->db = NULL;
        return;
    }
    sqlite3_wal_hook(h->db, ckpt_wal_hook, k);
}

/* Stops the ticker and closes its connection, so that the writer's close is the last and
 * checkpoints and removes the WAL. */
static void ckpt_stop(hist *h)
{
    hist_ckpt *k = &h->ckpt;
    if (k->ticker) {
        sqlite3_wal_hook(h->db, NULL, NULL);
        cc_ticker_stop(k->ticker);
        k->ticker = NULL;
    }
    sqlite3_close(k->db);
    k->db = NULL;
}

int hist_open(const char *dir, cc_media_table *media, hist **out, cc_buf *err)
{
    *out = NULL;
    int rc = store_make_dirs(dir, err);
    if (rc)
        return rc;
    hist *h = xcalloc(1, sizeof *h);
    h->media = media;
    h->lock_fd = -1;
    char *lock = join_path(dir, "history.lock");
    h->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (h->lock_fd < 0 || flock(h->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        store_set_err(err, "%s: %s", lock,
                      h->lock_fd < 0 ? strerror(errno) : "another statserver writes this history");
        free(lock);
        hist_close(h);
        return CC_E_IO;
    }
    free(lock);
    h->path = join_path(dir, "history.db");
    if (sqlite3_open_v2(h->path, &h->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        store_set_err(err, "cannot open %s: %s", h->path,
                      h->db ? sqlite3_errmsg(h->db) : "out of memory");
        hist_close(h);
        return CC_E_UNAVAILABLE;
    }
    sqlite3_busy_timeout(h->db, HIST_WRITER_BUSY_MS);
    rc = setup(h, err);
    if (rc) {
        hist_close(h);
        return rc;
    }
    ckpt_start(h);
    *out = h;
    return 0;
}

void hist_close(hist *h)
{
    if (!h)
        return;
    if (h->db)
        hist_commit(h);
    ckpt_stop(h);
    sqlite3_finalize(h->st_begin);
    sqlite3_finalize(h->st_commit);
    sqlite3_finalize(h->st_rollback);
    sqlite3_finalize(h->st_insert);
    sqlite3_finalize(h->st_media);
    sqlite3_close(h->db);
    if (h->lock_fd >= 0)
        close(h->lock_fd);
    free(h->path);
    free(h);
}

/* Counts a lost row; the first loss of a second is logged by the caller's counters (the
 * daemon logs hist_stats), so nothing is printed per row here. */
static void lost(hist *h)
{
    h->stats.rows_failed++;
}

/* Opens the batch's transaction when none is open. */
static bool begin(hist *h)
{
    if (h->in_tx)
        return !h->tx_failed;
    if (!run_stmt(h->st_begin))
        return false;
    h->in_tx = true;
    h->tx_failed = false;
    return true;
}

static int64_t row_time(hist *h, int64_t now)
{
    if (now < h->last_at)
        now = h->last_at;
    h->last_at = now;
    return now;
}

static bool text_ok(const char *s)
{
    return !s || strlen(s) <= HIST_TEXT_MAX;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Inserts the bound events row; on failure the transaction is marked lost. */
static bool insert_event(hist *h)
{
    bool ok = run_stmt(h->st_insert);
    sqlite3_clear_bindings(h->st_insert);
    if (!ok) {
        h->tx_failed = true;
        lost(h);
        return false;
    }
    h->stats.pending++;
    return true;
}

void hist_ixn(hist *h, int64_t now, int link, const char *server, const proto_ixr_event *e)
{
    if (!server || !e->interaction_id || !e->tenant || !e->media || !e->queue || !text_ok(server) ||
        !text_ok(e->interaction_id) || !text_ok(e->tenant) || !text_ok(e->media) ||
        !text_ok(e->queue) || !text_ok(e->from_queue) || !text_ok(e->agent_id) || !begin(h)) {
        lost(h);
        return;
    }
    sqlite3_stmt *s = h->st_insert;
    sqlite3_bind_int64(s, 1, row_time(h, now));
    sqlite3_bind_int(s, 2, HIST_KIND_STEP);
    sqlite3_bind_int(s, 3, link);
    bind_text(s, 4, server);
    sqlite3_bind_int(s, 5, (int)e->cause);
    bind_text(s, 6, e->interaction_id);
    bind_text(s, 7, e->tenant);
    bind_text(s, 8, e->media);
    bind_text(s, 9, e->queue);
    bind_text(s, 10, e->from_queue);
    bind_text(s, 11, e->agent_id);
    sqlite3_bind_int(s, 12, (int)e->state);
    sqlite3_bind_int64(s, 13, e->priority);
    sqlite3_bind_int64(s, 14, e->submitted_at);
    sqlite3_bind_int64(s, 15, e->queued_at);
    sqlite3_bind_int64(s, 16, e->at);
    sqlite3_bind_int(s, 17, (int)e->reason);
    insert_event(h);
}

void hist_agent(hist *h, int64_t now, const hist_agent_state *v)
{
    if (!v->tenant || !v->agent_id || !text_ok(v->tenant) || !text_ok(v->agent_id) || !begin(h)) {
        lost(h);
        return;
    }
    sqlite3_stmt *s = h->st_insert;
    sqlite3_bind_int64(s, 1, row_time(h, now));
    sqlite3_bind_int(s, 2, HIST_KIND_AGENT);
    sqlite3_bind_int(s, 3, -1);
    bind_text(s, 4, "");
    bind_text(s, 7, v->tenant);
    bind_text(s, 11, v->agent_id);
    sqlite3_bind_int(s, 18, (v->logged_in ? 1 : 0) | (v->dnd ? 2 : 0));
    if (!insert_event(h))
        return;
    int64_t seq = sqlite3_last_insert_rowid(h->db);
    for (int m = 0; m < CC_MEDIA_MAX && m < h->media->count; m++) {
        cc_media_mask bit = (cc_media_mask)1 << m;
        int bits = ((v->added & bit) ? BIT_ADDED : 0) | ((v->ready & bit) ? BIT_READY : 0) |
                   ((v->holding & bit) ? BIT_HOLDING : 0);
        const proto_reason *r = &v->reasons[m];
        if (!bits && !v->available[m] && !r->present)
            continue;
        sqlite3_stmt *ms = h->st_media;
        sqlite3_bind_int64(ms, 1, seq);
        bind_text(ms, 2, cc_media_name(h->media, m));
        sqlite3_bind_int(ms, 3, bits);
        sqlite3_bind_int64(ms, 4, v->available[m]);
        if (r->present) {
            sqlite3_bind_int64(ms, 5, r->code);
            bind_text(ms, 6, text_ok(r->description) ? r->description : NULL);
        }
        bool ok = run_stmt(ms);
        sqlite3_clear_bindings(ms);
        if (!ok) {
            h->tx_failed = true;
            return;
        }
    }
}

void hist_link(hist *h, int64_t now, enum hist_link_kind kind, int link, const char *server)
{
    if (!server || !text_ok(server) || !begin(h)) {
        lost(h);
        return;
    }
    sqlite3_stmt *s = h->st_insert;
    sqlite3_bind_int64(s, 1, row_time(h, now));
    sqlite3_bind_int(s, 2, (int)kind);
    sqlite3_bind_int(s, 3, link);
    bind_text(s, 4, server);
    insert_event(h);
}

int hist_commit(hist *h)
{
    if (!h->in_tx)
        return 0;
    int64_t t0 = mono_us();
    h->in_tx = false;
    size_t n = h->stats.pending;
    h->stats.pending = 0;
    if (!h->tx_failed && run_stmt(h->st_commit)) {
        int64_t d = mono_us() - t0;
        h->stats.rows_written += n;
        h->stats.transactions++;
        h->stats.last_commit_us = d;
        if (d > h->stats.max_commit_us)
            h->stats.max_commit_us = d;
        return 0;
    }
    run_stmt(h->st_rollback);
    h->stats.commit_failures++;
    h->stats.rows_failed += n;
    h->tx_failed = false;
    return CC_E_UNAVAILABLE;
}

size_t hist_purge(hist *h, int64_t before, size_t max_rows)
{
    hist_commit(h);
    if (max_rows == 0)
        return 0;
    /* The time of the max_rows-th oldest row: rows up to it go (by time, not by seq, so
     * that rows an outside tool put in out of order cannot take younger ones along). */
    sqlite3_stmt *s = NULL;
    if (prepare(h->db,
                "SELECT max(at) FROM (SELECT at FROM events WHERE at < ?1 ORDER BY at LIMIT ?2)",
                &s, NULL) != 0)
        return 0;
    sqlite3_bind_int64(s, 1, before);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max_rows);
    int64_t cut = -1;
    bool found = false;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
        cut = sqlite3_column_int64(s, 0);
        found = true;
    }
    sqlite3_finalize(s);
    if (!found)
        return 0;
    size_t n = 0;
    char sql[256];
    snprintf(sql, sizeof sql,
             "BEGIN; DELETE FROM agent_media WHERE seq IN"
             " (SELECT seq FROM events WHERE at <= %lld);"
             " DELETE FROM events WHERE at <= %lld;",
             (long long)cut, (long long)cut);
    if (exec_sql(h->db, sql, NULL) == 0) {
        n = (size_t)sqlite3_changes(h->db);
        if (exec_sql(h->db, "COMMIT", NULL) == 0) {
            h->stats.rows_purged += n;
            return n;
        }
    }
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return 0;
}

hist_stats hist_get_stats(const hist *h)
{
    hist_stats st = h->stats;
    st.checkpoints = atomic_load(&h->ckpt.runs);
    st.checkpoint_failures = atomic_load(&h->ckpt.failures);
    st.max_checkpoint_us = atomic_load(&h->ckpt.max_us);
    return st;
}

/* --- reading --- */

struct hist_cursor {
    sqlite3 *db;
    sqlite3_stmt *read;
    cc_media_table *media;
    bool have_row; /* the statement stands on a row not delivered yet */
    bool done;
    uint64_t skipped;
    cc_buf text; /* the strings of the agent view being gathered */
};

int hist_cursor_open(const char *dir, cc_media_table *media, int64_t from, int64_t to,
                     hist_cursor **out, cc_buf *err)
{
    *out = NULL;
    char *path = join_path(dir, "history.db");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        store_set_err(err, "%s: no history", path);
        free(path);
        return CC_E_NOT_FOUND;
    }
    hist_cursor *c = xcalloc(1, sizeof *c);
    c->media = media;
    cc_buf_init(&c->text);
    int rc = 0;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        store_set_err(err, "cannot open %s: %s", path,
                      c->db ? sqlite3_errmsg(c->db) : "out of memory");
        rc = CC_E_UNAVAILABLE;
    }
    free(path);
    if (rc == 0) {
        sqlite3_busy_timeout(c->db, HIST_BUSY_MS);
        /* One read transaction: the bounds and the rows come from the same snapshot. */
        rc = exec_sql(c->db, "BEGIN", err);
    }
    int64_t first = 0, last = -1;
    sqlite3_stmt *s = NULL;
    if (rc == 0)
        rc = prepare(c->db, "SELECT seq FROM events WHERE at >= ?1 ORDER BY at, seq LIMIT 1", &s,
                     err);
    if (rc == 0) {
        sqlite3_bind_int64(s, 1, from);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            first = sqlite3_column_int64(s, 0);
        else if (r == SQLITE_DONE)
            c->done = true;
        else
            rc = CC_E_UNAVAILABLE;
        sqlite3_finalize(s);
        s = NULL;
    }
    if (rc == 0)
        rc = prepare(c->db,
                     "SELECT seq FROM events WHERE at < ?1 ORDER BY at DESC, seq DESC LIMIT 1", &s,
                     err);
    if (rc == 0) {
        sqlite3_bind_int64(s, 1, to);
        int r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            last = sqlite3_column_int64(s, 0);
        else if (r == SQLITE_DONE)
            c->done = true;
        else
            rc = CC_E_UNAVAILABLE;
        sqlite3_finalize(s);
    }
    if (rc == 0)
        rc = prepare(c->db, READ_SQL, &c->read, err);
    if (rc == 0) {
        sqlite3_bind_int64(c->read, 1, first);
        sqlite3_bind_int64(c->read, 2, last);
        sqlite3_bind_int64(c->read, 3, from);
        sqlite3_bind_int64(c->read, 4, to);
    }
    if (rc) {
        if (err && c->db)
            store_set_err(err, " (%s)", sqlite3_errmsg(c->db));
        hist_cursor_close(c);
        return CC_E_UNAVAILABLE;
    }
    *out = c;
    return 0;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* Fills a step from the current row; false when a required field is missing or out of
 * range. The strings point into the row. */
static bool read_step(sqlite3_stmt *s, proto_ixr_event *e)
{
    memset(e, 0, sizeof *e);
    int cause = sqlite3_column_int(s, 5);
    int state = sqlite3_column_int(s, 12);
    int reason = sqlite3_column_int(s, 17);
    if (cause < PROTO_IXR_SNAPSHOT || cause > PROTO_IXR_ENDED || state < 0 ||
        state > CC_IXN_ENDED || reason < PROTO_IXR_REASON_NONE || reason > PROTO_IXR_REASON_STOPPED)
        return false;
    e->cause = (enum proto_ixr_cause)cause;
    e->state = (enum cc_ixn_state)state;
    e->reason = (enum proto_ixr_reason)reason;
    e->interaction_id = col_text(s, 6);
    e->tenant = col_text(s, 7);
    e->media = col_text(s, 8);
    e->queue = col_text(s, 9);
    e->from_queue = col_text(s, 10);
    e->agent_id = col_text(s, 11);
    e->priority = sqlite3_column_int64(s, 13);
    e->submitted_at = sqlite3_column_int64(s, 14);
    e->queued_at = sqlite3_column_int64(s, 15);
    e->at = sqlite3_column_int64(s, 16);
    return e->interaction_id && e->tenant && e->media && e->queue;
}

/* Gathers the agent row the statement stands on, with all its media rows, and delivers
 * it; leaves the statement on the next row (or at the end). Returns false on a database
 * error. */
static bool read_agent(hist_cursor *c, const hist_sink *sink)
{
    sqlite3_stmt *s = c->read;
    int64_t seq = sqlite3_column_int64(s, 0);
    int64_t at = sqlite3_column_int64(s, 1);
    int flags = sqlite3_column_int(s, 18);
    hist_agent_state v;
    memset(&v, 0, sizeof v);
    size_t desc_off[CC_MEDIA_MAX];
    cc_buf_reset(&c->text);
    const char *tenant = col_text(s, 7), *agent = col_text(s, 11);
    bool ok = tenant && agent;
    size_t agent_off = 0;
    if (ok) {
        cc_buf_append(&c->text, tenant, strlen(tenant) + 1);
        agent_off = c->text.len;
        cc_buf_append(&c->text, agent, strlen(agent) + 1);
    }
    v.logged_in = flags & 1;
    v.dnd = (flags & 2) != 0;
    int r;
    do {
        const char *mname = col_text(s, 19);
        if (mname) {
            int m = cc_media_intern(c->media, mname, strlen(mname));
            if (m >= 0) {
                cc_media_mask bit = (cc_media_mask)1 << m;
                int bits = sqlite3_column_int(s, 20);
                if (bits & BIT_ADDED)
                    v.added |= bit;
                if (bits & BIT_READY)
                    v.ready |= bit;
                if (bits & BIT_HOLDING)
                    v.holding |= bit;
                int64_t avail = sqlite3_column_int64(s, 21);
                v.available[m] = avail < 0 ? 0 : avail > UINT32_MAX ? UINT32_MAX : (uint32_t)avail;
                desc_off[m] = SIZE_MAX;
                if (sqlite3_column_type(s, 22) == SQLITE_INTEGER) {
                    v.reasons[m].present = true;
                    v.reasons[m].code = sqlite3_column_int64(s, 22);
                    const char *d = col_text(s, 23);
                    if (d) {
                        desc_off[m] = c->text.len;
                        cc_buf_append(&c->text, d, strlen(d) + 1);
                    }
                }
            } else {
                ok = false;
            }
        }
        r = sqlite3_step(s);
    } while (r == SQLITE_ROW && sqlite3_column_int64(s, 0) == seq);
    c->have_row = r == SQLITE_ROW;
    c->done = r != SQLITE_ROW;
    if (!ok) {
        c->skipped++;
    } else {
        v.tenant = c->text.data;
        v.agent_id = c->text.data + agent_off;
        for (int m = 0; m < CC_MEDIA_MAX; m++)
            if (v.reasons[m].present && desc_off[m] != SIZE_MAX)
                v.reasons[m].description = c->text.data + desc_off[m];
        if (sink->agent)
            sink->agent(sink->user, at, &v);
    }
    return r == SQLITE_ROW || r == SQLITE_DONE;
}

bool hist_cursor_done(const hist_cursor *c)
{
    return c->done && !c->have_row;
}

int hist_cursor_next(hist_cursor *c, const hist_sink *sink, size_t max_rows, int64_t until)
{
    size_t n = 0;
    while (n < max_rows && !c->done) {
        if (!c->have_row) {
            int r = sqlite3_step(c->read);
            if (r == SQLITE_DONE) {
                c->done = true;
                break;
            }
            if (r != SQLITE_ROW)
                return CC_E_UNAVAILABLE;
            c->have_row = true;
        }
        sqlite3_stmt *s = c->read;
        int kind = sqlite3_column_int(s, 2);
        int64_t at = sqlite3_column_int64(s, 1);
        if (at >= until)
            break;
        int link = sqlite3_column_int(s, 3);
        const char *server = col_text(s, 4);
        n++;
        if (kind == HIST_KIND_AGENT) {
            if (!read_agent(c, sink))
                return CC_E_UNAVAILABLE;
            continue;
        }
        c->have_row = false;
        if (!server || link < 0 || link > HIST_LINK_MAX) {
            c->skipped++;
        } else if (kind == HIST_KIND_STEP) {
            proto_ixr_event e;
            if (!read_step(s, &e))
                c->skipped++;
            else if (sink->ixn)
                sink->ixn(sink->user, at, link, server, &e);
        } else if (kind >= HIST_LINK_UP && kind <= HIST_LINK_DOWN) {
            if (sink->link)
                sink->link(sink->user, at, (enum hist_link_kind)kind, link, server);
        } else {
            c->skipped++;
        }
    }
    return (int)n;
}

uint64_t hist_cursor_skipped(const hist_cursor *c)
{
    return c->skipped;
}

void hist_cursor_close(hist_cursor *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->read);
    if (c->db) {
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(c->db);
    }
    cc_buf_free(&c->text);
    free(c);
}

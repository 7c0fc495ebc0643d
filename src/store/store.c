/* The interaction store on SQLite: one file DIR/ixn.db in WAL mode, a batch of row
 * changes gathered in memory per loop turn and written in one transaction. */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/map.h"
#include "common/ticker.h"
#include "store/store_pg.h"

/* The schema this code writes. A store with a newer one is refused, so an old binary
 * never rewrites rows it does not understand. */
/* 2 added the priority column (routing, docs/routing.md); a store of schema 1 gets it at
 * open, every row with priority 0. */
#define STORE_SCHEMA 2

/* WAL pages after which a commit checkpoints (40 MiB at SQLite's 4 KiB pages, under the
 * journal_size_limit of 64 MiB). */
#define STORE_WAL_CHECKPOINT_PAGES "10000"

/* How long opening the store waits for an outside tool that holds the database (a
 * backup reading it, say). Once open, the store holds SQLite's lock exclusively
 * (locking_mode=EXCLUSIVE) until it closes, so nobody else can hold it: commits run with
 * no busy wait at all, and a busy database (which cannot happen then) fails the commit at
 * once instead of stalling the loop. */
#define STORE_BUSY_MS 200

/* How long a blocking PostgreSQL commit (store_commit, store_renew) waits for any sign of
 * the database before it gives up on it. */
#define STORE_PG_WAIT_MS 10000

/* Longest path built from dir; longer directories are refused. */
#define STORE_MAX_PATH 4096

/* A batch entry (store_batch_ent, store_pg.h) is one queued change; the PostgreSQL back
 * end writes the same entries. */
typedef store_batch_ent batch_ent;

struct store {
    store_pg *pg;        /* the PostgreSQL back end; NULL for SQLite */
    int64_t pg_new_last; /* the highest id of the commit in flight (PostgreSQL) */
    uint64_t commit_t0;  /* when the commit in flight started */
    size_t pg_rows;      /* rows of the commit in flight */
    bool pg_in_flight;   /* a PostgreSQL commit was sent and has not finished */
    bool pg_done;        /* it was finished by a blocking call; store_commit_poll tells */
    int pg_done_rc;      /* and its result */
    sqlite3 *db;
    char *path;
    int lock_fd;
    int64_t last_id;

    sqlite3_stmt *st_begin;
    sqlite3_stmt *st_commit;
    sqlite3_stmt *st_rollback;
    sqlite3_stmt *st_upsert;
    sqlite3_stmt *st_end;
    sqlite3_stmt *st_set_last;
    sqlite3_stmt *st_purge;
    sqlite3_stmt *st_find_ext;

    batch_ent *batch;
    size_t nbatch;
    size_t capbatch;
    cc_map batch_index; /* id (8 raw bytes) -> index + 1 into batch */

    store_stats stats;

    /* The WAL's writeback (wal_flush_*): the ticker, and the descriptor its thread uses. */
    cc_ticker *wf_ticker;
    int wf_fd;
};

/* The externalId index is partial so that any number of rows may have none; the index on
 * ended_us covers only ended rows, the only ones purge looks at. */
static const char SCHEMA_SQL[] = "CREATE TABLE IF NOT EXISTS meta ("
                                 " key TEXT PRIMARY KEY,"
                                 " value NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS interactions ("
                                 " id INTEGER PRIMARY KEY,"
                                 " tenant TEXT NOT NULL,"
                                 " media TEXT NOT NULL,"
                                 " queue TEXT NOT NULL,"
                                 " user_data TEXT,"
                                 " external_id TEXT,"
                                 " state INTEGER NOT NULL,"
                                 " agent TEXT,"
                                 " order_key INTEGER NOT NULL,"
                                 " created_us INTEGER NOT NULL,"
                                 " updated_us INTEGER NOT NULL,"
                                 " ended_us INTEGER NOT NULL DEFAULT 0,"
                                 " priority INTEGER NOT NULL DEFAULT 0);"
                                 "CREATE UNIQUE INDEX IF NOT EXISTS interactions_external"
                                 " ON interactions(external_id) WHERE external_id IS NOT NULL;"
                                 "CREATE INDEX IF NOT EXISTS interactions_ended"
                                 " ON interactions(ended_us) WHERE state = 4;";

/* The upsert updates the row in place on an id conflict. INSERT OR REPLACE would instead
 * delete whatever row conflicts, including another interaction holding the same
 * externalId; this form makes that a failed commit. */
static const char UPSERT_SQL[] =
    "INSERT INTO interactions(id, tenant, media, queue, user_data, external_id, state,"
    " agent, order_key, created_us, updated_us, ended_us, priority)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    " ON CONFLICT(id) DO UPDATE SET tenant = excluded.tenant, media = excluded.media,"
    " queue = excluded.queue, user_data = excluded.user_data,"
    " external_id = excluded.external_id, state = excluded.state, agent = excluded.agent,"
    " order_key = excluded.order_key, created_us = excluded.created_us,"
    " updated_us = excluded.updated_us, ended_us = excluded.ended_us,"
    " priority = excluded.priority";

static const char END_SQL[] = "UPDATE interactions SET state = 4, agent = NULL,"
                              " updated_us = ?2, ended_us = ?2 WHERE id = ?1";

static const char SET_LAST_SQL[] = "INSERT INTO meta(key, value) VALUES('last_id', ?1)"
                                   " ON CONFLICT(key) DO UPDATE SET value = excluded.value"
                                   " WHERE excluded.value > CAST(value AS INTEGER)";

static const char FIND_EXT_SQL[] = "SELECT id, state FROM interactions WHERE external_id = ?1";

static const char PURGE_SQL[] = "DELETE FROM interactions WHERE state = 4 AND ended_us < ?1";

/* The user data check runs inside SQLite: its JSON functions are built in, and the store
 * library then needs no JSON parser. CASE keeps json_type from seeing invalid text, on
 * which it would fail the whole query. */
static const char LOAD_SQL[] =
    "SELECT id, tenant, media, queue, user_data, external_id, state, agent, order_key,"
    " created_us, updated_us, ended_us,"
    " CASE WHEN user_data IS NULL THEN 1"
    "  WHEN typeof(user_data) <> 'text' THEN 0"
    "  WHEN json_valid(user_data) THEN json_type(user_data) = 'object'"
    "  ELSE 0 END, priority"
    " FROM interactions ORDER BY state = 4, CASE WHEN state = 4 THEN NULL ELSE tenant END,"
    " CASE WHEN state = 4 THEN NULL ELSE queue END,"
    " CASE WHEN state = 4 THEN NULL ELSE order_key END, id";

void store_set_err(cc_buf *err, const char *fmt, ...)
{
    if (!err)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cc_buf_puts(err, msg);
}

int store_make_dirs(const char *dir, cc_buf *err)
{
    size_t n = strlen(dir);
    char *tmp = xstrdup(dir);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
            store_set_err(err, "cannot create directory %s: %s", tmp, strerror(errno));
            rc = CC_E_IO;
        }
        tmp[i] = saved;
    }
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        store_set_err(err, "%s is not a directory", dir);
        rc = CC_E_IO;
    }
    free(tmp);
    return rc;
}

static int prepare(store *st, const char *sql, sqlite3_stmt **out, cc_buf *err)
{
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        store_set_err(err, "cannot prepare a statement of %s: %s", st->path,
                      sqlite3_errmsg(st->db));
        return CC_E_UNAVAILABLE;
    }
    return 0;
}

/* Runs a statement that returns nothing; its error message goes into err. */
static int exec_sql(store *st, const char *sql, cc_buf *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        store_set_err(err, "%s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return CC_E_UNAVAILABLE;
    }
    return 0;
}

/* Reads one meta value as text into out (empty when absent). */
static int meta_get(store *st, const char *key, cc_buf *out, bool *found, cc_buf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st, "SELECT value FROM meta WHERE key = ?1", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    *found = false;
    cc_buf_reset(out);
    if (r == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(s, 0);
        int n = sqlite3_column_bytes(s, 0);
        if (v && n >= 0 && n <= STORE_MAX_PATH) {
            cc_buf_append(out, v, (size_t)n);
            *found = true;
        }
    } else if (r != SQLITE_DONE) {
        store_set_err(err, "cannot read %s: %s", st->path, sqlite3_errmsg(st->db));
        rc = CC_E_UNAVAILABLE;
    }
    sqlite3_finalize(s);
    return rc;
}

static int meta_set(store *st, const char *key, const char *value, cc_buf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(st, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", &s, err);
    if (rc)
        return rc;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) {
        store_set_err(err, "cannot write %s: %s", st->path, sqlite3_errmsg(st->db));
        rc = CC_E_UNAVAILABLE;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Checks the schema version and the owner, records them in a new store, and reads the
 * highest id. One transaction, so two first opens cannot both "create". */
/* True when the stored schema version is not one this program can read: newer than
 * STORE_SCHEMA, or not a number at all. */
static bool schema_newer(const char *text)
{
    char *end;
    errno = 0;
    long version = strtol(text, &end, 10);
    return errno != 0 || end == text || *end != '\0' || version > STORE_SCHEMA;
}

static int setup_meta(store *st, const char *server_name, bool create, cc_buf *err)
{
    cc_buf v;
    cc_buf_init(&v);
    bool found = false;
    int rc = exec_sql(st, "BEGIN IMMEDIATE", err);
    if (rc)
        goto out;
    rc = meta_get(st, "schema", &v, &found, err);
    if (rc == 0 && !found && !create) {
        store_set_err(err, "%s has no schema version: it is not a store, or it lost its data",
                      st->path);
        rc = CC_E_IO;
    } else if (rc == 0 && !found) {
        char num[32];
        snprintf(num, sizeof num, "%d", STORE_SCHEMA);
        rc = meta_set(st, "schema", num, err);
    } else if (rc == 0 && schema_newer(v.data)) {
        store_set_err(err, "%s has schema version %s, which this program cannot read", st->path,
                      v.data);
        rc = CC_E_CONFIG;
    } else if (rc == 0 && strtol(v.data, NULL, 10) < 2) {
        /* Schema 1 had no priority: every kept interaction gets 0, as a submit without one. */
        rc = exec_sql(st, "ALTER TABLE interactions ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
                      err);
        if (rc == 0)
            rc = meta_set(st, "schema", "2", err);
    }
    if (rc == 0)
        rc = meta_get(st, "server_name", &v, &found, err);
    if (rc == 0 && !found && !create) {
        store_set_err(err, "%s has no server name: it is not a store, or it lost its data",
                      st->path);
        rc = CC_E_IO;
    } else if (rc == 0 && !found) {
        rc = meta_set(st, "server_name", server_name, err);
    } else if (rc == 0 && strcmp(v.data, server_name) != 0) {
        store_set_err(err, "%s belongs to server %s", st->path, v.data);
        rc = CC_E_CONFIG;
    }
    if (rc == 0)
        rc = meta_get(st, "last_id", &v, &found, err);
    if (rc == 0) {
        /* The highest id is the meta value, or the largest row if the value is missing or
         * smaller: ids are never handed out twice even if the meta row was damaged. */
        int64_t meta_last = found ? strtoll(v.data, NULL, 10) : 0;
        int64_t last = meta_last < 0 ? 0 : meta_last;
        sqlite3_stmt *s = NULL;
        rc = prepare(st, "SELECT max(id) FROM interactions", &s, err);
        if (rc == 0 && sqlite3_step(s) == SQLITE_ROW &&
            sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
            int64_t m = sqlite3_column_int64(s, 0);
            if (m > last)
                last = m;
        }
        sqlite3_finalize(s);
        st->last_id = last;
        /* Bring a missing or damaged meta value up to date now, before a purge could
         * delete the rows that told us better. */
        if (rc == 0 && last > 0 && last != meta_last) {
            char num[32];
            snprintf(num, sizeof num, "%" PRId64, last);
            rc = meta_set(st, "last_id", num, err);
        }
    }
    if (rc == 0)
        rc = exec_sql(st, "COMMIT", err);
    if (rc)
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
out:
    cc_buf_free(&v);
    return rc;
}

/* True when the database has the meta table every store has had since its creation; the
 * check only reads, so a file that is no store is refused before anything is written to
 * it. Returns 0 with *present set, or CC_E_UNAVAILABLE (not a database at all). */
static int meta_present(store *st, bool *present, cc_buf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = prepare(
        st, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'", &s, err);
    if (rc)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *present = sqlite3_column_int(s, 0) == 1;
    } else {
        store_set_err(err, "cannot read %s: %s", st->path, sqlite3_errmsg(st->db));
        rc = CC_E_UNAVAILABLE;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Opens the database at st->path, sets WAL and synchronous=NORMAL, and checks the meta
 * data. With create the file is a new one of our own: the schema and the meta rows are
 * written. Without it the file must already be a store (meta table, schema version and
 * server name), since an empty or foreign file would otherwise silently become a new store
 * whose interaction numbers start again at 1. */
static int open_db(store *st, const char *server_name, bool create, cc_buf *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(st->path, &st->db, flags, NULL) != SQLITE_OK) {
        store_set_err(err, "cannot open %s: %s", st->path,
                      st->db ? sqlite3_errmsg(st->db) : "out of memory");
        return CC_E_UNAVAILABLE;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, STORE_BUSY_MS);

    /* journal_mode answers with the mode in force; anything but wal (a read-only
     * directory, an unsupported file system) would lose the kill -9 guarantee the
     * server documents, so it is an error. */
    /* The data-dir lock already keeps every other server off this database, so SQLite's
     * own file locks only cost system calls on every transaction. Set before WAL, so
     * that the WAL index lives in memory instead of a shared-memory file. */
    int rc = exec_sql(st, "PRAGMA locking_mode=EXCLUSIVE", err);
    if (rc)
        return rc;
    if (!create) {
        bool present = false;
        rc = meta_present(st, &present, err);
        if (rc)
            return rc;
        if (!present) {
            store_set_err(err, "%s has no meta table: it is not a store, or it lost its data",
                          st->path);
            return CC_E_IO;
        }
    }
    sqlite3_stmt *s = NULL;
    rc = prepare(st, "PRAGMA journal_mode=WAL", &s, err);
    if (rc)
        return rc;
    int r = sqlite3_step(s);
    const unsigned char *mode = r == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
    bool wal = mode && strcmp((const char *)mode, "wal") == 0;
    if (!wal)
        store_set_err(err, "cannot switch %s to WAL mode: %s", st->path,
                      mode ? (const char *)mode : sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    if (!wal)
        return CC_E_UNAVAILABLE;

    /* NORMAL syncs the WAL only at checkpoints: a commit is in the OS's hands when it
     * returns, which survives the death of the process. The size limit trims the WAL file
     * after a checkpoint, so a burst does not leave a large file behind. */
    rc = exec_sql(st, "PRAGMA synchronous=NORMAL", err);
    /* The server writes new rows and changes recent ones; reads happen only at start. A
     * page cache of 512 KiB holds that working set (the OS caches the file), and is full
     * within the first minute of traffic instead of growing for several (SQLite's default
     * is 2 MiB). */
    if (rc == 0)
        rc = exec_sql(st, "PRAGMA cache_size=-512", err);
    if (rc == 0)
        rc = exec_sql(st, "PRAGMA journal_size_limit=67108864", err);
    /* The checkpoint runs inside a commit, on the loop, and syncs twice: 1 to 13 ms during
     * which nothing else is served. The server commits every loop turn that changed
     * something, each commit at least one whole page, so at a busy centre's rate SQLite's
     * default of 1,000 pages came several times a second and was most of the push latency's
     * slowest percent (docs/bench.md, "Statistics (issue 11)"). A checkpoint copies each
     * page once whatever the number of its versions in the WAL, so ten times the pages
     * costs about the same per checkpoint, ten times less often. */
    if (rc == 0)
        rc = exec_sql(st, "PRAGMA wal_autocheckpoint=" STORE_WAL_CHECKPOINT_PAGES, err);
    if (rc == 0)
        rc = exec_sql(st, SCHEMA_SQL, err);
    if (rc == 0)
        rc = setup_meta(st, server_name, create, err);
    return rc;
}

/* Prepares the statements the batches, purges and lookups use. */
static int prepare_all(store *st, cc_buf *err)
{
    int rc = prepare(st, "BEGIN IMMEDIATE", &st->st_begin, err);
    if (rc == 0)
        rc = prepare(st, "COMMIT", &st->st_commit, err);
    if (rc == 0)
        rc = prepare(st, "ROLLBACK", &st->st_rollback, err);
    if (rc == 0)
        rc = prepare(st, UPSERT_SQL, &st->st_upsert, err);
    if (rc == 0)
        rc = prepare(st, END_SQL, &st->st_end, err);
    if (rc == 0)
        rc = prepare(st, SET_LAST_SQL, &st->st_set_last, err);
    if (rc == 0)
        rc = prepare(st, PURGE_SQL, &st->st_purge, err);
    if (rc == 0)
        rc = prepare(st, FIND_EXT_SQL, &st->st_find_ext, err);
    return rc;
}

/* The path of the store file with suffix appended (owned by the caller). */
static char *path_with(const store *st, const char *suffix)
{
    size_t n = strlen(st->path) + strlen(suffix) + 1;
    char *p = xmalloc(n);
    snprintf(p, n, "%s%s", st->path, suffix);
    return p;
}

/* Removes path if it exists; true unless that failed. */
static bool remove_if_there(const char *path, cc_buf *err)
{
    if (unlink(path) == 0 || errno == ENOENT)
        return true;
    store_set_err(err, "cannot remove %s: %s", path, strerror(errno));
    return false;
}

/* Creates a new store: it is built under ixn.db.new, closed (which checkpoints its WAL
 * into the file and removes the WAL) and only then renamed to ixn.db. An ixn.db therefore
 * always holds its meta rows, and a crash half-way leaves only ixn.db.new, which the next
 * start builds again. The file is created 0600 and SQLite gives its WAL the same mode. */
static int create_db(store *st, const char *dir, const char *server_name, cc_buf *err)
{
    char *final = st->path;
    st->path = path_with(st, ".new");
    char *wal = path_with(st, "-wal"), *shm = path_with(st, "-shm"),
         *journal = path_with(st, "-journal");
    int rc = 0;
    if (!remove_if_there(st->path, err) || !remove_if_there(wal, err) ||
        !remove_if_there(shm, err) || !remove_if_there(journal, err))
        rc = CC_E_IO;
    if (rc == 0) {
        int fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            store_set_err(err, "cannot create %s: %s", st->path, strerror(errno));
            rc = CC_E_IO;
        } else {
            close(fd);
        }
    }
    if (rc == 0)
        rc = open_db(st, server_name, true, err);
    if (st->db && sqlite3_close(st->db) != SQLITE_OK && rc == 0) {
        store_set_err(err, "cannot close %s: %s", st->path, sqlite3_errmsg(st->db));
        rc = CC_E_UNAVAILABLE;
    }
    st->db = NULL;
    if (rc == 0 && rename(st->path, final) != 0) {
        store_set_err(err, "cannot rename %s to %s: %s", st->path, final, strerror(errno));
        rc = CC_E_IO;
    }
    if (rc == 0) {
        /* The rename is durable once the directory is synced; a failure here only risks a
         * new, empty store being built again after a power cut. */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        LOG_INFO("event=store_created path=%s", final);
    }
    free(wal);
    free(shm);
    free(journal);
    free(st->path);
    st->path = final;
    return rc;
}

/* Narrows an existing store file (or its WAL) that others may read, as older versions
 * created it (0644), to 0600: interactions carry customer data. A mode that gives the group
 * access and others none was set on purpose (a backup group, say) and is kept. A failure
 * (the file belongs to another user) is logged and not fatal: the server could run
 * before, and refusing now would be an outage for a warning's worth. */
static void narrow_mode(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || (sb.st_mode & 007) == 0)
        return;
    if (chmod(path, 0600) != 0) {
        LOG_WARN("event=store_mode_narrow_failed path=%s mode=%03o error=%s", path,
                 (unsigned)(sb.st_mode & 0777), LOGQ(strerror(errno)));
        return;
    }
    LOG_WARN("event=store_mode_narrowed path=%s old=%03o new=600", path,
             (unsigned)(sb.st_mode & 0777));
}

/* Looks at ixn.db before SQLite does: *fresh when there is none yet. An empty ixn.db (a
 * truncated file, a failed copy) is refused: SQLite would treat it as a new database,
 * delete a WAL that holds the data, and the server would number interactions from 1
 * again. A WAL without its database is refused for the same reason. */
static int check_files(store *st, bool *fresh, cc_buf *err)
{
    char *wal = path_with(st, "-wal");
    struct stat sb, wsb;
    bool has_wal = stat(wal, &wsb) == 0;
    int rc = 0;
    *fresh = false;
    if (stat(st->path, &sb) != 0) {
        if (errno != ENOENT) {
            store_set_err(err, "cannot look at %s: %s", st->path, strerror(errno));
            rc = CC_E_IO;
        } else if (has_wal) {
            store_set_err(err,
                          "%s is missing but its WAL %s is there: refused, the store lost its "
                          "main file (move the WAL away to start a new store)",
                          st->path, wal);
            rc = CC_E_IO;
        } else {
            *fresh = true;
        }
    } else if (!S_ISREG(sb.st_mode)) {
        store_set_err(err, "%s is not a regular file", st->path);
        rc = CC_E_IO;
    } else if (sb.st_size == 0) {
        store_set_err(err,
                      "%s is empty (0 bytes)%s: refused, the store lost its data and ids would "
                      "start again at 1 (move it away to start a new store)",
                      st->path, has_wal ? " next to a WAL" : "");
        rc = CC_E_IO;
    }
    if (rc == 0 && !*fresh)
        narrow_mode(st->path);
    if (rc == 0 && !*fresh && has_wal)
        narrow_mode(wal);
    free(wal);
    return rc;
}

/* Takes the lock file that keeps a second server off the same data-dir. flock is
 * released by the kernel when the process dies, so kill -9 leaves no stale lock. */
static int take_lock(store *st, const char *dir, cc_buf *err)
{
    char path[STORE_MAX_PATH + 16];
    snprintf(path, sizeof path, "%s/ixn.lock", dir);
    st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->lock_fd < 0) {
        store_set_err(err, "cannot open %s: %s", path, strerror(errno));
        return CC_E_IO;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        store_set_err(err, "%s is in use by another process (%s)", dir, strerror(errno));
        return CC_E_IO;
    }
    return 0;
}

static void batch_clear(store *st)
{
    for (size_t i = 0; i < st->nbatch; i++)
        free(st->batch[i].strs);
    st->nbatch = 0;
    cc_map_free(&st->batch_index);
    cc_map_init(&st->batch_index);
}

/* The WAL's writeback, ahead of the checkpoints. A checkpoint (inside a commit, on the
 * loop: the store holds SQLite's lock exclusively, so no other connection can run it)
 * syncs the WAL first, and the kernel had written back little of it by then: the sync
 * wrote megabytes and held the loop 1 to 13 ms with the default interval, 55 to 70 ms
 * with ten times the pages. This thread asks the kernel every WAL_FLUSH_MS to start
 * writing the WAL's dirty pages (sync_file_range, which neither waits for them nor
 * touches the file's metadata), so that the checkpoint's sync finds little left. It uses
 * a descriptor of its own and never SQLite's connection. */
#define WAL_FLUSH_MS 100
#define WAL_FLUSH_NICE 10

static void wal_flush_tick(void *arg)
{
    store *st = arg;
    /* The WAL exists from the first commit to the close. */
    if (st->wf_fd < 0) {
        char *wal = path_with(st, "-wal");
        st->wf_fd = open(wal, O_WRONLY | O_CLOEXEC);
        free(wal);
    }
    if (st->wf_fd >= 0)
        sync_file_range(st->wf_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

static void wal_flush_start(store *st)
{
    st->wf_ticker = cc_ticker_start(WAL_FLUSH_MS, WAL_FLUSH_NICE, wal_flush_tick, st);
    if (!st->wf_ticker)
        LOG_WARN("event=store_wal_flush_off path=%s why=\"no thread\"", st->path);
}

/* Stops the ticker before SQLite closes (and removes) the WAL. */
static void wal_flush_stop(store *st)
{
    cc_ticker_stop(st->wf_ticker);
    st->wf_ticker = NULL;
    if (st->wf_fd >= 0)
        close(st->wf_fd);
    st->wf_fd = -1;
}

void store_close(store *st)
{
    if (!st)
        return;
    if (st->pg)
        LOG_INFO("event=store_close db=%s epoch=%" PRId64, LOGQ(st->path), store_pg_epoch(st->pg));
    else
        /* SQLite's own memory (page cache, statements): bounded by cache_size, and the part of
         * the process's resident size the store accounts for (docs/operations.md). */
        LOG_INFO("event=store_memory path=%s sqlite_bytes=%lld sqlite_peak_bytes=%lld", st->path,
                 (long long)sqlite3_memory_used(), (long long)sqlite3_memory_highwater(0));
    batch_clear(st);
    free(st->batch);
    cc_map_free(&st->batch_index);
    if (st->pg) {
        store_pg_close(st->pg);
        free(st->path);
        free(st);
        return;
    }
    wal_flush_stop(st);
    sqlite3_finalize(st->st_begin);
    sqlite3_finalize(st->st_commit);
    sqlite3_finalize(st->st_rollback);
    sqlite3_finalize(st->st_upsert);
    sqlite3_finalize(st->st_end);
    sqlite3_finalize(st->st_set_last);
    sqlite3_finalize(st->st_purge);
    sqlite3_finalize(st->st_find_ext);
    if (st->db && sqlite3_close(st->db) != SQLITE_OK)
        LOG_WARN("event=store_close path=%s error=\"%s\"", st->path, sqlite3_errmsg(st->db));
    if (st->lock_fd >= 0)
        close(st->lock_fd);
    free(st->path);
    free(st);
}

int store_open(const char *dir, const char *server_name, store **out, cc_buf *err)
{
    assert(dir && server_name && out);
    *out = NULL;
    if (dir[0] == '\0' || strlen(dir) > STORE_MAX_PATH) {
        store_set_err(err, "data-dir is empty or longer than %d bytes", STORE_MAX_PATH);
        return CC_E_IO;
    }
    if (server_name[0] == '\0' || strlen(server_name) > STORE_MAX_ID) {
        store_set_err(err, "server name is empty or longer than %d bytes", STORE_MAX_ID);
        return CC_E_CONFIG;
    }
    int rc = store_make_dirs(dir, err);
    if (rc)
        return rc;

    store *st = xcalloc(1, sizeof *st);
    st->lock_fd = -1;
    st->wf_fd = -1;
    cc_map_init(&st->batch_index);
    size_t n = strlen(dir) + sizeof "/ixn.db";
    st->path = xmalloc(n);
    snprintf(st->path, n, "%s/ixn.db", dir);

    bool fresh = false;
    rc = take_lock(st, dir, err);
    if (rc == 0)
        rc = check_files(st, &fresh, err);
    if (rc == 0 && fresh)
        rc = create_db(st, dir, server_name, err);
    if (rc == 0)
        rc = open_db(st, server_name, false, err);
    if (rc == 0)
        rc = prepare_all(st, err);
    /* Open: from now on the exclusive lock is the store's (locking_mode EXCLUSIVE), so a
     * commit never waits; should SQLite ever report the database busy, the commit fails
     * at once instead of stalling the loop. */
    if (rc == 0)
        sqlite3_busy_timeout(st->db, 0);
    if (rc) {
        LOG_ERROR("event=store_open_failed path=%s error=%s", st->path, cc_err_name(rc));
        store_close(st);
        return rc;
    }
    wal_flush_start(st);
    LOG_INFO("event=store_open path=%s last_id=%" PRId64, st->path, st->last_id);
    *out = st;
    return 0;
}

int store_open_config(const store_config *cfg, const char *server_name, store **out, cc_buf *err)
{
    assert(cfg && server_name && out);
    if (cfg->kind == STORE_KIND_SQLITE)
        return store_open(cfg->dir, server_name, out, err);
    *out = NULL;
    if (server_name[0] == '\0' || strlen(server_name) > STORE_MAX_ID) {
        store_set_err(err, "server name is empty or longer than %d bytes", STORE_MAX_ID);
        return CC_E_CONFIG;
    }
    if (!cfg->dsn) {
        store_set_err(err, "the PostgreSQL store needs a DSN");
        return CC_E_CONFIG;
    }
    store_pg *pg = NULL;
    int64_t last = 0;
    int rc = store_pg_open(cfg->dsn, server_name, cfg->owner_timeout_ms, &pg, &last, err);
    if (rc)
        return rc;
    store *st = xcalloc(1, sizeof *st);
    st->lock_fd = -1;
    st->wf_fd = -1;
    st->pg = pg;
    st->last_id = last;
    st->path = xstrdup(store_pg_describe(pg));
    cc_map_init(&st->batch_index);
    LOG_INFO("event=store_open db=%s last_id=%" PRId64 " epoch=%" PRId64, LOGQ(st->path),
             st->last_id, store_pg_epoch(pg));
    *out = st;
    return 0;
}

/* A text column as a C string when it is text of 1..max bytes without NUL bytes (or, with
 * nullable, NULL); *ok is cleared otherwise. */
static const char *col_text(sqlite3_stmt *s, int col, size_t max, bool nullable, bool *ok)
{
    int type = sqlite3_column_type(s, col);
    if (type == SQLITE_NULL) {
        if (!nullable)
            *ok = false;
        return NULL;
    }
    if (type != SQLITE_TEXT) {
        *ok = false;
        return NULL;
    }
    const char *v = (const char *)sqlite3_column_text(s, col);
    int n = sqlite3_column_bytes(s, col);
    if (!v || n <= 0 || (size_t)n > max || strlen(v) != (size_t)n) {
        *ok = false;
        return NULL;
    }
    return v;
}

static int64_t col_int(sqlite3_stmt *s, int col, bool *ok)
{
    if (sqlite3_column_type(s, col) != SQLITE_INTEGER) {
        *ok = false;
        return 0;
    }
    return sqlite3_column_int64(s, col);
}

int store_load(store *st, void (*cb)(void *ctx, const store_ixn *rec), void *ctx)
{
    assert(st && cb);
    if (st->pg) {
        uint64_t rows = 0, bad = 0;
        int rc = store_pg_load(st->pg, cb, ctx, &bad, &rows);
        st->stats.corrupt_rows += bad;
        if (rc == 0)
            LOG_INFO("event=store_load db=%s rows=%" PRIu64 " corrupt=%" PRIu64 " last_id=%" PRId64,
                     LOGQ(st->path), rows, bad, st->last_id);
        return rc;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, LOAD_SQL, -1, &s, NULL) != SQLITE_OK) {
        LOG_ERROR("event=store_load_failed path=%s error=\"%s\"", st->path, sqlite3_errmsg(st->db));
        return CC_E_UNAVAILABLE;
    }
    uint64_t rows = 0, bad = 0;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        bool ok = true;
        store_ixn rec;
        memset(&rec, 0, sizeof rec);
        rec.id = col_int(s, 0, &ok);
        rec.tenant = col_text(s, 1, STORE_MAX_ID, false, &ok);
        rec.media = col_text(s, 2, STORE_MAX_ID, false, &ok);
        rec.queue = col_text(s, 3, STORE_MAX_ID, false, &ok);
        rec.user_data = col_text(s, 4, STORE_MAX_USER_DATA, true, &ok);
        rec.external_id = col_text(s, 5, STORE_MAX_ID, true, &ok);
        int64_t state = col_int(s, 6, &ok);
        rec.agent = col_text(s, 7, STORE_MAX_AGENT, true, &ok);
        rec.order_key = col_int(s, 8, &ok);
        rec.created_us = col_int(s, 9, &ok);
        rec.updated_us = col_int(s, 10, &ok);
        rec.ended_us = col_int(s, 11, &ok);
        bool json_ok = sqlite3_column_int(s, 12) == 1;
        rec.priority = col_int(s, 13, &ok);
        if (!ok || !json_ok || rec.id <= 0 || state < CC_IXN_QUEUED || state > CC_IXN_ENDED) {
            bad++;
            LOG_WARN("event=store_corrupt_row path=%s id=%" PRId64, st->path,
                     (int64_t)sqlite3_column_int64(s, 0));
            continue;
        }
        rec.state = (enum cc_ixn_state)state;
        rows++;
        cb(ctx, &rec);
    }
    sqlite3_finalize(s);
    st->stats.corrupt_rows += bad;
    if (r != SQLITE_DONE) {
        LOG_ERROR("event=store_load_failed path=%s error=\"%s\"", st->path, sqlite3_errmsg(st->db));
        return CC_E_UNAVAILABLE;
    }
    LOG_INFO("event=store_load path=%s rows=%" PRIu64 " corrupt=%" PRIu64 " last_id=%" PRId64,
             st->path, rows, bad, st->last_id);
    return 0;
}

int64_t store_last_id(const store *st)
{
    assert(st);
    return st->last_id;
}

size_t store_pending(const store *st)
{
    assert(st);
    return st->nbatch;
}

/* The batch entry for id: the existing one, or a new empty one; NULL when the batch is
 * full. */
static batch_ent *batch_slot(store *st, int64_t id)
{
    void *v = cc_map_get(&st->batch_index, (const char *)&id, sizeof id);
    if (v)
        return &st->batch[(uintptr_t)v - 1];
    if (st->nbatch >= STORE_MAX_BATCH)
        return NULL;
    if (st->nbatch == st->capbatch) {
        st->capbatch = st->capbatch ? st->capbatch * 2 : 64;
        st->batch = xrealloc(st->batch, st->capbatch * sizeof *st->batch);
    }
    batch_ent *e = &st->batch[st->nbatch++];
    memset(e, 0, sizeof *e);
    e->rec.id = id;
    cc_map_put(&st->batch_index, (const char *)&id, sizeof id, (void *)(uintptr_t)st->nbatch);
    return e;
}

/* Checks an optional string against its limit: 0 ok, else the error code. */
static int check_str(const char *s, size_t max, bool required)
{
    if (!s)
        return required ? CC_E_INVALID_ATTRIBUTE : 0;
    size_t n = strnlen(s, max + 1);
    if (n == 0 && required)
        return CC_E_INVALID_ATTRIBUTE;
    return n > max ? CC_E_LIMIT_EXCEEDED : 0;
}

/* Copies s to *p and returns the copy (NULL stays NULL). */
static const char *copy_str(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

int store_put(store *st, const store_ixn *rec)
{
    assert(st && rec);
    int rc = rec->id <= 0 || (int)rec->state < CC_IXN_QUEUED || (int)rec->state > CC_IXN_ENDED
                 ? CC_E_INVALID_ATTRIBUTE
                 : 0;
    const char *strs[] = {rec->tenant, rec->media, rec->queue};
    for (size_t i = 0; i < 3 && rc == 0; i++)
        rc = check_str(strs[i], STORE_MAX_ID, true);
    if (rc == 0)
        rc = check_str(rec->external_id, STORE_MAX_ID, false);
    if (rc == 0)
        rc = check_str(rec->agent, STORE_MAX_AGENT, false);
    if (rc == 0)
        rc = check_str(rec->user_data, STORE_MAX_USER_DATA, false);
    batch_ent *e = rc == 0 ? batch_slot(st, rec->id) : NULL;
    if (rc == 0 && !e)
        rc = CC_E_LIMIT_EXCEEDED;
    if (rc) {
        st->stats.rows_rejected++;
        LOG_WARN("event=store_put_rejected id=%" PRId64 " error=%s", rec->id, cc_err_name(rc));
        return rc;
    }

    /* All strings of a row in one allocation: one malloc per change on the hot path. */
    size_t total = 0;
    const char *all[] = {rec->tenant,    rec->media,       rec->queue,
                         rec->user_data, rec->external_id, rec->agent};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        total += all[i] ? strlen(all[i]) + 1 : 0;
    char *strsbuf = xmalloc(total);
    char *p = strsbuf;
    free(e->strs);
    e->strs = strsbuf;
    e->kind = STORE_BATCH_PUT;
    e->rec = *rec;
    e->rec.tenant = copy_str(&p, rec->tenant);
    e->rec.media = copy_str(&p, rec->media);
    e->rec.queue = copy_str(&p, rec->queue);
    e->rec.user_data = copy_str(&p, rec->user_data);
    e->rec.external_id = copy_str(&p, rec->external_id);
    e->rec.agent = copy_str(&p, rec->agent);
    return 0;
}

int store_end(store *st, int64_t id, int64_t ended_us)
{
    assert(st);
    batch_ent *e = id > 0 ? batch_slot(st, id) : NULL;
    if (!e) {
        st->stats.rows_rejected++;
        return id > 0 ? CC_E_LIMIT_EXCEEDED : CC_E_INVALID_ATTRIBUTE;
    }
    if (e->kind == STORE_BATCH_PUT && e->strs) {
        /* A full row is already queued: end it there, so one write carries both. */
        e->rec.state = CC_IXN_ENDED;
        e->rec.agent = NULL;
        e->rec.updated_us = ended_us;
        e->rec.ended_us = ended_us;
    } else {
        e->kind = STORE_BATCH_END;
        e->rec.ended_us = ended_us;
    }
    return 0;
}

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Steps a statement that returns no rows and resets it; true when it ran. */
static bool run(sqlite3_stmt *s)
{
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r == SQLITE_DONE;
}

static bool write_ent(store *st, const batch_ent *e)
{
    const store_ixn *r = &e->rec;
    if (e->kind == STORE_BATCH_END) {
        sqlite3_bind_int64(st->st_end, 1, r->id);
        sqlite3_bind_int64(st->st_end, 2, r->ended_us);
        return run(st->st_end);
    }
    sqlite3_stmt *s = st->st_upsert;
    sqlite3_bind_int64(s, 1, r->id);
    sqlite3_bind_text(s, 2, r->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, r->media, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, r->queue, -1, SQLITE_STATIC);
    bind_opt_text(s, 5, r->user_data);
    bind_opt_text(s, 6, r->external_id);
    sqlite3_bind_int(s, 7, r->state);
    bind_opt_text(s, 8, r->agent);
    sqlite3_bind_int64(s, 9, r->order_key);
    sqlite3_bind_int64(s, 10, r->created_us);
    sqlite3_bind_int64(s, 11, r->updated_us);
    sqlite3_bind_int64(s, 12, r->ended_us);
    sqlite3_bind_int64(s, 13, r->priority);
    return run(s);
}

/* Waits (blocking) until the connection can make progress on a commit in flight.
 * Returns 0, or CC_E_STALE_OWNER when the database gave no sign of life for
 * STORE_PG_WAIT_MS: whether the transaction committed is then unknown, so the owner must
 * stop and let a fresh load tell. */
static int pg_wait(store *st, bool want_write)
{
    struct pollfd p = {.fd = store_pg_fd(st->pg), .events = POLLIN | (want_write ? POLLOUT : 0)};
    int r;
    do
        r = poll(&p, 1, STORE_PG_WAIT_MS);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        LOG_ERROR("event=store_commit_timeout db=%s wait_ms=%d", LOGQ(st->path), STORE_PG_WAIT_MS);
        return CC_E_STALE_OWNER;
    }
    return 0;
}

/* Counts a finished commit of n rows that started at t0. */
static void count_commit(store *st, size_t n, uint64_t t0)
{
    int64_t dt = (int64_t)(cc_mono_us() - t0);
    st->stats.rows_written += n;
    st->stats.transactions++;
    st->stats.last_commit_us = dt;
    if (dt > st->stats.max_commit_us)
        st->stats.max_commit_us = dt;
}

/* The end of a PostgreSQL commit: the counters, and the highest id on success. */
static int pg_finished(store *st, int rc)
{
    if (rc == 0) {
        if (st->pg_new_last > st->last_id)
            st->last_id = st->pg_new_last;
        count_commit(st, st->pg_rows, st->commit_t0);
    } else {
        st->stats.commit_failures++;
    }
    st->pg_in_flight = false;
    return rc;
}

int store_commit_begin(store *st)
{
    assert(st && !st->pg_in_flight);
    if (!st->pg)
        return store_commit(st);
    if (st->nbatch == 0)
        return 0;
    st->commit_t0 = cc_mono_us();
    int64_t max_id = st->last_id;
    for (size_t i = 0; i < st->nbatch; i++)
        if (st->batch[i].kind == STORE_BATCH_PUT && st->batch[i].rec.id > max_id)
            max_id = st->batch[i].rec.id;
    st->pg_new_last = max_id;
    st->pg_rows = st->nbatch;
    /* libpq copies every statement into its output buffer: the batch is free at once,
     * and the next one fills while this one is in flight. */
    int rc =
        store_pg_commit_start(st->pg, st->batch, st->nbatch, max_id > st->last_id ? max_id : 0);
    batch_clear(st);
    st->pg_in_flight = rc == 0;
    if (rc)
        return pg_finished(st, rc);
    return 1;
}

int store_commit_poll(store *st, bool *want_write)
{
    assert(st && want_write);
    *want_write = false;
    if (st->pg_done) {
        st->pg_done = false;
        return st->pg_done_rc;
    }
    if (!st->pg_in_flight)
        return 0;
    int rc = store_pg_commit_step(st->pg, want_write);
    return rc == 1 ? 1 : pg_finished(st, rc);
}

/* Finishes the commit in flight, waiting for it (a blocking query needs the connection);
 * its result is kept for the caller's next store_commit_poll. */
static void pg_drain(store *st)
{
    if (!st->pg_in_flight)
        return;
    bool want_write = false;
    int rc;
    while ((rc = store_pg_commit_step(st->pg, &want_write)) == 1) {
        if (pg_wait(st, want_write) != 0) {
            rc = CC_E_STALE_OWNER;
            break;
        }
    }
    st->pg_done_rc = pg_finished(st, rc);
    st->pg_done = true;
}

bool store_in_flight(const store *st)
{
    assert(st);
    return st->pg_in_flight || st->pg_done;
}

bool store_commits_async(const store *st)
{
    assert(st);
    return st->pg != NULL;
}

void store_drop_batch(store *st)
{
    assert(st);
    batch_clear(st);
}

int store_fd(const store *st)
{
    assert(st);
    return st->pg ? store_pg_fd(st->pg) : -1;
}

int store_renew(store *st)
{
    assert(st);
    if (!st->pg || st->pg_in_flight)
        return 0;
    /* An empty transaction with only the fence: it renews the owner row, and a stale
     * owner learns of it even while it has nothing to write. */
    int rc = store_pg_commit_start(st->pg, NULL, 0, 0);
    bool want_write = false;
    while (rc == 0) {
        rc = store_pg_commit_step(st->pg, &want_write);
        if (rc != 1)
            break;
        rc = pg_wait(st, want_write);
    }
    return rc;
}

int64_t store_epoch(const store *st)
{
    assert(st);
    return st->pg ? store_pg_epoch(st->pg) : 0;
}

int store_commit(store *st)
{
    assert(st);
    if (st->pg) {
        pg_drain(st);
        int rc = store_commit_begin(st);
        bool want_write = false;
        while (rc == 1) {
            rc = store_commit_poll(st, &want_write);
            if (rc == 1 && pg_wait(st, want_write) != 0)
                rc = pg_finished(st, CC_E_STALE_OWNER);
        }
        return rc;
    }
    if (st->nbatch == 0)
        return 0;
    uint64_t t0 = cc_mono_us();
    int64_t max_id = st->last_id;
    size_t n = st->nbatch;
    bool ok = run(st->st_begin);
    bool began = ok;
    for (size_t i = 0; ok && i < n; i++) {
        ok = write_ent(st, &st->batch[i]);
        if (st->batch[i].kind == STORE_BATCH_PUT && st->batch[i].rec.id > max_id)
            max_id = st->batch[i].rec.id;
    }
    if (ok && max_id > st->last_id) {
        sqlite3_bind_int64(st->st_set_last, 1, max_id);
        ok = run(st->st_set_last);
    }
    if (ok)
        ok = run(st->st_commit);
    if (!ok) {
        /* Keep SQLite's message before the rollback replaces it. */
        char msg[256];
        snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(st->db));
        if (began && !sqlite3_get_autocommit(st->db))
            run(st->st_rollback);
        st->stats.commit_failures++;
        LOG_ERROR("event=store_commit_failed path=%s rows=%zu error=\"%s\"", st->path, n, msg);
        batch_clear(st);
        return CC_E_UNAVAILABLE;
    }
    st->last_id = max_id;
    count_commit(st, n, t0);
    batch_clear(st);
    return 0;
}

int64_t store_purge(store *st, int64_t ended_before_us)
{
    assert(st);
    if (st->pg) {
        pg_drain(st);
        int64_t n = store_pg_purge(st->pg, ended_before_us);
        if (n > 0) {
            st->stats.rows_purged += (uint64_t)n;
            LOG_INFO("event=store_purge db=%s rows=%" PRId64, LOGQ(st->path), n);
        }
        return n;
    }
    sqlite3_bind_int64(st->st_purge, 1, ended_before_us);
    if (!run(st->st_purge)) {
        LOG_ERROR("event=store_purge_failed path=%s error=\"%s\"", st->path,
                  sqlite3_errmsg(st->db));
        return CC_E_UNAVAILABLE;
    }
    int64_t n = sqlite3_changes64(st->db);
    st->stats.rows_purged += (uint64_t)n;
    if (n > 0)
        LOG_INFO("event=store_purge path=%s rows=%" PRId64, st->path, n);
    return n;
}

int store_find_external(store *st, const char *external_id, int64_t *id_out,
                        enum cc_ixn_state *state_out)
{
    assert(st && external_id && id_out && state_out);
    if (strnlen(external_id, STORE_MAX_ID + 1) > STORE_MAX_ID)
        return CC_E_LIMIT_EXCEEDED;
    if (st->pg) {
        pg_drain(st);
        return store_pg_find_external(st->pg, external_id, id_out, state_out);
    }
    sqlite3_stmt *s = st->st_find_ext;
    sqlite3_bind_text(s, 1, external_id, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    int rc = CC_E_NOT_FOUND;
    if (r == SQLITE_ROW) {
        int64_t state = sqlite3_column_int64(s, 1);
        /* A row with a state out of range is corrupt; load skipped it too. */
        if (state >= CC_IXN_QUEUED && state <= CC_IXN_ENDED) {
            *id_out = sqlite3_column_int64(s, 0);
            *state_out = (enum cc_ixn_state)state;
            rc = 0;
        }
    } else if (r != SQLITE_DONE) {
        LOG_ERROR("event=store_find_failed path=%s error=\"%s\"", st->path, sqlite3_errmsg(st->db));
        rc = CC_E_UNAVAILABLE;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

void store_get_stats(const store *st, store_stats *out)
{
    assert(st && out);
    *out = st->stats;
}

const char *store_path(const store *st)
{
    assert(st);
    return st->path;
}

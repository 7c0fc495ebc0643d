/* The interaction store on PostgreSQL (libpq): ownership of a server name by an advisory
 * lock and an epoch row, and every commit one pipelined transaction fenced by that
 * epoch. See docs/store.md, "PostgreSQL". */
#include "store/store_pg.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

/* The schema this code writes into ixn_meta; a newer one is refused. */
#define PG_SCHEMA 2
/* The SQLSTATE of the fence's division by zero: the epoch moved on. */
#define SQLSTATE_FENCED "22012"
/* A new owner's row counts as renewed this far ahead, so that a standby does not take a
 * large store's load (no renewal runs during it) for a hang; the first renewal after the
 * load brings it back to now. */
#define PG_LOAD_GRACE "interval '60 seconds'"
/* libpq's connect_timeout unless the DSN sets one: a database that does not answer
 * fails the connect after this many seconds. */
#define PG_CONNECT_TIMEOUT_S 5

/* The tables are shared by every server of a database, keyed by server name. The
 * externalId index is per server and partial, as in the SQLite store. */
static const char SCHEMA_SQL[] =
    "SELECT pg_advisory_xact_lock(hashtext('ixn:schema'));"
    "CREATE TABLE IF NOT EXISTS ixn_interactions ("
    " server TEXT NOT NULL, id BIGINT NOT NULL, tenant TEXT NOT NULL, media TEXT NOT NULL,"
    " queue TEXT NOT NULL, user_data TEXT, external_id TEXT, state INTEGER NOT NULL,"
    " agent TEXT, order_key BIGINT NOT NULL, created_us BIGINT NOT NULL,"
    " updated_us BIGINT NOT NULL, ended_us BIGINT NOT NULL DEFAULT 0,"
    " priority BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (server, id));"
    "CREATE UNIQUE INDEX IF NOT EXISTS ixn_interactions_external"
    " ON ixn_interactions(server, external_id) WHERE external_id IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS ixn_interactions_ended"
    " ON ixn_interactions(server, ended_us) WHERE state = 4;"
    "CREATE TABLE IF NOT EXISTS ixn_meta ("
    " server TEXT PRIMARY KEY, schema INTEGER NOT NULL, last_id BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ixn_owner ("
    " server TEXT PRIMARY KEY, epoch BIGINT NOT NULL, holder TEXT NOT NULL,"
    " backend_pid INTEGER NOT NULL DEFAULT 0, renewed TIMESTAMPTZ NOT NULL DEFAULT now());";

static const char UPSERT_SQL[] =
    "INSERT INTO ixn_interactions(server, id, tenant, media, queue, user_data, external_id,"
    " state, agent, order_key, created_us, updated_us, ended_us, priority)"
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    " ON CONFLICT (server, id) DO UPDATE SET tenant = excluded.tenant,"
    " media = excluded.media, queue = excluded.queue, user_data = excluded.user_data,"
    " external_id = excluded.external_id, state = excluded.state, agent = excluded.agent,"
    " order_key = excluded.order_key, created_us = excluded.created_us,"
    " updated_us = excluded.updated_us, ended_us = excluded.ended_us,"
    " priority = excluded.priority";

static const char END_SQL[] = "UPDATE ixn_interactions SET state = 4, agent = NULL,"
                              " updated_us = $3, ended_us = $3 WHERE server = $1 AND id = $2";

static const char LAST_SQL[] =
    "UPDATE ixn_meta SET last_id = $2 WHERE server = $1 AND last_id < $2";

/* Touches the owner row only while the epoch is ours, and divides by the number of rows
 * touched: a stale owner's transaction fails here, before anything else of it ran. The
 * row lock it takes also makes a standby's epoch increment wait for this commit. */
static const char FENCE_SQL[] =
    "WITH u AS (UPDATE ixn_owner SET renewed = now() WHERE server = $1 AND epoch = $2"
    " RETURNING 1) SELECT 1 / count(*) FROM u";

static const char FIND_SQL[] =
    "SELECT id, state FROM ixn_interactions WHERE server = $1 AND external_id = $2";

static const char PURGE_SQL[] =
    "DELETE FROM ixn_interactions WHERE server = $1 AND state = 4 AND ended_us < $2"
    " AND EXISTS (SELECT 1 FROM ixn_owner WHERE server = $1 AND epoch = $3)";

/* Byte order ("C") for tenant and queue: only the grouping matters, and it must not
 * depend on the database's locale. */
static const char LOAD_SQL[] =
    "SELECT id, tenant, media, queue, user_data, external_id, state, agent, order_key,"
    " created_us, updated_us, ended_us, priority FROM ixn_interactions WHERE server = $1"
    " ORDER BY state = 4, CASE WHEN state = 4 THEN NULL ELSE tenant END COLLATE \"C\","
    " CASE WHEN state = 4 THEN NULL ELSE queue END COLLATE \"C\","
    " CASE WHEN state = 4 THEN NULL ELSE order_key END, id";

/* A standby finds a holder whose row was not renewed for the timeout (a stopped process,
 * a cut-off machine whose connection the server still believes in) and ends its
 * connection, which frees the lock. The join makes sure the pid still holds a lock. */
static const char STALE_SQL[] =
    "SELECT o.backend_pid, o.holder, pg_terminate_backend(o.backend_pid) FROM ixn_owner o"
    " WHERE o.server = $1 AND o.renewed < now() - $2::bigint * interval '1 millisecond'"
    " AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = o.backend_pid"
    " AND l.locktype = 'advisory' AND l.granted)";

struct store_pg {
    PGconn *conn;
    char *dsn;
    char *desc;
    char *name;
    char holder[160];
    int64_t epoch;
    /* the commit in flight */
    bool in_flight;
    size_t nsent;  /* statements sent (the fence first) */
    size_t nseen;  /* their results seen */
    bool fenced;   /* the fence failed */
    bool failed;   /* another statement failed */
    char msg[256]; /* the first error */
};

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The DSN without password, as key=value pairs (also for a URI). */
static char *describe_dsn(const char *dsn)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    PQfreemem(errmsg);
    cc_buf b;
    cc_buf_init(&b);
    cc_buf_puts(&b, "postgres:");
    bool first = true;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !*o->val || strcmp(o->keyword, "password") == 0)
            continue;
        if (strcmp(o->keyword, "host") != 0 && strcmp(o->keyword, "hostaddr") != 0 &&
            strcmp(o->keyword, "port") != 0 && strcmp(o->keyword, "dbname") != 0 &&
            strcmp(o->keyword, "user") != 0)
            continue;
        if (!first)
            cc_buf_putc(&b, ' ');
        first = false;
        cc_buf_puts(&b, o->keyword);
        cc_buf_putc(&b, '=');
        cc_buf_puts(&b, o->val);
    }
    PQconninfoFree(opts);
    char *s = xstrdup(b.data ? b.data : "postgres:");
    cc_buf_free(&b);
    return s;
}

/* The first line of libpq's message for the connection. */
static void conn_msg(const store_pg *pg, char *out, size_t n)
{
    const char *m = pg->conn ? PQerrorMessage(pg->conn) : "no connection";
    size_t len = strcspn(m, "\n");
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), m);
}

/* Runs sql with text parameters; true when it returned status want. */
static bool exec_ok(store_pg *pg, const char *sql, int n, const char *const *vals,
                    ExecStatusType want, PGresult **res)
{
    PGresult *r = PQexecParams(pg->conn, sql, n, NULL, vals, NULL, NULL, 0);
    bool ok = r && PQresultStatus(r) == want;
    if (!ok)
        conn_msg(pg, pg->msg, sizeof pg->msg);
    if (res && ok)
        *res = r;
    else
        PQclear(r);
    return ok;
}

static bool prepare_all(store_pg *pg)
{
    static const struct {
        const char *name, *sql;
        int n;
    } stmts[] = {{"ixn_upsert", UPSERT_SQL, 14}, {"ixn_end", END_SQL, 3},
                 {"ixn_last", LAST_SQL, 2},      {"ixn_fence", FENCE_SQL, 2},
                 {"ixn_find", FIND_SQL, 2},      {"ixn_purge", PURGE_SQL, 3},
                 {"ixn_load", LOAD_SQL, 1}};
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++) {
        PGresult *r = PQprepare(pg->conn, stmts[i].name, stmts[i].sql, stmts[i].n, NULL);
        bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            conn_msg(pg, pg->msg, sizeof pg->msg);
            return false;
        }
    }
    return true;
}

/* Connects (blocking: at start, or to recover an idle connection that broke). */
static bool connect_db(store_pg *pg)
{
    if (pg->conn)
        PQfinish(pg->conn);
    /* connect_timeout first, so that a value in the DSN wins over ours. */
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", PG_CONNECT_TIMEOUT_S);
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {timeout, pg->dsn, NULL};
    pg->conn = PQconnectdbParams(keys, vals, 1);
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        conn_msg(pg, pg->msg, sizeof pg->msg);
        return false;
    }
    PQsetNoticeProcessor(pg->conn, ignore_notice, NULL);
    return true;
}

/* pg_try_advisory_lock on the server's name: 1 taken, 0 held by another, -1 failed. */
static int try_lock(store_pg *pg)
{
    const char *vals[] = {pg->name};
    PGresult *r = NULL;
    if (!exec_ok(pg, "SELECT pg_try_advisory_lock(hashtext('ixn:' || $1))", 1, vals,
                 PGRES_TUPLES_OK, &r))
        return -1;
    int got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return got;
}

/* Ends the connection of a holder that stopped renewing its row (see STALE_SQL). */
static void end_stale_holder(store_pg *pg, int owner_timeout_ms)
{
    char ms[32];
    snprintf(ms, sizeof ms, "%d", owner_timeout_ms);
    const char *vals[] = {pg->name, ms};
    PGresult *r = PQexecParams(pg->conn, STALE_SQL, 2, NULL, vals, NULL, NULL, 0);
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        LOG_WARN("event=store_owner_stale server=%s backend_pid=%s holder=%s terminated=%s "
                 "timeout_ms=%d",
                 LOGQ(pg->name), PQgetvalue(r, 0, 0), LOGQ(PQgetvalue(r, 0, 1)),
                 PQgetvalue(r, 0, 2), owner_timeout_ms);
    PQclear(r);
}

/* Creates the tables, reads meta and moves the epoch on, in one transaction. */
static int take_ownership(store_pg *pg, int64_t *last_id, cc_buf *err)
{
    PGresult *r = PQexec(pg->conn, "BEGIN");
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok) {
        r = PQexec(pg->conn, SCHEMA_SQL);
        ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            conn_msg(pg, pg->msg, sizeof pg->msg);
    }
    char schema[16];
    snprintf(schema, sizeof schema, "%d", PG_SCHEMA);
    const char *v2[] = {pg->name, schema};
    ok = ok && exec_ok(pg,
                       "INSERT INTO ixn_meta(server, schema, last_id) VALUES($1, $2, 0)"
                       " ON CONFLICT (server) DO NOTHING",
                       2, v2, PGRES_COMMAND_OK, NULL);
    const char *v1[] = {pg->name};
    int64_t meta_schema = 0, meta_last = 0, max_id = 0;
    if (ok && exec_ok(pg,
                      "SELECT m.schema, m.last_id, (SELECT coalesce(max(id), 0) FROM"
                      " ixn_interactions WHERE server = $1) FROM ixn_meta m WHERE server = $1",
                      1, v1, PGRES_TUPLES_OK, &r)) {
        ok = PQntuples(r) == 1;
        if (ok) {
            meta_schema = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
            meta_last = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
            max_id = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        }
        PQclear(r);
    } else {
        ok = false;
    }
    if (ok && meta_schema > PG_SCHEMA) {
        PQclear(PQexec(pg->conn, "ROLLBACK"));
        store_set_err(err, "%s: server %s has schema %" PRId64 ", newer than this version (%d)",
                      pg->desc, pg->name, meta_schema, PG_SCHEMA);
        return CC_E_CONFIG;
    }
    const char *vh[] = {pg->name, pg->holder};
    ok = ok && exec_ok(pg,
                       "INSERT INTO ixn_owner(server, epoch, holder) VALUES($1, 0, $2)"
                       " ON CONFLICT (server) DO NOTHING",
                       2, vh, PGRES_COMMAND_OK, NULL);
    if (ok && exec_ok(pg,
                      "UPDATE ixn_owner SET epoch = epoch + 1, holder = $2,"
                      " backend_pid = pg_backend_pid(), renewed = now() + " PG_LOAD_GRACE
                      " WHERE server = $1 RETURNING epoch",
                      2, vh, PGRES_TUPLES_OK, &r)) {
        ok = PQntuples(r) == 1;
        if (ok)
            pg->epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    } else {
        ok = false;
    }
    /* The highest id is the meta value or the largest row, whichever is higher. */
    int64_t last = meta_last > max_id ? meta_last : max_id;
    if (ok && last != meta_last) {
        char num[32];
        snprintf(num, sizeof num, "%" PRId64, last);
        const char *vl[] = {pg->name, num};
        ok = exec_ok(pg, LAST_SQL, 2, vl, PGRES_COMMAND_OK, NULL);
    }
    if (ok) {
        r = PQexec(pg->conn, "COMMIT");
        ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            conn_msg(pg, pg->msg, sizeof pg->msg);
        PQclear(r);
    }
    if (!ok) {
        PQclear(PQexec(pg->conn, "ROLLBACK"));
        store_set_err(err, "%s: cannot set up the store: %s", pg->desc, pg->msg);
        return CC_E_UNAVAILABLE;
    }
    *last_id = last;
    return 0;
}

void store_pg_close(store_pg *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg->dsn);
    free(pg->desc);
    free(pg->name);
    free(pg);
}

int store_pg_open(const char *dsn, const char *server_name, int owner_timeout_ms, store_pg **out,
                  int64_t *last_id, cc_buf *err)
{
    assert(dsn && server_name && out && last_id);
    *out = NULL;
    store_pg *pg = xcalloc(1, sizeof *pg);
    pg->dsn = xstrdup(dsn);
    pg->desc = describe_dsn(dsn);
    pg->name = xstrdup(server_name);
    char host[64] = "?";
    (void)gethostname(host, sizeof host - 1);
    snprintf(pg->holder, sizeof pg->holder, "%s:%ld", host, (long)getpid());
    if (!connect_db(pg)) {
        store_set_err(err, "%s: cannot connect: %s", pg->desc, pg->msg);
        store_pg_close(pg);
        return CC_E_UNAVAILABLE;
    }
    int got = try_lock(pg);
    if (got == 0 && owner_timeout_ms > 0)
        end_stale_holder(pg, owner_timeout_ms);
    if (got <= 0) {
        if (got == 0)
            store_set_err(err, "%s: server %s is owned by another process", pg->desc, pg->name);
        else
            store_set_err(err, "%s: cannot take the lock: %s", pg->desc, pg->msg);
        store_pg_close(pg);
        return got == 0 ? CC_E_OWNED : CC_E_UNAVAILABLE;
    }
    int rc = take_ownership(pg, last_id, err);
    if (rc == 0 && !prepare_all(pg)) {
        store_set_err(err, "%s: cannot prepare statements: %s", pg->desc, pg->msg);
        rc = CC_E_UNAVAILABLE;
    }
    if (rc == 0 && PQsetnonblocking(pg->conn, 1) != 0) {
        store_set_err(err, "%s: cannot make the connection non-blocking", pg->desc);
        rc = CC_E_UNAVAILABLE;
    }
    if (rc) {
        store_pg_close(pg);
        return rc;
    }
    LOG_INFO("event=store_owner_taken server=%s epoch=%" PRId64 " holder=%s db=%s", LOGQ(pg->name),
             pg->epoch, LOGQ(pg->holder), LOGQ(pg->desc));
    *out = pg;
    return 0;
}

const char *store_pg_describe(const store_pg *pg)
{
    return pg->desc;
}

int64_t store_pg_epoch(const store_pg *pg)
{
    return pg->epoch;
}

int store_pg_fd(const store_pg *pg)
{
    return pg->conn ? PQsocket(pg->conn) : -1;
}

/* An idle connection that broke (the database restarted, a standby ended it) is made
 * again before a commit: nothing of ours was in flight, so nothing is ambiguous. The
 * lock is asked for again; the epoch fence, not the lock, decides whether this owner
 * may still write. */
static bool ensure_connected(store_pg *pg)
{
    /* Nothing is in flight, so anything readable is unasked for: a notice, or the
     * server's last words and the end of the connection (pg_terminate_backend, a
     * restart). A few rounds read both. */
    bool ok = pg->conn && PQstatus(pg->conn) == CONNECTION_OK;
    for (int i = 0; ok && i < 4; i++) {
        struct pollfd p = {.fd = PQsocket(pg->conn), .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            break;
        ok = PQconsumeInput(pg->conn) == 1 && PQstatus(pg->conn) == CONNECTION_OK;
    }
    if (ok) {
        PGnotify *n;
        while ((n = PQnotifies(pg->conn)))
            PQfreemem(n);
        return true;
    }
    LOG_WARN("event=store_reconnect server=%s db=%s", LOGQ(pg->name), LOGQ(pg->desc));
    if (!connect_db(pg))
        return false;
    int got = try_lock(pg);
    LOG_INFO("event=store_reconnected server=%s lock=%s epoch=%" PRId64, LOGQ(pg->name),
             got == 1 ? "taken" : "held_elsewhere", pg->epoch);
    return prepare_all(pg) && PQsetnonblocking(pg->conn, 1) == 0;
}

static void fmt_i64(char *out, int64_t v)
{
    snprintf(out, 24, "%" PRId64, v);
}

static bool send_ent(store_pg *pg, const store_batch_ent *e)
{
    const store_ixn *r = &e->rec;
    char id[24], t[24];
    fmt_i64(id, r->id);
    if (e->kind == STORE_BATCH_END) {
        fmt_i64(t, r->ended_us);
        const char *v[] = {pg->name, id, t};
        return PQsendQueryPrepared(pg->conn, "ixn_end", 3, v, NULL, NULL, 0) == 1;
    }
    char state[24], ok[24], cr[24], up[24], en[24], pr[24];
    fmt_i64(state, r->state);
    fmt_i64(ok, r->order_key);
    fmt_i64(cr, r->created_us);
    fmt_i64(up, r->updated_us);
    fmt_i64(en, r->ended_us);
    fmt_i64(pr, r->priority);
    const char *v[] = {
        pg->name, id,       r->tenant, r->media, r->queue, r->user_data, r->external_id,
        state,    r->agent, ok,        cr,       up,       en,           pr};
    return PQsendQueryPrepared(pg->conn, "ixn_upsert", 14, v, NULL, NULL, 0) == 1;
}

int store_pg_commit_start(store_pg *pg, const store_batch_ent *ents, size_t n, int64_t new_last)
{
    assert(!pg->in_flight);
    pg->msg[0] = '\0';
    if (!ensure_connected(pg)) {
        LOG_ERROR("event=store_commit_failed db=%s error=%s", LOGQ(pg->desc), LOGQ(pg->msg));
        return CC_E_UNAVAILABLE;
    }
    if (PQenterPipelineMode(pg->conn) != 1) {
        conn_msg(pg, pg->msg, sizeof pg->msg);
        return CC_E_UNAVAILABLE;
    }
    pg->nsent = pg->nseen = 0;
    pg->fenced = pg->failed = false;
    char epoch[24];
    fmt_i64(epoch, pg->epoch);
    const char *vf[] = {pg->name, epoch};
    bool ok = PQsendQueryPrepared(pg->conn, "ixn_fence", 2, vf, NULL, NULL, 0) == 1;
    pg->nsent += ok;
    for (size_t i = 0; ok && i < n; i++) {
        ok = send_ent(pg, &ents[i]);
        pg->nsent += ok;
    }
    if (ok && new_last > 0) {
        char last[24];
        fmt_i64(last, new_last);
        const char *vl[] = {pg->name, last};
        ok = PQsendQueryPrepared(pg->conn, "ixn_last", 2, vl, NULL, NULL, 0) == 1;
        pg->nsent += ok;
    }
    if (ok)
        ok = PQpipelineSync(pg->conn) == 1;
    pg->in_flight = true;
    if (!ok) {
        /* Something was sent, maybe; the connection is in an unknown state: its
         * transaction never gets its sync, so it is rolled back when the connection goes. */
        conn_msg(pg, pg->msg, sizeof pg->msg);
        PQfinish(pg->conn);
        pg->conn = NULL;
        pg->in_flight = false;
        (void)connect_db(pg);
        return CC_E_UNAVAILABLE;
    }
    return 0;
}

/* The connection broke while a commit was in flight: whether it committed is unknown,
 * and the lock is gone with the session. Only a fresh load can tell what is stored, so
 * the owner must stop. */
static int lost_in_flight(store_pg *pg)
{
    conn_msg(pg, pg->msg, sizeof pg->msg);
    pg->in_flight = false;
    LOG_ERROR("event=store_connection_lost server=%s db=%s error=%s", LOGQ(pg->name),
              LOGQ(pg->desc), LOGQ(pg->msg));
    return CC_E_STALE_OWNER;
}

int store_pg_commit_step(store_pg *pg, bool *want_write)
{
    assert(pg->in_flight);
    *want_write = false;
    int f = PQflush(pg->conn);
    if (f < 0)
        return lost_in_flight(pg);
    *want_write = f == 1;
    if (!PQconsumeInput(pg->conn))
        return lost_in_flight(pg);
    while (!PQisBusy(pg->conn)) {
        PGresult *r = PQgetResult(pg->conn);
        if (!r) {
            if (PQstatus(pg->conn) != CONNECTION_OK)
                return lost_in_flight(pg);
            continue;
        }
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            pg->in_flight = false;
            (void)PQexitPipelineMode(pg->conn);
            if (pg->fenced) {
                LOG_ERROR("event=store_stale_owner server=%s epoch=%" PRId64
                          " why=\"another process took the store over (a higher epoch)\"",
                          LOGQ(pg->name), pg->epoch);
                return CC_E_STALE_OWNER;
            }
            if (pg->failed || pg->nseen != pg->nsent) {
                LOG_ERROR("event=store_commit_failed db=%s statements=%zu error=%s", LOGQ(pg->desc),
                          pg->nsent, LOGQ(pg->msg));
                return CC_E_UNAVAILABLE;
            }
            return 0;
        }
        if (s == PGRES_FATAL_ERROR) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (pg->nseen == 0 && state && strcmp(state, SQLSTATE_FENCED) == 0) {
                pg->fenced = true;
            } else if (!pg->failed) {
                pg->failed = true;
                const char *m = PQresultErrorMessage(r);
                size_t len = strcspn(m, "\n");
                snprintf(pg->msg, sizeof pg->msg, "%.*s", (int)(len < 200 ? len : 200), m);
            }
        } else if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_PIPELINE_ABORTED) {
            pg->failed = true;
        }
        pg->nseen++;
        PQclear(r);
    }
    if (PQstatus(pg->conn) != CONNECTION_OK)
        return lost_in_flight(pg);
    return 1;
}

/* A text column as a C string of 1..max bytes (or, with nullable, NULL); *ok is cleared
 * otherwise. */
static const char *col_text(PGresult *r, int row, int col, size_t max, bool nullable, bool *ok)
{
    if (PQgetisnull(r, row, col)) {
        if (!nullable)
            *ok = false;
        return NULL;
    }
    const char *v = PQgetvalue(r, row, col);
    int n = PQgetlength(r, row, col);
    if (n <= 0 || (size_t)n > max || strlen(v) != (size_t)n) {
        *ok = false;
        return NULL;
    }
    return v;
}

static int64_t col_int(PGresult *r, int row, int col, bool *ok)
{
    if (PQgetisnull(r, row, col)) {
        *ok = false;
        return 0;
    }
    const char *v = PQgetvalue(r, row, col);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        *ok = false;
        return 0;
    }
    return x;
}

/* User data must be the text of a JSON object, as the server wrote it. */
static bool json_object_ok(const char *text)
{
    if (!text)
        return true;
    json_t *j = json_loads(text, 0, NULL);
    bool ok = j && json_is_object(j);
    json_decref(j);
    return ok;
}

int store_pg_load(store_pg *pg, void (*cb)(void *ctx, const store_ixn *rec), void *ctx,
                  uint64_t *corrupt, uint64_t *rows)
{
    const char *v[] = {pg->name};
    PGresult *r = PQexecPrepared(pg->conn, "ixn_load", 1, v, NULL, NULL, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        conn_msg(pg, pg->msg, sizeof pg->msg);
        PQclear(r);
        LOG_ERROR("event=store_load_failed db=%s error=%s", LOGQ(pg->desc), LOGQ(pg->msg));
        return CC_E_UNAVAILABLE;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        bool ok = true;
        store_ixn rec;
        memset(&rec, 0, sizeof rec);
        rec.id = col_int(r, i, 0, &ok);
        rec.tenant = col_text(r, i, 1, STORE_MAX_ID, false, &ok);
        rec.media = col_text(r, i, 2, STORE_MAX_ID, false, &ok);
        rec.queue = col_text(r, i, 3, STORE_MAX_ID, false, &ok);
        rec.user_data = col_text(r, i, 4, STORE_MAX_USER_DATA, true, &ok);
        rec.external_id = col_text(r, i, 5, STORE_MAX_ID, true, &ok);
        int64_t state = col_int(r, i, 6, &ok);
        rec.agent = col_text(r, i, 7, STORE_MAX_AGENT, true, &ok);
        rec.order_key = col_int(r, i, 8, &ok);
        rec.created_us = col_int(r, i, 9, &ok);
        rec.updated_us = col_int(r, i, 10, &ok);
        rec.ended_us = col_int(r, i, 11, &ok);
        rec.priority = col_int(r, i, 12, &ok);
        if (!ok || rec.id <= 0 || state < CC_IXN_QUEUED || state > CC_IXN_ENDED ||
            !json_object_ok(rec.user_data)) {
            (*corrupt)++;
            LOG_WARN("event=store_corrupt_row db=%s server=%s id=%s", LOGQ(pg->desc),
                     LOGQ(pg->name), LOGQ(PQgetvalue(r, i, 0)));
            continue;
        }
        rec.state = (enum cc_ixn_state)state;
        (*rows)++;
        cb(ctx, &rec);
    }
    PQclear(r);
    return 0;
}

int64_t store_pg_purge(store_pg *pg, int64_t ended_before_us)
{
    if (pg->in_flight || !ensure_connected(pg))
        return CC_E_UNAVAILABLE;
    char cut[24], epoch[24];
    fmt_i64(cut, ended_before_us);
    fmt_i64(epoch, pg->epoch);
    const char *v[] = {pg->name, cut, epoch};
    PGresult *r = PQexecPrepared(pg->conn, "ixn_purge", 3, v, NULL, NULL, 0);
    int64_t n = CC_E_UNAVAILABLE;
    if (r && PQresultStatus(r) == PGRES_COMMAND_OK)
        n = strtoll(PQcmdTuples(r), NULL, 10);
    else
        conn_msg(pg, pg->msg, sizeof pg->msg);
    PQclear(r);
    return n;
}

int store_pg_find_external(store_pg *pg, const char *external_id, int64_t *id_out,
                           enum cc_ixn_state *state_out)
{
    if (pg->in_flight || !ensure_connected(pg))
        return CC_E_UNAVAILABLE;
    const char *v[] = {pg->name, external_id};
    PGresult *r = PQexecPrepared(pg->conn, "ixn_find", 2, v, NULL, NULL, 0);
    int rc = CC_E_NOT_FOUND;
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        conn_msg(pg, pg->msg, sizeof pg->msg);
        LOG_ERROR("event=store_find_failed db=%s error=%s", LOGQ(pg->desc), LOGQ(pg->msg));
        rc = CC_E_UNAVAILABLE;
    } else if (PQntuples(r) == 1) {
        bool ok = true;
        int64_t id = col_int(r, 0, 0, &ok);
        int64_t state = col_int(r, 0, 1, &ok);
        if (ok && state >= CC_IXN_QUEUED && state <= CC_IXN_ENDED) {
            *id_out = id;
            *state_out = (enum cc_ixn_state)state;
            rc = 0;
        }
    }
    PQclear(r);
    return rc;
}

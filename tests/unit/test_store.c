/* Unit tests of src/store: creating and reopening a store, batches written in one
 * transaction, load order, ids never reused, externalIds kept for ended rows, failed
 * commits that leave the old data, corrupt rows skipped, rows that survive a process
 * that dies without closing, files readable by their owner only, and a store that lost
 * its data refused. Each test works in its own directory under /tmp.
 *
 * With --pg the back-end-neutral cases run over PostgreSQL instead, at the DSN in
 * CC_TEST_PG_DSN (tests/integration/pgtmp.py starts a throwaway cluster and sets it), and
 * the PostgreSQL cases: ownership by lock and epoch, a stale owner that cannot commit, a
 * DSN logged without its password. Without the variable they print SKIP and pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libpq-fe.h>

#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "store/store.h"

/* The PostgreSQL DSN of a --pg run; NULL runs the cases over SQLite. */
static const char *g_pg_dsn;

/* A loaded row with its own copies of the strings. */
typedef struct row {
    store_ixn rec;
    char *tenant, *media, *queue, *user_data, *external_id, *agent;
} row;

typedef struct rows {
    row *v;
    size_t n, cap;
} rows;

static char *dup_opt(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void collect(void *ctx, const store_ixn *rec)
{
    rows *r = ctx;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->v = xrealloc(r->v, r->cap * sizeof *r->v);
    }
    row *w = &r->v[r->n++];
    w->rec = *rec;
    w->rec.tenant = w->tenant = dup_opt(rec->tenant);
    w->rec.media = w->media = dup_opt(rec->media);
    w->rec.queue = w->queue = dup_opt(rec->queue);
    w->rec.user_data = w->user_data = dup_opt(rec->user_data);
    w->rec.external_id = w->external_id = dup_opt(rec->external_id);
    w->rec.agent = w->agent = dup_opt(rec->agent);
}

static void rows_free(rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].tenant);
        free(r->v[i].media);
        free(r->v[i].queue);
        free(r->v[i].user_data);
        free(r->v[i].external_id);
        free(r->v[i].agent);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Per-test fixture: a fresh temp dir, removed afterwards. */
typedef struct fixture {
    char dir[64];
    char sub[96];
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    /* The store's own directory is created by store_open, with a missing parent. */
    snprintf(f->sub, sizeof f->sub, "%s/data/ixn-a", f->dir);
    *state = f;
    if (g_pg_dsn) {
        /* Every case starts from an empty database. */
        PGconn *c = PQconnectdb(g_pg_dsn);
        if (PQstatus(c) != CONNECTION_OK) {
            fprintf(stderr, "cannot connect to %s: %s", g_pg_dsn, PQerrorMessage(c));
            PQfinish(c);
            return -1;
        }
        PGresult *r = PQexec(c, "SET client_min_messages = warning;"
                                "DROP TABLE IF EXISTS ixn_interactions, ixn_meta, ixn_owner");
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        PQfinish(c);
        if (!ok)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Opens the store of server name over the back end of this run. */
static int open_named(const char *dir, const char *name, int owner_timeout_ms, store **st,
                      cc_buf *err)
{
    store_config cfg = {.kind = g_pg_dsn ? STORE_KIND_POSTGRES : STORE_KIND_SQLITE,
                        .dir = dir,
                        .dsn = g_pg_dsn,
                        .owner_timeout_ms = owner_timeout_ms};
    return store_open_config(&cfg, name, st, err);
}

static store *open_ok(const char *dir)
{
    store *st = NULL;
    cc_buf err;
    cc_buf_init(&err);
    int rc = open_named(dir, "ixn-a", 0, &st, &err);
    if (rc)
        fprintf(stderr, "store_open: %s\n", err.data ? err.data : "");
    assert_int_equal(rc, 0);
    assert_non_null(st);
    cc_buf_free(&err);
    return st;
}

static store_ixn mk(int64_t id, const char *queue, int state, int64_t order_key)
{
    store_ixn r = {
        .id = id,
        .tenant = "Resources",
        .media = "chat",
        .queue = queue,
        .user_data = "{\"customer\":\"c1\"}",
        .state = state,
        .order_key = order_key,
        .created_us = 1000 + id,
        .updated_us = 2000 + id,
    };
    return r;
}

static void load_all(store *st, rows *out)
{
    memset(out, 0, sizeof *out);
    assert_int_equal(store_load(st, collect, out), 0);
}

static void test_open_create(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 0);
    assert_int_equal(store_pending(st), 0);
    assert_non_null(strstr(store_path(st), "/data/ixn-a/ixn.db"));
    struct stat sb;
    assert_int_equal(stat(store_path(st), &sb), 0);

    /* A second opener of the same directory is kept out while the first has it. */
    store *st2 = NULL;
    cc_buf err;
    cc_buf_init(&err);
    assert_int_equal(store_open(f->sub, "ixn-a", &st2, &err), CC_E_IO);
    assert_null(st2);
    assert_non_null(strstr(err.data, "in use"));
    store_close(st);

    /* Reopening is fine; a server of another name is refused. */
    st = open_ok(f->sub);
    store_close(st);
    cc_buf_reset(&err);
    assert_int_equal(store_open(f->sub, "ixn-b", &st2, &err), CC_E_CONFIG);
    assert_null(st2);
    assert_non_null(strstr(err.data, "ixn-a"));

    /* A regular file where the directory should be. */
    char file[128];
    snprintf(file, sizeof file, "%s/plain", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    cc_buf_reset(&err);
    assert_int_equal(store_open(file, "ixn-a", &st2, &err), CC_E_IO);
    assert_null(st2);
    cc_buf_free(&err);
    store_close(NULL);
}

static void test_put_commit_reload_order(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    /* Inserted out of order: the load must give queue order, not insertion order. */
    store_ixn a = mk(1, "chat-sales", CC_IXN_QUEUED, 30);
    store_ixn b = mk(2, "chat-sales", CC_IXN_INVITED, 10);
    b.agent = "Resources/1001";
    store_ixn c = mk(3, "chat-sales", CC_IXN_QUEUED, 20);
    c.user_data = NULL;
    c.external_id = "ext-3";
    store_ixn d = mk(4, "chat-sales", CC_IXN_QUEUED, -5); /* a head insert */
    store_ixn e = mk(5, "a-first", CC_IXN_HANDLING, 99);
    e.agent = "Resources/1002";
    store_ixn g = mk(6, "chat-sales", CC_IXN_ENDED, 1);
    g.ended_us = 5000;
    store_ixn *all[] = {&a, &b, &c, &d, &e, &g};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(store_put(st, all[i]), 0);
    assert_int_equal(store_pending(st), 6);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_pending(st), 0);
    assert_int_equal(store_last_id(st), 6);
    /* An empty commit is a no-op that succeeds. */
    assert_int_equal(store_commit(st), 0);
    store_stats s;
    store_get_stats(st, &s);
    assert_int_equal(s.transactions, 1);
    assert_int_equal(s.rows_written, 6);
    store_close(st);

    st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 6);
    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, 6);
    int64_t want[] = {5, 4, 2, 3, 1, 6};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(r.v[i].rec.id, want[i]);
    assert_string_equal(r.v[0].rec.queue, "a-first");
    assert_string_equal(r.v[0].rec.agent, "Resources/1002");
    assert_int_equal(r.v[0].rec.state, CC_IXN_HANDLING);
    assert_int_equal(r.v[1].rec.order_key, -5);
    assert_string_equal(r.v[2].rec.agent, "Resources/1001");
    assert_null(r.v[3].rec.user_data);
    assert_string_equal(r.v[3].rec.external_id, "ext-3");
    assert_null(r.v[4].rec.external_id);
    assert_null(r.v[4].rec.agent);
    assert_string_equal(r.v[4].rec.user_data, "{\"customer\":\"c1\"}");
    assert_string_equal(r.v[4].rec.tenant, "Resources");
    assert_string_equal(r.v[4].rec.media, "chat");
    assert_int_equal(r.v[4].rec.created_us, 1001);
    assert_int_equal(r.v[4].rec.updated_us, 2001);
    assert_int_equal(r.v[5].rec.state, CC_IXN_ENDED);
    assert_int_equal(r.v[5].rec.ended_us, 5000);
    rows_free(&r);
    store_close(st);
}

static void test_batch_coalesces(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_ixn a = mk(7, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &a), 0);
    a.state = CC_IXN_INVITED;
    a.agent = "Resources/1001";
    assert_int_equal(store_put(st, &a), 0);
    assert_int_equal(store_end(st, 7, 9000), 0);
    /* An end of a row that is only in the database. */
    store_ixn b = mk(8, "q", CC_IXN_HANDLING, 2);
    b.agent = "Resources/1003";
    assert_int_equal(store_put(st, &b), 0);
    assert_int_equal(store_pending(st), 2);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_end(st, 8, 9100), 0);
    assert_int_equal(store_end(st, 4242, 9100), 0); /* not stored: nothing happens */
    assert_int_equal(store_end(st, 0, 1), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(store_commit(st), 0);
    /* The end of an unknown id did not raise the highest id. */
    assert_int_equal(store_last_id(st), 8);

    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(r.v[i].rec.state, CC_IXN_ENDED);
        assert_null(r.v[i].rec.agent);
    }
    assert_int_equal(r.v[0].rec.ended_us, 9000);
    assert_int_equal(r.v[1].rec.ended_us, 9100);
    assert_int_equal(r.v[1].rec.updated_us, 9100);
    assert_string_equal(r.v[1].rec.queue, "q");
    rows_free(&r);
    store_close(st);
}

static void test_put_rejects(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    char *big = xmalloc(STORE_MAX_USER_DATA + 2);
    memset(big, 'x', STORE_MAX_USER_DATA + 1);
    big[STORE_MAX_USER_DATA + 1] = '\0';
    char longid[STORE_MAX_ID + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';

    store_ixn r = mk(1, "q", CC_IXN_QUEUED, 1);
    r.user_data = big;
    assert_int_equal(store_put(st, &r), CC_E_LIMIT_EXCEEDED);
    r = mk(1, longid, CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &r), CC_E_LIMIT_EXCEEDED);
    r = mk(1, "q", CC_IXN_QUEUED, 1);
    r.external_id = longid;
    assert_int_equal(store_put(st, &r), CC_E_LIMIT_EXCEEDED);
    r = mk(1, "q", CC_IXN_QUEUED, 1);
    r.tenant = NULL;
    assert_int_equal(store_put(st, &r), CC_E_INVALID_ATTRIBUTE);
    r = mk(1, "", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &r), CC_E_INVALID_ATTRIBUTE);
    r = mk(1, "q", 7, 1);
    assert_int_equal(store_put(st, &r), CC_E_INVALID_ATTRIBUTE);
    r = mk(0, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &r), CC_E_INVALID_ATTRIBUTE);
    assert_int_equal(store_pending(st), 0);

    /* Exactly at the limits is accepted. */
    big[STORE_MAX_USER_DATA] = '\0';
    longid[STORE_MAX_ID] = '\0';
    r = mk(1, longid, CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &r), 0);
    store_stats s;
    store_get_stats(st, &s);
    assert_int_equal(s.rows_rejected, 7);
    assert_int_equal(store_commit(st), 0);
    free(big);
    store_close(st);
}

static void test_ids_never_reused(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    for (int64_t id = 1; id <= 5; id++) {
        store_ixn r = mk(id, "q", CC_IXN_QUEUED, id);
        assert_int_equal(store_put(st, &r), 0);
    }
    assert_int_equal(store_commit(st), 0);
    for (int64_t id = 1; id <= 5; id++)
        assert_int_equal(store_end(st, id, 100 + id), 0);
    assert_int_equal(store_commit(st), 0);
    /* Only rows that ended before the cut are purged. */
    assert_int_equal(store_purge(st, 104), 3);
    assert_int_equal(store_purge(st, INT64_MAX), 2);
    assert_int_equal(store_purge(st, INT64_MAX), 0);
    assert_int_equal(store_last_id(st), 5);
    store_stats s;
    store_get_stats(st, &s);
    assert_int_equal(s.rows_purged, 5);
    store_close(st);

    st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 5);
    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, 0);
    rows_free(&r);
    /* A lower id written later does not lower the highest id. */
    store_ixn low = mk(3, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &low), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_last_id(st), 5);
    store_close(st);
    st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 5);
    store_close(st);
}

static void test_external_id_kept_for_ended(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_ixn r = mk(1, "q", CC_IXN_QUEUED, 1);
    r.external_id = "mail-<abc@example.com>";
    assert_int_equal(store_put(st, &r), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_end(st, 1, 500), 0);
    assert_int_equal(store_commit(st), 0);
    /* Purging up to a time before it ended keeps it. */
    assert_int_equal(store_purge(st, 400), 0);
    store_close(st);

    st = open_ok(f->sub);
    rows rs;
    load_all(st, &rs);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.v[0].rec.state, CC_IXN_ENDED);
    assert_string_equal(rs.v[0].rec.external_id, "mail-<abc@example.com>");
    rows_free(&rs);

    int64_t id = 0;
    enum cc_ixn_state state_found = CC_IXN_QUEUED;
    assert_int_equal(store_find_external(st, "mail-<abc@example.com>", &id, &state_found), 0);
    assert_int_equal(id, 1);
    assert_int_equal(state_found, CC_IXN_ENDED);
    assert_int_equal(store_find_external(st, "other", &id, &state_found), CC_E_NOT_FOUND);

    /* The externalId stays taken while the ended row is kept. */
    store_ixn dup = mk(2, "q", CC_IXN_QUEUED, 2);
    dup.external_id = "mail-<abc@example.com>";
    assert_int_equal(store_put(st, &dup), 0);
    assert_int_equal(store_commit(st), CC_E_UNAVAILABLE);
    /* Once purged, it may be used again. */
    assert_int_equal(store_purge(st, 501), 1);
    assert_int_equal(store_find_external(st, "mail-<abc@example.com>", &id, &state_found),
                     CC_E_NOT_FOUND);
    assert_int_equal(store_put(st, &dup), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_find_external(st, "mail-<abc@example.com>", &id, &state_found), 0);
    assert_int_equal(id, 2);
    assert_int_equal(state_found, CC_IXN_QUEUED);
    store_close(st);
}

static void test_batch_10000(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    enum { N = 10000 };
    char ud[128], ext[32];
    uint64_t t0 = cc_mono_us();
    for (int64_t id = 1; id <= N; id++) {
        store_ixn r = mk(id, id % 2 ? "chat-sales" : "email-support", CC_IXN_QUEUED, id);
        snprintf(ud, sizeof ud, "{\"customer\":\"c%lld\",\"topic\":\"billing\"}", (long long)id);
        snprintf(ext, sizeof ext, "ext-%lld", (long long)id);
        r.user_data = ud;
        r.external_id = ext;
        assert_int_equal(store_put(st, &r), 0);
    }
    uint64_t t1 = cc_mono_us();
    assert_int_equal(store_commit(st), 0);
    uint64_t t2 = cc_mono_us();
    store_stats s;
    store_get_stats(st, &s);
    printf("store: %d upserts queued in %.1f ms, committed in one transaction in %.1f ms\n", N,
           (double)(t1 - t0) / 1000.0, (double)(t2 - t1) / 1000.0);
    assert_int_equal(s.transactions, 1);
    assert_int_equal(s.rows_written, N);
    assert_int_equal(store_last_id(st), N);

    /* The same rows again as updates: state changes of a busy turn. */
    t0 = cc_mono_us();
    for (int64_t id = 1; id <= N; id++) {
        store_ixn r = mk(id, id % 2 ? "chat-sales" : "email-support", CC_IXN_INVITED, id);
        r.agent = "Resources/1001";
        assert_int_equal(store_put(st, &r), 0);
    }
    assert_int_equal(store_commit(st), 0);
    printf("store: %d updates queued and committed in %.1f ms\n", N,
           (double)(cc_mono_us() - t0) / 1000.0);
    store_close(st);

    st = open_ok(f->sub);
    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, N);
    /* Odd ids in chat-sales come before email-support's even ones, each by order key. */
    assert_int_equal(r.v[0].rec.id, 1);
    assert_int_equal(r.v[N / 2 - 1].rec.id, N - 1);
    assert_int_equal(r.v[N / 2].rec.id, 2);
    assert_int_equal(r.v[N - 1].rec.id, N);
    assert_int_equal(r.v[N - 1].rec.state, CC_IXN_INVITED);
    assert_null(r.v[N - 1].rec.external_id); /* the update's whole row replaced it */
    rows_free(&r);
    store_close(st);
}

/* A load callback that queues a change of every row, as the server does when it puts
 * invited and handling interactions back into their queues at start-up. */
static void requeue(void *ctx, const store_ixn *rec)
{
    store *st = ctx;
    store_ixn r = *rec;
    if (r.state == CC_IXN_ENDED)
        return;
    r.state = CC_IXN_QUEUED;
    r.agent = NULL;
    assert_int_equal(store_put(st, &r), 0);
}

static void test_put_during_load(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_ixn a = mk(1, "q", CC_IXN_HANDLING, 1);
    a.agent = "Resources/1001";
    store_ixn b = mk(2, "q", CC_IXN_INVITED, 2);
    b.agent = "Resources/1002";
    store_ixn c = mk(3, "q", CC_IXN_ENDED, 3);
    c.ended_us = 10;
    assert_int_equal(store_put(st, &a), 0);
    assert_int_equal(store_put(st, &b), 0);
    assert_int_equal(store_put(st, &c), 0);
    assert_int_equal(store_commit(st), 0);
    store_close(st);

    st = open_ok(f->sub);
    assert_int_equal(store_load(st, requeue, st), 0);
    assert_int_equal(store_pending(st), 2);
    assert_int_equal(store_commit(st), 0);
    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(r.v[i].rec.state, CC_IXN_QUEUED);
        assert_null(r.v[i].rec.agent);
    }
    rows_free(&r);
    store_close(st);
}

/* Many small batches, as in a server answering a few requests per loop turn. */
static void test_small_commits(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    enum { TURNS = 2000, PER_TURN = 5 };
    uint64_t t0 = cc_mono_us();
    int64_t id = 0;
    for (int t = 0; t < TURNS; t++) {
        for (int i = 0; i < PER_TURN; i++) {
            id++;
            store_ixn r = mk(id, "q", CC_IXN_QUEUED, id);
            assert_int_equal(store_put(st, &r), 0);
        }
        assert_int_equal(store_commit(st), 0);
    }
    uint64_t dt = cc_mono_us() - t0;
    store_stats s;
    store_get_stats(st, &s);
    printf("store: %d commits of %d rows: %.1f us per commit on average, longest %lld us\n", TURNS,
           PER_TURN, (double)dt / TURNS, (long long)s.max_commit_us);
    assert_int_equal(s.transactions, TURNS);
    assert_int_equal(s.rows_written, TURNS * PER_TURN);
    assert_int_equal(store_last_id(st), TURNS * PER_TURN);
    store_close(st);
}

/* Opens a second, raw connection to the store's file, as an outside tool would. */
static sqlite3 *raw_open(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/ixn.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sqlite: %s\n", msg ? msg : "");
    sqlite3_free(msg);
    assert_int_equal(rc, SQLITE_OK);
}

static void test_commit_failure_keeps_old_data(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_ixn a = mk(1, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &a), 0);
    assert_int_equal(store_commit(st), 0);

    /* The store keeps SQLite's lock while it is open (locking_mode EXCLUSIVE): another
     * connection cannot take the write lock, so it cannot stall the store's commits. */
    sqlite3 *db = raw_open(f->sub);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) & 0xff, SQLITE_BUSY);
    sqlite3_close(db);

    /* A batch that fails half-way (a second row with a taken externalId) leaves
     * nothing of itself behind, also not its first rows (an update of row 1 among them),
     * and the batch is dropped. */
    store_ixn b = mk(2, "q", CC_IXN_QUEUED, 2);
    a.state = CC_IXN_ENDED;
    a.ended_us = 77;
    store_ixn c = mk(3, "q", CC_IXN_QUEUED, 3);
    c.external_id = "same";
    store_ixn d = mk(4, "q", CC_IXN_QUEUED, 4);
    d.external_id = "same";
    assert_int_equal(store_put(st, &a), 0);
    assert_int_equal(store_put(st, &b), 0);
    assert_int_equal(store_put(st, &c), 0);
    assert_int_equal(store_put(st, &d), 0);
    assert_int_equal(store_commit(st), CC_E_UNAVAILABLE);
    assert_int_equal(store_pending(st), 0);
    assert_int_equal(store_last_id(st), 1);
    assert_int_equal(store_put(st, &c), 0);
    assert_int_equal(store_put(st, &d), 0);
    assert_int_equal(store_commit(st), CC_E_UNAVAILABLE);
    assert_int_equal(store_last_id(st), 1);
    store_stats s;
    store_get_stats(st, &s);
    assert_int_equal(s.commit_failures, 2);

    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].rec.id, 1);
    assert_int_equal(r.v[0].rec.state, CC_IXN_QUEUED);
    rows_free(&r);

    /* The store works again once the cause is gone. */
    assert_int_equal(store_put(st, &b), 0);
    assert_int_equal(store_put(st, &c), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_last_id(st), 3);
    store_close(st);
    st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 3);
    load_all(st, &r);
    assert_int_equal(r.n, 3);
    rows_free(&r);
    store_close(st);
}

/* An outside connection that holds the write lock when the server starts delays the open
 * only briefly (it fails, the server does not start); once open, the store holds the lock
 * itself, so nothing can make a commit wait and a commit never stalls the loop. */
static void test_busy_open_fails_fast(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_close(st);

    sqlite3 *db = raw_open(f->sub);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    cc_buf err;
    cc_buf_init(&err);
    uint64_t t0 = cc_mono_us();
    assert_int_equal(store_open(f->sub, "ixn-a", &st, &err), CC_E_UNAVAILABLE);
    assert_true(cc_mono_us() - t0 < 2000000);
    assert_null(st);
    cc_buf_free(&err);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    st = open_ok(f->sub);
    db = raw_open(f->sub);
    for (int64_t id = 1; id <= 50; id++) {
        /* The outside connection is refused at once each time; the commits go on. */
        assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) & 0xff, SQLITE_BUSY);
        store_ixn r = mk(id, "q", CC_IXN_QUEUED, id);
        assert_int_equal(store_put(st, &r), 0);
        t0 = cc_mono_us();
        assert_int_equal(store_commit(st), 0);
        assert_true(cc_mono_us() - t0 < 100000);
    }
    sqlite3_close(db);
    store_close(st);
}

/* Child: writes rows 1..3 and commits, queues row 4 without committing, then dies
 * without closing: by _exit when how is 0, by SIGKILL otherwise. */
static void crash_child(const char *dir, int how)
{
    store *st = NULL;
    if (store_open(dir, "ixn-a", &st, NULL) != 0)
        _exit(2);
    for (int64_t id = 1; id <= 3; id++) {
        store_ixn r = mk(id, "q", CC_IXN_QUEUED, id);
        if (store_put(st, &r) != 0)
            _exit(3);
    }
    if (store_commit(st) != 0)
        _exit(4);
    store_ixn lost = mk(4, "q", CC_IXN_QUEUED, 4);
    if (store_put(st, &lost) != 0)
        _exit(5);
    if (how == 0)
        _exit(0);
    kill(getpid(), SIGKILL);
    _exit(6);
}

static void test_reopen_after_crash(void **state)
{
    fixture *f = *state;
    for (int how = 0; how < 2; how++) {
        char dir[160];
        snprintf(dir, sizeof dir, "%s/crash%d", f->dir, how);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            crash_child(dir, how);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (how == 0) {
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        } else {
            assert_true(WIFSIGNALED(status));
            assert_int_equal(WTERMSIG(status), SIGKILL);
        }

        /* The lock died with the child, the committed rows are there, the rest is not. */
        store *st = open_ok(dir);
        assert_int_equal(store_last_id(st), 3);
        rows r;
        load_all(st, &r);
        assert_int_equal(r.n, 3);
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(r.v[i].rec.id, (int64_t)i + 1);
        rows_free(&r);
        store_close(st);
    }
}

static void test_corrupt_rows_skipped(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_ixn a = mk(1, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &a), 0);
    assert_int_equal(store_commit(st), 0);
    store_close(st);

    sqlite3 *db = raw_open(f->sub);
    raw_exec(db, "INSERT INTO interactions(id, tenant, media, queue, user_data, state,"
                 " order_key, created_us, updated_us) VALUES"
                 " (2, 'T', 'chat', 'q', NULL, 9, 1, 0, 0),"
                 " (3, 'T', 'chat', 'q', '{broken', 0, 1, 0, 0),"
                 " (4, 'T', 'chat', 'q', '[1,2]', 0, 1, 0, 0),"
                 " (5, '', 'chat', 'q', NULL, 0, 1, 0, 0),"
                 " (6, x'00ff', 'chat', 'q', NULL, 0, 1, 0, 0),"
                 " (7, 'T', 'chat', 'q', NULL, 0, 'soon', 0, 0),"
                 " (-8, 'T', 'chat', 'q', NULL, 0, 1, 0, 0),"
                 " (9, 'T', 'chat', 'q', '{}', 1, 1, 0, 0)");
    raw_exec(db, "UPDATE interactions SET tenant = 'a' || char(0) || 'b' WHERE id = 2");
    /* A tenant longer than any identifier. */
    raw_exec(db, "INSERT INTO interactions(id, tenant, media, queue, state, order_key,"
                 " created_us, updated_us) VALUES (10, printf('%.200c', 'x'), 'chat', 'q',"
                 " 0, 1, 0, 0)");
    sqlite3_close(db);

    st = open_ok(f->sub);
    /* The highest id comes from the rows too when the meta row is behind. */
    assert_int_equal(store_last_id(st), 10);
    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.v[0].rec.id, 1);
    assert_int_equal(r.v[1].rec.id, 9);
    assert_string_equal(r.v[1].rec.user_data, "{}");
    rows_free(&r);
    store_stats s;
    store_get_stats(st, &s);
    assert_int_equal(s.corrupt_rows, 8);
    store_close(st);

    /* The meta row was brought up to date at that open: purging every row and damaging
     * nothing else still leaves the highest id at 10. */
    db = raw_open(f->sub);
    raw_exec(db, "DELETE FROM interactions");
    sqlite3_close(db);
    st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 10);
    store_close(st);
}

static void test_newer_schema_refused(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_close(st);
    sqlite3 *db = raw_open(f->sub);
    raw_exec(db, "UPDATE meta SET value = '99' WHERE key = 'schema'");
    sqlite3_close(db);
    cc_buf err;
    cc_buf_init(&err);
    assert_int_equal(store_open(f->sub, "ixn-a", &st, &err), CC_E_CONFIG);
    assert_non_null(strstr(err.data, "schema"));
    cc_buf_free(&err);

    /* A schema version that is not a number is not one this program knows either. */
    db = raw_open(f->sub);
    raw_exec(db, "UPDATE meta SET value = '1x' WHERE key = 'schema'");
    sqlite3_close(db);
    cc_buf_init(&err);
    assert_int_equal(store_open(f->sub, "ixn-a", &st, &err), CC_E_CONFIG);
    assert_non_null(strstr(err.data, "schema"));
    cc_buf_free(&err);

    /* A file that is not a database. */
    char path[160];
    snprintf(path, sizeof path, "%s/junk", f->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/junk/ixn.db", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("this is not an SQLite database, just some text that is long enough.....\n"
          "this is not an SQLite database, just some text that is long enough.....\n",
          fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/junk", f->dir);
    cc_buf_init(&err);
    assert_int_equal(store_open(path, "ixn-a", &st, &err), CC_E_UNAVAILABLE);
    assert_null(st);
    cc_buf_free(&err);
}

static mode_t file_mode(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 0777;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

/* The WAL is checkpointed every 10,000 pages, not SQLite's 1,000: after some 12 MB of
 * small commits it is still one file of that size (a checkpoint restarts it from its
 * start, so at 1,000 pages it would have stayed near 4 MB), and everything reloads. */
static void test_wal_checkpoint_interval(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    char user_data[2048];
    memset(user_data, 'x', sizeof user_data - 3);
    user_data[0] = '"';
    user_data[sizeof user_data - 3] = '"';
    user_data[sizeof user_data - 2] = 0;
    /* One interaction per commit, as the server commits a turn with one change. */
    for (int64_t id = 1; id <= 3000; id++) {
        store_ixn a = mk(id, "q", CC_IXN_QUEUED, id);
        a.user_data = user_data;
        assert_int_equal(store_put(st, &a), 0);
        assert_int_equal(store_commit(st), 0);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/ixn.db-wal", f->sub);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 8 * 1024 * 1024);
    assert_true(sb.st_size < 48 * 1024 * 1024);
    store_close(st);
    st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 3000);
    store_close(st);
}

static void test_file_modes(void **state)
{
    fixture *f = *state;
    /* The usual umask would give 0644 to files created with the default mode. */
    mode_t old_umask = umask(022);
    store *st = open_ok(f->sub);
    store_ixn a = mk(1, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &a), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(file_mode(f->sub, "ixn.db"), 0600);
    assert_int_equal(file_mode(f->sub, "ixn.db-wal"), 0600);
    assert_int_equal(file_mode(f->sub, "ixn.lock"), 0600);
    assert_false(file_exists(f->sub, "ixn.db-shm"));
    /* Nothing of the creation is left behind. */
    assert_false(file_exists(f->sub, "ixn.db.new"));
    assert_false(file_exists(f->sub, "ixn.db.new-wal"));
    store_close(st);

    /* A store an older version made 0644 (readable by others) is narrowed at open, its
     * WAL too. */
    char path[256];
    snprintf(path, sizeof path, "%s/ixn.db", f->sub);
    assert_int_equal(chmod(path, 0644), 0);
    write_file(f->sub, "ixn.db-wal", "", 0644);
    st = open_ok(f->sub);
    assert_int_equal(file_mode(f->sub, "ixn.db"), 0600);
    assert_int_equal(file_mode(f->sub, "ixn.db-wal"), 0600);
    rows r;
    load_all(st, &r);
    assert_int_equal(r.n, 1);
    rows_free(&r);
    store_close(st);

    /* A mode that gives the group access and others none was set on purpose: kept. */
    assert_int_equal(chmod(path, 0640), 0);
    st = open_ok(f->sub);
    assert_int_equal(file_mode(f->sub, "ixn.db"), 0640);
    store_close(st);
    umask(old_umask);
}

/* store_open of dir must fail with code and a message holding what; returns nothing. */
static void open_refused(const char *dir, int code, const char *what)
{
    store *st = NULL;
    cc_buf err;
    cc_buf_init(&err);
    assert_int_equal(store_open(dir, "ixn-a", &st, &err), code);
    assert_null(st);
    if (!strstr(err.data, what))
        fprintf(stderr, "message: %s\n", err.data);
    assert_non_null(strstr(err.data, what));
    cc_buf_free(&err);
}

static void test_lost_store_refused(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    for (int64_t id = 1; id <= 5; id++) {
        store_ixn a = mk(id, "q", CC_IXN_QUEUED, id);
        assert_int_equal(store_put(st, &a), 0);
    }
    assert_int_equal(store_commit(st), 0);
    store_close(st);

    /* ixn.db truncated to nothing, with and without a WAL beside it: refused, and the files
     * are left as they were (SQLite would have deleted the WAL). */
    char path[256];
    snprintf(path, sizeof path, "%s/ixn.db", f->sub);
    assert_int_equal(truncate(path, 0), 0);
    open_refused(f->sub, CC_E_IO, "is empty (0 bytes)");
    write_file(f->sub, "ixn.db-wal", "frames the store would need", 0600);
    open_refused(f->sub, CC_E_IO, "is empty (0 bytes) next to a WAL");
    assert_true(file_exists(f->sub, "ixn.db-wal"));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 0);

    /* A WAL whose database is gone. */
    assert_int_equal(unlink(path), 0);
    open_refused(f->sub, CC_E_IO, "is missing but its WAL");
    assert_false(file_exists(f->sub, "ixn.db"));
    snprintf(path, sizeof path, "%s/ixn.db-wal", f->sub);
    assert_int_equal(unlink(path), 0);

    /* An SQLite file that is no store (no meta table) is refused and not written to. */
    snprintf(path, sizeof path, "%s/ixn.db", f->sub);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_exec(db, "CREATE TABLE other(x); INSERT INTO other VALUES(1)");
    sqlite3_close(db);
    assert_int_equal(stat(path, &sb), 0);
    open_refused(f->sub, CC_E_IO, "no meta table");
    db = raw_open(f->sub);
    raw_exec(db, "SELECT x FROM other");
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1);
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_int_equal(unlink(path), 0);

    /* A store whose meta rows are gone. */
    st = open_ok(f->sub);
    store_close(st);
    db = raw_open(f->sub);
    raw_exec(db, "DELETE FROM meta WHERE key = 'server_name'");
    sqlite3_close(db);
    open_refused(f->sub, CC_E_IO, "no server name");
    db = raw_open(f->sub);
    raw_exec(db, "DELETE FROM meta");
    sqlite3_close(db);
    open_refused(f->sub, CC_E_IO, "no schema version");
    assert_int_equal(unlink(path), 0);

    /* A creation that died half-way left ixn.db.new (and maybe its WAL) but no ixn.db:
     * the next open builds the store again. */
    write_file(f->sub, "ixn.db.new", "", 0600);
    write_file(f->sub, "ixn.db.new-wal", "half", 0600);
    st = open_ok(f->sub);
    assert_int_equal(store_last_id(st), 0);
    store_close(st);
    assert_false(file_exists(f->sub, "ixn.db.new"));
    assert_false(file_exists(f->sub, "ixn.db.new-wal"));
}

/* PostgreSQL: one owner per server name at a time, each taking a higher epoch; other
 * names are independent; the DSN's password never shows. */
static void test_pg_owner(void **state)
{
    fixture *f = *state;
    store *a = open_ok(f->sub);
    int64_t e1 = store_epoch(a);
    assert_true(e1 >= 1);
    assert_null(strstr(store_path(a), "password"));
    store *b = NULL;
    cc_buf err;
    cc_buf_init(&err);
    assert_int_equal(open_named(f->sub, "ixn-a", 0, &b, &err), CC_E_OWNED);
    assert_null(b);
    assert_non_null(strstr(err.data, "owned by another"));
    /* Another server's rows live beside these, with their own ids. */
    store *other = NULL;
    assert_int_equal(open_named(f->sub, "ixn-b", 0, &other, &err), 0);
    store_ixn r = mk(1, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(other, &r), 0);
    assert_int_equal(store_commit(other), 0);
    assert_int_equal(store_last_id(a), 0);
    store_close(other);
    store_close(a);
    /* The lock went with the connection: the next owner gets a higher epoch. */
    b = open_ok(f->sub);
    assert_true(store_epoch(b) > e1);
    store_close(b);

    /* A DSN with a password: the logged form leaves it out. */
    char dsn[512];
    snprintf(dsn, sizeof dsn, "%s password=s3cret-pw", g_pg_dsn);
    store_config cfg = {.kind = STORE_KIND_POSTGRES, .dsn = dsn};
    cc_buf_reset(&err);
    assert_int_equal(store_open_config(&cfg, "ixn-a", &b, &err), 0);
    assert_null(strstr(store_path(b), "s3cret"));
    assert_non_null(strstr(store_path(b), "host="));
    store_close(b);
    cc_buf_free(&err);
}

/* PostgreSQL: a second process takes the store over from an owner that stopped renewing
 * its row (its connection is ended); the old owner's next commit fails its epoch check
 * and writes nothing, also after it made a new connection. */
static void test_pg_stale_owner(void **state)
{
    fixture *f = *state;
    store *a = open_ok(f->sub);
    store_ixn r = mk(1, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(a, &r), 0);
    assert_int_equal(store_commit(a), 0);
    int64_t ea = store_epoch(a);

    /* "a" looks stopped after 50 ms without renewal; b's attempts end its connection. */
    usleep(100 * 1000);
    store *b = NULL;
    cc_buf err;
    cc_buf_init(&err);
    int rc = CC_E_OWNED;
    for (int i = 0; i < 50 && rc == CC_E_OWNED; i++) {
        cc_buf_reset(&err);
        rc = open_named(f->sub, "ixn-a", 50, &b, &err);
        if (rc == CC_E_OWNED)
            usleep(100 * 1000);
    }
    assert_int_equal(rc, 0);
    assert_true(store_epoch(b) > ea);
    assert_int_equal(store_last_id(b), 1);

    /* The old owner wakes up: its commit and its renewal are refused. */
    store_ixn r2 = mk(2, "q", CC_IXN_QUEUED, 2);
    assert_int_equal(store_put(a, &r2), 0);
    assert_int_equal(store_commit(a), CC_E_STALE_OWNER);
    assert_int_equal(store_renew(a), CC_E_STALE_OWNER);
    store_stats s;
    store_get_stats(a, &s);
    assert_int_equal(s.commit_failures, 1);
    store_close(a);

    /* Nothing of the stale commit is stored; the new owner goes on. */
    rows rs;
    load_all(b, &rs);
    assert_int_equal(rs.n, 1);
    assert_int_equal(rs.v[0].rec.id, 1);
    rows_free(&rs);
    assert_int_equal(store_renew(b), 0);
    store_ixn r3 = mk(3, "q", CC_IXN_QUEUED, 3);
    assert_int_equal(store_put(b, &r3), 0);
    assert_int_equal(store_commit(b), 0);
    assert_int_equal(store_last_id(b), 3);
    store_close(b);
    cc_buf_free(&err);
}

/* PostgreSQL: a commit started with store_commit_begin is in flight while the next batch
 * fills; store_commit_poll finishes it. */
static void test_pg_commit_async(void **state)
{
    fixture *f = *state;
    store *st = open_ok(f->sub);
    store_ixn r = mk(1, "q", CC_IXN_QUEUED, 1);
    assert_int_equal(store_put(st, &r), 0);
    assert_int_equal(store_commit_begin(st), 1);
    assert_true(store_in_flight(st));
    assert_int_equal(store_pending(st), 0);
    assert_true(store_fd(st) >= 0);
    store_ixn r2 = mk(2, "q", CC_IXN_QUEUED, 2);
    assert_int_equal(store_put(st, &r2), 0);
    bool want_write = false;
    int rc;
    uint64_t t0 = cc_mono_us();
    while ((rc = store_commit_poll(st, &want_write)) == 1 && cc_mono_us() - t0 < 5000000)
        usleep(1000);
    assert_int_equal(rc, 0);
    assert_false(store_in_flight(st));
    assert_int_equal(store_last_id(st), 1);
    assert_int_equal(store_pending(st), 1);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_last_id(st), 2);
    store_close(st);
}

int main(int argc, char **argv)
{
    cc_log_init("test_store", CC_LOG_ERROR);
    if (argc > 1 && strcmp(argv[1], "--pg") == 0) {
        g_pg_dsn = getenv("CC_TEST_PG_DSN");
        if (!g_pg_dsn || !*g_pg_dsn) {
            printf("SKIP: CC_TEST_PG_DSN is not set: the store's cases did not run over "
                   "PostgreSQL\n");
            return 0;
        }
        const struct CMUnitTest pg_tests[] = {
            cmocka_unit_test_setup_teardown(test_pg_owner, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pg_stale_owner, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pg_commit_async, setup, teardown),
            cmocka_unit_test_setup_teardown(test_put_commit_reload_order, setup, teardown),
            cmocka_unit_test_setup_teardown(test_batch_coalesces, setup, teardown),
            cmocka_unit_test_setup_teardown(test_put_rejects, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_external_id_kept_for_ended, setup, teardown),
            cmocka_unit_test_setup_teardown(test_batch_10000, setup, teardown),
            cmocka_unit_test_setup_teardown(test_put_during_load, setup, teardown),
            cmocka_unit_test_setup_teardown(test_small_commits, setup, teardown),
        };
        return cmocka_run_group_tests_name("store_pg", pg_tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_commit_reload_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_coalesces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_external_id_kept_for_ended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_10000, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_during_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failure_keeps_old_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_open_fails_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_rows_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_store_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpoint_interval, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

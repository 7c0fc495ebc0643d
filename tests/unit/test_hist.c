/* Unit tests of src/store/hist: steps, agent states and link events read back as written
 * and in order, the time range of a cursor, times kept non-decreasing, only committed rows
 * seen by a reader, media kept by name across tables that number them otherwise, a second
 * writer refused, purges in bounded steps, and a damaged row skipped. Each test works in
 * its own directory under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "store/hist.h"

typedef struct fixture {
    char dir[64];
    cc_media_table media;
} fixture;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_hist_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    cc_media_init(&f->media);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* What a cursor delivered, flattened into one line per row. */
typedef struct seen {
    cc_buf lines;
    int n;
} seen;

static void on_ixn(void *user, int64_t now, int link, const char *server, const proto_ixr_event *e)
{
    seen *s = user;
    cc_buf_printf(&s->lines, "ixn %lld %d %s %d %s %s %s %s %s %s %d %lld %lld %lld %lld %d\n",
                  (long long)now, link, server, (int)e->cause, e->interaction_id, e->tenant,
                  e->media, e->queue, e->from_queue ? e->from_queue : "-",
                  e->agent_id ? e->agent_id : "-", (int)e->state, (long long)e->priority,
                  (long long)e->submitted_at, (long long)e->queued_at, (long long)e->at,
                  (int)e->reason);
    s->n++;
}

static void on_agent(void *user, int64_t now, const hist_agent_state *v)
{
    seen *s = user;
    cc_buf_printf(&s->lines, "agent %lld %s %s %d %d %llx %llx %llx", (long long)now, v->tenant,
                  v->agent_id, v->logged_in, v->dnd, (unsigned long long)v->added,
                  (unsigned long long)v->ready, (unsigned long long)v->holding);
    for (int m = 0; m < CC_MEDIA_MAX; m++) {
        if (v->available[m])
            cc_buf_printf(&s->lines, " a%d=%u", m, v->available[m]);
        if (v->reasons[m].present)
            cc_buf_printf(&s->lines, " r%d=%lld/%s", m, (long long)v->reasons[m].code,
                          v->reasons[m].description ? v->reasons[m].description : "-");
    }
    cc_buf_puts(&s->lines, "\n");
    s->n++;
}

static void on_link(void *user, int64_t now, enum hist_link_kind kind, int link, const char *server)
{
    seen *s = user;
    cc_buf_printf(&s->lines, "link %lld %d %d %s\n", (long long)now, (int)kind, link, server);
    s->n++;
}

/* Reads every row of f's history with from <= at < to, step rows at a time. */
static void read_all(fixture *f, cc_media_table *media, int64_t from, int64_t to, size_t step,
                     seen *out)
{
    cc_buf_init(&out->lines);
    out->n = 0;
    hist_cursor *c;
    assert_int_equal(hist_cursor_open(f->dir, media, from, to, &c, NULL), 0);
    hist_sink sink = {on_ixn, on_agent, on_link, out};
    int r;
    while ((r = hist_cursor_next(c, &sink, step, INT64_MAX)) > 0)
        assert_true((size_t)r <= step);
    assert_int_equal(r, 0);
    hist_cursor_close(c);
}

static proto_ixr_event step(enum proto_ixr_cause cause, const char *id, int64_t at)
{
    return (proto_ixr_event){.cause = cause,
                             .interaction_id = id,
                             .tenant = "Resources",
                             .media = "chat",
                             .queue = "sales",
                             .agent_id = cause == PROTO_IXR_QUEUED ? NULL : "1001",
                             .state = cause == PROTO_IXR_QUEUED     ? CC_IXN_QUEUED
                                      : cause == PROTO_IXR_ACCEPTED ? CC_IXN_HANDLING
                                                                    : CC_IXN_ENDED,
                             .priority = 7,
                             .submitted_at = 1000,
                             .queued_at = 1500,
                             .at = at,
                             .reason = cause == PROTO_IXR_ENDED ? PROTO_IXR_REASON_DONE
                                                                : PROTO_IXR_REASON_NONE};
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    hist *h;
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    int voice = cc_media_intern(&f->media, "voice", 5);
    int chat = cc_media_intern(&f->media, "chat", 4);
    hist_link(h, 1000, HIST_LINK_UP, 2, "ixn-a");
    proto_ixr_event q = step(PROTO_IXR_QUEUED, "ixn-a:1", 1500);
    q.from_queue = "support";
    hist_ixn(h, 1500, 2, "ixn-a", &q);
    hist_link(h, 1600, HIST_SNAPSHOT_DONE, 2, "ixn-a");
    hist_agent_state v = {.tenant = "Resources", .agent_id = "1001", .logged_in = true};
    v.added = (1u << voice) | (1u << chat);
    v.ready = 1u << chat;
    v.holding = 1u << chat;
    v.available[chat] = 2;
    v.reasons[voice] = (proto_reason){.present = true, .code = 3, .description = "Lunch"};
    hist_agent(h, 2000, &v);
    proto_ixr_event a = step(PROTO_IXR_ACCEPTED, "ixn-a:1", 2500);
    hist_ixn(h, 2500, 2, "ixn-a", &a);
    hist_agent_state v2 = {.tenant = "Resources", .agent_id = "1002", .dnd = true};
    v2.reasons[chat] = (proto_reason){.present = true, .code = 4};
    hist_agent(h, 2600, &v2);
    hist_link(h, 3000, HIST_LINK_DOWN, 2, "ixn-a");
    assert_int_equal(hist_get_stats(h).pending, 7);
    assert_int_equal(hist_commit(h), 0);
    hist_stats st = hist_get_stats(h);
    assert_int_equal(st.rows_written, 7);
    assert_int_equal(st.transactions, 1);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.rows_failed, 0);
    hist_close(h);

    /* A reader whose table numbers media the other way round gets the same names. */
    cc_media_table other;
    cc_media_init(&other);
    int chat2 = cc_media_intern(&other, "chat", 4);
    assert_int_equal(chat2, 0);
    seen s;
    read_all(f, &other, 0, INT64_MAX, 1, &s);
    assert_int_equal(s.n, 7);
    int voice2 = cc_media_find(&other, "voice", 5);
    char want[1024];
    snprintf(want, sizeof want,
             "link 1000 1 2 ixn-a\n"
             "ixn 1500 2 ixn-a 1 ixn-a:1 Resources chat sales support - %d 7 1000 1500 1500 0\n"
             "link 1600 2 2 ixn-a\n"
             "agent 2000 Resources 1001 1 0 %llx %llx %llx a%d=2 r%d=3/Lunch\n"
             "ixn 2500 2 ixn-a 3 ixn-a:1 Resources chat sales - 1001 2 7 1000 1500 2500 0\n"
             "agent 2600 Resources 1002 0 1 0 0 0 r%d=4/-\n"
             "link 3000 3 2 ixn-a\n",
             (int)CC_IXN_QUEUED, (unsigned long long)((1u << voice2) | (1u << chat2)),
             (unsigned long long)(1u << chat2), (unsigned long long)(1u << chat2), chat2, voice2,
             chat2);
    cc_buf_putc(&s.lines, '\0');
    assert_string_equal(s.lines.data, want);
    cc_buf_free(&s.lines);
}

static void test_range_and_order(void **state)
{
    fixture *f = *state;
    hist *h;
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    for (int i = 0; i < 100; i++)
        hist_link(h, 1000 + i * 10, HIST_LINK_UP, 0, "a");
    /* A clock set back: the row keeps the time already reached. */
    hist_link(h, 5, HIST_LINK_DOWN, 0, "a");
    assert_int_equal(hist_commit(h), 0);
    hist_close(h);
    seen s;
    /* [1100, 1200): rows 10..19 exactly, the boundaries included and excluded. */
    read_all(f, &f->media, 1100, 1200, 3, &s);
    assert_int_equal(s.n, 10);
    assert_non_null(strstr(s.lines.data, "link 1100 "));
    assert_null(strstr(s.lines.data, "link 1200 "));
    cc_buf_free(&s.lines);
    read_all(f, &f->media, 1990, 1991, 5, &s);
    assert_int_equal(s.n, 2);
    cc_buf_putc(&s.lines, '\0');
    assert_string_equal(s.lines.data, "link 1990 1 0 a\nlink 1990 3 0 a\n");
    cc_buf_free(&s.lines);
    read_all(f, &f->media, 5000, 6000, 5, &s);
    assert_int_equal(s.n, 0);
    cc_buf_free(&s.lines);
    /* The history reopened goes on from the time it reached. */
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    hist_link(h, 10, HIST_LINK_UP, 0, "a");
    hist_close(h);
    read_all(f, &f->media, 1990, 1991, 5, &s);
    assert_int_equal(s.n, 3);
    cc_buf_free(&s.lines);
}

static void test_uncommitted_unseen_and_one_writer(void **state)
{
    fixture *f = *state;
    hist *h, *h2;
    cc_buf err;
    cc_buf_init(&err);
    hist_cursor *c;
    assert_int_equal(hist_cursor_open(f->dir, &f->media, 0, INT64_MAX, &c, NULL), CC_E_NOT_FOUND);
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    assert_int_equal(hist_open(f->dir, &f->media, &h2, &err), CC_E_IO);
    assert_null(h2);
    assert_non_null(strstr(err.data, "another statserver"));
    hist_link(h, 1000, HIST_LINK_UP, 0, "a");
    assert_int_equal(hist_commit(h), 0);
    hist_link(h, 2000, HIST_LINK_DOWN, 0, "a");
    seen s;
    read_all(f, &f->media, 0, INT64_MAX, 10, &s);
    assert_int_equal(s.n, 1);
    cc_buf_free(&s.lines);
    /* A reader open during commits keeps its snapshot and does not block the writer. */
    assert_int_equal(hist_cursor_open(f->dir, &f->media, 0, INT64_MAX, &c, NULL), 0);
    assert_int_equal(hist_commit(h), 0);
    cc_buf_init(&s.lines);
    s.n = 0;
    hist_sink sink = {on_ixn, on_agent, on_link, &s};
    assert_int_equal(hist_cursor_next(c, &sink, 10, INT64_MAX), 1);
    assert_int_equal(hist_cursor_next(c, &sink, 10, INT64_MAX), 0);
    hist_cursor_close(c);
    cc_buf_free(&s.lines);
    hist_close(h);
    read_all(f, &f->media, 0, INT64_MAX, 10, &s);
    assert_int_equal(s.n, 2);
    cc_buf_free(&s.lines);
    cc_buf_free(&err);
}

static void test_purge_bounded(void **state)
{
    fixture *f = *state;
    hist *h;
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    int chat = cc_media_intern(&f->media, "chat", 4);
    for (int i = 0; i < 50; i++) {
        hist_agent_state v = {.tenant = "T", .agent_id = "1", .logged_in = true};
        v.added = 1u << chat;
        hist_agent(h, 1000 + i, &v);
    }
    /* Pending rows are committed before the purge. */
    assert_int_equal(hist_purge(h, 1030, 0), 0);
    assert_int_equal(hist_purge(h, 1030, 20), 20);
    assert_int_equal(hist_purge(h, 1030, 20), 10);
    assert_int_equal(hist_purge(h, 1030, 20), 0);
    assert_int_equal(hist_get_stats(h).rows_purged, 30);
    hist_close(h);
    seen s;
    read_all(f, &f->media, 0, INT64_MAX, 7, &s);
    assert_int_equal(s.n, 20);
    assert_non_null(strstr(s.lines.data, "agent 1030 "));
    assert_null(strstr(s.lines.data, "agent 1029 "));
    cc_buf_free(&s.lines);
    /* The media rows of purged agents went with them. */
    sqlite3 *db;
    char path[128];
    snprintf(path, sizeof path, "%s/history.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM agent_media", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 20);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The size of a file, 0 when it is not there. */
static long long file_size(const char *dir, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* The WAL is copied back into the database file by the history's checkpoint thread while
 * the writer stays open (SQLite's automatic checkpoint on the writer's commits is off): a
 * commit that finds the WAL over 1,000 pages wakes the thread. The thread runs at nice 10,
 * so on a busy machine it may come late: the test waits for it, bounded, and asserts
 * nothing about how big the WAL got meanwhile. */
static void test_checkpoint_off_the_writer(void **state)
{
    fixture *f = *state;
    hist *h;
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    int chat = cc_media_intern(&f->media, "chat", 4);
    long long db_at_start = file_size(f->dir, "history.db");
    int64_t at = 1000;
    /* Some 20 MB of rows in commits of 1,000, as the statserver commits every 250 ms. */
    for (int batch = 0; batch < 200; batch++) {
        for (int i = 0; i < 1000; i++) {
            hist_agent_state v = {
                .tenant = "Resources", .agent_id = "agent-with-a-long-id", .logged_in = true};
            v.added = 1u << chat;
            v.available[chat] = 4;
            hist_agent(h, at++, &v);
        }
        assert_int_equal(hist_commit(h), 0);
    }
    /* Wait (bounded) for the checkpoint the commits asked for. */
    for (int i = 0; i < 2000 && hist_get_stats(h).checkpoints == 0; i++)
        usleep(10000);
    hist_stats st = hist_get_stats(h);
    assert_true(st.checkpoints >= 1);
    assert_int_equal(st.checkpoint_failures, 0);
    assert_int_equal(st.rows_written, 200000);
    /* Rows reached the database file with the writer still open: without a checkpoint
     * they would all be in the WAL, and the file would keep its first pages. */
    assert_true(file_size(f->dir, "history.db") > db_at_start + 4 * 1024 * 1024);
    hist_close(h);
    /* The last close checkpoints and removes the WAL, as before. */
    assert_int_equal(file_size(f->dir, "history.db-wal"), 0);
    seen s;
    read_all(f, &f->media, 0, INT64_MAX, 5000, &s);
    assert_int_equal(s.n, 200000);
    cc_buf_free(&s.lines);
}

static void test_damaged_rows_skipped(void **state)
{
    fixture *f = *state;
    hist *h;
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    proto_ixr_event q = step(PROTO_IXR_QUEUED, "x:1", 100);
    hist_ixn(h, 100, 0, "x", &q);
    hist_ixn(h, 101, 0, "x", &q);
    hist_link(h, 102, HIST_LINK_UP, 0, "x");
    /* Refused before it reaches the file: a step without its interaction id. */
    q.interaction_id = NULL;
    hist_ixn(h, 103, 0, "x", &q);
    assert_int_equal(hist_get_stats(h).rows_failed, 1);
    hist_close(h);
    sqlite3 *db;
    char path[128];
    snprintf(path, sizeof path, "%s/history.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE events SET cause = 99 WHERE at = 100;"
                                  "UPDATE events SET kind = 77 WHERE at = 102;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    seen s;
    cc_buf_init(&s.lines);
    s.n = 0;
    hist_cursor *c;
    assert_int_equal(hist_cursor_open(f->dir, &f->media, 0, INT64_MAX, &c, NULL), 0);
    hist_sink sink = {on_ixn, on_agent, on_link, &s};
    assert_int_equal(hist_cursor_next(c, &sink, 10, INT64_MAX), 3);
    assert_int_equal(hist_cursor_skipped(c), 2);
    hist_cursor_close(c);
    assert_int_equal(s.n, 1);
    cc_buf_free(&s.lines);
}

/* A cursor stops before the first row at or after until, and goes on from there. */
static void test_until(void **state)
{
    fixture *f = *state;
    hist *h;
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    int chat = cc_media_intern(&f->media, "chat", 4);
    for (int i = 0; i < 10; i++) {
        hist_agent_state v = {.tenant = "T", .agent_id = "1", .logged_in = true};
        v.added = 1u << chat;
        hist_agent(h, 1000 + i * 100, &v);
    }
    hist_close(h);
    seen s;
    cc_buf_init(&s.lines);
    s.n = 0;
    hist_sink sink = {on_ixn, on_agent, on_link, &s};
    hist_cursor *c;
    assert_int_equal(hist_cursor_open(f->dir, &f->media, 0, INT64_MAX, &c, NULL), 0);
    assert_int_equal(hist_cursor_next(c, &sink, 100, 1000), 0);
    assert_int_equal(hist_cursor_next(c, &sink, 100, 1001), 1);
    assert_int_equal(hist_cursor_next(c, &sink, 2, 1500), 2);
    assert_int_equal(hist_cursor_next(c, &sink, 100, 1500), 2);
    assert_int_equal(hist_cursor_next(c, &sink, 100, 1500), 0);
    assert_false(hist_cursor_done(c));
    assert_int_equal(hist_cursor_next(c, &sink, 100, INT64_MAX), 5);
    assert_int_equal(hist_cursor_next(c, &sink, 100, INT64_MAX), 0);
    assert_true(hist_cursor_done(c));
    hist_cursor_close(c);
    assert_int_equal(s.n, 10);
    cc_buf_free(&s.lines);
}

/* Another process holding the write lock: the rows of that time are lost and counted,
 * nothing waits long, and writing works again once the lock is gone. */
static void test_write_failure_counted(void **state)
{
    fixture *f = *state;
    hist *h;
    assert_int_equal(hist_open(f->dir, &f->media, &h, NULL), 0);
    hist_link(h, 1000, HIST_LINK_UP, 0, "a");
    assert_int_equal(hist_commit(h), 0);
    sqlite3 *db;
    char path[128];
    snprintf(path, sizeof path, "%s/history.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100; i++)
        hist_link(h, 2000 + i, HIST_LINK_DOWN, 0, "a");
    assert_int_equal(hist_commit(h), CC_E_UNAVAILABLE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms < 500);
    hist_stats st = hist_get_stats(h);
    assert_int_equal(st.rows_failed, 100);
    assert_int_equal(st.commit_failures, 1);
    assert_int_equal(st.rows_written, 1);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    hist_link(h, 3000, HIST_LINK_DOWN, 0, "a");
    assert_int_equal(hist_commit(h), 0);
    assert_int_equal(hist_get_stats(h).rows_written, 2);
    hist_close(h);
    seen s;
    read_all(f, &f->media, 0, INT64_MAX, 10, &s);
    assert_int_equal(s.n, 2);
    cc_buf_free(&s.lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_unseen_and_one_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_rows_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_off_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_until, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failure_counted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

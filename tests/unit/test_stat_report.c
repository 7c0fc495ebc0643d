/* Unit tests of src/stat/stat_report: a history scripted to the second (submits, an
 * abandon, accepts after known waits, a reject, ends by the agent, the agent's states)
 * reported in 300 s intervals with hand-computed numbers of every column; a visit that
 * starts before the report's from and is answered inside it (the day replayed before);
 * an interval still running; reads in small pieces giving the same text; times and
 * queries at their bounds. */
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
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/err.h"
#include "stat/stat_report.h"
#include "store/hist.h"

/* 2026-12-06T00:00:00Z */
#define BASE ((int64_t)1796515200 * 1000)
#define S(x) (BASE + (int64_t)(x)*1000)

static char dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void step(hist *h, int64_t at, enum proto_ixr_cause cause, const char *id, int64_t queued_at,
                 enum proto_ixr_reason reason)
{
    static const enum cc_ixn_state after[] = {
        [PROTO_IXR_QUEUED] = CC_IXN_QUEUED,     [PROTO_IXR_INVITED] = CC_IXN_INVITED,
        [PROTO_IXR_ACCEPTED] = CC_IXN_HANDLING, [PROTO_IXR_REJECTED] = CC_IXN_QUEUED,
        [PROTO_IXR_ENDED] = CC_IXN_ENDED,
    };
    bool agent = cause != PROTO_IXR_QUEUED;
    proto_ixr_event e = {.cause = cause,
                         .interaction_id = id,
                         .tenant = "Resources",
                         .media = "chat",
                         .queue = "chat-in",
                         .agent_id = agent ? "1001" : NULL,
                         .state = after[cause],
                         .submitted_at = queued_at,
                         .queued_at = queued_at,
                         .at = at,
                         .reason = reason};
    hist_ixn(h, at, 0, "ixn-a", &e);
}

static void agent(hist *h, cc_media_table *media, int64_t at, bool holding)
{
    int chat = cc_media_intern(media, "chat", 4);
    hist_agent_state v = {.tenant = "Resources", .agent_id = "1001", .logged_in = true};
    v.added = v.ready = (cc_media_mask)1 << chat;
    v.holding = holding ? v.added : 0;
    v.available[chat] = holding ? 0 : 1;
    hist_agent(h, at, &v);
}

/* The scripted history (times in seconds from BASE):
 *   i1 queued 10, invited 25, accepted 30 (wait 20), ended by the agent 90 (handle 60)
 *   i2 queued 20, stopped 50 (abandoned after 30)
 *   i4 queued 200, invited 340, accepted 350 (wait 150), ended 360 (handle 10)
 *   i3 queued 400, invited 405, rejected 406, invited 410, accepted 415 (wait 15),
 *      ended 500 (handle 85)
 * The agent logs in at 1, ready on chat throughout, holding 25..90, 340..360, 405..406
 * and 410..500. */
static int setup(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    snprintf(dir, sizeof dir, "/tmp/test_stat_report_XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    cc_media_table media;
    cc_media_init(&media);
    hist *h;
    if (hist_open(dir, &media, &h, NULL) != 0)
        return -1;
    hist_link(h, S(0), HIST_LINK_UP, 0, "ixn-a");
    hist_link(h, S(0), HIST_SNAPSHOT_DONE, 0, "ixn-a");
    agent(h, &media, S(1), false);
    step(h, S(10), PROTO_IXR_QUEUED, "ixn-a:1", S(10), PROTO_IXR_REASON_NONE);
    step(h, S(20), PROTO_IXR_QUEUED, "ixn-a:2", S(20), PROTO_IXR_REASON_NONE);
    step(h, S(25), PROTO_IXR_INVITED, "ixn-a:1", S(10), PROTO_IXR_REASON_NONE);
    agent(h, &media, S(25), true);
    step(h, S(30), PROTO_IXR_ACCEPTED, "ixn-a:1", S(10), PROTO_IXR_REASON_NONE);
    step(h, S(50), PROTO_IXR_ENDED, "ixn-a:2", S(20), PROTO_IXR_REASON_STOPPED);
    step(h, S(90), PROTO_IXR_ENDED, "ixn-a:1", S(10), PROTO_IXR_REASON_DONE);
    agent(h, &media, S(90), false);
    step(h, S(200), PROTO_IXR_QUEUED, "ixn-a:4", S(200), PROTO_IXR_REASON_NONE);
    step(h, S(340), PROTO_IXR_INVITED, "ixn-a:4", S(200), PROTO_IXR_REASON_NONE);
    agent(h, &media, S(340), true);
    step(h, S(350), PROTO_IXR_ACCEPTED, "ixn-a:4", S(200), PROTO_IXR_REASON_NONE);
    step(h, S(360), PROTO_IXR_ENDED, "ixn-a:4", S(200), PROTO_IXR_REASON_DONE);
    agent(h, &media, S(360), false);
    step(h, S(400), PROTO_IXR_QUEUED, "ixn-a:3", S(400), PROTO_IXR_REASON_NONE);
    step(h, S(405), PROTO_IXR_INVITED, "ixn-a:3", S(400), PROTO_IXR_REASON_NONE);
    agent(h, &media, S(405), true);
    step(h, S(406), PROTO_IXR_REJECTED, "ixn-a:3", S(400), PROTO_IXR_REASON_NONE);
    agent(h, &media, S(406), false);
    step(h, S(410), PROTO_IXR_INVITED, "ixn-a:3", S(400), PROTO_IXR_REASON_NONE);
    agent(h, &media, S(410), true);
    step(h, S(415), PROTO_IXR_ACCEPTED, "ixn-a:3", S(400), PROTO_IXR_REASON_NONE);
    step(h, S(500), PROTO_IXR_ENDED, "ixn-a:3", S(400), PROTO_IXR_REASON_DONE);
    agent(h, &media, S(500), false);
    hist_close(h);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* The whole report, read in calls; the text is NUL-terminated. */
static char *report(enum stat_report_kind kind, int64_t from, int64_t to, int64_t interval,
                    int64_t now, int *calls)
{
    stat_report_req req = {.kind = kind, .from = from, .to = to, .interval_s = interval};
    stat_report *r = stat_report_new(dir, &req, 20, now);
    cc_buf out;
    cc_buf_init(&out);
    int rc, n = 0;
    while ((rc = stat_report_next(r, &out)) == 1)
        n++;
    assert_int_equal(rc, 0);
    stat_report_free(r);
    cc_buf_putc(&out, '\0');
    if (calls)
        *calls = n;
    return out.data;
}

static void test_queues(void **state)
{
    (void)state;
    char *csv = report(STAT_REPORT_QUEUES, S(0), S(600), 300, S(100000), NULL);
    assert_string_equal(
        csv, "intervalStart,intervalEnd,server,tenant,id,Entered,Answered,Abandoned,"
             "ServiceLevel,AverageSpeedOfAnswer\r\n"
             "2026-12-06T00:00:00Z,2026-12-06T00:05:00Z,ixn-a,Resources,chat-in,3,1,1,50.0,"
             "20.0\r\n"
             "2026-12-06T00:05:00Z,2026-12-06T00:10:00Z,ixn-a,Resources,chat-in,1,2,0,50.0,"
             "82.5\r\n");
    free(csv);
    /* From 00:05 only: i4, queued before, is known from the day replayed before it. */
    csv = report(STAT_REPORT_QUEUES, S(300), S(600), 300, S(100000), NULL);
    assert_non_null(strstr(csv, "00:10:00Z,ixn-a,Resources,chat-in,1,2,0,50.0,82.5\r\n"));
    free(csv);
    /* An interval is cut at to; an interval still running ends at now; none after now. */
    csv = report(STAT_REPORT_QUEUES, S(0), S(60), 300, S(100000), NULL);
    assert_non_null(strstr(csv, "\r\n2026-12-06T00:00:00Z,2026-12-06T00:01:00Z,ixn-a,Resources,"
                                "chat-in,2,1,1,50.0,20.0\r\n"));
    free(csv);
    csv = report(STAT_REPORT_QUEUES, S(0), S(6000), 300, S(45), NULL);
    assert_non_null(strstr(csv, "\r\n2026-12-06T00:00:00Z,2026-12-06T00:00:45Z,ixn-a,Resources,"
                                "chat-in,2,1,0,100.0,20.0\r\n"));
    assert_null(strstr(csv, "00:05:00Z"));
    free(csv);
}

static void test_agents(void **state)
{
    (void)state;
    char *csv = report(STAT_REPORT_AGENTS, S(0), S(600), 300, S(100000), NULL);
    assert_string_equal(
        csv, "intervalStart,intervalEnd,tenant,id,media,LoginTime,ReadyTime,NotReadyTime,"
             "BusyTime,Offered,Accepted,Rejected,TimedOut,Handled,AverageHandleTime\r\n"
             "2026-12-06T00:00:00Z,2026-12-06T00:05:00Z,Resources,1001,chat,299.0,299.0,0.0,"
             "65.0,1,1,0,0,1,60.0\r\n"
             "2026-12-06T00:05:00Z,2026-12-06T00:10:00Z,Resources,1001,chat,300.0,300.0,0.0,"
             "111.0,3,2,1,0,2,47.5\r\n");
    free(csv);
}

static void test_pieces_and_quiet_span(void **state)
{
    (void)state;
    /* A year of 300 s intervals, almost all of them before anything happened: quiet
     * intervals cost no call of their own, and the text is the same as a short report's
     * rows. */
    int calls = 0;
    char *csv = report(STAT_REPORT_QUEUES, S(0) - (int64_t)300 * 86400 * 1000, S(600), 300,
                       S(100000), &calls);
    assert_true(calls < 200);
    char *want = report(STAT_REPORT_QUEUES, S(0), S(600), 300, S(100000), NULL);
    assert_string_equal(csv, want);
    free(csv);
    free(want);
    /* No history at all: the header only. */
    stat_report_req req = {
        .kind = STAT_REPORT_AGENTS, .from = S(0), .to = S(600), .interval_s = 300};
    stat_report *r = stat_report_new("/nonexistent/history", &req, 20, S(100000));
    cc_buf out;
    cc_buf_init(&out);
    while (stat_report_next(r, &out) == 1)
        ;
    stat_report_free(r);
    cc_buf_putc(&out, '\0');
    assert_non_null(strstr(out.data, "AverageHandleTime\r\n"));
    assert_null(strstr(out.data, "Resources"));
    cc_buf_free(&out);
}

static void test_times(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(stat_report_parse_time("0", 1, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(stat_report_parse_time("1796515200999", 13, &t), 0);
    assert_int_equal(t, BASE);
    assert_int_equal(stat_report_parse_time("999999999999999", 15, &t), 0);
    assert_int_equal(stat_report_parse_time("9999999999999999", 16, &t), CC_E_INVALID_ATTRIBUTE);
    const char *ok[][2] = {
        {"2026-12-06T00:00:00Z", "0"},     {"2026-12-06T00:00Z", "0"},
        {"2026-12-06T00:00:00.999Z", "0"}, {"2026-12-06T01:00:00+01:00", "0"},
        {"2026-12-05T23:00:00-0100", "0"}, {"2026-12-06T00:00:00", "0"},
        {"2026-12-06T00:05:00Z", "300"},   {"2024-02-29T00:00:00Z", "-"},
        {"1970-01-01T00:00:00Z", "-"},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        assert_int_equal(stat_report_parse_time(ok[k][0], strlen(ok[k][0]), &t), 0);
        if (ok[k][1][0] != '-')
            assert_int_equal(t, S(atoi(ok[k][1])));
    }
    const char *bad[] = {"",
                         "2026-02-29T00:00:00Z",
                         "2026-13-01T00:00:00Z",
                         "2026-12-06T24:00:00Z",
                         "2026-12-06T00:60:00Z",
                         "2026-12-06 00:00:00Z",
                         "2026-12-06T00:00:00Q",
                         "2026-12-06T00:00:00+1",
                         "2026-12-06T00:00:00.Z",
                         "1969-12-31T23:59:59Z",
                         "1970-01-01T00:00:00+00:01",
                         "-5",
                         "12a",
                         "2026-12-06T00:00:00ZZ"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(stat_report_parse_time(bad[k], strlen(bad[k]), &t),
                         CC_E_INVALID_ATTRIBUTE);
}

static void test_queries(void **state)
{
    (void)state;
    stat_report_req r;
    const char *why = NULL;
    assert_int_equal(stat_report_parse_query("from=0&to=1000&interval=300", &r, &why), 0);
    assert_int_equal(r.interval_s, 300);
    assert_int_equal(stat_report_parse_query("interval=86400&to=1000&from=0", &r, &why), 0);
    assert_int_equal(
        stat_report_parse_query("from=2026-12-06T01:00:00%2B01:00&to=2026-12-06T00%3A05Z&"
                                "interval=300",
                                &r, &why),
        0);
    assert_int_equal(r.from, BASE);
    assert_int_equal(r.to, S(300));
    /* A year and a day at most. */
    char q[128];
    snprintf(q, sizeof q, "from=0&to=%lld&interval=300", 366LL * 86400 * 1000);
    assert_int_equal(stat_report_parse_query(q, &r, &why), 0);
    snprintf(q, sizeof q, "from=0&to=%lld&interval=300", 366LL * 86400 * 1000 + 1000);
    assert_int_equal(stat_report_parse_query(q, &r, &why), CC_E_INVALID_ATTRIBUTE);
    const char *bad[][2] = {
        {"from=0&to=1000&interval=299", "interval"},
        {"from=0&to=1000&interval=301", "interval"},
        {"from=0&to=1000&interval=86700", "interval"},
        {"from=0&to=1000&interval=0", "interval"},
        {"from=0&to=1000&interval=", "interval"},
        {"from=0&to=1000", "interval"},
        {"to=1000&interval=300", "from"},
        {"from=0&interval=300", "to"},
        {"from=0&to=0&interval=300", "after"},
        {"from=2000&to=1000&interval=300", "after"},
        {"from=0&from=0&to=1000&interval=300", "from"},
        {"from=0&to=1000&interval=300&x=1", "unknown"},
        {"from=%zz&to=1000&interval=300", "from"},
        {"from&to=1000&interval=300", "without"},
        {"", "from"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        why = NULL;
        int rc = stat_report_parse_query(bad[k][0], &r, &why);
        if (rc != CC_E_INVALID_ATTRIBUTE || !why || !strstr(why, bad[k][1]))
            fail_msg("%s: rc %d why %s", bad[k][0], rc, why ? why : "(none)");
    }
    enum stat_report_kind kind;
    assert_int_equal(stat_report_kind_of("/reports/queues.csv", &kind), 0);
    assert_int_equal(kind, STAT_REPORT_QUEUES);
    assert_int_equal(stat_report_kind_of("/reports/agents.csv", &kind), 0);
    assert_int_equal(kind, STAT_REPORT_AGENTS);
    assert_int_equal(stat_report_kind_of("/reports/queues.csv/", &kind), CC_E_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queues),
        cmocka_unit_test(test_agents),
        cmocka_unit_test(test_pieces_and_quiet_span),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_queries),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* Unit tests of the statistics engine (src/stat/stat_stats.c): a scripted day of
 * interaction steps and agent states with known times, checked against values computed
 * by hand (docs/statistics.md, "The statistics engine"); windows that expire, a day that
 * ends at midnight, an interaction server lost and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proto/statistic.h"
#include "stat/stat_config.h"
#include "stat/stat_stats.h"

/* 2026-12-07 00:00:00 UTC, and 10:00 that day. */
#define MIDNIGHT 1796601600000LL
#define T (MIDNIGHT + 10LL * 3600 * 1000)
#define S(x) ((int64_t)((x)*1000 + 0.5))

typedef struct fix {
    cc_media_table media;
    stat_stats *s;
    int chat;
} fix;

static int setup(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();
    fix *f = calloc(1, sizeof *f);
    cc_media_init(&f->media);
    f->chat = cc_media_intern(&f->media, "chat", 4);
    f->s = stat_stats_new(&(stat_stats_config){.media = &f->media, .threshold_s = 20});
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix *f = *state;
    stat_stats_free(f->s);
    free(f);
    return 0;
}

/* One step of link 0 ("ixn-a"), tenant Resources, media chat. */
static void step(fix *f, enum proto_ixr_cause cause, const char *id, const char *queue,
                 const char *agent, int64_t queued_at, int64_t at, enum proto_ixr_reason reason)
{
    static const enum cc_ixn_state after[] = {
        [PROTO_IXR_QUEUED] = CC_IXN_QUEUED,     [PROTO_IXR_INVITED] = CC_IXN_INVITED,
        [PROTO_IXR_ACCEPTED] = CC_IXN_HANDLING, [PROTO_IXR_REJECTED] = CC_IXN_QUEUED,
        [PROTO_IXR_REVOKED] = CC_IXN_QUEUED,    [PROTO_IXR_AFTER_WORK] = CC_IXN_AFTER_WORK,
        [PROTO_IXR_ENDED] = CC_IXN_ENDED,
    };
    proto_ixr_event e = {.cause = cause,
                         .interaction_id = id,
                         .tenant = "Resources",
                         .media = "chat",
                         .queue = queue,
                         .agent_id = agent,
                         .state = after[cause],
                         .submitted_at = queued_at,
                         .queued_at = queued_at,
                         .at = at,
                         .reason = reason};
    stat_stats_ixn(f->s, 0, "ixn-a", &e, at);
}

/* A Snapshot of link 0 in state st, received at now. */
static void snap(fix *f, const char *id, const char *queue, enum cc_ixn_state st, int64_t queued_at,
                 int64_t at, int64_t now)
{
    proto_ixr_event e = {.cause = PROTO_IXR_SNAPSHOT,
                         .interaction_id = id,
                         .tenant = "Resources",
                         .media = "chat",
                         .queue = queue,
                         .state = st,
                         .submitted_at = queued_at,
                         .queued_at = queued_at,
                         .at = at};
    stat_stats_ixn(f->s, 0, "ixn-a", &e, now);
}

static stat_stats_inst *open_q(fix *f, const char *queue, enum proto_sts_stat st, int64_t sliding,
                               int64_t threshold, int64_t now)
{
    proto_sts_open d = {.type = PROTO_STS_QUEUE,
                        .server = "ixn-a",
                        .tenant = "Resources",
                        .id = queue,
                        .statistic = st,
                        .sliding_s = sliding,
                        .threshold_s = threshold};
    stat_stats_inst *i = stat_stats_open(f->s, &d, -1, now);
    assert_non_null(i);
    return i;
}

static stat_stats_inst *open_a(fix *f, const char *agent, enum proto_sts_stat st, int64_t sliding,
                               int media, bool has_reason, int64_t reason, int64_t now)
{
    proto_sts_open d = {.type = PROTO_STS_AGENT,
                        .tenant = "Resources",
                        .id = agent,
                        .statistic = st,
                        .sliding_s = sliding,
                        .threshold_s = -1,
                        .media = media >= 0 ? "chat" : NULL,
                        .has_reason = has_reason,
                        .reason = reason};
    stat_stats_inst *i = stat_stats_open(f->s, &d, media, now);
    assert_non_null(i);
    return i;
}

static stat_stats_inst *open_t(fix *f, enum proto_sts_stat st, int media, int64_t now)
{
    proto_sts_open d = {.type = PROTO_STS_TENANT,
                        .tenant = "Resources",
                        .statistic = st,
                        .threshold_s = -1,
                        .media = "chat"};
    stat_stats_inst *i = stat_stats_open(f->s, &d, media, now);
    assert_non_null(i);
    return i;
}

/* The value as INT, MILLI (thousandths) or -1 for null. */
static int64_t val(fix *f, stat_stats_inst *i, int64_t now)
{
    proto_sts_value v = stat_stats_value(f->s, i, now);
    if (v.type == PROTO_STS_NULL)
        return -1;
    return v.v;
}

/* The scripted morning: see docs/statistics.md for the same numbers. */
static void script(fix *f)
{
    step(f, PROTO_IXR_QUEUED, "i1", "chat-in", NULL, T, T, 0);
    step(f, PROTO_IXR_QUEUED, "i2", "chat-in", NULL, T + S(1), T + S(1), 0);
    step(f, PROTO_IXR_INVITED, "i2", "chat-in", "1002", T + S(1), T + S(2), 0);
    step(f, PROTO_IXR_QUEUED, "i3", "chat-in", NULL, T + S(2), T + S(2), 0);
    step(f, PROTO_IXR_QUEUED, "i4", "chat-in", NULL, T + S(3), T + S(3), 0);
    step(f, PROTO_IXR_QUEUED, "i5", "chat-in", NULL, T + S(4), T + S(4), 0);
    step(f, PROTO_IXR_INVITED, "i1", "chat-in", "1001", T, T + S(5), 0);
    step(f, PROTO_IXR_REJECTED, "i1", "chat-in", "1001", T, T + S(7), 0);
    step(f, PROTO_IXR_INVITED, "i1", "chat-in", "1001", T, T + S(8), 0);
    step(f, PROTO_IXR_ENDED, "i3", "chat-in", NULL, T + S(2), T + S(10), PROTO_IXR_REASON_STOPPED);
    step(f, PROTO_IXR_ACCEPTED, "i1", "chat-in", "1001", T, T + S(12), 0);
    step(f, PROTO_IXR_ACCEPTED, "i2", "chat-in", "1002", T + S(1), T + S(31), 0);
    step(f, PROTO_IXR_ENDED, "i4", "chat-in", NULL, T + S(3), T + S(40), PROTO_IXR_REASON_STOPPED);
    /* i1 is transferred to chat-out: a new visit there. */
    step(f, PROTO_IXR_QUEUED, "i1", "chat-out", "1001", T + S(40), T + S(40), 0);
}

static void test_queue_day(void **state)
{
    fix *f = *state;
    /* Opened before anything happened: the objects do not exist yet. */
    stat_stats_inst *entered = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T - S(60));
    stat_stats_inst *sl = open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, -1, T - S(60));
    stat_stats_inst *asa = open_q(f, "chat-in", PROTO_STS_Q_ASA, 0, -1, T - S(60));
    assert_int_equal(val(f, entered, T - S(60)), 0);
    assert_int_equal(val(f, sl, T - S(60)), -1);
    assert_int_equal(val(f, asa, T - S(60)), -1);
    script(f);
    int64_t now = T + S(45);
    assert_int_equal(val(f, entered, now), 5);
    /* Opened after the events: the day's records are summed at the open. */
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ANSWERED, 0, -1, now), now), 2);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ABANDONED, 0, -1, now), now), 2);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_WAITING, 0, -1, now), now), 1);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_OLDEST_WAIT, 0, -1, now), now), S(41));
    /* Answered within 20 s: i1 (12 s); divisor: i1, i2 (30 s), i4 abandoned after 37 s. */
    assert_int_equal(val(f, sl, now), 33333);
    assert_int_equal(val(f, asa, now), S(21));
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, 30, now), now),
                     66667);
    /* Nobody available: (1 waiting + 1) x 900 / 2 answered in the last 900 s. */
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_EWT, 0, -1, now), now), S(900));
    stat_stats_inst *out_wait = open_q(f, "chat-out", PROTO_STS_Q_OLDEST_WAIT, 0, -1, now);
    assert_int_equal(val(f, out_wait, now), S(5));
    step(f, PROTO_IXR_ENDED, "i1", "chat-out", "1001", T + S(40), T + S(50),
         PROTO_IXR_REASON_STOPPED);
    assert_int_equal(val(f, out_wait, T + S(51)), 0);
    assert_int_equal(
        val(f, open_q(f, "chat-out", PROTO_STS_Q_ABANDONED, 0, -1, T + S(51)), T + S(51)), 1);
    /* Equal definitions share one statistic. */
    assert_ptr_equal(open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, 20, now), sl);
}

/* stat_stats_each_queue's visitor: "server/tenant/id/media;" appended to ctx. */
static void list_queue(void *ctx, const char *server, const char *tenant, const char *id, int media)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s/%s/%s/%d;", server, tenant, id, media);
}

/* The queue list the wallboard is given: queues with something in them or recorded, not
 * those only named by a statistic. */
static void test_each_queue(void **state)
{
    fix *f = *state;
    char out[256] = "";
    stat_stats_inst *ghost = open_q(f, "nobody", PROTO_STS_Q_WAITING, 0, -1, T);
    assert_int_equal(stat_stats_each_queue(f->s, list_queue, out), 0);
    assert_string_equal(out, "");
    step(f, PROTO_IXR_QUEUED, "i1", "chat-in", NULL, T, T, 0);
    assert_int_equal(stat_stats_each_queue(f->s, list_queue, out), 1);
    assert_string_equal(out, "ixn-a/Resources/chat-in/0;");
    stat_stats_close(f->s, ghost);
}

static void test_queue_sliding(void **state)
{
    fix *f = *state;
    stat_stats_inst *ans = open_q(f, "chat-in", PROTO_STS_Q_ANSWERED, 60, -1, T);
    stat_stats_inst *ab = open_q(f, "chat-in", PROTO_STS_Q_ABANDONED, 60, -1, T);
    stat_stats_inst *sl = open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 60, -1, T);
    stat_stats_inst *ent = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 60, -1, T);
    script(f);
    assert_int_equal(val(f, ent, T + S(45)), 5);
    /* (T+15, T+75]: i2 answered at T+31 (30 s), i4 abandoned at T+40 (37 s). */
    int64_t now = T + S(75);
    assert_int_equal(val(f, ent, now), 0);
    assert_int_equal(val(f, ans, now), 1);
    assert_int_equal(val(f, ab, now), 1);
    assert_int_equal(val(f, sl, now), 0);
    /* The boundary: an event exactly 60 s old has left the last 60 s. */
    assert_int_equal(val(f, ab, T + S(99.999)), 1);
    /* A statistic opened later sums the same window: i4 abandoned after 37 s > 10 s. */
    stat_stats_inst *late = open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 60, 10, T + S(99.999));
    assert_ptr_not_equal(late, sl);
    assert_int_equal(val(f, late, T + S(99.999)), 0);
    assert_int_equal(val(f, ab, T + S(100)), 0);
    assert_int_equal(val(f, late, T + S(100)), -1);
    assert_int_equal(val(f, ans, T + S(100)), 0);
    assert_int_equal(val(f, sl, T + S(100)), -1);
}

static void test_agent_counts(void **state)
{
    fix *f = *state;
    stat_stats_inst *off = open_a(f, "1001", PROTO_STS_A_OFFERED, 0, -1, false, 0, T);
    script(f);
    int64_t now = T + S(45);
    assert_int_equal(val(f, off, now), 2);
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_REJECTED, 0, -1, false, 0, now), now), 1);
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_ACCEPTED, 0, -1, false, 0, now), now), 1);
    assert_int_equal(val(f, open_a(f, "1002", PROTO_STS_A_OFFERED, 0, -1, false, 0, now), now), 1);
    stat_stats_inst *aht = open_a(f, "1002", PROTO_STS_A_AHT, 0, -1, false, 0, now);
    stat_stats_inst *handled = open_a(f, "1002", PROTO_STS_A_HANDLED, 0, -1, false, 0, now);
    assert_int_equal(val(f, aht, now), -1);
    step(f, PROTO_IXR_AFTER_WORK, "i2", "chat-in", "1002", T + S(1), T + S(60), 0);
    step(f, PROTO_IXR_ENDED, "i2", "chat-in", "1002", T + S(1), T + S(70), PROTO_IXR_REASON_DONE);
    /* Accepted at T+31, ended (after-work included) at T+70. */
    assert_int_equal(val(f, aht, T + S(71)), S(39));
    assert_int_equal(val(f, handled, T + S(71)), 1);
    /* A timeout counts for the agent and keeps the visit: answered once, later. */
    step(f, PROTO_IXR_INVITED, "i5", "chat-in", "1001", T + S(4), T + S(72), 0);
    step(f, PROTO_IXR_REVOKED, "i5", "chat-in", "1001", T + S(4), T + S(82),
         PROTO_IXR_REASON_TIMEOUT);
    assert_int_equal(
        val(f, open_a(f, "1001", PROTO_STS_A_TIMED_OUT, 0, -1, false, 0, T + S(83)), T + S(83)), 1);
    step(f, PROTO_IXR_INVITED, "i5", "chat-in", "1002", T + S(4), T + S(84), 0);
    step(f, PROTO_IXR_ACCEPTED, "i5", "chat-in", "1002", T + S(4), T + S(86), 0);
    stat_stats_inst *asa = open_q(f, "chat-in", PROTO_STS_Q_ASA, 0, -1, T + S(87));
    /* (12 + 30 + 82) / 3 */
    assert_int_equal(val(f, asa, T + S(87)), 41333);
}

/* One merged agent state of 1001 with chat. */
static void agent(fix *f, int64_t now, bool logged_in, bool ready, bool holding, uint32_t available,
                  int64_t reason, const char *desc)
{
    stat_agents_view v;
    memset(&v, 0, sizeof v);
    v.tenant = "Resources";
    v.agent_id = "1001";
    v.logged_in = logged_in;
    if (logged_in) {
        v.added = (cc_media_mask)1 << f->chat;
        v.ready = ready ? v.added : 0;
        v.holding = holding ? v.added : 0;
        v.available[f->chat] = available;
        if (reason)
            v.reasons[f->chat] = (proto_reason){true, reason, desc};
    }
    stat_stats_agent(f->s, &v, now);
}

static void agent_script(fix *f)
{
    agent(f, T, true, true, false, 1, 0, NULL);
    agent(f, T + S(10), true, false, false, 0, 3, "Lunch");
    agent(f, T + S(25), true, false, false, 0, 5, "Break");
    agent(f, T + S(30), true, true, false, 1, 0, NULL);
    agent(f, T + S(40), true, true, true, 0, 0, NULL);
    agent(f, T + S(50), true, true, false, 1, 0, NULL);
    agent(f, T + S(60), false, false, false, 0, 0, NULL);
}

static void test_agent_times(void **state)
{
    fix *f = *state;
    int c = f->chat;
    stat_stats_inst *st = open_a(f, "1001", PROTO_STS_A_STATE, 0, c, false, 0, T - S(1));
    proto_sts_value v = stat_stats_value(f->s, st, T - S(1));
    assert_int_equal(v.type, PROTO_STS_STATE);
    assert_int_equal(v.state, PROTO_STS_LOGGED_OUT);
    assert_int_equal(v.since, 0);
    stat_stats_inst *login = open_a(f, "1001", PROTO_STS_A_LOGIN_TIME, 0, -1, false, 0, T - S(1));
    stat_stats_inst *nr60 =
        open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 60, c, false, 0, T - S(1));
    stat_stats_inst *tready = open_t(f, PROTO_STS_T_READY, c, T - S(1));
    agent_script(f);
    int64_t now = T + S(70);
    assert_int_equal(val(f, login, now), S(60));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_READY_TIME, 0, c, false, 0, now), now),
                     S(40));
    assert_int_equal(
        val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, false, 0, now), now), S(20));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 3, now), now),
                     S(15));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 5, now), now),
                     S(5));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_BUSY_TIME, 0, -1, false, 0, now), now),
                     S(10));
    /* The last 60 s, [T+10, T+70]. */
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_LOGIN_TIME, 60, -1, false, 0, now), now),
                     S(50));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_READY_TIME, 60, c, false, 0, now), now),
                     S(30));
    assert_int_equal(val(f, nr60, now), S(20));
    /* [T+15, T+75]: 15 s not ready, 10 of them at lunch. */
    assert_int_equal(val(f, nr60, T + S(75)), S(15));
    assert_int_equal(
        val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 60, c, true, 3, T + S(75)), T + S(75)),
        S(10));
    assert_int_equal(val(f, nr60, T + S(200)), 0);
    v = stat_stats_value(f->s, st, now);
    assert_int_equal(v.state, PROTO_STS_LOGGED_OUT);
    assert_int_equal(v.since, T + S(60));
    assert_int_equal(val(f, tready, now), 0);
}

static void test_agent_state_values(void **state)
{
    fix *f = *state;
    int c = f->chat;
    stat_stats_inst *st = open_a(f, "1001", PROTO_STS_A_STATE, 0, c, false, 0, T);
    stat_stats_inst *tlog = open_t(f, PROTO_STS_T_LOGGED_IN, c, T);
    stat_stats_inst *tready = open_t(f, PROTO_STS_T_READY, c, T);
    stat_stats_inst *tav = open_t(f, PROTO_STS_T_AVAILABLE, c, T);
    agent(f, T, true, true, false, 1, 0, NULL);
    proto_sts_value v = stat_stats_value(f->s, st, T + S(5));
    assert_int_equal(v.state, PROTO_STS_READY);
    assert_int_equal(v.since, T);
    assert_int_equal(val(f, tlog, T + S(5)), 1);
    assert_int_equal(val(f, tready, T + S(5)), 1);
    assert_int_equal(val(f, tav, T + S(5)), 1);
    agent(f, T + S(10), true, false, false, 0, 3, "Lunch");
    v = stat_stats_value(f->s, st, T + S(15));
    assert_int_equal(v.state, PROTO_STS_NOT_READY);
    assert_int_equal(v.since, T + S(10));
    assert_true(v.has_reason);
    assert_int_equal(v.reason_code, 3);
    assert_string_equal(v.reason_desc, "Lunch");
    assert_int_equal(val(f, tready, T + S(15)), 0);
    assert_int_equal(val(f, tav, T + S(15)), 0);
    assert_int_equal(val(f, tlog, T + S(15)), 1);
    /* The same state again keeps since. */
    agent(f, T + S(20), true, false, false, 0, 3, "Lunch");
    assert_int_equal(stat_stats_value(f->s, st, T + S(21)).since, T + S(10));
    agent(f, T + S(30), true, true, true, 1, 0, NULL);
    assert_int_equal(stat_stats_value(f->s, st, T + S(31)).state, PROTO_STS_BUSY);
    agent(f, T + S(40), true, true, true, 0, 0, NULL);
    v = stat_stats_value(f->s, st, T + S(41));
    assert_int_equal(v.state, PROTO_STS_FULL);
    assert_false(v.has_reason);
    stat_agents_view dnd = {.tenant = "Resources",
                            .agent_id = "1001",
                            .logged_in = true,
                            .dnd = true,
                            .added = (cc_media_mask)1 << c};
    stat_stats_agent(f->s, &dnd, T + S(50));
    assert_int_equal(stat_stats_value(f->s, st, T + S(51)).state, PROTO_STS_DND);
    /* A change marks the statistics of the agent and of its tenant. */
    int n = 0;
    while (stat_stats_next_dirty(f->s))
        n++;
    assert_true(n >= 2);
    assert_null(stat_stats_next_dirty(f->s));
}

static void test_midnight(void **state)
{
    fix *f = *state;
    int64_t late = MIDNIGHT + S(86400 - 30);
    stat_stats_inst *day = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, late);
    stat_stats_inst *sl60 = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 60, -1, late);
    agent(f, late, true, true, false, 1, 0, NULL);
    step(f, PROTO_IXR_QUEUED, "n1", "chat-in", NULL, late, late, 0);
    step(f, PROTO_IXR_QUEUED, "n2", "chat-in", NULL, late + S(10), late + S(10), 0);
    stat_stats_inst *login = open_a(f, "1001", PROTO_STS_A_LOGIN_TIME, 0, -1, false, 0, late);
    int64_t next = MIDNIGHT + S(86400);
    assert_int_equal(val(f, day, next - 1), 2);
    assert_int_equal(val(f, login, next - 1), S(30) - 1);
    /* The new day starts empty; the sliding window still holds them. */
    assert_int_equal(val(f, day, next), 0);
    assert_int_equal(val(f, sl60, next + S(10)), 2);
    assert_int_equal(val(f, login, next + S(10)), S(10));
    /* The waiting ones still wait: 40 s for the oldest. */
    assert_int_equal(
        val(f, open_q(f, "chat-in", PROTO_STS_Q_OLDEST_WAIT, 0, -1, next + S(10)), next + S(10)),
        S(40));
    step(f, PROTO_IXR_QUEUED, "n3", "chat-in", NULL, next + S(20), next + S(20), 0);
    assert_int_equal(val(f, day, next + S(21)), 1);
}

static void test_timezone(void **state)
{
    fix *f = *state;
    /* In New York (UTC-5 in December) the day of T (10:00 UTC) began at 05:00 UTC. */
    setenv("TZ", "America/New_York", 1);
    tzset();
    stat_stats_free(f->s);
    f->s = stat_stats_new(&(stat_stats_config){.media = &f->media, .threshold_s = 20});
    stat_stats_inst *day = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T);
    step(f, PROTO_IXR_QUEUED, "z1", "chat-in", NULL, MIDNIGHT + S(4 * 3600 + 3599),
         MIDNIGHT + S(4 * 3600 + 3599), 0);
    step(f, PROTO_IXR_QUEUED, "z2", "chat-in", NULL, MIDNIGHT + S(5 * 3600), MIDNIGHT + S(5 * 3600),
         0);
    assert_int_equal(val(f, day, T), 1);
    setenv("TZ", "UTC", 1);
    tzset();
}

static void test_link_lost_and_back(void **state)
{
    fix *f = *state;
    stat_stats_link_up(f->s, 0);
    stat_stats_snapshot_done(f->s, 0, T);
    stat_stats_inst *ent = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T);
    stat_stats_inst *wait = open_q(f, "chat-in", PROTO_STS_Q_WAITING, 0, -1, T);
    stat_stats_inst *ans = open_q(f, "chat-in", PROTO_STS_Q_ANSWERED, 0, -1, T);
    stat_stats_inst *ab = open_q(f, "chat-in", PROTO_STS_Q_ABANDONED, 0, -1, T);
    stat_stats_inst *tw = open_t(f, PROTO_STS_T_WAITING, f->chat, T);
    stat_stats_inst *tow = open_t(f, PROTO_STS_T_OLDEST_WAIT, f->chat, T);
    step(f, PROTO_IXR_QUEUED, "k1", "chat-in", NULL, T, T, 0);
    step(f, PROTO_IXR_QUEUED, "k2", "chat-in", NULL, T + S(1), T + S(1), 0);
    step(f, PROTO_IXR_QUEUED, "k3", "chat-in", NULL, T + S(2), T + S(2), 0);
    step(f, PROTO_IXR_INVITED, "k3", "chat-in", "1001", T + S(2), T + S(3), 0);
    step(f, PROTO_IXR_ACCEPTED, "k3", "chat-in", "1001", T + S(2), T + S(4), 0);
    assert_int_equal(val(f, wait, T + S(5)), 2);
    assert_int_equal(val(f, tw, T + S(5)), 2);
    assert_int_equal(val(f, tow, T + S(5)), S(5));
    stat_stats_link_down(f->s, 0, T + S(6));
    /* The lost server's interactions no longer wait. */
    assert_int_equal(val(f, wait, T + S(6)), 0);
    assert_int_equal(val(f, tw, T + S(6)), 0);
    assert_int_equal(val(f, tow, T + S(6)), 0);
    assert_int_equal(
        val(f, open_q(f, "chat-in", PROTO_STS_Q_OLDEST_WAIT, 0, -1, T + S(6)), T + S(6)), 0);
    /* Back: k1 still waits (same visit), k2 ended meanwhile, k3 handled (put back queued
     * by a restart, its visit answered already), k4 came while the link was down. */
    stat_stats_link_up(f->s, 0);
    snap(f, "k1", "chat-in", CC_IXN_QUEUED, T, T + S(20), T + S(20));
    snap(f, "k3", "chat-in", CC_IXN_QUEUED, T + S(2), T + S(20), T + S(20));
    snap(f, "k4", "chat-in", CC_IXN_QUEUED, T + S(10), T + S(10), T + S(20));
    stat_stats_snapshot_done(f->s, 0, T + S(20));
    assert_int_equal(val(f, wait, T + S(21)), 3);
    assert_int_equal(val(f, tow, T + S(21)), S(21));
    assert_int_equal(val(f, ent, T + S(21)), 4);
    assert_int_equal(val(f, ans, T + S(21)), 1);
    /* k2's end is not known: neither answered nor abandoned. */
    assert_int_equal(val(f, ab, T + S(21)), 0);
    /* k3's visit was answered: its end is no abandon. */
    step(f, PROTO_IXR_ENDED, "k3", "chat-in", NULL, T + S(2), T + S(30), PROTO_IXR_REASON_STOPPED);
    step(f, PROTO_IXR_ENDED, "k1", "chat-in", NULL, T, T + S(31), PROTO_IXR_REASON_STOPPED);
    assert_int_equal(val(f, ab, T + S(32)), 1);
    assert_int_equal(val(f, wait, T + S(32)), 1);
    /* A second loss and return with the same snapshot counts nothing twice. */
    stat_stats_link_down(f->s, 0, T + S(33));
    stat_stats_link_up(f->s, 0);
    snap(f, "k4", "chat-in", CC_IXN_QUEUED, T + S(10), T + S(10), T + S(34));
    stat_stats_snapshot_done(f->s, 0, T + S(34));
    assert_int_equal(val(f, ent, T + S(35)), 4);
    assert_int_equal(val(f, wait, T + S(35)), 1);
    assert_int_equal(stat_stats_get_counts(f->s).interactions, 1);
    /* The tenant's OldestWait: the oldest over its queues where something waits; a queue
     * emptied no longer counts. */
    assert_int_equal(val(f, tow, T + S(35)), S(25));
    step(f, PROTO_IXR_QUEUED, "m1", "chat-out", NULL, T + S(36), T + S(36), 0);
    assert_int_equal(val(f, tow, T + S(37)), S(27));
    step(f, PROTO_IXR_ENDED, "k4", "chat-in", NULL, T + S(10), T + S(38), PROTO_IXR_REASON_STOPPED);
    assert_int_equal(val(f, tow, T + S(40)), S(4));
    step(f, PROTO_IXR_ENDED, "m1", "chat-out", NULL, T + S(36), T + S(41),
         PROTO_IXR_REASON_STOPPED);
    assert_int_equal(val(f, tow, T + S(42)), 0);
}

/* Links beyond the 256 the engine once had: one interaction id on links 1, 256 and 4095
 * is three interactions (the link is part of the key), a snapshot of link 256 ends only
 * its own, and a link index past the configuration's maximum is ignored. */
static void test_many_links(void **state)
{
    fix *f = *state;
    stat_stats_inst *wait = open_q(f, "chat-in", PROTO_STS_Q_WAITING, 0, -1, T);
    const int links[] = {1, 256, 4095};
    for (int i = 0; i < 3; i++) {
        stat_stats_link_up(f->s, links[i]);
        stat_stats_snapshot_done(f->s, links[i], T);
        proto_ixr_event e = {.cause = PROTO_IXR_QUEUED,
                             .interaction_id = "same-id",
                             .tenant = "Resources",
                             .media = "chat",
                             .queue = "chat-in",
                             .state = CC_IXN_QUEUED,
                             .submitted_at = T,
                             .queued_at = T,
                             .at = T};
        stat_stats_ixn(f->s, links[i], "ixn-a", &e, T);
    }
    assert_int_equal(stat_stats_get_counts(f->s).interactions, 3);
    assert_int_equal(val(f, wait, T + S(1)), 3);
    stat_stats_link_up(f->s, 256);
    stat_stats_snapshot_done(f->s, 256, T + S(2));
    assert_int_equal(stat_stats_get_counts(f->s).interactions, 2);
    assert_int_equal(val(f, wait, T + S(3)), 2);
    proto_ixr_event e = {.cause = PROTO_IXR_QUEUED,
                         .interaction_id = "other",
                         .tenant = "Resources",
                         .media = "chat",
                         .queue = "chat-in",
                         .state = CC_IXN_QUEUED,
                         .at = T};
    stat_stats_ixn(f->s, STAT_LINKS_MAX, "ixn-a", &e, T + S(4));
    stat_stats_link_up(f->s, STAT_LINKS_MAX);
    stat_stats_link_down(f->s, -1, T + S(4));
    assert_int_equal(stat_stats_get_counts(f->s).interactions, 2);
}

static void test_close_and_share(void **state)
{
    fix *f = *state;
    stat_stats_inst *a = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T);
    stat_stats_inst *b = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T);
    assert_ptr_equal(a, b);
    assert_int_equal(stat_stats_get_counts(f->s).open, 1);
    step(f, PROTO_IXR_QUEUED, "c1", "chat-in", NULL, T, T, 0);
    stat_stats_close(f->s, a);
    assert_int_equal(stat_stats_get_counts(f->s).open, 1);
    assert_ptr_equal(stat_stats_next_dirty(f->s), b);
    step(f, PROTO_IXR_QUEUED, "c2", "chat-in", NULL, T + S(1), T + S(1), 0);
    /* A statistic closed while marked leaves the list. */
    stat_stats_close(f->s, b);
    assert_int_equal(stat_stats_get_counts(f->s).open, 0);
    assert_null(stat_stats_next_dirty(f->s));
    /* Objects opened only for statistics go with their last one; recorded ones stay. */
    assert_int_equal(stat_stats_get_counts(f->s).objects, 2);
    stat_stats_inst *x = open_q(f, "nope", PROTO_STS_Q_EWT, 60, -1, T + S(2));
    stat_stats_inst *y = open_a(f, "9999", PROTO_STS_A_READY_TIME, 0, f->chat, false, 0, T + S(2));
    assert_int_equal(stat_stats_get_counts(f->s).objects, 4);
    proto_sts_open other = {.type = PROTO_STS_TENANT,
                            .tenant = "Elsewhere",
                            .statistic = PROTO_STS_T_READY,
                            .threshold_s = -1,
                            .media = "chat"};
    stat_stats_inst *z = stat_stats_open(f->s, &other, f->chat, T + S(2));
    assert_int_equal(stat_stats_get_counts(f->s).objects, 5);
    stat_stats_close(f->s, x);
    stat_stats_close(f->s, y);
    stat_stats_close(f->s, z);
    assert_int_equal(stat_stats_get_counts(f->s).objects, 2);
    assert_int_equal(stat_stats_get_counts(f->s).open, 0);
    /* A per-media statistic needs its media. */
    proto_sts_open d = {.type = PROTO_STS_TENANT,
                        .tenant = "Resources",
                        .statistic = PROTO_STS_T_READY,
                        .threshold_s = -1};
    assert_null(stat_stats_open(f->s, &d, -1, T));
}

static void test_ewt_room(void **state)
{
    fix *f = *state;
    stat_stats_inst *ewt = open_q(f, "chat-in", PROTO_STS_Q_EWT, 0, -1, T);
    assert_int_equal(val(f, ewt, T), -1);
    script(f);
    assert_int_equal(val(f, ewt, T + S(45)), S(900));
    while (stat_stats_next_dirty(f->s))
        ;
    /* An agent of the tenant with room for chat: a new interaction would not wait. */
    agent(f, T + S(46), true, true, false, 1, 0, NULL);
    bool marked = false;
    stat_stats_inst *i;
    while ((i = stat_stats_next_dirty(f->s)))
        marked = marked || i == ewt;
    assert_true(marked);
    assert_int_equal(val(f, ewt, T + S(46)), 0);
    agent(f, T + S(47), true, false, false, 0, 3, "Lunch");
    assert_int_equal(val(f, ewt, T + S(47)), S(900));
    /* Answers at :12 and :31: just before 10:15:31 one is left, (1 + 1) x 900 / 1; at
     * 10:15:31 none. */
    assert_int_equal(val(f, ewt, T + S(930.999)), S(1800));
    assert_int_equal(val(f, ewt, T + S(931)), -1);
}

static void test_records_cap(void **state)
{
    fix *f = *state;
    stat_stats_free(f->s);
    f->s = stat_stats_new(
        &(stat_stats_config){.media = &f->media, .threshold_s = 20, .max_records = 3});
    stat_stats_inst *ent = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 3600, -1, T);
    stat_stats_inst *login = open_a(f, "1001", PROTO_STS_A_LOGIN_TIME, 3600, -1, false, 0, T);
    stat_stats_inst *day_ent = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T);
    stat_stats_inst *day_login = open_a(f, "1001", PROTO_STS_A_LOGIN_TIME, 0, -1, false, 0, T);
    step(f, PROTO_IXR_QUEUED, "r1", "chat-in", NULL, T, T, 0);
    step(f, PROTO_IXR_QUEUED, "r2", "chat-in", NULL, T + S(1), T + S(1), 0);
    step(f, PROTO_IXR_QUEUED, "r3", "chat-in", NULL, T + S(2), T + S(2), 0);
    /* Three records: the cap, all counted. */
    assert_int_equal(val(f, ent, T + S(3)), 3);
    step(f, PROTO_IXR_QUEUED, "r4", "chat-in", NULL, T + S(3), T + S(3), 0);
    /* The fourth pushes the oldest out of every sliding window; the day sums keep it. */
    assert_int_equal(val(f, ent, T + S(4)), 3);
    assert_int_equal(
        val(f, open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 3600, -1, T + S(4)), T + S(4)), 3);
    assert_int_equal(val(f, day_ent, T + S(4)), 4);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T + S(4)), T + S(4)),
                     4);
    /* Segments: in 10 s, out 10 s, in 10 s, out: the first one leaves with the fourth. */
    agent(f, T + S(10), true, true, false, 1, 0, NULL);
    agent(f, T + S(20), false, false, false, 0, 0, NULL);
    agent(f, T + S(30), true, true, false, 1, 0, NULL);
    assert_int_equal(val(f, login, T + S(35)), S(15));
    agent(f, T + S(40), false, false, false, 0, 0, NULL);
    assert_int_equal(val(f, login, T + S(45)), S(10));
    assert_int_equal(val(f, day_login, T + S(45)), S(20));
}

/* A fresh engine keeping keep_s seconds of records for windows opened later (negative:
 * none beyond the open windows). */
static void with_keep(fix *f, int64_t keep_s)
{
    stat_stats_free(f->s);
    f->s = stat_stats_new(
        &(stat_stats_config){.media = &f->media, .threshold_s = 20, .sliding_keep_s = keep_s});
}

/* The same numbers at every run. */
static uint32_t next_rand(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 8;
}

/* num / den rounded to the nearest, as the engine writes means and percentages. */
static int64_t rounded(int64_t num, int64_t den)
{
    return (num + den / 2) / den;
}

static int64_t records(fix *f)
{
    return (int64_t)stat_stats_get_counts(f->s).records;
}

/* 3,000 visits from 01:00, every 20 s, with waits and handle times of the generator and
 * some on the threshold exactly: the day statistics opened at the end, when all but the
 * last minute's records are gone, equal the sums computed here, and those opened at the
 * start. */
static void test_day_late_exact(void **state)
{
    fix *f = *state;
    with_keep(f, 60);
    const int64_t thr[] = {0, 1, 19, 20, 21, 60, 86400};
    enum { NT = sizeof thr / sizeof thr[0], N = 3000, AGENTS = 3 };
    int64_t t0 = MIDNIGHT + S(3600);
    stat_stats_inst *early_sl = open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, 20, t0);
    stat_stats_inst *early_asa = open_q(f, "chat-in", PROTO_STS_Q_ASA, 0, -1, t0);
    /* A sliding window open all along, over records that arrive out of time order (an
     * answer after a later visit's start). */
    stat_stats_inst *early_ans600 = open_q(f, "chat-in", PROTO_STS_Q_ANSWERED, 600, -1, t0);
    int64_t end = t0 + (int64_t)N * S(20) + S(400), answered_600 = 0;
    int64_t answered = 0, abandoned = 0, wait_sum = 0, sl_num[NT] = {0}, sl_den[NT] = {0};
    int64_t offered[AGENTS] = {0}, accepted[AGENTS] = {0}, handled[AGENTS] = {0};
    int64_t handle_sum[AGENTS] = {0};
    uint32_t x = 7;
    for (int k = 0; k < N; k++) {
        char id[16], ag[8];
        snprintf(id, sizeof id, "d%d", k);
        snprintf(ag, sizeof ag, "a%d", k % AGENTS);
        int64_t q = t0 + (int64_t)k * S(20);
        int64_t w = next_rand(&x) % 120000;
        if (k % 50 == 0)
            w = S(20);
        else if (k % 50 == 1)
            w = S(20) + 1;
        else if (k % 50 == 2)
            w = 0;
        uint32_t fate = next_rand(&x) % 8;
        step(f, PROTO_IXR_QUEUED, id, "chat-in", NULL, q, q, 0);
        if (fate < 2) {
            /* Abandoned: while queued, or while offered to an agent. */
            if (fate == 1) {
                step(f, PROTO_IXR_INVITED, id, "chat-in", ag, q, q + w, 0);
                offered[k % AGENTS]++;
            }
            step(f, PROTO_IXR_ENDED, id, "chat-in", NULL, q, q + w, PROTO_IXR_REASON_STOPPED);
            abandoned++;
            for (int j = 0; j < NT; j++)
                sl_den[j] += w > thr[j] * 1000;
            continue;
        }
        int64_t h = 1000 + next_rand(&x) % 300000;
        step(f, PROTO_IXR_INVITED, id, "chat-in", ag, q, q + w, 0);
        step(f, PROTO_IXR_ACCEPTED, id, "chat-in", ag, q, q + w, 0);
        step(f, PROTO_IXR_ENDED, id, "chat-in", ag, q, q + w + h, PROTO_IXR_REASON_DONE);
        answered++;
        answered_600 += q + w > end - S(600);
        wait_sum += w;
        for (int j = 0; j < NT; j++) {
            sl_den[j]++;
            sl_num[j] += w <= thr[j] * 1000;
        }
        offered[k % AGENTS]++;
        accepted[k % AGENTS]++;
        handled[k % AGENTS]++;
        handle_sum[k % AGENTS] += h;
    }
    int64_t now = end;
    assert_int_equal(val(f, early_ans600, now), answered_600);
    stat_stats_close(f->s, early_ans600);
    /* Once the window is closed, the next step leaves the records of about the last
     * minute only. */
    step(f, PROTO_IXR_QUEUED, "last", "chat-in", NULL, now, now, 0);
    assert_true(records(f) < 40);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, now), now), N + 1);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ANSWERED, 0, -1, now), now), answered);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ABANDONED, 0, -1, now), now),
                     abandoned);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ASA, 0, -1, now), now),
                     rounded(wait_sum, answered));
    assert_int_equal(val(f, early_asa, now), rounded(wait_sum, answered));
    for (int j = 0; j < NT; j++)
        assert_int_equal(
            val(f, open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, thr[j], now), now),
            rounded(sl_num[j] * 100000, sl_den[j]));
    assert_int_equal(val(f, early_sl, now), rounded(sl_num[3] * 100000, sl_den[3]));
    for (int a = 0; a < AGENTS; a++) {
        char ag[8];
        snprintf(ag, sizeof ag, "a%d", a);
        assert_int_equal(val(f, open_a(f, ag, PROTO_STS_A_OFFERED, 0, -1, false, 0, now), now),
                         offered[a]);
        assert_int_equal(val(f, open_a(f, ag, PROTO_STS_A_ACCEPTED, 0, -1, false, 0, now), now),
                         accepted[a]);
        assert_int_equal(val(f, open_a(f, ag, PROTO_STS_A_HANDLED, 0, -1, false, 0, now), now),
                         handled[a]);
        assert_int_equal(val(f, open_a(f, ag, PROTO_STS_A_AHT, 0, -1, false, 0, now), now),
                         rounded(handle_sum[a], handled[a]));
    }
}

/* ServiceLevel of the day for thresholds opened late: waits on each side of whole
 * seconds, and longer than any threshold. */
static void test_service_level_thresholds_late(void **state)
{
    fix *f = *state;
    with_keep(f, -1);
    const int64_t answered[] = {0, 999, 1000, 1001, 19999, 20000, 20001, 86400000, 86400001};
    const int64_t abandoned[] = {0, 1, 20000, 20001, 21000, 86400000, 86400001, 90000000};
    const int64_t thr[] = {0, 1, 19, 20, 21, 86399, 86400};
    int64_t at = T;
    int n = 0;
    for (size_t k = 0; k < sizeof answered / sizeof answered[0]; k++, at += S(1)) {
        char id[16];
        snprintf(id, sizeof id, "w%d", n++);
        step(f, PROTO_IXR_ACCEPTED, id, "chat-in", "1001", at - answered[k], at, 0);
    }
    for (size_t k = 0; k < sizeof abandoned / sizeof abandoned[0]; k++, at += S(1)) {
        char id[16];
        snprintf(id, sizeof id, "w%d", n++);
        step(f, PROTO_IXR_QUEUED, id, "chat-in", NULL, at - abandoned[k], at, 0);
        step(f, PROTO_IXR_ENDED, id, "chat-in", NULL, at - abandoned[k], at,
             PROTO_IXR_REASON_STOPPED);
    }
    assert_true(records(f) <= 2);
    /* Counted by hand: answered within T / (9 answered + abandoned beyond T). */
    const int64_t num[] = {1, 3, 4, 6, 7, 7, 8};
    const int64_t den[] = {9 + 7, 9 + 6, 9 + 6, 9 + 5, 9 + 3, 9 + 3, 9 + 2};
    for (size_t j = 0; j < sizeof thr / sizeof thr[0]; j++) {
        int64_t a = 0, d = 9;
        for (size_t k = 0; k < sizeof answered / sizeof answered[0]; k++)
            a += answered[k] <= thr[j] * 1000;
        for (size_t k = 0; k < sizeof abandoned / sizeof abandoned[0]; k++)
            d += abandoned[k] > thr[j] * 1000;
        assert_int_equal(a, num[j]);
        assert_int_equal(d, den[j]);
        assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, thr[j], at), at),
                         rounded(num[j] * 100000, den[j]));
    }
}

/* An agent's day: logged in before midnight, then 40 cycles of 20 minutes: ready 10,
 * busy 2, ready 1, not ready for lunch (3) 3, coaching (7) 2, no reason 2. The times of
 * the day, opened late with all but the last segment dropped, reason filters included. */
static void test_not_ready_reason_late(void **state)
{
    fix *f = *state;
    int c = f->chat;
    with_keep(f, 60);
    const int64_t M = S(60);
    int64_t eve = MIDNIGHT - 10 * M;
    agent(f, eve, true, true, false, 1, 0, NULL);
    agent(f, eve + 5 * M, true, false, false, 0, 3, "Lunch");
    agent(f, MIDNIGHT + 5 * M, true, true, false, 1, 0, NULL);
    agent(f, MIDNIGHT + 10 * M, false, false, false, 0, 0, NULL);
    int64_t t0 = MIDNIGHT + 8 * 60 * M;
    for (int k = 0; k < 40; k++) {
        int64_t t = t0 + k * 20 * M;
        agent(f, t, true, true, false, 1, 0, NULL);
        agent(f, t + 10 * M, true, true, true, 0, 0, NULL);
        agent(f, t + 12 * M, true, true, false, 1, 0, NULL);
        agent(f, t + 13 * M, true, false, false, 0, 3, "Lunch");
        agent(f, t + 16 * M, true, false, false, 0, 7, "Coaching");
        agent(f, t + 18 * M, true, false, false, 0, 0, NULL);
        if (k == 39) {
            /* Opened late, inside a segment that is not closed. */
            int64_t now = t + 18 * M + S(30);
            assert_int_equal(
                val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, false, 0, now), now),
                5 * M + 39 * 7 * M + 5 * M + S(30));
            assert_int_equal(
                val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 7, now), now),
                40 * 2 * M);
        }
    }
    agent(f, t0 + 800 * M, false, false, false, 0, 0, NULL);
    assert_true(records(f) <= 4);
    int64_t now = t0 + 840 * M;
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_LOGIN_TIME, 0, -1, false, 0, now), now),
                     810 * M);
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_READY_TIME, 0, c, false, 0, now), now),
                     525 * M);
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_BUSY_TIME, 0, -1, false, 0, now), now),
                     80 * M);
    assert_int_equal(
        val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, false, 0, now), now), 285 * M);
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 3, now), now),
                     125 * M);
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 7, now), now),
                     80 * M);
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 9, now), now),
                     0);
}

/* Midnight with no records kept: the day sums start again, a segment open across
 * midnight counts from midnight, and an event stamped just after midnight by a clock
 * ahead of the statserver's counts in both days (as any event at or after the day's
 * start does). */
static void test_day_reset_without_records(void **state)
{
    fix *f = *state;
    int c = f->chat;
    with_keep(f, -1);
    int64_t next = MIDNIGHT + S(86400);
    int64_t eve = next - S(3600);
    stat_stats_inst *early_ent = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, eve);
    stat_stats_inst *early_nr3 = open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 3, eve);
    agent(f, eve, true, true, false, 1, 0, NULL);
    step(f, PROTO_IXR_QUEUED, "e1", "chat-in", NULL, eve, eve, 0);
    step(f, PROTO_IXR_QUEUED, "e2", "chat-in", NULL, eve + S(1), eve + S(1), 0);
    step(f, PROTO_IXR_QUEUED, "e3", "chat-in", NULL, eve + S(2), eve + S(2), 0);
    step(f, PROTO_IXR_ACCEPTED, "e1", "chat-in", "1001", eve, eve + S(5), 0);
    step(f, PROTO_IXR_ACCEPTED, "e2", "chat-in", "1001", eve + S(1), eve + S(31), 0);
    step(f, PROTO_IXR_ENDED, "e3", "chat-in", NULL, eve + S(2), eve + S(27),
         PROTO_IXR_REASON_STOPPED);
    agent(f, next - S(600), true, false, false, 0, 3, "Lunch");
    /* Stamped 00:00:00.500, received at 23:59:59.900. */
    proto_ixr_event e = {.cause = PROTO_IXR_QUEUED,
                         .interaction_id = "e4",
                         .tenant = "Resources",
                         .media = "chat",
                         .queue = "chat-in",
                         .state = CC_IXN_QUEUED,
                         .submitted_at = next + 500,
                         .queued_at = next + 500,
                         .at = next + 500};
    stat_stats_ixn(f->s, 0, "ixn-a", &e, next - 100);
    /* Held: e4 (ahead of now), the agent's last accept (at the time of its add), and the
     * segments that reach the last instant (the media's ended just then). */
    assert_true(records(f) <= 5);
    assert_int_equal(val(f, early_ent, next - 1), 4);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, next - 1), next - 1),
                     4);
    assert_int_equal(
        val(f, open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, 20, next - 1), next - 1),
        rounded(1 * 100000, 3));
    assert_int_equal(val(f, early_nr3, next - 1), S(600) - 1);
    /* The new day. */
    int64_t now = next + S(600);
    assert_int_equal(val(f, early_ent, now), 1);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, now), now), 1);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ANSWERED, 0, -1, now), now), 0);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_SERVICE_LEVEL, 0, 20, now), now), -1);
    assert_int_equal(val(f, open_q(f, "chat-in", PROTO_STS_Q_ASA, 0, -1, now), now), -1);
    assert_int_equal(val(f, early_nr3, now), S(600));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_NOT_READY_TIME, 0, c, true, 3, now), now),
                     S(600));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_LOGIN_TIME, 0, -1, false, 0, now), now),
                     S(600));
    assert_int_equal(val(f, open_a(f, "1001", PROTO_STS_A_READY_TIME, 0, c, false, 0, now), now),
                     0);
    /* The lunch ends ten minutes into the day: that is all of it the new day holds. */
    agent(f, now, true, true, false, 1, 0, NULL);
    assert_int_equal(val(f, early_nr3, now + S(60)), S(600));
    assert_int_equal(
        val(f, open_a(f, "1001", PROTO_STS_A_READY_TIME, 0, c, false, 0, now + S(60)), now + S(60)),
        S(60));
}

/* Records are dropped when no sliding window needs them, kept while one is open, and
 * kept sliding-keep long for windows opened later. */
static void test_records_retention(void **state)
{
    fix *f = *state;
    with_keep(f, -1);
    char id[16];
    for (int k = 0; k < 100; k++) {
        snprintf(id, sizeof id, "r%d", k);
        step(f, PROTO_IXR_QUEUED, id, "chat-in", NULL, T + k * S(1), T + k * S(1), 0);
    }
    assert_true(records(f) <= 1);
    stat_stats_inst *win = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 600, -1, T + S(100));
    for (int k = 100; k < 200; k++) {
        snprintf(id, sizeof id, "r%d", k);
        step(f, PROTO_IXR_QUEUED, id, "chat-in", NULL, T + k * S(1), T + k * S(1), 0);
    }
    assert_int_equal(records(f), 100 + 1);
    assert_int_equal(val(f, win, T + S(200)), 100 + 1);
    stat_stats_close(f->s, win);
    step(f, PROTO_IXR_QUEUED, "r200", "chat-in", NULL, T + S(900), T + S(900), 0);
    assert_true(records(f) <= 1);
    assert_int_equal(
        val(f, open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 0, -1, T + S(900)), T + S(900)), 201);

    /* The default sliding-keep (900 s): a window opened later finds its records. */
    with_keep(f, 0);
    for (int k = 0; k < 100; k++) {
        snprintf(id, sizeof id, "r%d", k);
        step(f, PROTO_IXR_QUEUED, id, "chat-in", NULL, T + k * S(1), T + k * S(1), 0);
    }
    assert_int_equal(records(f), 100);
    assert_int_equal(
        val(f, open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 600, -1, T + S(100)), T + S(100)), 100);
}

/* A window longer than what is kept counts from the oldest kept record, and is exact once
 * it has moved past what was dropped. */
static void test_sliding_longer_than_kept(void **state)
{
    fix *f = *state;
    with_keep(f, 60);
    char id[16];
    /* Every 10 s for 10 minutes: 0 .. 590 s. */
    for (int k = 0; k < 60; k++) {
        snprintf(id, sizeof id, "s%d", k);
        step(f, PROTO_IXR_QUEUED, id, "chat-in", NULL, T + k * S(10), T + k * S(10), 0);
    }
    /* Kept: those at 530 s (590 - 60) and later. */
    stat_stats_inst *win = open_q(f, "chat-in", PROTO_STS_Q_ENTERED, 600, -1, T + S(595));
    assert_int_equal(val(f, win, T + S(595)), 7);
    for (int k = 60; k < 120; k++) {
        snprintf(id, sizeof id, "s%d", k);
        step(f, PROTO_IXR_QUEUED, id, "chat-in", NULL, T + k * S(10), T + k * S(10), 0);
    }
    /* (595 s, 1195 s]: 600 .. 1190 s. */
    assert_int_equal(val(f, win, T + S(1195)), 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_sliding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_state_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_midnight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timezone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_lost_and_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_and_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ewt_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_day_late_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_level_thresholds_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_ready_reason_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_day_reset_without_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sliding_longer_than_kept, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of src/common/metrics (the registry and its text format) and of the shared
 * families of src/net/netmetrics: exact exposition text for counters, gauges and
 * histograms, label escaping and UTF-8 repair, named families with their cap, bound
 * counters, refresh functions, collected families, updates on NULL, and the message
 * name read from an open message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/metrics.h"
#include "net/conn.h"
#include "net/netmetrics.h"
#include "net/session.h"

/* The registry's whole text, NUL-terminated; the caller frees it. */
static char *encode(cc_metrics *r)
{
    cc_buf b;
    cc_buf_init(&b);
    cc_metrics_encode(r, &b);
    char *s = strdup(b.data ? b.data : "");
    cc_buf_free(&b);
    return s;
}

static void test_counter_and_gauge_text(void **state)
{
    (void)state;
    cc_metrics *r = cc_metrics_new();
    cc_metric *plain = cc_metrics_add(r, &(cc_metric_def){.name = "t_plain_total",
                                                          .help = "A plain counter",
                                                          .type = CC_METRIC_COUNTER});
    const char *labels[] = {"code", "name"};
    const char *rows[] = {"1", "InvalidMessage", "5", "NotAuthorized"};
    cc_metric *errors = cc_metrics_add(r, &(cc_metric_def){.name = "t_errors_total",
                                                           .help = "Errors by code",
                                                           .type = CC_METRIC_COUNTER,
                                                           .labels = labels,
                                                           .nlabels = 2,
                                                           .rows = rows,
                                                           .nrows = 2});
    cc_metric *ratio = cc_metrics_add(
        r, &(cc_metric_def){.name = "t_ratio", .help = "A gauge", .type = CC_METRIC_GAUGE});
    cc_metric_inc(plain);
    cc_metric_add(plain, 0, 41);
    cc_metric_inc_row(errors, 1);
    cc_metric_inc_row(errors, 1);
    cc_metric_set(ratio, 0, 0.25);
    char *text = encode(r);
    assert_string_equal(text, "# HELP t_plain_total A plain counter\n"
                              "# TYPE t_plain_total counter\n"
                              "t_plain_total 42\n"
                              "# HELP t_errors_total Errors by code\n"
                              "# TYPE t_errors_total counter\n"
                              "t_errors_total{code=\"1\",name=\"InvalidMessage\"} 0\n"
                              "t_errors_total{code=\"5\",name=\"NotAuthorized\"} 2\n"
                              "# HELP t_ratio A gauge\n"
                              "# TYPE t_ratio gauge\n"
                              "t_ratio 0.25\n");
    free(text);
    assert_true(cc_metric_value(plain, 0) == 42.0);
    /* A gauge goes down as well as up; large integers stay exact. */
    cc_metric_gauge_add(ratio, 0, -1.25);
    assert_true(cc_metric_value(ratio, 0) == -1.0);
    cc_metric_add(plain, 0, UINT64_C(9007199254740993) - 42);
    text = encode(r);
    assert_non_null(strstr(text, "\nt_plain_total 9007199254740993\n"));
    assert_non_null(strstr(text, "\nt_ratio -1\n"));
    free(text);
    cc_metrics_free(r);
}

static void test_histogram_text(void **state)
{
    (void)state;
    cc_metrics *r = cc_metrics_new();
    const double bounds[] = {0.001, 0.01, 1};
    const char *labels[] = {"kind"};
    const char *rows[] = {"a", "b"};
    cc_metric *h = cc_metrics_add(r, &(cc_metric_def){.name = "t_latency_seconds",
                                                      .help = "Latency",
                                                      .type = CC_METRIC_HISTOGRAM,
                                                      .labels = labels,
                                                      .nlabels = 1,
                                                      .rows = rows,
                                                      .nrows = 2,
                                                      .bounds = bounds,
                                                      .nbounds = 3});
    cc_metric_observe(h, 0, 0.0005);
    cc_metric_observe(h, 0, 0.01); /* on a bound: counted in that bucket */
    cc_metric_observe(h, 0, 0.5);
    cc_metric_observe(h, 0, 3);
    cc_metrics *plain_r = cc_metrics_new();
    cc_metric *plain = cc_metrics_add(plain_r, &(cc_metric_def){.name = "t_plain_seconds",
                                                                .help = "No labels",
                                                                .type = CC_METRIC_HISTOGRAM,
                                                                .bounds = bounds,
                                                                .nbounds = 3});
    cc_metric_observe(plain, 0, 2);
    char *text = encode(r);
    assert_string_equal(text, "# HELP t_latency_seconds Latency\n"
                              "# TYPE t_latency_seconds histogram\n"
                              "t_latency_seconds_bucket{kind=\"a\",le=\"0.001\"} 1\n"
                              "t_latency_seconds_bucket{kind=\"a\",le=\"0.01\"} 2\n"
                              "t_latency_seconds_bucket{kind=\"a\",le=\"1\"} 3\n"
                              "t_latency_seconds_bucket{kind=\"a\",le=\"+Inf\"} 4\n"
                              "t_latency_seconds_sum{kind=\"a\"} 3.5105\n"
                              "t_latency_seconds_count{kind=\"a\"} 4\n"
                              "t_latency_seconds_bucket{kind=\"b\",le=\"0.001\"} 0\n"
                              "t_latency_seconds_bucket{kind=\"b\",le=\"0.01\"} 0\n"
                              "t_latency_seconds_bucket{kind=\"b\",le=\"1\"} 0\n"
                              "t_latency_seconds_bucket{kind=\"b\",le=\"+Inf\"} 0\n"
                              "t_latency_seconds_sum{kind=\"b\"} 0\n"
                              "t_latency_seconds_count{kind=\"b\"} 0\n");
    free(text);
    assert_int_equal(cc_metric_count(h, 0), 4);
    text = encode(plain_r);
    assert_string_equal(text, "# HELP t_plain_seconds No labels\n"
                              "# TYPE t_plain_seconds histogram\n"
                              "t_plain_seconds_bucket{le=\"0.001\"} 0\n"
                              "t_plain_seconds_bucket{le=\"0.01\"} 0\n"
                              "t_plain_seconds_bucket{le=\"1\"} 0\n"
                              "t_plain_seconds_bucket{le=\"+Inf\"} 1\n"
                              "t_plain_seconds_sum 2\n"
                              "t_plain_seconds_count 1\n");
    free(text);
    cc_metrics_free(r);
    cc_metrics_free(plain_r);
}

/* U+FFFD, nine times. */
#define R3 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
#define R9 R3 R3 R3

static void test_escaping(void **state)
{
    (void)state;
    cc_metrics *r = cc_metrics_new();
    const char *labels[] = {"v"};
    /* Backslash, quote, line feed; valid UTF-8 (é, €, an emoji) kept; a lone
     * continuation byte, a truncated sequence, an overlong '/', a surrogate and a byte
     * above U+10FFFF each replaced by U+FFFD. */
    const char *rows[] = {"a\\b\"c\nd", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                          "x\x80y\xe2\x82", "\xc0\xaf\xed\xa0\x80\xf5\x80\x80\x80"};
    cc_metric *m = cc_metrics_add(r, &(cc_metric_def){.name = "t_esc",
                                                      .help = "Help with \\ a backslash",
                                                      .type = CC_METRIC_GAUGE,
                                                      .labels = labels,
                                                      .nlabels = 1,
                                                      .rows = rows,
                                                      .nrows = 4});
    (void)m;
    char *text = encode(r);
    assert_string_equal(text, "# HELP t_esc Help with \\\\ a backslash\n"
                              "# TYPE t_esc gauge\n"
                              "t_esc{v=\"a\\\\b\\\"c\\nd\"} 0\n"
                              "t_esc{v=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"} 0\n"
                              "t_esc{v=\"x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbd\"} 0\n"
                              "t_esc{v=\"" R9 "\"} 0\n");
    free(text);
    cc_metrics_free(r);
}

static void test_named(void **state)
{
    (void)state;
    cc_metrics *r = cc_metrics_new();
    cc_metric *m = cc_metrics_add_named(r, "t_messages_total", "By name", "name", 2);
    cc_metric_inc_name(m, "EventAck", 8);
    cc_metric_inc_name(m, "EventAckXYZ", 8); /* only len bytes count */
    cc_metric_inc_name(m, "RequestPing", 11);
    cc_metric_inc_name(m, "RequestSubmit", 13); /* over the cap */
    cc_metric_inc_name(m, "bad name", 8);       /* not letters, digits and '_' */
    cc_metric_inc_name(m, "", 0);
    cc_metric_inc_name(m, NULL, 0);
    char longname[CC_METRICS_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cc_metric_inc_name(m, longname, strlen(longname));
    assert_int_equal(cc_metric_name_value(m, "EventAck"), 2);
    assert_int_equal(cc_metric_name_value(m, "RequestPing"), 1);
    assert_int_equal(cc_metric_name_value(m, "RequestSubmit"), 0);
    assert_int_equal(cc_metric_name_value(m, "other"), 5);
    char *text = encode(r);
    assert_string_equal(text, "# HELP t_messages_total By name\n"
                              "# TYPE t_messages_total counter\n"
                              "t_messages_total{name=\"other\"} 5\n"
                              "t_messages_total{name=\"EventAck\"} 2\n"
                              "t_messages_total{name=\"RequestPing\"} 1\n");
    free(text);
    cc_metrics_free(r);
}

static int refreshes;

static void refresh(void *user)
{
    refreshes++;
    cc_metric_set(user, 0, 7);
}

static void test_bind_and_refresh(void **state)
{
    (void)state;
    cc_metrics *r = cc_metrics_new();
    cc_metric *c = cc_metrics_add(
        r, &(cc_metric_def){.name = "t_bound_total", .help = "Bound", .type = CC_METRIC_COUNTER});
    cc_metric *g = cc_metrics_add(
        r, &(cc_metric_def){.name = "t_refreshed", .help = "Refreshed", .type = CC_METRIC_GAUGE});
    uint64_t a = 3, b = 4;
    cc_metric_bind(c, 0, &a);
    cc_metric_bind(c, 0, &b);
    cc_metric_inc(c);
    cc_metrics_on_refresh(r, refresh, g);
    assert_true(cc_metric_value(c, 0) == 8.0);
    a = 10;
    char *text = encode(r);
    assert_int_equal(refreshes, 1);
    assert_non_null(strstr(text, "\nt_bound_total 15\n"));
    assert_non_null(strstr(text, "\nt_refreshed 7\n"));
    free(text);
    cc_metrics_free(r);
}

static void collect_none(void *user, cc_metrics_emit *e)
{
    (void)user;
    (void)e;
}

static void collect_two(void *user, cc_metrics_emit *e)
{
    (void)user;
    const char *q1[] = {"acme", "sales \"EU\""};
    const char *q2[] = {"acme", "support"};
    cc_metrics_emit_sample(e, q1, 3);
    cc_metrics_emit_sample(e, q2, 0.5);
}

static void test_collected(void **state)
{
    (void)state;
    cc_metrics *r = cc_metrics_new();
    const char *labels[] = {"tenant", "queue"};
    cc_metrics_add_collected(r,
                             &(cc_metric_def){.name = "t_empty",
                                              .help = "Nothing",
                                              .type = CC_METRIC_GAUGE,
                                              .labels = labels,
                                              .nlabels = 2},
                             collect_none, NULL);
    cc_metrics_add_collected(r,
                             &(cc_metric_def){.name = "t_queue_length",
                                              .help = "Per queue",
                                              .type = CC_METRIC_GAUGE,
                                              .labels = labels,
                                              .nlabels = 2},
                             collect_two, NULL);
    char *text = encode(r);
    assert_string_equal(text, "# HELP t_queue_length Per queue\n"
                              "# TYPE t_queue_length gauge\n"
                              "t_queue_length{tenant=\"acme\",queue=\"sales \\\"EU\\\"\"} 3\n"
                              "t_queue_length{tenant=\"acme\",queue=\"support\"} 0.5\n");
    free(text);
    cc_metrics_free(r);
}

static void test_null_family(void **state)
{
    (void)state;
    /* Code shared with programs that keep no metrics calls these with NULL. */
    cc_metric_inc(NULL);
    cc_metric_inc_row(NULL, 3);
    cc_metric_add(NULL, 0, 5);
    cc_metric_inc_name(NULL, "x", 1);
    cc_metric_set(NULL, 0, 1);
    cc_metric_gauge_add(NULL, 0, 1);
    cc_metric_observe(NULL, 0, 1);
    cc_metric_bind(NULL, 0, NULL);
    cc_metrics_free(NULL);
    /* The shared families before cc_netm_init do nothing either. */
    cc_netm_received("RequestPing");
    cc_netm_sent("{\"message\":\"EventAck\"", 21);
    cc_netm_error(CC_E_NOT_AUTHORIZED);
    cc_netm_answered(1);
    cc_netm_session_opened();
}

/* The value of the series whose line starts with prefix (a name and its labels). */
static double series(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    fail_msg("no series %s", prefix);
    return -1;
}

static void test_netm(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cc_net net;
    cc_net_init(&net, &loop);
    cc_metrics *r = cc_metrics_new();
    cc_netm_init(r, &net, NULL);
    const char ack[] = "{\"message\":\"EventAck\",\"referenceId\":4";
    cc_netm_sent(ack, sizeof ack - 1);
    cc_netm_sent(ack, sizeof ack - 1);
    cc_netm_sent("{\"seq\":1,\"message\":\"EventAck\"", 30); /* not at the start: other */
    cc_netm_sent("{\"message\":\"Event", 17);                /* no closing quote: other */
    cc_netm_received("RequestAgentLogin");
    cc_netm_received(NULL);
    cc_netm_error(CC_E_NOT_AUTHORIZED);
    cc_netm_error(CC_E_IO); /* internal: sent as 14 */
    cc_netm_session_opened();
    cc_netm_session_opened();
    cc_netm_session_registered(CC_CLIENT_AGENT);
    cc_netm_session_closed(CC_CLIENT_NONE);
    net.stats.closed_slow = 2;
    char *text = encode(r);
    assert_true(series(text, "contactcore_messages_sent_total{name=\"EventAck\"}") == 2);
    assert_true(series(text, "contactcore_messages_sent_total{name=\"other\"}") == 2);
    assert_true(series(text, "contactcore_messages_received_total{name=\"RequestAgentLogin\"}") ==
                1);
    assert_true(series(text, "contactcore_messages_received_total{name=\"other\"}") == 1);
    assert_true(series(text, "contactcore_errors_sent_total{code=\"5\",name=\"NotAuthorized\"}") ==
                1);
    assert_true(series(text, "contactcore_errors_sent_total{code=\"14\",name=\"Unavailable\"}") ==
                1);
    assert_true(series(text, "contactcore_sessions{type=\"None\"}") == 0);
    assert_true(series(text, "contactcore_sessions{type=\"AgentApplication\"}") == 1);
    assert_true(series(text, "contactcore_sessions{type=\"StatClient\"}") == 0);
    assert_true(series(text, "contactcore_connections_closed_total{reason=\"slow\"}") == 2);
    assert_true(series(text, "process_resident_memory_bytes") > 0);
    double busy = series(text, "contactcore_loop_busy_ratio");
    assert_true(busy >= 0 && busy <= 1);
    free(text);
    cc_net_close(&net);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    cc_metrics_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_text),
        cmocka_unit_test(test_histogram_text),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_named),
        cmocka_unit_test(test_bind_and_refresh),
        cmocka_unit_test(test_collected),
        cmocka_unit_test(test_null_family),
        cmocka_unit_test(test_netm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

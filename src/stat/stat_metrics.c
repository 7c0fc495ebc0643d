#include "stat/stat_metrics.h"

#include <stdbool.h>
#include <stddef.h>

#include "common/clock.h"
#include "common/err.h"

/* Statuses computed, sent to interaction servers, published to subscriptions. */
enum { SENT_SERVERS, SENT_SUBSCRIBERS };
enum { RESV_GRANTED, RESV_REFUSED };
enum { ENDED_RELEASED, ENDED_EXPIRED };
enum { HIST_WRITTEN, HIST_LOST };
enum { PENDING_DIRTY, PENDING_IN_FLIGHT };

static struct {
    stat_agents *agents;
    stat_links *links;
    stat_stats *stats;
    hist *hist;
    const char *data_dir;
    cc_metric *agents_in, *events, *computed, *sent, *asked, *answers, *ended;
    cc_metric *engine_steps, *engine_open, *engine_interactions, *engine_objects;
    cc_metric *state_to_status, *hist_commit, *hist_rows, *hist_failures;
    uint64_t commits_seen;
    stat_ha *ha; /* NULL: no pair */
    cc_metric *pair_primary, *pair_epoch, *pair_renew_failures, *pair_withheld;
    stat_stream *stream; /* NULL: no status stream */
    cc_metric *stream_published, *stream_errors, *stream_dropped, *stream_pending, *stream_lag;
} g;

/* Applying one state and sending its statuses: microseconds, more for a big snapshot. */
static const double apply_bounds[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                      0.0005,  0.001,    0.0025,  0.005,  0.01,
                                      0.025,   0.05,     0.1,     0.25,   1};
static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1};

/* A status change to its NATS ack: a millisecond on a quiet server, seconds while NATS
 * is slow or away. */
static const double lag_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                    0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                    1,      2.5,     5,      10,    30,     60};

static cc_metric *one(cc_metrics *r, const char *name, enum cc_metric_type type, const char *help)
{
    return cc_metrics_add(r, &(cc_metric_def){.name = name, .help = help, .type = type});
}

static cc_metric *labelled(cc_metrics *r, const char *name, const char *help, const char *label,
                           const char *const *rows, size_t n)
{
    const char *labels[] = {label};
    return cc_metrics_add(r, &(cc_metric_def){.name = name,
                                              .help = help,
                                              .type = CC_METRIC_COUNTER,
                                              .labels = labels,
                                              .nlabels = 1,
                                              .rows = rows,
                                              .nrows = n});
}

static void collect_links(void *user, cc_metrics_emit *e)
{
    (void)user;
    for (int i = 0; i < stat_links_count(g.links); i++) {
        const char *values[] = {stat_links_name(g.links, i), stat_links_address(g.links, i)};
        cc_metrics_emit_sample(e, values, stat_links_connected(g.links, i) ? 1.0 : 0.0);
    }
}

static void refresh(void *user)
{
    (void)user;
    cc_metric_set(g.agents_in, 0, (double)stat_agents_count(g.agents));
    stat_agents_stats st = stat_agents_get_stats(g.agents);
    cc_metric_set(g.events, 0, (double)st.events);
    cc_metric_set(g.computed, 0, (double)st.encoded);
    cc_metric_set(g.sent, SENT_SERVERS, (double)st.link_sends);
    cc_metric_set(g.sent, SENT_SUBSCRIBERS, (double)st.published);
    cc_metric_set(g.asked, 0, (double)st.reserve_asked);
    cc_metric_set(g.answers, RESV_GRANTED, (double)st.reserve_granted);
    cc_metric_set(g.answers, RESV_REFUSED, (double)st.reserve_refused);
    cc_metric_set(g.ended, ENDED_RELEASED, (double)st.reserve_released);
    cc_metric_set(g.ended, ENDED_EXPIRED, (double)st.reserve_expired);
    if (g.stats) {
        stat_stats_counts c = stat_stats_get_counts(g.stats);
        cc_metric_set(g.engine_steps, 0, (double)c.steps);
        cc_metric_set(g.engine_open, 0, (double)c.open);
        cc_metric_set(g.engine_interactions, 0, (double)c.interactions);
        cc_metric_set(g.engine_objects, 0, (double)c.objects);
    }
    if (g.ha) {
        stat_ha_stats hs = stat_ha_get_stats(g.ha);
        cc_metric_set(g.pair_primary, 0, hs.primary ? 1.0 : 0.0);
        cc_metric_set(g.pair_epoch, 0, (double)hs.epoch);
        cc_metric_set(g.pair_renew_failures, 0, (double)hs.renew_failures);
        cc_metric_set(g.pair_withheld, 0, (double)stat_links_withheld(g.links));
    }
    if (g.stream) {
        stat_stream_stats ss = stat_stream_get_stats(g.stream);
        cc_metric_set(g.stream_published, 0, (double)ss.published);
        cc_metric_set(g.stream_errors, 0, (double)ss.errors);
        cc_metric_set(g.stream_dropped, 0, (double)ss.dropped);
        cc_metric_set(g.stream_pending, PENDING_DIRTY, (double)ss.dirty);
        cc_metric_set(g.stream_pending, PENDING_IN_FLIGHT, (double)ss.inflight);
    }
    if (g.hist) {
        hist_stats hs = hist_get_stats(g.hist);
        cc_metric_set(g.hist_rows, HIST_WRITTEN, (double)hs.rows_written);
        cc_metric_set(g.hist_rows, HIST_LOST, (double)hs.rows_failed);
        cc_metric_set(g.hist_failures, 0, (double)hs.commit_failures);
    }
}

void stat_metrics_init(cc_metrics *r, stat_agents *agents, stat_links *links, stat_stats *stats,
                       hist *h, const char *data_dir)
{
    g.agents = agents;
    g.links = links;
    g.stats = stats;
    g.hist = h;
    g.data_dir = data_dir;
    g.agents_in = one(r, "contactcore_stat_agents_logged_in", CC_METRIC_GAUGE,
                      "Agents logged in on at least one connected interaction server");
    const char *link_labels[] = {"server", "address"};
    cc_metrics_add_collected(
        r,
        &(cc_metric_def){.name = "contactcore_stat_link_up",
                         .help = "1 while the link to the interaction server is registered",
                         .type = CC_METRIC_GAUGE,
                         .labels = link_labels,
                         .nlabels = 2},
        collect_links, NULL);
    g.events = one(r, "contactcore_stat_agent_states_total", CC_METRIC_COUNTER,
                   "EventPlaceAgentState applied (snapshots included)");
    g.computed = one(r, "contactcore_stat_statuses_computed_total", CC_METRIC_COUNTER,
                     "Agent statuses computed and encoded");
    const char *to[] = {"ixnserver", "subscribers"};
    g.sent = labelled(r, "contactcore_stat_statuses_sent_total",
                      "Statuses sent to interaction servers, and changed statuses handed to "
                      "the subscriptions",
                      "to", to, 2);
    g.asked = one(r, "contactcore_stat_reservations_asked_total", CC_METRIC_COUNTER,
                  "EventReserveAgent answered");
    const char *answers[] = {"granted", "refused"};
    g.answers = labelled(r, "contactcore_stat_reservation_answers_total",
                         "Reservations granted or refused", "outcome", answers, 2);
    const char *ends[] = {"released", "expired"};
    g.ended = labelled(r, "contactcore_stat_grants_ended_total",
                       "Grants ended without an offer: released by the interaction server, "
                       "or expired after reservation-timeout",
                       "how", ends, 2);
    if (stats) {
        g.engine_steps = one(r, "contactcore_stat_interaction_steps_total", CC_METRIC_COUNTER,
                             "EventInteractionReported applied to the statistics");
        g.engine_open = one(r, "contactcore_stat_statistics_open", CC_METRIC_GAUGE,
                            "Distinct statistics open by StatClients");
        g.engine_interactions = one(r, "contactcore_stat_interactions_known", CC_METRIC_GAUGE,
                                    "Unfinished interactions the statistics engine knows");
        g.engine_objects = one(r, "contactcore_stat_objects", CC_METRIC_GAUGE,
                               "Queues, agents and tenants the statistics engine keeps");
    }
    g.state_to_status = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_stat_state_to_status_seconds",
                            .help = "Time from an agent state's arrival to its statuses "
                                    "being queued",
                            .type = CC_METRIC_HISTOGRAM,
                            .bounds = apply_bounds,
                            .nbounds = sizeof apply_bounds / sizeof apply_bounds[0]});
    if (h) {
        g.hist_commit = cc_metrics_add(
            r, &(cc_metric_def){.name = "contactcore_stat_history_commit_duration_seconds",
                                .help = "Duration of the history's successful commits",
                                .type = CC_METRIC_HISTOGRAM,
                                .bounds = commit_bounds,
                                .nbounds = sizeof commit_bounds / sizeof commit_bounds[0]});
        const char *outcomes[] = {"written", "lost"};
        g.hist_rows =
            labelled(r, "contactcore_stat_history_rows_total",
                     "History rows committed, or lost to failed writes", "outcome", outcomes, 2);
        g.hist_failures = one(r, "contactcore_stat_history_commit_failures_total",
                              CC_METRIC_COUNTER, "History commits that failed");
    }
    cc_metrics_on_refresh(r, refresh, NULL);
}

int stat_metrics_health(void *user, const char **why)
{
    (void)user;
    if (g.data_dir && !g.hist) {
        *why = "the history store is not open";
        return CC_E_UNAVAILABLE;
    }
    return 0;
}

void stat_metrics_state_applied(uint64_t started_us)
{
    if (!g.state_to_status)
        return;
    uint64_t now = cc_mono_us();
    cc_metric_observe(g.state_to_status, 0,
                      now > started_us ? (double)(now - started_us) / 1e6 : 0.0);
}

void stat_metrics_hist_committed(const hist *h)
{
    if (!g.hist_commit || !h)
        return;
    hist_stats hs = hist_get_stats(h);
    if (hs.transactions == g.commits_seen)
        return;
    g.commits_seen = hs.transactions;
    cc_metric_observe(g.hist_commit, 0, (double)hs.last_commit_us / 1e6);
}

void stat_metrics_pair(cc_metrics *r, stat_ha *ha)
{
    g.ha = ha;
    g.pair_primary = one(r, "contactcore_stat_pair_primary", CC_METRIC_GAUGE,
                         "1 while this member of a statserver pair is primary");
    g.pair_epoch = one(r, "contactcore_stat_pair_epoch", CC_METRIC_GAUGE,
                       "The epoch of the member's current or last primary term");
    g.pair_renew_failures = one(r, "contactcore_stat_lease_renew_failures_total", CC_METRIC_COUNTER,
                                "Lease renewals that failed (NATS away or slow, or the key lost)");
    g.pair_withheld = one(r, "contactcore_stat_statuses_withheld_total", CC_METRIC_COUNTER,
                          "Statuses not sent to interaction servers while standby");
}

void stat_metrics_stream(cc_metrics *r, stat_stream *stream)
{
    g.stream = stream;
    g.stream_published = one(r, "contactcore_stat_stream_published_total", CC_METRIC_COUNTER,
                             "Status publishes to the NATS bucket acknowledged (puts and deletes)");
    g.stream_errors = one(r, "contactcore_stat_stream_publish_errors_total", CC_METRIC_COUNTER,
                          "Status publishes refused or unanswered, to be published again");
    g.stream_dropped = one(r, "contactcore_stat_stream_dropped_total", CC_METRIC_COUNTER,
                           "Changes not kept because the dirty set was full (every agent is "
                           "published again once it drains)");
    const char *labels[] = {"state"};
    const char *rows[] = {"dirty", "in_flight"};
    g.stream_pending =
        cc_metrics_add(r, &(cc_metric_def){.name = "contactcore_stat_stream_pending",
                                           .help = "Agents waiting to be published, "
                                                   "and publishes awaiting their ack",
                                           .type = CC_METRIC_GAUGE,
                                           .labels = labels,
                                           .nlabels = 1,
                                           .rows = rows,
                                           .nrows = 2});
    g.stream_lag = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_stat_stream_lag_seconds",
                            .help = "Time from a status change to the ack of its publish to NATS",
                            .type = CC_METRIC_HISTOGRAM,
                            .bounds = lag_bounds,
                            .nbounds = sizeof lag_bounds / sizeof lag_bounds[0]});
}

void stat_metrics_stream_lag(uint64_t lag_us)
{
    cc_metric_observe(g.stream_lag, 0, (double)lag_us / 1e6);
}

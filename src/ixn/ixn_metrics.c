#include "ixn/ixn_metrics.h"

#include <stdbool.h>
#include <stddef.h>

#include "common/clock.h"
#include "common/err.h"
#include "ixn/ixn_ixn.h"
#include "ixn/ixn_super.h"
#include "proto/supmsg.h"

/* The families written from the hot path, NULL until ixn_metrics_init. */
static struct {
    ixn_server *srv;
    cc_metric *agents, *engines, *state_to_status, *submit_to_invite, *commit, *top_epoch;
    uint64_t commits_seen; /* the store's transactions at the last commit timed */
} g;

/* Statuses come back within milliseconds on a healthy link. */
static const double status_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1,    0.25,  0.5,    1,     2.5,  5,     10};
/* An interaction may wait in its queue from a moment to hours. */
static const double wait_bounds[] = {0.01, 0.05, 0.1, 0.5, 1,   2,    5,    10,  20,
                                     30,   60,   120, 300, 600, 1800, 3600, 7200};
/* One SQLite transaction in WAL mode: well under a millisecond to tens of them. */
static const double commit_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                       0.025,  0.05,    0.1,    0.25,  0.5,    1};

static cc_metric *counter(cc_metrics *r, const char *name, const char *help, const uint64_t *src)
{
    cc_metric *m =
        cc_metrics_add(r, &(cc_metric_def){.name = name, .help = help, .type = CC_METRIC_COUNTER});
    cc_metric_bind(m, 0, src);
    return m;
}

static cc_metric *histogram(cc_metrics *r, const char *name, const char *help, const double *bounds,
                            size_t n)
{
    return cc_metrics_add(r, &(cc_metric_def){.name = name,
                                              .help = help,
                                              .type = CC_METRIC_HISTOGRAM,
                                              .bounds = bounds,
                                              .nbounds = n});
}

static void refresh(void *user)
{
    ixn_server *srv = user;
    cc_metric_set(g.agents, 0, (double)srv->agent_count);
    size_t engines = 0;
    for (const ixn_client *c = srv->subs; c; c = c->sub_next)
        engines++;
    cc_metric_set(g.engines, 0, (double)engines);
    cc_metric_set(g.top_epoch, 0, (double)srv->fence.top);
}

void ixn_metrics_init(cc_metrics *r, ixn_server *srv)
{
    g.srv = srv;
    ixn_stats *st = &srv->stats;
    g.agents = cc_metrics_add(r, &(cc_metric_def){.name = "contactcore_ixn_agents_logged_in",
                                                  .help = "Agents logged in (grace periods "
                                                          "included)",
                                                  .type = CC_METRIC_GAUGE});
    g.engines = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_ixn_reporting_engines",
                            .help = "Reporting engines subscribed to the agents' states",
                            .type = CC_METRIC_GAUGE});
    g.top_epoch = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_ixn_reporting_epoch",
                            .help = "The highest epoch of a connected primary reporting engine "
                                    "(0: no pair; -1: no primary connected)",
                            .type = CC_METRIC_GAUGE});
    counter(r, "contactcore_ixn_logins_total", "Agent logins accepted", &st->logins);
    counter(r, "contactcore_ixn_logouts_total", "Agent logouts", &st->logouts);
    counter(r, "contactcore_ixn_login_failures_total",
            "Logins answered 5: wrong password or unknown agent", &st->login_failures);
    counter(r, "contactcore_ixn_logins_delayed_total",
            "Logins that waited for the throttle before their password check", &st->login_delayed);
    counter(r, "contactcore_ixn_logins_locked_total", "Logins refused with 12 during a lockout",
            &st->login_locked);
    const char *scope_label[] = {"scope"};
    const char *scopes[] = {"agent", "address"};
    cc_metric *lockouts = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_ixn_login_lockouts_total",
                            .help = "Lockouts started, per agent or per peer address",
                            .type = CC_METRIC_COUNTER,
                            .labels = scope_label,
                            .nlabels = 1,
                            .rows = scopes,
                            .nrows = 2});
    cc_metric_bind(lockouts, 0, &srv->throttle_agents.stats.lockouts);
    cc_metric_bind(lockouts, 1, &srv->throttle_addrs.stats.lockouts);
    cc_metric *evicted = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_ixn_login_throttle_evicted_total",
                            .help = "Throttle entries dropped for a new key in a full table",
                            .type = CC_METRIC_COUNTER,
                            .labels = scope_label,
                            .nlabels = 1,
                            .rows = scopes,
                            .nrows = 2});
    cc_metric_bind(evicted, 0, &srv->throttle_agents.stats.evicted);
    cc_metric_bind(evicted, 1, &srv->throttle_addrs.stats.evicted);
    /* Supervisor actions: one row per action and result, all written from the start. */
    const char *sup_labels[] = {"action", "result"};
    const char *sup_rows[PROTO_SUP_ACTION_COUNT * 4];
    for (int a = 0; a < PROTO_SUP_ACTION_COUNT; a++) {
        sup_rows[a * 4] = sup_rows[a * 4 + 2] = proto_sup_action_name(a);
        sup_rows[a * 4 + 1] = "ok";
        sup_rows[a * 4 + 3] = "refused";
    }
    cc_metric *sup = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_ixn_supervisor_actions_total",
                            .help = "Supervisor requests audited, by action: done (ok) or "
                                    "refused with an error",
                            .type = CC_METRIC_COUNTER,
                            .labels = sup_labels,
                            .nlabels = 2,
                            .rows = sup_rows,
                            .nrows = PROTO_SUP_ACTION_COUNT * 2});
    const ixn_super_counts *sc = ixn_super_counts_of(srv);
    for (int a = 0; a < PROTO_SUP_ACTION_COUNT; a++) {
        cc_metric_bind(sup, (size_t)a * 2, &sc->ok[a]);
        cc_metric_bind(sup, (size_t)a * 2 + 1, &sc->refused[a]);
    }
    counter(r, "contactcore_ixn_takeovers_total",
            "Logins that resumed an agent inside its grace period", &st->takeovers);
    counter(r, "contactcore_ixn_agent_states_reported_total",
            "Agent states sent to the reporting engines (one per change, not per engine)",
            &st->events_published);
    const char *outcome_label[] = {"outcome"};
    const char *status_outcomes[] = {"forwarded", "dropped", "fenced", "repeated"};
    cc_metric *statuses = cc_metrics_add(
        r, &(cc_metric_def){
               .name = "contactcore_ixn_statuses_received_total",
               .help = "Statuses from reporting engines: forwarded to the desktop, "
                       "dropped (unreadable, agent not here), fenced (from a standby "
                       "or a replaced primary), or repeated (a new primary's copy of the status "
                       "the desktop has)",
               .type = CC_METRIC_COUNTER,
               .labels = outcome_label,
               .nlabels = 1,
               .rows = status_outcomes,
               .nrows = 4});
    cc_metric_bind(statuses, 0, &st->status_forwarded);
    cc_metric_bind(statuses, 1, &st->status_dropped);
    cc_metric_bind(statuses, 2, &st->status_fenced);
    cc_metric_bind(statuses, 3, &st->status_repeated);
    counter(r, "contactcore_ixn_reservations_asked_total",
            "EventReserveAgent sent: routing picked an agent for an interaction", &st->resv_asked);
    const char *answers[] = {"granted", "refused", "unmatched", "fenced"};
    cc_metric *resv = cc_metrics_add(
        r, &(cc_metric_def){.name = "contactcore_ixn_reservation_answers_total",
                            .help = "EventAgentReserved received: granted, refused, or matching "
                                    "no reservation (or unreadable), or from a fenced engine",
                            .type = CC_METRIC_COUNTER,
                            .labels = outcome_label,
                            .nlabels = 1,
                            .rows = answers,
                            .nrows = 4});
    cc_metric_bind(resv, 0, &st->resv_granted);
    cc_metric_bind(resv, 1, &st->resv_refused);
    cc_metric_bind(resv, 2, &st->resv_dropped);
    cc_metric_bind(resv, 3, &st->resv_fenced);
    counter(r, "contactcore_ixn_reservations_released_total",
            "Grants released unused (the agent or the interaction went meanwhile)",
            &st->resv_released);

    g.state_to_status = histogram(r, "contactcore_ixn_state_to_status_seconds",
                                  "Time from reporting an agent's new state to the first status "
                                  "for that version",
                                  status_bounds, sizeof status_bounds / sizeof status_bounds[0]);
    g.submit_to_invite = histogram(r, "contactcore_ixn_submit_to_invite_seconds",
                                   "Time from an interaction's submit to each offer of it",
                                   wait_bounds, sizeof wait_bounds / sizeof wait_bounds[0]);
    g.commit = histogram(r, "contactcore_ixn_store_commit_duration_seconds",
                         "Duration of the store's successful commits", commit_bounds,
                         sizeof commit_bounds / sizeof commit_bounds[0]);
    ixn_core_metrics(srv, r);
    cc_metrics_on_refresh(r, refresh, srv);
}

int ixn_metrics_health(void *user, const char **why)
{
    ixn_server *srv = user;
    if (!ixn_core_store_ready(srv)) {
        *why = "the store is not open";
        return CC_E_UNAVAILABLE;
    }
    if (!srv->subs) {
        *why = "no reporting engine is linked";
        return CC_E_UNAVAILABLE;
    }
    return 0;
}

void ixn_metrics_state_reported(ixn_agent *a)
{
    if (g.state_to_status)
        a->reported_us = cc_mono_us();
}

void ixn_metrics_status_received(ixn_agent *a, int64_t version)
{
    if (!g.state_to_status || !a->reported_us || version < a->version)
        return;
    uint64_t now = cc_mono_us();
    cc_metric_observe(g.state_to_status, 0,
                      now > a->reported_us ? (double)(now - a->reported_us) / 1e6 : 0.0);
    a->reported_us = 0;
}

void ixn_metrics_invited(int64_t created_us)
{
    if (!g.submit_to_invite)
        return;
    int64_t now = (int64_t)cc_wall_us();
    cc_metric_observe(g.submit_to_invite, 0,
                      now > created_us ? (double)(now - created_us) / 1e6 : 0.0);
}

void ixn_metrics_committed(const store *st)
{
    if (!g.commit || !st)
        return;
    store_stats ss;
    store_get_stats(st, &ss);
    /* An empty batch is no transaction and leaves last_commit_us as it was. */
    if (ss.transactions == g.commits_seen)
        return;
    g.commits_seen = ss.transactions;
    cc_metric_observe(g.commit, 0, (double)ss.last_commit_us / 1e6);
}

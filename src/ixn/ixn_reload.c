#include "ixn/ixn_reload.h"

#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "ixn/ixn_ixn.h"

#define SWAP(a, b)                                                                                 \
    do {                                                                                           \
        __typeof__(a) swap_tmp_ = (a);                                                             \
        (a) = (b);                                                                                 \
        (b) = swap_tmp_;                                                                           \
    } while (0)

static bool str_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Why next cannot be applied to the running server, or NULL. */
static const char *refusal(ixn_server *srv, const ixn_config *live, const ixn_config *next)
{
    if (strcmp(live->name, next->name) != 0)
        return "[server] name changed (the store belongs to the running name): restart instead";
    if (live->media.count != next->media.count)
        return "[server] media changed: restart instead";
    for (int i = 0; i < live->media.count; i++)
        if (strcmp(cc_media_name(&live->media, i), cc_media_name(&next->media, i)) != 0)
            return "[server] media changed: restart instead";
    /* The running queues, draining ones included: their interactions are of their media. */
    for (size_t i = 0; i < next->queue_count; i++) {
        const ixn_config_queue *nq = &next->queues[i];
        int media = ixn_core_queue_media(srv, nq->tenant, nq->name);
        if (media >= 0 && media != nq->media)
            return "a queue moved to another media: restart instead";
    }
    return NULL;
}

/* Whether two [clients] sections say the same. */
static bool clients_same(const cc_creds *a, const cc_creds *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const cc_cred *x = &a->v[i], *y = &b->v[i];
        if (strcmp(x->name, y->name) != 0 || x->type != y->type || strcmp(x->hash, y->hash) != 0 ||
            x->tenants.all != y->tenants.all || x->tenants.count != y->tenants.count)
            return false;
        for (size_t t = 0; t < x->tenants.count; t++)
            if (strcmp(x->tenants.names[t], y->tenants.names[t]) != 0)
                return false;
    }
    return true;
}

/* Keys read only at start: a change is logged, and waits for a restart. */
static void warn_kept(const ixn_config *live, const ixn_config *next)
{
    struct {
        const char *key;
        bool same;
    } keys[] = {
        {"[server] listen", str_same(live->listen, next->listen)},
        {"[server] http", str_same(live->http, next->http)},
        {"[server] data-dir", str_same(live->data_dir, next->data_dir)},
        {"[server] store-kind", live->store_postgres == next->store_postgres},
        {"[server] store-dsn", str_same(live->store_dsn, next->store_dsn)},
        {"[server] store-owner-timeout",
         live->store_owner_timeout_s == next->store_owner_timeout_s},
        {"[server] port-file", str_same(live->port_file, next->port_file)},
        {"[server] allowed-origins", str_same(live->allowed_origins, next->allowed_origins)},
        {"[server] idle-timeout", live->idle_timeout_s == next->idle_timeout_s},
        {"[server] invite-timeout", live->invite_timeout_s == next->invite_timeout_s},
        {"[server] max-ended", live->max_ended == next->max_ended},
        {"[server] max-queue", live->max_queue == next->max_queue},
        {"[server] metrics-token",
         strcmp(live->limits.metrics_token, next->limits.metrics_token) == 0},
        {"[tokens] AgentApplication", str_same(live->token_agent, next->token_agent)},
        {"[tokens] MediaServer", str_same(live->token_media, next->token_media)},
        {"[tokens] ReportingEngine", str_same(live->token_reporting, next->token_reporting)},
        {"[clients]", clients_same(&live->clients, &next->clients)},
        {"[server] audit-log", str_same(live->audit_log, next->audit_log)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!keys[i].same)
            LOG_WARN("event=config_reload_kept key=%s why=\"read only at start: restart to "
                     "apply\"",
                     LOGQ(keys[i].key));
}

int ixn_reload(ixn_server *srv)
{
    ixn_config *live = srv->cfg;
    ixn_config next;
    LOG_INFO("event=config_reload path=%s", LOGQ(live->path));
    int rc = ixn_config_load(live->path, &next);
    if (rc) {
        /* The errors, with their lines, went to stderr as the reader found them. */
        LOG_ERROR("event=config_reload_failed path=%s error=%s why=\"errors above; nothing "
                  "changed\"",
                  LOGQ(live->path), cc_err_name(rc));
        ixn_config_free(&next);
        return rc;
    }
    const char *why = refusal(srv, live, &next);
    if (why) {
        LOG_ERROR("event=config_reload_failed path=%s why=%s", LOGQ(live->path), LOGQ(why));
        ixn_config_free(&next);
        return CC_E_CONFIG;
    }
    warn_kept(live, &next);
    /* What a reload applies moves into the live configuration; next keeps the old parts,
     * which the agents' reload compares with and which are freed afterwards. */
    SWAP(live->agents, next.agents);
    SWAP(live->agent_count, next.agent_count);
    SWAP(live->dict, next.dict);
    SWAP(live->skills, next.skills);
    SWAP(live->targets, next.targets);
    SWAP(live->queue_options, next.queue_options);
    SWAP(live->queues, next.queues);
    SWAP(live->queue_count, next.queue_count);
    for (int m = 0; m < CC_MEDIA_MAX; m++)
        SWAP(live->after_work_s[m], next.after_work_s[m]);
    for (size_t i = 0; i < IXN_REASONS_MAX; i++)
        SWAP(live->reasons[i], next.reasons[i]);
    SWAP(live->reason_count, next.reason_count);
    ixn_agents_reload(srv, &next);
    ixn_config_free(&next);
    LOG_INFO("event=config_reloaded path=%s agents=%zu queues=%zu reasons=%zu", LOGQ(live->path),
             live->agent_count, live->queue_count, live->reason_count);
    return 0;
}

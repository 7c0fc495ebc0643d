/* The ixnserver configuration file (inih format): [server], [tokens], [clients], [agents],
 * [queues] and [after-work]. Every
 * key is documented with its default in docs/ixnserver.md. */
#ifndef IXN_CONFIG_H
#define IXN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/map.h"
#include "common/media.h"
#include "net/creds.h"
#include "net/session.h"
#include "net/tls.h"
#include "proto/msg.h"
#include "rules/target.h"

/** One queue of [queues]: TENANT/QUEUE = MEDIA. */
typedef struct ixn_config_queue {
    char *tenant;
    char *name;
    int media; /* id in ixn_config.media */
} ixn_config_queue;

/** Most not-ready reason codes a [reasons] section may list. */
#define IXN_REASONS_MAX 256

/** One entry of [reasons]: a not-ready reason code offered to the web desktop. */
typedef struct ixn_config_reason {
    int64_t code;
    char *description;
} ixn_config_reason;

/** The whole configuration of one ixnserver. */
typedef struct ixn_config {
    char *path;               /* the file it came from, for messages */
    char *name;               /* [server] name: serverName on the wire */
    char *listen;             /* [server] listen: HOST:PORT */
    char *port_file;          /* [server] port-file: NULL when absent */
    char *http;               /* [server] http: HOST:PORT of the web desktop and /ws; NULL = none */
    char *allowed_origins;    /* [server] allowed-origins: NULL = the daemon's own only */
    cc_media_table media;     /* [server] media, in the order given */
    unsigned idle_timeout_s;  /* [server] idle-timeout (30) */
    size_t max_line;          /* [server] max-line (65536) */
    unsigned grace_period_s;  /* [server] grace-period (0) */
    unsigned max_connections; /* [server] max-connections (100000, 0 = no limit) */
    unsigned max_agents;      /* [server] max-agents (100000, 0 = no limit) */
    size_t out_limit;         /* [server] out-limit (8 MiB) */
    size_t out_limit_reporting; /* [server] out-limit-reporting (256 MiB) */
    /* login throttling (docs/operations.md "Logins"): per agent and per peer address */
    unsigned login_free_failures;         /* [server] login-free-failures (3) */
    unsigned login_lockout_failures;      /* [server] login-lockout-failures (10, 0 = never) */
    unsigned login_addr_free_failures;    /* [server] login-address-free-failures (10) */
    unsigned login_addr_lockout_failures; /* [server] login-address-lockout-failures (100) */
    unsigned login_delay_ms;              /* [server] login-delay-ms (500, 0 = no delays) */
    unsigned login_delay_max_ms;          /* [server] login-delay-max-ms (8000) */
    unsigned login_lockout_s;             /* [server] login-lockout-seconds (300) */
    unsigned login_forget_s;              /* [server] login-forget-seconds (900) */
    size_t login_track_max;               /* [server] login-track-max (10000 per table) */
    cc_out_limit out_base;                /* [server] out-limit as given ("1m 256k 10") */
    cc_server_conf limits; /* register-timeout, max-memory, out-limit-CLASS, http-* */
    tls_conf tls;          /* [server] tls-cert, tls-key, tls-ca, insecure */
    /* [tokens]: NULL = client type not accepted, "" = no token required */
    char *token_agent;
    char *token_media;
    char *token_reporting;
    /* [clients]: one entry per named client, its type, tenants and secret's hash */
    cc_creds clients;
    char *audit_log; /* [server] audit-log: the supervisors' audit file; NULL = stderr only */
    /* [agents]: ixn_config_key(tenant, agentId) -> crypt(3) hash (char *, owned) */
    cc_map agents;
    size_t agent_count;
    /* routing (docs/routing.md): the skill names of the file, [skills] (agent key ->
     * target_skills), [targets] (queue key -> target) and [queue-options] (queue key ->
     * target_queue_options), every value owned */
    target_dict *dict;
    cc_map skills;
    cc_map targets;
    cc_map queue_options;
    /* the store's back end (docs/store.md) */
    bool store_postgres;            /* [server] store-kind = postgres (default sqlite) */
    char *store_dsn;                /* [server] store-dsn (may hold a password: never logged) */
    unsigned store_owner_timeout_s; /* [server] store-owner-timeout (5) */

    /* interactions (protocol section 7) */
    char *data_dir;            /* [server] data-dir: NULL = nothing is stored */
    unsigned invite_timeout_s; /* [server] invite-timeout (15) */
    unsigned keep_ended_s;     /* [server] keep-ended (86400) */
    size_t max_user_data;      /* [server] max-user-data (16384) */
    size_t max_queue;          /* [server] max-queue (100000) */
    size_t max_ended;          /* [server] max-ended (1000): ended ones kept in memory */
    ixn_config_queue *queues;  /* [queues], in file order */
    size_t queue_count;
    unsigned after_work_s[CC_MEDIA_MAX];        /* [after-work] per media id (0 = none) */
    ixn_config_reason reasons[IXN_REASONS_MAX]; /* [reasons] CODE = Description, file order */
    size_t reason_count;
} ixn_config;

/** Size of a buffer for ixn_config_key, with its NUL: a tenant whose every byte is
 * escaped (two bytes each), the slash and a name. */
#define IXN_KEY_MAX (3 * PROTO_ID_MAX + 2)

/**
 * Writes the key of an agent (tenant, agentId) or a queue (tenant, queue name) into out,
 * IXN_KEY_MAX bytes, and returns its length. The key is "TENANT/NAME" with every '\' and
 * '/' inside the tenant written "\\" and "\/": the first '/' without a '\' before it ends
 * the tenant, so two different pairs never share a key although identifiers may contain
 * '/' (tenant "a/b" with agent "c" is "a\/b/c", tenant "a" with agent "b/c" is "a/b/c").
 * A tenant without '/' and '\' gives the plain "TENANT/NAME" of earlier versions. The
 * [agents] and [queues] keys of the file, the agent column of the store and the logs use
 * this form. tenant and name are at most PROTO_ID_MAX bytes.
 */
size_t ixn_config_key(char *out, const char *tenant, const char *name);

/**
 * Splits a key of ixn_config_key's form: the tenant, unescaped, into tenant (cap bytes)
 * and *name pointing at the rest of key. Returns false when key has no '/' that ends the
 * tenant, a '\' in the tenant is not followed by '\' or '/', or the tenant does not fit.
 */
bool ixn_config_split_key(const char *key, char *tenant, size_t cap, const char **name);

/**
 * Reads and validates path into cfg. Every error is printed to stderr as
 * "FILE:LINE: [section] key: message"; unknown sections and keys only warn. Returns 0, or
 * CC_E_CONFIG after at least one error (cfg must still be freed), or CC_E_IO when the
 * file cannot be opened.
 */
int ixn_config_load(const char *path, ixn_config *cfg);

/** The skills of an agent (its ixn_config_key), or NULL when [skills] gives none. */
const target_skills *ixn_config_skills(const ixn_config *cfg, const char *agent_key);

/** The target of a queue, or NULL when [targets] gives none (the target "any"). */
const target *ixn_config_target(const ixn_config *cfg, const char *tenant, const char *queue);

/** The [queue-options] of a queue, or NULL when none. */
const target_queue_options *ixn_config_queue_options(const ixn_config *cfg, const char *tenant,
                                                     const char *queue);

/** Frees everything a loaded (or failed) configuration holds. */
void ixn_config_free(ixn_config *cfg);

#endif

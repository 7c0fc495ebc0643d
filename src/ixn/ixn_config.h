/* The ixnserver configuration file (inih format): [server], [tokens], [agents], [queues]
 * and [after-work]. Every
 * key is documented with its default in docs/ixnserver.md. */
#ifndef IXN_CONFIG_H
#define IXN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/map.h"
#include "common/media.h"
#include "net/session.h"

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
    cc_out_limit out_base;      /* [server] out-limit as given ("8m 2m 60") */
    cc_server_conf limits;      /* register-timeout, max-memory, out-limit-CLASS, http-* */
    /* [tokens]: NULL = client type not accepted, "" = no token required */
    char *token_agent;
    char *token_media;
    char *token_reporting;
    /* [agents]: "tenant/agentId" -> crypt(3) hash (char *, owned) */
    cc_map agents;
    size_t agent_count;
    /* interactions (protocol section 7) */
    char *data_dir;            /* [server] data-dir: NULL = nothing is stored */
    unsigned invite_timeout_s; /* [server] invite-timeout (15) */
    unsigned keep_ended_s;     /* [server] keep-ended (86400) */
    size_t max_user_data;      /* [server] max-user-data (16384) */
    size_t max_queue;          /* [server] max-queue (100000) */
    ixn_config_queue *queues;  /* [queues], in file order */
    size_t queue_count;
    unsigned after_work_s[CC_MEDIA_MAX];        /* [after-work] per media id (0 = none) */
    ixn_config_reason reasons[IXN_REASONS_MAX]; /* [reasons] CODE = Description, file order */
    size_t reason_count;
} ixn_config;

/**
 * Reads and validates path into cfg. Every error is printed to stderr as
 * "FILE:LINE: [section] key: message"; unknown sections and keys only warn. Returns 0, or
 * CC_E_CONFIG after at least one error (cfg must still be freed), or CC_E_IO when the
 * file cannot be opened.
 */
int ixn_config_load(const char *path, ixn_config *cfg);

/** Frees everything a loaded (or failed) configuration holds. */
void ixn_config_free(ixn_config *cfg);

#endif

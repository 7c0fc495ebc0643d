/* The statserver configuration file (inih format): [server], [clients], [nats] and one
 * [ixn:NAME] section per interaction server. Every key is documented with its default in
 * docs/statserver.md. */
#ifndef STAT_CONFIG_H
#define STAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "net/creds.h"
#include "net/session.h"
#include "net/tls.h"

/** At most this many [ixn:NAME] sections. An agent keeps state only for the servers it
 * is logged in to, so the bound only keeps per-link tables (a few bytes each) small. */
#define STAT_LINKS_MAX 4096

/** At most this many names in [server] tenants. */
#define STAT_TENANTS_MAX 1024

/** One [ixn:NAME] section: an interaction server to connect to. */
typedef struct stat_ixn_config {
    char *name;        /* NAME of the section header: the name in RequestServerList */
    char *address;     /* address: HOST:PORT */
    char *token;       /* token: the secret presented to the interaction server ("" = none) */
    char *client_name; /* client-name: the clientName presented; NULL = [server] name */
    bool tls;          /* tls (no; yes when tls-ca is given): the link runs over TLS */
    char *tls_ca;      /* tls-ca: the CA the server's certificate must chain to (NULL: the
                          system's CAs) */
    char *tls_cert;    /* tls-cert, tls-key: the certificate the link presents (NULL: none) */
    char *tls_key;
} stat_ixn_config;

/** The [nats] section: the hot-standby pair's lease (docs/ha.md). Absent section: the
 * statserver runs alone and is always primary. */
typedef struct stat_nats_config {
    bool on;           /* the section was given */
    char *url;         /* url: nats://HOST:PORT[,nats://…] (required in the section) */
    char *bucket;      /* bucket ("cc_leases"): the JetStream KV bucket of the lease */
    char *key;         /* key ("stat"): the pair's key in the bucket */
    char *member;      /* member ([server] name): who holds the lease, as written in it */
    unsigned lease_ms; /* lease-ms (1000): the lease's lifetime without a renewal */
    /* The status stream (docs/ha.md, "Status stream on NATS"): */
    bool stream;              /* status-stream (yes): the primary mirrors statuses to NATS */
    char *status_bucket;      /* status-bucket ("cc_status"): the KV bucket of the statuses */
    unsigned status_inflight; /* status-in-flight (4096): publishes awaiting their ack */
    unsigned status_ack_ms;   /* status-ack-ms (2000): a publish unanswered this long failed */
} stat_nats_config;

/** The whole configuration of one statserver. */
typedef struct stat_config {
    char *path;                     /* the file it came from, for messages */
    char *name;                     /* [server] name ("stat"): serverName and clientName */
    char *listen;                   /* [server] listen ("127.0.0.1:7100") */
    char *port_file;                /* [server] port-file: NULL when absent */
    char *http;                     /* [server] http: HOST:PORT of pages and /ws; NULL = none */
    char *allowed_origins;          /* [server] allowed-origins: NULL = the daemon's own only */
    char *token;                    /* [server] token ("" = none): what StatClients present;
                                       NULL = none accepted ([clients] without token) */
    bool token_given;               /* [server] token was in the file (deprecated) */
    cc_creds clients;               /* [clients]: StatClients by name, with their tenants */
    char *rules_path;               /* [server] rules, resolved against the config's directory;
                                       NULL = no file, every agent gets Default */
    bool count_after_work;          /* [server] count-after-work (no) */
    unsigned idle_timeout_s;        /* [server] idle-timeout (30) */
    unsigned reservation_timeout_s; /* [server] reservation-timeout (5): an unused grant ends */
    size_t max_line;                /* [server] max-line (65536) */
    size_t out_limit;               /* [server] out-limit (16 MiB): StatClient output queue */
    size_t link_out_limit;    /* [server] link-out-limit (64 MiB): queue towards an ixnserver */
    size_t max_agents;        /* [server] max-agents (1000000): merged agents kept */
    unsigned max_connections; /* [server] max-connections (100000, 0 = no limit) */
    char *timezone;           /* [server] timezone ("UTC"): where the day profile's day begins */
    unsigned sl_threshold_s;  /* [server] service-level-threshold (20): ServiceLevel's T */
    unsigned sl_target;       /* [server] service-level-target (80): percent, for wallboards */
    size_t max_statistics;    /* [server] max-statistics (10000): open per StatClient */
    char *data_dir;           /* [server] data-dir: the history store's directory; NULL = none */
    unsigned history_days;    /* [server] history-days (90): how long history is kept */
    unsigned sliding_keep_s;  /* [server] sliding-keep (900): seconds of records kept for
                                 sliding windows opened later */
    cc_out_limit out_base;    /* [server] out-limit as given ("16m 4m 60") */
    cc_server_conf limits;    /* register-timeout, max-memory, out-limit-web, http-* */
    tls_conf tls;             /* [server] tls-cert, tls-key, tls-ca, insecure */
    stat_nats_config nats;    /* [nats] */
    char **tenants;           /* [server] tenants: the tenants reported; NULL = all */
    size_t ntenants;
    uint32_t part_index; /* [server] partition I/N ("0/1" = every agent) */
    uint32_t part_count;
    stat_ixn_config *ixns; /* [ixn:NAME] sections, in file order */
    int ixn_count;
} stat_config;

/**
 * Reads and validates path into cfg. Every error is printed to stderr as
 * "statserver: error: FILE:LINE: [section] key: message"; unknown keys only warn.
 * Returns 0, or CC_E_CONFIG after at least one error, or CC_E_IO when the file cannot be
 * opened. cfg must be freed with stat_config_free in every case.
 */
int stat_config_load(const char *path, stat_config *cfg);

/** Frees everything a loaded (or failed) configuration holds. */
void stat_config_free(stat_config *cfg);

#endif

#include "stat/stat_config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/conf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/partition.h"
#include "net/web.h"
#include "proto/msg.h"

#define IXN_PREFIX "ixn:"

/* Parser state handed to the shared reader's handler. */
typedef struct cfg_state {
    stat_config *cfg;
    cc_conf conf;
    char *rules_raw; /* the rules value as written, resolved after parsing */
} cfg_state;

/* A zone name of the TZ database ("UTC", "Europe/Paris"): letters, digits and _+-/ in
 * parts that are not "." or "..", with a file in the zone directory, so that a typing
 * mistake is an error at start rather than a silent UTC. */
static bool timezone_valid(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 64 || v[0] == '/' || strstr(v, ".."))
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '+' || *p == '-' || *p == '/'))
            return false;
    if (strcmp(v, "UTC") == 0)
        return true;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", v);
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* [server] tenants: names separated by commas, spaces around them ignored, each an
 * identifier (1..PROTO_ID_MAX bytes, no control character), none twice. */
static void set_tenants(cfg_state *st, const char *key, const char *v)
{
    stat_config *cfg = st->cfg;
    for (size_t i = 0; i < cfg->ntenants; i++)
        free(cfg->tenants[i]);
    free(cfg->tenants);
    cfg->tenants = NULL;
    cfg->ntenants = 0;
    const char *p = v;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        bool ok = n >= 1 && n <= PROTO_ID_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)p[i] >= 0x20 && p[i] != 0x7f;
        if (!ok) {
            cc_conf_error(&st->conf, "server", key,
                          "a tenant must be 1..%d bytes without control characters", PROTO_ID_MAX);
            return;
        }
        for (size_t i = 0; i < cfg->ntenants; i++)
            if (strlen(cfg->tenants[i]) == n && memcmp(cfg->tenants[i], p, n) == 0) {
                cc_conf_error(&st->conf, "server", key, "tenant \"%.*s\" is named twice", (int)n,
                              p);
                return;
            }
        if (cfg->ntenants == STAT_TENANTS_MAX) {
            cc_conf_error(&st->conf, "server", key, "more than %d tenants", STAT_TENANTS_MAX);
            return;
        }
        cfg->tenants = xrealloc(cfg->tenants, (cfg->ntenants + 1) * sizeof *cfg->tenants);
        char *name = xmalloc(n + 1);
        memcpy(name, p, n);
        name[n] = '\0';
        cfg->tenants[cfg->ntenants++] = name;
        if (!end)
            return;
        p = end + 1;
    }
}

static void server_key(cfg_state *st, const char *key, const char *v)
{
    stat_config *cfg = st->cfg;
    uint64_t n;
    const cc_web_port_keys ports = {&cfg->listen, &cfg->http, &cfg->allowed_origins,
                                    &cfg->port_file};
    if (cc_web_port_key(&st->conf, key, v, &ports)) {
        /* listen, http, allowed-origins or port-file: handled there */
    } else if (strcmp(key, "name") == 0) {
        cc_conf_set_text(&st->conf, "server", key, v, 1, PROTO_ID_MAX, &cfg->name);
    } else if (strcmp(key, "token") == 0) {
        cc_conf_set_text(&st->conf, "server", key, v, 0, PROTO_TEXT_MAX, &cfg->token);
        cfg->token_given = true;
        LOG_WARN("event=config_deprecated path=%s line=%d section=server key=token "
                 "replacement=clients why=\"one token for every tenant: give each StatClient "
                 "a [clients] entry\"",
                 LOGQ(cfg->path), st->conf.line);
    } else if (strcmp(key, "rules") == 0) {
        cc_conf_set_text(&st->conf, "server", key, v, 1, SIZE_MAX, &st->rules_raw);
    } else if (strcmp(key, "count-after-work") == 0) {
        if (!cc_conf_bool(v, &cfg->count_after_work))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not yes or no", v);
    } else if (strcmp(key, "idle-timeout") == 0) {
        if (!cc_conf_num(v, 0, 86400, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number of seconds 0..86400",
                          v);
        else
            cfg->idle_timeout_s = (unsigned)n;
    } else if (strcmp(key, "reservation-timeout") == 0) {
        if (!cc_conf_num(v, 1, 3600, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number of seconds 1..3600", v);
        else
            cfg->reservation_timeout_s = (unsigned)n;
    } else if (strcmp(key, "max-line") == 0) {
        if (!cc_conf_num(v, 1024, 16u << 20, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number 1024..16777216", v);
        else
            cfg->max_line = (size_t)n;
    } else if (strcmp(key, "out-limit") == 0) {
        if (!cc_out_limit_parse(v, 65536, (size_t)4 << 30, &cfg->out_base))
            cc_conf_error(&st->conf, "server", key,
                          "\"%s\" is not HARD or HARD SOFT SECONDS (bytes with k/m/g, HARD "
                          "64k..4g, SOFT 0..HARD, SECONDS 0..86400)",
                          v);
        else
            cfg->out_limit = cfg->out_base.hard;
    } else if (strcmp(key, "link-out-limit") == 0) {
        if (!cc_conf_num(v, 65536, (uint64_t)4 << 30, &n))
            cc_conf_error(&st->conf, "server", key,
                          "\"%s\" is not a number of bytes 65536..4294967296", v);
        else
            cfg->link_out_limit = (size_t)n;
    } else if (strcmp(key, "max-connections") == 0) {
        if (!cc_conf_num(v, 0, 10000000, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number 0..10000000", v);
        else
            cfg->max_connections = (unsigned)n;
    } else if (cc_server_conf_key(&st->conf, key, v, &cfg->limits, 1u << CC_CLASS_WEB)) {
        /* register-timeout, max-memory, out-limit-web, http-*: handled there */
    } else if (strcmp(key, "timezone") == 0) {
        if (!timezone_valid(v))
            cc_conf_error(&st->conf, "server", key,
                          "\"%s\" is not a time zone of the TZ database (such as Europe/Paris)", v);
        else
            cc_conf_set_text(&st->conf, "server", key, v, 1, 64, &cfg->timezone);
    } else if (strcmp(key, "service-level-threshold") == 0) {
        if (!cc_conf_num(v, 0, 86400, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number of seconds 0..86400",
                          v);
        else
            cfg->sl_threshold_s = (unsigned)n;
    } else if (strcmp(key, "service-level-target") == 0) {
        if (!cc_conf_num(v, 0, 100, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a percentage 0..100", v);
        else
            cfg->sl_target = (unsigned)n;
    } else if (strcmp(key, "max-statistics") == 0) {
        if (!cc_conf_num(v, 1, 10000000, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number 1..10000000", v);
        else
            cfg->max_statistics = (size_t)n;
    } else if (strcmp(key, "data-dir") == 0) {
        cc_conf_set_text(&st->conf, "server", key, v, 1, 4000, &cfg->data_dir);
    } else if (strcmp(key, "history-days") == 0) {
        if (!cc_conf_num(v, 1, 3660, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number of days 1..3660", v);
        else
            cfg->history_days = (unsigned)n;
    } else if (tls_conf_key(&st->conf, key, v, &cfg->tls)) {
        /* tls-cert, tls-key, tls-ca, insecure: handled there */
    } else if (strcmp(key, "sliding-keep") == 0) {
        if (!cc_conf_num(v, 0, 86400, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number of seconds 0..86400",
                          v);
        else
            cfg->sliding_keep_s = (unsigned)n;
    } else if (strcmp(key, "tenants") == 0) {
        set_tenants(st, key, v);
    } else if (strcmp(key, "partition") == 0) {
        if (!cc_partition_parse(v, &cfg->part_index, &cfg->part_count))
            cc_conf_error(&st->conf, "server", key,
                          "\"%s\" is not I/N with 0 <= I < N and 1 <= N <= %d", v,
                          CC_PARTITION_COUNT_MAX);
    } else if (strcmp(key, "max-agents") == 0) {
        if (!cc_conf_num(v, 1, 100000000, &n))
            cc_conf_error(&st->conf, "server", key, "\"%s\" is not a number 1..100000000", v);
        else
            cfg->max_agents = (size_t)n;
    } else {
        cc_conf_warn(&st->conf, "server", key, "unknown key ignored");
    }
}

static stat_ixn_config *find_ixn(stat_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->ixn_count; i++)
        if (strcmp(cfg->ixns[i].name, name) == 0)
            return &cfg->ixns[i];
    return NULL;
}

static void ixn_key(cfg_state *st, const char *section, const char *name, const char *key,
                    const char *v)
{
    stat_config *cfg = st->cfg;
    stat_ixn_config *ix = find_ixn(cfg, name);
    if (!ix) {
        if (!*name || strlen(name) > PROTO_ID_MAX) {
            cc_conf_error(&st->conf, section, key, "the server name must be 1..%d bytes",
                          PROTO_ID_MAX);
            return;
        }
        if (cfg->ixn_count >= STAT_LINKS_MAX) {
            cc_conf_error(&st->conf, section, key, "more than %d [ixn:*] sections", STAT_LINKS_MAX);
            return;
        }
        cfg->ixns = xrealloc(cfg->ixns, ((size_t)cfg->ixn_count + 1) * sizeof *cfg->ixns);
        ix = &cfg->ixns[cfg->ixn_count++];
        memset(ix, 0, sizeof *ix);
        ix->name = xstrdup(name);
        ix->token = xstrdup("");
    }
    if (strcmp(key, "address") == 0) {
        cc_conf_set_hostport_list(&st->conf, section, key, v, &ix->address);
    } else if (strcmp(key, "token") == 0) {
        cc_conf_set_text(&st->conf, section, key, v, 0, PROTO_TEXT_MAX, &ix->token);
    } else if (strcmp(key, "tls") == 0) {
        if (!cc_conf_bool(v, &ix->tls))
            cc_conf_error(&st->conf, section, key, "\"%s\" is not yes or no", v);
    } else if (strcmp(key, "tls-ca") == 0) {
        cc_conf_set_text(&st->conf, section, key, v, 1, 4000, &ix->tls_ca);
    } else if (strcmp(key, "tls-cert") == 0) {
        cc_conf_set_text(&st->conf, section, key, v, 1, 4000, &ix->tls_cert);
    } else if (strcmp(key, "tls-key") == 0) {
        cc_conf_set_text(&st->conf, section, key, v, 1, 4000, &ix->tls_key);
    } else if (strcmp(key, "client-name") == 0) {
        cc_conf_set_text(&st->conf, section, key, v, 1, PROTO_ID_MAX, &ix->client_name);
    } else {
        cc_conf_warn(&st->conf, section, key, "unknown key ignored");
    }
}

/* [clients] NAME = StatClient, TENANTS, HASH (net/creds.h). */
static void client_key(cfg_state *st, const char *key, const char *v)
{
    char why[256];
    if (!cc_creds_add(&st->cfg->clients, key, v, CC_CLIENT_STAT, why, sizeof why))
        cc_conf_error(&st->conf, "clients", key, "%s", why);
}

/* NATS names: bucket names take [A-Za-z0-9_-], keys also '.', '/' and '='. */
static bool nats_name_ok(const char *v, bool key)
{
    if (!*v || strlen(v) > 200)
        return false;
    for (const char *p = v; *p; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
                  (key && (ch == '.' || ch == '/' || ch == '='));
        if (!ok)
            return false;
    }
    return !key || (v[0] != '.' && v[strlen(v) - 1] != '.');
}

static void nats_key(cfg_state *st, const char *key, const char *v)
{
    stat_nats_config *n = &st->cfg->nats;
    uint64_t num;
    n->on = true;
    if (strcmp(key, "url") == 0) {
        cc_conf_set_text(&st->conf, "nats", key, v, 1, 4000, &n->url);
    } else if (strcmp(key, "bucket") == 0) {
        if (!nats_name_ok(v, false))
            cc_conf_error(&st->conf, "nats", key,
                          "\"%s\" is not a bucket name (letters, digits, _ and -)", v);
        else
            cc_conf_set_str(&n->bucket, v);
    } else if (strcmp(key, "key") == 0) {
        if (!nats_name_ok(v, true))
            cc_conf_error(&st->conf, "nats", key,
                          "\"%s\" is not a key name (letters, digits, _ - / = and inner dots)", v);
        else
            cc_conf_set_str(&n->key, v);
    } else if (strcmp(key, "member") == 0) {
        cc_conf_set_text(&st->conf, "nats", key, v, 1, PROTO_ID_MAX, &n->member);
    } else if (strcmp(key, "lease-ms") == 0) {
        if (!cc_conf_num(v, 200, 60000, &num))
            cc_conf_error(&st->conf, "nats", key, "\"%s\" is not a number of ms 200..60000", v);
        else
            n->lease_ms = (unsigned)num;
    } else if (strcmp(key, "status-stream") == 0) {
        if (!cc_conf_bool(v, &n->stream))
            cc_conf_error(&st->conf, "nats", key, "\"%s\" is not yes or no", v);
    } else if (strcmp(key, "status-bucket") == 0) {
        if (!nats_name_ok(v, false))
            cc_conf_error(&st->conf, "nats", key,
                          "\"%s\" is not a bucket name (letters, digits, _ and -)", v);
        else
            cc_conf_set_str(&n->status_bucket, v);
    } else if (strcmp(key, "status-in-flight") == 0) {
        if (!cc_conf_num(v, 1, 65536, &num))
            cc_conf_error(&st->conf, "nats", key, "\"%s\" is not a number 1..65536", v);
        else
            n->status_inflight = (unsigned)num;
    } else if (strcmp(key, "status-ack-ms") == 0) {
        if (!cc_conf_num(v, 100, 60000, &num))
            cc_conf_error(&st->conf, "nats", key, "\"%s\" is not a number of ms 100..60000", v);
        else
            n->status_ack_ms = (unsigned)num;
    } else {
        cc_conf_warn(&st->conf, "nats", key, "unknown key ignored");
    }
}

static void on_entry(cc_conf *c, const char *section, const char *key, const char *value)
{
    cfg_state *st = c->user;
    if (strcmp(section, "server") == 0)
        server_key(st, key, value);
    else if (strcmp(section, "clients") == 0)
        client_key(st, key, value);
    else if (strcmp(section, "nats") == 0)
        nats_key(st, key, value);
    else if (strncmp(section, IXN_PREFIX, strlen(IXN_PREFIX)) == 0)
        ixn_key(st, section, section + strlen(IXN_PREFIX), key, value);
    else
        cc_conf_warn(&st->conf, section, key, "unknown section ignored");
}

/* The rules file is named relative to the configuration file's directory, so a config
 * and its rules can move together. */
static char *resolve_relative(const char *config_path, const char *file)
{
    if (file[0] == '/')
        return xstrdup(file);
    const char *slash = strrchr(config_path, '/');
    if (!slash)
        return xstrdup(file);
    size_t dlen = (size_t)(slash - config_path) + 1;
    size_t flen = strlen(file);
    char *out = xmalloc(dlen + flen + 1);
    memcpy(out, config_path, dlen);
    memcpy(out + dlen, file, flen + 1);
    return out;
}

static void set_defaults(stat_config *cfg, const char *path)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = xstrdup(path);
    cfg->name = xstrdup("stat");
    cfg->part_count = 1;
    cfg->listen = xstrdup("127.0.0.1:7100");
    cfg->token = xstrdup("");
    cfg->idle_timeout_s = 30;
    cfg->reservation_timeout_s = 5;
    cfg->max_line = 65536;
    cfg->out_limit = (size_t)16 << 20;
    cfg->out_base = (cc_out_limit){(size_t)16 << 20, (size_t)4 << 20, 60};
    cfg->max_connections = 100000;
    cc_server_conf_defaults(&cfg->limits);
    cfg->link_out_limit = (size_t)64 << 20;
    cfg->max_agents = 1000000;
    cfg->timezone = xstrdup("UTC");
    cfg->sl_threshold_s = 20;
    cfg->sl_target = 80;
    cfg->max_statistics = 10000;
    cfg->history_days = 90;
    cfg->nats.bucket = xstrdup("cc_leases");
    cfg->nats.key = xstrdup("stat");
    cfg->nats.lease_ms = 1000;
    cfg->nats.stream = true;
    cfg->nats.status_bucket = xstrdup("cc_status");
    cfg->nats.status_inflight = 4096;
    cfg->nats.status_ack_ms = 2000;
    cfg->sliding_keep_s = 900;
}

int stat_config_load(const char *path, stat_config *cfg)
{
    set_defaults(cfg, path);
    cfg_state st = {.cfg = cfg};
    cc_conf_init(&st.conf, "statserver", cfg->path, &st);
    int rc = cc_conf_parse(&st.conf, on_entry);
    if (rc == CC_E_IO) {
        fprintf(stderr, "statserver: error: cannot open %s: %s\n", path, strerror(errno));
        cc_conf_free(&st.conf);
        return CC_E_IO;
    }
    if (rc > 0)
        cc_conf_file_error(&st.conf, rc, "syntax error");
    else if (rc < 0)
        cc_conf_file_error(&st.conf, 0, "cannot be read");
    if (st.rules_raw)
        cfg->rules_path = resolve_relative(path, st.rules_raw);
    free(st.rules_raw);
    for (int i = 0; i < cfg->ixn_count; i++) {
        stat_ixn_config *ix = &cfg->ixns[i];
        if (!ix->address)
            cc_conf_file_error(&st.conf, 0, "[ixn:%s] address: missing", ix->name);
        if (ix->tls_ca || ix->tls_cert || ix->tls_key)
            ix->tls = true;
        char err[512];
        tls_files f = {ix->tls_cert, ix->tls_key, ix->tls_ca};
        if (ix->tls && tls_files_check(TLS_CLIENT, &f, err, sizeof err) != 0)
            cc_conf_file_error(&st.conf, 0, "[ixn:%s] TLS: %s", ix->name, err);
        else if (!ix->tls && ix->address && !tls_addr_loopback(ix->address))
            cc_conf_file_warn(&st.conf,
                              "[ixn:%s] address %s is not a loopback address and the link "
                              "runs without TLS: its token crosses the network in clear",
                              ix->name, ix->address);
    }
    if (cfg->clients.count && !cfg->token_given) {
        /* With [clients] and no token, StatClients register by name only. */
        free(cfg->token);
        cfg->token = NULL;
    }
    tls_conf_check(&st.conf, &cfg->tls);
    const char *empty = cfg->token && !*cfg->token ? "[server] token" : NULL;
    tls_conf_check_exposure(&st.conf, &cfg->tls, "listen", cfg->listen, empty);
    tls_conf_check_exposure(&st.conf, &cfg->tls, "http", cfg->http, empty);
    if (cfg->nats.on && !cfg->nats.url)
        cc_conf_file_error(&st.conf, 0, "[nats] url: missing");
    /* The lease bucket ages every key out after a lease: statuses in it would vanish. */
    if (cfg->nats.on && cfg->nats.stream && strcmp(cfg->nats.status_bucket, cfg->nats.bucket) == 0)
        cc_conf_file_error(&st.conf, 0, "[nats] status-bucket: must differ from bucket");
    if (cfg->nats.on && !cfg->nats.member)
        cfg->nats.member = xstrdup(cfg->name);
    if (cfg->ixn_count == 0)
        cc_conf_file_warn(&st.conf, "no [ixn:NAME] section: no agents will be reported");
    int errors = st.conf.errors;
    cc_conf_free(&st.conf);
    return errors ? CC_E_CONFIG : 0;
}

void stat_config_free(stat_config *cfg)
{
    free(cfg->path);
    free(cfg->name);
    free(cfg->listen);
    free(cfg->port_file);
    free(cfg->http);
    free(cfg->allowed_origins);
    free(cfg->token);
    cc_creds_free(&cfg->clients);
    free(cfg->rules_path);
    free(cfg->timezone);
    free(cfg->data_dir);
    tls_conf_free(&cfg->tls);
    free(cfg->nats.url);
    free(cfg->nats.bucket);
    free(cfg->nats.key);
    free(cfg->nats.member);
    free(cfg->nats.status_bucket);
    for (int i = 0; i < cfg->ixn_count; i++) {
        free(cfg->ixns[i].name);
        free(cfg->ixns[i].address);
        free(cfg->ixns[i].token);
        free(cfg->ixns[i].tls_ca);
        free(cfg->ixns[i].tls_cert);
        free(cfg->ixns[i].tls_key);
        free(cfg->ixns[i].client_name);
    }
    free(cfg->ixns);
    for (size_t i = 0; i < cfg->ntenants; i++)
        free(cfg->tenants[i]);
    free(cfg->tenants);
    memset(cfg, 0, sizeof *cfg);
}

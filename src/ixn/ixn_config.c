#include "ixn/ixn_config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/conf.h"
#include "common/err.h"
#include "common/log.h"
#include "ixn/ixn_passwd.h"
#include "net/web.h"
#include "proto/frame.h"
#include "proto/msg.h"

/* Parser state: the shared reader's state plus the [queues] and [after-work] pairs
 * kept for later. */
typedef struct cfg_parse {
    ixn_config *cfg;
    cc_conf conf;
    /* [queues] and [after-work] name media that [server] may list later in the file, so
     * their pairs are kept (with their lines) and resolved once the file is read. */
    struct cfg_pending {
        char *key;
        char *value;
        int line;
        int column; /* where the value starts in its line (raw sections), else 0 */
        enum cfg_kind {
            PENDING_QUEUE,
            PENDING_AFTER_WORK,
            PENDING_SKILLS,
            PENDING_TARGET,
            PENDING_QUEUE_OPTIONS
        } kind;
    } * pending;
    size_t pending_count, pending_cap;
    size_t cheap_hashes; /* [agents] hashes cheaper than the default cost */
} cfg_parse;

/* Hashes named one by one as too cheap; beyond them one line gives the count. */
#define CHEAP_WARN_MAX 10

/* The login throttling keys of [server]: name, range, and where the value goes. */
typedef struct login_key {
    const char *name;
    uint64_t min, max;
    size_t offset; /* of an unsigned field of ixn_config */
} login_key;

static const login_key login_keys[] = {
    {"login-free-failures", 0, 1000000, offsetof(ixn_config, login_free_failures)},
    {"login-lockout-failures", 0, 1000000, offsetof(ixn_config, login_lockout_failures)},
    {"login-address-free-failures", 0, 1000000, offsetof(ixn_config, login_addr_free_failures)},
    {"login-address-lockout-failures", 0, 1000000,
     offsetof(ixn_config, login_addr_lockout_failures)},
    {"login-delay-ms", 0, 60000, offsetof(ixn_config, login_delay_ms)},
    {"login-delay-max-ms", 0, 3600000, offsetof(ixn_config, login_delay_max_ms)},
    {"login-lockout-seconds", 1, 7 * 86400, offsetof(ixn_config, login_lockout_s)},
    {"login-forget-seconds", 1, 7 * 86400, offsetof(ixn_config, login_forget_s)},
};

/* True when key is one of login_keys (handled, errors included). */
static bool login_key_set(cfg_parse *p, const char *key, const char *v)
{
    for (size_t i = 0; i < sizeof login_keys / sizeof login_keys[0]; i++) {
        const login_key *k = &login_keys[i];
        if (strcmp(key, k->name) != 0)
            continue;
        uint64_t n;
        if (!cc_conf_num(v, k->min, k->max, &n))
            cc_conf_error(&p->conf, "server", key,
                          "\"%s\" is not a number in %" PRIu64 "..%" PRIu64, v, k->min, k->max);
        else
            *(unsigned *)((char *)p->cfg + k->offset) = (unsigned)n;
        return true;
    }
    return false;
}

static void parse_media(cfg_parse *p, const char *v)
{
    ixn_config *cfg = p->cfg;
    cc_media_init(&cfg->media);
    const char *s = v;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (!cc_media_name_valid(s, n)) {
            cc_conf_error(&p->conf, "server", "media",
                          "\"%.*s\" is not a media name ([a-z][a-z0-9_-]{0,31})",
                          (int)(n > 64 ? 64 : n), s);
        } else if (cc_media_find(&cfg->media, s, n) >= 0) {
            cc_conf_error(&p->conf, "server", "media", "%.*s is listed twice", (int)n, s);
        } else if (cc_media_intern(&cfg->media, s, n) < 0) {
            cc_conf_error(&p->conf, "server", "media", "more than %d media", CC_MEDIA_MAX);
            return;
        }
        s = e;
    }
}

static void server_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    uint64_t n;
    if (cc_conf_twice(&p->conf, "server", key))
        return;
    bool known = true;
    const cc_web_port_keys ports = {&cfg->listen, &cfg->http, &cfg->allowed_origins,
                                    &cfg->port_file};
    if (cc_web_port_key(&p->conf, key, v, &ports)) {
        /* listen, http, allowed-origins or port-file: handled there */
    } else if (strcmp(key, "name") == 0) {
        cc_conf_set_text(&p->conf, "server", key, v, 1, PROTO_ID_MAX, &cfg->name);
    } else if (strcmp(key, "media") == 0) {
        parse_media(p, v);
    } else if (strcmp(key, "idle-timeout") == 0) {
        if (!cc_conf_num(v, 0, 86400, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number of seconds in 0..86400",
                          v);
        else
            cfg->idle_timeout_s = (unsigned)n;
    } else if (strcmp(key, "max-line") == 0) {
        if (!cc_conf_num(v, 1024, 64u << 20, &n))
            cc_conf_error(&p->conf, "server", key,
                          "\"%s\" is not a number of bytes in 1024..67108864", v);
        else
            cfg->max_line = (size_t)n;
    } else if (strcmp(key, "grace-period") == 0) {
        if (!cc_conf_num(v, 0, 86400, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number of seconds in 0..86400",
                          v);
        else
            cfg->grace_period_s = (unsigned)n;
    } else if (strcmp(key, "max-connections") == 0) {
        if (!cc_conf_num(v, 0, 10000000, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number in 0..10000000", v);
        else
            cfg->max_connections = (unsigned)n;
    } else if (strcmp(key, "max-agents") == 0) {
        if (!cc_conf_num(v, 0, 10000000, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number in 0..10000000", v);
        else
            cfg->max_agents = (unsigned)n;
    } else if (strcmp(key, "out-limit") == 0) {
        if (!cc_out_limit_parse(v, 65536, (size_t)4 << 30, &cfg->out_base))
            cc_conf_error(&p->conf, "server", key,
                          "\"%s\" is not HARD or HARD SOFT SECONDS (bytes with k/m/g, HARD "
                          "64k..4g, SOFT 0..HARD, SECONDS 0..86400)",
                          v);
        else
            cfg->out_limit = cfg->out_base.hard;
    } else if (cc_server_conf_key(&p->conf, key, v, &cfg->limits,
                                  1u << CC_CLASS_DESKTOP | 1u << CC_CLASS_MEDIA |
                                      1u << CC_CLASS_REPORTING | 1u << CC_CLASS_WEB)) {
        /* register-timeout, max-memory, out-limit-CLASS, http-*: handled there */
    } else if (strcmp(key, "audit-log") == 0) {
        if (!*v || strlen(v) > 4000)
            cc_conf_error(&p->conf, "server", key, "%s", "must be a path of 1..4000 bytes");
        else
            cc_conf_set_str(&cfg->audit_log, v);
    } else if (strcmp(key, "data-dir") == 0) {
        if (!*v || strlen(v) > 4000)
            cc_conf_error(&p->conf, "server", key, "%s", "must be a path of 1..4000 bytes");
        else
            cc_conf_set_str(&cfg->data_dir, v);
    } else if (strcmp(key, "store-kind") == 0) {
        if (strcmp(v, "sqlite") == 0)
            cfg->store_postgres = false;
        else if (strcmp(v, "postgres") == 0)
            cfg->store_postgres = true;
        else
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not sqlite or postgres", v);
    } else if (strcmp(key, "store-dsn") == 0) {
        /* The value may hold a password: it is never repeated in a message. */
        if (!*v || strlen(v) > 4000)
            cc_conf_error(&p->conf, "server", key, "%s", "must be 1..4000 bytes");
        else
            cc_conf_set_str(&cfg->store_dsn, v);
    } else if (strcmp(key, "store-owner-timeout") == 0) {
        if (!cc_conf_num(v, 0, 3600, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number of seconds in 0..3600",
                          v);
        else
            cfg->store_owner_timeout_s = (unsigned)n;
    } else if (strcmp(key, "invite-timeout") == 0) {
        if (!cc_conf_num(v, 1, 86400, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number of seconds in 1..86400",
                          v);
        else
            cfg->invite_timeout_s = (unsigned)n;
    } else if (strcmp(key, "keep-ended") == 0) {
        if (!cc_conf_num(v, 0, 365u * 86400u, &n))
            cc_conf_error(&p->conf, "server", key,
                          "\"%s\" is not a number of seconds in 0..31536000", v);
        else
            cfg->keep_ended_s = (unsigned)n;
    } else if (strcmp(key, "max-user-data") == 0) {
        if (!cc_conf_num(v, 2, 1024 * 1024, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number of bytes in 2..1048576",
                          v);
        else
            cfg->max_user_data = (size_t)n;
    } else if (tls_conf_key(&p->conf, key, v, &cfg->tls)) {
        /* tls-cert, tls-key, tls-ca, insecure: handled there */
    } else if (login_key_set(p, key, v)) {
        /* login throttling: handled there */
    } else if (strcmp(key, "login-track-max") == 0) {
        if (!cc_conf_num(v, 1, 10000000, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number in 1..10000000", v);
        else
            cfg->login_track_max = (size_t)n;
    } else if (strcmp(key, "max-queue") == 0) {
        if (!cc_conf_num(v, 1, 10000000, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number in 1..10000000", v);
        else
            cfg->max_queue = (size_t)n;
    } else if (strcmp(key, "max-ended") == 0) {
        if (!cc_conf_num(v, 0, 10000000, &n))
            cc_conf_error(&p->conf, "server", key, "\"%s\" is not a number in 0..10000000", v);
        else
            cfg->max_ended = (size_t)n;
    } else {
        known = false;
        cc_conf_warn(&p->conf, "server", key, "unknown key, ignored");
    }
    if (known)
        cc_conf_mark(&p->conf, "server", key);
}

static void token_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    char **dst = NULL;
    if (strcmp(key, "AgentApplication") == 0)
        dst = &cfg->token_agent;
    else if (strcmp(key, "ReportingEngine") == 0)
        dst = &cfg->token_reporting;
    else if (strcmp(key, "MediaServer") == 0)
        dst = &cfg->token_media;
    if (!dst) {
        cc_conf_warn(&p->conf, "tokens", key, "not a client type of this server, ignored");
        return;
    }
    if (*dst) {
        cc_conf_error(&p->conf, "tokens", key, "%s", "given twice");
        return;
    }
    cc_conf_set_text(&p->conf, "tokens", key, v, 0, PROTO_TEXT_MAX, dst);
    /* The desktops' token stays: agents prove who they are with their own passwords, and
     * [agents] binds each to one tenant. A server's token is one secret for every tenant,
     * which [clients] replaces. */
    if (dst != &cfg->token_agent)
        LOG_WARN("event=config_deprecated path=%s line=%d section=tokens key=%s "
                 "replacement=clients why=\"one token for every tenant: give each client a "
                 "[clients] entry\"",
                 LOGQ(cfg->path), p->conf.line, LOGQ(key));
}

/* [clients] NAME = TYPE, TENANTS, HASH (net/creds.h). */
static void client_key(cfg_parse *p, const char *key, const char *v)
{
    char why[256];
    if (!cc_creds_add(&p->cfg->clients, key, v,
                      CC_CLIENT_AGENT | CC_CLIENT_MEDIA | CC_CLIENT_REPORTING |
                          CC_CLIENT_SUPERVISOR,
                      why, sizeof why))
        cc_conf_error(&p->conf, "clients", key, "%s", why);
}

static bool id_valid(const char *s, size_t n)
{
    if (n == 0 || n > PROTO_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

size_t ixn_config_key(char *out, const char *tenant, const char *name)
{
    size_t tlen = strlen(tenant), nlen = strlen(name);
    assert(tlen <= PROTO_ID_MAX && nlen <= PROTO_ID_MAX);
    size_t o = 0;
    for (size_t i = 0; i < tlen; i++) {
        if (tenant[i] == '/' || tenant[i] == '\\')
            out[o++] = '\\';
        out[o++] = tenant[i];
    }
    out[o++] = '/';
    memcpy(out + o, name, nlen + 1);
    return o + nlen;
}

bool ixn_config_split_key(const char *key, char *tenant, size_t cap, const char **name)
{
    size_t o = 0;
    for (const char *k = key; *k; k++) {
        char c = *k;
        if (c == '/') {
            tenant[o] = '\0';
            *name = k + 1;
            return true;
        }
        if (c == '\\') {
            c = *++k;
            if (c != '\\' && c != '/')
                return false;
        }
        if (o + 1 >= cap)
            return false;
        tenant[o++] = c;
    }
    return false;
}

/* Splits a [agents] or [queues] key into its tenant (into tenant, PROTO_ID_MAX + 1 bytes)
 * and name, both 1..128 bytes without control characters; reports what is wrong. */
static bool split_pair(cfg_parse *p, const char *section, const char *key, const char *what,
                       char *tenant, const char **name)
{
    if (!ixn_config_split_key(key, tenant, PROTO_ID_MAX + 1, name) ||
        !id_valid(tenant, strlen(tenant)) || !id_valid(*name, strlen(*name))) {
        cc_conf_error(&p->conf, section, key,
                      "the key must be TENANT/%s (1..128 bytes each; a '/' or '\\' in the "
                      "tenant is written \\/ or \\\\)",
                      what);
        return false;
    }
    return true;
}

static void agent_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    /* The first '/' not escaped separates the tenant from the agent id; the key as given
     * is then exactly ixn_config_key of the two, which logins look up. */
    char tenant[PROTO_ID_MAX + 1];
    const char *agent_id;
    if (!split_pair(p, "agents", key, "AGENTID", tenant, &agent_id))
        return;
    if (!ixn_passwd_is_hash(v)) {
        cc_conf_error(&p->conf, "agents", key, "%s",
                      "the value is not a crypt(3) hash (make one with ixnserver --hash-password)");
        return;
    }
    if (cc_map_gets(&cfg->agents, key)) {
        cc_conf_error(&p->conf, "agents", key, "%s", "given twice");
        return;
    }
    char why[192];
    if (ixn_passwd_too_cheap(v, why, sizeof why) && p->cheap_hashes++ < CHEAP_WARN_MAX) {
        char what[sizeof why + 96];
        snprintf(what, sizeof what,
                 "the hash is too cheap (%s): make a new one with ixnserver --hash-password", why);
        cc_conf_warn(&p->conf, "agents", key, what);
    }
    cc_map_puts(&cfg->agents, key, xstrdup(v));
    cfg->agent_count++;
}

static void pending_add(cfg_parse *p, const char *key, const char *value, enum cfg_kind kind)
{
    if (p->pending_count == p->pending_cap) {
        p->pending_cap = p->pending_cap ? 2 * p->pending_cap : 16;
        p->pending = xrealloc(p->pending, p->pending_cap * sizeof *p->pending);
    }
    struct cfg_pending *e = &p->pending[p->pending_count++];
    e->key = xstrdup(key);
    e->value = xstrdup(value);
    e->line = p->conf.line;
    e->column = p->conf.value_column;
    e->kind = kind;
}

/* A [queues] pair: TENANT/QUEUE = MEDIA, checked against [server] media. */
static void queue_resolve(cfg_parse *p, const struct cfg_pending *e)
{
    ixn_config *cfg = p->cfg;
    char tenant[PROTO_ID_MAX + 1];
    const char *name;
    if (!split_pair(p, "queues", e->key, "QUEUE", tenant, &name))
        return;
    int media = cc_media_find(&cfg->media, e->value, strlen(e->value));
    if (media < 0) {
        cc_conf_error(&p->conf, "queues", e->key, "media \"%.64s\" is not in [server] media",
                      e->value);
        return;
    }
    for (size_t i = 0; i < cfg->queue_count; i++) {
        const ixn_config_queue *q = &cfg->queues[i];
        if (strcmp(q->tenant, tenant) == 0 && strcmp(q->name, name) == 0) {
            cc_conf_error(&p->conf, "queues", e->key, "%s", "given twice");
            return;
        }
    }
    cfg->queues = xrealloc(cfg->queues, (cfg->queue_count + 1) * sizeof *cfg->queues);
    ixn_config_queue *q = &cfg->queues[cfg->queue_count++];
    q->tenant = xstrdup(tenant);
    q->name = xstrdup(name);
    q->media = media;
}

/* An [after-work] pair: MEDIA = SECONDS. */
static void after_work_resolve(cfg_parse *p, const struct cfg_pending *e, cc_media_mask *seen)
{
    ixn_config *cfg = p->cfg;
    int media = cc_media_find(&cfg->media, e->key, strlen(e->key));
    uint64_t n;
    if (media < 0)
        cc_conf_error(&p->conf, "after-work", e->key, "%s", "not a media of [server] media");
    else if (*seen & ((cc_media_mask)1 << media))
        cc_conf_error(&p->conf, "after-work", e->key, "%s", "given twice");
    else if (!cc_conf_num(e->value, 0, 86400, &n))
        cc_conf_error(&p->conf, "after-work", e->key,
                      "\"%s\" is not a number of seconds in 0..86400", e->value);
    else {
        *seen |= (cc_media_mask)1 << media;
        cfg->after_work_s[media] = (unsigned)n;
    }
}

/* The column in the file's line of a parse error inside a pending value. */
static size_t value_column(const struct cfg_pending *e, const target_error *err)
{
    size_t base = e->column > 0 ? (size_t)e->column : 1;
    return base + (err->column ? err->column - 1 : 0);
}

/* A [skills] pair: TENANT/AGENTID = name:level, ... for an agent of [agents]. */
static void skills_resolve(cfg_parse *p, const struct cfg_pending *e)
{
    ixn_config *cfg = p->cfg;
    char tenant[PROTO_ID_MAX + 1];
    const char *name;
    if (!split_pair(p, "skills", e->key, "AGENTID", tenant, &name))
        return;
    if (!cc_map_gets(&cfg->agents, e->key)) {
        cc_conf_error(&p->conf, "skills", e->key, "%s", "not an agent of [agents]");
        return;
    }
    if (cc_map_gets(&cfg->skills, e->key)) {
        cc_conf_error(&p->conf, "skills", e->key, "%s", "given twice");
        return;
    }
    target_skills *sk = xcalloc(1, sizeof *sk);
    target_error err;
    if (target_parse_skills(cfg->dict, e->value, sk, &err)) {
        cc_conf_error(&p->conf, "skills", e->key, "column %zu: %s", value_column(e, &err),
                      err.message);
        free(sk);
        return;
    }
    cc_map_puts(&cfg->skills, e->key, sk);
}

/* Whether key names a queue of [queues] (resolved before). */
static bool queue_known(cfg_parse *p, const char *section, const char *key)
{
    char tenant[PROTO_ID_MAX + 1];
    const char *name;
    if (!split_pair(p, section, key, "QUEUE", tenant, &name))
        return false;
    for (size_t i = 0; i < p->cfg->queue_count; i++) {
        const ixn_config_queue *q = &p->cfg->queues[i];
        if (strcmp(q->tenant, tenant) == 0 && strcmp(q->name, name) == 0)
            return true;
    }
    cc_conf_error(&p->conf, section, key, "%s", "not a queue of [queues]");
    return false;
}

/* A [targets] pair: TENANT/QUEUE = step; step; ... (docs/routing.md). */
static void target_resolve(cfg_parse *p, const struct cfg_pending *e)
{
    ixn_config *cfg = p->cfg;
    if (!queue_known(p, "targets", e->key))
        return;
    if (cc_map_gets(&cfg->targets, e->key)) {
        cc_conf_error(&p->conf, "targets", e->key, "%s", "given twice");
        return;
    }
    target *t;
    target_error err;
    if (target_parse(cfg->dict, e->value, &t, &err)) {
        cc_conf_error(&p->conf, "targets", e->key, "column %zu: %s", value_column(e, &err),
                      err.message);
        return;
    }
    cc_map_puts(&cfg->targets, e->key, t);
}

/* A [queue-options] pair: TENANT/QUEUE = priority N, aging SECONDS, select SKILL|idle. */
static void queue_options_resolve(cfg_parse *p, const struct cfg_pending *e)
{
    ixn_config *cfg = p->cfg;
    if (!queue_known(p, "queue-options", e->key))
        return;
    if (cc_map_gets(&cfg->queue_options, e->key)) {
        cc_conf_error(&p->conf, "queue-options", e->key, "%s", "given twice");
        return;
    }
    target_queue_options *o = xcalloc(1, sizeof *o);
    target_error err;
    if (target_parse_queue_options(cfg->dict, e->value, o, &err)) {
        cc_conf_error(&p->conf, "queue-options", e->key, "column %zu: %s", value_column(e, &err),
                      err.message);
        free(o);
        return;
    }
    cc_map_puts(&cfg->queue_options, e->key, o);
}

static void pending_resolve(cfg_parse *p)
{
    cc_media_mask seen = 0;
    /* Queues and media first: skills name agents, targets and options name queues, and
     * any section may come before the one it refers to. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < p->pending_count; i++) {
            struct cfg_pending *e = &p->pending[i];
            bool first = e->kind == PENDING_QUEUE || e->kind == PENDING_AFTER_WORK;
            if (first != (pass == 0))
                continue;
            p->conf.line = e->line;
            switch (e->kind) {
            case PENDING_QUEUE: queue_resolve(p, e); break;
            case PENDING_AFTER_WORK: after_work_resolve(p, e, &seen); break;
            case PENDING_SKILLS: skills_resolve(p, e); break;
            case PENDING_TARGET: target_resolve(p, e); break;
            case PENDING_QUEUE_OPTIONS: queue_options_resolve(p, e); break;
            }
        }
    }
    for (size_t i = 0; i < p->pending_count; i++) {
        struct cfg_pending *e = &p->pending[i];
        free(e->key);
        free(e->value);
    }
    free(p->pending);
    p->pending = NULL;
    p->pending_count = p->pending_cap = 0;
}

/* [reasons] CODE = Description: the not-ready reasons the web desktop offers. */
static void reason_key(cfg_parse *p, const char *key, const char *v)
{
    ixn_config *cfg = p->cfg;
    uint64_t code;
    if (!cc_conf_num(key, 0, INT32_MAX, &code)) {
        cc_conf_error(&p->conf, "reasons", key, "%s",
                      "the key must be a reason code in 0..2147483647");
        return;
    }
    for (size_t i = 0; i < cfg->reason_count; i++) {
        if (cfg->reasons[i].code == (int64_t)code) {
            cc_conf_error(&p->conf, "reasons", key, "%s", "given twice");
            return;
        }
    }
    if (!*v || strlen(v) > PROTO_TEXT_MAX) {
        cc_conf_error(&p->conf, "reasons", key, "the description must be 1..%d bytes",
                      PROTO_TEXT_MAX);
        return;
    }
    if (cfg->reason_count == IXN_REASONS_MAX) {
        cc_conf_error(&p->conf, "reasons", key, "more than %d reasons", IXN_REASONS_MAX);
        return;
    }
    cfg->reasons[cfg->reason_count].code = (int64_t)code;
    cfg->reasons[cfg->reason_count].description = xstrdup(v);
    cfg->reason_count++;
}

static void on_pair(cc_conf *c, const char *section, const char *key, const char *value)
{
    cfg_parse *p = c->user;
    if (strcmp(section, "server") == 0)
        server_key(p, key, value);
    else if (strcmp(section, "tokens") == 0)
        token_key(p, key, value);
    else if (strcmp(section, "clients") == 0)
        client_key(p, key, value);
    else if (strcmp(section, "agents") == 0)
        agent_key(p, key, value);
    else if (strcmp(section, "queues") == 0)
        pending_add(p, key, value, PENDING_QUEUE);
    else if (strcmp(section, "after-work") == 0)
        pending_add(p, key, value, PENDING_AFTER_WORK);
    else if (strcmp(section, "skills") == 0)
        pending_add(p, key, value, PENDING_SKILLS);
    else if (strcmp(section, "targets") == 0)
        pending_add(p, key, value, PENDING_TARGET);
    else if (strcmp(section, "queue-options") == 0)
        pending_add(p, key, value, PENDING_QUEUE_OPTIONS);
    else if (strcmp(section, "reasons") == 0)
        reason_key(p, key, value);
    else
        cc_conf_warn(&p->conf, section, key, "unknown section, ignored");
}

int ixn_config_load(const char *path, ixn_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = xstrdup(path);
    cc_media_init(&cfg->media);
    cc_map_init(&cfg->agents);
    cc_map_init(&cfg->skills);
    cc_map_init(&cfg->targets);
    cc_map_init(&cfg->queue_options);
    cfg->dict = target_dict_new();
    cfg->idle_timeout_s = 30;
    cfg->max_line = PROTO_LINE_MAX_DEFAULT;
    cfg->max_connections = 100000;
    cfg->max_agents = 100000;
    /* A desktop or a media server receives a few hundred bytes per event: 256 KiB behind
     * for 10 s, or 1 MiB at once, is a peer that stopped reading (the soak's slow readers
     * showed what 50 of them cost at larger defaults). */
    cfg->out_limit = (size_t)1 << 20;
    cfg->out_limit_reporting = (size_t)256 << 20;
    cfg->out_base = (cc_out_limit){(size_t)1 << 20, (size_t)256 << 10, 10};
    cc_server_conf_defaults(&cfg->limits);
    cfg->invite_timeout_s = 15;
    cfg->keep_ended_s = 86400;
    cfg->max_user_data = 16384;
    cfg->max_queue = 100000;
    cfg->login_free_failures = 3;
    cfg->login_lockout_failures = 10;
    cfg->login_addr_free_failures = 10;
    cfg->login_addr_lockout_failures = 100;
    cfg->login_delay_ms = 500;
    cfg->login_delay_max_ms = 8000;
    cfg->login_lockout_s = 300;
    cfg->login_forget_s = 900;
    cfg->login_track_max = 10000;
    cfg->max_ended = 1000;
    cfg->store_owner_timeout_s = 5;

    cfg_parse *p = xcalloc(1, sizeof *p);
    p->cfg = cfg;
    cc_conf_init(&p->conf, "ixnserver", cfg->path, p);
    /* A target's steps are separated by ';', which inih would take for a comment after a
     * blank: these sections keep their values whole (and give errors a column). */
    static const char *const raw[] = {"skills", "targets", "queue-options", NULL};
    p->conf.raw_sections = raw;
    int rc = cc_conf_parse(&p->conf, on_pair);
    if (rc == CC_E_IO) {
        fprintf(stderr, "ixnserver: error: %s: cannot open: %s\n", path, strerror(errno));
        cc_conf_free(&p->conf);
        free(p);
        return CC_E_IO;
    }
    pending_resolve(p);
    if (rc > 0)
        cc_conf_file_error(&p->conf, rc, "syntax error");
    else if (rc < 0)
        cc_conf_file_error(&p->conf, 0, "cannot read");
    if (!cfg->name)
        cc_conf_file_error(&p->conf, 0, "[server] name: missing");
    if (!cfg->listen)
        cc_conf_file_error(&p->conf, 0, "[server] listen: missing");
    cc_out_limit *rep = &cfg->limits.out_class[CC_CLASS_REPORTING];
    if (!rep->hard)
        *rep = (cc_out_limit){(size_t)256 << 20, (size_t)64 << 20, 60};
    if (rep->hard < cfg->out_limit)
        *rep = cfg->out_base;
    cfg->out_limit_reporting = rep->hard;
    if (cfg->store_postgres && !cfg->store_dsn)
        cc_conf_file_error(&p->conf, 0, "[server] store-kind = postgres needs store-dsn");
    else if (cfg->queue_count && !cfg->data_dir && !cfg->store_postgres)
        cc_conf_file_warn(&p->conf, "[queues] without [server] data-dir: interactions are "
                                    "kept in memory only and lost at a restart");
    if (cfg->login_delay_max_ms < cfg->login_delay_ms)
        cc_conf_file_error(&p->conf, 0,
                           "[server] login-delay-max-ms: %u is below login-delay-ms %u",
                           cfg->login_delay_max_ms, cfg->login_delay_ms);
    else if (cfg->idle_timeout_s && cfg->login_delay_max_ms >= cfg->idle_timeout_s * 1000u)
        cc_conf_file_warn(&p->conf,
                          "[server] login-delay-max-ms %u is not below idle-timeout (%u s): a "
                          "desktop whose ping stays unanswered that long may give up a "
                          "delayed login",
                          cfg->login_delay_max_ms, cfg->idle_timeout_s);
    if (p->cheap_hashes > CHEAP_WARN_MAX)
        cc_conf_file_warn(&p->conf, "[agents]: %zu more hashes are too cheap (%zu in all)",
                          p->cheap_hashes - CHEAP_WARN_MAX, p->cheap_hashes);
    if (!cfg->token_agent && !cfg->token_reporting && !cfg->token_media && !cfg->clients.count)
        cc_conf_file_warn(&p->conf, "[tokens] and [clients] are empty: no client can register");
    tls_conf_check(&p->conf, &cfg->tls);
    const char *empty = NULL;
    if (cfg->token_agent && !*cfg->token_agent)
        empty = "[tokens] AgentApplication";
    else if (cfg->token_media && !*cfg->token_media)
        empty = "[tokens] MediaServer";
    else if (cfg->token_reporting && !*cfg->token_reporting)
        empty = "[tokens] ReportingEngine";
    tls_conf_check_exposure(&p->conf, &cfg->tls, "listen", cfg->listen, empty);
    tls_conf_check_exposure(&p->conf, &cfg->tls, "http", cfg->http, empty);
    int errors = p->conf.errors;
    cc_conf_free(&p->conf);
    free(p);
    return errors ? CC_E_CONFIG : 0;
}

void ixn_config_free(ixn_config *cfg)
{
    size_t pos = 0;
    cc_map_slot *sl;
    while ((sl = cc_map_next(&cfg->agents, &pos)))
        free(sl->value);
    cc_map_free(&cfg->agents);
    pos = 0;
    while ((sl = cc_map_next(&cfg->skills, &pos)))
        free(sl->value);
    cc_map_free(&cfg->skills);
    pos = 0;
    while ((sl = cc_map_next(&cfg->targets, &pos)))
        target_free(sl->value);
    cc_map_free(&cfg->targets);
    pos = 0;
    while ((sl = cc_map_next(&cfg->queue_options, &pos)))
        free(sl->value);
    cc_map_free(&cfg->queue_options);
    target_dict_free(cfg->dict);
    free(cfg->path);
    free(cfg->name);
    free(cfg->listen);
    free(cfg->port_file);
    free(cfg->http);
    free(cfg->allowed_origins);
    for (size_t i = 0; i < cfg->reason_count; i++)
        free(cfg->reasons[i].description);
    free(cfg->token_agent);
    free(cfg->token_media);
    free(cfg->token_reporting);
    cc_creds_free(&cfg->clients);
    free(cfg->audit_log);
    free(cfg->data_dir);
    free(cfg->store_dsn);
    tls_conf_free(&cfg->tls);
    for (size_t i = 0; i < cfg->queue_count; i++) {
        free(cfg->queues[i].tenant);
        free(cfg->queues[i].name);
    }
    free(cfg->queues);
    memset(cfg, 0, sizeof *cfg);
}

const target_skills *ixn_config_skills(const ixn_config *cfg, const char *agent_key)
{
    return cc_map_gets(&cfg->skills, agent_key);
}

const target *ixn_config_target(const ixn_config *cfg, const char *tenant, const char *queue)
{
    char key[IXN_KEY_MAX];
    ixn_config_key(key, tenant, queue);
    return cc_map_gets(&cfg->targets, key);
}

const target_queue_options *ixn_config_queue_options(const ixn_config *cfg, const char *tenant,
                                                     const char *queue)
{
    char key[IXN_KEY_MAX];
    ixn_config_key(key, tenant, queue);
    return cc_map_gets(&cfg->queue_options, key);
}
